#define _GNU_SOURCE
#include "CStackSwitch.h"
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include <stdatomic.h>

uintptr_t gr_tls_guard_lo(void);
uintptr_t gr_tls_stack_lo(void);

static gr_overflow_reporter overflow_reporter;
static _Atomic(gr_trap_reporter) trap_reporter;
static struct sigaction previous_segv, previous_bus, previous_ill, previous_trap, previous_fpe;
static atomic_int installed, traps_installed;

// Large enough for the reporter, which symbolizes and prints a traceback before exiting.
#define SIGNAL_STACK_SIZE (1u << 20)

static void forward(int sig, siginfo_t *info, void *uc, const struct sigaction *prev) {
    if (prev->sa_flags & SA_SIGINFO) {
        if (prev->sa_sigaction) { prev->sa_sigaction(sig, info, uc); return; }
    } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    // Default action: restore it and return, so the faulting instruction faults again and kills us.
    signal(sig, SIG_DFL);
}

static const struct sigaction *previous_for(int sig) {
    switch (sig) {
    case SIGSEGV: return &previous_segv;
    case SIGBUS: return &previous_bus;
    case SIGILL: return &previous_ill;
    case SIGTRAP: return &previous_trap;
    default: return &previous_fpe;
    }
}

/// A fault or trap that is not a goroutine's stack overflow: the trap reporter prints a Go-style panic
/// and never returns when the fault is the runtime's to report; otherwise the previous handler runs.
static void on_trap(int sig, siginfo_t *info, void *ucv) {
    gr_trap_reporter reporter = atomic_load(&trap_reporter);
    if (reporter) {
        ucontext_t *uc = (ucontext_t *)ucv;
        reporter(sig, info->si_code, (uintptr_t)info->si_addr, (uintptr_t)uc->uc_mcontext.gregs[REG_RIP],
                 (uintptr_t)uc->uc_mcontext.gregs[REG_RBP], (uintptr_t)uc->uc_mcontext.gregs[REG_RSP]);
    }
    forward(sig, info, ucv, previous_for(sig));
}

static void on_fault(int sig, siginfo_t *info, void *ucv) {
    uintptr_t fault = (uintptr_t)info->si_addr;
    uintptr_t guard_lo = gr_tls_guard_lo();
    uintptr_t stack_lo = gr_tls_stack_lo();
    if (overflow_reporter && guard_lo != 0 && fault >= guard_lo && fault < stack_lo) {
        ucontext_t *uc = (ucontext_t *)ucv;
        uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
        uintptr_t rbp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
        uintptr_t rsp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
        overflow_reporter(fault, rip, rbp, rsp);
        _exit(2);
    }
    on_trap(sig, info, ucv);
}

void gr_install_overflow_handler(gr_overflow_reporter reporter) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&installed, &expected, 1)) return;
    overflow_reporter = reporter;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
    sigaction(SIGBUS, &sa, &previous_bus);
}

void gr_install_trap_handler(gr_trap_reporter reporter) {
    atomic_store(&trap_reporter, reporter);
    int expected = 0;
    if (!atomic_compare_exchange_strong(&traps_installed, &expected, 1)) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_trap;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGILL, &sa, &previous_ill);
    sigaction(SIGTRAP, &sa, &previous_trap);
    sigaction(SIGFPE, &sa, &previous_fpe);
}

void gr_thread_setup_signal_stack(void) {
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && !(current.ss_flags & SS_DISABLE) && current.ss_size >= SIGNAL_STACK_SIZE)
        return;
    void *mem = mmap(NULL, SIGNAL_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return;
    stack_t ss = { .ss_sp = mem, .ss_size = SIGNAL_STACK_SIZE, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
}
