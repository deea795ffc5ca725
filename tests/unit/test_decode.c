/*
 * test_decode.c: KV-cache decoding against the full forward, and its determinism.
 *
 * - the decode kernels: row-stable matmul and LM head against naive oracles and, bit for
 *   bit, against themselves on any subset of rows; decode attention against the naive
 *   attention; low-memory prefill attention == attention_forward bitwise;
 * - prefill + teacher-forced decode steps: log_softmax(logits) agrees with
 *   pf_model_forward's log-probs within 1e-5 at every position, prompt lengths on both
 *   sides of the 64-row attention blocks, and over the whole vocabulary at some positions;
 * - a sequence's logits are the same bits alone, in a batch, in another order, with other
 *   sequences inactive, and in caches of other sizes;
 * - inactive sequences are untouched; errors are reported, not crashed into.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_run.h"
#include "model/kernels.h"
#include "prefopt/error.h"
#include "prefopt/model.h"
#include "testutil.h"

static const pf_model_config CFG = {.arch = PF_ARCH_GPT2,
                                    .n_layer = 2,
                                    .n_head = 4,
                                    .d_model = 32,
                                    .vocab_size = 61,
                                    .max_seq_len = 160,
                                    .value_head = 0};

enum { NSEQ = 5, TOTAL = 140, V = 61 };
/* Prompt lengths around the 64-row attention blocks; every sequence runs to TOTAL. */
static const int32_t PROMPT_LEN[NSEQ] = {1, 40, 64, 65, 100};
static const double LOGPROB_TOL = 1e-5;

/* log_softmax(row)[j] in double. */
static double log_softmax_at(const float *row, int n, int j)
{
    double m = row[0], s = 0.0;
    for (int i = 1; i < n; i++)
        m = row[i] > m ? row[i] : m;
    for (int i = 0; i < n; i++)
        s += exp((double)row[i] - m); /* >= 1: the maximum contributes exp(0) */
    // cppcheck-suppress invalidFunctionArg ; s >= 1 (see above)
    return (double)row[j] - m - log(s);
}

/* A model with random weights (scale 0.3, LayerNorm gains around 1): peaked softmaxes. */
static pf_model *make_model(uint64_t seed)
{
    pf_model *m = NULL;
    CU_ASSERT_FATAL(pf_model_create(&CFG, 0, &m) == PF_OK);
    float *p = pf_model_params(m);
    tu_fill_normal(p, (long)pf_model_num_params(m), 0.3f, seed, 0);
    for (int k = 0; k < pf_model_num_tensors(m); k++) {
        const pf_tensor *t = pf_model_tensor(m, k);
        if (strstr(t->name, "ln_") && strstr(t->name, ".weight"))
            for (size_t i = 0; i < t->numel; i++)
                p[t->offset + i] += 1.0f;
    }
    return m;
}

/* tokens [NSEQ, TOTAL]: sequence s's ids (random, from (seed, s)). */
static void make_sequences(int32_t *tokens, uint64_t seed)
{
    for (int s = 0; s < NSEQ; s++)
        for (int t = 0; t < TOTAL; t++)
            tokens[s * TOTAL + t] = (int32_t)(pf_rng_uniform(seed, (uint64_t)s, (uint64_t)t) * V);
}

/* --- kernels ------------------------------------------------------------------------ */

