/* Database faults under load, against the real server and the real PostgreSQL cluster that
 * DATABASE_URL points to (a superuser role on a local cluster):
 *   (a) every backend of the server is terminated (pg_terminate_backend) while clients run:
 *       no 5xx but 503, every 503 with Retry-After, /readyz green again within 5 s;
 *   (b) a hung backend (SIGSTOP) under WASTEFLOW_QUERY_TIMEOUT_MS=500: the request that lands
 *       on it ends within query timeout + 2 s + margin instead of hanging, the others are
 *       served meanwhile;
 *   (c) crash and restart of the whole cluster (pg_ctl -m immediate stop, start) under a load
 *       of transfers: /readyz back within 10 s, every transfer a client saw in a 201 is in
 *       the ledger, nothing but 201 and 503 (with Retry-After), audit clean.
 * (c) restarts the shared cluster: only this runner does that, and ctest runs -j1.
 * Each load thread has its own curl handle; only the main thread asserts. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "runner.h"
#include "testutil.h"

#include <cmocka.h>
#include <curl/curl.h>

#define LOAD_THREADS      8
#define QUERY_TIMEOUT_MS  500
#define POOL_TIMER_MARGIN 2000 /* lib/db/pool.c: the pool's own timer is query timeout + 2 s */

/* ------------------------------------------------------------------ the load */

typedef struct {
    pthread_mutex_t lock;
    atomic_bool stop;
    bool mixed; /* transfers and reads; else transfers only */
    long long orgs[LOAD_THREADS];
    long requests;
    long statuses[600];
    long transport_errors;
    long bad_503s;
    long bad_bodies;
    tu_acknowledged acknowledged; /* transfers seen in 201s */
    tu_problems problems;
} load_state;

static load_state load;

static void load_reset(bool mixed)
{
    tu_acknowledged_clear(&load.acknowledged);
    pthread_mutex_destroy(&load.lock);
    memset(&load, 0, sizeof load);
    pthread_mutex_init(&load.lock, NULL);
    atomic_store(&load.stop, false);
    load.mixed = mixed;
}

static void *worker_main(void *arg)
{
    tu_load_worker *w = arg;
    CURL *curl = curl_easy_init();
    tu_http_result r = {0};
    long long org = load.orgs[w->index];
    tu_load_request q;
    while (!atomic_load(&load.stop)) {
        tu_load_request_pick(&q, &w->rng, load.mixed, it_base_url(), org, "/v1/stats");
        const char *method = q.method, *url = q.url, *send_body = q.body;
        long long amount = q.amount;
        tu_http_call(curl, method, url, send_body, NULL, NULL, 30, false, &r);
        long long id = 0;
        const char *wrong = NULL;
        if (r.status == 201 && send_body != NULL) {
            id = tu_transfer_id_of(&r, org, amount);
            if (id == 0) {
                wrong = "201 with a wrong transfer body";
            }
        } else if (r.status == 200 && send_body == NULL) {
            cJSON *json = cJSON_Parse(r.body);
            if (!cJSON_IsObject(json)) {
                wrong = "200 without a JSON object";
            }
            cJSON_Delete(json);
        } else if (r.status == 503) {
            wrong = tu_bad_503(&r);
        }
        pthread_mutex_lock(&load.lock);
        load.requests++;
        load.statuses[r.status >= 0 && r.status < 600 ? r.status : 599]++;
        bool expected_status = (r.status == 201 && send_body != NULL) ||
                               (r.status == 200 && send_body == NULL) || r.status == 503;
        if (r.status == 0) {
            load.transport_errors++;
            tu_problem_add(&load.problems, "%s %s: transport error after %lld ms: %s", method, url,
                           r.elapsed_ms, r.error);
        } else if (!expected_status) {
            tu_problem_add(&load.problems, "%s %s -> %ld: %.250s", method, url, r.status, r.body);
        } else if (wrong != NULL) {
            if (r.status == 503) {
                load.bad_503s++;
            } else {
                load.bad_bodies++;
            }
            tu_problem_add(&load.problems, "%s %s -> %ld: %s: %.200s", method, url, r.status, wrong,
                           r.body);
        }
        if (id > 0) {
            tu_acknowledged_add(&load.acknowledged, id, amount);
        }
        pthread_mutex_unlock(&load.lock);
        if (r.status == 503) {
            tu_sleep_ms(20); /* a polite client honours Retry-After a little */
        }
    }
    tu_http_result_clear(&r);
    curl_easy_cleanup(curl);
    return NULL;
}

