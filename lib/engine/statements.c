/* The SQL of every statement (see statements.h). Parameters are text; casts say types.
 * Business rules the database must enforce mid-pipeline use wf_check() (schema), so a
 * violated rule aborts the transaction before its COMMIT without an extra round trip:
 * WF404 is "not found", WF409 a conflict and WF422 "field|message" (lib/engine/tx.c maps
 * them). tx_q checks that each call passes as many parameters as the statement's highest
 * $n (statement_param_count). Timestamps are returned as timestamptz text; the sessions run in UTC
 * and the representations turn that text into RFC 3339 (lib/api/repr.c). */
#include "engine/statements.h"

#include <stdbool.h>
#include <stdlib.h>

#define S(id, sql) [id] = {#id, sql}

/* The columns of a storage with one of its types: a storage is one row per type. */
#define STORAGE_COLUMNS                                                                            \
    "s.id, s.name, s.created_at, w.waste_type, w.capacity, w.stock, w.reserved, s.intake"
/* The columns of an organization with one of its types (NULLs when it has none). */
#define ORGANIZATION_COLUMNS "o.id, o.name, o.created_at, w.waste_type, w.capacity, w.pending"
#define ROUTE_COLUMNS                                                                              \
    "id, from_organization_id, from_storage_id, to_organization_id, to_storage_id, distance_m, "   \
    "two_way, created_at"
/* A transfer with one of its shipments (NULLs when it has none), in shipment order. */
/* Then the shipment's movement: its id, whether it went in transit, and, once received, its
 * receipt's received and rejected kilograms (only probed for a load that travelled). */
#define TRANSFER_COLUMNS                                                                           \
    "t.id, t.organization_id, t.trigger, t.created_at, t.received::text, t.pending::text, "        \
    "s.storage_id, s.waste_type, s.amount, s.distance_m, t.actor, s.id, s.in_transit, "            \
    "CASE WHEN s.in_transit THEN (SELECT r.received_kg FROM receipts r WHERE r.shipment_id = "     \
    "s.id) END, CASE WHEN s.in_transit THEN (SELECT r.rejected_kg FROM receipts r WHERE "          \
    "r.shipment_id = s.id) END"

/* A movement (a shipment on its way or received): the shipment, its transfer's organization and
 * time, its carrier and its receipt (NULLs while in transit, and for a load an automatic storage
 * took at once: lib/api/repr.c fills those in from the plan). */
#define MOVEMENT_COLUMNS                                                                           \
    "s.id, s.transfer_id, t.organization_id, s.storage_id, s.waste_type, s.amount, s.distance_m, " \
    "s.in_transit, c.carrier, c.vehicle, r.received_kg, r.accepted_kg, r.rejected_kg, "            \
    "r.rejection_reason, r.ticket, r.received_at, r.received_by, t.created_at"
#define MOVEMENT_FROM                                                                              \
    "shipments s JOIN transfers t ON t.id = s.transfer_id LEFT JOIN receipts r ON r.shipment_id "  \
    "= s.id LEFT JOIN movement_carriers c ON c.shipment_id = s.id"
/* The status of the movement of s (and r), as core/movement.c derives it. */
#define MOVEMENT_STATUS                                                                            \
    "CASE WHEN NOT s.in_transit THEN 'accepted' WHEN r.shipment_id IS NULL THEN 'in_transit' "     \
    "WHEN r.rejected_kg = 0 THEN 'accepted' WHEN r.accepted_kg = 0 THEN 'rejected' "               \
    "ELSE 'partially_rejected' END"

/* The balance's period [$1, $2), each end open when NULL, and which replay it takes
 * (ST_BALANCE's CTE b: a one-time filter, evaluated once). */
#define BAL_LO  "coalesce($1::timestamptz, '-infinity')"
#define BAL_HI  "coalesce($2::timestamptz, 'infinity')"
#define BAL_FWD "(SELECT fwd FROM b)"
/* A transfer's shipments, and a receipt's shipment, by their keys: a LATERAL with OFFSET 0
 * (which the planner cannot flatten), so the cost follows the range's rows. A plain join is
 * planned, for a range of a few thousand transfers, as a hash join over a sequential scan of
 * every shipment. */
