package FsauthctlTest;

# Helpers for the fsauthctl tests: run the binary, talk to Redis (a tiny
# RESP client, so that no CPAN module is needed), snapshot a prefix.
#
# Environment (exported by util/test.sh): FSAUTHCTL, TEST_NGINX_REDIS_PORT,
# TEST_NGINX_REDIS_SOCKET, TEST_NGINX_REDIS_AUTH_PORT,
# TEST_NGINX_REDIS_PASSWORD_FILE.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempfile);
use IO::Socket::INET;
use POSIX ();
use Test::More ();

our @EXPORT = qw(
    require_env ctl ctl_as ctl_broken run redis redis_db redis_auth snapshot
    cleanup cleanup_auth dead_port one_error_line token_digest
);

our $PREFIX;
our $DB = 0;
our @BASE;

# Skips the whole file unless the binary and the servers it needs exist;
# sets up the defaults of ctl(): port, prefix, db.
sub require_env {
    my (%opt) = @_;

    my @need = ('FSAUTHCTL', 'TEST_NGINX_REDIS_PORT', @{ $opt{env} || [] });

    for my $v (@need) {
        if (!defined $ENV{$v} || $ENV{$v} eq '') {
            Test::More::plan(skip_all => "$v is not set (run util/test.sh)");
        }
    }

    if (!-x $ENV{FSAUTHCTL}) {
        Test::More::plan(skip_all => "$ENV{FSAUTHCTL} is not executable");
    }

    $PREFIX = "t_ctl_$opt{name}_$$:";
    $DB = $opt{db} || 0;

    @BASE = ('-p', $ENV{TEST_NGINX_REDIS_PORT}, '--prefix', $PREFIX);
    push @BASE, '-n', $DB if $DB;

    cleanup();

    return $PREFIX;
}

# run(\@argv, stdin => DATA): (exit code, stdout, stderr)
sub run {
    my ($argv, %opt) = @_;

    my ($in, $inname) = tempfile(UNLINK => 1);
    my ($out, $outname) = tempfile(UNLINK => 1);
    my ($err, $errname) = tempfile(UNLINK => 1);

    print $in $opt{stdin} if defined $opt{stdin};
    close $in;

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', $inname or POSIX::_exit(126);
        open STDOUT, '>', $outname or POSIX::_exit(126);
        open STDERR, '>', $errname or POSIX::_exit(126);
        exec @$argv or POSIX::_exit(127);
    }

    waitpid($pid, 0);
    my $status = $?;

    local $/;
    my $stdout = <$out>;
    my $stderr = <$err>;

    my $rc = $status & 127 ? -1 : $status >> 8;

    return ($rc, $stdout, $stderr);
}

# ctl(ARGS...): runs fsauthctl with the file's port, prefix and db
sub ctl {
    my @args = @_;
    my %opt;

    if (@args && ref $args[-1] eq 'HASH') {
        %opt = %{ pop @args };
    }

    return run([$ENV{FSAUTHCTL}, @BASE, @args], %opt);
}

# ctl_as([GLOBAL OPTIONS], ARGS...): no default options at all
sub ctl_as {
    my ($global, @args) = @_;
    my %opt;

    if (@args && ref $args[-1] eq 'HASH') {
        %opt = %{ pop @args };
    }

    return run([$ENV{FSAUTHCTL}, @$global, @args], %opt);
}

# ctl_broken(HOW, ARGS...): ctl() with a stdout that cannot be written:
# HOW "pipe" is a pipe whose reader has exited, with SIGPIPE at its
# default as under a shell ("fsauthctl ... | true"), "full" is /dev/full.
# Returns (exit code, or minus the signal that killed it; stderr).
sub ctl_broken {
    my ($how, @args) = @_;

    my ($err, $errname) = tempfile(UNLINK => 1);
    my ($r, $w);

    if ($how eq 'pipe') {
        pipe($r, $w) or die "pipe: $!";
        close $r;
    }

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        $SIG{PIPE} = 'DEFAULT';
        open STDIN, '<', '/dev/null' or POSIX::_exit(126);

        if ($how eq 'pipe') {
            open STDOUT, '>&', $w or POSIX::_exit(126);

        } else {
            open STDOUT, '>', '/dev/full' or POSIX::_exit(126);
        }

        open STDERR, '>', $errname or POSIX::_exit(126);
        exec $ENV{FSAUTHCTL}, @BASE, @args or POSIX::_exit(127);
    }

    close $w if $w;
    waitpid($pid, 0);
    my $status = $?;

    local $/;
    my $stderr = <$err>;

    return ($status & 127 ? -($status & 127) : $status >> 8, $stderr);
}

my %conn;

sub _connect {
    my ($db) = @_;

    return $conn{$db} if $conn{$db};

    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $ENV{TEST_NGINX_REDIS_PORT},
        Timeout  => 5,
    ) or die "cannot connect to redis: $!";

    $conn{$db} = $s;

    if ($db) {
        my $r = _command($s, 'SELECT', $db);
        die "SELECT $db: $r->{error}" if ref $r eq 'HASH';
    }

    return $s;
}

