/* Integration test harness: creates a throwaway database per runner, runs `wasteflow migrate`
 * and `wasteflow serve` as child processes, and gives the tests an HTTP client (libcurl), a
 * blocking libpq connection and helpers for the checks every test repeats (problem+json,
 * "a rejected request changed nothing"). Failures go through cmocka, so they fail the test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"
#include "testutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

extern char **environ;

#define READY_TIMEOUT_MS          20000
#define READY_TIMEOUT_VALGRIND_MS 120000
#define STOP_TIMEOUT_MS           20000
#define MIGRATE_TIMEOUT_MS        120000
#define REQUEST_TIMEOUT_S         60L
#define REQUEST_TIMEOUT_VALGRIND  300L
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
    bool curl_ready;
    char *admin_conninfo;
    char db_name[64];
    char *db_conninfo;
    PGconn *db;
    server_process primary;
    server_process second;
    unsigned database_counter;
    unsigned name_counter;
    unsigned log_counter;
} H;

/* The public response followed by what it_header needs; it_response must stay first. */
typedef struct {
    it_response pub;
    char *request_line; /* "POST /v1/organizations", for failure messages */
    size_t body_cap;
    size_t headers_len;
    size_t headers_cap;
    size_t header_count;
    char **header_names;
    char **header_values;
} response_impl;

/* ---------------------------------------------------------------- small helpers */

static void *xmalloc(size_t size)
{
    void *memory = malloc(size ? size : 1);
    if (memory == NULL) {
        fail_msg("harness: out of memory");
    }
    return memory;
}

static char *xstrdup(const char *text)
{
    char *copy = strdup(text);
    if (copy == NULL) {
        fail_msg("harness: out of memory");
    }
    return copy;
}

static char *xvasprintf(const char *fmt, va_list args)
{
    char *out = NULL;
    if (vasprintf(&out, fmt, args) < 0) {
        fail_msg("harness: out of memory");
    }
    return out;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *out = xvasprintf(fmt, args);
    va_end(args);
    return out;
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

static const char *env_or_fail(const char *name)
{
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0') {
        fail_msg("harness: environment variable %s is not set", name);
    }
    return value;
}

/* valgrind's leak check at exit takes a while: more time to stop under it. */
static long long stop_timeout_ms(void)
{
    return tu_under_valgrind() ? 6LL * STOP_TIMEOUT_MS : STOP_TIMEOUT_MS;
}

static long request_timeout_s(void)
{
    return tu_under_valgrind() ? REQUEST_TIMEOUT_VALGRIND : REQUEST_TIMEOUT_S;
}

/* ---------------------------------------------------------------- child processes */

static bool env_name_matches(const char *entry, const char *assignment)
{
    const char *equals = strchr(assignment, '=');
    size_t name_len = equals ? (size_t)(equals - assignment) : strlen(assignment);
    return strncmp(entry, assignment, name_len) == 0 && entry[name_len] == '=';
}

static bool overridden(const char *entry, const char *const *list)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        if (env_name_matches(entry, list[i])) {
            return true;
        }
    }
    return false;
}

/* environ, then base, then extra; a later list overrides a variable of an earlier one.
 * Only the array is allocated; the strings are borrowed. */
static char **build_environment(const char *const *base, const char *const *extra)
{
    size_t count = 0;
    for (char **entry = environ; *entry != NULL; entry++) {
        count++;
    }
    for (size_t i = 0; base != NULL && base[i] != NULL; i++) {
        count++;
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        count++;
    }
    char **env = xmalloc((count + 1) * sizeof *env);
    size_t used = 0;
    for (char **entry = environ; *entry != NULL; entry++) {
        if (!overridden(*entry, base) && !overridden(*entry, extra)) {
            env[used++] = *entry;
        }
    }
    for (size_t i = 0; base != NULL && base[i] != NULL; i++) {
        if (!overridden(base[i], extra)) {
            env[used++] = (char *)base[i];
        }
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        env[used++] = (char *)extra[i];
    }
    env[used] = NULL;
    return env;
}

/* Forks and execs argv[0] (searched in PATH) with env. stdout goes to stdout_fd and stderr to
 * stderr_fd (-1: inherit). Returns the child's pid. */
