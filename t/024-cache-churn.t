# A million replacements: 100,000 keys of mixed sizes (1, 10 and 30
# grants) requested in turn by wrk, through a 1m zone that holds a few
# thousand of them, so that nearly every request evicts a key and caches
# another of some size, until the zone has taken in 1,000,000 records.
# After each round the zone must hold about as many keys as after the
# first (chunks freed by one size are not lost to the others), a working
# set of mixed keys must be served from the cache, the workers' memory
# must stay flat, and the zone must never say it is full.
# Plain Test::More, not Test::Nginx: wrk, metrics between rounds.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use File::Temp qw(tempdir);
use FsauthTest;
use FsauthNginx;
use FsauthMetrics;
use FsauthSizedKeys;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $rp = $ENV{TEST_NGINX_REDIS_PORT};
my $p = 't024:';
my $keys = 100_000;
my $target = 1_000_000;

sub flush {
    redis_at($rp, 'EVAL', "local n = 0 for _, k in ipairs(redis.call('KEYS',"
                          . " ARGV[1])) do redis.call('DEL', k) n = n + 1"
                          . " end return n", 0, "${p}*");
}

sub token { sprintf 'tok-churn-%07d', $_[0] }

flush();
seed_sized_keys($rp, $p, \&token, 1, $keys, \&size_kind);

my $n = FsauthNginx->start(
    workers => 2,
    http => "    fsauth_redis 127.0.0.1:$rp prefix=$p timeout=5s;\n"
          . "    fsauth_cache zone=churn:1m ttl=1h;\n"
          . "    fsauth_ban off;\n    fsauth_activity off;",
    server => <<'_EOC_');
        location /api/ {
            fsauth on;
            add_header X-Cache $fsauth_cache_status always;
        }
        location = /metrics {
            fsauth_metrics;
        }
_EOC_
# a static file: the cheapest answer after the access phase (readable by
# a worker running as nobody)
mkdir "$n->{dir}/html/api";
mkdir "$n->{dir}/html/api/3";
write_file("$n->{dir}/html/api/3/clientes", "[]\n");
chmod 0755, $n->{dir}, map { "$n->{dir}/html$_" } '', '/api', '/api/3';
chmod 0644, "$n->{dir}/html/api/3/clientes";

# wrk's two threads walk the keys with a stride coprime to their number,
# each from its own start, so consecutive requests hit unrelated keys
my $lua = tempdir(CLEANUP => 1) . '/churn.lua';
write_file($lua, <<"_EOL_");
local threads = 0
function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end
local i = 0
function request()
    i = i + 1
    local k = ((tid * 50021 + i) * 7919) % $keys + 1
    return wrk.format("GET", "/api/3/clientes",
                      { ["X-Auth-Token"] = string.format("tok-churn-%07d", k) })
end
_EOL_

sub get {
    my ($i) = @_;
    my ($st, $head) = http_raw($n->port,
        "GET /api/3/clientes HTTP/1.0\r\nHost: x\r\n"
        . 'X-Auth-Token: ' . token($i) . "\r\n\r\n", 3);
    my ($cache) = $head =~ /^X-Cache: (\S+)/mi;
    return ($st, $cache // '');
}

sub metrics {
    my (undef, undef, undef, $m) = scrape($n->port);
    return $m;
}

sub rss_kb {
    my $kb = 0;
    for my $pid ($n->worker_pids) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) { $kb += $1 if /^VmRSS:\s+(\d+)/ }
    }
    return $kb;
}

my $miss_key = 'fsauth_cache_requests_total{result="miss"}';
my (@kept, @rss, @ws, $non2xx, $rounds);
my $t0 = time;
while ((metrics()->{$miss_key} // 0) < $target && $rounds++ < 60) {
    my $url = 'http://127.0.0.1:' . $n->port . '/';
    my $out = `wrk -t 2 -c 16 -d 4s -s $lua $url 2>&1`;
    die "wrk failed:\n$out" if $? != 0 || $out !~ /requests in/;
    $non2xx += $1 if $out =~ /Non-2xx or 3xx responses: (\d+)/;

    push @kept, metrics()->{fsauth_cache_keys} // -1;
    push @rss, rss_kb();

    # a working set of every size, then served from the cache
    my @set = map { 7 * $_ } 1 .. 60;
    get($_) for @set;
    my $hits = 0;
    for my $pass (1 .. 2) {
        for my $i (@set) {
            my ($st, $cache) = get($i);
            $hits++ if $st == 200 && $cache eq 'HIT';
        }
    }
    push @ws, $hits;
}
my $m = metrics();
diag(sprintf '%d misses (records taken in) in %d rounds, %d s',
     $m->{$miss_key}, scalar @kept, time - $t0);
diag('keys held after each round: ' . join(', ', @kept));
diag('workers\' RSS (KiB) after each round: ' . join(', ', @rss));

cmp_ok($m->{$miss_key}, '>=', $target,
       'the zone took in a million records');
ok(!$non2xx, 'every request granted') or diag("$non2xx were not 2xx");
cmp_ok($kept[0], '>', 1000, "the zone holds keys ($kept[0])");
my ($least) = sort { $a <=> $b } @kept;
cmp_ok($least, '>=', 0.8 * $kept[0],
       'each round leaves about as many keys as the first');
is_deeply([grep { $_ != 120 } @ws], [],
          'a working set of 60 mixed keys is served from the cache after'
          . ' every round');
# the first round grows the heaps to their working size
cmp_ok($rss[-1], '<=', $rss[0] + 8192,
       'the workers\' memory stays flat (within 8 MiB of the first round)');
unlike($n->error_log, qr/is full, entry not cached|\[(?:alert|crit|emerg)\]/,
       'the zone never said it was full, nothing worse than an error');
$n->stop;

is(flush(), $keys, 'the keys are removed');

done_testing();
