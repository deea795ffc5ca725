/*
 * messages.c: the rules for chat messages, tool calls and tool definitions, shared by
 * every format, and the building of pf_message values.
 *
 * A message list is checked in order so that tool messages can be matched with the
 * tool calls made before them: every call id met is appended to r->call_ids, and the
 * caller decides how long ids stay visible (a DPO output sees the input's calls plus
 * its own, never the other output's). Details name the JSON path of the problem, e.g.
 * "input.messages[2].tool_calls[0].function.arguments". When building (r->out set),
 * strings are copied into the record arena; on any error the caller drops the record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

static const char *const MESSAGE_KEYS[] = {"role",         "content", "name", "tool_calls",
                                           "tool_call_id", "weight",  NULL};
static const char *const CALL_KEYS[] = {"id", "type", "function", NULL};
static const char *const FUNCTION_KEYS[] = {"name", "arguments", NULL};

/* The role named by string node i, or -1. */
static int parse_role(const pj_doc *d, uint32_t i)
{
    for (int k = 0; k < PF_ROLE_COUNT; k++)
        if (pj_str_is(d, i, pf_role_name((pf_role)k)))
            return k;
    return -1;
}

/* Whether string node i is a non-empty string; reports rule otherwise. */
static int want_name(pd_run *r, uint32_t i, pd_rule rule, const char *path, int idx,
                     const char *what)
{
    const pj_doc *d = &r->doc;
    if (!i) {
        pd_error(r, rule, "%s[%d]: no \"%s\"", path, idx, what);
        return 0;
    }
    if (d->nodes[i].type != PJ_STRING || d->nodes[i].len == 0) {
        pd_error(r, rule, "%s[%d]: \"%s\" must be a non-empty string, got %s", path, idx, what,
                 d->nodes[i].type == PJ_STRING ? "\"\"" : pd_type_name(d, i));
        return 0;
    }
    if (d->nodes[i].flags & PJ_F_NUL) {
        pd_error(r, PD_NUL_CHAR, "%s[%d]: \"%s\" holds \\u0000", path, idx, what);
        return 0;
    }
    return 1;
}

/* Concatenates the text parts of content array c into one arena string. */
static const char *join_parts(pd_run *r, uint32_t c)
{
    const pj_doc *d = &r->doc;
    size_t cap = 1;
    for (uint32_t p = d->nodes[c].count ? c + 1 : 0; p; p = d->nodes[p].next)
        cap += d->nodes[pj_get(d, p, "text")].len;
    char *s = pd_out_alloc(r, cap), *w = s;
    for (uint32_t p = d->nodes[c].count ? c + 1 : 0; s && p; p = d->nodes[p].next)
        w += pj_decode(d, pj_get(d, p, "text"), w);
    return s;
}

/* Checks one content part p (index k) of message idx. */
static int check_part(pd_run *r, uint32_t p, const char *path, int idx, int k)
{
    const pj_doc *d = &r->doc;
    uint32_t type = d->nodes[p].type == PJ_OBJECT ? pj_get(d, p, "type") : 0;
    uint32_t text = d->nodes[p].type == PJ_OBJECT ? pj_get(d, p, "text") : 0;
    if (!type || !pj_str_is(d, type, "text") || !text || d->nodes[text].type != PJ_STRING) {
        pd_error(r, PD_CONTENT_TYPE,
                 "%s[%d].content[%d]: expected {\"type\": \"text\", \"text\": string}%s", path, idx,
                 k,
                 type && d->nodes[type].type == PJ_STRING && !pj_str_is(d, type, "text")
                     ? " (only text parts are supported)"
                     : "");
        return 0;
    }
    if (d->nodes[text].flags & PJ_F_NUL) {
        pd_error(r, PD_NUL_CHAR, "%s[%d].content[%d].text holds \\u0000", path, idx, k);
        return 0;
    }
    return 1;
}

