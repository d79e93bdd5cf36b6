// The world-stopped conservative reachability scan behind the goroutineleak profile. The design, and
// why it never reports a goroutine that something alive can still wake, is explained at the top of
// Sources/Goroutines/LeakDetection.swift. Between stopping and resuming the other threads this file
// uses only system calls, its own page-backed tables and the stopped memory: the stopped threads may
// hold malloc's locks or be in the middle of anything.
#define _GNU_SOURCE
#include "LeakScan.h"

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

#define MAX_THREADS 4096
#define MAX_REGIONS 65536
#define MAX_SCRATCH 16
#define RED_ZONE 128
#define PAGE 4096u
#define ARENA_HEAP_ALIGN (64u << 20)   // glibc's HEAP_MAX_SIZE on 64-bit
#define TLS_ROOT_BELOW (64u << 10)     // static TLS sits below the thread pointer (x86-64 variant II)
#define TLS_ROOT_ABOVE PAGE
#define STOP_TIMEOUT_NS 2000000000LL

// ---- stopping the world ----

typedef struct stopped_thread {
    int tid;
    _Atomic int ready;
    uintptr_t thread_pointer;
    uintptr_t regs[NGREG];   // the interrupted registers: in .bss, so they are roots
} stopped_thread;

static stopped_thread stopped[MAX_THREADS];
static _Atomic int stopped_count;
static _Atomic unsigned stop_generation;   // odd while the world is stopped; futex word
static int signalled[MAX_THREADS];
static int signalled_count;
static int stop_signal;
static atomic_flag analysis_busy = ATOMIC_FLAG_INIT;

static struct sigaction previous_sigsys;

/// A SIGSYS that is not a stop request (seccomp, a bad system call) gets what it would have got.
static void forward_sigsys(int sig, siginfo_t *info, void *ucv) {
    if (previous_sigsys.sa_flags & SA_SIGINFO) {
        if (previous_sigsys.sa_sigaction) previous_sigsys.sa_sigaction(sig, info, ucv);
    } else if (previous_sigsys.sa_handler == SIG_IGN) {
        return;
    } else if (previous_sigsys.sa_handler != SIG_DFL) {
        previous_sigsys.sa_handler(sig);
    } else {
        signal(SIGSYS, SIG_DFL);
        raise(SIGSYS);   // delivered with the default action once this handler returns
    }
}

static void on_stop_request(int sig, siginfo_t *info, void *ucv) {
    if (info->si_code != SI_QUEUE || info->si_pid != getpid()) {
        if (sig == SIGSYS) forward_sigsys(sig, info, ucv);
        return;
    }
    unsigned generation = (unsigned)info->si_value.sival_int;
    if (atomic_load(&stop_generation) != generation) return;   // a late request of a finished stop
    int saved_errno = errno;
    int slot = atomic_fetch_add(&stopped_count, 1);
    if (slot < MAX_THREADS) {
        ucontext_t *uc = ucv;
        stopped[slot].tid = (int)syscall(SYS_gettid);
        stopped[slot].thread_pointer = (uintptr_t)__builtin_thread_pointer();
        for (int i = 0; i < NGREG; i++) stopped[slot].regs[i] = (uintptr_t)uc->uc_mcontext.gregs[i];
        atomic_store(&stopped[slot].ready, 1);
    }
    while (atomic_load(&stop_generation) == generation)
        syscall(SYS_futex, &stop_generation, FUTEX_WAIT_PRIVATE, generation, NULL, NULL, 0);
    errno = saved_errno;
}

static int install_stop_handler(void) {
    if (stop_signal) return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_stop_request;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigfillset(&sa.sa_mask);
    int sig = SIGRTMAX - 4;
    if (sigaction(sig, &sa, NULL) != 0) return -1;
    // Threads that block every asynchronous signal (libdispatch's workers) still take SIGSYS.
    if (sigaction(SIGSYS, &sa, &previous_sigsys) != 0) return -1;
    stop_signal = sig;
    return 0;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int already_signalled(int tid) {
    for (int i = 0; i < signalled_count; i++) if (signalled[i] == tid) return 1;
    return 0;
}

/// Signals every thread not yet signalled; returns how many were new, or -1.
static int send_stop(pid_t pid, int tid, int sig, unsigned generation) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = sig;
    si.si_code = SI_QUEUE;
    si.si_pid = pid;
    si.si_uid = getuid();
    si.si_value.sival_int = (int)generation;
    return (int)syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, &si);
}

