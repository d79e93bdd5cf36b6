// Starting and stopping CPU profiles, one POSIX CPU-time timer per thread, and draining the rings.
//
// Timers are created by the collector for any thread of the process: the kernel names a thread's
// CPU-time clock by its thread id (((~tid) << 3) | CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD), and
// SIGEV_THREAD_ID sends the signal to that thread. A thread that exits keeps its timer object but the
// timer stops ticking and reads as disarmed, which is also how a thread id reused by a new thread is
// told apart from the thread that held it before. Everything here runs on ordinary threads (the
// collector, or whoever starts and stops the profile) under one mutex; only gr_cpuprof_drain is
// lock-free with respect to the handler.
#define _GNU_SOURCE
#include "CPUProfileInternal.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int32_t tid;        // 0 = free slot
    uint32_t seen;      // scan number that last found the thread
    timer_t timer;
} gr_cpuprof_timer_slot;

static pthread_mutex_t gr_cpuprof_control = PTHREAD_MUTEX_INITIALIZER;
static gr_cpuprof_timer_slot gr_cpuprof_timers[GR_CPUPROF_SLOTS];
static _Atomic uint32_t gr_cpuprof_slots_used;   // high-water mark of slot indexes handed out
static DIR *gr_cpuprof_task_dir;                // /proc/self/task, open while a profile runs
static uint32_t gr_cpuprof_last_session;
static uint32_t gr_cpuprof_scan;
static long gr_cpuprof_period_ns;
static _Atomic uint64_t gr_cpuprof_uncovered;

// Thread ids that could not get a timer in this profile, so each is counted once.
#define GR_CPUPROF_UNCOVERED_MEMORY 64
static int32_t gr_cpuprof_uncovered_tids[GR_CPUPROF_UNCOVERED_MEMORY];
static size_t gr_cpuprof_uncovered_count;

static int gr_cpuprof_handler_is_ours(const struct sigaction *action) {
    return (action->sa_flags & SA_SIGINFO) && action->sa_sigaction == gr_cpuprof_on_sigprof;
}

static gr_cpuprof_status gr_cpuprof_install_handler(int *errno_out) {
    struct sigaction current;
    if (sigaction(SIGPROF, NULL, &current) != 0) {
        *errno_out = errno;
        return GR_CPUPROF_SIGACTION_FAILED;
    }
    if (gr_cpuprof_handler_is_ours(&current)) return GR_CPUPROF_OK;
    int is_default = !(current.sa_flags & SA_SIGINFO) &&
                     (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN);
    if (!is_default) return GR_CPUPROF_FOREIGN_HANDLER;
    struct sigaction ours;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = gr_cpuprof_on_sigprof;
    // SA_RESTART: interrupted reads and writes resume instead of failing with EINTR. SA_ONSTACK: a
    // goroutine close to its guard page must not overflow because of our frame (the runtime gives
    // every M an alternate signal stack; threads without one just use their stack).
    ours.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&ours.sa_mask);
    if (sigaction(SIGPROF, &ours, NULL) != 0) {
        *errno_out = errno;
        return GR_CPUPROF_SIGACTION_FAILED;
    }
    return GR_CPUPROF_OK;
}

static int gr_cpuprof_map_rings(int *errno_out) {
    if (atomic_load_explicit(&gr_cpuprof_ring_words, memory_order_acquire) != NULL) return 1;
    size_t bytes = (size_t)GR_CPUPROF_SLOTS * GR_CPUPROF_RING_WORDS * sizeof(uintptr_t);
    // Pages are committed only where a ring is written; the mapping is never given back because a
    // late signal may still look at it.
    void *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) {
        *errno_out = errno;
        return 0;
    }
    atomic_store_explicit(&gr_cpuprof_ring_words, (uintptr_t *)memory, memory_order_release);
    return 1;
}

static clockid_t gr_cpuprof_thread_clock(int32_t tid) {
    return (clockid_t)((~(uint32_t)tid) << 3) | 6;   // CPUCLOCK_SCHED (2) | CPUCLOCK_PERTHREAD_MASK (4)
}