/* Row-stable matmul: matches the naive product; any subset of rows gives the same bits. */
static void check_rowstable_matmul(int C, int OC, int accumulate, int with_bias)
{
    enum { M = 9 };
    float *x = malloc(sizeof(float) * M * C), *w = malloc(sizeof(float) * C * OC);
    float *b = malloc(sizeof(float) * OC), *init = malloc(sizeof(float) * M * OC);
    float *all = malloc(sizeof(float) * M * OC), *sub = malloc(sizeof(float) * M * OC);
    float *ref = malloc(sizeof(float) * M * OC);
    tu_fill_normal(x, (long)M * C, 1.0f, 3, 1);
    tu_fill_normal(w, (long)C * OC, 0.3f, 3, 2);
    tu_fill_normal(b, OC, 0.5f, 3, 3);
    tu_fill_normal(init, (long)M * OC, 1.0f, 3, 4);
    const float *bias = with_bias ? b : NULL;
    memcpy(all, init, sizeof(float) * M * OC);
    rowstable_matmul_forward(all, x, w, bias, M, C, OC, accumulate);
    matmul_forward_naive(ref, x, w, bias, M, C, OC);
    for (long i = 0; accumulate && i < (long)M * OC; i++)
        ref[i] += init[i];
    CU_ASSERT(tu_max_abs_diff(all, ref, (long)M * OC) < 1e-5 * sqrt((double)C));
    for (int start = 0; start < M; start++)
        for (int n = 1; start + n <= M; n += 3) {
            memcpy(sub, init + (size_t)start * OC, sizeof(float) * (size_t)n * OC);
            rowstable_matmul_forward(sub, x + (size_t)start * C, w, bias, n, C, OC, accumulate);
            CU_ASSERT(memcmp(sub, all + (size_t)start * OC, sizeof(float) * (size_t)n * OC) == 0);
        }
    free(x), free(w), free(b), free(init), free(all), free(sub), free(ref);
}

static void test_rowstable_matmul(void)
{
    check_rowstable_matmul(13, 37, 0, 1);  /* k and column tails */
    check_rowstable_matmul(64, 600, 1, 1); /* several column blocks, residual accumulate */
    check_rowstable_matmul(130, 96, 1, 0); /* no bias */
}

/* Row-stable LM head: matches x wte^T; any subset of rows gives the same bits. */
static void test_rowstable_lm_head(void)
{
    enum { M = 7, D = 37, VOC = 203 }; /* lane tail, vocabulary blocks with a tail of 3 */
    float *x = malloc(sizeof(float) * M * D), *e = malloc(sizeof(float) * VOC * D);
    float *et = malloc(sizeof(float) * D * VOC), *all = malloc(sizeof(float) * M * VOC);
    float *one = malloc(sizeof(float) * VOC), *ref = malloc(sizeof(float) * M * VOC);
    tu_fill_normal(x, M * D, 1.0f, 4, 1);
    tu_fill_normal(e, VOC * D, 0.3f, 4, 2);
    for (int v = 0; v < VOC; v++)
        for (int d = 0; d < D; d++)
            et[d * VOC + v] = e[v * D + d];
    rowstable_lm_head_forward(all, x, e, M, D, VOC);
    matmul_forward_naive(ref, x, et, NULL, M, D, VOC);
    CU_ASSERT(tu_max_abs_diff(all, ref, (long)M * VOC) < 1e-5);
    for (int r = 0; r < M; r++) {
        rowstable_lm_head_forward(one, x + r * D, e, 1, D, VOC);
        CU_ASSERT(memcmp(one, all + r * VOC, sizeof(float) * VOC) == 0);
    }
    free(x), free(e), free(et), free(all), free(one), free(ref);
}

/* Decode attention of position n-1 against the naive causal attention's last row. */
static void test_attention_decode(void)
{
    enum { D = 24, H = 3, hd = D / H, T = 70 };
    float *qkv = malloc(sizeof(float) * T * 3 * D), *ref = malloc(sizeof(float) * T * D);
    float *k = malloc(sizeof(float) * T * hd), *v = malloc(sizeof(float) * T * hd);
    float out[hd], scores[T];
    tu_fill_normal(qkv, (long)T * 3 * D, 1.0f, 5, 1);
    static const int lengths[] = {1, 2, 33, 64, 65, 70};
    for (size_t c = 0; c < sizeof lengths / sizeof lengths[0]; c++) {
        int n = lengths[c];
        attention_forward_naive(ref, qkv, 1, n, D, H);
        double err = 0.0;
        for (int h = 0; h < H; h++) {
            for (int t = 0; t < n; t++) {
                memcpy(k + t * hd, qkv + t * 3 * D + D + h * hd, sizeof(float) * hd);
                memcpy(v + t * hd, qkv + t * 3 * D + 2 * D + h * hd, sizeof(float) * hd);
            }
            attention_decode(out, scores, qkv + (n - 1) * 3 * D + h * hd, k, v, n, hd);
            double e = tu_max_abs_diff(out, ref + (n - 1) * D + h * hd, hd);
            err = e > err ? e : err;
        }
        CU_ASSERT(err < 1e-5);
    }
    free(qkv), free(ref), free(k), free(v);
}

