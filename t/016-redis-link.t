# What keeps the Redis links useful when the server says no: a passing
# error on the invalidation channel is retried, a definitive refusal (an
# unknown command, an ACL) falls back to ttl with one warning, a record too
# large to be a key is refused alone, and a long password is used whole.
# Plain Test::More: these need a server changed under a running nginx.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(sleep);
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
            add_header X-Fsauth $fsauth_status always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub req {
    my ($token, $path) = @_;
    $path //= '/api/3/clientes';
    return "GET $path HTTP/1.0\r\nHost: x\r\nX-Auth-Token: $token\r\n\r\n";
}

sub status { (http_raw($_[0]->port, req($_[1]), 3))[0] }

sub lines {
    my ($file) = @_;
    open my $fh, '<', $file or return ();
    return <$fh>;
}

sub count_of {
    my ($text, $re) = @_;
    return scalar(() = $text =~ /$re/g);
}

# 1. passing errors on the invalidation channel are retried
for my $err ("-LOADING Redis is loading the dataset in memory\r\n",
             "-BUSY Redis is busy running a script\r\n",
             "-NOAUTH Authentication required.\r\n",
             "-ERR max number of clients reached\r\n")
{
    (my $name = $err) =~ s/\r\n//;
    my $log = "$tmp/client-" . int(rand(1e9));
    my $fake = FakeRedis->start('tok-ok-000000001' => 'ok',
                                client_log => $log,
                                client_replies => [$err, $err]);
    my $n = FsauthNginx->start(
        http => '    fsauth_redis 127.0.0.1:' . $fake->port
                . " timeout=300ms;\n    fsauth_cache zone=c:1m;",
        server => $location);
    sleep 1.5;

    my @ids = grep { /CLIENT ID/ } lines($log);
    cmp_ok(scalar @ids, '>=', 3,
           "$name: CLIENT ID is tried again after two errors");
    is(scalar(grep { /CLIENT TRACKING/ } lines($log)), 1,
       "$name: then tracking is turned on");
    my $el = $n->error_log;
    unlike($el, qr/refreshed by ttl only/, "$name: tracking is not given up");
    is(count_of($el, qr/invalidation channel retried/), 1,
       "$name: logged once");
    is(status($n, 'tok-ok-000000001'), 200, "$name: lookups work");
    $n->stop;
    $fake->stop;
}

# 2. a definitive refusal: no retry, one warning
for my $err ("-ERR unknown command 'CLIENT', with args beginning with: \r\n",
             "-NOPERM this user has no permissions to run the 'client|id' "
             . "command\r\n")
{
    (my $name = $err) =~ s/[,\r\n].*//s;
    my $log = "$tmp/client-" . int(rand(1e9));
    my $fake = FakeRedis->start('tok-ok-000000001' => 'ok',
                                client_log => $log,
                                client_replies => [($err) x 10]);
    my $n = FsauthNginx->start(
        http => '    fsauth_redis 127.0.0.1:' . $fake->port
                . " timeout=300ms;\n    fsauth_cache zone=c:1m;",
        server => $location);
    sleep 1.5;

    is(scalar(grep { /CLIENT ID/ } lines($log)), 1,
       "$name: CLIENT ID is not retried");
    is(count_of($n->error_log, qr/revocation is degraded: cached keys are refreshed by ttl only/),
       1, "$name: one warning that revocation is degraded");
    is(status($n, 'tok-ok-000000001'), 200, "$name: lookups work");
    $n->stop;
    $fake->stop;
}

# 3. a real server refusing connections for a while ("max number of
# clients reached"): once it accepts them, revocation works again
{
    my $port = start_redis(args => ['--maxclients', '3']);
    my $d = add_key(port => $port, token => 'tok-max-00000001', id => 61,
                    fullaccess => 1);

    my @hold;
    for (1 .. 3) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die;
        print $s "PING\r\n";
        sysread($s, my $buf, 64);
        push @hold, $s;
    }

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$port timeout=300ms;\n"
                . "    fsauth_cache zone=c:1m ttl=60s;",
        server => $location);
    sleep 0.5;
    is(status($n, 'tok-max-00000001'), 503, 'no connection: 503');

    close $_ for @hold;
    sleep 2;

    is(status($n, 'tok-max-00000001'), 200, 'connected again: granted');
    is(status($n, 'tok-max-00000001'), 200, 'and cached');
    redis_at($port, 'HSET', "fsauth:key:$d", 'enabled', '0');
    sleep 0.2;
    is(status($n, 'tok-max-00000001'), 401,
       'a key disabled after the refusals is refused within 200 ms');
    unlike($n->error_log, qr/refreshed by ttl only/, 'tracking kept');
    $n->stop;
    stop_redis($port);
}

