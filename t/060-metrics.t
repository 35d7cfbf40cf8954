# fsauth_metrics: Prometheus text exposition of the shared counters.
# Plain Test::More, not Test::Nginx: counters shared by two workers of one running nginx, read between requests.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(sleep);
use FsauthTest;
use FsauthNginx;
use FakeRedis;
use FsauthMetrics;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $rp = $ENV{TEST_NGINX_REDIS_PORT};
my $p = 't060:';
flush_prefix($p);
my $d = add_key(prefix => $p, token => 'tok-user-0000001', id => 61,
                grants => { clientes => 'get' });

my $server = <<'_EOC_';
        location /api/ {
            fsauth on;
            fsauth_global_key GLOBAL-KEY-1;
            fsauth_ban 3 1m;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
        location = /metrics {
            fsauth_metrics;
        }
_EOC_

sub req {
    my ($n, $token, $path, $method) = @_;
    $method //= 'GET';
    $path //= '/api/3/clientes';
    my $h = $token ? "X-Auth-Token: $token\r\n" : '';
    my ($st) = http_raw($n->port, "$method $path HTTP/1.0\r\nHost: x\r\n$h"
                                  . "X-Real-IP: 10.1.1.1\r\n\r\n", 3);
    return $st;
}

sub metrics { scrape($_[0]->port) }

my $n = FsauthNginx->start(
    workers => 2,
    http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
          . "    fsauth_cache zone=m:1m;",
    server => $server);

# (fsauth_ban 3 1m; every request comes from 127.0.0.1)
req($n, 'tok-user-0000001') for 1 .. 5;             # 1 miss, 4 hits (shared)
req($n, 'tok-user-0000001', '/api/3/facturas');     # forbidden, incident 1
req($n, 'GLOBAL-KEY-1');                            # global
req($n, 'tok-unknown-0001');                        # miss, 401, incident 2
req($n, undef);                                     # 401, incident 3
req($n, undef);                                     # banned
req($n, 'GLOBAL-KEY-1');                            # banned
req($n, undef, '/api/3/x', 'OPTIONS');              # preflight

my ($st, $head, $body, $m) = metrics($n);
is($st, 200, 'metrics answered');
like($head, qr{^Content-Type: text/plain; version=0\.0\.4}mi,
     'Prometheus text format');
like($body, qr/^# TYPE fsauth_decisions_total counter$/m, 'TYPE lines');

is($m->{'fsauth_decisions_total{status="granted"}'}, 5, 'granted');
is($m->{'fsauth_decisions_total{status="forbidden"}'}, 1, 'forbidden');
is($m->{'fsauth_decisions_total{status="global"}'}, 1, 'global');
is($m->{'fsauth_decisions_total{status="unauthorized"}'}, 2,
   'unauthorized');
is($m->{'fsauth_decisions_total{status="banned"}'}, 2, 'banned');
is($m->{'fsauth_decisions_total{status="preflight"}'}, 1, 'preflight');
is($m->{'fsauth_bans'}, 1, 'one address banned now');
is($m->{'fsauth_ban_refused_total'}, 0, 'no ban incident refused');

is($m->{'fsauth_cache_requests_total{result="miss"}'}, 2,
   'cache misses (the user key, the unknown token)');
is($m->{'fsauth_cache_requests_total{result="hit"}'}, 5,
   'cache hits, shared by both workers');
is($m->{'fsauth_cache_keys'}, 1, 'one key cached');
is($m->{'fsauth_redis_commands_total{command="lookup"}'}, 2,
   'two lookups sent');
is($m->{'fsauth_lookup_duration_seconds_count'}, 2,
   'both lookups in the latency histogram');
is($m->{'fsauth_lookup_duration_seconds_bucket{le="+Inf"}'}, 2,
   'histogram +Inf bucket');
unlike($body, qr/tok-|61|$d/, 'no key id, token or digest in the output');

# an invalidation, a reconnect
redis('HSET', "${p}key:$d", 'nick', 'changed');
redis('CLIENT', 'KILL', 'TYPE', 'pubsub');
sleep 0.5;
(undef, undef, undef, $m) = metrics($n);
cmp_ok($m->{'fsauth_redis_invalidations_total'}, '>=', 1,
       'invalidations counted');
cmp_ok($m->{'fsauth_redis_connection_losses_total'}, '>=', 2,
       'connection losses counted (one per worker)');
cmp_ok($m->{'fsauth_redis_reconnects_total'}, '>=', 2,
       'reconnects counted');

my ($st2) = http_raw($n->port, "POST /metrics HTTP/1.0\r\n"
                               . "Content-Length: 0\r\n\r\n", 3);
is($st2, 405, 'only GET and HEAD');

# counters survive a reload
$n->reload(workers => 2,
           http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
                 . "    fsauth_cache zone=m:1m;",
           server => $server);
(undef, undef, undef, $m) = metrics($n);
is($m->{'fsauth_decisions_total{status="granted"}'}, 5,
   'counters survive a reload');

$n->stop;
unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');

# errors, timeouts and stale answers, against a fake Redis
my $fake = FakeRedis->start('tok-err-00000001' => 'err',
                            'tok-hang-0000001' => 'hang');
$n = FsauthNginx->start(
    http => '    fsauth_redis 127.0.0.1:' . $fake->port . " timeout=200ms;\n"
          . "    fsauth_cache zone=m2:1m;\n    fsauth_ban off;",
    server => $server);
is(req($n, 'tok-err-00000001'), 503, 'error reply: 503');
is(req($n, 'tok-hang-0000001'), 503, 'no reply: 503');
(undef, undef, undef, $m) = metrics($n);
is($m->{'fsauth_redis_errors_total'}, 1, 'error replies counted');
is($m->{'fsauth_redis_timeouts_total'}, 1, 'timeouts counted');
is($m->{'fsauth_decisions_total{status="unavailable"}'}, 2,
   'unavailable decisions counted');
$n->stop;
$fake->stop;

# an internal redirect that checks the request again: one decision, at
# most one ban incident per request (fsauth_ban 3 1m)
$n = FsauthNginx->start(
    http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
          . "    fsauth_cache zone=m3:1m;",
    server => <<'_EOC_');
        location /api/ {
            fsauth on;
            fsauth_ban 3 1m;
            fsauth_hide_credentials on;
            try_files /nonexistent /next$uri;
        }
        location /next/ {
            fsauth on;
            fsauth_ban 3 1m;
            fsauth_hide_credentials on;
            fsauth_resource facturas;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
        location = /metrics {
            fsauth_metrics;
        }
_EOC_
is(req($n, 'tok-user-0000001'), 403, 'granted, then refused after the redirect')
    for 1 .. 2;
(undef, undef, undef, $m) = metrics($n);
is($m->{'fsauth_decisions_total{status="granted"}'} // 0, 2,
   'two requests, two decisions');
my $all = 0;
$all += $m->{$_} for grep { /^fsauth_decisions_total\{/ } keys %$m;
is($all, 2, 'the re-check is not counted again');
is(req($n, 'tok-user-0000001'), 403, 'a third refusal: third incident');
is(req($n, 'tok-user-0000001'), 429, 'then the address is banned');
$n->stop;

flush_prefix($p);
done_testing();
