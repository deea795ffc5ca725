/*
 * graders.c: grader specs and sets: the common keys, the multi grader, grader files,
 * name references, and the scoring entry points (see include/prefopt/graders.h).
 *
 * Parsing checks every key (unknown keys included) and reports the first problem as
 * "<where>.<key>: <what>", where is the grader's location (e.g. "style_checks.json:
 * [3]"); the grader keeps where so that per-item data errors name it too. A multi's
 * sub-graders are inline objects (owned) or, in a set, names of other top-level graders
 * of the set (borrowed; resolved after the whole set is parsed, cycles refused). Scoring
 * a whole set fills a memo indexed by set position, so each grader is scored once per
 * sample even when several multi graders read it.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/graders_internal.h"
#include "prefopt/error.h"

static const char *const TYPE_NAMES[] = {"string_check", "json_valid",     "json_schema", "regex",
                                         "length",       "banned_phrases", "multi"};
_Static_assert(sizeof TYPE_NAMES / sizeof TYPE_NAMES[0] == PF_GRADER_TYPE_COUNT,
               "one name per grader type");

static const char COMMON_KEYS[] = "name type description requires targets";
static const char *const TYPE_KEYS[PF_GRADER_TYPE_COUNT] = {
    "input reference operation",
    "input",
    "input schema",
    "input pattern ignore_case expect_match",
    "input unit min max",
    "input phrases ignore_case",
    "graders calculate_output weights",
};
static const char *const CALCS[CALC_COUNT] = {"mean", "min", "max"};

enum { WHERE_MAX = 1024, MEMO_STACK = 64 };

/* The name of a grader type, or NULL. */
const char *pf_grader_type_name(pf_grader_type type)
{
    return (unsigned)type < PF_GRADER_TYPE_COUNT ? TYPE_NAMES[type] : NULL;
}

/* ---------------------------------------------------------------- key helpers */

/* Writes "<where>.<key>" into buf ("<where><key>" after a trailing space). */
static void key_where(const char *where, const char *key, char *buf, size_t cap)
{
    size_t n = strlen(where);
    const char *parts[3] = {where, !key || n == 0 || where[n - 1] == ' ' ? "" : ".",
                            key ? key : ""};
    size_t len = 0;
    for (int i = 0; i < 3; i++)
        for (const char *p = parts[i]; *p && len + 1 < cap; p++)
            buf[len++] = *p;
    buf[len] = '\0';
}

/* Records "<where>.<key>: <message>" for g and returns code. */
int gr_fail(const pf_grader *g, int code, const char *key, const char *fmt, ...)
{
    char kw[WHERE_MAX], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    key_where(g->where, key, kw, sizeof kw);
    return pf_fail(code, "%s: %s", kw, msg);
}

/* Whether word is one of the space-separated words of list. */
static int in_list(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, word, n) == 0)
            return 1;
        p += len + (e != NULL);
    }
    return 0;
}

/* A text template under key; dflt when absent (NULL: the key is required). */
int gr_text_key(pf_grader *g, const cJSON *spec, const char *key, gt_tpl *t, const char *dflt)
{
    char kw[WHERE_MAX];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    key_where(g->where, key, kw, sizeof kw);
    if (!v && !dflt)
        return gr_fail(g, PF_ERR_USAGE, key, "missing (required by type %s)", TYPE_NAMES[g->type]);
    if (v && !cJSON_IsString(v))
        return gr_fail(g, PF_ERR_USAGE, key, "must be a string");
    return gt_parse(t, v ? v->valuestring : dflt, kw, 0);
}

/* A typed key: a literal (deep copy) or a whole {{item.PATH}} template. */
int gr_typed_key(pf_grader *g, const cJSON *spec, const char *key, gkey *k)
{
    char kw[WHERE_MAX];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    memset(k, 0, sizeof *k);
    if (!v)
        return PF_OK;
    k->present = 1;
    key_where(g->where, key, kw, sizeof kw);
    if (cJSON_IsString(v) && strstr(v->valuestring, "{{"))
        return gt_parse(&k->tpl, v->valuestring, kw, 1);
    k->literal = cJSON_Duplicate(v, 1);
    return k->literal ? PF_OK : gr_fail(g, PF_ERR_RUNTIME, key, "out of memory");
}

