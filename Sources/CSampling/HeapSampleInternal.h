#ifndef CSAMPLING_HEAP_SAMPLE_INTERNAL_H
#define CSAMPLING_HEAP_SAMPLE_INTERNAL_H
// Shared between the malloc interposer and the heap sampler; not part of the module's public API.
//
// The hot paths (every malloc, every free) live here as inline functions so the interposer can
// inline them: when sampling is off a malloc pays one relaxed load and one predictable branch, and a
// free pays one load from a small filter that is all zeros unless some sampled block is alive.

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

// Initial-exec TLS: our code is linked into the executable, so this is a fixed %fs offset and can
// never reach __tls_get_addr (which may allocate).
#define GR_HEAP_TLS __thread __attribute__((tls_model("initial-exec")))

typedef struct {
    int64_t bytes_until_sample;   // countdown; the allocation that takes it to <= 0 is sampled
    uint32_t generation;          // sampler generation the countdown was drawn for
    uint32_t in_hook;             // re-entry guard for the slow path
    uint64_t rng;                 // xorshift64* state, 0 = not seeded yet
    uintptr_t stack_lo;           // bounds of the stack we run on, set by the runtime on every
    uintptr_t stack_hi;           //   goroutine switch; 0/0 = the thread's own stack
    uintptr_t thread_stack_hi;    // cached top of this thread's own stack, 0 = unknown yet
} gr_heap_thread_state;

extern GR_HEAP_TLS gr_heap_thread_state gr_heap_tls;

/// 0 while sampling is off; otherwise bumped on every rate change so threads redraw their countdown.
extern _Atomic uint32_t gr_heap_generation;

// ---- sampled-pointer filter: a counting summary of the side table -------------------------------
#define GR_HEAP_FILTER_BITS 15
extern _Atomic uint16_t gr_heap_pointer_filter[1u << GR_HEAP_FILTER_BITS];

static inline uint64_t gr_heap_pointer_hash(const void *ptr) {
    return ((uint64_t)(uintptr_t)ptr >> 4) * 0x9E3779B97F4A7C15ull;
}

static inline size_t gr_heap_filter_index(const void *ptr) {
    return (size_t)(gr_heap_pointer_hash(ptr) >> (64 - GR_HEAP_FILTER_BITS));
}

/// False means `ptr` is certainly not a sampled block; true means look it up.
static inline int gr_heap_pointer_maybe_sampled(const void *ptr) {
    return atomic_load_explicit(&gr_heap_pointer_filter[gr_heap_filter_index(ptr)], memory_order_relaxed) != 0;
}

// ---- what the interposer calls --------------------------------------------------------------------

/// The countdown expired, or the thread's countdown belongs to an old generation.
void gr_heap_sample_slow(void *ptr, size_t size);

/// Called for every successful allocation of `size` requested bytes at `ptr`.
static inline __attribute__((always_inline)) void gr_heap_note_alloc(void *ptr, size_t size) {
    uint32_t generation = atomic_load_explicit(&gr_heap_generation, memory_order_relaxed);
    if (generation == 0) return;
    gr_heap_thread_state *t = &gr_heap_tls;
    int64_t left = t->bytes_until_sample - (int64_t)size;
    t->bytes_until_sample = left;
    if (__builtin_expect(left <= 0 || t->generation != generation, 0)) gr_heap_sample_slow(ptr, size);
}

/// What a sampled block contributed to its bucket, so its free can take exactly that back out.
typedef struct {
    uint64_t size;          // requested bytes
    uint64_t objects_fx;    // unbiased object count, 1/65536 units
    uint64_t bytes_est;     // unbiased bytes
    uint32_t bucket;
} gr_heap_sampled_block;

/// Removes `ptr` from the side table if it is there; returns 1 and fills `out` when it was sampled.
int gr_heap_take_sampled_block(const void *ptr, gr_heap_sampled_block *out);
/// Puts a block taken by gr_heap_take_sampled_block back (a realloc that failed).
void gr_heap_restore_sampled_block(const void *ptr, const gr_heap_sampled_block *block);
/// Credits a freed sampled block to its bucket.
void gr_heap_credit_free(const gr_heap_sampled_block *block);

/// Looks `ptr` up in the side table and credits its bucket if it was sampled.
void gr_heap_forget_if_sampled(void *ptr);

/// Called by free() for every non-null pointer before it goes back to libc. The lookup is out of line
/// so free() itself stays a filter load and a tail call.
static inline __attribute__((always_inline)) void gr_heap_note_free(void *ptr) {
    if (__builtin_expect(gr_heap_pointer_maybe_sampled(ptr), 0)) gr_heap_forget_if_sampled(ptr);
}

// ---- tables (HeapSampleBuckets.c, HeapSamplePointers.c) -------------------------------------------
#define GR_HEAP_MAX_DEPTH 64
#define GR_HEAP_NO_BUCKET UINT32_MAX

/// Finds or creates the bucket for this stack; GR_HEAP_NO_BUCKET when the table is full.
uint32_t gr_heap_bucket_for_stack(const uintptr_t *stack, size_t depth);
void gr_heap_bucket_add_alloc(uint32_t bucket, uint64_t size, uint64_t objects_fx, uint64_t bytes_est);
void gr_heap_bucket_add_free(uint32_t bucket, uint64_t size, uint64_t objects_fx, uint64_t bytes_est);

/// Records a sampled block; returns 0 when the side table has no room near its slot.
int gr_heap_remember_sampled_block(const void *ptr, const gr_heap_sampled_block *block);

// ---- stacks (HeapSampler.c) ------------------------------------------------------------------------
/// Bounds [lo, hi) of mapped stack around `fp` on the calling thread: the goroutine stack the runtime
/// announced if `fp` lies in it, else [fp, top of the thread's own stack). 0 when neither holds `fp`.
int gr_heap_stack_bounds(uintptr_t fp, uintptr_t *lo, uintptr_t *hi);

// ---- code ranges (HeapSampleCode.c) ----------------------------------------------------------------
/// Collects the code segments of every object loaded now; called once before main.
void gr_heap_code_ranges_init(void);
/// The address lies in the main executable's code.
int gr_heap_in_program_text(uintptr_t address);
/// The address lies in known code, right after a call instruction.
int gr_heap_is_return_address(uintptr_t address);
/// Cuts a walked stack at its first entry that cannot be a return address; returns the new count.
size_t gr_heap_trim_implausible_frames(uintptr_t *frames, size_t count);

// ---- statistics -----------------------------------------------------------------------------------
extern _Atomic uint64_t gr_heap_stat_samples;
extern _Atomic uint64_t gr_heap_stat_stack_table_drops;
extern _Atomic uint64_t gr_heap_stat_pointer_table_drops;
extern _Atomic uint64_t gr_heap_stat_reentrant_skips;
extern _Atomic uint64_t gr_heap_stat_unwalkable_stacks;
extern _Atomic uint64_t gr_heap_stat_live_sampled_blocks;
extern _Atomic uint64_t gr_heap_stat_buckets_used;

#endif
