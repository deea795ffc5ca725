/*
 * test_checkpoint.c: HDF5 checkpoints: bit-exact round trips (parameters, metadata,
 * optimizer state), validation errors (status code, and a message naming the file and
 * the tensor or attribute), atomic writes that leave the previous file intact when
 * they fail, and run-folder reading that skips unreadable newest checkpoints.
 *
 * Every test works in its own fresh temporary folder, removed at the end.
 */
#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_run.h"
#include "prefopt/checkpoint.h"
#include "prefopt/error.h"
#include "prefopt/sha256.h"
#include "testutil.h"

static const pf_model_config TINY = {PF_ARCH_GPT2, 2, 2, 16, 50, 16, 1};

static char tmp_root[256];

/* Creates a fresh temporary folder for one test in tmp_root. */
static void make_tmp_root(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmp_root, sizeof tmp_root, "%s/pf_ckpt_XXXXXX", base);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmp_root));
}

/* Removes path and everything below it. */
static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        char child[1024];
        while (d && (e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            remove_tree(child);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* tmp_root + "/" + name into buf. */
static const char *tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmp_root, name);
    return buf;
}

/* A randomly initialised tiny model (value head included). */
static pf_model *tiny_model(uint64_t seed)
{
    pf_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(pf_model_create(&TINY, 0, &m), PF_OK);
    pf_model_init_random(m, seed);
    return m;
}

/* Writes a model-only checkpoint of tiny_model(seed) at path with the given step. */
static void write_tiny(const char *path, uint64_t seed, int64_t step)
{
    pf_model *m = tiny_model(seed);
    pf_checkpoint_meta meta = {step, "dpo", NULL, 2};
    CU_ASSERT_EQUAL(pf_checkpoint_write(path, m, NULL, &meta), PF_OK);
    pf_model_free(m);
}

/* Whether a file exists. */
static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Expects reading path to fail with code and a message containing both needles. */
static void expect_read_error(const char *path, int code, const char *n1, const char *n2)
{
    pf_model *m = NULL;
    pf_error_clear();
    int rc = pf_checkpoint_read_model(path, 0, &m, NULL);
    CU_ASSERT_EQUAL(rc, code);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), path));
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), n1));
    if (n2)
        CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), n2));
    if (rc == PF_OK)
        pf_model_free(m);
}

