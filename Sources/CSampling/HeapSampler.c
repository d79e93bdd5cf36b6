// The heap sampler: per-thread byte countdown, the sample slow path, rate control and statistics.
//
// Runs inside malloc, so it allocates nothing, takes no lock, calls no Swift and no dl_* function.
// Math (log for the exponential gap, 1 - e^-x for the weight) is done here rather than in libm, so
// the hook depends on nothing that might be interposed or lazily bound.
#define _GNU_SOURCE
#include "HeapSampler.h"
#include "FrameWalk.h"
#include "HeapSampleInternal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

GR_HEAP_TLS gr_heap_thread_state gr_heap_tls;
_Atomic uint32_t gr_heap_generation;
static _Atomic int64_t gr_heap_rate;

_Atomic uint64_t gr_heap_stat_samples;
_Atomic uint64_t gr_heap_stat_stack_table_drops;
_Atomic uint64_t gr_heap_stat_pointer_table_drops;
_Atomic uint64_t gr_heap_stat_reentrant_skips;
_Atomic uint64_t gr_heap_stat_unwalkable_stacks;
_Atomic uint64_t gr_heap_stat_live_sampled_blocks;
_Atomic uint64_t gr_heap_stat_buckets_used;

// Exported by ld.so: the initial stack pointer, i.e. just below argv/envp at the top of the main stack.
extern void *__libc_stack_end;

static pthread_t gr_main_thread;
static uintptr_t gr_max_thread_stack;   // largest distance from a thread's stack top we trust

// ---- math -----------------------------------------------------------------------------------------

static const double gr_ln2 = 0.69314718055994530942;

// Natural log for x in (0, 1]: x = m * 2^e with m in [1, 2), log m = 2 atanh((m-1)/(m+1)).
static double gr_log(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int exponent = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) {   // keep s small: m in [sqrt(1/2), sqrt(2))
        m *= 0.5;
        exponent += 1;
    }
    double s = (m - 1.0) / (m + 1.0), s2 = s * s, term = s, sum = 0.0;
    for (int k = 1; k <= 23; k += 2) {
        sum += term / k;
        term *= s2;
    }
    return 2.0 * sum + exponent * gr_ln2;
}

// 1 - e^(-x) for x >= 0, accurate also for tiny x (where it is about x).
static double gr_one_minus_exp_neg(double x) {
    if (x > 745.0) return 1.0;
    if (x < 0.5) {   // alternating series x - x^2/2! + x^3/3! - ...
        double term = x, sum = 0.0;
        for (int k = 1; k <= 20; k++) {
            sum += term;
            term *= -x / (k + 1);
        }
        return sum;
    }
    // e^(-x) = 2^(-k) e^(-r), |r| <= ln2/2; k < 1023 keeps 2^(-k) a normal double.
    int k = (int)(x / gr_ln2 + 0.5);
    if (k >= 1023) return 1.0;
    double r = x - k * gr_ln2, term = 1.0, e = 0.0;
    for (int i = 1; i <= 20; i++) {
        e += term;
        term *= -r / i;
    }
    uint64_t bits = (uint64_t)(1023 - k) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return 1.0 - e * scale;
}

// ---- random gaps ----------------------------------------------------------------------------------

static _Atomic uint64_t gr_seed_counter;

static uint64_t gr_splitmix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t gr_seed(gr_heap_thread_state *t) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);   // vDSO: no allocation, no lock
    uint64_t mix = (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 32) ^ (uint64_t)(uintptr_t)t ^
                   atomic_fetch_add_explicit(&gr_seed_counter, 0x632BE59BD9B4E019ull, memory_order_relaxed);
    uint64_t seed = gr_splitmix(mix);
    return seed ? seed : 1;
}

