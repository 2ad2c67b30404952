/* smc_jit_mprotect: the classic W^X JIT cycle on one anonymous page.
 * Each round: the page is RW, a small function is written at its start,
 * the page is made RX (mprotect), the function is called and its result
 * checked, and the page goes back to RW for the next round. The function
 * is always at the same address, but its immediate changes every round and
 * its operation rotates through add/sub/xor/imul, so a stale translation is
 * caught. Calls per round: smc_calls() (1, or 101 every 16th round).
 * argv[1] = rounds (default 2000; the benchmark uses 200000).
 * Prints a checksum of all results. Exit 0, or 1 if a check fails. */
#include "smc_common.h"

typedef uint32_t (*fn_t)(uint32_t);

/* Writes the round's function, returns its length.
 *   B8 id      mov  eax, imm32
 *   01 F8      add  eax, edi     (op 0)
 *   29 F8      sub  eax, edi     (op 1)
 *   31 F8      xor  eax, edi     (op 2)
 *   0F AF C7   imul eax, edi     (op 3)
 *   C3         ret
 */
static size_t emit(uint8_t *p, unsigned op, uint32_t imm)
{
    size_t n = 0;
    p[n++] = 0xB8;
    smc_put32(p + n, imm);
    n += 4;
    switch (op) {
    case 0: p[n++] = 0x01; p[n++] = 0xF8; break;
    case 1: p[n++] = 0x29; p[n++] = 0xF8; break;
    case 2: p[n++] = 0x31; p[n++] = 0xF8; break;
    default: p[n++] = 0x0F; p[n++] = 0xAF; p[n++] = 0xC7; break;
    }
    p[n++] = 0xC3;
    return n;
}

static uint32_t model(unsigned op, uint32_t imm, uint32_t x)
{
    switch (op) {
    case 0: return imm + x;
    case 1: return imm - x;
    case 2: return imm ^ x;
    default: return imm * x;
    }
}

int main(int argc, char **argv)
{
    unsigned long rounds = smc_rounds(argc, argv, 2000);
    const size_t page = 4096;
    uint8_t *buf = smc_map(page, PROT_READ | PROT_WRITE);
    memset(buf, 0xCC, page);   /* int3 everywhere else */

    uint64_t sum = 0, calls = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        unsigned op = r % 4;
        uint32_t imm = smc_val(r, 0);
        size_t len = emit(buf, op, imm);
        smc_prot(buf, page, PROT_READ | PROT_EXEC);
        smc_flush(buf, len);
        fn_t f = (fn_t)(void *)buf;
        unsigned n = smc_calls(r);
        for (unsigned c = 0; c < n; c++) {
            uint32_t x = smc_val(r, c + 1);
            uint32_t got = f(x), want = model(op, imm, x);
            SMC_CHECK(got == want, "round %lu op %u call %u: got %08x want %08x", r, op, c, got, want);
            sum = smc_mix(sum, got);
            calls++;
        }
        smc_prot(buf, page, PROT_READ | PROT_WRITE);
    }
    /* The page is RW again: its bytes are the last round's function. */
    uint8_t expect[16];
    size_t len = emit(expect, (rounds - 1) % 4, smc_val(rounds - 1, 0));
    SMC_CHECK(memcmp(buf, expect, len) == 0 && buf[len] == 0xCC, "final page contents");
    munmap(buf, page);

    printf("smc_jit_mprotect: %lu rounds, %llu calls, checksum %016llx\n", rounds,
           (unsigned long long)calls, (unsigned long long)sum);
    return smc_finish("smc_jit_mprotect");
}
