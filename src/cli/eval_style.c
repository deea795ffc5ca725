/*
 * eval_style.c: `prefopt-mpi eval --generations FILE --checks CHECKS.json [--out R]`:
 * style regressions over generated completions. FILE holds `generate` output lines
 * ({"completion": ..., "item": {...}}); every grader of CHECKS.json (docs/graders.md)
 * scores every completion against its item. A completion passes a check when the check
 * applies and scores 1; the report gives, per check, how many completions it applied to,
 * how many passed and the mean score, plus the share of completions passing every check
 * that applies to them. With --checkpoint, token-length checks count with its tokenizer.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "prefopt/checkpoint.h"
#include "prefopt/error.h"
#include "prefopt/fsutil.h"
#include "prefopt/graders.h"
#include "prefopt/tokenizer.h"

/* Per-check tallies. */
typedef struct {
    double applicable, passed, score_sum;
} check_tally;

/* Grades one generate output line; returns 1 when it passed every applicable check. */
static int grade_line(const pf_grader_set *set, const cJSON *row, pf_grade_completion *c,
                      pf_tokenizer *tok, check_tally *t, double *scores, int *app, int *rc)
{
    const cJSON *comp = cJSON_GetObjectItemCaseSensitive(row, "completion");
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(row, "item");
    if (!cJSON_IsString(comp)) {
        *rc = pf_fail(PF_ERR_DATA, "no \"completion\" string");
        return 0;
    }
    *rc = pf_grade_completion_split(c, comp->valuestring, strlen(comp->valuestring));
    c->sample.count_tokens = tok ? pf_tokenizer_count_tokens : NULL;
    c->sample.count_tokens_ctx = tok;
    if (!*rc)
        *rc = pf_grader_set_score_item(set, &c->sample, cJSON_IsObject(item) ? item : NULL, scores,
                                       app);
    int all = 1;
    for (size_t i = 0; i < set->n && !*rc; i++) {
        if (!app[i])
            continue;
        int pass = scores[i] >= 1.0;
        t[i].applicable += 1;
        t[i].passed += pass;
        t[i].score_sum += scores[i];
        all &= pass;
    }
    return all;
}

/* The JSON report from the tallies. */
static cJSON *style_report(const pf_grader_set *set, const check_tally *t, long n, long all)
{
    cJSON *rep = cJSON_CreateObject(), *checks;
    cJSON_AddNumberToObject(rep, "n_samples", (double)n);
    cJSON_AddNumberToObject(rep, "pass_rate_all", n ? (double)all / (double)n : 0.0);
    checks = cJSON_AddObjectToObject(rep, "checks");
    for (size_t i = 0; i < set->n; i++) {
        cJSON *o = cJSON_AddObjectToObject(checks, pf_grader_name(set->items[i]));
        double a = t[i].applicable;
        cJSON_AddNumberToObject(o, "applicable", a);
        cJSON_AddNumberToObject(o, "passed", t[i].passed);
        cJSON_AddNumberToObject(o, "pass_rate", a > 0 ? t[i].passed / a : 0.0);
        cJSON_AddNumberToObject(o, "mean_score", a > 0 ? t[i].score_sum / a : 0.0);
    }
    return rep;
}

/* Reads every line of path and grades it. */
static int grade_file(const char *path, const pf_grader_set *set, pf_tokenizer *tok, check_tally *t,
                      long *n, long *all)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return pf_fail(PF_ERR_USAGE, "%s: cannot open", path);
    double *scores = calloc(set->n + 1, sizeof(double));
    int *app = calloc(set->n + 1, sizeof(int)), rc = PF_OK;
    pf_grade_completion c;
    pf_grade_completion_init(&c);
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    while (!rc && getline(&line, &cap, fp) > 0) {
        lineno++;
        cJSON *row = cJSON_Parse(line);
        if (!row) {
            rc = pf_fail(PF_ERR_DATA, "%s:%ld: error: json: not a JSON object", path, lineno);
            break;
        }
        *all += grade_line(set, row, &c, tok, t, scores, app, &rc);
        (*n)++;
        cJSON_Delete(row);
        if (rc)
            pf_fail_prefix(rc, "%s:%ld", path, lineno);
    }
    free(line), free(scores), free(app);
    pf_grade_completion_free(&c);
    fclose(fp);
    return rc;
}

int pf_eval_style(const char *generations, const char *checks, const char *checkpoint,
                  const char *out)
{
    pf_grader_set set = {0};
    pf_tokenizer *tok = NULL;
    long n = 0, all = 0;
    int rc = pf_grader_load_file(checks, &set);
    if (!rc && checkpoint)
        rc = pf_checkpoint_read_tokenizer(checkpoint, &tok);
    check_tally *t = rc ? NULL : calloc(set.n + 1, sizeof *t);
    if (!rc && !t)
        rc = pf_fail(PF_ERR_RUNTIME, "eval: out of memory");
    if (!rc)
        rc = grade_file(generations, &set, tok, t, &n, &all);
    if (!rc) {
        cJSON *rep = style_report(&set, t, n, all);
        char *text = cJSON_Print(rep);
        printf("style: %ld completions | passing every applicable check: %.3f\n", n,
               n ? (double)all / (double)n : 0.0);
        for (size_t i = 0; i < set.n; i++)
            if (t[i].applicable > 0)
                printf("  %-24s %5.3f of %.0f\n", pf_grader_name(set.items[i]),
                       t[i].passed / t[i].applicable, t[i].applicable);
        if (out && text)
            rc = pf_write_file_atomic(out, text, strlen(text));
        cJSON_free(text);
        cJSON_Delete(rep);
    }
    free(t);
    pf_tokenizer_free(tok);
    pf_grader_set_free(&set);
    return rc;
}
