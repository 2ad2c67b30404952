/* smc_next_insn: stores that rewrite code in the same basic block, executed
 * from an RWX page. The routines below are assembled into .rodata as a
 * template, copied once to an mmap'd RWX page and called there; they rewrite
 * themselves on every call. x86 guarantees that a store to an instruction
 * that has not been executed yet is seen when execution reaches it, even
 * the very next instruction, with no branch or serializing instruction in
 * between.
 *
 *   next_byte   movb %dil, 1f+1(%rip) rewrites a byte of the imm32 of the
 *               very next instruction (mov eax, imm32)
 *   next_dword  movl %edi, 1f+1(%rip): the whole imm32 of the next insn
 *   const_op    movb $0x29, 1f(%rip) turns the next `add` into `sub` (and
 *               another movb $0x01 after it turns it back)
 *   op_select   movb %dl, 1f(%rip) sets the next opcode to add/sub/xor/and/or
 *   nop_inc     movw %dx, 1f(%rip) turns a 2-byte nop (66 90) into inc eax
 *               (FF C0) and back
 *   jmp_nop     movw %dx, 1f(%rip) turns a short jmp (EB 03) over an
 *               `add eax, 5` into a 2-byte nop and back
 *   later       movl %edi, 2f+1(%rip) patches an imm32 three instructions
 *               (7 bytes) further on in the same basic block
 *   self_add    addl $imm32, 1b+6(%rip) adds its own imm32 to itself: the
 *               instruction rewrites its own bytes (must run exactly once)
 *   rep_movsb   rep movsb copies 8 bytes of new code (mov eax, imm32;
 *               add/sub/xor eax, r8d) right behind itself, then runs them
 *   rep_stosb   rep stosb fills the next 4 bytes with nop (90) or cwde (98)
 *   loop_inc    a loop whose body does incl on the imm32 of its own
 *               `add eax, imm32`: the loop block changes every iteration.
 *               k iterations per call: 70..80 on every 10th call (more than
 *               Hv's hot threshold of 64), else 1..5
 *
 * Each routine is called argv[1] times (default 500). For the first half of
 * the calls the written value changes only every 100 calls (so the stores
 * often rewrite bytes with the same value and the block can become hot),
 * for the second half it changes every call. Prints one checksum per
 * routine. Exit 0, or 1 if a check fails. */
#include "smc_common.h"

