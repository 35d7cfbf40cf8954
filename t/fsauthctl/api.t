# fsauthctl api enable|disable|status: the kill switch <prefix>api enabled.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use FsauthctlTest;

my $P = require_env(name => 'api');

my ($rc, $out, $err);

($rc, $out, $err) = ctl('api', 'status');
is($rc, 0, 'status: exit 0');
is($out, "api enabled\n", 'unset switch: enabled');
ok(!redis('EXISTS', "${P}api"), 'status writes nothing');

($rc, $out, $err) = ctl('api', 'disable');
is($rc, 0, 'disable: exit 0');
is($out, "api disabled\n", 'disable output');
is($err, '', 'disable: nothing on stderr');
is(redis('HGET', "${P}api", 'enabled'), '0', 'enabled 0');
is(redis('GET', "${P}schema"), '1', 'schema 1');

($rc, $out) = ctl('api', 'status');
is($out, "api disabled\n", 'status: disabled');

($rc, $out) = ctl('api', 'enable');
is($rc, 0, 'enable: exit 0');
is($out, "api enabled\n", 'enable output');
is(redis('HGET', "${P}api", 'enabled'), '1', 'enabled 1');

($rc, $out) = ctl('api', 'status');
is($out, "api enabled\n", 'status: enabled');

# only "0" disables, as in the module
redis('HSET', "${P}api", 'enabled', 'no');
($rc, $out) = ctl('api', 'status');
is($out, "api enabled\n", 'status: anything but "0" is enabled');

# exactly "0": a value that only starts with "0" and a NUL does not
# disable, for the module nor for "access check"
redis('HSET', "${P}api", 'enabled', "0\0x");
($rc, $out) = ctl('api', 'status');
is($out, "api enabled\n", 'status: "0" then a NUL is enabled');

# other fields of the hash are kept
redis('HSET', "${P}api", 'note', 'kept');
ctl('api', 'disable');
is(redis('HGET', "${P}api", 'note'), 'kept', 'other fields kept');

# Redis down
my $dead = dead_port();
($rc, $out, $err) = ctl_as([ '-p', $dead, '--prefix', $P ], 'api', 'enable');
is($rc, 2, 'Redis down: exit 2');
ok(one_error_line($err), 'Redis down: one line');
is($out, '', 'Redis down: no output');

done_testing();
