/*
 * graders_template.c: OpenAI-style templates in grader strings, parsed once and
 * resolved per sample.
 *
 * A template is literal text with variables in double braces: {{ sample.output_text }},
 * {{ sample.tool_calls[N].function.name }}, {{ sample.tool_calls[N].function.arguments }}
 * and {{ item.PATH }} where PATH is keys separated by dots with [N] array indices
 * ("item.order.lines[0].sku"; plain "item" is the whole row). A string that is exactly
 * one variable (spaces around it allowed) is "whole" and yields the variable's value
 * itself: a JSON value for item paths, which typed keys such as "schema" need. Otherwise
 * every variable is rendered as text: strings as they are, numbers in their shortest
 * round-trip form, true/false, arrays and objects as canonical JSON, and anything
 * missing or null as "". Resolution returns pointers into the sample or the item where
 * it can, and only splices text into the caller's scratch buffer when it must.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "algo/graders_internal.h"
#include "prefopt/error.h"

static const char VARS_HELP[] = "sample.output_text, sample.tool_calls[N].function.name, "
                                "sample.tool_calls[N].function.arguments or item.FIELD";

/* Whether c is ASCII white space. */
static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* A copy of s[0..n) with a NUL after it, or NULL. */
static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Frees an item path. */
void gt_free_steps(gt_step *steps, int n)
{
    for (int i = 0; i < n; i++)
        free(steps[i].key);
    free(steps);
}

/* Reads "[digits]" at *p (inside [p, end)); returns the index or -1. */
static long read_index(const char **p, const char *end)
{
    const char *q = *p + 1;
    long v = 0;
    int digits = 0;
    while (q < end && *q >= '0' && *q <= '9' && digits < 9) {
        v = v * 10 + (*q++ - '0');
        digits++;
    }
    if (!digits || q >= end || *q != ']')
        return -1;
    *p = q + 1;
    return v;
}

/* Appends one step to *steps; returns 0 or -1 (no memory). */
static int add_step(gt_step **steps, int *n, char *key, long index)
{
    gt_step *s = realloc(*steps, (size_t)(*n + 1) * sizeof *s);
    if (!s)
        return -1;
    s[*n].key = key;
    s[*n].index = index;
    *steps = s;
    (*n)++;
    return 0;
}

/* Reads one step at *p (a key, or "[N]"); returns PF_OK, PF_ERR_USAGE (malformed) or
 * PF_ERR_RUNTIME. Keys end at '.', '[', ']', braces and white space. */
static int read_step(const char **p, const char *end, gt_step **steps, int *n)
{
    if (**p == '[') {
        long idx = read_index(p, end);
        return idx < 0 ? PF_ERR_USAGE : add_step(steps, n, NULL, idx) ? PF_ERR_RUNTIME : PF_OK;
    }
    const char *k = *p;
    while (*p < end && !strchr(".[]{} \t\n\r\f\v", **p))
        (*p)++;
    if (*p == k)
        return PF_ERR_USAGE;
    char *key = dup_n(k, (size_t)(*p - k));
    if (!key || add_step(steps, n, key, 0)) {
        free(key);
        return PF_ERR_RUNTIME;
    }
    return PF_OK;
}

/* Parses "a.b[2]" into steps. Returns PF_OK, PF_ERR_USAGE for a malformed path (no
 * message recorded; the caller names the key) or PF_ERR_RUNTIME. */
int gt_parse_path(const char *path, size_t len, gt_step **steps, int *n_steps)
{
    const char *p = path, *end = path + len;
    *steps = NULL;
    *n_steps = 0;
    int rc = len ? PF_OK : PF_ERR_USAGE;
    while (rc == PF_OK && p < end) {
        rc = read_step(&p, end, steps, n_steps);
        if (rc == PF_OK && p < end && *p == '.') /* a dot must be followed by a step */
            rc = ++p < end ? PF_OK : PF_ERR_USAGE;
        else if (rc == PF_OK && p < end && *p != '[')
            rc = PF_ERR_USAGE;
    }
    if (rc != PF_OK) {
        gt_free_steps(*steps, *n_steps);
        *steps = NULL;
        *n_steps = 0;
    }
    return rc;
}

/* Follows steps from item; NULL when a step is absent. */
const cJSON *gt_lookup(const cJSON *item, const gt_step *steps, int n_steps)
{
    const cJSON *cur = item;
    for (int i = 0; cur && i < n_steps; i++) {
        if (steps[i].key)
            cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, steps[i].key) : NULL;
        else
            cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, (int)steps[i].index) : NULL;
    }
    return cur;
}

