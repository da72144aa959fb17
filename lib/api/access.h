/* Who may do what (docs/design.md, "Access control", as the route table declares it): the
 * authenticate hook of the HTTP server, and the row-scoping rules handlers apply for
 * organization and storage principals.
 *
 * A request to an endpoint with roles is admitted only with `Authorization: Bearer` and an
 * API key this instance knows (engine/key_cache.h) or a JWT the configured key verifies
 * (auth/jwt.h): else 401 with WWW-Authenticate. The rate limit (docs/limits.md) comes
 * before any cryptography: a token this instance has already found valid (and, for an API
 * key, that is still live; auth/token_cache.h) is charged to its credential's bucket — an
 * API key's id, a JWT's issuer and subject — and admitted without its signature checked or
 * its secret hashed again; any other request is first charged to its client address's
 * bucket, and only then is its key hashed or its signature verified (a valid one then also
 * pays its credential's bucket, and is known valid from then on). An empty bucket: 429 with
 * Retry-After (http_rate_admit_*). Then the principal's role must be one of the endpoint's,
 * and a scoped principal must name its own organization or storage in the path when the
 * endpoint's scope says so: else 403. Nothing else about the request — its body included —
 * has been looked at by then. Open endpoints (/healthz, /readyz, the static files) never
 * reach this hook, so they are not rate limited. */
#ifndef WF_API_ACCESS_H
#define WF_API_ACCESS_H

#include "auth/principal.h"
#include "http/server.h"

#include <stdint.h>

/* Endpoint scope rules (http_endpoint.scope). */
enum {
    SCOPE_NONE = 0,
    SCOPE_OWN_ORGANIZATION, /* an organization principal: the path's {id} is its own */
    SCOPE_OWN_STORAGE,      /* a storage principal: the path's {id} is its own */
};

#define ROLES_ANY (ROLE_ADMIN | ROLE_AUDITOR | ROLE_MONITOR | ROLE_ORGANIZATION | ROLE_STORAGE)
/* Everything everyone but a monitor may read: storages, routes, waste types. */
#define ROLES_READERS (ROLE_ADMIN | ROLE_AUDITOR | ROLE_ORGANIZATION | ROLE_STORAGE)

/* The authenticate hook (http_server_options.authenticate). */
http_verdict access_authenticate(http_ctx *ctx, const http_endpoint *endpoint);

/* Row scoping: the organization (or storage) a principal is confined to, 0 when it sees
 * everything. */
int64_t access_own_organization(const http_ctx *ctx);
int64_t access_own_storage(const http_ctx *ctx);

#endif
