# Faults a real Redis will not produce on demand, from a scripted fake
# (t/lib/FakeRedis.pm): an outage is 503, never 401/403.

use lib 't/lib';
use FakeRedis;
use Test::Nginx::Socket 'no_plan';
use FsauthSelfProxy;

our $Fake = FakeRedis->start(
    'tok-ok-000000001' => 'ok',
    'tok-hang-0000001' => 'hang',
    'tok-err-00000001' => 'err',
    'tok-garbage-0001' => 'garbage',
    'tok-wrongtype-01' => 'wrongtype',
    'tok-odd-00000001' => 'odd',
    'tok-trunc-000001' => 'truncated',
    'tok-reset-000001' => 'reset',
);
$ENV{TEST_NGINX_FAKE_REDIS_PORT} = $Fake->port;

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    fsauth_redis 127.0.0.1:$TEST_NGINX_FAKE_REDIS_PORT timeout=300ms;
_EOC_
    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
_EOC_
});

run_tests();

$Fake->stop;

__DATA__

=== TEST 1: the fake answers a good record
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-ok-000000001
--- error_code: 200



=== TEST 2: Redis never answers: 503 within fsauth_redis timeout
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-hang-0000001
--- timeout: 2
--- error_code: 503
--- response_headers
Content-Type: application/json
Cache-Control: no-store
!WWW-Authenticate
X-Fsauth: unavailable
--- response_body chomp
{"status":"error","message":"Authentication service unavailable"}
--- error_log
fsauth: redis lookup timed out
fsauth: authentication service unavailable



=== TEST 3: an -ERR reply
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-err-00000001
--- error_code: 503
--- error_log
fsauth: redis lookup failed: error reply: ERR fake failure



=== TEST 4: bytes that are not RESP
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-garbage-0001
--- error_code: 503
--- error_log
fsauth: lost redis connection



=== TEST 5: a reply of the wrong type
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-wrongtype-01
--- error_code: 503
--- error_log
fsauth: redis lookup failed: unexpected reply



=== TEST 6: an array with an odd number of elements
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-odd-00000001
--- error_code: 503
--- error_log
fsauth: redis lookup failed: unexpected reply



=== TEST 7: a truncated reply, then the connection closes
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-trunc-000001
--- error_code: 503
--- error_log
fsauth: authentication service unavailable



=== TEST 8: the connection is reset without a reply
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-reset-000001
--- error_code: 503
--- error_log
fsauth: lost redis connection



=== TEST 9: fsauth_failure_mode open lets the request through, logged
--- config
    location /api/ {
        fsauth on;
        fsauth_failure_mode open;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-err-00000001
--- error_code: 200
--- response_headers
X-Fsauth: open
--- error_log
[warn]
request let through (fsauth_failure_mode open)



=== TEST 10: fsauth_failure_mode closed
--- config
    location /api/ {
        fsauth on;
        fsauth_failure_mode closed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-hang-0000001
--- error_code: 503



=== TEST 11: nothing listening: 503, and the global key still works
--- http_config
    fsauth_redis 127.0.0.1:1 timeout=300ms;
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: tok-ok-000000001", "X-Auth-Token: GLOBAL-KEY-1"]
--- error_code eval
[503, 200]



=== TEST 12: a client that gives up while its lookup is pending
--- http_config
    fsauth_redis 127.0.0.1:$TEST_NGINX_FAKE_REDIS_PORT timeout=1s;
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-hang-0000001
--- timeout: 0.2
--- abort
--- ignore_response
--- curl_error: Operation timed out
--- wait: 1.2
--- no_error_log
[alert]
[crit]
