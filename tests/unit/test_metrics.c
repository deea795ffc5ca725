/*
 * test_metrics.c: metrics.h5 (src/io/metrics.c, metrics_read.c): rows with varying
 * metric sets read back exactly with NaN padding, nested names as group paths, the
 * on-disk layout (types, chunking, unlimited dims, columns attribute, v110 superblock),
 * truncation on resume, fresh files, reading while a run appends (also with the file
 * held open by a reader), and errors (status, message naming the file and dataset,
 * file left unchanged).
 *
 * Every test works in its own fresh temporary folder, removed at the end.
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_run.h"
#include "prefopt/error.h"
#include "prefopt/metrics.h"
#include "testutil.h"

static char tmp_root[256];
static char path[512];

/* Creates a fresh temporary folder and sets path to <folder>/metrics.h5. */
static void setup_tmp(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmp_root, sizeof tmp_root, "%s/pf_metrics_XXXXXX", base);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmp_root));
    snprintf(path, sizeof path, "%s/metrics.h5", tmp_root);
}

/* Removes the files a test may leave in tmp_root, then the folder. */
static void cleanup_tmp(void)
{
    const char *names[] = {"metrics.h5", "metrics.h5.tmp", "other.h5", "text.txt"};
    char p[600];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp_root, names[i]);
        unlink(p);
    }
    CU_ASSERT_EQUAL(rmdir(tmp_root), 0);
}

/* Appends one row and asserts success. */
static void append_ok(int64_t step, int n, const char *const *names, const double *values)
{
    int rc = pf_metrics_append(path, step, n, names, values);
    if (rc != PF_OK)
        fprintf(stderr, "append failed: %s\n", pf_error_message());
    CU_ASSERT_EQUAL_FATAL(rc, PF_OK);
}

/* Column index of name in t, or -1. */
static int col(const pf_metrics_table *t, const char *name)
{
    for (int j = 0; j < t->n_metrics; j++)
        if (strcmp(t->names[j], name) == 0)
            return j;
    return -1;
}

/* Value at row r of column name (asserting the column exists). */
static double at(const pf_metrics_table *t, int64_t r, const char *name)
{
    int j = col(t, name);
    CU_ASSERT_FATAL(j >= 0 && r < t->n_rows);
    return t->values[r * t->n_metrics + j];
}

/* Bitwise equality of two doubles (distinguishes -0.0, exact for every value). */
static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void test_varying_sets(void)
{
    pf_metrics_table t;
    setup_tmp();
    CU_ASSERT_EQUAL_FATAL(pf_metrics_prepare(path, 1, 0), PF_OK);
    const char *n1[] = {"loss", "lr"};
    const double v1[] = {0.693, 1e-4};
    const char *n2[] = {"rewards/chosen", "loss"};
    const double v2[] = {0.25, 0.5};
    const char *n3[] = {"lr"};
    const double v3[] = {5e-5};
    append_ok(10, 2, n1, v1);
    append_ok(20, 2, n2, v2);
    append_ok(30, 1, n3, v3);
    append_ok(40, 0, NULL, NULL);
    CU_ASSERT_EQUAL_FATAL(pf_metrics_read(path, &t), PF_OK);
    CU_ASSERT_EQUAL_FATAL(t.n_metrics, 3);
    CU_ASSERT_EQUAL_FATAL(t.n_rows, 4);
    CU_ASSERT_STRING_EQUAL(t.names[0], "loss");
    CU_ASSERT_STRING_EQUAL(t.names[1], "lr");
    CU_ASSERT_STRING_EQUAL(t.names[2], "rewards/chosen");
    CU_ASSERT(t.steps[0] == 10 && t.steps[1] == 20 && t.steps[2] == 30 && t.steps[3] == 40);
    CU_ASSERT(at(&t, 0, "loss") == 0.693 && at(&t, 0, "lr") == 1e-4);
    CU_ASSERT(isnan(at(&t, 0, "rewards/chosen")));
    CU_ASSERT(at(&t, 1, "loss") == 0.5 && isnan(at(&t, 1, "lr")));
    CU_ASSERT(at(&t, 1, "rewards/chosen") == 0.25);
    CU_ASSERT(isnan(at(&t, 2, "loss")) && at(&t, 2, "lr") == 5e-5);
    CU_ASSERT(isnan(at(&t, 2, "rewards/chosen")));
    for (int j = 0; j < 3; j++)
        CU_ASSERT(isnan(t.values[3 * 3 + j]));
    pf_metrics_table_free(&t);
    CU_ASSERT_EQUAL(access(path, F_OK), 0);
    cleanup_tmp();
}