/* A boolean literal under key (dflt when absent). */
int gr_bool_key(pf_grader *g, const cJSON *spec, const char *key, int *out, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (v && !cJSON_IsBool(v))
        return gr_fail(g, PF_ERR_USAGE, key, "must be true or false");
    *out = v ? cJSON_IsTrue(v) : dflt;
    return PF_OK;
}

/* One of count names under key; dflt when absent (dflt < 0: required). */
int gr_choice_key(pf_grader *g, const cJSON *spec, const char *key, const char *const *names,
                  int count, int dflt, int *out)
{
    char list[256] = "";
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    for (int i = 0; i < count; i++) {
        if (cJSON_IsString(v) && strcmp(v->valuestring, names[i]) == 0) {
            *out = i;
            return PF_OK;
        }
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "|" : "", names[i]);
    }
    if (!v && dflt >= 0) {
        *out = dflt;
        return PF_OK;
    }
    if (!v)
        return gr_fail(g, PF_ERR_USAGE, key, "missing (must be one of %s)", list);
    return gr_fail(g, PF_ERR_USAGE, key, "must be one of %s", list);
}

/* Frees a typed key. */
void gk_free(gkey *k)
{
    cJSON_Delete(k->literal);
    gt_free(&k->tpl);
    memset(k, 0, sizeof *k);
}

/* The variable part of a typed key's template (NULL for a literal). */
static const gt_part *gk_part(const gkey *k)
{
    for (int i = 0; i < k->tpl.n; i++)
        if (k->tpl.parts[i].kind == GT_ITEM)
            return &k->tpl.parts[i];
    return NULL;
}

/* The template variable of a typed key as written ("item.x"), for messages. */
const char *gk_name(const gkey *k)
{
    const gt_part *p = gk_part(k);
    return p ? p->text : "";
}

/* *v = the literal or the item's value; NULL when absent or null. */
void gk_resolve(const gkey *k, const cJSON *item, const cJSON **v)
{
    const gt_part *p = gk_part(k);
    *v = !k->present ? NULL : k->literal ? k->literal : gt_lookup(item, p->steps, p->n_steps);
    if (*v && cJSON_IsNull(*v))
        *v = NULL;
}

/* ---------------------------------------------------------------- common keys */

/* Copies a list of strings under key into *out / *n. */
static int string_list(pf_grader *g, const cJSON *spec, const char *key, char ***out, size_t *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!v)
        return PF_OK;
    if (!cJSON_IsArray(v))
        return gr_fail(g, PF_ERR_USAGE, key, "must be a list of strings");
    *out = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof **out);
    if (!*out)
        return gr_fail(g, PF_ERR_RUNTIME, key, "out of memory");
    for (const cJSON *x = v->child; x; x = x->next) {
        if (!cJSON_IsString(x))
            return gr_fail(g, PF_ERR_USAGE, key, "must be a list of strings");
        if (!((*out)[*n] = strdup(x->valuestring)))
            return gr_fail(g, PF_ERR_RUNTIME, key, "out of memory");
        (*n)++;
    }
    return PF_OK;
}

