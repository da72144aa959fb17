/* Replies: sending a response (headers every response carries, CORS, the access log
 * line and metrics), RFC 9457 problems, CORS preflights, and the 413 the connection guard
 * writes before a body is read. Each reply frees the request (request.c). */
#include "http/internal.h"

#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"
#include "util/utf8.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void http_add_header(http_ctx *ctx, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(ctx->req), name, value);
}

typedef enum { ORIGIN_REFUSED, ORIGIN_LISTED, ORIGIN_ANY } origin_verdict;

/* Whether the browser origin may read responses: named in WASTEFLOW_CORS_ORIGINS, or any
 * origin when the list holds "*". */
static origin_verdict origin_allowed(const http_server *server, const char *origin)
{
    const char *list = server->options.cors_origins;
    if (origin == NULL || list == NULL || list[0] == '\0') {
        return ORIGIN_REFUSED;
    }
    size_t origin_len = strlen(origin);
    for (const char *p = list; *p != '\0';) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed > 0 && p[trimmed - 1] == ' ') {
            trimmed--;
        }
        if (trimmed == 1 && p[0] == '*') {
            return ORIGIN_ANY;
        }
        if (trimmed == origin_len && strncmp(p, origin, trimmed) == 0) {
            return ORIGIN_LISTED;
        }
        p += len;
    }
    return ORIGIN_REFUSED;
}

/* "*" is answered as "*", never as the request's Origin echoed (which would let any site,
 * the opaque "null" included, read responses meant for a listed one), and credentials are
 * never allowed: browsers send the bearer token themselves, not cookies. */
static void add_cors_headers(http_ctx *ctx)
{
    const char *origin = http_header(ctx, "Origin");
    origin_verdict verdict = origin_allowed(ctx->server, origin);
    if (verdict == ORIGIN_REFUSED) {
        return;
    }
    if (verdict == ORIGIN_ANY) {
        http_add_header(ctx, "Access-Control-Allow-Origin", "*");
    } else {
        http_add_header(ctx, "Access-Control-Allow-Origin", origin);
        http_add_header(ctx, "Vary", "Origin");
    }
    http_add_header(ctx, "Access-Control-Expose-Headers",
                    "Location, Idempotent-Replayed, Idempotency-Key, X-Request-Id, Retry-After, "
                    "Allow, WWW-Authenticate");
}

/* evhttp knows the reason phrases of RFC 2616 only. */
static const char *reason_phrase(int status)
{
    switch (status) {
    case 413:
        return "Content Too Large";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 429:
        return "Too Many Requests";
    default:
        return NULL;
    }
}

void http_reply_common_headers(http_ctx *ctx)
{
    http_add_header(ctx, "X-Request-Id", ctx->request_id);
    /* No response is ever to be sniffed into another type (a JSON body run as HTML). */
    http_add_header(ctx, "X-Content-Type-Options", "nosniff");
    add_cors_headers(ctx);
    if (ctx->server->draining) {
        /* Shutting down: no further request on this connection. */
        http_add_header(ctx, "Connection", "close");
    }
}

void http_reply_logged(http_ctx *ctx, int status)
{
    int64_t duration_us = clock_us() - ctx->start_us;
    const char *route = ctx->match.route != NULL ? ctx->match.route->name : "unmatched";
    metrics_observe_request(route, status, duration_us);
    log_level level = status >= 500 ? LOG_WARN : LOG_INFO;
    if (log_enabled(level)) {
        char status_text[8], duration_text[32];
        snprintf(status_text, sizeof status_text, "%d", status);
        snprintf(duration_text, sizeof duration_text, "%.3f", (double)duration_us / 1000.0);
        log_event(level, "request", "method", ctx->method_name, "path", ctx->path, "route", route,
                  "status", status_text, "duration_ms", duration_text, "request_id",
                  ctx->request_id, "actor", ctx->authenticated ? ctx->principal.actor : "",
                  "client", ctx->client_address, NULL);
    }
}

static void finish(http_ctx *ctx, int status, struct evbuffer *body)
{
    http_reply_common_headers(ctx);
    if (evhttp_request_get_command(ctx->req) == EVHTTP_REQ_HEAD && body != NULL && status != 204 &&
        status != 304) {
        /* evhttp leaves a HEAD's body out, and its length too: say what GET would send. */
        char length[24];
        snprintf(length, sizeof length, "%zu", evbuffer_get_length(body));
        http_add_header(ctx, "Content-Length", length);
    }
    evhttp_send_reply(ctx->req, status, reason_phrase(status), body);
    http_reply_logged(ctx, status);
    request_free(ctx);
}

void http_reply_text(http_ctx *ctx, int status, const char *content_type, const char *body,
                     size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf != NULL && len > 0) {
        evbuffer_add(buf, body, len);
    }
    if (content_type != NULL) {
        http_add_header(ctx, "Content-Type", content_type);
    }
    finish(ctx, status, buf);
    if (buf != NULL) {
        evbuffer_free(buf);
    }
}

void http_reply_static(http_ctx *ctx, int status, const char *content_type, const char *body,
                       size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf != NULL && len > 0 && evbuffer_add_reference(buf, body, len, NULL, NULL) != 0) {
        evbuffer_free(buf);
        buf = NULL;
    }
    if (buf == NULL) {
        http_reply_text(ctx, status, content_type, body, len);
        return;
    }
    http_add_header(ctx, "Content-Type", content_type);
    finish(ctx, status, buf);
    evbuffer_free(buf);
}

void http_reply_json(http_ctx *ctx, int status, const char *body, size_t len)
{
    http_reply_text(ctx, status, "application/json", body, len);
}

