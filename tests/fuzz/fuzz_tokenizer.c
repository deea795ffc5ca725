/*
 * fuzz_tokenizer.c: libFuzzer harness for the tokenizer: loading vocab.json/merges.txt
 * text and tokenizer.json, encoding, decoding, serialising and training.
 *
 * Input: byte 0 selects the mode (byte % 4; seeds use the digits '0'..'3'):
 *   0  "VOCAB\0MERGES\0TEXT": load from text; when it loads, check it on TEXT
 *   1  TEXT, encoded with a fixed tokenizer trained once at start-up
 *   2  a tokenizer.json; when it loads, check it on a fixed sample text
 *   3  TEXT given to the trainer (vocabulary 300), the result checked on TEXT
 * Beyond "no crash, no leak, no undefined behaviour" it checks, aborting on failure:
 *   - encode fails exactly when the text is not valid UTF-8, with PF_ERR_DATA and the
 *     output untouched;
 *   - decode(encode(text)) == text, with and without special-token splitting (when every
 *     special token decodes to its own string, which the shipped tokenizers satisfy);
 *   - serialisation is a fixed point: from_text(to_text(t)) serialises to the same text.
 * Built by scripts/fuzz.sh; replayed over tests/fuzz/corpus/tokenizer and
 * tests/fuzz/regressions/tokenizer by the fuzz_replay_tokenizer ctest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "prefopt/tokenizer.h"
#include "text/unicode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts when cond is false (a property violation is a finding). */
static void require(int cond)
{
    if (!cond)
        abort();
}

/* Whether every special token of tok decodes to its own string. */
static int specials_literal(const pf_tokenizer *tok)
{
    for (int32_t id = 0; id < pf_tokenizer_vocab_size(tok); id++) {
        size_t ls, lb;
        if (!pf_tokenizer_is_special(tok, id))
            continue;
        const char *s = pf_tokenizer_token_string(tok, id, &ls);
        const char *b = pf_tokenizer_token_bytes(tok, id, &lb);
        if (ls != lb || memcmp(s, b, ls) != 0)
            return 0;
    }
    return 1;
}

/* Checks encode and decode of text[0..len) with tok. */
static void check_encode(const pf_tokenizer *tok, const char *text, size_t len)
{
    int valid = pf_utf8_check((const unsigned char *)text, len) == len;
    int literal = specials_literal(tok);
    for (int flags = 0; flags <= PF_TOKENIZE_NO_SPECIAL; flags++) {
        pf_token_ids ids = {0};
        int rc = pf_tokenizer_encode(tok, text, len, flags, &ids);
        require(valid ? rc == PF_OK : rc == PF_ERR_DATA && ids.len == 0);
        char *back = NULL;
        size_t n = 0;
        if (rc == PF_OK) {
            require(pf_tokenizer_decode(tok, ids.ids, ids.len, &back, &n) == PF_OK);
            require(!literal || (n == len && memcmp(back, text, len) == 0));
        }
        free(back);
        pf_token_ids_free(&ids);
    }
}

/* Checks that tok's serialisation loads back and serialises identically. */
static void check_text_fixed_point(const pf_tokenizer *tok)
{
    char *v = NULL, *m = NULL, *v2 = NULL, *m2 = NULL;
    if (pf_tokenizer_to_text(tok, &v, &m, NULL) != PF_OK)
        return; /* a merge token holding a space (tokenizer.json arrays) */
    pf_tokenizer *back = NULL;
    require(pf_tokenizer_from_text(v, strlen(v), m, strlen(m), "fuzz", &back) == PF_OK);
    require(pf_tokenizer_to_text(back, &v2, &m2, NULL) == PF_OK);
    require(strcmp(v, v2) == 0 && strcmp(m, m2) == 0);
    pf_tokenizer_free(back);
    free(v), free(m), free(v2), free(m2);
}

/* Mode 0: vocab text, merges text and a sample, separated by NUL bytes. */
static void fuzz_load_text(const char *d, size_t n)
{
    const char *z1 = memchr(d, '\0', n);
    const char *z2 = z1 ? memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - d)) : NULL;
    if (!z2)
        return;
    pf_tokenizer *tok = NULL;
    if (pf_tokenizer_from_text(d, (size_t)(z1 - d), z1 + 1, (size_t)(z2 - z1 - 1), "fuzz", &tok) ==
        PF_OK) {
        check_encode(tok, z2 + 1, n - (size_t)(z2 + 1 - d));
        check_text_fixed_point(tok);
    }
    pf_tokenizer_free(tok);
}

/* The tokenizer of mode 1, trained once on a fixed English + code text. */
static const pf_tokenizer *fixed_tokenizer(void)
{
    static pf_tokenizer *tok;
    static const char text[] =
        "The quick brown fox jumps over the lazy dog; it's what they'd said they'll do.\n"
        "int main(void) {\n    return printf(\"%d\\n\", 42) > 0 ? 0 : 1;\n}\n"
        "caf\xc3\xa9 na\xc3\xafve \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 <|endoftext|>";
    if (!tok) {
        pf_bpe_trainer *tr = NULL;
        require(pf_bpe_trainer_new(&tr) == PF_OK);
        require(pf_bpe_trainer_add_text(tr, text, sizeof text - 1) == PF_OK);
        require(pf_bpe_trainer_train(tr, 400, &tok) == PF_OK);
        pf_bpe_trainer_free(tr);
    }
    return tok;
}

/* Mode 3: train on the text, then encode it. */
static void fuzz_train(const char *d, size_t n)
{
    pf_bpe_trainer *tr = NULL;
    pf_tokenizer *tok = NULL;
    require(pf_bpe_trainer_new(&tr) == PF_OK);
    int valid = pf_utf8_check((const unsigned char *)d, n) == n;
    int rc = pf_bpe_trainer_add_text(tr, d, n);
    require(valid ? rc == PF_OK : rc == PF_ERR_DATA);
    if (rc == PF_OK) {
        require(pf_bpe_trainer_train(tr, 300, &tok) == PF_OK);
        check_encode(tok, d, n);
        check_text_fixed_point(tok);
    }
    pf_tokenizer_free(tok);
    pf_bpe_trainer_free(tr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sample[] = "Hello <|im_start|>world<|endoftext|> it's 2024!\n\n  \xc3\xa9";
    if (size < 1)
        return 0;
    const char *d = (const char *)data + 1;
    size_t n = size - 1;
    pf_tokenizer *tok = NULL;
    switch (data[0] % 4) {
    case 0:
        fuzz_load_text(d, n);
        break;
    case 1:
        check_encode(fixed_tokenizer(), d, n);
        break;
    case 2:
        if (pf_tokenizer_from_hf_json(d, n, "fuzz", &tok) == PF_OK) {
            check_encode(tok, sample, sizeof sample - 1);
            check_text_fixed_point(tok);
        }
        pf_tokenizer_free(tok);
        break;
    default:
        fuzz_train(d, n);
        break;
    }
    pf_error_clear();
    return 0;
}
