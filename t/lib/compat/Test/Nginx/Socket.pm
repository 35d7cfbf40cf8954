
=pod

=encoding utf-8

=head1 NAME

Test::Nginx::Socket - compatible stand-in for the CPAN test scaffold

=head1 DESCRIPTION

The fsauth test suite is written in the data format of
L<Test::Nginx::Socket> (openresty/test-nginx on CPAN).  Where that
distribution is not installed, F<util/test.sh> puts F<t/lib/compat> on
C<PERL5LIB> and this independent implementation of the subset we use runs
the same test files unchanged.  It follows the CPAN module's semantics:
the same generated F<nginx.conf>, the same section meanings and the same
assertions (one Test::More assertion per check, with the same names), so
that C<plan tests =E<gt> repeat_each() * blocks() * N> counts and failure
reports agree.  Blocks are parsed by L<Test::Base> itself (as upstream
does), so filters (C<eval>, C<chomp>, ...), C<ONLY>, C<SKIP>, C<LAST> and
the C<--- name: value> form behave identically.

=head2 Exported functions

plan, no_plan (C<use Test::Nginx::Socket 'no_plan'>), the Test::More
functions that Test::Base re-exports (is, isnt, like, unlike, ok, pass,
fail, skip, diag, is_deeply, ...), blocks, run_tests, run_test,
repeat_each, no_shuffle, no_long_string, log_level, master_on, master_off,
master_process_enabled, workers, worker_connections, no_root_location,
env_to_nginx, add_block_preprocessor, add_response_body_check,
add_cleanup_handler, config_preamble, server_name, server_addr,
server_root, html_dir, server_port, server_port_for_client, timeout,
use_hup, no_nginx_manager, check_accum_error_log, bail_out, is_str.

=head2 Sections

Configuration: main_config, post_main_config, http_config, config,
server_name, error_log_file, log_level, user_files (text and C<eval>
array forms), init (run once per block, after nginx is (re)started and
before the repeated requests).  C<$TEST_NGINX_*> variables are expanded in
main_config, post_main_config, http_config, config and user_files (not in
requests, as upstream); C<$TEST_NGINX_RAND_PORT_N> gets a free port per
block.  A block without C<--- config> reuses the running server.

Requests: request (method line with optional URL and version, body on the
following lines with Content-Length added after trimming, leading
C<#> comments, C<eval> arrays of requests and of packets with
C<delay_before>), raw_request (string or packet array), more_headers
(repeatable names, empty values, C<eval> array per request; a
C<Transfer-Encoding: chunked> or explicit C<Content-Length> leaves the body
untouched), pipelined_requests, raw_request_middle_delay, timeout (client
side, between two I/O events, C<s>/C<ms>), abort, shutdown,
server_addr_for_client, ignore_response, http09, wait.

Responses: error_code, error_code_like, response_body, response_body_like,
response_body_unlike, response_body_filters, charset, response_headers
(C<!Name> asserts absence from the raw headers; C<Name:> with an empty value
passes when the header is absent or empty), response_headers_like,
raw_response_headers_like, raw_response_headers_unlike.

Logs: error_log, no_error_log (line lists or C<eval> with strings, qr//
or arrays), grep_error_log, grep_error_log_out, access_log, no_access_log,
shutdown_error_log, no_shutdown_error_log (checked when the next block
stops the server, or at the end; dry-run in HUP mode or with
TEST_NGINX_NO_CLEAN; like upstream, no_shutdown_error_log is only looked
at together with shutdown_error_log).

Control: must_die (optionally with an exit code), SKIP, ONLY, LAST,
skip_nginx, skip_nginx2, skip_openssl, skip_eval, todo, reload_fails,
tcp_listen (port or .sock), tcp_reply (string, array or code), tcp_query,
tcp_query_len, tcp_reply_delay, tcp_no_close, tcp_shutdown,
tcp_shutdown_delay.  C<--- stap> counts as one skipped test, as upstream
without TEST_NGINX_USE_STAP.

=head2 Environment

TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES, TEST_NGINX_SERVROOT,
TEST_NGINX_PORT, TEST_NGINX_SERVER_PORT, TEST_NGINX_CLIENT_PORT,
TEST_NGINX_LOG_LEVEL, TEST_NGINX_MASTER_PROCESS, TEST_NGINX_USE_HUP,
TEST_NGINX_USE_VALGRIND, TEST_NGINX_NO_CLEAN, TEST_NGINX_SLEEP,
TEST_NGINX_TIMEOUT, TEST_NGINX_NO_SHUFFLE, TEST_NGINX_RANDOMIZE,
TEST_NGINX_REUSE_PORT, TEST_NGINX_EVENT_TYPE, TEST_NGINX_POSTPONE_OUTPUT,
TEST_NGINX_ERROR_LOG, TEST_NGINX_CHECK_ACCUM_ERR_LOG,
TEST_NGINX_FORCE_RESTART_ON_TEST, TEST_NGINX_NO_NGINX_MANAGER,
TEST_NGINX_IGNORE_MISSING_DIRECTIVES, TEST_NGINX_WORKER_USER,
TEST_NGINX_VERBOSE.  TEST_NGINX_SERVER_PORT and TEST_NGINX_SERVER_ROOT
are set for the test file as upstream does.

