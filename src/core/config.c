/*
 * config.c: the training config's key table, strict parsing, --set overrides and the
 * resolved JSON (see config.h).
 *
 * Invariant: KEYS lists every accepted key exactly once; parsing, defaults, range
 * checks, resolved output and the docs test all walk this one table.
 */
#include "prefopt/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/config_model.h"
#include "prefopt/error.h"

/* K_INT: int64_t; K_MINT: int (model fields); K_BOOL: int; K_STR / K_ENUM: char[];
 * K_NUM: double; K_NUM2: double[2]; K_INT_OR_NULL: int64_t, 0 for null; K_ARCH: pf_arch. */
typedef enum {
    K_INT,
    K_MINT,
    K_INT_OR_NULL,
    K_NUM,
    K_BOOL,
    K_STR,
    K_ENUM,
    K_NUM2,
    K_ARCH
} key_kind;

typedef struct {
    const char *key; /* dotted path */
    key_kind kind;
    const char *def;     /* default as JSON text; NULL: required */
    double lo, hi;       /* numeric range (inclusive); for K_NUM lo_open below */
    int lo_open;         /* 1: lo itself is excluded */
    const char *choices; /* K_ENUM: "a|b|c" */
    size_t offset;
    int trajectory; /* 0: may change on --resume */
} key_spec;

#define OFF(field) offsetof(pf_config, field)
static const double BIG = 9007199254740992.0; /* 2^53 */

