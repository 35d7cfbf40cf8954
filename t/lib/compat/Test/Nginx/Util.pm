package Test::Nginx::Util;

# Server management half of the project's compatible re-implementation of
# Test::Nginx::Socket (see Test/Nginx/Socket.pm in this directory for the
# list of supported features and the known deviations).  This file is only
# on @INC when the CPAN distribution is not installed (util/test.sh).

use strict;
use warnings;

our $VERSION = '0.29_fsauth_compat';

use base 'Exporter';

use Config ();
use File::Spec ();
use File::Path qw(make_path remove_tree);
use File::Find qw(find);
use File::Temp qw(tempfile tempdir);
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use IO::Select ();
use List::Util qw(shuffle);
use POSIX qw(SIGQUIT SIGKILL SIGTERM SIGHUP SIGUSR1 WNOHANG);
use Scalar::Util qw(looks_like_number);
use Socket qw(SOCK_STREAM SOCK_DGRAM);
use Time::HiRes qw(sleep time);
use Carp qw(croak);
use Test::More ();
use Test::LongString ();

# ---------------------------------------------------------------------------
# Settings (names and defaults follow the CPAN module)
# ---------------------------------------------------------------------------

our $ConfigVersion;
our $FilterHttpConfig;
our $NoLongString;
our $FirstTime = 1;
our $InSubprocess;
our $RepeatEach = 1;

our $Verbose            = $ENV{TEST_NGINX_VERBOSE};
our $ReusePort          = $ENV{TEST_NGINX_REUSE_PORT};
our $UseHup             = $ENV{TEST_NGINX_USE_HUP};
our $UseValgrind        = $ENV{TEST_NGINX_USE_VALGRIND};
our $UseStap;           # not supported; always off
our $CheckLeak          = 0;    # not supported
our $Benchmark          = 0;    # not supported
our $BenchmarkWarmup    = 0;
our $NoNginxManager     = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $LoadModules        = $ENV{TEST_NGINX_LOAD_MODULES};
our $NoShuffle          = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $EventType          = $ENV{TEST_NGINX_EVENT_TYPE};
our $PostponeOutput     = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
our $Timeout            = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $CheckAccumErrLog   = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $Randomize          = $ENV{TEST_NGINX_RANDOMIZE};
our $NginxBinary        = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Workers            = 1;
our $WorkerConnections  = 64;
our $LogLevel           = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled      = 'on';
our $ServerPort         = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                          || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort
                          || 1984;
our $NoRootLocation     = 0;
our $TestNginxSleep     = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $ForceRestartOnTest = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                          ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;
our $ServerAddr         = '127.0.0.1';
our $ServerName         = 'localhost';
our $WorkerUser         = $ENV{TEST_NGINX_WORKER_USER};
our $ConfigPreamble     = '';

