#!/bin/bash
# How the costs grow with the number of keys in Redis: for each key-set
# size and cache zone (a lua_shared_dict of the same size for the Lua
# peer), one warm-up pass, then a uniform random mix of the keys.
#
#   bench/scale.sh
#
# For each run KEYS:ZONE and implementation, nginx (one process,
# master_process off) starts under callgrind with instrumentation off.
# The warm-up pass sends every key once, in a shuffled order, over
# WARM_CONNS connections at once; then counting is turned on
# (callgrind_control) and the uniform mix is sent over one connection:
# M requests, a dump, 2M more, a dump (each dump counts what ran since
# the one before).  The second dump minus the first, over M, is the cost
# of a request (what does not grow with the requests cancels out, as in
# callgrind.sh); the Redis counters over the last 2M requests give the miss rate (HGETALL per request) and the activity
# writes (HSET per request: the HSETs the batched EVAL runs, one per key
# and interval).  The entry ttl is TTL seconds (an hour), longer than the
# warm-up takes, as an operator with this many keys would set it: a 60 s
# ttl would expire the first half of a 1,000,000-key pass before the end
# of it.  fsauth's activity interval is an hour too, so that the measured
# requests find every key's activity record written by the warm-up, and
# the figure is a hit's, the same from run to run (with 60 s, how many
# records fall due depends on how long the warm-up took).  A run
# KEYS:ZONE:due uses the default 60 s and waits 61 s after the warm-up:
# then every measured request on a key not seen since writes its record,
# the dearest case.  Keys are seeded with redis-cli --pipe (1,000,000 keys: about
# 500 MB in redis-server, 10 s).  The 1,000,000-key runs take about 5
# minutes each for fsauth, more for the Lua peer.
#
# Environment: SCALE_RUNS ("10:10m 10000:10m 100000:32m 1000000:10m
# 1000000:256m 1000000:256m:due"; the due run is fsauth's only), M
# (2000), SCALE_IMPLS ("fsauth lua"), TTL (3600), WARM_CONNS (8),
# BENCH_OUT (bench/results).
source "$(dirname "$0")/lib.sh"

read -r -a runs <<<"${SCALE_RUNS:-10:10m 10000:10m 100000:32m 1000000:10m 1000000:256m 1000000:256m:due}"
read -r -a impls <<<"${SCALE_IMPLS:-fsauth lua}"
M=${M:-2000}
WARM_CONNS=${WARM_CONNS:-8}
export BENCH_TTL=${TTL:-3600}
out=${BENCH_OUT:-$bench/results}

bench_setup
start_redis
mkdir -p "$out"

# the number of cached entries, read once the requests are done
extra_fsauth='
        location = /bench-fsauth-metrics { fsauth_metrics; }'
extra_lua='
        location = /bench-peer-keys {
            content_by_lua_block {
                ngx.say(#ngx.shared.fsauth_peer:get_keys(0))
            }
        }'
cached() {
    local url=http://127.0.0.1:$port
    case $1 in
    fsauth) curl -s "$url/bench-fsauth-metrics" \
                | sed -n 's/^fsauth_cache_keys \([0-9]*\)/\1/p' ;;
    lua) curl -s "$url/bench-peer-keys" ;;
    off) echo - ;;
    esac
}

# calls of one command (0 if never called)
calls() {
    rcli info commandstats | tr -d '\r' \
        | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | grep . || echo 0
}

# send FILE COUNT: the tokens of FILE over one connection
send() {
    perl "$bench/client.pl" --port "$port" --count "$2" --tokens "$1" \
        --expect 200 > "$dir/client.log" || {
        log "bench: $dir: unexpected answers: $(cat "$dir/client.log")"
        tail -5 "$dir/logs/error.log" >&2
        stop_pid "$nginx_pid"
        exit 1
    }
}

# warm FILE: the whole file, split over WARM_CONNS connections at once
warm() {
    local n i pids=()
    n=$(wc -l < "$1")
    split -n "l/$WARM_CONNS" -d "$1" "$dir/warm."
    for i in "$dir"/warm.*; do
        perl "$bench/client.pl" --port "$port" --count "$(wc -l < "$i")" \
            --tokens "$i" --expect 200 > "$i.log" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do
        wait "$i" || {
            log "bench: $dir: warm-up: unexpected answers"
            cat "$dir"/warm.*.log >&2
            stop_pid "$nginx_pid"
            exit 1
        }
    done
    log "scale: warm-up of $n requests done"
}

