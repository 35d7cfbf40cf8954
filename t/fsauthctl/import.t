# fsauthctl import FILE / export: the FacturaScripts api_keys and
# api_access table shape, checked whole before writing, atomic per key,
# idempotent, never reusing ids, exporting no token.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempfile);
use JSON::PP;
use POSIX qw(strftime);
use FsauthctlTest;

my $P = require_env(name => 'import');
my $json = JSON::PP->new->canonical->utf8;
my $today = strftime('%Y-%m-%d', gmtime);

my ($rc, $out, $err);

sub file {
    my ($content) = @_;

    my ($fh, $name) = tempfile(UNLINK => 1);
    print $fh ref $content ? $json->encode($content) : $content;
    close $fh;

    return $name;
}

sub key_hash {
    my ($id) = @_;

    my $d = redis('GET', "${P}keyid:$id");
    return undef unless defined $d;

    return { @{ redis('HGETALL', "${P}key:$d") } };
}

# a dump in every boolean spelling the databases produce
my $dump = {
    api_keys => [
        { id => 3, apikey => 'Tok3-mysql', description => 'mysql row',
          nick => undef, enabled => 1, fullaccess => 0,
          creationdate => '2023-05-06', lastactivity => undef,
          lastip => undef },
        { id => '12', apikey => 'tok12postgres', description => 'pg row',
          nick => 'bob', enabled => 't', fullaccess => 'f',
          creationdate => '2024-01-31' },
        { id => 7, apikey => 'x' x 99, description => 'json bools',
          nick => 'carol', enabled => JSON::PP::true,
          fullaccess => JSON::PP::true, creationdate => '2022-12-01' },
        { id => 5, apikey => 'five!#$%&()*+,-./:;<=>?@[\]^_`{|}~',
          description => 'string bools', nick => '', enabled => 'false',
          fullaccess => undef, creationdate => '2021-02-03 04:05:06' },
        { id => 9, apikey => 'nine', description => 'more strings',
          enabled => 'TRUE', fullaccess => '1',
          creationdate => '15-08-2020' },
        { id => 11, apikey => 'eleven', description => 'defaults' },
    ],
    api_access => [
        { id => 1, idapikey => 3, resource => 'clientes', allowget => 1,
          allowpost => 0, allowput => 1, allowdelete => 0 },
        { id => 2, idapikey => '3', resource => 'facturas',
          allowget => 't', allowpost => 'f', allowput => 'true',
          allowdelete => 'false' },
        { idapikey => 12, resource => 'productos', allowget => '1',
          allowpost => '0', allowput => undef, allowdelete => JSON::PP::true },
        { idapikey => 12, resource => 'nada' },
        { idapikey => 5, resource => 'crearFacturaCliente',
          allowpost => JSON::PP::true },
    ],
};

my $file = file($dump);

($rc, $out, $err) = ctl('import', $file);
is($rc, 0, 'import: exit 0') or diag($err);
is($out, "imported 6 keys, 5 grants (0 replaced)\n", 'import report');
is($err, '', 'import: nothing on stderr');

is(redis('GET', "${P}keyid:3"), token_digest('Tok3-mysql'),
   'keyid holds the digest of apikey');
is_deeply(key_hash(3),
          { id => 3, nick => '', description => 'mysql row', enabled => '1',
            fullaccess => '0', creationdate => '2023-05-06',
            'res:clientes' => 'get,put', 'res:facturas' => 'get,put' },
          'key 3: numbers 1/0, null nick, grants');
is_deeply(key_hash(12),
          { id => 12, nick => 'bob', description => 'pg row',
            enabled => '1', fullaccess => '0', creationdate => '2024-01-31',
            'res:productos' => 'get,delete', 'res:nada' => '' },
          'key 12: id as string, "t"/"f", null flag false, missing flags');
is_deeply(key_hash(7),
          { id => 7, nick => 'carol', description => 'json bools',
            enabled => '1', fullaccess => '1', creationdate => '2022-12-01' },
          'key 7: JSON booleans, 99-byte apikey');
is_deeply(key_hash(5),
          { id => 5, nick => '', description => 'string bools',
            enabled => '0', fullaccess => '0', creationdate => '2021-02-03',
            'res:crearFacturaCliente' => 'post' },
          'key 5: "false", null fullaccess, date with a time');
