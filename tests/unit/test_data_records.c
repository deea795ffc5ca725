/*
 * test_data_records.c: what the loader builds (records of all four formats, TRL
 * normalisation, canonical JSON of tools / metadata / items / arguments), the strict
 * JSON parser and UTF-8 checker underneath, and file reading (lines longer than the
 * read block, missing files, directories).
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_run.h"
#include "data/json.h"
#include "datautil.h"
#include "prefopt/error.h"

/* Loads text in format f with no minimum; asserts success. */
static int load(const char *text, pf_data_format f, pf_record_set *set)
{
    du_diags d;
    pf_data_options o = du_options(&d, 0);
    memset(set, 0, sizeof *set);
    int rc = pf_data_load_buffer("t.jsonl", text, strlen(text), f, &o, set, NULL);
    if (rc != PF_OK)
        printf("\n  load failed: %s", pf_error_message());
    return rc;
}

static void test_dpo_with_tools(void)
{
    const char *line =
        "{\"input\": {\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
        "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Weather \"}, "
        "{\"type\": \"text\", \"text\": \"in Paris?\"}]}], \"tools\": [{\"type\": \"function\", "
        "\"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}}], "
        "\"parallel_tool_calls\": false}, \"preferred_output\": [{\"role\": \"assistant\", "
        "\"content\": null, \"tool_calls\": [{\"id\": \"call_1\", \"type\": \"function\", "
        "\"function\": {\"name\": \"get_weather\", \"arguments\": \"{ \\\"city\\\" : "
        "\\\"Paris\\\" }\"}}]}, {\"role\": \"tool\", \"tool_call_id\": \"call_1\", \"content\": "
        "\"21\"}, {\"role\": \"assistant\", \"content\": \"21 \\u00b0C.\"}], "
        "\"non_preferred_output\": [{\"role\": \"assistant\", \"content\": \"No idea.\"}], "
        "\"metadata\": {\"reason\": \"tool use\", \"score\": 1.50}}\n";
    pf_record_set s;
    CU_ASSERT_FATAL(load(line, PF_DATA_DPO, &s) == PF_OK && s.n == 1);
    const pf_record *r = &s.items[0];
    CU_ASSERT_EQUAL(r->line, 1);
    CU_ASSERT_EQUAL(r->format, PF_DATA_DPO);
    CU_ASSERT_EQUAL(r->messages.n, 2);
    CU_ASSERT_STRING_EQUAL(r->messages.items[1].content, "Weather in Paris?");
    CU_ASSERT_EQUAL(r->messages.items[1].role, PF_ROLE_USER);
    CU_ASSERT_STRING_EQUAL(r->tools, "[{\"type\":\"function\",\"function\":{\"name\":"
                                     "\"get_weather\",\"parameters\":{\"type\":\"object\"}}}]");
    CU_ASSERT_EQUAL(r->parallel_tool_calls, 0);
    CU_ASSERT_FATAL(r->chosen.n == 3 && r->rejected.n == 1);
    const pf_message *call = &r->chosen.items[0];
    CU_ASSERT(call->has_content == 0 && strcmp(call->content, "") == 0);
    CU_ASSERT_FATAL(call->n_tool_calls == 1);
    CU_ASSERT_STRING_EQUAL(call->tool_calls[0].id, "call_1");
    CU_ASSERT_STRING_EQUAL(call->tool_calls[0].name, "get_weather");
    CU_ASSERT_STRING_EQUAL(call->tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    CU_ASSERT_STRING_EQUAL(r->chosen.items[1].tool_call_id, "call_1");
    CU_ASSERT_EQUAL(r->chosen.items[1].role, PF_ROLE_TOOL);
    CU_ASSERT_STRING_EQUAL(r->chosen.items[2].content, "21 \xC2\xB0"
                                                       "C.");
    CU_ASSERT_STRING_EQUAL(r->rejected.items[0].content, "No idea.");
    CU_ASSERT_STRING_EQUAL(r->metadata, "{\"reason\":\"tool use\",\"score\":1.50}");
    CU_ASSERT_STRING_EQUAL(r->reason, "tool use");
    CU_ASSERT_PTR_NULL(r->item);
    pf_record_set_free(&s);
    CU_ASSERT(s.n == 0 && s.items == NULL);
}

static void test_dpo_older_names_and_reason(void)
{
    const char *text = "{\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]},"
                       "\"preferred_completion\":[{\"role\":\"assistant\",\"content\":\"y\"}],"
                       "\"non_preferred_completion\":[{\"role\":\"assistant\",\"content\":\"n\"}],"
                       "\"metadata\":{\"reason\":3}}\n";
    pf_record_set s;
    CU_ASSERT_FATAL(load(text, PF_DATA_DPO, &s) == PF_OK && s.n == 1);
    CU_ASSERT_STRING_EQUAL(s.items[0].chosen.items[0].content, "y");
    CU_ASSERT_STRING_EQUAL(s.items[0].rejected.items[0].content, "n");
    CU_ASSERT_STRING_EQUAL(s.items[0].metadata, "{\"reason\":3}");
    CU_ASSERT_PTR_NULL(s.items[0].reason);
    CU_ASSERT_EQUAL(s.items[0].parallel_tool_calls, 1);
    pf_record_set_free(&s);
}

static void test_sft_weights(void)
{
    const char *text =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":"
        "\"b\",\"weight\":0},{\"role\":\"user\",\"content\":\"c\"},{\"role\":\"assistant\","
        "\"content\":\"d\",\"weight\":1},{\"role\":\"user\",\"content\":\"e\"},{\"role\":"
        "\"assistant\",\"content\":\"f\",\"name\":\"bot\"}]}\n";
    pf_record_set s;
    CU_ASSERT_FATAL(load(text, PF_DATA_SFT, &s) == PF_OK && s.n == 1);
    const pf_messages *m = &s.items[0].messages;
    CU_ASSERT_FATAL(m->n == 6);
    CU_ASSERT_EQUAL(m->items[1].weight, 0);
    CU_ASSERT_EQUAL(m->items[3].weight, 1);
    CU_ASSERT_EQUAL(m->items[5].weight, 1);
    CU_ASSERT_EQUAL(m->items[0].weight, 1);
    CU_ASSERT_STRING_EQUAL(m->items[5].name, "bot");
    CU_ASSERT_PTR_NULL(m->items[3].name);
    CU_ASSERT_EQUAL(s.items[0].chosen.n, 0);
    pf_record_set_free(&s);
}

static void test_prompts_item(void)
{
    const char *text = "{\"messages\": [{\"role\": \"user\", \"content\": \"2+2?\"}], "
                       "\"answer\": \"4\", \"extra\": {\"n\": [1, -2.5e+3, true, null], "
                       "\"s\": \"\\u00e9\\/\\t\\u0001\"}}\n";
    pf_record_set s;
    CU_ASSERT_FATAL(load(text, PF_DATA_PROMPTS, &s) == PF_OK && s.n == 1);
    CU_ASSERT_STRING_EQUAL(s.items[0].item,
                           "{\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"}],\"answer\":"
                           "\"4\",\"extra\":{\"n\":[1,-2.5e+3,true,null],\"s\":\"\xC3\xA9/\\t"
                           "\\u0001\"}}");
    CU_ASSERT_EQUAL(s.items[0].messages.n, 1);
    pf_record_set_free(&s);
}

