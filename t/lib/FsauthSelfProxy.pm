package FsauthSelfProxy;

# The stand-in backends of the Test::Nginx files are locations of the test
# server itself ("proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/...").
# Under TEST_NGINX_USE_HTTP2 and TEST_NGINX_USE_HTTP3, Test::Nginx runs
# such a block over HTTP/1 (with nginx before 1.25.1 an h2c listener served
# no HTTP/1). With nginx 1.25.1 on, "http2 on" and the QUIC listener keep
# HTTP/1.1 on the same TCP port, so in those modes this block preprocessor
# points the proxy_pass at an upstream of that port, and the block is sent
# over HTTP/2 or HTTP/3. HTTP/1 mode runs the blocks exactly as written.

use strict;
use warnings;

use Test::Nginx::Util ();

if ($ENV{TEST_NGINX_USE_HTTP2} || $ENV{TEST_NGINX_USE_HTTP3}) {
    Test::Nginx::Util::add_block_preprocessor(sub {
        my $block = shift;
        my $config = $block->config // return;
        my $n = $config =~ s{proxy_pass\s+http://127\.0\.0\.1:
                               \$TEST_NGINX_SERVER_PORT\b}
                            {proxy_pass http://fsauth_test_self}gx;
        return unless $n;
        $block->set_value('config', $config);
        $block->set_value('http_config', ($block->http_config // '')
            . "\n    upstream fsauth_test_self {"
            . " server 127.0.0.1:\$TEST_NGINX_SERVER_PORT; }\n");
    });
}

1;
