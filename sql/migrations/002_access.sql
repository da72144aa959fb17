-- wasteflow v2, access control: API keys, who did what, and idempotency keys per caller.

-- A key is wf_<id>_<secret>; only SHA-256 of the secret is kept. Keys are never deleted
-- by the service (a revoked key keeps its row, so the ledger's "key:<id>" stays
-- traceable); deleting an organization or storage takes its keys with it.
CREATE TABLE api_keys (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_hash     bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
    role            text NOT NULL
                    CHECK (role IN ('admin', 'auditor', 'monitor', 'organization', 'storage')),
    organization_id bigint REFERENCES organizations (id) ON DELETE CASCADE,
    storage_id      bigint REFERENCES storages (id) ON DELETE CASCADE,
    name            text CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    revoked_at      timestamptz,
    CONSTRAINT api_keys_scope CHECK ((role = 'organization') = (organization_id IS NOT NULL)
                                     AND (role = 'storage') = (storage_id IS NOT NULL))
);

-- Bumped by every change to api_keys (a trigger, so psql edits and cascades count too):
-- each instance reloads its key cache when it moves, so a revoked key is refused
-- everywhere within a second.
CREATE TABLE api_keys_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO api_keys_state (version) VALUES (1);

CREATE FUNCTION api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE api_keys_state SET version = version + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_changed();

-- Who did it: "key:<id>", "jwt:<sub>", "dispatcher" or "seed". Rows from before access
-- control existed were made by anyone ("anonymous"), or by the dispatcher; the ledger's
-- append-only trigger is set aside for this one backfill, by the schema owner.
ALTER TABLE transfers ADD COLUMN actor text;
ALTER TABLE unloads ADD COLUMN actor text;
ALTER TABLE transfers DISABLE TRIGGER transfers_append_only;
ALTER TABLE unloads DISABLE TRIGGER unloads_append_only;
UPDATE transfers SET actor = CASE trigger WHEN 'auto' THEN 'dispatcher' ELSE 'anonymous' END;
UPDATE unloads SET actor = 'anonymous';
ALTER TABLE transfers ENABLE TRIGGER transfers_append_only;
ALTER TABLE unloads ENABLE TRIGGER unloads_append_only;
ALTER TABLE transfers ALTER COLUMN actor SET NOT NULL,
    ADD CONSTRAINT transfers_actor_length CHECK (char_length(actor) BETWEEN 1 AND 256);
ALTER TABLE unloads ALTER COLUMN actor SET NOT NULL,
    ADD CONSTRAINT unloads_actor_length CHECK (char_length(actor) BETWEEN 1 AND 256);

-- Idempotency keys belong to the caller who sent them: two callers never replay each
-- other's responses.
ALTER TABLE idempotency_keys ADD COLUMN principal text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey,
    ADD PRIMARY KEY (principal, key);
ALTER TABLE idempotency_keys ALTER COLUMN principal DROP DEFAULT;

-- JSON is written by the service (lib/api/repr.c) from plain rows.
DROP FUNCTION wf_organization_json(bigint);
DROP FUNCTION wf_storage_json(bigint);
DROP FUNCTION wf_route_json(routes);
DROP FUNCTION wf_transfer_json(bigint);
