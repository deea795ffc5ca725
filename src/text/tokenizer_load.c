/*
 * tokenizer_load.c: reading vocab.json/encoder.json + merges.txt/vocab.bpe and GPT-2-kind
 * Hugging Face tokenizer.json files.
 *
 * vocab.json (= encoder.json) is one JSON object mapping each token's byte-level string
 * to its id; merges.txt (= vocab.bpe) has an optional "#version" line then one merge
 * "LEFT RIGHT" per line in rank order (blank lines and a trailing '\r' are ignored).
 * tokenizer.json carries the same vocabulary and merges under "model" (merges as
 * "LEFT RIGHT" strings or as [LEFT, RIGHT] arrays) plus "added_tokens", which all
 * become special. Anything that would make the tokenizer behave unlike GPT-2's
 * (a normalizer, another pre-tokenizer, add_prefix_space, dropout, subword affixes,
 * ignore_merges) is refused. Every error is PF_ERR_USAGE naming the file and the entry
 * or line; the partly built tokenizer is freed.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "text/tok_internal.h"

/* Reads the whole file at path into a malloc'ed, NUL-terminated buffer. */
static int read_file(const char *path, char **data, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return pf_fail(PF_ERR_USAGE, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap)
            break;
        char *bigger = realloc(buf, 2 * cap + 1);
        if (!bigger)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    int err = ferror(fp);
    fclose(fp);
    if (!buf)
        return pf_fail(PF_ERR_RUNTIME, "%s: out of memory", path);
    if (err) {
        free(buf);
        return pf_fail(PF_ERR_USAGE, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return PF_OK;
}

/* The id of a vocab entry: an integral JSON number in [0, PF_TOK_MAX_IDS), else -1. */
static int32_t entry_id(const cJSON *item)
{
    if (!cJSON_IsNumber(item))
        return -1;
    double v = item->valuedouble;
    if (!(v >= 0 && v < PF_TOK_MAX_IDS) || v != floor(v))
        return -1;
    return (int32_t)v;
}

/* The largest id in vocab (an object of string -> id) and added (array of objects with
 * "id"; may be NULL), or -1 with an error recorded. */
static int32_t max_id(const cJSON *vocab, const cJSON *added, const char *what)
{
    int32_t max = -1;
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab)
    {
        int32_t id = entry_id(item);
        if (id < 0) {
            pf_fail(PF_ERR_USAGE, "%s: token '%.60s': the id must be an integer in [0, %d)", what,
                    item->string, PF_TOK_MAX_IDS);
            return -1;
        }
        max = id > max ? id : max;
    }
    cJSON_ArrayForEach(item, added)
    {
        int32_t id = entry_id(cJSON_GetObjectItemCaseSensitive(item, "id"));
        if (id < 0 || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(item, "content"))) {
            pf_fail(PF_ERR_USAGE,
                    "%s: added_tokens: each needs an integer id in [0, %d) and "
                    "a string content",
                    what, PF_TOK_MAX_IDS);
            return -1;
        }
        max = id > max ? id : max;
    }
    if (max < 0)
        pf_fail(PF_ERR_USAGE, "%s: the vocabulary is empty", what);
    return max;
}

/* Creates a tokenizer holding every token of the JSON object vocab. */
static int vocab_from_json(const cJSON *vocab, const cJSON *added, const char *what,
                           pf_tokenizer **out)
{
    *out = NULL;
    if (!cJSON_IsObject(vocab))
        return pf_fail(PF_ERR_USAGE, "%s: the vocabulary is not a JSON object", what);
    int32_t max = max_id(vocab, added, what);
    if (max < 0)
        return PF_ERR_USAGE;
    int rc = pf_tok_create(max + 1, out);
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab)
    {
        if (rc == PF_OK)
            rc = pf_tok_set_token(*out, entry_id(item), item->string, strlen(item->string));
    }
    if (rc != PF_OK) {
        pf_tokenizer_free(*out);
        *out = NULL;
        return pf_fail_prefix(rc, "%s", what);
    }
    return PF_OK;
}

/* Adds the merge of the vocab strings a[0..la) and b[0..lb). */
static int add_merge_strings(pf_tokenizer *tok, const char *a, size_t la, const char *b, size_t lb)
{
    int32_t left = pf_strmap_get(&tok->vocab, a, la);
    int32_t right = pf_strmap_get(&tok->vocab, b, lb);
    if (left < 0 || right < 0) {
        const char *bad = left < 0 ? a : b;
        size_t n = left < 0 ? la : lb;
        return pf_fail(PF_ERR_USAGE, "merge token '%.*s' is not in the vocabulary",
                       (int)(n > 60 ? 60 : n), bad);
    }
    return pf_tok_add_merge(tok, left, right);
}

