#!/usr/bin/env bash
# What movements cost (docs/movements-bench.md): transfers to weighed storages against
# transfers to automatic ones, and receipts against transfers, on the same world.
#
#   test/bench/movements.sh OUT.json
#
# Builds Release (build-release/), starts a private PostgreSQL 15 in fast mode
# (MOVEMENTS_PGDATA, default /tmp/wasteflow-movements-pg, on 127.0.0.1:MOVEMENTS_PG_PORT,
# default 54346) and seeds one synthetic world (1,000 organizations, 200 storages, 5,000
# routes, seed 1, as run.sh) twice, into two databases: `--weighed-share 0` (every storage
# automatic) and `--weighed-share 1` (every storage weighed); all capacities are raised to
# 10^9 so no run runs out of room. One server per database (127.0.0.1:MOVEMENTS_PORT and
# the next port, default 18346/18347), pool 4, no rate limit or work budget, admin key.
#
# Each round, at 16 connections for DURATION (8) s, wrk -t2 --latency:
#   auto      POST /v1/organizations/{random}/transfers {"waste":{"glass":1..3}}
#             (random_transfer.lua) on the automatic world: the baseline
#   weighed   the same on the weighed world: every shipment a movement in transit
#   receipt   POST /v1/movements/{id}/receipt {"received_kg": planned, "ticket"} over the
#             movements in transit when the run starts (receipt_walk.lua), each once
# alternating REPEAT (2) rounds; the best run of each side counts (on a shared machine
# interference only ever slows a run down). A warm-up weighed run first fills the pool of
# movements in transit; each weighed run adds to it. Per run: requests/s, p50/p99, and CPU
# per request of the server and of PostgreSQL (benchlib.py, as run.sh measures them),
# with other% = the rest of the machine.
# Then, DURABLE (default 1; 0 skips): PostgreSQL restarted with fsync and
# synchronous_commit on, fresh servers, the same rounds (DURABLE_REPEAT, default 2).
# Prints a table of ratios against the baseline (weighed / auto, receipt / weighed,
# receipt / auto), checks sql/audit.sql on both databases, writes OUT.json. Everything it
# starts listens on 127.0.0.1 and is stopped at exit; outputs stay in the work directory
# it prints.
set -euo pipefail

# shellcheck source=test/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init "$0" "$@"
duration=${DURATION:-8}
repeat=${REPEAT:-2}
durable_repeat=${DURABLE_REPEAT:-2}
port=${MOVEMENTS_PORT:-18346}
pg_port=${MOVEMENTS_PG_PORT:-54346}
pgdir=${MOVEMENTS_PGDATA:-/tmp/wasteflow-movements-pg}
orgs=1000 storages=200 routes=5000 conns=16
work=$(mktemp -d /tmp/wasteflow-movements.XXXXXX)
results="$work/results.jsonl"
say() { printf '\n== %s\n' "$*" >&2; }

for tool in wrk psql python3 curl /usr/bin/time; do
    command -v "$tool" >/dev/null || {
        echo "movements.sh: $tool is required" >&2
        exit 1
    }
done

say "build (Release, build-release/)"
build_release "$root" "$work/build.log" || exit 1
bin="$root/build-release/wasteflow"

declare -A server_pid=([auto]="" [weighed]="")
declare -A server_port=([auto]=$port [weighed]=$((port + 1)))
stop_servers() {
    for w in auto weighed; do
        stop_pid "${server_pid[$w]}"
        server_pid[$w]=""
    done
}
cleanup() {
    stop_servers
    drop_pg "$pg_port" "$pgdir"
}
trap cleanup EXIT

