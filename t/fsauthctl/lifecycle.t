# fsauthctl key create --expires, key expire, and how key list and key
# show display the expiry (README, "Redis schema" and "fsauthctl").

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX qw(strftime);
use FsauthctlTest;

my $P = require_env(name => 'lifecycle');
my $json = JSON::PP->new;

my ($rc, $out, $err);

sub create {
    my ($rc, $out, $err) = ctl('key', 'create', @_);

    is($rc, 0, "key create @_: exit 0") or diag($err);

    return $out =~ /\Aid: (\d+)\ntoken: (\S+)\n\z/ ? ($1, $2) : ();
}

sub expires_of {
    my ($tok) = @_;

    return redis('HGET', "${P}key:" . token_digest($tok), 'expires');
}

# --- create --expires

my $t0 = time;
my ($id1, $tok1) = create('--description', 'thirty days', '--expires',
                          '30d');
my $e1 = expires_of($tok1);
ok($e1 >= $t0 + 30 * 86400 && $e1 <= time + 30 * 86400,
   '--expires 30d: expires is now + 30 days, in unix seconds')
    or diag("expires $e1");

my ($id2, $tok2) = create('--description', 'a date', '--expires',
                          '2099-12-31');
is(expires_of($tok2), 4102358400, '--expires DATE: 00:00:00 UTC that day');

my ($id3, $tok3) = create('--description', 'a time', '--expires',
                          '2099-12-31T23:59:59Z');
is(expires_of($tok3), 4102444799, '--expires DATE-TIME: UTC');

my ($id4, $tok4) = create('--description', 'forever');
is(expires_of($tok4), undef, 'no --expires: no field');

my ($id5, $tok5) = create('--description', 'mixed', '--expires', '1w2d3h');
my $e5 = expires_of($tok5);
my $d5 = 7 * 86400 + 2 * 86400 + 3 * 3600;
ok($e5 >= $t0 + $d5 && $e5 <= time + $d5, '--expires 1w2d3h adds up');

# refused before any connection, nothing written
my $keys_before = scalar keys %{ snapshot($P, 0) };

for my $bad ('30', '2023-02-29', '2024-13-01', '2024-1-01', ' 2024-01-01',
             '2099-12-31T24:00:00Z', '2099-12-31T12:00:00', '0d', 'd',
             '5x', '-5d', '+5d', '2000-01-01', '1d-', '')
{
    ($rc, $out, $err) = ctl('key', 'create', '--description', 'x',
                            '--expires', $bad);
    is($rc, 1, "--expires '$bad': usage error, exit 1");
    like($err, qr/--expires/, "--expires '$bad': the message says which");
}

is(scalar keys %{ snapshot($P, 0) }, $keys_before,
   'refused --expires wrote nothing');

($rc, $out, $err) = run([$ENV{FSAUTHCTL}, '-p', dead_port(), 'key', 'create',
                         '--description', 'x', '--expires', 'soon']);
is($rc, 1, 'a bad --expires is a usage error even with Redis down');

# --- key expire

($rc, $out, $err) = ctl('key', 'expire', $id4, '2099-01-01');
is($rc, 0, 'key expire DATE: exit 0') or diag($err);
is($out, "key $id4: expires 2099-01-01T00:00:00Z\n", 'key expire output');
is(expires_of($tok4), 4070908800, 'key expire wrote the field');

($rc, $out) = ctl('key', 'expire', $id4, '2h');
my $e4 = expires_of($tok4);
ok($e4 >= $t0 + 7200 && $e4 <= time + 7200, 'key expire DURATION');
like($out, qr/\Akey $id4: expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n\z/,
     'key expire DURATION output shows the time');

($rc, $out) = ctl('key', 'expire', $id4, 'never');
is($rc, 0, 'key expire never: exit 0');
is($out, "key $id4: never expires\n", 'key expire never output');
is(expires_of($tok4), undef, 'never: the field is gone');

($rc, $out) = ctl('key', 'expire', $id4, 'never');
is($rc, 0, 'never again: nothing to delete, still exit 0');

# a time past is accepted by "key expire" (refused at once), not by create
($rc, $out) = ctl('key', 'expire', $id4, '2001-01-01');
is($rc, 0, 'key expire with a past date: exit 0');
is(expires_of($tok4), 978307200, 'past date written');

($rc, $out, $err) = ctl('key', 'expire', $id4, 'tomorrow');
is($rc, 1, 'key expire with a bad WHEN: exit 1');
like($err, qr/invalid expiry "tomorrow"/, 'the message names it');
is(expires_of($tok4), 978307200, 'nothing written');

($rc, $out, $err) = ctl('key', 'expire', 999, '1d');
is($rc, 1, 'key expire of an unknown id: exit 1');
like($err, qr/no key with id 999/, 'unknown id said');

($rc, $out, $err) = ctl('key', 'expire', $id4);
is($rc, 1, 'key expire without WHEN: usage error');

# --- display

($rc, $out) = ctl('key', 'show', $id2);
like($out, qr/^expires: 2099-12-31T00:00:00Z$/m, 'key show: expires, UTC');

($rc, $out) = ctl('key', 'show', $id5);
my $iso5 = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $e5);
like($out, qr/^expires: \Q$iso5\E$/m, 'key show: the expiry as written');

redis('HDEL', "${P}key:" . token_digest($tok4), 'expires');
($rc, $out) = ctl('key', 'show', $id4);
like($out, qr/^expires: never$/m, 'key show: never');

($rc, $out) = ctl('key', 'list');
like($out, qr/^\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+EXPIRES\s/m,
     'key list: an EXPIRES column');
like($out, qr/^$id2\s+yes\s+no\s+\S+\s+2099-12-31T00:00:00Z\s+a date$/m,
     'key list: the expiry of key 2');
like($out, qr/^$id4\s+yes\s+no\s+\S+\s+forever$/m,
     'key list: blank for a key that never expires');

($rc, $out) = ctl('key', 'list', '--json');
my %byid = map { $_->{id} => $_ } @{ $json->decode($out) };
is($byid{$id2}{expires}, 4102358400, 'key list --json: expires, a number');
ok(exists $byid{$id4}{expires} && !defined $byid{$id4}{expires},
   'key list --json: null when it never expires');

($rc, $out) = ctl('key', 'show', $id3, '--json');
is($json->decode($out)->{expires}, 4102444799, 'key show --json: expires');

# the expiry survives a rotation (the record is renamed, not rewritten)
($rc, $out) = ctl('key', 'rotate', $id2);
my ($new2) = $out =~ /^token: (\S+)$/m;
is(expires_of($new2), 4102358400, 'rotate keeps expires');

# --- access check decides as the module does

($rc) = ctl('key', 'full-access', $id1, 'on');
($rc) = ctl('access', 'check', $id1, 'clientes', 'GET');
is($rc, 0, 'access check: a key not yet expired is allowed');

my $h1 = "${P}key:" . token_digest($tok1);

for my $case ([ time - 1, 'reached' ], [ 'soon', 'malformed' ],
              [ '0', 'zero' ])
{
    redis('HSET', $h1, 'expires', $case->[0]);
    ($rc) = ctl('access', 'check', $id1, 'clientes', 'GET');
    is($rc, 1, "access check: an expires $case->[1] is denied");
    ($rc) = ctl('access', 'check', $id1, '', 'GET');
    is($rc, 1, "access check: the listing too ($case->[1])");
}

cleanup();

done_testing();
