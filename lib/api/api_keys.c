/* /v1/me (who the caller is) and /v1/api-keys (an admin's keys for machines: scales,
 * storage terminals, scripts). A key's secret is shown once, in the answer that creates
 * it; the database keeps only its SHA-256 (auth/api_key.h). */
#include "api/access.h"
#include "api/common.h"
#include "api/handlers.h"
#include "api/repr.h"
#include "api/rows.h"
#include "auth/api_key.h"
#include "engine/key_cache.h"
#include "engine/statements.h"

#include <stdio.h>
#include <string.h>

void handle_me(http_ctx *ctx)
{
    strbuf out = {0};
    repr_principal(&out, &ctx->principal);
    http_reply_json(ctx, 200, out.data, out.len);
    strbuf_free(&out);
}

static const tx_conflict key_conflicts[] = {
    {"api_keys_organization_id_fkey", PROBLEM_VALIDATION, "organization_id",
     "no such organization"},
    {"api_keys_storage_id_fkey", PROBLEM_VALIDATION, "storage_id", "no such storage"},
    {NULL, 0, NULL, NULL},
};

typedef struct {
    char secret[2 * API_KEY_SECRET_BYTES + 1];
} new_key;

static void created(tx *t, const db_result *result)
{
    const new_key *secret = tx_user(t);
    repr_key_row key = rows_key(result, 1, 0);
    char token[API_KEY_TOKEN_MAX];
    if (api_key_format(key.id, secret->secret, token, sizeof token) != 0) {
        tx_fail(t, PROBLEM_INTERNAL, "The new key could not be written out; it changed nothing.");
        return;
    }
    /* A replay under the same Idempotency-Key shows the key without its secret: the
     * database never holds a secret, not even in a stored response. */
    strbuf replay = {0};
    repr_api_key(&replay, &key);
    tx_set_replay_body(t, replay.data);
    strbuf_free(&replay);
    key.key = token;
    strbuf out = {0};
    repr_api_key(&out, &key);
    const char *location = arena_printf(tx_arena(t), "/v1/api-keys/%lld", (long long)key.id);
    /* The one answer that carries the secret: no cache (browser, proxy) may keep a copy. */
    http_add_header(tx_ctx(t), "Cache-Control", "no-store");
    api_reply_buffer(t, 201, &out, location);
}

/* An optional positive id member (absent or null: 0). */
static int64_t optional_id(const cJSON *body, const char *name, field_errors *errors)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);
    if (item == NULL || cJSON_IsNull(item)) {
        return 0;
    }
    double value = cJSON_IsNumber(item) ? item->valuedouble : 0;
    if (value < 1 || value > 9.2e18 || value != (double)(int64_t)value) {
        field_errors_add(errors, name, "must be a positive integer id");
        return 0;
    }
    return (int64_t)value;
}

/* The member a scope problem is about (auth_scope_problem's rule): the scope the role
 * needs and lacks, or the one it was given and takes none of. */
static const char *scope_field(auth_role role, int64_t organization_id, int64_t storage_id)
{
    if (role == ROLE_ORGANIZATION) {
        return organization_id <= 0 ? "organization_id" : "storage_id";
    }
    if (role == ROLE_STORAGE) {
        return storage_id <= 0 ? "storage_id" : "organization_id";
    }
    return organization_id != 0 ? "organization_id" : "storage_id";
}

