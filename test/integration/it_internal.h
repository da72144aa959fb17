/* What the harness's own files (it_*.c) share and the runners do not see: harness.h is the
 * harness's interface. Every function here fails the running test (cmocka) on a problem
 * unless it says otherwise. The harness uses testutil's one copy of the clock and of text
 * formatting (tu_now_ms, tu_sleep_ms, tu_under_valgrind, tu_format). */
#ifndef WF_IT_INTERNAL_H
#define WF_IT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h> /* pid_t */

#include "harness.h"

/* ---- memory (it_alloc.c) ---- */

void *harness_xmalloc(size_t size);
char *harness_xstrdup(const char *text);
/* Appends text_len bytes of text to the NUL-terminated *buffer (length, capacity: its
 * bookkeeping; all three zero/NULL for a new buffer), growing it as needed. */
void harness_append_text(char **buffer, size_t *length, size_t *capacity, const char *text,
                         size_t text_len);

/* ---- child processes (it_process.c) ---- */

/* The value of an environment variable, which must be set and not empty. */
const char *harness_env_or_fail(const char *name);
/* environ, then base, then extra; a later list overrides a variable of an earlier one.
 * Only the array is allocated (caller frees); the strings are borrowed. */
char **harness_build_environment(const char *const *base, const char *const *extra);
/* Forks and execs argv[0] (searched in PATH) with env. stdout goes to stdout_fd and stderr to
 * stderr_fd (-1: inherit). Returns the child's pid. */
pid_t harness_spawn(char *const argv[], char *const env[], int stdout_fd, int stderr_fd);
/* Waits up to timeout_ms for pid; true with *status set when it exited. */
bool harness_wait_with_timeout(pid_t pid, long long timeout_ms, int *status);
/* Exit code, or 128 + signal number when killed by a signal. */
int harness_exit_code_of(int status);
/* Opens (creates) a log file for appending; returns its descriptor. */
int harness_open_log(const char *path);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int harness_free_port(void);

/* ---- the test database (it_db.c) ---- */

/* Creates the empty database wf_it_<pid>_<number> (dropping one that a crashed run with the
 * same pid left behind); it_database_url() names it from then on. */
void harness_db_create(unsigned number);
/* Drops the test database; returns false (after printing why) instead of failing, so that
 * cleanup can go on. */
bool harness_db_drop(void);

/* ---- servers (it_server.c) ---- */

/* The server itself when base_url is the primary server's behind the Prism contract proxy
 * (WASTEFLOW_PRISM); NULL otherwise. */
const char *harness_direct_url(const char *base_url);

/* ---- HTTP (it_http.c) ---- */

/* curl_global_init, once. */
void harness_curl_init(void);

#endif
