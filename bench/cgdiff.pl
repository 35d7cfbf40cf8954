#!/usr/bin/perl
# Per-request cost of each function, from two callgrind profiles of the
# same configuration that differ only in the number of requests: the
# start-up and shutdown costs cancel out.
#
#   cgdiff.pl [--inclusive] [--top 25] SHORT.out N1 LONG.out N2
#
# Prints "instructions/request  function  [object]", largest first.
use strict;
use warnings;
use Getopt::Long;

my $inclusive = 0;
my $top = 25;
GetOptions('inclusive' => \$inclusive, 'top=i' => \$top) or die "options\n";
my ($f1, $n1, $f2, $n2) = @ARGV;
die "usage: $0 [--inclusive] [--top N] SHORT.out N1 LONG.out N2\n"
    unless defined $n2 && $n2 > $n1;

my %objof;

sub profile {
    my ($file) = @_;
    my @cmd = ('callgrind_annotate', '--threshold=100', '--auto=no',
               '--inclusive=' . ($inclusive ? 'yes' : 'no'), $file);
    open my $fh, '-|', @cmd or die "callgrind_annotate: $!\n";
    my (%cost, $total);
    while (<$fh>) {
        if (/^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?PROGRAM TOTALS/) {
            ($total = $1) =~ tr/,//d;
            next;
        }
        next unless /^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)\s*$/;
        my ($n, $where) = ($1, $2);
        $n =~ tr/,//d;
        # "file:function [object]" -> "function [object]"
        my ($fn, $obj) = $where =~ /^(.*?)(?:\s+\[(.*)\])?$/;
        $fn =~ s/^.*?:(?=[^:]+$)//;
        # self cost of inlined code is listed under the inlined file,
        # where the object may be missing: add it to the function; an
        # inclusive cost is the function's own line (the largest)
        if (defined $obj && length $obj) {
            $obj =~ s{.*/}{};
            $objof{$fn} = $obj;
        }
        if ($inclusive) {
            $cost{$fn} = $n if $n > ($cost{$fn} // 0);
        } else {
            $cost{$fn} += $n;
        }
    }
    close $fh;
    return (\%cost, $total);
}

my ($c1, $t1) = profile($f1);
my ($c2, $t2) = profile($f2);
my $d = $n2 - $n1;

my %per;
for my $k (keys %$c1, keys %$c2) {
    $per{$k} = (($c2->{$k} // 0) - ($c1->{$k} // 0)) / $d;
}

printf "%10.0f  TOTAL per request (%s)\n", ($t2 - $t1) / $d,
    $inclusive ? 'inclusive' : 'self cost';
my $i = 0;
for my $k (sort { abs($per{$b}) <=> abs($per{$a}) || $a cmp $b } keys %per) {
    last if ++$i > $top;
    printf "%10.0f  %s [%s]\n", $per{$k}, $k, $objof{$k} // '?';
}
