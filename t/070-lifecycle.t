# Key lifecycle under a running nginx: the "expires" field refuses a key
# from that second on, on every worker, with the entry cached (no cache
# entry outlives it, stale answers included); changes to it by
# fsauthctl or by direct redis-cli edits reach every worker within
# 100 ms; a malformed value makes the record invalid.
# Plain Test::More, not Test::Nginx: two workers, Redis edits, timing.

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

sub get { return worker_get(@_) }

sub hgetall_calls {
    my $info = redis('INFO', 'commandstats');
    return $info =~ /cmdstat_hgetall:calls=(\d+)/ ? $1 : 0;
}

# n requests: the statuses that are not $want, and the workers seen
sub burst {
    my ($n, $token, $want, $count) = @_;
    return $n->burst(sub { get($n, $token) }, $want, $count);
}

# 1. expiry reached while the entry is cached, ttl far longer
{
    my $p = 't070e:';
    flush_prefix($p);
    my $d = add_key(prefix => $p, token => 'tok-expiring-0001', id => 1,
                    grants => { clientes => 'get' });
    add_key(prefix => $p, token => 'tok-forever-00001', id => 2,
            grants => { clientes => 'get' });

    # a whole second ahead, so that the warm-up fits before it
    my $at = int(time) + 3;
    redis('HSET', "${p}key:$d", 'expires', $at);

    my $n = FsauthNginx->start(
        workers => 2,
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=e1:1m ttl=1h stale=1h;\n"
              . "    fsauth_ban off;",
        server => $location);

    is(warm($n, 'tok-expiring-0001'), 2,
       'before its expiry the key is granted from the cache on both workers');

    my $calls = hgetall_calls();
    my ($bad) = burst($n, 'tok-expiring-0001', 200, 10);
    is($bad, '', 'still granted');
    is(hgetall_calls(), $calls, 'hits: no Redis traffic for the expiry');

    sleep 0.01 while time < $at;

    my ($bad2, $workers) = burst($n, 'tok-expiring-0001', 401);
    is($bad2, '', 'from the expiry second on: 401 for every request');
    is($workers, 2, 'on both workers');

    ($bad2) = burst($n, 'tok-forever-00001', 200, 10);
    is($bad2, '', 'a key without expires is untouched');

    # the expired record itself may be cached: it refuses
    my @r = get($n, 'tok-expiring-0001');
    is("$r[0] $r[1]", '401 HIT', 'the expired record is cached as refused');

    $n->stop;
    like($n->error_log, qr/fsauth: expired key \Q${\ substr($d, 0, 8)}\E/,
         'logged as an expired key, by digest prefix');
}

# 2. no stale answer past the expiry: Redis down, the key expires
{
    my $port = start_redis();
    my $d = add_key(port => $port, prefix => 's:', token => 'tok-stale-000001',
                    id => 1, grants => { clientes => 'get' });
    add_key(port => $port, prefix => 's:', token => 'tok-stale-000002',
            id => 2, grants => { clientes => 'get' });
    my $at = int(time) + 2;
    redis_at($port, 'HSET', "s:key:$d", 'expires', $at);

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$port prefix=s: timeout=200ms;\n"
              . "    fsauth_cache zone=e2:1m ttl=300ms stale=1h;",
        server => $location);

    my @r = get($n, 'tok-stale-000001');
    is($r[0], 200, 'expiring key granted before its expiry');
    @r = get($n, 'tok-stale-000002');
    is($r[0], 200, 'other key granted');

    stop_redis($port);
    sleep 0.01 while time < $at;

    @r = get($n, 'tok-stale-000002');
    is("$r[0] $r[1]", '200 STALE', 'Redis down: the other key is served stale');
    @r = get($n, 'tok-stale-000001');
    is("$r[0] $r[1]", '503 MISS',
       'the expired key is not served stale: nothing cached outlives it');
    $n->stop;
}

# 3. changes by direct edits and by fsauthctl, on both workers, in 100 ms
{
    my $p = 't070v:';
    flush_prefix($p);
    my $d = add_key(prefix => $p, token => 'tok-user-0000007', id => 7,
                    grants => { clientes => 'get' });
    my $key = "${p}key:$d";

    my $n = FsauthNginx->start(
        workers => 2,
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=e3:1m ttl=1h;\n"
              . "    fsauth_ban off;",
        server => $location);

    is(warm($n, 'tok-user-0000007'), 2, 'both workers answer from the cache');

    my $check = sub {
        my ($name, $want, $do) = @_;
        $do->();
        sleep 0.1;
        my ($bad, $workers) = burst($n, 'tok-user-0000007', $want);
        is($bad, '', "$name: seen by every request 100 ms later");
        is($workers, 2, "$name: through both workers");
    };

    my $ctl = sub {
        my @args = @_;
        return sub {
            system($ENV{FSAUTHCTL}, '-p', $rp, '--prefix', $p, @args) == 0
                or die "fsauthctl @args failed";
        };
    };

    $check->('redis-cli: expires in the past', 401,
             sub { redis('HSET', $key, 'expires', int(time) - 1) });
    $check->('redis-cli: expires removed', 200,
             sub { redis('HDEL', $key, 'expires') });
    $check->('redis-cli: expires in the future', 200,
             sub { redis('HSET', $key, 'expires', int(time) + 3600) });
    $check->('fsauthctl key expire (past date)', 401,
             $ctl->('key', 'expire', 7, '2001-01-01'));
    $check->('fsauthctl key expire never', 200,
             $ctl->('key', 'expire', 7, 'never'));
    $check->('fsauthctl key expire 1h', 200,
             $ctl->('key', 'expire', 7, '1h'));

    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
}

# 4. a malformed expires: the record is invalid, nothing is guessed
{
    my $p = 't070m:';
    flush_prefix($p);

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=e4:1m;\n"
              . "    fsauth_ban off;",
        server => $location);

    my $i = 10;
    for my $bad ('soon', '0', '-1', '1e12', ' 4102444800', '04102444800',
                 '4102444800.5', '', '123456789012')
    {
        my $tok = sprintf('tok-malformed-%04d', $i);
        my $d = add_key(prefix => $p, token => $tok, id => $i,
                        grants => { clientes => 'get' });
        redis('HSET', "${p}key:$d", 'expires', $bad);
        my @r = get($n, $tok);
        is($r[0], 401, "expires '$bad': 401");
        $i++;
    }

    my $tok = 'tok-wellformed-01';
    my $d = add_key(prefix => $p, token => $tok, id => 99,
                    grants => { clientes => 'get' });
    redis('HSET', "${p}key:$d", 'expires', '4102444800');
    my @r = get($n, $tok);
    is($r[0], 200, 'a well-formed future expires: granted');

    $n->stop;
    like($n->error_log,
         qr/key record 10 has an "expires" that is not unix seconds/,
         'the invalid record is logged with its key id');
}

done_testing();
