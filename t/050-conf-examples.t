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
use FsauthExamples;

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
        my ($conf) = eval { prepare_example($text, $dir) };
        ok(defined $conf, "$file: placeholders rewritten") or diag($@);
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
