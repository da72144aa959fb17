#!/bin/sh
# One-shot `secrets` service of docker-compose.yml. On the first `up` it generates random
# passwords into named volumes, one volume per consumer, so each container sees only what
# it needs; on every later `up` it finds them and changes nothing.
#   /secrets/db/owner_password     POSTGRES_PASSWORD_FILE of `db` (the schema owner)
#   /secrets/db/app_password       read once by deploy/compose/initdb/10-wasteflow-roles.sh
#   /secrets/db/auditor_password   (same), for auditors' psql sessions
#   /secrets/migrate/pgpass        libpq passfile of the owner, for the `migrate` one-shot
#   /secrets/api/pgpass            libpq passfile of the app role, for `api`
# Owners: 999 is user postgres in the official image and in deploy/postgres/Dockerfile;
# 10001 is user wasteflow of deploy/Dockerfile. libpq ignores a passfile readable by group
# or others, hence 0600. Run by compose as root in the wasteflow image (sh, coreutils).
set -eu
umask 077

owner_role="${POSTGRES_USER:?}"
app_role="${WASTEFLOW_APP_ROLE:?}"
auditor_role="${WASTEFLOW_AUDITOR_ROLE:?}"

if [ -e /secrets/db/.complete ]; then
    echo "secrets: passwords exist, kept"
    exit 0
fi

# 30 random bytes as 40 characters of base64 without the URL-unsafe ones.
new_password() {
    head -c 30 /dev/urandom | base64 | tr -d '\n' | tr '+/' '-_'
}

owner_password=$(new_password)
app_password=$(new_password)
auditor_password=$(new_password)

printf '%s\n' "$owner_password" >/secrets/db/owner_password
printf '%s\n' "$app_password" >/secrets/db/app_password
printf '%s\n' "$auditor_password" >/secrets/db/auditor_password
printf '*:*:*:%s:%s\n' "$owner_role" "$owner_password" >/secrets/migrate/pgpass
printf '*:*:*:%s:%s\n' "$app_role" "$app_password" >/secrets/api/pgpass

chown 999:999 /secrets/db/owner_password /secrets/db/app_password \
    /secrets/db/auditor_password
chmod 0400 /secrets/db/owner_password /secrets/db/app_password \
    /secrets/db/auditor_password
chown 10001:10001 /secrets/migrate/pgpass /secrets/api/pgpass
chmod 0600 /secrets/migrate/pgpass /secrets/api/pgpass
# Last, so an interrupted run starts over instead of leaving half a set.
: >/secrets/db/.complete
echo "secrets: generated passwords for $owner_role, $app_role and $auditor_role"
