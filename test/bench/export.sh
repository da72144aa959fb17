#!/usr/bin/env bash
# What the movements export costs on a large ledger (docs/webhooks.md, "The movements
# export"): ROWS (1,000,000) movements, one per transfer, spread evenly over the year before
# 2026-01-01 across 100 organizations and the glass storages of a small synthetic world,
# built with SQL. Through a Release server (pool 4):
#   full     GET /v1/exports/movements.csv, curl to /dev/null, REPEAT (2) times: seconds,
#            rows per second, MB of CSV; the server's peak RSS (VmHWM) before and after;
#   slow     the same export read at 500 KB/s for 6 s (curl --limit-rate, then cut): the
#            server's peak RSS after it (a slow reader holds the export, not memory);
#   narrow   a day (2025-06-01) of the year, REPEAT times: seconds and rows; then the
#            plan PostgreSQL makes for that day's cursor (the statement's own text, from
#            lib/engine/statements.c, declared in psql under auto_explain).
# The server runs with WASTEFLOW_EXPORTS_MAX=2 (the default). Prints a table.
#
#   test/bench/export.sh
#
# Environment: BENCH_PG_PORT (54350), BENCH_PORT (18354), ROWS (1000000), REPEAT (2),
# WASTEFLOW_BIN (a built server; default: build build-release/), WASTEFLOW_BENCH_PGDATA
# (/tmp/wasteflow-export-pg). Needs psql, curl and a C compiler. Everything it starts listens on
# 127.0.0.1 and is stopped at exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/bench/lib.sh
. "$root/test/bench/lib.sh"
[[ $# -eq 0 ]] || usage "$0"
rows=${ROWS:-1000000}
repeat=${REPEAT:-2}
bench_start export 54350 18354
"$bin" seed synthetic --organizations 100 --storages 50 --routes 500 --seed 1 >/dev/null 2>&1

say "ledger: $rows transfers with a movement each over 2025"
# Written as the owner with triggers off (session_replication_role): the ledger's triggers
# date every row now() and keep the running totals, neither of which a backfill wants.
sql -v rows="$rows" <<'SQL'
SET session_replication_role = replica;
CREATE TEMP TABLE glass AS
    SELECT row_number() OVER (ORDER BY storage_id) AS k, storage_id
    FROM storage_waste WHERE waste_type = 'glass';
WITH t AS (
    INSERT INTO transfers (organization_id, trigger, received, pending, actor, created_at)
    SELECT 1 + g % 100, 'request', '{"glass": 1}', '{}', 'bench',
           timestamptz '2025-01-01 00:00:00+00' + g * (interval '365 days' / :rows)
    FROM generate_series(1, :rows) g RETURNING id)
INSERT INTO shipments (transfer_id, position, storage_id, waste_type, amount, distance_m)
    SELECT t.id, 0, glass.storage_id, 'glass', 1, 42
    FROM t JOIN glass ON glass.k = 1 + t.id % (SELECT count(*) FROM glass);
SQL
sql -c "VACUUM ANALYZE" >/dev/null
printf 'ledger: %s movements\n' "$(sql -c 'SELECT count(*) FROM shipments')" >&2

key=$("$bin" keys create --role admin | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')
start_server() {
    DATABASE_URL="${DATABASE_URL/wasteflow@/wasteflow_app@}" WASTEFLOW_LISTEN=127.0.0.1:$port \
        WASTEFLOW_POOL_SIZE=4 WASTEFLOW_LOG_LEVEL=warn WASTEFLOW_RATE_LIMIT=0 \
        "$bin" serve >>"$work/server.log" 2>&1 &
    server_pid=$!
    wait_readyz "$port" 100 0.1 || {
        tail -n 20 "$work/server.log" >&2
        exit 1
    }
}
start_server
url="http://127.0.0.1:$port/v1/exports/movements.csv"
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# export NAME QUERY: REPEAT exports to /dev/null; one line each.
export_runs() {
    local name=$1 query=$2 out
    for i in $(seq "$repeat"); do
        out=$(curl -sf -o "$work/$name.csv" -w '%{size_download} %{time_total}' \
            -H "Authorization: Bearer $key" "$url$query")
        read -r bytes secs <<<"$out"
        lines=$(($(wc -l <"$work/$name.csv") - 1))
        awk -v n="$name" -v i="$i" -v b="$bytes" -v s="$secs" -v r="$lines" 'BEGIN {
            printf "%-8s run %d  %9d rows  %7.1f MB  %7.2f s  %9.0f rows/s\n", n, i, r,
                b / 1e6, s, r / s }'
        rm -f "$work/$name.csv"
    done
}

say "full export, $repeat times"
hwm_before=$(hwm)
export_runs full ""
hwm_full=$(hwm)

say "a slow reader: 500 KB/s for 6 s"
curl -s -o /dev/null --limit-rate 500k --max-time 6 -H "Authorization: Bearer $key" "$url" || true
hwm_slow=$(hwm)

say "a day of the year, $repeat times"
narrow="?from=2025-06-01T00:00:00Z&to=2025-06-02T00:00:00Z"
export_runs narrow "$narrow"

say "the day's plan: the cursor of ST_EX_MOVEMENTS declared in psql with the day's values"
# The statement's text as the server prepares it (lib/engine/statements.c, compiled here),
# its parameters replaced by the day's bounds; auto_explain logs the cursor's plan, with
# its actual rows, to this session when the cursor closes.
cc -std=c17 -I"$root/lib" -I"$(pg_config --includedir)" -o "$work/statement" -x c - "$root/lib/engine/statements.c" <<'C'
#include "engine/statements.h"
#include <stdio.h>
int main(void) { puts(engine_statements[ST_EX_MOVEMENTS].sql); return 0; }
C
declare_sql=$("$work/statement" | sed -e "s/\$1::timestamptz/'2025-06-01T00:00:00Z'::timestamptz/g" \
    -e "s/\$2::timestamptz/'2025-06-02T00:00:00Z'::timestamptz/g")
sql <<SQL 2>&1 | sed -n '/plan:/,$p' | grep -v 'Query Text' >&2
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT set_config('jit', 'off', true) \g /dev/null
LOAD 'auto_explain';
SET LOCAL auto_explain.log_min_duration = 0;
SET LOCAL auto_explain.log_analyze = on;
SET LOCAL auto_explain.log_level = notice;
$declare_sql;
FETCH ALL FROM wf_export \g /dev/null
CLOSE wf_export;
COMMIT;
SQL

printf '\nserver peak RSS (VmHWM): %s MiB before, %s MiB after the full exports, %s MiB after the slow reader\n' \
    "$(mib "$hwm_before")" "$(mib "$hwm_full")" "$(mib "$hwm_slow")"
