/*
 * tokenizer.c: building a pf_tokenizer and answering questions about its tokens.
 *
 * Loaders and the trainer build a tokenizer the same way: pf_tok_create with the id
 * range, pf_tok_set_token per token, pf_tok_add_merge per merge (in rank order), then
 * pf_tok_finish. The invariants they establish are listed in tok_internal.h. GPT-2's
 * bytes_to_unicode is written here in closed form: printable bytes ('!'..'~',
 * U+00A1..U+00AC, U+00AE..U+00FF) stand for themselves and the 68 others, in byte
 * order, for U+0100..U+0143.
 */
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "text/tok_internal.h"
#include "text/unicode.h"

const char *pf_tokenizer_unicode_version(void) { return pf_uc_version; }

uint32_t pf_tok_byte_cp(unsigned b)
{
    if (b <= 0x20)
        return 256 + b;
    if (b >= 0x7F && b <= 0xA0)
        return 256 + 33 + (b - 0x7F);
    if (b == 0xAD)
        return 256 + 67;
    return b;
}

/* The byte that code point cp stands for in vocab strings, or -1. */
static int cp_byte(uint32_t cp)
{
    if (cp < 256)
        return pf_tok_byte_cp(cp) == cp ? (int)cp : -1;
    if (cp < 256 + 33)
        return (int)(cp - 256);
    if (cp < 256 + 67)
        return (int)(0x7F + cp - (256 + 33));
    return cp == 256 + 67 ? 0xAD : -1;
}

size_t pf_tok_bytes_to_str(const unsigned char *b, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = pf_tok_byte_cp(b[i]);
        if (cp < 0x80) {
            out[k++] = (char)cp;
        } else {
            out[k++] = (char)(0xC0 | (cp >> 6));
            out[k++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[k] = '\0';
    return k;
}

int pf_tok_create(int32_t n_ids, pf_tokenizer **out)
{
    *out = NULL;
    if (n_ids < 1 || n_ids > PF_TOK_MAX_IDS)
        return pf_fail(PF_ERR_USAGE, "vocabulary: %d ids is out of range [1, %d]", n_ids,
                       PF_TOK_MAX_IDS);
    pf_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok)
        return pf_fail(PF_ERR_RUNTIME, "tokenizer: out of memory");
    tok->n_ids = n_ids;
    tok->tokens = calloc((size_t)n_ids, sizeof *tok->tokens);
    tok->work = calloc(1, sizeof *tok->work);
    uint32_t expect = n_ids < (1 << 16) ? (uint32_t)n_ids : 1u << 16; /* maps grow as needed */
    if (!tok->tokens || !tok->work || pf_strmap_init(&tok->vocab, expect) != PF_OK ||
        pf_pairmap_init(&tok->ranks, expect) != PF_OK ||
        pf_strmap_init(&tok->work->cache, 1u << 14) != PF_OK) {
        pf_tokenizer_free(tok);
        return pf_fail(PF_ERR_RUNTIME, "tokenizer: out of memory");
    }
    *out = tok;
    return PF_OK;
}

void pf_tokenizer_free(pf_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->tokens);
    free(tok->pool);
    pf_strmap_free(&tok->vocab);
    pf_pairmap_free(&tok->ranks);
    free(tok->merges);
    free(tok->specials);
    if (tok->work) {
        pf_strmap_free(&tok->work->cache);
        free(tok->work->cache_ids);
        free(tok->work->syms);
        free(tok->work->heap);
        free(tok->work);
    }
    free(tok);
}

/* Appends data[0..len) and a NUL to the pool; *off receives its offset. */
static int pool_put(pf_tokenizer *tok, const char *data, size_t len, uint32_t *off)
{
    if (tok->pool_len + len + 1 > tok->pool_cap) {
        size_t cap = tok->pool_cap ? tok->pool_cap : 4096;
        while (cap < tok->pool_len + len + 1)
            cap *= 2;
        if (cap >= UINT32_MAX)
            return pf_fail(PF_ERR_USAGE, "vocabulary: token strings too large");
        char *p = realloc(tok->pool, cap);
        if (!p)
            return pf_fail(PF_ERR_RUNTIME, "tokenizer: out of memory");
        tok->pool = p;
        tok->pool_cap = cap;
    }
    *off = (uint32_t)tok->pool_len;
    memcpy(tok->pool + tok->pool_len, data, len);
    tok->pool[tok->pool_len + len] = '\0';
    tok->pool_len += len + 1;
    return PF_OK;
}

