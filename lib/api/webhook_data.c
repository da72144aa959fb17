/* What a webhook delivery carries as "data": the transfer as GET /v1/transfers/{id} shows it
 * to an admin, the movement as GET /v1/movements/{id} shows it, the unload, the alert's
 * firing as the `alert` event shows it — rendered by the same code
 * as the API's replies, for the sender (engine/webhook_sender.h). */
#include "api/webhook_data.h"
#include "api/repr.h"
#include "api/rows.h"
#include "engine/statements.h"

#include <stdio.h>
#include <string.h>

static int queue(tx *t, const char *event_type, const char *entity_id)
{
    if (strcmp(event_type, "transfer.created") == 0) {
        tx_q(t, ST_TR_GET, entity_id, NULL, NULL);
        return 1;
    }
    if (strcmp(event_type, "movement.received") == 0) {
        tx_q(t, ST_MV_GET, entity_id, NULL, NULL);
        return 1;
    }
    if (strcmp(event_type, "unload.created") == 0) {
        tx_q(t, ST_WH_UNLOAD, entity_id);
        return 1;
    }
    if (strcmp(event_type, "alert.fired") == 0) {
        char ids[32];
        snprintf(ids, sizeof ids, "{%s}", entity_id);
        tx_q(t, ST_EV_ALERTS, tx_text(t, ids));
        return 1;
    }
    return 0;
}

static void render_unload(strbuf *out, const db_result *result, int q)
{
    strbuf_printf(out, "{\"id\":%s,\"storage_id\":%s,\"waste_type\":", db_text(result, q, 0, 0),
                  db_text(result, q, 0, 1));
    strbuf_json_string(out, db_text(result, q, 0, 2));
    strbuf_printf(out, ",\"amount\":%s,\"actor\":", db_text(result, q, 0, 3));
    strbuf_json_string(out, db_text(result, q, 0, 4));
    strbuf_puts(out, ",\"created_at\":");
    repr_timestamp(out, db_text(result, q, 0, 5));
    strbuf_puts(out, "}");
}

static bool render(strbuf *out, tx *t, const char *event_type, const db_result *result, int q)
{
    if (db_rows(result, q) == 0) {
        return false;
    }
    if (strcmp(event_type, "transfer.created") == 0) {
        repr_transfer_row *transfers;
        rows_transfers(tx_arena(t), result, q, &transfers);
        repr_transfer(out, &transfers[0]);
    } else if (strcmp(event_type, "movement.received") == 0) {
        repr_movement_row movement = rows_movement(result, q, 0);
        repr_movement(out, &movement, false);
    } else if (strcmp(event_type, "alert.fired") == 0) {
        repr_firing_row firing = rows_alert_firing(result, q, 0);
        repr_alert_firing(out, &firing);
    } else {
        render_unload(out, result, q);
    }
    return true;
}

const webhook_renderer api_webhook_renderer = {queue, render};
