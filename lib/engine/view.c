/* The storage view's sequencing (engine/view.h): every storage (optionally only those
 * accepting a type) in the organization's order — reachable first by (distance, id), then
 * the unreachable by id — one page at a time, so a page costs what it shows, not the world:
 *
 *   reachable  a bounded search (engine/view_cache.h: resumed from where the last page
 *              stopped, or re-expanded up to the cursor) yields the next storages in order;
 *              one statement reads the rows of the first limit + 1 of them that pass the
 *              filter (ST_VIEW_STORAGES). When the filter rejects some, the search reads
 *              ahead in doubling batches (at most VIEW_BATCH_MAX ids a batch).
 *   unreachable  by id, in the ranges between the ids the organization reaches (its cached
 *              reachable set): ST_VIEW_UNREACHABLE, ranges sized to about a page.
 * At most VIEW_MAX_ROUNDS data rounds a page: a page the filter thins out that far ends
 * early, with fewer than limit items and a next_cursor (only a null next_cursor ends the
 * list). The first round also checks the type and the organization and reads the graph
 * version (ST_VIEW_HEAD), optimistically searching the cached graph; when that graph is
 * stale the round's rows are dropped and the page starts over on the current one.
 *
 * A type filter's index: unless the type is known to be common (engine/view_cache.h), round
 * 1 reads instead the storages that accept it, up to VIEW_MEMBERS_MAX (ST_VIEW_TYPE_MEMBERS),
 * and the page begins after it. With that list (core/type_members.h) the search passes on
 * only members and stops once it has yielded every member it can reach, and the
 * unreachable part is exactly the members left, read by id; no member reachable: no
 * search; no member at all: an empty page from round 1.
 *
 * Cost: each page counts the nodes its searches settled and the storages it asked the
 * database to examine; the caller charges them (view_page_end). */
#include "engine/view.h"

#include "core/type_members.h"
#include "engine/graph_cache.h"
#include "engine/statements.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

/* Data rounds a page may take (each one statement); see the header comment. */
#define VIEW_MAX_ROUNDS 8
/* How many times the page a filtered page's first batch reads ahead. */
#define FILTERED_AHEAD 4
/* The most storage ids one read-ahead batch sends. */
#define VIEW_BATCH_MAX 16384
/* A type at most this many storages accept is read whole in round 1, as the page's index
 * (core/type_members.h); a commoner one is filtered by the database batch by batch, which
 * finds a page in few rounds when one storage in a few accepts the type. */
#define VIEW_MEMBERS_MAX 512

typedef struct {
    view_filter filter;
    int limit;
    const view_renderer *render;
    void *render_arg;
    /* Round 1 reads the type's storages (ST_VIEW_TYPE_MEMBERS); by_members when there were
     * at most VIEW_MEMBERS_MAX: the search then passes on only members, stops once it has
     * yielded members_target of them (every member it can reach), and the unreachable
     * part is exactly the members it does not reach. */
    bool read_members;
    bool by_members;
    /* The members came from this instance's cache (view_cache_members) at members_version:
     * round 1's head says whether they are current (types_version). */
    bool members_cached;
    int64_t members_version, types_version;
    /* Starting over: the current snapshot when it was cached already (else the round that
     * reads the members also syncs the graph). */
    graph_snapshot *restart_snapshot;
    type_members members;
    bool members_counted; /* target and found are set for the current order */
    size_t members_target, members_found;
    /* This request's search yielded every member with a road: the unreachable part is the
     * members without one (no reachable set needed). Or it ran to its end: the members it
     * reached are members_reached (reached_known), the rest are unreachable. */
    bool members_all_found;
    bool reached_known;
    type_members members_reached;
    /* What the request cost so far, in the work budget's units: nodes its searches settled
     * and storages it asked the database to examine. settled_base: of the current order's
     * settled nodes, those an earlier request paid for (a resumed order). */
    uint64_t nodes_settled, storages_examined;
    size_t settled_base;
    /* How many storages there are (round 1's head): a search that reached as many leaves
     * nothing unreachable. -1 until round 1 has answered. */
    int64_t storage_total;
    /* Round 1's results: the head first, then the type's storages when read_members, then
     * the first data round or the graph's sync (first_data_q), then the type check. */
    int first_data_q;
    int round_trips;
    bool has_cursor;     /* the request's cursor (the position it names is `start`) */
    bool with_paths;     /* the renderer writes paths: the order needs its search */
    view_position start; /* the request's position, kept to start over on a stale graph */
    view_position at;    /* the last position examined so far */
    graph_snapshot *snapshot;
    view_order *order; /* the reachable phase's order, while it runs */
    strbuf out;
    size_t items;
    int rounds;
    bool finished; /* the list has nothing after `at` */
    bool queued;   /* round 1 carries a data statement */
    bool full;     /* the page holds limit items and more follow */
    /* The round in flight: reachable, the ids sent (in order) and their distances; or
     * unreachable, the end of the last range sent. */
    int64_t *batch_ids, *batch_distances;
    size_t batch_count, batch_goal;
    int64_t ranges_end;
    size_t range_budget;
} view_state;