/* Parameters, metadata and AdamW state survive a write/read bit for bit. */
static void test_round_trip(void)
{
    char path[512], tmp[520];
    pf_model *m = tiny_model(11), *back = NULL;
    pf_adamw_config acfg = {0.9f, 0.999f, 1e-8f, 0.01f};
    pf_adamw *opt = NULL, *opt_back = NULL;
    pf_checkpoint_meta meta = {42, "dpo", "{\"seed\": 5}", 4}, got;
    make_tmp_root();
    CU_ASSERT_EQUAL_FATAL(pf_adamw_create(m, &acfg, &opt), PF_OK);
    for (size_t i = 0; i < opt->n; i++) {
        opt->m[i] = (float)i * 1e-3f - 0.5f;
        opt->v[i] = (float)(i % 97) * 1e-5f;
    }
    opt->step = 17;
    tmp_path(path, sizeof path, "rt.h5");
    CU_ASSERT_EQUAL_FATAL(pf_checkpoint_write(path, m, opt, &meta), PF_OK);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CU_ASSERT_FALSE(exists(tmp));
    CU_ASSERT_EQUAL_FATAL(pf_checkpoint_read_model(path, 1, &back, &got), PF_OK);
    CU_ASSERT_EQUAL(memcmp(pf_model_get_config(back), &TINY, sizeof TINY), 0);
    CU_ASSERT_EQUAL(
        memcmp(pf_model_params(back), pf_model_params(m), pf_model_num_params(m) * sizeof(float)),
        0);
    CU_ASSERT_PTR_NOT_NULL(pf_model_grads(back));
    CU_ASSERT_EQUAL(got.step, 42);
    CU_ASSERT_STRING_EQUAL(got.algorithm, "dpo");
    CU_ASSERT_STRING_EQUAL(got.config_json, "{\"seed\": 5}");
    CU_ASSERT_EQUAL(got.world_size, 4);
    CU_ASSERT_EQUAL_FATAL(pf_adamw_create(back, &acfg, &opt_back), PF_OK);
    CU_ASSERT_EQUAL(pf_checkpoint_read_optimizer(path, back, opt_back), PF_OK);
    CU_ASSERT_EQUAL(opt_back->step, 17);
    CU_ASSERT_EQUAL(memcmp(opt_back->m, opt->m, opt->n * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(opt_back->v, opt->v, opt->n * sizeof(float)), 0);
    pf_checkpoint_meta_clear(&got);
    pf_adamw_free(opt_back);
    pf_adamw_free(opt);
    pf_model_free(back);
    pf_model_free(m);
    remove_tree(tmp_root);
}

/* params_sha256 is SHA-256 of the float32 tensors in table order, and changes with
 * any parameter. */
static void test_params_sha256(void)
{
    pf_model *m = tiny_model(3);
    char want[65], got[65];
    size_t n = 0;
    for (int i = 0; i < pf_model_num_tensors(m); i++)
        n += pf_model_tensor(m, i)->numel;
    CU_ASSERT_EQUAL(n, pf_model_num_params(m));
    pf_sha256_hex_of(pf_model_params(m), n * sizeof(float), want);
    pf_model_params_sha256(m, got);
    CU_ASSERT_STRING_EQUAL(got, want);
    pf_model_params(m)[n - 1] += 1.0f;
    pf_model_params_sha256(m, got);
    CU_ASSERT_STRING_NOT_EQUAL(got, want);
    pf_model_free(m);
}

/* A model-only checkpoint has no optimizer state: reading it is a usage error. */
static void test_no_optimizer(void)
{
    char path[512];
    pf_model *m = tiny_model(1);
    pf_adamw_config acfg = {0.9f, 0.999f, 1e-8f, 0.0f};
    pf_adamw *opt = NULL;
    int present = 1;
    int64_t step = -1;
    make_tmp_root();
    write_tiny(tmp_path(path, sizeof path, "m.h5"), 1, 0);
    CU_ASSERT_EQUAL_FATAL(pf_adamw_create(m, &acfg, &opt), PF_OK);
    CU_ASSERT_EQUAL(pf_checkpoint_read_optimizer(path, m, opt), PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), path));
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "optimizer"));
    CU_ASSERT_EQUAL(pf_checkpoint_probe_optimizer(path, &present, &step), PF_OK);
    CU_ASSERT_EQUAL(present, 0);
    pf_adamw_free(opt);
    pf_model_free(m);
    remove_tree(tmp_root);
}

