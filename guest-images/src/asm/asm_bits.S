/* asm_bits: bt/bts/btr/btc (register, immediate and memory forms, incl.
 * large positive/negative bit offsets into memory), bsf/bsr, bswap, all 16
 * setcc and cmovcc conditions (incl. 32-bit cmov zero-extension when the
 * condition is false), xchg (incl. xchg eax,eax vs nop), cmpxchg at all
 * widths (success/failure), xadd, cmpxchg8b, cmpxchg16b and lock-prefixed
 * read-modify-write ops.  Prints results and defined flags only.
 * Exit status = number of failed known-answer checks (0 expected). */
#include "common.inc"

    /* bt-family, register base, register offset */
    .macro BTR_ insn:req, a:req, off:req
    movabs $\a, %rax
    mov $\off, %rcx
    SETF 0
    \insn %rcx, %rax
    SHOWRF "\insn \a,\off", %rax, F_C
    movabs $\a, %rax
    mov $\off, %ecx
    SETF 0
    \insn %ecx, %eax
    SHOWRF "\insn(32) \a,\off", %rax, F_C
    movabs $\a, %rax
    mov $\off, %ecx
    SETF 0
    \insn %cx, %ax
    SHOWRF "\insn(16) \a,\off", %rax, F_C
    .endm

    /* bt-family on memory with a (possibly large / negative) register offset */
    .macro BTM insn:req, off:req
    lea bitmem+64(%rip), %rdi
    mov $\off, %rcx
    SETF 0
    \insn\()q %rcx, (%rdi)
    SHOWRF "\insn\()q mem+64,\off", %rcx, F_C
    SETF 0
    \insn\()l %ecx, (%rdi)
    SHOWRF "\insn\()l mem+64,\off", %rcx, F_C
    .endm

    .macro DUMPBITMEM
    SHOW "bitmem[0]", bitmem(%rip)
    SHOW "bitmem[1]", bitmem+8(%rip)
    SHOW "bitmem[2]", bitmem+16(%rip)
    SHOW "bitmem[3]", bitmem+24(%rip)
    SHOW "bitmem[4]", bitmem+32(%rip)
    SHOW "bitmem[5]", bitmem+40(%rip)
    SHOW "bitmem[6]", bitmem+48(%rip)
    SHOW "bitmem[7]", bitmem+56(%rip)
    SHOW "bitmem[8]", bitmem+64(%rip)
    SHOW "bitmem[9]", bitmem+72(%rip)
    SHOW "bitmem[10]", bitmem+80(%rip)
    SHOW "bitmem[11]", bitmem+88(%rip)
    SHOW "bitmem[12]", bitmem+96(%rip)
    SHOW "bitmem[13]", bitmem+104(%rip)
    SHOW "bitmem[14]", bitmem+112(%rip)
    SHOW "bitmem[15]", bitmem+120(%rip)
    .endm

    /* 16 setcc results packed into %rbx, flags from cmp a,b */
    .macro SETCC_ALL a:req, b:req
    movabs $\a, %rax
    movabs $\b, %rdx
    xor %ebx, %ebx
    cmp %rdx, %rax
    .irp cc, o,no,b,ae,e,ne,be,a,s,ns,p,np,l,ge,le,g
    set\cc %cl
    shl $1, %rbx
    or %cl, %bl
    cmp %rdx, %rax         /* re-establish flags (shl/or clobbered them) */
    .endr
    SHOW "setcc o..g after cmp \a,\b", %rbx
    .endm

    /* 16 cmovcc results (32-bit, so zero-extension is visible) xor-folded */
    .macro CMOV_ALL a:req, b:req
    movabs $\a, %rax
    movabs $\b, %rdx
    xor %ebx, %ebx
    .irp cc, o,no,b,ae,e,ne,be,a,s,ns,p,np,l,ge,le,g
    movabs $0xaaaaaaaa00000000, %rsi
    mov $0x12345678, %edi
    cmp %rdx, %rax
    cmov\cc %edi, %esi
    rol $5, %rbx
    xor %rsi, %rbx
    .endr
    SHOW "cmovl32 hash after cmp \a,\b", %rbx
    movabs $\a, %rax
    xor %ebx, %ebx
    .irp cc, o,no,b,ae,e,ne,be,a,s,ns,p,np,l,ge,le,g
    movabs $0xaaaaaaaaaaaaaaaa, %rsi
    cmp %rdx, %rax
    cmov\cc cmovsrc(%rip), %rsi
    rol $5, %rbx
    xor %rsi, %rbx
    .endr
    SHOW "cmovq(mem) hash after cmp \a,\b", %rbx
    .endm

    .macro CMPXCHG_T sfx:req, acc:req, src:req, dst:req, a:req, d:req, s:req
    movabs $\a, %rax
    movabs $\d, %rdx
    movabs $\s, %rbx
    cmpxchg\sfx \src, \dst
    SHOWRF "cmpxchg\sfx rax=\a dst=\d rax", %rax, F_ALL
    SHOW "    dst", %rdx
    .endm

    .globl _start
