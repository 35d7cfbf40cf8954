#!/bin/bash
# Builds the fuzz targets and runs each for SECONDS (default 20), one after
# the other; exits 1 when any target crashes, leaks, times out or runs out
# of memory.  See fuzz/README.md.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# New inputs found go to fuzz/out/corpus/<target> (kept between runs, not
# committed); the seeds in fuzz/corpus/<target> are never written to.  A
# failing input is saved as fuzz/out/artifacts/<target>-crash-<sha1>.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${1:-20}
shift || true
targets=${*:-token resource grant record import cidr siphash}

case $seconds in
''|*[!0-9]*) echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

fuzz/build.sh $targets || exit 1

out=$root/fuzz/out
mkdir -p "$out/artifacts"

# longest input per target: header values up to 8 KB, paths up to the
# default large_client_header_buffers, import files of a few hundred keys
declare -A max_len=([token]=8192 [resource]=9000 [grant]=4096
                    [record]=16384 [import]=16384 [cidr]=1024
                    [siphash]=8208)

failed=()
summary=()

for t in $targets; do
    mkdir -p "$out/corpus/$t"
    dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
    log=$out/$t.log

    echo "== fuzz_$t for ${seconds}s"
    "$out/fuzz_$t" "${dict[@]}" \
        -max_total_time="$seconds" -max_len="${max_len[$t]}" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$t-" \
        "$out/corpus/$t" "fuzz/corpus/$t" > "$log" 2>&1
    rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        grep -v '^INFO\|^#' "$log" | tail -40
        summary+=("fuzz_$t: FAILED (exit $rc), see $log and fuzz/out/artifacts/")
    else
        summary+=("fuzz_$t: ok, ${execs:-?} runs in ${seconds}s, $cov")
    fi
done

echo
printf '%s\n' "${summary[@]}"

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz/run.sh: failed: ${failed[*]}" >&2
    exit 1
fi
