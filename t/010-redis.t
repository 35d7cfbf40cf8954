# User keys and grants from a real redis-server (README, How a request is decided),
# AUTH, db selection, unix socket, the kill switch and activity tracking.

use lib 't/lib';
use FsauthTest;
use File::Temp qw(tempdir);
use Test::More;
use Test::Nginx::Socket 'no_plan';
use FsauthSelfProxy;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $p = 't010:';
flush_prefix($p);
flush_prefix('t010off:');
flush_prefix('t010act:');

add_key(prefix => $p, token => 'tok-granted-0001', id => 11, nick => 'alice',
        grants => { clientes => 'get,post', facturas => 'put,delete',
                    vacio => '', raro => ' get , fly,,delete ' });
add_key(prefix => $p, token => 'tok-disabled-001', id => 12, enabled => 0,
        grants => { clientes => 'get' });
add_key(prefix => $p, token => 'tok-full-0000001', id => 13,
        fullaccess => 1);
add_key(prefix => $p, token => 'tok-noid-0000001', id => 14);
redis('HDEL', "${p}key:" . digest('tok-noid-0000001'), 'id');
add_key(prefix => $p, token => 'tok-badid-000001', id => 'x1');
add_key(prefix => $p, token => 'tok-enabled-yes1', id => 16, enabled => 'yes');
add_key(prefix => $p, token => 'tok-long-desc-01', id => 17,
        grants => { clientes => 'get' });
redis('HSET', "${p}key:" . digest('tok-long-desc-01'), 'description',
      'a long description, ' x 3500);

# the kill switch, under its own prefix
add_key(prefix => 't010off:', token => 'tok-granted-0001', id => 11,
        grants => { clientes => 'get' });
redis('HSET', 't010off:api', 'enabled', '0');

# activity: its own prefix, so the counts below are exact
add_key(prefix => 't010act:', token => 'tok-act-00000001', id => 21,
        grants => { clientes => 'get' });
add_key(prefix => 't010act:', token => 'tok-act-00000002', id => 22,
        grants => { clientes => 'get' });

# AUTH and db selection
my $dir = tempdir(CLEANUP => 1);
$ENV{TEST_NGINX_BAD_PASSWORD_FILE} = write_file("$dir/bad", "wrong\n");
if ($ENV{TEST_NGINX_REDIS_AUTH_PORT}) {
    my $pw = $ENV{TEST_NGINX_REDIS_PASSWORD};
    redis_at($ENV{TEST_NGINX_REDIS_AUTH_PORT}, '-a', $pw, 'HSET',
             't010:key:' . digest('tok-auth-0000001'), 'id', 31,
             'enabled', 1, 'fullaccess', 1);
}
add_key(prefix => $p, token => 'tok-db3-00000001', id => 41, fullaccess => 1,
        db => 3);

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

our $HttpConfig = <<'_EOC_';
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t010:;
_EOC_

our $Config = <<'_EOC_';
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        add_header X-Fsauth $fsauth_status always;
        add_header X-Id "[$fsauth_key_id]" always;
        add_header X-Nick "[$fsauth_nick]" always;
        add_header X-Full $fsauth_full_access always;
        add_header X-Cache $fsauth_cache_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ {
        return 200 "ok $request_method\n";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $::HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $::Config) unless defined $block->config;
});

run_tests();

# activity: one write per key per interval (blocks 27 and 28)
my $act = redis('HGETALL', 't010act:activity:21');
like($act, qr/^lastactivity\n\d{10}\nlastip\n127\.0\.0\.1$/,
     'activity recorded with time and address');
is(redis('EXISTS', 't010act:activity:22'), '0',
   'fsauth_activity off writes nothing');
no warnings 'once';
is($FsauthTest::hset_delta, 1, 'three requests in one interval, one write');

__DATA__

=== TEST 1: a user key with a grant: GET
--- request
GET /api/3/clientes/7
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code: 200
--- response_headers
X-Fsauth: granted
X-Id: [11]
X-Nick: [alice]
X-Full: 0
X-Cache: MISS
--- response_body
ok GET
--- no_error_log
[error]



=== TEST 2: POST with "post"
--- request
POST /api/3/clientes
a=1
--- more_headers
Token: tok-granted-0001
--- error_code: 200



=== TEST 3: PUT without "put": 403 with the JSON body
--- request
PUT /api/3/clientes/7
a=1
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code: 403
--- response_headers
Content-Type: application/json
Cache-Control: no-store
!WWW-Authenticate
X-Fsauth: forbidden
X-Id: [11]
--- response_body chomp
{"status":"error","message":"Forbidden"}
--- error_log
fsauth: key 11 may not PUT "clientes"



=== TEST 4: DELETE without "delete"
--- request
DELETE /api/3/clientes/7
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code: 403



=== TEST 5: PATCH maps to "put"
--- request
PATCH /api/3/facturas/1
a=1
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code: 200
--- response_body
ok PATCH



=== TEST 6: PUT and DELETE with those words, GET without "get"
--- request eval
["PUT /api/3/facturas/1\na=1", "DELETE /api/3/facturas/1", "GET /api/3/facturas"]
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code eval
[200, 200, 403]



