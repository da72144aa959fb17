#!/usr/bin/env bash
# Builds, only where they are missing, the two base images docker-compose.yml and
# deploy/Dockerfile name, for a Docker engine that reaches no registry:
#
#   deploy/images.sh            build what is missing (root; installs debootstrap if absent)
#   deploy/images.sh --force    rebuild both stand-ins (never touches an image that is not
#                               ours, such as a real debian:bookworm-slim pulled earlier)
#   deploy/images.sh debian     only the base (postgres: the base if missing, then postgres)
#
# debian:bookworm-slim  `debootstrap --variant=minbase bookworm` from the Debian mirror this
#                       machine's apt uses (or $WASTEFLOW_DEBIAN_MIRROR), slimmed the way the
#                       official image is (no docs, man pages or locales; apt keeps no caches;
#                       services do not start during installs), then `docker import`.
# postgres:15           deploy/postgres/Dockerfile on that base: Debian's postgresql-15 with an
#                       entrypoint that honours what the compose file uses of the official
#                       image (POSTGRES_USER/PASSWORD[_FILE]/DB, initdb into the volume,
#                       /docker-entrypoint-initdb.d/, pg_isready, scram, user postgres).
#
# An image that already exists is left alone, so users with the official images keep them
# and a second run costs nothing. Downloaded packages are kept in
# /var/cache/wasteflow/debootstrap ($WASTEFLOW_DEBOOTSTRAP_CACHE) for the next rebuild.
# Both stand-ins carry the label org.wasteflow.stand-in.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
suite=bookworm
base_image=debian:bookworm-slim
pg_image=postgres:15
label=org.wasteflow.stand-in
cache_dir="${WASTEFLOW_DEBOOTSTRAP_CACHE:-/var/cache/wasteflow/debootstrap}"
force=0
work=""

log() {
    printf 'images.sh: %s\n' "$*" >&2
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local status=$?
    if [[ -n "$work" && -d "$work" ]]; then
        # debootstrap mounts proc and sys in the tree: never rm -rf through a mount.
        findmnt -rn -o TARGET | grep -F "$work/" | sort -r | xargs -r -n 1 umount -l || true
        if ! findmnt -rn -o TARGET | grep -qF "$work/"; then
            rm -rf "$work"
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

have_image() {
    docker image inspect "$1" >/dev/null 2>&1
}

# True when the image is one of our stand-ins (so --force may replace it).
is_stand_in() {
    [[ "$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$1" 2>/dev/null)" \
        == [a-z]* ]]
}

# URI of the first apt source (one-line or deb822) that serves the given suite, e.g.
# `apt_source_uri bookworm` -> http://deb.debian.org/debian.
apt_source_uri() {
    local want="$1" file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r "$file" ]] || continue
        # deb [options] URI SUITE COMPONENTS...
        awk -v want="$want" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == want) { print $i; exit }
            }' "$file"
    done | head -n 1 | grep . && return 0
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -r "$file" ]] || continue
        # Stanzas separated by blank lines; Types, URIs and Suites may list several words.
        awk -v want="$want" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && uris != "") {
                    split(uris, u, " "); print u[1]; found = 1; exit
                }
                types = ""; uris = ""; suites = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            tolower($1) == "types:" { $1 = ""; types = $0 }
            tolower($1) == "uris:" { $1 = ""; uris = $0 }
            tolower($1) == "suites:" { $1 = ""; suites = $0 }
            END { if (!found) flush() }' "$file"
    done | head -n 1 | grep .
}

ensure_tools() {
    if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
        log "no Docker engine answers (docker info failed); deploy/compose-test.sh starts one"
        exit 1
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        if [[ "$(id -u)" -ne 0 ]]; then
            log "debootstrap is missing: apt-get install debootstrap (as root)"
            exit 1
        fi
        log "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap
    fi
}

