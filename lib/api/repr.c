/* The representations (see repr.h). Type codes match [a-z][a-z0-9_]* (a schema CHECK), so
 * they are written without escaping; names are escaped. */
#include "api/repr.h"

#include "core/movement.h"

#include <string.h>

enum quantity { CAPACITY, AMOUNT, RESERVED, REMAINING };

/* {"code": n, ...} of the types that have the quantity (a limit for CAPACITY, more than
 * zero pending for an organization's AMOUNT when skip_zero). */
static void quantity_map(strbuf *out, const repr_holder *holder, enum quantity which,
                         bool skip_zero)
{
    strbuf_puts(out, "{");
    size_t written = 0;
    for (size_t i = 0; i < holder->type_count; i++) {
        const repr_type *t = &holder->types[i];
        int64_t value = which == CAPACITY   ? t->capacity_kg
                        : which == AMOUNT   ? t->amount_kg
                        : which == RESERVED ? t->reserved_kg
                                            : t->capacity_kg - t->amount_kg - t->reserved_kg;
        if ((which == CAPACITY && t->capacity_kg == REPR_NO_LIMIT) || (skip_zero && value <= 0)) {
            continue;
        }
        strbuf_puts(out, written++ ? ",\"" : "\"");
        strbuf_puts(out, t->code);
        strbuf_puts(out, "\":");
        strbuf_int(out, value);
    }
    strbuf_puts(out, "}");
}

void repr_timestamp(strbuf *out, const char *pg_text)
{
    /* "YYYY-MM-DD HH:MM:SS[.ffffff]+00" */
    size_t len = strlen(pg_text);
    if (len < 19) {
        strbuf_json_string(out, pg_text); /* not a timestamp we wrote: pass it on */
        return;
    }
    char text[40];
    memcpy(text, pg_text, 10);
    text[10] = 'T';
    memcpy(text + 11, pg_text + 11, 8);
    size_t n = 19;
    text[n++] = '.';
    size_t digits = 0;
    if (pg_text[19] == '.') {
        for (const char *p = pg_text + 20; *p >= '0' && *p <= '9' && digits < 6; p++) {
            text[n++] = *p;
            digits++;
        }
    }
    while (digits++ < 6) {
        text[n++] = '0';
    }
    text[n++] = 'Z';
    strbuf_puts(out, "\"");
    strbuf_append(out, text, n);
    strbuf_puts(out, "\"");
}

void repr_json_compact(strbuf *out, const char *json)
{
    bool in_string = false;
    const char *run = json;
    for (const char *p = json; *p != '\0'; p++) {
        if (in_string) {
            if (*p == '\\' && p[1] != '\0') {
                p++;
            } else if (*p == '"') {
                in_string = false;
            }
        } else if (*p == '"') {
            in_string = true;
        } else if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
            strbuf_append(out, run, (size_t)(p - run));
            run = p + 1;
        }
    }
    strbuf_puts(out, run);
}

/* The members after "id": an organization shows what is pending, a storage its stock and
 * the room left. */
static void holder_members(strbuf *out, const repr_holder *holder, bool storage)
{
    strbuf_puts(out, "\"name\":");
    strbuf_json_string(out, holder->name);
    if (storage) {
        strbuf_puts(out, ",\"intake\":");
        strbuf_json_string(out, holder->intake != NULL ? holder->intake : "automatic");
    }
    strbuf_puts(out, ",\"capacity\":");
    quantity_map(out, holder, CAPACITY, false);
    strbuf_puts(out, storage ? ",\"stock\":" : ",\"pending\":");
    quantity_map(out, holder, AMOUNT, !storage);
    if (storage) {
        strbuf_puts(out, ",\"reserved\":");
        quantity_map(out, holder, RESERVED, false);
        strbuf_puts(out, ",\"remaining\":");
        quantity_map(out, holder, REMAINING, false);
    }
    strbuf_puts(out, ",\"created_at\":");
    repr_timestamp(out, holder->created_at);
}

