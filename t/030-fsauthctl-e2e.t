# fsauthctl end to end with the module: keys it creates are granted through
# nginx, and its changes reach every worker's cache at once.
# Plain Test::More, not Test::Nginx: fsauthctl runs between requests to one running nginx with two workers.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(sleep);
use FsauthTest;
use FsauthNginx;

plan skip_all => 'TEST_NGINX_REDIS_PORT and FSAUTHCTL are needed '
               . '(run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT} && $ENV{FSAUTHCTL}
           && -x $ENV{FSAUTHCTL};

my $rp = $ENV{TEST_NGINX_REDIS_PORT};
my $p = 't030:';
flush_prefix($p);

sub ctl {
    my $cmd = join ' ', map { "'$_'" } @_;
    my $out = `$ENV{FSAUTHCTL} -p $rp --prefix $p $cmd 2>&1`;
    return ($? >> 8, $out);
}

my $n = FsauthNginx->start(
    workers => 2,
    http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
          . "    fsauth_cache zone=e2e:1m ttl=1h;\n"
          . "    fsauth_ban off;",
    server => <<'_EOC_');
        location /api/ {
            fsauth on;
            add_header X-Fsauth $fsauth_status always;
            add_header X-Id $fsauth_key_id always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub statuses {
    my ($token, $path, $method) = @_;
    $method //= 'GET';
    my %seen;
    for (1 .. 20) {
        my ($st) = http_raw($n->port, "$method $path HTTP/1.0\r\nHost: x\r\n"
                                      . "X-Auth-Token: $token\r\n\r\n", 3);
        $seen{$st}++;
    }
    return join ',', sort keys %seen;
}

my ($rc, $out) = ctl('key', 'create', '--description', 'e2e key',
                     '--nick', 'tester');
is($rc, 0, 'key create');
my ($id) = $out =~ /^id: (\d+)$/m;
my ($token) = $out =~ /^token: ([0-9A-Za-z]{20})$/m;
ok($id && $token, 'id and token printed');

is(statuses($token, '/api/3/clientes'), '403', 'no grant yet: 403');
is(statuses($token, '/api/3'), '200', 'the listing: 200');

($rc) = ctl('access', 'grant', $id, 'clientes', '--get', '--post');
is($rc, 0, 'access grant');
sleep 0.1;
is(statuses($token, '/api/3/clientes'), '200', 'granted through nginx');
is(statuses($token, '/api/3/clientes', 'DELETE'), '403',
   'a method not granted: 403');

($rc) = ctl('key', 'disable', $id);
is($rc, 0, 'key disable');
sleep 0.1;
is(statuses($token, '/api/3/clientes'), '401', 'disabled: 401 at once');

ctl('key', 'enable', $id);
sleep 0.1;
is(statuses($token, '/api/3/clientes'), '200', 'enabled again');

($rc) = ctl('access', 'revoke', $id, 'clientes');
is($rc, 0, 'access revoke');
sleep 0.1;
is(statuses($token, '/api/3/clientes'), '403', 'revoked: 403 at once');

ctl('access', 'grant', $id, 'clientes', '--get');
($rc) = ctl('api', 'disable');
is($rc, 0, 'api disable');
sleep 0.1;
is(statuses($token, '/api/3/clientes'), '403', 'kill switch: 403');
($rc) = ctl('access', 'check', $id, 'clientes', 'GET');
is($rc, 1, 'access check agrees: kill switch denies');

ctl('api', 'enable');
sleep 0.1;
is(statuses($token, '/api/3/clientes'), '200', 'kill switch off');

($rc, $out) = ctl('key', 'full-access', $id, 'on');
sleep 0.1;
is(statuses($token, '/api/3/anything', 'DELETE'), '200',
   'full access: any resource and method');
ctl('key', 'full-access', $id, 'off');

($rc, $out) = ctl('key', 'rotate', $id);
is($rc, 0, 'key rotate');
my ($new) = $out =~ /^token: ([0-9A-Za-z]{20})$/m;
sleep 0.1;
is(statuses($token, '/api/3/clientes'), '401', 'the old token died at once');
is(statuses($new, '/api/3/clientes'), '200', 'the new token works');

($rc) = ctl('access', 'check', $id, 'clientes', 'GET');
is($rc, 0, 'access check agrees: allowed');
($rc) = ctl('access', 'check', $id, 'clientes', 'PUT');
is($rc, 1, 'access check agrees: denied');
ctl('key', 'full-access', $id, 'on');
sleep 0.1;
is(statuses($new, '/api/3/a%2Fb'), '403',
   'an ambiguous path: 403, even with full access');
($rc) = ctl('access', 'check', $id, 'a%2Fb', 'GET');
is($rc, 1, 'access check agrees: ambiguous path denied');
ctl('key', 'full-access', $id, 'off');

# the resource length limit, 100 bytes (the api_access.resource column):
# fsauthctl writes grants up to it and refuses longer ones; a longer grant
# written by hand is honoured all the same, by the module (which caches
# grants up to the limit and reads a longer one from the reply) and by
# access check
my ($r100, $r101) = ('r' x 100, 's' x 101);
($rc) = ctl('access', 'grant', $id, $r100, '--get');
is($rc, 0, 'grant on a 100-byte resource');
($rc) = ctl('access', 'grant', $id, $r101, '--get');
is($rc, 1, 'a grant on a 101-byte resource is refused');
redis('HSET', "${p}key:" . digest($new), "res:$r101", 'get');
sleep 0.1;
is(statuses($new, "/api/3/$r100"), '200', '100-byte resource granted');
is(statuses($new, "/api/3/$r101"), '200',
   'a hand-written 101-byte grant is honoured');
is(statuses($new, "/api/3/$r101", 'POST'), '403',
   'and only for its words');
($rc) = ctl('access', 'check', $id, $r101, 'GET');
is($rc, 0, 'access check agrees: 101-byte grant allowed');
($rc) = ctl('access', 'check', $id, $r101, 'POST');
is($rc, 1, 'access check agrees: 101-byte grant, POST denied');

($rc) = ctl('key', 'delete', $id);
is($rc, 0, 'key delete');
sleep 0.1;
is(statuses($new, '/api/3/clientes'), '401', 'deleted: 401');

# activity written by the module shows in fsauthctl
my ($id2, $tok2);
($rc, $out) = ctl('key', 'create', '--description', 'activity');
($id2) = $out =~ /^id: (\d+)$/m;
($tok2) = $out =~ /^token: (\S+)$/m;
statuses($tok2, '/api/3');
sleep 0.2;
($rc, $out) = ctl('key', 'show', $id2, '--json');
like($out, qr/"lastip":\s*"127\.0\.0\.1"/, 'key show reports lastip');
like($out, qr/"lastactivity":\s*\d{10}/, 'and lastactivity');

$n->stop;
unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
flush_prefix($p);

done_testing();
