# Key rotation with a grace under a running nginx with two workers: the
# old token keeps working, cached, until the grace ends, then every
# worker refuses it at once, cache or not, and Redis deletes its record;
# during the grace it follows the key (a grant reaches it, "key disable"
# ends it), within the 100 ms of the invalidation path.
# Plain Test::More, not Test::Nginx: two workers, fsauthctl, timing.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);
use FsauthTest;
use FsauthNginx;
use FsauthWorkers;

plan skip_all => 'TEST_NGINX_REDIS_PORT and FSAUTHCTL are needed '
               . '(run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT} && $ENV{FSAUTHCTL}
           && -x $ENV{FSAUTHCTL};

my $rp = $ENV{TEST_NGINX_REDIS_PORT};

my $location = workers_location();

sub ctl {
    my ($p, @args) = @_;
    open my $fh, '-|', $ENV{FSAUTHCTL}, '-p', $rp, '--prefix', $p, @args
        or die "fsauthctl: $!";
    local $/;
    my $out = <$fh>;
    close $fh;
    die "fsauthctl @args failed\n" if $?;
    return $out;
}

sub get { return worker_get(@_) }

# requests until both workers have answered twice (at most 200): the
# statuses that are not $want, and the workers seen
sub burst {
    my ($n, $token, $want, $path) = @_;
    my (%pids, @bad);
    for (1 .. 200) {
        my @r = get($n, $token, $path);
        $pids{$r[2]}++;
        push @bad, "$r[0]/$r[1]" if $r[0] != $want;
        last if keys %pids >= 2 && (grep { $_ >= 2 } values %pids) >= 2;
    }
    return ("@bad", scalar keys %pids);
}

sub start {
    my ($p, $zone) = @_;
    return FsauthNginx->start(
        workers => 2,
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=$zone:1m ttl=1h stale=1h;\n"
              . "    fsauth_ban off;",
        server => $location);
}

# 1. the grace ends while the old token is cached on both workers
{
    my $p = 't071g:';
    flush_prefix($p);

    my ($id, $old) = ctl($p, 'key', 'create', '--description', 'erp')
                     =~ /\Aid: (\d+)\ntoken: (\S+)\n/;
    ctl($p, 'access', 'grant', $id, 'clientes', '--get');

    my $n = start($p, 'r1');

    is(warm($n, $old), 2, 'the token is cached on both workers');

    # just after a second begins, so that the grace lasts nearly 2 s
    sleep 0.01 while time - int(time) > 0.1;
    my $out = ctl($p, 'key', 'rotate', $id, '--grace', '2s');
    my ($new) = $out =~ /^token: (\S+)$/m;
    my $dold = digest($old);
    my $end = redis('HGET', "${p}key:$dold", 'expires');
    like($end, qr/\A\d+\z/, 'the old record has its end') or diag($out);

    is(warm($n, $old), 2,
       'in the grace: the old token is granted, cached, on both workers');
    my ($bad, $workers) = burst($n, $new, 200);
    is($bad, '', 'the new token is granted');
    is($workers, 2, 'on both workers');
    ok(time < $end, 'all this before the end') or diag(time . " >= $end");

    sleep 0.005 while time < $end;

    my @r = get($n, $old);
    my $first = time - $end;
    ($bad, $workers) = burst($n, $old, 401);
    is($r[0], 401, 'at the end: the old token is refused');
    ok($first < 0.1, 'within 100 ms of the end')
        or diag(sprintf('%.3f s', $first));
    is($bad, '', 'every request after the end: 401');
    is($workers, 2, 'on both workers');

    ($bad, $workers) = burst($n, $new, 200);
    is($bad, '', 'the new token is still granted');
    is($workers, 2, 'on both workers');

    # Redis deleted the record by itself (an access deletes it at once)
    ok(poll_until(sub { redis('EXISTS', "${p}key:$dold") eq '0' }),
       'the old record is gone from Redis');
    unlike(ctl($p, 'key', 'show', $id), qr/old tokens/,
           'key show: nothing pending');

    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
}

# 2. during the grace the old token follows the key: a grant reaches it,
#    "key disable" ends it, on both workers within 100 ms
{
    my $p = 't071d:';
    flush_prefix($p);

    my ($id, $old) = ctl($p, 'key', 'create', '--description', 'erp')
                     =~ /\Aid: (\d+)\ntoken: (\S+)\n/;
    ctl($p, 'access', 'grant', $id, 'clientes', '--get');

    my $n = start($p, 'r2');

    my $out = ctl($p, 'key', 'rotate', $id, '--grace', '1h');
    my ($new) = $out =~ /^token: (\S+)$/m;

    my ($bad, $workers) = burst($n, $old, 403, '/api/3/facturas');
    is($bad, '', 'the old token has no grant for facturas yet');

    ctl($p, 'access', 'grant', $id, 'facturas', '--get');
    sleep 0.1;
    ($bad, $workers) = burst($n, $old, 200, '/api/3/facturas');
    is($bad, '', 'a grant to the key reaches the old token 100 ms later');
    is($workers, 2, 'on both workers');

    is(warm($n, $old), 2, 'the old token is cached on both workers');

    ctl($p, 'key', 'disable', $id);
    sleep 0.1;
    ($bad, $workers) = burst($n, $old, 401);
    is($bad, '', 'key disable: the old token is refused 100 ms later');
    is($workers, 2, 'on both workers');
    is(redis('EXISTS', "${p}key:" . digest($old)), '0',
       'its record is deleted');

    ctl($p, 'key', 'enable', $id);
    sleep 0.1;
    ($bad) = burst($n, $new, 200);
    is($bad, '', 'key enable: the new token works again');
    ($bad) = burst($n, $old, 401);
    is($bad, '', 'the old one does not come back');

    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
}

done_testing();