static void holder(strbuf *out, const repr_holder *h, bool storage)
{
    strbuf_puts(out, "{\"id\":");
    strbuf_int(out, h->id);
    strbuf_puts(out, ",");
    holder_members(out, h, storage);
    strbuf_puts(out, "}");
}

void repr_storage_members(strbuf *out, const repr_holder *storage)
{
    holder_members(out, storage, true);
}

void repr_storage(strbuf *out, const repr_holder *storage)
{
    holder(out, storage, true);
}

void repr_organization(strbuf *out, const repr_holder *organization)
{
    holder(out, organization, false);
}

void repr_node(strbuf *out, node_ref node)
{
    strbuf_puts(out, node.kind == NODE_ORG ? "{\"organization_id\":" : "{\"storage_id\":");
    strbuf_int(out, node.id);
    strbuf_puts(out, "}");
}

void repr_route(strbuf *out, const repr_route_row *route)
{
    strbuf_puts(out, "{\"id\":");
    strbuf_int(out, route->id);
    strbuf_puts(out, ",\"from\":");
    repr_node(out, route->from);
    strbuf_puts(out, ",\"to\":");
    repr_node(out, route->to);
    strbuf_puts(out, ",\"distance_m\":");
    strbuf_int(out, route->distance_m);
    strbuf_puts(out, route->two_way ? ",\"two_way\":true" : ",\"two_way\":false");
    strbuf_puts(out, ",\"created_at\":");
    repr_timestamp(out, route->created_at);
    strbuf_puts(out, "}");
}

void repr_transfer(strbuf *out, const repr_transfer_row *transfer)
{
    if (transfer->dry_run) {
        strbuf_puts(out, "{\"organization_id\":");
        strbuf_int(out, transfer->organization_id);
        strbuf_puts(out, ",\"dry_run\":true");
    } else {
        /* id 0: nothing was recorded (a transfer that received and shipped nothing). */
        strbuf_puts(out, "{\"id\":");
        if (transfer->id > 0) {
            strbuf_int(out, transfer->id);
        } else {
            strbuf_puts(out, "null");
        }
        strbuf_puts(out, ",\"organization_id\":");
        strbuf_int(out, transfer->organization_id);
        strbuf_puts(out, ",\"trigger\":");
        strbuf_json_string(out, transfer->trigger);
        strbuf_puts(out, ",\"actor\":");
        strbuf_json_string(out, transfer->actor);
        strbuf_puts(out, ",\"created_at\":");
        if (transfer->created_at != NULL) {
            repr_timestamp(out, transfer->created_at);
        } else {
            strbuf_puts(out, "null");
        }
    }
    bool whole = transfer->seen_by_storage <= 0;
    if (whole) {
        strbuf_puts(out, ",\"received\":");
        repr_json_compact(out, transfer->received);
    }
    strbuf_puts(out, ",\"shipments\":[");
    size_t shown = 0;
    for (size_t i = 0; i < transfer->shipment_count; i++) {
        const repr_shipment_row *s = &transfer->shipments[i];
        if (!whole && s->storage_id != transfer->seen_by_storage) {
            continue;
        }
        strbuf_puts(out, shown++ ? ",{\"storage_id\":" : "{\"storage_id\":");
        strbuf_int(out, s->storage_id);
        strbuf_puts(out, ",\"waste_type\":\"");
        strbuf_puts(out, s->waste_type);
        strbuf_puts(out, "\",\"amount\":");
        strbuf_int(out, s->amount_kg);
        strbuf_puts(out, ",\"distance_m\":");
        strbuf_int(out, s->distance_m);
        strbuf_puts(out, ",\"movement_id\":");
        if (s->movement_id > 0) {
            strbuf_int(out, s->movement_id);
        } else {
            strbuf_puts(out, "null");
        }
        strbuf_puts(out, ",\"status\":\"");
        strbuf_puts(out, s->status != NULL ? s->status : "accepted");
        strbuf_puts(out, "\"}");
    }
    strbuf_puts(out, "]");
    if (whole) {
        strbuf_puts(out, ",\"pending\":");
        repr_json_compact(out, transfer->pending);
    }
    strbuf_puts(out, "}");
}

