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
#define STORAGE_COLUMNS "s.id, s.name, s.created_at, w.waste_type, w.capacity, w.stock"
/* The columns of an organization with one of its types (NULLs when it has none). */
#define ORGANIZATION_COLUMNS "o.id, o.name, o.created_at, w.waste_type, w.capacity, w.pending"
#define ROUTE_COLUMNS                                                                              \
    "id, from_organization_id, from_storage_id, to_organization_id, to_storage_id, distance_m, "   \
    "two_way, created_at"
/* A transfer with one of its shipments (NULLs when it has none), in shipment order. */
#define TRANSFER_COLUMNS                                                                           \
    "t.id, t.organization_id, t.trigger, t.created_at, t.received::text, t.pending::text, "        \
    "s.storage_id, s.waste_type, s.amount, s.distance_m, t.actor"

/* The columns of an API key as the API shows it (never its hash). */
#define KEY_COLUMNS                                                                                \
    "id, role, organization_id, storage_id, name, created_at, expires_at, revoked_at"

const db_statement engine_statements[ST__COUNT] = {
    /* Idempotency-Key ($1 the caller, $2 the key: a key is the caller's own). The advisory
     * lock marks it in flight for the length of the transaction; a second request meanwhile
     * fails here (WF409, mapped by position to "in flight") before any of its work runs. The
     * lookup is a statement of its own, so its snapshot is taken after the lock: a first
     * request that committed while this one waited is seen, and replayed. */
    S(ST_IDEM_LOCK,
      "SELECT wf_check(pg_try_advisory_xact_lock(hashtextextended('idempotency:' || $1 || "
      "chr(10) || $2, 0)), 'WF409', 'a request with this Idempotency-Key is still being "
      "processed')"),
    /* $3 the request's fingerprint (SHA-256 hex, computed by the service, so the client's
     * bytes never reach the database as text). No row: the key is new (or older than 24 h). */
    S(ST_IDEM_LOOKUP,
      "SELECT fingerprint = $3, status, body, location FROM idempotency_keys "
      "WHERE principal = $1 AND key = $2 AND created_at > now() - interval '24 hours'"),
    /* Stores the response ($4 status, $5 body, $6 location). Under the key's lock no
     * fresher record can exist; should one all the same, the transaction aborts as a
     * serialization failure and is retried, which replays the stored response instead of
     * committing the work twice. */
    S(ST_IDEM_STORE,
      "WITH stored AS (INSERT INTO idempotency_keys AS k (principal, key, fingerprint, status, "
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
    /* $1 code or NULL, $2 field name */
    S(ST_CHECK_TYPE,
      "SELECT wf_check($1::text IS NULL OR EXISTS (SELECT 1 FROM waste_types WHERE code = $1),"
      " 'WF422', $2 || '|unknown waste type')"),
    S(ST_ROOM_BUMP, "UPDATE dispatch_state SET room_epoch = room_epoch + 1"),
    /* $1 storage: only when it exists (a 404 must change nothing). */
    S(ST_ROOM_BUMP_STORAGE,
      "UPDATE dispatch_state SET room_epoch = room_epoch + 1 WHERE EXISTS (SELECT 1 FROM "
      "storages WHERE id = $1::bigint)"),
    /* Route changes run one at a time, so the two-way pair rules can be checked. */
    S(ST_GRAPH_LOCK, "SELECT pg_advisory_xact_lock(hashtext('wasteflow.graph'))"),
    S(ST_GRAPH_BUMP, "UPDATE graph_state SET version = version + 1"),
    S(ST_GRAPH_LOAD,
      "SELECT g.version, r.from_organization_id, r.from_storage_id, r.to_organization_id, "
      "r.to_storage_id, r.distance_m, r.two_way FROM graph_state g LEFT JOIN routes r ON true"),

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
    /* $1 id, $2 new name or NULL, $3 capacity merge patch or NULL. Lowering a limit below
     * what is pending violates organization_waste_pending_within_capacity. */
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
    S(ST_ORG_LOCK,
      "SELECT wf_check(count(*) = 1, 'WF404', 'Organization not found.') FROM (SELECT id FROM "
      "organizations WHERE id = $1::bigint FOR UPDATE) o"),
    /* Its routes go with it, so the graph version moves. */
    S(ST_ORG_DELETE,
      "WITH d AS (DELETE FROM organizations WHERE id = $1::bigint AND wf_check(NOT EXISTS "
      "(SELECT 1 FROM organization_waste WHERE organization_id = $1::bigint AND pending > 0), "
      "'WF409', 'the organization still has pending waste') RETURNING id), "
      "g AS (UPDATE graph_state SET version = version + 1 WHERE EXISTS (SELECT 1 FROM d)) "
      "SELECT id FROM d"),

    /* Storages: $1 the cursor (last id seen, 0 for none), $2 limit + 1, $3 a type they
     * must accept or NULL. */
    S(ST_ST_LIST,
      "SELECT " STORAGE_COLUMNS " FROM (SELECT id, name, created_at FROM storages s "
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
    S(ST_ST_CREATE, "WITH s AS (INSERT INTO storages (name) VALUES ($1) RETURNING id), "
                    "w AS (INSERT INTO storage_waste (storage_id, waste_type, capacity) "
                    "SELECT s.id, e.key, e.value::bigint FROM s, jsonb_each_text($2::jsonb) e) "
                    "SELECT id FROM s"),
    /* Lowering a capacity below the stock violates storage_waste_stock_within_capacity. */
    S(ST_ST_PATCH, "WITH s AS (UPDATE storages SET name = coalesce($2, name) WHERE id = $1::bigint "
                   "RETURNING id), "
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
      "THEN wf_check(w.stock = 0, 'WF409', 'cannot stop accepting ' || w.waste_type || "
      "': the storage holds ' || w.stock || ' kg of it') ELSE false END"),
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
    S(ST_ST_DELETE,
      "WITH d AS (DELETE FROM storages WHERE id = $1::bigint AND wf_check(NOT EXISTS (SELECT 1 "
      "FROM storage_waste WHERE storage_id = $1::bigint AND stock > 0), 'WF409', "
      "'the storage still holds waste') RETURNING id), "
      "g AS (UPDATE graph_state SET version = version + 1 WHERE EXISTS (SELECT 1 FROM d)) "
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
    /* $1 id, $2 distance or NULL, $3 two_way or NULL. A route change moves the graph
     * version and, as it may bring room within reach, the dispatch epoch — only when the
     * route exists. */
    S(ST_RT_PATCH,
      "WITH u AS (UPDATE routes SET distance_m = coalesce($2::bigint, distance_m), "
      "two_way = coalesce($3::boolean, two_way) WHERE id = $1::bigint "
      "RETURNING " ROUTE_COLUMNS "), "
      "g AS (UPDATE graph_state SET version = version + 1 WHERE EXISTS (SELECT 1 FROM u)), "
      "r AS (UPDATE dispatch_state SET room_epoch = room_epoch + 1 WHERE EXISTS "
      "(SELECT 1 FROM u)) SELECT * FROM u"),
    S(ST_RT_DELETE,
      "WITH d AS (DELETE FROM routes WHERE id = $1::bigint RETURNING id), "
      "g AS (UPDATE graph_state SET version = version + 1 WHERE EXISTS (SELECT 1 FROM d)) "
      "SELECT wf_check(count(*) = 1, 'WF404', 'Route not found.') FROM d"),

    /* The organization's view of every storage: the graph version, and whether it exists. */
    S(ST_VIEW_HEAD, "SELECT (SELECT version FROM graph_state), EXISTS (SELECT 1 FROM organizations "
                    "WHERE id = $1::bigint)"),
    /* Every storage ($1 a type it must accept, or NULL), one row per storage and type. */
    S(ST_VIEW_STORAGES,
      "SELECT " STORAGE_COLUMNS " FROM storages s JOIN storage_waste w ON w.storage_id = s.id "
      "WHERE $1::text IS NULL OR s.id IN (SELECT storage_id FROM storage_waste "
      "WHERE waste_type = $1) ORDER BY s.id, w.waste_type"),

    /* Transfers. The organization row lock serialises transfers of one organization;
     * it comes first, then storage rows in id order (never distance order). Returns the
     * graph version, now() and the new transfer's id. */
    S(ST_TR_LOCK_ORG, "SELECT id, (SELECT version FROM graph_state), now(), "
                      "nextval(pg_get_serial_sequence('transfers', 'id')) FROM organizations "
                      "WHERE id = $1::bigint FOR NO KEY UPDATE"),
    /* Automatic dispatch: skip an organization another transaction is serving. */
    S(ST_TR_LOCK_ORG_SKIP, "SELECT id, (SELECT version FROM graph_state), now(), "
                           "nextval(pg_get_serial_sequence('transfers', 'id')) FROM organizations "
                           "WHERE id = $1::bigint FOR NO KEY UPDATE SKIP LOCKED"),
    S(ST_TR_ORG_WASTE, "SELECT waste_type, capacity, pending FROM organization_waste "
                       "WHERE organization_id = $1::bigint ORDER BY waste_type"),
    /* $1 text[] types, $2 bigint[] reachable storages. One statement, id order. */
    S(ST_TR_CANDIDATES, "SELECT storage_id, waste_type, capacity - stock FROM storage_waste "
                        "WHERE waste_type = ANY ($1::text[]) AND storage_id = ANY ($2::bigint[]) "
                        "AND stock < capacity ORDER BY storage_id, waste_type FOR UPDATE"),
    /* $1 id, $2 organization, $3 trigger, $4 received, $5 pending, $6..$9 the shipments'
     * storages, types, amounts and distances, $10 actor. */
    S(ST_TR_INSERT,
      "WITH t AS (INSERT INTO transfers (id, organization_id, trigger, received, pending, "
      "created_at, actor) VALUES ($1::bigint, $2::bigint, $3, $4::jsonb, $5::jsonb, now(), $10) "
      "RETURNING id) INSERT INTO shipments (transfer_id, position, storage_id, waste_type, "
      "amount, distance_m) SELECT t.id, s.position, s.storage_id, s.waste_type, s.amount, "
      "s.distance_m FROM t, unnest($6::bigint[], $7::text[], $8::bigint[], $9::bigint[]) "
      "WITH ORDINALITY AS s(storage_id, waste_type, amount, distance_m, position)"),
    /* Guarded stock update; a row count short of $4 means the plan no longer fits, which
     * cannot happen under the row locks, and is retried as a serialization failure. */
    S(ST_TR_STOCK,
      "WITH u AS (UPDATE storage_waste w SET stock = w.stock + x.amount FROM "
      "unnest($1::bigint[], $2::text[], $3::bigint[]) AS x(storage_id, waste_type, amount) "
      "WHERE w.storage_id = x.storage_id AND w.waste_type = x.waste_type AND "
      "w.stock + x.amount <= w.capacity RETURNING 1) "
      "SELECT wf_check(count(*) = $4::int, '40001', 'stock changed under the lock') FROM u"),
    S(ST_TR_PENDING,
      "INSERT INTO organization_waste (organization_id, waste_type, pending) "
      "SELECT $1::bigint, t, p FROM unnest($2::text[], $3::bigint[]) AS x(t, p) "
      "ON CONFLICT (organization_id, waste_type) DO UPDATE SET pending = EXCLUDED.pending"),
    S(ST_TR_PENDING_SINCE, "UPDATE organizations SET pending_since = CASE WHEN $2::boolean "
                           "THEN coalesce(pending_since, now()) END WHERE id = $1::bigint"),
    /* $1 the cursor, $2 limit + 1; $3 organization, $4 storage, $5 waste type filters
     * (NULL = any). */
    S(ST_TR_LIST,
      "SELECT " TRANSFER_COLUMNS " FROM (SELECT * FROM transfers t WHERE id > $1::bigint "
      "AND ($3::bigint IS NULL OR organization_id = $3::bigint) AND ($4::bigint IS NULL OR "
      "EXISTS (SELECT 1 FROM shipments s WHERE s.transfer_id = t.id AND s.storage_id = "
      "$4::bigint)) AND ($5::text IS NULL OR t.received ? $5 OR EXISTS (SELECT 1 FROM "
      "shipments s WHERE s.transfer_id = t.id AND s.waste_type = $5)) ORDER BY id "
      "LIMIT $2::int) t LEFT JOIN shipments s ON s.transfer_id = t.id "
      "ORDER BY t.id, s.position"),
    /* $2 the organization, $3 the storage a scoped principal is confined to, or NULL: a
     * transfer it may not see is not found. */
    S(ST_TR_GET, "SELECT " TRANSFER_COLUMNS " FROM transfers t LEFT JOIN shipments s "
                 "ON s.transfer_id = t.id WHERE t.id = $1::bigint AND ($2::bigint IS NULL OR "
                 "t.organization_id = $2::bigint) AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM "
                 "shipments x WHERE x.transfer_id = t.id AND x.storage_id = $3::bigint)) "
                 "ORDER BY s.position"),

    /* Per waste type: generated, pending, stored, unloaded, capacity, remaining. */
    S(ST_STATS,
      "SELECT w.code, coalesce(g.kg, 0), coalesce(p.kg, 0), coalesce(s.stock, 0), "
      "coalesce(u.kg, 0), coalesce(s.capacity, 0), coalesce(s.capacity - s.stock, 0) "
      "FROM waste_types w "
      "LEFT JOIN (SELECT r.key AS code, sum(r.value::bigint) AS kg FROM transfers t, "
      "jsonb_each_text(t.received) r GROUP BY 1) g ON g.code = w.code "
      "LEFT JOIN (SELECT waste_type AS code, sum(pending) AS kg FROM organization_waste "
      "GROUP BY 1) p ON p.code = w.code "
      "LEFT JOIN (SELECT waste_type AS code, sum(stock) AS stock, sum(capacity) AS capacity "
      "FROM storage_waste GROUP BY 1) s ON s.code = w.code "
      "LEFT JOIN (SELECT waste_type AS code, sum(amount) AS kg FROM unloads GROUP BY 1) u "
      "ON u.code = w.code ORDER BY w.code"),
    S(ST_PING, "SELECT 1"),
    S(ST_PENDING_BY_TYPE,
      "SELECT w.code, coalesce(sum(o.pending), 0) FROM waste_types w LEFT JOIN "
      "organization_waste o ON o.waste_type = w.code GROUP BY w.code ORDER BY w.code"),
    S(ST_DISPATCH_EPOCH, "SELECT room_epoch FROM dispatch_state"),
    /* The oldest pending organizations first. */
    S(ST_DISPATCH_ORGS, "SELECT id FROM organizations WHERE pending_since IS NOT NULL "
                        "ORDER BY pending_since, id LIMIT 1000"),

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
};

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
