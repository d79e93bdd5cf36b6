#define _GNU_SOURCE
#include "CStackSwitch.h"
#include <sys/mman.h>
#include <errno.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102   // Linux >= 6.13: guard pages edited into page tables, no new VMA
#endif

void *gr_stack_reserve(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int gr_stack_guard(void *addr, size_t len, bool allow_mprotect) {
    if (madvise(addr, len, MADV_GUARD_INSTALL) == 0) return 1;
    if (allow_mprotect && mprotect(addr, len, PROT_NONE) == 0) return 2;
    return 0;
}



void gr_stack_release(void *addr, size_t len) {
    // DONTNEED, not FREE: MADV_FREE pages stay counted in RSS until the kernel needs memory, so a pool of
    // idle stacks would still look (and, for the OOM killer, be) resident.
    (void)madvise(addr, len, MADV_DONTNEED);
}
