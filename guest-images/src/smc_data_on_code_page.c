/* smc_data_on_code_page: the cost of data writes on a page that also holds
 * code, against the same writes to an ordinary data page. Both modes map an
 * RWX page with the function
 *   B8 07 00 00 00   mov eax, 7
 *   01 F8            add eax, edi
 *   C3               ret
 * at offset 0 and run the same loop: each round increments 16 u64 counters
 * (volatile, one store each) and calls f once. The counters live at offset
 * 0x800 of f's page ("code") or in a separate RW page ("ordinary"); f's
 * bytes are never written after setup, so an emulator that tracks code bytes
 * precisely never retranslates f and both modes should run at the same speed.
 * argv[1] = code | ordinary, argv[2] = rounds (default 5000).
 * Prints a checksum. Exit 0, or 1 if a check fails, 2 for bad arguments. */
#include "smc_common.h"

typedef uint32_t (*fn_t)(uint32_t);

#define COUNTERS 16

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "code") != 0 && strcmp(argv[1], "ordinary") != 0)) {
        printf("usage: smc_data_on_code_page code|ordinary [rounds]\n");
        return 2;
    }
    int on_code = strcmp(argv[1], "code") == 0;
    unsigned long rounds = smc_rounds(argc - 1, argv + 1, 5000);
    const size_t page = 4096;
    uint8_t *code = smc_map(page, PROT_READ | PROT_WRITE | PROT_EXEC);
    memset(code, 0xCC, page);
    static const uint8_t fcode[] = {0xB8, 7, 0, 0, 0, 0x01, 0xF8, 0xC3};
    memcpy(code, fcode, sizeof fcode);
    smc_flush(code, sizeof fcode);
    fn_t f = (fn_t)(void *)code;

    uint8_t *data_page = on_code ? code : smc_map(page, PROT_READ | PROT_WRITE);
    volatile uint64_t *counters = (volatile uint64_t *)(data_page + 0x800);
    for (int i = 0; i < COUNTERS; i++) counters[i] = 0;

    uint64_t sum = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        for (int i = 0; i < COUNTERS; i++) counters[i] += (uint64_t)i + 1;
        uint32_t x = (uint32_t)r;
        uint32_t got = f(x);
        SMC_CHECK(got == x + 7, "round %lu: f(%u) = %u", r, x, got);
        sum = smc_mix(sum, got);
    }
    for (int i = 0; i < COUNTERS; i++) {
        SMC_CHECK(counters[i] == rounds * ((uint64_t)i + 1), "counter %d = %llu", i, (unsigned long long)counters[i]);
        sum = smc_mix(sum, counters[i]);
    }
    SMC_CHECK(memcmp(code, fcode, sizeof fcode) == 0, "f's bytes changed");

    printf("smc_data_on_code_page: %s, %lu rounds, %d counters, checksum %016llx\n",
           on_code ? "code" : "ordinary", rounds, COUNTERS, (unsigned long long)sum);
    return smc_finish("smc_data_on_code_page");
}
