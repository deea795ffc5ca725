/*
 * logprobs.c: `prefopt-mpi logprobs --checkpoint CKPT --tokens IDS.jsonl [--out FILE]`.
 *
 * Input: one JSON object per line, {"ids": [int, ...], "start": k} with
 * 1 <= k < len(ids) <= max_seq_len and every id in [0, vocab_size); blank lines are
 * skipped, extra keys ignored. Output: one line per input line,
 * {"logprob_sum": x, "token_logprobs": [...]} with token_logprobs[j] =
 * log p(ids[k+j] | ids[0..k+j-1]) for j in [0, len(ids) - k).
 * The whole input is validated before the model runs, so bad data (exit 3,
 * "FILE:LINE: error: <rule>: <detail>") never leaves partial output behind; --out is
 * written atomically. Each sequence runs alone (batch 1, T = len(ids)), so results do
 * not depend on the other lines.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "prefopt/checkpoint.h"
#include "prefopt/error.h"
#include "prefopt/fsutil.h"

static const char LOGPROBS_HELP[] =
    "usage: prefopt-mpi logprobs --checkpoint CKPT --tokens IDS.jsonl [--out FILE]\n"
    "\n"
    "Per-token log-probabilities of token id sequences under a checkpoint's model.\n"
    "Each input line is {\"ids\": [int, ...], \"start\": k} with 1 <= k < len(ids),\n"
    "len(ids) <= max_seq_len and ids in [0, vocab_size). Each output line is\n"
    "{\"logprob_sum\": x, \"token_logprobs\": [...]} where token_logprobs[j] =\n"
    "log p(ids[k+j] | ids[0..k+j-1]).\n"
    "\n"
    "  --checkpoint P  checkpoint file, or a run folder (its newest checkpoint)\n"
    "  --tokens FILE   JSONL input (blank lines skipped)\n"
    "  --out FILE      output file (default stdout), written atomically\n"
    "  --help          show this help\n"
    "\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 usage or checkpoint error,\n"
    "3 invalid input line (reported as FILE:LINE: error: <rule>: <detail>).\n";

/* One input sequence: ids[first .. first+len) of the shared id array. */
typedef struct {
    size_t first;
    int32_t len; /* also the batch's lengths[0] */
    int start;
} sequence;

/* All validated input sequences. */
typedef struct {
    int32_t *ids;
    size_t n_ids, cap_ids;
    sequence *seqs;
    size_t n_seqs, cap_seqs;
    int longest; /* max len over seqs: sizes the workspace */
} sequence_set;

/* The limits a line is checked against and where it came from. */
typedef struct {
    const char *file;
    long line;
    int vocab_size;
    int max_seq_len;
} line_ctx;

/* Frees the arrays of a sequence set. */
static void sequence_set_free(sequence_set *s)
{
    free(s->ids);
    free(s->seqs);
}

/* Grows *buf (element size elem) so that it holds at least need elements. */
static int reserve(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return PF_OK;
    size_t new_cap = *cap ? *cap : 256;
    while (new_cap < need)
        new_cap *= 2;
    void *grown = realloc(*buf, new_cap * elem);
    if (!grown)
        return pf_fail(PF_ERR_RUNTIME, "logprobs: out of memory reading the input");
    *buf = grown;
    *cap = new_cap;
    return PF_OK;
}

/* Records the data error "FILE:LINE: error: <rule>: <detail>". */
static int line_error(const line_ctx *c, const char *rule, const char *detail)
{
    return pf_fail(PF_ERR_DATA, "%s:%ld: error: %s: %s", c->file, c->line, rule, detail);
}

/* Whether item is a JSON number holding an integer in [lo, hi]. */
static int int_in(const cJSON *item, double lo, double hi)
{
    double v = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    return isfinite(v) && v == floor(v) && v >= lo && v <= hi;
}

/* Validates "ids" and appends them to set. */
static int take_ids(const cJSON *ids, const line_ctx *c, sequence_set *set, int *len)
{
    char detail[160];
    if (!cJSON_IsArray(ids))
        return line_error(c, "ids", ids ? "must be an array of integers" : "missing key \"ids\"");
    int n = cJSON_GetArraySize(ids);
    if (n > c->max_seq_len) {
        snprintf(detail, sizeof detail, "len(ids) = %d exceeds the model's max_seq_len %d", n,
                 c->max_seq_len);
        return line_error(c, "length", detail);
    }
    int rc = reserve((void **)&set->ids, &set->cap_ids, set->n_ids + (size_t)n, sizeof(int32_t));
    int i = 0;
    for (const cJSON *it = ids->child; rc == PF_OK && it; it = it->next, i++) {
        if (!int_in(it, 0, c->vocab_size - 1)) {
            snprintf(detail, sizeof detail, "ids[%d] is not an integer in [0, %d) (vocab_size)", i,
                     c->vocab_size);
            return line_error(c, "ids", detail);
        }
        set->ids[set->n_ids + (size_t)i] = (int32_t)it->valuedouble;
    }
    *len = n;
    return rc;
}