/* The prefill attention gives the same bits as the training attention. */
static void test_attention_lowmem(void)
{
    enum { D = 16, H = 2, T = 150 };
    float *qkv = malloc(sizeof(float) * T * 3 * D), *a = malloc(sizeof(float) * T * D);
    float *b = malloc(sizeof(float) * T * D), *probs = malloc(sizeof(float) * H * T * T);
    float *scratch = malloc(sizeof(float) * attention_lowmem_scratch(T));
    tu_fill_normal(qkv, (long)T * 3 * D, 1.0f, 6, 1);
    attention_forward(a, probs, qkv, 1, T, D, H);
    attention_forward_lowmem(b, scratch, qkv, T, D, H);
    CU_ASSERT(memcmp(a, b, sizeof(float) * T * D) == 0);
    free(qkv), free(a), free(b), free(probs), free(scratch);
}

/* --- prefill / decode against the full forward ---------------------------------------- */

/* lp [NSEQ, TOTAL]: pf_model_forward's log-probs of the full sequences. */
static void full_forward(pf_model *m, const int32_t *tokens, float *lp)
{
    pf_workspace *ws = NULL;
    int32_t lengths[NSEQ];
    for (int s = 0; s < NSEQ; s++)
        lengths[s] = TOTAL;
    CU_ASSERT_FATAL(pf_workspace_create(m, NSEQ, TOTAL, 0, &ws) == PF_OK);
    pf_batch batch = {.tokens = tokens, .lengths = lengths, .B = NSEQ, .T = TOTAL};
    pf_forward_out out = {.logprobs = lp, .temperature = 1.0f};
    CU_ASSERT_FATAL(pf_model_forward(m, ws, &batch, &out) == PF_OK);
    pf_workspace_free(ws);
}

/* Prefills the prompts (first PROMPT_LEN[s] tokens of each sequence) into c. */
static void prefill_prompts(pf_model *m, pf_kv_cache *c, const int32_t *tokens, float *logits)
{
    pf_batch batch = {.tokens = tokens, .lengths = PROMPT_LEN, .B = NSEQ, .T = TOTAL};
    CU_ASSERT_FATAL(pf_model_prefill(m, c, &batch, logits) == PF_OK);
}

/* Teacher-forced decoding: each step feeds every unfinished sequence its true next token;
 * the next-token log-prob must match the forward's at every position. */
static void test_decode_matches_forward(void)
{
    pf_model *m = make_model(11);
    int32_t *tokens = malloc(sizeof(int32_t) * NSEQ * TOTAL), step_tok[NSEQ];
    float *lp = malloc(sizeof(float) * NSEQ * TOTAL), *logits = malloc(sizeof(float) * NSEQ * V);
    uint8_t active[NSEQ];
    make_sequences(tokens, 12);
    full_forward(m, tokens, lp);
    pf_kv_cache *c = NULL;
    CU_ASSERT_FATAL(pf_kv_cache_create(m, NSEQ, TOTAL, &c) == PF_OK);
    prefill_prompts(m, c, tokens, logits);
    double worst = 0.0;
    int checked = 0;
    uint8_t fresh[NSEQ] = {1, 1, 1, 1, 1}; /* logits row updated by the last pass */
    for (;;) {
        int any = 0;
        for (int s = 0; s < NSEQ; s++) {
            int len = pf_kv_cache_length(c, s); /* the row predicts tokens[s, len] */
            if (fresh[s]) {
                double d = fabs(log_softmax_at(logits + s * V, V, tokens[s * TOTAL + len]) -
                                lp[s * TOTAL + len - 1]);
                worst = d > worst ? d : worst;
                checked++;
            }
            active[s] = fresh[s] = len < TOTAL - 1;
            step_tok[s] = tokens[s * TOTAL + len];
            any |= active[s];
        }
        if (!any)
            break;
        CU_ASSERT_FATAL(pf_model_decode_step(m, c, step_tok, active, logits) == PF_OK);
    }
    CU_ASSERT(checked == NSEQ * TOTAL - (1 + 40 + 64 + 65 + 100));
    if (worst >= LOGPROB_TOL || getenv("PF_TEST_VERBOSE"))
        printf("\n  worst |decode - forward| log-prob %.3g over %d positions\n", worst, checked);
    CU_ASSERT(worst < LOGPROB_TOL);
    pf_kv_cache_free(c);
    free(tokens), free(lp), free(logits);
    pf_model_free(m);
}

