/*
 * data_internal.h: what the files of src/data share and nobody else sees.
 *
 * The pieces: the rule registry (rules.c), a bump arena owning record strings
 * (rules.c), the per-file run state and its line loop (validate.c, reader.c), and the
 * record checkers (records.c for the top level of each format, messages.c for
 * messages, tool calls and tools). A checker reports through pd_error/pd_warn and
 * keeps going where the rest of the line can still be checked; when building records
 * it also fills them, and the driver keeps a record only if its line had no error.
 */
#ifndef PREFOPT_DATA_INTERNAL_H
#define PREFOPT_DATA_INTERNAL_H

#include <stdint.h>

#include "data/json.h"
#include "prefopt/data.h"

/* ---------------------------------------------------------------- rules */

/* The rule registry: X(id, name, severity, summary). Order is the docs' table order. */
#define PD_RULES(X)                                                                                \
    X(PD_INVALID_JSON, "invalid-json", PF_DIAG_ERROR, "the line is not valid JSON")                \
    X(PD_INVALID_UTF8, "invalid-utf8", PF_DIAG_ERROR,                                              \
      "the line is not valid UTF-8 (or a \\u escape names a lone surrogate)")                      \
    X(PD_NOT_OBJECT, "not-object", PF_DIAG_ERROR, "the line is JSON but not an object")            \
    X(PD_BLANK_LINE, "blank-line", PF_DIAG_ERROR, "a blank line before more data")                 \
    X(PD_EMPTY_FILE, "empty-file", PF_DIAG_ERROR, "the file holds no example")                     \
    X(PD_TOO_FEW, "too-few-examples", PF_DIAG_ERROR, "fewer examples than --min-examples")         \
    X(PD_MISSING_FIELD, "missing-field", PF_DIAG_ERROR, "a required field is missing")             \
    X(PD_WRONG_TYPE, "wrong-type", PF_DIAG_ERROR, "a field has the wrong JSON type")               \
    X(PD_CONFLICT, "conflicting-fields", PF_DIAG_ERROR,                                            \
      "a field is given under both its current and its older name")                                \
    X(PD_DUP_KEY, "duplicate-key", PF_DIAG_ERROR, "an object names the same key twice")            \
    X(PD_NO_MESSAGES, "no-messages", PF_DIAG_ERROR,                                                \
      "the prompt messages (input.messages, messages or prompt) are missing or empty")             \
    X(PD_OUTPUT_NOT_ARRAY, "output-not-array", PF_DIAG_ERROR,                                      \
      "a preferred/non-preferred output is not an array")                                          \
    X(PD_OUTPUT_EMPTY, "output-empty", PF_DIAG_ERROR, "an output is an empty array")               \
    X(PD_OUTPUT_NO_ASSISTANT, "output-no-assistant", PF_DIAG_ERROR,                                \
      "an output holds no assistant message")                                                      \
    X(PD_OUTPUT_ROLE, "output-role", PF_DIAG_ERROR,                                                \
      "an output holds a role other than assistant/tool, or starts with a tool message")           \
    X(PD_MISSING_ROLE, "missing-role", PF_DIAG_ERROR, "a message has no role")                     \
    X(PD_UNKNOWN_ROLE, "unknown-role", PF_DIAG_ERROR,                                              \
      "a role is not system, developer, user, assistant or tool")                                  \
    X(PD_CONTENT_TYPE, "content-type", PF_DIAG_ERROR,                                              \
      "content is neither a string, null nor an array of text parts")                              \
    X(PD_MISSING_CONTENT, "missing-content", PF_DIAG_ERROR,                                        \
      "content is missing or null where the role requires it")                                     \
    X(PD_NUL_CHAR, "nul-char", PF_DIAG_ERROR, "a text holds the character U+0000")                 \
    X(PD_BAD_TOOL_CALL, "bad-tool-call", PF_DIAG_ERROR,                                            \
      "tool_calls is malformed (not an array of {id, type: \"function\", function: {name, "        \
      "arguments}}, a duplicate id, or on a non-assistant message)")                               \
    X(PD_ARGS_TYPE, "tool-arguments-type", PF_DIAG_ERROR,                                          \
      "function.arguments of a tool call is not a string")                                         \
    X(PD_ARGS_JSON, "tool-arguments-json", PF_DIAG_ERROR,                                          \
      "function.arguments does not hold a JSON object")                                            \
    X(PD_CALL_ID_MISSING, "tool-call-id-missing", PF_DIAG_ERROR,                                   \
      "a tool message has no tool_call_id")                                                        \
    X(PD_CALL_ID_UNKNOWN, "tool-call-id-unknown", PF_DIAG_ERROR,                                   \
      "a tool message answers no earlier tool call of its conversation")                           \
    X(PD_BAD_TOOL, "bad-tool", PF_DIAG_ERROR,                                                      \
      "a tools entry is not {type: \"function\", function: {name, ...}}")                          \
    X(PD_WEIGHT_ROLE, "weight-role", PF_DIAG_ERROR, "weight on a non-assistant message")           \
    X(PD_WEIGHT_VALUE, "weight-value", PF_DIAG_ERROR, "weight is not 0 or 1")                      \
    X(PD_NO_ASSISTANT, "no-assistant", PF_DIAG_ERROR, "an sft example has no assistant message")   \
    X(PD_LAST_NOT_USER, "last-not-user", PF_DIAG_ERROR,                                            \
      "the last message of a prompts example is not from the user")                                \
    X(PD_IDENTICAL, "identical-outputs", PF_DIAG_WARNING,                                          \
      "the preferred and non-preferred outputs are identical")                                     \
    X(PD_UNKNOWN_KEY, "unknown-key", PF_DIAG_WARNING, "a key the format does not use")             \
    X(PD_DUPLICATE, "duplicate-example", PF_DIAG_WARNING,                                          \
      "the line repeats an earlier example (same tokens, whitespace aside)")                       \
    X(PD_ALL_WEIGHTS_ZERO, "all-weights-zero", PF_DIAG_WARNING,                                    \
      "every assistant message of an sft example has weight 0")                                    \
    X(PD_UNKNOWN_FUNCTION, "unknown-function", PF_DIAG_WARNING,                                    \
      "a tool call names a function absent from the example's tools")

