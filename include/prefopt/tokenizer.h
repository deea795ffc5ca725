/*
 * tokenizer.h: GPT-2 byte-level BPE tokenizer: load, encode, decode, train, save.
 *
 * Loads the Hugging Face pair vocab.json + merges.txt, OpenAI's encoder.json +
 * vocab.bpe (the same two formats under other names) and a GPT-2-kind Hugging Face
 * tokenizer.json. Encoding equals GPT-2's exactly: text is split on special tokens
 * first, then pre-tokenized with GPT-2's rules (Unicode tables of the version given by
 * pf_tokenizer_unicode_version()), each piece is mapped byte-wise and merged by rank.
 * Special tokens are <|endoftext|>, <|im_start|>, <|im_end|> when in the vocabulary,
 * every added token of a tokenizer.json, and those marked with pf_tokenizer_add_special;
 * each is one id and is never split. See docs/tokenizer.md.
 *
 * Errors: malformed tokenizer files are PF_ERR_USAGE naming the file (and line);
 * invalid UTF-8 given to encode is PF_ERR_DATA naming the byte offset; out of memory
 * is PF_ERR_RUNTIME. A tokenizer is not thread-safe: encoding updates its internal word
 * cache even through a const pointer, so use one tokenizer per thread.
 */
#ifndef PREFOPT_TOKENIZER_H
#define PREFOPT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_tokenizer pf_tokenizer;

/* A growable array of token ids; zero-initialise, reuse, free with pf_token_ids_free. */
typedef struct {
    int32_t *ids;
    size_t len, cap;
} pf_token_ids;

/* Frees the ids and zeroes the struct. */
void pf_token_ids_free(pf_token_ids *ids);

/* The largest vocabulary (ids 0 .. PF_TOKENIZER_MAX_VOCAB - 1), as for model.vocab_size. */
#define PF_TOKENIZER_MAX_VOCAB (1 << 24)

/* Encode flag: treat special-token text as ordinary text (e.g. for untrusted content). */
#define PF_TOKENIZE_NO_SPECIAL 1

/* Loads vocab.json (or encoder.json) and merges.txt (or vocab.bpe). */
int pf_tokenizer_load(const char *vocab_path, const char *merges_path, pf_tokenizer **out);

/* Loads a Hugging Face tokenizer.json whose model is a GPT-2-kind byte-level BPE
 * (model.type "BPE", pre_tokenizer ByteLevel with add_prefix_space false, no
 * normalizer); anything else is refused with PF_ERR_USAGE saying what differs. */
int pf_tokenizer_load_hf(const char *path, pf_tokenizer **out);

/* Like pf_tokenizer_load from the files' contents; what names them in errors. */
int pf_tokenizer_from_text(const char *vocab_json, size_t vocab_len, const char *merges_txt,
                           size_t merges_len, const char *what, pf_tokenizer **out);

/* Like pf_tokenizer_load_hf from the file's contents; what names it in errors. */
int pf_tokenizer_from_hf_json(const char *json, size_t len, const char *what, pf_tokenizer **out);

/* Frees a tokenizer (NULL is a no-op). */
void pf_tokenizer_free(pf_tokenizer *tok);

/* Appends the ids of text[0..len) to out (flags: 0 or PF_TOKENIZE_NO_SPECIAL).
 * Invalid UTF-8 is PF_ERR_DATA "invalid UTF-8 at byte offset N" (out unchanged).
 * Allocates nothing in steady state once out and the word cache have grown. */
int pf_tokenizer_encode(const pf_tokenizer *tok, const char *text, size_t len, int flags,
                        pf_token_ids *out);

/* Decodes ids into a malloc'ed buffer *text of *len bytes (plus a NUL; free with
 * free()). The bytes need not be valid UTF-8 when ids cut a character. An id that is
 * not in the vocabulary is PF_ERR_DATA naming its position. */
int pf_tokenizer_decode(const pf_tokenizer *tok, const int32_t *ids, size_t n, char **text,
                        size_t *len);

/* Like pf_tokenizer_decode, then every byte that does not start a valid UTF-8 sequence
 * (a generated token sequence can end inside a character) becomes U+FFFD, as Python's
 * bytes.decode(errors="replace") does for single bytes: text fit for graders and JSON. */
int pf_tokenizer_decode_lossy(const pf_tokenizer *tok, const int32_t *ids, size_t n, char **text,
                              size_t *len);

/* The number of tokens text[0..len) encodes to (no special tokens) into *n; tok is a
 * const pf_tokenizer * passed as void * so that this is a pf_grade_token_count_fn (the
 * counter of length graders with unit "tokens"). Returns encode's status. */
int pf_tokenizer_count_tokens(void *tok, const char *text, size_t len, size_t *n);

