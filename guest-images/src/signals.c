/* signals: signal delivery inside the guest. sigaction handlers (plain and
 * SA_SIGINFO) for raise()d signals, sigprocmask blocking + sigpending +
 * delivery on unblock, SA_RESETHAND, signal masks inside handlers, and
 * synchronous faults recovered with siglongjmp: SIGSEGV (write to 0x10),
 * SIGFPE (integer divide by zero), SIGILL (ud2), SIGTRAP (int3).
 * Prints si_signo/si_code/si_addr (fixed addresses only). Exit status 0. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1, got_usr2, usr1_blocked_inside;
static volatile int last_code;
static sigjmp_buf env;
static volatile int fault_signo, fault_code;
static volatile uintptr_t fault_addr;

static void on_usr1(int sig)
{
    got_usr1++;
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    usr1_blocked_inside = sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGUSR2);
    (void)sig;
}

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
    got_usr2++;
    last_code = si->si_code;
    (void)sig;
    (void)uc;
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    fault_signo = si->si_signo;
    fault_code = si->si_code;
    fault_addr = (uintptr_t)si->si_addr;
    (void)sig;
    (void)uc;
    siglongjmp(env, sig);
}

static const char *code_name(int sig, int code)
{
    if (code == SI_USER) return "SI_USER";
    if (code == SI_TKILL) return "SI_TKILL";
    if (code == SI_QUEUE) return "SI_QUEUE";
    if (code == SI_KERNEL) return "SI_KERNEL";
    switch (sig) {
    case SIGSEGV: return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR" : "SEGV_?";
    case SIGFPE: return code == FPE_INTDIV ? "FPE_INTDIV" : code == FPE_INTOVF ? "FPE_INTOVF" : "FPE_?";
    case SIGILL: return code == ILL_ILLOPN ? "ILL_ILLOPN" : code == ILL_ILLOPC ? "ILL_ILLOPC" : "ILL_?";
    case SIGTRAP: return code == TRAP_BRKPT ? "TRAP_BRKPT" : "TRAP_?";
    }
    return "?";
}

static const uint8_t ro_data[16] = {1, 2, 3};

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, NULL);

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr2;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);

    raise(SIGUSR1);
    printf("raise(SIGUSR1): handler ran %d time(s), SIGUSR1+SIGUSR2 blocked inside handler=%d\n", got_usr1, usr1_blocked_inside);
    raise(SIGUSR2);
    printf("raise(SIGUSR2): SA_SIGINFO handler ran %d time(s), si_code=%s\n", got_usr2, code_name(SIGUSR2, last_code));
    kill(getpid(), SIGUSR2);
    printf("kill(getpid(),SIGUSR2): handler ran %d time(s), si_code=%s\n", got_usr2, code_name(SIGUSR2, last_code));

    /* blocked signals stay pending until unblocked (standard signals don't queue) */
    sigset_t block, pend, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    raise(SIGUSR1);
    raise(SIGUSR1);
    sigpending(&pend);
    printf("blocked: after 2x raise handler count %d, pending=%d\n", got_usr1, sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    sigpending(&pend);
    printf("unblocked: handler count %d (one delivery), pending=%d\n", got_usr1, sigismember(&pend, SIGUSR1));

    /* SIG_IGN */
    signal(SIGUSR1, SIG_IGN);
    raise(SIGUSR1);
    printf("SIG_IGN: survived, handler count %d\n", got_usr1);

    /* SA_RESETHAND: handler runs once, then disposition is SIG_DFL */
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr2;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    struct sigaction cur;
    sigaction(SIGUSR2, NULL, &cur);
    printf("SA_RESETHAND: count %d, disposition now default=%d\n", got_usr2, cur.sa_handler == SIG_DFL);

    /* synchronous faults */
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGTRAP, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    int s;
    if ((s = sigsetjmp(env, 1)) == 0) {
        volatile int *volatile bad = (volatile int *)(uintptr_t)0x10;
        *bad = 1;
        puts("no SIGSEGV?!");
    } else
        printf("write to 0x10: signal %d (%s), si_signo %d, %s, si_addr=%#lx\n", s, strsignal(s), fault_signo, code_name(s, fault_code), (unsigned long)fault_addr);

    if ((s = sigsetjmp(env, 1)) == 0) {
        volatile uint8_t *p = (volatile uint8_t *)ro_data;
        p[3] = 9; /* .rodata is mapped read-only */
        puts("no SIGSEGV on rodata write?!");
    } else
        printf("write to .rodata: signal %d (%s), %s, si_addr is &ro_data[3]=%d\n", s, strsignal(s), code_name(s, fault_code), fault_addr == (uintptr_t)&ro_data[3]);

    if ((s = sigsetjmp(env, 1)) == 0) {
        volatile int zero = 0, x = 7;
        x = x / zero;
        puts("no SIGFPE?!");
    } else
        printf("7/0: signal %d (%s), %s\n", s, strsignal(s), code_name(s, fault_code));

    if ((s = sigsetjmp(env, 1)) == 0) {
        volatile long mn = INT64_MIN, m1 = -1, r;
        r = mn / m1;
        (void)r;
        puts("no SIGFPE on INT64_MIN/-1?!");
    } else
        printf("INT64_MIN/-1: signal %d (%s), %s\n", s, strsignal(s), code_name(s, fault_code));

    if ((s = sigsetjmp(env, 1)) == 0) {
        __asm__ volatile("ud2");
        puts("no SIGILL?!");
    } else
        printf("ud2: signal %d (%s), %s\n", s, strsignal(s), code_name(s, fault_code));

    if ((s = sigsetjmp(env, 1)) == 0) {
        __asm__ volatile("int3");
        puts("no SIGTRAP?!");
    } else
        printf("int3: signal %d (%s), si_code=%s\n", s, strsignal(s), code_name(s, fault_code));

    /* the signal mask was restored by siglongjmp: SIGSEGV must be deliverable again */
    sigset_t m;
    sigprocmask(SIG_BLOCK, NULL, &m);
    printf("after siglongjmp: SIGSEGV blocked=%d SIGFPE blocked=%d\n", sigismember(&m, SIGSEGV), sigismember(&m, SIGFPE));
    puts("signals done");
    return 0;
}
