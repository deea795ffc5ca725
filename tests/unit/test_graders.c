/*
 * test_graders.c: the programmatic graders (graders.h): every grader type with its edge
 * cases (empty text, Unicode, ASCII case folding, regex metacharacters, nested JSON
 * Schemas, weighted multi), spec errors naming the key, templates over item fields and
 * tool calls, splitting a generated completion into text and tool calls (also against
 * the chat template's own rendering), and (in test_graders_demo.c) two end-to-end runs
 * of the demo's style_checks.json: over dpo_heldout.jsonl (outputs from the file) and
 * prompts_heldout.jsonl (item fields from the file), each compared check by check with
 * the demo generator's Python reference scores (tests/data/graders/demo_reference.jsonl,
 * written by gen_reference.py there) and checked for the generator's property: every
 * preferred output passes every check that applies, every rejected output fails at
 * least one, and only checks that target its pair's reason.
 *
 * Specs and items are written with ' for " to keep them readable (sq() converts).
 * PF_GRADERS_REFERENCE in the environment replaces the reference file (for a run over
 * the training files).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_run.h"
#include "prefopt/chat.h"
#include "prefopt/data.h"
#include "prefopt/error.h"
#include "prefopt/graders.h"

/* ---------------------------------------------------------------- helpers */

/* s with every ' turned into " (static buffer; one live result at a time). */
static const char *sq(const char *s)
{
    static char buf[16384];
    size_t n = strlen(s);
    CU_ASSERT_FATAL(n < sizeof buf);
    for (size_t i = 0; i <= n; i++)
        buf[i] = s[i] == '\'' ? '"' : s[i];
    return buf;
}

/* Parses the single-quoted spec, asserting success. */
static pf_grader *grader(const char *spec)
{
    cJSON *j = cJSON_Parse(sq(spec));
    CU_ASSERT_FATAL(j != NULL);
    pf_grader *g = NULL;
    int rc = pf_grader_parse(j, "t", &g);
    if (rc != PF_OK)
        printf("\n  unexpected error: %s\n", pf_error_message());
    CU_ASSERT_FATAL(rc == PF_OK && g);
    cJSON_Delete(j);
    return g;
}

/* Whether parsing the single-quoted spec fails with PF_ERR_USAGE and a message
 * containing want. */
static int fails_with(const char *spec, const char *want)
{
    cJSON *j = cJSON_Parse(sq(spec));
    CU_ASSERT_FATAL(j != NULL);
    pf_grader *g = NULL;
    pf_error_clear();
    int rc = pf_grader_parse(j, "t", &g);
    int ok = rc == PF_ERR_USAGE && !g && strstr(pf_error_message(), want);
    if (!ok)
        printf("\n  spec %s\n  rc %d, message '%s', want '%s'\n", spec, rc, pf_error_message(),
               want);
    cJSON_Delete(j);
    pf_grader_free(g);
    return ok;
}

/* Scores sample against g with a single-quoted item (or NULL); asserts PF_OK. */
static double score_s(const pf_grader *g, const pf_grade_sample *s, const char *item, int *app)
{
    double x = -1.0;
    int a = -1;
    int rc = pf_grader_score(g, s, item ? sq(item) : NULL, &x, &a);
    if (rc != PF_OK)
        printf("\n  unexpected error: %s\n", pf_error_message());
    CU_ASSERT_FATAL(rc == PF_OK);
    CU_ASSERT(x >= 0.0 && x <= 1.0);
    if (app)
        *app = a;
    return x;
}

/* Scores the plain text against g (item as in score_s). */
static double score(const pf_grader *g, const char *text, const char *item, int *app)
{
    pf_grade_sample s = {text, NULL, 0, NULL, NULL};
    return score_s(g, &s, item, app);
}

/* Scores text with the grader given as a spec (freed afterwards). */
static double quick(const char *spec, const char *text, const char *item)
{
    pf_grader *g = grader(spec);
    int app;
    double x = score(g, text, item, &app);
    CU_ASSERT(app == 1);
    pf_grader_free(g);
    return x;
}

/* The status of scoring text against g; the message must contain want. */
static int score_fails(const pf_grader *g, const char *text, const char *item, int want_rc,
                       const char *want)
{
    pf_grade_sample s = {text, NULL, 0, NULL, NULL};
    double x = -1;
    int a = -1;
    pf_error_clear();
    int rc = pf_grader_score(g, &s, item ? sq(item) : NULL, &x, &a);
    int ok = rc == want_rc && x == 0.0 && a == 0 && strstr(pf_error_message(), want);
    if (!ok)
        printf("\n  rc %d, message '%s', want %d '%s'\n", rc, pf_error_message(), want_rc, want);
    return ok;
}

/* ---------------------------------------------------------------- string_check */

/* eq, ne, like, ilike with literals: empty text, Unicode, ASCII-only case folding. */
static void test_string_check(void)
{
    const char *eq = "{'name':'a','type':'string_check','operation':'eq','reference':'yes'}";
    CU_ASSERT(quick(eq, "yes", NULL) == 1.0);
    CU_ASSERT(quick(eq, "yes ", NULL) == 0.0);
    CU_ASSERT(quick(eq, "Yes", NULL) == 0.0);
    CU_ASSERT(quick(eq, "", NULL) == 0.0);
    const char *ne = "{'name':'a','type':'string_check','operation':'ne','reference':'yes'}";
    CU_ASSERT(quick(ne, "no", NULL) == 1.0);
    CU_ASSERT(quick(ne, "yes", NULL) == 0.0);
    const char *like = "{'name':'a','type':'string_check','operation':'like','reference':'R-4'}";
    CU_ASSERT(quick(like, "Per Policy R-47, yes.", NULL) == 1.0);
    CU_ASSERT(quick(like, "Per Policy r-47", NULL) == 0.0);
    CU_ASSERT(quick(like, "", NULL) == 0.0);
    CU_ASSERT(quick(like, "R-", NULL) == 0.0);
    const char *ilike =
        "{'name':'a','type':'string_check','operation':'ilike','reference':'HeLLo'}";
    CU_ASSERT(quick(ilike, "well, hello there", NULL) == 1.0);
    CU_ASSERT(quick(ilike, "HELLO", NULL) == 1.0);
    CU_ASSERT(quick(ilike, "hell o", NULL) == 0.0);
    /* Empty reference: every text contains it; eq only matches the empty text. */
    CU_ASSERT(quick("{'name':'a','type':'string_check','operation':'like','reference':''}", "",
                    NULL) == 1.0);
    CU_ASSERT(quick("{'name':'a','type':'string_check','operation':'eq','reference':''}", "",
                    NULL) == 1.0);
    /* Unicode: bytes compare exactly; ilike folds ASCII only. */
    const char *u = "{'name':'a','type':'string_check','operation':'like','reference':'café'}";
    CU_ASSERT(quick(u, "un café noir", NULL) == 1.0);
    CU_ASSERT(quick(u, "un cafe noir", NULL) == 0.0);
    const char *ui = "{'name':'a','type':'string_check','operation':'ilike','reference':'ÉTÉ'}";
    CU_ASSERT(quick(ui, "l'ÉtÉ", NULL) == 1.0);
    CU_ASSERT(quick(ui, "l'été", NULL) == 0.0);
    /* Custom input: a literal, compared with a template. */
    CU_ASSERT(quick("{'name':'a','type':'string_check','input':'x{{sample.output_text}}x',"
                    "'operation':'eq','reference':'xabcx'}",
                    "abc", NULL) == 1.0);
}

