package FsauthExamples;

# The placeholder rewrites of conf-examples/README.md, shared by
# t/050-conf-examples.t (nginx -t on each example) and
# t/051-reverse-proxy.t (examples run end to end).

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Path qw(make_path);
use FsauthTest qw(write_file free_port);

use Exporter 'import';
our @EXPORT = qw(example_text prepare_example $EXAMPLE_GLOBAL_KEY);

our $EXAMPLE_GLOBAL_KEY = 'EXAMPLE-GLOBAL-KEY-1';

# A throwaway self-signed certificate (EC P-256, CN "fsauth conf-examples
# test", valid until 2126), so that ssl_certificate and
# proxy_ssl_trusted_certificate have something to load without openssl.
my $cert = <<'_PEM_';
-----BEGIN CERTIFICATE-----
MIIByDCCAW+gAwIBAgIUMaXdKM1ZPiafHU5ODy1BBC7uOdIwCgYIKoZIzj0EAwIw
JDEiMCAGA1UEAwwZZnNhdXRoIGNvbmYtZXhhbXBsZXMgdGVzdDAgFw0yNjExMjcx
ODQwNTlaGA8yMTI2MTEwMzE4NDA1OVowJDEiMCAGA1UEAwwZZnNhdXRoIGNvbmYt
ZXhhbXBsZXMgdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJrh4pGX2w+6
hroDwbdxifGSGYANT0rU5daU/kHmxnkbNaAEWVkfRBNSJY1ub1UDdPd6znp0HgN7
XTicl/0p1qijfTB7MB0GA1UdDgQWBBT9bR3mzwlCNgYQcsfuAc3y0KLt/zAfBgNV
HSMEGDAWgBT9bR3mzwlCNgYQcsfuAc3y0KLt/zAPBgNVHRMBAf8EBTADAQH/MCgG
A1UdEQQhMB+CD2FwaS5leGFtcGxlLmNvbYIMZXJwLmludGVybmFsMAoGCCqGSM49
BAMCA0cAMEQCICoVZOTsahVi304rrUSo1OZlYSIm0YPMkuuoXrrcq3lIAiBMaDeq
Oyye1Ov7OFnwM5uUU04mMsO6vhw0GpwKRS2FtA==
-----END CERTIFICATE-----
_PEM_

my $cert_key = <<'_PEM_';
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFNC1pDrLs2XElSPL
HWgB59Q+LmDc6jQJiqzBfsjQUmWhRANCAASa4eKRl9sPuoa6A8G3cYnxkhmADU9K
1OXWlP5B5sZ5GzWgBFlZH0QTUiWNbm9VA3T3es56dB4De104nJf9Kdao
-----END PRIVATE KEY-----
_PEM_

# what a directive needs at the rewritten path
my %content = (
    fsauth_global_key_file        => "$EXAMPLE_GLOBAL_KEY\n",
    password_file                 => "example-redis-password\n",
    ssl_certificate               => $cert,
    ssl_trusted_certificate       => $cert,
    proxy_ssl_trusted_certificate => $cert,
    proxy_ssl_certificate         => $cert,
    ssl_certificate_key           => $cert_key,
    proxy_ssl_certificate_key     => $cert_key,
);

sub example_text {
    my ($file) = @_;
    open my $fh, '<', "conf-examples/$file" or die "conf-examples/$file: $!";
    local $/;
    return <$fh>;
}

# Rewrites an example; creates what its paths need under $dir.  Returns
# the text and the port given to each listen line, keyed by the original
# address; dies when a placeholder is missing.  Options:
#   run => 1         to be started: plain HTTP listeners, "user root"
#                    when root, error_log at info, files readable
#   fixed => {...}   ports for some original addresses
#   redis => "..."   arguments replacing those of fsauth_redis
sub prepare_example {
    my ($text, $dir, %o) = @_;
    my $root = "$dir/root";
    my %ports;

    my $load = join '', map { "load_module $_;\n" }
                        split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    $text =~ s{^[ \t]*load_module[ \t]+modules/ngx_http_fsauth_module\.so;[ \t]*\n}
              {$load}m
        or die "no \"load_module modules/ngx_http_fsauth_module.so;\" line\n";

    $text =~ s/^[ \t]*(?:user|pid|daemon|error_log)[ \t][^;]*;[ \t]*\n//mg;

    # before anything that names $dir is added
    $text =~ s{(?<=[\s"'=:])(/(?:etc|var|run)/[^\s;"']+)}{$root$1}g;

    $text =~ s{^([ \t]*listen[ \t]+)([^\s;]+)([^;]*);}{
        my ($lead, $addr, $params) = ($1, $2, $3);
        $params =~ s/\s+ssl\b// if $o{run};
        # the same address in several servers is one socket: one port
        $ports{$addr} = ($o{fixed} && $o{fixed}{$addr}) || $ports{$addr}
                        || free_port();
        "${lead}127.0.0.1:$ports{$addr}$params;"
    }mge;

    if ($o{redis}) {
        $text =~ s{^([ \t]*)fsauth_redis[ \t][^;]*;}
                  {${1}fsauth_redis $o{redis};}m;
    }

    my $user = ($o{run} && $> == 0) ? "user root;\n" : '';
    my $level = $o{run} ? ' info' : '';
    $text = "${user}pid $dir/nginx.pid;\nerror_log $dir/error.log$level;\n"
            . $text;

    my $temp = join '', map { "    ${_}_temp_path $dir/temp/$_;\n" }
                        qw(client_body proxy fastcgi uwsgi scgi);
    $text =~ s/^(http[ \t]*\{[ \t]*\n)/$1$temp/m
        or die "no \"http {\" line\n";

    # directive by directive: create the files the paths stand for
    (my $code = $text) =~ s/#[^\n]*//g;
    while ($code =~ /(?:^|(?<=[;{}]))\s*([a-z_0-9]+)((?:\s+(?:"[^"]*"|'[^']*'|[^\s;{}]+))+)\s*;/g) {
        my ($name, $args) = ($1, $2);
        for my $arg (split ' ', $args) {
            next unless index($arg, $root) >= 0;
            my ($what, $path) = $arg =~ /^(?:([a-z_]+)=|unix:)?(.*)$/;
            my $kind = ($what && $what eq 'password_file') ? $what : $name;
            if (exists $content{$kind}) {
                make_path(dirname($path));
                write_file($path, $content{$kind});
                chmod 0600, $path;
            } elsif ($name eq 'root' || $name eq 'alias') {
                make_path($path);
            } else {
                make_path(dirname($path));
            }
        }
    }
    make_path("$dir/temp");
    system('chmod', '-R', 'a+rX', $dir) if $o{run};

    return ($text, \%ports);
}

1;
