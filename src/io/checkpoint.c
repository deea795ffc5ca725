/*
 * checkpoint.c: writing HDF5 checkpoints, and the parameter digest.
 *
 * Layout (docs/formats.md): root attributes, /model attributes, /model/params with one
 * float32 dataset per tensor in canonical (tensor-table) order, and for training
 * checkpoints /optimizer with step and m/, v/ mirroring the parameter names.
 * Invariant: PATH is only ever replaced by a complete, closed, fsync'ed file. HDF5
 * never touches the disk here: the file is built in memory and only its final image is
 * written to PATH.tmp, then synced and renamed onto PATH (pf_h5_image_write; h5image.c
 * says why: in HDF5 1.10 a failed H5Fclose on a disk file crashes the process at exit).
 * Every failure removes PATH.tmp and leaves PATH as it was. Cost: the writing rank holds
 * one copy of the file in memory.
 */
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint_internal.h"
#include "io/h5image.h"
#include "io/h5util.h"
#include "prefopt/checkpoint.h"
#include "prefopt/error.h"
#include "prefopt/sha256.h"

void pf_checkpoint_meta_clear(pf_checkpoint_meta *meta)
{
    if (!meta)
        return;
    free(meta->config_json);
    meta->config_json = NULL;
}

/* Writes the root attributes from meta (NULL: step 0, algorithm "", world size 1). */
static int write_root_attrs(hid_t file, const pf_checkpoint_meta *meta)
{
    const pf_checkpoint_meta none = {0, "", NULL, 1};
    if (!meta)
        meta = &none;
    int rc = pf_h5_write_str_attr(file, "format", "prefopt-checkpoint");
    if (rc == PF_OK)
        rc = pf_h5_write_i64_attr(file, "format_version", 1);
    if (rc == PF_OK)
        rc = pf_h5_write_i64_attr(file, "step", meta->step);
    if (rc == PF_OK)
        rc = pf_h5_write_str_attr(file, "algorithm", meta->algorithm);
    if (rc == PF_OK)
        rc = pf_h5_write_str_attr(file, "config_json", meta->config_json ? meta->config_json : "");
    if (rc == PF_OK)
        rc = pf_h5_write_i64_attr(file, "world_size", meta->world_size);
    return rc;
}

/* Writes the /model attributes (architecture and shape hyper-parameters). */
static int write_model_attrs(hid_t group, const pf_model_config *cfg)
{
    const struct {
        const char *name;
        int value;
    } ints[] = {{"n_layer", cfg->n_layer},
                {"n_head", cfg->n_head},
                {"d_model", cfg->d_model},
                {"vocab_size", cfg->vocab_size},
                {"max_seq_len", cfg->max_seq_len}};
    int rc = pf_h5_write_str_attr(group, "arch", pf_arch_name(cfg->arch));
    for (size_t i = 0; rc == PF_OK && i < sizeof ints / sizeof ints[0]; i++)
        rc = pf_h5_write_i64_attr(group, ints[i].name, ints[i].value);
    return rc;
}

/* Writes one float32 dataset per model tensor into group, taking the values from buf
 * (the parameters or an optimizer moment, which share the parameter layout). */
static int write_tensors(hid_t group, const pf_model *model, const float *buf)
{
    int rc = PF_OK;
    for (int i = 0; rc == PF_OK && i < pf_model_num_tensors(model); i++) {
        const pf_tensor *t = pf_model_tensor(model, i);
        rc = pf_h5_write_f32(group, t->name, t->ndim, t->shape, buf + t->offset);
    }
    return rc;
}

int pf_ckpt_write_tensor_group(hid_t loc, const char *name, const pf_model *model, const float *buf)
{
    hid_t group;
    int rc = pf_h5_create_group(loc, name, &group);
    if (rc != PF_OK)
        return rc;
    rc = write_tensors(group, model, buf);
    if (H5Gclose(group) < 0 && rc == PF_OK)
        rc = pf_fail(PF_ERR_RUNTIME, "%s: cannot close group", name);
    return rc;
}

/* Writes /model: attributes and the params group. */
static int write_model(hid_t file, const pf_model *model)
{
    hid_t group;
    int rc = pf_h5_create_group(file, "model", &group);
    if (rc != PF_OK)
        return rc;
    rc = write_model_attrs(group, pf_model_get_config(model));
    if (rc == PF_OK)
        rc = pf_ckpt_write_tensor_group(group, "params", model, pf_model_params_const(model));
    if (H5Gclose(group) < 0 && rc == PF_OK)
        rc = pf_fail(PF_ERR_RUNTIME, "model: cannot close group");
    return rc;
}

