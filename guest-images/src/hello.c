/* hello: minimal libc program. Expected exit status 0. */
#include <stdio.h>

int main(void)
{
    puts("Hello from Hv guest!");
    return 0;
}