/* Parses a sample variable (after "sample.") into part; returns 0, or -1 if unknown. */
static int parse_sample_var(gt_part *part, const char *v, size_t n)
{
    static const char TC[] = "tool_calls[", NAME[] = "].function.name",
                      ARGS[] = "].function.arguments";
    if (n == 11 && memcmp(v, "output_text", 11) == 0) {
        part->kind = GT_OUTPUT_TEXT;
        return 0;
    }
    if (n < sizeof TC || memcmp(v, TC, sizeof TC - 1) != 0)
        return -1;
    const char *p = v + sizeof TC - 2, *end = v + n;
    long idx = read_index(&p, end);
    p--; /* back onto ']' for the suffix comparison */
    size_t rest = (size_t)(end - p);
    if (idx < 0)
        return -1;
    part->index = idx;
    if (rest == sizeof NAME - 1 && memcmp(p, NAME, rest) == 0)
        part->kind = GT_TOOL_NAME;
    else if (rest == sizeof ARGS - 1 && memcmp(p, ARGS, rest) == 0)
        part->kind = GT_TOOL_ARGS;
    else
        return -1;
    return 0;
}

/* Parses the variable v[0..n) (already trimmed) into part. */
static int parse_var(gt_part *part, const char *v, size_t n, const char *where)
{
    part->text = dup_n(v, n);
    if (!part->text)
        return pf_fail(PF_ERR_RUNTIME, "%s: out of memory", where);
    int rc = PF_ERR_USAGE;
    if (n > 7 && memcmp(v, "sample.", 7) == 0)
        rc = parse_sample_var(part, v + 7, n - 7) ? PF_ERR_USAGE : PF_OK;
    else if (n == 4 && memcmp(v, "item", 4) == 0)
        rc = PF_OK, part->kind = GT_ITEM;
    else if (n > 5 && memcmp(v, "item.", 5) == 0) {
        part->kind = GT_ITEM;
        rc = gt_parse_path(v + 5, n - 5, &part->steps, &part->n_steps);
        if (rc == PF_ERR_RUNTIME)
            return pf_fail(rc, "%s: out of memory", where);
    }
    if (rc != PF_OK)
        return pf_fail(PF_ERR_USAGE, "%s: unknown template variable '%.*s' (use %s)", where, (int)n,
                       v, VARS_HELP);
    return PF_OK;
}

/* Appends a zeroed part to t; returns it or NULL (no memory). */
static gt_part *new_part(gt_tpl *t)
{
    gt_part *p = realloc(t->parts, (size_t)(t->n + 1) * sizeof *p);
    if (!p)
        return NULL;
    t->parts = p;
    memset(&p[t->n], 0, sizeof *p);
    return &p[t->n++];
}

/* Appends a literal part holding s[0..n). */
static int add_literal(gt_tpl *t, const char *s, size_t n, const char *where)
{
    gt_part *p = new_part(t);
    if (p) {
        p->kind = GT_LITERAL;
        p->text = dup_n(s, n);
        p->len = n;
    }
    return p && p->text ? PF_OK : pf_fail(PF_ERR_RUNTIME, "%s: out of memory", where);
}

/* Sets t->whole: one variable, and only white space in the literal parts. */
static void mark_whole(gt_tpl *t)
{
    int vars = 0, other = 0;
    for (int i = 0; i < t->n; i++) {
        if (t->parts[i].kind != GT_LITERAL) {
            vars++;
            continue;
        }
        for (size_t k = 0; k < t->parts[i].len; k++)
            other |= !is_space(t->parts[i].text[k]);
    }
    t->whole = vars == 1 && !other;
}

/* Parses the text after "{{" at *p; advances *p past "}}". */
static int parse_brace(gt_tpl *t, const char **p, const char *where)
{
    const char *open = *p + 2, *close = strstr(open, "}}");
    if (!close)
        return pf_fail(PF_ERR_USAGE, "%s: unterminated template '{{' (close it with '}}')", where);
    const char *a = open, *b = close;
    while (a < b && is_space(*a))
        a++;
    while (b > a && is_space(b[-1]))
        b--;
    gt_part *part = new_part(t);
    if (!part)
        return pf_fail(PF_ERR_RUNTIME, "%s: out of memory", where);
    *p = close + 2;
    return parse_var(part, a, (size_t)(b - a), where);
}

/* Parses text as a template. item_only: the text must be one whole {{item.PATH}}. */
int gt_parse(gt_tpl *t, const char *text, const char *where, int item_only)
{
    memset(t, 0, sizeof *t);
    const char *p = text;
    int rc = PF_OK;
    while (rc == PF_OK && *p) {
        const char *open = strstr(p, "{{");
        size_t lit = open ? (size_t)(open - p) : strlen(p);
        if (lit)
            rc = add_literal(t, p, lit, where);
        p += lit;
        if (rc == PF_OK && open)
            rc = parse_brace(t, &p, where);
    }
    if (rc == PF_OK && t->n == 0)
        rc = add_literal(t, "", 0, where);
    mark_whole(t);
    int item_whole = 0;
    for (int i = 0; t->whole && i < t->n; i++)
        item_whole |= t->parts[i].kind == GT_ITEM;
    if (rc == PF_OK && item_only && !item_whole)
        rc = pf_fail(PF_ERR_USAGE, "%s: a template here must be exactly one {{item.FIELD}}", where);
    if (rc != PF_OK)
        gt_free(t);
    return rc;
}

