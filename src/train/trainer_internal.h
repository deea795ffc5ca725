/*
 * trainer_internal.h: the trainer's state, shared by the files of src/train that make
 * up the training loop (trainer.c: setup and the loop; step.c: one optimizer step;
 * reference.c: reference log-probs and evaluation).
 */
#ifndef PREFOPT_TRAINER_INTERNAL_H
#define PREFOPT_TRAINER_INTERNAL_H

#include <stdint.h>

#include "prefopt/algo.h"
#include "prefopt/checkpoint.h"
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
    struct pf_online *online; /* ppo / grpo state (online_internal.h), else NULL */
    /* metrics of the last step: names and values */
    int n_metrics;
    const char *metric_names[PF_MAX_METRICS];
    double metric_values[PF_MAX_METRICS];
} pf_trainer;

/* reference.c */
int pf_reference_logps(pf_trainer *tr, pf_dataset *ds);
int pf_evaluate(pf_trainer *tr, double *metrics, int *n_metrics, const char **names);

/* rm_train.c (algorithm rm): adds a value head to a policy loaded without one; the
 * reward normalisation over rm.norm_data (collective; identical on every rank); the
 * mean and population std of the 2 * n_pairs rewards of a pf_score_dataset_values
 * table; the value-head initialisation (N(0, 1/(D+1)) weights keyed by seed, zero bias). */
int pf_rm_prepare_policy(pf_trainer *tr);
int pf_rm_norm_stats(pf_trainer *tr, pf_reward_norm *norm);
void pf_rm_norm_from_values(const double *table, int n_pairs, pf_reward_norm *norm);
void pf_rm_init_value_head(pf_model *m, uint64_t seed);

/* step.c: one optimizer step (tr->step -> tr->step + 1), metrics into tr->metric_*. */
int pf_train_step(pf_trainer *tr);

/* Seconds on a monotonic clock. */
double pf_now(void);

#endif