static int gr_cpuprof_arm(uint32_t slot, int32_t tid, uint32_t session) {
    gr_cpuprof_timer_slot *entry = &gr_cpuprof_timers[slot];
    atomic_store_explicit(&gr_cpuprof_rings[slot].tid, tid, memory_order_relaxed);
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = SIGPROF;
    event.sigev_value.sival_int = gr_cpuprof_signal_value(session, slot);
    event._sigev_un._tid = tid;
    timer_t timer;
    if (timer_create(gr_cpuprof_thread_clock(tid), &event, &timer) != 0) return 0;
    struct itimerspec spec;
    spec.it_interval.tv_sec = 0;
    spec.it_interval.tv_nsec = gr_cpuprof_period_ns;
    spec.it_value = spec.it_interval;
    if (gr_cpuprof_period_ns >= 1000000000L) {
        spec.it_interval.tv_sec = spec.it_value.tv_sec = gr_cpuprof_period_ns / 1000000000L;
        spec.it_interval.tv_nsec = spec.it_value.tv_nsec = gr_cpuprof_period_ns % 1000000000L;
    }
    if (timer_settime(timer, 0, &spec, NULL) != 0) {
        timer_delete(timer);
        return 0;
    }
    entry->tid = tid;
    entry->timer = timer;
    entry->seen = gr_cpuprof_scan;
    if (slot + 1 > atomic_load_explicit(&gr_cpuprof_slots_used, memory_order_relaxed))
        atomic_store_explicit(&gr_cpuprof_slots_used, slot + 1, memory_order_relaxed);
    return 1;
}

static void gr_cpuprof_disarm(uint32_t slot) {
    gr_cpuprof_timer_slot *entry = &gr_cpuprof_timers[slot];
    if (entry->tid == 0) return;
    timer_delete(entry->timer);
    entry->tid = 0;
}

// A thread's timer reads as disarmed once the thread is gone: its id may now belong to a new thread.
static int gr_cpuprof_timer_alive(const gr_cpuprof_timer_slot *entry) {
    struct itimerspec spec;
    if (timer_gettime(entry->timer, &spec) != 0) return 0;
    return spec.it_value.tv_sec != 0 || spec.it_value.tv_nsec != 0;
}

static void gr_cpuprof_note_uncovered(int32_t tid) {
    for (size_t i = 0; i < gr_cpuprof_uncovered_count; i++) {
        if (gr_cpuprof_uncovered_tids[i] == tid) return;
    }
    if (gr_cpuprof_uncovered_count < GR_CPUPROF_UNCOVERED_MEMORY) gr_cpuprof_uncovered_tids[gr_cpuprof_uncovered_count++] = tid;
    atomic_fetch_add_explicit(&gr_cpuprof_uncovered, 1, memory_order_relaxed);
}

#define GR_CPUPROF_LIVENESS_EVERY 8

static size_t gr_cpuprof_cover_locked(int32_t *new_tids, size_t cap) {
    uint32_t session = atomic_load_explicit(&gr_cpuprof_session, memory_order_relaxed);
    if (session == 0) return 0;
    // Opened once per profile and rewound each scan: opening a /proc directory costs more than reading it.
    if (!gr_cpuprof_task_dir) gr_cpuprof_task_dir = opendir("/proc/self/task");
    else rewinddir(gr_cpuprof_task_dir);
    DIR *tasks = gr_cpuprof_task_dir;
    if (!tasks) return 0;
    uint32_t slots_used = atomic_load_explicit(&gr_cpuprof_slots_used, memory_order_relaxed);
    gr_cpuprof_scan++;
    size_t added = 0;
    struct dirent *item;
    while ((item = readdir(tasks)) != NULL) {
        if (item->d_name[0] < '0' || item->d_name[0] > '9') continue;
        int32_t tid = (int32_t)atoi(item->d_name);
        if (tid <= 0) continue;
        slots_used = atomic_load_explicit(&gr_cpuprof_slots_used, memory_order_relaxed);
        uint32_t free_slot = GR_CPUPROF_SLOTS, found = GR_CPUPROF_SLOTS;
        for (uint32_t slot = 0; slot < GR_CPUPROF_SLOTS; slot++) {
            if (gr_cpuprof_timers[slot].tid == tid) { found = slot; break; }
            if (gr_cpuprof_timers[slot].tid == 0 && free_slot == GR_CPUPROF_SLOTS) free_slot = slot;
            if (slot >= slots_used && free_slot != GR_CPUPROF_SLOTS) break;
        }
        if (found != GR_CPUPROF_SLOTS) {
            // A thread id reused by a new thread within a few scans is rare enough to check every
            // GR_CPUPROF_LIVENESS_EVERY scans only; each check is a system call per thread.
            if (gr_cpuprof_scan % GR_CPUPROF_LIVENESS_EVERY != 0 || gr_cpuprof_timer_alive(&gr_cpuprof_timers[found])) {
                gr_cpuprof_timers[found].seen = gr_cpuprof_scan;
                continue;
            }
            gr_cpuprof_disarm(found);   // the id now names a new thread
            free_slot = found;
        }
        if (free_slot == GR_CPUPROF_SLOTS || !gr_cpuprof_arm(free_slot, tid, session)) {
            gr_cpuprof_note_uncovered(tid);
            continue;
        }
        if (added < cap && new_tids) new_tids[added] = tid;
        added++;
    }
    slots_used = atomic_load_explicit(&gr_cpuprof_slots_used, memory_order_relaxed);
    for (uint32_t slot = 0; slot < slots_used; slot++) {
        if (gr_cpuprof_timers[slot].tid != 0 && gr_cpuprof_timers[slot].seen != gr_cpuprof_scan) gr_cpuprof_disarm(slot);
    }
    return added;
}