/* References from item fields: nested paths, indices, numbers, booleans, lists and
 * objects as canonical JSON, missing and null fields as ""; bad item texts. */
static void test_string_check_item(void)
{
    const char *item = "{'answer':'June 15','policy':{'id':'R-47','alt':['A-1','B-2']},"
                       "'n':40,'x':2.5,'ok':true,'keys':['a','b'],'nul':null}";
    const char *base = "{'name':'a','type':'string_check','operation':'%s','reference':'%s'}";
    char spec[512];
    struct {
        const char *op, *ref, *text;
        double want;
    } cases[] = {
        {"like", "{{item.answer}}", "It arrives on June 15.", 1.0},
        {"like", "{{ item.answer }}", "It arrives on June 16.", 0.0},
        {"like", "Per Policy {{item.policy.id}},", "Per Policy R-47, refunds.", 1.0},
        {"eq", "{{item.policy.alt[1]}}", "B-2", 1.0},
        {"eq", "{{item.policy.alt[2]}}", "", 1.0}, /* out of range renders "" */
        {"eq", "{{item.n}} days", "40 days", 1.0},
        {"eq", "{{item.x}}", "2.5", 1.0},
        {"eq", "{{item.ok}}", "true", 1.0},
        {"eq", "{{item.keys}}", "[\"a\",\"b\"]", 1.0},
        {"eq", "{{item.policy}}", "{\"id\":\"R-47\",\"alt\":[\"A-1\",\"B-2\"]}", 1.0},
        {"eq", "<{{item.nul}}|{{item.missing}}>", "<|>", 1.0},
        {"like", "{{item.missing}}", "anything", 1.0}, /* "" is in every text */
        {"eq", "{{item.answer}}{{item.n}}", "June 1540", 1.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(spec, sizeof spec, base, cases[i].op, cases[i].ref);
        pf_grader *g = grader(spec);
        int app = 0;
        double x = score(g, cases[i].text, item, &app);
        if (x != cases[i].want || app != 1)
            printf("\n  case %zu: %s %s -> %g\n", i, cases[i].op, cases[i].ref, x);
        CU_ASSERT(x == cases[i].want && app == 1);
        pf_grader_free(g);
    }
    /* No item at all: item templates render "". */
    pf_grader *g = grader("{'name':'a','type':'string_check','operation':'eq',"
                          "'reference':'[{{item.answer}}]'}");
    CU_ASSERT(score(g, "[]", NULL, NULL) == 1.0);
    CU_ASSERT(score_fails(g, "[]", "[1,2]", PF_ERR_DATA, "not a JSON object"));
    CU_ASSERT(score_fails(g, "[]", "{'a':", PF_ERR_DATA, "not a JSON object"));
    pf_grader_free(g);
}

/* ---------------------------------------------------------------- tool calls */

/* {{sample.tool_calls[N].function.name|arguments}}, present and absent. */
static void test_tool_call_templates(void)
{
    pf_tool_call calls[2] = {{"call_1", "get_order_status", "{\"order_id\":\"A1\"}"},
                             {NULL, NULL, NULL}};
    pf_grade_sample s = {"Let me check.", calls, 2, NULL, NULL};
    const char *item = "{'expected_tool':'get_order_status'}";
    pf_grader *name = grader("{'name':'a','type':'string_check','operation':'eq',"
                             "'input':'{{sample.tool_calls[0].function.name}}',"
                             "'reference':'{{item.expected_tool}}'}");
    pf_grader *args = grader("{'name':'a','type':'string_check','operation':'eq',"
                             "'input':'{{ sample.tool_calls[0].function.arguments }}',"
                             "'reference':'{\\'order_id\\':\\'A1\\'}'}");
    pf_grader *second = grader("{'name':'a','type':'string_check','operation':'eq',"
                               "'input':'[{{sample.tool_calls[1].function.name}}|"
                               "{{sample.tool_calls[7].function.arguments}}]','reference':'[|]'}");
    CU_ASSERT(score_s(name, &s, item, NULL) == 1.0);
    CU_ASSERT(score_s(args, &s, NULL, NULL) == 1.0);
    CU_ASSERT(score_s(second, &s, NULL, NULL) == 1.0);
    pf_grade_sample none = {"get_order_status", NULL, 0, NULL, NULL};
    CU_ASSERT(score_s(name, &none, item, NULL) == 0.0);
    CU_ASSERT(score_s(name, NULL, "{'expected_tool':''}", NULL) == 1.0); /* NULL sample = "" */
    pf_grader_free(name);
    pf_grader_free(args);
    pf_grader_free(second);
}

/* ---------------------------------------------------------------- json_valid */

/* Exactly one RFC 8259 value after trimming: what passes and what does not. */
static void test_json_valid(void)
{
    pf_grader *g = grader("{'name':'j','type':'json_valid'}");
    const char *good[] = {"{\"a\": 1}",
                          "  {\"a\":[1,2.5e-3,-0,true,false,null]}\n",
                          "null",
                          "\"x\"",
                          "0",
                          "[]",
                          "{}",
                          "\xc2\xa0{\"k\": \"\\ud83d\\ude00\"}\xe3\x80\x80",
                          "{\"é\":\"naïve ✓\"}",
                          "-1.5E+10",
                          "\"\\u00e9\\n\\/\""};
    const char *bad[] = {"",
                         "   ",
                         "Here is the JSON: {}",
                         "{} trailing",
                         "{} {}",
                         "01",
                         "+1",
                         "1.",
                         ".5",
                         "[1,]",
                         "{\"a\":1,}",
                         "{'a':1}",
                         "NaN",
                         "tru",
                         "\"a\tb\"",
                         "\"\\ud800\"",
                         "\"\\udc00\"",
                         "\"\\x\"",
                         "\"\xff\"",
                         "\"\xc0\xaf\"",
                         "{\"a\" 1}",
                         "[1 2]",
                         "\"abc",
                         "{\"a\":}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double x = score(g, good[i], NULL, NULL);
        if (x != 1.0)
            printf("\n  should be valid: %s\n", good[i]);
        CU_ASSERT(x == 1.0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double x = score(g, bad[i], NULL, NULL);
        if (x != 0.0)
            printf("\n  should be invalid: %s\n", bad[i]);
        CU_ASSERT(x == 0.0);
    }
    /* Nesting: 500 levels pass, 600 do not. */
    char deep[1300];
    for (int depth = 500; depth <= 600; depth += 100) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        deep[2 * depth] = '\0';
        CU_ASSERT(score(g, deep, NULL, NULL) == (depth == 500 ? 1.0 : 0.0));
    }
    pf_grader_free(g);
}

/* ---------------------------------------------------------------- json_schema */

/* Every keyword of the subset, nested objects and arrays, boolean schemas. */
static void test_json_schema(void)
{
    pf_grader *g = grader(
        "{'name':'s','type':'json_schema','schema':{'type':'object','required':['id','lines'],"
        "'additionalProperties':false,'properties':{'id':{'type':'string','minLength':2,"
        "'maxLength':4},'status':{'enum':['open','shipped',null]},'n':{'type':'integer',"
        "'minimum':0,'maximum':9},'lines':{'type':'array','minItems':1,'maxItems':2,'items':{"
        "'type':'object','required':['sku'],'properties':{'sku':{'type':['string','null']},"
        "'qty':{'type':'number'},'gift':{'type':'boolean','const':false}}}}}}}");
    struct {
        const char *text;
        double want;
    } cases[] = {
        {"{\"id\":\"A1\",\"lines\":[{\"sku\":\"x\"}]}", 1.0},
        {" {\"id\":\"ÉÉÉÉ\",\"status\":null,\"n\":9,\"lines\":[{\"sku\":null,\"qty\":1.5},"
         "{\"sku\":\"y\",\"gift\":false}]} ",
         1.0},
        {"{\"id\":\"A\",\"lines\":[{\"sku\":\"x\"}]}", 0.0},     /* minLength */
        {"{\"id\":\"ÉÉÉÉÉ\",\"lines\":[{\"sku\":\"x\"}]}", 0.0}, /* maxLength in code points */
        {"{\"lines\":[{\"sku\":\"x\"}]}", 0.0},                  /* required id */
        {"{\"id\":\"A1\"}", 0.0},                                /* required lines */
        {"{\"id\":\"A1\",\"lines\":[]}", 0.0},                   /* minItems */
        {"{\"id\":\"A1\",\"lines\":[{\"sku\":\"x\"},{\"sku\":\"x\"},{\"sku\":\"x\"}]}", 0.0},
        {"{\"id\":\"A1\",\"lines\":[{\"qty\":1}]}", 0.0},                   /* nested required */
        {"{\"id\":\"A1\",\"lines\":[{\"sku\":1}]}", 0.0},                   /* nested type list */
        {"{\"id\":\"A1\",\"lines\":[{\"sku\":\"x\",\"gift\":true}]}", 0.0}, /* const */
        {"{\"id\":\"A1\",\"lines\":[{\"sku\":\"x\",\"qty\":\"1\"}]}", 0.0},
        {"{\"id\":\"A1\",\"status\":\"lost\",\"lines\":[{\"sku\":\"x\"}]}", 0.0}, /* enum */
        {"{\"id\":\"A1\",\"n\":1.5,\"lines\":[{\"sku\":\"x\"}]}", 0.0},           /* integer */
        {"{\"id\":\"A1\",\"n\":10,\"lines\":[{\"sku\":\"x\"}]}", 0.0},            /* maximum */
        {"{\"id\":\"A1\",\"n\":-1,\"lines\":[{\"sku\":\"x\"}]}", 0.0},            /* minimum */
        {"{\"id\":\"A1\",\"extra\":1,\"lines\":[{\"sku\":\"x\"}]}", 0.0},         /* additional */
        {"{\"id\":\"A1\",\"lines\":[{\"sku\":\"x\",\"other\":1}]}", 1.0}, /* allowed there */
        {"[{\"id\":\"A1\"}]", 0.0},
        {"{\"id\":\"A1\",\"lines\":[{\"sku\":\"x\"}]} extra", 0.0},
        {"", 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double x = score(g, cases[i].text, NULL, NULL);
        if (x != cases[i].want)
            printf("\n  case %zu: %s -> %g\n", i, cases[i].text, x);
        CU_ASSERT(x == cases[i].want);
    }
    pf_grader_free(g);
    /* Boolean schemas, integral numbers, an additionalProperties schema, const objects. */
    CU_ASSERT(quick("{'name':'s','type':'json_schema','schema':true}", "[1]", NULL) == 1.0);
    CU_ASSERT(quick("{'name':'s','type':'json_schema','schema':true}", "[1", NULL) == 0.0);
    CU_ASSERT(quick("{'name':'s','type':'json_schema','schema':false}", "1", NULL) == 0.0);
    CU_ASSERT(quick("{'name':'s','type':'json_schema','schema':{'type':'integer'}}", "2.0", NULL) ==
              1.0);
    const char *ap = "{'name':'s','type':'json_schema','schema':{'properties':{'a':{}},"
                     "'additionalProperties':{'type':'number'}}}";
    CU_ASSERT(quick(ap, "{\"a\":\"x\",\"b\":1}", NULL) == 1.0);
    CU_ASSERT(quick(ap, "{\"a\":\"x\",\"b\":\"1\"}", NULL) == 0.0);
    const char *cst = "{'name':'s','type':'json_schema','schema':{'const':{'a':[1,{'b':null}]}}}";
    CU_ASSERT(quick(cst, "{\"a\":[1.0,{\"b\":null}]}", NULL) == 1.0);
    CU_ASSERT(quick(cst, "{\"a\":[1,{\"b\":null}],\"c\":1}", NULL) == 0.0);
    CU_ASSERT(quick(cst, "{\"a\":[{\"b\":null},1]}", NULL) == 0.0);
}

/* The schema from the item, the input from the first tool call's arguments. */
static void test_json_schema_item(void)
{
    pf_grader *g = grader("{'name':'s','type':'json_schema','schema':'{{item.json_schema}}',"
                          "'input':'{{sample.tool_calls[0].function.arguments}}'}");
    const char *item = "{'json_schema':{'type':'object','properties':{'order_id':{'type':"
                       "'string','const':'A123'}},'required':['order_id'],"
                       "'additionalProperties':false}}";
    pf_tool_call good = {NULL, "f", "{\"order_id\": \"A123\"}"},
                 typo = {NULL, "f", "{\"order_id\":\"A132\"}"},
                 key = {NULL, "f", "{\"id\":\"A123\"}"};
    pf_grade_sample s = {"", &good, 1, NULL, NULL};
    int app;
    CU_ASSERT(score_s(g, &s, item, &app) == 1.0 && app == 1);
    s.tool_calls = &typo;
    CU_ASSERT(score_s(g, &s, item, &app) == 0.0 && app == 1);
    s.tool_calls = &key;
    CU_ASSERT(score_s(g, &s, item, &app) == 0.0 && app == 1);
    s.n_tool_calls = 0;
    CU_ASSERT(score_s(g, &s, item, &app) == 0.0 && app == 1);
    /* The schema field missing or null: not applicable; of the wrong kind: a data error. */
    CU_ASSERT(score_s(g, &s, "{'other':1}", &app) == 0.0 && app == 0);
    CU_ASSERT(score_s(g, &s, "{'json_schema':null}", &app) == 0.0 && app == 0);
    CU_ASSERT(score_s(g, &s, NULL, &app) == 0.0 && app == 0);
    CU_ASSERT(score_fails(g, "", "{'json_schema':'x'}", PF_ERR_DATA,
                          "t.schema: {{item.json_schema}} is a string, want a JSON Schema object"));
    CU_ASSERT(score_fails(g, "", "{'json_schema':{'properties':{'a':{'type':'text'}}}}",
                          PF_ERR_DATA,
                          "t.schema: {{item.json_schema}}: properties.a: type: must be one of"));
    pf_grader_free(g);
}

/* ---------------------------------------------------------------- regex */

/* Metacharacters, anchors, alternation, ignore_case, expect_match (literal, item). */
static void test_regex(void)
{
    const char *money = "{'name':'r','type':'regex','pattern':'\\\\$[0-9]+\\\\.[0-9]{2}( USD)?$'}";
    CU_ASSERT(quick(money, "That is $12.50", NULL) == 1.0);
    CU_ASSERT(quick(money, "That is $12.50 USD", NULL) == 1.0);
    CU_ASSERT(quick(money, "That is 12.50", NULL) == 0.0);
    CU_ASSERT(quick(money, "That is $12x50", NULL) == 0.0);
    CU_ASSERT(quick(money, "", NULL) == 0.0);
    const char *q = "{'name':'r','type':'regex','pattern':'[?]'}";
    CU_ASSERT(quick(q, "Which order?", NULL) == 1.0);
    CU_ASSERT(quick(q, "This order.", NULL) == 0.0);
    const char *anchor = "{'name':'r','type':'regex','pattern':'^Per Policy [A-Z]-[0-9]+, '}";
    CU_ASSERT(quick(anchor, "Per Policy R-47, yes.", NULL) == 1.0);
    CU_ASSERT(quick(anchor, "Yes. Per Policy R-47, yes.", NULL) == 0.0);
    const char *alt =
        "{'name':'r','type':'regex','pattern':'sorry|can.t|(un)?able','ignore_case':true}";
    CU_ASSERT(quick(alt, "SORRY", NULL) == 1.0);
    CU_ASSERT(quick(alt, "I can't", NULL) == 1.0);
    CU_ASSERT(quick(alt, "Sure thing", NULL) == 0.0);
    const char *cs = "{'name':'r','type':'regex','pattern':'sorry'}";
    CU_ASSERT(quick(cs, "SORRY", NULL) == 0.0);
    const char *not = "{'name':'r','type':'regex','pattern':'[?]','expect_match':false}";
    CU_ASSERT(quick(not, "Done.", NULL) == 1.0);
    CU_ASSERT(quick(not, "Done?", NULL) == 0.0);
    const char *uni = "{'name':'r','type':'regex','pattern':'caf(é|e)'}";
    CU_ASSERT(quick(uni, "un café", NULL) == 1.0);
    /* expect_match from the item. */
    pf_grader *g = grader("{'name':'r','type':'regex','pattern':'[?]',"
                          "'expect_match':'{{item.must_ask}}'}");
    int app;
    CU_ASSERT(score(g, "Which one?", "{'must_ask':true}", &app) == 1.0 && app);
    CU_ASSERT(score(g, "Which one?", "{'must_ask':false}", &app) == 0.0 && app);
    CU_ASSERT(score(g, "Done.", "{'must_ask':false}", &app) == 1.0 && app);
    CU_ASSERT(score(g, "Done.", "{}", &app) == 0.0 && !app);
    CU_ASSERT(score_fails(g, "Done.", "{'must_ask':'yes'}", PF_ERR_DATA,
                          "t.expect_match: {{item.must_ask}} is a string, want a boolean"));
    pf_grader_free(g);
}

/* ---------------------------------------------------------------- length */

/* A token counter: one token per 3 bytes (rounded up); counts its calls. */
static int count3(void *ctx, const char *text, size_t len, size_t *n)
{
    (void)text;
    ++*(int *)ctx;
    *n = (len + 2) / 3;
    return PF_OK;
}

/* Words (Unicode white space), characters, bytes, tokens; bounds from the item. */
static void test_length(void)
{
    const char *w = "{'name':'l','type':'length','unit':'words','min':2,'max':3}";
    CU_ASSERT(quick(w, "one two", NULL) == 1.0);
    CU_ASSERT(quick(w, "  one\ttwo\n three  ", NULL) == 1.0);
    CU_ASSERT(quick(w, "one two three four", NULL) == 0.0);
    CU_ASSERT(quick(w, "one", NULL) == 0.0);
    CU_ASSERT(quick(w, "", NULL) == 0.0);
    /* Unicode spaces separate words (NBSP, ideographic space, U+2003), others do not. */
    CU_ASSERT(quick(w,
                    "one\xc2\xa0two\xe3\x80\x80three\xe2\x80\x83"
                    "four",
                    NULL) == 0.0);
    CU_ASSERT(quick(w, "naïve café", NULL) == 1.0);
    CU_ASSERT(quick("{'name':'l','type':'length','max':0}", " \n\xc2\xa0", NULL) == 1.0);
    const char *c = "{'name':'l','type':'length','unit':'chars','min':5,'max':5}";
    CU_ASSERT(quick(c, "héllo", NULL) == 1.0);
    CU_ASSERT(quick(c, "hello!", NULL) == 0.0);
    CU_ASSERT(quick("{'name':'l','type':'length','unit':'bytes','max':5}", "héllo", NULL) == 0.0);
    CU_ASSERT(quick("{'name':'l','type':'length','unit':'bytes','min':6}", "héllo", NULL) == 1.0);
    /* Tokens through the sample's counter; none given is a usage error. */
    pf_grader *g = grader("{'name':'l','type':'length','unit':'tokens','max':2}");
    int calls = 0, app;
    pf_grade_sample s = {"abcdef", NULL, 0, count3, &calls};
    CU_ASSERT(score_s(g, &s, NULL, &app) == 1.0 && app && calls == 1);
    s.output_text = "abcdefg";
    CU_ASSERT(score_s(g, &s, NULL, &app) == 0.0 && calls == 2);
    CU_ASSERT(score_fails(g, "abc", NULL, PF_ERR_USAGE, "t.unit: tokens needs a token counter"));
    pf_grader_free(g);
    /* Bounds from the item; a missing one makes the check not applicable. */
    g = grader(
        "{'name':'l','type':'length','min':'{{item.min_words}}','max':'{{item.max_words}}'}");
    CU_ASSERT(score(g, "a b c", "{'min_words':3,'max_words':3}", &app) == 1.0 && app);
    CU_ASSERT(score(g, "a b c", "{'min_words':4,'max_words':9}", &app) == 0.0 && app);
    CU_ASSERT(score(g, "a b c", "{'max_words':9}", &app) == 0.0 && !app);
    CU_ASSERT(score_fails(g, "a", "{'min_words':1,'max_words':'9'}", PF_ERR_DATA,
                          "t.max: {{item.max_words}} is a string, want a number >= 0"));
    CU_ASSERT(score_fails(g, "a", "{'min_words':-1,'max_words':9}", PF_ERR_DATA, "t.min:"));
    pf_grader_free(g);
}

/* ---------------------------------------------------------------- banned_phrases */

/* Literal and item phrase lists, ASCII case folding, data errors. */
static void test_banned_phrases(void)
{
    const char *lit =
        "{'name':'b','type':'banned_phrases','phrases':['great question','Oak Street']}";
    CU_ASSERT(quick(lit, "Your order shipped.", NULL) == 1.0);
    CU_ASSERT(quick(lit, "", NULL) == 1.0);
    CU_ASSERT(quick(lit, "What a great question!", NULL) == 0.0);
    CU_ASSERT(quick(lit, "What a Great Question!", NULL) == 1.0); /* case-sensitive */
    CU_ASSERT(quick(lit, "It is on Oak Street.", NULL) == 0.0);
    const char *ic = "{'name':'b','type':'banned_phrases','phrases':['great question'],"
                     "'ignore_case':true}";
    CU_ASSERT(quick(ic, "GREAT QUESTION", NULL) == 0.0);
    CU_ASSERT(quick(ic, "great  question", NULL) == 1.0);
    CU_ASSERT(quick("{'name':'b','type':'banned_phrases','phrases':'déjà vu','ignore_case':true}",
                    "DÉJÀ VU", NULL) == 1.0); /* non-ASCII letters are not folded */
    CU_ASSERT(quick("{'name':'b','type':'banned_phrases','phrases':[]}", "anything", NULL) == 1.0);
    pf_grader *g = grader("{'name':'b','type':'banned_phrases','phrases':'{{item.banned}}',"
                          "'ignore_case':true}");
    int app;
    CU_ASSERT(score(g, "Thanks, ann@example.com", "{'banned':['ANN@example.com']}", &app) == 0.0 &&
              app);
    CU_ASSERT(score(g, "Thanks.", "{'banned':['ann@example.com']}", &app) == 1.0 && app);
    CU_ASSERT(score(g, "Thanks.", "{'banned':'thanks'}", &app) == 0.0 && app);
    CU_ASSERT(score(g, "Thanks.", "{}", &app) == 0.0 && !app);
    CU_ASSERT(
        score_fails(g, "x", "{'banned':['a',1]}", PF_ERR_DATA,
                    "t.phrases: {{item.banned}} is a list, want a string or a list of strings"));
    pf_grader_free(g);
}

/* ---------------------------------------------------------------- multi, requires */

/* mean, weights (object and list), min, max; skipping and nesting. */
static void test_multi(void)
{
    const char *subs = "'graders':[{'name':'q','type':'regex','pattern':'[?]'},"
                       "{'name':'w','type':'length','max':3},"
                       "{'name':'p','type':'string_check','operation':'like',"
                       "'reference':'{{item.p}}','requires':['p']}]";
    char spec[1024];
    snprintf(spec, sizeof spec, "{'name':'m','type':'multi',%s}", subs);
    pf_grader *mean = grader(spec);
    int app;
    CU_ASSERT(score(mean, "Which one?", NULL, &app) == 1.0 && app); /* p not applicable */
    CU_ASSERT(score(mean, "Which one is it then?", NULL, &app) == 0.5 && app);
    CU_ASSERT(fabs(score(mean, "Which one is it then?", "{'p':'then'}", &app) - 2.0 / 3.0) < 1e-15);
    pf_grader_free(mean);
    snprintf(spec, sizeof spec, "{'name':'m','type':'multi',%s,'weights':{'q':3,'p':0}}", subs);
    pf_grader *wm = grader(spec);
    CU_ASSERT(score(wm, "Which one is it then?", "{'p':'then'}", &app) == 0.75);
    CU_ASSERT(score(wm, "Which one is it then", "{'p':'then'}", &app) == 0.0);
    pf_grader_free(wm);
    snprintf(spec, sizeof spec, "{'name':'m','type':'multi',%s,'weights':[1,1,2]}", subs);
    pf_grader *wl = grader(spec);
    CU_ASSERT(score(wl, "Which one is it then?", "{'p':'then'}", &app) == 0.75);
    pf_grader_free(wl);
    snprintf(spec, sizeof spec, "{'name':'m','type':'multi',%s,'calculate_output':'min'}", subs);
    pf_grader *mn = grader(spec);
    CU_ASSERT(score(mn, "Which one is it then?", NULL, &app) == 0.0);
    CU_ASSERT(score(mn, "Which one?", NULL, &app) == 1.0);
    pf_grader_free(mn);
    snprintf(spec, sizeof spec, "{'name':'m','type':'multi',%s,'calculate_output':'max'}", subs);
    pf_grader *mx = grader(spec);
    CU_ASSERT(score(mx, "Which one is it then?", NULL, &app) == 1.0);
    CU_ASSERT(score(mx, "No question here at all", NULL, &app) == 0.0 && app);
    pf_grader_free(mx);
    /* Nothing applies: the multi does not apply either; OpenAI's object form of graders. */
    pf_grader *na = grader("{'name':'m','type':'multi','graders':{'only':{'type':'json_valid',"
                           "'requires':['x.y']}}}");
    CU_ASSERT(score(na, "{}", "{'x':{}}", &app) == 0.0 && !app);
    CU_ASSERT(score(na, "{}", "{'x':{'y':0}}", &app) == 1.0 && app);
    pf_grader_free(na);
    /* A multi inside a multi. */
    pf_grader *nest = grader("{'name':'m','type':'multi','graders':[{'name':'in','type':'multi',"
                             "'graders':[{'name':'a','type':'json_valid'}]},"
                             "{'name':'b','type':'regex','pattern':'1'}]}");
    CU_ASSERT(score(nest, "[2]", NULL, &app) == 0.5);
    pf_grader_free(nest);
}

/* requires paths, null fields, and the accessors. */
static void test_requires(void)
{
    pf_grader *g = grader("{'name':'r','type':'json_valid','requires':['a','item.b.c[1]']}");
    int app;
    CU_ASSERT(score(g, "{}", "{'a':1,'b':{'c':[0,false]}}", &app) == 1.0 && app);
    CU_ASSERT(score(g, "{", "{'a':1,'b':{'c':[0,0]}}", &app) == 0.0 && app);
    CU_ASSERT(score(g, "{}", "{'a':1,'b':{'c':[0]}}", &app) == 0.0 && !app);
    CU_ASSERT(score(g, "{}", "{'a':null,'b':{'c':[0,0]}}", &app) == 0.0 && !app);
    CU_ASSERT(score(g, "{}", NULL, &app) == 0.0 && !app);
    CU_ASSERT(pf_grader_target_count(g) == 0 && pf_grader_target(g, 0) == NULL);
    CU_ASSERT_STRING_EQUAL(pf_grader_description(g), "");
    pf_grader_free(g);
    g = grader("{'name':'r','type':'json_valid','requires':[],'targets':['x','y'],"
               "'description':'d'}");
    CU_ASSERT(score(g, "1", NULL, &app) == 1.0 && app);
    CU_ASSERT(pf_grader_target_count(g) == 2);
    CU_ASSERT_STRING_EQUAL(pf_grader_target(g, 1), "y");
    CU_ASSERT_STRING_EQUAL(pf_grader_description(g), "d");
    CU_ASSERT_STRING_EQUAL(pf_grader_name(g), "r");
    CU_ASSERT(pf_grader_get_type(g) == PF_GRADER_JSON_VALID);
    pf_grader_free(g);
    for (int t = 0; t < PF_GRADER_TYPE_COUNT; t++)
        CU_ASSERT(pf_grader_type_name((pf_grader_type)t) != NULL);
    CU_ASSERT(pf_grader_type_name(PF_GRADER_TYPE_COUNT) == NULL);
}

/* ---------------------------------------------------------------- spec errors */

/* Every spec error names its key. */
static void test_spec_errors(void)
{
    struct {
        const char *spec, *want;
    } cases[] = {
        {"[1]", "t: must be a JSON object"},
        {"{'name':'a'}", "t.type: missing (must be one of string_check|json_valid|json_schema|"
                         "regex|length|banned_phrases|multi)"},
        {"{'name':'a','type':'python'}", "t.type: must be one of string_check|"},
        {"{'type':'json_valid'}", "t.name: missing"},
        {"{'name':'','type':'json_valid'}", "t.name: must be a non-empty string"},
        {"{'name':'a','type':'json_valid','descripton':'x'}",
         "t.descripton: unknown key for type json_valid"},
        {"{'name':'a','type':'json_valid','pattern':'x'}",
         "t.pattern: unknown key for type json_valid"},
        {"{'name':'a','type':'json_valid','description':1}", "t.description: must be a string"},
        {"{'name':'a','type':'json_valid','targets':'x'}", "t.targets: must be a list of strings"},
        {"{'name':'a','type':'json_valid','requires':['a..b']}",
         "t.requires[0]: 'a..b' is not an item field path"},
        {"{'name':'a','type':'json_valid','input':5}", "t.input: must be a string"},
        {"{'name':'a','type':'json_valid','input':'{{sample.output_text'}",
         "t.input: unterminated template '{{'"},
        {"{'name':'a','type':'json_valid','input':'{{sample.text}}'}",
         "t.input: unknown template variable 'sample.text'"},
        {"{'name':'a','type':'json_valid','input':'{{ items.x }}'}",
         "t.input: unknown template variable 'items.x'"},
        {"{'name':'a','type':'json_valid','input':'{{item.}}'}",
         "unknown template variable 'item.'"},
        {"{'name':'a','type':'json_valid','input':'{{sample.tool_calls[x].function.name}}'}",
         "unknown template variable"},
        {"{'name':'a','type':'string_check','operation':'eq'}", "t.reference: missing"},
        {"{'name':'a','type':'string_check','reference':'x'}",
         "t.operation: missing (must be one of "
         "eq|ne|like|ilike)"},
        {"{'name':'a','type':'string_check','reference':'x','operation':'contains'}",
         "t.operation: must be one of eq|ne|like|ilike"},
        {"{'name':'a','type':'json_schema'}", "t.schema: missing"},
        {"{'name':'a','type':'json_schema','schema':[]}", "t.schema: must be a JSON Schema object"},
        {"{'name':'a','type':'json_schema','schema':{'items':[{}]}}",
         "t.schema: items: must be one schema"},
        {"{'name':'a','type':'json_schema','schema':{'required':'a'}}",
         "t.schema: required: must be a list of strings"},
        {"{'name':'a','type':'json_schema','schema':{'properties':{'x':{'minLength':-1}}}}",
         "t.schema: properties.x: minLength/maxLength: must be a count"},
        {"{'name':'a','type':'json_schema','schema':'{{sample.output_text}}'}",
         "t.schema: a template here must be exactly one {{item.FIELD}}"},
        {"{'name':'a','type':'json_schema','schema':'x {{item.s}}'}",
         "t.schema: a template here must be exactly one {{item.FIELD}}"},
        {"{'name':'a','type':'regex'}", "t.pattern: missing"},
        {"{'name':'a','type':'regex','pattern':1}", "t.pattern: must be a string"},
        {"{'name':'a','type':'regex','pattern':'(a'}", "t.pattern: invalid POSIX extended regex"},
        {"{'name':'a','type':'regex','pattern':'a','ignore_case':'yes'}",
         "t.ignore_case: must be true or false"},
        {"{'name':'a','type':'regex','pattern':'a','expect_match':1}",
         "t.expect_match: must be a boolean or an {{item.FIELD}} template (got a number)"},
        {"{'name':'a','type':'length'}", "t.max: missing (type length needs min, max or both)"},
        {"{'name':'a','type':'length','max':-1}", "t.max: must be a number >= 0"},
        {"{'name':'a','type':'length','min':'3'}", "t.min: must be a number >= 0"},
        {"{'name':'a','type':'length','min':3,'max':2}", "t.min: must not exceed max"},
        {"{'name':'a','type':'length','max':3,'unit':'lines'}",
         "t.unit: must be one of words|chars|bytes|tokens"},
        {"{'name':'a','type':'banned_phrases'}", "t.phrases: missing"},
        {"{'name':'a','type':'banned_phrases','phrases':['a',2]}",
         "t.phrases: must be a string or a list of strings"},
        {"{'name':'a','type':'banned_phrases','phrases':['a','']}",
         "t.phrases: must not hold an empty phrase"},
        {"{'name':'a','type':'multi'}", "t.graders: missing"},
        {"{'name':'a','type':'multi','graders':[]}", "t.graders: must be a non-empty list"},
        {"{'name':'a','type':'multi','graders':['x']}",
         "t.graders[0]: 'x' names another grader, which only graders of one file can do"},
        {"{'name':'a','type':'multi','graders':[1]}", "t.graders[0]: must be a grader object"},
        {"{'name':'a','type':'multi','graders':[{'name':'b','type':'regex','pattern':'(' }]}",
         "t.graders[0].pattern: invalid POSIX extended regex"},
        {"{'name':'a','type':'multi','graders':{'b':{'type':'nope'}}}",
         "t.graders.b.type: must be one of"},
        {"{'name':'a','type':'multi','graders':{'b':{'name':'c','type':'json_valid'}}}",
         "t.graders.b.name: 'c' differs from its key 'b'"},
        {"{'name':'a','type':'multi','graders':[{'name':'b','type':'json_valid'},"
         "{'name':'b','type':'json_valid'}]}",
         "t.graders[1]: 'b' appears twice"},
        {"{'name':'a','type':'multi','graders':[{'name':'b','type':'json_valid'}],"
         "'calculate_output':'0.5 * b'}",
         "t.calculate_output: must be one of mean|min|max"},
        {"{'name':'a','type':'multi','graders':[{'name':'b','type':'json_valid'}],"
         "'weights':{'c':1}}",
         "t.weights.c: names no grader"},
        {"{'name':'a','type':'multi','graders':[{'name':'b','type':'json_valid'}],"
         "'weights':{'b':-1}}",
         "t.weights.b: must be a number >= 0"},
        {"{'name':'a','type':'multi','graders':[{'name':'b','type':'json_valid'}],"
         "'weights':[1,2]}",
         "t.weights: must have one entry per grader (1)"},
        {"{'name':'a','type':'multi','graders':[{'name':'b','type':'json_valid'}],"
         "'weights':[0]}",
         "t.weights: at least one must be > 0"},
        {"{'name':'a','type':'multi','graders':[{'name':'b','type':'json_valid'}],"
         "'weights':[1],'calculate_output':'max'}",
         "t.weights: only for calculate_output mean"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CU_ASSERT(fails_with(cases[i].spec, cases[i].want));
    pf_grader *g = NULL;
    CU_ASSERT(pf_grader_parse(NULL, NULL, &g) == PF_ERR_USAGE && !g);
    CU_ASSERT(strstr(pf_error_message(), "grader: must be a JSON object") != NULL);
}

/* ---------------------------------------------------------------- sets and files */

/* Parses the single-quoted set; returns the status (error text in pf_error_message). */
static int set_parse(const char *text, pf_grader_set *set)
{
    cJSON *j = cJSON_Parse(sq(text));
    CU_ASSERT_FATAL(j != NULL);
    pf_error_clear();
    int rc = pf_grader_set_parse(j, "f.json", set);
    cJSON_Delete(j);
    return rc;
}

/* Whether parsing the set fails with a message containing want (and leaves it empty). */
static int set_fails(const char *text, const char *want)
{
    pf_grader_set set;
    int rc = set_parse(text, &set);
    int ok = rc == PF_ERR_USAGE && set.n == 0 && !set.items && strstr(pf_error_message(), want);
    if (!ok)
        printf("\n  rc %d, message '%s', want '%s'\n", rc, pf_error_message(), want);
    pf_grader_set_free(&set);
    return ok;
}

/* Sets: references, memoised scores equal to single scores, set-level errors. */
static void test_sets(void)
{
    pf_grader_set set;
    CU_ASSERT_FATAL(set_parse("[{'name':'q','type':'regex','pattern':'[?]'},"
                              "{'name':'all','type':'multi','graders':['q','w','x']},"
                              "{'name':'w','type':'length','max':2},"
                              "{'name':'x','type':'json_valid','requires':['x']},"
                              "{'name':'top','type':'multi','graders':['all','q'],"
                              "'weights':{'all':3}}]",
                              &set) == PF_OK);
    CU_ASSERT_FATAL(set.n == 5);
    CU_ASSERT(pf_grader_set_find(&set, "w") == 2 && pf_grader_set_find(&set, "nope") == -1);
    double s[5], one;
    int a[5], app;
    pf_grade_sample smp = {"Which one?", NULL, 0, NULL, NULL};
    CU_ASSERT_FATAL(pf_grader_set_score(&set, &smp, NULL, s, a) == PF_OK);
    CU_ASSERT(s[0] == 1.0 && s[1] == 1.0 && s[2] == 1.0 && a[3] == 0 && s[4] == 1.0);
    smp.output_text = "Which one, then?";
    CU_ASSERT_FATAL(pf_grader_set_score(&set, &smp, "{\"x\":1}", s, a) == PF_OK);
    CU_ASSERT(s[0] == 1.0 && s[2] == 0.0 && s[3] == 0.0 && a[3] == 1);
    CU_ASSERT(fabs(s[1] - 1.0 / 3.0) < 1e-15 && fabs(s[4] - (3.0 / 3.0 + 1.0) / 4.0) < 1e-15);
    /* Scoring one grader alone agrees with the set. */
    for (size_t i = 0; i < set.n; i++) {
        CU_ASSERT(pf_grader_score(set.items[i], &smp, "{\"x\":1}", &one, &app) == PF_OK);
        CU_ASSERT(one == s[i] && app == a[i]);
    }
    CU_ASSERT(pf_grader_set_score(&set, &smp, "[]", s, a) == PF_ERR_DATA);
    CU_ASSERT(s[0] == 0.0 && a[0] == 0);
    pf_grader_set_free(&set);
    /* An object of named graders, and a single grader. */
    CU_ASSERT_FATAL(set_parse("{'a':{'type':'json_valid'},'b':{'name':'b','type':'multi',"
                              "'graders':['a']}}",
                              &set) == PF_OK);
    CU_ASSERT(set.n == 2 && strcmp(pf_grader_name(set.items[0]), "a") == 0);
    pf_grader_set_free(&set);
    CU_ASSERT_FATAL(set_parse("{'name':'one','type':'json_valid'}", &set) == PF_OK && set.n == 1);
    pf_grader_set_free(&set);
    CU_ASSERT(set_fails("[{'name':'a','type':'json_valid'},{'name':'b','type':'json_valid'},"
                        "{'name':'c','type':'json_valid'},{'name':'d','type':'string_check',"
                        "'reference':'x','operation':'has'}]",
                        "f.json: [3].operation: must be one of eq|ne|like|ilike"));
    CU_ASSERT(set_fails("{'a':{'type':'json_valid','ignore_case':true}}",
                        "f.json: a.ignore_case: unknown key for type json_valid"));
    CU_ASSERT(set_fails("{'type':'json_valid'}", "f.json: name: missing"));
    CU_ASSERT(set_fails("7", "f.json: must be a list of graders"));
    CU_ASSERT(set_fails("[{'name':'a','type':'json_valid'},{'name':'a','type':'json_valid'}]",
                        "f.json: [1].name: 'a' is already the name of f.json: [0]"));
    CU_ASSERT(set_fails("[{'name':'m','type':'multi','graders':['a','zz']},"
                        "{'name':'a','type':'json_valid'}]",
                        "f.json: [0].graders[1]: no grader named 'zz' in the file"));
    CU_ASSERT(set_fails("[{'name':'m','type':'multi','graders':['n']},"
                        "{'name':'n','type':'multi','graders':['a','m']},"
                        "{'name':'a','type':'json_valid'}]",
                        "graders: reference cycle through 'm'"));
    CU_ASSERT(set_fails("[{'name':'m','type':'multi','graders':['m']}]",
                        "f.json: [0].graders: reference cycle through 'm'"));
    CU_ASSERT(set_fails("[{'name':'m','type':'multi','graders':[{'name':'i','type':'multi',"
                        "'graders':['a']}]},{'name':'a','type':'json_valid'}]",
                        "f.json: [0].graders[0].graders[0]: 'a' names another grader"));
}

/* pf_grader_load_file: missing file, invalid JSON with line:column, trailing text. */
static void test_load_file_errors(void)
{
    pf_grader_set set;
    CU_ASSERT(pf_grader_load_file("/nonexistent/graders.json", &set) == PF_ERR_USAGE);
    CU_ASSERT(strstr(pf_error_message(), "/nonexistent/graders.json: cannot open") != NULL);
    CU_ASSERT(set.n == 0);
    char path[] = "/tmp/pf_graders_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("[\n  {\"name\": \"a\",\n   \"type\": \"json_valid\",}\n]\n", f);
    fclose(f);
    CU_ASSERT(pf_grader_load_file(path, &set) == PF_ERR_USAGE && set.n == 0);
    char want[128];
    snprintf(want, sizeof want, "%s:3:", path);
    CU_ASSERT(strstr(pf_error_message(), want) != NULL);
    CU_ASSERT(strstr(pf_error_message(), "not valid JSON") != NULL);
    f = fopen(path, "w");
    fputs("[{\"name\": \"a\", \"type\": \"json_valid\"}] x", f);
    fclose(f);
    CU_ASSERT(pf_grader_load_file(path, &set) == PF_ERR_USAGE && set.n == 0);
    f = fopen(path, "w");
    fputs("[{\"name\": \"a\", \"type\": \"json_valid\"}]\n", f);
    fclose(f);
    CU_ASSERT(pf_grader_load_file(path, &set) == PF_OK && set.n == 1);
    pf_grader_set_free(&set);
    remove(path);
}

/* ---------------------------------------------------------------- completions */

/* Splitting generated text: content, tool calls, malformed and unclosed blocks. */
static void test_split(void)
{
    pf_grade_completion c;
    pf_grade_completion_init(&c);
    const char *plain = "Your order shipped.";
    CU_ASSERT_FATAL(pf_grade_completion_split(&c, plain, strlen(plain)) == PF_OK);
    CU_ASSERT_STRING_EQUAL(c.sample.output_text, plain);
    CU_ASSERT(c.sample.n_tool_calls == 0);
    const char *empty = "";
    CU_ASSERT_FATAL(pf_grade_completion_split(&c, empty, 0) == PF_OK);
    CU_ASSERT_STRING_EQUAL(c.sample.output_text, "");
    const char *one = "Let me check.\n<tool_call>\n{\"name\":\"get_order_status\","
                      "\"arguments\":{\"order_id\": \"A1\", \"n\": 1.50}}\n</tool_call>"
                      "<|im_end|>\ntrailing junk <tool_call>";
    CU_ASSERT_FATAL(pf_grade_completion_split(&c, one, strlen(one)) == PF_OK);
    CU_ASSERT_STRING_EQUAL(c.sample.output_text, "Let me check.");
    CU_ASSERT_FATAL(c.sample.n_tool_calls == 1);
    CU_ASSERT_STRING_EQUAL(c.sample.tool_calls[0].name, "get_order_status");
    CU_ASSERT_STRING_EQUAL(c.sample.tool_calls[0].arguments, "{\"order_id\":\"A1\",\"n\":1.5}");
    CU_ASSERT(c.sample.tool_calls[0].id == NULL);
    const char *many =
        "<tool_call>\n{\"name\":\"a\",\"arguments\":\"{\\\"k\\\": 1}\"}\n</tool_call>\n"
        "<tool_call>not json</tool_call>\n"
        "<tool_call>{\"arguments\":{}}</tool_call>"
        "<tool_call>{\"name\":\"b\"}</tool_call>"
        "<tool_call>\n{\"name\":\"ü\",\"arguments\":[1,{\"x\":null}]}\n</tool_call>"
        "<tool_call>\n{\"name\":\"cut\",\"arguments\":{}}";
    CU_ASSERT_FATAL(pf_grade_completion_split(&c, many, strlen(many)) == PF_OK);
    CU_ASSERT_STRING_EQUAL(c.sample.output_text, "");
    CU_ASSERT_FATAL(c.sample.n_tool_calls == 6);
    const char *want[6][2] = {{"a", "{\"k\": 1}"},       {"", ""}, {"", ""}, {"b", ""},
                              {"ü", "[1,{\"x\":null}]"}, {"", ""}};
    for (int i = 0; i < 6; i++) {
        CU_ASSERT_STRING_EQUAL(c.sample.tool_calls[i].name, want[i][0]);
        CU_ASSERT_STRING_EQUAL(c.sample.tool_calls[i].arguments, want[i][1]);
    }
    /* Content keeps its own newlines; only the template's one before <tool_call> goes. */
    const char *nl = "Line one.\n\n<tool_call>{\"name\":\"x\",\"arguments\":{}}</tool_call>";
    CU_ASSERT_FATAL(pf_grade_completion_split(&c, nl, strlen(nl)) == PF_OK);
    CU_ASSERT_STRING_EQUAL(c.sample.output_text, "Line one.\n");
    CU_ASSERT_STRING_EQUAL(c.sample.tool_calls[0].arguments, "{}");
    /* A length shorter than the string, and reuse after a larger split. */
    CU_ASSERT_FATAL(pf_grade_completion_split(&c, plain, 4) == PF_OK);
    CU_ASSERT_STRING_EQUAL(c.sample.output_text, "Your");
    pf_grade_completion_free(&c);
}

static const char TOOL_LINE[] =
    "{\"input\":{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\","
    "\"content\":\"Where is A1?\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
    "\"get_order_status\",\"parameters\":{\"type\":\"object\"}}}]},"
    "\"preferred_output\":[{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":[{"
    "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_order_status\","
    "\"arguments\":\"{\\\"order_id\\\": \\\"A1\\\", \\\"note\\\": \\\"a\\\\\\\"b\\\"}\"}},"
    "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_order_status\","
    "\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"ok\"},"
    "{\"role\":\"assistant\",\"content\":\"It shipped.\"}],"
    "\"non_preferred_output\":[{\"role\":\"assistant\",\"content\":\"No idea.\"}]}\n";

/* Loads TOOL_LINE as a one-record dpo set. */
static void load_tool_line(pf_record_set *s)
{
    pf_data_options o;
    pf_data_options_init(&o);
    o.min_examples = 0;
    memset(s, 0, sizeof *s);
    int rc = pf_data_load_buffer("t.jsonl", TOOL_LINE, strlen(TOOL_LINE), PF_DATA_DPO, &o, s, NULL);
    if (rc != PF_OK)
        printf("\n  %s\n", pf_error_message());
    CU_ASSERT_FATAL(rc == PF_OK && s->n == 1);
}

/* The chat template's rendering of the first preferred turn, split back, gives its
 * content and tool calls; a DPO output's messages give the last text and all calls. */
static void test_split_roundtrip(void)
{
    pf_record_set s;
    load_tool_line(&s);
    pf_chat prompt, chosen;
    pf_chat_init(&prompt);
    pf_chat_init(&chosen);
    CU_ASSERT_FATAL(pf_chat_render(&prompt, &s.items[0], PF_CHAT_PROMPT) == PF_OK);
    CU_ASSERT_FATAL(pf_chat_render(&chosen, &s.items[0], PF_CHAT_CHOSEN) == PF_OK);
    CU_ASSERT_FATAL(chosen.len > prompt.len && memcmp(chosen.text, prompt.text, prompt.len) == 0);
    const char *gen = chosen.text + prompt.len; /* what the policy would have generated */
    pf_grade_completion c;
    pf_grade_completion_init(&c);
    CU_ASSERT_FATAL(pf_grade_completion_split(&c, gen, strlen(gen)) == PF_OK);
    const pf_message *m = &s.items[0].chosen.items[0];
    CU_ASSERT_STRING_EQUAL(c.sample.output_text, m->content);
    CU_ASSERT_FATAL(c.sample.n_tool_calls == 2);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_STRING_EQUAL(c.sample.tool_calls[i].name, m->tool_calls[i].name);
        CU_ASSERT_STRING_EQUAL(c.sample.tool_calls[i].arguments, m->tool_calls[i].arguments);
    }
    CU_ASSERT_STRING_EQUAL(c.sample.tool_calls[0].arguments,
                           "{\"order_id\":\"A1\",\"note\":\"a\\\"b\"}");
    CU_ASSERT_FATAL(pf_grade_completion_from_messages(&c, &s.items[0].chosen) == PF_OK);
    CU_ASSERT_STRING_EQUAL(c.sample.output_text, "It shipped.");
    CU_ASSERT(c.sample.n_tool_calls == 2);
    CU_ASSERT_STRING_EQUAL(c.sample.tool_calls[0].id, "call_1");
    CU_ASSERT_FATAL(pf_grade_completion_from_messages(&c, &s.items[0].rejected) == PF_OK);
    CU_ASSERT_STRING_EQUAL(c.sample.output_text, "No idea.");
    CU_ASSERT(c.sample.n_tool_calls == 0);
    pf_messages none = {NULL, 0};
    CU_ASSERT_FATAL(pf_grade_completion_from_messages(&c, &none) == PF_OK);
    CU_ASSERT_STRING_EQUAL(c.sample.output_text, "");
    pf_grade_completion_free(&c);
    pf_chat_free(&prompt);
    pf_chat_free(&chosen);
    pf_record_set_free(&s);
}

/* The demo end-to-end tests (test_graders_demo.c). */
void test_demo_checks_file(void);
void test_demo_dpo(void);
void test_demo_prompts(void);

/* Runs every graders test. */
int main(void)
{
    static const pf_test_case cases[] = {
        {"string_check", test_string_check},
        {"string_check with item templates", test_string_check_item},
        {"tool call templates", test_tool_call_templates},
        {"json_valid", test_json_valid},
        {"json_schema", test_json_schema},
        {"json_schema from the item", test_json_schema_item},
        {"regex", test_regex},
        {"length", test_length},
        {"banned_phrases", test_banned_phrases},
        {"multi", test_multi},
        {"requires and accessors", test_requires},
        {"spec errors name the key", test_spec_errors},
        {"sets and references", test_sets},
        {"grader files", test_load_file_errors},
        {"completion split", test_split},
        {"split round trip, output messages", test_split_roundtrip},
        {"demo style checks file", test_demo_checks_file},
        {"demo dpo_heldout vs reference", test_demo_dpo},
        {"demo prompts_heldout vs reference", test_demo_prompts},
        {NULL, NULL},
    };
    return pf_cunit_run("graders", cases);
}
