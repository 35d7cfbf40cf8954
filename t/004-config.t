# Configuration: the key file, and every configuration error fails
# "nginx -t" with a message naming the directive.

use lib 't/lib';
use FsauthTest;
use File::Temp qw(tempdir);
use Test::Nginx::Socket 'no_plan';
use FsauthSelfProxy;

my $dir = tempdir(CLEANUP => 1);
$ENV{TEST_NGINX_KEY_FILE} = write_file("$dir/key", "  FILE-KEY-9 \nsecond line\n");
$ENV{TEST_NGINX_EMPTY_FILE} = write_file("$dir/empty", "\n");
$ENV{TEST_NGINX_BAD_KEY_FILE} = write_file("$dir/bad", "a b\n");
$ENV{TEST_NGINX_MISSING_FILE} = "$dir/missing";

repeat_each(1);
no_shuffle();
log_level('info');

run_tests();

__DATA__

=== TEST 1: fsauth_global_key_file: first line, trimmed
--- config
    location /api/ {
        fsauth on;
        fsauth_global_key_file $TEST_NGINX_KEY_FILE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request eval
["GET /api/3/x", "GET /api/3/x"]
--- more_headers eval
["X-Auth-Token: FILE-KEY-9", "X-Auth-Token: second"]
--- error_code eval
[200, 401]



=== TEST 2: the key is inherited from the http level
--- http_config
    fsauth_global_key HTTP-LEVEL-KEY;
--- config
    location /api/ {
        fsauth on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ { return 200 "ok\n"; }
--- request
GET /api/3/x
--- more_headers
X-Auth-Token: HTTP-LEVEL-KEY
--- error_code: 200
