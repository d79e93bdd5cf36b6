#define _GNU_SOURCE
#include "CStackSwitch.h"
#include <time.h>
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

int64_t gr_nanotime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int32_t gr_gettid(void) { return (int32_t)syscall(SYS_gettid); }

void gr_cpu_relax(void) {
#if defined(__x86_64__)
    __asm__ volatile("pause");
#endif
}

__attribute__((noinline)) uintptr_t gr_caller_return_address(void) {
    // Our frame -> caller F's frame -> F's return address (a PC in F's caller).
    uintptr_t *fp = (uintptr_t *)__builtin_frame_address(0);
    uintptr_t *caller_fp = (uintptr_t *)fp[0];
    if (caller_fp == NULL) return 0;
    return caller_fp[1];
}

__attribute__((noinline)) uintptr_t gr_current_frame_address(void) {
    uintptr_t *fp = (uintptr_t *)__builtin_frame_address(0);
    return fp[0];
}

// CPU quota from cgroup v2 (cpu.max: "<quota> <period>" or "max <period>") or v1 (cfs_quota_us/cfs_period_us).
static double cgroup_cpu_limit(void) {
    char line[128];
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (f) {
        double limit = 0;
        if (fgets(line, sizeof line, f)) {
            char quota[32]; long period = 0;
            if (sscanf(line, "%31s %ld", quota, &period) == 2 && strcmp(quota, "max") != 0 && period > 0)
                limit = atof(quota) / (double)period;
        }
        fclose(f);
        return limit;
    }
    long quota = -1, period = 0;
    f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r");
    if (f) { if (fscanf(f, "%ld", &quota) != 1) quota = -1; fclose(f); }
    f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r");
    if (f) { if (fscanf(f, "%ld", &period) != 1) period = 0; fclose(f); }
    if (quota > 0 && period > 0) return (double)quota / (double)period;
    return 0;
}

int gr_usable_cpus(void) {
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    double limit = cgroup_cpu_limit();
    if (limit > 0) {
        int q = (int)limit;
        if ((double)q < limit) q++;   // round up, as Go 1.25+ does
        if (q < 2 && n >= 2) q = 2;   // Go keeps at least 2 when the quota is below 2 but more CPUs exist
        if (q < n) n = q;
    }
    return n < 1 ? 1 : n;
}
