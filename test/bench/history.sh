#!/usr/bin/env bash
# What fill history and forecasts cost on a large ledger: a storage with 1,000,000 ledger
# rows (800,000 shipments in as many transfers and 200,000 unloads, spread evenly over the
# last 365 days, built with SQL), then GET /v1/storages/{id}/history for a day of hours (the
# default range), 1,000 minutes and a week of hours, and GET /forecast over a week (~19,000
# changes), each REQUESTS times through a Release server: median and worst latency as curl
# saw them. The target: a day of hours within 20 ms, whatever the ledger's size (the
# statements read only the rows of the range asked for, through the indexes of
# sql/migrations/014_history_alerts.sql). Then the alert delay: how long after a crossing
# transfer its rule fires (p50, p99 over CROSSINGS crossings).
#
#   test/bench/history.sh
#
# Environment: BENCH_PG_PORT (54353), BENCH_PORT (18353), REQUESTS (50), CROSSINGS (100),
# WASTEFLOW_BIN (a built server; default: build build-release/), WASTEFLOW_BENCH_PGDATA
# (/tmp/wasteflow-history-pg). Needs psql and curl.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/bench/lib.sh
. "$root/test/bench/lib.sh"
requests=${REQUESTS:-50}
bench_start history 54353 18353

say "ledger: 800,000 transfers with a shipment each and 200,000 unloads over 365 days"
bench_year_ledger 800000 <<'SQL'
INSERT INTO storages (name) VALUES ('bench storage'), ('bench other');
-- Room for ten million kilograms: the forecast's full_at lands a few years ahead.
INSERT INTO storage_waste (storage_id, waste_type, capacity)
    SELECT id, 'glass', 10000000 FROM storages;
INSERT INTO shipments (transfer_id, position, storage_id, waste_type, amount, distance_m)
    SELECT g, 0, (SELECT min(id) FROM storages), 'glass', 10, 10 FROM generate_series(1, 800000) g;
INSERT INTO unloads (storage_id, waste_type, amount, created_at, actor)
    SELECT (SELECT min(id) FROM storages), 'glass', 30,
           now() - interval '365 days' + (4 * g - 2) * (interval '365 days' / 800000), 'bench'
    FROM generate_series(1, 200000) g;
UPDATE storage_waste SET stock = 800000 * 10 - 200000 * 30
    WHERE storage_id = (SELECT min(id) FROM storages);
SQL
sql -c "VACUUM ANALYZE" >/dev/null
storage=$(sql -c "SELECT min(id) FROM storages")
printf 'ledger rows: %s shipments, %s unloads\n' "$(sql -c 'SELECT count(*) FROM shipments')" \
    "$(sql -c 'SELECT count(*) FROM unloads')"

key=$("$bin" keys create --role admin | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')
WASTEFLOW_LISTEN=127.0.0.1:$port WASTEFLOW_LOG_LEVEL=warn "$bin" serve >>"$work/server.log" 2>&1 &
server_pid=$!
wait_readyz "$port" 100 0.1 || true

# Median and worst of REQUESTS GETs of path, in ms (after 5 unmeasured ones).
measure() {
    local name=$1 path=$2
    local url="http://127.0.0.1:$port$path"
    curl -sf -H "Authorization: Bearer $key" "$url" >"$work/body.json"
    for _ in 1 2 3 4 5; do curl -sf -o /dev/null -H "Authorization: Bearer $key" "$url"; done
    for _ in $(seq "$requests"); do
        curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $key" "$url"
    done | sort -n | awk -v name="$name" -v items="$(grep -o '"start"' "$work/body.json" | wc -l)" \
        '{ t[NR] = $1 * 1000 } END { printf "%-28s %4d buckets  median %6.2f ms  worst %6.2f ms  (%d requests)\n", name, items, t[int((NR + 1) / 2)], t[NR], NR }'
}

say "latency through the server"
measure "history: a day of hours" "/v1/storages/$storage/history?waste_type=glass&bucket=hour"
measure "history: a week of hours" \
    "/v1/storages/$storage/history?waste_type=glass&bucket=hour&from=$(date -u -d '-7 days' +%Y-%m-%dT%H:%M:%SZ)"
measure "history: 1,000 minutes" \
    "/v1/storages/$storage/history?waste_type=glass&bucket=minute&from=$(date -u -d '-999 minutes' +%Y-%m-%dT%H:%M:%SZ)"
measure "forecast: a week" "/v1/storages/$storage/forecast?waste_type=glass"
printf 'forecast: %s\n' "$(curl -sf -H "Authorization: Bearer $key" \
    "http://127.0.0.1:$port/v1/storages/$storage/forecast?waste_type=glass")"

# The alert delay: CROSSINGS times, a transfer takes a storage of 100 kg from 0 to 60 kg
# over a rule at 0.5, then an unload takes it back (and the rule re-arms). The delay is the
# firing's fired_at (the evaluating transaction's start) less the crossing transfer's
# created_at (its transaction's start): what the evaluator adds after the commit, plus the
# transfer's own few milliseconds.
crossings=${CROSSINGS:-100}
say "alert delay over $crossings crossings"
api() {
    curl -sf -X "$1" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        ${3:+-d "$3"} "http://127.0.0.1:$port$2"
}
id_of() { sed -n 's/^{"id":\([0-9]*\).*/\1/p'; }
watched=$(api POST /v1/storages '{"name":"alert bench","capacity":{"glass":100}}' | id_of)
supplier=$(api POST /v1/organizations '{"name":"alert bench supplier"}' | id_of)
api POST /v1/routes "{\"from\":{\"organization_id\":$supplier},\"to\":{\"storage_id\":$watched},\"distance_m\":10}" >/dev/null
rule=$(api POST /v1/alerts "{\"storage_id\":$watched,\"fill_ratio_above\":0.5}" | id_of)
wait_until() {
    for _ in $(seq 1 500); do
        [[ $(sql -c "$1") == t ]] && return 0
        sleep 0.01
    done
    echo "timed out: $1" >&2
    return 1
}
crossing_transfers=()
for i in $(seq "$crossings"); do
    crossing_transfers+=("$(api POST "/v1/organizations/$supplier/transfers" '{"waste":{"glass":60}}' | id_of)")
    wait_until "SELECT count(*) = $i FROM alert_firings WHERE alert_id = $rule"
    api POST "/v1/storages/$watched/unload" '{"glass":60}' >/dev/null
    wait_until "SELECT armed FROM alert_state WHERE alert_id = $rule AND storage_id = $watched"
done
ids=$(IFS=,; echo "${crossing_transfers[*]}")
sql -F ' ' <<SQL
WITH f AS (SELECT row_number() OVER (ORDER BY id) AS n, fired_at FROM alert_firings
           WHERE alert_id = $rule),
     t AS (SELECT n, id FROM unnest('{$ids}'::bigint[]) WITH ORDINALITY AS x(id, n)),
     d AS (SELECT extract(epoch FROM f.fired_at - tr.created_at) * 1000 AS ms
           FROM f JOIN t USING (n) JOIN transfers tr ON tr.id = t.id)
SELECT format('alert delay after the crossing transfer: p50 %s ms  p99 %s ms  max %s ms  (%s firings, one per crossing: %s)',
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
              round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
              round(max(ms)::numeric, 1), count(*),
              (SELECT count(*) FROM alert_firings WHERE alert_id = $rule) = $crossings)
FROM d;
SQL
