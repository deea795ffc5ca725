/*
 * sft.c: supervised fine-tuning as a pf_algo_ops: the weighted token NLL, normalised
 * by the global sum of token weights. The weights come with the examples: assistant
 * tokens weigh their message's weight (1 unless "weight": 0), every other token
 * sft.prompt_loss_weight (applied when the data is tokenized).
 */
#include <string.h>

#include "prefopt/algo.h"
#include "prefopt/error.h"
#include "prefopt/score.h"

enum { S_NLL, S_WEIGHT, S_TOKENS, S_COUNT };
static const char *const METRICS[] = {"loss", "num_tokens"};

/* Sums the token weights of the global batch. */
static void sft_begin_step(pf_algo_state *st, pf_example *const *batch, int n)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const pf_seq *s = &batch[i]->seq[0];
        for (int t = 1; t < s->len; t++)
            total += s->weight[t];
    }
    st->n_examples = n;
    st->weight_total = total > 0.0 ? total : 1.0;
}

static void sft_micro_batch(pf_algo_state *st, pf_example *const *ex, int n, const float *logprobs,
                            int T, float *dlogprobs, double *sums)
{
    for (int i = 0; i < n; i++) {
        const pf_seq *s = &ex[i]->seq[0];
        const float *lp = logprobs + (size_t)i * T;
        float *d = dlogprobs + (size_t)i * T;
        memset(d, 0, sizeof(float) * (size_t)T);
        for (int t = 1; t < s->len; t++) {
            float w = s->weight[t];
            if (w == 0.0f)
                continue;
            sums[S_NLL] += -(double)w * lp[t - 1];
            sums[S_WEIGHT] += w;
            sums[S_TOKENS] += 1.0;
            d[t - 1] = (float)(-(double)w / st->weight_total);
        }
    }
}

/* Evaluation from a precomputed score: the weighted NLL and its weight. */
static void sft_score_example(pf_algo_state *st, const pf_example *e, const double *scores,
                              double *sums)
{
    (void)st;
    (void)e;
    sums[S_NLL] += -scores[PF_SCORE_SUM];
    sums[S_WEIGHT] += scores[PF_SCORE_COUNT];
    sums[S_TOKENS] += scores[PF_SCORE_COUNT];
}

static void sft_finalize(const pf_algo_state *st, const double *s, double *m)
{
    (void)st;
    m[0] = s[S_WEIGHT] > 0 ? s[S_NLL] / s[S_WEIGHT] : 0.0;
    m[1] = s[S_TOKENS];
}

const pf_algo_ops pf_algo_sft = {
    .name = "sft",
    .n_seq = 1,
    .n_sums = S_COUNT,
    .n_metrics = 2,
    .metric_names = METRICS,
    .begin_step = sft_begin_step,
    .micro_batch = sft_micro_batch,
    .finalize = sft_finalize,
    .score_example = sft_score_example,
};

/* The online algorithms: the trainer runs them through its rollout path
 * (src/train/online_*.c, on rl_math.h); only their names are needed here. */
const pf_algo_ops pf_algo_ppo = {.name = "ppo", .n_seq = 1, .online = 1};
const pf_algo_ops pf_algo_grpo = {.name = "grpo", .n_seq = 1, .online = 1};

const pf_algo_ops *pf_algo_select(const pf_config *cfg, pf_algo_state *st)
{
    memset(st, 0, sizeof *st);
    st->dpo.beta = cfg->dpo_beta;
    st->dpo.label_smoothing = cfg->dpo_label_smoothing;
    pf_dpo_loss_from_name(cfg->dpo_loss_type, &st->dpo.type);
    st->rpo_alpha = cfg->dpo_rpo_alpha;
    st->prompt_loss_weight = cfg->sft_prompt_loss_weight;
    st->rm_center_coef = cfg->rm_center_coef;
    st->rm_use_margin = cfg->rm_use_margin;
    if (strcmp(cfg->algorithm, "sft") == 0)
        return &pf_algo_sft;
    if (strcmp(cfg->algorithm, "dpo") == 0)
        return &pf_algo_dpo;
    if (strcmp(cfg->algorithm, "rm") == 0)
        return &pf_algo_rm;
    if (strcmp(cfg->algorithm, "ppo") == 0)
        return &pf_algo_ppo;
    if (strcmp(cfg->algorithm, "grpo") == 0)
        return &pf_algo_grpo;
    pf_fail(PF_ERR_USAGE, "algorithm: \"%s\" is not supported (sft, dpo, rm, ppo, grpo)",
            cfg->algorithm);
    return NULL;
}

void pf_algo_combine_slots(const pf_algo_ops *algo, const double *slots, int n_slots, double *sums)
{
    const int S = algo->n_sums;
    for (int s = 0; s < S; s++) {
        const int op = algo->sum_ops ? algo->sum_ops[s] : PF_SUM_ADD;
        double acc = op == PF_SUM_ADD || n_slots == 0 ? 0.0 : slots[s];
        for (int k = 0; k < n_slots; k++) {
            double v = slots[(size_t)k * S + s];
            if (op == PF_SUM_ADD)
                acc += v;
            else if (op == PF_SUM_MIN)
                acc = v < acc ? v : acc;
            else
                acc = v > acc ? v : acc;
        }
        sums[s] = acc;
    }
}