static pid_t spawn(char *const argv[], char *const env[], int stdout_fd, int stderr_fd)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fail_msg("harness: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* A crashed test runner must not leave servers behind. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            _exit(126);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        if (stdout_fd >= 0) {
            dup2(stdout_fd, STDOUT_FILENO);
        }
        if (stderr_fd >= 0) {
            dup2(stderr_fd, STDERR_FILENO);
        }
        execvpe(argv[0], argv, env);
        fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* Waits up to timeout_ms for pid; true with *status set when it exited. */
static bool wait_with_timeout(pid_t pid, long long timeout_ms, int *status)
{
    long long deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        pid_t done = waitpid(pid, status, WNOHANG);
        if (done == pid) {
            return true;
        }
        if (done < 0 && errno != EINTR) {
            *status = 0;
            return true;
        }
        if (tu_now_ms() >= deadline) {
            return false;
        }
        tu_sleep_ms(20);
    }
}

/* Exit code, or 128 + signal number when killed by a signal. */
static int exit_code_of(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return -1;
}

static int open_log(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail_msg("harness: cannot open log %s: %s", path, strerror(errno));
    }
    return fd;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_msg("harness: socket: %s", strerror(errno));
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
        int saved = errno;
        close(fd);
        fail_msg("harness: cannot find a free port: %s", strerror(saved));
    }
    close(fd);
    return ntohs(address.sin_port);
}

/* ---------------------------------------------------------------- database */

static void ignore_notice(void *context, const char *message)
{
    (void)context;
    (void)message;
}

static PGconn *connect_or_fail(const char *conninfo, const char *what)
{
    PGconn *connection = PQconnectdb(conninfo);
    if (PQstatus(connection) != CONNECTION_OK) {
        char *message = xstrdup(PQerrorMessage(connection));
        PQfinish(connection);
        fail_msg("harness: cannot connect to the %s database: %s", what, message);
    }
    PQsetNoticeProcessor(connection, ignore_notice, NULL);
    return connection;
}

static void append_text(char **buffer, size_t *length, size_t *capacity, const char *text,
                        size_t text_len)
{
    if (*length + text_len + 1 > *capacity) {
        size_t wanted = *capacity ? *capacity : 256;
        while (*length + text_len + 1 > wanted) {
            wanted *= 2;
        }
        char *grown = realloc(*buffer, wanted);
        if (grown == NULL) {
            fail_msg("harness: out of memory");
        }
        *buffer = grown;
        *capacity = wanted;
    }
    memcpy(*buffer + *length, text, text_len);
    *length += text_len;
    (*buffer)[*length] = '\0';
}

/* Key=value conninfo equal to `conninfo` (URI or key=value) with dbname replaced. */
static char *conninfo_with_dbname(const char *conninfo, const char *dbname)
{
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &error);
    if (options == NULL) {
        char *message = xstrdup(error ? error : "out of memory");
        PQfreemem(error);
        fail_msg("harness: cannot parse DATABASE_URL: %s", message);
    }
    char *out = NULL;
    size_t length = 0, capacity = 0;
    for (PQconninfoOption *option = options; option->keyword != NULL; option++) {
        const char *value = option->val;
        if (strcmp(option->keyword, "dbname") == 0) {
            value = dbname;
        }
        if (value == NULL) {
            continue;
        }
        if (length > 0) {
            append_text(&out, &length, &capacity, " ", 1);
        }
        append_text(&out, &length, &capacity, option->keyword, strlen(option->keyword));
        append_text(&out, &length, &capacity, "='", 2);
        for (const char *c = value; *c != '\0'; c++) {
            if (*c == '\'' || *c == '\\') {
                append_text(&out, &length, &capacity, "\\", 1);
            }
            append_text(&out, &length, &capacity, c, 1);
        }
        append_text(&out, &length, &capacity, "'", 1);
    }
    PQconninfoFree(options);
    return out ? out : xstrdup("");
}

static PGresult *exec_admin(const char *sql, ExecStatusType expected)
{
    PGconn *admin = connect_or_fail(H.admin_conninfo, "admin (DATABASE_URL)");
    PGresult *result = PQexec(admin, sql);
    if (PQresultStatus(result) != expected) {
        char *message = xstrdup(PQerrorMessage(admin));
        PQclear(result);
        PQfinish(admin);
        fail_msg("harness: %s: %s", sql, message);
    }
    PQfinish(admin);
    return result;
}

/* Drops the test database; returns false (after printing why) instead of failing, so that
 * cleanup can go on. */
