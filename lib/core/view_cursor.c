/* The view cursor codec (see view_cursor.h). Text: "r<distance>.<id>.<tag>" or
 * "u<id>.<tag>", tag 16 lowercase hex digits of a 64-bit hash of the position and the
 * filter. The tag is a check, not a secret: a client that forges one only names another
 * position of its own view, which it could reach by paging anyway. */
#include "core/view_cursor.h"

#include <stdio.h>
#include <string.h>

static uint64_t mix(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL; /* FNV-1a */
    }
    return h;
}

static uint64_t mix_int(uint64_t h, int64_t value)
{
    uint64_t v = (uint64_t)value;
    unsigned char bytes[8];
    for (int i = 0; i < 8; i++) {
        bytes[i] = (unsigned char)(v >> (8 * i));
    }
    return mix(h, bytes, sizeof bytes);
}

static uint64_t tag_of(const view_filter *filter, const view_position *position)
{
    uint64_t h = mix(0xcbf29ce484222325ULL, "wasteflow.view.1", 16);
    h = mix_int(h, filter->organization_id);
    /* The type's length first, so no two (type, next field) pairs hash the same bytes. */
    size_t type_len = filter->waste_type != NULL ? strlen(filter->waste_type) : 0;
    h = mix_int(h, filter->waste_type != NULL ? (int64_t)type_len : -1);
    h = mix(h, filter->waste_type != NULL ? filter->waste_type : "", type_len);
    h = mix_int(h, (filter->reachable_only ? 1 : 0) | (filter->has_room ? 2 : 0));
    h = mix_int(h, position->unreachable ? 1 : 0);
    h = mix_int(h, position->distance_m);
    h = mix_int(h, position->storage_id);
    /* Finalizer (splitmix64), so every bit of the tag depends on every input bit. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

size_t view_cursor_encode(const view_filter *filter, const view_position *position,
                          char out[VIEW_CURSOR_MAX])
{
    unsigned long long tag = (unsigned long long)tag_of(filter, position);
    int n =
        position->unreachable
            ? snprintf(out, VIEW_CURSOR_MAX, "u%lld.%016llx", (long long)position->storage_id, tag)
            : snprintf(out, VIEW_CURSOR_MAX, "r%lld.%lld.%016llx", (long long)position->distance_m,
                       (long long)position->storage_id, tag);
    return n > 0 ? (size_t)n : 0;
}

/* A decimal of 1..19 digits without sign or leading zero ("0" itself allowed) that fits
 * int64; *p moves past it. */
static bool read_int(const char **p, int64_t *out)
{
    const char *s = *p;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9')) {
        return false;
    }
    uint64_t value = 0;
    size_t digits = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (++digits > 19) {
            return false;
        }
        value = value * 10 + (uint64_t)(*s - '0');
    }
    if (value > (uint64_t)INT64_MAX) {
        return false;
    }
    *out = (int64_t)value;
    *p = s;
    return true;
}

bool view_cursor_decode(const char *text, const view_filter *filter, view_position *out)
{
    if (text == NULL || strlen(text) >= VIEW_CURSOR_MAX) {
        return false;
    }
    view_position position = {0};
    const char *p = text + 1;
    if (text[0] == 'r') {
        if (!read_int(&p, &position.distance_m) || *p++ != '.') {
            return false;
        }
    } else if (text[0] == 'u') {
        position.unreachable = true;
    } else {
        return false;
    }
    if (!read_int(&p, &position.storage_id) || *p++ != '.') {
        return false;
    }
    /* The exact text encode would write: the canonical form is the only valid one. */
    char expected[VIEW_CURSOR_MAX];
    view_cursor_encode(filter, &position, expected);
    if (strcmp(expected, text) != 0) {
        return false;
    }
    *out = position;
    return true;
}

bool view_position_before(const view_position *position, int64_t distance_m, int64_t storage_id)
{
    return distance_m > position->distance_m ||
           (distance_m == position->distance_m && storage_id > position->storage_id);
}
