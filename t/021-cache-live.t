# The cache under a running nginx: expiry, stale answers during an outage,
# eviction, reload, revocation by direct redis-cli edits on every worker
# within 100 ms, flush when the invalidation channel reconnects or the
# node is flushed (FLUSHDB, a replica's full resync), shared lookups, and
# Redis commands bounded by the negative cache.
# Plain Test::More, not Test::Nginx: several workers, reloads and Redis edits between requests, timing.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use FsauthTest;
use FsauthNginx;
use FakeRedis;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $tmp = tempdir(CLEANUP => 1);
my $rp = $ENV{TEST_NGINX_REDIS_PORT};

my $location = <<'_EOC_';
        location /api/ {
            fsauth on;
            fsauth_global_key GLOBAL-KEY-1;
            add_header X-Pid $pid always;
            add_header X-Cache $fsauth_cache_status always;
            add_header X-Fsauth $fsauth_status always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
        location /closed/ {
            fsauth on;
            fsauth_failure_mode closed;
            add_header X-Cache $fsauth_cache_status always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub get {
    my ($n, $token, $path, $method) = @_;
    $path //= '/api/3/clientes';
    $method //= 'GET';
    my ($st, $head) = http_raw($n->port,
        "$method $path HTTP/1.0\r\nHost: x\r\nX-Auth-Token: $token\r\n\r\n",
        3);
    my ($cache) = $head =~ /^X-Cache: (\S+)/mi;
    my ($pid) = $head =~ /^X-Pid: (\d+)/mi;
    my ($status) = $head =~ /^X-Fsauth: (\S+)/mi;
    return ($st, $cache // '', $pid // 0, $status // '');
}

# sends $token until both workers have answered it from the cache a few
# times; returns how many workers did
sub warm_both {
    my ($n, $token) = @_;
    my %hit;
    for (1 .. 400) {
        my @r = get($n, $token);
        $hit{$r[2]}++ if $r[1] eq 'HIT';
        last if keys %hit >= 2 && (grep { $_ >= 3 } values %hit) >= 2;
    }
    return scalar keys %hit;
}

sub hgetall_calls {
    my ($port) = @_;
    my $info = redis_at($port // $rp, 'INFO', 'commandstats');
    return $info =~ /cmdstat_hgetall:calls=(\d+)/ ? $1 : 0;
}

# 1. expiry and stale answers during an outage
{
    my $port = start_redis();
    add_key(port => $port, prefix => 'c:', token => 'tok-user-0000001',
            id => 1, grants => { clientes => 'get' });

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$port prefix=c: timeout=200ms;\n"
              . "    fsauth_cache zone=c1:1m ttl=500ms negative_ttl=500ms "
              . "stale=1m;",
        server => $location);

    my @r = get($n, 'tok-user-0000001');
    is("$r[0] $r[1]", '200 MISS', 'first request: miss');
    @r = get($n, 'tok-user-0000001');
    is("$r[0] $r[1]", '200 HIT', 'second request: hit');
    @r = get($n, 'tok-nobody-00001');
    is("$r[0] $r[1]", '401 MISS', 'unknown token: miss');

    sleep 0.6;
    @r = get($n, 'tok-user-0000001');
    is("$r[0] $r[1]", '200 MISS', 'after ttl: asked Redis again');

    stop_redis($port);
    sleep 0.6;

    @r = get($n, 'tok-user-0000001');
    is("$r[0] $r[1] $r[3]", '200 STALE granted',
       'Redis down, entry expired: the stale decision is served');
    @r = get($n, 'tok-user-0000001', '/api/3/facturas');
    is("$r[0] $r[1]", '403 STALE', 'stale record, other resource: 403');
    @r = get($n, 'tok-nobody-00001');
    is("$r[0] $r[1]", '401 STALE', 'stale negative entry: 401');
    @r = get($n, 'tok-never-seen-1');
    is("$r[0] $r[1]", '503 MISS', 'nothing cached: 503');
    @r = get($n, 'tok-user-0000001', '/closed/3/clientes');
    is($r[0], 503, 'fsauth_failure_mode closed: no stale answers');

    $n->stop;
    like($n->error_log, qr/cached decision used/, 'stale use is logged');
}

# 2. eviction in a zone smaller than the key set (a key with one grant
#    takes 256 bytes)
{
    my $p = 't021e:';
    flush_prefix($p);
    add_key(prefix => $p, token => sprintf('tok-evict-%06d', $_), id => $_,
            grants => { clientes => 'get' })
        for 1 .. 400;

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=c2:64k;",
        server => $location);

    my $bad = 0;
    for my $round (1 .. 2) {
        for my $i (1 .. 400) {
            my @r = get($n, sprintf('tok-evict-%06d', $i));
            $bad++ if $r[0] != 200;
        }
    }
    is($bad, 0, '800 requests over 400 keys in a 64k zone: all granted');

    my @r = get($n, 'tok-evict-000400');
    is($r[1], 'HIT', 'the most recent key is still cached');
    @r = get($n, 'tok-evict-000001');
    is($r[1], 'MISS', 'the oldest one was evicted');

    $n->stop;
    unlike($n->error_log, qr/no memory|is full|\[crit\]|\[alert\]/,
           'eviction is silent');
    flush_prefix($p);
}

# 3. reload: the zone and its entries survive; a parameter change flushes
{
    my $p = 't021r:';
    flush_prefix($p);
    add_key(prefix => $p, token => 'tok-user-0000001', id => 1,
            grants => { clientes => 'get' });

    my %conf = (
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=c3:1m ttl=1h;",
        server => $location);

    my $n = FsauthNginx->start(%conf);
    my @r = get($n, 'tok-user-0000001');
    is($r[1], 'MISS', 'before reload: miss');

    $n->reload(%conf);
    @r = get($n, 'tok-user-0000001');
    is("$r[0] $r[1]", '200 HIT', 'after reload: still cached');

    $conf{http} =~ s/ttl=1h/ttl=30m/;
    $n->reload(%conf);
    @r = get($n, 'tok-user-0000001');
    is($r[1], 'MISS', 'ttl changed: the zone was flushed');

    $n->stop;
    like($n->error_log, qr/cache zone "c3" flushed, its parameters changed/,
         'the flush is logged');
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert across reloads');
    flush_prefix($p);
}

# 4. revocation by direct edits, on both workers, within 100 ms
{
    my $p = 't021v:';
    flush_prefix($p);
    my $d = add_key(prefix => $p, token => 'tok-user-0000001', id => 7,
                    grants => { clientes => 'get' });
    my $key = "${p}key:$d";

    my $n = FsauthNginx->start(
        workers => 2,
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=c4:1m ttl=1h;\n"
              . "    fsauth_ban off;",
        server => $location);

    is(warm_both($n, 'tok-user-0000001'), 2,
       'both workers answer from the cache');

    my $check = sub {
        my ($name, $path, $want, @cmd) = @_;
        redis(@cmd);
        my $t0 = time;
        sleep 0.1;
        my (%pids, @bad);
        for (1 .. 30) {
            my @r = get($n, 'tok-user-0000001', $path);
            $pids{$r[2]}++;
            push @bad, "$r[0]/$r[1]" if $r[0] != $want;
        }
        is("@bad", '', "$name: seen by every request 100 ms later");
        is(scalar keys %pids, 2, "$name: through both workers");
    };

    $check->('disable', '/api/3/clientes', 401, 'HSET', $key, 'enabled', 0);
    $check->('enable again', '/api/3/clientes', 200,
             'HSET', $key, 'enabled', 1);
    $check->('grant removed', '/api/3/clientes', 403,
             'HDEL', $key, 'res:clientes');
    $check->('grant added', '/api/3/clientes', 200,
             'HSET', $key, 'res:clientes', 'get');
    $check->('kill switch', '/api/3/clientes', 403,
             'HSET', "${p}api", 'enabled', 0);
    $check->('kill switch off', '/api/3/clientes', 200,
             'HSET', "${p}api", 'enabled', 1);
    $check->('key deleted', '/api/3/clientes', 401, 'DEL', $key);

    # the token is now unknown, cached as such on both workers
    # (negative_ttl 10 s); creating its key drops those entries too
    my %neg;
    for (1 .. 400) {
        my @r = get($n, 'tok-user-0000001');
        $neg{$r[2]}++ if $r[1] eq 'NEGATIVE';
        last if keys %neg >= 2;
    }
    is(scalar keys %neg, 2, 'unknown token: negative entry on both workers');
    {
        add_key(prefix => $p, token => 'tok-user-0000001', id => 7,
                grants => { clientes => 'get' });
        sleep 0.1;
        my (%pids, @bad);
        for (1 .. 30) {
            my @r = get($n, 'tok-user-0000001');
            $pids{$r[2]}++;
            push @bad, "$r[0]/$r[1]" if $r[0] != 200;
        }
        is("@bad", '', 'key created: seen by every request 100 ms later');
        is(scalar keys %pids, 2, 'key created: through both workers');
    }

    # activity writes do not invalidate anything
    add_key(prefix => $p, token => 'tok-user-0000001', id => 7,
            grants => { clientes => 'get' });
    sleep 0.1;
    get($n, 'tok-user-0000001') for 1 .. 10;
    my @r = get($n, 'tok-user-0000001');
    redis('HSET', "${p}activity:7", 'lastip', '10.9.9.9');
    sleep 0.1;
    my $miss = 0;
    for (1 .. 10) {
        @r = get($n, 'tok-user-0000001');
        $miss++ if $r[1] ne 'HIT';
    }
    is($miss, 0, 'an activity write invalidates nothing');

    # 5. the invalidation channel reconnects: everything is flushed
    redis('CLIENT', 'KILL', 'TYPE', 'pubsub');
    sleep 0.5;
    @r = get($n, 'tok-user-0000001');
    is("$r[0] $r[1]", '200 MISS',
       'channel reconnected: the cache was flushed');

    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
    like($n->error_log, qr/invalidation channel up, cache flushed/,
         'the flush is logged');
    flush_prefix($p);
}

# 6. concurrent misses for one key share one command
{
    my $log = "$tmp/fake.log";
    my $fake = FakeRedis->start('tok-slow-0000001' => 'slow', log => $log);
    my $n = FsauthNginx->start(
        http => '    fsauth_redis 127.0.0.1:' . $fake->port
              . ' timeout=2s;',
        server => $location);

    my $bg = background_requests(port => $n->port, clients => 10,
                                 file => "$tmp/slow",
                                 request => "GET /api/3/clientes HTTP/1.0\r\n"
                                          . "X-Auth-Token: tok-slow-0000001"
                                          . "\r\n\r\n");
    wait_background($bg);

    open my $fh, '<', "$tmp/slow" or die;
    my @st = map { (split ' ')[0] } <$fh>;
    is(scalar(grep { $_ == 200 } @st), 10, 'ten concurrent requests granted');

    open $fh, '<', $log or die;
    my @cmds = <$fh>;
    is(scalar @cmds, 1, 'with one Redis command');

    $n->stop;
    $fake->stop;
}

# 7. a flood of distinct bad tokens: one command per token per negative_ttl
{
    my $p = 't021n:';
    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=c5:1m negative_ttl=1m;\n"
              . "    fsauth_ban off;",
        server => $location);

    my @tokens = map { sprintf('bad-token-%08d', int(rand(1e8))) . $_ }
                 1 .. 50;
    my $before = hgetall_calls();
    my $bad = 0;
    for my $round (1 .. 4) {
        for my $t (@tokens) {
            my @r = get($n, $t);
            $bad++ if $r[0] != 401;
        }
    }
    my $calls = hgetall_calls() - $before;
    is($bad, 0, '200 requests with unknown tokens: all 401');
    is($calls, 50, '50 distinct tokens: 50 Redis commands');

    $n->stop;
}

# 8. the ban lifts when the window slides
{
    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$rp prefix=t021b:;\n"
              . "    fsauth_cache zone=c6:1m;",
        server => "        fsauth_ban 2 1s;\n" . $location);

    my @r = get($n, 'bad-token-000001');
    is($r[0], 401, 'first incident');
    @r = get($n, 'bad-token-000001');
    is($r[0], 401, 'second incident');
    @r = get($n, 'GLOBAL-KEY-1');
    is("$r[0] $r[3]", '429 banned', 'banned, even with the global key');
    sleep 1.1;
    @r = get($n, 'GLOBAL-KEY-1');
    is($r[0], 200, 'the window slid: unbanned');

    $n->stop;
}

