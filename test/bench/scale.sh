#!/usr/bin/env bash
# The scale benchmark (docs/design.md, "Scale"; see test/bench/README.md): how the costs of one request
# grow with the world.
#
#   test/bench/scale.sh OUT.json
#
# Builds Release (build-release/), starts a private PostgreSQL 15 in fast mode
# (SCALE_PGDATA, default /tmp/wasteflow-scale-pg, on 127.0.0.1:SCALE_PG_PORT, default
# 54380) and, for each world of SCALE_WORLDS,
#   1  100 organizations x 1,000 storages x 10,000 roads
#   2  1,000 x 10,000 x 100,000
#   3  10,000 x 100,000 x 1,000,000
# seeds it (`wasteflow seed synthetic ... --seed SCALE_SEED` into a template database,
# kept between runs with SCALE_KEEP=1), copies it into a fresh database, starts two
# servers on it (A on SCALE_PORT, default 18380, and B on the next port; a third, fresh
# one on the port after for the graph load) and measures, each step capped in time so a
# world too big for the code under test is reported short instead of hanging:
#   - the view's first page, p50/p99: GET /v1/organizations/{random}/storages?limit=100,
#     one client, STEP_COUNT (300) requests or STEP_BUDGET (20) s;
#   - a transfer, p50/p99 at one client (as above) and requests/s at 16 clients (wrk,
#     WRK_DURATION 10 s): POST /v1/organizations/{random}/transfers, 1-3 kg of a random
#     type; capacities are 100-100,000 kg, so the measured transfers ship;
#   - CPU per transfer of PostgreSQL (all backends) and of server A during the wrk run;
#   - rows locked per transfer: wasteflow_transfer_rows_locked_total /
#     wasteflow_transfers_total from A's /metrics over the wrk run (null while the server
#     has no such counter);
#   - a route change until it is visible on the second instance: PATCH an organization's
#     road to its nearest storage on A, poll B (ROUTE_CHANGES 5 times, ROUTE_CAP 60 s each);
#   - a full graph load: a fresh instance's first view once /readyz answers (and the time
#     from spawning it to /readyz, in case an instance loads the graph before it is ready);
#   - the first route changes after a start: another fresh instance, as soon as /readyz
#     answers, ROUTE_CHANGES times a new road from an organization to a random storage and
#     that organization's first page (each view's milliseconds printed);
#   - RSS: VmHWM and VmRSS of A after all runs;
#   - a dispatch burst: BURST_ORGS (10,000, or every organization of a smaller world) hold
#     pending glass with no glass room anywhere, then one transaction raises every glass
#     capacity (and the dispatch epoch): seconds until nothing is pending (BURST_CAP 120 s);
#   - allocation plans: a fresh instance (no work budget, REQUEST_TIMEOUT as its deadline),
#     one view to load the graph, then POST /v1/plans once per size of PLANS_SIZES
#     (1000,10000; capped at the world's organizations): distinct random organizations, one
#     random type each, 1-1,000 kg; seconds, the nearest / min-cost kg*m ratio, and that
#     instance's VmHWM (test/bench/plans_scale.sh runs more batches on one world).
# Writes OUT.json ({"worlds": [...]}) and prints the table with the growth from the
# smallest world to the largest and the scale targets (test/bench/README.md).
#
# Environment: SCALE_WORLDS (default 1,2,3; an entry may also be NxMxR), SCALE_SEED (1),
# SCALE_KEEP=1 (keep the cluster and the seeded templates for the next run; a template is
# reseeded when seed.c or a migration changed), SCALE_PGDATA, SCALE_PG_PORT, SCALE_PORT,
# POOL_SIZE (4), STEP_COUNT, STEP_BUDGET, REQUEST_TIMEOUT (60 s per request), WRK_DURATION,
# ROUTE_CHANGES, ROUTE_CAP, BURST_ORGS, BURST_CAP, PLANS_SIZES. Servers get WASTEFLOW_RATE_LIMIT=0 and
# every other WASTEFLOW_* default. Everything listens on 127.0.0.1 and is stopped at exit;
# every raw output stays in the work directory it prints.
set -euo pipefail

