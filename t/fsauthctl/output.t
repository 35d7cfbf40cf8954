# What fsauthctl writes: hand-written data is escaped for the terminal
# (C0, DEL, C1 and bytes that are not UTF-8), and output that cannot be
# written (a closed pipe, a full disk) is an error, never a lost token.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Encode ();
use FsauthctlTest;

my $P = require_env(name => 'output');

my ($rc, $out, $err);

# valid UTF-8 with no control character but "\n" ending the lines
sub terminal_safe {
    my ($text, $name) = @_;

    my $chars = eval { Encode::decode('UTF-8', $text, Encode::FB_CROAK) };

    ok(defined $chars && $chars !~ /[\x00-\x09\x0b-\x1f\x7f-\x9f]/,
       "$name: only printable UTF-8 and newlines") or diag($text);
}

($rc, $out) = ctl('key', 'create', '--description', 'plain', '--nick', 'n');
my ($id, $tok) = $out =~ /\Aid: (\d+)\ntoken: (\S+)\n/
    or BAIL_OUT('key create failed');
my $hash = "${P}key:" . token_digest($tok);

# --- hand-written C1 controls, as UTF-8 and as raw 8-bit bytes

redis('HSET', $hash, 'nick', "\xc2\x9b" . "31m",
      'description', "a\x9bb\xc2\x85c\xc3\xa9\xc2\xa0d\xe2\x82",
      'creationdate', "\xc2\x80", "res:\xc2\x9bx", 'get');
redis('HSET', "${P}activity:$id", 'lastip', "\x90\x1b");

($rc, $out) = ctl('key', 'show', $id);
is($rc, 0, 'key show: exit 0');
like($out, qr/^nick: \\xc2\\x9b31m$/m, 'U+009B (CSI) escaped');
like($out, qr/^description: a\\x9bb\\xc2\\x85c\xc3\xa9\xc2\xa0d\\xe2\\x82$/m,
     'raw 0x9b, U+0085 and a truncated sequence escaped; '
     . 'U+00E9 and U+00A0 kept');
like($out, qr/^creationdate: \\xc2\\x80$/m, 'U+0080 escaped');
like($out, qr/^lastip: \\x90\\x1b$/m, 'raw 0x90 escaped');
like($out, qr/^  \\xc2\\x9bx: get$/m, 'resource escaped');
terminal_safe($out, 'key show');

($rc, $out) = ctl('key', 'list');
is($rc, 0, 'key list: exit 0');
like($out, qr/^$id\s+\\xc2\\x9b31m\s+yes/m, 'key list: nick escaped');
terminal_safe($out, 'key list');

($rc, $out) = ctl('access', 'list', $id);
is($rc, 0, 'access list: exit 0');
like($out, qr/^\\xc2\\x9bx\s+get$/m, 'access list: resource escaped');
terminal_safe($out, 'access list');

# the resource a command line gives is echoed escaped too
($rc, $out) = ctl('access', 'grant', $id, "\xc2\x9by", '--get');
is($rc, 0, 'grant of a C1 resource: exit 0');
is($out, "key $id: \\xc2\\x9by: get\n", 'grant: resource escaped');

($rc, $out) = ctl('access', 'revoke', $id, "\xc2\x9by");
is($out, "key $id: \\xc2\\x9by: revoked\n", 'revoke: resource escaped');

($rc, $out, $err) = ctl('access', 'revoke', $id, "\xc2\x9by");
is($rc, 1, 'revoke of a missing C1 grant: exit 1');
terminal_safe($err, 'revoke error');

# a hand-written id shown in an import error
redis('HSET', "${P}key:" . token_digest('taken-token'), 'id', "7\x9b",
      'description', 'hand');
($rc, $out, $err) = ctl('import', '-', { stdin => '{"api_keys": [{"id": 8, '
                                          . '"apikey": "taken-token"}]}' });
is($rc, 1, 'import of a token held by a hand-written id: exit 1');
ok(one_error_line($err), 'import: one line');
terminal_safe($err, 'import error');

# --- stdout that cannot be written

# everything but <prefix>nextid, which a key create may have used up
sub state_but_nextid {
    my $snap = snapshot();
    delete $snap->{"${P}nextid"};
    return $snap;
}

for my $how ('pipe', 'full') {
    my $before = state_but_nextid();

    # key create: the key whose token nobody saw is deleted again
    ($rc, $err) = ctl_broken($how, 'key', 'create', '--description', 'lost',
                             '--nick', 'nobody');
    is($rc, 1, "key create, $how: exit 1, not killed by SIGPIPE");
    ok(one_error_line($err), "key create, $how: one line") or diag($err);
    like($err, qr/cannot print the token of key \d+ .*deleted/,
         "key create, $how: says the key is deleted");
    unlike($err, qr/[0-9a-zA-Z]{20}/, "key create, $how: no token in it");
    is_deeply(state_but_nextid(), $before,
              "key create, $how: no key left behind");

    # key rotate: the old token keeps working
    ($rc, $err) = ctl_broken($how, 'key', 'rotate', $id);
    is($rc, 1, "key rotate, $how: exit 1, not killed by SIGPIPE");
    ok(one_error_line($err), "key rotate, $how: one line") or diag($err);
    like($err, qr/cannot print the new token of key $id .*old token/,
         "key rotate, $how: says the old token is kept");
    unlike($err, qr/[0-9a-zA-Z]{20}/, "key rotate, $how: no token in it");
    is_deeply(state_but_nextid(), $before,
              "key rotate, $how: the key is unchanged, old token alive");
    is(redis('GET', "${P}keyid:$id"), token_digest($tok),
       "key rotate, $how: keyid still names the old token's digest");

    # every other output: exit 1 and one line, whatever was written
    for my $cmd ([ 'key', 'list' ], [ 'key', 'list', '--json' ],
                 [ 'key', 'show', $id ], [ 'key', 'show', $id, '--json' ],
                 [ 'access', 'list', $id ], [ 'access', 'check', $id, '',
                 'GET' ], [ 'api', 'status' ], [ 'export' ],
                 [ 'key', 'enable', $id ], [ '--help' ])
    {
        ($rc, $err) = ctl_broken($how, @$cmd);
        is($rc, 1, "@$cmd, $how: exit 1");
        ok(one_error_line($err), "@$cmd, $how: one line") or diag($err);
        like($err, qr/cannot write the output/,
             "@$cmd, $how: says the output is lost");
    }
}

done_testing();