# 9. workers killed: a change made while no invalidation channel was up
# is not served from the cache by their successors.  The master is
# stopped meanwhile, so that the change certainly falls in the gap.
{
    my $port = start_redis();
    my $p = 't021k:';
    my $d = add_key(port => $port, prefix => $p, token => 'tok-user-0000001',
                    id => 9, grants => { clientes => 'get' });

    my $n = FsauthNginx->start(
        workers => 2,
        http => "    fsauth_redis 127.0.0.1:$port prefix=$p;\n"
              . "    fsauth_cache zone=c9:1m ttl=1h;\n"
              . "    fsauth_ban off;",
        server => $location);

    my $subscribers = sub {
        my @c = grep { /\S/ }
                split /\n/, redis_at($port, 'CLIENT', 'LIST', 'TYPE',
                                     'pubsub');
        return scalar @c;
    };

    # kills @pids with SIGKILL while the master is stopped, makes the
    # change, lets the master respawn them and waits for their channels
    my $crash = sub {
        my ($pids, @cmd) = @_;
        my %dead = map { $_ => 1 } @$pids;
        kill 'STOP', $n->pid;
        kill 'KILL', @$pids;
        my $t0 = time;
        sleep 0.02 while $subscribers->() > 2 - @$pids && time - $t0 < 3;
        redis_at($port, @cmd) if @cmd;
        kill 'CONT', $n->pid;
        $t0 = time;
        while (time - $t0 < 5) {
            my @now = grep { !$dead{$_} } $n->worker_pids;
            last if @now == 2 && $subscribers->() == 2;
            sleep 0.02;
        }
        sleep 0.1;
    };

    my @r = get($n, 'tok-user-0000001');
    is("$r[0] $r[1]", '200 MISS', 'cached');
    is($subscribers->(), 2, 'two invalidation channels');

    # one worker dies: the other one listened all along, the cache stays
    my @w = $n->worker_pids;
    $crash->([ $w[0] ]);
    @r = get($n, 'tok-user-0000001');
    is("$r[0] $r[1]", '200 HIT',
       'one of two workers killed: the cache is kept');

    # both die, and the key is disabled while nobody listens
    $crash->([ $n->worker_pids ], 'HSET', "${p}key:$d", 'enabled', '0');
    my @bad;
    for (1 .. 10) {
        @r = get($n, 'tok-user-0000001');
        push @bad, "$r[0]/$r[1]" if $r[0] != 401;
    }
    is("@bad", '', 'both workers killed, key disabled meanwhile: 401 '
                   . 'from their successors');

    $n->stop;
    my @flushed = $n->error_log =~ /invalidation channel up, cache flushed/g;
    is(scalar @flushed, 2, 'flushed at the start and after both crashed');
    unlike($n->error_log, qr/\[crit\]|was locked/, 'no crit');
    stop_redis($port);
}

