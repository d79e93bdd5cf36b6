#define _GNU_SOURCE
#include "CStackSwitch.h"
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

// The thread side of displacing a goroutine that hogs its P (the design is in SchedulerDisplacement.swift).
// sysmon marks the P's word REQUESTED and signals the thread holding it; the handler, on that thread,
// accepts only when the thread runs goroutine code outside any P section, and then forgets the P at once,
// so this thread can never accept for the same P twice. Everything here is async-signal-safe: TLS,
// atomics, no locks, no allocation.

uintptr_t gr_tls_stack_lo(void);

/// Depth of P sections on this thread (code that uses the thread's P from a goroutine's stack).
static __thread unsigned p_section_depth;
/// The displacement word of the P this thread holds, or NULL.
static __thread uint32_t *held_p_word;
/// Set by the handler when this thread gave its P away; the runtime clears it when it drops the P.
static __thread volatile sig_atomic_t p_given_away;

static struct sigaction previous_action;
static atomic_int installed;

static void on_displace_signal(int sig, siginfo_t *info, void *uc) {
    int saved_errno = errno;
    uint32_t *word = held_p_word;
    // gr_tls_stack_lo() != 0: a goroutine runs on this thread (the scheduler's own stack never accepts).
    if (word != NULL && p_section_depth == 0 && gr_tls_stack_lo() != 0) {
        uint32_t expected = GR_DISPLACE_REQUESTED;
        if (__atomic_compare_exchange_n(word, &expected, GR_DISPLACE_ACCEPTED, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED)) {
            held_p_word = NULL;
            p_given_away = 1;
        }
    }
    // SIGURG is also the out-of-band-data signal: whoever else handles it still gets it.
    if (previous_action.sa_flags & SA_SIGINFO) {
        if (previous_action.sa_sigaction) previous_action.sa_sigaction(sig, info, uc);
    } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
        previous_action.sa_handler(sig);
    }
    errno = saved_errno;
}

void gr_displace_install(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&installed, &expected, 1)) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_displace_signal;
    // SA_RESTART: interrupted restartable system calls resume instead of failing with EINTR.
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(GR_DISPLACE_SIGNAL, &sa, &previous_action);
}

bool gr_displace_signal_thread(int32_t tid) {
    return syscall(SYS_tgkill, getpid(), tid, GR_DISPLACE_SIGNAL) == 0;
}

void gr_displace_set_held_p(uint32_t *word) {
    // Plain TLS store; the handler runs on this thread, so program order is all it needs.
    held_p_word = word;
    atomic_signal_fence(memory_order_seq_cst);
}

uint32_t gr_p_section_enter(void) {
    p_section_depth++;
    atomic_signal_fence(memory_order_seq_cst);
    return (uint32_t)p_given_away;
}

void gr_p_section_exit(void) {
    atomic_signal_fence(memory_order_seq_cst);
    p_section_depth--;
}

uint32_t gr_displace_take_given_away(void) {
    uint32_t given = (uint32_t)p_given_away;
    p_given_away = 0;
    return given;
}

bool gr_thread_is_on_cpu(int32_t tid) {
    // /proc/self/task/<tid>/stat: "tid (comm) S ..."; the state follows the last ')' (comm may hold one).
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = 0;
    char *close_paren = strrchr(buf, ')');
    return close_paren != NULL && close_paren[1] == ' ' && close_paren[2] == 'R';
}
