# How fsauth orders with allow/deny, auth_basic and satisfy: fsauth runs
# last in the access phase.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use FsauthSelfProxy;

repeat_each(1);
no_shuffle();
log_level('info');

run_tests();

__DATA__

=== TEST 1: deny refuses first: plain 403, no JSON, no token looked at
--- config
    location /api/ {
        deny all;
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- error_code: 403
--- response_headers
Content-Type: text/html
--- no_error_log
fsauth:



=== TEST 2: satisfy any: an allowed address needs no token
--- config
    location /api/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        fsauth on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request
GET /api/3/clientes
--- error_code: 200
--- response_body
ok



=== TEST 3: satisfy any: a denied address with no token gets fsauth's 401
--- config
    location /api/ {
        satisfy any;
        deny all;
        fsauth on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request
GET /api/3/clientes
--- error_code: 401
--- response_body chomp
{"status":"error","message":"Invalid auth token"}



=== TEST 4: satisfy any: a denied address with a good token is granted
--- config
    location /api/ {
        satisfy any;
        deny all;
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- error_code: 200



=== TEST 5: auth_basic runs before fsauth (satisfy all)
--- config
    location /api/ {
        auth_basic "staff";
        auth_basic_user_file /dev/null;
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="staff"
--- no_error_log
fsauth:



=== TEST 6: "return" runs in the rewrite phase, before any access check
--- config
    location /api/ {
        fsauth on;
        return 200 "unprotected\n";
    }
--- request
GET /api/3/clientes
--- error_code: 200
--- response_body
unprotected
