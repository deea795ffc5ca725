/*
 * config_model.c: strict parsing of config files and of their "model" section.
 *
 * Keys are described by tables (name, range, default, destination) so that the
 * accepted set, the defaults and the error messages come from one place; the
 * documentation in docs/config.md and docs/cli.md mirrors these tables.
 */
#include "prefopt/config_model.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"

/* An integer key of the model section. */
typedef struct {
    const char *key;
    long lo, hi, def; /* def < lo: required */
    size_t offset;    /* int field of pf_model_config */
} int_key;

/* Ranges match pf_model_config_check, which remains the final authority. */
static const int_key MODEL_INT_KEYS[] = {
    {"n_layer", 1, 256, 4, offsetof(pf_model_config, n_layer)},
    {"n_head", 1, 256, 4, offsetof(pf_model_config, n_head)},
    {"d_model", 1, 16384, 128, offsetof(pf_model_config, d_model)},
    {"vocab_size", 2, 1L << 24, 0, offsetof(pf_model_config, vocab_size)},
    {"max_seq_len", 2, 1L << 16, 256, offsetof(pf_model_config, max_seq_len)},
};
enum { MODEL_INT_KEY_COUNT = sizeof MODEL_INT_KEYS / sizeof MODEL_INT_KEYS[0] };

/* Every key the model section accepts. */
static const char *const MODEL_KEYS[] = {"arch",       "n_layer",    "n_head",
                                         "d_model",    "vocab_size", "max_seq_len",
                                         "value_head", "init",       "tokenizer"};

/* Top-level keys: settings and sections (the latter validated by their users). */
static const char *const TOP_KEYS[] = {"algorithm", "run_dir", "seed",  "model", "data",
                                       "train",     "optim",   "dpo",   "sft",   "rm",
                                       "ppo",       "grpo",    "reward"};

/* Reads a whole file into a NUL-terminated malloc'ed buffer. */
static int read_file(const char *path, char **out, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return pf_fail(PF_ERR_USAGE, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, fp);
        if (n < cap - 1 || feof(fp) || ferror(fp))
            break;
        char *grown = realloc(buf, cap * 2);
        if (!grown)
            free(buf);
        buf = grown;
        cap *= 2;
    }
    int failed = !buf || ferror(fp);
    fclose(fp);
    if (failed) {
        free(buf);
        return pf_fail(PF_ERR_USAGE, "%s: cannot read", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return PF_OK;
}

/* The 1-based line of position pos in text. */
static int line_of(const char *text, const char *pos)
{
    int line = 1;
    for (const char *p = text; p < pos && *p; p++)
        line += *p == '\n';
    return line;
}

int pf_config_load(const char *path, cJSON **root)
{
    char *text = NULL;
    size_t len = 0;
    const char *end = NULL;
    *root = NULL;
    int rc = read_file(path, &text, &len);
    if (rc != PF_OK)
        return rc;
    cJSON *tree = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (!tree)
        rc = pf_fail(PF_ERR_USAGE, "%s: line %d: invalid JSON", path,
                     line_of(text, end ? end : text + len));
    else if (!cJSON_IsObject(tree))
        rc = pf_fail(PF_ERR_USAGE, "%s: the top level must be a JSON object", path);
    free(text);
    if (rc != PF_OK)
        cJSON_Delete(tree);
    else
        *root = tree;
    return rc;
}

/* Whether key is one of the n names. */
static int key_known(const char *key, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, names[i]) == 0)
            return 1;
    return 0;
}

/* Refuses keys of obj outside names, and duplicates; section names obj in messages
 * ("" at the top level). */
static int check_keys(const cJSON *obj, const char *file, const char *section,
                      const char *const *names, size_t n)
{
    const char *dot = section[0] ? "." : "";
    for (const cJSON *item = obj->child; item; item = item->next) {
        if (!key_known(item->string, names, n))
            return pf_fail(PF_ERR_USAGE, "%s: %s%s%s: unknown key", file, section, dot,
                           item->string);
        for (const cJSON *prev = obj->child; prev != item; prev = prev->next)
            if (strcmp(prev->string, item->string) == 0)
                return pf_fail(PF_ERR_USAGE, "%s: %s%s%s: duplicate key", file, section, dot,
                               item->string);
    }
    return PF_OK;
}

int pf_config_check_top_level(const cJSON *root, const char *file)
{
    return check_keys(root, file, "", TOP_KEYS, sizeof TOP_KEYS / sizeof TOP_KEYS[0]);
}

/* Whether item is a JSON number holding an integer within [lo, hi]. */
static int is_int_in(const cJSON *item, double lo, double hi)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    return isfinite(v) && v == floor(v) && v >= lo && v <= hi;
}

