/*
 * dist.h: data-parallel plumbing over MPI: rank/size, agreement on errors, and sums
 * whose result does not depend on the number of ranks or the reduction order.
 *
 * Exact gradient sums (DESIGN.md section 5): each micro-batch gradient is converted
 * to 64-bit fixed point with one power-of-two scale per tensor, summed as int64 on
 * the rank (pf_exact_accum_add) and across ranks (MPI_INT64_T, MPI_SUM), and converted
 * back once. Integer addition is associative, so the result depends only on the set
 * of micro-batch gradients, never on which rank computed which, nor in what order.
 * The per-tensor scale must be fixed before a step's gradients exist: it is chosen
 * from the previous step's exact global maximum with 2^4 headroom. If a gradient would
 * overflow that scale on any rank, every rank learns it from the reduction, the scale
 * is widened, and the caller recomputes the step (rare; reported by the return value).
 *
 * Scalars (losses, counts, statistics) are reduced by pf_dist_gather_slots: each
 * micro-batch writes its value into its own slot of a table, the table is summed
 * across ranks (every slot gets one non-zero contribution, and x + 0 = x exactly), and
 * every rank then adds the slots in micro-batch order.
 */
#ifndef PREFOPT_DIST_H
#define PREFOPT_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "prefopt/model.h"

/* Initialises MPI (thread level FUNNELED); safe when already initialised. */
int pf_dist_init(int *argc, char ***argv);
/* Finalises MPI if this module initialised it. */
void pf_dist_finalize(void);
int pf_dist_rank(void);
int pf_dist_size(void);

/* Collective: every rank passes its local status. Returns the first failing rank's
 * status (lowest rank number) on every rank, with that rank's error message copied
 * into every rank's pf_error_message(); PF_OK when all succeeded. */
int pf_dist_agree(int local_status);

/* Collective: table[n_slots] holds this rank's values in its own slots and 0.0
 * elsewhere; afterwards every rank holds every slot's value, bit-exact. */
int pf_dist_gather_slots(double *table, size_t n_slots);

/* Collective: plain float sum in place (the non-deterministic baseline). */
int pf_dist_allreduce_float(float *data, size_t n);

/* Preemption: after pf_dist_watch_signals, SIGUSR1 or SIGTERM to a rank (mpirun and
 * Slurm forward them) only sets a flag. pf_dist_stop_requested is collective: it returns
 * 1 on every rank when any rank was signalled, so all ranks stop at the same step. */
void pf_dist_watch_signals(void);
int pf_dist_stop_requested(void);

/* Exit code of a run stopped by a signal after writing its checkpoint (EX_TEMPFAIL):
 * the job can be requeued and resumed with --resume. */
enum { PF_EXIT_PREEMPTED = 75 };

typedef struct pf_exact_accum pf_exact_accum;

/* An accumulator for one model's gradient layout (one scale per tensor) that sums up
 * to max_terms micro-batch gradients per step. */
int pf_exact_accum_create(const pf_model *m, int max_terms, pf_exact_accum **out);
void pf_exact_accum_free(pf_exact_accum *acc);

/* Starts a step: zeroes the sums, the local maxima and the overflow flags. */
void pf_exact_accum_reset(pf_exact_accum *acc);

/* Adds one micro-batch gradient (the model's flat layout). */
void pf_exact_accum_add(pf_exact_accum *acc, const float *grads);

/* Collective: sums across ranks into out[n_params] (floats). Returns PF_OK, or
 * PF_ERR_RUNTIME with a message naming the tensor when a gradient is NaN or Inf on any
 * rank. *retry is set to 1 (and out left unspecified) when some gradient overflowed the
 * step's scale: the scales have been widened and the caller must recompute the step. */
int pf_exact_accum_allreduce(pf_exact_accum *acc, float *out, int *retry);

/* The per-tensor scale exponents (the state a checkpoint must keep for bit-exact
 * resume) and their count. */
int32_t *pf_exact_accum_exponents(pf_exact_accum *acc, int *count);

#endif
