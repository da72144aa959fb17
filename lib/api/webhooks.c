/* /v1/webhooks: an admin's subscriptions of endpoints to the service's events, and the attempts
 * made to deliver them. The signing secret is shown once, in the answer that creates the
 * subscription; the database keeps it sealed under a subkey of the deployment's key
 * (docs/webhooks.md), since the sender must sign with it. Sending is engine/webhook_sender.c. */
#include "api/common.h"
#include "api/handlers.h"
#include "api/repr.h"
#include "engine/statements.h"
#include "util/digest.h"
#include "util/net_class.h"
#include "util/webhook_sign.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const known_events[] = {"transfer.created", "movement.received",
                                           "unload.created", "alert.fired"};
#define KNOWN_EVENTS (sizeof known_events / sizeof known_events[0])

/* Why url may not be a webhook's target, or NULL. Only what the text itself says is
 * checked here (a host name is resolved, and its addresses checked, at each delivery). */
static const char *url_problem(const char *url, bool allow_private)
{
    if (strlen(url) > 2000) {
        return "must be at most 2000 characters";
    }
    CURLU *parsed = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL;
    const char *why = NULL;
    if (parsed == NULL) {
        return "could not be read";
    }
    if (curl_url_set(parsed, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        why = "must be an absolute http or https URL";
    } else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        why = "must use http or https";
    } else if (curl_url_get(parsed, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        why = "must not carry credentials; authenticate deliveries by their signature";
    } else if (!allow_private) {
        net_class c;
        size_t len = strlen(host);
        /* "localhost." and "10.0.0.1." name what they name without the dot (the resolver
         * drops it): judge them the same. */
        if (len > 1 && host[len - 1] == '.') {
            host[--len] = '\0';
        }
        bool local_name = strcasecmp(host, "localhost") == 0 ||
                          (len > 10 && strcasecmp(host + len - 10, ".localhost") == 0);
        if (local_name) {
            why = "must not point at this host (loopback)";
        } else if (net_class_literal(host, &c) && c != NET_PUBLIC) {
            why = c == NET_LOOPBACK      ? "must not point at a loopback address"
                  : c == NET_PRIVATE     ? "must not point at a private address"
                  : c == NET_LINK_LOCAL  ? "must not point at a link-local address"
                  : c == NET_UNSPECIFIED ? "must not point at an unspecified address"
                                         : "must not point at a reserved address";
        } else if (strchr(host, '%') != NULL || strncmp(host, "[fe80", 5) == 0) {
            why = "must not point at a link-local address";
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(parsed);
    return why;
}

/* {"id","url","events","created_at"} of columns col.. of a row (ST_WH_* order), and the
 * secret when given. */
static void repr_webhook(strbuf *out, const db_result *result, int q, int row, const char *secret)
{
    strbuf_puts(out, "{\"id\":");
    strbuf_puts(out, db_text(result, q, row, 0));
    strbuf_puts(out, ",\"url\":");
    strbuf_json_string(out, db_text(result, q, row, 1));
    strbuf_puts(out, ",\"events\":");
    repr_json_compact(out, db_text(result, q, row, 2));
    strbuf_puts(out, ",\"created_at\":");
    repr_timestamp(out, db_text(result, q, row, 3));
    if (secret != NULL) {
        strbuf_puts(out, ",\"secret\":");
        strbuf_json_string(out, secret);
    }
    strbuf_puts(out, "}");
}

typedef struct {
    char secret[WEBHOOK_SECRET_MAX];
} new_webhook;

static void created(tx *t, const db_result *result)
{
    const new_webhook *hook = tx_user(t);
    /* A replay under the same Idempotency-Key shows the subscription without its secret. */
    strbuf replay = {0};
    repr_webhook(&replay, result, 0, 0, NULL);
    tx_set_replay_body(t, replay.data);
    strbuf_free(&replay);
    strbuf out = {0};
    repr_webhook(&out, result, 0, 0, hook->secret);
    const char *location = arena_printf(tx_arena(t), "/v1/webhooks/%s", db_text(result, 0, 0, 0));
    http_add_header(tx_ctx(t), "Cache-Control", "no-store");
    api_reply_buffer(t, 201, &out, location);
}

/* The events member as a Postgres text[] literal of known types, each once, in request order;
 * NULL after adding a field error. */
static const char *read_events(http_ctx *ctx, const cJSON *events, field_errors *errors)
{
    static const char shape[] =
        "must be a non-empty array of transfer.created, movement.received, unload.created, "
        "alert.fired";
    if (!cJSON_IsArray(events) || cJSON_GetArraySize(events) == 0) {
        field_errors_add(errors, "events", shape);
        return NULL;
    }
    bool seen[KNOWN_EVENTS] = {0};
    strbuf literal = {0};
    strbuf_puts(&literal, "{");
    int index = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, events)
    {
        size_t k = KNOWN_EVENTS;
        for (size_t i = 0; i < KNOWN_EVENTS && cJSON_IsString(item); i++) {
            if (strcmp(item->valuestring, known_events[i]) == 0) {
                k = i;
            }
        }
        if (k == KNOWN_EVENTS) {
            char field[32];
            snprintf(field, sizeof field, "events[%d]", index);
            field_errors_add(errors, field, "unknown event type");
            strbuf_free(&literal);
            return NULL;
        }
        if (!seen[k]) {
            strbuf_puts(&literal, literal.len > 1 ? "," : "");
            strbuf_puts(&literal, known_events[k]);
            seen[k] = true;
        }
        index++;
    }
    strbuf_puts(&literal, "}");
    const char *copy = strbuf_failed(&literal) ? NULL : arena_strdup(&ctx->arena, literal.data);
    strbuf_free(&literal);
    return copy;
}

void handle_webhooks_create(http_ctx *ctx)
{
    static const char *const allowed[] = {"url", "events", NULL};
    cJSON *body = api_body_fields(ctx, allowed);
    if (body == NULL) {
        return;
    }
    wf_app *app = app_of(ctx);
    field_errors errors = {0};
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(body, "url");
    const char *why = !cJSON_IsString(url)
                          ? "is required, an http or https URL"
                          : url_problem(url->valuestring, app->cfg->webhook_allow_private);
    if (why != NULL) {
        field_errors_add(&errors, "url", why);
    }
    const char *events =
        read_events(ctx, cJSON_GetObjectItemCaseSensitive(body, "events"), &errors);
    if (errors.count > 0) {
        cJSON_Delete(body);
        http_problem_fields(ctx, &errors);
        return;
    }
    tx *t = tx_for(ctx);
    const char *url_text = tx_text(t, url->valuestring);
    cJSON_Delete(body);
    new_webhook *hook = TX_NEW(t, new_webhook);
    uint8_t key[DIGEST_HMAC_BYTES];
    digest_derive_key(app->deployment_key, DEPLOYMENT_KEY_BYTES, WEBHOOK_SEAL_LABEL, key);
    char sealed[WEBHOOK_SEALED_MAX];
    if (webhook_secret_new(hook->secret) != 0 ||
        webhook_secret_seal(key, hook->secret, sealed) != 0) {
        tx_fail(t, PROBLEM_UNAVAILABLE, "No random bytes for a new secret; retry shortly.");
        return;
    }
    tx_set_user(t, hook);
    tx_q(t, ST_WH_CREATE, url_text, events, tx_text(t, sealed));
    tx_run(t, TX_ONE_ROUND, created);
}

static void webhook_item(strbuf *out, const void *result, size_t index)
{
    repr_webhook(out, result, 0, (int)index, NULL);
}

static int64_t first_column_id(const void *result, size_t index)
{
    return db_int64(result, 0, (int)index, 0);
}

static void listed(tx *t, const db_result *result)
{
    const api_page *page = tx_user(t);
    api_reply_page(t, result, (size_t)db_rows(result, 0), page->limit, webhook_item,
                   first_column_id);
}

void handle_webhooks_list(http_ctx *ctx)
{
    api_page page;
    if (!api_page_params(ctx, &page)) {
        return;
    }
    tx *t = tx_for(ctx);
    api_list_begin(t, &page);
    tx_q(t, ST_WH_LIST, tx_int(t, page.after_id), tx_int(t, page.limit + 1));
    tx_run(t, TX_READ, listed);
}

static void render_webhook(strbuf *out, tx *t, const db_result *result)
{
    repr_webhook(out, result, 0, 0, NULL);
}

void handle_webhooks_get(http_ctx *ctx)
{
    api_get_by_id(ctx, ST_WH_GET, "Webhook", render_webhook);
}

/* Deleting a subscription drops what it still had to deliver and its attempts. */
void handle_webhooks_delete(http_ctx *ctx)
{
    tx *t = tx_for(ctx);
    tx_q(t, ST_WH_DELETE, tx_int(t, ctx->match.ids[0]));
    api_run_delete(t, NULL);
}

/* {"webhook_id","event_type","attempt","status_code","at"} (plus the message's id). */
static void delivery_item(strbuf *out, const void *result, size_t index)
{
    int row = (int)index;
    strbuf_puts(out, "{\"webhook_id\":");
    strbuf_puts(out, db_text(result, 1, row, 1));
    strbuf_puts(out, ",\"message_id\":\"msg_");
    strbuf_puts(out, db_text(result, 1, row, 2));
    strbuf_puts(out, "\",\"event_type\":");
    strbuf_json_string(out, db_text(result, 1, row, 3));
    strbuf_puts(out, ",\"attempt\":");
    strbuf_puts(out, db_text(result, 1, row, 4));
    strbuf_puts(out, ",\"status_code\":");
    strbuf_puts(out, db_is_null(result, 1, row, 5) ? "null" : db_text(result, 1, row, 5));
    strbuf_puts(out, ",\"at\":");
    repr_timestamp(out, db_text(result, 1, row, 6));
    strbuf_puts(out, "}");
}

static int64_t delivery_id(const void *result, size_t index)
{
    return db_int64(result, 1, (int)index, 0);
}

static void deliveries_listed(tx *t, const db_result *result)
{
    const api_page *page = tx_user(t);
    api_reply_page(t, result, (size_t)db_rows(result, 1), page->limit, delivery_item, delivery_id);
}

void handle_webhook_deliveries(http_ctx *ctx)
{
    api_page page;
    if (!api_page_params(ctx, &page)) {
        return;
    }
    tx *t = tx_for(ctx);
    api_list_begin(t, &page);
    const char *id = tx_int(t, ctx->match.ids[0]);
    tx_q(t, ST_WH_EXISTS, id);
    tx_q(t, ST_WH_DELIVERIES, id, tx_int(t, page.after_id), tx_int(t, page.limit + 1));
    tx_run(t, TX_READ, deliveries_listed);
}
