/*
 * graders_types.c: the six leaf grader types, each a parse function (the keys beyond
 * name/type/description/requires/targets, all checked here so errors name the key) and
 * a score function, registered in one table indexed by pf_grader_type.
 *
 * Every leaf grader reads "input" (a text template, default {{sample.output_text}}) and
 * scores 1 or 0. Typed keys (schema, expect_match, min, max, phrases) are a literal,
 * checked at parse time, or one {{item.FIELD}} template, checked per item: a missing or
 * null field makes the grader not applicable, a field of the wrong type is a data error
 * naming the grader and the key.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/graders_internal.h"
#include "prefopt/error.h"

static const char DEFAULT_INPUT[] = "{{sample.output_text}}";
static const char *const OPS[OP_COUNT] = {"eq", "ne", "like", "ilike"};
static const char *const UNITS[UNIT_COUNT] = {"words", "chars", "bytes", "tokens"};

/* ---------------------------------------------------------------- value checks */

typedef int (*value_ok_fn)(const cJSON *v);

/* A boolean. */
static int is_bool(const cJSON *v) { return cJSON_IsBool(v); }

/* A finite number >= 0. */
static int is_count(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0;
}

/* A string, or a list of strings. */
static int is_phrases(const cJSON *v)
{
    if (cJSON_IsString(v))
        return 1;
    if (!cJSON_IsArray(v))
        return 0;
    for (const cJSON *x = v->child; x; x = x->next)
        if (!cJSON_IsString(x))
            return 0;
    return 1;
}

/* A schema: an object, or true/false. */
static int is_schema(const cJSON *v) { return cJSON_IsObject(v) || cJSON_IsBool(v); }

/* The JSON type of v as a word, for messages. */
static const char *type_word(const cJSON *v)
{
    return cJSON_IsString(v)   ? "a string"
           : cJSON_IsNumber(v) ? "a number"
           : cJSON_IsBool(v)   ? "a boolean"
           : cJSON_IsArray(v)  ? "a list"
           : cJSON_IsObject(v) ? "an object"
                               : "null";
}

/* Checks a parsed typed key: a literal must pass ok; templates are checked per item. */
static int check_literal(pf_grader *g, const char *key, const gkey *k, value_ok_fn ok,
                         const char *what)
{
    if (!k->present || !k->literal || ok(k->literal))
        return PF_OK;
    return gr_fail(g, PF_ERR_USAGE, key, "must be %s or an {{item.FIELD}} template (got %s)", what,
                   type_word(k->literal));
}

/* Resolves a typed key for the item into *v. Returns PF_OK with *v NULL when the value
 * is missing (not applicable), PF_ERR_DATA when it fails ok. */
static int typed_value(const pf_grader *g, const gctx *c, const char *key, const gkey *k,
                       value_ok_fn ok, const char *what, const cJSON **v)
{
    gk_resolve(k, c->item, v);
    if (!*v || ok(*v))
        return PF_OK;
    return gr_fail(g, PF_ERR_DATA, key, "{{%s}} is %s, want %s", gk_name(k), type_word(*v), what);
}

/* The text of the input template (scratch holds spliced text). */
static int input_text(const pf_grader *g, const gctx *c, pj_buf *scratch, const char **s, size_t *n)
{
    return gt_text(&g->input, c->sample, c->item, scratch, s, n);
}

/* ---------------------------------------------------------------- string_check */

/* input (default the output text), reference (required), operation (required). */
static int parse_string_check(pf_grader *g, const cJSON *spec)
{
    int rc = gr_text_key(g, spec, "input", &g->input, DEFAULT_INPUT);
    if (rc == PF_OK)
        rc = gr_text_key(g, spec, "reference", &g->reference, NULL);
    if (rc == PF_OK)
        rc = gr_choice_key(g, spec, "operation", OPS, OP_COUNT, -1, &g->op);
    return rc;
}

