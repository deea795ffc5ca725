/*
 * test_model.c: the whole GPT-2 model: its tensor table (HF names and shapes), seeded
 * initialisation, a finite-difference check of every tensor's gradient through the full
 * network with padding, temperature and the value head, bitwise determinism, the
 * padding contract and error reporting.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_run.h"
#include "prefopt/error.h"
#include "prefopt/model.h"
#include "testutil.h"

static const pf_model_config TINY = {.arch = PF_ARCH_GPT2,
                                     .n_layer = 2,
                                     .n_head = 2,
                                     .d_model = 8,
                                     .vocab_size = 11,
                                     .max_seq_len = 12,
                                     .value_head = 1};

enum { B = 3, T = 9 };
static const int32_t LENGTHS[B] = {9, 5, 1};

/* Fills tokens [B,T] with ids, padding with pad_id past each length. */
static void make_tokens(int32_t *tokens, int vocab, int pad_id)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            tokens[b * T + t] = t < LENGTHS[b] ? (b * 5 + t * 3 + 1) % vocab : pad_id;
}

/* Random parameters large enough for non-trivial gradients in every tensor. */
static void randomize(pf_model *m, uint64_t seed)
{
    float *p = pf_model_params(m);
    tu_fill_normal(p, (long)pf_model_num_params(m), 0.3f, seed, 0);
    for (int k = 0; k < pf_model_num_tensors(m); k++) {
        const pf_tensor *t = pf_model_tensor(m, k);
        if (strstr(t->name, "ln_") && strstr(t->name, ".weight"))
            for (size_t i = 0; i < t->numel; i++)
                p[t->offset + i] += 1.0f;
    }
}

static void test_tensor_table(void)
{
    pf_model *m = NULL;
    CU_ASSERT_FATAL(pf_model_create(&TINY, 0, &m) == PF_OK);
    const int D = 8, V = 11;
    CU_ASSERT(pf_model_num_tensors(m) == 2 + 12 * 2 + 2 + 2);
    CU_ASSERT_STRING_EQUAL(pf_model_tensor(m, 0)->name, "wte.weight");
    CU_ASSERT_STRING_EQUAL(pf_model_tensor(m, 4)->name, "h.0.attn.c_attn.weight");
    const pf_tensor *t = pf_model_find_tensor(m, "h.1.mlp.c_proj.weight");
    CU_ASSERT_FATAL(t != NULL);
    CU_ASSERT(t->ndim == 2 && t->shape[0] == 4 * D && t->shape[1] == D && t->decay == 1);
    t = pf_model_find_tensor(m, "h.0.attn.c_attn.bias");
    CU_ASSERT(t && t->ndim == 1 && t->shape[0] == 3 * D && t->decay == 0);
    CU_ASSERT(pf_model_find_tensor(m, "v_head.bias")->numel == 1);
    size_t expect =
        (size_t)V * D + 12 * D + 2 * (12 * (size_t)D * D + 13 * (size_t)D) + 2 * D + D + 1;
    CU_ASSERT(pf_model_num_params(m) == expect);
    /* tensors are back to back in table order */
    size_t off = 0;
    for (int k = 0; k < pf_model_num_tensors(m); k++) {
        CU_ASSERT(pf_model_tensor(m, k)->offset == off);
        off += pf_model_tensor(m, k)->numel;
    }
    pf_model_free(m);
}

static void test_config_errors(void)
{
    pf_model_config c = TINY;
    pf_model *m = NULL;
    c.n_head = 3;
    CU_ASSERT(pf_model_create(&c, 0, &m) == PF_ERR_USAGE);
    CU_ASSERT(strstr(pf_error_message(), "model.n_head") != NULL);
    c = TINY;
    c.vocab_size = 0;
    CU_ASSERT(pf_model_create(&c, 0, &m) == PF_ERR_USAGE);
    CU_ASSERT(strstr(pf_error_message(), "model.vocab_size") != NULL);
    pf_arch a;
    CU_ASSERT(pf_arch_from_name("llama", &a) == PF_ERR_USAGE);
    CU_ASSERT(pf_arch_from_name("gpt2", &a) == PF_OK && a == PF_ARCH_GPT2);
}

