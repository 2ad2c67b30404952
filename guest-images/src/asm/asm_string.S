/* asm_string: string instructions with DF=0 and DF=1: rep movsb/movsw/movsd/
 * movsq, rep stosb/stosq, repe cmpsb, repne scasb, lodsb/lodsq, single
 * (non-rep) forms, rep with rcx=0, and an overlapping forward rep movsb
 * (must propagate byte by byte, not behave like memmove).  Pointers are
 * printed as offsets from the buffer start; buffers as quads.
 * Exit status = number of failed known-answer checks (0 expected). */
#include "common.inc"

#define BUFQ 8          /* quads dumped per buffer (64 bytes) */

    /* fill dst (64 bytes) with 0xee using plain moves */
    .macro RESETDST
    push %rcx
    push %rdi
    lea dst(%rip), %rdi
    mov $8, %ecx
    movabs $0xeeeeeeeeeeeeeeee, %r15
.Lr\@: mov %r15, (%rdi)
    add $8, %rdi
    dec %ecx
    jnz .Lr\@
    pop %rdi
    pop %rcx
    .endm

    .macro DUMP label:req, buf:req
    SHOW "\label[0]", \buf+0(%rip)
    SHOW "\label[1]", \buf+8(%rip)
    SHOW "\label[2]", \buf+16(%rip)
    SHOW "\label[3]", \buf+24(%rip)
    SHOW "\label[4]", \buf+32(%rip)
    SHOW "\label[5]", \buf+40(%rip)
    SHOW "\label[6]", \buf+48(%rip)
    SHOW "\label[7]", \buf+56(%rip)
    .endm

    /* print rcx, rsi-src_base, rdi-dst_base */
    .macro REGS label:req, sbase:req, dbase:req
    push %rax
    SHOW "\label rcx", %rcx
    lea \sbase(%rip), %rax
    neg %rax
    add %rsi, %rax
    SHOW "\label rsi-off", %rax
    lea \dbase(%rip), %rax
    neg %rax
    add %rdi, %rax
    SHOW "\label rdi-off", %rax
    pop %rax
    .endm

    .globl _start
_start:
    cld
    PRINT "== rep movsb DF=0, 37 bytes src+1 -> dst+3 ==\n"
    RESETDST
    lea src+1(%rip), %rsi
    lea dst+3(%rip), %rdi
    mov $37, %ecx
    rep movsb
    REGS "movsb", src, dst
    DUMP "dst", dst
    CHECK %rcx, 0, "rep movsb rcx"

    PRINT "== rep movsq DF=0, 5 quads ==\n"
    RESETDST
    lea src+2(%rip), %rsi
    lea dst+8(%rip), %rdi
    mov $5, %ecx
    rep movsq
    REGS "movsq", src, dst
    DUMP "dst", dst

    PRINT "== rep movsw / movsl DF=0 ==\n"
    RESETDST
    lea src(%rip), %rsi
    lea dst(%rip), %rdi
    mov $3, %ecx
    rep movsw
    mov $3, %ecx
    rep movsl
    REGS "movsw+movsl", src, dst
    DUMP "dst", dst

    PRINT "== rep movsb DF=1, 37 bytes backwards ==\n"
    RESETDST
    lea src+40(%rip), %rsi
    lea dst+50(%rip), %rdi
    mov $37, %ecx
    std
    rep movsb
    SHOWF "after std", F_DF
    cld
    REGS "movsb-df1", src, dst
    DUMP "dst", dst

    PRINT "== rep movsq DF=1, 4 quads ==\n"
    RESETDST
    lea src+56(%rip), %rsi
    lea dst+48(%rip), %rdi
    mov $4, %ecx
    std
    rep movsq
    cld
    REGS "movsq-df1", src, dst
    DUMP "dst", dst

    PRINT "== overlapping rep movsb forward (dst = src+1) ==\n"
    lea ovl(%rip), %rsi
    lea ovl+1(%rip), %rdi
    mov $20, %ecx
    rep movsb
    SHOW "ovl[0]", ovl(%rip)
    SHOW "ovl[1]", ovl+8(%rip)
    SHOW "ovl[2]", ovl+16(%rip)
    SHOW "ovl[3]", ovl+24(%rip)
    CHECK ovl+8(%rip), 0x4141414141414141, "overlapping movsb replicates"
    CHECK ovl+16(%rip), 0x5857564141414141, "overlapping movsb stops"

    PRINT "== overlapping rep movsq backward (DF=1, dst = src+8) ==\n"
    lea ovl2+24(%rip), %rsi
    lea ovl2+32(%rip), %rdi
    mov $4, %ecx
    std
    rep movsq
    cld
    SHOW "ovl2[0]", ovl2(%rip)
    SHOW "ovl2[1]", ovl2+8(%rip)
    SHOW "ovl2[2]", ovl2+16(%rip)
    SHOW "ovl2[3]", ovl2+24(%rip)
    SHOW "ovl2[4]", ovl2+32(%rip)

    PRINT "== rep stosb / stosq / stosw / stosl ==\n"
    RESETDST
    lea dst+5(%rip), %rdi
    movabs $0x11223344556677ab, %rax
    mov $13, %ecx
    rep stosb
    SHOW "stosb rcx", %rcx
    lea dst+24(%rip), %rdi
    mov $2, %ecx
    rep stosq
    stosw
    stosl
    lea dst(%rip), %rsi
    REGS "stos", dst, dst
    DUMP "dst", dst
    RESETDST
    lea dst+60(%rip), %rdi
    mov $0x5a, %eax
    mov $21, %ecx
    std
    rep stosb
    stosl
    cld
    lea dst(%rip), %rsi
    REGS "stosb-df1", dst, dst
    DUMP "dst", dst

    PRINT "== repe cmpsb ==\n"
    lea str1(%rip), %rsi
    lea str2(%rip), %rdi
    mov $32, %ecx
    SETF 0
    repe cmpsb
    SHOWRF "repe cmpsb (differ at 10) flags", %rcx, F_ALL
    REGS "cmpsb", str1, str2
    CHECK %rcx, 21, "repe cmpsb rcx"
    lea str1(%rip), %rsi
    lea str1(%rip), %rdi
    mov $16, %ecx
    repe cmpsb
    SHOWRF "repe cmpsb (equal) flags", %rcx, F_ALL
    lea str1+15(%rip), %rsi
    lea str2+15(%rip), %rdi
    mov $16, %ecx
    std
    repe cmpsb
    cld
    SHOWRF "repe cmpsb DF=1 flags", %rcx, F_ALL
    REGS "cmpsb-df1", str1, str2
    lea str1(%rip), %rsi
    lea str2(%rip), %rdi
    mov $16, %ecx
    repne cmpsb
    SHOWRF "repne cmpsb flags", %rcx, F_ALL
    REGS "repne-cmpsb", str1, str2
    lea str1(%rip), %rsi
    lea str2(%rip), %rdi
    cmpsq
    SHOWRF "cmpsq flags", %rcx, F_ALL
    cmpsw
    SHOWRF "cmpsw flags", %rcx, F_ALL

    PRINT "== repne scasb ==\n"
    lea str1(%rip), %rdi
    xor %eax, %eax
    mov $-1, %rcx
    repne scasb
    SHOWRF "repne scasb (strlen) flags", %rcx, F_ALL
    not %rcx
    dec %rcx
    SHOW "strlen(str1)", %rcx
    CHECK %rcx, 26, "scasb strlen"
    lea str1(%rip), %rdi
    mov $0x7a, %al            /* 'z' not present in first 8 bytes */
    mov $8, %ecx
    repne scasb
    SHOWRF "repne scasb not found flags", %rcx, F_ALL
    lea str1+25(%rip), %rdi
    mov $0x61, %al
    mov $40, %ecx
    std
    repne scasb
    cld
    SHOWRF "repne scasb DF=1 flags", %rcx, F_ALL
    REGS "scasb-df1", str1, str1
    lea str1(%rip), %rdi
    mov $0x61, %al
    mov $5, %ecx
    repe scasb
    SHOWRF "repe scasb flags", %rcx, F_ALL
    movabs $0x6867666564636261, %rax
    lea str1(%rip), %rdi
    scasq
    SHOWRF "scasq flags", %rax, F_ALL

    PRINT "== lodsb / lodsq ==\n"
    lea src(%rip), %rsi
    xor %ebx, %ebx
    mov $64, %ecx
    movabs $0x1111111111111111, %rax
