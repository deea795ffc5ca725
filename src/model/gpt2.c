/*
 * gpt2.c: the GPT-2 architecture: tensor table, initialisation, activation workspace,
 * forward and backward (KV-cache decoding is in gpt2_decode.c).
 *
 * Per layer l, with x the residual stream entering it:
 *   ln1 = LN(x); qkv = ln1 W_attn + b; atty = attention(qkv);
 *   r2 = x + atty W_proj + b; ln2 = LN(r2); fch = ln2 W_fc + b; fcg = gelu(fch);
 *   x' = r2 + fcg W_fcproj + b.
 * Then lnf = LN(x_L); logits = lnf wte^T / temperature; values = lnf . v_w + v_b.
 *
 * The workspace keeps every activation backward needs, per layer, for up to
 * cap = max_batch * max_seq tokens; without backward, all layers share one slot (and the
 * residual stream two), so an inference workspace is about 1/L of a training one.
 * Backward reuses three scratch buffers for the whole network: dresid [cap,D] carries
 * the residual-stream gradient down, dwide [cap,4D] holds dfch then dqkv, dnarrow
 * [cap,D] holds dln2, datty, dln1.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpt2_internal.h"
#include "kernels.h"
#include "prefopt/error.h"
#include "prefopt/rng.h"

static const char *const LAYER_TENSOR_NAMES[PER_LAYER] = {
    "ln_1.weight",        "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
    "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
    "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias"};

/* Appends one tensor description to the table. */
static void add_tensor(pf_tensor *t, const char *name, int ndim, int64_t d0, int64_t d1, int decay)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim == 2 ? d1 : 0;
    t->numel = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    t->decay = decay;
}

/* The HF GPT-2 tensor table for cfg, in canonical order. */
static int gpt2_build_tensors(const pf_model_config *cfg, pf_tensor *table, int cap)
{
    const int64_t D = cfg->d_model, V = cfg->vocab_size, T = cfg->max_seq_len;
    const int64_t shapes[PER_LAYER][3] = {
        {1, D, 0}, {1, D, 0}, {2, D, 3 * D}, {1, 3 * D, 0}, {2, D, D},     {1, D, 0},
        {1, D, 0}, {1, D, 0}, {2, D, 4 * D}, {1, 4 * D, 0}, {2, 4 * D, D}, {1, D, 0}};
    int n = 0;
    (void)cap;
    add_tensor(&table[n++], "wte.weight", 2, V, D, 1);
    add_tensor(&table[n++], "wpe.weight", 2, T, D, 1);
    for (int l = 0; l < cfg->n_layer; l++)
        for (int k = 0; k < PER_LAYER; k++) {
            char name[PF_TENSOR_NAME_MAX];
            snprintf(name, sizeof name, "h.%d.%s", l, LAYER_TENSOR_NAMES[k]);
            int nd = (int)shapes[k][0];
            add_tensor(&table[n++], name, nd, shapes[k][1], shapes[k][2], nd == 2);
        }
    add_tensor(&table[n++], "ln_f.weight", 1, D, 0, 0);
    add_tensor(&table[n++], "ln_f.bias", 1, D, 0, 0);
    if (cfg->value_head) {
        add_tensor(&table[n++], "v_head.weight", 1, D, 0, 0);
        add_tensor(&table[n++], "v_head.bias", 1, 1, 0, 0);
    }
    return n;
}

/* GPT-2 init: N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), LN gains 1,
 * biases and the value head 0. Tensor k uses Philox stream k. */
static void gpt2_init_random(pf_model *m, uint64_t seed)
{
    const double std = 0.02, proj_std = 0.02 / sqrt(2.0 * m->cfg.n_layer);
    for (int k = 0; k < m->n_tensors; k++) {
        const pf_tensor *t = &m->tensors[k];
        float *p = m->params + t->offset;
        int is_ln_gain = strstr(t->name, "ln_") && strstr(t->name, ".weight");
        int is_proj = strstr(t->name, "c_proj.weight") != NULL;
        int is_vhead = strncmp(t->name, "v_head", 6) == 0;
        for (size_t i = 0; i < t->numel; i++) {
            if (is_ln_gain)
                p[i] = 1.0f;
            else if (t->ndim == 1 || is_vhead)
                p[i] = 0.0f;
            else
                p[i] = (float)((is_proj ? proj_std : std) * pf_rng_normal(seed, (uint64_t)k, i));
        }
    }
}

