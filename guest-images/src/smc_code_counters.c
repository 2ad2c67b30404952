/* smc_code_counters: data that shares an RWX page with code ("false hits":
 * stores near, but never on, code bytes). One page holds, at these offsets:
 *   0x000  u64 c_low     (C: ++ each call)
 *   0x400  u64 c_mid     (C: __atomic_add_fetch, a lock-prefixed add)
 *   0x7F8  u64 c_before  (C: ++, its last byte is adjacent to f's first byte)
 *   0x800  f:  FF 05 0A 00 00 00   incl [rip+0x0A]      -> self counter at 0x810
 *              8D 04 7F            lea  eax, [rdi+rdi*2]
 *              03 05 01 00 00 00   add  eax, [rip+0x01] -> self counter at 0x810
 *              C3                  ret
 *   0x810  u32 self      (f increments it, right after f's ret byte)
 *   0x818  u64 c_after   (C: ++)
 *   0xC00  64-byte scratch area (C: memcpy of round data, then summed)
 *   0xFF8  u64 c_high    (C: ++)
 * Each call: the C side updates every counter and the scratch area, calls
 * f(x) and checks f(x) == 3 * x + self, where self counts f's calls. f's
 * own bytes are never written after setup, so an emulator that tracks code
 * bytes precisely never needs to retranslate f.
 * argv[1] = calls (default 5000). Exit 0, or 1 if a check fails. */
#include "smc_common.h"

typedef uint32_t (*fn_t)(uint32_t);

int main(int argc, char **argv)
{
    unsigned long rounds = smc_rounds(argc, argv, 5000);
    const size_t page = 4096;
    uint8_t *p = smc_map(page, PROT_READ | PROT_WRITE | PROT_EXEC);
    memset(p, 0, page);
    static const uint8_t fcode[16] = {
        0xFF, 0x05, 0x0A, 0x00, 0x00, 0x00,   /* incl [rip+0x0A] (0x806 + 0x0A = 0x810) */
        0x8D, 0x04, 0x7F,                     /* lea eax, [rdi+rdi*2] */
        0x03, 0x05, 0x01, 0x00, 0x00, 0x00,   /* add eax, [rip+0x01] (0x80F + 0x01 = 0x810) */
        0xC3,                                 /* ret */
    };
    memcpy(p + 0x800, fcode, sizeof fcode);
    smc_flush(p + 0x800, sizeof fcode);
    fn_t f = (fn_t)(void *)(p + 0x800);

    volatile uint64_t *c_low = (uint64_t *)(p + 0x000);
    uint64_t *c_mid = (uint64_t *)(p + 0x400);
    volatile uint64_t *c_before = (uint64_t *)(p + 0x7F8);
    volatile uint32_t *self = (uint32_t *)(p + 0x810);
    volatile uint64_t *c_after = (uint64_t *)(p + 0x818);
    uint8_t *scratch = p + 0xC00;
    volatile uint64_t *c_high = (uint64_t *)(p + 0xFF8);

    uint64_t sum = 0, scratch_sum = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        ++*c_low;
        __atomic_add_fetch(c_mid, 3, __ATOMIC_SEQ_CST);
        ++*c_before;
        uint64_t data[8];
        for (int k = 0; k < 8; k++) data[k] = (uint64_t)smc_val(r, k) << 32 | smc_val(r, k + 8);
        memcpy(scratch, data, sizeof data);
        __asm__ volatile("" ::: "memory");
        uint32_t x = smc_val(r, 16);
        uint32_t got = f(x), want = 3 * x + (uint32_t)(r + 1);
        SMC_CHECK(got == want, "call %lu: got %08x want %08x", r, got, want);
        ++*c_after;
        ++*c_high;
        sum = smc_mix(sum, got);
        uint64_t s = 0;
        for (int k = 0; k < 8; k++) {
            uint64_t w;
            memcpy(&w, scratch + 8 * k, 8);
            s += w;
        }
        scratch_sum = smc_mix(scratch_sum, s);
    }
    SMC_CHECK(*self == (uint32_t)rounds, "self counter %u, want %lu", *self, rounds);
    SMC_CHECK(*c_low == rounds && *c_before == rounds && *c_after == rounds && *c_high == rounds &&
                  *c_mid == 3 * rounds,
              "C counters %llu %llu %llu %llu %llu", (unsigned long long)*c_low, (unsigned long long)*c_mid,
              (unsigned long long)*c_before, (unsigned long long)*c_after, (unsigned long long)*c_high);
    SMC_CHECK(memcmp(p + 0x800, fcode, sizeof fcode) == 0, "f's bytes changed");
    printf("smc_code_counters: %lu calls, self %u, low %llu, mid %llu, before %llu, after %llu, high %llu\n",
           rounds, *self, (unsigned long long)*c_low, (unsigned long long)*c_mid, (unsigned long long)*c_before,
           (unsigned long long)*c_after, (unsigned long long)*c_high);
    printf("checksum %016llx, scratch checksum %016llx\n", (unsigned long long)sum, (unsigned long long)scratch_sum);
    munmap(p, page);
    return smc_finish("smc_code_counters");
}
