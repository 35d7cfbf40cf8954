# fsauthctl key allow-ips: the list checked with the module's parser
# before anything is written (a bad entry named, nothing written, no
# audit entry), stored as given, "any" removing it; its audit entry and
# --json; how key show and key list display it; access check denying a
# malformed list as the module does (README, "Per-key address lists" and
# "fsauthctl").

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use FsauthctlTest;

my $P = require_env(name => 'allowips');
my $json = JSON::PP->new;

my ($rc, $out, $err);

sub ips_of {
    my ($tok) = @_;

    return redis('HGET', "${P}key:" . token_digest($tok), 'allow_ips');
}

sub audit_len {
    return redis('XLEN', "${P}audit");
}

sub last_audit {
    my $r = redis('XRANGE', "${P}audit", '-', '+');

    return { @{ $r->[-1][1] } };
}

# two keys: id and token of each
my ($id1, $tok1, $id2, $tok2) = map {
    (ctl('key', 'create', '--description', @$_))[1]
        =~ /\Aid: (\d+)\ntoken: (\S+)\n\z/
} ['office only'], ['anywhere', '--nick', 'bob'];
ok($tok1 && $tok2, 'two keys created');

# --- set, as given

my $n = audit_len();
($rc, $out, $err) = ctl('key', 'allow-ips', $id1,
                        '10.0.0.0/8,192.0.2.7,2001:db8::/32');
is($rc, 0, 'key allow-ips: exit 0') or diag($err);
is($out, "key $id1: allow_ips 10.0.0.0/8,192.0.2.7,2001:db8::/32\n",
   'key allow-ips: output');
is(ips_of($tok1), '10.0.0.0/8,192.0.2.7,2001:db8::/32',
   'the field holds the list as given');
is(audit_len(), $n + 1, 'one audit entry');
my $e = last_audit();
is($e->{action}, 'key.allow-ips', 'audit action key.allow-ips');
is($e->{id}, $id1, 'audit id');
is($e->{detail}, '10.0.0.0/8,192.0.2.7,2001:db8::/32',
   'audit detail: the list');

($rc, $out) = ctl('key', 'allow-ips', $id1, '2001:DB8:0:0::/64,::1',
                  '--json');
is($rc, 0, 'key allow-ips --json: exit 0');
is_deeply($json->decode($out),
          { id => $id1, allow_ips => [ '2001:DB8:0:0::/64', '::1' ] },
          'key allow-ips --json: the entries as an array');
is(ips_of($tok1), '2001:DB8:0:0::/64,::1', 'not rewritten: stored as given');

my @eight = map { "10.$_.0.0/16" } 1 .. 8;
($rc) = ctl('key', 'allow-ips', $id1, join(',', @eight));
is($rc, 0, 'eight entries: accepted');

# --- refused before anything is written

my %bad = (
    '10.0.0.1/8'              => '"10.0.0.1/8"',
    '10.0.0.0/8,example.com'  => '"example.com"',
    '10.0.0.0/8,'             => '""',
    '10.0.0.0/8, 192.0.2.7'   => '" 192.0.2.7"',
    '10.0.0.0/33'             => '"10.0.0.0/33"',
    '10.0.0.0/08'             => '"10.0.0.0/08"',
    '256.0.0.1'               => '"256.0.0.1"',
    '1:2:3:4:5:6:7:8::'       => '"1:2:3:4:5:6:7:8::"',
    'fe80::1%eth0'            => '"fe80::1%eth0"',
    join(',', @eight, '10.9.0.0/16') => 'more than 8 entries',
    ''                        => 'an empty list',
);

my $before = snapshot();
$n = audit_len();

for my $list (sort keys %bad) {
    ($rc, $out, $err) = ctl('key', 'allow-ips', $id1, $list);
    is($rc, 1, "'$list': exit 1");
    ok(one_error_line($err), "'$list': one line on stderr") or diag($err);
    like($err, qr/\Q$bad{$list}\E/, "'$list': the message names the entry")
        or diag($err);
    is($out, '', "'$list': nothing on stdout");
}

is_deeply(snapshot(), $before, 'a refused list wrote nothing');
is(audit_len(), $n, 'and added no audit entry');

($rc, $out, $err) = ctl_as([ '-p', dead_port() ], 'key', 'allow-ips', 1,
                           '10.0.0.1/8');
is($rc, 1, 'a bad list is a usage error even with Redis down');

($rc, $out, $err) = ctl('key', 'allow-ips', 999, '10.0.0.0/8');
is($rc, 1, 'an unknown id: exit 1');
like($err, qr/no key with id 999/, 'an unknown id: said');

