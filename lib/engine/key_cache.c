/* The API key cache (see key_cache.h): a sorted array of keys, replaced whole on a reload,
 * a queue of requests waiting for a refresh, and the ids found absent since the keys last
 * changed. */
#include "engine/key_cache.h"

#include "engine/statements.h"
#include "engine/tx.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/metrics.h"

#include <event2/event_struct.h>

#include <stdlib.h>
#include <string.h>

/* Refreshes start at least this far apart, whatever asks for them (announcements, requests
 * with new key ids): a flood of NOTIFY wasteflow_keys from any session, or of requests,
 * costs the database at most 1000 / KEY_REFRESH_GAP_MS round trips a second. Short enough
 * that a revocation still reaches every instance well within a second. */
#define KEY_REFRESH_GAP_MS 100
/* Ids above the newest key that a request may name as a key made a moment ago on another
 * instance (ids come from a sequence: a key made since the last refresh has one of the next
 * few; a failed insert skips one). Anything above is refused without the database. */
#define KEY_NEW_ID_WINDOW 32

typedef struct waiter {
    void (*done)(void *arg);
    void *arg;
    int64_t id; /* the key id the request names */
    struct waiter *next;
} waiter;

struct key_cache {
    wf_app *app;
    struct event timer;
    int interval_ms;
    bool stopped;
    bool refreshing;
    bool again;         /* a change was announced while a refresh was in flight */
    int64_t version;    /* -1 before the first load */
    int64_t started_ms; /* when the last refresh started (clock_ms) */
    key_entry *keys;    /* by id */
    size_t count;
    int64_t max_id; /* the newest key's id, 0 when there is none */
    /* Ids of the new-id window that a refresh answered "no such key" for, since the keys
     * last changed: a request naming one again is refused at once. At most the window. */
    int64_t absent[KEY_NEW_ID_WINDOW];
    size_t absent_count;
    waiter *answering; /* waiting for the refresh in flight */
    waiter *queued;    /* waiting for the next one (they came after it started) */
};

