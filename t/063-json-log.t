# conf-examples/json-access-log.conf at work: nginx started from the file
# (placeholders rewritten as conf-examples/README.md says), requests that
# are granted (user key, global key), refused with 401 and 403, and one
# with a quote in its URI; every access log line is one JSON object with
# the fsauth_* fields of its decision, and no token.
# Plain Test::More, like t/051: nginx runs from the example as written.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use FsauthTest;
use FsauthNginx;
use FsauthExamples;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $p = 't063:';
my $tok = 't063-reader-000000001';
flush_prefix($p);
add_key(prefix => $p, token => $tok, id => 63, nick => 'reader "63"',
        grants => { clientes => 'get' });

# the stand-in FacturaScripts behind the upstream
my $backend = FsauthNginx->start(
    server => "        location /api/ { return 200 \"backend\\n\"; }\n");

my $text = example_text('json-access-log.conf');
like($text, qr/log_format\s+fsauth_json\s+escape=json/,
     'the example defines a log_format with escape=json');
$text =~ s/server 127\.0\.0\.1:8080;/'server 127.0.0.1:' . $backend->port . ';'/e
    or die 'no "server 127.0.0.1:8080;" in the upstream';

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
my ($conf, $ports) = prepare_example($text, $dir, run => 1,
    redis => "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT} prefix=$p");
write_file("$dir/nginx.conf", $conf);
my $out = `$binary -c $dir/nginx.conf 2>&1`;
is($?, 0, 'nginx starts from the example') or diag($out);
my ($port) = values %$ports;
for (1 .. 200) {
    last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
    sleep 0.02;
}
sleep 0.3;

sub req {
    my ($path, $token) = @_;
    my $h = defined $token ? "X-Auth-Token: $token\r\n" : '';
    my ($st) = http_raw($port, "GET $path HTTP/1.0\r\nHost: x\r\n$h\r\n", 3);
    return $st;
}

my @sent = (
    [200, '/api/3/clientes?x=1', $tok],
    [200, '/api/3/clientes', $tok],
    [200, '/api/3/facturas', $EXAMPLE_GLOBAL_KEY],
    [401, '/api/3/clientes', undef],
    [401, '/api/3/clientes', 'no-such-token-000000'],
    [403, '/api/3/facturas', $tok],
    [403, '/api/3/clien%22tes%5C', $tok],
);
for my $r (@sent) {
    is(req($r->[1], $r->[2]), $r->[0], "$r->[1]: $r->[0]");
}

# the log line is written after the answer: wait for all of them
my $log = "$dir/root/var/log/nginx/api-access.json";
my @lines;
for (1 .. 100) {
    if (open my $fh, '<', $log) {
        @lines = <$fh>;
        last if @lines >= @sent;
    }
    sleep 0.05;
}
is(scalar @lines, scalar @sent, 'one log line per request');

my @e;
my $json = JSON::PP->new;
for my $i (0 .. $#lines) {
    my $e = eval { $json->decode($lines[$i]) };
    ok($e, "line " . ($i + 1) . ' is one JSON object') or diag($lines[$i]);
    push @e, $e // {};
}

my @expect = (
    { status => 200, fsauth_status => 'granted', key_id => '63',
      nick => 'reader "63"', resource => 'clientes', full_access => '0',
      cache_status => 'MISS', upstream_status => '200',
      uri => '/api/3/clientes', method => 'GET' },
    { status => 200, fsauth_status => 'granted', key_id => '63',
      cache_status => 'HIT', resource => 'clientes' },
    { status => 200, fsauth_status => 'global', key_id => '',
      nick => '', resource => 'facturas', full_access => '1',
      cache_status => 'BYPASS' },
    { status => 401, fsauth_status => 'unauthorized', key_id => '',
      upstream_status => '' },
    { status => 401, fsauth_status => 'unauthorized', key_id => '',
      cache_status => 'MISS' },
    { status => 403, fsauth_status => 'forbidden', key_id => '63',
      resource => 'facturas', cache_status => 'HIT' },
    { status => 403, fsauth_status => 'forbidden',
      uri => '/api/3/clien"tes\\' },
);

for my $i (0 .. $#expect) {
    my %got = map { $_ => $e[$i]{$_} } keys %{ $expect[$i] };
    is_deeply(\%got, $expect[$i], "line " . ($i + 1) . ": $sent[$i][0] "
              . "$expect[$i]{fsauth_status}, the fsauth fields");
}

for my $i (0 .. $#e) {
    like($e[$i]{time} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/,
         "line " . ($i + 1) . ': an ISO 8601 time');
    like($lines[$i], qr/"request_time":\d+\.\d{3},/,
         "line " . ($i + 1) . ': request_time is a number');
}

my $all = join '', @lines;
unlike($all, qr/\Q$tok\E|\Q$EXAMPLE_GLOBAL_KEY\E|no-such-token/,
       'no token in the log');
unlike($all, qr/x=1/, 'no query string in the log');

if (open my $fh, '<', "$dir/nginx.pid") {
    my $pid = <$fh>;
    chomp $pid;
    kill 'QUIT', $pid;
    for (1 .. 250) {
        last unless kill 0, $pid;
        sleep 0.02;
    }
}
$backend->stop;
flush_prefix($p);
done_testing();
