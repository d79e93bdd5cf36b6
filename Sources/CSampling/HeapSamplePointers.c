// The side table of sampled blocks, so free() can credit in-use without any header on the block.
//
// An open-addressed lock-free hash of pointers in BSS, with linear probing bounded to a window, and a
// small counting filter in front of it: free() of a block that was never sampled reads one filter
// counter (zero) and is done. Inserting claims a slot with a CAS to RESERVED, writes the payload, then
// publishes the pointer, so a reader that finds the pointer also finds its payload; removing swaps
// the pointer for a tombstone, which later inserts reuse. A slot left RESERVED by a thread that fork
// left behind is simply lost. Each pointer has at most one owner, so a pointer is never inserted and
// removed concurrently with itself.
#include "HeapSampleInternal.h"

#define GR_POINTER_BITS 19
#define GR_POINTER_COUNT (1u << GR_POINTER_BITS)
#define GR_POINTER_MAX_PROBE 64

// malloc never returns these (they are not 16-byte aligned heap addresses).
#define GR_KEY_EMPTY ((uintptr_t)0)
#define GR_KEY_TOMBSTONE ((uintptr_t)1)
#define GR_KEY_RESERVED ((uintptr_t)2)

_Atomic uint16_t gr_heap_pointer_filter[1u << GR_HEAP_FILTER_BITS];

static _Atomic uintptr_t gr_pointer_keys[GR_POINTER_COUNT];
static gr_heap_sampled_block gr_pointer_blocks[GR_POINTER_COUNT];

static inline uint32_t gr_pointer_home(const void *ptr) {
    return (uint32_t)(gr_heap_pointer_hash(ptr) >> (64 - GR_POINTER_BITS));
}

// Saturating: a counter that reached the top stays there (a permanent "maybe", never a wrong "no").
static void gr_filter_increment(const void *ptr) {
    _Atomic uint16_t *counter = &gr_heap_pointer_filter[gr_heap_filter_index(ptr)];
    uint16_t value = atomic_load_explicit(counter, memory_order_relaxed);
    while (value != UINT16_MAX &&
           !atomic_compare_exchange_weak_explicit(counter, &value, (uint16_t)(value + 1), memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

static void gr_filter_decrement(const void *ptr) {
    _Atomic uint16_t *counter = &gr_heap_pointer_filter[gr_heap_filter_index(ptr)];
    uint16_t value = atomic_load_explicit(counter, memory_order_relaxed);
    while (value != UINT16_MAX && value != 0 &&
           !atomic_compare_exchange_weak_explicit(counter, &value, (uint16_t)(value - 1), memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

int gr_heap_remember_sampled_block(const void *ptr, const gr_heap_sampled_block *block) {
    uint32_t slot = gr_pointer_home(ptr);
    for (int probe = 0; probe < GR_POINTER_MAX_PROBE; probe++, slot = (slot + 1) & (GR_POINTER_COUNT - 1)) {
        uintptr_t key = atomic_load_explicit(&gr_pointer_keys[slot], memory_order_acquire);
        if (key == (uintptr_t)ptr) {
            // A stale entry: the block was freed behind our back (glibc-internal __libc_free) and the
            // address came back. Credit that old block now and reuse its slot.
            gr_heap_bucket_add_free(gr_pointer_blocks[slot].bucket, gr_pointer_blocks[slot].size,
                                    gr_pointer_blocks[slot].objects_fx, gr_pointer_blocks[slot].bytes_est);
            gr_pointer_blocks[slot] = *block;
            return 1;
        }
        if (key != GR_KEY_EMPTY && key != GR_KEY_TOMBSTONE) continue;
        if (!atomic_compare_exchange_strong_explicit(&gr_pointer_keys[slot], &key, GR_KEY_RESERVED,
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        gr_pointer_blocks[slot] = *block;
        gr_filter_increment(ptr);   // before the pointer can be seen, so no free misses it
        atomic_fetch_add_explicit(&gr_heap_stat_live_sampled_blocks, 1, memory_order_relaxed);
        atomic_store_explicit(&gr_pointer_keys[slot], (uintptr_t)ptr, memory_order_release);
        return 1;
    }
    return 0;
}

int gr_heap_take_sampled_block(const void *ptr, gr_heap_sampled_block *out) {
    uint32_t slot = gr_pointer_home(ptr);
    for (int probe = 0; probe < GR_POINTER_MAX_PROBE; probe++, slot = (slot + 1) & (GR_POINTER_COUNT - 1)) {
        uintptr_t key = atomic_load_explicit(&gr_pointer_keys[slot], memory_order_acquire);
        if (key == GR_KEY_EMPTY) return 0;   // inserts never skip an empty slot, so it is not further on
        if (key != (uintptr_t)ptr) continue;
        *out = gr_pointer_blocks[slot];
        atomic_store_explicit(&gr_pointer_keys[slot], GR_KEY_TOMBSTONE, memory_order_release);
        gr_filter_decrement(ptr);
        atomic_fetch_sub_explicit(&gr_heap_stat_live_sampled_blocks, 1, memory_order_relaxed);
        return 1;
    }
    return 0;
}

void gr_heap_restore_sampled_block(const void *ptr, const gr_heap_sampled_block *block) {
    if (!gr_heap_remember_sampled_block(ptr, block))
        atomic_fetch_add_explicit(&gr_heap_stat_pointer_table_drops, 1, memory_order_relaxed);
}

void gr_heap_credit_free(const gr_heap_sampled_block *block) {
    gr_heap_bucket_add_free(block->bucket, block->size, block->objects_fx, block->bytes_est);
}

__attribute__((noinline)) void gr_heap_forget_if_sampled(void *ptr) {
    gr_heap_sampled_block block;
    if (gr_heap_take_sampled_block(ptr, &block)) gr_heap_credit_free(&block);
}

/// The table of sampled pointers: the goroutine leak scan must not count these as references.
void gr_heap_pointer_table_range(uintptr_t *lo, uintptr_t *hi) {
    *lo = (uintptr_t)gr_pointer_keys;
    *hi = (uintptr_t)(gr_pointer_keys + GR_POINTER_COUNT);
}
