#!/usr/bin/env bash
# What the balance report costs on a large ledger: GET /v1/reports/balance for one day at
# the end, at the start and in the middle of a year-long ledger and for the whole ledger,
# over the daily checkpoints (balance_days, filled by the server at start) and without them
# (the ledger alone, reading its shorter side), and the same statements in psql. The ledger:
# 800,000 transfers of 10 kg of glass spread evenly over the last 365 days, one shipment
# each (odd ones to an automatic storage, even ones in transit to a weighed storage),
# 399,000 receipts an hour after their transfer (every tenth weighing 11 kg and refusing
# 2), the last 1,000 loads still on their way, and 200,000 unloads: 2,199,000 ledger rows,
# built with SQL, with the live figures (pending, stock, reserved, the running totals) the
# ledger implies, so sql/audit.sql passes.
#
#   test/bench/balance.sh
#
# Through a Release server (query and request timeouts raised to 60 s, so the long reports
# are measured rather than cut at the default 5 s): first how long its filler takes to
# checkpoint every closed day; then REQUESTS times each report (5 for the long ones) after 2
# unmeasured ones, curl's total time (median and worst), with the checkpoints, then with
# balance_days emptied (as the owner) and, last, with them written back:
#   last day        from = now - 1 day, no to (pending and in transit live)
#   day before      from = now - 2 days, to = now - 1 day
#   first day       the ledger's first day
#   middle day      a day half a year ago (without checkpoints either way reads half the
#                   ledger)
#   middle month    30 days around it
#   whole ledger    no from, no to
# Then the statements themselves in psql (EXPLAIN ANALYZE's execution time): the day before
# with ST_BALANCE's replay forced forward (what every past `to` cost before the shorter side:
# the ledger up to it) and backward; the middle day with each replay and over the
# checkpoints (ST_BALANCE_DAYS). And checks that both replays and the checkpoints give the
# same figures at five points in time and for the middle day.
#
# Environment: BENCH_PG_PORT (54354), BENCH_PORT (18354), REQUESTS (20), WASTEFLOW_BIN (a
# built server; default: build build-release/), WASTEFLOW_BENCH_PGDATA
# (/tmp/wasteflow-balance-pg). Needs psql and curl.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/bench/lib.sh
. "$root/test/bench/lib.sh"
requests=${REQUESTS:-20}
bench_start balance 54354 18354

say "ledger: 800,000 transfers, 399,000 receipts, 200,000 unloads over 365 days"
bench_year_ledger 800000 <<'SQL'
INSERT INTO storages (name, intake) VALUES ('bench automatic', 'automatic'),
                                           ('bench weighed', 'weighed');
INSERT INTO storage_waste (storage_id, waste_type, capacity)
    SELECT id, 'glass', 100000000 FROM storages;
INSERT INTO shipments (id, transfer_id, position, storage_id, waste_type, amount, distance_m,
                       in_transit)
    OVERRIDING SYSTEM VALUE
    SELECT g, g, 0, CASE WHEN g % 2 = 1 THEN 1 ELSE 2 END, 'glass', 10, 10, g % 2 = 0
    FROM generate_series(1, 800000) g;
SELECT setval(pg_get_serial_sequence('shipments', 'id'), 800000) \g /dev/null
INSERT INTO receipts (shipment_id, received_kg, rejected_kg, rejection_reason, received_by,
                      received_at)
    SELECT s.id, CASE WHEN s.id % 20 = 0 THEN 11 ELSE 10 END,
           CASE WHEN s.id % 20 = 0 THEN 2 ELSE 0 END,
           CASE WHEN s.id % 20 = 0 THEN 'bench' END, 'bench', t.created_at + interval '1 hour'
    FROM shipments s JOIN transfers t ON t.id = s.transfer_id
    WHERE s.in_transit AND s.id <= 798000;
INSERT INTO unloads (storage_id, waste_type, amount, created_at, actor)
    SELECT 1, 'glass', 10, now() - interval '365 days' + (4 * g - 1) * (interval '365 days' / 800000),
           'bench'
    FROM generate_series(1, 200000) g;
UPDATE storage_waste w SET
    stock = (SELECT coalesce(sum(s.amount), 0) FROM shipments s
             WHERE s.storage_id = w.storage_id AND NOT s.in_transit)
          + (SELECT coalesce(sum(r.accepted_kg), 0) FROM receipts r JOIN shipments s
             ON s.id = r.shipment_id WHERE s.storage_id = w.storage_id)
          - (SELECT coalesce(sum(u.amount), 0) FROM unloads u WHERE u.storage_id = w.storage_id),
    reserved = (SELECT coalesce(sum(s.amount), 0) FROM shipments s WHERE
                s.storage_id = w.storage_id AND s.in_transit AND NOT EXISTS
                (SELECT 1 FROM receipts r WHERE r.shipment_id = s.id));
