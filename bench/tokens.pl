#!/usr/bin/perl
# Prints benchmark tokens, one a line.
#
#   tokens.pl user ID                  the token of seeded key ID
#   tokens.pl global | invalid         the global key / an unknown token
#   tokens.pl seq COUNT [START]        keys START .. START+COUNT-1, in order
#   tokens.pl uniform COUNT KEYS SEED  COUNT draws, uniform over keys 1..KEYS
#   tokens.pl pass KEYS SEED           keys 1..KEYS, each once, shuffled
#   tokens.pl flood DISTINCT REPEAT SEED
#                                      DISTINCT random unknown tokens, each
#                                      REPEAT times, shuffled
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use BenchTokens qw(bench_token global_token invalid_token random_token);

my $mode = shift // '';

if ($mode eq 'user') {
    print bench_token($ARGV[0] // 1), "\n";
} elsif ($mode eq 'global') {
    print global_token(), "\n";
} elsif ($mode eq 'invalid') {
    print invalid_token(), "\n";
} elsif ($mode eq 'seq') {
    my ($n, $start) = @ARGV;
    $start //= 1;
    print bench_token($_), "\n" for $start .. $start + $n - 1;
} elsif ($mode eq 'uniform') {
    my ($n, $keys, $seed) = @ARGV;
    srand($seed // 1);
    print bench_token(1 + int rand $keys), "\n" for 1 .. $n;
} elsif ($mode eq 'pass') {
    my ($keys, $seed) = @ARGV;
    srand($seed // 1);
    my @k = (1 .. $keys);
    for (my $i = @k - 1; $i > 0; $i--) {            # Fisher-Yates
        my $j = int rand($i + 1);
        @k[$i, $j] = @k[$j, $i];
    }
    print bench_token($_), "\n" for @k;
} elsif ($mode eq 'flood') {
    my ($distinct, $repeat, $seed) = @ARGV;
    srand($seed // 1);
    my %seen;
    my @t;
    while (@t < $distinct) {
        my $t = random_token();
        push @t, $t unless $seen{$t}++;
    }
    my @all = map { ($_) x $repeat } @t;
    for (my $i = @all - 1; $i > 0; $i--) {          # Fisher-Yates
        my $j = int rand($i + 1);
        @all[$i, $j] = @all[$j, $i];
    }
    print "$_\n" for @all;
} else {
    die "usage: $0 user ID | global | invalid | seq COUNT [START] | "
        . "uniform COUNT KEYS SEED | pass KEYS SEED | flood DISTINCT REPEAT SEED\n";
}