static tu_load_worker workers[LOAD_THREADS];

static void load_start(void)
{
    for (int i = 0; i < LOAD_THREADS; i++) {
        workers[i].index = i;
        workers[i].rng.state = 1234u + (unsigned)i;
        assert_int_equal(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]), 0);
    }
}

static void load_stop(void)
{
    atomic_store(&load.stop, true);
    for (int i = 0; i < LOAD_THREADS; i++) {
        pthread_join(workers[i].thread, NULL);
    }
}

static void load_print(const char *what)
{
    char line[1024];
    tu_status_line(line, sizeof line, load.requests, load.statuses);
    print_message("%s: %s; %zu transfer ids\n", what, line, load.acknowledged.count);
    tu_problems_print(&load.problems, "problem");
}

/* Every problem of the load is a failure: statuses other than the expected 200/201/503,
 * transport errors, malformed 201s, 503s without Retry-After. */
static void load_assert_clean(const char *what)
{
    load_print(what);
    if (load.problems.count > 0) {
        fail_msg("%s: %d problems (listed above; server log %s)", what, load.problems.count,
                 it_server_log_path());
    }
}

/* Every 201 transfer id is in the ledger, with the glass the client was told it received. */
static void assert_ids_in_ledger(void)
{
    const tu_acknowledged *acknowledged = &load.acknowledged;
    if (acknowledged->count == 0) {
        fail_msg("no transfer was created: the load did not run");
    }
    char *array = tu_acknowledged_sql_array(acknowledged);
    long long distinct =
        it_sql_int("SELECT count(DISTINCT x) FROM unnest('%s'::bigint[]) x", array);
    long long found = it_sql_int("SELECT count(*) FROM transfers WHERE id = ANY('%s'::bigint[])"
                                 " AND trigger = 'request'",
                                 array);
    long long glass = it_sql_int("SELECT coalesce(sum((received->>'glass')::bigint), 0)"
                                 " FROM transfers WHERE id = ANY('%s'::bigint[])",
                                 array);
    free(array);
    if (distinct != (long long)acknowledged->count) {
        fail_msg("%zu 201 responses but only %lld distinct transfer ids", acknowledged->count,
                 distinct);
    }
    if (found != distinct) {
        fail_msg("%lld of the %lld transfers acknowledged with 201 are missing from the ledger",
                 distinct - found, distinct);
    }
    if (glass != acknowledged->glass) {
        fail_msg("the acknowledged transfers received %lld kg of glass in the ledger, the clients "
                 "were told %lld",
                 glass, acknowledged->glass);
    }
    print_message("all %lld acknowledged transfers are in the ledger (%lld kg)\n", found, glass);
}

/* Organizations, one per load thread, next to two big glass storages. */
static void create_world(void)
{
    long long storages[2];
    for (int i = 0; i < 2; i++) {
        storages[i] = tu_new_storage("fault-storage", "{\"glass\": 1000000000}");
    }
    for (int i = 0; i < LOAD_THREADS; i++) {
        load.orgs[i] = tu_new_org("fault-org", "{}", NULL);
        char from[64], to[64];
        snprintf(from, sizeof from, "{\"organization_id\": %lld}", load.orgs[i]);
        for (int s = 0; s < 2; s++) {
            snprintf(to, sizeof to, "{\"storage_id\": %lld}", storages[s]);
            it_create_route(from, to, 10 + 10 * s, false);
        }
    }
}