/* Activation storage; see the file comment. Sizes in floats unless said. */
typedef struct {
    pf_model_config cfg;
    int max_B, max_T, with_backward, slots; /* slots: 1 (inference) or n_layer */
    size_t cap;                             /* max_B * max_T tokens */
    char *mem;
    float *resid; /* [L+1][cap,D] (inference: [2][cap,D]) */
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *probs, *atty, *resid2;
    float *ln2, *ln2_mean, *ln2_rstd, *fch, *fcg; /* per slot */
    float *lnf, *lnf_mean, *lnf_rstd, *logits, *inv_sum;
    int32_t *rows, *row_targets;  /* LM-head rows: token index and target, compacted */
    float *lnf_rows, *row_values; /* their lnf rows [rows, D]; per-row scalars */
    int n_rows;
    float *dresid, *dwide, *dnarrow, *dscratch; /* backward only */
    int32_t *tokens, *targets;
    uint8_t *valid;
    /* the last forward's shape and outputs */
    int B, T, has_logprobs, has_values;
    float inv_temperature;
    int32_t *lengths; /* [max_B] */
} gpt2_ws;

/* Carves every region from base (NULL: only measure) and returns the total bytes; one
 * function computes both the size and the layout, so they always agree. */
static size_t gpt2_ws_layout(gpt2_ws *w, char *base)
{
    const size_t D = (size_t)w->cfg.d_model, H = (size_t)w->cfg.n_head, cap = w->cap;
    const size_t S = (size_t)w->slots, V = (size_t)w->cfg.vocab_size;
    const size_t TT = (size_t)w->max_T * (size_t)w->max_T;
    const size_t resid_slots = w->with_backward ? (size_t)w->cfg.n_layer + 1 : 2;
    char *c = base;
    w->resid = carve(&c, resid_slots * cap * D);
    w->ln1 = carve(&c, S * cap * D);
    w->ln1_mean = carve(&c, S * cap);
    w->ln1_rstd = carve(&c, S * cap);
    w->qkv = carve(&c, S * cap * 3 * D);
    w->probs = carve(&c, S * (size_t)w->max_B * H * TT);
    w->atty = carve(&c, S * cap * D);
    w->resid2 = carve(&c, S * cap * D);
    w->ln2 = carve(&c, S * cap * D);
    w->ln2_mean = carve(&c, S * cap);
    w->ln2_rstd = carve(&c, S * cap);
    w->fch = carve(&c, S * cap * 4 * D);
    w->fcg = carve(&c, S * cap * 4 * D);
    w->lnf = carve(&c, cap * D);
    w->lnf_mean = carve(&c, cap);
    w->lnf_rstd = carve(&c, cap);
    w->logits = carve(&c, cap * V);
    w->inv_sum = carve(&c, cap);
    w->rows = carve(&c, cap);
    w->row_targets = carve(&c, cap);
    w->row_values = carve(&c, cap);
    w->lnf_rows = carve(&c, cap * D);
    if (w->with_backward) {
        w->dresid = carve(&c, cap * D);
        w->dwide = carve(&c, cap * 4 * D);
        w->dnarrow = carve(&c, cap * D);
        w->dscratch = carve(&c, TT);
    }
    w->tokens = carve(&c, cap);
    w->targets = carve(&c, cap);
    w->lengths = carve(&c, (size_t)w->max_B);
    w->valid = carve(&c, cap / 4 + 1);
    return (size_t)(c - base);
}

static int gpt2_workspace_create(const pf_model *m, int max_batch, int max_seq, int with_backward,
                                 void **impl, size_t *bytes)
{
    gpt2_ws *w = pf_calloc(sizeof *w, "workspace");
    if (!w)
        return PF_ERR_RUNTIME;
    w->cfg = m->cfg;
    w->max_B = max_batch;
    w->max_T = max_seq;
    w->with_backward = with_backward;
    w->slots = with_backward ? m->cfg.n_layer : 1;
    w->cap = (size_t)max_batch * (size_t)max_seq;
    size_t n = gpt2_ws_layout(w, NULL);
    w->mem = pf_calloc(n, "activation workspace");
    if (!w->mem) {
        pf_free(w);
        return PF_ERR_RUNTIME;
    }
    gpt2_ws_layout(w, w->mem);
    *impl = w;
    *bytes = n;
    return PF_OK;
}