static void test_init_random(void)
{
    pf_model_config c = TINY;
    c.d_model = 64, c.n_head = 4, c.vocab_size = 500;
    pf_model *a = NULL, *b = NULL;
    CU_ASSERT_FATAL(pf_model_create(&c, 0, &a) == PF_OK && pf_model_create(&c, 0, &b) == PF_OK);
    pf_model_init_random(a, 42);
    pf_model_init_random(b, 42);
    CU_ASSERT(memcmp(pf_model_params(a), pf_model_params(b),
                     sizeof(float) * pf_model_num_params(a)) == 0);
    const pf_tensor *wte = pf_model_find_tensor(a, "wte.weight");
    double s2 = 0.0;
    for (size_t i = 0; i < wte->numel; i++)
        s2 += (double)pf_model_params(a)[wte->offset + i] * pf_model_params(a)[wte->offset + i];
    CU_ASSERT(fabs(sqrt(s2 / wte->numel) - 0.02) < 0.001);
    CU_ASSERT(pf_model_params(a)[pf_model_find_tensor(a, "ln_f.weight")->offset] == 1.0f);
    CU_ASSERT(pf_model_params(a)[pf_model_find_tensor(a, "ln_f.bias")->offset] == 0.0f);
    pf_model_init_random(b, 43);
    CU_ASSERT(memcmp(pf_model_params(a), pf_model_params(b), sizeof(float) * wte->numel) != 0);
    pf_model_free(a);
    pf_model_free(b);
}

typedef struct {
    pf_model *m;
    pf_workspace *ws;
    pf_batch batch;
    float *lp, *val, *dlp, *dval;
} model_ctx;

static double model_loss(void *p)
{
    model_ctx *c = p;
    pf_forward_out out = {.logprobs = c->lp, .values = c->val, .temperature = 0.8f};
    CU_ASSERT_FATAL(pf_model_forward(c->m, c->ws, &c->batch, &out) == PF_OK);
    return tu_dot(c->lp, c->dlp, B * T) + tu_dot(c->val, c->dval, B * T);
}

/* Sets up a randomized tiny model with a padded batch. */
static void ctx_init(model_ctx *c, int32_t *tokens)
{
    CU_ASSERT_FATAL(pf_model_create(&TINY, 1, &c->m) == PF_OK);
    CU_ASSERT_FATAL(pf_workspace_create(c->m, B, T, 1, &c->ws) == PF_OK);
    randomize(c->m, 7);
    make_tokens(tokens, TINY.vocab_size, 0);
    c->batch = (pf_batch){.tokens = tokens, .lengths = LENGTHS, .B = B, .T = T};
    c->lp = calloc(B * T, sizeof(float)), c->val = calloc(B * T, sizeof(float));
    c->dlp = calloc(B * T, sizeof(float)), c->dval = calloc(B * T, sizeof(float));
    tu_fill_normal(c->dlp, B * T, 1.0f, 9, 1);
    tu_fill_normal(c->dval, B * T, 1.0f, 9, 2);
}

static void ctx_free(model_ctx *c)
{
    pf_workspace_free(c->ws);
    pf_model_free(c->m);
    free(c->lp), free(c->val), free(c->dlp), free(c->dval);
}

/* Every tensor's gradient through the whole model against central differences. */
static void test_model_gradients_fd(void)
{
    model_ctx c;
    int32_t tokens[B * T];
    ctx_init(&c, tokens);
    model_loss(&c);
    pf_model_zero_grads(c.m);
    CU_ASSERT_FATAL(pf_model_backward(c.m, c.ws, c.dlp, c.dval) == PF_OK);
    size_t n = pf_model_num_params(c.m);
    float *grads = malloc(sizeof(float) * n);
    memcpy(grads, pf_model_grads(c.m), sizeof(float) * n);
    for (int k = 0; k < pf_model_num_tensors(c.m); k++) {
        const pf_tensor *t = pf_model_tensor(c.m, k);
        long idx[40];
        int cnt = tu_sample_indices(idx, 40, (long)t->numel, (uint64_t)k);
        float *x = pf_model_params(c.m) + t->offset;
        double err = tu_fd_error(model_loss, &c, x, idx, cnt, grads + t->offset, 1e-2f);
        if (err >= 1e-2)
            printf("\n  tensor %s: FD relative error %.3g\n", t->name, err);
        CU_ASSERT(err < 1e-2);
    }
    free(grads);
    ctx_free(&c);
}