static const key_spec KEYS[] = {
    {"algorithm", K_ENUM, "\"dpo\"", 0, 0, 0, "sft|dpo|rm|ppo|grpo", OFF(algorithm), 1},
    {"run_dir", K_STR, NULL, 0, 0, 0, NULL, OFF(run_dir), 0},
    {"seed", K_INT, "1234", 0, BIG, 0, NULL, OFF(seed), 1},
    {"model.init", K_STR, "\"random\"", 0, 0, 0, NULL, OFF(model_init), 1},
    {"model.arch", K_ARCH, "\"gpt2\"", 0, 0, 0, "gpt2", OFF(model.arch), 1},
    {"model.n_layer", K_MINT, "4", 1, 256, 0, NULL, OFF(model.n_layer), 1},
    {"model.n_head", K_MINT, "4", 1, 256, 0, NULL, OFF(model.n_head), 1},
    {"model.d_model", K_MINT, "128", 1, 16384, 0, NULL, OFF(model.d_model), 1},
    {"model.vocab_size", K_MINT, "0", 0, 1 << 24, 0, NULL, OFF(model.vocab_size), 1},
    {"model.max_seq_len", K_MINT, "256", 2, 65536, 0, NULL, OFF(model.max_seq_len), 1},
    {"model.value_head", K_BOOL, "false", 0, 0, 0, NULL, OFF(model.value_head), 1},
    {"model.tokenizer.vocab", K_STR, "\"\"", 0, 0, 0, NULL, OFF(tokenizer_vocab), 1},
    {"model.tokenizer.merges", K_STR, "\"\"", 0, 0, 0, NULL, OFF(tokenizer_merges), 1},
    {"data.train", K_STR, NULL, 0, 0, 0, NULL, OFF(data_train), 1},
    {"data.eval", K_STR, "\"\"", 0, 0, 0, NULL, OFF(data_eval), 0},
    {"data.format", K_ENUM, "\"auto\"", 0, 0, 0, "auto|dpo|sft|trl|prompts", OFF(data_format), 1},
    {"data.max_length", K_INT, "256", 2, 65536, 0, NULL, OFF(max_length), 1},
    {"data.max_prompt_length", K_INT, "128", 1, 65536, 0, NULL, OFF(max_prompt_length), 1},
    {"data.truncation_mode", K_ENUM, "\"keep_end\"", 0, 0, 0, "keep_end|keep_start",
     OFF(truncation_mode), 1},
    {"train.global_batch", K_INT, "32", 1, 1 << 20, 0, NULL, OFF(global_batch), 1},
    {"train.micro_batch", K_INT, "4", 1, 1 << 16, 0, NULL, OFF(micro_batch), 1},
    {"train.steps", K_INT, "0", 0, BIG, 0, NULL, OFF(steps), 0},
    {"train.epochs", K_INT_OR_NULL, "null", 1, 1 << 20, 0, NULL, OFF(epochs), 0},
    {"train.deterministic", K_BOOL, "true", 0, 0, 0, NULL, OFF(deterministic), 1},
    {"train.log_every", K_INT, "10", 1, BIG, 0, NULL, OFF(log_every), 0},
    {"train.eval_every", K_INT, "50", 0, BIG, 0, NULL, OFF(eval_every), 0},
    {"train.checkpoint_every", K_INT, "100", 0, BIG, 0, NULL, OFF(checkpoint_every), 0},
    {"train.keep_checkpoints", K_INT, "3", 1, 1000000, 0, NULL, OFF(keep_checkpoints), 0},
    {"train.threads", K_INT, "1", 1, 1024, 0, NULL, OFF(threads), 1},
    {"train.stop_after", K_INT, "0", 0, BIG, 0, NULL, OFF(stop_after), 0},
    {"optim.lr", K_NUM, "1e-4", 0, 10, 1, NULL, OFF(lr), 1},
    {"optim.betas", K_NUM2, "[0.9, 0.999]", 0, 1, 0, NULL, OFF(betas), 1},
    {"optim.eps", K_NUM, "1e-8", 0, 1, 1, NULL, OFF(eps), 1},
    {"optim.weight_decay", K_NUM, "0.0", 0, 10, 0, NULL, OFF(weight_decay), 1},
    {"optim.warmup_steps", K_INT, "10", 0, BIG, 0, NULL, OFF(warmup_steps), 1},
    {"optim.schedule", K_ENUM, "\"cosine\"", 0, 0, 0, "constant|linear|cosine", OFF(schedule), 1},
    {"optim.grad_clip", K_NUM, "1.0", 0, 1e9, 0, NULL, OFF(grad_clip), 1},
    {"optim.min_lr_ratio", K_NUM, "0.0", 0, 1, 0, NULL, OFF(min_lr_ratio), 1},
    {"dpo.beta", K_NUM, "0.1", 0, 100, 1, NULL, OFF(dpo_beta), 1},
    {"dpo.loss_type", K_ENUM, "\"sigmoid\"", 0, 0, 0, "sigmoid|robust|hinge|ipo",
     OFF(dpo_loss_type), 1},
    {"dpo.label_smoothing", K_NUM, "0.0", 0, 0.4999, 0, NULL, OFF(dpo_label_smoothing), 1},
    {"dpo.reference", K_STR, "\"init\"", 0, 0, 0, NULL, OFF(dpo_reference), 1},
    {"dpo.precompute_reference", K_BOOL, "true", 0, 0, 0, NULL, OFF(dpo_precompute_reference), 1},
    {"dpo.rpo_alpha", K_NUM, "0.0", 0, 1e6, 0, NULL, OFF(dpo_rpo_alpha), 1},
    {"dpo.l2_multiplier", K_NUM, "0.0", 0, 1e6, 0, NULL, OFF(dpo_l2_multiplier), 1},
    {"sft.prompt_loss_weight", K_NUM, "0.0", 0, 1, 0, NULL, OFF(sft_prompt_loss_weight), 1},
    {"rm.center_rewards_coefficient", K_NUM, "0.0", 0, 1e6, 0, NULL, OFF(rm_center_coef), 1},
    {"rm.use_margin", K_BOOL, "true", 0, 0, 0, NULL, OFF(rm_use_margin), 1},
    {"rm.norm_data", K_ENUM, "\"eval\"", 0, 0, 0, "eval|train", OFF(rm_norm_data), 1},
    {"reward.model", K_STR, "\"\"", 0, 0, 0, NULL, OFF(reward_model), 1},
    {"reward.model_weight", K_NUM, "1.0", -1e6, 1e6, 0, NULL, OFF(reward_model_weight), 1},
    {"reward.graders", K_STR, "\"\"", 0, 0, 0, NULL, OFF(reward_graders), 1},
    {"reward.grader", K_STR, "\"\"", 0, 0, 0, NULL, OFF(reward_grader), 1},
    {"reward.grader_weight", K_NUM, "1.0", -1e6, 1e6, 0, NULL, OFF(reward_grader_weight), 1},
    {"ppo.response_length", K_INT, "53", 1, 65535, 0, NULL, OFF(ppo_response_length), 1},
    {"ppo.temperature", K_NUM, "0.7", 0, 100, 1, NULL, OFF(ppo_temperature), 1},
    {"ppo.top_p", K_NUM, "1.0", 0, 1, 1, NULL, OFF(ppo_top_p), 1},
    {"ppo.missing_eos_penalty", K_NUM, "0.0", 0, 1e6, 0, NULL, OFF(ppo_missing_eos_penalty), 1},
    {"ppo.kl_coef", K_NUM, "0.05", 0, 1e6, 0, NULL, OFF(ppo_kl_coef), 1},
    {"ppo.kl_estimator", K_ENUM, "\"k1\"", 0, 0, 0, "k1|k3", OFF(ppo_kl_estimator), 1},
    {"ppo.adaptive_kl", K_BOOL, "false", 0, 0, 0, NULL, OFF(ppo_adaptive_kl), 1},
    {"ppo.kl_target", K_NUM, "6.0", 0, 1e6, 1, NULL, OFF(ppo_kl_target), 1},
    {"ppo.kl_horizon", K_NUM, "10000", 0, 1e12, 1, NULL, OFF(ppo_kl_horizon), 1},
    {"ppo.cliprange", K_NUM, "0.2", 0, 1, 1, NULL, OFF(ppo_cliprange), 1},
    {"ppo.cliprange_value", K_NUM, "0.2", 0, 1e6, 1, NULL, OFF(ppo_cliprange_value), 1},
    {"ppo.vf_coef", K_NUM, "0.1", 0, 1e6, 0, NULL, OFF(ppo_vf_coef), 1},
    {"ppo.gamma", K_NUM, "1.0", 0, 1, 0, NULL, OFF(ppo_gamma), 1},
    {"ppo.lam", K_NUM, "0.95", 0, 1, 0, NULL, OFF(ppo_lam), 1},
    {"ppo.whiten_rewards", K_BOOL, "false", 0, 0, 0, NULL, OFF(ppo_whiten_rewards), 1},
    {"ppo.num_ppo_epochs", K_INT, "4", 1, 1000, 0, NULL, OFF(ppo_epochs), 1},
    {"ppo.num_mini_batches", K_INT, "1", 1, 1 << 20, 0, NULL, OFF(ppo_mini_batches), 1},
    {"ppo.critic_init", K_STR, "\"policy\"", 0, 0, 0, NULL, OFF(ppo_critic_init), 1},
    {"grpo.num_generations", K_INT, "8", 2, 65535, 0, NULL, OFF(grpo_num_generations), 1},
    {"grpo.max_completion_length", K_INT, "64", 1, 65535, 0, NULL, OFF(grpo_max_completion), 1},
    {"grpo.temperature", K_NUM, "1.0", 0, 100, 1, NULL, OFF(grpo_temperature), 1},
    {"grpo.top_p", K_NUM, "1.0", 0, 1, 1, NULL, OFF(grpo_top_p), 1},
    {"grpo.beta", K_NUM, "0.0", 0, 1e6, 0, NULL, OFF(grpo_beta), 1},
    {"grpo.epsilon", K_NUM, "0.2", 0, 1, 1, NULL, OFF(grpo_epsilon), 1},
    {"grpo.epsilon_high", K_NUM, "0.0", 0, 1e6, 0, NULL, OFF(grpo_epsilon_high), 1},
    {"grpo.scale_rewards", K_ENUM, "\"group\"", 0, 0, 0, "group|batch|none",
     OFF(grpo_scale_rewards), 1},
    {"grpo.loss_type", K_ENUM, "\"dapo\"", 0, 0, 0, "grpo|dr_grpo|dapo", OFF(grpo_loss_type), 1},
    {"grpo.num_iterations", K_INT, "1", 1, 1000, 0, NULL, OFF(grpo_iterations), 1},
    {"grpo.num_mini_batches", K_INT, "1", 1, 1 << 20, 0, NULL, OFF(grpo_mini_batches), 1},
};
enum { KEY_COUNT = sizeof KEYS / sizeof KEYS[0] };

