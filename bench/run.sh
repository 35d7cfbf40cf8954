#!/bin/bash
# All the benchmarks, one after the other, each with its own redis-server
# and nginx instances; the tables go to bench/results/ (BENCH_OUT) and are
# put together in bench/results/report.md.
#
#   bench/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export BENCH_OUT=${BENCH_OUT:-$here/results}
mkdir -p "$BENCH_OUT"

start=$(date -u '+%Y-%m-%d %H:%M UTC')
"$here/callgrind.sh"
"$here/wrk.sh"
"$here/redis-commands.sh"
"$here/scale.sh"

{
    echo "# fsauth benchmarks"
    echo
    echo "Produced by \`bench/run.sh\`, started $start."
    for f in callgrind wrk redis-commands scale; do
        echo
        cat "$BENCH_OUT/$f.md"
    done
} > "$BENCH_OUT/report.md"
echo "bench: report in $BENCH_OUT/report.md" >&2
