/*
 * dist.c: MPI lifecycle, error agreement and the exact scalar gather (see dist.h).
 *
 * Every function here is collective over MPI_COMM_WORLD unless it says otherwise;
 * ranks must call them in the same order. MPI failures are turned into PF_ERR_RUNTIME
 * with the MPI error string.
 */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "prefopt/dist.h"
#include "prefopt/error.h"

static int we_initialised;

enum { BUCKET_ELEMS = 1 << 22 }; /* reduce in 16-32 MB pieces */

/* Turns an MPI return code into a pf status naming the call. */
static int mpi_check(int mpi_rc, const char *call)
{
    if (mpi_rc == MPI_SUCCESS)
        return PF_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(mpi_rc, text, &len);
    return pf_fail(PF_ERR_RUNTIME, "%s: %s", call, text);
}

int pf_dist_init(int *argc, char ***argv)
{
    int ready = 0, provided = 0;
    MPI_Initialized(&ready);
    if (ready)
        return PF_OK;
    int rc =
        mpi_check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    if (rc)
        return rc;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    we_initialised = 1;
    return PF_OK;
}

void pf_dist_finalize(void)
{
    int done = 0;
    MPI_Finalized(&done);
    if (we_initialised && !done) {
        MPI_Barrier(MPI_COMM_WORLD); /* rank 0 has printed any error: see error.h */
        MPI_Finalize();
    }
    we_initialised = 0;
}

/* Whether MPI is usable (initialised and not finalised): commands that never start
 * MPI (validate, tokenize) share code with those that do and act as rank 0 of 1. */
static int mpi_active(void)
{
    int init = 0, done = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&done);
    return init && !done;
}

int pf_dist_rank(void)
{
    int r = 0;
    if (mpi_active())
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int pf_dist_size(void)
{
    int s = 1;
    if (mpi_active())
        MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

int pf_dist_agree(int local_status)
{
    const int rank = pf_dist_rank(), size = pf_dist_size();
    int mine = local_status ? rank : size, first = size;
    int rc = mpi_check(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD),
                       "MPI_Allreduce(status)");
    if (rc || first == size)
        return rc;
    char message[2048];
    int status = local_status;
    if (rank == first)
        snprintf(message, sizeof message, "%s", pf_error_message());
    MPI_Bcast(&status, 1, MPI_INT, first, MPI_COMM_WORLD);
    MPI_Bcast(message, (int)sizeof message, MPI_CHAR, first, MPI_COMM_WORLD);
    message[sizeof message - 1] = '\0';
    return pf_fail(status, "%s", message);
}

/* In-place MPI_SUM of n_total elements of type (elem_size bytes each) at data, in
 * pieces of at most BUCKET_ELEMS elements (MPI counts are int); call names the
 * reduction in error messages. */
static int allreduce_sum(void *data, size_t n_total, MPI_Datatype type, size_t elem_size,
                         const char *call)
{
    for (size_t off = 0; off < n_total; off += BUCKET_ELEMS) {
        size_t n = n_total - off < BUCKET_ELEMS ? n_total - off : BUCKET_ELEMS;
        int rc = mpi_check(MPI_Allreduce(MPI_IN_PLACE, (char *)data + off * elem_size, (int)n, type,
                                         MPI_SUM, MPI_COMM_WORLD),
                           call);
        if (rc)
            return rc;
    }
    return PF_OK;
}

int pf_dist_gather_slots(double *table, size_t n_slots)
{
    for (size_t i = 0; i < n_slots; i++)
        table[i] += 0.0; /* -0.0 becomes +0.0, as it would in any multi-rank sum */
    return allreduce_sum(table, n_slots, MPI_DOUBLE, sizeof *table, "MPI_Allreduce(slots)");
}

int pf_dist_allreduce_float(float *data, size_t n_total)
{
    return allreduce_sum(data, n_total, MPI_FLOAT, sizeof *data, "MPI_Allreduce(float)");
}
