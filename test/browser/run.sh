#!/usr/bin/env bash
# The operator console in a real browser: unit tests of its pure modules (node --test), then
# the issue's scenario in Debian's Chromium driven by playwright-core.
#
#   test/browser/run.sh [path/to/wasteflow]
#
# Without a binary it builds build-release/ (Release). It starts its own PostgreSQL 15
# (deploy/pg-local.sh, fast mode, a throwaway directory, 127.0.0.1:$WASTEFLOW_BROWSER_PG_PORT,
# default 54350), migrates, seeds case1, creates keys with `wasteflow keys create` (admin,
# organization 2, storage 3), starts two instances of `wasteflow serve` on that database as
# the app role wasteflow_app (A on 127.0.0.1:18091, B on 18092) and runs console.e2e.mjs and
# dispatch.e2e.mjs and weighbridge.e2e.mjs against A while B makes the changes that must appear live. Screenshots (one per step) go to
# $WASTEFLOW_BROWSER_OUT/screenshots (default: <dir of the binary>/browser/screenshots).
# Every process it starts is stopped by pid on exit.
#
# Also checks the formatting of the console's JavaScript and CSS (prettier).
# Needs Node.js with npm (playwright-core and prettier come with `npm ci` from package-lock.json)
# and Debian's chromium (installed with apt-get when run as root). When either cannot be had
# it prints SKIPPED with the reason and exits 0; anything else that fails, fails.
# WF_BROWSER_REQUIRED=1 (set by .ci/run) turns every SKIPPED into a failure.
# WF_DOCS_SHOT=$PWD/docs/console.png also renews the README's screenshot (quantized with
# pngquant when it is installed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
pg_port="${WASTEFLOW_BROWSER_PG_PORT:-54350}"
port_a="${WASTEFLOW_BROWSER_PORT_A:-18091}"
port_b="${WASTEFLOW_BROWSER_PORT_B:-18092}"

log() {
    printf 'browser: %s\n' "$*" >&2
}
skip() {
    if [[ "${WF_BROWSER_REQUIRED:-0}" == 1 ]]; then
        log "FAILED (WF_BROWSER_REQUIRED=1, so a skip is a failure): $*"
        exit 1
    fi
    log "SKIPPED: $*"
    exit 0
}

# ---- tools: npm, chromium, playwright-core
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    skip "Node.js and npm are not installed"
fi
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed'; then
    if [[ "$(id -u)" -ne 0 ]]; then
        skip "Debian's chromium is not installed (as root this script installs it: apt-get install chromium)"
    fi
    log "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }; then
        skip "apt-get could not install chromium"
    fi
fi
chromium_bin="${WF_CHROMIUM:-/usr/bin/chromium}"
[[ -x "$chromium_bin" ]] || skip "no Chromium at $chromium_bin"
if [[ ! -f "$here/node_modules/playwright-core/package.json" ]] ||
    [[ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]]; then
    log "npm ci (playwright-core, from package-lock.json)"
    if ! (cd "$here" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
        skip "npm ci failed (is the npm registry reachable?)"
    fi
fi

# ---- formatting of the console's JavaScript and CSS (prettier, pinned in package-lock.json)
log "prettier --check (lib/web/console, test/browser)"
(cd "$root" && "$here/node_modules/.bin/prettier" --config "$here/.prettierrc.json" --check --log-level warn \
    'lib/web/console/*.mjs' 'lib/web/console/*.css' 'test/browser/*.mjs' 'test/browser/unit/*.mjs')

# ---- unit tests of the console's modules
log "unit tests: node --test test/browser/unit"
(cd "$here" && node --test unit/)

# ---- the binary
bin="${1:-}"
if [[ -z "$bin" ]]; then
    build="$root/build-release"
    log "building $build (Release)"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build "$build" -j "${WASTEFLOW_BUILD_JOBS:-2}" >/dev/null
    bin="$build/wasteflow"
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[[ -x "$bin" ]] || {
    log "no executable at $bin"
    exit 1
}
out="${WASTEFLOW_BROWSER_OUT:-$(dirname "$bin")/browser}"
shots="$out/screenshots"
rm -rf "$shots"
mkdir -p "$shots"

# ---- PostgreSQL and the two instances, stopped on exit
pgdir="/tmp/wasteflow-browser-pg-$$"
pids=()
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local status=$? pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    WASTEFLOW_PG_PORT="$pg_port" "$root/deploy/pg-local.sh" stop "$pgdir" >/dev/null 2>&1 || true
    rm -rf "$pgdir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DATABASE_URL=$(WASTEFLOW_PG_PORT="$pg_port" WASTEFLOW_PG_FAST=1 "$root/deploy/pg-local.sh" start "$pgdir" 2>"$out/pg-local.log") || {
    cat "$out/pg-local.log" >&2
    exit 1
}
export DATABASE_URL
"$bin" migrate >"$out/migrate.log" 2>&1 || {
    cat "$out/migrate.log" >&2
    exit 1
}
"$bin" seed case1 >"$out/seed.log" 2>&1 || {
    cat "$out/seed.log" >&2
    exit 1
}