if (defined $WorkerUser && $WorkerUser !~ /^\w+(?:\s+\w+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

our ($ChildPid, $TcpServerPid);
our (@EnvToNginx, @CleanupHandlers, @BlockPreprocessors);
our ($RunTestHelper, $CheckErrorLog, $CheckShutdownErrorLog);
our ($NginxVersion, $NginxRawVersion, $OpenSSLVersion);
our ($PrevConfig, $PrevBlock);
our $ErrLogFilePos = 0;

# valgrind: nginx stays in the foreground (a forked child of this process);
# see write_config_file.  Blocks with --- must_die never run under
# valgrind and keep "daemon on", so that a server which unexpectedly
# starts does not block the run.

our @RandStrAlphabet = ('A' .. 'Z', 'a' .. 'z', '0' .. '9',
                        '#', '@', '-', '_', '^');

srand $$;

sub bail_out (@);
sub timeout (@);
sub gen_rand_port (;$$);

if ($Randomize) {
    $ServerPort = gen_rand_port(1000);
    if (!defined $ServerPort) {
        bail_out "Cannot find an available listening port number after "
                 . "1000 attempts.\n";
    }
    $ServerPortForClient = $ServerPort;
}

our $ServRoot;
if ($Randomize) {
    $ServRoot = File::Spec->rel2abs("t/servroot_$ServerPort");
} else {
    $ServRoot = $ENV{TEST_NGINX_SERVROOT}
                || File::Spec->rel2abs('t/servroot');
}
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = File::Spec->catfile($ServRoot, 'logs');
our $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
our $HtmlDir    = File::Spec->catfile($ServRoot, 'html');
our $ConfDir    = File::Spec->catfile($ServRoot, 'conf');
our $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
our $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');

our @EXPORT = qw(
    env_to_nginx is_str check_accum_error_log is_running
    $NoLongString no_long_string $ServerAddr server_addr
    $ServerName server_name parse_time $UseStap verbose sleep_time
    bail_out add_cleanup_handler access_log_data error_log_data
    setup_server_root write_config_file get_canon_version
    get_nginx_version trim show_all_chars parse_headers run_tests
    get_pid_from_pidfile $ServerPortForClient $ServerPort $NginxVersion
    $PidFile $ServRoot $ConfFile $RunTestHelper $CheckErrorLog
    $CheckShutdownErrorLog $FilterHttpConfig $NoNginxManager
    $RepeatEach $CheckLeak $Benchmark $BenchmarkWarmup
    add_block_preprocessor timeout worker_connections workers
    master_on master_off config_preamble repeat_each
    master_process_enabled log_level no_shuffle no_root_location
    html_dir server_root server_port server_port_for_client
    no_nginx_manager use_hup
);

# ---------------------------------------------------------------------------
# Process helpers
# ---------------------------------------------------------------------------

# nginx daemonizes, so its processes are re-parented.  Where the init of the
# container does not reap orphans, "kill 0" keeps succeeding on a zombie;
# becoming a child subreaper makes the daemon our child so that we can reap
# it and know for sure when it is gone.
my %PrctlSyscall = (x86_64 => 157, aarch64 => 167, i386 => 172, i486 => 172,
                    i586 => 172, i686 => 172, arm => 172, ppc64le => 171,
                    s390x => 172, riscv64 => 167);
if ($^O eq 'linux') {
    my ($arch) = $Config::Config{archname} =~ /^([^-]+)/;
    my $nr = $PrctlSyscall{$arch || ''};
    if ($nr) {
        local $!;
        eval { syscall($nr, 36, 1, 0, 0, 0) };   # PR_SET_CHILD_SUBREAPER
    }
}

sub is_running ($) {
    my $pid = shift;
    return 0 unless $pid && $pid =~ /^\d+$/ && $pid > 1;
    my $r = waitpid($pid, WNOHANG);
    return 0 if $r == $pid;
    return 0 unless kill 0, $pid;
    if (open my $in, '<', "/proc/$pid/stat") {
        my $stat = <$in>;
        close $in;
        return 0 if defined $stat && $stat =~ /^\d+ \(.*\) Z /s;
    }
    return 1;
}

sub signal_group_or_pid ($$) {
    my ($sig, $pid) = @_;
    my $pgrp = getpgrp($pid);
    if (defined $pgrp && $pgrp == $pid) {
        kill $sig, -$pid;
    } else {
        kill $sig, $pid;
    }
}

sub wait_gone ($$) {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    my $step = 0.005;
    while (is_running($pid)) {
        return 0 if time >= $deadline;
        sleep $step;
        $step *= 1.5 if $step < 0.05;
    }
    return 1;
}

# QUIT (graceful), then TERM, then KILL -- like the CPAN module.
sub kill_process ($$$) {
    my ($pid, $wait, $name) = @_;
    return unless defined $pid && $pid;

    if ($wait) {
        warn "sending QUIT signal to $pid\n" if $Verbose;
        kill SIGQUIT, $pid;
        my $grace = timeout();
        $grace += 10 if $UseValgrind;   # memcheck's exit report takes time
        if (!wait_gone($pid, $grace)) {
            warn "$name - timeout when waiting for the process $pid to exit\n";
            signal_group_or_pid(SIGKILL, $pid);
            wait_gone($pid, 1);
        }
    }

    for (1 .. 20) {
        return if !is_running($pid);
        warn "WARNING: killing the child process $pid.\n" if $Verbose;
        kill SIGTERM, $pid;
        wait_gone($pid, 0.25);
    }

    return if !is_running($pid);
    warn "$name - WARNING: killing the child process $pid with force...\n";
    signal_group_or_pid(SIGKILL, $pid);
    wait_gone($pid, 2);
}

sub gen_rand_str {
    my $len = shift;
    my $s = '';
    $s .= $RandStrAlphabet[int rand @RandStrAlphabet] for 1 .. $len;
    return $s;
}

sub gen_rand_port (;$$) {
    my ($tries, $used) = @_;
    $tries //= 1000;
    $used //= {};
    for (1 .. $tries) {
        my $port = 1985 + int rand(65535 - 1985);
        next if $used->{$port};
        my $sock = IO::Socket::INET->new(
            LocalAddr => $ServerAddr,
            LocalPort => $port,
            Proto     => 'tcp',
            Timeout   => 0.1,
        );
        if ($sock) {
            close $sock;
            return $port;
        }
        warn "Try again, port $port is already in use: $@\n" if $Verbose;
    }
    return undef;
}

# ---------------------------------------------------------------------------
# Preamble functions
# ---------------------------------------------------------------------------

sub no_long_string () { $NoLongString = 1 }
sub no_shuffle () { $NoShuffle = 1 }
sub no_nginx_manager () { $NoNginxManager = 1 }
sub use_hup () { $UseHup = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub master_on () { $MasterProcessEnabled = 'on' }
sub master_off () { $MasterProcessEnabled = 'off' }
sub config_preamble ($) { $ConfigPreamble = shift }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub sleep_time { $TestNginxSleep }
sub verbose { $Verbose }
sub html_dir () { $HtmlDir }
sub server_root () { $ServRoot }

sub _accessor {
    my ($ref, @args) = @_;
    if (@args) {
        $$ref = $args[0];
        return;
    }
    return $$ref;
}

sub server_addr (@) { _accessor(\$ServerAddr, @_) }
sub server_name (@) { _accessor(\$ServerName, @_) }
sub timeout (@) { _accessor(\$Timeout, @_) }
sub server_port (@) { _accessor(\$ServerPort, @_) }
sub server_port_for_client (@) { _accessor(\$ServerPortForClient, @_) }
sub worker_connections (@) { _accessor(\$WorkerConnections, @_) }
sub workers (@) { _accessor(\$Workers, @_) }
sub log_level (@) { _accessor(\$LogLevel, @_) }

sub repeat_each (@) {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub master_process_enabled (@) {
    if (@_) {
        $MasterProcessEnabled = shift() ? 'on' : 'off';
        return;
    }
    return $MasterProcessEnabled;
}

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        if ($v !~ /^[A-Za-z_]/ || $v =~ /\n/) {
            croak "env_to_nginx: bad argument value: $v\n";
        }
        push @EnvToNginx, $v;
    }
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    if ($NoLongString) {
        return Test::More::is($got, $expected, $desc);
    }
    return Test::LongString::is_string($got, $expected, $desc);
}

sub parse_time ($) {
    my $tm = shift;
    return $tm unless defined $tm;
    if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
        $tm = $tm / 1000;
    } else {
        $tm =~ s/([^_a-zA-Z])s$/$1/;
    }
    return $tm;
}

sub trim ($) {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /g;
    $s =~ s/\s{2,}/ /g;
    return $s;
}

sub show_all_chars ($) {
    my $s = shift;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    return $s;
}

# "Name: value" lines -> { Name => value }; "!Name" -> { Name => undef }
sub parse_headers ($) {
    my %h = @{ parse_headers_ordered($_[0]) };
    return \%h;
}

# the same as a list of pairs in their order; a repeated name keeps its
# last value at the place of its first appearance
sub parse_headers_ordered ($) {
    my $s = shift;
    my (@keys, %h);
    for my $line (split /^/m, $s) {
        $line =~ s/^\s+|\s+$//g;
        my ($k, $v);
        if ($line =~ s/^!\s*//) {
            $k = $line;
        } else {
            ($k, $v) = split /\s*:\s*/, $line, 2;
            $k = '' unless defined $k;
        }
        push @keys, $k unless exists $h{$k};
        $h{$k} = $v;
    }
    return [ map { ($_, $h{$_}) } @keys ];
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(@_);
}

sub get_canon_version (@) {
    sprintf "%d.%03d%03d", $_[0], $_[1], $_[2];
}

sub get_canon_version_for_OpenSSL (@) {
    if (defined $_[3]) {
        return sprintf "%d.%03d%03d%03d", $_[0], $_[1], $_[2],
                       ord($_[3]) - ord('a');
    }
    return get_canon_version(@_);
}

sub get_nginx_version () {
    my $out = `$NginxBinary -V 2>&1`;
    if (!defined $out || $? != 0) {
        bail_out("Failed to get the version of the Nginx in PATH: "
                 . ($out // ''));
    }
    if ($out =~ m{built with OpenSSL (\d+)\.(\d+)\.(\d+)([a-z])?}) {
        $OpenSSLVersion = get_canon_version_for_OpenSSL($1, $2, $3, $4);
    }
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)})
    {
        $NginxRawVersion = "$1.$2.$3";
        return get_canon_version($1, $2, $3);
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

sub get_pid_from_pidfile ($) {
    my $name = shift;
    open my $in, '<', $PidFile
        or bail_out("$name - Failed to open the pid file $PidFile for "
                    . "reading: $!");
    my $pid = do { local $/; <$in> };
    close $in;
    $pid = '' unless defined $pid;
    chomp $pid;
    return $pid;
}

sub read_pid_file () {
    open my $in, '<', $PidFile or return undef;
    my $pid = do { local $/; <$in> };
    close $in;
    return undef unless defined $pid;
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

sub can_run ($) {
    my $cmd = shift;
    if ($cmd =~ m{/}) {
        return (-f $cmd && -x _) ? $cmd : undef;
    }
    for my $dir ((split /\Q$Config::Config{path_sep}\E/, $ENV{PATH} || ''),
                 '.')
    {
        next if $dir eq '';
        my $abs = File::Spec->catfile($dir, $cmd);
        return $abs if -f $abs && -x _;
    }
    return undef;
}

# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------

sub error_log_data () {
    # lines logged in the log phase come after the response is complete
    sleep $TestNginxSleep * 3;
    open my $in, '<', $ErrLogFile or return undef;
    if (!$CheckAccumErrLog && $ErrLogFilePos > 0) {
        seek $in, $ErrLogFilePos, 0;
    }
    my @lines = <$in>;
    $ErrLogFilePos = tell($in) unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or do {
        die "open $AccLogFile failed: $!" if $AccLogFile ne 'off';
        return undef;
    };
    my @lines = <$in>;
    close $in;
    return \@lines;
}

sub check_if_missing_directives () {
    open my $in, '<', $ErrLogFile or return 0;
    while (<$in>) {
        if (/\[emerg\] \S+?: unknown directive "([^"]+)"/) {
            close $in;
            return $1;
        }
    }
    close $in;
    return 0;
}

# ---------------------------------------------------------------------------
# valgrind support: memcheck writes one log per process into a private
# directory (outside the server root, which is wiped between blocks); new
# output is echoed to stderr and reported as a test failure.
# ---------------------------------------------------------------------------

our $ValgrindDir;
# nginx core's own exit-time leaks (t/lib/compat/nginx-core.supp)
our $CoreSuppressions = File::Spec->rel2abs(File::Spec->catfile(
    (File::Spec->splitpath(__FILE__))[1], '..', '..', 'nginx-core.supp'));
our %ValgrindSeen;

sub valgrind_cmd (@) {
    my @nginx = @_;
    $ValgrindDir //= tempdir('tnv-valgrind-XXXXXX', TMPDIR => 1,
                             CLEANUP => 1);
    my @opts;
    if ($UseValgrind =~ /^\d+$/) {
        @opts = ('--tool=memcheck', '--leak-check=full',
                 '--show-possibly-lost=no');
    } else {
        @opts = split ' ', $UseValgrind;
    }
    my @cmd = ('valgrind', '--num-callers=100', '-q', @opts,
               '--gen-suppressions=all');
    push @cmd, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';
    push @cmd, "--suppressions=$CoreSuppressions" if -f $CoreSuppressions;
    push @cmd, "--log-file=$ValgrindDir/vg.%p.log";
    return (@cmd, @nginx);
}

