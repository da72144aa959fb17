/* The storage view's sequencing: an organization's storages with their road distances, one
 * page at a time (GET /v1/organizations/{id}/storages), and one storage as the organization
 * sees it (GET /v1/organizations/{id}/storages/{storage_id}). This file decides the rounds:
 * the bounded searches (engine/view_cache.h), the graph snapshot (engine/graph_cache.h), the
 * type's storages as the page's index (core/type_members.h), the unreachable storages by id,
 * starting over on a stale graph. What the client sees is written by the caller
 * (lib/api/storage_view.c) through a view_renderer: the engine hands it the page's buffer,
 * each storage in order, and how the page ended. */
#ifndef WF_ENGINE_VIEW_H
#define WF_ENGINE_VIEW_H

#include "core/view_cursor.h"
#include "db/pool.h"
#include "engine/tx.h"
#include "engine/view_cache.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A page asked for: the filter, at most limit items, after start when has_cursor;
 * with_paths when the renderer writes paths (view_order_path). */
typedef struct {
    view_filter filter;
    int limit;
    bool has_cursor;
    view_position start;
    bool with_paths;
} view_page_request;

/* How a page ended: more follow after `after` (the cursor's position) unless !more; and what
 * the page cost, in the work budget's units (nodes its searches settled, storages it asked
 * the database to examine) and round trips. */
typedef struct {
    bool more;
    view_position after;
    uint64_t nodes_settled, storages_examined;
    int round_trips;
} view_page_end;

/* What the caller writes. Every callback gets the page's buffer and the caller's arg. */
typedef struct {
    /* Starts the page (again, into an emptied buffer, when the page starts over). */
    void (*begin)(void *arg, strbuf *out);
    /* Reads the storages of a data round's query q (ST_VIEW_STORAGES or ST_VIEW_UNREACHABLE:
     * rows grouped by storage, in the order asked for) and returns how many, with *ids their
     * ids in that order (memory the tx owns). */
    size_t (*rows)(void *arg, tx *t, const db_result *result, int q, const int64_t **ids);
    /* Writes the page's item number index: storage k of the last rows() call, distance_m
     * from the organization with order holding its path, or -1 and NULL when unreachable. */
    void (*item)(void *arg, tx *t, strbuf *out, size_t index, size_t k, int64_t distance_m,
                 const view_order *order);
    /* The page is complete: writes its end and replies (or fails). */
    void (*end)(void *arg, tx *t, strbuf *out, const view_page_end *end);
} view_renderer;

/* Answers the request of t with one page of the organization's storages: 404 when the
 * organization does not exist, 422 on an unknown waste_type, else what render writes. render
 * and arg must live as long as t. */
void view_page(tx *t, const view_page_request *request, const view_renderer *render, void *arg);

/* One storage as organization_id sees it: after checking both exist (404), render(arg, t,
 * result, q, distance_m, order, nodes_settled, round_trips) writes and replies — query q of
 * result is the storage's rows (ST_ST_GET), distance_m -1 and order NULL when the
 * organization does not reach it. */
typedef void (*view_storage_render_fn)(void *arg, tx *t, const db_result *result, int q,
                                       int64_t distance_m, const view_order *order,
                                       uint64_t nodes_settled, int round_trips);
void view_storage(tx *t, int64_t organization_id, int64_t storage_id, view_storage_render_fn render,
                  void *arg);

#endif
