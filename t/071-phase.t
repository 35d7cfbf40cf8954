# fsauth_phase preaccess: the decision is made before limit_req, so
# "limit_req_zone $fsauth_key_id" limits each key on its own in the same
# location; in the access phase (the default) limit_req runs first and
# sees no key.  What preaccess gives up: satisfy any, and allow/deny
# deciding before the token.  Zone names differ between blocks so that a
# reload (TEST_NGINX_USE_HUP) starts each block with empty counters.

use lib 't/lib';
use FsauthTest;
use Test::More;
use Test::Nginx::Socket 'no_plan';
use FsauthSelfProxy;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $p = 't071:';
flush_prefix($p);

add_key(prefix => $p, token => 'tok-phase-key-A1', id => 71, nick => 'a',
        grants => { clientes => 'get' });
add_key(prefix => $p, token => 'tok-phase-key-B1', id => 72, nick => 'b',
        grants => { clientes => 'get' });

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

# one request a minute per key, no burst: a key's second request is
# refused, whoever else has used the location
our $HttpConfig = <<'_EOC_';
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t071:;
    fsauth_cache zone=t071:1m;
    limit_req_zone $fsauth_key_id zone=t071_$TEST_NGINX_BLOCK:1m rate=1r/m;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    my $n = $block->name =~ /TEST (\d+)/ ? $1 : 0;
    my $http = $block->http_config // $::HttpConfig;
    $http =~ s/\$TEST_NGINX_BLOCK/$n/g;
    $block->set_value('http_config', $http);
    if (defined $block->config) {
        my $c = $block->config;
        $c =~ s/\$TEST_NGINX_BLOCK/$n/g;
        $block->set_value('config', $c);
    }
});

run_tests();

__DATA__

=== TEST 1: preaccess: limit_req per key, 503 for one key while another passes
--- config
    location /api/ {
        fsauth on;
        fsauth_phase preaccess;
        limit_req zone=t071_$TEST_NGINX_BLOCK;
        add_header X-Fsauth $fsauth_status always;
        add_header X-Id "[$fsauth_key_id]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes",
 "GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: tok-phase-key-A1", "X-Auth-Token: tok-phase-key-A1",
 "X-Auth-Token: tok-phase-key-B1", "X-Auth-Token: tok-phase-key-A1",
 "X-Auth-Token: tok-phase-key-B1"]
--- error_code eval
[200, 503, 200, 503, 503]
--- response_headers eval
["X-Id: [71]", "X-Id: [71]", "X-Id: [72]", "X-Id: [71]", "X-Id: [72]"]
--- no_error_log
[alert]



=== TEST 2: preaccess with limit_req_status 429
--- config
    location /api/ {
        fsauth on;
        fsauth_phase preaccess;
        limit_req zone=t071_$TEST_NGINX_BLOCK;
        limit_req_status 429;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: tok-phase-key-B1", "X-Auth-Token: tok-phase-key-B1",
 "X-Auth-Token: tok-phase-key-A1"]
--- error_code eval
[200, 429, 200]



=== TEST 3: preaccess: a refused token never reaches limit_req, and the answer is fsauth's
--- config
    location /api/ {
        fsauth on;
        fsauth_phase preaccess;
        limit_req zone=t071_$TEST_NGINX_BLOCK;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/facturas",
 "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: tok-unknown-00001", "X-Auth-Token: tok-unknown-00001",
 "X-Auth-Token: tok-phase-key-A1", "X-Auth-Token: tok-phase-key-A1"]
--- error_code eval
[401, 401, 403, 200]
--- response_body eval
["{\"status\":\"error\",\"message\":\"Invalid auth token\"}",
 "{\"status\":\"error\",\"message\":\"Invalid auth token\"}",
 "{\"status\":\"error\",\"message\":\"Forbidden\"}",
 "ok\n"]
--- no_error_log
limiting requests



=== TEST 4: access (the default): limit_req runs first and sees no key, so it limits nothing
--- config
    location /api/ {
        fsauth on;
        limit_req zone=t071_$TEST_NGINX_BLOCK;
        add_header X-Id "[$fsauth_key_id]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: tok-phase-key-A1", "X-Auth-Token: tok-phase-key-A1",
 "X-Auth-Token: tok-phase-key-A1"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Id: [71]", "X-Id: [71]", "X-Id: [71]"]
--- no_error_log
limiting requests



=== TEST 5: fsauth_phase access, written out, behaves as the default
--- config
    location /api/ {
        fsauth on;
        fsauth_phase access;
        limit_req zone=t071_$TEST_NGINX_BLOCK;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: tok-phase-key-A1", "X-Auth-Token: tok-phase-key-A1"]
--- error_code eval
[200, 200]



=== TEST 6: preaccess gives up satisfy any: an allowed address without a token gets 401
--- config
    location /api/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        fsauth on;
        fsauth_phase preaccess;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request
GET /api/3/clientes
--- error_code: 401
--- response_body chomp
{"status":"error","message":"Invalid auth token"}



=== TEST 7: preaccess: deny still applies, after fsauth (a granted key, then nginx's 403)
--- config
    location /api/ {
        deny all;
        fsauth on;
        fsauth_phase preaccess;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-phase-key-A1
--- error_code: 403
--- response_headers
Content-Type: text/html
X-Fsauth: granted
--- error_log
access forbidden by rule



=== TEST 8: preaccess: a preflight passes on to the content handler
--- config
    location /api/ {
        fsauth on;
        fsauth_phase preaccess;
        limit_req zone=t071_$TEST_NGINX_BLOCK;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 204; }
--- request
OPTIONS /api/3/clientes
--- error_code: 204
--- response_headers
X-Fsauth: preflight



=== TEST 9: preaccess set at server level, inherited by the location
--- config
    fsauth_phase preaccess;
    location /api/ {
        fsauth on;
        limit_req zone=t071_$TEST_NGINX_BLOCK;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: tok-phase-key-B1", "X-Auth-Token: tok-phase-key-B1"]
--- error_code eval
[200, 503]