void repr_waste_type(strbuf *out, const char *code, const char *name)
{
    strbuf_puts(out, "{\"code\":\"");
    strbuf_puts(out, code);
    strbuf_puts(out, "\",\"name\":");
    strbuf_json_string(out, name);
    strbuf_puts(out, "}");
}

void repr_page_begin(strbuf *out)
{
    strbuf_puts(out, "{\"items\":[");
}

void repr_page_item(strbuf *out, size_t index)
{
    if (index > 0) {
        strbuf_puts(out, ",");
    }
}

void repr_page_end(strbuf *out, const char *next_cursor)
{
    strbuf_puts(out, "],\"next_cursor\":");
    if (next_cursor != NULL) {
        strbuf_json_string(out, next_cursor);
    } else {
        strbuf_puts(out, "null");
    }
    strbuf_puts(out, "}");
}

static void id_or_null(strbuf *out, int64_t id)
{
    if (id > 0) {
        strbuf_int(out, id);
    } else {
        strbuf_puts(out, "null");
    }
}

static void timestamp_or_null(strbuf *out, const char *pg_text)
{
    if (pg_text != NULL) {
        repr_timestamp(out, pg_text);
    } else {
        strbuf_puts(out, "null");
    }
}

void repr_api_key(strbuf *out, const repr_key_row *key)
{
    strbuf_puts(out, "{\"id\":");
    strbuf_int(out, key->id);
    if (key->key != NULL) {
        strbuf_puts(out, ",\"key\":");
        strbuf_json_string(out, key->key);
    }
    strbuf_puts(out, ",\"role\":");
    strbuf_json_string(out, key->role);
    strbuf_puts(out, ",\"organization_id\":");
    id_or_null(out, key->organization_id);
    strbuf_puts(out, ",\"storage_id\":");
    id_or_null(out, key->storage_id);
    strbuf_puts(out, ",\"name\":");
    if (key->name != NULL) {
        strbuf_json_string(out, key->name);
    } else {
        strbuf_puts(out, "null");
    }
    strbuf_puts(out, ",\"created_at\":");
    timestamp_or_null(out, key->created_at);
    strbuf_puts(out, ",\"expires_at\":");
    timestamp_or_null(out, key->expires_at);
    strbuf_puts(out, ",\"revoked_at\":");
    timestamp_or_null(out, key->revoked_at);
    strbuf_puts(out, "}");
}

void repr_principal(strbuf *out, const auth_principal *principal)
{
    strbuf_puts(out, "{\"role\":");
    strbuf_json_string(out, auth_role_name(principal->role));
    strbuf_puts(out, ",\"organization_id\":");
    id_or_null(out, principal->organization_id);
    strbuf_puts(out, ",\"storage_id\":");
    id_or_null(out, principal->storage_id);
    strbuf_puts(out, ",\"key_id\":");
    id_or_null(out, principal->key_id);
    strbuf_puts(out, ",\"actor\":");
    strbuf_json_string(out, principal->actor);
    strbuf_puts(out, "}");
}

static void string_or_null(strbuf *out, const char *text)
{
    if (text != NULL) {
        strbuf_json_string(out, text);
    } else {
        strbuf_puts(out, "null");
    }
}

