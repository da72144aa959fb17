/* Reads the deployment's key at start-up (see deployment_key.h). */
#include "db/deployment_key.h"

#include "db/migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

int db_deployment_key_read(const char *conninfo, int wait_seconds,
                           uint8_t out[DEPLOYMENT_KEY_BYTES], char *error, size_t error_size)
{
    PGconn *pg = db_connect_waiting(conninfo, wait_seconds, error, error_size);
    if (pg == NULL) {
        return -1;
    }
    int status = -1;
    /* Binary result format: the 32 bytes as they are, no bytea text decoding. */
    PGresult *r = PQexecParams(pg, "SELECT key FROM deployment_key", 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(error, error_size, "cannot read the deployment key: %s", PQresultErrorMessage(r));
    } else if (PQntuples(r) != 1 || PQgetlength(r, 0, 0) != DEPLOYMENT_KEY_BYTES) {
        snprintf(error, error_size,
                 "the deployment key is missing or malformed: run `wasteflow migrate`");
    } else {
        memcpy(out, PQgetvalue(r, 0, 0), DEPLOYMENT_KEY_BYTES);
        status = 0;
    }
    PQclear(r);
    PQfinish(pg);
    /* A trailing newline from libpq's message reads badly in a log line. error is written
     * only on failure: on success it may be uninitialised and is not read. */
    size_t len = status != 0 ? strlen(error) : 0;
    while (len > 0 && error[len - 1] == '\n') {
        error[--len] = '\0';
    }
    return status;
}
