# The module and fsauthctl under the least-privilege Redis ACL rules of
# the README, read from it here so that the two cannot drift apart:
# lookups, revocation through tracking, the kill switch, activity writes
# with and without EVAL, every fsauthctl command; both users are refused
# outside the prefix.  Then a refused AUTH: an outage (503 closed, stale
# record with stale), one line per worker naming the address and the user.
# Plain Test::More: a private redis-server (valkey-server under
# FSAUTH_TEST_SERVER=valkey) whose users are changed under nginx.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Time::HiRes qw(sleep time);
use File::Temp qw(tempdir);
use FsauthTest;
use FsauthNginx;

plan skip_all => 'FSAUTHCTL and FSAUTH_ROOT are not set (run util/test.sh)'
    unless $ENV{FSAUTHCTL} && $ENV{FSAUTH_ROOT};

my $tmp = tempdir(CLEANUP => 1);

# --- the rules, from the README's code blocks

my %rules;
{
    open my $fh, '<', "$ENV{FSAUTH_ROOT}/README.md" or die "README.md: $!";
    my $in = 0;
    while (<$fh>) {
        if (/^```/) { $in = !$in; next }
        push @{ $rules{$1} }, $2 if $in && /^ACL SETUSER (\S+) (.+)$/;
    }
}

my ($with_eval) = grep { /\+eval\b/ } @{ $rules{'fsauth-nginx'} // [] };
my ($no_eval) = grep { !/\+eval\b/ } @{ $rules{'fsauth-nginx'} // [] };
my ($ctl_rules) = @{ $rules{fsauthctl} // [] };

is(scalar @{ $rules{'fsauth-nginx'} // [] }, 2,
   'README: two rule lines for the module');
ok($with_eval && $no_eval, 'README: one with EVAL, one without');
is(scalar @{ $rules{fsauthctl} // [] }, 1, 'README: one for fsauthctl');

my $pw = 'acl-' . int(rand(1e9)) . '-pw';
my $pwfile = write_file("$tmp/pw", "$pw\n");
my $port = start_redis();

sub setuser {
    my ($user, $rules, $pass) = @_;
    my @args = map { $_ eq '>PASSWORD' ? '>' . ($pass // $pw) : $_ }
               split ' ', $rules;
    return redis_at($port, 'ACL', 'SETUSER', $user, @args);
}

sub as_user {
    my ($user, @cmd) = @_;
    return redis_at($port, '--user', $user, '--pass', $pw, @cmd);
}

sub ctl {
    my (@args) = @_;
    local $ENV{FSAUTHCTL_PASSWORD} = $pw;
    my $out = `$ENV{FSAUTHCTL} -p $port --user fsauthctl @args 2>&1`;
    return ($? >> 8, $out);
}

sub denials {
    my $log = redis_at($port, 'ACL', 'LOG');
    my @objects = $log =~ /\bobject\n([^\n]*)/g;
    return @objects;
}

my $location = <<'_EOC_';
        location /api/ {
            fsauth on;
            fsauth_activity on interval=1s;
            add_header X-Fsauth $fsauth_status always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub req { fsauth_get($_[0]->port, @_[1 .. $#_]) }

is(setuser('fsauthctl', $ctl_rules), 'OK', 'fsauthctl rules accepted');

for my $variant ([ 'with EVAL', $with_eval ], [ 'without EVAL', $no_eval ]) {
    my ($name, $rules) = @$variant;

    redis_at($port, 'FLUSHALL');
    is(setuser('fsauth-nginx', $rules), 'OK', "$name: module rules accepted");
    redis_at($port, 'ACL', 'LOG', 'RESET');

    my ($rc, $out) = ctl('key', 'create', '--description', "'acl test'");
    is($rc, 0, "$name: fsauthctl key create") or diag($out);
    my ($id) = $out =~ /^id: (\d+)/m;
    my ($token) = $out =~ /^token: (\S+)/m;
    ($rc, $out) = ctl('access', 'grant', $id, 'clientes', '--get');
    is($rc, 0, "$name: fsauthctl access grant") or diag($out);

    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$port user=fsauth-nginx "
                . "password_file=$pwfile;\n"
                . "    fsauth_cache zone=c:1m ttl=60s;",
        server => $location, settle => 0.5);

    is(req($n, $token), 200, "$name: lookup");

    # tracking: the revocation reaches the cached record
    ($rc, $out) = ctl('access', 'revoke', $id, 'clientes');
    is($rc, 0, "$name: fsauthctl access revoke") or diag($out);
    my $t0 = time;
    ok(poll_until(sub { req($n, $token) == 403 }),
       "$name: revocation seen through tracking");
    cmp_ok(time - $t0, '<', 0.5, "$name: within 0.5 s (ttl is 60 s)");

    ($rc, $out) = ctl('access', 'grant', $id, 'clientes', '--get');
    ok(poll_until(sub { req($n, $token) == 200 }), "$name: grant again");

    # the kill switch
    ($rc, $out) = ctl('api', 'disable');
    is($rc, 0, "$name: fsauthctl api disable") or diag($out);
    ok(poll_until(sub { (req($n, $token))[1] eq 'disabled' }),
       "$name: kill switch seen");
    ($rc, $out) = ctl('api', 'enable');
    ok(poll_until(sub { req($n, $token) == 200 }),
       "$name: kill switch off again");

    # activity
    ok(poll_until(sub {
           redis_at($port, 'HGET', "fsauth:activity:$id", 'lastip')
               eq '127.0.0.1' }),
       "$name: activity written");

    my $el = $n->error_log;
    unlike($el, qr/refreshed by ttl only/, "$name: tracking kept");
    unlike($el, qr/NOPERM(?!.*'eval')|AUTH failed/,
           "$name: nothing refused (but EVAL)");
    if ($rules =~ /\+eval\b/) {
        unlike($el, qr/refused EVAL/, "$name: EVAL used");
        is_deeply([ denials() ], [], "$name: no ACL denial")
            or diag(redis_at($port, 'ACL', 'LOG'));
    } else {
        like($el, qr/refused EVAL/, "$name: EVAL refused, HSET used");
        is_deeply([ grep { $_ ne 'eval' } denials() ], [],
                  "$name: no ACL denial but EVAL")
            or diag(redis_at($port, 'ACL', 'LOG'));
    }

    $n->stop;
}

# every fsauthctl command under its rules
{
    redis_at($port, 'ACL', 'LOG', 'RESET');
    my ($rc, $out) = ctl('key', 'create', '--description', 'x',
                         '--nick', 'n', '--full-access');
    my ($id) = $out =~ /^id: (\d+)/m;
    my $imp = write_file("$tmp/import.json", '{"api_keys":[{"id":90,'
        . '"apikey":"imported-token-90","description":"imp","enabled":1,'
        . '"fullaccess":0,"creationdate":"2024-01-01"}],"api_access":'
        . '[{"idapikey":90,"resource":"clientes","allowget":1}]}');
    for my $cmd ([ 'key', 'list' ], [ 'key', 'list', '--json' ],
                 [ 'key', 'show', $id ], [ 'key', 'disable', $id ],
                 [ 'key', 'enable', $id ], [ 'key', 'full-access', $id, 'off' ],
                 [ 'key', 'full-access', $id, 'on' ],
                 [ 'key', 'rotate', $id ],
                 [ 'key', 'rotate', $id, '--grace', '1h' ],
                 [ 'key', 'show', $id, '--json' ],
                 [ 'key', 'allow-ips', $id, '10.0.0.0/8,::1' ],
                 [ 'key', 'allow-ips', $id, 'any' ],
                 [ 'access', 'grant', $id, 'facturas', '--get', '--post' ],
                 [ 'access', 'list', $id ],
                 [ 'access', 'check', $id, 'facturas', 'GET' ],
                 [ 'access', 'revoke', $id, 'facturas' ],
                 [ 'key', 'expire', $id, '30m' ], [ 'key', 'disable', $id ],
                 [ 'key', 'enable', $id ],
                 [ 'key', 'rotate', $id, '--grace', '1h' ],
                 [ 'key', 'rotate', $id ],
                 [ 'key', 'rotate', $id, '--grace', '1h' ],
                 [ 'api', 'disable' ], [ 'api', 'enable' ],
                 [ 'api', 'status' ], [ 'import', $imp ], [ 'export' ],
                 [ 'key', 'delete', $id ], [ 'key', 'delete', 90 ],
                 [ 'audit' ], [ 'audit', '--since', '1h', '--json' ])
    {
        my ($rc, $out) = ctl(@$cmd);
        is($rc, 0, "fsauthctl @$cmd[0 .. ($#$cmd < 1 ? 0 : 1)] under its "
                   . "rules") or diag($out);
    }
    is_deeply([ denials() ], [], 'fsauthctl: no ACL denial')
        or diag(redis_at($port, 'ACL', 'LOG'));

    # the password from -a FILE as well
    my $o = `$ENV{FSAUTHCTL} -p $port --user fsauthctl -a $pwfile api status 2>&1`;
    is($? >> 8, 0, 'fsauthctl --user with -a FILE') or diag($o);
}

# nothing outside the prefix, and the module cannot write records
redis_at($port, 'SET', 'other:secret', 'x');
like(as_user('fsauth-nginx', 'GET', 'other:secret'), qr/NOPERM/,
     'module user: no key outside the prefix');
like(as_user('fsauth-nginx', 'HSET', 'fsauth:key:0', 'enabled', '1'),
     qr/NOPERM/, 'module user: cannot write a key record');
like(as_user('fsauth-nginx', 'HSET', 'fsauth:api', 'enabled', '1'),
     qr/NOPERM/, 'module user: cannot write the kill switch');
like(as_user('fsauthctl', 'GET', 'other:secret'), qr/NOPERM/,
     'fsauthctl user: no key outside the prefix');
like(as_user('fsauthctl', 'FLUSHALL'), qr/NOPERM/,
     'fsauthctl user: no FLUSHALL');

# --- a refused AUTH

setuser('fsauth-nginx', $with_eval);
my $d = add_key(port => $port, token => 'tok-acl-stale-001', id => 71,
                grants => { clientes => 'get' });

for my $case ([ 'wrong user', 'no-such-user', 'closed' ],
              [ 'wrong password', 'fsauth-nginx', 'closed' ])
{
    my ($name, $user, $mode) = @$case;
    my $pf = $name eq 'wrong password'
             ? write_file("$tmp/badpw", "not-the-password\n") : $pwfile;
    my $n = FsauthNginx->start(
        workers => 2,
        http => "    fsauth_redis 127.0.0.1:$port user=$user "
                . "password_file=$pf connect_timeout=200ms;\n"
                . "    fsauth_cache zone=c:1m;",
        server => $location =~ s/fsauth on;/fsauth on; fsauth_failure_mode $mode;/r,
        settle => 0.3);
    my %seen;
    $seen{ req($n, 'tok-acl-stale-001') }++ for 1 .. 10;
    sleep 1.5;    # several reconnects
    $seen{ req($n, 'tok-acl-stale-001') }++ for 1 .. 10;
    is_deeply(\%seen, { 503 => 20 }, "$name: 503 with closed, never 401");
    my $el = $n->error_log;
    my @lines = $el =~ /^.*\[error\].*AUTH failed.*$/mg;
    is(scalar @lines, 2, "$name: one error line per worker (2 workers)")
        or diag($el);
    like($lines[0] // '', qr/AUTH failed at "127\.0\.0\.1:$port" as user "\Q$user\E": WRONGPASS/,
         "$name: names the address and the user");
    unlike($el, qr/\Q$pw\E|not-the-password/, "$name: never the password");
    $n->stop;
}

{
    my $n = FsauthNginx->start(
        http => "    fsauth_redis 127.0.0.1:$port user=fsauth-nginx "
                . "password_file=$pwfile connect_timeout=200ms;\n"
                . "    fsauth_cache zone=c:1m ttl=1s stale=60s;",
        server => $location, settle => 0.5);
    is(req($n, 'tok-acl-stale-001'), 200, 'stale: record cached');

    # the password changes and the connections are dropped
    setuser('fsauth-nginx', $with_eval, 'another-password');
    redis_at($port, 'CLIENT', 'KILL', 'USER', 'fsauth-nginx');
    sleep 1.5;
    my ($status, $fs) = req($n, 'tok-acl-stale-001');
    is($status, 200, 'stale: the cached record is used through the outage');
    is(req($n, 'tok-acl-stale-002'), 503, 'stale: an unknown token is 503');
    my @lines = $n->error_log =~ /^.*\[error\].*AUTH failed.*$/mg;
    is(scalar @lines, 1, 'stale: one line for the outage')
        or diag($n->error_log);

    # back: the outage ends, and a new one is logged again
    setuser('fsauth-nginx', $with_eval);
    ok(poll_until(sub { req($n, 'tok-acl-stale-002') == 401 }),
       'AUTH accepted again: answers again');
    like($n->error_log, qr/redis at "127\.0\.0\.1:$port" is back/,
         'the end of the outage is logged');
    $n->stop;
}

stop_redis($port);
done_testing();