void repr_movement(strbuf *out, const repr_movement_row *m, bool open)
{
    strbuf_puts(out, "{\"id\":");
    strbuf_int(out, m->id);
    strbuf_puts(out, ",\"transfer_id\":");
    strbuf_int(out, m->transfer_id);
    strbuf_puts(out, ",\"organization_id\":");
    strbuf_int(out, m->organization_id);
    strbuf_puts(out, ",\"storage_id\":");
    strbuf_int(out, m->storage_id);
    strbuf_puts(out, ",\"waste_type\":\"");
    strbuf_puts(out, m->waste_type);
    strbuf_puts(out, "\",\"planned_kg\":");
    strbuf_int(out, m->planned_kg);
    strbuf_puts(out, ",\"distance_m\":");
    strbuf_int(out, m->distance_m);
    movement_status status =
        movement_status_of(m->in_transit, m->received, m->received_kg, m->rejected_kg);
    strbuf_puts(out, ",\"status\":\"");
    strbuf_puts(out, movement_status_name(status));
    strbuf_puts(out, "\",\"carrier\":");
    string_or_null(out, m->carrier);
    strbuf_puts(out, ",\"vehicle\":");
    string_or_null(out, m->vehicle);
    if (!m->in_transit) {
        /* An automatic storage took the whole load when it was handed over. */
        strbuf_puts(out, ",\"received_kg\":");
        strbuf_int(out, m->planned_kg);
        strbuf_puts(out, ",\"accepted_kg\":");
        strbuf_int(out, m->planned_kg);
        strbuf_puts(out, ",\"rejected_kg\":0,\"rejection_reason\":null,\"ticket\":null,"
                         "\"received_at\":");
        repr_timestamp(out, m->created_at);
        strbuf_puts(out, ",\"received_by\":null");
    } else if (!m->received) {
        strbuf_puts(out, ",\"received_kg\":null,\"accepted_kg\":null,\"rejected_kg\":null,"
                         "\"rejection_reason\":null,\"ticket\":null,\"received_at\":null,"
                         "\"received_by\":null");
    } else {
        strbuf_puts(out, ",\"received_kg\":");
        strbuf_int(out, m->received_kg);
        strbuf_puts(out, ",\"accepted_kg\":");
        strbuf_int(out, m->accepted_kg);
        strbuf_puts(out, ",\"rejected_kg\":");
        strbuf_int(out, m->rejected_kg);
        strbuf_puts(out, ",\"rejection_reason\":");
        string_or_null(out, m->rejection_reason);
        strbuf_puts(out, ",\"ticket\":");
        string_or_null(out, m->ticket);
        strbuf_puts(out, ",\"received_at\":");
        repr_timestamp(out, m->received_at);
        strbuf_puts(out, ",\"received_by\":");
        string_or_null(out, m->received_by);
    }
    strbuf_puts(out, ",\"created_at\":");
    repr_timestamp(out, m->created_at);
    if (!open) {
        strbuf_puts(out, "}");
    }
}

void repr_alert(strbuf *out, const repr_alert_row *alert)
{
    strbuf_puts(out, "{\"id\":");
    strbuf_int(out, alert->id);
    strbuf_puts(out, ",\"storage_id\":");
    if (alert->storage_id > 0) {
        strbuf_int(out, alert->storage_id);
    } else {
        strbuf_puts(out, "null");
    }
    strbuf_puts(out, ",\"waste_type\":");
    if (alert->waste_type != NULL) {
        strbuf_json_string(out, alert->waste_type);
    } else {
        strbuf_puts(out, "null");
    }
    strbuf_puts(out, ",\"fill_ratio_above\":");
    strbuf_puts(out, alert->fill_ratio_above);
    strbuf_puts(out, ",\"created_at\":");
    repr_timestamp(out, alert->created_at);
    strbuf_puts(out, "}");
}

void repr_alert_firing(strbuf *out, const repr_firing_row *firing)
{
    strbuf_puts(out, "{\"id\":");
    strbuf_int(out, firing->id);
    strbuf_puts(out, ",\"alert_id\":");
    strbuf_int(out, firing->alert_id);
    strbuf_puts(out, ",\"storage_id\":");
    strbuf_int(out, firing->storage_id);
    strbuf_puts(out, ",\"waste_type\":");
    strbuf_json_string(out, firing->waste_type);
    strbuf_puts(out, ",\"fill_ratio\":");
    strbuf_puts(out, firing->fill_ratio);
    strbuf_puts(out, ",\"threshold\":");
    strbuf_puts(out, firing->threshold);
    strbuf_puts(out, ",\"fired_at\":");
    repr_timestamp(out, firing->fired_at);
    strbuf_puts(out, "}");
}
