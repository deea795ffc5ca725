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
 *
 * An algorithm that sets uses_values (the reward model) reads the value head instead:
 * the trainer runs forward with values [B, T] and no LM head, passes the values where
 * the others get log-probs, and back-propagates the returned array as d(loss)/d(values);
 * evaluation scores come from pf_score_dataset_values (score.h).
 *
 * Per-micro-batch sums are combined across micro-batches by adding them in micro-batch
 * order, except those that sum_ops marks PF_SUM_MIN / PF_SUM_MAX (exact and
 * order-free). A micro_batch call writes its own slot; score_example accumulates over
 * a whole dataset into one array, so a min/max sum must be seeded by the algorithm
 * (e.g. from its first example, told by a count sum that is still 0).
 */
#ifndef PREFOPT_ALGO_H
#define PREFOPT_ALGO_H

#include "prefopt/config.h"
#include "prefopt/examples.h"
#include "prefopt/losses.h"

enum { PF_ALGO_MAX_SUMS = 16, PF_ALGO_MAX_METRICS = 16 };

/* How a per-micro-batch sum combines across micro-batches. */
enum { PF_SUM_ADD = 0, PF_SUM_MIN = 1, PF_SUM_MAX = 2 };

typedef struct {
    /* settings */
    pf_dpo_params dpo;
    double rpo_alpha;
    double prompt_loss_weight;
    /* per-step normalisers set by begin_step */
    double n_examples;
    double weight_total; /* sft: sum of token weights; dpo: chosen-token count (rpo) */
    /* rm */
    double rm_center_coef;
    int rm_use_margin;
} pf_algo_state;

typedef struct {
    const char *name;
    int n_seq;  /* sequences per example */
    int online; /* 1: ppo / grpo (rollouts; the trainer's online path, online_internal.h) */
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
    int uses_values; /* 1: micro_batch gets values [B, T] and returns d(loss)/d(values) */
    const unsigned char *sum_ops; /* [n_sums] PF_SUM_*; NULL: every sum adds */
} pf_algo_ops;

extern const pf_algo_ops pf_algo_sft;
extern const pf_algo_ops pf_algo_dpo;
extern const pf_algo_ops pf_algo_rm;

/* Combines n_slots per-micro-batch slots ([n_slots][algo->n_sums], micro-batch order)
 * into sums[algo->n_sums] by algo->sum_ops: adds in slot order, or min / max. */
void pf_algo_combine_slots(const pf_algo_ops *algo, const double *slots, int n_slots, double *sums);
extern const pf_algo_ops pf_algo_ppo;
extern const pf_algo_ops pf_algo_grpo;

/* The algorithm named by cfg->algorithm, with its state initialised from cfg; NULL
 * (and an error naming the key) when unknown. */
const pf_algo_ops *pf_algo_select(const pf_config *cfg, pf_algo_state *st);

#endif