/* Checks the content of message m (role, whether it makes tool calls) and stores it. */
static void check_content(pd_run *r, uint32_t m, int role, int has_calls, pd_list_kind kind,
                          int idx, pf_message *out)
{
    const pj_doc *d = &r->doc;
    uint32_t c = pj_get(d, m, "content");
    int type = c ? d->nodes[c].type : PJ_NULL;
    if (type == PJ_NULL) {
        if (role != PF_ROLE_ASSISTANT || !has_calls)
            pd_error(r, PD_MISSING_CONTENT, "%s[%d]: %s message without content", kind.path, idx,
                     pf_role_name((pf_role)role));
        return;
    }
    int ok = 1;
    if (type == PJ_STRING) {
        if (d->nodes[c].flags & PJ_F_NUL) {
            pd_error(r, PD_NUL_CHAR, "%s[%d].content holds \\u0000", kind.path, idx);
            ok = 0;
        }
    } else if (type == PJ_ARRAY) {
        int k = 0;
        for (uint32_t p = d->nodes[c].count ? c + 1 : 0; p; p = d->nodes[p].next)
            ok &= check_part(r, p, kind.path, idx, k++);
    } else {
        pd_error(r, PD_CONTENT_TYPE,
                 "%s[%d].content: expected a string or an array of text parts, got %s", kind.path,
                 idx, pd_type_name(d, c));
        ok = 0;
    }
    if (ok && out) {
        out->has_content = 1;
        out->content = type == PJ_STRING ? pd_copy_str(r, c) : join_parts(r, c);
    }
}

/* Whether string node id repeats a call id already in r->call_ids. */
static int seen_id(pd_run *r, uint32_t id)
{
    for (uint32_t k = 0; k < r->call_ids.n; k++)
        if (pj_str_equal(&r->doc, r->call_ids.v[k], &r->doc, id))
            return 1;
    return 0;
}

/* Checks the arguments string of a call; stores their canonical text. */
static void check_arguments(pd_run *r, uint32_t a, const char *path, int idx, int j,
                            pf_tool_call *out)
{
    pj_doc *d = &r->doc;
    if (!a || d->nodes[a].type != PJ_STRING) {
        pd_error(r, PD_ARGS_TYPE,
                 "%s[%d].tool_calls[%d].function.arguments: expected a string holding JSON, got %s",
                 path, idx, j, a ? pd_type_name(d, a) : "nothing");
        return;
    }
    size_t len = 0;
    const char *text = pj_str(d, a, &len);
    int rc = text ? pj_parse(&r->args, text, len) : PJ_ERR_NOMEM;
    if (rc == PJ_ERR_NOMEM) {
        r->oom = 1;
        return;
    }
    if (rc != PJ_OK) {
        pd_error(r, PD_ARGS_JSON,
                 "%s[%d].tool_calls[%d].function.arguments: not JSON: %s at column %zu", path, idx,
                 j, r->args.err_msg, r->args.err_pos + 1);
        return;
    }
    if (r->args.nodes[0].type != PJ_OBJECT) {
        pd_error(r, PD_ARGS_JSON, "%s[%d].tool_calls[%d].function.arguments: not a JSON object",
                 path, idx, j);
        return;
    }
    if (!out)
        return;
    r->buf.len = 0;
    if (pj_write(&r->args, 0, &r->buf) ||
        !(out->arguments = pd_out_strdup(r, r->buf.p, r->buf.len)))
        r->oom = 1;
}

/* Warns when tools are declared and call j's function name is not among them. */
static void check_known_function(pd_run *r, uint32_t name, const char *path, int idx, int j)
{
    if (r->tool_names.n == 0)
        return;
    for (uint32_t k = 0; k < r->tool_names.n; k++)
        if (pj_str_equal(&r->doc, r->tool_names.v[k], &r->doc, name))
            return;
    size_t len = 0;
    const char *s = pj_str(&r->doc, name, &len);
    pd_warn(r, PD_UNKNOWN_FUNCTION, "%s[%d].tool_calls[%d]: function '%.*s' is not in tools", path,
            idx, j, (int)(len > 80 ? 80 : len), s ? s : "");
}