static void gpt2_workspace_free(void *impl)
{
    gpt2_ws *w = impl;
    if (!w)
        return;
    pf_free(w->mem);
    pf_free(w);
}

/* Per-slot buffer of a layer's activation: base + slot * stride. */
static float *slot_of(const gpt2_ws *w, float *base, int l, size_t stride)
{
    return base + (w->with_backward ? (size_t)l : 0) * stride;
}

/* The residual stream entering layer l (l == L: leaving the last layer). */
static float *resid_of(const gpt2_ws *w, int l)
{
    size_t idx = w->with_backward ? (size_t)l : (size_t)(l % 2);
    return w->resid + idx * w->cap * (size_t)w->cfg.d_model;
}

/* Checks the batch against the model and workspace; fills tokens/targets/valid. */
static int gpt2_prepare_batch(const pf_model *m, gpt2_ws *w, const pf_batch *batch)
{
    const int B = batch->B, T = batch->T, V = m->cfg.vocab_size;
    if (memcmp(&w->cfg, &m->cfg, sizeof w->cfg) != 0)
        return pf_fail(PF_ERR_RUNTIME, "forward: workspace was sized for another model shape");
    if (B < 1 || B > w->max_B || T < 1 || T > w->max_T)
        return pf_fail(PF_ERR_RUNTIME, "forward: batch %d x %d exceeds the workspace's %d x %d", B,
                       T, w->max_B, w->max_T);
    for (int b = 0; b < B; b++) {
        int len = batch->lengths[b];
        if (len < 1 || len > T)
            return pf_fail(PF_ERR_DATA, "forward: sequence %d has length %d outside [1, %d]", b,
                           len, T);
        w->lengths[b] = len;
        for (int t = 0; t < T; t++) {
            int n = b * T + t, id = batch->tokens[n];
            if (id < 0 || id >= V)
                return pf_fail(PF_ERR_DATA,
                               "forward: sequence %d position %d: token id %d outside [0, %d)", b,
                               t, id, V);
            w->tokens[n] = id;
            w->valid[n] = t < len - 1;
            w->targets[n] = t < len - 1 ? batch->tokens[n + 1] : 0;
        }
    }
    w->B = B;
    w->T = T;
    return PF_OK;
}

/* Forward through transformer block l, from resid_of(l) to resid_of(l + 1). */
static void gpt2_layer_forward(const pf_model *m, gpt2_ws *w, int l)
{
    const int B = w->B, T = w->T, D = m->cfg.d_model, H = m->cfg.n_head, N = B * T;
    const size_t cap = w->cap, Dz = (size_t)D;
    layer_view p = layer_at(m, m->params, l);
    float *x = resid_of(w, l), *xout = resid_of(w, l + 1);
    float *ln1 = slot_of(w, w->ln1, l, cap * Dz), *qkv = slot_of(w, w->qkv, l, cap * 3 * Dz);
    float *atty = slot_of(w, w->atty, l, cap * Dz), *r2 = slot_of(w, w->resid2, l, cap * Dz);
    float *ln2 = slot_of(w, w->ln2, l, cap * Dz), *fch = slot_of(w, w->fch, l, cap * 4 * Dz);
    float *fcg = slot_of(w, w->fcg, l, cap * 4 * Dz);
    float *probs = slot_of(w, w->probs, l, (size_t)w->max_B * H * w->max_T * w->max_T);
    layernorm_forward(ln1, slot_of(w, w->ln1_mean, l, cap), slot_of(w, w->ln1_rstd, l, cap), x,
                      p.t[LN1_W], p.t[LN1_B], N, D);
    matmul_forward(qkv, ln1, p.t[ATTN_W], p.t[ATTN_B], N, D, 3 * D, 0);
    attention_forward(atty, probs, qkv, B, T, D, H);
    memcpy(r2, x, sizeof(float) * (size_t)N * Dz);
    matmul_forward(r2, atty, p.t[PROJ_W], p.t[PROJ_B], N, D, D, 1);
    layernorm_forward(ln2, slot_of(w, w->ln2_mean, l, cap), slot_of(w, w->ln2_rstd, l, cap), r2,
                      p.t[LN2_W], p.t[LN2_B], N, D);
    matmul_forward(fch, ln2, p.t[FC_W], p.t[FC_B], N, D, 4 * D, 0);
    gelu_forward(fcg, fch, (long)N * 4 * D);
    memcpy(xout, r2, sizeof(float) * (size_t)N * Dz);
    matmul_forward(xout, fcg, p.t[FCPROJ_W], p.t[FCPROJ_B], N, 4 * D, D, 1);
}

