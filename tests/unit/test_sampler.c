/*
 * test_sampler.c: the token sampler and the generation loop.
 *
 * Sampler: key encoding (distinct, bounded, disjoint from other streams); greedy with
 * ties; empirical distributions of 200k draws against the exact (nucleus-renormalised)
 * probabilities by a chi-square statistic; top-p edge cases and the bucketed nucleus
 * against a brute-force full sort; log-prob and entropy against double references; bad
 * logits. Generation: tokens / log-probs / lengths identical for a batch of 8, each
 * prompt alone, and a permuted subset in a bigger cache; greedy == a hand-written argmax
 * loop; stop ids; sampled log-probs == pf_model_forward's at the sampling temperature;
 * errors.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_run.h"
#include "prefopt/error.h"
#include "prefopt/model.h"
#include "prefopt/rng.h"
#include "prefopt/sampler.h"
#include "testutil.h"

/* --- keys --------------------------------------------------------------------------- */

static void test_keys(void)
{
    pf_sample_rng a, b;
    CU_ASSERT(pf_sample_key(7, 3, 100, 2, 5, &a) == PF_OK);
    CU_ASSERT(a.seed == 7);
    CU_ASSERT(a.stream >> 32 == 0x53414D50u && (a.stream & 0xFFFFFFFFu) == 3);
    const uint64_t fields[5][5] = {{7, 4, 100, 2, 5},
                                   {7, 3, 101, 2, 5},
                                   {7, 3, 100, 3, 5},
                                   {7, 3, 100, 2, 6},
                                   {8, 3, 100, 2, 5}};
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_FATAL(pf_sample_key(fields[i][0], fields[i][1], fields[i][2],
                                      (uint32_t)fields[i][3], (uint32_t)fields[i][4], &b) == PF_OK);
        CU_ASSERT(a.seed != b.seed || a.stream != b.stream || a.index != b.index);
        CU_ASSERT(pf_sample_uniform(&a) != pf_sample_uniform(&b));
    }
    CU_ASSERT(pf_sample_key(1, PF_SAMPLE_MAX_STEP, PF_SAMPLE_MAX_PROMPT_INDEX, 65535, 65535, &b) ==
              PF_OK);
    CU_ASSERT(b.index == UINT64_MAX);
    CU_ASSERT(pf_sample_key(1, PF_SAMPLE_MAX_STEP + 1, 0, 0, 0, &b) == PF_ERR_USAGE);
    CU_ASSERT(pf_sample_key(1, 0, PF_SAMPLE_MAX_PROMPT_INDEX + 1, 0, 0, &b) == PF_ERR_USAGE);
    CU_ASSERT(pf_sample_key(1, 0, 0, 65536, 0, &b) == PF_ERR_USAGE);
    CU_ASSERT(pf_sample_key(1, 0, 0, 0, 65536, &b) == PF_ERR_USAGE);
}

/* --- single draws ------------------------------------------------------------------- */

static pf_sampler *sampler_for(int V)
{
    pf_sampler *s = NULL;
    CU_ASSERT_FATAL(pf_sampler_create(V, &s) == PF_OK);
    return s;
}

/* Draws the token for uniform u. */
static int32_t draw(pf_sampler *s, const float *logits, float temperature, float top_p, double u)
{
    pf_sampling cfg = {temperature, top_p};
    pf_sample out;
    CU_ASSERT_FATAL(pf_sample_token(s, logits, &cfg, u, &out) == PF_OK);
    return out.token;
}