/* A missing file and a file that is not HDF5 are usage errors naming the file. */
static void test_missing_and_not_hdf5(void)
{
    char path[512];
    make_tmp_root();
    expect_read_error(tmp_path(path, sizeof path, "absent.h5"), PF_ERR_USAGE, "no such file", NULL);
    FILE *fp = fopen(tmp_path(path, sizeof path, "text.h5"), "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("{\"not\": \"hdf5\"}\n", fp);
    fclose(fp);
    expect_read_error(path, PF_ERR_USAGE, "not an HDF5 file", NULL);
    remove_tree(tmp_root);
}

/* Opens path read-write for tampering. */
static hid_t open_rw(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    return f;
}

/* Replaces dataset name under /model/params with one of type type and shape dims. */
static void replace_tensor(const char *path, const char *name, hid_t type, int ndim,
                           const hsize_t *dims)
{
    hid_t f = open_rw(path);
    hid_t g = H5Gopen2(f, "/model/params", H5P_DEFAULT);
    CU_ASSERT(H5Ldelete(g, name, H5P_DEFAULT) >= 0);
    if (type >= 0) {
        hid_t space = H5Screate_simple(ndim, dims, NULL);
        hid_t d = H5Dcreate2(g, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        CU_ASSERT(d >= 0);
        H5Dclose(d);
        H5Sclose(space);
    }
    H5Gclose(g);
    H5Fclose(f);
}

/* A missing tensor, a wrong shape, a wrong dtype and an unexpected extra tensor are
 * usage errors naming the file and the tensor. */
static void test_bad_tensors(void)
{
    char path[512];
    const hsize_t square[2] = {16, 16}, good[2] = {16, 48}, vec[1] = {5};
    make_tmp_root();
    tmp_path(path, sizeof path, "bad.h5");
    write_tiny(path, 1, 0);
    replace_tensor(path, "h.1.mlp.c_proj.bias", -1, 0, NULL);
    expect_read_error(path, PF_ERR_USAGE, "tensor h.1.mlp.c_proj.bias: missing", NULL);
    write_tiny(path, 1, 0);
    replace_tensor(path, "h.0.attn.c_attn.weight", H5T_IEEE_F32LE, 2, square);
    expect_read_error(path, PF_ERR_USAGE, "tensor h.0.attn.c_attn.weight",
                      "shape [16,16] but expected [16,48]");
    write_tiny(path, 1, 0);
    replace_tensor(path, "h.0.attn.c_attn.weight", H5T_IEEE_F64LE, 2, good);
    expect_read_error(path, PF_ERR_USAGE, "tensor h.0.attn.c_attn.weight",
                      "dtype float64 but expected float32");
    write_tiny(path, 1, 0);
    replace_tensor(path, "h.0.ln_1.bias", H5T_IEEE_F32LE, 1, vec);
    expect_read_error(path, PF_ERR_USAGE, "tensor h.0.ln_1.bias", "shape [5] but expected [16]");
    write_tiny(path, 1, 0);
    hid_t f = open_rw(path);
    hid_t g = H5Gopen2(f, "/model/params", H5P_DEFAULT);
    hid_t space = H5Screate_simple(1, vec, NULL);
    H5Dclose(H5Dcreate2(g, "lm_head.weight", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT));
    H5Sclose(space);
    H5Gclose(g);
    H5Fclose(f);
    expect_read_error(path, PF_ERR_USAGE, "unexpected tensor lm_head.weight", NULL);
    remove_tree(tmp_root);
}

/* Missing or wrong /model attributes are usage errors naming the attribute. */
static void test_bad_model_attrs(void)
{
    char path[512];
    make_tmp_root();
    tmp_path(path, sizeof path, "attrs.h5");
    write_tiny(path, 1, 0);
    hid_t f = open_rw(path);
    H5Adelete_by_name(f, "/model", "n_head", H5P_DEFAULT);
    H5Fclose(f);
    expect_read_error(path, PF_ERR_USAGE, "n_head", "missing");
    write_tiny(path, 1, 0);
    f = open_rw(path);
    hid_t g = H5Gopen2(f, "/model", H5P_DEFAULT);
    H5Adelete(g, "arch");
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 5);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(g, "arch", type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, type, "llama");
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    H5Gclose(g);
    H5Fclose(f);
    expect_read_error(path, PF_ERR_USAGE, "arch", "llama");
    remove_tree(tmp_root);
}

/* Expects path to hold exactly want (len bytes) and no path.tmp to exist. */
static void expect_unchanged(const char *path, const char *want, size_t len)
{
    char tmp[600];
    size_t got_len = 0;
    char *got = tu_slurp(path, &got_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_EQUAL(got_len, len);
    CU_ASSERT(got_len == len && memcmp(got, want, len) == 0);
    free(got);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CU_ASSERT_FALSE(exists(tmp));
}

/* Writing into a missing folder fails with a runtime error naming the path. */
static void test_write_missing_folder(void)
{
    char path[512];
    pf_model *m = tiny_model(1);
    make_tmp_root();
    tmp_path(path, sizeof path, "no/such/folder/x.h5");
    CU_ASSERT_EQUAL(pf_checkpoint_write(path, m, NULL, NULL), PF_ERR_RUNTIME);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), path));
    CU_ASSERT_FALSE(exists(path));
    pf_model_free(m);
    remove_tree(tmp_root);
}

/* Failing writes (tmp path blocked; file-size limit hit mid-write) leave the previous
 * good checkpoint byte-for-byte intact and no tmp file behind. */