# 10. a key granted more resources than its cache node holds: the
# decision for each resource is cached too, and edits still reach it
{
    my $p = 't021g:';
    flush_prefix($p);
    my %many = map { sprintf('resource-with-a-rather-long-name-%03d', $_)
                     => 'get' } 1 .. 100;
    my $d = add_key(prefix => $p, token => 'tok-many-0000001', id => 10,
                    grants => \%many);
    my $key = "${p}key:$d";
    my $far = 'resource-with-a-rather-long-name-090';
    my $near = 'resource-with-a-rather-long-name-001';
    my $other = 'resource-with-a-rather-long-name-999';    # not granted

    my $n = FsauthNginx->start(
        workers => 2,
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=c10:1m ttl=1h;\n"
              . "    fsauth_ban off;",
        server => $location);

    # (statuses, Redis lookups, cache statuses) of $times requests
    my $run = sub {
        my ($resource, $times, $method) = @_;
        my $before = redis_calls('hgetall');
        my (%st, @cache);
        for (1 .. $times) {
            my @r = get($n, 'tok-many-0000001', "/api/3/$resource",
                        $method);
            $st{$r[0]}++;
            push @cache, $r[1];
        }
        return (join(',', map { "$_ x$st{$_}" } sort keys %st),
                redis_calls('hgetall') - $before, "@cache");
    };

    my @r = $run->($far, 20);
    is($r[0], '200 x20', 'a grant beyond the node: granted 20 times');
    is($r[1], 1, 'with one HGETALL');
    like($r[2], qr/^MISS( HIT){19}$/, 'then answered from the cache');

    @r = $run->($other, 20);
    is($r[0], '403 x20', 'a resource it is not granted: 403 20 times');
    is($r[1], 1, 'with one HGETALL');

    @r = $run->($far, 10, 'DELETE');
    is("$r[0] $r[1]", '403 x10 0', 'a method it is not granted: 403, '
                                   . 'from the cached decision');

    @r = $run->($far, 10);
    is("$r[0] $r[1]", '200 x10 0',
       'the first decision survived the second lookup');
    @r = $run->($near, 10);
    is("$r[0] $r[1]", '200 x10 0', 'a grant within the node: no lookup');

    redis('HDEL', $key, "res:$far");
    sleep 0.1;
    @r = $run->($far, 20);
    is("$r[0] $r[1]", '403 x20 1', 'grant removed: seen 100 ms later');

    redis('HSET', $key, "res:$other", 'get');
    sleep 0.1;
    @r = $run->($other, 20);
    is("$r[0] $r[1]", '200 x20 1', 'grant added: seen 100 ms later');

    # the channel reconnects: per-resource decisions expire with the rest
    redis('CLIENT', 'KILL', 'TYPE', 'pubsub');
    sleep 0.5;
    @r = $run->($other, 2);
    is("$r[0] $r[1] $r[2]", '200 x2 1 MISS HIT',
       'channel reconnected: asked Redis again');

    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
    flush_prefix($p);
}

