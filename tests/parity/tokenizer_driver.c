/*
 * tokenizer_driver.c: batch encoder for the tokenizer parity test.
 *
 * usage: tokenizer_driver VOCAB MERGES      (or: tokenizer_driver --hf TOKENIZER.json)
 * Reads one JSON string per line on stdin and prints, per line, the JSON array of the
 * ids pf_tokenizer_encode gives for it (special tokens recognised). A line that is not
 * a JSON string, or text the encoder refuses, prints {"error": "..."} instead, so the
 * caller sees every case. Exit status: 0, or 2 when the tokenizer cannot be loaded.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "prefopt/tokenizer.h"

/* Prints the result for one input line. */
static void encode_line(const pf_tokenizer *tok, const char *line, pf_token_ids *ids)
{
    cJSON *v = cJSON_Parse(line);
    ids->len = 0;
    if (!cJSON_IsString(v)) {
        printf("{\"error\": \"not a JSON string\"}\n");
    } else if (pf_tokenizer_encode(tok, v->valuestring, strlen(v->valuestring), 0, ids) != PF_OK) {
        printf("{\"error\": \"%s\"}\n", pf_error_message());
    } else {
        putchar('[');
        for (size_t i = 0; i < ids->len; i++)
            printf(i ? ", %d" : "%d", ids->ids[i]);
        printf("]\n");
    }
    cJSON_Delete(v);
}

int main(int argc, char **argv)
{
    pf_tokenizer *tok = NULL;
    int rc = argc == 3 && strcmp(argv[1], "--hf") == 0 ? pf_tokenizer_load_hf(argv[2], &tok)
             : argc == 3                               ? pf_tokenizer_load(argv[1], argv[2], &tok)
                                                       : pf_fail(PF_ERR_USAGE, "usage: "
                                                                                                             "tokenizer_driver VOCAB MERGES");
    if (rc != PF_OK) {
        fprintf(stderr, "tokenizer_driver: %s\n", pf_error_message());
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    pf_token_ids ids = {0};
    while (getline(&line, &cap, stdin) >= 0)
        encode_line(tok, line, &ids);
    pf_token_ids_free(&ids);
    free(line);
    pf_tokenizer_free(tok);
    return 0;
}
