/*
 * reward_model.c: a trained reward model as a scorer of sequences (reward_model.h).
 *
 * Loading reads the model (a file, or a run directory's newest valid checkpoint),
 * refuses one without a value head, reads /reward (absent: mean 0, std 1) from the file
 * actually loaded, and sizes the workspace and the values buffer once. Scoring is one
 * forward with values only (no LM head) and reads each sequence's last real position.
 */
#include "prefopt/reward_model.h"

#include <stdio.h>
#include <stdlib.h>

#include "prefopt/checkpoint.h"
#include "prefopt/error.h"

struct pf_reward_model {
    pf_model *model;
    pf_workspace *ws;
    float *values; /* [max_batch * max_seq] */
    int max_batch, max_seq;
    pf_reward_norm norm;
};

int pf_reward_model_load(const char *path, int max_batch, int max_seq, pf_reward_model **out)
{
    char *file = NULL;
    *out = NULL;
    pf_reward_model *rm = pf_calloc(sizeof *rm, "reward model");
    if (!rm)
        return PF_ERR_RUNTIME;
    int present = 0;
    int rc = pf_checkpoint_read_model_at(path, 0, &rm->model, NULL, &file);
    if (!rc && !pf_model_get_config(rm->model)->value_head)
        rc = pf_fail(PF_ERR_USAGE,
                     "%s: the model has no value head (v_head.weight); train one with "
                     "algorithm \"rm\"",
                     file);
    if (!rc)
        rc = pf_checkpoint_read_reward_norm(file, &rm->norm, &present);
    if (!rc && max_seq > pf_model_get_config(rm->model)->max_seq_len)
        max_seq = pf_model_get_config(rm->model)->max_seq_len;
    if (!rc)
        rc = pf_workspace_create(rm->model, max_batch, max_seq, 0, &rm->ws);
    if (!rc) {
        rm->values =
            pf_calloc(sizeof(float) * (size_t)max_batch * (size_t)max_seq, "reward model values");
        rc = rm->values ? PF_OK : PF_ERR_RUNTIME;
    }
    free(file);
    if (rc) {
        pf_reward_model_free(rm);
        return rc;
    }
    rm->max_batch = max_batch;
    rm->max_seq = max_seq;
    *out = rm;
    return PF_OK;
}

void pf_reward_model_free(pf_reward_model *rm)
{
    if (!rm)
        return;
    pf_free(rm->values);
    pf_workspace_free(rm->ws);
    pf_model_free(rm->model);
    pf_free(rm);
}

const pf_model *pf_reward_model_network(const pf_reward_model *rm) { return rm->model; }

void pf_reward_model_norm(const pf_reward_model *rm, double *mean, double *std)
{
    *mean = rm->norm.mean;
    *std = rm->norm.std;
}

int pf_reward_model_score(pf_reward_model *rm, const pf_batch *batch, double *scores)
{
    if (batch->B < 1 || batch->B > rm->max_batch || batch->T < 1 || batch->T > rm->max_seq)
        return pf_fail(PF_ERR_USAGE, "reward model: batch %d x %d exceeds the workspace's %d x %d",
                       batch->B, batch->T, rm->max_batch, rm->max_seq);
    for (int b = 0; b < batch->B; b++)
        if (batch->lengths[b] < 1 || batch->lengths[b] > batch->T)
            return pf_fail(PF_ERR_USAGE, "reward model: sequence %d has length %d (1..%d)", b,
                           batch->lengths[b], batch->T);
    pf_forward_out out = {.values = rm->values, .temperature = 1.0f};
    int rc = pf_model_forward(rm->model, rm->ws, batch, &out);
    if (rc)
        return pf_fail_prefix(rc, "reward model");
    for (int b = 0; b < batch->B; b++) {
        double v = rm->values[(size_t)b * batch->T + (size_t)(batch->lengths[b] - 1)];
        scores[b] = (v - rm->norm.mean) / rm->norm.std;
    }
    return PF_OK;
}
