/*
 * test_tokenizer.c: loading the three tokenizer formats, encoding, special tokens,
 * invalid UTF-8, decoding, serialisation and the HDF5 group.
 *
 * Fixtures (tests/data/tokenizer, see its README.md) hold one small byte-level BPE in
 * every format; expectations are written as the vocab strings of the expected tokens
 * joined by spaces (byte-level strings never contain a space).
 */
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cunit_run.h"
#include "prefopt/error.h"
#include "prefopt/tokenizer.h"
#include "prefopt/tokenizer_h5.h"
#include "testutil.h"

#define DATA PF_TOK_TEST_DATA

/* Reads a whole file into a malloc'ed NUL-terminated string (fatal when unreadable). */
static char *slurp(const char *path)
{
    char *buf = tu_slurp(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    return buf;
}

/* The fixture loaded from vocab.json + merges.txt. */
static pf_tokenizer *fixture(void)
{
    pf_tokenizer *tok = NULL;
    int rc = pf_tokenizer_load(DATA "/vocab.json", DATA "/merges.txt", &tok);
    if (rc != PF_OK)
        fprintf(stderr, "\n  %s\n", pf_error_message());
    CU_ASSERT_FATAL(rc == PF_OK);
    return tok;
}

/* The tokens of text as their vocab strings joined by spaces, into out. */
static void token_text(const pf_tokenizer *tok, const char *text, int flags, char *out, size_t size)
{
    pf_token_ids ids = {0};
    CU_ASSERT_FATAL(pf_tokenizer_encode(tok, text, strlen(text), flags, &ids) == PF_OK);
    out[0] = '\0';
    for (size_t i = 0; i < ids.len; i++) {
        const char *s = pf_tokenizer_token_string(tok, ids.ids[i], NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        if (i)
            strncat(out, " ", size - strlen(out) - 1);
        strncat(out, s, size - strlen(out) - 1);
    }
    pf_token_ids_free(&ids);
}

/* Asserts that text encodes to the tokens want. */
static void check_encode(const pf_tokenizer *tok, const char *text, int flags, const char *want)
{
    size_t size = 4 * strlen(text) + 64; /* a token string is at most 2 bytes per byte */
    char *got = malloc(size);
    token_text(tok, text, flags, got, size);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  [%.200s]: got [%.200s] want [%.200s]\n", text, got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

/* Asserts that a and b encode every sample text to the same ids. */
static void check_same_encoding(const pf_tokenizer *a, const pf_tokenizer *b)
{
    static const char *texts[] = {"hello world",      "the theory",   "12 123 1234",
                                  "caf\xc3\xa9 it's", "a   b\n\n\nc", "<|endoftext|>x"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        pf_token_ids x = {0}, y = {0};
        CU_ASSERT_FATAL(pf_tokenizer_encode(a, texts[t], strlen(texts[t]), 0, &x) == PF_OK);
        CU_ASSERT_FATAL(pf_tokenizer_encode(b, texts[t], strlen(texts[t]), 0, &y) == PF_OK);
        CU_ASSERT(x.len == y.len && memcmp(x.ids, y.ids, x.len * sizeof *x.ids) == 0);
        pf_token_ids_free(&x);
        pf_token_ids_free(&y);
    }
}

static void test_load_hf_pair(void)
{
    pf_tokenizer *tok = fixture();
    CU_ASSERT_EQUAL(pf_tokenizer_vocab_size(tok), 273);
    CU_ASSERT_EQUAL(pf_tokenizer_merge_count(tok), 16);
    CU_ASSERT_EQUAL(pf_tokenizer_token_id(tok, "hello"), 261);
    CU_ASSERT_EQUAL(pf_tokenizer_token_id(tok, "!"), 0);
    CU_ASSERT_EQUAL(pf_tokenizer_token_id(tok, "\xc4\xa0"), 188 + 32); /* "Ġ" = space */
    CU_ASSERT_EQUAL(pf_tokenizer_token_id(tok, "nope"), -1);
    CU_ASSERT(pf_tokenizer_is_special(tok, 272));
    CU_ASSERT(!pf_tokenizer_is_special(tok, 261));
    check_encode(tok, "hello world", 0, "hello \xc4\xa0world");
    check_encode(tok, "the", 0, "t he");
    check_encode(tok, " the", 0, "\xc4\xa0the");
    check_encode(tok, "12345", 0, "12 3 4 5");
    check_encode(tok, "caf\xc3\xa9", 0, "c a f \xc3\x83\xc2\xa9");
    check_encode(tok, "it's", 0, "i t 's");
    check_encode(tok, "hello  world", 0, "hello \xc4\xa0 \xc4\xa0world");
    check_encode(tok, "a   b", 0, "a \xc4\xa0\xc4\xa0 \xc4\xa0 b");
    check_encode(tok, "\n\n\nx", 0, "\xc4\x8a\xc4\x8a \xc4\x8a x");
    check_encode(tok, "", 0, "");
    pf_tokenizer_free(tok);
}

static void test_load_openai_names(void)
{
    pf_tokenizer *a = fixture(), *b = NULL;
    CU_ASSERT_FATAL(pf_tokenizer_load(DATA "/encoder.json", DATA "/vocab.bpe", &b) == PF_OK);
    CU_ASSERT_EQUAL(pf_tokenizer_vocab_size(b), 273);
    CU_ASSERT_EQUAL(pf_tokenizer_merge_count(b), 16);
    check_same_encoding(a, b);
    pf_tokenizer_free(a);
    pf_tokenizer_free(b);
}

static void test_load_hf_json(void)
{
    pf_tokenizer *a = fixture(), *b = NULL;
    int rc = pf_tokenizer_load_hf(DATA "/tokenizer.json", &b);
    if (rc != PF_OK)
        fprintf(stderr, "\n  %s\n", pf_error_message());
    CU_ASSERT_FATAL(rc == PF_OK);
    CU_ASSERT_EQUAL(pf_tokenizer_vocab_size(b), 275);
    check_same_encoding(a, b);
    CU_ASSERT(pf_tokenizer_is_special(b, 273) && pf_tokenizer_is_special(b, 274));
    check_encode(b, "<|im_start|>hello<|im_end|>\n", 0, "<|im_start|> hello <|im_end|> \xc4\x8a");
    pf_tokenizer_free(a);
    pf_tokenizer_free(b);
}

/* Loads the fixture tokenizer.json after edit(root) and returns the status. */
static int load_edited(void (*edit)(cJSON *root))
{
    char *text = slurp(DATA "/tokenizer.json");
    cJSON *root = cJSON_Parse(text);
    edit(root);
    char *out = cJSON_PrintUnformatted(root);
    pf_tokenizer *tok = NULL;
    int rc = pf_tokenizer_from_hf_json(out, strlen(out), "edited.json", &tok);
    pf_tokenizer_free(tok);
    free(out);
    cJSON_Delete(root);
    free(text);
    return rc;
}

static void edit_prefix(cJSON *r)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "pre_tokenizer"), "add_prefix_space",
                              cJSON_CreateTrue());
}
static void edit_normalizer(cJSON *r)
{
    cJSON_ReplaceItemInObject(r, "normalizer", cJSON_CreateString("NFC"));
}
static void edit_type(cJSON *r)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "model"), "type",
                              cJSON_CreateString("WordPiece"));
}
static void edit_dropout(cJSON *r)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "model"), "dropout", cJSON_CreateNumber(0.1));
}
static void edit_string_merges(cJSON *r)
{
    cJSON *merges = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "model"), "merges");
    cJSON *strings = cJSON_CreateArray(), *m;
    cJSON_ArrayForEach(m, merges)
    {
        char buf[64];
        snprintf(buf, sizeof buf, "%s %s", cJSON_GetArrayItem(m, 0)->valuestring,
                 cJSON_GetArrayItem(m, 1)->valuestring);
        cJSON_AddItemToArray(strings, cJSON_CreateString(buf));
    }
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "model"), "merges", strings);
}

