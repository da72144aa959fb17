#!/usr/bin/env bash
# What the live events cost the write path: the transfer transaction with the feed off
# (WASTEFLOW_EVENTS=off: the service's sessions set wasteflow.events = off, and the event
# triggers are disabled too, so the same script measures a schema from before the setting)
# and on with three /v1/events streams open, alternating in one run so that a shared
# machine's drift cancels out, and checking that every stream received every transfer.
#
#   test/bench/events_cost.sh [OUT.txt]
#
# A feed that serializes commits (a lock or a NOTIFY in the committing transaction: PostgreSQL
# holds one lock per database from a commit's NOTIFY until the commit has ended, its WAL
# flush included) costs most when the flush is slow, so the cost is measured twice: with
# fsync off (deploy/pg-local.sh fast mode, the other benchmarks' setting) and with fsync and
# synchronous_commit on, where the flush is inside any serialized part.
#
# Modes, each REPEAT (3) times, DURATION (10) s, at each of CONNECTIONS ("16"):
#   off     the feed off: wasteflow.events = off in the load's sessions, triggers disabled
#   stream  the feed on, three admin streams open on one wasteflow server; after the run each
#           stream must have received every transfer the run committed ("all" in the table)
# Load: pgbench running the service's transfer transaction shape (lock the organization,
# ship 1-3 kg of glass to a random storage, ledger rows, stock, pending, pending_since),
# over 1,000 organizations and 200 storages (wasteflow seed synthetic).
#
# Environment: BENCH_PG_PORT (54352), BENCH_PORT (18352), REPEAT, DURATION, CONNECTIONS,
# WASTEFLOW_BENCH_PGDATA (/tmp/wasteflow-events-cost-pg). Needs pgbench, psql, curl.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/bench/lib.sh
. "$root/test/bench/lib.sh"
out=${1:-}
pg_port=${BENCH_PG_PORT:-54352}
port=${BENCH_PORT:-18352}
repeat=${REPEAT:-3}
duration=${DURATION:-10}
connections=${CONNECTIONS:-"16"}
pgdir=${WASTEFLOW_BENCH_PGDATA:-/tmp/wasteflow-events-cost-pg}
work=$(mktemp -d /tmp/wasteflow-events-cost.XXXXXX)
say() { printf '\n== %s\n' "$*" >&2; }

say "build (Release, build-release/)"
cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    >"$work/build.log" 2>&1 && cmake --build "$root/build-release" -j2 >>"$work/build.log" 2>&1
bin="$root/build-release/wasteflow"

server_pid=""
stream_pids=()
cleanup() {
    for pid in "${stream_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    drop_pg "$pg_port" "$pgdir"
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
set_triggers() { # enable | disable; the triggers this schema has (a later one may lack some)
    local statements="" i
    for i in "${!triggers[@]}"; do
        if [[ $(sql -c "SELECT count(*) FROM pg_trigger WHERE tgname = '${triggers[$i]}'") == 1 ]]; then
            statements+="ALTER TABLE ${tables[$i]} ${1^^} TRIGGER ${triggers[$i]}; "
        fi
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
    local tag="$1-$2-c$3-r$4" options="" i
    case "$2" in
    off)
        set_triggers disable
        options="-c wasteflow.events=off"
        ;;
    *) set_triggers enable ;;
    esac
    sql -c "VACUUM (ANALYZE) storage_waste, organization_waste, organizations" >/dev/null
    local first
    first=$(sql -c "SELECT coalesce(max(id), 0) FROM transfers")
    if [[ "$2" == stream ]]; then
        for i in 1 2 3; do
            curl -sN -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/events" \
                >"$work/$tag.stream$i" &
            stream_pids+=($!)
        done
        sleep 0.5
    fi
    PGOPTIONS="$options" pgbench -M prepared -n -T "$duration" -c "$3" -j 2 -f "$work/transfer.sql" \
        "$DATABASE_URL" >"$work/$tag.out" 2>&1 || true
    local delivered=""
    if ((${#stream_pids[@]} > 0)); then
        local committed got
        committed=$(sql -c "SELECT count(*) FROM transfers WHERE id > $first")
        sleep 1.5 # the feed delivers within a second
        for pid in "${stream_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
        for pid in "${stream_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
        stream_pids=()
        delivered=all
        for i in 1 2 3; do
            got=$(grep -c '^event: transfer' "$work/$tag.stream$i" || true)
            if [[ "$got" != "$committed" ]]; then
                delivered=missed
                printf '   stream %s received %s of %s transfers\n' "$i" "$got" "$committed" >&2
            fi
        done
    fi
    local tps
    tps=$(grep -oP 'tps = \K[\d.]+(?= \(without)' "$work/$tag.out" || echo 0)
    printf '%s %s %s %s %s %s\n' "$1" "$2" "$3" "$4" "$tps" "${delivered:--}" >>"$work/results.txt"
    printf '   %-7s %-6s c=%-3s run %s: %10s tx/s %s\n' "$1" "$2" "$3" "$4" "$tps" "$delivered" >&2
}

for durability in fast durable; do
    say "PostgreSQL on 127.0.0.1:$pg_port ($durability)"
    drop_pg "$pg_port" "$pgdir"
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
    wait_readyz "$port" 100 0.1 || true
    for rep in $(seq "$repeat"); do
        for c in $connections; do
            for mode in off stream; do
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
delivered = collections.defaultdict(set)
for line in open(sys.argv[1]):
    durability, mode, conns, rep, tps, got = line.split()
    key = (durability, int(conns), mode)
    runs[key].append(float(tps))
    best[key] = max(best[key], float(tps))
    delivered[key].add(got)
print(f"{'durability':10} {'conns':>5} {'off tx/s':>10} {'3 streams tx/s':>15} {'ratio':>6} {'every transfer':>15}  runs (off | streams)")
for durability in ("fast", "durable"):
    for conns in sorted({k[1] for k in best if k[0] == durability}):
        off, st = (best[(durability, conns, m)] for m in ("off", "stream"))
        r = lambda m: " ".join(f"{x:.0f}" for x in runs[(durability, conns, m)])
        ok = "yes" if delivered[(durability, conns, "stream")] == {"all"} else "NO"
        print(f"{durability:10} {conns:5} {off:10.1f} {st:15.1f} {st / off if off else 0:6.2f} {ok:>15}  {r('off')} | {r('stream')}")
PY
)
echo "$report"
[[ -n "$out" ]] && echo "$report" >"$out"
echo "outputs in $work" >&2
