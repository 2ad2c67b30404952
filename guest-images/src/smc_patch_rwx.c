/* smc_patch_rwx: in-place patching of a function on an RWX page. The page
 * is mapped PROT_READ|PROT_WRITE|PROT_EXEC once and the function
 *   B8 id   mov eax, imm32
 *   01 F8   add eax, edi
 *   C3      ret
 * is written once. Every round patches the immediate with a plain store and
 * calls the function (smc_calls(): 1 call, or 101 every 16th round). The
 * store width rotates with the round: 4-byte store of the whole imm32,
 * 1-byte store into one of its bytes, 2-byte store at byte offset 0/1/2 of
 * the imm32 (odd and even addresses),
 * and an unaligned 8-byte store that rewrites imm32 and the (unchanged)
 * bytes after it (01 F8 C3 CC).
 * argv[1] = rounds (default 5000; the benchmark uses 1000000).
 * Prints a checksum. Exit 0, or 1 if a check fails. */
#include "smc_common.h"

typedef uint32_t (*fn_t)(uint32_t);
typedef uint16_t u16u __attribute__((aligned(1), may_alias));
typedef uint32_t u32u __attribute__((aligned(1), may_alias));
typedef uint64_t u64u __attribute__((aligned(1), may_alias));

int main(int argc, char **argv)
{
    unsigned long rounds = smc_rounds(argc, argv, 5000);
    const size_t page = 4096;
    uint8_t *buf = smc_map(page, PROT_READ | PROT_WRITE | PROT_EXEC);
    memset(buf, 0xCC, page);
    uint8_t *fn = buf + 0x40;
    static const uint8_t code[] = {0xB8, 0, 0, 0, 0, 0x01, 0xF8, 0xC3};
    memcpy(fn, code, sizeof code);
    smc_flush(fn, sizeof code);
    fn_t f = (fn_t)(void *)fn;
    uint32_t imm = 0;   /* model of the immediate currently in the code */
    uint8_t *ip = fn + 1;

    uint64_t sum = 0, calls = 0;
    unsigned long widths[4] = {0};
    for (unsigned long r = 0; r < rounds; r++) {
        uint32_t v = smc_val(r, 0);
        unsigned kind = r % 4;
        widths[kind]++;
        switch (kind) {
        case 0:   /* mov dword [imm], v */
            *(volatile u32u *)ip = v;
            imm = v;
            break;
        case 1: { /* mov byte [imm + k], v */
            unsigned k = (r / 4) % 4;
            *(volatile uint8_t *)(ip + k) = (uint8_t)v;
            imm = (imm & ~(0xFFu << (8 * k))) | ((v & 0xFFu) << (8 * k));
            break;
        }
        case 2: { /* mov word [imm + k], v  (k = 0, 1, 2: odd, even, odd address) */
            unsigned k = (r / 4) % 3;
            *(volatile u16u *)(ip + k) = (uint16_t)v;
            imm = (imm & ~(0xFFFFu << (8 * k))) | ((v & 0xFFFFu) << (8 * k));
            break;
        }
        default:  /* mov qword [imm], v | 01 F8 C3 CC << 32 */
            *(volatile u64u *)ip = (uint64_t)v | (uint64_t)0xCCC3F801u << 32;
            imm = v;
            break;
        }
        smc_flush(ip, 8);
        unsigned n = smc_calls(r);
        for (unsigned c = 0; c < n; c++) {
            uint32_t x = smc_val(r, c + 1);
            uint32_t got = f(x), want = imm + x;
            SMC_CHECK(got == want, "round %lu (store kind %u) call %u: got %08x want %08x", r, kind, c, got, want);
            sum = smc_mix(sum, got);
            calls++;
        }
    }
    uint32_t final_imm;
    memcpy(&final_imm, ip, 4);
    SMC_CHECK(final_imm == imm, "final imm32 in memory %08x, model %08x", final_imm, imm);
    SMC_CHECK(memcmp(fn + 5, code + 5, 3) == 0 && fn[8] == 0xCC && fn[-1] == 0xCC, "bytes around the imm32 changed");
    munmap(buf, page);

    printf("smc_patch_rwx: %lu rounds (%lu dword, %lu byte, %lu word, %lu qword stores), %llu calls, checksum %016llx\n",
           rounds, widths[0], widths[1], widths[2], widths[3], (unsigned long long)calls, (unsigned long long)sum);
    return smc_finish("smc_patch_rwx");
}
