#!/usr/bin/perl
# Writes Redis protocol (for "redis-cli --pipe") that creates COUNT user
# keys in the schema-1 layout (the README's Redis schema), ids START .. START+COUNT-1.
#
#   bench/seed.pl COUNT [START] [PREFIX] | redis-cli -p PORT --pipe
#
# Key i has the token bench_token(i) (see BenchTokens.pm), is enabled,
# has no full access, and grants: clientes get,post; facturas get;
# productos get,post,put,delete.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use BenchTokens qw(bench_token);
use Digest::SHA qw(sha256_hex);

my ($count, $start, $prefix) = @ARGV;
die "usage: $0 COUNT [START] [PREFIX]\n" unless defined $count;
$start  //= 1;
$prefix //= 'fsauth:';

sub resp {
    my $s = '*' . scalar(@_) . "\r\n";
    $s .= '$' . length($_) . "\r\n$_\r\n" for @_;
    return $s;
}

binmode STDOUT;
my $buf = '';
for my $id ($start .. $start + $count - 1) {
    my $d = sha256_hex(bench_token($id));
    $buf .= resp('HSET', "${prefix}key:$d",
                 id => $id, nick => "bench$id",
                 description => "bench key $id",
                 enabled => 1, fullaccess => 0,
                 creationdate => '2026-01-01',
                 'res:clientes' => 'get,post',
                 'res:facturas' => 'get',
                 'res:productos' => 'get,post,put,delete');
    $buf .= resp('SET', "${prefix}keyid:$id", $d);
    if (length $buf > 1 << 20) {
        print $buf;
        $buf = '';
    }
}
print $buf;
