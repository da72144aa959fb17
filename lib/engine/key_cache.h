/* This instance's copy of the API keys, so checking a key costs no database round trip.
 * Every change to api_keys bumps api_keys_state.version (a trigger); the cache asks for
 * the version every interval and reloads every key when it moved, so a revoked or
 * expired key is refused on every instance within about one interval. A key this
 * instance has not seen yet (created a moment ago elsewhere) triggers one refresh, shared
 * by every request waiting for it. */
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
/* Stops the timer; a refresh in flight still completes. */
void key_cache_stop(key_cache *cache);
bool key_cache_busy(const key_cache *cache);
void key_cache_free(key_cache *cache);

/* The key with this id as of the last refresh, or NULL. Valid until the next refresh: use
 * it within the calling callback. */
const key_entry *key_cache_find(const key_cache *cache, int64_t id);

/* A key the cache does not know: refreshes now (or joins the refresh in flight) and calls
 * done(arg) once, later, from the loop, after which key_cache_find answers from fresh
 * data. Returns false, and never calls done, when the cache was refreshed so recently
 * that the key cannot be new. */
bool key_cache_refresh(key_cache *cache, void (*done)(void *arg), void *arg);

#endif
