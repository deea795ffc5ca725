/*
 * unicode.h: UTF-8 validation and decoding, Unicode classes and the GPT-2 pre-tokenizer.
 *
 * Internal to src/text. Invariants: every function that takes text after validation
 * assumes strictly valid UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF, no truncated sequence), which pf_utf8_check establishes; the pre-tokenizer
 * therefore never reads past len and never meets a malformed sequence.
 */
#ifndef PREFOPT_TEXT_UNICODE_H
#define PREFOPT_TEXT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Pre-tokenizer classes: GPT-2's \p{L}, \p{N}, \s and everything else. */
enum { PF_UC_OTHER = 0, PF_UC_LETTER = 1, PF_UC_NUMBER = 2, PF_UC_SPACE = 3 };

/* One range of code points [lo, hi] of one class (generated tables). */
typedef struct {
    uint32_t lo, hi;
    uint32_t cls;
} pf_uc_range;

extern const char pf_uc_version[];
extern const unsigned char pf_uc_ascii[128];
extern const pf_uc_range pf_uc_ranges[];
extern const unsigned pf_uc_range_count;

/* The class of code point cp (PF_UC_OTHER for unassigned or out-of-range values). */
int pf_uc_class(uint32_t cp);

/* Returns len when s[0..len) is valid UTF-8, else the byte offset of the first byte of
 * the first invalid or truncated sequence. */
size_t pf_utf8_check(const unsigned char *s, size_t len);

/* Decodes the code point at s[i] of valid UTF-8 and stores its byte length in *n. */
static inline uint32_t pf_utf8_decode(const unsigned char *s, size_t i, int *n)
{
    unsigned c = s[i];
    if (c < 0x80) {
        *n = 1;
        return c;
    }
    if (c < 0xE0) {
        *n = 2;
        return ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
    }
    if (c < 0xF0) {
        *n = 3;
        return ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
    }
    *n = 4;
    return ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) |
           (s[i + 3] & 0x3Fu);
}

/* GPT-2 pre-tokenization of valid UTF-8: returns the end offset of the piece that
 * starts at s[i] (i < len), as the regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * would match it there. Pieces tile the text: call again from the returned offset. */
size_t pf_pretok_next(const unsigned char *s, size_t len, size_t i);

#endif
