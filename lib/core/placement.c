/* The batch planner (see placement.h). Every placement_plan starts from scratch over what
 * is known — the storages the searches produced so far, the fresh rooms read so far —
 * so a later read can never leave a stale decision behind. Per organization and type the
 * walk over its storages ships from fresh pairs (the rule itself) and, for a pair that is
 * not fresh, estimates from hints what it could take, to know how far to walk, and names
 * it for reading. Takes are shared along the batch:
 * one table holds what earlier organizations took (or, in the estimating part, would take)
 * from each pair. Allocation failure aborts, as everywhere in the service. */
#include "core/placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNLIMITED INT64_MAX

typedef struct {
    int64_t storage_id;
    int64_t distance_m;
} stop;

typedef struct {
    plan_type *types;
    const uint32_t *keys;
    int64_t *to_place; /* per type: left_kg as handed to placement_add */
    size_t type_count;
    place_next_fn next;
    void *search;
    stop *stops; /* the storages produced so far, in order */
    size_t stop_count, stop_cap;
    bool exhausted;
    plan_shipment *shipments;
    size_t shipment_count, shipment_cap;
    int64_t expected_kg; /* placed or, by the hints, placeable in the last pass */
} member;

struct placement {
    const room_map *hints;
    room_map *fresh;
    room_map *taken;  /* per pass: what the batch so far takes from each pair */
    room_map *listed; /* per pass: the pairs already named for reading */
    member *members;
    size_t member_count, member_cap;
    size_t storages_seen;
    size_t wanted; /* pairs the last plan named, beyond its cap too */
};

static void *resize(void *block, size_t count, size_t size)
{
    void *bigger = count > 0 && size > SIZE_MAX / count ? NULL : realloc(block, count * size);
    if (bigger == NULL) {
        fprintf(stderr, "placement: out of memory\n");
        abort();
    }
    return bigger;
}

static room_map *new_map(void)
{
    room_map *map = room_map_new(SIZE_MAX);
    if (map == NULL) {
        fprintf(stderr, "placement: out of memory\n");
        abort();
    }
    return map;
}

placement *placement_new(const room_map *hints)
{
    placement *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->hints = hints;
    p->fresh = new_map();
    p->taken = new_map();
    p->listed = new_map();
    return p;
}

void placement_free(placement *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->member_count; i++) {
        free(p->members[i].to_place);
        free(p->members[i].stops);
        free(p->members[i].shipments);
    }
    free(p->members);
    room_map_free(p->fresh);
    room_map_free(p->taken);
    room_map_free(p->listed);
    free(p);
}

size_t placement_add(placement *p, plan_type *types, const uint32_t *keys, size_t type_count,
                     place_next_fn next, void *search)
{
    if (p->member_count == p->member_cap) {
        p->member_cap = p->member_cap ? p->member_cap * 2 : 4;
        p->members = resize(p->members, p->member_cap, sizeof *p->members);
    }
    member *m = &p->members[p->member_count];
    *m = (member){
        .types = types, .keys = keys, .type_count = type_count, .next = next, .search = search};
    m->to_place = resize(NULL, type_count ? type_count : 1, sizeof *m->to_place);
    for (size_t k = 0; k < type_count; k++) {
        m->to_place[k] = types[k].left_kg > 0 ? types[k].left_kg : 0;
    }
    return p->member_count++;
}

/* The member's stop at position, pulling from its search as needed; false past its end. */
static bool stop_at(placement *p, member *m, size_t position, stop *out)
{
    while (position >= m->stop_count && !m->exhausted) {
        stop next;
        if (!m->next(m->search, &next.storage_id, &next.distance_m)) {
            m->exhausted = true;
            break;
        }
        if (m->stop_count == m->stop_cap) {
            m->stop_cap = m->stop_cap ? m->stop_cap * 2 : 16;
            m->stops = resize(m->stops, m->stop_cap, sizeof *m->stops);
        }
        m->stops[m->stop_count++] = next;
        p->storages_seen++;
    }
    if (position >= m->stop_count) {
        return false;
    }
    *out = m->stops[position];
    return true;
}

/* What the hints say a pair can take: its room, 0 for a type a known storage does not
 * accept, UNLIMITED for a storage the hints do not know. */
