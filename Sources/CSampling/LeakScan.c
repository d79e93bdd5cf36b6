// The world-stopped conservative reachability scan behind the goroutineleak profile: roots, marking,
// the candidates' fixpoint. The design, and why it never reports a goroutine that something alive can
// still wake, is explained at the top of Sources/Goroutines/LeakDetection.swift. Helpers: WorldStop.c,
// MallocHeapMap.c, LeakScanDebug.c. Between stopping and resuming the other threads this file
// uses only system calls, its own page-backed tables and the stopped memory: the stopped threads may
// hold malloc's locks or be in the middle of anything.
#define _GNU_SOURCE
#include "LeakScanInternal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

void gr_heap_pointer_table_range(uintptr_t *lo, uintptr_t *hi);

static atomic_flag analysis_busy = ATOMIC_FLAG_INIT;

// ---- scratch memory (never a root) ----

static struct { uintptr_t lo, hi; } scratch_ranges[MAX_SCRATCH];
static _Atomic int scratch_lock;

static void scratch_note(uintptr_t lo, uintptr_t hi, int add) {
    while (atomic_exchange(&scratch_lock, 1)) {}
    for (int i = 0; i < MAX_SCRATCH; i++) {
        if (add && scratch_ranges[i].lo == 0) { scratch_ranges[i].lo = lo; scratch_ranges[i].hi = hi; break; }
        if (!add && scratch_ranges[i].lo == lo) { scratch_ranges[i].lo = scratch_ranges[i].hi = 0; break; }
    }
    atomic_store(&scratch_lock, 0);
}

void *gr_leak_scratch_alloc(size_t bytes) {
    bytes = page_round(bytes ? bytes : 1);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    scratch_note((uintptr_t)p, (uintptr_t)p + bytes, 1);
    return p;
}

void gr_leak_scratch_free(void *p, size_t bytes) {
    if (!p) return;
    scratch_note((uintptr_t)p, 0, 0);
    munmap(p, page_round(bytes ? bytes : 1));
}

/// glibc's leak_tcache_key: the second word of every block sitting in a thread cache (0 if unknown).

// ---- marking ----

static void touch_candidate_stack(scan_state *s, uintptr_t v) {
    size_t lo = 0, hi = s->candidate_count;
    while (hi - lo > 1) { size_t mid = (lo + hi) / 2; if (s->candidate_stacks[mid].lo <= v) lo = mid; else hi = mid; }
    if (s->candidate_count && v >= s->candidate_stacks[lo].lo && v < s->candidate_stacks[lo].hi) {
        if (leak_debug_enabled && !s->touched[s->candidate_index[lo]]) {
            char line[256]; size_t n = 0;
            memcpy(line, "leakscan: stack ref ", 20); n = 20; leak_put_hex(line, &n, v);
            memcpy(line + n, " from ", 6); n += 6;
            if (s->current & ROOT_BIT) { leak_put_hex(line, &n, s->current & ~ROOT_BIT); line[n++] = 'r'; }
            else { leak_put_hex(line, &n, s->chunks[s->current]); line[n++] = 'c'; line[n++] = ' '; leak_put_hex(line, &n, word_at(s->chunks[s->current] + 16)); }
            memcpy(line + n, " stack ", 7); n += 7; leak_put_hex(line, &n, s->candidate_stacks[lo].lo);
            line[n++] = '\n'; write(2, line, n);
            if (!(s->current & ROOT_BIT) && s->origin) leak_debug_chain(s, s->chunks[s->current] + 16, 0);
        }
        s->touched[s->candidate_index[lo]] = 1;
    }
}

static inline void visit(scan_state *s, uintptr_t v) {
    if (v >= s->candidates_lo && v < s->candidates_hi) { touch_candidate_stack(s, v); return; }
    size_t i = leak_find_chunk(s, v);
    if (i == NO_CHUNK || s->marks[i] != UNMARKED) return;
    s->marks[i] = MARKED;
    if (s->origin) s->origin[i] = s->current;
    s->stack[s->stack_count++] = i;
}

/// A word may be a reference as stored, or with Swift's spare bits (top byte) set.
static inline void consider(scan_state *s, uintptr_t w) {
    if (w < 4096) return;
    visit(s, w);
    uintptr_t stripped = w & 0x00FFFFFFFFFFFFFFull;
    if (stripped != w) visit(s, stripped);
}

