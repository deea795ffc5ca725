/*
 * optim.h: AdamW and global-norm gradient clipping over flat parameter buffers.
 *
 * The update is PyTorch's torch.optim.AdamW: decoupled weight decay
 * (p -= lr * wd * p), bias-corrected first and second moments, eps added to
 * sqrt(v_hat). Weight decay applies only to the tensors whose table entry has decay = 1
 * (matrices and embeddings, not biases or LayerNorm gains). State is two float32
 * buffers mirroring the parameters plus the step count, so a checkpoint can hold it.
 */
#ifndef PREFOPT_OPTIM_H
#define PREFOPT_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "prefopt/model.h"

typedef struct {
    float beta1, beta2, eps, weight_decay;
} pf_adamw_config;

typedef struct {
    pf_adamw_config cfg;
    size_t n;     /* number of parameters */
    float *m;     /* first moment [n] */
    float *v;     /* second moment [n] */
    int64_t step; /* updates applied so far */
} pf_adamw;

/* Allocates zeroed moments for a model's parameters. */
int pf_adamw_create(const pf_model *m, const pf_adamw_config *cfg, pf_adamw **out);
void pf_adamw_free(pf_adamw *opt);

/* Applies one AdamW update with learning rate lr to m's parameters from its gradients. */
void pf_adamw_step(pf_adamw *opt, pf_model *m, float lr);

/* L2 norm of the whole gradient buffer (accumulated in double, fixed order). */
double pf_grad_global_norm(const float *grads, size_t n);

/* Scales grads by max_norm / (norm + 1e-6) when norm > max_norm (PyTorch's
 * clip_grad_norm_); returns the scale applied (1 when none). max_norm <= 0 disables. */
float pf_grad_clip(float *grads, size_t n, double norm, double max_norm);

#endif
