/*
 * validate.c: the per-file driver shared by validation and loading.
 *
 * One pass over the lines: strip a BOM (line 1) and a CR, hold blank lines back until
 * it is known whether data follows them (trailing blank lines are fine), check UTF-8,
 * parse, run the format's record checks, then look the line's token hash up in the
 * duplicate set. Loading is the same pass with record building switched on; a record
 * is kept only if its line had no error, and on any error the set is emptied at the
 * end. Memory: the reader's buffer and the parse state grow to the longest line; the
 * duplicate set holds 16 bytes per example (32 at worst, at its 50% load limit).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "data/reader.h"
#include "prefopt/error.h"

/* Reports rule at line with a formatted detail; counts it and honours the limits. */
static void report_va(pd_run *r, long line, pd_rule rule, const char *fmt, va_list ap)
{
    int is_error = pf_data_rule_severity((int)rule) == PF_DIAG_ERROR;
    if (line == r->line && is_error)
        r->line_errors++;
    if (r->sum.stopped)
        return;
    if (!is_error && r->opt.max_warnings && r->sum.warnings >= r->opt.max_warnings) {
        r->sum.warnings++;
        r->sum.warnings_unreported++;
        return;
    }
    char detail[512], text[1024];
    vsnprintf(detail, sizeof detail, fmt, ap);
    pf_data_diag diag = {r->file, line, is_error ? PF_DIAG_ERROR : PF_DIAG_WARNING,
                         pf_data_rule_name((int)rule), detail};
    if (is_error && !r->have_first_error) {
        pf_fail(PF_ERR_DATA, "%s", pf_data_diag_format(&diag, text, sizeof text));
        r->have_first_error = 1;
    }
    *(is_error ? &r->sum.errors : &r->sum.warnings) += 1;
    if (r->opt.report)
        r->opt.report(&diag, r->opt.user);
    if (is_error && r->opt.max_errors && r->sum.errors >= r->opt.max_errors)
        r->sum.stopped = 1;
}

void pd_report_at(pd_run *r, long line, pd_rule rule, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_va(r, line, rule, fmt, ap);
    va_end(ap);
}

void pd_error(pd_run *r, pd_rule rule, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_va(r, r->line, rule, fmt, ap);
    va_end(ap);
}

void pd_warn(pd_run *r, pd_rule rule, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_va(r, r->line, rule, fmt, ap);
    va_end(ap);
}

