/*
 * schedule.h: what the trainer derives from the step number alone: the learning rate
 * and which examples form the step's batch. Deriving both from (config, step) is what
 * makes a resumed run, or a run on another world size, follow the same trajectory.
 */
#ifndef PREFOPT_SCHEDULE_H
#define PREFOPT_SCHEDULE_H

#include <stdint.h>

#include "prefopt/config.h"

/* Learning rate of step (0-based) out of total_steps: linear warmup to optim.lr over
 * warmup_steps ((step + 1) / warmup, so the first step already learns), then constant,
 * linear or cosine decay to lr * min_lr_ratio at the last step. */
double pf_lr_at(const pf_config *cfg, int64_t step, int64_t total_steps);

/* The example order: a permutation of [0, n) per epoch, keyed by (seed, epoch). */
typedef struct {
    uint64_t seed;
    int n;
    int64_t epoch; /* epoch of perm, -1 when none */
    int32_t *perm;
} pf_data_order;

int pf_data_order_init(pf_data_order *o, uint64_t seed, int n);
void pf_data_order_free(pf_data_order *o);

/* The dataset index of the example at global position pos (epoch = pos / n). */
int pf_data_order_at(pf_data_order *o, int64_t pos);

/* Total optimizer steps for the config and a dataset of n examples: train.steps, or
 * floor(epochs * n / global_batch) (at least 1). */
int64_t pf_total_steps(const pf_config *cfg, int n);

#endif