#define BAL_SHIPMENTS                                                                              \
    "LATERAL (SELECT waste_type, amount, in_transit FROM shipments s WHERE s.transfer_id = t.id "  \
    "OFFSET 0) s"
#define BAL_RECEIVED                                                                               \
    "LATERAL (SELECT waste_type, amount FROM shipments s WHERE s.id = r.shipment_id OFFSET 0) s"
/* The balance over the daily checkpoints (ST_BALANCE_DAYS, balance_days of
 * sql/migrations/026): its plan, the one row of CTE k. */
#define BD_A   "(SELECT a FROM k)"
#define BD_B   "(SELECT b FROM k)"
#define BD_E   "(SELECT e FROM k)"
#define BD_FWD "(SELECT fwd FROM k)"

/* An alert rule; a firing of one (api/repr.h renders both). */
#define ALERT_COLUMNS  "id, storage_id, waste_type, fill_ratio_above, created_at"
#define FIRING_COLUMNS "id, alert_id, storage_id, waste_type, ratio, threshold, fired_at"

/* History and forecasts ($1 storage, $2 waste type): where the range starts ($3: microseconds
 * since the epoch, or seconds back from now) and a bucket's width ($4 seconds). */
/* (Seconds and microseconds apart: a float8 holds whole microseconds only up to 2^53, about
 * 285 years from the epoch, and interval arithmetic goes through float8.) */
#define HISTORY_FIRST                                                                              \
    "('epoch'::timestamptz + $3::bigint / 1000000 * interval '1 second' + $3::bigint % 1000000 "   \
    "* interval '1 microsecond')"
#define HISTORY_WIDTH  "($4::bigint * interval '1 second')"
#define FORECAST_FIRST "(now() - $3::bigint * interval '1 second')"
/* The least id of a transfer dated at or after FIRST: an index-only range of
 * transfers_created_at_idx (OFFSET 0: not min() walking the primary key, filtering every
 * older transfer on the way). */
#define LEAST_TRANSFER(FIRST)                                                                      \
    "SELECT coalesce(min(id), 9223372036854775807) AS id FROM (SELECT t.id FROM transfers t "      \
    "WHERE t.created_at >= " FIRST " OFFSET 0) t"
/* Every change to the stock of ($1, $2) dated at or after FIRST: (at, in_kg, out_kg). What
 * went in: shipments that did not travel, at their transfer's time, and receipts' accepted
 * kilograms, at their receipt; what went out: unloads. Shipments have no date of their own:
 * every transfer dated at or after FIRST has an id no lower than lo.id (the least of them,
 * LEAST_TRANSFER), so they are a range of the shipments' indexes, each dated through its
 * transfer's primary key (OFFSET 0 keeps that a nested loop, not a hash of the range). The
 * cost follows the rows in the range, not the ledger's size. */
#define LEDGER_CHANGES(FIRST)                                                                      \
    "SELECT t.created_at AS at, s.amount AS in_kg, 0::bigint AS out_kg FROM lo, shipments s "      \
    "CROSS JOIN LATERAL (SELECT t.created_at FROM transfers t WHERE t.id = s.transfer_id OFFSET "  \
    "0) t WHERE s.storage_id = $1::bigint AND s.transfer_id >= lo.id AND s.waste_type = $2 AND "   \
    "NOT s.in_transit AND t.created_at >= " FIRST " UNION ALL SELECT r.received_at, "              \
    "r.accepted_kg, 0 FROM receipts r JOIN shipments s ON s.id = r.shipment_id WHERE "             \
    "r.received_at >= " FIRST " AND s.storage_id = $1::bigint AND s.waste_type = $2 UNION ALL "    \
    "SELECT u.created_at, 0, u.amount FROM unloads u WHERE u.storage_id = $1::bigint AND "         \
    "u.waste_type = $2 AND u.created_at >= " FIRST

