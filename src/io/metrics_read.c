/*
 * metrics_read.c: opening and checking the metrics.h5 table, and reading it whole
 * (pf_metrics_read). The layout is described in metrics_internal.h and
 * docs/formats.md.
 *
 * Invariant: every function closes the HDF5 ids it opened, on success and on error;
 * pf_mtab_open leaves nothing open when it fails. Readers open the file read-only
 * with HDF5's normal (shared) file lock; the writer never locks metrics.h5 (it
 * replaces the file atomically), so reading during training never blocks training.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5util.h"
#include "io/metrics_internal.h"
#include "prefopt/error.h"
#include "prefopt/metrics.h"

/* Checks the optional "/" attributes format and format_version. */
static int check_format(hid_t file, int code)
{
    char *format = NULL;
    int64_t version = 0;
    int found = 0;
    int rc = pf_h5_read_str_attr(file, "/", "format", &format, &found);
    if (rc == PF_OK && found && strcmp(format, PF_METRICS_FORMAT) != 0)
        rc = pf_fail(code, "/ attribute format: \"%.100s\" but expected \"%s\"", format,
                     PF_METRICS_FORMAT);
    free(format);
    if (rc == PF_OK)
        rc = pf_h5_read_i64_attr(file, "/", "format_version", &version, &found);
    if (rc == PF_OK && found && version != PF_METRICS_VERSION)
        rc = pf_fail(code, "/ attribute format_version: %lld is not supported (expected %d)",
                     (long long)version, PF_METRICS_VERSION);
    return rc == PF_OK ? PF_OK : code;
}

/* Checks that the columns attribute is a 1-D (or empty) variable-length string array
 * and returns its length in *n. */
static int columns_shape(hid_t attr, int code, int *n)
{
    hid_t type = H5Aget_type(attr);
    hid_t space = H5Aget_space(attr);
    int is_vlen_str = type >= 0 && H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0;
    int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    hssize_t npoints = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    if (!is_vlen_str || rank > 1 || npoints < 0 || npoints > INT32_MAX)
        return pf_fail(code, "/metrics attribute columns: must be a 1-D array of "
                             "variable-length strings");
    *n = (int)npoints;
    return PF_OK;
}

/* Copies the n strings HDF5 allocated in raw into t->cols and releases raw's strings. */
static int take_names(char **raw, int n, int code, pf_mtab *t)
{
    int rc = PF_OK;
    t->cols = calloc(n > 0 ? (size_t)n : 1, sizeof *t->cols);
    if (!t->cols)
        rc = pf_fail(code, "/metrics attribute columns: out of memory");
    for (int i = 0; i < n; i++) {
        if (rc == PF_OK && (!raw[i] || !raw[i][0]))
            rc = pf_fail(code, "/metrics attribute columns: entry %d is empty", i);
        if (rc == PF_OK && !(t->cols[t->n_cols++] = strdup(raw[i])))
            rc = pf_fail(code, "/metrics attribute columns: out of memory");
        if (raw[i])
            H5free_memory(raw[i]);
    }
    return rc;
}

/* Reads the /metrics attribute columns (the metric names in creation order). */
static int read_columns(pf_mtab *t, int code)
{
    if (H5Aexists(t->group, "columns") <= 0)
        return pf_fail(code, "/metrics attribute columns: missing");
    hid_t attr = H5Aopen(t->group, "columns", H5P_DEFAULT);
    if (attr < 0)
        return pf_fail(code, "/metrics attribute columns: cannot be opened");
    int n = 0;
    int rc = columns_shape(attr, code, &n);
    char **raw = rc == PF_OK ? calloc(n > 0 ? (size_t)n : 1, sizeof *raw) : NULL;
    hid_t mtype = H5Tcopy(H5T_C_S1);
    if (rc == PF_OK &&
        (!raw || mtype < 0 || H5Tset_size(mtype, H5T_VARIABLE) < 0 ||
         H5Tset_cset(mtype, H5T_CSET_UTF8) < 0 || (n > 0 && H5Aread(attr, mtype, raw) < 0)))
        rc = pf_fail(code, "/metrics attribute columns: cannot be read");
    else if (rc == PF_OK)
        rc = take_names(raw, n, code, t);
    free(raw);
    if (mtype >= 0)
        H5Tclose(mtype);
    H5Aclose(attr);
    return rc;
}

