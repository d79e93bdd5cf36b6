#ifndef CSAMPLING_SYMBOLICATION_DEMANGLE_H
#define CSAMPLING_SYMBOLICATION_DEMANGLE_H
#include <stddef.h>
#include <stdint.h>

/// The Swift runtime's demangler, `swift_demangle`, under our prefix. Declared here (rather than found
/// with dlsym) so the linker pulls it in even with a statically linked standard library. Returns a
/// malloc'd string (when `buffer` is NULL) or NULL when `mangled` is not a Swift symbol; `flags` must be 0.
/// Not for signal handlers: it allocates.
char *gr_swift_demangle(const char *mangled, size_t length, char *buffer, size_t *buffer_size, uint32_t flags)
    __asm__("swift_demangle");

#endif