INSERT INTO organization_waste (organization_id, waste_type, pending)
    SELECT 1, 'glass', (SELECT sum(rejected_kg) FROM receipts);
UPDATE organizations SET pending_since = now() - interval '1 day' WHERE id = 1;
INSERT INTO waste_totals (waste_type, shard, generated, unloaded, variance)
    SELECT 'glass', 0, 8000000, (SELECT sum(amount) FROM unloads),
           (SELECT sum(s.amount - r.received_kg) FROM receipts r JOIN shipments s
            ON s.id = r.shipment_id)
    ON CONFLICT (waste_type, shard) DO UPDATE SET generated = EXCLUDED.generated,
        unloaded = EXCLUDED.unloaded, variance = EXCLUDED.variance;
SQL
sql -c "VACUUM ANALYZE" >/dev/null
printf 'ledger rows: %s transfers, %s shipments, %s receipts, %s unloads\n' \
    "$(sql -c 'SELECT count(*) FROM transfers')" "$(sql -c 'SELECT count(*) FROM shipments')" \
    "$(sql -c 'SELECT count(*) FROM receipts')" "$(sql -c 'SELECT count(*) FROM unloads')"
violations=$(sql -f "$root/sql/audit.sql")
[[ -z "$violations" ]] || {
    echo "balance.sh: the seeded ledger fails sql/audit.sql:" >&2
    echo "$violations" >&2
    exit 1
}