__asm__(
    ".section .rodata.smc_tpl,\"a\",@progbits\n"
    ".balign 64\n"
    "smc_tpl_begin:\n"

    /* uint32_t next_byte(uint32_t v) -> 0x11223300 | (v & 0xff) */
    ".balign 16, 0xCC\n"
    "t_next_byte:\n"
    "    movb %dil, 1f+1(%rip)\n"          /* 40 88 3D rel32 */
    "1:  movl $0x11223344, %eax\n"         /* B8 44 33 22 11 */
    "    ret\n"

    /* uint32_t next_dword(uint32_t v) -> v */
    ".balign 16, 0xCC\n"
    "t_next_dword:\n"
    "    movl %edi, 1f+1(%rip)\n"          /* 89 3D rel32 */
    "1:  movl $0x55555555, %eax\n"         /* B8 id */
    "    ret\n"

    /* uint32_t const_op(uint32_t a, uint32_t b) -> a - b */
    ".balign 16, 0xCC\n"
    "t_const_op:\n"
    "    movl %edi, %eax\n"
    "    movb $0x29, 1f(%rip)\n"           /* C6 05 rel32 29 */
    "1:  addl %esi, %eax\n"                /* 01 F0 -> 29 F0 (sub eax, esi) */
    "    movb $0x01, 1b(%rip)\n"           /* C6 05 rel32 01: back to add */
    "    ret\n"

    /* uint32_t op_select(uint32_t a, uint32_t b, uint32_t opcode) */
    ".balign 16, 0xCC\n"
    "t_op_select:\n"
    "    movl %edi, %eax\n"
    "    movb %dl, 1f(%rip)\n"             /* 88 15 rel32 */
    "1:  addl %esi, %eax\n"                /* 01 F0: op F0 with op = 01/29/31/21/09 */
    "    ret\n"

    /* uint32_t nop_inc(uint32_t a, uint32_t insn16) -> a or a + 1 */
    ".balign 16, 0xCC\n"
    "t_nop_inc:\n"
    "    movl %edi, %eax\n"
    "    movw %si, 1f(%rip)\n"             /* 66 89 35 rel32 */
    "1:  .byte 0x66, 0x90\n"               /* xchg ax, ax  |  FF C0 inc eax */
    "    ret\n"

    /* uint32_t jmp_nop(uint32_t a, uint32_t insn16) -> a or a + 5 */
    ".balign 16, 0xCC\n"
    "t_jmp_nop:\n"
    "    movl %edi, %eax\n"
    "    movw %si, 1f(%rip)\n"             /* 66 89 35 rel32 */
    "1:  .byte 0xEB, 0x03\n"               /* jmp 2f  |  66 90 nop */
    "    .byte 0x83, 0xC0, 0x05\n"         /* add eax, 5 */
    "2:  ret\n"

    /* uint32_t later(uint32_t v, uint32_t w) -> v + (((v + 3) * 7) ^ w) */
    ".balign 16, 0xCC\n"
    "t_later:\n"
    "    movl %edi, 2f+1(%rip)\n"          /* 89 3D rel32 */
    "    leal 3(%rdi), %ecx\n"             /* 8D 4F 03 */
    "    imull $7, %ecx, %ecx\n"           /* 6B C9 07 */
    "    xorl %esi, %ecx\n"                /* 31 F1 */
    "2:  movl $0x66666666, %eax\n"         /* B8 id */
    "    addl %ecx, %eax\n"                /* 01 C8 */
    "    ret\n"

    /* uint32_t self_add(uint32_t v) -> 2 * v */
    ".balign 16, 0xCC\n"
    "t_self_add:\n"
    "    movl %edi, 1f+6(%rip)\n"          /* 89 3D rel32 */
    "1:  addl $0x12345678, 1b+6(%rip)\n"   /* 81 05 rel32 id: [own imm32] += imm32 */
    "    movl 1b+6(%rip), %eax\n"          /* 8B 05 rel32 */
    "    ret\n"

    /* uint32_t rep_movsb(uint32_t v, const uint8_t code[8]) */
    ".balign 16, 0xCC\n"
    "t_rep_movsb:\n"
    "    movl %edi, %r8d\n"
    "    leaq 1f(%rip), %rdi\n"
    "    movl $8, %ecx\n"
    "    cld\n"
    "    rep movsb\n"                      /* F3 A4 */
    "1:  .byte 0xB8, 0xEF, 0xBE, 0xAD, 0xDE, 0x90, 0x90, 0x90\n"  /* mov eax, 0xdeadbeef; nop x3 */
    "    ret\n"

    /* uint32_t rep_stosb(uint32_t v, uint32_t fill) -> v or (int16_t)v */
    ".balign 16, 0xCC\n"
    "t_rep_stosb:\n"
    "    movl %edi, %r8d\n"
    "    movl %esi, %eax\n"
    "    leaq 1f(%rip), %rdi\n"
    "    movl $4, %ecx\n"
    "    cld\n"
    "    rep stosb\n"                      /* F3 AA */
    "    movl %r8d, %eax\n"
    "1:  .byte 0xCC, 0xCC, 0xCC, 0xCC\n"   /* 4 x fill: 90 nop or 98 cwde */
    "    ret\n"

    /* uint32_t loop_inc(uint32_t v, uint32_t k) -> k * v + k * (k - 1) / 2 */
    ".balign 16, 0xCC\n"
    "t_loop_inc:\n"
    "    movl %edi, 1f+1(%rip)\n"          /* 89 3D rel32 */
    "    xorl %eax, %eax\n"
    "    movl %esi, %ecx\n"
    "1:  .byte 0x05\n"                     /* add eax, imm32 */
    "    .long 0x77777777\n"
    "    incl 1b+1(%rip)\n"                /* FF 05 rel32 */
    "    decl %ecx\n"
    "    jnz 1b\n"
    "    ret\n"

    ".balign 16, 0xCC\n"
    "smc_tpl_end:\n"
    ".previous\n");

