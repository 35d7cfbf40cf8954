# fsauthctl sync against real MariaDB and PostgreSQL servers, started here
# in temporary directories (t/lib/FsauthDB.pm), with the tables as
# FacturaScripts creates them and a user that may only SELECT them: one
# pass, watch mode through a database outage, and end to end through
# nginx.  The import SQL of README.md runs against both servers as written
# there.  Plain Test::More: servers are stopped and restarted under a
# running sync.

use strict;
use warnings;
use lib 't/lib', 't/fsauthctl/lib';

use Test::More;
use JSON::PP qw(decode_json);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use FsauthctlTest;
use FsauthTest qw(http_raw write_file start_redis stop_redis restart_redis);
use FsauthDB;
use FsauthNginx;

my $prefix = require_env(name => 'sync');

my @engines = qw(mysql postgresql);
my (@said, @tokens);

# every output of fsauthctl, checked at the end for tokens
sub sync {
    my ($db, @args) = @_;
    my %o = ref $args[-1] eq 'HASH' ? %{ pop @args } : ();
    local $ENV{FSAUTHCTL_DB_PASSWORD} = $o{password} // $db->password;
    my ($rc, $out, $err) = ctl('sync', '--from', $o{url} // $db->url, @args);
    push @said, $out, $err;
    return ($rc, $out, $err);
}

sub add_row {
    my ($db, %k) = @_;
    push @tokens, $k{token};
    (my $tok = $k{token}) =~ s/'/''/g;
    my $nick = defined $k{nick} ? "'$k{nick}'" : 'NULL';
    $db->sql("INSERT INTO api_keys (id, apikey, creationdate, description, "
           . "enabled, fullaccess, nick) VALUES ($k{id}, '$tok', "
           . "'" . ($k{date} // '2024-01-31') . "', "
           . "'" . ($k{description} // "key $k{id}") . "', "
           . ($k{enabled} // 1 ? 'true' : 'false') . ', '
           . ($k{full} ? 'true' : 'false') . ", $nick)");
}

sub add_grant {
    my ($db, $id, $resource, @on) = @_;
    my %on = map { $_ => 1 } @on;
    $db->sql("INSERT INTO api_access (idapikey, resource, allowget, "
           . "allowpost, allowput, allowdelete) VALUES ($id, '$resource', "
           . join(', ', map { $on{$_} ? 'true' : 'NULL' }
                        qw(get post put delete)) . ')');
}

sub record {
    my ($token) = @_;
    my $r = redis('HGETALL', "${prefix}key:" . token_digest($token));
    return { @$r };
}

sub keyid { redis('GET', "${prefix}keyid:$_[0]") }

sub lines_of { [ sort grep { /^(dry run: )?key / } split /\n/, $_[0] ] }

# a private copy of the key records sync may touch, for "nothing changed"
sub state_of { snapshot($prefix) }

# the manual key's records, which sync must never touch
sub manual_of {
    my ($id, $token) = @_;
    my $s = snapshot($prefix);
    my $d = token_digest($token);
    return { map { $_ => $s->{$_} }
             grep { $_ eq "${prefix}key:$d" || $_ eq "${prefix}keyid:$id" }
             keys %$s };
}

# fsauthctl sync --interval in the background: (pid, stdout, stderr files)
sub watch {
    my ($db, $interval, $redis_port) = @_;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $ENV{FSAUTHCTL_DB_PASSWORD} = $db->password;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/out";
        open STDERR, '>', "$dir/err";
        { exec $ENV{FSAUTHCTL}, '-p', $redis_port // $ENV{TEST_NGINX_REDIS_PORT},
               '--prefix', $prefix, 'sync', '--from', $db->url,
               '--interval', $interval; }
        POSIX::_exit(127);
    }
    return { pid => $pid, out => "$dir/out", err => "$dir/err" };
}

sub slurp {
    open my $fh, '<', $_[0] or return '';
    local $/;
    return <$fh> // '';
}

# waits until the watch printed $n lines (default 1) matching $re;
# seconds or undef
sub wait_for {
    my ($w, $re, $limit, $n) = @_;
    my $t0 = time;
    while (time - $t0 < $limit) {
        my @m = slurp($w->{out}) =~ /$re/g;
        return time - $t0 if @m >= ($n // 1);
        sleep 0.02;
    }
    return undef;
}

sub stop_watch {
    my ($w) = @_;
    kill 'TERM', $w->{pid};
    my $t0 = time;
    while (time - $t0 < 5) {
        if (waitpid($w->{pid}, WNOHANG) == $w->{pid}) {
            push @said, slurp($w->{out}), slurp($w->{err});
            return $? >> 8 | ($? & 127 ? 256 : 0);
        }
        sleep 0.02;
    }
    kill 'KILL', $w->{pid};
    waitpid $w->{pid}, 0;
    return -1;
}

# the SQL of README.md's import section, as written there
sub readme_sql {
    my ($engine) = @_;
    open my $fh, '<', 'README.md' or die "README.md: $!";
    local $/;
    my $readme = <$fh>;
    my ($section) = $readme =~ /^### Import from FacturaScripts\n(.*?)^##/ms
        or die 'README.md: no "Import from FacturaScripts" section';
    my @blocks = $section =~ /```sql\n(.*?)```/gs;
    die 'README.md: expected two SQL blocks' unless @blocks == 2;
    return $blocks[$engine eq 'mysql' ? 0 : 1];
}

my $nginx = FsauthNginx->start(
    workers => 2,
    http => "    fsauth_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT} "
          . "prefix=$prefix;\n"
          . "    fsauth_cache zone=sync:1m ttl=1h;\n"
          . "    fsauth_ban off;",
    server => <<'_EOC_');
        location /api/ {
            fsauth on;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_

sub http_status {
    my ($token) = @_;
    my ($st) = http_raw($nginx->port, "GET /api/3/clientes HTTP/1.0\r\n"
                        . "Host: x\r\nX-Auth-Token: $token\r\n\r\n", 3);
    return $st;
}

# the command line, before any database
{
    my ($rc, $out, $err) = ctl('sync', '--help');
    is($rc, 0, 'sync --help');
    like($out, qr/--from URL.*--password-file.*--interval.*--dry-run.*--allow-empty/s,
         'sync --help: every option');
    ($rc, $out, $err) = ctl('sync');
    is($rc, 1, 'sync without --from: usage error');
    ok(one_error_line($err), 'in one line') or diag($err);
    for my $bad ('ftp://u@h/db', 'mysql://h/db', 'mysql://u@h', 'mysql://u@h:99999/db',
                 'postgresql://u@unix:relative/db', 'mysql://u@h/db?ssl=1') {
        ($rc, $out, $err) = ctl('sync', '--from', $bad);
        is($rc, 1, "--from $bad: usage error");
        ok(one_error_line($err), "--from $bad: one line") or diag($err);
    }
    for my $bad (qw(0 5x -1s 1.5s ms)) {
        ($rc, $out, $err) = ctl('sync', '--from', 'mysql://u@h/db',
                                '--interval', $bad);
        is($rc, 1, "--interval $bad: usage error");
    }
}

for my $engine (@engines) {
    my $why = FsauthDB->missing($engine);
    if ($why) {
        fail("$engine: $why (util/deps.sh installs it)");
        next;
    }

    subtest $engine => sub { engine($engine) };
    cleanup();
}

sub engine {
    my ($engine) = @_;
    my $db = FsauthDB->start($engine);
    my $tag = $engine;
    my ($rc, $out, $err);

    # a key of "fsauthctl key create", which sync must leave alone
    redis('SET', "${prefix}nextid", 1000);
    ($rc, $out) = ctl('key', 'create', '--description', 'made by hand');
    my ($mid) = $out =~ /^id: (\d+)$/m;
    my ($mtok) = $out =~ /^token: (\S+)$/m;
    is($mid, 1001, "$tag: a key made with key create");
    push @tokens, $mtok;
    my $manual = manual_of($mid, $mtok);

    # create
    my ($ta, $tb, $tc) = map { "tok$_-" . join '', map { chr(97 + rand 26) } 1 .. 16 }
                         qw(A B C);
    add_row($db, id => 1, token => $ta, nick => 'admin',
            description => 'ERP link');
    add_grant($db, 1, 'clientes', qw(get post));
    add_grant($db, 1, 'facturas');
    add_row($db, id => 2, token => $tb, full => 1, date => '2023-12-01');

    ($rc, $out, $err) = sync($db);
    is($rc, 0, "$tag: one pass") or diag($err);
    is_deeply(lines_of($out), ['key 1: created', 'key 2: created'],
              "$tag: one line per key created");
    like($out, qr/^2 created, 0 updated, 0 deleted, 0 unchanged, 0 skipped$/m,
         "$tag: the summary");
    is_deeply(record($ta), {
        id => 1, nick => 'admin', description => 'ERP link', enabled => 1,
        fullaccess => 0, creationdate => '2024-01-31',
        'res:clientes' => 'get,post', 'res:facturas' => '',
        source => 'facturascripts',
    }, "$tag: key 1 as the tables say, marked as synced");
    is(record($tb)->{fullaccess}, 1, "$tag: key 2 has full access");
    is(record($tb)->{nick}, '', "$tag: a NULL nick is empty");
    is(keyid(1), token_digest($ta), "$tag: keyid:1 is the digest");

    # the audit trail: one "sync" entry per key written, no secret
    my @audit = grep { $_->{action} eq 'sync' }
                map { { @{ $_->[1] } } }
                @{ redis('XRANGE', "${prefix}audit", '-', '+') || [] };
    is_deeply([ map { "$_->{id} $_->{detail}" } @audit ],
              ['1 created', '2 created'],
              "$tag: one audit entry per key created");
    unlike(join(' ', map { values %$_ } @audit),
           qr/\Q$ta\E|\Q$tb\E|[0-9a-f]{64}/,
           "$tag: no token or digest in the audit entries");

    ($rc, $out, $err) = sync($db, '--password-file',
                             write_file("$db->{dir}/dbpw", $db->password . "\n"),
                             { password => '' });
    is($rc, 0, "$tag: the password from --password-file") or diag($err);
    is_deeply(lines_of($out), [], "$tag: nothing changed, nothing written");
    like($out, qr/^0 created, 0 updated, 0 deleted, 2 unchanged/m,
         "$tag: both unchanged");

    # update, first as a dry run
    $db->sql("UPDATE api_keys SET description = 'ERP link v2' WHERE id = 1");
    my $before = state_of();
    ($rc, $out) = sync($db, '--dry-run');
    is($rc, 0, "$tag: --dry-run");
    is_deeply(lines_of($out), ['dry run: key 1: updated (description)'],
              "$tag: --dry-run prints the plan");
    is_deeply(state_of(), $before, "$tag: --dry-run writes nothing");

    ($rc, $out) = sync($db);
    is_deeply(lines_of($out), ['key 1: updated (description)'],
              "$tag: update");
    is(record($ta)->{description}, 'ERP link v2', "$tag: description written");

    # --json: an object a line, the summary last
    $db->sql("UPDATE api_keys SET description = 'ERP link v3' WHERE id = 1");
    ($rc, $out) = sync($db, '--json');
    is($rc, 0, "$tag: --json");
    my @objs = map { decode_json($_) } split /\n/, $out;
    is_deeply(\@objs, [
        { id => 1, change => 'updated (description)',
          dry_run => JSON::PP::false },
        { created => 0, updated => 1, deleted => 0, unchanged => 1,
          skipped => 0, dry_run => JSON::PP::false },
    ], "$tag: --json prints one object a line");
    $db->sql("UPDATE api_keys SET description = 'ERP link v2' WHERE id = 1");
    sync($db);

    # grants
    $db->sql("UPDATE api_access SET allowdelete = true "
           . "WHERE idapikey = 1 AND resource = 'clientes'");
    $db->sql("DELETE FROM api_access WHERE resource = 'facturas'");
    add_grant($db, 1, 'ventas', 'get');
    ($rc, $out) = sync($db);
    is_deeply(lines_of($out),
              ['key 1: updated (res:clientes, res:ventas, -res:facturas)'],
              "$tag: grant change");
    my $r = record($ta);
    is($r->{'res:clientes'}, 'get,post,delete', "$tag: grant widened");
    is($r->{'res:ventas'}, 'get', "$tag: grant added");
    ok(!exists $r->{'res:facturas'}, "$tag: grant removed");

    # an expiry set on a synced key is not in FacturaScripts: the next pass
    # drops it, like any field the tables do not have
    ($rc, $out, $err) = ctl('key', 'expire', 1, '90d');
    is($rc, 0, "$tag: key expire on a synced key") or diag($err);
    ok(record($ta)->{expires}, "$tag: ... sets expires");
    ($rc, $out) = sync($db);
    is_deeply(lines_of($out), ['key 1: updated (-expires)'],
              "$tag: sync reports the expiry it drops");
    ok(!exists record($ta)->{expires}, "$tag: ... and drops it");

    # so is an address list: the same rule
    ($rc, $out, $err) = ctl('key', 'allow-ips', 1, '10.0.0.0/8');
    is($rc, 0, "$tag: key allow-ips on a synced key") or diag($err);
    ok(record($ta)->{allow_ips}, "$tag: ... sets allow_ips");
    ($rc, $out) = sync($db);
    is_deeply(lines_of($out), ['key 1: updated (-allow_ips)'],
              "$tag: sync reports the address list it drops");
    ok(!exists record($ta)->{allow_ips}, "$tag: ... and drops it");

    # disable
    $db->sql("UPDATE api_keys SET enabled = false WHERE id = 1");
    ($rc, $out) = sync($db);
    is_deeply(lines_of($out), ['key 1: updated (enabled)'], "$tag: disable");
    is(record($ta)->{enabled}, 0, "$tag: disabled in redis");

    # token change: the old digest goes in the same transaction
    push @tokens, $tc;
    $db->sql("UPDATE api_keys SET apikey = '$tc' WHERE id = 1");
    ($rc, $out) = sync($db);
    is_deeply(lines_of($out), ['key 1: token changed'], "$tag: token change");
    is_deeply(record($ta), {}, "$tag: the old digest is gone");
    is(record($tc)->{id}, 1, "$tag: the new digest holds key 1");
    is(keyid(1), token_digest($tc), "$tag: keyid:1 follows");

    # delete
    $db->sql("DELETE FROM api_keys WHERE id = 2");
    ($rc, $out) = sync($db);
    is_deeply(lines_of($out), ['key 2: deleted'], "$tag: delete");
    is_deeply(record($tb), {}, "$tag: its hash is gone");
    is(keyid(2), undef, "$tag: its keyid is gone");

    # rows that cannot be used: reported by id, skipped
    add_row($db, id => 3, token => '0');
    add_row($db, id => 4, token => 'has space');
    add_row($db, id => 5, token => 'dup-token-xyz', enabled => 0);
    add_row($db, id => 6, token => 'dup-token-xyz');
    add_row($db, id => $mid, token => 'another-token-abc');
    add_row($db, id => 7, token => $mtok);
    ($rc, $out, $err) = sync($db);
    is($rc, 0, "$tag: skipped rows do not fail the pass");
    is_deeply(lines_of($out), ['key 6: created'],
              "$tag: of two rows with one token the enabled one wins");
    like($err, qr/^fsauthctl: sync: api_keys id 3: its apikey can never pass the gateway/m,
         "$tag: token \"0\" reported by id");
    like($err, qr/^fsauthctl: sync: api_keys id 4: its apikey can never pass the gateway/m,
         "$tag: a token with a space reported by id");
    like($err, qr/^fsauthctl: sync: api_keys id 5 has the same apikey as id 6, which is used/m,
         "$tag: the duplicate reported");
    like($err, qr/^fsauthctl: sync: api_keys id $mid: id $mid is used by a key not written by sync; skipped$/m,
         "$tag: an id of a hand-made key: reported, skipped");
    like($err, qr/^fsauthctl: sync: api_keys id 7: its apikey belongs to key $mid, not written by sync; skipped$/m,
         "$tag: a token of a hand-made key: reported, skipped");
    is(record('dup-token-xyz')->{id}, 6, "$tag: key 6 holds the token");
    is_deeply(manual_of($mid, $mtok), $manual,
              "$tag: the hand-made key is untouched");
    $db->sql("DELETE FROM api_keys WHERE id IN (3, 4, 5, 6, 7, $mid)");
    ($rc, $out) = sync($db);
    is_deeply(lines_of($out), ['key 6: deleted'], "$tag: cleaned up");

    # README's import SQL, as written there, against this server
    my $sqlfile = write_file("$db->{dir}/dump.sql", readme_sql($engine));
    my ($src, $dump) = $db->run_file($sqlfile);
    is($src, 0, "$tag: README's import SQL runs") or diag($dump);
    ($rc, $out, $err) = ctl_as(['-p', $ENV{TEST_NGINX_REDIS_PORT},
                                '--prefix', "${prefix}readme:"],
                               'import', '-', { stdin => $dump });
    is($rc, 0, "$tag: its output imports") or diag($err);
    like($out, qr/^imported 1 key, 2 grants/, "$tag: the key and its grants");

    # connection failures: exit 2, one line, nothing changed
    $before = state_of();
    ($rc, $out, $err) = sync($db, { password => 'wrong' });
    is($rc, 2, "$tag: wrong password: exit 2");
    ok(one_error_line($err), "$tag: one line") or diag($err);
    ($rc, $out, $err) = sync($db, { url => $db->url =~ s/:\d+\//:${\ dead_port()}\//r });
    is($rc, 2, "$tag: server down: exit 2");
    ok(one_error_line($err), "$tag: one line") or diag($err);
    ($rc, $out, $err) = sync($db, { url => $db->url =~ s/fsauth\@/fsauth:secretpw\@/r });
    is($rc, 1, "$tag: a password in the URL is refused");
    unlike($err, qr/secretpw/, "$tag: and not repeated");
    ($rc, $out, $err) = sync($db, { url => $db->url(unix => 1) });
    is($rc, 0, "$tag: the unix socket URL") or diag($err);
    is_deeply(state_of(), $before, "$tag: failures changed nothing");

    # a user without the SELECT grant: an error answer, exit 2
    $db->admin($engine eq 'mysql'
        ? "CREATE USER 'nogrant'\@'%' IDENTIFIED BY 'x'"
        : ["CREATE ROLE nogrant LOGIN PASSWORD 'x'"]);
    ($rc, $out, $err) = sync($db, { password => 'x',
                                    url => $db->url(user => 'nogrant') });
    is($rc, 2, "$tag: no SELECT grant: exit 2");
    ok(one_error_line($err), "$tag: one line") or diag($err);
    is_deeply(state_of(), $before, "$tag: and nothing changed");

    # an older FacturaScripts, without api_keys.fullaccess
    my $old = $db->{engine} eq 'mysql'
        ? "CREATE TABLE api_keys (id INTEGER NOT NULL PRIMARY KEY, apikey VARCHAR(99) NOT NULL, creationdate DATE NOT NULL, description VARCHAR(150) NOT NULL, enabled TINYINT(1) NOT NULL, nick VARCHAR(50)); CREATE TABLE api_access (id INTEGER NOT NULL PRIMARY KEY, idapikey INTEGER NOT NULL, resource VARCHAR(30) NOT NULL, allowget TINYINT(1), allowpost TINYINT(1), allowput TINYINT(1), allowdelete TINYINT(1))"
        : "CREATE TABLE api_keys (id SERIAL PRIMARY KEY, apikey VARCHAR(99) NOT NULL, creationdate DATE NOT NULL, description VARCHAR(150) NOT NULL, enabled BOOLEAN NOT NULL, nick VARCHAR(50)); CREATE TABLE api_access (id SERIAL PRIMARY KEY, idapikey INTEGER NOT NULL, resource VARCHAR(30) NOT NULL, allowget BOOLEAN, allowpost BOOLEAN, allowput BOOLEAN, allowdelete BOOLEAN)";
    $db->sql($old, db => 'fsold');
    $db->sql("INSERT INTO api_keys (id, apikey, creationdate, description, enabled) VALUES (1, '$ta', '2020-05-05', 'old', true)", db => 'fsold');
    $db->grant('fsold');
    ($rc, $out, $err) = sync($db, '--dry-run', { url => $db->url(db => 'fsold') });
    is($rc, 0, "$tag: an api_keys without fullaccess") or diag($err);
    my @warn = $err =~ /no column fullaccess/g;
    is(scalar @warn, 1, "$tag: said once");
    like($out, qr/^dry run: key 1: token changed$/m,
         "$tag: its rows are read");

    # an empty api_keys is refused while redis holds synced keys
    $before = state_of();
    $db->sql('DELETE FROM api_access');
    $db->sql('DELETE FROM api_keys');
    ($rc, $out, $err) = sync($db);
    is($rc, 1, "$tag: an empty api_keys is refused");
    like($err, qr/api_keys is empty but redis holds 1 key from FacturaScripts/,
         "$tag: and says why");
    is_deeply(state_of(), $before, "$tag: nothing deleted");
    ($rc, $out) = sync($db, '--allow-empty');
    is($rc, 0, "$tag: --allow-empty");
    is_deeply(lines_of($out), ['key 1: deleted'], "$tag: deletes them");
    is_deeply(manual_of($mid, $mtok), $manual,
              "$tag: the hand-made key is still untouched");
    ($rc, $out) = sync($db);
    is($rc, 0, "$tag: empty and nothing synced: fine");

    # watch mode through an outage of the database
    add_row($db, id => 1, token => $ta);
    add_grant($db, 1, 'clientes', 'get');
    my $w = watch($db, '200ms');
    ok(defined wait_for($w, qr/^key 1: created$/m, 10),
       "$tag: watch: created") or diag(slurp($w->{err}));
    $db->sql("UPDATE api_keys SET description = 'watched' WHERE id = 1");
    ok(defined wait_for($w, qr/^key 1: updated \(description\)$/m, 5),
       "$tag: watch: a change arrives");

    # a row import refuses (a control character in the description):
    # reported when it appears, not every pass
    add_row($db, id => 8, token => 'row-eight-token', description => "bad\x01text");
    sleep 1.2;
    my $err8 = slurp($w->{err});
    my @import8 = $err8 =~ /^fsauthctl: import: api_keys\[\d+\]\.description: control character/mg;
    my @skip8 = $err8 =~ /^fsauthctl: sync: api_keys id 8: skipped$/mg;
    is(scalar @import8, 1, "$tag: watch: a refused row, import's reason once")
        or diag($err8);
    is(scalar @skip8, 1, "$tag: watch: and skipped, said once");
    $db->sql("UPDATE api_keys SET description = 'fixed' WHERE id = 8");
    ok(defined wait_for($w, qr/^key 8: created$/m, 5),
       "$tag: watch: the row, fixed, is created");
    $db->sql("DELETE FROM api_keys WHERE id = 8");
    ok(defined wait_for($w, qr/^key 8: deleted$/m, 5),
       "$tag: watch: and deleted");

    $before = state_of();
    $db->stop;
    sleep 3;
    is(waitpid($w->{pid}, WNOHANG), 0, "$tag: watch: runs on while the "
       . "database is down");
    my @fails = slurp($w->{err}) =~ /^fsauthctl: sync: .*(?:cannot connect|query failed|lost|gone)/mg;
    cmp_ok(scalar @fails, '>=', 2, "$tag: watch: retries")
        or diag(slurp($w->{err}));
    cmp_ok(scalar @fails, '<=', 8, "$tag: watch: with backoff (not every "
           . "200 ms)") or diag(slurp($w->{err}));
    is_deeply(state_of(), $before, "$tag: watch: redis unchanged meanwhile");

    $db->restart;
    $db->sql("UPDATE api_keys SET enabled = false WHERE id = 1");
    ok(defined wait_for($w, qr/^key 1: updated \(enabled\)$/m, 40),
       "$tag: watch: catches up after the restart")
        or diag(slurp($w->{err}));

    stop_watch($w);

    # watch mode through an outage of Redis: the pass fails, is retried,
    # and writes what is missing once Redis is back (empty, as restarted)
    my $rport = start_redis();
    $w = watch($db, '200ms', $rport);
    ok(defined wait_for($w, qr/^key 1: created$/m, 10),
       "$tag: watch, private redis: created") or diag(slurp($w->{err}));
    stop_redis($rport);
    sleep 1.5;
    is(waitpid($w->{pid}, WNOHANG), 0, "$tag: watch: runs on while redis "
       . "is down");
    like(slurp($w->{err}), qr/^fsauthctl: cannot connect to redis|^fsauthctl: redis connection failed/m,
         "$tag: watch: says redis is down") or diag(slurp($w->{err}));
    restart_redis($rport);
    ok(defined wait_for($w, qr/^key 1: created$/m, 20, 2),
       "$tag: watch: catches up when redis is back")
        or diag(slurp($w->{err}));
    stop_watch($w);
    stop_redis($rport);
    $w = watch($db, '200ms');

    # end to end: disabled in the database, refused at the gateway
    $db->sql("UPDATE api_keys SET enabled = true WHERE id = 1");
    ok(defined wait_for($w, qr/^key 1: updated \(enabled\)$/m, 5),
       "$tag: watch: enabled again");
    is(http_status($ta), 200, "$tag: the gateway grants the key");
    stop_watch($w);

    $w = watch($db, '300ms');
    wait_for($w, qr/^key|unchanged/m, 1);
    sleep 0.5;
    $db->sql("UPDATE api_keys SET enabled = false WHERE id = 1");
    my $t0 = time;
    my $st;
    while (time - $t0 < 3) {
        $st = http_status($ta);
        last if $st == 401;
        sleep 0.01;
    }
    my $took = time - $t0;
    is($st, 401, "$tag: disabled in the database: 401 at the gateway");
    cmp_ok($took, '<', 0.3 + 0.1 + 0.15,
           sprintf("$tag: within the interval + 100 ms (%.0f ms, "
                   . "interval 300 ms, 150 ms allowed for a loaded machine)",
                   $took * 1000));
    is(stop_watch($w), 0, "$tag: watch: SIGTERM is a clean exit 0");

    $db->stop;
}

$nginx->stop;

my $all = join '', @said;
my @leaked = grep { length $_ > 3 && index($all, $_) >= 0 } @tokens;
is_deeply(\@leaked, [], 'no token in any output of sync');

done_testing();