static void test_trl_normalisation(void)
{
    const char *text =
        "{\"prompt\":\"Hi\",\"chosen\":\"Hello!\",\"rejected\":\"Go away.\"}\n"
        "{\"prompt\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":"
        "\"u\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"c\"}],\"rejected\":[{\"role\":"
        "\"assistant\",\"content\":\"r\"}],\"metadata\":{\"reason\":\"style\"}}\n";
    pf_record_set s;
    CU_ASSERT_FATAL(load(text, PF_DATA_TRL, &s) == PF_OK && s.n == 2);
    const pf_record *a = &s.items[0], *b = &s.items[1];
    CU_ASSERT(a->messages.n == 1 && a->messages.items[0].role == PF_ROLE_USER);
    CU_ASSERT_STRING_EQUAL(a->messages.items[0].content, "Hi");
    CU_ASSERT(a->chosen.n == 1 && a->chosen.items[0].role == PF_ROLE_ASSISTANT);
    CU_ASSERT_STRING_EQUAL(a->chosen.items[0].content, "Hello!");
    CU_ASSERT_STRING_EQUAL(a->rejected.items[0].content, "Go away.");
    CU_ASSERT_EQUAL(a->chosen.items[0].weight, 1);
    CU_ASSERT_EQUAL(b->line, 2);
    CU_ASSERT_EQUAL(b->messages.n, 2);
    CU_ASSERT_STRING_EQUAL(b->chosen.items[0].content, "c");
    CU_ASSERT_STRING_EQUAL(b->reason, "style");
    pf_record_set_free(&s);
}

static void test_failed_load_is_empty(void)
{
    const char *text = "{\"prompt\":\"Hi\",\"chosen\":\"a\",\"rejected\":\"b\"}\n{\"prompt\":1}\n";
    pf_record_set s = {0};
    CU_ASSERT_EQUAL(pf_data_load_buffer("x.jsonl", text, strlen(text), PF_DATA_TRL, NULL, &s, NULL),
                    PF_ERR_DATA);
    CU_ASSERT(s.n == 0 && s.items == NULL && s.arena == NULL);
    CU_ASSERT_STRING_EQUAL(pf_error_message(),
                           "x.jsonl:2: error: wrong-type: prompt: expected a string or an array "
                           "of messages, got number");
}