static void test_hf_variants(void)
{
    CU_ASSERT_EQUAL(load_edited(edit_prefix), PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "add_prefix_space"));
    CU_ASSERT_EQUAL(load_edited(edit_normalizer), PF_ERR_USAGE);
    CU_ASSERT_EQUAL(load_edited(edit_type), PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "edited.json"));
    CU_ASSERT_EQUAL(load_edited(edit_dropout), PF_ERR_USAGE);
    CU_ASSERT_EQUAL(load_edited(edit_string_merges), PF_OK);
}

static void test_specials(void)
{
    pf_tokenizer *tok = fixture();
    check_encode(tok, "a<|endoftext|>b", 0, "a <|endoftext|> b");
    check_encode(tok, "<|endoftext|><|endoftext|>", 0, "<|endoftext|> <|endoftext|>");
    check_encode(tok, " <|endoftext|> ", 0, "\xc4\xa0 <|endoftext|> \xc4\xa0");
    check_encode(tok, "<|endoftext|", 0, "< | e n d o f t e x t |");
    check_encode(tok, "a<|endoftext|>", PF_TOKENIZE_NO_SPECIAL, "a < | e n d o f t e x t | >");
    /* the longest special wins where several start */
    CU_ASSERT(pf_tokenizer_add_special(tok, "he") == PF_OK);
    CU_ASSERT(pf_tokenizer_add_special(tok, "hell") == PF_OK);
    check_encode(tok, "hello hehe", 0, "hell o \xc4\xa0 he he");
    CU_ASSERT_EQUAL(pf_tokenizer_add_special(tok, "not-a-token"), PF_ERR_USAGE);
    pf_tokenizer_free(tok);
}

