/*
 * gpt2_decode.c: GPT-2 autoregressive decoding with a KV cache: cache layout, prefill of
 * right-padded prompts and one-token decode steps (see model.h for the contract).
 *
 * Cache layout: per layer l, keys and values of sequence b, head h, position t at
 *   k[(((l * max_B + b) * H + h) * max_T + t) * hd .. + hd)   (v likewise),
 * so one head's cached keys are a contiguous [t, hd] block. len[b] positions are valid.
 *
 * Invariant (the determinism contract): a sequence's results depend only on its own
 * tokens. Prefill runs each prompt alone through the training kernels (sgemm with M = its
 * length; padding is never read) and decode steps compact the active sequences into rows
 * processed by row-stable kernels (kernels.h), whose per-element arithmetic ignores the
 * row count; layer norm, GELU and attention are per row by construction.
 *
 * Scratch, shared by both passes: activations for `rows` = max(max_T, max_B) tokens
 * (prefill: one prompt's positions; decode: one row per active sequence), attention
 * scratch, and compact logits [max_B, V]. Nothing is allocated after creation.
 */
#include <string.h>

#include "gpt2_internal.h"
#include "kernels.h"
#include "prefopt/error.h"

typedef struct {
    pf_model_config cfg;
    int max_B, max_T, rows;
    int B;              /* sequences loaded by the last prefill (0: none) */
    int32_t *len;       /* [max_B] cached positions per sequence */
    int32_t *seq;       /* [max_B] the sequence of each compacted decode row */
    float *k, *v;       /* [L][max_B][H][max_T][hd] */
    float *x, *ln;      /* [rows, D] residual stream, layer-norm output */
    float *qkv;         /* [rows, 3D] */
    float *atty;        /* [rows, D] */
    float *fch;         /* [rows, 4D] MLP hidden (GELU in place) */
    float *mean, *rstd; /* [rows] */
    float *att;         /* attention scratch: prefill blocks or one decode score row */
    float *logits;      /* [max_B, V] compact decode logits */
    char *mem;
} gpt2_cache;

/* Carves every region from base (NULL: only measure) and returns the total bytes. */
static size_t cache_layout(gpt2_cache *c, char *base)
{
    const size_t D = (size_t)c->cfg.d_model, L = (size_t)c->cfg.n_layer;
    const size_t V = (size_t)c->cfg.vocab_size, rows = (size_t)c->rows;
    const size_t kv = L * (size_t)c->max_B * (size_t)c->max_T * D;
    size_t att = attention_lowmem_scratch(c->max_T);
    char *cur = base;
    c->len = carve(&cur, (size_t)c->max_B);
    c->seq = carve(&cur, (size_t)c->max_B);
    c->k = carve(&cur, kv);
    c->v = carve(&cur, kv);
    c->x = carve(&cur, rows * D);
    c->ln = carve(&cur, rows * D);
    c->qkv = carve(&cur, rows * 3 * D);
    c->atty = carve(&cur, rows * D);
    c->fch = carve(&cur, rows * 4 * D);
    c->mean = carve(&cur, rows);
    c->rstd = carve(&cur, rows);
    c->att = carve(&cur, att > (size_t)c->max_T ? att : (size_t)c->max_T);
    c->logits = carve(&cur, (size_t)c->max_B * V);
    return (size_t)(cur - base);
}

int pf_gpt2_kv_cache_create(const pf_model *m, int max_batch, int max_seq, void **impl,
                            size_t *bytes)
{
    gpt2_cache *c = pf_calloc(sizeof *c, "kv cache");
    if (!c)
        return PF_ERR_RUNTIME;
    c->cfg = m->cfg;
    c->max_B = max_batch;
    c->max_T = max_seq;
    c->rows = max_seq > max_batch ? max_seq : max_batch;
    size_t n = cache_layout(c, NULL);
    c->mem = pf_calloc(n, "kv cache memory");
    if (!c->mem) {
        pf_free(c);
        return PF_ERR_RUNTIME;
    }
    cache_layout(c, c->mem);
    *impl = c;
    *bytes = n + sizeof *c;
    return PF_OK;
}

void pf_gpt2_kv_cache_free(void *impl)
{
    gpt2_cache *c = impl;
    if (!c)
        return;
    pf_free(c->mem);
    pf_free(c);
}

int pf_gpt2_kv_cache_length(const void *impl, int b)
{
    const gpt2_cache *c = impl;
    return b >= 0 && b < c->B ? c->len[b] : 0;
}

/* Cached keys of (layer l, sequence b, head h): a [max_T, hd] block. */
static float *kv_block(const gpt2_cache *c, float *base, int l, int b, int h)
{
    const size_t H = (size_t)c->cfg.n_head, hd = (size_t)(c->cfg.d_model / c->cfg.n_head);
    return base +
           (((size_t)l * (size_t)c->max_B + (size_t)b) * H + (size_t)h) * (size_t)c->max_T * hd;
}

/* Copies the keys and values of n positions (rows of qkv [n, 3D]) of sequence b into
 * layer l's cache at positions t0..t0+n-1. */