/* The road graph since version MINE (at most MAX changes): rows of (head, kind, version,
 * route_id, op, from, to, distance_m, two_way, chunk) where kind is
 *   'h'  one header row: head = the current graph version, version = MINE echoed;
 *   'c'  a change (version, route_id, op, from and to as 'o12'/'s7', distance_m, two_way)
 *        — all of those after MINE, when the log holds each of them and there are <= MAX;
 *   'f'  otherwise, the whole graph in chunks of 16,384 roads, each a text of lines
 *        "id from to distance_m two_way(0|1)": a few hundred kilobytes per row, so neither
 *        the server nor libpq ever holds one value of the whole graph, and the client's
 *        result is ~30 bytes a road instead of a row each.
 * The chunk bounds walk the primary key (OFFSET within the index, never a sort), and the
 * branch not taken is never executed (one-time filters). */
#define GRAPH_SYNC_SQL(MINE, MAX)                                                                  \
    "WITH RECURSIVE head AS MATERIALIZED (SELECT version FROM graph_state), "                      \
    "log AS MATERIALIZED (SELECT c.version, c.route_id, c.op, "                                    \
    "CASE WHEN c.from_organization_id IS NOT NULL THEN 'o' || c.from_organization_id "             \
    "ELSE 's' || c.from_storage_id END AS from_node, "                                             \
    "CASE WHEN c.to_organization_id IS NOT NULL THEN 'o' || c.to_organization_id "                 \
    "ELSE 's' || c.to_storage_id END AS to_node, c.distance_m, c.two_way "                         \
    "FROM route_changes c, head WHERE c.version > " MINE " AND c.version <= head.version "         \
    "AND head.version - " MINE " <= " MAX " ORDER BY c.version LIMIT " MAX "), "                   \
    "complete AS MATERIALIZED (SELECT (SELECT count(*) FROM log) = head.version - " MINE           \
    " AS ok FROM head), "                                                                          \
    "chunk(lo, hi) AS (SELECT 0::bigint, (SELECT id FROM routes ORDER BY id OFFSET 16383 "         \
    "LIMIT 1) UNION ALL SELECT c.hi, (SELECT r.id FROM routes r WHERE r.id > c.hi ORDER BY r.id "  \
    "OFFSET 16383 LIMIT 1) FROM chunk c WHERE c.hi IS NOT NULL) "                                  \
    "SELECT head.version, 'h', " MINE ", NULL::bigint, NULL::text, NULL::text, NULL::text, "       \
    "NULL::bigint, NULL::boolean, NULL::text FROM head "                                           \
    "UNION ALL SELECT NULL, 'c', l.version, l.route_id, l.op, l.from_node, l.to_node, "            \
    "l.distance_m, l.two_way, NULL FROM log l WHERE (SELECT ok FROM complete) "                    \
    "UNION ALL SELECT NULL, 'f', NULL, NULL, NULL, NULL, NULL, NULL, NULL, (SELECT "               \
    "string_agg(concat_ws(' ', r.id, r.from_node, r.to_node, r.distance_m, r.two_way::int), "      \
    "E'\\n') FROM routes r WHERE r.id > c.lo AND r.id <= coalesce(c.hi, 9223372036854775807)) "    \
    "FROM chunk c WHERE NOT (SELECT ok FROM complete)"

/* The organization of a transfer ($1; TR_ORG_HEAD id TR_ORG_FROM [lock]): its id, the graph
 * version, now(), the new transfer's id, its block of shipment ids and whether its pending_since is
 * NULL; no row when there is no such organization. The received codes ($2 text[]) are checked
 * first: an unknown one fails the statement (WF422 "waste.<code>") before anything is read or
 * locked, as the check is a one-time filter (OFFSET 0 keeps the search for the first unknown code
 * from being copied into each of its two uses). Its waste rows are a statement of their own
 * (ST_TR_ORG_WASTE): a statement that waits for the row lock keeps the snapshot it started with,
 * and would read pending amounts a transfer that held the lock has since changed. */