int pf_config_seed(const cJSON *root, const char *file, uint64_t *seed)
{
    const double max_seed = 9007199254740992.0; /* 2^53: exact in a JSON double */
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "seed");
    *seed = 1234;
    if (!item)
        return PF_OK;
    if (!is_int_in(item, 0, max_seed))
        return pf_fail(PF_ERR_USAGE, "%s: seed: must be an integer in [0, 2^53]", file);
    *seed = (uint64_t)item->valuedouble;
    return PF_OK;
}

/* Parses one integer key into cfg (default when absent; error when required). */
static int parse_int_key(const cJSON *model, const char *file, const int_key *k,
                         pf_model_config *cfg)
{
    int *dst = (int *)((char *)cfg + k->offset);
    const cJSON *item = model ? cJSON_GetObjectItemCaseSensitive(model, k->key) : NULL;
    if (!item && k->def >= k->lo) {
        *dst = (int)k->def;
        return PF_OK;
    }
    if (!item && model && cJSON_GetObjectItemCaseSensitive(model, "tokenizer"))
        return pf_fail(PF_ERR_USAGE,
                       "%s: model.%s: required (taking it from "
                       "model.tokenizer is not supported yet)",
                       file, k->key);
    if (!item)
        return pf_fail(PF_ERR_USAGE, "%s: model.%s: required", file, k->key);
    if (!is_int_in(item, (double)k->lo, (double)k->hi))
        return pf_fail(PF_ERR_USAGE, "%s: model.%s: must be an integer in [%ld, %ld]", file, k->key,
                       k->lo, k->hi);
    *dst = (int)item->valuedouble;
    return PF_OK;
}

/* Parses arch, value_head and the type of the pass-through keys (init, tokenizer). */
static int parse_other_keys(const cJSON *model, const char *file, pf_model_config *cfg)
{
    const cJSON *arch = model ? cJSON_GetObjectItemCaseSensitive(model, "arch") : NULL;
    const cJSON *value_head = model ? cJSON_GetObjectItemCaseSensitive(model, "value_head") : NULL;
    const cJSON *init = model ? cJSON_GetObjectItemCaseSensitive(model, "init") : NULL;
    const cJSON *tok = model ? cJSON_GetObjectItemCaseSensitive(model, "tokenizer") : NULL;
    cfg->arch = PF_ARCH_GPT2;
    if (arch && !cJSON_IsString(arch))
        return pf_fail(PF_ERR_USAGE, "%s: model.arch: must be a string", file);
    if (arch && pf_arch_from_name(arch->valuestring, &cfg->arch) != PF_OK)
        return pf_fail(PF_ERR_USAGE,
                       "%s: model.arch: unknown architecture \"%s\" "
                       "(known: gpt2)",
                       file, arch->valuestring);
    if (value_head && !cJSON_IsBool(value_head))
        return pf_fail(PF_ERR_USAGE, "%s: model.value_head: must be true or false", file);
    cfg->value_head = value_head ? cJSON_IsTrue(value_head) : 0;
    if (init && !cJSON_IsString(init))
        return pf_fail(PF_ERR_USAGE,
                       "%s: model.init: must be a string (\"random\", a "
                       "checkpoint or a run folder)",
                       file);
    if (tok && !cJSON_IsObject(tok))
        return pf_fail(PF_ERR_USAGE, "%s: model.tokenizer: must be an object", file);
    return PF_OK;
}

int pf_config_model_parse(const cJSON *model, const char *file, pf_model_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    if (model && !cJSON_IsObject(model))
        return pf_fail(PF_ERR_USAGE, "%s: model: must be an object", file);
    int rc = model ? check_keys(model, file, "model", MODEL_KEYS,
                                sizeof MODEL_KEYS / sizeof MODEL_KEYS[0])
                   : PF_OK;
    if (rc == PF_OK)
        rc = parse_other_keys(model, file, cfg);
    for (int i = 0; rc == PF_OK && i < MODEL_INT_KEY_COUNT; i++)
        rc = parse_int_key(model, file, &MODEL_INT_KEYS[i], cfg);
    if (rc == PF_OK && pf_model_config_check(cfg) != PF_OK)
        rc = pf_fail_prefix(PF_ERR_USAGE, "%s", file);
    return rc;
}

cJSON *pf_config_model_to_json(const pf_model_config *cfg)
{
    cJSON *obj = cJSON_CreateObject();
    int ok = obj && cJSON_AddStringToObject(obj, "arch", pf_arch_name(cfg->arch));
    for (int i = 0; ok && i < MODEL_INT_KEY_COUNT; i++) {
        const int *v = (const int *)((const char *)cfg + MODEL_INT_KEYS[i].offset);
        ok = cJSON_AddNumberToObject(obj, MODEL_INT_KEYS[i].key, *v) != NULL;
    }
    ok = ok && cJSON_AddBoolToObject(obj, "value_head", cfg->value_head);
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}
