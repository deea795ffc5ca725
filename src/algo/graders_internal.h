/*
 * graders_internal.h: the grader representation shared by the graders_*.c files.
 *
 * A parsed grader owns everything it points to except resolved multi references, which
 * borrow siblings of the same pf_grader_set. String values are kept as templates (a list
 * of literal and variable parts, see gt_*); typed values (schema, phrases, min, max,
 * expect_match) are kept as a gkey: a deep copy of the literal JSON, or a whole-value
 * {{item.PATH}} template resolved per item. Scoring reads the grader only.
 */
#ifndef PREFOPT_GRADERS_INTERNAL_H
#define PREFOPT_GRADERS_INTERNAL_H

#include <cjson/cJSON.h>
#include <regex.h>
#include <stddef.h>

#include "data/json.h" /* pj_buf: growable buffers; pj_write_string */
#include "prefopt/graders.h"

/* ---------------------------------------------------------------- templates */

typedef enum {
    GT_LITERAL,     /* text */
    GT_OUTPUT_TEXT, /* sample.output_text */
    GT_TOOL_NAME,   /* sample.tool_calls[index].function.name */
    GT_TOOL_ARGS,   /* sample.tool_calls[index].function.arguments */
    GT_ITEM,        /* item.PATH */
} gt_kind;

/* One step of an item path: an object key, or an array index when key is NULL. */
typedef struct {
    char *key;
    long index;
} gt_step;

typedef struct {
    gt_kind kind;
    char *text; /* GT_LITERAL: the text; others: the variable as written, for messages */
    size_t len; /* GT_LITERAL: bytes of text */
    long index; /* GT_TOOL_*: the call index */
    gt_step *steps;
    int n_steps; /* GT_ITEM */
} gt_part;

/* A string value: parts in order. whole = 1 when it is exactly one variable (spaces
 * around it allowed), which then yields the variable's JSON value. */
typedef struct {
    gt_part *parts;
    int n;
    int whole;
} gt_tpl;

/* A resolved value: missing, text (s, n; not NUL-terminated in general) or JSON. */
typedef enum { GV_MISSING, GV_TEXT, GV_JSON } gv_kind;
typedef struct {
    gv_kind kind;
    const char *s;
    size_t n;
    const cJSON *j;
} gval;

/* Parses text as a template into t; errors name where (the key). item_only = 1 allows
 * only one whole {{item.PATH}} variable (typed keys). */
int gt_parse(gt_tpl *t, const char *text, const char *where, int item_only);
void gt_free(gt_tpl *t);

/* Parses "a.b[2]" (an item path without the "item." root) into steps. */
int gt_parse_path(const char *path, size_t len, gt_step **steps, int *n_steps);
void gt_free_steps(gt_step *steps, int n);

/* Follows steps from item; NULL when absent. */
const cJSON *gt_lookup(const cJSON *item, const gt_step *steps, int n_steps);

/* The value of a whole template (or the text of any other). scratch holds spliced text. */
int gt_value(const gt_tpl *t, const pf_grade_sample *s, const cJSON *item, pj_buf *scratch,
             gval *out);

/* The text of a template: every variable rendered as text, missing ones as "". */
int gt_text(const gt_tpl *t, const pf_grade_sample *s, const cJSON *item, pj_buf *scratch,
            const char **text, size_t *len);

/* ---------------------------------------------------------------- typed keys */

/* A typed key: absent, a literal (owned deep copy) or a whole {{item.PATH}} template. */
typedef struct {
    int present;
    cJSON *literal;
    gt_tpl tpl;
} gkey;

/* ---------------------------------------------------------------- graders */

enum { OP_EQ, OP_NE, OP_LIKE, OP_ILIKE, OP_COUNT };
enum { UNIT_WORDS, UNIT_CHARS, UNIT_BYTES, UNIT_TOKENS, UNIT_COUNT };
enum { CALC_MEAN, CALC_MIN, CALC_MAX, CALC_COUNT };

