#!/usr/bin/env bash
# Runs once, when the `db` service of docker-compose.yml initializes an empty volume (the
# /docker-entrypoint-initdb.d/ convention of the official postgres image, which
# deploy/postgres/Dockerfile's stand-in honours too). It is the operator's half of
# docs/design.md, "Database roles": it creates the login roles wasteflow_app and
# wasteflow_auditor ($WASTEFLOW_APP_ROLE / $WASTEFLOW_AUDITOR_ROLE) with the passwords the
# `secrets` one-shot generated. `wasteflow migrate` (the `migrate` one-shot, as the schema
# owner) then finds them and grants their privileges; it never sets passwords.
#
# Why here: the wasteflow image has no psql (and should not), this container has psql, a
# superuser session and the password files, and this hook works unchanged with the real
# postgres:15. The passwords go through psql variables read from the files (\set with
# backquotes), never through a command line. To change one later:
#   docker compose exec db psql -U wasteflow -d wasteflow -c '\password wasteflow_app'
# and write the new password into the api's passfile (volume api-secrets).
set -euo pipefail

secrets=/run/wasteflow-secrets
app_role="${WASTEFLOW_APP_ROLE:-wasteflow_app}"
auditor_role="${WASTEFLOW_AUDITOR_ROLE:-wasteflow_auditor}"

for file in app_password auditor_password; do
    if [[ ! -s "$secrets/$file" ]]; then
        echo "10-wasteflow-roles.sh: $secrets/$file is missing (did the secrets service run?)" >&2
        exit 1
    fi
done

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --dbname "$POSTGRES_DB" \
    --set app_role="$app_role" --set auditor_role="$auditor_role" <<'SQL'
\set app_password `cat /run/wasteflow-secrets/app_password`
\set auditor_password `cat /run/wasteflow-secrets/auditor_password`
CREATE ROLE :"app_role" LOGIN PASSWORD :'app_password';
CREATE ROLE :"auditor_role" LOGIN PASSWORD :'auditor_password';
SQL
echo "10-wasteflow-roles.sh: created login roles $app_role and $auditor_role"
