#!/usr/bin/env bash
# What the live events cost the write path: the transfer transaction with the event
# triggers of sql/migrations/005_events.sql enabled and disabled, alternating in one run so
# that a shared machine's drift cancels out.
#
#   test/bench/events_cost.sh [OUT.txt]
#
# NOTIFY makes committing notifiers wait for each other: PostgreSQL takes one lock per
# database from the commit's NOTIFY until the commit has ended, its WAL flush included (and
# the transfers' commit-order position holds a row lock over the same stretch). So the
# cost is measured twice: with fsync off (deploy/pg-local.sh fast mode, the other
# benchmarks' setting) and with fsync and synchronous_commit on, where the flush is inside
# the serialized part.
#
# Modes, each REPEAT (3) times, DURATION (10) s, at each of CONNECTIONS ("16 64"):
#   off     the event triggers disabled (what the schema cost before this migration)
#   on      enabled, one wasteflow server LISTENing (no stream open: it fetches nothing)
#   stream  enabled, and one admin stream open on that server (it fetches every change)
# Load: pgbench running the service's transfer transaction shape (lock the organization,
# ship 1-3 kg of glass to a random storage, ledger rows, stock, pending, pending_since),
# over 1,000 organizations and 200 storages (wasteflow seed synthetic).
#
# Environment: BENCH_PG_PORT (54352), BENCH_PORT (18352), REPEAT, DURATION, CONNECTIONS,
# WASTEFLOW_BENCH_PGDATA (/tmp/wasteflow-events-cost-pg). Needs pgbench, psql, curl.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-}
pg_port=${BENCH_PG_PORT:-54352}
port=${BENCH_PORT:-18352}
repeat=${REPEAT:-3}
duration=${DURATION:-10}
connections=${CONNECTIONS:-"16 64"}
pgdir=${WASTEFLOW_BENCH_PGDATA:-/tmp/wasteflow-events-cost-pg}
work=$(mktemp -d /tmp/wasteflow-events-cost.XXXXXX)
say() { printf '\n== %s\n' "$*" >&2; }

say "build (Release, build-release/)"
cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    >"$work/build.log" 2>&1 && cmake --build "$root/build-release" -j2 >>"$work/build.log" 2>&1
bin="$root/build-release/wasteflow"

server_pid=""
stream_pid=""
cleanup() {
    [[ -n "$stream_pid" ]] && kill "$stream_pid" 2>/dev/null || true
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    WASTEFLOW_PG_PORT=$pg_port "$root/deploy/pg-local.sh" stop "$pgdir" >/dev/null 2>&1 || true
    rm -rf "$pgdir"
}
trap cleanup EXIT

triggers=(storages_events_insert storages_events_rename storages_events_delete
    storage_waste_events_insert storage_waste_events_update storage_waste_events_delete
    organizations_events_insert organizations_events_rename organizations_events_delete
    organization_waste_events_insert organization_waste_events_update
    organization_waste_events_delete routes_events_insert routes_events_update
    routes_events_delete unloads_events_insert transfers_commit_position)
tables=(storages storages storages storage_waste storage_waste storage_waste organizations
    organizations organizations organization_waste organization_waste organization_waste routes
    routes routes unloads transfers)

