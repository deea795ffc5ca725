/*
 * json_write.c: reading parsed JSON documents back: member lookup, string unescaping
 * and comparison, token-level equality and hashing, and the canonical writer.
 *
 * Everything here relies on the parser's guarantees (json.h): spans inside the text,
 * escapes already validated, surrogates paired. Canonical text is what the data
 * module stores for tools, metadata, prompt items and tool-call arguments, and what
 * the chat template renders, so it must never depend on the input's whitespace.
 */
#include "data/json.h"

#include <stdlib.h>
#include <string.h>

uint32_t pj_get(const pj_doc *d, uint32_t obj, const char *key)
{
    if (d->nodes[obj].type != PJ_OBJECT || d->nodes[obj].count == 0)
        return 0;
    for (uint32_t k = obj + 1; k; k = d->nodes[d->nodes[k].next].next)
        if (pj_str_is(d, k, key))
            return d->nodes[k].next;
    return 0;
}

/* Value of the 4 hex digits at p (validated by the parser). */
static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Writes code point cp as UTF-8 at dst; returns the byte count. */
static size_t put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escape at s (a backslash) into dst; *used gets its source length. */
static size_t decode_escape(const char *s, char *dst, size_t *used)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = strchr(from, s[1]);
    *used = 2;
    if (s[1] != 'u' && hit) {
        dst[0] = to[hit - from];
        return 1;
    }
    unsigned cp = hex4(s + 2);
    *used = 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(s + 8) - 0xDC00);
        *used = 12;
    }
    return put_utf8(dst, cp);
}

size_t pj_decode(const pj_doc *d, uint32_t i, char *dst)
{
    const char *s = d->text + d->nodes[i].start;
    size_t n = d->nodes[i].len, out = 0;
    if (!(d->nodes[i].flags & PJ_F_ESCAPED)) {
        memcpy(dst, s, n);
        dst[n] = '\0';
        return n;
    }
    for (size_t k = 0; k < n;) {
        if (s[k] != '\\') {
            dst[out++] = s[k++];
            continue;
        }
        size_t used = 0;
        out += decode_escape(s + k, dst + out, &used);
        k += used;
    }
    dst[out] = '\0';
    return out;
}

const char *pj_str(pj_doc *d, uint32_t i, size_t *len)
{
    if (!(d->nodes[i].flags & PJ_F_ESCAPED)) {
        *len = d->nodes[i].len;
        return d->text + d->nodes[i].start;
    }
    if (d->scratch_cap <= d->nodes[i].len)
        return NULL; /* cannot happen: pj_parse reserves the line length */
    *len = pj_decode(d, i, d->scratch);
    return d->scratch;
}

int pj_str_is(const pj_doc *d, uint32_t i, const char *lit)
{
    const pj_node *n = &d->nodes[i];
    size_t ll = strlen(lit);
    if (n->type != PJ_STRING)
        return 0;
    if (!(n->flags & PJ_F_ESCAPED))
        return n->len == ll && memcmp(d->text + n->start, lit, ll) == 0;
    char small[256];
    if (n->len >= sizeof small)
        return 0; /* even fully \u-escaped, every literal we test is shorter */
    size_t got = pj_decode(d, i, small);
    return got == ll && memcmp(small, lit, ll) == 0;
}

int pj_str_equal(const pj_doc *da, uint32_t a, const pj_doc *db, uint32_t b)
{
    const pj_node *na = &da->nodes[a], *nb = &db->nodes[b];
    if (!((na->flags | nb->flags) & PJ_F_ESCAPED))
        return na->len == nb->len &&
               memcmp(da->text + na->start, db->text + nb->start, na->len) == 0;
    char *x = malloc(na->len + 1), *y = malloc(nb->len + 1);
    int eq = 0;
    if (x && y) {
        size_t lx = pj_decode(da, a, x), ly = pj_decode(db, b, y);
        eq = lx == ly && memcmp(x, y, lx) == 0;
    }
    free(x);
    free(y);
    return eq;
}

int pj_tree_equal(const pj_doc *da, uint32_t a, const pj_doc *db, uint32_t b)
{
    uint32_t n = da->nodes[a].end - a;
    if (db->nodes[b].end - b != n)
        return 0;
    for (uint32_t k = 0; k < n; k++) {
        const pj_node *x = &da->nodes[a + k], *y = &db->nodes[b + k];
        if (x->type != y->type || x->count != y->count)
            return 0;
        if (x->type == PJ_STRING && !pj_str_equal(da, a + k, db, b + k))
            return 0;
        if (x->type == PJ_NUMBER &&
            (x->len != y->len || memcmp(da->text + x->start, db->text + y->start, x->len)))
            return 0;
    }
    return 1;
}