# measure IMPL KEYS ZONE [due]: sets res to "cached hit% HGETALL/req HSET/req
# instructions/req" for the uniform mix after one warm-up pass
measure() {
    local impl=$1 k=$2 zone=$3 due=${4:-} extra=$extra_fsauth variant=$1
    local ir1 ir2 hg0 hs0 hg hs t0 act='fsauth_activity on interval=1h;'
    [ "$impl" = lua ] && extra=$extra_lua act=
    [ "$impl" = off ] && extra=
    [ -n "$due" ] && act=
    dir=$work/scale-$impl-$k-$zone${due:+-due}
    BENCH_HTTP_EXTRA=$act BENCH_SERVER_EXTRA=$extra \
        cg_start "$dir" "$variant" "$zone" ""
    t0=$(date +%s)
    [ "$impl" != off ] && warm "$work/pass-$k.tokens"
    log "scale: $k keys, $impl, zone $zone: warm-up $(( $(date +%s) - t0 )) s"
    if [ -n "$due" ]; then
        log "scale: waiting for the activity interval (61 s)"
        sleep 61
    fi
    cg_on
    send "$work/uniform-$k.tokens" "$M"
    ir1=$(cg_dump "$dir")
    hg0=$(calls hgetall) hs0=$(calls hset)
    # the next 2M tokens of the same mix (client.pl starts at the top)
    tail -n +"$((M + 1))" "$work/uniform-$k.tokens" > "$dir/second.tokens"
    send "$dir/second.tokens" "$((2 * M))"
    ir2=$(cg_dump "$dir")
    hg=$(( $(calls hgetall) - hg0 )) hs=$(( $(calls hset) - hs0 ))
    local c
    c=$(cached "$impl")
    stop_pid "$nginx_pid"
    res=$(awk -v c="$c" -v hg="$hg" -v hs="$hs" -v m="$M" -v a="$ir1" \
        -v b="$ir2" 'BEGIN { printf "%s %.2f %.4f %.3f %d\n", c,
                 (1 - hg / (2 * m)) * 100, hg / (2 * m), hs / (2 * m),
                 (b - a) / m }')
}

# baseline: the same nginx without fsauth, the same method
seed 1
perl "$bench/tokens.pl" uniform $((3 * M)) 1 1 > "$work/uniform-1.tokens"
measure off 1 10m
read -r _ _ _ _ base <<<"$res"
log "scale: baseline (fsauth off) $base instructions/request"

rows=()
bars=()
last=
for r in "${runs[@]}"; do
    IFS=: read -r k zone due <<<"$r"
    if [ "$k" != "$last" ]; then
        rcli flushall >/dev/null
        log "scale: seeding $k keys"
        seed "$k"
        perl "$bench/tokens.pl" pass "$k" 7 > "$work/pass-$k.tokens"
        perl "$bench/tokens.pl" uniform $((3 * M)) "$k" "$k" \
            > "$work/uniform-$k.tokens"
        last=$k
    fi
    for impl in "${impls[@]}"; do
        [ -n "$due" ] && [ "$impl" != fsauth ] && continue
        measure "$impl" "$k" "$zone" "$due"
        read -r c hit miss act per <<<"$res"
        log "scale: $k keys, $impl, zone $zone $due: hit $hit %, $per/request"
        rows+=("| $k | $zone | $impl${due:+, activity due} | $c | $hit % | $miss | $act | $per | $((per - base)) |")
        if [ "$k" = 1000000 ] && [ "$zone" = 256m ] && [ -z "$due" ] \
            && [ "$impl" = fsauth ]; then
            verdict() { awk -v n="$1" -v x="$2" -v l="$3" -v ge="$4" 'BEGIN {
                ok = ge ? x >= l : x <= l
                printf "- %s: %s (limit %s%s): **%s**\n", n, x,
                       ge ? ">= " : "", l, ok ? "met" : "MISSED" }'; }
            bars+=("$(verdict "1,000,000 keys, 256m zone, hit rate %" "$hit" 99 1)")
            bars+=("$(verdict "1,000,000 keys, 256m zone, extra instructions/request" "$((per - base))" 2500 0)")
        fi
    done
done

{
    echo "### Scaling with the number of keys (one warm-up pass, then a" \
         "uniform random key mix)"
    echo
    machine_info | sed 's/^/    /'
    echo "    entry ttl ${BENCH_TTL}s, fsauth's activity interval 1h (60 s" \
         "where its records are due); $M + $((2 * M)) measured requests" \
         "after the warm-up pass"
    echo "    baseline (same nginx, fsauth off): $base instructions/request"
    echo
    echo "| keys in Redis | zone | impl | entries cached at the end | hit rate | HGETALL/request | HSET/request (activity) | instructions/request | extra over baseline |"
    echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    if [ "${#bars[@]}" -gt 0 ]; then
        echo
        printf '%s\n' "${bars[@]}"
    fi
} | tee "$out/scale.md"
