# Per-key address lists under a running nginx: the "allow_ips" field
# refuses a request from another address with 403 (IPv4, IPv6, IPv4-mapped,
# after realip, over an IPv6 listener and a unix socket), on cache hits
# as on misses, with a key whose grants and list do not all fit in its
# cache entry too; a refusal counts toward the ban; changes by redis-cli
# and fsauthctl reach every worker within 100 ms; a malformed list makes
# the record invalid, logged once per key.
# Plain Test::More, not Test::Nginx: listeners of several kinds, two
# workers, Redis edits, timing.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use IO::Socket::IP;
use IO::Socket::UNIX;
use Time::HiRes qw(time sleep);
use FsauthTest;
use FsauthNginx;

plan skip_all => 'TEST_NGINX_REDIS_PORT and FSAUTHCTL are needed '
               . '(run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT} && $ENV{FSAUTHCTL}
           && -x $ENV{FSAUTHCTL};

my $rp = $ENV{TEST_NGINX_REDIS_PORT};

my $location = <<'_EOC_';
        location /api/ {
            fsauth on;
            add_header X-Fsauth $fsauth_status always;
            add_header X-Cache $fsauth_cache_status always;
            add_header X-Pid $pid always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

# one request over any socket: (status, $fsauth_cache_status,
# $fsauth_status, pid, body)
sub exchange {
    my ($s, $token, %o) = @_;
    my $path = $o{path} // '/api/3/clientes';
    my $real = $o{from} ? "X-Real-IP: $o{from}\r\n" : '';
    my ($st, $head, $body) = http_raw($s, "GET $path HTTP/1.0\r\nHost: x\r\n"
                                      . "${real}X-Auth-Token: $token\r\n\r\n",
                                      3);
    my ($cache) = $head =~ /^X-Cache: (\S+)/mi;
    my ($fs) = $head =~ /^X-Fsauth: (\S+)/mi;
    my ($pid) = $head =~ /^X-Pid: (\d+)/mi;
    return ($st, $cache // '', $fs // '', $pid // 0, $body);
}

sub get {
    my ($n, $token, %o) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1',
                                PeerPort => $n->port, Timeout => 3)
        or return (0, '', '', 0, '');
    return exchange($s, $token, %o);
}

sub key_with {
    my ($p, $token, $id, $ips, %o) = @_;
    my $d = add_key(prefix => $p, token => $token, id => $id,
                    grants => $o{grants} // { clientes => 'get' });
    redis('HSET', "${p}key:$d", 'allow_ips', $ips) if defined $ips;
    return $d;
}

my $ctl = sub {
    my ($p, @args) = @_;
    return system($ENV{FSAUTHCTL}, '-p', $rp, '--prefix', $p, @args) >> 8;
};

# 1. IPv4 clients, direct and after realip; IPv6 and mapped via realip
{
    my $p = 't071a:';
    flush_prefix($p);
    my %tokens = (1 => 'tok-inside-00001', 2 => 'tok-outside-0002',
                  5 => 'tok-v6list-00005', 6 => 'tok-mapped-00006');
    key_with($p, 'tok-inside-00001', 1, '10.0.0.0/8,127.0.0.1');
    key_with($p, 'tok-outside-0002', 2, '10.0.0.0/8,192.168.0.0/16');
    key_with($p, 'tok-nolist-00003', 3, undef);
    key_with($p, 'tok-emptylist-04', 4, '');
    key_with($p, 'tok-v6list-00005', 5, '2001:db8::/32,192.0.2.0/24');
    key_with($p, 'tok-mapped-00006', 6, '::ffff:10.0.0.0/104');

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=a1:1m;\n"
              . "    fsauth_ban off;",
        server => $location . <<'_EOC_');
        location /real/ {
            set_real_ip_from 127.0.0.1;
            real_ip_header X-Real-IP;
            fsauth on;
            add_header X-Cache $fsauth_cache_status always;
            add_header X-Fsauth $fsauth_status always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

    for my $round ('MISS', 'HIT') {
        my @r = get($n, 'tok-inside-00001');
        is("@r[0..2]", "200 $round granted",
           "127.0.0.1 in the list: granted ($round)");
        @r = get($n, 'tok-outside-0002');
        is("@r[0..2]", "403 $round forbidden",
           "127.0.0.1 outside the list: 403 forbidden ($round)");
        is($r[4], '{"status":"error","message":"Forbidden"}',
           'the Forbidden body');
        @r = get($n, 'tok-nolist-00003');
        is("@r[0..1]", "200 $round", "no allow_ips: as before ($round)");
        @r = get($n, 'tok-emptylist-04');
        is("@r[0..1]", "200 $round", "an empty allow_ips: as before ($round)");
    }

    # key, client address set by realip, status, what it shows
    for my $c (
        [ 2, '10.20.30.40', 200, 'a client placed inside the list' ],
        [ 2, '192.168.7.1', 200, 'inside its second entry' ],
        [ 2, '192.169.0.1', 403, 'a client placed outside it' ],
        [ 1, '172.16.0.1', 403, 'the proxy\'s own address no longer counts' ],
        [ 2, '::ffff:10.1.2.3', 200,
          'an IPv4-mapped IPv6 address counts as its IPv4 address' ],
        [ 2, '::ffff:11.1.2.3', 403, 'and is refused outside the list' ],
        [ 6, '10.1.2.3', 403,
          'an IPv6 entry for mapped addresses matches no IPv4 client' ],
        [ 5, '2001:db8:ffff::1', 200, 'IPv6 client inside an IPv6 network' ],
        [ 5, '2001:db9::1', 403, 'IPv6 client outside it' ],
        [ 5, '192.0.2.77', 200, 'IPv4 client in a list of both families' ],
        [ 2, '2001:db8::1', 403, 'IPv6 client against an IPv4-only list' ])
    {
        my ($id, $from, $want, $what) = @$c;
        my @r = get($n, $tokens{$id}, path => '/real/3/clientes',
                    from => $from);
        is($r[0], $want, "realip: $what: $want");
    }

    $n->stop;
    my $log = $n->error_log;
    like($log, qr/fsauth: key 2 may not be used from 127\.0\.0\.1/,
         'a refusal is logged with the key id and the address');
    like($log, qr/fsauth: key 5 may not be used from 2001:db9::1/,
         'an IPv6 refusal too');
    unlike($log, qr/\[alert\]|\[crit\]/, 'no alert');
}

# 2. an IPv6 listener and a unix socket
{
    my $p = 't071b:';
    flush_prefix($p);
    key_with($p, 'tok-v6-loop-0001', 1, '::1');
    key_with($p, 'tok-v4-loop-0002', 2, '127.0.0.0/8');
    key_with($p, 'tok-no-list-0003', 3, undef);
    key_with($p, 'tok-anywhere-004', 4, '0.0.0.0/0,::/0');

    my $port6 = free_port();
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my $sock = "$dir/fsauth.sock";

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=b1:1m;\n"
              . "    fsauth_ban off;",
        server => "        listen [::1]:$port6;\n"
                . "        listen unix:$sock;\n" . $location);

    my $v6 = sub {
        my $s = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $port6,
                                    Timeout => 3);
        return $s ? (exchange($s, $_[0]))[0] : "no connection: $@";
    };
    my $unix = sub {
        my $s = IO::Socket::UNIX->new(Peer => $sock);
        return $s ? (exchange($s, $_[0]))[0] : "no connection: $!";
    };

    for my $round (1, 2) {
        is($v6->('tok-v6-loop-0001'), 200, "over [::1], ::1 listed: 200");
        is($v6->('tok-v4-loop-0002'), 403,
           'over [::1], only 127.0.0.0/8 listed: 403');
        is((get($n, 'tok-v4-loop-0002'))[0], 200,
           'the same key over 127.0.0.1: 200');
        is($unix->('tok-v4-loop-0002'), 403,
           'a unix socket client has no address: refused');
        is($unix->('tok-anywhere-004'), 403,
           'even by a list of every address');
        is($unix->('tok-no-list-0003'), 200,
           'a key without a list over the unix socket: 200');
    }

    $n->stop;
    like($n->error_log, qr/fsauth: key 4 may not be used from unix:/,
         'the unix socket refusal is logged');
}

