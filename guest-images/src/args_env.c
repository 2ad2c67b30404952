/* args_env: prints argc, argv[] and selected environment variables.
 * Only HV_TEST_VAR and HV_OTHER are printed so output is deterministic.
 * Also echoes stdin (line count + checksum) when the first arg is "--stdin". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void show(const char *name)
{
    const char *v = getenv(name);
    printf("env %s=%s\n", name, v ? v : "(unset)");
}

int main(int argc, char **argv)
{
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=\"%s\" (len %zu)\n", i, argv[i], strlen(argv[i]));
    if (argv[argc] != NULL) {
        puts("argv not NULL-terminated!");
        return 1;
    }
    show("HV_TEST_VAR");
    show("HV_OTHER");

    if (argc > 1 && strcmp(argv[1], "--stdin") == 0) {
        char line[4096];
        unsigned long lines = 0, bytes = 0, sum = 0;
        while (fgets(line, sizeof line, stdin)) {
            size_t n = strlen(line);
            lines++;
            bytes += n;
            for (size_t i = 0; i < n; i++)
                sum = sum * 31 + (unsigned char)line[i];
            line[strcspn(line, "\n")] = 0;
            printf("stdin line %lu: %s\n", lines, line);
        }
        printf("stdin: %lu lines, %lu bytes, hash %016lx\n", lines, bytes, sum);
    }
    return 0;
}