/* Opens dataset /metrics/<name>, checks it is 1-D of type class want, and returns its
 * length in *len. */
static int column_length(hid_t group, const char *name, H5T_class_t want, int code, int64_t *len)
{
    if (H5Lexists(group, name, H5P_DEFAULT) <= 0)
        return pf_fail(code, "/metrics/%s: missing dataset", name);
    hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
    if (obj < 0 || H5Iget_type(obj) != H5I_DATASET) {
        if (obj >= 0)
            H5Oclose(obj);
        return pf_fail(code, "/metrics/%s: not a dataset", name);
    }
    hid_t type = H5Dget_type(obj);
    hid_t space = H5Dget_space(obj);
    int type_ok = type >= 0 && H5Tget_class(type) == want;
    int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    hsize_t dim = 0;
    if (rank == 1)
        H5Sget_simple_extent_dims(space, &dim, NULL);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    H5Oclose(obj);
    if (!type_ok || rank != 1)
        return pf_fail(code, "/metrics/%s: must be a 1-D %s dataset", name,
                       want == H5T_INTEGER ? "integer" : "float");
    *len = (int64_t)dim;
    return PF_OK;
}

/* Checks that every listed column exists, is a float dataset and has n_rows rows. */
static int check_columns(const pf_mtab *t, int code)
{
    for (int j = 0; j < t->n_cols; j++) {
        int64_t len = 0;
        int rc = column_length(t->group, t->cols[j], H5T_FLOAT, code, &len);
        if (rc != PF_OK)
            return rc;
        if (len != t->n_rows)
            return pf_fail(code, "/metrics/%s: %lld rows but /metrics/step has %lld", t->cols[j],
                           (long long)len, (long long)t->n_rows);
    }
    return PF_OK;
}

/* Reads the step of the last row into t->last_step (when there is one). */
static int read_last_step(pf_mtab *t, int code)
{
    if (t->n_rows == 0)
        return PF_OK;
    hid_t dset = H5Dopen2(t->group, "step", H5P_DEFAULT);
    hid_t fspace = dset < 0 ? -1 : H5Dget_space(dset);
    hsize_t start = (hsize_t)(t->n_rows - 1), count = 1;
    hid_t mspace = H5Screate_simple(1, &count, NULL);
    int ok = fspace >= 0 && mspace >= 0 &&
             H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0 &&
             H5Dread(dset, H5T_NATIVE_INT64, mspace, fspace, H5P_DEFAULT, &t->last_step) >= 0;
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    if (dset >= 0)
        H5Dclose(dset);
    return ok ? PF_OK : pf_fail(code, "/metrics/step: cannot be read");
}

int pf_mtab_open(hid_t file, int code, pf_mtab *t)
{
    memset(t, 0, sizeof *t);
    t->group = -1;
    int rc = check_format(file, code);
    if (rc == PF_OK && pf_h5_open_group(file, "/metrics", &t->group) != PF_OK)
        rc = code; /* message: "/metrics: missing group" (or not a group) */
    if (rc == PF_OK)
        rc = read_columns(t, code);
    if (rc == PF_OK)
        rc = column_length(t->group, "step", H5T_INTEGER, code, &t->n_rows);
    if (rc == PF_OK)
        rc = check_columns(t, code);
    if (rc == PF_OK)
        rc = read_last_step(t, code);
    if (rc != PF_OK)
        pf_mtab_close(t);
    return rc;
}

void pf_mtab_close(pf_mtab *t)
{
    if (t->group >= 0)
        H5Gclose(t->group);
    t->group = -1;
    for (int j = 0; j < t->n_cols; j++)
        free(t->cols[j]);
    free(t->cols);
    t->cols = NULL;
    t->n_cols = 0;
}

int pf_mtab_read_column(const pf_mtab *t, const char *name, hid_t mtype, void *buf, int code)
{
    if (t->n_rows == 0)
        return PF_OK;
    hid_t dset = H5Dopen2(t->group, name, H5P_DEFAULT);
    int ok = dset >= 0 && H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    if (dset >= 0)
        H5Dclose(dset);
    return ok ? PF_OK : pf_fail(code, "/metrics/%s: cannot be read", name);
}

