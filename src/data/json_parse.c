/*
 * json_parse.c: the strict, non-recursive JSON parser and the UTF-8 checker.
 *
 * The parser is a three-state loop (expect a value, expect a key, after a value) over
 * an explicit stack of open containers, so hostile nesting cannot overflow the C
 * stack; it stops at PJ_MAX_DEPTH. Strings are scanned eight bytes at a time for a
 * quote, backslash or control byte; escapes are checked as they are met (the flags
 * record whether any escape or \u0000 occurred). Offsets in errors are byte offsets
 * into the parsed text. Invariant after PJ_OK: every node's span lies in the text,
 * every container's count/end are final and every string's escapes are valid.
 */
#include "data/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_VALUE, ST_KEY, ST_AFTER };

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

void pj_init(pj_doc *d) { memset(d, 0, sizeof *d); }

void pj_free(pj_doc *d)
{
    free(d->nodes);
    free(d->scratch);
    pj_init(d);
}

/* Records a syntax error at pos and returns PJ_ERR_SYNTAX. */
static int syntax(pj_doc *d, size_t pos, const char *msg)
{
    d->err = PJ_ERR_SYNTAX;
    d->err_pos = pos;
    snprintf(d->err_msg, sizeof d->err_msg, "%s", msg);
    return PJ_ERR_SYNTAX;
}

/* Records "unexpected character 'c'" (or end of line) at pos. */
static int unexpected(pj_doc *d, size_t pos, const char *expected)
{
    char msg[96];
    if (pos >= d->len)
        snprintf(msg, sizeof msg, "unexpected end of line, expected %s", expected);
    else if ((unsigned char)d->text[pos] >= 0x20 && (unsigned char)d->text[pos] < 0x7f)
        snprintf(msg, sizeof msg, "unexpected '%c', expected %s", d->text[pos], expected);
    else
        snprintf(msg, sizeof msg, "unexpected byte 0x%02x, expected %s",
                 (unsigned)(unsigned char)d->text[pos], expected);
    return syntax(d, pos, msg);
}

