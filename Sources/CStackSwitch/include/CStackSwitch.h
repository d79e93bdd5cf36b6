#ifndef CSTACKSWITCH_H
#define CSTACKSWITCH_H
// The machine layer under the goroutine runtime: context switch, goroutine stacks, thread-local slots,
// futex-based sleeping, and the stack-overflow signal handler. Everything else is Swift.

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

// ---- Context switch (ContextSwitch_x86_64.S) ----

/// Saved machine state of a goroutine (or of a thread's scheduler loop). Only what the SysV ABI makes
/// callee-saved, plus rsp and rip: the switch is an ordinary function call for the compiler.
/// Kept unmangled so that goroutine dumps can walk parked stacks straight from rip/rbp.
typedef struct gr_context {
    uintptr_t rsp;
    uintptr_t rip;
    uintptr_t rbp;
    uintptr_t rbx;
    uintptr_t r12;
    uintptr_t r13;
    uintptr_t r14;
    uintptr_t r15;
    // Sanitizer bookkeeping (SanitizerFibers.c); all zero unless built with TSan or ASan.
    /// The ThreadSanitizer fiber that runs this context.
    void *tsan_fiber;
    /// AddressSanitizer: this context's stack [lo, hi), its fake stack, and a new goroutine's entry.
    uintptr_t san_stack_lo, san_stack_hi;
    void *asan_fake_stack;
    void (*san_entry)(void *);
    void *san_arg;
} gr_context;

/// Saves the caller's state in `from` and resumes `to`. Returns when something switches back to `from`.
/// Under ThreadSanitizer or AddressSanitizer this is SanitizerFibers.c's wrapper, which tells the
/// sanitizer about the switch first.
void gr_context_switch(gr_context *from, const gr_context *to);

/// Prepares `ctx` so that switching to it calls `entry(arg)` on the stack ending at `stack_top`, below a
/// trampoline frame whose return address is 0 (unwinders stop there). `entry` must never return.
void gr_context_make(gr_context *ctx, uintptr_t stack_top, void (*entry)(void *), void *arg);


// ---- Goroutine stacks (Stacks.c) ----

/// Reserves `bytes` of lazily committed, private anonymous memory (MAP_NORESERVE). NULL on failure.
void *gr_stack_reserve(size_t bytes);
/// Makes [addr, addr+len) a guard region. Returns 1 for a VMA-free guard (MADV_GUARD_INSTALL),
/// 2 for an mprotect guard (costs VMAs), 0 on failure.
int gr_stack_guard(void *addr, size_t len, bool allow_mprotect);
/// Gives the pages of [addr, addr+len) back to the kernel (MADV_DONTNEED): they read as zero and are
/// committed again on the next touch. Guard regions outside the range are untouched.
void gr_stack_release(void *addr, size_t len);

// ---- Thread-local slots (ThreadLocal.c) ----
// Accessors are out-of-line on purpose: a goroutine may resume on another thread, so no caller may keep
// a TLS address across a switch.

void *gr_tls_current_m(void);
void gr_tls_set_current_m(void *m);
/// The running goroutine's stack range [lo, hi) and guard region, for the overflow handler and samplers.
void gr_tls_set_goroutine_stack(uintptr_t lo, uintptr_t hi, uintptr_t guard_lo);
void gr_tls_goroutine_stack(uintptr_t *lo, uintptr_t *hi);
/// Opaque word the runtime attaches to the running goroutine (its labels), readable from signal handlers.
void gr_tls_set_goroutine_word(uintptr_t word);
uintptr_t gr_tls_goroutine_word(void);

// ---- Sleeping and waking threads (Futex.c) ----

/// A one-shot wakeup: `gr_note_sleep` returns once `gr_note_wakeup` has been called (or the timeout passed).
typedef struct gr_note { uint32_t key; } gr_note;
void gr_note_clear(gr_note *note);
/// Sleeps until woken or until `timeout_ns` (< 0: forever). Returns true if woken.
bool gr_note_sleep(gr_note *note, int64_t timeout_ns);
void gr_note_wakeup(gr_note *note);

