# Every configuration error fails "nginx -t" with a one-line message that
# names the directive.  Plain Test::More: Debian's nginx prints start-up
# errors on stderr only, where the Test::Nginx error_log checks never look.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use File::Temp qw(tempdir);
use FsauthTest qw(write_file);

my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/logs";

my $key = write_file("$dir/key", "  FILE-KEY-9 \nsecond line\n");
my $empty = write_file("$dir/empty", "\n");
my $bad = write_file("$dir/bad", "a b\n");
my $missing = "$dir/missing";
my $longpw = write_file("$dir/longpw", ('p' x 4097) . "\n");

# [ name, http-level text, location-level text, expected message ]
my @cases = (
    [ 'unreadable key file', '',
      "fsauth_global_key_file $missing;",
      qr/fsauth_global_key_file: open\(\) ".*missing" failed/ ],
    [ 'empty key file', '', "fsauth_global_key_file $empty;",
      qr/fsauth_global_key_file: empty key in ".*empty"/ ],
    [ 'a key file whose key has a space', '', "fsauth_global_key_file $bad;",
      qr/fsauth_global_key_file: invalid key in ".*bad"/ ],
    [ 'the global key "0" can never match', '', 'fsauth_global_key 0;',
      qr/fsauth_global_key: invalid key, it must be/ ],
    [ 'a 100-byte global key', '', 'fsauth_global_key ' . ('k' x 100) . ';',
      qr/fsauth_global_key: invalid key, it must be 1 to 99 bytes/ ],
    [ 'two global keys', '',
      "fsauth_global_key A1; fsauth_global_key_file $key;",
      qr/"fsauth_global_key_file" directive is duplicate/ ],
    [ 'unknown fsauth_preflight value', '', 'fsauth_preflight maybe;',
      qr/invalid value "maybe" in "fsauth_preflight" directive, it must be "pass" or "auth"/ ],
    [ 'unknown fsauth_failure_mode value', '', 'fsauth_failure_mode sometimes;',
      qr/invalid value "sometimes" in "fsauth_failure_mode" directive, it must be "stale", "closed" or "open"/ ],
    [ 'unknown fsauth_phase value', '', 'fsauth_phase content;',
      qr/invalid value "content" in "fsauth_phase" directive, it must be "access" or "preaccess"/ ],
    [ 'fsauth takes on|off', '', 'fsauth yes;',
      qr/invalid value "yes" in "fsauth" directive/ ],
    [ 'fsauth_api takes on|off', '', 'fsauth_api maybe;',
      qr/invalid value "maybe" in "fsauth_api" directive/ ],
    [ 'fsauth_hide_credentials takes on|off', '',
      'fsauth_hide_credentials 1;',
      qr/invalid value "1" in "fsauth_hide_credentials" directive/ ],
    [ 'duplicate fsauth_token_header', '',
      'fsauth_token_header A; fsauth_token_header B;',
      qr/"fsauth_token_header" directive is duplicate/ ],
    [ 'a bad header name', '', 'fsauth_token_header "X Bad";',
      qr/fsauth_token_header: invalid header name "X Bad"/ ],
    [ 'duplicate fsauth_resource', '',
      'fsauth_resource $uri; fsauth_resource $uri;',
      qr/"fsauth_resource" directive is duplicate/ ],
    [ 'duplicate fsauth_realm', '', 'fsauth_realm a; fsauth_realm b;',
      qr/"fsauth_realm" directive is duplicate/ ],
    [ 'fsauth_activity with a bad interval', '',
      'fsauth_activity on interval=never;',
      qr/invalid interval "interval=never" in fsauth_activity/ ],
    [ 'fsauth_activity with a bad value', '', 'fsauth_activity sometimes;',
      qr/invalid value "sometimes" in fsauth_activity/ ],
    [ 'fsauth_ban with a bad threshold', '', 'fsauth_ban 0 10s;',
      qr/fsauth_ban: threshold "0" must be 1 to 32/ ],
    [ 'fsauth_ban with a bad window', '', 'fsauth_ban 5 soon;',
      qr/invalid value in fsauth_ban/ ],
    [ 'fsauth_ban with an IPv6 prefix too long', '',
      'fsauth_ban 5 10s ipv6_prefix=129;',
      qr/fsauth_ban: ipv6_prefix "129" must be 1 to 128/ ],
    [ 'fsauth_ban with an IPv6 prefix of 0', '',
      'fsauth_ban 5 10s ipv6_prefix=0;',
      qr/fsauth_ban: ipv6_prefix "0" must be 1 to 128/ ],
    [ 'fsauth_ban with an IPv6 prefix that is not a number', '',
      'fsauth_ban 5 10s ipv6_prefix=/64;',
      qr/fsauth_ban: ipv6_prefix "\/64" must be 1 to 128/ ],
    [ 'fsauth_ban with an unknown parameter', '',
      'fsauth_ban 5 10s prefix=64;',
      qr/invalid parameter "prefix=64" of fsauth_ban/ ],
    [ 'fsauth_ban off takes no parameter', '',
      'fsauth_ban off ipv6_prefix=64;',
      qr/invalid value in fsauth_ban, it must be .*\[ipv6_prefix=N\]/ ],
    [ 'fsauth_redis is http-level only', '',
      'fsauth_redis 127.0.0.1:6379;',
      qr/"fsauth_redis" directive is not allowed here/ ],
    [ 'fsauth_cache is http-level only', '',
      'fsauth_cache zone=a:1m;',
      qr/"fsauth_cache" directive is not allowed here/ ],
    [ 'fsauth_redis with an unknown parameter',
      'fsauth_redis 127.0.0.1:6379 colour=blue;', '',
      qr/invalid parameter "colour=blue" of fsauth_redis/ ],
    [ 'fsauth_redis with a bad timeout',
      'fsauth_redis 127.0.0.1:6379 timeout=soon;', '',
      qr/invalid parameter "timeout=soon" of fsauth_redis/ ],
    [ 'fsauth_redis with a bad db', 'fsauth_redis 127.0.0.1:6379 db=x;', '',
      qr/invalid parameter "db=x" of fsauth_redis/ ],
    [ 'fsauth_redis with a prefix too long',
      'fsauth_redis 127.0.0.1:6379 prefix=' . ('p' x 201) . ';', '',
      qr/fsauth_redis: prefix must be 1 to 200 bytes/ ],
    [ 'fsauth_redis twice',
      'fsauth_redis 127.0.0.1:6379; fsauth_redis 127.0.0.1:6380;', '',
      qr/"fsauth_redis" directive is duplicate/ ],
    [ 'fsauth_redis with an unreadable password file',
      "fsauth_redis 127.0.0.1:6379 password_file=$missing;", '',
      qr/fsauth_redis: open\(\) ".*missing" failed/ ],
    [ 'fsauth_redis with an empty password file',
      "fsauth_redis 127.0.0.1:6379 password_file=$empty;", '',
      qr/fsauth_redis: empty password in ".*empty"/ ],
    [ 'fsauth_redis with a password longer than 4096 bytes',
      "fsauth_redis 127.0.0.1:6379 password_file=$longpw;", '',
      qr/fsauth_redis: the password in ".*longpw" is longer than 4096 bytes/ ],
    [ 'fsauth_redis with user= and no password_file=',
      'fsauth_redis 127.0.0.1:6379 user=fsauth;', '',
      qr/fsauth_redis: "user=" needs "password_file="/ ],
    [ 'fsauth_redis sentinel= without master=',
      'fsauth_redis sentinel=127.0.0.1:26379;', '',
      qr/fsauth_redis: "sentinel=" needs "master="/ ],
    [ 'fsauth_redis master= without sentinel=',
      'fsauth_redis 127.0.0.1:6379 master=fsm;', '',
      qr/invalid parameter "master=fsm" of fsauth_redis/ ],
    [ 'fsauth_redis sentinel= after an address',
      'fsauth_redis 127.0.0.1:6379 sentinel=127.0.0.1:26379 master=m;', '',
      qr/invalid parameter "sentinel=127.0.0.1:26379" of fsauth_redis/ ],
    [ 'fsauth_redis sentinel= with a unix socket',
      'fsauth_redis sentinel=unix:/tmp/s.sock master=m;', '',
      qr/fsauth_redis: sentinel "unix:\/tmp\/s.sock" must be an IP address/ ],
    [ 'fsauth_redis sentinel= with a bad port',
      'fsauth_redis sentinel=127.0.0.1:26379,127.0.0.1:0 master=m;', '',
      qr/fsauth_redis: invalid port in sentinel "127.0.0.1:0"/ ],
    [ 'fsauth_redis sentinel= empty',
      'fsauth_redis sentinel= master=m;', '',
      qr/fsauth_redis: empty "sentinel="/ ],
    [ 'fsauth_redis read= without sentinel=',
      'fsauth_redis 127.0.0.1:6379 read=replica;', '',
      qr/fsauth_redis: "read=replica" needs "sentinel="/ ],
    [ 'fsauth_redis with a bad read=',
      'fsauth_redis sentinel=127.0.0.1:26379 master=m read=any;', '',
      qr/fsauth_redis: "read=" must be "primary" or "replica", not "read=any"/ ],
    [ 'fsauth_redis prefer_replica= without sentinel=',
      'fsauth_redis 127.0.0.1:6379 prefer_replica=127.0.0.1:6380;', '',
      qr/fsauth_redis: "prefer_replica=127.0.0.1:6380" needs "sentinel="/ ],
    [ 'fsauth_redis prefer_replica= without read=replica',
      'fsauth_redis sentinel=127.0.0.1:26379 master=m '
      . 'prefer_replica=127.0.0.1:6380;', '',
      qr/fsauth_redis: "prefer_replica=" needs "read=replica"/ ],
    [ 'fsauth_redis prefer_replica= with read=primary',
      'fsauth_redis sentinel=127.0.0.1:26379 master=m '
      . 'prefer_replica=127.0.0.1:6380 read=primary;', '',
      qr/fsauth_redis: "prefer_replica=" needs "read=replica"/ ],
    [ 'fsauth_redis prefer_replica= with a unix socket',
      'fsauth_redis sentinel=127.0.0.1:26379 master=m read=replica '
      . 'prefer_replica=unix:/tmp/r.sock;', '',
      qr/fsauth_redis: prefer_replica "unix:\/tmp\/r.sock" must be an IP address/ ],
    [ 'fsauth_redis prefer_replica= with a bad port',
      'fsauth_redis sentinel=127.0.0.1:26379 master=m read=replica '
      . 'prefer_replica=127.0.0.1:0;', '',
      qr/fsauth_redis: invalid port in prefer_replica "127.0.0.1:0"/ ],
    [ 'fsauth_redis prefer_replica= empty',
      'fsauth_redis sentinel=127.0.0.1:26379 master=m read=replica '
      . 'prefer_replica=;', '',
      qr/fsauth_redis: no address in prefer_replica ""/ ],
    [ 'fsauth_redis with an empty sentinel password file',
      "fsauth_redis sentinel=127.0.0.1:26379 master=m "
      . "sentinel_password_file=$empty;", '',
      qr/fsauth_redis: empty password in ".*empty"/ ],
    [ 'fsauth_redis sentinel_user= without sentinel_password_file=',
      'fsauth_redis sentinel=127.0.0.1:26379 master=m sentinel_user=s;', '',
      qr/fsauth_redis: "sentinel_user=" needs "sentinel_password_file="/ ],
    [ 'fsauth_redis with an empty sentinel_user=',
      "fsauth_redis sentinel=127.0.0.1:26379 master=m sentinel_user= "
      . "sentinel_password_file=$key;", '',
      qr/fsauth_redis: empty "sentinel_user="/ ],
    [ 'fsauth_redis sentinel_user= without sentinel=',
      "fsauth_redis 127.0.0.1:6379 sentinel_user=s "
      . "sentinel_password_file=$key;", '',
      qr/fsauth_redis: "sentinel_user=s" needs "sentinel="/ ],
    [ 'fsauth_redis sentinel_password_file= without sentinel=',
      "fsauth_redis 127.0.0.1:6379 sentinel_password_file=$key;", '',
      qr/fsauth_redis: "sentinel_password_file=.*" needs "sentinel="/ ],
    [ 'fsauth_redis with an empty user=',
      "fsauth_redis 127.0.0.1:6379 user= password_file=$key;", '',
      qr/invalid parameter "user=" of fsauth_redis/ ],
    [ 'fsauth_redis with tls_ca= but no tls=on',
      "fsauth_redis 127.0.0.1:6379 tls_ca=$key;", '',
      qr/fsauth_redis: "tls_ca=.*" needs "tls=on"/ ],
    [ 'fsauth_redis with tls_verify= but tls=off',
      'fsauth_redis 127.0.0.1:6379 tls=off tls_verify=off;', '',
      qr/fsauth_redis: "tls_verify=off" needs "tls=on"/ ],
    [ 'fsauth_redis with a bad tls=',
      'fsauth_redis 127.0.0.1:6379 tls=yes;', '',
      qr/invalid parameter "tls=yes" of fsauth_redis/ ],
    [ 'fsauth_redis with a bad tls_verify=',
      'fsauth_redis 127.0.0.1:6379 tls=on tls_verify=maybe;', '',
      qr/invalid parameter "tls_verify=maybe" of fsauth_redis/ ],
    [ 'fsauth_redis with an unknown tls_ parameter',
      'fsauth_redis 127.0.0.1:6379 tls_colour=blue;', '',
      qr/invalid parameter "tls_colour=blue" of fsauth_redis/ ],
    [ 'fsauth_redis with a host that does not resolve',
      'fsauth_redis no-such-host.invalid:6379;', '',
      qr/host not found in "no-such-host.invalid:6379" of fsauth_redis/ ],
    [ 'fsauth_cache too small', 'fsauth_cache zone=tiny:10k;', '',
      qr/fsauth_cache: zone "tiny" is too small/ ],
    [ 'fsauth_cache without a zone', 'fsauth_cache ttl=10s;', '',
      qr/fsauth_cache: "zone=NAME:SIZE" is required/ ],
    [ 'fsauth_cache with a bad ttl', 'fsauth_cache zone=a:1m ttl=x;', '',
      qr/invalid parameter "ttl=x" of fsauth_cache/ ],
    [ 'fsauth_cache twice',
      'fsauth_cache zone=a:1m; fsauth_cache zone=b:1m;', '',
      qr/"fsauth_cache" directive is duplicate/ ],
);

