/* The wasteflow servers of a runner: `wasteflow migrate` and `wasteflow serve` as child
 * processes on the test database, waiting for /readyz, the optional Prism contract proxy in
 * front (WASTEFLOW_PRISM), a second instance, restarts, and stopping with a check that the
 * server exited cleanly (no crash, no valgrind error, no hang on SIGTERM). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "it_internal.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "testutil.h"

#define READY_TIMEOUT_MS          20000
#define READY_TIMEOUT_VALGRIND_MS 120000
#define STOP_TIMEOUT_MS           20000
#define MIGRATE_TIMEOUT_MS        120000
#define VALGRIND_ERROR_EXIT       99

typedef struct {
    pid_t pid;           /* 0 when not running */
    pid_t proxy_pid;     /* the Prism contract proxy in front of it (WASTEFLOW_PRISM), or 0 */
    char direct_url[64]; /* the server itself, behind the proxy */
    bool died;           /* found dead while the tests ran */
    int died_status;     /* its exit code then */
    int port;
    char base_url[64];
    char log_path[256];
} server_process;

static struct {
    server_process primary;
    server_process second;
    unsigned database_counter; /* test databases this process created: names them and logs */
    unsigned log_counter;      /* log files for the current database */
    char *admin_key;           /* made by it_start for every request (it_admin_key) */
    long open_files;           /* RLIMIT_NOFILE of the servers started (0: inherited) */
} servers;

void it_set_server_open_files(long limit)
{
    servers.open_files = limit;
}

/* Prints the last bytes of a server log to stderr, so a failure shows what the server said. */
static void print_log_tail(const char *log_path)
{
    if (log_path == NULL || log_path[0] == '\0') {
        return;
    }
    FILE *log = fopen(log_path, "rb");
    if (log == NULL) {
        fprintf(stderr, "harness: cannot open server log %s\n", log_path);
        return;
    }
    const long tail_bytes = 6000;
    if (fseek(log, 0, SEEK_END) == 0) {
        long size = ftell(log);
        fseek(log, size > tail_bytes ? size - tail_bytes : 0, SEEK_SET);
    }
    fprintf(stderr, "---- tail of server log %s ----\n", log_path);
    char chunk[1024];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, log)) > 0) {
        fwrite(chunk, 1, got, stderr);
    }
    fprintf(stderr, "\n---- end of server log ----\n");
    fclose(log);
}

/* valgrind's leak check at exit takes a while: more time to stop under it. */
static long long stop_timeout_ms(void)
{
    return tu_under_valgrind() ? 6LL * STOP_TIMEOUT_MS : STOP_TIMEOUT_MS;
}

static void new_log_path(server_process *server)
{
    servers.log_counter++;
    if (servers.log_counter == 1) {
        snprintf(server->log_path, sizeof server->log_path, "/tmp/wf-it-%ld-%u.log", (long)getpid(),
                 servers.database_counter);
    } else {
        snprintf(server->log_path, sizeof server->log_path, "/tmp/wf-it-%ld-%u-%u.log",
                 (long)getpid(), servers.database_counter, servers.log_counter);
    }
}

/* Runs `wasteflow migrate` on the test database; false when it did not exit 0. */
static bool run_migrate(const char *log_path, char **why)
{
    const char *binary = harness_env_or_fail("WASTEFLOW_BIN");
    char *database_env = tu_format("DATABASE_URL=%s", it_database_url());
    const char *base[] = {database_env, "WASTEFLOW_LOG_LEVEL=warn", NULL};
    char **env = harness_build_environment(base, NULL);
    char *argv[] = {(char *)binary, "migrate", NULL};
    int log_fd = harness_open_log(log_path);
    pid_t pid = harness_spawn(argv, env, log_fd, log_fd);
    close(log_fd);
    free(env);
    free(database_env);
    int status = 0;
    if (!harness_wait_with_timeout(pid, MIGRATE_TIMEOUT_MS, &status)) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        *why = tu_format("`%s migrate` did not finish in %d s", binary, MIGRATE_TIMEOUT_MS / 1000);
        return false;
    }
    if (harness_exit_code_of(status) != 0) {
        *why = tu_format("`%s migrate` exited with %d", binary, harness_exit_code_of(status));
        return false;
    }
    return true;
}

