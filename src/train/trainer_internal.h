/*
 * trainer_internal.h: the trainer's state, shared by the files of src/train that make
 * up the training loop (trainer.c: setup and the loop; step.c: one optimizer step;
 * reference.c: reference log-probs and evaluation).
 */
#ifndef PREFOPT_TRAINER_INTERNAL_H
#define PREFOPT_TRAINER_INTERNAL_H

#include <stdint.h>

#include "prefopt/algo.h"
#include "prefopt/config.h"
#include "prefopt/dist.h"
#include "prefopt/examples.h"
#include "prefopt/model.h"
#include "prefopt/optim.h"
#include "prefopt/schedule.h"

enum { PF_MAX_METRICS = 48 };

typedef struct {
    const pf_config *cfg;
    const pf_algo_ops *algo;
    pf_algo_state ast;
    int rank, world;
    /* models */
    pf_model *policy;
    pf_model *reference; /* NULL once reference log-probs are precomputed (and no l2) */
    float *ref_params;   /* copy of the reference weights for l2_multiplier, or NULL */
    char reference_sha256[65];
    pf_workspace *ws;
    pf_adamw *opt;
    pf_exact_accum *acc;
    float *grad_sum; /* reduced gradient, n_params */
    /* data */
    const struct pf_tokenizer *tokenizer; /* stored in every checkpoint */
    pf_dataset train, eval;
    pf_data_order order;
    int micro_per_step; /* global_batch / micro_batch */
    int max_T;
    /* step buffers, sized once */
    pf_example **step_examples; /* [global_batch] */
    int32_t *tokens, *lengths;
    uint8_t *need;
    float *logprobs, *dlogprobs;
    double *slots; /* [micro_per_step or eval chunks][n_sums] */
    size_t slots_cap;
    /* progress */
    int64_t step, total_steps;
    int preempted; /* stopped early by SIGUSR1 / SIGTERM */
    int64_t tokens_seen;
    double started;
    /* metrics of the last step: names and values */
    int n_metrics;
    const char *metric_names[PF_MAX_METRICS];
    double metric_values[PF_MAX_METRICS];
} pf_trainer;

/* reference.c */
int pf_reference_logps(pf_trainer *tr, pf_dataset *ds);
int pf_evaluate(pf_trainer *tr, double *metrics, int *n_metrics, const char **names);

/* step.c: one optimizer step (tr->step -> tr->step + 1), metrics into tr->metric_*. */
int pf_train_step(pf_trainer *tr);

/* Seconds on a monotonic clock. */
double pf_now(void);

#endif
