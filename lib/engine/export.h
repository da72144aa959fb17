/* The movements export (GET /v1/exports/movements.csv): a CSV streamed to the client while it
 * is read from the database page by page (keyset on the movement id), so the memory it holds
 * is one page and a bounded output buffer however many rows there are. The next page is
 * fetched only once the client has taken most of what was written (back-pressure). */
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
 * [from, to) (either NULL: open), oldest movement first. ctx is answered either way (503
 * when it cannot stream) and must not be touched afterwards. A database failure mid-way
 * closes the connection without the last chunk, so the client sees the file is cut short. */
void export_movements(wf_app *app, http_ctx *ctx, const char *from, const char *to);

#endif
