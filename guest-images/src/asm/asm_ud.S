/* asm_ud: executes ud2 -> killed by SIGILL (signal 4; a shell reports exit
 * status 132).  Prints one line first.  Exits 1 if ud2 does not trap. */
#include "common.inc"
    .globl _start
_start:
    PRINT "asm_ud: executing ud2\n"
    ud2
    PRINT "asm_ud: ERROR: ud2 did not trap\n"
    mov $1, %edi
    mov $SYS_exit_group, %eax
    syscall
