// Where an error was thrown: the Swift runtime calls the function in `_swift_willThrow` (an exported,
// normally null hook) at every `throw`, before unwinding starts. We record the thrower's stack there, so
// that an error escaping a goroutine's body can be reported with the line that threw it (Go prints the
// panicking goroutine's stack at the panic). Cost per throw: one bounded frame-pointer walk on the
// goroutine's own stack; nothing on threads that are not running goroutines.
#include "CStackSwitch.h"
#include <stdatomic.h>

#define THROW_STACK_MAX 64

// The runtime's hook variables (libswiftCore); weak so an older runtime without them still links.
extern void (*_Atomic _swift_willThrow)(void *error) __attribute__((weak));
extern void (*_Atomic _swift_willThrowTypedImpl)(void *value, const void *type, const void *conformance) __attribute__((weak));

void gr_tls_goroutine_stack(uintptr_t *lo, uintptr_t *hi);
size_t gr_walk_frame_pointers(uintptr_t fp, uintptr_t stack_lo, uintptr_t stack_hi, uintptr_t *out, size_t max);

static __thread uintptr_t throw_stack[THROW_STACK_MAX];
static __thread size_t throw_depth;

static __attribute__((noinline)) void record_throw(void) {
    uintptr_t lo, hi;
    gr_tls_goroutine_stack(&lo, &hi);
    if (lo == 0) return;
    // From our caller's frame (the hook): its return address is in swift_willThrow, the next one in
    // the thrower.
    throw_depth = gr_walk_frame_pointers((uintptr_t)__builtin_frame_address(0), lo, hi, throw_stack, THROW_STACK_MAX);
}

static void will_throw(void *error) { (void)error; record_throw(); }
static void will_throw_typed(void *value, const void *type, const void *conformance) {
    (void)value; (void)type; (void)conformance;
    record_throw();
}

// The message of the last fatal error the Swift runtime reported (`Fatal error: …`), kept for crash
// reporters; the runtime's accessor is weak so an older runtime without it still links.
extern char **swift_getFatalErrorMessageBuffer(void) __attribute__((weak));

const char *gr_swift_fatal_error_message(void) {
    if (!swift_getFatalErrorMessageBuffer) return 0;
    char **buffer = swift_getFatalErrorMessageBuffer();
    return buffer ? *buffer : 0;
}

void gr_install_throw_hook(void) {
    if (&_swift_willThrow) atomic_store(&_swift_willThrow, will_throw);
    if (&_swift_willThrowTypedImpl) atomic_store(&_swift_willThrowTypedImpl, will_throw_typed);
}

size_t gr_last_throw_stack(uintptr_t *out, size_t max) {
    size_t n = throw_depth < max ? throw_depth : max;
    for (size_t i = 0; i < n; i++) out[i] = throw_stack[i];
    return n;
}
