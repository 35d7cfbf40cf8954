package FsauthNginx;

# Starts a real nginx with the module for the plain Test::More files that
# need what a Test::Nginx block cannot express: concurrent clients, a
# Redis restart under a running nginx, timing.  Same environment as the
# Test::Nginx files: TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES.

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use FsauthTest qw(free_port write_file);

sub start {
    my ($class, %o) = @_;

    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/$_" for qw(conf logs html);
    my $port = free_port();
    my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';

    my $self = bless { dir => $dir, port => $port, binary => $binary },
                     $class;

    $self->write_conf(%o);

    # valgrind => 1: under memcheck in the suite's valgrind mode
    # (util/valgrind.sh sets TEST_NGINX_USE_VALGRIND), one log per
    # process, read by valgrind_report after stop
    my @valgrind;
    if ($o{valgrind} && $ENV{TEST_NGINX_USE_VALGRIND}) {
        my $root = $ENV{FSAUTH_ROOT} // '.';
        @valgrind = ('valgrind', '-q', '--tool=memcheck',
                     '--leak-check=full', '--show-possibly-lost=no',
                     '--gen-suppressions=all',
                     "--suppressions=$root/valgrind.suppress",
                     "--log-file=$dir/logs/valgrind.%p");
        $self->{valgrind} = 1;
    }

    system(@valgrind, $binary, '-p', "$dir/", '-c', "$dir/conf/nginx.conf",
           '-e', "$dir/logs/error.log") == 0
        or die "nginx did not start:\n" . $self->error_log;

    for (1 .. ($self->{valgrind} ? 1500 : 200)) {
        last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        sleep 0.02;
    }

    # let every worker finish its first Redis handshake
    sleep($o{settle} // 0.2);

    return $self;
}

# rewrites nginx.conf and reloads; returns when the old workers are gone
sub reload {
    my ($self, %o) = @_;
    my @old = $self->worker_pids;
    $self->write_conf(%o);
    kill 'HUP', $self->pid;
    for (1 .. 250) {
        my %now = map { $_ => 1 } $self->worker_pids;
        last unless grep { $now{$_} } @old;
        sleep 0.02;
    }
    sleep($o{settle} // 0.2);
}

sub write_conf {
    my ($self, %o) = @_;
    my ($dir, $port) = ($self->{dir}, $self->{port});
    my $modules = join '', map { "load_module $_;\n" }
                           split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    my $workers = $o{workers} // 1;
    my $level = $o{log_level} // 'info';
    my $reuse = $workers > 1 ? ' reuseport' : '';

    (my $http = $o{http} // '') =~ s/\$PORT\b/$port/g;
    (my $server = $o{server} // '') =~ s/\$PORT\b/$port/g;

    write_file("$dir/conf/nginx.conf", <<"_EOC_");
$modules
worker_processes $workers;
daemon on;
master_process on;
error_log $dir/logs/error.log $level;
pid $dir/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
$http
    server {
        listen 127.0.0.1:$port$reuse;
        location /backend/ { return 200 "ok\\n"; }
$server
    }
}
_EOC_
}

sub port { $_[0]{port} }

# $get: one request, returning (status, $fsauth_cache_status, worker pid).
# Requests until every worker (two at least) has answered twice from the
# cache; returns how many did.
sub warm {
    my ($self, $get) = @_;
    my %hit;
    for (1 .. 400) {
        my @r = $get->();
        $hit{$r[2]}++ if $r[1] eq 'HIT' && $r[0] == 200;
        return scalar keys %hit
            if keys %hit >= 2 && (grep { $_ >= 2 } values %hit) >= 2;
    }
    return scalar keys %hit;
}

# $count requests (30) of $get: the "status/cache" of those that are not
# $want, and how many workers answered
sub burst {
    my ($self, $get, $want, $count) = @_;
    my (%pids, @bad);
    for (1 .. $count // 30) {
        my @r = $get->();
        $pids{$r[2]}++;
        push @bad, "$r[0]/$r[1]" if $r[0] != $want;
    }
    return ("@bad", scalar keys %pids);
}

sub pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/logs/nginx.pid" or return;
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

sub worker_pids {
    my ($self) = @_;
    my $master = $self->pid or return ();
    my @pids = grep { length } split /\s+/, `pgrep -P $master`;
    return @pids;
}

sub error_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/logs/error.log" or return '';
    local $/;
    return <$fh>;
}

sub stop {
    my ($self) = @_;
    my $pid = $self->pid or return;
    kill 'QUIT', $pid;
    for (1 .. ($self->{valgrind} ? 1500 : 250)) {
        last unless kill 0, $pid;
        sleep 0.02;
    }
    kill 'KILL', $pid if kill 0, $pid;
    delete $self->{dir_pid};
}

# whether memcheck ran (start(valgrind => 1) in the valgrind mode)
sub valgrind { $_[0]{valgrind} }

# after stop: what memcheck reported, every process ('' for nothing)
sub valgrind_report {
    my ($self) = @_;
    my $out = '';
    for my $f (glob "$self->{dir}/logs/valgrind.*") {
        open my $fh, '<', $f or next;
        local $/;
        $out .= <$fh> // '';
    }
    return $out;
}

sub DESTROY {
    my ($self) = @_;
    my $pid = $self->pid;
    return unless $pid && kill 0, $pid;

    # the workers too: orphans would keep their inherited fds (a test
    # that dies must not leave them behind)
    my @workers = $self->worker_pids;
    kill 'KILL', $pid, @workers;
}

1;
