/* A growable byte buffer for building response bodies, with JSON string escaping. An
 * allocation failure is sticky: the buffer reports it once at the end (strbuf_failed)
 * instead of every append needing a check. */
#ifndef WF_UTIL_STRBUF_H
#define WF_UTIL_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} strbuf;

#define INT_TEXT_SIZE 24 /* "-9223372036854775808" and a NUL fit */
/* Writes value in decimal at the end of buf (INT_TEXT_SIZE bytes) and returns where the text
 * starts; by hand, several times cheaper than snprintf in the lists and views. */
char *int_text(char buf[INT_TEXT_SIZE], int64_t value);

/* Grows the buffer for the slow path of strbuf_append. */
void strbuf_append_slow(strbuf *sb, const char *text, size_t len);

/* Inline: the views append thousands of short pieces, most of them literals whose
 * length the compiler folds. */
static inline void strbuf_append(strbuf *sb, const char *text, size_t len)
{
    if (sb->len + len < sb->cap && !sb->failed) {
        memcpy(sb->data + sb->len, text, len);
        sb->len += len;
        sb->data[sb->len] = '\0';
        return;
    }
    strbuf_append_slow(sb, text, len);
}

static inline void strbuf_puts(strbuf *sb, const char *text)
{
    strbuf_append(sb, text, strlen(text));
}
void strbuf_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(strbuf *sb, const char *fmt, va_list args)
    __attribute__((format(printf, 2, 0)));
void strbuf_int(strbuf *sb, int64_t value);
/* Appends text as a JSON string literal, quotes included. */
void strbuf_json_string(strbuf *sb, const char *text);
bool strbuf_failed(const strbuf *sb);
/* Returns the NUL-terminated contents (caller frees) and resets sb; NULL if it failed. */
char *strbuf_take(strbuf *sb);
void strbuf_free(strbuf *sb);

#endif
