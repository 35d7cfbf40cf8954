# The rules that need no Redis: fsauth on/off, API switch, preflight, token
# extraction and validation, global key, error bodies and headers.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use FsauthSelfProxy;

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

our $Backend = <<'_EOC_';
    location /backend/ {
        return 200 "backend $request_uri xat=[$http_x_auth_token] tok=[$http_token]\n";
    }
_EOC_

# blocks without a config section use this one
our $Default = <<'_EOC_';
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config',
                      ($block->config // $::Default) . $::Backend);
});

run_tests();

__DATA__

=== TEST 1: fsauth off (the default) lets everything through
--- config
    location /api/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/3/clientes
--- error_code: 200
--- response_body
backend /backend/3/clientes xat=[] tok=[]



=== TEST 2: missing token: 401 with the exact JSON body and headers
--- request
GET /api/3/clientes
--- error_code: 401
--- response_headers
Content-Type: application/json
Cache-Control: no-store
WWW-Authenticate: Token realm="FacturaScripts API"
Content-Length: 49
--- response_body chomp
{"status":"error","message":"Invalid auth token"}
--- error_log
fsauth: no token was provided
--- no_error_log
[error]



=== TEST 3: global key in X-Auth-Token: granted, token passed upstream
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        add_header X-Fsauth $fsauth_status always;
        add_header X-Full $fsauth_full_access always;
        add_header X-Cache $fsauth_cache_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- error_code: 200
--- response_headers
X-Fsauth: global
X-Full: 1
X-Cache: BYPASS
--- response_body
backend /backend/3/clientes xat=[GLOBAL-KEY-1] tok=[]



=== TEST 4: global key in Token
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/3/clientes
--- more_headers
Token: GLOBAL-KEY-1
--- error_code: 200
--- response_headers
X-Fsauth: global



=== TEST 5: header names are case-insensitive
--- request
GET /api/3/clientes
--- more_headers
x-AUTH-token: GLOBAL-KEY-1
--- error_code: 200



=== TEST 6: an empty X-Auth-Token wins over a good Token
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token:
Token: GLOBAL-KEY-1
--- no_http2: curl (the HTTP/2 client) sends no header for an empty value
--- no_http3: curl (the HTTP/3 client) sends no header for an empty value
--- error_code: 401
--- response_headers
X-Fsauth: unauthorized
--- response_body chomp
{"status":"error","message":"Invalid auth token"}
--- error_log
fsauth: malformed token of 0 bytes



=== TEST 7: a bad X-Auth-Token wins over a good Token
--- request
GET /api/3/clientes
--- more_headers
Token: GLOBAL-KEY-1
X-Auth-Token: wrong
--- error_code: 401



=== TEST 8: the winning header sent twice is refused
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
X-Auth-Token: GLOBAL-KEY-1
--- error_code: 401
--- error_log
fsauth: token header sent more than once



=== TEST 9: a repeated losing header does not matter
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
Token: a
Token: b
--- error_code: 200



=== TEST 10: the token "0" is no token
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: 0
--- error_code: 401
--- error_log
fsauth: malformed token of 1 bytes



=== TEST 11: a 99-byte global key works
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678
--- error_code: 200



=== TEST 12: a 100-byte token is refused before any lookup
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789
--- error_code: 401
--- error_log
fsauth: malformed token of 100 bytes



=== TEST 13: a space inside the token is outside 0x21..0x7e
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL KEY-1
--- error_code: 401
--- error_log
fsauth: malformed token of 12 bytes



=== TEST 14: a non-ASCII byte in the token
--- request
GET /api/3/clientes
--- more_headers eval
"X-Auth-Token: GLOBAL-KEY-\xe9"
--- error_code: 401
--- error_log
fsauth: malformed token of 12 bytes



=== TEST 15: whitespace around the value is not part of the token
--- request
GET /api/3/clientes
--- more_headers eval
"X-Auth-Token:   GLOBAL-KEY-1  "
--- no_http2: an HTTP/1 rule: over HTTP/2 nginx keeps the spaces in the value
--- no_http3: an HTTP/1 rule: over HTTP/3 nginx keeps the spaces in the value
--- error_code: 200



=== TEST 16: global keys are compared exactly (case counts)
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: global-key-1
--- error_code: 401



=== TEST 17: a prefix of the global key is not the global key
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-
--- error_code: 401