sub nginx_t {
    my ($http, $location) = @_;
    my $load = join '', map { "load_module $_;\n" } @modules;
    my $conf = write_file("$dir/nginx.conf", <<"_EOC_");
$load
error_log $dir/logs/error.log;
pid $dir/logs/nginx.pid;
events { worker_connections 16; }
http {
    $http
    server {
        listen 127.0.0.1:1;
        location /api/ {
            $location
        }
    }
}
_EOC_
    my $out = `$binary -t -p $dir/ -c $conf 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = nginx_t('fsauth_redis 127.0.0.1:6379 db=2 timeout=50ms '
                         . "user=fsauth-nginx password_file=$key tls=off "
                         . 'connect_timeout=100ms prefix=x:; '
                         . 'fsauth_cache zone=a:1m ttl=5s negative_ttl=1s '
                         . 'stale=0;',
                         "fsauth on; fsauth_global_key_file $key; "
                         . 'fsauth_token_header X-Key Token; '
                         . 'fsauth_resource $uri; fsauth_api on; '
                         . 'fsauth_preflight auth; fsauth_failure_mode open; '
                         . 'fsauth_ban 3 1m ipv6_prefix=56; '
                         . 'fsauth_activity on interval=5m; '
                         . 'fsauth_hide_credentials on; fsauth_realm "R";');
is($rc, 0, 'a configuration using every directive passes nginx -t')
    or diag($out);

($rc, $out) = nginx_t('fsauth_redis sentinel=127.0.0.1:26379,127.0.0.1 '
                      . 'master=fsm read=replica '
                      . "sentinel_user=fsauth-s sentinel_password_file=$key;",
                      'fsauth on;');
is($rc, 0, 'fsauth_redis sentinel= with read=replica and sentinel_user= '
   . 'passes nginx -t')
    or diag($out);
($rc, $out) = nginx_t('fsauth_redis sentinel=127.0.0.1:26379 master=fsm '
                      . 'read=primary;', 'fsauth on;');
is($rc, 0, 'and with read=primary') or diag($out);
($rc, $out) = nginx_t('fsauth_redis sentinel=127.0.0.1:26379 master=fsm '
                      . 'prefer_replica=127.0.0.1 read=replica;',
                      'fsauth on;');
is($rc, 0, 'and with prefer_replica= (before read=replica, default port)')
    or diag($out);

for my $c (@cases) {
    my ($name, $http, $location, $want) = @$c;
    my ($rc, $out) = nginx_t($http, $location);
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\] (?:\d+#\d+: )?$want/, "$name: message") or diag($out);
    my @lines = grep { /\[emerg\]/ } split /\n/, $out;
    is(scalar @lines, 1, "$name: one line");
}

done_testing();
