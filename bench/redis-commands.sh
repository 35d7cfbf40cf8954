#!/bin/bash
# Redis commands per request (INFO commandstats before and after each
# workload), for fsauth and for the Lua peer.
#
#   bench/redis-commands.sh
#
# Workloads, each on a freshly started nginx (cold cache):
#   hit    N requests with one user key (the first is the only miss)
#   miss   N requests, every one with another existing key
#   flood  FLOOD_DISTINCT random unknown tokens, each FLOOD_REPEAT times,
#          shuffled: a bound holds if HGETALL <= distinct tokens x
#          (1 + elapsed / negative_ttl)
#   flood-small
#          the same flood with a 1 MB zone (SMALL_ZONE), whose negative
#          share (a quarter of the zone, 128 bytes an entry: 2048 entries
#          for 1m) is about the set of distinct tokens
#   burst  wrk, CONNS connections for 1 s, all with one key that is not
#          cached yet: concurrent misses of one key should share a lookup
# "all" counts every command but INFO; for fsauth it includes the
# activity writes (one EVAL per batch of up to 64 records, whose script
# runs one HSET <prefix>activity:<id> per key and interval; Redis counts
# those HSETs too) and the kill-switch poll (HGET <prefix>api, once a
# second per worker).  The ban is off (fsauth_ban off) so that the
# flood reaches the negative cache instead of being refused with 429.
#
# Environment: N (2000), FLOOD_DISTINCT (2000), FLOOD_REPEAT (5),
# NEGATIVE_TTL (10, seconds), CONNS (32), ZONE (64m), SMALL_ZONE (1m),
# BENCH_OUT (bench/results).
source "$(dirname "$0")/lib.sh"

N=${N:-2000}
FLOOD_DISTINCT=${FLOOD_DISTINCT:-2000}
FLOOD_REPEAT=${FLOOD_REPEAT:-5}
NEGATIVE_TTL=${NEGATIVE_TTL:-10}
CONNS=${CONNS:-32}
ZONE=${ZONE:-64m}
SMALL_ZONE=${SMALL_ZONE:-1m}
out=${BENCH_OUT:-$bench/results}

bench_setup
start_redis
keys=$((3 * N + 10))
seed "$keys"
mkdir -p "$out"

# commandstats as "name calls" lines, INFO excluded
snapshot() {
    rcli info commandstats | tr -d '\r' \
        | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p' \
        | grep -v '^info '
}

# delta BEFORE AFTER: "hgetall all breakdown"
delta() {
    awk 'NR == FNR { a[$1] = $2; next }
         { d = $2 - a[$1]; if (d > 0) { all += d; b = b " " $1 "=" d }
           if ($1 == "hgetall") hg = d }
         END { printf "%d %d%s\n", hg, all, b }' "$1" "$2"
}

perl "$bench/tokens.pl" seq "$N" 1 > "$work/miss-fsauth.tokens"
perl "$bench/tokens.pl" seq "$N" $((N + 1)) > "$work/miss-lua.tokens"
perl "$bench/tokens.pl" flood "$FLOOD_DISTINCT" "$FLOOD_REPEAT" 7 \
    > "$work/flood.tokens"
user=$(perl "$bench/tokens.pl" user $((keys - 1)))
burst_fsauth=$(perl "$bench/tokens.pl" user $((keys - 2)))
burst_lua=$(perl "$bench/tokens.pl" user $((keys - 3)))

rows=()

# measure IMPL WORKLOAD: one fresh nginx, one workload
measure() {
    local impl=$1 wl=$2 variant port dir n args=() t0 t1 secs zone=$ZONE
    case $impl in fsauth) variant=fsauth ;; lua) variant=lua ;; esac
    [ "$wl" = flood-small ] && zone=$SMALL_ZONE
    dir=$work/$impl-$wl
    port=$(free_port)
    write_conf "$dir" "$port" "$variant" master "$zone" "fsauth_ban off;"
    # the Lua peer has no fsauth_* directives
    [ "$impl" = lua ] && sed -i 's/fsauth_ban off;//' "$dir/nginx.conf"
    sed -i "s/negative_ttl=10s/negative_ttl=${NEGATIVE_TTL}s/;
            s/negative_ttl = 10,/negative_ttl = $NEGATIVE_TTL,/" \
        "$dir/nginx.conf"
    start_nginx "$dir"
    wait_port "$port" "$nginx_pid"
    sleep 0.3    # connected to Redis, first kill-switch poll done

    case $wl in
    hit)   n=$N; args=(--token "$user" --expect 200) ;;
    miss)  n=$N; args=(--tokens "$work/miss-$impl.tokens" --expect 200) ;;
    flood*) n=$((FLOOD_DISTINCT * FLOOD_REPEAT))
           args=(--tokens "$work/flood.tokens" --expect 401) ;;
    burst) n=- ;;
    esac

    snapshot > "$dir/before"
    t0=$(date +%s.%N)
    if [ "$wl" = burst ]; then
        local tok=$burst_fsauth
        [ "$impl" = lua ] && tok=$burst_lua
        wrk -t 2 -c "$CONNS" -d 1s -H "X-Auth-Token: $tok" \
            "http://127.0.0.1:$port/api/3/clientes" > "$dir/wrk.out"
        n=$(awk '/requests in/ { print $1 }' "$dir/wrk.out")
        if grep -q 'Non-2xx' "$dir/wrk.out"; then
            log "redis-commands: $impl burst: errors"; cat "$dir/wrk.out" >&2
            exit 1
        fi
    else
        perl "$bench/client.pl" --port "$port" --count "$n" "${args[@]}" \
            > "$dir/client.log" \
            || { log "$impl $wl: $(cat "$dir/client.log")"; exit 1; }
    fi
    t1=$(date +%s.%N)
    sleep 0.3    # batched activity writes (<= 100 ms) have arrived
    snapshot > "$dir/after"
    stop_pid "$nginx_pid"

    read -r hg all breakdown < <(delta "$dir/before" "$dir/after")
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    local note=""
    if [ "$wl" != "${wl#flood}" ]; then
        local bound
        bound=$(awk -v d="$FLOOD_DISTINCT" -v s="$secs" -v t="$NEGATIVE_TTL" \
            'BEGIN { printf "%d", d * (1 + int(s / t)) }')
        if [ "$hg" -le "$bound" ]; then
            note="bound $bound: met"
        else
            note="bound $bound: MISSED"
        fi
        note="zone $zone, $note"
    fi
    if [ "$wl" = burst ]; then
        note="concurrent misses of one key"
    fi
    rows+=("| $impl | $wl | $n | $secs | $hg | $(awk -v a="$hg" -v n="$n" \
        'BEGIN { printf "%.4f", a / n }') | $all | $(awk -v a="$all" \
        -v n="$n" 'BEGIN { printf "%.4f", a / n }') |$breakdown | $note |")
    log "redis-commands: $impl $wl: $n requests, HGETALL $hg, all $all"
}

for impl in fsauth lua; do
    for wl in hit miss flood flood-small burst; do
        measure "$impl" "$wl"
    done
done

{
    echo "### Redis commands per request (INFO commandstats deltas)"
    echo
    machine_info | sed 's/^/    /'
    echo "    negative_ttl ${NEGATIVE_TTL}s, ttl 60s, fsauth_ban off," \
         "fsauth_activity on (60s)"
    echo
    echo "| impl | workload | requests | seconds | HGETALL | HGETALL/request | all commands | all/request | by command | note |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee "$out/redis-commands.md"
