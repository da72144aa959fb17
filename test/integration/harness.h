/* Integration test harness: a fresh PostgreSQL database and a real wasteflow server per
 * test runner, an HTTP client (libcurl) and direct SQL access for checking invariants.
 * Every function fails the running test (cmocka) on a problem unless it says otherwise;
 * the assertions the tests make are testutil.h's.
 *
 * Environment: DATABASE_URL (a role allowed to CREATE DATABASE; its database is used only to
 * create and drop the test database), WASTEFLOW_BIN (the server binary), WASTEFLOW_VALGRIND=1
 * (the server runs under valgrind memcheck), WASTEFLOW_PRISM (requests go through Prism's
 * contract proxy).
 *
 * Sources: it_server.c (servers), it_http.c (HTTP client), it_db.c (database and SQL),
 * it_entities.c, it_json.c, it_jwt.c; it_process.c and it_alloc.c serve the others (it_internal.h).
 */
#ifndef WF_IT_HARNESS_H
#define WF_IT_HARNESS_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h> /* pid_t */

/* ---- servers (it_server.c) ---- */

/* Creates a fresh database named wf_it_<pid>_<n>, runs `wasteflow migrate` on it and starts
 * `wasteflow serve` on a free 127.0.0.1 port, waiting until /readyz answers 200.
 * extra_env: NULL or a NULL-terminated list of "NAME=value" added to the server's environment.
 * Returns 0. */
int it_start(const char *const *extra_env);
/* Stops the server (SIGTERM, waits for exit; returns its exit status) and drops the database;
 * fails unless every server exited cleanly (and then makes the runner's exit status fail
 * too, which cmocka does not do for a failed group teardown). */
int it_stop(void);
/* Starts a second server instance on the same database (for multi-instance tests);
 * returns its base URL ("http://127.0.0.1:port"), owned by the harness. */
const char *it_start_second_instance(const char *const *extra_env);
/* Stops the second instance (SIGTERM), asserting a clean exit; returns its exit status. */
int it_stop_second_instance(void);
/* SIGTERMs the server process and returns its exit status without dropping the database. */
int it_stop_server_only(void);
/* After it_stop_server_only: starts the primary server again on the same database (new port,
 * new log file) and waits for /readyz; returns the new base URL (owned by the harness). */
const char *it_restart_server(const char *const *extra_env);
/* The open-file limit (RLIMIT_NOFILE, soft and hard, set in the child before exec) of the
 * servers started from now on; 0, the default, leaves them the runner's. */
void it_set_server_open_files(long limit);
pid_t it_server_pid(void);
const char *it_base_url(void);
/* The primary server itself: it_base_url, except behind the contract proxy
 * (WASTEFLOW_PRISM), where it is the server's own address rather than the proxy's. */
const char *it_direct_url(void);
/* Log file of the primary server (stdout and stderr). */
const char *it_server_log_path(void);

/* ---- HTTP client (it_http.c; test thread only) ---- */

typedef struct {
    int status; /* HTTP status, 0 when the request failed at transport level */
    char *body; /* NUL-terminated body (never NULL) */
    size_t body_len;
    cJSON *json;   /* parsed body, or NULL when not JSON */
    char *headers; /* raw response header block, "Name: value\r\n" lines */
} it_response;

/* Sends a request to the primary server. body may be NULL. headers: NULL or a
 * NULL-terminated list of "Name: value". When body is non-NULL and headers do not set
 * Content-Type, "Content-Type: application/json" is sent. */
it_response *it_request(const char *method, const char *path, const char *body,
                        const char *const *headers);
/* Same, against any base URL (second instance). */
it_response *it_request_to(const char *base_url, const char *method, const char *path,
                           const char *body, const char *const *headers);
