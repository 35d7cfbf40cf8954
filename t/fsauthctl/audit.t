# fsauthctl's audit trail: every write adds exactly one entry to the stream
# <prefix>audit in its own transaction, reads add none, a write that fails
# adds none, no entry holds a token or a digest; "fsauthctl audit" reads it
# (README, "Audit trail").

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use File::Temp qw(tempfile);
use FsauthctlTest;

my $P = require_env(name => 'audit');
my $json = JSON::PP->new;
my $A = "${P}audit";

my ($rc, $out, $err);
my @tokens;

# the entries as { time, actor, action, id, detail } hashes, oldest first
sub entries {
    my $r = redis('XRANGE', $A, '-', '+');

    return [ map { { @{ $_->[1] } } } @{ $r || [] } ];
}

sub xlen {
    return redis('XLEN', $A);
}

# one write: exit 0 and exactly one new entry with this action and id
sub one_entry {
    my ($args, $action, $id, $detail) = @_;

    my $before = xlen();
    my ($rc, $out, $err) = ctl(@$args);

    is($rc, 0, "@$args: exit 0") or diag($err);
    is(xlen(), $before + 1, "@$args: exactly one audit entry");

    my $e = entries()->[-1];
    is($e->{action}, $action, "@$args: action $action");
    is($e->{id}, $id, "@$args: id \"$id\"");
    like($e->{detail}, $detail, "@$args: detail") if $detail;
    like($e->{time}, qr/\A\d+\z/, "@$args: time is unix seconds");
    ok(abs($e->{time} - time) < 60, "@$args: time is now");
    like($e->{actor}, qr/\A[^@\s]+\@\S+\z/, "@$args: actor is user\@host")
        unless $args->[0] eq '--actor';
    is_deeply([ sort keys %$e ], [qw(action actor detail id time)],
              "@$args: the five fields, nothing else");

    return $out;
}

# a command that must not write
sub no_entry {
    my ($args, $want_rc) = @_;

    my $before = xlen();
    my ($rc, $out, $err) = ctl(@$args);

    is($rc, $want_rc, "@$args: exit $want_rc") or diag($err);
    is(xlen(), $before, "@$args: no audit entry");
}

# --- each write, one entry

my $out1 = one_entry([qw(key create --description), 'ERP sync', '--nick',
                      'alice'], 'key.create', 1, qr/description "ERP sync"/);
push @tokens, $out1 =~ /^token: (\S+)$/m;

my $out2 = one_entry([qw(key create --description two --json)],
                     'key.create', 2, qr/fullaccess off/);
push @tokens, $json->decode($out2)->{token};

one_entry([qw(key disable 1)], 'key.disable', 1);
one_entry([qw(key enable 1)], 'key.enable', 1);
one_entry([qw(key full-access 2 on)], 'key.full-access', 2, qr/\Aon\z/);

# key expire: one entry each way, the time in the detail, never a secret
my $exp_before = xlen();
one_entry([qw(key expire 2 2027-01-31)], 'key.expire', 2,
          qr/\A2027-01-31T00:00:00Z\z/);
is(xlen(), $exp_before + 1, 'key expire: exactly one entry in all');
one_entry([qw(key expire 2 never --json)], 'key.expire', 2, qr/\Anever\z/);
my $cx = one_entry([qw(key create --description expiring --expires 30d)],
                   'key.create', 3, qr/, expires \d{10}\z/);
push @tokens, $cx =~ /^token: (\S+)$/m;
one_entry([qw(access grant 1 clientes --get --post)], 'access.grant', 1,
          qr/\Aclientes: get,post\z/);
one_entry([qw(access revoke 1 clientes)], 'access.revoke', 1,
          qr/\Aclientes\z/);

my $rot = one_entry([qw(key rotate 1)], 'key.rotate', 1);
push @tokens, $rot =~ /^token: (\S+)$/m;

one_entry([qw(api disable)], 'api.disable', '');
one_entry([qw(api enable)], 'api.enable', '');
one_entry([qw(key delete 2)], 'key.delete', 2);

