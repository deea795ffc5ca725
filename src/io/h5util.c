/*
 * h5util.c: typed HDF5 attribute and dataset helpers (see h5util.h).
 *
 * Invariant: every function closes every HDF5 id it opened before returning, on the
 * success path and on every error path (goto unwinding), so callers never leak ids
 * and H5Fclose really closes the file.
 */
#include "io/h5util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"

void pf_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* Where keep_innermost copies the error description. */
typedef struct {
    char *buf;
    size_t size;
} error_text_sink;

/* H5Ewalk2 callback: keeps the description of the first (innermost) error. */
static herr_t keep_innermost(unsigned n, const H5E_error2_t *err, void *data)
{
    error_text_sink *sink = data;
    if (n == 0 && err->desc)
        snprintf(sink->buf, sink->size, "%s", err->desc);
    return 0;
}

const char *pf_h5_error_text(char *buf, size_t size)
{
    error_text_sink sink = {buf, size};
    snprintf(buf, size, "unknown HDF5 error");
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &sink);
    return buf;
}

hid_t pf_h5_read_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return fapl;
    if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/* Records an HDF5 failure about `what` with the innermost HDF5 message. */
static int h5_fail(int code, const char *what)
{
    char text[512];
    return pf_fail(code, "%s: %s", what, pf_h5_error_text(text, sizeof text));
}

/* Creates and writes a scalar attribute of file type ftype from memory of mtype. */
static int write_scalar_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                             const void *value)
{
    int rc = PF_OK;
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = space < 0 ? -1 : H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0 || H5Awrite(attr, mtype, value) < 0)
        rc = h5_fail(PF_ERR_RUNTIME, name);
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

int pf_h5_write_str_attr(hid_t loc, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    if (type < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0) {
        int rc = h5_fail(PF_ERR_RUNTIME, name); /* before H5Tclose clears the stack */
        if (type >= 0)
            H5Tclose(type);
        return rc;
    }
    int rc = write_scalar_attr(loc, name, type, type, &value);
    H5Tclose(type);
    return rc;
}