static void test_invalid_utf8(void)
{
    pf_tokenizer *tok = fixture();
    pf_token_ids ids = {0};
    CU_ASSERT(pf_tokenizer_encode(tok, "x", 1, 0, &ids) == PF_OK);
    CU_ASSERT_EQUAL(pf_tokenizer_encode(tok, "ab\xff", 3, 0, &ids), PF_ERR_DATA);
    CU_ASSERT_STRING_EQUAL(pf_error_message(), "invalid UTF-8 at byte offset 2");
    CU_ASSERT_EQUAL(pf_tokenizer_encode(tok, "hello \xed\xa0\x80", 9, 0, &ids), PF_ERR_DATA);
    CU_ASSERT_STRING_EQUAL(pf_error_message(), "invalid UTF-8 at byte offset 6");
    CU_ASSERT_EQUAL(pf_tokenizer_encode(tok, "\xc3", 1, 0, &ids), PF_ERR_DATA);
    CU_ASSERT_EQUAL(ids.len, 1); /* output untouched */
    pf_token_ids_free(&ids);
    pf_tokenizer_free(tok);
}

/* Asserts decode(encode(text)) == text. */
static void check_round_trip(const pf_tokenizer *tok, const char *text, size_t len)
{
    pf_token_ids ids = {0};
    char *back = NULL;
    size_t n = 0;
    CU_ASSERT_FATAL(pf_tokenizer_encode(tok, text, len, 0, &ids) == PF_OK);
    CU_ASSERT_FATAL(pf_tokenizer_decode(tok, ids.ids, ids.len, &back, &n) == PF_OK);
    CU_ASSERT(n == len && memcmp(back, text, len) == 0);
    free(back);
    pf_token_ids_free(&ids);
}