static void drain(scan_state *s) {
    while (s->stack_count) {
        size_t i = s->stack[--s->stack_count];
        uintptr_t end = leak_chunk_end(s, i);
        if (leak_find_chunk(s, end) != NO_CHUNK) end += 8;   // the lent prev_size word of the next block
        s->current = i;
        for (uintptr_t a = s->chunks[i] + 16; a + 8 <= end; a += 8) consider(s, word_at(a));
    }
}

/// Scans memory that may contain unreadable pages (guards), through /proc/self/mem.
static void scan_root(scan_state *s, uintptr_t lo, uintptr_t hi) {
    lo = (lo + 7) & ~(uintptr_t)7;
    while (lo < hi) {
        size_t bytes = hi - lo > READ_BUFFER_WORDS * 8 ? READ_BUFFER_WORDS * 8 : (size_t)(hi - lo) & ~(size_t)7;
        if (bytes == 0) break;
        if (leak_safe_read(s, lo, s->buffer, bytes)) {
            for (size_t k = 0; k < bytes / 8; k++) { s->current = (lo + k * 8) | ROOT_BIT; consider(s, s->buffer[k]); }
            lo += bytes;
            continue;
        }
        // Something unreadable in this block: go page by page.
        uintptr_t page_end = (lo & ~(uintptr_t)(PAGE - 1)) + PAGE;
        if (page_end > hi) page_end = hi;
        size_t n = (size_t)(page_end - lo) & ~(size_t)7;
        if (n && leak_safe_read(s, lo, s->buffer, n)) for (size_t k = 0; k < n / 8; k++) consider(s, s->buffer[k]);
        lo = page_end;
    }
}

void leak_exclude(scan_state *s, uintptr_t lo, uintptr_t hi) {
    if (lo >= hi || s->excluded_count >= s->excluded_capacity) return;
    s->excluded[s->excluded_count++] = (range){ lo, hi };
}

static void sort_ranges(range *r, size_t n) {   // shell sort: no allocation, n is modest
    size_t gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        size_t gap = gaps[g];
        for (size_t i = gap; i < n; i++) {
            range t = r[i];
            size_t j = i;
            for (; j >= gap && r[j - gap].lo > t.lo; j -= gap) r[j] = r[j - gap];
            r[j] = t;
        }
    }
}

/// Scans [lo, hi) minus the excluded ranges (sorted).
static void scan_root_minus_excluded(scan_state *s, uintptr_t lo, uintptr_t hi) {
    uintptr_t pos = lo;
    for (size_t i = 0; i < s->excluded_count && pos < hi; i++) {
        range e = s->excluded[i];
        if (e.hi <= pos) continue;
        if (e.lo >= hi) break;
        if (e.lo > pos) scan_root(s, pos, e.lo);
        if (e.hi > pos) pos = e.hi;
    }
    if (pos < hi) scan_root(s, pos, hi);
}

static int in_goroutine_stack(const gr_leak_goroutine *gs, size_t n, uintptr_t sp) {
    for (size_t i = 0; i < n; i++) if (sp >= gs[i].stack_lo && sp < gs[i].stack_hi) return 1;
    return 0;
}

/// Where a goroutine's live frames start: the stack pointer of a thread running on it, else its saved one.
static uintptr_t live_stack_start(scan_state *s, const gr_leak_goroutine *g) {
    for (size_t k = 0; k < s->rsp_count; k++) {
        uintptr_t sp = s->rsps[k];
        if (sp >= g->stack_lo && sp < g->stack_hi) return sp - RED_ZONE > g->stack_lo ? sp - RED_ZONE : g->stack_lo;
    }
    uintptr_t saved = g->context ? word_at(g->context) : 0;   // gr_context.rsp
    if (saved >= g->stack_lo && saved < g->stack_hi) return saved - RED_ZONE > g->stack_lo ? saved - RED_ZONE : g->stack_lo;
    return g->stack_lo;
}