int pf_config_key_count(void) { return KEY_COUNT; }
const char *pf_config_key_name(int i) { return i >= 0 && i < KEY_COUNT ? KEYS[i].key : NULL; }

/* The item at a dotted path, or NULL; *parent_missing tells whether a section is absent. */
static cJSON *find_path(cJSON *root, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *node = root;
    for (char *part = buf, *dot; node && part; part = dot ? dot + 1 : NULL) {
        dot = strchr(part, '.');
        if (dot)
            *dot = '\0';
        node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, part) : NULL;
    }
    return node;
}

/* Whether some key in the table equals path or starts with "path.". */
static int path_known(const char *path, int *is_section)
{
    size_t n = strlen(path);
    *is_section = 0;
    for (int i = 0; i < KEY_COUNT; i++) {
        if (strcmp(KEYS[i].key, path) == 0)
            return 1;
        if (strncmp(KEYS[i].key, path, n) == 0 && KEYS[i].key[n] == '.')
            *is_section = 1;
    }
    return *is_section;
}

/* Refuses unknown keys anywhere in the tree, naming the dotted path. */
static int check_unknown(const cJSON *obj, const char *prefix, const char *file)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        char path[128];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", it->string);
        int section = 0;
        if (!path_known(path, &section))
            return pf_fail(PF_ERR_USAGE, "%s: %s: unknown key", file, path);
        if (section && !cJSON_IsObject(it))
            return pf_fail(PF_ERR_USAGE, "%s: %s: must be an object", file, path);
        if (section) {
            int rc = check_unknown(it, path, file);
            if (rc)
                return rc;
        }
    }
    return PF_OK;
}