/* Decodes vocab string str into bytes (room for len); returns the byte count, or -1
 * when some character is outside the bytes_to_unicode image. */
static long str_to_bytes(const char *str, size_t len, char *bytes)
{
    const unsigned char *s = (const unsigned char *)str;
    long k = 0;
    for (size_t i = 0; i < len;) {
        int n;
        int b = cp_byte(pf_utf8_decode(s, i, &n));
        if (b < 0)
            return -1;
        bytes[k++] = (char)b;
        i += (size_t)n;
    }
    return k;
}

/* Checks that id is free and str a new, non-empty, valid UTF-8 string. */
static int check_new_token(const pf_tokenizer *tok, int32_t id, const char *str, size_t len)
{
    if (id < 0 || id >= tok->n_ids)
        return pf_fail(PF_ERR_USAGE, "token id %d out of range", id);
    if (len == 0)
        return pf_fail(PF_ERR_USAGE, "token %d: empty string", id);
    size_t bad = pf_utf8_check((const unsigned char *)str, len);
    if (bad != len)
        return pf_fail(PF_ERR_USAGE, "token %d: invalid UTF-8 at byte offset %zu", id, bad);
    if (tok->tokens[id].kind != TOK_UNUSED)
        return pf_fail(PF_ERR_USAGE, "token id %d given twice", id);
    if (pf_strmap_get(&tok->vocab, str, len) >= 0)
        return pf_fail(PF_ERR_USAGE, "token '%.60s' given twice", str);
    return PF_OK;
}

int pf_tok_set_token(pf_tokenizer *tok, int32_t id, const char *str, size_t len)
{
    int rc = check_new_token(tok, id, str, len);
    if (rc != PF_OK)
        return rc;
    char small[256];
    char *bytes = len <= sizeof small ? small : malloc(len);
    if (!bytes)
        return pf_fail(PF_ERR_RUNTIME, "tokenizer: out of memory");
    long nb = str_to_bytes(str, len, bytes);
    pf_tok_entry *e = &tok->tokens[id];
    e->kind = nb < 0 ? TOK_LITERAL : TOK_BYTES;
    rc = pool_put(tok, str, len, &e->str_off);
    e->str_len = (uint32_t)len;
    if (rc == PF_OK && nb >= 0) {
        rc = pool_put(tok, bytes, (size_t)nb, &e->byte_off);
        e->byte_len = (uint32_t)nb;
    } else {
        e->byte_off = e->str_off;
        e->byte_len = e->str_len;
    }
    if (bytes != small)
        free(bytes);
    if (rc == PF_OK)
        rc = pf_strmap_add(&tok->vocab, str, len, id);
    if (rc != PF_OK)
        e->kind = TOK_UNUSED;
    return rc;
}

/* Looks up the id of the concatenation of the strings of left and right, or -1. */
static int32_t merged_id(const pf_tokenizer *tok, int32_t left, int32_t right, int *oom)
{
    size_t la, lb;
    const char *a = pf_tok_str(tok, left, &la);
    const char *b = pf_tok_str(tok, right, &lb);
    char small[256];
    char *cat = la + lb <= sizeof small ? small : malloc(la + lb);
    *oom = cat == NULL;
    if (!cat)
        return -1;
    memcpy(cat, a, la);
    memcpy(cat + la, b, lb);
    int32_t id = pf_strmap_get(&tok->vocab, cat, la + lb);
    if (cat != small)
        free(cat);
    return id;
}

int pf_tok_add_merge(pf_tokenizer *tok, int32_t left, int32_t right)
{
    int oom = 0;
    int32_t id = merged_id(tok, left, right, &oom);
    if (oom)
        return pf_fail(PF_ERR_RUNTIME, "tokenizer: out of memory");
    if (id < 0) {
        size_t la, lb;
        return pf_fail(PF_ERR_USAGE,
                       "merge '%.40s %.40s': the merged token is not in the "
                       "vocabulary",
                       pf_tok_str(tok, left, &la), pf_tok_str(tok, right, &lb));
    }
    if (tok->n_merges == tok->merges_cap) {
        int32_t cap = tok->merges_cap ? 2 * tok->merges_cap : 1024;
        int32_t *m = cap < INT32_MAX / 4 ? realloc(tok->merges, 2 * (size_t)cap * sizeof *m) : NULL;
        if (!m)
            return pf_fail(PF_ERR_RUNTIME, "tokenizer: out of memory");
        tok->merges = m;
        tok->merges_cap = cap;
    }
    tok->merges[2 * tok->n_merges] = left;
    tok->merges[2 * tok->n_merges + 1] = right;
    return pf_pairmap_put(&tok->ranks, pf_pair_key(left, right), tok->n_merges++, id);
}