static int signal_new_threads(unsigned generation, int self) {
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[8192];
    int fresh = 0;
    pid_t pid = getpid();
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0) { close(fd); return -1; }
        if (n == 0) break;
        for (long off = 0; off < n;) {
            unsigned short reclen = *(unsigned short *)(buf + off + 16);
            const char *name = buf + off + 19;
            off += reclen;
            if (name[0] < '0' || name[0] > '9') continue;
            int tid = 0;
            for (const char *p = name; *p; p++) tid = tid * 10 + (*p - '0');
            if (tid == self || already_signalled(tid)) continue;
            if (signalled_count >= MAX_THREADS) { close(fd); return -1; }
            if (send_stop(pid, tid, stop_signal, generation) != 0) continue;   // gone already
            signalled[signalled_count++] = tid;
            fresh++;
        }
    }
    close(fd);
    return fresh;
}

static int has_stopped(int tid) {
    int n = atomic_load(&stopped_count);
    if (n > MAX_THREADS) n = MAX_THREADS;
    for (int i = 0; i < n; i++) if (atomic_load(&stopped[i].ready) && stopped[i].tid == tid) return 1;
    return 0;
}

/// Waits until every signalled thread has stopped or exited; after 20 ms, threads that have not stopped
/// (blocking the real-time signal) are asked again with SIGSYS.
static int wait_for_stops(int64_t deadline, unsigned generation) {
    pid_t pid = getpid();
    int64_t retry_at = now_ns() + 20000000;
    for (;;) {
        if (retry_at && now_ns() > retry_at) {
            retry_at = 0;
            for (int i = 0; i < signalled_count; i++) if (!has_stopped(signalled[i])) send_stop(pid, signalled[i], SIGSYS, generation);
        }
        int pending = 0;
        for (int i = 0; i < signalled_count; i++) {
            int tid = signalled[i];
            if (has_stopped(tid)) continue;
            if (syscall(SYS_tgkill, pid, tid, 0) != 0 && errno == ESRCH) continue;
            pending++;
        }
        if (pending == 0) return 0;
        if (now_ns() > deadline) return -1;
        struct timespec ts = { 0, 50000 };
        nanosleep(&ts, NULL);
    }
}

static void start_world(void) {
    atomic_fetch_add(&stop_generation, 1);
    syscall(SYS_futex, &stop_generation, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static int stop_world(void) {
    unsigned generation = atomic_fetch_add(&stop_generation, 1) + 1;   // odd: stopped
    atomic_store(&stopped_count, 0);
    memset(stopped, 0, sizeof stopped);
    signalled_count = 0;
    int self = (int)syscall(SYS_gettid);
    int64_t deadline = now_ns() + STOP_TIMEOUT_NS;
    for (;;) {
        int fresh = signal_new_threads(generation, self);
        if (fresh < 0 || wait_for_stops(deadline, generation) != 0) { start_world(); return -1; }
        if (fresh == 0) return 0;   // everyone stopped, and stopped threads create no threads
    }
}

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

static size_t page_round(size_t n) { return (n + PAGE - 1) & ~(size_t)(PAGE - 1); }

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

// ---- the process's memory, as /proc/self/maps describes it ----

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

#define ROOT_BIT ((uintptr_t)1 << 63)
static int leak_debug;
/// glibc's tcache_key: the second word of every block sitting in a thread cache (0 if unknown).
static uintptr_t tcache_key;

#define READ_BUFFER_WORDS 8192

static int safe_read(scan_state *s, uintptr_t address, void *out, size_t bytes) {
    return pread(s->mem_fd, out, bytes, (off_t)address) == (ssize_t)bytes;
}

static uintptr_t parse_hex(const char **p) {
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9') v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else return v;
    }
}

static int read_maps(scan_state *s, char *text, size_t capacity, size_t max_regions) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t used = 0;
    for (;;) {
        if (used + 1 >= capacity) { close(fd); return -1; }
        ssize_t n = read(fd, text + used, capacity - 1 - used);
        if (n < 0) { if (errno == EINTR) continue; close(fd); return -1; }
        if (n == 0) break;
        used += (size_t)n;
    }
    close(fd);
    text[used] = 0;
    s->region_count = 0;
    for (const char *p = text; *p;) {
        if (s->region_count >= max_regions) return -1;
        region r;
        memset(&r, 0, sizeof r);
        r.lo = parse_hex(&p); p++;
        r.hi = parse_hex(&p); p++;
        r.readable = p[0] == 'r';
        r.writable = p[1] == 'w';
        p += 5;
        while (*p && *p != ' ') p++;   // offset
        p++;
        while (*p && *p != ' ') p++;   // device
        p++;
        unsigned long inode = 0;
        while (*p >= '0' && *p <= '9') inode = inode * 10 + (unsigned long)(*p++ - '0');
        while (*p == ' ') p++;
        const char *name = p;
        while (*p && *p != '\n') p++;
        size_t name_len = (size_t)(p - name);
        if (*p) p++;
        r.file = inode != 0;
        r.is_heap = name_len == 6 && memcmp(name, "[heap]", 6) == 0;
        r.anonymous = !r.file && (name_len == 0 || (name_len > 6 && memcmp(name, "[anon:", 6) == 0));
        r.special = name_len > 1 && name[0] == '[' && !r.is_heap && !r.anonymous
            && !(name_len >= 6 && memcmp(name, "[stack", 6) == 0);
        s->regions[s->region_count++] = r;
    }
    return 0;
}

