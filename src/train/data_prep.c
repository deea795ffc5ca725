/*
 * data_prep.c: JSONL file -> validated records -> ChatML segments -> token ids with
 * per-token loss weights -> truncated examples (see data_prep.h).
 *
 * Segments are tokenized one by one: special markers as their single ids, every other
 * segment with special-token text treated as plain text (so user content can never
 * forge a chat marker). A token's weight is its segment's: DPO counts only loss
 * segments of the completion; SFT weighs loss segments 1, other completion text 0 and
 * prompt text sft.prompt_loss_weight. Truncation follows TRL: an over-long pair first
 * loses prompt tokens down to max_prompt_length (keep_end keeps the prompt's end), then
 * completion tokens beyond max_length; SFT conversations keep their first max_length
 * tokens. An example left without any counted token is dropped and counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/chat.h"
#include "prefopt/checkpoint.h"
#include "prefopt/data.h"
#include "prefopt/data_prep.h"
#include "prefopt/dist.h"
#include "prefopt/error.h"
#include "prefopt/tokenizer.h"

/* Token ids and weights of one rendered sequence, with its prompt length. */
typedef struct {
    pf_token_ids ids;
    float *weight;
    size_t wcap;
    int prompt_len;
} token_seq;

int pf_prep_tokenizer(const pf_config *cfg, pf_tokenizer **out)
{
    const char *vocab = cfg->tokenizer_vocab, *merges = cfg->tokenizer_merges;
    if (vocab[0] && merges[0])
        return pf_tokenizer_load(vocab, merges, out);
    if (vocab[0])
        return pf_tokenizer_load_hf(vocab, out);
    if (strcmp(cfg->model_init, "random") != 0)
        return pf_checkpoint_read_tokenizer(cfg->model_init, out);
    return pf_fail(PF_ERR_USAGE, "model.tokenizer.vocab: required when model.init is \"random\" "
                                 "(or give a model.init checkpoint that carries a tokenizer)");
}

/* Grows the weight array to hold n entries. */
static int reserve_weights(token_seq *s, size_t n)
{
    if (n <= s->wcap)
        return PF_OK;
    size_t cap = s->wcap ? s->wcap : 256;
    while (cap < n)
        cap *= 2;
    float *w = realloc(s->weight, sizeof(float) * cap);
    if (!w)
        return pf_fail(PF_ERR_RUNTIME, "tokenizing: out of memory");
    s->weight = w;
    s->wcap = cap;
    return PF_OK;
}

/* The weight of a segment's tokens under the algorithm (n_seq 2: DPO; 1: SFT). */
static float segment_weight(const pf_chat_segment *g, int n_seq, double plw)
{
    if (g->loss)
        return 1.0f;
    if (n_seq == 2 || g->completion)
        return 0.0f;
    return (float)plw;
}

/* Tokenizes the rendering c into s (ids, weights, prompt length). */
static int tokenize_chat(const pf_tokenizer *tok, const pf_chat *c, int n_seq, double plw,
                         token_seq *s)
{
    s->ids.len = 0;
    s->prompt_len = -1;
    for (size_t i = 0; i < c->n; i++) {
        const pf_chat_segment *g = &c->segs[i];
        size_t before = s->ids.len;
        if (g->completion && s->prompt_len < 0)
            s->prompt_len = (int)before;
        int rc = pf_tokenizer_encode(tok, c->text + g->offset, g->len,
                                     g->special ? 0 : PF_TOKENIZE_NO_SPECIAL, &s->ids);
        if (!rc)
            rc = reserve_weights(s, s->ids.len);
        if (rc)
            return rc;
        for (size_t t = before; t < s->ids.len; t++)
            s->weight[t] = segment_weight(g, n_seq, plw);
    }
    if (s->prompt_len < 0)
        s->prompt_len = (int)s->ids.len;
    if (s->ids.len > 0)
        s->weight[0] = 0.0f;
    return PF_OK;
}

/* Drops prompt tokens (keep_end: from the front) so the prompt has at most keep tokens. */
static void cut_prompt(token_seq *s, int keep, int keep_end)
{
    int drop = s->prompt_len - keep;
    if (drop <= 0)
        return;
    size_t from = keep_end ? 0 : (size_t)keep, n = s->ids.len - (size_t)drop - from;
    memmove(s->ids.ids + from, s->ids.ids + from + drop, sizeof(int32_t) * n);
    memmove(s->weight + from, s->weight + from + drop, sizeof(float) * n);
    s->ids.len -= (size_t)drop;
    s->prompt_len = keep;
    s->weight[0] = 0.0f;
}

/* Applies the truncation rules to the sequences of one example. */
static void truncate_example(const pf_config *cfg, token_seq *seqs, int n_seq)
{
    const int max_len = (int)cfg->max_length, max_prompt = (int)cfg->max_prompt_length;
    const int keep_end = strcmp(cfg->truncation_mode, "keep_end") == 0;
    int too_long = 0;
    for (int s = 0; s < n_seq; s++)
        too_long |= (int)seqs[s].ids.len > max_len;
    for (int s = 0; s < n_seq && too_long && n_seq == 2; s++)
        cut_prompt(&seqs[s], max_prompt, keep_end);
    for (int s = 0; s < n_seq; s++)
        if ((int)seqs[s].ids.len > max_len)
            seqs[s].ids.len = (size_t)max_len;
}

