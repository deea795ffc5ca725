/*
 * test_chat_template.c: the ChatML renderer against exact expected strings: DPO with
 * tools and tool calls (chosen and rejected), tools without a system message and with
 * parallel_tool_calls false, SFT with weights, prompts, TRL strings; plus the segment
 * invariants (tiling, one marker per special segment) and error cases.
 *
 * Expected strings use a compact dump of the segments: "<p>text" prompt text, "<c>text"
 * completion text that does not count, "<L>text" completion text that counts; markers
 * appear as "<pS>" / "<pE>" (<|im_start|> / <|im_end|>) with the same flag letter.
 */
#include <stdlib.h>

#include "cunit_run.h"
#include "datautil.h"
#include "prefopt/chat.h"
#include "prefopt/error.h"

/* The flag letter of segment g. */
static char code(const pf_chat_segment *g) { return !g->completion ? 'p' : g->loss ? 'L' : 'c'; }

/* Renders the dump of c into a static buffer. */
static const char *dump(const pf_chat *c)
{
    static char out[8192];
    size_t n = 0;
    for (size_t k = 0; k < c->n && n < sizeof out - 64; k++) {
        const pf_chat_segment *g = &c->segs[k];
        if (g->special)
            n += (size_t)snprintf(out + n, sizeof out - n, "<%c%c>", code(g),
                                  c->text[g->offset + 5] == 's' ? 'S' : 'E');
        else
            n += (size_t)snprintf(out + n, sizeof out - n, "<%c>%.*s", code(g), (int)g->len,
                                  c->text + g->offset);
    }
    return out;
}

/* Checks that the segments tile c->text and each special holds one marker. */
static void check_invariants(const pf_chat *c)
{
    size_t at = 0;
    for (size_t k = 0; k < c->n; k++) {
        const pf_chat_segment *g = &c->segs[k];
        CU_ASSERT(g->offset == at && g->len > 0);
        if (g->special)
            CU_ASSERT((g->len == strlen(PF_CHAT_IM_START) &&
                       memcmp(c->text + g->offset, PF_CHAT_IM_START, g->len) == 0) ||
                      (g->len == strlen(PF_CHAT_IM_END) &&
                       memcmp(c->text + g->offset, PF_CHAT_IM_END, g->len) == 0));
        at += g->len;
    }
    CU_ASSERT(at == c->len && strlen(c->text) == c->len);
}

/* Loads one line of format f into s (asserting success). */
static void load1(const char *line, pf_data_format f, pf_record_set *s)
{
    memset(s, 0, sizeof *s);
    pf_data_options o;
    pf_data_options_init(&o);
    o.min_examples = 0;
    int rc = pf_data_load_buffer("t.jsonl", line, strlen(line), f, &o, s, NULL);
    if (rc != PF_OK)
        printf("\n  %s", pf_error_message());
    CU_ASSERT_FATAL(rc == PF_OK && s->n == 1);
}

/* Renders part of s->items[0] and compares its dump with want. */
static void expect(const pf_record_set *s, pf_chat_part part, const char *want)
{
    pf_chat c;
    pf_chat_init(&c);
    CU_ASSERT_FATAL(pf_chat_render(&c, &s->items[0], part) == PF_OK);
    check_invariants(&c);
    const char *got = dump(&c);
    if (strcmp(got, want) != 0)
        printf("\n  got:  %s\n  want: %s\n", got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
    pf_chat_free(&c);
}

#define TOOL_JSON                                                                                  \
    "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":"      \
    "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}"

static const char DPO_TOOLS[] =
    "{\"input\": {\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": "
    "\"user\", \"content\": \"Weather in Paris?\"}], \"tools\": [{\"type\": \"function\", "
    "\"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", "
    "\"properties\": {\"city\": {\"type\": \"string\"}}}}}]}, \"preferred_output\": [{\"role\": "
    "\"assistant\", \"content\": \"Checking.\", \"tool_calls\": [{\"id\": \"call_1\", \"type\": "
    "\"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": "
    "\\\"Paris\\\"}\"}}]}, {\"role\": \"tool\", \"tool_call_id\": \"call_1\", \"content\": "
    "\"21\"}, {\"role\": \"assistant\", \"content\": \"21 C.\"}], \"non_preferred_output\": "
    "[{\"role\": \"assistant\", \"content\": \"No idea.\"}]}\n";

#define DPO_TOOLS_PROMPT                                                                           \
    "<pS><p>system\nBe brief.\n\n# Tools\n<tools>\n" TOOL_JSON "\n</tools><pE><p>\n"               \
    "<pS><p>user\nWeather in Paris?<pE><p>\n<pS><p>assistant\n"

static void test_dpo_tools_chosen(void)
{
    pf_record_set s;
    load1(DPO_TOOLS, PF_DATA_DPO, &s);
    expect(&s, PF_CHAT_CHOSEN,
           DPO_TOOLS_PROMPT "<L>Checking.\n<tool_call>\n{\"name\":\"get_weather\",\"arguments\":"
                            "{\"city\":\"Paris\"}}\n</tool_call><LE><c>\n<cS><c>tool\n21<cE><c>\n"
                            "<cS><c>assistant\n<L>21 C.<LE><c>\n");
    pf_record_set_free(&s);
}

