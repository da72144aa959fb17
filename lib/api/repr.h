/* The API's representations, each written by exactly one producer from plain values:
 * organizations, storages, routes, transfers and waste types, list pages and timestamps.
 * Pure (a strbuf in, JSON text out), so their exact output is unit-tested; the handlers
 * read database rows into these structs (api/rows.h). */
#ifndef WF_API_REPR_H
#define WF_API_REPR_H

#include "auth/principal.h"
#include "core/graph.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPR_NO_LIMIT (-1)

/* One waste type of an organization (amount = pending, capacity REPR_NO_LIMIT when it has
 * no on-site limit) or of a storage (amount = stock). */
typedef struct {
    const char *code;
    int64_t capacity_kg;
    int64_t amount_kg;
    int64_t reserved_kg; /* a storage's room held for loads in transit */
} repr_type;

/* An organization or a storage with its types (sorted by code). created_at is PostgreSQL's
 * timestamptz text in UTC ("2026-12-01 19:30:16.123456+00"). */
typedef struct {
    int64_t id;
    const char *name;
    const char *created_at;
    const repr_type *types;
    size_t type_count;
    const char *intake; /* a storage's "automatic" or "weighed" (NULL: not shown) */
} repr_holder;

typedef struct {
    int64_t id;
    node_ref from, to;
    int64_t distance_m;
    bool two_way;
    const char *created_at;
} repr_route_row;

typedef struct {
    int64_t storage_id;
    const char *waste_type;
    int64_t amount_kg;
    int64_t distance_m;
    int64_t movement_id; /* 0: null (a dry run) */
    const char *status;  /* the movement's status (core/movement.h) */
} repr_shipment_row;

/* received and pending are JSON objects of type codes to kilograms (compacted on output).
 * A dry run has no id, trigger or time: it happened nowhere. seen_by_storage > 0 renders the
 * transfer as that storage's principal may see it: only the shipments to that storage, and
 * neither received nor pending (what the organization handed over and kept is its own
 * business, as are the other storages' shares). */
typedef struct {
    bool dry_run;
    int64_t seen_by_storage;
    int64_t id;
    int64_t organization_id;
    const char *trigger;
    const char *actor;
    const char *created_at;
    const char *received;
    const char *pending;
    const repr_shipment_row *shipments;
    size_t shipment_count;
} repr_transfer_row;

/* A movement (lib/core/movement.h): a shipment on its way to a storage or received there.
 * received is false while in transit (the receipt's members are then null); a load an
 * automatic storage took at once is shown as received in full when it was handed over. */
typedef struct {
    int64_t id;
    int64_t transfer_id;
    int64_t organization_id;
    int64_t storage_id;
    const char *waste_type;
    int64_t planned_kg;
    int64_t distance_m;
    bool in_transit;     /* it went to a weighed storage */
    const char *carrier; /* NULL: null */
    const char *vehicle; /* NULL: null */
    bool received;       /* a weighed load's receipt exists */
    int64_t received_kg, accepted_kg, rejected_kg;
    const char *rejection_reason, *ticket, *received_by; /* NULL: null */
    const char *received_at;                             /* PostgreSQL timestamptz text */
    const char *created_at;
} repr_movement_row;

/* An API key as the API shows it; key (the token) only when it was just created. */
typedef struct {
    int64_t id;
    const char *key; /* NULL: not shown */
    const char *role;
    int64_t organization_id; /* 0: null */
    int64_t storage_id;      /* 0: null */
    const char *name;        /* NULL: null */
    const char *created_at;
    const char *expires_at; /* NULL: null */
    const char *revoked_at; /* NULL: null */
} repr_key_row;

/* {"id",["key",]"role","organization_id","storage_id","name","created_at","expires_at",
 * "revoked_at"}; absent values are null. */
void repr_api_key(strbuf *out, const repr_key_row *key);
/* GET /v1/me: {"role","organization_id","storage_id","key_id","actor"}. */
void repr_principal(strbuf *out, const auth_principal *principal);

/* {"id","name","capacity","pending","created_at"}: capacity lists the types with a limit,
 * pending those with waste pending. */
void repr_organization(strbuf *out, const repr_holder *organization);
/* {"id","name","intake","capacity","stock","reserved","remaining","created_at"}; remaining is
 * capacity - stock - reserved. */
void repr_storage(strbuf *out, const repr_holder *storage);
/* The members of repr_storage after "id" without the braces: "name", "intake", "capacity",
 * "stock", "reserved", "remaining", "created_at" (for representations that extend a storage). */
void repr_storage_members(strbuf *out, const repr_holder *storage);
/* {"id","from","to","distance_m","two_way","created_at"}. */
void repr_route(strbuf *out, const repr_route_row *route);
/* {"id","transfer_id","organization_id","storage_id","waste_type","planned_kg","distance_m",
 * "status","carrier","vehicle","received_kg","accepted_kg","rejected_kg","rejection_reason",
 * "ticket","received_at","received_by","created_at"} without the closing brace when open (a
 * reply that adds members, such as a receipt's warnings), else whole. */
void repr_movement(strbuf *out, const repr_movement_row *movement, bool open);
/* {"organization_id": n} or {"storage_id": n}. */
void repr_node(strbuf *out, node_ref node);
/* {"id","organization_id","trigger","actor","created_at","received","shipments","pending"};
 * a dry run {"organization_id","dry_run":true,"received","shipments","pending"}; seen by a
 * storage {"id","organization_id","trigger","actor","created_at","shipments"} with its own
 * shipments only. */
void repr_transfer(strbuf *out, const repr_transfer_row *transfer);
/* {"code","name"}. */
void repr_waste_type(strbuf *out, const char *code, const char *name);

/* An alert rule. */
typedef struct {
    int64_t id;
    int64_t storage_id;           /* 0: any storage */
    const char *waste_type;       /* NULL: any type */
    const char *fill_ratio_above; /* a JSON number's text */
    const char *created_at;
} repr_alert_row;
/* {"id","storage_id","waste_type","fill_ratio_above","created_at"}; null storage_id or
 * waste_type: the rule matches every storage or type. */
void repr_alert(strbuf *out, const repr_alert_row *alert);

/* One firing of an alert rule. */
typedef struct {
    int64_t id;
    int64_t alert_id;
    int64_t storage_id;
    const char *waste_type;
    const char *fill_ratio; /* (stock + reserved) / capacity when it fired: a number's text */
    const char *threshold;  /* the rule's fill_ratio_above then */
    const char *fired_at;
} repr_firing_row;
/* {"id","alert_id","storage_id","waste_type","fill_ratio","threshold","fired_at"}: the one
 * rendering of a firing, for the `alert` event and for the alert.fired webhook alike. */
void repr_alert_firing(strbuf *out, const repr_firing_row *firing);

/* A list page: repr_page_begin, items separated by repr_page_item, then repr_page_end with
 * the next cursor (NULL for the last page). */
void repr_page_begin(strbuf *out);
void repr_page_item(strbuf *out, size_t index);
void repr_page_end(strbuf *out, const char *next_cursor);

/* PostgreSQL's ISO timestamptz text in UTC as RFC 3339 with microseconds, quoted:
 * "2026-12-01 19:30:16.1234+00" -> "2026-12-01T19:30:16.123400Z". */
void repr_timestamp(strbuf *out, const char *pg_text);
/* A JSON text with the whitespace between tokens removed (jsonb's text output has some). */
void repr_json_compact(strbuf *out, const char *json);

#endif