/* Whether a sequence has at least one counted token (and two tokens at all). */
static int has_counted_token(const token_seq *s)
{
    for (size_t t = 1; t < s->ids.len; t++)
        if (s->weight[t] > 0.0f)
            return 1;
    return 0;
}

/* Renders, tokenizes and truncates one record; appends it to ds unless it is dropped. */
static int prep_record(const pf_config *cfg, const pf_tokenizer *tok, const pf_record *rec,
                       int n_seq, pf_chat *chat, token_seq *seqs, pf_dataset *ds)
{
    static const pf_chat_part PARTS[2][2] = {{PF_CHAT_CONVERSATION, 0},
                                             {PF_CHAT_CHOSEN, PF_CHAT_REJECTED}};
    int rc = PF_OK, keep = 1;
    for (int s = 0; s < n_seq && !rc; s++) {
        rc = pf_chat_render(chat, rec, PARTS[n_seq - 1][s]);
        if (!rc)
            rc = tokenize_chat(tok, chat, n_seq, cfg->sft_prompt_loss_weight, &seqs[s]);
    }
    if (rc)
        return pf_fail_prefix(rc, "%s:%ld", ds->source, rec->line);
    truncate_example(cfg, seqs, n_seq);
    for (int s = 0; s < n_seq; s++)
        keep &= has_counted_token(&seqs[s]);
    if (!keep) {
        ds->dropped++;
        return PF_OK;
    }
    pf_seq view[2];
    for (int s = 0; s < n_seq; s++)
        view[s] = (pf_seq){.ids = seqs[s].ids.ids,
                           .weight = seqs[s].weight,
                           .len = (int)seqs[s].ids.len,
                           .prompt_len = seqs[s].prompt_len};
    rc = pf_dataset_add(ds, view, n_seq, rec->reason, rec->line);
    if (!rc)
        ds->ex[ds->n - 1].margin = rec->margin;
    return rc;
}

/* Prints each data problem once (rank 0), as "FILE:LINE: error: <rule>: <detail>". */
static void report_problem(const pf_data_diag *diag, void *user)
{
    (void)user;
    char line[2048];
    if (pf_dist_rank() == 0)
        fprintf(stderr, "%s\n", pf_data_diag_format(diag, line, sizeof line));
}

int pf_prep_records(const char *path, pf_data_format fmt, pf_record_set *set)
{
    pf_data_options opts;
    pf_data_summary summary;
    pf_data_options_init(&opts);
    opts.report = report_problem;
    int rc = pf_data_load_file(path, fmt, &opts, set, &summary);
    if (rc == PF_ERR_DATA && summary.errors > 0) /* each was printed by report_problem */
        pf_fail(PF_ERR_DATA,
                "prefopt-mpi: error: %s: %ld data error(s) reported above; "
                "nothing was computed",
                path, summary.errors);
    return rc;
}

/* The data format of the config for an algorithm with n_seq sequences per example. */
static int choose_format(const pf_config *cfg, int n_seq, pf_data_format *fmt)
{
    if (strcmp(cfg->data_format, "auto") == 0) {
        *fmt = n_seq == 2 ? PF_DATA_DPO : PF_DATA_SFT;
        return PF_OK;
    }
    if (pf_data_format_parse(cfg->data_format, fmt) != PF_OK)
        return pf_fail(PF_ERR_USAGE, "data.format: unknown format %s", cfg->data_format);
    int pairs = *fmt == PF_DATA_DPO || *fmt == PF_DATA_TRL;
    if (pairs != (n_seq == 2))
        return pf_fail(PF_ERR_USAGE, "data.format: %s data does not fit algorithm %s",
                       cfg->data_format, cfg->algorithm);
    return PF_OK;
}

int pf_prep_examples(const pf_config *cfg, const pf_tokenizer *tok, const char *path, int n_seq,
                     pf_dataset *ds)
{
    pf_data_format fmt;
    pf_record_set set = {0};
    pf_chat chat;
    token_seq seqs[2];
    memset(seqs, 0, sizeof seqs);
    snprintf(ds->source, sizeof ds->source, "%s", path);
    int rc = choose_format(cfg, n_seq, &fmt);
    if (rc)
        return rc;
    rc = pf_prep_records(path, fmt, &set);
    pf_chat_init(&chat);
    for (size_t i = 0; i < set.n && !rc; i++)
        rc = prep_record(cfg, tok, &set.items[i], n_seq, &chat, seqs, ds);
    for (int s = 0; s < 2; s++) {
        pf_token_ids_free(&seqs[s].ids);
        free(seqs[s].weight);
    }
    pf_chat_free(&chat);
    pf_record_set_free(&set);
    return rc;
}

int pf_prep_prompt_ids(const pf_tokenizer *tok, const pf_record *rec, pf_token_ids *out)
{
    pf_chat chat;
    token_seq seq;
    memset(&seq, 0, sizeof seq);
    seq.ids = *out;
    pf_chat_init(&chat);
    int rc = pf_chat_render(&chat, rec, PF_CHAT_PROMPT);
    if (!rc)
        rc = tokenize_chat(tok, &chat, 2, 0.0, &seq);
    pf_chat_free(&chat);
    free(seq.weight);
    *out = seq.ids;
    return rc;
}
