// Linux socket-loop calls that Swift's Glibc module does not export (epoll, eventfd, accept4).
#ifndef C_DEBUG_SERVER_SUPPORT_H
#define C_DEBUG_SERVER_SUPPORT_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <stdint.h>

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC; declared here because it needs _GNU_SOURCE.
/// `source_key` gets the client for per-client limits: its IPv4 address, its IPv6 /64, or 0 for a
/// Unix-socket peer (not limited per client).
int cdebugserver_accept_nonblocking(int listener_fd, uint64_t *source_key);

/// Raises the soft RLIMIT_NOFILE to the hard limit (thousands of idle connections each hold a
/// descriptor) and returns the soft limit now in force, or -1.
long cdebugserver_raise_descriptor_limit(void);

/// Returns free heap memory to the system (glibc malloc_trim); a no-op elsewhere.
void cdebugserver_release_free_memory(void);

/// Names the calling thread (shown by top -H, gdb, perf) — at most 15 characters.
void cdebugserver_name_current_thread(const char *name);

#endif
