/*
 * graders_sample.c: what the graders read from a sample: the text helpers (substring
 * search with ASCII case folding, words, code points, trimming) and the two ways to
 * build a pf_grade_sample: splitting a generated completion into content and tool
 * calls, and taking a DPO output's messages.
 *
 * White space is Unicode White_Space as Python's str.isspace() sees it (the demo data's
 * reference implementation counts words with str.split()): U+0009..U+000D,
 * U+001C..U+001F, U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
 * U+202F, U+205F and U+3000. Invalid UTF-8 bytes count as one non-space character each.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "algo/graders_internal.h"
#include "prefopt/error.h"

/* ASCII lower case of c. */
static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Whether text[0..n) contains needle[0..m); ASCII case-insensitively when icase. */
int gx_contains(const char *text, size_t n, const char *needle, size_t m, int icase)
{
    const unsigned char *t = (const unsigned char *)text, *s = (const unsigned char *)needle;
    if (m == 0)
        return 1;
    for (size_t i = 0; i + m <= n; i++) {
        size_t k = 0;
        if (icase)
            while (k < m && lower(t[i + k]) == lower(s[k]))
                k++;
        else
            while (k < m && t[i + k] == s[k])
                k++;
        if (k == m)
            return 1;
    }
    return 0;
}

/* Decodes the code point at p (below end) into *cp; returns its byte length (1 for an
 * invalid byte, whose *cp is then 0xFFFD). */
static size_t decode(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
    unsigned char b = p[0];
    size_t n = b < 0x80             ? 1
               : (b & 0xE0) == 0xC0 ? 2
               : (b & 0xF0) == 0xE0 ? 3
               : (b & 0xF8) == 0xF0 ? 4
                                    : 0;
    uint32_t v = n == 1 ? b : n == 2 ? b & 0x1Fu : n == 3 ? b & 0x0Fu : b & 0x07u;
    if (n == 0 || (size_t)(end - p) < n) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (p[i] & 0x3Fu);
    }
    *cp = v;
    return n;
}

/* Whether cp is white space (see the file comment). */
static int is_ws(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Maximal runs of non-whitespace in text[0..n). */
size_t gx_words(const char *text, size_t n)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + n;
    size_t words = 0;
    int in_word = 0;
    while (p < end) {
        uint32_t cp;
        p += decode(p, end, &cp);
        int ws = is_ws(cp);
        words += !ws && !in_word;
        in_word = !ws;
    }
    return words;
}

/* Code points in text[0..n): bytes that are not UTF-8 continuation bytes. */
size_t gx_chars(const char *text, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)text[i] & 0xC0) != 0x80;
    return c;
}

/* Trims white space from both ends of *text[0..*n). */
void gx_trim(const char **text, size_t *n)
{
    const unsigned char *p = (const unsigned char *)*text, *end = p + *n;
    const unsigned char *first = NULL, *last_end = p;
    while (p < end) {
        uint32_t cp;
        size_t k = decode(p, end, &cp);
        if (!is_ws(cp)) {
            if (!first)
                first = p;
            last_end = p + k;
        }
        p += k;
    }
    if (!first) {
        *n = 0;
        return;
    }
    *text = (const char *)first;
    *n = (size_t)(last_end - first);
}

/* ---------------------------------------------------------------- completions */

/* Initialises an empty completion (no allocation). */
void pf_grade_completion_init(pf_grade_completion *c) { memset(c, 0, sizeof *c); }

/* Frees the completion's buffers; it may be used again after init. */
void pf_grade_completion_free(pf_grade_completion *c)
{
    free(c->text);
    free(c->calls);
    memset(c, 0, sizeof *c);
}

/* Makes room for n calls; returns 0 or -1. */
static int reserve_calls(pf_grade_completion *c, size_t n)
{
    if (n <= c->calls_cap)
        return 0;
    size_t cap = c->calls_cap ? c->calls_cap * 2 : 4;
    while (cap < n)
        cap *= 2;
    pf_tool_call *p = realloc(c->calls, cap * sizeof *p);
    if (!p)
        return -1;
    c->calls = p;
    c->calls_cap = cap;
    return 0;
}

/* The first occurrence of needle in s[0..n), or NULL. */
static const char *find(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (s[i] == needle[0] && memcmp(s + i, needle, m) == 0)
            return s + i;
    return NULL;
}

/* Offsets of one call's strings in the text buffer (pointers are set at the end, once
 * the buffer no longer moves). */
typedef struct {
    size_t name, args;
} call_offs;

