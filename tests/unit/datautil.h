/*
 * datautil.h: helpers shared by the data-module unit tests: a diagnostics collector
 * for pf_data_options.report and a one-call validator of an inline JSONL string.
 */
#ifndef PREFOPT_DATAUTIL_H
#define PREFOPT_DATAUTIL_H

#include <stdio.h>
#include <string.h>

#include "prefopt/data.h"

enum { DU_MAX = 64 };

/* Every diagnostic reported during one run (the first DU_MAX of them). */
typedef struct {
    int n;
    char rule[DU_MAX][32];
    long line[DU_MAX];
    int error[DU_MAX];
    char text[DU_MAX][600];
} du_diags;

/* pf_data_report_fn storing into a du_diags. */
static inline void du_collect(const pf_data_diag *d, void *user)
{
    du_diags *c = user;
    if (c->n >= DU_MAX)
        return;
    snprintf(c->rule[c->n], sizeof c->rule[0], "%s", d->rule);
    c->line[c->n] = d->line;
    c->error[c->n] = d->severity == PF_DIAG_ERROR;
    pf_data_diag_format(d, c->text[c->n], sizeof c->text[0]);
    c->n++;
}

/* Options reporting into c, with min_examples as given. */
static inline pf_data_options du_options(du_diags *c, long min_examples)
{
    pf_data_options o;
    pf_data_options_init(&o);
    o.min_examples = min_examples;
    o.report = du_collect;
    o.user = c;
    memset(c, 0, sizeof *c);
    return o;
}

/* Validates the NUL-terminated JSONL text as file "t.jsonl"; returns the status. */
static inline int du_validate(const char *text, pf_data_format f, long min_examples, du_diags *c,
                              pf_data_summary *sum)
{
    pf_data_options o = du_options(c, min_examples);
    return pf_data_validate_buffer("t.jsonl", text, strlen(text), f, &o, sum);
}

#endif
