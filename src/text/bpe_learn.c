/*
 * bpe_learn.c: learning byte-level BPE merges from counted words.
 *
 * State: every distinct word as a sequence of token ids (with its count); every adjacent
 * pair ever seen with its occurrence count (over all words, times word counts) and a
 * list of the words that contained it when it appeared; a max-heap of (count, pair)
 * entries ordered by count, then by the pair's (left bytes, right bytes) in byte order.
 * A step pops the best pair, merges it in the words of its list, and updates counts
 * incrementally: only the words holding the pair are touched, and only pairs with the
 * new token can gain occurrences (those are pushed anew); a pair whose count fell keeps
 * its old, larger heap entry and is re-pushed with its current count when that entry
 * surfaces. Invariant: every pair with a positive count has a heap entry whose count is
 * at least its current count, so the first entry popped whose count is current is the
 * true best pair. Token ids are the insertion order of the token byte map (the 256 byte
 * tokens in GPT-2's order first), so the result depends only on the word counts.
 */
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "text/tok_internal.h"

const char *const pf_bpe_special_tokens[PF_BPE_SPECIAL_COUNT] = {"<|endoftext|>", "<|im_start|>",
                                                                 "<|im_end|>"};

typedef struct {
    int64_t count;
    int32_t pair;
} heap_ent;

typedef struct {
    int32_t word, next;
} list_node;

typedef struct {
    pf_strmap tokmap; /* token bytes -> id; entry i is token i */
    int32_t nwords;
    int32_t *wstart, *wlen, *wstamp, *syms;
    const int64_t *wfreq;
    pf_pairmap pidx; /* (left, right) -> pair index */
    int32_t npairs, pcap;
    int32_t *pleft, *pright, *phead, *pstamp;
    int64_t *pcount;
    unsigned char *pmerged;
    list_node *nodes;
    size_t nnodes, ncap;
    heap_ent *heap;
    size_t hn, hcap;
    int32_t *touched, *merges;
    size_t ntouched, tcap, nmerges, mcap;
    int oom;
} learn_state;

/* Returns p (elements of size elem, capacity *cap) grown to hold need elements, or
 * NULL (p still valid, st->oom set, error recorded) when out of memory. */
static void *grow(learn_state *st, void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * elem);
    if (!q) {
        st->oom = 1;
        pf_fail(PF_ERR_RUNTIME, "train-tokenizer: out of memory");
        return NULL;
    }
    *cap = n;
    return q;
}

/* Records an allocation failure in pair_index; returns -1. */
static int32_t pair_oom(learn_state *st)
{
    st->oom = 1;
    return -1;
}

/* Whether token x's bytes sort before (< 0), equal (0) or after (> 0) token y's. */
static int cmp_tokens(const learn_state *st, int32_t x, int32_t y)
{
    size_t lx, ly;
    const char *bx = pf_strmap_key(&st->tokmap, (uint32_t)x, &lx);
    const char *by = pf_strmap_key(&st->tokmap, (uint32_t)y, &ly);
    int c = memcmp(bx, by, lx < ly ? lx : ly);
    return c ? c : (lx > ly) - (lx < ly);
}

/* Heap order: higher count first, then smaller (left bytes, right bytes). */
static int before(const learn_state *st, const heap_ent *a, const heap_ent *b)
{
    if (a->count != b->count)
        return a->count > b->count;
    if (a->pair == b->pair)
        return 0;
    int c = cmp_tokens(st, st->pleft[a->pair], st->pleft[b->pair]);
    if (c)
        return c < 0;
    return cmp_tokens(st, st->pright[a->pair], st->pright[b->pair]) < 0;
}

/* Pushes (count, pair) onto the heap. */
static int heap_push(learn_state *st, int64_t count, int32_t pair)
{
    heap_ent *h = grow(st, st->heap, &st->hcap, st->hn + 1, sizeof *h);
    if (!h)
        return PF_ERR_RUNTIME;
    st->heap = h;
    heap_ent e = {count, pair};
    size_t i = st->hn++;
    while (i > 0 && before(st, &e, &st->heap[(i - 1) / 2])) {
        st->heap[i] = st->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    st->heap[i] = e;
    return PF_OK;
}

/* Removes and returns the first entry of the non-empty heap. */
static heap_ent heap_pop(learn_state *st)
{
    heap_ent top = st->heap[0], last = st->heap[--st->hn];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= st->hn)
            break;
        if (c + 1 < st->hn && before(st, &st->heap[c + 1], &st->heap[c]))
            c++;
        if (!before(st, &st->heap[c], &last))
            break;
        st->heap[i] = st->heap[c];
        i = c;
    }
    st->heap[i] = last;
    return top;
}

