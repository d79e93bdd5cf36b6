// One bucket per distinct allocation stack: an open-addressed, insert-only, lock-free table in BSS.
//
// A slot goes empty -> writing -> ready. The thread that wins the empty -> writing CAS fills in the
// stack, then publishes it with a release store. Others skip a slot that is still being written
// rather than wait for it: at worst the same stack gets a second bucket (the Swift side merges them),
// and a writer that never finishes (its thread was left behind by fork) costs one slot, not a hang.
#include "HeapSampler.h"
#include "HeapSampleInternal.h"

#include <string.h>

#define GR_BUCKET_BITS 14
#define GR_BUCKET_COUNT (1u << GR_BUCKET_BITS)
#define GR_BUCKET_MAX_PROBE 512

enum { GR_SLOT_EMPTY = 0, GR_SLOT_WRITING = 1, GR_SLOT_READY = 2 };

typedef struct {
    _Atomic uint64_t sampled_allocs, sampled_alloc_bytes, alloc_objects_fx, alloc_bytes_est;
    _Atomic uint64_t sampled_frees, sampled_free_bytes, free_objects_fx, free_bytes_est;
} __attribute__((aligned(64))) gr_bucket_counters;

// Struct of arrays: the probe loop touches only state and hash; untouched pages stay unbacked.
static _Atomic uint32_t gr_bucket_state[GR_BUCKET_COUNT];
static uint64_t gr_bucket_hash[GR_BUCKET_COUNT];
static uint32_t gr_bucket_depth[GR_BUCKET_COUNT];
static uint64_t gr_bucket_creation_order[GR_BUCKET_COUNT];
static _Atomic uint64_t gr_buckets_created;
static uintptr_t gr_bucket_stack[GR_BUCKET_COUNT][GR_HEAP_MAX_DEPTH];
static gr_bucket_counters gr_bucket_counts[GR_BUCKET_COUNT];

static uint64_t gr_stack_hash(const uintptr_t *stack, size_t depth) {
    uint64_t h = 0xcbf29ce484222325ull ^ depth;
    for (size_t i = 0; i < depth; i++) {
        h ^= (uint64_t)stack[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h ? h : 1;
}

static int gr_bucket_matches(uint32_t slot, uint64_t hash, const uintptr_t *stack, size_t depth) {
    return gr_bucket_hash[slot] == hash && gr_bucket_depth[slot] == depth &&
           memcmp(gr_bucket_stack[slot], stack, depth * sizeof(uintptr_t)) == 0;
}

uint32_t gr_heap_bucket_for_stack(const uintptr_t *stack, size_t depth) {
    if (depth > GR_HEAP_MAX_DEPTH) depth = GR_HEAP_MAX_DEPTH;
    uint64_t hash = gr_stack_hash(stack, depth);
    uint32_t slot = (uint32_t)(hash >> (64 - GR_BUCKET_BITS));
    for (int probe = 0; probe < GR_BUCKET_MAX_PROBE; probe++, slot = (slot + 1) & (GR_BUCKET_COUNT - 1)) {
        uint32_t state = atomic_load_explicit(&gr_bucket_state[slot], memory_order_acquire);
        if (state == GR_SLOT_EMPTY) {
            uint32_t expected = GR_SLOT_EMPTY;
            if (atomic_compare_exchange_strong_explicit(&gr_bucket_state[slot], &expected, GR_SLOT_WRITING,
                                                        memory_order_acquire, memory_order_acquire)) {
                gr_bucket_hash[slot] = hash;
                gr_bucket_depth[slot] = (uint32_t)depth;
                memcpy(gr_bucket_stack[slot], stack, depth * sizeof(uintptr_t));
                gr_bucket_creation_order[slot] = atomic_fetch_add_explicit(&gr_buckets_created, 1, memory_order_relaxed) + 1;
                atomic_store_explicit(&gr_bucket_state[slot], GR_SLOT_READY, memory_order_release);
                atomic_fetch_add_explicit(&gr_heap_stat_buckets_used, 1, memory_order_relaxed);
                return slot;
            }
            state = expected;   // someone else claimed it: look at what they put there
        }
        if (state == GR_SLOT_READY && gr_bucket_matches(slot, hash, stack, depth)) return slot;
    }
    return GR_HEAP_NO_BUCKET;
}

void gr_heap_bucket_add_alloc(uint32_t bucket, uint64_t size, uint64_t objects_fx, uint64_t bytes_est) {
    gr_bucket_counters *c = &gr_bucket_counts[bucket];
    atomic_fetch_add_explicit(&c->alloc_objects_fx, objects_fx, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->alloc_bytes_est, bytes_est, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->sampled_alloc_bytes, size, memory_order_relaxed);
    // Last and release: a reader that sees this count also sees the values above.
    atomic_fetch_add_explicit(&c->sampled_allocs, 1, memory_order_release);
}

void gr_heap_bucket_add_free(uint32_t bucket, uint64_t size, uint64_t objects_fx, uint64_t bytes_est) {
    gr_bucket_counters *c = &gr_bucket_counts[bucket];
    atomic_fetch_add_explicit(&c->free_objects_fx, objects_fx, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->free_bytes_est, bytes_est, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->sampled_free_bytes, size, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->sampled_frees, 1, memory_order_release);
}

size_t gr_heap_bucket_capacity(void) { return GR_BUCKET_COUNT; }

int gr_heap_read_bucket(size_t index, uintptr_t *stack, size_t max_depth, size_t *depth,
                        gr_heap_bucket_counts *counts) {
    if (index >= GR_BUCKET_COUNT) return 0;
    if (atomic_load_explicit(&gr_bucket_state[index], memory_order_acquire) != GR_SLOT_READY) return 0;
    size_t n = gr_bucket_depth[index];
    if (n > max_depth) n = max_depth;
    memcpy(stack, gr_bucket_stack[index], n * sizeof(uintptr_t));
    *depth = n;
    counts->creation_order = gr_bucket_creation_order[index];

    // Frees first: every free we see had its allocation counted before it, so in-use never goes negative.
    gr_bucket_counters *c = &gr_bucket_counts[index];
    counts->sampled_frees = atomic_load_explicit(&c->sampled_frees, memory_order_acquire);
    counts->sampled_free_bytes = atomic_load_explicit(&c->sampled_free_bytes, memory_order_relaxed);
    counts->free_objects_fx = atomic_load_explicit(&c->free_objects_fx, memory_order_relaxed);
    counts->free_bytes_est = atomic_load_explicit(&c->free_bytes_est, memory_order_relaxed);
    counts->sampled_allocs = atomic_load_explicit(&c->sampled_allocs, memory_order_acquire);
    counts->sampled_alloc_bytes = atomic_load_explicit(&c->sampled_alloc_bytes, memory_order_relaxed);
    counts->alloc_objects_fx = atomic_load_explicit(&c->alloc_objects_fx, memory_order_relaxed);
    counts->alloc_bytes_est = atomic_load_explicit(&c->alloc_bytes_est, memory_order_relaxed);
    // A free racing with this read may have bumped one of its fields but not the others; clamp.
    if (counts->sampled_frees > counts->sampled_allocs) counts->sampled_frees = counts->sampled_allocs;
    if (counts->sampled_free_bytes > counts->sampled_alloc_bytes) counts->sampled_free_bytes = counts->sampled_alloc_bytes;
    if (counts->free_objects_fx > counts->alloc_objects_fx) counts->free_objects_fx = counts->alloc_objects_fx;
    if (counts->free_bytes_est > counts->alloc_bytes_est) counts->free_bytes_est = counts->alloc_bytes_est;
    return 1;
}
