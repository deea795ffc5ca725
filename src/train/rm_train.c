/*
 * rm_train.c: the reward-model parts of the trainer (algorithm rm): a value head on the
 * initial policy, and the reward normalisation stored in every RM checkpoint.
 *
 * Value head: model.init may be a language model without one (e.g. the SFT demo run).
 * The trainer then builds the same network with value_head = 1, copies every tensor
 * of the initial model, and draws v_head.weight from N(0, 1/(D+1)) (TRL's init of the
 * score head, std 1/sqrt(D+1)) with the counter-based RNG keyed by the run's seed, and
 * a zero v_head.bias. A model.init that has a value head keeps it.
 *
 * Normalisation: the raw rewards (value at the last token) of both completions of every
 * pair of rm.norm_data (data.eval, or data.train; eval falls back to train when there
 * is no eval set) are scored on pf_score_dataset_values' fixed chunks and gathered
 * exactly, then reduced in dataset order on every rank: mean and population std
 * (divide by n), identical for every rank count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "prefopt/rng.h"
#include "prefopt/score.h"
#include "trainer_internal.h"

/* The RNG stream of the value-head initialisation ("rm_vhead"). */
static const uint64_t VHEAD_STREAM = 0x726d5f7668656164ULL;

void pf_rm_init_value_head(pf_model *m, uint64_t seed)
{
    const pf_tensor *w = pf_model_find_tensor(m, "v_head.weight");
    const pf_tensor *b = pf_model_find_tensor(m, "v_head.bias");
    float *p = pf_model_params(m);
    if (!w || !b)
        return;
    const double std = 1.0 / sqrt((double)w->numel + 1.0);
    for (size_t i = 0; i < w->numel; i++)
        p[w->offset + i] = (float)(std * pf_rng_normal(seed, VHEAD_STREAM, i));
    memset(p + b->offset, 0, sizeof(float) * b->numel);
}

int pf_rm_prepare_policy(pf_trainer *tr)
{
    pf_model *lm = tr->policy, *rm = NULL;
    if (pf_model_get_config(lm)->value_head)
        return PF_OK;
    pf_model_config mc = *pf_model_get_config(lm);
    mc.value_head = 1;
    int rc = pf_model_create(&mc, 1, &rm);
    if (rc)
        return pf_fail_prefix(rc, "model.init: adding a value head");
    float *dst = pf_model_params(rm);
    const float *src = pf_model_params_const(lm);
    for (int i = 0; i < pf_model_num_tensors(lm); i++) {
        const pf_tensor *t = pf_model_tensor(lm, i);
        const pf_tensor *u = pf_model_find_tensor(rm, t->name);
        if (!u || u->numel != t->numel) {
            pf_model_free(rm);
            return pf_fail(PF_ERR_RUNTIME,
                           "model.init: tensor %s has no counterpart with a "
                           "value head",
                           t->name);
        }
        memcpy(dst + u->offset, src + t->offset, sizeof(float) * t->numel);
    }
    pf_rm_init_value_head(rm, (uint64_t)tr->cfg->seed);
    pf_model_free(lm);
    tr->policy = rm;
    if (tr->rank == 0)
        printf("rm: model.init has no value head; added v_head (std 1/sqrt(D+1), seed %lld)\n",
               (long long)tr->cfg->seed);
    return PF_OK;
}

/* The dataset rm.norm_data names (eval falls back to train, with a note on rank 0). */
static pf_dataset *norm_dataset(pf_trainer *tr)
{
    static int noted;
    if (strcmp(tr->cfg->rm_norm_data, "train") == 0)
        return &tr->train;
    if (tr->eval.n > 0)
        return &tr->eval;
    if (tr->rank == 0 && !noted) {
        printf("rm: rm.norm_data is \"eval\" but there is no eval data; normalising the rewards "
               "on data.train\n");
        fflush(stdout);
    }
    noted = 1;
    return &tr->train;
}

void pf_rm_norm_from_values(const double *table, int n_pairs, pf_reward_norm *norm)
{
    const int n = 2 * n_pairs;
    double sum = 0.0, sq = 0.0;
    for (int i = 0; i < n; i++)
        sum += table[(size_t)i * PF_SCORE_FIELDS + PF_SCORE_SUM];
    const double mean = n > 0 ? sum / n : 0.0;
    for (int i = 0; i < n; i++) {
        double d = table[(size_t)i * PF_SCORE_FIELDS + PF_SCORE_SUM] - mean;
        sq += d * d;
    }
    norm->mean = mean;
    norm->std = n > 0 ? sqrt(sq / n) : 1.0;
    if (!(norm->std > 0.0))
        norm->std = 1.0; /* constant rewards: scores are only shifted */
    norm->n = n;
}

int pf_rm_norm_stats(pf_trainer *tr, pf_reward_norm *norm)
{
    pf_dataset *ds = norm_dataset(tr);
    double *table = malloc(sizeof(double) * (size_t)(ds->n ? ds->n : 1) * 2 * PF_SCORE_FIELDS);
    int rc = pf_dist_agree(
        table ? PF_OK : pf_fail(PF_ERR_RUNTIME, "rm.norm_data: out of memory for the rewards"));
    if (!rc)
        rc = pf_score_dataset_values(tr->policy, tr->ws, ds, (int)tr->cfg->micro_batch, table);
    if (!rc)
        pf_rm_norm_from_values(table, ds->n, norm);
    free(table);
    return rc ? pf_fail_prefix(rc, "rm.norm_data (%s)", ds->source) : PF_OK;
}
