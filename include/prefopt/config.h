/*
 * config.h: the training configuration (docs/config.md documents every key).
 *
 * A config is a JSON file plus --set overrides. Parsing is strict: unknown keys,
 * wrong types and out-of-range values are PF_ERR_USAGE errors naming the file and the
 * dotted key. Absent keys take their documented defaults; the resolved config (every
 * key, defaults filled in) is available as canonical JSON for printing, for
 * RUN_DIR/config.json and for checkpoints. The key table in config.c is the single
 * source of truth for names, types, defaults and ranges.
 */
#ifndef PREFOPT_CONFIG_H
#define PREFOPT_CONFIG_H

#include <stdint.h>

#include "prefopt/model.h"

enum { PF_PATH_MAX = 1024, PF_NAME_MAX = 32 };

typedef struct {
    /* top level */
    char algorithm[PF_NAME_MAX];
    char run_dir[PF_PATH_MAX];
    int64_t seed;
    /* model */
    pf_model_config model;
    char model_init[PF_PATH_MAX]; /* "random", a checkpoint file or a run directory */
    char tokenizer_vocab[PF_PATH_MAX];
    char tokenizer_merges[PF_PATH_MAX];
    /* data */
    char data_train[PF_PATH_MAX];
    char data_eval[PF_PATH_MAX];
    char data_format[PF_NAME_MAX];
    int64_t max_length;
    int64_t max_prompt_length;
    char truncation_mode[PF_NAME_MAX];
    /* train */
    int64_t global_batch;
    int64_t micro_batch;
    int64_t steps;
    int64_t epochs; /* 0: null */
    int deterministic;
    int64_t log_every;
    int64_t eval_every;
    int64_t checkpoint_every;
    int64_t keep_checkpoints;
    int64_t threads;
    int64_t stop_after; /* > 0: stop (with a checkpoint) once this step is reached */
    /* optim */
    double lr;
    double betas[2];
    double eps;
    double weight_decay;
    int64_t warmup_steps;
    char schedule[PF_NAME_MAX];
    double grad_clip;
    double min_lr_ratio;
    /* dpo */
    double dpo_beta;
    char dpo_loss_type[PF_NAME_MAX];
    double dpo_label_smoothing;
    char dpo_reference[PF_PATH_MAX];
    int dpo_precompute_reference;
    double dpo_rpo_alpha;
    double dpo_l2_multiplier;
    /* sft */
    double sft_prompt_loss_weight;
    /* rm */
    double rm_center_coef;
    int rm_use_margin;
    char rm_norm_data[PF_NAME_MAX];
    /* reward (ppo, grpo) */
    char reward_model[PF_PATH_MAX];
    double reward_model_weight;
    char reward_graders[PF_PATH_MAX];
    char reward_grader[PF_PATH_MAX];
    double reward_grader_weight;
    /* ppo */
    int64_t ppo_response_length;
    double ppo_temperature, ppo_top_p, ppo_missing_eos_penalty;
    double ppo_kl_coef;
    char ppo_kl_estimator[PF_NAME_MAX];
    int ppo_adaptive_kl;
    double ppo_kl_target, ppo_kl_horizon;
    double ppo_cliprange, ppo_cliprange_value, ppo_vf_coef, ppo_gamma, ppo_lam;
    int ppo_whiten_rewards;
    int64_t ppo_epochs, ppo_mini_batches;
    char ppo_critic_init[PF_PATH_MAX];
    /* grpo */
    int64_t grpo_num_generations, grpo_max_completion;
    double grpo_temperature, grpo_top_p, grpo_beta, grpo_epsilon, grpo_epsilon_high;
    char grpo_scale_rewards[PF_NAME_MAX];
    char grpo_loss_type[PF_NAME_MAX];
    int64_t grpo_iterations, grpo_mini_batches;
    /* the resolved config as canonical JSON (owned) */
    char *resolved_json;
} pf_config;

/* Loads path, applies the "dotted.key=value" overrides (value parsed as JSON, else
 * taken as a string), validates and resolves. On success cfg owns resolved_json. */
int pf_config_from_file(const char *path, const char *const *sets, int n_sets, pf_config *cfg);

/* Same, from JSON text (name is used in messages, e.g. a checkpoint's path). */
int pf_config_from_text(const char *text, const char *name, const char *const *sets, int n_sets,
                        pf_config *cfg);

void pf_config_free(pf_config *cfg);

/* The number of keys in the table and the i-th dotted key name (for docs tests). */
int pf_config_key_count(void);
const char *pf_config_key_name(int i);

/* For --resume: PF_OK when new differs from old only in keys that do not change the
 * trajectory (train.steps, train.epochs, log/eval/checkpoint intervals,
 * keep_checkpoints, data.eval); otherwise PF_ERR_USAGE naming the first changed key. */
int pf_config_check_resume(const pf_config *old_cfg, const pf_config *new_cfg);

#endif
