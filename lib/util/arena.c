/* Bump allocation in blocks that double in size (see arena.h). */
#include "util/arena.h"

#include "util/mem.h"
#include "util/strbuf.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_BLOCK 1024
#define ALIGNMENT   alignof(max_align_t)

struct arena_block {
    arena_block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

void *arena_alloc(arena *a, size_t size)
{
    size_t rounded = (size + ALIGNMENT - 1) & ~(ALIGNMENT - 1);
    if (rounded < size) {
        mem_exhausted(size);
    }
    arena_block *block = a->head;
    if (block == NULL || block->size - block->used < rounded) {
        size_t want = block != NULL ? block->size * 2 : FIRST_BLOCK;
        while (want < rounded) {
            want *= 2;
        }
        arena_block *fresh = xmalloc(sizeof *fresh + want);
        fresh->next = block;
        fresh->size = want;
        fresh->used = 0;
        a->head = block = fresh;
    }
    void *out = block->data + block->used;
    block->used += rounded;
    a->total += rounded;
    memset(out, 0, size);
    return out;
}

void *arena_array(arena *a, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        mem_exhausted(SIZE_MAX);
    }
    return arena_alloc(a, count * size);
}

char *arena_strndup(arena *a, const char *text, size_t len)
{
    char *copy = arena_alloc(a, len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

char *arena_strdup(arena *a, const char *text)
{
    return arena_strndup(a, text, strlen(text));
}

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    strbuf text = {0};
    strbuf_vprintf(&text, fmt, args);
    va_end(args);
    char *out = arena_strndup(a, text.data != NULL ? text.data : "", text.len);
    strbuf_free(&text);
    return out;
}

const char *arena_int(arena *a, int64_t value)
{
    char buf[INT_TEXT_SIZE];
    return arena_strdup(a, int_text(buf, value));
}

void arena_free(arena *a)
{
    arena_block *block = a->head;
    while (block != NULL) {
        arena_block *next = block->next;
        free(block);
        block = next;
    }
    a->head = NULL;
    a->total = 0;
}
