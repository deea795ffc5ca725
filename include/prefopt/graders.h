/*
 * graders.h: programmatic graders (RFT-style rewards): deterministic checks that score
 * one generated sample, given the data row ("item") it answers, in [0, 1].
 *
 * A grader is configured in JSON (docs/graders.md has every key): string_check (eq, ne,
 * like, ilike), json_valid, json_schema (a documented subset), regex (POSIX extended),
 * length (words, characters, bytes or tokens), banned_phrases and multi (a mean, weighted
 * mean, min or max of other graders). String values may hold OpenAI-style templates:
 * {{ sample.output_text }}, {{ sample.tool_calls[N].function.name }} / .arguments and
 * {{ item.FIELD }} (dots and [N] for nested fields). A grader with "requires" is not
 * applicable to an item that lacks one of the listed fields; such a score is reported
 * with *applicable = 0 and is skipped by multi.
 *
 * Specs are checked completely when parsed, and every error names the key, e.g.
 * "style_checks.json: [3].operation: must be one of eq|ne|like|ilike". Regular
 * expressions are compiled once at parse time. Scoring is deterministic and does not
 * change the grader, so one grader may score from several threads; it allocates only
 * for JSON it has to parse (json_schema inputs, the item text) and for templates that
 * splice several values into one string.
 */
#ifndef PREFOPT_GRADERS_H
#define PREFOPT_GRADERS_H

#include <stddef.h>

#include "prefopt/data.h"

struct cJSON;

typedef enum {
    PF_GRADER_STRING_CHECK,
    PF_GRADER_JSON_VALID,
    PF_GRADER_JSON_SCHEMA,
    PF_GRADER_REGEX,
    PF_GRADER_LENGTH,
    PF_GRADER_BANNED_PHRASES,
    PF_GRADER_MULTI,
    PF_GRADER_TYPE_COUNT
} pf_grader_type;

/* "string_check", "json_valid", "json_schema", "regex", "length", "banned_phrases" or
 * "multi"; NULL for an out-of-range value. */
const char *pf_grader_type_name(pf_grader_type type);

/* Counts the tokens of text[0..len) into *n; returns PF_OK or an error status (after
 * pf_fail). Used by length graders with "unit": "tokens". */
typedef int (*pf_grade_token_count_fn)(void *ctx, const char *text, size_t len, size_t *n);

/* One sample to grade. Strings are NUL-terminated UTF-8; NULL reads as "". Tool calls
 * use the data module's type (id may be NULL; arguments is JSON text). */
typedef struct {
    const char *output_text;        /* {{sample.output_text}} */
    const pf_tool_call *tool_calls; /* {{sample.tool_calls[N].function.name|arguments}} */
    size_t n_tool_calls;
    pf_grade_token_count_fn count_tokens; /* length in tokens; may be NULL otherwise */
    void *count_tokens_ctx;
} pf_grade_sample;

/* ---------------------------------------------------------------- samples */

/* A sample built from a generated completion or from output messages, with the memory
 * it needs. Zero-initialise (or pf_grade_completion_init) before first use; reuse it
 * across samples (its buffers are kept) and free it with pf_grade_completion_free. */
typedef struct {
    pf_grade_sample sample; /* the view to pass to the scorers */
    char *text;             /* owned text storage */
    size_t text_cap;
    pf_tool_call *calls; /* owned array; its strings live in text or are borrowed */
    size_t calls_cap;
} pf_grade_completion;

void pf_grade_completion_init(pf_grade_completion *c);
void pf_grade_completion_free(pf_grade_completion *c);

/* Splits a generated assistant completion text[0..len) the way the chat template
 * (chat.h) renders an assistant turn: the content, then tool calls as
 *     <tool_call>\n{"name":NAME,"arguments":ARGS}\n</tool_call>
 * blocks. Everything from the first "<|im_end|>" on is ignored. output_text is the
 * text before the first "<tool_call>" (minus the one newline the template puts before
 * it); each block becomes one tool call, whose arguments are the canonical JSON text of
 * ARGS (or ARGS itself when it is a JSON string, OpenAI style). A block that does not
 * hold such an object, or is not closed, still counts as a call, with name "" and
 * arguments "", so that indices stay those of the generation; text after a block is
 * ignored. The sample's token counter is left NULL. Returns PF_OK, or PF_ERR_RUNTIME
 * when out of memory. */