/* Parses "requires": a list of item field paths ("a", "a.b[0]"; "item." is optional). */
static int parse_requires(pf_grader *g, const cJSON *spec)
{
    char **names = NULL, key[64];
    size_t n = 0;
    int rc = string_list(g, spec, "requires", &names, &n);
    if (rc == PF_OK && n) {
        g->requires = calloc(n, sizeof *g->requires);
        g->requires_len = calloc(n, sizeof *g->requires_len);
        if (!g->requires || !g->requires_len)
            rc = gr_fail(g, PF_ERR_RUNTIME, "requires", "out of memory");
    }
    for (size_t i = 0; rc == PF_OK && i < n; i++) {
        const char *p = strncmp(names[i], "item.", 5) == 0 ? names[i] + 5 : names[i];
        rc = gt_parse_path(p, strlen(p), &g->requires[i], &g -> requires_len[i]);
        g->n_requires += rc == PF_OK;
        snprintf(key, sizeof key, "requires[%zu]", i);
        if (rc != PF_OK)
            rc = gr_fail(g, rc, key, "'%s' is not an item field path (like a.b[0])", names[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* Parses type, name, description, targets and requires. */
static int parse_common(pf_grader *g, const cJSON *spec, const char *dflt_name)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(spec, "name");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(spec, "description");
    int t = 0;
    if (!cJSON_IsObject(spec))
        return gr_fail(g, PF_ERR_USAGE, NULL, "must be a JSON object (a grader)");
    int rc = gr_choice_key(g, spec, "type", TYPE_NAMES, PF_GRADER_TYPE_COUNT, -1, &t);
    g->type = (pf_grader_type)t;
    if (rc != PF_OK)
        return rc;
    if (!name && !dflt_name)
        return gr_fail(g, PF_ERR_USAGE, "name", "missing (every grader needs a name)");
    if (name && (!cJSON_IsString(name) || !name->valuestring[0]))
        return gr_fail(g, PF_ERR_USAGE, "name", "must be a non-empty string");
    if (name && dflt_name && strcmp(name->valuestring, dflt_name) != 0)
        return gr_fail(g, PF_ERR_USAGE, "name", "'%s' differs from its key '%s'", name->valuestring,
                       dflt_name);
    if (desc && !cJSON_IsString(desc))
        return gr_fail(g, PF_ERR_USAGE, "description", "must be a string");
    g->name = strdup(name ? name->valuestring : dflt_name);
    g->description = strdup(desc ? desc->valuestring : "");
    if (!g->name || !g->description)
        return gr_fail(g, PF_ERR_RUNTIME, NULL, "out of memory");
    rc = string_list(g, spec, "targets", &g->targets, &g->n_targets);
    return rc == PF_OK ? parse_requires(g, spec) : rc;
}

/* Refuses keys that neither the common list nor the type's list names. */
static int check_keys(pf_grader *g, const cJSON *spec)
{
    for (const cJSON *m = spec->child; m; m = m->next)
        if (!in_list(COMMON_KEYS, m->string) && !in_list(TYPE_KEYS[g->type], m->string))
            return gr_fail(g, PF_ERR_USAGE, m->string, "unknown key for type %s (known: %s %s)",
                           TYPE_NAMES[g->type], COMMON_KEYS, TYPE_KEYS[g->type]);
    return PF_OK;
}

/* ---------------------------------------------------------------- multi */

/* The name of sub-grader s (its reference or its own name). */
static const char *sub_name(const gsub *s) { return s->ref ? s->ref : s->g->name; }

/* Parses sub-grader i (value v, key name for the object form) into s. */
static int parse_sub(pf_grader *g, const cJSON *v, size_t i, const char *name, int allow_refs,
                     gsub *s)
{
    char key[WHERE_MAX], kw[WHERE_MAX];
    if (name)
        snprintf(key, sizeof key, "graders.%s", name);
    else
        snprintf(key, sizeof key, "graders[%zu]", i);
    s->weight = 1.0;
    if (cJSON_IsString(v) && !name) {
        if (!allow_refs)
            return gr_fail(g, PF_ERR_USAGE, key,
                           "'%s' names another grader, which only graders of one file can do "
                           "(pf_grader_set_parse / pf_grader_load_file); give it inline instead",
                           v->valuestring);
        s->ref = strdup(v->valuestring);
        return s->ref ? PF_OK : gr_fail(g, PF_ERR_RUNTIME, key, "out of memory");
    }
    if (!cJSON_IsObject(v))
        return gr_fail(g, PF_ERR_USAGE, key, "must be a grader object%s",
                       name ? "" : " or the name of a grader of the same file");
    key_where(g->where, key, kw, sizeof kw);
    s->owned = 1;
    return gr_parse(v, kw, name, 0, &s->g);
}

/* Refuses two sub-graders with the same name. */
static int check_sub_names(pf_grader *g)
{
    char key[64];
    for (size_t i = 0; i < g->n_subs; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(sub_name(&g->subs[i]), sub_name(&g->subs[j])) == 0) {
                snprintf(key, sizeof key, "graders[%zu]", i);
                return gr_fail(g, PF_ERR_USAGE, key, "'%s' appears twice", sub_name(&g->subs[i]));
            }
    return PF_OK;
}

/* Whether v is a usable weight. */
static int weight_ok(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0;
}

/* Sets the weight of the sub-grader named name from v. */
static int set_weight(pf_grader *g, const char *name, const cJSON *v, const char *key)
{
    for (size_t i = 0; i < g->n_subs; i++)
        if (strcmp(sub_name(&g->subs[i]), name) == 0) {
            if (!weight_ok(v))
                return gr_fail(g, PF_ERR_USAGE, key, "must be a number >= 0");
            g->subs[i].weight = v->valuedouble;
            return PF_OK;
        }
    return gr_fail(g, PF_ERR_USAGE, key, "names no grader of \"graders\"");
}

/* Parses "weights": {name: w} or [w, ...] (one per sub-grader); unlisted weigh 1. */
static int parse_weights(pf_grader *g, const cJSON *w)
{
    char key[WHERE_MAX];
    double total = 0.0;
    size_t i = 0;
    if (g->calc != CALC_MEAN)
        return gr_fail(g, PF_ERR_USAGE, "weights", "only for calculate_output mean");
    if (cJSON_IsArray(w) && (size_t)cJSON_GetArraySize(w) != g->n_subs)
        return gr_fail(g, PF_ERR_USAGE, "weights", "must have one entry per grader (%zu)",
                       g->n_subs);
    if (!cJSON_IsArray(w) && !cJSON_IsObject(w))
        return gr_fail(g, PF_ERR_USAGE, "weights", "must be an object {name: weight} or a list");
    for (const cJSON *x = w->child; x; x = x->next, i++) {
        int obj = cJSON_IsObject(w);
        if (obj)
            snprintf(key, sizeof key, "weights.%s", x->string);
        else
            snprintf(key, sizeof key, "weights[%zu]", i);
        int rc = set_weight(g, obj ? x->string : sub_name(&g->subs[i]), x, key);
        if (rc != PF_OK)
            return rc;
    }
    for (i = 0; i < g->n_subs; i++)
        total += g->subs[i].weight;
    return total > 0 ? PF_OK : gr_fail(g, PF_ERR_USAGE, "weights", "at least one must be > 0");
}

/* Parses graders, calculate_output and weights of a multi grader. */
static int parse_multi(pf_grader *g, const cJSON *spec, int allow_refs)
{
    const cJSON *subs = cJSON_GetObjectItemCaseSensitive(spec, "graders");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(spec, "weights");
    if (!subs)
        return gr_fail(g, PF_ERR_USAGE, "graders", "missing (required by type multi)");
    if ((!cJSON_IsArray(subs) && !cJSON_IsObject(subs)) || !subs->child)
        return gr_fail(g, PF_ERR_USAGE, "graders",
                       "must be a non-empty list (names or graders) or object {name: grader}");
    g->subs = calloc((size_t)cJSON_GetArraySize(subs), sizeof *g->subs);
    if (!g->subs)
        return gr_fail(g, PF_ERR_RUNTIME, "graders", "out of memory");
    int rc = PF_OK;
    for (const cJSON *x = subs->child; x && rc == PF_OK; x = x->next) {
        const char *name = cJSON_IsObject(subs) ? x->string : NULL;
        rc = parse_sub(g, x, g->n_subs, name, allow_refs, &g->subs[g->n_subs]);
        g->n_subs++;
    }
    if (rc == PF_OK)
        rc = check_sub_names(g);
    if (rc == PF_OK)
        rc = gr_choice_key(g, spec, "calculate_output", CALCS, CALC_COUNT, CALC_MEAN, &g->calc);
    return rc == PF_OK && w ? parse_weights(g, w) : rc;
}

/* ---------------------------------------------------------------- graders */

/* Parses one grader; refs allowed only for top-level graders of a set. */
int gr_parse(const cJSON *spec, const char *where, const char *dflt_name, int allow_refs,
             pf_grader **out)
{
    *out = NULL;
    pf_grader *g = calloc(1, sizeof *g);
    if (!g || !(g->where = strdup(where))) {
        free(g);
        return pf_fail(PF_ERR_RUNTIME, "%s: out of memory", where);
    }
    int rc = parse_common(g, spec, dflt_name);
    if (rc == PF_OK)
        rc = check_keys(g, spec);
    if (rc == PF_OK)
        rc = g->type == PF_GRADER_MULTI ? parse_multi(g, spec, allow_refs) : gr_parse_type(g, spec);
    if (rc != PF_OK) {
        pf_grader_free(g);
        return rc;
    }
    *out = g;
    return PF_OK;
}

/* Parses one grader spec (see graders.h). */
int pf_grader_parse(const cJSON *spec, const char *where, pf_grader **out)
{
    return gr_parse(spec, where ? where : "grader", NULL, 0, out);
}

/* Frees g and what it owns. */
void pf_grader_free(pf_grader *g)
{
    if (!g)
        return;
    free(g->name);
    free(g->description);
    free(g->where);
    for (size_t i = 0; i < g->n_targets; i++)
        free(g->targets[i]);
    free(g->targets);
    for (size_t i = 0; i < g->n_requires; i++)
        gt_free_steps(g->requires[i], g -> requires_len[i]);
    free(g->requires);
    free(g->requires_len);
    gt_free(&g->input);
    gt_free(&g->reference);
    gk_free(&g->schema);
    gk_free(&g->expect_match);
    gk_free(&g->min);
    gk_free(&g->max);
    gk_free(&g->phrases);
    if (g->re_ok)
        regfree(&g->re);
    for (size_t i = 0; i < g->n_subs; i++) {
        if (g->subs[i].owned)
            pf_grader_free(g->subs[i].g);
        free(g->subs[i].ref);
    }
    free(g->subs);
    free(g);
}

/* The grader's name. */
const char *pf_grader_name(const pf_grader *g) { return g->name; }

/* The grader's type. */
pf_grader_type pf_grader_get_type(const pf_grader *g) { return g->type; }

/* The grader's description ("" when none). */
const char *pf_grader_description(const pf_grader *g) { return g->description; }

/* The number of "targets" entries. */
size_t pf_grader_target_count(const pf_grader *g) { return g->n_targets; }

/* Target i of g, or NULL. */
const char *pf_grader_target(const pf_grader *g, size_t i)
{
    return i < g->n_targets ? g->targets[i] : NULL;
}

/* ---------------------------------------------------------------- scoring */

/* Whether every "requires" field is present and not null in item. */
static int requires_met(const pf_grader *g, const cJSON *item)
{
    for (size_t i = 0; i < g->n_requires; i++) {
        const cJSON *v = gt_lookup(item, g->requires[i], g -> requires_len[i]);
        if (!v || cJSON_IsNull(v))
            return 0;
    }
    return 1;
}

/* Combines the applicable sub-grader scores: weighted mean, min or max. */
static int score_multi(const pf_grader *g, const gctx *c, double *score, int *app)
{
    double sum = 0.0, wsum = 0.0, best = g->calc == CALC_MIN ? 1.0 : 0.0;
    int any = 0;
    for (size_t i = 0; i < g->n_subs; i++) {
        double s;
        int a, rc = gr_score(g->subs[i].g, c, &s, &a);
        if (rc != PF_OK)
            return rc;
        if (!a)
            continue;
        sum += g->subs[i].weight * s;
        wsum += g->subs[i].weight;
        best = g->calc == CALC_MIN ? fmin(best, s) : fmax(best, s);
        any = 1;
    }
    if (g->calc == CALC_MEAN ? wsum > 0.0 : any) {
        *score = g->calc == CALC_MEAN ? sum / wsum : best;
        *app = 1;
    }
    return PF_OK;
}

/* Scores any grader, through the memo when c scores g's set. */
int gr_score(const pf_grader *g, const gctx *c, double *score, int *app)
{
    int memo = c->set && g->owner == c->set;
    *score = 0.0;
    *app = 0;
    if (memo && c->memo_done[g->index]) {
        *score = c->memo[g->index];
        *app = c->memo_app[g->index];
        return PF_OK;
    }
    int rc = PF_OK;
    if (requires_met(g, c->item))
        rc = g->type == PF_GRADER_MULTI ? score_multi(g, c, score, app)
                                        : gr_score_type(g, c, score, app);
    if (rc != PF_OK || !*app)
        *score = 0.0, *app = rc == PF_OK ? *app : 0;
    *score = *score < 0.0 ? 0.0 : *score > 1.0 ? 1.0 : *score;
    if (memo && rc == PF_OK) {
        c->memo[g->index] = *score;
        c->memo_app[g->index] = *app;
        c->memo_done[g->index] = 1;
    }
    return rc;
}

/* Parses item_json into *item (NULL text gives NULL). */
static int parse_item(const char *item_json, cJSON **item)
{
    *item = item_json ? cJSON_Parse(item_json) : NULL;
    if (item_json && !cJSON_IsObject(*item)) {
        cJSON_Delete(*item);
        *item = NULL;
        return pf_fail(PF_ERR_DATA, "grader item: not a JSON object");
    }
    return PF_OK;
}

/* Scores sample against g with a parsed item. */
int pf_grader_score_item(const pf_grader *g, const pf_grade_sample *sample, const cJSON *item,
                         double *score, int *applicable)
{
    static const pf_grade_sample empty;
    gctx c = {sample ? sample : &empty, item, NULL, NULL, NULL, NULL};
    return gr_score(g, &c, score, applicable);
}

/* Scores sample against g with the item given as JSON text. */
int pf_grader_score(const pf_grader *g, const pf_grade_sample *sample, const char *item_json,
                    double *score, int *applicable)
{
    cJSON *item;
    *score = 0.0;
    *applicable = 0;
    int rc = parse_item(item_json, &item);
    if (rc == PF_OK)
        rc = pf_grader_score_item(g, sample, item, score, applicable);
    cJSON_Delete(item);
    return rc;
}

/* Scores every grader of set once (see graders.h). */
int pf_grader_set_score_item(const pf_grader_set *set, const pf_grade_sample *sample,
                             const cJSON *item, double *scores, int *applicable)
{
    static const pf_grade_sample empty;
    unsigned char stack[MEMO_STACK] = {0};
    unsigned char *done = set->n <= MEMO_STACK ? stack : calloc(set->n, 1);
    if (!done)
        return pf_fail(PF_ERR_RUNTIME, "graders: out of memory");
    for (size_t i = 0; i < set->n; i++)
        scores[i] = 0.0, applicable[i] = 0;
    gctx c = {sample ? sample : &empty, item, set, scores, applicable, done};
    int rc = PF_OK;
    for (size_t i = 0; i < set->n && rc == PF_OK; i++) {
        double s;
        int a;
        rc = gr_score(set->items[i], &c, &s, &a);
    }
    if (done != stack)
        free(done);
    return rc;
}

/* Like pf_grader_set_score_item with the item as JSON text. */
int pf_grader_set_score(const pf_grader_set *set, const pf_grade_sample *sample,
                        const char *item_json, double *scores, int *applicable)
{
    cJSON *item;
    for (size_t i = 0; i < set->n; i++)
        scores[i] = 0.0, applicable[i] = 0;
    int rc = parse_item(item_json, &item);
    if (rc == PF_OK)
        rc = pf_grader_set_score_item(set, sample, item, scores, applicable);
    cJSON_Delete(item);
    return rc;
}
