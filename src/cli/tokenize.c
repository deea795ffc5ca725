/*
 * tokenize.c: `prefopt-mpi tokenize (--checkpoint CKPT | --vocab V --merges M |
 * --tokenizer TOKENIZER.json) --text STR`.
 *
 * Loads the tokenizer from exactly one source (a checkpoint's /tokenizer group, a
 * vocab.json/encoder.json + merges.txt/vocab.bpe pair, or a Hugging Face tokenizer.json)
 * and prints one JSON object {"ids": [...], "tokens": [...]} for the text, the tokens
 * as their strings in the vocabulary. Special tokens in the text are single ids unless
 * --no-special is given. Text that is not valid UTF-8 is a data error (exit 3) naming
 * the byte offset.
 *
 * With --format dpo|sft|trl FILE it shows exactly what training sees: every record is
 * validated, rendered with the chat template, tokenized and truncated as by `train`
 * (data_prep.h), and printed as one JSON line per example with ids, tokens and the loss
 * mask (the weight of each token as a prediction target; the first token's is 0).
 * Pairs print {"line", "chosen": {...}, "rejected": {...}}; SFT examples
 * {"line", "ids", "tokens", "mask"}. Examples dropped by truncation are counted on stderr.
 */
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "prefopt/config.h"
#include "prefopt/data_prep.h"
#include "prefopt/error.h"
#include "prefopt/tokenizer.h"
#include "prefopt/tokenizer_h5.h"

static const char TOKENIZE_HELP[] =
    "usage: prefopt-mpi tokenize (--checkpoint CKPT | --vocab V --merges M |\n"
    "                             --tokenizer TOKENIZER.json) --text STR [--no-special]\n"
    "       prefopt-mpi tokenize (...same sources...) --format dpo|sft|trl FILE\n"
    "                            [--max-length N] [--max-prompt-length N]\n"
    "                            [--prompt-loss-weight W]\n"
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
    "  --format F FILE    render, tokenize and mask every record of FILE as training does;\n"
    "                     one JSON line per example with ids, tokens and mask\n"
    "  --max-length N, --max-prompt-length N, --prompt-loss-weight W\n"
    "                     truncation and SFT prompt weight (defaults: no truncation, 0)\n"
    "  --help             show this help\n"
    "\n"
    "Exit codes: 0 ok, 2 usage error or unreadable tokenizer, 3 text not valid UTF-8.\n";

/* The options of tokenize. */
typedef struct {
    const char *checkpoint, *vocab, *merges, *tokenizer, *text;
    const char *format, *max_length, *max_prompt, *plw;
    const char *file;
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

/* Adds {"ids", "tokens", "mask"} of sequence q to obj. */
static void add_sequence(cJSON *obj, const pf_tokenizer *tok, const pf_seq *q)
{
    cJSON *ids = cJSON_AddArrayToObject(obj, "ids");
    cJSON *toks = cJSON_AddArrayToObject(obj, "tokens");
    cJSON *mask = cJSON_AddArrayToObject(obj, "mask");
    for (int t = 0; t < q->len; t++) {
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(q->ids[t]));
        cJSON_AddItemToArray(toks,
                             cJSON_CreateString(pf_tokenizer_token_string(tok, q->ids[t], NULL)));
        cJSON_AddItemToArray(mask, cJSON_CreateNumber(q->weight[t]));
    }
    cJSON_AddNumberToObject(obj, "prompt_len", q->prompt_len);
}