static void state_free(void *arg)
{
    view_state *view = arg;
    view_order_free(view->order);
    graph_snapshot_release(view->snapshot);
    graph_snapshot_release(view->restart_snapshot);
    strbuf_free(&view->out);
}

static size_t page_need(const view_state *view)
{
    return (size_t)view->limit + 1 - view->items;
}

/* Counts what the current order's search settled since it was last counted. */
static void count_search(view_state *view)
{
    if (view->order != NULL) {
        size_t settled = view_order_settled(view->order);
        view->nodes_settled += settled - view->settled_base;
        view->settled_base = settled;
    }
}

/* The organization's reachable set (view_cache_reachable), counting the whole search it
 * takes when this instance has not cached it. */
static const int64_t *reachable_set(tx *t, view_state *view, size_t *count, bool *owned)
{
    view_cache *views = tx_app(t)->views;
    if (view_cache_reachable_peek(views, view->snapshot, view->filter.organization_id, count) ==
        NULL) {
        view->nodes_settled += graph_node_count(view->snapshot->roads);
    }
    return view_cache_reachable(views, view->snapshot, view->filter.organization_id, count, owned);
}

static const char *id_array(tx *t, const int64_t *ids, size_t count)
{
    strbuf text = {0};
    strbuf_puts(&text, "{");
    for (size_t i = 0; i < count; i++) {
        strbuf_puts(&text, i ? "," : "");
        strbuf_int(&text, ids[i]);
    }
    strbuf_puts(&text, "}");
    const char *copy = tx_text(t, text.data != NULL ? text.data : "{}");
    strbuf_free(&text);
    return copy;
}

/* The page is complete: its search is kept for the next page (when that one resumes it),
 * and the caller writes the end. */
static void reply_page(tx *t)
{
    view_state *view = tx_user(t);
    bool more = !view->finished;
    count_search(view);
    if (view->order != NULL) {
        if (more && !view->at.unreachable) {
            view_order_put(tx_app(t)->views, view->order, &view->at);
        } else {
            view_order_end(tx_app(t)->views, view->order);
        }
        view->order = NULL;
    }
    view_page_end end = {more, view->at, view->nodes_settled, view->storages_examined,
                         view->round_trips};
    view->render->end(view->render_arg, t, &view->out, &end);
}

/* Queues the unreachable phase's next statement: the ranges of ids after `at` that hold no
 * reachable storage, up to about range_budget candidate rows. */
