/* file_io: file-system syscalls relative to the current directory.
 * open/write/lseek/read/pread/pwrite/readv/writev/fstat/ftruncate/rename/
 * mkdir/opendir/readdir (sorted)/unlink/rmdir/symlink/readlink/dup2/
 * O_APPEND/fcntl and stdio FILE streams, plus errno on failure paths.
 * Leaves exactly one file behind: out.txt (known content, listed below).
 * Never prints inode numbers, times or absolute paths. Exit status 0
 * (1 if a check fails). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            printf("CHECK FAILED line %d: %s (errno %s)\n", __LINE__, #cond, \
                   strerrorname_np(errno) ? strerrorname_np(errno) : "?");  \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

static void cleanup(void)
{
    /* make the program idempotent if leftovers exist */
    unlink("data.bin");
    unlink("renamed.bin");
    unlink("append.log");
    unlink("link-to-out");
    unlink("stdio.txt");
    static const char *names[] = {"zeta", "alpha", "Mixed", "beta.txt", "_under", "0num"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[64];
        snprintf(p, sizeof p, "subdir/%s", names[i]);
        unlink(p);
    }
    rmdir("subdir/nested");
    rmdir("subdir");
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    umask(022);
    cleanup();

    /* ---- basic write / lseek / read ---- */
    int fd = open("data.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    char buf[256];
    for (int i = 0; i < 200; i++)
        buf[i] = (char)('A' + i % 26);
    ssize_t n = write(fd, buf, 200);
    printf("write 200 -> %zd\n", n);
    off_t pos = lseek(fd, 0, SEEK_CUR);
    printf("lseek CUR -> %ld\n", (long)pos);
    pos = lseek(fd, 50, SEEK_SET);
    char rb[64] = {0};
    n = read(fd, rb, 10);
    printf("lseek 50, read 10 -> %zd \"%.10s\", now at %ld\n", n, rb, (long)lseek(fd, 0, SEEK_CUR));
    pos = lseek(fd, -5, SEEK_END);
    n = read(fd, rb, 64);
    printf("lseek END-5 -> %ld, read 64 -> %zd \"%.*s\"\n", (long)pos, n, (int)n, rb);
    n = read(fd, rb, 64);
    printf("read at EOF -> %zd\n", n);

    /* ---- pwrite / pread don't move the offset ---- */
    lseek(fd, 10, SEEK_SET);
    n = pwrite(fd, "PWRITE", 6, 100);
    memset(rb, 0, sizeof rb);
    ssize_t n2 = pread(fd, rb, 12, 97);
    printf("pwrite 6 at 100 -> %zd, pread 12 at 97 -> %zd \"%s\", offset still %ld\n", n, n2, rb, (long)lseek(fd, 0, SEEK_CUR));

    /* ---- sparse extension, hole reads as zeros ---- */
    pos = lseek(fd, 4096, SEEK_SET);
    n = write(fd, "END", 3);
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    memset(rb, 0x55, sizeof rb);
    n2 = pread(fd, rb, 8, 1000);
    int zeros = 1;
    for (int i = 0; i < 8; i++)
        if (rb[i] != 0)
            zeros = 0;
    printf("write past EOF at %ld -> %zd, fstat size %ld, regular=%d mode=%o, hole reads zero=%d (%zd bytes)\n",
           (long)pos, n, (long)st.st_size, S_ISREG(st.st_mode), st.st_mode & 0777, zeros, n2);

    /* ---- ftruncate ---- */
    CHECK(ftruncate(fd, 150) == 0);
    CHECK(fstat(fd, &st) == 0);
    printf("ftruncate 150 -> size %ld\n", (long)st.st_size);

    /* ---- writev / readv ---- */
    lseek(fd, 0, SEEK_SET);
    struct iovec wv[3] = {{"one-", 4}, {"two-", 4}, {"three", 5}};
    n = writev(fd, wv, 3);
    char a[4], b[4], c[20] = {0};
    struct iovec rv[3] = {{a, 4}, {b, 4}, {c, 7}};
    lseek(fd, 0, SEEK_SET);
    n2 = readv(fd, rv, 3);
    printf("writev -> %zd, readv -> %zd: \"%.4s\" \"%.4s\" \"%s\"\n", n, n2, a, b, c);

    /* ---- dup / dup2 / fcntl ---- */
    int r;
    int fd2 = dup(fd);
    lseek(fd, 7, SEEK_SET);
    printf("dup shares offset: %ld\n", (long)lseek(fd2, 0, SEEK_CUR));
    int fd3 = dup2(fd, 42);
    int fl = fcntl(fd, F_GETFL);
    printf("dup2 -> %d, F_GETFL accmode RDWR=%d, F_GETFD cloexec=%d\n", fd3, (fl & O_ACCMODE) == O_RDWR, fcntl(fd3, F_GETFD) & FD_CLOEXEC);
    close(fd2);
    close(fd3);
    close(fd);
    r = close(fd);
    printf("close twice -> %d %s\n", r, ename(errno));

    /* ---- rename / stat ---- */
    CHECK(rename("data.bin", "renamed.bin") == 0);
    errno = 0;
    r = stat("data.bin", &st);
    printf("after rename: stat old -> %d %s, ", r, ename(errno));
    r = stat("renamed.bin", &st);
    printf("stat new -> %d size %ld\n", r, (long)st.st_size);

    /* ---- O_APPEND ---- */
    fd = open("append.log", O_WRONLY | O_CREAT | O_APPEND, 0600);
    write(fd, "first\n", 6);
    lseek(fd, 0, SEEK_SET);
    write(fd, "second\n", 7);
    close(fd);
    fd = open("append.log", O_RDONLY);
    memset(rb, 0, sizeof rb);
    n = read(fd, rb, sizeof rb - 1);
    close(fd);
    printf("O_APPEND file (%zd bytes): %s", n, rb);

    /* ---- directories ---- */
    CHECK(mkdir("subdir", 0755) == 0);
    errno = 0;
    r = mkdir("subdir", 0755);
    printf("mkdir existing -> %d %s\n", r, ename(errno));
    CHECK(mkdir("subdir/nested", 0755) == 0);
    static const char *names[] = {"zeta", "alpha", "Mixed", "beta.txt", "_under", "0num"};
    for (unsigned i = 0; i < 6; i++) {
        char p[64];
        snprintf(p, sizeof p, "subdir/%s", names[i]);
        int f = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
        CHECK(f >= 0);
        dprintf(f, "file %u: %s\n", i, names[i]);
        close(f);
    }
    DIR *d = opendir("subdir");
    CHECK(d != NULL);
    char *list[32];
    int cnt = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && cnt < 32) {
        char type = de->d_type == DT_DIR ? 'd' : de->d_type == DT_REG ? 'f' : de->d_type == DT_UNKNOWN ? '?' : 'o';
        char *e = malloc(strlen(de->d_name) + 4);
        sprintf(e, "%s(%c)", de->d_name, type);
        list[cnt++] = e;
    }
    closedir(d);
    qsort(list, (size_t)cnt, sizeof list[0], cmp_names);
    printf("readdir subdir: %d entries:", cnt);
    for (int i = 0; i < cnt; i++) {
        printf(" %s", list[i]);
        free(list[i]);
    }
    printf("\n");
    struct stat sd;
    CHECK(stat("subdir/nested", &sd) == 0);
    int isdir = S_ISDIR(sd.st_mode);
    long bsize = stat("subdir/beta.txt", &sd) == 0 ? (long)sd.st_size : -1L;
    printf("stat subdir/nested: dir=%d; stat subdir/beta.txt size=%ld\n", isdir, bsize);
    errno = 0;
    r = rmdir("subdir");
    printf("rmdir non-empty -> %d %s\n", r, ename(errno));
    errno = 0;
    r = open("subdir/missing/file", O_RDONLY);
    printf("open missing -> %d %s\n", r, ename(errno));
    errno = 0;
    r = unlink("no-such-file");
    printf("unlink missing -> %d %s\n", r, ename(errno));
    errno = 0;
    r = open("subdir", O_WRONLY);
    printf("open dir for write -> %d %s\n", r, ename(errno));
    errno = 0;
    r = access("renamed.bin", R_OK | W_OK);
    int r2 = access("nope", F_OK);
    printf("access renamed.bin RW -> %d, access missing -> %d %s\n", r, r2, ename(errno));

    /* ---- stdio streams ---- */
    FILE *fp = fopen("stdio.txt", "w+");
    CHECK(fp != NULL);
    for (int i = 1; i <= 5; i++)
        fprintf(fp, "line %d squared %d\n", i, i * i);
    rewind(fp);
    char line[64];
    int lines = 0;
    long total = 0;
    while (fgets(line, sizeof line, fp)) {
        lines++;
        total += (long)strlen(line);
    }
    fseek(fp, 0, SEEK_END);
    printf("stdio: %d lines %ld bytes, ftell %ld\n", lines, total, ftell(fp));
    fclose(fp);

    /* ---- out.txt (left behind for the test to compare) + symlink ---- */
    fp = fopen("out.txt", "w");
    CHECK(fp != NULL);
    fprintf(fp, "Hv file_io output\n");
    for (int i = 0; i < 10; i++)
        fprintf(fp, "%d\t%d\t%s\n", i, i * i * i, (i % 2) ? "odd" : "even");
    fprintf(fp, "end\n");
    fclose(fp);
    CHECK(symlink("out.txt", "link-to-out") == 0);
    char lnk[64];
    n = readlink("link-to-out", lnk, sizeof lnk - 1);
    lnk[n > 0 ? n : 0] = 0;
    CHECK(lstat("link-to-out", &st) == 0);
    int islnk = S_ISLNK(st.st_mode);
    CHECK(stat("link-to-out", &st) == 0);
    printf("symlink: readlink -> \"%s\", lstat islink=%d, stat size %ld\n", lnk, islnk, (long)st.st_size);
    fd = open("link-to-out", O_RDONLY);
    n = read(fd, rb, 17);
    close(fd);
    printf("read through symlink: \"%.*s\"\n", (int)n, rb);

    /* ---- unlink everything but out.txt ---- */
    cleanup();
    d = opendir(".");
    int leftovers = 0, have_out = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, "out.txt") == 0)
            have_out = 1;
        else if (strcmp(de->d_name, "data.bin") == 0 || strcmp(de->d_name, "renamed.bin") == 0 ||
                 strcmp(de->d_name, "subdir") == 0 || strcmp(de->d_name, "append.log") == 0 ||
                 strcmp(de->d_name, "stdio.txt") == 0 || strcmp(de->d_name, "link-to-out") == 0)
            leftovers++;
    }
    closedir(d);
    printf("after cleanup: out.txt present=%d, leftovers=%d\n", have_out, leftovers);

    printf("file_io done, %d failures\n", failures);
    return failures ? 1 : 0;
}