/* Checks the function object of call j; fills name and arguments. */
static void check_function(pd_run *r, uint32_t f, const char *path, int idx, int j,
                           pf_tool_call *out)
{
    const pj_doc *d = &r->doc;
    char where[160];
    snprintf(where, sizeof where, "%s[%d].tool_calls", path, idx);
    if (!f || d->nodes[f].type != PJ_OBJECT) {
        pd_error(r, PD_BAD_TOOL_CALL, "%s[%d]: \"function\" must be an object, got %s", where, j,
                 f ? pd_type_name(d, f) : "nothing");
        return;
    }
    pd_check_keys(r, f, where, j, FUNCTION_KEYS);
    uint32_t name = pj_get(d, f, "name");
    if (want_name(r, name, PD_BAD_TOOL_CALL, where, j, "function.name")) {
        check_known_function(r, name, path, idx, j);
        if (out)
            out->name = pd_copy_str(r, name);
    }
    check_arguments(r, pj_get(d, f, "arguments"), path, idx, j, out);
}

/* Checks tool call c (index j of message idx); records its id in r->call_ids. */
static void check_call(pd_run *r, uint32_t c, const char *path, int idx, int j, pf_tool_call *out)
{
    const pj_doc *d = &r->doc;
    char where[160];
    snprintf(where, sizeof where, "%s[%d].tool_calls", path, idx);
    if (d->nodes[c].type != PJ_OBJECT) {
        pd_error(r, PD_BAD_TOOL_CALL, "%s[%d]: expected an object, got %s", where, j,
                 pd_type_name(d, c));
        return;
    }
    pd_check_keys(r, c, where, j, CALL_KEYS);
    uint32_t id = pj_get(d, c, "id"), type = pj_get(d, c, "type");
    if (want_name(r, id, PD_BAD_TOOL_CALL, where, j, "id")) {
        if (seen_id(r, id))
            pd_error(r, PD_BAD_TOOL_CALL, "%s[%d]: id repeats an earlier tool call's", where, j);
        else if (pd_nodes_push(r, &r->call_ids, id) == 0 && out)
            out->id = pd_copy_str(r, id);
    }
    if (!type || !pj_str_is(d, type, "function"))
        pd_error(r, PD_BAD_TOOL_CALL, "%s[%d]: \"type\" must be \"function\"", where, j);
    check_function(r, pj_get(d, c, "function"), path, idx, j, out);
}

/* Checks the tool_calls of message m; returns how many calls it makes. */
static int check_tool_calls(pd_run *r, uint32_t m, int role, const char *path, int idx,
                            pf_message *out)
{
    const pj_doc *d = &r->doc;
    uint32_t tc = pj_get(d, m, "tool_calls");
    if (!tc || d->nodes[tc].type == PJ_NULL)
        return 0;
    if (role != PF_ROLE_ASSISTANT) {
        pd_error(r, PD_BAD_TOOL_CALL, "%s[%d]: only assistant messages make tool calls", path, idx);
        return 0;
    }
    if (d->nodes[tc].type != PJ_ARRAY) {
        pd_error(r, PD_BAD_TOOL_CALL, "%s[%d].tool_calls: expected an array, got %s", path, idx,
                 pd_type_name(d, tc));
        return 0;
    }
    int n = (int)d->nodes[tc].count, j = 0;
    pf_tool_call *calls = out && n ? pd_out_alloc(r, (size_t)n * sizeof *calls) : NULL;
    for (uint32_t c = n ? tc + 1 : 0; c; c = d->nodes[c].next, j++)
        check_call(r, c, path, idx, j, calls ? &calls[j] : NULL);
    if (out) {
        out->tool_calls = calls;
        out->n_tool_calls = calls ? n : 0;
    }
    return n;
}

