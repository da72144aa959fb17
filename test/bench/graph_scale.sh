#!/usr/bin/env bash
# Issue 3's scale figures: with 1,000 organizations, 1,000 storages and 20,000 routes,
#   - the median latency of GET /v1/organizations/{id}/storages (target < 10 ms), and
#   - how long a route change takes to commit, and the first view after it (which
#     reloads the road graph on this instance; target < 2 s).
# Builds Release, starts a private PostgreSQL (port 54340) and the server (port 18090),
# prints the figures, stops what it started.
#   test/bench/graph_scale.sh [organizations storages routes]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
orgs=${1:-1000}
storages=${2:-1000}
routes=${3:-20000}
port=18090
pgdir=${WASTEFLOW_BENCH_PGDATA:-/tmp/wasteflow-bench-graph-pg}

cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$root/build-release" -j2 >/dev/null
bin="$root/build-release/wasteflow"

"$root/deploy/pg-local.sh" stop "$pgdir" >/dev/null 2>&1 || true
rm -rf "$pgdir"
DATABASE_URL=$(WASTEFLOW_PG_PORT=54340 WASTEFLOW_PG_FAST=1 "$root/deploy/pg-local.sh" start "$pgdir")
export DATABASE_URL
server_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    "$root/deploy/pg-local.sh" stop "$pgdir" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$bin" migrate >/dev/null
seed_start=$(date +%s.%N)
"$bin" seed synthetic --organizations "$orgs" --storages "$storages" --routes "$routes" --seed 7
seed_s=$(echo "$(date +%s.%N) - $seed_start" | bc)
actual_routes=$(psql "$DATABASE_URL" -X -A -t -c "SELECT count(*) FROM routes")

WASTEFLOW_LISTEN=127.0.0.1:$port WASTEFLOW_LOG_LEVEL=warn WASTEFLOW_RATE_LIMIT=0 "$bin" serve &
server_pid=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
done
B=http://127.0.0.1:$port
curl -sf "$B/v1/organizations/1/storages" >/dev/null # first load of the graph

# One connection measures how fast one view answers; four show it under concurrency on
# this 2-core machine (wrk, PostgreSQL and the server share the cores).
echo "== view latency: GET /v1/organizations/{random}/storages, 10 s, 1 connection"
ORGS=$orgs wrk -t1 -c1 -d10s --latency -s "$root/test/bench/random_org_view.lua" "$B" |
    tee /tmp/wasteflow-bench-view.txt | grep -E "Requests/sec|50%|90%|99%"
echo "== the same with 4 connections"
ORGS=$orgs wrk -t2 -c4 -d10s --latency -s "$root/test/bench/random_org_view.lua" "$B" |
    grep -E "Requests/sec|50%|90%|99%"

echo "== route change: PATCH distance, then the first view after it (graph reload)"
route_id=$(psql "$DATABASE_URL" -X -A -t -c "SELECT min(id) FROM routes")
for attempt in 1 2 3; do
    change=$(curl -s -o /dev/null -w '%{time_total}' -X PATCH -H 'Content-Type: application/json' \
        -d "{\"distance_m\": $((100 + attempt))}" "$B/v1/routes/$route_id")
    view=$(curl -s -o /dev/null -w '%{time_total}' "$B/v1/organizations/1/storages")
    steady=$(curl -s -o /dev/null -w '%{time_total}' "$B/v1/organizations/1/storages")
    printf 'attempt %d: route change committed in %.1f ms; next view (reload) %.1f ms; steady view %.1f ms\n' \
        "$attempt" "$(echo "$change * 1000" | bc)" "$(echo "$view * 1000" | bc)" \
        "$(echo "$steady * 1000" | bc)"
done
p50=$(grep -E '^ +50%' /tmp/wasteflow-bench-view.txt | awk '{print $2}')
printf '\nworld: %s organizations, %s storages, %s routes (seeded in %.1f s)\n' \
    "$orgs" "$storages" "$actual_routes" "$seed_s"
printf 'view p50 (1 connection): %s (target < 10 ms)\n' "$p50"
