#include "SymbolicationProbe.h"

// noinline: inlined, __builtin_return_address(0) would name our caller's caller.
__attribute__((noinline)) uintptr_t gr_probe_return_address(void) {
    return (uintptr_t)__builtin_return_address(0);
}
