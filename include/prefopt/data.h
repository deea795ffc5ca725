/*
 * data.h: JSONL training data: the four formats, their validation rules, and the
 * records the trainer, evaluator and graders consume.
 *
 * Formats (docs/formats.md has the full contract and examples):
 *   dpo      {"input": {"messages", "tools"?, "parallel_tool_calls"?},
 *             "preferred_output": [...], "non_preferred_output": [...], "metadata"?,
 *             "margin"? (a number: the reward-model margin)}
 *            (also the older names preferred_completion / non_preferred_completion)
 *   sft      {"messages": [...], "tools"?, "parallel_tool_calls"?}, assistant "weight" 0|1
 *   prompts  {"messages": [..., last one role user], any other fields for graders}
 *   trl      {"prompt": str|messages, "chosen": str|messages, "rejected": str|messages}
 *
 * Files are read as a stream: one reusable line buffer (it grows to the longest line)
 * and per-line parse state, plus 16 bytes per example for duplicate detection. Every
 * problem is reported as a pf_data_diag, printed by pf_data_diag_format as
 * "FILE:LINE: error: <rule>: <detail>" (or "warning"); rule names are stable (see
 * pf_data_rule_name and the rules table in docs/formats.md). Validation and loading
 * apply exactly the same rules, so data that `prefopt-mpi validate` accepts is data
 * that training accepts, and training refuses bad data with the same messages.
 *
 * Lines may end in LF or CRLF; a UTF-8 byte-order mark before line 1 and blank lines at
 * the end of a file are accepted. A file name "-" reads standard input.
 */
#ifndef PREFOPT_DATA_H
#define PREFOPT_DATA_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- formats, roles */

typedef enum {
    PF_DATA_DPO,
    PF_DATA_SFT,
    PF_DATA_PROMPTS,
    PF_DATA_TRL,
    PF_DATA_FORMAT_COUNT
} pf_data_format;

/* "dpo", "sft", "prompts" or "trl". */
const char *pf_data_format_name(pf_data_format format);

/* Parses a format name; PF_OK, or PF_ERR_USAGE naming the accepted names. */
int pf_data_format_parse(const char *name, pf_data_format *format);

typedef enum {
    PF_ROLE_SYSTEM,
    PF_ROLE_DEVELOPER,
    PF_ROLE_USER,
    PF_ROLE_ASSISTANT,
    PF_ROLE_TOOL,
    PF_ROLE_COUNT
} pf_role;

/* "system", "developer", "user", "assistant" or "tool". */
const char *pf_role_name(pf_role role);

/* ---------------------------------------------------------------- records */

/* One assistant tool call. Strings are NUL-terminated UTF-8 without NUL characters. */
typedef struct {
    const char *id;        /* "call_1" */
    const char *name;      /* function name */
    const char *arguments; /* the arguments object as canonical JSON text */
} pf_tool_call;

/* One chat message. */
typedef struct {
    pf_role role;
    const char *content;            /* text; content parts concatenated; "" when absent/null */
    int has_content;                /* 0 when content was absent or null */
    const char *name;               /* the optional participant "name", or NULL */
    const pf_tool_call *tool_calls; /* assistant only */
    int n_tool_calls;
    const char *tool_call_id; /* tool messages: the call answered; NULL otherwise */
    int weight;               /* 1, or 0 for an assistant message with "weight": 0 */
} pf_message;

typedef struct {
    const pf_message *items;
    int n;
} pf_messages;

/* One example, normalised across formats:
 *   dpo      messages = input.messages, chosen/rejected = the two outputs
 *   trl      as dpo; a string prompt becomes one user message, a string chosen or
 *            rejected one assistant message
 *   sft      messages = the conversation; chosen/rejected empty
 *   prompts  messages = the prompt; item = the whole line for graders
 * All pointers stay valid until pf_record_set_free. */