sub check_valgrind_log ($) {
    my $name = shift;
    return unless $ValgrindDir && -d $ValgrindDir;
    my $report = '';
    for my $f (sort glob "$ValgrindDir/vg.*.log") {
        open my $in, '<', $f or next;
        seek $in, $ValgrindSeen{$f} // 0, 0;
        local $/;
        my $new = <$in>;
        $ValgrindSeen{$f} = tell $in;
        close $in;
        $report .= $new if defined $new && length $new;
    }
    return unless length $report;
    print STDERR $report;
    if ($report =~ /insert_a_suppression_name_here/
        || $report =~ /^==\d+== +(?:Invalid |Conditional jump|Use of uninit|Syscall param|Mismatched |Source and destination overlap|\S.* (?:definitely|indirectly) lost)/m)
    {
        my $tb = Test::More->builder;
        $tb->no_ending(1);
        Test::More::fail("$name - valgrind reported errors (see above)");
    }
}

# ---------------------------------------------------------------------------
# Server root and nginx.conf
# ---------------------------------------------------------------------------

sub setup_server_root ($) {
    my $first_time = shift;

    if (-d $ServRoot) {
        # only remove what this scaffold creates, in case
        # TEST_NGINX_SERVROOT points somewhere precious
        remove_tree($ConfDir, glob("$ServRoot/*_cache"),
                    glob("$ServRoot/*_temp"));

        if ($UseHup) {
            find({ bydepth => 1, no_chdir => 1, wanted => sub {
                return if -d $_;
                if (/(?:\bnginx\.pid|\.sock|\.crt|\.key)$/) {
                    return unless $first_time;
                }
                unlink $_ or warn "Failed to remove $_\n";
            } }, $ServRoot);

        } else {
            remove_tree($HtmlDir, $LogDir);
            rmdir $ServRoot
                or bail_out "Can't remove $ServRoot (not empty?): $!";
        }
    }

    for my $dir ($ServRoot, $LogDir, $HtmlDir) {
        next if -d $dir;
        mkdir $dir or bail_out "Failed to do mkdir $dir\n";
    }

    my $index = "$HtmlDir/index.html";
    open my $out, '>', $index
        or bail_out "Can't open $index for writing: $!\n";
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;

    mkdir $ConfDir or bail_out "Failed to do mkdir $ConfDir\n";
}

sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef unless defined $text;

    my %used = ($ServerPort => 1, map { $_ => 1 } values %$rand_ports);

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            if (!defined $rand_ports->{$var}) {
                my $port = gen_rand_port(1000, \%used);
                if (!defined $port) {
                    bail_out "$name - Cannot find an available listening "
                             . "port number for $var.\n";
                }
                $rand_ports->{$var} = $port;
                $used{$port} = 1;
            }
            $val = $rand_ports->{$var};
        } else {
            if (!defined $ENV{$var}) {
                bail_out "$name - No environment $var defined.\n";
            }
            $val = $ENV{$var};
        }
        $val;
    }ge;

    return $text;
}

sub write_user_files ($$) {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return unless $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ />>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out "$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted";
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        $body = '' unless defined $body;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{(.*)/}) {
            my $dir = $1;
            if (!-d $dir) {
                make_path($dir)
                    or bail_out "$name - Cannot create directory ", $dir;
            }
        }
        $body = expand_env_in_text($body, $name, $rand_ports);
        open my $out, '>', $path
            or bail_out "$name - Cannot open $path for writing: $!\n";
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            my $cmd = "TZ=GMT touch -t '$date' $HtmlDir/$fname";
            system($cmd) == 0
                or bail_out "Failed to run shell command: $cmd\n";
        }
    }
}

sub write_config_file ($$$) {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;

    # a reload with the master process off is not reliable
    master_on() if $UseHup;

    my $http_config = expand_env_in_text($block->http_config, $name,
                                         $rand_ports);
    $config = '' unless defined $config;
    $http_config = '' unless defined $http_config;
    $http_config = $FilterHttpConfig->($http_config) if $FilterHttpConfig;

    undef $PostponeOutput if $http_config =~ /\bpostpone_output\b/;
    my $extra_http_config = '';
    if (defined $PostponeOutput) {
        if ($PostponeOutput !~ /^\d+$/) {
            bail_out "Bad TEST_NGINX_POSTPONE_OUTPUT value: $PostponeOutput\n";
        }
        $extra_http_config = "\n    postpone_output $PostponeOutput;\n";
    }

    my $main_config = $block->main_config;
    $main_config = '' unless defined $main_config;
    if ($LoadModules) {
        my @mods = map { "load_module $_;" } grep { length } split /\s+/,
                   $LoadModules;
        # appended after the block's own main_config, as upstream does
        $main_config .= join ' ', @mods if @mods;
    }
    $main_config = expand_env_in_text($main_config, $name, $rand_ports);

    my $post_main_config = $block->post_main_config;
    $post_main_config = '' unless defined $post_main_config;
    $post_main_config = expand_env_in_text($post_main_config, $name,
                                           $rand_ports);

    my $err_log_file = $block->error_log_file || $ErrLogFile;
    my $server_name = $block->server_name;
    $server_name = $ServerName unless defined $server_name;

    my $listen_opts = $ReusePort ? ' reuseport' : '';

    my @conf;
    push @conf,
        "worker_processes  $Workers;",
        'daemon ' . ($UseValgrind ? 'off' : $DaemonEnabled) . ';',
        "master_process $MasterProcessEnabled;",
        "error_log $err_log_file $LogLevel;",
        "pid       $PidFile;",
        map({ "env $_;" } qw(MOCKEAGAIN_VERBOSE MOCKEAGAIN
            MOCKEAGAIN_WRITE_TIMEOUT_PATTERN LD_PRELOAD LD_LIBRARY_PATH
            DYLD_INSERT_LIBRARIES DYLD_FORCE_FLAT_NAMESPACE));
    for my $v (@EnvToNginx) {
        push @conf, $v =~ /\s/ ? "env '$v';" : "env $v;";
    }
    push @conf,
        '',
        $main_config,
        '',
        'http {',
        "    access_log $AccLogFile;",
        '',
        '    default_type text/plain;',
        '    keepalive_timeout  68;',
        '',
        $http_config,
        '',
        '    server {',
        "        listen          $ServerPort$listen_opts;",
        "        server_name     '$server_name';",
        '',
        '        client_max_body_size 30M;',
        '',
        '        # Begin preamble config...',
        $ConfigPreamble,
        '        # End preamble config...',
        '',
        '        # Begin test case config...',
        $config,
        '        # End test case config.',
        '';
    if (!$NoRootLocation) {
        push @conf,
            '        location / {',
            "            root $HtmlDir;",
            '            index index.html index.htm;',
            '        }';
    }
    push @conf, '    }';
    if ($UseHup) {
        # answers the config version, to know when a reload is complete
        push @conf,
            '    server {',
            "        listen          $ServerPort$listen_opts;",
            "        server_name     'Test-Nginx';",
            '',
            '        location = /ver {',
            "            return 200 '$ConfigVersion';",
            '        }',
            '    }',
            '',
            # upstream only emits postpone_output in the HUP mode too
            $extra_http_config;
    }
    push @conf,
        '}',
        '',
        $post_main_config,
        '',
        'events {',
        '    accept_mutex off;',
        '',
        "    worker_connections  $WorkerConnections;";
    push @conf, "    use $EventType;" if $EventType;
    push @conf,
        '}',
        'env ASAN_OPTIONS;',
        'env MOCKNOEAGAIN_VERBOSE;',
        'env MOCKNOEAGAIN;';
    if (defined $WorkerUser) {
        push @conf, "user $WorkerUser;";
    } elsif ($> == 0) {
        push @conf, 'user root;';
    }

    open my $out, '>', $ConfFile
        or bail_out "Can't open $ConfFile for writing: $!\n";
    print $out join("\n", @conf), "\n";
    close $out;
}

