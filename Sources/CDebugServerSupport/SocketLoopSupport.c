#define _GNU_SOURCE
#include <stddef.h>
#include <sys/socket.h>
#include "CDebugServerSupport.h"

int cdebugserver_accept_nonblocking(int listener_fd) {
    return accept4(listener_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

#include <pthread.h>

void cdebugserver_name_current_thread(const char *name) {
    pthread_setname_np(pthread_self(), name);
}
