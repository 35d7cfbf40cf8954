# Key records as the module reads them: a grant is found whatever the
# length of its field name, and a record whose nick could not be passed
# on safely (control characters, broken UTF-8) is refused like an
# unknown key.

use lib 't/lib';
use FsauthTest;
use Test::More;
use Test::Nginx::Socket 'no_plan';
use FsauthSelfProxy;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $p = 't014:';
flush_prefix($p);

# one grant per field-name length: "res:a" (5) to "res:abcdefghijkl" (16),
# among them "res:abc" (7, like "enabled") and "res:abcdef" (10, like
# "fullaccess")
add_key(prefix => $p, token => 'tok-lengths-0001', id => 51,
        grants => { map { substr('abcdefghijkl', 0, $_) => 'get' } 1 .. 12 });

add_key(prefix => $p, token => 'tok-nick-crlf-01', id => 52,
        nick => "eve\r\nX-Injected: 1", fullaccess => 1);
add_key(prefix => $p, token => 'tok-nick-c1-0001', id => 53,
        nick => "eve\xc2\x85", fullaccess => 1);
add_key(prefix => $p, token => 'tok-nick-utf8-01', id => 54,
        nick => "eve\xff", fullaccess => 1);
add_key(prefix => $p, token => 'tok-nick-tab-001', id => 55,
        nick => "eve\tx", fullaccess => 1);
add_key(prefix => $p, token => 'tok-nick-long-01', id => 56,
        nick => "x" . "\xc3\xa9" x 40, fullaccess => 1);
add_key(prefix => $p, token => 'tok-nick-ok-0001', id => 57,
        nick => "Jos\xc3\xa9 \xe2\x82\xac", fullaccess => 1);

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_')
    fsauth_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=t014:;
_EOC_
        unless defined $block->http_config;
    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location /api/ {
        fsauth on;
        add_header X-Fsauth $fsauth_status always;
        add_header X-Nick "[$fsauth_nick]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend/;
    }
    location /backend/ {
        return 200 "ok $request_method\n";
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: a grant on a resource of 1 byte ("res:a")
--- request
GET /api/3/a
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 2: a grant on a resource of 2 bytes ("res:ab")
--- request
GET /api/3/ab
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 3: a grant on a resource of 3 bytes ("res:abc")
--- request
GET /api/3/abc
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 4: a grant on a resource of 4 bytes ("res:abcd")
--- request
GET /api/3/abcd
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 5: a grant on a resource of 5 bytes ("res:abcde")
--- request
GET /api/3/abcde
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 6: a grant on a resource of 6 bytes ("res:abcdef")
--- request
GET /api/3/abcdef
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 7: a grant on a resource of 7 bytes ("res:abcdefg")
--- request
GET /api/3/abcdefg
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 8: a grant on a resource of 8 bytes ("res:abcdefgh")
--- request
GET /api/3/abcdefgh
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 9: a grant on a resource of 9 bytes ("res:abcdefghi")
--- request
GET /api/3/abcdefghi
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 10: a grant on a resource of 10 bytes ("res:abcdefghij")
--- request
GET /api/3/abcdefghij
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 11: a grant on a resource of 11 bytes ("res:abcdefghijk")
--- request
GET /api/3/abcdefghijk
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 12: a grant on a resource of 12 bytes ("res:abcdefghijkl")
--- request
GET /api/3/abcdefghijkl
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 200
--- response_body
ok GET

=== TEST 13: the 3-byte grant holds its words: POST is not among them
--- request
POST /api/3/abc
a=1
--- more_headers
X-Auth-Token: tok-lengths-0001
--- error_code: 403

=== TEST 14: a nick with CR LF: the record is refused
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-nick-crlf-01
--- error_code: 401
--- response_headers
X-Fsauth: unauthorized
X-Nick: []
--- error_log
fsauth: key record 52 has a nick that is not printable UTF-8

=== TEST 15: a nick with a C1 control (U+0085): the record is refused
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-nick-c1-0001
--- error_code: 401
--- response_headers
X-Fsauth: unauthorized
X-Nick: []
--- error_log
fsauth: key record 53 has a nick that is not printable UTF-8

=== TEST 16: a nick with a byte that is not UTF-8: the record is refused
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-nick-utf8-01
--- error_code: 401
--- response_headers
X-Fsauth: unauthorized
X-Nick: []
--- error_log
fsauth: key record 54 has a nick that is not printable UTF-8

=== TEST 17: a nick with a tab: the record is refused
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-nick-tab-001
--- error_code: 401
--- response_headers
X-Fsauth: unauthorized
X-Nick: []
--- error_log
fsauth: key record 55 has a nick that is not printable UTF-8

=== TEST 18: a long UTF-8 nick is cut on a character boundary
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-nick-long-01
--- error_code: 200
--- response_headers
X-Nick: [xééééééééééééééééééééééééééé]
--- no_error_log
[error]

=== TEST 19: a UTF-8 nick is passed on as it is
--- request
GET /api/3/clientes
--- more_headers
X-Auth-Token: tok-nick-ok-0001
--- error_code: 200
--- response_headers
X-Nick: [José €]
--- no_error_log
[error]
