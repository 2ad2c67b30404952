/* asm_stack: push/pop (reg, imm8/imm32 sign-extension, memory, 16-bit
 * pushw/popw, push %rsp / pop %rsp), call/ret (relative, indirect via
 * register and memory), ret imm16, enter/leave (nesting levels 0, 1, 2),
 * pushfq/popfq (incl. reserved bit 1, IF stays set, DF, ID toggling) and a
 * recursive factorial.  Stack addresses are randomised, so only offsets
 * relative to the initial %rsp (kept in %r15) are printed.
 * Exit status = number of failed known-answer checks (0 expected). */
#include "common.inc"

    /* print (%r15 - %rsp) i.e. bytes currently used below the start rsp */
    .macro DEPTH label:req
    push %rax
    lea 8(%rsp), %rax        /* rsp before our own push */
    neg %rax
    add %r15, %rax
    SHOW "\label depth", %rax
    pop %rax
    .endm

    /* print a stack-relative pointer value (reg - r15) */
    .macro RELPTR label:req, reg:req
    push %rax
    mov \reg, %rax
    sub %r15, %rax
    SHOW "\label (rel to start rsp)", %rax
    pop %rax
    .endm

    .globl _start
_start:
    mov %rsp, %r15
    and $-16, %rsp           /* known alignment */
    mov %rsp, %r15
    mov %rsp, %rbp

    PRINT "== push / pop ==\n"
    push $-2                 /* imm8, sign-extended to 64 bits */
    push $0x12345678         /* imm32 */
    push $-0x12345678
    movabs $0x1122334455667788, %rax
    push %rax
    pushq stackmem(%rip)
    DEPTH "after 5 pushes"
    mov (%rsp), %rax
    CHECK %rax, 0xdeadbeefcafef00d, "push mem"
    movabs $0x1122334455667788, %rax
    pop %rbx
    pop %rcx
    pop %rdx
    pop %rsi
    pop %rdi
    SHOW "pop mem value", %rbx
    SHOW "pop rax value", %rcx
    SHOW "pop -0x12345678", %rdx
    SHOW "pop 0x12345678", %rsi
    SHOW "pop -2", %rdi
    CHECK %rdi, 0xfffffffffffffffe, "push imm8 sign-extends"
    CHECK %rdx, 0xffffffffedcba988, "push imm32 sign-extends"
    DEPTH "after pops"
    movabs $0x9999999999999999, %rax
    push %rax
    popq stackmem+8(%rip)
    SHOW "pop to mem", stackmem+8(%rip)
    movabs $0xaaaaaaaaaaaa1234, %rax
    pushw %ax
    DEPTH "after pushw"
    pushw $0x5678
    DEPTH "after 2x pushw"
    movabs $0xbbbbbbbbbbbbbbbb, %rbx
    popw %bx
    SHOW "popw bx", %rbx
    popw %bx
    SHOW "popw bx", %rbx
    DEPTH "after 2x popw"
    CHECK %rbx, 0xbbbbbbbbbbbb1234, "popw merges"
    push %rsp                /* pushes the value before the decrement */
    pop %rax
    mov %rsp, %rbx
    sub %rax, %rbx
    SHOW "push rsp: pushed value - rsp", %rbx
    CHECK %rbx, 0, "push rsp pushes old rsp"
    lea -64(%rsp), %rax
    push %rax
    pop %rsp                 /* pop %rsp: rsp = popped value */
    DEPTH "after pop rsp"
    lea 64(%rsp), %rsp
    DEPTH "restored"
    mov $0x1111, %eax
    push %r8
    push %r15
    movabs $0x0123456789abcdef, %r12
    push %r12
    pop %r13
    pop %r15
    pop %r8
    SHOW "push r12/pop r13", %r13

    PRINT "== call / ret ==\n"
    mov $5, %edi
    call add_ten
    SHOW "call add_ten(5)", %rax
    CHECK %rax, 15, "call rel"
    lea add_ten(%rip), %rcx
    mov $100, %edi
    call *%rcx
    SHOW "call *rcx", %rax
    mov $1000, %edi
    call *fnptr(%rip)
    SHOW "call *mem", %rax
    call get_depth
    SHOW "depth seen inside callee", %rax
    CHECK %rax, 8, "call pushes 8 bytes"
    lea 1f(%rip), %rax
    jmp *%rax
    PRINT "jmp *rax did not jump!\n"