int pf_h5_write_i64_attr(hid_t loc, const char *name, int64_t value)
{
    return write_scalar_attr(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

int pf_h5_write_f64_attr(hid_t loc, const char *name, double value)
{
    return write_scalar_attr(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

/* Opens attribute name on loc if present (*attr = -1 and *found = 0 when absent) and
 * checks that it holds exactly one element. */
static int open_scalar_attr(hid_t loc, const char *obj, const char *name, hid_t *attr, int *found)
{
    *attr = -1;
    *found = 0;
    htri_t exists = H5Aexists(loc, name);
    if (exists < 0)
        return pf_fail(PF_ERR_USAGE, "%s attribute %s: cannot be read", obj, name);
    if (exists == 0)
        return PF_OK;
    *attr = H5Aopen(loc, name, H5P_DEFAULT);
    if (*attr < 0)
        return pf_fail(PF_ERR_USAGE, "%s attribute %s: cannot be opened", obj, name);
    hid_t space = H5Aget_space(*attr);
    hssize_t npoints = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    if (space >= 0)
        H5Sclose(space);
    if (npoints != 1) {
        H5Aclose(*attr);
        *attr = -1;
        return pf_fail(PF_ERR_USAGE, "%s attribute %s: must be a scalar", obj, name);
    }
    *found = 1;
    return PF_OK;
}

/* Reads a variable-length string attribute (UTF-8 or ASCII) into a malloc'ed copy. */
static int read_vlen_str(hid_t attr, hid_t ftype, char **out)
{
    char *value = NULL;
    hid_t mtype = H5Tcopy(H5T_C_S1);
    int ok = mtype >= 0 && H5Tset_size(mtype, H5T_VARIABLE) >= 0 &&
             H5Tset_cset(mtype, H5Tget_cset(ftype)) >= 0 && H5Aread(attr, mtype, &value) >= 0;
    if (mtype >= 0)
        H5Tclose(mtype);
    if (!ok)
        return PF_ERR_USAGE;
    *out = strdup(value ? value : "");
    if (value)
        H5free_memory(value);
    return *out ? PF_OK : PF_ERR_RUNTIME;
}

/* Reads a fixed-length string attribute into a malloc'ed, NUL-terminated copy. */
static int read_fixed_str(hid_t attr, hid_t ftype, char **out)
{
    size_t size = H5Tget_size(ftype);
    if (size == 0)
        return PF_ERR_USAGE;
    char *buf = calloc(size + 1, 1);
    if (!buf)
        return PF_ERR_RUNTIME;
    if (H5Aread(attr, ftype, buf) < 0) {
        free(buf);
        return PF_ERR_USAGE;
    }
    *out = buf;
    return PF_OK;
}

int pf_h5_read_str_attr(hid_t loc, const char *obj, const char *name, char **out, int *found)
{
    hid_t attr;
    *out = NULL;
    int rc = open_scalar_attr(loc, obj, name, &attr, found);
    if (rc != PF_OK || !*found)
        return rc;
    hid_t ftype = H5Aget_type(attr);
    if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING) {
        rc = pf_fail(PF_ERR_USAGE, "%s attribute %s: must be a string", obj, name);
        goto done;
    }
    htri_t vlen = H5Tis_variable_str(ftype);
    rc = vlen > 0 ? read_vlen_str(attr, ftype, out) : read_fixed_str(attr, ftype, out);
    if (rc != PF_OK)
        rc = pf_fail(rc, "%s attribute %s: cannot be read as a string", obj, name);
done:
    if (ftype >= 0)
        H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

int pf_h5_read_i64_attr(hid_t loc, const char *obj, const char *name, int64_t *out, int *found)
{
    hid_t attr;
    int rc = open_scalar_attr(loc, obj, name, &attr, found);
    if (rc != PF_OK || !*found)
        return rc;
    hid_t ftype = H5Aget_type(attr);
    if (ftype < 0 || H5Tget_class(ftype) != H5T_INTEGER)
        rc = pf_fail(PF_ERR_USAGE, "%s attribute %s: must be an integer", obj, name);
    else if (H5Aread(attr, H5T_NATIVE_INT64, out) < 0)
        rc = pf_fail(PF_ERR_USAGE, "%s attribute %s: does not fit in int64", obj, name);
    if (ftype >= 0)
        H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

int pf_h5_create_group(hid_t loc, const char *name, hid_t *out)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0 ||
        H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0)
        *out = -1;
    else
        *out = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    int rc = *out < 0 ? h5_fail(PF_ERR_RUNTIME, name) : PF_OK; /* before H5Pclose */
    if (gcpl >= 0)
        H5Pclose(gcpl);
    return rc;
}

int pf_h5_open_group(hid_t loc, const char *name, hid_t *out)
{
    *out = -1;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
        return pf_fail(PF_ERR_USAGE, "%s: missing group", name);
    hid_t obj = H5Oopen(loc, name, H5P_DEFAULT);
    if (obj < 0)
        return pf_fail(PF_ERR_USAGE, "%s: cannot be opened", name);
    if (H5Iget_type(obj) != H5I_GROUP) {
        H5Oclose(obj);
        return pf_fail(PF_ERR_USAGE, "%s: is not a group", name);
    }
    *out = obj;
    return PF_OK;
}

int pf_h5_write_f32(hid_t group, const char *name, int ndim, const int64_t *dims, const float *data)
{
    hsize_t hdims[2] = {0, 0};
    for (int i = 0; i < ndim; i++)
        hdims[i] = (hsize_t)dims[i];
    int rc = PF_OK;
    hid_t space = H5Screate_simple(ndim, hdims, NULL);
    hid_t dset = space < 0 ? -1
                           : H5Dcreate2(group, name, H5T_IEEE_F32LE, space, H5P_DEFAULT,
                                        H5P_DEFAULT, H5P_DEFAULT);
    if (dset < 0 || H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = h5_fail(PF_ERR_RUNTIME, name);
    if (dset >= 0 && H5Dclose(dset) < 0 && rc == PF_OK)
        rc = h5_fail(PF_ERR_RUNTIME, name);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

/* Names a non-float32 HDF5 type for messages ("float64", "int32", "string"...). */
static void type_name(hid_t type, char *buf, size_t size)
{
    size_t bytes = H5Tget_size(type);
    switch (H5Tget_class(type)) {
    case H5T_FLOAT:
        snprintf(buf, size, "float%zu", bytes * 8);
        break;
    case H5T_INTEGER:
        snprintf(buf, size, "%sint%zu", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", bytes * 8);
        break;
    case H5T_STRING:
        snprintf(buf, size, "string");
        break;
    default:
        snprintf(buf, size, "a non-numeric type");
        break;
    }
}

/* Formats dims as "[a,b]" into buf. */
static void format_shape(char *buf, size_t size, int ndim, const hsize_t *dims)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ",%llu" : "%llu", (unsigned long long)dims[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

/* Checks that dset is float32 with the expected rank and dims. */
static int check_f32_shape(hid_t dset, const char *what, int ndim, const int64_t *dims)
{
    char have[128], want[128];
    hsize_t got[H5S_MAX_RANK], exp[2] = {0, 0};
    hid_t type = H5Dget_type(dset);
    int is_f32 = type >= 0 && H5Tget_class(type) == H5T_FLOAT && H5Tget_size(type) == 4;
    if (!is_f32 && type >= 0)
        type_name(type, have, sizeof have);
    if (type >= 0)
        H5Tclose(type);
    if (!is_f32)
        return pf_fail(PF_ERR_USAGE, "%s: dtype %s but expected float32", what,
                       type >= 0 ? have : "unknown");
    hid_t space = H5Dget_space(dset);
    int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    if (rank >= 0 && rank <= H5S_MAX_RANK)
        H5Sget_simple_extent_dims(space, got, NULL);
    if (space >= 0)
        H5Sclose(space);
    if (rank < 0 || rank > H5S_MAX_RANK)
        return pf_fail(PF_ERR_USAGE, "%s: unreadable shape", what);
    int same = rank == ndim;
    for (int i = 0; i < ndim; i++) {
        exp[i] = (hsize_t)dims[i];
        same = same && got[i] == exp[i];
    }
    if (same)
        return PF_OK;
    format_shape(have, sizeof have, rank, got);
    format_shape(want, sizeof want, ndim, exp);
    return pf_fail(PF_ERR_USAGE, "%s: shape %s but expected %s", what, have, want);
}

int pf_h5_read_f32(hid_t group, const char *name, const char *what, int ndim, const int64_t *dims,
                   float *data)
{
    if (H5Lexists(group, name, H5P_DEFAULT) <= 0)
        return pf_fail(PF_ERR_USAGE, "%s: missing", what);
    hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
    if (obj < 0)
        return pf_fail(PF_ERR_USAGE, "%s: cannot be opened", what);
    int rc = PF_OK;
    if (H5Iget_type(obj) != H5I_DATASET)
        rc = pf_fail(PF_ERR_USAGE, "%s: is not a dataset", what);
    else
        rc = check_f32_shape(obj, what, ndim, dims);
    if (rc == PF_OK && H5Dread(obj, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = h5_fail(PF_ERR_USAGE, what);
    H5Oclose(obj);
    return rc;
}
