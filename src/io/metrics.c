/*
 * metrics.c: writing RUN_DIR/metrics.h5 (pf_metrics_prepare, pf_metrics_append).
 *
 * Every change is one atomic file replacement: the current file is read into memory,
 * opened there with HDF5's core driver (no backing store), extended or shrunk, closed,
 * and the resulting image is written to PATH.tmp, fsync'ed and renamed onto PATH
 * (pf_h5_image_write, h5image.c). Hence:
 *  - metrics.h5 is closed and consistent between appends (and at every instant: a
 *    reader sees the previous table or the new one, never a half-written one);
 *  - the writer never takes HDF5's file lock on PATH, so h5py or h5dump holding the
 *    file open cannot make an append fail (the reader keeps seeing the version it
 *    opened until it reopens the file);
 *  - a failed append (disk full, bad metric name) leaves the previous file untouched.
 * The cost is rewriting the file per log interval: a few hundred KiB for typical runs.
 *
 * Layout and rules: metrics_internal.h and docs/formats.md ("metrics.h5"). Metric
 * datasets have fill value NaN, so a metric first logged at row r reads NaN in rows
 * 0..r-1; a row that lacks an existing metric writes NaN for it explicitly.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5image.h"
#include "io/h5util.h"
#include "io/metrics_internal.h"
#include "prefopt/error.h"
#include "prefopt/metrics.h"

enum {
    CHUNK_ROWS = 1024,  /* rows per HDF5 chunk */
    MAX_NAME_LEN = 255, /* longest accepted metric name (bytes) */
};

/* Reads the whole file at path into *bytes (malloc'ed); *exists = 0 when absent. */
static int load_file(const char *path, void **bytes, size_t *size, int *exists)
{
    struct stat st;
    *bytes = NULL;
    *exists = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return errno == ENOENT ? PF_OK
                               : pf_fail(PF_ERR_RUNTIME, "cannot open: %s", strerror(errno));
    int rc = PF_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        rc = pf_fail(PF_ERR_RUNTIME, "not a metrics file (not a regular, non-empty file)");
    char *buf = rc == PF_OK ? malloc((size_t)st.st_size) : NULL;
    if (rc == PF_OK && !buf)
        rc = pf_fail(PF_ERR_RUNTIME, "out of memory reading %lld bytes", (long long)st.st_size);
    for (size_t done = 0; rc == PF_OK && done < (size_t)st.st_size;) {
        ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = pf_fail(PF_ERR_RUNTIME, "cannot read: %s", n < 0 ? strerror(errno) : "truncated");
        else
            done += (size_t)n;
    }
    close(fd);
    if (rc != PF_OK) {
        free(buf);
        return rc;
    }
    *bytes = buf;
    *size = (size_t)st.st_size;
    *exists = 1;
    return PF_OK;
}

/* (Re)writes the /metrics attribute columns: the n names as 1-D vlen UTF-8 strings. */
static int write_columns(hid_t group, char *const *cols, int n)
{
    hsize_t dims = (hsize_t)n;
    if (H5Aexists(group, "columns") > 0 && H5Adelete(group, "columns") < 0)
        return pf_fail(PF_ERR_RUNTIME, "/metrics attribute columns: cannot be replaced");
    hid_t type = H5Tcopy(H5T_C_S1);
    hid_t space = H5Screate_simple(1, &dims, NULL);
    int ok = type >= 0 && space >= 0 && H5Tset_size(type, H5T_VARIABLE) >= 0 &&
             H5Tset_cset(type, H5T_CSET_UTF8) >= 0;
    hid_t attr = ok ? H5Acreate2(group, "columns", type, space, H5P_DEFAULT, H5P_DEFAULT) : -1;
    ok = attr >= 0 && (n == 0 || H5Awrite(attr, type, cols) >= 0);
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return ok ? PF_OK : pf_fail(PF_ERR_RUNTIME, "/metrics attribute columns: cannot be written");
}

/* Creates the 1-D extendible dataset /metrics/<name> of type ftype with rows rows
 * (chunked; float datasets get fill value NaN), creating intermediate groups. */
