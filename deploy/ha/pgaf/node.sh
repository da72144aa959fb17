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

# How fast a dead primary is replaced, from the PGAF_* variables every pg_auto_failover
# container of the compose file gets (docs/ha.md explains each value). All of them are
# checked here, in the monitor and in the nodes alike, because safety depends on how they
# relate across containers: the monitor must not make the standby writable before an old
# primary that is cut off from both monitor and standby has shut itself down.
#
# How late such a primary shuts down (pg_autoctl 2.0, service_keeper.c): its keeper checks
# once per loop (1 s sleep + up to 2 s connect timeout to the monitor) whether it has had
# neither the monitor nor a standby in pg_stat_replication for more than
# network_partition_timeout whole seconds (time(), so up to 1 s more), then begins a fast
# shutdown (about 0.5 s to refuse sessions): up to 4.5 s of slack after the timeout.
#  (a) monitor lost, standby reachable: the standby's promotion closes its replication
#      connection at once, so the primary is down by npt + 4.5 s after the monitor's
#      demote timer started; primary_demote_timeout must exceed that.
#  (b) cut off from both: the dead replication connection stays in pg_stat_replication
#      until wal_sender_timeout, so the primary is down by wst + npt + 4.5 s after its last
#      report; the standby becomes writable no earlier than unhealthy + demote timeout.
# Each must hold with at least 1 s to spare, or the container refuses to start.
readonly keeper_slack_ms=4500 safety_margin_ms=1000

check_timeouts() {
    local name
    for name in PGAF_HEALTH_CHECK_PERIOD_MS PGAF_HEALTH_CHECK_TIMEOUT_MS \
        PGAF_HEALTH_CHECK_MAX_RETRIES PGAF_HEALTH_CHECK_RETRY_DELAY_MS \
        PGAF_UNHEALTHY_TIMEOUT_MS PGAF_PRIMARY_DEMOTE_TIMEOUT_MS \
        PGAF_NETWORK_PARTITION_TIMEOUT_S PGAF_WAL_SENDER_TIMEOUT_MS; do
        [[ "${!name:-}" =~ ^[1-9][0-9]{0,6}$ ]] || {
            log "$name must be a positive integer, not '${!name:-}'"
            exit 2
        }
    done
    local npt_ms=$((PGAF_NETWORK_PARTITION_TIMEOUT_S * 1000))
    local down_a=$((npt_ms + keeper_slack_ms))
    local down_b=$((PGAF_WAL_SENDER_TIMEOUT_MS + npt_ms + keeper_slack_ms))
    local writable_b=$((PGAF_UNHEALTHY_TIMEOUT_MS + PGAF_PRIMARY_DEMOTE_TIMEOUT_MS))
    if ((down_a + safety_margin_ms > PGAF_PRIMARY_DEMOTE_TIMEOUT_MS)); then
        log "unsafe: PGAF_PRIMARY_DEMOTE_TIMEOUT_MS ($PGAF_PRIMARY_DEMOTE_TIMEOUT_MS) must be at least network_partition_timeout + ${keeper_slack_ms} ms + ${safety_margin_ms} ms ($((down_a + safety_margin_ms)))"
        exit 2
    fi
    if ((down_b + safety_margin_ms > writable_b)); then
        log "unsafe: PGAF_UNHEALTHY_TIMEOUT_MS + PGAF_PRIMARY_DEMOTE_TIMEOUT_MS ($writable_b) must be at least PGAF_WAL_SENDER_TIMEOUT_MS + network_partition_timeout + ${keeper_slack_ms} ms + ${safety_margin_ms} ms ($((down_b + safety_margin_ms)))"
        exit 2
    fi
}

# Our settings go into wasteflow-ha.conf, included at the end of postgresql.conf, after
# pg_autoctl's own include, so they win over its defaults (it sets wal_sender_timeout to
# 30 s). Written at every start, so a changed compose file takes effect on a restart.
write_settings() {
    local conf="$PGDATA/postgresql.conf"
    {
        printf '# Written by node.sh at every start from the PGAF_* variables.\n'
        if [[ "$kind" == monitor ]]; then
            printf 'pgautofailover.health_check_period = %s\n' "$PGAF_HEALTH_CHECK_PERIOD_MS"
            printf 'pgautofailover.health_check_timeout = %s\n' "$PGAF_HEALTH_CHECK_TIMEOUT_MS"
            printf 'pgautofailover.health_check_max_retries = %s\n' "$PGAF_HEALTH_CHECK_MAX_RETRIES"
            printf 'pgautofailover.health_check_retry_delay = %s\n' "$PGAF_HEALTH_CHECK_RETRY_DELAY_MS"
            printf 'pgautofailover.node_considered_unhealthy_timeout = %s\n' "$PGAF_UNHEALTHY_TIMEOUT_MS"
            printf 'pgautofailover.primary_demote_timeout = %s\n' "$PGAF_PRIMARY_DEMOTE_TIMEOUT_MS"
        else
            printf 'wal_sender_timeout = %s\n' "$PGAF_WAL_SENDER_TIMEOUT_MS"
        fi
    } >"$PGDATA/wasteflow-ha.conf.new"
    mv "$PGDATA/wasteflow-ha.conf.new" "$PGDATA/wasteflow-ha.conf"
    grep -qx "include 'wasteflow-ha.conf'" "$conf" ||
        printf "include 'wasteflow-ha.conf'\n" >>"$conf"
    if [[ "$kind" != monitor ]]; then
        pg_autoctl config set --pgdata "$PGDATA" timeout.network_partition_timeout \
            "$PGAF_NETWORK_PARTITION_TIMEOUT_S" >/dev/null
    fi
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

check_timeouts
case "$kind" in
monitor)
    if [[ ! -e "$created" ]]; then
        log "creating the monitor"
        pg_autoctl create monitor --pgdata "$PGDATA" --pgport 5432 --hostname "$PGAF_NAME" \
            --skip-pg-hba --ssl-self-signed
        : >"$created"
    fi
    write_settings
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
    write_settings
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