sql() { psql "$DATABASE_URL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
set_triggers() { # enable | disable
    local statements="" i
    for i in "${!triggers[@]}"; do
        statements+="ALTER TABLE ${tables[$i]} ${1^^} TRIGGER ${triggers[$i]}; "
    done
    sql -c "$statements"
}

cat >"$work/transfer.sql" <<'SQL'
\set org random(1, 1000)
\set st 1 + 3 * random(0, 66)
\set kg random(1, 3)
BEGIN;
SELECT id, nextval(pg_get_serial_sequence('transfers', 'id')) AS tid FROM organizations WHERE id = :org::bigint FOR NO KEY UPDATE \gset
SELECT waste_type, capacity, pending FROM organization_waste WHERE organization_id = :org::bigint ORDER BY waste_type;
SELECT storage_id FROM storage_waste WHERE waste_type = 'glass' AND storage_id = :st::bigint FOR UPDATE;
WITH t AS (INSERT INTO transfers (id, organization_id, trigger, received, pending, created_at, actor) VALUES (:tid::bigint, :org::bigint, 'request', jsonb_build_object('glass', :kg::bigint), '{}', now(), 'bench') RETURNING id) INSERT INTO shipments (transfer_id, position, storage_id, waste_type, amount, distance_m) SELECT t.id, 1, :st::bigint, 'glass', :kg::bigint, 100 FROM t;
UPDATE storage_waste SET stock = stock + :kg::bigint WHERE storage_id = :st::bigint AND waste_type = 'glass';
INSERT INTO organization_waste (organization_id, waste_type, pending) VALUES (:org::bigint, 'glass', 0) ON CONFLICT (organization_id, waste_type) DO UPDATE SET pending = EXCLUDED.pending;
UPDATE organizations SET pending_since = NULL WHERE id = :org::bigint;
COMMIT;
SQL

run_mode() { # durability mode connections rep
    local tag="$1-$2-c$3-r$4"
    case "$2" in
    off) set_triggers disable ;;
    *) set_triggers enable ;;
    esac
    if [[ "$2" == stream ]]; then
        curl -sN -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/events" \
            >"$work/stream.out" &
        stream_pid=$!
        sleep 0.5
    fi
    sql -c "VACUUM (ANALYZE) storage_waste, organization_waste, organizations" >/dev/null
    pgbench -M prepared -n -T "$duration" -c "$3" -j 2 -f "$work/transfer.sql" "$DATABASE_URL" \
        >"$work/$tag.out" 2>&1 || true
    if [[ -n "$stream_pid" ]]; then
        kill "$stream_pid" 2>/dev/null || true
        wait "$stream_pid" 2>/dev/null || true
        stream_pid=""
    fi
    local tps
    tps=$(grep -oP 'tps = \K[\d.]+(?= \(without)' "$work/$tag.out" || echo 0)
    printf '%s %s %s %s %s\n' "$1" "$2" "$3" "$4" "$tps" >>"$work/results.txt"
    printf '   %-7s %-6s c=%-3s run %s: %10s tx/s\n' "$1" "$2" "$3" "$4" "$tps" >&2
}

for durability in fast durable; do
    say "PostgreSQL on 127.0.0.1:$pg_port ($durability)"
    WASTEFLOW_PG_PORT=$pg_port "$root/deploy/pg-local.sh" stop "$pgdir" >/dev/null 2>&1 || true
    rm -rf "$pgdir"
    DATABASE_URL=$(WASTEFLOW_PG_PORT=$pg_port WASTEFLOW_PG_FAST=$([[ $durability == fast ]] && echo 1 || echo 0) \
        "$root/deploy/pg-local.sh" start "$pgdir" 2>>"$work/pg.log")
    export DATABASE_URL
    "$bin" migrate >/dev/null 2>&1
    "$bin" seed synthetic --organizations 1000 --storages 200 --routes 5000 --seed 1 >/dev/null 2>&1
    sql -c "UPDATE storage_waste SET capacity = 1000000000"
    sql -c "VACUUM ANALYZE"
    key=$("$bin" keys create --role admin | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')
    WASTEFLOW_LISTEN=127.0.0.1:$port WASTEFLOW_LOG_LEVEL=warn "$bin" serve >>"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    for rep in $(seq "$repeat"); do
        for c in $connections; do
            for mode in off on stream; do
                run_mode "$durability" "$mode" "$c" "$rep"
            done
        done
    done
    kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
    server_pid=""
done

say "results (best of $repeat; ratio to off)"
report=$(python3 - "$work/results.txt" <<'PY'
import sys, collections
best = collections.defaultdict(float)
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    durability, mode, conns, rep, tps = line.split()
    key = (durability, int(conns), mode)
    runs[key].append(float(tps))
    best[key] = max(best[key], float(tps))
print(f"{'durability':10} {'conns':>5} {'off tx/s':>10} {'on tx/s':>10} {'on/off':>7} {'stream tx/s':>12} {'stream/off':>10}  runs (off | on | stream)")
for durability in ("fast", "durable"):
    for conns in sorted({k[1] for k in best if k[0] == durability}):
        off, on, st = (best[(durability, conns, m)] for m in ("off", "on", "stream"))
        r = lambda m: " ".join(f"{x:.0f}" for x in runs[(durability, conns, m)])
        print(f"{durability:10} {conns:5} {off:10.1f} {on:10.1f} {on / off if off else 0:7.2f} {st:12.1f} {st / off if off else 0:10.2f}  {r('off')} | {r('on')} | {r('stream')}")
PY
)
echo "$report"
[[ -n "$out" ]] && echo "$report" >"$out"
echo "outputs in $work" >&2
