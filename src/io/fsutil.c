/*
 * fsutil.c: atomic replacement of files (tmp + fsync + rename + folder fsync).
 *
 * Invariant: a function that fails after creating PATH.tmp removes it, so a failed
 * write leaves neither a stray tmp file nor a changed PATH behind. Errors are
 * PF_ERR_RUNTIME (an I/O failure) with a message naming the final path.
 */
#include "prefopt/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prefopt/error.h"

int pf_tmp_path(const char *path, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s.tmp", path);
    if (n < 0 || (size_t)n >= size)
        return pf_fail(PF_ERR_USAGE, "%s: path too long", path);
    return PF_OK;
}

/* fsyncs the file (is_dir 0) or folder (is_dir 1) at path, opened read-only (enough for
 * fsync on POSIX systems); -1 with errno from open or fsync on failure. */
static int fsync_path(const char *path, int is_dir)
{
    int fd = open(path, O_RDONLY | (is_dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    /* Some file systems refuse fsync on folders; a rename into one has happened anyway. */
    if (rc != 0 && is_dir && (errno == EINVAL || errno == ENOTSUP))
        rc = 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* fsyncs the folder holding path, so that a rename into it is durable. */
static int fsync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return fsync_path(dir, 1);
}

int pf_commit_tmp(const char *tmp, const char *path)
{
    if (fsync_path(tmp, 0) != 0) {
        int saved = errno;
        unlink(tmp);
        return pf_fail(PF_ERR_RUNTIME, "%s: cannot sync %s: %s", path, tmp, strerror(saved));
    }
    if (rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        return pf_fail(PF_ERR_RUNTIME, "%s: cannot rename %s onto it: %s", path, tmp,
                       strerror(saved));
    }
    if (fsync_parent(path) != 0)
        return pf_fail(PF_ERR_RUNTIME, "%s: cannot sync its folder: %s", path, strerror(errno));
    return PF_OK;
}

int pf_text_out_open(pf_text_out *out, const char *path)
{
    out->path = path;
    out->tmp[0] = '\0';
    if (!path) {
        out->fp = stdout;
        return PF_OK;
    }
    int rc = pf_tmp_path(path, out->tmp, sizeof out->tmp);
    if (rc != PF_OK)
        return rc;
    out->fp = fopen(out->tmp, "w");
    if (!out->fp)
        return pf_fail(PF_ERR_RUNTIME, "%s: cannot create %s: %s", path, out->tmp, strerror(errno));
    return PF_OK;
}

int pf_text_out_commit(pf_text_out *out)
{
    if (!out->path) {
        if (fflush(stdout) != 0 || ferror(stdout))
            return pf_fail(PF_ERR_RUNTIME, "stdout: write failed: %s", strerror(errno));
        return PF_OK;
    }
    int failed = ferror(out->fp) != 0;
    int saved = errno;
    if (fclose(out->fp) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    out->fp = NULL;
    if (failed) {
        unlink(out->tmp);
        return pf_fail(PF_ERR_RUNTIME, "%s: write failed: %s", out->path, strerror(saved));
    }
    return pf_commit_tmp(out->tmp, out->path);
}

void pf_text_out_abort(pf_text_out *out)
{
    if (!out->path || !out->fp)
        return;
    fclose(out->fp);
    out->fp = NULL;
    unlink(out->tmp);
}

int pf_mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return pf_fail(PF_ERR_USAGE, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        char saved = *p;
        if (saved != '/' && saved != '\0')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return pf_fail(PF_ERR_RUNTIME, "%s: cannot create folder: %s", buf, strerror(errno));
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return pf_fail(PF_ERR_RUNTIME, "%s: not a folder", path);
    return PF_OK;
}

int pf_write_file_atomic(const char *path, const void *data, size_t n)
{
    pf_text_out out;
    int rc = pf_text_out_open(&out, path);
    if (rc)
        return rc;
    if (fwrite(data, 1, n, out.fp) != n) {
        pf_text_out_abort(&out);
        return pf_fail(PF_ERR_RUNTIME, "%s: write failed: %s", path, strerror(errno));
    }
    return pf_text_out_commit(&out);
}
