#ifndef GR_LEAK_SCAN_H
#define GR_LEAK_SCAN_H
// The world-stopped conservative reachability scan behind the goroutineleak profile (design: the long
// comment at the top of Sources/Goroutines/LeakDetection.swift). Nothing here allocates with malloc or
// calls the Swift runtime while other threads are stopped: they may be inside malloc holding its locks.

#include <stddef.h>
#include <stdint.h>

enum {
    /// Can run (or is running): its G object and its stack are roots.
    GR_LEAK_LIVE = 0,
    /// Parked on primitives; leaked unless a root reaches one of them.
    GR_LEAK_CANDIDATE = 1,
    /// Exited or never started: its stack and G object are dead memory, never roots.
    GR_LEAK_DEAD = 2,
};

/// One goroutine as the scan sees it.
typedef struct gr_leak_goroutine {
    uintptr_t object;       // the G object's address (a malloc block)
    uintptr_t context;      // its saved registers (gr_context *), read for the saved rsp
    uintptr_t wait_state;   // candidates: runtime state of the wait that points into its stack (a select's), or 0
    uintptr_t stack_lo;     // the whole stack slot, guard included: [stack_lo, stack_hi)
    uintptr_t stack_hi;
    uint32_t kind;          // GR_LEAK_*
    uint32_t target_count;  // candidates: how many primitives, at targets[first_target...]
    uint32_t first_target;
    uint32_t leaked;        // out: 1 when no root reaches any of its primitives
} gr_leak_goroutine;

/// Scratch memory the scan excludes from its roots (so the tables that name primitives never count as
/// references to them). Page-backed, never malloc. Returns NULL on failure.
void *gr_leak_scratch_alloc(size_t bytes);
void gr_leak_scratch_free(void *p, size_t bytes);

/// Primitive addresses are stored complemented (`~address`) everywhere outside the scan's own frames,
/// so a stray copy is never mistaken for a reference.
static inline uintptr_t gr_leak_hide(uintptr_t address) { return ~address; }

/// Stops every other thread of the process, scans, resumes them. `goroutines` and `hidden_targets` must
/// live in scratch memory. `own_frames_top` is the frame address of the detector's outermost frame: the
/// stack between here and just below it holds only the detector's own copies (the 64 bytes below it,
/// where that frame saved its caller's registers, stay roots). Returns 0 when the verdicts are valid; a
/// negative value when the scan could not be done soundly (a thread did not stop, the maps could not
/// be read, no heap was recognised): then every `leaked` is 0.
int gr_leak_analyze(gr_leak_goroutine *goroutines, size_t count, const uintptr_t *hidden_targets, size_t target_count,
                    uintptr_t own_frames_top);

#endif
