// The process-wide malloc family: forwards to glibc and feeds the heap sampler.
//
// Why definitions in the executable work: the dynamic linker resolves every library's `malloc` to the
// first definition in lookup order, and the executable comes first. glibc supports this replacement
// (its own internal calls go through the same symbols). We forward to the exported __libc_* entry
// points, so there is no dlsym bootstrap problem; malloc_usable_size and reallocarray have no public
// __libc_ twin and are handled below. Blocks get no header, so any pointer glibc handed out, before
// or behind our back, is freed correctly.
#define _GNU_SOURCE
#include "MallocInterpose.h"
#include "HeapSampleInternal.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

#define GR_EXPORT __attribute__((visibility("default"), used))

// Under AddressSanitizer or ThreadSanitizer the sanitizer runtime must own malloc; defining it here
// would take every allocation away from it. The interposer then stays out (and the heap profile is empty).
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define GR_SANITIZER_OWNS_MALLOC 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GR_SANITIZER_OWNS_MALLOC 1
#endif

#ifndef GR_SANITIZER_OWNS_MALLOC

GR_EXPORT void *malloc(size_t size) {
    void *ptr = __libc_malloc(size);
    if (ptr) gr_heap_note_alloc(ptr, size);
    return ptr;
}

GR_EXPORT void free(void *ptr) {
    if (!ptr) return;
    gr_heap_note_free(ptr);   // before the block goes back: once freed, another thread may get it
    __libc_free(ptr);
}

GR_EXPORT void *calloc(size_t count, size_t size) {
    void *ptr = __libc_calloc(count, size);
    if (ptr) gr_heap_note_alloc(ptr, count * size);   // non-null means count * size did not overflow
    return ptr;
}

// realloc is a free of the old block and an allocation of the new one, as far as the profile goes.
static inline void *gr_realloc(void *old, size_t size) {
    gr_heap_sampled_block block;
    int was_sampled = old && gr_heap_pointer_maybe_sampled(old) && gr_heap_take_sampled_block(old, &block);
    void *ptr = __libc_realloc(old, size);
    if (was_sampled) {
        // glibc frees the old block and returns NULL for size 0; NULL otherwise means it failed and
        // the old block is still the caller's.
        if (ptr == NULL && size != 0) gr_heap_restore_sampled_block(old, &block);
        else gr_heap_credit_free(&block);
    }
    if (ptr) gr_heap_note_alloc(ptr, size);
    return ptr;
}

GR_EXPORT void *realloc(void *old, size_t size) { return gr_realloc(old, size); }

GR_EXPORT void *reallocarray(void *old, size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return gr_realloc(old, total);
}

GR_EXPORT int posix_memalign(void **out, size_t alignment, size_t size) {
    // POSIX: a power of two that is a multiple of sizeof(void *).
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment % sizeof(void *) != 0) return EINVAL;
    int saved_errno = errno;
    void *ptr = __libc_memalign(alignment, size);
    errno = saved_errno;   // posix_memalign reports through its result, not errno
    if (!ptr) return ENOMEM;
    gr_heap_note_alloc(ptr, size);
    *out = ptr;
    return 0;
}

// glibc 2.36 implements aligned_alloc as memalign; we keep its behaviour.
GR_EXPORT void *aligned_alloc(size_t alignment, size_t size) {
    void *ptr = __libc_memalign(alignment, size);
    if (ptr) gr_heap_note_alloc(ptr, size);
    return ptr;
}

GR_EXPORT void *memalign(size_t alignment, size_t size) {
    void *ptr = __libc_memalign(alignment, size);
    if (ptr) gr_heap_note_alloc(ptr, size);
    return ptr;
}

GR_EXPORT void *valloc(size_t size) {
    void *ptr = __libc_valloc(size);
    if (ptr) gr_heap_note_alloc(ptr, size);
    return ptr;
}

GR_EXPORT void *pvalloc(size_t size) {
    void *ptr = __libc_pvalloc(size);
    if (ptr) gr_heap_note_alloc(ptr, size);
    return ptr;
}

// glibc exports no __libc_malloc_usable_size, so find its definition behind ours once. dlsym may
// allocate; that is fine because our malloc never needs this function.
typedef size_t (*gr_usable_size_fn)(void *);
static _Atomic(gr_usable_size_fn) gr_libc_usable_size;

static gr_usable_size_fn gr_resolve_usable_size(void) {
    gr_usable_size_fn fn = atomic_load_explicit(&gr_libc_usable_size, memory_order_acquire);
    if (fn) return fn;
    fn = (gr_usable_size_fn)dlsym(RTLD_NEXT, "malloc_usable_size");
    if (fn) atomic_store_explicit(&gr_libc_usable_size, fn, memory_order_release);
    return fn;
}

GR_EXPORT size_t malloc_usable_size(void *ptr) {
    if (!ptr) return 0;
    gr_usable_size_fn fn = gr_resolve_usable_size();
    return fn ? fn(ptr) : 0;
}

__attribute__((constructor)) static void gr_malloc_interpose_init(void) { (void)gr_resolve_usable_size(); }
#endif   // GR_SANITIZER_OWNS_MALLOC

// ---- introspection and benchmark helpers ------------------------------------------------------------

#ifdef GR_SANITIZER_OWNS_MALLOC
int gr_malloc_family_size(void) { return 0; }
const char *gr_malloc_family_name(int index) { (void)index; return NULL; }
int gr_malloc_family_member_interposed(int index) { (void)index; return 0; }
int gr_malloc_family_interposed_count(void) { return 0; }
#else
static const struct {
    const char *name;
    void *ours;
} gr_malloc_family[] = {
    {"malloc", (void *)malloc},
    {"free", (void *)free},
    {"calloc", (void *)calloc},
    {"realloc", (void *)realloc},
    {"reallocarray", (void *)reallocarray},
    {"posix_memalign", (void *)posix_memalign},
    {"aligned_alloc", (void *)aligned_alloc},
    {"memalign", (void *)memalign},
    {"valloc", (void *)valloc},
    {"pvalloc", (void *)pvalloc},
    {"malloc_usable_size", (void *)malloc_usable_size},
};

int gr_malloc_family_size(void) { return (int)(sizeof gr_malloc_family / sizeof gr_malloc_family[0]); }

const char *gr_malloc_family_name(int index) {
    return (index >= 0 && index < gr_malloc_family_size()) ? gr_malloc_family[index].name : NULL;
}

int gr_malloc_family_member_interposed(int index) {
    if (index < 0 || index >= gr_malloc_family_size()) return 0;
    return dlsym(RTLD_DEFAULT, gr_malloc_family[index].name) == gr_malloc_family[index].ours;
}

int gr_malloc_family_interposed_count(void) {
    int count = 0;
    for (int i = 0; i < gr_malloc_family_size(); i++) count += gr_malloc_family_member_interposed(i);
    return count;
}

#endif   // GR_SANITIZER_OWNS_MALLOC

void gr_malloc_read_info(gr_malloc_info *out) {
    struct mallinfo2 info = mallinfo2();
    out->arena = info.arena;
    out->mmapped = info.hblkhd;
    out->in_use = info.uordblks;
    out->free_in_arenas = info.fordblks;
    out->releasable = info.keepcost;
}

void *gr_libc_malloc(size_t size) { return __libc_malloc(size); }
void gr_libc_free(void *ptr) { __libc_free(ptr); }