/// A futex mutex for the runtime's short critical sections (run queues, channels, timers). It may be
/// released by a different thread than the one that took it, which the park protocol relies on.
void gr_mutex_lock_slow(uint32_t *word);
void gr_mutex_unlock(uint32_t *word);
static inline bool gr_mutex_trylock(uint32_t *word) {
    uint32_t expected = 0;
    return __atomic_compare_exchange_n(word, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/// Relaxed word-sized loads and stores on shared slots (run-queue rings), where the protocol around them
/// provides the ordering.
static inline uintptr_t gr_load_relaxed(const uintptr_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void gr_store_relaxed(uintptr_t *p, uintptr_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }


// ---- Time and small helpers (Clock.c) ----

int64_t gr_nanotime(void);           // CLOCK_MONOTONIC, ns
int32_t gr_gettid(void);
void gr_cpu_relax(void);
/// The return address of the caller's caller: called from a non-inlined function F, the PC in F's caller.
uintptr_t gr_caller_return_address(void);
/// Current frame pointer of the caller.
uintptr_t gr_current_frame_address(void);
/// Usable CPUs: affinity mask, bounded by the cgroup v2/v1 CPU quota (rounded up), at least 1.
int gr_usable_cpus(void);

// ---- Threads (Threads.c) ----

/// [lo, hi) of the calling thread's native stack (0, 0 if unknown). Not async-signal-safe.
void gr_thread_stack_bounds(uintptr_t *lo, uintptr_t *hi);
/// Names the calling thread (15 characters at most are kept).
void gr_thread_set_name(const char *name);

// ---- Stack overflow (StackOverflow.c) ----

/// Called (on an alternate signal stack) when a goroutine touches its guard region; never returns.
typedef void (*gr_overflow_reporter)(uintptr_t fault_addr, uintptr_t rip, uintptr_t rbp, uintptr_t rsp);
/// Installs the SIGSEGV/SIGBUS handler once per process; other faults go to the previous handler.
void gr_install_overflow_handler(gr_overflow_reporter reporter);
/// Called (on the alternate signal stack when the thread has one) for SIGILL, SIGTRAP, SIGFPE and the
/// SIGSEGV/SIGBUS faults that are not stack overflows. Returns only when the fault is not the runtime's
/// to report; the previously installed handler (or the default action) then takes it.
typedef void (*gr_trap_reporter)(int sig, int code, uintptr_t fault_addr, uintptr_t rip, uintptr_t rbp, uintptr_t rsp);
/// Installs the SIGILL/SIGTRAP/SIGFPE handlers once and routes non-overflow SIGSEGV/SIGBUS to `reporter`.
void gr_install_trap_handler(gr_trap_reporter reporter);
/// Bounds a trap report: if the process is still alive 10 s later, SIGALRM prints the signal line
/// without allocating and exits with status 2 (TrapWatchdog.c).
void gr_trap_watchdog_arm(int sig, int code, uintptr_t fault_addr, uintptr_t pc);
/// Gives the calling thread an alternate signal stack (so the handler can run when a stack is exhausted).
void gr_thread_setup_signal_stack(void);

// ---- Netpoller system calls (Netpoll.c) ----

#include "Netpoll.h"

// ---- Displacing a goroutine that hogs its P (Displacement.c; design in SchedulerDisplacement.swift) ----

/// SIGURG, as Go's preemption uses: ignored by default, rarely used by programs (handlers are chained).
#define GR_DISPLACE_SIGNAL 23
/// States of a P's displacement word: sysmon asks (NONE -> REQUESTED), the holding thread's signal handler
/// answers (REQUESTED -> ACCEPTED) and from then on that thread no longer owns the P.
enum { GR_DISPLACE_NONE = 0, GR_DISPLACE_REQUESTED = 1, GR_DISPLACE_ACCEPTED = 2 };
/// Installs the signal handler once per process.
void gr_displace_install(void);
/// Sends the displacement signal to thread `tid` of this process.
bool gr_displace_signal_thread(int32_t tid);
/// Whether thread `tid` of this process is running or runnable (not asleep in the kernel), from /proc.
bool gr_thread_is_on_cpu(int32_t tid);
/// Names the displacement word of the P the calling thread now holds (NULL: none).
void gr_displace_set_held_p(uint32_t *word);
/// Brackets code that uses the calling thread's P from a goroutine's stack (nestable): the handler never
/// accepts inside. Returns 1 if the thread gave its P away since the runtime last dropped one.
uint32_t gr_p_section_enter(void);
void gr_p_section_exit(void);
/// Returns 1 (and resets the mark) if the calling thread gave its P away. Call in a P section or on the
/// scheduler's stack.
uint32_t gr_displace_take_given_away(void);
/// Atomic access to displacement words (sysmon's side).
static inline bool gr_displace_cas(uint32_t *word, uint32_t expected, uint32_t desired) {
    return __atomic_compare_exchange_n(word, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static inline uint32_t gr_displace_load(const uint32_t *word) { return __atomic_load_n(word, __ATOMIC_SEQ_CST); }

// ---- Throw sites (ThrowSite.c) ----

/// Hooks the Swift runtime's `_swift_willThrow` (and `_swift_willThrowTypedImpl`) so that every throw
/// records the thrower's stack (frame-pointer walk, goroutine stacks only) in a thread-local buffer.
void gr_install_throw_hook(void);
/// The stack recorded at the last throw on this thread (return addresses, leaf first); 0 if none.
size_t gr_last_throw_stack(uintptr_t *out, size_t max);
/// The Swift runtime's record of the fatal error messages it printed (`<file>:<line>: Fatal error: <message>`
/// lines), or NULL.
const char *gr_swift_fatal_error_message(void);

// ---- Swift exclusivity-access set, saved per goroutine across switches (runtime ABI of libswiftCore) ----

void swift_task_enterThreadLocalContext(char *state);
void swift_task_exitThreadLocalContext(char *state);

#endif
