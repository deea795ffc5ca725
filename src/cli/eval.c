/*
 * eval.c: `prefopt-mpi eval --checkpoint CKPT [--reference CKPT] --data FILE
 *          [--out report.json] [--beta B] [--format dpo|trl] [--micro-batch N]`
 *
 * Held-out pairwise evaluation, under mpirun or alone: every pair's chosen and rejected
 * completions are scored by the policy (and the reference), in fixed chunks spread over
 * the ranks (score.h), so the report is the same on every rank count. Rank 0 prints a
 * summary and writes the JSON report (DESIGN.md section 2):
 *   win_rate          share of pairs with implied reward margin
 *                     beta * [(pi+ - ref+) - (pi- - ref-)] > 0 (ties count half);
 *                     without --reference it equals logprob_win_rate
 *   logprob_win_rate  share with log pi(y+|x) > log pi(y-|x) (ties half)
 *   mean_margin       mean implied reward margin (without a reference: beta*(pi+ - pi-))
 *   loss              mean sigmoid DPO loss -log sigmoid(margin)
 *   by_reason         {reason: {n, win_rate, logprob_win_rate}} from metadata.reason
 * A reward model (a checkpoint written by algorithm rm) is evaluated by its rewards
 * instead (the value head at each completion's last token): win_rate is its pairwise
 * accuracy (r+ > r-, ties half), mean_margin the mean r+ - r- (raw rewards), loss the
 * Bradley-Terry loss -log sigmoid(r+ - r-); logprob_win_rate still compares the LM
 * head's log-probs; "reward_model": true marks such a report.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "prefopt/checkpoint.h"
#include "prefopt/config.h"
#include "prefopt/data_prep.h"
#include "prefopt/dist.h"
#include "prefopt/error.h"
#include "prefopt/fsutil.h"
#include "prefopt/losses.h"
#include "prefopt/score.h"

static const char USAGE[] =
    "usage: prefopt-mpi eval --checkpoint CKPT [--reference CKPT] --data FILE\n"
    "                        [--out report.json] [--beta B] [--format dpo|trl]\n"
    "                        [--micro-batch N]\n\n"
    "Pairwise evaluation of a policy on preference data (e.g. the held-out set): win rate\n"
    "from the implied reward margin against the reference, log-prob win rate, mean margin,\n"
    "DPO loss, and a breakdown by metadata.reason. CKPT / the reference may be run\n"
    "directories (their newest valid checkpoint). Runs under mpirun too; the report does not\n"
    "depend on the rank count. --beta defaults to the checkpoint's dpo.beta (else 0.1).\n"
    "A reward model (algorithm rm) is scored by its rewards: win_rate is then its pairwise\n"
    "accuracy r+ > r- and loss the Bradley-Terry loss (no --reference).\n\n"
    "       prefopt-mpi eval --generations FILE --checks CHECKS.json [--checkpoint CKPT]\n"
    "                        [--out report.json]\n\n"
    "Style regressions: scores `generate` output lines with the graders of CHECKS.json\n"
    "(docs/graders.md) and reports each check's pass rate (CKPT's tokenizer counts tokens\n"
    "for token-length checks).\n";

typedef struct {
    const char *checkpoint, *reference, *data, *out, *beta, *format, *micro;
    const char *generations, *checks;
} eval_args;

/* One pair's outcome. */
typedef struct {
    double margin, lp_margin;
    const char *reason;
} pair_result;

/* The data-preparation config: the checkpoint's training config when it has one
 * (same template and truncation as training), else defaults sized to the model. */
static int eval_config(const char *ckpt_config, const pf_model *m, const eval_args *a,
                       pf_config *cfg)
{
    char sets[4][PF_PATH_MAX + 32];
    const char *set_ptrs[4] = {sets[0], sets[1], sets[2], sets[3]};
    snprintf(sets[0], sizeof sets[0], "data.train=%s", a->data);
    snprintf(sets[1], sizeof sets[1], "data.format=%s", a->format ? a->format : "dpo");
    snprintf(sets[2], sizeof sets[2], "algorithm=dpo");
    snprintf(sets[3], sizeof sets[3], "train.micro_batch=1");
    if (ckpt_config && pf_config_from_text(ckpt_config, a->checkpoint, set_ptrs, 4, cfg) == PF_OK)
        return PF_OK;
    int T = pf_model_get_config(m)->max_seq_len;
    char text[512];
    snprintf(text, sizeof text,
             "{\"run_dir\": \"-\", \"train\": {\"steps\": 1, \"global_batch\": 1}, "
             "\"model\": {\"max_seq_len\": %d}, \"data\": {\"max_length\": %d, "
             "\"max_prompt_length\": %d}}",
             T, T, T / 2);
    return pf_config_from_text(text, "eval defaults", set_ptrs, 4, cfg);
}

