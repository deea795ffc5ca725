/*
 * metrics_internal.h: the metrics.h5 table as an open HDF5 object, shared by the
 * writer (metrics.c) and the reader (metrics_read.c). Internal to src/io.
 *
 * Layout (docs/formats.md, "metrics.h5"): "/" carries format="prefopt-metrics" and
 * format_version=1; /metrics holds the int64 dataset "step" and one float64 dataset per
 * metric (a '/' in a metric name is a group level), all 1-D, chunked, extendible and
 * of the same length; the /metrics attribute "columns" (1-D variable-length UTF-8
 * strings) lists the metric names in creation order, which is the column order.
 */
#ifndef PREFOPT_IO_METRICS_INTERNAL_H
#define PREFOPT_IO_METRICS_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>

#define PF_METRICS_FORMAT  "prefopt-metrics"
#define PF_METRICS_VERSION 1

/* An open metrics table. Functions record messages naming the dataset or attribute
 * ("/metrics/loss: ..."), never the file: the public functions prefix that. */
typedef struct {
    hid_t group;       /* /metrics */
    int n_cols;        /* metrics, in creation order */
    char **cols;       /* their names (malloc'ed) */
    int64_t n_rows;    /* length of every dataset */
    int64_t last_step; /* step of the last row (unset when n_rows == 0) */
} pf_mtab;

/* Opens /metrics of file and checks the layout: format attribute (when present),
 * columns attribute, step and every listed column present, 1-D, of the right type
 * class and of one common length. Returns PF_OK or code with a message; on failure
 * nothing stays open. */
int pf_mtab_open(hid_t file, int code, pf_mtab *t);

/* Closes the group and frees the names. */
void pf_mtab_close(pf_mtab *t);

/* Reads all rows of dataset name of the table into buf (n_rows elements of mtype). */
int pf_mtab_read_column(const pf_mtab *t, const char *name, hid_t mtype, void *buf, int code);

#endif
