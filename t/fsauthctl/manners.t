# fsauthctl's manners: --version, --json on every command, errors one line
# under --json too, and the command table ("__complete"), every --help, the
# man page docs/fsauthctl.1 and the bash completion agreeing, so that none
# of them can drift from the others (README, "fsauthctl").

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use File::Temp qw(tempdir);
use FsauthctlTest;

my $P = require_env(name => 'manners');
my $json = JSON::PP->new;
my $root = "$FindBin::Bin/../..";
my @dead = ('-p', dead_port());

my ($rc, $out, $err);

# --- --version: the first line of VERSION, without Redis

open my $vf, '<', "$root/VERSION" or die "VERSION: $!";
my $version = <$vf>;
close $vf;
$version =~ s/[^0-9A-Za-z.~+-]//g;

($rc, $out, $err) = ctl_as(\@dead, '--version');
is($rc, 0, '--version: exit 0');
is($out, "fsauthctl $version\n", "--version prints \"fsauthctl $version\"");
is($err, '', '--version: nothing on stderr');

# --- the command table

($rc, $out, $err) = ctl_as(\@dead, '__complete');
is($rc, 0, '__complete: exit 0, without Redis');

my @lines = split /\n/, $out;
my @globals = split / /, shift @lines;
my (%cmds, @paths);

