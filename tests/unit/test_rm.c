/*
 * test_rm.c: reward-model training and scoring: the Bradley-Terry loss and its
 * gradient (hand values, finite differences, margin and centering), the rm algorithm's
 * micro-batch (gradient only at each sequence's last token, metrics, ties, min/max
 * slots), the value-at-last-token gradient through the whole model against finite
 * differences, the value-head initialisation, the normalisation statistics, the
 * "margin" data field, and reward_model.h (load from file and run dir, /reward, scores,
 * errors).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cunit_run.h"
#include "prefopt/algo.h"
#include "prefopt/checkpoint.h"
#include "prefopt/data.h"
#include "prefopt/error.h"
#include "prefopt/fsutil.h"
#include "prefopt/losses.h"
#include "prefopt/reward_model.h"
#include "prefopt/score.h"
#include "testutil.h"
#include "train/trainer_internal.h"

/* The step loss of n pairs as the algorithm defines it, in double. */
static double bt_loss(const double *rc, const double *rr, const double *m, int n, double c)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        s += -pf_log_sigmoid(rc[i] - rr[i] - m[i]);
        s += c * (rc[i] + rr[i]) * (rc[i] + rr[i]);
    }
    return s / n;
}

static void test_bt_hand_values(void)
{
    double gc, gr;
    /* d = 1: loss log(1 + e^-1), d/dr+ = -sigmoid(-1) */
    double l = pf_rm_pair_loss(1.0, 0.0, 0.0, 0.0, 1.0, &gc, &gr);
    CU_ASSERT_DOUBLE_EQUAL(l, 0.31326168751822286, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(gc, -0.2689414213699951, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(gr, 0.2689414213699951, 1e-12);
    /* equal rewards: log 2, gradients +-1/2 over 4 pairs */
    l = pf_rm_pair_loss(0.3, 0.3, 0.0, 0.0, 4.0, &gc, &gr);
    CU_ASSERT_DOUBLE_EQUAL(l, log(2.0), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(gc, -0.125, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(gr, 0.125, 1e-12);
    /* a margin shifts the argument: r+ - r- = 1 with margin 1 is d = 0 */
    l = pf_rm_pair_loss(1.0, 0.0, 1.0, 0.0, 1.0, &gc, &gr);
    CU_ASSERT_DOUBLE_EQUAL(l, log(2.0), 1e-12);
    /* centering adds 2 c (r+ + r-) / n to both gradients */
    double gc0, gr0;
    pf_rm_pair_loss(2.0, 1.0, 0.0, 0.0, 2.0, &gc0, &gr0);
    pf_rm_pair_loss(2.0, 1.0, 0.0, 0.1, 2.0, &gc, &gr);
    CU_ASSERT_DOUBLE_EQUAL(gc - gc0, 2.0 * 0.1 * 3.0 / 2.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(gr - gr0, 2.0 * 0.1 * 3.0 / 2.0, 1e-12);
    /* no overflow far out */
    l = pf_rm_pair_loss(-800.0, 0.0, 0.0, 0.0, 1.0, &gc, &gr);
    CU_ASSERT(isfinite(l) && fabs(l - 800.0) < 1e-9 && fabs(gc + 1.0) < 1e-12);
    l = pf_rm_pair_loss(800.0, 0.0, 0.0, 0.0, 1.0, &gc, &gr);
    CU_ASSERT(isfinite(l) && l < 1e-300 && fabs(gc) < 1e-300);
}

static void test_bt_finite_differences(void)
{
    enum { N = 5 };
    double rc[N], rr[N], m[N];
    const double c = 0.05, h = 1e-6;
    for (int i = 0; i < N; i++) {
        rc[i] = 2.0 * pf_rng_normal(3, 1, (uint64_t)i);
        rr[i] = 2.0 * pf_rng_normal(3, 2, (uint64_t)i);
        m[i] = i % 2 ? 0.5 * i : 0.0;
    }
    for (int i = 0; i < N; i++) {
        double gc, gr;
        pf_rm_pair_loss(rc[i], rr[i], m[i], c, N, &gc, &gr);
        double save = rc[i];
        rc[i] = save + h;
        double up = bt_loss(rc, rr, m, N, c);
        rc[i] = save - h;
        double down = bt_loss(rc, rr, m, N, c);
        rc[i] = save;
        CU_ASSERT_DOUBLE_EQUAL(gc, (up - down) / (2 * h), 1e-7);
        save = rr[i];
        rr[i] = save + h;
        up = bt_loss(rc, rr, m, N, c);
        rr[i] = save - h;
        down = bt_loss(rc, rr, m, N, c);
        rr[i] = save;
        CU_ASSERT_DOUBLE_EQUAL(gr, (up - down) / (2 * h), 1e-7);
    }
}

/* Three pairs with sequences of the given lengths (ids and weights unused by rm). */
static void make_pairs(pf_example *ex, pf_example **ptrs, const int *lens, const double *margins,
                       int n)
{
    memset(ex, 0, sizeof(pf_example) * (size_t)n);
    for (int i = 0; i < n; i++) {
        ex[i].n_seq = 2;
        ex[i].seq[0].len = lens[2 * i];
        ex[i].seq[1].len = lens[2 * i + 1];
        ex[i].margin = margins[i];
        ptrs[i] = &ex[i];
    }
}

static void test_rm_micro_batch(void)
{
    enum { N = 3, T = 6 };
    const int lens[2 * N] = {6, 3, 2, 5, 4, 4};
    const double margins[N] = {0.0, 1.0, 0.0};
    pf_example ex[N], *ptrs[N];
    make_pairs(ex, ptrs, lens, margins, N);
    float values[2 * N * T], dv[2 * N * T];
    for (int i = 0; i < 2 * N * T; i++)
        values[i] = 100.0f; /* anything not at a last token must not matter */
    const float r[2 * N] = {1.0f, -1.0f, 0.5f, 2.0f, 0.25f, 0.25f};
    for (int s = 0; s < 2 * N; s++)
        values[s * T + lens[s] - 1] = r[s];
    pf_algo_state st;
    memset(&st, 0, sizeof st);
    st.rm_center_coef = 0.01;
    st.rm_use_margin = 1;
    const pf_algo_ops *a = &pf_algo_rm;
    CU_ASSERT(a->uses_values == 1 && a->n_seq == 2);
    a->begin_step(&st, ptrs, N);
    double sums[PF_ALGO_MAX_SUMS] = {0}, metrics[PF_ALGO_MAX_METRICS];
    a->micro_batch(&st, ptrs, N, values, T, dv, sums);
    for (int s = 0; s < 2 * N; s++)
        for (int t = 0; t < T; t++) {
            double gc, gr;
            int i = s / 2;
            pf_rm_pair_loss(r[2 * i], r[2 * i + 1], margins[i], 0.01, N, &gc, &gr);
            double want = t == lens[s] - 1 ? (s % 2 ? gr : gc) : 0.0;
            CU_ASSERT_DOUBLE_EQUAL(dv[s * T + t], want, 1e-7);
        }
    a->finalize(&st, sums, metrics);
    double rcd[N] = {1.0, 0.5, 0.25}, rrd[N] = {-1.0, 2.0, 0.25};
    CU_ASSERT_STRING_EQUAL(a->metric_names[0], "loss");
    CU_ASSERT_DOUBLE_EQUAL(metrics[0], bt_loss(rcd, rrd, margins, N, 0.01), 1e-12);
    CU_ASSERT_STRING_EQUAL(a->metric_names[1], "accuracy");
    CU_ASSERT_DOUBLE_EQUAL(metrics[1], 1.5 / 3.0, 1e-12); /* win, loss, tie (half) */
    CU_ASSERT_DOUBLE_EQUAL(metrics[2], (2.0 - 1.5 + 0.0) / 3.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(metrics[3], 3.0 / 6.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(metrics[4], -1.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(metrics[5], 2.0, 0.0);
    /* without use_margin the margins are ignored */
    double sums2[PF_ALGO_MAX_SUMS] = {0}, m2[PF_ALGO_MAX_METRICS];
    const double zero[N] = {0};
    st.rm_use_margin = 0;
    a->micro_batch(&st, ptrs, N, values, T, dv, sums2);
    a->finalize(&st, sums2, m2);
    CU_ASSERT_DOUBLE_EQUAL(m2[0], bt_loss(rcd, rrd, zero, N, 0.01), 1e-12);
    /* eval path: the same sums from score tables */
    double sums3[PF_ALGO_MAX_SUMS] = {0}, m3[PF_ALGO_MAX_METRICS];
    for (int i = 0; i < N; i++) {
        double sc[2 * PF_SCORE_FIELDS] = {0};
        sc[PF_SCORE_SUM] = r[2 * i];
        sc[PF_SCORE_FIELDS + PF_SCORE_SUM] = r[2 * i + 1];
        a->score_example(&st, ptrs[i], sc, sums3);
    }
    a->finalize(&st, sums3, m3);
    for (int k = 0; k < a->n_metrics; k++)
        CU_ASSERT_DOUBLE_EQUAL(m3[k], m2[k], 1e-12);
}

/* Slots combine by sum, min and max whatever the values' order. */
static void test_combine_slots(void)
{
    enum { N = 4, T = 3 };
    const int lens[2 * N] = {3, 3, 3, 3, 3, 3, 3, 3};
    const double margins[N] = {0};
    pf_example ex[N], *ptrs[N];
    make_pairs(ex, ptrs, lens, margins, N);
    float values[2 * N * T] = {0}, dv[2 * N * T];
    const float r[2 * N] = {3.0f, 0.5f, -2.0f, 1.0f, 0.0f, 7.0f, -0.5f, 0.25f};
    for (int s = 0; s < 2 * N; s++)
        values[s * T + T - 1] = r[s];
    pf_algo_state st;
    memset(&st, 0, sizeof st);
    const pf_algo_ops *a = &pf_algo_rm;
    a->begin_step(&st, ptrs, N);
    double slots[2 * PF_ALGO_MAX_SUMS] = {0}, whole[PF_ALGO_MAX_SUMS] = {0};
    double comb[PF_ALGO_MAX_SUMS], m1[PF_ALGO_MAX_METRICS], m2[PF_ALGO_MAX_METRICS];
    /* two micro-batches of two pairs, in separate slots of n_sums each */
    a->micro_batch(&st, ptrs, 2, values, T, dv, slots);
    a->micro_batch(&st, ptrs + 2, 2, values + 4 * T, T, dv, slots + a->n_sums);
    a->micro_batch(&st, ptrs, N, values, T, dv, whole);
    pf_algo_combine_slots(a, slots, 2, comb);
    a->finalize(&st, comb, m1);
    a->finalize(&st, whole, m2);
    for (int k = 0; k < a->n_metrics; k++)
        CU_ASSERT_DOUBLE_EQUAL(m1[k], m2[k], 1e-12);
    CU_ASSERT(m1[4] == -2.0 && m1[5] == 7.0);
    /* sft (no sum_ops) still adds */
    double s2[4] = {1, 2, 3, 4}, out[PF_ALGO_MAX_SUMS];
    pf_algo_combine_slots(&pf_algo_sft, s2, 1, out);
    CU_ASSERT(out[0] == 1 && out[1] == 2);
}

static const pf_model_config RMCFG = {.arch = PF_ARCH_GPT2,
                                      .n_layer = 2,
                                      .n_head = 2,
                                      .d_model = 8,
                                      .vocab_size = 11,
                                      .max_seq_len = 12,
                                      .value_head = 1};

enum { NP = 2, TT = 7 };
static const int32_t PAIR_LENS[2 * NP] = {7, 5, 3, 6};

/* The RM loss through the whole network: forward values, BT loss at last tokens. */
typedef struct {
    pf_model *m;
    pf_workspace *ws;
    pf_batch batch;
    pf_example ex[NP], *ptrs[NP];
    pf_algo_state st;
    float val[2 * NP * TT], dval[2 * NP * TT];
} rm_ctx;

static double rm_net_loss(void *p)
{
    rm_ctx *c = p;
    pf_forward_out out = {.values = c->val, .temperature = 1.0f};
    CU_ASSERT_FATAL(pf_model_forward(c->m, c->ws, &c->batch, &out) == PF_OK);
    double sums[PF_ALGO_MAX_SUMS] = {0}, metrics[PF_ALGO_MAX_METRICS];
    pf_algo_rm.micro_batch(&c->st, c->ptrs, NP, c->val, TT, c->dval, sums);
    pf_algo_rm.finalize(&c->st, sums, metrics);
    return metrics[0];
}

/* d(RM loss)/d(params) for every tensor (trunk and head) against central differences:
 * the gradient enters at the value of each sequence's last token only. */
static void test_value_gradient_through_model(void)
{
    rm_ctx c;
    memset(&c, 0, sizeof c);
    int32_t tokens[2 * NP * TT];
    for (int b = 0; b < 2 * NP; b++)
        for (int t = 0; t < TT; t++)
            tokens[b * TT + t] = t < PAIR_LENS[b] ? (b * 3 + t * 5 + 2) % 11 : 0;
    CU_ASSERT_FATAL(pf_model_create(&RMCFG, 1, &c.m) == PF_OK);
    CU_ASSERT_FATAL(pf_workspace_create(c.m, 2 * NP, TT, 1, &c.ws) == PF_OK);
    float *p = pf_model_params(c.m);
    tu_fill_normal(p, (long)pf_model_num_params(c.m), 0.3f, 11, 0);
    for (int k = 0; k < pf_model_num_tensors(c.m); k++) {
        const pf_tensor *t = pf_model_tensor(c.m, k);
        if (strstr(t->name, "ln_") && strstr(t->name, ".weight"))
            for (size_t i = 0; i < t->numel; i++)
                p[t->offset + i] += 1.0f;
    }
    c.batch = (pf_batch){.tokens = tokens, .lengths = PAIR_LENS, .B = 2 * NP, .T = TT};
    const int lens[2 * NP] = {7, 5, 3, 6};
    const double margins[NP] = {0.5, 0.0};
    make_pairs(c.ex, c.ptrs, lens, margins, NP);
    c.st.rm_center_coef = 0.1;
    c.st.rm_use_margin = 1;
    pf_algo_rm.begin_step(&c.st, c.ptrs, NP);
    rm_net_loss(&c);
    pf_model_zero_grads(c.m);
    CU_ASSERT_FATAL(pf_model_backward(c.m, c.ws, NULL, c.dval) == PF_OK);
    const size_t n = pf_model_num_params(c.m);
    float *grads = malloc(sizeof(float) * n);
    memcpy(grads, pf_model_grads(c.m), sizeof(float) * n);
    double gnorm = 0.0;
    for (int k = 0; k < pf_model_num_tensors(c.m); k++) {
        const pf_tensor *t = pf_model_tensor(c.m, k);
        if (strcmp(t->name, "wte.weight") == 0)
            continue; /* only rows of tokens present get gradient; covered below */
        long idx[24];
        int cnt = tu_sample_indices(idx, 24, (long)t->numel, (uint64_t)k + 5);
        double err =
            tu_fd_error(rm_net_loss, &c, p + t->offset, idx, cnt, grads + t->offset, 1e-2f);
        if (err >= 1e-2)
            printf("\n  tensor %s: FD relative error %.3g\n", t->name, err);
        CU_ASSERT(err < 1e-2);
        for (size_t i = 0; i < t->numel; i++)
            gnorm += (double)grads[t->offset + i] * grads[t->offset + i];
    }
    CU_ASSERT(gnorm > 1e-6); /* the trunk learns, not only the head */
    const pf_tensor *wte = pf_model_find_tensor(c.m, "wte.weight");
    long idx[8];
    for (int k = 0; k < 8; k++)
        idx[k] = (long)(tokens[k * 2] * RMCFG.d_model + k % RMCFG.d_model);
    CU_ASSERT(tu_fd_error(rm_net_loss, &c, p + wte->offset, idx, 8, grads + wte->offset, 1e-2f) <
              1e-2);
    free(grads);
    pf_workspace_free(c.ws);
    pf_model_free(c.m);
}

static void test_value_head_init(void)
{
    pf_model_config cfg = RMCFG;
    cfg.d_model = 64, cfg.n_head = 4;
    pf_model *a = NULL, *b = NULL;
    CU_ASSERT_FATAL(pf_model_create(&cfg, 0, &a) == PF_OK && pf_model_create(&cfg, 0, &b) == PF_OK);
    pf_rm_init_value_head(a, 5);
    pf_rm_init_value_head(b, 5);
    CU_ASSERT(memcmp(pf_model_params(a), pf_model_params(b),
                     sizeof(float) * pf_model_num_params(a)) == 0);
    const pf_tensor *w = pf_model_find_tensor(a, "v_head.weight");
    const pf_tensor *bias = pf_model_find_tensor(a, "v_head.bias");
    double s2 = 0.0;
    for (size_t i = 0; i < w->numel; i++)
        s2 += (double)pf_model_params(a)[w->offset + i] * pf_model_params(a)[w->offset + i];
    CU_ASSERT(fabs(sqrt(s2 / 64.0) - 1.0 / sqrt(65.0)) < 0.04);
    CU_ASSERT(pf_model_params(a)[bias->offset] == 0.0f);
    /* the trunk is untouched */
    CU_ASSERT(pf_model_params(a)[0] == 0.0f);
    pf_rm_init_value_head(b, 6);
    CU_ASSERT(memcmp(pf_model_params(a) + w->offset, pf_model_params(b) + w->offset,
                     sizeof(float) * w->numel) != 0);
    pf_model_free(a);
    pf_model_free(b);
}

static void test_norm_from_values(void)
{
    double table[4 * PF_SCORE_FIELDS] = {0};
    const double r[4] = {1.0, 3.0, -1.0, 5.0};
    for (int i = 0; i < 4; i++)
        table[i * PF_SCORE_FIELDS + PF_SCORE_SUM] = r[i];
    pf_reward_norm n;
    pf_rm_norm_from_values(table, 2, &n);
    CU_ASSERT_DOUBLE_EQUAL(n.mean, 2.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(n.std, sqrt((1.0 + 1.0 + 9.0 + 9.0) / 4.0), 1e-12); /* population */
    CU_ASSERT(n.n == 4);
    for (int i = 0; i < 4; i++)
        table[i * PF_SCORE_FIELDS + PF_SCORE_SUM] = 2.5;
    pf_rm_norm_from_values(table, 2, &n);
    CU_ASSERT(n.mean == 2.5 && n.std == 1.0); /* constant rewards: std 1 */
}

/* "margin": a number is kept; a string or non-finite number is a wrong-type error. */
static void test_margin_field(void)
{
    static const char good[] =
        "{\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]},"
        "\"preferred_output\":[{\"role\":\"assistant\",\"content\":\"a\"}],"
        "\"non_preferred_output\":[{\"role\":\"assistant\",\"content\":\"b\"}],\"margin\":1.25}\n";
    pf_data_options o;
    pf_data_options_init(&o);
    o.min_examples = 0;
    pf_record_set set = {0};
    pf_data_summary sum;
    CU_ASSERT_FATAL(
        pf_data_load_buffer("g.jsonl", good, strlen(good), PF_DATA_DPO, &o, &set, &sum) == PF_OK);
    CU_ASSERT(sum.warnings == 0);
    CU_ASSERT(set.n == 1 && set.items[0].has_margin && set.items[0].margin == 1.25);
    pf_record_set_free(&set);
    static const char trl[] =
        "{\"prompt\":\"q\",\"chosen\":\"a\",\"rejected\":\"b\",\"margin\":-2}\n";
    CU_ASSERT(pf_data_load_buffer("t.jsonl", trl, strlen(trl), PF_DATA_TRL, &o, &set, &sum) ==
              PF_OK);
    CU_ASSERT(set.n == 1 && set.items[0].margin == -2.0 && sum.warnings == 0);
    pf_record_set_free(&set);
    static const char bad[] =
        "{\"prompt\":\"q\",\"chosen\":\"a\",\"rejected\":\"b\",\"margin\":\"big\"}\n";
    CU_ASSERT(pf_data_validate_buffer("b.jsonl", bad, strlen(bad), PF_DATA_TRL, &o, &sum) ==
              PF_ERR_DATA);
    CU_ASSERT(strstr(pf_error_message(), "b.jsonl:1: error: wrong-type: margin: expected a "
                                         "number, got string") != NULL);
    static const char inf[] =
        "{\"prompt\":\"q\",\"chosen\":\"a\",\"rejected\":\"b\",\"margin\":1e999}\n";
    CU_ASSERT(pf_data_validate_buffer("i.jsonl", inf, strlen(inf), PF_DATA_TRL, &o, &sum) ==
              PF_ERR_DATA);
    CU_ASSERT(strstr(pf_error_message(), "margin: 1e999 is not a finite number") != NULL);
}

/* Writes a tiny RM checkpoint (with /reward when norm is non-NULL) to path. */
static pf_model *write_rm(const char *path, const pf_reward_norm *norm, int value_head)
{
    pf_model_config cfg = RMCFG;
    cfg.value_head = value_head;
    pf_model *m = NULL;
    CU_ASSERT_FATAL(pf_model_create(&cfg, 0, &m) == PF_OK);
    tu_fill_normal(pf_model_params(m), (long)pf_model_num_params(m), 0.3f, 21, 0);
    pf_checkpoint_meta meta = {.step = 3, .algorithm = "rm", .world_size = 1};
    pf_train_state st = {.reward_norm = norm};
    CU_ASSERT_FATAL(pf_checkpoint_write_train(path, m, NULL, &meta, &st) == PF_OK);
    return m;
}

static void test_reward_model_scoring(void)
{
    char dir[] = "/tmp/test_rm.XXXXXX", path[256], run[256];
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/rm.h5", dir);
    const pf_reward_norm norm = {.mean = 0.5, .std = 2.0, .n = 8};
    pf_model *m = write_rm(path, &norm, 1);
    pf_reward_norm back;
    int present = 0;
    CU_ASSERT(pf_checkpoint_read_reward_norm(path, &back, &present) == PF_OK && present);
    CU_ASSERT(back.mean == 0.5 && back.std == 2.0 && back.n == 8);
    pf_reward_model *rm = NULL;
    CU_ASSERT_FATAL(pf_reward_model_load(path, 4, 10, &rm) == PF_OK);
    double mean, std;
    pf_reward_model_norm(rm, &mean, &std);
    CU_ASSERT(mean == 0.5 && std == 2.0);
    CU_ASSERT(pf_model_num_params(pf_reward_model_network(rm)) == pf_model_num_params(m));
    int32_t tokens[3 * 8];
    const int32_t lens[3] = {8, 2, 5};
    for (int i = 0; i < 24; i++)
        tokens[i] = (i * 7 + 1) % 11;
    pf_batch b = {.tokens = tokens, .lengths = lens, .B = 3, .T = 8};
    double scores[3];
    CU_ASSERT_FATAL(pf_reward_model_score(rm, &b, scores) == PF_OK);
    /* the same from a plain forward of the written model */
    pf_workspace *ws = NULL;
    float vals[24];
    CU_ASSERT_FATAL(pf_workspace_create(m, 3, 8, 0, &ws) == PF_OK);
    pf_forward_out out = {.values = vals, .temperature = 1.0f};
    CU_ASSERT_FATAL(pf_model_forward(m, ws, &b, &out) == PF_OK);
    for (int i = 0; i < 3; i++)
        CU_ASSERT(scores[i] == (vals[i * 8 + lens[i] - 1] - 0.5) / 2.0);
    /* a batch beyond the workspace is refused */
    pf_batch big = {.tokens = tokens, .lengths = lens, .B = 5, .T = 4};
    CU_ASSERT(pf_reward_model_score(rm, &big, scores) == PF_ERR_USAGE);
    pf_reward_model_free(rm);
    /* a run directory: its newest checkpoint */
    snprintf(run, sizeof run, "%s/run/checkpoints", dir);
    CU_ASSERT_FATAL(pf_mkdir_p(run) == PF_OK);
    snprintf(run, sizeof run, "%s/run/checkpoints/step-00000003.h5", dir);
    pf_model_free(write_rm(run, NULL, 1)); /* no /reward: raw scores */
    snprintf(run, sizeof run, "%s/run", dir);
    CU_ASSERT_FATAL(pf_reward_model_load(run, 3, 8, &rm) == PF_OK);
    pf_reward_model_norm(rm, &mean, &std);
    CU_ASSERT(mean == 0.0 && std == 1.0);
    CU_ASSERT(pf_reward_model_score(rm, &b, scores) == PF_OK);
    CU_ASSERT(scores[0] == vals[7]); /* same weights (same seed), raw */
    pf_reward_model_free(rm);
    /* no value head: refused, naming the file */
    pf_model_free(write_rm(path, NULL, 0));
    CU_ASSERT(pf_reward_model_load(path, 2, 8, &rm) == PF_ERR_USAGE);
    CU_ASSERT(strstr(pf_error_message(), "no value head") != NULL);
    CU_ASSERT(strstr(pf_error_message(), path) != NULL);
    pf_workspace_free(ws);
    pf_model_free(m);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CU_ASSERT(system(cmd) == 0);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"Bradley-Terry loss: hand values, margin, centering", test_bt_hand_values},
        {"Bradley-Terry gradient against finite differences", test_bt_finite_differences},
        {"rm micro-batch: gradient at last tokens, metrics, ties", test_rm_micro_batch},
        {"metric slots: sums, min and max", test_combine_slots},
        {"value at the last token: gradient through the model (FD)",
         test_value_gradient_through_model},
        {"value head initialisation", test_value_head_init},
        {"normalisation statistics", test_norm_from_values},
        {"margin data field", test_margin_field},
        {"reward_model.h: load, /reward, scores, errors", test_reward_model_scoring},
        {NULL, NULL}};
    return pf_cunit_run("reward model", cases);
}
