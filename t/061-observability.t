# The metrics an operator alerts on, live: the output passes "promtool
# check metrics"; fsauth_build_info names the versions built with;
# fsauth_redis_connected and fsauth_invalidation_connected follow Redis
# going down and coming back, a worker killed with SIGKILL and a reload;
# fsauth_api_enabled follows the kill switch; fsauth_activity_dropped_total
# counts the activity records dropped while Redis is down.
# Plain Test::More, not Test::Nginx: a private redis-server stopped and
# restarted under a running nginx with two workers.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);
use FsauthTest;
use FsauthNginx;
use FsauthMetrics;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $p = 't061:';
my $rport = start_redis();
my $tok = 'tok-t061-0000001';
add_key(port => $rport, prefix => $p, token => $tok, id => 611,
        grants => { clientes => 'get' });

my $http = <<"_EOC_";
    fsauth_redis 127.0.0.1:$rport prefix=$p timeout=300ms;
    fsauth_cache zone=t061:1m ttl=1h stale=1h;
_EOC_

my $server = <<'_EOC_';
        location /api/ {
            fsauth on;
            fsauth_activity on interval=1s;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
        location = /metrics {
            fsauth_metrics;
        }
_EOC_

sub req {
    my ($n) = @_;
    my ($st) = http_raw($n->port, "GET /api/3/clientes HTTP/1.0\r\n"
                        . "Host: x\r\nX-Auth-Token: $tok\r\n\r\n", 3);
    return $st;
}

# the value of a metric once it equals $want, or the last one after $limit s
sub wait_metric {
    my ($n, $name, $want, $limit) = @_;
    my $t0 = time;
    my $v;
    while (1) {
        (undef, undef, undef, my $m) = scrape($n->port);
        $v = $m->{$name};
        return $v if defined $v && $v eq $want;
        last if time - $t0 > $limit;
        sleep 0.05;
    }
    return $v;
}

my $n = FsauthNginx->start(workers => 2, http => $http, server => $server);

# 1. the exposition as a whole
my ($st, $head, $body, $m) = scrape($n->port);
is($st, 200, 'metrics answered');
my ($rc, $out) = promtool($body, 'check', 'metrics');
is($rc, 0, 'promtool check metrics accepts the output') or diag($out, $body);
is($out, '', 'and has nothing to say about it');

for my $name (qw(fsauth_redis_connected fsauth_invalidation_connected
                 fsauth_api_enabled)) {
    like($body, qr/^# HELP $name \S.*\n# TYPE $name gauge\n$name \d+$/m,
         "$name: HELP, TYPE gauge, one sample");
}
like($body, qr/^# TYPE fsauth_activity_dropped_total counter\n
               fsauth_activity_dropped_total\ 0$/mx,
     'fsauth_activity_dropped_total: a counter, 0 at first');

# 2. fsauth_build_info
my ($version) = do {
    open my $fh, '<', 'VERSION' or die "VERSION: $!";
    my $v = <$fh>;
    chomp $v;
    $v;
};
my ($nginx) = `$n->{binary} -v 2>&1` =~ m{nginx/(\d+\.\d+\.\d+)};
my ($labels) = $body =~ /^fsauth_build_info\{([^}]*)\} 1$/m;
ok(defined $labels, 'fsauth_build_info is 1');
$labels //= '';
my %l = $labels =~ /(\w+)="([^"]*)"/g;
is_deeply([sort keys %l], [qw(hiredis nginx version)],
          'its labels: version, nginx, hiredis');
