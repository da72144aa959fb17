/* A request's context, from birth to free: made when evhttp has read a request whole
 * (request_new), read by the accessors below while the request is admitted and handled,
 * and freed in one place (request_free) once its reply is handed to evhttp — by reply.c
 * for every reply, and by stream.c when a stream's 200 has gone out. Everything the request
 * allocated hangs off it (its arena, the decoded path, the query, the body's copy, the
 * handler's state). This file calls no other file of lib/http. */
#include "http/internal.h"

#include "util/log.h"
#include "util/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

static const char *method_name_of(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "OTHER";
}

/* A client's X-Request-Id is kept only when it is safe to log and echo as it is. */
static bool safe_request_id(const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len > 128) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':') {
            return false;
        }
    }
    return true;
}

void request_id_new(http_server *server, char id[static 17])
{
    /* A counter scrambled by a per-process salt: unique in the process, not guessable
     * across processes. */
    snprintf(id, 17, "%016llx",
             (unsigned long long)(server->id_salt ^
                                  (++server->next_request_id * 0x9e3779b97f4a7c15ULL)));
}

struct ctx_private *request_new(http_server *server, struct evhttp_request *req)
{
    struct ctx_private *priv = xcalloc(1, sizeof *priv);
    http_ctx *ctx = &priv->ctx;
    ctx->server = server;
    ctx->req = req;
    ctx->start_us = clock_us();
    ctx->deadline_ms = clock_ms() + server->options.request_timeout_ms;
    ctx->method_name = method_name_of(evhttp_request_get_command(req));
    ctx->method = router_method_bit(ctx->method_name);
    ctx->body = "";
    server->inflight++;
    const char *incoming_id = http_header(ctx, "X-Request-Id");
    if (incoming_id != NULL && safe_request_id(incoming_id)) {
        snprintf(ctx->request_id, sizeof ctx->request_id, "%s", incoming_id);
    } else {
        request_id_new(server, ctx->request_id);
    }
    return priv;
}

void request_free(http_ctx *ctx)
{
    struct ctx_private *priv = (struct ctx_private *)ctx;
    if (priv->guard == NULL) {
        ctx->server->inflight--; /* else counted down once the reply is written */
    }
    if (ctx->state != NULL && ctx->state_free != NULL) {
        ctx->state_free(ctx->state);
    }
    if (priv->query.parsed) {
        evhttp_clear_headers(&priv->query.params);
    }
    arena_free(&ctx->arena);
    free(priv->body_copy);
    free(ctx->path);
    free(ctx->query);
    free(priv);
}

const char *http_header(const http_ctx *ctx, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(ctx->req), name);
}

const char *http_header_joined(http_ctx *ctx, const char *name)
{
    const struct evkeyvalq *headers = evhttp_request_get_input_headers(ctx->req);
    const char *joined = NULL;
    for (const struct evkeyval *h = headers->tqh_first; h != NULL; h = h->next.tqe_next) {
        if (strcasecmp(h->key, name) == 0) {
            joined =
                joined == NULL ? h->value : arena_printf(&ctx->arena, "%s, %s", joined, h->value);
        }
    }
    return joined;
}

const char *http_query_param(http_ctx *ctx, const char *name)
{
    struct ctx_private *priv = (struct ctx_private *)ctx;
    if (ctx->query == NULL) {
        return NULL;
    }
    if (!priv->query.parsed) {
        TAILQ_INIT(&priv->query.params);
        if (evhttp_parse_query_str(ctx->query, &priv->query.params) != 0) {
            evhttp_clear_headers(&priv->query.params);
            TAILQ_INIT(&priv->query.params);
        }
        priv->query.parsed = true;
    }
    return evhttp_find_header(&priv->query.params, name);
}
