/*
 * algo.h: the interface between the trainer and a training algorithm.
 *
 * An algorithm sees log-probs of sequences and returns d(loss)/d(log-probs) plus a
 * few per-micro-batch sums from which metrics are computed; it never sees the model,
 * the ranks or the files. The trainer calls, per step:
 *   begin_step(all examples of the global batch)   -- identical on every rank
 *   micro_batch(...) for each micro-batch this rank owns
 *   finalize(global sums) -> metrics               -- after an exact sum over ranks
 * The batch layout: sequence b of a micro-batch is example b / n_seq, sequence
 * b % n_seq; log-probs are [B, T] as pf_model_forward returns them.
 */
#ifndef PREFOPT_ALGO_H
#define PREFOPT_ALGO_H

#include "prefopt/config.h"
#include "prefopt/examples.h"
#include "prefopt/losses.h"

enum { PF_ALGO_MAX_SUMS = 16, PF_ALGO_MAX_METRICS = 16 };

typedef struct {
    /* settings */
    pf_dpo_params dpo;
    double rpo_alpha;
    double prompt_loss_weight;
    /* per-step normalisers set by begin_step */
    double n_examples;
    double weight_total; /* sft: sum of token weights; dpo: chosen-token count (rpo) */
} pf_algo_state;

typedef struct {
    const char *name;
    int n_seq; /* sequences per example */
    int n_sums;
    int n_metrics;
    const char *const *metric_names; /* TRL names, e.g. "rewards/chosen" */
    void (*begin_step)(pf_algo_state *st, pf_example *const *batch, int n);
    void (*micro_batch)(pf_algo_state *st, pf_example *const *ex, int n, const float *logprobs,
                        int T, float *dlogprobs, double *sums);
    void (*finalize)(const pf_algo_state *st, const double *sums, double *metrics);
    /* Evaluation: adds an example's sums from its per-sequence scores (score.h layout:
     * [n_seq][PF_SCORE_FIELDS]) without any gradient. */
    void (*score_example)(pf_algo_state *st, const pf_example *e, const double *scores,
                          double *sums);
} pf_algo_ops;

extern const pf_algo_ops pf_algo_sft;
extern const pf_algo_ops pf_algo_dpo;

/* The algorithm named by cfg->algorithm, with its state initialised from cfg; NULL
 * (and an error naming the key) when unknown. */
const pf_algo_ops *pf_algo_select(const pf_config *cfg, pf_algo_state *st);

#endif
