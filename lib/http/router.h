/* Path router: matches a method and a decoded path against a table of patterns such as
 * "/v1/organizations/{id}/transfers". Pure (no evhttp), so it is unit-tested directly.
 * "{id}" matches a positive integer that fits in int64; "{code}" matches a waste-type
 * code segment ([a-z][a-z0-9_]{0,31}); "{file}" a file name ([A-Za-z0-9._-], not starting
 * with '.', at most 128 bytes; the handler reads it from the path). Anything else in a
 * segment matches literally. */
#ifndef WF_HTTP_ROUTER_H
#define WF_HTTP_ROUTER_H

#include <stdint.h>

enum {
    HTTP_GET = 1 << 0,
    HTTP_POST = 1 << 1,
    HTTP_PATCH = 1 << 2,
    HTTP_DELETE = 1 << 3,
    HTTP_PUT = 1 << 4,
    HTTP_HEAD = 1 << 5,
    HTTP_OPTIONS = 1 << 6,
    HTTP_OTHER = 1 << 7,
};

#define ROUTER_MAX_PARAMS 4

typedef struct {
    int method;          /* one HTTP_* bit */
    const char *pattern; /* e.g. "/v1/storages/{id}" */
    const char *name;    /* stable label for logs and metrics, e.g. "storages.get" */
    void *handler;       /* opaque to the router */
} router_route;

typedef struct {
    const router_route *route; /* matched route, NULL unless ROUTER_FOUND */
    int64_t ids[ROUTER_MAX_PARAMS];
    int id_count;
    char code[33]; /* the {code} segment, when the pattern has one */
    int allowed;   /* HTTP_* bits of every route whose pattern matches the path */
} router_match;

typedef enum { ROUTER_FOUND, ROUTER_NOT_FOUND, ROUTER_METHOD_NOT_ALLOWED } router_result;

router_result router_find(const router_route *routes, int route_count, int method, const char *path,
                          router_match *match);

/* Maps a method name to its HTTP_* bit (HTTP_OTHER when unknown). */
int router_method_bit(const char *name);
/* Writes "GET, POST" style text for the bits into out. */
void router_allow_header(int allowed, char *out, int out_size);

#endif