#define TR_ORG_HEAD "SELECT id, (SELECT version FROM graph_state), now(), "
/* The block of shipment ids a transfer numbers its movements from (sql/migrations/013).
 * Sequences are named by literal ('shipments_id_seq', the identity column's own): the name is
 * resolved once, when the statement is prepared, where pg_get_serial_sequence() searched the
 * catalog on every call (about 5 us a transfer for each of the two). */
#define SHIPMENT_BLOCK "nextval('shipments_id_seq')"
#define TR_ORG_FROM                                                                                \
    ", pending_since IS NULL FROM organizations WHERE id = $1::bigint AND (SELECT "                \
    "wf_check(u.code IS NULL, 'WF422', "                                                           \
    "'waste.' || u.code || '|unknown waste type') FROM (SELECT (SELECT c FROM unnest($2::text[]) " \
    "c WHERE NOT EXISTS (SELECT 1 FROM waste_types k WHERE k.code = c) ORDER BY c LIMIT 1) AS "    \
    "code OFFSET 0) u)"

/* The writes of a transfer batch (ST_TR_RECORD: TR_RECORD_WRITES [TR_RECORD_PENDING]
 * TR_RECORD_CHECK).
 *   t   the ledger rows. Each row first marks the transaction (set_config, local) as one
 *       whose statement counts its own totals, so the per-row totals trigger, there for
 *       writes made by hand (sql/migrations/009), stays idle; the WHERE runs before the
 *       row is inserted, and the trigger's WHEN is evaluated when it is.
 *       The same goes for the webhooks' outbox (sql/migrations/019): the statement trigger
 *       that would write it stays idle, and
 *   wh  the outbox rows of the subscriptions to transfer.created (none: a scan of an empty
 *       table), in transfer order.
 *   totals  the running totals of what was received, summed per type, in type order (the
 *       order every writer takes the shard rows in), on this backend's shard.
 *   s   the shipments.
 *   st  the stock: each pair found by one primary-key probe (LATERAL ... LIMIT 1, which
 *       the planner cannot flatten) and updated by its ctid. A plain join with the
 *       unnest is planned, for the generic plan's 10 guessed pairs, as a hash join over
 *       every row of the table. The rows were locked by the room read: their ctid cannot
 *       move, and should one have all the same, the guard below sees a short count.
 *       Each pair first marks the transaction as one whose stock changes the live feed
 *       learns from the shipments (sql/migrations/017): the statement trigger that would
 *       log them, queued when this CTE's node ends (not when the statement does), sees
 *       the mark and stays idle.
 *   o   (TR_RECORD_PENDING) pending_since, written only where it changes;
 *   p   (TR_RECORD_PENDING) the pending amounts that changed. */
#define TR_RECORD_WRITES                                                                           \
    "WITH t AS (INSERT INTO transfers (id, organization_id, trigger, received, pending, "          \
    "created_at, actor) SELECT x.id, x.organization_id, $5, x.received::jsonb, x.pending::jsonb, " \
    "now(), $6 FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS x(id, "          \
    "organization_id, received, pending) WHERE set_config('wasteflow.totals_counted', 'on', "      \
    "true) = 'on' AND set_config('wasteflow.webhooks_written', 'on', true) = 'on'), "              \
    "wh AS (INSERT INTO webhook_outbox (webhook_id, event_type, entity_id) SELECT w.id, "          \
    "'transfer.created', x.id FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, n) CROSS JOIN "   \
    "webhooks w WHERE 'transfer.created' = ANY (w.events) ORDER BY x.n, w.id), "                   \
    "totals AS (INSERT INTO waste_totals AS w (waste_type, shard, generated) SELECT r.key, "       \
    "pg_backend_pid() % 64, sum(r.value::bigint) FROM unnest($3::text[]) AS x(received), "         \
    "jsonb_each_text(x.received::jsonb) r GROUP BY r.key HAVING sum(r.value::bigint) <> 0 "        \
    "ORDER BY r.key ON CONFLICT (waste_type, shard) DO UPDATE SET generated = w.generated + "      \
    "EXCLUDED.generated), "                                                                        \
    "s AS (INSERT INTO shipments (id, transfer_id, position, storage_id, waste_type, amount, "     \
    "distance_m, in_transit) OVERRIDING SYSTEM VALUE SELECT * FROM unnest($7::bigint[], "          \
    "$8::bigint[], $9::int[], $10::bigint[], $11::text[], $12::bigint[], $13::bigint[], "          \
    "$14::boolean[])), "                                                                           \
    "st AS (UPDATE storage_waste w SET stock = w.stock + x.amount, reserved = w.reserved + "       \
    "x.held FROM (SELECT r.ctid AS tid, a.amount, a.held FROM unnest($15::bigint[], $16::text[], " \
    "$17::bigint[], $18::bigint[]) AS a(storage_id, waste_type, amount, held), LATERAL (SELECT "   \
    "ctid FROM storage_waste r WHERE r.storage_id = a.storage_id AND r.waste_type = a.waste_type " \
    "LIMIT 1) r WHERE set_config('wasteflow.storages_by_shipments', 'on', true) = 'on') x "        \
    "WHERE w.ctid = x.tid AND w.stock + w.reserved + x.amount + x.held <= "                        \
    "w.capacity RETURNING 1)"