static void make_live(scan_state *s, const gr_leak_goroutine *g) {
    size_t i = leak_find_chunk(s, g->object);
    if (i != NO_CHUNK && s->marks[i] != MARKED) { s->marks[i] = MARKED; s->stack[s->stack_count++] = i; }
    i = g->context ? leak_find_chunk(s, g->context) : NO_CHUNK;
    if (i != NO_CHUNK && s->marks[i] != MARKED) { s->marks[i] = MARKED; s->stack[s->stack_count++] = i; }
    i = g->wait_state ? leak_find_chunk(s, g->wait_state) : NO_CHUNK;
    if (i != NO_CHUNK && s->marks[i] != MARKED) { s->marks[i] = MARKED; s->stack[s->stack_count++] = i; }
    uintptr_t start = live_stack_start(s, g);
    if (s->own_hi > s->own_lo && s->own_lo >= start && s->own_hi <= g->stack_hi) {
        scan_root(s, start, s->own_lo);
        scan_root(s, s->own_hi, g->stack_hi);
    } else {
        scan_root(s, start, g->stack_hi);
    }
    drain(s);
}

static int reached(const scan_state *s, uintptr_t address) {
    size_t i = leak_find_chunk(s, address);
    return i == NO_CHUNK || s->marks[i] == MARKED;   // outside the heap: assume reachable
}