is_deeply(key_hash(9),
          { id => 9, nick => '', description => 'more strings',
            enabled => '1', fullaccess => '1', creationdate => '2020-08-15' },
          'key 9: "TRUE", "1", DD-MM-YYYY date');
is_deeply(key_hash(11),
          { id => 11, nick => '', description => 'defaults', enabled => '1',
            fullaccess => '0', creationdate => $today },
          'key 11: missing fields take the defaults');

is(redis('GET', "${P}nextid"), 12, 'nextid raised to the largest id');
is(redis('GET', "${P}schema"), '1', 'schema 1');

# the imported tokens work, and are stored nowhere
($rc, $out) = ctl('access', 'check', 3, 'clientes', 'PATCH');
is($out, "allowed\n", 'imported grant is effective');

my $all = $json->encode(snapshot('', 0));
for my $k (@{ $dump->{api_keys} }) {
    unlike($all, qr/\Q$k->{apikey}\E/, "apikey of $k->{id} not in Redis");
}

# --- idempotent

my $snap = snapshot();
($rc, $out) = ctl('import', $file);
is($rc, 0, 'second import: exit 0');
is($out, "imported 6 keys, 5 grants (6 replaced)\n", 'second report');
is_deeply(snapshot(), $snap, 'importing twice gives the same state');

# --- stdin

($rc, $out) = ctl('import', '-', { stdin => $json->encode($dump) });
is($rc, 0, 'import - reads stdin');
is_deeply(snapshot(), $snap, 'same state from stdin');

# --- new ids come after the imported ones

($rc, $out) = ctl('key', 'create', '--description', 'after import');
like($out, qr/\Aid: 13\n/, 'key create allocates above the imported ids');

# a lower max id does not lower nextid
($rc, $out) = ctl('import', file({ api_keys => [
    { id => 2, apikey => 'two', description => 'low' } ] }));
is($rc, 0, 'import of a low id');
is(redis('GET', "${P}nextid"), 13, 'nextid never goes down');

# --- replace: a key of the file is replaced as a whole

redis('HSET', "${P}activity:3", 'lastactivity', 1700000000, 'lastip',
      '192.0.2.1');

# an expiry is not in the FacturaScripts tables: the key written whole
# from the file has none
($rc, $out, $err) = ctl(qw(key expire 3 90d));
is($rc, 0, 'key expire 3 before the import') or diag($err);
ok(key_hash(3)->{expires}, '... key 3 has an expiry');
($rc, $out, $err) = ctl(qw(key allow-ips 3 10.0.0.0/8));
is($rc, 0, 'key allow-ips 3 before the import') or diag($err);
ok(key_hash(3)->{allow_ips}, '... key 3 has an address list');

($rc, $out, $err) = ctl('import', file({
    api_keys => [ { id => 3, apikey => 'Tok3-new', description => 'new',
                    nick => 'zed', enabled => 0, fullaccess => 1,
                    creationdate => '2023-05-07' } ],
    api_access => [ { idapikey => 3, resource => 'otro', allowget => 1 } ],
}));
is($rc, 0, 'import with a new token for id 3') or diag($err);
is($out, "imported 1 key, 1 grant (1 replaced)\n", 'replace report');
ok(!redis('EXISTS', "${P}key:" . token_digest('Tok3-mysql')),
   'old digest deleted');
is(redis('GET', "${P}keyid:3"), token_digest('Tok3-new'), 'keyid updated');
is_deeply(key_hash(3),
          { id => 3, nick => 'zed', description => 'new', enabled => '0',
            fullaccess => '1', creationdate => '2023-05-07',
            'res:otro' => 'get' },
          'fields and grants are those of the file, no expiry or address '
          . 'list kept');
is(redis('HGET', "${P}activity:3", 'lastip'), '192.0.2.1', 'activity kept');

# --- api_access for a key only in Redis: added

($rc, $out, $err) = ctl('import', file({ api_access => [
    { idapikey => 12, resource => 'extra', allowput => 't' } ] }));
