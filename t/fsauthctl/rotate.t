# fsauthctl key rotate --grace: the old token keeps working, with the
# key's grants, until the grace ends, then Redis deletes it (README, "Key
# rotation").

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);
use FsauthctlTest;

my $P = require_env(name => 'rotate');
my $json = JSON::PP->new->canonical;

my ($rc, $out, $err);
my @tokens;

sub create {
    my ($rc, $out, $err) = ctl('key', 'create', @_);

    is($rc, 0, "key create @_: exit 0") or diag($err);
    my ($id, $tok) = $out =~ /\Aid: (\d+)\ntoken: (\S+)\n\z/;
    push @tokens, $tok;

    return ($id, $tok);
}

# rotate ID ARGS: (new token, "until" as printed, or undef)
sub rotate {
    my ($id, @args) = @_;

    my ($rc, $out, $err) = ctl('key', 'rotate', $id, @args);
    is($rc, 0, "key rotate $id @args: exit 0") or diag($err);

    my ($tok) = $out =~ /^token: (\S+)$/m;
    my ($until) = $out =~ /^old token until: (\S+)$/m;
    push @tokens, $tok;

    return ($tok, $until);
}

sub hash_of { return { @{ redis('HGETALL', "${P}key:" . token_digest($_[0])) } } }
sub ttl_of { return redis('TTL', "${P}key:" . token_digest($_[0])) }
sub iso { return strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $_[0]) }

sub allowed {
    my ($id, $res, $method) = @_;
    my ($rc) = ctl('access', 'check', $id, $res, $method);
    return $rc == 0;
}

# --- rotate --grace: the new token, the old one kept with a TTL

my ($id1, $tok1) = create('--description', 'erp', '--nick', 'alice');
ctl('access', 'grant', $id1, 'clientes', '--get');
my $before = hash_of($tok1);

my $t0 = int(time);
($rc, $out, $err) = ctl('key', 'rotate', $id1, '--grace', '1h');
is($rc, 0, 'rotate --grace 1h: exit 0') or diag($err);
like($out, qr/\Aid: $id1\ntoken: [0-9a-zA-Z]{20}\nold token until: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n\z/,
     'output: id, token, then when the old token ends');
my ($tok1b) = $out =~ /^token: (\S+)$/m;
push @tokens, $tok1b;
my $d1 = token_digest($tok1);
my $d1b = token_digest($tok1b);

is(redis('GET', "${P}keyid:$id1"), $d1b, 'keyid names the new digest');
is_deeply(hash_of($tok1b), $before, 'the new record is the key as it was');

my $old = hash_of($tok1);
my $until = $old->{expires};
ok($until >= $t0 + 3600 && $until <= time + 3600,
   'the old record expires at the end of the grace') or diag($until);
is($out =~ /^old token until: (\S+)$/m && $1, iso($until),
   'the printed end is that second');
ok($old->{rotated} >= $t0 && $old->{rotated} <= time,
   'the old record says when it was rotated');
delete @$old{qw(expires rotated)};
is_deeply($old, $before, 'the old record keeps every field and grant');

my $ttl = ttl_of($tok1);
ok($ttl > 3500 && $ttl <= 3600, 'Redis deletes the old record at the end')
    or diag("TTL $ttl");
is(redis('EXPIRETIME', "${P}key:$d1"), $until,
   'EXPIREAT is the second of its "expires"');
is(redis('TTL', "${P}key:$d1b"), -1, 'the new record has no TTL');

is_deeply(redis('ZRANGE', "${P}grace:$id1", 0, -1, 'WITHSCORES'),
          [ $d1, $until ], 'grace:<id> holds the old digest, by its end');
is(redis('EXPIRETIME', "${P}grace:$id1"), $until,
   'grace:<id> goes with its last end');

# --- key show, key list

($rc, $out) = ctl('key', 'show', $id1);
my $p1 = substr($d1, 0, 8);
like($out, qr/^old tokens:\n  \Q$p1\E\.\.\.: until \Q@{[ iso($until) ]}\E\n\z/m,
     'key show: the old token by digest prefix, with its end');

($rc, $out) = ctl('key', 'show', $id1, '--json');
is_deeply($json->decode($out)->{old_tokens},
          [ { digest => $p1, until => 0 + $until } ],
          'key show --json: old_tokens');

my ($id2, $tok2) = create('--description', 'never rotated');
($rc, $out) = ctl('key', 'show', $id2);
unlike($out, qr/old tokens/, 'key show: no old tokens, no section');
($rc, $out) = ctl('key', 'show', $id2, '--json');
is_deeply($json->decode($out)->{old_tokens}, [],
          'key show --json: an empty old_tokens');

