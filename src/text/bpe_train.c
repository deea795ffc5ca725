/*
 * bpe_train.c: the BPE trainer's front end: counting pre-tokenized words from texts and
 * JSONL files, then handing the counts to pf_bpe_learn (bpe_learn.c).
 *
 * Invariants: words maps each distinct piece's bytes to its index i (= its entry
 * number), freq[i] is how often it was seen; texts are pre-tokenized with the GPT-2
 * rules of pretok.c without special-token splitting. Counting is order-free, so the
 * trained tokenizer does not depend on the order of files, lines or strings.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "text/tok_internal.h"
#include "text/unicode.h"

struct pf_bpe_trainer {
    pf_strmap words;
    int64_t *freq;
    size_t freq_cap;
};

int pf_bpe_trainer_new(pf_bpe_trainer **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out || pf_strmap_init(&(*out)->words, 1u << 16) != PF_OK) {
        free(*out);
        *out = NULL;
        return pf_fail(PF_ERR_RUNTIME, "train-tokenizer: out of memory");
    }
    return PF_OK;
}

void pf_bpe_trainer_free(pf_bpe_trainer *tr)
{
    if (!tr)
        return;
    pf_strmap_free(&tr->words);
    free(tr->freq);
    free(tr);
}

/* Counts one occurrence of the word w[0..n). */
static int count_word(pf_bpe_trainer *tr, const unsigned char *w, size_t n)
{
    int32_t i = pf_strmap_get(&tr->words, w, n);
    if (i >= 0) {
        tr->freq[i]++;
        return PF_OK;
    }
    if (tr->words.count == tr->freq_cap) {
        size_t cap = tr->freq_cap ? 2 * tr->freq_cap : 1 << 16;
        int64_t *f = realloc(tr->freq, cap * sizeof *f);
        if (!f)
            return pf_fail(PF_ERR_RUNTIME, "train-tokenizer: out of memory");
        tr->freq = f;
        tr->freq_cap = cap;
    }
    i = (int32_t)tr->words.count;
    tr->freq[i] = 1;
    return pf_strmap_add(&tr->words, w, n, i);
}

int pf_bpe_trainer_add_text(pf_bpe_trainer *tr, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t bad = pf_utf8_check(s, len);
    if (bad != len)
        return pf_fail(PF_ERR_DATA, "invalid UTF-8 at byte offset %zu", bad);
    for (size_t i = 0; i < len;) {
        size_t j = pf_pretok_next(s, len, i);
        int rc = count_word(tr, s + i, j - i);
        if (rc != PF_OK)
            return rc;
        i = j;
    }
    return PF_OK;
}

/* Adds every string value under item (recursively). */
static int add_strings(pf_bpe_trainer *tr, const cJSON *item)
{
    if (cJSON_IsString(item))
        return pf_bpe_trainer_add_text(tr, item->valuestring, strlen(item->valuestring));
    const cJSON *child;
    cJSON_ArrayForEach(child, item)
    {
        int rc = add_strings(tr, child);
        if (rc != PF_OK)
            return rc;
    }
    return PF_OK;
}

/* Whether line[0..n) holds only JSON whitespace. */
static int blank(const char *line, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", line[i]))
            return 0;
    return 1;
}

/* Adds the strings of one JSONL line; data errors name path:line_no. */
static int add_line(pf_bpe_trainer *tr, const char *line, size_t n, const char *path,
                    size_t line_no)
{
    size_t bad = pf_utf8_check((const unsigned char *)line, n);
    if (bad != n)
        return pf_fail(PF_ERR_DATA,
                       "%s:%zu: error: utf8: invalid UTF-8 at byte offset %zu "
                       "of the line",
                       path, line_no, bad);
    if (blank(line, n))
        return PF_OK;
    cJSON *root = cJSON_ParseWithLength(line, n);
    if (!root)
        return pf_fail(PF_ERR_DATA, "%s:%zu: error: json: not a valid JSON value", path, line_no);
    int rc = add_strings(tr, root);
    cJSON_Delete(root);
    if (rc == PF_ERR_DATA)
        pf_fail_prefix(rc, "%s:%zu: error: utf8", path, line_no);
    return rc;
}

int pf_bpe_trainer_add_jsonl(pf_bpe_trainer *tr, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return pf_fail(PF_ERR_USAGE, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, line_no = 0;
    ssize_t n;
    int rc = PF_OK;
    while (rc == PF_OK && (n = getline(&line, &cap, fp)) >= 0) {
        const char *s = line;
        size_t len = (size_t)n;
        if (++line_no == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            len -= 3;
        }
        rc = add_line(tr, s, len, path, line_no);
    }
    if (rc == PF_OK && ferror(fp))
        rc = pf_fail(PF_ERR_USAGE, "%s: read error", path);
    free(line);
    fclose(fp);
    return rc;
}

int pf_bpe_trainer_train(pf_bpe_trainer *tr, int32_t vocab_size, pf_tokenizer **out)
{
    *out = NULL;
    if (vocab_size < 256 + PF_BPE_SPECIAL_COUNT || vocab_size > PF_TOK_MAX_IDS)
        return pf_fail(PF_ERR_USAGE, "vocab size %d is out of range [%d, %d]", vocab_size,
                       256 + PF_BPE_SPECIAL_COUNT, PF_TOK_MAX_IDS);
    return pf_bpe_learn(&tr->words, tr->freq, vocab_size - PF_BPE_SPECIAL_COUNT, out);
}