static void queue_unreachable(tx *t, view_state *view)
{
    size_t need = page_need(view);
    size_t budget = view->range_budget;
    size_t count;
    bool owned;
    const int64_t *reachable = reachable_set(t, view, &count, &owned);
    int64_t lo = (view->at.unreachable ? view->at.storage_id : 0) + 1;
    /* The first reachable id >= lo. */
    size_t first = 0, last = count;
    while (first < last) {
        size_t mid = first + (last - first) / 2;
        if (reachable[mid] < lo) {
            first = mid + 1;
        } else {
            last = mid;
        }
    }
    strbuf los = {0}, his = {0}, ns = {0};
    strbuf_puts(&los, "{");
    strbuf_puts(&his, "{");
    strbuf_puts(&ns, "{");
    size_t ranges = 0, rows = 0;
    int64_t hi = INT64_MAX;
    for (size_t i = first; rows < budget; i++) {
        hi = i < count ? reachable[i] - 1 : INT64_MAX;
        if (hi >= lo) {
            uint64_t width = (uint64_t)(hi - lo) + 1;
            size_t n = width < need ? (size_t)width : need;
            strbuf_puts(&los, ranges ? "," : "");
            strbuf_int(&los, lo);
            strbuf_puts(&his, ranges ? "," : "");
            strbuf_int(&his, hi);
            strbuf_puts(&ns, ranges ? "," : "");
            strbuf_int(&ns, (int64_t)n);
            ranges++;
            rows += n;
        }
        if (i >= count) {
            break;
        }
        lo = reachable[i] + 1;
    }
    strbuf_puts(&los, "}");
    strbuf_puts(&his, "}");
    strbuf_puts(&ns, "}");
    view->ranges_end = hi;
    view->storages_examined += rows;
    tx_q(t, ST_VIEW_UNREACHABLE, tx_text(t, los.data), tx_text(t, his.data), tx_text(t, ns.data),
         view->filter.waste_type, tx_bool(view->filter.has_room), tx_int(t, (int64_t)need));
    strbuf_free(&los);
    strbuf_free(&his);
    strbuf_free(&ns);
    if (owned) {
        free((void *)reachable);
    }
}

/* How many members a search from the organization can yield: those it reaches when this
 * instance has the organization's reachable set cached, else every member with a road. */
static size_t members_target(tx *t, view_state *view)
{
    size_t reachable_count;
    const int64_t *reachable = view_cache_reachable_peek(
        tx_app(t)->views, view->snapshot, view->filter.organization_id, &reachable_count);
    return type_members_reachable(&view->members, view->snapshot->roads, reachable,
                                  reachable_count);
}

/* by_members: the order's target, and the members its search has settled so far (those it
 * gave back for later included), once per order taken. */
static void count_members(tx *t, view_state *view)
{
    if (view->members_counted) {
        return;
    }
    view->members_target = members_target(t, view);
    view->members_found = 0;
    for (size_t i = 0; i < view->members.count; i++) {
        view->members_found += view_order_distance(view->order, view->members.ids[i]) >= 0;
    }
    view->members_counted = true;
}

/* by_members: the next members in the order, up to goal, into the batch. Stops when the
 * search has yielded every member it can: what is left of the graph holds none. */
static void fill_member_batch(tx *t, view_state *view, size_t goal)
{
    count_members(t, view);
    while (view->batch_count < goal) {
        bool fresh = view_order_ahead(view->order) == 0;
        if (fresh && view->members_found >= view->members_target) {
            view->members_all_found =
                view->members_target ==
                type_members_reachable(&view->members, view->snapshot->roads, NULL, 0);
            return;
        }
        int64_t id, distance;
        if (!view_order_next(view->order, &id, &distance)) {
            return;
        }
        if (!type_members_has(&view->members, id)) {
            continue;
        }
        view->members_found += fresh;
        view->batch_ids[view->batch_count] = id;
        view->batch_distances[view->batch_count] = distance;
        view->batch_count++;
    }
}

/* by_members, after the search ran to its end: which members it reached, so the
 * unreachable part needs no reachable set. */
static void note_reached_members(tx *t, view_state *view)
{
    int64_t *ids = TX_ARRAY(t, int64_t, view->members.count ? view->members.count : 1);
    size_t count = 0;
    for (size_t i = 0; i < view->members.count; i++) {
        if (view_order_distance(view->order, view->members.ids[i]) >= 0) {
            ids[count++] = view->members.ids[i];
        }
    }
    view->members_reached = (type_members){ids, count};
    view->reached_known = true;
}