static bool drop_test_database(void)
{
    if (H.db_name[0] == '\0') {
        return true;
    }
    if (H.db != NULL) {
        PQfinish(H.db);
        H.db = NULL;
    }
    bool ok = true;
    PGconn *admin = PQconnectdb(H.admin_conninfo);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "harness: cannot connect to drop %s: %s", H.db_name, PQerrorMessage(admin));
        ok = false;
    } else {
        char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", H.db_name);
        PGresult *result = PQexec(admin, sql);
        if (PQresultStatus(result) != PGRES_COMMAND_OK) {
            fprintf(stderr, "harness: %s: %s", sql, PQerrorMessage(admin));
            ok = false;
        }
        PQclear(result);
        free(sql);
    }
    PQfinish(admin);
    H.db_name[0] = '\0';
    free(H.db_conninfo);
    H.db_conninfo = NULL;
    return ok;
}

/* ---------------------------------------------------------------- server processes */

static void new_log_path(server_process *server)
{
    H.log_counter++;
    if (H.log_counter == 1) {
        snprintf(server->log_path, sizeof server->log_path, "/tmp/wf-it-%ld-%u.log", (long)getpid(),
                 H.database_counter);
    } else {
        snprintf(server->log_path, sizeof server->log_path, "/tmp/wf-it-%ld-%u-%u.log",
                 (long)getpid(), H.database_counter, H.log_counter);
    }
}

/* Runs `wasteflow migrate` on the test database; false when it did not exit 0. */
static bool run_migrate(const char *log_path, char **why)
{
    const char *binary = env_or_fail("WASTEFLOW_BIN");
    char *database_env = xasprintf("DATABASE_URL=%s", H.db_conninfo);
    const char *base[] = {database_env, "WASTEFLOW_LOG_LEVEL=warn", NULL};
    char **env = build_environment(base, NULL);
    char *argv[] = {(char *)binary, "migrate", NULL};
    int log_fd = open_log(log_path);
    pid_t pid = spawn(argv, env, log_fd, log_fd);
    close(log_fd);
    free(env);
    free(database_env);
    int status = 0;
    if (!wait_with_timeout(pid, MIGRATE_TIMEOUT_MS, &status)) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        *why = xasprintf("`%s migrate` did not finish in %d s", binary, MIGRATE_TIMEOUT_MS / 1000);
        return false;
    }
    if (exit_code_of(status) != 0) {
        *why = xasprintf("`%s migrate` exited with %d", binary, exit_code_of(status));
        return false;
    }
    return true;
}

