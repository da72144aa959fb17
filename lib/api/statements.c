/* The SQL of every statement (see statements.h). Parameters are text; casts say types.
 * Business rules the database must enforce mid-pipeline use wf_check() (schema), so a
 * violated rule aborts the transaction before its COMMIT without an extra round trip. */
#include "api/statements.h"

#include "api/app.h"

#define S(id, sql) [id] = {#id, sql}

/* A page of ids after cursor $1 (limit $2), rendered as {"items": [...], "next_cursor"}.
 * page selects "id" in id order with LIMIT $2 + 1 so one query tells whether more exist. */
#define LIST_SQL(page, item)                                                                       \
    "WITH page AS (" page "), head AS (SELECT id FROM page ORDER BY id LIMIT $2::int) "            \
    "SELECT jsonb_build_object('items', coalesce((SELECT jsonb_agg(" item                          \
    " ORDER BY h.id) FROM head h), '[]'::jsonb), 'next_cursor', CASE WHEN (SELECT count(*) "       \
    "FROM page) > $2::int THEN (SELECT max(id)::text FROM head) END)::text"

const db_statement api_statements[ST__COUNT] = {
    /* Idempotency-Key: the advisory lock marks the key in flight for the length of the
     * transaction; a stored response younger than 24 h is replayed. */
    S(ST_IDEM_LOOKUP,
      "SELECT pg_try_advisory_xact_lock(hashtextextended('idempotency:' || $1, 0)), "
      "k.fingerprint = md5($2), k.status, k.body, k.location "
      "FROM (SELECT 1) AS one LEFT JOIN idempotency_keys k "
      "ON k.key = $1 AND k.created_at > now() - interval '24 hours'"),
    S(ST_IDEM_STORE,
      "INSERT INTO idempotency_keys AS k (key, fingerprint, status, body, location) "
      "VALUES ($1, md5($2), $3::int, $4, $5) ON CONFLICT (key) DO UPDATE SET "
      "fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, body = EXCLUDED.body, "
      "location = EXCLUDED.location, created_at = now() "
      "WHERE k.created_at <= now() - interval '24 hours'"),
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
    S(ST_GRAPH_BUMP, "UPDATE graph_state SET version = version + 1"),
    S(ST_ROOM_BUMP, "UPDATE dispatch_state SET room_epoch = room_epoch + 1"),
    /* $1 storage: only when it exists (a 404 must change nothing). */
    S(ST_ROOM_BUMP_STORAGE,
      "UPDATE dispatch_state SET room_epoch = room_epoch + 1 WHERE EXISTS (SELECT 1 FROM "
      "storages WHERE id = $1::bigint)"),
    /* Route changes run one at a time, so the two-way pair rules can be checked. */
    S(ST_GRAPH_LOCK, "SELECT pg_advisory_xact_lock(hashtext('wasteflow.graph'))"),
    S(ST_GRAPH_LOAD,
      "SELECT g.version, r.from_organization_id, r.from_storage_id, r.to_organization_id, "
      "r.to_storage_id, r.distance_m, r.two_way FROM graph_state g LEFT JOIN routes r ON true"),

    S(ST_WT_LIST,
      "WITH page AS (SELECT code, name FROM waste_types WHERE $1::text IS NULL OR code > $1 "
      "ORDER BY code LIMIT $2::int + 1), head AS (SELECT * FROM page ORDER BY code "
      "LIMIT $2::int) SELECT jsonb_build_object('items', coalesce((SELECT jsonb_agg("
      "jsonb_build_object('code', code, 'name', name) ORDER BY code) FROM head), '[]'::jsonb), "
      "'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $2::int THEN "
      "(SELECT max(code) FROM head) END)::text"),
    S(ST_WT_GET, "SELECT jsonb_build_object('code', code, 'name', name)::text FROM waste_types "
                 "WHERE code = $1"),
    S(ST_WT_CREATE, "INSERT INTO waste_types (code, name) VALUES ($1, $2) "
                    "RETURNING jsonb_build_object('code', code, 'name', name)::text"),

    S(ST_ORG_LIST, LIST_SQL("SELECT id FROM organizations WHERE id > $1::bigint ORDER BY id "
                            "LIMIT $2::int + 1",
                            "wf_organization_json(h.id)")),
    S(ST_ORG_GET, "SELECT wf_organization_json(id)::text FROM organizations WHERE id = $1::bigint"),
    /* $1 name, $2 capacity object */
    S(ST_ORG_CREATE, "WITH o AS (INSERT INTO organizations (name) VALUES ($1) RETURNING id), "
                     "w AS (INSERT INTO organization_waste (organization_id, waste_type, capacity) "
                     "SELECT o.id, e.key, e.value::bigint FROM o, jsonb_each_text($2::jsonb) e) "
                     "SELECT id FROM o"),
    S(ST_ORG_JSON_CURRENT,
      "SELECT wf_organization_json(currval(pg_get_serial_sequence('organizations', 'id')))"
      "::text"),
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
      "SELECT id FROM o"),
    S(ST_ORG_JSON, "SELECT wf_organization_json($1::bigint)::text"),
    S(ST_ORG_LOCK, "SELECT id FROM organizations WHERE id = $1::bigint FOR UPDATE"),
    /* Its routes go with it, so the graph version moves — only when it really went. */
    S(ST_ORG_DELETE,
      "WITH d AS (DELETE FROM organizations WHERE id = $1::bigint AND wf_check(NOT EXISTS "
      "(SELECT 1 FROM organization_waste WHERE organization_id = $1::bigint AND pending > 0), "
      "'WF409', 'the organization still has pending waste') RETURNING id), "
      "g AS (UPDATE graph_state SET version = version + 1 WHERE EXISTS (SELECT 1 FROM d)) "
      "SELECT id FROM d"),

    S(ST_ST_LIST,
      LIST_SQL("SELECT id FROM storages s WHERE id > $1::bigint AND ($3::text IS NULL OR "
               "EXISTS (SELECT 1 FROM storage_waste w WHERE w.storage_id = s.id AND "
               "w.waste_type = $3)) ORDER BY id LIMIT $2::int + 1",
               "wf_storage_json(h.id)")),
    S(ST_ST_GET, "SELECT wf_storage_json(id)::text FROM storages WHERE id = $1::bigint"),
    S(ST_ST_CREATE, "WITH s AS (INSERT INTO storages (name) VALUES ($1) RETURNING id), "
                    "w AS (INSERT INTO storage_waste (storage_id, waste_type, capacity) "
                    "SELECT s.id, e.key, e.value::bigint FROM s, jsonb_each_text($2::jsonb) e) "
                    "SELECT id FROM s"),
    S(ST_ST_JSON_CURRENT,
      "SELECT wf_storage_json(currval(pg_get_serial_sequence('storages', 'id')))::text"),
    /* Lowering a capacity below the stock violates storage_waste_stock_within_capacity. */
    S(ST_ST_PATCH, "WITH s AS (UPDATE storages SET name = coalesce($2, name) WHERE id = $1::bigint "
                   "RETURNING id), "
                   "up AS (INSERT INTO storage_waste (storage_id, waste_type, capacity) "
                   "SELECT s.id, e.key, (e.value)::bigint FROM s, jsonb_each($3::jsonb) e "
                   "WHERE jsonb_typeof(e.value) = 'number' ON CONFLICT (storage_id, waste_type) "
                   "DO UPDATE SET capacity = EXCLUDED.capacity) "
                   "SELECT id FROM s"),
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
    S(ST_ST_JSON, "SELECT wf_storage_json($1::bigint)::text"),
    S(ST_ST_LOCK, "SELECT id FROM storages WHERE id = $1::bigint FOR UPDATE"),
    /* Unload: NO KEY UPDATE, which a transfer's shipment foreign-key check (KEY SHARE)
     * does not wait for; FOR UPDATE here deadlocked with transfers holding the stock row. */
    S(ST_ST_LOCK_UNLOAD, "SELECT id FROM storages WHERE id = $1::bigint FOR NO KEY UPDATE"),
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
    /* Unloading more than the stock violates storage_waste_stock_within_capacity. */
    S(ST_ST_UNLOAD,
      "WITH x AS (SELECT * FROM unnest($2::text[], $3::bigint[]) AS x(waste_type, amount) "
      "WHERE amount > 0), u AS (UPDATE storage_waste w SET stock = w.stock - x.amount FROM x "
      "WHERE w.storage_id = $1::bigint AND w.waste_type = x.waste_type "
      "RETURNING w.waste_type, x.amount) INSERT INTO unloads (storage_id, waste_type, amount) "
      "SELECT $1::bigint, waste_type, amount FROM u"),

    S(ST_RT_LIST, LIST_SQL("SELECT id FROM routes WHERE id > $1::bigint AND ($3::text IS NULL OR "
                           "from_node = $3 OR to_node = $3) ORDER BY id LIMIT $2::int + 1",
                           "(SELECT wf_route_json(r) FROM routes r WHERE r.id = h.id)")),
    S(ST_RT_GET, "SELECT wf_route_json(r)::text FROM routes r WHERE r.id = $1::bigint"),
    /* $1 from node key, $2 to node key, $3 two_way: a road back that is two-way, or any
     * road back when the new one is two-way, already joins this ordered pair. */
    S(ST_RT_REVERSE_CHECK,
      "SELECT wf_check(NOT EXISTS (SELECT 1 FROM routes WHERE from_node = $2 AND to_node = $1 "
      "AND (two_way OR $3::boolean)), 'WF409', 'a road already joins these nodes in this "
      "direction')"),
    S(ST_RT_CREATE,
      "INSERT INTO routes (from_organization_id, from_storage_id, to_organization_id, "
      "to_storage_id, distance_m, two_way) VALUES ($1::bigint, $2::bigint, $3::bigint, "
      "$4::bigint, $5::bigint, $6::boolean) RETURNING wf_route_json(routes)::text, id"),
    /* $1 id, $2 new two_way or NULL */
    S(ST_RT_PATCH_CHECK,
      "SELECT wf_check(NOT ($2::boolean IS TRUE AND EXISTS (SELECT 1 FROM routes r, routes b "
      "WHERE r.id = $1::bigint AND b.from_node = r.to_node AND b.to_node = r.from_node)), "
      "'WF409', 'a road already joins these nodes in the other direction')"),
    /* A route change moves the graph version and, as it may bring room within reach, the
     * dispatch epoch — only when the route exists. */
    S(ST_RT_PATCH,
      "WITH u AS (UPDATE routes SET distance_m = coalesce($2::bigint, distance_m), "
      "two_way = coalesce($3::boolean, two_way) WHERE id = $1::bigint "
      "RETURNING wf_route_json(routes)::text AS json, id), "
      "g AS (UPDATE graph_state SET version = version + 1 WHERE EXISTS (SELECT 1 FROM u)), "
      "r AS (UPDATE dispatch_state SET room_epoch = room_epoch + 1 WHERE EXISTS "
      "(SELECT 1 FROM u)) SELECT json, id FROM u"),
    S(ST_RT_DELETE,
      "WITH d AS (DELETE FROM routes WHERE id = $1::bigint RETURNING id), "
      "g AS (UPDATE graph_state SET version = version + 1 WHERE EXISTS (SELECT 1 FROM d)) "
      "SELECT id FROM d"),

    /* The organization's view of every storage: graph version and existence, then the
     * storages ($1 waste type filter or NULL) with their JSON parts. */
    S(ST_VIEW_HEAD, "SELECT (SELECT version FROM graph_state), EXISTS (SELECT 1 FROM organizations "
                    "WHERE id = $1::bigint)"),
    /* One row per storage and type, grouped by the service: cheaper than JSON
     * aggregation in SQL for the thousand-storage view. */
    S(ST_VIEW_STORAGES,
      "SELECT s.id, to_jsonb(s.name)::text, wf_ts(s.created_at), w.waste_type, w.capacity, "
      "w.stock FROM storages s JOIN storage_waste w ON w.storage_id = s.id "
      "WHERE $1::text IS NULL OR s.id IN (SELECT storage_id FROM storage_waste "
      "WHERE waste_type = $1) ORDER BY s.id, w.waste_type"),

    /* Transfers. The organization row lock serialises transfers of one organization;
     * it comes first, then storage rows in id order (never distance order). */
    S(ST_TR_LOCK_ORG, "SELECT id, (SELECT version FROM graph_state), wf_ts(now()), "
                      "nextval(pg_get_serial_sequence('transfers', 'id')) FROM organizations "
                      "WHERE id = $1::bigint FOR NO KEY UPDATE"),
    /* Automatic dispatch: skip an organization another transaction is serving. */
    S(ST_TR_LOCK_ORG_SKIP, "SELECT id, (SELECT version FROM graph_state), wf_ts(now()), "
                           "nextval(pg_get_serial_sequence('transfers', 'id')) FROM organizations "
                           "WHERE id = $1::bigint FOR NO KEY UPDATE SKIP LOCKED"),
    S(ST_TR_ORG_WASTE, "SELECT waste_type, capacity, pending FROM organization_waste "
                       "WHERE organization_id = $1::bigint ORDER BY waste_type"),
    /* $1 text[] types, $2 bigint[] reachable storages. One statement, id order. */
    S(ST_TR_CANDIDATES, "SELECT storage_id, waste_type, capacity - stock FROM storage_waste "
                        "WHERE waste_type = ANY ($1::text[]) AND storage_id = ANY ($2::bigint[]) "
                        "AND stock < capacity ORDER BY storage_id, waste_type FOR UPDATE"),
    S(ST_TR_INSERT,
      "WITH t AS (INSERT INTO transfers (id, organization_id, trigger, received, pending, "
      "created_at) VALUES ($1::bigint, $2::bigint, $3, $4::jsonb, $5::jsonb, now()) "
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
    /* $3 organization, $4 storage, $5 waste type filters (NULL = any) */
    S(ST_TR_LIST,
      LIST_SQL("SELECT id FROM transfers t WHERE id > $1::bigint AND ($3::bigint IS NULL OR "
               "organization_id = $3::bigint) AND ($4::bigint IS NULL OR EXISTS (SELECT 1 "
               "FROM shipments s WHERE s.transfer_id = t.id AND s.storage_id = $4::bigint)) "
               "AND ($5::text IS NULL OR t.received ? $5 OR EXISTS (SELECT 1 FROM shipments s "
               "WHERE s.transfer_id = t.id AND s.waste_type = $5)) ORDER BY id "
               "LIMIT $2::int + 1",
               "wf_transfer_json(h.id)")),
    S(ST_TR_GET, "SELECT wf_transfer_json(id)::text FROM transfers WHERE id = $1::bigint"),

    S(ST_STATS,
      "SELECT coalesce(jsonb_object_agg(w.code, jsonb_build_object("
      "'generated', coalesce(g.kg, 0), 'pending', coalesce(p.kg, 0), "
      "'stored', coalesce(s.stock, 0), 'unloaded', coalesce(u.kg, 0), "
      "'capacity', coalesce(s.capacity, 0), 'remaining', coalesce(s.capacity - s.stock, 0))), "
      "'{}'::jsonb)::text FROM waste_types w "
      "LEFT JOIN (SELECT r.key AS code, sum(r.value::bigint) AS kg FROM transfers t, "
      "jsonb_each_text(t.received) r GROUP BY 1) g ON g.code = w.code "
      "LEFT JOIN (SELECT waste_type AS code, sum(pending) AS kg FROM organization_waste "
      "GROUP BY 1) p ON p.code = w.code "
      "LEFT JOIN (SELECT waste_type AS code, sum(stock) AS stock, sum(capacity) AS capacity "
      "FROM storage_waste GROUP BY 1) s ON s.code = w.code "
      "LEFT JOIN (SELECT waste_type AS code, sum(amount) AS kg FROM unloads GROUP BY 1) u "
      "ON u.code = w.code"),
    S(ST_PING, "SELECT 1"),
    S(ST_PENDING_BY_TYPE,
      "SELECT w.code, coalesce(sum(o.pending), 0) FROM waste_types w LEFT JOIN "
      "organization_waste o ON o.waste_type = w.code GROUP BY w.code ORDER BY w.code"),
    S(ST_DISPATCH_EPOCH, "SELECT room_epoch::text FROM dispatch_state"),
    /* Oldest pending first, as one comma-separated row. */
    S(ST_DISPATCH_ORGS,
      "SELECT coalesce(string_agg(id::text, ',' ORDER BY pending_since, id), '') FROM "
      "(SELECT id, pending_since FROM organizations WHERE pending_since IS NOT NULL "
      "ORDER BY pending_since, id LIMIT 1000) o"),
};

const int api_statement_count = ST__COUNT;