/* The whole next-token distribution after prefill: forward a batch of V copies of the
 * prompt, copy v ending in token v, so that forward's last log-prob is log p(v | prompt). */
static void test_full_distribution(void)
{
    pf_model *m = make_model(21);
    int32_t *tokens = malloc(sizeof(int32_t) * NSEQ * TOTAL);
    make_sequences(tokens, 22);
    float *logits = malloc(sizeof(float) * NSEQ * V);
    pf_kv_cache *c = NULL;
    CU_ASSERT_FATAL(pf_kv_cache_create(m, NSEQ, TOTAL, &c) == PF_OK);
    prefill_prompts(m, c, tokens, logits);
    pf_workspace *ws = NULL;
    CU_ASSERT_FATAL(pf_workspace_create(m, V, TOTAL, 0, &ws) == PF_OK);
    int32_t *copies = malloc(sizeof(int32_t) * V * TOTAL), lengths[V];
    float *lp = malloc(sizeof(float) * V * TOTAL);
    double worst = 0.0;
    for (int s = 0; s < NSEQ; s++) {
        int n = PROMPT_LEN[s];
        for (int v = 0; v < V; v++) {
            memcpy(copies + v * (n + 1), tokens + s * TOTAL, sizeof(int32_t) * n);
            copies[v * (n + 1) + n] = v;
            lengths[v] = n + 1;
        }
        pf_batch batch = {.tokens = copies, .lengths = lengths, .B = V, .T = n + 1};
        pf_forward_out out = {.logprobs = lp, .temperature = 1.0f};
        CU_ASSERT_FATAL(pf_model_forward(m, ws, &batch, &out) == PF_OK);
        for (int v = 0; v < V; v++) {
            double d = fabs(log_softmax_at(logits + s * V, V, v) - lp[v * (n + 1) + n - 1]);
            worst = d > worst ? d : worst;
        }
    }
    CU_ASSERT(worst < LOGPROB_TOL);
    pf_workspace_free(ws);
    pf_kv_cache_free(c);
    free(tokens), free(logits), free(copies), free(lp);
    pf_model_free(m);
}

/* --- determinism across batch composition --------------------------------------------- */

enum { STEPS = 30 };

/* Runs the sequences listed in order[0..n) (cache rows 0..n-1) for STEPS teacher-forced
 * steps; row r is inactive at steps where (step + r) % skip == 0 when skip > 0 (its
 * schedule is then replayed identically by advancing it later). Records each sequence's
 * logits after its j-th token into out[seq][j]. */