static void *map_pages(size_t bytes) {
    void *p = mmap(NULL, page_round(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

// ---- the analysis ----

static int analyze_stopped(scan_state *s, gr_leak_goroutine *gs, size_t n, const uintptr_t *targets, size_t target_count,
                           uintptr_t self_sp, uintptr_t own_top, void *work, size_t work_bytes) {
    if (own_top > self_sp + 64) { s->own_lo = self_sp - RED_ZONE; s->own_hi = own_top - 64; }
    char *maps_text = work;
    s->regions = (region *)(maps_text + MAPS_TEXT_BYTES);
    s->segments = (segment *)(s->regions + MAX_REGIONS);
    s->segment_capacity = MAX_REGIONS;
    s->excluded = (range *)(s->segments + MAX_REGIONS);
    s->excluded_capacity = MAX_REGIONS + n + MAX_THREADS + 64;
    s->buffer = (uintptr_t *)(s->excluded + s->excluded_capacity);
    s->rsps = s->buffer + READ_BUFFER_WORDS;
    if ((char *)(s->rsps + MAX_THREADS + 1) > (char *)work + work_bytes) return -4;

    if (leak_read_maps(s, maps_text, MAPS_TEXT_BYTES, MAX_REGIONS) != 0) return -2;
    for (size_t i = 0; i < s->region_count; i++) leak_find_heap_in_region(s, &s->regions[i]);
    if (s->segment_count == 0) return -3;

    size_t heap_bytes = 0, chunk_bound = 0;
    for (size_t i = 0; i < s->segment_count; i++) { heap_bytes += s->segments[i].hi - s->segments[i].lo; chunk_bound += s->segments[i].count; }
    size_t table_bytes = chunk_bound * (2 * sizeof(uintptr_t) + 1 + sizeof(size_t))
        + n * (sizeof(range) + sizeof(size_t) + 1) + 64;
    void *table = map_pages(table_bytes);
    if (!table) return -4;
    s->chunks = table;
    s->stack = (size_t *)(s->chunks + chunk_bound);
    s->origin = leak_debug_enabled ? (uintptr_t *)(s->stack + chunk_bound) : NULL;
    s->marks = (uint8_t *)(s->stack + 2 * chunk_bound);
    s->candidate_stacks = (range *)(((uintptr_t)(s->marks + chunk_bound) + 15) & ~(uintptr_t)15);
    s->candidate_index = (size_t *)(s->candidate_stacks + n);
    s->touched = (uint8_t *)(s->candidate_index + n);
    s->candidate_count = 0;
    for (size_t i = 0; i < n; i++) {
        if (gs[i].kind != GR_LEAK_CANDIDATE) continue;
        size_t k = s->candidate_count++;
        // insertion into the sorted list (Gs come roughly in address order: cheap)
        while (k > 0 && s->candidate_stacks[k - 1].lo > gs[i].stack_lo) {
            s->candidate_stacks[k] = s->candidate_stacks[k - 1];
            s->candidate_index[k] = s->candidate_index[k - 1];
            k--;
        }
        // Only its live frames, from its saved stack pointer up: below is stale, and its bounds are also
        // its neighbours' bounds, which the stack allocator and G objects hold.
        uintptr_t saved = gs[i].context ? word_at(gs[i].context) : 0;
        uintptr_t live_lo = saved > gs[i].stack_lo + PAGE + RED_ZONE && saved < gs[i].stack_hi ? saved - RED_ZONE : gs[i].stack_lo + PAGE + 256;
        s->candidate_stacks[k] = (range){ live_lo, gs[i].stack_hi };
        s->candidate_index[k] = i;
    }
    if (s->candidate_count) {
        s->candidates_lo = s->candidate_stacks[0].lo;
        s->candidates_hi = 0;
        for (size_t k = 0; k < s->candidate_count; k++) if (s->candidate_stacks[k].hi > s->candidates_hi) s->candidates_hi = s->candidate_stacks[k].hi;
    }
    leak_fill_chunks(s);

    // Stack pointers of every stopped thread and of this one.
    int stopped_n = atomic_load(&leak_stopped_count);
    if (stopped_n > MAX_THREADS) stopped_n = MAX_THREADS;
    s->rsp_count = 0;
    for (int i = 0; i < stopped_n; i++) s->rsps[s->rsp_count++] = leak_stopped[i].regs[REG_RSP];
    if (leak_debug_enabled) {
        for (int i = 0; i < stopped_n; i++) {
            char line[128]; size_t k = 0;
            memcpy(line, "leakscan: leak_stopped tid ", 22); k = 22; leak_put_hex(line, &k, (uintptr_t)leak_stopped[i].tid);
            line[k++] = ' '; leak_put_hex(line, &k, leak_stopped[i].regs[REG_RSP]); line[k++] = ' '; leak_put_hex(line, &k, leak_stopped[i].regs[REG_RBX]);
            line[k++] = '\n'; write(2, line, k);
        }
    }
    s->rsps[s->rsp_count++] = self_sp;

    // Never roots: the heap (traced instead), every goroutine stack (live ones are added back from their
    // stack pointer up), the scan's own tables, the heap sampler's table of sampled pointers, and the
    // dead part of each thread stack below its stack pointer.
    for (size_t i = 0; i < s->segment_count; i++) leak_exclude(s, s->segments[i].lo, s->segments[i].hi);
    leak_exclude_main_arena_state(s);
    for (size_t i = 0; i < n; i++) leak_exclude(s, gs[i].stack_lo, gs[i].stack_hi);
    leak_exclude(s, (uintptr_t)work, (uintptr_t)work + work_bytes);
    if (!in_goroutine_stack(gs, n, self_sp)) leak_exclude(s, s->own_lo, s->own_hi);
    leak_exclude(s, (uintptr_t)table, (uintptr_t)table + page_round(table_bytes));
    for (int i = 0; i < MAX_SCRATCH; i++) leak_exclude(s, scratch_ranges[i].lo, scratch_ranges[i].hi);
    uintptr_t sampled_lo = 0, sampled_hi = 0;
    gr_heap_pointer_table_range(&sampled_lo, &sampled_hi);
    leak_exclude(s, sampled_lo, sampled_hi);
    for (size_t k = 0; k < s->rsp_count; k++) {
        uintptr_t sp = s->rsps[k];
        if (in_goroutine_stack(gs, n, sp)) continue;
        for (size_t r = 0; r < s->region_count; r++) {
            if (sp >= s->regions[r].lo && sp < s->regions[r].hi) {
                if (sp - RED_ZONE > s->regions[r].lo) leak_exclude(s, s->regions[r].lo, sp - RED_ZONE);
                break;
            }
        }
    }
    sort_ranges(s->excluded, s->excluded_count);

    // Goroutines that cannot run are barriers: reaching their G object or their saved registers (which
    // schedulers' frames keep stale pointers to) does not make their closure or stack reachable.
    for (size_t i = 0; i < n; i++) {
        if (gs[i].kind == GR_LEAK_LIVE) continue;
        size_t c = leak_find_chunk(s, gs[i].object);
        if (c != NO_CHUNK) s->marks[c] = BARRIER;
        c = gs[i].context ? leak_find_chunk(s, gs[i].context) : NO_CHUNK;
        if (c != NO_CHUNK) s->marks[c] = BARRIER;
        c = gs[i].wait_state ? leak_find_chunk(s, gs[i].wait_state) : NO_CHUNK;
        if (c != NO_CHUNK) s->marks[c] = BARRIER;
    }

    // Roots: every readable mapping that is not code or read-only file data, minus the exclusions; the
    // thread-local blocks of stopped threads; the live goroutines.
    for (size_t i = 0; i < s->region_count; i++) {
        const region *r = &s->regions[i];
        if (!r->readable || r->special || (r->file && !r->writable)) continue;
        scan_root_minus_excluded(s, r->lo, r->hi);
    }
    drain(s);
    for (int i = 0; i < stopped_n; i++) {
        uintptr_t tp = leak_stopped[i].thread_pointer;
        if (tp > TLS_ROOT_BELOW) scan_root_minus_excluded(s, tp - TLS_ROOT_BELOW, tp + TLS_ROOT_ABOVE);
    }
    uintptr_t self_tp = (uintptr_t)__builtin_thread_pointer();
    scan_root_minus_excluded(s, self_tp - TLS_ROOT_BELOW, self_tp + TLS_ROOT_ABOVE);
    drain(s);
    for (size_t i = 0; i < n; i++) if (gs[i].kind == GR_LEAK_LIVE) make_live(s, &gs[i]);

    // A candidate whose primitive is reached can be woken: it is live, and what it references is too.
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            gr_leak_goroutine *g = &gs[i];
            if (g->kind != GR_LEAK_CANDIDATE) continue;
            if (s->touched[i]) {
                g->kind = GR_LEAK_LIVE;
                make_live(s, g);
                changed = 1;
                continue;
            }
            for (uint32_t t = 0; t < g->target_count; t++) {
                size_t index = (size_t)g->first_target + t;
                if (index < target_count && reached(s, ~targets[index])) {
                    if (leak_debug_enabled) leak_debug_chain(s, ~targets[index], g->object);
                    g->kind = GR_LEAK_LIVE;
                    make_live(s, g);
                    changed = 1;
                    break;
                }
            }
        }
    }
    for (size_t i = 0; i < n; i++) gs[i].leaked = gs[i].kind == GR_LEAK_CANDIDATE;
    if (leak_debug_enabled) {
        for (size_t i = 0; i < n; i++) {
            if (!gs[i].leaked) continue;
            for (uint32_t t = 0; t < gs[i].target_count; t++) leak_debug_where(s, ~targets[gs[i].first_target + t], gs[i].object, 1);
        }
    }
    munmap(table, page_round(table_bytes));
    return 0;
}

/// The scan proper. Its own frames (below its frame address) are excluded from the roots; the caller's
/// registers were spilled by `gr_leak_analyze` above them, so they are scanned.
static __attribute__((noinline)) int analyze(gr_leak_goroutine *goroutines, size_t count, const uintptr_t *hidden_targets,
                                             size_t target_count, uintptr_t own_top) {
    for (size_t i = 0; i < count; i++) goroutines[i].leaked = 0;
    if (atomic_flag_test_and_set(&analysis_busy)) return -5;
    // A block freed into the thread cache carries the process's random tcache key in its second word.
    void *probe = malloc(40);
    if (probe) {
        free(probe);
        leak_tcache_key = ((volatile uintptr_t *)probe)[1];
        if (leak_tcache_key < 65536) leak_tcache_key = 0;
    }
    const char *debug = getenv("GOROUTINES_LEAK_DEBUG");
    leak_debug_enabled = debug && debug[0] == '1';
    int result = -1;
    scan_state s;
    memset(&s, 0, sizeof s);
    size_t work_bytes = MAPS_TEXT_BYTES + MAX_REGIONS * (sizeof(region) + sizeof(segment) + sizeof(range))
        + (count + MAX_THREADS + 64) * sizeof(range) + READ_BUFFER_WORDS * 8 + (MAX_THREADS + 1) * 8 + PAGE;
    void *work = map_pages(work_bytes);
    s.mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    if (work && s.mem_fd >= 0 && leak_install_stop_handler() == 0 && leak_stop_world() == 0) {
        uintptr_t self_sp = (uintptr_t)__builtin_frame_address(0);
        result = analyze_stopped(&s, goroutines, count, hidden_targets, target_count, self_sp, own_top, work, page_round(work_bytes));
        leak_start_world();
        if (result != 0) for (size_t i = 0; i < count; i++) goroutines[i].leaked = 0;
    }
    if (s.mem_fd >= 0) close(s.mem_fd);
    if (work) munmap(work, page_round(work_bytes));
    atomic_flag_clear(&analysis_busy);
    return result;
}

int gr_leak_analyze(gr_leak_goroutine *goroutines, size_t count, const uintptr_t *hidden_targets, size_t target_count,
                    uintptr_t own_frames_top) {
    __builtin_unwind_init();   // every callee-saved register of the caller goes into this frame
    int result = analyze(goroutines, count, hidden_targets, target_count, own_frames_top);
    __asm__ volatile("" ::: "memory");   // keep this frame (and the spilled registers) until the scan is over
    return result;
}
