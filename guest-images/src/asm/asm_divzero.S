/* asm_divzero: 64-bit unsigned div by zero -> #DE -> the process is killed
 * by SIGFPE (signal 8; a shell reports exit status 136).  Prints one line
 * first (raw write, so it is not lost).  If the division somehow
 * completes, exits with status 1. */
#include "common.inc"
    .globl _start
_start:
    PRINT "asm_divzero: dividing 1234 by zero\n"
    mov $1234, %eax
    xor %edx, %edx
    xor %ecx, %ecx
    div %rcx
    PRINT "asm_divzero: ERROR: survived division by zero\n"
    mov $1, %edi
    mov $SYS_exit_group, %eax
    syscall
