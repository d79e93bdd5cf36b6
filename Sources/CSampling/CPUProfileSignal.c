// The SIGPROF handler of the CPU profiler: one stack sample per timer signal, written to the ring of
// the signalled thread's timer slot.
//
// Async-signal-safe by construction: it reads the interrupted registers, stack memory inside bounds
// known to be mapped, code bytes of objects loaded at startup, and thread-local words; it writes only
// its own ring and atomic counters. No allocation, no lock, no Swift, no dl_* call.
#define _GNU_SOURCE
#include "CPUProfileInternal.h"
#include "FrameWalk.h"
#include "HeapSampleInternal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

gr_cpuprof_ring_state gr_cpuprof_rings[GR_CPUPROF_SLOTS];
_Atomic(uintptr_t *) gr_cpuprof_ring_words;
_Atomic uint32_t gr_cpuprof_session;

_Atomic uint64_t gr_cpuprof_stat_signals;
_Atomic uint64_t gr_cpuprof_stat_recorded;
_Atomic uint64_t gr_cpuprof_stat_ring_full;
_Atomic uint64_t gr_cpuprof_stat_stale;

// The running goroutine's label word lives in the runtime's thread-local slots (CStackSwitch). Weak, so
// programs that link CSampling without the runtime (the heap benchmark) still link; they have no labels.
extern uintptr_t gr_tls_goroutine_word(void) __attribute__((weak));

#if defined(__x86_64__)

// Our own code keeps frame pointers, but an instruction in a function's prologue or epilogue runs
// before the frame exists or after it is gone, so rbp still names the caller's frame and a plain walk
// would skip the caller. Returns where the return address into the caller is, or 0 when the frame is
// complete. Reads instruction bytes only while they belong to the instruction at pc.
static uintptr_t gr_cpuprof_return_slot_outside_frame(uintptr_t pc, uintptr_t sp) {
    if (!gr_heap_in_program_text(pc + 3)) return 0;   // all four bytes below lie in the program's code
    const uint8_t *code = (const uint8_t *)pc;
    if (code[0] == 0x55 || code[0] == 0xC3) return sp;                                 // push %rbp / ret
    if (code[0] == 0xF3 && code[1] == 0x0F && code[2] == 0x1E && code[3] == 0xFA) return sp;   // endbr64
    if (code[0] == 0x48 && code[1] == 0x89 && code[2] == 0xE5) return sp + sizeof(uintptr_t);  // mov %rsp,%rbp
    return 0;
}

// Frames the frame-pointer chain would miss, written to `out`; returns how many.
//
// In our own code only a prologue or epilogue lacks the frame: one return address, read where the
// instruction at pc says it is. Code outside the program (libc, the vDSO) has no frame pointers at
// all: the return addresses of its frames are the words above sp that read as return addresses,
// scanned upward until one returns into the program, whose frame chain the walk then follows. Such
// code may use rbp for data; then *fp_inout becomes the frame pointer it saved, the last stack address
// below that return address (callee-saved registers are pushed right below it).
#define GR_CPUPROF_SCAN_WORDS 256
#define GR_CPUPROF_FOREIGN_FRAMES 8

static size_t gr_cpuprof_frames_outside_chain(uintptr_t pc, uintptr_t *fp_inout, uintptr_t sp, uintptr_t lo, uintptr_t hi,
                                              uintptr_t *out, size_t max) {
    const uintptr_t word = sizeof(uintptr_t);
    if (max == 0 || sp < lo || sp > hi - word || (sp & (word - 1)) != 0) return 0;
    if (gr_heap_in_program_text(pc)) {
        uintptr_t slot = gr_cpuprof_return_slot_outside_frame(pc, sp);
        if (slot == 0 || slot > hi - word) return 0;
        uintptr_t ret = *(const uintptr_t *)slot;
        if (!gr_heap_is_return_address(ret)) return 0;
        out[0] = ret;
        return 1;
    }
    uintptr_t fp = *fp_inout;
    int fp_usable = fp > sp && fp <= hi - 2 * word && (fp & (word - 1)) == 0;
    uintptr_t end = sp + GR_CPUPROF_SCAN_WORDS * word;
    if (end > hi) end = hi;
    uintptr_t saved_fp = 0;
    size_t n = 0;
    for (uintptr_t at = sp; at + word <= end && n < max && n < GR_CPUPROF_FOREIGN_FRAMES; at += word) {
        // With a usable rbp, the caller's frame starts there: the frameless frames all lie below it.
        if (fp_usable && at >= fp) break;
        uintptr_t value = *(const uintptr_t *)at;
        if (gr_heap_is_return_address(value)) {
            out[n++] = value;
            if (gr_heap_in_program_text(value)) {
                if (!fp_usable && saved_fp > at) *fp_inout = saved_fp;
                return n;
            }
            saved_fp = 0;
            continue;
        }
        if (value > at && value <= hi - 2 * word && (value & (word - 1)) == 0) saved_fp = value;
    }
    // No return into the program within reach: trust only the nearest caller, the rest may be stale.
    return n > 0 ? 1 : 0;
}