/* eq / ne: byte equality; like / ilike: input contains reference. */
static int score_string_check(const pf_grader *g, const gctx *c, double *score, int *app)
{
    pj_buf b1 = {0}, b2 = {0};
    const char *in = NULL, *ref = NULL;
    size_t n = 0, m = 0;
    int rc = input_text(g, c, &b1, &in, &n);
    if (rc == PF_OK)
        rc = gt_text(&g->reference, c->sample, c->item, &b2, &ref, &m);
    if (rc == PF_OK) {
        int eq = n == m && memcmp(in, ref, n) == 0;
        int ok = g->op == OP_EQ   ? eq
                 : g->op == OP_NE ? !eq
                                  : gx_contains(in, n, ref, m, g->op == OP_ILIKE);
        *score = ok ? 1.0 : 0.0;
        *app = 1;
    }
    pj_buf_free(&b1);
    pj_buf_free(&b2);
    return rc;
}

/* ---------------------------------------------------------------- json_valid */

/* input only. */
static int parse_json_valid(pf_grader *g, const cJSON *spec)
{
    return gr_text_key(g, spec, "input", &g->input, DEFAULT_INPUT);
}

/* 1 when the trimmed input is exactly one JSON value. */
static int score_json_valid(const pf_grader *g, const gctx *c, double *score, int *app)
{
    pj_buf b = {0};
    const char *in;
    size_t n;
    int rc = input_text(g, c, &b, &in, &n);
    if (rc == PF_OK) {
        gx_trim(&in, &n);
        *score = gj_valid(in, n) ? 1.0 : 0.0;
        *app = 1;
    }
    pj_buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- json_schema */

/* input and schema (required: a literal schema, checked now, or {{item.FIELD}}). */
static int parse_json_schema(pf_grader *g, const cJSON *spec)
{
    char msg[600];
    int rc = gr_text_key(g, spec, "input", &g->input, DEFAULT_INPUT);
    if (rc == PF_OK)
        rc = gr_typed_key(g, spec, "schema", &g->schema);
    if (rc == PF_OK && !g->schema.present)
        return gr_fail(g, PF_ERR_USAGE, "schema", "missing (required by type json_schema)");
    if (rc == PF_OK)
        rc = check_literal(g, "schema", &g->schema, is_schema, "a JSON Schema object");
    if (rc == PF_OK && g->schema.literal && gj_schema_check(g->schema.literal, msg, sizeof msg))
        return gr_fail(g, PF_ERR_USAGE, "schema", "%s", msg);
    return rc;
}

/* 1 when the trimmed input is valid JSON and satisfies the schema. */
static int score_json_schema(const pf_grader *g, const gctx *c, double *score, int *app)
{
    char msg[600];
    const cJSON *schema;
    int rc = typed_value(g, c, "schema", &g->schema, is_schema, "a JSON Schema object", &schema);
    if (rc != PF_OK || !schema)
        return rc;
    if (!g->schema.literal && gj_schema_check(schema, msg, sizeof msg))
        return gr_fail(g, PF_ERR_DATA, "schema", "{{%s}}: %s", gk_name(&g->schema), msg);
    pj_buf b = {0};
    const char *in;
    size_t n;
    rc = input_text(g, c, &b, &in, &n);
    if (rc == PF_OK) {
        gx_trim(&in, &n);
        cJSON *v = gj_valid(in, n) ? cJSON_ParseWithLength(in, n) : NULL;
        *score = v && gj_schema_ok(v, schema) ? 1.0 : 0.0;
        *app = 1;
        cJSON_Delete(v);
    }
    pj_buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- regex */

/* input, pattern (compiled now), ignore_case, expect_match (default true). */
static int parse_regex(pf_grader *g, const cJSON *spec)
{
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(spec, "pattern");
    int rc = gr_text_key(g, spec, "input", &g->input, DEFAULT_INPUT);
    if (rc == PF_OK)
        rc = gr_bool_key(g, spec, "ignore_case", &g->ignore_case, 0);
    if (rc == PF_OK)
        rc = gr_typed_key(g, spec, "expect_match", &g->expect_match);
    if (rc == PF_OK)
        rc = check_literal(g, "expect_match", &g->expect_match, is_bool, "a boolean");
    if (rc != PF_OK)
        return rc;
    if (!pat)
        return gr_fail(g, PF_ERR_USAGE, "pattern", "missing (required by type regex)");
    if (!cJSON_IsString(pat))
        return gr_fail(g, PF_ERR_USAGE, "pattern", "must be a string");
    int err = regcomp(&g->re, pat->valuestring,
                      REG_EXTENDED | REG_NOSUB | (g->ignore_case ? REG_ICASE : 0));
    if (err) {
        char msg[256];
        regerror(err, &g->re, msg, sizeof msg);
        return gr_fail(g, PF_ERR_USAGE, "pattern", "invalid POSIX extended regex: %s", msg);
    }
    g->re_ok = 1;
    return PF_OK;
}

/* 1 when "a match exists" equals expect_match (default true). */
static int score_regex(const pf_grader *g, const gctx *c, double *score, int *app)
{
    const cJSON *want = NULL;
    int rc = typed_value(g, c, "expect_match", &g->expect_match, is_bool, "a boolean", &want);
    if (rc != PF_OK || (g->expect_match.present && !want))
        return rc;
    pj_buf b = {0};
    const char *in;
    size_t n;
    rc = input_text(g, c, &b, &in, &n);
    int m = rc == PF_OK ? regexec(&g->re, in, 0, NULL, 0) : REG_NOMATCH;
    if (rc == PF_OK && m != 0 && m != REG_NOMATCH)
        rc = gr_fail(g, PF_ERR_RUNTIME, "pattern", "regexec failed (%d)", m);
    if (rc == PF_OK) {
        int expect = want ? cJSON_IsTrue(want) : 1;
        *score = (m == 0) == expect ? 1.0 : 0.0;
        *app = 1;
    }
    pj_buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- length */

/* input, unit (default words), min and/or max (inclusive). */
static int parse_length(pf_grader *g, const cJSON *spec)
{
    int rc = gr_text_key(g, spec, "input", &g->input, DEFAULT_INPUT);
    if (rc == PF_OK)
        rc = gr_choice_key(g, spec, "unit", UNITS, UNIT_COUNT, UNIT_WORDS, &g->unit);
    if (rc == PF_OK)
        rc = gr_typed_key(g, spec, "min", &g->min);
    if (rc == PF_OK)
        rc = gr_typed_key(g, spec, "max", &g->max);
    if (rc == PF_OK)
        rc = check_literal(g, "min", &g->min, is_count, "a number >= 0");
    if (rc == PF_OK)
        rc = check_literal(g, "max", &g->max, is_count, "a number >= 0");
    if (rc == PF_OK && !g->min.present && !g->max.present)
        rc = gr_fail(g, PF_ERR_USAGE, "max", "missing (type length needs min, max or both)");
    if (rc == PF_OK && g->min.literal && g->max.literal &&
        g->min.literal->valuedouble > g->max.literal->valuedouble)
        rc = gr_fail(g, PF_ERR_USAGE, "min", "must not exceed max");
    return rc;
}

/* The length of s[0..n) in the grader's unit. */
static int measure(const pf_grader *g, const gctx *c, const char *s, size_t n, size_t *len)
{
    if (g->unit == UNIT_WORDS)
        *len = gx_words(s, n);
    else if (g->unit == UNIT_CHARS)
        *len = gx_chars(s, n);
    else if (g->unit == UNIT_BYTES)
        *len = n;
    else if (!c->sample->count_tokens)
        return gr_fail(g, PF_ERR_USAGE, "unit",
                       "tokens needs a token counter (pf_grade_sample.count_tokens)");
    else
        return c->sample->count_tokens(c->sample->count_tokens_ctx, s, n, len);
    return PF_OK;
}

/* 1 when min <= length <= max. */
static int score_length(const pf_grader *g, const gctx *c, double *score, int *app)
{
    const cJSON *lo = NULL, *hi = NULL;
    int rc = typed_value(g, c, "min", &g->min, is_count, "a number >= 0", &lo);
    if (rc == PF_OK)
        rc = typed_value(g, c, "max", &g->max, is_count, "a number >= 0", &hi);
    if (rc != PF_OK || (g->min.present && !lo) || (g->max.present && !hi))
        return rc;
    pj_buf b = {0};
    const char *in;
    size_t n, len = 0;
    rc = input_text(g, c, &b, &in, &n);
    if (rc == PF_OK)
        rc = measure(g, c, in, n, &len);
    if (rc == PF_OK) {
        double x = (double)len;
        *score = (!lo || x >= lo->valuedouble) && (!hi || x <= hi->valuedouble) ? 1.0 : 0.0;
        *app = 1;
    }
    pj_buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- banned_phrases */

/* input, phrases (required: a string, a list, or {{item.FIELD}}), ignore_case. */
static int parse_banned(pf_grader *g, const cJSON *spec)
{
    int rc = gr_text_key(g, spec, "input", &g->input, DEFAULT_INPUT);
    if (rc == PF_OK)
        rc = gr_bool_key(g, spec, "ignore_case", &g->ignore_case, 0);
    if (rc == PF_OK)
        rc = gr_typed_key(g, spec, "phrases", &g->phrases);
    if (rc == PF_OK && !g->phrases.present)
        return gr_fail(g, PF_ERR_USAGE, "phrases", "missing (required by type banned_phrases)");
    if (rc == PF_OK)
        rc = check_literal(g, "phrases", &g->phrases, is_phrases, "a string or a list of strings");
    const cJSON *lit = g->phrases.literal;
    for (const cJSON *x = lit && cJSON_IsArray(lit) ? lit->child : lit; rc == PF_OK && x;
         x = x->next)
        if (!x->valuestring[0])
            return gr_fail(g, PF_ERR_USAGE, "phrases", "must not hold an empty phrase");
    return rc;
}

/* Whether in[0..n) contains the phrase p. */
static int has_phrase(const pf_grader *g, const char *in, size_t n, const cJSON *p)
{
    return gx_contains(in, n, p->valuestring, strlen(p->valuestring), g->ignore_case);
}

/* 1 when no phrase occurs in the input. */
static int score_banned(const pf_grader *g, const gctx *c, double *score, int *app)
{
    const cJSON *ph = NULL;
    int rc =
        typed_value(g, c, "phrases", &g->phrases, is_phrases, "a string or a list of strings", &ph);
    if (rc != PF_OK || !ph)
        return rc;
    pj_buf b = {0};
    const char *in;
    size_t n;
    rc = input_text(g, c, &b, &in, &n);
    if (rc == PF_OK) {
        int found = cJSON_IsString(ph) && has_phrase(g, in, n, ph);
        for (const cJSON *x = cJSON_IsArray(ph) ? ph->child : NULL; x && !found; x = x->next)
            found = has_phrase(g, in, n, x);
        *score = found ? 0.0 : 1.0;
        *app = 1;
    }
    pj_buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- registry */

typedef struct {
    int (*parse)(pf_grader *g, const cJSON *spec);
    int (*score)(const pf_grader *g, const gctx *c, double *score, int *app);
} type_ops;

static const type_ops OPS_TABLE[] = {
    [PF_GRADER_STRING_CHECK] = {parse_string_check, score_string_check},
    [PF_GRADER_JSON_VALID] = {parse_json_valid, score_json_valid},
    [PF_GRADER_JSON_SCHEMA] = {parse_json_schema, score_json_schema},
    [PF_GRADER_REGEX] = {parse_regex, score_regex},
    [PF_GRADER_LENGTH] = {parse_length, score_length},
    [PF_GRADER_BANNED_PHRASES] = {parse_banned, score_banned},
};
_Static_assert(sizeof OPS_TABLE / sizeof OPS_TABLE[0] == PF_GRADER_MULTI,
               "one entry per leaf grader type (multi is handled in graders.c)");

/* Parses the type-specific keys of a leaf grader. */
int gr_parse_type(pf_grader *g, const cJSON *spec) { return OPS_TABLE[g->type].parse(g, spec); }

/* Scores a leaf grader (requires already checked). */
int gr_score_type(const pf_grader *g, const gctx *c, double *score, int *app)
{
    return OPS_TABLE[g->type].score(g, c, score, app);
}
