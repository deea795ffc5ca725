/*
 * test_data_rules.c: one inline JSONL fixture per validation rule, each asserting that
 * exactly one problem is reported, with the exact rule name and line number; plus the
 * file-level behaviour: BOM / CRLF / trailing blank lines accepted, --min-examples,
 * --max-errors, --max-warnings, and the first-error message of a failed run.
 */
#include "cunit_run.h"
#include "datautil.h"
#include "prefopt/error.h"

/* Building blocks of fixture lines (compact JSON). */
#define U    "{\"role\":\"user\",\"content\":\"hi\"}"
#define A(x) "{\"role\":\"assistant\",\"content\":\"" x "\"}"
#define CALL_ARGS(id, args)                                                                        \
    "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"" id "\",\"type\":\"function\","            \
    "\"function\":{\"name\":\"f\",\"arguments\":" args "}}]}"
#define CALL(id)    CALL_ARGS(id, "\"{}\"")
#define TOOL(id, c) "{\"role\":\"tool\",\"tool_call_id\":\"" id "\",\"content\":\"" c "\"}"
#define DPO_IN(in, p, n)                                                                           \
    "{\"input\":{" in "},\"preferred_output\":[" p "],\"non_preferred_output\":[" n "]}"
#define DPO(msgs, p, n) DPO_IN("\"messages\":[" msgs "]", p, n)
#define V1              DPO(U, A("a"), A("b"))
#define V2              DPO(U, A("c"), A("d"))
#define SFT1            "{\"messages\":[" U "," A("x") "]}"
#define PROMPT1         "{\"messages\":[" U "]}"
#define TRL1            "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}"

/* One fixture: text in format f must give exactly one problem: rule at line. */
typedef struct {
    const char *rule;
    pf_data_format f;
    long line;
    long min_examples;
    const char *text;
} rule_case;

