# Key nodes sized to their records: a small zone refilled again and again
# with keys of three sizes (a few, a dozen and many grants, in the slab's
# 256, 512 and 1024-byte classes) keeps as many keys and caches a working
# set whole afterwards (freed chunks of one size are not lost to another),
# never says it is full; a 1m zone holds the small keys a 1 KiB node per
# key could not.
# Plain Test::More, not Test::Nginx: thousands of keys, metrics between
# rounds.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use List::Util qw(shuffle);
use FsauthTest;
use FsauthNginx;
use FsauthMetrics;
use FsauthSizedKeys;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $rp = $ENV{TEST_NGINX_REDIS_PORT};
my $p = 't023:';

# flush_prefix() deletes key by key: too slow for thousands
sub flush {
    redis_at($rp, 'EVAL', "for _, k in ipairs(redis.call('KEYS', ARGV[1]))"
                          . " do redis.call('DEL', k) end return 0", 0,
             "${p}*");
}

sub token { sprintf 'tok-size-%07d', $_[0] }

sub get {
    my ($n, $i) = @_;
    my ($st, $head) = http_raw($n->port,
        "GET /api/3/clientes HTTP/1.0\r\nHost: x\r\n"
        . 'X-Auth-Token: ' . token($i) . "\r\n\r\n", 3);
    my ($cache) = $head =~ /^X-Cache: (\S+)/mi;
    return ($st, $cache // '');
}

sub start {
    my ($zone) = @_;
    return FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=$zone ttl=1h;\n"
              . "    fsauth_ban off;\n    fsauth_activity off;",
        server => <<'_EOC_');
        location /api/ {
            fsauth on;
            add_header X-Cache $fsauth_cache_status always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
        location = /metrics {
            fsauth_metrics;
        }
_EOC_
}

sub cached_keys {
    my ($n) = @_;
    my (undef, undef, undef, $m) = scrape($n->port);
    return $m->{fsauth_cache_keys} // -1;
}

flush();

# 1. 400 keys of mixed sizes (about 190 KiB of nodes) through a 128k
#    zone, eight times in a different order each time
{
    seed_sized_keys($rp, $p, \&token, 1, 400, \&size_kind);
    my $n = start('s1:128k');

    srand(23);
    my (@kept, $bad);
    for my $round (1 .. 8) {
        my @order = shuffle(1 .. 400);
        for my $i (@order) {
            my ($st) = get($n, $i);
            $bad++ if $st != 200;
        }
        push @kept, cached_keys($n);
    }
    diag('keys held after each round: ' . join(', ', @kept));
    ok(!$bad, 'every request granted') or diag("$bad refused");
    cmp_ok($kept[0], '>', 100, "the zone holds keys ($kept[0])");
    # which keys the last requests were varies the count by about 10 %
    my ($least) = sort { $a <=> $b } @kept[1 .. $#kept];
    cmp_ok($least, '>=', 0.75 * $kept[0],
           'each later round leaves about as many');

    # a working set of every size, then all hits
    my @set = (1 .. 60);
    get($n, $_) for @set;
    my %seen;
    for my $pass (1 .. 3) {
        for my $i (@set) {
            my ($st, $cache) = get($n, $i);
            $seen{"$st $cache"}++;
        }
    }
    is_deeply(\%seen, { '200 HIT' => 180 },
              'a working set of 60 mixed keys is then served from the cache');
    unlike($n->error_log, qr/is full, entry not cached/,
           'the zone never said it was full');
    $n->stop;
}

# 2. capacity: small keys (1 grant) in a 1m zone
{
    seed_sized_keys($rp, $p, \&token, 1001, 6000);
    my $n = start('s2:1m');
    get($n, $_) for 1001 .. 6000;
    my $keys = cached_keys($n);
    diag("a 1m zone holds $keys keys with one grant");
    # a 1 KiB node per key left room for about 1,000
    cmp_ok($keys, '>', 2500, "a 1m zone holds more than 2,500 small keys");
    $n->stop;
}

flush();

done_testing();
