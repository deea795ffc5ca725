/*
 * reward_model.h: a trained reward model (algorithm rm) as a scorer of sequences.
 *
 * A reward model is a GPT-2 with a value head whose output at a sequence's last token
 * is its reward. After RM training the trainer measures the mean and std of the raw
 * rewards over a reference set (rm.norm_data: both completions of every pair) and
 * stores them in the checkpoint as attributes of /reward (norm_mean, norm_std, n);
 * scoring applies them, so that scores are about mean 0 / std 1 on that set.
 */
#ifndef PREFOPT_REWARD_MODEL_H
#define PREFOPT_REWARD_MODEL_H

#include "prefopt/model.h"

typedef struct pf_reward_model pf_reward_model;

/* Loads the RM at path (a checkpoint file or a run directory: its newest valid
 * checkpoint) with a workspace for batches up to max_batch x max_seq. Fails with
 * PF_ERR_USAGE naming the file when the model has no value head. A checkpoint without
 * /reward loads with mean 0, std 1 (raw scores). */
int pf_reward_model_load(const char *path, int max_batch, int max_seq, pf_reward_model **out);
void pf_reward_model_free(pf_reward_model *rm);

/* The network (e.g. to initialise a critic from it, or to check its vocabulary). */
const pf_model *pf_reward_model_network(const pf_reward_model *rm);

/* The stored normalisation (mean, std). */
void pf_reward_model_norm(const pf_reward_model *rm, double *mean, double *std);

/* Scores the B sequences of a right-padded batch: scores[b] = (value head at position
 * lengths[b] - 1 - mean) / std. The result for a sequence depends only on the batch's
 * shape and contents (deterministic). */
int pf_reward_model_score(pf_reward_model *rm, const pf_batch *batch, double *scores);

#endif
