/* Lookup in the tables that cmake/embed.cmake compiles into the binary. */
#include "util/embedded.h"

#include <string.h>

const embedded_file *embedded_find(const embedded_file *table, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(table[i].name, name) == 0) {
            return &table[i];
        }
    }
    return NULL;
}
