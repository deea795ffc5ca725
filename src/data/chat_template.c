/*
 * chat_template.c: renders records into ChatML text segments (see prefopt/chat.h for
 * the template and the meaning of the segment flags; docs/formats.md for examples).
 *
 * The rendering is a pure function of the record: tools and tool-call arguments are
 * stored canonically by the loader, so the same example always gives the same bytes.
 * Invariants: segments tile text exactly, in order; a special segment holds exactly
 * one marker; no segment is empty.
 */
#include <stdlib.h>
#include <string.h>

#include "data/json.h"
#include "prefopt/chat.h"
#include "prefopt/error.h"

static const char TOOLS_OPEN[] = "# Tools\n<tools>\n";
static const char TOOLS_CLOSE[] = "</tools>";
static const char TOOLS_SINGLE[] = "\nCall at most one function per reply.";

/* How a piece of text is flagged. */
typedef struct {
    pf_role role;
    unsigned char completion, loss;
} flags;

void pf_chat_init(pf_chat *c) { memset(c, 0, sizeof *c); }

void pf_chat_reset(pf_chat *c)
{
    c->len = 0;
    c->n = 0;
    if (c->text)
        c->text[0] = '\0';
}

void pf_chat_free(pf_chat *c)
{
    free(c->text);
    free(c->segs);
    pf_chat_init(c);
}

/* Makes room for n more text bytes and one more segment. */
static int reserve(pf_chat *c, size_t n)
{
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 1024;
        while (cap < c->len + n + 1)
            cap *= 2;
        char *t = realloc(c->text, cap);
        if (!t)
            return pf_fail(PF_ERR_RUNTIME, "chat template: out of memory");
        c->text = t;
        c->cap = cap;
    }
    if (c->n == c->segcap) {
        size_t cap = c->segcap ? c->segcap * 2 : 32;
        pf_chat_segment *s = realloc(c->segs, cap * sizeof *s);
        if (!s)
            return pf_fail(PF_ERR_RUNTIME, "chat template: out of memory");
        c->segs = s;
        c->segcap = cap;
    }
    return PF_OK;
}

/* Appends s[0..n) flagged f (special when it is a marker); merges with the previous
 * segment when both are plain text with equal flags. */
static int put(pf_chat *c, const char *s, size_t n, flags f, int special)
{
    if (n == 0)
        return PF_OK;
    if (reserve(c, n) != PF_OK)
        return PF_ERR_RUNTIME;
    pf_chat_segment *last = c->n ? &c->segs[c->n - 1] : NULL;
    memcpy(c->text + c->len, s, n);
    c->text[c->len + n] = '\0';
    if (!special && last && !last->special && last->role == f.role &&
        last->completion == f.completion && last->loss == f.loss) {
        last->len += n;
    } else {
        c->segs[c->n++] =
            (pf_chat_segment){c->len, n, f.role, f.completion, f.loss, (unsigned char)special};
    }
    c->len += n;
    return PF_OK;
}

/* Appends the NUL-terminated s. */
static int put_str(pf_chat *c, const char *s, flags f) { return put(c, s, strlen(s), f, 0); }

/* "<|im_start|>ROLE\n" with flags f (the marker never counts for the loss). */
static int header(pf_chat *c, pf_role role, flags f)
{
    f.loss = 0;
    if (put(c, PF_CHAT_IM_START, strlen(PF_CHAT_IM_START), f, 1) ||
        put_str(c, pf_role_name(role), f))
        return PF_ERR_RUNTIME;
    return put_str(c, "\n", f);
}

/* "<|im_end|>" flagged f, then "\n" which never counts. */
static int footer(pf_chat *c, flags f)
{
    if (put(c, PF_CHAT_IM_END, strlen(PF_CHAT_IM_END), f, 1))
        return PF_ERR_RUNTIME;
    f.loss = 0;
    return put_str(c, "\n", f);
}

/* The tool calls of m as text: "<tool_call>\n{...}\n</tool_call>", newline-separated,
 * preceded by a newline when content came before. */
static int tool_calls_text(const pf_message *m, pj_buf *b)
{
    int rc = 0;
    for (int k = 0; k < m->n_tool_calls && !rc; k++) {
        const pf_tool_call *t = &m->tool_calls[k];
        const char *args = t->arguments ? t->arguments : "{}";
        if ((m->content && m->content[0]) || k > 0)
            rc |= pj_buf_put(b, "\n", 1);
        rc |= pj_buf_put(b, "<tool_call>\n{\"name\":", 20);
        rc |= pj_write_string(b, t->name ? t->name : "", t->name ? strlen(t->name) : 0);
        rc |= pj_buf_put(b, ",\"arguments\":", 13);
        rc |= pj_buf_put(b, args, strlen(args));
        rc |= pj_buf_put(b, "}\n</tool_call>", 14);
    }
    return rc;
}

