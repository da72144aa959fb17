/* The view cursor codec (see view_cursor.h). Text: "r<distance>.<id>.<tag>" or
 * "u<id>.<tag>", tag 32 lowercase hex digits: the signer's keyed MAC of the position and
 * the filter (view_cursor_message). Keyed, so a client cannot make a cursor it was not
 * given: a forged deep position would otherwise make the service expand the road graph up
 * to anywhere the client likes, at no cost to the client. */
#include "core/view_cursor.h"

#include <stdio.h>
#include <string.h>

#define LABEL     "wasteflow.view.2"
#define LABEL_LEN 16
/* The label and six integers of 8 bytes: what the message holds besides the type code. */
#define FIXED_LEN (LABEL_LEN + 6 * 8)

static size_t put_int(uint8_t *out, int64_t value)
{
    uint64_t v = (uint64_t)value;
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(v >> (8 * i));
    }
    return 8;
}

size_t view_cursor_message(const view_filter *filter, const view_position *position,
                           uint8_t out[VIEW_CURSOR_MESSAGE_MAX])
{
    size_t type_len = filter->waste_type != NULL ? strlen(filter->waste_type) : 0;
    if (type_len > VIEW_CURSOR_MESSAGE_MAX - FIXED_LEN) {
        return 0; /* never a valid type code (at most 32 bytes) */
    }
    size_t n = 0;
    memcpy(out, LABEL, LABEL_LEN);
    n += LABEL_LEN;
    n += put_int(out + n, filter->organization_id);
    /* The type's length first (-1: no type), so no two (type, next field) pairs share bytes. */
    n += put_int(out + n, filter->waste_type != NULL ? (int64_t)type_len : -1);
    if (type_len > 0) {
        memcpy(out + n, filter->waste_type, type_len);
        n += type_len;
    }
    n += put_int(out + n, (filter->reachable_only ? 1 : 0) | (filter->has_room ? 2 : 0));
    n += put_int(out + n, position->unreachable ? 1 : 0);
    n += put_int(out + n, position->distance_m);
    n += put_int(out + n, position->storage_id);
    return n;
}

/* The tag of (filter, position); false when there is none (a type code too long). */
static bool tag_of(const view_cursor_signer *signer, const view_filter *filter,
                   const view_position *position, uint8_t tag[VIEW_CURSOR_TAG_BYTES])
{
    uint8_t message[VIEW_CURSOR_MESSAGE_MAX];
    size_t len = view_cursor_message(filter, position, message);
    if (len == 0) {
        return false;
    }
    signer->sign(signer->key, message, len, tag);
    return true;
}

size_t view_cursor_encode(const view_cursor_signer *signer, const view_filter *filter,
                          const view_position *position, char out[VIEW_CURSOR_MAX])
{
    uint8_t tag[VIEW_CURSOR_TAG_BYTES];
    out[0] = '\0';
    if (!tag_of(signer, filter, position, tag)) {
        return 0;
    }
    int n = position->unreachable
                ? snprintf(out, VIEW_CURSOR_MAX, "u%lld.", (long long)position->storage_id)
                : snprintf(out, VIEW_CURSOR_MAX, "r%lld.%lld.", (long long)position->distance_m,
                           (long long)position->storage_id);
    if (n <= 0 || (size_t)n + 2 * VIEW_CURSOR_TAG_BYTES >= VIEW_CURSOR_MAX) {
        out[0] = '\0';
        return 0; /* cannot happen: 19-digit integers fit */
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < VIEW_CURSOR_TAG_BYTES; i++) {
        out[n++] = hex[tag[i] >> 4];
        out[n++] = hex[tag[i] & 15];
    }
    out[n] = '\0';
    return (size_t)n;
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

/* A lowercase hex digit's value, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

bool view_cursor_decode(const view_cursor_signer *signer, const char *text,
                        const view_filter *filter, view_position *out)
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
    uint8_t given[VIEW_CURSOR_TAG_BYTES];
    for (size_t i = 0; i < VIEW_CURSOR_TAG_BYTES; i++) {
        int high = hex_value(p[2 * i]), low = high < 0 ? -1 : hex_value(p[2 * i + 1]);
        if (high < 0 || low < 0) {
            return false;
        }
        given[i] = (uint8_t)(high << 4 | low);
    }
    if (p[2 * VIEW_CURSOR_TAG_BYTES] != '\0') {
        return false;
    }
    uint8_t expected[VIEW_CURSOR_TAG_BYTES];
    if (!tag_of(signer, filter, &position, expected)) {
        return false;
    }
    /* Constant time: how long the comparison takes says nothing of how much of a forged
     * tag was right. */
    uint8_t differ = 0;
    for (size_t i = 0; i < VIEW_CURSOR_TAG_BYTES; i++) {
        differ |= (uint8_t)(given[i] ^ expected[i]);
    }
    if (differ != 0) {
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
