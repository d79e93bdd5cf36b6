#ifndef CSAMPLING_CPU_PROFILE_H
#define CSAMPLING_CPU_PROFILE_H
// CPU profiling by per-thread CPU-time timers, as Go does on Linux since 1.18.
//
// Every OS thread of the process gets its own POSIX timer on its CPU-time clock, delivering SIGPROF to
// that very thread each `1/hz` seconds of CPU it burns, so samples land on the thread that spent the
// time. The SIGPROF handler (async-signal-safe: no allocation, no locks, no Swift) walks frame pointers
// from the interrupted context, reads the running goroutine's label word, and appends one record to a
// preallocated single-writer/single-reader ring owned by the thread's timer slot; a full ring drops the
// sample and counts it. A collector thread (Swift, `CPUProfileSession`) drains the rings, rescans
// /proc/self/task for new threads, and builds the profile.
//
// Another SIGPROF handler already installed (gperftools, swift-profile-recorder, ...) makes
// `gr_cpuprof_start` refuse rather than chain: our timers would feed its statistics and its timers
// ours. Once installed, our handler stays installed (a SIGPROF arriving after a profile ends must not
// hit the default action, which kills the process); outside a profile it ignores the signal.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GR_CPUPROF_DEFAULT_HZ 100
#define GR_CPUPROF_MAX_HZ 1000
/// Deepest stack kept per sample (interrupted PC included); deeper stacks lose their root end.
#define GR_CPUPROF_MAX_DEPTH 64
/// Threads that can be timed at once; further threads are reported, not sampled.
#define GR_CPUPROF_SLOTS 512

typedef enum {
    GR_CPUPROF_OK = 0,
    GR_CPUPROF_BUSY = 1,              // a profile is already running
    GR_CPUPROF_FOREIGN_HANDLER = 2,   // someone else's SIGPROF handler is installed
    GR_CPUPROF_BAD_RATE = 3,          // hz outside 1...GR_CPUPROF_MAX_HZ
    GR_CPUPROF_NO_MEMORY = 4,         // the rings could not be mapped
    GR_CPUPROF_SIGACTION_FAILED = 5,
} gr_cpuprof_status;

/// Starts a profile at `hz` samples per CPU-second per thread; gr_cpuprof_cover_threads then gives the
/// threads their timers. Sets *errno_out for GR_CPUPROF_NO_MEMORY / GR_CPUPROF_SIGACTION_FAILED.
gr_cpuprof_status gr_cpuprof_start(int hz, int *errno_out);

/// Stops sampling: no handler writes after this returns. Deletes every timer. Samples still in the
/// rings can be drained once more with gr_cpuprof_drain.
void gr_cpuprof_stop(void);

/// Gives every thread in /proc/self/task that has none a timer, and drops the timers of threads that
/// are gone (or whose thread id was reused by a new thread). Writes up to `cap` newly timed thread ids
/// to `new_tids` and returns how many threads were newly timed. Call from one thread at a time.
size_t gr_cpuprof_cover_threads(int32_t *new_tids, size_t cap);

/// Gives the calling thread its timer now, if a profile runs and it has none (the runtime calls this when
/// it starts an M, so a new M is sampled from its first instruction rather than from the next scan).
/// Costs one atomic load when no profile runs.
void gr_cpuprof_cover_current_thread(void);

/// Threads that could not get a timer (slot table full or timer_create failed), cumulative per profile.
uint64_t gr_cpuprof_uncovered_threads(void);

/// One drained sample. `frames[0]` is the interrupted PC + 1 (so every entry reads as a return
/// address); the rest are return addresses, leaf first.
typedef struct {
    uint64_t count;          // 1 + timer overruns folded into this signal
    uintptr_t label_word;    // the goroutine's label set (unretained pointer), 0 for none
    uint32_t depth;
    int32_t tid;
    uintptr_t frames[GR_CPUPROF_MAX_DEPTH];
} gr_cpuprof_sample;

/// Calls `visit` for every sample of the current profile written since the last drain, then adds the
/// samples lost to full rings since the last drain to *lost. Returns how many samples were visited.
/// Only the collector may call it (each ring has a single reader).
size_t gr_cpuprof_drain(void (*visit)(const gr_cpuprof_sample *sample, void *context), void *context,
                        uint64_t *lost);

/// Signal-handler counters, cumulative over the process's life.
typedef struct {
    uint64_t signals;          // SIGPROF deliveries seen by our handler
    uint64_t recorded;         // samples written to a ring
    uint64_t ring_full;        // samples dropped because their ring was full
    uint64_t stale;            // timer signals of a finished profile (or foreign SIGPROFs) ignored
} gr_cpuprof_stats;
void gr_cpuprof_read_stats(gr_cpuprof_stats *out);

/// The address samples lost to full rings are attributed to; the profile names it as a synthetic frame.
uintptr_t gr_cpuprof_lost_samples_pc(void);

#ifdef __cplusplus
}
#endif
#endif
