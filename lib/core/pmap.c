/* The persistent hash map (see pmap.h): a 32-way hash array mapped trie. A node holds, for
 * each 5-bit fragment of a key's hash that is present (its bitmap), one slot: an entry (key,
 * value) or, when several keys share the fragment, a child node for the next 5 bits. The
 * hash is a bijection of the key, so two keys always part by the thirteenth level. Nodes
 * are sized exactly to their slots and reference-counted; a node whose only reference is
 * the map being changed is changed in place, any other is copied first. */
#include "core/pmap.h"

#include <stdlib.h>
#include <string.h>

enum { FRAGMENT_BITS = 5, FRAGMENT_MASK = 31 };

typedef struct {
    uint64_t key; /* 0: value is a child node */
    uint64_t value;
} pmap_slot;

struct pmap_node {
    uint32_t refs;
    uint32_t bitmap;
    pmap_slot slots[];
};

/* splitmix64's finalizer: a bijection, so distinct keys have distinct hashes, and database
 * ids (sequential) spread over the whole trie. */
static uint64_t hash_key(uint64_t key)
{
    key ^= key >> 30;
    key *= UINT64_C(0xbf58476d1ce4e5b9);
    key ^= key >> 27;
    key *= UINT64_C(0x94d049bb133111eb);
    key ^= key >> 31;
    return key;
}

static unsigned fragment(uint64_t hash, unsigned level)
{
    return (unsigned)(hash >> (level * FRAGMENT_BITS)) & FRAGMENT_MASK;
}

/* Bits set in x. Written out: without -mpopcnt, __builtin_popcount is a call into libgcc. */
static unsigned popcount32(uint32_t x)
{
    x = x - ((x >> 1) & UINT32_C(0x55555555));
    x = (x & UINT32_C(0x33333333)) + ((x >> 2) & UINT32_C(0x33333333));
    x = (x + (x >> 4)) & UINT32_C(0x0f0f0f0f);
    return (unsigned)((x * UINT32_C(0x01010101)) >> 24);
}

static unsigned slot_count(const pmap_node *n)
{
    return popcount32(n->bitmap);
}

/* Position of the slot for bit among the present ones. */
static unsigned slot_index(uint32_t bitmap, unsigned bit)
{
    return popcount32(bitmap & ((UINT32_C(1) << bit) - 1));
}

static size_t node_size(unsigned count)
{
    return sizeof(pmap_node) + count * sizeof(pmap_slot);
}

static pmap_node *child_of(const pmap_slot *slot)
{
    return (pmap_node *)(uintptr_t)slot->value;
}

static pmap_node *node_new(unsigned count)
{
    pmap_node *n = malloc(node_size(count));
    if (n != NULL) {
        n->refs = 1;
        n->bitmap = 0;
    }
    return n;
}

static void node_retain(pmap_node *n)
{
    __atomic_add_fetch(&n->refs, 1, __ATOMIC_RELAXED);
}

static bool node_exclusive(const pmap_node *n)
{
    return __atomic_load_n(&n->refs, __ATOMIC_ACQUIRE) == 1;
}

static void node_release(pmap_node *n, const pmap_ops *ops)
{
    if (__atomic_sub_fetch(&n->refs, 1, __ATOMIC_ACQ_REL) != 0) {
        return;
    }
    unsigned count = slot_count(n);
    for (unsigned i = 0; i < count; i++) {
        if (n->slots[i].key == 0) {
            node_release(child_of(&n->slots[i]), ops);
        } else if (ops != NULL) {
            ops->release(n->slots[i].value);
        }
    }
    free(n);
}

/* n made the caller's own: n itself when the caller holds its only reference, else a copy
 * that takes over that reference. NULL on allocation failure (n untouched). */
static pmap_node *own(pmap_node *n, const pmap_ops *ops)
{
    if (node_exclusive(n)) {
        return n;
    }
    unsigned count = slot_count(n);
    pmap_node *copy = node_new(count);
    if (copy == NULL) {
        return NULL;
    }
    copy->bitmap = n->bitmap;
    memcpy(copy->slots, n->slots, count * sizeof(pmap_slot));
    for (unsigned i = 0; i < count; i++) {
        if (copy->slots[i].key == 0) {
            node_retain(child_of(&copy->slots[i]));
        } else if (ops != NULL) {
            ops->retain(copy->slots[i].value);
        }
    }
    node_release(n, ops);
    return copy;
}

