/* A persistent hash map from nonzero 64-bit keys to 64-bit values: a hash array mapped trie
 * whose nodes are reference-counted and shared between versions. Copying a map is O(1)
 * (pmap_share); changing a copy copies only the nodes on the path to the changed key, and
 * changes nodes in place where this map is their only owner, so a map built from scratch
 * is built in place. Pure: no I/O, no globals. Used by the road graph (core/graph.c).
 *
 * Values are plain integers unless ops are given: then they are references, retained when a
 * node holding them is copied and released when the last node holding them goes. */
#ifndef WF_CORE_PMAP_H
#define WF_CORE_PMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pmap_node pmap_node;

/* One version of a map; owns one reference to its root. Zeroed = empty. */
typedef struct {
    pmap_node *root;
    size_t count;
} pmap;

typedef struct {
    void (*retain)(uint64_t value);
    void (*release)(uint64_t value);
} pmap_ops;

/* *copy becomes another version of m, sharing all of it (copy's old contents are not
 * released: it must be empty). */
void pmap_share(pmap *copy, const pmap *m);
/* Releases m's reference to its nodes and empties it. */
void pmap_clear(pmap *m, const pmap_ops *ops);

/* Whether key is there; its value into *value (may be NULL). Key 0 is never there. */
bool pmap_get(const pmap *m, uint64_t key, uint64_t *value) __attribute__((warn_unused_result));

/* The value slot of key in m, made m's own (the path to it copied where shared), so the
 * caller may replace the value (releasing the old one itself). *slot = NULL when key is
 * absent. Returns false on allocation failure (m stays valid and unchanged in content). */
bool pmap_get_mut(pmap *m, uint64_t key, const pmap_ops *ops, uint64_t **slot)
    __attribute__((warn_unused_result));

/* Sets key to value, taking over the caller's reference to it; an old value is released.
 * Returns false for key 0 or on allocation failure, when m is unchanged in content and the
 * reference stays the caller's. */
bool pmap_put(pmap *m, uint64_t key, uint64_t value, const pmap_ops *ops)
    __attribute__((warn_unused_result));

/* Removes key, releasing its value; *removed says whether it was there (may be NULL).
 * Returns false on allocation failure (m unchanged in content). */
bool pmap_remove(pmap *m, uint64_t key, const pmap_ops *ops, bool *removed)
    __attribute__((warn_unused_result));

typedef struct {
    uint64_t key;
    uint64_t value;
} pmap_entry;

/* Builds m (empty, its old contents not released) from count entries at once, in time
 * linear in count and with every node exactly as large as its slots: much faster than count
 * pmap_put calls. entries is used as scratch (its order changes). Returns 0, -1 on
 * allocation failure, -2 when a key is 0 or repeated; on failure m stays empty and the
 * values stay the caller's. */
int pmap_build(pmap *m, pmap_entry *entries, size_t count) __attribute__((warn_unused_result));

/* Bytes of the trie's nodes as if m shared none of them (values not included). */
size_t pmap_bytes(const pmap *m) __attribute__((warn_unused_result));

/* Calls fn(key, value, arg) for every entry, in no particular order. */
void pmap_each(const pmap *m, void (*fn)(uint64_t key, uint64_t value, void *arg), void *arg);

#endif
