# shellcheck shell=bash
# Shell functions the benchmark scripts share; sourced, it only defines them.

# usage SCRIPT: prints the script's header comment (up to its `set -euo`) and exits 2.
usage() {
    sed -n '2,/^set -euo/p' "$1" | grep '^#' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# True when 127.0.0.1:PORT can be bound now: nothing listens there and no TIME_WAIT holds it
# (ports in Linux's ephemeral range can be held for up to a minute by any closed connection).
port_free() {
    python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

# wait_readyz PORT TRIES PAUSE: polls http://127.0.0.1:PORT/readyz up to TRIES times, PAUSE
# seconds apart, until it answers 200; false when it never did.
wait_readyz() {
    local port=$1 tries=$2 pause=$3
    for _ in $(seq 1 "$tries"); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        sleep "$pause"
    done
    return 1
}

# build_release ROOT LOG: the Release build in ROOT/build-release/, its output in LOG; three attempts five seconds apart (another engineer may be building the same tree
# at this moment). False, with the end of LOG on stderr, when all three fail.
build_release() {
    local root=$1 log=$2 attempt
    for attempt in 1 2 3; do
        if cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release \
            -DBUILD_TESTING=OFF >"$log" 2>&1 &&
            cmake --build "$root/build-release" -j2 >>"$log" 2>&1; then
            return 0
        fi
        [[ $attempt == 3 ]] || sleep 5
    done
    tail -n 30 "$log" >&2
    return 1
}

# stop_pid PID: TERM, up to 15 s for it to end, then KILL (nothing when PID is empty or gone).
stop_pid() {
    local pid=$1
    [[ -n "$pid" ]] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

# fresh_fast_pg ROOT PGDIR PORT LOG: a new private PostgreSQL 15 in fast mode (fsync off) in
# PGDIR on 127.0.0.1:PORT (one left there by an earlier run is stopped and removed); prints
# its DATABASE_URL, and PostgreSQL's own messages go to LOG.
fresh_fast_pg() {
    local root=$1 pgdir=$2 port=$3 log=$4
    WASTEFLOW_PG_PORT=$port "$root/deploy/pg-local.sh" stop "$pgdir" >/dev/null 2>&1 || true
    rm -rf "$pgdir"
    WASTEFLOW_PG_PORT=$port WASTEFLOW_PG_FAST=1 "$root/deploy/pg-local.sh" start "$pgdir" 2>>"$log"
}
