# The resource rule (README, Resource) and the variables that carry it.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use FsauthSelfProxy;

repeat_each(1);
no_shuffle();
no_long_string();
no_root_location();
log_level('info');

our $Config = <<'_EOC_';
    location / {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        add_header X-Fsauth $fsauth_status always;
        add_header X-Resource "[$fsauth_resource]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ {
        fsauth off;
        return 200 "ok\n";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', $::Config) unless defined $block->config;
    $block->set_value('more_headers', "X-Auth-Token: GLOBAL-KEY-1")
        unless defined $block->more_headers;
});

run_tests();

__DATA__

=== TEST 1: the segment after /api/<version>/, query string dropped
--- request
GET /api/3/clientes/7?x=1
--- error_code: 200
--- response_headers
X-Resource: [clientes]



=== TEST 2: behind a sub-path
--- request
GET /erp/api/3/facturas
--- response_headers
X-Resource: [facturas]



=== TEST 3: case kept, no decoding
--- request
GET /api/3/crearFacturaCliente%41?y
--- response_headers
X-Resource: [crearFacturaCliente%41]



=== TEST 4: /api/3 is the listing (empty resource)
--- request
GET /api/3
--- error_code: 200
--- response_headers
X-Resource: []



=== TEST 5: /api/3/ is the listing too
--- request
GET /api/3/
--- response_headers
X-Resource: []



=== TEST 6: "apifoo" is not the api segment
--- request
GET /apifoo/3/clientes
--- response_headers
X-Resource: []



=== TEST 7: dot segments are refused, never guessed
--- request
GET /api/3/clientes/../facturas
--- curl_options: --path-as-is
--- error_code: 403
--- response_headers
X-Fsauth: forbidden
--- response_body chomp
{"status":"error","message":"Forbidden"}
--- error_log
fsauth: ambiguous request path refused



=== TEST 8: a "." segment
--- request
GET /api/3/./clientes
--- curl_options: --path-as-is
--- error_code: 403



=== TEST 9: encoded dot segments
--- request eval
["GET /api/3/%2e%2e/clientes", "GET /api/3/.%2E/x", "GET /api/3/%2E/x"]
--- curl_options: --path-as-is
--- error_code eval
[403, 403, 403]



=== TEST 10: dots inside a name are fine
--- request
GET /api/3/clientes.json
--- error_code: 200
--- response_headers
X-Resource: [clientes.json]



=== TEST 11: encoded slash and backslash
--- request eval
["GET /api/3/clientes%2F1", "GET /api/3/clientes%2f1", "GET /api/3/cli%5Cx", "GET /api/3/cli%5cx"]
--- error_code eval
[403, 403, 403, 403]



=== TEST 12: a raw backslash
--- request eval
"GET /api/3/a\\b"
--- error_code: 403



=== TEST 13: encoded NUL: nginx itself refuses it (400)
--- request
GET /api/3/clientes%00
--- error_code: 400



=== TEST 14: empty segments ("//") are refused
--- request eval
["GET /api/3//clientes", "GET //api/3/clientes", "GET /api//clientes"]
--- error_code eval
[403, 403, 403]



=== TEST 15: bytes PHP's URL filter would delete are refused
--- request eval
"GET /a\xffpi/3/clientes"
--- no_http2: curl (the HTTP/2 client) sends the byte percent-encoded
--- no_http3: curl (the HTTP/3 client) sends the byte percent-encoded
--- error_code: 403



=== TEST 16: a truncated escape: nginx itself refuses it (400)
--- request
GET /api/3/clientes%2
--- error_code: 400



=== TEST 17: a malformed token is refused before the path is judged
--- request
GET /api/3/../x
--- more_headers
X-Auth-Token: 0
--- error_code: 401



=== TEST 18: an ambiguous path is refused before any key lookup
--- request
GET /api/3/../x
--- more_headers
X-Auth-Token: some-user-token
--- curl_options: --path-as-is
--- error_code: 403
--- no_error_log
fsauth: unknown token



=== TEST 19: fsauth_resource overrides the rule
--- config
    location ~ ^/v1/(?<res>[a-z]+) {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        fsauth_resource $res;
        try_files /nonexistent @ok;
    }
    location @ok {
        return 200 "[$fsauth_resource]\n";
    }
--- request
GET /v1/articulos/9
--- error_code: 200
--- response_body
[articulos]



=== TEST 20: the variables survive an internal redirect
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        try_files /nonexistent @after;
    }
    location @after {
        return 200 "status=$fsauth_status resource=$fsauth_resource full=$fsauth_full_access\n";
    }
--- request
GET /api/3/clientes
--- error_code: 200
--- response_body
status=global resource=clientes full=1



=== TEST 21: and survive error_page
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        error_page 404 = /fallback;
    }
    location = /fallback {
        return 200 "fallback status=$fsauth_status resource=$fsauth_resource\n";
    }
--- request
GET /api/3/nothing
--- error_code: 200
--- response_body
fallback status=global resource=nothing



=== TEST 22: variables are empty where fsauth is not involved
--- config
    location /x {
        return 200 "status=[$fsauth_status] resource=[$fsauth_resource] id=[$fsauth_key_id]\n";
    }
--- request
GET /x
--- response_body
status=[] resource=[] id=[]