static void test_exact_values(void)
{
    pf_metrics_table t;
    setup_tmp();
    const char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    const double v[] = {
        0.1, -0.0, 1e-300, 1.7976931348623157e308, INFINITY, -INFINITY, 4.9406564584124654e-324,
        NAN};
    append_ok(-3, 8, names, v); /* absent file: created by append */
    CU_ASSERT_EQUAL_FATAL(pf_metrics_read(path, &t), PF_OK);
    CU_ASSERT_EQUAL_FATAL(t.n_rows, 1);
    CU_ASSERT_EQUAL(t.steps[0], -3);
    for (int j = 0; j < 7; j++)
        CU_ASSERT(same_bits(t.values[j], v[j]));
    CU_ASSERT(isnan(t.values[7]));
    pf_metrics_table_free(&t);
    cleanup_tmp();
}

/* Checks that /metrics/<name> is a chunked, unlimited 1-D dataset of type want with
 * rows rows. */
static void check_dataset(hid_t file, const char *name, hid_t want, hsize_t rows)
{
    char full[256];
    hsize_t dims = 0, maxdims = 0, chunk = 0;
    snprintf(full, sizeof full, "/metrics/%s", name);
    hid_t dset = H5Dopen2(file, full, H5P_DEFAULT);
    CU_ASSERT_FATAL(dset >= 0);
    hid_t type = H5Dget_type(dset), space = H5Dget_space(dset), dcpl = H5Dget_create_plist(dset);
    CU_ASSERT(H5Tequal(type, want) > 0);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_ndims(space), 1);
    H5Sget_simple_extent_dims(space, &dims, &maxdims);
    CU_ASSERT_EQUAL(dims, rows);
    CU_ASSERT(maxdims == H5S_UNLIMITED);
    CU_ASSERT_EQUAL(H5Pget_layout(dcpl), H5D_CHUNKED);
    CU_ASSERT_EQUAL(H5Pget_chunk(dcpl, 1, &chunk), 1);
    CU_ASSERT_EQUAL(chunk, 1024);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Tclose(type);
    H5Dclose(dset);
}

/* Reads the /metrics attribute columns as n strings joined by '|' into buf. */
static int columns_attr(hid_t file, char *buf, size_t size)
{
    char *names[16] = {0};
    hid_t attr = H5Aopen_by_name(file, "/metrics", "columns", H5P_DEFAULT, H5P_DEFAULT);
    hid_t space = H5Aget_space(attr), type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    int n = (int)H5Sget_simple_extent_npoints(space);
    buf[0] = '\0';
    if (n > 0 && n <= 16 && H5Aread(attr, type, names) >= 0)
        for (int i = 0; i < n; i++) {
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "|" : "", names[i]);
            H5free_memory(names[i]);
        }
    H5Tclose(type);
    H5Sclose(space);
    H5Aclose(attr);
    return n;
}