/* Mixes the n bytes at p into h, eight at a time. */
static uint64_t mix_bytes(uint64_t h, const char *p, size_t n)
{
    const uint64_t m1 = 0x9E3779B97F4A7C15ULL, m2 = 0xC2B2AE3D27D4EB4FULL;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ (w * m1)) * m2;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ ((w + n) * m1)) * m2;
    return h ^ (h >> 31);
}

uint64_t pj_tree_hash(const pj_doc *d, uint32_t i)
{
    uint64_t h = 0x243F6A8885A308D3ULL;
    for (uint32_t k = i; k < d->nodes[i].end; k++) {
        const pj_node *n = &d->nodes[k];
        uint64_t tag = ((uint64_t)n->count << 8) | n->type;
        h = mix_bytes(h, (const char *)&tag, sizeof tag);
        if (n->type == PJ_STRING || n->type == PJ_NUMBER)
            h = mix_bytes(h, d->text + n->start, n->len);
    }
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    return h ? h : 1;
}

int pj_buf_put(pj_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void pj_buf_free(pj_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* The minimal escape of byte c as a JSON string character, or NULL when c is plain. */
static const char *escape_of(unsigned char c, char tmp[8])
{
    static const char *const named[32] = {
        [8] = "\\b", [9] = "\\t", [10] = "\\n", [12] = "\\f", [13] = "\\r"};
    if (c == '"')
        return "\\\"";
    if (c == '\\')
        return "\\\\";
    if (c >= 0x20)
        return NULL;
    if (named[c])
        return named[c];
    static const char hex[] = "0123456789abcdef";
    memcpy(tmp, "\\u00", 4);
    tmp[4] = hex[c >> 4];
    tmp[5] = hex[c & 15];
    tmp[6] = '\0';
    return tmp;
}

int pj_write_string(pj_buf *b, const char *s, size_t n)
{
    if (pj_buf_put(b, "\"", 1))
        return -1;
    size_t run = 0;
    for (size_t k = 0; k < n; k++) {
        char tmp[8];
        const char *e = escape_of((unsigned char)s[k], tmp);
        if (!e)
            continue;
        if (pj_buf_put(b, s + run, k - run) || pj_buf_put(b, e, strlen(e)))
            return -1;
        run = k + 1;
    }
    return pj_buf_put(b, s + run, n - run) || pj_buf_put(b, "\"", 1) ? -1 : 0;
}

/* Appends the canonical text of scalar node k. */
static int write_scalar(const pj_doc *d, uint32_t k, pj_buf *b)
{
    const pj_node *n = &d->nodes[k];
    if (n->type != PJ_STRING)
        return pj_buf_put(b, d->text + n->start, n->len);
    if (!(n->flags & PJ_F_ESCAPED)) /* raw text holds no quote, backslash or control */
        return pj_buf_put(b, "\"", 1) || pj_buf_put(b, d->text + n->start, n->len) ||
                       pj_buf_put(b, "\"", 1)
                   ? -1
                   : 0;
    char *tmp = malloc(n->len + 1);
    if (!tmp)
        return -1;
    size_t len = pj_decode(d, k, tmp);
    int rc = pj_write_string(b, tmp, len);
    free(tmp);
    return rc;
}

/* Open-container bookkeeping of pj_write: node index and children written so far. */
typedef struct {
    uint32_t node, done;
} wframe;

int pj_write(const pj_doc *d, uint32_t i, pj_buf *b)
{
    wframe st[PJ_MAX_DEPTH + 1];
    int depth = 0;
    for (uint32_t k = i; k < d->nodes[i].end; k++) {
        if (depth > 0) {
            wframe *f = &st[depth - 1];
            int obj = d->nodes[f->node].type == PJ_OBJECT;
            const char *sep = f->done == 0 ? "" : (obj && f->done % 2) ? ":" : ",";
            if (pj_buf_put(b, sep, strlen(sep)))
                return -1;
            f->done++;
        }
        const pj_node *n = &d->nodes[k];
        if (n->type == PJ_ARRAY || n->type == PJ_OBJECT) {
            if (pj_buf_put(b, n->type == PJ_ARRAY ? "[" : "{", 1))
                return -1;
            st[depth++] = (wframe){k, 0};
        } else if (write_scalar(d, k, b)) {
            return -1;
        }
        while (depth > 0 && st[depth - 1].done == d->nodes[st[depth - 1].node].count) {
            depth--;
            if (pj_buf_put(b, d->nodes[st[depth].node].type == PJ_ARRAY ? "]" : "}", 1))
                return -1;
        }
    }
    return 0;
}
