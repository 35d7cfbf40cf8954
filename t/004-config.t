# Configuration: the key file, and every configuration error fails
# "nginx -t" with a message naming the directive.

use lib 't/lib';
use FsauthTest;
use File::Temp qw(tempdir);
use Test::Nginx::Socket 'no_plan';

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



=== TEST 3: unreadable key file
--- config
    location /api/ {
        fsauth_global_key_file $TEST_NGINX_MISSING_FILE;
    }
--- must_die
--- error_log eval
qr/\[emerg\].* fsauth_global_key_file: open\(\) ".*missing" failed/



=== TEST 4: empty key file
--- config
    location /api/ {
        fsauth_global_key_file $TEST_NGINX_EMPTY_FILE;
    }
--- must_die
--- error_log eval
qr/\[emerg\].* fsauth_global_key_file: empty key in ".*empty"/



=== TEST 5: a key file whose key has a space
--- config
    location /api/ {
        fsauth_global_key_file $TEST_NGINX_BAD_KEY_FILE;
    }
--- must_die
--- error_log eval
qr/\[emerg\].* fsauth_global_key_file: invalid key in ".*bad"/



=== TEST 6: the global key "0" can never match and is refused
--- config
    location /api/ {
        fsauth_global_key 0;
    }
--- must_die
--- error_log eval
qr/\[emerg\].* fsauth_global_key: invalid key, it must be/



=== TEST 7: duplicate fsauth_global_key
--- config
    location /api/ {
        fsauth_global_key A1;
        fsauth_global_key_file $TEST_NGINX_KEY_FILE;
    }
--- must_die
--- error_log eval
qr/\[emerg\].* "fsauth_global_key_file" directive is duplicate/



=== TEST 8: unknown fsauth_preflight value
--- config
    location /api/ {
        fsauth_preflight maybe;
    }
--- must_die
--- error_log eval
qr/\[emerg\].* invalid value "maybe" in "fsauth_preflight" directive, it must be "pass" or "auth"/



=== TEST 9: unknown fsauth_failure_mode value
--- config
    location /api/ {
        fsauth_failure_mode sometimes;
    }
--- must_die
--- error_log eval
qr/\[emerg\].* invalid value "sometimes" in "fsauth_failure_mode" directive, it must be "stale", "closed" or "open"/



=== TEST 10: fsauth takes on|off
--- config
    location /api/ {
        fsauth yes;
    }
--- must_die
--- error_log eval
qr/\[emerg\].* invalid value "yes" in "fsauth" directive/



=== TEST 11: duplicate fsauth_token_header
--- config
    location /api/ {
        fsauth_token_header A;
        fsauth_token_header B;
    }
--- must_die
--- error_log eval
qr/\[emerg\].* "fsauth_token_header" directive is duplicate/



=== TEST 12: fsauth_redis is http-level only
--- config
    location /api/ {
        fsauth_redis 127.0.0.1:6379;
    }
--- must_die
--- error_log eval
qr/\[emerg\].* "fsauth_redis" directive is not allowed here/



=== TEST 13: fsauth_redis with an unknown parameter
--- http_config
    fsauth_redis 127.0.0.1:6379 colour=blue;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].* invalid parameter "colour=blue" of fsauth_redis/



=== TEST 14: fsauth_redis with a bad timeout
--- http_config
    fsauth_redis 127.0.0.1:6379 timeout=soon;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].* invalid parameter "timeout=soon" of fsauth_redis/



=== TEST 15: fsauth_redis twice
--- http_config
    fsauth_redis 127.0.0.1:6379;
    fsauth_redis 127.0.0.1:6380;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].* "fsauth_redis" directive is duplicate/



=== TEST 16: fsauth_redis with an unreadable password file
--- http_config
    fsauth_redis 127.0.0.1:6379 password_file=$TEST_NGINX_MISSING_FILE;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].* fsauth_redis: open\(\) ".*missing" failed/



=== TEST 17: fsauth_activity with a bad interval
--- config
    location /api/ {
        fsauth_activity on interval=never;
    }
--- must_die
--- error_log eval
qr/\[emerg\].* invalid interval "interval=never" in fsauth_activity/



=== TEST 18: a bad header name in fsauth_token_header
--- config
    location /api/ {
        fsauth_token_header "X Bad";
    }
--- must_die
--- error_log eval
qr/\[emerg\].* fsauth_token_header: invalid header name "X Bad"/
