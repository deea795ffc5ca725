/*
 * checkpoint.c: writing HDF5 checkpoints, and the parameter digest.
 *
 * Layout (docs/formats.md): root attributes, /model attributes, /model/params with one
 * float32 dataset per tensor in canonical (tensor-table) order, and for training
 * checkpoints /optimizer with step and m/, v/ mirroring the parameter names.
 * Invariant: PATH is only ever replaced by a complete, closed, fsync'ed file. HDF5
 * never touches the disk here: the file is built in memory (core driver, no backing
 * store) and only its final image is written, with plain POSIX calls, to PATH.tmp,
 * which pf_commit_tmp then syncs and renames onto PATH. This matters because in HDF5
 * 1.10 a failed H5Fclose (disk full, quota, file-size limit) leaves a half-destroyed
 * file in the library's ID table and the process crashes at exit; here every I/O
 * error is an ordinary PF_ERR_RUNTIME. Every failure removes PATH.tmp and leaves PATH
 * as it was. Cost: the writing rank holds one copy of the file in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/checkpoint_internal.h"
#include "io/h5util.h"
#include "prefopt/checkpoint.h"
#include "prefopt/error.h"
#include "prefopt/fsutil.h"
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

/* Creates a group under loc, fills it with buf's tensors and closes it. */
static int write_tensor_group(hid_t loc, const char *name, const pf_model *model, const float *buf)
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
        rc = write_tensor_group(group, "params", model, pf_model_params_const(model));
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
        rc = write_tensor_group(group, "m", model, opt->m);
    if (rc == PF_OK)
        rc = write_tensor_group(group, "v", model, opt->v);
    if (H5Gclose(group) < 0 && rc == PF_OK)
        rc = pf_fail(PF_ERR_RUNTIME, "optimizer: cannot close group");
    return rc;
}

/* The in-memory file image being built. HDF5's core driver allocates it through
 * these callbacks, and at close hands the final buffer to image_free, which keeps it
 * instead of freeing it: the closed, consistent file, with no copy. */
typedef struct {
    void *buf;   /* the driver's current buffer */
    size_t size; /* its size */
    void *final; /* the buffer released at file close (owned by us afterwards) */
    size_t final_size;
} image_sink;

/* Core-driver allocation callback. */
static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    image_sink *sink = udata;
    (void)op;
    sink->buf = malloc(size);
    sink->size = sink->buf ? size : 0;
    return sink->buf;
}

/* Core-driver copy callback. */
static void *image_memcpy(void *dst, const void *src, size_t size, H5FD_file_image_op_t op,
                          void *udata)
{
    (void)op;
    (void)udata;
    return memcpy(dst, src, size);
}

/* Core-driver resize callback (the image grows as datasets are written). */
static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata)
{
    image_sink *sink = udata;
    (void)op;
    void *grown = realloc(ptr, size);
    if (grown) {
        sink->buf = grown;
        sink->size = size;
    }
    return grown;
}

/* Core-driver release callback: keeps the buffer released at the last file close.
 * (H5Fcreate may first open and close an existing disk file of the same name as a
 * probe, through these callbacks too; the real file is always closed last.) */
static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata)
{
    image_sink *sink = udata;
    if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && ptr && ptr == sink->buf) {
        free(sink->final);
        sink->final = ptr;
        sink->final_size = sink->size;
        sink->buf = NULL;
        sink->size = 0;
    } else {
        free(ptr);
    }
    return 0;
}

/* The sink outlives every property list copy, so user data is shared, not copied. */
static void *image_udata_copy(void *udata) { return udata; }

/* Nothing to release: the sink lives on pf_checkpoint_write's stack. */
static herr_t image_udata_free(void *udata)
{
    (void)udata;
    return 0;
}

/* A file-access list for an in-memory (core driver, no backing store) v110 file whose
 * buffer is managed by sink; growth steps of about 1/64 of the expected size. */