# ---------------------------------------------------------------------------
# Starting nginx
# ---------------------------------------------------------------------------

sub nginx_cmd () {
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    # With a default build, messages logged while nginx starts (e.g. a bad
    # directive) go to <prefix>/logs/error.log, where the error_log checks
    # look.  Distribution builds often log them to stderr only; -e gives
    # them the default build's behaviour (nginx >= 1.19.5).
    if (defined $NginxVersion && $NginxVersion >= 1.019005) {
        push @cmd, '-e', $ErrLogFile;
    }
    return @cmd;
}

# Run nginx in the foreground of a child process and wait for it (the
# daemon detaches itself).  Returns the wait status and what it printed on
# stderr (which is also passed on to our stderr, as upstream does).
sub run_nginx_cmd (@) {
    my @cmd = @_;
    my ($errfh, $errfile) = tempfile('tnv-stderr-XXXXXX', TMPDIR => 1,
                                     UNLINK => 1);
    my $pid = fork;
    if (!defined $pid) {
        bail_out("fork() failed: $!");
    }
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>&', $errfh;
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }
    close $errfh;
    # with "daemon on" the command returns as soon as nginx has parsed its
    # configuration and detached; do not hang if it stays in the foreground
    my $status;
    my $deadline = time + 60;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            $status = $?;
            last;
        }
        if (time >= $deadline) {
            warn "nginx did not return within 60 s, killing it\n";
            kill SIGQUIT, $pid;
            wait_gone($pid, timeout());
            kill SIGKILL, $pid;
            waitpid($pid, 0);
            $status = $? || -1;
            last;
        }
        sleep 0.005;
    }
    my $err = '';
    if (open my $in, '<', $errfile) {
        local $/;
        $err = <$in> // '';
        close $in;
    }
    unlink $errfile;
    print STDERR $err if length $err;
    return ($status, $err);
}

sub start_nginx_in_foreground ($@) {
    my ($name, @cmd) = @_;
    my $pid = fork;
    if (!defined $pid) {
        bail_out("$name - fork() failed: $!");
    }
    if ($pid == 0) {
        $InSubprocess = 1;
        setpgrp(0, 0);
        open STDOUT, '>', '/dev/null';
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }
    $ChildPid = $pid;
}

sub stop_nginx ($) {
    my $name = shift;
    my $pid = read_pid_file();
    if (!$pid && defined $ChildPid && is_running($ChildPid)) {
        $pid = $ChildPid;
    }
    if ($pid && is_running($pid)) {
        kill_process($pid, 1, $name);
    }
    if (defined $ChildPid) {
        kill_process($ChildPid, 1, $name) if is_running($ChildPid);
        undef $ChildPid;
    }
    unlink $PidFile if -f $PidFile;
}

# In the HUP mode, poll /ver on the "Test-Nginx" server until the new
# configuration answers consistently (old workers may still be around).
sub http_get_ver () {
    my $sock = IO::Socket::INET->new(
        PeerAddr => $ServerAddr,
        PeerPort => $ServerPort,
        Proto    => 'tcp',
        Timeout  => 2,
    ) or return undef;
    print $sock "GET /ver HTTP/1.0\r\nHost: Test-Nginx\r\n\r\n";
    my $resp = '';
    my $sel = IO::Select->new($sock);
    while ($sel->can_read(2)) {
        my $n = sysread $sock, my $buf, 4096;
        last unless $n;
        $resp .= $buf;
    }
    close $sock;
    return undef unless $resp =~ m{\AHTTP/1\.\d 200 .*?\r\n\r\n(.*)\z}s;
    return $1;
}

sub test_config_version ($$) {
    my ($name, $block) = @_;
    my $total = 200;
    my $sleep = $TestNginxSleep;
    my $nsucc = 0;
    for my $try (1 .. $total) {
        my $ver = http_get_ver();
        if (defined $ver && $ver eq $ConfigVersion) {
            $nsucc++;
            sleep $sleep if $nsucc == 5;
            return if $nsucc >= 20;
            next;
        }
        $nsucc = 0;
        my $wait = ($sleep + $sleep * $try) * $try / 2;
        $wait = 1 if $wait > 1;
        warn "$name - waiting $wait sec for nginx to reload the "
             . "configuration\n" if $wait > 0.5;
        sleep $wait;
    }
    Test::More->builder->no_ending(1);
    Test::More::fail("$name - failed to reload configuration after "
                     . "$total failed test requests");
}

