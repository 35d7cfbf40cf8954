#!/bin/bash
# util/chaos.sh: Redis killed under load (no request waits past the timeout,
# no worker dies, recovery within a second).
#
# Starts a private redis-server (append-only file, so that the keys survive
# SIGKILL) and an nginx with 2 workers, fsauth_cache and timeout=200ms on
# free ports, then puts load on it for the whole run:
#   * wrk (when installed): keep-alive GETs with one cached user key;
#   * a Perl prober (4 processes, keep-alive): alternately a cached user
#     key and a token never seen before, recording for every request its
#     start time, latency and status.
# Meanwhile redis-server is killed with SIGKILL, left down CHAOS_DOWN
# seconds (3), restarted, and left up CHAOS_UP seconds (3), CHAOS_CYCLES
# times (3).
#
# Checks, each one a violation when it fails (exit status 1):
#   1. no worker crashed: the worker pids are the same at the end, and the
#      error log has no "exited on signal", [alert], [crit] or [emerg];
#   2. no request waited longer than timeout + CHAOS_MARGIN_MS (300): the
#      prober's per-request latency, and wrk's latency maximum;
#   3. 503 only while Redis was down and nothing usable was cached: a
#      cached key is never refused (200 throughout, from the cache or
#      stale), and a never-seen token gets 503 only from the kill to 1 s
#      after Redis answers again (401 otherwise); wrk sees no non-2xx;
#   4. full recovery within 1 s of Redis returning: after that, never-seen
#      tokens get 401 again, in every cycle;
#   5. no fd or memory growth in the workers: /proc/<pid>/fd count and
#      VmRSS / RssAnon sampled after cycle 1 and after the last cycle
#      (tolerance: 2 fds, CHAOS_RSS_KB = 1024 kB of VmRSS, 512 kB of
#      RssAnon).
# A summary is printed either way.
#
# Sentinel mode (util/chaos.sh sentinel): a primary, two replicas and three
# sentinels (down-after-milliseconds 1000, failover-timeout 2000) on
# loopback, nginx with fsauth_redis sentinel=... master=chaos; the primary
# is killed with SIGKILL CHAOS_CYCLES times (3) under the same load.  Each
# cycle waits for the sentinels' +switch-master (heard on every sentinel),
# restarts the old primary as a replica of the new one, waits until the
# sentinels agree again (twice, 1 s apart) and leaves it CHAOS_UP seconds.
# The same checks, with "Redis answers again" read as "the promotion",
# the first sentinel's +switch-master (a second failover right after
# extends the outage to its own): a never-seen token gets 503 only from
# the kill to 1 s after it, and 401 again within 1 s of it.
#
# Usage: util/chaos.sh [redis|sentinel]   (after "make"; redis: about
#   25 s, sentinel: about 35 s)
# Environment: CHAOS_CYCLES, CHAOS_DOWN (redis mode), CHAOS_UP,
#   CHAOS_MARGIN_MS, CHAOS_RSS_KB, CHAOS_KEEP=1 (keep the work directory),
#   NGINX (default: $TEST_NGINX_BINARY or /usr/sbin/nginx).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

mode=${1:-redis}
case $mode in
redis|sentinel) ;;
*) echo "usage: util/chaos.sh [redis|sentinel]" >&2; exit 2 ;;
esac

cycles=${CHAOS_CYCLES:-3}
down=${CHAOS_DOWN:-3}
up=${CHAOS_UP:-3}
margin_ms=${CHAOS_MARGIN_MS:-300}
rss_tol_kb=${CHAOS_RSS_KB:-1024}
timeout_ms=200
nginx=${NGINX:-${TEST_NGINX_BINARY:-/usr/sbin/nginx}}
module=$root/build/ngx_http_fsauth_module.so

./util/deps.sh
[ -f "$module" ] || make -s all
for cmd in redis-server redis-cli perl "$nginx"; do
    if ! command -v "$cmd" >/dev/null; then
        echo "chaos: $cmd not found" >&2
        exit 2
    fi
done

work=$(mktemp -d /tmp/fsauth-chaos.XXXXXX)
redis_pid=
wrk_pid=
probe_pid=
# sentinel mode: the pid of each data node by port, the other helpers
declare -A node_pid=()
helper_pids=()