static void store_kv(gpt2_cache *c, int l, int b, const float *qkv, int t0, int n)
{
    const int D = c->cfg.d_model, H = c->cfg.n_head, hd = D / H;
    for (int h = 0; h < H; h++) {
        float *kb = kv_block(c, c->k, l, b, h), *vb = kv_block(c, c->v, l, b, h);
        for (int t = 0; t < n; t++) {
            const float *row = qkv + (size_t)t * 3 * D + (size_t)h * hd;
            memcpy(kb + (size_t)(t0 + t) * hd, row + D, sizeof(float) * (size_t)hd);
            memcpy(vb + (size_t)(t0 + t) * hd, row + 2 * D, sizeof(float) * (size_t)hd);
        }
    }
}

/* Checks that the cache was sized for m's shapes. */
static int check_model(const pf_model *m, const gpt2_cache *c, const char *what)
{
    if (memcmp(&c->cfg, &m->cfg, sizeof c->cfg) != 0)
        return pf_fail(PF_ERR_RUNTIME, "%s: kv cache was sized for another model shape", what);
    return PF_OK;
}

/* The MLP half of a block on n rows, in place on the residual stream x:
 * x += gelu(LN2(x) W_fc + b) W_fcproj + b. rowstable selects the decode kernels. */
static void mlp_forward(gpt2_cache *c, const layer_view *p, int n, int rowstable)
{
    const int D = c->cfg.d_model;
    layernorm_forward(c->ln, c->mean, c->rstd, c->x, p->t[LN2_W], p->t[LN2_B], n, D);
    if (rowstable)
        rowstable_matmul_forward(c->fch, c->ln, p->t[FC_W], p->t[FC_B], n, D, 4 * D, 0);
    else
        matmul_forward(c->fch, c->ln, p->t[FC_W], p->t[FC_B], n, D, 4 * D, 0);
    gelu_forward(c->fch, c->fch, (long)n * 4 * D);
    if (rowstable)
        rowstable_matmul_forward(c->x, c->fch, p->t[FCPROJ_W], p->t[FCPROJ_B], n, 4 * D, D, 1);
    else
        matmul_forward(c->x, c->fch, p->t[FCPROJ_W], p->t[FCPROJ_B], n, 4 * D, D, 1);
}

/* Block l on the n positions of one prompt (sequence b), x in place; caches K and V. */
static void prefill_layer(const pf_model *m, gpt2_cache *c, int l, int b, int n)
{
    const int D = m->cfg.d_model, H = m->cfg.n_head;
    layer_view p = layer_at(m, m->params, l);
    layernorm_forward(c->ln, c->mean, c->rstd, c->x, p.t[LN1_W], p.t[LN1_B], n, D);
    matmul_forward(c->qkv, c->ln, p.t[ATTN_W], p.t[ATTN_B], n, D, 3 * D, 0);
    store_kv(c, l, b, c->qkv, 0, n);
    attention_forward_lowmem(c->atty, c->att, c->qkv, n, D, H);
    matmul_forward(c->x, c->atty, p.t[PROJ_W], p.t[PROJ_B], n, D, D, 1);
    mlp_forward(c, &p, n, 0);
}

/* Final layer norm and LM head of n rows of x (row stride D) into logits [n, V]. */
static void head_forward(const pf_model *m, gpt2_cache *c, const float *x, int n, float *logits)
{
    const int D = m->cfg.d_model, L = m->cfg.n_layer;
    const float *lnf = param_at(m, lnf_w_index(L));
    layernorm_forward(c->ln, c->mean, c->rstd, x, lnf, lnf + D, n, D);
    rowstable_lm_head_forward(logits, c->ln, param_at(m, WTE), n, D, m->cfg.vocab_size);
}

/* Runs one prompt of n tokens as sequence b; writes its last position's logits [V]. */
static void prefill_one(const pf_model *m, gpt2_cache *c, const int32_t *tokens, int n, int b,
                        float *logits)
{
    const int D = m->cfg.d_model;
    encoder_forward(c->x, tokens, param_at(m, WTE), param_at(m, WPE), 1, n, D);
    for (int l = 0; l < m->cfg.n_layer; l++)
        prefill_layer(m, c, l, b, n);
    head_forward(m, c, c->x + (size_t)(n - 1) * D, 1, logits);
    c->len[b] = n;
}

/* Checks the prompt batch's shape, lengths and real token ids. */
static int check_prompts(const pf_model *m, const gpt2_cache *c, const pf_batch *batch)
{
    if (batch->B < 1 || batch->B > c->max_B || batch->T < 1)
        return pf_fail(PF_ERR_USAGE, "prefill: batch of %d sequences (cache holds 1..%d)", batch->B,
                       c->max_B);
    for (int b = 0; b < batch->B; b++) {
        int n = batch->lengths[b];
        if (n < 1 || n > batch->T || n > c->max_T)
            return pf_fail(PF_ERR_DATA, "prefill: sequence %d has length %d outside [1, %d]", b, n,
                           batch->T < c->max_T ? batch->T : c->max_T);
        for (int t = 0; t < n; t++) {
            int id = batch->tokens[(size_t)b * batch->T + t];
            if (id < 0 || id >= m->cfg.vocab_size)
                return pf_fail(PF_ERR_DATA,
                               "prefill: sequence %d position %d: token id %d outside [0, %d)", b,
                               t, id, m->cfg.vocab_size);
        }
    }
    return PF_OK;
}

