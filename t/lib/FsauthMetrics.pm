package FsauthMetrics;

# Reads a running nginx's fsauth_metrics endpoint, and runs promtool (from
# Debian's prometheus package) on text given on its standard input.

use strict;
use warnings;

use File::Temp qw(tempfile);
use FsauthTest qw(http_raw);

use Exporter 'import';
our @EXPORT = qw(scrape promtool sample_names);

# (status, headers, body, { 'name{labels}' => value })
sub scrape {
    my ($port, $path) = @_;
    my ($st, $head, $body) = http_raw($port,
        'GET ' . ($path // '/metrics') . " HTTP/1.0\r\n\r\n", 3);
    my %m;
    for (split /\n/, $body) {
        next if /^#/;
        my ($name, $value) = /^(\S+) (\S+)$/ or next;
        $m{$name} = $value;
    }
    return ($st, $head, $body, \%m);
}

# the names of the samples in an exposition, labels left off
sub sample_names {
    my ($body) = @_;
    my %n;
    for (split /\n/, $body) {
        $n{$1} = 1 if /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/;
    }
    return \%n;
}

# promtool ARGS... with $stdin on its standard input: (exit code, output)
sub promtool {
    my ($stdin, @args) = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    print $fh $stdin // '';
    close $fh;
    my $out = `promtool @args < $file 2>&1`;
    return ($? >> 8, $out);
}

1;