static bool readyz_is_200(const char *base_url)
{
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        return false;
    }
    char *url = xasprintf("%s/readyz", base_url);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, tu_under_valgrind() ? 10000L : 2000L);
    FILE *sink = fopen("/dev/null", "wb");
    if (sink != NULL) {
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
    }
    long code = 0;
    if (curl_easy_perform(curl) == CURLE_OK) {
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
        if (!wait_with_timeout(server->proxy_pid, 5000, &proxy_status)) {
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
    if (wait_with_timeout(server->pid, stop_timeout_ms(), &status)) {
        code = exit_code_of(status);
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
    const char *binary = env_or_fail("WASTEFLOW_BIN");
    server->died = false;
    server->port = free_port();
    snprintf(server->base_url, sizeof server->base_url, "http://127.0.0.1:%d", server->port);
    new_log_path(server);

    char *database_env = xasprintf("DATABASE_URL=%s", H.db_conninfo);
    char *listen_env = xasprintf("WASTEFLOW_LISTEN=127.0.0.1:%d", server->port);
    const char *base[] = {database_env, listen_env, "WASTEFLOW_LOG_LEVEL=warn", NULL};
    char **env = build_environment(base, extra_env);
    char *plain_argv[] = {(char *)binary, "serve", NULL};
    char *valgrind_argv[] = {"valgrind",
                             "--error-exitcode=99",
                             "--leak-check=full",
                             "--errors-for-leak-kinds=definite",
                             (char *)binary,
                             "serve",
                             NULL};
    int log_fd = open_log(server->log_path);
    server->pid = spawn(tu_under_valgrind() ? valgrind_argv : plain_argv, env, log_fd, log_fd);
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
            return xasprintf("`%s serve` exited with %d before it was ready", binary,
                             exit_code_of(status));
        }
        if (readyz_is_200(server->base_url)) {
            return start_contract_proxy(server);
        }
        if (tu_now_ms() >= deadline) {
            bool timed_out;
            terminate_server(server, &timed_out);
            return xasprintf(
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
    char *document = xasprintf("%s/lib/api/openapi.json", env_or_fail("WASTEFLOW_SOURCE_DIR"));
    char *upstream = xasprintf("http://127.0.0.1:%d", server->port);
    int proxy_port = free_port();
    char *port_text = xasprintf("%d", proxy_port);
    char *argv[] = {
        (char *)prism,  "proxy", document, upstream, "--errors", "--validate-request=false",
        "--cors=false", "-v",    "warn",   "--port", port_text,  "--host",
        "127.0.0.1",    NULL};
    extern char **environ;
    int log_fd = open_log(server->log_path);
    server->proxy_pid = spawn(argv, environ, log_fd, log_fd);
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
    return xasprintf("prism proxy did not answer on %s within 60 s", proxied);
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

static void ensure_curl(void)
{
    if (!H.curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fail_msg("harness: curl_global_init failed");
        }
        H.curl_ready = true;
    }
}

int it_start(const char *const *extra_env)
{
    ensure_curl();
    env_or_fail("WASTEFLOW_BIN");
    free(H.admin_conninfo);
    H.admin_conninfo = xstrdup(env_or_fail("DATABASE_URL"));

    H.database_counter++;
    H.log_counter = 0;
    char db_name[sizeof H.db_name];
    snprintf(db_name, sizeof db_name, "wf_it_%ld_%u", (long)getpid(), H.database_counter);
    /* Left over from a crashed run with the same pid: start clean. */
    char *drop = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    PQclear(exec_admin(drop, PGRES_COMMAND_OK));
    free(drop);
    char *create = xasprintf("CREATE DATABASE %s", db_name);
    PQclear(exec_admin(create, PGRES_COMMAND_OK));
    free(create);
    /* From here on it_stop drops it. */
    memcpy(H.db_name, db_name, sizeof H.db_name);
    free(H.db_conninfo);
    H.db_conninfo = conninfo_with_dbname(H.admin_conninfo, H.db_name);

    new_log_path(&H.primary);
    H.log_counter = 0; /* the server's log is the same file as migrate's */
    char *why = NULL;
    if (!run_migrate(H.primary.log_path, &why)) {
        print_log_tail(H.primary.log_path);
        drop_test_database();
        fail_msg("harness: %s", why);
    }
    why = start_server(&H.primary, extra_env);
    if (why != NULL) {
        print_log_tail(H.primary.log_path);
        drop_test_database();
        fail_msg("harness: %s", why);
    }
    H.db = connect_or_fail(H.db_conninfo, "test");
    return 0;
}

/* Stops one server, asserting a clean exit; returns its exit code. */
static int stop_checked(server_process *server, const char *what, char **why)
{
    if (server->pid <= 0) {
        if (server->died) {
            server->died = false;
            *why = xasprintf("%s died while the tests ran (exit status %d)", what,
                             server->died_status);
            return server->died_status;
        }
        return 0;
    }
    bool timed_out = false;
    int code = terminate_server(server, &timed_out);
    if (timed_out) {
        *why = xasprintf("%s did not exit within %d s of SIGTERM (killed)", what,
                         (int)(stop_timeout_ms() / 1000));
    } else if (code == VALGRIND_ERROR_EXIT && tu_under_valgrind()) {
        *why = xasprintf("%s: valgrind reported errors (exit %d)", what, code);
    } else if (code != 0) {
        *why = xasprintf("%s exited with status %d after SIGTERM", what, code);
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
    stop_checked(&H.second, "second server instance", &second_why);
    int code = stop_checked(&H.primary, "server", &primary_why);
    bool dropped = drop_test_database();
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

const char *it_start_second_instance(const char *const *extra_env)
{
    if (H.second.pid > 0) {
        fail_msg("harness: a second instance is already running");
    }
    char *why = start_server(&H.second, extra_env);
    if (why != NULL) {
        print_log_tail(H.second.log_path);
        fail_msg("harness: second instance: %s", why);
    }
    return H.second.base_url;
}

int it_stop_second_instance(void)
{
    char *why = NULL;
    int code = stop_checked(&H.second, "second server instance", &why);
    if (why != NULL) {
        fail_msg("harness: %s", why);
    }
    return code;
}

int it_stop_server_only(void)
{
    if (H.primary.pid <= 0 && H.primary.died) {
        H.primary.died = false;
        return H.primary.died_status;
    }
    bool timed_out = false;
    int code = terminate_server(&H.primary, &timed_out);
    if (timed_out) {
        print_log_tail(H.primary.log_path);
        fail_msg("harness: server did not exit within %d s of SIGTERM (killed)",
                 (int)(stop_timeout_ms() / 1000));
    }
    return code;
}

const char *it_restart_server(const char *const *extra_env)
{
    if (H.primary.pid > 0) {
        fail_msg("harness: it_restart_server: the server is still running");
    }
    if (H.db_conninfo == NULL) {
        fail_msg("harness: it_restart_server: no test database (call it_start first)");
    }
    char *why = start_server(&H.primary, extra_env);
    if (why != NULL) {
        print_log_tail(H.primary.log_path);
        fail_msg("harness: restart: %s", why);
    }
    return H.primary.base_url;
}

pid_t it_server_pid(void)
{
    return H.primary.pid;
}

const char *it_base_url(void)
{
    return H.primary.base_url;
}

const char *it_database_url(void)
{
    return H.db_conninfo;
}

const char *it_server_log_path(void)
{
    return H.primary.log_path;
}

/* ---------------------------------------------------------------- HTTP client */

static size_t on_body(char *data, size_t size, size_t count, void *context)
{
    response_impl *response = context;
    size_t length = size * count;
    append_text(&response->pub.body, &response->pub.body_len, &response->body_cap, data, length);
    return length;
}

static size_t on_header(char *data, size_t size, size_t count, void *context)
{
    response_impl *response = context;
    size_t length = size * count;
    /* A new status line (after an interim 1xx) starts a new header block. */
    if (length >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        response->headers_len = 0;
        if (response->pub.headers != NULL) {
            response->pub.headers[0] = '\0';
        }
    }
    append_text(&response->pub.headers, &response->headers_len, &response->headers_cap, data,
                length);
    return length;
}

static void index_headers(response_impl *response)
{
    size_t lines = 0;
    for (const char *c = response->pub.headers; c && *c; c++) {
        lines += *c == '\n';
    }
    response->header_names = xmalloc((lines + 1) * sizeof(char *));
    response->header_values = xmalloc((lines + 1) * sizeof(char *));
    const char *line = response->pub.headers;
    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t line_len = end ? (size_t)(end - line) : strlen(line);
        const char *colon = memchr(line, ':', line_len);
        if (colon != NULL && strncmp(line, "HTTP/", 5) != 0) {
            const char *value = colon + 1;
            const char *value_end = line + line_len;
            while (value < value_end && (*value == ' ' || *value == '\t')) {
                value++;
            }
            while (value_end > value && isspace((unsigned char)value_end[-1])) {
                value_end--;
            }
            size_t i = response->header_count++;
            response->header_names[i] = strndup(line, (size_t)(colon - line));
            response->header_values[i] = strndup(value, (size_t)(value_end - value));
            if (!response->header_names[i] || !response->header_values[i]) {
                fail_msg("harness: out of memory");
            }
        }
        line = end ? end + 1 : NULL;
    }
}

it_response *it_request_to(const char *base_url, const char *method, const char *path,
                           const char *body, const char *const *headers)
{
    ensure_curl();
    response_impl *response = calloc(1, sizeof *response);
    if (response == NULL) {
        fail_msg("harness: out of memory");
    }
    append_text(&response->pub.body, &response->pub.body_len, &response->body_cap, "", 0);
    append_text(&response->pub.headers, &response->headers_len, &response->headers_cap, "", 0);
    response->request_line = xasprintf("%s %s", method, path);

    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        fail_msg("harness: curl_easy_init failed");
    }
    /* Prism parses every body it proxies and answers malformed JSON itself, so the
     * suite's deliberately malformed bodies go straight to the server. */
    if (H.primary.proxy_pid > 0 && strcmp(base_url, H.primary.base_url) == 0 && body != NULL &&
        body[0] != '\0') {
        cJSON *parsed = cJSON_Parse(body);
        if (parsed == NULL) {
            base_url = H.primary.direct_url;
        }
        cJSON_Delete(parsed);
    }
    char *url = xasprintf("%s%s", base_url, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, request_timeout_s());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, response);
    /* Keep the path exactly as the test wrote it ("/v1/./x" stays). */
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);

    struct curl_slist *header_list = NULL;
    bool has_content_type = false;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        if (strncasecmp(headers[i], "Content-Type:", 13) == 0) {
            has_content_type = true;
        }
        header_list = curl_slist_append(header_list, headers[i]);
    }
    bool sends_body = body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                      strcmp(method, "PATCH") == 0;
    if (body != NULL && !has_content_type) {
        header_list = curl_slist_append(header_list, "Content-Type: application/json");
    } else if (sends_body && !has_content_type) {
        /* An empty body: keep curl from inventing a form content type. */
        header_list = curl_slist_append(header_list, "Content-Type:");
    }
    /* No "Expect: 100-continue" round trip for larger bodies. */
    header_list = curl_slist_append(header_list, "Expect:");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);

    if (strcmp(method, "GET") == 0 && body == NULL) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    if (sends_body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
    }

    CURLcode result = curl_easy_perform(curl);
    if (result == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        response->pub.status = (int)code;
    } else {
        fprintf(stderr, "harness: %s %s%s: transport error: %s\n", method, base_url, path,
                curl_easy_strerror(result));
        response->pub.status = 0;
    }
    curl_slist_free_all(header_list);
    curl_easy_cleanup(curl);
    free(url);

    index_headers(response);
    if (response->pub.body_len > 0) {
        response->pub.json = cJSON_ParseWithLength(response->pub.body, response->pub.body_len);
    }
    return &response->pub;
}

