# fsauthctl access grant|revoke|list|check: grants are res:<resource>
# fields, and "check" makes the module's decision.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use FsauthctlTest;

my $P = require_env(name => 'access');
my $json = JSON::PP->new;

my ($rc, $out, $err);

sub new_key {
    my ($rc, $out) = ctl('key', 'create', '--description', 'test', @_);
    my ($id, $tok) = $out =~ /\Aid: (\d+)\ntoken: (\S+)\n/
        or die "key create failed";

    return ($id, token_digest($tok));
}

sub check {
    my ($id, $res, $method, $want, $name) = @_;

    my ($rc, $out, $err) = ctl('access', 'check', $id, $res, $method);

    is($out, "$want\n", "$name: $want");
    is($rc, $want eq 'allowed' ? 0 : 1, "$name: exit " . ($want eq 'allowed'
                                                          ? 0 : 1));
    is($err, '', "$name: nothing on stderr");
}

my ($id, $d) = new_key();
my $hash = "${P}key:$d";

# --- grant

($rc, $out) = ctl('access', 'grant', $id, 'clientes', '--get', '--post');
is($rc, 0, 'grant: exit 0');
is($out, "key $id: clientes: get,post\n", 'grant output');
is(redis('HGET', $hash, 'res:clientes'), 'get,post', 'field res:clientes');

($rc, $out) = ctl('access', 'grant', $id, 'facturas', '--delete', '--put',
                  '--post', '--get');
is(redis('HGET', $hash, 'res:facturas'), 'get,post,put,delete',
   'words always in the order get,post,put,delete');

($rc, $out) = ctl('access', 'grant', $id, 'vacio');
is($rc, 0, 'grant without flags: exit 0');
is($out, "key $id: vacio: none\n", 'grant without flags output');
is(redis('HGET', $hash, 'res:vacio'), '',
   'grant without flags: empty string, a row allowing nothing');

($rc, $out) = ctl('access', 'grant', $id, 'clientes', '--put');
is(redis('HGET', $hash, 'res:clientes'), 'put', 'grant replaces');

($rc, $out) = ctl('access', 'grant', $id, 'Clientes', '--get');
is(redis('HGET', $hash, 'res:Clientes'), 'get',
   'resources are case-sensitive');
is(redis('HGET', $hash, 'res:clientes'), 'put', 'other case untouched');

is(redis('GET', "${P}schema"), '1', 'schema set');

# --- list

($rc, $out) = ctl('access', 'list', $id);
is($rc, 0, 'access list: exit 0');
is($out, <<'EOF', 'access list text');
RESOURCE  ALLOW
Clientes  get
clientes  put
facturas  get,post,put,delete
vacio     -
EOF

($rc, $out) = ctl('access', 'list', $id, '--json');
is($rc, 0, 'access list --json: exit 0');
my $t = JSON::PP::true;
my $f = JSON::PP::false;
is_deeply($json->decode($out), [
    { idapikey => $id + 0, resource => 'Clientes', allowget => $t,
      allowpost => $f, allowput => $f, allowdelete => $f },
    { idapikey => $id + 0, resource => 'clientes', allowget => $f,
      allowpost => $f, allowput => $t, allowdelete => $f },
    { idapikey => $id + 0, resource => 'facturas', allowget => $t,
      allowpost => $t, allowput => $t, allowdelete => $t },
    { idapikey => $id + 0, resource => 'vacio', allowget => $f,
      allowpost => $f, allowput => $f, allowdelete => $f },
], 'access list --json: api_access rows');

# --- revoke

($rc, $out) = ctl('access', 'revoke', $id, 'Clientes');
is($rc, 0, 'revoke: exit 0');
is($out, "key $id: Clientes: revoked\n", 'revoke output');
ok(!redis('HEXISTS', $hash, 'res:Clientes'), 'field deleted');

($rc, $out, $err) = ctl('access', 'revoke', $id, 'Clientes');
is($rc, 1, 'revoke of a missing grant: exit 1');
is($err, "fsauthctl: key $id has no grant for \"Clientes\"\n",
   'revoke of a missing grant: message');

# --- check