// ---- malloc's heap: which memory is made of chunks, and where each chunk starts ----

static inline uintptr_t word_at(uintptr_t address) { return *(const uintptr_t *)address; }
static void exclude(scan_state *s, uintptr_t lo, uintptr_t hi);

/// Whether malloc chunks can be walked from `first` to the end of [.., end) (within `slack` bytes);
/// counts them. Headers are read directly: the callers only pass ranges that are plain readable memory.
static int walk_chunks(uintptr_t first, uintptr_t end, uintptr_t slack, size_t *count) {
    if (first + 16 > end || !(word_at(first + 8) & 1)) return 0;   // the first chunk has PREV_INUSE
    size_t n = 0;
    for (uintptr_t c = first;;) {
        uintptr_t size = word_at(c + 8) & ~(uintptr_t)7;
        if (size == 0) {   // the closing fencepost of a grown arena heap
            if (n > 0 && end - c <= 32) { *count = n + 1; return 1; }
            return 0;
        }
        if (size < 16 || (size & 15) || size > end - c) return 0;
        n++;
        c += size;
        if (end - c <= slack) { *count = n; return 1; }
        if (end - c < 16) return 0;
    }
}

static int add_segment(scan_state *s, uintptr_t lo, uintptr_t hi, size_t chunks, int arena) {
    if (s->segment_count >= s->segment_capacity) return 0;
    s->segments[s->segment_count++] = (segment){ lo, hi, 0, chunks, arena };
    return 1;
}

