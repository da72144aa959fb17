#!/usr/bin/env bash
# The benchmark suite (see test/bench/README.md): service vs pgbench baseline.
#
#   test/bench/run.sh OUT.json
#
# Builds Release (build-release/), starts a private PostgreSQL 15 in fast mode
# (WASTEFLOW_BENCH_PGDATA, default /tmp/wasteflow-bench-pg, port 54350), seeds a synthetic
# world (1,000 organizations, 200 storages, 5,000 routes, seed 1), starts the server on
# 127.0.0.1:18350 and runs, at 16 and 64 connections, DURATION (10) s each:
#   S0  GET /healthz                                        (HTTP ceiling, no database)
#   S1  GET /v1/organizations/{random}/storages?waste_type=glass    + pgbench baseline
#   S2  POST /v1/organizations/{random}/transfers {"waste":{"glass":1..3}}, the synthetic
#       world's storages (capacities raised to 10^9)               + pgbench baseline
#   S3  the same with one hot storage nearest to every organization + pgbench baseline
# then S2 at 64 connections with each WASTEFLOW_POOL_SIZE of POOL_SWEEP, and S1 at 256
# connections to read the server's peak RSS (VmHWM). Prints a table and writes OUT.json.
#
# This machine is shared: each service/baseline pair runs REPEAT (2) times, alternating, and
# the best run of each side counts (interference only ever slows a run down); the CPU
# table shows how busy the rest of the machine was during the counted runs.
#
# Every /v1 request carries an admin key (`wasteflow keys create --role admin`, made after
# seeding); the servers run as the app role with WASTEFLOW_RATE_LIMIT=0 and
# WASTEFLOW_WORK_BUDGET=0 (the suite measures throughput, not the limits).
#
# Last, DURABLE (default 1; 0 skips): the database restarted with fsync on, and S2 at 16
# connections with the live feed on and three /v1/events streams open against a server with
# WASTEFLOW_EVENTS=off, alternating DURABLE_REPEAT (3) times; the JSON gets "durable".
#
# Environment: POOL_SIZE (the server's pool, default 4), POOL_SWEEP (default "2 4 8";
# empty skips), REPEAT (default 2), DURATION (seconds per run, default 10), BENCH_PORT
# (default 18350; the pool sweep uses the next port), BENCH_PG_PORT (default 54350), PROFILE=1 (also perf-record the server during extra S1 and S2 runs at 64
# connections and print where its CPU goes; needs perf). Everything it starts listens on
# 127.0.0.1 and is stopped at exit; outputs stay in the work directory it prints.
set -euo pipefail

# shellcheck source=test/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init "$0" "$@"
pool=${POOL_SIZE:-4}
sweep=${POOL_SWEEP-"2 4 8"}
duration=${DURATION:-10}
repeat=${REPEAT:-2}
rep=1 # the repetition being run, part of every output file's name
port=${BENCH_PORT:-18350}
sweep_port=$((port + 1))
pg_port=${BENCH_PG_PORT:-54350}
pgdir=${WASTEFLOW_BENCH_PGDATA:-/tmp/wasteflow-bench-pg}
orgs=1000
storages=200
routes=5000
work=$(mktemp -d /tmp/wasteflow-bench.XXXXXX)
results="$work/results.jsonl"
suite_start=$(date +%s)

for tool in wrk pgbench psql python3 curl /usr/bin/time; do
    command -v "$tool" >/dev/null || {
        echo "run.sh: $tool is required" >&2
        exit 1
    }
done

say() { printf '\n== %s\n' "$*" >&2; }

say "build (Release, build-release/)"
build_release "$root" "$work/build.log" || exit 1
bin="$root/build-release/wasteflow"

server_pid=""
sweep_pid=""
# Servers are started inside $(...), so they are not this shell's children: poll for the exit.
cleanup() {
    stop_pid "$sweep_pid"
    stop_pid "$server_pid"
    drop_pg "$pg_port" "$pgdir"
}
trap cleanup EXIT

say "PostgreSQL (fast mode) in $pgdir on 127.0.0.1:$pg_port"
drop_pg "$pg_port" "$pgdir"
if ! DATABASE_URL=$(start_fast_pg "$pg_port" "$pgdir" "$work/pg-start.log"); then
    echo "run.sh: could not start PostgreSQL on 127.0.0.1:$pg_port (see $work/pg-start.log)" >&2
    exit 1
