/*
 * inspect.c: `prefopt-mpi inspect [--json] CKPT.h5|RUN_DIR`.
 *
 * Loads a checkpoint (for a run folder: its newest readable one) exactly as training
 * and evaluation would, so a file that inspect accepts is a file they accept, and
 * describes it: metadata, architecture, parameter count and digest, and the tensor
 * table. --json prints one JSON object (the contract keys of DESIGN.md section 2, plus
 * reward_norm_mean / reward_norm_std / reward_norm_n when the file has /reward).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "prefopt/checkpoint.h"
#include "prefopt/error.h"

static const char INSPECT_HELP[] =
    "usage: prefopt-mpi inspect [--json] CKPT.h5|RUN_DIR\n"
    "\n"
    "Describe a checkpoint: metadata, architecture, parameter count, params_sha256 and\n"
    "the tensor table. For a run folder, its newest readable\n"
    "RUN_DIR/checkpoints/step-NNNNNNNN.h5 is used (unreadable newer ones are skipped\n"
    "with a warning).\n"
    "\n"
    "  --json   print one JSON object instead of the table\n"
    "  --help   show this help\n"
    "\n"
    "Exit codes: 0 ok, 2 missing, unreadable or invalid checkpoint.\n";

/* Everything inspect reports about one checkpoint. */
typedef struct {
    char *file; /* the checkpoint file actually read */
    pf_model *model;
    pf_checkpoint_meta meta;
    int has_optimizer;
    int64_t optimizer_step;
    char sha[65];
    int has_reward_norm; /* /reward present (reward models) */
    pf_reward_norm reward_norm;
} inspect_info;

/* Formats a tensor shape as "[a, b]". */
static void shape_text(const pf_tensor *t, char *buf, size_t size)
{
    if (t->ndim == 1)
        snprintf(buf, size, "[%lld]", (long long)t->shape[0]);
    else
        snprintf(buf, size, "[%lld, %lld]", (long long)t->shape[0], (long long)t->shape[1]);
}

/* Prints the human-readable report. */
static void print_table(const inspect_info *info)
{
    const pf_model_config *c = pf_model_get_config(info->model);
    char shape[64];
    printf("checkpoint     %s\n", info->file);
    printf("algorithm      %s\n", info->meta.algorithm[0] ? info->meta.algorithm : "-");
    printf("step           %lld\n", (long long)info->meta.step);
    printf("world_size     %lld\n", (long long)info->meta.world_size);
    printf("arch           %s (n_layer %d, n_head %d, d_model %d, vocab_size %d, "
           "max_seq_len %d)\n",
           pf_arch_name(c->arch), c->n_layer, c->n_head, c->d_model, c->vocab_size, c->max_seq_len);
    printf("value_head     %s\n", c->value_head ? "yes" : "no");
    if (info->has_optimizer)
        printf("optimizer      yes (step %lld)\n", (long long)info->optimizer_step);
    else
        printf("optimizer      no\n");
    if (info->has_reward_norm)
        printf("reward_norm    mean %.6g, std %.6g (over %lld rewards)\n", info->reward_norm.mean,
               info->reward_norm.std, (long long)info->reward_norm.n);
    printf("n_params       %zu\n", pf_model_num_params(info->model));
    printf("params_sha256  %s\n\n", info->sha);
    printf("%-32s %-14s %12s\n", "tensor", "shape", "numel");
    for (int i = 0; i < pf_model_num_tensors(info->model); i++) {
        const pf_tensor *t = pf_model_tensor(info->model, i);
        shape_text(t, shape, sizeof shape);
        printf("%-32s %-14s %12zu\n", t->name, shape, t->numel);
    }
}

/* Builds the tensors array [{"name", "shape", "numel"}...]; NULL when out of memory. */
static cJSON *tensors_json(const pf_model *model)
{
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; list && i < pf_model_num_tensors(model); i++) {
        const pf_tensor *t = pf_model_tensor(model, i);
        double dims[2] = {(double)t->shape[0], (double)t->shape[1]};
        cJSON *item = cJSON_CreateObject();
        cJSON *shape = cJSON_CreateDoubleArray(dims, t->ndim);
        int ok = item && shape && cJSON_AddStringToObject(item, "name", t->name);
        ok = ok && cJSON_AddItemToObject(item, "shape", shape);
        if (ok)
            shape = NULL;
        ok = ok && cJSON_AddNumberToObject(item, "numel", (double)t->numel);
        ok = ok && cJSON_AddItemToArray(list, item);
        cJSON_Delete(shape);
        if (!ok) {
            cJSON_Delete(item);
            cJSON_Delete(list);
            return NULL;
        }
    }
    return list;
}