/* Sets the value at a dotted path, creating sections; takes ownership of value. */
static int set_path(cJSON *root, const char *path, cJSON *value)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *node = root;
    char *part = buf, *dot;
    while ((dot = strchr(part, '.'))) {
        *dot = '\0';
        cJSON *next = cJSON_GetObjectItemCaseSensitive(node, part);
        if (!next || !cJSON_IsObject(next)) {
            next = cJSON_CreateObject();
            cJSON_DeleteItemFromObjectCaseSensitive(node, part);
            cJSON_AddItemToObject(node, part, next);
        }
        node = next;
        part = dot + 1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(node, part);
    cJSON_AddItemToObject(node, part, value);
    return PF_OK;
}

/* Applies one "dotted.key=value" override. */
static int apply_set(cJSON *root, const char *set)
{
    const char *eq = strchr(set, '=');
    if (!eq || eq == set)
        return pf_fail(PF_ERR_USAGE, "--set %s: expected dotted.key=value", set);
    char key[128];
    snprintf(key, sizeof key, "%.*s", (int)(eq - set), set);
    cJSON *value = cJSON_Parse(eq + 1);
    if (!value)
        value = cJSON_CreateString(eq + 1);
    return set_path(root, key, value);
}

/* "must be ..." text for a key's type and range. */
static void describe(const key_spec *k, char *buf, size_t n)
{
    switch (k->kind) {
    case K_INT:
    case K_MINT:
        snprintf(buf, n, "must be an integer in [%.0f, %.0f]", k->lo, k->hi);
        break;
    case K_INT_OR_NULL:
        snprintf(buf, n, "must be null or an integer in [%.0f, %.0f]", k->lo, k->hi);
        break;
    case K_NUM:
        snprintf(buf, n, "must be a number in %s%g, %g]", k->lo_open ? "(" : "[", k->lo, k->hi);
        break;
    case K_NUM2:
        snprintf(buf, n, "must be an array of two numbers in [%g, %g)", k->lo, k->hi);
        break;
    case K_BOOL:
        snprintf(buf, n, "must be true or false");
        break;
    case K_STR:
        snprintf(buf, n, "must be a string");
        break;
    case K_ENUM:
    case K_ARCH:
        snprintf(buf, n, "must be one of %s", k->choices);
        break;
    }
}

/* Whether x lies in the key's numeric range. */
static int in_range(const key_spec *k, double x)
{
    return isfinite(x) && (k->lo_open ? x > k->lo : x >= k->lo) && x <= k->hi;
}