/* Writes /optimizer: step, the AdamW hyper-parameters (informational) and m/, v/. */
static int write_optimizer(hid_t file, const pf_model *model, const pf_adamw *opt)
{
    hid_t group;
    int rc = pf_h5_create_group(file, "optimizer", &group);
    if (rc != PF_OK)
        return rc;
    rc = pf_h5_write_i64_attr(group, "step", opt->step);
    if (rc == PF_OK)
        rc = pf_h5_write_f64_attr(group, "beta1", opt->cfg.beta1);
    if (rc == PF_OK)
        rc = pf_h5_write_f64_attr(group, "beta2", opt->cfg.beta2);
    if (rc == PF_OK)
        rc = pf_h5_write_f64_attr(group, "eps", opt->cfg.eps);
    if (rc == PF_OK)
        rc = pf_h5_write_f64_attr(group, "weight_decay", opt->cfg.weight_decay);
    if (rc == PF_OK)
        rc = pf_ckpt_write_tensor_group(group, "m", model, opt->m);
    if (rc == PF_OK)
        rc = pf_ckpt_write_tensor_group(group, "v", model, opt->v);
    if (H5Gclose(group) < 0 && rc == PF_OK)
        rc = pf_fail(PF_ERR_RUNTIME, "optimizer: cannot close group");
    return rc;
}

/* What fill_checkpoint writes. */
typedef struct {
    const pf_model *model;
    const pf_adamw *opt; /* NULL: no /optimizer */
    const pf_checkpoint_meta *meta;
    pf_checkpoint_extra_fn extra; /* NULL: nothing more */
    const void *extra_ctx;
} checkpoint_parts;

/* Fills the empty in-memory file with the whole checkpoint (a pf_h5_image_fill_fn). */
static int fill_checkpoint(hid_t file, const void *ctx)
{
    const checkpoint_parts *parts = ctx;
    int rc = write_root_attrs(file, parts->meta);
    if (rc == PF_OK)
        rc = write_model(file, parts->model);
    if (rc == PF_OK && parts->opt)
        rc = write_optimizer(file, parts->model, parts->opt);
    if (rc == PF_OK && parts->extra)
        rc = parts->extra(file, parts->extra_ctx);
    return rc;
}

int pf_checkpoint_write_with(const char *path, const pf_model *model, const pf_adamw *opt,
                             const pf_checkpoint_meta *meta, pf_checkpoint_extra_fn extra,
                             const void *ctx)
{
    if (opt && opt->n != pf_model_num_params(model))
        return pf_fail(PF_ERR_USAGE, "%s: optimizer holds %zu values but the model %zu", path,
                       opt->n, pf_model_num_params(model));
    checkpoint_parts parts = {model, opt, meta, extra, ctx};
    size_t expected = pf_model_num_params(model) * sizeof(float) * (opt ? 3 : 1);
    return pf_h5_image_write(path, NULL, 0, expected, fill_checkpoint, &parts);
}

int pf_checkpoint_write(const char *path, const pf_model *model, const pf_adamw *opt,
                        const pf_checkpoint_meta *meta)
{
    return pf_checkpoint_write_with(path, model, opt, meta, NULL, NULL);
}

/* Feeds n floats to ctx as little-endian IEEE-754 binary32 bytes. */
static void hash_floats(pf_sha256_ctx *ctx, const float *x, size_t n)
{
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe == 1) {
        pf_sha256_update(ctx, x, n * sizeof *x);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        uint8_t le[4];
        memcpy(&bits, x + i, sizeof bits);
        for (int b = 0; b < 4; b++)
            le[b] = (uint8_t)(bits >> (8 * b));
        pf_sha256_update(ctx, le, sizeof le);
    }
}

void pf_model_params_sha256(const pf_model *model, char hex[65])
{
    pf_sha256_ctx ctx;
    uint8_t digest[PF_SHA256_DIGEST_BYTES];
    const float *params = pf_model_params_const(model);
    pf_sha256_init(&ctx);
    for (int i = 0; i < pf_model_num_tensors(model); i++) {
        const pf_tensor *t = pf_model_tensor(model, i);
        hash_floats(&ctx, params + t->offset, t->numel);
    }
    pf_sha256_final(&ctx, digest);
    pf_sha256_hex(digest, hex);
}
