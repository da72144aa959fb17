/* Linear probing over a power-of-two table kept at most half full; a storage id of 0 marks
 * an empty slot (ids are positive). */
#include "core/room_map.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t storage_id; /* 0: empty */
    uint32_t type;
    int64_t room_kg;
} slot;

struct room_map {
    slot *slots;
    size_t mask; /* table size - 1 */
    size_t count;
    size_t max_entries;
};

#define INITIAL_SLOTS 64

static size_t hash_key(int64_t storage_id, uint32_t type)
{
    /* splitmix64's finalizer: ids are dense, so their low bits alone would cluster. */
    uint64_t x = (uint64_t)storage_id * 0x9E3779B97F4A7C15u ^ ((uint64_t)type << 32 | type);
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9u;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBu;
    x ^= x >> 31;
    return (size_t)x;
}

room_map *room_map_new(size_t max_entries)
{
    room_map *map = calloc(1, sizeof *map);
    if (map == NULL) {
        return NULL;
    }
    map->slots = calloc(INITIAL_SLOTS, sizeof *map->slots);
    if (map->slots == NULL) {
        free(map);
        return NULL;
    }
    map->mask = INITIAL_SLOTS - 1;
    map->max_entries = max_entries > 0 ? max_entries : 1;
    return map;
}

void room_map_free(room_map *map)
{
    if (map != NULL) {
        free(map->slots);
        free(map);
    }
}

static slot *find(const room_map *map, int64_t storage_id, uint32_t type)
{
    size_t i = hash_key(storage_id, type) & map->mask;
    while (map->slots[i].storage_id != 0) {
        if (map->slots[i].storage_id == storage_id && map->slots[i].type == type) {
            return &map->slots[i];
        }
        i = (i + 1) & map->mask;
    }
    return &map->slots[i]; /* the empty slot where the key would go */
}

static bool grow(room_map *map)
{
    size_t size = (map->mask + 1) * 2;
    slot *bigger = calloc(size, sizeof *bigger);
    if (bigger == NULL) {
        return false;
    }
    slot *old = map->slots;
    size_t old_size = map->mask + 1;
    map->slots = bigger;
    map->mask = size - 1;
    for (size_t i = 0; i < old_size; i++) {
        if (old[i].storage_id != 0) {
            *find(map, old[i].storage_id, old[i].type) = old[i];
        }
    }
    free(old);
    return true;
}

bool room_map_get(const room_map *map, int64_t storage_id, uint32_t type, int64_t *room_kg)
{
    if (storage_id <= 0) {
        return false;
    }
    const slot *s = find(map, storage_id, type);
    if (s->storage_id == 0) {
        return false;
    }
    *room_kg = s->room_kg;
    return true;
}

bool room_map_put(room_map *map, int64_t storage_id, uint32_t type, int64_t room_kg)
{
    if (storage_id <= 0) {
        return false;
    }
    slot *s = find(map, storage_id, type);
    if (s->storage_id != 0) {
        s->room_kg = room_kg;
        return true;
    }
    if (map->count >= map->max_entries) {
        return false;
    }
    if ((map->count + 1) * 2 > map->mask + 1) {
        if (!grow(map)) {
            return false;
        }
        s = find(map, storage_id, type);
    }
    *s = (slot){storage_id, type, room_kg};
    map->count++;
    return true;
}

bool room_map_add(room_map *map, int64_t storage_id, uint32_t type, int64_t delta_kg)
{
    if (storage_id <= 0) {
        return false;
    }
    slot *s = find(map, storage_id, type);
    if (s->storage_id == 0) {
        return false;
    }
    s->room_kg += delta_kg;
    return true;
}

void room_map_clear(room_map *map)
{
    memset(map->slots, 0, (map->mask + 1) * sizeof *map->slots);
    map->count = 0;
}

size_t room_map_count(const room_map *map)
{
    return map->count;
}

size_t room_map_bytes(const room_map *map)
{
    return sizeof *map + (map->mask + 1) * sizeof *map->slots;
}
