#include "CStackSwitch.h"

extern void gr_goroutine_trampoline(void);
extern void gr_sanitizer_context_made(gr_context *ctx);

void gr_context_make(gr_context *ctx, uintptr_t stack_top, void (*entry)(void *), void *arg) {
    uintptr_t top = stack_top & ~(uintptr_t)15;
    // A zero "return address" at top-8: the trampoline is entered as if called, with rsp % 16 == 8.
    uintptr_t *slot = (uintptr_t *)(top - 8);
    *slot = 0;
    ctx->rsp = top - 8;
    ctx->rip = (uintptr_t)gr_goroutine_trampoline;
    ctx->rbp = 0;
    ctx->rbx = (uintptr_t)entry;
    ctx->r12 = (uintptr_t)arg;
    ctx->r13 = ctx->r14 = ctx->r15 = 0;
    gr_sanitizer_context_made(ctx);
}

