/*
 * records.c: the top level of each format (dpo, sft, prompts, trl): required fields,
 * their types, output checks, and the normalisation of every format to pf_record.
 *
 * Checks run in an order that lets later ones rely on earlier facts: tools before
 * messages (tool calls are matched against the declared functions), input messages
 * before outputs (an output's tool messages may answer the input's calls). Each output
 * sees the input's call ids plus its own: r->call_ids is trimmed back after each.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

static const char *const DPO_KEYS[] = {"input",
                                       "preferred_output",
                                       "non_preferred_output",
                                       "preferred_completion",
                                       "non_preferred_completion",
                                       "metadata",
                                       "margin",
                                       NULL};
static const char *const INPUT_KEYS[] = {"messages", "tools", "parallel_tool_calls", NULL};
static const char *const SFT_KEYS[] = {"messages", "tools", "parallel_tool_calls", "metadata",
                                       NULL};
static const char *const TRL_KEYS[] = {"prompt", "chosen", "rejected", "metadata", "margin", NULL};

const char *pd_type_name(const pj_doc *d, uint32_t i)
{
    static const char *const names[] = {"null",   "false", "true",  "number",
                                        "string", "array", "object"};
    return names[d->nodes[i].type];
}

void *pd_out_alloc(pd_run *r, size_t n)
{
    pd_chunk *a = r->out->arena;
    void *p = pd_alloc(&a, n);
    r->out->arena = a;
    if (!p)
        r->oom = 1;
    return p;
}

const char *pd_out_strdup(pd_run *r, const char *s, size_t n)
{
    pd_chunk *a = r->out->arena;
    char *p = pd_strdup(&a, s, n);
    r->out->arena = a;
    if (!p)
        r->oom = 1;
    return p;
}

const char *pd_copy_str(pd_run *r, uint32_t i)
{
    char *p = pd_out_alloc(r, r->doc.nodes[i].len + 1);
    if (p)
        pj_decode(&r->doc, i, p);
    return p;
}

const char *pd_canonical(pd_run *r, uint32_t i)
{
    r->buf.len = 0;
    if (pj_write(&r->doc, i, &r->buf)) {
        r->oom = 1;
        return NULL;
    }
    return pd_out_strdup(r, r->buf.p, r->buf.len);
}

/* ---------------------------------------------------------------- keys */

/* A key's hash and node, for duplicate search in large objects. */
typedef struct {
    uint64_t h;
    uint32_t node;
} keyhash;

/* qsort order of keyhash by hash. */
static int cmp_keyhash(const void *a, const void *b)
{
    uint64_t x = ((const keyhash *)a)->h, y = ((const keyhash *)b)->h;
    return x < y ? -1 : x > y;
}

/* A repeated key of a small object (k <= 8 members), by pairwise comparison. */
static uint32_t find_dup_key_small(const pj_doc *d, uint32_t obj)
{
    for (uint32_t a = obj + 1; a; a = d->nodes[d->nodes[a].next].next)
        for (uint32_t b = d->nodes[d->nodes[a].next].next; b; b = d->nodes[d->nodes[b].next].next)
            if (pj_str_equal(d, a, d, b))
                return b;
    return 0;
}

/* A key of obj repeated later (0 when none): pairwise for small objects, else
 * O(k log k) via sorted hashes. */
static uint32_t find_dup_key(pd_run *r, uint32_t obj)
{
    const pj_doc *d = &r->doc;
    uint32_t k = d->nodes[obj].count / 2, n = 0, dup = 0;
    if (k < 2)
        return 0;
    if (k <= 8)
        return find_dup_key_small(d, obj);
    keyhash *v = malloc(k * sizeof *v);
    if (!v) {
        r->oom = 1;
        return 0;
    }
    for (uint32_t key = obj + 1; key; key = d->nodes[d->nodes[key].next].next) {
        size_t len = 0;
        const char *s = pj_str(&r->doc, key, &len);
        uint64_t h = 1469598103934665603ULL;
        for (size_t j = 0; s && j < len; j++)
            h = (h ^ (unsigned char)s[j]) * 1099511628211ULL;
        v[n++] = (keyhash){h, key};
    }
    qsort(v, n, sizeof *v, cmp_keyhash);
    for (uint32_t j = 1; j < n && !dup; j++)
        if (v[j].h == v[j - 1].h && pj_str_equal(d, v[j].node, d, v[j - 1].node))
            dup = v[j].node;
    free(v);
    return dup;
}

/* Whether key node k is one of the NULL-terminated known names. */
static int is_known(const pj_doc *d, uint32_t k, const char *const *known)
{
    for (; *known; known++)
        if (pj_str_is(d, k, *known))
            return 1;
    return 0;
}