it_response *it_request(const char *method, const char *path, const char *body,
                        const char *const *headers)
{
    if (H.primary.base_url[0] == '\0') {
        fail_msg("harness: no server (it_start not called)");
    }
    return it_request_to(H.primary.base_url, method, path, body, headers);
}

it_response *it_get(const char *path_fmt, ...)
{
    va_list args;
    va_start(args, path_fmt);
    char *path = xvasprintf(path_fmt, args);
    va_end(args);
    it_response *response = it_request("GET", path, NULL, NULL);
    free(path);
    return response;
}

it_response *it_post(const char *path, const char *body_fmt, ...)
{
    va_list args;
    va_start(args, body_fmt);
    char *body = xvasprintf(body_fmt, args);
    va_end(args);
    it_response *response = it_request("POST", path, body, NULL);
    free(body);
    return response;
}

it_response *it_patch(const char *path, const char *body_fmt, ...)
{
    va_list args;
    va_start(args, body_fmt);
    char *body = xvasprintf(body_fmt, args);
    va_end(args);
    it_response *response = it_request("PATCH", path, body, NULL);
    free(body);
    return response;
}

it_response *it_delete(const char *path_fmt, ...)
{
    va_list args;
    va_start(args, path_fmt);
    char *path = xvasprintf(path_fmt, args);
    va_end(args);
    it_response *response = it_request("DELETE", path, NULL, NULL);
    free(path);
    return response;
}