static void test_nested_layout(void)
{
    char cols[512];
    setup_tmp();
    const char *names[] = {"eval/rewards/accuracies", "loss", "rewards/chosen", "eval/loss"};
    const double v[] = {0.75, 0.5, 0.125, 0.625};
    append_ok(7, 4, names, v);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(file >= 0);
    check_dataset(file, "step", H5T_STD_I64LE, 1);
    for (int i = 0; i < 4; i++)
        check_dataset(file, names[i], H5T_IEEE_F64LE, 1);
    hid_t group = H5Oopen(file, "/metrics/eval/rewards", H5P_DEFAULT);
    CU_ASSERT(group >= 0 && H5Iget_type(group) == H5I_GROUP);
    if (group >= 0)
        H5Oclose(group);
    CU_ASSERT_EQUAL(columns_attr(file, cols, sizeof cols), 4);
    CU_ASSERT_STRING_EQUAL(cols, "eval/rewards/accuracies|loss|rewards/chosen|eval/loss");
    H5F_info2_t finfo;
    CU_ASSERT(H5Fget_info2(file, &finfo) >= 0);
    CU_ASSERT_EQUAL(finfo.super.version, 3); /* libver bounds v110 */
    double got = 0.0;
    hid_t dset = H5Dopen2(file, "/metrics/eval/rewards/accuracies", H5P_DEFAULT);
    CU_ASSERT(H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &got) >= 0);
    CU_ASSERT_EQUAL(got, 0.75);
    H5Dclose(dset);
    H5Fclose(file);
    cleanup_tmp();
}

/* Writes rows at steps 10..50 of metric a (= step / 10) and b only at step 50. */
static void write_five_rows(void)
{
    const char *names[] = {"a", "b"};
    for (int64_t s = 10; s <= 50; s += 10) {
        const double v[] = {(double)s / 10.0, 99.0};
        append_ok(s, s == 50 ? 2 : 1, names, v);
    }
}

static void test_truncate_on_resume(void)
{
    pf_metrics_table t;
    setup_tmp();
    CU_ASSERT_EQUAL_FATAL(pf_metrics_prepare(path, 0, 0), PF_OK); /* absent: created */
    write_five_rows();
    CU_ASSERT_EQUAL_FATAL(pf_metrics_prepare(path, 0, 100), PF_OK); /* keeps all */
    CU_ASSERT_EQUAL_FATAL(pf_metrics_read(path, &t), PF_OK);
    CU_ASSERT_EQUAL(t.n_rows, 5);
    pf_metrics_table_free(&t);
    CU_ASSERT_EQUAL_FATAL(pf_metrics_prepare(path, 0, 35), PF_OK);
    CU_ASSERT_EQUAL_FATAL(pf_metrics_read(path, &t), PF_OK);
    CU_ASSERT_EQUAL_FATAL(t.n_rows, 3);
    CU_ASSERT_EQUAL_FATAL(t.n_metrics, 2); /* columns stay, NaN throughout */
    CU_ASSERT(t.steps[2] == 30 && at(&t, 2, "a") == 3.0 && isnan(at(&t, 2, "b")));
    pf_metrics_table_free(&t);
    const char *names[] = {"a", "c"};
    const double v[] = {4.5, 7.0};
    append_ok(40, 1, names, v);
    append_ok(50, 2, names, v); /* the old step-50 b = 99 must not come back */
    CU_ASSERT_EQUAL_FATAL(pf_metrics_read(path, &t), PF_OK);
    CU_ASSERT_EQUAL_FATAL(t.n_rows, 5);
    CU_ASSERT(t.steps[3] == 40 && at(&t, 3, "a") == 4.5 && isnan(at(&t, 3, "b")));
    CU_ASSERT(isnan(at(&t, 4, "b")) && at(&t, 4, "c") == 7.0 && isnan(at(&t, 3, "c")));
    pf_metrics_table_free(&t);
    CU_ASSERT_EQUAL_FATAL(pf_metrics_prepare(path, 0, 0), PF_OK);
    CU_ASSERT_EQUAL_FATAL(pf_metrics_read(path, &t), PF_OK);
    CU_ASSERT(t.n_rows == 0 && t.n_metrics == 3 && !t.steps && !t.values);
    pf_metrics_table_free(&t);
    cleanup_tmp();
}

