/*
 * config_model.h: reading config files and their "model" section (docs/config.md).
 *
 * Parsing is strict: unknown keys, duplicate keys, wrong types and out-of-range values
 * are PF_ERR_USAGE errors whose message names the file and the dotted key, e.g.
 * "dpo.json: model.n_head: must be an integer in [1, 256]". Defaults apply to absent
 * keys only; an explicit null is a type error.
 */
#ifndef PREFOPT_CONFIG_MODEL_H
#define PREFOPT_CONFIG_MODEL_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "prefopt/model.h"

/* Reads and parses a JSON config file; the top level must be an object. On success
 * *root owns the tree (free with cJSON_Delete). Errors: "<path>: cannot open: ..."
 * or "<path>: line L: invalid JSON". */
int pf_config_load(const char *path, cJSON **root);

/* Refuses top-level keys that are not config sections or settings known to
 * prefopt-mpi (algorithm, run_dir, seed, model, data, train, optim, dpo, sft, rm, ppo,
 * grpo, reward) and duplicate top-level keys. */
int pf_config_check_top_level(const cJSON *root, const char *file);

/* The top-level "seed": an integer in [0, 2^53], default 1234 when absent. */
int pf_config_seed(const cJSON *root, const char *file, uint64_t *seed);

/* Parses the "model" object (NULL: absent) into cfg: arch ("gpt2"), n_layer (4),
 * n_head (4), d_model (128), vocab_size (required), max_seq_len (256), value_head
 * (false); "init" (string) and "tokenizer" (object) are accepted and left to their
 * users. Also runs pf_model_config_check. */
int pf_config_model_parse(const cJSON *model, const char *file, pf_model_config *cfg);

/* The resolved model section as a new cJSON object (NULL when out of memory). */
cJSON *pf_config_model_to_json(const pf_model_config *cfg);

#endif
