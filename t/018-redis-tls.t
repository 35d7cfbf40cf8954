# TLS to Redis (fsauth_redis tls=on, fsauthctl --tls): lookups, tracking,
# the kill switch and activity over TLS, client certificates, and each
# refusal in one line that says which (another CA, a wrong name, an
# expired certificate), a server that never answers the handshake (the
# outage policy within connect_timeout, the worker still serving); a
# TLS sentinel (tls-port only) through which nginx (sentinel= tls=on)
# and fsauthctl (--sentinel --tls) find the TLS node and use it.
# Where hiredis has no hiredis_ssl (Debian 12), tls=on must fail nginx -t
# with a message naming tls= and the library, and the TLS runs are
# skipped with that reason.  Plain Test::More: private TLS redis-servers
# (valkey-server under FSAUTH_TEST_SERVER=valkey) with certificates made
# here.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(sleep time);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use FsauthTest;
use FsauthNginx;

plan skip_all => 'FSAUTHCTL is not set (run util/test.sh)'
    unless $ENV{FSAUTHCTL};

my $tmp = tempdir(CLEANUP => 1);
my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $have_ssl = -e '/usr/include/hiredis/hiredis_ssl.h';

sub nginx_t {
    my ($http) = @_;
    mkdir "$tmp/t";
    mkdir "$tmp/t/logs";
    my $load = join '', map { "load_module $_;\n" }
                        split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    my $conf = write_file("$tmp/t/nginx.conf", <<"_EOC_");
$load
error_log $tmp/t/logs/error.log;
pid $tmp/t/logs/nginx.pid;
events { worker_connections 16; }
http {
    $http
    server { listen 127.0.0.1:1; }
}
_EOC_
    my $out = `$binary -t -p $tmp/t/ -c $conf 2>&1`;
    return ($? >> 8, $out);
}

