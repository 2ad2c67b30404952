/* smc_rx_write: stores to a code page that is mapped read+exec only.
 * Layout: two pages, B (RW data) and B+4096 (the code page), with
 *   F at B+4096+0x10:  B8 id  mov eax, imm32;  01 F8  add eax, edi;  C3 ret
 * The code page is written while RW, then made RX (mprotect) and F called.
 *
 * Default mode, argv[1] = rounds (default 200), each round:
 *  1. 4-byte store to F's imm32 with a SIGSEGV handler (SA_SIGINFO) that
 *     records the fault and siglongjmps: si_code must be SEGV_ACCERR,
 *     si_addr the stored address; the code is unchanged (F gives the old
 *     result).
 *  2. the same store, but the handler mprotects the code page RW and
 *     returns, so the store is restarted and now succeeds; then the page is
 *     made RX again and F must give the new result.
 *  3. an 8-byte store crossing from the RW page into the code page
 *     (B+4092..B+4099): si_addr = B+4096, and nothing is written to the RW
 *     page either (x86 does not split a faulting store).
 *  4. rep movsb of 16 bytes into the code page: faults on the first byte,
 *     si_addr = destination, and the saved RCX/RDI show no progress.
 * Once, after the rounds: read() from a pipe into the code page fails with
 * EFAULT (no signal) and changes nothing.
 *
 * argv[1] = "nohandler": prints a line, then stores to the code page with
 * no handler installed and dies by SIGSEGV (exit status 139 in a shell).
 * Offsets from B are printed, never addresses. Exit 0, or 1 if a check
 * fails. */
#include "smc_common.h"   /* first: defines _GNU_SOURCE */
#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>

typedef uint32_t (*fn_t)(uint32_t);
typedef uint32_t u32u __attribute__((aligned(1), may_alias));
typedef uint64_t u64u __attribute__((aligned(1), may_alias));

enum { LONGJMP, MPROTECT_RW };
static volatile int handler_mode;
static sigjmp_buf env;
static uint8_t *code_page;
static volatile int h_count, h_signo, h_code, h_mprotect_rc;
static volatile uintptr_t h_addr, h_rcx, h_rdi;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    h_count++;
    h_signo = sig;
    h_code = si->si_code;
    h_addr = (uintptr_t)si->si_addr;
    h_rcx = (uintptr_t)uc->uc_mcontext.gregs[REG_RCX];
    h_rdi = (uintptr_t)uc->uc_mcontext.gregs[REG_RDI];
    if (handler_mode == MPROTECT_RW) {
        h_mprotect_rc = mprotect(code_page, 4096, PROT_READ | PROT_WRITE);
        return;   /* the faulting store is restarted */
    }
    siglongjmp(env, 1);
}

static const char *code_name(int code)
{
    return code == SEGV_ACCERR ? "SEGV_ACCERR" : code == SEGV_MAPERR ? "SEGV_MAPERR" : "other";
}