static void test_greedy(void)
{
    const float logits[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, -INFINITY};
    pf_sampler *s = sampler_for(6);
    for (int i = 0; i < 50; i++)
        CU_ASSERT(draw(s, logits, 0.0f, i % 2 ? 1.0f : 0.3f, (i + 0.5) / 50.0) == 1);
    pf_sampling cfg = {0.0f, 1.0f};
    pf_sample out;
    CU_ASSERT(pf_sample_token(s, logits, &cfg, 0.5, &out) == PF_OK);
    double z = 0.0; /* log-prob and entropy of the unscaled distribution */
    for (int i = 0; i < 5; i++)
        z += exp((double)logits[i]);
    CU_ASSERT(fabs(out.logprob - (2.0 - log(z))) < 1e-12);
    double h = 0.0;
    for (int i = 0; i < 5; i++)
        h -= exp(logits[i] - log(z)) * (logits[i] - log(z));
    CU_ASSERT(fabs(out.entropy - h) < 1e-12);
    pf_sampler_free(s);
}

/* Exact probabilities of softmax(logits / T) restricted to the nucleus, by full sort. */
static void nucleus_probs(const float *logits, int V, double T, double top_p, double *prob)
{
    int order[64] = {0};
    double p[64] = {0}, sum = 0.0, acc = 0.0;
    for (int i = 0; i < V; i++) {
        p[i] = exp(logits[i] / T);
        sum += p[i];
        order[i] = i;
    }
    for (int i = 0; i < V; i++) /* insertion sort: p descending, id ascending */
        for (int j = i; j > 0 && p[order[j]] > p[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    int keep = V;
    for (int j = 0; j < V; j++)
        if ((acc += p[order[j]]) >= top_p * sum) {
            keep = j + 1;
            break;
        }
    double mass = 0.0;
    for (int j = 0; j < keep; j++)
        mass += p[order[j]];
    for (int i = 0; i < V; i++)
        prob[i] = 0.0;
    for (int j = 0; j < keep; j++)
        prob[order[j]] = p[order[j]] / mass;
}

/* Chi-square of counts from n draws (keys (seed 99, step 0, prompt i, ...)) against the
 * nucleus probabilities; tokens outside the nucleus must never appear. */
static double chi_square(const float *logits, int V, float T, float top_p, int n, int *df)
{
    pf_sampler *s = sampler_for(V);
    long counts[64] = {0};
    double prob[64], chi = 0.0;
    for (int i = 0; i < n; i++) {
        pf_sample_rng key;
        pf_sample_key(99, 0, (uint64_t)i, 0, 0, &key);
        counts[draw(s, logits, T, top_p, pf_sample_uniform(&key))]++;
    }
    nucleus_probs(logits, V, T, top_p, prob);
    *df = -1;
    for (int i = 0; i < V; i++) {
        if (prob[i] == 0.0) {
            CU_ASSERT(counts[i] == 0);
            continue;
        }
        double e = prob[i] * n;
        chi += (counts[i] - e) * (counts[i] - e) / e;
        (*df)++;
    }
    pf_sampler_free(s);
    return chi;
}

/* 200k draws; the chi-square must stay under the 0.9999 quantile (deterministic keys,
 * so this either always passes or always fails). */
static void test_distribution(void)
{
    const float logits[8] = {1.0f, 0.2f, -0.5f, 2.0f, 0.2f, -3.0f, 1.5f, 0.0f};
    static const double q9999[8] = {0, 15.1, 18.4, 21.1, 23.5, 25.7, 27.9, 29.9};
    const struct {
        float T, top_p;
    } cases[] = {{1.0f, 1.0f}, {0.7f, 1.0f}, {1.3f, 0.9f}, {1.0f, 0.5f}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int df = 0;
        double chi = chi_square(logits, 8, cases[c].T, cases[c].top_p, 200000, &df);
        CU_ASSERT(df >= 1 && chi < q9999[df]);
        if (df < 1 || chi >= q9999[df])
            printf("\n  T %g top_p %g: chi2 %.2f df %d\n", (double)cases[c].T,
                   (double)cases[c].top_p, chi, df);
    }
}

static void test_top_p_edges(void)
{
    pf_sampler *s = sampler_for(5);
    const float ties[5] = {0.0f, 0.0f, -INFINITY, 0.0f, -2.0f};
    for (int i = 0; i < 100; i++) {
        double u = (i + 0.5) / 100.0;
        CU_ASSERT(draw(s, ties, 1.0f, 1e-6f, u) == 0); /* nucleus of one: lowest id */
        int32_t t = draw(s, ties, 1.0f, 1.0f, u);
        CU_ASSERT(t != 2); /* -inf is never drawn */
    }
    /* probabilities 0.5 : 0.3 : 0.2: top_p 0.79 keeps two tokens, 0.81 all three */
    const float three[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    pf_sampler *s3 = sampler_for(3);
    int seen79[3] = {0}, seen81[3] = {0};
    for (int i = 0; i < 1000; i++) {
        double u = (i + 0.5) / 1000.0;
        seen79[draw(s3, three, 1.0f, 0.79f, u)]++;
        seen81[draw(s3, three, 1.0f, 0.81f, u)]++;
    }
    CU_ASSERT(seen79[2] == 0 && abs(seen79[0] - 625) <= 1 && abs(seen79[1] - 375) <= 1);
    CU_ASSERT(abs(seen81[0] - 500) <= 1 && abs(seen81[1] - 300) <= 1 && abs(seen81[2] - 200) <= 1);
    CU_ASSERT(draw(s3, three, 1.0f, 1.0f, 1.0 - 1e-16) == 2); /* u near 1: the last token */
    pf_sampler_free(s);
    pf_sampler_free(s3);
}

typedef struct {
    double p;
    int id;
} ranked;

/* p descending, id ascending. */
static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}

/* Every token ranked by the sampler's exact p = exp(z - z_max), z = logit * (1/T); returns
 * the sum of p in id order. */
static double rank_all(const float *logits, int V, double T, ranked *r)
{
    double z_max = -INFINITY, sum = 0.0;
    for (int i = 0; i < V; i++)
        z_max = (double)logits[i] * (1.0 / T) > z_max ? (double)logits[i] * (1.0 / T) : z_max;
    for (int i = 0; i < V; i++) {
        r[i] = (ranked){exp(-(z_max - (double)logits[i] * (1.0 / T))), i};
        sum += r[i].p;
    }
    qsort(r, (size_t)V, sizeof *r, cmp_ranked);
    return sum;
}

/* The nucleus draw by brute force over the fully sorted vocabulary. */
static int32_t brute_nucleus(const ranked *r, int V, double sum, double top_p, double u)
{
    double acc = 0.0, run = 0.0;
    int keep = V;
    for (int j = 0; j < V; j++)
        if ((acc += r[j].p) >= top_p * sum) {
            keep = j + 1;
            break;
        }
    for (int j = 0; j < keep; j++)
        if ((run += r[j].p) > u * acc)
            return r[j].id;
    return r[keep - 1].id;
}

/* Bucketed nucleus == full sort, on a wide spread of logits with many exact ties. */
static void test_nucleus_vs_brute_force(void)
{
    enum { V = 3000 };
    float *logits = malloc(sizeof(float) * V);
    ranked *r = malloc(sizeof(ranked) * V);
    for (int i = 0; i < V; i++) /* quantised to 1/8: many ties; range about 20 nats */
        logits[i] = roundf((float)pf_rng_normal(5, 0, (uint64_t)i) * 4.0f * 8.0f) / 8.0f;
    pf_sampler *s = sampler_for(V);
    const float tops[] = {0.05f, 0.5f, 0.9f, 0.99f, 0.999999f};
    const float temps[] = {0.5f, 1.0f, 2.0f};
    int mismatches = 0;
    for (size_t b = 0; b < 3; b++) {
        double sum = rank_all(logits, V, temps[b], r);
        for (size_t a = 0; a < 5; a++)
            for (int i = 0; i < 40; i++) {
                double u = pf_rng_uniform(6, a * 3 + b, (uint64_t)i);
                mismatches +=
                    draw(s, logits, temps[b], tops[a], u) != brute_nucleus(r, V, sum, tops[a], u);
            }
    }
    CU_ASSERT(mismatches == 0);
    free(logits), free(r);
    pf_sampler_free(s);
}

static void test_logprob_entropy(void)
{
    enum { V = 50 };
    float logits[V];
    tu_fill_normal(logits, V, 2.0f, 8, 0);
    pf_sampler *s = sampler_for(V);
    const float temps[] = {0.3f, 1.0f, 1.7f};
    for (int c = 0; c < 3; c++) {
        pf_sampling cfg = {temps[c], c == 2 ? 0.6f : 1.0f};
        pf_sample out;
        CU_ASSERT_FATAL(pf_sample_token(s, logits, &cfg, 0.37, &out) == PF_OK);
        double T = temps[c], m = -INFINITY, z = 0.0, h = 0.0;
        for (int i = 0; i < V; i++)
            m = logits[i] / T > m ? logits[i] / T : m;
        for (int i = 0; i < V; i++)
            z += exp(logits[i] / T - m);
        for (int i = 0; i < V; i++) {
            double lp = logits[i] / T - m - log(z);
            h -= exp(lp) * lp;
        }
        CU_ASSERT(fabs(out.logprob - (logits[out.token] / T - m - log(z))) < 1e-12);
        CU_ASSERT(fabs(out.entropy - h) < 1e-12);
    }
    pf_sampler_free(s);
}

static void test_bad_input(void)
{
    pf_sampler *s = sampler_for(3);
    pf_sample out;
    pf_sampling ok = {1.0f, 1.0f};
    float nan_logits[3] = {0.0f, NAN, 1.0f}, inf_logits[3] = {0.0f, INFINITY, 1.0f};
    float none[3] = {-INFINITY, -INFINITY, -INFINITY};
    CU_ASSERT(pf_sample_token(s, nan_logits, &ok, 0.5, &out) == PF_ERR_RUNTIME);
    CU_ASSERT(strstr(pf_error_message(), "logit 1 is NaN") != NULL);
    CU_ASSERT(pf_sample_token(s, inf_logits, &ok, 0.5, &out) == PF_ERR_RUNTIME);
    CU_ASSERT(pf_sample_token(s, none, &ok, 0.5, &out) == PF_ERR_RUNTIME);
    const pf_sampling bad[] = {{-1.0f, 1.0f}, {NAN, 1.0f}, {1.0f, 0.0f}, {1.0f, 1.5f}};
    for (int i = 0; i < 4; i++)
        CU_ASSERT(pf_sampling_check(&bad[i]) == PF_ERR_USAGE);
    CU_ASSERT(pf_sampling_check(&ok) == PF_OK);
    CU_ASSERT(pf_sampler_create(0, &s) == PF_ERR_USAGE);
    pf_sampler_free(s);
}

/* --- generation --------------------------------------------------------------------- */

static const pf_model_config GEN_CFG = {.arch = PF_ARCH_GPT2,
                                        .n_layer = 2,
                                        .n_head = 2,
                                        .d_model = 24,
                                        .vocab_size = 40,
                                        .max_seq_len = 96};
enum { NP = 8, PT = 30, NEW = 25, GV = 40 };
static const int32_t P_LEN[NP] = {3, 30, 1, 17, 9, 30, 12, 5};
static const uint64_t P_INDEX[NP] = {10, 11, 12, 13, 14, 15, 16, 17};
static const uint32_t S_INDEX[NP] = {0, 0, 1, 0, 3, 0, 0, 2};

static pf_model *gen_model(void)
{
    pf_model *m = NULL;
    CU_ASSERT_FATAL(pf_model_create(&GEN_CFG, 0, &m) == PF_OK);
    float *p = pf_model_params(m);
    tu_fill_normal(p, (long)pf_model_num_params(m), 0.25f, 77, 0);
    for (int k = 0; k < pf_model_num_tensors(m); k++) {
        const pf_tensor *t = pf_model_tensor(m, k);
        if (strstr(t->name, "ln_") && strstr(t->name, ".weight"))
            for (size_t i = 0; i < t->numel; i++)
                p[t->offset + i] += 1.0f;
    }
    return m;
}

static void gen_prompts(int32_t *tokens)
{
    for (int b = 0; b < NP; b++)
        for (int t = 0; t < PT; t++)
            tokens[b * PT + t] = t < P_LEN[b] ? (int32_t)(pf_rng_uniform(3, b, t) * GV) : 0;
}

typedef struct {
    int32_t tokens[NP * NEW], lengths[NP];
    uint8_t finished[NP];
    float logprobs[NP * NEW], entropies[NP * NEW];
} gen_result;

/* Generates for the prompts listed in rows[0..n) (in that order) with a cache of
 * (max_b, max_t); scatters the results into r by original prompt. */
static void generate_rows(pf_model *m, const int32_t *prompts, const int *rows, int n, int max_b,
                          int max_t, const pf_generate_config *cfg, gen_result *r)
{
    int32_t toks[NP * PT], lens[NP];
    uint64_t pidx[NP];
    uint32_t sidx[NP];
    for (int i = 0; i < n; i++) {
        memcpy(toks + i * PT, prompts + rows[i] * PT, sizeof(int32_t) * PT);
        lens[i] = P_LEN[rows[i]], pidx[i] = P_INDEX[rows[i]], sidx[i] = S_INDEX[rows[i]];
    }
    gen_result tmp;
    memset(&tmp, 0, sizeof tmp);
    pf_generate_out out = {tmp.tokens, tmp.lengths, tmp.finished, tmp.logprobs, tmp.entropies};
    pf_kv_cache *c = NULL;
    CU_ASSERT_FATAL(pf_kv_cache_create(m, max_b, max_t, &c) == PF_OK);
    pf_batch batch = {.tokens = toks, .lengths = lens, .B = n, .T = PT};
    CU_ASSERT_FATAL(pf_generate(m, c, &batch, pidx, sidx, cfg, &out) == PF_OK);
    for (int i = 0; i < n; i++) {
        int b = rows[i];
        memcpy(r->tokens + b * NEW, tmp.tokens + i * NEW, sizeof(int32_t) * NEW);
        memcpy(r->logprobs + b * NEW, tmp.logprobs + i * NEW, sizeof(float) * NEW);
        memcpy(r->entropies + b * NEW, tmp.entropies + i * NEW, sizeof(float) * NEW);
        r->lengths[b] = tmp.lengths[i], r->finished[b] = tmp.finished[i];
    }
    pf_kv_cache_free(c);
}

/* Batch of 8, each prompt alone, and a permuted subset in a bigger cache: same bits. */
static void check_composition(const pf_generate_config *cfg)
{
    pf_model *m = gen_model();
    int32_t prompts[NP * PT];
    gen_prompts(prompts);
    gen_result all, other;
    memset(&all, 0, sizeof all), memset(&other, 0, sizeof other);
    const int fwd[NP] = {0, 1, 2, 3, 4, 5, 6, 7}, perm[5] = {6, 1, 4, 0, 3};
    const int rest[3] = {7, 2, 5};
    generate_rows(m, prompts, fwd, NP, NP, PT + NEW, cfg, &all);
    for (int b = 0; b < NP; b++)
        generate_rows(m, prompts, &fwd[b], 1, 1, P_LEN[b] + NEW - 1, cfg, &other);
    CU_ASSERT(memcmp(&all, &other, sizeof all) == 0);
    memset(&other, 0, sizeof other);
    generate_rows(m, prompts, perm, 5, 16, GEN_CFG.max_seq_len, cfg, &other);
    generate_rows(m, prompts, rest, 3, 3, PT + NEW, cfg, &other);
    CU_ASSERT(memcmp(&all, &other, sizeof all) == 0);
    pf_model_free(m);
}

static void test_generate_batch_independent(void)
{
    const int32_t stop[2] = {5, 17};
    pf_generate_config cfg = {.max_new_tokens = NEW,
                              .stop_ids = stop,
                              .n_stop = 2,
                              .sampling = {1.0f, 1.0f},
                              .seed = 1234,
                              .step = 9,
                              .pad_id = -1};
    check_composition(&cfg);
    cfg.sampling = (pf_sampling){0.7f, 0.9f};
    check_composition(&cfg);
    cfg.sampling = (pf_sampling){0.0f, 1.0f};
    cfg.n_stop = 0;
    check_composition(&cfg);
}

/* Greedy generation == argmax of prefill / decode logits fed back by hand. */
static void test_generate_greedy_manual(void)
{
    pf_model *m = gen_model();
    int32_t prompts[NP * PT], lens[NP];
    gen_prompts(prompts);
    memcpy(lens, P_LEN, sizeof lens);
    pf_generate_config cfg = {.max_new_tokens = NEW, .sampling = {0.0f, 1.0f}, .seed = 1};
    gen_result r;
    const int fwd[NP] = {0, 1, 2, 3, 4, 5, 6, 7};
    generate_rows(m, prompts, fwd, NP, NP, PT + NEW, &cfg, &r);
    pf_kv_cache *c = NULL;
    CU_ASSERT_FATAL(pf_kv_cache_create(m, NP, PT + NEW, &c) == PF_OK);
    float logits[NP * GV];
    int32_t next[NP];
    pf_batch batch = {.tokens = prompts, .lengths = lens, .B = NP, .T = PT};
    CU_ASSERT_FATAL(pf_model_prefill(m, c, &batch, logits) == PF_OK);
    for (int j = 0; j < NEW; j++) {
        for (int b = 0; b < NP; b++) {
            int best = 0;
            for (int v = 1; v < GV; v++)
                best = logits[b * GV + v] > logits[b * GV + best] ? v : best;
            next[b] = best;
            CU_ASSERT(r.tokens[b * NEW + j] == best);
        }
        if (j < NEW - 1)
            CU_ASSERT_FATAL(pf_model_decode_step(m, c, next, NULL, logits) == PF_OK);
    }
    for (int b = 0; b < NP; b++)
        CU_ASSERT(r.lengths[b] == NEW && r.finished[b] == 0);
    pf_kv_cache_free(c);
    pf_model_free(m);
}

/* A stop id ends a sequence at its first occurrence: same prefix, stop included, then
 * padding; other sequences are unaffected. */
static void test_generate_stop(void)
{
    pf_model *m = gen_model();
    int32_t prompts[NP * PT];
    gen_prompts(prompts);
    const int fwd[NP] = {0, 1, 2, 3, 4, 5, 6, 7};
    pf_generate_config cfg = {
        .max_new_tokens = NEW, .sampling = {1.0f, 1.0f}, .seed = 5, .pad_id = -7};
    gen_result free_run, stopped;
    generate_rows(m, prompts, fwd, NP, NP, PT + NEW, &cfg, &free_run);
    int32_t stop = free_run.tokens[0 * NEW + NEW / 2]; /* occurs in sequence 0 */
    cfg.stop_ids = &stop, cfg.n_stop = 1;
    generate_rows(m, prompts, fwd, NP, NP, PT + NEW, &cfg, &stopped);
    int any_stopped = 0;
    for (int b = 0; b < NP; b++) {
        int first = NEW;
        for (int j = 0; j < NEW && first == NEW; j++)
            first = free_run.tokens[b * NEW + j] == stop ? j : NEW;
        int len = first < NEW ? first + 1 : NEW;
        any_stopped |= first < NEW;
        CU_ASSERT(stopped.lengths[b] == len && stopped.finished[b] == (first < NEW));
        CU_ASSERT(memcmp(stopped.tokens + b * NEW, free_run.tokens + b * NEW,
                         sizeof(int32_t) * len) == 0);
        for (int j = len; j < NEW; j++)
            CU_ASSERT(stopped.tokens[b * NEW + j] == -7 && stopped.logprobs[b * NEW + j] == 0.0f);
    }
    CU_ASSERT(any_stopped);
    pf_model_free(m);
}

/* The sampler's log-probs of the generated tokens == pf_model_forward's on prompt +
 * completion at the same temperature (the PPO "old log-probs" consistency). */
static void test_generate_logprobs_match_forward(void)
{
    pf_model *m = gen_model();
    int32_t prompts[NP * PT];
    gen_prompts(prompts);
    const int fwd[NP] = {0, 1, 2, 3, 4, 5, 6, 7};
    pf_generate_config cfg = {.max_new_tokens = NEW, .sampling = {0.8f, 1.0f}, .seed = 11};
    gen_result r;
    generate_rows(m, prompts, fwd, NP, NP, PT + NEW, &cfg, &r);
    enum { T = PT + NEW };
    int32_t seq[NP * T], lens[NP];
    float lp[NP * T] = {0};
    for (int b = 0; b < NP; b++) {
        memset(seq + b * T, 0, sizeof(int32_t) * T);
        memcpy(seq + b * T, prompts + b * PT, sizeof(int32_t) * P_LEN[b]);
        memcpy(seq + b * T + P_LEN[b], r.tokens + b * NEW, sizeof(int32_t) * r.lengths[b]);
        lens[b] = P_LEN[b] + r.lengths[b];
    }
    pf_workspace *ws = NULL;
    CU_ASSERT_FATAL(pf_workspace_create(m, NP, T, 0, &ws) == PF_OK);
    pf_batch batch = {.tokens = seq, .lengths = lens, .B = NP, .T = T};
    pf_forward_out out = {.logprobs = lp, .temperature = 0.8f};
    CU_ASSERT_FATAL(pf_model_forward(m, ws, &batch, &out) == PF_OK);
    double worst = 0.0;
    for (int b = 0; b < NP; b++)
        for (int j = 0; j < r.lengths[b]; j++) {
            double d = fabs((double)r.logprobs[b * NEW + j] - lp[b * T + P_LEN[b] - 1 + j]);
            worst = d > worst ? d : worst;
        }
    CU_ASSERT(worst < 1e-5);
    pf_workspace_free(ws);
    pf_model_free(m);
}

static void test_generate_errors(void)
{
    pf_model *m = gen_model();
    int32_t prompts[NP * PT], lens[NP];
    gen_prompts(prompts);
    memcpy(lens, P_LEN, sizeof lens);
    gen_result r;
    pf_generate_out out = {r.tokens, r.lengths, r.finished, NULL, NULL};
    pf_kv_cache *c = NULL;
    CU_ASSERT_FATAL(pf_kv_cache_create(m, NP, PT + NEW - 2, &c) == PF_OK);
    pf_batch batch = {.tokens = prompts, .lengths = lens, .B = NP, .T = PT};
    pf_generate_config cfg = {.max_new_tokens = NEW, .sampling = {1.0f, 1.0f}};
    CU_ASSERT(pf_generate(m, c, &batch, P_INDEX, NULL, &cfg, &out) == PF_ERR_USAGE);
    CU_ASSERT(strstr(pf_error_message(), "exceeds the kv cache") != NULL);
    cfg.max_new_tokens = NEW - 1; /* the last token is never fed back: fits exactly */
    CU_ASSERT(pf_generate(m, c, &batch, P_INDEX, NULL, &cfg, &out) == PF_OK);
    cfg.max_new_tokens = 0;
    CU_ASSERT(pf_generate(m, c, &batch, P_INDEX, NULL, &cfg, &out) == PF_ERR_USAGE);
    cfg.max_new_tokens = 4;
    cfg.sampling.top_p = 0.0f;
    CU_ASSERT(pf_generate(m, c, &batch, P_INDEX, NULL, &cfg, &out) == PF_ERR_USAGE);
    cfg.sampling.top_p = 1.0f;
    cfg.step = PF_SAMPLE_MAX_STEP + 1;
    CU_ASSERT(pf_generate(m, c, &batch, P_INDEX, NULL, &cfg, &out) == PF_ERR_USAGE);
    cfg.step = 0;
    pf_generate_scratch *small = NULL;
    CU_ASSERT_FATAL(pf_generate_scratch_create(NP - 1, GV, &small) == PF_OK);
    CU_ASSERT(pf_generate_with(m, c, &batch, P_INDEX, NULL, &cfg, small, &out) == PF_ERR_USAGE);
    CU_ASSERT(strstr(pf_error_message(), "scratch for 7 sequences") != NULL);
    pf_generate_scratch_free(small);
    pf_kv_cache_free(c);
    pf_model_free(m);
}

/* One scratch reused across calls of different batch sizes == pf_generate each time. */
static void test_generate_with_reused_scratch(void)
{
    pf_model *m = gen_model();
    int32_t prompts[NP * PT], lens[NP];
    gen_prompts(prompts);
    memcpy(lens, P_LEN, sizeof lens);
    pf_generate_config cfg = {.max_new_tokens = NEW, .sampling = {0.8f, 0.95f}, .seed = 5};
    pf_kv_cache *c = NULL;
    pf_generate_scratch *g = NULL;
    CU_ASSERT_FATAL(pf_kv_cache_create(m, NP, PT + NEW, &c) == PF_OK);
    CU_ASSERT_FATAL(pf_generate_scratch_create(NP, GV, &g) == PF_OK);
    for (int B = NP; B >= 1; B -= 3) {
        gen_result a, b;
        memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
        pf_generate_out oa = {a.tokens, a.lengths, a.finished, a.logprobs, a.entropies};
        pf_generate_out ob = {b.tokens, b.lengths, b.finished, b.logprobs, b.entropies};
        pf_batch batch = {.tokens = prompts, .lengths = lens, .B = B, .T = PT};
        cfg.step = (uint64_t)B;
        CU_ASSERT_FATAL(pf_generate(m, c, &batch, P_INDEX, S_INDEX, &cfg, &oa) == PF_OK);
        CU_ASSERT_FATAL(pf_generate_with(m, c, &batch, P_INDEX, S_INDEX, &cfg, g, &ob) == PF_OK);
        CU_ASSERT(memcmp(&a, &b, sizeof a) == 0);
    }
    pf_generate_scratch_free(g);
    pf_kv_cache_free(c);
    pf_model_free(m);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"sample keys: distinct, bounded, tagged", test_keys},
        {"greedy: argmax, lowest id on ties", test_greedy},
        {"distribution of 200k draws (chi-square)", test_distribution},
        {"top-p edge cases", test_top_p_edges},
        {"bucketed nucleus == full sort", test_nucleus_vs_brute_force},
        {"log-prob and entropy", test_logprob_entropy},
        {"bad logits and settings", test_bad_input},
        {"generate: same tokens whatever the batch", test_generate_batch_independent},
        {"generate: greedy == manual argmax loop", test_generate_greedy_manual},
        {"generate: stop ids", test_generate_stop},
        {"generate: log-probs == forward at temperature", test_generate_logprobs_match_forward},
        {"generate: errors", test_generate_errors},
        {"generate_with: a reused scratch gives pf_generate's results",
         test_generate_with_reused_scratch},
        {NULL, NULL}};
    return pf_cunit_run("sampler", cases);
}