/* values[b,t] = lnf[b,t] . v_w + v_b for real positions, 0 past the end. */
static void value_head_forward(const pf_model *m, gpt2_ws *w, float *values)
{
    const int D = m->cfg.d_model, L = m->cfg.n_layer;
    const float *vw = m->params + m->tensors[vhead_w_index(L)].offset;
    const float vb = m->params[m->tensors[vhead_w_index(L) + 1].offset];
    for (int b = 0; b < w->B; b++)
        for (int t = 0; t < w->T; t++) {
            int n = b * w->T + t;
            float acc = 0.0f;
            if (t < w->lengths[b]) {
                const float *x = w->lnf + (size_t)n * D;
                for (int i = 0; i < D; i++)
                    acc += x[i] * vw[i];
                acc += vb;
            }
            values[n] = acc;
        }
}

/* Compacts the positions whose log-prob is wanted (a real next token, and need[n] when
 * a need mask is given) into w->rows, with their targets and lnf rows: the LM head, its
 * softmax and its backward then run on those rows only. Returns their count. */
static int select_rows(gpt2_ws *w, const uint8_t *need, int N, int D)
{
    int k = 0;
    for (int n = 0; n < N; n++) {
        if (!w->valid[n] || (need && !need[n]))
            continue;
        w->rows[k] = n;
        w->row_targets[k] = w->targets[n];
        memcpy(w->lnf_rows + (size_t)k * D, w->lnf + (size_t)n * D, sizeof(float) * D);
        k++;
    }
    w->n_rows = k;
    return k;
}

/* Keeps, in order, the selected rows whose log-prob has a non-zero gradient (moving
 * their softmax rows, lnf rows and targets up) and puts the gradients in row_values;
 * prompt tokens of a preference pair, for instance, then cost no LM-head backward. */
static int keep_rows_with_gradient(gpt2_ws *w, const float *dlogprobs, int D, int V)
{
    int k = 0;
    for (int r = 0; r < w->n_rows; r++) {
        float g = dlogprobs[w->rows[r]];
        if (g == 0.0f)
            continue;
        if (k != r) {
            memcpy(w->logits + (size_t)k * V, w->logits + (size_t)r * V, sizeof(float) * V);
            memcpy(w->lnf_rows + (size_t)k * D, w->lnf_rows + (size_t)r * D, sizeof(float) * D);
            w->inv_sum[k] = w->inv_sum[r];
            w->row_targets[k] = w->row_targets[r];
            w->rows[k] = w->rows[r];
        }
        w->row_values[k++] = g;
    }
    w->n_rows = k;
    return k;
}