cleanup() {
    set +e
    [ -n "$probe_pid" ] && kill "$probe_pid" 2>/dev/null
    [ -n "$wrk_pid" ] && kill "$wrk_pid" 2>/dev/null
    if [ -f "$work/nginx/logs/nginx.pid" ]; then
        kill -QUIT "$(cat "$work/nginx/logs/nginx.pid")" 2>/dev/null
        sleep 0.3
    fi
    for p in $redis_pid "${node_pid[@]}" "${helper_pids[@]}"; do
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "${CHAOS_KEEP:-}" = 1 ]; then
        echo "chaos: work directory kept: $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1,
                                     LocalAddr => "127.0.0.1")->sockport'
}

now() { perl -MTime::HiRes=time -e 'printf "%.3f\n", time'; }

rport=$(free_port)
nport=$(free_port)
mkdir -p "$work/redis" "$work/nginx/logs" "$work/nginx/conf" "$work/out" \
         "$work/nginx/html"
echo ok > "$work/nginx/html/ok.txt"
# the workers may run as another user (nobody) and read ok.txt
chmod 755 "$work" "$work/nginx" "$work/nginx/html"

wait_pong() {
    for _ in $(seq 200); do
        [ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ] && return 0
        sleep 0.01
    done
    echo "chaos: redis-server on port $1 did not start" >&2
    exit 2
}

start_redis() {
    redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/redis" \
        --save '' --appendonly yes --appendfsync always \
        --logfile "$work/redis/redis.log" </dev/null >/dev/null 2>&1 &
    redis_pid=$!
    wait_pong "$rport"
}

# sentinel mode --------------------------------------------------------
# the name the sentinels monitor
set_name=chaos
sentinels=()

# $1 port, [$2 the primary's port]: a data node, no persistence (the
# replicas hold the keys)
start_node() {
    mkdir -p "$work/node$1"
    redis-server --port "$1" --bind 127.0.0.1 --dir "$work/node$1" \
        --save '' --appendonly no --repl-diskless-sync-delay 0 \
        ${2:+--replicaof 127.0.0.1 "$2"} \
        --logfile "$work/node$1/redis.log" </dev/null >/dev/null 2>&1 &
    node_pid[$1]=$!
    wait_pong "$1"
}

start_sentinel() {
    local port=$1 dir=$work/sentinel$1
    mkdir -p "$dir"
    printf '%s\n' "port $port" "bind 127.0.0.1" "dir $dir" "logfile $dir/log" \
        "sentinel monitor $set_name 127.0.0.1 $rport 2" \
        "sentinel down-after-milliseconds $set_name 1000" \
        "sentinel failover-timeout $set_name 2000" \
        "sentinel parallel-syncs $set_name 2" > "$dir/sentinel.conf"
    redis-server "$dir/sentinel.conf" --sentinel </dev/null >/dev/null 2>&1 &
    helper_pids+=($!)
    wait_pong "$port"
    sentinels+=("$port")
}

# "key<TAB>value" lines of a sentinel's answer
fields() { redis-cli -p "$1" SENTINEL "$2" "$set_name" | paste - -; }

named_primary() {
    redis-cli -p "$1" SENTINEL get-master-addr-by-name "$set_name" | sed -n 2p
}

# every sentinel names the same primary, which says so, knows the other
# sentinels and two replicas that are up and linked to it; sets $rport
agreed() {
    local s p first=
    for s in "${sentinels[@]}"; do
        p=$(named_primary "$s")
        [ -n "$p" ] && [ "${first:=$p}" = "$p" ] || return 1
        fields "$s" master | grep -qx $'flags\tmaster' || return 1
        [ "$(fields "$s" master |
             awk '$1 == "num-other-sentinels" { print $2 }')" -ge 2 ] ||
            return 1
        [ "$(fields "$s" replicas | grep -cx $'flags\tslave')" -ge 2 ] &&
        [ "$(fields "$s" replicas |
             grep -cx $'master-link-status\tok')" -ge 2 ] || return 1
    done
    [ "$(redis-cli -p "$first" ROLE | head -n1)" = master ] || return 1
    rport=$first
}

# agreed twice, 1 s apart (a sentinel that lagged may fail over again
# right after); generous bounds: sentinels in TILT mode on a loaded
# machine take seconds to come out of it
settle() {
    local round
    for round in 1 2; do
        [ "$round" = 2 ] && sleep 1
        for _ in $(seq 600); do
            agreed && continue 2
            sleep 0.05
        done
        echo "chaos: the sentinels did not agree on a primary" >&2
        tail -n 20 "$work"/sentinel*/log >&2
        exit 2
    done
}

