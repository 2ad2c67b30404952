/* asm_segfault: store to address 0x10 (unmapped) -> killed by SIGSEGV
 * (signal 11; a shell reports exit status 139).  Prints one line first.
 * If the store somehow succeeds, exits with status 1. */
#include "common.inc"
    .globl _start
_start:
    PRINT "asm_segfault: writing to address 0x10\n"
    movl $0xdead, 0x10
    PRINT "asm_segfault: ERROR: store to 0x10 succeeded\n"
    mov $1, %edi
    mov $SYS_exit_group, %eax
    syscall
