/*
 * h5util.h: small typed wrappers over the HDF5 C API for checkpoints and metrics.
 *
 * Internal to src/io. Each function returns a pf status and records a message naming
 * the attribute or dataset (not the file: callers prefix that with pf_fail_prefix).
 * Strings are written as variable-length UTF-8 and integers as int64, the way h5py
 * writes Python str and int; readers also accept fixed-length strings and any integer
 * type, so files written by h5py or other tools load.
 */
#ifndef PREFOPT_IO_H5UTIL_H
#define PREFOPT_IO_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* Turns off HDF5's automatic error-stack printing (idempotent). */
void pf_h5_quiet(void);

/* Copies the innermost HDF5 error description into buf (or "unknown HDF5 error").
 * Call it right after the failing HDF5 call: every HDF5 API call clears the stack. */
const char *pf_h5_error_text(char *buf, size_t size);

/* A file-access property list for reading (strong close degree: closing the file
 * closes whatever is still open in it); negative id on failure. */
hid_t pf_h5_read_fapl(void);

/* Writes a scalar attribute on loc. */
int pf_h5_write_str_attr(hid_t loc, const char *name, const char *value);
int pf_h5_write_i64_attr(hid_t loc, const char *name, int64_t value);
int pf_h5_write_f64_attr(hid_t loc, const char *name, double value);

/* Reads a scalar string attribute into a malloc'ed string (*out, free with free()).
 * *found is 0 (and *out NULL) when the attribute does not exist; a wrong type or
 * shape is an error (PF_ERR_USAGE) naming the attribute as "<obj> attribute <name>". */
int pf_h5_read_str_attr(hid_t loc, const char *obj, const char *name, char **out, int *found);

/* Reads a scalar integer attribute of any integer type as int64; as above. */
int pf_h5_read_i64_attr(hid_t loc, const char *obj, const char *name, int64_t *out, int *found);

/* Creates a group whose links keep creation order (so listings follow the canonical
 * tensor order). */
int pf_h5_create_group(hid_t loc, const char *name, hid_t *out);

/* Opens an existing group; a missing one is PF_ERR_USAGE "<name>: missing group". */
int pf_h5_open_group(hid_t loc, const char *name, hid_t *out);

/* Writes a float32 dataset of rank ndim (1 or 2) with the given dims. */
int pf_h5_write_f32(hid_t group, const char *name, int ndim, const int64_t *dims,
                    const float *data);

/* Reads a float32 dataset into data after checking it exists, is float32 and has
 * exactly the expected rank and dims; errors name it as "<what>". */
int pf_h5_read_f32(hid_t group, const char *name, const char *what, int ndim, const int64_t *dims,
                   float *data);

#endif
