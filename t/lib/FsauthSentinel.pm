package FsauthSentinel;

# A Redis Sentinel set-up on loopback for the tests: one primary, its
# replicas and three sentinels (down-after-milliseconds 1000), all
# private processes on free ports, killed at the end; and a scripted
# fake sentinel that names whatever address it is told to.
# FSAUTH_REDIS_SERVER (set by util/test.sh: redis-server, or valkey-server
# under FSAUTH_TEST_SERVER=valkey) names the server; a sentinel is the
# same binary started with --sentinel, as redis-sentinel and
# valkey-sentinel are.

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use FsauthTest qw(free_port redis_at write_file);

my @children;

sub server { $ENV{FSAUTH_REDIS_SERVER} || 'redis-server' }

sub spawn {
    my (@cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        { exec @cmd };
        POSIX::_exit(1);
    }
    push @children, $pid;
    return $pid;
}

sub wait_port {
    my ($port) = @_;
    for (1 .. 250) {
        return 1 if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        sleep 0.02;
    }
    die "nothing listens on $port\n";
}

# new(master => NAME, replicas => 2, sentinels => 3)
sub new {
    my ($class, %o) = @_;
    my $self = bless { master => $o{master} // 'fsm', dir => tempdir(CLEANUP => 1),
                       nodes => {}, sentinels => [] }, $class;
    my $primary = $self->start_node();
    $self->{primary} = $primary;
    $self->start_node(replicaof => $primary) for 1 .. ($o{replicas} // 2);
    $self->start_sentinel() for 1 .. ($o{sentinels} // 3);
    $self->wait_replicas($o{replicas} // 2);
    return $self;
}

sub start_node {
    my ($self, %o) = @_;
    my $port = $o{port} // free_port();
    my $dir = "$self->{dir}/node$port";
    mkdir $dir;
    my @args = (server(), '--port', $port, '--bind', '127.0.0.1',
                '--save', '', '--appendonly', 'no', '--dir', $dir,
                '--logfile', "$dir/log", '--repl-diskless-sync-delay', 0);
    push @args, '--replicaof', '127.0.0.1', $o{replicaof} if $o{replicaof};
    $self->{nodes}{$port} = spawn(@args);
    wait_port($port);
    return $port;
}

sub start_sentinel {
    my ($self, %o) = @_;
    my $port = $o{port} // free_port();
    my $dir = "$self->{dir}/sentinel$port";
    mkdir $dir;
    my $m = $self->{master};
    my $conf = write_file("$dir/sentinel.conf", <<"_EOC_");
port $port
bind 127.0.0.1
dir $dir
logfile $dir/log
sentinel monitor $m 127.0.0.1 $self->{primary} 2
sentinel down-after-milliseconds $m 1000
sentinel failover-timeout $m 2000
sentinel parallel-syncs $m 2
_EOC_
    my $pid = spawn(server(), $conf, '--sentinel');
    push @{ $self->{sentinels} }, $port unless grep { $_ == $port } @{ $self->{sentinels} };
    $self->{spids}{$port} = $pid;
    wait_port($port);
    return $port;
}

# a sentinel of its own, outside the set's three, with requirepass:
# it watches the primary under another name ($name, quorum 1), so the
# others, which know no such master, ignore it
sub auth_sentinel {
    my ($self, $name, $password) = @_;
    return $self->lone_sentinel($name, qq{requirepass "$password"});
}

# the same with an ACL user $user (sentinels take "user" lines since
# Redis 6.2) and the default user off: only AUTH $user $password gets in
sub acl_sentinel {
    my ($self, $name, $user, $password) = @_;
    return $self->lone_sentinel($name, "user default off\n"
                                . "user $user on >$password ~* &* +\@all");
}

sub lone_sentinel {
    my ($self, $name, $auth) = @_;
    my $port = free_port();
    my $dir = "$self->{dir}/sentinel$port";
    mkdir $dir;
    my $conf = write_file("$dir/sentinel.conf", <<"_EOC_");
port $port
bind 127.0.0.1
dir $dir
logfile $dir/log
$auth
sentinel monitor $name 127.0.0.1 $self->{primary} 1
sentinel down-after-milliseconds $name 1000
_EOC_
    spawn(server(), $conf, '--sentinel');
    wait_port($port);
    return $port;
}

sub stop_sentinel {
    my ($self, $port) = @_;
    my $pid = delete $self->{spids}{$port} or return;
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

sub sentinels { @{ $_[0]{sentinels} } }

# the last lines of each sentinel's log, for a diagnosis
sub logs {
    my ($self) = @_;
    my $out = '';
    for my $port ($self->sentinels) {
        open my $fh, '<', "$self->{dir}/sentinel$port/log" or next;
        my @l = <$fh>;
        $out .= "sentinel $port:\n" . join '', @l[-min(15, scalar @l) .. -1];
    }
    return $out;
}

sub min { $_[0] < $_[1] ? $_[0] : $_[1] }
sub primary { $_[0]{primary} }
sub master { $_[0]{master} }

sub replicas {
    my ($self) = @_;
    return grep { $_ != $self->{primary} } sort keys %{ $self->{nodes} };
}

sub wait_replicas {
    my ($self, $n) = @_;
    for (1 .. 500) {
        my $info = redis_at($self->{primary}, 'INFO', 'replication');
        my @online = $info =~ /^slave\d+:.*state=online/mg;
        return if @online >= $n;
        sleep 0.02;
    }
    die "replicas did not come online\n";
}

# the primary as a sentinel names it
sub named_primary {
    my ($self, $sentinel) = @_;
    my $out = redis_at($sentinel // $self->{sentinels}[0], 'SENTINEL',
                       'get-master-addr-by-name', $self->{master});
    my (undef, $port) = split /\n/, $out;
    return $port;
}

# waits until every sentinel knows both replicas and each other, and
# they agree on a primary that says so, twice 1 s apart (a sentinel that
# lagged may start a failover of its own right after one)
sub wait_ready {
    my ($self, $replicas) = @_;
    $self->wait_settled($replicas) for 1 .. 2;
}

sub wait_settled {
    my ($self, $replicas) = @_;
    sleep 1 if $self->{settled}++;
    for (1 .. 500) {
        my %named = map { ($self->named_primary($_) // 0) => 1 }
                    grep { $self->{spids}{$_} } $self->sentinels;
        my ($primary) = keys %named;
        my $ok = keys %named == 1 && $primary
            && redis_at($primary, 'ROLE') =~ /\Amaster\n/;
        $self->{primary} = $primary if $ok;
        for my $s ($self->sentinels) {
            next unless $self->{spids}{$s};
            my $out = redis_at($s, 'SENTINEL', 'master', $self->{master});
            my %f = split /\n/, $out;
            $ok = 0 unless ($f{'num-slaves'} // 0) >= $replicas
                && ($f{'num-other-sentinels'} // 0) >= keys(%{ $self->{spids} }) - 1
                && ($f{flags} // '') eq 'master';

            # every replica promotable: seen up, its link to the primary ok
            my @r = split /\n/, redis_at($s, 'SENTINEL', 'replicas',
                                         $self->{master});
            my $good = 0;
            while (@r) {
                my %r;
                while (@r) {
                    my ($k, $v) = splice @r, 0, 2;
                    last unless defined $v;
                    if (exists $r{$k}) { unshift @r, $k, $v; last }
                    $r{$k} = $v;
                }
                $good++ if ($r{flags} // '') eq 'slave'
                    && ($r{'master-link-status'} // '') eq 'ok';
            }
            $ok = 0 if $good < $replicas;
        }
        return 1 if $ok;
        sleep 0.02;
    }
    die "sentinels did not settle\n" . $self->logs;
}

# SIGKILL the primary; returns its port
sub kill_primary {
    my ($self) = @_;
    return $self->kill_node($self->{primary});
}

sub kill_node {
    my ($self, $port) = @_;
    my $pid = delete $self->{nodes}{$port};
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return $port;
}

# children that write the time of each +switch-master, as each sentinel
# announces it, to $file
sub watch_switch {
    my ($self, $file) = @_;
    $self->watch_one($file, $_) for $self->sentinels;
}

sub watch_one {
    my ($self, $file, $sentinel) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$sentinel")
            or POSIX::_exit(1);
        print $s "SUBSCRIBE +switch-master\r\n";
        while (my $line = <$s>) {
            if ($line =~ /^\S+ \d+\.\d+\.\d+\.\d+ \d+ \S+ (\d+)\r$/) {
                open my $fh, '>>', $file or POSIX::_exit(1);
                printf $fh "%.6f %d\n", time, $1;
                close $fh;
            }
        }
        POSIX::_exit(0);
    }
    push @children, $pid;
    return $pid;
}

# after a failover: the new primary (as the sentinels name it), the old
# one restarted as its replica and synced
sub settle_failover {
    my ($self, $old) = @_;
    my $new;
    for (1 .. 750) {
        $new = $self->named_primary;
        last if $new && $new != $old;
        sleep 0.02;
    }
    die "no failover\n" . $self->logs unless $new && $new != $old;
    $self->{primary} = $new;
    # the old primary comes back as a replica of the new one (the
    # sentinels would convert it too, but only after their next INFO)
    $self->start_node(port => $old, replicaof => $new);
    for (1 .. 750) {
        my $info = redis_at($old, 'INFO', 'replication');
        last if $info =~ /^master_port:$new\r?$/m
            && $info =~ /^master_link_status:up\r?$/m;
        sleep 0.02;
    }
    $self->wait_replicas(2);
    return $new;
}

# A fake sentinel: answers get-master-addr-by-name with 127.0.0.1 $port
# and SENTINEL replicas with @replicas (ports on 127.0.0.1, each reported
# healthy), acknowledges SUBSCRIBE and says nothing more; PING is PONG.
sub fake_sentinel {
    my ($port, @replicas) = @_;
    my $listen = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                       ReuseAddr => 1) or die "listen: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{CHLD} = 'IGNORE';
        while (my $c = $listen->accept) {
            next if fork;
            while (my $cmd = read_command($c)) {
                my $name = lc($cmd->[0] // '');
                if ($name eq 'sentinel' && lc($cmd->[1] // '') eq 'replicas') {
                    print $c '*' . @replicas . "\r\n", map {
                        my @f = (ip => '127.0.0.1', port => $_,
                                 flags => 'slave', 'master-link-status' => 'ok');
                        '*' . @f . "\r\n"
                            . join('', map { '$' . length($_) . "\r\n$_\r\n" } @f)
                    } @replicas;
                } elsif ($name eq 'sentinel') {
                    print $c "*2\r\n\$9\r\n127.0.0.1\r\n\$" . length($port)
                        . "\r\n$port\r\n";
                } elsif ($name eq 'subscribe') {
                    print $c "*3\r\n\$9\r\nsubscribe\r\n\$"
                        . length($cmd->[1]) . "\r\n$cmd->[1]\r\n:1\r\n";
                } elsif ($name eq 'ping') {
                    print $c "+PONG\r\n";
                } else {
                    print $c "-ERR unknown command\r\n";
                }
            }
            POSIX::_exit(0);
        }
        POSIX::_exit(0);
    }
    push @children, $pid;
    my $lport = $listen->sockport;
    close $listen;
    return ($lport, $pid);
}

sub read_command {
    my ($c) = @_;
    my $line = <$c> // return;
    return [split ' ', $line] unless $line =~ /^\*(\d+)/;
    my @args;
    for (1 .. $1) {
        my $len = <$c> // return;
        $len =~ /^\$(\d+)/ or return;
        read($c, my $arg, $1 + 2) or return;
        push @args, substr($arg, 0, $1);
    }
    return \@args;
}

sub DESTROY {}

END {
    local $?;
    kill 'KILL', $_ for @children;
    waitpid $_, 0 for @children;
}

1;