/* Adds the scalar report fields to obj; returns 0 when out of memory. */
static int add_scalars(cJSON *obj, const inspect_info *info)
{
    const pf_model_config *c = pf_model_get_config(info->model);
    const char *text_keys[][2] = {{"path", info->file},
                                  {"algorithm", info->meta.algorithm},
                                  {"arch", pf_arch_name(c->arch)},
                                  {"params_sha256", info->sha}};
    const struct {
        const char *key;
        double value;
    } num_keys[] = {{"step", (double)info->meta.step},
                    {"world_size", (double)info->meta.world_size},
                    {"n_layer", c->n_layer},
                    {"n_head", c->n_head},
                    {"d_model", c->d_model},
                    {"vocab_size", c->vocab_size},
                    {"max_seq_len", c->max_seq_len},
                    {"n_params", (double)pf_model_num_params(info->model)},
                    {"optimizer_step", (double)info->optimizer_step}};
    int ok = 1;
    for (size_t i = 0; ok && i < sizeof text_keys / sizeof text_keys[0]; i++)
        ok = cJSON_AddStringToObject(obj, text_keys[i][0], text_keys[i][1]) != NULL;
    for (size_t i = 0; ok && i < sizeof num_keys / sizeof num_keys[0]; i++)
        ok = cJSON_AddNumberToObject(obj, num_keys[i].key, num_keys[i].value) != NULL;
    ok = ok && cJSON_AddBoolToObject(obj, "value_head", c->value_head);
    ok = ok && cJSON_AddBoolToObject(obj, "has_optimizer", info->has_optimizer);
    if (info->has_reward_norm) {
        ok = ok && cJSON_AddNumberToObject(obj, "reward_norm_mean", info->reward_norm.mean);
        ok = ok && cJSON_AddNumberToObject(obj, "reward_norm_std", info->reward_norm.std);
        ok = ok && cJSON_AddNumberToObject(obj, "reward_norm_n", (double)info->reward_norm.n);
    }
    return ok;
}

/* Prints the report as one JSON object on one line. */
static int print_json(const inspect_info *info)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *tensors = tensors_json(info->model);
    char *text = NULL;
    int ok = obj && tensors && add_scalars(obj, info);
    ok = ok && cJSON_AddItemToObject(obj, "tensors", tensors);
    if (ok)
        tensors = NULL;
    text = ok ? cJSON_PrintUnformatted(obj) : NULL;
    if (text)
        printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(tensors);
    cJSON_Delete(obj);
    return text ? PF_OK : pf_fail(PF_ERR_RUNTIME, "inspect: out of memory");
}

/* Loads everything inspect reports about path. */
static int gather(const char *path, inspect_info *info)
{
    int rc = pf_checkpoint_read_model_at(path, 0, &info->model, &info->meta, &info->file);
    if (rc != PF_OK)
        return rc;
    rc = pf_checkpoint_probe_optimizer(info->file, &info->has_optimizer, &info->optimizer_step);
    if (rc == PF_OK)
        rc = pf_checkpoint_read_reward_norm(info->file, &info->reward_norm, &info->has_reward_norm);
    pf_model_params_sha256(info->model, info->sha);
    return rc;
}

int pf_cmd_inspect(int argc, char **argv)
{
    int as_json = 0;
    const pf_cli_opt opts[] = {{"json", NULL, &as_json}, {NULL, NULL, NULL}};
    pf_cli_args args;
    inspect_info info = {0};
    int rc = pf_cli_parse("inspect", argc, argv, opts, 1, &args);
    if (rc != PF_OK)
        return rc;
    if (args.help) {
        fputs(INSPECT_HELP, stdout);
        return PF_OK;
    }
    if (args.npos != 1)
        return pf_cli_usage_error("inspect", "expected one CKPT.h5 or RUN_DIR");
    rc = gather(args.pos[0], &info);
    if (rc == PF_OK && as_json)
        rc = print_json(&info);
    else if (rc == PF_OK)
        print_table(&info);
    pf_model_free(info.model);
    pf_checkpoint_meta_clear(&info.meta);
    free(info.file);
    return rc;
}
