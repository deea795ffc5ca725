/*
 * checkpoint.h: HDF5 checkpoints (layout in docs/formats.md and DESIGN.md section 4).
 *
 * A checkpoint is one HDF5 file written with libver bounds v110:
 *   /               attrs format="prefopt-checkpoint", format_version=1, step, algorithm,
 *                   config_json, world_size
 *   /model          attrs arch, n_layer, n_head, d_model, vocab_size, max_seq_len
 *   /model/params/  one float32 dataset per tensor, HF GPT-2 names and shapes
 *   /optimizer/     (training checkpoints) attr step; m/<name>, v/<name> like params
 * Writes are atomic: PATH.tmp is written, flushed, fsync'ed and renamed onto PATH, and
 * the folder is fsync'ed, so PATH is always either the old file or the complete new one.
 * Readers accept files written by h5py (variable-length UTF-8 strings, int64 integers).
 * Every failure returns PF_ERR_USAGE (exit 2) with a message naming the file and, where
 * one is involved, the tensor or attribute; PF_ERR_RUNTIME for write failures.
 */
#ifndef PREFOPT_CHECKPOINT_H
#define PREFOPT_CHECKPOINT_H

#include <stdint.h>

#include "prefopt/model.h"
#include "prefopt/optim.h"

typedef struct {
    int64_t step;
    char algorithm[32]; /* "init", "sft", "dpo", ... */
    char *config_json;  /* resolved config (owned, may be NULL) */
    int64_t world_size; /* of the run that wrote the file */
} pf_checkpoint_meta;

/* Frees the strings a meta owns (not the struct itself). */
void pf_checkpoint_meta_clear(pf_checkpoint_meta *meta);

/* Writes model (and opt when non-NULL) atomically to path. */
int pf_checkpoint_write(const char *path, const pf_model *model, const pf_adamw *opt,
                        const pf_checkpoint_meta *meta);

/* Reads the model config and parameters from path. with_grads allocates gradients.
 * meta may be NULL; otherwise it receives the root attributes (missing optional
 * ones get defaults: step 0, algorithm "", world_size 1). */
int pf_checkpoint_read_model(const char *path, int with_grads, pf_model **model,
                             pf_checkpoint_meta *meta);

/* Reads /optimizer into an AdamW state created for model (whose moments it fills). */
int pf_checkpoint_read_optimizer(const char *path, const pf_model *model, pf_adamw *opt);

/* Like pf_checkpoint_read_model. path may be a checkpoint file or a run directory, whose
 * newest readable RUN_DIR/checkpoints/step-NNNNNNNN.h5 is loaded (an unreadable newer
 * one is skipped with a warning on stderr naming it). When resolved is non-NULL it
 * receives the malloc'ed path of the file actually read (free with free()). */
int pf_checkpoint_read_model_at(const char *path, int with_grads, pf_model **model,
                                pf_checkpoint_meta *meta, char **resolved);

/* Reports whether the checkpoint file holds /optimizer and, if so, its step attribute
 * (*step is 0 when absent). Errors as for reading (PF_ERR_USAGE naming the file). */
int pf_checkpoint_probe_optimizer(const char *file, int *present, int64_t *step);

/* Writes RUN_DIR/checkpoints/step-NNNNNNNN.h5 (step zero-padded to 8 digits) into buf.
 * Returns PF_OK or PF_ERR_USAGE when it does not fit. */
int pf_checkpoint_step_path(const char *run_dir, int64_t step, char *buf, size_t size);

/* Lists the steps of the RUN_DIR/checkpoints/step-*.h5 files, newest first, into a
 * malloc'ed array (*steps, free with free(); NULL when *n is 0). A missing checkpoints
 * folder gives *n = 0. Returns PF_OK or PF_ERR_RUNTIME. */
int pf_checkpoint_list(const char *run_dir, int64_t **steps, int *n);

/* Deletes all but the newest keep step-*.h5 files of RUN_DIR/checkpoints (keep >= 1).
 * Returns PF_OK or PF_ERR_RUNTIME naming the file that could not be removed. */
int pf_checkpoint_prune(const char *run_dir, int keep);

/* SHA-256 (lowercase hex, 64 chars + NUL) over the parameter tensors in canonical
 * order, as float32 little-endian bytes. */
void pf_model_params_sha256(const pf_model *model, char hex[65]);

/* ---- training state (/train), written into training checkpoints ---- */

typedef struct {
    int64_t data_position;                /* examples consumed: step * global_batch */
    int64_t tokens_seen;                  /* tokens trained on so far */
    double lr;                            /* learning rate of the last step */
    char reference_sha256[65];            /* params_sha256 of the reference model ("" when none) */
    int n_scales;                         /* exact-sum scale exponents, one per tensor */
    int32_t *scales;                      /* owned: freed by pf_train_state_clear */
    const struct pf_tokenizer *tokenizer; /* written as /tokenizer when non-NULL (not read) */
    const struct pf_reward_norm *reward_norm; /* written as /reward when non-NULL (rm) */
    /* online algorithms (ppo, grpo) */
    double kl_coef;               /* the KL coefficient for the next step (/train attr kl_coef) */
    int has_kl_coef;              /* read: whether the attribute was present; write: write it */
    const pf_model *critic;       /* written as /critic when non-NULL (not read: see below) */
    const pf_adamw *critic_opt;   /* its AdamW state, with critic */
    const int32_t *critic_scales; /* its exact-sum scale exponents, with critic */
    int n_critic_scales;
} pf_train_state;

void pf_train_state_clear(pf_train_state *st);

/* Like pf_checkpoint_write, adding /train (attrs data_position, tokens_seen, lr,
 * reference_sha256; dataset scale_exponents int32 [n_scales]). */
int pf_checkpoint_write_train(const char *path, const pf_model *model, const pf_adamw *opt,
                              const pf_checkpoint_meta *meta, const pf_train_state *st);

/* Reads /train of a training checkpoint (PF_ERR_USAGE naming the file when absent). */
int pf_checkpoint_read_train(const char *path, pf_train_state *st);

/* ---- reward normalisation (/reward), written into reward-model checkpoints ---- */

/* The raw rewards' mean and std over a reference set of n rewards (n_pairs * 2). */
typedef struct pf_reward_norm {
    double mean, std;
    int64_t n;
} pf_reward_norm;

/* Reads /reward (attrs norm_mean, norm_std, n) of a checkpoint file. Without /reward:
 * *present = 0 and mean 0, std 1, n 0. A /reward with a missing or non-finite
 * attribute, or std <= 0, is PF_ERR_USAGE naming the file and the attribute. */
int pf_checkpoint_read_reward_norm(const char *file, pf_reward_norm *norm, int *present);
/* Reads /critic of a PPO training checkpoint into critic (parameters), opt (AdamW
 * moments and step) and scales[n_scales] (exact-sum exponents). critic and opt must have
 * the shapes of the critic that was written. PF_ERR_USAGE naming the file and tensor. */
int pf_checkpoint_read_critic(const char *path, pf_model *critic, pf_adamw *opt, int32_t *scales,
                              int n_scales);

/* Reads the /tokenizer a checkpoint carries; path may be a run directory (its newest
 * valid checkpoint). PF_ERR_USAGE naming the file when it has none. */
int pf_checkpoint_read_tokenizer(const char *path, struct pf_tokenizer **out);
#endif
