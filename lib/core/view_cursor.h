/* The storage view's cursor (GET /v1/organizations/{id}/storages): an opaque text that
 * names a position in the view's order — (distance, storage id) among the reachable, or a
 * storage id among the unreachable — and the organization and filter it was made for, so a
 * cursor of another organization or filter, or an edited one, is refused instead of
 * resuming somewhere else. A position, never an offset: it stays meaningful when roads
 * change. Pure: no I/O, no allocation; the tag's keyed MAC is the caller's (a signer), so
 * the key and the cryptography stay outside the core. */
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

/* The tag's length: a keyed MAC truncated to 128 bits, written as 32 hex digits. */
#define VIEW_CURSOR_TAG_BYTES 16
/* The longest message a signer is given (the type code is at most 32 bytes). */
#define VIEW_CURSOR_MESSAGE_MAX 128

/* Writes the keyed tag of message (len bytes) into tag. It must be a MAC under a secret
 * key (e.g. HMAC-SHA256 truncated): whoever cannot compute it cannot make a cursor. */
typedef struct {
    void (*sign)(const void *key, const uint8_t *message, size_t len,
                 uint8_t tag[VIEW_CURSOR_TAG_BYTES]);
    const void *key;
} view_cursor_signer;

/* Longest cursor text, its NUL included: "r" 19 digits "." 19 digits "." 32 hex digits. */
#define VIEW_CURSOR_MAX 80

/* Writes the cursor of position for filter, tagged by signer, into out (NUL-terminated, at
 * most VIEW_CURSOR_MAX bytes with the NUL) and returns its length. */
size_t view_cursor_encode(const view_cursor_signer *signer, const view_filter *filter,
                          const view_position *position, char out[VIEW_CURSOR_MAX]);

/* Reads a cursor made by view_cursor_encode with the same signer's key for this same filter.
 * false for anything else: malformed text, a tag that is not the key's (forged or edited),
 * another organization or filter (out untouched). The tag is compared in constant time. */
bool view_cursor_decode(const view_cursor_signer *signer, const char *text,
                        const view_filter *filter, view_position *out)
    __attribute__((warn_unused_result));

/* The bytes a cursor's tag signs (at most VIEW_CURSOR_MESSAGE_MAX), and their length: a
 * label, the organization, the type (length first), the flags and the position, each
 * integer as 8 little-endian bytes, so no two (filter, position) pairs share them. */
size_t view_cursor_message(const view_filter *filter, const view_position *position,
                           uint8_t out[VIEW_CURSOR_MESSAGE_MAX]);

/* Whether (distance_m, storage_id) comes after position in the order (both reachable). */
bool view_position_before(const view_position *position, int64_t distance_m, int64_t storage_id)
    __attribute__((warn_unused_result));

#endif
