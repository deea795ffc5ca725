/*
 * checkpoint_train.c: the /train group of training checkpoints: what a resumed run
 * needs beyond weights and AdamW moments to continue bit-identically (see
 * pf_train_state in checkpoint.h): the data position, the exact-sum scale exponents,
 * the reference model's identity, counters and the last learning rate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_internal.h"
#include "h5util.h"
#include "prefopt/error.h"
#include "prefopt/tokenizer_h5.h"

void pf_train_state_clear(pf_train_state *st)
{
    free(st->scales);
    memset(st, 0, sizeof *st);
}

int pf_ckpt_write_i32(hid_t group, const char *name, const int32_t *data, int n)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t set = space < 0 ? -1
                          : H5Dcreate2(group, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                                       H5P_DEFAULT);
    herr_t w = set < 0 || n == 0
                   ? 0
                   : H5Dwrite(set, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    int ok = space >= 0 && set >= 0 && w >= 0;
    if (set >= 0)
        H5Dclose(set);
    if (space >= 0)
        H5Sclose(space);
    return ok ? PF_OK : pf_fail(PF_ERR_RUNTIME, "/train/%s: cannot write", name);
}

/* The extra-writer hook: adds /train to the checkpoint being written. */
static int write_train_group(hid_t file, const void *ctx)
{
    const pf_train_state *st = ctx;
    hid_t g;
    int rc = pf_h5_create_group(file, "train", &g);
    if (rc)
        return rc;
    rc = pf_h5_write_i64_attr(g, "data_position", st->data_position);
    if (!rc)
        rc = pf_h5_write_i64_attr(g, "tokens_seen", st->tokens_seen);
    if (!rc)
        rc = pf_h5_write_f64_attr(g, "lr", st->lr);
    if (!rc)
        rc = pf_h5_write_str_attr(g, "reference_sha256", st->reference_sha256);
    if (!rc)
        rc = pf_ckpt_write_i32(g, "scale_exponents", st->scales, st->n_scales);
    if (!rc && st->has_kl_coef)
        rc = pf_h5_write_f64_attr(g, "kl_coef", st->kl_coef);
    H5Gclose(g);
    if (!rc && st->critic)
        rc = pf_ckpt_write_critic(file, st->critic, st->critic_opt, st->critic_scales,
                                  st->n_critic_scales);
    if (!rc && st->tokenizer)
        rc = pf_tokenizer_write_h5(file, st->tokenizer);
    if (!rc && st->reward_norm)
        rc = pf_reward_norm_write_h5(file, st->reward_norm);
    return rc;
}

int pf_checkpoint_write_train(const char *path, const pf_model *model, const pf_adamw *opt,
                              const pf_checkpoint_meta *meta, const pf_train_state *st)
{
    return pf_checkpoint_write_with(path, model, opt, meta, write_train_group, st);
}

/* Reads /train/scale_exponents into a malloc'ed array. */
static int read_scales(hid_t g, pf_train_state *st)
{
    hid_t set = H5Dopen2(g, "scale_exponents", H5P_DEFAULT);
    if (set < 0)
        return pf_fail(PF_ERR_USAGE, "/train/scale_exponents: missing");
    hid_t space = H5Dget_space(set);
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    int rc =
        n < 0 || n > (1 << 24) ? pf_fail(PF_ERR_USAGE, "/train/scale_exponents: bad shape") : PF_OK;
    if (!rc && n > 0) {
        st->scales = malloc(sizeof(int32_t) * (size_t)n);
        if (!st->scales ||
            H5Dread(set, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, st->scales) < 0)
            rc = pf_fail(PF_ERR_USAGE, "/train/scale_exponents: cannot read");
    }
    st->n_scales = rc ? 0 : (int)n;
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(set);
    return rc;
}

/* Reads an optional float64 attribute; returns 1 when present. */
static int read_f64_attr(hid_t g, const char *name, double *out)
{
    if (H5Aexists(g, name) <= 0)
        return 0;
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    int ok = a >= 0 && H5Aread(a, H5T_NATIVE_DOUBLE, out) >= 0;
    if (a >= 0)
        H5Aclose(a);
    return ok;
}

/* Reads the attributes and scales of an open /train group. */
static int read_train_group(hid_t g, pf_train_state *st)
{
    int found = 0;
    char *sha = NULL;
    int rc = pf_h5_read_i64_attr(g, "/train", "data_position", &st->data_position, &found);
    if (!rc)
        rc = pf_h5_read_i64_attr(g, "/train", "tokens_seen", &st->tokens_seen, &found);
    if (!rc)
        rc = pf_h5_read_str_attr(g, "/train", "reference_sha256", &sha, &found);
    if (!rc && sha)
        snprintf(st->reference_sha256, sizeof st->reference_sha256, "%s", sha);
    free(sha);
    if (!rc)
        read_f64_attr(g, "lr", &st->lr);
    if (!rc)
        st->has_kl_coef = read_f64_attr(g, "kl_coef", &st->kl_coef);
    return rc ? rc : read_scales(g, st);
}

int pf_checkpoint_read_train(const char *path, pf_train_state *st)
{
    hid_t file, g;
    memset(st, 0, sizeof *st);
    int rc = pf_checkpoint_open(path, &file);
    if (rc)
        return pf_fail_prefix(rc, "%s", path);
    rc = pf_h5_open_group(file, "train", &g);
    if (!rc) {
        rc = read_train_group(g, st);
        H5Gclose(g);
    }
    H5Fclose(file);
    if (rc) {
        pf_train_state_clear(st);
        return pf_fail_prefix(rc, "%s", path);
    }
    return PF_OK;
}

int pf_checkpoint_read_tokenizer(const char *path, struct pf_tokenizer **out)
{
    pf_model *m = NULL;
    char *file = NULL;
    hid_t h;
    int rc = pf_checkpoint_read_model_at(path, 0, &m, NULL, &file);
    pf_model_free(m);
    if (rc)
        return rc;
    rc = pf_checkpoint_open(file, &h);
    if (!rc) {
        rc = pf_tokenizer_h5_present(h) ? pf_tokenizer_read_h5(h, out)
                                        : pf_fail(PF_ERR_USAGE, "no /tokenizer group");
        H5Fclose(h);
    }
    if (rc)
        pf_fail_prefix(rc, "%s", file);
    free(file);
    return rc;
}
