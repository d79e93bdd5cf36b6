#define _GNU_SOURCE
#include <stddef.h>
#include <string.h>
#include <malloc.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include "CDebugServerSupport.h"

int cdebugserver_accept_nonblocking(int listener_fd, uint64_t *source_key) {
    struct sockaddr_storage peer;
    socklen_t length = sizeof peer;
    memset(&peer, 0, sizeof peer);
    int fd = accept4(listener_fd, (struct sockaddr *)&peer, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return fd;
    *source_key = 0;
    if (peer.ss_family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&peer;
        *source_key = (1ULL << 32) | ntohl(v4->sin_addr.s_addr);
    } else if (peer.ss_family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&peer;
        const unsigned char *bytes = v6->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(bytes, mapped, 12) == 0) {
            *source_key = (1ULL << 32) | ((uint64_t)bytes[12] << 24) | ((uint64_t)bytes[13] << 16)
                | ((uint64_t)bytes[14] << 8) | bytes[15];
        } else {
            // One IPv6 client usually owns a whole /64: count the prefix, not the address.
            uint64_t prefix = 0;
            for (int i = 0; i < 8; i++) prefix = (prefix << 8) | bytes[i];
            *source_key = prefix | 1;  // never 0, which means "no address" (Unix sockets)
        }
    }
    return fd;
}

long cdebugserver_raise_descriptor_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    if (limit.rlim_cur < limit.rlim_max) {
        struct rlimit raised = {limit.rlim_max, limit.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit.rlim_cur = limit.rlim_max;
    }
    return limit.rlim_cur == RLIM_INFINITY ? (long)1 << 30 : (long)limit.rlim_cur;
}

#include <pthread.h>

void cdebugserver_name_current_thread(const char *name) {
    pthread_setname_np(pthread_self(), name);
}

void cdebugserver_release_free_memory(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