static int gpt2_forward(pf_model *m, void *impl, const pf_batch *batch, const pf_forward_out *out)
{
    gpt2_ws *w = impl;
    const int D = m->cfg.d_model, L = m->cfg.n_layer, V = m->cfg.vocab_size;
    int rc = gpt2_prepare_batch(m, w, batch);
    if (rc)
        return rc;
    if (out->values && !m->cfg.value_head)
        return pf_fail(PF_ERR_RUNTIME, "forward: values requested but the model has no v_head");
    if (out->logprobs && !(out->temperature > 0.0f))
        return pf_fail(PF_ERR_USAGE, "forward: temperature must be > 0");
    const int N = w->B * w->T;
    encoder_forward(resid_of(w, 0), w->tokens, m->params + m->tensors[WTE].offset,
                    m->params + m->tensors[WPE].offset, w->B, w->T, D);
    for (int l = 0; l < L; l++)
        gpt2_layer_forward(m, w, l);
    const float *lnf_w = m->params + m->tensors[lnf_w_index(L)].offset;
    layernorm_forward(w->lnf, w->lnf_mean, w->lnf_rstd, resid_of(w, L), lnf_w, lnf_w + D, N, D);
    w->has_logprobs = out->logprobs != NULL;
    w->has_values = out->values != NULL;
    if (out->logprobs) {
        w->inv_temperature = 1.0f / out->temperature;
        const float *wte = m->params + m->tensors[WTE].offset;
        int k = select_rows(w, out->need, N, D);
        lm_head_forward(w->logits, w->lnf_rows, wte, k, D, V, w->inv_temperature);
        logsoftmax_gather_forward(w->row_values, w->logits, w->inv_sum, w->row_targets, NULL, k, V);
        memset(out->logprobs, 0, sizeof(float) * (size_t)N);
        for (int r = 0; r < k; r++)
            out->logprobs[w->rows[r]] = w->row_values[r];
    }
    if (out->values)
        value_head_forward(m, w, out->values);
    return PF_OK;
}

/* Backward through block l: dresid holds d(loss)/d(resid_of(l + 1)) on entry and
 * d(loss)/d(resid_of(l)) on exit; parameter gradients are added to m->grads. */
static void gpt2_layer_backward(pf_model *m, gpt2_ws *w, int l)
{
    const int B = w->B, T = w->T, D = m->cfg.d_model, H = m->cfg.n_head, N = B * T;
    const size_t cap = w->cap, Dz = (size_t)D;
    layer_view p = layer_at(m, m->params, l), g = layer_at(m, m->grads, l);
    float *x = resid_of(w, l), *r2 = slot_of(w, w->resid2, l, cap * Dz);
    float *ln1 = slot_of(w, w->ln1, l, cap * Dz), *qkv = slot_of(w, w->qkv, l, cap * 3 * Dz);
    float *atty = slot_of(w, w->atty, l, cap * Dz), *ln2 = slot_of(w, w->ln2, l, cap * Dz);
    float *fch = slot_of(w, w->fch, l, cap * 4 * Dz), *fcg = slot_of(w, w->fcg, l, cap * 4 * Dz);
    float *probs = slot_of(w, w->probs, l, (size_t)w->max_B * H * w->max_T * w->max_T);
    float *dresid = w->dresid, *dwide = w->dwide, *dnarrow = w->dnarrow;
    /* MLP: x' = r2 + gelu(ln2 W_fc + b) W_fcproj + b */
    matmul_backward(dwide, g.t[FCPROJ_W], g.t[FCPROJ_B], dresid, fcg, p.t[FCPROJ_W], N, 4 * D, D);
    gelu_backward(dwide, fch, (long)N * 4 * D);
    matmul_backward(dnarrow, g.t[FC_W], g.t[FC_B], dwide, ln2, p.t[FC_W], N, D, 4 * D);
    layernorm_backward(dresid, g.t[LN2_W], g.t[LN2_B], dnarrow, r2, p.t[LN2_W],
                       slot_of(w, w->ln2_mean, l, cap), slot_of(w, w->ln2_rstd, l, cap), N, D);
    /* attention: r2 = x + attention(LN(x) W_attn + b) W_proj + b */
    matmul_backward(dnarrow, g.t[PROJ_W], g.t[PROJ_B], dresid, atty, p.t[PROJ_W], N, D, D);
    attention_backward(dwide, w->dscratch, dnarrow, qkv, probs, B, T, D, H);
    matmul_backward(dnarrow, g.t[ATTN_W], g.t[ATTN_B], dwide, ln1, p.t[ATTN_W], N, D, 3 * D);
    layernorm_backward(dresid, g.t[LN1_W], g.t[LN1_B], dnarrow, x, p.t[LN1_W],
                       slot_of(w, w->ln1_mean, l, cap), slot_of(w, w->ln1_rstd, l, cap), N, D);
}

