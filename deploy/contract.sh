#!/usr/bin/env bash
# Checks the service against its OpenAPI document (lib/api/openapi.json):
#   1. `redocly lint` (@redocly/cli, pinned) on the document;
#   2. the resource integration runners once more with every request going through
#      `prism proxy --errors` (@stoplight/prism-cli, pinned), so a response that does not
#      match the document fails the test that received it.
# Runner selection: Prism parses and re-serialises what it proxies and answers unknown
# paths, unsupported methods and malformed bodies itself, so the runners about raw HTTP
# (foundation, hostile, CORS, faults, shutdown) cannot go through it; the harness also
# sends bodies that are not JSON straight to the server. Prism also answers a request
# without credentials itself (401 for an operation with `security`), so of the access
# runners only test_jwt_http, whose every request carries a token, goes through it.
#   deploy/contract.sh <build dir>      (DATABASE_URL must be set, as for deploy/test.sh)
# Needs Node.js with npm and the npm registry; without them it says so and exits 0, so a
# machine without the registry still runs every other test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:?usage: deploy/contract.sh <build dir>}
tools=${WASTEFLOW_NPM_TOOLS:-/tmp/wasteflow-npm-tools}
redocly_version=1.34.5
prism_version=5.14.2

log() {
    printf 'contract.sh: %s\n' "$*" >&2
}

if ! command -v npm >/dev/null 2>&1; then
    log "SKIPPED: npm is not installed"
    exit 0
fi
if [[ ! -x "$tools/node_modules/.bin/prism" || ! -x "$tools/node_modules/.bin/redocly" ]]; then
    if ! timeout 30 npm view "@redocly/cli@$redocly_version" version >/dev/null 2>&1; then
        log "SKIPPED: the npm registry is not reachable from this machine"
        exit 0
    fi
    mkdir -p "$tools"
    log "installing @redocly/cli@$redocly_version and @stoplight/prism-cli@$prism_version in $tools"
    (cd "$tools" && npm install --no-audit --no-fund --loglevel=error \
        "@redocly/cli@$redocly_version" "@stoplight/prism-cli@$prism_version" >/dev/null)
fi

log "redocly lint lib/api/openapi.json"
REDOCLY_TELEMETRY=off "$tools/node_modules/.bin/redocly" lint "$root/lib/api/openapi.json"

log "integration runners through prism proxy --errors"
WASTEFLOW_PRISM="$tools/node_modules/.bin/prism" \
    ctest --test-dir "$build" --output-on-failure --no-tests=error -j1 \
    -R 'integration\.test_(picture|transfers|routes|seed|storage_view|jwt_http|exports|webhooks)$'
