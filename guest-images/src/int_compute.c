/* int_compute: CPU-bound integer workload (kind: compute).
 * Sieve of Eratosthenes, FNV-1a / xorshift hashing, __int128 multiply,
 * signed/unsigned division at all widths, bit-manipulation builtins.
 * Prints per-section results and a final checksum. Exit status 0. */
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SIEVE_N 2000000

static uint8_t sieve_buf[SIEVE_N + 1];
static uint64_t checksum = 0xcbf29ce484222325ULL;

static void mix(uint64_t v)
{
    /* FNV-1a over the 8 bytes of v */
    for (int i = 0; i < 8; i++) {
        checksum ^= (v >> (8 * i)) & 0xff;
        checksum *= 0x100000001b3ULL;
    }
}

static void sieve(void)
{
    memset(sieve_buf, 1, sizeof sieve_buf);
    sieve_buf[0] = sieve_buf[1] = 0;
    for (uint32_t i = 2; (uint64_t)i * i <= SIEVE_N; i++)
        if (sieve_buf[i])
            for (uint32_t j = i * i; j <= SIEVE_N; j += i)
                sieve_buf[j] = 0;
    uint32_t count = 0, last = 0;
    uint64_t sum = 0;
    for (uint32_t i = 0; i <= SIEVE_N; i++)
        if (sieve_buf[i]) {
            count++;
            sum += i;
            last = i;
        }
    printf("sieve: %u primes <= %d, sum %lu, largest %u\n", count, SIEVE_N, sum, last);
    mix(count);
    mix(sum);
}

static uint64_t xs_state = 88172645463325252ULL;
static uint64_t xorshift64(void)
{
    uint64_t x = xs_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return xs_state = x;
}

static void hashing(void)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    uint32_t h32 = 2166136261u;
    for (int i = 0; i < 1000000; i++) {
        uint64_t r = xorshift64();
        h ^= r & 0xff;
        h *= 0x100000001b3ULL;
        h32 ^= (uint32_t)(r >> 56);
        h32 *= 16777619u;
    }
    printf("hash: xorshift state %016lx fnv64 %016lx fnv32 %08x\n", xs_state, h, h32);
    mix(h);
    mix(h32);
}

static void int128(void)
{
    unsigned __int128 acc = 1;
    unsigned __int128 usacc = 0; /* accumulate unsigned: signed overflow is UB */
    uint64_t hi_xor = 0;
    for (int i = 0; i < 200000; i++) {
        uint64_t a = xorshift64(), b = xorshift64();
        unsigned __int128 p = (unsigned __int128)a * b;
        hi_xor ^= (uint64_t)(p >> 64);
        acc = acc * 6364136223846793005ULL + p;
        int64_t sa = (int64_t)a, sb = (int64_t)b;
        usacc += (unsigned __int128)((__int128)sa * sb);
    }
    __int128 sacc = (__int128)usacc;
    /* 128-bit division (calls __udivti3 / __divti3) */
    unsigned __int128 q = acc / 1000000007ULL;
    unsigned __int128 r = acc % 1000000007ULL;
    __int128 sq = sacc / -12345678901LL;
    __int128 sr = sacc % -12345678901LL;
    printf("int128: hi_xor %016lx acc %016lx%016lx\n", hi_xor, (uint64_t)(acc >> 64), (uint64_t)acc);
    printf("int128: q %016lx%016lx r %lu\n", (uint64_t)(q >> 64), (uint64_t)q, (uint64_t)r);
    printf("int128: sacc %016lx%016lx sq %016lx%016lx sr %ld\n",
           (uint64_t)((unsigned __int128)sacc >> 64), (uint64_t)sacc,
           (uint64_t)((unsigned __int128)sq >> 64), (uint64_t)sq, (int64_t)sr);
    mix(hi_xor);
    mix((uint64_t)acc);
    mix((uint64_t)(q >> 64));
    mix((uint64_t)r);
    mix((uint64_t)sq);
    mix((uint64_t)sr);
}

