/* The storage view's cursor (GET /v1/organizations/{id}/storages): an opaque text that
 * names a position in the view's order — (distance, storage id) among the reachable, or a
 * storage id among the unreachable — and the organization and filter it was made for, so a
 * cursor of another organization or filter, or an edited one, is refused instead of
 * resuming somewhere else. A position, never an offset: it stays meaningful when roads
 * change. Pure: no I/O, no allocation. */
#ifndef WF_CORE_VIEW_CURSOR_H
#define WF_CORE_VIEW_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a cursor is bound to. waste_type NULL: no type filter. */
typedef struct {
    int64_t organization_id;
    const char *waste_type;
    bool reachable_only;
    bool has_room;
} view_filter;

/* A position in the view's order: the page after it starts with the first storage that
 * comes strictly later. Reachable storages come first, by (distance_m, storage_id); then
 * the unreachable, by storage_id (distance_m 0). */
typedef struct {
    bool unreachable;
    int64_t distance_m;
    int64_t storage_id;
} view_position;

/* Longest cursor text, its NUL included. */
#define VIEW_CURSOR_MAX 64

/* Writes the cursor of position for filter into out (NUL-terminated, at most
 * VIEW_CURSOR_MAX bytes with the NUL) and returns its length. */
size_t view_cursor_encode(const view_filter *filter, const view_position *position,
                          char out[VIEW_CURSOR_MAX]);

/* Reads a cursor made by view_cursor_encode for this same filter. false for anything else:
 * malformed text, an edited position, another organization or filter (out untouched). */
bool view_cursor_decode(const char *text, const view_filter *filter, view_position *out)
    __attribute__((warn_unused_result));

/* Whether (distance_m, storage_id) comes after position in the order (both reachable). */
bool view_position_before(const view_position *position, int64_t distance_m, int64_t storage_id)
    __attribute__((warn_unused_result));

#endif