static int create_dataset(hid_t group, const char *name, hid_t ftype, int64_t rows)
{
    char text[512];
    const double nan = NAN;
    hsize_t dims = (hsize_t)rows, maxdims = H5S_UNLIMITED, chunk = CHUNK_ROWS;
    hid_t space = H5Screate_simple(1, &dims, &maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    int ok =
        space >= 0 && dcpl >= 0 && lcpl >= 0 && H5Pset_chunk(dcpl, 1, &chunk) >= 0 &&
        H5Pset_create_intermediate_group(lcpl, 1) >= 0 &&
        (H5Tget_class(ftype) != H5T_FLOAT || H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan) >= 0);
    hid_t dset = ok ? H5Dcreate2(group, name, ftype, space, lcpl, dcpl, H5P_DEFAULT) : -1;
    int rc = dset < 0 ? pf_fail(PF_ERR_RUNTIME, "/metrics/%s: cannot create dataset: %s", name,
                                pf_h5_error_text(text, sizeof text))
                      : PF_OK;
    if (dset >= 0 && H5Dclose(dset) < 0 && rc == PF_OK)
        rc = pf_fail(PF_ERR_RUNTIME, "/metrics/%s: cannot close dataset", name);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

/* Writes the empty table: "/" format attributes, /metrics, its step dataset and an
 * empty columns attribute. */
static int create_layout(hid_t file)
{
    hid_t group = -1;
    int rc = pf_h5_write_str_attr(file, "format", PF_METRICS_FORMAT);
    if (rc == PF_OK)
        rc = pf_h5_write_i64_attr(file, "format_version", PF_METRICS_VERSION);
    if (rc == PF_OK)
        rc = pf_h5_create_group(file, "metrics", &group);
    if (rc == PF_OK)
        rc = create_dataset(group, "step", H5T_STD_I64LE, 0);
    if (rc == PF_OK)
        rc = write_columns(group, NULL, 0);
    if (group >= 0)
        H5Gclose(group);
    return rc == PF_OK ? PF_OK : pf_fail_prefix(PF_ERR_RUNTIME, "cannot create the table");
}

/* Resizes dataset /metrics/<name> to rows rows and writes count elements of data
 * (memory type mtype) from row start. */
static int write_rows(hid_t group, const char *name, hid_t mtype, int64_t rows, int64_t start,
                      int64_t count, const void *data)
{
    hsize_t n = (hsize_t)rows, s = (hsize_t)start, c = (hsize_t)count;
    hid_t dset = H5Dopen2(group, name, H5P_DEFAULT);
    int ok = dset >= 0 && H5Dset_extent(dset, &n) >= 0;
    hid_t fspace = ok && count > 0 ? H5Dget_space(dset) : -1;
    hid_t mspace = ok && count > 0 ? H5Screate_simple(1, &c, NULL) : -1;
    if (ok && count > 0)
        ok = fspace >= 0 && mspace >= 0 &&
             H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &s, NULL, &c, NULL) >= 0 &&
             H5Dwrite(dset, mtype, mspace, fspace, H5P_DEFAULT, data) >= 0;
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    if (dset >= 0 && H5Dclose(dset) < 0)
        ok = 0;
    return ok ? PF_OK : pf_fail(PF_ERR_RUNTIME, "/metrics/%s: cannot be written", name);
}

/* Checks a metric name: 1..255 bytes, '/'-separated non-empty parts other than "." and
 * "..", no control characters, and not "step". */
static int check_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME_LEN)
        return pf_fail(PF_ERR_RUNTIME, "metric name '%.60s': must have 1 to %d bytes", name,
                       MAX_NAME_LEN);
    if (strcmp(name, "step") == 0)
        return pf_fail(PF_ERR_RUNTIME, "metric name 'step': reserved for the step column");
    for (const char *part = name;; part++) {
        size_t n = strcspn(part, "/");
        int dots = (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.');
        if (n == 0 || dots)
            return pf_fail(PF_ERR_RUNTIME,
                           "metric name '%s': empty, '.' or '..' part between '/' separators",
                           name);
        part += n;
        if (*part == '\0')
            break;
    }
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return pf_fail(PF_ERR_RUNTIME, "metric name '%s': control character", name);
    return PF_OK;
}

