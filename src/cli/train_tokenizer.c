/*
 * train_tokenizer.c: `prefopt-mpi train-tokenizer --vocab-size N --out DIR FILE...`.
 *
 * Learns a GPT-2 byte-level BPE from JSONL files (every string value of every line,
 * recursively) and writes DIR/vocab.json and DIR/merges.txt (atomically). The output
 * is a deterministic function of the files' strings: the same input gives the same
 * bytes, whatever the order of files or lines. Any number of files may follow the
 * options, so the positionals are collected here and only the options are handed to
 * pf_cli_parse (which takes at most 8 positionals).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "prefopt/error.h"
#include "prefopt/tokenizer.h"

static const char TRAIN_TOKENIZER_HELP[] =
    "usage: prefopt-mpi train-tokenizer --vocab-size N --out DIR FILE...\n"
    "\n"
    "Learn a GPT-2 byte-level BPE tokenizer from JSONL files: every string value of\n"
    "every line (recursively) is pre-tokenized with GPT-2's rules and its words counted;\n"
    "then the most frequent adjacent pair is merged until the vocabulary has N tokens\n"
    "(ties: smallest pair by bytes). The vocabulary is the 256 byte tokens, one token\n"
    "per merge, then <|endoftext|>, <|im_start|>, <|im_end|>. Writes DIR/vocab.json and\n"
    "DIR/merges.txt (Hugging Face format, deterministic byte for byte), creating DIR.\n"
    "\n"
    "  --vocab-size N  vocabulary size including the 3 special tokens, >= 259\n"
    "  --out DIR       output folder\n"
    "  --help          show this help\n"
    "\n"
    "Exit codes: 0 ok, 1 write failure, 2 usage error or unreadable file,\n"
    "3 invalid data (a line that is not JSON or not UTF-8).\n";

/* Splits argv into options (with their values, into opt_argv) and input files. */
static void split_args(int argc, char **argv, char **opt_argv, int *nopt, char **files, int *nfiles)
{
    int only_files = 0;
    *nopt = 1;
    *nfiles = 0;
    opt_argv[0] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        if (only_files || w[0] != '-' || w[1] == '\0') {
            files[(*nfiles)++] = argv[i];
        } else if (strcmp(w, "--") == 0) {
            only_files = 1;
        } else {
            opt_argv[(*nopt)++] = argv[i];
            int takes_value =
                !strchr(w, '=') && (strcmp(w, "--vocab-size") == 0 || strcmp(w, "--out") == 0);
            if (takes_value && i + 1 < argc)
                opt_argv[(*nopt)++] = argv[++i];
        }
    }
}

/* Parses --vocab-size. */
static int parse_vocab_size(const char *text, int32_t *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v < 259 ||
        v > PF_TOKENIZER_MAX_VOCAB) {
        char what[160];
        snprintf(what, sizeof what, "--vocab-size: '%.40s' is not an integer in [259, %d]", text,
                 PF_TOKENIZER_MAX_VOCAB);
        return pf_cli_usage_error("train-tokenizer", what);
    }
    *out = (int32_t)v;
    return PF_OK;
}

/* Seconds on the monotonic clock. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Counts the files, trains and saves; prints a summary line. */
static int run(char **files, int nfiles, int32_t vocab_size, const char *out)
{
    double t0 = now_s();
    pf_bpe_trainer *tr = NULL;
    pf_tokenizer *tok = NULL;
    int rc = pf_bpe_trainer_new(&tr);
    for (int i = 0; rc == PF_OK && i < nfiles; i++)
        rc = pf_bpe_trainer_add_jsonl(tr, files[i]);
    if (rc == PF_OK && (rc = pf_bpe_trainer_train(tr, vocab_size, &tok)) != PF_OK)
        pf_fail_prefix(rc, "train-tokenizer");
    if (rc == PF_OK)
        rc = pf_tokenizer_save(tok, out);
    if (rc == PF_OK && pf_tokenizer_vocab_size(tok) < vocab_size)
        fprintf(stderr,
                "prefopt-mpi: warning: train-tokenizer: only %d tokens: no pair "
                "left to merge\n",
                pf_tokenizer_vocab_size(tok));
    if (rc == PF_OK)
        printf("train-tokenizer: wrote %s/vocab.json and %s/merges.txt (%d tokens, %d merges, "
               "%.2f s)\n",
               out, out, pf_tokenizer_vocab_size(tok), pf_tokenizer_merge_count(tok), now_s() - t0);
    pf_tokenizer_free(tok);
    pf_bpe_trainer_free(tr);
    return rc;
}

int pf_cmd_train_tokenizer(int argc, char **argv)
{
    const char *vocab_size = NULL, *out = NULL;
    const pf_cli_opt opts[] = {
        {"vocab-size", &vocab_size, NULL},
        {"out", &out, NULL},
        {NULL, NULL, NULL},
    };
    char **opt_argv = malloc((size_t)argc * sizeof *opt_argv);
    char **files = malloc((size_t)argc * sizeof *files);
    int nopt = 0, nfiles = 0, rc = PF_OK;
    pf_cli_args args;
    int32_t n = 0;
    if (!opt_argv || !files)
        rc = pf_fail(PF_ERR_RUNTIME, "out of memory");
    if (rc == PF_OK) {
        split_args(argc, argv, opt_argv, &nopt, files, &nfiles);
        rc = pf_cli_parse("train-tokenizer", nopt, opt_argv, opts, 0, &args);
    }
    if (rc == PF_OK && args.help)
        fputs(TRAIN_TOKENIZER_HELP, stdout);
    else if (rc == PF_OK && (!vocab_size || !out || nfiles == 0))
        rc = pf_cli_usage_error("train-tokenizer", "--vocab-size N, --out DIR and at least "
                                                   "one FILE are required");
    else if (rc == PF_OK && (rc = parse_vocab_size(vocab_size, &n)) == PF_OK)
        rc = run(files, nfiles, n, out);
    free(opt_argv);
    free(files);
    return rc;
}
