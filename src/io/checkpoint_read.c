/*
 * checkpoint_read.c: loading and validating HDF5 checkpoints (files and run folders).
 *
 * Readers trust nothing in the file: the /model attributes are checked like a config,
 * and every expected tensor must exist with dtype float32 and exactly its shape; an
 * unexpected extra tensor under /model/params is refused too, so a mis-converted file
 * fails loudly instead of loading half a model. Files written by h5py load (vlen or
 * fixed strings, any integer attribute type). Every error is PF_ERR_USAGE (out of
 * memory aside) with a message starting with the file name. Outputs (*model, *meta)
 * are only set on success.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/checkpoint_internal.h"
#include "io/h5util.h"
#include "prefopt/checkpoint.h"
#include "prefopt/error.h"

int pf_checkpoint_open(const char *path, hid_t *file)
{
    pf_h5_quiet();
    char text[512];
    struct stat st;
    *file = -1;
    if (stat(path, &st) != 0)
        return pf_fail(PF_ERR_USAGE, "no such file");
    if (!S_ISREG(st.st_mode))
        return pf_fail(PF_ERR_USAGE, "not a regular file");
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return pf_fail(PF_ERR_USAGE, "cannot be read");
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0)
        return pf_fail(PF_ERR_USAGE, "not an HDF5 file");
    hid_t fapl = pf_h5_read_fapl();
    *file = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (*file < 0) /* read the HDF5 error stack before the next API call clears it */
        pf_fail(PF_ERR_USAGE, "cannot be opened as HDF5: %s", pf_h5_error_text(text, sizeof text));
    if (fapl >= 0)
        H5Pclose(fapl);
    return *file < 0 ? PF_ERR_USAGE : PF_OK;
}

/* Checks the optional format and format_version attributes of the root group. */
static int check_format(hid_t file)
{
    char *format = NULL;
    int64_t version = 0;
    int found;
    int rc = pf_h5_read_str_attr(file, "/", "format", &format, &found);
    if (rc == PF_OK && found && strcmp(format, "prefopt-checkpoint") != 0)
        rc = pf_fail(PF_ERR_USAGE,
                     "/ attribute format: \"%s\" but expected "
                     "\"prefopt-checkpoint\"",
                     format);
    free(format);
    if (rc == PF_OK)
        rc = pf_h5_read_i64_attr(file, "/", "format_version", &version, &found);
    if (rc == PF_OK && found && version != 1)
        rc = pf_fail(PF_ERR_USAGE,
                     "/ attribute format_version: %lld is not supported "
                     "(this build reads version 1)",
                     (long long)version);
    return rc;
}

/* Reads the root attributes into meta, with defaults for the missing ones. */
static int read_meta(hid_t file, pf_checkpoint_meta *meta)
{
    char *algorithm = NULL;
    int found;
    memset(meta, 0, sizeof *meta);
    meta->world_size = 1;
    int rc = pf_h5_read_i64_attr(file, "/", "step", &meta->step, &found);
    if (rc == PF_OK)
        rc = pf_h5_read_i64_attr(file, "/", "world_size", &meta->world_size, &found);
    if (rc == PF_OK)
        rc = pf_h5_read_str_attr(file, "/", "algorithm", &algorithm, &found);
    if (rc == PF_OK && found)
        snprintf(meta->algorithm, sizeof meta->algorithm, "%s", algorithm);
    free(algorithm);
    if (rc == PF_OK)
        rc = pf_h5_read_str_attr(file, "/", "config_json", &meta->config_json, &found);
    return rc;
}

/* Reads a required positive integer attribute of /model into an int. */
static int read_model_int(hid_t group, const char *name, int *out)
{
    int64_t value = 0;
    int found;
    int rc = pf_h5_read_i64_attr(group, "/model", name, &value, &found);
    if (rc != PF_OK)
        return rc;
    if (!found)
        return pf_fail(PF_ERR_USAGE, "/model attribute %s: missing", name);
    if (value < 1 || value > INT_MAX)
        return pf_fail(PF_ERR_USAGE, "/model attribute %s: %lld is out of range", name,
                       (long long)value);
    *out = (int)value;
    return PF_OK;
}

/* Reads the /model attributes (arch and sizes) into cfg, value_head excepted. */
static int read_model_attrs(hid_t group, pf_model_config *cfg)
{
    char *arch = NULL;
    int found;
    int rc = pf_h5_read_str_attr(group, "/model", "arch", &arch, &found);
    if (rc == PF_OK && !found)
        rc = pf_fail(PF_ERR_USAGE, "/model attribute arch: missing");
    if (rc == PF_OK && pf_arch_from_name(arch, &cfg->arch) != PF_OK)
        rc = pf_fail(PF_ERR_USAGE, "/model attribute arch: unknown architecture \"%s\"", arch);
    free(arch);
    if (rc == PF_OK)
        rc = read_model_int(group, "n_layer", &cfg->n_layer);
    if (rc == PF_OK)
        rc = read_model_int(group, "n_head", &cfg->n_head);
    if (rc == PF_OK)
        rc = read_model_int(group, "d_model", &cfg->d_model);
    if (rc == PF_OK)
        rc = read_model_int(group, "vocab_size", &cfg->vocab_size);
    if (rc == PF_OK)
        rc = read_model_int(group, "max_seq_len", &cfg->max_seq_len);
    return rc;
}