#define PD_RULE_ENUM(id, name, sev, summary) id,
typedef enum { PD_RULES(PD_RULE_ENUM) PD_RULE_COUNT } pd_rule;
#undef PD_RULE_ENUM

/* ---------------------------------------------------------------- arena */

typedef struct pd_chunk pd_chunk;

/* Returns n zeroed bytes (8-byte aligned) owned by *arena, or NULL when out of memory. */
void *pd_alloc(pd_chunk **arena, size_t n);

/* Copies s[0..n) plus a NUL into *arena; NULL when out of memory. */
char *pd_strdup(pd_chunk **arena, const char *s, size_t n);

/* Frees every chunk of the arena. */
void pd_arena_free(pd_chunk *arena);

/* ---------------------------------------------------------------- per-file run */

/* A growable array of node indices into the current line's document. */
typedef struct {
    uint32_t *v;
    uint32_t n, cap;
} pd_nodes;

/* Duplicate detection: an open-addressing set of (hash, line). */
typedef struct {
    uint64_t *slots; /* pairs: hash (0 = empty), line */
    size_t cap, n;
} pd_dupset;

/* The state of one validation or load of one file. */
typedef struct {
    const char *file;
    pf_data_format format;
    pf_data_options opt;
    pf_data_summary sum;
    int have_first_error;
    pj_doc doc;  /* the current line */
    pj_doc args; /* a tool call's arguments */
    pj_buf buf;  /* canonical JSON text workspace */
    pd_nodes call_ids, tool_names;
    pd_dupset dups;
    pf_record_set *out; /* NULL when only validating */
    long line;          /* the line being checked */
    int line_errors;    /* errors reported for it */
    int oom;            /* an allocation failed */
} pd_run;

/* Reports an error of rule on the current line (printf-style detail). */
void pd_error(pd_run *r, pd_rule rule, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reports a warning of rule on the current line. */
void pd_warn(pd_run *r, pd_rule rule, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reports a problem at an explicit line (file-level rules). */
void pd_report_at(pd_run *r, long line, pd_rule rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends node index i; 0 or -1 (out of memory, also sets r->oom). */
int pd_nodes_push(pd_run *r, pd_nodes *a, uint32_t i);

/* ---------------------------------------------------------------- checkers */

/* Checks the parsed line r->doc against r->format; when r->out is set and the line has
 * no error, fills *rec (allocated by the caller in the set's arena). */
void pd_check_record(pd_run *r, pf_record *rec);

/* Where a message list sits: its path for messages ("input.messages") and whether it is
 * a preferred/non-preferred output (roles assistant/tool only). */
typedef struct {
    const char *path;
    int is_output;
} pd_list_kind;

/* Checks message array node arr (a JSON array) and, when out is non-NULL, builds it.
 * Tool call ids seen are appended to r->call_ids (the caller trims them). Returns the
 * number of assistant messages, or -1 when there is none but some message's role was
 * already reported as invalid. */
int pd_check_messages(pd_run *r, uint32_t arr, pd_list_kind kind, pf_messages *out);

/* Checks a tools array node; collects function names into r->tool_names. */
void pd_check_tools(pd_run *r, uint32_t tools, const char *path);

/* Builds a pf_messages of one message of role with text node str (a JSON string). */
int pd_single_message(pd_run *r, uint32_t str, pf_role role, const char *path, pf_messages *out);

/* Copies the canonical JSON of subtree i into the output arena (NULL when out of
 * memory, setting r->oom). */
const char *pd_canonical(pd_run *r, uint32_t i);

/* Copies string node i (unescaped) into the output arena; NULL when out of memory. */
const char *pd_copy_str(pd_run *r, uint32_t i);

/* The JSON type name of node i, for messages ("string", "number", ...). */
const char *pd_type_name(const pj_doc *d, uint32_t i);

/* Reports duplicate keys of object obj (at path, or path[idx] when idx >= 0) and
 * every key not in the NULL-terminated list known as unknown-key (unless known is
 * NULL). Returns 0 when no key is duplicated. */
int pd_check_keys(pd_run *r, uint32_t obj, const char *path, int idx, const char *const *known);

/* Allocates n zeroed bytes in the output set's arena; NULL (and r->oom) on failure. */
void *pd_out_alloc(pd_run *r, size_t n);

/* Copies s[0..n) plus a NUL into the output arena; NULL (and r->oom) on failure. */
const char *pd_out_strdup(pd_run *r, const char *s, size_t n);

#endif
