/* asm_alu: add/adc/sub/sbb/and/or/xor/cmp/test/neg/not/inc/dec at 8/16/32/64
 * bits (register, high-byte, REX-byte, immediate and memory forms), movzx/
 * movsx/cbw/cwde/cdqe/cwd/cdq/cqo and lea.  Prints the full 64-bit result
 * register (so partial-register merge / zero-extension is visible) and the
 * defined arithmetic flags.  Exit status = number of failed known-answer
 * checks (0 expected). */
#include "common.inc"

    /* one binary op: rax=a rbx=b flags=fin; op src,dst; print rax + flags */
    .macro BIN insn:req, src:req, dst:req, a:req, b:req, fin:req, mask:req
    movabs $\a, %rax
    movabs $\b, %rbx
    SETF \fin
    \insn \src, \dst
    SHOWRF "\insn \a,\b cf=\fin", %rax, \mask
    .endm

    .macro BIN4 op:req, a:req, b:req, fin=0, mask=F_ALL
    BIN \op\()b, %bl, %al, \a, \b, \fin, \mask
    BIN \op\()w, %bx, %ax, \a, \b, \fin, \mask
    BIN \op\()l, %ebx, %eax, \a, \b, \fin, \mask
    BIN \op\()q, %rbx, %rax, \a, \b, \fin, \mask
    .endm

    .macro ALLOPS a:req, b:req
    BIN4 add, \a, \b
    BIN4 adc, \a, \b, 0
    BIN4 adc, \a, \b, 1
    BIN4 sub, \a, \b
    BIN4 sbb, \a, \b, 0
    BIN4 sbb, \a, \b, 1
    BIN4 and, \a, \b, 0, F_NOAF
    BIN4 or,  \a, \b, 0, F_NOAF
    BIN4 xor, \a, \b, 0, F_NOAF
    BIN4 cmp, \a, \b
    BIN4 test, \a, \b, 0, F_NOAF
    .endm

    .macro UN insn:req, reg:req, a:req, fin:req, mask:req
    movabs $\a, %rax
    SETF \fin
    \insn \reg
    SHOWRF "\insn \a fin=\fin", %rax, \mask
    .endm

    .macro UN4 op:req, a:req, fin=0
    UN \op\()b, %al, \a, \fin, F_ALL
    UN \op\()w, %ax, \a, \fin, F_ALL
    UN \op\()l, %eax, \a, \fin, F_ALL
    UN \op\()q, %rax, \a, \fin, F_ALL
    .endm

    .macro UNOPS a:req
    UN4 neg, \a
    UN4 not, \a, 0
    UN4 not, \a, F_ALL          /* not leaves all flags untouched */
    UN4 inc, \a, 0
    UN4 inc, \a, 1              /* inc/dec preserve CF */
    UN4 dec, \a, 0
    UN4 dec, \a, F_ALL
    .endm

    .globl _start
