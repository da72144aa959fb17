#!/usr/bin/env bash
# Runs docker-compose.yml for real, as a new user would, checks it, and takes it down:
#
#   deploy/compose-test.sh          (as root; .ci/run's "compose stack" phase)
#
# 1. Installs docker.io, docker-compose, debootstrap, jq and curl where missing (apt), and
#    starts dockerd when no engine answers (stopped again at the end only if started here).
# 2. deploy/images.sh: local debian:bookworm-slim and postgres:15 where missing (no
#    registry is reachable here; nothing is pulled).
# 3. `up -d --build` of a private project (wasteflow-compose-test, $WASTEFLOW_COMPOSE_PROJECT)
#    with the API on 127.0.0.1:$WASTEFLOW_HTTP_PORT (default 18080, never 8080), then waits
#    for `api` to be healthy.
# 4. As a new user: /readyz; an admin key from `exec api wasteflow keys create --role admin`;
#    ОО1's storage view (the picture's distances); a transfer and its replay;
#    sql/audit.sql through psql as wasteflow_auditor inside the db container (must print
#    nothing); plus the stack's own rules: api connects as wasteflow_app, the database is
#    not published, the API only on 127.0.0.1; the image's size (< $WASTEFLOW_IMAGE_MAX_MB,
#    default 120), user and lack of a compiler; a second `up` keeps passwords and data.
# 5. Always (trap): the containers' logs on failure, `down -v`, dockerd stopped if started.
#
# Docker's `docker compose` v2 is used where present, else docker-compose 1.29.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
project="${WASTEFLOW_COMPOSE_PROJECT:-wasteflow-compose-test}"
export WASTEFLOW_HTTP_PORT="${WASTEFLOW_HTTP_PORT:-18080}"
base_url="http://127.0.0.1:$WASTEFLOW_HTTP_PORT"
image_max_mb="${WASTEFLOW_IMAGE_MAX_MB:-120}"
app_role=wasteflow_app
auditor_role=wasteflow_auditor
owner_role=wasteflow

started_dockerd_pid=""
pg_image_pid=""
dockerd_log=""
stack_up=0
ok=0
work=$(mktemp -d /tmp/wasteflow-compose-test.XXXXXX)
compose=()
admin_key=""
summary=()

log() {
    printf 'compose-test: %s\n' "$*" >&2
}

fail() {
    log "FAILED: $*"
    exit 1
}

# shellcheck source=deploy/packages.sh
. "$root/deploy/packages.sh"

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local status=$?
    set +e
    if [[ -n "$pg_image_pid" ]] && kill -0 "$pg_image_pid" 2>/dev/null; then
        kill -TERM "$pg_image_pid"
        wait "$pg_image_pid"
    fi
    if ((stack_up)); then
        if ((status != 0)); then
            log "containers' logs:"
            "${compose[@]}" ps >&2
            "${compose[@]}" logs --no-color --tail=150 >&2
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
        if kill -0 "$started_dockerd_pid" 2>/dev/null; then
            log "dockerd did not stop; end of its log:"
            tail -n 20 "$dockerd_log" >&2
        fi
    fi
    rm -rf "$work"
    if ((status == 0 && ok)); then
        log "passed"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_docker() {
    local packages=(debootstrap jq curl)
    if ! docker info >/dev/null 2>&1; then
        command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
    fi
    if ! docker compose version >/dev/null 2>&1; then
        packages+=(docker-compose)
    fi
    ensure_packages "${packages[@]}"
    if ! docker info >/dev/null 2>&1; then
        if [[ "$(id -u)" -ne 0 ]]; then
            fail "no Docker engine answers and only root may start one"
        fi
        dockerd_log="$work/dockerd.log"
        log "starting dockerd (log: $dockerd_log)"
        dockerd >"$dockerd_log" 2>&1 &
        started_dockerd_pid=$!
        for _ in $(seq 1 60); do
            docker info >/dev/null 2>&1 && break
            kill -0 "$started_dockerd_pid" 2>/dev/null || break
            sleep 0.5
        done
        if ! docker info >/dev/null 2>&1; then
            tail -n 30 "$dockerd_log" >&2
            fail "dockerd did not come up"
        fi
    fi
    if docker compose version >/dev/null 2>&1; then
        compose=(docker compose)
    else
        compose=(docker-compose)
    fi
    log "engine $(docker version -f '{{.Server.Version}}'), $("${compose[@]}" version 2>/dev/null |
        head -n 1)"
    compose+=(-p "$project" -f "$root/docker-compose.yml")
}