/* The ids of the tokens that end a generation, "<|im_end|>" (end of turn) and
 * "<|endoftext|>", those the vocabulary has, into ids[0..2); returns their count. */
int pf_tokenizer_stop_ids(const pf_tokenizer *tok, int32_t ids[2]);

/* One more than the largest id (ids below it may be unused in sparse vocabularies). */
int32_t pf_tokenizer_vocab_size(const pf_tokenizer *tok);

/* The number of merges (the BPE ranks 0..n-1). */
int32_t pf_tokenizer_merge_count(const pf_tokenizer *tok);

/* The token's string as written in vocab.json (NUL-terminated), or NULL for an unused
 * or out-of-range id; *len (when non-NULL) receives its byte length. */
const char *pf_tokenizer_token_string(const pf_tokenizer *tok, int32_t id, size_t *len);

/* The bytes the token decodes to (NUL-terminated), or NULL as above. */
const char *pf_tokenizer_token_bytes(const pf_tokenizer *tok, int32_t id, size_t *len);

/* The id of the token whose vocab.json string is str, or -1. */
int32_t pf_tokenizer_token_id(const pf_tokenizer *tok, const char *str);

/* Whether id is a special token. */
int pf_tokenizer_is_special(const pf_tokenizer *tok, int32_t id);

/* Makes the existing token str special: text is split on str before pre-tokenization
 * and each occurrence becomes this id. It still decodes to its bytes (str itself unless
 * str is a byte-level string such as "\u0120he", which decodes to " he", as in Hugging
 * Face). PF_ERR_USAGE when str is not in the vocabulary. */
int pf_tokenizer_add_special(pf_tokenizer *tok, const char *str);

/* Serialises the tokenizer as vocab.json text (one JSON object, ids ascending), as
 * merges.txt text ("#version: 0.2" then one merge per line, by rank) and the special
 * tokens as a JSON array of strings (by id); each malloc'ed and NUL-terminated, any
 * pointer may be NULL to skip that part. Loading the first two gives back the same
 * encoder; the output is a deterministic function of the tokenizer. */
int pf_tokenizer_to_text(const pf_tokenizer *tok, char **vocab_json, char **merges_txt,
                         char **specials_json);

/* Writes DIR/vocab.json and DIR/merges.txt (each atomically), creating DIR (one level)
 * when missing. PF_ERR_RUNTIME naming the file on failure. */
int pf_tokenizer_save(const pf_tokenizer *tok, const char *dir);

/* The Unicode version of the pre-tokenizer's class tables, e.g. "15.1.0". */
const char *pf_tokenizer_unicode_version(void);

/* Training a byte-level BPE (see docs/tokenizer.md). */
typedef struct pf_bpe_trainer pf_bpe_trainer;

/* The special tokens every trained vocabulary ends with, in id order. */
#define PF_BPE_SPECIAL_COUNT 3
extern const char *const pf_bpe_special_tokens[PF_BPE_SPECIAL_COUNT];

/* Creates an empty trainer. PF_OK or PF_ERR_RUNTIME. */
int pf_bpe_trainer_new(pf_bpe_trainer **out);

/* Frees a trainer (NULL is a no-op). */
void pf_bpe_trainer_free(pf_bpe_trainer *tr);

/* Pre-tokenizes text (GPT-2 rules, no special-token splitting) and counts its words.
 * Invalid UTF-8 is PF_ERR_DATA "invalid UTF-8 at byte offset N". */
int pf_bpe_trainer_add_text(pf_bpe_trainer *tr, const char *text, size_t len);

/* Adds every string value (recursively, not keys) of every JSON line of a JSONL file.
 * Blank lines are skipped and a UTF-8 BOM is allowed. A line that is not JSON or holds
 * invalid UTF-8 is PF_ERR_DATA "PATH:LINE: error: <rule>: <detail>"; an unreadable
 * file is PF_ERR_USAGE. */
int pf_bpe_trainer_add_jsonl(pf_bpe_trainer *tr, const char *path);

/* Learns merges until the vocabulary holds vocab_size tokens: the 256 byte tokens
 * (GPT-2's order), one token per new merge, then pf_bpe_special_tokens. Each step
 * merges the most frequent adjacent pair, ties broken by the smaller (left bytes,
 * right bytes) in byte order; stops early (fewer tokens) when no pair is left.
 * vocab_size must be at least 256 + PF_BPE_SPECIAL_COUNT (else PF_ERR_USAGE). The
 * result depends only on the multiset of texts added, and not on their order. */
int pf_bpe_trainer_train(pf_bpe_trainer *tr, int32_t vocab_size, pf_tokenizer **out);

#endif
