#!/bin/bash
# Instructions per request, measured with callgrind.
#
#   bench/callgrind.sh [CONFIG...]        (default: all of them)
#
# Each configuration runs nginx twice under callgrind (master_process off,
# one process), once for N1 and once for N2 keep-alive requests sent one
# after the other over one connection by bench/client.pl; the cost per
# request is (Ir(N2) - Ir(N1)) / (N2 - N1), so start-up, configuration
# parsing and shutdown cancel out.  The instructions of the nginx process
# are counted (client and redis-server are not).  Every configuration
# serves the same small static file at /api/3/clientes and every request
# carries a 20-byte X-Auth-Token header.
#
# Environment: N1 (2000), N2 (4000), BENCH_OUT (bench/results): where
# callgrind.md and the per-function profiles go; BENCH_KEEP=1 keeps the
# raw callgrind files.
source "$(dirname "$0")/lib.sh"

N1=${N1:-2000}
N2=${N2:-4000}
out=${BENCH_OUT:-$bench/results}

# name | variant | extra location directives | tokens | expected status |
# what it measures
configs=(
"plain|plain||user|200|nginx without the module"
"off|off||user|200|module loaded, redis + cache, location without fsauth on (baseline)"
"hit|fsauth||user|200|cache hit, user key granted by res:clientes (defaults: ban, activity on)"
"hit-lean|fsauth|fsauth_ban off; fsauth_activity off;|user|200|cache hit with ban and activity off"
"hit-expires|fsauth||expiring|200|cache hit as hit, the key has an \"expires\" (far ahead)"
"hit-allowips|fsauth||listed|200|cache hit as hit-expires, the key also has an \"allow_ips\" of 4 networks, the client in the last one"
"global|fsauth||global|200|global key"
"401|fsauth|fsauth_ban off;|invalid|401|unknown token, negative cache hit (ban off)"
"miss|fsauth||seq|200|every token distinct, cold cache: one HGETALL each, then cached; activity on (batched)"
"miss-noact|fsauth|fsauth_activity off;|seq|200|as miss, without the activity record each new key queues (batched EVAL)"
"miss-nocache|nocache||seq|200|every token distinct, no fsauth_cache"
"lua-off|lua-off||user|200|Lua module loaded and configured, not used (Lua baseline)"
"lua-hit|lua||user|200|Lua peer, shared dict hit"
"lua-global|lua||global|200|Lua peer, global key"
"lua-401|lua||invalid|401|Lua peer, unknown token, negative cache hit"
"lua-miss|lua||seq|200|Lua peer, every token distinct (cold shared dict)"
)

want=("$@")
selected() {
    [ ${#want[@]} -eq 0 ] && return 0
    local w
    for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
    return 1
}

bench_setup
start_redis
seed $((N2 + 1000))
mkdir -p "$out"

perl "$bench/tokens.pl" seq "$N2" > "$work/seq.tokens"

# the key of hit-expires: a seeded key outside seq's, given an expiry
exp_id=$((N2 + 500))
exp_digest=$(perl -MDigest::SHA=sha256_hex -e 'print sha256_hex($ARGV[0])' \
             "$(perl "$bench/tokens.pl" user "$exp_id")")
rcli HSET "fsauth:key:$exp_digest" expires 4102444800 >/dev/null

# the key of hit-allowips: another one, with an expiry and an address
# list whose last entry holds the client (bench/client.pl, 127.0.0.1)
ips_id=$((N2 + 501))
ips_digest=$(perl -MDigest::SHA=sha256_hex -e 'print sha256_hex($ARGV[0])' \
             "$(perl "$bench/tokens.pl" user "$ips_id")")
rcli HSET "fsauth:key:$ips_digest" expires 4102444800 \
     allow_ips 10.0.0.0/8,2001:db8::/32,192.168.0.0/16,127.0.0.0/8 >/dev/null

# cg_run NAME VARIANT EXTRA TOKENS EXPECT N: prints the total Ir
cg_run() {
    local name=$1 variant=$2 extra=$3 tokens=$4 expect=$5 n=$6 targ
    case $tokens in
    seq) targ=(--tokens "$work/seq.tokens") ;;
    user) targ=(--token "$(perl "$bench/tokens.pl" user 1)") ;;
    expiring) targ=(--token "$(perl "$bench/tokens.pl" user "$exp_id")") ;;
    listed) targ=(--token "$(perl "$bench/tokens.pl" user "$ips_id")") ;;
    *) targ=(--token "$(perl "$bench/tokens.pl" "$tokens")") ;;
    esac
    cg_measure "$work/cg/$name-$n" "$variant" 64m "$extra" "$n" \
        --expect "$expect" "${targ[@]}"
}