static void test_atomic_write(void)
{
    char path[512], tmp[600];
    size_t len = 0;
    struct rlimit saved, small;
    pf_model *m = tiny_model(2);
    make_tmp_root();
    tmp_path(path, sizeof path, "good.h5");
    write_tiny(path, 1, 7);
    char *good = tu_slurp(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    /* 1: PATH.tmp cannot be created (a folder is in the way). */
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CU_ASSERT_EQUAL_FATAL(mkdir(tmp, 0755), 0);
    CU_ASSERT_EQUAL(pf_checkpoint_write(path, m, NULL, NULL), PF_ERR_RUNTIME);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), path));
    rmdir(tmp);
    expect_unchanged(path, good, len);
    /* 2: the disk "fills up" halfway through (RLIMIT_FSIZE, SIGXFSZ ignored). */
    CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 8192;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = pf_checkpoint_write(path, m, NULL, NULL);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);
    CU_ASSERT_EQUAL(rc, PF_ERR_RUNTIME);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), path));
    expect_unchanged(path, good, len);
    pf_model *back = NULL;
    pf_checkpoint_meta meta;
    CU_ASSERT_EQUAL(pf_checkpoint_read_model(path, 0, &back, &meta), PF_OK);
    CU_ASSERT_EQUAL(meta.step, 7);
    pf_checkpoint_meta_clear(&meta);
    pf_model_free(back);
    free(good);
    pf_model_free(m);
    remove_tree(tmp_root);
}

/* A stale PATH.tmp left by a killed writer (here: a torn copy of an older checkpoint)
 * is replaced, never mistaken for the new file. */
static void test_stale_tmp_replaced(void)
{
    char old[512], path[512], tmp[600];
    size_t len = 0;
    pf_model *m = tiny_model(5), *back = NULL;
    make_tmp_root();
    tmp_path(old, sizeof old, "old.h5");
    tmp_path(path, sizeof path, "new.h5");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_tiny(old, 1, 1);
    char *bytes = tu_slurp(old, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
    FILE *fp = fopen(tmp, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fwrite(bytes, 1, len / 3, fp);
    fclose(fp);
    free(bytes);
    CU_ASSERT_EQUAL_FATAL(pf_checkpoint_write(path, m, NULL, NULL), PF_OK);
    CU_ASSERT_FALSE(exists(tmp));
    CU_ASSERT_EQUAL_FATAL(pf_checkpoint_read_model(path, 0, &back, NULL), PF_OK);
    CU_ASSERT_EQUAL(
        memcmp(pf_model_params(back), pf_model_params(m), pf_model_num_params(m) * sizeof(float)),
        0);
    pf_model_free(back);
    pf_model_free(m);
    remove_tree(tmp_root);
}

/* Writes len bytes of path's first half-ish to dst (a torn copy). */
static void write_truncated_copy(const char *src, const char *dst, size_t keep)
{
    size_t len = 0;
    char *buf = tu_slurp(src, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    FILE *fp = fopen(dst, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fwrite(buf, 1, keep < len ? keep : len, fp);
    fclose(fp);
    free(buf);
}

/* Runs pf_checkpoint_read_model_at with stderr captured into log. */
static int read_capturing_stderr(const char *path, const char *log, pf_model **m,
                                 pf_checkpoint_meta *meta, char **resolved)
{
    fflush(stderr);
    int saved = dup(2);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    int rc = pf_checkpoint_read_model_at(path, 0, m, meta, resolved);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    return rc;
}

/* A run folder loads its newest readable checkpoint, warning about the skipped ones. */
static void test_run_dir_newest_valid(void)
{
    char run[512], ckdir[600], p1[700], p2[700], p3[700], p4[700], log[600];
    pf_model *m = NULL, *want = tiny_model(22);
    pf_checkpoint_meta meta;
    char *resolved = NULL;
    size_t len = 0;
    make_tmp_root();
    tmp_path(run, sizeof run, "run");
    snprintf(ckdir, sizeof ckdir, "%s/checkpoints", run);
    mkdir(run, 0755);
    CU_ASSERT_EQUAL(pf_checkpoint_read_model(run, 0, &m, NULL), PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "no checkpoints"));
    mkdir(ckdir, 0755);
    pf_checkpoint_step_path(run, 1, p1, sizeof p1);
    pf_checkpoint_step_path(run, 20, p2, sizeof p2);
    pf_checkpoint_step_path(run, 300, p3, sizeof p3);
    pf_checkpoint_step_path(run, 4000, p4, sizeof p4);
    CU_ASSERT_PTR_NOT_NULL(strstr(p2, "/checkpoints/step-00000020.h5"));
    write_tiny(p1, 11, 1);
    write_tiny(p2, 22, 20);
    write_truncated_copy(p2, p3, 3000);
    write_truncated_copy("/dev/null", p4, 0);
    tmp_path(log, sizeof log, "stderr.log");
    CU_ASSERT_EQUAL_FATAL(read_capturing_stderr(run, log, &m, &meta, &resolved), PF_OK);
    CU_ASSERT_EQUAL(meta.step, 20);
    CU_ASSERT_STRING_EQUAL(resolved, p2);
    CU_ASSERT_EQUAL(memcmp(pf_model_params(m), pf_model_params(want),
                           pf_model_num_params(want) * sizeof(float)),
                    0);
    char *text = tu_slurp(log, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    text[len] = '\0';
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "warning"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, p3));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, p4));
    CU_ASSERT_PTR_NULL(strstr(text, p2));
    free(text);
    free(resolved);
    pf_checkpoint_meta_clear(&meta);
    pf_model_free(m);
    pf_model_free(want);
    remove_tree(tmp_root);
}

