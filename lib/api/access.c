/* Authentication and authorization (see access.h). */
#include "api/access.h"

#include "auth/api_key.h"
#include "auth/jwt.h"
#include "auth/token_cache.h"
#include "engine/app.h"
#include "engine/key_cache.h"
#include "util/metrics.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CHALLENGE       "Bearer realm=\"wasteflow\""
#define CHALLENGE_TOKEN "Bearer realm=\"wasteflow\", error=\"invalid_token\""

static void answer_unauthenticated(http_ctx *ctx, bool token_sent, const char *detail)
{
    http_add_header(ctx, "WWW-Authenticate", token_sent ? CHALLENGE_TOKEN : CHALLENGE);
    http_problem(ctx, PROBLEM_UNAUTHORIZED, "%s", detail);
}

/* A request without valid credentials costs its client address one request of the rate
 * limit (so guessing keys is limited too): 429 once that is spent, else 401. */
static http_verdict refuse_unauthenticated(http_ctx *ctx, bool token_sent, const char *detail)
{
    if (http_rate_admit_address(ctx)) {
        answer_unauthenticated(ctx, token_sent, detail);
    }
    return HTTP_REFUSED;
}

/* Valid credentials: one request from their own bucket (an API key by its id, a JWT by its
 * issuer and subject), whatever address they come from. False: answered 429. */
static bool rate_admit_principal(http_ctx *ctx)
{
    const auth_principal *who = &ctx->principal;
    char identity[8 + AUTH_ISSUER_MAX + AUTH_ACTOR_MAX];
    int len;
    if (who->key_id > 0) {
        len = snprintf(identity, sizeof identity, "key:%lld", (long long)who->key_id);
    } else {
        /* actor is "jwt:<sub>"; the NUL between issuer and subject keeps "a" + "bc" apart
         * from "ab" + "c". */
        len = snprintf(identity, sizeof identity, "%s%c%s", who->actor, '\0', who->issuer);
    }
    if (len < 0) {
        len = 0;
    }
    return http_rate_admit_credential(
        ctx, identity, (size_t)len < sizeof identity ? (size_t)len : sizeof identity - 1);
}

/* Authenticated: the rate limit, then role and scope. */
static http_verdict admit_principal(http_ctx *ctx, const http_endpoint *endpoint);

/* Role, then scope: 403 naming what the principal may not do. */
static bool authorized(http_ctx *ctx, const http_endpoint *endpoint)
{
    const auth_principal *who = &ctx->principal;
    if ((endpoint->roles & who->role) == 0) {
        http_problem(ctx, PROBLEM_FORBIDDEN, "The %s role may not %s %s.",
                     auth_role_name(who->role), ctx->method_name, ctx->match.route->pattern);
        return false;
    }
    bool own = true;
    if (endpoint->scope == SCOPE_OWN_ORGANIZATION && who->role == ROLE_ORGANIZATION) {
        own = ctx->match.ids[0] == who->organization_id;
    } else if (endpoint->scope == SCOPE_OWN_STORAGE && who->role == ROLE_STORAGE) {
        own = ctx->match.ids[0] == who->storage_id;
    }
    if (!own) {
        http_problem(
            ctx, PROBLEM_FORBIDDEN, "This key acts for %s %lld only.",
            who->role == ROLE_ORGANIZATION ? "organization" : "storage",
            (long long)(who->role == ROLE_ORGANIZATION ? who->organization_id : who->storage_id));
        return false;
    }
    return true;
}

typedef enum { KEY_VALID, KEY_INVALID, KEY_UNKNOWN } key_check;

/* What an unknown key id's hash is compared with, so that an unknown id and a known id with
 * a wrong secret take the same steps and the same time: the answer never tells which ids
 * exist. No secret hashes to it (it is not a SHA-256 output anyone can aim at). */
static const uint8_t no_such_key[API_KEY_HASH_BYTES] = {0};

