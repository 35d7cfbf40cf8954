# Hostile input: paths built to be read two ways (dot segments, encoded
# "/" "\" ".", ";", "//", fragments, raw non-ASCII, 8 KB paths), header
# tricks (repeated, empty, padded, folded, non-ASCII, 4-7 KB token values),
# then, with a real nginx of its own: a flood of distinct random tokens
# against the cache (Redis commands stay at one per distinct token, no
# "no memory" spam), and slowloris clients while lookups hang.
#
# The flood sends 100,000 distinct tokens (a few seconds here: eight
# keep-alive connections, 32 requests pipelined on each);
# FSAUTH_TEST_FLOOD=N changes the number.

use lib 't/lib';
use FsauthTest;
use FsauthNginx;
use FakeRedis;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use Test::More;
use Test::Nginx::Socket 'no_plan';

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $p = 't040:';
flush_prefix($p);

# granted "clientes" (GET) only
add_key(prefix => $p, token => 'tok-hostile-user1', id => 401,
        grants => { clientes => 'get' });
# an unknown but well-formed 99-byte token, and one byte more
our $Tok99 = 'u' x 99;
our $Tok100 = 'u' x 100;

repeat_each(1);
no_shuffle();
no_long_string();
no_root_location();
log_level('info');

# a second server plays the backend and shows the raw URI it was given
our $HttpConfig = <<'_EOC_';
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t040:;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "backend $request_uri\n"; }
    }
_EOC_

our $Config = <<'_EOC_';
    location / {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $::HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $::Config) unless defined $block->config;
    $block->set_value('more_headers', 'X-Auth-Token: tok-hostile-user1')
        unless defined $block->more_headers || defined $block->raw_request;
    # HTTP/2 and HTTP/3 modes (curl): send the path as written
    $block->set_value('curl_options', '--path-as-is');
});

run_tests();

# ---------------------------------------------------------------------
# Plain Test::More from here: a dedicated nginx per scenario.
# ---------------------------------------------------------------------

my $tmp = tempdir(CLEANUP => 1);

sub hgetall_calls {
    my ($port) = @_;
    my $info = redis_at($port, 'INFO', 'commandstats');
    return $info =~ /cmdstat_hgetall:calls=(\d+)/ ? $1 : 0;
}

# Sends one GET per token over $conns keep-alive connections in parallel,
# $batch requests pipelined at a time; returns { status => count }.
sub flood {
    my (%o) = @_;
    my @tokens = @{ $o{tokens} };
    my $conns = $o{conns} // 8;
    my $batch = $o{batch} // 32;
    my @pids;

    for my $c (0 .. $conns - 1) {
        my @mine = @tokens[grep { $_ % $conns == $c } 0 .. $#tokens];
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my %count;
            my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$o{port}",
                                          Timeout => 10);
            my $buf = '';
            my $i = 0;
            while ($s && $i < @mine) {
                my $last = $i + $batch - 1;
                $last = $#mine if $last > $#mine;
                my $req = join '', map {
                    "GET /api/3/clientes HTTP/1.1\r\nHost: x\r\n"
                    . "X-Auth-Token: $_\r\n\r\n" } @mine[$i .. $last];
                defined syswrite($s, $req) or last;
                my $want = $last - $i + 1;
                while ($want > 0) {
                    if ($buf =~ /\A(HTTP\/1\.1 (\d+)[^\r]*\r\n(?:.*?\r\n)?)\r\n/s) {
                        my ($head, $st) = ($1, $2);
                        my ($len) = $head =~ /^Content-Length: (\d+)/mi;
                        $len //= 0;
                        my $total = length($head) + 2 + $len;
                        if (length($buf) >= $total) {
                            substr($buf, 0, $total) = '';
                            $count{$st}++;
                            $want--;
                            next;
                        }
                    }
                    my $n = sysread($s, $buf, 65536, length $buf);
                    if (!$n) {
                        $count{closed} += $want;
                        $want = 0;
                        undef $s;
                    }
                }
                $i = $last + 1;
            }
            $count{unsent} = @mine - $i if $i < @mine;
            open my $out, '>', "$o{file}.$c" or POSIX::_exit(1);
            print $out "$_ $count{$_}\n" for keys %count;
            close $out;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }

    waitpid $_, 0 for @pids;

    my %total;
    for my $c (0 .. $conns - 1) {
        open my $in, '<', "$o{file}.$c" or next;
        while (<$in>) {
            my ($k, $v) = split;
            $total{$k} += $v;
        }
        close $in;
    }
    return \%total;
}