sub check_prev_block_shutdown_error_log () {
    my $block = $PrevBlock;
    return unless defined $block;
    return unless defined $block->shutdown_error_log;
    my $dry_run;
    $dry_run = 1 if $UseHup || $ENV{TEST_NGINX_NO_CLEAN};
    $CheckShutdownErrorLog->($block, $dry_run);
}

# ---------------------------------------------------------------------------
# Running the blocks
# ---------------------------------------------------------------------------

sub run_tests () {
    $NginxVersion = get_nginx_version();

    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', "$0 " . $block->name);
        run_test($block);
        $PrevBlock = $block;
    }

    cleanup();
}

sub parse_skip_spec ($$$) {
    my ($block, $name, $state) = @_;

    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            $state->{count} = $1;
            $state->{reason} = 'skip_eval';
            my $code = $2;
            $state->{skip} = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code "
                     . "\"$code\": $@") if $@;
        }
    }

    my $cmp = sub {
        my ($op, $ver) = @_;
        return 1 if !defined $NginxVersion;
        return $op eq '<'  ? $NginxVersion <  $ver
             : $op eq '<=' ? $NginxVersion <= $ver
             : $op eq '>'  ? $NginxVersion >  $ver
             :               $NginxVersion >= $ver;
    };

    if (defined(my $spec = $block->skip_nginx)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)
                      (?:\s*:\s*(.*))?\s*$/x)
        {
            $state->{count} = $1;
            my ($op, $v) = ($2, get_canon_version($3, $4, $5));
            $state->{reason} = $6 || "nginx version $op $3.$4.$5";
            $state->{skip} = 1 if $cmp->($op, $v);
        } else {
            bail_out("$name - Invalid --- skip_nginx spec: $spec");
        }
    } elsif (defined(my $spec2 = $block->skip_nginx2)) {
        if ($spec2 =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)
                       \s*(or|and)\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)
                       (?:\s*:\s*(.*))?\s*$/x)
        {
            $state->{count} = $1;
            my ($a, $b) = ($cmp->($2, get_canon_version($3, $4, $5)),
                           $cmp->($7, get_canon_version($8, $9, $10)));
            $state->{reason} = $11;
            $state->{skip} = 1 if !defined $NginxVersion
                                  || ($6 eq 'or' ? ($a || $b) : ($a && $b));
        } else {
            bail_out("$name - Invalid --- skip_nginx2 spec: $spec2");
        }
    }

    if (defined(my $spec = $block->skip_openssl)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)([a-z])?
                      (?:\s*:\s*(.*))?\s*$/x)
        {
            $state->{count} = $1;
            my ($op, @v) = ($2, $3, $4, $5, $6);
            my $ver = get_canon_version_for_OpenSSL(@v);
            $state->{reason} = $7 || (defined $OpenSSLVersion
                ? "OpenSSL version $op $3.$4.$5" . ($6 // '')
                : 'Not built with OpenSSL');
            if (!defined $OpenSSLVersion
                || ($op eq '<'  ? $OpenSSLVersion <  $ver
                  : $op eq '<=' ? $OpenSSLVersion <= $ver
                  : $op eq '>'  ? $OpenSSLVersion >  $ver
                  :               $OpenSSLVersion >= $ver))
            {
                $state->{skip} = 1;
            }
        } else {
            bail_out("$name - Invalid --- skip_openssl spec: $spec");
        }
    }

    $state->{reason} = 'various reasons' unless defined $state->{reason};

    if (defined(my $todo = $block->todo)) {
        if ($todo =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            $state->{todo} = 1;
            $state->{count} = $1;
            $state->{todo_reason} = $2;
        } else {
            bail_out("$name - Invalid --- todo spec: $todo");
        }
    }
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;

    my $name = $block->name;

    my $first_time = $FirstTime;
    undef $FirstTime;

    my $rand_ports = {};
    my $config = expand_env_in_text($block->config, $name, $rand_ports);

    my $dry_run = 0;
    my ($should_restart, $should_reconfig) = (1, 1);

    local $LogLevel = $LogLevel;
    $LogLevel = $block->log_level if $block->log_level;

    local $UseValgrind = $UseValgrind;
    local $UseHup = $UseHup;
    my $must_die = $block->must_die;
    if (defined $must_die) {
        undef $UseValgrind;
        undef $UseHup;
    }

    if (!defined $config) {
        if (!$NoNginxManager && !defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could "
                     . "not get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?");
        }
        # the running server (from an earlier block) is used as is
        ($should_restart, $should_reconfig) = (0, 0);

    } elsif ($NoNginxManager) {
        Test::More::diag("NO_NGINX_MANAGER activated: config for $name "
                         . "ignored");
        ($should_restart, $should_reconfig) = (0, 0);

    } else {
        $should_reconfig = (!defined $PrevConfig || $config ne $PrevConfig);
        $should_restart = ($should_reconfig || $ForceRestartOnTest);
    }

    my %skip;
    parse_skip_spec($block, $name, \%skip);

    my $reloaded;

    if (!$NoNginxManager && !$skip{skip} && $should_restart) {
        $ConfigVersion = gen_rand_str(10) if $UseHup;
        $PrevConfig = $config if $should_reconfig;

        my $pid = read_pid_file();
        $pid = $ChildPid if !$pid && defined $ChildPid;

        if ($pid && is_running($pid)) {
            if ($UseHup && !$first_time) {
                setup_server_root(0);
                write_user_files($block, $rand_ports);
                write_config_file($block, $config, $rand_ports);
                warn "sending USR1 signal to $pid.\n" if $Verbose;
                if (kill SIGUSR1, $pid) {
                    sleep $TestNginxSleep;
                    warn "sending HUP signal to $pid.\n" if $Verbose;
                    if (kill SIGHUP, $pid) {
                        sleep $TestNginxSleep * 3;
                        warn "$name\n" if $UseValgrind;
                        if (defined $block->reload_fails) {
                            sleep 0.3;
                        } else {
                            test_config_version($name, $block);
                        }
                        check_prev_block_shutdown_error_log();
                        $reloaded = 1;
                    }
                } else {
                    warn "$name - Failed to send USR1 signal\n";
                }
            }

            if (!$reloaded) {
                kill_process($pid, 1, $name);
                undef $ChildPid if defined $ChildPid && $ChildPid == $pid;
            }

        } else {
            unlink $PidFile if -f $PidFile;
        }

        if (!$reloaded) {
            # the previous block's nginx is gone now: check what it logged
            # while shutting down
            check_prev_block_shutdown_error_log();

            if (defined $ChildPid) {
                kill_process($ChildPid, 1, $name) if is_running($ChildPid);
                undef $ChildPid;
            }
            check_valgrind_log($name) if $UseValgrind;

            setup_server_root($first_time);
            write_user_files($block, $rand_ports);
            write_config_file($block, $config, $rand_ports);

            if (!can_run($NginxBinary)) {
                bail_out("$name - Cannot find the nginx executable in the "
                         . "PATH environment");
            }

            my @cmd = nginx_cmd();

            if ($UseValgrind) {
                @cmd = valgrind_cmd(@cmd);
                warn "$name\n";
                start_nginx_in_foreground($name, @cmd);
                sleep $TestNginxSleep;

            } else {
                my $i = 0;
                my $waited = 0;
                $ErrLogFilePos = 0;

                while (1) {
                    my ($status, $stderr) = run_nginx_cmd(@cmd);
                    my ($exec_failed, $coredump, $exit_code);
                    if ($status == -1 || ($status >> 8) == 127
                        && $stderr =~ /^exec \S+ failed/m)
                    {
                        $exec_failed = 1;
                    } else {
                        $exit_code = $status >> 8;
                        $coredump = $status & 128;
                    }

                    if (defined $must_die) {
                        if ($exec_failed) {
                            Test::More::fail("$name - failed to execute the "
                                             . "nginx command line");
                        } elsif ($coredump) {
                            Test::More::fail("$name - nginx core dumped");
                        } elsif (looks_like_number($must_die)) {
                            Test::More::is($must_die, $exit_code,
                                "$name - die with the expected exit code");
                        } else {
                            Test::More::isnt($status, 0,
                                             "$name - die as expected");
                        }

                        $CheckErrorLog->($block, undef, $dry_run, $i, 0);

                        if ($status == 0) {
                            warn "WARNING: $name - nginx must die but it "
                                 . "does not; killing it (req $i)\n";
                            for (1 .. 100) {
                                last if -f $PidFile;
                                sleep $TestNginxSleep;
                            }
                            stop_nginx($name);
                        }

                        next if ++$i < $RepeatEach;
                        return;
                    }

                    last if $status == 0;

                    if ($ENV{TEST_NGINX_IGNORE_MISSING_DIRECTIVES}
                        and my $directive = check_if_missing_directives())
                    {
                        $dry_run = "the lack of directive $directive";
                        last;
                    }

                    # A busy port (e.g. a server of an earlier test file
                    # still exiting) is worth waiting for, as upstream
                    # does for any failure; a configuration error is not.
                    my $transient = $stderr =~ /Address already in use/
                                    || $stderr eq '';
                    $i++;
                    my $delay = 0.1 * $i;
                    $delay = 1 if $delay > 1;
                    if ($transient && $waited < 30) {
                        sleep $delay;
                        $waited += $delay;
                        next;
                    }
                    bail_out("$name - Cannot start nginx using command "
                             . "\"@cmd\" (status code $status).");
                }
            }

            sleep $TestNginxSleep;
        }
    }

    # ---- requests ----

    warn "preparing requesting...\n" if $Verbose;

    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (1 .. $RepeatEach) {
        warn "Run the test block ", $block->name, " ...\n" if $Verbose;

        my ($tcp_socket, $tcp_query_file) = start_tcp_server($block);

        write_user_files($block, $rand_ports) if $i > 1;

        if ($skip{skip} && defined $skip{count}) {
            SKIP: {
                Test::More::skip("$name - $skip{reason}", $skip{count});
            }
        } elsif ($skip{todo}) {
            TODO: {
                Test::More::todo_skip("$name - "
                    . ($skip{todo_reason} // 'various reasons'),
                    $skip{count});
            }
        } else {
            $RunTestHelper->($block, $dry_run, $i - 1);
            run_tcp_server_tests($block, $tcp_socket, $tcp_query_file);
        }

        if (defined $tcp_socket) {
            if (defined $TcpServerPid) {
                kill_process($TcpServerPid, 1, $name);
                undef $TcpServerPid;
            }
            close $tcp_socket;
            unlink $tcp_query_file if defined $tcp_query_file;
        }
    }

    if (my $total_errlog = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (-s $ErrLogFile) {
            open my $out, '>>', $total_errlog
                or bail_out "Failed to append test case title to "
                            . "$total_errlog: $!\n";
            print $out "\n=== $0 $name\n";
            if (open my $in, '<', $ErrLogFile) {
                local $/ = \65536;
                print $out $_ while <$in>;
                close $in;
            }
            close $out;
        }
    }

    if ($UseValgrind && !$UseHup) {
        # stop now so that memcheck's report is attributed to this block
        stop_nginx($name);
        check_valgrind_log($name);
    } elsif ($UseValgrind) {
        check_valgrind_log($name);
    }
}

