#!/usr/bin/env bash
# Entrypoint of the local postgres:15 stand-in (deploy/postgres/Dockerfile). Behaves like
# the official image's for what wasteflow uses of it:
#   - as root: makes $PGDATA and the socket directory belong to postgres, then re-runs
#     itself as postgres (setpriv, from util-linux in the base image);
#   - on an empty $PGDATA: initdb with superuser $POSTGRES_USER (default postgres) and
#     password $POSTGRES_PASSWORD or the contents of $POSTGRES_PASSWORD_FILE (required
#     unless POSTGRES_HOST_AUTH_METHOD=trust), `host all all all scram-sha-256` in
#     pg_hba.conf, database $POSTGRES_DB (default: the user's name), then, on a server that
#     listens on the unix socket only, the files of /docker-entrypoint-initdb.d/ in name
#     order: *.sh (run when executable, else sourced), *.sql and *.sql.gz (psql, stop on the
#     first error); a failed script fails the start;
#   - finally execs the command (`postgres`: listening on every interface).
# Run by Docker; by hand: docker run -e POSTGRES_PASSWORD=x postgres:15
set -Eeuo pipefail

log() {
    printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*" >&2
}

# file_env VAR [DEFAULT]: VAR from the environment, or the contents of the file named by
# VAR_FILE (never both), or DEFAULT.
file_env() {
    local var="$1" default="${2:-}" file_var="${1}_FILE" value
    if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
        log "both $var and $file_var are set (but are exclusive)"
        exit 1
    fi
    value="$default"
    if [[ -n "${!var:-}" ]]; then
        value="${!var}"
    elif [[ -n "${!file_var:-}" ]]; then
        value="$(<"${!file_var}")"
    fi
    export "$var"="$value"
    unset "$file_var"
}

setup_env() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=}"
}

psql_init() {
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password "$@"
}

process_init_files() {
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        [[ -e "$f" ]] || continue
        case "$f" in
        *.sh)
            if [[ -x "$f" ]]; then
                log "running $f"
                "$f"
            else
                log "sourcing $f"
                # shellcheck disable=SC1090  # the operator's script
                . "$f"
            fi
            ;;
        *.sql)
            log "running $f"
            psql_init --dbname "$POSTGRES_DB" -f "$f"
            ;;
        *.sql.gz)
            log "running $f"
            gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB"
            ;;
        *) log "ignoring $f" ;;
        esac
    done
}

init_cluster() {
    if [[ -z "$POSTGRES_PASSWORD" && "$POSTGRES_HOST_AUTH_METHOD" != trust ]]; then
        log "Database is uninitialized and superuser password is not specified."
        log "Set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (or POSTGRES_HOST_AUTH_METHOD=trust)."
        exit 1
    fi
    local auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as upstream
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        $POSTGRES_INITDB_ARGS
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

    export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
    # Socket only while the init scripts run: nobody connects over TCP to a half-made db.
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
    if [[ "$POSTGRES_DB" != postgres ]]; then
        psql_init --dbname postgres --set db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
    fi
    process_init_files
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGPASSWORD
    log "PostgreSQL init process complete; ready for start up."
}

if [[ "${1:0:1}" == - ]]; then
    set -- postgres "$@"
fi

if [[ "$1" == postgres ]]; then
    if [[ "$(id -u)" == 0 ]]; then
        mkdir -p "$PGDATA" /var/run/postgresql
        chown postgres:postgres "$PGDATA" /var/run/postgresql
        chmod 0700 "$PGDATA"
        chmod 3777 /var/run/postgresql
        exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
    fi
    setup_env
    if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
        init_cluster
    else
        log "PostgreSQL database directory appears to contain a database; skipping init"
    fi
fi

exec "$@"