void pmap_share(pmap *copy, const pmap *m)
{
    copy->root = m->root;
    copy->count = m->count;
    if (copy->root != NULL) {
        node_retain(copy->root);
    }
}

void pmap_clear(pmap *m, const pmap_ops *ops)
{
    if (m->root != NULL) {
        node_release(m->root, ops);
    }
    m->root = NULL;
    m->count = 0;
}

bool pmap_get(const pmap *m, uint64_t key, uint64_t *value)
{
    if (key == 0 || m->root == NULL) {
        return false;
    }
    uint64_t hash = hash_key(key);
    const pmap_node *n = m->root;
    for (unsigned level = 0;; level++) {
        unsigned bit = fragment(hash, level);
        if ((n->bitmap & (UINT32_C(1) << bit)) == 0) {
            return false;
        }
        const pmap_slot *slot = &n->slots[slot_index(n->bitmap, bit)];
        if (slot->key == 0) {
            n = child_of(slot);
            continue;
        }
        if (slot->key != key) {
            return false;
        }
        if (value != NULL) {
            *value = slot->value;
        }
        return true;
    }
}

bool pmap_get_mut(pmap *m, uint64_t key, const pmap_ops *ops, uint64_t **out)
{
    *out = NULL;
    if (key == 0 || m->root == NULL) {
        return true;
    }
    /* One walk, owning each node on the way: for an absent key that copies the shared nodes
     * of a path for nothing, but callers ask for keys that are there, or are about to be. */
    uint64_t hash = hash_key(key);
    pmap_node *n = own(m->root, ops);
    if (n == NULL) {
        return false;
    }
    m->root = n;
    for (unsigned level = 0;; level++) {
        unsigned bit = fragment(hash, level);
        if ((n->bitmap & (UINT32_C(1) << bit)) == 0) {
            return true;
        }
        pmap_slot *slot = &n->slots[slot_index(n->bitmap, bit)];
        if (slot->key != 0) {
            if (slot->key == key) {
                *out = &slot->value;
            }
            return true;
        }
        pmap_node *child = own(child_of(slot), ops);
        if (child == NULL) {
            return false;
        }
        slot->value = (uintptr_t)child;
        n = child;
    }
}

/* Frees a chain of nodes made by node_pair that was never linked in (the entries in its
 * leaf stay the caller's). */
static void pair_discard(pmap_node *n)
{
    while (n != NULL) {
        pmap_node *below =
            slot_count(n) == 1 && n->slots[0].key == 0 ? child_of(&n->slots[0]) : NULL;
        free(n);
        n = below;
    }
}

/* A node at level holding two entries whose hashes agree below it (a chain of one-child
 * nodes while they agree at further levels too). NULL on allocation failure. */
static pmap_node *node_pair(unsigned level, pmap_slot a, uint64_t hash_a, pmap_slot b,
                            uint64_t hash_b)
{
    unsigned bit_a = fragment(hash_a, level), bit_b = fragment(hash_b, level);
    if (bit_a == bit_b) {
        pmap_node *below = node_pair(level + 1, a, hash_a, b, hash_b);
        if (below == NULL) {
            return NULL;
        }
        pmap_node *n = node_new(1);
        if (n == NULL) {
            pair_discard(below);
            return NULL;
        }
        n->bitmap = UINT32_C(1) << bit_a;
        n->slots[0] = (pmap_slot){0, (uintptr_t)below};
        return n;
    }
    pmap_node *n = node_new(2);
    if (n == NULL) {
        return NULL;
    }
    n->bitmap = (UINT32_C(1) << bit_a) | (UINT32_C(1) << bit_b);
    n->slots[bit_a < bit_b ? 0 : 1] = a;
    n->slots[bit_a < bit_b ? 1 : 0] = b;
    return n;
}

/* Inserts into *np, a node the map owns, at level; *np may move (it grows). false on
 * allocation failure, with *np valid and unchanged in content. */
