/* Which connections make room, and when: the budgets that keep one client from holding
 * the server's slots or memory.
 *   - the idle budget per client address: a client holding more than max_idle_per_client
 *     connections idle (or with a reply nobody reads) for a second or more loses its
 *     oldest one to each new one; and while the server is at its cap (the listener paused,
 *     so newcomers cannot even be seen) every address's idle connections beyond the budget
 *     are closed, oldest first, every 250 ms: one client cannot hold every slot, even one
 *     it took all at once;
 *   - the output budget: when the unsent reply bytes of all connections together exceed
 *     output_budget_bytes, the connections holding the most (those stalled first) close.
 * Every close goes through conn_close (close.c); the cap's pace is the listener's
 * (listener.c arms the idle reclaim event assigned here). */
#include "http/internal.h"

#include "util/log.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A connection counts as idle once nothing happened on it for this long. */
#define IDLE_AFTER_MS 1000

static bool idle(const conn_guard *guard, int64_t now)
{
    return !guard->responding && guard->head.state != HEAD_SCAN_OVERSIZED &&
           now - guard->active_ms >= IDLE_AFTER_MS;
}

/* A reply sits unread: bytes wait and none left for a second. With or without
 * credentials, such a connection holds its slot as an idle one does. */
static bool unread(const conn_guard *guard, int64_t now)
{
    return guard->unsent > 0 && now - guard->drained_ms >= IDLE_AFTER_MS;
}

static bool reclaimable(const conn_guard *guard, int64_t now)
{
    return guard->connection != NULL && (idle(guard, now) || unread(guard, now));
}

/* Since when it has been quiet: the oldest quiet one makes room first. */
static int64_t quiet_since(const conn_guard *guard)
{
    return guard->unsent > 0 ? guard->drained_ms : guard->active_ms;
}

static bool same_client(const conn_guard *a, const conn_guard *b)
{
    return a->identity_len == b->identity_len &&
           memcmp(a->identity, b->identity, a->identity_len) == 0;
}

/* A newcomer from an address over its idle budget: that address's connection idle the
 * longest makes room. */
void reclaim_for_newcomer(conn_guard *newcomer)
{
    http_server *server = newcomer->server;
    int64_t now = clock_ms();
    int count = 0;
    conn_guard *oldest = NULL;
    for (conn_guard *g = server->guards; g != NULL; g = g->next) {
        if (g == newcomer || !same_client(g, newcomer) || !reclaimable(g, now)) {
            continue;
        }
        count++;
        if (oldest == NULL || quiet_since(g) <= quiet_since(oldest)) {
            oldest = g;
        }
    }
    if (count >= server->options.max_idle_per_client && oldest != NULL) {
        /* Frees it (and its guard, through guard_closed) now: not our own callback. */
        conn_close(oldest, CONN_CLOSE_IDLE_NEWER);
    }
}

static int by_client_then_age(const void *left, const void *right)
{
    const conn_guard *a = *(conn_guard *const *)left, *b = *(conn_guard *const *)right;
    size_t len = a->identity_len < b->identity_len ? a->identity_len : b->identity_len;
    int client = memcmp(a->identity, b->identity, len);
    if (client == 0 && a->identity_len != b->identity_len) {
        client = a->identity_len < b->identity_len ? -1 : 1;
    }
    if (client != 0) {
        return client;
    }
    return quiet_since(a) < quiet_since(b) ? -1 : quiet_since(a) > quiet_since(b);
}

/* At the cap: every address keeps at most its budget of idle connections, its oldest idle
 * ones close. Sorting by address makes it n log n in the connections, four times a second
 * and only while the server is full. */