sub count_str {
    my ($h) = @_;
    return join ' ', map { "$_=$h->{$_}" } sort keys %$h;
}

# 1. a flood of distinct random tokens against the cache: one Redis
#    command per distinct token, the repeated ones answered by the
#    negative cache, no allocation failures in the log
{
    my $n = $ENV{FSAUTH_TEST_FLOOD} || 100_000;
    my $rport = start_redis();

    my $ng = FsauthNginx->start(
        workers => 2,
        log_level => 'notice',
        http => "    fsauth_redis 127.0.0.1:$rport prefix=t040f: "
                . "timeout=2s;\n"
                . "    fsauth_cache zone=t040f:10m negative_ttl=5m;\n"
                . "    keepalive_requests 1000000;",
        server => <<'_EOC_');
        location /api/ {
            fsauth on;
            fsauth_ban off;
            fsauth_global_key GLOBAL-KEY-1;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

    my @chars = ('a' .. 'z', 'A' .. 'Z', '0' .. '9', '-', '_', '.', '~');
    my %seen;
    my @tokens;
    while (@tokens < $n) {
        my $t = join '', map { $chars[rand @chars] } 1 .. 24;
        push @tokens, $t unless $seen{$t}++;
    }

    my $before = hgetall_calls($rport);
    my $t0 = time;
    my $r = flood(port => $ng->port, tokens => \@tokens,
                  file => "$tmp/flood");
    my $elapsed = time - $t0;
    my $after_first = hgetall_calls($rport);

    is(count_str($r), "401=$n", "$n distinct tokens: every answer is 401");
    diag(sprintf "%d requests in %.1f s (%.0f/s)", $n, $elapsed,
         $n / ($elapsed || 1));
    cmp_ok($after_first - $before, '<=', $n,
           'at most one Redis command per distinct token');
    cmp_ok($after_first - $before, '>=', $n * 0.99,
           'and every distinct token was looked up');

    # 2,000 more, then the same again: the second pass is answered by the
    # negative cache (they fit: a 10m zone keeps 10,240 unknown tokens)
    my @fresh;
    while (@fresh < 2000) {
        my $t = join '', map { $chars[rand @chars] } 1 .. 24;
        push @fresh, $t unless $seen{$t}++;
    }
    $r = flood(port => $ng->port, tokens => \@fresh, conns => 4,
               file => "$tmp/fresh");
    my $after_fresh = hgetall_calls($rport);
    is(count_str($r), '401=2000', '2,000 new tokens: 401');
    is($after_fresh - $after_first, 2000, 'one Redis command each');
    $r = flood(port => $ng->port, tokens => \@fresh, conns => 4,
               file => "$tmp/again");
    is(count_str($r), '401=2000', 'the same 2,000 again: 401');
    is(hgetall_calls($rport) - $after_fresh, 0,
       'within negative_ttl: no Redis command at all');

    my ($st) = http_raw($ng->port, "GET /api/3/clientes HTTP/1.0\r\n"
                        . "X-Auth-Token: GLOBAL-KEY-1\r\n\r\n", 3);
    is($st, 200, 'the global key still works after the flood');

    my @workers = $ng->worker_pids;
    $ng->stop;
    my $log = $ng->error_log;
    unlike($log, qr/no memory|is full/, 'no "no memory" / "is full" in the log');
    unlike($log, qr/\[alert\]|\[crit\]|\[emerg\]|exited on signal/,
           'no alert, no crash');
    is(scalar @workers, 2, 'two workers were running');
    stop_redis($rport);
}

# 2. slowloris: 50 connections trickle their headers while other clients'
#    lookups hang; the worker keeps answering the global key at once
{
    my $fake = FakeRedis->start('tok-hang-0000040' => 'hang');
    my $fport = $fake->port;
    my $ng = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$fport timeout=1s;",
        server => <<'_EOC_');
        location /api/ {
            fsauth on;
            fsauth_global_key GLOBAL-KEY-1;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

    my $hang = "GET /api/3/clientes HTTP/1.0\r\nHost: x\r\n"
               . "X-Auth-Token: tok-hang-0000040\r\n\r\n";
    my $bg = background_requests(port => $ng->port, clients => 5,
                                 count => 3, request => $hang,
                                 file => "$tmp/hang", timeout => 6);

    # 50 slow clients: the request line, then one byte every 100 ms
    my @slow;
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $ng->port)
            or next;
        $s->autoflush(1);
        syswrite($s, "GET /api/3/clientes HTTP/1.1\r\nHost: x\r\n"
                     . "X-Auth-Token: tok-hang-0000040\r\nX-Slow: ");
        push @slow, $s;
    }
    is(scalar @slow, 50, '50 slow clients connected');

    my (@lat, @bad);
    my $end = time + 3;
    while (time < $end) {
        syswrite($_, 'a') for @slow;
        my ($st, undef, undef, $t) = http_raw($ng->port,
            "GET /api/3/clientes HTTP/1.0\r\nHost: x\r\n"
            . "X-Auth-Token: GLOBAL-KEY-1\r\n\r\n", 3);
        push @lat, $t;
        push @bad, $st if $st != 200;
        sleep 0.1;
    }
    my ($max) = sort { $b <=> $a } @lat;
    cmp_ok(scalar @lat, '>=', 10, 'global-key requests during the attack');
    is("@bad", '', 'every global-key request granted');
    cmp_ok($max, '<', 0.5, 'and answered at once (max latency)');

    wait_background($bg);
    my @hang = do {
        open my $fh, '<', "$tmp/hang" or die;
        map { [ split ] } <$fh>;
    };
    is(scalar @hang, 15, 'the hanging lookups were all answered');
    is(scalar(grep { $_->[0] != 503 } @hang), 0, 'with 503');
    my ($slowest) = sort { $b <=> $a } map { $_->[1] } @hang;
    cmp_ok($slowest, '<', 1.6, 'never much later than timeout=1s');

    # the slow clients finish their headers: answered too (503 or 401)
    syswrite($_, "\r\n\r\n") for @slow;
    my $sel = IO::Select->new(@slow);
    my %answered;
    my $deadline = time + 4;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(0.5)) {
            my $n = sysread($s, my $buf, 4096);
            if ($n && $buf =~ m{^HTTP/1\.1 (\d+)}) {
                $answered{$1}++;
            }
            $sel->remove($s);
        }
    }
    my $n_answered = 0;
    $n_answered += $_ for values %answered;
    is($n_answered, 50, 'the slow clients are answered once complete');
    is(join(',', grep { $_ != 503 } keys %answered), '',
       'with 503 (their lookups hang too)');
    close $_ for @slow;

    $ng->stop;
    my $log = $ng->error_log;
    unlike($log, qr/\[alert\]|\[crit\]|\[emerg\]|open socket/,
           'no alert, no socket left open at exit');
    $fake->stop;
}

