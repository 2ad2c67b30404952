/* smc_read_into_code: read(2) and friends writing machine code straight
 * into an RWX code page (the kernel, not a guest store, writes the code).
 * Creates smc_code.bin in the cwd (removed at the end; nothing is left
 * behind) holding two 16-byte records of code:
 *   B8 id   mov eax, imm32
 *   op F8   add/sub/xor eax, edi   (op = 01 / 29 / 31)
 *   C3      ret, then CC padding
 * Two functions live in a 2-page RWX mapping (base B): fa at B+0x100 and fb
 * at B+4090, which crosses the page boundary (so the read that fills it
 * writes two pages). First record 0 is read into fa and called, then record
 * 1 is read over it and fa called again. Then, each round: pwrite() a new
 * record (new imm32 and op) into the file, read it into fa (even rounds) or
 * fb (odd rounds), rotating through read() after lseek(), pread() and
 * readv() with the record split over two iovecs (3 + 13 bytes), call the
 * rewritten function (smc_calls() times) and the other one once; check.
 * argv[1] = rounds (default 500). Exit 0, or 1 if a check fails. */
#include "smc_common.h"   /* first: defines _GNU_SOURCE */
#include <fcntl.h>
#include <sys/uio.h>

#define REC 16
#define FILE_NAME "smc_code.bin"

typedef uint32_t (*fn_t)(uint32_t);

static const uint8_t opcodes[3] = {0x01, 0x29, 0x31};

static void record(uint8_t *p, uint32_t imm, unsigned op)
{
    memset(p, 0xCC, REC);
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

int main(int argc, char **argv)
{
    unsigned long rounds = smc_rounds(argc, argv, 500);
    const size_t page = 4096;
    uint8_t *b = smc_map(2 * page, PROT_READ | PROT_WRITE | PROT_EXEC);
    memset(b, 0xCC, 2 * page);
    uint8_t *pa = b + 0x100, *pb = b + page - 6;
    fn_t fa = (fn_t)(void *)pa, fb = (fn_t)(void *)pb;

    int fd = open(FILE_NAME, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        printf("open %s failed: %s\n", FILE_NAME, strerror(errno));
        return 2;
    }
    uint8_t recs[2 * REC];
    record(recs, 0x1000, 0);          /* 0x1000 + x */
    record(recs + REC, 0x2000, 1);    /* 0x2000 - x */
    SMC_CHECK(write(fd, recs, sizeof recs) == (ssize_t)sizeof recs, "write records");

    /* the basic case: read record 0, call, read record 1 over it, call */
    SMC_CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek");
    SMC_CHECK(read(fd, pa, REC) == REC, "read record 0");
    smc_flush(pa, REC);
    uint32_t got0 = fa(5);
    SMC_CHECK(read(fd, pa, REC) == REC, "read record 1");
    smc_flush(pa, REC);
    uint32_t got1 = fa(5);
    printf("smc_read_into_code: record 0 -> fa(5) = %#x, record 1 read over it -> fa(5) = %#x\n", got0, got1);
    SMC_CHECK(got0 == 0x1005 && got1 == 0x1FFB, "basic read into code: %#x %#x", got0, got1);

    uint32_t imm_a = 0x2000, imm_b = 0;
    unsigned op_a = 1, op_b = 0;
    record(pb, 0, 0);   /* fb: mov eax, 0; add eax, edi; ret */
    smc_flush(pb, REC);
    uint64_t sum = 0;
    unsigned long how[3] = {0};
    for (unsigned long r = 0; r < rounds; r++) {
        uint32_t imm = smc_val(r, 0);
        unsigned op = (unsigned)(r / 2) % 3;
        uint8_t rec[REC];
        record(rec, imm, op);
        off_t off = (off_t)(r % 2) * REC;
        SMC_CHECK(pwrite(fd, rec, REC, off) == REC, "pwrite round %lu", r);
        uint8_t *dst = r % 2 ? pb : pa;
        unsigned method = (unsigned)(r % 3);
        how[method]++;
        ssize_t n;
        if (method == 0) {
            SMC_CHECK(lseek(fd, off, SEEK_SET) == off, "lseek round %lu", r);
            n = read(fd, dst, REC);
        } else if (method == 1) {
            n = pread(fd, dst, REC, off);
        } else {
            SMC_CHECK(lseek(fd, off, SEEK_SET) == off, "lseek round %lu", r);
            struct iovec iov[2] = {{dst, 3}, {dst + 3, REC - 3}};
            n = readv(fd, iov, 2);
        }
        SMC_CHECK(n == REC, "round %lu method %u read %zd bytes", r, method, n);
        smc_flush(dst, REC);
        if (r % 2) {
            imm_b = imm;
            op_b = op;
        } else {
            imm_a = imm;
            op_a = op;
        }
        fn_t f = r % 2 ? fb : fa;
        uint32_t fimm = r % 2 ? imm_b : imm_a;
        unsigned fop = r % 2 ? op_b : op_a;
        unsigned calls = smc_calls(r);
        for (unsigned c = 0; c < calls; c++) {
            uint32_t x = smc_val(r, c + 1);
            uint32_t got = f(x), want = model(fimm, fop, x);
            SMC_CHECK(got == want, "round %lu method %u %s call %u: got %08x want %08x", r, method, r % 2 ? "fb" : "fa",
                      c, got, want);
            sum = smc_mix(sum, got);
        }
        uint32_t x = smc_val(r, 999);
        uint32_t got = r % 2 ? fa(x) : fb(x), want = r % 2 ? model(imm_a, op_a, x) : model(imm_b, op_b, x);
        SMC_CHECK(got == want, "round %lu: the other function: got %08x want %08x", r, got, want);
        sum = smc_mix(sum, got);
    }
    close(fd);
    SMC_CHECK(unlink(FILE_NAME) == 0, "unlink");
    printf("smc_read_into_code: %lu rounds (%lu read, %lu pread, %lu readv), checksum %016llx\n", rounds, how[0],
           how[1], how[2], (unsigned long long)sum);
    munmap(b, 2 * page);
    return smc_finish("smc_read_into_code");
}