/* Whether name is one of the '|'-separated choices. */
static int is_choice(const char *choices, const char *name)
{
    size_t n = strlen(name);
    for (const char *c = choices; c && *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && strncmp(c, name, n) == 0)
            return 1;
        c = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* Stores a value into a config field given by its address (fields have several types;
 * memcpy keeps the stores free of pointer casts). */
static void store_int(char *dst, int v) { memcpy(dst, &v, sizeof v); }
static void store_i64(char *dst, int64_t v) { memcpy(dst, &v, sizeof v); }

/* Checks v against k and stores it into cfg; 0 on success, -1 on a type/range error. */
static int store_value(const key_spec *k, const cJSON *v, pf_config *cfg)
{
    char *dst = (char *)cfg + k->offset;
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    switch (k->kind) {
    case K_INT_OR_NULL:
        if (cJSON_IsNull(v)) {
            store_i64(dst, 0);
            return 0;
        }
        /* fall through */
    case K_INT:
    case K_MINT:
        if (!cJSON_IsNumber(v) || x != floor(x) || !in_range(k, x))
            return -1;
        if (k->kind == K_MINT)
            store_int(dst, (int)x);
        else
            store_i64(dst, (int64_t)x);
        return 0;
    case K_NUM:
        if (!cJSON_IsNumber(v) || !in_range(k, x))
            return -1;
        memcpy(dst, &x, sizeof x);
        return 0;
    case K_NUM2: {
        const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(a) ||
            !cJSON_IsNumber(b) || !(a->valuedouble >= k->lo && a->valuedouble < k->hi) ||
            !(b->valuedouble >= k->lo && b->valuedouble < k->hi))
            return -1;
        double pair[2] = {a->valuedouble, b->valuedouble};
        memcpy(dst, pair, sizeof pair);
        return 0;
    }
    case K_BOOL:
        if (!cJSON_IsBool(v))
            return -1;
        store_int(dst, cJSON_IsTrue(v));
        return 0;
    case K_STR:
    case K_ENUM:
        if (!cJSON_IsString(v) ||
            strlen(v->valuestring) >= (k->kind == K_STR ? PF_PATH_MAX : PF_NAME_MAX))
            return -1;
        if (k->kind == K_ENUM && !is_choice(k->choices, v->valuestring))
            return -1;
        strcpy(dst, v->valuestring);
        return 0;
    case K_ARCH: {
        pf_arch arch;
        if (!cJSON_IsString(v) || pf_arch_from_name(v->valuestring, &arch) != PF_OK)
            return -1;
        memcpy(dst, &arch, sizeof arch);
        return 0;
    }
    }
    return -1;
}

/* Resolves every table key from the tree (or its default) into cfg and into the
 * resolved tree. */
static int resolve_keys(cJSON *root, const char *file, pf_config *cfg, cJSON *resolved)
{
    for (int i = 0; i < KEY_COUNT; i++) {
        const key_spec *k = &KEYS[i];
        cJSON *v = find_path(root, k->key);
        cJSON *def = NULL;
        if (!v && !k->def)
            return pf_fail(PF_ERR_USAGE, "%s: %s: required", file, k->key);
        if (!v)
            v = def = cJSON_Parse(k->def);
        if (store_value(k, v, cfg) != 0) {
            char what[128];
            describe(k, what, sizeof what);
            cJSON_Delete(def);
            return pf_fail(PF_ERR_USAGE, "%s: %s: %s", file, k->key, what);
        }
        set_path(resolved, k->key, def ? def : cJSON_Duplicate(v, 1));
    }
    return PF_OK;
}

/* Relations of the online algorithms (ppo, grpo): batch splits, lengths, a reward. */
static int check_online_relations(const pf_config *c, const char *file)
{
    const int ppo = strcmp(c->algorithm, "ppo") == 0, grpo = strcmp(c->algorithm, "grpo") == 0;
    if (!ppo && !grpo)
        return PF_OK;
    const char *sec = ppo ? "ppo" : "grpo";
    const int64_t minis = ppo ? c->ppo_mini_batches : c->grpo_mini_batches;
    const int64_t resp = ppo ? c->ppo_response_length : c->grpo_max_completion;
    if (grpo && c->global_batch % c->grpo_num_generations != 0)
        return pf_fail(PF_ERR_USAGE,
                       "%s: grpo.num_generations: %lld does not divide train.global_batch %lld",
                       file, (long long)c->grpo_num_generations, (long long)c->global_batch);
    if (c->global_batch % minis != 0 || (c->global_batch / minis) % c->micro_batch != 0)
        return pf_fail(PF_ERR_USAGE,
                       "%s: %s.num_mini_batches: %lld mini-batches of train.global_batch %lld "
                       "are not whole multiples of train.micro_batch %lld",
                       file, sec, (long long)minis, (long long)c->global_batch,
                       (long long)c->micro_batch);
    if (c->max_prompt_length + resp > c->model.max_seq_len)
        return pf_fail(PF_ERR_USAGE,
                       "%s: %s.%s: data.max_prompt_length %lld + %lld exceeds model.max_seq_len %d",
                       file, sec, ppo ? "response_length" : "max_completion_length",
                       (long long)c->max_prompt_length, (long long)resp, c->model.max_seq_len);
    if (ppo && c->ppo_adaptive_kl && c->ppo_kl_horizon < 0.2 * (double)c->global_batch)
        return pf_fail(PF_ERR_USAGE,
                       "%s: ppo.kl_horizon: %g is below 0.2 x train.global_batch (%lld): the "
                       "adaptive controller could drive kl_coef to 0 or below",
                       file, c->ppo_kl_horizon, (long long)c->global_batch);
    if (!c->reward_model[0] && !c->reward_graders[0])
        return pf_fail(PF_ERR_USAGE, "%s: reward: set reward.model, reward.graders or both", file);
    return PF_OK;
}

