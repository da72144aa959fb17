/* Reading the statements' row shapes (lib/engine/statements.c) into the representations'
 * plain structs (api/repr.h), in the request's arena. */
#ifndef WF_API_ROWS_H
#define WF_API_ROWS_H

#include "api/repr.h"
#include "db/pool.h"
#include "util/arena.h"

/* Organizations or storages: rows (id, name, created_at, waste_type, capacity, amount)
 * ordered by id then type, a NULL type for one without types. Returns how many. */
size_t rows_holders(arena *a, const db_result *result, int q, repr_holder **out);
/* Routes: rows (id, from_organization_id, from_storage_id, to_organization_id,
 * to_storage_id, distance_m, two_way, created_at). */
repr_route_row rows_route(const db_result *result, int q, int row);
/* Transfers: rows (id, organization_id, trigger, created_at, received, pending, storage_id,
 * waste_type, amount, distance_m, actor) ordered by id then shipment, NULL shipment columns for a
 * transfer without shipments. Returns how many. */
size_t rows_transfers(arena *a, const db_result *result, int q, repr_transfer_row **out);

/* Movements: rows of MOVEMENT_COLUMNS (lib/engine/statements.c). */
repr_movement_row rows_movement(const db_result *result, int q, int row);

/* API keys: rows (id, role, organization_id, storage_id, name, created_at, expires_at,
 * revoked_at). */
repr_key_row rows_key(const db_result *result, int q, int row);

/* Alert rules: rows (id, storage_id, waste_type, fill_ratio_above, created_at). */
repr_alert_row rows_alert(const db_result *result, int q, int row);
/* Alert firings: rows (id, alert_id, storage_id, waste_type, ratio, threshold, fired_at). */
repr_firing_row rows_alert_firing(const db_result *result, int q, int row);

#endif
