# fsauth_redis sentinel=: a primary, two replicas and three sentinels on
# loopback (down-after-milliseconds 1000).  Discovery past a sentinel
# that is down; a fake sentinel that names a replica is caught by ROLE;
# three failovers in a row (SIGKILL of the primary) under requests:
# cached keys keep working, no request waits longer than the timeout,
# uncached keys work again within 1 s of +switch-master, a key disabled
# with "fsauthctl --sentinel" after the failover is refused on every
# worker within 100 ms; no worker crashes, no fd leaks; fsauthctl
# --sentinel with no sentinel up exits 2.  Then read=replica: lookups and
# the invalidation channels on the replicas, the kill switch and activity
# on the primary, changes on both workers within 100 ms, before and after
# a failover, and everything on the primary with both replicas killed; a
# fake sentinel that reports a detached replica healthy is caught by ROLE.
# Last, two nginx instances standing for two gateway nodes, each with
# prefer_replica= its own replica: lookups and invalidations there, a
# change refused by the four workers within 100 ms, the ban per node, and
# a node whose replica dies reading the other one, then its own again.
# And a sentinel with requirepass: sentinel_password_file= and
# fsauthctl --sentinel-password-file AUTH to it, nothing else does; one
# with an ACL user: sentinel_user= and --sentinel-user as well.
# Plain Test::More: private servers killed and restarted under nginx.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use FsauthTest;
use FsauthNginx;
use FsauthSentinel;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $tmp = tempdir(CLEANUP => 1);
my $p = 't019:';
my $ctl = $ENV{FSAUTHCTL} // 'build/fsauthctl';

my $set = FsauthSentinel->new(master => 'fsm', replicas => 2,
                              sentinels => 3);
$set->wait_ready(2);

my $dead = free_port();
my $list = join ',', map { "127.0.0.1:$_" } $dead, $set->sentinels;
my $timeout = 300;

