/* Fuzzes the router with arbitrary paths and methods against the service's own
 * patterns: it must never crash, and a match must carry as many ids as its pattern has
 * {id} segments, each positive. */
#include "http/router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const router_route routes[] = {
    {HTTP_GET, "/healthz", "healthz", NULL},
    {HTTP_GET, "/v1/waste-types/{code}", "waste_types.get", NULL},
    {HTTP_GET, "/v1/organizations/{id}", "organizations.get", NULL},
    {HTTP_PATCH, "/v1/organizations/{id}", "organizations.patch", NULL},
    {HTTP_GET, "/v1/organizations/{id}/storages", "organizations.storages", NULL},
    {HTTP_POST, "/v1/organizations/{id}/transfers", "transfers.create", NULL},
    {HTTP_POST, "/v1/storages/{id}/unload", "storages.unload", NULL},
    {HTTP_GET, "/v1/routes/{id}", "routes.get", NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    static const int method_bits[] = {HTTP_GET, HTTP_POST, HTTP_PATCH, HTTP_DELETE, HTTP_OTHER};
    int method = method_bits[data[0] % 5];
    char *path = malloc(size);
    if (path == NULL) {
        return 0;
    }
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    router_match match;
    router_result result =
        router_find(routes, (int)(sizeof routes / sizeof routes[0]), method, path, &match);
    if (result == ROUTER_FOUND) {
        int expected = 0;
        for (const char *p = match.route->pattern; (p = strstr(p, "{id}")) != NULL; p++) {
            expected++;
        }
        if (match.id_count != expected) {
            abort();
        }
        for (int i = 0; i < match.id_count; i++) {
            if (match.ids[i] < 1) {
                abort();
            }
        }
    } else if (result == ROUTER_METHOD_NOT_ALLOWED && match.allowed == 0) {
        abort();
    }
    char allow[128];
    router_allow_header(match.allowed, allow, sizeof allow);
    free(path);
    return 0;
}
