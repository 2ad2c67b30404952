/* smc_common.h: helpers shared by the smc_* guest images (self-modifying
 * code). Header only; every smc_*.c includes it.
 *
 *  - smc_rounds(argc, argv, def): argv[1] as the round count (default def)
 *  - SMC_CHECK(cond, fmt, ...): counts a failure and prints it (the first
 *    SMC_MAX_REPORTS failures only, so a broken emulator cannot flood stdout)
 *  - smc_mix(h, v): order-dependent 64-bit checksum step
 *  - smc_map(size, prot): anonymous private mmap, exits 2 on failure
 *  - smc_prot(p, size, prot): mprotect, exits 2 on failure
 *  - smc_calls(round): how many times a freshly written function is called in
 *    a round: 1, except every 16th round (round % 16 == 0) where it is
 *    1 + SMC_HOT_CALLS = 101 times, more than Hv's default hot threshold
 *    (64), so some versions of the code get translated before they are
 *    rewritten again.
 *  - smc_finish(name): prints the failure count and returns the exit status.
 *
 * Machine code used by several images (x86-64, SysV ABI: arg0 in edi,
 * result in eax):
 *    B8 id        mov  eax, imm32
 *    05 id        add  eax, imm32
 *    01 F8        add  eax, edi
 *    29 F8        sub  eax, edi
 *    31 F8        xor  eax, edi
 *    0F AF C7     imul eax, edi
 *    C3           ret
 *    CC           int3 (padding)
 */
#ifndef SMC_COMMON_H
#define SMC_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SMC_MAX_REPORTS 20
#define SMC_HOT_CALLS 100

static unsigned long smc_failures;

#define SMC_CHECK(cond, ...)                                          \
    do {                                                              \
        if (!(cond)) {                                                \
            if (smc_failures < SMC_MAX_REPORTS) {                     \
                printf("FAIL line %d: ", __LINE__);                   \
                printf(__VA_ARGS__);                                  \
                printf("\n");                                         \
            }                                                         \
            smc_failures++;                                           \
        }                                                             \
    } while (0)

__attribute__((noinline)) static unsigned long smc_rounds(int argc, char **argv, unsigned long def)
{
    if (argc < 2) return def;
    char *end;
    unsigned long n = strtoul(argv[1], &end, 10);
    if (*end != '\0' || n == 0) {
        printf("bad round count '%s'\n", argv[1]);
        exit(2);
    }
    return n;
}

static inline uint64_t smc_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 29);
}

/* deterministic 32-bit value for (round, index) */
static inline uint32_t smc_val(uint64_t round, uint64_t index)
{
    uint64_t x = round * 0x9e3779b97f4a7c15ull + index * 0xc2b2ae3d27d4eb4full + 1;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    return (uint32_t)x;
}

static inline unsigned smc_calls(uint64_t round)
{
    return round % 16 == 0 ? 1 + SMC_HOT_CALLS : 1;
}

static inline void *smc_map(size_t size, int prot)
{
    void *p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap(%zu, prot %d) failed: %s\n", size, prot, strerror(errno));
        exit(2);
    }
    return p;
}

static inline void smc_prot(void *p, size_t size, int prot)
{
    if (mprotect(p, size, prot) != 0) {
        printf("mprotect(prot %d) failed: %s\n", prot, strerror(errno));
        exit(2);
    }
}

static inline void smc_put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* What a portable JIT does after writing code (a no-op on x86, where
 * instruction fetch is coherent with stores). */
static inline void smc_flush(void *p, size_t n)
{
    __builtin___clear_cache((char *)p, (char *)p + n);
}

static inline int smc_finish(const char *name)
{
    if (smc_failures) {
        printf("%s: %lu check(s) FAILED\n", name, smc_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
