# fsauthctl connection options: -h -p, -s socket, -n db, -a password file,
# --prefix; exit 2 (one line) when Redis is down or AUTH fails.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempfile);
use FsauthctlTest;

my $P = require_env(name => 'conn', db => 0,
                    env => [ 'TEST_NGINX_REDIS_SOCKET',
                             'TEST_NGINX_REDIS_AUTH_PORT',
                             'TEST_NGINX_REDIS_PASSWORD_FILE' ]);

my $port = $ENV{TEST_NGINX_REDIS_PORT};
my $sock = $ENV{TEST_NGINX_REDIS_SOCKET};
my $aport = $ENV{TEST_NGINX_REDIS_AUTH_PORT};
my $pwfile = $ENV{TEST_NGINX_REDIS_PASSWORD_FILE};
my $db = 6;

my ($rc, $out, $err);

sub password_file {
    my ($content) = @_;

    my ($fh, $name) = tempfile(UNLINK => 1);
    print $fh $content;
    close $fh;

    return $name;
}

# --- unix socket

($rc, $out, $err) = ctl_as([ '-s', $sock, '--prefix', $P ],
                           'key', 'create', '--description', 'via socket');
is($rc, 0, '-s: key create over the unix socket') or diag($err);
my ($id) = $out =~ /\Aid: (\d+)\n/;
ok(redis('EXISTS', "${P}keyid:$id"), '-s: written to the same server');

($rc, $out) = ctl_as([ '--socket', $sock, '--prefix', $P ], 'key', 'list');
like($out, qr/via socket/, '--socket: key list');

# -s wins over -h/-p
($rc, $out) = ctl_as([ '-p', dead_port(), '-s', $sock, '--prefix', $P ],
                     'key', 'show', $id);
is($rc, 0, '-s is used instead of host and port');

($rc, $out, $err) = ctl_as([ '-s', "$sock.missing", '--prefix', $P ],
                           'key', 'list');
is($rc, 2, 'missing socket: exit 2');
ok(one_error_line($err), 'missing socket: one line') or diag($err);
like($err, qr/unix:\Q$sock\E\.missing/, 'missing socket: names the path');

# --- host and port

($rc, $out) = ctl_as([ '-h', '127.0.0.1', '-p', $port, '--prefix', $P ],
                     'key', 'show', $id);
is($rc, 0, '-h -p');

($rc, $out) = ctl_as([ '--host', 'localhost', '--port', $port,
                       '--prefix', $P ], 'key', 'show', $id);
is($rc, 0, '--host localhost --port');

($rc, $out) = ctl_as([ "--port=$port", "--prefix=$P" ], 'key', 'show', $id);
is($rc, 0, '--port=N --prefix=P');

($rc, $out) = ctl_as([ "-p$port", "--prefix=$P" ], 'key', 'show', $id);
is($rc, 0, '-pN');

# --- Redis down

my $dead = dead_port();

for my $cmd ([ 'key', 'list' ], [ 'key', 'create', '--description', 'x' ],
             [ 'key', 'show', 1 ], [ 'key', 'rotate', 1 ],
             [ 'key', 'delete', 1 ], [ 'access', 'check', 1, 'r', 'GET' ],
             [ 'access', 'grant', 1, 'r' ], [ 'api', 'status' ],
             [ 'export' ])
{
    ($rc, $out, $err) = ctl_as([ '-p', $dead, '--prefix', $P ], @$cmd);
    is($rc, 2, "Redis down, @$cmd: exit 2");
    ok(one_error_line($err), "Redis down, @$cmd: one line") or diag($err);
    is($out, '', "Redis down, @$cmd: no output");
}

like($err, qr/\Afsauthctl: cannot connect to redis at 127\.0\.0\.1:$dead: /,
     'Redis down: message names the address');

# --- database

($rc, $out, $err) = ctl_as([ '-p', $port, '-n', $db, '--prefix', $P ],
                           'key', 'create', '--description', 'in db 6');
is($rc, 0, "-n $db: key create") or diag($err);
my ($id6) = $out =~ /\Aid: (\d+)\n/;
is($id6, 1, "-n $db: ids are per database");
ok(redis_db($db, 'EXISTS', "${P}keyid:1"), "written to db $db");

($rc, $out) = ctl_as([ '-p', $port, '--db', $db, '--prefix', $P ],
                     'key', 'list');
like($out, qr/in db 6/, '--db: key list sees db 6');
unlike($out, qr/via socket/, '--db: not db 0');