# Keys for the three roles the scenario signs in with.
new_key() {
    local json
    json=$("$bin" keys create "$@" 2>>"$out/keys.log") || {
        cat "$out/keys.log" >&2
        return 1
    }
    printf '%s' "$json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).key))'
}
: >"$out/keys.log"
key_admin=$(new_key --role admin --name "browser test admin")
key_org2=$(new_key --role organization --organization 2 --name "browser test ОО2")
key_storage3=$(new_key --role storage --storage 3 --name "browser test МНО3")

# The instances connect as the app role, as deploy/run.sh serves (migrate created it; the
# private cluster trusts local connections).
serve_url="${DATABASE_URL/wasteflow@/wasteflow_app@}"
start_instance() {
    local name="$1" port="$2"
    DATABASE_URL="$serve_url" WASTEFLOW_LISTEN="127.0.0.1:$port" WASTEFLOW_LOG_LEVEL=warn \
        "$bin" serve >"$out/serve-$name.log" 2>&1 &
    pids+=("$!")
}
start_instance a "$port_a"
start_instance b "$port_b"
for port in "$port_a" "$port_b"; do
    for ((i = 0; i < 100; i++)); do
        if node -e "fetch('http://127.0.0.1:$port/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then
            break
        fi
        if ((i == 99)); then
            log "instance on port $port did not answer /healthz; its log:"
            cat "$out"/serve-*.log >&2
            exit 1
        fi
        sleep 0.2
    done
done
log "instances A http://127.0.0.1:$port_a and B http://127.0.0.1:$port_b on $serve_url"

# WF_BROWSER_ONLY=name (console, dispatch, weighbridge or scale) runs that scenario alone, on
# the fresh seed: quicker while working on one part.
only="${WF_BROWSER_ONLY:-}"
wanted() {
    [[ -z "$only" || "$only" == "$1" ]]
}

status=0
if wanted console; then
    WF_A="http://127.0.0.1:$port_a" WF_B="http://127.0.0.1:$port_b" WF_SHOTS="$shots" \
        WF_KEY_ADMIN="$key_admin" WF_KEY_ORG2="$key_org2" WF_KEY_STORAGE3="$key_storage3" \
        WF_CHROMIUM="$chromium_bin" WF_DOCS_SHOT="${WF_DOCS_SHOT:-}" node "$here/console.e2e.mjs" || status=$?
fi
# The dispatchers' console (languages, phone, per-type fill, admin forms, axe-core), on the
# state the first scenario left.
if wanted dispatch; then
    WF_A="http://127.0.0.1:$port_a" WF_B="http://127.0.0.1:$port_b" WF_SHOTS="$shots" \
        WF_KEY_ADMIN="$key_admin" WF_KEY_ORG2="$key_org2" WF_KEY_STORAGE3="$key_storage3" \
        WF_CHROMIUM="$chromium_bin" node "$here/dispatch.e2e.mjs" || status=$?
fi
# Plans, reports and webhooks for an admin and an auditor, on the state the scenarios before left.
if wanted plans; then
    WF_A="http://127.0.0.1:$port_a" WF_B="http://127.0.0.1:$port_b" WF_SHOTS="$shots" \
        WF_KEY_ADMIN="$key_admin" WF_KEY_ORG2="$key_org2" WF_KEY_STORAGE3="$key_storage3" \
        WF_CHROMIUM="$chromium_bin" node "$here/plans.e2e.mjs" || status=$?
fi
# Movements: the weighbridge on a phone, an organization's loads, the fill history chart.
if wanted weighbridge; then
    WF_A="http://127.0.0.1:$port_a" WF_B="http://127.0.0.1:$port_b" WF_SHOTS="$shots" \
        WF_KEY_ADMIN="$key_admin" WF_KEY_ORG2="$key_org2" WF_KEY_STORAGE3="$key_storage3" \
        WF_CHROMIUM="$chromium_bin" node "$here/weighbridge.e2e.mjs" || status=$?
fi
# A big world (200 organizations, 2,000 storages, 20,000 roads) added to the same database:
# the console's first render and lists at that scale.
if ! wanted scale; then
    :
elif "$bin" seed synthetic --organizations 200 --storages 2000 --routes 20000 --seed 7 >"$out/seed-synthetic.log" 2>&1; then
    WF_A="http://127.0.0.1:$port_a" WF_B="http://127.0.0.1:$port_b" WF_SHOTS="$shots" \
        WF_KEY_ADMIN="$key_admin" WF_KEY_ORG2="$key_org2" WF_KEY_STORAGE3="$key_storage3" \
        WF_CHROMIUM="$chromium_bin" WF_SCALE_SEED=7 node "$here/scale.e2e.mjs" || status=$?
else
    cat "$out/seed-synthetic.log" >&2
    status=1
fi
if [[ -n "${WF_DOCS_SHOT:-}" && -f "$WF_DOCS_SHOT" ]] && command -v pngquant >/dev/null 2>&1; then
    # A third of the size, no visible difference (Debian's pngquant, when installed).
    pngquant --quality 70-90 --speed 1 --strip --force --output "$WF_DOCS_SHOT" "$WF_DOCS_SHOT"
fi
log "screenshots: $shots"
log "server logs: $out/serve-a.log, $out/serve-b.log"
exit "$status"
