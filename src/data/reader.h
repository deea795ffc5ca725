/*
 * reader.h: line-at-a-time reading of a JSONL file or an in-memory buffer, internal
 * to src/data.
 *
 * A file is read in large blocks into one buffer that is reused; lines are returned as
 * spans of that buffer (no copy) and stay valid until the next call. The buffer grows
 * only when a single line does not fit, so memory is bounded by the longest line (at
 * least PD_READ_BLOCK). The final line needs no terminating newline.
 */
#ifndef PREFOPT_DATA_READER_H
#define PREFOPT_DATA_READER_H

#include <stddef.h>
#include <stdint.h>

enum { PD_READ_BLOCK = 1 << 20 };

typedef struct {
    int fd;          /* -1 for a memory buffer */
    int close_fd;    /* 1 when the reader opened fd */
    const char *mem; /* memory source */
    size_t mem_len;
    char *buf; /* file buffer: unread data in [start, end) */
    size_t cap, start, end;
    int eof;
    uint64_t bytes; /* bytes consumed so far */
} pd_reader;

/* Opens path ("-" = standard input). Returns PF_OK, or PF_ERR_USAGE (cannot open, a
 * directory) with the error message naming the file. */
int pd_reader_open_file(pd_reader *rd, const char *path);

/* Reads from data[0..len) (borrowed). */
void pd_reader_open_mem(pd_reader *rd, const char *data, size_t len);

/* The next line without its '\n': returns 1 (line in *line, *len), 0 at the end, or -1
 * on a read error or out of memory (the error message is set, naming path). */
int pd_reader_next(pd_reader *rd, const char *path, const char **line, size_t *len);

/* Closes the file (if opened) and frees the buffer. */
void pd_reader_close(pd_reader *rd);

#endif
