#!/usr/bin/env bash
# Runs deploy/ha/docker-compose.yml for real, kills things under load, checks that nothing
# acknowledged is lost, and takes it down:
#
#   deploy/ha/test.sh          (as root; .ci/run's "HA stack" phase)
#
# 1. Packages (docker.io, docker-compose, debootstrap, jq, curl, and a C compiler with
#    libcurl for test/failover/loadgen.c), dockerd started when no engine answers (stopped
#    again at the end only if started here), the local base image (deploy/images.sh).
# 2. The images built one per image (wasteflow:latest is cached after deploy/compose-test.sh),
#    then `up -d` of a private project (wasteflow-ha-test, $WASTEFLOW_HA_PROJECT) with
#    HAProxy on 127.0.0.1:$WASTEFLOW_HTTP_PORT (default 18180); waits until /readyz answers
#    through HAProxy and the monitor shows one primary and one secondary.
# 3. $WASTEFLOW_HA_CLIENTS (4) clients of loadgen hand over waste through HAProxy, each
#    request with its own Idempotency-Key. The primary's container (the monitor says which)
#    is killed with `docker kill`; pg_auto_failover promotes the other node by itself (this
#    script never promotes anything). Measured: the time without an acknowledged write
#    (RTO: last 201 before the kill to the first 201 of a request sent after it).
# 4. Proofs: every acknowledged transfer id is in the new primary's ledger; retrying every
#    key replays or runs it once, and each key has exactly one transfer row; sql/audit.sql
#    as wasteflow_auditor prints nothing.
# 5. The old primary's container is started again and must rejoin as a secondary.
# 6. Under load again, one service container is killed: through HAProxy at most the
#    requests in flight may fail ($WASTEFLOW_HA_CLIENTS).
# 7. Always (trap): the containers' logs on failure, `down -v`, dockerd stopped if started.
#    WASTEFLOW_HA_KEEP=1 keeps the work directory, with all containers' logs.
# Prints acknowledged, lost (must be 0), RTO and failed requests; exits non-zero on any
# violation.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
project="${WASTEFLOW_HA_PROJECT:-wasteflow-ha-test}"
export WASTEFLOW_HTTP_PORT="${WASTEFLOW_HTTP_PORT:-18180}"
# One admin key sends every request: no per-credential rate limit in this test.
export WASTEFLOW_RATE_LIMIT=0
base_url="http://127.0.0.1:$WASTEFLOW_HTTP_PORT"
clients="${WASTEFLOW_HA_CLIENTS:-4}"
load_before_s="${WASTEFLOW_HA_LOAD_BEFORE_S:-3}"
load_after_s="${WASTEFLOW_HA_LOAD_AFTER_S:-3}"
# The compose file's failover timeouts (3 s to call the primary failed, then 8 s for it to
# have demoted itself) give about 13 s; beyond this the test fails, so that a change back
# towards pg_auto_failover's defaults (about 52 s) does not pass unnoticed.
max_rto_s="${WASTEFLOW_HA_MAX_RTO_S:-30}"
rejoin_s="${WASTEFLOW_HA_REJOIN_S:-180}"

started_dockerd_pid=""
dockerd_log=""
stack_up=0
ok=0
work=$(mktemp -d /tmp/wasteflow-ha-test.XXXXXX)
compose=()
admin_key=""
load_pid=""
# name=seconds of each phase, for the summary.
phases=()
# Milestones in epoch milliseconds, set by now_ms.
t_now=0 t_load=0 t_kill=0 t_down=0 t_api_kill=0

log() {
    printf 'ha-test: %s\n' "$*" >&2
}

fail() {
    log "FAILED: $*"
    exit 1
}

now_ms() {
    local t="${EPOCHREALTIME/./}"
    printf -v "$1" '%s' "${t:0:${#t}-3}"
}

