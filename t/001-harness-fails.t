# The test scaffold must report failures where they are: each file in
# t/selftest/*.t-fail holds deliberately wrong expectations, and is run
# here in a subprocess (same perl, @INC and environment) on a private port
# and server root.  Its TAP must show exactly the expected assertions
# failing and the others passing.  (The exit status is not always
# non-zero: after some failures, e.g. a client timeout, the scaffold turns
# off Test::Builder's ending, as the CPAN module does; prove still fails
# such a file on its "not ok" lines.)  This holds for the CPAN
# Test::Nginx::Socket as well as for the compatible runner in t/lib/compat.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use File::Spec;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $dir = 't/selftest';

# file => [ expected number of passing assertions,
#           [ failing assertion pattern => how many times ], ... ]
my %expect = (
    'wrong-error-code.t-fail' => [2,
        [qr/TEST 1: .* - status code ok$/ => 1],
        [qr/TEST 2: .* - status code ok$/ => 1],
    ],
    'wrong-body.t-fail' => [2,
        [qr/TEST 1: .* - response_body - response is expected/ => 1],
        [qr/TEST 2: .* - response_body_like - response is expected/ => 1],
    ],
    'wrong-header.t-fail' => [5,
        [qr/TEST 1: .* - header X-Foo ok$/ => 1],
        [qr/TEST 1: .* - header Content-Type not present in the raw headers$/
            => 1],
        [qr/TEST 2: .* - header X-Foo like ok$/ => 1],
    ],
    'missing-error-log.t-fail' => [5,
        [qr/TEST 1: .* - pattern "this line is never logged" should match a line in error\.log/ => 1],
        [qr/TEST 2: .* - pattern ".*never logged.*" should match a line in error\.log/ => 1],
    ],
    'present-no-error-log.t-fail' => [2,
        [qr/TEST 1: .* - pattern "\[error\]" should not match any line in error\.log but matches line/ => 1],
    ],
    'must-die-survives.t-fail' => [0,
        [qr/TEST 1: .* - die as expected$/ => 1],
    ],
    'client-timeout.t-fail' => [0,
        [qr/^ERROR: client socket timed out - .*TEST 1: incomplete request/
            => 1],
    ],
    'shutdown-error-log.t-fail' => [2,
        [qr/TEST 1: .* - pattern "no such shutdown message" should match a line in error\.log/ => 1],
    ],
);

# the shutdown_error_log checks are dry runs in these modes
my %env_drop = (
    'shutdown-error-log.t-fail' => [qw(TEST_NGINX_USE_HUP)],
);

sub free_port {
    my $sock = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                      Proto => 'tcp')
        or die "no free port: $!";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

sub slurp {
    my $file = shift;
    open my $in, '<', $file or return '';
    local $/;
    my $s = <$in>;
    close $in;
    return defined $s ? $s : '';
}

my $tmp = tempdir('harness-fails-XXXXXX', TMPDIR => 1, CLEANUP => 1);

opendir my $dh, $dir or die "$dir: $!";
my @files = sort grep { /\.t-fail$/ } readdir $dh;
closedir $dh;

is_deeply([@files], [sort keys %expect],
          'every t/selftest file has its expectations here');

my @inc = grep { !ref } @INC;

for my $file (@files) {
    my $exp = $expect{$file} or next;
    my ($passes, @fails) = @$exp;
    my $path = File::Spec->catfile($dir, $file);

    my $port = free_port();
    my $out = "$tmp/$file.out";
    my $err = "$tmp/$file.err";

    my %env = (
        PERL5LIB                => join(':', @inc),
        TEST_NGINX_PORT         => $port,
        TEST_NGINX_SERVER_PORT  => $port,
        TEST_NGINX_CLIENT_PORT  => $port,
        TEST_NGINX_SERVROOT     => "$tmp/servroot-$file",
    );

    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        # the child's server must be stopped when it is done
        delete $ENV{TEST_NGINX_NO_CLEAN};
        delete $ENV{$_} for @{ $env_drop{$file} || [] };
        @ENV{keys %env} = values %env;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or die "$out: $!";
        open STDERR, '>', $err or die "$err: $!";
        exec $^X, $path or die "exec $^X: $!";
    }

    my $deadline = time + 300;
    my $done;
    while (time < $deadline) {
        $done = waitpid($pid, WNOHANG);
        last if $done == $pid;
        sleep 0.05;
    }
    if ($done != $pid) {
        kill 'TERM', $pid;
        sleep 1;
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    my $status = $?;

    my $tap = slurp($out);
    my @not_ok = $tap =~ /^not ok \d+ - (.*)$/mg;
    my $ok = () = $tap =~ /^ok \d+/mg;

    my $diag = "--- stdout of $file:\n$tap--- stderr:\n" . slurp($err);

    ok(@not_ok > 0, "$file reports failures (exit status $status)")
        or diag $diag;
    unlike($tap, qr/^Bail out!/m, "$file does not bail out")
        or diag $diag;

    my %count;
    my @unexpected;
    FAILED: for my $desc (@not_ok) {
        for my $f (@fails) {
            if ($desc =~ $f->[0]) {
                $count{"$f->[0]"}++;
                next FAILED;
            }
        }
        push @unexpected, $desc;
    }
    my %want = map { ("$_->[0]" => $_->[1]) } @fails;
    $count{$_} //= 0 for keys %want;
    is_deeply({ counts => \%count, unexpected => \@unexpected },
              { counts => \%want, unexpected => [] },
              "$file fails exactly where expected")
        or diag $diag;
    is($ok, $passes, "$file passes its correct assertions")
        or diag $diag;
}

done_testing();