/* Runs the binary with args (after argv[0]) on the test database as its owner, with
 * extra_env (NULL or "NAME=value"s) added; stdout (and stderr too when with_stderr) into
 * *out when out is not NULL. Returns the exit code (-1 when it did not finish). */
static int run_tool_with(const char *const *args, const char *const *extra_env, bool with_stderr,
                         char **out)
{
    const char *binary = harness_env_or_fail("WASTEFLOW_BIN");
    char *database_env = tu_format("DATABASE_URL=%s", it_database_url());
    const char *base[] = {database_env, "WASTEFLOW_LOG_LEVEL=warn", NULL};
    char **env = harness_build_environment(base, extra_env);
    char *argv[16];
    size_t argc = 0;
    argv[argc++] = (char *)binary;
    for (size_t i = 0; args[i] != NULL && argc < 15; i++) {
        argv[argc++] = (char *)args[i];
    }
    argv[argc] = NULL;
    char path[] = "/tmp/wf-it-tool-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        fail_msg("harness: mkstemp: %s", strerror(errno));
    }
    pid_t pid = harness_spawn(argv, env, fd, with_stderr ? fd : -1);
    free(env);
    free(database_env);
    int status = 0;
    int code = -1;
    if (!harness_wait_with_timeout(pid, MIGRATE_TIMEOUT_MS, &status)) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    } else {
        code = harness_exit_code_of(status);
    }
    if (out != NULL) {
        off_t size = lseek(fd, 0, SEEK_END);
        *out = harness_xmalloc((size_t)(size > 0 ? size : 0) + 1);
        ssize_t got = size > 0 ? pread(fd, *out, (size_t)size, 0) : 0;
        (*out)[got > 0 ? got : 0] = '\0';
    }
    close(fd);
    unlink(path);
    return code;
}

static int run_tool(const char *const *args, char **out)
{
    return run_tool_with(args, NULL, false, out);
}

int it_run_command(const char *const *args, const char *const *extra_env, char **output)
{
    return run_tool_with(args, extra_env, true, output);
}

int it_keys_command(const char *const *args, char **out)
{
    const char *full[16] = {"keys"};
    size_t n = 1;
    for (size_t i = 0; args[i] != NULL && n < 15; i++) {
        full[n++] = args[i];
    }
    full[n] = NULL;
    return run_tool(full, out);
}

int it_seed_case1(void)
{
    static const char *const args[] = {"seed", "case1", NULL};
    return run_tool(args, NULL);
}

char *it_new_key(const char *role, long long organization_id, long long storage_id)
{
    char organization[24], storage[24];
    snprintf(organization, sizeof organization, "%lld", organization_id);
    snprintf(storage, sizeof storage, "%lld", storage_id);
    const char *args[8] = {"create", "--role", role};
    size_t n = 3;
    if (organization_id > 0) {
        args[n++] = "--organization";
        args[n++] = organization;
    }
    if (storage_id > 0) {
        args[n++] = "--storage";
        args[n++] = storage;
    }
    args[n] = NULL;
    char *out = NULL;
    int code = it_keys_command(args, &out);
    cJSON *json = code == 0 ? cJSON_Parse(out) : NULL;
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(json, "key");
    if (!cJSON_IsString(key)) {
        fail_msg("harness: `wasteflow keys create --role %s` exited %d: %s", role, code, out);
    }
    char *token = harness_xstrdup(key->valuestring);
    cJSON_Delete(json);
    free(out);
    return token;
}

const char *it_admin_key(void)
{
    return servers.admin_key != NULL ? servers.admin_key : "";
}

const char *it_bearer(const char *key)
{
    return tu_fmt("Authorization: Bearer %s", key);
}

static bool readyz_is_200(const char *base_url)
{
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        return false;
    }
    char *url = tu_format("%s/readyz", base_url);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, tu_under_valgrind() ? 10000L : 2000L);
    FILE *sink = fopen("/dev/null", "wb");
    if (sink != NULL) {
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
    }
    long code = 0;
    if (it_http_perform(curl, NULL) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    }
    if (sink != NULL) {
        fclose(sink);
    }
    curl_easy_cleanup(curl);
    free(url);
    return code == 200;
}