// Interrupted PC + 1 first, then return addresses, leaf first.
static size_t gr_cpuprof_capture(const ucontext_t *uc, uintptr_t *out, size_t max) {
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    uintptr_t fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    size_t n = 0;
    out[n++] = pc + 1;
    uintptr_t lo, hi;
    // sp, not fp: everything from sp up to the stack's top is mapped, whatever rbp holds.
    if (!gr_heap_stack_bounds(sp, &lo, &hi)) return n;
    size_t recovered = gr_cpuprof_frames_outside_chain(pc, &fp, sp, lo, hi, out + n, max - n);
    n += recovered;
    size_t walked = gr_walk_frame_pointers(fp, lo, hi, out + n, max - n);
    walked = gr_heap_trim_implausible_frames(out + n, walked);
    if (recovered > 0 && walked > 0 && out[n] == out[n - 1]) {   // the frame existed after all: keep one copy
        memmove(out + n - 1, out + n, walked * sizeof(uintptr_t));
        n -= 1;
    }
    return n + walked;
}

#elif defined(__aarch64__)

// aarch64: x29 is the frame pointer; the link register holds the caller's return address until the
// prologue saves it, which the walk from x29 would otherwise miss (leaf functions never save it).
static size_t gr_cpuprof_capture(const ucontext_t *uc, uintptr_t *out, size_t max) {
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.pc;
    uintptr_t fp = (uintptr_t)uc->uc_mcontext.regs[29];
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.sp;
    size_t n = 0;
    out[n++] = pc + 1;
    uintptr_t lo, hi;
    if (!gr_heap_stack_bounds(sp, &lo, &hi)) return n;
    size_t walked = gr_walk_frame_pointers(fp, lo, hi, out + n, max - n);
    return n + gr_heap_trim_implausible_frames(out + n, walked);
}

#else
static size_t gr_cpuprof_capture(const ucontext_t *uc, uintptr_t *out, size_t max) {
    (void)uc;
    (void)out;
    (void)max;
    return 0;
}
#endif

static void gr_cpuprof_append(gr_cpuprof_ring_state *ring, uintptr_t *words_base, uint64_t header,
                              uintptr_t label_word, const uintptr_t *frames, size_t depth) {
    const uint64_t mask = GR_CPUPROF_RING_WORDS - 1;
    uint64_t need = GR_CPUPROF_RECORD_HEADER_WORDS + depth;
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    if (head - tail + need > GR_CPUPROF_RING_WORDS) {
        atomic_fetch_add_explicit(&ring->lost, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&gr_cpuprof_stat_ring_full, 1, memory_order_relaxed);
        return;
    }
    words_base[head & mask] = (uintptr_t)header;
    words_base[(head + 1) & mask] = label_word;
    for (size_t i = 0; i < depth; i++) words_base[(head + 2 + i) & mask] = frames[i];
    atomic_store_explicit(&ring->head, head + need, memory_order_release);
    atomic_fetch_add_explicit(&gr_cpuprof_stat_recorded, 1, memory_order_relaxed);
}

void gr_cpuprof_on_sigprof(int sig, siginfo_t *info, void *ucontext) {
    (void)sig;
    int saved_errno = errno;
    atomic_fetch_add_explicit(&gr_cpuprof_stat_signals, 1, memory_order_relaxed);
    uintptr_t *words = atomic_load_explicit(&gr_cpuprof_ring_words, memory_order_acquire);
    uint32_t value = (uint32_t)info->si_value.sival_int;
    uint32_t slot = value & 0xffffu, session = value >> 16;
    if (info->si_code != SI_TIMER || words == NULL || slot >= GR_CPUPROF_SLOTS || session == 0) {
        atomic_fetch_add_explicit(&gr_cpuprof_stat_stale, 1, memory_order_relaxed);
        errno = saved_errno;
        return;
    }
    gr_cpuprof_ring_state *ring = &gr_cpuprof_rings[slot];
    atomic_fetch_add_explicit(&ring->writers, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&gr_cpuprof_session, memory_order_seq_cst) != session) {
        atomic_fetch_add_explicit(&gr_cpuprof_stat_stale, 1, memory_order_relaxed);
    } else {
        uintptr_t frames[GR_CPUPROF_MAX_DEPTH];
        size_t depth = gr_cpuprof_capture((const ucontext_t *)ucontext, frames, GR_CPUPROF_MAX_DEPTH);
        uint64_t count = 1 + (info->si_overrun > 0 ? (uint64_t)info->si_overrun : 0);
        if (count > 0xffff) count = 0xffff;
        uint32_t tid = (uint32_t)atomic_load_explicit(&ring->tid, memory_order_relaxed);
        uint64_t header = (uint64_t)depth | (count << 16) | ((uint64_t)tid << 32);
        uintptr_t label_word = gr_tls_goroutine_word ? gr_tls_goroutine_word() : 0;
        gr_cpuprof_append(ring, words + (size_t)slot * GR_CPUPROF_RING_WORDS, header, label_word, frames, depth);
    }
    atomic_fetch_sub_explicit(&ring->writers, 1, memory_order_seq_cst);
    errno = saved_errno;
}

// Samples lost to full rings are reported under this function's address (see CPUProfile.h).
__attribute__((noinline, used)) void gr_cpuprof_lost_samples(void) { __asm__ volatile(""); }

uintptr_t gr_cpuprof_lost_samples_pc(void) { return (uintptr_t)&gr_cpuprof_lost_samples + 1; }
