# Every configuration in conf-examples/ passes "nginx -t" with the module
# just built, without a warning.  The files are used as written, except
# for the placeholder rewrites documented in conf-examples/README.md
# (module path, absolute paths moved to a temporary directory, listen
# addresses, user/pid/error_log).  Plain Test::More, like t/005: Debian's
# nginx prints start-up messages on stderr.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use File::Basename qw(dirname basename);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use FsauthTest qw(write_file free_port);

my $binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');

plan skip_all => 'TEST_NGINX_LOAD_MODULES is not set (run util/test.sh)'
    unless @modules;

my $examples = 'conf-examples';
opendir my $dh, $examples or die "$examples: $!";
my @files = sort grep { /\.conf\z/ } readdir $dh;
closedir $dh;

ok(scalar @files >= 7, 'conf-examples/ has the example configurations')
    or diag("found: @files");

# --- the placeholder rewrites (conf-examples/README.md) ----------------

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
    fsauth_global_key_file        => "EXAMPLE-GLOBAL-KEY-1\n",
    password_file                 => "example-redis-password\n",
    ssl_certificate               => $cert,
    ssl_trusted_certificate       => $cert,
    proxy_ssl_trusted_certificate => $cert,
    proxy_ssl_certificate         => $cert,
    ssl_certificate_key           => $cert_key,
    proxy_ssl_certificate_key     => $cert_key,
);

# Returns the rewritten text; creates what the paths need under $dir.
sub prepare {
    my ($text, $dir) = @_;
    my $root = "$dir/root";

    my $load = join '', map { "load_module $_;\n" } @modules;
    $text =~ s{^[ \t]*load_module[ \t]+modules/ngx_http_fsauth_module\.so;[ \t]*\n}
              {$load}m
        or return (undef, 'no "load_module modules/ngx_http_fsauth_module.so;" line');

    $text =~ s/^[ \t]*(?:user|pid|daemon)[ \t][^;]*;[ \t]*\n//mg;
    $text =~ s/^[ \t]*error_log[ \t][^;]*;[ \t]*\n//mg;

    # before anything that names $dir is added
    $text =~ s{(?<=[\s"'=:])(/(?:etc|var|run)/[^\s;"']+)}{$root$1}g;

    $text = "pid $dir/nginx.pid;\nerror_log $dir/error.log;\n" . $text;

    $text =~ s{^([ \t]*listen[ \t]+)[^\s;]+}{$1 . '127.0.0.1:' . free_port()}mge;

    my $temp = join '', map { "    ${_}_temp_path $dir/temp/$_;\n" }
                        qw(client_body proxy fastcgi uwsgi scgi);
    $text =~ s/^(http[ \t]*\{[ \t]*\n)/$1$temp/m
        or return (undef, 'no "http {" line');

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

    return ($text, undef);
}

sub nginx_t {
    my ($conf) = @_;
    my $out = `$binary -t -c $conf 2>&1`;
    return ($? >> 8, $out);
}

# does the module know fsauth_metrics (it may be built without it)?
my $has_metrics = do {
    my $dir = tempdir(CLEANUP => 1);
    my $load = join '', map { "load_module $_;\n" } @modules;
    my $conf = write_file("$dir/nginx.conf", <<"_EOC_");
$load
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 16; }
http {
    server {
        listen 127.0.0.1:1;
        location = /m { fsauth_metrics; }
    }
}
_EOC_
    my ($rc, $out) = nginx_t($conf);
    $out =~ /unknown directive "fsauth_metrics"/ ? 0 : 1;
};

# the examples' index
my $readme = do {
    open my $fh, '<', "$examples/README.md" or die "README.md: $!";
    local $/;
    <$fh>;
};

for my $file (@files) {
    my $path = "$examples/$file";
    my $text = do { open my $fh, '<', $path or die "$path: $!"; local $/; <$fh> };

    like($readme, qr/`\Q$file\E`/, "$file is listed in conf-examples/README.md");

    unlike($text, qr/^\s*include\s/m, "$file stands alone (no include)");

    my @loads = $text =~ /^\s*load_module\s+(\S+);/mg;
    is_deeply(\@loads, ['modules/ngx_http_fsauth_module.so'],
              "$file loads the module with the placeholder line");

    SKIP: {
        skip "$file: this build of the module has no fsauth_metrics "
             . 'directive (nginx -t says unknown directive)', 3
            if $text =~ /^\s*fsauth_metrics\s*;/m && !$has_metrics;

        my $dir = tempdir(CLEANUP => 1);
        my ($conf, $err) = prepare($text, $dir);
        ok(defined $conf, "$file: placeholders rewritten") or diag($err);
        $conf //= '';
        my $conf_path = write_file("$dir/nginx.conf", $conf);

        my ($rc, $out) = nginx_t($conf_path);
        is($rc, 0, "$file: nginx -t succeeds")
            or diag("$out\n--- rewritten configuration ---\n$conf");

        my @bad = grep { /\[(?:emerg|alert|crit|error|warn)\]/ }
                  split /\n/, $out;
        is_deeply(\@bad, [], "$file: nginx -t prints no warning or error")
            or diag($out);
    }
}

# Each README in conf-examples names a file that exists.
for my $name ($readme =~ /^\|\s*`([^`]+\.conf)`/mg) {
    ok(-f "$examples/$name", "README.md lists $name, which exists");
}

done_testing();
