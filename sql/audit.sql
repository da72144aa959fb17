-- wasteflow ledger audit. Run with: psql "$DATABASE_URL" -X -q -A -t -f sql/audit.sql
-- Prints one line per violated invariant and nothing at all when every invariant holds.
-- Read-only; safe to run against a live database (one REPEATABLE READ snapshot).
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;

-- 1. Stock and the room reserved for loads in transit within capacity (the schema forbids
-- it; this proves it).
SELECT format('VIOLATION stock_out_of_range storage=%s type=%s stock=%s reserved=%s capacity=%s',
              storage_id, waste_type, stock, reserved, capacity)
FROM storage_waste
WHERE stock < 0 OR reserved < 0 OR stock + reserved > capacity
ORDER BY storage_id, waste_type;

-- 2. Per storage and type: everything accepted (a load to an automatic storage when it was
-- handed over, one to a weighed storage by its receipt) minus everything unloaded = stock.
WITH shipped AS (
    SELECT s.storage_id, s.waste_type,
           sum(CASE WHEN NOT s.in_transit THEN s.amount ELSE coalesce(r.accepted_kg, 0) END) AS kg
    FROM shipments s LEFT JOIN receipts r ON r.shipment_id = s.id GROUP BY 1, 2
), unloaded AS (
    SELECT storage_id, waste_type, sum(amount) AS kg FROM unloads GROUP BY 1, 2
), keys AS (
    SELECT storage_id, waste_type FROM storage_waste
    UNION SELECT storage_id, waste_type FROM shipped
    UNION SELECT storage_id, waste_type FROM unloaded
)
SELECT format('VIOLATION ledger_mismatch storage=%s type=%s shipped=%s unloaded=%s stock=%s',
              k.storage_id, k.waste_type, coalesce(s.kg, 0), coalesce(u.kg, 0),
              coalesce(w.stock, 0))
FROM keys k
LEFT JOIN shipped s USING (storage_id, waste_type)
LEFT JOIN unloaded u USING (storage_id, waste_type)
LEFT JOIN storage_waste w USING (storage_id, waste_type)
WHERE coalesce(s.kg, 0) - coalesce(u.kg, 0) <> coalesce(w.stock, 0)
ORDER BY k.storage_id, k.waste_type;

-- 3. Per organization and type: received minus shipped plus refused (what came back) = pending.
WITH received AS (
    SELECT t.organization_id, r.key AS waste_type, sum(r.value::bigint) AS kg
    FROM transfers t, jsonb_each_text(t.received) r
    GROUP BY 1, 2
), shipped AS (
    SELECT t.organization_id, s.waste_type, sum(s.amount - coalesce(c.rejected_kg, 0)) AS kg
    FROM shipments s JOIN transfers t ON t.id = s.transfer_id
    LEFT JOIN receipts c ON c.shipment_id = s.id
    GROUP BY 1, 2
), keys AS (
    SELECT organization_id, waste_type FROM organization_waste WHERE pending <> 0
    UNION SELECT organization_id, waste_type FROM received
    UNION SELECT organization_id, waste_type FROM shipped
)
SELECT format('VIOLATION pending_mismatch organization=%s type=%s received=%s shipped=%s pending=%s',
              k.organization_id, k.waste_type, coalesce(r.kg, 0), coalesce(s.kg, 0),
              coalesce(o.pending, 0))
FROM keys k
LEFT JOIN received r USING (organization_id, waste_type)
LEFT JOIN shipped s USING (organization_id, waste_type)
LEFT JOIN organization_waste o USING (organization_id, waste_type)
WHERE coalesce(r.kg, 0) - coalesce(s.kg, 0) <> coalesce(o.pending, 0)
ORDER BY k.organization_id, k.waste_type;

-- 4. Per type: generated = stored + pending + unloaded + in transit (planned) + variance
-- (planned - received over received movements): conservation of waste.
WITH generated AS (
    SELECT r.key AS waste_type, sum(r.value::bigint) AS kg
    FROM transfers t, jsonb_each_text(t.received) r GROUP BY 1
), stored AS (
    SELECT waste_type, sum(stock) AS kg FROM storage_waste GROUP BY 1
), pending AS (
    SELECT waste_type, sum(pending) AS kg FROM organization_waste GROUP BY 1
), unloaded AS (
    SELECT waste_type, sum(amount) AS kg FROM unloads GROUP BY 1
), moving AS (
    SELECT s.waste_type, sum(s.amount) AS kg FROM shipments s
    WHERE s.in_transit AND NOT EXISTS (SELECT 1 FROM receipts r WHERE r.shipment_id = s.id)
    GROUP BY 1
), variance AS (
    SELECT s.waste_type, sum(s.amount - r.received_kg) AS kg
    FROM shipments s JOIN receipts r ON r.shipment_id = s.id GROUP BY 1
)
SELECT format('VIOLATION not_conserved type=%s generated=%s stored=%s pending=%s unloaded=%s '
              'in_transit=%s variance=%s',
              w.code, coalesce(g.kg, 0), coalesce(s.kg, 0), coalesce(p.kg, 0),
              coalesce(u.kg, 0), coalesce(m.kg, 0), coalesce(v.kg, 0))
