-- The picture (docs/design.md, "The picture, as data"): organizations ОО1 and ОО2 full (X = N)
-- with waste handed over and still pending, storages МНО1..МНО9 (there is no МНО4) empty,
-- and the roads. Idempotent: a second run changes nothing. The pending waste is recorded
-- as a ledger transfer, so the books balance; a running service places it automatically.
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('wasteflow.seed'));

INSERT INTO organizations (name) VALUES ('ОО1'), ('ОО2') ON CONFLICT (name) DO NOTHING;

INSERT INTO organization_waste (organization_id, waste_type, capacity)
SELECT o.id, v.waste_type, v.capacity
FROM (VALUES ('ОО1', 'plastic', 10), ('ОО1', 'glass', 50), ('ОО1', 'bio', 50),
             ('ОО2', 'plastic', 60), ('ОО2', 'glass', 20), ('ОО2', 'bio', 50))
     AS v(name, waste_type, capacity)
JOIN organizations o ON o.name = v.name
ON CONFLICT (organization_id, waste_type) DO NOTHING;

-- Created in id order, so МНО1 gets the lowest id (it wins the 100 m tie with МНО5).
INSERT INTO storages (name)
SELECT name FROM (VALUES (1, 'МНО1'), (2, 'МНО2'), (3, 'МНО3'), (5, 'МНО5'), (6, 'МНО6'),
                         (7, 'МНО7'), (8, 'МНО8'), (9, 'МНО9')) AS v(n, name)
ORDER BY n
ON CONFLICT (name) DO NOTHING;

INSERT INTO storage_waste (storage_id, waste_type, capacity)
SELECT s.id, v.waste_type, v.capacity
FROM (VALUES ('МНО1', 'glass', 300), ('МНО1', 'plastic', 100),
             ('МНО2', 'plastic', 50), ('МНО2', 'bio', 150),
             ('МНО3', 'plastic', 10), ('МНО3', 'bio', 250),
             ('МНО5', 'glass', 220), ('МНО5', 'bio', 25),
             ('МНО6', 'glass', 100), ('МНО6', 'bio', 150),
             ('МНО7', 'plastic', 100), ('МНО7', 'bio', 250),
             ('МНО8', 'glass', 35), ('МНО8', 'plastic', 25), ('МНО8', 'bio', 52),
             ('МНО9', 'plastic', 250), ('МНО9', 'bio', 20))
     AS v(name, waste_type, capacity)
JOIN storages s ON s.name = v.name
ON CONFLICT (storage_id, waste_type) DO NOTHING;

WITH roads (from_org, from_storage, to_storage, distance_m, two_way) AS (
    VALUES ('ОО1', NULL, 'МНО1', 100, false), ('ОО1', NULL, 'МНО2', 50, false),
           ('ОО1', NULL, 'МНО3', 600, false), ('ОО2', NULL, 'МНО3', 50, false),
           (NULL, 'МНО1', 'МНО8', 500, false), (NULL, 'МНО3', 'МНО6', 600, false),
           (NULL, 'МНО8', 'МНО9', 10, true), (NULL, 'МНО2', 'МНО5', 50, true),
           (NULL, 'МНО3', 'МНО7', 50, true))
INSERT INTO routes (from_organization_id, from_storage_id, to_storage_id, distance_m, two_way)
SELECT o.id, fs.id, ts.id, r.distance_m, r.two_way
FROM roads r
LEFT JOIN organizations o ON o.name = r.from_org
LEFT JOIN storages fs ON fs.name = r.from_storage
JOIN storages ts ON ts.name = r.to_storage
ON CONFLICT ON CONSTRAINT routes_pair_key DO NOTHING;

-- Each organization hands over a full load once: the first time this seed runs.
WITH fresh AS (
    SELECT o.id, jsonb_object_agg(w.waste_type, w.capacity) AS load
    FROM organizations o JOIN organization_waste w ON w.organization_id = o.id
    WHERE o.name IN ('ОО1', 'ОО2') AND NOT EXISTS (SELECT 1 FROM transfers t
                                                   WHERE t.organization_id = o.id)
    GROUP BY o.id
), ledger AS (
    INSERT INTO transfers (organization_id, trigger, actor, received, pending)
    SELECT id, 'request', 'seed', load, load FROM fresh ORDER BY id
    RETURNING organization_id
), pending AS (
    UPDATE organization_waste w SET pending = w.capacity
    FROM ledger l WHERE w.organization_id = l.organization_id
)
UPDATE organizations o SET pending_since = now() FROM ledger l WHERE o.id = l.organization_id;

UPDATE dispatch_state SET room_epoch = room_epoch + 1;
COMMIT;