/* Listing is newest first and ignores non-canonical names; pruning keeps the newest. */
static void test_list_and_prune(void)
{
    char run[512], path[700];
    int64_t *steps = NULL;
    int n = -1;
    make_tmp_root();
    tmp_path(run, sizeof run, "run");
    CU_ASSERT_EQUAL(pf_checkpoint_list(run, &steps, &n), PF_OK);
    CU_ASSERT_EQUAL(n, 0);
    mkdir(run, 0755);
    snprintf(path, sizeof path, "%s/checkpoints", run);
    mkdir(path, 0755);
    const int64_t made[] = {5, 100000000, 30, 2};
    for (int i = 0; i < 4; i++) {
        pf_checkpoint_step_path(run, made[i], path, sizeof path);
        write_truncated_copy("/dev/null", path, 0);
    }
    snprintf(path, sizeof path, "%s/checkpoints/step-7.h5", run);
    write_truncated_copy("/dev/null", path, 0);
    snprintf(path, sizeof path, "%s/checkpoints/step-00000009.h5.tmp", run);
    write_truncated_copy("/dev/null", path, 0);
    CU_ASSERT_EQUAL_FATAL(pf_checkpoint_list(run, &steps, &n), PF_OK);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    CU_ASSERT(steps[0] == 100000000 && steps[1] == 30 && steps[2] == 5 && steps[3] == 2);
    free(steps);
    CU_ASSERT_EQUAL(pf_checkpoint_prune(run, 2), PF_OK);
    CU_ASSERT_EQUAL_FATAL(pf_checkpoint_list(run, &steps, &n), PF_OK);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT(steps[0] == 100000000 && steps[1] == 30);
    free(steps);
    remove_tree(tmp_root);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"round_trip", test_round_trip},
        {"params_sha256", test_params_sha256},
        {"no_optimizer", test_no_optimizer},
        {"missing_and_not_hdf5", test_missing_and_not_hdf5},
        {"bad_tensors", test_bad_tensors},
        {"bad_model_attrs", test_bad_model_attrs},
        {"write_missing_folder", test_write_missing_folder},
        {"atomic_write", test_atomic_write},
        {"stale_tmp_replaced", test_stale_tmp_replaced},
        {"run_dir_newest_valid", test_run_dir_newest_valid},
        {"list_and_prune", test_list_and_prune},
        {NULL, NULL},
    };
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return pf_cunit_run("checkpoint", cases);
}