key=$("$bin" keys create --role admin | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')
WASTEFLOW_LISTEN=127.0.0.1:$port WASTEFLOW_LOG_LEVEL=warn WASTEFLOW_QUERY_TIMEOUT_MS=60000 \
    WASTEFLOW_REQUEST_TIMEOUT_MS=60000 "$bin" serve >>"$work/server.log" 2>&1 &
server_pid=$!
wait_readyz "$port" 100 0.1 || true

ts() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
start=$(sql -c "SELECT to_char(min(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM transfers")
day_ago=$(ts '-1 day')
two_days_ago=$(ts '-2 days')

# Median and worst of N (default REQUESTS) GETs of path, in ms (after 2 unmeasured ones),
# and any answer other than 200.
measure() {
    local name=$1 path=$2 n=${3:-$requests}
    local url="http://127.0.0.1:$port$path"
    curl -s -H "Authorization: Bearer $key" "$url" >"$work/body.json"
    curl -s -o /dev/null -H "Authorization: Bearer $key" "$url"
    for _ in $(seq "$n"); do
        curl -s -o /dev/null -w '%{time_total} %{http_code}\n' -H "Authorization: Bearer $key" "$url"
    done | sort -n | awk -v name="$name" \
        '{ t[NR] = $1 * 1000; if ($2 != 200) bad = bad " " $2 } END { printf "%-14s median %8.2f ms  worst %8.2f ms  (%d requests)%s\n", name, t[int((NR + 1) / 2)], t[NR], NR, bad ? "  NOT 200:" bad : "" }'
    printf '%-14s %s\n' "" "$(cat "$work/body.json")"
}

say "the filler: every closed day checkpointed"
last_closed=$(sql -c "SELECT ((now() - interval '1 minute') AT TIME ZONE 'UTC')::date - 1")
fill_start=$(date +%s.%N)
until [[ $(sql -c "SELECT count(*) FROM balance_days WHERE day = '$last_closed'") != 0 ]]; do
    kill -0 "$server_pid" 2>/dev/null || { echo "balance.sh: the server died" >&2; exit 1; }
    sleep 0.2
done
fill_s=$(echo "$(date +%s.%N) - $fill_start" | bc)
days=$(sql -c "SELECT count(DISTINCT day) FROM balance_days")
printf 'checkpointed %s days (%s to %s) in %.1f s from the server start: %.1f ms a day\n' \
    "$days" "$(sql -c 'SELECT min(day) FROM balance_days')" "$last_closed" "$fill_s" \
    "$(echo "$fill_s * 1000 / $days" | bc -l)"

middle_from=$(ts '-183 days')
middle_to=$(ts '-182 days')
reports() {
    measure "last day" "/v1/reports/balance?from=$day_ago"
    measure "day before" "/v1/reports/balance?from=$two_days_ago&to=$day_ago"
    measure "first day" "/v1/reports/balance?from=$start&to=$(ts "$start + 1 day")"
    measure "middle day" "/v1/reports/balance?from=$middle_from&to=$middle_to" "$1"
    measure "middle month" "/v1/reports/balance?from=$(ts '-198 days')&to=$(ts '-168 days')" "$1"
    measure "whole ledger" "/v1/reports/balance" "$1"
}
say "GET /v1/reports/balance through the server, over the checkpoints"
reports "$requests"
say "GET /v1/reports/balance through the server, the ledger alone (balance_days emptied)"
sql -c "CREATE TABLE bench_saved_days AS SELECT * FROM balance_days; TRUNCATE balance_days"
reports 5
sql -c "INSERT INTO balance_days SELECT * FROM bench_saved_days; DROP TABLE bench_saved_days"

# The statements as the service sends them: ST_BALANCE with $3 forcing the replay (true
# forward, false backward), ST_BALANCE_DAYS over the checkpoints.
statement=$(python3 "$root/test/bench/benchlib.py" statement-sql "$root/lib/engine/statements.c" ST_BALANCE)
days_statement=$(python3 "$root/test/bench/benchlib.py" statement-sql "$root/lib/engine/statements.c" ST_BALANCE_DAYS)
explain() {
    sql <<SQL | sed -n 's/^Execution Time: //p'
SET jit = off;
PREPARE balance(timestamptz, timestamptz, boolean) AS $statement;
EXPLAIN (ANALYZE, TIMING OFF) EXECUTE balance($1, $2, $3);
SQL
}
explain_days() {
    sql <<SQL | sed -n 's/^Execution Time: //p'
SET jit = off;
PREPARE days(timestamptz, timestamptz) AS $days_statement;
EXPLAIN (ANALYZE, TIMING OFF) EXECUTE days($1, $2);
SQL
}
say "the statements in psql (execution time)"
printf 'day before, forward  (the ledger up to it) %s\n' "$(explain "'$two_days_ago'" "'$day_ago'" true)"
printf 'day before, backward (the days since)      %s\n' "$(explain "'$two_days_ago'" "'$day_ago'" false)"
printf 'day before, checkpoints                    %s\n' "$(explain_days "'$two_days_ago'" "'$day_ago'")"
printf 'middle day, forward                        %s\n' "$(explain "'$middle_from'" "'$middle_to'" true)"
printf 'middle day, backward                       %s\n' "$(explain "'$middle_from'" "'$middle_to'" false)"
printf 'middle day, checkpoints                    %s\n' "$(explain_days "'$middle_from'" "'$middle_to'")"
printf 'whole ledger, checkpoints                  %s\n' "$(explain_days NULL NULL)"

say "both replays and the checkpoints agree"
for period in "NULL|$(ts '-300 days')" "NULL|$(ts '-100 days')" "NULL|$(ts '-1 day')" \
    "NULL|$(ts '-30 minutes')" "NULL|$(ts '+1 day')" "$middle_from|$middle_to"; do
    from=${period%|*}
    at=${period#*|}
    [[ $from == NULL ]] || from="'$from'"
    both=$(sql <<SQL
PREPARE balance(timestamptz, timestamptz, boolean) AS $statement;
PREPARE days(timestamptz, timestamptz) AS $days_statement;
CREATE TEMP TABLE f (code, generated, accepted, rejected, unloaded, variance, pending, in_transit) AS EXECUTE balance($from, '$at', true);
CREATE TEMP TABLE b (code, generated, accepted, rejected, unloaded, variance, pending, in_transit) AS EXECUTE balance($from, '$at', false);
CREATE TEMP TABLE d (code, generated, accepted, rejected, unloaded, variance, pending, in_transit) AS EXECUTE days($from, '$at');
SELECT (SELECT count(*) FROM (SELECT * FROM f EXCEPT SELECT * FROM b) x) = 0
   AND (SELECT count(*) FROM (SELECT * FROM f EXCEPT SELECT * FROM d) x) = 0
   AND (SELECT count(*) FROM f) = (SELECT count(*) FROM b)
   AND (SELECT count(*) FROM f) = (SELECT count(*) FROM d),
       (SELECT row_to_json(f)::text FROM f WHERE code = 'glass');
SQL
    )
    printf '[%s, %s): forward = backward = checkpoints: %s\n' "$from" "$at" "$both"
    [[ $both == t* ]] || exit 1
done
