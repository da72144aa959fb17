/* This instance's copy of the API keys, so checking a key costs no database round trip.
 * Every change to api_keys bumps api_keys_state.version and announces itself (NOTIFY
 * wasteflow_keys; triggers, so psql edits and cascades count too). The control
 * connection LISTENs: an announcement refreshes the cache at once, so a revoked key is
 * refused on every instance within milliseconds; the cache also asks for the version every
 * interval, in case an announcement was lost. A refresh asks for the version only, and reads
 * every key again only when it changed; refreshes start at least 100 ms apart, whatever
 * asks for them, so neither a flood of announcements nor one of requests costs more.
 *
 * An id the cache does not know is refused at once, without the database, unless it is one
 * of the few just above the newest key (a key created a moment ago on another instance,
 * whose announcement has not arrived yet): a request naming such an id waits for one
 * refresh, shared by every request waiting then, after which the id, when still absent, is
 * remembered as such until the keys change. */
#ifndef WF_ENGINE_KEY_CACHE_H
#define WF_ENGINE_KEY_CACHE_H

#include "auth/api_key.h"
#include "auth/principal.h"
#include "engine/app.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct key_cache key_cache;

typedef struct {
    int64_t id;
    uint8_t hash[API_KEY_HASH_BYTES];
    auth_role role;
    int64_t organization_id;
    int64_t storage_id;
    int64_t expires_at; /* Unix seconds, 0 when it never expires */
    bool revoked;
} key_entry;

/* Starts refreshing every interval_ms on the app's pool. */
key_cache *key_cache_new(wf_app *app, int interval_ms);
/* A change to the keys was announced (NOTIFY wasteflow_keys) or may have been missed: refresh
 * as soon as possible. NULL is a no-op. */
void key_cache_kick(key_cache *cache);
/* Stops the timer; a refresh in flight still completes. */
void key_cache_stop(key_cache *cache);
bool key_cache_busy(const key_cache *cache);
void key_cache_free(key_cache *cache);

/* The key with this id as of the last refresh, or NULL. Valid until the next refresh: use
 * it within the calling callback. */
const key_entry *key_cache_find(const key_cache *cache, int64_t id);

/* This instance revoked key id (committed): refuse it here at once, before the next
 * refresh (other instances follow within a refresh). Unknown ids are ignored. */
void key_cache_revoked(key_cache *cache, int64_t id);

/* Whether id, which the cache does not know, may name a key created since the last
 * refresh, so that a request naming it should wait for key_cache_refresh: one of the next
 * few ids above the newest key (or any id before the first load) that no refresh since the
 * keys last changed has found absent. False for every other id: answer it at once. */
bool key_cache_may_be_new(const key_cache *cache, int64_t id) __attribute__((warn_unused_result));

/* A key the cache does not know (id, when key_cache_may_be_new says so): refreshes (or joins
 * the refresh in flight, or the next one) and calls done(arg) once, later, from the loop,
 * after which key_cache_find answers from fresh data: the refresh it waits for starts after
 * this call, so a key committed before the request is always seen. Concurrent callers share
 * one refresh; one that finds no key with id remembers it (key_cache_may_be_new). Returns
 * false, and never calls done, once the cache is stopped; a stop calls the done of those
 * still waiting for a refresh to start. */
bool key_cache_refresh(key_cache *cache, int64_t id, void (*done)(void *arg), void *arg);

#endif