is($rc, 0, 'api_access only: exit 0') or diag($err);
is($out, "imported 0 keys, 1 grant (0 replaced)\n", 'api_access only report');
is(redis('HGET', "${P}key:" . token_digest('tok12postgres'), 'res:extra'),
   'put', 'grant added');
is(redis('HGET', "${P}key:" . token_digest('tok12postgres'), 'res:productos'),
   'get,delete', 'other grants kept');

# --- export

($rc, $out, $err) = ctl('export');
is($rc, 0, 'export: exit 0') or diag($err);
my $exp = $json->decode($out);

ok(!(grep { exists $_->{apikey} } @{ $exp->{api_keys} }),
   'export omits apikey');
for my $t ('Tok3-new', 'tok12postgres', 'nine', 'eleven') {
    unlike($out, qr/\Q$t\E/, "export does not contain token $t");
    unlike($out, qr/\Q@{[ token_digest($t) ]}\E/,
           "export does not contain the digest of $t");
}

is_deeply([ map { $_->{id} } @{ $exp->{api_keys} } ],
          [ 2, 3, 5, 7, 9, 11, 12, 13 ], 'export sorted by id');

my ($k12) = grep { $_->{id} == 12 } @{ $exp->{api_keys} };
is_deeply($k12, { id => 12, description => 'pg row', nick => 'bob',
                  enabled => JSON::PP::true, fullaccess => JSON::PP::false,
                  creationdate => '2024-01-31' },
          'export: api_keys row');
my ($k5) = grep { $_->{id} == 5 } @{ $exp->{api_keys} };
is($k5->{nick}, undef, 'export: empty nick is null');

is_deeply([ grep { $_->{idapikey} == 12 } @{ $exp->{api_access} } ], [
    { idapikey => 12, resource => 'extra', allowget => JSON::PP::false,
      allowpost => JSON::PP::false, allowput => JSON::PP::true,
      allowdelete => JSON::PP::false },
    { idapikey => 12, resource => 'nada', allowget => JSON::PP::false,
      allowpost => JSON::PP::false, allowput => JSON::PP::false,
      allowdelete => JSON::PP::false },
    { idapikey => 12, resource => 'productos', allowget => JSON::PP::true,
      allowpost => JSON::PP::false, allowput => JSON::PP::false,
      allowdelete => JSON::PP::true },
], 'export: api_access rows of key 12');

# --- round trip: export, change things, import the export

my $exported = $out;
$snap = snapshot();

ctl('key', 'disable', 12);
ctl('key', 'full-access', 9, 'off');
ctl('access', 'revoke', 12, 'nada');
ctl('access', 'grant', 12, 'intruso', '--get');
ctl('access', 'grant', 3, 'otro', '--delete');

($rc, $out, $err) = ctl('import', '-', { stdin => $exported });
is($rc, 0, 'import of an export: exit 0') or diag($err);
like($out, qr/\Aimported 8 keys, \d+ grants \(8 replaced\)\n\z/,
     'import of an export: report');
is_deeply(snapshot(), $snap, 'round trip restores fields and grants, '
                             . 'tokens unchanged');

($rc, $out) = ctl('export');
is_deeply($json->decode($out), $exp, 'export after round trip is the same');

# --- invalid files write nothing

