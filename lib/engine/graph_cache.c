/* The road graph cache (see graph_cache.h): reading ST_GRAPH_SYNC's rows into a new graph
 * version, by applying logged changes to the cached one or by building from every road. */
#include "engine/graph_cache.h"

#include "engine/statements.h"
#include "engine/tx.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"

#include <event2/event.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ST_GRAPH_SYNC's columns. */
enum {
    COL_HEAD,
    COL_KIND,
    COL_VERSION,
    COL_ROUTE,
    COL_OP,
    COL_FROM,
    COL_TO,
    COL_DISTANCE,
    COL_TWO_WAY,
    COL_CHUNK
};

void graph_snapshot_release(graph_snapshot *snapshot)
{
    if (snapshot != NULL && --snapshot->refs == 0) {
        for (size_t i = 0; i < snapshot->paths_slots; i++) {
            graph_paths_free(snapshot->paths[i]);
        }
        free(snapshot->paths);
        free(snapshot->paths_from);
        graph_free(snapshot->roads);
        free(snapshot);
    }
}

const graph_paths *graph_snapshot_paths(graph_snapshot *snapshot, int64_t organization_id)
{
    if (snapshot->paths_slots == 0) {
        /* One whole tree holds a search state, a hash slot pair and an order entry per
         * node (core/graph.c): about 40 bytes a node. */
        size_t per_entry = graph_node_count(snapshot->roads) * 40 + 256;
        size_t slots = GRAPH_PATHS_CACHE_BYTES / per_entry;
        slots = slots < 1 ? 1 : slots > 4096 ? 4096 : slots;
        snapshot->paths = xcalloc(slots, sizeof *snapshot->paths);
        snapshot->paths_from = xcalloc(slots, sizeof *snapshot->paths_from);
        snapshot->paths_slots = slots;
    }
    size_t slot =
        (size_t)(((uint64_t)organization_id * 0x9e3779b97f4a7c15ULL) >> 32) % snapshot->paths_slots;
    if (snapshot->paths[slot] != NULL && snapshot->paths_from[slot] == organization_id) {
        return snapshot->paths[slot];
    }
    graph_paths *fresh =
        graph_shortest_from(snapshot->roads, (node_ref){NODE_ORG, organization_id});
    if (fresh == NULL) {
        mem_exhausted(graph_node_count(snapshot->roads) * 40);
    }
    graph_paths_free(snapshot->paths[slot]);
    snapshot->paths[slot] = fresh;
    snapshot->paths_from[slot] = organization_id;
    return fresh;
}

graph_snapshot *graph_cache_get(wf_app *app, int64_t version)
{
    graph_snapshot *current = app->graph;
    if (current == NULL || current->version != version) {
        return NULL;
    }
    current->refs++;
    return current;
}