/* The index of pair (l, r), created with count 0 when new; -1 when out of memory. */
static int32_t pair_index(learn_state *st, int32_t l, int32_t r)
{
    uint64_t key = pf_pair_key(l, r);
    const pf_pair_slot *s = pf_pairmap_get(&st->pidx, key);
    if (s)
        return s->a;
    if (st->npairs == st->pcap) {
        size_t n = (size_t)st->pcap * 2 + 1024;
        int32_t **arrays[] = {&st->pleft, &st->pright, &st->phead, &st->pstamp};
        for (int k = 0; k < 4; k++) {
            int32_t *q = realloc(*arrays[k], n * sizeof *q);
            if (!q)
                return pair_oom(st);
            *arrays[k] = q;
        }
        int64_t *c = realloc(st->pcount, n * sizeof *c);
        unsigned char *m = c ? realloc(st->pmerged, n) : NULL;
        st->pcount = c ? c : st->pcount;
        if (!m)
            return pair_oom(st);
        st->pmerged = m;
        st->pcap = (int32_t)n;
    }
    int32_t p = st->npairs++;
    st->pleft[p] = l;
    st->pright[p] = r;
    st->phead[p] = -1;
    st->pstamp[p] = -1;
    st->pcount[p] = 0;
    st->pmerged[p] = 0;
    if (pf_pairmap_put(&st->pidx, key, p, 0) != PF_OK)
        return pair_oom(st);
    return p;
}

/* Records that word w holds pair p. */
static int list_add(learn_state *st, int32_t p, int32_t w)
{
    if (st->nnodes >= INT32_MAX)
        return pf_fail(PF_ERR_RUNTIME, "train-tokenizer: corpus too large");
    list_node *nodes = grow(st, st->nodes, &st->ncap, st->nnodes + 1, sizeof *nodes);
    if (!nodes)
        return PF_ERR_RUNTIME;
    st->nodes = nodes;
    st->nodes[st->nnodes] = (list_node){w, st->phead[p]};
    st->phead[p] = (int32_t)st->nnodes++;
    return PF_OK;
}

/* Loads the words as byte-token sequences and the 256 byte tokens in GPT-2's order. */
static int load_words(learn_state *st, const pf_strmap *words)
{
    int32_t byte_id[256];
    int rc = pf_strmap_init(&st->tokmap, 1u << 16);
    for (int pass = 0; pass < 2 && rc == PF_OK; pass++)
        for (unsigned b = 0; b < 256 && rc == PF_OK; b++) {
            unsigned char c = (unsigned char)b;
            if ((pf_tok_byte_cp(b) == b) == (pass == 0)) {
                byte_id[b] = (int32_t)st->tokmap.count;
                rc = pf_strmap_add(&st->tokmap, &c, 1, byte_id[b]);
            }
        }
    st->nwords = (int32_t)words->count;
    size_t total = words->pool_len, nw = (size_t)st->nwords + 1;
    if (total >= INT32_MAX)
        return pf_fail(PF_ERR_RUNTIME, "train-tokenizer: more than 2 GB of distinct words");
    st->wstart = malloc(nw * sizeof *st->wstart);
    st->wlen = malloc(nw * sizeof *st->wlen);
    st->wstamp = malloc(nw * sizeof *st->wstamp);
    st->syms = malloc((total + 1) * sizeof *st->syms);
    if (rc != PF_OK || !st->wstart || !st->wlen || !st->wstamp || !st->syms)
        return pf_fail(PF_ERR_RUNTIME, "train-tokenizer: out of memory");
    size_t at = 0, len;
    for (int32_t w = 0; w < st->nwords; w++) {
        const unsigned char *s = (const unsigned char *)pf_strmap_key(words, (uint32_t)w, &len);
        st->wstart[w] = (int32_t)at;
        st->wlen[w] = (int32_t)len;
        st->wstamp[w] = -1;
        for (size_t i = 0; i < len; i++)
            st->syms[at++] = byte_id[s[i]];
    }
    return PF_OK;
}

