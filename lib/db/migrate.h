/* Schema migrations: the numbered SQL files compiled into the binary, applied in order in
 * one transaction under an advisory lock, so several instances starting at once are safe;
 * and the two login roles the schema's owner grants to (docs/design.md, "Database roles"): the
 * service's, which may read and append to the ledger but never change or remove it, and
 * the auditors', which only reads. Runs before the event loop starts, so it may block. */
#ifndef WF_DB_MIGRATE_H
#define WF_DB_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

/* Names of the login roles (plain lowercase identifiers, checked by util/config). */
typedef struct {
    const char *app;
    const char *auditor;
} db_roles;

/* Connects (retrying for up to wait_seconds while the server is not accepting
 * connections), applies pending migrations, creates the roles where missing and where the
 * session may (CREATEROLE), grants them their privileges, and returns how many migrations
 * were applied, or -1 with a message in error. Must run as the schema's owner. */
int db_migrate(const char *conninfo, const db_roles *roles, int wait_seconds, char *error,
               size_t error_size);

/* How many migrations the database has not applied yet (0: current), or -1 with a message.
 * Reads only: any role may ask. */
int db_migrations_pending(const char *conninfo, int wait_seconds, char *error, size_t error_size);

/* Blocking connect that retries every 0.5 s for up to wait_seconds; for start-up and the
 * command-line tools only, never on the event loop. NULL with a message on failure. */
PGconn *db_connect_waiting(const char *conninfo, int wait_seconds, char *error, size_t error_size);

#endif
