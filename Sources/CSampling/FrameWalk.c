#include "FrameWalk.h"

// x86_64 and aarch64 both keep [fp] = caller's fp and [fp + 8] = return address when frame pointers are on.
size_t gr_walk_frame_pointers(uintptr_t fp, uintptr_t stack_lo, uintptr_t stack_hi,
                              uintptr_t *out, size_t max) {
    size_t n = 0;
    while (n < max) {
        if (fp < stack_lo || fp > stack_hi - 2 * sizeof(uintptr_t) || (fp & (sizeof(uintptr_t) - 1)) != 0) break;
        const uintptr_t *frame = (const uintptr_t *)fp;
        uintptr_t ret = frame[1];
        if (ret == 0) break;
        out[n++] = ret;
        uintptr_t next = frame[0];
        if (next <= fp) break;  // frames must move toward the stack's base; anything else is garbage
        fp = next;
    }
    return n;
}
