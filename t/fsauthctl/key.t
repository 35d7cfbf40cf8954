# fsauthctl key create|list|show|enable|disable|full-access|rotate|delete
# against a real Redis (README, "Redis schema" and "fsauthctl").

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX qw(strftime);
use FsauthctlTest;

my $P = require_env(name => 'key');
my $json = JSON::PP->new;
my $today = strftime('%Y-%m-%d', gmtime);

my ($rc, $out, $err);

sub create {
    my ($rc, $out, $err) = ctl('key', 'create', @_);

    is($rc, 0, "key create @_: exit 0") or diag($err);
    like($out, qr/\Aid: (\d+)\ntoken: ([0-9a-zA-Z]{20})\n\z/,
         'output is "id: N" and "token: T", T 20 chars of 0-9a-zA-Z');

    return $out =~ /\Aid: (\d+)\ntoken: (\S+)\n\z/ ? ($1, $2) : ();
}

# --- create

my ($id1, $tok1) = create('--description', 'ERP sync', '--nick', 'alice');
my ($id2, $tok2) = create('--description', 'full one', '--full-access');

is($id1, 1, 'first id is 1');
is($id2, 2, 'ids come from INCR nextid');
isnt($tok1, $tok2, 'tokens differ');
is(redis('GET', "${P}nextid"), 2, 'nextid is 2');
is(redis('GET', "${P}schema"), '1', 'schema is 1');

my $d1 = token_digest($tok1);
is(redis('GET', "${P}keyid:$id1"), $d1,
   'keyid:<id> holds the lower-case hex sha256 of the token');

is_deeply({ @{ redis('HGETALL', "${P}key:$d1") } },
          { id => 1, nick => 'alice', description => 'ERP sync',
            enabled => '1', fullaccess => '0', creationdate => $today },
          'key hash has every field, nothing else');

my $d2 = token_digest($tok2);
my %h2 = @{ redis('HGETALL', "${P}key:$d2") };
is($h2{fullaccess}, '1', '--full-access sets fullaccess 1');
is($h2{nick}, '', 'no --nick: empty nick');

# more tokens: format, no repetition
my %seen = ($tok1 => 1, $tok2 => 1);
my @more;
for (1 .. 5) {
    my ($id, $tok) = create('--description', "bulk $_");
    ok(!$seen{$tok}++, "token $id is new");
    push @more, $id;
}

# no plain token anywhere in Redis, in any key name or value
sub no_token_in_redis {
    my ($name, @tokens) = @_;

    my $snap = snapshot('', 0);
    my $dump = $json->canonical->encode($snap);

    for my $t (@tokens) {
        unlike($dump, qr/\Q$t\E/, "$name: token absent from every key and "
                                  . "value in Redis");
    }
}

no_token_in_redis('after create', $tok1, $tok2);

# --- list

($rc, $out, $err) = ctl('key', 'list');
is($rc, 0, 'key list: exit 0');
like($out, qr/\AID\s+NICK\s+ENABLED\s+FULLACCESS\s+CREATED\s+EXPIRES\s+
              ALLOW_IPS\s+LASTACTIVITY\s+LASTIP\s+DESCRIPTION\n/x,
     'key list header');
like($out, qr/^1\s+alice\s+yes\s+no\s+\Q$today\E\s+ERP sync$/m,
     'key list row of key 1, activity blank');
unlike($out, qr/\Q$tok1\E|\Q$d1\E/, 'key list shows neither token nor digest');

# the module writes the activity hash
redis('HSET', "${P}activity:1", 'lastactivity', '1700000000',
      'lastip', '192.0.2.7');

($rc, $out) = ctl('key', 'list');
like($out, qr/^1\s+alice\s+yes\s+no\s+\Q$today\E\s+2023-11-14T22:13:20Z\s+
              192\.0\.2\.7\s+ERP\ sync$/mx,
     'key list shows lastactivity (UTC) and lastip');

($rc, $out) = ctl('key', 'list', '--json');
is($rc, 0, 'key list --json: exit 0');
my $list = $json->decode($out);
is(scalar @$list, 7, 'seven keys');
is_deeply($list->[0],
          { id => 1, description => 'ERP sync', nick => 'alice',
            enabled => JSON::PP::true, fullaccess => JSON::PP::false,
            creationdate => $today, lastactivity => 1700000000,
            lastip => '192.0.2.7', expires => undef,
            allow_ips => undef },
          'key list --json: key 1 with activity');
is($list->[1]{lastactivity}, undef, 'no activity: lastactivity null');
is($list->[1]{lastip}, undef, 'no activity: lastip null');
is($list->[1]{nick}, undef, 'empty nick: null');
ok(!exists $list->[0]{apikey}, 'no apikey member');
is_deeply([ map { $_->{id} } @$list ], [ 1 .. 7 ], 'sorted by id');

# --- show

redis('HSET', "${P}key:$d1", 'res:clientes', 'get,post', 'res:facturas', '');

