/*
 * reader.c: the block reader behind every JSONL pass (see reader.h).
 *
 * Invariant: buf[start..end) holds bytes read but not yet returned; a returned line is
 * a span of buf (or of the caller's memory) that stays untouched until the next call,
 * because compaction and refills only happen inside pd_reader_next.
 */
#include "data/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prefopt/error.h"

int pd_reader_open_file(pd_reader *rd, const char *path)
{
    struct stat st;
    memset(rd, 0, sizeof *rd);
    rd->fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY);
    if (rd->fd < 0)
        return pf_fail(PF_ERR_USAGE, "%s: cannot open: %s", path, strerror(errno));
    rd->close_fd = rd->fd != 0;
    if (fstat(rd->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        pd_reader_close(rd);
        return pf_fail(PF_ERR_USAGE, "%s: is a directory", path);
    }
    (void)posix_fadvise(rd->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return PF_OK;
}

void pd_reader_open_mem(pd_reader *rd, const char *data, size_t len)
{
    memset(rd, 0, sizeof *rd);
    rd->fd = -1;
    rd->mem = data;
    rd->mem_len = len;
}

/* The next line of a memory source. */
static int next_mem(pd_reader *rd, const char **line, size_t *len)
{
    size_t pos = (size_t)rd->bytes;
    if (pos >= rd->mem_len)
        return 0;
    const char *nl = memchr(rd->mem + pos, '\n', rd->mem_len - pos);
    size_t n = nl ? (size_t)(nl - rd->mem) - pos : rd->mem_len - pos;
    *line = rd->mem + pos;
    *len = n;
    rd->bytes += n + (nl != NULL);
    return 1;
}

/* Makes room after end: moves unread data to the front, doubling the buffer when the
 * unread data fills it. Returns 0 or -1 (out of memory). */
static int make_room(pd_reader *rd)
{
    if (rd->start > 0) {
        memmove(rd->buf, rd->buf + rd->start, rd->end - rd->start);
        rd->end -= rd->start;
        rd->start = 0;
    }
    if (rd->end < rd->cap)
        return 0;
    size_t cap = rd->cap ? rd->cap * 2 : PD_READ_BLOCK;
    char *p = realloc(rd->buf, cap);
    if (!p)
        return -1;
    rd->buf = p;
    rd->cap = cap;
    return 0;
}

/* Reads more bytes after end; returns 0, or -1 with the error recorded. */
static int refill(pd_reader *rd, const char *path)
{
    if (make_room(rd))
        return pf_fail(PF_ERR_RUNTIME, "%s: out of memory for a line of %zu bytes", path,
                       rd->end - rd->start),
               -1;
    ssize_t got;
    do
        got = read(rd->fd, rd->buf + rd->end, rd->cap - rd->end);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return pf_fail(PF_ERR_RUNTIME, "%s: read error: %s", path, strerror(errno)), -1;
    rd->eof = got == 0;
    rd->end += (size_t)got;
    return 0;
}

int pd_reader_next(pd_reader *rd, const char *path, const char **line, size_t *len)
{
    if (rd->fd < 0)
        return next_mem(rd, line, len);
    size_t scanned = rd->start;
    for (;;) {
        const char *nl =
            rd->end > scanned ? memchr(rd->buf + scanned, '\n', rd->end - scanned) : NULL;
        if (nl || (rd->eof && rd->end > rd->start)) {
            size_t stop = nl ? (size_t)(nl - rd->buf) : rd->end;
            *line = rd->buf + rd->start;
            *len = stop - rd->start;
            rd->bytes += *len + (nl != NULL);
            rd->start = nl ? stop + 1 : stop;
            return 1;
        }
        if (rd->eof)
            return 0;
        size_t offset = rd->end - rd->start;
        if (refill(rd, path))
            return -1;
        scanned = rd->start + offset;
    }
}

void pd_reader_close(pd_reader *rd)
{
    if (rd->close_fd)
        close(rd->fd);
    free(rd->buf);
    memset(rd, 0, sizeof *rd);
}