void gr_cpuprof_cover_current_thread(void) {
    if (atomic_load_explicit(&gr_cpuprof_session, memory_order_relaxed) == 0) return;   // the usual case: one load
    int32_t tid = (int32_t)gettid();
    pthread_mutex_lock(&gr_cpuprof_control);
    uint32_t session = atomic_load_explicit(&gr_cpuprof_session, memory_order_relaxed);
    if (session != 0) {
        uint32_t slots_used = atomic_load_explicit(&gr_cpuprof_slots_used, memory_order_relaxed);
        uint32_t free_slot = GR_CPUPROF_SLOTS;
        int known = 0;
        for (uint32_t slot = 0; slot < GR_CPUPROF_SLOTS; slot++) {
            if (gr_cpuprof_timers[slot].tid == tid) { known = 1; break; }
            if (gr_cpuprof_timers[slot].tid == 0 && free_slot == GR_CPUPROF_SLOTS) free_slot = slot;
            if (slot >= slots_used && free_slot != GR_CPUPROF_SLOTS) break;
        }
        // A new thread's id was never timed in this profile; the next scan reports it if this fails.
        if (!known && free_slot != GR_CPUPROF_SLOTS) gr_cpuprof_arm(free_slot, tid, session);
    }
    pthread_mutex_unlock(&gr_cpuprof_control);
}

size_t gr_cpuprof_cover_threads(int32_t *new_tids, size_t cap) {
    pthread_mutex_lock(&gr_cpuprof_control);
    size_t added = gr_cpuprof_cover_locked(new_tids, cap);
    pthread_mutex_unlock(&gr_cpuprof_control);
    return added;
}

gr_cpuprof_status gr_cpuprof_start(int hz, int *errno_out) {
    int ignored;
    if (!errno_out) errno_out = &ignored;
    *errno_out = 0;
    if (hz < 1 || hz > GR_CPUPROF_MAX_HZ) return GR_CPUPROF_BAD_RATE;
    pthread_mutex_lock(&gr_cpuprof_control);
    gr_cpuprof_status status = GR_CPUPROF_OK;
    if (atomic_load_explicit(&gr_cpuprof_session, memory_order_relaxed) != 0) {
        status = GR_CPUPROF_BUSY;
    } else if ((status = gr_cpuprof_install_handler(errno_out)) == GR_CPUPROF_OK) {
        if (!gr_cpuprof_map_rings(errno_out)) status = GR_CPUPROF_NO_MEMORY;
    }
    if (status == GR_CPUPROF_OK) {
        // No handler writes now (the last stop waited for them): forget what an earlier profile left.
        for (uint32_t slot = 0; slot < GR_CPUPROF_SLOTS; slot++) {
            gr_cpuprof_ring_state *ring = &gr_cpuprof_rings[slot];
            atomic_store_explicit(&ring->tail, atomic_load_explicit(&ring->head, memory_order_acquire), memory_order_release);
            atomic_store_explicit(&ring->lost, 0, memory_order_relaxed);
        }
        atomic_store_explicit(&gr_cpuprof_uncovered, 0, memory_order_relaxed);
        gr_cpuprof_uncovered_count = 0;
        gr_cpuprof_period_ns = 1000000000L / hz;
        uint32_t session = gr_cpuprof_last_session % 0x7fffu + 1;
        gr_cpuprof_last_session = session;
        atomic_store_explicit(&gr_cpuprof_session, session, memory_order_seq_cst);
    }
    pthread_mutex_unlock(&gr_cpuprof_control);
    return status;
}