/* Whether a is a group level of b ("rewards" of "rewards/chosen") or b of a: such two
 * names cannot both be datasets. */
static int names_clash(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la < lb)
        return strncmp(a, b, la) == 0 && b[la] == '/';
    return lb < la && strncmp(a, b, lb) == 0 && a[lb] == '/';
}

/* Index of name among the first n columns of t, or -1. */
static int find_column(const pf_mtab *t, int n, const char *name)
{
    for (int j = 0; j < n; j++)
        if (strcmp(t->cols[j], name) == 0)
            return j;
    return -1;
}

/* Checks one row before anything is written: step after the last row's, valid and
 * distinct names, and no name that would be both a dataset and a group. */
static int check_row(const pf_mtab *t, int64_t step, int n, const char *const *names)
{
    if (t->n_rows > 0 && step <= t->last_step)
        return pf_fail(PF_ERR_RUNTIME, "step %lld: not after the last row's step %lld",
                       (long long)step, (long long)t->last_step);
    for (int i = 0; i < n; i++) {
        int rc = names[i] ? check_name(names[i]) : pf_fail(PF_ERR_RUNTIME, "metric name NULL");
        if (rc != PF_OK)
            return rc;
        for (int k = 0; k < i; k++)
            if (strcmp(names[k], names[i]) == 0 || names_clash(names[k], names[i]))
                return pf_fail(PF_ERR_RUNTIME, "metric names '%s' and '%s': %s in one row",
                               names[k], names[i],
                               strcmp(names[k], names[i]) == 0 ? "repeated" : "clash");
        if (names_clash(names[i], "step"))
            return pf_fail(PF_ERR_RUNTIME, "metric name '%s': clashes with step", names[i]);
        for (int j = 0; j < t->n_cols; j++)
            if (names_clash(names[i], t->cols[j]))
                return pf_fail(PF_ERR_RUNTIME,
                               "metric name '%s': clashes with the existing metric '%s' (one "
                               "would have to be a group)",
                               names[i], t->cols[j]);
    }
    return PF_OK;
}

/* Adds metric name as a new column: its dataset (rows rows, NaN but value in the last
 * row) and its entry in t->cols; the columns attribute is rewritten by the caller. */
static int add_column(pf_mtab *t, const char *name, int64_t rows, double value)
{
    char **grown = realloc(t->cols, (size_t)(t->n_cols + 1) * sizeof *grown);
    if (!grown)
        return pf_fail(PF_ERR_RUNTIME, "out of memory");
    t->cols = grown;
    if (!(t->cols[t->n_cols] = strdup(name)))
        return pf_fail(PF_ERR_RUNTIME, "out of memory");
    t->n_cols++;
    int rc = create_dataset(t->group, name, H5T_IEEE_F64LE, rows - 1);
    if (rc == PF_OK)
        rc = write_rows(t->group, name, H5T_NATIVE_DOUBLE, rows, rows - 1, 1, &value);
    return rc;
}

/* The value of metric name in the row, or NaN when the row lacks it. */
static double row_value(const char *name, int n, const char *const *names, const double *values)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return values[i];
    return NAN;
}

/* One row handed to append_edit. */
typedef struct {
    int64_t step;
    int n;
    const char *const *names;
    const double *values;
} metrics_row;

/* Appends the row: step, then every existing column (NaN where the row lacks it), then
 * new columns in the row's order, then the updated columns attribute. */
static int append_edit(pf_mtab *t, const void *ctx)
{
    const metrics_row *row = ctx;
    int64_t rows = t->n_rows + 1;
    int old_cols = t->n_cols;
    int rc = check_row(t, row->step, row->n, row->names);
    if (rc == PF_OK)
        rc = write_rows(t->group, "step", H5T_NATIVE_INT64, rows, rows - 1, 1, &row->step);
    for (int j = 0; j < old_cols && rc == PF_OK; j++) {
        double v = row_value(t->cols[j], row->n, row->names, row->values);
        rc = write_rows(t->group, t->cols[j], H5T_NATIVE_DOUBLE, rows, rows - 1, 1, &v);
    }
    for (int i = 0; i < row->n && rc == PF_OK; i++)
        if (find_column(t, old_cols, row->names[i]) < 0)
            rc = add_column(t, row->names[i], rows, row->values[i]);
    if (rc == PF_OK && t->n_cols > old_cols)
        rc = write_columns(t->group, t->cols, t->n_cols);
    if (rc == PF_OK) {
        t->n_rows = rows;
        t->last_step = row->step;
    }
    return rc;
}

