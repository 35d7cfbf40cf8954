#!/bin/bash
# Requests/s and p99 latency under wrk: the same nginx without fsauth
# ("off"), with fsauth answering from its cache ("hit"), and the Lua peer
# answering from its shared dict ("lua-hit"), in interleaved rounds.
#
#   bench/wrk.sh
#
# Each configuration is its own nginx (master + worker_processes 1), all
# started once, except "off", which is a second server of the "hit" nginx
# when both are measured; every round runs wrk against each in turn (the order
# rotates from round to round), so that noise from other work on the
# machine spreads over all of them.  With 2 or more cores the nginx
# workers are pinned to CPU 0 and wrk to CPU 1.  The ratio of each round
# is taken against the "off" run of the same round.
#
# The machine may be shared: besides wall-clock requests/s, each run also
# reports requests per CPU-second of the nginx worker (user + system time
# from /proc, which time taken by other processes does not inflate).
#
# The machine may vary by 10 % from one run to the next: many short rounds
# and the median of the per-round ratios keep the figure repeatable.
#
# With perf (linux-perf) usable, one more run of each configuration is
# sampled to show where the worker's CPU time goes (see below).
#
# Environment: ROUNDS (21), DURATION (2s), PERF_SECS (6), THREADS (2),
# CONNS (32),
# WRK_CONFIGS ("off hit lua-hit"), BENCH_OUT (bench/results).
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-21}
DURATION=${DURATION:-2s}
PERF_SECS=${PERF_SECS:-6}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
read -r -a cfgs <<<"${WRK_CONFIGS:-off hit lua-hit}"
out=${BENCH_OUT:-$bench/results}

bench_setup
start_redis
seed 10
mkdir -p "$out"

token=$(perl "$bench/tokens.pl" user 1)

nginx_pin=() wrk_pin=()
if [ "$(nproc)" -ge 2 ]; then
    nginx_pin=(taskset -c 0)
    wrk_pin=(taskset -c 1)
fi

# "off" and "hit" are two servers of the same nginx, so that both are
# served by the same worker process (same memory layout, same CPU): the
# ratio then compares the check, not two processes.
both=0
case " ${cfgs[*]} " in *" off "*) case " ${cfgs[*]} " in *" hit "*) both=1 ;;
esac ;; esac

declare -A port worker
[ $both = 1 ] && port[off]=$(free_port)
for c in "${cfgs[@]}"; do
    if [ $both = 1 ] && [ "$c" = off ]; then
        continue
    fi
    case $c in
    off) v=off ;;
    hit) v=fsauth ;;
    lua-hit) v=lua ;;
    plain) v=plain ;;
    *) log "wrk: unknown configuration $c"; exit 1 ;;
    esac
    port[$c]=$(free_port)
    extra=
    if [ $both = 1 ] && [ "$c" = hit ]; then
        extra="server {
        listen 127.0.0.1:${port[off]};
        root $work/www;
        location /api/ { fsauth off; }
    }"
    fi
    BENCH_HTTP_EXTRA=$extra write_conf "$work/wrk-$c" "${port[$c]}" "$v" \
        master 64m
    start_nginx "$work/wrk-$c" "${nginx_pin[@]}"
    wait_port "${port[$c]}" "$nginx_pid"
    worker[$c]=$(pgrep -P "$nginx_pid" | head -1)
    if [ $both = 1 ] && [ "$c" = hit ]; then
        worker[off]=${worker[hit]}
    fi
done

# every request must be a 200: checks the configuration, fills caches
for c in "${cfgs[@]}"; do
    perl "$bench/client.pl" --port "${port[$c]}" --count 200 \
        --token "$token" --expect 200 >/dev/null \
        || { log "wrk: $c does not answer 200"; exit 1; }
done