($rc, $out) = ctl('key', 'list', '--json');
is(scalar(grep { $_->{id} == $id1 } @{ $json->decode($out) }), 1,
   'key list: the key once, not its old token');
($rc, $out) = ctl('export');
is(scalar(grep { $_->{id} == $id1 } @{ $json->decode($out)->{api_keys} }),
   1, 'export: the key once');

# --- writes to the key apply to its old token too

ctl('access', 'grant', $id1, 'facturas', '--post');
is(hash_of($tok1)->{'res:facturas'}, 'post', 'grant: the old token too');
ctl('access', 'revoke', $id1, 'clientes');
ok(!exists hash_of($tok1)->{'res:clientes'}, 'revoke: the old token too');
ctl('key', 'full-access', $id1, 'on');
is(hash_of($tok1)->{fullaccess}, '1', 'full-access: the old token too');
ctl('key', 'full-access', $id1, 'off');
is(hash_of($tok1)->{fullaccess}, '0', 'full-access off: the old token too');
ctl('key', 'allow-ips', $id1, '10.0.0.0/8,::1');
is(hash_of($tok1)->{allow_ips}, '10.0.0.0/8,::1',
   'allow-ips: the old token gets the address list too');
ctl('key', 'allow-ips', $id1, 'any');
ok(!exists hash_of($tok1)->{allow_ips}, 'allow-ips any: removed from the old token too');
$ttl = ttl_of($tok1);
ok($ttl > 3500 && $ttl <= 3600, 'the old record keeps its TTL')
    or diag("TTL $ttl");

# an expiry sooner than the grace shortens it; later or never does not
ctl('key', 'expire', $id1, '30m');
my $e30 = hash_of($tok1b)->{expires};
is(hash_of($tok1)->{expires}, $e30, 'expire 30m: the old token ends then');
is(redis('EXPIRETIME', "${P}key:$d1"), $e30, 'and Redis deletes it then');
is(redis('ZSCORE', "${P}grace:$id1", $d1), $e30, 'key show says so');
ctl('key', 'expire', $id1, 'never');
is(hash_of($tok1)->{expires}, $e30, 'expire never: the grace end stays');
ok(!exists hash_of($tok1b)->{expires}, 'and the key never expires');

# a key expiring before the grace would end: the old token ends with it
my ($id3, $tok3) = create('--description', 'expiring', '--expires', '1h');
my $e3 = hash_of($tok3)->{expires};
rotate($id3, '--grace', '1w');
is(hash_of($tok3)->{expires}, $e3, 'rotate --grace 1w of a key expiring in '
                                   . '1h: the old token ends at the expiry');

# --- rotate --json

($rc, $out) = ctl('key', 'rotate', $id2, '--grace', '10m', '--json');
my $j = $json->decode($out);
push @tokens, $j->{token};
like($j->{token}, qr/\A[0-9a-zA-Z]{20}\z/, 'rotate --json: the token');
is($j->{old_token_until}, hash_of($tok2)->{expires},
   'rotate --json: old_token_until, unix seconds');
my $tok2b = $j->{token};

# a second rotation with a grace: both old tokens pending
my ($tok2c) = rotate($id2, '--grace', '20m');
($rc, $out) = ctl('key', 'show', $id2, '--json');
is(scalar @{ $json->decode($out)->{old_tokens} }, 2,
   'two rotations: two old tokens pending');
ok(ttl_of($tok2) > 0 && ttl_of($tok2b) > 0, 'both with a TTL');

# without a grace: every old token ends at once
($rc, $out) = ctl('key', 'rotate', $id2, '--json');
$j = $json->decode($out);
push @tokens, $j->{token};
ok(exists $j->{old_token_until} && !defined $j->{old_token_until},
   'rotate --json without a grace: old_token_until null');
is(redis('EXISTS', map { "${P}key:" . token_digest($_) } $tok2, $tok2b,
         $tok2c), 0, 'rotate without a grace: every old token is gone');
is(redis('EXISTS', "${P}grace:$id2"), 0, 'and grace:<id>');
is(redis('GET', "${P}keyid:$id2"), token_digest($j->{token}),
   'keyid names the newest token');

# --- disable and delete end the grace

my ($id4, $tok4) = create('--description', 'to disable');
rotate($id4, '--grace', '1h');
($rc, $out, $err) = ctl('key', 'disable', $id4);
is($rc, 0, 'key disable: exit 0') or diag($err);
is(redis('EXISTS', "${P}key:" . token_digest($tok4)), 0,
   'key disable: the old token is gone');
