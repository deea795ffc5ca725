/*
 * test_optim.c: AdamW against a double-precision transcription of torch.optim.AdamW's
 * update rule (decay per tensor, bias correction), and clipping against
 * clip_grad_norm_'s rule. The PyTorch parity test checks the same against torch itself.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_run.h"
#include "prefopt/error.h"
#include "prefopt/model.h"
#include "prefopt/optim.h"
#include "testutil.h"

static const pf_model_config CFG = {.arch = PF_ARCH_GPT2,
                                    .n_layer = 1,
                                    .n_head = 2,
                                    .d_model = 4,
                                    .vocab_size = 7,
                                    .max_seq_len = 5};

static void test_adamw_matches_reference(void)
{
    pf_model *m = NULL;
    pf_adamw *opt = NULL;
    pf_adamw_config c = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    CU_ASSERT_FATAL(pf_model_create(&CFG, 1, &m) == PF_OK);
    CU_ASSERT_FATAL(pf_adamw_create(m, &c, &opt) == PF_OK);
    size_t n = pf_model_num_params(m);
    tu_fill_normal(pf_model_params(m), (long)n, 0.5f, 1, 0);
    double *p = malloc(sizeof(double) * n), *mm = calloc(n, sizeof(double));
    double *vv = calloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++)
        p[i] = pf_model_params(m)[i];
    const float lr = 1e-2f;
    for (int step = 1; step <= 5; step++) {
        tu_fill_normal(pf_model_grads(m), (long)n, 1.0f, 2, (uint64_t)step);
        pf_adamw_step(opt, m, lr);
        double bc1 = 1 - pow(0.9, step), bc2 = 1 - pow(0.95, step);
        for (int k = 0; k < pf_model_num_tensors(m); k++) {
            const pf_tensor *t = pf_model_tensor(m, k);
            for (size_t i = t->offset; i < t->offset + t->numel; i++) {
                double g = pf_model_grads(m)[i];
                p[i] *= 1.0 - lr * (t->decay ? 0.1 : 0.0);
                mm[i] = 0.9 * mm[i] + 0.1 * g;
                vv[i] = 0.95 * vv[i] + 0.05 * g * g;
                p[i] -= lr / bc1 * mm[i] / (sqrt(vv[i]) / sqrt(bc2) + 1e-8);
            }
        }
    }
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(p[i] - pf_model_params(m)[i]);
        worst = d > worst ? d : worst;
    }
    CU_ASSERT(worst < 1e-6);
    CU_ASSERT(opt->step == 5);
    /* biases are not decayed: with zero gradients a bias stays, a matrix shrinks */
    memset(pf_model_grads(m), 0, sizeof(float) * n);
    const pf_tensor *bias = pf_model_find_tensor(m, "h.0.attn.c_attn.bias");
    const pf_tensor *w = pf_model_find_tensor(m, "h.0.attn.c_attn.weight");
    pf_adamw_config nomoment = c;
    pf_adamw *fresh = NULL;
    CU_ASSERT_FATAL(pf_adamw_create(m, &nomoment, &fresh) == PF_OK);
    float b0 = pf_model_params(m)[bias->offset], w0 = pf_model_params(m)[w->offset];
    pf_adamw_step(fresh, m, lr);
    CU_ASSERT(pf_model_params(m)[bias->offset] == b0);
    CU_ASSERT(fabsf(pf_model_params(m)[w->offset] - w0 * (1.0f - lr * 0.1f)) < 1e-7f);
    pf_adamw_free(fresh);
    free(p), free(mm), free(vv);
    pf_adamw_free(opt);
    pf_model_free(m);
}

static void test_grad_clip(void)
{
    float g[4] = {3.0f, 4.0f, 0.0f, 0.0f};
    double norm = pf_grad_global_norm(g, 4);
    CU_ASSERT(fabs(norm - 5.0) < 1e-12);
    CU_ASSERT(pf_grad_clip(g, 4, norm, 10.0) == 1.0f && g[0] == 3.0f);
    CU_ASSERT(pf_grad_clip(g, 4, norm, 0.0) == 1.0f);
    float s = pf_grad_clip(g, 4, norm, 1.0);
    CU_ASSERT(fabs(s - 1.0 / (5.0 + 1e-6)) < 1e-7);
    CU_ASSERT(fabs(pf_grad_global_norm(g, 4) - 1.0) < 1e-5);
    float many[1001];
    for (int i = 0; i < 1001; i++)
        many[i] = 1.0f;
    CU_ASSERT(fabs(pf_grad_global_norm(many, 1001) - sqrt(1001.0)) < 1e-9);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"AdamW matches torch's update rule", test_adamw_matches_reference},
        {"global-norm clipping", test_grad_clip},
        {NULL, NULL},
    };
    return pf_cunit_run("optim", cases);
}
