/* exit_codes: exits with status argv[1] (default 42) via exit(), after
 * running atexit handlers (in reverse registration order) that print to a
 * buffered stdout. Tests that buffered output is flushed at exit.
 * argv[2] may be "_exit" to use _exit() (then atexit output and unflushed
 * stdio buffers are lost: only lines written with write(2) appear). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void handler1(void) { printf("atexit handler 1 (registered first, runs last)\n"); }
static void handler2(void) { printf("atexit handler 2\n"); }
static void handler3(void) { printf("atexit handler 3 (registered last, runs first)\n"); }

int main(int argc, char **argv)
{
    int status = 42;
    if (argc > 1)
        status = atoi(argv[1]);

    /* Force full buffering so nothing is written before exit flushes. */
    static char buf[8192];
    setvbuf(stdout, buf, _IOFBF, sizeof buf);

    atexit(handler1);
    atexit(handler2);
    atexit(handler3);

    printf("buffered line before exit, status will be %d\n", status);
    if (argc > 2 && strcmp(argv[2], "_exit") == 0) {
        static const char msg[] = "unbuffered write, calling _exit\n";
        write(1, msg, sizeof msg - 1);
        _exit(status);
    }
    exit(status);
}