flush_prefix($p);

__DATA__

=== TEST 1: baseline: the granted resource, raw URI passed on
--- request
GET /api/3/clientes/7
--- error_code: 200
--- response_headers
X-Fsauth: granted
--- response_body
backend /api/3/clientes/7



=== TEST 2: ".." from a forbidden resource into the granted one is refused
--- request eval
["GET /api/3/facturas/../clientes", "GET /api/3/clientes/../facturas",
 "GET /api/3/clientes/7/../../facturas", "GET /api/3/facturas/.."]
--- error_code eval
[403, 403, 403, 403]
--- response_body eval
['{"status":"error","message":"Forbidden"}',
 '{"status":"error","message":"Forbidden"}',
 '{"status":"error","message":"Forbidden"}',
 '{"status":"error","message":"Forbidden"}']
--- error_log
ambiguous request path refused
--- no_error_log
[error]



=== TEST 3: encoded dot segments, any case and mix
--- request eval
["GET /api/3/facturas/%2e%2e/clientes", "GET /api/3/facturas/%2E%2E/clientes",
 "GET /api/3/facturas/.%2e/clientes", "GET /api/3/facturas/%2e./clientes",
 "GET /api/3/%2e/clientes", "GET /api/%2e%2e/api/3/clientes"]
--- error_code eval
[403, 403, 403, 403, 403, 403]