/* method with a printf-style text: the body (JSON) when path is given, else the path. */
it_response *it_request_fmt(const char *method, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The shortcuts: it_get(path_fmt, ...), it_post(path, body_fmt, ...),
 * it_patch(path, body_fmt, ...), it_delete(path_fmt, ...). */
#define it_get(...)         it_request_fmt("GET", NULL, __VA_ARGS__)
#define it_post(path, ...)  it_request_fmt("POST", (path), __VA_ARGS__)
#define it_patch(path, ...) it_request_fmt("PATCH", (path), __VA_ARGS__)
#define it_delete(...)      it_request_fmt("DELETE", NULL, __VA_ARGS__)
void it_response_free(it_response *response);
/* Header value (case-insensitive name), or NULL. Returned pointer is owned by the response. */
const char *it_header(const it_response *response, const char *name);
/* "METHOD /path" of the request that produced the response (owned by the response). */
const char *it_request_line(const it_response *response);
/* Before a test fails on this response: after a transport error (status 0) or a 5xx, finds
 * out whether the server died (so that it_stop fails too) and prints the end of its log;
 * nothing for any other status. The assertions of testutil.h call it. */
void it_note_failure(const it_response *response);
/* Performs the request set up on curl with these request headers (NULL: none; freed here)
 * and the ones every request of the suite carries. Every HTTP request of the harness, of
 * testutil's tu_http_call and of a runner's own curl client goes through here, so that a
 * header every request needs (Authorization, once access control comes) is one edit.
 * Thread-safe: any thread, on its own handle. */
CURLcode it_http_perform(CURL *curl, struct curl_slist *headers);
/* Percent-encodes text for a query string (e.g. an opaque cursor); caller frees. */
char *it_url_escape(const char *text);

/* ---- the test database (it_db.c) ---- */

const char *it_database_url(void); /* conninfo of the test database (as its owner) */
/* conninfo of the test database as the app role (wasteflow_app), which `serve` runs as. */
const char *it_app_database_url(void);
/* conninfo of the test database as another login role (caller frees). */
char *it_database_url_as(const char *user);

/* ---- credentials ---- */

/* The admin key it_start made with `wasteflow keys create --role admin`: every request of
 * the harness and of tu_http_call carries it unless its headers set Authorization (send
 * "Authorization:" alone to send none). */
const char *it_admin_key(void);
/* A new key from `wasteflow keys create --role role [--organization id | --storage id]`
 * (ids 0 to leave out); the token, caller frees. Fails the test unless the command succeeds. */
char *it_new_key(const char *role, long long organization_id, long long storage_id);
/* Runs `wasteflow keys ARGS...` (NULL-terminated); returns its exit code and, when out is not
 * NULL, its stdout (caller frees). */
int it_keys_command(const char *const *args, char **out);
/* Runs `wasteflow ARGS...` (NULL-terminated, at most 14) on the test database as its owner,
 * with extra_env (NULL or a NULL-terminated list of "NAME=value") added to the environment,
 * in the runner's working directory; returns its exit code (-1: it did not finish within two
 * minutes and was killed) and, when output is not NULL, its stdout and stderr together
 * (caller frees). */
int it_run_command(const char *const *args, const char *const *extra_env, char **output);
/* Runs `wasteflow seed case1` on the test database (the picture); returns its exit code. */
int it_seed_case1(void);
/* An HS256 JWT: claims_json (a JSON object's text) signed with secret, as a server with
 * WASTEFLOW_JWT_SECRET=secret (and the WASTEFLOW_JWT_ISSUER and WASTEFLOW_JWT_AUDIENCE that
 * the claims' iss and aud name) accepts it (it_jwt.c). Caller frees. */
char *it_jwt_hs256(const char *secret, const char *claims_json);
/* "Authorization: Bearer <key>" in one of 16 rotating buffers. */
const char *it_bearer(const char *key);
/* Blocking connection to the test database (owned by the harness). */
PGconn *it_db(void);
/* The PostgreSQL cluster behind DATABASE_URL, for runners that stop and start it. */
typedef struct {
    char data_dir[512];
    char pg_ctl[512];
    char runuser[64]; /* empty, or runuser's path: we are root and run pg_ctl as owner */
    char owner[64];
    char log_path[600]; /* deploy/pg-local.sh's postgres.log next to data/, else fallback */
} it_cluster;
/* Fills cluster when the cluster runs on this machine and this process may run pg_ctl on it
 * (as its owner, or as root through runuser); else false with the reason in why (skip). */
bool it_cluster_find(it_cluster *cluster, const char *fallback_log, char *why, size_t why_size);
/* Runs SQL expected to return one row, one column integer; fails the test otherwise. */
long long it_sql_int(const char *sql_fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs SQL without result; fails on error. */
void it_sql_exec(const char *sql_fmt, ...) __attribute__((format(printf, 1, 2)));
/* Fingerprint (md5 text) of the contents of every table in schema public except
 * schema_migrations and idempotency_keys: equal before and after a rejected request proves
 * it changed nothing. Caller frees. */
char *it_db_fingerprint(void);
/* Runs sql/audit.sql with psql against the test database; returns its output (caller frees).
 * Empty output means every invariant holds. */
char *it_run_audit(void);

/* ---- entities (it_entities.c) ---- */

/* Creates entities through the API and returns their ids (fails the test on non-201). */
long long it_create_org(const char *name, const char *capacity_json);
long long it_create_storage(const char *name, const char *capacity_json);
long long it_create_route(const char *from_json, const char *to_json, long long distance_m,
                          bool two_way);
/* A name unique within this test process (prefix + counter), caller frees. */
char *it_unique_name(const char *prefix);

/* ---- JSON (it_json.c) ---- */

/* Paths are dotted: "capacity.glass", "items.0.id" ("" is the root). */
const cJSON *it_json_at(const cJSON *root, const char *path); /* NULL when absent */
long long it_json_int(const cJSON *root, const char *path);   /* fails unless an integer */
const char *it_json_str(const cJSON *root, const char *path); /* fails unless a string */
/* JSON string literal for text, quotes included; caller frees. */
char *it_json_quote(const char *text);

#endif