/* Skips JSON whitespace from pos. */
static size_t skip_ws(const pj_doc *d, size_t pos)
{
    while (pos < d->len) {
        char c = d->text[pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        pos++;
    }
    return pos;
}

/* Appends a node of type t starting at start, linked under the open container (if
 * any); returns its index or UINT32_MAX when out of memory / too many nodes. */
static uint32_t add_node(pj_doc *d, int depth, uint32_t *last, pj_type t, size_t start)
{
    if (d->n == d->cap) {
        if (d->cap >= UINT32_MAX / 2)
            return UINT32_MAX;
        uint32_t cap = d->cap ? d->cap * 2 : 256;
        pj_node *p = realloc(d->nodes, (size_t)cap * sizeof *p);
        if (!p)
            return UINT32_MAX;
        d->nodes = p;
        d->cap = cap;
    }
    uint32_t i = d->n++;
    pj_node *nd = &d->nodes[i];
    memset(nd, 0, sizeof *nd);
    nd->type = (uint8_t)t;
    nd->start = start;
    nd->end = i + 1;
    if (depth > 0) {
        uint32_t parent = d->stack[depth - 1];
        if (last[depth - 1])
            d->nodes[last[depth - 1]].next = i;
        last[depth - 1] = i;
        d->nodes[parent].count++;
    }
    return i;
}

/* Value of one hex digit, or -1. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits at p (p+4 <= len checked by caller); -1 when malformed. */
static long hex4(const char *p)
{
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p[k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Checks the \u escape at q ('\\' at q); sets *adv to its byte length (6 or 12). */
static int check_u_escape(pj_doc *d, size_t q, size_t *adv, uint8_t *flags)
{
    if (q + 6 > d->len || hex4(d->text + q + 2) < 0)
        return syntax(d, q, "invalid \\u escape (needs 4 hex digits)");
    long v = hex4(d->text + q + 2);
    *adv = 6;
    if (v == 0)
        *flags |= PJ_F_NUL;
    if (v >= 0xDC00 && v <= 0xDFFF) {
        d->err = PJ_ERR_UTF8;
        d->err_pos = q;
        snprintf(d->err_msg, sizeof d->err_msg, "lone low surrogate \\u%04lx", v);
        return PJ_ERR_UTF8;
    }
    if (v >= 0xD800 && v <= 0xDBFF) {
        long lo = (q + 12 <= d->len && d->text[q + 6] == '\\' && d->text[q + 7] == 'u')
                      ? hex4(d->text + q + 8)
                      : -1;
        if (lo < 0xDC00 || lo > 0xDFFF) {
            d->err = PJ_ERR_UTF8;
            d->err_pos = q;
            snprintf(d->err_msg, sizeof d->err_msg, "lone high surrogate \\u%04lx", v);
            return PJ_ERR_UTF8;
        }
        *adv = 12;
    }
    return PJ_OK;
}

/* Checks the escape sequence at q (a backslash); sets *adv to its length. */
static int check_escape(pj_doc *d, size_t q, size_t *adv, uint8_t *flags)
{
    if (q + 1 >= d->len)
        return syntax(d, q, "unterminated string");
    switch (d->text[q + 1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        *adv = 2;
        return PJ_OK;
    case 'u':
        return check_u_escape(d, q, adv, flags);
    default:
        return syntax(d, q, "invalid escape sequence");
    }
}

/* Whether the 8 bytes of w hold a quote, a backslash or a byte below 0x20. */
static int special8(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
    uint64_t hit = ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w);
    return (hit & HIGHS) != 0;
}

/* Scans the string whose opening quote is at pos; *out receives the position after
 * the closing quote. Fills the node's span and flags. */
static int scan_string(pj_doc *d, uint32_t node, size_t pos, size_t *out)
{
    const char *t = d->text;
    size_t q = pos + 1;
    uint8_t flags = 0;
    for (;;) {
        while (q + 8 <= d->len) {
            uint64_t w;
            memcpy(&w, t + q, 8);
            if (special8(w))
                break;
            q += 8;
        }
        if (q >= d->len)
            return syntax(d, pos, "unterminated string");
        unsigned char c = (unsigned char)t[q];
        if (c == '"')
            break;
        if (c == '\\') {
            size_t adv = 0;
            int rc = check_escape(d, q, &adv, &flags);
            if (rc != PJ_OK)
                return rc;
            flags |= PJ_F_ESCAPED;
            q += adv;
        } else if (c < 0x20) {
            return syntax(d, q, "control character in string (must be escaped)");
        } else {
            q++;
        }
    }
    d->nodes[node].start = pos + 1;
    d->nodes[node].len = q - pos - 1;
    d->nodes[node].flags = flags;
    *out = q + 1;
    return PJ_OK;
}

/* Advances over decimal digits. */
static size_t digits(const pj_doc *d, size_t p)
{
    while (p < d->len && d->text[p] >= '0' && d->text[p] <= '9')
        p++;
    return p;
}

/* Scans the number at pos per the RFC 8259 grammar; *out is the position after it. */
static int scan_number(pj_doc *d, uint32_t node, size_t pos, size_t *out)
{
    size_t p = pos;
    if (p < d->len && d->text[p] == '-')
        p++;
    if (p >= d->len || d->text[p] < '0' || d->text[p] > '9')
        return syntax(d, pos, "invalid number");
    if (d->text[p] == '0' && p + 1 < d->len && d->text[p + 1] >= '0' && d->text[p + 1] <= '9')
        return syntax(d, pos, "invalid number (leading zero)");
    p = digits(d, p);
    if (p < d->len && d->text[p] == '.') {
        size_t f = digits(d, p + 1);
        if (f == p + 1)
            return syntax(d, pos, "invalid number (no digits after '.')");
        p = f;
    }
    if (p < d->len && (d->text[p] == 'e' || d->text[p] == 'E')) {
        size_t e = p + 1;
        if (e < d->len && (d->text[e] == '+' || d->text[e] == '-'))
            e++;
        size_t f = digits(d, e);
        if (f == e)
            return syntax(d, pos, "invalid number (no digits in exponent)");
        p = f;
    }
    d->nodes[node].len = p - pos;
    *out = p;
    return PJ_OK;
}

/* Scans the literal word (true, false, null) expected at pos. */
static int scan_literal(pj_doc *d, uint32_t node, size_t pos, const char *word, size_t *out)
{
    size_t n = strlen(word);
    if (pos + n > d->len || memcmp(d->text + pos, word, n) != 0)
        return unexpected(d, pos, "a JSON value");
    d->nodes[node].len = n;
    *out = pos + n;
    return PJ_OK;
}

/* The node type a value starting with byte c has; -1 when no value starts so. */
static int value_type(char c)
{
    switch (c) {
    case '{':
        return PJ_OBJECT;
    case '[':
        return PJ_ARRAY;
    case '"':
        return PJ_STRING;
    case 't':
        return PJ_TRUE;
    case 'f':
        return PJ_FALSE;
    case 'n':
        return PJ_NULL;
    default:
        return (c == '-' || (c >= '0' && c <= '9')) ? PJ_NUMBER : -1;
    }
}

/* Scans the scalar of type t at pos into node i. */
static int scan_scalar(pj_doc *d, uint32_t i, int t, size_t pos, size_t *out)
{
    switch (t) {
    case PJ_STRING:
        return scan_string(d, i, pos, out);
    case PJ_NUMBER:
        return scan_number(d, i, pos, out);
    case PJ_TRUE:
        return scan_literal(d, i, pos, "true", out);
    case PJ_FALSE:
        return scan_literal(d, i, pos, "false", out);
    default:
        return scan_literal(d, i, pos, "null", out);
    }
}

/* Parser state shared by the step functions. */
typedef struct {
    size_t pos;
    int depth;
    int state;
    uint32_t last[PJ_MAX_DEPTH];
} pstate;

/* Closes the innermost container, whose closing bracket is at s->pos. */
static void close_container(pj_doc *d, pstate *s)
{
    uint32_t c = d->stack[--s->depth];
    d->nodes[c].len = s->pos + 1 - d->nodes[c].start;
    d->nodes[c].end = d->n;
    s->pos++;
    s->state = ST_AFTER;
}

/* ST_VALUE: parses the value (or opens the container) starting at s->pos. */
static int step_value(pj_doc *d, pstate *s)
{
    int t = s->pos < d->len ? value_type(d->text[s->pos]) : -1;
    if (t < 0)
        return unexpected(d, s->pos, "a JSON value");
    uint32_t i = add_node(d, s->depth, s->last, (pj_type)t, s->pos);
    if (i == UINT32_MAX)
        return d->err = PJ_ERR_NOMEM;
    if (t != PJ_ARRAY && t != PJ_OBJECT) {
        s->state = ST_AFTER;
        return scan_scalar(d, i, t, s->pos, &s->pos);
    }
    if (s->depth == PJ_MAX_DEPTH)
        return syntax(d, s->pos, "nesting deeper than 256 levels");
    d->stack[s->depth] = i;
    s->last[s->depth++] = 0;
    s->pos = skip_ws(d, s->pos + 1);
    char close = t == PJ_ARRAY ? ']' : '}';
    if (s->pos < d->len && d->text[s->pos] == close)
        close_container(d, s);
    else
        s->state = t == PJ_ARRAY ? ST_VALUE : ST_KEY;
    return PJ_OK;
}

/* ST_KEY: parses an object key and its colon. */
static int step_key(pj_doc *d, pstate *s)
{
    if (s->pos >= d->len || d->text[s->pos] != '"')
        return unexpected(d, s->pos, "a string key");
    uint32_t i = add_node(d, s->depth, s->last, PJ_STRING, s->pos);
    if (i == UINT32_MAX)
        return d->err = PJ_ERR_NOMEM;
    int rc = scan_string(d, i, s->pos, &s->pos);
    if (rc != PJ_OK)
        return rc;
    s->pos = skip_ws(d, s->pos);
    if (s->pos >= d->len || d->text[s->pos] != ':')
        return unexpected(d, s->pos, "':'");
    s->pos++;
    s->state = ST_VALUE;
    return PJ_OK;
}

/* ST_AFTER inside a container: a comma or the closing bracket. */
static int step_after(pj_doc *d, pstate *s)
{
    int obj = d->nodes[d->stack[s->depth - 1]].type == PJ_OBJECT;
    char c = s->pos < d->len ? d->text[s->pos] : 0;
    if (c == ',') {
        s->pos++;
        s->state = obj ? ST_KEY : ST_VALUE;
        return PJ_OK;
    }
    if (c == (obj ? '}' : ']')) {
        close_container(d, s);
        return PJ_OK;
    }
    return unexpected(d, s->pos, obj ? "',' or '}'" : "',' or ']'");
}

/* Makes sure the scratch buffer holds the longest possible decoded string. */
static int reserve_scratch(pj_doc *d, size_t len)
{
    if (d->scratch_cap > len)
        return PJ_OK;
    char *p = realloc(d->scratch, len + 1);
    if (!p)
        return d->err = PJ_ERR_NOMEM;
    d->scratch = p;
    d->scratch_cap = len + 1;
    return PJ_OK;
}

int pj_parse(pj_doc *d, const char *text, size_t len)
{
    pstate s = {.pos = 0, .depth = 0, .state = ST_VALUE};
    d->text = text;
    d->len = len;
    d->n = 0;
    d->err = PJ_OK;
    d->err_msg[0] = '\0';
    if (reserve_scratch(d, len) != PJ_OK)
        return PJ_ERR_NOMEM;
    for (;;) {
        s.pos = skip_ws(d, s.pos);
        if (s.state == ST_AFTER && s.depth == 0)
            break;
        int rc = s.state == ST_VALUE ? step_value(d, &s)
                 : s.state == ST_KEY ? step_key(d, &s)
                                     : step_after(d, &s);
        if (rc != PJ_OK)
            return rc;
    }
    if (s.pos != len)
        return unexpected(d, s.pos, "end of line after the JSON value");
    return PJ_OK;
}

/* Length of the valid UTF-8 sequence at p (n bytes available), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else
        return 0;
    if (n < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < need; k++)
        if (p[k] < 0x80 || p[k] > 0xBF)
            return 0;
    return need;
}

int pj_utf8_check(const char *text, size_t len, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if ((w & HIGHS) == 0) {
                i += 8;
                continue;
            }
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, len - i);
        if (k == 0) {
            *bad = i;
            return 1;
        }
        i += k;
    }
    return 0;
}