/* The principal of a live key (not revoked, not expired), or false with the reason. */
static bool key_principal(http_ctx *ctx, const key_entry *key, const char **why)
{
    if (key->revoked) {
        *why = "The API key has been revoked.";
        return false;
    }
    if (key->expires_at != 0 && (int64_t)time(NULL) >= key->expires_at) {
        *why = "The API key has expired.";
        return false;
    }
    ctx->principal = (auth_principal){
        .role = key->role,
        .organization_id = key->organization_id,
        .storage_id = key->storage_id,
        .key_id = key->id,
    };
    snprintf(ctx->principal.actor, sizeof ctx->principal.actor, "key:%lld", (long long)key->id);
    ctx->authenticated = true;
    return true;
}

/* An API key against this instance's cache; fills the principal when valid. */
static key_check check_key(http_ctx *ctx, int64_t id, const uint8_t *hash, const char **why)
{
    const key_entry *key = key_cache_find(app_of(ctx)->keys, id);
    bool equal = api_key_hash_equal(key != NULL ? key->hash : no_such_key, hash);
    if (key == NULL) {
        *why = "The API key is not known.";
        return KEY_UNKNOWN;
    }
    if (!equal) {
        *why = "The API key is not known.";
        return KEY_INVALID;
    }
    return key_principal(ctx, key, why) ? KEY_VALID : KEY_INVALID;
}

/* Remembers the token that just made ctx's principal (valid until valid_until_s; an API
 * key's hash to check against the key cache on every later use). */
static void remember_valid(http_ctx *ctx, const char *token, int64_t valid_until_s,
                           const uint8_t *key_hash)
{
    token_verdict verdict = {.principal = ctx->principal, .valid_until_s = valid_until_s};
    if (key_hash != NULL) {
        memcpy(verdict.key_hash, key_hash, API_KEY_HASH_BYTES);
    }
    token_cache_put(app_of(ctx)->verified, token, strlen(token), &verdict);
}

/* A token this instance found valid before and that still is: fills the principal without
 * any cryptography. An API key is valid only as long as the key cache says so (revoked,
 * expired or gone: not known valid any more, and checked from scratch). */
static bool known_valid(http_ctx *ctx, const char *token)
{
    const token_verdict *verdict =
        token_cache_find(app_of(ctx)->verified, token, strlen(token), (int64_t)time(NULL));
    if (verdict == NULL) {
        return false;
    }
    if (verdict->principal.key_id == 0) {
        ctx->principal = verdict->principal;
        ctx->authenticated = true;
        return true;
    }
    const key_entry *key = key_cache_find(app_of(ctx)->keys, verdict->principal.key_id);
    const char *why = NULL;
    return key != NULL && memcmp(key->hash, verdict->key_hash, API_KEY_HASH_BYTES) == 0 &&
           key_principal(ctx, key, &why);
}

/* A request waiting for the key cache to learn of a key created a moment ago. */
typedef struct {
    http_ctx *ctx;
    const http_endpoint *endpoint;
    const char *token;
    int64_t id;
    uint8_t hash[API_KEY_HASH_BYTES];
} key_wait;

static void key_cache_answered(void *arg)
{
    key_wait *wait = arg;
    http_ctx *ctx = wait->ctx;
    const char *why = NULL;
    if (check_key(ctx, wait->id, wait->hash, &why) != KEY_VALID) {
        /* Its address paid for the lookup already. */
        answer_unauthenticated(ctx, true, why);
        return;
    }
    remember_valid(ctx, wait->token, INT64_MAX, wait->hash);
    if (admit_principal(ctx, wait->endpoint) == HTTP_ADMIT) {
        http_resume(ctx);
    }
}

/* "Bearer <token>": the token, or NULL when the header is not of that form. */
static const char *bearer_token(const char *header)
{
    if (strncasecmp(header, "Bearer ", 7) != 0) {
        return NULL;
    }
    const char *token = header + 7;
    while (*token == ' ') {
        token++;
    }
    if (*token == '\0' || strpbrk(token, " \t") != NULL) {
        return NULL;
    }
    return token;
}

