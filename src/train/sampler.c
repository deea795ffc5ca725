/*
 * sampler.c: one token from logits: greedy, temperature and nucleus (top-p) sampling by
 * inverse CDF on one counter-based uniform, plus the token's log-prob and the entropy of
 * the temperature-scaled distribution (see sampler.h for the contract).
 *
 * All arithmetic is in double, in a fixed order, so a draw is a pure function of
 * (logits, settings, u). Unnormalised probabilities p_i = exp(z_i - z_max) with
 * z = logits / T are summed in id order into S. Without truncation (top_p = 1) the token
 * is the first id whose running sum in id order exceeds u * S. With truncation, the
 * nucleus is the shortest prefix of the order (p descending, id ascending) whose running
 * sum reaches top_p * S; the token is the first of that prefix whose running sum exceeds
 * u * (the prefix's mass). To avoid sorting the whole vocabulary, tokens are bucketed by
 * z_max - z_i (buckets of 1/4 nat; a bucket boundary never splits equal probabilities), and
 * only the buckets up to the one where the mass reaches top_p * S, plus one, are sorted;
 * if rounding leaves that prefix short, every token is sorted.
 */
#include "prefopt/sampler.h"

#include <math.h>
#include <stdlib.h>

#include "prefopt/error.h"
#include "prefopt/rng.h"

enum { STREAM_SAMPLE = 0x53414D50 }; /* "SAMP": the purpose tag of sampling draws */
enum { N_BUCKETS = 64, BUCKETS_PER_NAT = 4 };

typedef struct {
    double p;
    int32_t id;
} candidate;

struct pf_sampler {
    int V;
    double *p;       /* [V] exp(z_i - z_max) */
    uint8_t *bucket; /* [V] nucleus bucket of each token */
    candidate *cand; /* [V] nucleus candidates, sorted */
};

int pf_sample_key(uint64_t seed, uint64_t step, uint64_t prompt_index, uint32_t sample_index,
                  uint32_t position, pf_sample_rng *out)
{
    if (step > PF_SAMPLE_MAX_STEP || prompt_index > PF_SAMPLE_MAX_PROMPT_INDEX ||
        sample_index > PF_SAMPLE_MAX_SAMPLE_INDEX || position > PF_SAMPLE_MAX_POSITION)
        return pf_fail(PF_ERR_USAGE,
                       "sampling key: step %llu, prompt %llu, sample %u or position %u exceeds "
                       "its limit (2^32-1, 2^32-1, 65535, 65535)",
                       (unsigned long long)step, (unsigned long long)prompt_index, sample_index,
                       position);
    out->seed = seed;
    out->stream = ((uint64_t)STREAM_SAMPLE << 32) | step;
    out->index = (prompt_index << 32) | ((uint64_t)sample_index << 16) | position;
    return PF_OK;
}

double pf_sample_uniform(const pf_sample_rng *key)
{
    return pf_rng_uniform(key->seed, key->stream, key->index);
}

int pf_sampling_check(const pf_sampling *cfg)
{
    if (!(cfg->temperature >= 0.0f) || isinf(cfg->temperature))
        return pf_fail(PF_ERR_USAGE, "sampling: temperature %g must be finite and >= 0",
                       (double)cfg->temperature);
    if (!(cfg->top_p > 0.0f && cfg->top_p <= 1.0f))
        return pf_fail(PF_ERR_USAGE, "sampling: top_p %g must lie in (0, 1]", (double)cfg->top_p);
    return PF_OK;
}

int pf_sampler_create(int vocab_size, pf_sampler **out)
{
    if (vocab_size < 1)
        return pf_fail(PF_ERR_USAGE, "sampler: vocabulary size %d must be >= 1", vocab_size);
    pf_sampler *s = pf_calloc(sizeof *s, "sampler");
    if (!s)
        return PF_ERR_RUNTIME;
    s->V = vocab_size;
    s->p = pf_calloc(sizeof(double) * (size_t)vocab_size, "sampler scratch");
    s->bucket = pf_calloc((size_t)vocab_size, "sampler scratch");
    s->cand = pf_calloc(sizeof(candidate) * (size_t)vocab_size, "sampler scratch");
    if (!s->p || !s->bucket || !s->cand) {
        pf_sampler_free(s);
        return PF_ERR_RUNTIME;
    }
    *out = s;
    return PF_OK;
}

void pf_sampler_free(pf_sampler *s)
{
    if (!s)
        return;
    pf_free(s->p);
    pf_free(s->bucket);
    pf_free(s->cand);
    pf_free(s);
}

/* The argmax of logits (lowest id on ties); fails on NaN, +inf or no finite value. */
static int scan_logits(const float *logits, int V, int32_t *argmax)
{
    int32_t best = -1;
    for (int i = 0; i < V; i++) {
        float x = logits[i];
        if (isnan(x) || x == INFINITY)
            return pf_fail(PF_ERR_RUNTIME, "sampler: logit %d is %s", i, isnan(x) ? "NaN" : "+inf");
        if (x != -INFINITY && (best < 0 || x > logits[best]))
            best = i;
    }
    if (best < 0)
        return pf_fail(PF_ERR_RUNTIME, "sampler: every logit is -inf");
    *argmax = best;
    return PF_OK;
}

