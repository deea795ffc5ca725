/*
 * rules.c: the data module's registries and small shared services: format and role
 * names, the validation rule table (generated from PD_RULES in data_internal.h so the
 * enum, names and docs cannot drift apart), diagnostic formatting, default options,
 * and the bump arena that owns the strings of loaded records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "prefopt/error.h"

static const char *const FORMAT_NAMES[] = {"dpo", "sft", "prompts", "trl"};
_Static_assert(sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0] == PF_DATA_FORMAT_COUNT,
               "one name per data format");

static const char *const ROLE_NAMES[] = {"system", "developer", "user", "assistant", "tool"};
_Static_assert(sizeof ROLE_NAMES / sizeof ROLE_NAMES[0] == PF_ROLE_COUNT, "one name per role");

/* One row of the rule table. */
typedef struct {
    const char *name;
    pf_diag_severity severity;
    const char *summary;
} rule_info;

#define PD_RULE_ROW(id, name, sev, summary) {name, sev, summary},
static const rule_info RULES[] = {PD_RULES(PD_RULE_ROW)};
#undef PD_RULE_ROW
_Static_assert(sizeof RULES / sizeof RULES[0] == PD_RULE_COUNT, "one row per rule");

const char *pf_data_format_name(pf_data_format format)
{
    return (unsigned)format < PF_DATA_FORMAT_COUNT ? FORMAT_NAMES[format] : "?";
}

int pf_data_format_parse(const char *name, pf_data_format *format)
{
    for (int i = 0; i < PF_DATA_FORMAT_COUNT; i++)
        if (strcmp(name, FORMAT_NAMES[i]) == 0) {
            *format = (pf_data_format)i;
            return PF_OK;
        }
    return pf_fail(PF_ERR_USAGE, "unknown data format '%.60s' (expected dpo, sft, prompts or trl)",
                   name);
}

const char *pf_role_name(pf_role role)
{
    return (unsigned)role < PF_ROLE_COUNT ? ROLE_NAMES[role] : "?";
}

int pf_data_rule_count(void) { return PD_RULE_COUNT; }

const char *pf_data_rule_name(int i) { return i >= 0 && i < PD_RULE_COUNT ? RULES[i].name : "?"; }

pf_diag_severity pf_data_rule_severity(int i)
{
    return i >= 0 && i < PD_RULE_COUNT ? RULES[i].severity : PF_DIAG_ERROR;
}

const char *pf_data_rule_summary(int i)
{
    return i >= 0 && i < PD_RULE_COUNT ? RULES[i].summary : "?";
}

char *pf_data_diag_format(const pf_data_diag *diag, char *buf, size_t size)
{
    snprintf(buf, size, "%s:%ld: %s: %s: %s", diag->file, diag->line,
             diag->severity == PF_DIAG_ERROR ? "error" : "warning", diag->rule, diag->detail);
    return buf;
}

void pf_data_options_init(pf_data_options *o)
{
    memset(o, 0, sizeof *o);
    o->min_examples = 10;
    o->max_errors = 50;
    o->max_warnings = 50;
    o->check_duplicates = 1;
}

/* One arena block; allocations are carved from data[] upwards. */
struct pd_chunk {
    pd_chunk *next;
    size_t used, cap;
    _Alignas(8) char data[];
};

void *pd_alloc(pd_chunk **arena, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    pd_chunk *c = *arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        pd_chunk *fresh = malloc(sizeof *fresh + cap);
        if (!fresh)
            return NULL;
        fresh->used = 0;
        fresh->cap = cap;
        if (c && n > 65536) { /* keep filling the current block after a big one */
            fresh->next = c->next;
            c->next = fresh;
        } else {
            fresh->next = c;
            *arena = fresh;
        }
        c = fresh;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *pd_strdup(pd_chunk **arena, const char *s, size_t n)
{
    char *p = pd_alloc(arena, n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void pd_arena_free(pd_chunk *arena)
{
    while (arena) {
        pd_chunk *next = arena->next;
        free(arena);
        arena = next;
    }
}

void pf_record_set_free(pf_record_set *set)
{
    free(set->items);
    pd_arena_free(set->arena);
    memset(set, 0, sizeof *set);
}