/* Formats "path" or "path[idx]" (or "the line" when path is NULL) into buf. */
static const char *where(char *buf, size_t size, const char *path, int idx)
{
    if (!path)
        snprintf(buf, size, "the line");
    else if (idx >= 0)
        snprintf(buf, size, "%s[%d]", path, idx);
    else
        snprintf(buf, size, "%s", path);
    return buf;
}

int pd_check_keys(pd_run *r, uint32_t obj, const char *path, int idx, const char *const *known)
{
    pj_doc *d = &r->doc;
    char at[192];
    size_t len = 0;
    uint32_t dup = find_dup_key(r, obj);
    if (dup) {
        const char *s = pj_str(d, dup, &len);
        pd_error(r, PD_DUP_KEY, "%s: key '%.*s' appears twice", where(at, sizeof at, path, idx),
                 (int)(len > 60 ? 60 : len), s ? s : "");
    }
    for (uint32_t k = known && d->nodes[obj].count ? obj + 1 : 0; k;
         k = d->nodes[d->nodes[k].next].next) {
        if (is_known(d, k, known))
            continue;
        const char *s = pj_str(d, k, &len);
        pd_warn(r, PD_UNKNOWN_KEY, "%s: unknown key '%.*s'", where(at, sizeof at, path, idx),
                (int)(len > 60 ? 60 : len), s ? s : "");
    }
    return dup ? -1 : 0;
}

/* ---------------------------------------------------------------- shared parts */

/* Checks the optional tools / parallel_tool_calls members of obj (prefix for paths). */
static void check_tools_fields(pd_run *r, uint32_t obj, const char *prefix, pf_record *rec)
{
    const pj_doc *d = &r->doc;
    char path[64];
    uint32_t tools = pj_get(d, obj, "tools"), par = pj_get(d, obj, "parallel_tool_calls");
    if (tools && d->nodes[tools].type != PJ_NULL) {
        snprintf(path, sizeof path, "%stools", prefix);
        pd_check_tools(r, tools, path);
        if (rec && d->nodes[tools].type == PJ_ARRAY)
            rec->tools = pd_canonical(r, tools);
    }
    if (par && d->nodes[par].type != PJ_TRUE && d->nodes[par].type != PJ_FALSE)
        pd_error(r, PD_WRONG_TYPE, "%sparallel_tool_calls: expected true or false, got %s", prefix,
                 pd_type_name(d, par));
    if (rec)
        rec->parallel_tool_calls = !par || d->nodes[par].type != PJ_FALSE;
}

/* Checks the prompt/conversation messages node msgs at path (0 when absent). Returns
 * the number of assistant messages (-1 after an error that hides the count). */
static int check_prompt(pd_run *r, uint32_t msgs, const char *path, pf_messages *out)
{
    const pj_doc *d = &r->doc;
    if (!msgs || d->nodes[msgs].type == PJ_NULL) {
        pd_error(r, PD_NO_MESSAGES, "%s is missing", path);
        return -1;
    }
    if (d->nodes[msgs].type != PJ_ARRAY) {
        pd_error(r, PD_WRONG_TYPE, "%s: expected an array of messages, got %s", path,
                 pd_type_name(d, msgs));
        return -1;
    }
    if (d->nodes[msgs].count == 0) {
        pd_error(r, PD_NO_MESSAGES, "%s is empty", path);
        return -1;
    }
    return pd_check_messages(r, msgs, (pd_list_kind){path, 0}, out);
}

/* Checks a preferred/non-preferred output array; call ids it adds are dropped after. */
static void check_output(pd_run *r, uint32_t o, const char *name, pf_messages *out)
{
    const pj_doc *d = &r->doc;
    if (d->nodes[o].type != PJ_ARRAY) {
        pd_error(r, PD_OUTPUT_NOT_ARRAY, "%s: expected an array of messages, got %s", name,
                 pd_type_name(d, o));
        return;
    }
    if (d->nodes[o].count == 0) {
        pd_error(r, PD_OUTPUT_EMPTY, "%s is an empty array", name);
        return;
    }
    uint32_t saved = r->call_ids.n;
    if (pd_check_messages(r, o, (pd_list_kind){name, 1}, out) == 0)
        pd_error(r, PD_OUTPUT_NO_ASSISTANT, "%s holds no assistant message", name);
    r->call_ids.n = saved;
}

/* The output member named now (or its older name old); reports absence and conflicts.
 * *name receives the name found. */