# --- display

($rc, $out) = ctl('key', 'allow-ips', $id1, '10.0.0.0/8,192.0.2.7');

($rc, $out) = ctl('key', 'show', $id1);
like($out, qr/^allow_ips: 10\.0\.0\.0\/8,192\.0\.2\.7$/m,
     'key show: the list');
($rc, $out) = ctl('key', 'show', $id2);
like($out, qr/^allow_ips: any$/m, 'key show: any, without a list');

($rc, $out) = ctl('key', 'show', $id1, '--json');
is_deeply($json->decode($out)->{allow_ips}, [ '10.0.0.0/8', '192.0.2.7' ],
          'key show --json: an array');
($rc, $out) = ctl('key', 'show', $id2, '--json');
my $k2 = $json->decode($out);
ok(exists $k2->{allow_ips} && !defined $k2->{allow_ips},
   'key show --json: null without a list');

($rc, $out) = ctl('key', 'list');
like($out, qr/^ID\s+NICK\s+ENABLED\s+FULLACCESS\s+CREATED\s+EXPIRES\s+
              ALLOW_IPS\s+LASTACTIVITY/mx, 'key list: an ALLOW_IPS column');
like($out, qr/^$id1\s+yes\s+no\s+\S+\s+10\.0\.0\.0\/8,192\.0\.2\.7\s+
              office\ only$/mx, 'key list: the list of key 1');
like($out, qr/^$id2\s+bob\s+yes\s+no\s+\S+\s+anywhere$/m,
     'key list: blank without a list');

($rc, $out) = ctl('key', 'list', '--json');
my %byid = map { $_->{id} => $_ } @{ $json->decode($out) };
is_deeply($byid{$id1}{allow_ips}, [ '10.0.0.0/8', '192.0.2.7' ],
          'key list --json: an array');
ok(exists $byid{$id2}{allow_ips} && !defined $byid{$id2}{allow_ips},
   'key list --json: null without a list');

# a list written by hand that the module refuses is shown as such
my $h1 = "${P}key:" . token_digest($tok1);
redis('HSET', $h1, 'allow_ips', "10.0.0.0/8,bad\e[2J");
($rc, $out) = ctl('key', 'show', $id1);
like($out, qr/^allow_ips:\ 10\.0\.0\.0\/8,bad\\x1b\[2J
              \ \(malformed:\ the\ key\ is\ refused\)$/mx,
     'key show: a malformed list escaped and flagged');

# --- access check: a malformed list denies, a well-formed one does not

($rc) = ctl('key', 'full-access', $id1, 'on');
($rc) = ctl('access', 'check', $id1, 'clientes', 'GET');
is($rc, 1, 'access check: a malformed allow_ips is denied');
($rc) = ctl('access', 'check', $id1, '', 'GET');
is($rc, 1, 'access check: the listing too');

redis('HSET', $h1, 'allow_ips', '192.0.2.0/24');
($rc) = ctl('access', 'check', $id1, 'clientes', 'GET');
is($rc, 0, 'access check: a well-formed list is taken as holding the client');

redis('HSET', $h1, 'allow_ips', '');
($rc) = ctl('access', 'check', $id1, 'clientes', 'GET');
is($rc, 0, 'access check: an empty list is no list');

# --- any: removes the field; again: nothing to remove, still exit 0

redis('HSET', $h1, 'allow_ips', '10.0.0.0/8');
$n = audit_len();
($rc, $out) = ctl('key', 'allow-ips', $id1, 'any');
is($rc, 0, 'key allow-ips any: exit 0');
is($out, "key $id1: any address\n", 'key allow-ips any: output');
is(ips_of($tok1), undef, 'any: the field is gone');
is(audit_len(), $n + 1, 'any: one audit entry');
is(last_audit()->{detail}, 'any', 'any: audit detail');

($rc, $out) = ctl('key', 'allow-ips', $id1, 'any', '--json');
is($rc, 0, 'any again: exit 0');
is_deeply($json->decode($out), { id => $id1, allow_ips => undef },
          'any --json: null');

# --- the list survives a rotation (the record is renamed, not rewritten)

ctl('key', 'allow-ips', $id2, '127.0.0.1');
($rc, $out) = ctl('key', 'rotate', $id2);
my ($new2) = $out =~ /^token: (\S+)$/m;
is(ips_of($new2), '127.0.0.1', 'rotate keeps allow_ips');

cleanup();

done_testing();
