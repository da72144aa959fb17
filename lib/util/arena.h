/* A per-request arena: many small allocations (statement parameters, parsed rows, handler
 * state) that all end together, freed in one place when their request ends (h2o's
 * req->pool). Allocation cannot fail (util/mem.h). Not thread-safe; one owner. */
#ifndef WF_UTIL_ARENA_H
#define WF_UTIL_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct arena_block arena_block;
typedef struct {
    arena_block *head; /* newest block first */
    size_t total;      /* bytes handed out, for tests and limits */
} arena;

/* A zeroed arena is empty and ready. */
#define ARENA_INIT                                                                                 \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

/* size bytes, zeroed, aligned for any type; valid until arena_free. */
void *arena_alloc(arena *a, size_t size) __attribute__((malloc, returns_nonnull));
/* count elements of size bytes (aborts on overflow). */
void *arena_array(arena *a, size_t count, size_t size) __attribute__((malloc, returns_nonnull));
char *arena_strdup(arena *a, const char *text) __attribute__((returns_nonnull));
char *arena_strndup(arena *a, const char *text, size_t len) __attribute__((returns_nonnull));
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)))
__attribute__((returns_nonnull));
/* Decimal text of value. */
const char *arena_int(arena *a, int64_t value) __attribute__((returns_nonnull));
/* Frees every block; the arena is empty and reusable afterwards. */
void arena_free(arena *a);

#define ARENA_NEW(a, type)          ((type *)arena_alloc((a), sizeof(type)))
#define ARENA_ARRAY(a, type, count) ((type *)arena_array((a), (count), sizeof(type)))

#endif