/* SIGTERMs server and waits; returns its exit code (128+signal when killed). On timeout it
 * SIGKILLs, sets *timed_out and returns -1. */
static int terminate_server(server_process *server, bool *timed_out)
{
    *timed_out = false;
    if (server->proxy_pid > 0) {
        int proxy_status = 0;
        kill(server->proxy_pid, SIGTERM);
        if (!harness_wait_with_timeout(server->proxy_pid, 5000, &proxy_status)) {
            kill(server->proxy_pid, SIGKILL);
            waitpid(server->proxy_pid, &proxy_status, 0);
        }
        server->proxy_pid = 0;
    }
    if (server->pid <= 0) {
        return 0;
    }
    kill(server->pid, SIGTERM);
    int status = 0;
    int code;
    if (harness_wait_with_timeout(server->pid, stop_timeout_ms(), &status)) {
        code = harness_exit_code_of(status);
    } else {
        kill(server->pid, SIGKILL);
        waitpid(server->pid, &status, 0);
        *timed_out = true;
        code = -1;
    }
    server->pid = 0;
    return code;
}

static char *start_contract_proxy(server_process *server);

/* Starts `wasteflow serve` on the test database and waits for /readyz. Returns NULL on
 * success, else a message (caller frees); the process is stopped then. *exited_early tells
 * that it exited before it was ready (e.g. the free port was taken meanwhile). */
static char *start_server_once(server_process *server, const char *const *extra_env,
                               bool *exited_early)
{
    *exited_early = false;
    const char *binary = harness_env_or_fail("WASTEFLOW_BIN");
    server->died = false;
    server->port = harness_free_port();
    snprintf(server->base_url, sizeof server->base_url, "http://127.0.0.1:%d", server->port);
    new_log_path(server);

    /* As docs/design.md, "Database roles", wants it run: the app role, not the schema's owner. The
     * rate limit is off: load tests send far more than a person would from one key (runners that
     * test the limit set WASTEFLOW_RATE_LIMIT in extra_env, which wins). */
    char *database_env = tu_format("DATABASE_URL=%s", it_app_database_url());
    char *listen_env = tu_format("WASTEFLOW_LISTEN=127.0.0.1:%d", server->port);
    const char *base[] = {database_env, listen_env, "WASTEFLOW_LOG_LEVEL=warn",
                          "WASTEFLOW_RATE_LIMIT=0", NULL};
    char **env = harness_build_environment(base, extra_env);
    char *plain_argv[] = {(char *)binary, "serve", NULL};
    char *valgrind_argv[] = {"valgrind",
                             "--error-exitcode=99",
                             "--leak-check=full",
                             "--errors-for-leak-kinds=definite",
                             (char *)binary,
                             "serve",
                             NULL};
    int log_fd = harness_open_log(server->log_path);
    server->pid = harness_spawn_limited(tu_under_valgrind() ? valgrind_argv : plain_argv, env,
                                        log_fd, log_fd, servers.open_files);
    close(log_fd);
    free(env);
    free(database_env);
    free(listen_env);

    long long deadline =
        tu_now_ms() + (tu_under_valgrind() ? READY_TIMEOUT_VALGRIND_MS : READY_TIMEOUT_MS);
    for (;;) {
        int status = 0;
        if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
            server->pid = 0;
            *exited_early = true;
            return tu_format("`%s serve` exited with %d before it was ready", binary,
                             harness_exit_code_of(status));
        }
        if (readyz_is_200(server->base_url)) {
            return start_contract_proxy(server);
        }
        if (tu_now_ms() >= deadline) {
            bool timed_out;
            terminate_server(server, &timed_out);
            return tu_format(
                "`%s serve` on %s: /readyz not 200 within %d s", binary, server->base_url,
                (tu_under_valgrind() ? READY_TIMEOUT_VALGRIND_MS : READY_TIMEOUT_MS) / 1000);
        }
        tu_sleep_ms(50);
    }
}

