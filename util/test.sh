#!/bin/bash
# Install what is missing, build, start throwaway redis-servers, run the
# whole test suite with prove.  Extra arguments go to prove (default: -r t).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

./util/deps.sh
make -s all

work=$(mktemp -d /tmp/fsauth-test.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1")
             ->sockport'
}

# $1 name, rest: extra redis-server arguments; sets $redis_port
start_redis() {
    local name=$1; shift
    redis_port=$(free_port)
    mkdir -p "$work/$name"
    redis-server --port "$redis_port" --bind 127.0.0.1 \
        --unixsocket "$work/$name/redis.sock" --unixsocketperm 777 \
        --dir "$work/$name" --save '' --appendonly no \
        --daemonize no --logfile "$work/$name/redis.log" "$@" \
        </dev/null >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        [ -S "$work/$name/redis.sock" ] && return 0
        sleep 0.05
    done
    echo "fsauth: redis-server $name did not start" >&2
    cat "$work/$name/redis.log" >&2
    exit 1
}

password=fsauth-test-$RANDOM$RANDOM
printf '%s\n' "$password" > "$work/redis.password"

start_redis main
export TEST_NGINX_REDIS_PORT=$redis_port
export TEST_NGINX_REDIS_SOCKET=$work/main/redis.sock
start_redis auth --requirepass "$password"
export TEST_NGINX_REDIS_AUTH_PORT=$redis_port
export TEST_NGINX_REDIS_PASSWORD_FILE=$work/redis.password
export TEST_NGINX_REDIS_PASSWORD=$password

export TEST_NGINX_PORT=${TEST_NGINX_PORT:-$(free_port)}
export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
export TEST_NGINX_LOAD_MODULES=$root/build/ngx_http_fsauth_module.so
export TEST_NGINX_SERVROOT=${TEST_NGINX_SERVROOT:-$work/servroot}
export FSAUTHCTL=$root/build/fsauthctl
export FSAUTH_ROOT=$root

# The CPAN Test::Nginx::Socket is used when installed; otherwise the
# project's compatible runner in t/lib/compat.
lib=$root/t/lib
if ! perl -MTest::Nginx::Socket -e 1 2>/dev/null; then
    lib=$lib:$root/t/lib/compat
fi
export PERL5LIB=$lib${PERL5LIB:+:$PERL5LIB}

if [ $# -eq 0 ]; then
    set -- -r t
fi
prove "$@"
