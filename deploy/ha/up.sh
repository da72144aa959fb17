#!/usr/bin/env bash
# Starts the HA stack (deploy/ha/docker-compose.yml) in one command:
#
#   deploy/ha/up.sh                 build what is missing, `up -d`, wait until HAProxy's
#                                   /readyz answers 200 on 127.0.0.1:${WASTEFLOW_HTTP_PORT:-8080}
#
# Where no registry is reachable, the base image debian:bookworm-slim is made locally first
# (deploy/images.sh, as root) when it is missing. Uses `docker compose` where present,
# else docker-compose 1.29. Stop it with `docker-compose -f deploy/ha/docker-compose.yml down`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
port="${WASTEFLOW_HTTP_PORT:-8080}"

if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    "$root/deploy/images.sh" debian
fi
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    compose=(docker-compose)
fi
"${compose[@]}" -f "$root/deploy/ha/docker-compose.yml" up -d --build "$@"
for _ in $(seq 1 240); do
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz")" == 200 ]]; then
        echo "up.sh: ready on http://127.0.0.1:$port"
        exit 0
    fi
    sleep 0.5
done
echo "up.sh: /readyz on 127.0.0.1:$port is not 200 after 2 minutes; see: ${compose[*]} -f deploy/ha/docker-compose.yml logs" >&2
exit 1
