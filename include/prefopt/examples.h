/*
 * examples.h: tokenized training examples, the unit the trainer batches.
 *
 * A sequence is token ids plus a per-token loss weight: weight[t] (t >= 1) weighs the
 * prediction of ids[t] from ids[0..t-1], i.e. log-prob index t-1 of the model's output;
 * weight[0] is always 0. A DPO example holds two sequences (chosen, rejected) that
 * share the prompt; an SFT example holds one. Examples own no memory: ids and weights
 * point into the dataset's pools.
 */
#ifndef PREFOPT_EXAMPLES_H
#define PREFOPT_EXAMPLES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const int32_t *ids;
    const float *weight;
    int len;
    int prompt_len;
} pf_seq;

enum { PF_REASON_MAX = 48 };

typedef struct {
    pf_seq seq[2];
    int n_seq;                  /* 1 (sft) or 2 (dpo: chosen, rejected) */
    char reason[PF_REASON_MAX]; /* metadata.reason, "" when absent */
    int64_t line;               /* source line, for messages */
    double ref_logp[2];         /* reference log-prob sums (dpo), filled by the trainer */
    double ref_logp_mean[2];    /* reference per-token means (ipo) */
    double margin;              /* the record's "margin" (rm), 0 when absent */
} pf_example;

typedef struct {
    pf_example *ex;
    int n;
    int n_seq; /* sequences per example */
    int32_t *id_pool;
    float *weight_pool;
    size_t pool_used, pool_cap;
    int dropped; /* examples dropped because truncation left an empty completion */
    char source[1024];
} pf_dataset;

void pf_dataset_free(pf_dataset *ds);

/* Appends an example made of n_seq sequences (ids/weights copied into the pools).
 * Returns PF_OK or PF_ERR_RUNTIME when out of memory. */
int pf_dataset_add(pf_dataset *ds, const pf_seq *seqs, int n_seq, const char *reason, int64_t line);

/* Sum over t >= 1 of weight[t] * logprobs[t - 1], in double, in order; *count receives
 * the sum of weights. */
double pf_seq_weighted_logp(const pf_seq *s, const float *logprobs, double *count);

/* Packs n examples' sequences into a right-padded batch: tokens [n*n_seq, T] (pad 0),
 * lengths [n*n_seq], and need [n*n_seq, T] (1 where the next token is counted, i.e.
 * weight[t + 1] > 0: the positions whose log-probs the loss uses). T, the longest
 * sequence (at least 2), is returned: a batch's shape depends only on its examples. */
int pf_examples_pack(pf_example *const *ex, int n, int n_seq, int32_t *tokens, int32_t *lengths,
                     uint8_t *need);

#endif