my @invalid = (
    [ '{"api_keys": [', 'truncated JSON' ],
    [ 'not json', 'not JSON' ],
    [ '[]', 'array at the top' ],
    [ '{}', 'no tables' ],
    [ '{"api_keys": {}}', 'api_keys not an array' ],
    [ '{"api_keys": [], "api_access": 3}', 'api_access not an array' ],
    [ '{"api_keys": [7]}', 'row not an object' ],
    [ { api_keys => [ { apikey => 'q1', description => 'no id' } ] },
      'missing id' ],
    [ { api_keys => [ { id => 0, apikey => 'q1' } ] }, 'id 0' ],
    [ { api_keys => [ { id => -4, apikey => 'q1' } ] }, 'negative id' ],
    [ { api_keys => [ { id => 1.5, apikey => 'q1' } ] }, 'fractional id' ],
    [ { api_keys => [ { id => '4a', apikey => 'q1' } ] }, 'id "4a"' ],
    [ { api_keys => [ { id => JSON::PP::true, apikey => 'q1' } ] },
      'boolean id' ],
    [ { api_keys => [ { id => 40, apikey => '' } ] }, 'empty apikey' ],
    [ { api_keys => [ { id => 40, apikey => '0' } ] }, 'apikey "0"' ],
    [ { api_keys => [ { id => 40, apikey => 'a' x 100 } ] },
      'apikey of 100 bytes' ],
    [ { api_keys => [ { id => 40, apikey => 'with space' } ] },
      'apikey with a space' ],
    [ { api_keys => [ { id => 40, apikey => "tab\there" } ] },
      'apikey with a tab' ],
    [ { api_keys => [ { id => 40, apikey => "caf\x{e9}" } ] },
      'apikey not ASCII' ],
    [ { api_keys => [ { id => 40, apikey => 1234 } ] }, 'apikey a number' ],
    [ { api_keys => [ { id => 40, apikey => 'q1', description => 5 } ] },
      'description a number' ],
    [ { api_keys => [ { id => 40, apikey => 'q1', nick => [] } ] },
      'nick an array' ],
    [ { api_keys => [ { id => 40, apikey => 'q1', enabled => undef } ] },
      'enabled null' ],
    [ { api_keys => [ { id => 40, apikey => 'q1', enabled => 'yes' } ] },
      'enabled "yes"' ],
    [ { api_keys => [ { id => 40, apikey => 'q1', enabled => 2 } ] },
      'enabled 2' ],
    [ { api_keys => [ { id => 40, apikey => 'q1', fullaccess => 'on' } ] },
      'fullaccess "on"' ],
    [ { api_keys => [ { id => 40, apikey => 'q1',
                        creationdate => '2024-13-01' } ] },
      'month 13' ],
    [ { api_keys => [ { id => 40, apikey => 'q1',
                        creationdate => 'yesterday' } ] },
      'creationdate not a date' ],
    [ { api_keys => [ { id => 40, apikey => 'q1',
                        creationdate => '2024-02-31' } ] },
      'February 31st' ],
    [ { api_keys => [ { id => 40, apikey => 'q1',
                        creationdate => '2023-02-29' } ] },
      'February 29th of a common year' ],
    [ { api_keys => [ { id => 40, apikey => 'q1',
                        creationdate => '2100-02-29' } ] },
      'February 29th of 2100 (not leap)' ],
    [ { api_keys => [ { id => 40, apikey => 'q1',
                        creationdate => '2023-04-31' } ] },
      'April 31st' ],
    [ { api_keys => [ { id => 40, apikey => 'q1',
                        creationdate => '2023-11-31 08:00:00' } ] },
      'November 31st with a time' ],
    [ { api_keys => [ { id => 40, apikey => 'q1',
                        creationdate => '2024-01-00' } ] },
      'day 0' ],
    [ { api_keys => [ { id => 40, apikey => 'q1',
                        creationdate => '2024-01-32' } ] },
      'day 32' ],
    [ { api_keys => [ { id => 40, apikey => 'q1',
                        creationdate => '31-06-2023' } ] },
      'June 31st as DD-MM-YYYY' ],
    [ { api_keys => [ { id => 40, apikey => 'q1',
                        creationdate => '29-02-2023' } ] },
      'February 29th of a common year as DD-MM-YYYY' ],
    [ { api_keys => [ { id => 40, apikey => 'q1' },
                      { id => '40', apikey => 'q2' } ] },
      'duplicate id' ],
    [ { api_keys => [ { id => 40, apikey => 'same' },
                      { id => 41, apikey => 'same' } ] },
      'one apikey for two ids' ],
    [ { api_keys => [ { id => 40, apikey => 'nine' } ] },
      'apikey of another key in Redis' ],
    [ { api_keys => [ { id => 40, description => 'no apikey' } ] },
      'no apikey and the id does not exist' ],
    [ { api_keys => [ { id => 40, apikey => 'q1' } ],
        api_access => [ { idapikey => 41, resource => 'r' } ] },
      'grant for an id in neither place' ],
    [ { api_access => [ { idapikey => 3, resource => '' } ] },
      'empty resource' ],
    [ { api_access => [ { idapikey => 3 } ] }, 'missing resource' ],
    [ { api_access => [ { idapikey => 3, resource => 'a/b' } ] },
      'resource with /' ],
    [ { api_access => [ { idapikey => 3, resource => 'r',
                          allowget => 'maybe' } ] },
      'allowget "maybe"' ],
    [ { api_access => [ { resource => 'r' } ] }, 'missing idapikey' ],
    [ { api_keys => [ { id => 40, apikey => 'q1' } ],
        api_access => [ { idapikey => 40, resource => 'r' },
                        { idapikey => '40', resource => 'r' } ] },
      'duplicate grant' ],
    [ '{"api_keys": [{"id": 40, "id": 41, "apikey": "q1"}]}',
      'duplicate member' ],
);

