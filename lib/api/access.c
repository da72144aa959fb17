/* Authentication and authorization (see access.h). */
#include "api/access.h"

#include "auth/api_key.h"
#include "auth/jwt.h"
#include "engine/app.h"
#include "engine/key_cache.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CHALLENGE       "Bearer realm=\"wasteflow\""
#define CHALLENGE_TOKEN "Bearer realm=\"wasteflow\", error=\"invalid_token\""

static void refuse_unauthenticated(http_ctx *ctx, bool token_sent, const char *detail)
{
    http_add_header(ctx, "WWW-Authenticate", token_sent ? CHALLENGE_TOKEN : CHALLENGE);
    http_problem(ctx, PROBLEM_UNAUTHORIZED, "%s", detail);
}

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

/* An API key against this instance's cache; fills the principal when valid. */
static key_check check_key(http_ctx *ctx, int64_t id, const uint8_t *hash, const char **why)
{
    const key_entry *key = key_cache_find(app_of(ctx)->keys, id);
    if (key == NULL) {
        *why = "The API key is not known.";
        return KEY_UNKNOWN;
    }
    if (!api_key_hash_equal(key->hash, hash)) {
        *why = "The API key is not known.";
        return KEY_INVALID;
    }
    if (key->revoked) {
        *why = "The API key has been revoked.";
        return KEY_INVALID;
    }
    if (key->expires_at != 0 && (int64_t)time(NULL) >= key->expires_at) {
        *why = "The API key has expired.";
        return KEY_INVALID;
    }
    ctx->principal = (auth_principal){
        .role = key->role,
        .organization_id = key->organization_id,
        .storage_id = key->storage_id,
        .key_id = key->id,
    };
    snprintf(ctx->principal.actor, sizeof ctx->principal.actor, "key:%lld", (long long)key->id);
    ctx->authenticated = true;
    return KEY_VALID;
}

/* A request waiting for the key cache to learn of a key created a moment ago. */
typedef struct {
    http_ctx *ctx;
    const http_endpoint *endpoint;
    int64_t id;
    uint8_t hash[API_KEY_HASH_BYTES];
} key_wait;

static void key_cache_answered(void *arg)
{
    key_wait *wait = arg;
    http_ctx *ctx = wait->ctx;
    const char *why = NULL;
    if (check_key(ctx, wait->id, wait->hash, &why) != KEY_VALID) {
        refuse_unauthenticated(ctx, true, why);
        return;
    }
    if (authorized(ctx, wait->endpoint)) {
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

http_verdict access_authenticate(http_ctx *ctx, const http_endpoint *endpoint)
{
    const char *header = http_header(ctx, "Authorization");
    if (header == NULL) {
        refuse_unauthenticated(ctx, false,
                               "Credentials are required: send Authorization: Bearer <token>.");
        return HTTP_REFUSED;
    }
    const char *token = bearer_token(header);
    if (token == NULL) {
        refuse_unauthenticated(ctx, true, "The Authorization header must be \"Bearer <token>\".");
        return HTTP_REFUSED;
    }
    wf_app *app = app_of(ctx);
    const char *why = "The token is neither an API key nor a JWT this service accepts.";
    if (strncmp(token, "wf_", 3) == 0) {
        int64_t id;
        uint8_t hash[API_KEY_HASH_BYTES];
        if (api_key_parse(token, &id, hash) != 0) {
            refuse_unauthenticated(ctx, true, "The API key is malformed.");
            return HTTP_REFUSED;
        }
        key_check checked = check_key(ctx, id, hash, &why);
        if (checked == KEY_UNKNOWN) {
            key_wait *wait = ARENA_NEW(&ctx->arena, key_wait);
            *wait = (key_wait){ctx, endpoint, id, {0}};
            memcpy(wait->hash, hash, sizeof hash);
            if (key_cache_refresh(app->keys, key_cache_answered, wait)) {
                return HTTP_PENDING;
            }
        }
        if (checked != KEY_VALID) {
            refuse_unauthenticated(ctx, true, why);
            return HTTP_REFUSED;
        }
    } else if (jwt_verifier_enabled(app->jwt) &&
               jwt_verify(app->jwt, token, (int64_t)time(NULL), &ctx->principal, &why) == 0) {
        ctx->authenticated = true;
    } else {
        refuse_unauthenticated(ctx, true, why);
        return HTTP_REFUSED;
    }
    return authorized(ctx, endpoint) ? HTTP_ADMIT : HTTP_REFUSED;
}

int64_t access_own_organization(const http_ctx *ctx)
{
    return ctx->principal.role == ROLE_ORGANIZATION ? ctx->principal.organization_id : 0;
}

int64_t access_own_storage(const http_ctx *ctx)
{
    return ctx->principal.role == ROLE_STORAGE ? ctx->principal.storage_id : 0;
}