# shellcheck source=deploy/packages.sh
. "$root/deploy/packages.sh"

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local status=$?
    set +e
    if [[ -n "$load_pid" ]]; then
        : >"$work/stop"
        kill "$load_pid" 2>/dev/null
        wait "$load_pid" 2>/dev/null
    fi
    if ((stack_up)); then
        if ((status != 0)); then
            log "containers' logs:"
            "${compose[@]}" ps -a >&2
            "${compose[@]}" logs --no-color --tail=80 >&2
        fi
        if [[ "${WASTEFLOW_HA_KEEP:-0}" == 1 ]]; then
            "${compose[@]}" logs --no-color >"$work/containers.log" 2>&1
        fi
        log "docker-compose down -v"
        "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1
    fi
    if [[ -n "$started_dockerd_pid" ]]; then
        log "stopping the dockerd this script started (pid $started_dockerd_pid)"
        kill -TERM "$started_dockerd_pid" 2>/dev/null
        for _ in $(seq 1 40); do
            kill -0 "$started_dockerd_pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -0 "$started_dockerd_pid" 2>/dev/null && tail -n 20 "$dockerd_log" >&2
    fi
    if [[ "${WASTEFLOW_HA_KEEP:-0}" == 1 ]]; then
        log "kept $work"
    else
        rm -rf "$work"
    fi
    ((status == 0 && ok)) && log "passed"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_docker() {
    local packages=(debootstrap jq curl gcc libc6-dev pkg-config libcurl4-openssl-dev)
    if ! docker info >/dev/null 2>&1; then
        command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
    fi
    docker compose version >/dev/null 2>&1 || packages+=(docker-compose)
    ensure_packages "${packages[@]}"
    if ! docker info >/dev/null 2>&1; then
        [[ "$(id -u)" -eq 0 ]] || fail "no Docker engine answers and only root may start one"
        dockerd_log="$work/dockerd.log"
        log "starting dockerd (log: $dockerd_log)"
        dockerd >"$dockerd_log" 2>&1 &
        started_dockerd_pid=$!
        for _ in $(seq 1 60); do
            docker info >/dev/null 2>&1 && break
            kill -0 "$started_dockerd_pid" 2>/dev/null || break
            sleep 0.5
        done
        docker info >/dev/null 2>&1 || {
            tail -n 30 "$dockerd_log" >&2
            fail "dockerd did not come up"
        }
    fi
    if docker compose version >/dev/null 2>&1; then
        compose=(docker compose)
    else
        compose=(docker-compose)
    fi
    compose+=(-p "$project" -f "$root/deploy/ha/docker-compose.yml")
}

container_of() {
    "${compose[@]}" ps -q "$1"
}

# The monitor's view: "name current assigned" per node.
node_states() {
    "${compose[@]}" exec -T monitor pg_autoctl show state --json |
        jq -r '.[] | "\(.nodename) \(.current_group_state) \(.assigned_group_state)"'
}

# Prints the node that is primary and the monitor keeps so (or nothing). Alone, a primary
# is in wait_primary: it accepts writes without waiting for a standby.
primary_node() {
    node_states 2>/dev/null |
        awk '$2 == $3 && ($2 == "primary" || $2 == "wait_primary") { print $1 }'
}

# The first N lines of stdin, reading all of it: `head` would leave the writer a SIGPIPE,
# which pipefail turns into a failure.
first_lines() {
    awk -v n="$1" 'NR <= n'
}

# psql as the superuser over the node container's socket (peer: user postgres).
psql_on() {
    local node="$1"
    shift
    "${compose[@]}" exec -T "$node" psql -X -q -A -t -v ON_ERROR_STOP=1 -h /var/run/postgresql \
        -d wasteflow "$@"
}

api_post() {
    curl -sS --max-time 10 -X POST -H "Authorization: Bearer $admin_key" \
        -H 'Content-Type: application/json' --data-binary "$2" "$base_url$1"
}

# start_load NAME: loadgen in the background, one line per answer into $work/NAME.log.
start_load() {
    rm -f "$work/stop"
    LOADGEN_AUTHORIZATION="Bearer $admin_key" "$loadgen" load "$base_url$transfer_path" \
        "$transfer_body" "$clients" "$1" "$work/stop" 600 >"$work/$1.log" &
    load_pid=$!
}

stop_load() {
    : >"$work/stop"
    wait "$load_pid" || fail "loadgen failed"
    load_pid=""
}

# phase_done NAME: records the seconds since the previous phase_done (or the start).
phase_t0=$SECONDS
phase_done() {
    phases+=("$1=$((SECONDS - phase_t0))s")
    log "phase $1: $((SECONDS - phase_t0))s"
    phase_t0=$SECONDS
}

acks_in() {
    awk '$4 == 201' "$work/$1.log" | wc -l
}

# --- 1. engine, images, load generator ------------------------------------------------
t_all=$SECONDS
ensure_docker
"$root/deploy/images.sh" debian
loadgen="$work/loadgen"
read -r -a curl_flags <<<"$(pkg-config --cflags --libs libcurl)"
cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$loadgen" \
    "$root/test/failover/loadgen.c" "${curl_flags[@]}" -lpthread
