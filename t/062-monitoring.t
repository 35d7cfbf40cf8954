# The ready-made monitoring in conf-examples/: prometheus-alerts.yml
# passes "promtool check rules", and its alerts fire when they should and
# not otherwise ("promtool test rules" on made-up series); every metric
# that grafana-dashboard.json and the alert rules query exists in the live
# output of fsauth_metrics (histograms by their _bucket, _sum and _count
# series), and every dashboard query is valid PromQL.
# Plain Test::More: promtool and one running nginx, no Test::Nginx block.

use strict;
use warnings;
use lib 't/lib';

use Test::More;
use Cwd qw(getcwd);
use File::Temp qw(tempdir);
use JSON::PP;
use CPAN::Meta::YAML;
use FsauthTest;
use FsauthNginx;
use FsauthMetrics;

plan skip_all => 'TEST_NGINX_REDIS_PORT is not set (run util/test.sh)'
    unless $ENV{TEST_NGINX_REDIS_PORT};

my $rules_file = getcwd() . '/conf-examples/prometheus-alerts.yml';
my $dash_file = 'conf-examples/grafana-dashboard.json';
my $tmp = tempdir(CLEANUP => 1);

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or die "$path: $!";
    local $/;
    return <$fh>;
}

# 1. the alert rules as Prometheus loads them
my ($rc, $out) = promtool('', 'check', 'rules', $rules_file);
is($rc, 0, 'promtool check rules accepts prometheus-alerts.yml')
    or diag($out);

my $yaml = CPAN::Meta::YAML->read_string(slurp($rules_file))
    or die CPAN::Meta::YAML->errstr;
my @rules = map { @{ $_->{rules} } } @{ $yaml->[0]{groups} };
my %alerts = map { $_->{alert} => $_ } @rules;
is_deeply([sort keys %alerts],
          [qw(FsauthBanSurge FsauthBanTableFull FsauthInvalidationChannelDown
              FsauthKillSwitchOn FsauthRedisDown FsauthUnavailableRate)],
          'the alerts: Redis down, invalidation channel down, 503 rate, '
          . 'ban surge, ban table full, kill switch');
for my $r (@rules) {
    ok($r->{labels}{severity} && $r->{annotations}{summary}
       && $r->{annotations}{description},
       "$r->{alert}: a severity, a summary and a description");
}

# 2. the alerts on made-up series: the rules as written, their
# annotations left out (promtool compares them word for word)
(my $bare = slurp($rules_file))
    =~ s/^([ \t]+)annotations:\n(?:\1[ \t]+.*\n|[ \t]*\n)*//mg;
write_file("$tmp/rules.yml", $bare);
write_file("$tmp/test.yml", <<'_EOT_');
rule_files:
  - rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'fsauth_redis_connected{instance="down"}'
        values: '2 0 0 0 0'
      - series: 'fsauth_redis_connected{instance="inv"}'
        values: '2 2 2 2 2 2 2 2 2 2'
      - series: 'fsauth_invalidation_connected{instance="inv"}'
        values: '2 1 1 1 1 1 1 1 1 1'
      - series: 'fsauth_redis_connected{instance="ok"}'
        values: '2 2 2 2 2 2 2 2 2 2'
      - series: 'fsauth_invalidation_connected{instance="ok"}'
        values: '2 2 2 2 2 2 2 2 2 2'
      - series: 'fsauth_decisions_total{instance="u",status="granted"}'
        values: '0+100x15'
      - series: 'fsauth_decisions_total{instance="u",status="unavailable"}'
        values: '0+10x15'
      - series: 'fsauth_decisions_total{instance="ok",status="granted"}'
        values: '0+100x15'
      - series: 'fsauth_decisions_total{instance="ok",status="unavailable"}'
        values: '0+0x15'
      - series: 'fsauth_bans{instance="surge"}'
        values: '0 0 5 30 30'
      - series: 'fsauth_bans{instance="ok"}'
        values: '0 1 2 3 4'
      - series: 'fsauth_ban_refused_total{instance="full"}'
        values: '0 0 3 3 3'
      - series: 'fsauth_ban_refused_total{instance="ok"}'
        values: '0 0 0 0 0'
      - series: 'fsauth_api_enabled{instance="off"}'
        values: '1 0 0 0 0'
      - series: 'fsauth_api_enabled{instance="ok"}'
        values: '1 1 1 1 1'
    alert_rule_test:
      - alertname: FsauthRedisDown
        eval_time: 1m
      - alertname: FsauthRedisDown
        eval_time: 3m
        exp_alerts:
          - exp_labels: { severity: critical, instance: down }
      - alertname: FsauthInvalidationChannelDown
        eval_time: 4m
      - alertname: FsauthInvalidationChannelDown
        eval_time: 7m
        exp_alerts:
          - exp_labels: { severity: warning, instance: inv }
      - alertname: FsauthUnavailableRate
        eval_time: 12m
        exp_alerts:
          - exp_labels: { severity: critical, instance: u }
      - alertname: FsauthBanSurge
        eval_time: 4m
        exp_alerts:
          - exp_labels: { severity: warning, instance: surge }
      - alertname: FsauthBanTableFull
        eval_time: 4m
        exp_alerts:
          - exp_labels: { severity: warning, instance: full }
      - alertname: FsauthKillSwitchOn
        eval_time: 3m
        exp_alerts:
          - exp_labels: { severity: warning, instance: off }
