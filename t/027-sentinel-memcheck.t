# fsauth_redis sentinel= and read=replica under memcheck: in the suite's
# valgrind mode (util/valgrind.sh) nginx runs under valgrind here, and
# any error or definite leak memcheck reports fails the test.  What runs:
# lookups on a replica, a key with more grants than its cache node holds
# (the last ones kept aside from the replica's reply), a sentinel that
# names a replica (caught by ROLE) before a true one, and the replica
# lost, with reads going back to the primary.  No timing assertions:
# memcheck makes nginx about twenty times slower.
# Plain Test::More: a real primary, replica and sentinel.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use FsauthTest;
use FsauthNginx;
use FsauthSentinel;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $p = 't027:';
my $set = FsauthSentinel->new(master => 'fsv', replicas => 1,
                              sentinels => 1);
my ($sentinel) = $set->sentinels;
my ($replica) = $set->replicas;
my $primary = $set->primary;
my $wait = $ENV{TEST_NGINX_USE_VALGRIND} ? 30 : 5;

add_key(port => $primary, prefix => $p, token => 'tok-t027-few', id => 1,
        grants => { clientes => 'get' });
add_key(port => $primary, prefix => $p, token => 'tok-t027-many', id => 2,
        grants => { 'zz-last' => 'get',
                    map { (sprintf('resource-with-a-long-name-%02d', $_)
                           => 'get,post') } 1 .. 80 });
ok(poll_until(sub {
       redis_at($replica, 'EXISTS', "${p}key:" . digest('tok-t027-many'))
           eq '1' }, 5), 'the keys reached the replica');

my $location = <<'_EOC_';
        location /api/ {
            fsauth on;
            fsauth_failure_mode closed;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub status {
    my ($n, $token, $path) = @_;
    return (http_raw($n->port, "GET $path HTTP/1.0\r\nHost: x\r\n"
                     . "X-Auth-Token: $token\r\n\r\n",
                     $ENV{TEST_NGINX_USE_VALGRIND} ? 20 : 3))[0];
}

sub memcheck {
    my ($n, $what) = @_;
    SKIP: {
        skip 'memcheck runs in the valgrind mode (util/valgrind.sh)', 1
            unless $n->valgrind;
        my $report = $n->valgrind_report;
        is($report, '', "$what: memcheck reports nothing")
            or diag($report);
    }
}

# 1. read=replica, behind a sentinel that lies first
my ($liar) = FsauthSentinel::fake_sentinel($replica);
my %conf = (valgrind => 1, workers => 1, settle => 1,
            http => "    fsauth_redis sentinel=127.0.0.1:$liar,"
                  . "127.0.0.1:$sentinel master=fsv read=replica "
                  . "prefix=$p;\n    fsauth_ban off;",
            server => $location);
my $n = FsauthNginx->start(%conf);
ok(poll_until(sub { status($n, 'tok-t027-many', '/api/3/zz-last') == 200 },
              $wait), 'read=replica: a lookup past the lying sentinel');

# a reload: the old worker exits after reading a record apart
$n->reload(%conf);
ok(poll_until(sub { status($n, 'tok-t027-few', '/api/3/clientes') == 200 },
              $wait), 'after a reload');
for (1 .. 3) {
    is(status($n, 'tok-t027-many', '/api/3/zz-last'), 200,
       'a grant kept aside from the replica\'s reply');
    is(status($n, 'tok-t027-many', '/api/3/zz-none'), 403,
       'a resource the key lacks');
}

# the replica lost: reads on the primary
$set->kill_node($replica);
ok(poll_until(sub { status($n, 'tok-t027-many', '/api/3/zz-last') == 200 },
              $wait), 'the replica killed: the primary serves');
$n->stop;
like($n->error_log, qr/its role is "slave"/, 'the lie was caught');
unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
memcheck($n, 'read=replica');

# 2. sentinel=, reads on the primary, one sentinel down before the true
# one; the key with grants kept aside, read from the reader's builder
my $dead = free_port();
$n = FsauthNginx->start(
    valgrind => 1, workers => 1, settle => 1,
    http => "    fsauth_redis sentinel=127.0.0.1:$dead,127.0.0.1:$sentinel "
          . "master=fsv prefix=$p;\n    fsauth_ban off;",
    server => $location);
ok(poll_until(sub { status($n, 'tok-t027-many', '/api/3/zz-last') == 200 },
              $wait), 'sentinel=: a lookup past a sentinel that is down');
is(status($n, 'tok-t027-few', '/api/3/facturas'), 403, 'a refusal');
is(status($n, 'tok-t027-none', '/api/3/clientes'), 401, 'an unknown key');
$n->stop;
unlike($n->error_log, qr/\[alert\]|\[crit\]/, 'no alert');
memcheck($n, 'sentinel=');

done_testing();
