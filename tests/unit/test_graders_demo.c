/*
 * test_graders_demo.c: data/demo/style_checks.json end to end, part of test_graders.
 *
 * The demo files split what one check run needs: dpo_*.jsonl rows carry the outputs but
 * not the item fields, prompts_*.jsonl rows carry the item fields but no outputs. The
 * generator builds both from the same in-memory examples, and
 * tests/data/graders/gen_reference.py replays it to write, per example, the item, both
 * outputs and the generator's own scores of every check (null = not applicable). Here
 * each data row is paired with its reference line by id, the pairing is verified (same
 * system and user text; for prompts also the same item fields), and then:
 *   - dpo files: the outputs from the data file, the item from the reference;
 *   - prompts files: the item from the data file (the record's canonical JSON text, as
 *     eval and the PPO rewards will pass it), the outputs from the reference;
 * every check's score and applicability must equal the Python reference exactly, every
 * preferred output must pass every applicable check (style_score 1), and every rejected
 * output must fail at least one check, all of which target the pair's reason.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_run.h"
#include "prefopt/data.h"
#include "prefopt/error.h"
#include "prefopt/graders.h"

/* tests/CMakeLists.txt passes absolute paths; these defaults work from the source root. */
#ifndef PF_GRADERS_DEMO_DIR
#define PF_GRADERS_DEMO_DIR "data/demo"
#endif
#ifndef PF_GRADERS_REFERENCE
#define PF_GRADERS_REFERENCE "tests/data/graders/demo_reference.jsonl"
#endif

void test_demo_checks_file(void);
void test_demo_dpo(void);
void test_demo_prompts(void);

/* The reference lines, parsed. */
typedef struct {
    cJSON **rows;
    size_t n;
} refs;

/* Counters over one run. */
typedef struct {
    long pairs, compared, applicable, mismatches;
} tally;

/* Loads style_checks.json (asserting success). */
static void load_checks(pf_grader_set *set)
{
    int rc = pf_grader_load_file(PF_GRADERS_DEMO_DIR "/style_checks.json", set);
    if (rc != PF_OK)
        printf("\n  %s\n", pf_error_message());
    CU_ASSERT_FATAL(rc == PF_OK);
}

/* Reads the reference file (PF_GRADERS_REFERENCE in the environment wins). */
static void load_refs(refs *r)
{
    const char *path = getenv("PF_GRADERS_REFERENCE");
    path = path && *path ? path : PF_GRADERS_REFERENCE;
    FILE *f = fopen(path, "r");
    if (!f)
        printf("\n  cannot open %s\n", path);
    CU_ASSERT_FATAL(f != NULL);
    memset(r, 0, sizeof *r);
    char *line = NULL;
    size_t cap = 0;
    for (ssize_t len; (len = getline(&line, &cap, f)) > 0;) {
        cJSON *row = cJSON_ParseWithLength(line, (size_t)len);
        CU_ASSERT_FATAL(cJSON_IsObject(row));
        cJSON **rows = realloc(r->rows, (r->n + 1) * sizeof *rows);
        CU_ASSERT_FATAL(rows != NULL);
        r->rows = rows;
        r->rows[r->n++] = row;
    }
    free(line);
    fclose(f);
    CU_ASSERT_FATAL(r->n > 0);
}

/* Frees the reference lines. */
static void free_refs(refs *r)
{
    for (size_t i = 0; i < r->n; i++)
        cJSON_Delete(r->rows[i]);
    free(r->rows);
}

/* The string member key of o ("" when absent). */
static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The reference line with this id, or NULL. */
static const cJSON *find_ref(const refs *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(str(r->rows[i], "id"), id) == 0)
            return r->rows[i];
    return NULL;
}

/* The number of reference lines of data file fname. */
static long count_file(const refs *r, const char *fname)
{
    long n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += strcmp(str(r->rows[i], "file"), fname) == 0;
    return n;
}

