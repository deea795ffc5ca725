/*
 * json.h: the data module's strict JSON parser, internal to src/data (the graders in
 * src/algo also use its growable buffer, pj_buf*, and pj_write_string).
 *
 * One JSON text (one JSONL line) is parsed into a flat array of nodes in pre-order:
 * a container's first child is the node right after it, siblings are chained through
 * `next`, and `end` is one past the container's last descendant, so a subtree is the
 * contiguous range [i, end). Object children alternate key, value, key, value.
 * Nothing is copied: strings and numbers are spans of the caller's text, which must
 * stay alive and unchanged while the document is used. A document (its node array,
 * scratch buffer and nesting stack) is reused line after line, so its memory grows to
 * the largest line seen and then stays constant.
 *
 * The grammar is RFC 8259 exactly (no comments, trailing commas, leading zeros, bare
 * control characters or lone surrogates) with a nesting limit of PJ_MAX_DEPTH. The
 * parser does not check UTF-8: callers run pj_utf8_check() over the line first.
 */
#ifndef PREFOPT_DATA_JSON_H
#define PREFOPT_DATA_JSON_H

#include <stddef.h>
#include <stdint.h>

enum { PJ_MAX_DEPTH = 256 };

typedef enum { PJ_NULL, PJ_FALSE, PJ_TRUE, PJ_NUMBER, PJ_STRING, PJ_ARRAY, PJ_OBJECT } pj_type;

/* Node flags. */
enum {
    PJ_F_ESCAPED = 1, /* string holds at least one backslash escape */
    PJ_F_NUL = 2,     /* string holds the escape \u0000 */
};

/* Parse results. */
enum { PJ_OK = 0, PJ_ERR_SYNTAX = 1, PJ_ERR_UTF8 = 2, PJ_ERR_NOMEM = 3 };

typedef struct {
    size_t start;   /* strings: first byte after the quote; others: first byte */
    size_t len;     /* strings: raw bytes between the quotes; containers: through the bracket */
    uint32_t next;  /* next sibling, 0 when none */
    uint32_t count; /* containers: number of child nodes (objects: 2 per member) */
    uint32_t end;   /* one past the last node of this subtree */
    uint8_t type;   /* pj_type */
    uint8_t flags;  /* PJ_F_* */
} pj_node;

typedef struct {
    const char *text; /* the parsed text (borrowed) */
    size_t len;
    pj_node *nodes; /* nodes[0] is the root */
    uint32_t n, cap;
    char *scratch; /* decoded-string workspace, see pj_str */
    size_t scratch_cap;
    int err;          /* PJ_OK or PJ_ERR_* of the last parse */
    size_t err_pos;   /* byte offset of the error in text */
    char err_msg[96]; /* what was wrong, e.g. "expected ',' or '}'" */
    uint32_t stack[PJ_MAX_DEPTH];
} pj_doc;

/* Initialises an empty document (no allocation). */
void pj_init(pj_doc *d);

/* Frees the document's buffers; it may be initialised again. */
void pj_free(pj_doc *d);

/* Parses text[0..len) as one JSON value. Returns PJ_OK, PJ_ERR_SYNTAX (err_pos and
 * err_msg say where and what), PJ_ERR_UTF8 (a \u escape names a lone surrogate) or
 * PJ_ERR_NOMEM. */
int pj_parse(pj_doc *d, const char *text, size_t len);

/* Returns 0 when text[0..len) is valid UTF-8 (no overlongs, surrogates or code points
 * above U+10FFFF); otherwise 1 with *bad the offset of the first invalid byte. */
int pj_utf8_check(const char *text, size_t len, size_t *bad);

/* The value of member `key` of object node obj, or 0 when absent (0 is never a
 * member, being the root). With several equal keys the first is returned. */
uint32_t pj_get(const pj_doc *d, uint32_t obj, const char *key);

/* Whether string node i equals the NUL-terminated literal lit (after unescaping). */
int pj_str_is(const pj_doc *d, uint32_t i, const char *lit);

/* Whether string nodes a of da and b of db hold the same text (after unescaping). */
int pj_str_equal(const pj_doc *da, uint32_t a, const pj_doc *db, uint32_t b);

/* Unescapes string node i into dst, which must hold nodes[i].len + 1 bytes; returns
 * the length written (a NUL follows it). */
size_t pj_decode(const pj_doc *d, uint32_t i, char *dst);

/* The text of string node i: a span of the source when unescaped, else decoded into
 * the document's scratch buffer (valid until the next pj_str call). NULL only when
 * out of memory. The result is not NUL-terminated; *len receives its length. */
const char *pj_str(pj_doc *d, uint32_t i, size_t *len);

/* Whether subtrees a of da and b of db are identical token for token. */
int pj_tree_equal(const pj_doc *da, uint32_t a, const pj_doc *db, uint32_t b);

/* A 64-bit hash of subtree i (its tokens, not its whitespace); never 0. */
uint64_t pj_tree_hash(const pj_doc *d, uint32_t i);

/* A growable byte buffer, always NUL-terminated once used; {0} is empty. */
typedef struct {
    char *p;
    size_t len, cap;
} pj_buf;

/* Appends n bytes to b (and keeps a NUL after them); returns 0, or -1 when out of
 * memory. */
int pj_buf_put(pj_buf *b, const char *s, size_t n);

/* Releases b's memory; b is empty afterwards. */
void pj_buf_free(pj_buf *b);

/* Appends the canonical JSON text of subtree i to b: no whitespace, members in their
 * original order, numbers as written, strings re-escaped minimally (\" \\ \b \f \n \r
 * \t, \u00XX for other control characters, everything else as UTF-8). Returns 0, or
 * -1 when out of memory. */
int pj_write(const pj_doc *d, uint32_t i, pj_buf *b);

/* Appends s[0..n) as a canonical JSON string (quotes included); 0 or -1 (no memory). */
int pj_write_string(pj_buf *b, const char *s, size_t n);

#endif
