/*
 * chat.h: the ChatML chat template: records rendered to flagged text segments.
 *
 * Every message becomes
 *     <|im_start|>ROLE\nCONTENT<|im_end|>\n
 * with "<|im_start|>" and "<|im_end|>" emitted as segments of their own flagged
 * special, so the tokenizer maps each to its single id. Tools (record->tools) are
 * rendered into the system position (appended to a leading system message, or as a
 * new first system message), one canonical JSON object per line inside <tools></tools>;
 * assistant tool calls follow the content as
 *     <tool_call>\n{"name":NAME,"arguments":ARGS}\n</tool_call>
 * with that key order and no insignificant whitespace. docs/formats.md shows complete
 * examples.
 *
 * Segment flags, and how the trainer weighs each segment's tokens:
 *   completion  0: prompt text; 1: text of a completion (a DPO/TRL output, or an SFT
 *               assistant turn's content, <|im_end|> and the newline after it)
 *   loss        1: the tokens count for the loss at full weight (assistant content and
 *               tool calls, with their <|im_end|>); 0: they do not (the newline after
 *               <|im_end|>, headers, tool results, SFT assistant turns with weight 0)
 *   weight = loss ? 1 : (completion ? 0 : prompt_loss_weight)   (SFT)
 *   DPO/RM/PPO sum log-probabilities over segments with loss = 1 only.
 * Adjacent non-special segments with equal role and flags are merged.
 */
#ifndef PREFOPT_CHAT_H
#define PREFOPT_CHAT_H

#include <stddef.h>

#include "prefopt/data.h"

#define PF_CHAT_IM_START "<|im_start|>"
#define PF_CHAT_IM_END   "<|im_end|>"

/* One span of the rendered text. */
typedef struct {
    size_t offset, len; /* bytes of pf_chat.text */
    pf_role role;       /* the message the span belongs to */
    unsigned char completion, loss, special;
} pf_chat_segment;

/* A rendering: the full text and its segments, in order. Zero-initialise (or
 * pf_chat_init) before use; reuse across records with pf_chat_reset. */
typedef struct {
    char *text; /* NUL-terminated; len bytes */
    size_t len, cap;
    pf_chat_segment *segs;
    size_t n, segcap;
} pf_chat;

/* What to render from a record. */
typedef enum {
    PF_CHAT_PROMPT,       /* messages (+ tools) and the assistant header, all prompt */
    PF_CHAT_CHOSEN,       /* the prompt, then the preferred output (dpo, trl) */
    PF_CHAT_REJECTED,     /* the prompt, then the non-preferred output (dpo, trl) */
    PF_CHAT_CONVERSATION, /* every message (+ tools), SFT flags; no trailing header */
} pf_chat_part;

void pf_chat_init(pf_chat *c);

/* Empties c, keeping its memory. */
void pf_chat_reset(pf_chat *c);

void pf_chat_free(pf_chat *c);

/* Resets c and renders part of rec into it. Returns PF_OK; PF_ERR_USAGE when the
 * record has no such part (CHOSEN/REJECTED of a record without outputs);
 * PF_ERR_RUNTIME when out of memory. */
int pf_chat_render(pf_chat *c, const pf_record *rec, pf_chat_part part);

/* Appends the rendering of output messages (a DPO completion following the prompt's
 * assistant header) to c. Same return values as pf_chat_render. */
int pf_chat_append_output(pf_chat *c, const pf_messages *output);

#endif