/* volatile operands prevent constant folding so real div/idiv instructions run */
static void divisions(void)
{
    uint64_t s = 0;
    for (int i = 0; i < 200000; i++) {
        uint64_t a = xorshift64(), b = xorshift64();
        volatile uint8_t ub = (uint8_t)b | 1;
        volatile int8_t sb8 = (int8_t)b;
        volatile uint16_t uw = (uint16_t)b | 1;
        volatile int16_t sw = (int16_t)(b >> 16);
        volatile uint32_t ud = (uint32_t)(b >> 7) | 1;
        volatile int32_t sd = (int32_t)(b >> 3);
        volatile uint64_t uq = (b >> (i & 63)) | 1;
        volatile int64_t sq = (int64_t)b >> (i & 31);
        if (sb8 == 0) sb8 = 3;
        if (sb8 == -1) sb8 = -7;
        if (sw == 0 || sw == -1) sw = 11;
        if (sd == 0 || sd == -1) sd = 13;
        if (sq == 0 || sq == -1) sq = 17;
        s += (uint8_t)a / ub + (uint8_t)a % ub;
        s += (int8_t)a / sb8 + (int8_t)a % sb8;
        s += (uint16_t)a / uw + (uint16_t)a % uw;
        s += (int16_t)a / sw + (int16_t)a % sw;
        s += (uint32_t)a / ud + (uint32_t)a % ud;
        s += (int32_t)a / sd + (int32_t)a % sd;
        s += a / uq + a % uq;
        s += (int64_t)a / sq + (int64_t)a % sq;
        s = s * 31 + 7;
    }
    /* edge cases */
    volatile int64_t mn = INT64_MIN, m1 = 1, m2 = -2;
    volatile int32_t mn32 = INT32_MIN, n3 = -3;
    printf("div: sum %016lx, INT64_MIN/1=%ld INT64_MIN/-2=%ld INT64_MIN%%-2=%ld INT32_MIN/-3=%d INT32_MIN%%-3=%d\n",
           s, mn / m1, mn / m2, mn % m2, mn32 / n3, mn32 % n3);
    printf("div: -7/2=%d -7%%2=%d 7/-2=%d 7%%-2=%d\n", (int)(n3 * 7 / 3) / 2, (int)(n3 * 7 / 3) % 2,
           (int)(-n3 * 7 / 3) / (int)m2, (int)(-n3 * 7 / 3) % (int)m2);
    mix(s);
}

static void bits(void)
{
    uint64_t pc = 0, lz = 0, tz = 0, bs = 0, misc = 0;
    for (int i = 0; i < 300000; i++) {
        uint64_t v = xorshift64() >> (i % 61);
        uint32_t w = (uint32_t)v | 0x100;
        uint16_t h = (uint16_t)v;
        pc += __builtin_popcountll(v) + __builtin_popcount((uint32_t)(v >> 5));
        if (v) {
            lz += __builtin_clzll(v);
            tz += __builtin_ctzll(v);
        }
        lz += __builtin_clz(w);
        tz += __builtin_ctz(w);
        bs ^= __builtin_bswap64(v) + __builtin_bswap32(w) + __builtin_bswap16(h);
        misc += __builtin_parityll(v) + (uint64_t)__builtin_ffsll((int64_t)v);
        misc ^= (v << 13) | (v >> 51); /* rotate */
        misc += __builtin_clrsbll((int64_t)v);
    }
    printf("bits: popcount %lu clz %lu ctz %lu bswap %016lx misc %016lx\n", pc, lz, tz, bs, misc);
    mix(pc);
    mix(lz);
    mix(tz);
    mix(bs);
    mix(misc);
}

/* Collatz: branchy integer loop */
static void collatz(void)
{
    uint32_t best = 0, best_n = 0;
    uint64_t total = 0;
    for (uint32_t n = 1; n < 300000; n++) {
        uint64_t x = n;
        uint32_t steps = 0;
        while (x != 1) {
            x = (x & 1) ? 3 * x + 1 : x >> 1;
            steps++;
        }
        total += steps;
        if (steps > best) {
            best = steps;
            best_n = n;
        }
    }
    printf("collatz: longest chain below 300000 starts at %u (%u steps), total steps %lu\n", best_n, best, total);
    mix(best_n);
    mix(total);
}

static int run_once(void)
{
    sieve();
    hashing();
    int128();
    divisions();
    bits();
    collatz();
    printf("checksum %016lx\n", checksum);
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