# 3. a refusal is a ban incident like any 403
{
    my $p = 't071c:';
    flush_prefix($p);
    key_with($p, 'tok-banned-00001', 1, '10.0.0.0/8');

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=c1:1m;\n"
              . "    set_real_ip_from 127.0.0.1;\n"
              . "    real_ip_header X-Real-IP;\n"
              . "    fsauth_ban 3 600s;",
        server => $location);

    my @st = map { (get($n, 'tok-banned-00001', from => '192.0.2.9'))[0] }
             1 .. 4;
    is("@st", '403 403 403 429',
       'three refusals by address, then the address is banned');
    is((get($n, 'tok-banned-00001', from => '10.9.9.9'))[0], 200,
       'the key still works from its own network');

    $n->stop;
}

# 4. a malformed list: the record is invalid (401), logged once per key
{
    my $p = 't071d:';
    flush_prefix($p);

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=d1:1m;\n"
              . "    fsauth_ban off;",
        server => $location);

    my $i = 10;
    my @bad = ('10.0.0.0/33', '10.0.0.1/8', 'example.com', '10.0.0.0/8,',
               ',10.0.0.0/8', '10.0.0.0/8, 127.0.0.1', '127.0.0.1/08',
               'any', '1.2.3.4,' x 8 . '127.0.0.1', '1:2:3:4:5:6:7:8::',
               '127.0.0.1;10.0.0.0/8', ' ');
    for my $bad (@bad) {
        my $tok = sprintf('tok-malformed-%04d', $i);
        key_with($p, $tok, $i, $bad);
        my @r = get($n, $tok);
        is("@r[0..2]", '401 MISS unauthorized', "allow_ips '$bad': 401");
        @r = get($n, $tok);
        is("@r[0..2]", '401 NEGATIVE unauthorized',
           "allow_ips '$bad': 401 again, from the cache");
        $i++;
    }

    key_with($p, 'tok-eight-entries', 99,
             join(',', map { "10.$_.0.0/16" } 1 .. 7) . ',127.0.0.1/32');
    is((get($n, 'tok-eight-entries'))[0], 200,
       'eight entries, the last one matching: granted');

    $n->stop;
    my $log = $n->error_log;
    my @lines = $log =~ /(key record 10 has an "allow_ips" that [^,]*)/g;
    is(scalar @lines, 1, 'the invalid record is logged once')
        or diag(join "\n", @lines);
    like($lines[0] // '',
         qr/key\ record\ 10\ has\ an\ "allow_ips"\ that\ is\ not\ a\ comma
            \ list\ of\ at\ most\ 8\ IPv4\/IPv6\ networks/x,
         'with its key id and the rule');
    for my $id (11 .. 9 + @bad) {
        like($log, qr/key record $id has an "allow_ips" that/,
             "key $id is logged as invalid");
    }
}