# import: one entry per transaction, here one key (ids below nextid)
my $imp_token = 'ImportedToken0123456';
push @tokens, $imp_token;
my ($fh, $file) = tempfile(UNLINK => 1);
print $fh $json->encode({
    api_keys => [ { id => 1, apikey => $imp_token, description => 'imp' } ],
    api_access => [ { idapikey => 1, resource => 'r', allowget => 1 } ],
});
close $fh;

one_entry(['import', $file], 'import', 1, qr/\Akey replaced, 1 grant\z/);

# an id above nextid: the raise of nextid is a transaction of its own
my $before = xlen();
($rc, $out, $err) = ctl('import', '-', { stdin => $json->encode({
    api_keys => [ { id => 9, apikey => 'AnotherImported01234',
                    description => 'nine' } ] }) });
push @tokens, 'AnotherImported01234';
is($rc, 0, 'import of id 9: exit 0') or diag($err);
is(xlen(), $before + 2, 'import of id 9: two transactions, two entries');
my @last = @{ entries() }[-2, -1];
is($last[0]{detail}, 'nextid raised to 9', 'first the raise of nextid');
is_deeply([ $last[1]{action}, $last[1]{id} ], [ 'import', 9 ],
          'then the key');

# --- reads and refusals write nothing

no_entry([qw(key list)], 0);
no_entry([qw(key show 1 --json)], 0);
no_entry([qw(access list 1)], 0);
no_entry([qw(access check 1 r GET)], 0);
no_entry([qw(api status)], 0);
no_entry([qw(export)], 0);
no_entry([qw(audit)], 0);
no_entry([qw(key enable 77)], 1);
no_entry([qw(access revoke 1 nothing-here)], 1);
no_entry([qw(key create)], 1);
no_entry([qw(key expire 77 90d)], 1);
no_entry([qw(key expire 1 tomorrow)], 1);

# --- --actor

one_entry([qw(--actor), 'deploy bot', qw(key disable 9)], 'key.disable', 9);
is(entries()->[-1]{actor}, 'deploy bot', '--actor names the actor');

($rc, $out, $err) = ctl('--actor', "bad\x01", qw(key enable 9));
is($rc, 1, '--actor with a control character: exit 1');
ok(one_error_line($err), '... one error line');

# --- a failed write leaves no entry

# the rollback of "key create" whose token cannot be printed is a write
# of its own: created, then deleted again
$before = xlen();
my ($brc, $berr) = ctl_broken('full', qw(key create --description lost));
is($brc, 1, 'key create to /dev/full: exit 1');
is(xlen(), $before + 2, 'create and its rollback: two entries');
is(entries()->[-1]{action}, 'key.delete', 'the rollback is a key.delete');
like(entries()->[-1]{detail}, qr/undone/, '... that says it undoes');

# a record that is not a hash: the write fails before MULTI
my $digest = redis('GET', "${P}keyid:1");
my %saved = @{ redis('HGETALL', "${P}key:$digest") };
ok(%saved, 'key 1 has its record');
redis('DEL', "${P}key:$digest");
redis('SET', "${P}key:$digest", 'garbage');
no_entry([qw(key disable 1)], 1);
redis('DEL', "${P}key:$digest");
redis('HSET', "${P}key:$digest", %saved);

# an audit key that is not a stream: nothing written at all
my $snap = snapshot();
redis('RENAME', $A, "${P}audit_saved");
redis('SET', $A, 'not a stream');
my $snap2 = snapshot();
($rc, $out, $err) = ctl(qw(key create --description nope));
is($rc, 1, 'audit key not a stream: exit 1');
ok(one_error_line($err), '... one error line') or diag($err);
is_deeply(snapshot(), $snap2, '... and nothing written, nextid kept');
redis('DEL', $A);
redis('RENAME', "${P}audit_saved", $A);