/* The body of m: its content, then its tool calls. */
static int body(pf_chat *c, const pf_message *m, flags f)
{
    pj_buf b = {0};
    if (put_str(c, m->content ? m->content : "", f))
        return PF_ERR_RUNTIME;
    int rc = tool_calls_text(m, &b) ? pf_fail(PF_ERR_RUNTIME, "chat template: out of memory")
                                    : put(c, b.p, b.len, f, 0);
    free(b.p);
    return rc;
}

/* Appends one tools-array element per line (tools is canonical JSON). */
static int tools_lines(pf_chat *c, const char *tools, flags f)
{
    pj_doc d;
    pj_buf b = {0};
    pj_init(&d);
    int rc = pj_parse(&d, tools, strlen(tools)) == PJ_OK && d.nodes[0].type == PJ_ARRAY
                 ? PF_OK
                 : pf_fail(PF_ERR_RUNTIME, "chat template: record tools are not a JSON array");
    for (uint32_t t = d.nodes[0].count ? 1 : 0; rc == PF_OK && t; t = d.nodes[t].next) {
        b.len = 0;
        if (pj_write(&d, t, &b) || pj_buf_put(&b, "\n", 1))
            rc = pf_fail(PF_ERR_RUNTIME, "chat template: out of memory");
        else
            rc = put(c, b.p, b.len, f, 0);
    }
    free(b.p);
    pj_free(&d);
    return rc;
}

/* The system message carrying the tools block (after sys's content when given). */
static int tools_system(pf_chat *c, const pf_record *rec, const pf_message *sys)
{
    flags f = {PF_ROLE_SYSTEM, 0, 0};
    if (header(c, PF_ROLE_SYSTEM, f))
        return PF_ERR_RUNTIME;
    if (sys && sys->content && sys->content[0] &&
        (put_str(c, sys->content, f) || put_str(c, "\n\n", f)))
        return PF_ERR_RUNTIME;
    if (put_str(c, TOOLS_OPEN, f) || tools_lines(c, rec->tools, f) || put_str(c, TOOLS_CLOSE, f))
        return PF_ERR_RUNTIME;
    if (!rec->parallel_tool_calls && put_str(c, TOOLS_SINGLE, f))
        return PF_ERR_RUNTIME;
    return footer(c, f);
}

/* One complete message; SFT flags assistant turns as completions weighted by weight. */
static int message(pf_chat *c, const pf_message *m, int sft)
{
    flags f = {m->role, 0, 0};
    if (header(c, m->role, f))
        return PF_ERR_RUNTIME;
    if (sft && m->role == PF_ROLE_ASSISTANT)
        f = (flags){m->role, 1, (unsigned char)(m->weight != 0)};
    if (body(c, m, f))
        return PF_ERR_RUNTIME;
    return footer(c, f);
}

/* Whether rec declares at least one tool. */
static int has_tools(const pf_record *rec) { return rec->tools && strcmp(rec->tools, "[]") != 0; }

/* All messages of rec (tools block first); sft selects the SFT flags. */
static int messages(pf_chat *c, const pf_record *rec, int sft)
{
    const pf_messages *ms = &rec->messages;
    int i = 0;
    if (has_tools(rec)) {
        const pf_message *sys = ms->n > 0 && ms->items[0].role == PF_ROLE_SYSTEM ? ms->items : NULL;
        if (tools_system(c, rec, sys))
            return PF_ERR_RUNTIME;
        i = sys ? 1 : 0;
    }
    for (; i < ms->n; i++)
        if (message(c, &ms->items[i], sft))
            return PF_ERR_RUNTIME;
    return PF_OK;
}

int pf_chat_append_output(pf_chat *c, const pf_messages *output)
{
    if (output->n == 0)
        return pf_fail(PF_ERR_USAGE, "chat template: empty output");
    for (int k = 0; k < output->n; k++) {
        const pf_message *m = &output->items[k];
        flags f = {m->role, 1, (unsigned char)(m->role == PF_ROLE_ASSISTANT)};
        if (k > 0 && header(c, m->role, f))
            return PF_ERR_RUNTIME;
        if (body(c, m, f) || footer(c, f))
            return PF_ERR_RUNTIME;
    }
    return PF_OK;
}

int pf_chat_render(pf_chat *c, const pf_record *rec, pf_chat_part part)
{
    pf_chat_reset(c);
    if (part == PF_CHAT_CONVERSATION)
        return messages(c, rec, 1);
    const pf_messages *out = part == PF_CHAT_CHOSEN     ? &rec->chosen
                             : part == PF_CHAT_REJECTED ? &rec->rejected
                                                        : NULL;
    if (part != PF_CHAT_PROMPT && out->n == 0)
        return pf_fail(PF_ERR_USAGE, "chat template: line %ld has no %s output", rec->line,
                       part == PF_CHAT_CHOSEN ? "preferred" : "non-preferred");
    if (messages(c, rec, 0) || header(c, PF_ROLE_ASSISTANT, (flags){PF_ROLE_ASSISTANT, 0, 0}))
        return PF_ERR_RUNTIME;
    return out ? pf_chat_append_output(c, out) : PF_OK;
}
