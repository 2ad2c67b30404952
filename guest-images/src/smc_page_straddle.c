/* smc_page_straddle: code that crosses 4 KiB page boundaries in a 3-page
 * RWX mapping (base B), patched on the later page.
 *
 *   F at B+4093 (crosses B+4096):
 *     4093  B8 id   mov eax, imm1   imm1 bytes 4094-4095 on page 0, 4096-4097 on page 1
 *     4098  05 id   add eax, imm2   page 1
 *     4103  01 F8   add eax, edi
 *     4105  C3      ret
 *   Each round patches one of: imm2 (page 1 only), the high half of imm1
 *   (2-byte store at 4096, page 1 only), all of imm1 (a 4-byte store that
 *   itself crosses the boundary), the low half of imm1 (page 0 only). F is
 *   called before the patch (old result) and after it (new result,
 *   smc_calls() times).
 *
 *   G at B+8186 (crosses B+8192):
 *     8186  B8 id   mov eax, imm3
 *     8191  op F8   op eax, edi: opcode byte (01 add / 29 sub) on page 1,
 *                   ModRM byte on page 2 (F8: eax,edi / C0: eax,eax)
 *     8193  C3      ret
 *   Each round rewrites the ModRM byte (page 2) and every 3rd round the
 *   opcode byte (page 1) too.
 *
 * At the end, page 2 is made RW (not executable) and G is called: fetching
 * the split instruction faults with SIGSEGV, SEGV_ACCERR, si_addr = B+8192
 * and the saved RIP at the instruction's first byte (B+8191). It is
 * recovered with siglongjmp; page 2 is made RWX again and G works again.
 * argv[1] = rounds (default 3000). Offsets from B are printed, never
 * addresses. Exit 0, or 1 if a check fails. */
#include "smc_common.h"   /* first: defines _GNU_SOURCE */
#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>

typedef uint32_t (*fn_t)(uint32_t);
typedef uint16_t u16u __attribute__((aligned(1), may_alias));
typedef uint32_t u32u __attribute__((aligned(1), may_alias));

static sigjmp_buf env;
static volatile int f_signo, f_code;
static volatile uintptr_t f_addr, f_rip;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    f_signo = sig;
    f_code = si->si_code;
    f_addr = (uintptr_t)si->si_addr;
    f_rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    siglongjmp(env, 1);
}