static void rep_movsb(void *dst, const void *src, size_t n)
{
    __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

int main(int argc, char **argv)
{
    int nohandler = argc > 1 && strcmp(argv[1], "nohandler") == 0;
    unsigned long rounds = nohandler ? 1 : smc_rounds(argc, argv, 200);
    const size_t page = 4096;
    uint8_t *b = smc_map(2 * page, PROT_READ | PROT_WRITE);
    code_page = b + page;
    memset(b, 0x5A, page);
    memset(code_page, 0xCC, page);
    uint8_t *fb = code_page + 0x10;
    static const uint8_t fcode[] = {0xB8, 0, 0, 0, 0, 0x01, 0xF8, 0xC3};
    memcpy(fb, fcode, sizeof fcode);
    uint32_t imm = 1000;
    smc_put32(fb + 1, imm);
    smc_prot(code_page, page, PROT_READ | PROT_EXEC);
    smc_flush(fb, sizeof fcode);
    fn_t f = (fn_t)(void *)fb;
    uint32_t got = f(1);
    SMC_CHECK(got == 1001, "F(1) = %u before any fault, want 1001", got);

    if (nohandler) {
        printf("smc_rx_write: F(1) = %u; storing to the RX code page with no SIGSEGV handler\n", got);
        fflush(stdout);
        *(volatile u32u *)(fb + 1) = 2000;
        printf("smc_rx_write: the store to the RX page did not fault\n");
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);

    unsigned long ok[4] = {0};
    uint64_t sum = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        uint32_t v = smc_val(r, 0), x = smc_val(r, 1);
        volatile int before;   /* (volatile: live across sigsetjmp) */

        /* 1. store to RX, recovered with siglongjmp */
        handler_mode = LONGJMP;
        before = h_count;
        if (sigsetjmp(env, 1) == 0) {
            *(volatile u32u *)(fb + 1) = v;
            SMC_CHECK(0, "round %lu: store to the RX page did not fault", r);
        }
        got = f(x);
        if (h_count == before + 1 && h_signo == SIGSEGV && h_code == SEGV_ACCERR && h_addr == (uintptr_t)(fb + 1) &&
            got == imm + x)
            ok[0]++;
        else
            SMC_CHECK(0, "round %lu longjmp: faults %d, signal %d, %s, si_addr B+%ld (want B+%ld), F=%08x want %08x", r,
                      h_count - before, h_signo, code_name(h_code), (long)(h_addr - (uintptr_t)b), (long)(fb + 1 - b),
                      got, imm + x);
        if (r == 0)
            printf("RX store, siglongjmp: signal %d, %s, si_addr B+%ld, code unchanged: %s\n", h_signo,
                   code_name(h_code), (long)(h_addr - (uintptr_t)b), got == imm + x ? "yes" : "no");

        /* 2. store to RX, the handler mprotects RW and the store is restarted */
        handler_mode = MPROTECT_RW;
        before = h_count;
        *(volatile u32u *)(fb + 1) = v;
        uint32_t readback;
        memcpy(&readback, fb + 1, 4);
        smc_prot(code_page, page, PROT_READ | PROT_EXEC);
        smc_flush(fb, sizeof fcode);
        got = f(x);
        if (h_count == before + 1 && h_mprotect_rc == 0 && h_code == SEGV_ACCERR && h_addr == (uintptr_t)(fb + 1) &&
            readback == v && got == v + x) {
            ok[1]++;
            imm = v;
        } else
            SMC_CHECK(0, "round %lu mprotect-retry: faults %d, mprotect %d, %s, si_addr B+%ld, readback %08x want %08x, F=%08x want %08x",
                      r, h_count - before, h_mprotect_rc, code_name(h_code), (long)(h_addr - (uintptr_t)b), readback, v,
                      got, v + x);
        if (r == 0)
            printf("RX store, handler mprotects RW and returns: faults %d, %s, si_addr B+%ld, store landed: %s, new code runs: %s\n",
                   h_count - before, code_name(h_code), (long)(h_addr - (uintptr_t)b), readback == v ? "yes" : "no",
                   got == v + x ? "yes" : "no");
        imm = readback;
        sum = smc_mix(sum, got);

        /* 3. 8-byte store crossing from the RW page into the RX page */
        handler_mode = LONGJMP;
        before = h_count;
        if (sigsetjmp(env, 1) == 0) {
            *(volatile u64u *)(code_page - 4) = 0x1122334455667788ull ^ r;
            SMC_CHECK(0, "round %lu: split store did not fault", r);
        }
        uint32_t low;
        memcpy(&low, code_page - 4, 4);
        if (h_count == before + 1 && h_code == SEGV_ACCERR && h_addr == (uintptr_t)code_page && low == 0x5A5A5A5A)
            ok[2]++;
        else
            SMC_CHECK(0, "round %lu split store: faults %d, %s, si_addr B+%ld (want B+4096), RW bytes %08x (want 5a5a5a5a)",
                      r, h_count - before, code_name(h_code), (long)(h_addr - (uintptr_t)b), low);
        if (r == 0)
            printf("split 8-byte store RW->RX: %s, si_addr B+%ld, RW half written: %s\n", code_name(h_code),
                   (long)(h_addr - (uintptr_t)b), low == 0x5A5A5A5A ? "no" : "yes");

        /* 4. rep movsb into the RX page */
        before = h_count;
        uint8_t *dst = code_page + 0x100 + (r % 8);
        if (sigsetjmp(env, 1) == 0) {
            rep_movsb(dst, b, 16);
            SMC_CHECK(0, "round %lu: rep movsb into the RX page did not fault", r);
        }
        if (h_count == before + 1 && h_code == SEGV_ACCERR && h_addr == (uintptr_t)dst && h_rcx == 16 &&
            h_rdi == (uintptr_t)dst && dst[0] == 0xCC)
            ok[3]++;
        else
            SMC_CHECK(0, "round %lu rep movsb: faults %d, %s, si_addr B+%ld (want B+%ld), rcx %lu (want 16), rdi B+%ld",
                      r, h_count - before, code_name(h_code), (long)(h_addr - (uintptr_t)b), (long)(dst - b),
                      (unsigned long)h_rcx, (long)(h_rdi - (uintptr_t)b));
        if (r == 0)
            printf("rep movsb into RX: %s, si_addr = destination: %s, rcx %lu, rdi = destination: %s\n",
                   code_name(h_code), h_addr == (uintptr_t)dst ? "yes" : "no", (unsigned long)h_rcx,
                   h_rdi == (uintptr_t)dst ? "yes" : "no");
    }

    /* read() from a pipe into the RX page: EFAULT, no signal */
    int fds[2];
    if (pipe(fds) != 0) {
        printf("pipe failed\n");
        return 2;
    }
    static const uint8_t junk[8] = {0xC3, 0xC3, 0xC3, 0xC3, 0xC3, 0xC3, 0xC3, 0xC3};
    SMC_CHECK(write(fds[1], junk, sizeof junk) == sizeof junk, "pipe write");
    int before = h_count;
    errno = 0;
    ssize_t n = read(fds[0], fb, sizeof junk);
    int e = errno;
    got = f(5);
    printf("read() from a pipe into the RX page: returns %zd, errno %s, signals %d, code unchanged: %s\n", n,
           e == EFAULT ? "EFAULT" : e == 0 ? "0" : "other", h_count - before, got == imm + 5 ? "yes" : "no");
    SMC_CHECK(n == -1 && e == EFAULT && h_count == before && got == imm + 5, "read() into an RX page");
    close(fds[0]);
    close(fds[1]);

    printf("smc_rx_write: %lu rounds; ok: longjmp %lu, mprotect-retry %lu, split store %lu, rep movsb %lu; %d SIGSEGVs; checksum %016llx\n",
           rounds, ok[0], ok[1], ok[2], ok[3], h_count, (unsigned long long)sum);
    munmap(b, 2 * page);
    return smc_finish("smc_rx_write");
}
