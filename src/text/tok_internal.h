/*
 * tok_internal.h: the tokenizer's representation, shared by the files of src/text.
 *
 * Invariants of a finished pf_tokenizer:
 *  - tokens[id] for id < n_ids is either unused (kind TOK_UNUSED) or holds the token's
 *    vocab.json string (str_off/str_len) and its decoded bytes (byte_off/byte_len),
 *    both NUL-terminated in pool; vocab maps every used string to its id.
 *  - A token's string is the GPT-2 bytes_to_unicode image of its bytes, except for a
 *    TOK_LITERAL token (string outside that image), whose bytes are its string. A
 *    TOK_SPECIAL token is matched in text by its string and decodes to its bytes, as
 *    Hugging Face's byte-level decoder does (for the usual "<|...|>" names the two
 *    are equal).
 *  - byte_id[b] is the id of the one-byte token b (all 256 exist).
 *  - ranks maps (left, right) to (rank, merged id); with repeated merges the last
 *    rank wins (as GPT-2, Hugging Face and gpt-3-encoder do); merges[] keeps the file
 *    order for saving.
 *  - specials lists the special ids by descending string length, and special_first[b]
 *    says whether some special starts with byte b.
 * The encode workspace (word cache and BPE scratch) is owned here and only grows.
 */
#ifndef PREFOPT_TEXT_TOK_INTERNAL_H
#define PREFOPT_TEXT_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "prefopt/tokenizer.h"
#include "text/maps.h"

/* Largest accepted token id + 1 (keeps id tables small and ids far from int32 limits). */
#define PF_TOK_MAX_IDS PF_TOKENIZER_MAX_VOCAB

enum { TOK_UNUSED = 0, TOK_BYTES, TOK_LITERAL, TOK_SPECIAL };

typedef struct {
    uint32_t str_off, str_len;
    uint32_t byte_off, byte_len;
    int kind;
} pf_tok_entry;

/* One symbol of a word during BPE: a token id and its neighbours (-1 = none). */
typedef struct {
    int32_t id, prev, next;
    uint32_t alive;
} pf_bpe_sym;

/* One candidate merge: rank, left position and the ids it expects there. */
typedef struct {
    int32_t rank, pos, left, right, merged;
} pf_bpe_cand;

/* The encode workspace: the word cache and the BPE scratch. It sits behind a pointer so
 * that encoding through a const pf_tokenizer may update it (logically const). */
typedef struct {
    pf_strmap cache;    /* word bytes -> offset into cache_ids */
    int32_t *cache_ids; /* [count, ids...] per cached word */
    size_t cache_len, cache_cap;
    pf_bpe_sym *syms;
    pf_bpe_cand *heap;
    size_t work_cap;
} pf_tok_work;

struct pf_tokenizer {
    pf_tok_entry *tokens;
    int32_t n_ids;
    char *pool;
    size_t pool_len, pool_cap;
    pf_strmap vocab;
    int32_t byte_id[256];
    pf_pairmap ranks;
    int32_t *merges; /* 2 * n_merges ids: left, right */
    int32_t n_merges, merges_cap;
    int32_t *specials;
    int n_specials;
    unsigned char special_first[256];
    pf_tok_work *work;
};

/* GPT-2's bytes_to_unicode: the code point standing for byte b in vocab strings. */
uint32_t pf_tok_byte_cp(unsigned b);

/* Writes the vocab string of bytes b[0..n) to out (room for 2n + 1), NUL-terminated;
 * returns its length. */
size_t pf_tok_bytes_to_str(const unsigned char *b, size_t n, char *out);

/* Creates a tokenizer with n_ids unused ids (1 <= n_ids <= PF_TOK_MAX_IDS). */
int pf_tok_create(int32_t n_ids, pf_tokenizer **out);

/* Sets token id to the vocab string str[0..len) (valid UTF-8, non-empty). Errors
 * (PF_ERR_USAGE): id in use, string already present, invalid string. */
int pf_tok_set_token(pf_tokenizer *tok, int32_t id, const char *str, size_t len);

/* Appends the merge (left, right); the merged string must be in the vocabulary. */
int pf_tok_add_merge(pf_tokenizer *tok, int32_t left, int32_t right);

/* Marks id special (matched by its string) and rebuilds the special-token index. */
int pf_tok_mark_special(pf_tokenizer *tok, int32_t id);

/* Completes construction: fills byte_id (PF_ERR_USAGE when a byte token is missing)
 * and marks <|endoftext|>, <|im_start|>, <|im_end|> special when present. */
int pf_tok_finish(pf_tokenizer *tok);

/* Learns byte-level BPE merges over the distinct words of words (entry i has count
 * freq[i]) until the vocabulary holds target tokens (>= 256, specials not counted) or
 * no pair is left, and builds the tokenizer (byte tokens, merges, then the specials
 * pf_bpe_special_tokens). See bpe_learn.c. */
int pf_bpe_learn(const pf_strmap *words, const int64_t *freq, int32_t target, pf_tokenizer **out);

/* The vocab string of id (NUL-terminated) and its length. */
static inline const char *pf_tok_str(const pf_tokenizer *tok, int32_t id, size_t *len)
{
    *len = tok->tokens[id].str_len;
    return tok->pool + tok->tokens[id].str_off;
}

#endif
