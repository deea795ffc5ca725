/*
 * data_prep.h: from a JSONL file to tokenized examples: validation (the same rules and
 * messages as `prefopt-mpi validate`), the chat template, the tokenizer, loss weights
 * and truncation (docs/formats.md).
 */
#ifndef PREFOPT_DATA_PREP_H
#define PREFOPT_DATA_PREP_H

#include "prefopt/config.h"
#include "prefopt/data.h"
#include "prefopt/examples.h"
#include "prefopt/tokenizer.h"

/* Loads the tokenizer named by the config (model.tokenizer.vocab / .merges), or the one
 * stored in the checkpoint model.init names. */
int pf_prep_tokenizer(const pf_config *cfg, pf_tokenizer **out);

/* Reads path (format from cfg->data_format, or from the algorithm when "auto"),
 * validates it, renders and tokenizes every record into ds with n_seq sequences per
 * example (2: preference pairs, 1: SFT conversations). Invalid data gives PF_ERR_DATA
 * with the first "FILE:LINE: error: <rule>: <detail>" message (all of them are printed
 * to stderr by the caller's rank); pairs whose completion truncation empties are dropped
 * and counted in ds->dropped. */
int pf_prep_examples(const pf_config *cfg, const pf_tokenizer *tok, const char *path, int n_seq,
                     pf_dataset *ds);

/* Reads and validates every record of path in format fmt into set (zeroed before),
 * printing each data problem once on rank 0; PF_ERR_DATA with a summary line when the
 * file holds errors. */
int pf_prep_records(const char *path, pf_data_format fmt, pf_record_set *set);

/* Renders the prompt of record rec (its messages and tools, then the assistant header)
 * and tokenizes it exactly as training does; ids are appended to out after clearing. */
int pf_prep_prompt_ids(const pf_tokenizer *tok, const pf_record *rec, pf_token_ids *out);

#endif
