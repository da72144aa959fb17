-- wasteflow v3: the deployment's secret key. Every instance of one deployment signs what it
-- hands to clients and must get back unchanged (the storage view's cursors, event ids) with
-- keys derived from this one, so a cursor made by one instance is accepted by another and
-- a client cannot forge one. Made here from PostgreSQL's strong random source
-- (gen_random_uuid draws on pg_strong_random), never written anywhere else.
--
-- Only the service reads it: the app role may SELECT it and nothing more, the auditor role
-- may not read it at all (lib/db/migrate.c grants). Replacing the row (as the schema's owner)
-- rotates the key: instances started afterwards use the new one, and clients holding a
-- cursor signed with the old one are asked to start over.
CREATE TABLE deployment_key (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    key        bytea NOT NULL CHECK (octet_length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO deployment_key (key)
    SELECT sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) ||
                  uuid_send(gen_random_uuid()));
