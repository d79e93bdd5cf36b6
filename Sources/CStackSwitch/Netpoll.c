#define _GNU_SOURCE
#include "Netpoll.h"
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

int gr_netpoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int gr_netpoll_create_waker(int epfd) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return -1;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int gr_netpoll_register(int epfd, int fd, uint64_t token) {
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = token };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int gr_netpoll_unregister(int epfd, int fd) {
    struct epoll_event ev = { 0 };   // kernels before 2.6.9 wanted a non-NULL event
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev);
}

static _Atomic int have_pwait2 = 1;

int gr_netpoll_wait(int epfd, uint64_t *tokens, uint32_t *ready, int capacity, int64_t timeout_ns) {
    struct epoll_event events[128];
    if (capacity > 128) capacity = 128;
    int n = -1;
    if (timeout_ns > 0 && have_pwait2) {
        struct timespec ts = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
        n = (int)syscall(SYS_epoll_pwait2, epfd, events, capacity, &ts, NULL, (size_t)(_NSIG / 8));
        if (n < 0 && errno == ENOSYS) have_pwait2 = 0;
    }
    if (n < 0 && (timeout_ns <= 0 || !have_pwait2)) {
        int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
        if (timeout_ns > (int64_t)1000000 * 1000000) ms = 1000000 * 1000;   // cap at ~11 days
        n = epoll_wait(epfd, events, capacity, ms);
    }
    if (n < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        uint32_t e = events[i].events, bits = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) bits |= GR_NETPOLL_READABLE;
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) bits |= GR_NETPOLL_WRITABLE;
        tokens[i] = events[i].data.u64;
        ready[i] = bits;
    }
    return n;
}

int gr_socket_nonblocking(int domain, int type) { return socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }

int gr_accept_nonblocking(int listener_fd) {
    return accept4(listener_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

long gr_send_nosignal(int fd, const void *bytes, unsigned long count) {
    return send(fd, bytes, count, MSG_NOSIGNAL);
}
