#include "CStackSwitch.h"

static __thread void *tls_current_m;
static __thread uintptr_t tls_stack_lo, tls_stack_hi, tls_guard_lo;
static __thread uintptr_t tls_goroutine_word;

void *gr_tls_current_m(void) { return tls_current_m; }
void gr_tls_set_current_m(void *m) { tls_current_m = m; }

void gr_tls_set_goroutine_stack(uintptr_t lo, uintptr_t hi, uintptr_t guard_lo) {
    tls_stack_lo = lo;
    tls_stack_hi = hi;
    tls_guard_lo = guard_lo;
}

void gr_tls_goroutine_stack(uintptr_t *lo, uintptr_t *hi) {
    *lo = tls_stack_lo;
    *hi = tls_stack_hi;
}

// Used by the overflow handler (same translation unit keeps the TLS model simple).
uintptr_t gr_tls_guard_lo(void) { return tls_guard_lo; }
uintptr_t gr_tls_stack_lo(void) { return tls_stack_lo; }
uintptr_t gr_tls_stack_hi(void) { return tls_stack_hi; }

void gr_tls_set_goroutine_word(uintptr_t word) { tls_goroutine_word = word; }
uintptr_t gr_tls_goroutine_word(void) { return tls_goroutine_word; }