/* Prints one JSON line per example of ds. */
static int print_examples(const pf_tokenizer *tok, const pf_dataset *ds)
{
    for (int i = 0; i < ds->n; i++) {
        const pf_example *e = &ds->ex[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "line", (double)e->line);
        if (e->n_seq == 2) {
            add_sequence(cJSON_AddObjectToObject(o, "chosen"), tok, &e->seq[0]);
            add_sequence(cJSON_AddObjectToObject(o, "rejected"), tok, &e->seq[1]);
        } else {
            add_sequence(o, tok, &e->seq[0]);
        }
        char *text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!text)
            return pf_fail(PF_ERR_RUNTIME, "tokenize: out of memory");
        puts(text);
        cJSON_free(text);
    }
    if (ds->dropped)
        fprintf(stderr, "tokenize: %d example(s) dropped: truncation left no counted token\n",
                ds->dropped);
    return fflush(stdout) == 0 ? PF_OK : pf_fail(PF_ERR_RUNTIME, "tokenize: write failed");
}

/* The --format mode: the training data pipeline on FILE, printed. */
static int run_records(const tokenize_opts *o, const pf_tokenizer *tok)
{
    const int pairs = strcmp(o->format, "sft") != 0;
    const char *max_len = o->max_length ? o->max_length : "65536";
    char sets[6][PF_PATH_MAX + 40];
    const char *ptrs[6];
    snprintf(sets[0], sizeof sets[0], "data.train=%s", o->file);
    snprintf(sets[1], sizeof sets[1], "data.format=%s", o->format);
    snprintf(sets[2], sizeof sets[2], "algorithm=%s", pairs ? "dpo" : "sft");
    snprintf(sets[3], sizeof sets[3], "data.max_length=%s", max_len);
    snprintf(sets[4], sizeof sets[4], "data.max_prompt_length=%s",
             o->max_prompt ? o->max_prompt : "1");
    snprintf(sets[5], sizeof sets[5], "sft.prompt_loss_weight=%s", o->plw ? o->plw : "0");
    for (int i = 0; i < 6; i++)
        ptrs[i] = sets[i];
    char base[160];
    snprintf(base, sizeof base,
             "{\"run_dir\": \"-\", \"train\": {\"steps\": 1, \"global_batch\": 1, \"micro_batch\": "
             "1}, \"model\": {\"max_seq_len\": %s}}",
             max_len);
    pf_config cfg;
    pf_dataset ds;
    memset(&ds, 0, sizeof ds);
    int rc = pf_config_from_text(base, "tokenize options", ptrs, 6, &cfg);
    if (!rc && !o->max_prompt) /* no prompt truncation unless asked */
        cfg.max_prompt_length = cfg.max_length - 1;
    if (!rc)
        rc = pf_prep_examples(&cfg, tok, o->file, pairs ? 2 : 1, &ds);
    if (!rc)
        rc = print_examples(tok, &ds);
    pf_dataset_free(&ds);
    pf_config_free(&cfg);
    return rc;
}

/* Encodes o->text and prints the result. */
static int run(const tokenize_opts *o)
{
    pf_tokenizer *tok = NULL;
    int rc = load_tokenizer(o, &tok);
    if (rc != PF_OK)
        return rc;
    if (o->format) {
        rc = run_records(o, tok);
        pf_tokenizer_free(tok);
        return rc;
    }
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
        {"format", &o.format, NULL},
        {"max-length", &o.max_length, NULL},
        {"max-prompt-length", &o.max_prompt, NULL},
        {"prompt-loss-weight", &o.plw, NULL},
        {NULL, NULL, NULL},
    };
    pf_cli_args args;
    int rc = pf_cli_parse("tokenize", argc, argv, opts, 1, &args);
    if (rc != PF_OK)
        return rc;
    if (args.help) {
        fputs(TOKENIZE_HELP, stdout);
        return PF_OK;
    }
    o.file = args.npos ? args.pos[0] : NULL;
    if (o.format && (!o.file || o.text))
        return pf_cli_usage_error("tokenize", "--format F needs one FILE and no --text");
    if (o.format && strcmp(o.format, "dpo") && strcmp(o.format, "sft") && strcmp(o.format, "trl"))
        return pf_cli_usage_error("tokenize", "--format must be dpo, sft or trl");
    if (!o.format && (!o.text || o.file))
        return pf_cli_usage_error("tokenize", "--text STR (or --format F FILE) is required");
    return run(&o);
}