static int readyz_status(long timeout_s)
{
    CURL *curl = curl_easy_init();
    tu_http_result r = {0};
    char url[128];
    snprintf(url, sizeof url, "%s/readyz", it_base_url());
    tu_http_call(curl, "GET", url, NULL, NULL, NULL, timeout_s, false, &r);
    int status = (int)r.status;
    tu_http_result_clear(&r);
    curl_easy_cleanup(curl);
    return status;
}

/* Milliseconds until /readyz answers 200, polling every 100 ms; -1 past limit_ms. */
static long long wait_ready(long long limit_ms)
{
    long long start = tu_now_ms();
    while (tu_now_ms() - start <= limit_ms) {
        if (readyz_status(3) == 200) {
            return tu_now_ms() - start;
        }
        tu_sleep_ms(100);
    }
    return -1;
}

/* Backends of the test database other than our own connection. */
static int server_backends(int *pids, int max)
{
    PGresult *result = PQexec(it_db(), "SELECT pid FROM pg_stat_activity"
                                       " WHERE datname = current_database()"
                                       " AND pid <> pg_backend_pid()"
                                       " AND backend_type = 'client backend'"
                                       " AND application_name = 'wasteflow' ORDER BY pid");
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        char message[512];
        snprintf(message, sizeof message, "%s", PQerrorMessage(it_db()));
        PQclear(result);
        fail_msg("pg_stat_activity: %s", message);
    }
    int count = PQntuples(result);
    for (int i = 0; i < count && i < max; i++) {
        pids[i] = atoi(PQgetvalue(result, i, 0));
    }
    PQclear(result);
    return count;
}

/* ------------------------------------------------------------------ (a) terminated backends */

static void test_terminate_backends(void **state)
{
    (void)state;
    load_reset(true);
    create_world();
    load_start();
    tu_sleep_ms(1000);
    long long terminated = 0;
    for (int round = 0; round < 3; round++) {
        terminated += it_sql_int("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                                 " FROM pg_stat_activity WHERE datname = current_database()"
                                 " AND pid <> pg_backend_pid()"
                                 " AND backend_type = 'client backend'");
        tu_sleep_ms(round < 2 ? 700 : 0);
    }
    long long ready_after = wait_ready(tu_scaled_ms(5000));
    tu_sleep_ms(1000);
    load_stop();
    print_message("terminated %lld backends; /readyz 200 %lld ms after the last round\n",
                  terminated, ready_after);
    if (terminated < 3) {
        fail_msg("only %lld backends were terminated: the fault did not happen", terminated);
    }
    if (ready_after < 0) {
        fail_msg("/readyz was not 200 within 5 s of terminating the server's backends");
    }
    load_assert_clean("terminated backends");
    assert_ids_in_ledger();
    tu_assert_audit_clean();
}

/* ------------------------------------------------------------------ (b) a hung backend */

static int stopped_backend;

static void resume_backend(void)
{
    if (stopped_backend > 0) {
        kill(stopped_backend, SIGCONT);
        stopped_backend = 0;
    }
}

static int setup_hang(void **state)
{
    (void)state;
    char timeout[64];
    snprintf(timeout, sizeof timeout, "WASTEFLOW_QUERY_TIMEOUT_MS=%d", QUERY_TIMEOUT_MS);
    /* Two connections, and no periodic dispatch sweep that could be the one to step on the
     * hung backend (the pool would replace it before a client request lands there). */
    const char *env[] = {timeout, "WASTEFLOW_POOL_SIZE=2", "WASTEFLOW_DISPATCH_INTERVAL_MS=60000",
                         NULL};
    it_start(env);
    return 0;
}

static int teardown_hang(void **state)
{
    resume_backend();
    return tu_teardown_any_exit(state);
}

typedef struct {
    pthread_t thread;
    tu_http_result result;
} probe;

static void *probe_main(void *arg)
{
    probe *p = arg;
    CURL *curl = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "%s/v1/stats", it_base_url());
    tu_http_call(curl, "GET", url, NULL, NULL, NULL, 30, false, &p->result);
    curl_easy_cleanup(curl);
    return NULL;
}

