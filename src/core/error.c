/*
 * error.c: the current error message and checked allocation.
 *
 * The message lives in one process-wide buffer: prefopt-mpi is one thread of
 * control per rank (BLAS threads never record errors), so no locking is needed.
 */
#include "prefopt/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char error_message[2048];

int pf_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return code;
}

int pf_fail_prefix(int code, const char *fmt, ...)
{
    char prefix[1024];
    char old[sizeof error_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof old);
    size_t used = strlen(prefix);
    if (used > sizeof error_message - 3)
        used = sizeof error_message - 3;
    memcpy(error_message, prefix, used);
    memcpy(error_message + used, ": ", 2);
    size_t room = sizeof error_message - used - 3;
    size_t rest = strnlen(old, room);
    memcpy(error_message + used + 2, old, rest);
    error_message[used + 2 + rest] = '\0';
    return code;
}

const char *pf_error_message(void) { return error_message; }

void pf_error_clear(void) { error_message[0] = '\0'; }

int pf_error_report(int code)
{
    static int printed;
    if (code == PF_OK)
        return 0;
    if (!printed) {
        const char *msg = error_message;
        if (code == PF_ERR_DATA && msg[0])
            fprintf(stderr, "%s\n", msg);
        else
            fprintf(stderr, "prefopt-mpi: error: %s\n", msg[0] ? msg : "failed");
        fflush(stderr);
        printed = 1;
    }
    return code >= PF_ERR_RUNTIME && code <= PF_ERR_DATA ? code : PF_ERR_RUNTIME;
}

void *pf_calloc(size_t n, const char *what)
{
    size_t rounded = (n + 63) / 64 * 64;
    void *p = NULL;
    if (rounded == 0)
        rounded = 64;
    if (posix_memalign(&p, 64, rounded) != 0) {
        pf_fail(PF_ERR_RUNTIME, "%s: out of memory allocating %zu bytes", what, n);
        return NULL;
    }
    memset(p, 0, rounded);
    return p;
}

void pf_free(void *p) { free(p); }