void it_response_free(it_response *public_response)
{
    if (public_response == NULL) {
        return;
    }
    response_impl *response = (response_impl *)public_response;
    for (size_t i = 0; i < response->header_count; i++) {
        free(response->header_names[i]);
        free(response->header_values[i]);
    }
    free(response->header_names);
    free(response->header_values);
    free(response->request_line);
    cJSON_Delete(public_response->json);
    free(public_response->body);
    free(public_response->headers);
    free(response);
}

const char *it_header(const it_response *public_response, const char *name)
{
    const response_impl *response = (const response_impl *)public_response;
    for (size_t i = 0; i < response->header_count; i++) {
        if (strcasecmp(response->header_names[i], name) == 0) {
            return response->header_values[i];
        }
    }
    return NULL;
}

const char *it_request_line(const it_response *public_response)
{
    return ((const response_impl *)public_response)->request_line;
}

/* ---------------------------------------------------------------- assertions */

void it_note_failure(const it_response *response)
{
    if (response->status != 0 && response->status < 500) {
        return;
    }
    print_log_tail(H.primary.log_path);
    int status = 0;
    if (H.primary.pid > 0 && waitpid(H.primary.pid, &status, WNOHANG) == H.primary.pid) {
        H.primary.died = true;
        H.primary.died_status = exit_code_of(status);
        H.primary.pid = 0;
        fprintf(stderr, "harness: the server died (exit status %d)\n", H.primary.died_status);
    }
}

#define RESPONSE_FAIL(response, fmt, ...)                                                          \
    do {                                                                                           \
        it_note_failure(response);                                                                 \
        fail_msg("%s -> %d: " fmt "\n  body: %.2000s", it_request_line(response),                  \
                 (response)->status, __VA_ARGS__, (response)->body);                               \
    } while (0)

/* ---------------------------------------------------------------- SQL */