/* Checks that path names an existing regular file (PF_ERR_USAGE otherwise). */
static int check_readable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? pf_fail(PF_ERR_USAGE, "%s: no such file", path)
                               : pf_fail(PF_ERR_USAGE, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return pf_fail(PF_ERR_USAGE, "%s: not a regular file", path);
    return PF_OK;
}

/* Allocates the table's arrays for t's shape; steps and values stay NULL when empty. */
static int alloc_table(const pf_mtab *t, pf_metrics_table *table)
{
    size_t rows = (size_t)t->n_rows, cols = (size_t)t->n_cols;
    if (cols > 0 && rows > SIZE_MAX / sizeof(double) / cols)
        return pf_fail(PF_ERR_RUNTIME, "table of %zu x %zu values: too large", rows, cols);
    table->n_rows = t->n_rows;
    if (rows > 0 && !(table->steps = malloc(rows * sizeof *table->steps)))
        return pf_fail(PF_ERR_RUNTIME, "out of memory");
    if (rows > 0 && cols > 0 && !(table->values = malloc(rows * cols * sizeof(double))))
        return pf_fail(PF_ERR_RUNTIME, "out of memory");
    return PF_OK;
}

/* Reads every column of t into table->values ([rows][n_cols]) through one buffer. */
static int read_values(const pf_mtab *t, pf_metrics_table *table)
{
    if (t->n_rows == 0 || t->n_cols == 0)
        return PF_OK;
    double *col = malloc((size_t)t->n_rows * sizeof *col);
    if (!col)
        return pf_fail(PF_ERR_RUNTIME, "out of memory");
    int rc = PF_OK;
    for (int j = 0; j < t->n_cols && rc == PF_OK; j++) {
        rc = pf_mtab_read_column(t, t->cols[j], H5T_NATIVE_DOUBLE, col, PF_ERR_USAGE);
        for (int64_t r = 0; r < t->n_rows && rc == PF_OK; r++)
            table->values[r * t->n_cols + j] = col[r];
    }
    free(col);
    return rc;
}

/* Fills table from the open table t; the names move from t to table. */
static int fill_table(pf_mtab *t, pf_metrics_table *table)
{
    int rc = alloc_table(t, table);
    if (rc == PF_OK)
        rc = pf_mtab_read_column(t, "step", H5T_NATIVE_INT64, table->steps, PF_ERR_USAGE);
    if (rc == PF_OK)
        rc = read_values(t, table);
    if (rc == PF_OK) {
        table->names = t->cols;
        table->n_metrics = t->n_cols;
        t->cols = NULL;
        t->n_cols = 0;
    }
    return rc;
}

int pf_metrics_read(const char *path, pf_metrics_table *table)
{
    char text[512];
    pf_mtab t;
    memset(table, 0, sizeof *table);
    pf_h5_quiet();
    int rc = check_readable(path);
    if (rc != PF_OK)
        return rc;
    hid_t fapl = pf_h5_read_fapl();
    hid_t file = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (file < 0)
        rc = pf_fail(PF_ERR_USAGE, "%s: not an HDF5 file (%s)", path,
                     pf_h5_error_text(text, sizeof text));
    if (fapl >= 0)
        H5Pclose(fapl);
    if (rc != PF_OK)
        return rc;
    rc = pf_mtab_open(file, PF_ERR_USAGE, &t);
    if (rc == PF_OK) {
        rc = fill_table(&t, table);
        pf_mtab_close(&t);
    }
    H5Fclose(file);
    if (rc != PF_OK) {
        pf_metrics_table_free(table);
        return pf_fail_prefix(rc, "%s", path);
    }
    return PF_OK;
}

void pf_metrics_table_free(pf_metrics_table *table)
{
    if (!table)
        return;
    for (int j = 0; j < table->n_metrics; j++)
        free(table->names[j]);
    free(table->names);
    free(table->steps);
    free(table->values);
    memset(table, 0, sizeof *table);
}