static const rule_case CASES[] = {
    {"invalid-json", PF_DATA_DPO, 2, 0, V1 "\n{\"input\": }\n"},
    {"invalid-utf8", PF_DATA_DPO, 2, 0, V1 "\n{\"x\":\"\xff\"}\n"},
    {"invalid-utf8", PF_DATA_DPO, 2, 0, V1 "\n{\"x\":\"\\ud800\"}\n"},
    {"not-object", PF_DATA_DPO, 2, 0, V1 "\n[1,2]\n"},
    {"blank-line", PF_DATA_DPO, 2, 0, V1 "\n\n" V2 "\n"},
    {"empty-file", PF_DATA_DPO, 1, 10, ""},
    {"empty-file", PF_DATA_SFT, 1, 10, "\n \n\n"},
    {"too-few-examples", PF_DATA_DPO, 2, 3, V1 "\n" V2 "\n"},
    {"missing-field", PF_DATA_DPO, 2, 0,
     V1 "\n{\"input\":{\"messages\":[" U "]},\"non_preferred_output\":[" A("b") "]}\n"},
    {"missing-field", PF_DATA_TRL, 2, 0, TRL1 "\n{\"prompt\":\"p\",\"chosen\":\"a\"}\n"},
    {"wrong-type", PF_DATA_DPO, 2, 0,
     V1 "\n{\"input\":\"x\",\"preferred_output\":[" A("a") "],\"non_preferred_output\":[" A(
         "b") "]}\n"},
    {"wrong-type", PF_DATA_TRL, 2, 0,
     TRL1 "\n{\"prompt\":5,\"chosen\":\"a\",\"rejected\":\"b\"}\n"},
    {"conflicting-fields", PF_DATA_DPO, 2, 0,
     V1 "\n{\"input\":{\"messages\":[" U "]},\"preferred_output\":[" A(
         "a") "],\"preferred_completion\":[" A("a") "],\"non_preferred_output\":[" A("b") "]}\n"},
    {"duplicate-key", PF_DATA_DPO, 2, 0,
     V1 "\n{\"input\":{\"messages\":[" U "]},\"input\":{},\"preferred_output\":[" A(
         "a") "],\"non_preferred_output\":[" A("b") "]}\n"},
    {"no-messages", PF_DATA_DPO, 2, 0, V1 "\n" DPO("", A("a"), A("b")) "\n"},
    {"no-messages", PF_DATA_PROMPTS, 2, 0, PROMPT1 "\n{\"answer\":\"42\"}\n"},
    {"output-not-array", PF_DATA_DPO, 2, 0,
     V1 "\n{\"input\":{\"messages\":[" U
        "]},\"preferred_output\":" A("a") ",\"non_preferred_output\":[" A("b") "]}\n"},
    {"output-empty", PF_DATA_DPO, 2, 0, V1 "\n" DPO(U, "", A("b")) "\n"},
    {"output-empty", PF_DATA_TRL, 2, 0,
     TRL1 "\n{\"prompt\":\"p\",\"chosen\":[],\"rejected\":\"b\"}\n"},
    {"output-no-assistant", PF_DATA_DPO, 2, 0,
     V1 "\n" DPO(U "," CALL("c1"), TOOL("c1", "r"), A("b")) "\n"},
    {"output-role", PF_DATA_DPO, 2, 0, V1 "\n" DPO(U, U, A("b")) "\n"},
    {"output-role", PF_DATA_DPO, 2, 0,
     V1 "\n" DPO(U "," CALL("c1"), TOOL("c1", "r") "," A("a"), A("b")) "\n"},
    {"missing-role", PF_DATA_DPO, 2, 0, V1 "\n" DPO("{\"content\":\"hi\"}", A("a"), A("b")) "\n"},
    {"unknown-role", PF_DATA_DPO, 2, 0,
     V1 "\n" DPO("{\"role\":\"function\",\"content\":\"hi\"}", A("a"), A("b")) "\n"},
    {"content-type", PF_DATA_DPO, 2, 0,
     V1 "\n" DPO("{\"role\":\"user\",\"content\":5}", A("a"), A("b")) "\n"},
    {"content-type", PF_DATA_DPO, 2, 0,
     V1 "\n" DPO("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}",
                 A("a"), A("b")) "\n"},
    {"missing-content", PF_DATA_DPO, 2, 0, V1 "\n" DPO("{\"role\":\"user\"}", A("a"), A("b")) "\n"},
    {"nul-char", PF_DATA_DPO, 2, 0,
     V1 "\n" DPO("{\"role\":\"user\",\"content\":\"a\\u0000b\"}", A("a"), A("b")) "\n"},
    {"bad-tool-call", PF_DATA_DPO, 2, 0,
     V1
     "\n" DPO(U, "{\"role\":\"assistant\",\"content\":\"x\",\"tool_calls\":\"f\"}", A("b")) "\n"},
    {"tool-arguments-type", PF_DATA_DPO, 2, 0, V1 "\n" DPO(U, CALL_ARGS("c1", "{}"), A("b")) "\n"},
    {"tool-arguments-json", PF_DATA_DPO, 2, 0,
     V1 "\n" DPO(U, CALL_ARGS("c1", "\"{oops\""), A("b")) "\n"},
    {"tool-call-id-missing", PF_DATA_DPO, 2, 0,
     V1 "\n" DPO(U, CALL("c1") ",{\"role\":\"tool\",\"content\":\"r\"}," A("a"), A("b")) "\n"},
    {"tool-call-id-unknown", PF_DATA_DPO, 2, 0,
     V1 "\n" DPO(U, CALL("c1") "," TOOL("c2", "r") "," A("a"), A("b")) "\n"},
    {"bad-tool", PF_DATA_DPO, 2, 0,
     V1
     "\n" DPO_IN("\"messages\":[" U "],\"tools\":[{\"type\":\"function\"}]", A("a"), A("b")) "\n"},
    {"weight-role", PF_DATA_SFT, 2, 0,
     SFT1 "\n{\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"weight\":0}," A("x") "]}\n"},
    {"weight-value", PF_DATA_SFT, 2, 0,
     SFT1 "\n{\"messages\":[" U ",{\"role\":\"assistant\",\"content\":\"x\",\"weight\":2}]}\n"},
    {"no-assistant", PF_DATA_SFT, 2, 0, SFT1 "\n{\"messages\":[" U "]}\n"},
    {"last-not-user", PF_DATA_PROMPTS, 2, 0, PROMPT1 "\n{\"messages\":[" U "," A("x") "]}\n"},
    {"identical-outputs", PF_DATA_DPO, 2, 0, V1 "\n" DPO(U, A("same"), A("same")) "\n"},
    {"identical-outputs", PF_DATA_TRL, 2, 0,
     TRL1 "\n{\"prompt\":\"p\",\"chosen\":\"s\",\"rejected\":\"s\"}\n"},
    {"unknown-key", PF_DATA_DPO, 2, 0,
     V1 "\n{\"input\":{\"messages\":[" U "]},\"preferred_output\":[" A(
         "a") "],\"non_preferred_output\":[" A("b") "],\"extra\":1}\n"},
    {"duplicate-example", PF_DATA_DPO, 2, 0, /* line 2 is line 1 with whitespace and CRLF */
     V1 "\n{ \"input\" : { \"messages\" : [ " U " ] } , \"preferred_output\" : [ " A(
         "a") " ] , \"non_preferred_output\" : [ " A("b") " ] }\r\n"},
    {"all-weights-zero", PF_DATA_SFT, 2, 0,
     SFT1 "\n{\"messages\":[" U ",{\"role\":\"assistant\",\"content\":\"x\",\"weight\":0}]}\n"},
    {"unknown-function", PF_DATA_DPO, 2, 0,
     V1 "\n" DPO_IN("\"messages\":[" U "],\"tools\":[{\"type\":\"function\",\"function\":{"
                    "\"name\":\"g\"}}]",
                    CALL("c1") "," TOOL("c1", "r") "," A("a"), A("b")) "\n"},
};
enum { N_CASES = sizeof CASES / sizeof CASES[0] };

