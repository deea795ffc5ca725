/*
 * online_internal.h: the state of the online algorithms (ppo, grpo), shared by
 * online_setup.c (prompts, reward, critic, buffers, checkpoint state), rollout.c (the
 * rollout phase) and online_step.c (advantages and the clipped updates).
 *
 * One iteration ("step") of an online algorithm:
 *   1. rollouts: the step's N = train.global_batch sequences are P = N / G prompts of the
 *      (seed, epoch) order with G samples each (G = 1 for ppo); sequences are cut into
 *      K = N / micro_batch rollout micro-batches; micro-batch c runs on rank c mod world.
 *      A rank samples its sequences (keys: seed, step, prompt index, sample index), scores
 *      them, and runs the policy, reference (and critic) forwards on each micro-batch.
 *   2. the per-sequence results are gathered exactly onto every rank (pf_dist_gather_slots),
 *      so every rank holds the same rollout batch and computes the same advantages,
 *      whitening and group statistics, in the same order: global statistics are exact.
 *   3. updates: epochs x mini-batches; epoch 0 keeps the rollout order (so its first
 *      mini-batch repeats the rollout forwards bit for bit: ratio exactly 1), later epochs
 *      use a permutation keyed by (seed, step, epoch). Mini-batches are cut into
 *      micro-batches like DPO's; gradients are summed exactly.
 */
#ifndef PREFOPT_ONLINE_INTERNAL_H
#define PREFOPT_ONLINE_INTERNAL_H

#include <stdint.h>

#include "prefopt/checkpoint.h"
#include "prefopt/data.h"
#include "prefopt/graders.h"
#include "prefopt/reward_model.h"
#include "prefopt/rl_math.h"
#include "prefopt/sampler.h"
#include "prefopt/schedule.h"
#include "prefopt/tokenizer.h"
#include "trainer_internal.h"

/* Prompts of one JSONL file: records (items for graders) and tokenized prompts. */
typedef struct {
    pf_record_set records;
    pf_token_ids *ids;    /* [n] rendered prompt ids, keep_end-truncated to max_prompt_length */
    struct cJSON **items; /* [n] parsed record items (NULL when none) */
    int n;
    int truncated; /* prompts that lost their start */
} pf_prompt_set;

/* The replicated rollout batch: N sequences, per-token arrays [N, R]. */
typedef struct {
    int32_t *prompt;   /* [N] dataset index of each sequence's prompt */
    int32_t *sample;   /* [N] sample index within its group */
    int32_t *tokens;   /* [N, R] generated ids */
    int32_t *len;      /* [N] generated tokens (stop token included) */
    uint8_t *finished; /* [N] ended with a stop token */
    double *score, *rm_score, *grader_score, *entropy; /* [N]; entropy: summed over tokens */
    float *logp, *ref_logp, *values;                   /* [N, R] at rollout time */
    float *kl, *rewards, *adv, *ret;                   /* [N, R] */
    double *seq_adv;                                   /* [N] grpo */
} pf_rollout;

/* Scratch of one micro-batch (this rank), sized once. */
typedef struct {
    int32_t *prompt_tokens, *prompt_len; /* [M, Tp], [M] */
    uint64_t *prompt_index;
    uint32_t *sample_index;
    int32_t *gen_tokens, *gen_len; /* [M, R], [M] */
    uint8_t *gen_finished;
    float *gen_entropy;                     /* [M, R] */
    int32_t *tokens, *lengths;              /* [M, Tmax], [M]: prompt + response */
    uint8_t *need;                          /* [M, Tmax] */
    float *logp, *dlogp, *values, *dvalues; /* [M, Tmax] */
    double *scores;                         /* [M] */
    int32_t *seqs;                          /* [M] rollout indices of the micro-batch */
} pf_micro_scratch;

typedef struct pf_online {
    int is_ppo;
    int G, N, P, M, R, Tp, Tmax; /* samples per prompt, sequences, prompts, micro, lengths */
    int K;                       /* rollout micro-batches per step */
    int mini_batches, epochs;    /* updates per step = epochs * mini_batches */
    pf_sampling sampling;
    int32_t stop_ids[2];
    int n_stop;
    pf_kl_estimator kl_est;
    pf_grpo_scale scale;
    pf_grpo_loss_type loss_type;
    double kl_coef; /* ppo: current (adaptive) coefficient */
    /* prompts */
    pf_prompt_set train, eval;
    /* reward */
    pf_grader_set graders;
    long grader;
    pf_reward_model *rm;
    pf_grade_completion completion;
    /* models beyond the trainer's policy and reference */
    pf_model *critic;
    pf_workspace *critic_ws;
    pf_adamw *critic_opt;
    pf_exact_accum *critic_acc;
    float *critic_grad;
    pf_kv_cache *cache;
    pf_generate_scratch *gen_scratch;
    /* batch state */
    pf_rollout roll;
    double *table; /* gather table [N, W] */
    int W;
    double *slots;         /* [K, S] per-micro-batch sums of one mini-batch */
    int32_t *order;        /* [N] sequence order of the current epoch */
    pf_data_order shuffle; /* mini-batch permutations, keyed by (seed, step, epoch) */
    pf_micro_scratch mb;
    double rollout_seconds;
    int64_t generated_tokens;
} pf_online;

enum { PF_ONLINE_SLOTS = 16 }; /* per-micro-batch sums of an update, at most */

/* online_setup.c: checks that the world size divides a mini-batch's micro-batches. */
int pf_online_check_world(const pf_config *c, int world);
/* Allocates tr->online and loads the train / eval prompts and the data order. */
int pf_online_load_data(pf_trainer *tr);
/* After the policy is loaded: its max_seq_len fits max_prompt_length + the response
 * length (an error naming the keys otherwise). */
int pf_online_check_model(const pf_trainer *tr);
/* After the policy and reference exist: reward, critic, buffers, KV cache. resuming: the
 * critic's weights will come from the checkpoint (ppo.critic_init is not read). */
int pf_online_create(pf_trainer *tr, int resuming);
void pf_online_free(pf_trainer *tr);
/* Sequences per step and the matching steps for train.epochs. */
int64_t pf_online_total_steps(const pf_trainer *tr);
/* The checkpoint state beyond the policy: KL coefficient, critic, data position. */
void pf_online_fill_state(pf_trainer *tr, pf_train_state *st);
/* Restores that state from a checkpoint file whose /train was read into st. */
int pf_online_resume(pf_trainer *tr, const char *file, const pf_train_state *st);

/* rollout.c: fills tr->online->roll for the prompts [first, first + P) of the order
 * (train) or for eval prompts; see online_internal.h's header comment. */
int pf_rollout_step(pf_trainer *tr);
/* Rolls out one sample of each eval prompt (fixed keys) and reports its mean score,
 * sequence KL to the reference and length. */
int pf_online_evaluate(pf_trainer *tr, double *metrics, int *n_metrics, const char **names);

/* rollout.c: the width of a gather-table row for responses of R tokens. */
int pf_online_table_width(int R);

/* rollout.c: packs sequences seqs[0..n) of the rollout batch (prompt + response) into the
 * micro-batch scratch; returns T. */
int pf_rollout_pack(pf_trainer *tr, const pf_prompt_set *ps, const int32_t *seqs, int n);

/* online_step.c: one iteration: rollouts, advantages, updates, metrics. */
int pf_online_step(pf_trainer *tr);

#endif