/* Loads DEMO_DIR/<fname>.jsonl in format f. */
static void load_data(const char *fname, pf_data_format f, pf_record_set *s)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.jsonl", PF_GRADERS_DEMO_DIR, fname);
    pf_data_options o;
    pf_data_options_init(&o);
    o.min_examples = 0;
    memset(s, 0, sizeof *s);
    int rc = pf_data_load_file(path, f, &o, s, NULL);
    if (rc != PF_OK)
        printf("\n  %s\n", pf_error_message());
    CU_ASSERT_FATAL(rc == PF_OK && s->n > 0);
}

/* Checks that the record's prompt is the reference's (system + user text). */
static int same_prompt(const pf_record *rec, const cJSON *ref)
{
    int ok = rec->messages.n == 2 &&
             strcmp(rec->messages.items[0].content, str(ref, "system")) == 0 &&
             strcmp(rec->messages.items[1].content, str(ref, "user")) == 0;
    if (!ok)
        printf("\n  %s: prompt differs from the reference (rerun gen_reference.py)\n",
               str(ref, "id"));
    return ok;
}

/* Whether grader g lists reason among its targets. */
static int targets(const pf_grader *g, const char *reason)
{
    for (size_t i = 0; i < pf_grader_target_count(g); i++)
        if (strcmp(pf_grader_target(g, i), reason) == 0)
            return 1;
    return 0;
}

/* Compares the set's scores of one output with the reference's, then checks the pass
 * (preferred) or fail-for-its-reason (rejected) property. */
static void check_output(const pf_grader_set *set, const cJSON *ref, int preferred, const double *s,
                         const int *a, tally *t)
{
    const char *side = preferred ? "preferred" : "rejected", *reason = str(ref, "reason");
    const cJSON *want =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ref, "scores"), side);
    int failed = 0, outside = 0;
    for (size_t i = 0; i < set->n; i++) {
        const pf_grader *g = set->items[i];
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(want, pf_grader_name(g));
        int same = w && (cJSON_IsNull(w) ? !a[i] : a[i] && w->valuedouble == s[i]);
        if (!same) {
            char *wt = w ? cJSON_PrintUnformatted(w) : NULL;
            printf("\n  %s %s %s: got %g (applies %d), reference %s\n", str(ref, "id"), side,
                   pf_grader_name(g), s[i], a[i], wt ? wt : "none");
            free(wt);
        }
        t->mismatches += !same;
        t->compared++;
        t->applicable += a[i];
        if (preferred && a[i] && s[i] != 1.0)
            printf("\n  %s: preferred fails %s\n", str(ref, "id"), pf_grader_name(g));
        CU_ASSERT(!preferred || !a[i] || s[i] == 1.0);
        if (!preferred && a[i] && s[i] < 1.0 && pf_grader_get_type(g) != PF_GRADER_MULTI) {
            failed++;
            outside += !targets(g, reason);
        }
    }
    if (!preferred && (!failed || outside))
        printf("\n  %s: rejected fails %d checks, %d outside reason %s\n", str(ref, "id"), failed,
               outside, reason);
    CU_ASSERT(preferred || (failed > 0 && outside == 0));
}

/* Scores both outputs of a record's pair against the item and checks them. */
static void check_pair(const pf_grader_set *set, const pf_record *rec, const cJSON *ref,
                       const cJSON *item, const char *item_json, tally *t)
{
    double s[64];
    int a[64];
    pf_grade_completion c;
    pf_grade_completion_init(&c);
    CU_ASSERT_FATAL(set->n <= 64);
    for (int side = 0; side < 2; side++) {
        const pf_messages *out = side == 0 ? &rec->chosen : &rec->rejected;
        CU_ASSERT_FATAL(pf_grade_completion_from_messages(&c, out) == PF_OK);
        int rc = item_json ? pf_grader_set_score(set, &c.sample, item_json, s, a)
                           : pf_grader_set_score_item(set, &c.sample, item, s, a);
        if (rc != PF_OK)
            printf("\n  %s\n", pf_error_message());
        CU_ASSERT_FATAL(rc == PF_OK);
        check_output(set, ref, side == 0, s, a, t);
    }
    pf_grade_completion_free(&c);
    t->pairs++;
}

