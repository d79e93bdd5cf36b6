#define _GNU_SOURCE
#include "CStackSwitch.h"
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>
#include <stdatomic.h>
#include <errno.h>

static long futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts) {
    return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

void gr_note_clear(gr_note *note) {
    atomic_store_explicit((_Atomic uint32_t *)&note->key, 0, memory_order_relaxed);
}

bool gr_note_sleep(gr_note *note, int64_t timeout_ns) {
    _Atomic uint32_t *key = (_Atomic uint32_t *)&note->key;
    if (timeout_ns < 0) {
        while (atomic_load_explicit(key, memory_order_acquire) == 0) futex(&note->key, FUTEX_WAIT_PRIVATE, 0, NULL);
        return true;
    }
    int64_t deadline = gr_nanotime() + timeout_ns;
    while (atomic_load_explicit(key, memory_order_acquire) == 0) {
        int64_t left = deadline - gr_nanotime();
        if (left <= 0) return false;
        struct timespec ts = { .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };
        futex(&note->key, FUTEX_WAIT_PRIVATE, 0, &ts);
    }
    return true;
}

void gr_note_wakeup(gr_note *note) {
    uint32_t old = atomic_exchange_explicit((_Atomic uint32_t *)&note->key, 1, memory_order_release);
    if (old == 0) futex(&note->key, FUTEX_WAKE_PRIVATE, 1, NULL);
}

// Three states: 0 unlocked, 1 locked, 2 locked with possible sleepers. Spins briefly first: critical
// sections here are a few dozen instructions, shorter than a futex round trip.
void gr_mutex_lock_slow(uint32_t *word) {
    _Atomic uint32_t *w = (_Atomic uint32_t *)word;
    for (int spin = 0; spin < 100; spin++) {
        uint32_t expected = 0;
        if (atomic_load_explicit(w, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(w, &expected, 1, memory_order_acquire, memory_order_relaxed))
            return;
        gr_cpu_relax();
    }
    uint32_t old = atomic_exchange_explicit(w, 2, memory_order_acquire);
    while (old != 0) {
        futex(word, FUTEX_WAIT_PRIVATE, 2, NULL);
        old = atomic_exchange_explicit(w, 2, memory_order_acquire);
    }
}

void gr_mutex_unlock(uint32_t *word) {
    if (atomic_exchange_explicit((_Atomic uint32_t *)word, 0, memory_order_release) == 2)
        futex(word, FUTEX_WAKE_PRIVATE, 1, NULL);
}