/* by_members, the unreachable part: the members after `at` the organization does not
 * reach, all in one statement (there are at most VIEW_MEMBERS_MAX); false when there are
 * none (the list is complete). */
static bool queue_unreachable_members(tx *t, view_state *view)
{
    const graph *roads = view->snapshot->roads;
    size_t reachable_count = 0;
    bool owned = false;
    const int64_t *reachable = NULL;
    int64_t after = view->at.unreachable ? view->at.storage_id : 0;
    size_t count;
    int64_t *ids;
    if (view->members_all_found || !type_members_any_in_graph(&view->members, roads)) {
        count = type_members_roadless(&view->members, roads, after, NULL, 0);
        ids = TX_ARRAY(t, int64_t, count ? count : 1);
        count = type_members_roadless(&view->members, roads, after, ids, count);
    } else {
        if (view->reached_known) {
            reachable = view->members_reached.ids;
            reachable_count = view->members_reached.count;
        } else {
            reachable = reachable_set(t, view, &reachable_count, &owned);
        }
        count = type_members_unreached(&view->members, roads, after, reachable, reachable_count,
                                       NULL, 0);
        ids = TX_ARRAY(t, int64_t, count ? count : 1);
        count = type_members_unreached(&view->members, roads, after, reachable, reachable_count,
                                       ids, count);
    }
    if (owned) {
        free((void *)reachable);
    }
    if (count == 0) {
        view->finished = true;
        return false;
    }
    view->ranges_end = INT64_MAX; /* every candidate is in this statement */
    view->storages_examined += count;
    tx_q(t, ST_VIEW_STORAGES, id_array(t, ids, count), view->filter.waste_type,
         tx_bool(view->filter.has_room), tx_int(t, (int64_t)page_need(view)));
    return true;
}

/* Queues the next data statement; false when the list is already complete (nothing to
 * read: reply). */
static bool queue_round(tx *t, view_state *view)
{
    size_t need = page_need(view);
    if (!view->at.unreachable && view->by_members && view->order == NULL &&
        members_target(t, view) == 0) {
        /* No member is reachable: no search at all (a type no storage accepts costs the
         * first round only). */
        if (view->filter.reachable_only) {
            view->finished = true;
            return false;
        }
        view->at = (view_position){true, 0, 0};
    }
    if (!view->at.unreachable) {
        if (view->order == NULL) {
            view->members_counted = false;
            bool resumed;
            view->order =
                view_order_take(tx_app(t)->views, view->snapshot, view->filter.organization_id,
                                view->has_cursor ? &view->start : NULL, view->with_paths, &resumed);
            view->settled_base = resumed ? view_order_settled(view->order) : 0;
        }
        /* A filter rejects storages: a first batch of FILTERED_AHEAD times the page
         * usually finds the page in one round (a storage accepts one type of a few), and
         * one that rejected storages last round will likely go on rejecting them, so the
         * batch doubles each time (bounded) and the rounds stay few. */
        bool filtered =
            (view->filter.waste_type != NULL && !view->by_members) || view->filter.has_room;
        size_t first = filtered ? need * FILTERED_AHEAD : need;
        size_t goal = view->batch_goal == 0 ? first : view->batch_goal * 2;
        goal = goal < need ? need : goal > VIEW_BATCH_MAX ? VIEW_BATCH_MAX : goal;
        view->batch_goal = goal;
        view->batch_ids = TX_ARRAY(t, int64_t, goal);
        view->batch_distances = TX_ARRAY(t, int64_t, goal);
        view->batch_count = 0;
        if (view->by_members) {
            fill_member_batch(t, view, goal);
        } else {
            while (view->batch_count < goal &&
                   view_order_next(view->order, &view->batch_ids[view->batch_count],
                                   &view->batch_distances[view->batch_count])) {
                view->batch_count++;
            }
        }
        if (view->batch_count > 0) {
            view->storages_examined += view->batch_count;
            tx_q(t, ST_VIEW_STORAGES, id_array(t, view->batch_ids, view->batch_count),
                 view->filter.waste_type, tx_bool(view->filter.has_room), tx_int(t, (int64_t)need));
            return true;
        }
        /* Every reachable storage seen: on to the unreachable, unless left out or there are
         * none (the search reached every storage there is: no round trip to learn that). */
        count_search(view);
        if (view->by_members && !view->members_all_found) {
            note_reached_members(t, view);
        }
        bool reached_all = view->storage_total >= 0 &&
                           (int64_t)view_order_storages_found(view->order) >= view->storage_total;
        view_order_end(tx_app(t)->views, view->order);
        view->order = NULL;
        if (view->filter.reachable_only || (reached_all && !view->by_members)) {
            view->finished = true;
            return false;
        }
        view->at = (view_position){true, 0, 0};
    }
    if (view->by_members) {
        return queue_unreachable_members(t, view);
    }
    if (view->range_budget == 0) {
        view->range_budget = need;
    } else if (view->range_budget < VIEW_BATCH_MAX) {
        view->range_budget *= 2;
    }
    queue_unreachable(t, view);
    return true;
}

