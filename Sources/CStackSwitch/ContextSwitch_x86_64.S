// Goroutine context switch for x86_64 SysV. Saves callee-saved registers, rsp and the return address into
// `from`, loads them from `to`. Floating-point control words are not switched: Swift code does not change
// them, and leaving them out keeps the switch at a handful of instructions.
#if defined(__x86_64__)
// Under ThreadSanitizer or AddressSanitizer the switch is entered through SanitizerFibers.c, which
// announces the fiber switch.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define gr_context_switch gr_context_switch_raw
#endif
#endif
    .text
    .globl gr_context_switch
    .type gr_context_switch, @function
    .p2align 4
gr_context_switch:
    .cfi_startproc
    movq (%rsp), %rax          // our return address becomes the saved rip
    leaq 8(%rsp), %rcx         // rsp as it will be after returning
    movq %rcx, 0(%rdi)
    movq %rax, 8(%rdi)
    movq %rbp, 16(%rdi)
    movq %rbx, 24(%rdi)
    movq %r12, 32(%rdi)
    movq %r13, 40(%rdi)
    movq %r14, 48(%rdi)
    movq %r15, 56(%rdi)
    movq 16(%rsi), %rbp
    movq 24(%rsi), %rbx
    movq 32(%rsi), %r12
    movq 40(%rsi), %r13
    movq 48(%rsi), %r14
    movq 56(%rsi), %r15
    movq 0(%rsi), %rsp
    jmpq *8(%rsi)
    .cfi_endproc
    .size gr_context_switch, .-gr_context_switch

// First code a new goroutine runs. gr_context_make leaves a 0 return address at the stack top, so this
// looks like a function called from nowhere: frame-pointer walks end at the saved rbp of 0 and DWARF
// unwinders at the undefined rip. rbx holds the entry function, r12 its argument.
    .globl gr_goroutine_trampoline
    .type gr_goroutine_trampoline, @function
    .p2align 4
gr_goroutine_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    xorl %ebp, %ebp
    pushq %rbp
    movq %rsp, %rbp
    movq %r12, %rdi
    callq *%rbx
    ud2                        // entry functions never return
    .cfi_endproc
    .size gr_goroutine_trampoline, .-gr_goroutine_trampoline

    .section .note.GNU-stack,"",@progbits
#else
#error "CStackSwitch: only x86_64 is supported so far"
#endif