/* One sub-grader of a multi: owned inline grader, or a reference to a set sibling. */
typedef struct {
    pf_grader *g;
    int owned;
    char *ref; /* the referenced name, until resolved */
    double weight;
} gsub;

struct pf_grader {
    pf_grader_type type;
    char *name, *description, *where;
    char **targets;
    size_t n_targets;
    gt_step **requires;
    int *requires_len;
    size_t n_requires;
    gt_tpl input;
    /* string_check */
    int op;
    gt_tpl reference;
    /* json_schema */
    gkey schema;
    /* regex */
    regex_t re;
    int re_ok;
    gkey expect_match;
    int ignore_case; /* regex, banned_phrases */
    /* length */
    int unit;
    gkey min, max;
    /* banned_phrases */
    gkey phrases;
    /* multi */
    gsub *subs;
    size_t n_subs;
    int calc;
    /* set membership: the owning set and this grader's index in it */
    const pf_grader_set *owner;
    size_t index;
};

/* Scoring state: the sample, the item and, when a whole set is scored, its memo. */
typedef struct {
    const pf_grade_sample *sample;
    const cJSON *item;
    const pf_grader_set *set;
    double *memo;
    int *memo_app;
    unsigned char *memo_done;
} gctx;

/* Parses one grader (graders.c); dflt_name names it when the spec has no "name";
 * allow_refs lets a multi name set siblings (top-level graders of a set only). */
int gr_parse(const cJSON *spec, const char *where, const char *dflt_name, int allow_refs,
             pf_grader **out);
/* Per-type parse of the keys beyond the common ones (graders_types.c). */
int gr_parse_type(pf_grader *g, const cJSON *spec);
/* Per-type scoring of a non-multi grader (graders_types.c). */
int gr_score_type(const pf_grader *g, const gctx *c, double *score, int *app);
/* Scores any grader, using and filling the memo (graders.c). */
int gr_score(const pf_grader *g, const gctx *c, double *score, int *app);

/* Key helpers shared by the parsers (graders.c). */
int gr_fail(const pf_grader *g, int code, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int gr_text_key(pf_grader *g, const cJSON *spec, const char *key, gt_tpl *t, const char *dflt);
int gr_typed_key(pf_grader *g, const cJSON *spec, const char *key, gkey *k);
int gr_bool_key(pf_grader *g, const cJSON *spec, const char *key, int *out, int dflt);
int gr_choice_key(pf_grader *g, const cJSON *spec, const char *key, const char *const *names,
                  int count, int dflt, int *out);
void gk_free(gkey *k);
/* The template variable of a typed key as written ("item.x"), for messages. */
const char *gk_name(const gkey *k);
/* Resolves a typed key: *v = the literal or the item's value, NULL when absent/null. */
void gk_resolve(const gkey *k, const cJSON *item, const cJSON **v);

/* ---------------------------------------------------------------- text, JSON (graders_text.c,
 * graders_json.c) */

/* Whether text[0..n) contains needle[0..m), ASCII case-insensitively when icase. */
int gx_contains(const char *text, size_t n, const char *needle, size_t m, int icase);
/* Maximal runs of non-whitespace (Unicode White_Space as Python's str.isspace). */
size_t gx_words(const char *text, size_t n);
/* Unicode code points (bytes that are not UTF-8 continuation bytes). */
size_t gx_chars(const char *text, size_t n);
/* Trims leading and trailing whitespace (the same set as gx_words). */
void gx_trim(const char **text, size_t *n);

/* Whether text[0..n) is exactly one RFC 8259 JSON value (UTF-8 checked). */
int gj_valid(const char *text, size_t n);
/* Whether v satisfies schema (the documented subset). */
int gj_schema_ok(const cJSON *v, const cJSON *schema);
/* Checks that schema uses the subset correctly; on an error writes "PATH: what" into
 * msg and returns -1. */
int gj_schema_check(const cJSON *schema, char *msg, size_t cap);
/* Appends the canonical JSON text of v to b (compact, members in order). */
int gj_print(const cJSON *v, pj_buf *b);

#endif