/* Prints a run's counters and asserts that nothing differed from the reference. */
static void report(const char *fname, const tally *t, long rows)
{
    printf("\n  %s: %ld pairs, %ld scores compared with the reference (%ld applicable), "
           "%ld mismatches ",
           fname, t->pairs, t->compared, t->applicable, t->mismatches);
    CU_ASSERT(t->mismatches == 0 && t->pairs == rows && rows > 0);
}

/* The distinct data files of the reference whose names start with prefix. */
static size_t ref_files(const refs *r, const char *prefix, const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        const char *f = str(r->rows[i], "file");
        int seen = 0;
        for (size_t k = 0; k < n; k++)
            seen |= strcmp(out[k], f) == 0;
        if (!seen && strncmp(f, prefix, strlen(prefix)) == 0 && n < cap)
            out[n++] = f;
    }
    return n;
}

/* The demo's check file: 12 checks, in order, with their types and targets. */
void test_demo_checks_file(void)
{
    static const char *const names[] = {
        "cites_policy",        "states_answer",         "json_valid",
        "json_schema",         "clarifies_when_needed", "refuses_when_needed",
        "calls_expected_tool", "tool_arguments",        "min_length",
        "max_length",          "avoids_banned_phrases", "style_score"};
    static const pf_grader_type types[] = {
        PF_GRADER_STRING_CHECK, PF_GRADER_STRING_CHECK,   PF_GRADER_JSON_VALID,
        PF_GRADER_JSON_SCHEMA,  PF_GRADER_REGEX,          PF_GRADER_REGEX,
        PF_GRADER_STRING_CHECK, PF_GRADER_JSON_SCHEMA,    PF_GRADER_LENGTH,
        PF_GRADER_LENGTH,       PF_GRADER_BANNED_PHRASES, PF_GRADER_MULTI};
    pf_grader_set set;
    load_checks(&set);
    CU_ASSERT_FATAL(set.n == 12);
    for (size_t i = 0; i < set.n; i++) {
        CU_ASSERT_STRING_EQUAL(pf_grader_name(set.items[i]), names[i]);
        CU_ASSERT(pf_grader_get_type(set.items[i]) == types[i]);
        CU_ASSERT(pf_grader_description(set.items[i])[0] != '\0');
        CU_ASSERT((pf_grader_target_count(set.items[i]) > 0) == (i < 11));
    }
    CU_ASSERT(targets(set.items[1], "not_too_terse") && targets(set.items[1], "correct_fact"));
    /* An item with no fields: only style_score's own requires ([]) passes, and no
     * sub-check applies, so nothing applies. */
    double s[12];
    int a[12], any = 0;
    pf_grade_sample empty = {"", NULL, 0, NULL, NULL};
    CU_ASSERT(pf_grader_set_score(&set, &empty, "{}", s, a) == PF_OK);
    for (int i = 0; i < 12; i++)
        any |= a[i];
    CU_ASSERT(!any);
    pf_grader_set_free(&set);
}

/* dpo files: outputs from the data file, items from the reference. */
void test_demo_dpo(void)
{
    pf_grader_set set;
    refs r;
    const char *files[8];
    load_checks(&set);
    load_refs(&r);
    size_t nf = ref_files(&r, "dpo", files, 8);
    CU_ASSERT(nf > 0);
    for (size_t f = 0; f < nf; f++) {
        pf_record_set data;
        tally t = {0};
        load_data(files[f], PF_DATA_DPO, &data);
        for (size_t i = 0; i < data.n; i++) {
            const pf_record *rec = &data.items[i];
            cJSON *meta = cJSON_Parse(rec->metadata ? rec->metadata : "{}");
            const cJSON *ref = find_ref(&r, str(meta, "id"));
            CU_ASSERT_FATAL(ref && strcmp(str(ref, "file"), files[f]) == 0);
            CU_ASSERT_FATAL(same_prompt(rec, ref));
            CU_ASSERT(rec->reason && strcmp(rec->reason, str(ref, "reason")) == 0);
            check_pair(&set, rec, ref, cJSON_GetObjectItemCaseSensitive(ref, "item"), NULL, &t);
            cJSON_Delete(meta);
        }
        report(files[f], &t, count_file(&r, files[f]));
        CU_ASSERT(t.pairs == (long)data.n);
        pf_record_set_free(&data);
    }
    free_refs(&r);
    pf_grader_set_free(&set);
}

