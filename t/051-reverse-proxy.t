# The configuration examples at work, end to end, with real nginx started
# from the files in conf-examples/ (placeholders rewritten as documented
# in conf-examples/README.md), a seeded Redis, and stand-in backends that
# echo every request header they receive:
#
#   1. reverse-proxy.conf: granted / 401 / 403; the backend sees one client
#      address in X-Forwarded-For whatever the client sends, from a
#      trusted load balancer or not; CF-Connecting-IP never arrives (any
#      spelling); X-Fsauth-Key-Id cannot be forged; the token is passed on;
#      the ban and lastip use the address realip settled on.
#   2. rate-limit-per-key.conf: two keys, one limited after its burst, the
#      other still served; and the nginx fact it rests on: limit_req keyed
#      on $fsauth_key_id in the fsauth location itself limits nothing.
#   3. cors.conf: exactly one Access-Control-Allow-Origin on preflights,
#      granted answers and fsauth's own errors, none for other origins.
#   4. metrics-internal.conf: the metrics listener answers allowed
#      addresses only.
#   5. facturascripts-php-fpm.conf with a stand-in FastCGI server: fsauth on
#      the API routes only, static files without a token, FastCGI
#      parameters replace the client's forwarding headers.
#
# Client addresses: the loopback network is all local on Linux, so a
# client can connect from 127.0.0.2 (the "load balancer" the examples
# trust after rewriting) or from 127.0.0.3 (anyone else).
# Plain Test::More, not Test::Nginx: nginx starts from the conf-examples files as written, not from a Test::Nginx config.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use FsauthTest qw(write_file free_port add_key flush_prefix redis digest);
use FsauthExamples;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
my $redis_port = $ENV{TEST_NGINX_REDIS_PORT};

plan skip_all => 'TEST_NGINX_LOAD_MODULES is not set (run util/test.sh)'
    unless @modules;

my $prefix = 't051:';
my $global = $EXAMPLE_GLOBAL_KEY;
my $tok_a = 't051-reader-000000001';     # id 51: clientes get
my $tok_b = 't051-writer-000000002';     # id 52: clientes get,post
my $tok_c = 't051-other--000000003';     # id 53: clientes get

flush_prefix($prefix);
add_key(prefix => $prefix, token => $tok_a, id => 51, nick => 'reader',
        grants => { clientes => 'get' });
add_key(prefix => $prefix, token => $tok_b, id => 52, nick => 'writer',
        grants => { clientes => 'get,post' });
add_key(prefix => $prefix, token => $tok_c, id => 53, nick => 'other',
        grants => { clientes => 'get' });

my $tmp = tempdir(CLEANUP => 1);
chmod 0755, $tmp;

my $can_alias = do {
    my $l = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1');
    my $c = $l && IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $l->sockport,
                                        LocalAddr => '127.0.0.3');
    $c ? 1 : 0;
};

# --- configuration rewriting: t/lib/FsauthExamples.pm ------------------

sub example { example_text(@_) }

sub prepare {
    my ($text, $dir, $fixed) = @_;
    return prepare_example($text, $dir, run => 1, fixed => $fixed,
                           redis => "127.0.0.1:$redis_port prefix=$prefix "
                                    . 'timeout=500ms');
}

my @running;

sub start_nginx {
    my ($name, $text, $fixed) = @_;
    my $dir = "$tmp/$name";
    make_path($dir);
    my ($conf, $ports) = prepare($text, $dir, $fixed);
    write_file("$dir/nginx.conf", $conf);
    my $out = `$binary -c $dir/nginx.conf 2>&1`;
    if ($? != 0) {
        diag("nginx ($name) did not start:\n$out\n$conf");
        return;
    }
    push @running, $dir;
    for my $port (values %$ports) {
        for (1 .. 200) {
            last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
            sleep 0.02;
        }
    }
    sleep 0.3;    # the first Redis handshake of every worker
    return { dir => $dir, ports => $ports, conf => $conf };
}

# a daemonised master is reaped by init, which may take a while: a
# zombie counts as gone
sub alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$fh> // '';
    return $stat =~ /^\d+ \(.*\) Z/ ? 0 : 1;
}

sub stop_nginx {
    my ($n) = @_;
    open my $fh, '<', "$n->{dir}/nginx.pid" or return;
    chomp(my $pid = <$fh>);
    kill 'QUIT', $pid;
    for (1 .. 250) { last unless alive($pid); sleep 0.02 }
    kill 'KILL', $pid if alive($pid);
    @running = grep { $_ ne $n->{dir} } @running;
}

