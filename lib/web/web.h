/* Static files compiled into the binary (lib/web/assets.txt): the OpenAPI document, the
 * Swagger UI page under /docs and the operator console under /console. They are open to
 * anyone and carry a Content-Security-Policy that lets them load nothing from elsewhere. */
#ifndef WF_WEB_WEB_H
#define WF_WEB_WEB_H

#include "http/server.h"

#include <stddef.h>

typedef struct {
    const char *path; /* URL path, e.g. "/docs/swagger-ui.css" */
    const char *content_type;
    const char *etag; /* quoted, from the file's SHA-256 */
    const char *start;
    const char *end; /* one past the last byte */
} web_asset;

/* The generated table (cmake/web_assets.cmake). */
extern const web_asset web_assets[];
extern const size_t web_asset_count;

/* The asset served at path, or NULL. */
const web_asset *web_asset_find(const char *path);

/* GET of a static file: 200 with its bytes, or 404 when the path names none. */
void handle_web_asset(http_ctx *ctx);

#endif
