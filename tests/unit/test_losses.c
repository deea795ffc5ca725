/*
 * test_losses.c: the loss math against hand-computed values and finite differences:
 * DPO = ln 2 with zero margins when policy = reference, cDPO label smoothing, robust,
 * IPO's target, hinge's kink; the DPO and SFT algorithms' gradients, masks and metrics
 * on hand-built examples; the learning-rate schedules and the data order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_run.h"
#include "prefopt/algo.h"
#include "prefopt/losses.h"
#include "prefopt/schedule.h"

static const double LN2 = 0.69314718055994530942;

static double loss_of(pf_dpo_loss_type t, double beta, double eps, double delta, double *d)
{
    pf_dpo_params p = {.type = t, .beta = beta, .label_smoothing = eps};
    return pf_dpo_pair_loss(&p, delta, d);
}

static void test_pair_losses_by_hand(void)
{
    double d;
    /* policy = reference: delta = 0 */
    CU_ASSERT_DOUBLE_EQUAL(loss_of(PF_DPO_SIGMOID, 0.1, 0.0, 0.0, &d), LN2, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(d, -0.05, 1e-15); /* -beta * sigmoid(0) */
    CU_ASSERT_DOUBLE_EQUAL(loss_of(PF_DPO_SIGMOID, 0.1, 0.2, 0.0, &d), LN2, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(d, -0.8 * 0.05 + 0.2 * 0.05, 1e-15);
    /* delta = 10, beta = 0.1: z = 1 */
    double ls1 = -log1p(exp(-1.0)), lsm1 = -log1p(exp(1.0));
    CU_ASSERT_DOUBLE_EQUAL(loss_of(PF_DPO_SIGMOID, 0.1, 0.0, 10.0, &d), -ls1, 1e-14);
    CU_ASSERT_DOUBLE_EQUAL(loss_of(PF_DPO_SIGMOID, 0.1, 0.1, 10.0, &d), -0.9 * ls1 - 0.1 * lsm1,
                           1e-14);
    CU_ASSERT_DOUBLE_EQUAL(loss_of(PF_DPO_ROBUST, 0.1, 0.1, 10.0, &d),
                           (-0.9 * ls1 + 0.1 * lsm1) / 0.8, 1e-14);
    /* hinge: 1 - beta*delta above the kink, 0 past it, gradient -beta then 0 */
    CU_ASSERT_DOUBLE_EQUAL(loss_of(PF_DPO_HINGE, 0.5, 0.0, 1.0, &d), 0.5, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(d, -0.5, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(loss_of(PF_DPO_HINGE, 0.5, 0.0, 3.0, &d), 0.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(d, 0.0, 1e-15);
    /* ipo: zero loss exactly at delta = 1/(2 beta) */
    CU_ASSERT_DOUBLE_EQUAL(loss_of(PF_DPO_IPO, 0.25, 0.0, 2.0, &d), 0.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(d, 0.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(loss_of(PF_DPO_IPO, 0.25, 0.0, 0.0, &d), 4.0, 1e-15);
    /* stable far out */
    CU_ASSERT(isfinite(loss_of(PF_DPO_SIGMOID, 1.0, 0.0, -2000.0, &d)) && fabs(d + 1.0) < 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(pf_log_sigmoid(-800.0), -800.0, 1e-12);
}

/* Derivatives against central differences for every loss type. */
static void test_pair_loss_derivatives(void)
{
    for (int t = 0; t < PF_DPO_LOSS_COUNT; t++)
        for (double delta = -7.3; delta < 8.0; delta += 1.7) {
            double d, dummy, h = 1e-6;
            loss_of((pf_dpo_loss_type)t, 0.3, 0.1, delta, &d);
            double fd = (loss_of((pf_dpo_loss_type)t, 0.3, 0.1, delta + h, &dummy) -
                         loss_of((pf_dpo_loss_type)t, 0.3, 0.1, delta - h, &dummy)) /
                        (2 * h);
            CU_ASSERT(fabs(fd - d) < 1e-6);
        }
    pf_dpo_loss_type out;
    CU_ASSERT(pf_dpo_loss_from_name("ipo", &out) == 0 && out == PF_DPO_IPO);
    CU_ASSERT(pf_dpo_loss_from_name("kto", &out) == -1);
}

/* A hand-built pair: prompt tokens 0..2 masked, completion tokens weighted 1. */
static pf_example make_pair(int32_t *ids, float *w)
{
    pf_example e;
    memset(&e, 0, sizeof e);
    for (int s = 0; s < 2; s++) {
        for (int t = 0; t < 6; t++) {
            ids[s * 6 + t] = t + s;
            w[s * 6 + t] = t >= 3 ? 1.0f : 0.0f;
        }
        e.seq[s] = (pf_seq){
            .ids = ids + s * 6, .weight = w + s * 6, .len = s == 0 ? 6 : 5, .prompt_len = 3};
    }
    e.n_seq = 2;
    return e;
}

static void test_dpo_algorithm(void)
{
    int32_t ids[12];
    float w[12];
    pf_example e = make_pair(ids, w);
    pf_example *batch[1] = {&e};
    pf_algo_state st = {.dpo = {.type = PF_DPO_SIGMOID, .beta = 0.1}};
    enum { T = 6 };
    float lp[2 * T], dlp[2 * T];
    for (int i = 0; i < 2 * T; i++)
        lp[i] = -0.5f - 0.1f * (float)i;
    /* reference = policy: the sums over completion tokens t = 3..len-1 (lp index t-1) */
    double count;
    e.ref_logp[0] = pf_seq_weighted_logp(&e.seq[0], lp, &count);
    CU_ASSERT(count == 3.0);
    e.ref_logp[1] = pf_seq_weighted_logp(&e.seq[1], lp + T, &count);
    CU_ASSERT(count == 2.0);
    pf_algo_dpo.begin_step(&st, batch, 1);
    double sums[PF_ALGO_MAX_SUMS] = {0}, m[PF_ALGO_MAX_METRICS];
    pf_algo_dpo.micro_batch(&st, batch, 1, lp, T, dlp, sums);
    pf_algo_dpo.finalize(&st, sums, m);
    CU_ASSERT_DOUBLE_EQUAL(m[0], LN2, 1e-6);  /* loss */
    CU_ASSERT_DOUBLE_EQUAL(m[1], 0.0, 1e-6);  /* rewards/chosen */
    CU_ASSERT_DOUBLE_EQUAL(m[4], 0.0, 1e-6);  /* rewards/margins */
    CU_ASSERT_DOUBLE_EQUAL(m[3], 0.0, 1e-12); /* accuracies: a > b is false */
    /* gradient -beta/2 on chosen completion tokens, +beta/2 on rejected, 0 on the prompt */
    CU_ASSERT(dlp[0] == 0.0f && dlp[1] == 0.0f && dlp[5] == 0.0f);
    CU_ASSERT_DOUBLE_EQUAL(dlp[2], -0.05, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(dlp[T + 3], 0.05, 1e-7);
    CU_ASSERT(dlp[T + 4] == 0.0f); /* past the rejected sequence's end */
    CU_ASSERT(fabs(st.weight_total - 3.0) < 1e-12);
}

static void test_sft_algorithm(void)
{
    int32_t ids[6] = {1, 2, 3, 4, 5, 6};
    float w[6] = {0.0f, 0.1f, 0.1f, 1.0f, 0.0f, 1.0f}; /* prompt 0.1, a weight-0 token */
    pf_example e;
    memset(&e, 0, sizeof e);
    e.seq[0] = (pf_seq){.ids = ids, .weight = w, .len = 6, .prompt_len = 3};
    e.n_seq = 1;
    pf_example *batch[1] = {&e};
    pf_algo_state st;
    memset(&st, 0, sizeof st);
    float lp[6] = {-1.0f, -2.0f, -3.0f, -4.0f, -5.0f, 0.0f}, dlp[6];
    pf_algo_sft.begin_step(&st, batch, 1);
    CU_ASSERT_DOUBLE_EQUAL(st.weight_total, 2.2, 1e-6);
    double sums[PF_ALGO_MAX_SUMS] = {0}, m[PF_ALGO_MAX_METRICS];
    pf_algo_sft.micro_batch(&st, batch, 1, lp, 6, dlp, sums);
    pf_algo_sft.finalize(&st, sums, m);
    double expect = (0.1 * 1 + 0.1 * 2 + 1.0 * 3 + 1.0 * 5) / 2.2;
    CU_ASSERT_DOUBLE_EQUAL(m[0], expect, 1e-6);
    CU_ASSERT(dlp[3] == 0.0f);                        /* weight 0: no gradient */
    CU_ASSERT_DOUBLE_EQUAL(dlp[2], -1.0 / 2.2, 1e-7); /* token 3 */
    CU_ASSERT_DOUBLE_EQUAL(dlp[0], -0.1 / 2.2, 1e-7); /* prompt token 1 */
}

static void test_schedule(void)
{
    pf_config c;
    memset(&c, 0, sizeof c);
    c.lr = 1e-3;
    c.warmup_steps = 10;
    c.min_lr_ratio = 0.1;
    strcpy(c.schedule, "cosine");
    CU_ASSERT_DOUBLE_EQUAL(pf_lr_at(&c, 0, 110), 1e-4, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(pf_lr_at(&c, 9, 110), 1e-3, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(pf_lr_at(&c, 10, 110), 1e-3, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(pf_lr_at(&c, 109, 110), 1e-4, 1e-15);
    CU_ASSERT(pf_lr_at(&c, 60, 110) < 1e-3 && pf_lr_at(&c, 60, 110) > 1e-4);
    strcpy(c.schedule, "linear");
    CU_ASSERT_DOUBLE_EQUAL(pf_lr_at(&c, 109, 110), 1e-4, 1e-15);
    strcpy(c.schedule, "constant");
    CU_ASSERT_DOUBLE_EQUAL(pf_lr_at(&c, 100, 110), 1e-3, 1e-15);
}

static void test_data_order(void)
{
    pf_data_order a, b;
    CU_ASSERT_FATAL(pf_data_order_init(&a, 7, 10) == 0 && pf_data_order_init(&b, 7, 10) == 0);
    int seen[10] = {0}, same_as_identity = 1;
    for (int i = 0; i < 10; i++) {
        int k = pf_data_order_at(&a, i);
        seen[k]++;
        same_as_identity &= k == i;
    }
    for (int i = 0; i < 10; i++)
        CU_ASSERT(seen[i] == 1);
    CU_ASSERT(!same_as_identity);
    /* any position, in any order, gives the same example */
    CU_ASSERT(pf_data_order_at(&b, 23) == pf_data_order_at(&a, 23));
    CU_ASSERT(pf_data_order_at(&b, 4) == pf_data_order_at(&a, 4));
    int differs = 0;
    for (int i = 0; i < 10; i++)
        differs |= pf_data_order_at(&a, i) != pf_data_order_at(&b, 10 + i);
    CU_ASSERT(differs); /* epochs are reshuffled */
    pf_data_order_free(&a);
    pf_data_order_free(&b);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"pair losses by hand", test_pair_losses_by_hand},
        {"pair loss derivatives", test_pair_loss_derivatives},
        {"DPO algorithm: ln 2, masks, gradients", test_dpo_algorithm},
        {"SFT algorithm: weights and normalisation", test_sft_algorithm},
        {"learning-rate schedules", test_schedule},
        {"data order by (seed, epoch)", test_data_order},
        {NULL, NULL},
    };
    return pf_cunit_run("losses", cases);
}