int pf_ckpt_read_tensors(hid_t group, const pf_model *model, const char *label, float *buf)
{
    char what[PF_TENSOR_NAME_MAX + 64];
    int rc = PF_OK;
    for (int i = 0; rc == PF_OK && i < pf_model_num_tensors(model); i++) {
        const pf_tensor *t = pf_model_tensor(model, i);
        snprintf(what, sizeof what, "%s%s", label, t->name);
        rc = pf_h5_read_f32(group, t->name, what, t->ndim, t->shape, buf + t->offset);
    }
    return rc;
}

/* Refuses links in group that are not tensors of model (all expected ones exist). */
static int check_no_extra(hid_t group, const pf_model *model, const char *where)
{
    H5G_info_t info;
    char name[256];
    if (H5Gget_info(group, &info) < 0)
        return pf_fail(PF_ERR_USAGE, "%s: cannot be listed", where);
    if (info.nlinks <= (hsize_t)pf_model_num_tensors(model))
        return PF_OK;
    for (hsize_t i = 0; i < info.nlinks; i++) {
        if (H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                               H5P_DEFAULT) < 0)
            return pf_fail(PF_ERR_USAGE, "%s: cannot be listed", where);
        if (!pf_model_find_tensor(model, name))
            return pf_fail(PF_ERR_USAGE,
                           "%s: unexpected tensor %s (not part of this %s "
                           "model)",
                           where, name, pf_arch_name(pf_model_get_config(model)->arch));
    }
    return PF_OK;
}

/* Builds the model from /model: config from its attributes, value head from the
 * presence of v_head.weight, then the parameters. */
static int read_model_group(hid_t file, int with_grads, pf_model **out)
{
    pf_model_config cfg = {0};
    hid_t model_group, params = -1;
    pf_model *model = NULL;
    int rc = pf_h5_open_group(file, "/model", &model_group);
    if (rc != PF_OK)
        return rc;
    rc = read_model_attrs(model_group, &cfg);
    if (rc == PF_OK)
        rc = pf_h5_open_group(model_group, "params", &params);
    if (rc == PF_OK) {
        cfg.value_head = H5Lexists(params, "v_head.weight", H5P_DEFAULT) > 0;
        rc = pf_model_config_check(&cfg);
        if (rc != PF_OK)
            rc = pf_fail_prefix(PF_ERR_USAGE, "/model attributes");
    }
    if (rc == PF_OK)
        rc = pf_model_create(&cfg, with_grads, &model);
    if (rc == PF_OK)
        rc = pf_ckpt_read_tensors(params, model, "tensor ", pf_model_params(model));
    if (rc == PF_OK)
        rc = check_no_extra(params, model, "/model/params");
    if (params >= 0)
        H5Oclose(params);
    H5Oclose(model_group);
    if (rc != PF_OK)
        pf_model_free(model);
    else
        *out = model;
    return rc;
}

/* Where pf_checkpoint_read_model_at sends a file's contents. */
typedef struct {
    int with_grads;
    pf_model *model;
    pf_checkpoint_meta meta;
} model_request;

/* Reads one checkpoint file into req (model and meta); errors name the file. */
static int read_model_file(const char *path, void *data)
{
    model_request *req = data;
    hid_t file;
    int rc = pf_checkpoint_open(path, &file);
    if (rc == PF_OK) {
        rc = check_format(file);
        if (rc == PF_OK)
            rc = read_meta(file, &req->meta);
        if (rc == PF_OK)
            rc = read_model_group(file, req->with_grads, &req->model);
        if (rc != PF_OK)
            pf_checkpoint_meta_clear(&req->meta);
        H5Fclose(file);
    }
    return rc == PF_OK ? PF_OK : pf_fail_prefix(rc, "%s", path);
}

/* Reads the newest checkpoint of run_dir that reader accepts, warning on stderr about
 * each newer one it skips; file receives the path read. */
static int read_newest(const char *run_dir, int (*reader)(const char *, void *), void *data,
                       char *file, size_t size)
{
    int64_t *steps = NULL;
    int n = 0;
    int rc = pf_checkpoint_list(run_dir, &steps, &n);
    if (rc == PF_OK && n == 0)
        rc = pf_fail(PF_ERR_USAGE, "%s: no checkpoints in %s/checkpoints", run_dir, run_dir);
    for (int i = 0; rc == PF_OK && i < n; i++) {
        rc = pf_checkpoint_step_path(run_dir, steps[i], file, size);
        if (rc == PF_OK)
            rc = reader(file, data);
        if (rc == PF_OK || rc == PF_ERR_RUNTIME || i + 1 == n)
            break;
        fprintf(stderr, "prefopt-mpi: warning: %s (skipped; trying an older checkpoint)\n",
                pf_error_message());
        rc = PF_OK;
    }
    free(steps);
    if (rc != PF_OK && rc != PF_ERR_RUNTIME && n > 1)
        rc = pf_fail_prefix(rc, "%s: none of its %d checkpoints is readable; the oldest", run_dir,
                            n);
    return rc;
}