static void run_subset(pf_model *m, const int32_t *tokens, const int *order, int n, int max_b,
                       int max_t, int skip, float *out)
{
    pf_kv_cache *c = NULL;
    CU_ASSERT_FATAL(pf_kv_cache_create(m, max_b, max_t, &c) == PF_OK);
    int32_t *prompts = malloc(sizeof(int32_t) * n * TOTAL), lengths[NSEQ], step_tok[NSEQ];
    float *logits = malloc(sizeof(float) * n * V);
    uint8_t active[NSEQ];
    int done[NSEQ] = {0};
    for (int r = 0; r < n; r++) {
        memcpy(prompts + r * TOTAL, tokens + order[r] * TOTAL, sizeof(int32_t) * TOTAL);
        lengths[r] = PROMPT_LEN[order[r]];
    }
    pf_batch batch = {.tokens = prompts, .lengths = lengths, .B = n, .T = TOTAL};
    CU_ASSERT_FATAL(pf_model_prefill(m, c, &batch, logits) == PF_OK);
    for (int r = 0; r < n; r++)
        memcpy(out + ((size_t)order[r] * (STEPS + 1)) * V, logits + r * V, sizeof(float) * V);
    for (int step = 0; step < 3 * STEPS; step++) {
        int any = 0;
        for (int r = 0; r < n; r++) {
            active[r] = done[r] < STEPS && !(skip > 0 && (step + r) % skip == 0);
            step_tok[r] = tokens[order[r] * TOTAL + PROMPT_LEN[order[r]] + done[r]];
            any |= active[r];
        }
        if (!any)
            break;
        CU_ASSERT_FATAL(pf_model_decode_step(m, c, step_tok, active, logits) == PF_OK);
        for (int r = 0; r < n; r++)
            if (active[r]) {
                done[r]++;
                memcpy(out + ((size_t)order[r] * (STEPS + 1) + done[r]) * V, logits + r * V,
                       sizeof(float) * V);
            }
    }
    pf_kv_cache_free(c);
    free(prompts), free(logits);
}

/* Alone (own cache, exact size), all together, reversed with a changing active set, and
 * a larger cache: every sequence's logits at every step are the same bits. */
static void test_batch_composition(void)
{
    pf_model *m = make_model(31);
    int32_t *tokens = malloc(sizeof(int32_t) * NSEQ * TOTAL);
    make_sequences(tokens, 32);
    const size_t n = (size_t)NSEQ * (STEPS + 1) * V;
    float *together = malloc(sizeof(float) * n), *other = malloc(sizeof(float) * n);
    const int fwd[NSEQ] = {0, 1, 2, 3, 4}, rev[NSEQ] = {4, 3, 2, 1, 0};
    run_subset(m, tokens, fwd, NSEQ, NSEQ, TOTAL, 0, together);
    for (int s = 0; s < NSEQ; s++) /* alone, in a cache sized exactly for it */
        run_subset(m, tokens, &fwd[s], 1, 1, PROMPT_LEN[s] + STEPS, 0, other);
    CU_ASSERT(memcmp(together, other, sizeof(float) * n) == 0);
    run_subset(m, tokens, rev, NSEQ, 8, CFG.max_seq_len, 3, other);
    CU_ASSERT(memcmp(together, other, sizeof(float) * n) == 0);
    free(tokens), free(together), free(other);
    pf_model_free(m);
}

/* Inactive sequences keep their logits row and length; lengths are reported. */
static void test_inactive_untouched(void)
{
    pf_model *m = make_model(41);
    int32_t *tokens = malloc(sizeof(int32_t) * NSEQ * TOTAL);
    make_sequences(tokens, 42);
    float *logits = malloc(sizeof(float) * NSEQ * V), *saved = malloc(sizeof(float) * NSEQ * V);
    pf_kv_cache *c = NULL;
    CU_ASSERT_FATAL(pf_kv_cache_create(m, NSEQ, TOTAL, &c) == PF_OK);
    CU_ASSERT(pf_kv_cache_length(c, 0) == 0);
    CU_ASSERT(pf_kv_cache_bytes(c) >= 2u * CFG.n_layer * NSEQ * TOTAL * CFG.d_model * 4u);
    prefill_prompts(m, c, tokens, logits);
    for (int s = 0; s < NSEQ; s++)
        CU_ASSERT(pf_kv_cache_length(c, s) == PROMPT_LEN[s]);
    CU_ASSERT(pf_kv_cache_length(c, NSEQ) == 0 && pf_kv_cache_length(c, -1) == 0);
    memcpy(saved, logits, sizeof(float) * NSEQ * V);
    const uint8_t active[NSEQ] = {0, 1, 0, 1, 0};
    int32_t step_tok[NSEQ] = {-5, 3, 9999, 4, -1}; /* inactive tokens are never read */
    CU_ASSERT_FATAL(pf_model_decode_step(m, c, step_tok, active, logits) == PF_OK);
    for (int s = 0; s < NSEQ; s++) {
        int same = memcmp(logits + s * V, saved + s * V, sizeof(float) * V) == 0;
        CU_ASSERT(same == !active[s]);
        CU_ASSERT(pf_kv_cache_length(c, s) == PROMPT_LEN[s] + active[s]);
    }
    const uint8_t none[NSEQ] = {0};
    CU_ASSERT(pf_model_decode_step(m, c, step_tok, none, logits) == PF_OK);
    pf_kv_cache_free(c);
    free(tokens), free(logits), free(saved);
    pf_model_free(m);
}