# the valid keys and grants before the bad row must not be written either
my $valid = { id => 50, apikey => 'valid50', description => 'ok' };

$snap = snapshot();
my $nextid = redis('GET', "${P}nextid");

for my $case (@invalid) {
    my ($content, $name) = @$case;

    if (ref $content) {
        unshift @{ $content->{api_keys} }, $valid;
    }

    ($rc, $out, $err) = ctl('import', file($content));
    is($rc, 1, "invalid ($name): exit 1");
    ok(one_error_line($err), "invalid ($name): one line on stderr")
        or diag($err);
    is($out, '', "invalid ($name): nothing on stdout");
}

is_deeply(snapshot(), $snap, 'invalid files wrote nothing');
is(redis('GET', "${P}nextid"), $nextid, 'nextid unchanged');
ok(!redis('EXISTS', "${P}keyid:50"), 'valid rows of invalid files skipped');

# --- nick and description: printable UTF-8 only, the field is named

for my $case (
    [ "bell\x{07}", 'C0 0x07' ],
    [ "two\nlines", 'newline' ],
    [ "tab\there", 'tab' ],
    [ "\x{1b}[2J", 'escape sequence' ],
    [ "del\x{7f}", 'DEL' ],
    [ "\x{80}", 'U+0080' ],
    [ "csi\x{9b}31m", 'U+009B (CSI)' ],
    [ "next\x{85}line", 'U+0085 (NEL)' ],
    [ "\x{9f}", 'U+009F' ],
)
{
    my ($text, $name) = @$case;

    for my $field ('nick', 'description') {
        ($rc, $out, $err) = ctl('import', file({ api_keys => [
            { id => 50, apikey => 'valid50', description => 'ok',
              $field => $text } ] }));
        is($rc, 1, "$field with $name: exit 1");
        ok(one_error_line($err), "$field with $name: one line") or diag($err);
        like($err, qr/^fsauthctl: import: api_keys\[0\]\.$field: /,
             "$field with $name: names the field");
    }
}

# invalid UTF-8 and NUL never get past the JSON parser
for my $case (
    [ qq({"api_keys": [{"id": 50, "apikey": "v50", "nick": "caf\xe9"}]}),
      'Latin-1 byte' ],
    [ qq({"api_keys": [{"id": 50, "apikey": "v50", "nick": "\x9b"}]}),
      'raw 0x9b' ],
    [ qq({"api_keys": [{"id": 50, "apikey": "v50", "nick": "\xc0\xaf"}]}),
      'overlong' ],
    [ qq({"api_keys": [{"id": 50, "apikey": "v50", "nick": "\\ud800"}]}),
      'lone surrogate escape' ],
    [ qq({"api_keys": [{"id": 50, "apikey": "v50", "nick": "a\\u0000b"}]}),
      'NUL escape' ],
)
{
    my ($content, $name) = @$case;

    ($rc, $out, $err) = ctl('import', file($content));
    is($rc, 1, "nick with $name: exit 1");
    ok(one_error_line($err), "nick with $name: one line") or diag($err);
}

is_deeply(snapshot(), $snap, 'refused text: nothing written');

# printable UTF-8 (U+00A0 is just above C1) is imported as it is
($rc, $out, $err) = ctl('import', file({ api_keys => [
    { id => 51, apikey => 'valid51', nick => "Jos\x{e9}",
      description => "\x{a0}\x{20ac} \x{65e5}\x{1f511} ~" } ] }));