static uint32_t pick_output(pd_run *r, const char *now, const char *old, const char **name)
{
    uint32_t a = pj_get(&r->doc, 0, now), b = pj_get(&r->doc, 0, old);
    if (a && b)
        pd_error(r, PD_CONFLICT, "both %s and %s are given", now, old);
    else if (!a && !b)
        pd_error(r, PD_MISSING_FIELD, "no \"%s\" (or \"%s\")", now, old);
    *name = a ? now : old;
    return a ? a : b;
}

/* Checks the optional metadata object; keeps it and its string reason. */
static void check_metadata(pd_run *r, pf_record *rec)
{
    const pj_doc *d = &r->doc;
    uint32_t m = pj_get(d, 0, "metadata");
    if (!m || d->nodes[m].type == PJ_NULL)
        return;
    if (d->nodes[m].type != PJ_OBJECT) {
        pd_error(r, PD_WRONG_TYPE, "metadata: expected an object, got %s", pd_type_name(d, m));
        return;
    }
    uint32_t reason = pj_get(d, m, "reason");
    int str = reason && d->nodes[reason].type == PJ_STRING;
    if (str && (d->nodes[reason].flags & PJ_F_NUL)) {
        pd_error(r, PD_NUL_CHAR, "metadata.reason holds \\u0000");
        return;
    }
    if (rec) {
        rec->metadata = pd_canonical(r, m);
        rec->reason = str ? pd_copy_str(r, reason) : NULL;
    }
}

/* Checks the optional top-level "margin" of a preference pair (the reward-model margin,
 * rm.use_margin): a finite JSON number; keeps it (0 when absent or null). */
static void check_margin(pd_run *r, pf_record *rec)
{
    const pj_doc *d = &r->doc;
    uint32_t m = pj_get(d, 0, "margin");
    if (!m || d->nodes[m].type == PJ_NULL)
        return;
    if (d->nodes[m].type != PJ_NUMBER) {
        pd_error(r, PD_WRONG_TYPE, "margin: expected a number, got %s", pd_type_name(d, m));
        return;
    }
    char num[64] = "";
    size_t len = d->nodes[m].len < sizeof num - 1 ? d->nodes[m].len : sizeof num - 1;
    memcpy(num, d->text + d->nodes[m].start, len);
    double v = strtod(num, NULL);
    if (!isfinite(v)) {
        pd_error(r, PD_WRONG_TYPE, "margin: %s is not a finite number", num);
        return;
    }
    if (rec) {
        rec->margin = v;
        rec->has_margin = 1;
    }
}

/* Warns when outputs a and b (both present) are token-for-token identical. */
static void check_identical(pd_run *r, uint32_t a, uint32_t b, const char *na, const char *nb)
{
    if (a && b && pj_tree_equal(&r->doc, a, &r->doc, b))
        pd_warn(r, PD_IDENTICAL, "%s and %s are identical", na, nb);
}

/* ---------------------------------------------------------------- formats */

/* dpo: input, preferred and non-preferred outputs, metadata. */
static void check_dpo(pd_run *r, pf_record *rec)
{
    const pj_doc *d = &r->doc;
    pd_check_keys(r, 0, NULL, -1, DPO_KEYS);
    uint32_t in = pj_get(d, 0, "input");
    if (!in)
        pd_error(r, PD_MISSING_FIELD, "no \"input\"");
    else if (d->nodes[in].type != PJ_OBJECT)
        pd_error(r, PD_WRONG_TYPE, "input: expected an object, got %s", pd_type_name(d, in));
    else {
        pd_check_keys(r, in, "input", -1, INPUT_KEYS);
        check_tools_fields(r, in, "input.", rec);
        check_prompt(r, pj_get(d, in, "messages"), "input.messages", rec ? &rec->messages : NULL);
    }
    const char *np = NULL, *nn = NULL;
    uint32_t p = pick_output(r, "preferred_output", "preferred_completion", &np);
    uint32_t n = pick_output(r, "non_preferred_output", "non_preferred_completion", &nn);
    if (p)
        check_output(r, p, np, rec ? &rec->chosen : NULL);
    if (n)
        check_output(r, n, nn, rec ? &rec->rejected : NULL);
    check_identical(r, p, n, np, nn);
    check_metadata(r, rec);
    check_margin(r, rec);
}

/* Counts the assistant messages of array msgs with a "weight" of 0. */
static int zero_weights(const pj_doc *d, uint32_t msgs)
{
    int n = 0;
    for (uint32_t m = d->nodes[msgs].count ? msgs + 1 : 0; m; m = d->nodes[m].next) {
        uint32_t w = pj_get(d, m, "weight"), role = pj_get(d, m, "role");
        n += w && role && pj_str_is(d, role, "assistant") && d->nodes[w].type == PJ_NUMBER &&
             strtod(d->text + d->nodes[w].start, NULL) == 0.0;
    }
    return n;
}