# the time of every +switch-master announced by each sentinel, into
# $work/switches
watch_switches() {
    local s
    : > "$work/switches"
    for s in "${sentinels[@]}"; do
        perl -MIO::Socket::INET -MTime::HiRes=time -e '
            my ($port, $file) = @ARGV;
            my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
                or exit 1;
            print $s "SUBSCRIBE +switch-master\r\n";
            while (my $l = <$s>) {
                next unless $l =~ /^\S+ [\d.]+ \d+ [\d.]+ (\d+)\r$/;
                open my $fh, ">>", $file or exit 1;
                printf $fh "%.4f %d\n", time, $1;
                close $fh;
            }' "$s" "$work/switches" &
        helper_pids+=($!)
    done
}

# the first +switch-master after $1; the last one after $1
switch_after() {
    awk -v t="$1" '$1 > t { print $1 }' "$work/switches" | sort -n | head -n1
}
switch_last() {
    awk -v t="$1" '$1 > t { print $1 }' "$work/switches" | sort -n | tail -n1
}

if [ "$mode" = sentinel ]; then
    start_node "$rport"
    replica_ports=("$(free_port)" "$(free_port)")
    for p in "${replica_ports[@]}"; do start_node "$p" "$rport"; done
    for _ in 1 2 3; do start_sentinel "$(free_port)"; done
    settle
    watch_switches
else
    start_redis
fi

rcli() { redis-cli -p "$rport" "$@" >/dev/null; }

# ten user keys, each granted GET on clientes
prefix=chaos:
tokens=()
for i in $(seq 1 10); do
    t=chaos-cached-token-$i
    d=$(printf '%s' "$t" | sha256sum | cut -d' ' -f1)
    rcli HSET "${prefix}key:$d" id "$i" nick "chaos$i" enabled 1 \
        fullaccess 0 creationdate 2026-01-01 res:clientes get
    rcli SET "${prefix}keyid:$i" "$d"
    tokens+=("$t")
done

if [ "$mode" = sentinel ]; then
    list=$(printf '127.0.0.1:%s,' "${sentinels[@]}")
    redis_conf="fsauth_redis sentinel=${list%,} master=$set_name"
    redis_conf+=" prefix=$prefix timeout=${timeout_ms}ms"
    redis_conf+=" connect_timeout=${timeout_ms}ms;"
    # the keys on both replicas before the first failover
    for p in "${replica_ports[@]}"; do
        for _ in $(seq 200); do
            [ "$(redis-cli -p "$p" EXISTS "${prefix}keyid:10")" = 1 ] && break
            sleep 0.01
        done
    done
else
    redis_conf="fsauth_redis 127.0.0.1:$rport prefix=$prefix"
    redis_conf+=" timeout=${timeout_ms}ms;"
fi

cat > "$work/nginx/conf/nginx.conf" <<EOF
load_module $module;
worker_processes 2;
daemon on;
master_process on;
error_log $work/nginx/logs/error.log info;
pid $work/nginx/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    keepalive_requests 1000000;

    $redis_conf
    fsauth_cache zone=chaos:1m ttl=2s stale=10m;

    server {
        listen 127.0.0.1:$nport reuseport;
        # a static file: "return" would run before the access phase
        location /api/ {
            fsauth on;
            fsauth_ban off;
            fsauth_activity off;
            root $work/nginx/html;
            try_files /ok.txt =404;
        }
    }
}
EOF

"$nginx" -p "$work/nginx/" -c "$work/nginx/conf/nginx.conf" \
    -e "$work/nginx/logs/error.log"
master=$(cat "$work/nginx/logs/nginx.pid")
sleep 0.5

workers() { pgrep -P "$master" | sort | tr '\n' ' '; }
workers_before=$(workers)

# warm the cache: every cached key must be granted now
perl -MIO::Socket::INET -e '
    my $port = shift;
    for my $t (@ARGV) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die;
        print $s "GET /api/3/clientes HTTP/1.0\r\nX-Auth-Token: $t\r\n\r\n";
        my $l = <$s>;
        die "chaos: warm-up: $t: $l" unless $l =~ m{^HTTP/1\.1 200};
    }' "$nport" "${tokens[@]}"

