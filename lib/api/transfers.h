/* The transfer engine, shared by POST /v1/organizations/{id}/transfers and the automatic
 * dispatcher. */
#ifndef WF_API_TRANSFERS_H
#define WF_API_TRANSFERS_H

#include <stdint.h>

/* status: 201 a transfer was recorded, 204 nothing could be placed (nothing written),
 * 423 the organization was busy in another transaction (try again later), 503 and others:
 * the database failed. shipments: how many shipments the transfer made. */
typedef void (*transfer_done_cb)(void *arg, int status, int shipments);

/* Dispatches an organization's pending waste as an "auto" transfer. Returns 0 and calls
 * done exactly once later, or -1 (done never called) when out of memory. */
int transfer_dispatch(void *application, int64_t organization_id, int64_t deadline_ms,
                      transfer_done_cb done, void *arg);

#endif