_start:
    PRINT "== register-register binary ops ==\n"
    ALLOPS 0x0123456789abcdef, 0xfedcba9876543210
    ALLOPS 0xffffffffffffffff, 0x0000000000000001
    ALLOPS 0x7fffffff7fff7f7f, 0x0000000100010101
    ALLOPS 0x8000000000000000, 0x8000000000000000
    ALLOPS 0x123456789abcde0f, 0x1111111111111101
    ALLOPS 0x0000000080008080, 0xffffffff7fff7f80
    ALLOPS 0x0000000000000000, 0x0000000000000000

    PRINT "== unary ops ==\n"
    UNOPS 0x0000000000000000
    UNOPS 0x0000000000000001
    UNOPS 0xffffffffffffffff
    UNOPS 0x8000000080008080
    UNOPS 0x7fffffff7fff7f7f
    UNOPS 0x123456789abcdef0

    PRINT "== high-byte and REX byte registers ==\n"
    movabs $0x1111111111118822, %rax
    movabs $0x2222222222229933, %rbx
    SETF 0
    add %bh, %ah
    SHOWRF "add bh,ah", %rax, F_ALL
    SETF 1
    sbb %ah, %bl
    SHOWRF "sbb ah,bl (rbx)", %rbx, F_ALL
    movabs $0x5555555555555580, %rsi
    movabs $0x6666666666666680, %r8
    add %r8b, %sil
    SHOWRF "add r8b,sil", %rsi, F_ALL
    xchg %ah, %al
    SHOW "xchg ah,al", %rax
    movabs $0xaaaaaaaaaaaaaaaa, %rdi
    movb $0x12, %dil
    movb $0x34, %ah
    SHOW "mov dil", %rdi
    SHOW "mov ah", %rax

    PRINT "== immediate forms ==\n"
    movabs $0x1122334455667788, %rax
    SETF 0
    addq $-1, %rax
    SHOWRF "addq $-1", %rax, F_ALL
    addl $0x7f, %eax
    SHOWRF "addl $0x7f (zero-extends)", %rax, F_ALL
    addw $-0x80, %ax
    SHOWRF "addw $-0x80", %rax, F_ALL
    addb $0x80, %al
    SHOWRF "addb $0x80", %rax, F_ALL
    orq $0xffffffff80000000, %rax
    SHOWRF "orq $0xffffffff80000000", %rax, F_NOAF
    andq $-16, %rax
    SHOWRF "andq $-16", %rax, F_NOAF
    xorl $0xffffffff, %eax
    SHOWRF "xorl $0xffffffff", %rax, F_NOAF
    subq $0x7fffffff, %rax
    SHOWRF "subq $0x7fffffff", %rax, F_ALL
    cmpb $0x7f, %al
    SHOWRF "cmpb $0x7f", %rax, F_ALL
    testb $0x80, %ah
    SHOWRF "testb $0x80,ah", %rax, F_NOAF
    SETF 1
    adcw $0x7fff, %ax
    SHOWRF "adcw $0x7fff cf=1", %rax, F_ALL
    SETF 1
    sbbl $1, %eax
    SHOWRF "sbbl $1 cf=1", %rax, F_ALL
    xor %eax, %eax
    SHOWRF "xor eax,eax", %rax, F_NOAF

    PRINT "== memory forms ==\n"
    lea memq(%rip), %rdi
    movabs $0x0f0f0f0f0f0f0f0f, %rbx
    SETF 0
    addq %rbx, (%rdi)
    SHOWRF "addq rbx,(mem)", (%rdi), F_ALL
    SETF 1
    adcb $1, 3(%rdi)
    SHOWRF "adcb $1,3(mem)", (%rdi), F_ALL
    subw %bx, 6(%rdi)
    SHOWRF "subw bx,6(mem)", (%rdi), F_ALL
    negl 4(%rdi)
    SHOWRF "negl 4(mem)", (%rdi), F_ALL
    notq (%rdi)
    SHOWRF "notq (mem)", (%rdi), F_ALL
    incb 7(%rdi)
    SHOWRF "incb 7(mem)", (%rdi), F_ALL
    decw (%rdi)
    SHOWRF "decw (mem)", (%rdi), F_ALL
    movq $5, %rcx
    andq %rcx, 8(%rdi)
    SHOWRF "andq rcx,8(mem)", 8(%rdi), F_NOAF
    orl $0x80000000, 8(%rdi)
    SHOWRF "orl $0x80000000,8(mem)", 8(%rdi), F_NOAF
    xorb 8(%rdi), %cl
    SHOWRF "xorb 8(mem),cl", %rcx, F_NOAF
    cmpq $-1, 8(%rdi)
    SHOWRF "cmpq $-1,8(mem)", 8(%rdi), F_ALL
    movabs $0x1234, %rax
    addq (%rdi), %rax
    SHOWRF "addq (mem),rax", %rax, F_ALL
    lock addq %rax, 8(%rdi)
    SHOWRF "lock addq rax,8(mem)", 8(%rdi), F_ALL
    lock subl $3, 8(%rdi)
    SHOWRF "lock subl $3,8(mem)", 8(%rdi), F_ALL

    PRINT "== extensions / lea ==\n"
    movabs $0xfedcba9880818283, %rax
    movzbl %al, %ebx
    SHOW "movzbl", %rbx
    movsbq %al, %rbx
    SHOW "movsbq", %rbx
    movzwq %ax, %rbx
    SHOW "movzwq", %rbx
    movswl %ax, %ebx
    SHOW "movswl", %rbx
    movslq %eax, %rbx
    SHOW "movslq", %rbx
    movsbw %al, %bx
    SHOW "movsbw (merges)", %rbx
    mov %eax, %ebx
    SHOW "mov eax,ebx (zero-extends)", %rbx
    mov %rax, %rcx
    cbtw
    SHOW "cbw", %rax
    mov %rcx, %rax
    cwtl
    SHOW "cwde", %rax
    mov %rcx, %rax
    cltq
    SHOW "cdqe", %rax
    mov %rcx, %rax
    movabs $0x1111111111111111, %rdx
    cwtd
    SHOW "cwd rdx", %rdx
    cltd
    SHOW "cdq rdx", %rdx
    cqto
    SHOW "cqo rdx", %rdx
    movabs $0x1000, %rbx
    movabs $0x20, %rcx
    SETF F_ALL
    lea 0x7(%rbx,%rcx,8), %rax
    SHOWRF "lea 7(rbx,rcx,8) (flags kept)", %rax, F_ALL
    lea -1(%ebx,%ecx,4), %eax
    SHOW "lea32 -1(ebx,ecx,4)", %rax
    lea 0x10(%rbx), %ax
    SHOW "lea16", %rax

    PRINT "== known-answer checks ==\n"
    movabs $-1, %rax
    addq $1, %rax
    pushfq
    pop %rcx
    and $F_ALL, %rcx
    CHECK %rax, 0, "add64 wrap"
    CHECK %rcx, 0x55, "add64 wrap flags"
    movabs $-1, %rax
    addl $1, %eax
    CHECK %rax, 0, "addl zero-extends"
    movabs $0x1122334455667788, %rax
    addb $0x10, %al
    CHECK %rax, 0x1122334455667798, "addb merges"
    movabs $0x1122334455667788, %rax
    addw $0x10, %ax
    CHECK %rax, 0x1122334455667798, "addw merges"
    mov $0x80, %eax
    negb %al
    pushfq
    pop %rcx
    and $F_ALL, %rcx
    CHECK %rax, 0x80, "negb 0x80"
    CHECK %rcx, 0x881, "negb 0x80 flags"   /* OF SF CF; AF=0 (no nibble borrow), PF=0 */
    SETF 1
    sbb %rax, %rax
    CHECK %rax, -1, "sbb rax,rax cf=1"
    mov $0x7f, %eax
    SETF 1
    incb %al
    pushfq
    pop %rcx
    and $F_ALL, %rcx
    CHECK %rcx, 0x891, "incb 0x7f flags (CF kept)"  /* OF SF AF CF; PF=0 */
    movabs $0x8000000000000000, %rax
    cmp $1, %rax
    pushfq
    pop %rcx
    and $F_ALL, %rcx
    CHECK %rcx, 0x814, "cmp min,1 flags"   /* OF AF PF */

    EXIT_WITH_FAILS

    .data
    .align 16
memq:   .quad 0x8070605040302010, 0x00000000ffffffff
