/* Serving the compiled-in static files (see web.h). */
#include "web/web.h"

#include <string.h>

/* Swagger UI styles its widgets with inline style attributes and draws icons from data:
 * URIs; nothing else is allowed, and nothing from another origin. */
#define DOCS_POLICY                                                                                \
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "                    \
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "              \
    "frame-ancestors 'none'"
/* The console is ours: no inline script or style at all. */
#define CONSOLE_POLICY                                                                             \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "                   \
    "frame-ancestors 'none'"

const web_asset *web_asset_find(const char *path)
{
    for (size_t i = 0; i < web_asset_count; i++) {
        if (strcmp(web_assets[i].path, path) == 0) {
            return &web_assets[i];
        }
    }
    return NULL;
}

static bool under(const char *path, const char *prefix)
{
    size_t len = strlen(prefix);
    return strncmp(path, prefix, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

void handle_web_asset(http_ctx *ctx)
{
    const web_asset *asset = web_asset_find(ctx->path);
    if (asset == NULL) {
        http_problem(ctx, PROBLEM_NOT_FOUND, "No file at this path.");
        return;
    }
    if (under(ctx->path, "/docs")) {
        http_add_header(ctx, "Content-Security-Policy", DOCS_POLICY);
    } else if (under(ctx->path, "/console")) {
        http_add_header(ctx, "Content-Security-Policy", CONSOLE_POLICY);
    }
    /* Always revalidated: an upgrade must never leave a browser on last release's script, and
     * a matching ETag costs an empty 304. */
    http_add_header(ctx, "Cache-Control", "no-cache");
    http_add_header(ctx, "ETag", asset->etag);
    const char *presented = http_header(ctx, "If-None-Match");
    if (presented != NULL && strstr(presented, asset->etag) != NULL) {
        http_reply_empty(ctx, 304);
        return;
    }
    /* By reference: a client that reads slowly, or not at all, holds no copy of it. */
    http_reply_static(ctx, 200, asset->content_type, asset->start,
                      (size_t)(asset->end - asset->start));
}
