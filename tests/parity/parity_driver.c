/*
 * parity_driver.c: runs the C model on a batch described in an HDF5 exchange file, so
 * that tests/parity/test_parity.py can compare it with an independent PyTorch model.
 *
 *   parity_driver grad     CKPT IN.h5 OUT.h5   forward + backward once
 *   parity_driver adamw    CKPT IN.h5 OUT.h5   `steps` AdamW steps on a fixed recipe
 *   parity_driver generate CKPT IN.h5 OUT.h5   pf_generate from the batch's prompts
 *
 * IN.h5 (written by test_parity.py with h5py):
 *   tokens int32 [B,T], lengths int32 [B], dlogprobs float32 [B,T],
 *   dvalues float32 [B,T] (optional; zeros when absent and the model has a value head)
 *   root attrs: temperature (default 1), ws_batch / ws_seq (workspace size, default B/T),
 *   and for adamw: steps, lr, beta1, beta2, eps, weight_decay, grad_clip (<= 0: off);
 *   for generate: max_new_tokens, gen_temperature (default 0: greedy), top_p, seed, step,
 *   and an optional int32 dataset stop_ids [n]. Prompt b has prompt index b.
 * OUT.h5:
 *   grad:  logprobs, values (value head only), logprobs_nograd (the same forward on a
 *          workspace without backward storage), grads/<tensor name>; with a value head
 *          also values_only and grads_values_only/<tensor name>: a forward that skips
 *          the LM head (logprobs NULL) and a backward of d(values) alone
 *   adamw: params/<tensor name>, grad_norm float64 [steps] (before clipping),
 *          clip_scale float32 [steps]
 *   generate: tokens int32 [B,N] (-1 past each end), lengths int32 [B], finished int32 [B],
 *          logprobs float32 [B,N], tokens_alone int32 [B,N] (each prompt generated alone),
 *          logits float32 [B,N,V] (the logits token j was drawn from, recomputed by
 *          prefill + decode steps fed the generated tokens; 0 past each end)
 *
 * The gradient recipe of a step is: zero the gradients, forward, backward of the given
 * d(logprobs) and d(values), global norm, optional clip, AdamW update at a fixed lr.
 * Any failure prints a message and exits 1: this is a test helper, not a product.
 */
#include <hdf5.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/checkpoint.h"
#include "prefopt/error.h"
#include "prefopt/model.h"
#include "prefopt/optim.h"
#include "prefopt/sampler.h"

/* The batch and settings read from IN.h5. */
typedef struct {
    int B, T;
    int32_t *tokens;  /* [B, T] */
    int32_t *lengths; /* [B] */
    float *dlogprobs; /* [B, T] */
    float *dvalues;   /* [B, T] or NULL */
    double temperature;
    int ws_batch, ws_seq;
} exchange_in;

/* The AdamW recipe read from IN.h5's root attributes. */
typedef struct {
    int64_t steps;
    double lr, beta1, beta2, eps, weight_decay, grad_clip;
} adam_recipe;

/* Prints "parity_driver: <message>" and exits 1. */
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "parity_driver: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* Dies with the library's error message when a pf_* call did not return PF_OK. */
static void check_pf(int rc, const char *what)
{
    if (rc != PF_OK)
        die("%s failed (status %d): %s", what, rc, pf_error_message());
}

/* Dies when an HDF5 call returned a negative status or identifier. */
static void check_h5(int64_t rc, const char *what, const char *name)
{
    if (rc < 0)
        die("HDF5: %s '%s' failed", what, name);
}

/* malloc that dies on failure. */
static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

/* Reads dataset `name` of rank `ndim` into a new buffer of `memtype`; the extents go to
 * dims. Returns NULL when the dataset is absent and optional is set. */
static void *read_array(hid_t file, const char *name, hid_t memtype, int ndim, hsize_t *dims,
                        int optional)
{
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
        if (optional)
            return NULL;
        die("input file has no dataset '%s'", name);
    }
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    check_h5(ds, "open dataset", name);
    hid_t space = H5Dget_space(ds);
    if (H5Sget_simple_extent_ndims(space) != ndim)
        die("dataset '%s' should have rank %d", name, ndim);
    H5Sget_simple_extent_dims(space, dims, NULL);
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)dims[i];
    void *buf = xmalloc(count * H5Tget_size(memtype));
    check_h5(H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), "read", name);
    H5Sclose(space);
    H5Dclose(ds);
    return buf;
}

