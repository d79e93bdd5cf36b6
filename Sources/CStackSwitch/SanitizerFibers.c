// Sanitizer annotations for the goroutine context switch, so `swift test -sanitize=thread` and
// `-sanitize=address` work on goroutine code. Compiled to an empty hook without a sanitizer.
//
// ThreadSanitizer keeps a shadow call stack and a vector clock per thread; a goroutine that leaves a
// thread's stack for its own (or moves to another thread) would corrupt both unless TSan is told that
// a different fiber now runs. Every goroutine context gets a fiber when it is made (a reused
// context's old fiber is destroyed first: its goroutine is dead); a thread's scheduler context (g0)
// uses the thread's own fiber. Each switch synchronizes (flags 0): the runtime's own hand-over
// (m.pending written by a goroutine, read by the scheduler after the switch) is ordered by the switch
// itself. The cost: goroutines that run one after another on one thread look ordered to TSan; races
// between goroutines running on different threads are reported.
//
// AddressSanitizer must know which stack is current (for noreturn calls such as a panic, and its
// fake stacks): each switch is bracketed by __sanitizer_start/finish_switch_fiber with the target's
// stack bounds. A goroutine's bounds are those the scheduler puts in TLS just before switching to it
// (gr_tls_set_goroutine_stack); a g0's are its thread's. A new goroutine first finishes the switch
// that started it, in a small entry shim, then runs its entry function. Goroutine stacks are also
// LeakSanitizer root regions, as thread stacks are.
#define _GNU_SOURCE
#include "CStackSwitch.h"
#include <pthread.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GR_TSAN_FIBERS 1
#endif
#if __has_feature(address_sanitizer)
#define GR_ASAN_FIBERS 1
#endif
#endif

/// The assembly switch, renamed under a sanitizer (ContextSwitch_x86_64.S).
void gr_context_switch_raw(gr_context *from, const gr_context *to);

#ifdef GR_TSAN_FIBERS
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);

void gr_context_switch(gr_context *from, const gr_context *to) {
    if (from->tsan_fiber == NULL) from->tsan_fiber = __tsan_get_current_fiber();  // a thread's g0
    if (to->tsan_fiber != NULL) __tsan_switch_to_fiber(to->tsan_fiber, 0);
    gr_context_switch_raw(from, to);
}

void gr_sanitizer_context_made(gr_context *ctx) {
    if (ctx->tsan_fiber != NULL) __tsan_destroy_fiber(ctx->tsan_fiber);
    ctx->tsan_fiber = __tsan_create_fiber(0);
}

#elif defined(GR_ASAN_FIBERS)
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
void __lsan_register_root_region(const void *p, size_t size);
void __lsan_unregister_root_region(const void *p, size_t size);

static void gr_sanitizer_thread_stack(uintptr_t *lo, uintptr_t *hi) {
    pthread_attr_t attr;
    void *base = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &base, &size);
        pthread_attr_destroy(&attr);
    }
    *lo = (uintptr_t)base;
    *hi = (uintptr_t)base + size;
}

void gr_context_switch(gr_context *from, const gr_context *to_const) {
    gr_context *to = (gr_context *)to_const;
    if (from->san_stack_hi == 0) gr_sanitizer_thread_stack(&from->san_stack_lo, &from->san_stack_hi);  // a g0
    if (to->san_stack_hi == 0) {  // a goroutine's first run
        gr_tls_goroutine_stack(&to->san_stack_lo, &to->san_stack_hi);
        // LeakSanitizer scans thread stacks, not goroutine stacks: without this, everything only a
        // parked goroutine refers to would be reported as leaked at exit.
        if (to->san_stack_hi > to->san_stack_lo)
            __lsan_register_root_region((const void *)to->san_stack_lo, to->san_stack_hi - to->san_stack_lo);
    }
    __sanitizer_start_switch_fiber(&from->asan_fake_stack, (const void *)to->san_stack_lo,
                                   to->san_stack_hi - to->san_stack_lo);
    gr_context_switch_raw(from, to);
    __sanitizer_finish_switch_fiber(from->asan_fake_stack, NULL, NULL);
}

/// A new goroutine's first code: complete the switch that started it, then run its entry.
static void gr_asan_goroutine_start(void *raw) {
    gr_context *ctx = raw;
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
    ctx->san_entry(ctx->san_arg);
}

void gr_sanitizer_context_made(gr_context *ctx) {
    ctx->san_entry = (void (*)(void *))ctx->rbx;
    ctx->san_arg = (void *)ctx->r12;
    ctx->rbx = (uintptr_t)gr_asan_goroutine_start;
    ctx->r12 = (uintptr_t)ctx;
    if (ctx->san_stack_hi > ctx->san_stack_lo)  // a reused context may get another stack
        __lsan_unregister_root_region((const void *)ctx->san_stack_lo, ctx->san_stack_hi - ctx->san_stack_lo);
    ctx->san_stack_lo = ctx->san_stack_hi = 0;
    ctx->asan_fake_stack = NULL;
}

#else
void gr_sanitizer_context_made(gr_context *ctx) { (void)ctx; }
#endif