static void reclaim_idle(http_server *server)
{
    int64_t now = clock_ms();
    size_t count = 0;
    for (conn_guard *g = server->guards; g != NULL; g = g->next) {
        count += reclaimable(g, now);
    }
    if (count <= (size_t)server->options.max_idle_per_client) {
        return;
    }
    conn_guard **idle_ones = xcalloc(count, sizeof *idle_ones);
    size_t n = 0;
    for (conn_guard *g = server->guards; g != NULL && n < count; g = g->next) {
        if (reclaimable(g, now)) {
            idle_ones[n++] = g;
        }
    }
    qsort(idle_ones, n, sizeof *idle_ones, by_client_then_age);
    size_t budget = (size_t)server->options.max_idle_per_client;
    int closed = 0;
    char peer[sizeof idle_ones[0]->peer] = "";
    for (size_t start = 0; start < n;) {
        size_t end = start + 1;
        while (end < n && same_client(idle_ones[end], idle_ones[start])) {
            end++;
        }
        if (end - start > budget) {
            snprintf(peer, sizeof peer, "%s", idle_ones[start]->peer);
            for (size_t i = start; i < end - budget; i++) {
                /* Frees it and its guard (guard_closed); the array is not read there again. */
                conn_close(idle_ones[i], CONN_CLOSE_IDLE_AT_CAP);
                closed++;
            }
        }
        start = end;
    }
    free(idle_ones);
    if (closed > 0) {
        char closed_text[16];
        snprintf(closed_text, sizeof closed_text, "%d", closed);
        log_event(LOG_INFO,
                  "at the connection cap: idle or unread connections over their budget closed",
                  "closed", closed_text, "client", peer, NULL);
    }
}

static void idle_reclaim_due(evutil_socket_t fd, short events, void *arg)
{
    http_server *server = arg;
    server->idle_reclaim_armed = false;
    if (server->connections >= server->options.max_connections) {
        reclaim_idle(server);
    }
    conn_update_listener(server); /* re-arms while still full */
}

/* A connection holding unsent bytes, as the output budget ranks them. */
typedef struct {
    conn_guard *guard;
    bool stalled;
    size_t unsent;
} output_holder;

static int by_unsent(const void *left, const void *right)
{
    const output_holder *a = left, *b = right;
    /* Stalled ones first (nobody reads them), then the biggest. */
    if (a->stalled != b->stalled) {
        return a->stalled ? -1 : 1;
    }
    return a->unsent > b->unsent ? -1 : a->unsent < b->unsent;
}

/* Over the budget of unsent bytes: the connections holding the most close until the rest
 * fit in it. */
static void output_budget_due(evutil_socket_t fd, short events, void *arg)
{
    http_server *server = arg;
    server->output_check_armed = false;
    if (server->unsent_bytes <= server->options.output_budget_bytes) {
        return;
    }
    size_t count = 0;
    for (conn_guard *g = server->guards; g != NULL; g = g->next) {
        count += g->connection != NULL && g->unsent > 0;
    }
    output_holder *holders = xcalloc(count > 0 ? count : 1, sizeof *holders);
    size_t n = 0;
    int64_t now = clock_ms();
    for (conn_guard *g = server->guards; g != NULL && n < count; g = g->next) {
        if (g->connection != NULL && g->unsent > 0) {
            holders[n++] = (output_holder){g, unread(g, now), g->unsent};
        }
    }
    qsort(holders, n, sizeof *holders, by_unsent);
    size_t before = server->unsent_bytes;
    int closed = 0;
    char biggest[sizeof holders[0].guard->peer] = "";
    for (size_t i = 0; i < n && server->unsent_bytes > server->options.output_budget_bytes; i++) {
        if (closed == 0) {
            snprintf(biggest, sizeof biggest, "%s", holders[i].guard->peer);
        }
        /* Frees it and its guard (guard_closed), which takes its bytes off the total; the
         * array is not read there again. */
        conn_close(holders[i].guard, CONN_CLOSE_OUTPUT_BUDGET);
        closed++;
    }
    free(holders);
    char closed_text[16], before_text[24], after_text[24], budget_text[24];
    snprintf(closed_text, sizeof closed_text, "%d", closed);
    snprintf(before_text, sizeof before_text, "%zu", before);
    snprintf(after_text, sizeof after_text, "%zu", server->unsent_bytes);
    snprintf(budget_text, sizeof budget_text, "%zu", server->options.output_budget_bytes);
    log_event(LOG_WARN, "unsent replies over the output budget: connections closed", "reason",
              conn_close_reason_name(CONN_CLOSE_OUTPUT_BUDGET), "closed", closed_text, "client",
              biggest, "unsent_bytes", before_text, "now", after_text, "budget", budget_text, NULL);
}

void reclaim_init(http_server *server)
{
    evtimer_assign(&server->idle_reclaim, server->base, idle_reclaim_due, server);
    event_assign(&server->output_check, server->base, -1, 0, output_budget_due, server);
}

void reclaim_free(http_server *server)
{
    evtimer_del(&server->idle_reclaim);
    event_del(&server->output_check);
}