/* Reads a scalar numeric root attribute as double, or returns dflt when absent. */
static double attr_double(hid_t file, const char *name, double dflt)
{
    if (H5Aexists(file, name) <= 0)
        return dflt;
    double v = 0;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    check_h5(a, "open attribute", name);
    check_h5(H5Aread(a, H5T_NATIVE_DOUBLE, &v), "read attribute", name);
    H5Aclose(a);
    return v;
}

/* Reads the batch part of IN.h5 and checks its shapes agree. */
static void read_exchange(const char *path, exchange_in *in)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    check_h5(f, "open file", path);
    hsize_t d2[2], d1[1], e2[2];
    in->tokens = read_array(f, "tokens", H5T_NATIVE_INT32, 2, d2, 0);
    in->lengths = read_array(f, "lengths", H5T_NATIVE_INT32, 1, d1, 0);
    in->dlogprobs = read_array(f, "dlogprobs", H5T_NATIVE_FLOAT, 2, e2, 0);
    if (d1[0] != d2[0] || e2[0] != d2[0] || e2[1] != d2[1])
        die("%s: tokens, lengths and dlogprobs disagree in shape", path);
    in->dvalues = read_array(f, "dvalues", H5T_NATIVE_FLOAT, 2, e2, 1);
    if (in->dvalues && (e2[0] != d2[0] || e2[1] != d2[1]))
        die("%s: dvalues has the wrong shape", path);
    in->B = (int)d2[0];
    in->T = (int)d2[1];
    in->temperature = attr_double(f, "temperature", 1.0);
    in->ws_batch = (int)attr_double(f, "ws_batch", in->B);
    in->ws_seq = (int)attr_double(f, "ws_seq", in->T);
    H5Fclose(f);
}

/* Reads the AdamW recipe from IN.h5's root attributes. */
static void read_recipe(const char *path, adam_recipe *r)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    check_h5(f, "open file", path);
    r->steps = (int64_t)attr_double(f, "steps", 10);
    r->lr = attr_double(f, "lr", 1e-3);
    r->beta1 = attr_double(f, "beta1", 0.9);
    r->beta2 = attr_double(f, "beta2", 0.999);
    r->eps = attr_double(f, "eps", 1e-8);
    r->weight_decay = attr_double(f, "weight_decay", 0.0);
    r->grad_clip = attr_double(f, "grad_clip", 0.0);
    H5Fclose(f);
}

