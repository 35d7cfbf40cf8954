# The shared-memory cache and the IP ban, as seen by one client.

use lib 't/lib';
use FsauthTest;
use Test::More;
use Test::Nginx::Socket 'no_plan';
use FsauthSelfProxy;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $p = 't020:';
flush_prefix($p);
add_key(prefix => $p, token => 'tok-user-0000001', id => 51,
        grants => { clientes => 'get' });
add_key(prefix => $p, token => 'tok-user-0000002', id => 53,
        grants => { clientes => 'get' });

# a key with more grants than fit in a cache node
my %many = map { sprintf('resource-with-a-long-name-%03d', $_) => 'get' }
           1 .. 60;
add_key(prefix => $p, token => 'tok-many-0000001', id => 52,
        grants => \%many);

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

our $HttpConfig = <<'_EOC_';
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t020:;
    fsauth_cache zone=fsauth:1m;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
_EOC_

our $Config = <<'_EOC_';
    location /api/ {
        fsauth on;
        fsauth_global_key GLOBAL-KEY-1;
        add_header X-Fsauth $fsauth_status always;
        add_header X-Cache $fsauth_cache_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $::HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $::Config) unless defined $block->config;

    # a lookup sent before the worker's invalidation channel is up is not
    # cached (a change in between would be missed): let it come up first
    $block->set_value('init', 'select(undef, undef, undef, 0.3);')
        unless defined $block->init;
});

run_tests();

__DATA__

=== TEST 1: a miss, then hits
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes/2"]
--- more_headers
X-Auth-Token: tok-user-0000001
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "X-Cache: HIT"]



=== TEST 2: a cached record decides other resources and methods too
--- request eval
["GET /api/3/clientes", "DELETE /api/3/clientes/1", "GET /api/3/facturas", "GET /api/3"]
--- more_headers
X-Auth-Token: tok-user-0000002
--- error_code eval
[200, 403, 403, 200]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "X-Cache: HIT", "X-Cache: HIT"]



=== TEST 3: unknown tokens are cached as negative entries
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers
X-Auth-Token: tok-unknown-0001
--- error_code eval
[401, 401]
--- response_headers eval
["X-Cache: MISS", "X-Cache: NEGATIVE"]



=== TEST 4: the global key bypasses the cache
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: GLOBAL-KEY-1
--- response_headers
X-Cache: BYPASS



=== TEST 5: grants that did not fit in the node are read from Redis once
--- request eval
["GET /api/3/resource-with-a-long-name-001", "GET /api/3/resource-with-a-long-name-002", "GET /api/3/resource-with-a-long-name-060", "GET /api/3/resource-with-a-long-name-060", "DELETE /api/3/resource-with-a-long-name-060", "GET /api/3/nothing", "GET /api/3/nothing", "GET /api/3/resource-with-a-long-name-060"]
--- more_headers
X-Real-IP: 10.0.0.50
X-Auth-Token: tok-many-0000001
--- error_code eval
[200, 200, 200, 200, 403, 403, 403, 200]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "X-Cache: MISS", "X-Cache: HIT", "X-Cache: HIT", "X-Cache: MISS", "X-Cache: HIT", "X-Cache: HIT"]



=== TEST 6: the ban: THRESHOLD 401s, then 429 even with the global key
--- http_config eval: $::HttpConfig
--- config eval: "fsauth_ban 3 60s;\n" . $::Config
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes", "OPTIONS /api/3/clientes"]
--- more_headers eval
["X-Real-IP: 10.0.0.1\nX-Auth-Token: bad-token-00001", "X-Real-IP: 10.0.0.1\nX-Auth-Token: bad-token-00001", "X-Real-IP: 10.0.0.1", "X-Real-IP: 10.0.0.1\nX-Auth-Token: GLOBAL-KEY-1", "X-Real-IP: 10.0.0.1"]
--- error_code eval
[401, 401, 401, 429, 200]
--- response_body eval
['{"status":"error","message":"Invalid auth token"}',
 '{"status":"error","message":"Invalid auth token"}',
 '{"status":"error","message":"Invalid auth token"}',
 '{"status":"error","message":"For security reasons, access from your IP has been blocked for 10 minutes."}',
 "ok\n"]



=== TEST 7: 403s count, the ban is per address
--- config eval: "fsauth_ban 2 60s;\n" . $::Config
--- request eval
["GET /api/3/facturas", "GET /api/3/facturas", "GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Real-IP: 10.0.0.2\nX-Auth-Token: tok-user-0000001", "X-Real-IP: 10.0.0.2\nX-Auth-Token: tok-user-0000001", "X-Real-IP: 10.0.0.2\nX-Auth-Token: tok-user-0000001", "X-Real-IP: 10.0.0.3\nX-Auth-Token: tok-user-0000001"]
--- error_code eval
[403, 403, 429, 200]
--- response_headers eval
["X-Fsauth: forbidden", "X-Fsauth: forbidden", "X-Fsauth: banned\nContent-Type: application/json\nCache-Control: no-store", "X-Fsauth: granted"]



=== TEST 8: granted requests and 503s are not incidents
--- config eval: "fsauth_ban 2 60s;\n" . $::Config
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers
X-Real-IP: 10.0.0.4
X-Auth-Token: tok-user-0000001
--- error_code eval
[200, 200, 200]



=== TEST 9: fsauth_ban off
--- config eval: "fsauth_ban off;\n" . $::Config
--- request eval
["GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes", "GET /api/3/clientes"]
--- more_headers eval
["X-Real-IP: 10.0.0.5", "X-Real-IP: 10.0.0.5", "X-Real-IP: 10.0.0.5", "X-Real-IP: 10.0.0.5", "X-Real-IP: 10.0.0.5", "X-Real-IP: 10.0.0.5\nX-Auth-Token: GLOBAL-KEY-1"]
--- error_code eval
[401, 401, 401, 401, 401, 200]



=== TEST 10: the default is 5 incidents
--- request eval
["GET /api/3/x", "GET /api/3/x", "GET /api/3/x", "GET /api/3/x", "GET /api/3/x", "GET /api/3/x"]
--- more_headers
X-Real-IP: 10.0.0.6
--- error_code eval
[401, 401, 401, 401, 401, 429]



=== TEST 11: no ban without fsauth_cache
--- http_config
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t020:;
--- request eval
["GET /api/3/x", "GET /api/3/x", "GET /api/3/x", "GET /api/3/x", "GET /api/3/x", "GET /api/3/x"]
--- error_code eval
[401, 401, 401, 401, 401, 401]