int pf_gpt2_prefill(pf_model *m, void *impl, const pf_batch *batch, float *logits)
{
    gpt2_cache *c = impl;
    int rc = check_model(m, c, "prefill");
    if (!rc)
        rc = check_prompts(m, c, batch);
    if (rc)
        return rc;
    const size_t V = (size_t)m->cfg.vocab_size;
    c->B = 0;
    for (int b = 0; b < batch->B; b++)
        prefill_one(m, c, batch->tokens + (size_t)b * batch->T, batch->lengths[b], b,
                    logits + (size_t)b * V);
    c->B = batch->B;
    return PF_OK;
}

/* Compacts the active sequences into rows (c->seq) and checks their tokens and room;
 * returns the row count in *M. */
static int gather_rows(const pf_model *m, gpt2_cache *c, const int32_t *tokens,
                       const uint8_t *active, int *M)
{
    int n = 0;
    for (int b = 0; b < c->B; b++) {
        if (active && !active[b])
            continue;
        if (tokens[b] < 0 || tokens[b] >= m->cfg.vocab_size)
            return pf_fail(PF_ERR_DATA, "decode: sequence %d: token id %d outside [0, %d)", b,
                           tokens[b], m->cfg.vocab_size);
        if (c->len[b] >= c->max_T)
            return pf_fail(PF_ERR_USAGE, "decode: sequence %d is full (%d positions cached)", b,
                           c->len[b]);
        c->seq[n++] = b;
    }
    *M = n;
    return PF_OK;
}

/* Self-attention of the M decode rows: caches each row's new key and value at its
 * sequence's next position, then attends over all of that sequence's positions. */
static void decode_attention(gpt2_cache *c, int l, int M)
{
    const int D = c->cfg.d_model, H = c->cfg.n_head, hd = D / H;
    for (int r = 0; r < M; r++) {
        const int b = c->seq[r], pos = c->len[b];
        const float *qkv = c->qkv + (size_t)r * 3 * D;
        store_kv(c, l, b, qkv, pos, 1);
        for (int h = 0; h < H; h++)
            attention_decode(c->atty + (size_t)r * D + (size_t)h * hd, c->att, qkv + (size_t)h * hd,
                             kv_block(c, c->k, l, b, h), kv_block(c, c->v, l, b, h), pos + 1, hd);
    }
}

/* Block l on the M decode rows, x in place. */
static void decode_layer(const pf_model *m, gpt2_cache *c, int l, int M)
{
    const int D = m->cfg.d_model;
    layer_view p = layer_at(m, m->params, l);
    layernorm_forward(c->ln, c->mean, c->rstd, c->x, p.t[LN1_W], p.t[LN1_B], M, D);
    rowstable_matmul_forward(c->qkv, c->ln, p.t[ATTN_W], p.t[ATTN_B], M, D, 3 * D, 0);
    decode_attention(c, l, M);
    rowstable_matmul_forward(c->x, c->atty, p.t[PROJ_W], p.t[PROJ_B], M, D, D, 1);
    mlp_forward(c, &p, M, 1);
}

/* x[r] = wte[token] + wpe[position] for each decode row. */
static void decode_embed(const pf_model *m, gpt2_cache *c, const int32_t *tokens, int M)
{
    const int D = m->cfg.d_model;
    const float *wte = param_at(m, WTE), *wpe = param_at(m, WPE);
    for (int r = 0; r < M; r++) {
        const int b = c->seq[r];
        const float *e = wte + (size_t)tokens[b] * D, *p = wpe + (size_t)c->len[b] * D;
        float *x = c->x + (size_t)r * D;
        for (int i = 0; i < D; i++)
            x[i] = e[i] + p[i];
    }
}

int pf_gpt2_decode_step(pf_model *m, void *impl, const int32_t *tokens, const uint8_t *active,
                        float *logits)
{
    gpt2_cache *c = impl;
    int M = 0, rc = check_model(m, c, "decode");
    if (rc)
        return rc;
    if (c->B == 0)
        return pf_fail(PF_ERR_USAGE, "decode: the kv cache holds no sequences (prefill first)");
    if ((rc = gather_rows(m, c, tokens, active, &M)) || M == 0)
        return rc;
    const size_t V = (size_t)m->cfg.vocab_size;
    decode_embed(m, c, tokens, M);
    for (int l = 0; l < m->cfg.n_layer; l++)
        decode_layer(m, c, l, M);
    head_forward(m, c, c->x, M, c->logits);
    for (int r = 0; r < M; r++) {
        memcpy(logits + (size_t)c->seq[r] * V, c->logits + (size_t)r * V, sizeof(float) * V);
        c->len[c->seq[r]]++;
    }
    return PF_OK;
}
