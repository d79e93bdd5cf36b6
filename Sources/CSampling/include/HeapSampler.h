#ifndef CSAMPLING_HEAP_SAMPLER_H
#define CSAMPLING_HEAP_SAMPLER_H
// Sampled heap profiling of the whole process, fed by the malloc interposer (MallocInterpose.h).
//
// Each thread counts down allocated bytes; gaps are exponentially distributed with mean = rate, so an
// allocation of S bytes is sampled with probability 1 - e^(-S/rate). A sampled allocation records its
// stack (frame-pointer walk) into a bucket per distinct stack, weighted by 1/(1 - e^(-S/rate)) so the
// sums estimate the true totals, and its pointer goes into a side table so free() credits the bucket.
// Everything is preallocated and lock-free: safe with threads coming and going, and across fork.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Go's MemProfileRate default: one sample per 512 KiB allocated, on average.
#define GR_HEAP_DEFAULT_RATE 524288
/// The environment variable read at startup; its value is a rate in bytes (0 turns sampling off).
#define GR_HEAP_RATE_ENV "GOROUTINES_MEMPROFILERATE"
/// Deepest stack recorded per sample (frames beyond it are cut from the root end).
#define GR_HEAP_STACK_DEPTH 64

/// Mean bytes between samples; 0 = off, 1 = every allocation.
int64_t gr_heap_get_rate(void);
/// Sets the rate for all threads (negative values are treated as 0). Blocks sampled so far stay
/// tracked, so their frees are still credited after the rate changes or sampling is turned off.
void gr_heap_set_rate(int64_t rate);

/// Tells the sampler the bounds [lo, hi) of the stack the calling thread runs on from now on (the
/// current goroutine's stack). The runtime calls it on every switch; (0, 0) means "the thread's own
/// stack". Without it, samples on foreign stacks record only the allocation's direct caller.
void gr_heap_set_stack_bounds(uintptr_t lo, uintptr_t hi);

/// Return addresses of the calling code, as a sample would record them: out[0] returns into the
/// function that called this one, out[1] into its caller, and so on (same stack bounds as samples).
size_t gr_heap_current_stack(uintptr_t *out, size_t max);

/// Entry `index` of what gr_heap_current_stack would return to the caller of this function (0 = the
/// return address into that caller); 0 when the stack is shorter.
uintptr_t gr_heap_stack_frame(size_t index);

/// One bucket's totals. Raw fields count what was sampled; estimates are unbiased per sample.
typedef struct {
    uint64_t sampled_allocs;
    uint64_t sampled_alloc_bytes;
    uint64_t sampled_frees;
    uint64_t sampled_free_bytes;
    uint64_t alloc_objects_fx;   // estimated objects allocated, in 1/65536 units
    uint64_t alloc_bytes_est;    // estimated bytes allocated
    uint64_t free_objects_fx;    // estimated objects freed, in 1/65536 units
    uint64_t free_bytes_est;     // estimated bytes freed
    uint64_t creation_order;     // 1 for the first bucket ever created, 2 for the next, ...
} gr_heap_bucket_counts;

/// Number of bucket slots; iterate 0..<capacity with gr_heap_read_bucket.
size_t gr_heap_bucket_capacity(void);

/// Copies bucket `index` if it holds a stack: the return addresses (leaf first) into `stack`
/// (at most `max_depth`), their count into `*depth`, and the totals into `*counts`. Free counts are
/// read before alloc counts, so a snapshot never shows more freed than allocated. Returns 0 for an
/// empty slot.
int gr_heap_read_bucket(size_t index, uintptr_t *stack, size_t max_depth, size_t *depth,
                        gr_heap_bucket_counts *counts);

typedef struct {
    uint64_t samples;               // sampled allocations recorded
    uint64_t stack_table_drops;     // samples lost because the stack table was full
    uint64_t pointer_table_drops;   // sampled blocks whose free cannot be credited (side table full)
    uint64_t reentrant_skips;       // samples skipped because the hook was re-entered on that thread
    uint64_t unwalkable_stacks;     // samples taken on a stack of unknown bounds (caller frame only)
    uint64_t live_sampled_blocks;   // sampled blocks not yet freed
    uint64_t buckets_used;          // distinct stacks recorded
} gr_heap_stats;

void gr_heap_read_stats(gr_heap_stats *out);

#ifdef __cplusplus
}
#endif
#endif