is(redis('EXISTS', "${P}grace:$id4"), 0, 'key disable: grace:<id> too');
($rc, $out) = ctl('key', 'show', $id4);
unlike($out, qr/old tokens/, 'key show: nothing pending after disable');
ctl('key', 'enable', $id4);
is(redis('EXISTS', "${P}key:" . token_digest($tok4)), 0,
   'key enable does not bring it back');

my ($id5, $tok5) = create('--description', 'to delete');
rotate($id5, '--grace', '1h');
($rc, $out, $err) = ctl('key', 'delete', $id5);
is($rc, 0, 'key delete: exit 0') or diag($err);
is(redis('EXISTS', "${P}key:" . token_digest($tok5), "${P}grace:$id5"), 0,
   'key delete: the old token and grace:<id> are gone');

# --- the grace ends by itself

my ($id6, $tok6) = create('--description', 'short grace');
ctl('access', 'grant', $id6, 'clientes', '--get');
my ($tok6b) = rotate($id6, '--grace', '2s');
my $end6 = hash_of($tok6)->{expires};
ok(time < $end6, 'in the grace');

my $deadline = $end6 + 3;
sleep 0.05 while redis('EXISTS', "${P}key:" . token_digest($tok6))
                 && time < $deadline;
ok(time >= $end6, 'the old record lives until its end');
is(redis('EXISTS', "${P}key:" . token_digest($tok6)), 0,
   'then Redis deletes it, nothing has to run');
($rc, $out) = ctl('key', 'show', $id6);
unlike($out, qr/old tokens/, 'key show: an ended grace is not listed');
ok(allowed($id6, 'clientes', 'GET'), 'the new token keeps the grants');

# an ended member is dropped at the next rotation
my ($tok6c) = rotate($id6, '--grace', '1h');
is(redis('ZSCORE', "${P}grace:$id6", token_digest($tok6)), undef,
   'the ended member is gone from grace:<id>');
ok(defined redis('ZSCORE', "${P}grace:$id6", token_digest($tok6b)),
   'the new one is there');

# --- refused --grace, before any connection, nothing written

my $snap = snapshot($P, 0);

for my $bad ('30', '0s', '1x', '2027-01-01', '-5m', '') {
    ($rc, $out, $err) = ctl('key', 'rotate', $id1, '--grace', $bad);
    is($rc, 1, "--grace '$bad': usage error, exit 1");
    like($err, qr/--grace/, "--grace '$bad': the message says which");
}

($rc, $out, $err) = run([$ENV{FSAUTHCTL}, '-p', dead_port(), 'key', 'rotate',
                         $id1, '--grace', 'soon']);
is($rc, 1, 'a bad --grace is a usage error even with Redis down');
is_deeply(snapshot($P, 0), $snap, 'a refused --grace wrote nothing');

# --- undone: the new token cannot be printed

my ($id7, $tok7) = create('--description', 'undo');
my $h7 = hash_of($tok7);

for my $how ('pipe', 'full') {
    ($rc, $err) = ctl_broken($how, 'key', 'rotate', $id7, '--grace', '1h');
    is($rc, 1, "rotate --grace, $how: exit 1");
    like($err, qr/rotation undone, the old token works again/,
         "rotate --grace, $how: undone");
    is(redis('GET', "${P}keyid:$id7"), token_digest($tok7),
       "rotate --grace, $how: keyid names the old digest again");
    is_deeply(hash_of($tok7), $h7,
              "rotate --grace, $how: the record as it was");
    is(ttl_of($tok7), -1, "rotate --grace, $how: no TTL left");
    is(redis('ZCARD', "${P}grace:$id7"), 0,
       "rotate --grace, $how: not pending");
}

# --- the audit trail and Redis: never a token

my @entries = map { { @{ $_->[1] } } }
              @{ redis('XRANGE', "${P}audit", '-', '+') };
my @rot = grep { $_->{action} eq 'key.rotate' && $_->{id} == $id1 } @entries;
like($rot[0]{detail}, qr/\Anew token, the old one works until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\z/,
     'audit: key.rotate with the end of the grace');
my @now = grep { $_->{action} eq 'key.rotate' && $_->{id} == $id2 } @entries;
is($now[-1]{detail}, 'new token, the old one ends at once',
   'audit: key.rotate without a grace');

my $dump = $json->encode([ snapshot('', 0), \@entries ]);
my @leaks = grep { index($dump, $_) >= 0 } grep { defined } @tokens;
is(scalar @leaks, 0, 'no token anywhere in Redis or the audit trail');

cleanup();

done_testing();
