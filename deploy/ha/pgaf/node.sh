#!/bin/bash
# Entry point of the pg_auto_failover containers of deploy/ha/docker-compose.yml.
#
#   node.sh monitor     the monitor (it decides which node is primary)
#   node.sh postgres    a data node: $PGAF_NAME (also its host name on the network),
#                       registered with the monitor at $PGAF_MONITOR_URI
#
# First start (empty volume): `pg_autoctl create ...`, which runs initdb (the first node
# to register) or pg_basebackup from the primary (the second). Every start: our own
# pg_hba.conf (see below), then `exec pg_autoctl run`, which keeps the local PostgreSQL
# in the state the monitor assigns; nothing here ever promotes or demotes a node.
#
# HBA, written by us on every start (pg_autoctl runs with --skip-pg-hba): pg_auto_failover's
# own users (autoctl_node on the monitor; pgautofailover_replicator and
# pgautofailover_monitor on the nodes) are trusted from `samenet`, the compose network the
# containers share, so no password for them exists anywhere; the wasteflow database's
# roles log in with scram-sha-256 and the passwords the `secrets` one-shot generated.
# Why not passwords for pg_auto_failover's users too: its HBA editing names peers by host
# name, which Docker's reverse DNS does not give back, and a password would have to be
# stored in pg_autoctl's configuration on every node. docs/ha.md says what this trusts.
set -euo pipefail

kind="${1:?usage: node.sh monitor|postgres}"
volume=/var/lib/postgresql/pgaf
secrets=/run/wasteflow-secrets
created="$volume/.created"
ready="$volume/.ready"

log() {
    printf 'node.sh: %s\n' "$*" >&2
}

rm -f "$ready"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME"

write_hba() {
    local file="$PGDATA/pg_hba.conf"
    {
        printf '# Written by node.sh at every start (pg_autoctl runs with --skip-pg-hba).\n'
        if [[ "$kind" == monitor ]]; then
            # `pg_autoctl show state` and friends, run inside this container.
            printf 'local pg_auto_failover autoctl_node trust\n'
            printf 'local all all peer\n'
            printf 'host pg_auto_failover autoctl_node samenet trust\n'
        else
            printf 'local all all peer\n'
            printf 'host replication pgautofailover_replicator samenet trust\n'
            printf 'host postgres pgautofailover_replicator samenet trust\n'
            printf 'host postgres pgautofailover_monitor samenet trust\n'
            printf 'host %s all samenet scram-sha-256\n' "$WASTEFLOW_DB"
        fi
    } >"$file.new"
    mv "$file.new" "$file"
    # A PostgreSQL left running by `pg_autoctl create` reads it now; otherwise at start.
    if pg_ctl -D "$PGDATA" status >/dev/null 2>&1; then
        pg_ctl -D "$PGDATA" reload >/dev/null
    fi
}

# The wasteflow database and its three login roles, on the primary only (a standby gets
# them by replication). Idempotent: creates what is missing, never changes a password.
ensure_wasteflow_roles() {
    local in_recovery
    for _ in $(seq 1 600); do
        in_recovery=$(psql -X -A -t -h /var/run/postgresql -d postgres \
            -c 'SELECT pg_is_in_recovery()' 2>/dev/null) || in_recovery=""
        case "$in_recovery" in
        t) return 0 ;;
        f) break ;;
        esac
        sleep 1
    done
    [[ "$in_recovery" == f ]] || return 0
    psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -d postgres \
        --set owner="$WASTEFLOW_OWNER_ROLE" --set app="$WASTEFLOW_APP_ROLE" \
        --set auditor="$WASTEFLOW_AUDITOR_ROLE" --set db="$WASTEFLOW_DB" <<'SQL'
\set owner_password `cat /run/wasteflow-secrets/owner_password`
\set app_password `cat /run/wasteflow-secrets/app_password`
\set auditor_password `cat /run/wasteflow-secrets/auditor_password`
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', r.name, r.password)
FROM (VALUES (:'owner', :'owner_password'), (:'app', :'app_password'),
             (:'auditor', :'auditor_password')) AS r (name, password)
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r.name) \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
    log "database $WASTEFLOW_DB and its roles are in place"
}

# pg_autoctl copies a new standby with pg_basebackup asking for a spread checkpoint (no
# --checkpoint=fast option in 2.0), so the copy would wait for the primary's next timed
# checkpoint, up to checkpoint_timeout (5 min). On whichever node is primary, this
# watcher asks for that checkpoint at once when a base backup waits for it. It costs one
# local query a second and does nothing on a standby.
checkpoint_watch() {
    local waiting
    while sleep 1; do
        waiting=$(psql -X -A -t -h /var/run/postgresql -d postgres -c \
            "SELECT count(*) FROM pg_stat_progress_basebackup
             WHERE phase = 'waiting for checkpoint to finish'" 2>/dev/null) || continue
        if [[ "$waiting" != 0 ]]; then
            psql -X -q -h /var/run/postgresql -d postgres -c CHECKPOINT >/dev/null 2>&1 &&
                log "checkpoint for a waiting base backup"
        fi
    done
}

case "$kind" in
monitor)
    if [[ ! -e "$created" ]]; then
        log "creating the monitor"
        pg_autoctl create monitor --pgdata "$PGDATA" --pgport 5432 --hostname "$PGAF_NAME" \
            --skip-pg-hba --ssl-self-signed
        : >"$created"
    fi
    write_hba
    ;;
postgres)
    for file in owner_password app_password auditor_password; do
        [[ -s "$secrets/$file" ]] || {
            log "$secrets/$file is missing (did the secrets one-shot run?)"
            exit 1
        }
    done
    if [[ ! -e "$created" ]]; then
        # Synchronous: --replication-quorum true; with two nodes the formation keeps
        # number_sync_standbys = 0 (pg_auto_failover's default and advice for two nodes),
        # so the primary keeps accepting writes when its standby is gone.
        log "creating node $PGAF_NAME (monitor $PGAF_MONITOR_URI)"
        pg_autoctl create postgres --pgdata "$PGDATA" --pgport 5432 \
            --hostname "$PGAF_NAME" --name "$PGAF_NAME" --monitor "$PGAF_MONITOR_URI" \
            --skip-pg-hba --ssl-self-signed \
            --replication-quorum true --candidate-priority 50
        : >"$created"
    fi
    write_hba
    # Detached (the subshell exits at once): its end is then no news to pg_autoctl, which
    # otherwise logs an unknown child's exit as an error.
    (ensure_wasteflow_roles &)
    (checkpoint_watch &)
    ;;
*)
    log "unknown kind: $kind"
    exit 2
    ;;
esac
: >"$ready"
exec pg_autoctl run --pgdata "$PGDATA"
