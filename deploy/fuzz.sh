#!/usr/bin/env bash
# Runs the libFuzzer targets (test/fuzz/) under ASan+UBSan for a bounded time each.
#   deploy/fuzz.sh [seconds per target, default 60]
# Needs clang (Debian's clang 14 ships libFuzzer). The seed corpus in the repository is
# copied to a scratch directory, so the run never modifies the tree; a crash leaves its
# reproducer in build-fuzz/ and fails the script.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}
build="$root/build-fuzz"
CC=clang cmake -S "$root" -B "$build" -DWF_FUZZ=ON -DWF_SANITIZE=ON -DWF_WERROR=ON \
    -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target fuzz_json_input fuzz_router fuzz_head_scan
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for pair in fuzz_json_input:json fuzz_router:router fuzz_head_scan:head; do
    target=${pair%%:*}
    corpus=${pair##*:}
    mkdir -p "$scratch/$corpus"
    cp "$root/test/fuzz/corpus/$corpus"/* "$scratch/$corpus/"
    echo "fuzz.sh: $target for ${seconds}s"
    # A fixed seed (WASTEFLOW_FUZZ_SEED, default 1) makes a CI run repeatable; set another
    # to explore further.
    (cd "$build" && "./test/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 \
        -seed="${WASTEFLOW_FUZZ_SEED:-1}" \
        "$scratch/$corpus" 2>&1 | tail -n 12)
    # libFuzzer exits non-zero on a finding; pipefail carries it out of the subshell.
done
echo "fuzz.sh: no crashes"
