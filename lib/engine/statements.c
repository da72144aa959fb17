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
/* The block of shipment ids a transfer numbers its movements from (sql/migrations/013). */
#define SHIPMENT_BLOCK "nextval(pg_get_serial_sequence('shipments', 'id'))"
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

const db_statement engine_statements[ST__COUNT] = {
    /* Idempotency-Key ($1 the caller, $2 the key: a key is the caller's own). The claim
     * (wf_idempotency_claim, sql/migrations/007) marks it in flight for the length of the
     * transaction: a row only the app role can write, so no other database session can hold
     * a key up. A second request meanwhile fails here (WF409, mapped by position to "in
     * flight") before any of its work runs. The lookup is a statement of its own, so its
     * snapshot is taken after the claim: a first request that committed while this one
     * waited is seen, and replayed. */
    S(ST_IDEM_LOCK, "SELECT wf_idempotency_claim($1, $2)"),
    /* $3 the request's fingerprint (SHA-256 hex, computed by the service, so the client's
     * bytes never reach the database as text). No row: the key is new (or older than 24 h). */
    S(ST_IDEM_LOOKUP,
      "SELECT fingerprint = $3, status, body, location FROM idempotency_keys "
      "WHERE principal = $1 AND key = $2 AND created_at > now() - interval '24 hours'"),
    /* Stores the response ($4 status, $5 body, $6 location) and drops the claim, which
     * therefore never commits. Under the key's claim no fresher record can exist; should one
     * all the same, the transaction aborts as a serialization failure and is retried, which
     * replays the stored response instead of committing the work twice. */
    S(ST_IDEM_STORE,
      "WITH claim AS (DELETE FROM idempotency_claims WHERE principal = $1 AND key = $2), "
      "stored AS (INSERT INTO idempotency_keys AS k (principal, key, fingerprint, status, "
      "body, location) VALUES ($1, $2, $3, $4::int, $5, $6) ON CONFLICT (principal, key) DO "
      "UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, "
      "body = EXCLUDED.body, location = EXCLUDED.location, created_at = now() "
      "WHERE k.created_at <= now() - interval '24 hours' RETURNING 1) "
      "SELECT wf_check(count(*) = 1, '40001', 'the Idempotency-Key was stored meanwhile') "
      "FROM stored"),
    S(ST_IDEM_CLEANUP,
      "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'"),
    /* $1 text[] of codes, $2 field prefix such as 'capacity.' */
    S(ST_CHECK_TYPES,
      "SELECT wf_check(u.code IS NULL, 'WF422', $2 || u.code || '|unknown waste type') "
      "FROM (SELECT (SELECT c FROM unnest($1::text[]) c WHERE NOT EXISTS "
      "(SELECT 1 FROM waste_types w WHERE w.code = c) ORDER BY c LIMIT 1) AS code) u"),
    /* $1 code, $2 field name. Only ever sent with a code: a filter that is absent sends no
     * check (api_check_type), so the statement's plan never depends on whether there is one
     * (calls with NULL planned as a constant would keep it re-planned on every call). */
    S(ST_CHECK_TYPE, "SELECT wf_check(EXISTS (SELECT 1 FROM waste_types WHERE code = $1), 'WF422', "
                     "$2 || '|unknown waste type')"),
    /* Route changes run one at a time, so the two-way pair rules can be checked: a row
     * lock only the app role can take (sql/migrations/007), never an advisory lock that any
     * session could hold. The graph version moves by the routes table's triggers
     * (sql/migrations/003), only when a road really changes, cascades from deleted storages
     * and organizations included. */
    S(ST_GRAPH_LOCK, "SELECT 1 FROM service_locks WHERE name = 'graph' FOR UPDATE"),
    /* Brings an instance's road graph from version $1 to the current one, in one snapshot:
     * the rows of route_changes after $1 when the log has every one of them and there are at
     * most $2, else every road (lib/engine/graph_cache.c reads the result). */
    S(ST_GRAPH_VERSION, "SELECT version FROM graph_state"),
    S(ST_GRAPH_SYNC, GRAPH_SYNC_SQL("$1::bigint", "$2::bigint")),
    /* Every road, in the same shape (mine -1: no version is ever complete from there). */
    S(ST_GRAPH_LOAD, GRAPH_SYNC_SQL("-1::bigint", "0::bigint")),

    /* Waste types, by code: $1 the cursor (last code seen) or NULL, $2 limit + 1. */
    S(ST_WT_LIST,
      "SELECT code, name FROM waste_types WHERE $1::text IS NULL OR code > $1 ORDER BY code "
      "LIMIT $2::int"),
    S(ST_WT_GET, "SELECT code, name FROM waste_types WHERE code = $1"),
    S(ST_WT_CREATE, "INSERT INTO waste_types (code, name) VALUES ($1, $2) RETURNING code, name"),

    /* Organizations: $1 the cursor (last id seen, 0 for none), $2 limit + 1, $3 the one
     * organization an organization principal sees, or NULL. */
    S(ST_ORG_LIST,
      "SELECT " ORGANIZATION_COLUMNS " FROM (SELECT id, name, created_at FROM organizations "
      "WHERE id > $1::bigint AND ($3::bigint IS NULL OR id = $3::bigint) ORDER BY id "
      "LIMIT $2::int) o LEFT JOIN organization_waste w ON w.organization_id = o.id "
      "ORDER BY o.id, w.waste_type"),
    S(ST_ORG_GET,
      "SELECT " ORGANIZATION_COLUMNS " FROM organizations o LEFT JOIN organization_waste w "
      "ON w.organization_id = o.id WHERE o.id = $1::bigint ORDER BY w.waste_type"),
    /* The organization ST_ORG_CREATE just made, in the same transaction. */
    S(ST_ORG_GET_NEW,
      "SELECT " ORGANIZATION_COLUMNS " FROM organizations o LEFT JOIN organization_waste w "
      "ON w.organization_id = o.id WHERE o.id = "
      "currval(pg_get_serial_sequence('organizations', 'id')) ORDER BY w.waste_type"),
    /* $1 name, $2 capacity object */
    S(ST_ORG_CREATE, "WITH o AS (INSERT INTO organizations (name) VALUES ($1) RETURNING id), "
                     "w AS (INSERT INTO organization_waste (organization_id, waste_type, capacity) "
                     "SELECT o.id, e.key, e.value::bigint FROM o, jsonb_each_text($2::jsonb) e) "
                     "SELECT id FROM o"),
    /* $1 id, $2 new name or NULL, $3 capacity merge patch or NULL (ST_ORG_LIMIT_CHECK then
     * refuses a limit below what is pending). */
    S(ST_ORG_PATCH,
      "WITH o AS (UPDATE organizations SET name = coalesce($2, name) WHERE id = $1::bigint "
      "RETURNING id), "
      "setcap AS (INSERT INTO organization_waste (organization_id, waste_type, capacity) "
      "SELECT o.id, e.key, (e.value)::bigint FROM o, jsonb_each($3::jsonb) e "
      "WHERE jsonb_typeof(e.value) = 'number' ON CONFLICT (organization_id, waste_type) "
      "DO UPDATE SET capacity = EXCLUDED.capacity), "
      "dropcap AS (UPDATE organization_waste w SET capacity = NULL FROM o, "
      "jsonb_each($3::jsonb) e WHERE w.organization_id = o.id AND w.waste_type = e.key "
      "AND jsonb_typeof(e.value) = 'null') "
      "SELECT wf_check(count(*) = 1, 'WF404', 'Organization not found.') FROM o"),
    /* $1 id, $2 the capacity merge patch or NULL: a limit the patch sets may not be below what
     * is pending (a limit left alone may be: a refused load came back over it). */
    S(ST_ORG_LIMIT_CHECK,
      "SELECT wf_check(NOT EXISTS (SELECT 1 FROM organization_waste w, jsonb_each($2::jsonb) e "
      "WHERE w.organization_id = $1::bigint AND w.waste_type = e.key AND jsonb_typeof(e.value) = "
      "'number' AND w.pending > w.capacity), 'WF409', 'The on-site capacity cannot go below the "
      "waste pending there.')"),
    S(ST_ORG_LOCK,
      "SELECT wf_check(count(*) = 1, 'WF404', 'Organization not found.') FROM (SELECT id FROM "
      "organizations WHERE id = $1::bigint FOR UPDATE) o"),
    /* Its routes go with it: their deletion is logged, and the graph version moved, by the
     * routes table's triggers (sql/migrations/003), so only when it had roads. */
    S(ST_ORG_DELETE,
      "WITH d AS (DELETE FROM organizations WHERE id = $1::bigint AND wf_check(NOT EXISTS "
      "(SELECT 1 FROM organization_waste WHERE organization_id = $1::bigint AND pending > 0), "
      "'WF409', 'the organization still has pending waste') RETURNING id) "
      "SELECT id FROM d"),

    /* Storages: $1 the cursor (last id seen, 0 for none), $2 limit + 1, $3 a type they
     * must accept or NULL. */
    S(ST_ST_LIST,
      "SELECT " STORAGE_COLUMNS " FROM (SELECT id, name, created_at, intake FROM storages s "
      "WHERE id > $1::bigint AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM storage_waste w "
      "WHERE w.storage_id = s.id AND w.waste_type = $3)) ORDER BY id LIMIT $2::int) s "
      "LEFT JOIN storage_waste w ON w.storage_id = s.id ORDER BY s.id, w.waste_type"),
    S(ST_ST_GET, "SELECT " STORAGE_COLUMNS " FROM storages s LEFT JOIN storage_waste w "
                 "ON w.storage_id = s.id WHERE s.id = $1::bigint ORDER BY w.waste_type"),
    /* The storage ST_ST_CREATE just made, in the same transaction. */
    S(ST_ST_GET_NEW,
      "SELECT " STORAGE_COLUMNS " FROM storages s LEFT JOIN storage_waste w "
      "ON w.storage_id = s.id WHERE s.id = currval(pg_get_serial_sequence('storages', 'id')) "
      "ORDER BY w.waste_type"),
    /* $3 the intake, NULL for the default. */
    S(ST_ST_CREATE, "WITH s AS (INSERT INTO storages (name, intake) VALUES ($1, coalesce($3, "
                    "'automatic')) RETURNING id), "
                    "w AS (INSERT INTO storage_waste (storage_id, waste_type, capacity) "
                    "SELECT s.id, e.key, e.value::bigint FROM s, jsonb_each_text($2::jsonb) e) "
                    "SELECT id FROM s"),
    /* Lowering a capacity below the stock plus what is reserved for loads in transit violates
     * storage_waste_stock_within_capacity. $4 the intake or NULL: switching it leaves loads
     * already in transit as they are (each shipment says whether it travels). */
    S(ST_ST_PATCH,
      "WITH s AS (UPDATE storages SET name = coalesce($2, name), intake = coalesce($4, "
      "intake) WHERE id = $1::bigint RETURNING id), "
      "up AS (INSERT INTO storage_waste (storage_id, waste_type, capacity) "
      "SELECT s.id, e.key, (e.value)::bigint FROM s, jsonb_each($3::jsonb) e "
      "WHERE jsonb_typeof(e.value) = 'number' ON CONFLICT (storage_id, waste_type) "
      "DO UPDATE SET capacity = EXCLUDED.capacity) "
      "SELECT wf_check(count(*) = 1, 'WF404', 'Storage not found.') FROM s"),
    /* SQL fixes no evaluation order among WHERE conditions: the CASE makes sure the
     * check runs only for the types being removed. */
    S(ST_ST_REMOVE_TYPES,
      "DELETE FROM storage_waste w USING jsonb_each($2::jsonb) e WHERE w.storage_id = "
      "$1::bigint AND w.waste_type = e.key AND CASE WHEN jsonb_typeof(e.value) = 'null' "
      "THEN wf_check(w.stock = 0 AND w.reserved = 0, 'WF409', 'cannot stop accepting ' || "
      "w.waste_type || ': the storage holds ' || w.stock || ' kg of it and ' || w.reserved || "
      "' kg are on their way to it') ELSE false END"),
    S(ST_ST_HAS_TYPES,
      "SELECT wf_check(EXISTS (SELECT 1 FROM storage_waste WHERE storage_id = $1::bigint) OR "
      "NOT EXISTS (SELECT 1 FROM storages WHERE id = $1::bigint), 'WF422', "
      "'capacity|a storage must accept at least one waste type')"),
    S(ST_ST_LOCK,
      "SELECT wf_check(count(*) = 1, 'WF404', 'Storage not found.') FROM (SELECT id FROM "
      "storages WHERE id = $1::bigint FOR UPDATE) s"),
    /* Unload: NO KEY UPDATE, which a transfer's shipment foreign-key check (KEY SHARE)
     * does not wait for; FOR UPDATE here deadlocked with transfers holding the stock row. */
    S(ST_ST_LOCK_UNLOAD,
      "SELECT wf_check(count(*) = 1, 'WF404', 'Storage not found.') FROM (SELECT id FROM "
      "storages WHERE id = $1::bigint FOR NO KEY UPDATE) s"),
    /* Its routes go with it, logged by the routes table's triggers (as ST_ORG_DELETE). */
    S(ST_ST_DELETE,
      "WITH d AS (DELETE FROM storages WHERE id = $1::bigint AND wf_check(NOT EXISTS (SELECT 1 "
      "FROM storage_waste WHERE storage_id = $1::bigint AND (stock > 0 OR reserved > 0)), 'WF409', "
      "'the storage still holds waste, or loads in transit are reserved at it') RETURNING id) "
      "SELECT id FROM d"),
    /* $1 storage, $2 text[] types */
    S(ST_ST_UNLOAD_CHECK,
      "SELECT wf_check(q.t IS NULL, 'WF422', q.t || '|the storage does not accept this waste "
      "type') FROM (SELECT (SELECT t FROM unnest($2::text[]) t WHERE NOT EXISTS (SELECT 1 "
      "FROM storage_waste w WHERE w.storage_id = $1::bigint AND w.waste_type = t) ORDER BY t "
      "LIMIT 1) AS t) q"),
    /* $1 storage, $2 text[] types, $3 bigint[] amounts, $4 actor. Unloading more than the
     * stock violates storage_waste_stock_within_capacity. */
    S(ST_ST_UNLOAD,
      "WITH x AS (SELECT * FROM unnest($2::text[], $3::bigint[]) AS x(waste_type, amount) "
      "WHERE amount > 0), u AS (UPDATE storage_waste w SET stock = w.stock - x.amount FROM x "
      "WHERE w.storage_id = $1::bigint AND w.waste_type = x.waste_type "
      "RETURNING w.waste_type, x.amount) INSERT INTO unloads (storage_id, waste_type, amount, "
      "actor) SELECT $1::bigint, waste_type, amount, $4 FROM u"),

    /* Routes: $1 the cursor, $2 limit + 1, $3 a node key ('o12', 's7') or NULL. */
    S(ST_RT_LIST,
      "SELECT " ROUTE_COLUMNS " FROM routes WHERE id > $1::bigint AND ($3::text IS NULL OR "
      "from_node = $3 OR to_node = $3) ORDER BY id LIMIT $2::int"),
    S(ST_RT_GET, "SELECT " ROUTE_COLUMNS " FROM routes WHERE id = $1::bigint"),
    /* $1 from node key, $2 to node key, $3 two_way: a road back that is two-way, or any
     * road back when the new one is two-way, already joins this ordered pair. */
    S(ST_RT_REVERSE_CHECK,
      "SELECT wf_check(NOT EXISTS (SELECT 1 FROM routes WHERE from_node = $2 AND to_node = $1 "
      "AND (two_way OR $3::boolean)), 'WF409', 'a road already joins these nodes in this "
      "direction')"),
    S(ST_RT_CREATE,
      "INSERT INTO routes (from_organization_id, from_storage_id, to_organization_id, "
      "to_storage_id, distance_m, two_way) VALUES ($1::bigint, $2::bigint, $3::bigint, "
      "$4::bigint, $5::bigint, $6::boolean) RETURNING " ROUTE_COLUMNS),
    /* $1 id, $2 new two_way or NULL */
    S(ST_RT_PATCH_CHECK,
      "SELECT wf_check(NOT ($2::boolean IS TRUE AND EXISTS (SELECT 1 FROM routes r, routes b "
      "WHERE r.id = $1::bigint AND b.from_node = r.to_node AND b.to_node = r.from_node)), "
      "'WF409', 'a road already joins these nodes in the other direction')"),
    /* $1 id, $2 distance or NULL, $3 two_way or NULL. A PATCH that changes nothing writes
     * nothing (so no trigger moves the graph version or records a room event) and answers
     * the route as it is. */
    S(ST_RT_PATCH,
      "WITH u AS (UPDATE routes SET distance_m = coalesce($2::bigint, distance_m), "
      "two_way = coalesce($3::boolean, two_way) WHERE id = $1::bigint AND (distance_m, two_way) "
      "IS DISTINCT FROM (coalesce($2::bigint, distance_m), coalesce($3::boolean, two_way)) "
      "RETURNING " ROUTE_COLUMNS ") "
      "SELECT * FROM u UNION ALL SELECT " ROUTE_COLUMNS " FROM routes WHERE id = $1::bigint "
      "AND NOT EXISTS (SELECT 1 FROM u)"),
    S(ST_RT_DELETE, "WITH d AS (DELETE FROM routes WHERE id = $1::bigint RETURNING id) "
                    "SELECT wf_check(count(*) = 1, 'WF404', 'Route not found.') FROM d"),

    /* The organization's view of every storage: the graph version, whether it exists, how
     * many storages there are and the version of the types they accept (storage_census,
     * sql/migrations/010): a search that reached that many storages leaves none
     * unreachable, and a rare type's storages cached at that version are current. */
    S(ST_VIEW_HEAD, "SELECT (SELECT version FROM graph_state), EXISTS (SELECT 1 FROM organizations "
                    "WHERE id = $1::bigint), (SELECT storages FROM storage_census), "
                    "(SELECT types_version FROM storage_census)"),
    /* A page of the view among the reachable: of the storages $1 (ids in the view's order),
     * the first $4 that accept type $2 (NULL: any) and, when $3, have room (in $2, else in
     * any type); one row per storage and type, in $1's order. The filter is one primary-key
     * probe per id until the page is full, whatever the world's size: a LATERAL ... LIMIT 1
     * (an EXISTS is planned as a semi-join that reads every storage of the type). */
    S(ST_VIEW_STORAGES,
      "SELECT " STORAGE_COLUMNS " FROM (SELECT x.id, x.ord FROM unnest($1::bigint[]) WITH "
      "ORDINALITY AS x(id, ord), LATERAL (SELECT 1 FROM storage_waste f WHERE f.storage_id = "
      "x.id AND ($2::text IS NULL OR f.waste_type = $2) AND (NOT $3::boolean OR f.stock + "
      "f.reserved < f.capacity) LIMIT 1) accepted ORDER BY x.ord LIMIT $4::int) m JOIN storages s "
      "ON s.id = "
      "m.id JOIN storage_waste w ON w.storage_id = m.id ORDER BY m.ord, w.waste_type"),
    /* The storages that accept type $1, the first $2 by id: the view's index for a type few
     * storages accept (core/type_members.h). An index-only range of storage_waste_type_idx
     * that ends after $2 entries, so a common type costs no more than a rare one. */
    S(ST_VIEW_TYPE_MEMBERS, "SELECT storage_id FROM storage_waste WHERE waste_type = $1 "
                            "ORDER BY storage_id LIMIT $2::int"),

    /* Transfers. The organization row lock serialises transfers of one organization;
     * it comes first, then storage rows in id order (never distance order). $1 the
     * organization, $2 the received codes (see TR_ORG_HEAD). */
    S(ST_TR_LOCK_ORG,
      TR_ORG_HEAD "nextval(pg_get_serial_sequence('transfers', 'id')), " SHIPMENT_BLOCK TR_ORG_FROM
                  " FOR NO KEY UPDATE"),
    /* More blocks ($1 how many) for a transfer with more shipments than one block holds. */
    S(ST_TR_SHIPMENT_BLOCKS, "SELECT " SHIPMENT_BLOCK " FROM generate_series(1, $1::int)"),
    /* A dry run: the same without the lock (and without spending an id). */
    S(ST_TR_PEEK_ORG, TR_ORG_HEAD "0, 0" TR_ORG_FROM),
    S(ST_TR_ORG_WASTE, "SELECT waste_type, capacity, pending FROM organization_waste "
                       "WHERE organization_id = $1::bigint ORDER BY waste_type"),
    /* The rooms a plan asked for ($1 storages, $2 types, pairwise, sorted by storage id and
     * type code), locking the rows that have room in that order; a full pair is neither
     * returned nor locked. LATERAL makes even the generic plan one primary-key probe a pair
     * (a join with unnest is otherwise planned for 100 pairs: a hash over the whole table). */
    S(ST_TR_ROOMS,
      "SELECT w.storage_id, w.waste_type, w.room, w.weighed FROM unnest($1::bigint[], $2::text[]) "
      "AS "
      "x(storage_id, waste_type), LATERAL (SELECT s.storage_id, s.waste_type, s.capacity - "
      "s.stock - s.reserved AS room, (SELECT intake = 'weighed' FROM storages i WHERE i.id = "
      "s.storage_id) AS weighed FROM storage_waste s WHERE s.storage_id = x.storage_id AND "
      "s.waste_type = x.waste_type AND s.stock + s.reserved < s.capacity FOR UPDATE) w"),
    /* The same for a later read that would lock out of id order: rather than wait (and risk
     * a deadlock), fail at once (55P03) and let the transaction start over. */
    S(ST_TR_ROOMS_NOWAIT,
      "SELECT w.storage_id, w.waste_type, w.room, w.weighed FROM unnest($1::bigint[], $2::text[]) "
      "AS "
      "x(storage_id, waste_type), LATERAL (SELECT s.storage_id, s.waste_type, s.capacity - "
      "s.stock - s.reserved AS room, (SELECT intake = 'weighed' FROM storages i WHERE i.id = "
      "s.storage_id) AS weighed FROM storage_waste s WHERE s.storage_id = x.storage_id AND "
      "s.waste_type = x.waste_type AND s.stock + s.reserved < s.capacity FOR UPDATE NOWAIT) w"),
    /* The same without locks: dry runs, and the dispatcher's look at rooms that appeared. */
    S(ST_TR_ROOMS_PEEK,
      "SELECT w.storage_id, w.waste_type, w.room, w.weighed FROM unnest($1::bigint[], $2::text[]) "
      "AS "
      "x(storage_id, waste_type), LATERAL (SELECT s.storage_id, s.waste_type, s.capacity - "
      "s.stock - s.reserved AS room, (SELECT intake = 'weighed' FROM storages i WHERE i.id = "
      "s.storage_id) AS weighed FROM storage_waste s WHERE s.storage_id = x.storage_id AND "
      "s.waste_type = x.waste_type AND s.stock + s.reserved < s.capacity) w"),
    /* Writes a batch of transfers in one statement. $1 ids, $2 organizations, $3 received,
     * $4 pending (JSON objects, one per transfer), $5 trigger, $6 actor; shipments $7
     * transfer ids, $8 positions, $9 storages, $10 types, $11 amounts, $12 distances; stock
     * added per pair $13 storages, $14 types, $15 amounts, $16 how many pairs. The stock
     * update is guarded: under the plan's row locks it cannot miss, and if it did the
     * transaction would start over (40001) rather than commit a short update.
     * ST_TR_RECORD_PENDING also writes pending_since ($17 organizations, $18 whether
     * anything stays pending) and the pending amounts that changed ($19 organizations, $20
     * types, $21 kg); a batch that changes neither (everything handed over was placed, and
     * nothing was pending before) runs ST_TR_RECORD. */
    S(ST_TR_RECORD, TR_RECORD_WRITES TR_RECORD_CHECK),
    S(ST_TR_RECORD_PENDING, TR_RECORD_WRITES TR_RECORD_PENDING TR_RECORD_CHECK),
    /* $1 the cursor, $2 limit + 1; $3 organization, $4 storage, $5 waste type filters
     * (NULL = any). $6 true for a storage's own principal: the type counts only in the
     * shipments to storage $4, what it is shown of a transfer (never what was received or
     * went elsewhere). */
    S(ST_TR_LIST,
      "SELECT " TRANSFER_COLUMNS " FROM (SELECT * FROM transfers t WHERE id > $1::bigint "
      "AND ($3::bigint IS NULL OR organization_id = $3::bigint) AND ($4::bigint IS NULL OR "
      "EXISTS (SELECT 1 FROM shipments s WHERE s.transfer_id = t.id AND s.storage_id = "
      "$4::bigint)) AND ($5::text IS NULL OR (NOT $6::boolean AND t.received ? $5) OR EXISTS "
      "(SELECT 1 FROM shipments s WHERE s.transfer_id = t.id AND s.waste_type = $5 AND (NOT "
      "$6::boolean OR s.storage_id = $4::bigint))) ORDER BY id "
      "LIMIT $2::int) t LEFT JOIN shipments s ON s.transfer_id = t.id "
      "ORDER BY t.id, s.position"),
    /* $2 the organization, $3 the storage a scoped principal is confined to, or NULL: a
     * transfer it may not see is not found. */
    S(ST_TR_GET, "SELECT " TRANSFER_COLUMNS " FROM transfers t LEFT JOIN shipments s "
                 "ON s.transfer_id = t.id WHERE t.id = $1::bigint AND ($2::bigint IS NULL OR "
                 "t.organization_id = $2::bigint) AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM "
                 "shipments x WHERE x.transfer_id = t.id AND x.storage_id = $3::bigint)) "
                 "ORDER BY s.position"),

    /* Movements: $1 the cursor, $2 limit + 1; filters (NULL = any) $3 organization, $4
     * storage, $5 status, $6 waste type. */
    S(ST_MV_LIST,
      "SELECT " MOVEMENT_COLUMNS " FROM " MOVEMENT_FROM " WHERE s.id > $1::bigint "
      "AND ($3::bigint IS NULL OR t.organization_id = $3::bigint) AND ($4::bigint IS "
      "NULL OR s.storage_id = $4::bigint) AND ($5::text IS NULL OR $5 = " MOVEMENT_STATUS
      ") AND ($6::text IS NULL OR s.waste_type = $6) ORDER BY s.id LIMIT $2::int"),
    /* $2 the organization, $3 the storage a scoped principal is confined to, or NULL: a
     * movement it may not see is not found. */
    S(ST_MV_GET, "SELECT " MOVEMENT_COLUMNS " FROM " MOVEMENT_FROM " WHERE s.id = $1::bigint AND "
                 "($2::bigint IS NULL OR t.organization_id = $2::bigint) AND ($3::bigint IS NULL "
                 "OR s.storage_id = $3::bigint)"),
    /* Serializes the changes of one movement (its carrier, its receipt): the lock of its
     * carrier row, made if missing. The ledger rows themselves are never locked or updated. */
    S(ST_MV_LOCK, "INSERT INTO movement_carriers (shipment_id) SELECT id FROM shipments WHERE id = "
                  "$1::bigint ON CONFLICT (shipment_id) DO UPDATE SET updated_at = "
                  "movement_carriers.updated_at"),
    /* A receipt changes its organization's pending: the organization's row is locked before
     * any storage row, the order every transfer takes them in. */
    S(ST_MV_LOCK_ORG, "SELECT 1 FROM organizations WHERE id = (SELECT t.organization_id FROM "
                      "shipments s JOIN transfers t ON t.id = s.transfer_id WHERE s.id = "
                      "$1::bigint) FOR NO KEY UPDATE"),
    /* The movement under its lock (a statement of its own, so its snapshot sees what a change
     * that held the lock committed), then now(): the receipt's time. */
    S(ST_MV_HEAD, "SELECT " MOVEMENT_COLUMNS ", now() FROM " MOVEMENT_FROM " WHERE s.id = "
                  "$1::bigint"),
    /* $1 id, $2 whether to set the carrier to $3, $4 whether to set the vehicle to $5. */
    S(ST_MV_CARRIER,
      "UPDATE movement_carriers SET carrier = CASE WHEN $2::boolean THEN $3 ELSE carrier END, "
      "vehicle = CASE WHEN $4::boolean THEN $5 ELSE vehicle END, updated_at = now() WHERE "
      "shipment_id = $1::bigint"),
    /* The receipt of movement $1 (in transit, locked): $2 received, $3 rejected, $4 reason, $5
     * ticket, $6 who. One statement: the receipt row; the reservation released and the
     * accepted kilograms added to stock (more than the room the reservation leaves violates
     * storage_waste_stock_within_capacity); the rejected kilograms back to the organization's
     * pending with pending_since, and a room event of the type so the dispatcher places them
     * again; the variance running total. The guard makes a missed storage row a retry. */
    S(ST_MV_RECEIVE,
      "WITH m AS (SELECT s.id, s.storage_id, s.waste_type, s.amount, t.organization_id FROM "
      "shipments s JOIN transfers t ON t.id = s.transfer_id WHERE s.id = $1::bigint), "
      "r AS (INSERT INTO receipts (shipment_id, received_kg, rejected_kg, rejection_reason, "
      "ticket, received_by) SELECT m.id, $2::bigint, $3::bigint, $4, $5, $6 FROM m), "
      "st AS (UPDATE storage_waste w SET reserved = w.reserved - m.amount, stock = w.stock + "
      "($2::bigint - $3::bigint) FROM m WHERE w.storage_id = m.storage_id AND w.waste_type = "
      "m.waste_type RETURNING 1), "
      "back AS (INSERT INTO organization_waste AS w (organization_id, waste_type, pending) "
      "SELECT m.organization_id, m.waste_type, $3::bigint FROM m WHERE $3::bigint > 0 ON "
      "CONFLICT (organization_id, waste_type) DO UPDATE SET pending = w.pending + "
      "EXCLUDED.pending), "
      "since AS (UPDATE organizations o SET pending_since = now() FROM m WHERE o.id = "
      "m.organization_id AND $3::bigint > 0 AND o.pending_since IS NULL), "
      "variance AS (INSERT INTO waste_totals AS w (waste_type, shard, variance) SELECT "
      "m.waste_type, pg_backend_pid() % 64, m.amount - $2::bigint FROM m WHERE m.amount <> "
      "$2::bigint ON CONFLICT (waste_type, shard) DO UPDATE SET variance = w.variance + "
      "EXCLUDED.variance), "
      "hint AS (INSERT INTO room_events (storage_id, waste_type) SELECT m.storage_id, "
      "m.waste_type FROM m WHERE $3::bigint > 0) "
      "SELECT wf_check((SELECT count(*) FROM st) = 1, '40001', 'the storage row moved')"),

    /* Per waste type: generated, pending, stored, unloaded, capacity, remaining, in transit
     * (what is reserved: the planned kilograms of the movements in transit, which
     * sql/audit.sql checks) and variance. The ledger's part comes from waste_totals (kept by
     * triggers), so the cost grows with the organizations and storages, never with the ledger. */
    S(ST_STATS,
      "SELECT w.code, coalesce(g.generated, 0), coalesce(p.kg, 0), coalesce(s.stock, 0), "
      "coalesce(g.unloaded, 0), coalesce(s.capacity, 0), coalesce(s.capacity - s.stock - "
      "s.reserved, 0), coalesce(s.reserved, 0), coalesce(g.variance, 0) "
      "FROM waste_types w "
      "LEFT JOIN (SELECT waste_type AS code, sum(generated) AS generated, sum(unloaded) AS "
      "unloaded, sum(variance) AS variance FROM waste_totals GROUP BY 1) g ON g.code = w.code "
      "LEFT JOIN (SELECT waste_type AS code, sum(pending) AS kg FROM organization_waste "
      "GROUP BY 1) p ON p.code = w.code "
      "LEFT JOIN (SELECT waste_type AS code, sum(stock) AS stock, sum(capacity) AS capacity, "
      "sum(reserved) AS reserved FROM storage_waste GROUP BY 1) s ON s.code = w.code "
      "ORDER BY w.code"),
    /* Webhooks (sql/migrations/015_webhooks.sql, docs/webhooks.md). $1 url, $2 text[]
     * events, $3 the sealed secret. */
    S(ST_WH_CREATE, "INSERT INTO webhooks (url, events, secret) VALUES ($1, $2::text[], $3) "
                    "RETURNING " WEBHOOK_COLUMNS),
    /* $1 the cursor, $2 limit + 1. */
    S(ST_WH_LIST, "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE id > $1::bigint ORDER BY id "
                  "LIMIT $2::int"),
    S(ST_WH_GET, "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE id = $1::bigint"),
    S(ST_WH_DELETE, "WITH d AS (DELETE FROM webhooks WHERE id = $1::bigint RETURNING id) "
                    "SELECT wf_check(count(*) = 1, 'WF404', 'Webhook not found.') FROM d"),
    S(ST_WH_EXISTS, "SELECT wf_check(count(*) = 1, 'WF404', 'Webhook not found.') FROM webhooks "
                    "WHERE id = $1::bigint"),
    /* $1 the webhook, $2 the cursor, $3 limit + 1. */
    S(ST_WH_DELIVERIES,
      "SELECT id, webhook_id, outbox_id, event_type, attempt, status_code, at FROM "
      "webhook_deliveries WHERE webhook_id = $1::bigint AND id > $2::bigint ORDER BY id "
      "LIMIT $3::int"),
    /* The sender's lease, as the dispatcher's: $1 this instance's holder id, $2 the lease in
     * milliseconds. Renewed once a third of it has passed; taken by another only once
     * expired, and then the term moves on. Returns the term and whether this instance
     * holds it. */
    S(ST_WH_LEASE,
      "WITH taken AS (UPDATE webhook_sender_lease SET holder = $1, term = CASE WHEN holder = $1 "
      "THEN term ELSE term + 1 END, expires_at = clock_timestamp() + $2::int * interval "
      "'1 millisecond' WHERE expires_at < clock_timestamp() OR (holder = $1 AND expires_at < "
      "clock_timestamp() + $2::int * 2 / 3 * interval '1 millisecond') RETURNING term), "
      "held AS (SELECT term FROM webhook_sender_lease WHERE holder = $1 AND expires_at > "
      "clock_timestamp()), "
      "lease AS (SELECT coalesce((SELECT term FROM taken), (SELECT term FROM held)) AS term) "
      "SELECT coalesce(term, 0), term IS NOT NULL FROM lease"),
    S(ST_WH_RELEASE, "UPDATE webhook_sender_lease SET expires_at = '-infinity' WHERE holder = $1 "
                     "AND term = $2::bigint"),
    /* What is due: per endpoint, of its $1 oldest undelivered messages, those whose time has
     * come and that are not in flight here ($2). Oldest first per endpoint, so with one in
     * flight at a time they go in order. */
    S(ST_WH_DUE,
      "SELECT o.id, o.webhook_id, o.event_type, o.entity_id, o.attempts, w.url, w.secret, "
      "to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
      "o.next_attempt_at <= clock_timestamp() FROM webhooks w CROSS JOIN LATERAL "
      "(SELECT * FROM webhook_outbox o WHERE o.webhook_id = w.id AND o.done_at IS NULL "
      "ORDER BY o.id LIMIT $1::int) o WHERE o.id <> ALL ($2::bigint[]) ORDER BY o.webhook_id, "
      "o.id LIMIT 1000"),
    /* Messages finished (delivered or given up) more than a week ago go, with their attempts,
     * a batch at a time, by the lease's holder ($1) only. */
    S(ST_WH_PRUNE,
      "DELETE FROM webhook_outbox WHERE id IN (SELECT id FROM webhook_outbox WHERE done_at < "
      "clock_timestamp() - interval '7 days' ORDER BY done_at LIMIT 10000) AND EXISTS (SELECT 1 "
      "FROM webhook_sender_lease WHERE holder = $1 AND expires_at > clock_timestamp())"),
    /* One attempt's outcome: $1 the message, $2 the HTTP status (NULL: no answer), $3
     * delivered, $4 the wait before the next attempt (ms), $5 $6 the lease it was sent
     * under (an instance that lost it records nothing: the new holder sends again). Past
     * 24 h the message is given up. */
    S(ST_WH_RECORD,
      "WITH o AS (UPDATE webhook_outbox SET attempts = attempts + 1, "
      "next_attempt_at = clock_timestamp() + $4::bigint * interval '1 millisecond', "
      "done_at = CASE WHEN $3::boolean OR created_at + interval '24 hours' < clock_timestamp() "
      "+ $4::bigint * interval '1 millisecond' THEN clock_timestamp() END, "
      "delivered = CASE WHEN $3::boolean THEN true WHEN created_at + interval '24 hours' < "
      "clock_timestamp() + $4::bigint * interval '1 millisecond' THEN false END "
      "WHERE id = $1::bigint AND done_at IS NULL AND EXISTS (SELECT 1 FROM webhook_sender_lease "
      "WHERE holder = $5 AND term = $6::bigint) RETURNING id, webhook_id, event_type, attempts) "
      "INSERT INTO webhook_deliveries (webhook_id, outbox_id, event_type, attempt, status_code) "
      "SELECT webhook_id, id, event_type, attempts, $2::int FROM o"),
    S(ST_WH_UNLOAD, "SELECT id, storage_id, waste_type, amount, actor, created_at FROM unloads "
                    "WHERE id = $1::bigint"),

    /* A page of the movements export: $1 the last movement id sent, $2 $3 the period of the
     * transfers' created_at (NULL: open), $4 the page size. Columns in the CSV's order. An
     * automatic storage's movement was received and accepted as planned. */
    S(ST_EX_MOVEMENTS,
      "SELECT s.id, s.transfer_id, to_char(t.created_at AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), t.organization_id, o.name, s.storage_id, st.name, "
      "s.waste_type, s.amount, " MOVEMENT_STATUS ", "
      "CASE WHEN r.id IS NOT NULL THEN r.received_kg WHEN NOT s.in_transit THEN s.amount END, "
      "CASE WHEN r.id IS NOT NULL THEN r.accepted_kg WHEN NOT s.in_transit THEN s.amount END, "
      "CASE WHEN r.id IS NOT NULL THEN r.rejected_kg WHEN NOT s.in_transit THEN 0 END, "
      "s.distance_m, t.actor FROM shipments s JOIN transfers t ON t.id = s.transfer_id "
      "JOIN organizations o ON o.id = t.organization_id JOIN storages st ON st.id = s.storage_id "
      "LEFT JOIN receipts r ON r.shipment_id = s.id WHERE s.id > $1::bigint AND "
      "($2::timestamptz IS NULL OR t.created_at >= $2::timestamptz) AND ($3::timestamptz IS NULL "
      "OR t.created_at < $3::timestamptz) ORDER BY s.id LIMIT $4::int"),
    /* The balance of each waste type over [$1, $2) (NULL: open): generated, accepted,
     * rejected, unloaded and variance within it; pending and in transit at its end — with no
     * end, the live figures /v1/stats reads; with one, replayed from the ledger up to it
     * (pending = generated - planned + rejected). */
    S(ST_BALANCE,
      "WITH b AS (SELECT coalesce($1::timestamptz, '-infinity') AS lo, "
      "coalesce($2::timestamptz, 'infinity') AS hi, $2::timestamptz IS NULL AS live), "
      "g AS (SELECT r.key AS code, sum(r.value::bigint) FILTER (WHERE t.created_at >= b.lo) AS "
      "generated, sum(r.value::bigint) AS upto FROM b, transfers t, jsonb_each_text(t.received) r "
      "WHERE t.created_at < b.hi AND t.received <> '{}'::jsonb GROUP BY 1), "
      "m AS (SELECT s.waste_type AS code, sum(s.amount) FILTER (WHERE NOT s.in_transit AND "
      "t.created_at >= b.lo) AS accepted, sum(s.amount) AS planned, sum(s.amount) FILTER (WHERE "
      "s.in_transit AND NOT EXISTS (SELECT 1 FROM receipts r WHERE r.shipment_id = s.id AND "
      "r.received_at < b.hi)) AS in_transit FROM b, shipments s JOIN transfers t ON t.id = "
      "s.transfer_id WHERE t.created_at < b.hi AND NOT b.live GROUP BY 1), "
      "a AS (SELECT s.waste_type AS code, sum(r.accepted_kg) FILTER (WHERE r.received_at >= b.lo) "
      "AS accepted, sum(r.rejected_kg) FILTER (WHERE r.received_at >= b.lo) AS rejected, "
      "sum(s.amount - r.received_kg) FILTER (WHERE r.received_at >= b.lo) AS variance, "
      "sum(r.rejected_kg) AS rejected_upto FROM b, receipts r JOIN shipments s ON s.id = "
      "r.shipment_id WHERE r.received_at < b.hi GROUP BY 1), "
      "auto AS (SELECT s.waste_type AS code, sum(s.amount) AS accepted FROM b, transfers t JOIN "
      "shipments s ON s.transfer_id = t.id WHERE b.live AND NOT s.in_transit AND t.created_at >= "
      "b.lo GROUP BY 1), "
      "u AS (SELECT waste_type AS code, sum(amount) AS unloaded FROM b, unloads WHERE created_at "
      ">= b.lo AND created_at < b.hi GROUP BY 1), "
      "p AS (SELECT waste_type AS code, sum(pending) AS pending FROM organization_waste GROUP BY "
      "1), "
      "r AS (SELECT waste_type AS code, sum(reserved) AS reserved FROM storage_waste GROUP BY 1) "
      "SELECT w.code, coalesce(g.generated, 0), coalesce(m.accepted, auto.accepted, 0) + "
      "coalesce(a.accepted, 0), coalesce(a.rejected, 0), coalesce(u.unloaded, 0), "
      "coalesce(a.variance, 0), CASE WHEN b.live THEN coalesce(p.pending, 0) ELSE "
      "coalesce(g.upto, 0) - coalesce(m.planned, 0) + coalesce(a.rejected_upto, 0) END, "
      "CASE WHEN b.live THEN coalesce(r.reserved, 0) ELSE coalesce(m.in_transit, 0) END "
      "FROM b, waste_types w LEFT JOIN g ON g.code = w.code LEFT JOIN m ON m.code = w.code "
      "LEFT JOIN a ON a.code = w.code LEFT JOIN auto ON auto.code = w.code LEFT JOIN u ON "
      "u.code = w.code LEFT JOIN p ON p.code = w.code LEFT JOIN r ON r.code = w.code "
      "ORDER BY w.code"),
    S(ST_PING, "SELECT 1"),
    /* Allocation plans (engine/plans.c), in one read-only snapshot. $1 the batch's
     * organization ids: the lowest that does not exist, or NULL. */
    S(ST_PLAN_UNKNOWN_ORG, "SELECT min(u.id) FROM unnest($1::bigint[]) u(id) "
                           "WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = u.id)"),
    /* $1 the batch's types: every storage's room for them, where it has any (reserved
     * kilograms, held for loads in transit, are not room). */
    S(ST_PLAN_ROOMS,
      "SELECT storage_id, waste_type, capacity - stock - reserved FROM storage_waste "
      "WHERE waste_type = ANY($1::text[]) AND capacity > stock + reserved"),
    /* Generic plans for the rest of a read's round (its implicit transaction ends at the
     * round's Sync, and the setting with it): sent by tx before a round that holds a
     * statement of statement_wants_generic_plan. */
    S(ST_GENERIC_PLANS, "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"),
    S(ST_PENDING_BY_TYPE,
      "SELECT w.code, coalesce(sum(o.pending), 0) FROM waste_types w LEFT JOIN "
      "organization_waste o ON o.waste_type = w.code GROUP BY w.code ORDER BY w.code"),
    /* The dispatcher's lease (sql/migrations/007): $1 this instance's holder id, $2 the
     * lease in milliseconds. The holder renews it once a third of it has passed (a poll woken
     * by every notification writes nothing more); anyone else takes it only once expired,
     * and then the term moves on. Returns the term, whether this instance leads, and whether
     * room events wait. */
    S(ST_DISPATCH_POLL,
      "WITH taken AS (UPDATE dispatcher_lease SET holder = $1, term = CASE WHEN holder = $1 "
      "THEN term ELSE term + 1 END, expires_at = clock_timestamp() + $2::int * interval "
      "'1 millisecond' WHERE expires_at < clock_timestamp() OR (holder = $1 AND expires_at < "
      "clock_timestamp() + $2::int * 2 / 3 * interval '1 millisecond') RETURNING term), "
      "held AS (SELECT term FROM dispatcher_lease WHERE holder = $1 AND expires_at > "
      "clock_timestamp()), "
      "lease AS (SELECT coalesce((SELECT term FROM taken), (SELECT term FROM held)) AS term) "
      "SELECT coalesce(term, 0), term IS NOT NULL, term IS NOT NULL AND EXISTS (SELECT 1 FROM "
      "room_events) FROM lease"),
    /* Renews the lease during a sweep ($3 the term it was taken in): no row, it was lost. */
    S(ST_DISPATCH_RENEW,
      "UPDATE dispatcher_lease SET expires_at = clock_timestamp() + $2::int * interval "
      "'1 millisecond' WHERE holder = $1 AND term = $3::bigint RETURNING term"),
    /* Gives the lease up at shutdown, so another instance takes over at its next poll. */
    S(ST_DISPATCH_RELEASE,
      "UPDATE dispatcher_lease SET expires_at = '-infinity' WHERE holder = $1 AND term = "
      "$2::bigint"),
    /* Room this instance committed, told to the leader in a transaction of its own after
     * the commit (sql/migrations/011_room_hint.sql): a NOTIFY in the writing transaction
     * would serialize its commit with every other notifying one. */
    S(ST_DISPATCH_HINT, "SELECT pg_notify('wasteflow_room', '')"),
    /* Takes up to $1 room events (a crashed leader loses the ones it took; the next leader
     * starts with a full sweep). */
    S(ST_DISPATCH_TAKE,
      "DELETE FROM room_events WHERE id IN (SELECT id FROM room_events ORDER BY id LIMIT "
      "$1::int) RETURNING storage_id, waste_type, from_node"),
    /* A new leader sweeps everything, so what came before is handled. */
    S(ST_DISPATCH_CLEAR, "DELETE FROM room_events"),
    /* Pending organizations, oldest first, after the cursor ($1 pending_since text or NULL,
     * $2 id), $3 a text[] of types at least one of which must be pending (NULL: any), $4
     * how many organizations: one row per pending type. */
    S(ST_DISPATCH_PENDING,
      "SELECT o.id, o.pending_since, w.waste_type, w.pending FROM (SELECT id, pending_since "
      "FROM organizations o WHERE pending_since IS NOT NULL AND ($1::timestamptz IS NULL OR "
      "(pending_since, id) > ($1::timestamptz, $2::bigint)) AND ($3::text[] IS NULL OR EXISTS "
      "(SELECT 1 FROM organization_waste x WHERE x.organization_id = o.id AND x.pending > 0 AND "
      "x.waste_type = ANY ($3::text[]))) ORDER BY pending_since, id LIMIT $4::int) o JOIN "
      "organization_waste w ON w.organization_id = o.id AND w.pending > 0 "
      "ORDER BY o.pending_since, o.id, w.waste_type"),
    /* A batch: lock the organizations no one else is serving, in id order; an id and the
     * time for each; the graph version. */
    S(ST_DISPATCH_LOCK,
      "SELECT id, nextval(pg_get_serial_sequence('transfers', 'id')), now(), (SELECT version "
      "FROM graph_state), " SHIPMENT_BLOCK
      " FROM organizations WHERE id = ANY ($1::bigint[]) ORDER BY id "
      "FOR NO KEY UPDATE SKIP LOCKED"),
    S(ST_DISPATCH_WASTE, "SELECT organization_id, waste_type, capacity, pending FROM "
                         "organization_waste WHERE organization_id = ANY ($1::bigint[]) "
                         "ORDER BY organization_id, waste_type"),
    /* Room hints, whole storages at a time: $1 after this storage id, $2 how many. */
    S(ST_ROOMS_PAGE,
      "SELECT storage_id, waste_type, capacity - stock - reserved FROM storage_waste WHERE "
      "storage_id IN "
      "(SELECT id FROM storages WHERE id > $1::bigint ORDER BY id LIMIT $2::int) "
      "ORDER BY storage_id, waste_type"),

    /* API keys. The key cache ($1 the version it holds): one row with the version when
     * nothing changed, else every key (expiry as Unix seconds). */
    S(ST_KEYS_SNAPSHOT,
      "SELECT s.version, k.id, k.secret_hash, k.role, k.organization_id, k.storage_id, "
      "extract(epoch FROM k.expires_at)::bigint, k.revoked_at IS NOT NULL "
      "FROM api_keys_state s LEFT JOIN api_keys k ON s.version <> $1::bigint ORDER BY k.id"),
    /* $1 an expiry time or NULL. */
    S(ST_KEY_EXPIRY_CHECK,
      "SELECT wf_check($1::timestamptz IS NULL OR $1::timestamptz > now(), 'WF422', "
      "'expires_at|must be a time in the future')"),
    /* $1 hash (hex), $2 role, $3 organization, $4 storage, $5 name, $6 expires_at. */
    S(ST_KEY_CREATE,
      "INSERT INTO api_keys (secret_hash, role, organization_id, storage_id, name, expires_at) "
      "VALUES (decode($1, 'hex'), $2, $3::bigint, $4::bigint, $5, $6::timestamptz) "
      "RETURNING " KEY_COLUMNS),
    /* $1 the cursor, $2 limit + 1. */
    S(ST_KEY_LIST,
      "SELECT " KEY_COLUMNS " FROM api_keys WHERE id > $1::bigint ORDER BY id LIMIT $2::int"),
    S(ST_KEY_GET, "SELECT " KEY_COLUMNS " FROM api_keys WHERE id = $1::bigint"),
    /* Revoking twice keeps the first time. */
    S(ST_KEY_REVOKE, "WITH r AS (UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
                     "WHERE id = $1::bigint RETURNING id) "
                     "SELECT wf_check(count(*) = 1, 'WF404', 'API key not found.') FROM r"),
    /* Whether the session's role is a superuser or owns the schema's tables (serve warns). */
    S(ST_ROLE_CHECK,
      "SELECT r.rolsuper, EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND "
      "tableowner = current_user), current_user FROM pg_roles r WHERE r.rolname = current_user"),

    /* Live events (engine/events.c). The ledger position the newest committed transfer
     * has (transfer_commits follows commit order: sql/migrations/005_events.sql). */
    /* The live feed (engine/events_feed.c): rows by their writer's transaction id, below
     * the statement's horizon (wf_feed_horizon, 008_feed.sql; an InitPlan, computed once
     * per statement), in (xid, id) order. Where a new
     * reader starts: the horizon, and the last transfer below it. */
    S(ST_FEED_START, "SELECT h.h::text, coalesce(t.xid, '0')::text, coalesce(t.id, 0) FROM (SELECT "
                     "wf_feed_horizon() AS h) h LEFT JOIN LATERAL (SELECT xid, id FROM transfers "
                     "WHERE xid < h.h ORDER BY xid DESC, id DESC LIMIT 1) t ON true"),
    /* Transfers after ($1 xid8, $2 id), below the horizon and, unless $3 is NULL, at most
     * ($3 xid8, $4 id); at most $5; $6 the organization, $7 a storage they shipped to (NULL:
     * any). The transfer's columns as TRANSFER_COLUMNS, then its xid. The shipments are
     * looked up per transfer (OFFSET 0 keeps the planner from hashing the whole table when
     * its estimate of what lies past the cursor is stale). */
    S(ST_FEED_TRANSFERS,
      "SELECT " TRANSFER_COLUMNS ", t.xid::text FROM (SELECT t.* FROM transfers t WHERE "
      "(t.xid, t.id) > ($1::xid8, $2::bigint) AND t.xid < (SELECT wf_feed_horizon()) "
      "AND ($3::xid8 IS NULL OR (t.xid, t.id) <= ($3::xid8, $4::bigint)) AND ($6::bigint IS "
      "NULL OR t.organization_id = $6::bigint) AND ($7::bigint IS NULL OR EXISTS (SELECT 1 FROM "
      "shipments x WHERE x.transfer_id = t.id AND x.storage_id = $7::bigint)) ORDER BY t.xid, "
      "t.id LIMIT $5::int) t LEFT JOIN LATERAL (SELECT * FROM shipments s WHERE s.transfer_id "
      "= t.id OFFSET 0) s ON true ORDER BY t.xid, t.id, s.position"),
    /* Where a Last-Event-ID (a transfer id, $1) stands: its xid (no row: not this ledger's). */
    S(ST_FEED_POSITION, "SELECT xid::text FROM transfers WHERE id = $1::bigint"),
    /* What the triggers logged after ($1 xid8, $2 seq) below the horizon, at most $3 rows,
     * one row per id: xid, seq, kind, id. */
    S(ST_FEED_LOG, "SELECT l.xid::text, l.seq, l.kind::text, i.id FROM (SELECT l.* FROM "
                   "event_log l WHERE (l.xid, l.seq) > ($1::xid8, $2::bigint) AND l.xid < "
                   "(SELECT wf_feed_horizon()) ORDER BY l.xid, l.seq LIMIT $3::int) l, "
                   "unnest(l.ids) AS i(id) ORDER BY l.xid, l.seq"),
    /* The log's rows no reader needs any more. */
    S(ST_FEED_PRUNE, "DELETE FROM event_log WHERE at < now() - interval '1 hour'"),
    /* Unloads by id ($1 bigint[]): one unload request's rows (one storage, time and actor)
     * come together. */
    S(ST_EV_UNLOADS, "SELECT id, storage_id, waste_type, amount, actor, created_at FROM unloads "
                     "WHERE id = ANY ($1::bigint[]) ORDER BY storage_id, created_at, actor, id"),
    /* Storages, organizations and routes by id ($1 bigint[]); the missing ones are gone. */
    S(ST_EV_STORAGES,
      "SELECT " STORAGE_COLUMNS " FROM storages s LEFT JOIN storage_waste w ON w.storage_id = "
      "s.id WHERE s.id = ANY ($1::bigint[]) ORDER BY s.id, w.waste_type"),
    S(ST_EV_ORGANIZATIONS,
      "SELECT " ORGANIZATION_COLUMNS " FROM organizations o LEFT JOIN organization_waste w "
      "ON w.organization_id = o.id WHERE o.id = ANY ($1::bigint[]) ORDER BY o.id, w.waste_type"),
    /* Movements by id ($1 bigint[]), as they are now. */
    S(ST_EV_MOVEMENTS, "SELECT " MOVEMENT_COLUMNS " FROM " MOVEMENT_FROM " WHERE s.id = ANY "
                       "($1::bigint[]) ORDER BY s.id"),
    /* Logs 'movement' events for the feed ($1 bigint[] of movement ids), in the writing
     * transaction (sql/migrations/013); nothing when the feed is off. */
    S(ST_EV_LOG_MOVEMENTS, "SELECT wf_notify_ids('m', $1::bigint[])"),
    S(ST_EV_ROUTES, "SELECT " ROUTE_COLUMNS " FROM routes WHERE id = ANY ($1::bigint[]) "
                    "ORDER BY id"),
    /* A page of the view among the unreachable, by id: the first $6 storages (filtered as
     * ST_VIEW_STORAGES, $4 type, $5 has room) whose ids lie in the ranges [$1[i], $2[i]]
     * between reachable ids, at most $3[i] from range i (ascending, disjoint ranges). The
     * caller sizes the ranges so that they hold about a page: an index range scan each. */
    S(ST_VIEW_UNREACHABLE,
      "SELECT " STORAGE_COLUMNS " FROM (SELECT c.id FROM unnest($1::bigint[], $2::bigint[], "
      "$3::int[]) AS g(lo, hi, n), LATERAL (SELECT t.id FROM storages t WHERE t.id >= g.lo AND "
      "t.id <= g.hi AND EXISTS (SELECT 1 FROM storage_waste f WHERE f.storage_id = t.id AND "
      "($4::text IS NULL OR f.waste_type = $4) AND (NOT $5::boolean OR f.stock + f.reserved < "
      "f.capacity)) "
      "ORDER BY t.id LIMIT g.n) c ORDER BY c.id LIMIT $6::int) m JOIN storages s ON s.id = m.id "
      "JOIN storage_waste w ON w.storage_id = m.id ORDER BY s.id, w.waste_type"),

    /* ---------------------------------------------------------------- history, forecasts */
    /* History and forecasts are planned for their values (custom plans: a generic plan
     * cannot know how short the range is), and their round turns JIT compilation off: the
     * estimate of a long range can pass jit_above_cost, and compiling costs hundreds of
     * milliseconds where running costs a few. Local to the read's round (one implicit
     * transaction). */
    S(ST_NO_JIT, "SELECT set_config('jit', 'off', true)"),
    /* A history or forecast asks for storage $1's type $2: 404 without the storage, 422 for
     * a type that is unknown or that the storage does not take. */
    S(ST_HIST_CHECK,
      "SELECT wf_check(EXISTS (SELECT 1 FROM storages WHERE id = $1::bigint), 'WF404', "
      "'Storage not found.'), wf_check(EXISTS (SELECT 1 FROM waste_types WHERE code = $2), "
      "'WF422', 'waste_type|unknown waste type'), wf_check(EXISTS (SELECT 1 FROM storage_waste "
      "WHERE storage_id = $1::bigint AND waste_type = $2), 'WF422', 'waste_type|the storage does "
      "not take this waste type')"),
    /* Storage $1's type $2 in $5 buckets of $4 seconds from $3 (microseconds since the
     * epoch): each bucket's start, the kilograms accepted into stock (shipments that did not
     * travel, at their transfer's time; receipts' accepted_kg, at their receipt) and
     * unloaded in it, and the stock at its end: the current stock less everything that
     * changed after that end. Only the ledger's rows from the first bucket on are read,
     * through indexes (sql/migrations/014): the cost follows the range asked for. Every
     * transfer at or after the first bucket has an id no lower than the least id among
     * them, which bounds the storage's shipments on shipments_storage_idx too. */
    S(ST_HISTORY, "WITH lo AS MATERIALIZED (" LEAST_TRANSFER(
                      HISTORY_FIRST) "), "
                                     "changes AS (" LEDGER_CHANGES(
                                         HISTORY_FIRST) "), "
                                                        "binned AS (SELECT date_bin(" HISTORY_WIDTH
                                                        ", c.at, " HISTORY_FIRST ") AS start, "
                                                        "sum(c.in_kg) AS in_kg, sum(c.out_kg) AS "
                                                        "out_kg FROM changes c GROUP BY "
                                                        "1), "
                                                        "series AS (SELECT " HISTORY_FIRST
                                                        " + g * " HISTORY_WIDTH " AS start FROM "
                                                        "generate_series(0, $5::int - 1) g), "
                                                        "joined AS (SELECT coalesce(s.start, "
                                                        "x.start) AS start, s.start IS NOT "
                                                        "NULL AS asked, "
                                                        "coalesce(x.in_kg, 0) AS in_kg, "
                                                        "coalesce(x.out_kg, 0) AS out_kg FROM "
                                                        "series s FULL JOIN "
                                                        "binned x ON x.start = s.start), "
                                                        "run AS (SELECT start, asked, in_kg, "
                                                        "out_kg, coalesce(sum(in_kg - out_kg) "
                                                        "OVER (ORDER BY "
                                                        "start DESC ROWS BETWEEN UNBOUNDED "
                                                        "PRECEDING AND 1 PRECEDING), 0) AS "
                                                        "later FROM joined) "
                                                        "SELECT r.start, r.in_kg, r.out_kg, "
                                                        "w.stock - r.later FROM run r, "
                                                        "storage_waste w WHERE "
                                                        "r.asked AND w.storage_id = $1::bigint AND "
                                                        "w.waste_type = $2 ORDER BY "
                                                        "r.start"),
    /* Storage $1's type $2 over the last $3 seconds: stock, reserved, remaining, the least
     * squares slope of the stock after each change (one point per instant) against time in
     * kg a day (0 with fewer than two points), and now in microseconds since the epoch. */
    S(ST_FORECAST,
      "WITH lo AS MATERIALIZED (" LEAST_TRANSFER(
          FORECAST_FIRST) "), "
                          "w AS MATERIALIZED (SELECT stock, reserved, capacity FROM storage_waste "
                          "WHERE storage_id = "
                          "$1::bigint AND waste_type = $2), "
                          "changes AS (" LEDGER_CHANGES(
                              FORECAST_FIRST) "), "
                                              "points AS (SELECT at, sum(in_kg - out_kg) AS net "
                                              "FROM changes GROUP BY "
                                              "at), "
                                              "series AS (SELECT at, (SELECT stock FROM w) - "
                                              "coalesce(sum(net) OVER "
                                              "(ORDER BY at DESC "
                                              "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), "
                                              "0) AS stock FROM "
                                              "points), "
                                              "fit AS (SELECT count(*) AS n, "
                                              "regr_slope(stock::float8, extract(epoch "
                                              "FROM at)::float8) "
                                              "AS slope FROM series) "
                                              "SELECT w.stock, w.reserved, w.capacity - w.stock - "
                                              "w.reserved, CASE "
                                              "WHEN fit.n >= 2 THEN "
                                              "coalesce(fit.slope, 0) * 86400 ELSE 0 END, "
                                              "(extract(epoch FROM now()) * "
                                              "1000000)::bigint "
                                              "FROM w, fit"),

    /* ---------------------------------------------------------------- alerts */
    /* A rule: $1 storage (NULL: any), $2 type (NULL: any), $3 the threshold. Pairs already
     * above it start disarmed, so the rule fires on crossings after its creation. */
    S(ST_ALERT_CREATE,
      "WITH chk AS (SELECT wf_check($1::bigint IS NULL OR EXISTS (SELECT 1 FROM storages WHERE "
      "id = $1::bigint), 'WF422', 'storage_id|unknown storage') AND wf_check($2::text IS NULL OR "
      "EXISTS (SELECT 1 FROM waste_types WHERE code = $2), 'WF422', 'waste_type|unknown waste "
      "type') AS ok), "
      "a AS (INSERT INTO alerts (storage_id, waste_type, fill_ratio_above) SELECT $1::bigint, "
      "$2, $3::float8 FROM chk WHERE chk.ok RETURNING *), "
      "s AS (INSERT INTO alert_state (alert_id, storage_id, waste_type, armed) SELECT a.id, "
      "w.storage_id, w.waste_type, false FROM a JOIN storage_waste w ON (a.storage_id IS NULL OR "
      "w.storage_id = a.storage_id) AND (a.waste_type IS NULL OR w.waste_type = a.waste_type) "
      "WHERE w.capacity > 0 AND (w.stock + w.reserved)::float8 / w.capacity > "
      "a.fill_ratio_above) "
      "SELECT " ALERT_COLUMNS " FROM a"),
    /* Rules after id $1, at most $2. */
    S(ST_ALERT_LIST, "SELECT " ALERT_COLUMNS " FROM alerts WHERE id > $1::bigint ORDER BY id "
                     "LIMIT $2::int"),
    S(ST_ALERT_GET, "SELECT " ALERT_COLUMNS " FROM alerts WHERE id = $1::bigint"),
    S(ST_ALERT_DELETE, "WITH d AS (DELETE FROM alerts WHERE id = $1::bigint RETURNING id) "
                       "SELECT wf_check(EXISTS (SELECT 1 FROM d), 'WF404', 'Alert not found.')"),
    /* One evaluation, by the instance $1 holding (or taking, when it expired) alert_lease
     * for $2 ms more: every rule's matching pairs whose side of the threshold changed flip
     * their armed flag, and those that went above it while armed are recorded as firings
     * (which reach the feed through event_log). The lease row's lock orders evaluations, so
     * a crossing is recorded once even when two instances both believe they lead: the
     * second one's UPDATE finds the first's renewal and does nothing. Returns whether the
     * lease is held and how many fired. */
    S(ST_ALERT_EVALUATE,
      "WITH lease AS (UPDATE alert_lease SET holder = $1, expires_at = clock_timestamp() + "
      "$2::int * interval '1 millisecond' WHERE holder = $1 OR expires_at < clock_timestamp() "
      "RETURNING holder), "
      "cur AS (SELECT a.id AS alert_id, w.storage_id, w.waste_type, a.fill_ratio_above AS "
      "threshold, (w.stock + w.reserved)::float8 / w.capacity AS ratio, coalesce(st.armed, true) "
      "AS armed FROM alerts a JOIN storage_waste w ON (a.storage_id IS NULL OR w.storage_id = "
      "a.storage_id) AND (a.waste_type IS NULL OR w.waste_type = a.waste_type) LEFT JOIN "
      "alert_state st ON st.alert_id = a.id AND st.storage_id = w.storage_id AND st.waste_type = "
      "w.waste_type WHERE w.capacity > 0 AND EXISTS (SELECT 1 FROM lease)), "
      "flips AS MATERIALIZED (SELECT * FROM cur WHERE armed = (ratio > threshold)), "
      "saved AS (INSERT INTO alert_state (alert_id, storage_id, waste_type, armed) SELECT "
      "alert_id, storage_id, waste_type, NOT armed FROM flips ON CONFLICT (alert_id, storage_id, "
      "waste_type) DO UPDATE SET armed = excluded.armed), "
      "fired AS (INSERT INTO alert_firings (alert_id, storage_id, waste_type, ratio, threshold) "
      "SELECT alert_id, storage_id, waste_type, ratio, threshold FROM flips WHERE armed ORDER BY "
      "alert_id, storage_id, waste_type RETURNING id) "
      "SELECT (SELECT count(*) FROM lease) > 0, (SELECT count(*) FROM fired), EXISTS (SELECT 1 "
      "FROM alerts)"),
    /* Gives the lease up at shutdown, so another instance evaluates from its next poll. */
    S(ST_ALERT_RELEASE, "UPDATE alert_lease SET expires_at = '-infinity' WHERE holder = $1"),
    /* Firings by id ($1 bigint[]), for the feed. */
    S(ST_EV_ALERTS, "SELECT " FIRING_COLUMNS " FROM alert_firings WHERE id = ANY ($1::bigint[]) "
                    "ORDER BY id"),
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