/* Adds the merge written as "LEFT RIGHT" in line[0..n) (exactly one space). */
static int add_merge_line(pf_tokenizer *tok, const char *line, size_t n)
{
    const char *sp = memchr(line, ' ', n);
    size_t la = sp ? (size_t)(sp - line) : n;
    if (!sp || la == 0 || la + 1 == n || memchr(sp + 1, ' ', n - la - 1))
        return pf_fail(PF_ERR_USAGE, "expected 'LEFT RIGHT' (two tokens, one space)");
    return add_merge_strings(tok, line, la, sp + 1, n - la - 1);
}

/* Adds every merge of merges.txt text; errors name what:LINE. */
static int merges_from_text(pf_tokenizer *tok, const char *txt, size_t len, const char *what)
{
    size_t line_no = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(txt + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - txt) : len, n = end - i;
        line_no++;
        if (n > 0 && txt[i + n - 1] == '\r')
            n--;
        int skip = n == 0 || (n >= 8 && memcmp(txt + i, "#version", 8) == 0);
        int rc = skip ? PF_OK : add_merge_line(tok, txt + i, n);
        if (rc != PF_OK)
            return pf_fail_prefix(rc, "%s:%zu", what, line_no);
        i = end + 1;
    }
    return PF_OK;
}

/* Builds a tokenizer from vocab.json and merges.txt contents. */
static int build_from_text(const char *vocab_json, size_t vlen, const char *vocab_what,
                           const char *merges_txt, size_t mlen, const char *merges_what,
                           pf_tokenizer **out)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(vocab_json, vlen);
    if (!root)
        return pf_fail(PF_ERR_USAGE, "%s: not valid JSON", vocab_what);
    pf_tokenizer *tok = NULL;
    int rc = vocab_from_json(root, NULL, vocab_what, &tok);
    cJSON_Delete(root);
    if (rc == PF_OK)
        rc = merges_from_text(tok, merges_txt, mlen, merges_what);
    if (rc == PF_OK && (rc = pf_tok_finish(tok)) != PF_OK)
        pf_fail_prefix(rc, "%s", vocab_what);
    if (rc != PF_OK) {
        pf_tokenizer_free(tok);
        return rc;
    }
    *out = tok;
    return PF_OK;
}

int pf_tokenizer_from_text(const char *vocab_json, size_t vocab_len, const char *merges_txt,
                           size_t merges_len, const char *what, pf_tokenizer **out)
{
    char vw[512], mw[512];
    snprintf(vw, sizeof vw, "%s: vocab.json", what);
    snprintf(mw, sizeof mw, "%s: merges.txt", what);
    return build_from_text(vocab_json, vocab_len, vw, merges_txt, merges_len, mw, out);
}

int pf_tokenizer_load(const char *vocab_path, const char *merges_path, pf_tokenizer **out)
{
    char *vocab = NULL, *merges = NULL;
    size_t vlen = 0, mlen = 0;
    *out = NULL;
    int rc = read_file(vocab_path, &vocab, &vlen);
    if (rc == PF_OK)
        rc = read_file(merges_path, &merges, &mlen);
    if (rc == PF_OK)
        rc = build_from_text(vocab, vlen, vocab_path, merges, mlen, merges_path, out);
    free(vocab);
    free(merges);
    return rc;
}

/* Whether key of obj is absent, null, false or "" (a setting GPT-2 does not use). */
static int unset(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return !v || cJSON_IsNull(v) || cJSON_IsFalse(v) ||
           (cJSON_IsString(v) && v->valuestring[0] == '\0');
}

/* Checks that root describes GPT-2's pipeline; records what differs otherwise. */
static int check_gpt2_kind(const cJSON *root, const char *what)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const char *bad = NULL;
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0)
        bad = "model.type must be \"BPE\"";
    else if (!unset(root, "normalizer"))
        bad = "normalizer must be null";
    else if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(pre, "type")) ||
             strcmp(cJSON_GetObjectItemCaseSensitive(pre, "type")->valuestring, "ByteLevel"))
        bad = "pre_tokenizer.type must be \"ByteLevel\"";
    else if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space")))
        bad = "pre_tokenizer.add_prefix_space must be false";
    else if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pre, "use_regex")))
        bad = "pre_tokenizer.use_regex must be true";
    else if (!unset(model, "dropout") || !unset(model, "continuing_subword_prefix") ||
             !unset(model, "end_of_word_suffix") || !unset(model, "ignore_merges"))
        bad = "model.dropout, continuing_subword_prefix, end_of_word_suffix and "
              "ignore_merges must be unset";
    if (bad)
        return pf_fail(PF_ERR_USAGE, "%s: not a GPT-2 kind byte-level BPE tokenizer: %s", what,
                       bad);
    return PF_OK;
}