sub error_log {
    my ($n) = @_;
    open my $fh, '<', "$n->{dir}/error.log" or return '';
    local $/;
    return <$fh>;
}

END {
    local $?;
    for my $dir (@running) {
        if (open my $fh, '<', "$dir/nginx.pid") {
            chomp(my $pid = <$fh>);
            kill 'KILL', $pid if $pid;
        }
    }
}

# --- clients and stand-in backends --------------------------------------

# one HTTP/1.0 exchange from a chosen source address; headers as pairs
sub request {
    my (%o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$o{port}",
                                  LocalAddr => $o{from} // '127.0.0.1',
                                  Timeout => 5)
        or return (0, '', '');
    my $body = $o{body} // '';
    my $req = ($o{method} // 'GET') . " $o{path} HTTP/1.0\r\n"
              . 'Host: ' . ($o{host} // 'api.example.com') . "\r\n";
    my @h = @{ $o{headers} // [] };
    while (my ($k, $v) = splice @h, 0, 2) { $req .= "$k: $v\r\n" }
    $req .= 'Content-Length: ' . length($body) . "\r\n" if length $body;
    print $s "$req\r\n$body";
    my $resp = '';
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 5;
        while (sysread($s, my $buf, 65536)) { $resp .= $buf }
        alarm 0;
    };
    my ($head, $rbody) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/\d\.\d (\d+)};
    return ($status // 0, $head // '', $rbody // '');
}

# all values of a response header (case-insensitive name)
sub header_values {
    my ($head, $name) = @_;
    return map { /^[^:]+:\s*(.*?)\s*$/ ? $1 : () }
           grep { /^\Q$name\E:/i } split /\r\n/, $head;
}

my @children;

sub spawn {
    my ($code) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) { $code->(); POSIX::_exit(0) }
    push @children, $pid;
    return $pid;
}

END {
    local $?;
    kill 'KILL', @children if @children;
    waitpid($_, 0) for @children;
}

# An HTTP backend that answers every request with the request line and
# all its header lines, one "name: value" per line, after a blank line
# the body; and appends the request line to $log.  It also sends the
# CORS headers FacturaScripts adds to its answers.
sub start_echo_backend {
    my ($log) = @_;
    my $srv = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                    ReuseAddr => 1) or die "listen: $!";
    spawn(sub {
        while (my $c = $srv->accept) {
            my $head = '';
            while (defined(my $line = <$c>)) {
                last if $line eq "\r\n" || $line eq "\n";
                $head .= $line;
            }
            my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            my $body = '';
            read($c, $body, $len) if $len;
            $head =~ s/\r//g;
            if (open my $fh, '>>', $log) {
                print $fh (split /\n/, $head)[0], "\n";
                close $fh;
            }
            my $out = "$head\n$body";
            print $c "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                   . "Access-Control-Allow-Origin: *\r\n"
                   . "Access-Control-Allow-Methods: GET, POST, PUT, DELETE, PATCH, OPTIONS\r\n"
                   . 'Content-Length: ' . length($out) . "\r\n"
                   . "Connection: close\r\n\r\n$out";
            close $c;
        }
    });
    my $port = $srv->sockport;
    close $srv;
    return $port;
}

# header lines the backend saw: list of [lower-case name, value]
sub seen {
    my ($body) = @_;
    my ($head) = split /\n\n/, $body, 2;
    my @lines = split /\n/, $head // '';
    shift @lines;
    return map { /^([^:]+):\s?(.*)$/ ? [lc $1, $2] : () } @lines;
}

sub seen_values {
    my ($body, $name) = @_;
    return map { $_->[1] } grep { $_->[0] eq lc $name } seen($body);
}

sub lines_in {
    my ($file) = @_;
    open my $fh, '<', $file or return 0;
    my @l = <$fh>;
    return scalar @l;
}

# ========================================================================
# 1. reverse-proxy.conf
# ========================================================================

