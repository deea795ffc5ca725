/*
 * replay_main.c: a main() for any libFuzzer harness, so its corpus and crash
 * regressions run as a plain ctest without clang's fuzzer runtime.
 *
 * usage: fuzz_replay_NAME PATH...   (files, or directories whose regular files are read;
 * a missing directory is skipped, so an empty regressions folder is fine). Each input
 * is passed to LLVMFuzzerTestOneInput once; a crash or abort fails the test. Prints
 * "replay: N inputs".
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the harness on the file at path; returns 1 when it was read, 0 otherwise. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t cap = 4096, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *p = realloc(buf, cap *= 2);
            if (!p)
                break;
            buf = p;
        }
    }
    fclose(f);
    if (buf)
        LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return buf != NULL;
}

/* Replays path (a file or a directory of files); returns the inputs run. */
static int replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    DIR *dir = opendir(path);
    int n = 0;
    for (struct dirent *e; dir && (e = readdir(dir));) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (e->d_name[0] != '.' && stat(full, &st) == 0 && S_ISREG(st.st_mode))
            n += replay_file(full);
    }
    if (dir)
        closedir(dir);
    return n;
}

int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++)
        n += replay_path(argv[i]);
    printf("replay: %d inputs\n", n);
    return 0;
}