static void test_dpo_tools_rejected_and_prompt(void)
{
    pf_record_set s;
    load1(DPO_TOOLS, PF_DATA_DPO, &s);
    expect(&s, PF_CHAT_REJECTED, DPO_TOOLS_PROMPT "<L>No idea.<LE><c>\n");
    expect(&s, PF_CHAT_PROMPT, DPO_TOOLS_PROMPT);
    pf_chat c;
    pf_chat_init(&c);
    CU_ASSERT_FATAL(pf_chat_render(&c, &s.items[0], PF_CHAT_CHOSEN) == PF_OK);
    CU_ASSERT_STRING_EQUAL(
        c.text, "<|im_start|>system\nBe brief.\n\n# Tools\n<tools>\n" TOOL_JSON
                "\n</tools><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n"
                "<|im_start|>assistant\nChecking.\n<tool_call>\n{\"name\":\"get_weather\","
                "\"arguments\":{\"city\":\"Paris\"}}\n</tool_call><|im_end|>\n<|im_start|>tool\n"
                "21<|im_end|>\n<|im_start|>assistant\n21 C.<|im_end|>\n");
    /* roles: the tool result and its header belong to the tool message */
    int tool_segments = 0;
    for (size_t k = 0; k < c.n; k++)
        tool_segments += c.segs[k].role == PF_ROLE_TOOL;
    CU_ASSERT_EQUAL(tool_segments, 4);
    pf_chat_free(&c);
    pf_record_set_free(&s);
}

static void test_tools_without_system_single_call(void)
{
    pf_record_set s;
    load1("{\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tools\":["
          "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"parallel_tool_calls\":false},"
          "\"preferred_output\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":"
          "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"id\":\"b\",\"type\":"
          "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":[1, 2]}\"}}]}],"
          "\"non_preferred_output\":[{\"role\":\"assistant\",\"content\":\"Hello\"}]}\n",
          PF_DATA_DPO, &s);
    expect(&s, PF_CHAT_CHOSEN,
           "<pS><p>system\n# Tools\n<tools>\n{\"type\":\"function\",\"function\":{\"name\":\"f\"}}"
           "\n</tools>\nCall at most one function per reply.<pE><p>\n<pS><p>user\nHi<pE><p>\n"
           "<pS><p>assistant\n<L><tool_call>\n{\"name\":\"f\",\"arguments\":{}}\n</tool_call>\n"
           "<tool_call>\n{\"name\":\"f\",\"arguments\":{\"x\":[1,2]}}\n</tool_call><LE><c>\n");
    pf_record_set_free(&s);
}

static void test_sft_weights(void)
{
    pf_record_set s;
    load1("{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":"
          "\"U1\"},{\"role\":\"assistant\",\"content\":\"A1\",\"weight\":0},{\"role\":\"user\","
          "\"content\":\"U2\"},{\"role\":\"assistant\",\"content\":\"A2\"}]}\n",
          PF_DATA_SFT, &s);
    expect(&s, PF_CHAT_CONVERSATION,
           "<pS><p>system\nS<pE><p>\n<pS><p>user\nU1<pE><p>\n<pS><p>assistant\n<c>A1<cE><c>\n"
           "<pS><p>user\nU2<pE><p>\n<pS><p>assistant\n<L>A2<LE><c>\n");
    pf_chat c;
    pf_chat_init(&c);
    CU_ASSERT_EQUAL(pf_chat_render(&c, &s.items[0], PF_CHAT_CHOSEN), PF_ERR_USAGE);
    pf_chat_free(&c);
    pf_record_set_free(&s);
}

static void test_prompts_and_trl(void)
{
    pf_record_set s;
    load1("{\"messages\":[{\"role\":\"developer\",\"content\":\"D\"},{\"role\":\"user\","
          "\"content\":\"What is 2+2?\"}],\"answer\":\"4\"}\n",
          PF_DATA_PROMPTS, &s);
    expect(&s, PF_CHAT_PROMPT,
           "<pS><p>developer\nD<pE><p>\n<pS><p>user\nWhat is 2+2?<pE><p>\n<pS><p>assistant\n");
    pf_record_set_free(&s);
    load1("{\"prompt\":\"Hi\",\"chosen\":\"Hello\",\"rejected\":\"Bye\"}\n", PF_DATA_TRL, &s);
    expect(&s, PF_CHAT_CHOSEN, "<pS><p>user\nHi<pE><p>\n<pS><p>assistant\n<L>Hello<LE><c>\n");
    expect(&s, PF_CHAT_REJECTED, "<pS><p>user\nHi<pE><p>\n<pS><p>assistant\n<L>Bye<LE><c>\n");
    pf_record_set_free(&s);
}

/* Rendering is deterministic and a chat object can be reused. */
static void test_reuse(void)
{
    pf_record_set s;
    load1(DPO_TOOLS, PF_DATA_DPO, &s);
    pf_chat c;
    pf_chat_init(&c);
    CU_ASSERT_FATAL(pf_chat_render(&c, &s.items[0], PF_CHAT_CHOSEN) == PF_OK);
    char *first = strdup(c.text);
    size_t n = c.n;
    CU_ASSERT_FATAL(pf_chat_render(&c, &s.items[0], PF_CHAT_REJECTED) == PF_OK);
    CU_ASSERT(c.n < n);
    CU_ASSERT_FATAL(pf_chat_render(&c, &s.items[0], PF_CHAT_CHOSEN) == PF_OK);
    CU_ASSERT_STRING_EQUAL(c.text, first);
    CU_ASSERT_EQUAL(c.n, n);
    pf_messages empty = {NULL, 0};
    CU_ASSERT_EQUAL(pf_chat_append_output(&c, &empty), PF_ERR_USAGE);
    free(first);
    pf_chat_free(&c);
    pf_record_set_free(&s);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"dpo tools chosen", test_dpo_tools_chosen},
        {"dpo tools rejected, prompt, text", test_dpo_tools_rejected_and_prompt},
        {"tools without system, single call", test_tools_without_system_single_call},
        {"sft weights", test_sft_weights},
        {"prompts and trl", test_prompts_and_trl},
        {"reuse", test_reuse},
        {NULL, NULL},
    };
    return pf_cunit_run("chat_template", cases);
}
