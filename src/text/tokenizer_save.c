/*
 * tokenizer_save.c: serialising a tokenizer as vocab.json + merges.txt text and saving
 * the two files.
 *
 * The output is a pure function of the tokenizer, so equal tokenizers give equal bytes:
 * vocab.json is one compact JSON object with tokens in ascending id order (strings in
 * UTF-8, escaping only '"', '\\' and control characters), merges.txt is "#version: 0.2"
 * then one "LEFT RIGHT" line per merge in rank order, both ending with a newline.
 * Files are written atomically (PATH.tmp, fsync, rename; see fsutil.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "prefopt/error.h"
#include "prefopt/fsutil.h"
#include "text/tok_internal.h"

/* A growable NUL-terminated text buffer; oom records a failed allocation. */
typedef struct {
    char *data;
    size_t len, cap;
    int oom;
} text_buf;

/* Appends n bytes of s. */
static void buf_put(text_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Appends s[0..n) as a JSON string literal. */
static void buf_json_string(text_buf *b, const char *s, size_t n)
{
    buf_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        char esc[8];
        int k = c == '"' || c == '\\' ? snprintf(esc, sizeof esc, "\\%c", c)
                                      : snprintf(esc, sizeof esc, "\\u%04x", c);
        buf_put(b, s + run, i - run);
        buf_put(b, esc, (size_t)k);
        run = i + 1;
    }
    buf_put(b, s + run, n - run);
    buf_put(b, "\"", 1);
}

/* Hands the buffer's text to *out (or frees it when out is NULL); PF_ERR_RUNTIME on oom. */
static int buf_finish(text_buf *b, char **out)
{
    if (!b->oom && !b->data)
        buf_put(b, "", 0);
    if (b->oom || !out) {
        free(b->data);
        return b->oom ? pf_fail(PF_ERR_RUNTIME, "tokenizer: out of memory") : PF_OK;
    }
    *out = b->data;
    return PF_OK;
}

/* vocab.json text: {"tok":id,...} in id order. */
static int vocab_text(const pf_tokenizer *tok, char **out)
{
    text_buf b = {0};
    const char *sep = "{";
    for (int32_t id = 0; id < tok->n_ids; id++) {
        size_t n;
        const char *s = pf_tokenizer_token_string(tok, id, &n);
        if (!s)
            continue;
        char num[24];
        int k = snprintf(num, sizeof num, ":%d", id);
        buf_put(&b, sep, 1);
        buf_json_string(&b, s, n);
        buf_put(&b, num, (size_t)k);
        sep = ",";
    }
    if (sep[0] == ',')
        buf_put(&b, "}\n", 2);
    else
        buf_put(&b, "{}\n", 3);
    return buf_finish(&b, out);
}

/* merges.txt text; a token holding a space or newline cannot be written. */
static int merges_text(const pf_tokenizer *tok, char **out)
{
    text_buf b = {0};
    buf_put(&b, "#version: 0.2\n", 14);
    for (int32_t m = 0; m < tok->n_merges; m++) {
        for (int side = 0; side < 2; side++) {
            size_t n;
            const char *s = pf_tok_str(tok, tok->merges[2 * m + side], &n);
            if (memchr(s, ' ', n) || memchr(s, '\n', n)) {
                free(b.data);
                return pf_fail(PF_ERR_USAGE,
                               "merge %d: token '%.60s' holds a space or "
                               "newline and cannot be written to merges.txt",
                               m, s);
            }
            buf_put(&b, s, n);
            buf_put(&b, side ? "\n" : " ", 1);
        }
    }
    return buf_finish(&b, out);
}

/* The special tokens as a JSON array of strings, by id. */
static int specials_text(const pf_tokenizer *tok, char **out)
{
    text_buf b = {0};
    const char *sep = "[";
    for (int32_t id = 0; id < tok->n_ids; id++) {
        if (!pf_tokenizer_is_special(tok, id))
            continue;
        size_t n;
        const char *s = pf_tok_str(tok, id, &n);
        buf_put(&b, sep, 1);
        buf_json_string(&b, s, n);
        sep = ",";
    }
    if (sep[0] == ',')
        buf_put(&b, "]", 1);
    else
        buf_put(&b, "[]", 2);
    return buf_finish(&b, out);
}

int pf_tokenizer_to_text(const pf_tokenizer *tok, char **vocab_json, char **merges_txt,
                         char **specials_json)
{
    char *v = NULL, *m = NULL, *s = NULL;
    int rc = vocab_json ? vocab_text(tok, &v) : PF_OK;
    if (rc == PF_OK && merges_txt)
        rc = merges_text(tok, &m);
    if (rc == PF_OK && specials_json)
        rc = specials_text(tok, &s);
    if (rc != PF_OK) {
        free(v);
        free(m);
        free(s);
        return rc;
    }
    if (vocab_json)
        *vocab_json = v;
    if (merges_txt)
        *merges_txt = m;
    if (specials_json)
        *specials_json = s;
    return PF_OK;
}

/* Writes text atomically to dir/name. */
static int write_text(const char *dir, const char *name, const char *text)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return pf_fail(PF_ERR_USAGE, "%s: path too long", dir);
    pf_text_out out;
    int rc = pf_text_out_open(&out, path);
    if (rc != PF_OK)
        return rc;
    size_t n = strlen(text);
    if (fwrite(text, 1, n, out.fp) != n) {
        pf_text_out_abort(&out);
        return pf_fail(PF_ERR_RUNTIME, "%s: write failed: %s", path, strerror(errno));
    }
    return pf_text_out_commit(&out);
}

/* Creates dir when missing; an existing non-directory is an error. */
static int ensure_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0777) == 0)
        return PF_OK;
    int err = errno;
    if (err == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return PF_OK;
    return pf_fail(PF_ERR_RUNTIME, "%s: cannot create the folder: %s", dir,
                   err == EEXIST ? "a file is in the way" : strerror(err));
}

int pf_tokenizer_save(const pf_tokenizer *tok, const char *dir)
{
    char *vocab = NULL, *merges = NULL;
    int rc = ensure_dir(dir);
    if (rc == PF_OK)
        rc = pf_tokenizer_to_text(tok, &vocab, &merges, NULL);
    if (rc == PF_OK)
        rc = write_text(dir, "vocab.json", vocab);
    if (rc == PF_OK)
        rc = write_text(dir, "merges.txt", merges);
    free(vocab);
    free(merges);
    return rc;
}