/* A one-line dpo file for the prompt of rec with the reference's outputs. */
static char *dpo_line(const pf_record *rec, const cJSON *ref)
{
    cJSON *line = cJSON_CreateObject(), *input = cJSON_AddObjectToObject(line, "input");
    cJSON *msgs = cJSON_AddArrayToObject(input, "messages");
    for (int k = 0; k < rec->messages.n; k++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", k == 0 ? "system" : "user");
        cJSON_AddStringToObject(m, "content", rec->messages.items[k].content);
        cJSON_AddItemToArray(msgs, m);
    }
    if (rec->tools)
        cJSON_AddItemToObject(input, "tools", cJSON_Parse(rec->tools));
    cJSON_AddItemToObject(line, "preferred_output",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(ref, "preferred"), 1));
    cJSON_AddItemToObject(line, "non_preferred_output",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(ref, "rejected"), 1));
    char *text = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    return text;
}

/* Whether every reference item field equals the data row's field. */
static int same_item(const cJSON *row, const cJSON *ref)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ref, "item");
    int n = 0;
    for (const cJSON *x = item ? item->child : NULL; x; x = x->next, n++)
        if (!cJSON_Compare(x, cJSON_GetObjectItemCaseSensitive(row, x->string), 1)) {
            printf("\n  %s: item field %s differs from the reference\n", str(ref, "id"), x->string);
            return 0;
        }
    return n > 0;
}

/* Scores one prompts record: its item text, the reference's outputs. */
static void check_prompt(const pf_grader_set *set, const pf_record *rec, const refs *r,
                         const char *fname, tally *t)
{
    cJSON *row = cJSON_Parse(rec->item);
    const cJSON *ref = find_ref(r, str(row, "id"));
    CU_ASSERT_FATAL(ref && strcmp(str(ref, "file"), fname) == 0);
    CU_ASSERT_FATAL(same_prompt(rec, ref));
    CU_ASSERT(same_item(row, ref) && strcmp(str(row, "reason"), str(ref, "reason")) == 0);
    char *text = dpo_line(rec, ref);
    pf_data_options o;
    pf_data_options_init(&o);
    o.min_examples = 0;
    pf_record_set pair = {0};
    int rc = pf_data_load_buffer("pair.jsonl", text, strlen(text), PF_DATA_DPO, &o, &pair, NULL);
    if (rc != PF_OK)
        printf("\n  %s\n", pf_error_message());
    CU_ASSERT_FATAL(rc == PF_OK && pair.n == 1);
    check_pair(set, &pair.items[0], ref, NULL, rec->item, t);
    pf_record_set_free(&pair);
    free(text);
    cJSON_Delete(row);
}

/* prompts files: items from the data file (as JSON text), outputs from the reference. */
void test_demo_prompts(void)
{
    pf_grader_set set;
    refs r;
    const char *files[8];
    load_checks(&set);
    load_refs(&r);
    size_t nf = ref_files(&r, "prompts", files, 8);
    CU_ASSERT(nf > 0);
    for (size_t f = 0; f < nf; f++) {
        pf_record_set data;
        tally t = {0};
        load_data(files[f], PF_DATA_PROMPTS, &data);
        for (size_t i = 0; i < data.n; i++)
            check_prompt(&set, &data.items[i], &r, files[f], &t);
        report(files[f], &t, count_file(&r, files[f]));
        CU_ASSERT(t.pairs == (long)data.n);
        pf_record_set_free(&data);
    }
    free_refs(&r);
    pf_grader_set_free(&set);
}