/* Reads a data round's rows (query q) into the page. */
static void take_rows(tx *t, view_state *view, const db_result *result, int q)
{
    const view_renderer *render = view->render;
    const int64_t *ids;
    size_t count = render->rows(view->render_arg, t, result, q, &ids);
    size_t need = page_need(view);
    if (!view->at.unreachable) {
        size_t j = 0;
        for (size_t k = 0; k < count; k++) {
            while (j < view->batch_count && view->batch_ids[j] != ids[k]) {
                j++;
            }
            if (j == view->batch_count) {
                break; /* not one we asked for: cannot happen */
            }
            if (view->items == (size_t)view->limit) {
                /* The (limit + 1)th: the page is full. It and the rest of the batch come
                 * first on the next page. */
                view_order_unread(view->order, &view->batch_ids[j], &view->batch_distances[j],
                                  view->batch_count - j);
                view->full = true;
                return;
            }
            render->item(view->render_arg, t, &view->out, view->items++, k,
                         view->batch_distances[j], view->order);
            view->at = (view_position){false, view->batch_distances[j], ids[k]};
            j++;
        }
        /* Fewer than asked: every id of the batch was examined. */
        if (count < need && view->batch_count > 0) {
            view->at = (view_position){false, view->batch_distances[view->batch_count - 1],
                                       view->batch_ids[view->batch_count - 1]};
        }
        return;
    }
    for (size_t k = 0; k < count; k++) {
        if (view->items == (size_t)view->limit) {
            view->full = true;
            return;
        }
        render->item(view->render_arg, t, &view->out, view->items++, k, -1, NULL);
        view->at = (view_position){true, 0, ids[k]};
    }
    if (count < need) {
        /* Every range was exhausted. */
        view->at = (view_position){true, 0, view->ranges_end};
        if (view->ranges_end == INT64_MAX) {
            view->finished = true;
        }
    }
}

static void on_rows(tx *t, const db_result *result);

/* After a data round: reply, or go on with another. */
static void next_round(tx *t, view_state *view)
{
    if (view->full || view->finished || ++view->rounds >= VIEW_MAX_ROUNDS ||
        !queue_round(t, view)) {
        reply_page(t);
        return;
    }
    view->round_trips++;
    tx_next(t, on_rows);
}

static void on_rows(tx *t, const db_result *result)
{
    view_state *view = tx_user(t);
    take_rows(t, view, result, 0);
    next_round(t, view);
}

/* Begins the page on view->snapshot: queues its first data round; false when there is
 * nothing to read. */
static bool begin_page(tx *t, view_state *view)
{
    view->at = view->has_cursor ? view->start : (view_position){false, -1, 0};
    return queue_round(t, view);
}

