#!/usr/bin/env bash
# Runs every test: the one command.
#
#   deploy/test.sh [ctest arguments...]     e.g. deploy/test.sh -L unit
#                                                deploy/test.sh -R integration.test_transfers
#
# 1. As root, installs whatever package is missing (apt-get); as another user, names the
#    missing packages and stops.
# 2. Builds build-asan/ (Debug, -Werror, AddressSanitizer + UBSan) with -j2.
# 3. Without DATABASE_URL, starts a private PostgreSQL 15 cluster in fast mode (fsync off)
#    in .pgdata-test/ (or $WASTEFLOW_PGDATA) on 127.0.0.1:54330 (or $WASTEFLOW_PG_PORT),
#    and stops it on exit. With DATABASE_URL, it must name a role allowed to CREATE DATABASE.
# 4. ctest --output-on-failure -j1 with the arguments given (default: everything, unit and
#    integration), and exits with its status.
# 5. A full run (no arguments) then also: builds build-valgrind/ (no sanitizers) and runs
#    the integration runners with the server under valgrind memcheck (zero errors, zero
#    definite leaks); checks the API against its OpenAPI document (deploy/contract.sh:
#    redocly lint, runners through prism); and fuzzes (deploy/fuzz.sh, 30 s per target,
#    WASTEFLOW_FUZZ_SECONDS); and runs the console's browser tests (test/browser/run.sh:
#    Debian's Chromium driven by playwright-core, two instances, its own PostgreSQL).
#    WASTEFLOW_QUICK=1 skips these; WASTEFLOW_VALGRIND=1 forces the valgrind pass (of the
#    runners the arguments choose, e.g. -R test_exports) and WASTEFLOW_BROWSER=1 the browser
#    phase even with arguments.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
asan_dir="$root/build-asan"
valgrind_dir="$root/build-valgrind"
jobs="${WASTEFLOW_BUILD_JOBS:-2}"
want_valgrind="${WASTEFLOW_VALGRIND:-0}"
# The sanitizer run must not put its ASan server under valgrind.
unset WASTEFLOW_VALGRIND

log() {
    printf 'test.sh: %s\n' "$*" >&2
}

# shellcheck source=deploy/packages.sh
. "$root/deploy/packages.sh"

# Runs ctest, teeing its output to a log, and prints its summary line; returns its status.
run_ctest() {
    local build="$1" logfile status summary
    shift
    logfile="$build/ctest.log"
    set +e
    ctest --test-dir "$build" --output-on-failure --no-tests=error -j1 "$@" 2>&1 | tee "$logfile"
    status=${PIPESTATUS[0]}
    set -e
    summary=$(grep -E 'tests passed|No tests were found' "$logfile" | tail -n 1 || true)
    log "summary ($(basename "$build")): ${summary:-no ctest summary line (status $status)}"
    return "$status"
}

packages=(libevent-dev libpq-dev libcjson-dev libssl-dev cmake make gcc g++ libc6-dev pkg-config
    liblemon-dev libcmocka-dev libcurl4-openssl-dev valgrind clang postgresql-client-15)
if [[ -z "${DATABASE_URL:-}" ]]; then
    packages+=(postgresql-15)
fi
ensure_packages "${packages[@]}"

log "building $asan_dir (Debug, -Werror, ASan+UBSan)"
cmake -S "$root" -B "$asan_dir" -DWF_WERROR=ON -DWF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
    -DBUILD_TESTING=ON >/dev/null
cmake --build "$asan_dir" -j "$jobs"

started_pgdir=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local status=$?
    if [[ -n "$started_pgdir" ]]; then
        "$root/deploy/pg-local.sh" stop "$started_pgdir" || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z "${DATABASE_URL:-}" ]]; then
    pgdir="${WASTEFLOW_PGDATA:-$root/.pgdata-test}"
    export WASTEFLOW_PG_PORT="${WASTEFLOW_PG_PORT:-54330}"
    # Only stop it at the end when this run started it (not when it was already running).
    if ! "$root/deploy/pg-local.sh" status "$pgdir" 2>/dev/null; then
        started_pgdir="$pgdir"
    fi
    DATABASE_URL=$(WASTEFLOW_PG_FAST=1 "$root/deploy/pg-local.sh" start "$pgdir")
    export DATABASE_URL
    log "private test cluster in $pgdir: $DATABASE_URL"
else
    log "using DATABASE_URL from the environment"
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

status=0
run_ctest "$asan_dir" "$@" || status=$?

# A full run (no ctest arguments) adds the slower passes below; WASTEFLOW_QUICK=1 skips them.
full=0
if (($# == 0)) && [[ "${WASTEFLOW_QUICK:-0}" != 1 ]]; then
    full=1
fi

if [[ "$want_valgrind" == 1 || "$full" == 1 ]]; then
    log "building $valgrind_dir (Debug, no sanitizers) for the valgrind run"
    cmake -S "$root" -B "$valgrind_dir" -DWF_WERROR=ON -DWF_SANITIZE=OFF \
        -DCMAKE_BUILD_TYPE=Debug -DBUILD_TESTING=ON >/dev/null
    cmake --build "$valgrind_dir" -j "$jobs"
    valgrind_status=0
    # The load and fault runners measure timing under many clients, which a server under
    # memcheck (tens of times slower) cannot meet, and the multi-host runner mostly waits
    # out connect timeouts (its code runs under ASan above); every other runner goes
    # through it.
    # The arguments of the run (say, -R test_exports) choose among those too.
    WASTEFLOW_VALGRIND=1 run_ctest "$valgrind_dir" -L integration \
        -E 'integration\.test_(concurrency|faults|shutdown|pool|multihost)$' "$@" ||
        valgrind_status=$?
    if ((status == 0)); then
        status=$valgrind_status
    fi
fi

# ---- browser phase (test/browser, owned by the console) -----------------------------------
# The operator console in Debian's Chromium against two instances of the ASan binary, with
# its own PostgreSQL (port 54350). It prints SKIPPED and passes only when npm or chromium
# cannot be installed.
if [[ "$full" == 1 || "${WASTEFLOW_BROWSER:-0}" == 1 ]]; then
    browser_status=0
    log "browser tests of the console (test/browser/run.sh)"
    "$root/test/browser/run.sh" "$asan_dir/wasteflow" || browser_status=$?
    if ((status == 0)); then
        status=$browser_status
    fi
fi
# ---- end of the browser phase ------------------------------------------------------------

if [[ "$full" == 1 ]]; then
    contract_status=0
    "$root/deploy/contract.sh" "$asan_dir" || contract_status=$?
    fuzz_status=0
    "$root/deploy/fuzz.sh" "${WASTEFLOW_FUZZ_SECONDS:-30}" || fuzz_status=$?
    for extra in "$contract_status" "$fuzz_status"; do
        if ((status == 0)); then
            status=$extra
        fi
    done
fi

exit "$status"