# shellcheck source=test/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init "$0" "$@"
drv="$bench/scale.py"
worlds=${SCALE_WORLDS:-1,2,3}
seed=${SCALE_SEED:-1}
keep=${SCALE_KEEP:-0}
pgdir=${SCALE_PGDATA:-/tmp/wasteflow-scale-pg}
pg_port=${SCALE_PG_PORT:-54380}
port_a=${SCALE_PORT:-18380}
port_b=$((port_a + 1))
port_c=$((port_a + 2))
pool=${POOL_SIZE:-4}
step_count=${STEP_COUNT:-300}
step_budget=${STEP_BUDGET:-20}
request_timeout=${REQUEST_TIMEOUT:-60}
wrk_duration=${WRK_DURATION:-10}
route_changes=${ROUTE_CHANGES:-5}
route_cap=${ROUTE_CAP:-60}
burst_orgs=${BURST_ORGS:-10000}
burst_cap=${BURST_CAP:-120}
plans_sizes=${PLANS_SIZES:-1000,10000}
work=$(mktemp -d /tmp/wasteflow-scale.XXXXXX)
suite_start=$(date +%s)

for tool in wrk psql python3 curl sha256sum; do
    command -v "$tool" >/dev/null || {
        echo "scale.sh: $tool is required" >&2
        exit 1
    }
done

