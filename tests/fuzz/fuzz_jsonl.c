/*
 * fuzz_jsonl.c: libFuzzer harness for the JSONL data module (parser, validator, loader,
 * chat template), all four formats.
 *
 * Input: byte 0 selects the format (byte % 4: dpo, sft, prompts, trl; seeds use the
 * digits '0'..'3') and, in bits 2-3, the --min-examples value; the rest is the file.
 * Beyond "no crash, no leak, no undefined behaviour" it checks properties and aborts
 * when one fails:
 *   - validation and loading agree on the status and the number of errors;
 *   - every loaded record renders (every part it has) with segments tiling the text;
 *   - the JSON canonical form is a fixed point: write(parse(write(parse(x)))) equals
 *     write(parse(x)), and both parses give the same token hash.
 * Built by scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined); replayed over
 * the corpus and tests/fuzz/regressions/jsonl/ by the fuzz_replay_jsonl ctest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/json.h"
#include "prefopt/chat.h"
#include "prefopt/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts when cond is false (a property violation is a finding). */
static void require(int cond)
{
    if (!cond)
        abort();
}

/* Formats every diagnostic, exercising the formatter. */
static void sink(const pf_data_diag *d, void *user)
{
    char line[1200];
    pf_data_diag_format(d, line, sizeof line);
    *(size_t *)user += strlen(line);
}

/* Renders every part of every record and checks the segments tile the text. */
static void render_all(const pf_record_set *set)
{
    pf_chat c;
    pf_chat_init(&c);
    for (size_t i = 0; i < set->n; i++)
        for (int p = PF_CHAT_PROMPT; p <= PF_CHAT_CONVERSATION; p++) {
            int rc = pf_chat_render(&c, &set->items[i], (pf_chat_part)p);
            int has = p == PF_CHAT_CHOSEN     ? set->items[i].chosen.n > 0
                      : p == PF_CHAT_REJECTED ? set->items[i].rejected.n > 0
                                              : 1;
            require(has ? rc == 0 : rc != 0);
            size_t at = 0;
            for (size_t k = 0; rc == 0 && k < c.n; k++) {
                require(c.segs[k].offset == at && c.segs[k].len > 0);
                at += c.segs[k].len;
            }
            require(rc != 0 || at == c.len);
        }
    pf_chat_free(&c);
}

/* Parses the whole input as JSON and checks that canonical writing is a fixed point. */
static void canonical_fixed_point(const char *text, size_t len)
{
    pj_doc a, b;
    pj_buf w1 = {0}, w2 = {0};
    pj_init(&a);
    pj_init(&b);
    if (pj_parse(&a, text, len) == PJ_OK && pj_write(&a, 0, &w1) == 0) {
        require(pj_parse(&b, w1.p, w1.len) == PJ_OK);
        require(pj_write(&b, 0, &w2) == 0);
        require(w1.len == w2.len && memcmp(w1.p, w2.p, w1.len) == 0);
        require(pj_tree_equal(&a, 0, &b, 0));
    }
    free(w1.p);
    free(w2.p);
    pj_free(&a);
    pj_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1, chars = 0;
    pf_data_format f = (pf_data_format)(data[0] % PF_DATA_FORMAT_COUNT);
    pf_data_options o;
    pf_data_options_init(&o);
    o.min_examples = (data[0] >> 2) & 3;
    o.max_errors = 0;
    o.max_warnings = 0;
    o.report = sink;
    o.user = &chars;
    pf_data_summary sv, sl;
    pf_record_set set = {0};
    int rv = pf_data_validate_buffer("fuzz.jsonl", text, len, f, &o, &sv);
    int rl = pf_data_load_buffer("fuzz.jsonl", text, len, f, &o, &set, &sl);
    require(rv == rl && sv.errors == sl.errors && sv.warnings == sl.warnings);
    require(rl == 0 || set.n == 0);
    render_all(&set);
    pf_record_set_free(&set);
    canonical_fixed_point(text, len);
    return 0;
}