for my $line (@lines) {
    my @w = split / /, $line;
    my @path = grep { !/^--/ } @w;
    my @opts = grep { /^--/ } @w;
    my $path = join ' ', @path;

    push @paths, $path;
    $cmds{$path} = [ map { s/=\z//r } @opts ];
}

s/=\z// for @globals;

is_deeply([ sort @globals ],
          [ sort qw(--host --port --socket --db --password-file --prefix
                    --user --tls --cacert --cert --key --sni --actor
                    --sentinel --master --sentinel-password-file
                    --sentinel-user
                    --version) ],
          'the global options');

for my $path (grep { $_ ne 'help' } @paths) {
    ok(grep({ $_ eq '--json' } @{ $cmds{$path} }), "$path takes --json");
}

ok(scalar(@paths) >= 19, 'every command is listed') or diag("@paths");

# --- each command's --help names exactly its options

my ($mrc, $main_help) = ctl_as(\@dead, '--help');

for my $g (@globals) {
    like($main_help, qr/\Q$g\E\b/, "main --help documents $g");
}

for my $path (grep { $_ ne 'help' } @paths) {
    my @opts = @{ $cmds{$path} };
    my ($rc, $help) = ctl_as(\@dead, split(/ /, $path), '--help');

    is($rc, 0, "$path --help: exit 0");
    like($main_help, qr/(?:^  | \| )\Q$path\E\b/m,
         "main --help lists $path");

    for my $o (@opts) {
        like($help, qr/\Q$o\E\b/, "$path --help documents $o");
    }

    my %known = map { $_ => 1 } @opts, @globals, '--help';

    for my $o ($help =~ /(?<![\w-])(--[a-z][a-z-]*)/g) {
        ok($known{$o}, "$path --help: $o is an option of $path");
    }
}

# --- the man page: every command and option, and no other

open my $mf, '<', "$root/docs/fsauthctl.1" or die "fsauthctl.1: $!";
my $man = do { local $/; <$mf> };
close $mf;

# groff to text, enough for names: escapes, fonts, quotes of macros
sub plain {
    my ($s) = @_;

    $s =~ s/\\-/-/g;
    $s =~ s/\\f[BIRP]//g;
    $s =~ s/\\\(dq/"/g;
    $s =~ s/^\.[A-Z]+ ?//mg;
    $s =~ s/"//g;

    return $s;
}

my %all = map { $_ => 1 } @globals, '--help', map { @$_ } values %cmds;

for my $o (sort keys %all) {
    like(plain($man), qr/\Q$o\E\b/, "man page documents $o");
}

for my $o (plain($man) =~ /(?<![\w-])(--[a-z][a-z-]*)/g) {
    ok($all{$o}, "man page: $o is an option of fsauthctl");
}

# the entries of COMMANDS: .TP, a heading (more after .TQ), the text
my %entry;

for my $block (split /^\.TP\n/m, $man) {
    my @l = split /\n/, $block;
    my @heads = ($l[0]);

    for my $i (1 .. $#l - 1) {
        push @heads, $l[$i + 1] if $l[$i] eq '.TQ';
    }

    for my $h (@heads) {
        my $text = plain($h);
        $text =~ s/^\s+//;

        for my $path (@paths) {
            $entry{$path} = $block if $text =~ /^\Q$path\E\b/;
        }
    }
}

for my $path (grep { $_ ne 'help' && $_ !~ /^api / } @paths) {
    ok(defined $entry{$path}, "man page has an entry for $path") or next;

    my %opts = map { $_ => 1 } @{ $cmds{$path} };

    for my $o (grep { $_ ne '--json' } @{ $cmds{$path} }) {
        like(plain($entry{$path}), qr/\Q$o\E\b/,
             "man page entry of $path documents $o");
    }

    for my $o (plain($entry{$path}) =~ /(?<![\w-])(--[a-z][a-z-]*)/g) {
        ok($opts{$o}, "man page entry of $path: $o is one of its options");
    }
}

for my $api (grep { /^api / } @paths) {
    like(plain($man), qr/^\Q$api\E$/m, "man page has an entry for $api");
}

like($man, qr/^\.SH JSON OUTPUT$/m, 'man page documents the JSON output');

# --- the bash completion, sourced in bash

my $bin = $ENV{FSAUTHCTL} =~ s{/[^/]+\z}{}r;
my $script = "$root/completion/fsauthctl.bash";

# completions of the words (the last one is being completed)
sub complete {
    my (@words) = @_;

    my $quoted = join ' ', map { "'$_'" } 'fsauthctl', @words;
    my $code = <<"EOF";
source '$script' || exit 3
COMP_WORDS=($quoted)
COMP_CWORD=\$((\${#COMP_WORDS[@]} - 1))
_fsauthctl
printf '%s\\n' "\${COMPREPLY[@]}"
EOF

    my ($rc, $out, $err) = run([ '/bin/bash', '-c', $code ]);

    return [ sort grep { $_ ne '' } split /\n/, $out ];
}

{
    local $ENV{PATH} = "$bin:$ENV{PATH}";

    my %top;
    $top{ (split / /, $_)[0] } = 1 for @paths;

    is_deeply(complete(''), [ sort keys %top ],
              'completes the commands and groups');
    is_deeply(complete('ke'), [ 'key' ], 'completes a prefix');
    is_deeply(complete('-'), [ sort @globals, '--help' ],
              'completes the global options');
    is_deeply(complete('--prefix', 'x:', '-p', '1', 'ac'), [ 'access' ],
              'skips global options and their values');

    for my $group (qw(key access api)) {
        my @subs = map { (split / /, $_)[1] } grep { /^$group / } @paths;

        is_deeply(complete($group, ''), [ sort @subs ],
                  "completes the sub-commands of $group");
    }

    for my $path (grep { $_ ne 'help' } @paths) {
        is_deeply(complete(split(/ /, $path), '--'),
                  [ sort @{ $cmds{$path} }, '--help' ],
                  "completes the options of $path");
    }

    is_deeply(complete('access', 'grant', '1', 'r', '--p'),
              [ '--post', '--put' ], 'completes an option prefix');
    is_deeply(complete('help', 'ap'), [ 'api' ], 'help COMMAND');

    my $dir = tempdir(CLEANUP => 1);
    open my $f, '>', "$dir/keys.json" or die;
    close $f;
    is_deeply(complete('import', "$dir/ke"), [ "$dir/keys.json" ],
              'import completes a file');
    is_deeply(complete('-a', "$dir/k"), [ "$dir/keys.json" ],
              '--password-file completes a file');
}

# the install puts the man page and the completion where Debian wants them
{
    my $dest = tempdir(CLEANUP => 1);
    my ($rc, $out, $err) = run([ 'make', '-s', '-C', $root,
                                 'install-fsauthctl', "DESTDIR=$dest",
                                 'PREFIX=/usr' ]);

    is($rc, 0, 'make install-fsauthctl: exit 0') or diag($err);
    ok(-f "$dest/usr/share/bash-completion/completions/fsauthctl",
       'completion in /usr/share/bash-completion/completions/fsauthctl');
    ok(-f "$dest/usr/share/man/man1/fsauthctl.1",
       'man page in /usr/share/man/man1');
}

# --- --json on every command that prints

sub jctl {
    my ($rc, $out, $err) = ctl(@_, '--json');
    my $v = eval { $json->decode($out) };

    ok(defined $v, "@_ --json: JSON on stdout") or diag("$out$err");

    return ($rc, $v, $err);
}

my ($jrc, $v);

($jrc, $v) = jctl(qw(key create --description), 'json test');
is($jrc, 0, 'key create --json: exit 0');
like($v->{token}, qr/\A[0-9a-zA-Z]{20}\z/, 'key create --json: the token');
my $id = $v->{id};
is(redis('GET', "${P}keyid:$id"), token_digest($v->{token}),
   'key create --json: the token of the key');

($jrc, $v) = jctl(qw(key rotate), $id);
like($v->{token}, qr/\A[0-9a-zA-Z]{20}\z/, 'key rotate --json: the token');
is(redis('GET', "${P}keyid:$id"), token_digest($v->{token}),
   'key rotate --json: the new token');

my @shapes = (
    "key disable $id" => { id => $id, enabled => JSON::PP::false },
    "key enable $id" => { id => $id, enabled => JSON::PP::true },
    "access grant $id r --get" => { idapikey => $id, resource => 'r',
                                    allowget => JSON::PP::true,
                                    allowpost => JSON::PP::false,
                                    allowput => JSON::PP::false,
                                    allowdelete => JSON::PP::false },
    "access check $id r GET" => { allowed => JSON::PP::true },
    "key full-access $id on" => { id => $id, fullaccess => JSON::PP::true },
    "key full-access $id off" => { id => $id, fullaccess => JSON::PP::false },
    "key expire $id 2027-01-31" => { id => $id, expires => 1801353600 },
    "key expire $id never" => { id => $id, expires => undef },
    "api status" => { enabled => JSON::PP::true },
);

while (my ($cmd, $shape) = splice @shapes, 0, 2) {
    ($jrc, $v) = jctl(split / /, $cmd);
    is($jrc, 0, "$cmd --json: exit 0");
    is_deeply($v, $shape, "$cmd --json: shape");
}

for my $cmd ("key list", "key show $id", "access list $id", "export",
             "audit")
{
    ($jrc, $v) = jctl(split / /, $cmd);
    is($jrc, 0, "$cmd --json: exit 0");
}

($jrc, $v) = jctl(qw(api disable));
is_deeply($v, { enabled => JSON::PP::false }, 'api disable --json');
($jrc, $v) = jctl(qw(api enable));
is_deeply($v, { enabled => JSON::PP::true }, 'api enable --json');

($jrc, $v) = jctl(qw(access check), $id, 'other', 'GET');
is($jrc, 1, 'access check --json, denied: exit 1');
is_deeply($v, { allowed => JSON::PP::false }, '... allowed false');

($jrc, $v) = jctl(qw(access revoke), $id, 'r');
is_deeply($v, { idapikey => $id, resource => 'r',
                revoked => JSON::PP::true }, 'access revoke --json');

($rc, $out, $err) = ctl('import', '-', '--json',
                        { stdin => '{"api_keys": []}' });
is_deeply($json->decode($out), { keys => 0, grants => 0, replaced => 0 },
          'import --json: the counts');

($jrc, $v) = jctl(qw(key delete), $id);
is_deeply($v, { id => $id, deleted => JSON::PP::true }, 'key delete --json');

# --- errors stay one line on stderr, with their exit codes

($rc, $out, $err) = ctl(qw(key show 999 --json));
is($rc, 1, 'unknown key, --json: exit 1');
ok(one_error_line($err), '... one error line') or diag($err);
is($out, '', '... nothing on stdout');

($rc, $out, $err) = ctl(qw(key create --json));
is($rc, 1, 'usage error, --json: exit 1');
ok(one_error_line($err), '... one error line');

($rc, $out, $err) = ctl_as(\@dead, qw(key list --json));
is($rc, 2, 'Redis unreachable, --json: exit 2');
ok(one_error_line($err), '... one error line');
is($out, '', '... nothing on stdout');

done_testing();