declare -A per desc
order=()
for c in "${configs[@]}"; do
    IFS='|' read -r name variant extra tokens expect what <<<"$c"
    selected "$name" || continue
    log "callgrind: $name ($N1 and $N2 requests)"
    ir1=$(cg_run "$name" "$variant" "$extra" "$tokens" "$expect" "$N1")
    ir2=$(cg_run "$name" "$variant" "$extra" "$tokens" "$expect" "$N2")
    per[$name]=$(( (ir2 - ir1) / (N2 - N1) ))
    desc[$name]=$what
    order+=("$name")
    case $name in
    hit|miss|miss-noact|401|global|lua-hit|lua-miss|off)
        perl "$bench/cgdiff.pl" --top 30 \
            "$work/cg/$name-$N1/callgrind.out" "$N1" \
            "$work/cg/$name-$N2/callgrind.out" "$N2" \
            > "$out/profile-$name.txt" 2>/dev/null
        ;;
    esac
done

# the table: extra cost over the baseline of the same family
base_of() {
    case $1 in
    plain|off) echo plain ;;
    lua-off) echo plain ;;
    lua-*) echo lua-off ;;
    *) echo off ;;
    esac
}

{
    echo "### Instructions per request (callgrind, N1=$N1, N2=$N2)"
    echo
    machine_info | sed 's/^/    /'
    echo
    echo "| config | instructions/request | extra over baseline | what |"
    echo "|---|---:|---:|---|"
    for name in "${order[@]}"; do
        b=$(base_of "$name")
        if [ "$b" != "$name" ] && [ -n "${per[$b]:-}" ]; then
            extra="$(( per[$name] - per[$b] )) (vs $b)"
        else
            extra="-"
        fi
        echo "| $name | ${per[$name]} | $extra | ${desc[$name]} |"
    done
    echo
    bar() {  # bar LABEL VALUE LIMIT
        if [ "$2" -le "$3" ]; then r=met; else r=MISSED; fi
        echo "- $1: $2 (limit $3): **$r**"
    }
    if [ -n "${per[hit]:-}" ] && [ -n "${per[off]:-}" ]; then
        h=$(( per[hit] - per[off] ))
        bar "cache hit, extra instructions/request" "$h" 2000
        bar "cache hit, stretch goal" "$h" 1500
    fi
    if [ -n "${per[hit-expires]:-}" ] && [ -n "${per[hit]:-}" ]; then
        bar "cache hit with expires, extra over a plain hit" \
            "$(( per[hit-expires] - per[hit] ))" 300
    fi
    if [ -n "${per[hit-allowips]:-}" ] && [ -n "${per[hit]:-}" ]; then
        bar "cache hit with expires and 4 allow_ips, extra over a plain hit" \
            "$(( per[hit-allowips] - per[hit] ))" 300
    fi
    if [ -n "${per[miss]:-}" ] && [ -n "${per[off]:-}" ]; then
        bar "cache miss, extra instructions/request" \
            "$(( per[miss] - per[off] ))" 13000
    fi
    ratio() {  # ratio LUA FSAUTH
        if [ -n "${per[$1]:-}" ] && [ -n "${per[lua-off]:-}" ] \
           && [ -n "${per[$2]:-}" ] && [ -n "${per[off]:-}" ]; then
            awk -v l=$(( per[$1] - per[lua-off] )) \
                -v f=$(( per[$2] - per[off] )) -v n="$2" 'BEGIN {
                printf "- %s: Lua peer adds %d, fsauth adds %d", n, l, f
                if (f > 0) printf " (Lua/fsauth = %.1fx)", l / f
                printf "\n" }'
        fi
    }
    ratio lua-hit hit
    ratio lua-global global
    ratio lua-401 401
    ratio lua-miss miss
} | tee "$out/callgrind.md"
log "callgrind: table in $out/callgrind.md, profiles in $out/profile-*.txt"
