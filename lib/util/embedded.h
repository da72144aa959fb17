/* Files compiled into the binary by cmake/embed.cmake: the SQL migrations (linked into
 * lib/db) and the seed data (linked into the wasteflow command), so an installed binary
 * needs nothing from the source tree. (Static web files: lib/web.) */
#ifndef WF_UTIL_EMBEDDED_H
#define WF_UTIL_EMBEDDED_H

#include <stddef.h>

typedef struct {
    const char *name; /* file name without directory, e.g. "001_schema.sql" */
    const char *data; /* NUL-terminated contents */
    size_t len;       /* length without the NUL */
} embedded_file;

/* Migrations in file-name order (which is their number order). */
extern const embedded_file embedded_migrations[];
extern const size_t embedded_migrations_count;

/* The seed data files (sql/seed/ *.sql). */
extern const embedded_file embedded_seeds[];
extern const size_t embedded_seeds_count;

/* Returns the embedded file of that name in the table, or NULL. */
const embedded_file *embedded_find(const embedded_file *table, size_t count, const char *name);

#endif
