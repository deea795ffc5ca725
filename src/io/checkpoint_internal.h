/*
 * checkpoint_internal.h: hooks for src/io modules that extend checkpoints (e.g. the
 * /train group of training checkpoints) without re-implementing the atomic writer or
 * the reader's file checks. Not part of the public API.
 */
#ifndef PREFOPT_IO_CHECKPOINT_INTERNAL_H
#define PREFOPT_IO_CHECKPOINT_INTERNAL_H

#include <hdf5.h>

#include "prefopt/checkpoint.h"

/* Adds extra groups or attributes to a checkpoint being written (file is the open,
 * in-memory HDF5 file after /, /model and /optimizer are written). Returns a pf status;
 * messages need not name the checkpoint path (the caller prefixes it). */
typedef int (*pf_checkpoint_extra_fn)(hid_t file, const void *ctx);

/* pf_checkpoint_write, calling extra(file, ctx) (when non-NULL) before the file is
 * closed; same atomicity and errors. */
int pf_checkpoint_write_with(const char *path, const pf_model *model, const pf_adamw *opt,
                             const pf_checkpoint_meta *meta, pf_checkpoint_extra_fn extra,
                             const void *ctx);

/* Opens an existing checkpoint file read-only after checking that it exists, is a
 * readable regular file and is HDF5. Errors are PF_ERR_USAGE and do not yet name the
 * file (prefix it with pf_fail_prefix). Close with H5Fclose. */
int pf_checkpoint_open(const char *path, hid_t *file);

/* Writes /reward with attributes norm_mean, norm_std (float64) and n (int64). */
int pf_reward_norm_write_h5(hid_t file, const pf_reward_norm *norm);
/* Creates group name under loc holding one float32 dataset per tensor of model, with
 * values from buf (the parameters or an optimizer moment: same layout), and closes it. */
int pf_ckpt_write_tensor_group(hid_t loc, const char *name, const pf_model *model,
                               const float *buf);

/* Reads every tensor of model from group (whose layout mirrors the parameters) into
 * buf; label names the group in messages ("tensor ", "optimizer m/"...). */
int pf_ckpt_read_tensors(hid_t group, const pf_model *model, const char *label, float *buf);

/* Writes the int32 dataset name [n] into group (messages say /train/NAME). */
int pf_ckpt_write_i32(hid_t group, const char *name, const int32_t *data, int n);

/* Writes /critic: params/, optimizer m/ and v/ (attr step) and scale_exponents. */
int pf_ckpt_write_critic(hid_t file, const pf_model *critic, const pf_adamw *opt,
                         const int32_t *scales, int n_scales);

#endif
