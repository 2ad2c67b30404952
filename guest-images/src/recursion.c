/* recursion: call-heavy workload (kind: compute). Naive fib, Ackermann,
 * Tak, deep recursion (50000 frames of 80 bytes = ~4 MiB of stack, so the
 * emulator must provide a Linux-like 8 MiB stack), mutual recursion, function pointers, setjmp/longjmp
 * out of deep recursion. Exit status 0. */
#include <stdlib.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>

__attribute__((noinline)) static uint64_t fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static unsigned long ack_calls;
__attribute__((noinline)) static unsigned ack(unsigned m, unsigned n)
{
    ack_calls++;
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

__attribute__((noinline)) static int tak(int x, int y, int z)
{
    return y < x ? tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y)) : z;
}

/* deep recursion with a frame the optimiser cannot remove */
__attribute__((noinline)) static uint64_t deep(unsigned n, volatile uint64_t *sink)
{
    volatile uint64_t local[4] = {n, n * 3u, n ^ 0x55u, 0};
    if (n == 0)
        return local[0] + *sink;
    uint64_t r = deep(n - 1, sink);
    local[3] = r;
    return local[3] + local[1] - local[2];
}

static int is_odd(unsigned n);
__attribute__((noinline)) static int is_even(unsigned n) { return n == 0 ? 1 : is_odd(n - 1); }
__attribute__((noinline)) static int is_odd(unsigned n) { return n == 0 ? 0 : is_even(n - 1); }

typedef uint64_t (*op_fn)(uint64_t, uint64_t);
static uint64_t op_add(uint64_t a, uint64_t b) { return a + b; }
static uint64_t op_mul(uint64_t a, uint64_t b) { return a * b + 1; }
static uint64_t op_xor(uint64_t a, uint64_t b) { return (a ^ b) * 0x9E3779B97F4A7C15ULL; }
static uint64_t op_sub(uint64_t a, uint64_t b) { return a - b * 3; }

static jmp_buf jb;
static unsigned jump_depth;
__attribute__((noinline)) static void dive(unsigned n)
{
    volatile char pad[64];
    pad[0] = (char)n;
    if (n > 1000000)
        return;
    if (n == 0)
        longjmp(jb, 1234);
    dive(n - 1);
    pad[1] = pad[0];
}

static int run_once(void)
{
    printf("fib(32) = %lu\n", fib(32));
    for (unsigned m = 0; m <= 3; m++) {
        ack_calls = 0;
        unsigned n = m == 3 ? 7 : 5;
        unsigned r = ack(m, n);
        printf("ack(%u,%u) = %u (%lu calls)\n", m, n, r, ack_calls);
    }
    printf("tak(18,12,6) = %d\n", tak(18, 12, 6));
    volatile uint64_t sink = 7;
    printf("deep(50000) = %lu\n", deep(50000, &sink));
    printf("is_even(100001) = %d is_odd(77777) = %d\n", is_even(100001), is_odd(77777));

    static const op_fn ops[4] = {op_add, op_mul, op_xor, op_sub};
    volatile unsigned idx_mask = 3;
    uint64_t acc = 1;
    for (unsigned i = 0; i < 1000000; i++)
        acc = ops[(i ^ (i >> 3)) & idx_mask](acc, i);
    printf("indirect calls: acc = %016lx\n", acc);

    int v = setjmp(jb);
    if (v == 0) {
        jump_depth = 5000;
        dive(jump_depth);
        printf("not reached\n");
    } else {
        printf("longjmp from depth %u returned %d\n", jump_depth, v);
    }
    return 0;
}

/* Optional repeat count (benchmarks/side-by-side.sh runs long enough to measure steady state); tests run once. */
int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 1;
    int rc = 0;
    for (int i = 0; i < reps; i++)
        rc |= run_once();
    return rc;
}