/* Misuse returns an error with a message. */
static void test_errors(void)
{
    pf_model *m = make_model(51), *other = NULL;
    pf_model_config oc = CFG;
    oc.d_model = 16;
    CU_ASSERT_FATAL(pf_model_create(&oc, 0, &other) == PF_OK);
    pf_kv_cache *c = NULL;
    CU_ASSERT(pf_kv_cache_create(m, 2, CFG.max_seq_len + 1, &c) == PF_ERR_USAGE);
    CU_ASSERT(pf_kv_cache_create(m, 0, 8, &c) == PF_ERR_USAGE);
    CU_ASSERT_FATAL(pf_kv_cache_create(m, 2, 8, &c) == PF_OK);
    float logits[2 * V];
    int32_t tok[2 * 8] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3}, step[2] = {1, 2};
    CU_ASSERT(pf_model_decode_step(m, c, step, NULL, logits) == PF_ERR_USAGE);
    CU_ASSERT(strstr(pf_error_message(), "prefill first") != NULL);
    int32_t lengths[2] = {8, 0};
    pf_batch batch = {.tokens = tok, .lengths = lengths, .B = 2, .T = 8};
    CU_ASSERT(pf_model_prefill(m, c, &batch, logits) == PF_ERR_DATA);
    lengths[1] = 3;
    tok[9] = V;
    CU_ASSERT(pf_model_prefill(m, c, &batch, logits) == PF_ERR_DATA);
    CU_ASSERT(strstr(pf_error_message(), "token id 61") != NULL);
    tok[9] = 2;
    batch.B = 3;
    CU_ASSERT(pf_model_prefill(m, c, &batch, logits) == PF_ERR_USAGE);
    batch.B = 2;
    CU_ASSERT(pf_model_prefill(other, c, &batch, logits) == PF_ERR_RUNTIME);
    CU_ASSERT_FATAL(pf_model_prefill(m, c, &batch, logits) == PF_OK);
    step[0] = -1;
    CU_ASSERT(pf_model_decode_step(m, c, step, NULL, logits) == PF_ERR_DATA);
    step[0] = 1;
    CU_ASSERT(pf_model_decode_step(m, c, step, NULL, logits) == PF_ERR_USAGE); /* seq 0 full */
    CU_ASSERT(strstr(pf_error_message(), "sequence 0 is full") != NULL);
    const uint8_t only1[2] = {0, 1};
    for (int i = 0; i < 5; i++)
        CU_ASSERT(pf_model_decode_step(m, c, step, only1, logits) == PF_OK);
    CU_ASSERT(pf_model_decode_step(m, c, step, only1, logits) == PF_ERR_USAGE);
    pf_kv_cache_free(c);
    pf_kv_cache_free(NULL);
    pf_model_free(other);
    pf_model_free(m);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"row-stable matmul: naive and any row subset", test_rowstable_matmul},
        {"row-stable LM head: naive and any row subset", test_rowstable_lm_head},
        {"decode attention vs naive", test_attention_decode},
        {"low-memory prefill attention == attention_forward", test_attention_lowmem},
        {"prefill + decode log-probs == forward (1e-5)", test_decode_matches_forward},
        {"prefill next-token distribution == forward", test_full_distribution},
        {"logits independent of batch composition (bitwise)", test_batch_composition},
        {"inactive sequences untouched", test_inactive_untouched},
        {"errors", test_errors},
        {NULL, NULL}};
    return pf_cunit_run("decode", cases);
}