sub _command {
    my ($s, @args) = @_;

    my $req = '*' . scalar(@args) . "\r\n";
    for my $a (@args) {
        $req .= '$' . length($a) . "\r\n$a\r\n";
    }

    print $s $req;

    return _read($s);
}

sub _line {
    my ($s) = @_;

    my $line = <$s>;
    die "redis closed the connection" unless defined $line;
    $line =~ s/\r\n\z//;

    return $line;
}

sub _read {
    my ($s) = @_;

    my $line = _line($s);
    my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));

    return $rest if $t eq '+';
    return { error => $rest } if $t eq '-';
    return $rest + 0 if $t eq ':';

    if ($t eq '$') {
        return undef if $rest < 0;

        my $data = '';
        while (length($data) < $rest + 2) {
            my $n = read($s, $data, $rest + 2 - length($data), length($data));
            die "redis read: $!" unless $n;
        }

        return substr($data, 0, $rest);
    }

    if ($t eq '*') {
        return undef if $rest < 0;
        return [ map { _read($s) } 1 .. $rest ];
    }

    die "unexpected redis reply: $line";
}

# redis(CMD, ARGS...) in the file's db; redis_db(DB, CMD, ARGS...)
sub redis {
    return _command(_connect($DB), @_);
}

sub redis_db {
    my ($db, @args) = @_;

    return _command(_connect($db), @args);
}

my $auth;

# redis_auth(CMD, ARGS...) on the server with requirepass
sub redis_auth {
    if (!$auth) {
        $auth = IO::Socket::INET->new(
            PeerAddr => '127.0.0.1',
            PeerPort => $ENV{TEST_NGINX_REDIS_AUTH_PORT},
            Timeout  => 5,
        ) or die "cannot connect to redis: $!";

        open my $fh, '<', $ENV{TEST_NGINX_REDIS_PASSWORD_FILE} or die $!;
        my $password = <$fh>;
        $password =~ s/\s+\z//;

        my $r = _command($auth, 'AUTH', $password);
        die "AUTH: $r->{error}" if ref $r eq 'HASH';
    }

    return _command($auth, @_);
}

sub _keys {
    my ($db, $pattern, $call) = @_;

    $call ||= sub { redis_db($db, @_) };

    my ($cursor, @keys) = (0);

    do {
        my $r = $call->('SCAN', $cursor, 'MATCH', $pattern, 'COUNT', 1000);
        $cursor = $r->[0];
        push @keys, @{ $r->[1] };
    } while ($cursor ne '0');

    my %seen;

    return sort grep { !$seen{$_}++ } @keys;
}

# every key of the prefix (or of the whole db with prefix ''), with its
# type and content: { name => [type, content] }
sub snapshot {
    my ($prefix, $db) = @_;

    $prefix = $PREFIX unless defined $prefix;
    $db = $DB unless defined $db;

    my %snap;

    for my $k (_keys($db, $prefix eq '' ? '*' : "$prefix*")) {
        my $type = redis_db($db, 'TYPE', $k);

        if ($type eq 'string') {
            $snap{$k} = ['string', redis_db($db, 'GET', $k)];

        } elsif ($type eq 'hash') {
            $snap{$k} = ['hash', { @{ redis_db($db, 'HGETALL', $k) } }];

        } elsif ($type eq 'list') {
            $snap{$k} = ['list', redis_db($db, 'LRANGE', $k, 0, -1)];

        } elsif ($type eq 'set') {
            $snap{$k} = ['set', [ sort @{ redis_db($db, 'SMEMBERS', $k) } ]];

        } elsif ($type eq 'zset') {
            $snap{$k} = ['zset', redis_db($db, 'ZRANGE', $k, 0, -1,
                                          'WITHSCORES')];

        } else {
            $snap{$k} = [$type, undef];
        }
    }

    return \%snap;
}

sub cleanup {
    my ($db) = @_;

    for my $d (defined $db ? ($db) : ($DB)) {
        for my $k (_keys($d, "$PREFIX*")) {
            redis_db($d, 'DEL', $k);
        }
    }
}

sub cleanup_auth {
    for my $k (_keys(0, "$PREFIX*", \&redis_auth)) {
        redis_auth('DEL', $k);
    }
}

# a local TCP port where nothing listens
sub dead_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1')
        or die "socket: $!";
    my $port = $s->sockport;
    close $s;

    return $port;
}

# true when stderr is exactly one line starting with "fsauthctl: "
sub one_error_line {
    my ($stderr) = @_;

    return defined $stderr && $stderr =~ /\Afsauthctl: [^\n]+\n\z/;
}

sub token_digest {
    require Digest::SHA;

    return Digest::SHA::sha256_hex($_[0]);
}

END {
    if (defined $PREFIX) {
        local $?;
        eval { cleanup() };
    }
}

1;
