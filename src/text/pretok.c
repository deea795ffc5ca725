/*
 * pretok.c: strict UTF-8 validation, Unicode class lookup and the GPT-2 pre-tokenizer.
 *
 * The pre-tokenizer reproduces, without a regex engine, what GPT-2's pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * matches under Python's `regex` module (leftmost alternative wins, greedy runs):
 * contractions are lowercase only; the optional leading character is U+0020 alone;
 * a whitespace run followed by a non-space gives back its last character (so " word"
 * keeps its space) unless the run is one character long. Classes come from the
 * generated tables (unicode_tables.c); \s is the White_Space property, as in `regex`.
 * Input must be valid UTF-8 (checked once per text with pf_utf8_check).
 */
#include "text/unicode.h"

int pf_uc_class(uint32_t cp)
{
    if (cp < 128)
        return pf_uc_ascii[cp];
    unsigned lo = 0, hi = pf_uc_range_count;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (cp < pf_uc_ranges[mid].lo)
            hi = mid;
        else if (cp > pf_uc_ranges[mid].hi)
            lo = mid + 1;
        else
            return (int)pf_uc_ranges[mid].cls;
    }
    return PF_UC_OTHER;
}

/* Whether b is a continuation byte 10xxxxxx. */
static inline int is_cont(unsigned char b) { return (b & 0xC0) == 0x80; }

/* Byte length of the valid sequence at s[i], or 0 when it is invalid or truncated. */
static int sequence_length(const unsigned char *s, size_t len, size_t i)
{
    unsigned c = s[i];
    size_t left = len - i;
    if (c >= 0xC2 && c <= 0xDF)
        return left >= 2 && is_cont(s[i + 1]) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        if (left < 3 || s[i + 1] < lo || s[i + 1] > hi || !is_cont(s[i + 2]))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        if (left < 4 || s[i + 1] < lo || s[i + 1] > hi || !is_cont(s[i + 2]) || !is_cont(s[i + 3]))
            return 0;
        return 4;
    }
    return 0;
}

size_t pf_utf8_check(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int n = sequence_length(s, len, i);
        if (n == 0)
            return i;
        i += (size_t)n;
    }
    return len;
}

/* The class of the code point at s[i]; *n receives its byte length. */
static inline int class_at(const unsigned char *s, size_t i, int *n)
{
    if (s[i] < 0x80) {
        *n = 1;
        return pf_uc_ascii[s[i]];
    }
    return pf_uc_class(pf_utf8_decode(s, i, n));
}

/* The end of the maximal run of class cls that starts at s[i]. */
static size_t run_end(const unsigned char *s, size_t len, size_t i, int cls)
{
    int n = 1;
    while (i < len && class_at(s, i, &n) == cls)
        i += (size_t)n;
    return i;
}

/* Length of the contraction ('s 't 're 've 'm 'll 'd) at s[i] == '\'', or 0. */
static size_t contraction(const unsigned char *s, size_t len, size_t i)
{
    if (i + 1 >= len)
        return 0;
    unsigned char a = s[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (i + 2 >= len)
        return 0;
    unsigned char b = s[i + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* The piece for a whitespace run at s[i]: \s+(?!\S) leaves the last character of a run
 * of two or more that a non-space follows; otherwise (\s+) the whole run. */
static size_t space_piece(const unsigned char *s, size_t len, size_t i)
{
    size_t j = i, last = i;
    int count = 0, n = 1;
    while (j < len && class_at(s, j, &n) == PF_UC_SPACE) {
        last = j;
        j += (size_t)n;
        count++;
    }
    return j == len || count < 2 ? j : last;
}

size_t pf_pretok_next(const unsigned char *s, size_t len, size_t i)
{
    int n = 1;
    if (s[i] == '\'') {
        size_t k = contraction(s, len, i);
        if (k)
            return i + k;
    }
    if (s[i] == ' ' && i + 1 < len) {
        int next = class_at(s, i + 1, &n);
        if (next != PF_UC_SPACE)
            return run_end(s, len, i + 1, next);
    }
    int cls = class_at(s, i, &n);
    if (cls != PF_UC_SPACE)
        return run_end(s, len, i, cls);
    return space_piece(s, len, i);
}
