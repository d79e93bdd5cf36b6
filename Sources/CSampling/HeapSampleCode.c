// Which addresses can be return addresses: inside the code of an object loaded at startup, right after
// a call instruction.
//
// A frame-pointer walk through code built without frame pointers (glibc, ld.so, libstdc++) can follow
// an rbp that holds data and report garbage "return addresses": small integers, heap pointers, function
// entries. The sampler cuts a stack at the first such entry. The code ranges are collected once, before
// main, with dl_iterate_phdr (never inside the hook). Objects loaded at startup are never unmapped, so
// reading the instruction bytes before an address inside them is always safe. Code dlopen'ed later is
// unknown here, and stacks are cut where they enter it.
#define _GNU_SOURCE
#include "HeapSampleInternal.h"

#include <link.h>
#include <stdint.h>

#define GR_MAX_CODE_RANGES 256

typedef struct {
    uintptr_t lo, hi;
} gr_code_range;

static gr_code_range gr_code_ranges[GR_MAX_CODE_RANGES];
static int gr_code_range_count;
static gr_code_range gr_program_text;   // the main executable's code

static int gr_collect_code_ranges(struct dl_phdr_info *info, size_t size, void *context) {
    (void)size;
    int *object_index = context;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD || !(segment->p_flags & PF_X) || segment->p_memsz == 0) continue;
        gr_code_range range = {info->dlpi_addr + segment->p_vaddr, info->dlpi_addr + segment->p_vaddr + segment->p_memsz};
        if (*object_index == 0 && gr_program_text.hi == 0) gr_program_text = range;   // the program comes first
        if (gr_code_range_count < GR_MAX_CODE_RANGES) gr_code_ranges[gr_code_range_count++] = range;
    }
    (*object_index)++;
    return 0;
}

void gr_heap_code_ranges_init(void) {
    int object_index = 0;
    dl_iterate_phdr(gr_collect_code_ranges, &object_index);
}

int gr_heap_in_program_text(uintptr_t address) {
    return address >= gr_program_text.lo && address < gr_program_text.hi;
}

static const gr_code_range *gr_code_range_of(uintptr_t address) {
    for (int i = 0; i < gr_code_range_count; i++) {
        if (address >= gr_code_ranges[i].lo && address < gr_code_ranges[i].hi) return &gr_code_ranges[i];
    }
    return NULL;
}

#if defined(__x86_64__)
// The encodings compilers emit for calls: call rel32, and call through a register or memory operand
// (opcode FF /2) with the addressing forms that end right before the return address.
static int gr_follows_call(const uint8_t *ret, uintptr_t available) {
    if (available >= 5 && ret[-5] == 0xE8) return 1;                                   // call rel32
    if (available >= 2 && ret[-2] == 0xFF && (ret[-1] & 0xF8) == 0xD0) return 1;        // call *%reg
    if (available >= 2 && ret[-2] == 0xFF && (ret[-1] & 0xF8) == 0x10 &&
        (ret[-1] & 7) != 4 && (ret[-1] & 7) != 5) return 1;                             // call *(%reg)
    if (available >= 3 && ret[-3] == 0xFF && (ret[-2] & 0xF8) == 0x50 && (ret[-2] & 7) != 4) return 1;  // *d8(%reg)
    if (available >= 3 && ret[-3] == 0xFF && ret[-2] == 0x14) return 1;                 // *(base,index,s)
    if (available >= 4 && ret[-4] == 0xFF && ret[-3] == 0x54) return 1;                 // *d8(base,index,s)
    if (available >= 6 && ret[-6] == 0xFF && ret[-5] == 0x15) return 1;                 // *d32(%rip)
    if (available >= 6 && ret[-6] == 0xFF && (ret[-5] & 0xF8) == 0x90 && (ret[-5] & 7) != 4) return 1;  // *d32(%reg)
    if (available >= 7 && ret[-7] == 0xFF && ret[-6] == 0x94) return 1;                 // *d32(base,index,s)
    return 0;
}
#elif defined(__aarch64__)
static int gr_follows_call(const uint8_t *ret, uintptr_t available) {
    if (available < 4 || ((uintptr_t)ret & 3) != 0) return 0;
    uint32_t insn = *(const uint32_t *)(ret - 4);
    return (insn & 0xFC000000u) == 0x94000000u      // bl
        || (insn & 0xFFFFFC1Fu) == 0xD63F0000u      // blr
        || (insn & 0xFEFFF800u) == 0xD63F0800u;     // blraa, blrab, blraaz, blrabz
}
#else
static int gr_follows_call(const uint8_t *ret, uintptr_t available) {
    (void)ret;
    (void)available;
    return 1;
}
#endif

int gr_heap_is_return_address(uintptr_t address) {
    const gr_code_range *range = gr_code_range_of(address);
    if (!range) return 0;
    return gr_follows_call((const uint8_t *)address, address - range->lo);
}

size_t gr_heap_trim_implausible_frames(uintptr_t *frames, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (!gr_heap_is_return_address(frames[i])) return i;
    }
    return count;
}