/// Finds the chunk runs of one anonymous or [heap] region; appends them in address order.
static void find_heap_in_region(scan_state *s, const region *r) {
    if (!r->readable || !r->writable) return;
    size_t count;
    if (r->is_heap) {
        // The main arena starts at sbrk's base, possibly after memory the loader took first, and its top
        // chunk ends exactly at the program break.
        uintptr_t brk = (uintptr_t)syscall(SYS_brk, 0);
        if (brk <= r->lo || brk > r->hi) return;
        size_t limit = brk - r->lo < (64u << 10) ? brk - r->lo : (64u << 10);
        for (uintptr_t off = 0; off + 32 <= limit; off += 16) {
            if (walk_chunks(r->lo + off, brk, 0, &count)) { add_segment(s, r->lo + off, brk, count, 1); return; }
        }
        return;
    }
    if (!r->anonymous) return;
    uintptr_t pos = r->lo;
    // Arena heaps of non-main arenas: 64 MiB aligned, headed by heap_info {arena, prev, size, mprotect_size}.
    for (uintptr_t h = (r->lo + ARENA_HEAP_ALIGN - 1) & ~(uintptr_t)(ARENA_HEAP_ALIGN - 1); h + PAGE <= r->hi; h += ARENA_HEAP_ALIGN) {
        uintptr_t info[4];
        if (!safe_read(s, h, info, sizeof info)) continue;
        uintptr_t size = info[2], mprotect_size = info[3];
        if (info[0] == 0 || size < PAGE || (size & (PAGE - 1)) || size > r->hi - h || mprotect_size < size) continue;
        for (uintptr_t off = 32; off < PAGE && off + 32 <= size; off += 16) {
            if (walk_chunks(h + off, h + size, 0, &count)) {
                if (h == r->lo || h > pos) {
                    add_segment(s, h + off, h + size, count, 1);
                    exclude(s, h, h + off);   // heap_info and the arena's malloc_state: malloc's own pointers
                    pos = h + size;
                }
                break;
            }
        }
    }
    if (pos != r->lo) return;
    // Large blocks malloc mapped on their own: {prev_size 0, size | IS_MMAPPED}, the size a page multiple.
    while (pos + PAGE <= r->hi) {
        uintptr_t header[2];
        if (!safe_read(s, pos, header, sizeof header)) return;
        uintptr_t size = header[1] & ~(uintptr_t)7;
        if (header[0] != 0 || (header[1] & 7) != 2 || size < PAGE || (size & (PAGE - 1)) || size > r->hi - pos) return;
        if (!add_segment(s, pos, pos + size, 1, 0)) return;
        pos += size;
    }
}

/// FREE: a block malloc holds free (the top chunk, or binned: the next header's PREV_INUSE is clear). Its
/// bytes are stale, so it is never scanned. Blocks in tcache and fastbins look in use and are scanned.
enum { UNMARKED = 0, MARKED = 1, BARRIER = 2, FREE = 3 };

static void fill_chunks(scan_state *s) {
    size_t next = 0;
    for (size_t i = 0; i < s->segment_count; i++) {
        segment *seg = &s->segments[i];
        seg->first = next;
        size_t n = 0;
        for (uintptr_t c = seg->lo; c < seg->hi && n < seg->count; n++) {
            s->chunks[next + n] = c;
            uintptr_t size = word_at(c + 8) & ~(uintptr_t)7;
            if (size == 0) break;
            c += size;
        }
        seg->count = n;
        next += n;
    }
    s->chunk_count = next;
    for (size_t i = 0; i < s->segment_count; i++) {
        const segment *seg = &s->segments[i];
        if (!seg->arena || seg->count == 0) continue;
        for (size_t k = seg->first; k + 1 < seg->first + seg->count; k++) {
            if (!(word_at(s->chunks[k + 1] + 8) & 1)) s->marks[k] = FREE;
            else if (tcache_key && s->chunks[k + 1] - s->chunks[k] >= 32 && word_at(s->chunks[k] + 24) == tcache_key) s->marks[k] = FREE;
        }
        s->marks[seg->first + seg->count - 1] = FREE;   // top, or the fencepost of an older heap
    }
    if (s->segment_count) { s->heap_lo = s->segments[0].lo; s->heap_hi = s->segments[s->segment_count - 1].hi; }
}

#define NO_CHUNK ((size_t)-1)

static size_t find_chunk(const scan_state *s, uintptr_t v) {
    if (v < s->heap_lo || v >= s->heap_hi) return NO_CHUNK;
    size_t lo = 0, hi = s->segment_count;
    while (hi - lo > 1) { size_t mid = (lo + hi) / 2; if (s->segments[mid].lo <= v) lo = mid; else hi = mid; }
    const segment *seg = &s->segments[lo];
    if (v < seg->lo || v >= seg->hi || seg->count == 0) return NO_CHUNK;
    size_t a = seg->first, b = seg->first + seg->count;
    while (b - a > 1) { size_t mid = (a + b) / 2; if (s->chunks[mid] <= v) a = mid; else b = mid; }
    return a;
}

