// Where malloc's blocks are, for the leak scan: the process's mappings (/proc/self/maps), glibc's main
// arena (chunk headers walked from sbrk's base to the program break), the 64 MiB-aligned heaps of its
// other arenas (heap_info header) and the blocks it mmapped on their own. Each run of chunks becomes a
// segment split at chunk headers, so a pointer anywhere into a block finds the block. Reads that may
// hit unmapped or guard pages go through /proc/self/mem.
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

uintptr_t leak_tcache_key;

int leak_safe_read(scan_state *s, uintptr_t address, void *out, size_t bytes) {
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

int leak_read_maps(scan_state *s, char *text, size_t capacity, size_t max_regions) {
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

// ---- malloc's heap ----

/// Whether malloc chunks can be walked from `first` to the end of [.., end) (within `slack` bytes);
/// counts them. Headers are read directly: the callers only pass ranges that are plain readable memory.
static int leak_walk_chunks(uintptr_t first, uintptr_t end, uintptr_t slack, size_t *count) {
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

static int leak_add_segment(scan_state *s, uintptr_t lo, uintptr_t hi, size_t chunks, int arena) {
    if (s->segment_count >= s->segment_capacity) return 0;
    s->segments[s->segment_count++] = (segment){ lo, hi, 0, chunks, arena };
    return 1;
}

/// Finds the chunk runs of one anonymous or [heap] region; appends them in address order.
void leak_find_heap_in_region(scan_state *s, const region *r) {
    if (!r->readable || !r->writable) return;
    size_t count;
    if (r->is_heap) {
        // The main arena starts at sbrk's base, possibly after memory the loader took first, and its top
        // chunk ends exactly at the program break.
        uintptr_t brk = (uintptr_t)syscall(SYS_brk, 0);
        if (brk <= r->lo || brk > r->hi) return;
        size_t limit = brk - r->lo < (64u << 10) ? brk - r->lo : (64u << 10);
        for (uintptr_t off = 0; off + 32 <= limit; off += 16) {
            if (leak_walk_chunks(r->lo + off, brk, 0, &count)) { leak_add_segment(s, r->lo + off, brk, count, 1); return; }
        }
        return;
    }
    if (!r->anonymous) return;
    uintptr_t pos = r->lo;
    // Arena heaps of non-main arenas: 64 MiB aligned, headed by heap_info {arena, prev, size, mprotect_size}.
    for (uintptr_t h = (r->lo + ARENA_HEAP_ALIGN - 1) & ~(uintptr_t)(ARENA_HEAP_ALIGN - 1); h + PAGE <= r->hi; h += ARENA_HEAP_ALIGN) {
        uintptr_t info[4];
        if (!leak_safe_read(s, h, info, sizeof info)) continue;
        uintptr_t size = info[2], mprotect_size = info[3];
        if (info[0] == 0 || size < PAGE || (size & (PAGE - 1)) || size > r->hi - h || mprotect_size < size) continue;
        for (uintptr_t off = 32; off < PAGE && off + 32 <= size; off += 16) {
            if (leak_walk_chunks(h + off, h + size, 0, &count)) {
                if (h == r->lo || h > pos) {
                    leak_add_segment(s, h + off, h + size, count, 1);
                    leak_exclude(s, h, h + off);   // heap_info and the arena's malloc_state: malloc's own pointers
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
        if (!leak_safe_read(s, pos, header, sizeof header)) return;
        uintptr_t size = header[1] & ~(uintptr_t)7;
        if (header[0] != 0 || (header[1] & 7) != 2 || size < PAGE || (size & (PAGE - 1)) || size > r->hi - pos) return;
        if (!leak_add_segment(s, pos, pos + size, 1, 0)) return;
        pos += size;
    }
}

void leak_fill_chunks(scan_state *s) {
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
            else if (leak_tcache_key && s->chunks[k + 1] - s->chunks[k] >= 32 && word_at(s->chunks[k] + 24) == leak_tcache_key) s->marks[k] = FREE;
        }
        s->marks[seg->first + seg->count - 1] = FREE;   // top, or the fencepost of an older heap
    }
    if (s->segment_count) { s->heap_lo = s->segments[0].lo; s->heap_hi = s->segments[s->segment_count - 1].hi; }
}

size_t leak_find_chunk(const scan_state *s, uintptr_t v) {
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
/// (malloc lends it out), so a scan of block i runs to `leak_chunk_end(i) + 8` when another block follows.
uintptr_t leak_chunk_end(const scan_state *s, size_t i) {
    size_t lo = 0, hi = s->segment_count;
    uintptr_t c = s->chunks[i];
    while (hi - lo > 1) { size_t mid = (lo + hi) / 2; if (s->segments[mid].lo <= c) lo = mid; else hi = mid; }
    const segment *seg = &s->segments[lo];
    return i + 1 < seg->first + seg->count ? s->chunks[i + 1] : seg->hi;
}

/// The main arena's state (in libc's data): its bins, fastbins, top and last_remainder point at free
/// chunks or at stale remainders, never at anything the program uses. Found by its `top` field, which
/// holds the address of the main heap's last chunk, and checked by the unsorted bin's two links.
void leak_exclude_main_arena_state(scan_state *s) {
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
            int fd_ok = fd == w || leak_find_chunk(s, fd) != NO_CHUNK, bk_ok = bk == w || leak_find_chunk(s, bk) != NO_CHUNK;
            if (!fd_ok || !bk_ok) continue;
            leak_exclude(s, w - 8 * (fastbins_words + 2), w + 8 * (bins_words + 2));
            return;
        }
    }
}