/* Counts every adjacent pair of every word and fills the heap. */
static int count_pairs(learn_state *st)
{
    if (pf_pairmap_init(&st->pidx, 1u << 16) != PF_OK)
        return PF_ERR_RUNTIME;
    for (int32_t w = 0; w < st->nwords; w++) {
        const int32_t *s = st->syms + st->wstart[w];
        for (int32_t i = 0; i + 1 < st->wlen[w]; i++) {
            int32_t p = pair_index(st, s[i], s[i + 1]);
            if (p < 0 || list_add(st, p, w) != PF_OK)
                return pf_fail(PF_ERR_RUNTIME, "train-tokenizer: out of memory");
            st->pcount[p] += st->wfreq[w];
        }
    }
    for (int32_t p = 0; p < st->npairs; p++)
        if (heap_push(st, st->pcount[p], p) != PF_OK)
            return PF_ERR_RUNTIME;
    return PF_OK;
}

/* Pops the best pair with a current count (re-pushing entries whose count fell);
 * -1 when no pair is left. */
static int32_t pop_best(learn_state *st)
{
    while (st->hn > 0) {
        heap_ent e = heap_pop(st);
        int64_t cur = st->pcount[e.pair];
        if (cur > 0 && cur == e.count)
            return e.pair;
        if (cur > 0 && cur < e.count && heap_push(st, cur, e.pair) != PF_OK)
            return -1;
    }
    return -1;
}

/* The id of the token a+b, added when new. */
static int32_t merged_token(learn_state *st, int32_t a, int32_t b)
{
    size_t la, lb;
    const char *x = pf_strmap_key(&st->tokmap, (uint32_t)a, &la);
    const char *y = pf_strmap_key(&st->tokmap, (uint32_t)b, &lb);
    char *cat = malloc(la + lb);
    if (!cat)
        return pair_oom(st);
    memcpy(cat, x, la);
    memcpy(cat + la, y, lb);
    int32_t id = pf_strmap_get(&st->tokmap, cat, la + lb);
    if (id < 0) {
        id = (int32_t)st->tokmap.count;
        if (pf_strmap_add(&st->tokmap, cat, la + lb, id) != PF_OK)
            id = pair_oom(st);
    }
    free(cat);
    return id;
}

/* Removes word w's pairs from the counts, merges (a, b) -> c in it, adds its new pairs
 * back; pairs with c get w in their list and are noted as touched at this step. */
static int rewrite_word(learn_state *st, int32_t w, int32_t a, int32_t b, int32_t c, int32_t step)
{
    int32_t *s = st->syms + st->wstart[w], n = st->wlen[w], j = 0;
    int64_t f = st->wfreq[w];
    for (int32_t i = 0; i + 1 < n; i++)
        st->pcount[pf_pairmap_get(&st->pidx, pf_pair_key(s[i], s[i + 1]))->a] -= f;
    for (int32_t i = 0; i < n; i++) {
        int hit = i + 1 < n && s[i] == a && s[i + 1] == b;
        s[j++] = hit ? c : s[i];
        i += hit;
    }
    st->wlen[w] = j;
    for (int32_t i = 0; i + 1 < j; i++) {
        int32_t p = pair_index(st, s[i], s[i + 1]);
        if (p < 0)
            return pf_fail(PF_ERR_RUNTIME, "train-tokenizer: out of memory");
        st->pcount[p] += f;
        if ((s[i] == c || s[i + 1] == c) && list_add(st, p, w) != PF_OK)
            return PF_ERR_RUNTIME;
        if ((s[i] == c || s[i + 1] == c) && st->pstamp[p] != step) {
            st->pstamp[p] = step;
            int32_t *t = grow(st, st->touched, &st->tcap, st->ntouched + 1, sizeof *t);
            if (!t)
                return PF_ERR_RUNTIME;
            st->touched = t;
            st->touched[st->ntouched++] = p;
        }
    }
    return PF_OK;
}

/* Whether word w holds the pair (a, b). */
static int word_has(const learn_state *st, int32_t w, int32_t a, int32_t b)
{
    const int32_t *s = st->syms + st->wstart[w];
    for (int32_t i = 0; i + 1 < st->wlen[w]; i++)
        if (s[i] == a && s[i + 1] == b)
            return 1;
    return 0;
}