# 5. grants and list that do not all fit in the cache entry
{
    my $p = 't071e:';
    flush_prefix($p);

    # 19 grants of 40-byte resources fill 798 of the 808 bytes: the
    # eight networks (144 bytes) push the last grants out of the entry
    my %grants = map { (sprintf('r%02d', $_) . ('x' x 37) => 'get') } 1 .. 19;
    my $list = join(',', map { "10.$_.0.0/16" } 1 .. 7);
    my $in = key_with($p, 'tok-full-inside-1', 1, "$list,127.0.0.1",
                      grants => \%grants);
    my $out = key_with($p, 'tok-full-outside2', 2, "$list,192.0.2.1",
                       grants => \%grants);

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=e1:1m;\n"
              . "    fsauth_ban off;",
        server => $location);

    # the listing caches each key; then the grants left out of the entry
    # are those whose first request misses (the hash order is Redis's)
    is((get($n, 'tok-full-inside-1', path => '/api/3'))[0], 200,
       'the listing, address listed: 200');
    is((get($n, 'tok-full-outside2', path => '/api/3'))[0], 403,
       'the listing, address not listed: 403');

    my %missed;
    for my $r (1 .. 19) {
        my $path = sprintf('/api/3/r%02d', $r) . ('x' x 37);
        for my $tok ('tok-full-inside-1', 'tok-full-outside2') {
            my $want = $tok =~ /inside/ ? 200 : 403;
            my @x = get($n, $tok, path => $path);
            $missed{$tok}++ if $x[1] eq 'MISS';
            is($x[0], $want, "$tok, grant $r of 19: $want");
            @x = get($n, $tok, path => $path);
            is("@x[0..1]", "$want HIT", "$tok, grant $r of 19: $want (HIT)");
        }
    }

    is($missed{'tok-full-inside-1'}, 4,
       'four grants left the entry to make room for the list');
    is($missed{'tok-full-outside2'}, 4, 'for the other key too');

    my @x = get($n, 'tok-full-inside-1', path => '/api/3/other');
    is($x[0], 403, 'a resource without a grant: 403');
    @x = get($n, 'tok-full-inside-1', path => '/api/3/other');
    is("@x[0..1]", '403 HIT', 'from the cache too');

    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]|has an "allow_ips"/,
           'no alert, the record is valid');
}

