/* Allocation that cannot fail. An allocation failure aborts the process with a message, as
 * redis's zmalloc and git's xmalloc do: on Linux a failed malloc means the address space
 * or the overcommit limit is exhausted, and a half-handled out-of-memory path (a NULL that
 * becomes an SQL NULL, a silently dropped filter) is worse than a restart, which the
 * supervisor and the database's transactions make safe. */
#ifndef WF_UTIL_MEM_H
#define WF_UTIL_MEM_H

#include <stddef.h>

void *xmalloc(size_t size) __attribute__((malloc, returns_nonnull));
/* Zeroed; refuses count * size overflow (aborts). */
void *xcalloc(size_t count, size_t size) __attribute__((malloc, returns_nonnull));
void *xrealloc(void *block, size_t size) __attribute__((returns_nonnull));
char *xstrdup(const char *text) __attribute__((malloc, returns_nonnull));
char *xstrndup(const char *text, size_t max) __attribute__((malloc, returns_nonnull));

/* Aborts with "out of memory" (for code that detects exhaustion itself). */
_Noreturn void mem_exhausted(size_t size);

#endif
