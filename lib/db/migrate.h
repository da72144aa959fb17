/* Schema migrations: the numbered SQL files compiled into the binary, applied in order in
 * one transaction under an advisory lock, so several instances starting at once are safe.
 * Runs before the event loop starts, so it may block. */
#ifndef WF_DB_MIGRATE_H
#define WF_DB_MIGRATE_H

#include <stddef.h>

/* Connects (retrying for up to wait_seconds while the server is not accepting
 * connections), applies pending migrations, and returns how many were applied, or -1 with
 * a message in error. */
int db_migrate(const char *conninfo, int wait_seconds, char *error, size_t error_size);

#include <libpq-fe.h>

/* Blocking connect that retries every 0.5 s for up to wait_seconds; for start-up and the
 * command-line tools only, never on the event loop. NULL with a message on failure. */
PGconn *db_connect_waiting(const char *conninfo, int wait_seconds, char *error, size_t error_size);

#endif
