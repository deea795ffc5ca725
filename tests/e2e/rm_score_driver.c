/*
 * rm_score_driver.c: scores a pair file with a reward model through reward_model.h
 * and prints the normalised scores' mean and population std over both completions of
 * every pair, as JSON: {"n": N, "mean": m, "std": s}. Used by rm_e2e.sh to check that
 * the stored /reward normalisation makes the norm set mean 0 / std 1.
 * usage: rm_score_driver RM_CKPT_OR_RUN PAIRS.jsonl
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/checkpoint.h"
#include "prefopt/config.h"
#include "prefopt/data_prep.h"
#include "prefopt/error.h"
#include "prefopt/examples.h"
#include "prefopt/reward_model.h"
#include "prefopt/tokenizer.h"

/* The checkpoint's own training config with data.train = the pair file. */
static int load_config(const char *ckpt, const char *pairs, pf_config *cfg)
{
    pf_model *m = NULL;
    pf_checkpoint_meta meta = {0};
    char set[1200];
    snprintf(set, sizeof set, "data.train=%s", pairs);
    const char *sets[1] = {set};
    int rc = pf_checkpoint_read_model_at(ckpt, 0, &m, &meta, NULL);
    if (!rc)
        rc = meta.config_json ? pf_config_from_text(meta.config_json, ckpt, sets, 1, cfg)
                              : pf_fail(PF_ERR_USAGE, "%s: no config", ckpt);
    pf_model_free(m);
    pf_checkpoint_meta_clear(&meta);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rm_score_driver RM_CKPT_OR_RUN PAIRS.jsonl\n");
        return 2;
    }
    pf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    pf_tokenizer *tok = NULL;
    pf_reward_model *rm = NULL;
    pf_dataset ds;
    memset(&ds, 0, sizeof ds);
    enum { PAIRS = 4 };
    const int T = 256;
    int32_t *tokens = malloc(sizeof(int32_t) * 2 * PAIRS * T), lengths[2 * PAIRS];
    uint8_t *need = malloc((size_t)2 * PAIRS * T);
    int rc = load_config(argv[1], argv[2], &cfg);
    if (!rc)
        rc = pf_checkpoint_read_tokenizer(argv[1], &tok);
    if (!rc)
        rc = pf_prep_examples(&cfg, tok, argv[2], 2, &ds);
    if (!rc)
        rc = pf_reward_model_load(argv[1], 2 * PAIRS, (int)cfg.max_length, &rm);
    double sum = 0.0, sq = 0.0, scores[2 * PAIRS];
    double *all = malloc(sizeof(double) * 2 * (size_t)(ds.n + 1));
    for (int first = 0; !rc && first < ds.n; first += PAIRS) {
        int n = ds.n - first < PAIRS ? ds.n - first : PAIRS;
        pf_example *ptrs[PAIRS];
        for (int i = 0; i < n; i++)
            ptrs[i] = &ds.ex[first + i];
        int len = pf_examples_pack(ptrs, n, 2, tokens, lengths, need);
        pf_batch b = {.tokens = tokens, .lengths = lengths, .B = 2 * n, .T = len};
        rc = pf_reward_model_score(rm, &b, scores);
        for (int k = 0; !rc && k < 2 * n; k++)
            all[2 * first + k] = scores[k];
    }
    const int N = 2 * ds.n;
    for (int i = 0; !rc && i < N; i++)
        sum += all[i];
    for (int i = 0; !rc && i < N; i++)
        sq += (all[i] - sum / N) * (all[i] - sum / N);
    if (!rc)
        printf("{\"n\": %d, \"mean\": %.9g, \"std\": %.9g}\n", N, sum / N, sqrt(sq / N));
    else
        fprintf(stderr, "rm_score_driver: error: %s\n", pf_error_message());
    free(all);
    free(tokens);
    free(need);
    pf_reward_model_free(rm);
    pf_dataset_free(&ds);
    pf_tokenizer_free(tok);
    pf_config_free(&cfg);
    return rc;
}