/* Frees a template (safe on a zeroed one). */
void gt_free(gt_tpl *t)
{
    for (int i = 0; i < t->n; i++) {
        free(t->parts[i].text);
        gt_free_steps(t->parts[i].steps, t->parts[i].n_steps);
    }
    free(t->parts);
    memset(t, 0, sizeof *t);
}

/* The variable part of a whole template. */
static const gt_part *whole_part(const gt_tpl *t)
{
    for (int i = 0; i < t->n; i++)
        if (t->parts[i].kind != GT_LITERAL)
            return &t->parts[i];
    return &t->parts[0];
}

/* The tool call a part reads, or NULL when the sample has none at that index. */
static const pf_tool_call *tool_call(const gt_part *p, const pf_grade_sample *s)
{
    return (size_t)p->index < s->n_tool_calls ? &s->tool_calls[p->index] : NULL;
}

/* Resolves one part. Sample values are text (missing when there is no such call); item
 * values are JSON (missing when absent or null). */
static void part_value(const gt_part *p, const pf_grade_sample *s, const cJSON *item, gval *v)
{
    const pf_tool_call *tc =
        p->kind == GT_TOOL_NAME || p->kind == GT_TOOL_ARGS ? tool_call(p, s) : NULL;
    const char *text = NULL;
    memset(v, 0, sizeof *v);
    if (p->kind == GT_LITERAL)
        text = p->text;
    else if (p->kind == GT_OUTPUT_TEXT)
        text = s->output_text ? s->output_text : "";
    else if (tc)
        text = p->kind == GT_TOOL_NAME ? tc->name : tc->arguments;
    else if (p->kind == GT_ITEM) {
        v->j = gt_lookup(item, p->steps, p->n_steps);
        v->kind = v->j && !cJSON_IsNull(v->j) ? GV_JSON : GV_MISSING;
        return;
    }
    if (text || tc) {
        v->kind = GV_TEXT;
        v->s = text ? text : "";
        v->n = p->kind == GT_LITERAL ? p->len : strlen(v->s);
    }
}

/* Appends the text form of a resolved value to b. */
static int value_text(const gval *v, pj_buf *b)
{
    if (v->kind == GV_TEXT)
        return pj_buf_put(b, v->s, v->n);
    if (v->kind == GV_MISSING)
        return pj_buf_put(b, "", 0);
    if (cJSON_IsString(v->j))
        return pj_buf_put(b, v->j->valuestring, strlen(v->j->valuestring));
    if (cJSON_IsTrue(v->j) || cJSON_IsFalse(v->j))
        return cJSON_IsTrue(v->j) ? pj_buf_put(b, "true", 4) : pj_buf_put(b, "false", 5);
    return gj_print(v->j, b);
}

/* Value of a whole template, else the text of the template. */
int gt_value(const gt_tpl *t, const pf_grade_sample *s, const cJSON *item, pj_buf *scratch,
             gval *out)
{
    if (t->whole) {
        part_value(whole_part(t), s, item, out);
        return PF_OK;
    }
    memset(out, 0, sizeof *out);
    out->kind = GV_TEXT;
    return gt_text(t, s, item, scratch, &out->s, &out->n);
}

/* The text of t: direct pointers for one part that is text already, else spliced into
 * scratch. The result is NUL-terminated. */
int gt_text(const gt_tpl *t, const pf_grade_sample *s, const cJSON *item, pj_buf *scratch,
            const char **text, size_t *len)
{
    gval v;
    if (t->whole || t->n == 1) {
        part_value(t->whole ? whole_part(t) : &t->parts[0], s, item, &v);
        if (v.kind == GV_TEXT || v.kind == GV_MISSING || cJSON_IsString(v.j)) {
            *text = v.kind == GV_TEXT ? v.s : v.kind == GV_MISSING ? "" : v.j->valuestring;
            *len = v.kind == GV_TEXT ? v.n : strlen(*text);
            return PF_OK;
        }
    }
    scratch->len = 0;
    int rc = pj_buf_put(scratch, "", 0);
    for (int i = 0; i < t->n && !rc; i++) {
        if (t->whole && t->parts[i].kind == GT_LITERAL)
            continue;
        part_value(&t->parts[i], s, item, &v);
        rc = value_text(&v, scratch);
    }
    if (rc)
        return pf_fail(PF_ERR_RUNTIME, "grader template: out of memory");
    *text = scratch->p;
    *len = scratch->len;
    return PF_OK;
}
