/* A port on 127.0.0.1 that drops connection attempts instead of refusing them, as the
 * address of a machine that is gone does: a listening socket that never accepts, with its
 * accept queue (backlog 0: one connection) already full, so Linux drops every further SYN
 * and the client retransmits it for minutes. No root, no firewall rule; only our sockets.
 * Shared by the pool's runner (test_pool.c) and the server's (test_multihost.c), which both
 * put it first in a list of database hosts. Include after <cmocka.h>. */
#ifndef WF_IT_BLACKHOLE_H
#define WF_IT_BLACKHOLE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int listener, filler, port;
} blackhole;

/* Opens one; fails the test when this kernel answers a connect to a full accept queue. */
static inline blackhole blackhole_open(void)
{
    blackhole b = {-1, -1, 0};
    b.listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(b.listener >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    assert_int_equal(bind(b.listener, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(b.listener, 0), 0);
    assert_int_equal(getsockname(b.listener, (struct sockaddr *)&addr, &len), 0);
    b.port = ntohs(addr.sin_port);
    b.filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(b.filler >= 0);
    assert_int_equal(connect(b.filler, (struct sockaddr *)&addr, sizeof addr), 0);
    /* The fixture must really blackhole: a probe may not connect, nor be refused. */
    int probe = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(probe >= 0);
    int rc = connect(probe, (struct sockaddr *)&addr, sizeof addr);
    assert_true(rc < 0 && errno == EINPROGRESS);
    struct pollfd pfd = {.fd = probe, .events = POLLOUT};
    if (poll(&pfd, 1, 300) != 0) {
        fail_msg("127.0.0.1:%d answered a connect although its accept queue is full: this "
                 "kernel does not drop SYNs on overflow, the blackhole tests cannot run",
                 b.port);
    }
    close(probe);
    return b;
}

static inline void blackhole_close(blackhole *b)
{
    close(b->filler);
    close(b->listener);
}

#endif
