#!/usr/bin/env bash
# Failover test: the service under concurrent load loses its primary and finds the
# promoted synchronous standby by itself, losing no acknowledged transfer.
#
#   test/failover/run.sh            (as root or as a user who may run initdb; .ci/run runs it)
#
# 1. Builds Release into build-release/ (the commands of deploy/run.sh).
# 2. Two PostgreSQL 15 clusters as user postgres (private dirs and sockets under /tmp):
#    a primary on 127.0.0.1:26010 and, from `pg_basebackup -R`, a synchronous streaming
#    standby on 26011 (synchronous_standby_names = 'standby1', synchronous_commit = on),
#    migrated and seeded (`wasteflow migrate`, `wasteflow seed case1`) before the copy.
# 3. `wasteflow serve` on 127.0.0.1:26080 with one multi-host DATABASE_URL
#    (127.0.0.1:26010,127.0.0.1:26011, target_session_attrs=read-write, connect_timeout=2),
#    and a second instance on 26081 given the hosts the other way round: it must skip the
#    read-only standby listed first (pg_stat_activity, its debug log), and find the new
#    primary too (it writes again after the failover).
# 4. $WASTEFLOW_FAILOVER_CLIENTS (4) clients POST transfers, each with its own
#    Idempotency-Key, recording every answer. After a few seconds: `pg_ctl -m immediate
#    stop` of the primary, `pg_ctl promote` of the standby, and what a failover manager
#    does when no standby is left: ALTER SYSTEM RESET synchronous_standby_names + reload.
#    By default the dead primary's address then drops connection attempts instead of
#    refusing them (WASTEFLOW_FAILOVER_BLACKHOLE=1: `loadgen blackhole` takes its port with
#    a full accept queue, as when its machine or network is gone); 0 leaves it refusing.
# 5. Proves: the same service process writes again (the write-unavailability window is
#    measured: last 201 before the kill to the first 201 after); every non-201 answer was
#    a quick 503 with Retry-After, never a hang; every acknowledged transfer id is in the
#    new primary's ledger; sql/audit.sql prints nothing; retrying every key replays
#    (Idempotent-Replayed: true, same id) and each key has exactly one transfer row; in
#    blackhole mode, that connect attempts to the dead primary really timed out.
# Everything it started is stopped on exit (trap); the clusters' and the service's logs
# are printed on failure. WASTEFLOW_FAILOVER_KEEP=1 keeps the directory.
set -euo pipefail
# sort and join must agree on one collation.
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build_dir="$root/build-release"
bin="$build_dir/wasteflow"
pg_bin="${WASTEFLOW_PG_BIN:-/usr/lib/postgresql/15/bin}"
# Below Linux's ephemeral range (32768-60999): a client socket left in TIME_WAIT on one of
# those ports makes a later listen on it fail ("Address already in use").
primary_port="${WASTEFLOW_FAILOVER_PRIMARY_PORT:-26010}"
standby_port="${WASTEFLOW_FAILOVER_STANDBY_PORT:-26011}"
http_port="${WASTEFLOW_FAILOVER_HTTP_PORT:-26080}"
http_port2="${WASTEFLOW_FAILOVER_HTTP_PORT2:-$((http_port + 1))}"
clients="${WASTEFLOW_FAILOVER_CLIENTS:-4}"
# Load before the kill (seconds), the failover manager's detection delay, load after the
# first write on the new primary, and what counts as a hang.
load_before_s="${WASTEFLOW_FAILOVER_LOAD_BEFORE_S:-3}"
detect_s="${WASTEFLOW_FAILOVER_DETECT_S:-1}"
load_after_s="${WASTEFLOW_FAILOVER_LOAD_AFTER_S:-2}"
max_latency_s="${WASTEFLOW_FAILOVER_MAX_LATENCY_S:-5}"
max_window_s="${WASTEFLOW_FAILOVER_MAX_WINDOW_S:-15}"
# 1: the dead primary's port drops connection attempts instead of refusing them, as when
# its machine or network is gone, not just the postmaster (no root: a listening socket
# with a full accept queue, see loadgen.c). 0: it refuses them.
blackhole="${WASTEFLOW_FAILOVER_BLACKHOLE:-1}"
blackhole_pid=""
base_url="http://127.0.0.1:$http_port"
owner_role=wasteflow
app_role=wasteflow_app
auditor_role=wasteflow_auditor
db=wasteflow