typedef struct {
    long line; /* 1-based line in its file */
    pf_data_format format;
    pf_messages messages;
    pf_messages chosen, rejected;
    const char *tools;       /* tools array as canonical JSON text, or NULL */
    int parallel_tool_calls; /* default 1 */
    const char *metadata;    /* metadata object as canonical JSON text, or NULL */
    const char *reason;      /* metadata.reason when it is a string, else NULL */
    const char *item;        /* prompts: the whole line as canonical JSON; else NULL */
    double margin;           /* dpo / trl: the optional top-level "margin" (0 when absent) */
    int has_margin;          /* 1 when the record carries a numeric "margin" */
} pf_record;

/* The records of one file. Zero-initialise before first use. */
typedef struct {
    pf_record *items;
    size_t n, cap;
    void *arena; /* owns every string and message array of the records */
} pf_record_set;

/* Frees every record and leaves the set empty (safe on a zeroed set). */
void pf_record_set_free(pf_record_set *set);

/* ---------------------------------------------------------------- diagnostics */

typedef enum { PF_DIAG_ERROR, PF_DIAG_WARNING } pf_diag_severity;

/* One reported problem. The strings are only valid during the callback. */
typedef struct {
    const char *file;
    long line; /* 1-based; file-level rules use the last line (1 for an empty file) */
    pf_diag_severity severity;
    const char *rule;   /* stable kebab-case name, e.g. "missing-field" */
    const char *detail; /* what and where, e.g. "input.messages[2]: no \"role\"" */
} pf_data_diag;

/* Receives each problem as it is found. */
typedef void (*pf_data_report_fn)(const pf_data_diag *diag, void *user);

/* Formats "FILE:LINE: error: <rule>: <detail>" (no newline) into buf; returns buf. */
char *pf_data_diag_format(const pf_data_diag *diag, char *buf, size_t size);

/* The rule table: count, name, severity and a one-line description of rule i. */
int pf_data_rule_count(void);
const char *pf_data_rule_name(int i);
pf_diag_severity pf_data_rule_severity(int i);
const char *pf_data_rule_summary(int i);

/* ---------------------------------------------------------------- validation, loading */

typedef struct {
    long min_examples;        /* fewer examples in a file is an error; default 10, 0 = off */
    long max_errors;          /* stop after this many errors; default 50, 0 = no limit */
    long max_warnings;        /* report at most this many warnings (the rest are only
                                 counted); default 50, 0 = no limit */
    int check_duplicates;     /* warn about repeated examples; default 1 */
    pf_data_report_fn report; /* receives every reported problem; may be NULL */
    void *user;               /* passed to report */
} pf_data_options;

/* Fills o with the defaults above. */
void pf_data_options_init(pf_data_options *o);

/* What a validation or load saw. */
typedef struct {
    long lines;    /* lines read (blank ones included) */
    long examples; /* non-blank lines */
    long errors, warnings;
    long warnings_unreported; /* beyond max_warnings */
    int stopped;              /* 1 when max_errors stopped the run early */
    uint64_t bytes;           /* bytes read */
} pf_data_summary;

/* Validates the file at path as format. Problems go to opts->report (opts may be
 * NULL: defaults, no reporting). Returns PF_OK when the file has no errors,
 * PF_ERR_DATA when it has some (the current error message is the first of them,
 * formatted as by pf_data_diag_format), PF_ERR_USAGE when the file cannot be opened or
 * is a directory, PF_ERR_RUNTIME on a read error or out of memory. summary may be
 * NULL; it is filled in every case. */
int pf_data_validate_file(const char *path, pf_data_format format, const pf_data_options *opts,
                          pf_data_summary *summary);

/* Like pf_data_validate_file for an in-memory file named name. */
int pf_data_validate_buffer(const char *name, const char *data, size_t len, pf_data_format format,
                            const pf_data_options *opts, pf_data_summary *summary);

/* Validates and parses the file into out (which must be empty or zeroed). Same rules,
 * reporting and return values as pf_data_validate_file; on any status but PF_OK the
 * set is left empty. */
int pf_data_load_file(const char *path, pf_data_format format, const pf_data_options *opts,
                      pf_record_set *out, pf_data_summary *summary);

/* Like pf_data_load_file for an in-memory file named name. */
int pf_data_load_buffer(const char *name, const char *data, size_t len, pf_data_format format,
                        const pf_data_options *opts, pf_record_set *out, pf_data_summary *summary);

#endif
