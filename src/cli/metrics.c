/*
 * metrics.c: `prefopt-mpi metrics [--csv] RUN_DIR/metrics.h5|RUN_DIR`.
 *
 * Prints a run's metric table (pf_metrics_read): the step and every metric, in the
 * order the run first logged them. The default output is an aligned text table
 * (values as %.6g, a metric missing from a row as "-"); --csv prints a header
 * "step,<names>" and one line per row with exact values (the shortest of %.15g,
 * %.16g and %.17g that reads back identically) and missing values as empty fields.
 * Reading is safe while the run is going: the trainer replaces metrics.h5
 * atomically at each log interval.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "prefopt/error.h"
#include "prefopt/metrics.h"

static const char METRICS_HELP[] =
    "usage: prefopt-mpi metrics [--csv] RUN_DIR/metrics.h5|RUN_DIR\n"
    "\n"
    "Print a run's metric table: one row per logged step, with the step and every\n"
    "metric in the order the run first logged it (loss, rewards/chosen, eval/loss...).\n"
    "A run folder stands for its metrics.h5. The file may be read while the run goes on.\n"
    "\n"
    "  --csv    print CSV instead: a header \"step,<names>\", then one line per row;\n"
    "           values exact (up to 17 significant digits), missing values empty\n"
    "  --help   show this help\n"
    "\n"
    "The default text table prints values as %.6g and a metric missing from a row\n"
    "(not logged at that step, e.g. eval/* between evaluations) as \"-\".\n"
    "\n"
    "Exit codes: 0 ok, 1 output failure, 2 missing or invalid metrics file.\n";

enum { CELL_MAX = 64 };

/* Formats one text-table value: "%.6g", or "-" for NaN (missing). */
static void text_cell(double v, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.6g", v);
}

/* Width of column j (-1: the step column): its header or its widest value. */
static int column_width(const pf_metrics_table *t, int j)
{
    char cell[CELL_MAX];
    int width = j < 0 ? 4 : (int)strlen(t->names[j]);
    for (int64_t r = 0; r < t->n_rows; r++) {
        if (j < 0)
            snprintf(cell, sizeof cell, "%lld", (long long)t->steps[r]);
        else
            text_cell(t->values[r * t->n_metrics + j], cell, sizeof cell);
        int len = (int)strlen(cell);
        width = len > width ? len : width;
    }
    return width;
}

/* Prints the aligned text table (widths: n_metrics + 1 entries, the step's first). */
static void print_text(const pf_metrics_table *t, const int *widths)
{
    char cell[CELL_MAX];
    printf("%*s", widths[0], "step");
    for (int j = 0; j < t->n_metrics; j++)
        printf("  %*s", widths[j + 1], t->names[j]);
    printf("\n");
    for (int64_t r = 0; r < t->n_rows; r++) {
        printf("%*lld", widths[0], (long long)t->steps[r]);
        for (int j = 0; j < t->n_metrics; j++) {
            text_cell(t->values[r * t->n_metrics + j], cell, sizeof cell);
            printf("  %*s", widths[j + 1], cell);
        }
        printf("\n");
    }
}

/* Prints the text table after measuring its columns. */
static int print_table(const pf_metrics_table *t)
{
    int *widths = calloc((size_t)t->n_metrics + 1, sizeof *widths);
    if (!widths)
        return pf_fail(PF_ERR_RUNTIME, "out of memory");
    for (int j = -1; j < t->n_metrics; j++)
        widths[j + 1] = column_width(t, j);
    print_text(t, widths);
    free(widths);
    return PF_OK;
}

/* Prints a CSV field, quoted (RFC 4180) when it holds a comma, quote or line break. */
static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* Prints v with the fewest significant digits (15 to 17) that read back exactly. */
static void print_exact(double v)
{
    char buf[CELL_MAX];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, stdout);
}

/* Prints the table as CSV: header, then rows with exact values and empty NaNs. */
static void print_csv(const pf_metrics_table *t)
{
    fputs("step", stdout);
    for (int j = 0; j < t->n_metrics; j++) {
        putchar(',');
        csv_field(t->names[j]);
    }
    putchar('\n');
    for (int64_t r = 0; r < t->n_rows; r++) {
        printf("%lld", (long long)t->steps[r]);
        for (int j = 0; j < t->n_metrics; j++) {
            double v = t->values[r * t->n_metrics + j];
            putchar(',');
            if (!isnan(v))
                print_exact(v);
        }
        putchar('\n');
    }
}

/* The metrics file for arg: arg itself, or arg/metrics.h5 when arg is a folder. */
static int resolve_path(const char *arg, char *buf, size_t size)
{
    struct stat st;
    int is_dir = stat(arg, &st) == 0 && S_ISDIR(st.st_mode);
    int n = is_dir ? snprintf(buf, size, "%s/metrics.h5", arg) : snprintf(buf, size, "%s", arg);
    if (n < 0 || (size_t)n >= size)
        return pf_fail(PF_ERR_USAGE, "%s: path too long", arg);
    return PF_OK;
}

int pf_cmd_metrics(int argc, char **argv)
{
    int csv = 0;
    char path[4096];
    pf_metrics_table table;
    const pf_cli_opt opts[] = {{"csv", NULL, &csv}, {NULL, NULL, NULL}};
    pf_cli_args args;
    int rc = pf_cli_parse("metrics", argc, argv, opts, 1, &args);
    if (rc != PF_OK)
        return rc;
    if (args.help) {
        fputs(METRICS_HELP, stdout);
        return PF_OK;
    }
    if (args.npos != 1)
        return pf_cli_usage_error("metrics", "expected one metrics file or run folder");
    rc = resolve_path(args.pos[0], path, sizeof path);
    if (rc == PF_OK)
        rc = pf_metrics_read(path, &table);
    if (rc != PF_OK)
        return rc;
    if (csv)
        print_csv(&table);
    else
        rc = print_table(&table);
    pf_metrics_table_free(&table);
    if (rc == PF_OK && (fflush(stdout) != 0 || ferror(stdout)))
        rc = pf_fail(PF_ERR_RUNTIME, "stdout: write failed: %s", strerror(errno));
    return rc;
}
