/*
 * error.h: one status convention for the whole library.
 *
 * Fallible functions return an int status: PF_OK (0) or one of the codes below,
 * which are also the process exit codes of the CLI. The failing function records
 * a message of the form "<where>: <what>" (file, line, key or tensor first) with
 * pf_fail(); callers either pass the status up unchanged or add context with
 * pf_fail_prefix(). The CLI prints "prefopt-mpi: error: <message>" once.
 */
#ifndef PREFOPT_ERROR_H
#define PREFOPT_ERROR_H

#include <stddef.h>

enum {
    PF_OK = 0,
    PF_ERR_RUNTIME = 1, /* I/O failure, out of memory, numerical failure */
    PF_ERR_USAGE = 2,   /* bad command line, config or checkpoint */
    PF_ERR_DATA = 3,    /* invalid input data */
};

/* Records a printf-style message as the current error and returns code. */
int pf_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "<prefix>: " to the current error message and returns code. */
int pf_fail_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The current error message ("" when none was recorded). */
const char *pf_error_message(void);

/* Forgets the current error message. */
void pf_error_clear(void);

/* Prints the current error for status code (PF_OK: nothing) on stderr, once: data
 * errors as recorded ("FILE:LINE: error: ..." lines), others as "prefopt-mpi: error:
 * <message>"; later calls print nothing. Returns the process exit code for code. An MPI
 * command's rank 0 calls it before MPI_Finalize, so that no other rank's exit can make
 * the launcher kill rank 0 before the message is out. */
int pf_error_report(int code);

/* Allocates n bytes, 64-byte aligned and zeroed; on failure records an error naming
 * what and returns NULL. Free with pf_free(). */
void *pf_calloc(size_t n, const char *what);
void pf_free(void *p);

#endif
