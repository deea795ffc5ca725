/*
 * checkpoint_reward.c: the /reward group of reward-model checkpoints: the
 * normalisation the trainer measured on rm.norm_data (attributes norm_mean, norm_std
 * as float64, n as int64), which pf_reward_model_score applies.
 */
#include <math.h>
#include <string.h>

#include "checkpoint_internal.h"
#include "h5util.h"
#include "prefopt/error.h"

int pf_reward_norm_write_h5(hid_t file, const pf_reward_norm *norm)
{
    hid_t g;
    int rc = pf_h5_create_group(file, "reward", &g);
    if (rc)
        return rc;
    rc = pf_h5_write_f64_attr(g, "norm_mean", norm->mean);
    if (!rc)
        rc = pf_h5_write_f64_attr(g, "norm_std", norm->std);
    if (!rc)
        rc = pf_h5_write_i64_attr(g, "n", norm->n);
    H5Gclose(g);
    return rc;
}

/* Reads the float64 scalar attribute name of /reward (required). */
static int read_f64(hid_t g, const char *name, double *out)
{
    if (H5Aexists(g, name) <= 0)
        return pf_fail(PF_ERR_USAGE, "/reward attribute %s: missing", name);
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    hid_t space = a < 0 ? -1 : H5Aget_space(a);
    hssize_t npoints = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    int ok = npoints == 1 && H5Aread(a, H5T_NATIVE_DOUBLE, out) >= 0 && isfinite(*out);
    if (space >= 0)
        H5Sclose(space);
    if (a >= 0)
        H5Aclose(a);
    return ok ? PF_OK
              : pf_fail(PF_ERR_USAGE, "/reward attribute %s: not a finite float64 scalar", name);
}

int pf_checkpoint_read_reward_norm(const char *file, pf_reward_norm *norm, int *present)
{
    hid_t h, g;
    int found = 0;
    *present = 0;
    norm->mean = 0.0;
    norm->std = 1.0;
    norm->n = 0;
    pf_h5_quiet();
    int rc = pf_checkpoint_open(file, &h);
    if (rc)
        return pf_fail_prefix(rc, "%s", file);
    if (H5Lexists(h, "reward", H5P_DEFAULT) > 0) {
        rc = pf_h5_open_group(h, "reward", &g);
        if (!rc) {
            rc = read_f64(g, "norm_mean", &norm->mean);
            if (!rc)
                rc = read_f64(g, "norm_std", &norm->std);
            if (!rc)
                rc = pf_h5_read_i64_attr(g, "/reward", "n", &norm->n, &found);
            if (!rc && !(norm->std > 0.0))
                rc = pf_fail(PF_ERR_USAGE, "/reward attribute norm_std: %g is not positive",
                             norm->std);
            H5Gclose(g);
        }
        *present = rc == PF_OK;
    }
    H5Fclose(h);
    return rc ? pf_fail_prefix(rc, "%s", file) : PF_OK;
}
