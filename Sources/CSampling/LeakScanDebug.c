// GOROUTINES_LEAK_DEBUG=1: why the leak scan judged as it did, written to stderr with write(2) while
// the world is stopped (no allocation): the chain of blocks from a root word to each primitive found
// reachable, and every word still pointing at the primitive of a goroutine judged leaked.
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

int leak_debug_enabled;

void leak_put_hex(char *out, size_t *n, uintptr_t v) {
    char tmp[17]; int k = 0;
    do { tmp[k++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    out[(*n)++] = '0'; out[(*n)++] = 'x';
    while (k) out[(*n)++] = tmp[--k];
}

/// Prints why a primitive counts as reached: the chain of blocks back to a root word.
void leak_debug_chain(const scan_state *s, uintptr_t target, uintptr_t goroutine) {
    char line[4096]; size_t n = 0;
    memcpy(line, "leakscan: g ", 12); n = 12; leak_put_hex(line, &n, goroutine);
    memcpy(line + n, " target ", 8); n += 8; leak_put_hex(line, &n, target);
    size_t i = leak_find_chunk(s, target);
    for (int depth = 0; i != NO_CHUNK && depth < 40 && n < sizeof line - 64; depth++) {
        memcpy(line + n, " <- ", 4); n += 4; leak_put_hex(line, &n, s->chunks[i]);
        uintptr_t end = leak_chunk_end(s, i);
        line[n++] = '['; leak_put_hex(line, &n, end - s->chunks[i]); line[n++] = ',';
        leak_put_hex(line, &n, leak_find_chunk(s, end) != NO_CHUNK ? (word_at(end + 8) & 1) : 9); line[n++] = ',';
        leak_put_hex(line, &n, word_at(s->chunks[i] + 16)); line[n++] = ']';
        uintptr_t from = s->origin[i];
        if (from & ROOT_BIT) {
            uintptr_t address = from & ~ROOT_BIT;
            memcpy(line + n, " <- root ", 9); n += 9; leak_put_hex(line, &n, address);
            for (size_t r = 0; r < s->region_count; r++) {
                if (address >= s->regions[r].lo && address < s->regions[r].hi) {
                    memcpy(line + n, " in ", 4); n += 4; leak_put_hex(line, &n, s->regions[r].lo);
                    line[n++] = '-'; leak_put_hex(line, &n, s->regions[r].hi); line[n++] = ' ';
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
void leak_debug_where(scan_state *s, uintptr_t target, uintptr_t goroutine, int depth) {
    size_t c = leak_find_chunk(s, target);
    uintptr_t lo = c == NO_CHUNK ? target : s->chunks[c], hi = c == NO_CHUNK ? target + 8 : leak_chunk_end(s, c);
    char line[512]; size_t n = 0;
    memcpy(line, "leakscan: leaked g ", 19); n = 19; leak_put_hex(line, &n, goroutine);
    memcpy(line + n, " target ", 8); n += 8; leak_put_hex(line, &n, target); line[n++] = '\n';
    write(2, line, n);
    for (size_t r = 0; r < s->region_count; r++) {
        const region *reg = &s->regions[r];
        if (!reg->readable || reg->special) continue;
        uintptr_t buf[512];
        for (uintptr_t a = reg->lo; a < reg->hi; a += sizeof buf) {
            size_t bytes = reg->hi - a < sizeof buf ? reg->hi - a : sizeof buf;
            if (!leak_safe_read(s, a, buf, bytes)) continue;
            for (size_t k = 0; k < bytes / 8; k++) {
                uintptr_t w = buf[k] & 0x00FFFFFFFFFFFFFFull;
                if (w < lo || w >= hi) continue;
                uintptr_t where = a + k * 8;
                size_t wc = leak_find_chunk(s, where);
                n = 0;
                memcpy(line, "   at ", 6); n = 6; leak_put_hex(line, &n, where);
                line[n++] = ' '; leak_put_hex(line, &n, reg->lo); line[n++] = '-'; leak_put_hex(line, &n, reg->hi);
                line[n++] = ' '; line[n++] = '0' + reg->file; line[n++] = '0' + reg->anonymous;
                if (wc != NO_CHUNK) { memcpy(line + n, " chunk ", 7); n += 7; leak_put_hex(line, &n, s->chunks[wc]); line[n++] = ' '; line[n++] = '0' + s->marks[wc]; }
                if (depth > 0 && wc != NO_CHUNK && s->marks[wc] == UNMARKED) {
                    line[n++] = '\n'; write(2, line, n); n = 0;
                    leak_debug_where(s, s->chunks[wc] + 16, goroutine, depth - 1);
                    continue;
                }
                for (size_t e = 0; e < s->excluded_count; e++) if (where >= s->excluded[e].lo && where < s->excluded[e].hi) {
                    memcpy(line + n, " excl ", 6); n += 6; leak_put_hex(line, &n, s->excluded[e].lo); line[n++] = '-'; leak_put_hex(line, &n, s->excluded[e].hi); break;
                }
                line[n++] = '\n';
                write(2, line, n);
            }
        }
    }
}