static int64_t hinted_room(const placement *p, place_pair pair)
{
    int64_t room;
    if (p->hints == NULL) {
        return UNLIMITED;
    }
    if (room_map_get(p->hints, pair.storage_id, pair.type, &room)) {
        return room > 0 ? room : 0;
    }
    return room_map_get(p->hints, pair.storage_id, PLACEMENT_STORAGE_KNOWN, &room) ? 0 : UNLIMITED;
}

static int64_t taken_from(const placement *p, place_pair pair)
{
    int64_t taken;
    return room_map_get(p->taken, pair.storage_id, pair.type, &taken) ? taken : 0;
}

static void take(placement *p, place_pair pair, int64_t amount_kg)
{
    if (!room_map_add(p->taken, pair.storage_id, pair.type, amount_kg)) {
        (void)room_map_put(p->taken, pair.storage_id, pair.type, amount_kg);
    }
}

static void ship(member *m, size_t type, stop at, int64_t amount_kg)
{
    if (m->shipment_count == m->shipment_cap) {
        m->shipment_cap = m->shipment_cap ? m->shipment_cap * 2 : 8;
        m->shipments = resize(m->shipments, m->shipment_cap, sizeof *m->shipments);
    }
    m->shipments[m->shipment_count++] =
        (plan_shipment){type, at.storage_id, amount_kg, at.distance_m};
}

/* One type of one member: ships from fresh pairs, estimates from hints for the others (and
 * appends those to out, up to cap; *wanted counts them all). Only a pass that names no
 * pair is final, and then every pair of the walk was fresh. */
static void plan_type_walk(placement *p, member *m, size_t type, place_pair *out, size_t cap,
                           size_t *wanted)
{
    int64_t need = m->to_place[type];
    int64_t start = need;
    stop at;
    for (size_t position = 0; need > 0 && stop_at(p, m, position, &at); position++) {
        place_pair pair = {at.storage_id, m->keys[type]};
        int64_t fresh;
        int64_t room;
        if (room_map_get(p->fresh, pair.storage_id, pair.type, &fresh)) {
            room = fresh - taken_from(p, pair);
            if (room > 0) {
                int64_t amount = room < need ? room : need;
                ship(m, type, at, amount);
                take(p, pair, amount);
                m->types[type].left_kg -= amount;
                need -= amount;
                continue;
            }
        } else {
            int64_t seen;
            if (!room_map_get(p->listed, pair.storage_id, pair.type, &seen)) {
                (void)room_map_put(p->listed, pair.storage_id, pair.type, 1);
                if (*wanted < cap) {
                    out[*wanted] = pair;
                }
                (*wanted)++;
            }
            room = hinted_room(p, pair);
            if (room != UNLIMITED) {
                room -= taken_from(p, pair);
            }
        }
        if (room <= 0) {
            continue;
        }
        /* Estimating: assume the pair takes what it seems to have room for. */
        int64_t amount = room < need ? room : need;
        take(p, pair, amount);
        need -= amount;
    }
    m->expected_kg += start - need;
}

size_t placement_plan(placement *p, place_pair *out, size_t cap)
{
    room_map_clear(p->taken);
    room_map_clear(p->listed);
    size_t wanted = 0;
    for (size_t i = 0; i < p->member_count; i++) {
        member *m = &p->members[i];
        m->shipment_count = 0;
        m->expected_kg = 0;
        for (size_t k = 0; k < m->type_count; k++) {
            m->types[k].left_kg = m->to_place[k];
            plan_type_walk(p, m, k, out, cap, &wanted);
        }
    }
    p->wanted = wanted;
    return wanted < cap ? wanted : cap;
}

size_t placement_wanted(const placement *p)
{
    return p->wanted;
}

void placement_fresh(placement *p, place_pair pair, int64_t room_kg)
{
    (void)room_map_put(p->fresh, pair.storage_id, pair.type, room_kg > 0 ? room_kg : 0);
}

bool placement_is_fresh(const placement *p, place_pair pair)
{
    int64_t room;
    return room_map_get(p->fresh, pair.storage_id, pair.type, &room);
}

const plan_shipment *placement_shipments(const placement *p, size_t index, size_t *count)
{
    if (index >= p->member_count) {
        *count = 0;
        return NULL;
    }
    *count = p->members[index].shipment_count;
    return p->members[index].shipments;
}

int64_t placement_expected_kg(const placement *p, size_t index)
{
    return index < p->member_count ? p->members[index].expected_kg : 0;
}

size_t placement_storages_seen(const placement *p)
{
    return p->storages_seen;
}