# Makes the debootstrap tree look like the official slim image (debuerreotype's choices).
slim_rootfs() {
    local rootfs="$1" mirror="$2" security="$3"
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# Keep images small: no documentation, manuals or translations (copyright files stay).
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
    printf 'force-unsafe-io\n' >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
# Image layers never reuse apt's caches: do not keep them.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    printf 'Acquire::GzipIndexes "true";\n' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
    printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
    printf 'Apt::AutoRemove::SuggestsImportant "false";\n' \
        >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
    printf '#!/bin/sh\n# No service starts during an image build.\nexit 101\n' \
        >"$rootfs/usr/sbin/policy-rc.d"
    chmod 0755 "$rootfs/usr/sbin/policy-rc.d"

    rm -f "$rootfs/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' \
            "$mirror" "$suite" "$suite"
        printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        if [[ -n "$security" ]]; then
            printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' \
                "$security" "$suite"
            printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        fi
    } >"$rootfs/etc/apt/sources.list.d/debian.sources"

    # debootstrap takes the release as published; the updates and security suites bring
    # it to today's level, as the official image is rebuilt to be.
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    log "applying $suite-updates and $suite-security"
    if ! { chroot "$rootfs" apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get upgrade -y -qq; } \
        >"$rootfs.upgrade.log" 2>&1; then
        log "apt-get upgrade in the new tree failed; end of its log:"
        tail -n 30 "$rootfs.upgrade.log" >&2
        exit 1
    fi
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$rootfs"/usr/share/{groff,info,linda,locale,man}/* \
        "$rootfs"/usr/share/lintian/overrides/* \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/apt/* "$rootfs"/var/cache/debconf/*-old \
        "$rootfs"/var/lib/dpkg/*-old "$rootfs"/tmp/* "$rootfs"/root/.bash_history
    find "$rootfs/var/log" -type f -exec truncate -s 0 {} +
    # Docker provides these per container.
    : >"$rootfs/etc/hostname"
    : >"$rootfs/etc/resolv.conf"
    : >"$rootfs/etc/machine-id"
}

build_base() {
    local mirror security
    mirror="${WASTEFLOW_DEBIAN_MIRROR:-$(apt_source_uri "$suite" || true)}"
    if [[ -z "$mirror" ]]; then
        log "no apt source for $suite in /etc/apt/sources.list*; set WASTEFLOW_DEBIAN_MIRROR"
        exit 1
    fi
    security="${WASTEFLOW_DEBIAN_SECURITY_MIRROR:-$(apt_source_uri "$suite-security" || true)}"
    work=$(mktemp -d /var/tmp/wasteflow-rootfs.XXXXXX)
    mkdir -p "$cache_dir"
    log "debootstrap --variant=minbase $suite from $mirror (packages cached in $cache_dir)"
    local t0=$SECONDS
    if ! debootstrap --variant=minbase --cache-dir="$cache_dir" "$suite" "$work/rootfs" \
        "$mirror" >"$work/debootstrap.log" 2>&1; then
        log "debootstrap failed; end of its log:"
        tail -n 30 "$work/debootstrap.log" >&2
        [[ -r "$work/rootfs/debootstrap/debootstrap.log" ]] &&
            tail -n 30 "$work/rootfs/debootstrap/debootstrap.log" >&2
        exit 1
    fi
    slim_rootfs "$work/rootfs" "$mirror" "$security"
    log "importing $base_image ($(du -sh "$work/rootfs" | cut -f1) of files)"
    tar --numeric-owner --xattrs -C "$work/rootfs" -c . |
        docker import \
            --change 'CMD ["bash"]' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change "LABEL $label=debootstrap" \
            --message "debootstrap --variant=minbase $suite $mirror" \
            - "$base_image" >/dev/null
    rm -rf "$work"
    work=""
    log "$base_image built in $((SECONDS - t0))s"
}

build_postgres() {
    local t0=$SECONDS
    log "building $pg_image from Debian's postgresql-15 (deploy/postgres/Dockerfile)"
    docker build --label "$label=debian-postgresql-15" -t "$pg_image" \
        -f "$root/deploy/postgres/Dockerfile" "$root/deploy/postgres" >&2
    log "$pg_image built in $((SECONDS - t0))s"
}

want_base=1
want_pg=1
targets=()
for arg in "$@"; do
    case "$arg" in
    --force) force=1 ;;
    debian | postgres) targets+=("$arg") ;;
    -h | --help)
        sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        log "unknown argument: $arg (see --help)"
        exit 2
        ;;
    esac
done
if ((${#targets[@]} > 0)); then
    want_base=0
    want_pg=0
    for target in "${targets[@]}"; do
        case "$target" in
        debian) want_base=1 ;;
        postgres) want_pg=1 ;;
        esac
    done
fi

ensure_tools

# The postgres stand-in is built on the base: with --force, or when the base is rebuilt,
# it goes first (a child image pins its parent).
if ((force)); then
    for image in "$pg_image" "$base_image"; do
        if [[ "$image" == "$base_image" ]] && ((!want_base)); then
            continue
        fi
        if [[ "$image" == "$pg_image" ]] && ((!want_pg && !want_base)); then
            continue
        fi
        if have_image "$image" && is_stand_in "$image"; then
            docker image rm "$image" >/dev/null
        fi
    done
fi
if have_image "$base_image"; then
    ((want_base)) && log "$base_image present, kept"
else
    if have_image "$pg_image" && is_stand_in "$pg_image"; then
        docker image rm "$pg_image" >/dev/null
    fi
    build_base
fi
if ((want_pg)); then
    if have_image "$pg_image"; then
        log "$pg_image present, kept"
    else
        build_postgres
    fi
fi
