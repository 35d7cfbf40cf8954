# Shared by the bench/*.sh scripts (sourced, not run).
#
# Sets: root (the repository), bench (this folder), work (a temporary
# folder removed on exit unless BENCH_KEEP=1), so (a private copy of the
# module, so that a rebuild during a run changes nothing).
# Everything started here (redis-server, nginx, valgrind) listens on
# 127.0.0.1 only, on free ports, and is stopped on exit.

set -euo pipefail

bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench/.." && pwd)
cd "$root"

NGINX=${NGINX:-/usr/sbin/nginx}
NGX_MODULES=${NGX_MODULES:-/usr/lib/nginx/modules}

bench_pids=()
bench_cleanup() {
    local p
    for p in "${bench_pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${bench_pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    if [ -n "${work:-}" ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$work"
    elif [ -n "${work:-}" ]; then
        echo "bench: files kept in $work" >&2
    fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# Debian packages (installed when missing, as util/deps.sh does for the
# build), then the module (make decides whether it must be rebuilt).
# BENCH_BUILD=DIR builds in DIR instead of build/ (make's BUILD=), e.g. to
# stay out of the way of a build running in the same tree.
bench_setup() {
    local bdir=${BENCH_BUILD:-build}
    ./util/deps.sh "$bench/packages.txt"
    make -s module BUILD="$bdir" >/dev/null
    work=$(mktemp -d /tmp/fsauth-bench.XXXXXX)
    chmod 755 "$work"      # readable by a worker running as nobody
    so=$work/ngx_http_fsauth_module.so
    cp "$bdir/ngx_http_fsauth_module.so" "$so"
    mkdir -p "$work/www/api/3"
    # the small static file every configuration serves
    printf '{"resource":"clientes","items":[]}\n' > "$work/www/api/3/clientes"
}

free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1")
             ->sockport'
}

# start_redis: sets redis_port
start_redis() {
    redis_port=$(free_port)
    mkdir -p "$work/redis"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$work/redis" --daemonize no \
        --logfile "$work/redis/redis.log" </dev/null >/dev/null 2>&1 &
    bench_pids+=($!)
    local _
    for _ in $(seq 100); do
        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    log "bench: redis-server did not start"
    cat "$work/redis/redis.log" >&2
    exit 1
}

rcli() { redis-cli -p "$redis_port" "$@"; }

# seed COUNT [START]: user keys START.. (see seed.pl), via redis-cli --pipe
seed() {
    perl "$bench/seed.pl" "$1" "${2:-1}" | rcli --pipe >"$work/seed.log" 2>&1 \
        || { cat "$work/seed.log" >&2; exit 1; }
    grep -q 'errors: 0' "$work/seed.log" \
        || { cat "$work/seed.log" >&2; exit 1; }
}

# cmdstat NAME: calls of one command so far (0 if never called)
cmdstat() {
    rcli info commandstats | tr -d '\r' \
        | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | grep . || echo 0
}

# total commands processed so far (INFO stats)
cmdtotal() {
    rcli info stats | tr -d '\r' \
        | sed -n 's/^total_commands_processed:\([0-9]*\)/\1/p'
}

global_token=$(perl -I"$bench" -MBenchTokens=global_token -e 'print global_token')

# write_conf DIR PORT VARIANT MODE [ZONE] [EXTRA_LOC]
#   VARIANT: plain      nginx without the module
#            off        module loaded, Redis and cache set up, fsauth off
#            fsauth     fsauth on, global key, cache zone ZONE
#            nocache    fsauth on, global key, no cache
#            lua-off    lua module loaded, the peer configured, not used
#            lua        the Lua peer (bench/lua/fsauth_peer.lua)
#   MODE:    single     master_process off (callgrind)
#            master     one worker under a master (wrk)
#   EXTRA_LOC: more directives for location /api/ (e.g. "fsauth_ban off;")
#   BENCH_SERVER_EXTRA (environment): more directives for the server
write_conf() {
    local dir=$1 port=$2 variant=$3 mode=$4 zone=${5:-64m} extra=${6:-}
    local load='' http='' loc=''

    case $variant in
    plain)
        ;;
    off|fsauth|nocache)
        load="load_module $so;"
        http="fsauth_redis 127.0.0.1:$redis_port timeout=500ms;"
        [ "$variant" != nocache ] && http="$http
    fsauth_cache zone=fsauth_bench:$zone ttl=${BENCH_TTL:-60}s
                 negative_ttl=10s;"
        if [ "$variant" = off ]; then
            loc="fsauth off;"
        else
            loc="fsauth on;
            fsauth_global_key $global_token;"
        fi
        ;;
    lua-off|lua)
        load="load_module $NGX_MODULES/ndk_http_module.so;
load_module $NGX_MODULES/ngx_http_lua_module.so;"
        http="lua_package_path \"$bench/lua/?.lua;;\";
    lua_shared_dict fsauth_peer $zone;
    init_by_lua_block {
        require(\"fsauth_peer\").configure{
            redis_host = \"127.0.0.1\", redis_port = $redis_port,
            prefix = \"fsauth:\", global_key = \"$global_token\",
            ttl = ${BENCH_TTL:-60}, negative_ttl = 10, timeout = 500,
        }
    }"
        [ "$variant" = lua ] \
            && loc="access_by_lua_block { require(\"fsauth_peer\").check() }"
        ;;
    *)
        log "write_conf: unknown variant $variant"; exit 1 ;;
    esac

    local proc="master_process on;"
    [ "$mode" = single ] && proc="master_process off;"

    mkdir -p "$dir/logs" "$dir/tmp"
    cat > "$dir/nginx.conf" <<EOC