# Runs a command in a service's container, no tty (as in CI).
in_service() {
    local service="$1"
    shift
    "${compose[@]}" exec -T "$service" "$@"
}

# run_psql_as ROLE PASSWORD_FILE PSQL_ARGS...: psql inside the db container, over TCP to
# its own address (pg_hba: scram), with the password read from the db's secrets volume.
run_psql_as() {
    local role="$1" password_file="$2"
    shift 2
    # shellcheck disable=SC2016  # expanded by the container's shell
    in_service db sh -c 'PGPASSWORD="$(cat "/run/wasteflow-secrets/$0")" exec psql -h db \
        -U "$1" -d wasteflow -X -q -A -t -v ON_ERROR_STOP=1 "$@"' \
        "$password_file" "$role" "$@"
}

container_of() {
    "${compose[@]}" ps -q "$1"
}

# HTTP helper: http METHOD PATH [BODY [extra curl args...]] -> sets http_status,
# http_body, http_headers (files under $work).
http() {
    local method="$1" path="$2" body="${3:-}"
    shift 3 || shift $#
    local args=(-sS -X "$method" -o "$work/body" -D "$work/headers" -w '%{http_code}'
        --max-time 10)
    if [[ -n "$admin_key" ]]; then
        args+=(-H "Authorization: Bearer $admin_key")
    fi
    if [[ -n "$body" ]]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    http_status=$(curl "${args[@]}" "$@" "$base_url$path") || http_status=000
    http_body=$(cat "$work/body" 2>/dev/null || true)
}

wait_healthy() {
    local service="$1" seconds="$2" id state
    id=$(container_of "$service")
    [[ -n "$id" ]] || fail "no container for $service"
    for _ in $(seq 1 $((seconds * 2))); do
        state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
        case "$state" in
        "running healthy") return 0 ;;
        exited* | dead*) fail "$service stopped ($state)" ;;
        esac
        sleep 0.5
    done
    fail "$service not healthy after ${seconds}s ($state)"
}

# The one place that obtains credentials (docs/design.md, "Access control": `wasteflow keys
# create --role admin` prints one JSON object with the key in "key"). Sets admin_key.
obtain_admin_key() {
    local out err status=0
    out=$(in_service api wasteflow keys create --role admin 2>"$work/keys.err") || status=$?
    err=$(cat "$work/keys.err")
    ((status == 0)) || fail "wasteflow keys create exited $status: $err"
    log "admin key created (id $(jq -r .id <<<"$out" 2>/dev/null))"
    jq -se 'length == 1 and (.[0] | type == "object"
            and (.key | type == "string" and startswith("wf_")) and .role == "admin")' \
        <<<"$out" >/dev/null || fail "keys create printed not one admin key object: $out"
    admin_key=$(jq -r .key <<<"$out")
    summary+=("admin key: id $(jq -r .id <<<"$out") from \`keys create --role admin\`")

    # Without a key the same request must be refused.
    local saved="$admin_key"
    admin_key=""
    http GET /v1/organizations/1/storages
    admin_key="$saved"
    [[ "$http_status" == 401 ]] || fail "GET /v1/... without a key answered $http_status, not 401"
    grep -qi '^WWW-Authenticate: Bearer' "$work/headers" ||
        fail "401 without WWW-Authenticate: Bearer"
}

