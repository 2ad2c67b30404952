/* The compute images' main: an optional repeat count (benchmarks/side-by-side.sh runs them long enough to
 * measure steady state; the tests run them once). The image defines run_once(). */
#include <stdlib.h>

static int run_once(void);

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 1;
    int rc = 0;
    for (int i = 0; i < reps; i++)
        rc |= run_once();
    return rc;
}