static void start_on(tx *t, view_state *view, graph_snapshot *snapshot)
{
    view->snapshot = snapshot;
    if (!begin_page(t, view)) {
        reply_page(t);
        return;
    }
    view->round_trips++;
    tx_next(t, on_rows);
}

/* The graph was synced (query q): begin on it. */
static void on_synced_at(tx *t, const db_result *result, int q)
{
    view_state *view = tx_user(t);
    start_on(t, view, graph_cache_install(tx_app(t), result, q));
}

/* Round 1's head (query 0): the organization exists; notes how many storages there are. */
static bool organization_exists(tx *t, const db_result *result)
{
    if (db_text(result, 0, 0, 1)[0] != 't') {
        tx_fail(t, PROBLEM_NOT_FOUND, "Organization not found.");
        return false;
    }
    view_state *view = tx_user(t);
    view->storage_total = db_is_null(result, 0, 0, 2) ? -1 : db_int64(result, 0, 0, 2);
    view->types_version = db_is_null(result, 0, 0, 3) ? -1 : db_int64(result, 0, 0, 3);
    return true;
}

/* The type members read by query q (when asked for): the page's index when the type is
 * rare, kept for the next views at the version round 1's head read (read before them, so
 * never newer than they are), else a note that it is common (the next views of it skip the
 * read). */
static void take_members_at(tx *t, view_state *view, const db_result *result, int q)
{
    if (!view->read_members) {
        return;
    }
    int rows = db_rows(result, q);
    if (rows > VIEW_MEMBERS_MAX) {
        view_cache_note_common(tx_app(t)->views, view->filter.waste_type, clock_ms());
        return;
    }
    int64_t *ids = TX_ARRAY(t, int64_t, rows > 0 ? (size_t)rows : 1);
    for (int row = 0; row < rows; row++) {
        ids[row] = db_int64(result, q, row, 0);
    }
    view->members = (type_members){ids, type_members_normalize(ids, (size_t)rows)};
    view->by_members = true;
    if (view->types_version >= 0) {
        view_cache_put_members(tx_app(t)->views, view->filter.waste_type, view->types_version,
                               view->members.ids, view->members.count);
    }
}

static void take_members(tx *t, view_state *view, const db_result *result)
{
    take_members_at(t, view, result, 1);
}

/* Starting over, after the round that read the members (query 0, when asked for) and synced
 * the graph (the next query, when no current snapshot was cached). */
static void on_restarted(tx *t, const db_result *result)
{
    view_state *view = tx_user(t);
    take_members_at(t, view, result, 0);
    graph_snapshot *snapshot = view->restart_snapshot;
    view->restart_snapshot = NULL;
    if (snapshot == NULL) {
        snapshot = graph_cache_install(tx_app(t), result, view->read_members ? 1 : 0);
    }
    start_on(t, view, snapshot);
}

/* Round 1 without a cached graph: [head, (type members,) graph sync, (type check)]. */
static void first_round_sync(tx *t, const db_result *result)
{
    view_state *view = tx_user(t);
    if (organization_exists(t, result)) {
        take_members(t, view, result);
        on_synced_at(t, result, view->first_data_q);
    }
}