/* Appends the name and arguments of the tool-call block body[0..n) to b; a body that is
 * not {"name": string, ...} gives "" and "". */
static int put_call(pj_buf *b, const char *body, size_t n, int closed, call_offs *o)
{
    gx_trim(&body, &n);
    cJSON *j = closed && gj_valid(body, n) ? cJSON_ParseWithLength(body, n) : NULL;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(j, "arguments");
    int ok = cJSON_IsObject(j) && cJSON_IsString(name);
    int rc = 0;
    o->name = b->len;
    rc |= ok ? pj_buf_put(b, name->valuestring, strlen(name->valuestring)) : 0;
    rc |= pj_buf_put(b, "", 1);
    o->args = b->len;
    if (ok && cJSON_IsString(args))
        rc |= pj_buf_put(b, args->valuestring, strlen(args->valuestring));
    else if (ok && args)
        rc |= gj_print(args, b);
    rc |= pj_buf_put(b, "", 1);
    cJSON_Delete(j);
    return rc;
}

/* Splits the tool-call blocks of s[0..n) (starting at the first "<tool_call>") into b,
 * recording offsets in *offs (grown as needed); returns the count or -1. */
static long split_calls(const char *s, size_t n, pj_buf *b, call_offs **offs, size_t *cap)
{
    static const char OPEN[] = "<tool_call>", CLOSE[] = "</tool_call>";
    const char *end = s + n, *p;
    long k = 0;
    while ((p = find(s, (size_t)(end - s), OPEN))) {
        const char *body = p + sizeof OPEN - 1;
        const char *close = find(body, (size_t)(end - body), CLOSE);
        if ((size_t)k == *cap) {
            size_t nc = *cap ? *cap * 2 : 4;
            call_offs *o = realloc(*offs, nc * sizeof *o);
            if (!o)
                return -1;
            *offs = o;
            *cap = nc;
        }
        size_t blen = (size_t)((close ? close : end) - body);
        if (put_call(b, body, blen, close != NULL, &(*offs)[k]))
            return -1;
        k++;
        s = close ? close + sizeof CLOSE - 1 : end;
    }
    return k;
}

/* Splits a generated completion into output_text and tool calls (see graders.h). */
int pf_grade_completion_split(pf_grade_completion *c, const char *text, size_t len)
{
    const char *im_end = find(text, len, "<|im_end|>");
    size_t n = im_end ? (size_t)(im_end - text) : len;
    const char *tc = find(text, n, "<tool_call>");
    size_t content = tc ? (size_t)(tc - text) : n;
    if (tc && content > 0 && text[content - 1] == '\n')
        content--;
    pj_buf b = {c->text, 0, c->text_cap};
    call_offs *offs = NULL;
    size_t cap = 0;
    int rc = pj_buf_put(&b, text, content) || pj_buf_put(&b, "", 1);
    long k = rc ? -1 : tc ? split_calls(tc, n - (size_t)(tc - text), &b, &offs, &cap) : 0;
    c->text = b.p;
    c->text_cap = b.cap;
    if (k < 0 || reserve_calls(c, (size_t)k)) {
        free(offs);
        return pf_fail(PF_ERR_RUNTIME, "grader sample: out of memory");
    }
    for (long i = 0; i < k; i++) {
        c->calls[i].id = NULL;
        c->calls[i].name = b.p + offs[i].name;
        c->calls[i].arguments = b.p + offs[i].args;
    }
    free(offs);
    memset(&c->sample, 0, sizeof c->sample);
    c->sample.output_text = b.p;
    c->sample.tool_calls = c->calls;
    c->sample.n_tool_calls = (size_t)k;
    return PF_OK;
}

/* Builds the sample of output messages (see graders.h). */
int pf_grade_completion_from_messages(pf_grade_completion *c, const pf_messages *out)
{
    size_t k = 0;
    const char *text = "";
    for (int i = 0; i < out->n; i++) {
        const pf_message *m = &out->items[i];
        if (m->role != PF_ROLE_ASSISTANT)
            continue;
        if (m->has_content)
            text = m->content ? m->content : "";
        if (m->n_tool_calls > 0 && reserve_calls(c, k + (size_t)m->n_tool_calls))
            return pf_fail(PF_ERR_RUNTIME, "grader sample: out of memory");
        for (int j = 0; j < m->n_tool_calls; j++)
            c->calls[k++] = m->tool_calls[j];
    }
    memset(&c->sample, 0, sizeof c->sample);
    c->sample.output_text = text;
    c->sample.tool_calls = c->calls;
    c->sample.n_tool_calls = k;
    return PF_OK;
}