static bool insert(pmap_node **np, unsigned level, uint64_t hash, pmap_slot entry,
                   const pmap_ops *ops, bool *added)
{
    pmap_node *n = *np;
    unsigned bit = fragment(hash, level);
    unsigned index = slot_index(n->bitmap, bit);
    if ((n->bitmap & (UINT32_C(1) << bit)) == 0) {
        unsigned count = slot_count(n);
        pmap_node *grown = realloc(n, node_size(count + 1));
        if (grown == NULL) {
            return false;
        }
        memmove(&grown->slots[index + 1], &grown->slots[index],
                (count - index) * sizeof(pmap_slot));
        grown->slots[index] = entry;
        grown->bitmap |= UINT32_C(1) << bit;
        *np = grown;
        *added = true;
        return true;
    }
    pmap_slot *slot = &n->slots[index];
    if (slot->key == entry.key) {
        uint64_t old = slot->value;
        slot->value = entry.value;
        if (ops != NULL) {
            ops->release(old);
        }
        *added = false;
        return true;
    }
    if (slot->key != 0) {
        pmap_node *pair = node_pair(level + 1, *slot, hash_key(slot->key), entry, hash);
        if (pair == NULL) {
            return false;
        }
        *slot = (pmap_slot){0, (uintptr_t)pair};
        *added = true;
        return true;
    }
    pmap_node *child = own(child_of(slot), ops);
    if (child == NULL) {
        return false;
    }
    bool ok = insert(&child, level + 1, hash, entry, ops, added);
    slot->value = (uintptr_t)child;
    return ok;
}

bool pmap_put(pmap *m, uint64_t key, uint64_t value, const pmap_ops *ops)
{
    if (key == 0) {
        return false; /* 0 marks a child slot */
    }
    pmap_slot entry = {key, value};
    if (m->root == NULL) {
        pmap_node *root = node_new(1);
        if (root == NULL) {
            return false;
        }
        root->bitmap = UINT32_C(1) << fragment(hash_key(key), 0);
        root->slots[0] = entry;
        m->root = root;
        m->count = 1;
        return true;
    }
    pmap_node *root = own(m->root, ops);
    if (root == NULL) {
        return false;
    }
    bool added = false;
    bool ok = insert(&root, 0, hash_key(key), entry, ops, &added);
    m->root = root;
    m->count += added;
    return ok;
}

/* Drops the slot for bit from *np (which the map owns); shrinking may move it. */
static void drop_slot(pmap_node **np, unsigned bit)
{
    pmap_node *n = *np;
    unsigned count = slot_count(n);
    unsigned index = slot_index(n->bitmap, bit);
    memmove(&n->slots[index], &n->slots[index + 1], (count - index - 1) * sizeof(pmap_slot));
    n->bitmap &= ~(UINT32_C(1) << bit);
    pmap_node *shrunk = realloc(n, node_size(count - 1));
    if (shrunk != NULL) {
        *np = shrunk; /* else the larger block serves: the bitmap says how much is used */
    }
}

/* Removes key (known to be present) below *np, which the map owns. */
static bool erase(pmap_node **np, unsigned level, uint64_t hash, uint64_t key, const pmap_ops *ops)
{
    unsigned bit = fragment(hash, level);
    pmap_slot *slot = &(*np)->slots[slot_index((*np)->bitmap, bit)];
    if (slot->key == key) {
        if (ops != NULL) {
            ops->release(slot->value);
        }
        drop_slot(np, bit);
        return true;
    }
    pmap_node *child = own(child_of(slot), ops);
    if (child == NULL) {
        return false;
    }
    bool ok = erase(&child, level + 1, hash, key, ops);
    slot->value = (uintptr_t)child;
    if (!ok) {
        return false;
    }
    /* Keep the trie canonical: a child left with one entry is replaced by that entry, so a
     * removal gives back the nodes its insertion made. */
    unsigned left = slot_count(child);
    if (left == 0) {
        free(child);
        drop_slot(np, bit);
    } else if (left == 1 && child->slots[0].key != 0) {
        *slot = child->slots[0];
        free(child);
    }
    return true;
}

bool pmap_remove(pmap *m, uint64_t key, const pmap_ops *ops, bool *removed)
{
    if (removed != NULL) {
        *removed = false;
    }
    if (!pmap_get(m, key, NULL)) {
        return true;
    }
    pmap_node *root = own(m->root, ops);
    if (root == NULL) {
        return false;
    }
    bool ok = erase(&root, 0, hash_key(key), key, ops);
    m->root = root;
    if (!ok) {
        return false;
    }
    m->count--;
    if (slot_count(root) == 0) {
        free(root);
        m->root = NULL;
    }
    if (removed != NULL) {
        *removed = true;
    }
    return true;
}

static size_t node_bytes(const pmap_node *n)
{
    unsigned count = slot_count(n);
    size_t bytes = node_size(count);
    for (unsigned i = 0; i < count; i++) {
        if (n->slots[i].key == 0) {
            bytes += node_bytes(child_of(&n->slots[i]));
        }
    }
    return bytes;
}

