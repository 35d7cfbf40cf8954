# Log hygiene: no token, and no full token digest, in the error log (at
# debug level) or in the access log (combined format), whatever the
# outcome: global key, granted and refused user keys, unknown and
# malformed tokens, a repeated header, a Redis error reply, a Redis outage
# with stale and 503 answers.
#
# nginx core itself prints every request header at debug level
# ("http header: ..."), and the request it sends upstream ("http proxy
# header: ..."), token included: that is nginx, not fsauth, and the reason
# debug logging must not be used in production.  So the error log is cut
# into entries, the entries where nginx core dumps headers are set aside
# (and counted, to show the finding), and everything else must be clean;
# fsauth's own entries are checked separately, and the access log must be
# clean as a whole.
# Plain Test::More, not Test::Nginx: the debug error log and access log are read whole across one nginx run.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use FsauthTest;
use FsauthNginx;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $tmp = tempdir(CLEANUP => 1);
my $p = 't041:';

my %tok = (
    global    => 'GlobalSecret041-Kq7Zp2',
    user      => 'UserSecret041Hx9Lm4Tn',
    unknown   => 'UnknownSecret041-Wd3Ry8',
    outage    => 'OutageSecret041-Jc5Vb1',
    wrongtype => 'WrongTypeSecret041-Pz6',
    long      => 'LongSecret041-' . ('Q' x 100),
    spaced    => 'Spaced Secret041 Ab',
    binary    => "BinarySecret041\xc3\xa9Xy",
);

my $rport = start_redis();
add_key(port => $rport, prefix => $p, token => $tok{user}, id => 41,
        nick => 'loguser', grants => { clientes => 'get' });
redis_at($rport, 'SET', "${p}key:" . digest($tok{wrongtype}), 'not-a-hash');

my $access = "$tmp/access.log";

my $ng = FsauthNginx->start(
    log_level => 'debug',
    http => "    fsauth_redis 127.0.0.1:$rport prefix=$p timeout=300ms;\n"
            . "    fsauth_cache zone=t041:1m ttl=1s stale=5m;",
    server => <<"_EOC_");
        access_log $access combined;
        location /api/ {
            fsauth on;
            fsauth_ban off;
            fsauth_global_key $tok{global};
            add_header X-Cache \$fsauth_cache_status always;
            proxy_pass http://127.0.0.1:\$PORT/backend/;
        }
        location /hidden/ {
            fsauth on;
            fsauth_ban off;
            fsauth_hide_credentials on;
            fsauth_global_key $tok{global};
            proxy_pass http://127.0.0.1:\$PORT/backend/;
        }
_EOC_