static hid_t image_fapl(image_sink *sink, size_t expected_bytes)
{
    H5FD_file_image_callbacks_t callbacks = {image_malloc, image_memcpy,     image_realloc,
                                             image_free,   image_udata_copy, image_udata_free,
                                             sink};
    size_t increment = expected_bytes / 64 > 65536 ? expected_bytes / 64 : 65536;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return -1;
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0 ||
        H5Pset_fapl_core(fapl, increment, 0) < 0 ||
        H5Pset_file_image_callbacks(fapl, &callbacks) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/* The in-memory file's name: nothing is read from or written to it, but HDF5 probes
 * an existing file of that name, so it must not be a path we write (like PATH.tmp). */
static const char MEMORY_FILE_NAME[] = "/dev/null/prefopt-checkpoint-image";

/* Builds the whole checkpoint as an HDF5 file in memory; on success sink->final holds
 * the closed file's bytes (sink->final_size, possibly zero-padded past the end of the
 * HDF5 address space, which readers accept). name only labels the in-memory file. */
static int build_image(const char *name, const pf_model *model, const pf_adamw *opt,
                       const pf_checkpoint_meta *meta, pf_checkpoint_extra_fn extra,
                       const void *ctx, image_sink *sink)
{
    char text[512];
    size_t expected = pf_model_num_params(model) * sizeof(float) * (opt ? 3 : 1);
    hid_t fapl = image_fapl(sink, expected);
    hid_t file = fapl < 0 ? -1 : H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (file < 0) /* read the HDF5 error stack before the next API call clears it */
        pf_fail(PF_ERR_RUNTIME, "cannot create the in-memory file: %s",
                pf_h5_error_text(text, sizeof text));
    if (fapl >= 0)
        H5Pclose(fapl);
    if (file < 0)
        return PF_ERR_RUNTIME;
    int rc = write_root_attrs(file, meta);
    if (rc == PF_OK)
        rc = write_model(file, model);
    if (rc == PF_OK && opt)
        rc = write_optimizer(file, model, opt);
    if (rc == PF_OK && extra)
        rc = extra(file, ctx);
    if (H5Fclose(file) < 0 && rc == PF_OK)
        rc = pf_fail(PF_ERR_RUNTIME, "cannot close the in-memory file: %s",
                     pf_h5_error_text(text, sizeof text));
    if (rc == PF_OK && !sink->final)
        rc = pf_fail(PF_ERR_RUNTIME, "the HDF5 core driver returned no file image");
    return rc;
}

/* Writes size bytes to a new file tmp (not yet synced); removes it on failure. */
static int write_bytes(const char *tmp, const void *bytes, size_t size)
{
    const char *p = bytes;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return pf_fail(PF_ERR_RUNTIME, "cannot create %s: %s", tmp, strerror(errno));
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = n < 0 ? errno : EIO;
            close(fd);
            unlink(tmp);
            return pf_fail(PF_ERR_RUNTIME, "cannot write %s: %s", tmp, strerror(saved));
        }
        p += n;
        size -= (size_t)n;
    }
    if (close(fd) != 0) {
        int saved = errno;
        unlink(tmp);
        return pf_fail(PF_ERR_RUNTIME, "cannot write %s: %s", tmp, strerror(saved));
    }
    return PF_OK;
}

int pf_checkpoint_write_with(const char *path, const pf_model *model, const pf_adamw *opt,
                             const pf_checkpoint_meta *meta, pf_checkpoint_extra_fn extra,
                             const void *ctx)
{
    char tmp[4096];
    image_sink sink = {0};
    pf_h5_quiet();
    if (opt && opt->n != pf_model_num_params(model))
        return pf_fail(PF_ERR_USAGE, "%s: optimizer holds %zu values but the model %zu", path,
                       opt->n, pf_model_num_params(model));
    int rc = pf_tmp_path(path, tmp, sizeof tmp);
    if (rc == PF_OK)
        rc = build_image(MEMORY_FILE_NAME, model, opt, meta, extra, ctx, &sink);
    if (rc == PF_OK)
        rc = write_bytes(tmp, sink.final, sink.final_size);
    free(sink.final);
    if (rc == PF_OK)
        rc = pf_commit_tmp(tmp, path);
    else
        rc = pf_fail_prefix(rc, "%s", path);
    return rc;
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
