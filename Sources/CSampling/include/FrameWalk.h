#ifndef CSAMPLING_FRAME_WALK_H
#define CSAMPLING_FRAME_WALK_H
#include <stddef.h>
#include <stdint.h>

/// Walks the frame-pointer chain starting at frame pointer `fp`, writing return addresses (raw, not
/// minus one) to `out`, at most `max` of them. The walk stays inside [stack_lo, stack_hi): a frame
/// pointer outside it, misaligned, or not strictly increasing ends the walk, as does a zero return
/// address (our goroutine entry trampoline ends every stack with one). Async-signal-safe: it reads
/// memory only inside the given bounds and touches nothing else. Returns the number written.
size_t gr_walk_frame_pointers(uintptr_t fp, uintptr_t stack_lo, uintptr_t stack_hi,
                              uintptr_t *out, size_t max);

#endif
