/*
 * graders_set.c: grader files: a JSON list of graders, an object {name: grader}, or one
 * grader, parsed into a pf_grader_set whose multi graders may name their siblings.
 *
 * After every grader parsed, names are checked for uniqueness, each grader learns its
 * set and index (the memo key when the whole set is scored), references are resolved
 * to borrowed pointers and a depth-first walk refuses reference cycles. Any error frees
 * the whole set, so a set is either complete or empty.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/graders_internal.h"
#include "prefopt/error.h"

enum { WHERE_MAX = 1024, FILE_MAX = 64 << 20 };

/* Frees every grader and empties the set. */
void pf_grader_set_free(pf_grader_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        pf_grader_free(set->items[i]);
    free(set->items);
    set->items = NULL;
    set->n = 0;
}

/* The index of the grader named name, or -1. */
long pf_grader_set_find(const pf_grader_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->items[i]->name, name) == 0)
            return (long)i;
    return -1;
}

/* Parses the members of json (list, object of named graders, or one grader). */
static int parse_members(const cJSON *json, const char *where, pf_grader_set *set)
{
    char w[WHERE_MAX];
    int single = cJSON_IsObject(json) && cJSON_IsString(cJSON_GetObjectItem(json, "type"));
    if (!cJSON_IsArray(json) && !cJSON_IsObject(json))
        return pf_fail(PF_ERR_USAGE,
                       "%s: must be a list of graders, an object {name: grader} or "
                       "one grader",
                       where);
    size_t n = single ? 1 : (size_t)cJSON_GetArraySize(json);
    set->items = calloc(n ? n : 1, sizeof *set->items);
    if (!set->items)
        return pf_fail(PF_ERR_RUNTIME, "%s: out of memory", where);
    if (single) {
        snprintf(w, sizeof w, "%s: ", where);
        set->n = 1;
        return gr_parse(json, w, NULL, 1, &set->items[0]);
    }
    int rc = PF_OK;
    for (const cJSON *x = json->child; x && rc == PF_OK; x = x->next) {
        if (cJSON_IsArray(json))
            snprintf(w, sizeof w, "%s: [%zu]", where, set->n);
        else
            snprintf(w, sizeof w, "%s: %s", where, x->string);
        rc = gr_parse(x, w, cJSON_IsObject(json) ? x->string : NULL, 1, &set->items[set->n]);
        set->n++;
    }
    return rc;
}

/* Refuses a name used twice; records each grader's set and index. */
static int check_names(pf_grader_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        pf_grader *g = set->items[i];
        long j = pf_grader_set_find(set, g->name);
        if ((size_t)j != i)
            return gr_fail(g, PF_ERR_USAGE, "name", "'%s' is already the name of %s", g->name,
                           set->items[j]->where);
        g->owner = set;
        g->index = i;
    }
    return PF_OK;
}

/* Points every name reference of a multi at its sibling. */
static int resolve_refs(pf_grader_set *set)
{
    char key[64];
    for (size_t i = 0; i < set->n; i++) {
        pf_grader *g = set->items[i];
        for (size_t k = 0; k < g->n_subs; k++) {
            if (!g->subs[k].ref)
                continue;
            long j = pf_grader_set_find(set, g->subs[k].ref);
            snprintf(key, sizeof key, "graders[%zu]", k);
            if (j < 0)
                return gr_fail(g, PF_ERR_USAGE, key, "no grader named '%s' in the file",
                               g->subs[k].ref);
            g->subs[k].g = set->items[j];
        }
    }
    return PF_OK;
}

/* Depth-first walk over references from grader i; state 1 = on the path, 2 = done. */
static int visit(const pf_grader_set *set, size_t i, unsigned char *state)
{
    const pf_grader *g = set->items[i];
    state[i] = 1;
    for (size_t k = 0; k < g->n_subs; k++) {
        if (!g->subs[k].ref)
            continue;
        size_t j = g->subs[k].g->index;
        if (state[j] == 1)
            return gr_fail(g, PF_ERR_USAGE, "graders", "reference cycle through '%s'",
                           g->subs[k].ref);
        if (state[j] == 0 && visit(set, j, state) != PF_OK)
            return PF_ERR_USAGE;
    }
    state[i] = 2;
    return PF_OK;
}

/* Refuses reference cycles. */
static int check_cycles(const pf_grader_set *set)
{
    unsigned char *state = calloc(set->n ? set->n : 1, 1);
    int rc = state ? PF_OK : pf_fail(PF_ERR_RUNTIME, "graders: out of memory");
    for (size_t i = 0; i < set->n && rc == PF_OK; i++)
        if (state[i] == 0)
            rc = visit(set, i, state);
    free(state);
    return rc;
}

/* Parses a list / object / single grader into set (see graders.h). */
int pf_grader_set_parse(const cJSON *json, const char *where, pf_grader_set *set)
{
    memset(set, 0, sizeof *set);
    where = where ? where : "graders";
    int rc = parse_members(json, where, set);
    if (rc == PF_OK)
        rc = check_names(set);
    if (rc == PF_OK)
        rc = resolve_refs(set);
    if (rc == PF_OK)
        rc = check_cycles(set);
    if (rc != PF_OK)
        pf_grader_set_free(set);
    return rc;
}

/* Reads the whole file at path into a NUL-terminated buffer. */
static int read_file(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pf_fail(PF_ERR_USAGE, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap && cap < FILE_MAX) {
            char *p = realloc(buf, cap * 2);
            if (!p)
                free(buf);
            buf = p;
            cap *= 2;
        }
    }
    int err = ferror(f) || (buf && n + 1 == cap);
    fclose(f);
    if (!buf || err) {
        free(buf);
        return pf_fail(buf ? PF_ERR_USAGE : PF_ERR_RUNTIME, "%s: %s", path,
                       buf ? "cannot read it (or larger than 64 MiB)" : "out of memory");
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return PF_OK;
}

/* Reads and parses the grader file at path. */
int pf_grader_load_file(const char *path, pf_grader_set *set)
{
    char *text = NULL;
    size_t len = 0;
    memset(set, 0, sizeof *set);
    int rc = read_file(path, &text, &len);
    if (rc != PF_OK)
        return rc;
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (!json) {
        long line = 1, col = 1;
        for (const char *p = text; end && p < end && p < text + len; p++)
            col = *p == '\n' ? (line++, 1) : col + 1;
        rc = pf_fail(PF_ERR_USAGE, "%s:%ld:%ld: not valid JSON", path, line, col);
    } else
        rc = pf_grader_set_parse(json, path, set);
    cJSON_Delete(json);
    free(text);
    return rc;
}