=== TEST 4: "." segments
--- request eval
["GET /api/3/./clientes", "GET /api/./3/clientes", "GET /./api/3/clientes",
 "GET /api/3/clientes/."]
--- error_code eval
[403, 403, 403, 403]



=== TEST 5: encoded "/" and "\" are refused, whatever they hide
--- request eval
["GET /api/3/clientes%2Ffacturas", "GET /api/3/clientes%2f..%2ffacturas",
 "GET /api%2F3%2Fclientes", "GET /api/3/facturas%5C..%5Cclientes",
 "GET /api/3/facturas%5c"]
--- error_code eval
[403, 403, 403, 403, 403]



=== TEST 6: a raw "\" is refused
--- request eval
["GET /api/3/facturas\\..\\clientes", "GET /api/3/clientes\\"]
--- error_code eval
[403, 403]



=== TEST 7: ";" is an ordinary byte: "clientes;x=1" is another resource
--- request eval
["GET /api/3/clientes;x=1", "GET /api/3/clientes;/../facturas",
 "GET /api/3/clientes;jsessionid=1/7"]
--- error_code eval
[403, 403, 403]



=== TEST 8: ";" with the global key: granted, passed on untouched
--- request
GET /api/3/clientes;x=1/7
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- error_code: 200
--- response_body
backend /api/3/clientes;x=1/7



=== TEST 9: empty segments ("//") anywhere but at the end
--- request eval
["GET //api/3/clientes", "GET /api//3/clientes", "GET /api/3//clientes",
 "GET /api/3//facturas", "GET /api/3/clientes//7"]
--- error_code eval
[403, 403, 403, 403, 403]



=== TEST 10: a trailing "/" is fine
--- request
GET /api/3/clientes/
--- error_code: 200
--- response_body
backend /api/3/clientes/



=== TEST 11: "#" in the path is refused; after the query it does not count
--- request eval
["GET /api/3/clientes#/../facturas", "GET /api/3/facturas#x",
 "GET /api/3/clientes#x?a", "GET /api/3/clientes?a#x",
 "GET /api/3/facturas?a#/../clientes"]
--- no_http2: curl (the HTTP/2 client) takes "#" for the start of a fragment
--- no_http3: curl (the HTTP/3 client) takes "#" for the start of a fragment
--- error_code eval
[403, 403, 403, 200, 403]



=== TEST 12: NUL and broken escapes never reach fsauth (nginx: 400)
--- request eval
["GET /api/3/clientes%00", "GET /api/3/clientes%00/../facturas",
 "GET /api/3/clientes%", "GET /api/3/clientes%2", "GET /api/3/clientes%zz"]
--- error_code eval
[400, 400, 400, 400, 400]



=== TEST 13: raw bytes above 0x7e in the path: refused, global key too
--- request eval
["GET /api/3/clientes\xff", "GET /api/3/cli\xc3\xa9ntes"]
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- no_http2: curl (the HTTP/2 client) sends these bytes percent-encoded
--- no_http3: curl (the HTTP/3 client) sends these bytes percent-encoded
--- error_code eval
[403, 403]
--- error_log
ambiguous request path refused



=== TEST 13b: control bytes in the path never reach fsauth (nginx: 400)
--- request eval
["GET /api/3/\x7fclientes", "GET /api/3/clientes\x01"]
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- no_http2: curl (the HTTP/2 client) refuses control bytes in a URL
--- no_http3: curl (the HTTP/3 client) refuses control bytes in a URL
--- error_code eval
[400, 400]
--- no_error_log
fsauth:



=== TEST 14: percent-encoded bytes are kept, not decoded: another resource
--- request eval
["GET /api/3/cli%C3%A9ntes", "GET /api/3/%63lientes", "GET /api/3/clientes%20"]
--- error_code eval
[403, 403, 403]