FROM waste_types w
LEFT JOIN generated g ON g.waste_type = w.code
LEFT JOIN stored s ON s.waste_type = w.code
LEFT JOIN pending p ON p.waste_type = w.code
LEFT JOIN unloaded u ON u.waste_type = w.code
LEFT JOIN moving m ON m.waste_type = w.code
LEFT JOIN variance v ON v.waste_type = w.code
WHERE coalesce(g.kg, 0) <> coalesce(s.kg, 0) + coalesce(p.kg, 0) + coalesce(u.kg, 0)
                          + coalesce(m.kg, 0) + coalesce(v.kg, 0)
ORDER BY w.code;

-- 4b. Each storage's reserved room equals the planned kilograms of its movements in transit.
WITH moving AS (
    SELECT s.storage_id, s.waste_type, sum(s.amount) AS kg FROM shipments s
    WHERE s.in_transit AND NOT EXISTS (SELECT 1 FROM receipts r WHERE r.shipment_id = s.id)
    GROUP BY 1, 2
), keys AS (
    SELECT storage_id, waste_type FROM storage_waste WHERE reserved <> 0
    UNION SELECT storage_id, waste_type FROM moving
)
SELECT format('VIOLATION reserved_mismatch storage=%s type=%s in_transit=%s reserved=%s',
              k.storage_id, k.waste_type, coalesce(m.kg, 0), coalesce(w.reserved, 0))
FROM keys k
LEFT JOIN moving m USING (storage_id, waste_type)
LEFT JOIN storage_waste w USING (storage_id, waste_type)
WHERE coalesce(m.kg, 0) <> coalesce(w.reserved, 0)
ORDER BY k.storage_id, k.waste_type;

-- 4c. A receipt belongs to a movement that travelled (an automatic storage's loads have none).
SELECT format('VIOLATION receipt_without_transit receipt=%s movement=%s', r.id, r.shipment_id)
FROM receipts r JOIN shipments s ON s.id = r.shipment_id
WHERE NOT s.in_transit
ORDER BY r.id;

-- 5. Pending and the organization's pending_since agree (dispatch order depends on it).
SELECT format('VIOLATION pending_since organization=%s pending=%s pending_since=%s',
              o.id, coalesce(sum(w.pending), 0), o.pending_since)
FROM organizations o LEFT JOIN organization_waste w ON w.organization_id = o.id
GROUP BY o.id
HAVING (coalesce(sum(w.pending), 0) > 0) <> (o.pending_since IS NOT NULL)
ORDER BY o.id;

-- 6. The running totals behind /v1/stats equal the ledger, per type.
WITH generated AS (
    SELECT r.key AS waste_type, sum(r.value::bigint) AS kg
    FROM transfers t, jsonb_each_text(t.received) r GROUP BY 1
), unloaded AS (
    SELECT waste_type, sum(amount) AS kg FROM unloads GROUP BY 1
), variance AS (
    SELECT s.waste_type, sum(s.amount - r.received_kg) AS kg
    FROM shipments s JOIN receipts r ON r.shipment_id = s.id GROUP BY 1
), totals AS (
    SELECT waste_type, sum(generated) AS generated, sum(unloaded) AS unloaded,
           sum(variance) AS variance
    FROM waste_totals GROUP BY 1
)
SELECT format('VIOLATION totals_mismatch type=%s generated=%s totals.generated=%s '
              'unloaded=%s totals.unloaded=%s variance=%s totals.variance=%s', w.code,
              coalesce(g.kg, 0), coalesce(t.generated, 0), coalesce(u.kg, 0),
              coalesce(t.unloaded, 0), coalesce(v.kg, 0), coalesce(t.variance, 0))
FROM waste_types w
LEFT JOIN generated g ON g.waste_type = w.code
LEFT JOIN unloaded u ON u.waste_type = w.code
LEFT JOIN variance v ON v.waste_type = w.code
LEFT JOIN totals t ON t.waste_type = w.code
WHERE coalesce(g.kg, 0) <> coalesce(t.generated, 0) OR coalesce(u.kg, 0) <> coalesce(t.unloaded, 0)
   OR coalesce(v.kg, 0) <> coalesce(t.variance, 0)
ORDER BY w.code;

-- 7. The ledger is dated by the clock (a trigger refuses any other created_at): no row lies
-- in the future, and none is dated before a row written earlier. Ids are taken when a
-- transaction starts working and dates when it started, so concurrent writers may invert
-- them by the length of a transaction: only more than 5 minutes counts.
WITH dated AS (
    SELECT 'transfer' AS kind, id, created_at,
           max(created_at) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
               AS latest_before
    FROM transfers
    UNION ALL
    SELECT 'unload', id, created_at,
           max(created_at) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    FROM unloads
)
SELECT format('VIOLATION ledger_date %s=%s created_at=%s %s', kind, id, created_at,
              CASE WHEN created_at > now() THEN 'is in the future'
                   ELSE format('is before an earlier row''s %s', latest_before) END)
FROM dated
WHERE created_at > now() OR created_at < latest_before - interval '5 minutes'
ORDER BY kind, id;

-- 8. API keys in states the service never writes: created in the future or out of id
-- order, revoked before they were created or in the future (their role and scope are
-- checked by constraints, and a trigger keeps them and revocation unchangeable).
SELECT format('VIOLATION api_key id=%s %s', id, problem)
FROM (
    SELECT id, CASE
        WHEN created_at > now() THEN 'was created in the future'
        WHEN created_at < latest_before - interval '5 minutes'
            THEN 'was created before an earlier key'
        WHEN revoked_at < created_at THEN 'was revoked before it was created'
        WHEN revoked_at > now() THEN 'was revoked in the future'
    END AS problem
    FROM (SELECT id, created_at, revoked_at,
                 max(created_at) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING
                                                          AND 1 PRECEDING) AS latest_before
          FROM api_keys) k
) checked
WHERE problem IS NOT NULL
ORDER BY id;

