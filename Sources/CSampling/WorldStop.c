// Stopping the world for the leak scan: every other thread of the process gets a queued signal
// (SIGRTMAX-4, then SIGSYS for threads that block every asynchronous signal, as libdispatch's workers
// do) whose handler saves the interrupted registers in a static table and waits on a futex until the
// scan is over. Threads are listed from /proc/self/task until a pass finds no new one: a stopped thread
// cannot create threads. A thread that neither stops nor exits within two seconds fails the stop.
#define _GNU_SOURCE
#include "LeakScanInternal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

stopped_thread leak_stopped[MAX_THREADS];
_Atomic int leak_stopped_count;
static _Atomic unsigned stop_generation;   // odd while the world is stopped; futex word
static int signalled[MAX_THREADS];
static int signalled_count;
static int stop_signal;
static struct sigaction previous_sigsys;

/// A SIGSYS that is not a stop request (seccomp, a bad system call) gets what it would have got.
static void forward_sigsys(int sig, siginfo_t *info, void *ucv) {
    if (previous_sigsys.sa_flags & SA_SIGINFO) {
        if (previous_sigsys.sa_sigaction) previous_sigsys.sa_sigaction(sig, info, ucv);
    } else if (previous_sigsys.sa_handler == SIG_IGN) {
        return;
    } else if (previous_sigsys.sa_handler != SIG_DFL) {
        previous_sigsys.sa_handler(sig);
    } else {
        signal(SIGSYS, SIG_DFL);
        raise(SIGSYS);   // delivered with the default action once this handler returns
    }
}

static void on_stop_request(int sig, siginfo_t *info, void *ucv) {
    if (info->si_code != SI_QUEUE || info->si_pid != getpid()) {
        if (sig == SIGSYS) forward_sigsys(sig, info, ucv);
        return;
    }
    unsigned generation = (unsigned)info->si_value.sival_int;
    if (atomic_load(&stop_generation) != generation) return;   // a late request of a finished stop
    int saved_errno = errno;
    int slot = atomic_fetch_add(&leak_stopped_count, 1);
    if (slot < MAX_THREADS) {
        ucontext_t *uc = ucv;
        leak_stopped[slot].tid = (int)syscall(SYS_gettid);
        leak_stopped[slot].thread_pointer = (uintptr_t)__builtin_thread_pointer();
        for (int i = 0; i < NGREG; i++) leak_stopped[slot].regs[i] = (uintptr_t)uc->uc_mcontext.gregs[i];
        atomic_store(&leak_stopped[slot].ready, 1);
    }
    while (atomic_load(&stop_generation) == generation)
        syscall(SYS_futex, &stop_generation, FUTEX_WAIT_PRIVATE, generation, NULL, NULL, 0);
    errno = saved_errno;
}

int leak_install_stop_handler(void) {
    if (stop_signal) return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_stop_request;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigfillset(&sa.sa_mask);
    int sig = SIGRTMAX - 4;
    if (sigaction(sig, &sa, NULL) != 0) return -1;
    // Threads that block every asynchronous signal (libdispatch's workers) still take SIGSYS.
    if (sigaction(SIGSYS, &sa, &previous_sigsys) != 0) return -1;
    stop_signal = sig;
    return 0;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int already_signalled(int tid) {
    for (int i = 0; i < signalled_count; i++) if (signalled[i] == tid) return 1;
    return 0;
}

/// Signals every thread not yet signalled; returns how many were new, or -1.
static int send_stop(pid_t pid, int tid, int sig, unsigned generation) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = sig;
    si.si_code = SI_QUEUE;
    si.si_pid = pid;
    si.si_uid = getuid();
    si.si_value.sival_int = (int)generation;
    return (int)syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, &si);
}

static int signal_new_threads(unsigned generation, int self) {
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[8192];
    int fresh = 0;
    pid_t pid = getpid();
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0) { close(fd); return -1; }
        if (n == 0) break;
        for (long off = 0; off < n;) {
            unsigned short reclen = *(unsigned short *)(buf + off + 16);
            const char *name = buf + off + 19;
            off += reclen;
            if (name[0] < '0' || name[0] > '9') continue;
            int tid = 0;
            for (const char *p = name; *p; p++) tid = tid * 10 + (*p - '0');
            if (tid == self || already_signalled(tid)) continue;
            if (signalled_count >= MAX_THREADS) { close(fd); return -1; }
            if (send_stop(pid, tid, stop_signal, generation) != 0) continue;   // gone already
            signalled[signalled_count++] = tid;
            fresh++;
        }
    }
    close(fd);
    return fresh;
}

static int has_stopped(int tid) {
    int n = atomic_load(&leak_stopped_count);
    if (n > MAX_THREADS) n = MAX_THREADS;
    for (int i = 0; i < n; i++) if (atomic_load(&leak_stopped[i].ready) && leak_stopped[i].tid == tid) return 1;
    return 0;
}

/// Waits until every signalled thread has stopped or exited; after 20 ms, threads that have not stopped
/// (blocking the real-time signal) are asked again with SIGSYS.
static int wait_for_stops(int64_t deadline, unsigned generation) {
    pid_t pid = getpid();
    int64_t retry_at = now_ns() + 20000000;
    for (;;) {
        if (retry_at && now_ns() > retry_at) {
            retry_at = 0;
            for (int i = 0; i < signalled_count; i++) if (!has_stopped(signalled[i])) send_stop(pid, signalled[i], SIGSYS, generation);
        }
        int pending = 0;
        for (int i = 0; i < signalled_count; i++) {
            int tid = signalled[i];
            if (has_stopped(tid)) continue;
            if (syscall(SYS_tgkill, pid, tid, 0) != 0 && errno == ESRCH) continue;
            pending++;
        }
        if (pending == 0) return 0;
        if (now_ns() > deadline) return -1;
        struct timespec ts = { 0, 50000 };
        nanosleep(&ts, NULL);
    }
}

void leak_start_world(void) {
    atomic_fetch_add(&stop_generation, 1);
    syscall(SYS_futex, &stop_generation, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

int leak_stop_world(void) {
    unsigned generation = atomic_fetch_add(&stop_generation, 1) + 1;   // odd: stopped
    atomic_store(&leak_stopped_count, 0);
    memset(leak_stopped, 0, sizeof leak_stopped);
    signalled_count = 0;
    int self = (int)syscall(SYS_gettid);
    int64_t deadline = now_ns() + STOP_TIMEOUT_NS;
    for (;;) {
        int fresh = signal_new_threads(generation, self);
        if (fresh < 0 || wait_for_stops(deadline, generation) != 0) { leak_start_world(); return -1; }
        if (fresh == 0) return 0;   // everyone stopped, and stopped threads create no threads
    }
}