unless ($have_ssl) {
    my ($rc, $out) = nginx_t('fsauth_redis 127.0.0.1:6379 tls=on;');
    isnt($rc, 0, 'without hiredis_ssl: tls=on fails nginx -t');
    like($out, qr/\[emerg\].*fsauth_redis: "tls=on" needs hiredis with TLS \(the hiredis_ssl library/,
         'the message names tls= and the missing library') or diag($out);
    ($rc, $out) = nginx_t('fsauth_redis 127.0.0.1:6379 tls=off user=u '
                          . 'password_file=/etc/hostname;');
    is($rc, 0, 'without hiredis_ssl: a configuration without tls=on passes')
        or diag($out);
    $out = `$ENV{FSAUTHCTL} --tls api status 2>&1`;
    is($? >> 8, 1, 'without hiredis_ssl: fsauthctl --tls is a usage error');
    like($out, qr/--tls: this fsauthctl is built without TLS: hiredis_ssl/,
         'fsauthctl names the missing library');
    diag('TLS connections not tested here: this hiredis has no hiredis_ssl '
         . '(Debian 12); they run on Debian 13 and sid');
  SKIP: {
        skip 'hiredis without hiredis_ssl: no TLS connections to test', 1;
    }
    done_testing();
    exit 0;
}

# --- certificates

sub openssl {
    my @cmd = ('openssl', @_);
    system(join(' ', @cmd) . " >$tmp/openssl.log 2>&1") == 0
        or die "@cmd failed:\n" . `cat $tmp/openssl.log`;
}

my $ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

sub ca {
    my ($name) = @_;
    openssl("req -x509 $ec -keyout $tmp/$name.key -out $tmp/$name.crt "
            . "-days 2 -subj /CN=fsauth-test-$name");
}

sub cert {
    my ($name, $ca, $san, @dates) = @_;
    openssl("req $ec -keyout $tmp/$name.key -out $tmp/$name.csr "
            . "-subj /CN=$name");
    write_file("$tmp/$name.ext", $san ? "subjectAltName=$san\n"
                                      : "extendedKeyUsage=clientAuth\n");
    openssl("x509 -req -in $tmp/$name.csr -CA $tmp/$ca.crt -CAkey "
            . "$tmp/$ca.key -CAcreateserial -out $tmp/$name.crt "
            . "-extfile $tmp/$name.ext "
            . (@dates ? "-not_before $dates[0] -not_after $dates[1]"
                      : '-days 2'));
}

ca('ca');
ca('other');
cert('server', 'ca', 'IP:127.0.0.1,DNS:localhost');
cert('stranger', 'other', 'IP:127.0.0.1,DNS:localhost');
cert('expired', 'ca', 'IP:127.0.0.1,DNS:localhost',
     '20200101000000Z', '20200102000000Z');
cert('client', 'ca', '');

# a TLS server with a plain port beside it, for seeding and checks
sub tls_redis {
    my ($cert, $auth) = @_;
    my $tls = free_port();
    my $plain = start_redis(args => [
        '--tls-port', $tls, '--tls-cert-file', "$tmp/$cert.crt",
        '--tls-key-file', "$tmp/$cert.key",
        '--tls-ca-cert-file', "$tmp/ca.crt",
        '--tls-auth-clients', $auth ]);
    for (1 .. 100) {
        last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$tls");
        sleep 0.02;
    }
    return ($plain, $tls);
}

my ($plain, $tls) = tls_redis('server', 'no');
my ($cplain, $ctls) = tls_redis('server', 'yes');
my ($splain, $stls) = tls_redis('stranger', 'no');
my ($eplain, $etls) = tls_redis('expired', 'no');

sub ctl {
    my ($port, @args) = @_;
    my $out = `$ENV{FSAUTHCTL} -h 127.0.0.1 -p $port --tls @args 2>&1`;
    return ($? >> 8, $out);
}

my $location = <<'_EOC_';
        location /api/ {
            fsauth on;
            fsauth_failure_mode closed;
            fsauth_activity on interval=1s;
            add_header X-Fsauth $fsauth_status always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub req { fsauth_get($_[0]->port, @_[1 .. $#_]) }

sub start {
    my ($params, %o) = @_;
    return FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$params;\n"
                . "    fsauth_cache zone=c:1m ttl=60s;",
        server => $location, settle => $o{settle} // 0.5);
}

# --- fsauthctl over TLS

my ($rc, $out) = ctl($tls, "--cacert $tmp/ca.crt", 'key', 'create',
                     '--description', 'tls');
is($rc, 0, 'fsauthctl --tls --cacert: key create') or diag($out);
my ($id) = $out =~ /^id: (\d+)/m;
my ($token) = $out =~ /^token: (\S+)/m;
($rc, $out) = ctl($tls, "--cacert $tmp/ca.crt --sni localhost", 'access',
                  'grant', $id, 'clientes', '--get');
is($rc, 0, 'fsauthctl --sni localhost: access grant') or diag($out);

($rc, $out) = ctl($tls, '', 'api', 'status');
is($rc, 2, 'fsauthctl, system CA store: refused (exit 2)');
like($out, qr/TLS handshake with redis at 127\.0\.0\.1:$tls failed: (unable to get local issuer certificate|self.signed)/,
     'fsauthctl: says the issuer is unknown') or diag($out);
($rc, $out) = ctl($tls, "--cacert $tmp/ca.crt --sni wrong.example", 'api',
                  'status');
is($rc, 2, 'fsauthctl --sni wrong.example: refused');
like($out, qr/failed: hostname mismatch/, 'fsauthctl: says hostname mismatch')
    or diag($out);
($rc, $out) = ctl($etls, "--cacert $tmp/ca.crt", 'api', 'status');
is($rc, 2, 'fsauthctl, expired certificate: refused');
like($out, qr/failed: certificate has expired/,
     'fsauthctl: says certificate has expired') or diag($out);
($rc, $out) = ctl($ctls, "--cacert $tmp/ca.crt --cert $tmp/client.crt "
                  . "--key $tmp/client.key", 'api', 'status');
is($rc, 0, 'fsauthctl --cert --key: client certificate accepted')
    or diag($out);
($rc, $out) = ctl($tls, "--cacert $tmp/ca.crt -s /tmp/x", 'api', 'status');
is($rc, 1, 'fsauthctl --tls with a socket: usage error');

# --- the module over TLS

{
    my $n = start("$tls tls=on tls_ca=$tmp/ca.crt");
    is(req($n, $token), 200, 'lookup over TLS');

    ($rc, $out) = ctl($tls, "--cacert $tmp/ca.crt", 'access', 'revoke',
                      $id, 'clientes');
    my $t0 = time;
    ok(poll_until(sub { req($n, $token) == 403 }),
       'revocation through tracking over TLS');
    cmp_ok(time - $t0, '<', 0.5, 'within 0.5 s (ttl is 60 s)');
    ctl($tls, "--cacert $tmp/ca.crt", 'access', 'grant', $id, 'clientes',
        '--get');
    ok(poll_until(sub { req($n, $token) == 200 }), 'granted again');

    ctl($tls, "--cacert $tmp/ca.crt", 'api', 'disable');
    ok(poll_until(sub { (req($n, $token))[1] eq 'disabled' }),
       'kill switch over TLS');
    ctl($tls, "--cacert $tmp/ca.crt", 'api', 'enable');
    ok(poll_until(sub { req($n, $token) == 200 }), 'kill switch off');

    ok(poll_until(sub {
           redis_at($plain, 'HGET', "fsauth:activity:$id", 'lastip')
               eq '127.0.0.1' }),
       'activity written over TLS');
    # a reply of many TLS records (16 KiB each), read to its end
    add_key(port => $plain, token => 'tok-tls-big-00001', id => 500,
            fullaccess => 1);
    redis_at($plain, 'EVAL', "redis.call('HSET', KEYS[1], 'description', "
             . "string.rep('d', 200000))", 1,
             'fsauth:key:' . digest('tok-tls-big-00001'));
    is(req($n, 'tok-tls-big-00001'), 200, 'a 200 KB record over TLS');
    is(req($n, $token), 200, 'and the connection goes on');

    unlike($n->error_log, qr/\[(error|warn)\]|refreshed by ttl only/,
           'no error, tracking kept') or diag($n->error_log);
    $n->stop;
}

{
    my $n = start("$tls tls=on tls_ca=$tmp/ca.crt tls_server_name=localhost");
    is(req($n, $token), 200, 'tls_server_name=localhost: verified by name');
    $n->stop;
}

{
    my $n = start("$ctls tls=on tls_ca=$tmp/ca.crt "
                  . "tls_cert=$tmp/client.crt tls_key=$tmp/client.key");
    redis_at($cplain, 'HSET', "fsauth:key:" . digest($token), 'id', $id,
             'enabled', 1, 'fullaccess', 1);
    is(req($n, $token), 200, 'client certificate: lookup');
    $n->stop;
}

{
    my $n = start("$splain tls=on tls_ca=$tmp/ca.crt");
    is(req($n, $token), 503, 'TLS to a plain port: outage (503)');
    $n->stop;
}

{
    my $n = start("$stls tls=on tls_verify=off");
    redis_at($splain, 'HSET', "fsauth:key:" . digest($token), 'id', $id,
             'enabled', 1, 'fullaccess', 1);
    is(req($n, $token), 200, 'tls_verify=off: an unknown CA is accepted');
    $n->stop;
}

# each refusal: the outage policy, one line that says which
for my $case (
    [ 'another CA', "$stls tls=on tls_ca=$tmp/ca.crt",
      qr/unable to get local issuer certificate/ ],
    [ 'a wrong name', "$tls tls=on tls_ca=$tmp/ca.crt "
      . "tls_server_name=wrong.example", qr/hostname mismatch/ ],
    [ 'a wrong IP address', "$tls tls=on tls_ca=$tmp/ca.crt "
      . "tls_server_name=127.0.0.2", qr/IP address mismatch/ ],
    [ 'an expired certificate', "$etls tls=on tls_ca=$tmp/ca.crt",
      qr/certificate has expired/ ],
    [ 'no client certificate', "$ctls tls=on tls_ca=$tmp/ca.crt",
      qr/certificate required|alert|closed by the server|reset/ ])
{
    my ($name, $params, $why) = @$case;
    my $n = start($params);
    my %seen;
    $seen{ req($n, $token) }++ for 1 .. 5;
    sleep 1;
    $seen{ req($n, $token) }++ for 1 .. 5;
    is_deeply(\%seen, { 503 => 10 }, "$name: 503 (closed), never 401");
    my $el = $n->error_log;
    my @lines = grep { !/client: / } $el =~ /^.*\[error\].*$/mg;
    is(scalar @lines, 1, "$name: one error line") or diag($el);
    like($lines[0] // '', qr/fsauth: TLS handshake with redis at "127\.0\.0\.1:\d+" failed: .*(?:$why)/,
         "$name: says which") or diag($el);
    $n->stop;
}

# a server that accepts TCP and never answers the handshake
{
    my $l = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                  ReuseAddr => 1) or die "listen: $!";
    my $sport = $l->sockport;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my @keep;
        while (my $c = $l->accept) { push @keep, $c }
        exit 0;
    }
    close $l;

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$sport tls=on "
                . "tls_ca=$tmp/ca.crt connect_timeout=300ms timeout=3s;\n"
                . "    fsauth_cache zone=c:1m;",
        server => $location, settle => 0.1);
    my ($status, $fs, $secs) = req($n, $token);
    is($status, 503, 'stalled handshake: 503 (closed)');
    cmp_ok($secs, '<', 0.3 + 0.5, 'stalled handshake: within connect_timeout');
    my ($bs, undef, undef, $bsecs) =
        http_raw($n->port, "GET /backend/ HTTP/1.0\r\nHost: x\r\n\r\n", 3);
    is($bs, 200, 'stalled handshake: the worker serves other requests');
    cmp_ok($bsecs, '<', 0.2, 'at once');
    sleep 1;
    like($n->error_log, qr/redis at "127\.0\.0\.1:$sport": connect timed out/,
         'stalled handshake: "connect timed out"');
    $n->stop;
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

# a TLS sentinel (tls-port only) watching the TLS node: fsauth_redis
# sentinel= tls=on and fsauthctl --sentinel --tls find the node through
# it and use it; each is checked by its own address, or by
# tls_server_name= when given
sub tls_sentinel {
    my ($name, $cert, $node) = @_;
    my $port = free_port();
    my $dir = tempdir(CLEANUP => 1);
    my $conf = write_file("$dir/sentinel.conf", <<"_EOC_");
port 0
tls-port $port
bind 127.0.0.1
dir $dir
logfile $dir/log
tls-cert-file $tmp/$cert.crt
tls-key-file $tmp/$cert.key
tls-ca-cert-file $tmp/ca.crt
tls-auth-clients no
tls-replication yes
sentinel monitor $name 127.0.0.1 $node 1
sentinel down-after-milliseconds $name 1000
_EOC_
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec $ENV{FSAUTH_REDIS_SERVER} || 'redis-server', $conf, '--sentinel';
        exit 1;
    }
    for (1 .. 200) {
        last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        sleep 0.02;
    }
    return ($port, $pid, "$dir/log");
}

{
    my ($sport, $spid, $slog) = tls_sentinel('fst', 'server', $tls);
    my ($xport, $xpid) = tls_sentinel('fst', 'stranger', $tls);

    for my $case ([ 'by address', '' ],
                  [ 'tls_server_name=localhost', 'tls_server_name=localhost' ])
    {
        my ($name, $extra) = @$case;
        my $n = FsauthNginx->start(
            http => "    fsauth_redis sentinel=127.0.0.1:$sport master=fst "
                    . "tls=on tls_ca=$tmp/ca.crt $extra;\n"
                    . "    fsauth_cache zone=c:1m ttl=60s;",
            server => $location, settle => 0.5);
        ok(poll_until(sub { req($n, $token) == 200 }),
           "TLS sentinel, $name: lookup on the TLS node it names")
            or diag($n->error_log);
        like($n->error_log,
             qr/sentinel 127\.0\.0\.1:$sport names 127\.0\.0\.1:$tls as the primary of "fst"/,
             "TLS sentinel, $name: found through it") or diag($n->error_log);
        ctl($tls, "--cacert $tmp/ca.crt", 'api', 'disable');
        ok(poll_until(sub { (req($n, $token))[1] eq 'disabled' }),
           "TLS sentinel, $name: tracking (kill switch) on that node");
        ctl($tls, "--cacert $tmp/ca.crt", 'api', 'enable');
        ok(poll_until(sub { req($n, $token) == 200 }), 'and off again');
        unlike($n->error_log, qr/\[(error|warn)\]/, "TLS sentinel, $name: no error")
            or diag($n->error_log);
        $n->stop;
    }

    # a sentinel whose certificate another CA signed is passed over
    {
        my $n = FsauthNginx->start(
            http => "    fsauth_redis sentinel=127.0.0.1:$xport master=fst "
                    . "tls=on tls_ca=$tmp/ca.crt;\n"
                    . "    fsauth_cache zone=c:1m ttl=60s;",
            server => $location, settle => 0.5);
        my %seen;
        $seen{ req($n, $token) }++ for 1 .. 5;
        is_deeply(\%seen, { 503 => 5 }, 'TLS sentinel of another CA: 503');
        like($n->error_log,
             qr/no sentinel named the primary of "fst" \(last: 127\.0\.0\.1:$xport: unable to get local issuer certificate\)/,
             'and the error log says no sentinel named it, and why')
            or diag($n->error_log);
        unlike($n->error_log, qr/redis at "master=/,
               'no line takes the sentinel for a data node');
        $n->stop;
    }

    my $out = `$ENV{FSAUTHCTL} --sentinel 127.0.0.1:$sport --master fst --tls --cacert $tmp/ca.crt key show $id 2>&1`;
    is($? >> 8, 0, 'fsauthctl --sentinel --tls --cacert: works through the TLS sentinel')
        or diag($out);
    like($out, qr/^id: $id$/m, 'and shows the key') or diag($out);
    $out = `$ENV{FSAUTHCTL} --sentinel 127.0.0.1:$xport,127.0.0.1:$sport --master fst --tls --cacert $tmp/ca.crt api status 2>&1`;
    is($? >> 8, 0, 'fsauthctl: a sentinel of another CA passed over') or diag($out);
    unlike($out, qr/TLS handshake/, 'without a line for it') or diag($out);
    $out = `$ENV{FSAUTHCTL} --sentinel 127.0.0.1:$sport --master fst --tls api status 2>&1`;
    is($? >> 8, 2, 'fsauthctl --sentinel --tls, system CA store: exit 2');
    like($out, qr/\Afsauthctl: no sentinel named the primary of "fst" \(last: sentinel 127\.0\.0\.1:$sport: TLS handshake failed: (?:unable to get local issuer certificate|self.signed)[^\n]*\)\n\z/,
         'one line: the TLS handshake with the sentinel failed, and why') or diag($out);

    kill 'KILL', $spid, $xpid;
    waitpid $_, 0 for $spid, $xpid;
}

# configuration errors
for my $case (
    [ "tls_ca=$tmp/ca.crt", qr/"tls_ca=.*" needs "tls=on"/ ],
    [ 'tls=on tls_cert=/x', qr/"tls_cert=" and "tls_key=" go together/ ],
    [ 'tls=on tls_ca=/nonexistent', qr/cannot load "tls_ca=\/nonexistent"/ ],
    [ 'tls=maybe', qr/invalid parameter "tls=maybe"/ ])
{
    my ($params, $want) = @$case;
    my ($rc, $out) = nginx_t("fsauth_redis 127.0.0.1:6379 $params;");
    isnt($rc, 0, "$params: nginx -t fails");
    like($out, qr/\[emerg\].*$want/, "$params: message") or diag($out);
}

stop_redis($_) for $plain, $cplain, $splain, $eplain;
done_testing();