/// Where block i's bytes end. An allocated block's last word lies in the next header's prev_size field
/// (malloc lends it out), so a scan of block i runs to `chunk_end(i) + 8` when another block follows.
static uintptr_t chunk_end(const scan_state *s, size_t i) {
    size_t lo = 0, hi = s->segment_count;
    uintptr_t c = s->chunks[i];
    while (hi - lo > 1) { size_t mid = (lo + hi) / 2; if (s->segments[mid].lo <= c) lo = mid; else hi = mid; }
    const segment *seg = &s->segments[lo];
    return i + 1 < seg->first + seg->count ? s->chunks[i + 1] : seg->hi;
}

// ---- marking ----


static void put_hex(char *out, size_t *n, uintptr_t v);
static void debug_chain(const scan_state *s, uintptr_t target, uintptr_t goroutine);
static void touch_candidate_stack(scan_state *s, uintptr_t v) {
    size_t lo = 0, hi = s->candidate_count;
    while (hi - lo > 1) { size_t mid = (lo + hi) / 2; if (s->candidate_stacks[mid].lo <= v) lo = mid; else hi = mid; }
    if (s->candidate_count && v >= s->candidate_stacks[lo].lo && v < s->candidate_stacks[lo].hi) {
        if (leak_debug && !s->touched[s->candidate_index[lo]]) {
            char line[256]; size_t n = 0;
            memcpy(line, "leakscan: stack ref ", 20); n = 20; put_hex(line, &n, v);
            memcpy(line + n, " from ", 6); n += 6;
            if (s->current & ROOT_BIT) { put_hex(line, &n, s->current & ~ROOT_BIT); line[n++] = 'r'; }
            else { put_hex(line, &n, s->chunks[s->current]); line[n++] = 'c'; line[n++] = ' '; put_hex(line, &n, word_at(s->chunks[s->current] + 16)); }
            memcpy(line + n, " stack ", 7); n += 7; put_hex(line, &n, s->candidate_stacks[lo].lo);
            line[n++] = '\n'; write(2, line, n);
            if (!(s->current & ROOT_BIT) && s->origin) debug_chain(s, s->chunks[s->current] + 16, 0);
        }
        s->touched[s->candidate_index[lo]] = 1;
    }
}

static inline void visit(scan_state *s, uintptr_t v) {
    if (v >= s->candidates_lo && v < s->candidates_hi) { touch_candidate_stack(s, v); return; }
    size_t i = find_chunk(s, v);
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
        uintptr_t end = chunk_end(s, i);
        if (find_chunk(s, end) != NO_CHUNK) end += 8;   // the lent prev_size word of the next block
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
        if (safe_read(s, lo, s->buffer, bytes)) {
            for (size_t k = 0; k < bytes / 8; k++) { s->current = (lo + k * 8) | ROOT_BIT; consider(s, s->buffer[k]); }
            lo += bytes;
            continue;
        }
        // Something unreadable in this block: go page by page.
        uintptr_t page_end = (lo & ~(uintptr_t)(PAGE - 1)) + PAGE;
        if (page_end > hi) page_end = hi;
        size_t n = (size_t)(page_end - lo) & ~(size_t)7;
        if (n && safe_read(s, lo, s->buffer, n)) for (size_t k = 0; k < n / 8; k++) consider(s, s->buffer[k]);
        lo = page_end;
    }
}

