/*
 * trainer.h: `prefopt-mpi train`: the distributed SFT / DPO training loop.
 *
 * Every rank runs pf_train with the same config. The global batch of each step is
 * fixed by (seed, step) (schedule.h), cut into micro-batches of train.micro_batch
 * examples whose shapes never depend on the world size; rank r computes a contiguous
 * share of them. Gradients and scalars are summed exactly (dist.h), so every rank
 * applies the same AdamW update and the parameters after each step are bit-identical
 * for any world size dividing the micro-batch count. Rank 0 writes checkpoints,
 * metrics.h5 and the progress line. Any rank's error stops every rank at the next
 * agreement point with that rank's message.
 */
#ifndef PREFOPT_TRAINER_H
#define PREFOPT_TRAINER_H

#include "prefopt/config.h"

/* Runs training to the end (or from RUN_DIR's newest checkpoint when resume is set).
 * Collective over MPI_COMM_WORLD; returns a pf status, agreed on all ranks. When a rank
 * received SIGUSR1 or SIGTERM (after pf_dist_watch_signals), every rank stops at the
 * next step boundary, a checkpoint is written and *preempted is set to 1. */
int pf_train(const pf_config *cfg, int resume, int *preempted);

#endif