dir=""
serve_pid=""
serve2_pid=""
client_pids=()
admin_key=""
ok=0
# Milestones in epoch milliseconds, set by now_ms.
t_load=0 t_now=0 t_kill=0 t_down=0 t_promote=0 t_promoted=0 t_reset=0

log() {
    printf 'failover: %s\n' "$*" >&2
}

fail() {
    log "FAILED: $*"
    exit 1
}

# now_ms VAR: milliseconds since the epoch into VAR, without forking (bash 5's
# EPOCHREALTIME), comparable with the load client's times.
now_ms() {
    local t="${EPOCHREALTIME/./}"
    printf -v "$1" '%s' "${t:0:${#t}-3}"
}

as_owner() {
    if [[ "$(id -u)" -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

cluster_running() {
    [[ -f "$1/postmaster.pid" ]] && as_owner "$pg_bin/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# psql PORT ARGS...: as the owner over TCP (the clusters trust 127.0.0.1: private, test-only).
psql_at() {
    local port="$1"
    shift
    psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$owner_role" -d "$db" "$@"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local status=$? pid
    set +e
    for pid in "${client_pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    if [[ -n "$blackhole_pid" ]]; then
        kill "$blackhole_pid" 2>/dev/null
        wait "$blackhole_pid" 2>/dev/null
    fi
    for pid in "$serve_pid" "$serve2_pid"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            wait "$pid" 2>/dev/null
        fi
    done
    if [[ -n "$dir" ]]; then
        if ((status != 0)); then
            for f in serve.log serve2.log primary.log standby.log; do
                if [[ -s "$dir/$f" ]]; then
                    log "end of $f:"
                    tail -n 40 "$dir/$f" >&2
                fi
            done
        fi
        for cluster in "$dir/primary" "$dir/standby"; do
            if cluster_running "$cluster"; then
                as_owner "$pg_bin/pg_ctl" -D "$cluster" -m immediate -w stop >/dev/null
            fi
        done
        if [[ "${WASTEFLOW_FAILOVER_KEEP:-0}" == 1 ]]; then
            log "kept $dir"
        else
            rm -rf "$dir"
        fi
    fi
    if ((status == 0 && ok)); then
        log "passed"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. build ---------------------------------------------------------------------------
t_all=$SECONDS
# shellcheck source=deploy/packages.sh
. "$root/deploy/packages.sh"
ensure_packages libevent-dev libpq-dev libcjson-dev libssl-dev cmake make gcc libc6-dev \
    pkg-config libcurl4-openssl-dev postgresql-15 postgresql-client-15 curl jq
log "building Release in $build_dir"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build_dir" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
loadgen="$build_dir/failover-loadgen"
read -r -a curl_flags <<<"$(pkg-config --cflags --libs libcurl)"
cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$loadgen" "$root/test/failover/loadgen.c" \
    "${curl_flags[@]}" -lpthread
t_build=$((SECONDS - t_all))

for port in "$primary_port" "$standby_port" "$http_port" "$http_port2"; do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        fail "port $port on 127.0.0.1 is in use"
    fi
done

# --- 2. primary and synchronous standby --------------------------------------------------
dir=$(mktemp -d /tmp/wasteflow-failover.XXXXXX)
chmod 0755 "$dir"
mkdir -p "$dir/run-primary" "$dir/run-standby"
if [[ "$(id -u)" -eq 0 ]]; then
    chown postgres:postgres "$dir" "$dir/run-primary" "$dir/run-standby"
fi

log "primary: initdb, 127.0.0.1:$primary_port"
as_owner "$pg_bin/initdb" -D "$dir/primary" -U "$owner_role" --auth=trust -E UTF8 \
    --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    fail "initdb failed"
}
cat >>"$dir/primary/postgresql.conf" <<EOF
# test/failover/run.sh
listen_addresses = '127.0.0.1'
port = $primary_port
unix_socket_directories = '$dir/run-primary'
wal_level = replica
max_wal_senders = 4
synchronous_commit = on
log_line_prefix = '%m [%p] %q%a '
EOF
as_owner "$pg_bin/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w -t 60 start >/dev/null
as_owner createdb -h 127.0.0.1 -p "$primary_port" -U "$owner_role" "$db"

owner_url="postgresql://$owner_role@127.0.0.1:$primary_port/$db"
DATABASE_URL="$owner_url" "$bin" migrate >/dev/null
DATABASE_URL="$owner_url" "$bin" seed case1 >/dev/null

# Set on the primary before the copy, so the standby inherits it in postgresql.auto.conf
# as a real pair's shared configuration would: after promotion the new primary waits for
# a standby that is gone, until the RESET below.
psql_at "$primary_port" -c "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" \
    -c 'SELECT pg_reload_conf()' >/dev/null

log "standby: pg_basebackup -R, 127.0.0.1:$standby_port"
as_owner "$pg_bin/pg_basebackup" -D "$dir/standby" -R -X stream -c fast \
    -d "host=127.0.0.1 port=$primary_port user=$owner_role application_name=standby1"
cat >>"$dir/standby/postgresql.conf" <<EOF
port = $standby_port
unix_socket_directories = '$dir/run-standby'
EOF
grep -q 'application_name=standby1' "$dir/standby/postgresql.auto.conf" ||
    fail "pg_basebackup -R did not keep application_name in primary_conninfo"
as_owner "$pg_bin/pg_ctl" -D "$dir/standby" -l "$dir/standby.log" -w -t 60 start >/dev/null

sync_state=""
for _ in $(seq 1 60); do
    sync_state=$(psql_at "$primary_port" -c \
        "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'")
    [[ "$sync_state" == sync ]] && break
    sleep 0.25
done
[[ "$sync_state" == sync ]] || fail "standby1 is not a synchronous standby ($sync_state)"
log "standby1 streaming, sync_state = sync"

# --- 3. the service, on both hosts ------------------------------------------------------
# connect_timeout bounds each host's attempt, in the blocking connects of serve's start-up
# (libpq) and in the pool's (lib/db/pool.c times them itself). Debug logs show every
# connect attempt.
url_params="target_session_attrs=read-write&connect_timeout=2&application_name=wasteflow-failover"
primary_first="postgresql://$app_role@127.0.0.1:$primary_port,127.0.0.1:$standby_port/$db?$url_params"
standby_first="postgresql://$app_role@127.0.0.1:$standby_port,127.0.0.1:$primary_port/$db?$url_params"

# start_service VAR LOG PORT URL: `wasteflow serve` in the background, its pid into VAR,
# once /readyz answers 200.
start_service() {
    local -n pid_var="$1"
    # The load generator sends hundreds of transfers a second with one key: no rate limit.
    DATABASE_URL="$4" WASTEFLOW_LISTEN="127.0.0.1:$3" WASTEFLOW_LOG_LEVEL=debug WASTEFLOW_RATE_LIMIT=0 \
        "$bin" serve >"$2" 2>&1 &
    pid_var=$!
    for _ in $(seq 1 100); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$3/readyz")" == 200 ]] &&
            return 0
        kill -0 "$pid_var" 2>/dev/null || fail "wasteflow serve on port $3 exited"
        sleep 0.1
    done
    fail "the service on port $3 is not ready"
}

# A second instance, given the hosts the other way round: read-write must skip the standby
# listed first, so every session it opens is on the primary. It shares the primary with
# the first one and must find the new primary too.
app_sessions() {
    psql_at "$1" -c "SELECT count(*) FROM pg_stat_activity WHERE usename = '$app_role'"
}
pool_size="${WASTEFLOW_POOL_SIZE:-4}"
start_service serve2_pid "$dir/serve2.log" "$http_port2" "$standby_first"
for _ in $(seq 1 50); do
    (($(app_sessions "$primary_port") >= pool_size + 1)) && break
    sleep 0.1
done
on_primary=$(app_sessions "$primary_port")
on_standby=$(app_sessions "$standby_port")
skipped=$(grep -c "\"database host failed\".*127.0.0.1:$standby_port.*read-only" "$dir/serve2.log" || true)
((on_standby == 0 && on_primary >= pool_size + 1 && skipped >= 1)) ||
    fail "the instance given the standby first did not skip it: $on_primary sessions on the primary, $on_standby on the standby, $skipped read-only attempts logged"
log "second instance (standby listed first): $on_primary sessions on the primary, none on the standby"

# The instance under load: the primary first, as a configuration usually lists it.
start_service serve_pid "$dir/serve.log" "$http_port" "$primary_first"

# The one place that obtains credentials: `wasteflow keys create --role admin`
# (docs/design.md, "Access control") prints one JSON object with the key in "key". Sets admin_key.
obtain_admin_key() {
    local out
    out=$(DATABASE_URL="$owner_url" "$bin" keys create --role admin --name failover-test) ||
        fail "wasteflow keys create failed"
    admin_key=$(jq -ser 'if length == 1 and .[0].role == "admin" then .[0].key else
        error("not one admin key object") end' <<<"$out") ||
        fail "keys create printed not one admin key object: $out"
}
obtain_admin_key
auth=()
[[ -n "$admin_key" ]] && auth=(-H "Authorization: Bearer $admin_key")

api_post() {
    curl -sS --max-time 10 -X POST "${auth[@]}" -H 'Content-Type: application/json' \
        --data-binary "$2" "$base_url$1"
}

org_id=$(api_post /v1/organizations '{"name": "Failover org", "capacity": {}}' | jq -er .id) ||
    fail "could not create the organization"
storage_id=$(api_post /v1/storages '{"name": "Failover depot", "capacity": {"glass": 1000000000000}}' |
    jq -er .id) || fail "could not create the storage"
api_post /v1/routes "{\"from\": {\"organization_id\": $org_id}, \"to\": {\"storage_id\": $storage_id}, \"distance_m\": 10}" |
    jq -e .id >/dev/null || fail "could not create the route"
transfer_path="/v1/organizations/$org_id/transfers"
transfer_body='{"waste": {"glass": 1}}'

# --- 4. load, kill, promote --------------------------------------------------------------
# test/failover/loadgen.c: one line per answer, start_ms end_ms key status id retry_after
# replayed, until $dir/stop exists (or 120 s pass).
acks() {
    awk '$4 == 201' "$dir/load.log" | wc -l
}

log "load: $clients clients for ${load_before_s}s, then the primary dies"
[[ -n "$admin_key" ]] && export LOADGEN_AUTHORIZATION="Bearer $admin_key"
"$loadgen" load "$base_url$transfer_path" "$transfer_body" "$clients" failover "$dir/stop" 120 \
    >"$dir/load.log" &
client_pids+=($!)
now_ms t_load
while now_ms t_now && ((t_now - t_load < load_before_s * 1000 || $(acks) < 50)); do
    ((t_now - t_load < 30000)) || fail "fewer than 50 transfers acknowledged in 30 s"
    sleep 0.2
done

if ((blackhole)); then
    # Started first: it takes the port the moment the postmaster lets go of it.
    "$loadgen" blackhole "$primary_port" 600 >"$dir/blackhole.out" 2>&1 &
    blackhole_pid=$!
fi
now_ms t_kill
as_owner "$pg_bin/pg_ctl" -D "$dir/primary" -m immediate -w stop >/dev/null
if ((blackhole)); then
    for _ in $(seq 1 200); do
        grep -q ready "$dir/blackhole.out" && break
        kill -0 "$blackhole_pid" 2>/dev/null || fail "loadgen blackhole: $(cat "$dir/blackhole.out")"
        sleep 0.01
    done
    grep -q ready "$dir/blackhole.out" || fail "loadgen blackhole did not take port $primary_port"
    log "connection attempts to 127.0.0.1:$primary_port are now dropped, not refused"
fi
# From here on the primary is certainly gone: a 201 for a request sent later can only
# come from the new primary.
now_ms t_down
log "primary stopped (-m immediate, $((t_down - t_kill)) ms) after $(acks) acknowledged transfers"
sleep "$detect_s"
now_ms t_promote
as_owner "$pg_bin/pg_ctl" -D "$dir/standby" -w -t 60 promote >/dev/null
now_ms t_promoted
psql_at "$standby_port" -c 'ALTER SYSTEM RESET synchronous_standby_names' \
    -c 'SELECT pg_reload_conf()' >/dev/null
now_ms t_reset
log "standby promoted ($((t_promoted - t_promote)) ms), synchronous_standby_names reset" \
    "($((t_reset - t_promoted)) ms): $((t_reset - t_down)) ms after the primary died"

first_after=""
while [[ -z "$first_after" ]]; do
    first_after=$(awk -v k="$t_down" '$4 == 201 && $1 > k { print $2 }' "$dir/load.log" |
        sort -n | head -n 1)
    if [[ -z "$first_after" ]]; then
        now_ms t_now
        ((t_now - t_reset < 30000)) ||
            fail "no transfer acknowledged within 30 s of the promotion: the service did not find the new primary"
        sleep 0.1
    fi
done
sleep "$load_after_s"
: >"$dir/stop"
for pid in "${client_pids[@]}"; do
    wait "$pid"
done
client_pids=()
kill -0 "$serve_pid" 2>/dev/null || fail "the service process died"

# The second instance writes on the new primary too (an organization: the transfer
# counts below are the first instance's).
second_write=""
for _ in $(seq 1 150); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "${auth[@]}" \
        -H 'Content-Type: application/json' --data-binary '{"name": "Second instance org", "capacity": {}}' \
        "http://127.0.0.1:$http_port2/v1/organizations")
    if [[ "$code" == 201 ]]; then
        now_ms second_write
        break
    fi
    sleep 0.1
done
[[ -n "$second_write" ]] || fail "the second instance did not write within 15 s of the load's end"
kill -0 "$serve2_pid" 2>/dev/null || fail "the second service process died"

# --- 5. proofs ----------------------------------------------------------------------------
sort -n -o "$dir/load.log" "$dir/load.log"
requests=$(wc -l <"$dir/load.log")
acked=$(awk '$4 == 201' "$dir/load.log" | wc -l)
last_before=$(awk -v k="$t_down" '$4 == 201 && $2 <= k && $2 > t { t = $2 } END { print t }' \
    "$dir/load.log")
window_ms=$((first_after - last_before))
unavailable=$(awk '$4 == 503' "$dir/load.log" | wc -l)
rate_before=$(awk -v s="$t_load" -v k="$t_kill" '$4 == 201 && $2 <= k { n++ }
    END { printf "%.0f", n * 1000 / (k - s) }' "$dir/load.log")

bad=$(awk '$4 != 201 && !($4 == 503 && $6 == 1)' "$dir/load.log" | head -n 5)
[[ -z "$bad" ]] || fail "answers other than 201 or 503 with Retry-After (start end key status ...): $bad"
max_latency_ms=$(awk '{ d = $2 - $1; if (d > m) m = d } END { print m + 0 }' "$dir/load.log")
((max_latency_ms <= max_latency_s * 1000)) ||
    fail "a request took ${max_latency_ms} ms (more than ${max_latency_s} s: a hang)"
((window_ms <= max_window_s * 1000)) ||
    fail "no writes for ${window_ms} ms, more than ${max_window_s} s"
[[ "$(awk '$4 == 201 && $7 == 1' "$dir/load.log" | wc -l)" == 0 ]] ||
    fail "a first request was answered as a replay"
dup_ids=$(awk '$4 == 201 { print $5 }' "$dir/load.log" | sort | uniq -d | head -n 3)
[[ -z "$dup_ids" ]] || fail "two keys were answered with one transfer id: $dup_ids"

acked_ids="{$(awk '$4 == 201 { print $5 }' "$dir/load.log" | paste -sd, -)}"
found=$(psql_at "$standby_port" -v ids="$acked_ids" <<'SQL'
SELECT count(*) FROM transfers WHERE id = ANY (:'ids'::bigint[]);
SQL
)
lost=$((acked - found))
((lost == 0)) || fail "$lost acknowledged transfers are not in the new primary's ledger"

audit_role="$auditor_role"
audit_out=$(psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$standby_port" \
    -U "$audit_role" -d "$db" -f "$root/sql/audit.sql" 2>&1) ||
    fail "audit.sql as $audit_role failed: $audit_out"
[[ -z "$audit_out" ]] || fail "audit.sql on the new primary: $audit_out"

# Retry every key: an acknowledged one must replay its id; one whose outcome the client
# never learned either replays (it had committed) or runs now, and then must replay.
log "retrying all $requests keys"
awk '{ print $3 }' "$dir/load.log" >"$dir/keys"
"$loadgen" retry "$base_url$transfer_path" "$transfer_body" "$clients" "$dir/keys" \
    | sort >"$dir/retry1.log"
# A fresh 201 (not replayed) is what an unacknowledged, uncommitted key gets: once more.
awk '$2 == 201 && $4 == 0 { print $1 }' "$dir/retry1.log" >"$dir/keys2"
"$loadgen" retry "$base_url$transfer_path" "$transfer_body" "$clients" "$dir/keys2" \
    | sort >"$dir/retry2.log"
awk '{ print $3, $4, $5 }' "$dir/load.log" | sort >"$dir/first.log"
# Per key: key first_status first_id retry1_status retry1_id retry1_replayed
join "$dir/first.log" "$dir/retry1.log" >"$dir/retry-joined.log"
[[ "$(wc -l <"$dir/retry-joined.log")" == "$requests" ]] || fail "not every key was retried"
bad_retry=$(awk '$4 != 201' "$dir/retry-joined.log" | head -n 5)
[[ -z "$bad_retry" ]] || fail "retries not answered 201 (key status id status id replayed): $bad_retry"
not_replayed=$(awk '$2 == 201 && !($6 == 1 && $5 == $3)' "$dir/retry-joined.log" | head -n 5)
[[ -z "$not_replayed" ]] ||
    fail "acknowledged keys that did not replay their transfer (key status id status id replayed): $not_replayed"
replayed_first=$(awk '$2 != 201 && $6 == 1' "$dir/retry-joined.log" | wc -l)
ran_on_retry=$(awk '$2 != 201 && $6 == 0' "$dir/retry-joined.log" | wc -l)
# Second round: key retry1_status retry1_id retry1_replayed retry2_status retry2_id replayed
join <(awk '$2 == 201 && $4 == 0' "$dir/retry1.log") "$dir/retry2.log" >"$dir/retry2-joined.log"
[[ "$(wc -l <"$dir/retry2-joined.log")" == "$ran_on_retry" ]] ||
    fail "not every key that ran on its retry was retried again"
bad_second=$(awk '!($5 == 201 && $7 == 1 && $6 == $3)' "$dir/retry2-joined.log" | head -n 5)
[[ -z "$bad_second" ]] || fail "second retries that did not replay: $bad_second"
# Final transfer of every key: distinct across keys.
dup_final=$(awk '{ print $5 }' "$dir/retry-joined.log" | sort | uniq -d | head -n 3)
[[ -z "$dup_final" ]] || fail "two keys share a transfer: $dup_final"
rows=$(psql_at "$standby_port" -c \
    "SELECT count(*) FROM transfers WHERE organization_id = $org_id AND trigger = 'request'")
[[ "$rows" == "$requests" ]] ||
    fail "$rows transfer rows for $requests keys: a key ran twice or not at all"

# The blackhole must have held real attempts, or this run proved nothing about it.
dead_primary="refused connections"
if ((blackhole)); then
    held=$(grep -c "\"database host failed\".*127.0.0.1:$primary_port.*no answer within" \
        "$dir/serve.log" || true)
    ((held >= 1)) || fail "no connect attempt to the blackholed 127.0.0.1:$primary_port timed out"
    dead_primary="dropped SYNs ($held attempts timed out after 2 s)"
fi
warnings=$(grep -c '"database connect failed"' "$dir/serve.log" || true)

ok=1
printf '\n=== failover summary\n'
printf '  %-44s %s\n' \
    "clients / requests during the run" "$clients / $requests" \
    "acknowledged (201)" "$acked ($rate_before/s before the kill)" \
    "answered 503 + Retry-After" "$unavailable" \
    "lost (acknowledged, not in the new ledger)" "$lost" \
    "primary down -> promoted + reset" "$((t_reset - t_down)) ms (detection stand-in ${detect_s}s)" \
    "promoted + reset -> first write" "$((first_after - t_reset)) ms" \
    "seconds without writes (last 201 -> first)" "$(awk -v w="$window_ms" 'BEGIN { printf "%.2f", w / 1000 }') s" \
    "slowest answer" "${max_latency_ms} ms" \
    "unacknowledged keys: committed / ran on retry" "$replayed_first / $ran_on_retry" \
    "transfer rows for the keys" "$rows (one per key)" \
    "audit.sql as $audit_role" "no violation" \
    "service restarted" "no (pid $serve_pid throughout)" \
    "second instance (standby listed first)" "skipped it at start; wrote again, no restart" \
    "the dead primary's address" "$dead_primary" \
    "\"database connect failed\" warnings logged" "$warnings" \
    "build / total" "${t_build}s / $((SECONDS - t_all))s"