extern const uint8_t smc_tpl_begin[], smc_tpl_end[], t_next_byte[], t_next_dword[], t_const_op[],
    t_op_select[], t_nop_inc[], t_jmp_nop[], t_later[], t_self_add[], t_rep_movsb[], t_rep_stosb[],
    t_loop_inc[];

typedef uint32_t (*fn1)(uint32_t);
typedef uint32_t (*fn2)(uint32_t, uint32_t);
typedef uint32_t (*fn3)(uint32_t, uint32_t, uint32_t);
typedef uint32_t (*fnp)(uint32_t, const uint8_t *);

static uint8_t *page;
static unsigned long rounds;

static void *at(const uint8_t *sym)
{
    return page + (sym - smc_tpl_begin);
}

/* value index for call i: changes every 100 calls in the first half, every
 * call in the second half */
static uint64_t vi(unsigned long i)
{
    return i < rounds / 2 ? i / 100 : i;
}

static void report(const char *name, uint64_t sum)
{
    printf("  %-11s %lu calls, checksum %016llx\n", name, rounds, (unsigned long long)sum);
}

int main(int argc, char **argv)
{
    rounds = smc_rounds(argc, argv, 500);
    size_t len = smc_tpl_end - smc_tpl_begin;
    page = smc_map(4096, PROT_READ | PROT_WRITE | PROT_EXEC);
    memset(page, 0xCC, 4096);
    memcpy(page, smc_tpl_begin, len);
    smc_flush(page, len);
    printf("smc_next_insn: %zu template bytes, %lu calls per routine\n", len, rounds);

    uint64_t sum;
    unsigned long i;

    sum = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t v = smc_val(vi(i), 1);
        uint32_t got = ((fn1)at(t_next_byte))(v), want = 0x11223300u | (v & 0xFF);
        SMC_CHECK(got == want, "next_byte call %lu: got %08x want %08x", i, got, want);
        sum = smc_mix(sum, got);
    }
    report("next_byte", sum);

    sum = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t v = smc_val(vi(i), 2);
        uint32_t got = ((fn1)at(t_next_dword))(v);
        SMC_CHECK(got == v, "next_dword call %lu: got %08x want %08x", i, got, v);
        sum = smc_mix(sum, got);
    }
    report("next_dword", sum);

    sum = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t a = smc_val(vi(i), 3), b = smc_val(i, 4);
        uint32_t got = ((fn2)at(t_const_op))(a, b);
        SMC_CHECK(got == a - b, "const_op call %lu: got %08x want %08x (a+b would be %08x)", i, got, a - b, a + b);
        sum = smc_mix(sum, got);
    }
    SMC_CHECK(((uint8_t *)at(t_const_op))[9] == 0x01, "const_op left opcode %02x, want 01", ((uint8_t *)at(t_const_op))[9]);
    report("const_op", sum);

    static const uint8_t opcodes[5] = {0x01, 0x29, 0x31, 0x21, 0x09};   /* add sub xor and or */
    sum = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t a = smc_val(i, 5), b = smc_val(i, 6);
        unsigned k = smc_val(vi(i), 7) % 5;
        uint32_t want = k == 0 ? a + b : k == 1 ? a - b : k == 2 ? (a ^ b) : k == 3 ? (a & b) : (a | b);
        uint32_t got = ((fn3)at(t_op_select))(a, b, opcodes[k]);
        SMC_CHECK(got == want, "op_select call %lu opcode %02x: got %08x want %08x", i, opcodes[k], got, want);
        sum = smc_mix(sum, got);
    }
    report("op_select", sum);

    sum = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t a = smc_val(i, 8);
        int inc = smc_val(vi(i), 9) & 1;
        uint32_t got = ((fn2)at(t_nop_inc))(a, inc ? 0xC0FF : 0x9066), want = a + inc;
        SMC_CHECK(got == want, "nop_inc call %lu (%s): got %08x want %08x", i, inc ? "inc" : "nop", got, want);
        sum = smc_mix(sum, got);
    }
    report("nop_inc", sum);

    sum = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t a = smc_val(i, 10);
        int jmp = smc_val(vi(i), 11) & 1;
        uint32_t got = ((fn2)at(t_jmp_nop))(a, jmp ? 0x03EB : 0x9066), want = jmp ? a : a + 5;
        SMC_CHECK(got == want, "jmp_nop call %lu (%s): got %08x want %08x", i, jmp ? "jmp" : "nop", got, want);
        sum = smc_mix(sum, got);
    }
    report("jmp_nop", sum);

    sum = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t v = smc_val(vi(i), 12), w = smc_val(i, 13);
        uint32_t got = ((fn2)at(t_later))(v, w), want = v + (((v + 3) * 7) ^ w);
        SMC_CHECK(got == want, "later call %lu: got %08x want %08x", i, got, want);
        sum = smc_mix(sum, got);
    }
    report("later", sum);

    sum = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t v = smc_val(vi(i), 14);
        uint32_t got = ((fn1)at(t_self_add))(v), want = 2 * v;
        SMC_CHECK(got == want, "self_add call %lu: got %08x want %08x (4*v would be %08x)", i, got, want, 4 * v);
        sum = smc_mix(sum, got);
    }
    report("self_add", sum);

    /* new code for rep_movsb: B8 id (mov eax, imm32); 44 01 C0 add eax, r8d /
     * 44 29 C0 sub eax, r8d / 44 31 C0 xor eax, r8d */
    sum = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t v = smc_val(i, 15), imm = smc_val(vi(i), 16);
        unsigned k = smc_val(vi(i), 17) % 3;
        uint8_t code[8] = {0xB8, 0, 0, 0, 0, 0x44, k == 0 ? 0x01 : k == 1 ? 0x29 : 0x31, 0xC0};
        smc_put32(code + 1, imm);
        uint32_t want = k == 0 ? imm + v : k == 1 ? imm - v : (imm ^ v);
        uint32_t got = ((fnp)at(t_rep_movsb))(v, code);
        SMC_CHECK(got == want, "rep_movsb call %lu op %u: got %08x want %08x", i, k, got, want);
        sum = smc_mix(sum, got);
    }
    report("rep_movsb", sum);

    sum = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t v = smc_val(i, 18);
        int cwde = smc_val(vi(i), 19) & 1;
        uint32_t want = cwde ? (uint32_t)(int32_t)(int16_t)v : v;
        uint32_t got = ((fn2)at(t_rep_stosb))(v, cwde ? 0x98 : 0x90);
        SMC_CHECK(got == want, "rep_stosb call %lu (%s): got %08x want %08x", i, cwde ? "cwde" : "nop", got, want);
        sum = smc_mix(sum, got);
    }
    report("rep_stosb", sum);

    sum = 0;
    uint64_t iters = 0;
    for (i = 0; i < rounds; i++) {
        uint32_t v = smc_val(vi(i), 20), k = i % 10 == 0 ? 70 + i % 11 : 1 + i % 5;
        uint32_t got = ((fn2)at(t_loop_inc))(v, k), want = k * v + k * (k - 1) / 2;
        SMC_CHECK(got == want, "loop_inc call %lu k=%u: got %08x want %08x", i, k, got, want);
        sum = smc_mix(sum, got);
        iters += k;
    }
    report("loop_inc", sum);
    printf("  loop_inc ran %llu self-modifying iterations\n", (unsigned long long)iters);

    munmap(page, 4096);
    return smc_finish("smc_next_insn");
}
