# fsauthctl: --help for the command and every sub-command, and usage errors
# (exit 1, one line on stderr, nothing on stdout, Redis never contacted).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use FsauthctlTest;

require_env(name => 'help');

my $dead = dead_port();

# --help must work without Redis: point every run at a dead port
my @dead = ('-p', $dead);

my @help = (
    [ '--help' ],
    [ 'help' ],
    [ 'key', '--help' ],
    [ 'key', 'create', '--help' ],
    [ 'key', 'list', '--help' ],
    [ 'key', 'show', '--help' ],
    [ 'key', 'enable', '--help' ],
    [ 'key', 'disable', '--help' ],
    [ 'key', 'full-access', '--help' ],
    [ 'key', 'expire', '--help' ],
    [ 'key', 'allow-ips', '--help' ],
    [ 'key', 'rotate', '--help' ],
    [ 'key', 'delete', '--help' ],
    [ 'access', '--help' ],
    [ 'access', 'grant', '--help' ],
    [ 'access', 'revoke', '--help' ],
    [ 'access', 'list', '--help' ],
    [ 'access', 'check', '--help' ],
    [ 'api', '--help' ],
    [ 'api', 'enable', '--help' ],
    [ 'api', 'disable', '--help' ],
    [ 'api', 'status', '--help' ],
    [ 'import', '--help' ],
    [ 'export', '--help' ],
    [ 'help', 'key', 'create' ],
    [ 'key', 'show', '7', '--help' ],
    [ 'key', 'create', '--bogus', '--help' ],
);

for my $h (@help) {
    my ($rc, $out, $err) = ctl_as(\@dead, @$h);

    is($rc, 0, "@$h: exit 0");
    like($out, qr/\AUsage: fsauthctl /, "@$h: usage on stdout");
    is($err, '', "@$h: nothing on stderr");
}

my ($rc, $out) = ctl_as([], '--help');
for my $word (qw(key access api import export --host --port --socket --db
                 --password-file --prefix))
{
    like($out, qr/\Q$word\E/, "main help mentions $word");
}

($rc, $out) = ctl_as([], 'key', 'create', '--help');
like($out, qr/^  id: 7$/m, 'key create help documents the id line');
like($out, qr/^  token: /m, 'key create help documents the token line');

($rc, $out) = ctl_as([], 'export', '--help');
like($out, qr/apikey.*omitted/s, 'export help says apikey is omitted');

my @usage = (
    [ [ ], 'no command' ],
    [ [ 'frob' ], 'unknown command' ],
    [ [ '--bogus', 'key', 'list' ], 'unknown global option' ],
    [ [ '-x', 'key', 'list' ], 'unknown short option' ],
    [ [ '-p' ], 'missing value of -p' ],
    [ [ '-p', '0', 'key', 'list' ], 'port 0' ],
    [ [ '-p', '70000', 'key', 'list' ], 'port too large' ],
    [ [ '-p', 'abc', 'key', 'list' ], 'port not a number' ],
    [ [ '-n', '-1', 'key', 'list' ], 'negative db' ],
    [ [ '-n', 'x', 'key', 'list' ], 'db not a number' ],
    [ [ '--prefix', 'x' x 300, 'key', 'list' ], 'prefix too long' ],
    [ [ '--prefix', 'x' x 201, 'key', 'list' ], 'prefix of 201 bytes' ],
    [ [ 'key' ], 'key without sub-command' ],
    [ [ 'key', 'frob' ], 'unknown key sub-command' ],
    [ [ 'access' ], 'access without sub-command' ],
    [ [ 'access', 'frob' ], 'unknown access sub-command' ],
    [ [ 'api' ], 'api without sub-command' ],
    [ [ 'api', 'frob' ], 'unknown api sub-command' ],
    [ [ 'key', 'create' ], 'create without --description' ],
    [ [ 'key', 'create', '--description' ], '--description without value' ],
    [ [ 'key', 'create', '--description', '' ], 'empty description' ],
    [ [ 'key', 'create', '--description', 'x', 'extra' ], 'extra argument' ],
    [ [ 'key', 'create', '--description=x', '--full-access=1' ],
      'value for a flag' ],
    [ [ 'key', 'list', '--bogus' ], 'unknown key list option' ],
    [ [ 'key', 'list', 'x' ], 'key list with an argument' ],
    [ [ 'key', 'show' ], 'key show without id' ],
    [ [ 'key', 'show', 'abc' ], 'key show, id not a number' ],
    [ [ 'key', 'show', '0' ], 'key show, id 0' ],
    [ [ 'key', 'show', '-5' ], 'key show, negative id' ],
    [ [ 'key', 'show', '1', '2' ], 'key show, two ids' ],
    [ [ 'key', 'enable' ], 'key enable without id' ],
    [ [ 'key', 'disable', 'x' ], 'key disable, bad id' ],
    [ [ 'key', 'full-access', '1' ], 'full-access without on|off' ],
    [ [ 'key', 'full-access', '1', 'yes' ], 'full-access yes' ],
    [ [ 'key', 'rotate' ], 'rotate without id' ],
    [ [ 'key', 'allow-ips', '1' ], 'allow-ips without a list' ],
    [ [ 'key', 'allow-ips', '1', '10.0.0.1/8' ], 'allow-ips, host bits' ],
    [ [ 'key', 'allow-ips', 'x', 'any' ], 'allow-ips, bad id' ],
    [ [ 'key', 'delete', '1x' ], 'delete, bad id' ],
    [ [ 'access', 'grant', '1' ], 'grant without resource' ],
    [ [ 'access', 'grant', '1', 'a/b', '--get' ], 'resource with /' ],
    [ [ 'access', 'grant', '1', 'a b' ], 'resource with a space' ],
    [ [ 'access', 'grant', '1', '' ], 'empty resource' ],
    [ [ 'access', 'grant', '1', 'x' x 101 ], 'resource too long' ],
    [ [ 'access', 'grant', '1', 'r', '--head' ], 'unknown method flag' ],
    [ [ 'access', 'revoke', '1' ], 'revoke without resource' ],
    [ [ 'access', 'list' ], 'access list without id' ],
    [ [ 'access', 'check', '1', 'r' ], 'check without method' ],
    [ [ 'access', 'check', 'x', 'r', 'GET' ], 'check, bad id' ],
    [ [ 'api', 'enable', 'now' ], 'api enable with an argument' ],
    [ [ 'import' ], 'import without file' ],
    [ [ 'import', 'a', 'b' ], 'import with two files' ],
    [ [ 'export', '--all' ], 'export option' ],
);

for my $u (@usage) {
    my ($args, $name) = @$u;
    my ($rc, $out, $err) = ctl_as(\@dead, @$args);

    is($rc, 1, "$name: exit 1");
    ok(one_error_line($err), "$name: one line on stderr")
        or diag("stderr: $err");
    is($out, '', "$name: nothing on stdout");
}

# the limits shared with the module: a 200-byte prefix and a 100-byte
# resource pass the usage checks (and then find no Redis: exit 2)
($rc, undef, my $perr) = ctl_as(\@dead, '--prefix', 'x' x 200, 'key', 'list');
is($rc, 2, 'prefix of 200 bytes accepted') or diag($perr);
($rc, undef, $perr) = ctl_as(\@dead, 'access', 'grant', '1', 'x' x 100);
is($rc, 2, 'resource of 100 bytes accepted') or diag($perr);

# the hint names the command
(undef, undef, my $err) = ctl_as(\@dead, 'key', 'show', 'abc');
like($err, qr/see "fsauthctl key show --help"/, 'hint names the command');

done_testing();
