/*
 * checkpoint_dir.c: the checkpoints folder of a run (RUN_DIR/checkpoints/step-*.h5).
 *
 * Names are canonical: "step-" + the step zero-padded to at least 8 digits + ".h5";
 * anything else in the folder (PATH.tmp files of an interrupted write, user files) is
 * ignored, so each step maps to exactly one file and listing order is by step.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prefopt/checkpoint.h"
#include "prefopt/error.h"

int pf_checkpoint_step_path(const char *run_dir, int64_t step, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/checkpoints/step-%08lld.h5", run_dir, (long long)step);
    if (n < 0 || (size_t)n >= size)
        return pf_fail(PF_ERR_USAGE, "%s: path too long", run_dir);
    return PF_OK;
}

/* Parses a canonical checkpoint file name into its step; returns 0 for other names. */
static int parse_step_name(const char *name, int64_t *step)
{
    char canonical[64];
    size_t len = strlen(name);
    if (len < 5 + 8 + 3 || strncmp(name, "step-", 5) != 0 || strcmp(name + len - 3, ".h5") != 0 ||
        len >= sizeof canonical)
        return 0;
    long long value = 0;
    for (const char *p = name + 5; p < name + len - 3; p++) {
        if (*p < '0' || *p > '9' || value > (LLONG_MAX - 9) / 10)
            return 0;
        value = value * 10 + (*p - '0');
    }
    snprintf(canonical, sizeof canonical, "step-%08lld.h5", value);
    if (strcmp(canonical, name) != 0)
        return 0;
    *step = value;
    return 1;
}

/* qsort comparator: larger steps first. */
static int newest_first(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* Appends step to the growing array (*steps, *n entries, *cap capacity). */
static int push_step(int64_t **steps, int *n, int *cap, int64_t step)
{
    if (*n == *cap) {
        int new_cap = *cap ? 2 * *cap : 16;
        int64_t *grown = realloc(*steps, (size_t)new_cap * sizeof *grown);
        if (!grown)
            return pf_fail(PF_ERR_RUNTIME, "out of memory listing checkpoints");
        *steps = grown;
        *cap = new_cap;
    }
    (*steps)[(*n)++] = step;
    return PF_OK;
}

int pf_checkpoint_list(const char *run_dir, int64_t **steps, int *n)
{
    char dir_path[4096];
    int cap = 0, rc = PF_OK;
    *steps = NULL;
    *n = 0;
    snprintf(dir_path, sizeof dir_path, "%s/checkpoints", run_dir);
    DIR *dir = opendir(dir_path);
    if (!dir)
        return errno == ENOENT
                   ? PF_OK
                   : pf_fail(PF_ERR_RUNTIME, "%s: cannot list: %s", dir_path, strerror(errno));
    for (struct dirent *e = readdir(dir); e && rc == PF_OK; e = readdir(dir)) {
        int64_t step;
        if (parse_step_name(e->d_name, &step))
            rc = push_step(steps, n, &cap, step);
    }
    closedir(dir);
    if (rc != PF_OK) {
        free(*steps);
        *steps = NULL;
        *n = 0;
        return rc;
    }
    if (*n > 1)
        qsort(*steps, (size_t)*n, sizeof **steps, newest_first);
    return PF_OK;
}

int pf_checkpoint_prune(const char *run_dir, int keep)
{
    char path[4096];
    int64_t *steps;
    int n;
    int rc = pf_checkpoint_list(run_dir, &steps, &n);
    for (int i = keep < 1 ? 1 : keep; rc == PF_OK && i < n; i++) {
        rc = pf_checkpoint_step_path(run_dir, steps[i], path, sizeof path);
        if (rc == PF_OK && unlink(path) != 0 && errno != ENOENT)
            rc = pf_fail(PF_ERR_RUNTIME, "%s: cannot remove: %s", path, strerror(errno));
    }
    free(steps);
    return rc;
}
