/*
 * encode.c: text -> ids (special split, GPT-2 pre-tokenization, byte-level BPE) and
 * ids -> bytes.
 *
 * BPE follows GPT-2's encoder.py exactly: while some adjacent pair of the word has a
 * rank, take the lowest-ranked pair and merge all its occurrences left to right in one
 * pass; then look again. A min-heap of candidate merges ordered by (rank, position)
 * finds the pair in O(log n); merges found during a pass are held back until the pass
 * ends, so a newly formed pair of lower rank cannot cut in (which is where a plain
 * priority-queue BPE could differ from GPT-2 on vocabularies with repeated merge
 * results). Stale candidates are recognised by the ids they expect.
 * Invariants: symbol 0 is always alive (merges keep the left symbol); the heap never
 * holds more than 3n candidates for an n-byte word; words of up to CACHE_MAX_WORD bytes
 * are cached, and the cache is emptied (keeping its memory) when full, so steady-state
 * encoding allocates nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "text/tok_internal.h"
#include "text/unicode.h"

enum {
    CACHE_MAX_WORD = 256,      /* longest cached word, bytes */
    CACHE_MAX_WORDS = 1 << 16, /* words cached before the cache is emptied */
    CACHE_MAX_IDS = 1 << 20,   /* ids cached before the cache is emptied */
};

void pf_token_ids_free(pf_token_ids *ids)
{
    free(ids->ids);
    memset(ids, 0, sizeof *ids);
}

/* Makes room for extra more ids in out. */
static int ids_reserve(pf_token_ids *out, size_t extra)
{
    if (out->len + extra <= out->cap)
        return PF_OK;
    size_t cap = out->cap ? out->cap : 256;
    while (cap < out->len + extra)
        cap *= 2;
    int32_t *p = realloc(out->ids, cap * sizeof *p);
    if (!p)
        return pf_fail(PF_ERR_RUNTIME, "encode: out of memory");
    out->ids = p;
    out->cap = cap;
    return PF_OK;
}

/* Appends n ids to out. */
static int ids_append(pf_token_ids *out, const int32_t *ids, size_t n)
{
    if (ids_reserve(out, n) != PF_OK)
        return PF_ERR_RUNTIME;
    memcpy(out->ids + out->len, ids, n * sizeof *ids);
    out->len += n;
    return PF_OK;
}

/* Grows the BPE scratch to n symbols (and 3n heap slots). */
static int work_reserve(pf_tok_work *ws, size_t n)
{
    if (n <= ws->work_cap)
        return PF_OK;
    size_t cap = ws->work_cap ? ws->work_cap : 64;
    while (cap < n)
        cap *= 2;
    if (cap > (size_t)INT32_MAX / 4)
        return pf_fail(PF_ERR_DATA, "encode: a pre-tokenized piece of %zu bytes is too long", n);
    pf_bpe_sym *s = realloc(ws->syms, cap * sizeof *s);
    if (s)
        ws->syms = s;
    pf_bpe_cand *h = s ? realloc(ws->heap, 3 * cap * sizeof *h) : NULL;
    if (!h)
        return pf_fail(PF_ERR_RUNTIME, "encode: out of memory");
    ws->heap = h;
    ws->work_cap = cap;
    return PF_OK;
}