fi
export DATABASE_URL
postmaster_pid=$(head -n 1 "$pgdir/data/postmaster.pid")
sql() { psql "$DATABASE_URL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

say "seed: $orgs organizations, $storages storages, $routes routes"
"$bin" migrate >/dev/null 2>&1
"$bin" seed synthetic --organizations $orgs --storages $storages --routes $routes --seed 1 >&2
# Not the (empty) ledger tables: analyzed while empty, the server's long-lived sessions would
# plan the foreign-key checks against them as sequential scans and keep those plans while
# the ledger grows (see README.md, "Pitfalls").
sql -c "VACUUM ANALYZE organizations, organization_waste, storages, storage_waste, routes"
# Access control: every /v1 request (wrk's scripts, benchlib's reachability probe, curl
# here) carries this admin key; the servers connect as the app role, as deploy/run.sh's do.
BENCH_KEY=$("$bin" keys create --role admin --name bench |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
export BENCH_KEY
auth="Authorization: Bearer $BENCH_KEY"
serve_url="${DATABASE_URL/wasteflow@/wasteflow_app@}"

# start_server PORT POOL: starts a server, prints its pid.
start_server() {
    local listen_port=$1 pool_size=$2 pid
    DATABASE_URL=$serve_url WASTEFLOW_LISTEN=127.0.0.1:$listen_port WASTEFLOW_POOL_SIZE=$pool_size \
        WASTEFLOW_MAX_CONNECTIONS=${WASTEFLOW_MAX_CONNECTIONS:-300} WASTEFLOW_LOG_LEVEL=warn \
        WASTEFLOW_RATE_LIMIT=0 WASTEFLOW_WORK_BUDGET=0 "$bin" serve >>"$work/server-$listen_port.log" 2>&1 &
    pid=$!
    wait_started "$listen_port" "$pid" "$work/server-$listen_port.log" || return 1
    # The first view loads the road graph: keep that out of the measurements.
    curl -sf -H "$auth" "http://127.0.0.1:$listen_port/v1/organizations/1/storages" >/dev/null
    echo "$pid"
}

cpu_sample() { python3 "$lib" cpu "${1:-0}" "$postmaster_pid"; }

# run_wrk NAME CONNECTIONS PID BASE_URL PATH_OR_SCRIPT [SECONDS]
run_wrk() {
    local name=$1 conns=$2 pid=$3 base=$4 what=$5 secs=${6:-$duration}
    local tag="$name-c$conns-r$rep" args=()
    if [[ "$what" == *.lua ]]; then
        args=(-s "$what" "$base")
    else
        args=("$base$what")
    fi
    cpu_sample "$pid" >"$work/$tag.cpu"
    ORGS=$orgs WASTE_TYPE=glass /usr/bin/time -f '%U %S' -o "$work/$tag.time" \
        wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s --latency "${args[@]}" >"$work/$tag.wrk" 2>&1 || true
    cpu_sample "$pid" >>"$work/$tag.cpu"
    python3 "$lib" wrk "$name" "$conns" "$work/$tag.wrk" "$work/$tag.cpu" "$work/$tag.time" "$results"
    printf '   %-10s c=%-3s service %10s req/s\n' "$name" "$conns" \
        "$(grep -oP 'Requests/sec:\s+\K[\d.]+' "$work/$tag.wrk" || echo '?')" >&2
}

# run_pgbench NAME CONNECTIONS SCRIPT [-D var=value ...]
run_pgbench() {
    local name=$1 conns=$2 script=$3
    shift 3
    local tag="$name-c$conns-r$rep-pgbench"
    cpu_sample "$server_pid" >"$work/$tag.cpu"
    /usr/bin/time -f '%U %S' -o "$work/$tag.time" \
        pgbench -M prepared -n -T "$duration" -c "$conns" -j $((conns < 2 ? conns : 2)) -f "$script" \
        -D orgs=$orgs -D wt=glass -D wt_field=waste_type -D wt_arr='{glass}' \
        -D types_field=waste. -D trigger=request -D empty_json='{}' -D one=1 \
        -D zero_arr='{0}' -D any_left=false -D n=0 -D ready=0 -D actor=bench "$@" \
        "$DATABASE_URL" >"$work/$tag.out" 2>&1 || true
    cpu_sample "$server_pid" >>"$work/$tag.cpu"
    python3 "$lib" pgbench "$name" "$conns" "$work/$tag.out" "$work/$tag.cpu" "$work/$tag.time" "$results"
    printf '   %-10s c=%-3s pgbench %10s tx/s\n' "$name" "$conns" \
        "$(grep -oP 'tps = \K[\d.]+' "$work/$tag.out" || echo '?')" >&2
}

# profile_run NAME SCRIPT: with PROFILE=1, one more 64-connection run with the server under
# perf record (DWARF call graphs), summarized by component into the work directory.
profile_run() {
    [[ "${PROFILE:-0}" == 1 ]] || return 0
    local name=$1 script=$2 perf_pid
    say "profile: perf record of the server during $name at 64 connections"
    perf record -F 499 --call-graph dwarf,32768 -o "$work/perf-$name.data" -p "$server_pid" \
        >"$work/perf-$name.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
    run_wrk "$name-perf" 64 "$server_pid" "$B" "$script"
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" || true
    perf script -i "$work/perf-$name.data" 2>/dev/null |
        python3 "$lib" perf-breakdown "$results" "$name-perf" >"$work/perf-$name.breakdown.txt" || true
    rm -f "$work/perf-$name.data"
}

# Every transfer updates a storage_waste row and the organization's rows, and appends to the
# ledger: before each transfer run, service or baseline, vacuum the updated tables and
# analyze the ledger, so both start from the same table state and the server's pooled
# sessions replan with current statistics, as pgbench's fresh sessions do.
vacuum_updated() {
    sql -c "VACUUM (ANALYZE) storage_waste, organization_waste, organizations" \
        -c "ANALYZE transfers, shipments"
}

for s in S1 S2 S3; do
    python3 "$lib" pgbench-script "$s" "$root/lib/engine/statements.c" "$work/$s.sql"
done

say "server on 127.0.0.1:$port (WASTEFLOW_POOL_SIZE=$pool)"
server_pid=$(start_server "$port" "$pool")
B="http://127.0.0.1:$port"

say "S0: GET /healthz"
for rep in $(seq "$repeat"); do
    for c in 16 64; do run_wrk S0 "$c" "$server_pid" "$B" /healthz; done
done

say "S1: GET /v1/organizations/{random}/storages?waste_type=glass"
for rep in $(seq "$repeat"); do
    for c in 16 64; do
        run_wrk S1 "$c" "$server_pid" "$B" "$bench/random_org_view.lua"
        run_pgbench S1 "$c" "$work/S1.sql"
    done
done
rep=1
# For reference: the same SQL from as many connections as the service's pool has.
run_pgbench S1-atpool "$pool" "$work/S1.sql"
profile_run S1 "$bench/random_org_view.lua"

# The storages every organization reaches (the candidate ids a transfer sends), from the
# service itself; in this world every organization reaches all of them.
reach=$(python3 "$lib" reachable "$B" $orgs)
tid_base=1000000000000 # baseline transfer ids: far above the service's sequence
tid_first=$tid_base

# transfer_runs NAME REACH HOT: service then baseline, at 16 and 64 connections, REPEAT times.
transfer_runs() {
    local name=$1 reach_ids=$2 hot_id=$3
    for rep in $(seq "$repeat"); do
        for c in 16 64; do
            vacuum_updated
            run_wrk "$name" "$c" "$server_pid" "$B" "$bench/random_transfer.lua"
            tid_base=$((tid_base + 100000000000))
            vacuum_updated
            run_pgbench "$name" "$c" "$work/$name.sql" -D reach="$reach_ids" -D tid_base=$tid_base \
                -D hot="$hot_id"
        done
    done
    rep=1
    tid_base=$((tid_base + 100000000000))
    vacuum_updated
    run_pgbench "$name-atpool" "$pool" "$work/$name.sql" -D reach="$reach_ids" \
        -D tid_base=$tid_base -D hot="$hot_id"
}

say "S2: POST /v1/organizations/{random}/transfers, storages spread (capacities 10^9)"
sql -c "UPDATE storage_waste SET capacity = 1000000000"
transfer_runs S2 "$reach" 0
vacuum_updated
profile_run S2 "$bench/random_transfer.lua"
s2_pending=$(sql -c "SELECT coalesce(sum(pending), 0) FROM organization_waste")

if [[ -n "$sweep" ]]; then
    say "S2 at 64 connections by WASTEFLOW_POOL_SIZE: $sweep"
    for rep in $(seq "$repeat"); do
        for p in $sweep; do
            sweep_pid=$(start_server "$sweep_port" "$p")
            vacuum_updated
            run_wrk "S2-pool$p" 64 "$sweep_pid" "http://127.0.0.1:$sweep_port" \
                "$bench/random_transfer.lua"
            stop_pid "$sweep_pid"
            sweep_pid=""
        done
    done
    rep=1
fi

say "S3: the same, every organization's nearest storage is one hot storage"
sql <<'SQL'
BEGIN;
WITH s AS (INSERT INTO storages (name) VALUES ('hot') RETURNING id),
     w AS (INSERT INTO storage_waste (storage_id, waste_type, capacity)
           SELECT id, 'glass', 1000000000000 FROM s)
INSERT INTO routes (from_organization_id, to_storage_id, distance_m)
SELECT o.id, s.id, 1 FROM organizations o, s;
UPDATE graph_state SET version = version + 1;
UPDATE dispatch_state SET room_epoch = room_epoch + 1;
COMMIT;
VACUUM ANALYZE;
SQL
hot=$(sql -c "SELECT id FROM storages WHERE name = 'hot'")
reach3="${reach%\}},$hot}"
curl -sf -H "$auth" "$B/v1/organizations/1/storages" >/dev/null # reload the graph outside the runs
# The service's own shipments only: the baselines' carry their transfer's id (>= 10^12), so
# a max over all of them would put every later service shipment below it.
shipments_before=$(sql -c "SELECT coalesce(max(id), 0) FROM shipments WHERE transfer_id < $tid_first")
transfer_runs S3 "$reach3" "$hot"
# Of the service's own S3 shipments (the baseline's transfer ids are >= 10^12).
s3_hot_share=$(sql -c "SELECT round(100.0 * count(*) FILTER (WHERE storage_id = $hot)
    / greatest(count(*), 1), 1) FROM shipments WHERE id > $shipments_before
    AND transfer_id < $tid_first")

say "peak RSS: S1 at 256 connections, 5 s"
run_wrk S1-rss 256 "$server_pid" "$B" "$bench/random_org_view.lua" 5
peak_rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$server_pid/status")

audit=$(sql -f "$root/sql/audit.sql" 2>&1 || true)
server_errors=$(grep -c '"level":"error"' "$work/server-$port.log" || true)
hot_updates=$(sql -c "SELECT n_tup_upd || ' updates, ' || n_tup_hot_upd || ' HOT' FROM
    pg_stat_user_tables WHERE relname = 'storage_waste'")
pending_now=$(sql -c "SELECT coalesce(sum(pending), 0) FROM organization_waste")

say "results"
python3 "$lib" report "$results" "$out" "$peak_rss" 256 "$pool"
echo
echo "S2: waste left pending after the runs: $s2_pending kg (0: every transfer placed all)"
echo "S3: $s3_hot_share% of the service's S3 shipments went to the hot storage"
echo "storage_waste row updates: $hot_updates"
echo "waste pending now: $pending_now kg; server error log lines: $server_errors"
if [[ -z "$audit" ]]; then
    echo "sql/audit.sql: no violation"
else
    echo "sql/audit.sql reports:"
    echo "$audit" | head -n 20
fi
if [[ "${PROFILE:-0}" == 1 ]]; then
    for s in S1 S2; do
        echo
        echo "server CPU by component during $s at 64 connections (perf, share of server samples):"
        cat "$work/perf-$s.breakdown.txt"
    done
fi

# Durable commits: the same database restarted with fsync and synchronous_commit on, and
# transfers (S2's load, 16 connections) against a server with the live feed on and three
# admin /v1/events streams open, then against a server started with WASTEFLOW_EVENTS=off,
# alternating, DURABLE_REPEAT times; the best run of each side counts. (A server that does
# not know WASTEFLOW_EVENTS ignores it: both sides then run with the feed on.) Every stream
# must receive every transfer the ledger gained during its run.
if [[ "${DURABLE:-1}" == 1 ]]; then
    say "durable commits (fsync on): feed on + 3 streams vs WASTEFLOW_EVENTS=off"
    stop_pid "$server_pid"
    server_pid=""
    WASTEFLOW_PG_PORT=$pg_port "$root/deploy/pg-local.sh" stop "$pgdir" >/dev/null 2>&1
    WASTEFLOW_PG_PORT=$pg_port WASTEFLOW_PG_FAST=0 "$root/deploy/pg-local.sh" start "$pgdir" \
        >/dev/null 2>>"$work/pg-start.log"
    postmaster_pid=$(head -n 1 "$pgdir/data/postmaster.pid")
    sql -c "SHOW fsync" -c "SHOW synchronous_commit" | tr '\n' ' ' | sed 's/^/   fsync, synchronous_commit: /' >&2
    echo >&2
    durable_results="$work/durable.jsonl"
    for rep in $(seq "${DURABLE_REPEAT:-3}"); do
        for mode in feed off; do
            if [[ $mode == feed ]]; then
                server_pid=$(start_server "$port" "$pool")
            else
                server_pid=$(WASTEFLOW_EVENTS=off start_server "$port" "$pool")
            fi
            stream_pids=()
            if [[ $mode == feed ]]; then
                for i in 1 2 3; do
                    curl -sN -H "$auth" "$B/v1/events" >"$work/durable-stream$i-r$rep.txt" 2>/dev/null &
                    stream_pids+=($!)
                done
                sleep 1 # the streams are open before the load starts
            fi
            vacuum_updated
            # Counted, not compared by id: the baselines' ids lie far above the service's.
            first=$(sql -c "SELECT count(*) FROM transfers")
            run_wrk "S2-durable-$mode" 16 "$server_pid" "$B" "$bench/random_transfer.lua"
            made=$(($(sql -c "SELECT count(*) FROM transfers") - first))
            received=""
            if [[ $mode == feed ]]; then
                sleep 2 # the last commits reach the streams
                for pid in "${stream_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
                wait "${stream_pids[@]}" 2>/dev/null || true
                for i in 1 2 3; do
                    received+="$(grep -c '^event: transfer$' "$work/durable-stream$i-r$rep.txt" || true) "
                done
            fi
            python3 -c 'import json, re, sys
mode, rep, made, received, wrk = sys.argv[1:6]
text = open(wrk).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
print(json.dumps({"mode": mode, "rep": int(rep), "transfers_per_s": float(rps.group(1)) if rps else None,
                  "ledger_rows": int(made), "stream_transfer_events": [int(x) for x in received.split()]}))' \
                "$mode" "$rep" "$made" "$received" "$work/S2-durable-$mode-c16-r$rep.wrk" >>"$durable_results"
            stop_pid "$server_pid"
            server_pid=""
        done
    done
    python3 - "$durable_results" "$out" <<'PY'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
best = {m: max((r["transfers_per_s"] or 0) for r in runs if r["mode"] == m) for m in ("feed", "off")}
print()
print("Durable commits (fsync on), S2 at 16 connections, best of %d alternated:" % (len(runs) // 2))
print("  feed on + 3 streams: %.1f transfers/s   WASTEFLOW_EVENTS=off: %.1f transfers/s   ratio %.2f"
      % (best["feed"], best["off"], best["feed"] / best["off"] if best["off"] else float("nan")))
for r in runs:
    streams = r["stream_transfer_events"]
    note = ""
    if r["mode"] == "feed":
        complete = all(n >= r["ledger_rows"] for n in streams)
        note = "  streams got %s of %d transfers%s" % (streams, r["ledger_rows"],
                                                      "" if complete else "  INCOMPLETE")
    print("  run %d %-5s %9.1f transfers/s%s" % (r["rep"], r["mode"], r["transfers_per_s"] or 0, note))
with open(sys.argv[2]) as f:
    doc = json.load(f)
doc["durable"] = {"best_feed_with_3_streams": best["feed"], "best_events_off": best["off"],
                  "ratio": round(best["feed"] / best["off"], 3) if best["off"] else None, "runs": runs}
with open(sys.argv[2], "w") as f:
    json.dump(doc, f, indent=1)
PY
fi
echo "suite took $(($(date +%s) - suite_start)) s; outputs in $work; JSON in $out"