/* Same inputs, same bits: two forward+backward passes agree exactly. */
static void test_determinism(void)
{
    model_ctx c;
    int32_t tokens[B * T];
    ctx_init(&c, tokens);
    size_t n = pf_model_num_params(c.m);
    float *g1 = malloc(sizeof(float) * n), lp1[B * T];
    model_loss(&c);
    memcpy(lp1, c.lp, sizeof lp1);
    pf_model_zero_grads(c.m);
    pf_model_backward(c.m, c.ws, c.dlp, c.dval);
    memcpy(g1, pf_model_grads(c.m), sizeof(float) * n);
    model_loss(&c);
    pf_model_zero_grads(c.m);
    pf_model_backward(c.m, c.ws, c.dlp, c.dval);
    CU_ASSERT(memcmp(lp1, c.lp, sizeof lp1) == 0);
    CU_ASSERT(memcmp(g1, pf_model_grads(c.m), sizeof(float) * n) == 0);
    free(g1);
    ctx_free(&c);
}

/* Padding: zero outputs past the end; pad ids never matter; a sequence alone gives the
 * same results as inside a padded batch (to float rounding: BLAS shapes differ). */
static void test_padding_contract(void)
{
    model_ctx c;
    int32_t tokens[B * T], other[B * T];
    ctx_init(&c, tokens);
    size_t n = pf_model_num_params(c.m);
    float *g1 = malloc(sizeof(float) * n), lp1[B * T], v1[B * T];
    model_loss(&c);
    pf_model_zero_grads(c.m);
    pf_model_backward(c.m, c.ws, c.dlp, c.dval);
    memcpy(g1, pf_model_grads(c.m), sizeof(float) * n);
    memcpy(lp1, c.lp, sizeof lp1), memcpy(v1, c.val, sizeof v1);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            if (t >= LENGTHS[b] - 1)
                CU_ASSERT(lp1[b * T + t] == 0.0f);
            if (t >= LENGTHS[b])
                CU_ASSERT(v1[b * T + t] == 0.0f);
        }
    make_tokens(other, TINY.vocab_size, 7); /* other pad ids, same shapes: same bits */
    c.batch.tokens = other;
    model_loss(&c);
    pf_model_zero_grads(c.m);
    pf_model_backward(c.m, c.ws, c.dlp, c.dval);
    CU_ASSERT(memcmp(lp1, c.lp, sizeof lp1) == 0 && memcmp(v1, c.val, sizeof v1) == 0);
    CU_ASSERT(memcmp(g1, pf_model_grads(c.m), sizeof(float) * n) == 0);
    /* sequence 1 alone, unpadded */
    float lp_alone[5], v_alone[5];
    pf_batch alone = {.tokens = tokens + T, .lengths = &LENGTHS[1], .B = 1, .T = LENGTHS[1]};
    pf_forward_out out = {.logprobs = lp_alone, .values = v_alone, .temperature = 0.8f};
    CU_ASSERT_FATAL(pf_model_forward(c.m, c.ws, &alone, &out) == PF_OK);
    for (int t = 0; t < LENGTHS[1]; t++) {
        CU_ASSERT(fabsf(lp_alone[t] - lp1[T + t]) < 1e-5f);
        CU_ASSERT(fabsf(v_alone[t] - v1[T + t]) < 1e-5f);
    }
    free(g1);
    ctx_free(&c);
}

