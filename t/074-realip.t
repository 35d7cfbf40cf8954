# The client address fsauth decides with is the one realip settles on,
# wherever set_real_ip_from / real_ip_header are written (http, server
# or location) and in both phases (fsauth_phase access | preaccess):
# the key's address list, the ban and the activity's lastip all see the
# forwarded client, never the proxy in front of nginx.
# Plain Test::More: one nginx per placement and phase, Redis read back.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use FsauthTest;
use FsauthNginx;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $rp = $ENV{TEST_NGINX_REDIS_PORT};
my $realip = "set_real_ip_from 127.0.0.1; "
           . "real_ip_header X-Forwarded-For;";

sub get {
    my ($n, $token, $from) = @_;
    my ($st, $head) = http_raw($n->port, "GET /api/3/clientes HTTP/1.0\r\n"
                               . "Host: x\r\nX-Forwarded-For: $from\r\n"
                               . "X-Auth-Token: $token\r\n\r\n", 3);
    my ($addr) = $head =~ /^X-Addr: (\S+)/mi;
    my ($fs) = $head =~ /^X-Fsauth: (\S+)/mi;
    return ($st, $fs // '', $addr // '');
}

my $i = 0;
for my $phase ('access', 'preaccess') {
    for my $where ('http', 'server', 'location') {
        my $p = 't074' . ++$i . ':';
        my $what = "realip in $where, fsauth_phase $phase";
        flush_prefix($p);
        add_key(prefix => $p, token => 'tok-realip-inside', id => 1,
                grants => { clientes => 'get' });
        add_key(prefix => $p, token => 'tok-realip-proxy1', id => 2,
                grants => { clientes => 'get' });
        redis('HSET', "${p}key:" . digest('tok-realip-inside'),
              'allow_ips', '10.0.0.0/8');
        redis('HSET', "${p}key:" . digest('tok-realip-proxy1'),
              'allow_ips', '127.0.0.1');

        my %at = (http => '', server => '', location => '');
        $at{$where} = $realip;
        my $n = FsauthNginx->start(
            http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
                  . "    fsauth_cache zone=t074_$i:1m;\n"
                  . "    fsauth_ban 3 600s;\n"
                  . "    fsauth_activity on interval=1s;\n"
                  . "    $at{http}\n",
            server => "        $at{server}\n" . <<"_EOC_");
        location /api/ {
            $at{location}
            fsauth on;
            fsauth_phase $phase;
            add_header X-Fsauth \$fsauth_status always;
            add_header X-Addr \$remote_addr always;
            proxy_pass http://127.0.0.1:\$PORT/backend/;
        }
_EOC_

        my @r = get($n, 'tok-realip-inside', '10.1.2.3');
        is("@r", '200 granted 10.1.2.3',
           "$what: a forwarded client inside the key's list: 200");
        @r = get($n, 'tok-realip-proxy1', '203.0.113.7');
        is("@r", '403 forbidden 203.0.113.7',
           "$what: a list of the proxy's address refuses a forwarded "
           . 'client: 403');

        ok(poll_until(sub {
               (redis('HGET', "${p}activity:1", 'lastip') // '')
                   eq '10.1.2.3' }, 3),
           "$what: lastip is the forwarded client");

        my @st = map { (get($n, "tok-realip-bad-$_", '198.51.100.1'))[0] }
                 1 .. 4;
        is("@st", '401 401 401 429',
           "$what: three bad tokens from one forwarded client ban it");
        @r = get($n, 'tok-realip-inside', '10.1.2.3');
        is($r[0], 200, "$what: another client behind the proxy is not "
                       . 'banned');

        $n->stop;
        my $log = $n->error_log;
        like($log, qr/fsauth: key 2 may not be used from 203\.0\.113\.7/,
             "$what: the refusal names the forwarded client");
        unlike($log, qr/may not be used from 127\.0\.0\.1/,
               "$what: no decision names the proxy's address");
        unlike($log, qr/\[alert\]|\[crit\]|\[emerg\]/, "$what: no alert");
    }
}

done_testing();