void graph_cache_queue(tx *t)
{
    const graph_snapshot *current = tx_app(t)->graph;
    if (current == NULL) {
        metrics_count_graph_full_read();
    }
    tx_q(t, ST_GRAPH_SYNC, tx_int(t, current != NULL ? current->version : 0),
         tx_int(t, GRAPH_SYNC_MAX_CHANGES));
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* 'o12' / 's7' (the routes table's node keys) into *node; false when it is not one. */
static bool parse_node(const char *text, const char **end, node_ref *node)
{
    if (text == NULL || (text[0] != 'o' && text[0] != 's') || text[1] < '1' || text[1] > '9') {
        return false;
    }
    char *stop = NULL;
    long long id = strtoll(text + 1, &stop, 10);
    *node = (node_ref){text[0] == 'o' ? NODE_ORG : NODE_STORAGE, id};
    if (end != NULL) {
        *end = stop;
    }
    return id >= 1;
}

/* Adds the roads of one chunk ("id from to distance two_way" lines) to b. The database
 * wrote them from rows its constraints keep valid, so a line that does not parse is a bug:
 * it is logged and skipped, never half-read. */
static void add_chunk(graph_builder *b, const char *chunk, size_t *count)
{
    const char *at = chunk;
    while (at != NULL && *at != '\0') {
        const char *line_end = strchr(at, '\n');
        char *stop = NULL;
        graph_road road = {0};
        road.route_id = strtoll(at, &stop, 10);
        const char *next = stop;
        bool ok = stop != at && *next == ' ' && parse_node(next + 1, &next, &road.from) &&
                  *next == ' ' && parse_node(next + 1, &next, &road.to) && *next == ' ';
        if (ok) {
            road.distance_m = strtoll(next + 1, &stop, 10);
            ok = *stop == ' ' && (stop[1] == '0' || stop[1] == '1');
            road.two_way = ok && stop[1] == '1';
        }
        if (!ok || !graph_builder_add(b, &road)) {
            if (ok) {
                mem_exhausted(sizeof road); /* a valid road refused: only memory can fail */
            }
            log_event(LOG_ERROR, "road graph load: a road line does not parse; skipped", NULL);
        } else {
            (*count)++;
        }
        at = line_end != NULL ? line_end + 1 : NULL;
    }
}

/* Gives freed memory back to the system once the load's result is freed too (after the
 * callback that installed it): a full load's scratch is tens of megabytes. */
static void trim_heap(evutil_socket_t fd, short events, void *arg)
{
    malloc_trim(0);
}

static graph *load_every_road(wf_app *app, const db_result *result, int q, size_t *roads)
{
    graph_builder *b = graph_builder_new();
    if (b == NULL) {
        mem_exhausted(sizeof(void *));
    }
    int rows = db_rows(result, q);
    for (int row = 0; row < rows; row++) {
        const char *kind = db_text(result, q, row, COL_KIND);
        if (kind[0] == 'f' && !db_is_null(result, q, row, COL_CHUNK)) {
            add_chunk(b, db_text(result, q, row, COL_CHUNK), roads);
        }
    }
    graph *g = graph_builder_finish(b);
    if (g == NULL) {
        mem_exhausted(*roads * 64); /* valid, distinct roads (primary key): only memory */
    }
    struct timeval soon = {0, 0};
    event_base_once(app->base, -1, EV_TIMEOUT, trim_heap, NULL, &soon);
    return g;
}

/* One logged change and the version it made. */
typedef struct {
    int64_t version;
    graph_change change;
} logged_change;

static int compare_versions(const void *left, const void *right)
{
    int64_t a = ((const logged_change *)left)->version;
    int64_t b = ((const logged_change *)right)->version;
    return a < b ? -1 : a > b;
}

/* The logged changes after `after`, in version order, applied to base. */
static graph *apply_changes(const graph *base, const db_result *result, int q, int64_t after,
                            size_t *applied)
{
    int rows = db_rows(result, q);
    size_t room = (size_t)(rows > 0 ? rows : 1);
    logged_change *logged = xcalloc(room, sizeof *logged);
    size_t count = 0;
    for (int row = 0; row < rows; row++) {
        if (db_text(result, q, row, COL_KIND)[0] != 'c') {
            continue;
        }
        int64_t version = db_int64(result, q, row, COL_VERSION);
        if (version <= after) {
            continue; /* the cached graph has it already */
        }
        graph_change change = {.road.route_id = db_int64(result, q, row, COL_ROUTE)};
        if (strcmp(db_text(result, q, row, COL_OP), "delete") == 0) {
            change.op = GRAPH_DELETE;
        } else {
            change.op = GRAPH_UPSERT;
            bool ok = parse_node(db_text(result, q, row, COL_FROM), NULL, &change.road.from) &&
                      parse_node(db_text(result, q, row, COL_TO), NULL, &change.road.to);
            if (!ok) {
                log_event(LOG_ERROR, "road graph change: an endpoint does not parse", NULL);
                continue;
            }
            change.road.distance_m = db_int64(result, q, row, COL_DISTANCE);
            change.road.two_way = db_text(result, q, row, COL_TWO_WAY)[0] == 't';
        }
        logged[count++] = (logged_change){version, change};
    }
    /* The statement reads the log in version order; sorting here makes that not matter. */
    qsort(logged, count, sizeof *logged, compare_versions);
    graph_change *changes = xcalloc(count ? count : 1, sizeof *changes);
    for (size_t i = 0; i < count; i++) {
        changes[i] = logged[i].change;
    }
    free(logged);
    graph *g = graph_apply(base, changes, count);
    free(changes);
    if (g == NULL) {
        mem_exhausted(count * 256); /* the log holds valid roads: only memory can fail */
    }
    *applied = count;
    return g;
}

static graph_snapshot *retained(graph_snapshot *snapshot)
{
    snapshot->refs++;
    return snapshot;
}

graph_snapshot *graph_cache_install(wf_app *app, const db_result *result, int q)
{
    int rows = db_rows(result, q);
    int64_t head = 0, mine = -1;
    bool full = false;
    for (int row = 0; row < rows; row++) {
        char kind = db_text(result, q, row, COL_KIND)[0];
        if (kind == 'h') {
            head = db_int64(result, q, row, COL_HEAD);
            mine = db_int64(result, q, row, COL_VERSION);
        }
        full = full || kind == 'f';
    }
    graph_snapshot *cached = app->graph;
    if (cached != NULL && cached->version == head) {
        return retained(cached); /* another request brought it here meanwhile */
    }
    double started = now_ms();
    size_t count = 0;
    graph *roads = NULL;
    if (full) {
        roads = load_every_road(app, result, q, &count);
    } else if (cached != NULL && cached->version >= mine && cached->version < head) {
        roads = apply_changes(cached->roads, result, q, cached->version, &count);
    } else {
        /* Changes from a version this cache no longer holds: only when the database went
         * back in time (a restore) while they were in flight. The cached graph is what this
         * instance knows; the next request sees the version differ and loads again. */
        if (cached == NULL || cached->version < mine) {
            log_event(LOG_WARN, "road graph changes do not follow the cached graph; ignored", NULL);
        }
        if (cached == NULL) {
            roads = graph_build(NULL, 0);
            if (roads == NULL) {
                mem_exhausted(64);
            }
        } else {
            return retained(cached);
        }
    }
    graph_snapshot *snapshot = xcalloc(1, sizeof *snapshot);
    snapshot->roads = roads;
    snapshot->version = head;
    char version_text[24], roads_text[24], count_text[24], ms_text[24];
    snprintf(version_text, sizeof version_text, "%lld", (long long)head);
    snprintf(roads_text, sizeof roads_text, "%zu", graph_road_count(roads));
    snprintf(count_text, sizeof count_text, "%zu", count);
    snprintf(ms_text, sizeof ms_text, "%.1f", now_ms() - started);
    if (full) {
        log_event(LOG_INFO, "road graph loaded", "kind", "full", "version", version_text, "roads",
                  roads_text, "ms", ms_text, NULL);
    } else {
        log_event(LOG_DEBUG, "road graph loaded", "kind", "changes", "version", version_text,
                  "changes", count_text, "roads", roads_text, "ms", ms_text, NULL);
    }
    /* A newer graph cached while this result was in flight stays, unless the database went
     * back in time (it reports a version below the one this instance asked from). */
    if (cached != NULL && cached->version > head && mine <= head) {
        snapshot->refs = 1;
        return snapshot;
    }
    snapshot->refs = 2; /* the cache and the caller */
    graph_snapshot_release(app->graph);
    app->graph = snapshot;
    return snapshot;
}

/* Preloads in flight: one process serves one app, and this only keeps shutdown from
 * leaving one behind (graph_cache_busy). */
static int preloads_in_flight;

static void preload_read(tx *t, const db_result *result)
{
    graph_snapshot_release(graph_cache_install(tx_app(t), result, 0));
    tx_finish(t);
}

/* Requests waiting for the preload (graph_cache_await_preload), newest first. */
typedef struct preload_waiter {
    void (*fn)(void *arg);
    void *arg;
    struct preload_waiter *next;
} preload_waiter;
static preload_waiter *preload_waiters;

static void preloaded(tx *t, tx_outcome outcome)
{
    preloads_in_flight--;
    if (outcome != TX_OK) {
        log_event(LOG_WARN, "road graph preload failed; requests will load it", "outcome",
                  tx_outcome_name(outcome), NULL);
    }
    if (preloads_in_flight > 0) {
        return;
    }
    /* Oldest first: taken off the list before any runs, so one that waits again (it cannot:
     * nothing is in flight now) would not be run twice. */
    preload_waiter *list = preload_waiters, *reversed = NULL;
    preload_waiters = NULL;
    while (list != NULL) {
        preload_waiter *next = list->next;
        list->next = reversed;
        reversed = list;
        list = next;
    }
    while (reversed != NULL) {
        preload_waiter *next = reversed->next;
        reversed->fn(reversed->arg);
        free(reversed);
        reversed = next;
    }
}

bool graph_cache_loading(const wf_app *app)
{
    return app->graph == NULL && preloads_in_flight > 0;
}

bool graph_cache_await_preload(wf_app *app, void (*fn)(void *arg), void *arg)
{
    if (app->graph != NULL || preloads_in_flight == 0) {
        return false;
    }
    preload_waiter *waiter = xcalloc(1, sizeof *waiter);
    *waiter = (preload_waiter){fn, arg, preload_waiters};
    preload_waiters = waiter;
    return true;
}

void graph_cache_preload(wf_app *app, int64_t deadline_ms)
{
    tx *t = tx_background(app, deadline_ms, preloaded);
    preloads_in_flight++;
    graph_cache_queue(t);
    tx_run(t, TX_READ, preload_read);
}

bool graph_cache_busy(const wf_app *app)
{
    (void)app;
    return preloads_in_flight > 0;
}
