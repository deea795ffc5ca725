/*
 * tokenizer_h5.c: a tokenizer as the HDF5 group `tokenizer` (layout in tokenizer_h5.h).
 *
 * The group holds the tokenizer's own text forms (vocab.json, merges.txt and the special
 * token list) as scalar variable-length UTF-8 string datasets, so any HDF5 tool shows
 * them and h5py can write them. Every HDF5 handle opened here is closed on every path;
 * HDF5's automatic error printing is suppressed around calls that may fail, and
 * failures are reported through pf_fail instead.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "prefopt/tokenizer_h5.h"

static const char GROUP[] = "tokenizer";

/* A variable-length UTF-8 string type (close with H5Tclose), or a negative id. */
static hid_t vlen_utf8_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        if (t >= 0)
            H5Tclose(t);
        return -1;
    }
    return t;
}

/* Writes text as a scalar variable-length UTF-8 dataset (attr = 0) or attribute (1). */
static int write_string(hid_t g, const char *name, const char *text, int attr)
{
    hid_t type = vlen_utf8_type(), space = H5Screate(H5S_SCALAR), obj = -1;
    herr_t st = -1;
    if (type >= 0 && space >= 0) {
        if (attr) {
            obj = H5Acreate2(g, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
            st = obj >= 0 ? H5Awrite(obj, type, &text) : -1;
            if (obj >= 0)
                H5Aclose(obj);
        } else {
            obj = H5Dcreate2(g, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            st = obj >= 0 ? H5Dwrite(obj, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &text) : -1;
            if (obj >= 0)
                H5Dclose(obj);
        }
    }
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    return st < 0 ? pf_fail(PF_ERR_RUNTIME, "%s/%s: HDF5 write failed", GROUP, name) : PF_OK;
}

int pf_tokenizer_write_h5(hid_t loc, const pf_tokenizer *tok)
{
    char *vocab = NULL, *merges = NULL, *specials = NULL;
    int rc = pf_tokenizer_to_text(tok, &vocab, &merges, &specials);
    if (rc != PF_OK)
        return rc;
    hid_t g = -1;
    H5E_BEGIN_TRY { g = H5Gcreate2(loc, GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT); }
    H5E_END_TRY;
    if (g < 0)
        rc = pf_fail(PF_ERR_RUNTIME, "%s: cannot create the group (does it exist?)", GROUP);
    if (rc == PF_OK)
        rc = write_string(g, "format", "gpt2-byte-level-bpe", 1);
    if (rc == PF_OK)
        rc = write_string(g, "vocab.json", vocab, 0);
    if (rc == PF_OK)
        rc = write_string(g, "merges.txt", merges, 0);
    if (rc == PF_OK)
        rc = write_string(g, "special_tokens.json", specials, 0);
    if (g >= 0)
        H5Gclose(g);
    free(vocab);
    free(merges);
    free(specials);
    return rc;
}

int pf_tokenizer_h5_present(hid_t loc)
{
    htri_t e = -1;
    H5E_BEGIN_TRY { e = H5Lexists(loc, GROUP, H5P_DEFAULT); }
    H5E_END_TRY;
    return e > 0;
}

/* Reads a variable-length string dataset with file type ftype into a malloc'ed copy. */
static char *read_vlen(hid_t ds, hid_t ftype)
{
    hid_t mtype = H5Tcopy(H5T_C_S1);
    char *p = NULL, *copy = NULL;
    if (mtype >= 0 && H5Tset_size(mtype, H5T_VARIABLE) >= 0 &&
        H5Tset_cset(mtype, H5Tget_cset(ftype)) >= 0 &&
        H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) >= 0 && p) {
        copy = strdup(p);
        H5free_memory(p);
    }
    if (mtype >= 0)
        H5Tclose(mtype);
    return copy;
}

/* Reads a fixed-length string dataset of file type ftype into a malloc'ed copy. */
static char *read_fixed(hid_t ds, hid_t ftype)
{
    size_t size = H5Tget_size(ftype);
    char *buf = size > 0 ? calloc(1, size + 1) : NULL;
    hid_t mtype = H5Tcopy(ftype);
    if (!buf || mtype < 0 || H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(buf);
        buf = NULL;
    }
    if (mtype >= 0)
        H5Tclose(mtype);
    return buf;
}

/* Reads the scalar string dataset g/name into *out (malloc'ed). A missing dataset
 * gives *out = NULL (an error only when required). */
static int read_string(hid_t g, const char *name, int required, char **out)
{
    *out = NULL;
    hid_t ds = -1, ftype = -1, space = -1;
    H5E_BEGIN_TRY
    {
        if (H5Lexists(g, name, H5P_DEFAULT) > 0)
            ds = H5Dopen2(g, name, H5P_DEFAULT);
        ftype = ds >= 0 ? H5Dget_type(ds) : -1;
        space = ds >= 0 ? H5Dget_space(ds) : -1;
        if (ftype >= 0 && space >= 0 && H5Tget_class(ftype) == H5T_STRING &&
            H5Sget_simple_extent_npoints(space) == 1)
            *out = H5Tis_variable_str(ftype) > 0 ? read_vlen(ds, ftype) : read_fixed(ds, ftype);
        if (space >= 0)
            H5Sclose(space);
        if (ftype >= 0)
            H5Tclose(ftype);
        if (ds >= 0)
            H5Dclose(ds);
    }
    H5E_END_TRY;
    if (*out || (ds < 0 && !required))
        return PF_OK;
    if (ds < 0)
        return pf_fail(PF_ERR_USAGE, "%s/%s: missing dataset", GROUP, name);
    return pf_fail(PF_ERR_USAGE, "%s/%s: not a readable scalar string", GROUP, name);
}

/* Marks every token of the JSON array text special. */
static int apply_specials(pf_tokenizer *tok, const char *text)
{
    cJSON *arr = cJSON_Parse(text);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return pf_fail(PF_ERR_USAGE, "%s/special_tokens.json: not a JSON array", GROUP);
    }
    int rc = PF_OK;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr)
    {
        if (rc == PF_OK && !cJSON_IsString(item))
            rc = pf_fail(PF_ERR_USAGE, "%s/special_tokens.json: not a string", GROUP);
        if (rc == PF_OK && (rc = pf_tokenizer_add_special(tok, item->valuestring)) != PF_OK)
            pf_fail_prefix(rc, "%s/special_tokens.json", GROUP);
    }
    cJSON_Delete(arr);
    return rc;
}

