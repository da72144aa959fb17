/* The movements export (GET /v1/exports/movements.csv): a CSV streamed to the client from
 * one database cursor in one REPEATABLE READ READ ONLY transaction, so the file is one
 * snapshot of the ledger and the memory it holds is one fetch of rows and a bounded output
 * buffer however many rows there are. The next rows are fetched only once the client has
 * taken most of what was written (back-pressure); meanwhile the transaction is held, for
 * as long as the client keeps reading. Each export holds a pool connection: at most
 * cfg->exports_max run at once (export.c maps the life of one). */
#ifndef WF_ENGINE_EXPORT_H
#define WF_ENGINE_EXPORT_H

#include "engine/app.h"
#include "http/server.h"

/* The CSV's header line, without its CRLF. */
#define EXPORT_MOVEMENTS_HEADER                                                                    \
    "movement_id,transfer_id,created_at,organization_id,organization_name,storage_id,"             \
    "storage_name,waste_type,planned_kg,status,received_kg,accepted_kg,rejected_kg,distance_m,"    \
    "actor"

/* Answers ctx with 200 text/csv and streams the movements whose transfer was created in
 * [from, to) (either NULL: open), in movement id order, as of the moment it starts. ctx is
 * answered either way (503 with Retry-After when exports_max already run, 503 when it
 * cannot stream) and must not be touched afterwards. A database failure mid-way closes the
 * connection without the last chunk, so the client sees the file is cut short. */
void export_movements(wf_app *app, http_ctx *ctx, const char *from, const char *to);
/* Shutdown: cuts every export still streaming short (the client sees no last chunk); each
 * one's transaction ends and its connection goes back within the next loop turns. */
void export_stop_all(wf_app *app);

#endif
