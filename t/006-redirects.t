# A rewrite or an internal redirect (rewrite, try_files, error_page, named
# locations) that leads into a protected location: the resource is read
# from the raw path and from the routed URI, and a difference is refused,
# unless fsauth_resource names the resource.  After a redirect the request
# is checked again with the token the client sent, even when
# fsauth_hide_credentials removed it for the previous location.

use lib 't/lib';
use FsauthTest;
use Test::More;
use Test::Nginx::Socket 'no_plan';
use FsauthSelfProxy;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $p = 't006:';
flush_prefix($p);
add_key(prefix => $p, token => 'tok-clientes-001', id => 71,
        grants => { clientes => 'get' });

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_')
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t006:;
    fsauth_cache zone=t006:1m;
    map $request_uri $api_resource {
        ~^/api/3/(?<r>[^/?]+)  $r;
        default                "";
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "ok $uri [$http_x_auth_token]\n";
        }
    }
_EOC_
        unless defined $block->http_config;
    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        add_header X-Fsauth $fsauth_status always;
        add_header X-Resource "[$fsauth_resource]" always;
        rewrite ^/api/3/clientes/sneaky$ /api/3/facturas break;
        rewrite ^/api/3/clientes/old$ /api/3/clientes/new break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    location /alias/ {
        rewrite ^/alias/(.*)$ /api/3/$1 last;
    }
    location /files/ {
        try_files /nonexistent /api/3/facturas;
    }
    location /err/ {
        error_page 404 /api/3/facturas;
        return 404;
    }
    location /named/ {
        try_files /nonexistent @api;
    }
    location @api {
        rewrite ^/named/(.*)$ /api/3/$1 break;
        fsauth on;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: the key's own resource, for reference
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code: 200
--- response_body
ok /api/3/clientes [tok-clientes-001]



=== TEST 2: a resource it has no grant for
--- request
GET /api/3/facturas
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code: 403



=== TEST 3: "rewrite ... last" into the API from a path without a resource
--- request
GET /alias/facturas
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code: 403
--- response_headers
X-Fsauth: forbidden
--- response_body chomp
{"status":"error","message":"Forbidden"}
--- error_log
fsauth: the rewritten URI "/api/3/facturas" names another resource than the request line, refused



=== TEST 4: the same rewrite to the key's own resource: still two readings
--- request
GET /alias/clientes
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code: 403



=== TEST 5: "try_files" falling back to a protected URI
--- request
GET /files/x
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code: 403



=== TEST 6: "error_page" redirecting into a protected URI
--- request
GET /err/x
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code: 403



=== TEST 7: a named location that rewrites into the API
--- request
GET /named/facturas
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code: 403



=== TEST 8: "rewrite ... break" inside the protected location to another resource
--- request
GET /api/3/clientes/sneaky
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code: 403



=== TEST 9: a rewrite that keeps the resource
--- request
GET /api/3/clientes/old
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code: 200
--- response_body
ok /api/3/clientes/new [tok-clientes-001]



=== TEST 10: the global key too: a path read two ways is refused
--- request
GET /alias/facturas
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- error_code: 403



=== TEST 11: fsauth_resource names the resource: the rewrite is judged by it
--- config
    location ~ ^/api/3/(?<res>[^/]+) {
        fsauth on;
        fsauth_resource $res;
        add_header X-Resource "[$fsauth_resource]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/$res;
    }
    location /alias/ {
        rewrite ^/alias/(.*)$ /api/3/$1 last;
    }
    location /backend/ {
        return 200 "ok $uri\n";
    }
--- request eval
["GET /alias/clientes", "GET /alias/facturas"]
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code eval
[200, 403]



=== TEST 12: hide_credentials, then try_files to a named location that checks again
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        fsauth_hide_credentials on;
        try_files /nonexistent @php;
    }
    location @php {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        fsauth_hide_credentials on;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    location /api/3/ {
        fsauth on;
        fsauth_hide_credentials on;
        try_files /nonexistent @php;
    }
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/facturas"]
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code eval
[200, 200, 403]



=== TEST 13: hide_credentials, then try_files to /index.php that checks again
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        fsauth_hide_credentials on;
        try_files /nonexistent /index.php?$args;
    }
    location = /index.php {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        fsauth_hide_credentials on;
        fsauth_resource $api_resource;
        add_header X-Fsauth $fsauth_status always;
        add_header X-Resource "[$fsauth_resource]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ {
        return 200 "ok [$http_x_auth_token]\n";
    }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-clientes-001
--- error_code: 200
--- response_headers
X-Fsauth: granted
X-Resource: [clientes]
--- response_body
ok []
--- no_error_log
[error]
fsauth: no token was provided



=== TEST 14: the same with the global key
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        fsauth_hide_credentials on;
        try_files /nonexistent @php;
    }
    location @php {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        fsauth_hide_credentials on;
        add_header X-Fsauth $fsauth_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- request
GET /api/3/anything
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- error_code: 200
--- response_headers
X-Fsauth: global
--- response_body
ok /api/3/anything []
--- no_error_log
fsauth: no token was provided