/* Fills s->p and s->bucket for z = logits * inv_t; returns S = sum p (id order) and the
 * log-normaliser and entropy of softmax(z) in *log_z, *entropy. */
static double scaled_probs(pf_sampler *s, const float *logits, double inv_t, double z_max,
                           double *log_z, double *entropy)
{
    double sum = 0.0, dot = 0.0;
    for (int i = 0; i < s->V; i++) {
        double d = z_max - (double)logits[i] * inv_t; /* >= 0; +inf for -inf logits */
        double p = exp(-d);
        s->p[i] = p;
        s->bucket[i] = d < (double)(N_BUCKETS - 1) / BUCKETS_PER_NAT
                           ? (uint8_t)(d * BUCKETS_PER_NAT)
                           : (uint8_t)(N_BUCKETS - 1);
        sum += p;
        if (p > 0.0)
            dot += p * d;
    }
    // cppcheck-suppress invalidFunctionArg ; sum >= 1: the maximum contributes exp(0)
    const double log_sum = log(sum);
    *log_z = z_max + log_sum;
    *entropy = log_sum + dot / sum;
    return sum;
}

/* The first id whose running sum of p in id order exceeds target. */
static int32_t walk_ids(const double *p, int V, double target)
{
    double acc = 0.0;
    int32_t last = 0;
    for (int i = 0; i < V; i++) {
        if (p[i] <= 0.0)
            continue;
        acc += p[i];
        last = i;
        if (acc > target)
            return i;
    }
    return last; /* u * S rounded up to S */
}

/* Orders candidates by probability, descending, then id, ascending. */
static int cmp_candidate(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Sorts the tokens of buckets <= limit with p > 0 into s->cand; returns their count. */
static int collect(pf_sampler *s, int limit)
{
    int n = 0;
    for (int i = 0; i < s->V; i++)
        if (s->bucket[i] <= limit && s->p[i] > 0.0)
            s->cand[n++] = (candidate){s->p[i], i};
    qsort(s->cand, (size_t)n, sizeof *s->cand, cmp_candidate);
    return n;
}

/* Length of the shortest prefix of the n sorted candidates whose mass reaches need
 * (0 when none does); its mass goes to *mass. */
static int nucleus_prefix(const candidate *c, int n, double need, double *mass)
{
    double acc = 0.0;
    for (int j = 0; j < n; j++) {
        acc += c[j].p;
        if (acc >= need) {
            *mass = acc;
            return j + 1;
        }
    }
    *mass = acc;
    return 0;
}

/* Nucleus sampling over s->p (total sum) with uniform u; see the file comment. */
static int32_t sample_nucleus(pf_sampler *s, double sum, double top_p, double u)
{
    double per_bucket[N_BUCKETS] = {0}, need = top_p * sum, acc = 0.0, mass = 0.0;
    for (int i = 0; i < s->V; i++)
        per_bucket[s->bucket[i]] += s->p[i];
    int k = 0;
    for (; k < N_BUCKETS - 1; k++)
        if ((acc += per_bucket[k]) >= need)
            break;
    int limit = k + 1 < N_BUCKETS ? k + 1 : N_BUCKETS - 1;
    int n = collect(s, limit), keep = nucleus_prefix(s->cand, n, need, &mass);
    if (keep == 0 && limit < N_BUCKETS - 1) {
        n = collect(s, N_BUCKETS - 1);
        keep = nucleus_prefix(s->cand, n, need, &mass);
    }
    if (keep == 0) /* rounding: the whole vocabulary falls short of top_p * S */
        keep = n;
    double target = u * mass, run = 0.0;
    for (int j = 0; j < keep; j++)
        if ((run += s->cand[j].p) > target)
            return s->cand[j].id;
    return s->cand[keep - 1].id;
}

int pf_sample_token(pf_sampler *s, const float *logits, const pf_sampling *cfg, double u,
                    pf_sample *out)
{
    int32_t argmax = 0;
    int rc = scan_logits(logits, s->V, &argmax);
    if (rc)
        return rc;
    const int greedy = cfg->temperature == 0.0f;
    const double inv_t = greedy ? 1.0 : 1.0 / (double)cfg->temperature;
    const double z_max = (double)logits[argmax] * inv_t;
    double log_z = 0.0, entropy = 0.0;
    double sum = scaled_probs(s, logits, inv_t, z_max, &log_z, &entropy);
    int32_t tok = argmax;
    if (!greedy && cfg->top_p >= 1.0f)
        tok = walk_ids(s->p, s->V, u * sum);
    else if (!greedy)
        tok = sample_nucleus(s, sum, (double)cfg->top_p, u);
    out->token = tok;
    out->logprob = (double)logits[tok] * inv_t - log_z;
    out->entropy = entropy;
    return PF_OK;
}
