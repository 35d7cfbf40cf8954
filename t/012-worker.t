# What a Test::Nginx block cannot show: a worker is never blocked by a
# hanging Redis, a client may leave while its lookup is pending, Redis may
# restart under a running nginx, and two workers serve concurrent clients.
# Plain Test::More, not Test::Nginx: two workers, clients held open while Redis hangs or restarts.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use FsauthTest;
use FsauthNginx;
use FakeRedis;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $tmp = tempdir(CLEANUP => 1);

my $location = <<'_EOC_';
        location /api/ {
            fsauth on;
            fsauth_global_key GLOBAL-KEY-1;
            add_header X-Pid $pid always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub req {
    my ($token, $path) = @_;
    $path //= '/api/3/clientes';
    return "GET $path HTTP/1.0\r\nHost: x\r\nX-Auth-Token: $token\r\n\r\n";
}

sub results {
    my ($file) = @_;
    open my $fh, '<', $file or return ();
    return map { [ split ' ' ] } <$fh>;
}

# 1. a hanging Redis never blocks the worker
{
    my $fake = FakeRedis->start('tok-hang-0000001' => 'hang');
    my $port = $fake->port;
    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$port timeout=2s;",
        server => $location);

    my $file = "$tmp/hang";
    my $bg = background_requests(port => $n->port, file => $file,
                                 request => req('tok-hang-0000001'),
                                 timeout => 6);
    sleep 0.3;

    my ($st, undef, undef, $t) =
        http_raw($n->port, req('GLOBAL-KEY-1'), 3);
    is($st, 200, 'global key granted while a lookup hangs');
    cmp_ok($t, '<', 0.5, 'and answered at once (worker not blocked)');

    wait_background($bg);
    my ($r) = results($file);
    is($r->[0], 503, 'the hanging lookup ends in 503');
    cmp_ok($r->[1], '>=', 1.9, 'not before fsauth_redis timeout');
    cmp_ok($r->[1], '<', 2.5, 'and not much after it');

    # 2. a client that leaves while its lookup is pending (after the
    # reconnection that follows the timeout above)
    sleep 0.5;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $n->port)
        or die $!;
    print $s req('tok-hang-0000001');
    sleep 0.1;
    close $s;
    sleep 2.3;

    ($st) = http_raw($n->port, req('GLOBAL-KEY-1'), 3);
    is($st, 200, 'worker alive after an abandoned lookup');

    $n->stop;
    my $log = $n->error_log;
    like($log, qr/client prematurely closed connection/,
         'the abandoned request was noticed');
    unlike($log, qr/\[alert\]|\[crit\]|open socket/,
           'no alert, no socket left at exit');
    $fake->stop;
}

# 3. Redis restarted under a running nginx: recovery within a second
{
    my $rport = start_redis();
    add_key(port => $rport, prefix => 't012:', token => 'tok-user-0000001',
            id => 5, grants => { clientes => 'get' });

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$rport prefix=t012: "
                . "timeout=300ms;",
        server => $location);

    my ($st) = http_raw($n->port, req('tok-user-0000001'), 3);
    is($st, 200, 'granted with Redis up');

    stop_redis($rport);
    my $t;
    ($st, undef, undef, $t) = http_raw($n->port, req('tok-user-0000001'), 3);
    is($st, 503, 'Redis down: 503');
    cmp_ok($t, '<', 0.4, 'within the timeout');

    ($st) = http_raw($n->port, req('GLOBAL-KEY-1'), 3);
    is($st, 200, 'Redis down: the global key still works');

    sleep 1.5;    # let the backoff grow

    start_redis(port => $rport);
    add_key(port => $rport, prefix => 't012:', token => 'tok-user-0000001',
            id => 5, grants => { clientes => 'get' });
    my $back = time;
    my $recovered;
    while (time - $back < 3) {
        ($st) = http_raw($n->port, req('tok-user-0000001'), 3);
        if ($st == 200) {
            $recovered = time - $back;
            last;
        }
        sleep 0.05;
    }
    ok(defined $recovered, 'recovered by itself after the restart');
    cmp_ok($recovered // 99, '<', 1.0, 'within 1 s of Redis returning');

    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
    like($n->error_log, qr/fsauth: redis at "127\.0\.0\.1:\d+" is back/,
         'recovery is logged');
    stop_redis($rport);
}

# 4. two workers, concurrent clients
{
    my $p = 't012w:';
    flush_prefix($p);
    add_key(prefix => $p, token => 'tok-user-0000001', id => 6,
            grants => { clientes => 'get' });

    my $n = FsauthNginx->start(
        workers => 2,
        http => "    fsauth_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT} "
                . "prefix=$p;",
        server => $location);

    my @bg;
    my %want = (granted => 200, forbidden => 403, unknown => 401);
    my %reqs = (granted => req('tok-user-0000001'),
                forbidden => req('tok-user-0000001', '/api/3/facturas'),
                unknown => req('tok-nobody-00001'));
    for my $kind (sort keys %reqs) {
        push @bg, @{ background_requests(port => $n->port, clients => 3,
                                         count => 40,
                                         file => "$tmp/w-$kind",
                                         request => $reqs{$kind}) };
    }
    wait_background(\@bg);

    my %pids;
    for my $kind (sort keys %reqs) {
        my @r = results("$tmp/w-$kind");
        is(scalar @r, 120, "$kind: 120 answers");
        is(scalar(grep { $_->[0] != $want{$kind} } @r), 0,
           "$kind: every answer is $want{$kind}");
        $pids{$_->[2]}++ for @r;
    }
    delete $pids{'-'};
    cmp_ok(scalar keys %pids, '>=', 1, 'answers carry a worker pid');

    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]|open socket/,
           'no alert with two workers');
    flush_prefix($p);
}

done_testing();