/* Loads policy, tokenizer, optional reference, and the examples. */
static int eval_load(const eval_args *a, pf_model **policy, pf_model **ref, pf_tokenizer **tok,
                     pf_config *cfg, pf_dataset *ds, int *is_rm)
{
    pf_checkpoint_meta meta = {0};
    int rc = pf_checkpoint_read_model_at(a->checkpoint, 0, policy, &meta, NULL);
    *is_rm = !rc && strcmp(meta.algorithm, "rm") == 0 && pf_model_get_config(*policy)->value_head;
    if (!rc && *is_rm && a->reference)
        rc = pf_fail(PF_ERR_USAGE,
                     "--reference: %s is a reward model (algorithm rm), scored "
                     "by its rewards without a reference",
                     a->checkpoint);
    if (!rc)
        rc = pf_checkpoint_read_tokenizer(a->checkpoint, tok);
    if (!rc && a->reference)
        rc = pf_checkpoint_read_model_at(a->reference, 0, ref, NULL, NULL);
    if (!rc && *ref &&
        memcmp(pf_model_get_config(*ref), pf_model_get_config(*policy), sizeof(pf_model_config)))
        rc = pf_fail(PF_ERR_USAGE, "--reference: %s has another model shape than %s", a->reference,
                     a->checkpoint);
    if (!rc)
        rc = eval_config(meta.config_json, *policy, a, cfg);
    if (!rc)
        rc = pf_prep_examples(cfg, *tok, a->data, 2, ds);
    if (!rc && ds->n == 0)
        rc = pf_fail(PF_ERR_DATA, "%s: no usable pairs", a->data);
    pf_checkpoint_meta_clear(&meta);
    return rc;
}

/* Ties count half. */
static double win(double x) { return x > 0.0 ? 1.0 : x == 0.0 ? 0.5 : 0.0; }

/* Adds {n, win_rate, logprob_win_rate} for each reason, sorted by name. */
static void add_by_reason(cJSON *report, const pair_result *r, int n)
{
    cJSON *by = cJSON_AddObjectToObject(report, "by_reason");
    const char *done[256];
    int n_done = 0;
    for (int pass = 0; pass < n && n_done < 256; pass++) {
        const char *next = NULL; /* the smallest reason not yet reported */
        for (int i = 0; i < n; i++) {
            int seen = 0;
            for (int k = 0; k < n_done; k++)
                seen |= strcmp(done[k], r[i].reason) == 0;
            if (r[i].reason[0] && !seen && (!next || strcmp(r[i].reason, next) < 0))
                next = r[i].reason;
        }
        if (!next)
            break;
        double cnt = 0, w = 0, lw = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(r[i].reason, next) == 0)
                cnt += 1, w += win(r[i].margin), lw += win(r[i].lp_margin);
        cJSON *o = cJSON_AddObjectToObject(by, next);
        cJSON_AddNumberToObject(o, "n", cnt);
        cJSON_AddNumberToObject(o, "win_rate", w / cnt);
        cJSON_AddNumberToObject(o, "logprob_win_rate", lw / cnt);
        done[n_done++] = next;
    }
}

/* The report object from the per-pair results. */
static cJSON *build_report(const pair_result *r, int n, double beta, int has_ref, int dropped,
                           int is_rm)
{
    double w = 0, lw = 0, margin = 0, loss = 0;
    for (int i = 0; i < n; i++) {
        w += win(r[i].margin);
        lw += win(r[i].lp_margin);
        margin += r[i].margin;
        loss += -pf_log_sigmoid(r[i].margin);
    }
    cJSON *rep = cJSON_CreateObject();
    cJSON_AddNumberToObject(rep, "n_pairs", n);
    cJSON_AddNumberToObject(rep, "n_dropped", dropped);
    cJSON_AddNumberToObject(rep, "win_rate", w / n);
    cJSON_AddNumberToObject(rep, "logprob_win_rate", lw / n);
    cJSON_AddNumberToObject(rep, "mean_margin", margin / n);
    cJSON_AddNumberToObject(rep, "loss", loss / n);
    if (!is_rm)
        cJSON_AddNumberToObject(rep, "beta", beta);
    cJSON_AddBoolToObject(rep, "has_reference", has_ref);
    cJSON_AddBoolToObject(rep, "reward_model", is_rm);
    add_by_reason(rep, r, n);
    return rep;
}