/* Adds one merge of a tokenizer.json: "LEFT RIGHT" or ["LEFT", "RIGHT"]. */
static int add_json_merge(pf_tokenizer *tok, const cJSON *m)
{
    if (cJSON_IsString(m))
        return add_merge_line(tok, m->valuestring, strlen(m->valuestring));
    const cJSON *a = cJSON_GetArrayItem(m, 0), *b = cJSON_GetArrayItem(m, 1);
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) != 2 || !cJSON_IsString(a) || !cJSON_IsString(b))
        return pf_fail(PF_ERR_USAGE, "expected \"LEFT RIGHT\" or [\"LEFT\", \"RIGHT\"]");
    return add_merge_strings(tok, a->valuestring, strlen(a->valuestring), b->valuestring,
                             strlen(b->valuestring));
}

/* Adds the added tokens (those not already in the vocabulary) to tok. */
static int add_added_tokens(pf_tokenizer *tok, const cJSON *added)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, added)
    {
        int32_t id = entry_id(cJSON_GetObjectItemCaseSensitive(item, "id"));
        const char *s = cJSON_GetObjectItemCaseSensitive(item, "content")->valuestring;
        int32_t have = pf_strmap_get(&tok->vocab, s, strlen(s));
        if (have >= 0 && have != id)
            return pf_fail(PF_ERR_USAGE,
                           "added token '%.60s' has id %d but the vocabulary "
                           "gives it %d",
                           s, id, have);
        int rc = have >= 0 ? PF_OK : pf_tok_set_token(tok, id, s, strlen(s));
        if (rc != PF_OK)
            return pf_fail_prefix(rc, "added_tokens");
    }
    return PF_OK;
}

/* Marks every added token special (after pf_tok_finish). */
static int mark_added(pf_tokenizer *tok, const cJSON *added)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, added)
    {
        int rc = pf_tok_mark_special(tok, entry_id(cJSON_GetObjectItemCaseSensitive(item, "id")));
        if (rc != PF_OK)
            return rc;
    }
    return PF_OK;
}

/* Builds the tokenizer of a parsed tokenizer.json already checked by check_gpt2_kind. */
static int build_from_hf(const cJSON *root, const char *what, pf_tokenizer **out)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added))
        return pf_fail(PF_ERR_USAGE, "%s: added_tokens is not an array", what);
    if (!cJSON_IsArray(merges))
        return pf_fail(PF_ERR_USAGE, "%s: model.merges is not an array", what);
    added = cJSON_IsArray(added) ? added : NULL;
    int rc = vocab_from_json(cJSON_GetObjectItemCaseSensitive(model, "vocab"), added, what, out);
    if (rc == PF_OK && (rc = add_added_tokens(*out, added)) != PF_OK)
        pf_fail_prefix(rc, "%s", what);
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges)
    {
        if (rc == PF_OK && (rc = add_json_merge(*out, m)) != PF_OK)
            pf_fail_prefix(rc, "%s: model.merges[%d]", what, i);
        i++;
    }
    if (rc == PF_OK && (rc = pf_tok_finish(*out)) != PF_OK)
        pf_fail_prefix(rc, "%s", what);
    if (rc == PF_OK)
        rc = mark_added(*out, added);
    if (rc != PF_OK) {
        pf_tokenizer_free(*out);
        *out = NULL;
    }
    return rc;
}

int pf_tokenizer_from_hf_json(const char *json, size_t len, const char *what, pf_tokenizer **out)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return pf_fail(PF_ERR_USAGE, "%s: not valid JSON", what);
    int rc = check_gpt2_kind(root, what);
    if (rc == PF_OK)
        rc = build_from_hf(root, what, out);
    cJSON_Delete(root);
    return rc;
}

int pf_tokenizer_load_hf(const char *path, pf_tokenizer **out)
{
    char *json = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = read_file(path, &json, &len);
    if (rc == PF_OK)
        rc = pf_tokenizer_from_hf_json(json, len, path, out);
    free(json);
    return rc;
}