/* Reads path with reader or, when path is a run folder, its newest checkpoint that
 * reader accepts. *resolved (optional) gets the file read (malloc'ed). */
static int read_file_or_run(const char *path, int (*reader)(const char *, void *), void *data,
                            char **resolved)
{
    struct stat st;
    char file[4096];
    const char *read_path = path;
    int rc;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = read_newest(path, reader, data, file, sizeof file);
        read_path = file;
    } else {
        rc = reader(path, data);
    }
    if (rc == PF_OK && resolved && !(*resolved = strdup(read_path)))
        rc = pf_fail(PF_ERR_RUNTIME, "out of memory");
    return rc;
}

int pf_checkpoint_read_model_at(const char *path, int with_grads, pf_model **model,
                                pf_checkpoint_meta *meta, char **resolved)
{
    model_request req = {with_grads, NULL, {0}};
    *model = NULL;
    if (resolved)
        *resolved = NULL;
    pf_h5_quiet();
    int rc = read_file_or_run(path, read_model_file, &req, resolved);
    if (rc != PF_OK) {
        pf_model_free(req.model);
        pf_checkpoint_meta_clear(&req.meta);
        return rc;
    }
    *model = req.model;
    if (meta)
        *meta = req.meta;
    else
        pf_checkpoint_meta_clear(&req.meta);
    return PF_OK;
}

int pf_checkpoint_read_model(const char *path, int with_grads, pf_model **model,
                             pf_checkpoint_meta *meta)
{
    return pf_checkpoint_read_model_at(path, with_grads, model, meta, NULL);
}

/* Where pf_checkpoint_read_optimizer sends a file's /optimizer. */
typedef struct {
    const pf_model *model;
    pf_adamw *opt;
} optimizer_request;

/* Reads /optimizer (step, m/, v/) of an open file into req->opt. */
static int read_optimizer_group(hid_t file, optimizer_request *req)
{
    hid_t group, m = -1, v = -1;
    int64_t step = 0;
    int found;
    int rc = pf_h5_open_group(file, "/optimizer", &group);
    if (rc != PF_OK)
        return pf_fail_prefix(rc, "not a training checkpoint");
    rc = pf_h5_read_i64_attr(group, "/optimizer", "step", &step, &found);
    if (rc == PF_OK && !found)
        rc = pf_fail(PF_ERR_USAGE, "/optimizer attribute step: missing");
    if (rc == PF_OK)
        rc = pf_h5_open_group(group, "m", &m);
    if (rc == PF_OK)
        rc = pf_h5_open_group(group, "v", &v);
    if (rc == PF_OK)
        rc = pf_ckpt_read_tensors(m, req->model, "optimizer m/", req->opt->m);
    if (rc == PF_OK)
        rc = pf_ckpt_read_tensors(v, req->model, "optimizer v/", req->opt->v);
    if (rc == PF_OK)
        req->opt->step = step;
    if (v >= 0)
        H5Oclose(v);
    if (m >= 0)
        H5Oclose(m);
    H5Oclose(group);
    return rc;
}

/* Reads the optimizer state of one checkpoint file; errors name the file. */
static int read_optimizer_file(const char *path, void *data)
{
    hid_t file;
    int rc = pf_checkpoint_open(path, &file);
    if (rc == PF_OK) {
        rc = check_format(file);
        if (rc == PF_OK)
            rc = read_optimizer_group(file, data);
        H5Fclose(file);
    }
    return rc == PF_OK ? PF_OK : pf_fail_prefix(rc, "%s", path);
}

int pf_checkpoint_read_optimizer(const char *path, const pf_model *model, pf_adamw *opt)
{
    optimizer_request req = {model, opt};
    pf_h5_quiet();
    if (opt->n != pf_model_num_params(model))
        return pf_fail(PF_ERR_USAGE,
                       "%s: optimizer state for %zu values but the model "
                       "has %zu",
                       path, opt->n, pf_model_num_params(model));
    return read_file_or_run(path, read_optimizer_file, &req, NULL);
}

int pf_checkpoint_probe_optimizer(const char *file, int *present, int64_t *step)
{
    hid_t h5;
    int found = 0;
    *present = 0;
    *step = 0;
    pf_h5_quiet();
    int rc = pf_checkpoint_open(file, &h5);
    if (rc != PF_OK)
        return pf_fail_prefix(rc, "%s", file);
    *present = H5Lexists(h5, "optimizer", H5P_DEFAULT) > 0;
    hid_t group = *present ? H5Gopen2(h5, "optimizer", H5P_DEFAULT) : -1;
    if (group >= 0) {
        rc = pf_h5_read_i64_attr(group, "/optimizer", "step", step, &found);
        H5Gclose(group);
    }
    H5Fclose(h5);
    return rc == PF_OK ? PF_OK : pf_fail_prefix(rc, "%s", file);
}