/* Runs every fixture. */
static void test_each_rule_fixture(void)
{
    for (int i = 0; i < N_CASES; i++) {
        const rule_case *c = &CASES[i];
        du_diags d;
        pf_data_summary sum;
        int rc = du_validate(c->text, c->f, c->min_examples, &d, &sum);
        int ok = d.n == 1 && strcmp(d.rule[0], c->rule) == 0 && d.line[0] == c->line;
        if (!ok) {
            printf("\n  case %d (%s): %d problems", i, c->rule, d.n);
            for (int k = 0; k < d.n; k++)
                printf("\n    %s", d.text[k]);
        }
        CU_ASSERT(ok);
        CU_ASSERT(rc == (d.n == 1 && d.error[0] ? PF_ERR_DATA : PF_OK));
    }
}

/* Every rule of the registry has at least one fixture. */
static void test_every_rule_has_a_fixture(void)
{
    CU_ASSERT(pf_data_rule_count() >= 30);
    for (int r = 0; r < pf_data_rule_count(); r++) {
        int found = 0;
        for (int i = 0; i < N_CASES; i++)
            found |= strcmp(CASES[i].rule, pf_data_rule_name(r)) == 0;
        if (!found)
            printf("\n  no fixture for rule %s", pf_data_rule_name(r));
        CU_ASSERT(found);
    }
}

/* Exact detail text of a few rules (the message users see). */
static void test_messages_are_exact(void)
{
    du_diags d;
    pf_data_summary sum;
    du_validate(V1 "\n{\"input\": }\n", PF_DATA_DPO, 0, &d, &sum);
    CU_ASSERT_STRING_EQUAL(d.text[0], "t.jsonl:2: error: invalid-json: unexpected '}', expected a "
                                      "JSON value at column 11");
    du_validate(V1 "\n" DPO(U "," CALL("c1"), TOOL("c1", "r") "," A("a"), A("b")) "\n", PF_DATA_DPO,
                0, &d, &sum);
    CU_ASSERT_STRING_EQUAL(d.text[0], "t.jsonl:2: error: output-role: preferred_output[0]: an "
                                      "output must start with an assistant message");
    du_validate(V1 "\n" DPO(U, CALL_ARGS("c1", "\"{oops\""), A("b")) "\n", PF_DATA_DPO, 0, &d,
                &sum);
    CU_ASSERT_STRING_EQUAL(d.text[0], "t.jsonl:2: error: tool-arguments-json: preferred_output[0]."
                                      "tool_calls[0].function.arguments: not JSON: unexpected 'o', "
                                      "expected a string key at column 2");
    du_validate(V1 "\n" V2 "\n", PF_DATA_DPO, 3, &d, &sum);
    CU_ASSERT_STRING_EQUAL(d.text[0],
                           "t.jsonl:2: error: too-few-examples: 2 examples, at least 3 required");
}

/* A BOM, CRLF line ends and trailing blank lines are accepted. */
static void test_bom_crlf_trailing_blank(void)
{
    du_diags d;
    pf_data_summary sum;
    int rc = du_validate("\xEF\xBB\xBF" V1 "\r\n" V2 "\r\n\r\n  \n\n", PF_DATA_DPO, 2, &d, &sum);
    CU_ASSERT_EQUAL(rc, PF_OK);
    CU_ASSERT_EQUAL(d.n, 0);
    CU_ASSERT_EQUAL(sum.examples, 2);
    CU_ASSERT_EQUAL(sum.lines, 5);
    rc = du_validate(V1 "\n" V2, PF_DATA_DPO, 2, &d, &sum); /* no final newline */
    CU_ASSERT_EQUAL(rc, PF_OK);
    CU_ASSERT_EQUAL(sum.examples, 2);
    rc = du_validate(V1 "\n\xEF\xBB\xBF" V2 "\n", PF_DATA_DPO, 0, &d, &sum); /* BOM on line 2 */
    CU_ASSERT_EQUAL(rc, PF_ERR_DATA);
    CU_ASSERT(d.n == 1 && strcmp(d.rule[0], "invalid-json") == 0 && d.line[0] == 2);
}