/* dlnf[n] += dvalues[n] * v_w; dv_w += dvalues[n] * lnf[n]; dv_b += dvalues[n] */
static void value_head_backward(pf_model *m, gpt2_ws *w, float *dlnf, const float *dvalues)
{
    const int D = m->cfg.d_model, L = m->cfg.n_layer;
    const float *vw = m->params + m->tensors[vhead_w_index(L)].offset;
    float *dvw = m->grads + m->tensors[vhead_w_index(L)].offset;
    float *dvb = m->grads + m->tensors[vhead_w_index(L) + 1].offset;
    for (int b = 0; b < w->B; b++)
        for (int t = 0; t < w->lengths[b]; t++) {
            int n = b * w->T + t;
            float dv = dvalues[n];
            const float *x = w->lnf + (size_t)n * D;
            float *dx = dlnf + (size_t)n * D;
            for (int i = 0; i < D; i++) {
                dx[i] += dv * vw[i];
                dvw[i] += dv * x[i];
            }
            dvb[0] += dv;
        }
}

static int gpt2_backward(pf_model *m, void *impl, const float *dlogprobs, const float *dvalues)
{
    gpt2_ws *w = impl;
    const int D = m->cfg.d_model, L = m->cfg.n_layer, V = m->cfg.vocab_size;
    const int N = w->B * w->T;
    if (!w->with_backward)
        return pf_fail(PF_ERR_RUNTIME, "backward: workspace was created for inference only");
    if (w->B == 0 || (dlogprobs && !w->has_logprobs) || (dvalues && !w->has_values))
        return pf_fail(PF_ERR_RUNTIME, "backward: no matching forward to back-propagate through");
    float *dlnf = w->dnarrow;
    const size_t nd = (size_t)N * (size_t)D;
    if (dlogprobs) {
        int k = keep_rows_with_gradient(w, dlogprobs, D, V);
        float *dlnf_rows = w->dwide; /* [k, D] scratch */
        logsoftmax_gather_backward(w->logits, w->inv_sum, w->row_values, w->row_targets, NULL, k,
                                   V);
        lm_head_backward(dlnf_rows, m->grads + m->tensors[WTE].offset, w->logits, w->lnf_rows,
                         m->params + m->tensors[WTE].offset, k, D, V, w->inv_temperature);
        memset(dlnf, 0, sizeof(float) * nd);
        for (int r = 0; r < k; r++)
            memcpy(dlnf + (size_t)w->rows[r] * D, dlnf_rows + (size_t)r * D, sizeof(float) * D);
        w->has_logprobs = 0; /* the logits buffer now holds gradients */
    } else {
        memset(dlnf, 0, sizeof(float) * nd);
    }
    if (dvalues)
        value_head_backward(m, w, dlnf, dvalues);
    memset(w->dresid, 0, sizeof(float) * nd);
    const int lnf = lnf_w_index(L);
    layernorm_backward(w->dresid, m->grads + m->tensors[lnf].offset,
                       m->grads + m->tensors[lnf + 1].offset, dlnf, resid_of(w, L),
                       m->params + m->tensors[lnf].offset, w->lnf_mean, w->lnf_rstd, N, D);
    for (int l = L - 1; l >= 0; l--)
        gpt2_layer_backward(m, w, l);
    encoder_backward(m->grads + m->tensors[WTE].offset, m->grads + m->tensors[WPE].offset,
                     w->dresid, w->tokens, w->B, w->T, D);
    return PF_OK;
}

const pf_arch_ops pf_gpt2_ops = {
    .name = "gpt2",
    .build_tensors = gpt2_build_tensors,
    .init_random = gpt2_init_random,
    .workspace_create = gpt2_workspace_create,
    .workspace_free = gpt2_workspace_free,
    .forward = gpt2_forward,
    .backward = gpt2_backward,
    .kv_cache_create = pf_gpt2_kv_cache_create,
    .kv_cache_free = pf_gpt2_kv_cache_free,
    .kv_cache_length = pf_gpt2_kv_cache_length,
    .prefill = pf_gpt2_prefill,
    .decode_step = pf_gpt2_decode_step,
};