/* Round 1 on the cached graph: [head, first data round or type members, (type check)]. */
static void first_round(tx *t, const db_result *result)
{
    view_state *view = tx_user(t);
    if (!organization_exists(t, result)) {
        return;
    }
    take_members(t, view, result);
    int64_t version = db_int64(result, 0, 0, 0);
    bool members_stale = view->members_cached && view->types_version != view->members_version;
    if (version == view->snapshot->version && !members_stale) {
        if (view->read_members) {
            /* Only now, with the index: begin the page on the snapshot it holds. */
            graph_snapshot *snapshot = view->snapshot;
            view->snapshot = NULL;
            start_on(t, view, snapshot);
            return;
        }
        if (!view->queued) {
            reply_page(t);
            return;
        }
        take_rows(t, view, result, view->first_data_q);
        next_round(t, view);
        return;
    }
    /* The cached graph or the cached members were stale: start over on current ones. */
    count_search(view);
    view_order_free(view->order);
    view->order = NULL;
    graph_snapshot_release(view->snapshot);
    view->snapshot = NULL;
    strbuf_free(&view->out);
    view->out = (strbuf){0};
    view->render->begin(view->render_arg, &view->out);
    view->items = 0;
    view->rounds = 0;
    view->finished = false;
    view->full = false;
    view->batch_goal = 0;
    view->range_budget = 0;
    view->members_counted = false;
    view->members_all_found = false;
    view->reached_known = false;
    graph_snapshot *current = graph_cache_get(tx_app(t), version);
    if (members_stale) {
        view->members_cached = false;
        view->by_members = false;
        view->read_members = true;
        tx_q(t, ST_VIEW_TYPE_MEMBERS, view->filter.waste_type, tx_int(t, VIEW_MEMBERS_MAX + 1));
    } else if (current != NULL) {
        start_on(t, view, current);
        return;
    }
    view->restart_snapshot = current;
    if (current == NULL) {
        graph_cache_queue(t);
    }
    view->round_trips++;
    tx_next(t, on_restarted);
}

/* The type exists (422 naming waste_type otherwise): checked last in round 1. */
static void check_type(tx *t, const view_state *view)
{
    if (view->filter.waste_type != NULL) {
        tx_q(t, ST_CHECK_TYPE, view->filter.waste_type, "waste_type");
    }
}

/* Round 1 on the graph cached now (or without one: then it loads the graph too). */
static void view_run(void *arg)
{
    tx *t = arg;
    view_state *view = tx_user(t);
    wf_app *app = tx_app(t);
    if (app->graph == NULL) {
        graph_cache_queue(t);
        check_type(t, view);
        tx_run(t, TX_READ, first_round_sync);
        return;
    }
    view->snapshot = graph_cache_get(app, app->graph->version);
    /* false: nothing to read whatever the rows say (reachable=true on an organization
     * without roads); the first round still checks the type and the organization. */
    view->queued = !view->read_members && begin_page(t, view);
    check_type(t, view);
    tx_run(t, TX_READ, first_round);
}

void view_page(tx *t, const view_page_request *request, const view_renderer *render, void *arg)
{
    view_state *view = TX_NEW(t, view_state);
    *view = (view_state){
        .filter = request->filter,
        .limit = request->limit,
        .render = render,
        .render_arg = arg,
        .has_cursor = request->has_cursor,
        .start = request->start,
        .with_paths = request->with_paths,
        .storage_total = -1,
        .round_trips = 1,
    };
    render->begin(arg, &view->out);
    tx_set_user(t, view);
    tx_on_free(t, state_free, view);
    wf_app *app = tx_app(t);
    const char *type = view->filter.waste_type;
    /* A type filter: read the type's storages first, unless the type is known to be common
     * (then the first data round goes with round 1, as without a filter) or its storages
     * are cached (then round 1 uses them and checks that they are current). */
    view->read_members = type != NULL && !view_cache_type_common(app->views, type, clock_ms());
    size_t cached_count = 0;
    const int64_t *cached =
        view->read_members && app->graph != NULL
            ? view_cache_members(app->views, type, &view->members_version, &cached_count)
            : NULL;
    if (cached != NULL) {
        int64_t *ids = TX_ARRAY(t, int64_t, cached_count ? cached_count : 1);
        memcpy(ids, cached, cached_count * sizeof *ids);
        view->members = (type_members){ids, cached_count};
        view->members_cached = true;
        view->by_members = true;
        view->read_members = false;
    }
    tx_q(t, ST_VIEW_HEAD, tx_int(t, view->filter.organization_id));
    if (view->read_members) {
        tx_q(t, ST_VIEW_TYPE_MEMBERS, type, tx_int(t, VIEW_MEMBERS_MAX + 1));
    }
    view->first_data_q = view->read_members ? 2 : 1;
    if (!graph_cache_await_preload(app, view_run, t)) {
        view_run(t);
    }
}
