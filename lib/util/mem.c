/* Aborting allocators (see mem.h). */
#include "util/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Noreturn void mem_exhausted(size_t size)
{
    /* No stdio buffering and no allocation on the way out. */
    char message[96];
    int len = snprintf(message, sizeof message,
                       "{\"level\":\"error\",\"msg\":\"out of memory\",\"bytes\":\"%zu\"}\n", size);
    if (len > 0) {
        ssize_t ignored = write(STDERR_FILENO, message, (size_t)len);
        (void)ignored;
    }
    abort();
}

void *xmalloc(size_t size)
{
    void *block = malloc(size ? size : 1);
    if (block == NULL) {
        mem_exhausted(size);
    }
    return block;
}

void *xcalloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        mem_exhausted(SIZE_MAX);
    }
    void *block = calloc(count ? count : 1, size ? size : 1);
    if (block == NULL) {
        mem_exhausted(count * size);
    }
    return block;
}

void *xrealloc(void *block, size_t size)
{
    void *grown = realloc(block, size ? size : 1);
    if (grown == NULL) {
        mem_exhausted(size);
    }
    return grown;
}

char *xstrdup(const char *text)
{
    size_t len = strlen(text);
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len + 1);
    return copy;
}

char *xstrndup(const char *text, size_t max)
{
    size_t len = strnlen(text, max);
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}
