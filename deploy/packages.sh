# shellcheck shell=bash
# Sourced by deploy/run.sh, deploy/test.sh, deploy/compose-test.sh and deploy/ha/test.sh
# (which define log()):
# ensure_packages PKG... installs the Debian packages not installed yet; as root through
# apt-get, otherwise it names them and stops.

# Installs the Debian packages of "$@" that are not installed yet.
ensure_packages() {
    local missing=() pkg
    if ! command -v dpkg-query >/dev/null 2>&1; then
        log "not a Debian system (no dpkg-query): assuming the dependencies are installed"
        return 0
    fi
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        log "missing packages: ${missing[*]}"
        log "install them with: sudo apt-get install -y ${missing[*]}   (or run this as root)"
        exit 1
    fi
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
}