check_image() {
    local bytes mb user
    bytes=$(docker image inspect -f '{{.Size}}' wasteflow:latest)
    mb=$(((bytes + 524288) / 1048576))
    summary+=("image wasteflow:latest: ${mb} MB (limit ${image_max_mb} MB)")
    ((mb < image_max_mb)) || fail "wasteflow:latest is ${mb} MB, over ${image_max_mb} MB"
    user=$(docker image inspect -f '{{.Config.User}}' wasteflow:latest)
    [[ -n "$user" && "$user" != root && "$user" != 0 ]] || fail "image runs as root"
    docker image inspect -f '{{.Config.Healthcheck.Test}}' wasteflow:latest | grep -q healthz ||
        fail "image has no HEALTHCHECK on /healthz"
    if docker run --rm --network none --entrypoint /bin/sh wasteflow:latest -c \
        'command -v gcc cc c99 clang make cmake ld as' | grep .; then
        fail "the runtime image carries a compiler or build tool"
    fi
}

# --- 1-2: engine and base images -------------------------------------------------------
t_all=$SECONDS
ensure_docker
t0=$SECONDS
"$root/deploy/images.sh" debian
summary+=("debian:bookworm-slim: $((SECONDS - t0))s")

# --- 3: the stack ---------------------------------------------------------------------
# postgres:15 and wasteflow:latest both build on the base: side by side, as neither
# needs the other.
t0=$SECONDS
"$root/deploy/images.sh" postgres >"$work/postgres-image.log" 2>&1 &
pg_image_pid=$!
log "building wasteflow:latest (and postgres:15 where missing, alongside)"
build_status=0
"${compose[@]}" build >"$work/build.log" 2>&1 || build_status=$?
summary+=("wasteflow:latest build: $((SECONDS - t0))s")
pg_image_status=0
wait "$pg_image_pid" || pg_image_status=$?
if ((build_status != 0)); then
    tail -n 40 "$work/build.log" >&2
    fail "image build failed"
fi
if ((pg_image_status != 0)); then
    tail -n 40 "$work/postgres-image.log" >&2
    fail "postgres:15 stand-in build failed"
fi
grep -E '^images.sh: ' "$work/postgres-image.log" >&2 || true
summary+=("wasteflow:latest and postgres:15 ready: $((SECONDS - t0))s")
check_image
log "starting project $project on 127.0.0.1:$WASTEFLOW_HTTP_PORT"

t0=$SECONDS
stack_up=1
"${compose[@]}" up -d --build >"$work/up.log" 2>&1 || {
    cat "$work/up.log" >&2
    fail "up -d failed"
}
wait_healthy api 120
summary+=("up -d to api healthy: $((SECONDS - t0))s")