PGconn *it_db(void)
{
    if (H.db == NULL) {
        if (H.db_conninfo == NULL) {
            fail_msg("harness: no test database (it_start not called)");
        }
        H.db = connect_or_fail(H.db_conninfo, "test");
    }
    return H.db;
}

static PGresult *query_or_fail(const char *sql)
{
    PGconn *db = it_db();
    PGresult *result = PQexec(db, sql);
    ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        char *message = xstrdup(PQerrorMessage(db));
        PQclear(result);
        fail_msg("harness: SQL failed: %s\n  %s", sql, message);
    }
    return result;
}

long long it_sql_int(const char *sql_fmt, ...)
{
    va_list args;
    va_start(args, sql_fmt);
    char *sql = xvasprintf(sql_fmt, args);
    va_end(args);
    PGresult *result = query_or_fail(sql);
    if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1 ||
        PQnfields(result) != 1 || PQgetisnull(result, 0, 0)) {
        int rows = PQntuples(result);
        PQclear(result);
        fail_msg("harness: expected one non-null value from: %s (got %d rows)", sql, rows);
    }
    const char *text = PQgetvalue(result, 0, 0);
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') {
        char *copy = xstrdup(text);
        PQclear(result);
        fail_msg("harness: not an integer: '%s' from: %s", copy, sql);
    }
    PQclear(result);
    free(sql);
    return value;
}

void it_sql_exec(const char *sql_fmt, ...)
{
    va_list args;
    va_start(args, sql_fmt);
    char *sql = xvasprintf(sql_fmt, args);
    va_end(args);
    PQclear(query_or_fail(sql));
    free(sql);
}

char *it_db_fingerprint(void)
{
    PGconn *db = it_db();
    PGresult *tables =
        query_or_fail("SELECT table_name FROM information_schema.tables"
                      " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                      " AND table_name NOT IN ('schema_migrations', 'idempotency_keys')"
                      " ORDER BY table_name COLLATE \"C\"");
    char *out = NULL;
    size_t length = 0, capacity = 0;
    append_text(&out, &length, &capacity, "", 0);
    for (int row = 0; row < PQntuples(tables); row++) {
        const char *table = PQgetvalue(tables, row, 0);
        char *quoted = PQescapeIdentifier(db, table, strlen(table));
        if (quoted == NULL) {
            fail_msg("harness: cannot quote table name %s", table);
        }
        char *sql = xasprintf("SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text "
                              "COLLATE \"C\"), '')) FROM public.%s t",
                              quoted);
        PQfreemem(quoted);
        PGresult *digest = query_or_fail(sql);
        free(sql);
        char *entry = xasprintf("%s%s=%s", row ? " " : "", table, PQgetvalue(digest, 0, 0));
        append_text(&out, &length, &capacity, entry, strlen(entry));
        free(entry);
        PQclear(digest);
    }
    PQclear(tables);
    return out;
}

char *it_run_audit(void)
{
    if (H.db_conninfo == NULL) {
        fail_msg("harness: no test database (it_start not called)");
    }
    char *script = NULL;
    const char *source_dir = getenv("WASTEFLOW_SOURCE_DIR");
    if (source_dir != NULL && source_dir[0] != '\0') {
        script = xasprintf("%s/sql/audit.sql", source_dir);
    } else {
        /* __FILE__ is <source>/test/integration/harness.c when built by CMake. */
        char *self = xstrdup(__FILE__);
        char *last_slash = strrchr(self, '/');
        if (last_slash != NULL) {
            *last_slash = '\0';
        }
        script = xasprintf("%s/../../sql/audit.sql", last_slash ? self : ".");
        free(self);
    }
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        fail_msg("harness: pipe: %s", strerror(errno));
    }
    char *argv[] = {"psql", "-X",          "-q", "-A",   "-t", "-v", "ON_ERROR_STOP=1",
                    "-d",   H.db_conninfo, "-f", script, NULL};
    pid_t pid = spawn(argv, environ, pipe_fds[1], -1);
    close(pipe_fds[1]);
    char *output = NULL;
    size_t length = 0, capacity = 0;
    append_text(&output, &length, &capacity, "", 0);
    char chunk[4096];
    ssize_t got;
    while ((got = read(pipe_fds[0], chunk, sizeof chunk)) != 0) {
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        append_text(&output, &length, &capacity, chunk, (size_t)got);
    }
    close(pipe_fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (exit_code_of(status) != 0) {
        fail_msg("harness: psql -f %s exited with %d; output:\n%s", script, exit_code_of(status),
                 output);
    }
    free(script);
    size_t start = 0;
    while (start < length && isspace((unsigned char)output[start])) {
        start++;
    }
    while (length > start && isspace((unsigned char)output[length - 1])) {
        length--;
    }
    memmove(output, output + start, length - start);
    output[length - start] = '\0';
    return output;
}

