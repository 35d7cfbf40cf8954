package BenchTokens;

# Deterministic tokens for the benchmarks.  All are 20 bytes, like the
# tokens fsauthctl creates, so that every workload parses the same
# request size.

use strict;
use warnings;
use Exporter 'import';
our @EXPORT_OK = qw(bench_token global_token invalid_token random_token);

# the user key with id $i (seeded by seed.pl)
sub bench_token { sprintf 'bk%018d', $_[0] }

# the global key of every benchmark configuration
sub global_token { 'gkBenchGlobalKey0001' }

# a well-formed token that is in no key
sub invalid_token { 'ivNoSuchKeyInRedis01' }

# a random well-formed token (never a bench_token: it starts with "rx")
my @alnum = ('0' .. '9', 'a' .. 'z', 'A' .. 'Z');
sub random_token {
    return 'rx' . join '', map { $alnum[int rand @alnum] } 1 .. 18;
}

1;
