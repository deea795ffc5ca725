/*
 * schedule.c: learning-rate schedules and the per-epoch example permutation (see
 * schedule.h). The permutation is Fisher-Yates driven by Philox draws keyed by
 * (seed, epoch, position), so any rank can compute any epoch's order independently.
 */
#include "prefopt/schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"
#include "prefopt/rng.h"

enum { STREAM_SHUFFLE = 0x53485546 }; /* "SHUF": the purpose tag of shuffle draws */

double pf_lr_at(const pf_config *cfg, int64_t step, int64_t total_steps)
{
    const double peak = cfg->lr, floor_lr = cfg->lr * cfg->min_lr_ratio;
    const int64_t warm = cfg->warmup_steps;
    if (step < warm)
        return peak * (double)(step + 1) / (double)warm;
    if (strcmp(cfg->schedule, "constant") == 0 || total_steps - warm <= 1)
        return peak;
    double progress = (double)(step - warm) / (double)(total_steps - warm - 1);
    progress = progress > 1.0 ? 1.0 : progress;
    if (strcmp(cfg->schedule, "linear") == 0)
        return floor_lr + (peak - floor_lr) * (1.0 - progress);
    return floor_lr + (peak - floor_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
}

int pf_data_order_init(pf_data_order *o, uint64_t seed, int n)
{
    memset(o, 0, sizeof *o);
    o->seed = seed;
    o->n = n;
    o->epoch = -1;
    o->perm = pf_calloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1), "data order");
    return o->perm ? PF_OK : PF_ERR_RUNTIME;
}

void pf_data_order_free(pf_data_order *o)
{
    pf_free(o->perm);
    o->perm = NULL;
}

/* Builds epoch's permutation into o->perm. */
static void shuffle_epoch(pf_data_order *o, int64_t epoch)
{
    uint64_t stream = ((uint64_t)STREAM_SHUFFLE << 32) ^ (uint64_t)epoch;
    for (int i = 0; i < o->n; i++)
        o->perm[i] = i;
    for (int i = o->n - 1; i > 0; i--) {
        int j = (int)(pf_rng_uniform(o->seed, stream, (uint64_t)i) * (double)(i + 1));
        j = j > i ? i : j;
        int32_t tmp = o->perm[i];
        o->perm[i] = o->perm[j];
        o->perm[j] = tmp;
    }
    o->epoch = epoch;
}

int pf_data_order_at(pf_data_order *o, int64_t pos)
{
    int64_t epoch = pos / o->n;
    if (epoch != o->epoch)
        shuffle_epoch(o, epoch);
    return o->perm[pos % o->n];
}

int64_t pf_total_steps(const pf_config *cfg, int n)
{
    if (cfg->steps > 0)
        return cfg->steps;
    int64_t steps = cfg->epochs * (int64_t)n / cfg->global_batch;
    return steps > 0 ? steps : 1;
}
