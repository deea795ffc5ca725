/*
 * batch.c: micro-batch assembly. A micro-batch's shape (rows = examples * sequences,
 * T = its longest sequence) depends only on its examples, never on the world size,
 * which keeps BLAS shapes, and therefore bits, identical on every rank count.
 */
#include <string.h>

#include "trainer_internal.h"

int pf_pack_batch(pf_example *const *ex, int n, int n_seq, int32_t *tokens, int32_t *lengths)
{
    int T = 2;
    for (int i = 0; i < n; i++)
        for (int s = 0; s < n_seq; s++)
            T = ex[i]->seq[s].len > T ? ex[i]->seq[s].len : T;
    for (int i = 0; i < n; i++)
        for (int s = 0; s < n_seq; s++) {
            const pf_seq *q = &ex[i]->seq[s];
            int32_t *row = tokens + (size_t)(i * n_seq + s) * T;
            memcpy(row, q->ids, sizeof(int32_t) * (size_t)q->len);
            memset(row + q->len, 0, sizeof(int32_t) * (size_t)(T - q->len));
            lengths[i * n_seq + s] = q->len;
        }
    return T;
}
