#!/usr/bin/env bash
# Throwaway local PostgreSQL 15 cluster for running and testing wasteflow.
#
# Usage (executed):
#   deploy/pg-local.sh start [--fast] [DIR]   create if absent, start, print DATABASE_URL
#   deploy/pg-local.sh stop [DIR]             stop it (pg_ctl -m fast)
#   deploy/pg-local.sh status [DIR]           exit 0 when running
#   deploy/pg-local.sh url [DIR]              print DATABASE_URL (running or not)
#
# Usage (sourced): `. deploy/pg-local.sh` defines wf_pg_start, wf_pg_stop, wf_pg_status and
# wf_pg_url taking the same arguments; they return non-zero on failure and never exit.
#
# DIR: the argument, else $WASTEFLOW_PGDATA, else <repo>/.pgdata. Layout inside DIR:
#   data/          the cluster (PGDATA)
#   run/           its private unix socket directory
#   postgres.log   server log
# Port: $WASTEFLOW_PG_PORT (default 54329). Binaries: $WASTEFLOW_PG_BIN
# (default /usr/lib/postgresql/15/bin).
#
# Only stdout carries the URL (postgresql://wasteflow@127.0.0.1:PORT/wasteflow), so
# `DATABASE_URL=$(deploy/pg-local.sh start)` works; progress goes to stderr.
#
# --fast (or WASTEFLOW_PG_FAST=1) starts with fsync, synchronous_commit and
# full_page_writes off: fine for tests, whose data is thrown away, never for data you keep.
# The mode is chosen at each start; `start` on a running cluster leaves it as it is.
#
# When run as root the cluster belongs to and runs as user `postgres` (the directory is
# chown'ed to it; when postgres cannot traverse to DIR, e.g. a clone under /root, the
# cluster goes to /var/lib/postgresql/wasteflow-pg/<checksum of DIR>-<name> instead, which
# every subcommand derives the same way); otherwise it runs as the current user.
# It listens on 127.0.0.1 only and trusts every local and 127.0.0.1 connection: a private
# development/test cluster, never one on a shared machine or network.

WF_PG_DEFAULT_PORT=54329
WF_PG_ROLE=wasteflow
WF_PG_DB=wasteflow

wf_pg__log() {
    printf 'pg-local: %s\n' "$*" >&2
}

wf_pg__repo_root() {
    local here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || return 1
    (cd "$here/.." && pwd)
}

wf_pg__bindir() {
    printf '%s\n' "${WASTEFLOW_PG_BIN:-/usr/lib/postgresql/15/bin}"
}

wf_pg__port() {
    printf '%s\n' "${WASTEFLOW_PG_PORT:-$WF_PG_DEFAULT_PORT}"
}