SKIP: {
    skip 'cannot connect from 127.0.0.2/127.0.0.3 on this host', 1
        unless $can_alias;

    my $log = "$tmp/backend-rp.log";
    my $backend = start_echo_backend($log);

    my $text = example('reverse-proxy.conf');
    ok($text =~ s/server 10\.0\.0\.20:443;/server 127.0.0.1:$backend;/,
       'reverse-proxy: upstream rewritten to the stand-in');
    # plain HTTP to the stand-in; the proxy_ssl_* lines stay as written
    ok($text =~ s{proxy_pass https://erp\.internal;}{proxy_pass http://erp.internal;}g,
       'reverse-proxy: TLS upstream replaced by plain HTTP for the test');
    ok($text =~ s/set_real_ip_from 10\.0\.0\.10;/set_real_ip_from 127.0.0.2;/,
       'reverse-proxy: the trusted balancer is 127.0.0.2');

    my $n = start_nginx('reverse-proxy', $text);
    ok($n, 'reverse-proxy: nginx started from the example') or last;
    my $port = $n->{ports}{'443'};

    my $lb = '127.0.0.2';

    # granted, through the trusted balancer
    my ($st, $head, $body) = request(port => $port, from => $lb,
        path => '/api/3/clientes?limit=5',
        headers => ['X-Auth-Token' => $tok_a,
                    'X-Forwarded-For' => '198.51.100.7']);
    is($st, 200, 'granted through the balancer');
    like($body, qr{^GET /api/3/clientes\?limit=5 HTTP/1\.1$}m,
         'the backend got the request unchanged');
    is_deeply([seen_values($body, 'X-Forwarded-For')], ['198.51.100.7'],
              'one client address in X-Forwarded-For');
    is_deeply([seen_values($body, 'X-Real-IP')], ['198.51.100.7'],
              'X-Real-IP is the client too');
    is_deeply([seen_values($body, 'X-Auth-Token')], [$tok_a],
              'the token is passed on (the backend checks it again)');
    is_deeply([seen_values($body, 'X-Fsauth-Key-Id')], ['51'],
              'X-Fsauth-Key-Id names the key');
    is_deeply([seen_values($body, 'Host')], ['erp.internal'],
              'Host is the upstream name');
    is_deeply([seen_values($body, 'CF-Connecting-IP')], [],
              'no CF-Connecting-IP');

    # a client that forged X-Forwarded-For behind the balancer: the
    # balancer appended the address it saw, and only that one goes on
    ($st, undef, $body) = request(port => $port, from => $lb,
        path => '/api/3/clientes',
        headers => ['X-Auth-Token' => $tok_a,
                    'X-Forwarded-For' => '6.6.6.6, 198.51.100.7',
                    'CF-Connecting-IP' => '7.7.7.7']);
    is($st, 200, 'forged chain behind the balancer: granted');
    is_deeply([seen_values($body, 'X-Forwarded-For')], ['198.51.100.7'],
              'forged chain: the backend sees only the address the balancer saw');
    is_deeply([seen_values($body, 'CF-Connecting-IP')], [],
              'forged chain: CF-Connecting-IP removed');

    # a client that is not the balancer: its headers are not believed
    ($st, undef, $body) = request(port => $port, from => '127.0.0.3',
        path => '/api/3/clientes',
        headers => ['X-Auth-Token' => $tok_a,
                    'X-Forwarded-For' => '6.6.6.6',
                    'X-Forwarded-For' => '5.5.5.5',
                    'CF-Connecting-IP' => '7.7.7.7',
                    'cf-connecting-ip' => '8.8.8.8',
                    'CF_Connecting_IP' => '9.9.9.9',
                    'X-Fsauth-Key-Id' => '999']);
    is($st, 200, 'untrusted client with forged headers: granted');
    is_deeply([seen_values($body, 'X-Forwarded-For')], ['127.0.0.3'],
              'untrusted client: X-Forwarded-For is its own address, once');
    is_deeply([grep { $_->[0] =~ /^cf[-_]connecting[-_]ip$/ } seen($body)], [],
              'untrusted client: no CF-Connecting-IP in any spelling');
    is_deeply([seen_values($body, 'X-Fsauth-Key-Id')], ['51'],
              'untrusted client: a forged X-Fsauth-Key-Id is replaced');

    # the global key: no key id, and a forged one does not get through
    ($st, undef, $body) = request(port => $port, from => $lb,
        path => '/api/3/facturas',
        headers => ['X-Auth-Token' => $global,
                    'X-Forwarded-For' => '198.51.100.8',
                    'X-Fsauth-Key-Id' => '999']);
    is($st, 200, 'global key granted');
    is_deeply([seen_values($body, 'X-Fsauth-Key-Id')], [],
              'global key: no X-Fsauth-Key-Id upstream, forged one dropped');

    # refusals never reach the backend
    my $before = lines_in($log);
    ($st, $head, $body) = request(port => $port, from => $lb,
        path => '/api/3/clientes',
        headers => ['X-Forwarded-For' => '198.51.100.20']);
    is($st, 401, 'no token: 401');
    is($body, '{"status":"error","message":"Invalid auth token"}',
       '401: the JSON body');
    is_deeply([header_values($head, 'WWW-Authenticate')],
              ['Token realm="FacturaScripts API"'], '401: WWW-Authenticate');

    ($st, undef, $body) = request(port => $port, from => $lb,
        method => 'DELETE', path => '/api/3/clientes/7',
        headers => ['X-Auth-Token' => $tok_a,
                    'X-Forwarded-For' => '198.51.100.21']);
    is($st, 403, 'a method without grant: 403');
    is($body, '{"status":"error","message":"Forbidden"}', '403: the JSON body');

    ($st) = request(port => $port, from => $lb, path => '/api/3/facturas',
        headers => ['X-Auth-Token' => $tok_a,
                    'X-Forwarded-For' => '198.51.100.21']);
    is($st, 403, 'a resource without grant: 403');
    is(lines_in($log), $before, 'refused requests did not reach the backend');

    # the ban counts the client behind the balancer, not the balancer
    for my $i (1 .. 5) {
        request(port => $port, from => $lb, path => '/api/3/clientes',
                headers => ['X-Auth-Token' => "wrong-token-$i",
                            'X-Forwarded-For' => '203.0.113.9']);
    }
    ($st, undef, $body) = request(port => $port, from => $lb,
        path => '/api/3/clientes',
        headers => ['X-Auth-Token' => $tok_a,
                    'X-Forwarded-For' => '203.0.113.9']);
    is($st, 429, 'after 5 refusals the client behind the balancer is banned');
    like($body, qr/has been blocked for 10 minutes/, '429: the ban message');
    ($st) = request(port => $port, from => $lb, path => '/api/3/clientes',
        headers => ['X-Auth-Token' => $tok_a,
                    'X-Forwarded-For' => '198.51.100.7']);
    is($st, 200, 'another client behind the same balancer is not banned');

    # lastip is the client's address (activity is written asynchronously)
    my $lastip = '';
    for (1 .. 50) {
        $lastip = redis('HGET', "${prefix}activity:51", 'lastip');
        last if length $lastip;
        sleep 0.05;
    }
    like($lastip, qr/^(?:198\.51\.100\.7|127\.0\.0\.3)$/,
         'activity lastip is a client address, never the balancer');

    # the web interface: no token asked, same address handling
    ($st, undef, $body) = request(port => $port, from => '127.0.0.3',
        path => '/login',
        headers => ['X-Forwarded-For' => '6.6.6.6',
                    'CF-Connecting-IP' => '7.7.7.7',
                    'X-Fsauth-Key-Id' => '999']);
    is($st, 200, 'web interface: no token needed');
    is_deeply([seen_values($body, 'X-Forwarded-For')], ['127.0.0.3'],
              'web interface: one client address');
    is_deeply([seen_values($body, 'CF-Connecting-IP')], [],
              'web interface: no CF-Connecting-IP');
    is_deeply([seen_values($body, 'X-Fsauth-Key-Id')], [],
              'web interface: a forged X-Fsauth-Key-Id is removed');

    # the plain-HTTP server redirects
    ($st, $head) = request(port => $n->{ports}{'80'}, path => '/api/3/x?y=1');
    is($st, 301, 'port 80 redirects');
    is_deeply([header_values($head, 'Location')],
              ['https://api.example.com/api/3/x?y=1'], 'to https');

    # the access log format
    my $access = do {
        open my $fh, '<', "$n->{dir}/root/var/log/nginx/api-access.log";
        local $/;
        $fh ? <$fh> : '';
    };
    like($access, qr/^198\.51\.100\.7 .* 200 fsauth=granted key=51 resource=clientes /m,
         'access log: client address, decision and key');

    unlike(error_log($n), qr/\[(?:alert|crit|emerg)\]/, 'reverse-proxy: no alert');
    stop_nginx($n);
}

# ========================================================================
# 2. rate-limit-per-key.conf
# ========================================================================

{
    my $log = "$tmp/backend-rl.log";
    my $backend = start_echo_backend($log);

    my $text = example('rate-limit-per-key.conf');
    ok($text =~ s/server 127\.0\.0\.1:8080;/server 127.0.0.1:$backend;/,
       'rate-limit: upstream rewritten to the stand-in');
    # deterministic: 1 + burst 2 requests pass, then the limit
    ok($text =~ s/rate=10r\/s/rate=1r\/m/g == 2,
       'rate-limit: rates lowered for the test');
    ok($text =~ s/burst=20/burst=2/g == 2,
       'rate-limit: bursts lowered for the test');

    my $n = start_nginx('rate-limit', $text);
    ok($n, 'rate-limit: nginx started from the example');

    SKIP: {
        skip 'nginx did not start', 1 unless $n;
        my $port = $n->{ports}{'80'};

        # the two servers: fsauth_phase preaccess, and the redirect
        for my $host ('api.example.com', 'office-api.example.com') {
            my @st;
            for (1 .. 4) {
                my ($st, $head, $body) = request(port => $port, host => $host,
                    path => '/api/3/clientes',
                    headers => ['X-Auth-Token' => $tok_a]);
                push @st, $st;
                if ($_ == 4) {
                    is($body, '{"status":"error","message":"Too many requests"}',
                       "$host: limited: JSON body");
                    is_deeply([header_values($head, 'Content-Type')],
                              ['application/json'],
                              "$host: limited: JSON content type");
                    is_deeply([header_values($head, 'Retry-After')], ['1'],
                              "$host: limited: Retry-After");
                }
            }
            is("@st", '200 200 200 429',
               "$host: key 51: burst served, then 429");

            my ($st, undef, $body) = request(port => $port, host => $host,
                method => 'POST',
                path => '/api/3/clientes', body => 'nombre=x',
                headers => ['X-Auth-Token' => $tok_b,
                            'Content-Type'
                                => 'application/x-www-form-urlencoded']);
            is($st, 200, "$host: key 52 is still served (its own bucket)");
            like($body, qr{^POST /api/3/clientes HTTP/1\.1$}m,
                 "$host: a POST goes through as a POST");
            like($body, qr/\n\nnombre=x\z/, "$host: with its body");
            is_deeply([seen_values($body, 'X-Fsauth-Key-Id')], ['52'],
                      "$host: X-Fsauth-Key-Id reaches the backend");

            @st = map { (request(port => $port, host => $host,
                                 path => '/api/3/clientes',
                                 headers => ['X-Auth-Token' => $tok_c]))[0] }
                  1 .. 3;
            is("@st", '200 200 200', "$host: key 53 is served while 51 is limited");

            @st = map { (request(port => $port, host => $host,
                                 path => '/api/3/clientes',
                                 headers => ['X-Auth-Token' => $global]))[0] }
                  1 .. 4;
            is("@st", '200 200 200 429',
               "$host: the global key has a bucket of its own");

            # refusals are not counted: key 51 is limited, a bad token is 401
            ($st) = request(port => $port, host => $host,
                            path => '/api/3/clientes',
                            headers => ['X-Auth-Token' => 'not-a-key-at-all']);
            is($st, 401, "$host: a bad token is refused by fsauth, not by the limit");
            ($st) = request(port => $port, host => $host,
                            path => '/api/3/clientes');
            is($st, 401, "$host: no token from outside the office network: 401");
        }

        like(error_log($n), qr/limiting requests, excess: .* by zone "perkey"/,
             'limit_req logged the refusal (preaccess)');
        like(error_log($n),
             qr/limiting requests, excess: .* by zone "perkey_office"/,
             'limit_req logged the refusal (redirect)');
        unlike(error_log($n), qr/\[(?:alert|crit|emerg)\]/, 'rate-limit: no alert');
        stop_nginx($n);
    }

    # The nginx fact behind the example: limit_req runs in the preaccess
    # phase, before fsauth, so a limit keyed on $fsauth_key_id in the
    # fsauth location sees an empty key and counts nothing.  The second
    # design described in the example (a hop to an internal server keyed on
    # the header) works.
    my $naive = <<"_EOC_";
load_module modules/ngx_http_fsauth_module.so;
events { worker_connections 64; }
http {
    fsauth_redis 127.0.0.1:6379;
    fsauth_cache zone=fsauth:1m;
    limit_req_zone \$fsauth_key_id zone=naive:1m rate=1r/m;
    limit_req_zone \$http_x_fsauth_key_id zone=hop:1m rate=1r/m;
    server {
        listen 80;
        location /api/ {
            fsauth on;
            limit_req zone=naive;
            proxy_pass http://127.0.0.1:$backend;
        }
        location /hop/ {
            fsauth on;
            fsauth_resource clientes;
            proxy_set_header X-Fsauth-Key-Id \$fsauth_key_id;
            proxy_pass http://127.0.0.1:PORT_INTERNAL;
        }
    }
    server {
        listen 8081;
        location / {
            limit_req zone=hop;
            proxy_pass http://127.0.0.1:$backend;
        }
    }
}
_EOC_
    my $m = start_nginx_with_internal('rate-limit-naive', $naive);
    ok($m, 'naive and hop configurations started');
    SKIP: {
        skip 'nginx did not start', 1 unless $m;
        my $port = $m->{ports}{'80'};
        my @st = map { (request(port => $port, path => '/api/3/clientes',
                                headers => ['X-Auth-Token' => $tok_a]))[0] } 1 .. 4;
        is("@st", '200 200 200 200',
           'limit_req keyed on $fsauth_key_id in the fsauth location limits nothing');
        @st = map { (request(port => $port, path => '/hop/x',
                             headers => ['X-Auth-Token' => $tok_a]))[0] } 1 .. 2;
        is("@st", '200 503', 'a hop to an internal server keyed on the header limits');
        my ($st) = request(port => $port, path => '/hop/x',
                           headers => ['X-Auth-Token' => $tok_c]);
        is($st, 200, 'hop: another key has its own bucket');
        stop_nginx($m);
    }
}

# like start_nginx, with PORT_INTERNAL standing for the port that the
# "listen 8081" line gets
sub start_nginx_with_internal {
    my ($name, $text) = @_;
    my $internal = free_port();
    $text =~ s/PORT_INTERNAL/$internal/g;
    return start_nginx($name, $text, { 8081 => $internal });
}

# ========================================================================
# 3. cors.conf
# ========================================================================

{
    my $log = "$tmp/backend-cors.log";
    my $backend = start_echo_backend($log);

    my $text = example('cors.conf');
    ok($text =~ s/server 127\.0\.0\.1:8080;/server 127.0.0.1:$backend;/,
       'cors: upstream rewritten to the stand-in');
    my $n = start_nginx('cors', $text);
    ok($n, 'cors: nginx started from the example');

    SKIP: {
        skip 'nginx did not start', 1 unless $n;
        my $port = $n->{ports}{'80'};
        my $origin = 'https://shop.example.com';

        my ($st, $head, $body) = request(port => $port, method => 'OPTIONS',
            path => '/api/3/clientes',
            headers => ['Origin' => $origin,
                        'Access-Control-Request-Method' => 'GET',
                        'Access-Control-Request-Headers' => 'x-auth-token']);
        is($st, 200, 'preflight without a token: passed to the backend');
        like($body, qr{^OPTIONS /api/3/clientes }m, 'the backend answered it');
        is_deeply([header_values($head, 'Access-Control-Allow-Origin')], [$origin],
                  'preflight: one Access-Control-Allow-Origin, the origin');
        like(join(',', header_values($head, 'Access-Control-Allow-Headers')),
             qr/X-Auth-Token/, 'preflight: X-Auth-Token allowed');
        is_deeply([header_values($head, 'Access-Control-Allow-Methods')],
                  ['GET, POST, PUT, PATCH, DELETE, OPTIONS'],
                  'preflight: the gateway\'s method list only');

        ($st, $head, $body) = request(port => $port, path => '/api/3/clientes',
            headers => ['Origin' => $origin]);
        is($st, 401, 'no token: fsauth\'s 401');
        is_deeply([header_values($head, 'Access-Control-Allow-Origin')], [$origin],
                  '401: Access-Control-Allow-Origin added to fsauth\'s error');
        like(join(',', header_values($head, 'Access-Control-Expose-Headers')),
             qr/WWW-Authenticate/, '401: the challenge is readable by the script');
        is_deeply([header_values($head, 'Content-Type')], ['application/json'],
                  '401: still fsauth\'s JSON');

        ($st, $head) = request(port => $port, method => 'DELETE',
            path => '/api/3/clientes/1',
            headers => ['Origin' => $origin, 'X-Auth-Token' => $tok_a]);
        is($st, 403, 'no grant: fsauth\'s 403');
        is_deeply([header_values($head, 'Access-Control-Allow-Origin')], [$origin],
                  '403: Access-Control-Allow-Origin present');

        ($st, $head) = request(port => $port, path => '/api/3/clientes',
            headers => ['Origin' => $origin, 'X-Auth-Token' => $tok_a]);
        is($st, 200, 'granted');
        is_deeply([header_values($head, 'Access-Control-Allow-Origin')], [$origin],
                  'granted: exactly one Access-Control-Allow-Origin (the backend\'s "*" hidden)');

        ($st, $head) = request(port => $port, path => '/api/3/clientes',
            headers => ['Origin' => 'https://evil.example.net',
                        'X-Auth-Token' => $tok_a]);
        is($st, 200, 'other origin: the request itself is served');
        is_deeply([header_values($head, 'Access-Control-Allow-Origin')], [],
                  'other origin: no Access-Control-Allow-Origin at all');
        is_deeply([header_values($head, 'Vary')], ['Origin'], 'Vary: Origin');

        stop_nginx($n);
    }
}

# ========================================================================
# 4. metrics-internal.conf
# ========================================================================

SKIP: {
    my $text = example('metrics-internal.conf');
    my $pdir = "$tmp/metrics-probe";
    make_path($pdir);
    my ($probe) = prepare(<<'_EOC_', $pdir);
load_module modules/ngx_http_fsauth_module.so;
events { worker_connections 16; }
http {
    server { listen 80; location = /m { fsauth_metrics; } }
}
_EOC_
    write_file("$pdir/nginx.conf", $probe);
    my $out = `$binary -t -c $pdir/nginx.conf 2>&1`;
    skip 'this build of the module has no fsauth_metrics directive', 1
        if $out =~ /unknown directive "fsauth_metrics"/;
    skip 'cannot connect from 127.0.0.3 on this host', 1 unless $can_alias;

    my $n = start_nginx('metrics', $text);
    ok($n, 'metrics: nginx started from the example');
    skip 'nginx did not start', 1 unless $n;
    my $api = $n->{ports}{'80'};
    my $internal = $n->{ports}{'10.0.0.5:9145'};

    request(port => $api, path => '/api/3/clientes');
    my ($st, $head, $body) = request(port => $internal, path => '/metrics');
    is($st, 200, 'metrics: 127.0.0.1 is allowed');
    like($body, qr/^fsauth_decisions_total\{status="unauthorized"\} [1-9]/m,
         'metrics: the 401 above is counted');
    ($st) = request(port => $internal, from => '127.0.0.3', path => '/metrics');
    is($st, 403, 'metrics: another address is refused');
    ($st) = request(port => $api, path => '/metrics');
    isnt($st, 200, 'metrics: not served on the public listener');
    stop_nginx($n);
}

# ========================================================================
# 5. facturascripts-php-fpm.conf, with a stand-in FastCGI server
# ========================================================================

# Reads one FastCGI request per connection, answers with its parameters
# ("NAME=value" lines) and its stdin; appends REQUEST_URI to $log.
sub start_fastcgi {
    my ($path, $log) = @_;
    make_path(dirname($path));
    unlink $path;
    my $srv = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path,
                                    Listen => 64) or die "$path: $!";
    chmod 0777, $path;
    spawn(sub {
        my $readn = sub {
            my ($c, $n) = @_;
            my $buf = '';
            while (length $buf < $n) {
                my $r = sysread($c, $buf, $n - length $buf, length $buf);
                return undef unless $r;
            }
            return $buf;
        };
        while (my $c = $srv->accept) {
            my ($params, $stdin, $id) = ('', '', 1);
            while (defined(my $h = $readn->($c, 8))) {
                my (undef, $type, $rid, $clen, $plen) = unpack 'CCnnC', $h;
                my $data = $clen ? $readn->($c, $clen) : '';
                $readn->($c, $plen) if $plen;
                $id = $rid;
                $params .= $data if $type == 4;
                if ($type == 5) { last if $clen == 0; $stdin .= $data }
            }
            my @p;
            while (length $params) {
                my @len;
                for (1, 2) {
                    my $b = ord $params;
                    if ($b & 0x80) {
                        push @len, unpack('N', substr($params, 0, 4, '')) & 0x7fffffff;
                    } else {
                        push @len, $b;
                        substr($params, 0, 1, '');
                    }
                }
                my $name = substr($params, 0, $len[0], '');
                my $value = substr($params, 0, $len[1], '');
                push @p, "$name=$value";
            }
            my ($uri) = map { /^REQUEST_URI=(.*)/ ? $1 : () } @p;
            if (open my $fh, '>>', $log) { print $fh ($uri // ''), "\n"; close $fh }
            my $out = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                      . join("\n", sort @p) . "\n\n$stdin";
            my $rec = sub {
                my ($type, $data) = @_;
                return pack('CCnnCC', 1, $type, $id, length $data, 0, 0) . $data;
            };
            print $c $rec->(6, $out), $rec->(6, ''),
                     $rec->(3, pack('NCCCC', 0, 0, 0, 0, 0));
            close $c;
        }
    });
    close $srv;
}

sub params_of {
    my ($body) = @_;
    my %p;
    for (split /\n/, (split /\n\n/, $body, 2)[0] // '') {
        push @{ $p{$1} }, $2 if /^([A-Z0-9_]+)=(.*)$/;
    }
    return \%p;
}

{
    my $dir = "$tmp/php-fpm";
    my $root = "$dir/root";
    my $log = "$tmp/fastcgi.log";
    start_fastcgi("$root/run/php/php8.2-fpm.sock", $log);

    my $docroot = "$root/var/www/facturascripts";
    make_path("$docroot/Core/Assets/CSS", "$docroot/MyFiles/Tmp/FileCache");
    write_file("$docroot/Core/Assets/CSS/app.css", "body{}\n");
    write_file("$docroot/MyFiles/Tmp/FileCache/api-ip-list.cache", "secret\n");
    write_file("$docroot/config.php", "<?php // secret\n");
    write_file("$docroot/.env", "secret\n");
    write_file("$docroot/index.php", "<?php // front controller\n");

    my $n = start_nginx('php-fpm', example('facturascripts-php-fpm.conf'));
    ok($n, 'php-fpm: nginx started from the example');

    SKIP: {
        skip 'nginx did not start', 1 unless $n;
        my $port = $n->{ports}{'80'};

        # (4 refusals from 127.0.0.1 below: one more would ban it)
        my ($st, $head, $body) = request(port => $port,
            path => '/api/3/clientes');
        is($st, 401, 'php-fpm: the API needs a token');

        ($st, undef, $body) = request(port => $port, from => '127.0.0.1',
            path => '/api/3/clientes?limit=5',
            headers => ['X-Auth-Token' => $tok_a,
                        'X-Forwarded-For' => '6.6.6.6',
                        'CF-Connecting-IP' => '7.7.7.7',
                        'X-Fsauth-Key-Id' => '999']);
        is($st, 200, 'php-fpm: granted, answered by the FastCGI server');
        my $p = params_of($body);
        like($p->{SCRIPT_FILENAME}[0] // '', qr{/var/www/facturascripts/index\.php\z},
             'php-fpm: index.php runs');
        is_deeply($p->{REQUEST_URI}, ['/api/3/clientes?limit=5'],
                  'php-fpm: REQUEST_URI is the raw request URI');
        is_deeply($p->{HTTP_X_FORWARDED_FOR}, ['127.0.0.1'],
                  'php-fpm: X-Forwarded-For replaced by the client address');
        ok(!exists $p->{HTTP_CF_CONNECTING_IP},
           'php-fpm: the client\'s CF-Connecting-IP does not reach PHP');
        is_deeply($p->{HTTP_X_FSAUTH_KEY_ID}, ['51'],
                  'php-fpm: X-Fsauth-Key-Id set by the gateway, not the client');
        is_deeply($p->{HTTP_X_AUTH_TOKEN}, [$tok_a], 'php-fpm: the token reaches PHP');

        ($st) = request(port => $port, path => '/API/3/clientes');
        is($st, 401, 'php-fpm: /API/... is protected too');
        ($st) = request(port => $port, path => '/api/3/productoimagenes/1.png');
        is($st, 401, 'php-fpm: an API path ending in .png is still the API');
        ($st) = request(port => $port, path => '/api');
        is($st, 401, 'php-fpm: /api itself is protected');

        my $before = lines_in($log);
        ($st, undef, $body) = request(port => $port, path => '/Core/Assets/CSS/app.css');
        is($st, 200, 'php-fpm: a static file needs no token');
        is($body, "body{}\n", 'php-fpm: served by nginx');
        ($st) = request(port => $port, path => '/config.php');
        is($st, 404, 'php-fpm: another PHP file is not run');
        ($st) = request(port => $port, path => '/MyFiles/Tmp/FileCache/api-ip-list.cache');
        is($st, 403, 'php-fpm: the file cache is not served');
        ($st) = request(port => $port, path => '/.env');
        is($st, 403, 'php-fpm: hidden files are not served');
        is(lines_in($log), $before, 'php-fpm: none of these reached PHP');

        ($st, undef, $body) = request(port => $port, path => '/EditCliente?code=1',
            headers => ['X-Fsauth-Key-Id' => '999', 'CF-Connecting-IP' => '7.7.7.7']);
        is($st, 200, 'php-fpm: the web interface goes to index.php without a token');
        $p = params_of($body);
        is_deeply($p->{REQUEST_URI}, ['/EditCliente?code=1'], 'php-fpm: its REQUEST_URI');
        ok(!exists $p->{HTTP_X_FSAUTH_KEY_ID},
           'php-fpm: a client\'s X-Fsauth-Key-Id does not reach PHP');
        ok(!exists $p->{HTTP_CF_CONNECTING_IP},
           'php-fpm: nor its CF-Connecting-IP');

        unlike(error_log($n), qr/\[(?:alert|crit|emerg)\]/, 'php-fpm: no alert');
        stop_nginx($n);
    }
}

flush_prefix($prefix);

done_testing();
