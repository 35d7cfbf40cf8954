#!/bin/bash
# Builds the libFuzzer targets of fsauth into fuzz/out/ (see fuzz/README.md).
#
#   fuzz/build.sh            all targets
#   fuzz/build.sh token ...  only those
#
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev), the
# hiredis, jansson and OpenSSL headers, and the configured nginx tree that
# "make module" leaves in build/nginx-src (built here when missing).
# CC, FUZZ_CFLAGS and FUZZ_SANITIZERS may be overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

CC=${CC_FUZZ:-clang}
SAN=${FUZZ_SANITIZERS:-address,undefined}
CFLAGS=${FUZZ_CFLAGS:--g -O1 -fno-omit-frame-pointer}
CFLAGS="$CFLAGS -fsanitize=$SAN -fno-sanitize-recover=all"
out=$root/fuzz/out
ngx=$root/build/nginx-src

all_targets="token resource grant record import cidr siphash"
targets=${*:-$all_targets}

./util/deps.sh

if ! command -v "$CC" >/dev/null; then
    echo "fuzz/build.sh: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi

if [ ! -f "$ngx/objs/ngx_auto_config.h" ]; then
    make -s module
fi

mkdir -p "$out/obj"

ngx_incs=(-I "$ngx/src/core" -I "$ngx/src/event" -I "$ngx/src/event/modules"
          -I "$ngx/src/os/unix" -I "$ngx/objs" -I "$ngx/src/http"
          -I "$ngx/src/http/modules" -I "$ngx/src/http/v2"
          -I "$root/ngx_http_fsauth_module" -I "$root/rules")

# $1 source, $2 object, rest: extra flags
cc_obj() {
    local src=$1 obj=$2
    shift 2
    $CC -c $CFLAGS -fsanitize=fuzzer-no-link "$@" "$src" -o "$obj"
}

mod_obj() {
    cc_obj "$root/ngx_http_fsauth_module/ngx_http_fsauth_$1.c" \
           "$out/obj/mod_$1.o" "${ngx_incs[@]}" -Wno-unused-parameter
}

# the rules shared by the module and fsauthctl, in every target
rules() {
    cc_obj "$root/rules/fsauth_rules.c" "$out/obj/fsauth_rules.o" \
           -I "$root/rules" -Wall -Wextra
}

stubs() {
    cc_obj "$root/fuzz/ngx_stubs.c" "$out/obj/ngx_stubs.o" "${ngx_incs[@]}" \
           -Wall -Wno-unused-parameter
}

# $1 target, rest: objects and libraries
link() {
    local name=$1
    shift
    $CC $CFLAGS -fsanitize=fuzzer "$@" -o "$out/fuzz_$name"
    echo "built fuzz/out/fuzz_$name"
}

build_token() {
    mod_obj token
    cc_obj "$root/fuzz/fuzz_token.c" "$out/obj/fuzz_token.o" \
           "${ngx_incs[@]}" -Wall
    link token "$out/obj/fuzz_token.o" "$out/obj/mod_token.o" \
         "$out/obj/ngx_stubs.o" "$out/obj/fsauth_rules.o" -lcrypto
}

build_resource() {
    mod_obj resource
    cc_obj "$root/fuzz/fuzz_resource.c" "$out/obj/fuzz_resource.o" \
           "${ngx_incs[@]}" -Wall
    link resource "$out/obj/fuzz_resource.o" "$out/obj/mod_resource.o" \
         "$out/obj/ngx_stubs.o" "$out/obj/fsauth_rules.o"
}

build_grant() {
    mod_obj record
    cc_obj "$root/fuzz/fuzz_grant.c" "$out/obj/fuzz_grant.o" \
           "${ngx_incs[@]}" -Wall
    link grant "$out/obj/fuzz_grant.o" "$out/obj/mod_record.o" \
         "$out/obj/ngx_stubs.o" "$out/obj/fsauth_rules.o" -lhiredis
}

build_record() {
    mod_obj record
    cc_obj "$root/fuzz/fuzz_record.c" "$out/obj/fuzz_record.o" \
           "${ngx_incs[@]}" -Wall
    link record "$out/obj/fuzz_record.o" "$out/obj/mod_record.o" \
         "$out/obj/ngx_stubs.o" "$out/obj/fsauth_rules.o" -lhiredis
}

# rules/ alone: the address list parser against inet_pton()
build_cidr() {
    cc_obj "$root/fuzz/fuzz_cidr.c" "$out/obj/fuzz_cidr.o" \
           -I "$root/rules" -Wall -Wextra
    link cidr "$out/obj/fuzz_cidr.o" "$out/obj/fsauth_rules.o"
}

# the module's SipHash alone (no nginx types) against a byte-wise model
build_siphash() {
    cc_obj "$root/ngx_http_fsauth_module/ngx_http_fsauth_siphash.c" \
           "$out/obj/mod_siphash.o" -I "$root/ngx_http_fsauth_module" \
           -Wall -Wextra
    cc_obj "$root/fuzz/fuzz_siphash.c" "$out/obj/fuzz_siphash.o" \
           -I "$root/ngx_http_fsauth_module" -Wall -Wextra
    link siphash "$out/obj/fuzz_siphash.o" "$out/obj/mod_siphash.o"
}

build_import() {
    local f objs=()
    local ctl_flags=(-std=c99 -D_GNU_SOURCE -Wall -Wextra
                     -Wno-unused-parameter -I "$root/fsauthctl"
                     -I "$root/rules"
                     -include "$root/fuzz/fsauthctl_format.h")

    for f in "$root"/fsauthctl/*.c; do
        case $(basename "$f") in
        main.c|import.c) continue ;;
        # "sync" and its database clients: not reached from import
        sync.c|syncdb.c) continue ;;
        # the fuzzer formats fsauthctl's messages itself, silently
        util.c) cc_obj "$f" "$out/obj/ctl_util.o" "${ctl_flags[@]}" \
                       -Dfsauthctl_error=fsauthctl_error_unused ;;
        *) cc_obj "$f" "$out/obj/ctl_$(basename "$f" .c).o" "${ctl_flags[@]}" ;;
        esac
        objs+=("$out/obj/ctl_$(basename "$f" .c).o")
    done

    cc_obj "$root/fuzz/fake_redis.c" "$out/obj/fake_redis.o" \
           "${ctl_flags[@]}"
    # import.c is compiled inside the fuzzer, to reach its static parts
    cc_obj "$root/fuzz/fuzz_import.c" "$out/obj/fuzz_import.o" \
           "${ctl_flags[@]}"
    link import "$out/obj/fuzz_import.o" "$out/obj/fake_redis.o" \
         "${objs[@]}" "$out/obj/fsauth_rules.o" -lhiredis -ljansson -lcrypto
}

stubs
rules
for t in $targets; do
    case " $all_targets " in
    *" $t "*) "build_$t" ;;
    *) echo "fuzz/build.sh: unknown target $t (have: $all_targets)" >&2
       exit 1 ;;
    esac
done
