/*
 * tokenizer_h5.h: storing a tokenizer in an HDF5 file (a checkpoint's /tokenizer).
 *
 * Layout under the group `tokenizer` of loc (a file or group id):
 *   attribute format = "gpt2-byte-level-bpe" (written; not required when reading)
 *   vocab.json           scalar variable-length UTF-8 string: vocab.json text
 *   merges.txt           scalar variable-length UTF-8 string: merges.txt text
 *   special_tokens.json  scalar variable-length UTF-8 string: JSON array of the special
 *                        tokens (optional when reading: then the defaults of
 *                        pf_tokenizer_load apply)
 * h5py writes the same with f["tokenizer/vocab.json"] = text; readers also accept
 * fixed-length strings. The texts are those of pf_tokenizer_to_text, so a tokenizer
 * read back encodes exactly as the one written.
 */
#ifndef PREFOPT_TOKENIZER_H5_H
#define PREFOPT_TOKENIZER_H5_H

#include <hdf5.h>

#include "prefopt/tokenizer.h"

/* Writes tok as loc/tokenizer (which must not exist). PF_ERR_RUNTIME naming the
 * object on HDF5 failure; PF_ERR_USAGE when tok cannot be written as text. */
int pf_tokenizer_write_h5(hid_t loc, const pf_tokenizer *tok);

/* 1 when loc has a link named "tokenizer", else 0. */
int pf_tokenizer_h5_present(hid_t loc);

/* Reads loc/tokenizer. PF_ERR_USAGE naming the group or dataset when it is missing or
 * malformed (callers prefix the file name). */
int pf_tokenizer_read_h5(hid_t loc, pf_tokenizer **out);

#endif