/* Whether candidate a comes before b: lower rank, then leftmost. */
static inline int cand_before(const pf_bpe_cand *a, const pf_bpe_cand *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

/* Pushes c onto the min-heap h of *n entries. */
static void heap_push(pf_bpe_cand *h, size_t *n, pf_bpe_cand c)
{
    size_t i = (*n)++;
    while (i > 0 && cand_before(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

/* Removes and returns the first candidate of the non-empty heap h of *n entries. */
static pf_bpe_cand heap_pop(pf_bpe_cand *h, size_t *n)
{
    pf_bpe_cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && cand_before(&h[c + 1], &h[c]))
            c++;
        if (!cand_before(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

/* The candidate merge of symbol pos with its right neighbour into out; 0 if none. */
static int pair_cand(const pf_tokenizer *tok, const pf_bpe_sym *syms, int32_t pos, pf_bpe_cand *out)
{
    const pf_bpe_sym *l = &syms[pos];
    if (l->next < 0)
        return 0;
    int32_t right = syms[l->next].id;
    const pf_pair_slot *s = pf_pairmap_get(&tok->ranks, pf_pair_key(l->id, right));
    if (!s)
        return 0;
    *out = (pf_bpe_cand){s->a, pos, l->id, right, s->b};
    return 1;
}

/* Merges symbol c.pos with its right neighbour if c is still current; returns 1 if so. */
static int apply_cand(pf_bpe_sym *syms, const pf_bpe_cand *c)
{
    pf_bpe_sym *l = &syms[c->pos];
    if (!l->alive || l->id != c->left || l->next < 0)
        return 0;
    pf_bpe_sym *r = &syms[l->next];
    if (r->id != c->right)
        return 0;
    l->id = c->merged;
    r->alive = 0;
    l->next = r->next;
    if (r->next >= 0)
        syms[r->next].prev = c->pos;
    return 1;
}

/* One GPT-2 pass: merges every current occurrence of the top pair (rank r), left to
 * right; the candidates it creates go to pend (*np entries) for after the pass. */
static void merge_pass(const pf_tokenizer *tok, pf_tok_work *ws, size_t *hn, pf_bpe_cand *pend,
                       size_t *np)
{
    int32_t r = ws->heap[0].rank;
    while (*hn > 0 && ws->heap[0].rank == r) {
        pf_bpe_cand c = heap_pop(ws->heap, hn);
        if (!apply_cand(ws->syms, &c))
            continue;
        int32_t prev = ws->syms[c.pos].prev;
        if (prev >= 0 && pair_cand(tok, ws->syms, prev, &pend[*np]))
            (*np)++;
        if (pair_cand(tok, ws->syms, c.pos, &pend[*np]))
            (*np)++;
    }
}

/* Runs BPE on the n >= 2 bytes of w; the result is the symbol list from syms[0]. */
static void bpe_word(const pf_tokenizer *tok, pf_tok_work *ws, const unsigned char *w, size_t n)
{
    pf_bpe_sym *syms = ws->syms;
    for (size_t i = 0; i < n; i++)
        syms[i] =
            (pf_bpe_sym){tok->byte_id[w[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, 1};
    size_t hn = 0;
    pf_bpe_cand c;
    for (size_t i = 0; i + 1 < n; i++)
        if (pair_cand(tok, syms, (int32_t)i, &c))
            heap_push(ws->heap, &hn, c);
    /* A pass holds at most n pending candidates and the heap at most 2n - 2 entries
     * (n - 1 initial ones plus one net per merge), so pending ones fit above 2n. */
    while (hn > 0) {
        pf_bpe_cand *pend = ws->heap + 2 * n;
        size_t np = 0;
        merge_pass(tok, ws, &hn, pend, &np);
        for (size_t k = 0; k < np; k++)
            heap_push(ws->heap, &hn, pend[k]);
    }
}

/* Remembers the ids of word w[0..n) (emptying the cache first when it is full). */
static int cache_put(pf_tok_work *ws, const unsigned char *w, size_t n, const int32_t *ids,
                     size_t count)
{
    if (ws->cache.count >= CACHE_MAX_WORDS || ws->cache_len + count + 1 > CACHE_MAX_IDS) {
        pf_strmap_clear(&ws->cache);
        ws->cache_len = 0;
    }
    if (ws->cache_len + count + 1 > ws->cache_cap) {
        int32_t *p = realloc(ws->cache_ids, CACHE_MAX_IDS * sizeof *p);
        if (!p)
            return pf_fail(PF_ERR_RUNTIME, "encode: out of memory");
        ws->cache_ids = p;
        ws->cache_cap = CACHE_MAX_IDS;
    }
    int32_t off = (int32_t)ws->cache_len;
    ws->cache_ids[off] = (int32_t)count;
    memcpy(ws->cache_ids + off + 1, ids, count * sizeof *ids);
    ws->cache_len += count + 1;
    return pf_strmap_add(&ws->cache, w, n, off);
}

/* Appends the BPE ids of one pre-tokenized piece w[0..n). */
static int encode_word(const pf_tokenizer *tok, const unsigned char *w, size_t n, pf_token_ids *out)
{
    pf_tok_work *ws = tok->work;
    if (n == 1)
        return ids_append(out, &tok->byte_id[w[0]], 1);
    if (n <= CACHE_MAX_WORD) {
        int32_t off = pf_strmap_get(&ws->cache, w, n);
        if (off >= 0)
            return ids_append(out, ws->cache_ids + off + 1, (size_t)ws->cache_ids[off]);
    }
    int rc = work_reserve(ws, n);
    if (rc == PF_OK)
        rc = ids_reserve(out, n);
    if (rc != PF_OK)
        return rc;
    bpe_word(tok, ws, w, n);
    size_t start = out->len;
    for (int32_t i = 0; i >= 0; i = ws->syms[i].next)
        out->ids[out->len++] = ws->syms[i].id;
    if (n <= CACHE_MAX_WORD)
        return cache_put(ws, w, n, out->ids + start, out->len - start);
    return PF_OK;
}

/* Pre-tokenizes s[0..n) (no specials inside) and appends the ids of every piece. */
static int encode_ordinary(const pf_tokenizer *tok, const unsigned char *s, size_t n,
                           pf_token_ids *out)
{
    for (size_t i = 0; i < n;) {
        size_t j = pf_pretok_next(s, n, i);
        int rc = encode_word(tok, s + i, j - i, out);
        if (rc != PF_OK)
            return rc;
        i = j;
    }
    return PF_OK;
}

/* The offset of the first special token in s[from..len) (len if none); *id and *slen
 * receive it. At one offset the longest special wins. */
static size_t find_special(const pf_tokenizer *tok, const unsigned char *s, size_t len, size_t from,
                           int32_t *id, size_t *slen)
{
    for (size_t i = from; i < len; i++) {
        if (!tok->special_first[s[i]])
            continue;
        for (int k = 0; k < tok->n_specials; k++) {
            const pf_tok_entry *e = &tok->tokens[tok->specials[k]];
            if (e->str_len <= len - i && memcmp(tok->pool + e->str_off, s + i, e->str_len) == 0) {
                *id = tok->specials[k];
                *slen = e->str_len;
                return i;
            }
        }
    }
    return len;
}

int pf_tokenizer_encode(const pf_tokenizer *tok, const char *text, size_t len, int flags,
                        pf_token_ids *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t bad = pf_utf8_check(s, len);
    if (bad != len)
        return pf_fail(PF_ERR_DATA, "invalid UTF-8 at byte offset %zu", bad);
    int use_specials = !(flags & PF_TOKENIZE_NO_SPECIAL) && tok->n_specials > 0;
    size_t start_len = out->len;
    for (size_t i = 0; i < len;) {
        int32_t id = -1;
        size_t slen = 0;
        size_t end = use_specials ? find_special(tok, s, len, i, &id, &slen) : len;
        int rc = encode_ordinary(tok, s + i, end - i, out);
        if (rc == PF_OK && end < len)
            rc = ids_append(out, &id, 1);
        if (rc != PF_OK) {
            out->len = start_len;
            return rc;
        }
        i = end + slen;
    }
    return PF_OK;
}

int pf_tokenizer_decode(const pf_tokenizer *tok, const int32_t *ids, size_t n, char **text,
                        size_t *len)
{
    size_t total = 0, blen;
    *text = NULL;
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pf_tokenizer_token_bytes(tok, ids[i], &blen))
            return pf_fail(PF_ERR_DATA, "ids[%zu]: %d is not a token id of this vocabulary", i,
                           ids[i]);
        total += blen;
    }
    char *buf = malloc(total + 1);
    if (!buf)
        return pf_fail(PF_ERR_RUNTIME, "decode: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *b = pf_tokenizer_token_bytes(tok, ids[i], &blen);
        memcpy(buf + k, b, blen);
        k += blen;
    }
    buf[k] = '\0';
    *text = buf;
    *len = k;
    return PF_OK;
}

/* Rewrites text[0..*len) (malloc'ed) with each byte that does not start a valid UTF-8
 * sequence replaced by U+FFFD; returns PF_OK or PF_ERR_RUNTIME (text unchanged). */
static int replace_invalid_utf8(char **text, size_t *len)
{
    const unsigned char *s = (const unsigned char *)*text;
    size_t n = *len, bad = 0;
    for (size_t i = 0; i < n; i++) {
        size_t ok = pf_utf8_check(s + i, n - i);
        if (ok == n - i)
            break;
        i += ok;
        bad++;
    }
    if (bad == 0)
        return PF_OK;
    char *out = malloc(n + 2 * bad + 1);
    if (!out)
        return pf_fail(PF_ERR_RUNTIME, "decode: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t ok = pf_utf8_check(s + i, n - i);
        memcpy(out + k, s + i, ok);
        k += ok, i += ok;
        if (i < n) {
            memcpy(out + k, "\xEF\xBF\xBD", 3);
            k += 3, i++;
        }
    }
    out[k] = '\0';
    free(*text);
    *text = out;
    *len = k;
    return PF_OK;
}

int pf_tokenizer_decode_lossy(const pf_tokenizer *tok, const int32_t *ids, size_t n, char **text,
                              size_t *len)
{
    int rc = pf_tokenizer_decode(tok, ids, n, text, len);
    if (!rc && (rc = replace_invalid_utf8(text, len)) != PF_OK) {
        free(*text);
        *text = NULL;
    }
    return rc;
}

int pf_tokenizer_count_tokens(void *tok, const char *text, size_t len, size_t *n)
{
    pf_token_ids ids = {0};
    int rc = pf_tokenizer_encode(tok, text, len, PF_TOKENIZE_NO_SPECIAL, &ids);
    *n = ids.len;
    pf_token_ids_free(&ids);
    return rc;
}

int pf_tokenizer_stop_ids(const pf_tokenizer *tok, int32_t ids[2])
{
    const char *names[2] = {"<|im_end|>", "<|endoftext|>"};
    int n = 0;
    for (int i = 0; i < 2; i++) {
        int32_t id = pf_tokenizer_token_id(tok, names[i]);
        if (id >= 0)
            ids[n++] = id;
    }
    return n;
}
