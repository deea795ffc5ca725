/*
 * gpt2_internal.h: what the GPT-2 modules (gpt2.c: training forward/backward,
 * gpt2_decode.c: KV-cache decoding) share: where each tensor sits in the table, a view of
 * one layer's parameters, and the 64-byte-aligned carving of one allocation into regions.
 */
#ifndef PREFOPT_GPT2_INTERNAL_H
#define PREFOPT_GPT2_INTERNAL_H

#include <stddef.h>

#include "model_internal.h"

/* Index of each per-layer tensor within a layer's block of the table. */
enum {
    LN1_W,
    LN1_B,
    ATTN_W,
    ATTN_B,
    PROJ_W,
    PROJ_B,
    LN2_W,
    LN2_B,
    FC_W,
    FC_B,
    FCPROJ_W,
    FCPROJ_B,
    PER_LAYER
};
/* Table layout: wte, wpe, L blocks of PER_LAYER, ln_f.weight, ln_f.bias, [v_head.*]. */
enum { WTE = 0, WPE = 1, FIRST_LAYER = 2 };

static inline int lnf_w_index(int L) { return FIRST_LAYER + L * PER_LAYER; }
static inline int vhead_w_index(int L) { return lnf_w_index(L) + 2; }
static inline int layer_index(int l, int k) { return FIRST_LAYER + l * PER_LAYER + k; }

/* Pointers to one layer's parameters (or gradients) inside a flat buffer. */
typedef struct {
    float *t[PER_LAYER];
} layer_view;

static inline layer_view layer_at(const pf_model *m, float *base, int l)
{
    layer_view v = {{NULL}};
    for (int k = 0; k < PER_LAYER; k++)
        v.t[k] = base + m->tensors[layer_index(l, k)].offset;
    return v;
}

/* Tensor k of the table inside the parameter buffer. */
static inline float *param_at(const pf_model *m, int k) { return m->params + m->tensors[k].offset; }

/* Carves n 4-byte elements (floats or int32) off the running byte cursor, keeping every
 * region 64-byte aligned. With a NULL base the cursor only measures. */
static inline void *carve(char **cursor, size_t n)
{
    void *p = *cursor;
    *cursor += (n * 4 + 63) / 64 * 64;
    return p;
}

#endif