=head2 Known deviations and notes

=over

=item *

nginx E<gt>= 1.19.5 is started with C<-e E<lt>servrootE<gt>/logs/error.log>.
With a default build, what nginx logs while starting (e.g. the
C<[emerg]> of a bad directive in a C<--- must_die> block) lands in that
file, where C<--- error_log> looks; builds whose compiled-in error log is
C<stderr> (Debian's) would otherwise print it on stderr only, and the
upstream module would then not see it.

=item *

With TEST_NGINX_USE_VALGRIND (C<1>: memcheck with full leak checking;
another value: the valgrind options), C<./valgrind.suppress> is used when
present, as upstream does, and so is F<t/lib/compat/nginx-core.supp>
(exit-time allocations of nginx core itself).  memcheck writes to private
log files whose new content is echoed on stderr after each block
(upstream lets it go to stderr directly) and any error or definite leak
adds a failing test (upstream leaves that to grepping the output).  Up to
TEST_NGINX_TIMEOUT + 10 s are given to nginx to exit under valgrind
before it is killed.  A C<--- must_die> block (never run under valgrind)
keeps C<daemon on>, so a server that unexpectedly starts cannot block the
run; the nginx start command is also given at most 60 s.

=item *

The server is started and stopped by polling (pid file, process state)
rather than fixed sleeps; the test process makes itself a child
subreaper so that exited daemons can be reaped and detected.  An nginx
that fails to start for another reason than a busy port is reported at
once instead of after 30 s of retries (the outcome, a bail-out, is the
same).  SIGINT/SIGTERM/SIGHUP are turned into an exit so that the server
is always stopped.

=item *

C<--- error_log> and friends look at F<logs/error.log> only, never at what
nginx prints on stderr, exactly like upstream: a startup error there reads
C<[emerg] 12345#12345: unknown directive "x" in ...>, so a pattern like
C<qr/\[emerg\] unknown directive/> (the stderr rendering,
C<nginx: [emerg] unknown directive ...>) does not match; use the message
alone or C<qr/\[emerg\] .*unknown directive/>.

=item *

Not supported: HTTP/2 and HTTP/3 modes, curl, stap, udp_listen,
TEST_NGINX_CHECK_LEAK, TEST_NGINX_BENCHMARK, TEST_NGINX_USE_RR,
TEST_NGINX_USE_STAP.  Packet boundaries of a request given as an array of
packets are kept in the body and approximated in the request line.

=back

=cut

package Test::Nginx::Socket;

use lib 'lib';
use lib 'inc';

use v5.10.1;
use Test::Base -Base;

our $VERSION = '0.29_fsauth_compat';

use Encode ();
use Time::HiRes qw(sleep time);
use Test::LongString;
use List::Util qw(min);
use IO::Select ();
use IO::Socket::INET ();
use Digest::MD5 ();
use Digest::SHA ();
use POSIX qw(EAGAIN EWOULDBLOCK EINTR WNOHANG);
use HTTP::Response ();

use Test::Nginx::Util;

our @EXPORT = qw( env_to_nginx is_str plan run_tests run_test
  repeat_each config_preamble worker_connections
  master_process_enabled
  no_long_string workers master_on master_off
  log_level no_shuffle no_root_location use_hup
  server_name
  server_addr server_root html_dir server_port server_port_for_client
  timeout no_nginx_manager check_accum_error_log
  add_block_preprocessor bail_out add_cleanup_handler
  add_response_body_check
);

sub value_contains ($$);

our $TotalConnectingTimeouts = 0;
our @ResponseBodyChecks;

*run_test = \&Test::Nginx::Util::run_test;

$RunTestHelper = \&run_test_helper;
$CheckErrorLog = \&check_error_log;
$CheckShutdownErrorLog = \&check_shutdown_error_log;

sub set_http_config_filter ($) {
    $FilterHttpConfig = shift;
}

sub add_response_body_check ($) {
    push @ResponseBodyChecks, shift;
}

# ---------------------------------------------------------------------------
# Building requests
# ---------------------------------------------------------------------------

# more_headers text -> header lines with CRLF, and whether the request body
# is sent chunked
sub parse_more_headers ($) {
    my $text = shift;
    my $out = '';
    my $is_chunked;
    for my $line (split /\n+/, $text) {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $key = '' unless defined $key;
        $val = '' unless defined $val;
        $is_chunked = 1
            if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# Turn "METH [URL [VERSION]]\nbody" (possibly split in packets) into a
# complete HTTP request; returns the packets.
sub build_request ($$$$$) {
    my ($name, $more_headers, $is_chunked, $conn, $packets) = @_;

    my $whole = join '', map { defined $_ ? $_ : '' } @$packets;
    my ($first, $rest) = $whole =~ /\A([^\n]*\n?)(.*)\z/s;

    if (!$first) {
        bail_out("$name - Request line should be non-empty");
    }

    my ($lead, $meth, $url, $ver);
    if ($first =~ /^(\s*)(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/) {
        ($lead, $meth, $url, $ver) = (length $1, $2, $3, $4);
    } else {
        bail_out("$name - Request line is not valid. Should be 'meth [url "
                 . "[version]]' but got \"$first\".");
    }
    $url = '/' unless defined $url;
    $ver = 'HTTP/1.1' unless defined $ver;

    my $content = $rest;
    my $content_skipped = 0;
    my $len_header = '';
    if (!$is_chunked && $content ne ''
        && $more_headers !~ /(?:^|\n)Content-Length:/)
    {
        my $trimmed = $content;
        $trimmed =~ s/^\s+//s;
        $content_skipped = length($content) - length($trimmed);
        $trimmed =~ s/\s+$//s;
        $content = $trimmed;
        $len_header = 'Content-Length: ' . length($content) . "\r\n";
    }

    $more_headers =~ s/(?<!\r)\n/\r\n/g;

    my $headers = '';
    $headers .= "Host: $ServerName\r\n"
        if $more_headers !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn\r\n"
        if $more_headers !~ /(?:^|\n)Connection/msi;
    $headers .= "$more_headers$len_header\r\n";

    my $line = "$meth $url $ver";
    my $head = "$line\r\n$headers";
    my $req = $head . $content;

    return [$req] if @$packets <= 1;

    # keep the packet boundaries: those inside the request line stay
    # there, the others keep their place in the body
    my @cuts;
    my $off = 0;
    for my $i (0 .. $#$packets - 1) {
        $off += length($packets->[$i] // '');
        my $pos;
        if ($off < length $first) {
            $pos = $off - $lead;
            $pos = 0 if $pos < 0;
            $pos = length $line if $pos > length $line;
        } else {
            $pos = $off - length($first) - $content_skipped;
            $pos = 0 if $pos < 0;
            $pos = length $content if $pos > length $content;
            $pos += length $head;
        }
        push @cuts, $pos;
    }
    my @out;
    my $prev = 0;
    for my $cut (@cuts, length $req) {
        $cut = $prev if $cut < $prev;
        push @out, substr($req, $prev, $cut - $prev);
        $prev = $cut;
    }
    return \@out;
}

# -> [ request, ... ] where a request is [ { value => ..., delay_before
# => ... }, ... ] (its packets)
sub get_req_from_block ($) {
    my $block = shift;
    my $name = $block->name;
    my @reqs;

    if (defined $block->raw_request) {
        my $raw = $block->raw_request;
        if (ref $raw && ref $raw eq 'ARRAY') {
            push @reqs, [ map { { value => $_ } } @$raw ];
        } else {
            push @reqs, [ { value => $raw } ];
        }
        return \@reqs;
    }

    my $request;
    if (defined $block->request_eval) {
        diag "$name - request_eval DEPRECATED. Use request eval instead.";
        $request = eval $block->request_eval;
        warn $@ if $@;
    } else {
        $request = $block->request;
        if (defined $request && !ref $request) {
            # leading comment lines and blank space
            1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//s;
        }
    }

    my $more_headers = $block->more_headers || '';
    my $headers_for = sub {
        my ($i, $what) = @_;
        my $h = $more_headers;
        if (ref $h eq 'ARRAY') {
            $h = $h->[$i];
            bail_out("--- more_headers lacks data for the $what")
                unless defined $h;
        }
        return parse_more_headers($h);
    };

    if ($block->pipelined_requests) {
        my $list = $block->pipelined_requests;
        if (!ref $list || ref $list ne 'ARRAY') {
            bail_out("$name - invalid entries in --- pipelined_requests");
        }
        my $all = '';
        for my $i (0 .. $#$list) {
            my ($hdr, $chunked) = $headers_for->($i, "$i pipelined request");
            my $conn = $i == $#$list ? 'close' : 'keep-alive';
            $all .= build_request($name, $hdr, $chunked, $conn,
                                  [$list->[$i]])->[0];
        }
        return [ [ { value => $all } ] ];
    }

    if (!ref $request) {
        my ($hdr, $chunked) = $headers_for->(0, 'request');
        push @reqs, [ { value => build_request($name, $hdr, $chunked,
                                               'close', [$request])->[0] } ];

    } elsif (ref $request eq 'ARRAY') {
        for my $i (0 .. $#$request) {
            my $one = $request->[$i];
            my ($hdr, $chunked) = $headers_for->($i, "${i}th request");
            if (!ref $one) {
                push @reqs, [ { value => build_request($name, $hdr,
                                    $chunked, 'close', [$one])->[0] } ];
            } elsif (ref $one eq 'ARRAY') {
                my @raw;
                for my $p (@$one) {
                    if (!ref $p) {
                        push @raw, $p;
                    } elsif (ref $p eq 'HASH') {
                        push @raw, $p->{value};
                    } else {
                        bail_out("$name - Invalid syntax. $p should be a "
                                 . "string or hash with value.");
                    }
                }
                my $built = build_request($name, $hdr, $chunked, 'close',
                                          \@raw);
                my @packets;
                for my $j (0 .. $#$built) {
                    my $orig = $one->[$j];
                    push @packets, ref $orig
                        ? { %$orig, value => $built->[$j] }
                        : { value => $built->[$j] };
                }
                push @reqs, \@packets;
            } else {
                bail_out("$name - Invalid syntax. $one should be a string "
                         . "or an array of packets.");
            }
        }

    } else {
        bail_out("$name - invalid ---request : MUST be string or array of "
                 . "requests");
    }

    return \@reqs;
}

# ---------------------------------------------------------------------------
# Talking to nginx
# ---------------------------------------------------------------------------

sub nginx_known_dead () {
    return 0 if $NoNginxManager;
    if (defined $Test::Nginx::Util::ChildPid) {
        return !is_running($Test::Nginx::Util::ChildPid);
    }
    my $pid = Test::Nginx::Util::read_pid_file();
    return $pid && !is_running($pid);
}

sub send_request ($$$$@) {
    my ($req, $middle_delay, $timeout, $block) = @_;
    my $name = $block->name;

    my @bits = @$req;
    my $head_req = (join('', map { $_->{value} // '' } @bits)
                    =~ /^\s*HEAD\s+/) ? 1 : 0;

    my $addr = $block->server_addr_for_client;
    $addr = $ServerAddr unless defined $addr;

    my $sock;
    my $tries = 0;
    while (1) {
        $sock = IO::Socket::INET->new(
            PeerAddr => $addr,
            PeerPort => $ServerPortForClient,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        last if $sock;

        my $err = $!;
        $tries++;
        my $total = $TotalConnectingTimeouts ? 20 : 50;

        if ($tries <= $total && nginx_known_dead()) {
            Test::More->builder->no_ending(1);
            fail("$name - Can't connect to $addr:$ServerPortForClient: "
                 . "$err (aborted)\n");
            return (undef, $head_req);
        }

        if ($tries > $total) {
            my $msg = "$name - Can't connect to $addr:$ServerPortForClient: "
                      . "$err (aborted)\n";
            if (++$TotalConnectingTimeouts < 3) {
                Test::More->builder->no_ending(1);
                fail($msg);
            } else {
                bail_out($msg);
            }
            return (undef, $head_req);
        }

        my $sleep = sleep_time();
        my $wait = ($sleep + $sleep * $tries) * $tries / 2;
        $wait = 1 if $wait > 1;
        if ($wait >= 0.6) {
            warn "$name - Can't connect to $addr:$ServerPortForClient: "
                 . "$err\n";
            warn "\tRetry connecting after $wait sec\n" if $tries < $total;
        }
        sleep $wait;
    }

    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';

    my $resp = '';
    my $first = shift @bits;
    my $wbuf = $first ? $first->{value} : '';
    $wbuf = '' unless defined $wbuf;
    my $woff = 0;
    my ($reading, $writing) = (1, 1);
    my $sel = IO::Select->new($sock);

    while ($reading || $writing) {
        my ($r, $w) = IO::Select->select($reading ? $sel : undef,
                                         $writing ? $sel : undef,
                                         undef, $timeout);
        if (!($r && @$r) && !($w && @$w)) {
            # no I/O event within the timeout
            close $sock;
            if (!defined $block->abort) {
                Test::More->builder->no_ending(1);
                fail("ERROR: client socket timed out - $name\n");
            } else {
                sleep 0.005;
            }
            last;
        }

        if ($w && @$w) {
            while (1) {
                if ($woff < length $wbuf) {
                    my $n = syswrite($sock, $wbuf, length($wbuf) - $woff,
                                     $woff);
                    if (!defined $n) {
                        last if $! == EAGAIN || $! == EWOULDBLOCK
                                || $! == EINTR;
                        my $msg = "write failed: $!";
                        warn "$msg\n";
                        $resp = $msg if $resp eq '';
                        close $sock;
                        ($reading, $writing) = (0, 0);
                        last;
                    }
                    $woff += $n;
                    next;
                }

                my $next = shift @bits;
                if (!$next) {
                    $writing = 0;
                    my $how = $block->shutdown;
                    if (defined $how) {
                        $how = 1 if $how =~ /^\s*$/s;
                        shutdown($sock, $how + 0);
                    }
                    last;
                }
                $wbuf = $next->{value};
                $wbuf = '' unless defined $wbuf;
                $woff = 0;
                my $delay = defined $next->{delay_before}
                            ? $next->{delay_before} : $middle_delay;
                sleep $delay if $delay;
            }
        }

        if ($reading && $r && @$r) {
            while (1) {
                my $n = sysread($sock, my $buf, 4096);
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK
                            || $! == EINTR;
                    warn "WARNING: $name - HTTP response read failure: $!";
                    close $sock;
                    ($reading, $writing) = (0, 0);
                    last;
                }
                if ($n == 0) {
                    close $sock;
                    ($reading, $writing) = (0, 0);
                    last;
                }
                $resp .= $buf;
            }
        }
    }

    return ($resp, $head_req);
}

sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;

    my $left;
    my $raw_headers = '';
    $raw_headers = $1 if $raw =~ /(.*?\r\n)\r\n/s;

    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if ($code && $code !~ /^\d+$/) {
        undef $code;
        $res->code(undef);
    }

    if ($code && ($code == 304 || $code == 101)) {
        return ($res, $raw_headers);
    }

    if (defined $enc && $enc eq 'chunked') {
        my $body = $res->content;
        $body = '' unless defined $body;
        my $decoded = '';
        pos($body) = 0;
        while (1) {
            if ($body =~ /\G0[ \t]*\r\n\r\n/gc) {
                $left = $1 if $body =~ /\G(.+)/gcs;
                last;
            }
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
                my $size = hex $1;
                my $at = pos $body;
                if (length($body) - $at < $size) {
                    Test::More->builder->no_ending(1);
                    fail("$name - invalid chunked data received (not "
                         . "enought octets for the data section)");
                    return;
                }
                $decoded .= substr($body, $at, $size);
                pos($body) = $at + $size;
                if ($body !~ /\G\r\n/gc) {
                    Test::More->builder->no_ending(1);
                    fail("$name - invalid chunked data received (expected "
                         . "CRLF).");
                    return;
                }
            } elsif ($body =~ /\G(.+)/gcs) {
                Test::More->builder->no_ending(1);
                fail("$name - invalid chunked body received: $1");
                return;
            } else {
                Test::More->builder->no_ending(1);
                fail("$name - no last chunk found - $body");
                return;
            }
        }
        $res->content($decoded);

    } elsif (defined $len && $len ne '' && $len >= 0) {
        my $body = $res->content;
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
                 . "but got ", length $body, "\n" unless $head_req;
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

# ---------------------------------------------------------------------------
# One block, one repetition
# ---------------------------------------------------------------------------

sub run_test_helper ($$$) {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;

    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") if !@$reqs;

    my $timeout = parse_time($block->timeout);
    $timeout = timeout() unless defined $timeout;

    my ($res, $need_array, $n);
    my $req_idx = 0;

    for my $one_req (@$reqs) {
        my ($raw_resp, $head_req);
        if ($dry_run) {
            $raw_resp = "200 OK HTTP/1.0\r\nContent-Length: 0\r\n\r\n";
        } else {
            ($raw_resp, $head_req) = send_request($one_req,
                $block->raw_request_middle_delay, $timeout, $block);
        }

        if ($block->pipelined_requests) {
            $n = @{ $block->pipelined_requests };
            $need_array = 1;
        } else {
            $need_array = @$reqs > 1;
        }

        while (1) {
            $raw_resp = '' unless defined $raw_resp;
            my ($raw_headers, $left);

            if (!defined $block->ignore_response) {
                if (defined $block->http09) {
                    $res = HTTP::Response->new(200, 'OK', [], $raw_resp);
                    $raw_headers = '';
                } else {
                    ($res, $raw_headers, $left) =
                        parse_response($name, $raw_resp, $head_req);
                }
            }

            if (!$n) {
                if ($left) {
                    (my $l = $left) =~
                        s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/ge;
                    warn "WARNING: $name - unexpected extra bytes after last "
                         . "chunk in response: \"$l\"\n";
                }
            } else {
                $raw_resp = $left;
                $n--;
            }

            if (!defined $block->ignore_response) {
                check_error_code($block, $res, $dry_run, $req_idx,
                                 $need_array);
                check_raw_response_headers($block, $raw_headers, $dry_run,
                                           $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $dry_run,
                                       $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $dry_run, $req_idx,
                                    $repeated_req_idx, $need_array);
            }

            if ($n || $req_idx < @$reqs - 1) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $res, $dry_run, $repeated_req_idx,
                                $need_array);
                check_access_log($block, $dry_run, $repeated_req_idx)
                    unless defined $block->ignore_response;
            }

            $req_idx++;
            last unless $n;
        }
    }

    sleep $block->wait if $block->wait;

    if ($block->stap) {
        SKIP: {
            skip "$name - stap_out - tests skipped due to env "
                 . "TEST_NGINX_USE_STAP is not set", 1;
        }
    }

    check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
    check_access_log($block, $dry_run, $repeated_req_idx)
        unless defined $block->ignore_response;
}

# an expected value, for the req_idx-th of several requests
sub get_indexed_value ($$$$) {
    my ($name, $value, $req_idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$req_idx] if ref $value && ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    if (ref $value && ref $value eq 'ARRAY') {
        bail_out("$name - SHOULD NOT HAPPEN: idx != 0 and don't need array.")
            if $req_idx != 0;
        return $value->[0];
    }
    return $value;
}

sub check_error_code ($$$$$) {
    my ($block, $res, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    SKIP: {
        skip "$name - tests skipped due to $dry_run", 1 if $dry_run;
        if (defined $block->error_code_like) {
            my $pat = get_indexed_value($name, $block->error_code_like,
                                        $req_idx, $need_array);
            like($got, qr/$pat/sm, "$name - status code ok");
        } elsif (defined $block->error_code) {
            is($got, get_indexed_value($name, $block->error_code, $req_idx,
                                       $need_array),
               "$name - status code ok");
        } else {
            is($got, 200, "$name - status code ok");
        }
    }
}

sub check_raw_response_headers ($$$$$) {
    my ($block, $raw_headers, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        SKIP: {
            skip "$name - raw_response_headers_like - tests skipped due to "
                 . "$dry_run", 1 if $dry_run;
            my $pat = get_indexed_value($name,
                $block->raw_response_headers_like, $req_idx, $need_array);
            like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
        }
    }
    if (defined $block->raw_response_headers_unlike) {
        SKIP: {
            skip "$name - raw_response_headers_unlike - tests skipped due "
                 . "to $dry_run", 1 if $dry_run;
            my $pat = get_indexed_value($name,
                $block->raw_response_headers_unlike, $req_idx, $need_array);
            unlike($raw_headers, qr/$pat/s,
                   "$name - raw resp headers unlike");
        }
    }
}

sub check_response_headers ($$$$$$) {
    my ($block, $res, $raw_headers, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $pairs = Test::Nginx::Util::parse_headers_ordered(
            get_indexed_value($name, $block->response_headers, $req_idx,
                              $need_array));
        for (my $i = 0; $i < @$pairs; $i += 2) {
            my ($key, $val) = @$pairs[$i, $i + 1];
            if (!defined $val) {
                SKIP: {
                    skip "$name - response_headers - tests skipped due to "
                         . "$dry_run", 1 if $dry_run;
                    unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                           "$name - header $key not present in the raw "
                           . "headers");
                }
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' unless defined $actual;
            SKIP: {
                skip "$name - response_headers - tests skipped due to "
                     . "$dry_run", 1 if $dry_run;
                is($actual, $val, "$name - header $key ok");
            }
        }

    } elsif (defined $block->response_headers_like) {
        my $pairs = Test::Nginx::Util::parse_headers_ordered(
            get_indexed_value($name, $block->response_headers_like,
                              $req_idx, $need_array));
        for (my $i = 0; $i < @$pairs; $i += 2) {
            my ($key, $val) = @$pairs[$i, $i + 1];
            $val = '' unless defined $val;
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' unless defined $actual;
            SKIP: {
                skip "$name - response_headers_like - tests skipped due to "
                     . "$dry_run", 1 if $dry_run;
                like($actual, qr/^$val$/, "$name - header $key like ok");
            }
        }
    }
}

sub run_filter_helper ($$$) {
    my ($block, $filter, $content) = @_;
    my $name = $block->name;

    if (ref $filter && ref $filter eq 'CODE') {
        return $filter->($content);
    }
    if (ref $filter) {
        bail_out("$name - the --- response_body_filters section only "
                 . "supports subroutine reference values and string values");
    }
    my %builtin = (
        md5_hex  => sub { Digest::MD5::md5_hex($_[0]) },
        sha1_hex => sub { Digest::SHA::sha1_hex($_[0]) },
        uc       => sub { uc $_[0] },
        lc       => sub { lc $_[0] },
        ucfirst  => sub { ucfirst $_[0] },
        lcfirst  => sub { lcfirst $_[0] },
        length   => sub { length $_[0] },
    );
    my $f = $builtin{$filter}
        or bail_out("$name - unknown filter, \"$filter\", specified in the "
                    . "--- response_body_filters section");
    return $f->($content);
}

sub transform_response_body ($$$) {
    my ($block, $res, $req_idx) = @_;
    return unless defined $res;
    my $content = $res->content;
    return unless defined $content;

    my $filters = $block->response_body_filters;
    return unless defined $filters;
    my $name = $block->name;

    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//g;
        $filters = [ split /\s+/, $filters ];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }

    my $filter = $filters;
    if (ref $filters->[0] eq 'ARRAY') {
        for my $elem (@$filters) {
            bail_out("$name - the --- response_body_filters two-dimensional "
                     . "array only be like [[uc], [lc]] not [[uc], lc]")
                if ref $elem ne 'ARRAY';
        }
        $filter = $filters->[$req_idx];
        bail_out("$name - the ---response_body_filters two-dimensional "
                 . "array unmatch the specified request($req_idx)")
            unless defined $filter;
    }

    for my $f (ref $filter eq 'ARRAY' ? @$filter : ($filter)) {
        $content = run_filter_helper($block, $f, $content);
    }
    $res->content($content);
}

sub check_response_body ($$$$$$) {
    my ($block, $res, $dry_run, $req_idx, $repeated_req_idx, $need_array)
        = @_;
    my $name = $block->name;

    if (defined $block->response_body || defined $block->response_body_eval)
    {
        my $content = $res ? $res->content : undef;
        if (defined $content) {
            $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gm;
            $content =~ s/^Connection: TE, close\r\n//gm;
        }

        my $expected;
        if ($block->response_body_eval) {
            diag "$name - response_body_eval is DEPRECATED. Use "
                 . "response_body eval instead.";
            $expected = eval get_indexed_value($name,
                $block->response_body_eval, $req_idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = get_indexed_value($name, $block->response_body,
                                          $req_idx, $need_array);
        }

        if ($block->charset) {
            Encode::from_to($expected, 'UTF-8', $block->charset);
        }

        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }

        SKIP: {
            skip "$name - response_body - tests skipped due to $dry_run", 1
                if $dry_run;
            my $what = "(repeated req $repeated_req_idx, req $req_idx)";
            if (ref $expected) {
                like($content, $expected,
                     "$name - response_body - like $what");
            } elsif ($NoLongString) {
                is($content, $expected,
                   "$name - response_body - response is expected $what");
            } else {
                is_string($content, $expected,
                   "$name - response_body - response is expected $what");
            }
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my ($patterns, $type, $cmp);
        if (defined $block->response_body_like) {
            ($patterns, $type, $cmp) = ($block->response_body_like, 'like',
                                        \&like);
        } else {
            ($patterns, $type, $cmp) = ($block->response_body_unlike,
                                        'unlike', \&unlike);
        }

        my $content = $res ? $res->content : undef;
        if (defined $content) {
            $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gm;
            $content =~ s/^Connection: TE, close\r\n//gm;
        }
        my $pat = get_indexed_value($name, $patterns, $req_idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        my $summary = trim($content);
        $summary = '' unless defined $summary;

        SKIP: {
            skip "$name - response_body_$type - tests skipped due to "
                 . "$dry_run", 1 if $dry_run;
            $cmp->($content, qr/$pat/s,
                   "$name - response_body_$type - response is expected "
                   . "($summary)");
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $res->content, $req_idx, $repeated_req_idx,
                 $dry_run);
    }
}

# ---------------------------------------------------------------------------
# Log checks
# ---------------------------------------------------------------------------

sub fmt_str ($) {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub value_contains ($$) {
    my ($val, $pat) = @_;
    if (!ref $val || ref $val eq 'Regexp') {
        return $val =~ /\Q$pat\E/;
    }
    if (ref $val eq 'ARRAY') {
        for my $v (@$val) {
            return 1 if value_contains($v, $pat);
        }
    }
    return undef;
}

# a section value -> a list of patterns (strings match literally)
sub pattern_list ($) {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [ split /\n+/, $pats ];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub line_matches ($$) {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ /$pat/ : $line =~ /\Q$pat\E/;
}

# every pattern must match some line: one assertion per pattern
sub check_patterns_present ($$$$$) {
    my ($pats, $lines, $skip_why, $pass_msg, $fail_msg) = @_;
    my @pending = @$pats;
    for my $line (@$lines) {
        for my $pat (@pending) {
            next unless defined $pat;
            next unless line_matches($line, $pat);
            SKIP: {
                skip $skip_why, 1 if defined $skip_why;
                pass($pass_msg->($pat));
            }
            undef $pat;
        }
    }
    for my $pat (@pending) {
        next unless defined $pat;
        SKIP: {
            skip $skip_why, 1 if defined $skip_why;
            fail($fail_msg->($pat));
        }
    }
}

# no pattern may match any line: one passing assertion per pattern when
# none does, one failure per matching line otherwise
sub check_patterns_absent ($$$$$$) {
    my ($pats, $lines, $skip_why, $pass_msg, $fail_msg, $more) = @_;
    my %found;
    for my $i (0 .. $#$lines) {
        my $line = $lines->[$i];
        for my $pat (@$pats) {
            next unless defined $pat;
            next unless line_matches($line, $pat);
            # a second failure for the same pattern breaks the plan count
            Test::More->builder->no_ending(1) if $found{$pat}++;
            SKIP: {
                skip "$skip_why ($line)", 1 if defined $skip_why;
                my $extra = '';
                if ($more) {
                    my $end = min($i + 10, @$lines - 1);
                    $extra = join '', @$lines[$i + 1 .. $end - 1]
                        if $end > $i + 1;
                }
                fail($fail_msg->(fmt_str($pat), fmt_str($line)) . $extra);
            }
        }
    }
    for my $pat (@$pats) {
        next if !defined $pat || $found{$pat};
        SKIP: {
            skip $skip_why, 1 if defined $skip_why;
            pass($pass_msg->(fmt_str($pat)));
        }
    }
}

sub check_access_log ($$$) {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $r = $repeated_req_idx;
    my $lines;

    if (defined $block->access_log) {
        $lines ||= access_log_data();
        check_patterns_present(pattern_list($block->access_log),
            $lines || [],
            $dry_run ? "$name - access_log - tests skipped due to $dry_run"
                     : undef,
            sub { "$name - pattern \"$_[0]\" matches a line in access.log "
                  . "(req $r)" },
            sub { "$name - pattern \"$_[0]\" should match a line in "
                  . "access.log (req $r)" });
    }

    if (defined $block->no_access_log) {
        $lines ||= access_log_data();
        check_patterns_absent(pattern_list($block->no_access_log),
            $lines || [],
            $dry_run ? "$name - no_access_log - tests skipped due to "
                       . $dry_run : undef,
            sub { "$name - pattern \"$_[0]\" does not match a line in "
                  . "access.log (req $r)" },
            sub { "$name - pattern \"$_[0]\" should not match any line in "
                  . "access.log but matches line \"$_[1]\" (req $r)\n" },
            1);
    }
}

sub check_error_log ($$$$$) {
    my ($block, $res, $dry_run, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $lines;

    my %warn_about = (alert => 1, crit => 1, emerg => 1);

    my $grep_pats = $block->grep_error_log;
    my $grep_pat;
    if (defined $grep_pats) {
        $grep_pat = ref $grep_pats && ref $grep_pats eq 'ARRAY'
                    ? $grep_pats->[$repeated_req_idx] : $grep_pats;
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- "
                 . "grep_error_log_out is defined");
    }

    if (defined $grep_pat) {
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- "
                 . "grep_error_log is defined") unless defined $expected;
        if (ref $expected && ref $expected eq 'ARRAY') {
            $expected = $expected->[$repeated_req_idx];
        }
        SKIP: {
            skip "$name - error_log - tests skipped due to $dry_run", 1
                if $dry_run;
            $lines ||= error_log_data();
            my $matched = '';
            for my $line (@{ $lines || [] }) {
                if (ref $grep_pat ? $line =~ /$grep_pat/
                                  : $line =~ /\Q$grep_pat\E/)
                {
                    my $m = $&;
                    $matched .= "$m\n" if $m !~ /\n/;
                }
            }
            my $desc = "$name - grep_error_log_out (req $repeated_req_idx)";
            if (ref $expected eq 'Regexp') {
                like($matched, $expected, $desc);
            } elsif ($NoLongString) {
                is($matched, $expected, $desc);
            } else {
                is_string($matched, $expected, $desc);
            }
        }
    }

    for my $section (qw(error_log no_error_log)) {
        my $pats = $block->$section;
        next unless defined $pats;
        for my $level (keys %warn_about) {
            delete $warn_about{$level} if value_contains($pats, "[$level");
        }
    }

    my $r = $repeated_req_idx;

    if (defined $block->error_log) {
        $lines ||= error_log_data();
        check_patterns_present(pattern_list($block->error_log),
            $lines || [],
            $dry_run ? "$name - error_log - tests skipped due to $dry_run"
                     : undef,
            sub { "$name - pattern \"$_[0]\" matches a line in error.log "
                  . "(req $r)" },
            sub { "$name - pattern \"$_[0]\" should match a line in "
                  . "error.log (req $r)" });
    }

    if (defined $block->no_error_log) {
        $lines ||= error_log_data();
        check_patterns_absent(pattern_list($block->no_error_log),
            $lines || [],
            $dry_run ? "$name - no_error_log - tests skipped due to "
                       . $dry_run : undef,
            sub { "$name - pattern \"$_[0]\" does not match a line in "
                  . "error.log (req $r)" },
            sub { "$name - pattern \"$_[0]\" should not match any line in "
                  . "error.log but matches line \"$_[1]\" (req $r)\n" },
            1);
    }

    if (!$dry_run) {
        for my $level (sort keys %warn_about) {
            $lines ||= error_log_data();
            for my $line (@{ $lines || [] }) {
                warn "WARNING: $name - " . fmt_str($line) . "\n"
                    if $line =~ /\[$level\]/;
            }
        }
    }

    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            Test::More->builder->no_ending(1);
            (my $l = $line) =~ s/\n\z//;
            fail("$name - $l\n");
        }
    }
}

sub check_shutdown_error_log ($$) {
    my ($block, $dry_run) = @_;
    my $name = $block->name;
    my $lines;

    if (defined $block->no_shutdown_error_log) {
        $lines ||= error_log_data();
        check_patterns_absent(pattern_list($block->no_shutdown_error_log),
            $lines || [],
            $dry_run ? "$name - no_shutdown_error_log - tests skipped due "
                       . "to $dry_run" : undef,
            sub { "$name - pattern \"$_[0]\" does not match a line in "
                  . "error.log" },
            sub { "$name - pattern \"$_[0]\" should not match any line in "
                  . "error.log but matches line \"$_[1]\"" },
            0);
    }

    $lines ||= error_log_data();
    check_patterns_present(pattern_list($block->shutdown_error_log),
        $lines || [],
        $dry_run ? "$name - shutdown_error_log - tests skipped due to "
                   . "dry_run" : undef,
        sub { "$name - pattern \"$_[0]\" matches a line in error.log" },
        sub { "$name - pattern \"$_[0]\" should match a line in "
              . "error.log" });

    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*? failed\.$/) {
            Test::More->builder->no_ending(1);
            (my $l = $line) =~ s/\n\z//;
            fail("$name - $l");
        }
    }
}

1;