# CPU time of a process so far, in clock ticks (utime + stime)
cputicks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# run_wrk CONFIG DURATION: prints "rps p99_us requests_per_cpu_second"
run_wrk() {
    local f=$work/wrk-$1.out t0 t1
    t0=$(cputicks "${worker[$1]}")
    "${wrk_pin[@]}" wrk --latency -t "$THREADS" -c "$CONNS" -d "$2" \
        -H "X-Auth-Token: $token" \
        "http://127.0.0.1:${port[$1]}/api/3/clientes" > "$f"
    t1=$(cputicks "${worker[$1]}")
    if grep -q 'Non-2xx' "$f"; then
        log "wrk: $1 answered with errors:"; cat "$f" >&2; exit 1
    fi
    awk -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
        /^Requests\/sec:/ { rps = $2 }
        / requests in / { n = $1 }
        $1 == "99%" {
            v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
            p = (u == "us") ? v : (u == "ms") ? v * 1000 : v * 1000000
        }
        END { printf "%.0f %.0f %.0f\n", rps, p, ticks ? n * hz / ticks : 0 }
    ' "$f"
}

for c in "${cfgs[@]}"; do
    run_wrk "$c" 1s >/dev/null      # warm-up (JIT, connections)
done

declare -A rps p99 cpu
n=${#cfgs[@]}
for r in $(seq 1 "$ROUNDS"); do
    for i in $(seq 0 $((n - 1))); do
        c=${cfgs[$(( (i + r - 1) % n ))]}
        read -r rps[$c,$r] p99[$c,$r] cpu[$c,$r] \
            < <(run_wrk "$c" "$DURATION")
        log "wrk: round $r $c: ${rps[$c,$r]} req/s, p99 ${p99[$c,$r]} us," \
            "${cpu[$c,$r]} req per worker CPU-second"
    done
done

# Where the worker's CPU time goes, by shared object: perf samples the
# worker (cpu-clock, no hardware counters needed) during one more wrk run
# of each configuration.  The module's share of the "hit" worker, with
# libcrypto (SHA-256) and what libc does more than in "off", is what a
# cache hit costs on the real CPU, free of the run-to-run noise above.
declare -A share
perf_ok=0
if command -v perf >/dev/null \
   && perf record -q -e cpu-clock -o "$work/perf-probe.data" true \
      >/dev/null 2>&1
then
    perf_ok=1
    for c in "${cfgs[@]}"; do
        perf record -q -e cpu-clock -F 10000 -o "$work/perf-$c.data" \
            -p "${worker[$c]}" -- sleep "$PERF_SECS" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.5
        run_wrk "$c" "$((PERF_SECS - 2))s" >/dev/null
        wait "$perf_pid" || true
        # "dso percent" lines
        perf report -i "$work/perf-$c.data" --stdio --sort dso -g none \
            2>/dev/null \
            | awk '$1 ~ /%$/ { sub(/%/, "", $1); print $2, $1 }' \
            > "$work/perf-$c.dso"
        for d in kernel nginx libc module crypto lua; do
            share[$c,$d]=$(awk -v d="$d" '
                d == "kernel" && $1 ~ /kernel/ { s += $2 }
                d == "nginx" && $1 == "nginx" { s += $2 }
                d == "libc" && $1 ~ /^libc\.so/ { s += $2 }
                d == "module" && $1 ~ /fsauth/ { s += $2 }
                d == "crypto" && $1 ~ /^libcrypto/ { s += $2 }
                d == "lua" && $1 ~ /lua|luajit/ { s += $2 }
                END { printf "%.2f", s }' "$work/perf-$c.dso")
        done
        log "wrk: perf $c: kernel ${share[$c,kernel]} %," \
            "nginx ${share[$c,nginx]} %, libc ${share[$c,libc]} %," \
            "fsauth ${share[$c,module]} %, libcrypto ${share[$c,crypto]} %"
    done
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b ? a / b : 0 }'; }

# stats FORMAT V...: "min median max", each printed with FORMAT
stats() {
    local f=$1
    shift
    printf '%s\n' "$@" | sort -g | awk -v f="$f" '
        { v[NR] = $1 }
        END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf f " " f " " f "\n", v[1], m, v[NR]
        }'
}