($rc, $out) = ctl_as([ '-p', $port, '--prefix', $P ], 'key', 'list');
unlike($out, qr/in db 6/, 'db 0 does not see db 6');

($rc, $out) = ctl_as([ '-s', $sock, '-n', $db, '--prefix', $P ],
                     'key', 'list');
like($out, qr/in db 6/, '-s with -n');

($rc, $out, $err) = ctl_as([ '-p', $port, '-n', 100000, '--prefix', $P ],
                           'key', 'list');
is($rc, 1, 'db out of range: exit 1');
ok(one_error_line($err), 'db out of range: one line');

cleanup($db);

# --- password file

($rc, $out, $err) = ctl_as([ '-p', $aport, '-a', $pwfile, '--prefix', $P ],
                           'key', 'create', '--description', 'with auth');
is($rc, 0, '-a: key create on the server with requirepass') or diag($err);
like($out, qr/\Aid: 1\ntoken: [0-9a-zA-Z]{20}\n\z/, '-a: output');

($rc, $out) = ctl_as([ '-p', $aport, '--password-file', $pwfile,
                       '--prefix', $P ], 'key', 'list');
like($out, qr/with auth/, '--password-file: key list');

# first line only, spaces and CR trimmed
my $password = do {
    open my $fh, '<', $pwfile or die "$pwfile: $!";
    my $l = <$fh>;
    chomp $l;
    $l;
};

my $padded = password_file("  $password \r\nsecond line\n");
($rc, $out, $err) = ctl_as([ '-p', $aport, '-a', $padded, '--prefix', $P ],
                           'key', 'list');
is($rc, 0, 'password: first line, trimmed') or diag($err);

my $nonl = password_file($password);
($rc, $out) = ctl_as([ '-p', $aport, '-a', $nonl, '--prefix', $P ],
                     'key', 'list');
is($rc, 0, 'password file without newline');

# AUTH failures: exit 2
my $wrong = password_file("wrong-$password\n");
($rc, $out, $err) = ctl_as([ '-p', $aport, '-a', $wrong, '--prefix', $P ],
                           'key', 'list');
is($rc, 2, 'wrong password: exit 2');
ok(one_error_line($err), 'wrong password: one line') or diag($err);
like($err, qr/authentication failed/, 'wrong password: message');
is($out, '', 'wrong password: no output');

($rc, $out, $err) = ctl_as([ '-p', $aport, '--prefix', $P ],
                           'key', 'create', '--description', 'x');
is($rc, 2, 'no password on a server that needs one: exit 2');
ok(one_error_line($err), 'no password: one line') or diag($err);
is($out, '', 'no password: no token printed');

($rc, $out, $err) = ctl_as([ '-p', $aport, '-a', $wrong, '--prefix', $P ],
                           'access', 'check', 1, '', 'GET');
is($rc, 2, 'wrong password, access check: exit 2, not "denied"');
is($out, '', 'wrong password, access check: no output');

# unusable password files: exit 1
($rc, $out, $err) = ctl_as([ '-p', $aport, '-a', '/nonexistent/pw',
                             '--prefix', $P ], 'key', 'list');
is($rc, 1, 'missing password file: exit 1');
like($err, qr/\Afsauthctl: cannot open password file \/nonexistent\/pw: /,
     'missing password file: message');
ok(one_error_line($err), 'missing password file: one line');

my $empty = password_file("\n");
($rc, $out, $err) = ctl_as([ '-p', $aport, '-a', $empty, '--prefix', $P ],
                           'key', 'list');
is($rc, 1, 'empty password file: exit 1');
ok(one_error_line($err), 'empty password file: one line');

ok(redis_auth('EXISTS', "${P}keyid:1"), 'key written on the auth server');
cleanup_auth();

# --- prefixes do not see each other

($rc, $out) = ctl_as([ '-p', $port, '--prefix', "${P}other:" ], 'key',
                     'list');
unlike($out, qr/via socket/, 'another prefix sees no keys');

# glob characters in the prefix are literal for SCAN MATCH: unescaped,
# "t_ctl_conn_PID*" would match the keys of "t_ctl_conn_PID:"
(my $glob = $P) =~ s/:\z/*/;
($rc, $out) = ctl_as([ '-p', $port, '--prefix', $glob ], 'key', 'list');
is($rc, 0, 'prefix with a glob character: exit 0');
unlike($out, qr/via socket/, 'prefix with a glob character is literal');

($rc, $out) = ctl_as([ '-p', $port, '--prefix', 't_ctl_[?]\\' . $$ . ':' ],
                     'key', 'list');
is($rc, 0, 'prefix with [?]\\');

done_testing();