static void schedule(key_cache *cache, int ms)
{
    if (!cache->stopped) {
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        evtimer_add(&cache->timer, &tv);
    }
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* bytea's hex output, "\x" and two digits a byte. */
static bool parse_hash(const char *text, uint8_t hash[API_KEY_HASH_BYTES])
{
    if (text == NULL || strncmp(text, "\\x", 2) != 0 ||
        strlen(text) != 2 + 2 * API_KEY_HASH_BYTES) {
        return false;
    }
    for (size_t i = 0; i < API_KEY_HASH_BYTES; i++) {
        int high = hex_value(text[2 + 2 * i]), low = hex_value(text[3 + 2 * i]);
        if (high < 0 || low < 0) {
            return false;
        }
        hash[i] = (uint8_t)(high << 4 | low);
    }
    return true;
}

static void snapshot_read(tx *t, const db_result *result)
{
    key_cache *cache = tx_user(t);
    int rows = db_rows(result, 0);
    int64_t version = rows > 0 ? db_int64(result, 0, 0, 0) : cache->version;
    if (version != cache->version) {
        key_entry *keys = xcalloc(rows > 0 ? (size_t)rows : 1, sizeof *keys);
        size_t count = 0;
        for (int row = 0; row < rows; row++) {
            if (db_is_null(result, 0, row, 1)) {
                continue; /* the LEFT JOIN's row when there is no key at all */
            }
            key_entry *k = &keys[count];
            k->id = db_int64(result, 0, row, 1);
            k->role = auth_role_parse(db_text(result, 0, row, 3));
            k->organization_id = db_int64(result, 0, row, 4);
            k->storage_id = db_int64(result, 0, row, 5);
            k->expires_at = db_int64(result, 0, row, 6);
            k->revoked = db_text(result, 0, row, 7)[0] == 't';
            /* The schema only admits well-formed rows; skip one all the same if not. */
            count += k->role != 0 && parse_hash(db_text(result, 0, row, 2), k->hash);
        }
        free(cache->keys);
        cache->keys = keys;
        cache->count = count;
        cache->version = version;
        cache->max_id = count > 0 ? keys[count - 1].id : 0;
        cache->absent_count = 0; /* keys changed: an id absent before may exist now */
    }
    tx_finish(t);
}

static void refresh(key_cache *cache);

static void wake(waiter *w)
{
    while (w != NULL) {
        waiter *next = w->next;
        w->done(w->arg);
        free(w);
        w = next;
    }
}

/* An id of the new-id window that a refresh found no key for. */
static void remember_absent(key_cache *cache, int64_t id)
{
    for (size_t i = 0; i < cache->absent_count; i++) {
        if (cache->absent[i] == id) {
            return;
        }
    }
    if (cache->absent_count < KEY_NEW_ID_WINDOW) {
        cache->absent[cache->absent_count++] = id;
    }
}

static void refreshed(tx *t, tx_outcome outcome)
{
    key_cache *cache = tx_user(t);
    cache->refreshing = false;
    /* Whoever waited for this refresh looks the key up again, whatever the outcome. */
    waiter *answered = cache->answering;
    cache->answering = NULL;
    /* A refresh that read the keys answers for every id it was asked about; a failed one
     * (which keeps the old keys) for none. */
    for (waiter *w = outcome == TX_OK ? answered : NULL; w != NULL; w = w->next) {
        if (key_cache_find(cache, w->id) == NULL && key_cache_may_be_new(cache, w->id)) {
            remember_absent(cache, w->id);
        }
    }
    wake(answered);
    if (cache->queued != NULL || cache->again) {
        /* Asked for, or announced, while this one was in flight: it may predate the key. */
        cache->again = false;
        refresh(cache);
        return;
    }
    schedule(cache, cache->interval_ms);
}

/* Starts a refresh unless one is in flight (whose completion starts the next one for the
 * requests queued meanwhile), or, within KEY_REFRESH_GAP_MS of the last start, sets the
 * timer for the end of the gap. */
static void refresh(key_cache *cache)
{
    if (cache->refreshing) {
        return;
    }
    int64_t wait_ms = cache->started_ms + KEY_REFRESH_GAP_MS - clock_ms();
    if (wait_ms > 0 && cache->version >= 0) {
        evtimer_del(&cache->timer);
        schedule(cache, (int)wait_ms);
        return;
    }
    cache->refreshing = true;
    cache->started_ms = clock_ms();
    metrics_count_key_refresh();
    cache->answering = cache->queued;
    cache->queued = NULL;
    evtimer_del(&cache->timer);
    tx *t = tx_background(cache->app, clock_ms() + cache->app->cfg->request_timeout_ms, refreshed);
    tx_set_user(t, cache);
    tx_use_control(t);
    tx_q(t, ST_KEYS_SNAPSHOT, tx_int(t, cache->version));
    tx_run(t, TX_READ, snapshot_read);
}

static void tick(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    key_cache *cache = arg;
    if (!cache->stopped) {
        refresh(cache);
    }
}

key_cache *key_cache_new(wf_app *app, int interval_ms)
{
    key_cache *cache = xcalloc(1, sizeof *cache);
    cache->app = app;
    cache->interval_ms = interval_ms;
    cache->version = -1;
    evtimer_assign(&cache->timer, app->base, tick, cache);
    schedule(cache, 0);
    return cache;
}

void key_cache_kick(key_cache *cache)
{
    if (cache == NULL || cache->stopped) {
        return;
    }
    if (cache->refreshing) {
        cache->again = true;
        return;
    }
    /* From the timer, not from here: the announcement arrives in the control connection's
     * own callback, which the refresh would use. At the end of the gap between refreshes
     * when one started less than KEY_REFRESH_GAP_MS ago. */
    int64_t wait_ms = cache->started_ms + KEY_REFRESH_GAP_MS - clock_ms();
    evtimer_del(&cache->timer);
    schedule(cache, wait_ms > 0 && cache->version >= 0 ? (int)wait_ms : 0);
}

void key_cache_stop(key_cache *cache)
{
    if (cache != NULL) {
        cache->stopped = true;
        evtimer_del(&cache->timer);
        /* Requests waiting out the gap between refreshes are answered from the keys as they
         * are, not left behind. */
        waiter *queued = cache->queued;
        cache->queued = NULL;
        wake(queued);
    }
}

bool key_cache_busy(const key_cache *cache)
{
    return cache != NULL && cache->refreshing;
}

static void drop(waiter *w)
{
    while (w != NULL) {
        waiter *next = w->next;
        free(w);
        w = next;
    }
}

void key_cache_free(key_cache *cache)
{
    if (cache == NULL) {
        return;
    }
    evtimer_del(&cache->timer);
    drop(cache->answering);
    drop(cache->queued);
    free(cache->keys);
    free(cache);
}

const key_entry *key_cache_find(const key_cache *cache, int64_t id)
{
    size_t low = 0, high = cache->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (cache->keys[mid].id == id) {
            return &cache->keys[mid];
        }
        if (cache->keys[mid].id < id) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    return NULL;
}

void key_cache_revoked(key_cache *cache, int64_t id)
{
    key_entry *key = (key_entry *)key_cache_find(cache, id);
    if (key != NULL) {
        key->revoked = true;
    }
}

bool key_cache_may_be_new(const key_cache *cache, int64_t id)
{
    if (cache->version < 0) {
        return true; /* not loaded yet: any id may be a key */
    }
    if (id <= cache->max_id || id - cache->max_id > KEY_NEW_ID_WINDOW) {
        return false;
    }
    for (size_t i = 0; i < cache->absent_count; i++) {
        if (cache->absent[i] == id) {
            return false;
        }
    }
    return true;
}

bool key_cache_refresh(key_cache *cache, int64_t id, void (*done)(void *arg), void *arg)
{
    if (cache->stopped) {
        return false;
    }
    waiter *w = xcalloc(1, sizeof *w);
    w->done = done;
    w->arg = arg;
    w->id = id;
    w->next = cache->queued;
    cache->queued = w;
    refresh(cache);
    return true;
}