/* Orders special ids by descending string length, then ascending id. */
static int cmp_special(const void *a, const void *b, const pf_tokenizer *tok)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = tok->tokens[x].str_len, ly = tok->tokens[y].str_len;
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Sorts the special list (insertion sort: lists are short and mostly sorted). */
static void sort_specials(pf_tokenizer *tok)
{
    for (int i = 1; i < tok->n_specials; i++) {
        int32_t v = tok->specials[i];
        int j = i;
        while (j > 0 && cmp_special(&v, &tok->specials[j - 1], tok) < 0) {
            tok->specials[j] = tok->specials[j - 1];
            j--;
        }
        tok->specials[j] = v;
    }
}

int pf_tok_mark_special(pf_tokenizer *tok, int32_t id)
{
    pf_tok_entry *e = &tok->tokens[id];
    if (e->kind == TOK_SPECIAL)
        return PF_OK;
    int32_t *s = realloc(tok->specials, ((size_t)tok->n_specials + 1) * sizeof *s);
    if (!s)
        return pf_fail(PF_ERR_RUNTIME, "tokenizer: out of memory");
    tok->specials = s;
    tok->specials[tok->n_specials++] = id;
    e->kind = TOK_SPECIAL;
    tok->special_first[(unsigned char)tok->pool[e->str_off]] = 1;
    sort_specials(tok);
    return PF_OK;
}

int pf_tok_finish(pf_tokenizer *tok)
{
    static const char *const defaults[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    for (unsigned b = 0; b < 256; b++) {
        char s[3];
        unsigned char byte = (unsigned char)b;
        size_t n = pf_tok_bytes_to_str(&byte, 1, s);
        int32_t id = pf_strmap_get(&tok->vocab, s, n);
        if (id < 0)
            return pf_fail(PF_ERR_USAGE, "vocabulary has no token for byte 0x%02X ('%s')", b, s);
        tok->byte_id[b] = id;
    }
    for (int i = 0; i < 3; i++) {
        int32_t id = pf_strmap_get(&tok->vocab, defaults[i], strlen(defaults[i]));
        if (id >= 0 && pf_tok_mark_special(tok, id) != PF_OK)
            return PF_ERR_RUNTIME;
    }
    return PF_OK;
}

int32_t pf_tokenizer_vocab_size(const pf_tokenizer *tok) { return tok->n_ids; }

int32_t pf_tokenizer_merge_count(const pf_tokenizer *tok) { return tok->n_merges; }

/* The entry of id, or NULL when id is out of range or unused. */
static const pf_tok_entry *entry(const pf_tokenizer *tok, int32_t id)
{
    if (id < 0 || id >= tok->n_ids || tok->tokens[id].kind == TOK_UNUSED)
        return NULL;
    return &tok->tokens[id];
}

const char *pf_tokenizer_token_string(const pf_tokenizer *tok, int32_t id, size_t *len)
{
    const pf_tok_entry *e = entry(tok, id);
    if (len)
        *len = e ? e->str_len : 0;
    return e ? tok->pool + e->str_off : NULL;
}

const char *pf_tokenizer_token_bytes(const pf_tokenizer *tok, int32_t id, size_t *len)
{
    const pf_tok_entry *e = entry(tok, id);
    if (len)
        *len = e ? e->byte_len : 0;
    return e ? tok->pool + e->byte_off : NULL;
}

int32_t pf_tokenizer_token_id(const pf_tokenizer *tok, const char *str)
{
    return pf_strmap_get(&tok->vocab, str, strlen(str));
}

int pf_tokenizer_is_special(const pf_tokenizer *tok, int32_t id)
{
    const pf_tok_entry *e = entry(tok, id);
    return e && e->kind == TOK_SPECIAL;
}

int pf_tokenizer_add_special(pf_tokenizer *tok, const char *str)
{
    int32_t id = pf_tokenizer_token_id(tok, str);
    if (id < 0)
        return pf_fail(PF_ERR_USAGE, "special token '%.60s' is not in the vocabulary", str);
    return pf_tok_mark_special(tok, id);
}