is($l{version}, $version, 'version: the VERSION file');
is($l{nginx}, $nginx, 'nginx: the version of the nginx it runs in');
like($l{hiredis} // '', qr/^\d+\.\d+\.\d+$/, 'hiredis: major.minor.patch');
my $deb = `dpkg-query -W -f='\${Version}' libhiredis-dev 2>/dev/null`;
SKIP: {
    skip 'libhiredis-dev is not a Debian package here', 1 unless $deb;
    (my $upstream = $deb) =~ s/^\d+://;
    like($upstream, qr/^\Q$l{hiredis}\E\b/,
         "hiredis: the headers built with (libhiredis-dev $deb)");
}

# 3. both workers are connected, the API is on
is($m->{fsauth_redis_connected}, 2, 'two workers with a lookup connection');
is(wait_metric($n, 'fsauth_invalidation_connected', 2, 3), 2,
   'two workers with an invalidation channel');
is($m->{fsauth_api_enabled}, 1, 'API enabled');

# 4. the kill switch, read by every worker within its poll interval
redis_at($rport, 'HSET', "${p}api", 'enabled', '0');
is(wait_metric($n, 'fsauth_api_enabled', 0, 3), 0,
   'kill switch off: fsauth_api_enabled 0');
is(req($n), 403, 'and requests are refused');
redis_at($rport, 'HSET', "${p}api", 'enabled', '1');
my $t0 = time;
is(wait_metric($n, 'fsauth_api_enabled', 1, 3), 1,
   'kill switch back on: fsauth_api_enabled 1');
# once both workers have read it (one poll interval)
sleep 1.2;

# 5. activity dropped while Redis is down: the key is cached, its next
# write is due after interval=1s
is(req($n), 200, 'granted, the key is cached') for 1 .. 2;
sleep 0.3;    # the batch of the write due goes out (100 ms)
(undef, undef, undef, $m) = scrape($n->port);
is($m->{fsauth_activity_dropped_total}, 0, 'no activity dropped yet');

stop_redis($rport);
is(wait_metric($n, 'fsauth_redis_connected', 0, 5), 0,
   'Redis stopped: fsauth_redis_connected 0 within 5 s');
is(wait_metric($n, 'fsauth_invalidation_connected', 0, 5), 0,
   'fsauth_invalidation_connected 0');
(undef, undef, undef, $m) = scrape($n->port);
is($m->{fsauth_api_enabled}, 1, 'the kill switch state is kept');

sleep 1.1;
my @st = map { req($n) } 1 .. 4;
is_deeply(\@st, [200, 200, 200, 200], 'served from the cache meanwhile');
(undef, undef, undef, $m) = scrape($n->port);
cmp_ok($m->{fsauth_activity_dropped_total}, '>=', 1,
       'the activity write that was due is counted as dropped');
cmp_ok($m->{fsauth_activity_dropped_total}, '<=', 2,
       'once per worker at most, within the interval');
my $dropped = $m->{fsauth_activity_dropped_total};

# 6. Redis back
$rport = restart_redis($rport);
is(wait_metric($n, 'fsauth_redis_connected', 2, 5), 2,
   'Redis restarted: fsauth_redis_connected back to 2 within 5 s');
is(wait_metric($n, 'fsauth_invalidation_connected', 2, 5), 2,
   'fsauth_invalidation_connected back to 2');
sleep 1.1;
req($n) for 1 .. 4;
sleep 0.3;
(undef, undef, undef, $m) = scrape($n->port);
is($m->{fsauth_activity_dropped_total}, $dropped,
   'nothing more dropped once Redis is back');

# 7. a worker killed with SIGKILL: its slot is taken by the new one
my @workers = $n->worker_pids;
is(scalar @workers, 2, 'two workers');
kill 'KILL', $workers[0];
my $respawned = 0;
for (1 .. 250) {
    my %now = map { $_ => 1 } $n->worker_pids;
    if (!$now{$workers[0]} && keys %now == 2) {
        $respawned = 1;
        last;
    }
    sleep 0.02;
}
ok($respawned, 'the master started a new worker');
sleep 0.5;
(undef, undef, undef, $m) = scrape($n->port) for 1 .. 4;
is($m->{fsauth_redis_connected}, 2, 'still 2 lookup connections, not 3');
is($m->{fsauth_invalidation_connected}, 2, 'still 2 invalidation channels');

# 8. a reload to one worker: the old workers' slots are freed as they exit
$n->reload(workers => 1, http => $http, server => $server);
is(wait_metric($n, 'fsauth_redis_connected', 1, 3), 1,
   'after a reload to one worker: 1');
is(wait_metric($n, 'fsauth_invalidation_connected', 1, 3), 1,
   'one invalidation channel');

$n->stop;
my @alerts = grep { /\[alert\]|\[crit\]/ && !/exited on signal 9/ }
             split /\n/, $n->error_log;
is_deeply(\@alerts, [], 'no alert but the SIGKILL of the worker');

stop_redis($rport);
done_testing();
