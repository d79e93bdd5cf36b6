// Linux socket-loop calls that Swift's Glibc module does not export (epoll, eventfd, accept4).
#ifndef C_DEBUG_SERVER_SUPPORT_H
#define C_DEBUG_SERVER_SUPPORT_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC; declared here because it needs _GNU_SOURCE.
int cdebugserver_accept_nonblocking(int listener_fd);

/// Names the calling thread (shown by top -H, gdb, perf) — at most 15 characters.
void cdebugserver_name_current_thread(const char *name);

#endif
