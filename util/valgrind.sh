#!/bin/bash
# Runs the Test::Nginx::Socket files of the suite with nginx under
# valgrind's memcheck (full leak check), through util/test.sh, which
# builds, starts the test redis-servers and runs prove.
#
#   util/valgrind.sh                    every t/*.t (prove -r t)
#   util/valgrind.sh t/001-basics.t ... only those files
#
# Each nginx started by a Test::Nginx block runs as
#   valgrind -q --tool=memcheck --leak-check=full --show-possibly-lost=no
#            --gen-suppressions=all --suppressions=valgrind.suppress ...
# (Test::Nginx::Socket's own command for TEST_NGINX_USE_VALGRIND=1).  Test::Nginx
# only lets memcheck print its reports on stderr; this script keeps a copy
# of the output and fails when any report ("==PID== ...") is in it.
# ./valgrind.suppress holds the narrow suppressions for third-party false
# positives and nginx core's own exit-time allocations.
# TEST_NGINX_USE_VALGRIND may carry other valgrind options instead.
#
# The plain Test::More files (t/005, t/012, t/021, t/04x, t/fsauthctl)
# start nginx themselves and do not run it under valgrind; their
# timing assertions would not hold there anyway.  Those that ask for it
# (FsauthNginx->start(valgrind => 1): t/027) run it under memcheck with
# the same options and fail on any report.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
    echo "util/valgrind.sh: valgrind is not installed" \
         "(apt-get install valgrind)" >&2
    exit 2
fi

export TEST_NGINX_USE_VALGRIND=${TEST_NGINX_USE_VALGRIND:-1}
# nginx starts and answers about 20 times slower under memcheck
export TEST_NGINX_TIMEOUT=${TEST_NGINX_TIMEOUT:-15}

log=$(mktemp /tmp/fsauth-valgrind.XXXXXX)
trap 'rm -f "$log"' EXIT
rc=0
./util/test.sh "$@" 2>&1 | tee "$log" || rc=$?
if grep -Eq '^==[0-9]+== ' "$log"; then
    echo "util/valgrind.sh: memcheck reported errors or leaks (above)" >&2
    rc=1
fi
exit $rc