1:  lodsb
    add %rax, %rbx
    dec %ecx
    jnz 1b
    SHOW "lodsb sum", %rbx
    SHOW "lodsb last rax", %rax
    lea src+56(%rip), %rsi
    xor %ebx, %ebx
    mov $8, %ecx
    std
2:  lodsq
    xor %rax, %rbx
    rol $7, %rbx
    dec %ecx
    jnz 2b
    cld
    SHOW "lodsq DF=1 hash", %rbx
    lea src(%rip), %rax
    sub %rax, %rsi
    SHOW "lodsq DF=1 rsi-off", %rsi
    lea src+4(%rip), %rsi
    movabs $0x7777777777777777, %rax
    lodsw
    SHOW "lodsw rax", %rax
    lodsl
    SHOW "lodsl rax (zero-ext)", %rax

    PRINT "== rep with rcx=0 ==\n"
    lea src(%rip), %rsi
    lea dst(%rip), %rdi
    xor %ecx, %ecx
    SETF F_ALL
    rep movsb
    repe cmpsb
    SHOWRF "rcx=0 repe cmpsb keeps flags", %rcx, F_ALL
    REGS "rcx0", src, dst

    EXIT_WITH_FAILS

    .data
    .align 16
src:    .byte  0x00,0x01,0x02,0x03,0x04,0x05,0x06,0x07,0x08,0x09,0x0a,0x0b,0x0c,0x0d,0x0e,0x0f
        .byte  0x10,0x11,0x12,0x13,0x14,0x15,0x16,0x17,0x18,0x19,0x1a,0x1b,0x1c,0x1d,0x1e,0x1f
        .byte  0x80,0x91,0xa2,0xb3,0xc4,0xd5,0xe6,0xf7,0x28,0x39,0x4a,0x5b,0x6c,0x7d,0x8e,0x9f
        .byte  0xf0,0xe1,0xd2,0xc3,0xb4,0xa5,0x96,0x87,0x78,0x69,0x5a,0x4b,0x3c,0x2d,0x1e,0x0f
        .align 16
dst:    .skip 64
        .align 16
ovl:    .ascii "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
        .align 16
ovl2:   .quad 0x1111111111111111, 0x2222222222222222, 0x3333333333333333, 0x4444444444444444, 0x5555555555555555
str1:   .asciz "abcdefghijklmnopqrstuvwxyz"
        .skip 8
str2:   .asciz "abcdefghijKlmnopqrstuvwxyz"
        .skip 8
