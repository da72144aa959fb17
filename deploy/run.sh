#!/usr/bin/env bash
# Runs wasteflow on this machine: the one command for a fresh Debian 12.
#
#   deploy/run.sh
#
# 1. As root, installs whatever build/runtime package is missing (apt-get); as another
#    user, names the missing packages and stops.
# 2. Builds Release into build-release/.
# 3. Without DATABASE_URL, starts a private PostgreSQL 15 cluster (deploy/pg-local.sh:
#    .pgdata/ or $WASTEFLOW_PGDATA, 127.0.0.1:54329 or $WASTEFLOW_PG_PORT, fsync on) and
#    uses it. The cluster keeps running after the server stops.
# 4. `wasteflow migrate` (as the schema's owner: it also creates and grants the roles
#    wasteflow_app and wasteflow_auditor), `wasteflow seed case1` (idempotent demo data of
#    the picture) and `wasteflow seed demo-keys` (an admin key and one key per demo
#    organization and storage, kept in .run/demo-keys and printed), then `wasteflow serve`
#    on $WASTEFLOW_LISTEN (default 127.0.0.1:8080) in the foreground, as wasteflow_app:
#    Ctrl-C or SIGTERM stops it. With DATABASE_URL set (the owner's), serve uses
#    WASTEFLOW_APP_DATABASE_URL when given (the app role's, with its password), else
#    DATABASE_URL itself (and says in its log that it should not).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$root/build-release"

log() {
    printf 'run.sh: %s\n' "$*" >&2
}

# shellcheck source=deploy/packages.sh
. "$root/deploy/packages.sh"

packages=(libevent-dev libpq-dev libcjson-dev libssl-dev libcurl4-openssl-dev cmake make gcc g++
    libc6-dev pkg-config liblemon-dev)
if [[ -z "${DATABASE_URL:-}" ]]; then
    packages+=(postgresql-15)
fi
ensure_packages "${packages[@]}"

log "building Release in $build_dir"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build_dir" -j "$(nproc 2>/dev/null || echo 2)"
bin="$build_dir/wasteflow"

if [[ -z "${DATABASE_URL:-}" ]]; then
    pgdir="${WASTEFLOW_PGDATA:-$root/.pgdata}"
    # Durable mode (fsync on): this is the data you look at, not a test's.
    DATABASE_URL=$(WASTEFLOW_PG_FAST=0 "$root/deploy/pg-local.sh" start "$pgdir")
    export DATABASE_URL
    log "private PostgreSQL cluster in $pgdir: $DATABASE_URL"
    log "it keeps running after the server stops; stop it with:"
    log "  $root/deploy/pg-local.sh stop $pgdir"
else
    log "using DATABASE_URL from the environment"
fi

export WASTEFLOW_LISTEN="${WASTEFLOW_LISTEN:-127.0.0.1:8080}"

log "applying migrations"
"$bin" migrate
log "loading the demo data (seed case1)"
"$bin" seed case1
"$bin" seed demo-keys --file "$root/.run/demo-keys"

serve_url="${WASTEFLOW_APP_DATABASE_URL:-$DATABASE_URL}"
if [[ -n "${pgdir:-}" ]]; then
    # The private cluster trusts local connections: the app role needs no password there.
    serve_url="${DATABASE_URL/wasteflow@/wasteflow_app@}"
fi
log "serving on http://$WASTEFLOW_LISTEN as $(sed -E 's#^[a-z]+://([^@:/]*).*#\1#' <<<"$serve_url")"
log "  console: http://$WASTEFLOW_LISTEN/console   API docs: http://$WASTEFLOW_LISTEN/docs"
log "  try:     . $root/.run/demo-keys && curl -H \"Authorization: Bearer \$ADMIN_KEY\" \\"
log "             http://$WASTEFLOW_LISTEN/v1/organizations/1/storages"
log "(Ctrl-C to stop)"
DATABASE_URL="$serve_url" exec "$bin" serve