if (echo >"/dev/tcp/127.0.0.1/$WASTEFLOW_HTTP_PORT") 2>/dev/null; then
    fail "port $WASTEFLOW_HTTP_PORT on 127.0.0.1 is in use"
fi
phase_done engine

# --- 2. the stack ---------------------------------------------------------------------
# One service per image, one after the other: the compose file names each image in
# several services, and building them side by side would run the same apt-get several
# times on a small machine. wasteflow:latest comes from the same Dockerfile and context
# as deploy/compose-test.sh's, which runs before this in CI: its layers are cached.
stack_up=1
for service in secrets monitor haproxy; do
    t0=$SECONDS
    "${compose[@]}" build "$service" >"$work/build-$service.log" 2>&1 || {
        tail -n 40 "$work/build-$service.log" >&2
        fail "building the image of $service failed"
    }
    phases+=("build-$service=$((SECONDS - t0))s")
done
phase_done build

log "starting project $project on 127.0.0.1:$WASTEFLOW_HTTP_PORT"
t0=$SECONDS
"${compose[@]}" up -d >"$work/up.log" 2>&1 || {
    tail -n 60 "$work/up.log" >&2
    fail "up -d failed"
}
log "up -d returned after $((SECONDS - t0))s; waiting for /readyz through HAProxy"
t1=$SECONDS
until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base_url/readyz")" == 200 ]]; do
    ((SECONDS - t1 < 120)) || fail "/readyz through HAProxy is not 200 two minutes after up"
    sleep 0.5
done
states=""
for _ in $(seq 1 120); do
    states=$(node_states 2>/dev/null | sort | paste -sd ' ')
    [[ "$states" == "node1 primary primary node2 secondary secondary" ||
        "$states" == "node1 secondary secondary node2 primary primary" ]] && break
    sleep 1
done
[[ "$states" == "node1 primary primary node2 secondary secondary" ||
    "$states" == "node1 secondary secondary node2 primary primary" ]] ||
    fail "the monitor does not show one primary and one secondary: $states"
t_up=$((SECONDS - t0))
old_primary=$(primary_node)
log "stack up in ${t_up}s; monitor: $states"
phase_done up