/* Parses text; returns the pj status. */
static int parse(pj_doc *d, const char *text) { return pj_parse(d, text, strlen(text)); }

static void test_json_strictness(void)
{
    static const char *const bad[] = {
        "",       "{",        "[1,]",     "{\"a\":1,}",  "01",        "1.",      ".5",
        "1e",     "+1",       "-",        "tru",         "nul",       "{'a':1}", "{\"a\" 1}",
        "[1 2]",  "\"a\tb\"", "\"\\x\"",  "\"\\u12g4\"", "/* c */ 1", "1 2",     "{\"a\":1}}",
        "[\"abc", "NaN",      "Infinity", "\"\\",
    };
    static const char *const good[] = {
        "0",
        "-0",
        "1.5e-3",
        "1E+9",
        "true",
        "null",
        "\"\"",
        "[]",
        "{}",
        " [ 1 , { } ] ",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"",
        "{\"a\":{\"b\":[[],[{}]]}}",
    };
    pj_doc d;
    pj_init(&d);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(&d, bad[i]);
        if (rc != PJ_ERR_SYNTAX)
            printf("\n  accepted invalid JSON: %s", bad[i]);
        CU_ASSERT_EQUAL(rc, PJ_ERR_SYNTAX);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int rc = parse(&d, good[i]);
        if (rc != PJ_OK)
            printf("\n  rejected valid JSON: %s (%s)", good[i], d.err_msg);
        CU_ASSERT_EQUAL(rc, PJ_OK);
    }
    CU_ASSERT_EQUAL(parse(&d, "\"\\udc00\""), PJ_ERR_UTF8);
    CU_ASSERT_EQUAL(parse(&d, "\"\\ud800x\""), PJ_ERR_UTF8);
    pj_free(&d);
}

static void test_json_depth_limit(void)
{
    char text[2 * PJ_MAX_DEPTH + 8];
    pj_doc d;
    pj_init(&d);
    for (int depth = PJ_MAX_DEPTH; depth <= PJ_MAX_DEPTH + 1; depth++) {
        memset(text, '[', (size_t)depth);
        memset(text + depth, ']', (size_t)depth);
        CU_ASSERT_EQUAL(pj_parse(&d, text, 2 * (size_t)depth),
                        depth == PJ_MAX_DEPTH ? PJ_OK : PJ_ERR_SYNTAX);
    }
    pj_free(&d);
}

static void test_json_canonical_and_hash(void)
{
    pj_doc a, b;
    pj_buf buf = {0};
    pj_init(&a);
    pj_init(&b);
    CU_ASSERT_FATAL(parse(&a, " { \"k\" : [ 1 , 2.50 , \"\\u00e9\\ud83d\\ude00\\n\\u001f\\u2028\" "
                              "] , \"e\" : { } } ") == PJ_OK);
    CU_ASSERT_FATAL(pj_write(&a, 0, &buf) == 0);
    CU_ASSERT_STRING_EQUAL(buf.p, "{\"k\":[1,2.50,\"\xC3\xA9\xF0\x9F\x98\x80\\n\\u001f\xE2\x80\xA8"
                                  "\"],\"e\":{}}");
    CU_ASSERT_FATAL(
        parse(&b, "{\"k\":[1,2.50,\"\\u00e9\\ud83d\\ude00\\n\\u001f\\u2028\"],\"e\":{}}") == PJ_OK);
    CU_ASSERT_EQUAL(pj_tree_hash(&a, 0), pj_tree_hash(&b, 0));
    CU_ASSERT(pj_tree_equal(&a, 0, &b, 0));
    CU_ASSERT_FATAL(parse(&b, "{\"k\":[[1,2.50],\"x\"],\"e\":{}}") == PJ_OK);
    CU_ASSERT(pj_tree_hash(&a, 0) != pj_tree_hash(&b, 0));
    CU_ASSERT(!pj_tree_equal(&a, 0, &b, 0));
    CU_ASSERT_EQUAL(pj_get(&a, 0, "e"), a.nodes[0].end - 1);
    CU_ASSERT_EQUAL(pj_get(&a, 0, "missing"), 0);
    free(buf.p);
    pj_free(&a);
    pj_free(&b);
}

static void test_utf8_checker(void)
{
    static const struct {
        const char *s;
        int bad;
        size_t at;
    } cases[] = {
        {"plain ascii text, longer than eight bytes", 0, 0},
        {"caf\xC3\xA9 \xE6\x95\xB0 \xF0\x9F\x98\x80", 0, 0},
        {"ab\xC0\xAF", 1, 2},       /* overlong '/' */
        {"abc\xED\xA0\x80", 1, 3},  /* encoded surrogate */
        {"\xF4\x90\x80\x80", 1, 0}, /* above U+10FFFF */
        {"12345678\xE6\x95", 1, 8}, /* truncated */
        {"\x80", 1, 0},             /* stray continuation */
        {"\xE0\x9F\xBF", 1, 0},     /* overlong 3-byte */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t at = 99;
        CU_ASSERT_EQUAL(pj_utf8_check(cases[i].s, strlen(cases[i].s), &at), cases[i].bad);
        if (cases[i].bad)
            CU_ASSERT_EQUAL(at, cases[i].at);
    }
}