static void test_hung_backend(void **state)
{
    (void)state;
    int pids[16];
    int count = 0;
    long long start = tu_now_ms();
    while ((count = server_backends(pids, 16)) < 2 && tu_now_ms() - start < 10000) {
        tu_sleep_ms(100);
    }
    if (count != 2) {
        fail_msg("expected the server's 2 pooled backends, found %d", count);
    }
    /* The balance's filler looks once within a second of the start (and then not for an
     * hour, the ledger's days being today's): on the pool, so its look could be the one to
     * step on the hung backend, as the dispatcher's sweep could. */
    start = tu_now_ms();
    while (tu_metric("wasteflow_balance_days_looks_total") < 1 &&
           tu_now_ms() - start < tu_patience_ms()) {
        tu_sleep_ms(50);
    }
    assert_true(tu_metric("wasteflow_balance_days_looks_total") >= 1);
    int victim = pids[0];
    if (kill(victim, SIGSTOP) != 0) {
        skip(); /* not allowed to signal the cluster's processes */
    }
    stopped_backend = victim;
    print_message("SIGSTOPped backend %d\n", victim);

    const long long limit_ms = QUERY_TIMEOUT_MS + POOL_TIMER_MARGIN + tu_scaled_ms(2500);
    bool landed = false;
    for (int burst = 0; burst < 6 && !landed; burst++) {
        enum { PROBES = 6 };
        probe probes[PROBES];
        memset(probes, 0, sizeof probes);
        for (int i = 0; i < PROBES; i++) {
            assert_int_equal(pthread_create(&probes[i].thread, NULL, probe_main, &probes[i]), 0);
        }
        /* While one request may hang: others are answered at once. */
        tu_sleep_ms(300);
        CURL *curl = curl_easy_init();
        tu_http_result r = {0};
        char url[128];
        long long slowest_other = 0;
        for (int i = 0; i < 3; i++) {
            snprintf(url, sizeof url, "%s%s", it_base_url(), i == 0 ? "/healthz" : "/v1/stats");
            tu_http_call(curl, "GET", url, NULL, NULL, NULL, 30, false, &r);
            if (r.status != 200) {
                fail_msg("GET %s during the hang: %ld %s %s", url, r.status, r.error, r.body);
            }
            slowest_other = r.elapsed_ms > slowest_other ? r.elapsed_ms : slowest_other;
        }
        tu_http_result_clear(&r);
        curl_easy_cleanup(curl);
        for (int i = 0; i < PROBES; i++) {
            pthread_join(probes[i].thread, NULL);
        }
        if (slowest_other > tu_scaled_ms(1500)) {
            fail_msg("other requests waited %lld ms while one backend hung", slowest_other);
        }
        for (int i = 0; i < PROBES; i++) {
            tu_http_result *p = &probes[i].result;
            print_message("burst %d probe %d: %ld after %lld ms\n", burst, i, p->status,
                          p->elapsed_ms);
            if (p->status == 0) {
                fail_msg("GET /v1/stats: transport error after %lld ms: %s", p->elapsed_ms,
                         p->error);
            }
            if (p->status != 200 && p->status != 503) {
                fail_msg("GET /v1/stats -> %ld (expected 200, or 503 from the hung backend): %s",
                         p->status, p->body);
            }
            if (p->status == 503 && tu_bad_503(p) != NULL) {
                fail_msg("GET /v1/stats: %s: %s", tu_bad_503(p), p->body);
            }
            if (p->elapsed_ms > limit_ms) {
                fail_msg("GET /v1/stats took %lld ms with a hung backend (limit: query timeout "
                         "%d + %d + margin = %lld ms)",
                         p->elapsed_ms, QUERY_TIMEOUT_MS, POOL_TIMER_MARGIN, limit_ms);
            }
            /* Landing on the stopped backend costs the pool's timer: >= query timeout + 2 s. */
            if (p->elapsed_ms >= QUERY_TIMEOUT_MS + POOL_TIMER_MARGIN - 300) {
                landed = true;
            }
            tu_http_result_clear(p);
        }
    }
    if (!landed) {
        fail_msg("no request landed on the stopped backend %d in 6 bursts", victim);
    }
    /* The pool replaced the hung connection: ready, and fast again. */
    if (wait_ready(tu_scaled_ms(3000)) < 0) {
        fail_msg("/readyz not 200 after the hung connection was dropped");
    }
    CURL *curl = curl_easy_init();
    tu_http_result r = {0};
    char url[128];
    snprintf(url, sizeof url, "%s/v1/stats", it_base_url());
    for (int i = 0; i < 5; i++) {
        tu_http_call(curl, "GET", url, NULL, NULL, NULL, 30, false, &r);
        if (r.status != 200 || r.elapsed_ms > tu_scaled_ms(1000)) {
            fail_msg("after the hang: GET /v1/stats -> %ld in %lld ms", r.status, r.elapsed_ms);
        }
    }
    tu_http_result_clear(&r);
    curl_easy_cleanup(curl);
    resume_backend();
    tu_assert_audit_clean();
}

