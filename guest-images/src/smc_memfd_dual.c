/* smc_memfd_dual: the W^X dual-mapping JIT pattern. A 2-page memfd
 * (memfd_create + ftruncate) is mapped three times, all MAP_SHARED:
 *   rw   whole file, PROT_READ|PROT_WRITE   (the JIT writes here)
 *   rx   whole file, PROT_READ|PROT_EXEC    (the code runs here)
 *   rx2  page 1 only (file offset 4096), PROT_READ|PROT_EXEC
 * Two functions are written through rw:
 *   f0 at file offset 0x020:  B8 id  mov eax, imm32;  op F8;  C3
 *   f1 at file offset 0x1040: B8 id  mov eax, imm32;  op F8;  C3
 * (op = 01 add / 29 sub / 31 xor eax, edi). Each round rewrites both
 * through rw, then calls f0 through rx (smc_calls() times) and f1 through
 * both rx and rx2, checking every result, so a store to one virtual page
 * must invalidate code translated at two other virtual addresses. Every
 * 64th round the rw view is unmapped and mapped again (a fresh alias).
 * argv[1] = rounds (default 2000; the benchmark uses 200000).
 * Exit 0, or 1 if a check fails. */
#include "smc_common.h"

typedef uint32_t (*fn_t)(uint32_t);

static const uint8_t opcodes[3] = {0x01, 0x29, 0x31};

static void emit(uint8_t *p, uint32_t imm, unsigned op)
{
    p[0] = 0xB8;
    smc_put32(p + 1, imm);
    p[5] = opcodes[op];
    p[6] = 0xF8;
    p[7] = 0xC3;
}

static uint32_t model(uint32_t imm, unsigned op, uint32_t x)
{
    return op == 0 ? imm + x : op == 1 ? imm - x : (imm ^ x);
}

static void *map(size_t size, int prot, int fd, off_t off)
{
    void *p = mmap(NULL, size, prot, MAP_SHARED, fd, off);
    if (p == MAP_FAILED) {
        printf("mmap of the memfd failed: %s\n", strerror(errno));
        exit(2);
    }
    return p;
}

int main(int argc, char **argv)
{
    unsigned long rounds = smc_rounds(argc, argv, 2000);
    const size_t page = 4096, size = 2 * page;
    int fd = memfd_create("smc_jit", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        printf("memfd_create/ftruncate failed: %s\n", strerror(errno));
        return 2;
    }
    uint8_t *rw = map(size, PROT_READ | PROT_WRITE, fd, 0);
    uint8_t *rx = map(size, PROT_READ | PROT_EXEC, fd, 0);
    uint8_t *rx2 = map(page, PROT_READ | PROT_EXEC, fd, (off_t)page);
    memset(rw, 0xCC, size);
    const size_t o0 = 0x20, o1 = 0x1040;
    SMC_CHECK(rx[o0] == 0xCC && rx2[o1 - page] == 0xCC, "memset through rw not visible through rx/rx2");

    fn_t f0 = (fn_t)(void *)(rx + o0), f1 = (fn_t)(void *)(rx + o1), f1b = (fn_t)(void *)(rx2 + o1 - page);
    uint64_t sum = 0, calls = 0;
    unsigned long remaps = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        if (r % 64 == 63) {
            munmap(rw, size);
            rw = map(size, PROT_READ | PROT_WRITE, fd, 0);
            remaps++;
        }
        uint32_t i0 = smc_val(r, 0), i1 = smc_val(r, 1);
        unsigned op0 = r % 3, op1 = (r / 3) % 3;
        emit(rw + o0, i0, op0);
        emit(rw + o1, i1, op1);
        smc_flush(rx + o0, 8);
        smc_flush(rx + o1, 8);
        smc_flush(rx2 + o1 - page, 8);
        unsigned n = smc_calls(r);
        for (unsigned c = 0; c < n; c++) {
            uint32_t x = smc_val(r, c + 2);
            uint32_t got = f0(x), want = model(i0, op0, x);
            SMC_CHECK(got == want, "round %lu f0 via rx call %u: got %08x want %08x", r, c, got, want);
            sum = smc_mix(sum, got);
            calls++;
        }
        uint32_t x = smc_val(r, 200);
        uint32_t want = model(i1, op1, x);
        uint32_t got = f1(x);
        SMC_CHECK(got == want, "round %lu f1 via rx: got %08x want %08x", r, got, want);
        sum = smc_mix(sum, got);
        got = f1b(x);
        SMC_CHECK(got == want, "round %lu f1 via rx2: got %08x want %08x", r, got, want);
        sum = smc_mix(sum, got);
        calls += 2;
    }
    SMC_CHECK(memcmp(rx, rw, size) == 0 && memcmp(rx2, rw + page, page) == 0, "views differ at the end");
    printf("smc_memfd_dual: %lu rounds, %llu calls, %lu rw remaps, checksum %016llx\n", rounds,
           (unsigned long long)calls, remaps, (unsigned long long)sum);
    munmap(rw, size);
    munmap(rx, size);
    munmap(rx2, page);
    close(fd);
    return smc_finish("smc_memfd_dual");
}