/* sft: one conversation with at least one assistant message. */
static void check_sft(pd_run *r, pf_record *rec)
{
    const pj_doc *d = &r->doc;
    pd_check_keys(r, 0, NULL, -1, SFT_KEYS);
    check_tools_fields(r, 0, "", rec);
    uint32_t msgs = pj_get(d, 0, "messages");
    int assistants = check_prompt(r, msgs, "messages", rec ? &rec->messages : NULL);
    if (assistants == 0)
        pd_error(r, PD_NO_ASSISTANT, "messages hold no assistant message");
    else if (assistants > 0 && zero_weights(d, msgs) == assistants)
        pd_warn(r, PD_ALL_WEIGHTS_ZERO,
                "every assistant message has weight 0: nothing to train on");
    check_metadata(r, rec);
}

/* prompts: messages ending with a user turn; every other field is kept for graders. */
static void check_prompts(pd_run *r, pf_record *rec)
{
    const pj_doc *d = &r->doc;
    pd_check_keys(r, 0, NULL, -1, NULL);
    check_tools_fields(r, 0, "", rec);
    uint32_t msgs = pj_get(d, 0, "messages");
    if (check_prompt(r, msgs, "messages", rec ? &rec->messages : NULL) < 0)
        return;
    uint32_t last = msgs + 1;
    while (d->nodes[last].next)
        last = d->nodes[last].next;
    uint32_t role = d->nodes[last].type == PJ_OBJECT ? pj_get(d, last, "role") : 0;
    if (role && d->nodes[role].type == PJ_STRING && !pj_str_is(d, role, "user"))
        pd_error(r, PD_LAST_NOT_USER, "messages[%u]: the last message must be from the user",
                 d->nodes[msgs].count - 1);
    if (rec)
        rec->item = pd_canonical(r, 0);
}

/* trl: prompt, chosen and rejected, each a string or a message list. */
static void check_trl_side(pd_run *r, const char *name, pf_messages *out, uint32_t *node)
{
    const pj_doc *d = &r->doc;
    uint32_t s = *node = pj_get(d, 0, name);
    int prompt = strcmp(name, "prompt") == 0;
    if (!s)
        pd_error(r, PD_MISSING_FIELD, "no \"%s\"", name);
    else if (d->nodes[s].type == PJ_STRING && prompt && d->nodes[s].len == 0)
        pd_error(r, PD_NO_MESSAGES, "prompt is empty");
    else if (d->nodes[s].type == PJ_STRING)
        pd_single_message(r, s, prompt ? PF_ROLE_USER : PF_ROLE_ASSISTANT, name, out);
    else if (d->nodes[s].type != PJ_ARRAY)
        pd_error(r, PD_WRONG_TYPE, "%s: expected a string or an array of messages, got %s", name,
                 pd_type_name(d, s));
    else if (prompt)
        check_prompt(r, s, name, out);
    else
        check_output(r, s, name, out);
}

/* trl: the convenience preference format. */
static void check_trl(pd_run *r, pf_record *rec)
{
    uint32_t p, c, j;
    pd_check_keys(r, 0, NULL, -1, TRL_KEYS);
    check_trl_side(r, "prompt", rec ? &rec->messages : NULL, &p);
    check_trl_side(r, "chosen", rec ? &rec->chosen : NULL, &c);
    check_trl_side(r, "rejected", rec ? &rec->rejected : NULL, &j);
    check_identical(r, c, j, "chosen", "rejected");
    check_metadata(r, rec);
    check_margin(r, rec);
    if (rec)
        rec->parallel_tool_calls = 1;
}

void pd_check_record(pd_run *r, pf_record *rec)
{
    const pj_doc *d = &r->doc;
    r->call_ids.n = 0;
    r->tool_names.n = 0;
    if (d->nodes[0].type != PJ_OBJECT) {
        pd_error(r, PD_NOT_OBJECT, "expected a JSON object, got %s", pd_type_name(d, 0));
        return;
    }
    if (rec) {
        rec->line = r->line;
        rec->format = r->format;
        rec->parallel_tool_calls = 1;
    }
    switch (r->format) {
    case PF_DATA_DPO:
        check_dpo(r, rec);
        break;
    case PF_DATA_SFT:
        check_sft(r, rec);
        break;
    case PF_DATA_PROMPTS:
        check_prompts(r, rec);
        break;
    default:
        check_trl(r, rec);
        break;
    }
}
