# Activity records are written in batches (one EVAL for up to 64 keys, at
# most 100 ms after the first), one write per key per interval across
# workers, a failing write is logged once and does not stop the others,
# and records still queued when a worker exits are sent before it goes.
# Plain Test::More, not Test::Nginx: two workers and timing of writes seen in Redis between requests.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);
use FsauthTest;
use FsauthNginx;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $p = 't013:';
flush_prefix($p);

my $http = <<"_EOC_";
    fsauth_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT} prefix=$p;
    fsauth_cache zone=t013:1m;
_EOC_

my $location = <<'_EOC_';
        location /api/ {
            fsauth on;
            fsauth_activity on interval=1h;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub req {
    my ($token) = @_;
    return "GET /api/3/clientes HTTP/1.0\r\nHost: x\r\n"
           . "X-Auth-Token: $token\r\n\r\n";
}

sub token { sprintf 'tok-t013-%07d', $_[0] }

sub wait_for {
    my ($cond, $limit) = @_;
    my $t0 = time;
    while (time - $t0 < $limit) {
        return time - $t0 if $cond->();
        sleep 0.01;
    }
    return;
}

for my $id (1 .. 150) {
    add_key(prefix => $p, token => token($id), id => $id,
            grants => { clientes => 'get' });
}

# 1. 150 keys used once each: every record arrives, in a few commands
{
    my $n = FsauthNginx->start(http => $http, server => $location,
                               workers => 2);
    my $eval0 = redis_calls('eval');
    my $hset0 = redis_calls('hset');

    my $ok = 0;
    for my $id (1 .. 150) {
        my ($st) = http_raw($n->port, req(token($id)), 3);
        $ok++ if $st == 200;
    }
    is($ok, 150, '150 keys granted');

    my $all = sub {
        for my $id (1 .. 150) {
            return 0 unless redis('EXISTS', "${p}activity:$id");
        }
        return 1;
    };
    ok(defined wait_for($all, 3), 'every key has its activity record');

    like(redis('HGETALL', "${p}activity:150"),
         qr/^lastactivity\n\d{10}\nlastip\n127\.0\.0\.1$/,
         'the record has the time and the address');
    my $t = redis('HGET', "${p}activity:1", 'lastactivity');
    cmp_ok(abs($t - time), '<', 60, 'lastactivity is the current time');

    my $evals = redis_calls('eval') - $eval0;
    cmp_ok($evals, '>=', 3, 'at least ceil(150 / 64) commands');
    cmp_ok($evals, '<', 150, "and far fewer than one per key ($evals)");
    is(redis_calls('hset') - $hset0, 150, 'one HSET per key, inside them');

    # 2. the same keys again, on both workers, within the interval
    $eval0 = redis_calls('eval');
    $hset0 = redis_calls('hset');
    for my $round (1 .. 2) {
        for my $id (1 .. 150) {
            http_raw($n->port, req(token($id)), 3);
        }
    }
    sleep 0.3;
    is(redis_calls('hset') - $hset0, 0, 'no second write within the interval');
    is(redis_calls('eval') - $eval0, 0, 'and no command');

    $n->stop;
}

# 3. a record that cannot be written: logged once (per worker), and the
# others of its batch are written
{
    my $n = FsauthNginx->start(http => $http, server => $location);

    for my $id (151 .. 154) {
        add_key(prefix => $p, token => token($id), id => $id,
                grants => { clientes => 'get' });
    }
    redis('SET', "${p}activity:$_", 'not a hash') for 152, 154;
    http_raw($n->port, req(token($_)), 3) for 151 .. 153;

    ok(defined wait_for(sub { redis('EXISTS', "${p}activity:153") }, 2),
       'the key after the bad one is written');
    ok(redis('EXISTS', "${p}activity:151"), 'and the one before it');
    my $log = '';
    wait_for(sub { ($log = $n->error_log) =~ /activity write failed/ }, 2);
    like($log, qr/fsauth: activity write failed: WRONGTYPE/,
         'the failure is logged with the reason');

    # fails again in a later batch: not logged again
    http_raw($n->port, req(token(154)), 3);
    sleep 0.4;
    my @lines = ($n->error_log =~ /activity write failed/g);
    is(scalar @lines, 1, 'a failure that goes on is logged once');

    $n->stop;
}

# 4. records queued when the worker exits are sent before it goes
{
    redis('DEL', "${p}activity:$_") for 160 .. 161;
    for my $id (160 .. 161) {
        add_key(prefix => $p, token => token($id), id => $id,
                grants => { clientes => 'get' });
    }

    # the stop follows the answer within a few ms, before the 100 ms batch
    # timer: the records can only go out with the worker's exit (checked:
    # without the flush at exit this test fails)
    my $n = FsauthNginx->start(http => $http, server => $location);
    my ($st) = http_raw($n->port, req(token(160)), 3);
    is($st, 200, 'granted just before a stop');
    $n->stop;
    ok(redis('EXISTS', "${p}activity:160"), 'its activity reached Redis');

    $n = FsauthNginx->start(http => $http, server => $location);
    ($st) = http_raw($n->port, req(token(161)), 3);
    is($st, 200, 'granted just before a reload');
    $n->reload(http => $http, server => $location);
    ok(redis('EXISTS', "${p}activity:161"), 'its activity reached Redis');
    $n->stop;
}

# 5. where EVAL is refused, each record is its own HSET
{
    my $rport = start_redis(args => ['--rename-command', 'EVAL', '']);
    add_key(port => $rport, prefix => $p, token => token(170), id => 170,
            grants => { clientes => 'get' });
    my $n = FsauthNginx->start(server => $location, http => <<"_EOC_");
    fsauth_redis 127.0.0.1:$rport prefix=$p;
    fsauth_cache zone=t013b:1m;
_EOC_
    my ($st) = http_raw($n->port, req(token(170)), 3);
    is($st, 200, 'granted by a Redis without EVAL');
    ok(defined wait_for(sub {
           redis_at($rport, 'EXISTS', "${p}activity:170") }, 2),
       'the activity record is written all the same');
    like($n->error_log,
         qr/fsauth: redis refused EVAL \(ERR unknown command[^)]*\); activity records are written one HSET each/,
         'and the fallback is logged');
    unlike($n->error_log, qr/activity write failed/, 'no write failed');
    $n->stop;
    stop_redis($rport);
}

flush_prefix($p);
done_testing();