/* Writes a float32/float64 dataset `name` (may contain a group path) under loc. */
static void write_array(hid_t loc, const char *name, hid_t memtype, int ndim, const hsize_t *dims,
                        const void *buf)
{
    hid_t space = H5Screate_simple(ndim, dims, NULL);
    hid_t ds = H5Dcreate2(loc, name, memtype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    check_h5(ds, "create dataset", name);
    check_h5(H5Dwrite(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), "write", name);
    H5Dclose(ds);
    H5Sclose(space);
}

/* Writes every tensor of m, taken from base (params or grads), as group/<name>. */
static void write_tensors(hid_t file, const char *group, const pf_model *m, const float *base)
{
    hid_t g = H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    check_h5(g, "create group", group);
    for (int i = 0; i < pf_model_num_tensors(m); i++) {
        const pf_tensor *t = pf_model_tensor(m, i);
        hsize_t dims[2] = {(hsize_t)t->shape[0], (hsize_t)t->shape[1]};
        write_array(g, t->name, H5T_NATIVE_FLOAT, t->ndim, dims, base + t->offset);
    }
    H5Gclose(g);
}

/* Creates the output file (truncating). */
static hid_t create_output(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    check_h5(f, "create file", path);
    return f;
}

/* The d(values) to back-propagate: the input's, or zeros when it gave none. */
static const float *dvalues_or_zeros(exchange_in *in)
{
    if (!in->dvalues) {
        size_t n = (size_t)in->B * (size_t)in->T;
        in->dvalues = xmalloc(n * sizeof(float));
        memset(in->dvalues, 0, n * sizeof(float));
    }
    return in->dvalues;
}

/* Runs forward into logprobs (and values when non-NULL) on ws; with backward set, also
 * back-propagates the input's gradients into m's gradient buffer. */
static void run_model(pf_model *m, pf_workspace *ws, exchange_in *in, float *logprobs,
                      float *values, int backward)
{
    pf_batch batch = {in->tokens, in->lengths, in->B, in->T};
    pf_forward_out out = {logprobs, values, (float)in->temperature, NULL};
    check_pf(pf_model_forward(m, ws, &batch, &out), "pf_model_forward");
    if (backward) {
        const float *dv = values ? dvalues_or_zeros(in) : NULL;
        check_pf(pf_model_backward(m, ws, in->dlogprobs, dv), "pf_model_backward");
    }
}

/* Forward-only logprobs on a workspace created without backward storage. */
static float *inference_logprobs(pf_model *m, exchange_in *in)
{
    pf_workspace *ws = NULL;
    check_pf(pf_workspace_create(m, in->ws_batch, in->ws_seq, 0, &ws), "pf_workspace_create");
    size_t n = (size_t)in->B * (size_t)in->T;
    float *lp = xmalloc(n * sizeof(float));
    run_model(m, ws, in, lp, NULL, 0);
    pf_workspace_free(ws);
    return lp;
}

/* The critic's path: forward without the LM head, backward of d(values) only, on a
 * zeroed gradient buffer; writes values_only and grads_values_only/. */
static void values_only_pass(pf_model *m, exchange_in *in, hid_t f)
{
    size_t n = (size_t)in->B * (size_t)in->T;
    float *val = xmalloc(n * sizeof(float));
    pf_workspace *ws = NULL;
    check_pf(pf_workspace_create(m, in->ws_batch, in->ws_seq, 1, &ws), "pf_workspace_create");
    pf_batch batch = {in->tokens, in->lengths, in->B, in->T};
    pf_forward_out out = {NULL, val, (float)in->temperature, NULL};
    pf_model_zero_grads(m);
    check_pf(pf_model_forward(m, ws, &batch, &out), "pf_model_forward (values only)");
    check_pf(pf_model_backward(m, ws, NULL, dvalues_or_zeros(in)),
             "pf_model_backward (values only)");
    hsize_t dims[2] = {(hsize_t)in->B, (hsize_t)in->T};
    write_array(f, "values_only", H5T_NATIVE_FLOAT, 2, dims, val);
    write_tensors(f, "grads_values_only", m, pf_model_grads(m));
    pf_workspace_free(ws);
    free(val);
}

/* Mode grad: one forward + backward; writes logprobs, values, logprobs_nograd, grads,
 * then (value head only) the values-only pass. */
static void mode_grad(pf_model *m, exchange_in *in, const char *out_path)
{
    size_t n = (size_t)in->B * (size_t)in->T;
    int vh = pf_model_get_config(m)->value_head;
    float *lp = xmalloc(n * sizeof(float));
    float *val = vh ? xmalloc(n * sizeof(float)) : NULL;
    pf_workspace *ws = NULL;
    check_pf(pf_workspace_create(m, in->ws_batch, in->ws_seq, 1, &ws), "pf_workspace_create");
    pf_model_zero_grads(m);
    run_model(m, ws, in, lp, val, 1);
    float *lp_nograd = inference_logprobs(m, in);

    hid_t f = create_output(out_path);
    hsize_t dims[2] = {(hsize_t)in->B, (hsize_t)in->T};
    write_array(f, "logprobs", H5T_NATIVE_FLOAT, 2, dims, lp);
    write_array(f, "logprobs_nograd", H5T_NATIVE_FLOAT, 2, dims, lp_nograd);
    if (val)
        write_array(f, "values", H5T_NATIVE_FLOAT, 2, dims, val);
    write_tensors(f, "grads", m, pf_model_grads(m));
    if (vh)
        values_only_pass(m, in, f);
    H5Fclose(f);
    pf_workspace_free(ws);
    free(lp);
    free(val);
    free(lp_nograd);
}

/* One step of the recipe; stores the pre-clip norm and the clip scale. */
static void adam_step(pf_model *m, pf_workspace *ws, pf_adamw *opt, exchange_in *in,
                      const adam_recipe *r, float *lp, float *val, double *norm, float *scale)
{
    size_t n = pf_model_num_params(m);
    pf_model_zero_grads(m);
    run_model(m, ws, in, lp, val, 1);
    *norm = pf_grad_global_norm(pf_model_grads(m), n);
    *scale = pf_grad_clip(pf_model_grads(m), n, *norm, r->grad_clip);
    pf_adamw_step(opt, m, (float)r->lr);
}

/* Mode adamw: `steps` steps of the recipe; writes params, grad_norm and clip_scale. */
static void mode_adamw(pf_model *m, exchange_in *in, const adam_recipe *r, const char *out_path)
{
    size_t n = (size_t)in->B * (size_t)in->T;
    float *lp = xmalloc(n * sizeof(float));
    float *val = pf_model_get_config(m)->value_head ? xmalloc(n * sizeof(float)) : NULL;
    double *norms = xmalloc((size_t)r->steps * sizeof(double));
    float *scales = xmalloc((size_t)r->steps * sizeof(float));
    pf_adamw_config acfg = {(float)r->beta1, (float)r->beta2, (float)r->eps,
                            (float)r->weight_decay};
    pf_adamw *opt = NULL;
    pf_workspace *ws = NULL;
    check_pf(pf_adamw_create(m, &acfg, &opt), "pf_adamw_create");
    check_pf(pf_workspace_create(m, in->ws_batch, in->ws_seq, 1, &ws), "pf_workspace_create");
    for (int64_t s = 0; s < r->steps; s++)
        adam_step(m, ws, opt, in, r, lp, val, &norms[s], &scales[s]);

    hid_t f = create_output(out_path);
    hsize_t dims[1] = {(hsize_t)r->steps};
    write_array(f, "grad_norm", H5T_NATIVE_DOUBLE, 1, dims, norms);
    write_array(f, "clip_scale", H5T_NATIVE_FLOAT, 1, dims, scales);
    write_tensors(f, "params", m, pf_model_params_const(m));
    H5Fclose(f);
    pf_workspace_free(ws);
    pf_adamw_free(opt);
    free(lp);
    free(val);
    free(norms);
    free(scales);
}

/* Reads generate's settings from IN.h5's root attributes and stop_ids dataset. */
static void read_gen_config(const char *path, pf_generate_config *cfg, int32_t **stop)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    check_h5(f, "open file", path);
    hsize_t n[1] = {0};
    *stop = read_array(f, "stop_ids", H5T_NATIVE_INT32, 1, n, 1);
    *cfg = (pf_generate_config){.max_new_tokens = (int)attr_double(f, "max_new_tokens", 8),
                                .stop_ids = *stop,
                                .n_stop = *stop ? (int)n[0] : 0,
                                .sampling = {(float)attr_double(f, "gen_temperature", 0.0),
                                             (float)attr_double(f, "top_p", 1.0)},
                                .seed = (uint64_t)attr_double(f, "seed", 0),
                                .step = (uint64_t)attr_double(f, "step", 0),
                                .pad_id = -1};
    H5Fclose(f);
}