void handle_api_keys_create(http_ctx *ctx)
{
    static const char *const allowed[] = {"role", "organization_id", "storage_id",
                                          "name", "expires_at",      NULL};
    cJSON *body = api_body_fields(ctx, allowed);
    if (body == NULL) {
        return;
    }
    field_errors errors = {0};
    const cJSON *role_item = cJSON_GetObjectItemCaseSensitive(body, "role");
    auth_role role = cJSON_IsString(role_item) ? auth_role_parse(role_item->valuestring) : 0;
    if (role == 0) {
        field_errors_add(&errors, "role",
                         "must be one of admin, auditor, monitor, organization, storage");
    }
    int64_t organization_id = optional_id(body, "organization_id", &errors);
    int64_t storage_id = optional_id(body, "storage_id", &errors);
    const char *scope = role != 0 ? auth_scope_problem(role, organization_id, storage_id) : NULL;
    if (scope != NULL && errors.count == 0) {
        field_errors_add(&errors, scope_field(role, organization_id, storage_id), scope);
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    const char *why = NULL;
    if (!json_input_name(name, &why)) {
        field_errors_add(&errors, "name", name == NULL ? "is required" : why);
    }
    const cJSON *expires = cJSON_GetObjectItemCaseSensitive(body, "expires_at");
    if (expires != NULL && !cJSON_IsNull(expires) &&
        !(cJSON_IsString(expires) && timestamp_valid(expires->valuestring))) {
        field_errors_add(&errors, "expires_at",
                         "must be an RFC 3339 date-time such as 2027-01-31T00:00:00Z");
    }
    if (errors.count > 0) {
        cJSON_Delete(body);
        http_problem_fields(ctx, &errors);
        return;
    }
    tx *t = tx_for(ctx);
    new_key *secret = TX_NEW(t, new_key);
    uint8_t hash[API_KEY_HASH_BYTES];
    if (api_key_new_secret(secret->secret, hash) != 0) {
        cJSON_Delete(body);
        tx_fail(t, PROBLEM_UNAVAILABLE, "No random bytes for a new key; retry shortly.");
        return;
    }
    char hash_hex[2 * API_KEY_HASH_BYTES + 1];
    for (size_t i = 0; i < API_KEY_HASH_BYTES; i++) {
        snprintf(hash_hex + 2 * i, 3, "%02x", hash[i]);
    }
    tx_set_user(t, secret);
    const char *expires_at = cJSON_IsString(expires) ? tx_text(t, expires->valuestring) : NULL;
    tx_q(t, ST_KEY_EXPIRY_CHECK, expires_at);
    tx_q(t, ST_KEY_CREATE, tx_text(t, hash_hex), auth_role_name(role),
         organization_id ? tx_int(t, organization_id) : NULL,
         storage_id ? tx_int(t, storage_id) : NULL, tx_text(t, name->valuestring), expires_at);
    cJSON_Delete(body);
    tx_conflicts(t, key_conflicts);
    tx_run(t, TX_ONE_ROUND, created);
}

static void key_item(strbuf *out, const void *result, size_t index)
{
    repr_key_row key = rows_key(result, 0, (int)index);
    repr_api_key(out, &key);
}

static int64_t key_id(const void *result, size_t index)
{
    return db_int64(result, 0, (int)index, 0);
}

static void listed(tx *t, const db_result *result)
{
    const api_page *page = tx_user(t);
    api_reply_page(t, result, (size_t)db_rows(result, 0), page->limit, key_item, key_id);
}

void handle_api_keys_list(http_ctx *ctx)
{
    api_page page;
    if (!api_page_params(ctx, &page)) {
        return;
    }
    tx *t = tx_for(ctx);
    api_list_begin(t, &page);
    tx_q(t, ST_KEY_LIST, tx_int(t, page.after_id), tx_int(t, page.limit + 1));
    tx_run(t, TX_READ, listed);
}

static void render_key(strbuf *out, tx *t, const db_result *result)
{
    repr_key_row key = rows_key(result, 0, 0);
    repr_api_key(out, &key);
}

void handle_api_keys_get(http_ctx *ctx)
{
    api_get_by_id(ctx, ST_KEY_GET, "API key", render_key);
}

static void revoked_here(tx *t, void *arg)
{
    (void)arg;
    key_cache_revoked(tx_app(t)->keys, tx_ctx(t)->match.ids[0]);
}

static void revoked(tx *t, const db_result *result)
{
    (void)result;
    tx_on_commit(t, revoked_here, NULL);
    tx_reply(t, 204, NULL, NULL);
}

/* Revokes: the row stays, so the ledger's "key:<id>" stays traceable. The instance that
 * revoked it refuses it from the 204 on; the others within a refresh. */
void handle_api_keys_delete(http_ctx *ctx)
{
    tx *t = tx_for(ctx);
    tx_q(t, ST_KEY_REVOKE, tx_int(t, ctx->match.ids[0]));
    tx_run(t, TX_ONE_ROUND, revoked);
}
