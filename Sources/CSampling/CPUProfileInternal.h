#ifndef CSAMPLING_CPU_PROFILE_INTERNAL_H
#define CSAMPLING_CPU_PROFILE_INTERNAL_H
// Shared by the SIGPROF handler (CPUProfileSignal.c) and the control side (CPUProfileControl.c);
// not part of the module's public API.
//
// Rings: one per timer slot, single writer (the handler on the slot's thread; a thread never runs two
// SIGPROF handlers at once because the signal is blocked while its handler runs) and single reader (the
// collector). Positions count words since the ring was mapped and never reset, so a ring survives its
// slot being handed to another thread. A record is [header, label word, frames...]; the header packs
// depth (bits 0-15), count (bits 16-31) and the thread id (bits 32-63).
//
// Sessions: each profile gets a 15-bit session number, carried in the timer signal's value next to the
// slot index. The handler announces itself in the slot's `writers` count, then checks the session; stop
// clears the session, then waits for `writers` to drop to zero. With both sides sequentially consistent,
// no handler writes after stop returns, and a late signal of an old profile writes nothing.
#include "CPUProfile.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#define GR_CPUPROF_RING_WORDS 4096u   // per slot; a power of two
#define GR_CPUPROF_RECORD_HEADER_WORDS 2u

typedef struct {
    _Atomic uint64_t head;      // words written (handler)
    _Atomic uint64_t tail;      // words consumed (collector)
    _Atomic uint64_t lost;      // samples dropped since the collector last looked
    _Atomic uint32_t writers;   // handlers between their announcement and their last write
    _Atomic int32_t tid;        // thread the slot's timer samples
    char padding[64 - 3 * sizeof(uint64_t) - 2 * sizeof(uint32_t)];
} gr_cpuprof_ring_state;

_Static_assert(sizeof(gr_cpuprof_ring_state) == 64, "one cache line per ring's control words");

extern gr_cpuprof_ring_state gr_cpuprof_rings[GR_CPUPROF_SLOTS];
/// GR_CPUPROF_SLOTS * GR_CPUPROF_RING_WORDS words, mapped at the first start and never unmapped.
extern _Atomic(uintptr_t *) gr_cpuprof_ring_words;
/// The running profile's session number (1...0x7fff), 0 when no profile runs.
extern _Atomic uint32_t gr_cpuprof_session;

extern _Atomic uint64_t gr_cpuprof_stat_signals;
extern _Atomic uint64_t gr_cpuprof_stat_recorded;
extern _Atomic uint64_t gr_cpuprof_stat_ring_full;
extern _Atomic uint64_t gr_cpuprof_stat_stale;

/// The SIGPROF handler (sa_sigaction).
void gr_cpuprof_on_sigprof(int sig, siginfo_t *info, void *ucontext);

static inline int gr_cpuprof_signal_value(uint32_t session, uint32_t slot) {
    return (int)((session << 16) | slot);
}

#endif
