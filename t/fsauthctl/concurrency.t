# fsauthctl writes racing each other: WATCH/MULTI/EXEC with retries keeps
# every key whole (no partial hash, no grant lost, old tokens dead).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use FsauthctlTest;

my $P = require_env(name => 'race');
my $dir = tempdir(CLEANUP => 1);
my $n = 0;

# starts fsauthctl in the background: returns [pid, stdout file]
sub spawn {
    my @args = @_;

    my $out = "$dir/out" . $n++;
    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>', "$out.err" or POSIX::_exit(126);
        exec $ENV{FSAUTHCTL}, '-p', $ENV{TEST_NGINX_REDIS_PORT},
             '--prefix', $P, @args
            or POSIX::_exit(127);
    }

    return [ $pid, $out ];
}

# waits for all: [exit code, stdout, stderr] each
sub reap {
    my @res;

    for my $job (@_) {
        waitpid($job->[0], 0);
        my $rc = $? >> 8;
        local $/;
        open my $fh, '<', $job->[1] or die $!;
        my $out = <$fh>;
        open $fh, '<', "$job->[1].err" or die $!;
        my $err = <$fh>;
        push @res, [ $rc, $out, $err ];
    }

    return @res;
}

sub key_hashes {
    my ($cursor, @keys) = (0);

    do {
        my $r = redis('SCAN', $cursor, 'MATCH', "${P}key:*", 'COUNT', 1000);
        $cursor = $r->[0];
        push @keys, @{ $r->[1] };
    } while ($cursor ne '0');

    my %seen;
    return sort grep { !$seen{$_}++ } @keys;
}

my ($rc, $out) = ctl('key', 'create', '--description', 'raced');
my ($id) = $out =~ /\Aid: (\d+)\n/ or BAIL_OUT('key create failed');

# --- 20 grants and 5 rotations of one key at once

my @jobs;
for my $i (0 .. 19) {
    push @jobs, spawn('access', 'grant', $id, "res$i", '--get');
    push @jobs, spawn('key', 'rotate', $id) if $i % 4 == 0;
}

my @res = reap(@jobs);
is(scalar(grep { $_->[0] != 0 } @res), 0, 'every racing command succeeded')
    or diag(join '', map { $_->[2] } @res);

my @tokens = map { $_->[1] =~ /^token: (\S+)$/m ? $1 : () } @res;
is(scalar @tokens, 5, 'five rotations printed a token');

my @hashes = key_hashes();
is(scalar @hashes, 1, 'exactly one key hash left');

my $d = redis('GET', "${P}keyid:$id");
is($hashes[0], "${P}key:$d", 'keyid points to it');

my @live = grep { token_digest($_) eq $d } @tokens;
is(scalar @live, 1, 'it is the digest of one printed token, others dead');

my %h = @{ redis('HGETALL', "${P}key:$d") };
is(scalar(grep { /^res:res\d+$/ && $h{$_} eq 'get' } keys %h), 20,
   'no grant lost');
is($h{id}, $id, 'id kept');
is($h{description}, 'raced', 'description kept');
is($h{enabled}, '1', 'enabled kept');

# --- checks during rotations: the key never looks missing

@jobs = ();
for my $i (0 .. 19) {
    push @jobs, spawn('access', 'check', $id, 'res7', 'GET');
    push @jobs, spawn('key', 'rotate', $id) if $i % 4 == 0;
}

@res = reap(@jobs);
is(scalar(grep { $_->[1] eq "denied\n" || $_->[0] != 0 } @res), 0,
   'access check is "allowed" while the key rotates');

# --- 20 creates at once: distinct ids, each one whole

@jobs = map { spawn('key', 'create', '--description', "c$_") } 1 .. 20;
@res = reap(@jobs);

is(scalar(grep { $_->[0] != 0 } @res), 0, 'every create succeeded');
my %ids = map { $_->[1] =~ /^id: (\d+)$/m ? ($1 => $_) : () } @res;
is(scalar keys %ids, 20, '20 distinct ids');

my $whole = 0;
for my $cid (keys %ids) {
    my ($tok) = $ids{$cid}[1] =~ /^token: (\S+)$/m;
    my $cd = redis('GET', "${P}keyid:$cid");
    $whole++ if defined $cd && $cd eq token_digest($tok)
                && redis('HGET', "${P}key:$cd", 'id') eq $cid;
}
is($whole, 20, 'each created id maps to its token digest and back');

# --- grants racing a delete: none recreates the key

($rc, $out) = ctl('key', 'create', '--description', 'doomed');
my ($doomed) = $out =~ /\Aid: (\d+)\n/;
my $dd = redis('GET', "${P}keyid:$doomed");

@jobs = map { spawn('access', 'grant', $doomed, "r$_", '--post') } 1 .. 10;
splice @jobs, 5, 0, spawn('key', 'delete', $doomed);
@res = reap(@jobs);

is(scalar(grep { $_->[0] != 0 && $_->[0] != 1 } @res), 0,
   'grants exit 0 (before the delete) or 1 (after)');
is(scalar(grep { $_->[0] == 1 && $_->[2] !~ /no key with id $doomed/ } @res),
   0, 'the failures say the key is gone');
ok(!redis('EXISTS', "${P}key:$dd"), 'no partial hash after the delete');
ok(!redis('EXISTS', "${P}keyid:$doomed"), 'no keyid after the delete');

# --- 20 grants and 5 rotations with a grace at once: the old tokens in
#     their grace follow the key, no grant lost on any of them

($rc, $out) = ctl('key', 'create', '--description', 'graced');
my ($gid) = $out =~ /\Aid: (\d+)\n/;

@jobs = ();
for my $i (0 .. 19) {
    push @jobs, spawn('access', 'grant', $gid, "res$i", '--get');
    push @jobs, spawn('key', 'rotate', $gid, '--grace', '1h') if $i % 4 == 0;
}

@res = reap(@jobs);
is(scalar(grep { $_->[0] != 0 } @res), 0, 'every racing command succeeded')
    or diag(join '', map { $_->[2] } @res);

my @old = map { $_->[1] =~ /^token: (\S+)$/m ? token_digest($1) : () } @res;
my $gd = redis('GET', "${P}keyid:$gid");
my %pending = @{ redis('ZRANGE', "${P}grace:$gid", 0, -1, 'WITHSCORES') };
is(scalar keys %pending, 5, 'five old tokens pending');
ok(!exists $pending{$gd}, 'the current one is not among them');

my $full = 0;
for my $gd2 ($gd, keys %pending) {
    my %g = @{ redis('HGETALL', "${P}key:$gd2") };
    $full++ if 20 == grep { /^res:res\d+$/ && $g{$_} eq 'get' } keys %g;
}
is($full, 6, 'the key and each old token have all 20 grants');

done_testing();