-- 9. The balance's daily checkpoints (balance_days, migration 026) are the ledger's: per UTC
-- day and type, the day's figures and the state at its end (what GET /v1/reports/balance
-- reads instead of the day's rows), replayed here from every ledger row by its date.
WITH moves AS (
    SELECT (t.created_at AT TIME ZONE 'UTC')::date AS day, r.key AS waste_type,
           r.value::bigint AS generated, 0 AS accepted, 0 AS rejected, 0 AS unloaded,
           0 AS variance, r.value::bigint AS pending, 0 AS in_transit
    FROM transfers t, jsonb_each_text(t.received) r
    UNION ALL
    SELECT (t.created_at AT TIME ZONE 'UTC')::date, s.waste_type, 0,
           CASE WHEN s.in_transit THEN 0 ELSE s.amount END, 0, 0, 0, -s.amount,
           CASE WHEN s.in_transit THEN s.amount ELSE 0 END
    FROM shipments s JOIN transfers t ON t.id = s.transfer_id
    UNION ALL
    SELECT (r.received_at AT TIME ZONE 'UTC')::date, s.waste_type, 0, r.accepted_kg,
           r.rejected_kg, 0, s.amount - r.received_kg, r.rejected_kg, -s.amount
    FROM receipts r JOIN shipments s ON s.id = r.shipment_id
    UNION ALL
    SELECT (created_at AT TIME ZONE 'UTC')::date, waste_type, 0, 0, 0, amount, 0, 0, 0
    FROM unloads
), days AS (
    SELECT day, waste_type, sum(generated) AS generated, sum(accepted) AS accepted,
           sum(rejected) AS rejected, sum(unloaded) AS unloaded, sum(variance) AS variance,
           sum(pending) AS pending, sum(in_transit) AS in_transit
    FROM moves GROUP BY 1, 2
), replayed AS (
    SELECT b.day, b.waste_type,
           concat_ws(' ', b.generated, b.accepted, b.rejected, b.unloaded, b.variance,
                     b.pending, b.in_transit) AS checkpoint,
           concat_ws(' ', coalesce(d.generated, 0), coalesce(d.accepted, 0),
                     coalesce(d.rejected, 0), coalesce(d.unloaded, 0), coalesce(d.variance, 0),
                     coalesce(s.pending, 0), coalesce(s.in_transit, 0)) AS ledger
    FROM balance_days b
    LEFT JOIN days d ON d.day = b.day AND d.waste_type = b.waste_type
    LEFT JOIN LATERAL (SELECT sum(pending) AS pending, sum(in_transit) AS in_transit FROM days
                       WHERE waste_type = b.waste_type AND day <= b.day) s ON true
)
SELECT format('VIOLATION balance_day day=%s type=%s checkpoint=%s ledger=%s (generated '
              'accepted rejected unloaded variance pending in_transit)', day, waste_type,
              checkpoint, ledger)
FROM replayed
WHERE checkpoint <> ledger
ORDER BY day, waste_type;

COMMIT;