/* Applies the merge of pair p everywhere (step numbers the merges). */
static int merge_step(learn_state *st, int32_t p, int32_t step)
{
    int32_t a = st->pleft[p], b = st->pright[p], c = merged_token(st, a, b);
    if (c < 0)
        return pf_fail(PF_ERR_RUNTIME, "train-tokenizer: out of memory");
    if (!st->pmerged[p]) {
        st->pmerged[p] = 1;
        int32_t *m = grow(st, st->merges, &st->mcap, 2 * st->nmerges + 2, sizeof *m);
        if (!m)
            return PF_ERR_RUNTIME;
        st->merges = m;
        st->merges[2 * st->nmerges] = a;
        st->merges[2 * st->nmerges++ + 1] = b;
    }
    st->ntouched = 0;
    for (int32_t k = st->phead[p]; k >= 0; k = st->nodes[k].next) {
        int32_t w = st->nodes[k].word;
        if (st->wstamp[w] == step || !word_has(st, w, a, b))
            continue;
        st->wstamp[w] = step;
        if (rewrite_word(st, w, a, b, c, step) != PF_OK)
            return PF_ERR_RUNTIME;
    }
    for (size_t k = 0; k < st->ntouched; k++) {
        int32_t q = st->touched[k];
        if (st->pcount[q] > 0 && heap_push(st, st->pcount[q], q) != PF_OK)
            return PF_ERR_RUNTIME;
    }
    return PF_OK;
}

/* Builds the tokenizer: learned tokens, merges, then the special tokens. */
static int build(const learn_state *st, pf_tokenizer **out)
{
    int32_t ntok = (int32_t)st->tokmap.count;
    char small[512];
    int rc = pf_tok_create(ntok + PF_BPE_SPECIAL_COUNT, out);
    for (int32_t id = 0; id < ntok && rc == PF_OK; id++) {
        size_t len;
        const char *b = pf_strmap_key(&st->tokmap, (uint32_t)id, &len);
        char *str = 2 * len + 1 <= sizeof small ? small : malloc(2 * len + 1);
        if (!str)
            rc = pf_fail(PF_ERR_RUNTIME, "train-tokenizer: out of memory");
        if (str)
            rc = pf_tok_set_token(*out, id, str,
                                  pf_tok_bytes_to_str((const unsigned char *)b, len, str));
        if (str != small)
            free(str);
    }
    for (size_t m = 0; m < st->nmerges && rc == PF_OK; m++)
        rc = pf_tok_add_merge(*out, st->merges[2 * m], st->merges[2 * m + 1]);
    for (int k = 0; k < PF_BPE_SPECIAL_COUNT && rc == PF_OK; k++)
        rc = pf_tok_set_token(*out, ntok + k, pf_bpe_special_tokens[k],
                              strlen(pf_bpe_special_tokens[k]));
    if (rc == PF_OK)
        rc = pf_tok_finish(*out);
    if (rc != PF_OK) {
        pf_tokenizer_free(*out);
        *out = NULL;
    }
    return rc;
}

/* Frees everything the state owns. */
static void free_state(learn_state *st)
{
    void *ptrs[] = {st->wstart, st->wlen,  st->wstamp,  st->syms,   st->pleft,
                    st->pright, st->phead, st->pstamp,  st->pcount, st->pmerged,
                    st->nodes,  st->heap,  st->touched, st->merges};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        free(ptrs[i]);
    pf_strmap_free(&st->tokmap);
    pf_pairmap_free(&st->pidx);
}

int pf_bpe_learn(const pf_strmap *words, const int64_t *freq, int32_t target, pf_tokenizer **out)
{
    learn_state st;
    memset(&st, 0, sizeof st);
    st.wfreq = freq;
    *out = NULL;
    int rc = load_words(&st, words);
    if (rc == PF_OK)
        rc = count_pairs(&st);
    for (int32_t step = 0; rc == PF_OK && (int32_t)st.tokmap.count < target; step++) {
        int32_t p = pop_best(&st);
        if (p < 0)
            break;
        rc = merge_step(&st, p, step);
    }
    if (rc == PF_OK && st.oom)
        rc = pf_fail(PF_ERR_RUNTIME, "train-tokenizer: out of memory");
    if (rc == PF_OK)
        rc = build(&st, out);
    free_state(&st);
    return rc;
}
