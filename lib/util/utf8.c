/* UTF-8 validation, repair and truncation (see utf8.h). */
#include "util/utf8.h"

#include <stdint.h>
#include <string.h>

size_t utf8_sequence(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    size_t extra;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        extra = 1;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        extra = 2;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        extra = 3;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (extra >= len) {
        return 0; /* truncated sequence */
    }
    for (size_t k = 1; k <= extra; k++) {
        if ((s[k] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return extra + 1;
}

bool utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence((const char *)s + i, len - i);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

size_t utf8_length(const char *text)
{
    size_t count = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        count += (*p & 0xc0) != 0x80;
    }
    return count;
}

char *utf8_repair(arena *a, const char *text)
{
    size_t len = strlen(text);
    /* Each invalid byte grows into three (EF BF BD). */
    char *out = arena_alloc(a, len * 3 + 1);
    const unsigned char *s = (const unsigned char *)text;
    size_t used = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence((const char *)s + i, len - i);
        if (n == 0) {
            memcpy(out + used, "\xef\xbf\xbd", 3);
            used += 3;
            i++;
        } else {
            memcpy(out + used, s + i, n);
            used += n;
            i += n;
        }
    }
    out[used] = '\0';
    return out;
}

size_t utf8_prefix(const char *text, size_t max)
{
    size_t len = strnlen(text, max);
    if (len < max) {
        return len;
    }
    /* Back off continuation bytes so the cut falls before a character's first byte. */
    while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80) {
        len--;
    }
    return len;
}
