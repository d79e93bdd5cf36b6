#define _GNU_SOURCE
#include "CStackSwitch.h"
#include <signal.h>
#include <string.h>
#include <unistd.h>

// The trap report symbolizes and allocates, so a fault inside malloc or under a lock the report needs
// can hang it. The watchdog bounds that: if the report has not exited after 10 s, SIGALRM prints what
// is known without allocating (the signal, its code, the address and the pc, as Go's `[signal ...]`
// line) and exits with status 2, instead of the process dying silently of SIGALRM.

static volatile sig_atomic_t watched_sig;
static volatile uintptr_t watched_code, watched_addr, watched_pc;

static size_t append_text(char *out, size_t at, const char *text) {
    size_t n = strlen(text);
    memcpy(out + at, text, n);
    return at + n;
}

static size_t append_hex(char *out, size_t at, uintptr_t value) {
    char digits[16];
    int n = 0;
    do { digits[n++] = "0123456789abcdef"[value & 15]; value >>= 4; } while (value && n < 16);
    out[at++] = '0';
    out[at++] = 'x';
    while (n) out[at++] = digits[--n];
    return at;
}

static const char *signal_text(int sig) {
    switch (sig) {
    case SIGILL: return "SIGILL: illegal instruction";
    case SIGTRAP: return "SIGTRAP: trace/breakpoint trap";
    case SIGSEGV: return "SIGSEGV: segmentation violation";
    case SIGBUS: return "SIGBUS: bus error";
    case SIGFPE: return "SIGFPE: floating-point exception";
    default: return "signal";
    }
}

static void on_watchdog(int sig) {
    (void)sig;
    char line[512];
    size_t at = append_text(line, 0, "fatal error: unexpected signal; the goroutine report did not finish within 10 s "
                                     "(the fault may be inside malloc or a lock the report needs)\n[signal ");
    at = append_text(line, at, signal_text(watched_sig));
    at = append_text(line, at, " code=");
    at = append_hex(line, at, watched_code);
    at = append_text(line, at, " addr=");
    at = append_hex(line, at, watched_addr);
    at = append_text(line, at, " pc=");
    at = append_hex(line, at, watched_pc);
    at = append_text(line, at, "]\n");
    ssize_t ignored = write(2, line, at);
    (void)ignored;
    _exit(2);
}

void gr_trap_watchdog_arm(int sig, int code, uintptr_t fault_addr, uintptr_t pc) {
    watched_sig = sig;
    watched_code = (uint32_t)code;
    watched_addr = fault_addr;
    watched_pc = pc;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_watchdog;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarm(10);
}
