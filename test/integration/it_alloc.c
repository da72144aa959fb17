/* Memory for the harness: allocations that fail the running test instead of returning NULL,
 * and a growable NUL-terminated text buffer. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "it_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void *harness_xmalloc(size_t size)
{
    void *memory = malloc(size ? size : 1);
    if (memory == NULL) {
        fail_msg("harness: out of memory");
    }
    return memory;
}

char *harness_xstrdup(const char *text)
{
    char *copy = strdup(text);
    if (copy == NULL) {
        fail_msg("harness: out of memory");
    }
    return copy;
}

void harness_append_text(char **buffer, size_t *length, size_t *capacity, const char *text,
                         size_t text_len)
{
    if (*length + text_len + 1 > *capacity) {
        size_t wanted = *capacity ? *capacity : 256;
        while (*length + text_len + 1 > wanted) {
            wanted *= 2;
        }
        char *grown = realloc(*buffer, wanted);
        if (grown == NULL) {
            fail_msg("harness: out of memory");
        }
        *buffer = grown;
        *capacity = wanted;
    }
    memcpy(*buffer + *length, text, text_len);
    *length += text_len;
    (*buffer)[*length] = '\0';
}