# per worker: "pid fds vmrss_kb rssanon_kb"
sample() {
    local pid
    for pid in $(workers); do
        printf '%s %s %s %s\n' "$pid" \
            "$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)" \
            "$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")" \
            "$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status")"
    done
}

if [ "$mode" = sentinel ]; then
    # an upper bound: the load stops when the cycles are done (a failover
    # takes about 2.5 s and the settling 2 to 3 s more, longer in TILT)
    total=$(( 2 + cycles * (10 + up) + 60 ))
else
    total=$(( 2 + cycles * (down + up) + 2 ))
fi

# the prober: one line per request, "start latency status kind"
cat > "$work/probe.pl" <<'EOF'
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use POSIX ();

my ($port, $seconds, $procs, $out, @cached) = @ARGV;
my @pids;
for my $p (1 .. $procs) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $fh, '>', "$out/probe.$p" or POSIX::_exit(1);
        my $end = time + $seconds;
        my ($s, $n) = (undef, 0);
        while (time < $end && !-e "$out/stop") {
            $n++;
            my ($kind, $tok) = $n % 2
                ? ('cached', $cached[$n % @cached])
                : ('new', "chaos-never-seen-$$-$n");
            $s //= IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                         Timeout => 2);
            my $t0 = time;
            my $st = 0;
            if ($s) {
                my $ok = eval {
                    local $SIG{ALRM} = sub { die "timeout\n" };
                    alarm 3;
                    print $s "GET /api/3/clientes HTTP/1.1\r\nHost: x\r\n"
                             . "X-Auth-Token: $tok\r\n\r\n";
                    my $buf = '';
                    while ($buf !~ /\r\n\r\n/) {
                        sysread($s, $buf, 4096, length $buf) or die "eof\n";
                    }
                    my ($len) = $buf =~ /^Content-Length: (\d+)/mi;
                    my ($head) = $buf =~ /\A(.*?\r\n\r\n)/s;
                    while (length($buf) < length($head) + ($len // 0)) {
                        sysread($s, $buf, 4096, length $buf) or die "eof\n";
                    }
                    ($st) = $buf =~ m{^HTTP/1\.1 (\d+)};
                    alarm 0;
                    1;
                };
                undef $s unless $ok;
            }
            printf $fh "%.4f %.4f %d %s\n", $t0, time - $t0, $st, $kind;
            sleep 0.002;
        }
        close $fh;
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;
EOF

perl "$work/probe.pl" "$nport" "$total" 4 "$work/out" "${tokens[@]}" &
probe_pid=$!

if command -v wrk >/dev/null; then
    wrk -t1 -c8 -d"${total}s" --latency -H "X-Auth-Token: ${tokens[0]}" \
        "http://127.0.0.1:$nport/api/3/clientes" > "$work/wrk.txt" 2>&1 &
    wrk_pid=$!
fi

sleep 2
: > "$work/events"
samples=()

# sentinel mode: SIGKILL the primary, wait for the promotion, bring the
# old primary back as a replica of the new one; the event line holds the
# first and the last +switch-master of the cycle
sentinel_cycle() {
    local c=$1 old=$rport t_kill t_first= new=
    t_kill=$(now)
    kill -9 "${node_pid[$old]}"
    wait "${node_pid[$old]}" 2>/dev/null || true
    unset "node_pid[$old]"
    for _ in $(seq 600); do
        t_first=$(switch_after "$t_kill")
        [ -n "$t_first" ] && break
        sleep 0.05
    done
    if [ -z "$t_first" ]; then
        echo "chaos: cycle $c: no +switch-master within 30 s" >&2
        tail -n 20 "$work"/sentinel*/log >&2
        exit 2
    fi
    for _ in $(seq 600); do
        new=$(named_primary "${sentinels[0]}")
        [ -n "$new" ] && [ "$new" != "$old" ] && break
        sleep 0.05
    done
    start_node "$old" "$new"
    settle
    echo "$c $t_kill $t_first $(switch_last "$t_kill")" >> "$work/events"
}

for c in $(seq 1 "$cycles"); do
    if [ "$mode" = sentinel ]; then
        sentinel_cycle "$c"
    else
        t_kill=$(now)
        kill -9 "$redis_pid"
        wait "$redis_pid" 2>/dev/null || true
        sleep "$down"
        t_start=$(now)
        start_redis
        t_ready=$(now)
        echo "$c $t_kill $t_start $t_ready" >> "$work/events"
    fi
    sleep "$up"
    sample > "$work/sample.$c"
done

# the load ends with the cycles
touch "$work/out/stop"
[ -n "$wrk_pid" ] && kill -INT "$wrk_pid" 2>/dev/null
wait "$probe_pid" || true
probe_pid=
[ -n "$wrk_pid" ] && { wait "$wrk_pid" || true; wrk_pid=; }
sleep 0.5

workers_after=$(workers)

# ---------------------------------------------------------------------
# analysis
# ---------------------------------------------------------------------

cat "$work"/out/probe.* > "$work/requests"

perl - "$work" "$timeout_ms" "$margin_ms" "$rss_tol_kb" "$cycles" \
        "$workers_before" "$workers_after" "$mode" "$SECONDS" <<'EOF'
use strict;
use warnings;

my ($work, $timeout_ms, $margin_ms, $rss_tol, $cycles, $wb, $wa, $mode,
    $secs) = @ARGV;
my $limit = ($timeout_ms + $margin_ms) / 1000;
my @viol;

# per cycle: number, kill, Redis started / first +switch-master, Redis
# answering / last +switch-master
my @events = map { [ split ] } do {
    open my $fh, '<', "$work/events" or die; <$fh>
};
my @req = map { [ split ] } do {
    open my $fh, '<', "$work/requests" or die; <$fh>
};

# sentinel mode: a promotion is the first sentinel's +switch-master to
# a new primary (the others announce it up to a second later); the outage
# lasts until the cycle's last promotion before the next kill (the
# sentinels may fail over twice in a row), whenever it came
if ($mode eq 'sentinel') {
    my @sw = sort { $a->[0] <=> $b->[0] } map { [ split ] } do {
        open my $fh, '<', "$work/switches" or die; <$fh>
    };
    for my $i (0 .. $#events) {
        my $next = $i < $#events ? $events[$i + 1][1] : 9e9;
        my $to = 0;
        for my $s (@sw) {
            next unless $s->[0] > $events[$i][1] && $s->[0] < $next
                        && $s->[1] != $to;
            $to = $s->[1];
            $events[$i][3] = $s->[0];
            $events[$i][4]++;
        }
    }
}
my ($what, $back) = $mode eq 'sentinel'
    ? ('no primary', 'the promotion')
    : ('down', 'Redis answered');

# is time t within an outage window (kill .. ready + 1 s)?
sub outage_window {
    my ($t) = @_;
    for my $e (@events) {
        my (undef, $kill, undef, $ready) = @$e;
        return $e if $t >= $kill - $timeout_ms / 1000 - 0.05
                     && $t <= $ready + 1.0;
    }
    return undef;
}

my (%count, $maxlat, @late_recovery);
$maxlat = 0;
for my $r (@req) {
    my ($t0, $lat, $st, $kind) = @$r;
    $count{"$kind $st"}++;
    $maxlat = $lat if $lat > $maxlat;
    push @viol, sprintf("request at %.3f (%s) took %.3f s > %.3f s",
                        $t0, $kind, $lat, $limit) if $lat > $limit;
    if ($kind eq 'cached' && $st != 200) {
        push @viol, sprintf("cached key got %s at %.3f", $st, $t0);
    }
    if ($kind eq 'new' && $st == 503 && !outage_window($t0)) {
        push @viol, sprintf("503 at %.3f, outside any outage window", $t0);
    }
    if ($kind eq 'new' && $st != 503 && $st != 401) {
        push @viol, sprintf("never-seen token got %s at %.3f", $st, $t0);
    }
}

# recovery: per cycle, the first 401 for a never-seen token after Redis
# answered again, and the last 503
my @recovery;
for my $e (@events) {
    my ($c, $kill, $start, $ready) = @$e;
    my ($first401) = sort { $a <=> $b }
        map { $_->[0] } grep { $_->[3] eq 'new' && $_->[2] == 401
                               && $_->[0] >= $ready } @req;
    my ($last503) = sort { $b <=> $a }
        map { $_->[0] } grep { $_->[3] eq 'new' && $_->[2] == 503
                               && $_->[0] >= $kill - 0.3
                               && $_->[0] <= $ready + 2 } @req;
    my $n503 = grep { $_->[3] eq 'new' && $_->[2] == 503
                      && $_->[0] >= $kill && $_->[0] <= $start } @req;
    my $rec = defined $first401 ? $first401 - $ready : undef;
    push @recovery, sprintf("cycle %d: %s %.2f s, %d 503s meanwhile, "
        . "first 401 %.3f s after %s, last 503 %s", $c, $what,
        $start - $kill, $n503, $rec // -1, $back,
        defined $last503 ? sprintf("%.3f s after", $last503 - $ready)
                         : 'none');
    push @recovery, sprintf("cycle %d: the sentinels failed over %d "
        . "times, the last %.2f s after the kill", $c, $e->[4],
        $ready - $kill) if ($e->[4] // 1) > 1;
    push @viol, "cycle $c: no 503 at all while $what"
        unless $n503;
    push @viol, "cycle $c: no recovery seen" unless defined $rec;
    push @viol, sprintf("cycle %d: recovery took %.3f s", $c, $rec)
        if defined $rec && $rec > 1.0;
}

# workers
push @viol, "worker pids changed: before [$wb], after [$wa]" if $wb ne $wa;
my $log = do {
    local $/;
    open my $fh, '<', "$work/nginx/logs/error.log";
    <$fh>;
} // '';
push @viol, 'error log: exited on signal' if $log =~ /exited on signal/;
push @viol, "error log: $1" if $log =~ /(\[(?:alert|crit|emerg)\][^\n]*)/;

# fds and memory, after cycle 1 and after the last one
my %s1 = map { my @f = split; $f[0] => \@f } do {
    open my $fh, '<', "$work/sample.1" or die; <$fh>
};
my %sn = map { my @f = split; $f[0] => \@f } do {
    open my $fh, '<', "$work/sample.$cycles" or die; <$fh>
};
my @mem;
for my $pid (sort keys %s1) {
    my $a = $s1{$pid};
    my $b = $sn{$pid} or next;
    push @mem, sprintf("worker %s: fds %d -> %d, VmRSS %d -> %d kB, "
        . "RssAnon %d -> %d kB", $pid, $a->[1], $b->[1], $a->[2], $b->[2],
        $a->[3], $b->[3]);
    push @viol, "worker $pid: fds grew $a->[1] -> $b->[1]"
        if $b->[1] > $a->[1] + 2;
    push @viol, "worker $pid: VmRSS grew $a->[2] -> $b->[2] kB"
        if $b->[2] > $a->[2] + $rss_tol;
    push @viol, "worker $pid: RssAnon grew $a->[3] -> $b->[3] kB"
        if $b->[3] > $a->[3] + 512;
}

# wrk
my $wrk = '';
if (open my $fh, '<', "$work/wrk.txt") {
    local $/;
    $wrk = <$fh>;
    my ($max, $unit) = $wrk =~ /^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\b/m;
    if (defined $max) {
        my $sec = $max / ($unit eq 'us' ? 1e6 : $unit eq 'ms' ? 1e3 : 1);
        push @viol, "wrk: latency max $max$unit > $limit s" if $sec > $limit;
    }
    push @viol, "wrk: $1 non-2xx responses"
        if $wrk =~ /Non-2xx or 3xx responses: (\d+)/;
    push @viol, "wrk: socket errors: $1"
        if $wrk =~ /Socket errors: ([^\n]*)/
           && $1 !~ /^connect 0, read 0, write 0, timeout 0/;
}

print "\n== fsauth chaos summary ($mode)\n";
printf "probe requests: %d (%s)\n", scalar @req,
    join(', ', map { "$_: $count{$_}" } sort keys %count);
printf "probe latency max: %.3f s (limit %.3f s)\n", $maxlat, $limit;
print "$_\n" for @recovery;
print "$_\n" for @mem;
if ($wrk) {
    my ($reqs) = $wrk =~ /(\d+) requests in/;
    my ($lat) = $wrk =~ /^(\s+Latency[^\n]*)/m;
    printf "wrk: %s requests;%s\n", $reqs // '?', $lat // '';
}
print "workers: $wb\n";
print "run: $secs s\n";
if (@viol) {
    print "\nVIOLATIONS:\n";
    print "  $_\n" for @viol[0 .. ($#viol < 30 ? $#viol : 29)];
    print "  ... and ", @viol - 30, " more\n" if @viol > 30;
    exit 1;
}
print "\nchaos: OK\n";
exit 0;
EOF