static uint64_t gr_next_random(gr_heap_thread_state *t) {   // xorshift64*
    uint64_t x = t->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

// Bytes until the next sample: exponential with mean `rate`; 0 for rate 1 (sample everything).
static int64_t gr_draw_gap(gr_heap_thread_state *t, int64_t rate) {
    if (rate <= 1) return 0;
    double u = (double)((gr_next_random(t) >> 11) + 1) * (1.0 / 9007199254740992.0);   // (0, 1]
    double gap = -gr_log(u) * (double)rate;
    if (gap > 4.0e18) gap = 4.0e18;
    return (int64_t)gap + 1;
}

// ---- stacks ---------------------------------------------------------------------------------------

static uintptr_t gr_thread_stack_top(void) {
    pthread_t self = pthread_self();
    // glibc puts the thread descriptor at the top of every thread's stack block (also for
    // user-supplied stacks); the main thread's stack ends where ld.so found it.
    return pthread_equal(self, gr_main_thread) ? (uintptr_t)__libc_stack_end : (uintptr_t)self;
}

// Bounds within which every address is mapped stack memory of the current thread of execution.
// `fp` is the frame to start from. Returns 0 when the stack we run on is unknown. Also used by the
// CPU profiler's SIGPROF handler (async-signal-safe: TLS reads and pthread_self only).
int gr_heap_stack_bounds(uintptr_t fp, uintptr_t *lo, uintptr_t *hi) {
    gr_heap_thread_state *t = &gr_heap_tls;
    if (t->stack_lo < t->stack_hi && fp >= t->stack_lo && fp < t->stack_hi) {
        *lo = t->stack_lo;
        *hi = t->stack_hi;
        return 1;
    }
    if (t->thread_stack_hi == 0) t->thread_stack_hi = gr_thread_stack_top();
    uintptr_t top = t->thread_stack_hi;
    // Everything between our frame and the top is mapped only if our frame is on this thread's stack.
    if (fp < top && top - fp <= gr_max_thread_stack) {
        *lo = fp;
        *hi = top;
        return 1;
    }
    return 0;
}

// glibc and libstdc++ are built without frame pointers. When one of their functions (strdup, fopen,
// operator new, ...) calls malloc, it may have reused rbp for data, so the chain breaks right after
// the interposer's frame and the stack ends at "strdup". Its frame lies between the interposer's frame
// and the return address into its caller; if that caller is in the program's own code (where SwiftPM
// links every target) we find that return address by scanning at most 64 words of the frame for a word
// that points right after a call instruction there, and the caller's frame pointer among the
// registers it saved just below it (rbp is pushed first by convention), then walk on from there. Every
// read stays within [lo, hi), the known-mapped stack. Returns the new frame count.
static size_t gr_recover_frameless_caller(uintptr_t fp, uintptr_t lo, uintptr_t hi, uintptr_t *frames, size_t max) {
    const uintptr_t word = sizeof(uintptr_t);
    uintptr_t interposer_fp = ((const uintptr_t *)fp)[0];
    if (interposer_fp < lo || interposer_fp > hi - 2 * word) return 2;
    uintptr_t saved = ((const uintptr_t *)interposer_fp)[0];
    // A valid frame pointer whose frame ends the stack: the walk stopped for a good reason.
    if (saved > interposer_fp && saved <= hi - 2 * word && (saved & (word - 1)) == 0) return 2;

    uintptr_t caller_fp = 0;
    uintptr_t end = interposer_fp + 2 * word + 64 * word;
    if (end > hi - word) end = hi - word;
    for (uintptr_t at = interposer_fp + 2 * word; at <= end; at += word) {
        uintptr_t value = *(const uintptr_t *)at;
        if (gr_heap_in_program_text(value) && gr_heap_is_return_address(value)) {
            frames[2] = value;
            size_t n = 3;
            if (caller_fp > at && caller_fp <= hi - 2 * word && (caller_fp & (word - 1)) == 0)
                n += gr_walk_frame_pointers(caller_fp, lo, hi, frames + 3, max - 3);
            return n;
        }
        if (value > at && value < hi && (value & (word - 1)) == 0) caller_fp = value;
    }
    return 2;
}

// Fills `out` with return addresses, leaf first, starting at the caller of the malloc-family function.
static __attribute__((always_inline)) inline size_t gr_capture_stack(uintptr_t *out, size_t max) {
    uintptr_t buffer[GR_HEAP_MAX_DEPTH + 1];
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t lo, hi;
    if (!gr_heap_stack_bounds(fp, &lo, &hi)) {
        // Our own frame and the interposer's frame just above it are certainly mapped: record the
        // allocation's direct caller and nothing further.
        atomic_fetch_add_explicit(&gr_heap_stat_unwalkable_stacks, 1, memory_order_relaxed);
        lo = fp;
        hi = ((const uintptr_t *)fp)[0] + 2 * sizeof(uintptr_t);
        if (hi <= fp || hi - fp > 65536) return 0;
    }
    size_t n = gr_walk_frame_pointers(fp, lo, hi, buffer, max + 1);
    if (n == 2 && max > 3) n = gr_recover_frameless_caller(fp, lo, hi, buffer, max + 1);
    n = gr_heap_trim_implausible_frames(buffer, n);
    if (n <= 1) return 0;
    // buffer[0] returns into the interposer (malloc, calloc, ...); the profile starts at its caller.
    memcpy(out, buffer + 1, (n - 1) * sizeof(uintptr_t));
    return n - 1;
}

__attribute__((noinline)) size_t gr_heap_current_stack(uintptr_t *out, size_t max) {
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t lo, hi;
    if (!gr_heap_stack_bounds(fp, &lo, &hi)) {
        lo = fp;
        hi = fp + 2 * sizeof(uintptr_t);
    }
    return gr_heap_trim_implausible_frames(out, gr_walk_frame_pointers(fp, lo, hi, out, max));
}

__attribute__((noinline)) uintptr_t gr_heap_stack_frame(size_t index) {
    uintptr_t frames[GR_HEAP_MAX_DEPTH];
    if (index >= GR_HEAP_MAX_DEPTH) return 0;
    size_t n = gr_heap_current_stack(frames, index + 2);
    // frames[0] returns into this function; the caller asked to count from its own return address.
    return index + 1 < n ? frames[index + 1] : 0;
}

// ---- the slow path --------------------------------------------------------------------------------

// Inlined so that frame 0 of the capture is gr_heap_sample_slow, called straight from the interposer.
static __attribute__((always_inline)) inline void gr_record_sample(void *ptr, size_t size, int64_t rate) {
    uintptr_t stack[GR_HEAP_MAX_DEPTH];
    size_t depth = gr_capture_stack(stack, GR_HEAP_MAX_DEPTH);

    double weight = 1.0;
    if (rate > 1 && size > 0) weight = 1.0 / gr_one_minus_exp_neg((double)size / (double)rate);
    gr_heap_sampled_block block = {
        .size = size,
        .objects_fx = (uint64_t)(weight * 65536.0 + 0.5),
        .bytes_est = (uint64_t)(weight * (double)size + 0.5),
        .bucket = gr_heap_bucket_for_stack(stack, depth),
    };
    if (block.bucket == GR_HEAP_NO_BUCKET) {
        atomic_fetch_add_explicit(&gr_heap_stat_stack_table_drops, 1, memory_order_relaxed);
        return;
    }
    gr_heap_bucket_add_alloc(block.bucket, block.size, block.objects_fx, block.bytes_est);
    atomic_fetch_add_explicit(&gr_heap_stat_samples, 1, memory_order_relaxed);
    if (!gr_heap_remember_sampled_block(ptr, &block))
        atomic_fetch_add_explicit(&gr_heap_stat_pointer_table_drops, 1, memory_order_relaxed);
}

__attribute__((noinline)) void gr_heap_sample_slow(void *ptr, size_t size) {
    gr_heap_thread_state *t = &gr_heap_tls;
    if (t->in_hook) {   // a signal handler or our own code allocated while we were sampling
        atomic_fetch_add_explicit(&gr_heap_stat_reentrant_skips, 1, memory_order_relaxed);
        return;
    }
    t->in_hook = 1;
    int saved_errno = errno;

    uint32_t generation = atomic_load_explicit(&gr_heap_generation, memory_order_acquire);
    int64_t rate = atomic_load_explicit(&gr_heap_rate, memory_order_relaxed);
    if (generation != 0 && rate > 0) {
        int take = 1;
        if (t->generation != generation) {   // first allocation on this thread, or the rate changed
            t->generation = generation;
            if (t->rng == 0) t->rng = gr_seed(t);
            t->bytes_until_sample = gr_draw_gap(t, rate) - (int64_t)size;
            take = t->bytes_until_sample <= 0;
        }
        if (take) {
            gr_record_sample(ptr, size, rate);
            // Memoryless: the next sample point lies an exponential gap past this allocation's end.
            t->bytes_until_sample = gr_draw_gap(t, rate);
        }
    }

    errno = saved_errno;
    t->in_hook = 0;
}

// ---- control ----------------------------------------------------------------------------------------

int64_t gr_heap_get_rate(void) { return atomic_load_explicit(&gr_heap_rate, memory_order_relaxed); }

void gr_heap_set_rate(int64_t rate) {
    static _Atomic uint32_t last_generation;
    if (rate < 0) rate = 0;
    atomic_store_explicit(&gr_heap_rate, rate, memory_order_relaxed);
    if (rate == 0) {
        atomic_store_explicit(&gr_heap_generation, 0, memory_order_release);
        return;
    }
    uint32_t next = atomic_fetch_add_explicit(&last_generation, 1, memory_order_relaxed) + 1;
    if (next == 0) next = atomic_fetch_add_explicit(&last_generation, 1, memory_order_relaxed) + 1;
    atomic_store_explicit(&gr_heap_generation, next, memory_order_release);
}

void gr_heap_set_stack_bounds(uintptr_t lo, uintptr_t hi) {
    gr_heap_thread_state *t = &gr_heap_tls;
    t->stack_lo = lo;
    t->stack_hi = hi;
}

void gr_heap_read_stats(gr_heap_stats *out) {
    out->samples = atomic_load_explicit(&gr_heap_stat_samples, memory_order_relaxed);
    out->stack_table_drops = atomic_load_explicit(&gr_heap_stat_stack_table_drops, memory_order_relaxed);
    out->pointer_table_drops = atomic_load_explicit(&gr_heap_stat_pointer_table_drops, memory_order_relaxed);
    out->reentrant_skips = atomic_load_explicit(&gr_heap_stat_reentrant_skips, memory_order_relaxed);
    out->unwalkable_stacks = atomic_load_explicit(&gr_heap_stat_unwalkable_stacks, memory_order_relaxed);
    out->live_sampled_blocks = atomic_load_explicit(&gr_heap_stat_live_sampled_blocks, memory_order_relaxed);
    out->buckets_used = atomic_load_explicit(&gr_heap_stat_buckets_used, memory_order_relaxed);
}

// Parses a non-negative decimal rate; returns -1 for anything else (the default then stays).
static int64_t gr_parse_rate(const char *text) {
    if (!text || !*text) return -1;
    int64_t value = 0;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9') return -1;
        if (value > (INT64_MAX - 9) / 10) return -1;
        value = value * 10 + (*c - '0');
    }
    return value;
}

// Runs before main (after the libraries' own constructors, whose allocations go unsampled).
__attribute__((constructor)) static void gr_heap_sampler_init(void) {
    gr_main_thread = pthread_self();
    gr_heap_code_ranges_init();   // dl_iterate_phdr: here, never inside the hook
    // glibc sizes default thread stacks from RLIMIT_STACK (32 MiB when unlimited); a frame farther
    // than that from the thread's stack top is on some other stack, such as a goroutine's.
    struct rlimit limit;
    gr_max_thread_stack = 8u << 20;
    if (getrlimit(RLIMIT_STACK, &limit) == 0) {
        if (limit.rlim_cur == RLIM_INFINITY) gr_max_thread_stack = 32u << 20;
        else if (limit.rlim_cur > gr_max_thread_stack) gr_max_thread_stack = limit.rlim_cur;
    }
    int64_t rate = gr_parse_rate(getenv(GR_HEAP_RATE_ENV));
    gr_heap_set_rate(rate >= 0 ? rate : GR_HEAP_DEFAULT_RATE);
}