=== TEST 15: the query string does not count, whatever it holds
--- request eval
["GET /api/3/clientes?/../facturas", "GET /api/3/facturas?x=/api/3/clientes",
 "GET /api/3/clientes?%2F..%2Ffacturas#x"]
--- error_code eval
[200, 403, 200]



=== TEST 16: absolute-form request target: the path decides
--- raw_request eval
"GET http://localhost/api/3/facturas HTTP/1.0\r\nHost: localhost\r\nX-Auth-Token: tok-hostile-user1\r\n\r\n"
--- error_code: 403



=== TEST 16b: absolute-form request target, granted resource
--- raw_request eval
"GET http://localhost/api/3/clientes HTTP/1.0\r\nHost: localhost\r\nX-Auth-Token: tok-hostile-user1\r\n\r\n"
--- error_code: 200
--- response_body
backend /api/3/clientes



=== TEST 16c: absolute-form request target with a dot segment
--- raw_request eval
"GET http://localhost/api/3/facturas/../clientes HTTP/1.0\r\nHost: localhost\r\nX-Auth-Token: tok-hostile-user1\r\n\r\n"
--- error_code: 403



=== TEST 17: an 8 KB path within large_client_header_buffers, granted
--- request eval
"GET /api/3/clientes/" . ("a" x 8000)
--- error_code: 200
--- response_body_like: ^backend /api/3/clientes/a{8000}$



=== TEST 18: an 8 KB resource name: no grant, no trouble
--- request eval
"GET /api/3/" . ("r" x 8100)
--- error_code: 403
--- no_error_log
[error]
[alert]



=== TEST 19: 4,000 segments, granted; with a ".." at the very end, refused
--- request eval
["GET /api/3/clientes" . ("/x" x 4000), "GET /api/3/clientes" . ("/x" x 3990) . "/.."]
--- error_code eval
[200, 403]



=== TEST 20: longer than large_client_header_buffers: nginx answers 414
--- request eval
"GET /api/3/clientes/" . ("a" x 8200)
--- error_code: 414
--- no_error_log
fsauth:



=== TEST 21: unknown and lower-case methods
--- request eval
["FOO /api/3/clientes", "get /api/3/clientes"]
--- error_code eval
[403, 400]



=== TEST 22: the "api" segment in other letter cases or percent-encoded is refused
--- request eval
["GET /API/3/facturas", "GET /Api/3/facturas", "GET /%61pi/3/facturas",
 "GET /ap%69/3/facturas", "GET /%41PI/3/facturas"]
--- error_code eval
[403, 403, 403, 403, 403]



=== TEST 23: the token header sent twice, in any letter case
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
x-auth-token: GLOBAL-KEY-1
--- request
GET /api/3/clientes
--- error_code: 401
--- response_body chomp
{"status":"error","message":"Invalid auth token"}
--- error_log
token header sent more than once



=== TEST 24: Token repeated, but X-Auth-Token present once: X-Auth-Token wins
--- more_headers
Token: a
X-Auth-Token: GLOBAL-KEY-1
Token: b
--- request
GET /api/3/clientes
--- error_code: 200



=== TEST 25: a present but blank X-Auth-Token wins over a good Token
--- raw_request eval
"GET /api/3/clientes HTTP/1.0\r\nHost: x\r\nX-Auth-Token:    \t \r\nToken: GLOBAL-KEY-1\r\n\r\n"
--- error_code: 401



=== TEST 26: spaces around the value are not part of the token
--- raw_request eval
"GET /api/3/clientes HTTP/1.0\r\nHost: x\r\nX-Auth-Token:    GLOBAL-KEY-1     \r\n\r\n"
--- error_code: 200



=== TEST 26b: nginx 1.22 keeps tabs around a value (so would the backend): 401
--- raw_request eval
"GET /api/3/clientes HTTP/1.0\r\nHost: x\r\nX-Auth-Token: \tGLOBAL-KEY-1\t\r\n\r\n"
--- error_code: 401



