/*
 * test_bpe_train.c: the byte-level BPE trainer: merge choice and tie-breaking, vocabulary
 * layout, determinism and order independence, JSONL input and its errors, saving and
 * re-loading, and that a trained tokenizer re-encodes its training text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_run.h"
#include "prefopt/error.h"
#include "prefopt/tokenizer.h"
#include "testutil.h"

static const char *CORPUS[] = {
    "The quick brown fox jumps over the lazy dog. The dog sleeps.",
    "int main(void) { return 0; }\nint x = 42;\n",
    "It's the theory that the thing is there; they're then three.",
    "caf\xc3\xa9 caf\xc3\xa9 na\xc3\xafve \xe4\xbd\xa0\xe5\xa5\xbd\xe4\xbd\xa0\xe5\xa5\xbd",
    "    indented    lines\n\n\n    more\tand\ttabs",
};
enum { NCORPUS = sizeof CORPUS / sizeof CORPUS[0] };

/* Trains on CORPUS (in the given order of indices) with vocab_size tokens. */
static pf_tokenizer *train(const int *order, int32_t vocab_size)
{
    pf_bpe_trainer *tr = NULL;
    pf_tokenizer *tok = NULL;
    CU_ASSERT_FATAL(pf_bpe_trainer_new(&tr) == PF_OK);
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < NCORPUS; i++)
            CU_ASSERT_FATAL(
                pf_bpe_trainer_add_text(tr, CORPUS[order[i]], strlen(CORPUS[order[i]])) == PF_OK);
    CU_ASSERT_FATAL(pf_bpe_trainer_train(tr, vocab_size, &tok) == PF_OK);
    pf_bpe_trainer_free(tr);
    return tok;
}

/* vocab.json + merges.txt text of tok concatenated (malloc'ed). */
static char *as_text(const pf_tokenizer *tok)
{
    char *v = NULL, *m = NULL;
    CU_ASSERT_FATAL(pf_tokenizer_to_text(tok, &v, &m, NULL) == PF_OK);
    char *all = malloc(strlen(v) + strlen(m) + 1);
    strcpy(all, v);
    strcat(all, m);
    free(v);
    free(m);
    return all;
}

static void test_layout(void)
{
    static const int order[] = {0, 1, 2, 3, 4};
    pf_tokenizer *tok = train(order, 300);
    CU_ASSERT_EQUAL(pf_tokenizer_vocab_size(tok), 300);
    CU_ASSERT_EQUAL(pf_tokenizer_merge_count(tok), 300 - 256 - 3);
    CU_ASSERT_STRING_EQUAL(pf_tokenizer_token_string(tok, 0, NULL), "!");
    CU_ASSERT_STRING_EQUAL(pf_tokenizer_token_string(tok, 188 + 32, NULL), "\xc4\xa0");
    CU_ASSERT_STRING_EQUAL(pf_tokenizer_token_string(tok, 297, NULL), "<|endoftext|>");
    CU_ASSERT_STRING_EQUAL(pf_tokenizer_token_string(tok, 298, NULL), "<|im_start|>");
    CU_ASSERT_STRING_EQUAL(pf_tokenizer_token_string(tok, 299, NULL), "<|im_end|>");
    for (int32_t id = 297; id < 300; id++)
        CU_ASSERT(pf_tokenizer_is_special(tok, id));
    /* the most frequent pair of the corpus: "Ġ" + "t" (" the", " that", " thing"...) */
    CU_ASSERT_STRING_EQUAL(pf_tokenizer_token_string(tok, 256, NULL), "\xc4\xa0t");
    pf_tokenizer_free(tok);
}

static void test_tie_break(void)
{
    pf_bpe_trainer *tr = NULL;
    pf_tokenizer *tok = NULL;
    CU_ASSERT_FATAL(pf_bpe_trainer_new(&tr) == PF_OK);
    /* words "cd" x1, " ab" x3, " cd" x2: pairs (" ", "a"), ("a", "b") and ("c", "d") all
     * occur 3 times; the smallest bytes win: " a", then " a"+"b" (3) ties "cd" and wins */
    const char *text = "cd ab cd ab cd ab";
    CU_ASSERT_FATAL(pf_bpe_trainer_add_text(tr, text, strlen(text)) == PF_OK);
    CU_ASSERT_FATAL(pf_bpe_trainer_train(tr, 262, &tok) == PF_OK);
    CU_ASSERT_STRING_EQUAL(pf_tokenizer_token_string(tok, 256, NULL), "\xc4\xa0"
                                                                      "a");
    CU_ASSERT_STRING_EQUAL(pf_tokenizer_token_string(tok, 257, NULL), "\xc4\xa0"
                                                                      "ab");
    CU_ASSERT_STRING_EQUAL(pf_tokenizer_token_string(tok, 258, NULL), "cd");
    pf_tokenizer_free(tok);
    pf_bpe_trainer_free(tr);
}

static void test_deterministic_order_free(void)
{
    static const int a[] = {0, 1, 2, 3, 4}, b[] = {4, 2, 0, 3, 1};
    pf_tokenizer *x = train(a, 400), *y = train(a, 400), *z = train(b, 400);
    char *tx = as_text(x), *ty = as_text(y), *tz = as_text(z);
    CU_ASSERT_STRING_EQUAL(tx, ty);
    CU_ASSERT_STRING_EQUAL(tx, tz);
    free(tx), free(ty), free(tz);
    pf_tokenizer_free(x), pf_tokenizer_free(y), pf_tokenizer_free(z);
}