char *it_url_escape(const char *text)
{
    ensure_curl();
    char *escaped = curl_easy_escape(NULL, text, 0);
    if (escaped == NULL) {
        fail_msg("harness: curl_easy_escape failed");
    }
    char *copy = xstrdup(escaped);
    curl_free(escaped);
    return copy;
}

/* ---------------------------------------------------------------- JSON helpers */

char *it_json_quote(const char *text)
{
    cJSON *string = cJSON_CreateString(text);
    char *printed = string ? cJSON_PrintUnformatted(string) : NULL;
    cJSON_Delete(string);
    if (printed == NULL) {
        fail_msg("harness: cannot JSON-quote a string");
    }
    return printed;
}

const cJSON *it_json_at(const cJSON *root, const char *path)
{
    const cJSON *node = root;
    const char *segment = path;
    while (node != NULL && segment != NULL && *segment != '\0') {
        const char *dot = strchr(segment, '.');
        size_t length = dot ? (size_t)(dot - segment) : strlen(segment);
        char *key = strndup(segment, length);
        if (key == NULL) {
            fail_msg("harness: out of memory");
        }
        if (cJSON_IsArray(node) && length > 0 && strspn(key, "0123456789") == length) {
            node = cJSON_GetArrayItem(node, atoi(key));
        } else if (cJSON_IsObject(node)) {
            node = cJSON_GetObjectItemCaseSensitive(node, key);
        } else {
            node = NULL;
        }
        free(key);
        segment = dot ? dot + 1 : NULL;
    }
    return node;
}

static char *print_json(const cJSON *node)
{
    char *printed = node ? cJSON_PrintUnformatted(node) : NULL;
    return printed ? printed : xstrdup("(absent)");
}

long long it_json_int(const cJSON *root, const char *path)
{
    const cJSON *node = it_json_at(root, path);
    if (!cJSON_IsNumber(node) || node->valuedouble != (double)(long long)node->valuedouble) {
        char *printed = print_json(root);
        fail_msg("harness: '%s' is not an integer in %.2000s", path, printed);
    }
    return (long long)node->valuedouble;
}

const char *it_json_str(const cJSON *root, const char *path)
{
    const cJSON *node = it_json_at(root, path);
    if (!cJSON_IsString(node)) {
        char *printed = print_json(root);
        fail_msg("harness: '%s' is not a string in %.2000s", path, printed);
    }
    return node->valuestring;
}

/* ---------------------------------------------------------------- entities */

static long long create_entity(const char *path, const char *body)
{
    it_response *response = it_request("POST", path, body, NULL);
    if (response->status != 201) {
        RESPONSE_FAIL(response, "expected 201 creating with %s", body);
    }
    long long id = it_json_int(response->json, "id");
    it_response_free(response);
    return id;
}

long long it_create_org(const char *name, const char *capacity_json)
{
    char *quoted = it_json_quote(name);
    char *body = capacity_json ? xasprintf("{\"name\":%s,\"capacity\":%s}", quoted, capacity_json)
                               : xasprintf("{\"name\":%s}", quoted);
    long long id = create_entity("/v1/organizations", body);
    free(body);
    free(quoted);
    return id;
}

long long it_create_storage(const char *name, const char *capacity_json)
{
    char *quoted = it_json_quote(name);
    char *body = capacity_json ? xasprintf("{\"name\":%s,\"capacity\":%s}", quoted, capacity_json)
                               : xasprintf("{\"name\":%s}", quoted);
    long long id = create_entity("/v1/storages", body);
    free(body);
    free(quoted);
    return id;
}

long long it_create_route(const char *from_json, const char *to_json, long long distance_m,
                          bool two_way)
{
    char *body = xasprintf("{\"from\":%s,\"to\":%s,\"distance_m\":%lld,\"two_way\":%s}", from_json,
                           to_json, distance_m, two_way ? "true" : "false");
    long long id = create_entity("/v1/routes", body);
    free(body);
    return id;
}

char *it_unique_name(const char *prefix)
{
    H.name_counter++;
    return xasprintf("%s-%ld-%u", prefix, (long)getpid(), H.name_counter);
}
