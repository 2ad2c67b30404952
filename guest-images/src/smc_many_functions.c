/* smc_many_functions: 4096 generated functions in one 64 KiB RWX buffer
 * (16 pages), each 16 bytes:
 *   B8 id   mov eax, imm32
 *   op F8   add/sub/xor eax, edi   (op = 01 / 29 / 31)
 *   C3      ret, then CC padding
 * Each round rewrites the immediates (and the operation) of the functions
 * selected for the round, then calls all 4096 (forward on even rounds,
 * backward on odd ones) and sums the results, checking each one.
 * argv[1] = rounds (default 20). argv[2] = stride (default 1): a round
 * rewrites function i when i % stride == round % stride, so stride 1
 * rewrites all of them every round and larger strides leave most of each
 * page unchanged. Exit 0, or 1 if a check fails. */
#include "smc_common.h"

#define NFUNC 4096
#define FSIZE 16

typedef uint32_t (*fn_t)(uint32_t);

static uint32_t imm[NFUNC];
static uint8_t op[NFUNC];

int main(int argc, char **argv)
{
    unsigned long rounds = smc_rounds(argc, argv, 20);
    unsigned long stride = argc > 2 ? strtoul(argv[2], NULL, 10) : 1;
    if (stride == 0 || stride > NFUNC) {
        printf("bad stride\n");
        return 2;
    }
    static const uint8_t opcodes[3] = {0x01, 0x29, 0x31};
    size_t size = (size_t)NFUNC * FSIZE;
    uint8_t *buf = smc_map(size, PROT_READ | PROT_WRITE | PROT_EXEC);
    memset(buf, 0xCC, size);
    for (unsigned i = 0; i < NFUNC; i++) {
        uint8_t *p = buf + (size_t)i * FSIZE;
        p[0] = 0xB8;
        p[5] = opcodes[0];
        p[6] = 0xF8;
        p[7] = 0xC3;
        imm[i] = 0;
        op[i] = 0;
        smc_put32(p + 1, 0);
    }
    smc_flush(buf, size);

    uint64_t total = 0, sum = 0, rewrites = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        for (unsigned i = (unsigned)(r % stride); i < NFUNC; i += (unsigned)stride) {
            uint8_t *p = buf + (size_t)i * FSIZE;
            imm[i] = smc_val(r, i);
            op[i] = (uint8_t)((i + r) % 3);
            smc_put32(p + 1, imm[i]);
            p[5] = opcodes[op[i]];
            rewrites++;
        }
        smc_flush(buf, size);
        uint64_t round_sum = 0;
        for (unsigned j = 0; j < NFUNC; j++) {
            unsigned i = r % 2 ? NFUNC - 1 - j : j;
            fn_t f = (fn_t)(void *)(buf + (size_t)i * FSIZE);
            uint32_t x = i * 0x10001u + (uint32_t)r;
            uint32_t got = f(x);
            uint32_t want = op[i] == 0 ? imm[i] + x : op[i] == 1 ? imm[i] - x : (imm[i] ^ x);
            SMC_CHECK(got == want, "round %lu function %u (op %02x): got %08x want %08x", r, i, opcodes[op[i]], got, want);
            round_sum += got;
        }
        total += round_sum;
        sum = smc_mix(sum, round_sum);
    }
    printf("smc_many_functions: %d functions, %lu rounds, stride %lu, %llu rewrites, %llu calls\n", NFUNC, rounds,
           stride, (unsigned long long)rewrites, (unsigned long long)rounds * NFUNC);
    printf("sum of results %llu, checksum %016llx\n", (unsigned long long)total, (unsigned long long)sum);
    munmap(buf, size);
    return smc_finish("smc_many_functions");
}