/* Checks that relate several keys. */
static int check_relations(const pf_config *c, const char *file)
{
    if (c->global_batch % c->micro_batch != 0)
        return pf_fail(PF_ERR_USAGE,
                       "%s: train.micro_batch: %lld does not divide train.global_batch %lld", file,
                       (long long)c->micro_batch, (long long)c->global_batch);
    if (c->steps == 0 && c->epochs == 0)
        return pf_fail(PF_ERR_USAGE, "%s: train.steps: set train.steps or train.epochs", file);
    if (c->steps > 0 && c->epochs > 0)
        return pf_fail(PF_ERR_USAGE, "%s: train.epochs: set train.steps or train.epochs, not both",
                       file);
    if (c->max_prompt_length >= c->max_length)
        return pf_fail(PF_ERR_USAGE,
                       "%s: data.max_prompt_length: %lld must be below "
                       "data.max_length %lld",
                       file, (long long)c->max_prompt_length, (long long)c->max_length);
    if (c->max_length > c->model.max_seq_len)
        return pf_fail(PF_ERR_USAGE, "%s: data.max_length: %lld exceeds model.max_seq_len %d", file,
                       (long long)c->max_length, c->model.max_seq_len);
    int rc = check_online_relations(c, file);
    if (rc)
        return rc;
    if (c->model.d_model % c->model.n_head != 0)
        return pf_fail(PF_ERR_USAGE, "%s: model.n_head: d_model %d is not divisible by n_head %d",
                       file, c->model.d_model, c->model.n_head);
    return PF_OK;
}

int pf_config_from_text(const char *text, const char *name, const char *const *sets, int n_sets,
                        pf_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return pf_fail(PF_ERR_USAGE, "%s: not a JSON object", name);
    }
    cJSON *resolved = cJSON_CreateObject();
    int rc = PF_OK;
    for (int i = 0; i < n_sets && !rc; i++)
        rc = apply_set(root, sets[i]);
    if (!rc)
        rc = check_unknown(root, "", name);
    if (!rc)
        rc = resolve_keys(root, name, cfg, resolved);
    if (!rc)
        rc = check_relations(cfg, name);
    if (!rc && !(cfg->resolved_json = cJSON_PrintUnformatted(resolved)))
        rc = pf_fail(PF_ERR_RUNTIME, "%s: out of memory printing the config", name);
    cJSON_Delete(resolved);
    cJSON_Delete(root);
    return rc;
}

int pf_config_from_file(const char *path, const char *const *sets, int n_sets, pf_config *cfg)
{
    cJSON *root = NULL;
    memset(cfg, 0, sizeof *cfg);
    int rc = pf_config_load(path, &root);
    if (rc)
        return rc;
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        return pf_fail(PF_ERR_RUNTIME, "%s: out of memory", path);
    rc = pf_config_from_text(text, path, sets, n_sets, cfg);
    cJSON_free(text);
    return rc;
}

void pf_config_free(pf_config *cfg)
{
    if (cfg->resolved_json)
        cJSON_free(cfg->resolved_json);
    cfg->resolved_json = NULL;
}

int pf_config_check_resume(const pf_config *old_cfg, const pf_config *new_cfg)
{
    cJSON *a = cJSON_Parse(old_cfg->resolved_json), *b = cJSON_Parse(new_cfg->resolved_json);
    int rc = PF_OK;
    for (int i = 0; i < KEY_COUNT && !rc; i++) {
        if (!KEYS[i].trajectory)
            continue;
        const cJSON *va = find_path(a, KEYS[i].key), *vb = find_path(b, KEYS[i].key);
        if (!va || !vb || !cJSON_Compare(va, vb, 1))
            rc = pf_fail(PF_ERR_USAGE,
                         "%s: changed since the run started; --resume may only "
                         "change train.steps, train.epochs, intervals and data.eval",
                         KEYS[i].key);
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    return rc;
}