($rc, $out) = ctl('key', 'show', 1);
is($rc, 0, 'key show: exit 0');
is($out, <<"EOF", 'key show text');
id: 1
nick: alice
description: ERP sync
enabled: yes
fullaccess: no
creationdate: $today
expires: never
allow_ips: any
lastactivity: 2023-11-14T22:13:20Z
lastip: 192.0.2.7
grants:
  clientes: get,post
  facturas: -
EOF

($rc, $out) = ctl('key', 'show', 2);
like($out, qr/^lastactivity:\nlastip:\ngrants: none\n\z/m,
     'key show: blank activity, no grants');

($rc, $out) = ctl('key', 'show', 1, '--json');
is($rc, 0, 'key show --json: exit 0');
is_deeply($json->decode($out),
          { id => 1, description => 'ERP sync', nick => 'alice',
            enabled => JSON::PP::true, fullaccess => JSON::PP::false,
            creationdate => $today, lastactivity => 1700000000,
            lastip => '192.0.2.7', expires => undef,
            allow_ips => undef, grants => [
                { resource => 'clientes', allowget => JSON::PP::true,
                  allowpost => JSON::PP::true, allowput => JSON::PP::false,
                  allowdelete => JSON::PP::false },
                { resource => 'facturas', allowget => JSON::PP::false,
                  allowpost => JSON::PP::false, allowput => JSON::PP::false,
                  allowdelete => JSON::PP::false },
            ],
            old_tokens => [] },
          'key show --json');

($rc, $out, $err) = ctl('key', 'show', 99);
is($rc, 1, 'key show unknown id: exit 1');
is($err, "fsauthctl: no key with id 99\n", 'key show unknown id: message');
is($out, '', 'key show unknown id: no output');

# --- enable / disable

($rc, $out) = ctl('key', 'disable', 1);
is($rc, 0, 'key disable: exit 0');
is($out, "key 1: disabled\n", 'key disable output');
is(redis('HGET', "${P}key:$d1", 'enabled'), '0', 'enabled is 0');

($rc, $out) = ctl('key', 'enable', 1);
is($rc, 0, 'key enable: exit 0');
is($out, "key 1: enabled\n", 'key enable output');
is(redis('HGET', "${P}key:$d1", 'enabled'), '1', 'enabled is 1');

# --- full-access

($rc, $out) = ctl('key', 'full-access', 1, 'on');
is($rc, 0, 'full-access on: exit 0');
is($out, "key 1: full access on\n", 'full-access on output');
is(redis('HGET', "${P}key:$d1", 'fullaccess'), '1', 'fullaccess is 1');

($rc, $out) = ctl('key', 'full-access', 1, 'off');
is($out, "key 1: full access off\n", 'full-access off output');
is(redis('HGET', "${P}key:$d1", 'fullaccess'), '0', 'fullaccess is 0');

# unknown ids never create anything
my $before = snapshot();

for my $cmd ([ 'enable', 42 ], [ 'disable', 42 ], [ 'full-access', 42, 'on' ],
             [ 'rotate', 42 ], [ 'delete', 42 ])
{
    ($rc, $out, $err) = ctl('key', @$cmd);
    is($rc, 1, "key @$cmd: exit 1");
    is($err, "fsauthctl: no key with id 42\n", "key @$cmd: message");
}

is_deeply(snapshot(), $before, 'unknown ids: nothing written');

# a keyid whose hash is gone (hand edit): no partial hash is created
redis('SET', "${P}keyid:40", 'a' x 64);
$before = snapshot();

for my $cmd ([ 'enable', 40 ], [ 'full-access', 40, 'on' ], [ 'rotate', 40 ])
{
    ($rc, undef, $err) = ctl('key', @$cmd);
    is($rc, 1, "key @$cmd (no hash): exit 1");
    ok(one_error_line($err), "key @$cmd (no hash): one line");
}

is_deeply(snapshot(), $before, 'keyid without hash: nothing written');
ok(!redis('EXISTS', "${P}key:" . 'a' x 64), 'no partial hash');

($rc, $out) = ctl('key', 'delete', 40);
is($rc, 0, 'delete of a keyid without hash cleans up');
ok(!redis('EXISTS', "${P}keyid:40"), 'leftover keyid deleted');

# --- rotate

redis('SET', "${P}schema", 'x');

($rc, $out, $err) = ctl('key', 'rotate', 1);
is($rc, 0, 'key rotate: exit 0') or diag($err);
like($out, qr/\Aid: 1\ntoken: [0-9a-zA-Z]{20}\n\z/, 'rotate output');
my ($tok1b) = $out =~ /token: (\S+)/;
isnt($tok1b, $tok1, 'new token');