void gr_cpuprof_stop(void) {
    pthread_mutex_lock(&gr_cpuprof_control);
    if (atomic_load_explicit(&gr_cpuprof_session, memory_order_relaxed) != 0) {
        atomic_store_explicit(&gr_cpuprof_session, 0, memory_order_seq_cst);
        uint32_t slots_used = atomic_load_explicit(&gr_cpuprof_slots_used, memory_order_relaxed);
        for (uint32_t slot = 0; slot < slots_used; slot++) gr_cpuprof_disarm(slot);
        if (gr_cpuprof_task_dir) {
            closedir(gr_cpuprof_task_dir);
            gr_cpuprof_task_dir = NULL;
        }
        // A handler that saw the old session before we cleared it may still be writing.
        for (uint32_t slot = 0; slot < GR_CPUPROF_SLOTS; slot++) {
            while (atomic_load_explicit(&gr_cpuprof_rings[slot].writers, memory_order_seq_cst) != 0) sched_yield();
        }
    }
    pthread_mutex_unlock(&gr_cpuprof_control);
}

uint64_t gr_cpuprof_uncovered_threads(void) {
    return atomic_load_explicit(&gr_cpuprof_uncovered, memory_order_relaxed);
}

size_t gr_cpuprof_drain(void (*visit)(const gr_cpuprof_sample *sample, void *context), void *context,
                        uint64_t *lost) {
    uintptr_t *words = atomic_load_explicit(&gr_cpuprof_ring_words, memory_order_acquire);
    if (!words) return 0;
    const uint64_t mask = GR_CPUPROF_RING_WORDS - 1;
    gr_cpuprof_sample sample;
    size_t visited = 0;
    // Slots above the high-water mark never had a timer, so their rings are empty.
    uint32_t slots_used = atomic_load_explicit(&gr_cpuprof_slots_used, memory_order_relaxed);
    for (uint32_t slot = 0; slot < slots_used; slot++) {
        gr_cpuprof_ring_state *ring = &gr_cpuprof_rings[slot];
        const uintptr_t *base = words + (size_t)slot * GR_CPUPROF_RING_WORDS;
        uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
        uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
        if (head == tail && atomic_load_explicit(&ring->lost, memory_order_relaxed) == 0) continue;
        while (head - tail >= GR_CPUPROF_RECORD_HEADER_WORDS) {
            uint64_t header = base[tail & mask];
            uint32_t depth = (uint32_t)(header & 0xffffu);
            if (depth > GR_CPUPROF_MAX_DEPTH || head - tail < GR_CPUPROF_RECORD_HEADER_WORDS + depth) break;
            sample.depth = depth;
            sample.count = (header >> 16) & 0xffffu;
            sample.tid = (int32_t)(header >> 32);
            sample.label_word = base[(tail + 1) & mask];
            for (uint32_t i = 0; i < depth; i++) sample.frames[i] = base[(tail + 2 + i) & mask];
            tail += GR_CPUPROF_RECORD_HEADER_WORDS + depth;
            visit(&sample, context);
            visited++;
        }
        atomic_store_explicit(&ring->tail, tail, memory_order_release);
        if (lost) *lost += atomic_exchange_explicit(&ring->lost, 0, memory_order_relaxed);
    }
    return visited;
}

void gr_cpuprof_read_stats(gr_cpuprof_stats *out) {
    out->signals = atomic_load_explicit(&gr_cpuprof_stat_signals, memory_order_relaxed);
    out->recorded = atomic_load_explicit(&gr_cpuprof_stat_recorded, memory_order_relaxed);
    out->ring_full = atomic_load_explicit(&gr_cpuprof_stat_ring_full, memory_order_relaxed);
    out->stale = atomic_load_explicit(&gr_cpuprof_stat_stale, memory_order_relaxed);
}