/* Reads the three texts of group g and builds the tokenizer. */
static int read_group(hid_t g, pf_tokenizer **out)
{
    char *vocab = NULL, *merges = NULL, *specials = NULL;
    int rc = read_string(g, "vocab.json", 1, &vocab);
    if (rc == PF_OK)
        rc = read_string(g, "merges.txt", 1, &merges);
    if (rc == PF_OK)
        rc = read_string(g, "special_tokens.json", 0, &specials);
    if (rc == PF_OK)
        rc = pf_tokenizer_from_text(vocab, strlen(vocab), merges, strlen(merges), GROUP, out);
    if (rc == PF_OK && specials && (rc = apply_specials(*out, specials)) != PF_OK) {
        pf_tokenizer_free(*out);
        *out = NULL;
    }
    free(vocab);
    free(merges);
    free(specials);
    return rc;
}

int pf_tokenizer_read_h5(hid_t loc, pf_tokenizer **out)
{
    *out = NULL;
    if (!pf_tokenizer_h5_present(loc))
        return pf_fail(PF_ERR_USAGE, "%s: missing group (no tokenizer stored)", GROUP);
    hid_t g = -1;
    H5E_BEGIN_TRY { g = H5Gopen2(loc, GROUP, H5P_DEFAULT); }
    H5E_END_TRY;
    if (g < 0)
        return pf_fail(PF_ERR_USAGE, "%s: not a group", GROUP);
    int rc = read_group(g, out);
    H5Gclose(g);
    return rc;
}