my $d1b = token_digest($tok1b);
ok(!redis('EXISTS', "${P}key:$d1"), 'old digest key gone');
is(redis('GET', "${P}keyid:1"), $d1b, 'keyid points to the new digest');
is_deeply({ @{ redis('HGETALL', "${P}key:$d1b") } },
          { id => 1, nick => 'alice', description => 'ERP sync',
            enabled => '1', fullaccess => '0', creationdate => $today,
            'res:clientes' => 'get,post', 'res:facturas' => '' },
          'fields and grants moved to the new digest');
is(redis('HGET', "${P}activity:1", 'lastip'), '192.0.2.7',
   'activity kept by rotate');
is(redis('GET', "${P}schema"), '1', 'every write sets schema 1');

no_token_in_redis('after rotate', $tok1b);

($rc, $out) = ctl('access', 'check', 1, 'clientes', 'GET');
is($out, "allowed\n", 'rotated key keeps its grants');

# --- delete

($rc, $out) = ctl('key', 'delete', 1);
is($rc, 0, 'key delete: exit 0');
is($out, "key 1: deleted\n", 'key delete output');
ok(!redis('EXISTS', "${P}key:$d1b"), 'key hash deleted');
ok(!redis('EXISTS', "${P}keyid:1"), 'keyid deleted');
ok(!redis('EXISTS', "${P}activity:1"), 'activity deleted');

($rc, undef, $err) = ctl('key', 'delete', 1);
is($rc, 1, 'second delete: exit 1');
is($err, "fsauthctl: no key with id 1\n", 'second delete: message');

# ids are never reused
my ($id8) = create('--description', 'after delete');
is($id8, 8, 'new id after a delete is above every earlier id');

# create skips an id already taken (e.g. written by hand)
redis('SET', "${P}keyid:9", 'b' x 64);
my ($id10) = create('--description', 'skips 9');
is($id10, 10, 'create skips a taken id');

# hash written by hand without keyid still listed
redis('HSET', "${P}key:" . 'c' x 64, 'id', 77, 'description', 'by hand',
      'enabled', '1');
($rc, $out) = ctl('key', 'list', '--json');
ok((grep { $_->{id} == 77 } @{ $json->decode($out) }),
   'hand-written key hash is listed');

# --- nick and description: printable UTF-8 only

# C0, DEL, C1 (U+0080..U+009F, also as raw 8-bit bytes) and every kind of
# invalid UTF-8: refused before Redis is contacted
my @bad_text = (
    [ "two\nlines", 'newline' ],
    [ "tab\there", 'tab' ],
    [ "\x01", 'C0 0x01' ],
    [ "x\x1f", 'C0 0x1f' ],
    [ "\e[2J", 'escape sequence' ],
    [ "del\x7f", 'DEL' ],
    [ "\xc2\x80", 'U+0080' ],
    [ "\xc2\x9b" . "31m", 'U+009B (CSI)' ],
    [ "next\xc2\x85line", 'U+0085 (NEL)' ],
    [ "\xc2\x9f", 'U+009F' ],
    [ "raw\x9b" . "31m", 'raw 0x9b' ],
    [ "caf\xe9", 'Latin-1 byte' ],
    [ "\xff", 'byte 0xff' ],
    [ "\xc3", 'truncated sequence' ],
    [ "\xe2\x82", 'truncated 3-byte sequence' ],
    [ "\xc0\xaf", 'overlong "/"' ],
    [ "\xe0\x80\xaf", 'overlong 3-byte' ],
    [ "\xed\xa0\x80", 'UTF-16 surrogate' ],
    [ "\xf4\x90\x80\x80", 'above U+10FFFF' ],
    [ "\x80", 'lone continuation byte' ],
);

$before = snapshot();

for my $case (@bad_text) {
    my ($text, $name) = @$case;

    for my $field ('nick', 'description') {
        my @args = ('--description', 'ok', "--$field", $text);

        ($rc, $out, $err) = ctl('key', 'create', @args);
        is($rc, 1, "--$field with $name: exit 1");
        ok(one_error_line($err), "--$field with $name: one line")
            or diag($err);
        like($err, qr/--$field/, "--$field with $name: names the field");
        is($out, '', "--$field with $name: no output");
    }
}

is_deeply(snapshot(), $before, 'refused text: nothing written, nextid kept');

# printable UTF-8 is kept byte for byte: U+00A0 (just above C1), accents,
# other scripts, emoji
my $text = "Jos\xc3\xa9\xc2\xa0\xe2\x82\xac \xe6\x97\xa5\xf0\x9f\x94\x91 ~";
my ($idu, $toku) = create('--description', $text, '--nick', $text);
my %hu = @{ redis('HGETALL', "${P}key:" . token_digest($toku)) };
is($hu{nick}, $text, 'printable UTF-8 nick stored as given');
is($hu{description}, $text, 'printable UTF-8 description stored as given');

# control characters written by hand are escaped in text output
redis('HSET', "${P}key:" . token_digest($toku), 'description',
      "two\nlines\ttab");
($rc, $out) = ctl('key', 'show', $idu);
like($out, qr/^description: two\\nlines\\ttab$/m,
     'description with control characters is escaped');

done_testing();
