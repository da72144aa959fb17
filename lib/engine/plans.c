/* Allocation plans (see plans.h):
 *
 *   round 1 (one REPEATABLE READ READ ONLY snapshot): the types exist, the organizations
 *           exist, the rooms of the batch's types, the graph's current version (synced)
 *   solve   on a thread: each organization's storages from a bounded search of the
 *           snapshot's graph, the nearest plan, the min-cost plan (LEMON)
 *   reply   back on the event loop (a pipe wakes it): render, and the snapshot ends.
 *
 * The solve runs off the loop because a large batch takes up to seconds; the loop keeps
 * serving meanwhile. The job owns everything the thread reads, so a request that ends
 * early (tx freed) leaves the job to finish and free itself. */
#include "engine/plans.h"

#include "engine/graph_cache.h"
#include "engine/statements.h"
#include "engine/storage_order.h"
#include "flow/plans_flow.h"
#include "util/log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One evaluation: the request's side (t, batch, render; t is NULL once the tx is gone) and
 * the thread's side (everything else, untouched by the loop while the thread runs). */
typedef struct {
    tx *t;
    const plans_batch *batch;
    plans_render_fn render;
    plans_work_fn work;
    uint64_t rows_read; /* room rows of the snapshot */
    struct event *wake;
    int pipe_fds[2];
    pthread_t thread;
    bool thread_started;
    /* The thread's inputs and outputs. */
    graph_snapshot *snapshot;
    plans *plan;
    room_map *rooms;
    graph_search *search; /* the current organization's */
    size_t search_index;
    plans_status status;
    uint64_t examined;
    plans_result nearest, min_cost;
    int64_t elapsed_ms, build_ms, flow_ms; /* the solve, and its prefix and flow parts */
    int64_t cpu_ms;                        /* the solve's thread CPU time (load aside) */
} plans_job;

static void job_free(plans_job *job)
{
    if (job->wake != NULL) {
        event_free(job->wake);
    }
    for (int i = 0; i < 2; i++) {
        if (job->pipe_fds[i] >= 0) {
            close(job->pipe_fds[i]);
        }
    }
    graph_search_free(job->search);
    graph_snapshot_release(job->snapshot);
    plans_free(job->plan);
    room_map_free(job->rooms);
    plans_result_free(&job->nearest);
    plans_result_free(&job->min_cost);
    free(job);
}

/* The tx ends (replied, or failed): the job stays until its thread is done. */
static void tx_gone(void *arg)
{
    plans_job *job = arg;
    job->t = NULL;
    if (!job->thread_started) {
        job_free(job);
    }
}

/* core/plans' next storage: one bounded search at a time, the organizations in order. */
static bool next_storage(void *arg, size_t index, int64_t *storage_id, int64_t *distance_m)
{
    plans_job *job = arg;
    if (job->search == NULL || job->search_index != index) {
        graph_search_free(job->search);
        node_ref source = {NODE_ORG, plans_organization_id(job->plan, index)};
        job->search = graph_search_begin(job->snapshot->roads, source);
        job->search_index = index;
        if (job->search == NULL) {
            return false; /* out of memory: the plan sees no more storages */
        }
    }
    return storage_search_next(job->search, storage_id, distance_m);
}