check($id, 'clientes', 'PUT', 'allowed', 'PUT with put');
check($id, 'clientes', 'PATCH', 'allowed', 'PATCH needs put');
check($id, 'clientes', 'GET', 'denied', 'GET without get');
check($id, 'clientes', 'POST', 'denied', 'POST without post');
check($id, 'clientes', 'DELETE', 'denied', 'DELETE without delete');
check($id, 'facturas', 'GET', 'allowed', 'GET with get');
check($id, 'facturas', 'POST', 'allowed', 'POST with post');
check($id, 'facturas', 'DELETE', 'allowed', 'DELETE with delete');
check($id, 'facturas', 'PATCH', 'allowed', 'PATCH with put');
check($id, 'facturas', 'HEAD', 'denied', 'HEAD is never granted');
check($id, 'facturas', 'OPTIONS', 'denied', 'OPTIONS is never granted');
check($id, 'facturas', 'TRACE', 'denied', 'other methods denied');
check($id, 'facturas', 'get', 'denied', 'methods are case-sensitive');
check($id, 'vacio', 'GET', 'denied', 'empty grant allows nothing');
check($id, 'nothing', 'GET', 'denied', 'resource without grant');
check($id, 'Facturas', 'GET', 'denied', 'resource case-sensitive');
check($id, '', 'GET', 'allowed', 'empty resource (listing)');
check($id, '', 'HEAD', 'allowed', 'empty resource, any method');
check(999, '', 'GET', 'denied', 'unknown key');
check(999, 'facturas', 'GET', 'denied', 'unknown key, resource');

# hand-written grant strings: trimmed words, empty items, unknown words
redis('HSET', $hash, 'res:hand', " get ,\tPOST,,put\t, frob,delete ");
check($id, 'hand', 'GET', 'allowed', 'hand grant: " get "');
check($id, 'hand', 'POST', 'denied', 'hand grant: "POST" is not "post"');
check($id, 'hand', 'PUT', 'allowed', 'hand grant: "put<tab>"');
check($id, 'hand', 'DELETE', 'allowed', 'hand grant: "delete "');

redis('HSET', $hash, 'res:junk', 'getpost, gets ,xput');
check($id, 'junk', 'GET', 'denied', 'hand grant: no partial word match');
check($id, 'junk', 'PUT', 'denied', 'hand grant: "xput" is unknown');

($rc, $out) = ctl('access', 'list', $id);
like($out, qr/^hand\s+get,put,delete$/m, 'list shows the parsed grant');
like($out, qr/^junk\s+-$/m, 'list: only unknown words is nothing');

# disabled key: denied, even the listing
ctl('key', 'disable', $id);
check($id, 'facturas', 'GET', 'denied', 'disabled key');
check($id, '', 'GET', 'denied', 'disabled key, empty resource');
ctl('key', 'enable', $id);
check($id, 'facturas', 'GET', 'allowed', 'enabled again');

# enabled must be exactly "1"
redis('HSET', $hash, 'enabled', 'yes');
check($id, 'facturas', 'GET', 'denied', 'enabled "yes" is not enabled');
redis('HSET', $hash, 'enabled', '1');

# full access: everything, any method
ctl('key', 'full-access', $id, 'on');
check($id, 'nothing', 'GET', 'allowed', 'full access, no grant');
check($id, 'clientes', 'DELETE', 'allowed', 'full access, not granted');
check($id, 'clientes', 'HEAD', 'allowed', 'full access, HEAD');
ctl('key', 'full-access', $id, 'off');
check($id, 'nothing', 'GET', 'denied', 'full access off');

# --- unknown ids: exit 1, nothing created

my $before = snapshot();

for my $cmd ([ 'grant', 555, 'r', '--get' ], [ 'revoke', 555, 'r' ],
             [ 'list', 555 ])
{
    ($rc, $out, $err) = ctl('access', @$cmd);
    is($rc, 1, "access @$cmd: exit 1");
    is($err, "fsauthctl: no key with id 555\n", "access @$cmd: message");
    is($out, '', "access @$cmd: no output");
}

is_deeply(snapshot(), $before, 'unknown id: nothing written');
ok(!redis('EXISTS', "${P}keyid:555"), 'no keyid created');

# a deleted key cannot get grants back
ctl('key', 'delete', $id);
$before = snapshot();
($rc, undef, $err) = ctl('access', 'grant', $id, 'clientes', '--get');
is($rc, 1, 'grant on a deleted key: exit 1');
is_deeply(snapshot(), $before, 'grant on a deleted key: nothing written');
ok(!redis('EXISTS', $hash), 'no partial hash');

done_testing();