int main(int argc, char **argv)
{
    unsigned long rounds = smc_rounds(argc, argv, 3000);
    const size_t page = 4096;
    const int rwx = PROT_READ | PROT_WRITE | PROT_EXEC;
    uint8_t *b = smc_map(3 * page, rwx);
    memset(b, 0xCC, 3 * page);

    /* F */
    uint8_t *f = b + 4093;
    static const uint8_t fcode[] = {0xB8, 0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0x01, 0xF8, 0xC3};
    memcpy(f, fcode, sizeof fcode);
    uint32_t imm1 = 0x01020304, imm2 = 0x10203040;
    smc_put32(f + 1, imm1);
    smc_put32(f + 6, imm2);
    /* G */
    uint8_t *g = b + 8186;
    static const uint8_t gcode[] = {0xB8, 0, 0, 0, 0, 0x01, 0xF8, 0xC3};
    memcpy(g, gcode, sizeof gcode);
    uint32_t imm3 = 0xA5A5A5A5;
    smc_put32(g + 1, imm3);
    uint8_t gop = 0x01, gmodrm = 0xF8;
    smc_flush(b, 3 * page);
    if (f + 3 != b + page || g + 6 != b + 2 * page) {
        printf("layout error\n");
        return 2;
    }

    fn_t F = (fn_t)(void *)f, G = (fn_t)(void *)g;
    uint64_t sum = 0;
    unsigned long kinds[4] = {0};
    for (unsigned long r = 0; r < rounds; r++) {
        uint32_t x = smc_val(r, 0), v = smc_val(r, 1);
        uint32_t got = F(x), want = imm1 + imm2 + x;
        SMC_CHECK(got == want, "round %lu F before patch: got %08x want %08x", r, got, want);
        unsigned kind = r % 4;
        kinds[kind]++;
        switch (kind) {
        case 0: *(volatile u32u *)(f + 6) = v; imm2 = v; break;                            /* page 1 */
        case 1: *(volatile u16u *)(f + 3) = (uint16_t)v; imm1 = (imm1 & 0xFFFF) | (v << 16); break;   /* page 1 */
        case 2: *(volatile u32u *)(f + 1) = v; imm1 = v; break;                            /* both pages */
        default: *(volatile u16u *)(f + 1) = (uint16_t)v; imm1 = (imm1 & 0xFFFF0000u) | (v & 0xFFFF); break; /* page 0 */
        }
        smc_flush(f, sizeof fcode);
        unsigned n = smc_calls(r);
        for (unsigned c = 0; c < n; c++) {
            x = smc_val(r, c + 2);
            got = F(x), want = imm1 + imm2 + x;
            SMC_CHECK(got == want, "round %lu F after patch kind %u call %u: got %08x want %08x", r, kind, c, got, want);
            sum = smc_mix(sum, got);
        }

        x = smc_val(r, 3);
        got = G(x);
        want = imm3 + (gop == 0x29 ? (uint32_t)-1 : 1) * (gmodrm == 0xF8 ? x : imm3);
        SMC_CHECK(got == want, "round %lu G before patch: got %08x want %08x", r, got, want);
        gmodrm = (v >> 8) & 1 ? 0xC0 : 0xF8;
        *(volatile uint8_t *)(g + 6) = gmodrm;              /* page 2 */
        if (r % 3 == 0) {
            gop = (v >> 9) & 1 ? 0x29 : 0x01;
            *(volatile uint8_t *)(g + 5) = gop;             /* page 1 */
        }
        smc_flush(g, sizeof gcode);
        n = smc_calls(r);
        for (unsigned c = 0; c < n; c++) {
            x = smc_val(r, c + 4);
            got = G(x);
            want = imm3 + (gop == 0x29 ? (uint32_t)-1 : 1) * (gmodrm == 0xF8 ? x : imm3);
            SMC_CHECK(got == want, "round %lu G after patch (%02x %02x) call %u: got %08x want %08x", r, gop, gmodrm, c, got, want);
            sum = smc_mix(sum, got);
        }
    }
    printf("smc_page_straddle: %lu rounds (F patched: %lu imm2, %lu imm1-high, %lu imm1-split, %lu imm1-low), checksum %016llx\n",
           rounds, kinds[0], kinds[1], kinds[2], kinds[3], (unsigned long long)sum);

    /* Fetch fault in the middle of G's split instruction. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    smc_prot(b + 2 * page, page, PROT_READ | PROT_WRITE);
    volatile int faulted = 0;
    if (sigsetjmp(env, 1) == 0) {
        uint32_t got = G(7);
        printf("G with page 2 not executable returned %08x (no fault)\n", got);
    } else {
        faulted = 1;
    }
    SMC_CHECK(faulted, "no SIGSEGV fetching from a non-executable page");
    if (faulted) {
        long addr_off = (long)(f_addr - (uintptr_t)b), rip_off = (long)(f_rip - (uintptr_t)b);
        printf("fetch fault: signal %d, si_code %s, si_addr B+%ld, rip B+%ld\n", f_signo,
               f_code == SEGV_ACCERR ? "SEGV_ACCERR" : f_code == SEGV_MAPERR ? "SEGV_MAPERR" : "other",
               addr_off, rip_off);
        SMC_CHECK(f_signo == SIGSEGV && f_code == SEGV_ACCERR && addr_off == 8192 && rip_off == 8191,
                  "fetch fault details");
    }
    smc_prot(b + 2 * page, page, rwx);
    uint32_t want = imm3 + (gop == 0x29 ? (uint32_t)-1 : 1) * (gmodrm == 0xF8 ? 7u : imm3);
    uint32_t got = G(7);
    SMC_CHECK(got == want, "G after making page 2 executable again: got %08x want %08x", got, want);
    printf("G after mprotect RWX: %08x\n", got);

    munmap(b, 3 * page);
    return smc_finish("smc_page_straddle");
}