static void exclude(scan_state *s, uintptr_t lo, uintptr_t hi) {
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

/// The main arena's state (in libc's data): its bins, fastbins, top and last_remainder point at free
/// chunks or at stale remainders, never at anything the program uses. Found by its `top` field, which
/// holds the address of the main heap's last chunk, and checked by the unsorted bin's two links.
static void exclude_main_arena_state(scan_state *s) {
    const segment *main_heap = NULL;
    for (size_t i = 0; i < s->segment_count; i++) if (s->segments[i].arena && s->segments[i].lo < s->segments[i].hi) {
        for (size_t r = 0; r < s->region_count; r++)
            if (s->regions[r].is_heap && s->segments[i].lo >= s->regions[r].lo && s->segments[i].lo < s->regions[r].hi) main_heap = &s->segments[i];
    }
    if (!main_heap || main_heap->count == 0) return;
    uintptr_t top = s->chunks[main_heap->first + main_heap->count - 1];
    const size_t bins_words = 254, fastbins_words = 10;
    for (size_t r = 0; r < s->region_count; r++) {
        const region *reg = &s->regions[r];
        if (!reg->file || !reg->writable || !reg->readable) continue;
        for (uintptr_t w = reg->lo + 8 * (fastbins_words + 2); w + 8 * (bins_words + 2) < reg->hi; w += 8) {
            if (word_at(w) != top) continue;
            uintptr_t fd = word_at(w + 16), bk = word_at(w + 24);
            int fd_ok = fd == w || find_chunk(s, fd) != NO_CHUNK, bk_ok = bk == w || find_chunk(s, bk) != NO_CHUNK;
            if (!fd_ok || !bk_ok) continue;
            exclude(s, w - 8 * (fastbins_words + 2), w + 8 * (bins_words + 2));
            return;
        }
    }
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
    size_t i = find_chunk(s, g->object);
    if (i != NO_CHUNK && s->marks[i] != MARKED) { s->marks[i] = MARKED; s->stack[s->stack_count++] = i; }
    i = g->context ? find_chunk(s, g->context) : NO_CHUNK;
    if (i != NO_CHUNK && s->marks[i] != MARKED) { s->marks[i] = MARKED; s->stack[s->stack_count++] = i; }
    i = g->wait_state ? find_chunk(s, g->wait_state) : NO_CHUNK;
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
    size_t i = find_chunk(s, address);
    return i == NO_CHUNK || s->marks[i] == MARKED;   // outside the heap: assume reachable
}

static void put_hex(char *out, size_t *n, uintptr_t v) {
    char tmp[17]; int k = 0;
    do { tmp[k++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    out[(*n)++] = '0'; out[(*n)++] = 'x';
    while (k) out[(*n)++] = tmp[--k];
}

/// Prints why a primitive counts as reached: the chain of blocks back to a root word.
static void debug_chain(const scan_state *s, uintptr_t target, uintptr_t goroutine) {
    char line[4096]; size_t n = 0;
    memcpy(line, "leakscan: g ", 12); n = 12; put_hex(line, &n, goroutine);
    memcpy(line + n, " target ", 8); n += 8; put_hex(line, &n, target);
    size_t i = find_chunk(s, target);
    for (int depth = 0; i != NO_CHUNK && depth < 40 && n < sizeof line - 64; depth++) {
        memcpy(line + n, " <- ", 4); n += 4; put_hex(line, &n, s->chunks[i]);
        uintptr_t end = chunk_end(s, i);
        line[n++] = '['; put_hex(line, &n, end - s->chunks[i]); line[n++] = ',';
        put_hex(line, &n, find_chunk(s, end) != NO_CHUNK ? (word_at(end + 8) & 1) : 9); line[n++] = ',';
        put_hex(line, &n, word_at(s->chunks[i] + 16)); line[n++] = ']';
        uintptr_t from = s->origin[i];
        if (from & ROOT_BIT) {
            uintptr_t address = from & ~ROOT_BIT;
            memcpy(line + n, " <- root ", 9); n += 9; put_hex(line, &n, address);
            for (size_t r = 0; r < s->region_count; r++) {
                if (address >= s->regions[r].lo && address < s->regions[r].hi) {
                    memcpy(line + n, " in ", 4); n += 4; put_hex(line, &n, s->regions[r].lo);
                    line[n++] = '-'; put_hex(line, &n, s->regions[r].hi); line[n++] = ' ';
                    line[n++] = '0' + s->regions[r].file; line[n++] = '0' + s->regions[r].anonymous; line[n++] = '0' + s->regions[r].writable;
                    break;
                }
            }
            break;
        }
        i = from;
    }
    line[n++] = '\n';
    write(2, line, n);
}

/// Debugging: every word in readable memory that points into the block of a primitive judged unreachable.
static void debug_where(scan_state *s, uintptr_t target, uintptr_t goroutine, int depth) {
    size_t c = find_chunk(s, target);
    uintptr_t lo = c == NO_CHUNK ? target : s->chunks[c], hi = c == NO_CHUNK ? target + 8 : chunk_end(s, c);
    char line[512]; size_t n = 0;
    memcpy(line, "leakscan: leaked g ", 19); n = 19; put_hex(line, &n, goroutine);
    memcpy(line + n, " target ", 8); n += 8; put_hex(line, &n, target); line[n++] = '\n';
    write(2, line, n);
    for (size_t r = 0; r < s->region_count; r++) {
        const region *reg = &s->regions[r];
        if (!reg->readable || reg->special) continue;
        uintptr_t buf[512];
        for (uintptr_t a = reg->lo; a < reg->hi; a += sizeof buf) {
            size_t bytes = reg->hi - a < sizeof buf ? reg->hi - a : sizeof buf;
            if (!safe_read(s, a, buf, bytes)) continue;
            for (size_t k = 0; k < bytes / 8; k++) {
                uintptr_t w = buf[k] & 0x00FFFFFFFFFFFFFFull;
                if (w < lo || w >= hi) continue;
                uintptr_t where = a + k * 8;
                size_t wc = find_chunk(s, where);
                n = 0;
                memcpy(line, "   at ", 6); n = 6; put_hex(line, &n, where);
                line[n++] = ' '; put_hex(line, &n, reg->lo); line[n++] = '-'; put_hex(line, &n, reg->hi);
                line[n++] = ' '; line[n++] = '0' + reg->file; line[n++] = '0' + reg->anonymous;
                if (wc != NO_CHUNK) { memcpy(line + n, " chunk ", 7); n += 7; put_hex(line, &n, s->chunks[wc]); line[n++] = ' '; line[n++] = '0' + s->marks[wc]; }
                if (depth > 0 && wc != NO_CHUNK && s->marks[wc] == UNMARKED) {
                    line[n++] = '\n'; write(2, line, n); n = 0;
                    debug_where(s, s->chunks[wc] + 16, goroutine, depth - 1);
                    continue;
                }
                for (size_t e = 0; e < s->excluded_count; e++) if (where >= s->excluded[e].lo && where < s->excluded[e].hi) {
                    memcpy(line + n, " excl ", 6); n += 6; put_hex(line, &n, s->excluded[e].lo); line[n++] = '-'; put_hex(line, &n, s->excluded[e].hi); break;
                }
                line[n++] = '\n';
                write(2, line, n);
            }
        }
    }
}

static void *map_pages(size_t bytes) {
    void *p = mmap(NULL, page_round(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

// ---- the analysis ----

#define MAPS_TEXT_BYTES (16u << 20)

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

    if (read_maps(s, maps_text, MAPS_TEXT_BYTES, MAX_REGIONS) != 0) return -2;
    for (size_t i = 0; i < s->region_count; i++) find_heap_in_region(s, &s->regions[i]);
    if (s->segment_count == 0) return -3;

    size_t heap_bytes = 0, chunk_bound = 0;
    for (size_t i = 0; i < s->segment_count; i++) { heap_bytes += s->segments[i].hi - s->segments[i].lo; chunk_bound += s->segments[i].count; }
    size_t table_bytes = chunk_bound * (2 * sizeof(uintptr_t) + 1 + sizeof(size_t))
        + n * (sizeof(range) + sizeof(size_t) + 1) + 64;
    void *table = map_pages(table_bytes);
    if (!table) return -4;
    s->chunks = table;
    s->stack = (size_t *)(s->chunks + chunk_bound);
    s->origin = leak_debug ? (uintptr_t *)(s->stack + chunk_bound) : NULL;
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
    fill_chunks(s);

    // Stack pointers of every stopped thread and of this one.
    int stopped_n = atomic_load(&stopped_count);
    if (stopped_n > MAX_THREADS) stopped_n = MAX_THREADS;
    s->rsp_count = 0;
    for (int i = 0; i < stopped_n; i++) s->rsps[s->rsp_count++] = stopped[i].regs[REG_RSP];
    if (leak_debug) {
        for (int i = 0; i < stopped_n; i++) {
            char line[128]; size_t k = 0;
            memcpy(line, "leakscan: stopped tid ", 22); k = 22; put_hex(line, &k, (uintptr_t)stopped[i].tid);
            line[k++] = ' '; put_hex(line, &k, stopped[i].regs[REG_RSP]); line[k++] = ' '; put_hex(line, &k, stopped[i].regs[REG_RBX]);
            line[k++] = '\n'; write(2, line, k);
        }
    }
    s->rsps[s->rsp_count++] = self_sp;

    // Never roots: the heap (traced instead), every goroutine stack (live ones are added back from their
    // stack pointer up), the scan's own tables, the heap sampler's table of sampled pointers, and the
    // dead part of each thread stack below its stack pointer.
    for (size_t i = 0; i < s->segment_count; i++) exclude(s, s->segments[i].lo, s->segments[i].hi);
    exclude_main_arena_state(s);
    for (size_t i = 0; i < n; i++) exclude(s, gs[i].stack_lo, gs[i].stack_hi);
    exclude(s, (uintptr_t)work, (uintptr_t)work + work_bytes);
    if (!in_goroutine_stack(gs, n, self_sp)) exclude(s, s->own_lo, s->own_hi);
    exclude(s, (uintptr_t)table, (uintptr_t)table + page_round(table_bytes));
    for (int i = 0; i < MAX_SCRATCH; i++) exclude(s, scratch_ranges[i].lo, scratch_ranges[i].hi);
    uintptr_t sampled_lo = 0, sampled_hi = 0;
    gr_heap_pointer_table_range(&sampled_lo, &sampled_hi);
    exclude(s, sampled_lo, sampled_hi);
    for (size_t k = 0; k < s->rsp_count; k++) {
        uintptr_t sp = s->rsps[k];
        if (in_goroutine_stack(gs, n, sp)) continue;
        for (size_t r = 0; r < s->region_count; r++) {
            if (sp >= s->regions[r].lo && sp < s->regions[r].hi) {
                if (sp - RED_ZONE > s->regions[r].lo) exclude(s, s->regions[r].lo, sp - RED_ZONE);
                break;
            }
        }
    }
    sort_ranges(s->excluded, s->excluded_count);

    // Goroutines that cannot run are barriers: reaching their G object or their saved registers (which
    // schedulers' frames keep stale pointers to) does not make their closure or stack reachable.
    for (size_t i = 0; i < n; i++) {
        if (gs[i].kind == GR_LEAK_LIVE) continue;
        size_t c = find_chunk(s, gs[i].object);
        if (c != NO_CHUNK) s->marks[c] = BARRIER;
        c = gs[i].context ? find_chunk(s, gs[i].context) : NO_CHUNK;
        if (c != NO_CHUNK) s->marks[c] = BARRIER;
        c = gs[i].wait_state ? find_chunk(s, gs[i].wait_state) : NO_CHUNK;
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
        uintptr_t tp = stopped[i].thread_pointer;
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
                    if (leak_debug) debug_chain(s, ~targets[index], g->object);
                    g->kind = GR_LEAK_LIVE;
                    make_live(s, g);
                    changed = 1;
                    break;
                }
            }
        }
    }
    for (size_t i = 0; i < n; i++) gs[i].leaked = gs[i].kind == GR_LEAK_CANDIDATE;
    if (leak_debug) {
        for (size_t i = 0; i < n; i++) {
            if (!gs[i].leaked) continue;
            for (uint32_t t = 0; t < gs[i].target_count; t++) debug_where(s, ~targets[gs[i].first_target + t], gs[i].object, 1);
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
        tcache_key = ((volatile uintptr_t *)probe)[1];
        if (tcache_key < 65536) tcache_key = 0;
    }
    const char *debug = getenv("GOROUTINES_LEAK_DEBUG");
    leak_debug = debug && debug[0] == '1';
    int result = -1;
    scan_state s;
    memset(&s, 0, sizeof s);
    size_t work_bytes = MAPS_TEXT_BYTES + MAX_REGIONS * (sizeof(region) + sizeof(segment) + sizeof(range))
        + (count + MAX_THREADS + 64) * sizeof(range) + READ_BUFFER_WORDS * 8 + (MAX_THREADS + 1) * 8 + PAGE;
    void *work = map_pages(work_bytes);
    s.mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    if (work && s.mem_fd >= 0 && install_stop_handler() == 0 && stop_world() == 0) {
        uintptr_t self_sp = (uintptr_t)__builtin_frame_address(0);
        result = analyze_stopped(&s, goroutines, count, hidden_targets, target_count, self_sp, own_top, work, page_round(work_bytes));
        start_world();
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
