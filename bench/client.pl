#!/usr/bin/perl
# A small keep-alive HTTP/1.1 client for the callgrind and Redis-command
# runs: sends COUNT GET requests one after the other over one connection
# (reconnecting only if the server closes it) and prints one summary line:
#
#   requests=N ok=N statuses=200:N reconnects=N seconds=S
#
#   client.pl --port P --count N [--path /api/3/clientes]
#             [--header X-Auth-Token] [--token T | --tokens FILE]
#             [--expect 200] [--wait 60]
#
# --tokens FILE: one token a line, used in order (cycled if shorter than
# COUNT).  Without a token the header is not sent.  --expect: exit 1 if
# any answer has another status.  --wait: seconds to keep retrying the
# first connection (nginx under valgrind starts slowly).
use strict;
use warnings;
use Getopt::Long;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);

my %o = (path => '/api/3/clientes', header => 'X-Auth-Token', wait => 60);
GetOptions(\%o, 'port=i', 'count=i', 'path=s', 'header=s', 'token=s',
           'tokens=s', 'expect=i', 'wait=f')
    or die "bad options\n";
die "--port and --count are required\n" unless $o{port} && $o{count};

my @tokens;
if (defined $o{tokens}) {
    open my $fh, '<', $o{tokens} or die "$o{tokens}: $!\n";
    chomp(@tokens = <$fh>);
    die "$o{tokens}: no tokens\n" unless @tokens;
} elsif (defined $o{token}) {
    @tokens = ($o{token});
}

sub connect_once {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $o{port}, Proto => 'tcp');
    $s->setsockopt(IPPROTO_TCP, TCP_NODELAY, 1) if $s;
    return $s;
}

my $deadline = time + $o{wait};
my $sock;
until ($sock = connect_once()) {
    die "cannot connect to 127.0.0.1:$o{port}: $!\n" if time > $deadline;
    sleep 0.1;
}

my %status;
my $reconnects = 0;
my $t0 = time;
my $buf = '';

# reads one response; returns its status, or undef on EOF before it
sub read_response {
    my ($head_end, $status, $len);
    for (;;) {
        $head_end = index $buf, "\r\n\r\n";
        last if $head_end >= 0;
        my $n = sysread $sock, $buf, 65536, length $buf;
        return undef unless $n;
    }
    my $head = substr $buf, 0, $head_end;
    ($status) = $head =~ m{^HTTP/1\.[01] (\d{3})};
    die "bad response: $head\n" unless $status;
    ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
    die "response without Content-Length (status $status)\n"
        unless defined $len;
    my $total = $head_end + 4 + $len;
    while (length $buf < $total) {
        my $n = sysread $sock, $buf, 65536, length $buf;
        die "EOF in body\n" unless $n;
    }
    my $close = $head =~ /^Connection:\s*close/mi;
    substr($buf, 0, $total) = '';
    return ($status, $close);
}

for my $i (0 .. $o{count} - 1) {
    my $req = "GET $o{path} HTTP/1.1\r\nHost: bench\r\n";
    $req .= "$o{header}: $tokens[$i % @tokens]\r\n" if @tokens;
    $req .= "\r\n";

    my ($status, $close);
    for my $try (1 .. 2) {
        my $w = syswrite $sock, $req;
        ($status, $close) = read_response() if defined $w;
        last if defined $status;
        die "connection closed twice in a row\n" if $try == 2;
        $reconnects++;
        $buf = '';
        $sock = connect_once() or die "reconnect: $!\n";
    }
    $status{$status}++;
    if ($close) {
        $reconnects++;
        $buf = '';
        $sock = connect_once() or die "reconnect: $!\n";
    }
}

my $secs = time - $t0;
my $ok = defined $o{expect} ? ($status{$o{expect}} // 0) : $o{count};
printf "requests=%d ok=%d statuses=%s reconnects=%d seconds=%.2f\n",
    $o{count}, $ok,
    join(',', map { "$_:$status{$_}" } sort keys %status),
    $reconnects, $secs;
exit(defined $o{expect} && $ok != $o{count} ? 1 : 0);