{
    echo "### Requests/s under wrk ($ROUNDS rounds x ${#cfgs[@]} configs x" \
         "$DURATION, $THREADS threads, $CONNS connections, keep-alive)"
    echo
    machine_info | sed 's/^/    /'
    echo "    pinning: nginx ${nginx_pin[*]:-none}, wrk ${wrk_pin[*]:-none};" \
         "nginx worker_processes 1"
    echo
    echo "All figures min / median / max over the rounds; ratios are taken"
    echo "against the \"off\" run of the same round."
    echo
    echo "| config | req/s | ratio to off | p99 latency (us) | req per worker CPU-second | ratio to off |"
    echo "|---|---|---|---|---|---|"
    for c in "${cfgs[@]}"; do
        rs=() ps=() cs=() qs=() qc=()
        for r in $(seq 1 "$ROUNDS"); do
            rs+=("${rps[$c,$r]}")
            ps+=("${p99[$c,$r]}")
            cs+=("${cpu[$c,$r]}")
            if [ -n "${rps[off,$r]:-}" ]; then
                qs+=("$(ratio "${rps[$c,$r]}" "${rps[off,$r]}")")
                qc+=("$(ratio "${cpu[$c,$r]}" "${cpu[off,$r]}")")
            fi
        done
        q="-" qq="-"
        if [ ${#qs[@]} -gt 0 ]; then
            q=$(stats %.3f "${qs[@]}" | tr ' ' /)
            qq=$(stats %.3f "${qc[@]}" | tr ' ' /)
        fi
        echo "| $c | $(stats %.0f "${rs[@]}" | tr ' ' /) | $q |" \
             "$(stats %.0f "${ps[@]}" | tr ' ' /) |" \
             "$(stats %.0f "${cs[@]}" | tr ' ' /) | $qq |"
    done
    echo
    if [ "$perf_ok" = 1 ]; then
        echo "Share of the nginx worker's CPU time by object (perf," \
             "cpu-clock samples, one ${PERF_SECS}s-sampled run each):"
        echo
        echo "| config | kernel | nginx | libc | fsauth module | libcrypto | Lua |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        for c in "${cfgs[@]}"; do
            echo "| $c | ${share[$c,kernel]} % | ${share[$c,nginx]} % |" \
                 "${share[$c,libc]} % | ${share[$c,module]} % |" \
                 "${share[$c,crypto]} % | ${share[$c,lua]} % |"
        done
        echo
        if [ -n "${share[hit,module]:-}" ] && [ -n "${share[off,libc]:-}" ]
        then
            read -r x y < <(awk -v m="${share[hit,module]}" \
                -v c="${share[hit,crypto]}" -v l="${share[hit,libc]}" \
                -v lo="${share[off,libc]}" -v mo="${share[off,module]}" \
                'BEGIN { x = m + c + (l > lo ? l - lo : 0) - mo
                         printf "%.1f %.1f\n", x, 100 - x }')
            echo "- cache hit: fsauth, libcrypto and the libc work beyond" \
                 "\"off\" take $x % more of the worker's CPU time than in" \
                 "\"off\" (where the handler only declines): a hit keeps" \
                 "about $y % of the requests/s, by this measure"
        fi
        echo
    fi
    if [ -n "${rps[off,1]:-}" ] && [ -n "${rps[hit,1]:-}" ]; then
        for kind in rps cpu; do
            qs=()
            for r in $(seq 1 "$ROUNDS"); do
                if [ $kind = rps ]; then
                    qs+=("$(ratio "${rps[hit,$r]}" "${rps[off,$r]}")")
                else
                    qs+=("$(ratio "${cpu[hit,$r]}" "${cpu[off,$r]}")")
                fi
            done
            med=$(stats %.4f "${qs[@]}" | awk '{ print $2 }')
            res=$(awk -v m="$med" \
                'BEGIN { print (m >= 0.95) ? "met" : "MISSED" }')
            what="requests/s"
            [ $kind = cpu ] && what="requests per worker CPU-second"
            echo "- cache hit keeps $(awk -v m="$med" \
                 'BEGIN { printf "%.1f", m * 100 }') % of the $what" \
                 "without fsauth (median of $ROUNDS rounds; limit 95 %):" \
                 "**$res**"
        done
    fi
} | tee "$out/wrk.md"