/* An inference-only workspace gives exactly the training workspace's outputs. */
static void test_inference_workspace(void)
{
    model_ctx c;
    int32_t tokens[B * T];
    ctx_init(&c, tokens);
    float lp1[B * T], lp2[B * T];
    model_loss(&c);
    memcpy(lp1, c.lp, sizeof lp1);
    pf_workspace *inf = NULL;
    CU_ASSERT_FATAL(pf_workspace_create(c.m, B, T, 0, &inf) == PF_OK);
    CU_ASSERT(pf_workspace_bytes(inf) < pf_workspace_bytes(c.ws));
    pf_forward_out out = {.logprobs = lp2, .values = NULL, .temperature = 0.8f};
    CU_ASSERT(pf_model_forward(c.m, inf, &c.batch, &out) == PF_OK);
    CU_ASSERT(memcmp(lp1, lp2, sizeof lp1) == 0);
    CU_ASSERT(pf_model_backward(c.m, inf, c.dlp, NULL) == PF_ERR_RUNTIME);
    pf_workspace_free(inf);
    ctx_free(&c);
}

/* A need mask: unneeded positions give 0; needed ones, and the gradients, match the
 * full LM head to float rounding (the compacted products have other BLAS shapes). */
static void test_need_mask(void)
{
    model_ctx c;
    int32_t tokens[B * T];
    ctx_init(&c, tokens);
    const size_t n = pf_model_num_params(c.m);
    uint8_t need[B * T];
    float full[B * T], part[B * T], dlp[B * T];
    float *g_full = malloc(sizeof(float) * n);
    for (int i = 0; i < B * T; i++) {
        need[i] = i % 3 != 1;
        dlp[i] = need[i] ? c.dlp[i] : 0.0f;
    }
    pf_forward_out out = {.logprobs = full, .temperature = 0.8f};
    CU_ASSERT_FATAL(pf_model_forward(c.m, c.ws, &c.batch, &out) == PF_OK);
    pf_model_zero_grads(c.m);
    pf_model_backward(c.m, c.ws, dlp, NULL);
    memcpy(g_full, pf_model_grads(c.m), sizeof(float) * n);
    out.logprobs = part;
    out.need = need;
    CU_ASSERT_FATAL(pf_model_forward(c.m, c.ws, &c.batch, &out) == PF_OK);
    for (int i = 0; i < B * T; i++)
        CU_ASSERT(need[i] ? fabsf(part[i] - full[i]) < 1e-5f : part[i] == 0.0f);
    pf_model_zero_grads(c.m);
    pf_model_backward(c.m, c.ws, dlp, NULL);
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pf_model_grads(c.m)[i] - g_full[i];
        diff += d * d;
        norm += (double)g_full[i] * g_full[i];
    }
    CU_ASSERT(norm > 0.0 && sqrt(diff / norm) < 1e-5);
    free(g_full);
    ctx_free(&c);
}

static void test_forward_errors(void)
{
    model_ctx c;
    int32_t tokens[B * T];
    ctx_init(&c, tokens);
    pf_forward_out out = {.logprobs = c.lp, .values = NULL, .temperature = 1.0f};
    tokens[4] = TINY.vocab_size;
    CU_ASSERT(pf_model_forward(c.m, c.ws, &c.batch, &out) == PF_ERR_DATA);
    CU_ASSERT(strstr(pf_error_message(), "token id 11") != NULL);
    tokens[4] = 0;
    pf_batch big = c.batch;
    big.B = B + 1;
    CU_ASSERT(pf_model_forward(c.m, c.ws, &big, &out) == PF_ERR_RUNTIME);
    out.temperature = 0.0f;
    CU_ASSERT(pf_model_forward(c.m, c.ws, &c.batch, &out) == PF_ERR_USAGE);
    pf_workspace *too_long = NULL;
    CU_ASSERT(pf_workspace_create(c.m, 1, TINY.max_seq_len + 1, 1, &too_long) == PF_ERR_USAGE);
    ctx_free(&c);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"tensor table follows HF GPT-2", test_tensor_table},
        {"config errors name the key", test_config_errors},
        {"seeded init is deterministic with GPT-2 statistics", test_init_random},
        {"whole-model gradients vs finite differences", test_model_gradients_fd},
        {"same inputs give the same bits", test_determinism},
        {"padding contract", test_padding_contract},
        {"inference workspace matches", test_inference_workspace},
        {"need mask skips unneeded LM-head rows", test_need_mask},
        {"forward errors", test_forward_errors},
        {NULL, NULL},
    };
    return pf_cunit_run("model", cases);
}
