/*
 * checkpoint_critic.c: the /critic group of PPO training checkpoints: the critic's
 * parameters (HF names, like /model/params, v_head included), its AdamW moments and
 * step, and its exact-sum scale exponents, so that a resumed PPO run continues
 * bit-identically. The policy stays in /model, so every command that reads a
 * checkpoint (generate, eval, logprobs, model.init) sees the policy.
 *
 *   /critic            attr step (AdamW steps taken)
 *   /critic/params/    one float32 dataset per critic tensor
 *   /critic/m/, /critic/v/
 *   /critic/scale_exponents  int32 [tensors]
 */
#include <string.h>

#include "checkpoint_internal.h"
#include "h5util.h"
#include "prefopt/error.h"

int pf_ckpt_write_critic(hid_t file, const pf_model *critic, const pf_adamw *opt,
                         const int32_t *scales, int n_scales)
{
    hid_t g;
    int rc = pf_h5_create_group(file, "critic", &g);
    if (rc)
        return rc;
    rc = pf_h5_write_i64_attr(g, "step", opt->step);
    if (!rc)
        rc = pf_ckpt_write_tensor_group(g, "params", critic, pf_model_params_const(critic));
    if (!rc)
        rc = pf_ckpt_write_tensor_group(g, "m", critic, opt->m);
    if (!rc)
        rc = pf_ckpt_write_tensor_group(g, "v", critic, opt->v);
    if (!rc)
        rc = pf_ckpt_write_i32(g, "scale_exponents", scales, n_scales);
    H5Gclose(g);
    return rc ? pf_fail_prefix(rc, "/critic") : PF_OK;
}

/* Reads the int32 dataset name [n] of group into out (exactly n values). */
static int read_i32(hid_t group, const char *name, int32_t *out, int n)
{
    hid_t set = H5Dopen2(group, name, H5P_DEFAULT);
    if (set < 0)
        return pf_fail(PF_ERR_USAGE, "/critic/%s: missing", name);
    hid_t space = H5Dget_space(set);
    hssize_t count = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    int rc = count != n ? pf_fail(PF_ERR_USAGE, "/critic/%s: holds %lld values, expected %d", name,
                                  (long long)count, n)
                        : PF_OK;
    if (!rc && n > 0 && H5Dread(set, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        rc = pf_fail(PF_ERR_USAGE, "/critic/%s: cannot read", name);
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(set);
    return rc;
}

/* Reads the open /critic group: parameters, moments, step and scales. */
static int read_critic_group(hid_t g, pf_model *critic, pf_adamw *opt, int32_t *scales,
                             int n_scales)
{
    const char *names[3] = {"params", "m", "v"};
    const char *labels[3] = {"/critic/params/", "/critic/m/", "/critic/v/"};
    float *bufs[3] = {pf_model_params(critic), opt->m, opt->v};
    int found = 0, rc = PF_OK;
    for (int i = 0; i < 3 && !rc; i++) {
        hid_t sub;
        rc = pf_h5_open_group(g, names[i], &sub);
        if (!rc) {
            rc = pf_ckpt_read_tensors(sub, critic, labels[i], bufs[i]);
            H5Gclose(sub);
        }
    }
    int64_t step = 0;
    if (!rc)
        rc = pf_h5_read_i64_attr(g, "/critic", "step", &step, &found);
    if (!rc && !found)
        rc = pf_fail(PF_ERR_USAGE, "/critic attribute step: missing");
    if (!rc)
        opt->step = step;
    return rc ? rc : read_i32(g, "scale_exponents", scales, n_scales);
}

int pf_checkpoint_read_critic(const char *path, pf_model *critic, pf_adamw *opt, int32_t *scales,
                              int n_scales)
{
    hid_t file, g;
    if (opt->n != pf_model_num_params(critic))
        return pf_fail(PF_ERR_USAGE, "%s: critic optimizer holds %zu values, the critic %zu", path,
                       opt->n, pf_model_num_params(critic));
    int rc = pf_checkpoint_open(path, &file);
    if (rc)
        return pf_fail_prefix(rc, "%s", path);
    rc = pf_h5_open_group(file, "critic", &g);
    if (rc)
        rc = pf_fail_prefix(rc, "no /critic group (not a PPO training checkpoint)");
    else {
        rc = read_critic_group(g, critic, opt, scales, n_scales);
        H5Gclose(g);
    }
    H5Fclose(file);
    return rc ? pf_fail_prefix(rc, "%s", path) : PF_OK;
}
