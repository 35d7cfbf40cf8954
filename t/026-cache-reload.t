# A reload that keeps the cache zone keeps its entries only while they
# come from the same Redis data: a change of address (TCP or unix
# socket), of the sentinels (another deployment with the same master
# name), of db= or of prefix= flushes the zone, so that a key that
# exists only in the old data is refused at once after the reload; the
# same Redis named again keeps them.
# Plain Test::More: nginx reloaded under private Redis and Sentinel sets.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use File::Temp;
use FsauthTest;
use FsauthNginx;
use FsauthSentinel;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $rp = $ENV{TEST_NGINX_REDIS_PORT};
my $other = start_redis();

# a server of its own on a unix socket the workers can reach
my $dir = File::Temp::tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $sock = "$dir/redis.sock";
my $unix = start_redis(dir => $dir, args => ['--unixsocket', $sock,
                                             '--unixsocketperm', '777']);
my $tok = 'tok-t026-old-data';

my $location = <<'_EOC_';
        location /api/ {
            fsauth on;
            add_header X-Cache $fsauth_cache_status always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub get {
    my ($n) = @_;
    my ($st, $head) = http_raw($n->port, "GET /api/3/clientes HTTP/1.0\r\n"
                               . "Host: x\r\nX-Auth-Token: $tok\r\n\r\n", 3);
    my ($cache) = $head =~ /^X-Cache: (\S+)/mi;
    return "$st " . ($cache // '');
}

# $from and $to: the fsauth_redis lines; the key exists only in $from's
sub reload_case {
    my ($what, $from, $to, $zone) = @_;
    my %conf = (http => "    $from\n    fsauth_cache zone=$zone:1m ttl=1h;\n"
                      . "    fsauth_ban off;",
                server => $location);
    my $n = FsauthNginx->start(%conf, settle => 0.5);
    is(get($n), '200 MISS', "$what: the key is read");
    is(get($n), '200 HIT', "$what: then cached");
    $n->reload(%conf, settle => 0.5);
    is(get($n), '200 HIT', "$what: the same Redis after a reload: kept");
    $conf{http} =~ s/\Q$from\E/$to/;
    $n->reload(%conf, settle => 0.5);
    is(get($n), '401 MISS',
       "$what changed: the key of the old data is refused at once");
    $n->stop;
    like($n->error_log, qr/cache zone "$zone" flushed, its parameters changed/,
         "$what: the flush is logged");
}

my $p = 't026:';
flush_prefix($p);
flush_prefix($p, port => $other);
flush_prefix($p, db => 1);
add_key(prefix => $p, token => $tok, id => 1,
        grants => { clientes => 'get' });
add_key(port => $unix, prefix => $p, token => $tok, id => 1,
        grants => { clientes => 'get' });

reload_case('the address', "fsauth_redis 127.0.0.1:$rp prefix=$p;",
            "fsauth_redis 127.0.0.1:$other prefix=$p;", 'a1');
reload_case('a unix socket', "fsauth_redis unix:$sock prefix=$p;",
            "fsauth_redis 127.0.0.1:$other prefix=$p;", 'a2');
reload_case('db=', "fsauth_redis 127.0.0.1:$rp prefix=$p;",
            "fsauth_redis 127.0.0.1:$rp db=1 prefix=$p;", 'a3');
reload_case('prefix=', "fsauth_redis 127.0.0.1:$rp prefix=$p;",
            "fsauth_redis 127.0.0.1:$rp prefix=t026b:;", 'a4');

# two Sentinel deployments watching a master of the same name
my $one = FsauthSentinel->new(master => 'fsm', replicas => 0,
                              sentinels => 1);
my $two = FsauthSentinel->new(master => 'fsm', replicas => 0,
                              sentinels => 1);
add_key(port => $one->primary, prefix => $p, token => $tok, id => 1,
        grants => { clientes => 'get' });
my ($s1) = $one->sentinels;
my ($s2) = $two->sentinels;
reload_case('the sentinels',
            "fsauth_redis sentinel=127.0.0.1:$s1 master=fsm prefix=$p;",
            "fsauth_redis sentinel=127.0.0.1:$s2 master=fsm prefix=$p;",
            'a5');

flush_prefix($p);
done_testing();
