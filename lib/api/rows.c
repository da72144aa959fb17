/* Row readers (see rows.h). */
#include "api/rows.h"

#include "core/movement.h"

size_t rows_holders(arena *a, const db_result *result, int q, repr_holder **out)
{
    int rows = db_rows(result, q);
    repr_holder *holders = ARENA_ARRAY(a, repr_holder, rows > 0 ? (size_t)rows : 1);
    repr_type *types = ARENA_ARRAY(a, repr_type, rows > 0 ? (size_t)rows : 1);
    size_t count = 0;
    for (int row = 0; row < rows; row++) {
        int64_t id = db_int64(result, q, row, 0);
        if (count == 0 || holders[count - 1].id != id) {
            holders[count++] = (repr_holder){
                .id = id,
                .name = db_text(result, q, row, 1),
                .created_at = db_text(result, q, row, 2),
                .types = &types[row],
            };
        }
        const char *code = db_text(result, q, row, 3);
        if (code == NULL) {
            continue;
        }
        repr_holder *holder = &holders[count - 1];
        types[row] = (repr_type){
            .code = code,
            .capacity_kg =
                db_is_null(result, q, row, 4) ? REPR_NO_LIMIT : db_int64(result, q, row, 4),
            .amount_kg = db_int64(result, q, row, 5),
            /* Storages' rows carry reserved and intake (STORAGE_COLUMNS); organizations'
             * stop at the amount. */
            .reserved_kg = db_columns(result, q) > 6 ? db_int64(result, q, row, 6) : 0,
        };
        if (db_columns(result, q) > 7) {
            holder->intake = db_text(result, q, row, 7);
        }
        holder->type_count++;
    }
    *out = holders;
    return count;
}

static node_ref node_of(const db_result *result, int q, int row, int org_col)
{
    return db_is_null(result, q, row, org_col)
               ? (node_ref){NODE_STORAGE, db_int64(result, q, row, org_col + 1)}
               : (node_ref){NODE_ORG, db_int64(result, q, row, org_col)};
}

repr_route_row rows_route(const db_result *result, int q, int row)
{
    const char *two_way = db_text(result, q, row, 6);
    return (repr_route_row){
        .id = db_int64(result, q, row, 0),
        .from = node_of(result, q, row, 1),
        .to = node_of(result, q, row, 3),
        .distance_m = db_int64(result, q, row, 5),
        .two_way = two_way != NULL && two_way[0] == 't',
        .created_at = db_text(result, q, row, 7),
    };
}

size_t rows_transfers(arena *a, const db_result *result, int q, repr_transfer_row **out)
{
    int rows = db_rows(result, q);
    repr_transfer_row *transfers = ARENA_ARRAY(a, repr_transfer_row, rows > 0 ? (size_t)rows : 1);
    repr_shipment_row *shipments = ARENA_ARRAY(a, repr_shipment_row, rows > 0 ? (size_t)rows : 1);
    size_t count = 0;
    for (int row = 0; row < rows; row++) {
        int64_t id = db_int64(result, q, row, 0);
        if (count == 0 || transfers[count - 1].id != id) {
            transfers[count++] = (repr_transfer_row){
                .id = id,
                .organization_id = db_int64(result, q, row, 1),
                .trigger = db_text(result, q, row, 2),
                .actor = db_text(result, q, row, 10),
                .created_at = db_text(result, q, row, 3),
                .received = db_text(result, q, row, 4),
                .pending = db_text(result, q, row, 5),
                .shipments = &shipments[row],
            };
        }
        if (db_is_null(result, q, row, 6)) {
            continue;
        }
        shipments[row] = (repr_shipment_row){
            .storage_id = db_int64(result, q, row, 6),
            .waste_type = db_text(result, q, row, 7),
            .amount_kg = db_int64(result, q, row, 8),
            .distance_m = db_int64(result, q, row, 9),
            .movement_id = db_int64(result, q, row, 11),
            .status = movement_status_name(movement_status_of(
                db_text(result, q, row, 12)[0] == 't', !db_is_null(result, q, row, 13),
                db_int64(result, q, row, 13), db_int64(result, q, row, 14))),
        };
        transfers[count - 1].shipment_count++;
    }
    *out = transfers;
    return count;
}

repr_key_row rows_key(const db_result *result, int q, int row)
{
    return (repr_key_row){
        .id = db_int64(result, q, row, 0),
        .role = db_text(result, q, row, 1),
        .organization_id = db_int64(result, q, row, 2),
        .storage_id = db_int64(result, q, row, 3),
        .name = db_text(result, q, row, 4),
        .created_at = db_text(result, q, row, 5),
        .expires_at = db_text(result, q, row, 6),
        .revoked_at = db_text(result, q, row, 7),
    };
}

repr_movement_row rows_movement(const db_result *result, int q, int row)
{
    return (repr_movement_row){
        .id = db_int64(result, q, row, 0),
        .transfer_id = db_int64(result, q, row, 1),
        .organization_id = db_int64(result, q, row, 2),
        .storage_id = db_int64(result, q, row, 3),
        .waste_type = db_text(result, q, row, 4),
        .planned_kg = db_int64(result, q, row, 5),
        .distance_m = db_int64(result, q, row, 6),
        .in_transit = db_text(result, q, row, 7)[0] == 't',
        .carrier = db_text(result, q, row, 8),
        .vehicle = db_text(result, q, row, 9),
        .received = !db_is_null(result, q, row, 10),
        .received_kg = db_int64(result, q, row, 10),
        .accepted_kg = db_int64(result, q, row, 11),
        .rejected_kg = db_int64(result, q, row, 12),
        .rejection_reason = db_text(result, q, row, 13),
        .ticket = db_text(result, q, row, 14),
        .received_at = db_text(result, q, row, 15),
        .received_by = db_text(result, q, row, 16),
        .created_at = db_text(result, q, row, 17),
    };
}

repr_alert_row rows_alert(const db_result *result, int q, int row)
{
    return (repr_alert_row){
        .id = db_int64(result, q, row, 0),
        .storage_id = db_is_null(result, q, row, 1) ? 0 : db_int64(result, q, row, 1),
        .waste_type = db_is_null(result, q, row, 2) ? NULL : db_text(result, q, row, 2),
        .fill_ratio_above = db_text(result, q, row, 3),
        .created_at = db_text(result, q, row, 4),
    };
}

repr_firing_row rows_alert_firing(const db_result *result, int q, int row)
{
    return (repr_firing_row){
        .id = db_int64(result, q, row, 0),
        .alert_id = db_int64(result, q, row, 1),
        .storage_id = db_int64(result, q, row, 2),
        .waste_type = db_text(result, q, row, 3),
        .fill_ratio = db_text(result, q, row, 4),
        .threshold = db_text(result, q, row, 5),
        .fired_at = db_text(result, q, row, 6),
    };
}