/* Runs pf_generate on prompts first..first+n-1 of the input into out (rows first..). */
static void generate_rows(pf_model *m, const exchange_in *in, const pf_generate_config *cfg,
                          int first, int n, pf_generate_out *out)
{
    const size_t N = (size_t)cfg->max_new_tokens;
    uint64_t *pidx = xmalloc(sizeof(uint64_t) * (size_t)n);
    for (int i = 0; i < n; i++)
        pidx[i] = (uint64_t)(first + i);
    pf_kv_cache *cache = NULL;
    check_pf(pf_kv_cache_create(m, n, in->T + cfg->max_new_tokens, &cache), "pf_kv_cache_create");
    pf_batch batch = {in->tokens + (size_t)first * in->T, in->lengths + first, n, in->T};
    pf_generate_out rows = {out->tokens + first * N, out->lengths + first, out->finished + first,
                            out->logprobs ? out->logprobs + first * N : NULL, NULL};
    check_pf(pf_generate(m, cache, &batch, pidx, NULL, cfg, &rows), "pf_generate");
    pf_kv_cache_free(cache);
    free(pidx);
}

/* logits [B,N,V]: prefill, then decode steps fed the generated tokens; row (b, j) holds
 * the logits token j of sequence b was drawn from. */
static float *replay_logits(pf_model *m, const exchange_in *in, int N, const int32_t *tokens,
                            const int32_t *lengths)
{
    const size_t V = (size_t)pf_model_get_config(m)->vocab_size, B = (size_t)in->B;
    float *all = xmalloc(sizeof(float) * B * (size_t)N * V), *step = xmalloc(sizeof(float) * B * V);
    int32_t *next = xmalloc(sizeof(int32_t) * B);
    uint8_t *active = xmalloc(B);
    memset(all, 0, sizeof(float) * B * (size_t)N * V);
    pf_kv_cache *cache = NULL;
    check_pf(pf_kv_cache_create(m, in->B, in->T + N, &cache), "pf_kv_cache_create");
    pf_batch batch = {in->tokens, in->lengths, in->B, in->T};
    check_pf(pf_model_prefill(m, cache, &batch, step), "pf_model_prefill");
    for (int j = 0; j < N; j++) {
        for (size_t b = 0; b < B; b++) {
            if (j < lengths[b])
                memcpy(all + (b * (size_t)N + (size_t)j) * V, step + b * V, sizeof(float) * V);
            active[b] = j + 1 < lengths[b];
            next[b] = tokens[b * (size_t)N + (size_t)j];
        }
        if (j + 1 < N)
            check_pf(pf_model_decode_step(m, cache, next, active, step), "pf_model_decode_step");
    }
    pf_kv_cache_free(cache);
    free(step), free(next), free(active);
    return all;
}