/* With WASTEFLOW_PRISM (the path of Stoplight Prism's CLI), every request of the suite goes
 * through `prism proxy --errors` to the server, so any response that does not match the
 * OpenAPI document fails the test that received it. Requests are not validated by Prism
 * (the suite sends invalid ones on purpose), and Prism's own CORS is off. Returns NULL, or
 * a message when the proxy does not come up. */
static char *start_contract_proxy(server_process *server)
{
    const char *prism = getenv("WASTEFLOW_PRISM");
    if (prism == NULL || prism[0] == '\0') {
        return NULL;
    }
    char *document =
        tu_format("%s/lib/api/openapi.json", harness_env_or_fail("WASTEFLOW_SOURCE_DIR"));
    char *upstream = tu_format("http://127.0.0.1:%d", server->port);
    int proxy_port = harness_free_port();
    char *port_text = tu_format("%d", proxy_port);
    char *argv[] = {
        (char *)prism,  "proxy", document, upstream, "--errors", "--validate-request=false",
        "--cors=false", "-v",    "warn",   "--port", port_text,  "--host",
        "127.0.0.1",    NULL};
    extern char **environ;
    int log_fd = harness_open_log(server->log_path);
    server->proxy_pid = harness_spawn(argv, environ, log_fd, log_fd);
    close(log_fd);
    free(document);
    free(upstream);
    free(port_text);
    char proxied[64];
    snprintf(proxied, sizeof proxied, "http://127.0.0.1:%d", proxy_port);
    long long deadline = tu_now_ms() + 60000;
    while (tu_now_ms() < deadline) {
        if (readyz_is_200(proxied)) {
            snprintf(server->direct_url, sizeof server->direct_url, "%s", server->base_url);
            snprintf(server->base_url, sizeof server->base_url, "%s", proxied);
            return NULL;
        }
        tu_sleep_ms(200);
    }
    return tu_format("prism proxy did not answer on %s within 60 s", proxied);
}

/* The port chosen is free when picked but may be taken before the server binds it; a server
 * that exits before it is ready is tried again (on a new port, with a new log file). */
static char *start_server(server_process *server, const char *const *extra_env)
{
    const int attempts = 3;
    for (int attempt = 1;; attempt++) {
        bool exited_early = false;
        char *why = start_server_once(server, extra_env, &exited_early);
        if (why == NULL || !exited_early || attempt == attempts) {
            return why;
        }
        fprintf(stderr, "harness: %s; retrying\n", why);
        print_log_tail(server->log_path);
        free(why);
    }
}

int it_start(const char *const *extra_env)
{
    harness_curl_init();
    harness_env_or_fail("WASTEFLOW_BIN");
    servers.database_counter++;
    servers.log_counter = 0;
    harness_db_create(servers.database_counter);

    new_log_path(&servers.primary);
    servers.log_counter = 0; /* the server's log is the same file as migrate's */
    char *why = NULL;
    if (!run_migrate(servers.primary.log_path, &why)) {
        print_log_tail(servers.primary.log_path);
        harness_db_drop();
        fail_msg("harness: %s", why);
    }
    free(servers.admin_key);
    servers.admin_key = NULL;
    servers.admin_key = it_new_key("admin", 0, 0);
    why = start_server(&servers.primary, extra_env);
    if (why != NULL) {
        print_log_tail(servers.primary.log_path);
        harness_db_drop();
        fail_msg("harness: %s", why);
    }
    it_db(); /* connected before the first test */
    return 0;
}

/* Stops one server, asserting a clean exit; returns its exit code. */
static int stop_checked(server_process *server, const char *what, char **why)
{
    if (server->pid <= 0) {
        if (server->died) {
            server->died = false;
            *why = tu_format("%s died while the tests ran (exit status %d)", what,
                             server->died_status);
            return server->died_status;
        }
        return 0;
    }
    bool timed_out = false;
    int code = terminate_server(server, &timed_out);
    if (timed_out) {
        *why = tu_format("%s did not exit within %d s of SIGTERM (killed)", what,
                         (int)(stop_timeout_ms() / 1000));
    } else if (code == VALGRIND_ERROR_EXIT && tu_under_valgrind()) {
        *why = tu_format("%s: valgrind reported errors (exit %d)", what, code);
    } else if (code != 0) {
        *why = tu_format("%s exited with status %d after SIGTERM", what, code);
    }
    if (*why != NULL) {
        print_log_tail(server->log_path);
    }
    return code;
}

