/*
 * bench_tokenizer.c: tokenizer throughput on one core.
 *
 *   bench_tokenizer [--vocab V --merges M] [--train-vocab N] [--passes P] FILE...
 *
 * Reads every FILE (each one text; files that are not UTF-8 are skipped), then
 *   1. trains a byte-level BPE of N tokens (default 8192) on them, timing the word
 *      counting and the merges separately (the train-tokenizer path minus JSON parsing);
 *   2. encodes the whole corpus P times (default 5) with the trained tokenizer and, when
 *      given, with V/M (e.g. GPT-2's encoder.json and vocab.bpe): pass 1 starts with an
 *      empty word cache ("cold"), the later passes measure the steady state ("warm").
 * Prints one JSON object per tokenizer on stdout with MB/s (1 MB = 10^6 bytes) and
 * tokens/s. A realistic English + code corpus: the repository's sources and docs, e.g.
 *   bench_tokenizer --vocab encoder.json --merges vocab.bpe $(git ls-files '*.c' '*.md')
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prefopt/error.h"
#include "prefopt/tokenizer.h"

typedef struct {
    char **text;
    size_t *len;
    int n;
    size_t bytes;
} corpus;

/* Seconds on the monotonic clock. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Reads path into a malloc'ed buffer; NULL when unreadable. */
static char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = buf ? (size_t)n : 0;
    return buf;
}

/* Loads the files that are valid UTF-8 (checked by encoding them once). */
static void load_corpus(corpus *c, char **files, int n, const pf_tokenizer *probe)
{
    c->text = calloc((size_t)n, sizeof *c->text);
    c->len = calloc((size_t)n, sizeof *c->len);
    pf_token_ids ids = {0};
    for (int i = 0; i < n; i++) {
        size_t len;
        char *t = read_all(files[i], &len);
        ids.len = 0;
        if (!t || pf_tokenizer_encode(probe, t, len, 0, &ids) != PF_OK) {
            fprintf(stderr, "bench_tokenizer: skipping %s\n", files[i]);
            free(t);
            continue;
        }
        c->text[c->n] = t;
        c->len[c->n++] = len;
        c->bytes += len;
    }
    pf_token_ids_free(&ids);
}

/* Trains a vocab_size tokenizer on the corpus, printing the timings. */
static pf_tokenizer *train(const corpus *c, int32_t vocab_size)
{
    pf_bpe_trainer *tr = NULL;
    pf_tokenizer *tok = NULL;
    double t0 = now_s();
    if (pf_bpe_trainer_new(&tr) != PF_OK)
        return NULL;
    for (int i = 0; i < c->n; i++)
        pf_bpe_trainer_add_text(tr, c->text[i], c->len[i]);
    double t1 = now_s();
    int rc = pf_bpe_trainer_train(tr, vocab_size, &tok);
    double t2 = now_s();
    pf_bpe_trainer_free(tr);
    if (rc != PF_OK)
        return NULL;
    printf("{\"bench\": \"train\", \"corpus_bytes\": %zu, \"vocab_size\": %d, \"merges\": %d, "
           "\"count_s\": %.3f, \"merge_s\": %.3f, \"total_s\": %.3f, \"mb_per_s\": %.2f}\n",
           c->bytes, pf_tokenizer_vocab_size(tok), pf_tokenizer_merge_count(tok), t1 - t0, t2 - t1,
           t2 - t0, (double)c->bytes / 1e6 / (t2 - t0));
    return tok;
}

/* Encodes the corpus passes times and prints cold and warm throughput. */
static void bench_encode(const char *name, const pf_tokenizer *tok, const corpus *c, int passes)
{
    pf_token_ids ids = {0};
    double cold = 0, warm = 0;
    size_t tokens = 0;
    for (int p = 0; p < passes; p++) {
        double t0 = now_s();
        for (int i = 0; i < c->n; i++) {
            ids.len = 0;
            pf_tokenizer_encode(tok, c->text[i], c->len[i], 0, &ids);
            tokens += p == 0 ? ids.len : 0;
        }
        double dt = now_s() - t0;
        if (p == 0)
            cold = dt;
        else
            warm += dt;
    }
    double mb = (double)c->bytes / 1e6;
    int nw = passes > 1 ? passes - 1 : 1;
    printf("{\"bench\": \"encode\", \"tokenizer\": \"%s\", \"corpus_bytes\": %zu, \"tokens\": %zu,"
           " \"bytes_per_token\": %.2f, \"cold_mb_per_s\": %.2f, \"warm_mb_per_s\": %.2f,"
           " \"warm_tokens_per_s\": %.0f}\n",
           name, c->bytes, tokens, (double)c->bytes / (double)(tokens ? tokens : 1), mb / cold,
           warm > 0 ? mb * nw / warm : 0.0, warm > 0 ? (double)tokens * nw / warm : 0.0);
    pf_token_ids_free(&ids);
}

int main(int argc, char **argv)
{
    const char *vocab = NULL, *merges = NULL;
    int32_t train_vocab = 8192;
    int passes = 5, first = 1;
    for (; first + 1 < argc && strncmp(argv[first], "--", 2) == 0; first += 2) {
        if (!strcmp(argv[first], "--vocab"))
            vocab = argv[first + 1];
        else if (!strcmp(argv[first], "--merges"))
            merges = argv[first + 1];
        else if (!strcmp(argv[first], "--train-vocab"))
            train_vocab = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--passes"))
            passes = atoi(argv[first + 1]);
    }
    if (first >= argc || passes < 1) {
        fprintf(stderr, "usage: bench_tokenizer [--vocab V --merges M] [--train-vocab N] "
                        "[--passes P] FILE...\n");
        return 2;
    }
    pf_tokenizer *gpt2 = NULL;
    if (vocab && merges && pf_tokenizer_load(vocab, merges, &gpt2) != PF_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", pf_error_message());
        return 2;
    }
    pf_bpe_trainer *probe_tr = NULL;
    pf_tokenizer *probe = NULL;
    pf_bpe_trainer_new(&probe_tr);
    pf_bpe_trainer_train(probe_tr, 259, &probe); /* bytes only: validates UTF-8 */
    pf_bpe_trainer_free(probe_tr);
    corpus c = {0};
    load_corpus(&c, argv + first, argc - first, probe);
    pf_tokenizer_free(probe);
    pf_tokenizer *trained = c.n > 0 ? train(&c, train_vocab) : NULL;
    if (trained)
        bench_encode("trained", trained, &c, passes);
    if (gpt2 && c.n > 0)
        bench_encode("gpt2", gpt2, &c, passes);
    for (int i = 0; i < c.n; i++)
        free(c.text[i]);
    free(c.text);
    free(c.len);
    pf_tokenizer_free(trained);
    pf_tokenizer_free(gpt2);
    return trained ? 0 : 1;
}