=== TEST 18: a user token with no fsauth_redis is 401
--- config
    location /api/ {
        fsauth on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: abcdefghij0123456789
--- error_code: 401
--- error_log
fsauth: unknown token and no fsauth_redis



=== TEST 19: fsauth_api off: 403 API disabled, even with the global key
--- config
    location /api/ {
        fsauth on;
        fsauth_api off;
        fsauth_global_key GLOBAL-KEY-1;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- error_code: 403
--- response_headers
Content-Type: application/json
Cache-Control: no-store
!WWW-Authenticate
X-Fsauth: disabled
--- response_body chomp
{"status":"error","message":"API disabled. You can activate it from application preferences."}



=== TEST 20: fsauth_api off applies to OPTIONS too
--- config
    location /api/ {
        fsauth on;
        fsauth_api off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
OPTIONS /api/3/clientes
--- error_code: 403



=== TEST 21: OPTIONS passes without a token (fsauth_preflight pass)
--- config
    location /api/ {
        fsauth on;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
OPTIONS /api/3/clientes
--- error_code: 200
--- response_headers
X-Fsauth: preflight
--- response_body
backend /backend/3/clientes xat=[] tok=[]



=== TEST 22: fsauth_preflight auth: OPTIONS needs a token
--- config
    location /api/ {
        fsauth on;
        fsauth_preflight auth;
        fsauth_global_key GLOBAL-KEY-1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
OPTIONS /api/3/clientes
--- error_code: 401



=== TEST 23: fsauth_preflight auth: the global key's full access covers OPTIONS
--- config
    location /api/ {
        fsauth on;
        fsauth_preflight auth;
        fsauth_global_key GLOBAL-KEY-1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
OPTIONS /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- error_code: 200



=== TEST 24: HEAD without a token: 401 with headers and no body
--- request
HEAD /api/3/clientes
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Token realm="FacturaScripts API"
--- response_body



=== TEST 25: every method with the global key (full access)
--- request eval
["HEAD /api/3/clientes", "DELETE /api/3/clientes/1", "PATCH /api/3/clientes/1", "PUT /api/3/clientes/1", "POST /api/3/clientes\nx=1"]
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- error_code eval
[200, 200, 200, 200, 200]



=== TEST 26: a POST body is discarded on refusal
--- config
    location /api/ {
        fsauth on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
POST /api/3/clientes
name=abcdefghijklmnopqrstuvwxyz
--- error_code: 401
--- response_body chomp
{"status":"error","message":"Invalid auth token"}



=== TEST 27: fsauth_token_header replaces the default names
--- config
    location /api/ {
        fsauth on;
        fsauth_token_header X-Api-Key;
        fsauth_global_key GLOBAL-KEY-1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: GLOBAL-KEY-1", "X-Api-Key: GLOBAL-KEY-1"]
--- error_code eval
[401, 200]



=== TEST 28: fsauth_token_header order is precedence order
--- config
    location /api/ {
        fsauth on;
        fsauth_token_header Token X-Auth-Token;
        fsauth_global_key GLOBAL-KEY-1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
Token:
--- no_http2: curl (the HTTP/2 client) sends no header for an empty value
--- no_http3: curl (the HTTP/3 client) sends no header for an empty value
--- error_code: 401



=== TEST 29: fsauth_realm, with a quote escaped
--- config
    location /api/ {
        fsauth on;
        fsauth_realm 'My "ERP"';
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/3/clientes
--- error_code: 401
--- response_headers
WWW-Authenticate: Token realm="My \"ERP\""



=== TEST 30: fsauth_hide_credentials on strips every token header
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        fsauth_hide_credentials on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
Token: other
X-Other: kept
--- error_code: 200
--- response_body
backend /backend/3/clientes xat=[] tok=[]



=== TEST 31: hidden credentials leave other headers intact
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        fsauth_hide_credentials on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo/;
    }
    location /echo/ {
        return 200 "host=$http_host a=$http_x_a b=$http_x_b\n";
    }
--- request
GET /api/3/clientes
--- more_headers
X-A: 1
X-Auth-Token: GLOBAL-KEY-1
X-B: 2
--- error_code: 200
--- response_body_like
^host=(127\.0\.0\.1:\d+|fsauth_test_self) a=1 b=2$



=== TEST 32: fsauth on is inherited and "off" overrides it
--- config
    fsauth on;
    location /api/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /api/3/open/ {
        fsauth off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
--- request eval
["GET /api/3/clientes", "GET /api/3/open/x"]
--- error_code eval
[401, 200]



=== TEST 33: subrequests are not checked
--- config
    location /api/ {
        fsauth on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location = /page {
        auth_request /api/3/check;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/page;
    }
--- request
GET /page
--- error_code: 200
--- response_body
backend /backend/page xat=[] tok=[]
