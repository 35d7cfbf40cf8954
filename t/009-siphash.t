# SipHash-2-4-128, the cache's index of a token, against the published
# test vectors, and SipHash-2-4-64 of 8 bytes, its digest table's bucket,
# against the published vector and OpenSSL's SIPHASH for random keys:
# t/unit/siphash_vectors.c built with the module's own source and run as
# a TAP producer (one line per check).

use strict;
use warnings;
use File::Temp qw(tempdir);
use Test::More;

my $dir = tempdir(CLEANUP => 1);
my $cc = $ENV{CC} || 'cc';
my $mod = 'ngx_http_fsauth_module';

my @cmd = ($cc, qw(-std=c99 -O2 -Wall -Wextra -Werror), "-I$mod",
           't/unit/siphash_vectors.c', "$mod/ngx_http_fsauth_siphash.c",
           '-lcrypto', '-o', "$dir/siphash_vectors");

is(system(@cmd), 0, "builds with $cc");

my @out = `$dir/siphash_vectors`;
is($? >> 8, 0, 'every vector matches');

my @ok = grep { /^ok / } @out;
my @bad = grep { /^not ok / } @out;
is(scalar @ok, 19 + 1 + 256, '19 + 1 vectors, 256 random keys checked')
    or diag(@out);
is(scalar @bad, 0, 'no mismatch') or diag(@bad);

done_testing();
