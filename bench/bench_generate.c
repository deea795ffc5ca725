/*
 * bench_generate.c: rollout speed of the C model, the loop bench/torch_generate.py times in
 * PyTorch: B prompts of P random tokens, prefill, then N sampled tokens per prompt
 * (temperature 1, top_p 1, no stop ids, so every sequence runs to N), the sampler also
 * computing each token's log-prob and entropy, as PPO rollouts need.
 *
 * Prints one JSON line per (shape, batch): the median over `reps` runs of the whole
 * rollout (pf_generate) and of the prefill alone, rollout tokens/s = B * N / rollout time
 * (prefill included), decode tokens/s = B * (N - 1) / (rollout - prefill) (the first token
 * comes from the prefill's logits), the KV cache's bytes and the peak RSS; also the median
 * process CPU time of a rollout and tokens per CPU second, which stay meaningful when other
 * processes share the cores (wall time then includes time-slicing).
 * Run with OPENBLAS_NUM_THREADS=1 (the prefill's sgemm; decoding uses no BLAS).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "prefopt/error.h"
#include "prefopt/model.h"
#include "prefopt/sampler.h"

typedef struct {
    const char *name;
    int V, D, L, H;
} gen_shape;

static const gen_shape SHAPES[] = {
    {"tiny", 512, 128, 4, 4},
    {"demo", 2048, 192, 4, 6}, /* jobs/configs/sft-demo.json: the PPO / GRPO demos' policy */
    {"small", 8192, 512, 8, 8},
    {"gpt2-124M", 50257, 768, 12, 12},
};
enum { N_SHAPES = sizeof SHAPES / sizeof SHAPES[0], MAX_REPS = 64 };

typedef struct {
    int prompt, new_tokens, reps, warmup;
} gen_opts;

/* Seconds on the given clock (CLOCK_MONOTONIC: wall; CLOCK_PROCESS_CPUTIME_ID: CPU). */
static double clock_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[n / 2];
}

/* Everything one (shape, batch) run needs. */
typedef struct {
    pf_model *m;
    pf_kv_cache *cache;
    int32_t *prompts, *lengths, *tokens, *gen_len;
    uint8_t *finished;
    float *logprobs, *entropies, *logits;
    uint64_t *prompt_index;
} gen_state;

/* Creates the model (GPT-2 init, seed 1), the cache and random prompts. */
static int state_create(gen_state *st, const gen_shape *s, int B, const gen_opts *o)
{
    const int T = o->prompt + o->new_tokens;
    pf_model_config cfg = {.arch = PF_ARCH_GPT2,
                           .n_layer = s->L,
                           .n_head = s->H,
                           .d_model = s->D,
                           .vocab_size = s->V,
                           .max_seq_len = T};
    if (pf_model_create(&cfg, 0, &st->m) || pf_kv_cache_create(st->m, B, T, &st->cache))
        return 1;
    pf_model_init_random(st->m, 1);
    const size_t BN = (size_t)B * (size_t)o->new_tokens;
    st->prompts = malloc(sizeof(int32_t) * (size_t)B * (size_t)o->prompt);
    st->lengths = malloc(sizeof(int32_t) * (size_t)B);
    st->tokens = malloc(sizeof(int32_t) * BN), st->gen_len = malloc(sizeof(int32_t) * (size_t)B);
    st->finished = malloc((size_t)B);
    st->logprobs = malloc(sizeof(float) * BN), st->entropies = malloc(sizeof(float) * BN);
    st->logits = malloc(sizeof(float) * (size_t)B * (size_t)s->V);
    st->prompt_index = malloc(sizeof(uint64_t) * (size_t)B);
    for (size_t i = 0; i < (size_t)B * (size_t)o->prompt; i++)
        st->prompts[i] = (int32_t)((i * 2654435761u) % (unsigned)s->V);
    for (int b = 0; b < B; b++)
        st->lengths[b] = o->prompt, st->prompt_index[b] = (uint64_t)b;
    return 0;
}

static void state_free(gen_state *st)
{
    free(st->prompts), free(st->lengths), free(st->tokens), free(st->gen_len);
    free(st->finished), free(st->logprobs), free(st->entropies), free(st->logits);
    free(st->prompt_index);
    pf_kv_cache_free(st->cache);
    pf_model_free(st->m);
}

/* One rollout; step varies the draws between repetitions. Returns its wall time and
 * stores its CPU time in *cpu. */
static double time_rollout(gen_state *st, int B, const gen_opts *o, uint64_t step, double *cpu)
{
    pf_batch batch = {st->prompts, st->lengths, B, o->prompt};
    pf_generate_config cfg = {
        .max_new_tokens = o->new_tokens, .sampling = {1.0f, 1.0f}, .seed = 42, .step = step};
    pf_generate_out out = {st->tokens, st->gen_len, st->finished, st->logprobs, st->entropies};
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    if (pf_generate(st->m, st->cache, &batch, st->prompt_index, NULL, &cfg, &out)) {
        fprintf(stderr, "bench_generate: %s\n", pf_error_message());
        exit(1);
    }
    *cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    return clock_s(CLOCK_MONOTONIC) - t0;
}