migrate_id=$(docker ps -a -q --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=migrate")
[[ "$(docker inspect -f '{{.State.ExitCode}}' "$migrate_id")" == 0 ]] ||
    fail "migrate one-shot did not exit 0"

# --- 4: as a new user -----------------------------------------------------------------
http GET /readyz
[[ "$http_status" == 200 ]] || fail "/readyz answered $http_status: $http_body"
summary+=("GET /readyz: 200")

obtain_admin_key

http GET /v1/organizations/1/storages
[[ "$http_status" == 200 ]] || fail "ОО1's storages answered $http_status: $http_body"
distances=$(jq -r '[.items[] | "\(.name) \(.distance_m)"] | join(", ")' <<<"$http_body")
expected="МНО2 50, МНО1 100, МНО5 100, МНО3 600, МНО8 600, МНО9 610, МНО7 650, МНО6 1200"
[[ "$distances" == "$expected" ]] ||
    fail "ОО1's storage view: got [$distances], want [$expected]"
summary+=("ОО1 sees: $distances")

# The seed's pending waste is placed by the dispatcher within a second of the start;
# wait for it so that the transfer below places only what it hands over.
for _ in $(seq 1 20); do
    http GET /v1/organizations/1
    [[ "$http_status" == 200 && "$(jq -c .pending <<<"$http_body")" == "{}" ]] && break
    sleep 0.5
done
[[ "$(jq -c .pending <<<"$http_body")" == "{}" ]] ||
    fail "ОО1's seeded waste still pending after 10 s: $http_body"

key="compose-test-$(date +%s)-$$"
transfer='{"waste": {"glass": 5}}'
http POST /v1/organizations/1/transfers "$transfer" -H "Idempotency-Key: $key"
[[ "$http_status" == 201 ]] || fail "POST transfer answered $http_status: $http_body"
shipments=$(jq -c '[.shipments[] | {storage_id, waste_type, amount, distance_m}]' <<<"$http_body")
[[ "$shipments" == '[{"storage_id":1,"waste_type":"glass","amount":5,"distance_m":100}]' ]] ||
    fail "ОО1's 5 kg of glass should go to МНО1 (100 m): $shipments"
transfer_id=$(jq -r .id <<<"$http_body")
http POST /v1/organizations/1/transfers "$transfer" -H "Idempotency-Key: $key"
[[ "$http_status" == 201 && "$(jq -r .id <<<"$http_body")" == "$transfer_id" ]] ||
    fail "replay of the transfer answered $http_status: $http_body"
grep -qi '^Idempotent-Replayed: true' "$work/headers" || fail "replay without Idempotent-Replayed"
summary+=("POST transfer: 201, id $transfer_id, glass 5 -> МНО1 at 100 m; replay: same id")

# sql/audit.sql as the auditor, over TCP to the container's own address so that the
# auditor's password (scram) is what lets it in; it must print nothing.
audit_role="$auditor_role"
audit_password_file=auditor_password
audit_out=$(run_psql_as "$audit_role" "$audit_password_file" -f - <"$root/sql/audit.sql" 2>&1) ||
    fail "audit.sql as $audit_role failed: $audit_out"
[[ -z "$audit_out" ]] || fail "audit.sql reported: $audit_out"
summary+=("sql/audit.sql as $audit_role: no violation (empty output)")

# The stack's own rules.
roles=$(in_service db psql -U "$owner_role" -d wasteflow -X -q -A -t -c \
    "SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity
     WHERE datname = 'wasteflow' AND backend_type = 'client backend'
       AND pid <> pg_backend_pid()")
[[ "$roles" == "$app_role" ]] || fail "api connects as [$roles], not $app_role"
summary+=("api's database sessions: $roles")
db_ports=$(docker port "$(container_of db)" || true)
[[ -z "$db_ports" ]] || fail "the database is published: $db_ports"
api_ports=$(docker port "$(container_of api)" 8080/tcp)
[[ "$api_ports" == "127.0.0.1:$WASTEFLOW_HTTP_PORT" ]] ||
    fail "the API is published on [$api_ports], not 127.0.0.1 only"
summary+=("published: api $api_ports only; db none")

# A second `up` (a reboot, an upgrade) keeps the passwords and the data: the one-shots
# run again and change nothing, and the API answers with the same key.
t0=$SECONDS
"${compose[@]}" up -d >"$work/up2.log" 2>&1 || {
    cat "$work/up2.log" >&2
    fail "second up -d failed"
}
wait_healthy api 120
"${compose[@]}" logs --no-color secrets | grep -q 'passwords exist, kept' ||
    fail "the second up did not keep the passwords"
http GET "/v1/transfers/$transfer_id"
[[ "$http_status" == 200 ]] || fail "after a second up, GET the transfer answered $http_status"
summary+=("second up: passwords kept, transfer $transfer_id still there ($((SECONDS - t0))s)")
summary+=("total: $((SECONDS - t_all))s")

printf '\n=== compose smoke summary\n'
printf '  %s\n' "${summary[@]}"
ok=1
