/* fault_sigbus_trap: synchronous signals other than SIGSEGV reach handlers
 * with a correct frame. A private mapping of a 100-byte memfd spans two
 * pages; touching the second one (past the end of the file) is SIGBUS with
 * si_code BUS_ADRERR and si_addr the touched address; the handler repairs the
 * faulting load's base register through the ucontext (to a readable buffer)
 * and rt_sigreturn resumes the load. int3 is SIGTRAP (si_code SI_KERNEL, RIP
 * just past the int3); the handler returns and execution continues.
 * argv[1] = "nohandler": touch the page with no handler (killed, status 135).
 * Exit 0, or 1 if a check fails. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static volatile int failures;
static volatile int bus_signo, bus_code, trap_signo, trap_code;
static volatile uintptr_t bus_addr, trap_rip;
static char fallback[64] = "fallback";

static void on_bus(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    bus_signo = sig;
    bus_code = si->si_code;
    bus_addr = (uintptr_t)si->si_addr;
    /* the load below addresses memory through rbx: point it at a readable buffer */
    uc->uc_mcontext.gregs[REG_RBX] = (greg_t)(uintptr_t)fallback;
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    trap_signo = sig;
    trap_code = si->si_code;
    trap_rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
}

extern char after_int3[];

int main(int argc, char **argv)
{
    int fd = memfd_create("fault_sigbus_trap", 0);
    char text[100];
    memset(text, 'x', sizeof text);
    if (fd < 0 || write(fd, text, sizeof text) != (ssize_t)sizeof text) {
        puts("memfd setup failed");
        return 2;
    }
    char *p = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        puts("mmap failed");
        return 2;
    }
    printf("first page: %c%c (byte 100: %d)\n", p[0], p[99], p[100]);
    fflush(stdout);

    if (argc > 1 && strcmp(argv[1], "nohandler") == 0) {
        printf("touching page 2 with no handler\n");
        fflush(stdout);
        return *(volatile char *)(p + 4096) == 0 ? 3 : 4;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    sa.sa_sigaction = on_trap;
    sigaction(SIGTRAP, &sa, NULL);

    char got;
    char *target = p + 4096 + 8;
    volatile uintptr_t want = (uintptr_t)target; /* rbx (target) is rewritten by the handler */
    __asm__ volatile("movb (%%rbx), %0" : "=r"(got) : "b"(target) : "memory");
    int addr_ok = bus_addr == want;
    printf("SIGBUS: signo %d code %d addr %s, load resumed with '%c'\n", bus_signo, bus_code, addr_ok ? "ok" : "WRONG", got);
    if (bus_signo != SIGBUS || bus_code != BUS_ADRERR || !addr_ok || got != 'f') failures++;

    __asm__ volatile("int3\n.globl after_int3\nafter_int3:" ::: "memory");
    int rip_ok = trap_rip == (uintptr_t)after_int3;
    printf("SIGTRAP: signo %d code 0x%x rip %s\n", trap_signo, trap_code, rip_ok ? "ok" : "WRONG");
    if (trap_signo != SIGTRAP || trap_code != SI_KERNEL || !rip_ok) failures++;

    printf("fault_sigbus_trap: %s\n", failures ? "FAILED" : "all checks passed");
    return failures ? 1 : 0;
}
