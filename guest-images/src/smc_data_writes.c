/* smc_data_writes: the cost of data stores on a page that also holds code.
 * argv[1] = "code": the 64 counters live on an RWX page next to a small
 *           function that is called every round (so the page holds decoded
 *           or translated code), at offsets 0x800.. away from its bytes;
 *         = "data": the same counters on an ordinary RW page (the function
 *           still runs from its own RWX page).
 * argv[2] = rounds (default 100000). Each round does 8 stores to counters
 * and one call. The benchmark compares the two modes' run times; the output
 * (a checksum) is the same for both. Exit 0, or 1 if a check fails. */
#include "smc_common.h"

typedef uint32_t (*fn_t)(uint32_t);

int main(int argc, char **argv)
{
    int code_mode = argc > 1 && strcmp(argv[1], "code") == 0;
    unsigned long rounds = argc > 2 ? smc_rounds(2, argv + 1, 100000) : 100000;
    const size_t page = 4096;
    uint8_t *text = smc_map(page, PROT_READ | PROT_WRITE | PROT_EXEC);
    uint8_t *data = code_mode ? text : smc_map(page, PROT_READ | PROT_WRITE);
    memset(text, 0xCC, page);
    if (!code_mode) memset(data, 0, page);
    static const uint8_t fcode[] = {0x8D, 0x04, 0x7F, 0xC3}; /* lea eax, [rdi+rdi*2]; ret */
    memcpy(text + 0x40, fcode, sizeof fcode);
    smc_flush(text + 0x40, sizeof fcode);
    fn_t f = (fn_t)(void *)(text + 0x40);
    volatile uint64_t *counters = (volatile uint64_t *)(data + 0x800);
    for (int i = 0; i < 64; i++) counters[i] = 0;

    uint64_t sum = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        for (unsigned k = 0; k < 8; k++) counters[(r + 8 * k) & 63] += r + k;
        uint32_t got = f((uint32_t)r);
        SMC_CHECK(got == 3 * (uint32_t)r, "round %lu: f returned %u", r, got);
        sum = smc_mix(sum, got);
    }
    for (int i = 0; i < 64; i++) sum = smc_mix(sum, counters[i]);
    SMC_CHECK(memcmp(text + 0x40, fcode, sizeof fcode) == 0, "code bytes changed");
    printf("smc_data_writes: %lu rounds, checksum %016llx\n", rounds, (unsigned long long)sum);
    return smc_finish("smc_data_writes");
}