void http_reply_empty(http_ctx *ctx, int status)
{
    finish(ctx, status, NULL);
}

/* Text for a JSON string of a response: invalid UTF-8 (a client's bytes echoed back) is
 * replaced, so every response body is valid UTF-8. */
static const char *valid_text(http_ctx *ctx, const char *text)
{
    return utf8_valid(text, strlen(text)) ? text : utf8_repair(&ctx->arena, text);
}

static void send_problem(http_ctx *ctx, problem_kind kind, const char *detail, cJSON *errors)
{
    const problem_info *info = problem_of(kind);
    if (kind == PROBLEM_UNAVAILABLE) {
        http_add_header(ctx, "Retry-After", "1");
    }
    cJSON *problem = cJSON_CreateObject();
    char type[128];
    snprintf(type, sizeof type, "https://wasteflow.dev/problems/%s", info->slug);
    cJSON_AddStringToObject(problem, "type", type);
    cJSON_AddStringToObject(problem, "title", info->title);
    cJSON_AddNumberToObject(problem, "status", info->status);
    cJSON_AddStringToObject(problem, "detail", valid_text(ctx, detail));
    /* The request target as sent (still percent-encoded): a URI reference. */
    const char *target = evhttp_request_get_uri(ctx->req);
    size_t target_len = target != NULL ? strcspn(target, "?") : 0;
    char instance[512];
    snprintf(instance, sizeof instance, "%.*s", (int)(target_len < 511 ? target_len : 511),
             target != NULL ? target : "");
    cJSON_AddStringToObject(problem, "instance", valid_text(ctx, instance));
    cJSON_AddStringToObject(problem, "request_id", ctx->request_id);
    if (errors != NULL) {
        cJSON_AddItemToObject(problem, "errors", errors);
    }
    char *text = cJSON_PrintUnformatted(problem);
    cJSON_Delete(problem);
    if (text == NULL) {
        mem_exhausted(512);
    }
    http_reply_text(ctx, info->status, "application/problem+json", text, strlen(text));
    free(text);
}

void http_problem(http_ctx *ctx, problem_kind kind, const char *detail_fmt, ...)
{
    char detail[512];
    va_list args;
    va_start(args, detail_fmt);
    vsnprintf(detail, sizeof detail, detail_fmt, args);
    va_end(args);
    send_problem(ctx, kind, detail, NULL);
}

static cJSON *field_error(http_ctx *ctx, const char *field, const char *message)
{
    cJSON *error = cJSON_CreateObject();
    cJSON_AddStringToObject(error, "field", valid_text(ctx, field));
    cJSON_AddStringToObject(error, "message", valid_text(ctx, message));
    return error;
}

void http_problem_invalid(http_ctx *ctx, const char *field, const char *message)
{
    cJSON *errors = cJSON_CreateArray();
    cJSON_AddItemToArray(errors, field_error(ctx, field, message));
    char detail[512];
    snprintf(detail, sizeof detail, "%s%s%s", field, field[0] ? ": " : "", message);
    send_problem(ctx, PROBLEM_VALIDATION, detail, errors);
}

void http_problem_fields(http_ctx *ctx, const field_errors *errors)
{
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; i < errors->count; i++) {
        cJSON_AddItemToArray(list,
                             field_error(ctx, errors->items[i].field, errors->items[i].message));
    }
    char detail[400];
    snprintf(detail, sizeof detail, "%s: %s", errors->items[0].field, errors->items[0].message);
    send_problem(ctx, PROBLEM_VALIDATION, detail, list);
}

void http_reply_preflight(http_ctx *ctx, int allowed)
{
    char allow[128];
    router_allow_header(allowed | HTTP_OPTIONS, allow, sizeof allow);
    http_add_header(ctx, "Allow", allow);
    if (origin_allowed(ctx->server, http_header(ctx, "Origin")) != ORIGIN_REFUSED &&
        http_header(ctx, "Access-Control-Request-Method") != NULL) {
        http_add_header(ctx, "Access-Control-Allow-Methods", allow);
        http_add_header(ctx, "Access-Control-Allow-Headers",
                        "Authorization, Content-Type, Idempotency-Key, X-Request-Id, "
                        "Last-Event-ID");
        http_add_header(ctx, "Access-Control-Max-Age", "600");
    }
    http_reply_empty(ctx, 204);
}

void http_reply_oversized_raw(http_server *server, int fd, int64_t declared, int64_t limit,
                              const char *request_line)
{
    char request_id[17];
    request_id_new(server, request_id);
    const problem_info *info = problem_of(PROBLEM_PAYLOAD_TOO_LARGE);
    char body[512];
    int body_len =
        snprintf(body, sizeof body,
                 "{\"type\":\"https://wasteflow.dev/problems/%s\",\"title\":\"%s\",\"status\":413,"
                 "\"detail\":\"The request body would be %lld bytes; at most %lld are accepted.\","
                 "\"request_id\":\"%s\"}",
                 info->slug, info->title, (long long)declared, (long long)limit, request_id);
    char response[1024];
    int len = snprintf(response, sizeof response,
                       "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/problem+json"
                       "\r\nContent-Length: %d\r\nConnection: close\r\nX-Content-Type-Options: "
                       "nosniff\r\nX-Request-Id: %s\r\n\r\n%s",
                       body_len, request_id, body);
    ssize_t sent = send(fd, response, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    metrics_observe_request("oversized", 413, 0);
    log_event(LOG_INFO, "request", "request", request_line, "status", "413", "detail",
              sent == len ? "body over the limit, refused before reading it"
                          : "body over the limit; the refusal could not be sent",
              "request_id", request_id, NULL);
}
