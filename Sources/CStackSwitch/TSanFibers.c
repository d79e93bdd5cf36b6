// ThreadSanitizer fiber annotations, so `swift test -sanitize=thread` works on goroutine code: TSan
// keeps a shadow call stack and a vector clock per thread, and a goroutine that leaves one thread's
// stack for its own (or moves to another thread) would corrupt both unless TSan is told that a
// different fiber now runs. Every goroutine context gets a fiber when it is made (a reused context's
// old fiber is destroyed first: its goroutine is dead); a thread's scheduler context (g0) uses the
// thread's own fiber. Compiled to nothing but an empty hook without TSan.
//
// Each switch synchronizes (flags 0): the runtime's own hand-over (m.pending written by a goroutine,
// read by the scheduler after the switch) is ordered by the switch itself. The cost: goroutines that
// run one after another on the same thread look ordered to TSan; races between goroutines running
// on different threads are reported.
#include "CStackSwitch.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GR_TSAN_FIBERS 1
#endif
#endif

#ifdef GR_TSAN_FIBERS
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);

/// The assembly switch, renamed under TSan (ContextSwitch_x86_64.S).
void gr_context_switch_raw(gr_context *from, const gr_context *to);

void gr_context_switch(gr_context *from, const gr_context *to) {
    if (from->tsan_fiber == NULL) from->tsan_fiber = __tsan_get_current_fiber();  // a thread's g0
    if (to->tsan_fiber != NULL) __tsan_switch_to_fiber(to->tsan_fiber, 0);
    gr_context_switch_raw(from, to);
}

void gr_tsan_context_made(gr_context *ctx) {
    if (ctx->tsan_fiber != NULL) __tsan_destroy_fiber(ctx->tsan_fiber);
    ctx->tsan_fiber = __tsan_create_fiber(0);
}
#else
void gr_tsan_context_made(gr_context *ctx) { (void)ctx; }
#endif