/* One prefill of the prompts; returns its wall time. */
static double time_prefill(gen_state *st, int B, const gen_opts *o)
{
    pf_batch batch = {st->prompts, st->lengths, B, o->prompt};
    double t0 = clock_s(CLOCK_MONOTONIC);
    if (pf_model_prefill(st->m, st->cache, &batch, st->logits)) {
        fprintf(stderr, "bench_generate: %s\n", pf_error_message());
        exit(1);
    }
    return clock_s(CLOCK_MONOTONIC) - t0;
}

static int bench(const gen_shape *s, int B, const gen_opts *o)
{
    gen_state st = {0};
    if (state_create(&st, s, B, o)) {
        fprintf(stderr, "bench_generate: %s\n", pf_error_message());
        state_free(&st);
        return 1;
    }
    double roll[MAX_REPS] = {0}, pre[MAX_REPS] = {0}, cpu[MAX_REPS] = {0};
    for (int r = 0; r < o->warmup; r++)
        time_rollout(&st, B, o, (uint64_t)r, &cpu[0]);
    for (int r = 0; r < o->reps; r++) {
        roll[r] = time_rollout(&st, B, o, (uint64_t)(o->warmup + r), &cpu[r]);
        pre[r] = time_prefill(&st, B, o);
    }
    double t = median(roll, o->reps), tp = median(pre, o->reps), tc = median(cpu, o->reps);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"prefopt\", \"shape\": \"%s\", \"batch\": %d, \"prompt\": %d, "
           "\"new_tokens\": %d, \"rollout_s_median\": %.6f, \"prefill_s_median\": %.6f, "
           "\"tokens_per_s\": %.1f, \"decode_tokens_per_s\": %.1f, \"rollout_cpu_s_median\": "
           "%.6f, \"tokens_per_cpu_s\": %.1f, \"cache_mb\": %.1f, \"peak_rss_mb\": %.1f}\n",
           s->name, B, o->prompt, o->new_tokens, t, tp, (double)B * o->new_tokens / t,
           (double)B * (o->new_tokens - 1) / (t - tp), tc, (double)B * o->new_tokens / tc,
           pf_kv_cache_bytes(st.cache) / 1048576.0, ru.ru_maxrss / 1024.0);
    fflush(stdout);
    state_free(&st);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_generate [--shape tiny|demo|small|gpt2-124M]... [--batch B]... "
                    "[--prompt P] [--new-tokens N] [--reps R] [--warmup W]\n"
                    "defaults: shapes tiny and small, batches 1 and 8, P 64, N 128, R 5, W 1\n");
    return 2;
}

/* Index of the shape called name, or -1. */
static int find_shape(const char *name)
{
    for (int i = 0; i < N_SHAPES; i++)
        if (strcmp(SHAPES[i].name, name) == 0)
            return i;
    return -1;
}

/* The selected shapes and batches (indices into SHAPES, batch sizes). */
typedef struct {
    int shapes[8], n_shapes, batches[8], n_batches;
} gen_plan;

/* Parses the command line into o and p; returns 0, or 2 after printing the usage. */
static int parse_args(int argc, char **argv, gen_opts *o, gen_plan *p)
{
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (strcmp(a, "--shape") == 0 && p->n_shapes < 8 && find_shape(v) >= 0)
            p->shapes[p->n_shapes++] = find_shape(v);
        else if (strcmp(a, "--batch") == 0 && p->n_batches < 8 && atoi(v) >= 1)
            p->batches[p->n_batches++] = atoi(v);
        else if (strcmp(a, "--prompt") == 0)
            o->prompt = atoi(v);
        else if (strcmp(a, "--new-tokens") == 0)
            o->new_tokens = atoi(v);
        else if (strcmp(a, "--reps") == 0)
            o->reps = atoi(v);
        else if (strcmp(a, "--warmup") == 0)
            o->warmup = atoi(v);
        else
            return usage();
    }
    if (o->prompt < 1 || o->new_tokens < 2 || o->reps < 1 || o->reps > MAX_REPS || o->warmup < 0)
        return usage();
    if (!p->n_shapes)
        p->shapes[p->n_shapes++] = 0, p->shapes[p->n_shapes++] = 1;
    if (!p->n_batches)
        p->batches[p->n_batches++] = 1, p->batches[p->n_batches++] = 8;
    return 0;
}

int main(int argc, char **argv)
{
    gen_opts o = {.prompt = 64, .new_tokens = 128, .reps = 5, .warmup = 1};
    gen_plan p = {0};
    int rc = parse_args(argc, argv, &o, &p);
    if (rc)
        return rc;
    for (int i = 0; i < p.n_shapes; i++)
        for (int j = 0; j < p.n_batches; j++)
            if (bench(&SHAPES[p.shapes[i]], p.batches[j], &o))
                return 1;
    return 0;
}