# 11. a null invalidation (FLUSHDB on the node, or a replica's full
# resync, as when a failover demotes the node read): every entry
# expires, and is kept as a stale fallback for lookups that fail
{
    my $port = start_redis();
    my $p = 't021f:';
    my %key = (token => 'tok-user-0000001', id => 11,
               grants => { clientes => 'get' });
    add_key(port => $port, prefix => $p, %key);

    my $start = sub {
        my ($at, $zone) = @_;
        return FsauthNginx->start(
            workers => 2,
            http => "    fsauth_redis 127.0.0.1:$at prefix=$p "
                  . "timeout=200ms;\n"
                  . "    fsauth_cache zone=$zone:1m ttl=1h stale=1h;\n"
                  . "    fsauth_ban off;",
            server => $location);
    };
    my $all = sub {
        my ($n, $want) = @_;
        my (%pids, @bad);
        for (1 .. 30) {
            my @r = get($n, 'tok-user-0000001');
            $pids{$r[2]}++;
            push @bad, "$r[0]/$r[1]" if "$r[0] $r[1]" !~ /^$want$/;
        }
        return (join(' ', @bad), scalar keys %pids);
    };

    my $n = $start->($port, 'c11');
    is(warm_both($n, 'tok-user-0000001'), 2,
       'FLUSHDB: cached on both workers');
    redis_at($port, 'FLUSHDB');
    sleep 0.1;
    is_deeply([ $all->($n, '401 \S+') ], [ '', 2 ],
              'FLUSHDB: the key is gone for every request 100 ms later, '
              . 'through both workers');

    add_key(port => $port, prefix => $p, %key);
    sleep 0.1;
    is(warm_both($n, 'tok-user-0000001'), 2,
       'key made again: cached on both workers');
    redis_at($port, 'FLUSHDB');
    sleep 0.1;
    stop_redis($port);
    is_deeply([ $all->($n, '200 STALE') ], [ '', 2 ],
              'FLUSHDB, then Redis down: the decisions are kept as stale');
    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');

    # nginx reads a replica; the replica is detached and attached again,
    # which makes it resync in full, then it dies
    my $primary = start_redis();
    add_key(port => $primary, prefix => $p, %key);
    my $replica = start_redis(args => [ '--replicaof', '127.0.0.1',
                                        $primary ]);
    my $link = sub {
        redis_at($replica, 'INFO', 'replication')
            =~ /master_link_status:up/;
    };
    ok(poll_until($link, 5), 'the replica is in sync');

    $n = $start->($replica, 'c11r');
    is(warm_both($n, 'tok-user-0000001'), 2,
       'replica: cached on both workers');
    my $channels = redis_at($replica, 'CLIENT', 'LIST', 'TYPE', 'pubsub');
    my $full = sub {
        redis_at($primary, 'INFO', 'stats') =~ /sync_full:(\d+)/ ? $1 : 0;
    };
    my $synced = $full->();
    redis_at($replica, 'REPLICAOF', 'NO', 'ONE');
    redis_at($replica, 'REPLICAOF', '127.0.0.1', $primary);
    ok(poll_until(sub { $full->() > $synced && $link->() }, 5),
       'the replica resynced in full');
    sleep 0.1;
    my @ids = map { /\bid=(\d+)/ } split /\n/, $channels;
    my @now = map { /\bid=(\d+)/ }
              split /\n/, redis_at($replica, 'CLIENT', 'LIST', 'TYPE',
                                   'pubsub');
    is("@now", "@ids", 'the invalidation channels stayed up');
    stop_redis($replica);
    is_deeply([ $all->($n, '200 STALE') ], [ '', 2 ],
              'full resync, then the replica down: the decisions are '
              . 'kept as stale');
    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
    stop_redis($primary);
}

done_testing();
