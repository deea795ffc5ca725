/*
 * signals.c: preemption requests (see dist.h). The handler only stores to a
 * sig_atomic_t; everything else (agreeing across ranks, checkpointing, exiting) happens
 * at the next step boundary in ordinary code.
 */
#include <mpi.h>
#include <signal.h>
#include <string.h>

#include "prefopt/dist.h"

static volatile sig_atomic_t stop_signal;

/* Records that a stop was requested. */
static void on_stop_signal(int sig) { stop_signal = sig; }

void pf_dist_watch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int pf_dist_stop_requested(void)
{
    int mine = stop_signal != 0, any = mine;
    if (pf_dist_size() > 1)
        MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}