/* Scores every pair and, on rank 0, prints and writes the report. */
static int eval_run(const eval_args *a, pf_model *policy, pf_model *ref, pf_config *cfg,
                    pf_dataset *ds, int is_rm)
{
    const size_t cells = (size_t)ds->n * 2 * PF_SCORE_FIELDS;
    const int chunk = a->micro ? atoi(a->micro) : 8;
    double beta = a->beta ? atof(a->beta) : cfg->dpo_beta;
    double *pol = calloc(cells, sizeof(double)), *rs = calloc(cells, sizeof(double));
    pair_result *res = calloc((size_t)ds->n, sizeof *res);
    int rc = pol && rs && res ? PF_OK : pf_fail(PF_ERR_RUNTIME, "eval: out of memory");
    if (!rc && (chunk < 1 || !(beta > 0)))
        rc = pf_fail(PF_ERR_USAGE, "eval: --micro-batch must be >= 1 and --beta > 0");
    rc = pf_dist_agree(rc); /* before any collective: every rank takes the same path */
    if (!rc)
        rc = pf_score_dataset(policy, NULL, ds, chunk, pol);
    if (!rc && ref)
        rc = pf_score_dataset(ref, NULL, ds, chunk, rs);
    if (!rc && is_rm) /* rs: the rewards (PF_SCORE_SUM) */
        rc = pf_score_dataset_values(policy, NULL, ds, chunk, rs);
    for (int i = 0; i < ds->n && !rc; i++) {
        const double *p = pol + (size_t)i * 2 * PF_SCORE_FIELDS,
                     *q = rs + (size_t)i * 2 * PF_SCORE_FIELDS;
        res[i].lp_margin = p[PF_SCORE_SUM] - p[PF_SCORE_FIELDS + PF_SCORE_SUM];
        res[i].margin =
            beta * (res[i].lp_margin - (q[PF_SCORE_SUM] - q[PF_SCORE_FIELDS + PF_SCORE_SUM]));
        if (is_rm)
            res[i].margin = q[PF_SCORE_SUM] - q[PF_SCORE_FIELDS + PF_SCORE_SUM];
        res[i].reason = ds->ex[i].reason;
    }
    if (!rc && pf_dist_rank() == 0) {
        cJSON *rep = build_report(res, ds->n, beta, ref != NULL, ds->dropped, is_rm);
        char *text = cJSON_Print(rep);
        printf("eval: %d pairs%s | win_rate %.3f | logprob_win_rate %.3f | mean_margin %.4f | "
               "loss %.4f\n",
               ds->n, is_rm ? " (reward model: win_rate = reward accuracy)" : "",
               cJSON_GetObjectItem(rep, "win_rate")->valuedouble,
               cJSON_GetObjectItem(rep, "logprob_win_rate")->valuedouble,
               cJSON_GetObjectItem(rep, "mean_margin")->valuedouble,
               cJSON_GetObjectItem(rep, "loss")->valuedouble);
        if (a->out && text)
            rc = pf_write_file_atomic(a->out, text, strlen(text));
        cJSON_free(text);
        cJSON_Delete(rep);
    }
    free(pol), free(rs), free(res);
    return rc;
}

int pf_cmd_eval(int argc, char **argv)
{
    eval_args a = {0};
    const pf_cli_opt opts[] = {{"checkpoint", &a.checkpoint, NULL},
                               {"reference", &a.reference, NULL},
                               {"data", &a.data, NULL},
                               {"out", &a.out, NULL},
                               {"beta", &a.beta, NULL},
                               {"format", &a.format, NULL},
                               {"micro-batch", &a.micro, NULL},
                               {"generations", &a.generations, NULL},
                               {"checks", &a.checks, NULL},
                               {NULL, NULL, NULL}};
    pf_cli_args args;
    int rc = pf_cli_parse("eval", argc, argv, opts, 0, &args);
    if (rc || args.help) {
        if (args.help && !rc)
            fputs(USAGE, stdout);
        return rc;
    }
    if (a.generations || a.checks) {
        if (!a.generations || !a.checks || a.data)
            return pf_cli_usage_error("eval", "--generations and --checks go together, "
                                              "without --data");
        return pf_eval_style(a.generations, a.checks, a.checkpoint, a.out);
    }
    if (!a.checkpoint || !a.data)
        return pf_cli_usage_error("eval", "--checkpoint and --data are required");
    if ((rc = pf_dist_init(&argc, &argv)))
        return rc;
    pf_model *policy = NULL, *ref = NULL;
    pf_tokenizer *tok = NULL;
    pf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    pf_dataset ds;
    memset(&ds, 0, sizeof ds);
    int is_rm = 0;
    rc = pf_dist_agree(eval_load(&a, &policy, &ref, &tok, &cfg, &ds, &is_rm));
    if (!rc)
        rc = pf_dist_agree(eval_run(&a, policy, ref, &cfg, &ds, is_rm));
    pf_dataset_free(&ds);
    pf_config_free(&cfg);
    pf_tokenizer_free(tok);
    pf_model_free(ref);
    pf_model_free(policy);
    return pf_cli_mpi_finish(rc);
}