/* Checks the tool_call_id of tool message m against the calls seen so far. */
static void check_call_id(pd_run *r, uint32_t m, const char *path, int idx, pf_message *out)
{
    const pj_doc *d = &r->doc;
    uint32_t id = pj_get(d, m, "tool_call_id");
    if (!id || d->nodes[id].type == PJ_NULL) {
        pd_error(r, PD_CALL_ID_MISSING, "%s[%d]: tool message without tool_call_id", path, idx);
        return;
    }
    if (!want_name(r, id, PD_WRONG_TYPE, path, idx, "tool_call_id"))
        return;
    uint32_t k = 0;
    while (k < r->call_ids.n && !pj_str_equal(d, r->call_ids.v[k], d, id))
        k++;
    if (k == r->call_ids.n) {
        size_t len = 0;
        const char *s = pj_str(&r->doc, id, &len);
        pd_error(r, PD_CALL_ID_UNKNOWN, "%s[%d]: tool_call_id '%.*s' answers no earlier tool call",
                 path, idx, (int)(len > 80 ? 80 : len), s ? s : "");
    } else if (out) {
        out->tool_call_id = pd_copy_str(r, id);
    }
}

/* Checks the optional weight of message m; stores it (default 1). */
static void check_weight(pd_run *r, uint32_t m, int role, const char *path, int idx,
                         pf_message *out)
{
    const pj_doc *d = &r->doc;
    uint32_t w = pj_get(d, m, "weight");
    if (out)
        out->weight = 1;
    if (!w)
        return;
    if (role != PF_ROLE_ASSISTANT) {
        pd_error(r, PD_WEIGHT_ROLE, "%s[%d]: weight on a %s message (assistant only)", path, idx,
                 pf_role_name((pf_role)role));
        return;
    }
    char num[32] = "";
    if (d->nodes[w].type == PJ_NUMBER && d->nodes[w].len < sizeof num)
        memcpy(num, d->text + d->nodes[w].start, d->nodes[w].len);
    double v = num[0] ? strtod(num, NULL) : -1.0;
    if (v != 0.0 && v != 1.0) {
        pd_error(r, PD_WEIGHT_VALUE, "%s[%d].weight: must be 0 or 1, got %s", path, idx,
                 num[0] ? num : pd_type_name(d, w));
        return;
    }
    if (r->format != PF_DATA_SFT)
        pd_warn(r, PD_UNKNOWN_KEY, "%s[%d].weight: only the sft format uses weight; ignored", path,
                idx);
    else if (out)
        out->weight = v == 1.0;
}

/* Checks the role of message m; returns it, or -1 after reporting. */
static int check_role(pd_run *r, uint32_t m, pd_list_kind kind, int idx)
{
    const pj_doc *d = &r->doc;
    uint32_t rn = pj_get(d, m, "role");
    if (!rn) {
        pd_error(r, PD_MISSING_ROLE, "%s[%d]: message without \"role\"", kind.path, idx);
        return -1;
    }
    int role = d->nodes[rn].type == PJ_STRING ? parse_role(d, rn) : -1;
    if (role < 0) {
        size_t len = 0;
        const char *s = d->nodes[rn].type == PJ_STRING ? pj_str(&r->doc, rn, &len) : NULL;
        if (s)
            pd_error(r, PD_UNKNOWN_ROLE, "%s[%d]: unknown role '%.*s'", kind.path, idx,
                     (int)(len > 40 ? 40 : len), s);
        else
            pd_error(r, PD_UNKNOWN_ROLE, "%s[%d]: role must be a string, got %s", kind.path, idx,
                     pd_type_name(d, rn));
        return -1;
    }
    if (kind.is_output && role != PF_ROLE_ASSISTANT && role != PF_ROLE_TOOL) {
        pd_error(r, PD_OUTPUT_ROLE, "%s[%d]: role %s in an output (assistant or tool only)",
                 kind.path, idx, pf_role_name((pf_role)role));
        return -1;
    }
    return role;
}

/* Checks message m (index idx of its list); returns its role or -1. */
static int check_message(pd_run *r, uint32_t m, pd_list_kind kind, int idx, pf_message *out)
{
    const pj_doc *d = &r->doc;
    if (d->nodes[m].type != PJ_OBJECT) {
        pd_error(r, PD_WRONG_TYPE, "%s[%d]: expected a message object, got %s", kind.path, idx,
                 pd_type_name(d, m));
        return -1;
    }
    pd_check_keys(r, m, kind.path, idx, MESSAGE_KEYS);
    int role = check_role(r, m, kind, idx);
    if (role < 0)
        return -1;
    if (out) {
        out->role = (pf_role)role;
        out->content = "";
    }
    uint32_t name = pj_get(d, m, "name");
    if (name && want_name(r, name, PD_WRONG_TYPE, kind.path, idx, "name") && out)
        out->name = pd_copy_str(r, name);
    int calls = check_tool_calls(r, m, role, kind.path, idx, out);
    check_content(r, m, role, calls > 0, kind, idx, out);
    if (role == PF_ROLE_TOOL)
        check_call_id(r, m, kind.path, idx, out);
    check_weight(r, m, role, kind.path, idx, out);
    return role;
}