sub req {
    my (%o) = @_;
    my $method = $o{method} // 'GET';
    my $path = $o{path} // '/api/3/clientes';
    my $headers = join '', map { "$_\r\n" } @{ $o{headers} // [] };
    my ($st, $head) = http_raw($ng->port,
        "$method $path HTTP/1.0\r\nHost: x\r\n$headers\r\n", 3);
    my ($cache) = $head =~ /^X-Cache: (\S+)/mi;
    return $o{cache} ? "$st " . ($cache // '-') : $st;
}

is(req(headers => ["X-Auth-Token: $tok{global}"]), 200, 'global key');
is(req(headers => ["Token: $tok{global}"]), 200, 'global key in Token');
is(req(headers => ["X-Auth-Token: $tok{user}"], cache => 1), '200 MISS',
   'user key, granted');
is(req(headers => ["X-Auth-Token: $tok{user}"], cache => 1), '200 HIT',
   'user key, granted, from the cache');
is(req(headers => ["X-Auth-Token: $tok{user}"], method => 'DELETE'), 403,
   'user key, method not granted');
is(req(headers => ["Token: $tok{user}"], path => '/api/3/facturas'), 403,
   'user key, resource not granted');
is(req(headers => ["X-Auth-Token: $tok{user}"], path => '/api/3/x/../y'),
   403, 'user key, ambiguous path');
is(req(headers => ["X-Auth-Token: $tok{unknown}"], cache => 1), '401 MISS',
   'unknown token');
is(req(headers => ["X-Auth-Token: $tok{unknown}"], cache => 1),
   '401 NEGATIVE', 'unknown token, from the negative cache');
is(req(headers => ["X-Auth-Token: $tok{long}"]), 401, 'too long');
is(req(headers => ["X-Auth-Token: $tok{spaced}"]), 401, 'with spaces');
is(req(headers => ["X-Auth-Token: $tok{binary}"]), 401, 'non-ASCII');
is(req(headers => ["X-Auth-Token: $tok{user}", "X-Auth-Token: $tok{user}"]),
   401, 'repeated header');
is(req(headers => ["X-Auth-Token: $tok{wrongtype}"]), 503,
   'a Redis error reply (WRONGTYPE): 503');
is(req(headers => ["X-Auth-Token: $tok{user}"], path => '/hidden/3/clientes'),
   200, 'user key, fsauth_hide_credentials on');

# the outage: the user key's entry is stale by now
sleep 1.2;
stop_redis($rport);
is(req(headers => ["X-Auth-Token: $tok{user}"], cache => 1), '200 STALE',
   'Redis down: stale decision for the user key');
is(req(headers => ["X-Auth-Token: $tok{outage}"], cache => 1), '503 MISS',
   'Redis down: 503 for a token never seen');
is(req(headers => ["X-Auth-Token: $tok{global}"]), 200,
   'Redis down: global key');
sleep 0.3;

$ng->stop;

my $log = $ng->error_log;
my $alog = do { local $/; open my $fh, '<', $access or die; <$fh> };

cmp_ok(length $log, '>', 0, 'the error log was written');
like($log, qr/\[debug\]/, 'at debug level (nginx built --with-debug)');
is(scalar(grep { m{"(?:GET|DELETE) /(?:api|hidden)/} } split /\n/, $alog), 18,
   'the access log has every client request');

# cut the error log into entries: a multi-line debug dump (the request
# sent upstream) continues on lines without a time stamp
my @entries;
for my $line (split /\n/, $log) {
    if ($line =~ m{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[} || !@entries) {
        push @entries, $line;
    } else {
        $entries[-1] .= "\n$line";
    }
}

# what nginx core prints at debug level: the request headers it parsed
# and the request it sends upstream
my $core_dump = qr/\[debug\] .*(?:http header: "|http proxy header:)/;
my @core = grep { /$core_dump/ } @entries;
my @other = grep { !/$core_dump/ } @entries;
my @fsauth = grep { /fsauth/ } @entries;

cmp_ok(scalar @fsauth, '>', 10, 'fsauth wrote its own entries');
like(join("\n", @fsauth), qr/fsauth: unknown key [0-9a-f]{8}\.\.\./,
     'an unknown key is named by 8 hex digits of its digest');

for my $name (sort keys %tok) {
    my $t = $tok{$name};
    my $d = digest($t);
    my $re = qr/\Q$t\E/;

    is(scalar(grep { /$re/ } @fsauth), 0, "$name token: not in fsauth's entries");
    is(scalar(grep { /$re/ } @other), 0,
       "$name token: not in any entry but nginx core's header dumps");
    unlike($alog, $re, "$name token: not in the access log");
    unlike($log, qr/\Q$d\E/, "$name token: its full digest is not in the error log");
    unlike($log, qr/\Q${\ substr($d, 0, 16)}\E/,
           "$name token: nor a 16-digit prefix of it");
    unlike($alog, qr/\Q${\ substr($d, 0, 8)}\E/,
           "$name token: no digest prefix in the access log");
}

# the finding, shown: nginx core itself logs the token at debug level
my $core_user = grep { /\Q$tok{user}\E/ } @core;
cmp_ok($core_user, '>', 0,
       'nginx core prints request headers, token included, at debug level '
       . '(debug logging must not be used in production)');
diag("entries of nginx core holding the user token: $core_user; e.g.\n"
     . (grep { /\Q$tok{user}\E/ } @core)[0]) if $ENV{TEST_VERBOSE};

# fsauth_hide_credentials: what goes upstream from /hidden/ has no token
my @hidden = grep { /http proxy header:/ && m{GET /backend/3/clientes} }
             @core;
my @upstream_user = grep { /\Q$tok{user}\E/ } @hidden;
cmp_ok(scalar @hidden, '>=', 2, 'the upstream requests are in the log');
is(scalar(grep { /X-Auth-Token|^Token:/mi } @hidden), scalar(@hidden) - 1,
   'only the /hidden/ request went upstream without its token header')
    or diag(join "\n---\n", @hidden);

unlike($log, qr/\[alert\]|\[crit\]|\[emerg\]/, 'no alert');

done_testing();