/* Parses and validates one non-blank line, appending its sequence to set. */
static int parse_line(const char *text, const line_ctx *c, sequence_set *set)
{
    char detail[160];
    int len = 0;
    cJSON *obj = cJSON_ParseWithOpts(text, NULL, 1);
    int rc = PF_OK;
    if (!obj)
        return line_error(c, "json", "not valid JSON");
    if (!cJSON_IsObject(obj))
        rc = line_error(c, "json", "expected a JSON object {\"ids\": [...], \"start\": k}");
    if (rc == PF_OK)
        rc = take_ids(cJSON_GetObjectItemCaseSensitive(obj, "ids"), c, set, &len);
    const cJSON *start = cJSON_GetObjectItemCaseSensitive(obj, "start");
    if (rc == PF_OK && !start)
        rc = line_error(c, "start", "missing key \"start\"");
    if (rc == PF_OK && !int_in(start, 1, len - 1)) {
        snprintf(detail, sizeof detail, "must be an integer k with 1 <= k < len(ids) = %d", len);
        rc = line_error(c, "start", detail);
    }
    if (rc == PF_OK)
        rc = reserve((void **)&set->seqs, &set->cap_seqs, set->n_seqs + 1, sizeof(sequence));
    if (rc == PF_OK) {
        set->seqs[set->n_seqs++] = (sequence){set->n_ids, len, (int)start->valuedouble};
        set->n_ids += (size_t)len;
        set->longest = len > set->longest ? len : set->longest;
    }
    cJSON_Delete(obj);
    return rc;
}

/* Whether the line holds only whitespace. */
static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 0;
    return 1;
}

/* Reads and validates the whole tokens file against the model's limits. */
static int read_tokens(const char *path, const pf_model_config *cfg, sequence_set *set)
{
    line_ctx c = {path, 0, cfg->vocab_size, cfg->max_seq_len};
    char *line = NULL;
    size_t cap = 0;
    int rc = PF_OK;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return pf_fail(PF_ERR_USAGE, "%s: cannot open: %s", path, strerror(errno));
    while (rc == PF_OK && getline(&line, &cap, fp) >= 0) {
        c.line++;
        if (!is_blank(line))
            rc = parse_line(line, &c, set);
    }
    if (rc == PF_OK && ferror(fp))
        rc = pf_fail(PF_ERR_RUNTIME, "%s: read failed", path);
    free(line);
    fclose(fp);
    return rc;
}

/* Writes one output line for sequence s from the forward's log-probs. */
static int write_result(FILE *fp, const sequence *s, const float *logprobs, long index)
{
    double sum = 0.0;
    for (int t = s->start - 1; t < s->len - 1; t++) {
        if (!isfinite(logprobs[t]))
            return pf_fail(PF_ERR_RUNTIME,
                           "logprobs: sequence %ld: non-finite log-prob at "
                           "position %d",
                           index + 1, t + 1);
        sum += logprobs[t];
    }
    fprintf(fp, "{\"logprob_sum\": %.17g, \"token_logprobs\": [", sum);
    for (int t = s->start - 1; t < s->len - 1; t++)
        fprintf(fp, t == s->start - 1 ? "%.9g" : ", %.9g", (double)logprobs[t]);
    fputs("]}\n", fp);
    return PF_OK;
}

/* Runs every sequence through the model (batch 1) and writes the results to fp. The
 * workspace is sized once for the longest input, not for max_seq_len: attention
 * memory grows with the square of the length and results do not depend on it. */
static int score_all(pf_model *model, const sequence_set *set, FILE *fp)
{
    pf_workspace *ws = NULL;
    if (set->n_seqs == 0)
        return PF_OK;
    float *logprobs = pf_calloc(sizeof(float) * (size_t)set->longest, "logprobs output");
    if (!logprobs)
        return PF_ERR_RUNTIME;
    int rc = pf_workspace_create(model, 1, set->longest, 0, &ws);
    for (size_t i = 0; rc == PF_OK && i < set->n_seqs; i++) {
        const sequence *s = &set->seqs[i];
        pf_batch batch = {set->ids + s->first, &s->len, 1, s->len};
        pf_forward_out out = {.logprobs = logprobs, .temperature = 1.0f};
        rc = pf_model_forward(model, ws, &batch, &out);
        if (rc == PF_OK)
            rc = write_result(fp, s, logprobs, (long)i);
    }
    pf_workspace_free(ws);
    pf_free(logprobs);
    return rc;
}

/* Loads the model, validates the input, then scores it into out_path (or stdout). */
static int run_logprobs(const char *ckpt, const char *tokens, const char *out_path)
{
    pf_model *model = NULL;
    sequence_set set = {0};
    pf_text_out out;
    int rc = pf_checkpoint_read_model(ckpt, 0, &model, NULL);
    if (rc != PF_OK)
        return rc;
    rc = read_tokens(tokens, pf_model_get_config(model), &set);
    if (rc == PF_OK)
        rc = pf_text_out_open(&out, out_path);
    if (rc == PF_OK) {
        rc = score_all(model, &set, out.fp);
        if (rc == PF_OK)
            rc = pf_text_out_commit(&out);
        else
            pf_text_out_abort(&out);
    }
    sequence_set_free(&set);
    pf_model_free(model);
    return rc;
}

int pf_cmd_logprobs(int argc, char **argv)
{
    const char *ckpt = NULL, *tokens = NULL, *out = NULL;
    const pf_cli_opt opts[] = {{"checkpoint", &ckpt, NULL},
                               {"tokens", &tokens, NULL},
                               {"out", &out, NULL},
                               {NULL, NULL, NULL}};
    pf_cli_args args;
    int rc = pf_cli_parse("logprobs", argc, argv, opts, 0, &args);
    if (rc != PF_OK)
        return rc;
    if (args.help) {
        fputs(LOGPROBS_HELP, stdout);
        return PF_OK;
    }
    if (!ckpt)
        return pf_cli_usage_error("logprobs", "--checkpoint is required");
    if (!tokens)
        return pf_cli_usage_error("logprobs", "--tokens is required");
    return run_logprobs(ckpt, tokens, out);
}