$load
$proc
daemon off;
worker_processes 1;
error_log $dir/logs/error.log warn;
pid $dir/logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/json;
    keepalive_requests 10000000;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
    $http
    ${BENCH_HTTP_EXTRA:-}

    server {
        listen 127.0.0.1:$port;
        root $work/www;

        location /api/ {
            $loc
            $extra
        }
        ${BENCH_SERVER_EXTRA:-}
    }
}
EOC
}

# cg_measure DIR VARIANT ZONE EXTRA_LOC N CLIENT_ARGS...: runs nginx
# (master_process off) under callgrind, sends N requests with client.pl,
# stops nginx and prints the total instruction count.  A hook, if the
# function cg_hook is defined, runs after the requests (nginx still up),
# with the port as argument.
cg_measure() {
    local dir=$1 variant=$2 zone=$3 extra=$4 n=$5 port smc=
    shift 5
    port=$(free_port)
    write_conf "$dir" "$port" "$variant" single "$zone" "$extra"
    # LuaJIT writes machine code to the heap: make valgrind notice it
    case $variant in lua*) smc=--smc-check=all-non-file ;; esac
    start_nginx "$dir" valgrind --tool=callgrind $smc \
        --callgrind-out-file="$dir/callgrind.out"
    # (this runs in a command substitution, where the EXIT trap does not:
    # stop nginx before giving up)
    wait_port "$port" "$nginx_pid" || { stop_pid "$nginx_pid"; exit 1; }
    if ! perl "$bench/client.pl" --port "$port" --count "$n" "$@" \
            > "$dir/client.log"; then
        log "bench: $dir: unexpected answers: $(cat "$dir/client.log")"
        tail -5 "$dir/logs/error.log" >&2
        stop_pid "$nginx_pid"
        exit 1
    fi
    if declare -F cg_hook >/dev/null; then
        cg_hook "$port"
    fi
    stop_pid "$nginx_pid"
    if ! grep -q '^summary: ' "$dir/callgrind.out"; then
        log "bench: $dir: no callgrind summary (nginx did not exit cleanly)"
        exit 1
    fi
    sed -n 's/^summary: //p' "$dir/callgrind.out"
}

# cg_start DIR VARIANT ZONE EXTRA_LOC: nginx (master_process off) under
# callgrind with instrumentation off, so that a long warm-up runs at
# valgrind's uninstrumented speed; sets port and nginx_pid.  cg_on turns
# counting on and zeroes the counters; cg_dump writes the counts since the
# last dump (or cg_on) to a file of their own and prints their total.
cg_start() {
    local dir=$1 variant=$2 zone=$3 extra=$4 smc=
    port=$(free_port)
    write_conf "$dir" "$port" "$variant" single "$zone" "$extra"
    case $variant in lua*) smc=--smc-check=all-non-file ;; esac
    start_nginx "$dir" valgrind --tool=callgrind $smc --instr-atstart=no \
        --callgrind-out-file="$dir/callgrind.out"
    wait_port "$port" "$nginx_pid" || { stop_pid "$nginx_pid"; exit 1; }
}
cg_on() {
    callgrind_control -i on "$nginx_pid" >/dev/null 2>&1
    callgrind_control -z "$nginx_pid" >/dev/null 2>&1
}
cg_dump() {
    local dir=$1 f
    callgrind_control -d "$nginx_pid" >/dev/null 2>&1
    # (run in a command substitution: the dumps are counted on disk)
    f=$dir/callgrind.out.$(find "$dir" -maxdepth 1 -name 'callgrind.out.*' \
        | wc -l)
    if ! grep -q '^summary: ' "$f" 2>/dev/null; then
        log "bench: $f: no callgrind dump"
        stop_pid "$nginx_pid"
        exit 1
    fi
    sed -n 's/^summary: //p' "$f"
}

# start_nginx DIR [PREFIX_CMD...]: nginx in the foreground, in the
# background of this shell; sets nginx_pid.  Waits for the port.
start_nginx() {
    local dir=$1; shift
    "$@" "$NGINX" -p "$dir/" -c "$dir/nginx.conf" \
        </dev/null >"$dir/logs/stdout.log" 2>&1 &
    nginx_pid=$!
    bench_pids+=($nginx_pid)
}

# wait_port PORT PID: until PORT accepts connections (PID must stay alive)
wait_port() {
    local port=$1 pid=$2 _
    for _ in $(seq 600); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "bench: process $pid exited before listening on $port"
            return 1
        fi
        perl -MIO::Socket::INET -e \
            "exit !IO::Socket::INET->new('127.0.0.1:$port')" && return 0
        sleep 0.1
    done
    log "bench: nothing listens on $port"
    return 1
}

# stop_pid PID: graceful stop (SIGQUIT), then wait for it.  Under
# valgrind a signal is now and then lost: it is sent again every second,
# and after 60 s the process is killed.
stop_pid() {
    local i
    for i in $(seq 600); do
        kill -0 "$1" 2>/dev/null || break
        if [ $((i % 10)) -eq 1 ]; then
            kill -QUIT "$1" 2>/dev/null || true
        fi
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local p keep=()
    for p in "${bench_pids[@]}"; do
        [ "$p" != "$1" ] && keep+=("$p")
    done
    bench_pids=("${keep[@]}")
}

machine_info() {
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' \
        /proc/cpuinfo | head -1), $(free -g | awk '/^Mem:/ {print $2}') GiB"
    echo "nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //'), redis: \
$(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/'), \
valgrind: $(valgrind --version 2>/dev/null), \
wrk: $(dpkg-query -W -f='${Version}' wrk 2>/dev/null)"
    echo "module: $(git -C "$root" describe --always --dirty 2>/dev/null)"
}
