/* Kept prefixes of organizations' orders (see order_prefix.h). */
#include "core/order_prefix.h"

#include <stdlib.h>
#include <string.h>

struct order_prefixes {
    order_prefix *slots; /* count 0 and ids NULL: empty */
    size_t slot_count, max_length, max_bytes, bytes, kept;
    int64_t version; /* the newest version put; older puts are refused */
};

order_prefixes *order_prefixes_new(size_t slots, size_t max_length, size_t max_bytes)
{
    if (slots == 0 || max_length == 0) {
        return NULL;
    }
    order_prefixes *table = calloc(1, sizeof *table);
    if (table == NULL) {
        return NULL;
    }
    table->slots = calloc(slots, sizeof *table->slots);
    if (table->slots == NULL) {
        free(table);
        return NULL;
    }
    table->slot_count = slots;
    table->max_length = max_length > ORDER_PREFIX_MAX_LENGTH ? ORDER_PREFIX_MAX_LENGTH : max_length;
    table->max_bytes = max_bytes;
    table->version = INT64_MIN;
    return table;
}

/* One allocation holds the three arrays. */
static size_t entry_bytes(size_t count)
{
    return count * (2 * sizeof(int64_t) + sizeof(uint16_t));
}

static void slot_clear(order_prefixes *table, order_prefix *slot)
{
    if (slot->ids != NULL) {
        table->bytes -= entry_bytes(slot->count);
        table->kept--;
        free((void *)slot->ids);
    }
    *slot = (order_prefix){0};
}

void order_prefixes_free(order_prefixes *table)
{
    if (table == NULL) {
        return;
    }
    for (size_t i = 0; i < table->slot_count; i++) {
        slot_clear(table, &table->slots[i]);
    }
    free(table->slots);
    free(table);
}

static size_t slot_of(const order_prefixes *table, int64_t organization_id)
{
    uint64_t h = (uint64_t)organization_id * 0x9e3779b97f4a7c15ULL;
    return (size_t)((h >> 32) % table->slot_count);
}

const order_prefix *order_prefixes_get(const order_prefixes *table, int64_t organization_id,
                                       int64_t version)
{
    if (table == NULL) {
        return NULL;
    }
    const order_prefix *slot = &table->slots[slot_of(table, organization_id)];
    if (slot->ids == NULL || slot->organization_id != organization_id || slot->version != version) {
        return NULL;
    }
    return slot;
}

typedef struct {
    int64_t id;
    uint16_t position;
} pair;

static int pair_compare(const void *a, const void *b)
{
    int64_t x = ((const pair *)a)->id, y = ((const pair *)b)->id;
    return (x > y) - (x < y);
}

bool order_prefixes_put(order_prefixes *table, int64_t organization_id, int64_t version,
                        const int64_t *ids, const int64_t *distances, size_t count, bool complete)
{
    if (table == NULL || count == 0 || version < table->version) {
        return false;
    }
    if (version > table->version) {
        for (size_t i = 0; i < table->slot_count; i++) {
            slot_clear(table, &table->slots[i]);
        }
        table->version = version;
    }
    if (count > table->max_length) {
        count = table->max_length;
        complete = false;
    }
    order_prefix *slot = &table->slots[slot_of(table, organization_id)];
    bool same = slot->ids != NULL && slot->organization_id == organization_id;
    if (same && (slot->complete || (slot->count >= count && !complete))) {
        return false; /* it holds as much already */
    }
    size_t held = slot->ids != NULL ? entry_bytes(slot->count) : 0;
    if (table->bytes - held + entry_bytes(count) > table->max_bytes) {
        return false;
    }
    int64_t *arrays = malloc(entry_bytes(count));
    pair *sorted = malloc(count * sizeof *sorted);
    if (arrays == NULL || sorted == NULL) {
        free(arrays);
        free(sorted);
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        sorted[i] = (pair){ids[i], (uint16_t)i};
    }
    qsort(sorted, count, sizeof *sorted, pair_compare);
    memcpy(arrays, ids, count * sizeof *arrays);
    memcpy(arrays + count, distances, count * sizeof *arrays);
    uint16_t *by_id = (uint16_t *)(arrays + 2 * count);
    for (size_t i = 0; i < count; i++) {
        by_id[i] = sorted[i].position;
    }
    free(sorted);
    slot_clear(table, slot);
    *slot = (order_prefix){
        .organization_id = organization_id,
        .version = version,
        .ids = arrays,
        .distances = arrays + count,
        .by_id = by_id,
        .count = count,
        .complete = complete,
    };
    table->bytes += entry_bytes(count);
    table->kept++;
    return true;
}

int64_t order_prefix_distance(const order_prefix *prefix, int64_t storage_id)
{
    size_t lo = 0, hi = prefix->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (prefix->ids[prefix->by_id[mid]] < storage_id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == prefix->count || prefix->ids[prefix->by_id[lo]] != storage_id) {
        return -1;
    }
    return prefix->distances[prefix->by_id[lo]];
}

size_t order_prefixes_bytes(const order_prefixes *table)
{
    return table != NULL ? table->bytes : 0;
}

size_t order_prefixes_count(const order_prefixes *table)
{
    return table != NULL ? table->kept : 0;
}
