# shellcheck shell=bash
# Shell functions the benchmark scripts share; sourced, it only defines them.

# usage SCRIPT: prints the script's header comment (up to its `set -euo`) and exits 2.
usage() {
    sed -n '2,/^set -euo/p' "$1" | grep '^#' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# bench_init SCRIPT ARGS...: the start of a script that writes one result file, named by its
# first argument: sets root (the repository), bench (test/bench), out (that file, as an
# absolute path) and lib (benchlib.py); without an argument, the script's usage (exit 2).
# shellcheck disable=SC2034 # out and lib are the calling script's
bench_init() {
    local script=$1
    shift
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    bench="$root/test/bench"
    [[ $# -ge 1 ]] || usage "$script"
    out=$(realpath -m "$1")
    lib="$bench/benchlib.py"
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

# drop_pg PORT DIR: stops the PostgreSQL cluster of DIR on PORT, if it runs, and removes DIR.
drop_pg() {
    WASTEFLOW_PG_PORT=$1 "$root/deploy/pg-local.sh" stop "$2" >/dev/null 2>&1 || true
    rm -rf "$2"
}

# start_fast_pg PORT DIR LOG [reuse]: starts the fast-mode PostgreSQL cluster of DIR on
# 127.0.0.1:PORT ($root/deploy/pg-local.sh, its stderr appended to LOG) and prints its URL.
# PORT may be held in TIME_WAIT for up to a minute (54350 lies in Linux's ephemeral range):
# up to 20 attempts, 5 s apart. With reuse, DIR's cluster may already be running (an
# interrupted run) and is used again. False when every attempt failed.
start_fast_pg() {
    local port=$1 dir=$2 log=$3 reuse=${4:-} url
    for _ in $(seq 1 20); do
        if { port_free "$port" || { [[ -n "$reuse" ]] &&
            WASTEFLOW_PG_PORT=$port "$root/deploy/pg-local.sh" status "$dir" >/dev/null 2>&1; }; } &&
            url=$(WASTEFLOW_PG_PORT=$port WASTEFLOW_PG_FAST=1 "$root/deploy/pg-local.sh" start "$dir" \
                2>>"$log"); then
            printf '%s\n' "$url"
            return 0
        fi
        sleep 5
    done
    return 1
}

# wait_started PORT PID LOG: polls http://127.0.0.1:PORT/readyz up to 100 times, 0.1 s apart,
# until it answers 200 or the server PID is gone; false, with the end of LOG on stderr, when
# it is gone.
wait_started() {
    local port=$1 pid=$2 log=$3
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || {
            tail -n 20 "$log" >&2
            return 1
        }
        sleep 0.1
    done
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
    drop_pg "$port" "$pgdir"
    start_fast_pg "$port" "$pgdir" "$log"
}

# The frame of a script that measures one server on one private cluster. Each uses the
# script's globals: root, work (its work directory), pgdir and pg_port (its cluster),
# server_pid (its server, "" while none) and bin (the server binary).
#
# bench_binary: prints the server to measure: $WASTEFLOW_BIN, else a Release build of the
# tree (build-release/, its log in $work/build.log).
# shellcheck disable=SC2154  # the script's globals, above
bench_binary() {
    if [[ -n "${WASTEFLOW_BIN:-}" ]]; then
        printf '%s\n' "$WASTEFLOW_BIN"
        return 0
    fi
    printf '== build (Release, build-release/)\n' >&2
    build_release "$root" "$work/build.log" || return 1
    printf '%s\n' "$root/build-release/wasteflow"
}

# bench_cleanup: the script's EXIT trap: stops its server and its cluster, removes the
# cluster and the work directory.
# shellcheck disable=SC2154  # the script's globals, above
bench_cleanup() {
    stop_pid "${server_pid:-}"
    drop_pg "$pg_port" "$pgdir"
    rm -rf "$work"
}

# bench_database: a new cluster (fresh_fast_pg) with the schema migrated; exports
# DATABASE_URL.
# shellcheck disable=SC2154  # the script's globals, above
bench_database() {
    printf '== PostgreSQL (fast mode) on 127.0.0.1:%s\n' "$pg_port" >&2
    DATABASE_URL=$(fresh_fast_pg "$root" "$pgdir" "$pg_port" "$work/pg.log") || return 1
    export DATABASE_URL
    "$bin" migrate >/dev/null 2>&1
}

# bench_year_ledger COUNT <<SQL: a year-long ledger, written through sql in one session as
# the owner with the ledger's triggers off (session_replication_role: they would date every
# row now() and keep the running totals, neither of which a backfill wants): the
# organization 'bench supplier' (id 1 in a new database), COUNT transfers from it of 10 kg of
# glass each, ids 1 to COUNT, spread evenly over the last 365 days, then the script's own SQL
# (its storages, shipments, unloads, and the live figures its ledger implies).
bench_year_ledger() {
    {
        cat <<SQL
SET session_replication_role = replica;
INSERT INTO organizations (name) VALUES ('bench supplier');
INSERT INTO transfers (id, organization_id, trigger, received, pending, created_at, actor)
    SELECT g, 1, 'request', '{"glass": 10}', '{}',
           now() - interval '365 days' + g * (interval '365 days' / $1), 'bench'
    FROM generate_series(1, $1) g;
SELECT setval(pg_get_serial_sequence('transfers', 'id'), $1) \g /dev/null
SQL
        cat
    } | sql -f -
}

# say TEXT: a step of the script, on stderr.
say() { printf '== %s\n' "$*" >&2; }

# bench_start NAME PG_PORT PORT: the whole frame, for a script named NAME: pg_port
# ($BENCH_PG_PORT, else PG_PORT), port ($BENCH_PORT, else PORT), pgdir
# ($WASTEFLOW_BENCH_PGDATA, else /tmp/wasteflow-NAME-pg), a new work directory, the EXIT
# trap, the binary, the database (DATABASE_URL), and sql (psql on it, unaligned, stopping
# at the first error).
bench_start() {
    pg_port=${BENCH_PG_PORT:-$2}
    port=${BENCH_PORT:-$3}
    pgdir=${WASTEFLOW_BENCH_PGDATA:-/tmp/wasteflow-$1-pg}
    work=$(mktemp -d "/tmp/wasteflow-$1.XXXXXX")
    server_pid=""
    trap bench_cleanup EXIT
    bin=$(bench_binary)
    bench_database
    # shellcheck disable=SC2317  # called by the script
    sql() { psql "$DATABASE_URL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
}