/* --min-examples: default 10 (the platform minimum), configurable, 0 turns it off. */
static void test_min_examples(void)
{
    char text[4096] = "";
    du_diags d;
    pf_data_summary sum;
    for (int i = 0; i < 9; i++) {
        char line[256];
        snprintf(line, sizeof line, "{\"prompt\":\"p%d\",\"chosen\":\"a\",\"rejected\":\"b\"}\n",
                 i);
        strcat(text, line);
    }
    pf_data_options o = du_options(&d, 10);
    CU_ASSERT_EQUAL(pf_data_validate_buffer("t.jsonl", text, strlen(text), PF_DATA_TRL, NULL, &sum),
                    PF_ERR_DATA); /* NULL options: the default minimum of 10 */
    CU_ASSERT_EQUAL(pf_data_validate_buffer("t.jsonl", text, strlen(text), PF_DATA_TRL, &o, &sum),
                    PF_ERR_DATA);
    CU_ASSERT(d.n == 1 && strcmp(d.rule[0], "too-few-examples") == 0 && d.line[0] == 9);
    CU_ASSERT_EQUAL(du_validate(text, PF_DATA_TRL, 9, &d, &sum), PF_OK);
    CU_ASSERT_EQUAL(du_validate(text, PF_DATA_TRL, 0, &d, &sum), PF_OK);
    CU_ASSERT_EQUAL(d.n, 0);
}

/* --max-errors stops the run after N errors; --max-warnings only limits reporting. */
static void test_max_errors_and_warnings(void)
{
    const char *bad = "[1]\n[2]\n[3]\n[4]\n[5]\n";
    du_diags d;
    pf_data_summary sum;
    pf_data_options o = du_options(&d, 0);
    o.max_errors = 2;
    CU_ASSERT_EQUAL(pf_data_validate_buffer("t.jsonl", bad, strlen(bad), PF_DATA_DPO, &o, &sum),
                    PF_ERR_DATA);
    CU_ASSERT_EQUAL(d.n, 2);
    CU_ASSERT_EQUAL(sum.errors, 2);
    CU_ASSERT_EQUAL(sum.stopped, 1);
    CU_ASSERT_EQUAL(d.line[1], 2);
    o = du_options(&d, 0);
    o.max_errors = 0;
    pf_data_validate_buffer("t.jsonl", bad, strlen(bad), PF_DATA_DPO, &o, &sum);
    CU_ASSERT(d.n == 5 && sum.errors == 5 && sum.stopped == 0);
    const char *warn = V1 "\n" V1 "\n" V1 "\n" V1 "\n";
    o = du_options(&d, 0);
    o.max_warnings = 2;
    CU_ASSERT_EQUAL(pf_data_validate_buffer("t.jsonl", warn, strlen(warn), PF_DATA_DPO, &o, &sum),
                    PF_OK);
    CU_ASSERT(d.n == 2 && sum.warnings == 3 && sum.warnings_unreported == 1);
    CU_ASSERT_STRING_EQUAL(d.text[0], "t.jsonl:2: warning: duplicate-example: repeats the "
                                      "example on line 1");
}

/* A failed run's error message is its first problem, formatted as printed. */
static void test_first_error_message(void)
{
    du_diags d;
    pf_data_summary sum;
    CU_ASSERT_EQUAL(du_validate(V1 "\n[1]\n" DPO(U, "", A("b")) "\n", PF_DATA_DPO, 0, &d, &sum),
                    PF_ERR_DATA);
    CU_ASSERT_EQUAL(d.n, 2);
    CU_ASSERT_STRING_EQUAL(pf_error_message(), "t.jsonl:2: error: not-object: expected a JSON "
                                               "object, got array");
    CU_ASSERT_STRING_EQUAL(d.text[1], "t.jsonl:3: error: output-empty: preferred_output is an "
                                      "empty array");
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"each rule fixture", test_each_rule_fixture},
        {"every rule has a fixture", test_every_rule_has_a_fixture},
        {"messages are exact", test_messages_are_exact},
        {"BOM, CRLF, trailing blank lines", test_bom_crlf_trailing_blank},
        {"min examples", test_min_examples},
        {"max errors and warnings", test_max_errors_and_warnings},
        {"first error message", test_first_error_message},
        {NULL, NULL},
    };
    return pf_cunit_run("data_rules", cases);
}