# The failover timeouts the compose file sets are the ones in force.
settings=$("${compose[@]}" exec -T monitor psql -X -A -t -F ' ' -h /var/run/postgresql \
    -d pg_auto_failover -c "SELECT name, setting FROM pg_settings
        WHERE name IN ('pgautofailover.health_check_period', 'pgautofailover.health_check_timeout',
            'pgautofailover.health_check_max_retries', 'pgautofailover.health_check_retry_delay',
            'pgautofailover.node_considered_unhealthy_timeout',
            'pgautofailover.primary_demote_timeout') ORDER BY name" | paste -sd ' ')
expected='pgautofailover.health_check_max_retries 2 pgautofailover.health_check_period 1000'
expected+=' pgautofailover.health_check_retry_delay 500 pgautofailover.health_check_timeout 1000'
expected+=' pgautofailover.node_considered_unhealthy_timeout 3000'
expected+=' pgautofailover.primary_demote_timeout 8000'
[[ "$settings" == "$expected" ]] || fail "the monitor's settings are [$settings], not [$expected]"
for node in node1 node2; do
    # shellcheck disable=SC2016  # expanded by the container's shell
    got=$("${compose[@]}" exec -T "$node" sh -c 'echo "$(psql -X -A -t -h /var/run/postgresql \
        -d postgres -c "SHOW wal_sender_timeout") $(pg_autoctl config get \
        timeout.network_partition_timeout)"')
    [[ "$got" == "3s 2" ]] ||
        fail "$node: wal_sender_timeout and network_partition_timeout are [$got], not [3s 2]"
done

# Synchronous replication, as pg_auto_failover sets it for two nodes.
sync_names=$(psql_on "$old_primary" -c 'SHOW synchronous_standby_names')
sync_state=$(psql_on "$old_primary" -c "SELECT string_agg(sync_state, ',') FROM pg_stat_replication")
[[ "$sync_names" == "ANY 1 ("* && "$sync_state" == quorum ]] ||
    fail "replication is not synchronous: synchronous_standby_names=[$sync_names], sync_state=[$sync_state]"
number_sync=$("${compose[@]}" exec -T monitor psql -X -A -t -h /var/run/postgresql \
    -d pg_auto_failover -c "SELECT number_sync_standbys FROM pgautofailover.formation WHERE formationid = 'default'")
[[ "$number_sync" == 0 ]] || fail "number_sync_standbys is $number_sync, not 0"

# Databases never published; HAProxy on 127.0.0.1 only.
for service in monitor node1 node2 api1 api2; do
    [[ -z "$(docker port "$(container_of "$service")")" ]] || fail "$service publishes a port"
done
[[ "$(docker port "$(container_of haproxy)" 8080/tcp)" == "127.0.0.1:$WASTEFLOW_HTTP_PORT" ]] ||
    fail "HAProxy is not published on 127.0.0.1:$WASTEFLOW_HTTP_PORT only"

out=$("${compose[@]}" exec -T api1 wasteflow keys create --role admin --name ha-test) ||
    fail "wasteflow keys create failed"
admin_key=$(jq -ser 'if length == 1 and .[0].role == "admin" then .[0].key else
    error("not one admin key object") end' <<<"$out") ||
    fail "keys create printed not one admin key object: $out"

org_id=$(api_post /v1/organizations '{"name": "HA org", "capacity": {}}' | jq -er .id) ||
    fail "could not create the organization"
storage_id=$(api_post /v1/storages '{"name": "HA depot", "capacity": {"glass": 1000000000000}}' |
    jq -er .id) || fail "could not create the storage"
api_post /v1/routes "{\"from\": {\"organization_id\": $org_id}, \"to\": {\"storage_id\": $storage_id}, \"distance_m\": 10}" |
    jq -e .id >/dev/null || fail "could not create the route"
transfer_path="/v1/organizations/$org_id/transfers"
transfer_body='{"waste": {"glass": 1}}'

phase_done checks

# --- 3. kill the primary under load ---------------------------------------------------
log "load: $clients clients through HAProxy, then the primary ($old_primary) is killed"
start_load failover
now_ms t_load
while now_ms t_now && ((t_now - t_load < load_before_s * 1000 || $(acks_in failover) < 50)); do
    ((t_now - t_load < 30000)) || fail "fewer than 50 transfers acknowledged in 30 s"
    sleep 0.2
done
old_container=$(container_of "$old_primary")
# Stays down until this script starts it again (restart: unless-stopped would bring it back).
docker update --restart=no "$old_container" >/dev/null
now_ms t_kill
docker kill "$old_container" >/dev/null
# From here on the old primary is certainly gone: a 201 for a request sent later can only
# come from the new primary (docker kill returns before the processes are gone).
for _ in $(seq 1 100); do
    [[ "$(docker inspect -f '{{.State.Running}}' "$old_container")" == false ]] && break
    sleep 0.05
done
[[ "$(docker inspect -f '{{.State.Running}}' "$old_container")" == false ]] ||
    fail "$old_primary still runs 5 s after docker kill"
now_ms t_down
log "killed $old_primary after $(acks_in failover) acknowledged transfers; waiting for the monitor"
new_primary=""
t_promoted=0
first_after=""
while :; do
    now_ms t_now
    ((t_now - t_kill < max_rto_s * 1000)) ||
        fail "no write within ${max_rto_s}s of the kill (monitor: $(node_states | paste -sd ' '))"
    if [[ -z "$new_primary" ]]; then
        p=$(primary_node)
        if [[ -n "$p" && "$p" != "$old_primary" ]]; then
            new_primary="$p"
            t_promoted=$t_now
            log "the monitor made $new_primary primary, $((t_promoted - t_kill)) ms after the kill"
        fi
    fi
    first_after=$(awk -v k="$t_down" '$4 == 201 && $1 > k && (m == "" || $2 < m) { m = $2 }
        END { print m }' "$work/failover.log")
    [[ -n "$first_after" && -n "$new_primary" ]] && break
    sleep 0.5
done
sleep "$load_after_s"
stop_load
phase_done failover

sort -n -o "$work/failover.log" "$work/failover.log"
requests=$(wc -l <"$work/failover.log")
acked=$(acks_in failover)
failed=$((requests - acked))
last_before=$(awk -v k="$t_down" '$4 == 201 && $1 <= k && $2 > t { t = $2 } END { print t }' \
    "$work/failover.log")
rto_ms=$((first_after - last_before))
rto=$(awk -v w="$rto_ms" 'BEGIN { printf "%.1f", w / 1000 }')
# Client errors would be bugs; during the failover only "unavailable" answers are fine.
bad=$(awk '$4 != 201 && $4 != 503 && $4 != 502 && $4 != 504 && $4 != "000"' \
    "$work/failover.log" | first_lines 5)
[[ -z "$bad" ]] || fail "answers other than 201 or unavailable (start end key status ...): $bad"
dup_ids=$(awk '$4 == 201 { print $5 }' "$work/failover.log" | sort | uniq -d | first_lines 3)
[[ -z "$dup_ids" ]] || fail "two keys were answered with one transfer id: $dup_ids"

# --- 4. proofs on the new primary -----------------------------------------------------
{
    printf 'SELECT count(*) FROM transfers WHERE id = ANY (%s);\n' \
        "'{$(awk '$4 == 201 { print $5 }' "$work/failover.log" | paste -sd, -)}'::bigint[]"
} >"$work/found.sql"
found=$(psql_on "$new_primary" -f - <"$work/found.sql")
lost=$((acked - found))
((lost == 0)) || fail "$lost acknowledged transfers are not in the new primary's ledger"

log "retrying all $requests keys"
awk '{ print $3 }' "$work/failover.log" >"$work/keys"
LOADGEN_AUTHORIZATION="Bearer $admin_key" "$loadgen" retry "$base_url$transfer_path" \
    "$transfer_body" "$clients" "$work/keys" | sort >"$work/retry1.log"
awk '$2 == 201 && $4 == 0 { print $1 }' "$work/retry1.log" >"$work/keys2"
LOADGEN_AUTHORIZATION="Bearer $admin_key" "$loadgen" retry "$base_url$transfer_path" \
    "$transfer_body" "$clients" "$work/keys2" | sort >"$work/retry2.log"
awk '{ print $3, $4, $5 }' "$work/failover.log" | sort >"$work/first.log"
join "$work/first.log" "$work/retry1.log" >"$work/joined.log"
[[ "$(wc -l <"$work/joined.log")" == "$requests" ]] || fail "not every key was retried"
bad_retry=$(awk '$4 != 201' "$work/joined.log" | first_lines 5)
[[ -z "$bad_retry" ]] || fail "retries not answered 201 (key status id status id replayed): $bad_retry"
not_replayed=$(awk '$2 == 201 && !($6 == 1 && $5 == $3)' "$work/joined.log" | first_lines 5)
[[ -z "$not_replayed" ]] || fail "acknowledged keys that did not replay their transfer: $not_replayed"
ran_on_retry=$(awk '$2 != 201 && $6 == 0' "$work/joined.log" | wc -l)
bad_second=$(join <(awk '$2 == 201 && $4 == 0' "$work/retry1.log") "$work/retry2.log" |
    awk '!($5 == 201 && $7 == 1 && $6 == $3)' | first_lines 5)
[[ -z "$bad_second" ]] || fail "second retries that did not replay: $bad_second"
rows=$(psql_on "$new_primary" -c \
    "SELECT count(*) FROM transfers WHERE organization_id = $org_id AND trigger = 'request'")
[[ "$rows" == "$requests" ]] ||
    fail "$rows transfer rows for $requests keys: a key ran twice or not at all"

# sql/audit.sql as the auditor, with its generated password, over TCP (scram).
# shellcheck disable=SC2016  # expanded by the container's shell
audit_out=$("${compose[@]}" exec -T "$new_primary" sh -c 'PGPASSWORD="$(cat \
    /run/wasteflow-secrets/auditor_password)" exec psql -X -q -A -t -v ON_ERROR_STOP=1 \
    -h "$0" -U wasteflow_auditor -d wasteflow -f -' "$new_primary" \
    <"$root/sql/audit.sql" 2>&1) || fail "audit.sql as wasteflow_auditor failed: $audit_out"
[[ -z "$audit_out" ]] || fail "audit.sql on the new primary: $audit_out"
phase_done proofs

# --- 5. the old primary rejoins as a standby ------------------------------------------
log "starting $old_primary again"
t0=$SECONDS
docker update --restart=unless-stopped "$old_container" >/dev/null
docker start "$old_container" >/dev/null
rejoined=""
for _ in $(seq 1 "$rejoin_s"); do
    if node_states 2>/dev/null | grep -x "$old_primary secondary secondary" >/dev/null; then
        rejoined=yes
        break
    fi
    sleep 1
done
[[ -n "$rejoined" ]] ||
    fail "$old_primary did not rejoin as secondary in ${rejoin_s}s: $(node_states | paste -sd ' ')"
t_rejoin=$((SECONDS - t0))
[[ "$(primary_node)" == "$new_primary" ]] || fail "the primary changed when $old_primary rejoined"
log "$old_primary is a secondary again (${t_rejoin}s)"
phase_done rejoin

# --- 6. kill one service instance under load ------------------------------------------
for _ in $(seq 1 60); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base_url/readyz")" == 200 ]] &&
        break
    sleep 0.5
done
start_load apikill
now_ms t_load
while now_ms t_now && ((t_now - t_load < load_before_s * 1000 || $(acks_in apikill) < 50)); do
    ((t_now - t_load < 30000)) || fail "fewer than 50 transfers acknowledged in 30 s (second load)"
    sleep 0.2
done
api_container=$(container_of api1)
docker update --restart=no "$api_container" >/dev/null
now_ms t_api_kill
docker kill "$api_container" >/dev/null
log "killed api1; load continues for ${load_after_s}s"
sleep "$load_after_s"
stop_load
api_requests=$(wc -l <"$work/apikill.log")
api_acked=$(acks_in apikill)
api_failed=$((api_requests - api_acked))
api_acked_after=$(awk -v k="$t_api_kill" '$4 == 201 && $1 > k' "$work/apikill.log" | wc -l)
((api_failed <= clients)) ||
    fail "$api_failed requests failed after one service container was killed (at most $clients in flight may)"
((api_acked_after >= 10)) || fail "only $api_acked_after transfers acknowledged after api1 was killed"
docker update --restart=unless-stopped "$api_container" >/dev/null
docker start "$api_container" >/dev/null
# The failed ones are retried with their keys (a 409 "in flight" means the killed
# instance's database session still held the key): each must end in one transfer.
awk '$4 != 201 { print $3 }' "$work/apikill.log" >"$work/keys3"
for _ in 1 2 3 4 5 6 7 8 9 10; do
    LOADGEN_AUTHORIZATION="Bearer $admin_key" "$loadgen" retry "$base_url$transfer_path" \
        "$transfer_body" "$clients" "$work/keys3" >"$work/retry3.log"
    [[ -z "$(awk '$2 != 201' "$work/retry3.log")" ]] && break
    sleep 1
done
bad_retry=$(awk '$2 != 201' "$work/retry3.log" | first_lines 5)
[[ -z "$bad_retry" ]] || fail "keys that failed when api1 was killed, retried: $bad_retry"
all_rows=$(psql_on "$new_primary" -c \
    "SELECT count(*) FROM transfers WHERE organization_id = $org_id AND trigger = 'request'")
[[ "$all_rows" == $((requests + api_requests)) ]] ||
    fail "$all_rows transfer rows for $((requests + api_requests)) keys after the instance was killed"
phase_done api-kill

ok=1
printf '\n=== HA stack summary (pg_auto_failover + HAProxy)\n'
printf '  %-48s %s\n' \
    "stack up (images built before)" "${t_up}s" \
    "monitor: health checks, unhealthy, demote timeout" "1 s (1 s, 2 x 0.5 s), 3 s, 8 s" \
    "nodes: network_partition / wal_sender timeout" "2 s / 3 s" \
    "replication" "synchronous_standby_names $sync_names, number_sync_standbys 0" \
    "primary killed" "$old_primary ($clients clients, $requests requests)" \
    "acknowledged" "$acked" \
    "lost (acknowledged, not in the new ledger)" "$lost" \
    "failed requests during the failover" "$failed (all retried with their keys)" \
    "container dead -> monitor shows $new_primary primary" "$((t_promoted - t_down)) ms" \
    "RTO (last 201 of the old primary -> first of the new)" "${rto} s" \
    "keys that committed unacknowledged / ran on retry" "$(awk '$2 != 201 && $6 == 1' "$work/joined.log" | wc -l) / $ran_on_retry" \
    "transfer rows for the keys" "$rows (one per key)" \
    "sql/audit.sql as wasteflow_auditor" "no violation" \
    "$old_primary back as secondary" "${t_rejoin}s after its start" \
    "api1 killed: requests / acknowledged / failed" "$api_requests / $api_acked / $api_failed (statuses: $(awk '$4 != 201 { print $4 }' "$work/apikill.log" | sort | uniq -c | awk '{ printf "%s%s x%s", s, $2, $1; s = ", " } END { if (NR == 0) printf "none" }'))" \
    "transfer rows for all keys after retries" "$all_rows (one per key)" \
    "phases" "${phases[*]}" \
    "total" "$((SECONDS - t_all))s"