int pd_check_messages(pd_run *r, uint32_t arr, pd_list_kind kind, pf_messages *out)
{
    const pj_doc *d = &r->doc;
    int n = (int)d->nodes[arr].count, idx = 0, assistants = 0, first = -1, bad = 0;
    pf_message *msgs = out && n ? pd_out_alloc(r, (size_t)n * sizeof *msgs) : NULL;
    for (uint32_t m = n ? arr + 1 : 0; m; m = d->nodes[m].next, idx++) {
        int role = check_message(r, m, kind, idx, msgs ? &msgs[idx] : NULL);
        assistants += role == PF_ROLE_ASSISTANT;
        bad |= role < 0;
        if (idx == 0)
            first = role;
    }
    if (kind.is_output && assistants > 0 && first == PF_ROLE_TOOL)
        pd_error(r, PD_OUTPUT_ROLE, "%s[0]: an output must start with an assistant message",
                 kind.path);
    if (out) {
        out->items = msgs;
        out->n = msgs ? n : 0;
    }
    return assistants > 0 || !bad ? assistants : -1;
}

/* Checks tools entry t (index k). */
static void check_tool(pd_run *r, uint32_t t, const char *path, int k)
{
    const pj_doc *d = &r->doc;
    if (d->nodes[t].type != PJ_OBJECT) {
        pd_error(r, PD_BAD_TOOL, "%s[%d]: expected an object, got %s", path, k, pd_type_name(d, t));
        return;
    }
    uint32_t type = pj_get(d, t, "type"), f = pj_get(d, t, "function");
    if (!type || !pj_str_is(d, type, "function")) {
        pd_error(r, PD_BAD_TOOL, "%s[%d]: \"type\" must be \"function\"", path, k);
        return;
    }
    if (!f || d->nodes[f].type != PJ_OBJECT) {
        pd_error(r, PD_BAD_TOOL, "%s[%d]: \"function\" must be an object", path, k);
        return;
    }
    uint32_t name = pj_get(d, f, "name"), params = pj_get(d, f, "parameters");
    if (want_name(r, name, PD_BAD_TOOL, path, k, "function.name"))
        pd_nodes_push(r, &r->tool_names, name);
    if (params && d->nodes[params].type != PJ_OBJECT)
        pd_error(r, PD_BAD_TOOL, "%s[%d]: function.parameters must be an object, got %s", path, k,
                 pd_type_name(d, params));
}

void pd_check_tools(pd_run *r, uint32_t tools, const char *path)
{
    const pj_doc *d = &r->doc;
    if (d->nodes[tools].type != PJ_ARRAY) {
        pd_error(r, PD_WRONG_TYPE, "%s: expected an array, got %s", path, pd_type_name(d, tools));
        return;
    }
    int k = 0;
    for (uint32_t t = d->nodes[tools].count ? tools + 1 : 0; t; t = d->nodes[t].next)
        check_tool(r, t, path, k++);
}

int pd_single_message(pd_run *r, uint32_t str, pf_role role, const char *path, pf_messages *out)
{
    if (r->doc.nodes[str].flags & PJ_F_NUL) {
        pd_error(r, PD_NUL_CHAR, "%s holds \\u0000", path);
        return 0;
    }
    pf_message *m = out ? pd_out_alloc(r, sizeof *m) : NULL;
    if (m) {
        m->role = role;
        m->content = pd_copy_str(r, str);
        m->has_content = 1;
        m->weight = 1;
        out->items = m;
        out->n = 1;
    }
    return 1;
}
