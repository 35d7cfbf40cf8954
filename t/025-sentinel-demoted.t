# fsauth_redis sentinel=: a sentinel that keeps naming a node whose ROLE
# is not master (a primary demoted by hand with REPLICAOF: a real
# sentinel goes on naming it) is asked again with the backoff, not in a
# loop: a few connections a second per worker, one error line per cause
# every 10 s; with every sentinel caught out, still the backoff; once the
# node is promoted again, lookups work within about a second.
# Plain Test::More: a real primary, replica and sentinel (quorum 2, so
# this single sentinel never fails over by itself), and a fake sentinel
# for the case of two that both name a replica.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);
use FsauthTest;
use FsauthNginx;
use FsauthSentinel;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $p = 't025:';
my $set = FsauthSentinel->new(master => 'fsd', replicas => 1,
                              sentinels => 1);
my ($sentinel) = $set->sentinels;
my $primary = $set->primary;
my ($replica) = $set->replicas;
my $other = $set->start_node();
# the demoted node syncs from $other: the key is there too
add_key(port => $other, prefix => $p, token => "tok-t025-demoted",
        id => 1, grants => { clientes => "get" });
add_key(port => $primary, prefix => $p, token => 'tok-t025-demoted',
        id => 1, grants => { clientes => 'get' });
$set->wait_replicas(1);

my $location = <<'_EOC_';
        location /api/ {
            fsauth on;
            fsauth_failure_mode closed;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub connections {
    my ($port) = @_;
    my ($n) = redis_at($port, 'INFO', 'stats')
        =~ /^total_connections_received:(\d+)/m;
    return $n;
}

# nginx with the sentinels of $sentinels (host:port,...), $workers
# workers; returns it, the connections $port received in the next 3 s,
# and the seconds measured
sub run_against {
    my ($sentinels, $workers, $port) = @_;
    my $n = FsauthNginx->start(
        workers => $workers,
        http => "    fsauth_redis sentinel=$sentinels master=fsd "
              . "prefix=$p timeout=300ms;\n    fsauth_ban off;",
        server => $location, settle => 0.5);
    my $c0 = connections($port);
    my $t0 = time;
    sleep 3;
    return ($n, connections($port) - $c0, time - $t0);
}

sub lines {
    my ($log, $re) = @_;
    return scalar(() = $log =~ /$re/g);
}

sub status {
    my ($n) = @_;
    return (http_raw($n->port, "GET /api/3/clientes HTTP/1.0\r\nHost: x\r\n"
                     . "X-Auth-Token: tok-t025-demoted\r\n\r\n", 3))[0];
}

# 1. the primary demoted by hand; the sentinel keeps naming it
{
    redis_at($primary, 'REPLICAOF', '127.0.0.1', $other);
    my ($n, $made, $secs) = run_against("127.0.0.1:$sentinel", 2, $primary);
    is(redis_at($sentinel, 'SENTINEL', 'get-master-addr-by-name', 'fsd'),
       "127.0.0.1\n$primary", 'the sentinel still names the demoted node');
    my $rate = $made / $secs / 2;
    cmp_ok($rate, '<=', 6,
           'the demoted node gets a few connections a second per worker')
        or diag("$made connections in $secs s");
    note(sprintf '%d connections in %.1f s: %.1f a second per worker',
         $made, $secs, $rate);
    is(status($n), 503, 'requests get the failure mode meanwhile');

    my $log = $n->error_log;
    my $re = qr/named 127\.0\.0\.1:$primary as the primary of "fsd", but its role is "slave"/;
    cmp_ok(lines($log, $re), '>=', 1, 'the demotion is logged');
    cmp_ok(lines($log, $re), '<=', 2,
           'once per worker in those 3 s, not once per attempt')
        or diag(join "", grep { /$re/ } split /^/m, $log);
    cmp_ok(lines($log, qr/\[error\]/), '<=', 4, 'no flood of other errors')
        or diag(lines($log, qr/\[error\]/) . ' error lines');
    cmp_ok(lines($log, qr/\[notice\].*names 127\.0\.0\.1:$primary as the primary/),
           '<=', 2, 'nor of notices naming the node again');

    # promoted again: used within about a second (the backoff's cap)
    redis_at($primary, 'REPLICAOF', 'NO', 'ONE');
    my $t1 = time;
    ok(poll_until(sub { status($n) == 200 }, 3),
       'promoted again: lookups work');
    my $back = time - $t1;
    cmp_ok($back, '<', 1.5, 'within the backoff of the last attempt')
        or diag("$back s");
    note(sprintf 'lookups back %.0f ms after REPLICAOF NO ONE',
         $back * 1000);
    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
}

# 2. two sentinels, both naming a replica: both caught out, and then
# still the backoff, not every sentinel trusted again at once
{
    my ($liar) = FsauthSentinel::fake_sentinel($replica);
    my ($liar2) = FsauthSentinel::fake_sentinel($replica);
    my ($n, $made, $secs) =
        run_against("127.0.0.1:$liar,127.0.0.1:$liar2", 1, $replica);
    cmp_ok($made / $secs, '<=', 6,
           'every sentinel distrusted: still a few connections a second')
        or diag("$made connections in $secs s");
    note(sprintf '%d connections in %.1f s', $made, $secs);
    my $log = $n->error_log;
    my $re = qr/named 127\.0\.0\.1:$replica as the primary of "fsd"/;
    cmp_ok(lines($log, qr/sentinel 127\.0\.0\.1:$liar $re/), '<=', 1,
           'the first liar logged once');
    cmp_ok(lines($log, qr/sentinel 127\.0\.0\.1:$liar2 $re/), '<=', 1,
           'the second once');
    $n->stop;
}

done_testing();
