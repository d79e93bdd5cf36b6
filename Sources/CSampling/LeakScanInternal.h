// Shared by the leak scan's files (LeakScan.c, WorldStop.c, MallocHeapMap.c, LeakScanDebug.c); not
// part of the module's interface. Design: the top of Sources/Goroutines/LeakDetection.swift.
#ifndef GR_LEAK_SCAN_INTERNAL_H
#define GR_LEAK_SCAN_INTERNAL_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "LeakScan.h"
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

#define GR_HIDDEN __attribute__((visibility("hidden")))

#define MAX_THREADS 4096
#define MAX_REGIONS 65536
#define MAX_SCRATCH 16
#define RED_ZONE 128
#define PAGE 4096u
#define ARENA_HEAP_ALIGN (64u << 20)   // glibc's HEAP_MAX_SIZE on 64-bit
#define TLS_ROOT_BELOW (64u << 10)     // static TLS sits below the thread pointer (x86-64 variant II)
#define TLS_ROOT_ABOVE PAGE
#define STOP_TIMEOUT_NS 2000000000LL
#define READ_BUFFER_WORDS 8192
#define MAPS_TEXT_BYTES (16u << 20)
#define ROOT_BIT ((uintptr_t)1 << 63)
#define NO_CHUNK ((size_t)-1)

typedef struct stopped_thread {
    int tid;
    _Atomic int ready;
    uintptr_t thread_pointer;
    uintptr_t regs[NGREG];   // the interrupted registers: in .bss, so they are roots
} stopped_thread;

typedef struct region { uintptr_t lo, hi; uint8_t readable, writable, file, special, is_heap, anonymous; } region;

typedef struct segment { uintptr_t lo, hi; size_t first, count; int arena; } segment;   // a run of malloc chunks

typedef struct range { uintptr_t lo, hi; } range;

typedef struct scan_state {
    int mem_fd;
    region *regions; size_t region_count;
    segment *segments; size_t segment_count, segment_capacity;
    range *excluded; size_t excluded_count, excluded_capacity;
    uintptr_t *chunks; uint8_t *marks; size_t chunk_count, chunk_capacity;
    size_t *stack; size_t stack_count;
    uintptr_t heap_lo, heap_hi;
    uintptr_t *buffer;   // for reads through /proc/self/mem
    uintptr_t *rsps; size_t rsp_count;
    uintptr_t *origin;    // debugging (GOROUTINES_LEAK_DEBUG=1): what marked each chunk
    uintptr_t current;    // the chunk index being scanned, or the root word's address | ROOT_BIT
    // Candidates' stacks, sorted: a reference into one (a waker holding the wait node it just dequeued)
    // makes that candidate live.
    range *candidate_stacks; size_t *candidate_index; size_t candidate_count;
    uintptr_t candidates_lo, candidates_hi;
    uint8_t *touched;   // per goroutine
    uintptr_t own_lo, own_hi;   // the leak detector's own frames on the calling stack: never roots
} scan_state;

/// FREE: a block malloc holds free (the top chunk, or binned: the next header's PREV_INUSE is clear). Its
/// bytes are stale, so it is never scanned. Blocks in tcache and fastbins look in use and are scanned.
enum { UNMARKED = 0, MARKED = 1, BARRIER = 2, FREE = 3 };

static inline uintptr_t word_at(uintptr_t address) { return *(const uintptr_t *)address; }
static inline size_t page_round(size_t n) { return (n + PAGE - 1) & ~(size_t)(PAGE - 1); }

// WorldStop.c: stopping every other thread with a signal whose handler saves its registers and waits.
GR_HIDDEN extern stopped_thread leak_stopped[MAX_THREADS];   // in .bss: the saved registers are roots
GR_HIDDEN extern _Atomic int leak_stopped_count;
GR_HIDDEN int leak_install_stop_handler(void);
GR_HIDDEN int leak_stop_world(void);
GR_HIDDEN void leak_start_world(void);

// MallocHeapMap.c: the process's mappings and malloc's heap in them.
GR_HIDDEN extern uintptr_t leak_tcache_key;   // glibc's tcache_key (0 if unknown)
GR_HIDDEN int leak_safe_read(scan_state *s, uintptr_t address, void *out, size_t bytes);
GR_HIDDEN int leak_read_maps(scan_state *s, char *text, size_t capacity, size_t max_regions);
GR_HIDDEN void leak_find_heap_in_region(scan_state *s, const region *r);
GR_HIDDEN void leak_fill_chunks(scan_state *s);
GR_HIDDEN size_t leak_find_chunk(const scan_state *s, uintptr_t v);
GR_HIDDEN uintptr_t leak_chunk_end(const scan_state *s, size_t i);
GR_HIDDEN void leak_exclude_main_arena_state(scan_state *s);

// LeakScan.c
GR_HIDDEN void leak_exclude(scan_state *s, uintptr_t lo, uintptr_t hi);

// LeakScanDebug.c (GOROUTINES_LEAK_DEBUG=1)
GR_HIDDEN extern int leak_debug_enabled;
GR_HIDDEN void leak_put_hex(char *out, size_t *n, uintptr_t v);
GR_HIDDEN void leak_debug_chain(const scan_state *s, uintptr_t target, uintptr_t goroutine);
GR_HIDDEN void leak_debug_where(scan_state *s, uintptr_t target, uintptr_t goroutine, int depth);

#endif