_start:
    PRINT "== bt/bts/btr/btc register forms ==\n"
    .irp insn, bt, bts, btr, btc
    BTR_ \insn, 0x8000000180018001, 0
    BTR_ \insn, 0x8000000180018001, 15
    BTR_ \insn, 0x8000000180018001, 31
    BTR_ \insn, 0x8000000180018001, 32
    BTR_ \insn, 0x8000000180018001, 63
    BTR_ \insn, 0x8000000180018001, 64
    BTR_ \insn, 0x8000000180018001, 95
    BTR_ \insn, 0x0000000000000000, 7
    .endr

    PRINT "== bt/bts/btr/btc immediate forms ==\n"
    movabs $0x00000000ffff0000, %rax
    SETF 0
    btq $17, %rax
    SHOWRF "btq $17", %rax, F_C
    btsq $63, %rax
    SHOWRF "btsq $63", %rax, F_C
    btrl $16, %eax
    SHOWRF "btrl $16 (zero-extends)", %rax, F_C
    btcw $31, %ax
    SHOWRF "btcw $31 (imm masked to 15)", %rax, F_C
    btsq $127, %rax
    SHOWRF "btsq $127 (masked to 63)", %rax, F_C
    lea bitmem+64(%rip), %rdi
    btsq $100, (%rdi)
    SHOWRF "btsq $100,(mem) (masked to 36)", (%rdi), F_C
    btcl $33, (%rdi)
    SHOWRF "btcl $33,(mem) (masked to 1)", (%rdi), F_C

    PRINT "== bt/bts/btr/btc memory with register offsets (bitmem+64 base) ==\n"
    BTM bts, 0
    BTM bts, 63
    BTM bts, 64
    BTM bts, 200
    BTM bts, 511
    BTM bts, -1
    BTM bts, -64
    BTM bts, -500
    BTM btc, 3
    BTM btc, 300
    BTM btc, -77
    BTM btr, 63
    BTM btr, 200
    BTM btr, -1
    BTM bt, 100
    BTM bt, -500
    lea bitmem+64(%rip), %rdi
    mov $-33, %cx
    btsw %cx, (%rdi)
    SHOWRF "btsw mem+64,-33", %rcx, F_C
    mov $0x7fff, %cx
    btw %cx, -4096(%rdi)
    SHOWRF "btw mem+64-4096,0x7fff", %rcx, F_C
    mov $1000000, %rcx
    btq %rcx, -125000(%rdi)
    SHOWRF "btq far offset back to mem+64 bit0", %rcx, F_C
    lock btsq %rcx, -125000+8(%rdi)
    SHOWRF "lock btsq", %rcx, F_C
    DUMPBITMEM

    PRINT "== bsf / bsr ==\n"
    .irp v, 0x1, 0x8000000000000000, 0x0000010000100000, 0x00000000ffff0000, 0x0123456789abcdef, 0x100
    movabs $\v, %rbx
    movabs $0x5555555555555555, %rax
    bsfq %rbx, %rax
    SHOWRF "bsfq \v", %rax, F_Z
    bsrq %rbx, %rax
    SHOWRF "bsrq \v", %rax, F_Z
    .endr
    /* 32/16-bit forms only with a non-zero source: for a zero source the
     * destination is architecturally undefined (real CPUs keep all 64 bits,
     * some emulators zero-extend the 32-bit form) */
    .irp v, 0x1, 0x8000000080000001, 0x0000010000108000, 0x00000000ffff0100, 0x0123456789abcdef, 0x100
    movabs $\v, %rbx
    movabs $0x5555555555555555, %rax
    bsfl %ebx, %eax
    SHOWRF "bsfl \v", %rax, F_Z
    movabs $0x5555555555555555, %rax
    bsrl %ebx, %eax
    SHOWRF "bsrl \v", %rax, F_Z
    movabs $0x5555555555555555, %rax
    bsfw %bx, %ax
    SHOWRF "bsfw \v", %rax, F_Z
    movabs $0x5555555555555555, %rax
    bsrw %bx, %ax
    SHOWRF "bsrw \v", %rax, F_Z
    .endr
    xor %ebx, %ebx
    bsfq %rbx, %rax
    SHOWF "bsfq 0 (dest undefined, not printed)", F_Z
    bsrq %rbx, %rax
    SHOWF "bsrq 0 (dest undefined, not printed)", F_Z
    lea bsfmem(%rip), %rdi
    bsfq (%rdi), %rax
    SHOWRF "bsfq (mem)", %rax, F_Z
    bsrl 8(%rdi), %eax
    SHOWRF "bsrl 8(mem)", %rax, F_Z

    PRINT "== bswap ==\n"
    movabs $0x0123456789abcdef, %rax
    bswap %rax
    SHOW "bswapq", %rax
    CHECK %rax, 0xefcdab8967452301, "bswapq"
    bswap %eax
    SHOW "bswapl (zero-extends)", %rax
    CHECK %rax, 0x01234567, "bswapl"
    movabs $0x1122334455667788, %r9
    bswap %r9
    SHOW "bswap r9", %r9
    movabs $0x1122334455667788, %r10
    bswap %r10d
    SHOW "bswap r10d", %r10

    PRINT "== setcc ==\n"
    SETCC_ALL 5, 3
    SETCC_ALL 3, 5
    SETCC_ALL 5, 5
    SETCC_ALL 0xffffffffffffffff, 1
    SETCC_ALL 0x8000000000000000, 1
    SETCC_ALL 0x7fffffffffffffff, 0xffffffffffffffff
    SETCC_ALL 0, 0x8000000000000000
    movabs $0x1111111111111111, %rax
    cmp %rax, %rax
    sete %ah
    setne %al
    SHOW "sete ah / setne al", %rax
    lea setmem(%rip), %rdi
    stc
    setc 3(%rdi)
    SHOW "setc mem+3", (%rdi)
    mov $0x8f, %r11d
    test %r11b, %r11b
    sets %r11b
    SHOW "sets r11b", %r11

    PRINT "== cmovcc ==\n"
    CMOV_ALL 5, 3
    CMOV_ALL 3, 5
    CMOV_ALL 5, 5
    CMOV_ALL 0x8000000000000000, 1
    movabs $0xffffffffffffffff, %rsi
    xor %eax, %eax         /* ZF=1 */
    cmovne %eax, %esi      /* false, but still zero-extends */
    SHOW "cmovne32 false zero-extends", %rsi
    CHECK %rsi, 0xffffffff, "cmov32 false zero-extends"
    movabs $0xffffffffffffffff, %rsi
    cmovneq %rax, %rsi
    CHECK %rsi, 0xffffffffffffffff, "cmov64 false keeps"
    movabs $0xffffffffffffffff, %rsi
    cmovnew %ax, %si
    CHECK %rsi, 0xffffffffffffffff, "cmov16 false keeps"

    PRINT "== xchg ==\n"
    movabs $0x1111111111111111, %rax
    movabs $0x2222222222222222, %rbx
    xchg %rax, %rbx
    SHOW "xchgq rax", %rax
    SHOW "xchgq rbx", %rbx
    xchg %eax, %ebx
    SHOW "xchgl rax", %rax
    SHOW "xchgl rbx", %rbx
    movabs $0x3333333333333333, %rax
    movabs $0x4444444444444444, %rbx
    xchg %ax, %bx
    xchg %al, %bh
    SHOW "xchgw/b rax", %rax
    SHOW "xchgw/b rbx", %rbx
    lea xchgmem(%rip), %rdi
    movabs $0x5555555555555555, %rax
    xchg %rax, (%rdi)
    SHOW "xchg mem: rax", %rax
    SHOW "xchg mem: mem", (%rdi)
    movabs $0xffffffffffffffff, %rax
    nop                       /* 0x90: true nop, no zero-extension */
    SHOW "after nop (0x90)", %rax
    .byte 0x87, 0xc0          /* xchg %eax,%eax (87 /r) zero-extends */
    SHOW "after xchg eax,eax (87 c0)", %rax
    CHECK %rax, 0xffffffff, "xchg eax,eax 87 c0 zero-extends"
    movabs $0xffffffffffffffff, %rax
    .byte 0x90
    CHECK %rax, 0xffffffffffffffff, "0x90 is nop"
    movabs $0x6666666666666666, %r8
    movabs $0x7777777777777777, %rax
    xchg %r8, %rax            /* 49 90: xchg rax,r8, NOT a nop */
    CHECK %rax, 0x6666666666666666, "xchg rax,r8"

    PRINT "== cmpxchg ==\n"
    CMPXCHG_T b, %al, %bl, %dl, 0x1111111111111155, 0x2222222222222255, 0x33333333333333aa
    CMPXCHG_T b, %al, %bl, %dl, 0x1111111111111155, 0x2222222222222256, 0x33333333333333aa
    CMPXCHG_T w, %ax, %bx, %dx, 0x1111111111115555, 0x2222222222225555, 0x333333333333aaaa
    CMPXCHG_T w, %ax, %bx, %dx, 0x1111111111115555, 0x2222222222225554, 0x333333333333aaaa
    CMPXCHG_T l, %eax, %ebx, %edx, 0x1111111155555555, 0x2222222255555555, 0x33333333aaaaaaaa
    CMPXCHG_T l, %eax, %ebx, %edx, 0x1111111155555555, 0x2222222255555556, 0x33333333aaaaaaaa
    CMPXCHG_T q, %rax, %rbx, %rdx, 0x5555555555555555, 0x5555555555555555, 0xaaaaaaaaaaaaaaaa
    CMPXCHG_T q, %rax, %rbx, %rdx, 0x5555555555555555, 0x8555555555555555, 0xaaaaaaaaaaaaaaaa
    lea casmem(%rip), %rdi
    mov $100, %eax
    mov $200, %ebx
    lock cmpxchgq %rbx, (%rdi)
    SHOWRF "lock cmpxchgq mem ok rax", %rax, F_ALL
    SHOW "    mem", (%rdi)
    CHECK (%rdi), 200, "lock cmpxchg success stores"
    mov $100, %eax
    mov $300, %ebx
    lock cmpxchgq %rbx, (%rdi)
    SHOWRF "lock cmpxchgq mem fail rax", %rax, F_ALL
    SHOW "    mem", (%rdi)
    CHECK %rax, 200, "lock cmpxchg failure loads"
    movabs $0xffffffffffffffff, %rax
    mov $200, %eax
    mov $7, %ebx
    lock cmpxchgl %ebx, (%rdi)
    SHOWRF "lock cmpxchgl mem ok rax", %rax, F_ALL
    SHOW "    mem", (%rdi)

    PRINT "== xadd ==\n"
    movabs $0x7fffffffffffffff, %rax
    mov $1, %ebx
    xadd %rbx, %rax
    SHOWRF "xaddq rax", %rax, F_ALL
    SHOW "    rbx", %rbx
    movabs $0x12345678ffffffff, %rax
    mov $1, %ebx
    xadd %ebx, %eax
    SHOWRF "xaddl rax", %rax, F_ALL
    SHOW "    rbx", %rbx
    movabs $0x00000000000000f0, %rax
    mov $0x20, %ebx
    xadd %bl, %al
    SHOWRF "xaddb rax", %rax, F_ALL
    SHOW "    rbx", %rbx
    lea xaddmem(%rip), %rdi
    mov $5, %ecx