static void test_reencodes_training_text(void)
{
    static const int order[] = {0, 1, 2, 3, 4};
    pf_tokenizer *tok = train(order, 100000); /* stops when no pair is left */
    CU_ASSERT(pf_tokenizer_vocab_size(tok) < 100000);
    for (int i = 0; i < NCORPUS; i++) {
        pf_token_ids ids = {0};
        size_t len = strlen(CORPUS[i]), n = 0;
        char *back = NULL;
        CU_ASSERT_FATAL(pf_tokenizer_encode(tok, CORPUS[i], len, 0, &ids) == PF_OK);
        CU_ASSERT_FATAL(pf_tokenizer_decode(tok, ids.ids, ids.len, &back, &n) == PF_OK);
        CU_ASSERT(n == len && memcmp(back, CORPUS[i], len) == 0);
        /* with every pair merged, each pre-tokenized word is one token */
        CU_ASSERT(ids.len < len / 2);
        free(back);
        pf_token_ids_free(&ids);
    }
    const char *word = " theory";
    pf_token_ids ids = {0};
    CU_ASSERT(pf_tokenizer_encode(tok, word, strlen(word), 0, &ids) == PF_OK);
    CU_ASSERT_EQUAL(ids.len, 1);
    pf_token_ids_free(&ids);
    pf_tokenizer_free(tok);
}

/* Writes text to a fresh temporary file whose path goes to path. */
static void write_temp(char *path, const char *text)
{
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static void test_jsonl(void)
{
    char path[] = "/tmp/pf_bpe_jsonl_XXXXXX";
    write_temp(path, "\xEF\xBB\xBF{\"messages\": [{\"role\": \"user\", \"content\": \"zq zq\"}],"
                     " \"n\": 3, \"ok\": true}\n\n   \n[\"zq\", {\"deep\": [[\"zq\"]]}]\n");
    pf_bpe_trainer *tr = NULL;
    pf_tokenizer *tok = NULL;
    CU_ASSERT_FATAL(pf_bpe_trainer_new(&tr) == PF_OK);
    int rc = pf_bpe_trainer_add_jsonl(tr, path);
    if (rc != PF_OK)
        fprintf(stderr, "\n  %s\n", pf_error_message());
    CU_ASSERT_FATAL(rc == PF_OK);
    CU_ASSERT_FATAL(pf_bpe_trainer_train(tr, 260, &tok) == PF_OK);
    /* "zq" (3 times at the start of a string) and " zq" (once): z+q is the top pair */
    CU_ASSERT_STRING_EQUAL(pf_tokenizer_token_string(tok, 256, NULL), "zq");
    pf_tokenizer_free(tok);
    unlink(path);

    char bad[] = "/tmp/pf_bpe_jsonl_XXXXXX";
    write_temp(bad, "{\"a\": \"ok\"}\n{\"a\": oops}\n");
    CU_ASSERT_EQUAL(pf_bpe_trainer_add_jsonl(tr, bad), PF_ERR_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), ":2: error: json:"));
    unlink(bad);
    char utf[] = "/tmp/pf_bpe_jsonl_XXXXXX";
    write_temp(utf, "{\"a\": \"caf\xe9\"}\n");
    CU_ASSERT_EQUAL(pf_bpe_trainer_add_jsonl(tr, utf), PF_ERR_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), ":1: error: utf8: invalid UTF-8 at byte "
                                                      "offset 10"));
    unlink(utf);
    CU_ASSERT_EQUAL(pf_bpe_trainer_add_jsonl(tr, "/nonexistent.jsonl"), PF_ERR_USAGE);
    CU_ASSERT_EQUAL(pf_bpe_trainer_train(tr, 258, &tok), PF_ERR_USAGE);
    CU_ASSERT_PTR_NULL(tok);
    pf_bpe_trainer_free(tr);
}

/* Reads a whole file into a malloc'ed string (fatal when unreadable). */
static char *slurp(const char *path)
{
    char *buf = tu_slurp(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    return buf;
}

static void test_save_load(void)
{
    static const int order[] = {0, 1, 2, 3, 4};
    char dir[] = "/tmp/pf_bpe_save_XXXXXX";
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    char sub[64], vocab[96], merges[96];
    snprintf(sub, sizeof sub, "%s/out", dir);
    snprintf(vocab, sizeof vocab, "%s/vocab.json", sub);
    snprintf(merges, sizeof merges, "%s/merges.txt", sub);
    pf_tokenizer *tok = train(order, 350), *back = NULL;
    CU_ASSERT_FATAL(pf_tokenizer_save(tok, sub) == PF_OK);
    char *v1 = slurp(vocab), *m1 = slurp(merges);
    CU_ASSERT(strncmp(m1, "#version: 0.2\n", 14) == 0);
    CU_ASSERT_FATAL(pf_tokenizer_load(vocab, merges, &back) == PF_OK);
    char *t1 = as_text(tok), *t2 = as_text(back);
    CU_ASSERT_STRING_EQUAL(t1, t2);
    CU_ASSERT_FATAL(pf_tokenizer_save(back, sub) == PF_OK); /* byte-identical rewrite */
    char *v2 = slurp(vocab), *m2 = slurp(merges);
    CU_ASSERT_STRING_EQUAL(v1, v2);
    CU_ASSERT_STRING_EQUAL(m1, m2);
    CU_ASSERT(pf_tokenizer_is_special(back, 347) && pf_tokenizer_is_special(back, 349));
    free(v1), free(m1), free(v2), free(m2), free(t1), free(t2);
    pf_tokenizer_free(tok);
    pf_tokenizer_free(back);
    unlink(vocab);
    unlink(merges);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"layout", test_layout},
        {"tie_break", test_tie_break},
        {"deterministic_order_free", test_deterministic_order_free},
        {"reencodes_training_text", test_reencodes_training_text},
        {"jsonl", test_jsonl},
        {"save_load", test_save_load},
        {NULL, NULL},
    };
    return pf_cunit_run("bpe_train", cases);
}