static void test_fresh(void)
{
    pf_metrics_table t;
    setup_tmp();
    write_five_rows();
    CU_ASSERT_EQUAL_FATAL(pf_metrics_prepare(path, 1, 1000), PF_OK);
    CU_ASSERT_EQUAL_FATAL(pf_metrics_read(path, &t), PF_OK);
    CU_ASSERT(t.n_rows == 0 && t.n_metrics == 0);
    pf_metrics_table_free(&t);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0);
    cleanup_tmp();
}

/* Reads the length of /metrics/step and its last value through an open file id. */
static hsize_t step_rows(hid_t file, int64_t *last)
{
    hsize_t dims = 0;
    hid_t dset = H5Dopen2(file, "/metrics/step", H5P_DEFAULT);
    hid_t space = H5Dget_space(dset);
    H5Sget_simple_extent_dims(space, &dims, NULL);
    int64_t buf[8] = {0};
    if (dims > 0 && dims <= 8)
        H5Dread(dset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    *last = dims > 0 && dims <= 8 ? buf[dims - 1] : -1;
    H5Sclose(space);
    H5Dclose(dset);
    return dims;
}

static void test_read_while_running(void)
{
    int64_t last = 0;
    setup_tmp();
    CU_ASSERT_EQUAL_FATAL(pf_metrics_prepare(path, 1, 0), PF_OK);
    const char *names[] = {"loss"};
    const double v[] = {1.0};
    append_ok(1, 1, names, v);
    /* The append closed the file: another reader opens it like h5py would. */
    hid_t reader = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(reader >= 0);
    CU_ASSERT_EQUAL(step_rows(reader, &last), 1);
    CU_ASSERT_EQUAL(last, 1);
    /* A reader holding the file open (and HDF5's lock) does not stop the run. */
    append_ok(2, 1, names, v);
    append_ok(3, 1, names, v);
    CU_ASSERT_EQUAL(step_rows(reader, &last), 1); /* its snapshot stays consistent */
    H5Fclose(reader);
    reader = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(reader >= 0);
    CU_ASSERT_EQUAL(step_rows(reader, &last), 3);
    CU_ASSERT_EQUAL(last, 3);
    H5Fclose(reader);
    cleanup_tmp();
}

static void test_many_rows(void)
{
    pf_metrics_table t;
    setup_tmp();
    const char *names[] = {"x", "late/y"};
    for (int64_t r = 0; r < 1040; r++) {
        const double v[] = {(double)r * 0.5, -(double)r};
        append_ok(r, r >= 1030 ? 2 : 1, names, v); /* crosses a chunk */
    }
    CU_ASSERT_EQUAL_FATAL(pf_metrics_read(path, &t), PF_OK);
    CU_ASSERT_EQUAL_FATAL(t.n_rows, 1040);
    int ok = 1;
    for (int64_t r = 0; r < 1040; r++) {
        ok = ok && t.steps[r] == r && at(&t, r, "x") == (double)r * 0.5;
        ok = ok && (r >= 1030 ? at(&t, r, "late/y") == -(double)r : isnan(at(&t, r, "late/y")));
    }
    CU_ASSERT(ok);
    pf_metrics_table_free(&t);
    cleanup_tmp();
}

/* Asserts that the last call failed with code and a message containing both parts. */
static void expect_error(int rc, int code, const char *part1, const char *part2)
{
    CU_ASSERT_EQUAL(rc, code);
    const char *msg = pf_error_message();
    int ok = strstr(msg, part1) && (!part2 || strstr(msg, part2));
    if (!ok)
        fprintf(stderr, "unexpected message: %s\n", msg);
    CU_ASSERT(ok);
}

static void test_read_errors(void)
{
    pf_metrics_table t;
    char other[600];
    setup_tmp();
    expect_error(pf_metrics_read(path, &t), PF_ERR_USAGE, path, "no such file");
    expect_error(pf_metrics_read(tmp_root, &t), PF_ERR_USAGE, tmp_root, "not a regular file");
    snprintf(other, sizeof other, "%s/text.txt", tmp_root);
    FILE *fp = fopen(other, "w");
    fputs("not hdf5\n", fp);
    fclose(fp);
    expect_error(pf_metrics_read(other, &t), PF_ERR_USAGE, other, "not an HDF5 file");
    snprintf(other, sizeof other, "%s/other.h5", tmp_root);
    H5Fclose(H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    expect_error(pf_metrics_read(other, &t), PF_ERR_USAGE, other, "/metrics: missing group");
    write_five_rows();
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t dset = H5Dopen2(file, "/metrics/b", H5P_DEFAULT);
    hsize_t two = 2;
    CU_ASSERT(H5Dset_extent(dset, &two) >= 0);
    H5Dclose(dset);
    H5Fclose(file);
    expect_error(pf_metrics_read(path, &t), PF_ERR_USAGE, path, "/metrics/b: 2 rows");
    CU_ASSERT(t.n_metrics == 0 && !t.names && !t.values); /* nothing to free */
    file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT(H5Ldelete(file, "/metrics/a", H5P_DEFAULT) >= 0);
    H5Fclose(file);
    expect_error(pf_metrics_read(path, &t), PF_ERR_USAGE, path, "/metrics/a: missing dataset");
    cleanup_tmp();
}

/* Asserts that appending (step, names) fails with a message containing part and
 * leaves the file byte-for-byte unchanged. */
static void expect_append_error(int64_t step, int n, const char *const *names, const char *part)
{
    size_t n0 = 0, n1 = 0;
    const double v[4] = {1, 2, 3, 4};
    char *before = tu_slurp(path, &n0);
    expect_error(pf_metrics_append(path, step, n, names, v), PF_ERR_RUNTIME, path, part);
    char *after = tu_slurp(path, &n1);
    CU_ASSERT(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);
}

static void test_write_errors(void)
{
    setup_tmp();
    write_five_rows();
    const char *bad[] = {"", "/a", "a/", "a//b", "step", "x/./y", "step/x", "a\tb", "../z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_append_error(60, 1, &bad[i], "metric name");
    const char *twice[] = {"a", "a"};
    expect_append_error(60, 2, twice, "repeated");
    const char *clash_row[] = {"g", "g/h"};
    expect_append_error(60, 2, clash_row, "clash");
    const char *clash_old[] = {"a/x"};
    expect_append_error(60, 1, clash_old, "existing metric 'a'");
    const char *ok[] = {"a"};
    expect_append_error(50, 1, ok, "not after the last row's step 50");
    char other[600];
    snprintf(other, sizeof other, "%s/text.txt", tmp_root);
    FILE *fp = fopen(other, "w");
    fputs("not hdf5\n", fp);
    fclose(fp);
    const double v[] = {1.0};
    expect_error(pf_metrics_append(other, 1, 1, ok, v), PF_ERR_RUNTIME, other, "not an HDF5");
    expect_error(pf_metrics_prepare(other, 0, 5), PF_ERR_RUNTIME, other, "not an HDF5");
    snprintf(other, sizeof other, "%s/missing/metrics.h5", tmp_root);
    expect_error(pf_metrics_prepare(other, 1, 0), PF_ERR_RUNTIME, other, NULL);
    expect_error(pf_metrics_append(other, 1, 1, ok, v), PF_ERR_RUNTIME, other, NULL);
    cleanup_tmp();
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"varying_sets", test_varying_sets},
        {"exact_values", test_exact_values},
        {"nested_layout", test_nested_layout},
        {"truncate_on_resume", test_truncate_on_resume},
        {"fresh", test_fresh},
        {"read_while_running", test_read_while_running},
        {"many_rows", test_many_rows},
        {"read_errors", test_read_errors},
        {"write_errors", test_write_errors},
        {NULL, NULL},
    };
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return pf_cunit_run("metrics", cases);
}
