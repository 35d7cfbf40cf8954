package FsauthTest;

# Helpers shared by the fsauth test files: Redis seeding with redis-cli,
# token digests, throwaway redis-servers and a scripted fake Redis.
# FSAUTH_REDIS_SERVER and FSAUTH_REDIS_CLI (set by util/test.sh) name the
# server and client commands: redis-server and redis-cli by default,
# valkey-server and valkey-cli under FSAUTH_TEST_SERVER=valkey.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

use Exporter 'import';
our @EXPORT = qw(redis redis_at add_key flush_prefix digest free_port
                 start_redis stop_redis restart_redis write_file
                 background_requests wait_background http_raw
                 hset_calls redis_calls fsauth_get poll_until);

sub digest { sha256_hex($_[0]) }

sub redis_at {
    my ($port, @args) = @_;
    my @cmd = ($ENV{FSAUTH_REDIS_CLI} || 'redis-cli', '--no-auth-warning', '-p', $port, @args);
    open my $fh, '-|', @cmd or die "redis-cli: $!";
    local $/;
    my $out = <$fh>;
    close $fh;
    $out = '' unless defined $out;
    $out =~ s/\n\z//;
    return $out;
}

sub redis {
    my $port = $ENV{TEST_NGINX_REDIS_PORT}
        or die "TEST_NGINX_REDIS_PORT is not set (run util/test.sh)\n";
    return redis_at($port, @_);
}

# add_key(token => 't', id => 7, prefix => 'p:', nick => 'n',
#         enabled => 1, fullaccess => 0, grants => { clientes => 'get' },
#         port => P, db => N)
sub add_key {
    my %k = @_;
    my $prefix = $k{prefix} // 'fsauth:';
    my $port = $k{port} // $ENV{TEST_NGINX_REDIS_PORT};
    my @db = defined $k{db} ? ('-n', $k{db}) : ();
    my $d = digest($k{token});
    my @fields = (id => $k{id}, nick => $k{nick} // "user$k{id}",
                  description => "test key $k{id}",
                  enabled => $k{enabled} // 1,
                  fullaccess => $k{fullaccess} // 0,
                  creationdate => '2026-01-01');
    for my $r (sort keys %{ $k{grants} // {} }) {
        push @fields, "res:$r", $k{grants}{$r};
    }
    redis_at($port, @db, 'DEL', "${prefix}key:$d");
    redis_at($port, @db, 'HSET', "${prefix}key:$d", @fields);
    redis_at($port, @db, 'SET', "${prefix}keyid:$k{id}", $d);
    return $d;
}

sub flush_prefix {
    my ($prefix, %o) = @_;
    my $port = $o{port} // $ENV{TEST_NGINX_REDIS_PORT};
    my @db = defined $o{db} ? ('-n', $o{db}) : ();
    my $keys = redis_at($port, @db, '--scan', '--pattern', "${prefix}*");
    for my $k (split /\n/, $keys) {
        redis_at($port, @db, 'DEL', $k) if length $k;
    }
}

# calls of a command so far on the main test server (INFO commandstats)
sub redis_calls {
    my ($cmd) = @_;
    my $info = redis('INFO', 'commandstats');
    return $info =~ /cmdstat_\Q$cmd\E:calls=(\d+)/ ? $1 : 0;
}

sub hset_calls { redis_calls('hset') }

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  ReuseAddr => 1) or die "socket: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub write_file {
    my ($path, $content) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $content;
    close $fh;
    return $path;
}

# a private redis-server, for tests that stop or restart it
my %servers;

sub start_redis {
    my (%o) = @_;
    my $port = $o{port} // free_port();
    my $dir = $o{dir} // tempdir(CLEANUP => 1);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec $ENV{FSAUTH_REDIS_SERVER} || 'redis-server', '--port', $port, '--bind', '127.0.0.1',
             '--save', '', '--appendonly', 'no', '--dir', $dir,
             @{ $o{args} // [] };
        exit 1;
    }
    for (1 .. 200) {
        last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        sleep 0.02;
    }
    $servers{$port} = { pid => $pid, dir => $dir, args => $o{args} };
    return $port;
}

sub stop_redis {
    my ($port) = @_;
    my $s = delete $servers{$port} or return;
    kill 'KILL', $s->{pid};
    waitpid $s->{pid}, 0;
    return $s;
}

sub restart_redis {
    my ($port, $pause) = @_;
    my $s = stop_redis($port);
    sleep $pause if $pause;
    return start_redis(port => $port, dir => $s->{dir}, args => $s->{args});
}

END {
    local $?;    # the servers' SIGKILL is not the test's exit status
    for my $port (keys %servers) {
        kill 'KILL', $servers{$port}{pid};
        waitpid $servers{$port}{pid}, 0;
    }
}

# One raw HTTP/1.0 exchange; returns (status, headers, body, seconds).
# $port: a port of 127.0.0.1, or a socket already connected (IPv6, unix).
sub http_raw {
    my ($port, $request, $timeout) = @_;
    my $t0 = time;
    my $s = ref $port ? $port
          : IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => $timeout // 5)
        or return (0, '', '', time - $t0);
    print $s $request;
    my $resp = '';
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm($timeout // 5);
        while (sysread($s, my $buf, 65536)) { $resp .= $buf }
        alarm 0;
    };
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/\d\.\d (\d+)};
    return ($status // 0, $head // '', $body // '', time - $t0);
}

# A GET with a token through a location that adds "X-Fsauth:
# $fsauth_status"; the status, or (status, that header, seconds).
sub fsauth_get {
    my ($port, $token, $path) = @_;
    my ($status, $head, undef, $secs) =
        http_raw($port, 'GET ' . ($path // '/api/3/clientes')
                 . " HTTP/1.0\r\nHost: x\r\nX-Auth-Token: $token\r\n\r\n", 5);
    my ($fs) = $head =~ /^X-Fsauth: (\S+)/mi;
    return wantarray ? ($status, $fs // '', $secs) : $status;
}

# true as soon as $cb returns true, false after $secs (2 s by default)
sub poll_until {
    my ($cb, $secs) = @_;
    for (1 .. ($secs // 2) / 0.02) {
        return 1 if $cb->();
        sleep 0.02;
    }
    return 0;
}

# Forks $n clients, each sending $count requests; results (one status per
# line) go to $file.  Used to show that requests proceed concurrently.
sub background_requests {
    my (%o) = @_;
    my @pids;
    for my $i (1 .. ($o{clients} // 1)) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            sleep $o{delay} if $o{delay};
            open my $out, '>>', $o{file} or exit 1;
            for (1 .. ($o{count} // 1)) {
                my ($st, $head, undef, $t) =
                    http_raw($o{port}, $o{request}, $o{timeout});
                my ($pid) = $head =~ /^X-Pid: (\d+)/mi;
                printf $out "%s %.3f %s\n", $st, $t, $pid // '-';
            }
            close $out;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    return \@pids;
}

sub wait_background {
    my ($pids) = @_;
    waitpid $_, 0 for @$pids;
}

1;