# WATCH conflicts: concurrent writers on one key retry; only the committed
# attempts leave entries, so N writes leave N entries
$before = xlen();
my $n = 12;
my @pids;
for my $i (1 .. $n) {
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my ($rc) = ctl('access', 'grant', 1, "res$i", '--get');
        exec('/bin/sh', '-c', "exit $rc");
    }
    push @pids, $pid;
}
my $failed = 0;
for my $pid (@pids) {
    waitpid($pid, 0);
    $failed++ if $?;
}
is($failed, 0, "$n concurrent grants on one key: all succeed");
is(xlen(), $before + $n, "$n concurrent grants: exactly $n entries");
my %res = map { $_->{detail} => 1 }
          grep { $_->{action} eq 'access.grant' } @{ entries() }[-$n .. -1];
is(scalar(keys %res), $n, '... one per grant');

# --- no secret material in any entry

my $dump = $json->canonical->encode(entries());
for my $t (@tokens) {
    unlike($dump, qr/\Q$t\E/, "token $t is in no entry");
}
unlike($dump, qr/[0-9a-f]{64}/i, 'no 64-hex digest in any entry');

# --- fsauthctl audit

($rc, $out, $err) = ctl(qw(audit --json));
is($rc, 0, 'audit --json: exit 0') or diag($err);
my $arr = $json->decode($out);
is(scalar(@$arr), xlen(), 'audit --json: every entry');
is($arr->[0]{action}, 'key.create', 'oldest first');
is($arr->[0]{id}, 1, 'id is a number');
ok(JSON::PP::is_bool($arr->[0]{id}) ? 0 : 1, 'id is not a boolean');
my ($api) = grep { $_->{action} eq 'api.enable' } @$arr;
ok(!defined $api->{id}, 'id is null for api.enable');

($rc, $out, $err) = ctl('audit');
is($rc, 0, 'audit: exit 0');
like($out, qr/\ATIME\s+ACTOR\s+ACTION\s+ID\s+DETAIL\n/, 'a table');
like($out, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\S+\s+key\.create\s+1\s/m,
     'rows with an ISO time');

# --since: every form; a future time selects nothing
for my $since (time - 3600, '1h', '90s', '2d', '1w', '2000-01-01',
               '2000-01-01T00:00', '2000-01-01T00:00:00Z')
{
    ($rc, $out) = ctl('audit', '--json', '--since', $since);
    is($rc, 0, "--since $since: exit 0");
    is(scalar(@{ $json->decode($out) }), xlen(), "--since $since: all");
}

for my $since (time + 3600, '2999-01-01') {
    ($rc, $out) = ctl('audit', '--json', '--since', $since);
    is_deeply($json->decode($out), [], "--since $since: nothing");
}

# entries before the cut are left out
my $cut = $arr->[-1]{time} + 1;
($rc, $out) = ctl('audit', '--json', '--since', $cut);
is_deeply($json->decode($out), [], '--since after the last entry: nothing');

# --since goes by the time an entry shows, which fsauthctl takes just
# before EXEC gives the entry its id: one a second older than its id (a
# second boundary in between) is not shown after that second
my $now = time;
redis('XADD', $A, '*', time => $now - 100, actor => 'old@test',
      action => 'key.enable', id => 1, detail => '');
my $old = sub { [ grep { $_->{actor} eq 'old@test' }
                  @{ $json->decode($_[0]) } ] };
($rc, $out) = ctl('audit', '--json', '--since', $now - 50);
is_deeply($old->($out), [],
          '--since: an entry whose time is before it is left out');
($rc, $out) = ctl('audit', '--json', '--since', $now - 100);
is(scalar(@{ $old->($out) }), 1, '--since: at its time, shown');

for my $bad ('', 'x', '1y', '2023-02-29', '2024-01-01T25:00', '-5',
             '2024-01-01T10:00junk')
{
    ($rc, $out, $err) = ctl('audit', '--since', $bad);
    is($rc, 1, "--since '$bad': exit 1");
    ok(one_error_line($err), "--since '$bad': one error line");
    is($out, '', "--since '$bad': nothing on stdout");
}

done_testing();
