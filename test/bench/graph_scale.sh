#!/usr/bin/env bash
# The first scale figures of the storage view and route changes, now one world of test/bench/scale.sh (which does the work: build,
# PostgreSQL, two servers, every measurement; see its header for the environment):
#   - the median latency of the view's first page, GET /v1/organizations/{id}/storages
#     (target < 10 ms), and
#   - how long a route change takes until a second instance shows it (target < 2 s).
#   test/bench/graph_scale.sh [organizations storages routes]    (default 1000 1000 20000)
# Prints scale.sh's table, then the two figures against their targets.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
orgs=${1:-1000}
storages=${2:-1000}
routes=${3:-20000}
out=$(mktemp /tmp/wasteflow-graph-scale.XXXXXX)
SCALE_WORLDS="${orgs}x${storages}x${routes}" SCALE_SEED=${SCALE_SEED:-7} \
    "$root/test/bench/scale.sh" "$out"
python3 - "$out" <<'PY'
import json, sys
w = json.load(open(sys.argv[1]))["worlds"][0]
p50, visible = w["view_p50_ms"], w["route_visible_ms"]
print()
print(f"world: {w['organizations']} organizations, {w['storages']} storages, "
      f"{w['routes']} routes")
print("view p50 (1 connection): " + ("not measured" if p50 is None else
      f"{p50:.2f} ms (target < 10 ms: {'met' if p50 < 10 else 'NOT MET'})"))
print("route change visible on a second instance: " + ("not measured" if visible is None else
      f"{visible:.0f} ms (target < 2 s: {'met' if visible < 2000 else 'NOT MET'})"))
PY
