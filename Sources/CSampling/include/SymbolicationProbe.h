#ifndef CSAMPLING_SYMBOLICATION_PROBE_H
#define CSAMPLING_SYMBOLICATION_PROBE_H
#include <stdint.h>

/// The return address of this call: a PC inside the calling function, just after the call instruction.
/// Lets Swift code (tests, fatal dumps) learn "where am I" without unwinding. Never inlined.
uintptr_t gr_probe_return_address(void);

#endif