/* Writes text to a fresh temporary file; returns its path (static buffer). */
static const char *temp_file(const char *text, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_data_XXXXXX");
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, text, len) == (ssize_t)len);
    close(fd);
    return path;
}

/* Lines longer than the 1 MiB read block, crossing block boundaries, load intact. */
static void test_file_long_lines(void)
{
    size_t big = 3u << 20, cap = 3 * big + 8192, len = 0;
    char *text = malloc(cap);
    CU_ASSERT_FATAL(text != NULL);
    for (int i = 0; i < 3; i++) {
        len += (size_t)sprintf(text + len, "{\"prompt\":\"p%d\",\"chosen\":\"", i);
        memset(text + len, 'a' + i, big + (size_t)i * 1000);
        len += big + (size_t)i * 1000;
        len += (size_t)sprintf(text + len, "\",\"rejected\":\"r\"}\r\n");
    }
    const char *path = temp_file(text, len);
    pf_record_set s = {0};
    pf_data_summary sum;
    pf_data_options o;
    pf_data_options_init(&o);
    o.min_examples = 3;
    CU_ASSERT_EQUAL(pf_data_load_file(path, PF_DATA_TRL, &o, &s, &sum), PF_OK);
    CU_ASSERT_EQUAL(sum.bytes, len);
    CU_ASSERT_FATAL(s.n == 3);
    for (int i = 0; i < 3; i++) {
        const char *c = s.items[i].chosen.items[0].content;
        CU_ASSERT_EQUAL(strlen(c), big + (size_t)i * 1000);
        CU_ASSERT(c[0] == 'a' + i && c[strlen(c) - 1] == 'a' + i);
    }
    pf_record_set_free(&s);
    unlink(path);
    free(text);
}

static void test_file_errors(void)
{
    pf_data_summary sum;
    CU_ASSERT_EQUAL(pf_data_validate_file("/nonexistent/x.jsonl", PF_DATA_DPO, NULL, &sum),
                    PF_ERR_USAGE);
    CU_ASSERT_STRING_EQUAL(pf_error_message(),
                           "/nonexistent/x.jsonl: cannot open: No such file or directory");
    CU_ASSERT_EQUAL(pf_data_validate_file("/tmp", PF_DATA_DPO, NULL, &sum), PF_ERR_USAGE);
    CU_ASSERT_STRING_EQUAL(pf_error_message(), "/tmp: is a directory");
    const char *path = temp_file("[1]\n", 4);
    CU_ASSERT_EQUAL(pf_data_validate_file(path, PF_DATA_SFT, NULL, &sum), PF_ERR_DATA);
    CU_ASSERT(sum.errors == 2 && sum.lines == 1 && sum.bytes == 4); /* not-object, too-few */
    unlink(path);
}

static void test_names(void)
{
    pf_data_format f = PF_DATA_DPO;
    CU_ASSERT(pf_data_format_parse("prompts", &f) == PF_OK && f == PF_DATA_PROMPTS);
    CU_ASSERT(pf_data_format_parse("trl", &f) == PF_OK && f == PF_DATA_TRL);
    CU_ASSERT_EQUAL(pf_data_format_parse("csv", &f), PF_ERR_USAGE);
    CU_ASSERT_STRING_EQUAL(pf_data_format_name(PF_DATA_SFT), "sft");
    CU_ASSERT_STRING_EQUAL(pf_role_name(PF_ROLE_DEVELOPER), "developer");
    for (int i = 0; i < pf_data_rule_count(); i++)
        CU_ASSERT(strlen(pf_data_rule_summary(i)) > 10);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"dpo with tools", test_dpo_with_tools},
        {"dpo older names, reason", test_dpo_older_names_and_reason},
        {"sft weights", test_sft_weights},
        {"prompts item", test_prompts_item},
        {"trl normalisation", test_trl_normalisation},
        {"failed load is empty", test_failed_load_is_empty},
        {"json strictness", test_json_strictness},
        {"json depth limit", test_json_depth_limit},
        {"json canonical and hash", test_json_canonical_and_hash},
        {"utf8 checker", test_utf8_checker},
        {"file long lines", test_file_long_lines},
        {"file errors", test_file_errors},
        {"names", test_names},
        {NULL, NULL},
    };
    return pf_cunit_run("data_records", cases);
}