# Absolute path of the cluster directory from the optional argument.
wf_pg__dir() {
    local dir="${1:-${WASTEFLOW_PGDATA:-}}"
    if [[ -z "$dir" ]]; then
        dir="$(wf_pg__repo_root)/.pgdata" || return 1
    fi
    case "$dir" in
    /*) ;;
    *) dir="$PWD/$dir" ;;
    esac
    dir="${dir%/}"
    # As root the cluster runs as postgres, which must be able to reach the directory. When
    # it cannot (a clone under /root, say), the cluster lives in postgres's home instead, at
    # a place derived from the requested path, so start, stop and url agree on it.
    if [[ "$(id -u)" -eq 0 ]] && ! wf_pg__postgres_can_reach "$dir"; then
        local sum
        sum=$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
        dir="/var/lib/postgresql/wasteflow-pg/$sum-$(basename "$dir")"
        wf_pg__log "user postgres cannot reach the requested directory; using $dir"
    fi
    printf '%s\n' "$dir"
}

# True when user postgres can traverse to the directory, or to its nearest existing ancestor.
wf_pg__postgres_can_reach() {
    local path="$1"
    while [[ ! -e "$path" && "$path" != / ]]; do
        path=$(dirname "$path")
    done
    wf_pg__as_owner test -x "$path" 2>/dev/null
}

# Runs a command as the cluster owner: postgres when we are root, else ourselves.
# From / so that a cwd postgres cannot enter (e.g. /root) does not disturb initdb or psql.
wf_pg__as_owner() {
    if [[ "$(id -u)" -eq 0 ]]; then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u postgres -- "$@")
        else
            local quoted
            quoted=$(printf '%q ' "$@")
            (cd / && su postgres -s /bin/sh -c "$quoted")
        fi
    else
        (cd / && "$@")
    fi
}

# Port the running postmaster listens on (line 4 of postmaster.pid), else the configured one.
wf_pg__running_port() {
    local dir="$1" port=""
    if [[ -r "$dir/data/postmaster.pid" ]]; then
        port=$(sed -n '4p' "$dir/data/postmaster.pid" 2>/dev/null)
    fi
    if [[ "$port" =~ ^[0-9]+$ ]]; then
        printf '%s\n' "$port"
    else
        wf_pg__port
    fi
}

wf_pg__print_url() {
    printf 'postgresql://%s@127.0.0.1:%s/%s\n' "$WF_PG_ROLE" "$1" "$WF_PG_DB"
}

wf_pg__is_running() {
    local dir="$1" bindir
    bindir=$(wf_pg__bindir)
    [[ -f "$dir/data/PG_VERSION" ]] || return 1
    wf_pg__as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

wf_pg__check_prereqs() {
    local bindir
    bindir=$(wf_pg__bindir)
    if [[ ! -x "$bindir/initdb" || ! -x "$bindir/pg_ctl" || ! -x "$bindir/postgres" ]]; then
        wf_pg__log "PostgreSQL 15 server binaries not found in $bindir" \
            "(install postgresql-15 or set WASTEFLOW_PG_BIN)"
        return 1
    fi
    if [[ "$(id -u)" -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        wf_pg__log "running as root but there is no 'postgres' user to own the cluster"
        return 1
    fi
}

# Settings rewritten at every start, so port, socket dir and fast mode follow the caller.
wf_pg__write_conf() {
    local dir="$1" port="$2" fast="$3"
    local conf="$dir/data/wasteflow.conf" tmp
    tmp=$(mktemp "$dir/data/.wasteflow.conf.XXXXXX") || return 1
    {
        echo "# Written by deploy/pg-local.sh at every start; edits are lost."
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir/run'"
        echo "max_connections = 250"
        echo "shared_buffers = 128MB"
        echo "timezone = 'UTC'"
        echo "log_timezone = 'UTC'"
        echo "log_min_messages = warning"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        echo "lc_messages = 'C'"
        if [[ "$fast" == 1 ]]; then
            echo "# fast mode (tests): durability off, the data is thrown away anyway"
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        else
            echo "fsync = on"
            echo "synchronous_commit = on"
            echo "full_page_writes = on"
        fi
    } >"$tmp" || {
        rm -f "$tmp"
        return 1
    }
    mv -f "$tmp" "$conf" || return 1
    chmod 0600 "$conf" || return 1
}

wf_pg__init() {
    local dir="$1" bindir
    bindir=$(wf_pg__bindir)
    wf_pg__log "initializing a new cluster in $dir/data"
    wf_pg__as_owner "$bindir/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth=trust >"$dir/initdb.log" 2>&1 || {
        wf_pg__log "initdb failed:"
        cat "$dir/initdb.log" >&2
        return 1
    }
    # Trust for the local socket and 127.0.0.1 only: a private, throwaway cluster.
    local hba="$dir/data/pg_hba.conf"
    {
        echo "# Written by deploy/pg-local.sh: private throwaway cluster, trust auth."
        echo "# TYPE  DATABASE  USER  ADDRESS        METHOD"
        echo "local   all       all                  trust"
        echo "host    all       all   127.0.0.1/32   trust"
    } >"$hba" || return 1
    echo "include = 'wasteflow.conf'" >>"$dir/data/postgresql.conf" || return 1
}

# Role and database used by the service and the tests. The role is a SUPERUSER on purpose:
# the integration tests CREATE and DROP a database per runner, and this cluster is private
# and throwaway. A production database gets an ordinary role.
wf_pg__ensure_role_db() {
    local dir="$1" port="$2" bindir
    bindir=$(wf_pg__bindir)
    wf_pg__as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$port" \
        -U postgres -d postgres >/dev/null <<SQL || return 1
SELECT format('CREATE ROLE %I LOGIN SUPERUSER', '$WF_PG_ROLE')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$WF_PG_ROLE') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$WF_PG_DB', '$WF_PG_ROLE')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$WF_PG_DB') \gexec
SQL
}

wf_pg__wait_ready() {
    local port="$1" bindir i
    bindir=$(wf_pg__bindir)
    for ((i = 0; i < 120; i++)); do
        if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$WF_PG_ROLE" -d postgres; then
            return 0
        fi
        sleep 0.5
    done
    wf_pg__log "server on 127.0.0.1:$port not ready after 60 s"
    return 1
}

wf_pg_start() {
    local fast="${WASTEFLOW_PG_FAST:-0}" arg dir="" port bindir
    for arg in "$@"; do
        case "$arg" in
        --fast) fast=1 ;;
        --durable) fast=0 ;;
        -*)
            wf_pg__log "unknown option: $arg"
            return 2
            ;;
        *) dir="$arg" ;;
        esac
    done
    dir=$(wf_pg__dir "$dir") || return 1
    port=$(wf_pg__port)
    bindir=$(wf_pg__bindir)
    wf_pg__check_prereqs || return 1

    if [[ ! "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        wf_pg__log "bad port '$port' (WASTEFLOW_PG_PORT)"
        return 1
    fi
    case "$dir" in
    *"'"* | *$'\n'* | *' '*)
        wf_pg__log "cluster directory must not contain quotes, spaces or newlines: $dir"
        return 1
        ;;
    esac
    # A unix socket path is limited to 107 bytes: run/.s.PGSQL.NNNNN must fit.
    if ((${#dir} + 20 > 107)); then
        wf_pg__log "cluster directory path too long for a unix socket: $dir" \
            "(set WASTEFLOW_PGDATA to a shorter path)"
        return 1
    fi

    if wf_pg__is_running "$dir"; then
        port=$(wf_pg__running_port "$dir")
        wf_pg__log "already running in $dir on 127.0.0.1:$port"
        wf_pg__ensure_role_db "$dir" "$port" || return 1
        wf_pg__print_url "$port"
        return 0
    fi

    # Someone else on our port would make pg_ctl fail obscurely; say it plainly.
    if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" >/dev/null 2>&1; then
        wf_pg__log "another server already listens on 127.0.0.1:$port;" \
            "choose a free port with WASTEFLOW_PG_PORT"
        return 1
    fi

    mkdir -p "$dir/run" || return 1
    if [[ "$(id -u)" -eq 0 ]]; then
        chown -R postgres:postgres "$dir" || return 1
        if ! wf_pg__as_owner test -w "$dir"; then
            wf_pg__log "user postgres cannot write $dir (a parent directory is not" \
                "traversable?); set WASTEFLOW_PGDATA to e.g. /tmp/wasteflow-pg"
            return 1
        fi
    fi
    chmod 0700 "$dir" || return 1

    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        if [[ -d "$dir/data" ]] && [[ -n "$(ls -A "$dir/data" 2>/dev/null)" ]]; then
            wf_pg__log "$dir/data exists but is not a cluster; remove it or pick another dir"
            return 1
        fi
        wf_pg__as_owner mkdir -p "$dir/data" || return 1
        wf_pg__init "$dir" || return 1
    fi
    wf_pg__write_conf "$dir" "$port" "$fast" || return 1
    if [[ "$(id -u)" -eq 0 ]]; then
        chown -R postgres:postgres "$dir" || return 1
    fi

    wf_pg__log "starting PostgreSQL in $dir on 127.0.0.1:$port" \
        "($([[ "$fast" == 1 ]] && echo 'fast mode: fsync off' || echo 'fsync on'))"
    # A port in the kernel's ephemeral range may be held for a while by some client
    # connection's local end (bind: "Address already in use"): wait for it, a while.
    local attempt=1
    until wf_pg__as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
        start >/dev/null 2>&1; do
        if ((attempt < 30)) && tail -n 20 "$dir/postgres.log" 2>/dev/null |
            grep -q 'could not bind .*Address already in use'; then
            ((attempt == 1)) && wf_pg__log "127.0.0.1:$port is held by another socket; waiting"
            attempt=$((attempt + 1))
            sleep 1
            continue
        fi
        wf_pg__log "pg_ctl start failed; end of $dir/postgres.log:"
        tail -n 30 "$dir/postgres.log" >&2 2>/dev/null
        return 1
    done
    wf_pg__wait_ready "$port" || return 1
    wf_pg__ensure_role_db "$dir" "$port" || {
        wf_pg__log "could not create role/database $WF_PG_ROLE"
        return 1
    }
    wf_pg__print_url "$port"
}

wf_pg_stop() {
    local dir bindir
    dir=$(wf_pg__dir "${1:-}") || return 1
    bindir=$(wf_pg__bindir)
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        wf_pg__log "no cluster in $dir"
        return 0
    fi
    if ! wf_pg__is_running "$dir"; then
        wf_pg__log "not running ($dir)"
        return 0
    fi
    wf_pg__log "stopping PostgreSQL in $dir"
    wf_pg__as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
}

wf_pg_status() {
    local dir
    dir=$(wf_pg__dir "${1:-}") || return 1
    if wf_pg__is_running "$dir"; then
        wf_pg__log "running in $dir on 127.0.0.1:$(wf_pg__running_port "$dir")"
        return 0
    fi
    wf_pg__log "not running ($dir)"
    return 3
}

wf_pg_url() {
    local dir
    dir=$(wf_pg__dir "${1:-}") || return 1
    wf_pg__print_url "$(wf_pg__running_port "$dir")"
}

wf_pg__usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

wf_pg__main() {
    local command="${1:-}"
    shift || true
    case "$command" in
    start) wf_pg_start "$@" ;;
    stop) wf_pg_stop "$@" ;;
    status) wf_pg_status "$@" ;;
    url) wf_pg_url "$@" ;;
    -h | --help | help)
        wf_pg__usage
        return 0
        ;;
    *)
        wf_pg__usage
        return 2
        ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -uo pipefail
    wf_pg__main "$@"
    exit $?
fi