=== TEST 27: whitespace or control bytes inside the value
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes",
 "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: GLOBAL-KEY-1 x", "X-Auth-Token: GLOBAL\tKEY-1",
 "X-Auth-Token: GLOBAL-KEY-1\x7f", "X-Auth-Token: GLOBAL-KEY-1\x01"]
--- error_code eval
[401, 401, 401, 401]
--- error_log
malformed token
--- no_error_log
[error]



=== TEST 28: non-ASCII token bytes
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: GLOBAL-KEY-1\xc3\xa9", "X-Auth-Token: \xff\xfe"]
--- error_code eval
[401, 401]
--- error_log
malformed token



=== TEST 29: NUL in a header value: nginx says 400
--- raw_request eval
"GET /api/3/clientes HTTP/1.0\r\nHost: x\r\nX-Auth-Token: GLOBAL\x00-KEY-1\r\n\r\n"
--- error_code: 400
--- no_error_log
fsauth:



=== TEST 29b: obsolete line folding: nginx says 400
--- raw_request eval
"GET /api/3/clientes HTTP/1.0\r\nHost: x\r\nX-Auth-Token: GLOBAL-\r\n KEY-1\r\n\r\n"
--- error_code: 400
--- no_error_log
fsauth:



=== TEST 30: underscores in the header name: ignored by nginx, no token
--- raw_request eval
"GET /api/3/clientes HTTP/1.0\r\nHost: x\r\nX_Auth_Token: GLOBAL-KEY-1\r\n\r\n"
--- error_code: 401
--- error_log
no token was provided



=== TEST 30a: underscores_in_headers on: X_Auth_Token is another header
--- http_config
    underscores_in_headers on;
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t040:;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "backend $request_uri\n"; }
    }
--- raw_request eval
"GET /api/3/clientes HTTP/1.0\r\nHost: x\r\nX_Auth_Token: GLOBAL-KEY-1\r\n\r\n"
--- error_code: 401
--- error_log
no token was provided



=== TEST 30b: a space before the colon: nginx says 400
--- raw_request eval
"GET /api/3/clientes HTTP/1.0\r\nHost: x\r\nX-Auth-Token : GLOBAL-KEY-1\r\n\r\n"
--- error_code: 400
--- no_error_log
fsauth:



=== TEST 31: a 4 KB token value: 401 without any Redis access
--- more_headers eval
"X-Auth-Token: " . ("k" x 4096)
--- request
GET /api/3/clientes
--- error_code: 401
--- error_log
malformed token of 4096 bytes
--- no_error_log
unknown key
kkkkkkkkkk



=== TEST 31b: a 7 KB token value: 401 without any Redis access
--- more_headers eval
"X-Auth-Token: " . ("k" x 7000)
--- request
GET /api/3/clientes
--- error_code: 401
--- error_log
malformed token of 7000 bytes
--- no_error_log
unknown key
kkkkkkkkkk



=== TEST 32: a token header longer than a header buffer: nginx says 400
--- more_headers eval
"X-Auth-Token: " . ("k" x 8200)
--- request
GET /api/3/clientes
--- no_http2: an HTTP/1 limit: nginx takes a longer field over HTTP/2 (fsauth: 401)
--- no_http3: an HTTP/1 limit: nginx takes a longer field over HTTP/3 (fsauth: 401)
--- error_code: 400
--- no_error_log
fsauth:



=== TEST 33: 99 bytes are looked up (unknown key)
--- more_headers eval
"X-Auth-Token: $::Tok99"
--- request
GET /api/3/clientes
--- error_code: 401
--- error_log eval
qr/fsauth: unknown key [0-9a-f]{8}\.\.\./



=== TEST 33b: 100 bytes are refused at once
--- more_headers eval
"X-Auth-Token: $::Tok100"
--- request
GET /api/3/clientes
--- error_code: 401
--- error_log
malformed token of 100 bytes
--- no_error_log
unknown key



=== TEST 34: many headers, the token last
--- more_headers eval
CORE::join("\n", map { "X-Filler-$_: " . ("v" x 50) } 1 .. 90) . "\nX-Auth-Token: GLOBAL-KEY-1"
--- request
GET /api/3/clientes
--- error_code: 200
