/* Growable buffer (see strbuf.h). */
#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(strbuf *sb, size_t extra)
{
    if (sb->failed) {
        return false;
    }
    if (sb->len + extra + 1 <= sb->cap) {
        return true;
    }
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + extra + 1) {
        cap *= 2;
    }
    char *data = realloc(sb->data, cap);
    if (data == NULL) {
        sb->failed = true;
        return false;
    }
    sb->data = data;
    sb->cap = cap;
    return true;
}

void strbuf_append_slow(strbuf *sb, const char *text, size_t len)
{
    if (!reserve(sb, len)) {
        return;
    }
    memcpy(sb->data + sb->len, text, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void strbuf_vprintf(strbuf *sb, const char *fmt, va_list args)
{
    va_list copy;
    va_copy(copy, args);
    int needed = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (needed >= 0 && reserve(sb, (size_t)needed)) {
        vsnprintf(sb->data + sb->len, (size_t)needed + 1, fmt, args);
        sb->len += (size_t)needed;
    }
}

void strbuf_printf(strbuf *sb, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    strbuf_vprintf(sb, fmt, args);
    va_end(args);
}

char *int_text(char buf[INT_TEXT_SIZE], int64_t value)
{
    /* The magnitude is taken as unsigned so INT64_MIN works too. */
    char *p = buf + INT_TEXT_SIZE - 1;
    *p = '\0';
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        *--p = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (value < 0) {
        *--p = '-';
    }
    return p;
}

void strbuf_int(strbuf *sb, int64_t value)
{
    char buf[INT_TEXT_SIZE];
    char *text = int_text(buf, value);
    strbuf_append(sb, text, (size_t)(buf + INT_TEXT_SIZE - 1 - text));
}

void strbuf_json_string(strbuf *sb, const char *text)
{
    strbuf_append(sb, "\"", 1);
    const char *run = text;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\') {
            continue;
        }
        strbuf_append(sb, run, (size_t)((const char *)p - run));
        char escaped[8];
        switch (*p) {
        case '"':
            strbuf_append(sb, "\\\"", 2);
            break;
        case '\\':
            strbuf_append(sb, "\\\\", 2);
            break;
        case '\n':
            strbuf_append(sb, "\\n", 2);
            break;
        case '\t':
            strbuf_append(sb, "\\t", 2);
            break;
        case '\r':
            strbuf_append(sb, "\\r", 2);
            break;
        default:
            snprintf(escaped, sizeof escaped, "\\u%04x", *p);
            strbuf_append(sb, escaped, 6);
            break;
        }
        run = (const char *)p + 1;
    }
    strbuf_puts(sb, run);
    strbuf_append(sb, "\"", 1);
}

bool strbuf_failed(const strbuf *sb)
{
    return sb->failed;
}

char *strbuf_take(strbuf *sb)
{
    if (sb->failed) {
        strbuf_free(sb);
        return NULL;
    }
    char *data = sb->data != NULL ? sb->data : strdup("");
    sb->data = NULL;
    sb->len = sb->cap = 0;
    return data;
}

void strbuf_free(strbuf *sb)
{
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
    sb->failed = false;
}
