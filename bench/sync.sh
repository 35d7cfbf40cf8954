#!/bin/bash
# How long one "fsauthctl sync" pass takes over many FacturaScripts keys,
# against MariaDB and PostgreSQL servers started here (the test suite's
# t/lib/FsauthDB.pm: private port and socket, the tables as FacturaScripts
# creates them, a user with SELECT on them only).
#
#   bench/sync.sh
#
# For each engine: SYNC_KEYS keys (default 10000), each with 3 grants,
# are inserted; then, timed as whole fsauthctl runs (process start,
# connections, the snapshot read, the SCAN of Redis, the writes):
#   first    every key created (10,000 MULTI/EXEC)
#   steady   nothing changed: the pass a watch makes every interval
#   changes  1% of the keys disabled
# each the median of SYNC_RUNS runs (default 5; "first" once).
#
# Environment: SYNC_KEYS, SYNC_RUNS, SYNC_ENGINES ("mysql postgresql"),
# BENCH_OUT (bench/results).
source "$(dirname "$0")/lib.sh"

./util/deps.sh
make -s fsauthctl BUILD="${BENCH_BUILD:-build}"
work=$(mktemp -d /tmp/fsauth-bench.XXXXXX)
start_redis

out=${BENCH_OUT:-$bench/results}
mkdir -p "$out"
FSAUTHCTL=$root/${BENCH_BUILD:-build}/fsauthctl REDIS_PORT=$redis_port \
    perl -I"$root/t/lib" "$bench/sync.pl" | tee "$out/sync.md"