1:  mov $3, %eax
    lock xadd %rax, (%rdi)
    dec %ecx
    jnz 1b
    SHOWRF "lock xadd x5 last old", %rax, F_ALL
    SHOW "    mem", (%rdi)
    CHECK (%rdi), 115, "lock xadd total"

    PRINT "== cmpxchg8b / cmpxchg16b ==\n"
    lea cas16(%rip), %rdi
    movabs $0x1111111111111111, %rax
    movabs $0x2222222222222222, %rdx
    movabs $0xaaaaaaaaaaaaaaaa, %rbx
    movabs $0xbbbbbbbbbbbbbbbb, %rcx
    SETF 0
    lock cmpxchg16b (%rdi)
    SHOWF "cmpxchg16b success", F_Z
    SHOW "    mem lo", (%rdi)
    SHOW "    mem hi", 8(%rdi)
    movabs $0x1111111111111111, %rax
    movabs $0x2222222222222222, %rdx
    SETF F_Z
    cmpxchg16b (%rdi)
    SHOWF "cmpxchg16b failure", F_Z
    SHOW "    rax", %rax
    SHOW "    rdx", %rdx
    CHECK %rax, 0xaaaaaaaaaaaaaaaa, "cmpxchg16b fail loads rax"
    CHECK %rdx, 0xbbbbbbbbbbbbbbbb, "cmpxchg16b fail loads rdx"
    lea cas8(%rip), %rdi
    movabs $0xffffffff00000001, %rax
    movabs $0xffffffff00000002, %rdx
    mov $0x33333333, %ebx
    mov $0x44444444, %ecx
    lock cmpxchg8b (%rdi)
    SHOWF "cmpxchg8b success", F_Z
    SHOW "    mem", (%rdi)
    SHOW "    rax (unchanged on success)", %rax
    SHOW "    rdx (unchanged on success)", %rdx
    movabs $0xffffffffffffffff, %rax
    movabs $0xffffffffffffffff, %rdx
    cmpxchg8b (%rdi)
    SHOWF "cmpxchg8b failure", F_Z
    SHOW "    rax (zero-extended)", %rax
    SHOW "    rdx (zero-extended)", %rdx

    PRINT "== lock-prefixed read-modify-write ==\n"
    lea lockmem(%rip), %rdi
    lock incq (%rdi)
    SHOWRF "lock incq", (%rdi), F_ALL
    lock decl 8(%rdi)
    SHOWRF "lock decl", 8(%rdi), F_ALL
    mov $0xf0f0, %eax
    lock orw %ax, 16(%rdi)
    SHOWRF "lock orw", 16(%rdi), F_NOAF
    lock andb $0x3c, 24(%rdi)
    SHOWRF "lock andb", 24(%rdi), F_NOAF
    lock xorq $-1, 32(%rdi)
    SHOWRF "lock xorq", 32(%rdi), F_NOAF
    lock negq 40(%rdi)
    SHOWRF "lock negq", 40(%rdi), F_ALL
    lock notl 48(%rdi)
    SHOW "lock notl", 48(%rdi)
    SETF 1
    lock adcq $5, 56(%rdi)
    SHOWRF "lock adcq cf=1", 56(%rdi), F_ALL
    SETF 1
    lock sbbw $5, 56(%rdi)
    SHOWRF "lock sbbw cf=1", 56(%rdi), F_ALL
    mov $17, %eax
    lock btcq %rax, 56(%rdi)
    SHOWRF "lock btcq", 56(%rdi), F_C

    EXIT_WITH_FAILS

    .data
    .align 16
bitmem: .quad 0x0123456789abcdef, 0, 0xffffffffffffffff, 0x8000000000000001
        .quad 0, 0, 0, 0
        .quad 0x00000000000000ff, 0, 0, 0
        .quad 0, 0, 0, 0
        .skip 4096
bsfmem: .quad 0x0000800000000000, 0x0000000000000301
cmovsrc: .quad 0x0badf00dcafebabe
setmem: .quad 0x1111111111111111
xchgmem: .quad 0x9999999999999999
casmem: .quad 100
xaddmem: .quad 100
        .align 16
cas16:  .quad 0x1111111111111111, 0x2222222222222222
cas8:   .quad 0x0000000200000001
        .align 8
lockmem: .quad 41, 0, 0x0f0f, 0xff, 0x0123456789abcdef, 1, 0x80000000, 0xfffffffffffffffe
