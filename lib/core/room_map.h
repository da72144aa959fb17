/* Room per (storage, waste type): an open-addressing hash map from a storage id and a small
 * type number to kilograms of room. The transfer engine keeps two: the instance's hints (an
 * estimate that only decides how far a search reads ahead, never what it ships) and, per
 * transaction, the rooms it read itself. Bounded: once max_entries are held, puts of new
 * keys are refused, so a caller sees a full map as "unknown". Pure: no I/O. */
#ifndef WF_CORE_ROOM_MAP_H
#define WF_CORE_ROOM_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct room_map room_map;

/* A map holding at most max_entries keys (>= 1); NULL when memory runs out. */
room_map *room_map_new(size_t max_entries) __attribute__((warn_unused_result));
void room_map_free(room_map *map);

/* The room stored for (storage_id, type), or false when there is none. */
bool room_map_get(const room_map *map, int64_t storage_id, uint32_t type, int64_t *room_kg)
    __attribute__((warn_unused_result));

/* Stores (or replaces) the room. False when the key is new and the map is at its bound or
 * could not grow; the map is unchanged then. storage_id must be > 0. */
bool room_map_put(room_map *map, int64_t storage_id, uint32_t type, int64_t room_kg);

/* Adds delta to a stored room (no-op when absent); returns whether the key was there. */
bool room_map_add(room_map *map, int64_t storage_id, uint32_t type, int64_t delta_kg);

/* Drops every entry, keeping the allocation. */
void room_map_clear(room_map *map);

size_t room_map_count(const room_map *map) __attribute__((warn_unused_result));
/* Bytes the map holds (its table and itself). */
size_t room_map_bytes(const room_map *map) __attribute__((warn_unused_result));

#endif