1:  PRINT "jmp *rax ok\n"
    /* ret imm16: callee pops 3 quad arguments */
    push $7
    push $11
    push $13
    call sum3_stdcall
    SHOW "ret $24: sum3(7,11,13)", %rax
    DEPTH "after ret $24"
    CHECK %rax, 31, "ret imm16 result"
    mov %r15, %rcx
    sub %rsp, %rcx
    CHECK %rcx, 0, "ret imm16 cleaned stack"
    mov $10, %edi
    call fact
    SHOW "fact(10) recursive", %rax
    CHECK %rax, 3628800, "fact 10"
    mov $20, %edi
    call fact
    SHOW "fact(20) recursive", %rax

    PRINT "== enter / leave ==\n"
    mov %r15, %rbp
    enter $32, $0
    DEPTH "enter 32,0"
    RELPTR "rbp after enter 32,0", %rbp
    leave
    DEPTH "leave"
    RELPTR "rbp after leave", %rbp
    enter $16, $1
    DEPTH "enter 16,1"
    RELPTR "rbp", %rbp
    RELPTR "[rbp-8] (frame ptr copy)", -8(%rbp)
    enter $8, $2
    DEPTH "nested enter 8,2"
    RELPTR "rbp", %rbp
    RELPTR "[rbp] saved rbp", (%rbp)
    RELPTR "[rbp-8] display[1]", -8(%rbp)
    RELPTR "[rbp-16] display[2]", -16(%rbp)
    leave
    leave
    DEPTH "after 2x leave"
    RELPTR "rbp", %rbp
    push %rbp
    mov %rsp, %rbp
    sub $48, %rsp
    DEPTH "manual frame"
    leave
    DEPTH "leave of manual frame"

    PRINT "== pushfq / popfq ==\n"
    /* 0xed7 = CF, bit1, PF, AF, ZF, SF, IF, DF, OF */
    SETF 0
    pushfq
    pop %rax
    and $0xed7, %rax
    SHOW "flags after popfq 0 (bit1 and IF stay set)", %rax
    CHECK %rax, 0x202, "popfq 0"
    SETF 0xcd5
    pushfq
    pop %rax
    and $0xed7, %rax
    cld
    SHOW "flags after popfq 0xcd5", %rax
    CHECK %rax, 0xed7, "popfq all"
    SETF 0x400
    std
    pushfq
    pop %rax
    cld
    and $0x400, %rax
    SHOW "DF after std", %rax
    /* ID flag (bit 21) must be toggleable on any x86-64 CPU */
    pushfq
    pop %rax
    mov %rax, %rbx
    xor $0x200000, %rax
    push %rax
    popfq
    pushfq
    pop %rax
    xor %rbx, %rax
    and $0x200000, %rax
    shr $21, %rax
    SHOW "ID flag toggled", %rax
    push %rbx
    popfq
    /* pushfq / popfq with a memory operand and 16-bit pushf */
    SETF 0x8d5
    pushfq
    popq stackmem+16(%rip)
    movabs $0x0000000000000000, %rax
    andq $0x8d5, stackmem+16(%rip)
    SHOW "pushfq -> popq mem", stackmem+16(%rip)
    SETF 0x41
    pushfw
    DEPTH "after pushfw"
    popw %ax
    and $0x8d5, %ax
    SHOW "pushfw value", %rax

    DEPTH "final"
    EXIT_WITH_FAILS

/* rax = rdi + 10 */
add_ten:
    lea 10(%rdi), %rax
    ret

/* rax = depth (r15 - rsp) as seen inside a callee */
get_depth:
    mov %r15, %rax
    sub %rsp, %rax
    ret

/* callee-cleans: returns sum of 3 stack arguments, ret $24 */
sum3_stdcall:
    mov 8(%rsp), %rax
    add 16(%rsp), %rax
    add 24(%rsp), %rax
    ret $24

/* recursive factorial using the stack: rax = rdi! */
fact:
    push %rbx
    mov %rdi, %rbx
    cmp $1, %rdi
    jbe 1f
    lea -1(%rdi), %rdi
    call fact
    imul %rbx, %rax
    pop %rbx
    ret
1:  mov $1, %eax
    pop %rbx
    ret

    .data
    .align 16
stackmem: .quad 0xdeadbeefcafef00d, 0, 0
fnptr:    .quad add_ten
