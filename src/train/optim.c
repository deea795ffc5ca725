/*
 * optim.c: AdamW (torch.optim.AdamW's arithmetic) and global-norm clipping.
 *
 * The moments are flat buffers mirroring the parameters; the update walks the tensor
 * table so weight decay can be switched per tensor, and is otherwise one contiguous
 * loop per tensor that the compiler vectorizes. Same inputs give the same bits.
 */
#include "prefopt/optim.h"

#include <math.h>

#include "prefopt/error.h"

int pf_adamw_create(const pf_model *m, const pf_adamw_config *cfg, pf_adamw **out)
{
    pf_adamw *opt = pf_calloc(sizeof *opt, "optimizer");
    if (!opt)
        return PF_ERR_RUNTIME;
    opt->cfg = *cfg;
    opt->n = pf_model_num_params(m);
    opt->m = pf_calloc(sizeof(float) * opt->n, "AdamW first moment");
    opt->v = pf_calloc(sizeof(float) * opt->n, "AdamW second moment");
    if (!opt->m || !opt->v) {
        pf_adamw_free(opt);
        return PF_ERR_RUNTIME;
    }
    *out = opt;
    return PF_OK;
}

void pf_adamw_free(pf_adamw *opt)
{
    if (!opt)
        return;
    pf_free(opt->m);
    pf_free(opt->v);
    pf_free(opt);
}

/* One AdamW update of p[0..n) (PyTorch order of operations). */
static void adamw_update(float *p, const float *g, float *m, float *v, size_t n,
                         const pf_adamw_config *c, float lr, float decay, float step_size,
                         float inv_sqrt_bc2)
{
    const float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    const float keep = 1.0f - lr * decay;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) * inv_sqrt_bc2 + eps;
        p[i] = p[i] * keep - step_size * mi / denom;
    }
}

void pf_adamw_step(pf_adamw *opt, pf_model *model, float lr)
{
    opt->step++;
    const double bc1 = 1.0 - pow((double)opt->cfg.beta1, (double)opt->step);
    const double bc2 = 1.0 - pow((double)opt->cfg.beta2, (double)opt->step);
    const float step_size = (float)(lr / bc1);
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    float *params = pf_model_params(model);
    const float *grads = pf_model_grads(model);
    for (int k = 0; k < pf_model_num_tensors(model); k++) {
        const pf_tensor *t = pf_model_tensor(model, k);
        float decay = t->decay ? opt->cfg.weight_decay : 0.0f;
        adamw_update(params + t->offset, grads + t->offset, opt->m + t->offset, opt->v + t->offset,
                     t->numel, &opt->cfg, lr, decay, step_size, inv_sqrt_bc2);
    }
}

double pf_grad_global_norm(const float *grads, size_t n)
{
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += (double)grads[i + k] * grads[i + k];
    for (; i < n; i++)
        acc[0] += (double)grads[i] * grads[i];
    double s = 0.0;
    for (int k = 0; k < 8; k++)
        s += acc[k];
    return sqrt(s);
}

float pf_grad_clip(float *grads, size_t n, double norm, double max_norm)
{
    if (max_norm <= 0.0 || !(norm > max_norm))
        return 1.0f;
    float scale = (float)(max_norm / (norm + 1e-6));
    for (size_t i = 0; i < n; i++)
        grads[i] *= scale;
    return scale;
}
