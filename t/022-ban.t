# The ban against clients with many addresses: IPv6 clients counted per
# prefix (/64 unless ipv6_prefix= says otherwise), IPv4-mapped addresses
# as IPv4, active bans never evicted to make room for new addresses, and
# such refusals logged and counted.  Addresses come from X-Real-IP.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use FsauthTest;
use FsauthNginx;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $rp = $ENV{TEST_NGINX_REDIS_PORT};

my $http = <<"_EOC_";
    fsauth_redis 127.0.0.1:$rp prefix=t022:;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
_EOC_

my $server = <<'_EOC_';
        location /api/ {
            fsauth on;
            fsauth_global_key GLOBAL-KEY-1;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
        location /p128/ {
            fsauth on;
            fsauth_global_key GLOBAL-KEY-1;
            fsauth_ban 5 600s ipv6_prefix=128;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
        location /p48/ {
            fsauth on;
            fsauth_global_key GLOBAL-KEY-1;
            fsauth_ban 5 600s ipv6_prefix=48;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
        location /once/ {
            fsauth on;
            fsauth_global_key GLOBAL-KEY-1;
            fsauth_ban 1 600s;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
        location = /metrics {
            fsauth_metrics;
        }
_EOC_

# status of one request from $addr; a bad token unless $token is given
sub from {
    my ($n, $addr, $token, $loc) = @_;
    $loc //= 'api';
    $token //= 'bad-token-000001';
    my ($st) = http_raw($n->port, "GET /$loc/3/clientes HTTP/1.0\r\n"
                        . "Host: x\r\nX-Real-IP: $addr\r\n"
                        . "X-Auth-Token: $token\r\n\r\n", 3);
    return $st;
}

sub banned {
    my ($n, $addr, $loc) = @_;
    return from($n, $addr, 'GLOBAL-KEY-1', $loc) == 429 ? 1 : 0;
}

sub metrics {
    my ($n) = @_;
    my (undef, undef, $body) = http_raw($n->port,
                                        "GET /metrics HTTP/1.0\r\n\r\n", 3);
    my %m = $body =~ /^(\S+) (\S+)$/mg;
    return \%m;
}

sub start {
    my ($zone) = @_;
    return FsauthNginx->start(
        http => $http . "    fsauth_cache zone=$zone:1m;",
        server => $server);
}

# 1. one counter per /64, per address for IPv4 and IPv4-mapped addresses
{
    my $n = start('b1');

    is(from($n, "2001:db8:1:2::$_"), 401, "401 from 2001:db8:1:2::$_")
        for 1 .. 5;
    is(banned($n, '2001:db8:1:2:ffff:ffff:ffff:fffe'), 1,
       'five addresses of one /64: the sixth one is banned');
    is(banned($n, '2001:db8:1:3::1'), 0, 'the next /64 is not');

    from($n, '10.0.0.7') for 1 .. 4;
    from($n, '::ffff:10.0.0.7');
    is(banned($n, '10.0.0.7'), 1,
       'an IPv4-mapped address counts as its IPv4 address');
    is(banned($n, '::ffff:10.0.0.7'), 1, 'and is banned with it');
    from($n, '10.0.0.8') for 1 .. 4;
    is(banned($n, '10.0.0.9'), 0, 'IPv4 stays per address');

    # ipv6_prefix=128: per address; ipv6_prefix=48
    from($n, "2001:db8:9::$_", undef, 'p128') for 1 .. 5;
    is(banned($n, '2001:db8:9::6', 'p128'), 0,
       'ipv6_prefix=128: five addresses, five counters');
    from($n, '2001:db8:9::1', undef, 'p128') for 1 .. 4;
    is(banned($n, '2001:db8:9::1', 'p128'), 1,
       'ipv6_prefix=128: one address banned');

    from($n, "2001:db8:aa:${_}::1", undef, 'p48') for 1 .. 5;
    is(banned($n, '2001:db8:aa:ffff::1', 'p48'), 1,
       'ipv6_prefix=48: five /64s of one /48, the sixth is banned');
    is(banned($n, '2001:db8:ab::1', 'p48'), 0, 'the next /48 is not');

    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
}

# 2. 300 new addresses do not evict an active ban (a 1m zone holds 256
# ban counters): the oldest counters that are not bans go instead
{
    my $n = start('b2');

    from($n, '10.9.0.1') for 1 .. 5;
    from($n, '2001:db8:7:7::1') for 1 .. 5;
    is(banned($n, '10.9.0.1'), 1, 'an IPv4 address banned');
    is(banned($n, '2001:db8:7:7::2'), 1, 'a /64 banned');

    my $bad = 0;
    for my $i (1 .. 300) {
        $bad++ if from($n, sprintf('10.10.%d.%d', $i >> 8, $i & 255))
                  != 401;
    }
    is($bad, 0, '300 new IPv4 addresses, one 401 each');
    for my $i (1 .. 300) {
        from($n, sprintf('2001:db8:8:%x::1', $i));
    }

    is(banned($n, '10.9.0.1'), 1, 'the IPv4 ban is still in force');
    is(banned($n, '2001:db8:7:7::3'), 1, 'the /64 ban is still in force');

    # 300 addresses of one /64 share one counter: banned after five
    my %st;
    $st{ from($n, "2001:db8:6:6::$_") }++ for 1 .. 300;
    is("@{[ map { \"$_:$st{$_}\" } sort keys %st ]}", '401:5 429:295',
       '300 addresses of one /64: five 401s, then 429');

    is(banned($n, '10.9.0.1'), 1, 'still in force after those');

    $n->stop;
    unlike($n->error_log, qr/ban table .* is full/,
           'nothing was refused: there was always a counter to evict');
}

# 3. a table full of active bans: new addresses are not counted, which
# is logged once and counted
{
    my $n = start('b3');

    # fsauth_ban 1 600s: every 401 bans its address
    from($n, sprintf('10.20.%d.%d', $_ >> 8, $_ & 255), undef, 'once')
        for 1 .. 300;

    is(banned($n, '10.20.0.1', 'once'), 1, 'the first address is banned');
    is(banned($n, '10.20.1.0', 'once'), 1, 'the 256th is banned');
    is(banned($n, '10.20.1.1', 'once'), 0,
       'the 257th was not counted: the table is full of bans');
    is(banned($n, '10.20.1.44', 'once'), 0, 'nor the 300th');

    my $m = metrics($n);
    is($m->{fsauth_bans}, 256, '256 bans in force');
    is($m->{fsauth_ban_refused_total}, 44, '44 incidents refused');

    $n->stop;
    my @warn = $n->error_log
               =~ /\[warn\].*fsauth: ban table of cache zone "b3" is full/g;
    is(scalar @warn, 1, 'the refusal is logged once');
}

done_testing();
