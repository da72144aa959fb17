/* Child processes of the harness (the server, migrate, psql, the contract proxy): their
 * environment, fork and exec, waiting with a deadline, exit codes, log files, and a free
 * port for a server to listen on. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "it_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

extern char **environ;

const char *harness_env_or_fail(const char *name)
{
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0') {
        fail_msg("harness: environment variable %s is not set", name);
    }
    return value;
}

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

char **harness_build_environment(const char *const *base, const char *const *extra)
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
    char **env = harness_xmalloc((count + 1) * sizeof *env);
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

pid_t harness_spawn(char *const argv[], char *const env[], int stdout_fd, int stderr_fd)
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

bool harness_wait_with_timeout(pid_t pid, long long timeout_ms, int *status)
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

int harness_exit_code_of(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return -1;
}

int harness_open_log(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail_msg("harness: cannot open log %s: %s", path, strerror(errno));
    }
    return fd;
}

int harness_free_port(void)
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
