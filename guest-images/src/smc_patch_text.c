/* smc_patch_text: patching the program's own .text. target() is an
 * ordinary C function, compiled into the binary, at the start of its own
 * page: it is 4096-aligned and in its own section "smc_text", which GNU ld
 * places as an orphan output section after .text. The rest of that page
 * holds only glibc's __libc_freeres_fn and .fini (_fini runs once, at
 * exit), nothing that runs while patching (checked for main, caller,
 * mprotect, printf and memcpy at run time). Its compiled code
 * (lea eax, [rdi+rdi*2+imm32]; ret) contains the imm32 MAGIC, found by
 * scanning its first bytes (exactly one occurrence).
 * Each round: mprotect(target's page, RWX), store a new imm32 over MAGIC,
 * call target() (smc_calls() times) and check x * 3 + new, then store MAGIC
 * back, mprotect(RX), call again and check x * 3 + MAGIC. caller() (in
 * regular .text, never patched) calls target() 8 times in a loop and is
 * checked after each patch too, so a translated caller that inlined or
 * chained into a stale target() gives wrong results.
 * argv[1] = rounds (default 500). Exit 0, or 1 if a check fails. */
#include "smc_common.h"

#define MAGIC 0x5EC0DE42u

__attribute__((noipa, aligned(4096), section("smc_text"))) uint32_t target(uint32_t x)
{
    return x * 3 + MAGIC;
}

/* sum of target(x + k) for k < 8, in a different page (regular .text) */
__attribute__((noipa)) uint32_t caller(uint32_t x)
{
    uint32_t s = 0;
    for (uint32_t k = 0; k < 8; k++) s += target(x + k) ^ k;
    return s;
}

static uint32_t model_caller(uint32_t x, uint32_t imm)
{
    uint32_t s = 0;
    for (uint32_t k = 0; k < 8; k++) s += ((x + k) * 3 + imm) ^ k;
    return s;
}

int main(int argc, char **argv)
{
    unsigned long rounds = smc_rounds(argc, argv, 500);
    const uintptr_t mask = ~(uintptr_t)4095;
    uint8_t *t = (uint8_t *)(uintptr_t)&target;
    uint8_t *pg = (uint8_t *)((uintptr_t)t & mask);
    uint32_t (*volatile tp)(uint32_t) = target;   /* call through a pointer the compiler cannot see through */
    uint32_t (*volatile cp)(uint32_t) = caller;

    /* target must be alone on its page: check what this program calls while patching */
    const void *others[] = {(void *)&main, (void *)&caller, (void *)&mprotect, (void *)&printf, (void *)&memcpy};
    for (unsigned k = 0; k < sizeof others / sizeof others[0]; k++)
        SMC_CHECK(((uintptr_t)others[k] & mask) != (uintptr_t)pg, "function %u shares target's page", k);
    SMC_CHECK(t == pg, "target is not page-aligned");

    int at = -1, hits = 0;
    for (int k = 0; k < 28; k++) {
        uint32_t w;
        memcpy(&w, t + k, 4);
        if (w == MAGIC) {
            at = k;
            hits++;
        }
    }
    if (hits != 1) {
        printf("found MAGIC %d times in target's first bytes\n", hits);
        return 1;
    }
    printf("smc_patch_text: target() is page-aligned, MAGIC imm32 found once at +%d (opcode byte before it: %02x)\n",
           at, t[at - 1]);
    uint8_t *ip = t + at;

    uint64_t sum = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        uint32_t v = smc_val(r, 0), x = smc_val(r, 1);
        smc_prot(pg, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
        memcpy(ip, &v, 4);
        smc_flush(ip, 4);
        unsigned n = smc_calls(r);
        for (unsigned c = 0; c < n; c++) {
            uint32_t y = x + c;
            uint32_t got = tp(y);
            SMC_CHECK(got == y * 3 + v, "round %lu patched call %u: got %08x want %08x", r, c, got, y * 3 + v);
            sum = smc_mix(sum, got);
        }
        uint32_t got = cp(x), want = model_caller(x, v);
        SMC_CHECK(got == want, "round %lu patched caller: got %08x want %08x", r, got, want);
        sum = smc_mix(sum, got);

        uint32_t m = MAGIC;
        memcpy(ip, &m, 4);
        smc_flush(ip, 4);
        smc_prot(pg, 4096, PROT_READ | PROT_EXEC);
        got = tp(x);
        SMC_CHECK(got == x * 3 + MAGIC, "round %lu restored: got %08x want %08x", r, got, x * 3 + MAGIC);
        sum = smc_mix(sum, got);
        got = cp(x);
        want = model_caller(x, MAGIC);
        SMC_CHECK(got == want, "round %lu restored caller: got %08x want %08x", r, got, want);
        sum = smc_mix(sum, got);
    }
    uint32_t w;
    memcpy(&w, ip, 4);
    SMC_CHECK(w == MAGIC, "MAGIC not restored");
    printf("smc_patch_text: %lu rounds, target(1) = %08x, checksum %016llx\n", rounds, tp(1), (unsigned long long)sum);
    return smc_finish("smc_patch_text");
}
