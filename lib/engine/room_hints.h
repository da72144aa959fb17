/* This instance's estimate of every storage's room, per waste type: how far a transfer's
 * search reads ahead before it locks (core/placement.h). Only an estimate — what a transfer
 * ships always comes from rooms it read itself — so it may lag behind other instances:
 * every room a transfer reads corrects it, and every shipment this instance commits lowers
 * it. Loaded in pages in the background at start (until then everything is "unknown" and
 * searches read one storage at a time). Bounded: at most max_entries (storage, type)
 * pairs; past that, storages stay unknown. Also owns the numbering of waste types that
 * room maps use as keys. */
#ifndef WF_ENGINE_ROOM_HINTS_H
#define WF_ENGINE_ROOM_HINTS_H

#include "core/room_map.h"
#include "engine/app.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct room_hints room_hints;

room_hints *room_hints_new(wf_app *app, size_t max_entries);
void room_hints_stop(room_hints *hints);
bool room_hints_busy(const room_hints *hints);
void room_hints_free(room_hints *hints);

/* The key of a waste type code (the same for the life of the process), and back. */
uint32_t room_hints_key(room_hints *hints, const char *code);
const char *room_hints_code(const room_hints *hints, uint32_t key);

/* The estimates, for core/placement. */
const room_map *room_hints_map(const room_hints *hints);

/* A room read from the database (0 for a pair with no room or no row). */
void room_hints_saw(room_hints *hints, int64_t storage_id, uint32_t key, int64_t room_kg);
/* This instance committed a shipment of amount_kg into the pair. */
void room_hints_shipped(room_hints *hints, int64_t storage_id, uint32_t key, int64_t amount_kg);

/* Loads every storage's rooms into map (marking each storage known, see
 * PLACEMENT_STORAGE_KNOWN), page by page on the control pool, then calls done(arg, ok)
 * once, from the loop. The dispatcher uses it for its own map too. */
void room_hints_load(room_hints *hints, room_map *map, void (*done)(void *arg, bool ok), void *arg);

#endif