/* ------------------------------------------------------------------ (c) crash and restart */

static struct {
    it_cluster pg;
    char options[1024]; /* from postmaster.opts, for pg_ctl -o */
    bool down;          /* stopped by this test: teardown must start it */
} cluster;

/* Runs argv (as the cluster owner when we are root); returns its exit code and its output. */
static int run_as_owner(const char *const *args, char *output, size_t output_size)
{
    const char *argv[32];
    int n = 0;
    if (cluster.pg.runuser[0] != '\0') {
        argv[n++] = cluster.pg.runuser;
        argv[n++] = "-u";
        argv[n++] = cluster.pg.owner;
        argv[n++] = "--";
    }
    for (int i = 0; args[i] != NULL && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fail_msg("pipe: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fail_msg("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        if (chdir("/") != 0) {
            _exit(126);
        }
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd >= 0) {
            dup2(null_fd, STDIN_FILENO);
        }
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t used = 0;
    output[0] = '\0';
    for (;;) {
        char chunk[1024];
        ssize_t got = read(fds[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        size_t room = output_size - 1 - used;
        size_t take = (size_t)got < room ? (size_t)got : room;
        memcpy(output + used, chunk, take);
        used += take;
        output[used] = '\0';
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The options the postmaster was started with, minus the binary and -D: pg_ctl start must
 * bring it back the same way (port, sockets and the rest usually live in the config files). */
static void read_postmaster_options(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/postmaster.opts", cluster.pg.data_dir);
    cluster.options[0] = '\0';
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return;
    }
    char line[2048];
    if (fgets(line, sizeof line, file) == NULL) {
        fclose(file);
        return;
    }
    fclose(file);
    char *tokens[64];
    int count = 0;
    for (char *p = line; *p != '\0' && count < 64;) {
        while (*p == ' ' || *p == '\n') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        if (*p == '"') {
            char *end = strchr(p + 1, '"');
            if (end == NULL) {
                break;
            }
            *end = '\0';
            tokens[count++] = p + 1;
            p = end + 1;
        } else {
            char *end = p + strcspn(p, " \n");
            char saved = *end;
            *end = '\0';
            tokens[count++] = p;
            p = saved ? end + 1 : end;
        }
    }
    size_t used = 0;
    for (int i = 1; i < count; i++) {
        if (strcmp(tokens[i], "-D") == 0) {
            i++;
            continue;
        }
        used += (size_t)snprintf(cluster.options + used, sizeof cluster.options - used, "%s\"%s\"",
                                 used ? " " : "", tokens[i]);
    }
}

static void cluster_ctl(const char *action, bool must_succeed)
{
    char output[4096];
    int code;
    if (strcmp(action, "stop") == 0) {
        const char *args[] = {cluster.pg.pg_ctl,
                              "-D",
                              cluster.pg.data_dir,
                              "-m",
                              "immediate",
                              "-w",
                              "-t",
                              "60",
                              "stop",
                              NULL};
        code = run_as_owner(args, output, sizeof output);
        if (code == 0) {
            cluster.down = true;
        }
    } else {
        /* With the postmaster's own options (postmaster.opts) when it had any. */
        const char *args[] = {cluster.pg.pg_ctl,
                              "-D",
                              cluster.pg.data_dir,
                              "-l",
                              cluster.pg.log_path,
                              "-w",
                              "-t",
                              "60",
                              "-o",
                              cluster.options,
                              "start",
                              NULL};
        if (cluster.options[0] == '\0') {
            args[8] = "start";
            args[9] = NULL;
        }
        code = run_as_owner(args, output, sizeof output);
        if (code == 0) {
            cluster.down = false;
        }
    }
    if (code != 0) {
        fprintf(stderr, "pg_ctl %s exited with %d:\n%s\n", action, code, output);
        if (must_succeed) {
            fail_msg("pg_ctl %s on %s failed (exit %d)", action, cluster.pg.data_dir, code);
        }
    }
}

static int setup_crash(void **state)
{
    (void)state;
    cluster.down = false;
    it_start(NULL);
    return 0;
}

static int teardown_crash(void **state)
{
    if (cluster.down) {
        fprintf(stderr, "restarting the cluster the test left stopped\n");
        cluster_ctl("start", false);
        PQreset(it_db());
    }
    return tu_teardown_any_exit(state);
}

static void test_crash_restart(void **state)
{
    (void)state;
    tu_find_cluster_or_skip(&cluster.pg, "/tmp/wf-it-faults-postgres.log");
    read_postmaster_options();
    print_message("cluster %s (pg_ctl as %s, options '%s', log %s)\n", cluster.pg.data_dir,
                  cluster.pg.runuser[0] ? cluster.pg.owner : "ourselves", cluster.options,
                  cluster.pg.log_path);
    /* A crash loses commits acknowledged under synchronous_commit = off (deploy/pg-local.sh
     * --fast sets it for the whole cluster). The service promises not to lose what it
     * acknowledged on a durable database, so make this database durable and restart the
     * server so that every session has the setting. */
    PGresult *name = PQexec(it_db(), "SELECT current_database()");
    assert_int_equal(PQresultStatus(name), PGRES_TUPLES_OK);
    it_sql_exec("ALTER DATABASE %s SET synchronous_commit = on", PQgetvalue(name, 0, 0));
    PQclear(name);
    assert_int_equal(it_stop_server_only(), 0);
    it_restart_server(NULL);
    PQreset(it_db());
    PGresult *setting = PQexec(it_db(), "SHOW synchronous_commit");
    assert_int_equal(PQresultStatus(setting), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(setting, 0, 0), "on");
    PQclear(setting);

    load_reset(false);
    create_world();
    load_start();
    tu_sleep_ms(2000);
    long long stop_started = tu_now_ms();
    cluster_ctl("stop", true);
    long long stopped_after = tu_now_ms() - stop_started;
    tu_sleep_ms(1000);
    cluster_ctl("start", true);
    long long restarted = tu_now_ms();
    long long ready_after = wait_ready(tu_scaled_ms(10000));
    if (ready_after >= 0) {
        tu_sleep_ms(3000); /* load on the recovered database */
    }
    load_stop();
    PQreset(it_db());
    assert_int_equal(PQstatus(it_db()), CONNECTION_OK);
    print_message("pg_ctl stop took %lld ms; restart done %lld ms after the stop began; /readyz "
                  "200 %lld ms after the restart\n",
                  stopped_after, restarted - stop_started, ready_after);
    if (ready_after < 0) {
        load_print("crash and restart");
        fail_msg("/readyz was not 200 within 10 s of the cluster's restart");
    }
    if (load.statuses[503] == 0) {
        load_print("crash and restart");
        fail_msg("no request saw the outage (no 503): the fault did not hit the load");
    }
    load_assert_clean("crash and restart");
    assert_ids_in_ledger();
    tu_assert_audit_clean();
}

RUNNER_MAIN(NULL, NULL,
            {
                cmocka_unit_test_setup_teardown(test_terminate_backends, tu_setup,
                                                tu_teardown_any_exit),
                cmocka_unit_test_setup_teardown(test_hung_backend, setup_hang, teardown_hang),
                cmocka_unit_test_setup_teardown(test_crash_restart, setup_crash, teardown_crash),
            })
