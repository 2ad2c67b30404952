/* malloc_big: heap workout. Many small malloc/free/realloc blocks (brk heap),
 * large blocks of 1, 16 and 64 MiB (mmap threshold), touching every page,
 * calloc zero checks, realloc growth/shrink preserving contents.
 * No addresses are printed, only checksums. Exit status 0. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void)
{
    rng ^= rng << 7;
    rng ^= rng >> 9;
    return rng;
}

static uint64_t hash_block(const unsigned char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

#define NSLOTS 4096

static void small_blocks(void)
{
    static unsigned char *slot[NSLOTS];
    static size_t size[NSLOTS];
    uint64_t h = 0xcbf29ce484222325ULL;
    unsigned long allocs = 0, frees = 0, reallocs = 0, bad = 0;
    for (int round = 0; round < 60000; round++) {
        uint64_t r = next();
        int i = (int)(r % NSLOTS);
        size_t want = (size_t)((r >> 16) % 600) + 1;
        if (slot[i] == NULL) {
            slot[i] = malloc(want);
            if (!slot[i]) { bad++; continue; }
            size[i] = want;
            memset(slot[i], (int)(i & 0xff), want);
            allocs++;
        } else if ((r >> 40) & 1) {
            /* verify contents before freeing */
            for (size_t k = 0; k < size[i]; k++)
                if (slot[i][k] != (unsigned char)(i & 0xff)) { bad++; break; }
            h = hash_block(slot[i], size[i], h);
            free(slot[i]);
            slot[i] = NULL;
            frees++;
        } else {
            unsigned char *p = realloc(slot[i], want);
            if (!p) { bad++; continue; }
            size_t keep = want < size[i] ? want : size[i];
            for (size_t k = 0; k < keep; k++)
                if (p[k] != (unsigned char)(i & 0xff)) { bad++; break; }
            memset(p, (int)(i & 0xff), want);
            slot[i] = p;
            size[i] = want;
            reallocs++;
        }
    }
    unsigned long live = 0;
    size_t live_bytes = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (slot[i]) {
            live++;
            live_bytes += size[i];
            h = hash_block(slot[i], size[i], h);
            free(slot[i]);
        }
    printf("small: %lu mallocs, %lu frees, %lu reallocs, %lu live at end (%zu bytes), %lu errors, hash %016lx\n",
           allocs, frees, reallocs, live, live_bytes, bad, h);
}

static int check_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void big_blocks(void)
{
    static const size_t sizes[] = {1u << 20, 16u << 20, 64u << 20};
    for (int k = 0; k < 3; k++) {
        size_t n = sizes[k];
        unsigned char *p = malloc(n);
        if (!p) {
            printf("big: malloc(%zu MiB) failed\n", n >> 20);
            exit(1);
        }
        /* touch every page, plus a pattern in the first 64 KiB */
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i += 4096)
            p[i] = (unsigned char)(i >> 12);
        for (size_t i = 0; i < 65536; i++)
            p[i] = (unsigned char)(i * 13 + (size_t)k);
        p[n - 1] = 0x7f;
        for (size_t i = 0; i < n; i += 4096)
            sum += p[i];
        sum += p[n - 1];
        uint64_t h = hash_block(p, 65536, 0xcbf29ce484222325ULL);
        printf("big: %2zu MiB block: page-sum %lu head-hash %016lx\n", n >> 20, sum, h);
        free(p);
    }

    /* calloc: must be zeroed, both small (reused heap memory) and large (mmap) */
    unsigned char *dirty = malloc(1000);
    memset(dirty, 0xff, 1000);
    free(dirty);
    unsigned char *c1 = calloc(1000, 1);
    unsigned char *c2 = calloc(1024, 1024 * 8); /* 8 MiB */
    unsigned char *c3 = calloc(3, 333);
    printf("calloc: small zero=%d large(8MiB) zero=%d odd zero=%d\n", check_zero(c1, 1000), check_zero(c2, 8u << 20), check_zero(c3, 999));
    free(c1);
    free(c2);
    free(c3);
    /* calloc overflow must fail */
    volatile size_t huge = SIZE_MAX / 2;
    void *ov = calloc(huge, 4);
    printf("calloc overflow returns %s\n", ov ? "non-NULL (bug)" : "NULL");

    /* realloc growing from small to large (crosses mmap threshold) and back */
    size_t n = 100;
    unsigned char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7);
    int ok = 1;
    while (n < (48u << 20)) {
        size_t nn = n * 3;
        unsigned char *q = realloc(p, nn);
        if (!q) { ok = 0; break; }
        p = q;
        for (size_t i = 0; i < n; i += 97)
            if (p[i] != (unsigned char)(i * 7)) { ok = 0; break; }
        for (size_t i = n; i < nn; i++)
            p[i] = (unsigned char)(i * 7);
        n = nn;
    }
    p = realloc(p, 5000);
    for (size_t i = 0; i < 5000; i++)
        if (p[i] != (unsigned char)(i * 7)) { ok = 0; break; }
    printf("realloc: grew to %zu bytes and shrank to 5000, contents preserved=%d hash %016lx\n",
           n, ok, hash_block(p, 5000, 0xcbf29ce484222325ULL));
    free(p);

    /* aligned allocations */
    void *a1 = NULL;
    int rc = posix_memalign(&a1, 4096, 10000);
    void *a2 = aligned_alloc(64, 640);
    void *a3 = memalign(1u << 16, 100);
    printf("aligned: posix_memalign rc=%d aligned=%d aligned_alloc aligned=%d memalign(64K) aligned=%d\n",
           rc, ((uintptr_t)a1 & 4095) == 0, ((uintptr_t)a2 & 63) == 0, ((uintptr_t)a3 & 0xffff) == 0);
    free(a1);
    free(a2);
    free(a3);

    /* many medium blocks kept live at once, then freed in interleaved order */
    enum { NM = 200 };
    static unsigned char *m[NM];
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < NM; i++) {
        size_t sz = 20000 + (size_t)i * 1500;
        m[i] = malloc(sz);
        memset(m[i], i, sz);
        m[i][sz - 1] = (unsigned char)(255 - i);
    }
    for (int i = 0; i < NM; i += 2) {
        h = hash_block(m[i], 64, h) ^ m[i][20000 + (size_t)i * 1500 - 1];
        free(m[i]);
    }
    for (int i = 1; i < NM; i += 2) {
        h = hash_block(m[i], 64, h) ^ m[i][20000 + (size_t)i * 1500 - 1];
        free(m[i]);
    }
    printf("medium: %d blocks 20K..320K hash %016lx\n", NM, h);
}

int main(void)
{
    small_blocks();
    big_blocks();
    puts("malloc_big done");
    return 0;
}
