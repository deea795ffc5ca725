/*
 * init.c: `prefopt-mpi init --config CONFIG.json --out CKPT.h5 [--seed N]`.
 *
 * Builds the model described by the config's "model" section, initialises it from
 * the seed (--seed, else the config's top-level "seed", else 1234) and writes it as a
 * checkpoint with algorithm "init", step 0 and world size 1. The checkpoint's
 * config_json holds the resolved settings used: {"algorithm", "seed", "model"}.
 * The other config sections are left for the trainer to validate.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "prefopt/checkpoint.h"
#include "prefopt/config_model.h"
#include "prefopt/error.h"

static const char INIT_HELP[] =
    "usage: prefopt-mpi init --config CONFIG.json --out CKPT.h5 [--seed N]\n"
    "\n"
    "Write a randomly initialised checkpoint (GPT-2 initialisation) for the model\n"
    "described by CONFIG.json's \"model\" section.\n"
    "\n"
    "  --config FILE  config file (JSON); its \"model\" section is validated strictly\n"
    "  --out FILE     checkpoint to write (atomically: FILE.tmp, then renamed)\n"
    "  --seed N       initialisation seed in [0, 2^53] (default: the config's \"seed\",\n"
    "                 else 1234)\n"
    "  --help         show this help\n"
    "\n"
    "Exit codes: 0 ok, 1 write failure, 2 usage or config error.\n";

/* The config-derived inputs of init. */
typedef struct {
    pf_model_config model;
    uint64_t seed;
    char *resolved_json; /* allocated by cJSON (cJSON_free) */
} init_plan;

/* Renders the resolved settings as compact JSON into plan->resolved_json. */
static int render_resolved(init_plan *plan)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *model = pf_config_model_to_json(&plan->model);
    int ok = root && model && cJSON_AddStringToObject(root, "algorithm", "init") &&
             cJSON_AddNumberToObject(root, "seed", (double)plan->seed);
    if (ok && cJSON_AddItemToObject(root, "model", model))
        model = NULL;
    else
        ok = 0;
    plan->resolved_json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(model);
    cJSON_Delete(root);
    return plan->resolved_json ? PF_OK : pf_fail(PF_ERR_RUNTIME, "out of memory");
}

/* Reads and validates the config file, filling plan (seed_arg overrides the seed). */
static int load_plan(const char *config_path, const char *seed_arg, init_plan *plan)
{
    cJSON *root = NULL;
    int rc = pf_config_load(config_path, &root);
    if (rc == PF_OK)
        rc = pf_config_check_top_level(root, config_path);
    if (rc == PF_OK)
        rc = pf_config_seed(root, config_path, &plan->seed);
    if (rc == PF_OK)
        rc = pf_config_model_parse(cJSON_GetObjectItemCaseSensitive(root, "model"), config_path,
                                   &plan->model);
    if (rc == PF_OK && seed_arg)
        rc = pf_cli_parse_seed("init", "seed", seed_arg, &plan->seed);
    if (rc == PF_OK)
        rc = render_resolved(plan);
    cJSON_Delete(root);
    return rc;
}

/* Creates, initialises and writes the model described by plan. */
static int write_init_checkpoint(const init_plan *plan, const char *out)
{
    pf_model *model = NULL;
    pf_checkpoint_meta meta = {0, "init", plan->resolved_json, 1};
    char sha[65];
    int rc = pf_model_create(&plan->model, 0, &model);
    if (rc != PF_OK)
        return rc;
    pf_model_init_random(model, plan->seed);
    rc = pf_checkpoint_write(out, model, NULL, &meta);
    if (rc == PF_OK) {
        pf_model_params_sha256(model, sha);
        printf("init: wrote %s (%s, %zu parameters, seed %llu, params_sha256 %s)\n", out,
               pf_arch_name(plan->model.arch), pf_model_num_params(model),
               (unsigned long long)plan->seed, sha);
    }
    pf_model_free(model);
    return rc;
}

int pf_cmd_init(int argc, char **argv)
{
    const char *config = NULL, *out = NULL, *seed = NULL;
    const pf_cli_opt opts[] = {
        {"config", &config, NULL}, {"out", &out, NULL}, {"seed", &seed, NULL}, {NULL, NULL, NULL}};
    pf_cli_args args;
    init_plan plan = {0};
    int rc = pf_cli_parse("init", argc, argv, opts, 0, &args);
    if (rc != PF_OK)
        return rc;
    if (args.help) {
        fputs(INIT_HELP, stdout);
        return PF_OK;
    }
    if (!config)
        return pf_cli_usage_error("init", "--config is required");
    if (!out)
        return pf_cli_usage_error("init", "--out is required");
    rc = load_plan(config, seed, &plan);
    if (rc == PF_OK)
        rc = write_init_checkpoint(&plan, out);
    cJSON_free(plan.resolved_json);
    return rc;
}