/* Appends the UTF-8 form of cp to s at *k. */
static void put_cp(char *s, size_t *k, unsigned cp)
{
    if (cp < 0x80) {
        s[(*k)++] = (char)cp;
    } else if (cp < 0x800) {
        s[(*k)++] = (char)(0xC0 | (cp >> 6));
        s[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s[(*k)++] = (char)(0xE0 | (cp >> 12));
        s[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        s[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        s[(*k)++] = (char)(0xF0 | (cp >> 18));
        s[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        s[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        s[(*k)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static void test_round_trip(void)
{
    pf_tokenizer *tok = fixture();
    static const char *texts[] = {"hello world",
                                  "  \t\n x",
                                  "<|endoftext|>hi<|endoftext|>",
                                  "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe4\xbd\xa0\xe5\xa5\xbd",
                                  "\x01\x02\x7f",
                                  ""};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++)
        check_round_trip(tok, texts[t], strlen(texts[t]));
    unsigned state = 99;
    for (int t = 0; t < 500; t++) {
        char s[800];
        size_t k = 0;
        for (int c = 0; c < 150; c++) {
            state = state * 1103515245u + 12345u;
            unsigned cp = (state >> 8) % (c % 3 ? 0x80 : 0x110000);
            if (cp >= 0xD800 && cp < 0xE000)
                cp = 'z';
            put_cp(s, &k, cp);
        }
        check_round_trip(tok, s, k);
    }
    int32_t bad[] = {261, 9999};
    char *out = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(pf_tokenizer_decode(tok, bad, 2, &out, &n), PF_ERR_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "ids[1]"));
    CU_ASSERT_PTR_NULL(out);
    pf_tokenizer_free(tok);
}

/* GPT-2 merges every occurrence of the best pair in one pass before looking again,
 * even when a pass creates a pair of lower rank (here "abc a", rank 2). */
static void test_gpt2_pass_semantics(void)
{
    char vocab[4096];
    size_t k = (size_t)snprintf(vocab, sizeof vocab, "{");
    for (int b = 0; b < 256; b++) {
        char s[3];
        unsigned cp = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE
                          ? (unsigned)b
                          : 256u + (unsigned)(b <= 0x20   ? b
                                              : b <= 0xA0 ? b - 0x7F + 33
                                                          : 67);
        size_t n = 0;
        put_cp(s, &n, cp);
        k += (size_t)snprintf(vocab + k, sizeof vocab - k, "\"%s%.*s\":%d,",
                              cp == '"' || cp == '\\' ? "\\" : "", (int)n, s, b);
    }
    snprintf(vocab + k, sizeof vocab - k, "\"bc\":256,\"ab\":257,\"abca\":258,\"abc\":259}");
    const char *merges = "#version: 0.2\nb c\na b\nabc a\nab c\na bc\n";
    pf_tokenizer *tok = NULL;
    CU_ASSERT_FATAL(
        pf_tokenizer_from_text(vocab, strlen(vocab), merges, strlen(merges), "t", &tok) == PF_OK);
    check_encode(tok, "abcabc", 0, "abc abc");
    pf_tokenizer_free(tok);
}

/* dst = a + b (dst holds 64 bytes; fixture tokens are short). */
static void join2(char *dst, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    CU_ASSERT_FATAL(la + lb < 64);
    memmove(dst + la, b, lb + 1);
    memmove(dst, a, la);
}

/* GPT-2's BPE written plainly over token strings: the test oracle for long words.
 * Fixture ranks are id - 256 for the merge tokens 256..271. */
static size_t naive_bpe(const pf_tokenizer *tok, const char *w, char parts[][64], size_t cap)
{
    size_t n = 0;
    for (const char *p = w; *p; p++)
        join2(parts[n++], pf_tokenizer_token_string(tok, (unsigned char)*p - 0x21, NULL), "");
    CU_ASSERT_FATAL(n <= cap);
    for (;;) {
        int best = -1;
        size_t at = 0;
        char cat[64], a[64], b[64];
        for (size_t i = 0; i + 1 < n; i++) {
            join2(cat, parts[i], parts[i + 1]);
            int32_t id = pf_tokenizer_token_id(tok, cat);
            int rank = id >= 256 && id < 272 ? id - 256 : -1;
            if (rank >= 0 && (best < 0 || rank < best)) {
                best = rank;
                at = i;
            }
        }
        if (best < 0)
            return n;
        join2(a, parts[at], "");
        join2(b, parts[at + 1], "");
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && !strcmp(parts[i], a) && !strcmp(parts[i + 1], b)) {
                join2(parts[j++], a, b);
                i++;
            } else {
                join2(parts[j++], parts[i], "");
            }
        }
        n = j;
    }
}

static void test_long_words_vs_naive(void)
{
    pf_tokenizer *tok = fixture();
    static char parts[4096][64];
    static const char alphabet[] = "helowrdt";
    unsigned state = 7;
    for (int t = 0; t < 40; t++) {
        char w[4096];
        size_t n = 1 + (size_t)t * 97 % 4000;
        for (size_t i = 0; i < n; i++) {
            state = state * 1103515245u + 12345u;
            w[i] = alphabet[(state >> 16) % 8];
        }
        w[n] = '\0';
        size_t np = naive_bpe(tok, w, parts, 4096);
        static char want[4 * 4096];
        want[0] = '\0';
        for (size_t i = 0; i < np; i++) {
            if (i)
                strcat(want, " ");
            strcat(want, parts[i]);
        }
        check_encode(tok, w, 0, want);
    }
    pf_tokenizer_free(tok);
}

static void test_text_round_trip(void)
{
    pf_tokenizer *a = NULL, *b = NULL;
    CU_ASSERT_FATAL(pf_tokenizer_load_hf(DATA "/tokenizer.json", &a) == PF_OK);
    char *v1, *m1, *s1, *v2, *m2, *s2;
    CU_ASSERT_FATAL(pf_tokenizer_to_text(a, &v1, &m1, &s1) == PF_OK);
    CU_ASSERT_STRING_EQUAL(s1, "[\"<|endoftext|>\",\"<|im_start|>\",\"<|im_end|>\"]");
    CU_ASSERT(strncmp(m1, "#version: 0.2\n\xc4\xa0 t\n", 18) == 0);
    CU_ASSERT_FATAL(pf_tokenizer_from_text(v1, strlen(v1), m1, strlen(m1), "x", &b) == PF_OK);
    CU_ASSERT_FATAL(pf_tokenizer_to_text(b, &v2, &m2, &s2) == PF_OK);
    CU_ASSERT_STRING_EQUAL(v1, v2);
    CU_ASSERT_STRING_EQUAL(m1, m2);
    CU_ASSERT_STRING_EQUAL(s1, s2); /* the three defaults are special after loading */
    check_same_encoding(a, b);
    char *fixture_vocab = slurp(DATA "/vocab.json");
    pf_tokenizer *c = fixture();
    char *v3;
    CU_ASSERT_FATAL(pf_tokenizer_to_text(c, &v3, NULL, NULL) == PF_OK);
    CU_ASSERT_STRING_EQUAL(v3, fixture_vocab); /* same compact layout as Python writes */
    free(v3);
    free(fixture_vocab);
    pf_tokenizer_free(c);
    free(v1), free(m1), free(s1), free(v2), free(m2), free(s2);
    pf_tokenizer_free(a);
    pf_tokenizer_free(b);
}

static void test_h5_round_trip(void)
{
    char path[] = "/tmp/pf_tok_h5_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    pf_tokenizer *a = NULL, *b = NULL;
    CU_ASSERT_FATAL(pf_tokenizer_load_hf(DATA "/tokenizer.json", &a) == PF_OK);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT(!pf_tokenizer_h5_present(f));
    CU_ASSERT_EQUAL(pf_tokenizer_read_h5(f, &b), PF_ERR_USAGE);
    CU_ASSERT(pf_tokenizer_write_h5(f, a) == PF_OK);
    CU_ASSERT_EQUAL(pf_tokenizer_write_h5(f, a), PF_ERR_RUNTIME); /* exists already */
    H5Fclose(f);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT(pf_tokenizer_h5_present(f));
    int rc = pf_tokenizer_read_h5(f, &b);
    if (rc != PF_OK)
        fprintf(stderr, "\n  %s\n", pf_error_message());
    CU_ASSERT_FATAL(rc == PF_OK);
    H5Fclose(f);
    char *v1, *m1, *s1, *v2, *m2, *s2;
    CU_ASSERT_FATAL(pf_tokenizer_to_text(a, &v1, &m1, &s1) == PF_OK);
    CU_ASSERT_FATAL(pf_tokenizer_to_text(b, &v2, &m2, &s2) == PF_OK);
    CU_ASSERT_STRING_EQUAL(v1, v2);
    CU_ASSERT_STRING_EQUAL(m1, m2);
    CU_ASSERT_STRING_EQUAL(s1, s2);
    check_encode(b, "<|im_start|>hello", 0, "<|im_start|> hello");
    free(v1), free(m1), free(s1), free(v2), free(m2), free(s2);
    pf_tokenizer_free(a);
    pf_tokenizer_free(b);
    unlink(path);
}

/* Loads vocab.json text with the given merges text; returns the status. */
static int load_merges(const char *merges)
{
    char *vocab = slurp(DATA "/vocab.json");
    pf_tokenizer *tok = NULL;
    int rc = pf_tokenizer_from_text(vocab, strlen(vocab), merges, strlen(merges), "m", &tok);
    pf_tokenizer_free(tok);
    free(vocab);
    return rc;
}

/* Loads the given vocab.json text with no merges; returns the status. */
static int load_vocab(const char *vocab)
{
    pf_tokenizer *tok = NULL;
    int rc = pf_tokenizer_from_text(vocab, strlen(vocab), "", 0, "v", &tok);
    pf_tokenizer_free(tok);
    return rc;
}

static void test_load_errors(void)
{
    pf_tokenizer *tok = NULL;
    CU_ASSERT_EQUAL(pf_tokenizer_load("/nonexistent/vocab.json", DATA "/merges.txt", &tok),
                    PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "/nonexistent/vocab.json"));
    CU_ASSERT_PTR_NULL(tok);
    CU_ASSERT_EQUAL(load_merges("#version: 0.2\nh e\nbad\n"), PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "merges.txt:3:"));
    CU_ASSERT_EQUAL(load_merges("h  e\n"), PF_ERR_USAGE);
    CU_ASSERT_EQUAL(load_merges("h zz\n"), PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "'zz' is not in the vocabulary"));
    CU_ASSERT_EQUAL(load_merges("e h\n"), PF_ERR_USAGE); /* "eh" is no token */
    CU_ASSERT_EQUAL(load_merges("h e\r\n\r\nl l\r\n"), PF_OK);
    CU_ASSERT_EQUAL(load_vocab("[1, 2]"), PF_ERR_USAGE);
    CU_ASSERT_EQUAL(load_vocab("{"), PF_ERR_USAGE);
    CU_ASSERT_EQUAL(load_vocab("{}"), PF_ERR_USAGE);
    CU_ASSERT_EQUAL(load_vocab("{\"a\": 0}"), PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "no token for byte"));
    CU_ASSERT_EQUAL(load_vocab("{\"a\": 0, \"b\": 0}"), PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "given twice"));
    CU_ASSERT_EQUAL(load_vocab("{\"a\": 1.5}"), PF_ERR_USAGE);
    CU_ASSERT_EQUAL(load_vocab("{\"a\": -1}"), PF_ERR_USAGE);
    CU_ASSERT_EQUAL(load_vocab("{\"a\": 99999999}"), PF_ERR_USAGE);
    CU_ASSERT_EQUAL(load_vocab("{\"a\": \"0\"}"), PF_ERR_USAGE);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"load_vocab_json_merges_txt", test_load_hf_pair},
        {"load_encoder_json_vocab_bpe", test_load_openai_names},
        {"load_tokenizer_json", test_load_hf_json},
        {"tokenizer_json_variants", test_hf_variants},
        {"specials_never_split", test_specials},
        {"invalid_utf8", test_invalid_utf8},
        {"round_trip", test_round_trip},
        {"gpt2_pass_semantics", test_gpt2_pass_semantics},
        {"long_words_vs_naive", test_long_words_vs_naive},
        {"text_round_trip", test_text_round_trip},
        {"h5_round_trip", test_h5_round_trip},
        {"load_errors", test_load_errors},
        {NULL, NULL},
    };
    return pf_cunit_run("tokenizer", cases);
}