/* Mode generate: see the file comment. */
static void mode_generate(pf_model *m, exchange_in *in, const char *in_path, const char *out_path)
{
    pf_generate_config cfg;
    int32_t *stop = NULL;
    read_gen_config(in_path, &cfg, &stop);
    const size_t B = (size_t)in->B, N = (size_t)cfg.max_new_tokens;
    int32_t *tok = xmalloc(sizeof(int32_t) * B * N), *alone = xmalloc(sizeof(int32_t) * B * N);
    int32_t *len = xmalloc(sizeof(int32_t) * B), *len1 = xmalloc(sizeof(int32_t) * B);
    int32_t *fin32 = xmalloc(sizeof(int32_t) * B);
    uint8_t *fin = xmalloc(B), *fin1 = xmalloc(B);
    float *lp = xmalloc(sizeof(float) * B * N);
    pf_generate_out out = {tok, len, fin, lp, NULL}, out1 = {alone, len1, fin1, NULL, NULL};
    generate_rows(m, in, &cfg, 0, in->B, &out);
    for (int b = 0; b < in->B; b++)
        generate_rows(m, in, &cfg, b, 1, &out1);
    float *logits = replay_logits(m, in, (int)N, tok, len);
    for (size_t b = 0; b < B; b++)
        fin32[b] = fin[b];
    hid_t f = create_output(out_path);
    hsize_t d1[1] = {B}, d2[2] = {B, N};
    hsize_t d3[3] = {B, N, (hsize_t)pf_model_get_config(m)->vocab_size};
    write_array(f, "tokens", H5T_NATIVE_INT32, 2, d2, tok);
    write_array(f, "tokens_alone", H5T_NATIVE_INT32, 2, d2, alone);
    write_array(f, "lengths", H5T_NATIVE_INT32, 1, d1, len);
    write_array(f, "finished", H5T_NATIVE_INT32, 1, d1, fin32);
    write_array(f, "logprobs", H5T_NATIVE_FLOAT, 2, d2, lp);
    write_array(f, "logits", H5T_NATIVE_FLOAT, 3, d3, logits);
    H5Fclose(f);
    free(tok), free(alone), free(len), free(len1), free(fin32), free(fin), free(fin1), free(lp);
    free(logits), free(stop);
}

/* Frees what read_exchange allocated. */
static void free_exchange(exchange_in *in)
{
    free(in->tokens);
    free(in->lengths);
    free(in->dlogprobs);
    free(in->dvalues);
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "grad") != 0 && strcmp(argv[1], "adamw") != 0 &&
                      strcmp(argv[1], "generate") != 0)) {
        fprintf(stderr, "usage: parity_driver grad|adamw|generate CKPT IN.h5 OUT.h5\n");
        return 2;
    }
    pf_model *m = NULL;
    check_pf(pf_checkpoint_read_model(argv[2], 1, &m, NULL), "pf_checkpoint_read_model");
    exchange_in in = {0};
    read_exchange(argv[3], &in);
    if (strcmp(argv[1], "grad") == 0) {
        mode_grad(m, &in, argv[4]);
    } else if (strcmp(argv[1], "generate") == 0) {
        mode_generate(m, &in, argv[3], argv[4]);
    } else {
        adam_recipe r;
        read_recipe(argv[3], &r);
        mode_adamw(m, &in, &r, argv[4]);
    }
    free_exchange(&in);
    pf_model_free(m);
    return 0;
}
