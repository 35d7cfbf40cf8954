# Self-test of the test scaffold (Test::Nginx::Socket, the CPAN module or
# the project's compatible runner in t/lib/compat) on core nginx features
# only.  t/001-harness-fails.t checks the other direction: that wrong
# expectations are reported as failures.

use Test::Nginx::Socket;

repeat_each(2);

# assertions per repetition of the blocks, plus the shutdown_error_log
# checks, which are done once per block when its server stops
my $per_repeat = 9 + 4 + 4 + 2 + 3 + 3 + 3 + 2 + 3 + 9 + 3 + 1 + 3 + 2
                 + 3 + 3 + 4 + 3;
my $once = 3;
plan tests => repeat_each() * $per_repeat + $once;

$ENV{TEST_NGINX_HARNESS_GREETING} ||= 'hi';

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: status, body, headers, absent headers, env expansion
--- config
    location = /t {
        add_header X-Multi a;
        add_header X-Multi b;
        add_header X-Greeting $TEST_NGINX_HARNESS_GREETING;
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- response_headers
Content-Type: text/plain
X-Multi: a, b
X-Greeting: hi
!X-Nope
X-Absent:
--- no_error_log
[error]
[alert]



=== TEST 2: raw request path and query string, response_headers_like
--- config
    location /api/ {
        return 200 "uri=$uri args=$args\n";
    }
--- request
GET /api/3/x%20y?y=1&z=%41
--- response_body
uri=/api/3/x y args=y=1&z=%41
--- response_headers_like
Content-Length: \d+
Server: nginx/.*



=== TEST 3: repeated and empty request headers
--- config
    location = /t {
        return 200 "[$http_cookie][$http_x_empty]";
    }
--- more_headers
Cookie: a=1
Cookie: b=2
X-Empty:
--- request
GET /t
--- response_body chomp
[a=1; b=2][]
--- error_log
http header: "X-Empty: "
http header: "Cookie: b=2"



=== TEST 4: POST body (trimmed, Content-Length added)
--- config
    location = /t {
        return 200 "len=$content_length method=$request_method\n";
    }
--- request
POST /t
hello world
--- response_body
len=11 method=POST



=== TEST 5: HEAD
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
HEAD /t
--- response_headers
Content-Length: 6
--- response_body eval
""



=== TEST 6: error_code and error_log with eval patterns
--- config
    location = /unused {
        return 204;
    }
--- request
GET /nonexistent.html
--- error_code: 404
--- error_log eval
[qr/open\(\) ".*nonexistent\.html" failed/, "No such file or directory"]



=== TEST 7: user_files served by the default root location
--- config
    location = /unused {
        return 204;
    }
--- user_files
>>> foo/bar.txt
static content
--- request
GET /foo/bar.txt
--- response_headers
Content-Type: text/plain
--- response_body
static content



=== TEST 8: must_die on a bad directive, its message is checked
--- config
    location = /t {
        bogus_directive_xyz on;
    }
--- must_die
--- error_log
unknown directive "bogus_directive_xyz"



=== TEST 9: raw_request sent as is
--- config
    location = /t {
        return 200 "raw $server_protocol\n";
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n
--- response_body
raw HTTP/1.0



=== TEST 10: several requests, expectations as arrays
--- config
    location /r/ {
        return 200 "$uri\n";
    }
    location = /missing {
        return 404;
    }
--- request eval
["GET /r/1", "GET /r/2", "GET /missing"]
--- error_code eval
[200, 200, 404]
--- response_body eval
["/r/1\n", "/r/2\n", qr/404 Not Found/]
--- no_error_log
[error]



=== TEST 11: grep_error_log
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- grep_error_log eval
qr/http request line: "GET \/t[^"]*"/
--- grep_error_log_out
http request line: "GET /t HTTP/1.1"



=== TEST 12: client timeout expected (abort, ignore_response)
--- config
    location = /t {
        return 200 "never\n";
    }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n"
--- timeout: 0.3
--- abort
--- ignore_response
--- no_error_log
[error]



=== TEST 13: init runs once nginx is up, per-block log_level
--- config
    location = /unused {
        return 204;
    }
--- init
open my $out, '>', html_dir() . '/init.txt' or die "init.txt: $!";
print $out "from init\n";
close $out;
--- log_level: warn
--- request
GET /init.txt
--- response_body
from init
--- no_error_log
http request line: "GET /init.txt



=== TEST 14: shutdown_error_log (checked when the next block starts)
--- config
    location = /t {
        return 200 "bye\n";
    }
--- request
GET /t
--- response_body
bye
--- shutdown_error_log eval
[qr/\[notice\] \d+#\d+: exit/, "close listening"]
--- no_shutdown_error_log
[alert]



=== TEST 15: http_config, main_config, $TEST_NGINX_RAND_PORT_1, $ServerPort
--- main_config
worker_shutdown_timeout 10s;
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "inner $server_port\n";
        }
    }
--- config
    location = /t {
        add_header X-Server-Port "$TEST_NGINX_SERVER_PORT";
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- request
GET /t
--- response_headers
X-Server-Port: $ServerPort
--- response_body_like chomp
^inner \d+$



=== TEST 16: a block never run
--- config
    location = /t {
        return 500;
    }
--- request
GET /t
--- response_body
this would fail
--- SKIP



=== TEST 17: skip_nginx skips its subtests
--- config
    location = /t {
        return 500;
    }
--- request
GET /t
--- response_body
this would fail
--- no_error_log
[error]
--- skip_nginx: 3: > 0.0.1



=== TEST 18: pipelined requests on one connection
--- config
    location /p/ {
        return 200 "$uri\n";
    }
--- pipelined_requests eval
["GET /p/1", "GET /p/2"]
--- response_body eval
["/p/1\n", "/p/2\n"]



=== TEST 19: chunked response
--- config
    location = /t {
        sub_filter_types text/plain;
        sub_filter 'hello' 'bye';
        return 200 "hello world\n";
    }
--- request
GET /t
--- response_headers
Transfer-Encoding: chunked
--- response_body
bye world
