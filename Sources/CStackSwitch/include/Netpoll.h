#ifndef GR_NETPOLL_H
#define GR_NETPOLL_H
// The netpoller's system calls (Netpoll.c): one edge-triggered epoll instance, an eventfd to interrupt a
// thread blocked in it, and the socket calls whose flags Swift's Glibc module does not export.

#include <stdint.h>

/// Readiness bits reported by gr_netpoll_wait (a hang-up or error reports both).
#define GR_NETPOLL_READABLE 1u
#define GR_NETPOLL_WRITABLE 2u

/// epoll_create1(EPOLL_CLOEXEC).
int gr_netpoll_create(void);
/// A non-blocking, close-on-exec eventfd registered level-triggered for reading with token 0.
int gr_netpoll_create_waker(int epfd);
/// Registers `fd` edge-triggered for input, output and peer hang-up, with `token` as its event data.
int gr_netpoll_register(int epfd, int fd, uint64_t token);
int gr_netpoll_unregister(int epfd, int fd);
/// Waits up to `timeout_ns` (-1: forever, 0: just look) and fills `tokens`/`ready` (GR_NETPOLL_* bits).
/// Returns the number of events, 0 on timeout or EINTR, -1 with errno on other failures.
/// Uses epoll_pwait2 for nanosecond timeouts when the kernel has it, else epoll_wait rounded up to 1 ms.
int gr_netpoll_wait(int epfd, uint64_t *tokens, uint32_t *ready, int capacity, int64_t timeout_ns);

/// socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC.
int gr_socket_nonblocking(int domain, int type);
/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC.
int gr_accept_nonblocking(int listener_fd);
/// send(2) with MSG_NOSIGNAL: a write to a reset peer returns EPIPE instead of killing the process.
long gr_send_nosignal(int fd, const void *bytes, unsigned long count);

#endif