say() { printf '\n== %s\n' "$*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Phase timings, printed at the end.
phases="$work/phases.txt"
phase() { printf '%-48s %8.1f s\n' "$1" "$(echo "($(now_ms) - $2) / 1000" | bc -l)" >>"$phases"; }

say "build (Release, build-release/); outputs in $work"
build_release "$root" "$work/build.log" || exit 1
bin="$root/build-release/wasteflow"

pid_a="" pid_b="" pid_c=""
stop_pid() {
    local pid=$1
    [[ -n "$pid" ]] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || {
            wait "$pid" 2>/dev/null || true
            return 0
        }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
stop_servers() {
    stop_pid "$pid_c"
    stop_pid "$pid_b"
    stop_pid "$pid_a"
    pid_a="" pid_b="" pid_c=""
}
cleanup() {
    stop_servers
    WASTEFLOW_PG_PORT=$pg_port "$root/deploy/pg-local.sh" stop "$pgdir" >/dev/null 2>&1 || true
    if [[ "$keep" != 1 ]]; then
        rm -rf "$pgdir"
    fi
}
trap cleanup EXIT

say "PostgreSQL (fast mode) in $pgdir on 127.0.0.1:$pg_port"
if [[ "$keep" != 1 ]]; then
    drop_pg "$pg_port" "$pgdir"
fi
# A kept cluster may still be running from an interrupted run: start reuses it.
if ! admin_url=$(start_fast_pg "$pg_port" "$pgdir" "$work/pg-start.log" reuse); then
    echo "scale.sh: could not start PostgreSQL on 127.0.0.1:$pg_port (see $work/pg-start.log)" >&2
    exit 1
fi
postmaster_pid=$(head -n 1 "$pgdir/data/postmaster.pid")
url_of() { echo "${admin_url%/*}/$1"; }
admin() { psql "$admin_url" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
# The generator and the schema a template was seeded with.
generator=$(cat "$root/cmd/wasteflow/seed.c" "$root"/sql/migrations/*.sql | sha256sum | cut -c1-16)

# start_server VAR PORT LOG [LEVEL]: starts a server as the app role on the run database.
start_server() {
    local var=$1 listen=$2 log=$3 level=${4:-warn}
    DATABASE_URL="${run_url/wasteflow@/wasteflow_app@}" WASTEFLOW_LISTEN=127.0.0.1:$listen \
        WASTEFLOW_POOL_SIZE=$pool WASTEFLOW_MAX_CONNECTIONS=300 WASTEFLOW_LOG_LEVEL=$level \
        WASTEFLOW_RATE_LIMIT=0 "$bin" serve >>"$log" 2>&1 &
    printf -v "$var" '%s' $!
}
wait_ready() {
    local listen=$1 pid=$2
    for _ in $(seq 1 300); do
        curl -sf "http://127.0.0.1:$listen/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
status_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || true; }
# one_client_latency KIND SEED FILE LABEL: one client's latency of KIND (view, transfer) on A,
# written to $wdir/FILE.json and shown, timed as the phase "$name: LABEL".
one_client_latency() {
    local started
    started=$(now_ms)
    python3 "$drv" latency "$A" "$1" "$orgs" --count "$step_count" --budget "$step_budget" \
        --timeout "$request_timeout" --seed "$2" >"$wdir/$3.json" || true
    phase "$name: $4" "$started"
    cat "$wdir/$3.json" >&2
}

world_files=()
IFS=',' read -r -a specs <<<"$worlds"
for spec in "${specs[@]}"; do
    case "$spec" in
    1) spec=100x1000x10000 ;;
    2) spec=1000x10000x100000 ;;
    3) spec=10000x100000x1000000 ;;
    esac
    if [[ ! "$spec" =~ ^([0-9]+)x([0-9]+)x([0-9]+)$ ]]; then
        echo "scale.sh: bad world \"$spec\" in SCALE_WORLDS (1, 2, 3 or NxMxR)" >&2
        exit 2
    fi
    orgs=${BASH_REMATCH[1]} storages=${BASH_REMATCH[2]} routes=${BASH_REMATCH[3]}
    name="${orgs}x${storages}x${routes}"
    wdir="$work/$name"
    mkdir -p "$wdir"
    world_start=$(now_ms)

    # ---- the world: a seeded template, copied for this run
    tpl="scale_${orgs}_${storages}_${routes}_s${seed}"
    have=$(admin -c "SELECT shobj_description(oid, 'pg_database') FROM pg_database
        WHERE datname = '$tpl'")
    seed_s=null
    if [[ "$have" != "wasteflow-scale $generator" ]]; then
        say "$name: seeding template $tpl"
        admin -c "DROP DATABASE IF EXISTS $tpl" -c "CREATE DATABASE $tpl"
        DATABASE_URL=$(url_of "$tpl") "$bin" migrate >"$wdir/seed.log" 2>&1
        t=$(now_ms)
        DATABASE_URL=$(url_of "$tpl") WASTEFLOW_LOG_LEVEL=warn "$bin" seed synthetic \
            --organizations "$orgs" --storages "$storages" --routes "$routes" --seed "$seed" \
            >>"$wdir/seed.log" 2>&1
        seed_s=$(echo "($(now_ms) - $t) / 1000" | bc -l)
        phase "$name: seed synthetic" "$t"
        # Not the (empty) ledger: see README.md, "Pitfalls" (run.sh's note).
        psql "$(url_of "$tpl")" -X -q -c "VACUUM ANALYZE organizations, organization_waste,
            storages, storage_waste, routes"
        admin -c "COMMENT ON DATABASE $tpl IS 'wasteflow-scale $generator'"
    else
        say "$name: template $tpl is current (SCALE_KEEP): not seeding"
    fi
    t=$(now_ms)
    admin -c "DROP DATABASE IF EXISTS scale_run" \
        -c "CREATE DATABASE scale_run TEMPLATE $tpl STRATEGY FILE_COPY"
    phase "$name: copy the template" "$t"
    run_url=$(url_of scale_run)
    sql() { psql "$run_url" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
    DATABASE_URL=$run_url "$bin" migrate >>"$wdir/seed.log" 2>&1
    BENCH_KEY=$(DATABASE_URL=$run_url "$bin" keys create --role admin --name scale |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
    export BENCH_KEY
    notes=()

    # ---- two servers on it
    say "$name: servers A on :$port_a and B on :$port_b (WASTEFLOW_POOL_SIZE=$pool)"
    start_server pid_a "$port_a" "$wdir/server-a.log"
    start_server pid_b "$port_b" "$wdir/server-b.log"
    wait_ready "$port_a" "$pid_a" && wait_ready "$port_b" "$pid_b" || {
        tail -n 20 "$wdir"/server-*.log >&2
        exit 1
    }
    A="http://127.0.0.1:$port_a" B="http://127.0.0.1:$port_b"
    # Each instance loads the road graph on its first view: keep that out of the steps.
    t=$(now_ms)
    python3 "$drv" latency "$A" view "$orgs" --count 1 --budget 1 --timeout "$request_timeout" \
        >"$wdir/warm-a.json" || true
    python3 "$drv" latency "$B" view "$orgs" --count 1 --budget 1 --timeout "$request_timeout" \
        >"$wdir/warm-b.json" || true
    phase "$name: warm-up views on A and B" "$t"

    # ---- the view, one client
    say "$name: view first page, 1 client"
    one_client_latency view 1 view "view latency"

    # ---- transfers, one client
    say "$name: transfers, 1 client"
    one_client_latency transfer 2 transfer1 "transfer latency"

    # ---- transfers, 16 clients, with CPU and the lock counter
    say "$name: transfers, 16 clients (wrk, $wrk_duration s)"
    sql -c "VACUUM (ANALYZE) storage_waste, organization_waste, organizations" \
        -c "ANALYZE transfers, shipments"
    metrics="wasteflow_transfer_rows_locked_total wasteflow_transfers_total"
    python3 "$drv" metric "$A" $metrics >"$wdir/metrics-before.json" || true
    shipments_before=$(sql -c "SELECT coalesce(max(id), 0) FROM shipments")
    transfers_before=$(sql -c "SELECT coalesce(max(id), 0) FROM transfers")
    t=$(now_ms)
    python3 "$lib" cpu "$pid_a" "$postmaster_pid" >"$wdir/wrk16.cpu"
    ORGS=$orgs WASTE_TYPE=bio,glass,plastic /usr/bin/time -f '%U %S' -o "$wdir/wrk16.time" \
        wrk -t2 -c16 -d"${wrk_duration}s" --timeout "${request_timeout}s" --latency \
        -s "$bench/random_transfer.lua" "$A" >"$wdir/wrk16.txt" 2>&1 || true
    python3 "$lib" cpu "$pid_a" "$postmaster_pid" >>"$wdir/wrk16.cpu"
    phase "$name: transfers at 16 clients" "$t"
    python3 "$drv" metric "$A" $metrics >"$wdir/metrics-after.json" || true
    sql -c "SELECT count(*), count(s.id) FROM transfers t LEFT JOIN shipments s
        ON s.transfer_id = t.id WHERE t.id > $transfers_before AND t.trigger = 'request'" \
        >"$wdir/wrk16-ledger.txt"
    grep -E "Requests/sec|Non-2xx|Socket errors" "$wdir/wrk16.txt" >&2 || true
    # What today's code locks per transfer: every reachable glass row with room.
    sql -c "SELECT count(*) FROM storage_waste WHERE waste_type = 'glass' AND stock < capacity" \
        >"$wdir/candidate-rows.txt"

    # ---- a route change, until instance B shows it
    say "$name: route change on A until visible on B"
    org=$(((orgs + 1) / 2))
    read -r route_id storage_id < <(sql -F ' ' -c "SELECT id, to_storage_id FROM routes
        WHERE from_organization_id = $org ORDER BY distance_m, to_storage_id LIMIT 1")
    t=$(now_ms)
    python3 "$drv" route-visible "$A" "$B" "$route_id" "$org" "$storage_id" \
        --changes "$route_changes" --cap "$route_cap" >"$wdir/route.json" || true
    phase "$name: route visibility" "$t"
    cat "$wdir/route.json" >&2

    # ---- a full graph load: a fresh instance's first view
    say "$name: fresh instance C on :$port_c, its first view"
    t=$(now_ms)
    # Readiness is polled here, not in python, whose start-up (a pyenv shim) takes a second.
    spawn_ns=$(date +%s%N)
    start_server pid_c "$port_c" "$wdir/server-c.log" debug
    ready_ms=null
    for _ in $(seq 1 $((request_timeout * 50))); do
        if curl -sf "http://127.0.0.1:$port_c/readyz" >/dev/null 2>&1; then
            ready_ms=$((($(date +%s%N) - spawn_ns) / 1000000))
            break
        fi
        kill -0 "$pid_c" 2>/dev/null || break
        sleep 0.02
    done
    python3 "$drv" fresh-view "http://127.0.0.1:$port_c" "$org" "$ready_ms" \
        --timeout "$((request_timeout * 2))" >"$wdir/fresh.json" || true
    echo "$(status_kib "$pid_c" VmHWM) $(status_kib "$pid_c" VmRSS)" >"$wdir/rss-c.txt"
    stop_pid "$pid_c"
    pid_c=""
    grep -i 'graph' "$wdir/server-c.log" >"$wdir/graph-log.txt" || true
    phase "$name: fresh instance" "$t"
    cat "$wdir/fresh.json" >&2

    # ---- the first route changes after a start: a fresh instance, as soon as it is ready
    say "$name: fresh instance C again, $route_changes new roads right after its start"
    t=$(now_ms)
    start_server pid_c "$port_c" "$wdir/server-c2.log" debug
    for _ in $(seq 1 $((request_timeout * 50))); do
        curl -sf "http://127.0.0.1:$port_c/readyz" >/dev/null 2>&1 && break
        kill -0 "$pid_c" 2>/dev/null || break
        sleep 0.02
    done
    python3 "$drv" start-routes "http://127.0.0.1:$port_c" "$org" "$storages" \
        --changes "$route_changes" --timeout "$request_timeout" >"$wdir/start-routes.json" || true
    stop_pid "$pid_c"
    pid_c=""
    phase "$name: route changes after start" "$t"
    cat "$wdir/start-routes.json" >&2

    # ---- dispatch burst
    burst=$((orgs < burst_orgs ? orgs : burst_orgs))
    say "$name: dispatch burst, $burst organizations pending glass, then room for all"
    for _ in $(seq 1 100); do # the route changes woke the dispatchers: let them finish
        [[ "$(sql -c "SELECT count(*) FROM organizations WHERE pending_since IS NOT NULL")" == 0 ]] &&
            break
        sleep 0.2
    done
    t=$(now_ms)
    # No glass room anywhere; then the organizations hand over glass, written as the
    # service writes a transfer that ships nothing (ledger row, pending, pending_since,
    # oldest first by id). Neither moves the dispatch epoch: nothing can be placed.
    sql <<SQL
BEGIN;
UPDATE storage_waste SET capacity = stock WHERE waste_type = 'glass' AND capacity <> stock;
WITH chosen AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM organizations
                ORDER BY id LIMIT $burst),
ledger AS (INSERT INTO transfers (organization_id, trigger, actor, received, pending)
           SELECT id, 'request', 'bench', jsonb_build_object('glass', 1 + n % 5),
                  jsonb_build_object('glass', 1 + n % 5) FROM chosen ORDER BY id
           RETURNING organization_id, (received ->> 'glass')::bigint AS kg),
pend AS (INSERT INTO organization_waste (organization_id, waste_type, pending)
         SELECT organization_id, 'glass', kg FROM ledger
         ON CONFLICT (organization_id, waste_type)
         DO UPDATE SET pending = organization_waste.pending + EXCLUDED.pending)
UPDATE organizations o SET pending_since = now() - make_interval(secs => ($burst - c.n) / 1000.0)
FROM chosen c WHERE o.id = c.id;
COMMIT;
SQL
    # What autovacuum would do after such a bulk change: without it, plans cached while the
    # ledger was small (the foreign-key checks of shipments: a sequential scan of a
    # then-tiny transfers table) stay until the next analyze, and each of the burst's
    # 10,000 shipments would scan the ledger.
    sql -c "ANALYZE transfers, shipments, organizations, organization_waste, storage_waste"
    sleep 1.5
    pending_kg=$(sql -c "SELECT coalesce(sum(pending), 0) FROM organization_waste WHERE waste_type = 'glass'")
    room_at=$(sql -c "BEGIN" -c "UPDATE storage_waste SET capacity = stock + 1000000
        WHERE waste_type = 'glass'" -c "UPDATE dispatch_state SET room_epoch = room_epoch + 1" \
        -c "COMMIT" -c "SELECT extract(epoch FROM clock_timestamp())")
    left=$pending_kg seen_at=$room_at
    while :; do
        read -r left seen_at < <(sql -F ' ' -c "SELECT coalesce(sum(pending), 0),
            extract(epoch FROM clock_timestamp()) FROM organization_waste WHERE waste_type = 'glass'")
        [[ "$left" == 0 ]] && break
        (($(echo "$seen_at - $room_at > $burst_cap" | bc))) && break
        sleep 0.1
    done
    printf '{"organizations": %s, "pending_kg": %s, "left_kg": %s, "seconds": %s, "capped": %s}\n' \
        "$burst" "$pending_kg" "$left" "$(printf '%.3f' "$(echo "$seen_at - $room_at" | bc)")" \
        "$([[ "$left" == 0 ]] && echo false || echo true)" >"$wdir/burst.json"
    phase "$name: dispatch burst" "$t"
    cat "$wdir/burst.json" >&2

    # ---- memory, then stop
    echo "$(status_kib "$pid_a" VmHWM) $(status_kib "$pid_a" VmRSS)" >"$wdir/rss-a.txt"
    echo "$(status_kib "$pid_b" VmHWM) $(status_kib "$pid_b" VmRSS)" >"$wdir/rss-b.txt"
    stop_servers

    # ---- allocation plans: a fresh instance, its graph loaded by one view, then one batch
    # per size of PLANS_SIZES (as plans_scale.sh, which runs more of them). Its own instance,
    # without a work budget (a 10,000-entry plan's searches exceed the default one) and with
    # a request deadline of REQUEST_TIMEOUT, so its VmHWM is what a plan adds to a loaded graph.
    say "$name: plans (${plans_sizes}) on a fresh instance"
    t=$(now_ms)
    WASTEFLOW_WORK_BUDGET=0 WASTEFLOW_REQUEST_TIMEOUT_MS=$((request_timeout * 1000)) \
        WASTEFLOW_QUERY_TIMEOUT_MS=$((request_timeout * 1000)) \
        start_server pid_c "$port_c" "$wdir/server-plans.log"
    if wait_ready "$port_c" "$pid_c"; then
        python3 "$drv" latency "http://127.0.0.1:$port_c" view "$orgs" --count 1 --budget 1 \
            --timeout "$request_timeout" >"$wdir/warm-plans.json" || true
        python3 "$drv" plans "http://127.0.0.1:$port_c" "$orgs" --sizes "$plans_sizes" \
            --timeout "$request_timeout" >"$wdir/plans.json" || true
        echo "$(status_kib "$pid_c" VmHWM) $(status_kib "$pid_c" VmRSS)" >"$wdir/rss-plans.txt"
    else
        tail -n 20 "$wdir/server-plans.log" >&2
    fi
    stop_pid "$pid_c"
    pid_c=""
    phase "$name: plans" "$t"
    cat "$wdir/plans.json" >&2 2>/dev/null || true
    sql -f "$root/sql/audit.sql" >"$wdir/audit.txt" 2>&1 || true
    grep -h '"level":"error"' "$wdir"/server-*.log >"$wdir/server-errors.txt" || true
    python3 "$drv" assemble "$wdir" "$orgs" "$storages" "$routes" "$seed_s" \
        >"$wdir/world.json"
    world_files+=("$wdir/world.json")
    phase "$name: whole world" "$world_start"
done

say "results"
python3 "$drv" report "$out" "${world_files[@]}"
echo
echo "phases:"
cat "$phases"
echo "scale.sh took $(($(date +%s) - suite_start)) s; raw outputs in $work (one directory per" \
    "world: *.json from scale.py, wrk16.txt, *.cpu, server-*.log, audit.txt); JSON in $out"