/* cmocka 1.1 reports a failed group teardown but does not count it in the runner's exit
 * status; a server that crashed, leaked under valgrind or hung on SIGTERM must still fail the
 * run, so the exit status is forced at exit. */
static void exit_failed(void)
{
    fflush(NULL);
    _exit(1);
}

static void mark_teardown_failed(void)
{
    static bool registered;
    if (!registered) {
        registered = true;
        atexit(exit_failed);
    }
}

int it_stop(void)
{
    char *second_why = NULL;
    char *primary_why = NULL;
    stop_checked(&servers.second, "second server instance", &second_why);
    int code = stop_checked(&servers.primary, "server", &primary_why);
    bool dropped = harness_db_drop();
    if (primary_why != NULL || second_why != NULL || !dropped) {
        mark_teardown_failed();
    }
    if (primary_why != NULL || second_why != NULL) {
        fail_msg("harness: %s%s%s", primary_why ? primary_why : "",
                 primary_why && second_why ? "; " : "", second_why ? second_why : "");
    }
    if (!dropped) {
        fail_msg("harness: could not drop the test database");
    }
    return code;
}

/* start_server, failing the test with the end of the server's log when it does not start
 * ("harness: <what>: <why>"); the server's base URL. */
static const char *start_or_fail(server_process *server, const char *const *extra_env,
                                 const char *what)
{
    char *why = start_server(server, extra_env);
    if (why != NULL) {
        print_log_tail(server->log_path);
        fail_msg("harness: %s: %s", what, why);
    }
    return server->base_url;
}

const char *it_start_second_instance(const char *const *extra_env)
{
    if (servers.second.pid > 0) {
        fail_msg("harness: a second instance is already running");
    }
    return start_or_fail(&servers.second, extra_env, "second instance");
}

int it_stop_second_instance(void)
{
    char *why = NULL;
    int code = stop_checked(&servers.second, "second server instance", &why);
    if (why != NULL) {
        fail_msg("harness: %s", why);
    }
    return code;
}

int it_stop_server_only(void)
{
    if (servers.primary.pid <= 0 && servers.primary.died) {
        servers.primary.died = false;
        return servers.primary.died_status;
    }
    bool timed_out = false;
    int code = terminate_server(&servers.primary, &timed_out);
    if (timed_out) {
        print_log_tail(servers.primary.log_path);
        fail_msg("harness: server did not exit within %d s of SIGTERM (killed)",
                 (int)(stop_timeout_ms() / 1000));
    }
    return code;
}

const char *it_restart_server(const char *const *extra_env)
{
    if (servers.primary.pid > 0) {
        fail_msg("harness: it_restart_server: the server is still running");
    }
    if (it_database_url() == NULL) {
        fail_msg("harness: it_restart_server: no test database (call it_start first)");
    }
    return start_or_fail(&servers.primary, extra_env, "restart");
}

pid_t it_server_pid(void)
{
    return servers.primary.pid;
}

const char *it_base_url(void)
{
    return servers.primary.base_url;
}

const char *it_server_log_path(void)
{
    return servers.primary.log_path;
}

const char *it_direct_url(void)
{
    return servers.primary.proxy_pid > 0 ? servers.primary.direct_url : servers.primary.base_url;
}

const char *harness_direct_url(const char *base_url)
{
    if (servers.primary.proxy_pid > 0 && strcmp(base_url, servers.primary.base_url) == 0) {
        return servers.primary.direct_url;
    }
    return NULL;
}

void it_note_failure(const it_response *response)
{
    if (response->status != 0 && response->status < 500) {
        return;
    }
    print_log_tail(servers.primary.log_path);
    int status = 0;
    if (servers.primary.pid > 0 &&
        waitpid(servers.primary.pid, &status, WNOHANG) == servers.primary.pid) {
        servers.primary.died = true;
        servers.primary.died_status = harness_exit_code_of(status);
        servers.primary.pid = 0;
        fprintf(stderr, "harness: the server died (exit status %d)\n", servers.primary.died_status);
    }
}