=== TEST 7: HEAD is never a grant word
--- request
HEAD /api/3/clientes
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code: 403



=== TEST 8: a resource with no grant
--- request
GET /api/3/articulos
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code: 403



=== TEST 9: a grant with no words
--- request
GET /api/3/vacio
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code: 403



=== TEST 10: spaces, empty items and unknown words in a grant
--- request eval
["GET /api/3/raro", "DELETE /api/3/raro/1", "POST /api/3/raro\na=1"]
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code eval
[200, 200, 403]



=== TEST 11: the resource is case-sensitive
--- request
GET /api/3/Clientes
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code: 403



=== TEST 12: the listing still needs an enabled key
--- request eval
["GET /api/3", "GET /api/3/", "DELETE /api/3/"]
--- more_headers
X-Auth-Token: tok-disabled-001
--- error_code eval
[401, 401, 401]



=== TEST 13: the listing for an enabled key without grants
--- request eval
["GET /api/3", "POST /api/3/\na=1"]
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code eval
[200, 200]



=== TEST 14: an unknown token is 401
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-unknown-0001
--- error_code: 401
--- response_headers
WWW-Authenticate: Token realm="FacturaScripts API"
X-Fsauth: unauthorized
X-Cache: MISS
--- response_body chomp
{"status":"error","message":"Invalid auth token"}
--- error_log eval
qr/fsauth: unknown key [0-9a-f]{8}\.\.\./



=== TEST 15: a disabled key is 401
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-disabled-001
--- error_code: 401
--- error_log
fsauth: disabled key



=== TEST 16: enabled must be exactly "1"
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-enabled-yes1
--- error_code: 401



=== TEST 17: full access: every resource and method (OPTIONS is a preflight)
--- request eval
["DELETE /api/3/anything/1", "HEAD /api/3/x", "PATCH /api/3/y\na=1", "OPTIONS /api/3/z"]
--- more_headers
X-Auth-Token: tok-full-0000001
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
["X-Full: 1\nX-Id: [13]", "X-Full: 1", "X-Full: 1", "X-Full: 0"]



=== TEST 18: a record without an id is treated as unknown, and logged
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-noid-0000001
--- error_code: 401
--- error_log
fsauth: key record has no id, treated as unknown



=== TEST 19: a record with a bad id is treated as unknown, and logged
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-badid-000001
--- error_code: 401
--- error_log
fsauth: key record has invalid id, treated as unknown



=== TEST 20: the global key works with Redis configured, no lookup
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- error_code: 200
--- response_headers
X-Fsauth: global
X-Cache: BYPASS



=== TEST 21: the kill switch <prefix>api enabled=0: 403 API disabled
--- http_config
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t010off:;
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: tok-granted-0001", "X-Auth-Token: GLOBAL-KEY-1"]
--- error_code eval
[403, 403]
--- response_body eval
['{"status":"error","message":"API disabled. You can activate it from application preferences."}',
 '{"status":"error","message":"API disabled. You can activate it from application preferences."}']
--- response_headers eval
["X-Fsauth: disabled", "X-Fsauth: disabled"]



=== TEST 22: AUTH with password_file
--- http_config
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_AUTH_PORT prefix=t010: password_file=$TEST_NGINX_REDIS_PASSWORD_FILE;
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-auth-0000001
--- error_code: 200
--- response_headers
X-Id: [31]



=== TEST 23: a wrong password is an outage (503), never 401
--- http_config
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_AUTH_PORT prefix=t010: password_file=$TEST_NGINX_BAD_PASSWORD_FILE;
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-auth-0000001
--- error_code: 503
--- response_body chomp
{"status":"error","message":"Authentication service unavailable"}
--- error_log
fsauth: redis AUTH failed



=== TEST 24: db= selects the database
--- http_config
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t010: db=3;
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Auth-Token: tok-db3-00000001", "X-Auth-Token: tok-granted-0001"]
--- error_code eval
[200, 401]



=== TEST 25: a unix socket
--- http_config
    fsauth_redis unix:$TEST_NGINX_REDIS_SOCKET prefix=t010:;
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code: 200



=== TEST 26: a hostname is resolved at configuration time
--- http_config
    fsauth_redis localhost:$TEST_NGINX_REDIS_PORT prefix=t010:;
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-granted-0001
--- error_code: 200



=== TEST 27: activity is recorded once per interval
--- init
$FsauthTest::hset_before = FsauthTest::hset_calls();
--- http_config
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t010act:;
--- config
    location /api/ {
        fsauth on;
        fsauth_activity on interval=1h;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/facturas"]
--- more_headers
X-Auth-Token: tok-act-00000001
--- error_code eval
[200, 200, 403]



=== TEST 28: fsauth_activity off
--- init
$FsauthTest::hset_delta = FsauthTest::hset_calls() - $FsauthTest::hset_before;
--- http_config
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t010act:;
--- config
    location /api/ {
        fsauth on;
        fsauth_activity off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-act-00000002
--- error_code: 200



=== TEST 29: a very long field the module does not use is no outage
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-long-desc-01
--- error_code: 200