int pf_grade_completion_split(pf_grade_completion *c, const char *text, size_t len);

/* Builds the sample of output messages (a DPO output, or generated turns): output_text
 * is the content of the last assistant message that has content ("" if none) and
 * tool_calls are the calls of all assistant messages, in order. Strings are borrowed
 * from out, which must outlive the use of c->sample. Returns PF_OK or PF_ERR_RUNTIME. */
int pf_grade_completion_from_messages(pf_grade_completion *c, const pf_messages *out);

/* ---------------------------------------------------------------- graders */

typedef struct pf_grader pf_grader;

/* Parses one grader spec (a JSON object) into *out. where prefixes error messages (e.g.
 * "style_checks.json: [3]"; NULL gives "grader"). Returns PF_OK; PF_ERR_USAGE naming the
 * key for any error in the spec (unknown or missing key, wrong type, bad operation,
 * regex that does not compile, bad template, a multi that names a sibling grader: use
 * pf_grader_set_parse for those); PF_ERR_RUNTIME when out of memory. */
int pf_grader_parse(const struct cJSON *spec, const char *where, pf_grader **out);

/* Frees g and everything it owns (NULL is fine). */
void pf_grader_free(pf_grader *g);

/* The grader's "name". */
const char *pf_grader_name(const pf_grader *g);
pf_grader_type pf_grader_get_type(const pf_grader *g);
/* The "description", or "" when none. */
const char *pf_grader_description(const pf_grader *g);
/* The informational "targets" list: its length, and entry i (NULL when out of range). */
size_t pf_grader_target_count(const pf_grader *g);
const char *pf_grader_target(const pf_grader *g, size_t i);

/* Scores sample against g. item_json is the data row as JSON object text (a prompts
 * record's pf_record.item) or NULL for none. On PF_OK, *applicable is 1 and *score in
 * [0, 1], or *applicable is 0 (a "requires" field or a value a typed key reads is
 * missing, or no sub-grader of a multi applied) and *score is 0. Errors (*score = 0,
 * *applicable = 0): PF_ERR_DATA when item_json is not a JSON object or an item field has
 * the wrong type for its key (the message names the grader and the key);
 * PF_ERR_USAGE for unit "tokens" without sample->count_tokens; PF_ERR_RUNTIME when out
 * of memory; the counter's status when it fails. */
int pf_grader_score(const pf_grader *g, const pf_grade_sample *sample, const char *item_json,
                    double *score, int *applicable);

/* Like pf_grader_score with the item already parsed (item may be NULL). */
int pf_grader_score_item(const pf_grader *g, const pf_grade_sample *sample,
                         const struct cJSON *item, double *score, int *applicable);

/* ---------------------------------------------------------------- sets */

/* The graders of one file, in file order. Zero-initialise before use. */
typedef struct {
    pf_grader **items;
    size_t n;
} pf_grader_set;

/* Parses a JSON array of graders, an object mapping names to graders, or a single
 * grader object (one with a string "type") into set. Names must be unique; a multi may
 * name other graders of the set in "graders" (no cycles). where prefixes errors, which
 * then read "<where>: [i].key" or "<where>: NAME.key". Same statuses as
 * pf_grader_parse; on error set is left empty. */
int pf_grader_set_parse(const struct cJSON *json, const char *where, pf_grader_set *set);

/* Reads and parses the grader file at path (errors are prefixed with path). Returns
 * PF_ERR_USAGE also when the file cannot be read or is not valid JSON. */
int pf_grader_load_file(const char *path, pf_grader_set *set);

/* Frees every grader and empties the set (safe on a zeroed set). */
void pf_grader_set_free(pf_grader_set *set);

/* The index of the grader named name, or -1. */
long pf_grader_set_find(const pf_grader_set *set, const char *name);

/* Scores sample against every grader of the set, parsing item_json once and scoring
 * each grader once (a multi reuses its siblings' scores): scores[i] and applicable[i]
 * for set->items[i], arrays of set->n entries. Same statuses as pf_grader_score; on an
 * error the remaining entries are 0. */
int pf_grader_set_score(const pf_grader_set *set, const pf_grade_sample *sample,
                        const char *item_json, double *scores, int *applicable);

/* Like pf_grader_set_score with the item already parsed (item may be NULL). */
int pf_grader_set_score_item(const pf_grader_set *set, const pf_grade_sample *sample,
                             const struct cJSON *item, double *scores, int *applicable);

#endif