int pd_nodes_push(pd_run *r, pd_nodes *a, uint32_t i)
{
    if (a->n == a->cap) {
        uint32_t cap = a->cap ? a->cap * 2 : 16;
        uint32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            r->oom = 1;
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = i;
    return 0;
}

/* ---------------------------------------------------------------- duplicates */

/* Doubles the duplicate set, re-inserting every entry. 0 or -1 (out of memory). */
static int dup_grow(pd_dupset *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    uint64_t *slots = calloc(cap * 2, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t k = 0; k < s->cap; k++) {
        uint64_t h = s->slots[2 * k];
        if (!h)
            continue;
        size_t j = h & (cap - 1);
        while (slots[2 * j])
            j = (j + 1) & (cap - 1);
        slots[2 * j] = h;
        slots[2 * j + 1] = s->slots[2 * k + 1];
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

/* Inserts (h, line); returns the earlier line with hash h, 0 when new, -1 on OOM. */
static long dup_insert(pd_dupset *s, uint64_t h, long line)
{
    if (2 * (s->n + 1) > s->cap && dup_grow(s))
        return -1;
    size_t j = h & (s->cap - 1);
    while (s->slots[2 * j]) {
        if (s->slots[2 * j] == h)
            return (long)s->slots[2 * j + 1];
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[2 * j] = h;
    s->slots[2 * j + 1] = (uint64_t)line;
    s->n++;
    return 0;
}

/* ---------------------------------------------------------------- one line */

/* Whether text[0..len) holds only JSON whitespace. */
static int is_blank(const char *text, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (text[k] != ' ' && text[k] != '\t' && text[k] != '\r')
            return 0;
    return 1;
}

/* UTF-8 check and parse of one line; returns 0 when it parsed, else reports. */
static int parse_line(pd_run *r, const char *text, size_t len, size_t col0)
{
    size_t bad = 0;
    if (pj_utf8_check(text, len, &bad)) {
        pd_error(r, PD_INVALID_UTF8, "invalid byte 0x%02x at column %zu",
                 (unsigned)(unsigned char)text[bad], col0 + bad + 1);
        return -1;
    }
    int rc = pj_parse(&r->doc, text, len);
    if (rc == PJ_ERR_NOMEM)
        r->oom = 1;
    else if (rc == PJ_ERR_UTF8)
        pd_error(r, PD_INVALID_UTF8, "%s at column %zu", r->doc.err_msg, col0 + r->doc.err_pos + 1);
    else if (rc != PJ_OK)
        pd_error(r, PD_INVALID_JSON, "%s at column %zu", r->doc.err_msg, col0 + r->doc.err_pos + 1);
    return rc == PJ_OK ? 0 : -1;
}

/* Appends rec to the output set. */
static void keep_record(pd_run *r, const pf_record *rec)
{
    pf_record_set *s = r->out;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        pf_record *p = realloc(s->items, cap * sizeof *p);
        if (!p) {
            r->oom = 1;
            return;
        }
        s->items = p;
        s->cap = cap;
    }
    s->items[s->n++] = *rec;
}

/* Checks one non-blank line (already stripped of BOM and CR). */
static void check_line(pd_run *r, const char *text, size_t len, size_t col0)
{
    pf_record rec;
    memset(&rec, 0, sizeof rec);
    r->line_errors = 0;
    if (parse_line(r, text, len, col0) != 0)
        return;
    pd_check_record(r, r->out ? &rec : NULL);
    if (r->line_errors || r->oom)
        return;
    if (r->opt.check_duplicates) {
        long first = dup_insert(&r->dups, pj_tree_hash(&r->doc, 0), r->line);
        if (first < 0)
            r->oom = 1;
        else if (first > 0)
            pd_warn(r, PD_DUPLICATE, "repeats the example on line %ld", first);
    }
    if (r->out)
        keep_record(r, &rec);
}

/* Handles one raw line: BOM, CR, blank-line bookkeeping, then the checks. */
static void handle_line(pd_run *r, const char *text, size_t len, long *blank_from)
{
    size_t col0 = 0;
    r->line = ++r->sum.lines;
    if (r->line == 1 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
        col0 = 3;
    }
    if (len > 0 && text[len - 1] == '\r')
        len--;
    if (is_blank(text, len)) {
        if (!*blank_from)
            *blank_from = r->line;
        return;
    }
    for (long b = *blank_from; b && b < r->line && !r->sum.stopped; b++)
        pd_report_at(r, b, PD_BLANK_LINE, "blank line before more data");
    *blank_from = 0;
    r->sum.examples++;
    if (!r->sum.stopped)
        check_line(r, text, len, col0);
}

/* Reports the file-level rules once every line was read. */
static void finish_file(pd_run *r)
{
    if (r->sum.stopped)
        return;
    if (r->sum.examples == 0)
        pd_report_at(r, 1, PD_EMPTY_FILE, "no examples (the file is empty or blank)");
    else if (r->opt.min_examples && r->sum.examples < r->opt.min_examples)
        pd_report_at(r, r->sum.lines, PD_TOO_FEW, "%ld examples, at least %ld required",
                     r->sum.examples, r->opt.min_examples);
}

/* Runs the whole pass over rd. Returns the status described in data.h. */
static int run_pass(pd_run *r, pd_reader *rd)
{
    const char *text = NULL;
    size_t len = 0;
    long blank_from = 0;
    int got = 0, rc = PF_OK;
    pf_error_clear();
    while (!r->sum.stopped && !r->oom && (got = pd_reader_next(rd, r->file, &text, &len)) == 1)
        handle_line(r, text, len, &blank_from);
    r->sum.bytes = rd->bytes;
    if (got < 0)
        rc = PF_ERR_RUNTIME;
    else if (r->oom)
        rc = pf_fail(PF_ERR_RUNTIME, "%s:%ld: out of memory", r->file, r->line);
    else {
        finish_file(r);
        rc = r->sum.errors || r->sum.stopped ? PF_ERR_DATA : PF_OK;
    }
    return rc;
}

/* Sets up a run, performs it over rd and releases everything but the output. */
static int run_file(const char *name, pd_reader *rd, pf_data_format format,
                    const pf_data_options *opts, pf_record_set *out, pf_data_summary *summary)
{
    pd_run r;
    memset(&r, 0, sizeof r);
    r.file = name;
    r.format = format;
    r.out = out;
    if (opts)
        r.opt = *opts;
    else
        pf_data_options_init(&r.opt);
    pj_init(&r.doc);
    pj_init(&r.args);
    int rc = run_pass(&r, rd);
    if (rc != PF_OK && out)
        pf_record_set_free(out);
    pj_free(&r.doc);
    pj_free(&r.args);
    free(r.buf.p);
    free(r.call_ids.v);
    free(r.tool_names.v);
    free(r.dups.slots);
    if (summary)
        *summary = r.sum;
    return rc;
}

/* Opens path and runs the pass over it. */
static int run_path(const char *path, pf_data_format format, const pf_data_options *opts,
                    pf_record_set *out, pf_data_summary *summary)
{
    pd_reader rd;
    if (summary)
        memset(summary, 0, sizeof *summary);
    int rc = pd_reader_open_file(&rd, path);
    if (rc != PF_OK)
        return rc;
    rc = run_file(path, &rd, format, opts, out, summary);
    pd_reader_close(&rd);
    return rc;
}

int pf_data_validate_file(const char *path, pf_data_format format, const pf_data_options *opts,
                          pf_data_summary *summary)
{
    return run_path(path, format, opts, NULL, summary);
}

int pf_data_load_file(const char *path, pf_data_format format, const pf_data_options *opts,
                      pf_record_set *out, pf_data_summary *summary)
{
    return run_path(path, format, opts, out, summary);
}

int pf_data_validate_buffer(const char *name, const char *data, size_t len, pf_data_format format,
                            const pf_data_options *opts, pf_data_summary *summary)
{
    pd_reader rd;
    pd_reader_open_mem(&rd, data, len);
    return run_file(name, &rd, format, opts, NULL, summary);
}

int pf_data_load_buffer(const char *name, const char *data, size_t len, pf_data_format format,
                        const pf_data_options *opts, pf_record_set *out, pf_data_summary *summary)
{
    pd_reader rd;
    pd_reader_open_mem(&rd, data, len);
    return run_file(name, &rd, format, opts, out, summary);
}
