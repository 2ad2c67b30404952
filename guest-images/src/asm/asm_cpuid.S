/* asm_cpuid: executes cpuid leaves 0, 1 and 7 and rdtsc.  The values differ
 * between the host CPU and the emulator, so they are NOT printed; only
 * properties every x86-64 CPU must have are checked and printed:
 *   - cpuid(0).eax (max basic leaf) >= 1, vendor string is 12 printable bytes
 *   - cpuid(1).edx has FPU TSC CX8 CMOV MMX FXSR SSE SSE2 (x86-64 baseline)
 *   - cpuid preserves rsi/rdi/rbp/r8-r15 (only eax/ebx/ecx/edx written,
 *     upper 32 bits of rax/rbx/rcx/rdx zeroed)
 *   - two consecutive rdtsc reads are non-decreasing, edx:eax upper halves 0
 * Exit status = number of failed checks (0 expected). */
#include "common.inc"
    .globl _start
_start:
    movabs $0x5555555555555555, %rsi
    movabs $0x6666666666666666, %rdi
    movabs $0x7777777777777777, %r8
    movabs $0xffffffffffffffff, %rax
    movabs $0xffffffffffffffff, %rbx
    movabs $0xffffffffffffffff, %rdx
    xor %eax, %eax
    xor %ecx, %ecx
    cpuid
    /* save results */
    mov %eax, %r12d
    mov %ebx, vendor(%rip)
    mov %edx, vendor+4(%rip)
    mov %ecx, vendor+8(%rip)
    shr $32, %rbx
    CHECK %rbx, 0, "cpuid ebx upper half zeroed"
    CHECK %rsi, 0x5555555555555555, "cpuid keeps rsi"
    CHECK %rdi, 0x6666666666666666, "cpuid keeps rdi"
    CHECK %r8,  0x7777777777777777, "cpuid keeps r8"
    xor %eax, %eax
    cmp $1, %r12d
    setae %al
    CHECK %rax, 1, "max basic leaf >= 1"
    PRINT "cpuid(0) executed\n"
    /* vendor: 12 printable ASCII bytes */
    lea vendor(%rip), %rsi
    mov $12, %ecx
    xor %r9d, %r9d            /* count of non-printable bytes */
1:  movzbl (%rsi), %eax
    cmp $0x20, %eax
    jb 2f
    cmp $0x7e, %eax
    jbe 3f
2:  inc %r9
3:  inc %rsi
    dec %ecx
    jnz 1b
    CHECK %r9, 0, "vendor string printable"

    mov $1, %eax
    xor %ecx, %ecx
    cpuid
    mov %edx, %eax
    and $0x07808111, %eax       /* SSE2 SSE FXSR MMX CMOV CX8 TSC FPU */
    CHECK %rax, 0x07808111, "baseline features in cpuid(1).edx"
    PRINT "cpuid(1) executed\n"

    mov $7, %eax
    xor %ecx, %ecx
    cpuid
    PRINT "cpuid(7,0) executed\n"

    movabs $0xffffffffffffffff, %rax
    movabs $0xffffffffffffffff, %rdx
    rdtsc
    mov %rax, %r10
    mov %rdx, %r11
    shr $32, %r10
    shr $32, %r11
    CHECK %r10, 0, "rdtsc rax upper half zero"
    CHECK %r11, 0, "rdtsc rdx upper half zero"
    shl $32, %rdx
    or %rax, %rdx
    mov %rdx, %r12
    rdtsc
    shl $32, %rdx
    or %rax, %rdx
    xor %eax, %eax
    cmp %r12, %rdx
    setae %al
    CHECK %rax, 1, "rdtsc non-decreasing"
    PRINT "rdtsc executed\n"

    EXIT_WITH_FAILS

    .bss
vendor: .skip 16
