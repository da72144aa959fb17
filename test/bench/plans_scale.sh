#!/usr/bin/env bash
# The allocation plans at scale (docs/plans.md, "Scale"): POST /v1/plans on a synthetic
# world, by default the scale benchmark's largest (10,000 organizations x 100,000 storages
# x 1,000,000 roads), timed, with the server's peak memory and the ratio the service
# reports.
#
#   test/bench/plans_scale.sh [OUT.json]
#
# Builds Release (build-release/), starts a private PostgreSQL 15 in fast mode
# (PLANS_PGDATA, default /tmp/wasteflow-plans-pg, on 127.0.0.1:PLANS_PG_PORT, default 54342),
# seeds `wasteflow seed synthetic` once (kept between runs in that cluster), starts one
# server (127.0.0.1:PLANS_PORT, default 18342) and sends, for each batch size of
# PLANS_SIZES (default 100,1000,10000), PLANS_REPEAT (default 3) random batches: distinct
# random organizations, one random type each, 1..PLANS_MAX_KG (default 1000) kg. Each line:
# size, seconds, placed kg of both plans, kg·m of both, ratio. Then the server's VmHWM.
# Environment: PLANS_WORLD (NxMxR), PLANS_SEED (1). The server runs without rate limit or work
# budget. Everything it starts is stopped at exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/bench/lib.sh
. "$root/test/bench/lib.sh"
out=${1:-}
world=${PLANS_WORLD:-10000x100000x1000000}
pgdir=${PLANS_PGDATA:-/tmp/wasteflow-plans-pg}
pg_port=${PLANS_PG_PORT:-54342}
port=${PLANS_PORT:-18342}
sizes=${PLANS_SIZES:-100,1000,10000}
repeat=${PLANS_REPEAT:-3}
max_kg=${PLANS_MAX_KG:-1000}
seed=${PLANS_SEED:-1}
[[ "$world" =~ ^([0-9]+)x([0-9]+)x([0-9]+)$ ]] || { echo "bad PLANS_WORLD" >&2; exit 2; }
orgs=${BASH_REMATCH[1]} storages=${BASH_REMATCH[2]} routes=${BASH_REMATCH[3]}
say() { printf 'plans_scale: %s\n' "$*" >&2; }

cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    >/dev/null
cmake --build "$root/build-release" -j2 --target wasteflow >/dev/null
bin="$root/build-release/wasteflow"

admin_url=$(WASTEFLOW_PG_PORT=$pg_port WASTEFLOW_PG_FAST=1 "$root/deploy/pg-local.sh" start \
    "$pgdir" 2>/dev/null)
server_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    WASTEFLOW_PG_PORT=$pg_port "$root/deploy/pg-local.sh" stop "$pgdir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
db="plans_${orgs}_${storages}_${routes}_s${seed}"
url="${admin_url%/*}/$db"
admin() { psql "$admin_url" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
if [[ "$(admin -c "SELECT count(*) FROM pg_database WHERE datname = '$db'")" != 1 ]]; then
    say "seeding $world (once; kept in $pgdir)"
    admin -c "CREATE DATABASE $db"
    DATABASE_URL=$url "$bin" migrate >/dev/null
    t=$(date +%s)
    DATABASE_URL=$url WASTEFLOW_LOG_LEVEL=warn "$bin" seed synthetic --organizations "$orgs" \
        --storages "$storages" --routes "$routes" --seed "$seed" >/dev/null
    psql "$url" -X -q -c "VACUUM ANALYZE"
    say "seeded in $(($(date +%s) - t)) s"
fi
DATABASE_URL=$url "$bin" migrate >/dev/null
key=$(DATABASE_URL=$url "$bin" keys create --role admin --name plans-bench |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
DATABASE_URL="${url/wasteflow@/wasteflow_app@}" WASTEFLOW_LISTEN=127.0.0.1:$port \
    WASTEFLOW_LOG_LEVEL=info WASTEFLOW_RATE_LIMIT=0 WASTEFLOW_WORK_BUDGET=0 \
    WASTEFLOW_REQUEST_TIMEOUT_MS=60000 \
    WASTEFLOW_QUERY_TIMEOUT_MS=60000 "$bin" serve >"$pgdir/plans-server.log" 2>&1 &
server_pid=$!
wait_readyz "$port" 600 0.2 || true
say "server ready (log $pgdir/plans-server.log)"
python3 - "$port" "$key" "$sizes" "$repeat" "$max_kg" "$orgs" "$server_pid" "$out" <<'PY'
import json, random, sys, time, urllib.request
port, key, sizes, repeat, max_kg, orgs, pid, out = sys.argv[1:]
random.seed(1)
ids = [row for row in range(1, int(orgs) + 1)]
results = []
for size in [int(s) for s in sizes.split(",")]:
    for r in range(int(repeat)):
        batch = [{"organization_id": o, "waste": {random.choice(["bio", "glass", "plastic"]):
                  random.randint(1, int(max_kg))}} for o in random.sample(ids, size)]
        body = json.dumps({"hand_overs": batch}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/plans", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json"})
        t = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                status, answer = resp.status, json.load(resp)
        except urllib.error.HTTPError as e:
            status, answer = e.code, json.load(e)
        seconds = time.monotonic() - t
        if status != 200:
            print(f"{size:6d}  {seconds:7.3f} s  HTTP {status}: {answer.get('errors') or answer.get('detail')}")
            results.append({"size": size, "seconds": seconds, "status": status})
            continue
        n, m = answer["nearest"], answer["min_cost"]
        print(f"{size:6d}  {seconds:7.3f} s  placed {n['placed_kg']}/{m['placed_kg']} kg  "
              f"kg·m {n['kg_m']}/{m['kg_m']}  ratio {answer['ratio']:.4f}")
        results.append({"size": size, "seconds": seconds, "status": 200, "ratio": answer["ratio"],
                        "nearest_kg_m": n["kg_m"], "min_cost_kg_m": m["kg_m"],
                        "nearest_placed": n["placed_kg"], "min_cost_placed": m["placed_kg"]})
hwm = [l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM:")][0]
print(f"server VmHWM {int(hwm) // 1024} MiB")
if out:
    json.dump({"results": results, "vmhwm_kib": int(hwm)}, open(out, "w"), indent=1)
PY
grep '"plans solved"' "$pgdir/plans-server.log" | tail -n 20 >&2 || true
