/*
 * fsutil.h: durable, atomic file replacement.
 *
 * Every file prefopt-mpi hands to users (checkpoints, reports, logprobs output) is
 * written as PATH.tmp in the same folder and then committed: the tmp file is fsync'ed,
 * renamed onto PATH and the folder fsync'ed. A reader therefore sees either the old
 * PATH or the complete new one, never a torn file, even after a crash.
 */
#ifndef PREFOPT_FSUTIL_H
#define PREFOPT_FSUTIL_H

#include <stdio.h>

/* Writes "<path>.tmp" into buf (size bytes). Returns PF_OK or PF_ERR_USAGE when the
 * path is too long. */
int pf_tmp_path(const char *path, char *buf, size_t size);

/* fsyncs tmp, renames it onto path and fsyncs path's folder. On failure removes tmp,
 * leaves path untouched and returns PF_ERR_RUNTIME naming path. */
int pf_commit_tmp(const char *tmp, const char *path);

/* A text file being written atomically (stdout when path is NULL). */
typedef struct {
    FILE *fp;
    const char *path; /* final path, or NULL for stdout */
    char tmp[4096];
} pf_text_out;

/* Opens path.tmp for writing (or selects stdout when path is NULL). Returns PF_OK or
 * PF_ERR_RUNTIME naming the path. */
int pf_text_out_open(pf_text_out *out, const char *path);

/* Flushes and commits the output (tmp -> path); for stdout just flushes. Returns PF_OK
 * or PF_ERR_RUNTIME; on failure the tmp file is removed and path left untouched. */
int pf_text_out_commit(pf_text_out *out);

/* Drops an uncommitted output: closes and removes the tmp file (no-op for stdout). */
void pf_text_out_abort(pf_text_out *out);

/* Creates path and its missing parents (mode 0755); existing folders are fine.
 * Returns PF_OK or PF_ERR_RUNTIME naming the folder that could not be made. */
int pf_mkdir_p(const char *path);

/* Writes n bytes to path atomically (tmp, fsync, rename, fsync folder). */
int pf_write_file_atomic(const char *path, const void *data, size_t n);

#endif