# ---------------------------------------------------------------------------
# Embedded TCP server (--- tcp_listen)
# ---------------------------------------------------------------------------

sub start_tcp_server ($) {
    my $block = shift;
    return unless defined $block->tcp_listen;

    my $name = $block->name;
    my $target = $block->tcp_listen;
    $target =~ s/^\s+|\s+$//g;
    my $reply = $block->tcp_reply;
    if (!defined $reply && !defined $block->tcp_shutdown) {
        bail_out("$name - no --- tcp_reply specified but --- tcp_listen "
                 . "is specified");
    }

    my $req_len = $block->tcp_query_len;
    my $query_file;
    if (defined $block->tcp_query || defined $req_len) {
        $req_len = length($block->tcp_query) unless defined $req_len;
        (undef, $query_file) = tempfile('tnv-tcpq-XXXXXX', TMPDIR => 1,
                                        OPEN => 0);
    }

    my ($sock, $err);
    for (1 .. 30) {
        if ($target =~ /^\d+$/) {
            $sock = IO::Socket::INET->new(
                LocalHost => '127.0.0.1',
                LocalPort => $target,
                Proto     => 'tcp',
                ReuseAddr => 1,
                Listen    => 5,
            );
        } elsif ($target =~ /\S+\.sock$/) {
            unlink $target if -e $target;
            $sock = IO::Socket::UNIX->new(
                Local  => $target,
                Type   => SOCK_STREAM,
                Listen => 5,
            );
        } else {
            bail_out("$name - bad tcp_listen target: $target");
        }
        last if $sock;
        $err = $!;
        last unless $err =~ /address already in use/i;
        warn "WARNING: failed to create the tcp listening socket: $err\n";
        sleep 1;
    }
    bail_out("$name - failed to create the tcp listening socket: $err")
        unless $sock;

    my $pid = fork;
    bail_out("$name - fork() failed: $!") unless defined $pid;

    if ($pid == 0) {
        $InSubprocess = 1;
        Test::More->builder->no_ending(1);
        my $client;
        until ($client = $sock->accept) {
            warn "WARNING: $name - TCP server: failed to accept: $!\n";
            sleep $TestNginxSleep;
        }

        my ($no_read, $no_write);
        if (defined(my $how = $block->tcp_shutdown)) {
            sleep $block->tcp_shutdown_delay if $block->tcp_shutdown_delay;
            $how =~ s/\s+//g;
            shutdown($client, $how);
            if ($how == 0 || $how == 2) { $no_read = 1 } else { $no_write = 1 }
        }

        my $buf = '';
        unless ($no_read) {
            while (1) {
                my $n = sysread $client, my $chunk, 4096;
                last unless $n;
                $buf .= $chunk;
                if ($query_file) {
                    if (open my $out, '>', $query_file) {
                        binmode $out;
                        print $out $buf;
                        close $out;
                    }
                }
                last if !$req_len || length($buf) >= $req_len;
            }
        }

        my $delay = parse_time($block->tcp_reply_delay);
        sleep $delay if $delay;

        if (!$no_write && defined $reply) {
            $reply = $reply->($buf) if ref $reply eq 'CODE';
            for my $r (ref $reply eq 'ARRAY' ? @$reply : ($reply)) {
                my $off = 0;
                while ($off < length $r) {
                    my $n = syswrite $client, $r, length($r) - $off, $off;
                    last unless $n;
                    $off += $n;
                }
            }
        }

        if (defined $block->tcp_no_close) {
            sleep 1 while 1;
        }
        close $client;
        close $sock;
        POSIX::_exit(0);
    }

    $TcpServerPid = $pid;
    return ($sock, $query_file);
}

