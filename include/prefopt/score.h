/*
 * score.h: log-probabilities of every example of a dataset under one model,
 * distributed over the ranks and identical on every rank count.
 *
 * Chunk c holds examples [c*chunk, (c+1)*chunk) in dataset order and is computed by
 * rank c % world, so a chunk's shape (and BLAS's bits) depends only on the data; the
 * results travel through an exact slot gather (dist.h). Used for reference log-probs,
 * held-out evaluation during training, and the `eval` command.
 */
#ifndef PREFOPT_SCORE_H
#define PREFOPT_SCORE_H

#include "prefopt/examples.h"
#include "prefopt/model.h"

enum { PF_SCORE_SUM = 0, PF_SCORE_MEAN = 1, PF_SCORE_COUNT = 2, PF_SCORE_FIELDS = 3 };

/* out[(i * n_seq + s) * PF_SCORE_FIELDS + f]: for example i, sequence s, the weighted
 * log-prob sum (f = PF_SCORE_SUM), per-counted-token mean and the counted weight.
 * ws may be NULL (a workspace is made for the call) or one sized for chunk * n_seq rows
 * of the dataset's longest sequence. Collective; every rank gets every value. */
int pf_score_dataset(pf_model *m, pf_workspace *ws, const pf_dataset *ds, int chunk, double *out);

/* Like pf_score_dataset for a model with a value head (a reward model): the fields of
 * example i, sequence s hold its reward, the value head at the sequence's last token
 * (index len - 1), in PF_SCORE_SUM and PF_SCORE_MEAN, and 1 in PF_SCORE_COUNT. Same
 * chunks and exact gather, so the values are identical on every rank count.
 * PF_ERR_USAGE (on every rank) when the model has no value head. */
int pf_score_dataset_values(pf_model *m, pf_workspace *ws, const pf_dataset *ds, int chunk,
                            double *out);

#endif