is($rc, 0, 'printable UTF-8: exit 0') or diag($err);
is(key_hash(51)->{nick}, "Jos\xc3\xa9", 'UTF-8 nick stored as UTF-8');
is(key_hash(51)->{description},
   "\xc2\xa0\xe2\x82\xac \xe6\x97\xa5\xf0\x9f\x94\x91 ~",
   'UTF-8 description stored as UTF-8');

# --- real calendar dates, leap years included

($rc, $out, $err) = ctl('import', file({ api_keys => [
    { id => 52, apikey => 'valid52', creationdate => '2024-02-29' },
    { id => 53, apikey => 'valid53', creationdate => '2000-02-29' },
    { id => 54, apikey => 'valid54', creationdate => '29-02-2024' },
    { id => 55, apikey => 'valid55', creationdate => '2023-12-31 23:59:59' },
] }));
is($rc, 0, 'leap days and the last day of a year: exit 0') or diag($err);
is(key_hash(52)->{creationdate}, '2024-02-29', '2024 is a leap year');
is(key_hash(53)->{creationdate}, '2000-02-29', '2000 is a leap year');
is(key_hash(54)->{creationdate}, '2024-02-29', 'DD-MM-YYYY leap day');
is(key_hash(55)->{creationdate}, '2023-12-31', 'December 31st');

# --- unreadable files

($rc, $out, $err) = ctl('import', '/nonexistent/fsauth.json');
is($rc, 1, 'missing file: exit 1');
like($err, qr{\Afsauthctl: cannot open import file /nonexistent/fsauth\.json: },
     'missing file: message');
ok(one_error_line($err), 'missing file: one line');

($rc, $out, $err) = ctl('import', $FindBin::Bin);
is($rc, 1, 'directory: exit 1');
ok(one_error_line($err), 'directory: one line');

SKIP: {
    skip 'running as root, file permissions do not apply', 2 if $> == 0;

    my $f = file('{}');
    chmod 0, $f;
    ($rc, $out, $err) = ctl('import', $f);
    is($rc, 1, 'unreadable file: exit 1');
    ok(one_error_line($err), 'unreadable file: one line');
}

($rc, $out, $err) = ctl('import', file('{"api_keys": ['));
like($err, qr/invalid JSON at line \d+/, 'bad JSON: message has a position');

# --- null tables: what SQL aggregates give for an empty table

$snap = snapshot();
($rc, $out, $err) = ctl('import', file('{"api_keys": null, '
                                       . '"api_access": null}'));
is($rc, 0, 'null tables: exit 0') or diag($err);
is($out, "imported 0 keys, 0 grants (0 replaced)\n", 'null tables: report');
is_deeply(snapshot(), $snap, 'null tables: nothing written');

($rc, $out, $err) = ctl('import', file('{"api_keys": [], '
                                       . '"api_access": []}'));
is($rc, 0, 'empty tables: exit 0') or diag($err);
is($out, "imported 0 keys, 0 grants (0 replaced)\n", 'empty tables: report');
is_deeply(snapshot(), $snap, 'empty tables: nothing written');

($rc, $out, $err) = ctl('import', file({ api_keys => [
    { id => 60, apikey => 'sixty', description => 'sixty' } ],
    api_access => undef }));
is($rc, 0, 'null api_access with keys: exit 0') or diag($err);
ok(redis('EXISTS', "${P}keyid:60"), 'null api_access: keys imported');

# --- Redis down: exit 2, before anything

my $dead = dead_port();
($rc, $out, $err) = ctl_as([ '-p', $dead, '--prefix', $P ], 'import',
                           file($dump));
is($rc, 2, 'import, Redis down: exit 2');
ok(one_error_line($err), 'import, Redis down: one line');

($rc, $out, $err) = ctl_as([ '-p', $dead, '--prefix', $P ], 'export');
is($rc, 2, 'export, Redis down: exit 2');
ok(one_error_line($err), 'export, Redis down: one line');
is($out, '', 'export, Redis down: no output');

# --- empty prefix: export of nothing

($rc, $out) = ctl_as([ '-p', $ENV{TEST_NGINX_REDIS_PORT}, '--prefix',
                       "t_ctl_empty_$$:" ], 'export');
is_deeply($json->decode($out), { api_keys => [], api_access => [] },
          'export of an empty prefix');

done_testing();