size_t pmap_bytes(const pmap *m)
{
    return m->root != NULL ? node_bytes(m->root) : 0;
}

static void node_each(const pmap_node *n, void (*fn)(uint64_t, uint64_t, void *), void *arg)
{
    unsigned count = slot_count(n);
    for (unsigned i = 0; i < count; i++) {
        if (n->slots[i].key == 0) {
            node_each(child_of(&n->slots[i]), fn, arg);
        } else {
            fn(n->slots[i].key, n->slots[i].value, arg);
        }
    }
}

void pmap_each(const pmap *m, void (*fn)(uint64_t key, uint64_t value, void *arg), void *arg)
{
    if (m->root != NULL) {
        node_each(m->root, fn, arg);
    }
}

/* Frees the nodes of a trie that was never shared, leaving its values alone. */
static void node_discard(pmap_node *n)
{
    unsigned count = slot_count(n);
    for (unsigned i = 0; i < count; i++) {
        if (n->slots[i].key == 0) {
            node_discard(child_of(&n->slots[i]));
        }
    }
    free(n);
}

enum { LAST_LEVEL = 12, BUILD_DUPLICATE = -2, BUILD_NO_MEMORY = -1 };

/* The node for src[0..count) (count >= 2) at level: an MSD radix pass by the level's
 * fragment scatters src into dst, bucket by bucket in fragment order, which is the node's
 * slot order; buckets of one are entries, larger ones child nodes built with the buffers'
 * roles swapped. NULL with *error set on failure. */
static pmap_node *build_node(pmap_entry *src, pmap_entry *dst, size_t count, unsigned level,
                             int *error)
{
    if (level > LAST_LEVEL) {
        *error = BUILD_DUPLICATE; /* equal hashes at every level: equal keys */
        return NULL;
    }
    size_t bucket[FRAGMENT_MASK + 1] = {0};
    for (size_t i = 0; i < count; i++) {
        bucket[fragment(hash_key(src[i].key), level)]++;
    }
    uint32_t bitmap = 0;
    size_t offset[FRAGMENT_MASK + 1];
    size_t at = 0;
    for (unsigned b = 0; b <= FRAGMENT_MASK; b++) {
        offset[b] = at;
        at += bucket[b];
        bitmap |= bucket[b] > 0 ? UINT32_C(1) << b : 0;
    }
    for (size_t i = 0; i < count; i++) {
        dst[offset[fragment(hash_key(src[i].key), level)]++] = src[i];
    }
    pmap_node *n = node_new(popcount32(bitmap));
    if (n == NULL) {
        *error = BUILD_NO_MEMORY;
        return NULL;
    }
    n->bitmap = 0; /* grows with the slots filled, so a failure frees only what is there */
    size_t start = 0;
    unsigned filled = 0;
    for (unsigned b = 0; b <= FRAGMENT_MASK; b++) {
        if (bucket[b] == 0) {
            continue;
        }
        if (bucket[b] == 1) {
            n->slots[filled] = (pmap_slot){dst[start].key, dst[start].value};
        } else {
            pmap_node *child = build_node(dst + start, src + start, bucket[b], level + 1, error);
            if (child == NULL) {
                node_discard(n);
                return NULL;
            }
            n->slots[filled] = (pmap_slot){0, (uintptr_t)child};
        }
        n->bitmap |= UINT32_C(1) << b;
        filled++;
        start += bucket[b];
    }
    return n;
}

int pmap_build(pmap *m, pmap_entry *entries, size_t count)
{
    m->root = NULL;
    m->count = 0;
    for (size_t i = 0; i < count; i++) {
        if (entries[i].key == 0) {
            return -2;
        }
    }
    if (count == 0) {
        return 0;
    }
    if (count == 1) {
        pmap_node *root = node_new(1);
        if (root == NULL) {
            return -1;
        }
        root->bitmap = UINT32_C(1) << fragment(hash_key(entries[0].key), 0);
        root->slots[0] = (pmap_slot){entries[0].key, entries[0].value};
        m->root = root;
        m->count = 1;
        return 0;
    }
    pmap_entry *scratch = malloc(count * sizeof *scratch);
    if (scratch == NULL) {
        return -1;
    }
    int error = 0;
    m->root = build_node(entries, scratch, count, 0, &error);
    free(scratch);
    if (m->root == NULL) {
        return error;
    }
    m->count = count;
    return 0;
}
