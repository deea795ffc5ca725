/*
 * metrics.h: RUN_DIR/metrics.h5, the run's metric table (DESIGN.md section 4).
 *
 * Layout: /metrics/step (int64, 1-D) and one float64 1-D dataset per metric, all of
 * the same length, chunked and extendible. A metric name's '/' separates groups, so
 * "rewards/chosen" is the dataset /metrics/rewards/chosen (h5py: f["metrics/rewards/chosen"]).
 * A metric first logged at a later row gets NaN in the earlier rows; a row without a
 * value for an existing metric gets NaN. The file is opened, appended and closed at each
 * log interval (no lock is held in between), so h5dump or h5py can read it while the run
 * goes on. Only rank 0 calls these.
 */
#ifndef PREFOPT_METRICS_H
#define PREFOPT_METRICS_H

#include <stdint.h>

/* Creates path with an empty table when absent or fresh is set; otherwise keeps it and
 * drops the rows whose step is greater than keep_up_to_step (a resumed run rewrites
 * them). Returns PF_OK or PF_ERR_RUNTIME naming the file. */
int pf_metrics_prepare(const char *path, int fresh, int64_t keep_up_to_step);

/* Appends one row: step and n (name, value) pairs, creating datasets for new names. */
int pf_metrics_append(const char *path, int64_t step, int n, const char *const *names,
                      const double *values);

/* Reads the whole table: *names (n_metrics strings) and *values [rows][n_metrics], with
 * *steps [rows]; everything malloc'ed, freed by pf_metrics_table_free. Columns follow
 * creation order. */
typedef struct {
    int n_metrics;
    int64_t n_rows;
    char **names;
    int64_t *steps;
    double *values;
} pf_metrics_table;

int pf_metrics_read(const char *path, pf_metrics_table *table);
void pf_metrics_table_free(pf_metrics_table *table);

#endif