# 4. SUBSCRIBE refused by an ACL: one warning, ttl fallback, no loop
{
    my $port = start_redis();
    redis_at($port, 'ACL', 'SETUSER', 'default', 'on', 'nopass', '~*', '&*',
             '+@all', '-subscribe');
    my $d = add_key(port => $port, token => 'tok-acl-00000001', id => 62,
                    fullaccess => 1);

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$port timeout=300ms;\n"
                . "    fsauth_cache zone=c:1m ttl=1s;",
        server => $location);
    sleep 2.5;

    my $el = $n->error_log;
    is(count_of($el, qr/redis refused SUBSCRIBE \(NOPERM[^)]*\); revocation is degraded/),
       1, 'SUBSCRIBE refused: one warning that revocation is degraded');
    unlike($el, qr/lost redis connection/, 'not reported as a lost link');
    my ($denied) = redis_at($port, 'ACL', 'LOG') =~ /\bcount\n(\d+)/;
    is($denied, 1, 'SUBSCRIBE was tried once, not in a loop');

    is(status($n, 'tok-acl-00000001'), 200, 'lookups work');
    redis_at($port, 'HSET', "fsauth:key:$d", 'enabled', '0');
    sleep 1.3;
    is(status($n, 'tok-acl-00000001'), 401, 'the change is seen at ttl');
    $n->stop;
    stop_redis($port);
}

# 5. a record too large to be a key is refused alone
{
    my $p = 't016:';
    flush_prefix($p);
    my $big = add_key(prefix => $p, token => 'tok-big-00000001', id => 63,
                      fullaccess => 1);
    redis('EVAL', "for i = 1, 40000 do redis.call('HSET', KEYS[1], "
                  . "'res:r' .. i, 'get') end", 1, "${p}key:$big");
    add_key(prefix => $p, token => 'tok-small-000001', id => 64,
            fullaccess => 1);

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}"
                . " prefix=$p timeout=2s;",
        server => $location);

    my $file = "$tmp/big";
    my @bg;
    for my $tok ('tok-big-00000001', 'tok-small-000001') {
        push @bg, @{ background_requests(port => $n->port, clients => 3,
                                         file => "$file-$tok",
                                         request => req($tok),
                                         timeout => 5) };
    }
    wait_background(\@bg);

    my @big = map { (split)[0] } lines("$file-tok-big-00000001");
    my @small = map { (split)[0] } lines("$file-tok-small-000001");
    is("@big", '401 401 401', 'the oversized record: 401');
    is("@small", '200 200 200', 'lookups beside it: granted');
    is(status($n, 'tok-small-000001'), 200, 'and after it');

    my $el = $n->error_log;
    like($el, qr/fsauth: key record 63 has too many fields/,
         'logged with the key id');
    unlike($el, qr/lost redis connection|redis lookup failed/,
           'the connection is kept');
    $n->stop;
}

# 6. a password longer than 512 bytes is sent whole
{
    my $pw = join '', map { ('a' .. 'z')[rand 26] } 1 .. 1000;
    my $port = start_redis(args => ['--requirepass', $pw]);
    redis_at($port, '-a', $pw, 'HSET',
             'fsauth:key:' . digest('tok-longpw-00001'), 'id', 65,
             'enabled', 1, 'fullaccess', 1);
    my $file = write_file("$tmp/pw", "$pw\n");

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$port password_file=$file"
                . " timeout=300ms;",
        server => $location);
    is(status($n, 'tok-longpw-00001'), 200,
       'a 1000-byte password authenticates');
    unlike($n->error_log, qr/AUTH failed/, 'no AUTH error');
    $n->stop;
    stop_redis($port);
}

# 7. a name that resolves to several addresses: each is tried in turn, so
# the server is found whichever address family it listens on
SKIP: {
    my ($name) = grep {
        my $a = `getent ahostsv4 $_ 2>/dev/null` . `getent ahostsv6 $_ 2>/dev/null`;
        $a =~ /^127\.0\.0\.1\s/m && $a =~ /^::1\s/m
    } qw(localhost ip6-localhost localhost6);
    skip 'no name resolves to both 127.0.0.1 and ::1 here (/etc/hosts)', 4
        unless $name;

    for my $bind ('127.0.0.1', '::1') {
        my $port = free_port();
        start_redis(port => $port, args => ['--bind', $bind]);
        redis_at($port, '-h', $bind, 'HSET',
                 'fsauth:key:' . digest('tok-name-0000001'), 'id', 66,
                 'enabled', 1, 'fullaccess', 1);
        my $n = FsauthNginx->start(
            http => "    fsauth_redis $name:$port timeout=300ms;",
            server => $location);
        is(status($n, 'tok-name-0000001'), 200,
           "\"$name\", the server on $bind only: granted");
        my $el = $n->error_log;
        unlike($el, qr/\[error\]/, "$bind: no error logged");
        $n->stop;
        stop_redis($port);
    }
}

done_testing();
