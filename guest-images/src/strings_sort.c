/* strings_sort: string/memory functions and sorting (kind: compute).
 * strlen/strcmp/strncmp/memcmp/memcpy/memmove (overlapping)/memset at many
 * sizes and alignments, strstr/strchr/strrchr/strspn/strtok, qsort of
 * 100k integers (fixed-seed LCG) and of strings, bsearch, snprintf of many
 * formats, strtol/strtoul/strtod. Prints results and a checksum. Exit 0. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t checksum = 0xcbf29ce484222325ULL;
static void mix_bytes(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        checksum ^= b[i];
        checksum *= 0x100000001b3ULL;
    }
}
static void mix(uint64_t v) { mix_bytes(&v, 8); }

static uint32_t lcg_state = 12345;
static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1103515245u + 12345u;
    return lcg_state >> 1;
}

static int sgn(int x) { return (x > 0) - (x < 0); }

/* ---------------------------------------------------------------- mem* / str* */
static unsigned char bufa[4096 + 64], bufb[4096 + 64];

static void memfuncs(void)
{
    /* memset / memcpy / memcmp at many sizes and alignments */
    uint64_t acc = 0;
    for (size_t align = 0; align < 16; align++) {
        for (size_t n = 0; n <= 300; n += (n < 40 ? 1 : 37)) {
            memset(bufa, 0xAA, sizeof bufa);
            memset(bufa + align, (int)(n & 0xff), n);
            for (size_t i = 0; i < n + 32 && i + align < sizeof bufa; i++)
                acc = acc * 3 + bufa[align + i];
            for (size_t i = 0; i < sizeof bufb; i++)
                bufb[i] = (unsigned char)(i * 7 + align);
            memcpy(bufa + (align ^ 5), bufb + align, n);
            acc += (uint64_t)sgn(memcmp(bufa + (align ^ 5), bufb + align, n)) + 1;
            if (n > 0) {
                bufa[(align ^ 5) + n - 1] ^= 1;
                acc += (uint64_t)sgn(memcmp(bufa + (align ^ 5), bufb + align, n)) + 5;
            }
            mix_bytes(bufa, 400);
        }
    }
    /* large memset/memcpy (exercises non-temporal / rep paths) */
    static unsigned char big1[300000], big2[300000];
    memset(big1, 0x5a, sizeof big1);
    for (size_t i = 0; i < sizeof big1; i += 4093)
        big1[i] = (unsigned char)i;
    memcpy(big2 + 3, big1 + 1, sizeof big1 - 8);
    mix_bytes(big2, sizeof big2);
    printf("mem: memset/memcpy/memcmp acc %016lx big memcmp %d\n", acc, sgn(memcmp(big1 + 1, big2 + 3, sizeof big1 - 8)));

    /* overlapping memmove both directions */
    char mv[64];
    strcpy(mv, "0123456789abcdefghijklmnopqrstuvwxyz");
    memmove(mv + 5, mv, 20);
    printf("memmove fwd-overlap: %s\n", mv);
    strcpy(mv, "0123456789abcdefghijklmnopqrstuvwxyz");
    memmove(mv, mv + 7, 20);
    printf("memmove back-overlap: %s\n", mv);
    for (size_t n = 1; n < 2000; n = n * 3 + 1) {
        for (size_t k = 0; k < sizeof bufa; k++)
            bufa[k] = (unsigned char)(k ^ (k >> 8));
        memmove(bufa + 3, bufa + 1, n);
        memmove(bufa + 100, bufa + 140, n);
        mix_bytes(bufa, 2100);
    }

    /* strings */
    const char *s = "The quick brown fox jumps over the lazy dog";
    printf("strlen=%zu strchr(q)=%td strrchr(o)=%td strstr(fox)=%td strstr(cat)=%s\n",
           strlen(s), strchr(s, 'q') - s, strrchr(s, 'o') - s, strstr(s, "fox") - s,
           strstr(s, "cat") ? "found" : "NULL");
    printf("strspn=%zu strcspn=%zu strpbrk=%s memchr(z)=%td strnlen=%zu\n",
           strspn(s, "Teh "), strcspn(s, "aeiou"), strpbrk(s, "xyz"), (const char *)memchr(s, 'z', 43) - s, strnlen(s, 10));
    printf("strcmp: %d %d %d strncmp: %d %d strcasecmp: %d\n",
           sgn(strcmp("abc", "abd")), sgn(strcmp("abc", "abc")), sgn(strcmp("b", "abc")),
           sgn(strncmp("abcdef", "abcxyz", 3)), sgn(strncmp("abcdef", "abcxyz", 4)), sgn(strcasecmp("HeLLo", "hello")));
    /* strlen of strings at every alignment / length across page-ish boundaries */
    uint64_t lens = 0;
    for (int off = 0; off < 64; off++)
        for (int len = 0; len < 130; len += 3) {
            memset(bufa, 'x', 300);
            bufa[off + len] = 0;
            lens = lens * 7 + strlen((char *)bufa + off);
            lens += (uint64_t)(strchr((char *)bufa + off, 0) - (char *)bufa);
            bufa[off + len] = 'x';
        }
    printf("strlen sweep %016lx\n", lens);
    mix(lens);

    char tok[] = "alpha,beta;;gamma delta,,epsilon";
    printf("strtok:");
    for (char *t = strtok(tok, ",; "); t; t = strtok(NULL, ",; "))
        printf(" [%s]", t);
    printf("\n");

    char cat[64] = "foo";
    strcat(cat, "bar");
    volatile size_t three = 3;
    strncat(cat, "bazqux", three);
    char *dup = strdup(cat);
    for (char *p = dup; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    printf("strcat: %s strdup/toupper: %s\n", cat, dup);
    free(dup);
}

/* ---------------------------------------------------------------- sorting */
static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

#define NINT 100000
#define NSTR 20000
static int ints[NINT];
static char strbuf[NSTR][12];
static char *strs[NSTR];

static void sorting(void)
{
    for (int i = 0; i < NINT; i++)
        ints[i] = (int)lcg() - (1 << 30);
    qsort(ints, NINT, sizeof ints[0], cmp_int);
    int sorted = 1;
    uint64_t h = 0;
    for (int i = 0; i < NINT; i++) {
        if (i && ints[i - 1] > ints[i])
            sorted = 0;
        h = h * 1000003 + (uint32_t)ints[i];
    }
    printf("qsort ints: n=%d sorted=%d min=%d median=%d max=%d hash %016lx\n",
           NINT, sorted, ints[0], ints[NINT / 2], ints[NINT - 1], h);
    mix(h);
    int key = ints[12345];
    int *found = bsearch(&key, ints, NINT, sizeof ints[0], cmp_int);
    printf("bsearch: key %d found at index %td\n", key, found ? found - ints : -1);

    for (int i = 0; i < NSTR; i++) {
        int len = 3 + (int)(lcg() % 8);
        for (int j = 0; j < len; j++)
            strbuf[i][j] = (char)('a' + lcg() % 26);
        strbuf[i][len] = 0;
        strs[i] = strbuf[i];
    }
    qsort(strs, NSTR, sizeof strs[0], cmp_str);
    h = 0;
    sorted = 1;
    for (int i = 0; i < NSTR; i++) {
        if (i && strcmp(strs[i - 1], strs[i]) > 0)
            sorted = 0;
        for (const char *p = strs[i]; *p; p++)
            h = h * 131 + (unsigned char)*p;
    }
    printf("qsort strings: n=%d sorted=%d first=%s last=%s [1000]=%s hash %016lx\n",
           NSTR, sorted, strs[0], strs[NSTR - 1], strs[1000], h);
    mix(h);
}

/* ---------------------------------------------------------------- formatting */
static void formatting(void)
{
    char b[256];
    int n;
    n = snprintf(b, sizeof b, "[%d|%5d|%-5d|%05d|%+d|% d|%x|%X|%#x|%o|%#o|%u]", 42, 42, 42, 42, 42, 42, 255, 255, 255, 8, 8, -1);
    printf("fmt %2d %s\n", n, b);
    n = snprintf(b, sizeof b, "[%ld|%lld|%lu|%llx|%hd|%hhd|%hhu|%zu|%td|%jd]", LONG_MIN, LLONG_MAX, ULONG_MAX,
                 0xdeadbeefcafebabeULL, (short)-32768, (signed char)-128, (unsigned char)200, (size_t)12345, (ptrdiff_t)-77, (intmax_t)-1);
    printf("fmt %2d %s\n", n, b);
    n = snprintf(b, sizeof b, "[%s|%10s|%-10s|%.3s|%c|%%|%5.1s|%*d|%-*d|%.*f]", "str", "right", "left", "truncate", 'C', "xyz", 6, 7, 4, 8, 2, 3.14159);
    printf("fmt %2d %s\n", n, b);
    n = snprintf(b, sizeof b, "[%e|%E|%g|%G|%f|%.10f|%12.4e|%-12.3g|%a|%.2a]", 12345.6789, 0.000123, 1e-10, 1e20, 1.0 / 3, 2.0 / 3, 6.02214076e23, 9.87654321, 1.0, 3.14159);
    printf("fmt %2d %s\n", n, b);
    volatile size_t lim = 10;
    n = snprintf(b, lim, "truncated output here");
    printf("fmt %2d truncated to [%s]\n", n, b);
    n = snprintf(NULL, 0, "%d-%s-%f", 123456, "abc", 1.5);
    printf("fmt snprintf(NULL,0) returns %d\n", n);
    mix_bytes(b, strlen(b));

    uint64_t h = 0;
    for (int i = 0; i < 3000; i++) {
        int len = snprintf(b, sizeof b, "%d:%x:%o:%.3f:%g:%s", i * 7919 - 10000, i * 31, i, i / 7.0, i * 1.5e-3, (i & 1) ? "odd" : "even");
        mix_bytes(b, (size_t)len);
        h += (uint64_t)len;
    }
    printf("fmt loop total length %lu\n", h);
}

/* ---------------------------------------------------------------- parsing */
static void parsing(void)
{
    static const char *ints_in[] = {"12345", "-987", "  +42xyz", "0x1F", "0777", "zzz", "9223372036854775807", "9223372036854775808", "-9223372036854775809", ""};
    for (unsigned i = 0; i < sizeof ints_in / sizeof ints_in[0]; i++) {
        char *end;
        errno = 0;
        long v10 = strtol(ints_in[i], &end, 10);
        int e10 = errno;
        long consumed10 = end - ints_in[i];
        errno = 0;
        long v0 = strtol(ints_in[i], &end, 0);
        printf("strtol(\"%s\"): base10=%ld (used %ld, %s) base0=%ld (used %td, %s)\n", ints_in[i], v10, consumed10,
               e10 == ERANGE ? "ERANGE" : "ok", v0, end - ints_in[i], errno == ERANGE ? "ERANGE" : "ok");
    }
    char *end;
    printf("strtoul(\"-1\")=%lu strtoull(\"ffffffffffffffff\",16)=%llx strtol(\"zz\",36)=%ld strtol(\"101\",2)=%ld atoi(\"  -17abc\")=%d\n",
           strtoul("-1", NULL, 10), strtoull("ffffffffffffffff", NULL, 16), strtol("zz", NULL, 36), strtol("101", NULL, 2), atoi("  -17abc"));
    static const char *dbl_in[] = {"3.14159", "-2.5e-3", "1e308", "1e309", "4.9e-324", "1e-400", "0x1.8p3", "inf", "-nan", "  12.5abc", ".5", "1.7976931348623157e308",
                                   "0.1", "123456789012345678901234567890", "2.2250738585072011e-308"};
    for (unsigned i = 0; i < sizeof dbl_in / sizeof dbl_in[0]; i++) {
        errno = 0;
        double d = strtod(dbl_in[i], &end);
        printf("strtod(\"%s\") = %.17g [%a] used %td %s\n", dbl_in[i], d, d, end - dbl_in[i], errno == ERANGE ? "ERANGE" : "");
        mix_bytes(&d, sizeof d);
    }
    printf("strtof(\"0.1\")=%a strtold(\"0.1\")=%La atof(\"6.5\")=%g\n", strtof("0.1", NULL), strtold("0.1", NULL), atof("6.5"));
    int a, bb;
    char word[16];
    double f;
    int cnt = sscanf("17 0x2a hello 2.75", "%d %i %15s %lf", &a, &bb, word, &f);
    printf("sscanf: %d items: %d %d %s %g\n", cnt, a, bb, word, f);
}

static int run_once(void)
{
    memfuncs();
    sorting();
    formatting();
    parsing();
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
