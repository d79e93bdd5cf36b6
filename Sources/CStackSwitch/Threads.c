#define _GNU_SOURCE
#include "CStackSwitch.h"
#include <pthread.h>

void gr_thread_stack_bounds(uintptr_t *lo, uintptr_t *hi) {
    pthread_attr_t attr;
    *lo = *hi = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
    void *base = NULL;
    size_t size = 0;
    if (pthread_attr_getstack(&attr, &base, &size) == 0) {
        *lo = (uintptr_t)base;
        *hi = (uintptr_t)base + size;
    }
    pthread_attr_destroy(&attr);
}

void gr_thread_set_name(const char *name) {
    pthread_setname_np(pthread_self(), name);
}