say "PostgreSQL (fast mode) in $pgdir on 127.0.0.1:$pg_port"
drop_pg "$pg_port" "$pgdir"
admin_url=$(WASTEFLOW_PG_PORT=$pg_port WASTEFLOW_PG_FAST=1 "$root/deploy/pg-local.sh" start \
    "$pgdir" 2>>"$work/pg-start.log") || {
    echo "movements.sh: could not start PostgreSQL (see $work/pg-start.log)" >&2
    exit 1
}
postmaster_pid=$(head -n 1 "$pgdir/data/postmaster.pid")
declare -A url=([auto]="${admin_url%/*}/movements_auto" [weighed]="${admin_url%/*}/movements_weighed")
declare -A share=([auto]=0 [weighed]=1)
sql() {
    local w=$1
    shift
    psql "${url[$w]}" -X -q -A -t -v ON_ERROR_STOP=1 "$@"
}
declare -A key=()
for w in auto weighed; do
    say "seed the $w world (--weighed-share ${share[$w]})"
    psql "$admin_url" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE movements_$w"
    DATABASE_URL=${url[$w]} "$bin" migrate >/dev/null 2>&1
    DATABASE_URL=${url[$w]} "$bin" seed synthetic --organizations $orgs --storages $storages \
        --routes $routes --seed 1 --weighed-share "${share[$w]}" >&2
    sql "$w" -c "UPDATE storage_waste SET capacity = 1000000000"
    # Not the (empty) ledger tables: see run.sh on plans cached while a table was empty.
    sql "$w" -c "VACUUM ANALYZE organizations, organization_waste, storages, storage_waste, routes"
    key[$w]=$(DATABASE_URL=${url[$w]} "$bin" keys create --role admin --name bench |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
done

start_server() {
    local w=$1 p=${server_port[$1]} pid
    DATABASE_URL="${url[$w]/wasteflow@/wasteflow_app@}" WASTEFLOW_LISTEN=127.0.0.1:$p \
        WASTEFLOW_POOL_SIZE=4 WASTEFLOW_MAX_CONNECTIONS=300 WASTEFLOW_LOG_LEVEL=warn \
        WASTEFLOW_RATE_LIMIT=0 WASTEFLOW_WORK_BUDGET=0 "$bin" serve >>"$work/server-$w.log" 2>&1 &
    pid=$!
    server_pid[$w]=$pid
    wait_started "$p" "$pid" "$work/server-$w.log" || exit 1
    # The first view loads the road graph: keep that out of the measurements.
    curl -sf -H "Authorization: Bearer ${key[$w]}" "http://127.0.0.1:$p/v1/organizations/1/storages" >/dev/null
}

# run NAME WORLD MODE ROUND SECONDS: one wrk run, its CPU samples, a line in $results.
run() {
    local name=$1 w=$2 mode=$3 round=$4 secs=$5 script
    local tag="$mode-$name-r$round" base="http://127.0.0.1:${server_port[$w]}"
    # As run.sh: the rows transfers update, vacuumed, and the ledger analyzed, before each.
    sql "$w" -c "VACUUM (ANALYZE) storage_waste, organization_waste, organizations" \
        -c "ANALYZE transfers, shipments, receipts"
    if [[ $name == receipt ]]; then
        script="$bench/receipt_walk.lua"
        sql "$w" -F ' ' -c "SELECT s.id, s.amount FROM shipments s WHERE s.in_transit AND
            NOT EXISTS (SELECT 1 FROM receipts r WHERE r.shipment_id = s.id) ORDER BY s.id" \
            >"$work/$tag.ids"
        printf '   %s movements in transit\n' "$(wc -l <"$work/$tag.ids")" >&2
    else
        script="$bench/random_transfer.lua"
    fi
    python3 "$lib" cpu "${server_pid[$w]}" "$postmaster_pid" >"$work/$tag.cpu"
    BENCH_KEY=${key[$w]} IDS_FILE="$work/$tag.ids" WRK_THREADS=2 ORGS=$orgs WASTE_TYPE=glass \
        /usr/bin/time -f '%U %S' -o "$work/$tag.time" \
        wrk -t2 -c$conns -d"${secs}s" --timeout 10s --latency -s "$script" "$base" \
        >"$work/$tag.wrk" 2>&1 || true
    python3 "$lib" cpu "${server_pid[$w]}" "$postmaster_pid" >>"$work/$tag.cpu"
    python3 "$lib" wrk "$mode/$name" $conns "$work/$tag.wrk" "$work/$tag.cpu" "$work/$tag.time" \
        "$results"
    printf '   %-8s %-8s round %s %10s req/s %s\n' "$mode" "$name" "$round" \
        "$(grep -oP 'Requests/sec:\s+\K[\d.]+' "$work/$tag.wrk" || echo '?')" \
        "$(grep -oP 'Non-2xx or 3xx responses:\s+\K\d+' "$work/$tag.wrk" | sed 's/^/non-2xx /')" >&2
}

# rounds MODE COUNT: a warm-up weighed run, then COUNT rounds of auto, weighed, receipt.
rounds() {
    local mode=$1 count=$2
    start_server auto
    start_server weighed
    run warmup weighed "$mode" 0 3
    for round in $(seq 1 "$count"); do
        run auto auto "$mode" "$round" "$duration"
        run weighed weighed "$mode" "$round" "$duration"
        run receipt weighed "$mode" "$round" "$duration"
    done
    stop_servers
}

say "fast mode (fsync off): $repeat rounds of auto, weighed, receipt; $duration s each"
rounds fast "$repeat"

if [[ "${DURABLE:-1}" == 1 ]]; then
    say "durable (fsync and synchronous_commit on): $durable_repeat rounds"
    WASTEFLOW_PG_PORT=$pg_port "$root/deploy/pg-local.sh" stop "$pgdir" >/dev/null 2>&1
    WASTEFLOW_PG_PORT=$pg_port WASTEFLOW_PG_FAST=0 "$root/deploy/pg-local.sh" start "$pgdir" \
        >/dev/null 2>>"$work/pg-start.log"
    postmaster_pid=$(head -n 1 "$pgdir/data/postmaster.pid")
    sql auto -c "SHOW fsync" -c "SHOW synchronous_commit" | tr '\n' ' ' |
        sed 's/^/   fsync, synchronous_commit: /' >&2
    echo >&2
    rounds durable "$durable_repeat"
fi

say "books"
audit=""
for w in auto weighed; do
    # audit.sql prints one line per violation and nothing when the books hold.
    if sql "$w" -f "$root/sql/audit.sql" >"$work/audit-$w.txt" 2>&1 &&
        ! grep -q . "$work/audit-$w.txt"; then
        audit+="$w: clean; "
    else
        audit+="$w: FAILED (see $work/audit-$w.txt); "
    fi
done
in_transit=$(sql weighed -c "SELECT count(*) FROM shipments s WHERE in_transit AND NOT EXISTS
    (SELECT 1 FROM receipts r WHERE r.shipment_id = s.id)")
received=$(sql weighed -c "SELECT count(*) FROM receipts")
auto_transit=$(sql auto -c "SELECT count(*) FROM shipments WHERE in_transit")
echo "   audit.sql: $audit" >&2
echo "   weighed world: $received receipts, $in_transit movements still in transit;" \
    "automatic world: $auto_transit in transit" >&2

python3 - "$results" "$out" "$audit" "$received" "$in_transit" "$auto_transit" <<'PY'
import json, sys
results, out, audit, received, in_transit, auto_transit = sys.argv[1:7]
runs = [json.loads(line) for line in open(results)]
doc = {"connections": 16, "audit": audit.strip("; "), "receipts": int(received),
       "weighed_in_transit_left": int(in_transit), "auto_in_transit": int(auto_transit),
       "modes": {}, "runs": runs}
def best(mode, name):
    mine = [r for r in runs if r["name"] == f"{mode}/{name}"]
    return max(mine, key=lambda r: r["rps"]) if mine else None
def f(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"
def ratio(a, b, key, invert=False):
    if not a or not b or not a.get(key) or not b.get(key):
        return None
    return round(a[key] / b[key], 3)
for mode in ("fast", "durable"):
    sides = {n: best(mode, n) for n in ("auto", "weighed", "receipt")}
    if not sides["auto"]:
        continue
    print(f"\n{mode}: best of {len([r for r in runs if r['name'] == mode + '/auto'])}, "
          "16 connections; CPU in µs per request; ratios against the baseline (auto transfers)")
    print(f"{'side':9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'server':>7} {'pg':>7} "
          f"{'other%':>6} {'non2xx':>6}  {'rps/auto':>8} {'pg/auto':>7} {'srv/auto':>8}")
    entry = {}
    for name, r in sides.items():
        if not r:
            continue
        a = sides["auto"]
        print(f"{name:9} {f(r['rps'], '8.1f')} {f(r['p50_ms'], '7.2f')} {f(r['p99_ms'], '7.2f')} "
              f"{f(r.get('server_cpu_us'), '7.0f')} {f(r.get('pg_cpu_us'), '7.0f')} "
              f"{f(r.get('other_load_pct'), '6.0f')} {r['non2xx']:6d}  "
              f"{f(ratio(r, a, 'rps'), '8.2f')} {f(ratio(r, a, 'pg_cpu_us'), '7.2f')} "
              f"{f(ratio(r, a, 'server_cpu_us'), '8.2f')}")
        entry[name] = {k: r.get(k) for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us",
                                             "pg_cpu_us", "other_load_pct", "non2xx",
                                             "socket_errors", "requests")}
    w, rc, a = sides["weighed"], sides["receipt"], sides["auto"]
    entry["ratios"] = {
        "weighed_vs_auto_rps": ratio(w, a, "rps"),
        "weighed_vs_auto_pg_cpu": ratio(w, a, "pg_cpu_us"),
        "weighed_vs_auto_server_cpu": ratio(w, a, "server_cpu_us"),
        "receipt_vs_weighed_rps": ratio(rc, w, "rps"),
        "receipt_vs_weighed_pg_cpu": ratio(rc, w, "pg_cpu_us"),
        "receipt_vs_weighed_server_cpu": ratio(rc, w, "server_cpu_us"),
        "receipt_vs_auto_rps": ratio(rc, a, "rps"),
    }
    print("receipt vs weighed transfer: rps %s, pg CPU %s, server CPU %s" % (
        f(entry["ratios"]["receipt_vs_weighed_rps"], ".2f"),
        f(entry["ratios"]["receipt_vs_weighed_pg_cpu"], ".2f"),
        f(entry["ratios"]["receipt_vs_weighed_server_cpu"], ".2f")))
    doc["modes"][mode] = entry
print("\nall runs:")
for r in runs:
    print(f"  {r['name']:18} {r['rps']:9.1f} req/s  p50 {f(r['p50_ms'], '.2f')}  p99 "
          f"{f(r['p99_ms'], '.2f')}  non2xx {r['non2xx']}  other% {f(r.get('other_load_pct'), '.0f')}")
json.dump(doc, open(out, "w"), indent=1)
PY
echo "movements.sh: raw outputs in $work; JSON in $out" >&2