static http_verdict admit_principal(http_ctx *ctx, const http_endpoint *endpoint)
{
    if (!rate_admit_principal(ctx)) {
        return HTTP_REFUSED;
    }
    return authorized(ctx, endpoint) ? HTTP_ADMIT : HTTP_REFUSED;
}

/* The cryptography of a token not known valid: an API key's secret hashed and compared
 * (with the same steps for an unknown id), or a JWT's signature verified. Its address has
 * paid for it already: every answer but an admission is given here, without charging it
 * again. */
static http_verdict check_token(http_ctx *ctx, const http_endpoint *endpoint, const char *token)
{
    wf_app *app = app_of(ctx);
    const char *why = "The token is neither an API key nor a JWT this service accepts.";
    if (strncmp(token, "wf_", 3) == 0) {
        int64_t id;
        uint8_t hash[API_KEY_HASH_BYTES];
        if (api_key_parse(token, &id, hash) != 0) {
            answer_unauthenticated(ctx, true, "The API key is malformed.");
            return HTTP_REFUSED;
        }
        metrics_count_credential_check("api_key"); /* the secret was hashed by the parse */
        key_check checked = check_key(ctx, id, hash, &why);
        if (checked == KEY_UNKNOWN && key_cache_may_be_new(app->keys, id)) {
            /* Perhaps a key made a moment ago on another instance: one refresh, shared by
             * every request waiting for one, and bounded in rate by the cache. */
            key_wait *wait = ARENA_NEW(&ctx->arena, key_wait);
            *wait = (key_wait){ctx, endpoint, arena_strdup(&ctx->arena, token), id, {0}};
            memcpy(wait->hash, hash, sizeof hash);
            if (key_cache_refresh(app->keys, id, key_cache_answered, wait)) {
                return HTTP_PENDING;
            }
        }
        if (checked != KEY_VALID) {
            answer_unauthenticated(ctx, true, why);
            return HTTP_REFUSED;
        }
        remember_valid(ctx, token, INT64_MAX, hash);
        return admit_principal(ctx, endpoint);
    }
    int64_t valid_until_s = 0;
    if (jwt_verifier_enabled(app->jwt)) {
        metrics_count_credential_check("jwt");
        if (jwt_verify_until(app->jwt, token, (int64_t)time(NULL), &ctx->principal, &valid_until_s,
                             &why) == 0) {
            ctx->authenticated = true;
            remember_valid(ctx, token, valid_until_s, NULL);
            return admit_principal(ctx, endpoint);
        }
    }
    answer_unauthenticated(ctx, true, why);
    return HTTP_REFUSED;
}

http_verdict access_authenticate(http_ctx *ctx, const http_endpoint *endpoint)
{
    const char *header = http_header(ctx, "Authorization");
    if (header == NULL) {
        return refuse_unauthenticated(
            ctx, false, "Credentials are required: send Authorization: Bearer <token>.");
    }
    const char *token = bearer_token(header);
    if (token == NULL) {
        /* Another scheme (Basic, Digest) sent no bearer token: RFC 6750 3.1, no error code. */
        return refuse_unauthenticated(ctx, strncasecmp(header, "Bearer", 6) == 0,
                                      "The Authorization header must be \"Bearer <token>\".");
    }
    /* Valid credentials are charged to their own bucket, whatever address they come from. */
    if (known_valid(ctx, token)) {
        return admit_principal(ctx, endpoint);
    }
    /* Anything else costs its address one request before any cryptography is done for it:
     * a flood of forged tokens is refused with 429 for the price of a hash-table lookup.
     * (A valid token seen for the first time pays too, once, then its own bucket.) */
    if (!http_rate_admit_address(ctx)) {
        return HTTP_REFUSED;
    }
    return check_token(ctx, endpoint, token);
}

int64_t access_own_organization(const http_ctx *ctx)
{
    return ctx->principal.role == ROLE_ORGANIZATION ? ctx->principal.organization_id : 0;
}

int64_t access_own_storage(const http_ctx *ctx)
{
    return ctx->principal.role == ROLE_STORAGE ? ctx->principal.storage_id : 0;
}