/* Drops the rows from the first one whose step exceeds *(const int64_t *)ctx on. */
static int truncate_edit(pf_mtab *t, const void *ctx)
{
    const int64_t keep = *(const int64_t *)ctx;
    if (t->n_rows == 0 || t->last_step <= keep)
        return PF_OK;
    int64_t *steps = malloc((size_t)t->n_rows * sizeof *steps);
    if (!steps)
        return pf_fail(PF_ERR_RUNTIME, "out of memory");
    int rc = pf_mtab_read_column(t, "step", H5T_NATIVE_INT64, steps, PF_ERR_RUNTIME);
    int64_t cut = 0;
    while (rc == PF_OK && cut < t->n_rows && steps[cut] <= keep)
        cut++;
    if (rc == PF_OK)
        rc = write_rows(t->group, "step", H5T_NATIVE_INT64, cut, 0, 0, NULL);
    for (int j = 0; j < t->n_cols && rc == PF_OK; j++)
        rc = write_rows(t->group, t->cols[j], H5T_NATIVE_DOUBLE, cut, 0, 0, NULL);
    if (rc == PF_OK) {
        t->n_rows = cut;
        t->last_step = cut > 0 ? steps[cut - 1] : 0;
    }
    free(steps);
    return rc;
}

/* A change to the open table. */
typedef int (*edit_fn)(pf_mtab *t, const void *ctx);

/* What fill_table does to the in-memory file. */
typedef struct {
    int exists;   /* 0: the file is new, write the empty table first */
    edit_fn edit; /* NULL: no change */
    const void *ctx;
} table_edit;

/* Opens the table of the in-memory file (after creating it in a new file) and applies
 * the edit (a pf_h5_image_fill_fn). */
static int fill_table(hid_t file, const void *ctx)
{
    const table_edit *e = ctx;
    pf_mtab t;
    int rc = e->exists ? PF_OK : create_layout(file);
    if (rc == PF_OK)
        rc = pf_mtab_open(file, PF_ERR_RUNTIME, &t);
    if (rc != PF_OK)
        return rc;
    if (e->edit)
        rc = e->edit(&t, e->ctx);
    pf_mtab_close(&t);
    return rc;
}

/* Loads path (unless fresh), or starts an empty table when fresh or absent, applies
 * edit in memory and replaces path atomically with the result (pf_h5_image_write). Any
 * failure is PF_ERR_RUNTIME naming path, and leaves path as it was. */
static int edit_file(const char *path, int fresh, edit_fn edit, const void *ctx)
{
    void *bytes = NULL;
    size_t size = 0;
    table_edit e = {0, edit, ctx};
    int rc = fresh ? PF_OK : load_file(path, &bytes, &size, &e.exists);
    if (rc == PF_OK) /* names path */
        rc = pf_h5_image_write(path, e.exists ? bytes : NULL, size, 0, fill_table, &e);
    else
        pf_fail_prefix(rc, "%s", path);
    free(bytes);
    return rc == PF_OK ? PF_OK : PF_ERR_RUNTIME;
}

int pf_metrics_prepare(const char *path, int fresh, int64_t keep_up_to_step)
{
    return edit_file(path, fresh, fresh ? NULL : truncate_edit, &keep_up_to_step);
}

int pf_metrics_append(const char *path, int64_t step, int n, const char *const *names,
                      const double *values)
{
    if (n < 0 || (n > 0 && (!names || !values)))
        return pf_fail(PF_ERR_RUNTIME, "%s: invalid metrics row (%d values)", path, n);
    metrics_row row = {step, n, names, values};
    return edit_file(path, 0, append_edit, &row);
}