# 6. changes by redis-cli and by fsauthctl, on both workers, in 100 ms
{
    my $p = 't071f:';
    flush_prefix($p);
    my $d = key_with($p, 'tok-user-0000007', 7, undef);
    my $key = "${p}key:$d";

    my $n = FsauthNginx->start(
        workers => 2,
        http => "    fsauth_redis 127.0.0.1:$rp prefix=$p;\n"
              . "    fsauth_cache zone=f1:1m ttl=1h;\n"
              . "    fsauth_ban off;",
        server => $location);

    my $get = sub { (get($n, 'tok-user-0000007'))[0, 1, 3] };
    is($n->warm($get), 2, 'both workers answer from the cache');

    my $check = sub {
        my ($name, $want, $do) = @_;
        $do->();
        sleep 0.1;
        my ($bad, $workers) = $n->burst($get, $want);
        is($bad, '', "$name: seen by every request 100 ms later");
        is($workers, 2, "$name: through both workers");
    };

    $check->('redis-cli: a list without 127.0.0.1', 403,
             sub { redis('HSET', $key, 'allow_ips', '10.0.0.0/8') });
    $check->('redis-cli: a list with it', 200,
             sub { redis('HSET', $key, 'allow_ips', '10.0.0.0/8,127.0.0.1') });
    $check->('redis-cli: a malformed list', 401,
             sub { redis('HSET', $key, 'allow_ips', '10.0.0.0/8,x') });
    $check->('redis-cli: the list removed', 200,
             sub { redis('HDEL', $key, 'allow_ips') });
    $check->('fsauthctl key allow-ips 192.0.2.0/24', 403,
             sub { is($ctl->($p, 'key', 'allow-ips', 7, '192.0.2.0/24'), 0,
                        'fsauthctl: exit 0') });
    $check->('fsauthctl key allow-ips 127.0.0.0/8,::1', 200,
             sub { is($ctl->($p, qw(key allow-ips 7), '127.0.0.0/8,::1'),
                      0, 'fsauthctl: exit 0') });
    $check->('fsauthctl key allow-ips 10.0.0.0/8', 403,
             sub { is($ctl->($p, 'key', 'allow-ips', 7, '10.0.0.0/8'), 0,
                        'fsauthctl: exit 0') });
    $check->('fsauthctl key allow-ips any', 200,
             sub { is($ctl->($p, 'key', 'allow-ips', 7, 'any'), 0,
                        'fsauthctl: exit 0') });

    $n->stop;
    unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
}

done_testing();