static void *solve(void *arg)
{
    plans_job *job = arg;
    int64_t started = clock_ms();
    job->status =
        plans_build(job->plan, next_storage, job, job->rooms, PLANS_MAX_ARCS, &job->examined);
    graph_search_free(job->search);
    job->search = NULL;
    job->build_ms = clock_ms() - started;
    if (job->status == PLANS_OK) {
        job->status = plans_nearest(job->plan, &job->nearest);
    }
    int64_t flow_started = clock_ms();
    if (job->status == PLANS_OK) {
        job->status = plans_min_cost(job->plan, plans_flow_solve, NULL, &job->min_cost);
    }
    job->flow_ms = clock_ms() - flow_started;
    struct timespec cpu;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0) {
        job->cpu_ms = (int64_t)cpu.tv_sec * 1000 + cpu.tv_nsec / 1000000;
    }
    job->elapsed_ms = clock_ms() - started;
    char done = 1;
    while (write(job->pipe_fds[1], &done, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

static void solved(evutil_socket_t fd, short what, void *arg)
{
    plans_job *job = arg;
    pthread_join(job->thread, NULL);
    job->thread_started = false;
    tx *t = job->t;
    if (t == NULL) {
        job_free(job);
        return;
    }
    if (log_enabled(LOG_INFO)) {
        char hand_overs[24], organizations[24], examined[24], elapsed[24], build[24], flow[24],
            cpu[24];
        snprintf(cpu, sizeof cpu, "%lld", (long long)job->cpu_ms);
        snprintf(build, sizeof build, "%lld", (long long)job->build_ms);
        snprintf(flow, sizeof flow, "%lld", (long long)job->flow_ms);
        snprintf(hand_overs, sizeof hand_overs, "%zu", job->batch->count);
        snprintf(organizations, sizeof organizations, "%zu", plans_organization_count(job->plan));
        snprintf(examined, sizeof examined, "%llu", (unsigned long long)job->examined);
        snprintf(elapsed, sizeof elapsed, "%lld", (long long)job->elapsed_ms);
        log_event(LOG_INFO, "plans solved", "hand_overs", hand_overs, "organizations",
                  organizations, "storages_examined", examined, "solve_ms", elapsed, "prefixes_ms",
                  build, "flow_ms", flow, "cpu_ms", cpu, NULL);
    }
    job->work(t, job->examined + job->rows_read);
    switch (job->status) {
    case PLANS_OK:
        job->render(t, job->batch, &job->nearest, &job->min_cost);
        return; /* the job goes with the tx (tx_gone) */
    case PLANS_TOO_LARGE:
        tx_invalid(t, "hand_overs",
                   "too many organization-storage pairs to plan exactly at once; split the batch");
        return;
    case PLANS_OVERFLOW:
        tx_invalid(t, "hand_overs", "the batch's kilograms or kg·m exceed 64-bit integers");
        return;
    default:
        tx_fail(t, PROBLEM_UNAVAILABLE, "The plan could not be computed now (out of memory).");
        return;
    }
}

/* Sorted codes: the type key of a row's waste type, or UINT32_MAX. */
static uint32_t type_key(const plans_batch *batch, const char *code)
{
    size_t lo = 0, hi = batch->type_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int order = strcmp(batch->codes[mid], code);
        if (order == 0) {
            return (uint32_t)mid;
        }
        if (order < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return UINT32_MAX;
}

/* Round 1: [types checked, unknown organization, rooms, graph]. */
static void read_done(tx *t, const db_result *result)
{
    plans_job *job = tx_user(t);
    const plans_batch *batch = job->batch;
    job->snapshot = graph_cache_install(tx_app(t), result, 3);
    if (!db_is_null(result, 1, 0, 0)) {
        int64_t unknown = db_int64(result, 1, 0, 0);
        size_t at = 0;
        while (at < batch->count && batch->organization_ids[at] != unknown) {
            at++;
        }
        tx_invalid(t, arena_printf(tx_arena(t), "hand_overs[%zu].organization_id", at),
                   "unknown organization");
        return;
    }
    if (job->snapshot == NULL) {
        tx_fail(t, PROBLEM_UNAVAILABLE, "The road graph could not be loaded now.");
        return;
    }
    int rows = db_rows(result, 2);
    job->rows_read = (uint64_t)rows;
    job->rooms = room_map_new((size_t)rows + 1);
    job->plan = plans_new(batch->type_count);
    if (job->rooms == NULL || job->plan == NULL) {
        tx_fail(t, PROBLEM_UNAVAILABLE, "The plan could not be computed now (out of memory).");
        return;
    }
    for (int row = 0; row < rows; row++) {
        uint32_t key = type_key(batch, db_text(result, 2, row, 1));
        if (key != UINT32_MAX) {
            room_map_put(job->rooms, db_int64(result, 2, row, 0), key, db_int64(result, 2, row, 2));
        }
    }
    for (size_t i = 0; i < batch->count; i++) {
        plans_status status =
            plans_add(job->plan, batch->organization_ids[i], &batch->kg[i * batch->type_count]);
        if (status == PLANS_OVERFLOW) {
            tx_invalid(t, "hand_overs", "the batch's kilograms of a type exceed 64-bit integers");
            return;
        }
        if (status != PLANS_OK) {
            tx_fail(t, PROBLEM_UNAVAILABLE, "The plan could not be computed now (out of memory).");
            return;
        }
    }
    job->wake = event_new(tx_app(t)->base, job->pipe_fds[0], EV_READ, solved, job);
    if (job->wake == NULL || event_add(job->wake, NULL) != 0 ||
        pthread_create(&job->thread, NULL, solve, job) != 0) {
        tx_fail(t, PROBLEM_UNAVAILABLE, "The plan could not be computed now.");
        return;
    }
    job->thread_started = true;
}

static void run(void *arg)
{
    tx_run(arg, TX_SNAPSHOT, read_done);
}

void plans_evaluate(http_ctx *ctx, const plans_batch *batch, plans_render_fn render,
                    plans_work_fn work)
{
    tx *t = tx_for(ctx);
    plans_job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        tx_fail(t, PROBLEM_UNAVAILABLE, "The plan could not be computed now (out of memory).");
        return;
    }
    if (pipe2(job->pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(job);
        tx_fail(t, PROBLEM_UNAVAILABLE, "The plan could not be computed now (no descriptor).");
        return;
    }
    job->t = t;
    job->batch = batch;
    job->render = render;
    job->work = work;
    tx_set_user(t, job);
    tx_on_free(t, tx_gone, job);
    tx_q(t, ST_CHECK_TYPES, batch->codes_literal, "hand_overs.waste.");
    tx_q(t, ST_PLAN_UNKNOWN_ORG, batch->organizations_literal);
    tx_q(t, ST_PLAN_ROOMS, batch->codes_literal);
    graph_cache_queue(t);
    if (!graph_cache_await_preload(tx_app(t), run, t)) {
        run(t);
    }
}
