/* Room hints (see room_hints.h): a room_map, the waste-type numbering, and a pager that
 * fills a map from storage_waste. */
#include "engine/room_hints.h"

#include "core/placement.h"
#include "engine/statements.h"
#include "engine/tx.h"
#include "util/log.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_PAGE_STORAGES 5000

struct room_hints {
    wf_app *app;
    room_map *map;
    bool stopped;
    int loads; /* pagers in flight */
    /* Waste type codes by key; a small open-addressing table finds a code's key. */
    char **codes;
    size_t code_count, code_cap;
    uint32_t *by_hash; /* key + 1, 0 empty */
    size_t hash_mask;
};

typedef struct {
    room_hints *hints;
    room_map *map;
    void (*done)(void *arg, bool ok);
    void *arg;
    int64_t after_id;
    size_t pairs;
    bool last; /* the page just read was empty: every storage is loaded */
    int64_t started_ms;
} loader;

static void loaded_into_hints(void *arg, bool ok)
{
    room_hints *hints = arg;
    char pairs[24];
    snprintf(pairs, sizeof pairs, "%zu", room_map_count(hints->map));
    log_event(ok ? LOG_INFO : LOG_WARN, ok ? "room hints loaded" : "room hints not loaded", "pairs",
              pairs, NULL);
}

room_hints *room_hints_new(wf_app *app, size_t max_entries)
{
    room_hints *hints = xcalloc(1, sizeof *hints);
    hints->app = app;
    hints->map = room_map_new(max_entries);
    if (hints->map == NULL) {
        mem_exhausted(sizeof(room_map *));
    }
    hints->hash_mask = 63;
    hints->by_hash = xcalloc(hints->hash_mask + 1, sizeof *hints->by_hash);
    room_hints_load(hints, hints->map, loaded_into_hints, hints);
    return hints;
}

void room_hints_stop(room_hints *hints)
{
    if (hints != NULL) {
        hints->stopped = true;
    }
}

bool room_hints_busy(const room_hints *hints)
{
    return hints != NULL && hints->loads > 0;
}

void room_hints_free(room_hints *hints)
{
    if (hints == NULL) {
        return;
    }
    for (size_t i = 0; i < hints->code_count; i++) {
        free(hints->codes[i]);
    }
    free(hints->codes);
    free(hints->by_hash);
    room_map_free(hints->map);
    free(hints);
}

static size_t hash_code(const char *code)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)code; *c != '\0'; c++) {
        h = (h ^ *c) * 1099511628211u;
    }
    return h;
}

static void index_code(room_hints *hints, uint32_t key)
{
    size_t i = hash_code(hints->codes[key]) & hints->hash_mask;
    while (hints->by_hash[i] != 0) {
        i = (i + 1) & hints->hash_mask;
    }
    hints->by_hash[i] = key + 1;
}

uint32_t room_hints_key(room_hints *hints, const char *code)
{
    size_t i = hash_code(code) & hints->hash_mask;
    while (hints->by_hash[i] != 0) {
        uint32_t key = hints->by_hash[i] - 1;
        if (strcmp(hints->codes[key], code) == 0) {
            return key;
        }
        i = (i + 1) & hints->hash_mask;
    }
    if (hints->code_count == hints->code_cap) {
        hints->code_cap = hints->code_cap ? hints->code_cap * 2 : 8;
        hints->codes = xrealloc(hints->codes, hints->code_cap * sizeof *hints->codes);
    }
    uint32_t key = (uint32_t)hints->code_count++;
    hints->codes[key] = xstrdup(code);
    if (hints->code_count * 2 > hints->hash_mask + 1) {
        free(hints->by_hash);
        hints->hash_mask = hints->hash_mask * 2 + 1;
        hints->by_hash = xcalloc(hints->hash_mask + 1, sizeof *hints->by_hash);
        for (uint32_t k = 0; k < hints->code_count; k++) {
            index_code(hints, k);
        }
    } else {
        index_code(hints, key);
    }
    return key;
}

const char *room_hints_code(const room_hints *hints, uint32_t key)
{
    return key < hints->code_count ? hints->codes[key] : NULL;
}

const room_map *room_hints_map(const room_hints *hints)
{
    return hints->map;
}

void room_hints_saw(room_hints *hints, int64_t storage_id, uint32_t key, int64_t room_kg)
{
    (void)room_map_put(hints->map, storage_id, key, room_kg);
}

void room_hints_shipped(room_hints *hints, int64_t storage_id, uint32_t key, int64_t amount_kg)
{
    (void)room_map_add(hints->map, storage_id, key, -amount_kg);
}

static void load_page(loader *l);

static void page_read(tx *t, const db_result *result)
{
    loader *l = tx_user(t);
    int rows = db_rows(result, 0);
    for (int row = 0; row < rows; row++) {
        int64_t storage = db_int64(result, 0, row, 0);
        uint32_t key = room_hints_key(l->hints, db_text(result, 0, row, 1));
        (void)room_map_put(l->map, storage, PLACEMENT_STORAGE_KNOWN, 0);
        l->pairs += room_map_put(l->map, storage, key, db_int64(result, 0, row, 2));
        l->after_id = storage > l->after_id ? storage : l->after_id;
    }
    /* The page holds whole storages; one with fewer rows than storages asked for is last. */
    l->last = rows == 0;
    tx_finish(t);
}

static void page_done(tx *t, tx_outcome outcome)
{
    loader *l = tx_user(t);
    if (outcome == TX_OK && !l->last && !l->hints->stopped) {
        load_page(l);
        return;
    }
    l->hints->loads--;
    bool ok = outcome == TX_OK && l->last;
    if (ok) {
        char pairs[24], ms[24];
        snprintf(pairs, sizeof pairs, "%zu", l->pairs);
        snprintf(ms, sizeof ms, "%lld", (long long)(clock_ms() - l->started_ms));
        log_event(LOG_DEBUG, "room map loaded", "pairs", pairs, "ms", ms, NULL);
    }
    l->done(l->arg, ok);
    free(l);
}

static void load_page(loader *l)
{
    wf_app *app = l->hints->app;
    tx *t = tx_background(app, clock_ms() + app->cfg->request_timeout_ms, page_done);
    tx_set_user(t, l);
    tx_use_control(t);
    tx_q(t, ST_ROOMS_PAGE, tx_int(t, l->after_id), tx_int(t, LOAD_PAGE_STORAGES));
    tx_run(t, TX_READ, page_read);
}

void room_hints_load(room_hints *hints, room_map *map, void (*done)(void *arg, bool ok), void *arg)
{
    loader *l = xcalloc(1, sizeof *l);
    *l = (loader){.hints = hints, .map = map, .done = done, .arg = arg, .started_ms = clock_ms()};
    hints->loads++;
    load_page(l);
}
