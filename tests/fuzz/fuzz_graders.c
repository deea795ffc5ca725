/*
 * fuzz_graders.c: libFuzzer harness for the graders module: spec parsing (one grader
 * and grader sets, name references included), completion splitting and scoring of
 * arbitrary text against arbitrary items.
 *
 * Input: three parts separated by NUL bytes: a grader spec or set (JSON), a generated
 * completion (split into text and tool calls), and an item (JSON object text, possibly
 * invalid); missing parts are empty. Specs whose regex patterns hold '{' or a
 * back-reference are skipped, since bounded repetition and back-references make glibc's
 * regcomp/regexec exponential by design (grader files are trusted configuration).
 * Beyond "no crash, no leak, no undefined behaviour" it checks, aborting on failure:
 *   - the split keeps output_text within the completion and finds no more tool calls
 *     than "<tool_call>" markers;
 *   - a set scores to PF_OK or a data/usage error; on PF_OK every score is in [0, 1],
 *     0 when not applicable;
 *   - scoring is deterministic, and scoring each grader alone agrees with the set.
 * Built by scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined); replayed over
 * the corpus and tests/fuzz/regressions/graders/ by the fuzz_replay_graders ctest.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "prefopt/graders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_GRADERS = 64 };

/* Aborts when cond is false (a property violation is a finding). */
static void require(int cond)
{
    if (!cond)
        abort();
}

/* One token per 4 bytes; fails (PF_ERR_DATA) on texts starting with '!'. */
static int count4(void *ctx, const char *text, size_t len, size_t *n)
{
    (void)ctx;
    if (len && text[0] == '!')
        return pf_fail(PF_ERR_DATA, "count4: refused");
    *n = (len + 3) / 4;
    return PF_OK;
}

/* Whether any "pattern" string under j holds '{' or a backslash-digit. */
static int risky_pattern(const cJSON *j)
{
    for (const cJSON *x = j ? j->child : NULL; x; x = x->next) {
        if (x->string && strcmp(x->string, "pattern") == 0 && cJSON_IsString(x)) {
            const char *p = x->valuestring;
            if (strchr(p, '{'))
                return 1;
            for (; *p; p++)
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '9')
                    return 1;
        }
        if (risky_pattern(x))
            return 1;
    }
    return 0;
}

/* The next NUL-separated part of [*p, end). */
static void next_part(const char **p, const char *end, const char **part, size_t *len)
{
    const char *nul = memchr(*p, '\0', (size_t)(end - *p));
    *part = *p;
    *len = nul ? (size_t)(nul - *p) : (size_t)(end - *p);
    *p = nul ? nul + 1 : end;
}

/* Checks a status and its scores (aborts on a violation). */
static void check_scores(int rc, const double *s, const int *a, size_t n)
{
    require(rc == PF_OK || rc == PF_ERR_DATA || rc == PF_ERR_USAGE);
    for (size_t i = 0; rc == PF_OK && i < n; i++) {
        require(!isnan(s[i]) && s[i] >= 0.0 && s[i] <= 1.0);
        require(a[i] == 0 || a[i] == 1);
        require(a[i] || s[i] == 0.0);
    }
}

/* Scores sample against every grader of set and checks the properties. */
static void score_set(const pf_grader_set *set, const pf_grade_sample *sample, const char *item)
{
    double s1[MAX_GRADERS], s2[MAX_GRADERS], one;
    int a1[MAX_GRADERS], a2[MAX_GRADERS], app;
    if (set->n > MAX_GRADERS)
        return;
    int rc = pf_grader_set_score(set, sample, item, s1, a1);
    check_scores(rc, s1, a1, set->n);
    require(pf_grader_set_score(set, sample, item, s2, a2) == rc);
    for (size_t i = 0; rc == PF_OK && i < set->n; i++) {
        require(s1[i] == s2[i] && a1[i] == a2[i]);
        require(pf_grader_score(set->items[i], sample, item, &one, &app) == PF_OK);
        require(one == s1[i] && app == a1[i]);
    }
}

/* Counts occurrences of needle in s[0..n). */
static size_t occurrences(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle), k = 0;
    for (size_t i = 0; i + m <= n; i++)
        k += memcmp(s + i, needle, m) == 0;
    return k;
}

/* Splits the input into spec, completion and item, then parses, splits and scores. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size, *spec, *text, *item_part;
    size_t spec_len, text_len, item_len;
    next_part(&p, end, &spec, &spec_len);
    next_part(&p, end, &text, &text_len);
    next_part(&p, end, &item_part, &item_len);
    char *item = malloc(item_len + 1);
    if (!item)
        return 0;
    memcpy(item, item_part, item_len);
    item[item_len] = '\0';

    pf_grade_completion c;
    pf_grade_completion_init(&c);
    require(pf_grade_completion_split(&c, text, text_len) == PF_OK);
    require(strlen(c.sample.output_text) <= text_len);
    require(c.sample.n_tool_calls <= occurrences(text, text_len, "<tool_call>"));
    c.sample.count_tokens = count4;

    cJSON *json = cJSON_ParseWithLength(spec, spec_len);
    if (json && !risky_pattern(json)) {
        pf_grader_set set;
        pf_grader *g = NULL;
        if (pf_grader_set_parse(json, "fuzz", &set) == PF_OK) {
            score_set(&set, &c.sample, item_len ? item : NULL);
            pf_grader_set_free(&set);
        }
        if (pf_grader_parse(json, "fuzz", &g) == PF_OK) {
            double s;
            int a, rc = pf_grader_score(g, &c.sample, item, &s, &a);
            check_scores(rc, &s, &a, 1);
        }
        pf_grader_free(g);
    }
    cJSON_Delete(json);
    pf_grade_completion_free(&c);
    free(item);
    return 0;
}
