/* UTF-8 checks and repairs. Every response body and log line the service writes must be
 * valid UTF-8, and clients send arbitrary bytes: text that came from outside is checked,
 * and repaired (each invalid byte becomes U+FFFD) or truncated only at a character
 * boundary before it is echoed. */
#ifndef WF_UTIL_UTF8_H
#define WF_UTIL_UTF8_H

#include "util/arena.h"

#include <stdbool.h>
#include <stddef.h>

/* Strict RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
bool utf8_valid(const char *text, size_t len);
/* The length of the valid UTF-8 sequence (one character) at text, of at most len bytes
 * (len >= 1), or 0 when text does not start one. */
size_t utf8_sequence(const char *text, size_t len);
/* Number of code points in valid UTF-8 text. */
size_t utf8_length(const char *text);
/* A copy of text in which every byte that does not start a valid sequence is U+FFFD. */
char *utf8_repair(arena *a, const char *text);
/* The length of the longest prefix of text (valid UTF-8) that is at most max bytes and
 * ends on a character boundary. */
size_t utf8_prefix(const char *text, size_t max);

#endif