#define TR_RECORD_CHECK                                                                            \
    " SELECT wf_check((SELECT count(*) FROM st) = $19::int, '40001', "                             \
    "'stock changed under the lock')"
#define TR_RECORD_PENDING                                                                          \
    ", o AS (UPDATE organizations o SET pending_since = CASE WHEN x.left_over THEN "               \
    "coalesce(o.pending_since, now()) END FROM unnest($20::bigint[], $21::boolean[]) AS "          \
    "x(id, left_over) WHERE o.id = ANY ($20::bigint[]) AND o.id = x.id AND (o.pending_since "      \
    "IS NULL) = x.left_over), "                                                                    \
    "p AS (INSERT INTO organization_waste (organization_id, waste_type, pending) SELECT * "        \
    "FROM unnest($22::bigint[], $23::text[], $24::bigint[]) ON CONFLICT (organization_id, "        \
    "waste_type) DO UPDATE SET pending = EXCLUDED.pending)"

/* The columns of an API key as the API shows it (never its hash). */
#define KEY_COLUMNS                                                                                \
    "id, role, organization_id, storage_id, name, created_at, expires_at, revoked_at"

/* A webhook subscription, its events as a JSON array. */
#define WEBHOOK_COLUMNS "id, url, to_json(events)::text, created_at"

/* One table, indexed by the enum, written in four parts by domain so no file grows past
 * reading: each part is a list of designated entries included right here. */
const db_statement engine_statements[ST__COUNT] = {
#include "engine/statements_feed.inc"
#include "engine/statements_ledger.inc"
#include "engine/statements_resources.inc"
#include "engine/statements_workers.inc"
};

bool statement_wants_generic_plan(int statement)
{
    /* The unreachable part of the view: custom plans see its arrays' lengths and fold its
     * optional filters, so each one looks cheaper than the generic plan and PostgreSQL
     * re-plans it on every call (about 230 us, fifteen times its execution), while the
     * generic plan is the same index range scan per range. */
    return statement == ST_VIEW_UNREACHABLE;
}

int statement_param_count(int statement)
{
    /* Derived from the SQL itself, once, so no count can drift from its statement. */
    static int counts[ST__COUNT];
    static bool counted;
    if (!counted) {
        for (int i = 0; i < ST__COUNT; i++) {
            int highest = 0;
            for (const char *p = engine_statements[i].sql; *p != '\0'; p++) {
                if (*p == '$' && p[1] >= '1' && p[1] <= '9') {
                    int n = (int)strtol(p + 1, NULL, 10);
                    highest = n > highest ? n : highest;
                }
            }
            counts[i] = highest;
        }
        counted = true;
    }
    return statement >= 0 && statement < ST__COUNT ? counts[statement] : -1;
}