_EOT_
($rc, $out) = promtool('', 'test', 'rules', "$tmp/test.yml");
is($rc, 0, 'each alert fires for its instance, and only for it')
    or diag($out);

# 3. the metric names queried exist in the live output
my $n = FsauthNginx->start(
    workers => 2,
    http => "    fsauth_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT} "
          . "prefix=t062:;\n    fsauth_cache zone=t062:1m;",
    server => "        location = /metrics { fsauth_metrics; }\n");
my ($st, undef, $body) = scrape($n->port);
is($st, 200, 'metrics answered');
my $live = sample_names($body);
$n->stop;

sub names_in {
    my ($expr) = @_;
    my %n = map { $_ => 1 } $expr =~ /\b(fsauth_[a-z0-9_]+)/g;
    return sort keys %n;
}

sub check_names {
    my ($what, @exprs) = @_;
    my (%used, @missing);
    for my $e (@exprs) {
        my @names = names_in($e);
        ok(scalar @names, "$what: \"$e\" queries a fsauth metric");
        $used{$_} = 1 for @names;
    }
    @missing = grep { !$live->{$_} } sort keys %used;
    is_deeply(\@missing, [], "$what: every metric it queries is in the "
                             . 'live output (' . keys(%used) . ' names)');
    return \%used;
}

check_names('alert rules', map { $_->{expr} } @rules);

my $dash = decode_json(slurp($dash_file));
my @exprs;
my $walk;
$walk = sub {
    my ($v) = @_;
    if (ref $v eq 'HASH') {
        push @exprs, $v->{expr} if defined $v->{expr} && !ref $v->{expr};
        $walk->($_) for values %$v;
    } elsif (ref $v eq 'ARRAY') {
        $walk->($_) for @$v;
    }
};
$walk->($dash->{panels});
cmp_ok(scalar @exprs, '>=', 10, 'the dashboard has its queries');
my $used = check_names('dashboard', @exprs);

for my $m (qw(fsauth_decisions_total fsauth_cache_requests_total
              fsauth_lookup_duration_seconds_bucket fsauth_redis_connected
              fsauth_invalidation_connected fsauth_bans)) {
    ok($used->{$m}, "the dashboard shows $m");
}
ok((grep { /histogram_quantile\(0\.99,.*fsauth_lookup_duration_seconds_bucket/ }
    @exprs), 'Redis latency quantiles from the histogram');

my @vars = map { $_->{definition} // '' } @{ $dash->{templating}{list} };
check_names('dashboard variables', grep { /fsauth_/ } @vars);

# 4. each dashboard query parses: as recording rules, with Grafana's
# variables given values
my $i = 0;
my $rec = "groups:\n  - name: dashboard\n    rules:\n";
for my $e (@exprs) {
    (my $q = $e) =~ s/\$__rate_interval/5m/g;
    $q =~ s/\$instance/.*/g;
    $q =~ s/'/''/g;
    $i++;
    $rec .= "      - record: dashboard_query_$i\n        expr: '$q'\n";
}
write_file("$tmp/dashboard-rules.yml", $rec);
($rc, $out) = promtool('', 'check', 'rules', "$tmp/dashboard-rules.yml");
is($rc, 0, 'every dashboard query is valid PromQL') or diag($out, $rec);

done_testing();
