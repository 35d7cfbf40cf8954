package FsauthSizedKeys;

# Keys of three sizes for the cache-size tests, written to Redis in one
# redis-cli --pipe (thousands of keys: one command each would be slow).

use strict;
use warnings;
use Exporter 'import';
use Digest::SHA qw(sha256_hex);

our @EXPORT = qw(size_kind seed_sized_keys);

# key i: 1 grant (half of them), 10 (30 %) or 30 long ones (20 %): the
# slab's 256, 512 and 1024-byte classes
sub size_kind { my $m = $_[0] % 10; $m < 5 ? 1 : $m < 8 ? 10 : 30 }

sub resp {
    my $s = '*' . scalar(@_) . "\r\n";
    $s .= '$' . length($_) . "\r\n$_\r\n" for @_;
    return $s;
}

# seed_sized_keys(port, prefix, \&token, from, to, \&kind): keys from ..
# to, key i with token token(i) and kind(i) grants (1 without kind)
sub seed_sized_keys {
    my ($port, $p, $token, $from, $to, $kind) = @_;
    open my $fh, '|-', ($ENV{FSAUTH_REDIS_CLI} || 'redis-cli'),
        '--no-auth-warning', '-p', $port, '--pipe' or die "redis-cli: $!";
    my $old = select $fh;
    local $| = 0;
    for my $i ($from .. $to) {
        my $n = $kind ? $kind->($i) : 1;
        my @grants = ('res:clientes' => 'get,post',
                      map { (sprintf('res:resource-%s-%02d',
                                     $n == 30 ? 'with-a-longer-name' : 'x',
                                     $_) => 'get') } 2 .. $n);
        print resp('HSET', "${p}key:" . sha256_hex($token->($i)),
                   id => $i, nick => "size$i", enabled => 1,
                   fullaccess => 0, @grants);
    }
    select $old;
    close $fh or die "redis-cli --pipe failed\n";
}

1;