sub run_tcp_server_tests ($$$) {
    my ($block, $sock, $query_file) = @_;
    return unless defined $sock;
    my $name = $block->name;
    my $buf = '';
    if ($query_file && open my $in, '<', $query_file) {
        local $/;
        $buf = <$in> // '';
        close $in;
    }
    if (defined $block->tcp_query) {
        is_str($buf, $block->tcp_query, "$name - tcp_query ok");
    }
    if (defined $block->tcp_query_len) {
        Test::More::is(length($buf), $block->tcp_query_len,
                       "$name - TCP query length ok");
    }
}

# ---------------------------------------------------------------------------
# Cleanup
# ---------------------------------------------------------------------------

sub cleanup () {
    warn "cleaning up everything\n" if $Verbose;
    $_->() for @CleanupHandlers;
    if (defined $TcpServerPid) {
        kill_process($TcpServerPid, 1, 'cleanup');
        undef $TcpServerPid;
    }
    if (defined $ChildPid) {
        kill_process($ChildPid, 1, 'cleanup');
        undef $ChildPid;
    }
}

# Interrupted runs (Ctrl-C, a killed prove, a closed output pipe) must not
# leave a server behind: turn these fatal signals into an exit so that END
# runs.
my %SigExit = (HUP => 129, INT => 130, PIPE => 141, TERM => 143);
for my $sig (sort keys %SigExit) {
    if (!defined $SIG{$sig} || $SIG{$sig} eq '' || $SIG{$sig} eq 'DEFAULT') {
        $SIG{$sig} = sub {
            $SIG{PIPE} = 'IGNORE';
            exit $SigExit{$sig};
        };
    }
}

END {
    return if $InSubprocess;
    local $?;

    cleanup();

    if ($UseValgrind || !$ENV{TEST_NGINX_NO_CLEAN}) {
        my $pid = read_pid_file();
        if ($pid && is_running($pid)) {
            kill_process($pid, 1, 'END');
        } elsif (-f $PidFile) {
            unlink $PidFile;
        }
    }

    check_prev_block_shutdown_error_log();
    check_valgrind_log('END') if $UseValgrind;

    # reap whatever was re-parented to us
    1 while waitpid(-1, WNOHANG) > 0;

    if ($Randomize && defined $ServRoot && -d $ServRoot
        && $ServRoot =~ m{/t/servroot_\d+$})
    {
        remove_tree($ServRoot);
    }
}

1;