my $location = <<'_EOC_';
        location /api/ {
            fsauth on;
            add_header X-Pid $pid always;
            add_header X-Fsauth $fsauth_status always;
            add_header X-Cache $fsauth_cache_status always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
        location /closed/ {
            fsauth on;
            fsauth_failure_mode closed;
            add_header X-Pid $pid always;
            add_header X-Fsauth $fsauth_status always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub get {
    my ($n, $token, $path) = @_;
    my ($st, $head, undef, $secs) = http_raw($n->port,
        'GET ' . ($path // '/api/3/clientes')
        . " HTTP/1.0\r\nHost: x\r\nX-Auth-Token: $token\r\n\r\n", 3);
    my ($pid) = $head =~ /^X-Pid: (\d+)/mi;
    my ($cache) = $head =~ /^X-Cache: (\S+)/mi;
    return ($st, $pid // 0, $secs, $cache // '');
}

my $next_id = 100;

sub new_key {
    my $id = $next_id++;
    my $tok = sprintf 'tok-t019-%07d', $id;
    add_key(port => $set->primary, prefix => $p, token => $tok, id => $id,
            grants => { clientes => 'get' });
    return ($tok, $id);
}

# the time of the first +switch-master any sentinel announced after $since
sub switch_time {
    my ($file, $since) = @_;
    open my $fh, '<', $file or return;
    my ($first) = sort { $a <=> $b } grep { $_ > $since }
                  map { (split ' ')[0] } <$fh>;
    return $first;
}

sub fds {
    my (@pids) = @_;
    my $n = 0;
    for my $pid (@pids) {
        opendir my $d, "/proc/$pid/fd" or next;
        $n += grep { /^\d+$/ } readdir $d;
    }
    return $n;
}

# 1. a fake sentinel that names a replica: ROLE catches it
{
    my ($replica) = $set->replicas;
    my ($liar) = FsauthSentinel::fake_sentinel($replica);
    my ($tok) = new_key();
    $set->wait_replicas(2);

    my $n = FsauthNginx->start(
        workers => 1,
        http => "    fsauth_redis sentinel=127.0.0.1:$liar master=fsm "
              . "prefix=$p timeout=${timeout}ms;\n    fsauth_ban off;",
        server => $location);
    my %st;
    my $t0 = time;
    while (time - $t0 < 1.2) {
        my ($st) = get($n, $tok, '/closed/3/clientes');
        $st{$st}++;
        sleep 0.05;
    }
    is_deeply([keys %st], [503],
              'only a lying sentinel: the replica it names is never used')
        or diag(explain(\%st));
    like($n->error_log,
         qr/sentinel 127\.0\.0\.1:$liar named 127\.0\.0\.1:$replica as the primary of "fsm", but its role is "slave"/,
         'and the error log says why');
    $n->stop;

    # the liar first, a true sentinel next: the true one is used
    $n = FsauthNginx->start(
        workers => 1,
        http => "    fsauth_redis sentinel=127.0.0.1:$liar,127.0.0.1:"
              . ($set->sentinels)[0] . " master=fsm prefix=$p "
              . "timeout=${timeout}ms;\n    fsauth_ban off;",
        server => $location);
    ok(poll_until(sub { (get($n, $tok, '/closed/3/clientes'))[0] == 200 }),
       'a lying sentinel first, a true one next: lookups work');
    like($n->error_log, qr/its role is "slave"/, 'after the lie was caught');
    $n->stop;

    # fsauthctl checks ROLE as well
    my $out = `$ctl --sentinel 127.0.0.1:$liar --master fsm --prefix $p key list 2>&1`;
    is($? >> 8, 2, 'fsauthctl --sentinel, only a lying sentinel: exit 2');
    like($out, qr/\Afsauthctl: no sentinel named the primary of "fsm" \(last: sentinel 127\.0\.0\.1:$liar named 127\.0\.0\.1:$replica, whose role is "slave"\)\n\z/,
         'and one line: the node named is a replica')
        or diag($out);
    $out = `$ctl --sentinel 127.0.0.1:$liar,127.0.0.1:${\ ($set->sentinels)[0]} --master fsm --prefix $p key list 2>&1`;
    is($?, 0, 'a lying sentinel first, a true one next: fsauthctl works')
        or diag($out);
}

# 2. discovery with the first sentinel down, two workers
my ($tok_a, $id_a) = new_key();
my ($tok_b) = new_key();
my @probe = map { [new_key()] } 1 .. 12;
$set->wait_replicas(2);

my $n = FsauthNginx->start(
    workers => 2,
    http => "    fsauth_redis sentinel=$list master=fsm prefix=$p "
          . "timeout=${timeout}ms connect_timeout=${timeout}ms;\n"
          . "    fsauth_cache zone=t019:1m ttl=1h stale=1h;\n"
          . "    fsauth_ban off;",
    server => $location);

my %seen;
for (1 .. 400) {
    my ($st, $pid, undef, $cache) = get($n, $tok_a);
    $seen{$pid}{$st}++;
    $seen{$pid}{hit}++ if $cache eq 'HIT';
    last if keys %seen == 2 && !grep { ($_->{hit} // 0) < 2 } values %seen;
}
is(scalar(keys %seen), 2, 'both workers answered');
ok(!grep({ keys(%$_) != 2 || !$_->{200} } values %seen),
   'through sentinel=, the first one down: every answer is 200')
    or diag(explain(\%seen));
like($n->error_log, qr/names 127\.0\.0\.1:${\ $set->primary} as the primary of "fsm"/,
     'the primary is the one the sentinels name');

my @workers = sort $n->worker_pids;
my $fds_before = fds(@workers);

# 3. three failovers in a row
my $switches = "$tmp/switches";
$set->watch_switch($switches);

my (@recovery, @slow, @cached_bad);
for my $round (1 .. 3) {
    my $probe = shift @probe;
    my $old = $set->kill_primary;
    my $t_kill = time;
    my ($t_ok, $t_switch);

    while (time - $t_kill < 15) {
        my ($st, undef, $secs) = get($n, $tok_a);
        push @cached_bad, "$round: $st" if $st != 200;
        push @slow, sprintf('%d: cached %.3f', $round, $secs)
            if $secs > ($timeout + 150) / 1000;

        ($st, undef, $secs) = get($n, $probe->[0], '/closed/3/clientes');
        push @slow, sprintf('%d: lookup %.3f', $round, $secs)
            if $secs > ($timeout + 150) / 1000;

        my $t_st = time;
        $t_switch //= switch_time($switches, $t_kill);

        if ($st == 200) {

            # the watcher may write down the switch a little later
            poll_until(sub {
                $t_switch //= switch_time($switches, $t_kill);
            }) unless defined $t_switch;

            if (defined $t_switch) {
                $t_ok = $t_st;
                last;
            }

            # a lookup that worked without a failover: a fresh key
            $probe = shift @probe;
        }

        sleep 0.02;
    }

    ok(defined $t_switch && defined $t_ok,
       "failover $round: +switch-master heard, lookups work again")
        or diag($set->logs);
    push @recovery, $t_ok - $t_switch if defined $t_ok && defined $t_switch;
    diag(sprintf 'failover %d: +switch-master %.2f s after the kill, '
         . 'uncached lookups %.3f s after it', $round,
         ($t_switch // 0) - $t_kill, ($t_ok // 0) - ($t_switch // 0));

    my $new = $set->settle_failover($old);
    last unless defined $t_ok;

    if ($round == 1) {

        # a key disabled after the failover, on the new primary
        sleep 0.3;
        disable_timed($n, $id_a, $tok_a, 'after failover 1');
        is(redis_at($new, 'HGET', "${p}key:" . digest($tok_a), 'enabled'), '0',
           'written on the new primary');
        $tok_a = $tok_b;
        get($n, $tok_a) for 1 .. 4;
    }

    $set->wait_ready(2);
}

is_deeply(\@cached_bad, [], 'cached keys answered 200 throughout')
    or diag($n->error_log, $set->logs);
is_deeply(\@slow, [], "no request waited longer than the timeout (${timeout} ms)");
ok(@recovery == 3 && !grep({ $_ > 1 } @recovery),
   'each time, uncached lookups within 1 s of +switch-master')
    or diag(explain(\@recovery));
diag(sprintf 'recovery after +switch-master: %s s',
     join ', ', map { sprintf '%.3f', $_ } @recovery);

my $heard = () = $n->error_log
    =~ /fsauth: sentinel reports a failover of "fsm"/g;
# 6, or more when the sentinels fail over twice in a round
cmp_ok($heard, '>=', 6,
       'both workers heard each +switch-master on their watch');

is_deeply([sort $n->worker_pids], \@workers, 'no worker crashed');
ok(poll_until(sub { fds(@workers) == $fds_before }),
   'no fd leaked over three failovers')
    or diag('fds before ' . $fds_before . ', after ' . fds(@workers));
unlike($n->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the error log');
$n->stop;

# 4. fsauthctl --sentinel with no sentinel up
{
    my $d2 = free_port();
    my $out = `$ctl --sentinel 127.0.0.1:$dead,127.0.0.1:$d2 --master fsm key list 2>&1`;
    is($? >> 8, 2, 'fsauthctl --sentinel, no sentinel up: exit 2');
    like($out, qr/\Afsauthctl: no sentinel named the primary of "fsm" \(last: sentinel 127\.0\.0\.1:$d2: Connection refused\)\n\z/,
         'and one line that says so');
}

# 5. read=replica: lookups and the invalidation channel on a replica the
# sentinels report healthy; the kill switch and activity on the primary;
# back on the primary when the replicas are gone
sub calls {
    my ($port, $cmd) = @_;
    my $info = redis_at($port, 'INFO', 'commandstats');
    return $info =~ /^cmdstat_\Q$cmd\E:calls=(\d+)/m ? $1 : 0;
}

# clients that enabled tracking, and connections whose last command was
# ROLE (a replica's lookup connection once ready: it sends nothing more
# until it is asked for a key)
sub clients {
    my ($port, $re) = @_;
    return scalar grep { /$re/ } split /\n/, redis_at($port, 'CLIENT', 'LIST');
}

sub replicated {
    my ($keys, @replicas) = @_;
    for my $r (@replicas) {
        for my $k (@$keys) {
            return 0 unless redis_at($r, 'EXISTS', "${p}key:" . digest($k->[0])) eq '1';
        }
    }
    return 1;
}

# returns how long fsauthctl ran, then when each worker refused the key
# after it exited
sub disable_timed {
    my ($n, $id, $tok, $what) = @_;
    my $t_run = time;
    my $out = `$ctl --sentinel $list --master fsm --prefix $p key disable $id 2>&1`;
    is($?, 0, "$what: fsauthctl --sentinel key disable") or diag($out);
    my $t0 = time;
    my %refused;
    while (time - $t0 < 1) {
        my ($st, $pid) = get($n, $tok);
        $refused{$pid} = time - $t0 if $st != 200 && !exists $refused{$pid};
        last if keys %refused == 2;
    }
    is(scalar(keys %refused), 2, "$what: the disabled key is refused on both workers");
    ok(!grep({ $_ > 0.1 } values %refused), "$what: within 100 ms")
        or diag(explain(\%refused));
    return ($t0 - $t_run, sort { $a <=> $b } values %refused);
}

my @down;
{
    $set->wait_ready(2);
    my $primary = $set->primary;
    my @replicas = $set->replicas;
    my @keys = map { [new_key()] } 1 .. 20;
    my ($tok, $id) = new_key();
    ok(poll_until(sub { replicated([@keys, [$tok]], @replicas) }),
       'read=replica: the keys reached both replicas');

    my $n = FsauthNginx->start(
        workers => 2,
        http => "    fsauth_redis sentinel=$list master=fsm read=replica "
              . "prefix=$p timeout=${timeout}ms "
              . "connect_timeout=${timeout}ms;\n"
              . "    fsauth_cache zone=t019r:1m ttl=1h stale=1h;\n"
              . "    fsauth_ban off;",
        server => $location);

    my $role = qr/ cmd=role /;
    my $tracking = qr/ flags=\S*t/;
    ok(poll_until(sub {
           (sum0(map { clients($_, $role) } @replicas)) == 2
           && (sum0(map { clients($_, $tracking) } @replicas)) == 2
       }), 'read=replica: both workers have a lookup connection and the '
         . 'invalidation channel on a replica')
        or diag(join "\n", map { redis_at($_, 'CLIENT', 'LIST') } @replicas);
    is(clients($primary, $tracking), 0, 'and no invalidation channel on the primary');
    like($n->error_log,
         qr/names 127\.0\.0\.1:(?:${\ join '|', @replicas}) as a healthy replica of "fsm"/,
         'the error log names the replica');

    redis_at($_, 'CONFIG', 'RESETSTAT') for $primary, @replicas;
    my %st;
    $st{(get($n, $_->[0], '/closed/3/clientes'))[0]}++ for @keys;
    is_deeply(\%st, { 200 => 20 }, 'read=replica: 20 uncached lookups, all 200');
    cmp_ok(sum0(map { calls($_, 'hgetall') } @replicas), '>=', 20,
           'served by the replicas');
    is(calls($primary, 'hgetall'), 0, 'none by the primary');
    ok(poll_until(sub { calls($primary, 'eval') + calls($primary, 'hset') > 0 }),
       'activity written on the primary');
    ok(poll_until(sub { calls($primary, 'hget') > 0 }),
       'the kill switch read on the primary');
    is(sum0(map { calls($_, 'hget') + calls($_, 'eval') } @replicas), 0,
       'neither on a replica');

    # a key with more grants than its cache node holds: the last ones are
    # kept aside from the replica's reply for the request that asks
    my ($many, $mid) = ('tok-t019-many', $next_id++);
    add_key(port => $primary, prefix => $p, token => $many, id => $mid,
            grants => { 'zz-last' => 'get',
                        map { (sprintf('resource-with-a-long-name-%02d', $_)
                               => 'get,post') } 1 .. 80 });
    ok(poll_until(sub { replicated([[$many]], @replicas) }),
       'read=replica: a key with 81 grants reached both replicas');
    is((get($n, $many, '/api/3/zz-last'))[0], 200,
       'read=replica: its last grant, kept aside from the reply, grants');
    is((get($n, $many, '/api/3/zz-none'))[0], 403,
       'read=replica: a resource it lacks is refused');

    # a change on the primary reaches both workers through a replica's
    # tracking
    is($n->warm(sub { my @r = get($n, $tok); ($r[0], $r[3], $r[1]) }), 2,
       'read=replica: a key cached on both workers');
    my @t = disable_timed($n, $id, $tok, 'read=replica');
    diag(sprintf 'read=replica: fsauthctl ran %.3f s; through the '
         . 'replica, both workers refused the key %s s after it exited',
         shift @t, join ', ', map { sprintf '%.3f', $_ } @t);

    # a failover: the workers leave the replica that was promoted and
    # read from one that still is a replica
    my $old = $set->kill_primary;
    my $t_kill = time;
    ok(poll_until(sub { switch_time($switches, $t_kill) })
       || poll_until(sub { switch_time($switches, $t_kill) })
       || poll_until(sub { switch_time($switches, $t_kill) }),
       'read=replica: a failover') or diag($set->logs);
    $set->settle_failover($old);
    $set->wait_ready(2);
    # the primary as the sentinels settled on it: they sometimes fail
    # over a second time right after a failover
    $primary = $set->primary;
    @replicas = $set->replicas;
    # the replicas' health is asked for every second while none is used
    ok(poll_for(5, sub {
           (sum0(map { clients($_, $tracking) } @replicas)) == 2
           && clients($primary, $tracking) == 0
       }), 'after it, within 5 s, both invalidation channels on a replica again, none '
         . 'on the new primary')
        or diag(join "\n", map { redis_at($_, 'CLIENT', 'LIST') }
                          $primary, @replicas);
    @keys = map { [new_key()] } 1 .. 10;
    ($tok, $id) = new_key();
    ok(poll_until(sub { replicated([@keys, [$tok]], @replicas) }),
       'read=replica: new keys reached both replicas');
    redis_at($_, 'CONFIG', 'RESETSTAT') for $primary, @replicas;
    %st = ();
    $st{(get($n, $_->[0], '/closed/3/clientes'))[0]}++ for @keys;
    is_deeply(\%st, { 200 => 10 }, 'after the failover: 10 uncached lookups, all 200');
    is(calls($primary, 'hgetall'), 0, 'none served by the new primary');
    is($n->warm(sub { my @r = get($n, $tok); ($r[0], $r[3], $r[1]) }), 2,
       'after the failover: a key cached on both workers');
    @t = disable_timed($n, $id, $tok, 'after the failover');
    diag(sprintf 'after the failover: fsauthctl ran %.3f s; through the '
         . 'replica, both workers refused the key %s s after it exited',
         shift @t, join ', ', map { sprintf '%.3f', $_ } @t);

    # no replica: all on the primary
    my @fresh = map { [new_key()] } 1 .. 20;
    ($tok, $id) = new_key();
    $set->kill_node($_) for @replicas;
    @down = @replicas;
    $t_kill = time;
    my $ok = poll_until(sub { (get($n, $fresh[0][0], '/closed/3/clientes'))[0] == 200 });
    my $t_ok = time;
    ok($ok, 'replicas killed: uncached lookups work');
    diag(sprintf 'replicas killed: uncached lookups on the primary %.3f s '
         . 'after', $t_ok - $t_kill);
    ok($t_ok - $t_kill < ($timeout + 150) / 1000,
       'within the lookup timeout');
    ok(poll_until(sub { clients($primary, $tracking) == 2 }),
       'the invalidation channels moved to the primary');
    redis_at($primary, 'CONFIG', 'RESETSTAT');
    %st = ();
    $st{(get($n, $_->[0], '/closed/3/clientes'))[0]}++ for @fresh[1 .. $#fresh];
    is_deeply(\%st, { 200 => 19 }, 'replicas killed: 19 more uncached lookups, all 200');
    cmp_ok(calls($primary, 'hgetall'), '>=', 19, 'served by the primary');
    is($n->warm(sub { my @r = get($n, $tok); ($r[0], $r[3], $r[1]) }), 2,
       'replicas killed: a key cached on both workers');
    disable_timed($n, $id, $tok, 'replicas killed');
    like($n->error_log,
         qr/replica 127\.0\.0\.1:\d+ of "fsm": connection failed; read on the primary/,
         'the error log says the replica failed');
    unlike($n->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the error log');
    $n->stop;
}

# 6. read=replica, a sentinel that reports a replica healthy when its link
# to the primary is down: ROLE catches it, the primary serves
{
    my $primary = $set->primary;
    my $lost = $set->start_node(replicaof => free_port());
    my ($liar) = FsauthSentinel::fake_sentinel($primary, $lost);
    my ($tok) = new_key();
    redis_at($lost, 'CONFIG', 'RESETSTAT');

    my $n = FsauthNginx->start(
        workers => 1,
        http => "    fsauth_redis sentinel=127.0.0.1:$liar master=fsm "
              . "read=replica prefix=$p timeout=${timeout}ms;\n"
              . "    fsauth_ban off;",
        server => $location);
    my %st;
    my $t0 = time;
    while (time - $t0 < 1.2) {
        $st{(get($n, $tok, '/closed/3/clientes'))[0]}++;
        sleep 0.05;
    }
    is_deeply([keys %st], [200],
              'a replica whose link is down, reported healthy: lookups work');
    is(calls($lost, 'hgetall'), 0, 'on the primary, not on it');
    is(clients($lost, qr/ flags=\S*t/), 0, 'no invalidation channel on it');
    like($n->error_log,
         qr/replica 127\.0\.0\.1:$lost of "fsm": ROLE says it is no connected replica; read on the primary/,
         'the error log says why');
    $n->stop;
    $set->kill_node($lost);
}

# 7. two gateway nodes on one machine, each with prefer_replica= its own
# replica: lookups and invalidations there, a change made with fsauthctl
# refused by every worker of both within 100 ms, the ban per node; a node
# whose replica dies reads from the other one, and comes back to its own
{
    my $primary = $set->primary;
    $set->start_node(port => $_, replicaof => $primary) for @down;
    $set->wait_replicas(2);
    $set->wait_ready(2);
    $primary = $set->primary;
    my %own;
    @own{qw(A B)} = $set->replicas;
    my @keys = map { [new_key()] } 1 .. 20;
    my ($tok, $id) = new_key();
    ok(poll_until(sub { replicated([@keys, [$tok]], values %own) }),
       'two nodes: the keys reached both replicas');

    my $tracking = qr/ flags=\S*t/;
    my %node;
    for my $name (qw(A B)) {
        $node{$name} = FsauthNginx->start(
            workers => 2,
            http => "    fsauth_redis sentinel=$list master=fsm read=replica "
                  . "prefer_replica=127.0.0.1:$own{$name} prefix=$p "
                  . "timeout=${timeout}ms connect_timeout=${timeout}ms;\n"
                  . "    fsauth_cache zone=t019$name:1m ttl=1h stale=1h;\n"
                  . "    fsauth_ban off;",
            server => $location . <<'_EOC_');
        location /ban/ {
            fsauth on;
            fsauth_ban 3 60s;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

        # node A alone first: its two invalidation channels on its replica
        ok(poll_for(5, sub {
               clients($own{$name}, $tracking) == 2
               && ($name eq 'B' || clients($own{B}, $tracking) == 0)
           }), "node $name: both workers' invalidation channels on its "
             . "replica ($own{$name})")
            or diag(join "\n", map { redis_at($_, 'CLIENT', 'LIST') }
                              values %own);
        like($node{$name}->error_log,
             qr/names 127\.0\.0\.1:$own{$name} as a healthy replica of "fsm"; lookups and invalidations are read there\n/,
             "node $name: the error log names its replica");
    }
    is(clients($primary, $tracking), 0, 'none on the primary');

    redis_at($_, 'CONFIG', 'RESETSTAT') for $primary, values %own;
    my %st;
    $st{(get($node{A}, $_->[0], '/closed/3/clientes'))[0]}++
        for @keys[0 .. 9];
    is(calls($own{A}, 'hgetall'), 10, 'node A: 10 uncached lookups on its replica');
    is(calls($own{B}, 'hgetall') + calls($primary, 'hgetall'), 0,
       'none elsewhere');
    $st{(get($node{B}, $_->[0], '/closed/3/clientes'))[0]}++
        for @keys[10 .. 19];
    is(calls($own{B}, 'hgetall'), 10, 'node B: 10 uncached lookups on its replica');
    is(calls($own{A}, 'hgetall'), 10, 'none more on node A\'s');
    is(calls($primary, 'hgetall'), 0, 'none on the primary');
    is_deeply(\%st, { 200 => 20 }, 'all 200');

    # a change reaches the four workers of both nodes within 100 ms
    for my $name (qw(A B)) {
        is($node{$name}->warm(sub { my @r = get($node{$name}, $tok); ($r[0], $r[3], $r[1]) }),
           2, "node $name: a key cached on both workers");
    }
    my $t_run = time;
    my $out = `$ctl --sentinel $list --master fsm --prefix $p key disable $id 2>&1`;
    my $t0 = time;
    is($?, 0, 'two nodes: fsauthctl --sentinel key disable') or diag($out);
    my %refused;
    while (time - $t0 < 1 && keys %refused < 4) {
        for my $name (qw(A B)) {
            my ($st, $pid) = get($node{$name}, $tok);
            $refused{"$name$pid"} //= time - $t0 if $st != 200;
        }
    }
    is(scalar(keys %refused), 4,
       'two nodes: the disabled key is refused on the four workers');
    ok(!grep({ $_ > 0.1 } values %refused), 'within 100 ms')
        or diag(explain(\%refused));
    diag(sprintf 'two nodes: fsauthctl ran %.3f s; the four workers '
         . 'refused the key %s s after it exited', $t0 - $t_run,
         join ', ', map { sprintf '%.3f', $_ } sort { $a <=> $b }
                    values %refused);

    # the ban stays per node
    my ($good) = new_key();
    ok(poll_until(sub { replicated([[$good]], values %own) }),
       'a fresh key on both replicas');
    my $ban = '/ban/api/3/clientes';
    my @bad = map { (get($node{A}, "tok-t019-unknown-$_", $ban))[0] } 1 .. 3;
    is("@bad", '401 401 401', 'node A: three unknown tokens, 401');
    is(join(' ', map { (get($node{A}, $good, $ban))[0] } 1 .. 4),
       '429 429 429 429', 'node A (both workers): the address is banned');
    is(join(' ', map { (get($node{B}, $good, $ban))[0] } 1 .. 4),
       '200 200 200 200', 'node B: not banned there');

    # node A's replica dies: A reads from B's replica, not from the
    # primary, and comes back to its own once it is healthy again
    redis_at($_, 'CONFIG', 'RESETSTAT') for $primary, $own{B};
    $set->kill_node($own{A});
    ok(poll_for(5, sub { clients($own{B}, $tracking) == 4 }),
       'node A\'s replica killed: its invalidation channels move to node '
       . 'B\'s replica')
        or diag(redis_at($own{B}, 'CLIENT', 'LIST'));
    my @fresh = map { [new_key()] } 1 .. 5;
    ok(poll_until(sub { replicated(\@fresh, $own{B}) }), 'new keys replicated');
    %st = ();
    $st{(get($node{A}, $_->[0], '/closed/3/clientes'))[0]}++ for @fresh;
    is_deeply(\%st, { 200 => 5 }, 'node A: 5 uncached lookups, all 200');
    is(calls($primary, 'hgetall'), 0, 'none on the primary');
    like($node{A}->error_log,
         qr/names 127\.0\.0\.1:$own{B} as a healthy replica of "fsm"; lookups and invalidations are read there, not on the one of prefer_replica=/,
         'node A: the error log says it reads elsewhere');

    $set->start_node(port => $own{A}, replicaof => $primary);
    $set->wait_replicas(2);
    my $t_back = time;
    # the sentinels see it up within a second; the replicas are asked
    # for every 5 s
    ok(poll_for(15, sub {
           clients($own{A}, $tracking) == 2 && clients($own{B}, $tracking) == 2
       }), 'node A\'s replica back: its invalidation channels return to it')
        or diag(join "\n", map { redis_at($_, 'CLIENT', 'LIST') } values %own);
    diag(sprintf 'two nodes: node A back on its replica %.1f s after it '
         . 'was synced', time - $t_back);

    for my $name (qw(A B)) {
        unlike($node{$name}->error_log, qr/\[(alert|crit|emerg)\]/,
               "node $name: no alert in the error log");
        $node{$name}->stop;
    }
}

# 8. a sentinel with requirepass: sentinel_password_file= and
# --sentinel-password-file AUTH to it; without them, or with another
# password, it names nothing
{
    my $password = "t019-sentinel-$$-" . int(rand 1e9);
    my $sp = $set->auth_sentinel('fsa', $password);
    my $pw = write_file("$tmp/sentinel.pass", "$password\n");
    my $wrong = write_file("$tmp/wrong.pass", "not-$password\n");
    my ($tok) = new_key();
    $set->wait_replicas(2);

    auth_cases($sp, 'fsa', $tok, $password, 'a sentinel with requirepass',
               [ 'with', "sentinel_password_file=$pw" ],
               [ 'without', '', 'answered with an error' ],
               [ 'another password', "sentinel_password_file=$wrong",
                 'refused AUTH' ]);

    my $out = `$ctl --sentinel 127.0.0.1:$sp --master fsa --sentinel-password-file $pw --prefix $p key list 2>&1`;
    is($?, 0, 'fsauthctl --sentinel-password-file: works') or diag($out);
    $out = `$ctl --sentinel 127.0.0.1:$sp --master fsa --prefix $p key list 2>&1`;
    is($? >> 8, 2, 'fsauthctl without it: exit 2');
    like($out, qr/\Afsauthctl: no sentinel named the primary of "fsa" \(last: sentinel 127\.0\.0\.1:$sp: unexpected reply: NOAUTH [^\n]*\)\n\z/,
         'and one line: the sentinel wants AUTH') or diag($out);
    $out = `$ctl --sentinel 127.0.0.1:$sp --master fsa --sentinel-password-file $wrong --prefix $p key list 2>&1`;
    is($? >> 8, 2, 'fsauthctl with another password: exit 2');
    like($out, qr/\Afsauthctl: no sentinel named the primary of "fsa" \(last: sentinel 127\.0\.0\.1:$sp: AUTH failed: [^\n]*\)\n\z/,
         'and one line that says AUTH failed') or diag($out);
    unlike($out, qr/\Q$password\E/, 'no password in it');
}

# 9. a sentinel with an ACL user (its default user off): sentinel_user=
# and --sentinel-user with the password get through; another user, or
# none, gets nothing
{
    my $user = 'fsauth-sentinel';
    my $password = "t019-acl-$$-" . int(rand 1e9);
    my $sp = $set->acl_sentinel('fsu', $user, $password);
    my $pw = write_file("$tmp/acl.pass", "$password\n");
    my ($tok, $id) = new_key();

    auth_cases($sp, 'fsu', $tok, $password, 'a sentinel with an ACL user',
               [ 'sentinel_user=', "sentinel_user=$user sentinel_password_file=$pw" ],
               [ 'another user', "sentinel_user=nobody sentinel_password_file=$pw",
                 'refused AUTH' ],
               [ 'no user', "sentinel_password_file=$pw", 'refused AUTH' ]);

    my $out = `$ctl --sentinel 127.0.0.1:$sp --master fsu --sentinel-user $user --sentinel-password-file $pw --prefix $p key list 2>&1`;
    is($?, 0, 'fsauthctl --sentinel-user: works') or diag($out);
    like($out, qr/^$id\s/m, 'and lists the key') or diag($out);
    unlike($out, qr/\Q$password\E/, 'no password in its output');
    for my $case ([ 'another user', "--sentinel-user nobody --sentinel-password-file $pw" ],
                  [ 'no user', "--sentinel-password-file $pw" ]) {
        my ($name, $opts) = @$case;
        $out = `$ctl --sentinel 127.0.0.1:$sp --master fsu $opts --prefix $p key list 2>&1`;
        is($? >> 8, 2, "fsauthctl, $name: exit 2");
        like($out, qr/\Afsauthctl: no sentinel named the primary of "fsu" \(last: sentinel 127\.0\.0\.1:$sp: AUTH failed: [^\n]*\)\n\z/,
             "$name: one line that says AUTH failed") or diag($out);
        unlike($out, qr/\Q$password\E/, "$name: no password in it");
    }
    $out = `$ctl --sentinel 127.0.0.1:$sp --master fsu --sentinel-user $user --prefix $p key list 2>&1`;
    is($? >> 8, 1, 'fsauthctl --sentinel-user without --sentinel-password-file: usage error');
    like($out, qr/--sentinel-user needs a name and --sentinel-password-file/,
         'and says so') or diag($out);
    $out = `$ctl --sentinel-user $user --sentinel-password-file $pw --prefix $p key list 2>&1`;
    is($? >> 8, 1, 'fsauthctl --sentinel-user without --sentinel: usage error');
    like($out, qr/--sentinel-user go with --sentinel/, 'and says so') or diag($out);
}

# nginx asking the one sentinel $sp for $master, once per case [ name,
# parameters, why ]: without a why, lookups work through it; with one, no
# primary (503) and the error log says why; never $password in the log
sub auth_cases {
    my ($sp, $master, $tok, $password, $what, @cases) = @_;
    for my $c (@cases) {
        my ($case, $params, $why) = @$c;
        my $n = FsauthNginx->start(
            workers => 1,
            http => "    fsauth_redis sentinel=127.0.0.1:$sp master=$master "
                  . "$params prefix=$p timeout=${timeout}ms;\n"
                  . "    fsauth_ban off;",
            server => $location);
        if (!$why) {
            ok(poll_until(sub { (get($n, $tok, '/closed/3/clientes'))[0] == 200 }),
               "$what, $case: lookups work");
            like($n->error_log,
                 qr/sentinel 127\.0\.0\.1:$sp names 127\.0\.0\.1:${\ $set->primary} as the primary of "$master"/,
                 'through that sentinel');
        } else {
            my %st;
            $st{(get($n, $tok, '/closed/3/clientes'))[0]}++ for 1 .. 10;
            is_deeply(\%st, { 503 => 10 }, "$what, $case: no primary, 503");
            like($n->error_log,
                 qr/no sentinel named the primary of "$master" \(last: 127\.0\.0\.1:$sp: $why\)/,
                 "$case: the error log says so ($why)")
                or diag($n->error_log);
        }
        unlike($n->error_log, qr/\Q$password\E/, "$case: no password in the log");
        $n->stop;
    }
}

sub sum0 { my $t = 0; $t += $_ for @_; $t }

sub poll_for {
    my ($secs, $cb) = @_;
    my $t0 = time;
    while (time - $t0 < $secs) {
        return 1 if $cb->();
        sleep 0.05;
    }
    return 0;
}

done_testing();
