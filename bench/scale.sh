#!/bin/bash
# How the costs grow with the number of keys in Redis: for each key-set
# size, a uniform random mix of the keys, with a cache zone (and, for the
# Lua peer, a lua_shared_dict) of ZONE, which is smaller than the largest
# key set.
#
#   bench/scale.sh
#
# For each size K and implementation, nginx runs under callgrind twice
# with the same token sequence (uniform over keys 1..K), for N1 and for
# N2 = N1 + M requests; N1 = 2000 + min(5K, 50000) (22000 above 10000
# keys) warms the cache up, so
# the difference of the two runs describes requests N1..N2 in a steady
# state: instructions per request, and from the Redis counters the miss
# rate (HGETALL per request) and the activity writes (HSET per request:
# the HSETs the batched EVAL runs, one per key and interval).
# Keys are seeded with redis-cli --pipe (1,000,000 keys: about 500 MB in
# redis-server, 15 s).
#
# Environment: SCALE_KEYS ("10 10000 1000000"), ZONE (10m), M (4000),
# SCALE_IMPLS ("fsauth lua"), BENCH_OUT (bench/results).
source "$(dirname "$0")/lib.sh"

read -r -a sizes <<<"${SCALE_KEYS:-10 10000 1000000}"
read -r -a impls <<<"${SCALE_IMPLS:-fsauth lua}"
ZONE=${ZONE:-10m}
M=${M:-4000}
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
cg_hook() {
    local url=http://127.0.0.1:$1
    case $cur_impl in
    fsauth) curl -s "$url/bench-fsauth-metrics" \
                | sed -n 's/^fsauth_cache_keys \([0-9]*\)/\1/p' ;;
    lua) curl -s "$url/bench-peer-keys" ;;
    esac > "$cur_dir/cached"
}

# calls of one command (0 if never called)
calls() {
    rcli info commandstats | tr -d '\r' \
        | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | grep . || echo 0
}

# baseline: the same nginx without fsauth (one key, cache irrelevant)
seed 1
cur_impl=off cur_dir=$work/scale-off-2000
ir1=$(cg_measure "$cur_dir" off "$ZONE" "" 2000 \
    --token "$(perl "$bench/tokens.pl" user 1)" --expect 200)
cur_dir=$work/scale-off-4000
ir2=$(cg_measure "$cur_dir" off "$ZONE" "" 4000 \
    --token "$(perl "$bench/tokens.pl" user 1)" --expect 200)
base=$(( (ir2 - ir1) / 2000 ))
log "scale: baseline (fsauth off) $base instructions/request"

rows=()
for k in "${sizes[@]}"; do
    rcli flushall >/dev/null
    log "scale: seeding $k keys"
    seed "$k"
    # 5K requests see 99 % of the keys; for key sets much larger than the
    # cache, 20000 misses fill a zone of up to 20m (1 KB a key entry)
    w=$(( 2000 + (5 * k < 50000 ? 5 * k : 50000) ))
    [ "$k" -gt 10000 ] && w=22000
    n2=$((w + M))
    perl "$bench/tokens.pl" uniform "$n2" "$k" "$k" > "$work/uniform-$k.tokens"
    for impl in "${impls[@]}"; do
        cur_impl=$impl
        extra=$extra_fsauth
        [ "$impl" = lua ] && extra=$extra_lua
        declare -A ir=() hg=() hs=() cached=()
        for n in "$w" "$n2"; do
            log "scale: $k keys, $impl, $n requests"
            cur_dir=$work/scale-$impl-$k-$n
            hg0=$(calls hgetall) hs0=$(calls hset)
            ir[$n]=$(BENCH_SERVER_EXTRA=$extra cg_measure "$cur_dir" \
                "$impl" "$ZONE" "" "$n" \
                --tokens "$work/uniform-$k.tokens" --expect 200)
            hg[$n]=$(( $(calls hgetall) - hg0 ))
            hs[$n]=$(( $(calls hset) - hs0 ))
            cached[$n]=$(cat "$cur_dir/cached" 2>/dev/null || echo '?')
        done
        per=$(( (ir[$n2] - ir[$w]) / M ))
        miss=$(awk -v a="${hg[$n2]}" -v b="${hg[$w]}" -v m="$M" \
            'BEGIN { printf "%.3f", (a - b) / m }')
        hit=$(awk -v x="$miss" 'BEGIN { printf "%.1f", (1 - x) * 100 }')
        act=$(awk -v a="${hs[$n2]}" -v b="${hs[$w]}" -v m="$M" \
            'BEGIN { printf "%.3f", (a - b) / m }')
        rows+=("| $k | $impl | $w..$n2 | ${cached[$n2]} | $hit % | $miss | $act | $per | $((per - base)) |")
    done
done

{
    echo "### Scaling with the number of keys (uniform random key mix," \
         "cache $ZONE)"
    echo
    machine_info | sed 's/^/    /'
    echo "    baseline (same nginx, fsauth off): $base instructions/request"
    echo
    echo "| keys in Redis | impl | measured requests | entries cached at the end | hit rate | HGETALL/request | HSET/request (activity) | instructions/request | extra over baseline |"
    echo "|---:|---|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
} | tee "$out/scale.md"
