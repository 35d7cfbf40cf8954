#!/bin/bash
# Install what is missing, build, start throwaway redis-servers, run the
# whole test suite with prove.  Extra arguments go to prove (default: -r t).
#
#   FSAUTH_TEST_SERVER=valkey   valkey-server and valkey-cli instead of
#                               redis-server and redis-cli (Debian 13 on)
#   TEST_NGINX_USE_HTTP2=1      Test::Nginx's HTTP/2 mode (nginx >= 1.25.1)
#   TEST_NGINX_USE_HTTP3=1      Test::Nginx's HTTP/3 mode (nginx built with
#                               http_v3, curl with HTTP/3)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

./util/deps.sh

nginx_bin=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
nginx_version=$("$nginx_bin" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
version_lt() {
    [ "$1" != "$2" ] &&
        [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ]
}
skip_mode() {
    echo "fsauth: $1 mode skipped: ${*:2}"
    exit 0
}
if [ -n "${TEST_NGINX_USE_HTTP2:-}" ] && version_lt "$nginx_version" 1.25.1
then
    skip_mode HTTP/2 "Test::Nginx writes \"http2 on;\" for nginx >= 1.19.9," \
        "which nginx $nginx_version rejects (it came with nginx 1.25.1)"
fi
if [ -n "${TEST_NGINX_USE_HTTP3:-}" ]; then
    [[ $("$nginx_bin" -V 2>&1) == *--with-http_v3_module* ]] ||
        skip_mode HTTP/3 "nginx $nginx_version is built without http_v3"
    [[ $(curl -V) == *Features:*" HTTP3"* ]] ||
        skip_mode HTTP/3 "curl is built without HTTP/3"
fi

case ${FSAUTH_TEST_SERVER:=redis} in
redis|valkey) ;;
*) echo "fsauth: FSAUTH_TEST_SERVER must be redis or valkey" >&2; exit 2 ;;
esac
export FSAUTH_REDIS_SERVER=$FSAUTH_TEST_SERVER-server
export FSAUTH_REDIS_CLI=$FSAUTH_TEST_SERVER-cli
if ! command -v "$FSAUTH_REDIS_SERVER" >/dev/null; then
    echo "fsauth: $FSAUTH_REDIS_SERVER is not installed" \
         "(Valkey is packaged from Debian 13 on)" >&2
    exit 2
fi

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

# $1 name, rest: extra redis-server arguments; sets $redis_port (a
# valkey-server under FSAUTH_TEST_SERVER=valkey: same options)
start_redis() {
    local name=$1; shift
    redis_port=$(free_port)
    mkdir -p "$work/$name"
    "$FSAUTH_REDIS_SERVER" --port "$redis_port" --bind 127.0.0.1 \
        --unixsocket "$work/$name/redis.sock" --unixsocketperm 777 \
        --dir "$work/$name" --save '' --appendonly no \
        --daemonize no --logfile "$work/$name/redis.log" "$@" \
        </dev/null >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        [ -S "$work/$name/redis.sock" ] && return 0
        sleep 0.05
    done
    echo "fsauth: $FSAUTH_REDIS_SERVER $name did not start" >&2
    cat "$work/$name/redis.log" >&2
    exit 1
}

# HTTP/3 mode: Test::Nginx wants a certificate for its QUIC listener
if [ -n "${TEST_NGINX_USE_HTTP3:-}" ] && [ -z "${TEST_NGINX_HTTP3_CRT:-}" ]
then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$work/http3.key" -out "$work/http3.crt" -days 2 -nodes \
        -subj /CN=localhost 2>/dev/null
    export TEST_NGINX_HTTP3_CRT=$work/http3.crt
    export TEST_NGINX_HTTP3_KEY=$work/http3.key
fi

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
export TEST_NGINX_BINARY=$nginx_bin
export TEST_NGINX_LOAD_MODULES=$root/build/ngx_http_fsauth_module.so
export TEST_NGINX_SERVROOT=${TEST_NGINX_SERVROOT:-$work/servroot}
export FSAUTHCTL=$root/build/fsauthctl
export FSAUTH_ROOT=$root

export PERL5LIB=$root/t/lib${PERL5LIB:+:$PERL5LIB}

if [ $# -eq 0 ]; then
    set -- -r t
fi
mode=${TEST_NGINX_USE_HTTP2:+, HTTP/2}${TEST_NGINX_USE_HTTP3:+, HTTP/3}
echo "fsauth: nginx $nginx_version," \
    "hiredis $(dpkg-query -W -f='${Version}' libhiredis-dev 2>/dev/null)," \
    "$("$FSAUTH_REDIS_SERVER" --version | sed 's/ sha=.*//; s/ server v=/ /')," \
    "Test::Nginx $(perl -MTest::Nginx::Socket -e 'print $Test::Nginx::Socket::VERSION')$mode"
prove "$@"
