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
# 4. `wasteflow migrate`, `wasteflow seed case1` (idempotent demo data of the picture),
#    then `wasteflow serve` on $WASTEFLOW_LISTEN (default 127.0.0.1:8080) in the
#    foreground: Ctrl-C or SIGTERM stops it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$root/build-release"

log() {
    printf 'run.sh: %s\n' "$*" >&2
}

# shellcheck source=deploy/packages.sh
. "$root/deploy/packages.sh"

packages=(libevent-dev libpq-dev libcjson-dev libssl-dev cmake make gcc libc6-dev pkg-config)
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

log "serving on http://$WASTEFLOW_LISTEN (Ctrl-C to stop)"
exec "$bin" serve
