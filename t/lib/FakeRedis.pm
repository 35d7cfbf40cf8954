package FakeRedis;

# A scripted stand-in for Redis, for the faults a real server will not
# produce on demand.  It answers AUTH, SELECT, PING, HGET (nil) and
# CLIENT/SUBSCRIBE politely; HGETALL <prefix>key:<digest> follows the
# behaviour registered for that token:
#
#   ok        a valid record (id 1, enabled, full access)
#   hang      never answers (the connection stays open, later replies too)
#   err       -ERR reply
#   garbage   bytes that are not RESP
#   wrongtype an integer reply instead of an array
#   odd       an array with an odd number of elements
#   truncated half a reply, then the connection is closed
#   reset     the connection is reset (RST) without a reply
#   slow      a valid record, 300 ms late
#
# With log => FILE, every HGETALL is appended to FILE (one key per line).
# With client_replies => [REPLY, ...], the first CLIENT commands get those
# raw replies in turn (e.g. "-LOADING ...\r\n"), and with client_log =>
# FILE every CLIENT command is appended to FILE ("CLIENT ID" per line).
#
# Unknown digests get an empty array (unknown key).

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_LINGER);
use Digest::SHA qw(sha256_hex);
use POSIX ();

sub start {
    my ($class, %behaviour) = @_;
    my $log = delete $behaviour{log};
    my $client_log = delete $behaviour{client_log};
    my @client_replies = @{ delete $behaviour{client_replies} // [] };
    my %by_digest = map { sha256_hex($_) => $behaviour{$_} } keys %behaviour;

    my $listen = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                       ReuseAddr => 1)
        or die "fake redis: $!";
    my $port = $listen->sockport;

    my $pid = fork // die "fork: $!";
    if ($pid) {
        close $listen;
        return bless { pid => $pid, port => $port }, $class;
    }

    $SIG{TERM} = sub { POSIX::_exit(0) };
    my $sel = IO::Select->new($listen);
    my %buf;
    my %hung;

    for (;;) {
        for my $fh ($sel->can_read(1)) {
            if ($fh == $listen) {
                my $c = $listen->accept or next;
                $sel->add($c);
                $buf{$c} = '';
                next;
            }
            my $n = sysread($fh, my $data, 65536);
            if (!$n) {
                $sel->remove($fh);
                delete $buf{$fh};
                delete $hung{$fh};
                close $fh;
                next;
            }
            $buf{$fh} .= $data;
            while (my $cmd = _parse(\$buf{$fh})) {
                next if $hung{$fh};
                if ($log && uc $cmd->[0] eq 'HGETALL' && open my $l, '>>', $log) {
                    print $l "$cmd->[1]\n";
                    close $l;
                }
                my $r;
                if (uc $cmd->[0] eq 'CLIENT') {
                    if ($client_log && open my $l, '>>', $client_log) {
                        print $l "CLIENT \U$cmd->[1]\E\n";
                        close $l;
                    }
                    $r = shift @client_replies;
                }
                $r //= _answer($cmd, \%by_digest);
                if ($r =~ s/^slow://) {
                    select(undef, undef, undef, 0.3);
                }
                if ($r eq 'hang') {
                    $hung{$fh} = 1;
                } elsif ($r eq 'reset') {
                    setsockopt($fh, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
                    $sel->remove($fh);
                    delete $buf{$fh};
                    close $fh;
                    last;
                } elsif ($r =~ s/^close://) {
                    syswrite($fh, $r);
                    $sel->remove($fh);
                    delete $buf{$fh};
                    close $fh;
                    last;
                } else {
                    syswrite($fh, $r);
                }
            }
        }
    }
}

sub port { $_[0]{port} }

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    $self->{pid} = 0;
}

sub DESTROY { $_[0]->stop }

sub _parse {
    my ($b) = @_;
    return undef unless $$b =~ /^\*(\d+)\r\n/;
    my $n = $1;
    my $pos = length("*$n\r\n");
    my @args;
    for (1 .. $n) {
        return undef unless substr($$b, $pos) =~ /^\$(\d+)\r\n/;
        my $len = $1;
        $pos += length("\$$len\r\n");
        return undef if length($$b) < $pos + $len + 2;
        push @args, substr($$b, $pos, $len);
        $pos += $len + 2;
    }
    substr($$b, 0, $pos) = '';
    return \@args;
}

sub _bulk { my $s = shift; '$' . length($s) . "\r\n$s\r\n" }

sub _answer {
    my ($cmd, $by_digest) = @_;
    my $name = uc $cmd->[0];

    return "+OK\r\n" if $name eq 'AUTH' || $name eq 'SELECT';
    return "+PONG\r\n" if $name eq 'PING';
    return "\$-1\r\n" if $name eq 'HGET';
    return ":1\r\n" if $name eq 'HSET' || $name eq 'CLIENT';
    if ($name eq 'SUBSCRIBE') {
        return "*3\r\n" . _bulk('subscribe') . _bulk($cmd->[1]) . ":1\r\n";
    }
    return "-ERR unknown command\r\n" unless $name eq 'HGETALL';

    my ($d) = $cmd->[1] =~ /key:([0-9a-f]{64})$/;
    my $b = defined $d ? $by_digest->{$d} : undef;

    return "*0\r\n" unless defined $b;
    return 'hang' if $b eq 'hang';
    return 'slow:' . "*6\r\n" . _bulk('id') . _bulk('1') . _bulk('enabled')
           . _bulk('1') . _bulk('fullaccess') . _bulk('1') if $b eq 'slow';
    return 'reset' if $b eq 'reset';
    return "-ERR fake failure\r\n" if $b eq 'err';
    return "?garbage\r\n" if $b eq 'garbage';
    return ":5\r\n" if $b eq 'wrongtype';
    return "*3\r\n" . _bulk('id') . _bulk('1') . _bulk('nick')
        if $b eq 'odd';
    return "close:*6\r\n" . _bulk('id') . _bulk('1') . "\$7\r\nena"
        if $b eq 'truncated';
    return "*6\r\n" . _bulk('id') . _bulk('1') . _bulk('enabled')
           . _bulk('1') . _bulk('fullaccess') . _bulk('1');
}

1;
