/*
 * tokenize.c: `prefopt-mpi tokenize (--checkpoint CKPT | --vocab V --merges M |
 * --tokenizer TOKENIZER.json) --text STR`.
 *
 * Loads the tokenizer from exactly one source (a checkpoint's /tokenizer group, a
 * vocab.json/encoder.json + merges.txt/vocab.bpe pair, or a Hugging Face tokenizer.json)
 * and prints one JSON object {"ids": [...], "tokens": [...]} for the text, the tokens
 * as their strings in the vocabulary. Special tokens in the text are single ids unless
 * --no-special is given. Text that is not valid UTF-8 is a data error (exit 3) naming
 * the byte offset. The record mode (--format F FILE: chat template and loss masks) is
 * not part of this command yet, so --format is an unknown option.
 */
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "prefopt/error.h"
#include "prefopt/tokenizer.h"
#include "prefopt/tokenizer_h5.h"

static const char TOKENIZE_HELP[] =
    "usage: prefopt-mpi tokenize (--checkpoint CKPT | --vocab V --merges M |\n"
    "                             --tokenizer TOKENIZER.json) --text STR [--no-special]\n"
    "\n"
    "Print the GPT-2 byte-level BPE encoding of STR as one JSON object\n"
    "{\"ids\": [...], \"tokens\": [...]} (tokens as written in the vocabulary).\n"
    "\n"
    "  --checkpoint FILE  take the tokenizer stored in the checkpoint's /tokenizer group\n"
    "  --vocab FILE       vocab.json (Hugging Face) or encoder.json (OpenAI)\n"
    "  --merges FILE      merges.txt (Hugging Face) or vocab.bpe (OpenAI)\n"
    "  --tokenizer FILE   a GPT-2 kind Hugging Face tokenizer.json\n"
    "  --text STR         the text to encode (UTF-8)\n"
    "  --no-special       encode special-token text (<|endoftext|>...) as plain text\n"
    "  --help             show this help\n"
    "\n"
    "Exit codes: 0 ok, 2 usage error or unreadable tokenizer, 3 text not valid UTF-8.\n";

/* The options of tokenize. */
typedef struct {
    const char *checkpoint, *vocab, *merges, *tokenizer, *text;
    int no_special;
} tokenize_opts;

/* Reads the /tokenizer group of the checkpoint file path. */
static int load_from_checkpoint(const char *path, pf_tokenizer **tok)
{
    hid_t f = -1;
    H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); }
    H5E_END_TRY;
    if (f < 0)
        return pf_fail(PF_ERR_USAGE, "%s: cannot open as an HDF5 checkpoint", path);
    int rc = pf_tokenizer_read_h5(f, tok);
    H5Fclose(f);
    return rc == PF_OK ? PF_OK : pf_fail_prefix(rc, "%s", path);
}

/* Loads the tokenizer from the one source the options name. */
static int load_tokenizer(const tokenize_opts *o, pf_tokenizer **tok)
{
    int sources = (o->checkpoint != NULL) + (o->vocab || o->merges) + (o->tokenizer != NULL);
    if (sources != 1)
        return pf_cli_usage_error("tokenize", "give exactly one of --checkpoint, "
                                              "--vocab with --merges, or --tokenizer");
    if (o->checkpoint)
        return load_from_checkpoint(o->checkpoint, tok);
    if (o->tokenizer)
        return pf_tokenizer_load_hf(o->tokenizer, tok);
    if (!o->vocab || !o->merges)
        return pf_cli_usage_error("tokenize", "--vocab and --merges go together");
    return pf_tokenizer_load(o->vocab, o->merges, tok);
}

/* Prints {"ids": [...], "tokens": [...]} for ids. */
static int print_result(const pf_tokenizer *tok, const pf_token_ids *ids)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *jids = cJSON_AddArrayToObject(root, "ids");
    cJSON *jtok = cJSON_AddArrayToObject(root, "tokens");
    int ok = root && jids && jtok;
    for (size_t i = 0; ok && i < ids->len; i++) {
        cJSON *n = cJSON_CreateNumber(ids->ids[i]);
        cJSON *s = cJSON_CreateString(pf_tokenizer_token_string(tok, ids->ids[i], NULL));
        ok = cJSON_AddItemToArray(jids, n) && cJSON_AddItemToArray(jtok, s);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return pf_fail(PF_ERR_RUNTIME, "tokenize: out of memory");
    puts(text);
    cJSON_free(text);
    return fflush(stdout) == 0 ? PF_OK : pf_fail(PF_ERR_RUNTIME, "tokenize: write failed");
}

/* Encodes o->text and prints the result. */
static int run(const tokenize_opts *o)
{
    pf_tokenizer *tok = NULL;
    int rc = load_tokenizer(o, &tok);
    if (rc != PF_OK)
        return rc;
    pf_token_ids ids = {0};
    rc = pf_tokenizer_encode(tok, o->text, strlen(o->text),
                             o->no_special ? PF_TOKENIZE_NO_SPECIAL : 0, &ids);
    if (rc == PF_ERR_DATA)
        pf_fail_prefix(rc, "--text: error: utf8");
    if (rc == PF_OK)
        rc = print_result(tok, &ids);
    pf_token_ids_free(&ids);
    pf_tokenizer_free(tok);
    return rc;
}

int pf_cmd_tokenize(int argc, char **argv)
{
    tokenize_opts o = {0};
    const pf_cli_opt opts[] = {
        {"checkpoint", &o.checkpoint, NULL},
        {"vocab", &o.vocab, NULL},
        {"merges", &o.merges, NULL},
        {"tokenizer", &o.tokenizer, NULL},
        {"text", &o.text, NULL},
        {"no-special", NULL, &o.no_special},
        {NULL, NULL, NULL},
    };
    pf_cli_args args;
    int rc = pf_cli_parse("tokenize", argc, argv, opts, 0, &args);
    if (rc != PF_OK)
        return rc;
    if (args.help) {
        fputs(TOKENIZE_HELP, stdout);
        return PF_OK;
    }
    if (!o.text)
        return pf_cli_usage_error("tokenize", "--text STR is required");
    return run(&o);
}
