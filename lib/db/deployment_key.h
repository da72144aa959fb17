/* The deployment's secret key (sql/migrations/006_deployment_key.sql): 32 random bytes
 * shared by every instance of one deployment through the database, read once at start-up.
 * What an instance signs for clients (view cursors, event ids) is keyed with subkeys
 * derived from it (util/digest.h), so any instance accepts what another made and no client
 * can forge it. */
#ifndef WF_DB_DEPLOYMENT_KEY_H
#define WF_DB_DEPLOYMENT_KEY_H

#include <stddef.h>
#include <stdint.h>

#define DEPLOYMENT_KEY_BYTES 32

/* Connects (retrying for up to wait_seconds while the server is not accepting connections)
 * and reads the key into out. Blocking: for start-up only, never on the event loop. Returns
 * 0, or -1 with a message in error (no such table: migrations missing; no row; a role that
 * may not read it). */
int db_deployment_key_read(const char *conninfo, int wait_seconds,
                           uint8_t out[DEPLOYMENT_KEY_BYTES], char *error, size_t error_size)
    __attribute__((warn_unused_result));

#endif
