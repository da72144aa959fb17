/* Segment-by-segment matching of request paths against route patterns. Tables are a few
 * dozen entries, so a linear scan is both simplest and fast enough. */
#include "http/router.h"

#include "util/json_input.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int bit;
    const char *name;
} methods[] = {
    {HTTP_GET, "GET"}, {HTTP_POST, "POST"}, {HTTP_PATCH, "PATCH"},     {HTTP_DELETE, "DELETE"},
    {HTTP_PUT, "PUT"}, {HTTP_HEAD, "HEAD"}, {HTTP_OPTIONS, "OPTIONS"},
};

int router_method_bit(const char *name)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (strcmp(methods[i].name, name) == 0) {
            return methods[i].bit;
        }
    }
    return HTTP_OTHER;
}

void router_allow_header(int allowed, char *out, int out_size)
{
    int used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if ((allowed & methods[i].bit) && used < out_size) {
            used += snprintf(out + used, (size_t)(out_size - used), "%s%s", used ? ", " : "",
                             methods[i].name);
        }
    }
}

/* Parses a positive decimal int64 with no sign, no leading zeros, nothing else. */
static bool parse_id(const char *text, size_t len, int64_t *out)
{
    if (len == 0 || len > 19 || text[0] == '0') {
        return false;
    }
    int64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        int digit = text[i] - '0';
        if (value > (INT64_MAX - digit) / 10) {
            return false;
        }
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

/* A file name in one segment: letters, digits, '.', '_' and '-', not starting with '.'. */
static bool valid_file(const char *text, size_t len)
{
    if (len == 0 || len > 128 || text[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

static bool match_pattern(const char *pattern, const char *path, router_match *match)
{
    match->id_count = 0;
    match->code[0] = '\0';
    const char *p = pattern;
    const char *s = path;
    while (*p != '\0' && *s != '\0') {
        if (*p != '/' || *s != '/') {
            return false;
        }
        p++;
        s++;
        size_t plen = strcspn(p, "/");
        size_t slen = strcspn(s, "/");
        if (plen == 4 && strncmp(p, "{id}", 4) == 0) {
            if (match->id_count >= ROUTER_MAX_PARAMS ||
                !parse_id(s, slen, &match->ids[match->id_count])) {
                return false;
            }
            match->id_count++;
        } else if (plen == 6 && strncmp(p, "{code}", 6) == 0) {
            if (!waste_code_valid_n(s, slen)) {
                return false;
            }
            memcpy(match->code, s, slen);
            match->code[slen] = '\0';
        } else if (plen == 6 && strncmp(p, "{file}", 6) == 0) {
            if (!valid_file(s, slen)) {
                return false;
            }
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    return *p == '\0' && *s == '\0';
}

router_result router_find(const router_route *routes, int route_count, int method, const char *path,
                          router_match *match)
{
    router_match scratch;
    memset(match, 0, sizeof *match);
    for (int i = 0; i < route_count; i++) {
        if (!match_pattern(routes[i].pattern, path, &scratch)) {
            continue;
        }
        match->allowed |= routes[i].method;
        if (routes[i].method == method && match->route == NULL) {
            int allowed = match->allowed;
            *match = scratch;
            match->route = &routes[i];
            match->allowed = allowed;
        }
    }
    if (match->route != NULL) {
        return ROUTER_FOUND;
    }
    return match->allowed != 0 ? ROUTER_METHOD_NOT_ALLOWED : ROUTER_NOT_FOUND;
}
