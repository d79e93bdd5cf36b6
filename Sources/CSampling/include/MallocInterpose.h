#ifndef CSAMPLING_MALLOC_INTERPOSE_H
#define CSAMPLING_MALLOC_INTERPOSE_H
// CSampling defines the whole malloc family (malloc, free, calloc, realloc, reallocarray,
// posix_memalign, aligned_alloc, memalign, valloc, pvalloc, malloc_usable_size). Because the
// definitions are linked into the executable, the dynamic linker binds every library's calls
// (libswiftCore, libstdc++, libc itself) to them. They forward to glibc's __libc_* entry points and
// feed the heap sampler (HeapSampler.h). Nothing is added to the blocks, so memory allocated before
// our code ran, or by glibc internally, is freed correctly.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Number of malloc-family functions this process resolves to our definitions (dlsym(RTLD_DEFAULT));
/// equals gr_malloc_family_size() when interposition is complete.
int gr_malloc_family_interposed_count(void);
int gr_malloc_family_size(void);
/// Name of family member `index` (0..<gr_malloc_family_size()), and whether it is interposed.
const char *gr_malloc_family_name(int index);
int gr_malloc_family_member_interposed(int index);

/// glibc's own view of its heap (mallinfo2, summed over all arenas), in bytes.
typedef struct {
    size_t arena;             // bytes obtained with sbrk/arena mmaps for small blocks
    size_t mmapped;           // bytes in blocks served by their own mmap
    size_t in_use;            // bytes in blocks handed out (excluding mmapped ones)
    size_t free_in_arenas;    // bytes free inside the arenas
    size_t releasable;        // bytes at the top of the main arena that malloc_trim could release
} gr_malloc_info;

void gr_malloc_read_info(gr_malloc_info *out);

/// glibc's allocator without our hook, for benchmarks that compare against the bare cost.
void *gr_libc_malloc(size_t size);
void gr_libc_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
