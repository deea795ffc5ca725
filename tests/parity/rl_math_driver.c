/*
 * rl_math_driver.c: runs the rl_math.h pipeline of one PPO and one GRPO update on a batch
 * read from a text file, so that tests/parity/test_rl_math_torch.py can compare it with
 * an independent PyTorch implementation written the way TRL computes it.
 *
 *   rl_math_driver IN.txt     (results on stdout)
 *
 * IN.txt: one array per line, `name count v_0 ... v_{count-1}` (scalars have count 1):
 *   N, R, lens [N]; per-token [N*R] (row-major, padding cells hold garbage):
 *   logp_old, logp_new, ref_logp, values_old, values_new; scores [N] (PPO), rewards [N]
 *   (GRPO); settings kl_estimator (0 k1, 1 k3), kl_coef, whiten_rewards, gamma, lam,
 *   cliprange, cliprange_value, n_mb (mini-batches: n_mb consecutive equal slices of the
 *   sequences), G, scale (pf_grpo_scale), loss_type (pf_grpo_loss_type), eps_low,
 *   eps_high, beta, max_len.
 * Output: the same line format, `%.17g`:
 *   kl, rewards (after optional whitening), gae_adv, returns, adv (whitened) [N*R];
 *   per mini-batch [n_mb]: pg_loss, pg_clipfrac, approxkl, vf_loss, vf_clipfrac (means
 *   over the mini-batch's valid tokens), grpo_loss (sum of weight * token loss),
 *   grpo_kl, grpo_clip_low, grpo_clip_high (means over its tokens);
 *   pg_grad, vf_grad, grpo_grad [N*R]: d(mini-batch loss) / d(logp_new or v_new) of each
 *   token in its own mini-batch; grpo_adv [N]; grpo_stats [4] (reward_mean, reward_std,
 *   frac_zero_std, batch_std).
 * The PPO pipeline is the trainer's: kl of the rollout log-probs (logp_old) against the
 * reference, pf_ppo_rewards, optional pf_masked_whiten(shift_mean 0), pf_gae with the
 * rollout values, pf_masked_whiten(adv, shift_mean 1).
 * Any failure prints a message and exits 1: this is a test helper, not a product.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefopt/rl_math.h"

#define MAX_ARRAYS 64

/* One named array of the input. */
typedef struct {
    char name[64];
    int n;
    double *v;
} named_array;

static named_array g_in[MAX_ARRAYS];
static int g_n_in;

/* Prints "rl_math_driver: <message>" and exits 1. */
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rl_math_driver: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* Reads every `name count values...` line of path into g_in. */
static void read_input(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        die("cannot open %s", path);
    named_array a;
    while (fscanf(fp, "%63s %d", a.name, &a.n) == 2) {
        if (g_n_in == MAX_ARRAYS || a.n < 0 || !(a.v = malloc(sizeof(double) * (a.n + 1))))
            die("too many arrays or a bad count at %s", a.name);
        for (int k = 0; k < a.n; k++)
            if (fscanf(fp, "%lf", &a.v[k]) != 1)
                die("short array %s", a.name);
        g_in[g_n_in++] = a;
    }
    if (!feof(fp))
        die("malformed input after %d arrays", g_n_in);
    fclose(fp);
}

/* The input array called name, which must hold n values. */
static const double *get(const char *name, int n)
{
    for (int i = 0; i < g_n_in; i++)
        if (strcmp(g_in[i].name, name) == 0) {
            if (g_in[i].n != n)
                die("%s holds %d values, expected %d", name, g_in[i].n, n);
            return g_in[i].v;
        }
    die("missing array %s", name);
    return NULL;
}

static double scalar(const char *name) { return get(name, 1)[0]; }

/* A float copy of the input array name [n] (malloc'ed). */
static float *get_f(const char *name, int n)
{
    const double *v = get(name, n);
    float *f = malloc(sizeof(float) * (size_t)n);
    if (!f)
        die("out of memory");
    for (int k = 0; k < n; k++)
        f[k] = (float)v[k];
    return f;
}

/* A zeroed float array [n] (malloc'ed). */
static float *zeros_f(int n)
{
    float *f = calloc((size_t)n, sizeof(float));
    if (!f)
        die("out of memory");
    return f;
}

static void print_d(const char *name, const double *v, int n)
{
    printf("%s %d", name, n);
    for (int k = 0; k < n; k++)
        printf(" %.17g", v[k]);
    printf("\n");
}

static void print_f(const char *name, const float *v, int n)
{
    printf("%s %d", name, n);
    for (int k = 0; k < n; k++)
        printf(" %.17g", (double)v[k]);
    printf("\n");
}

/* The batch: shape, lens and per-token inputs. */
typedef struct {
    int N, R, n_mb;
    int32_t *len;
    pf_rl_shape s;
    float *logp_old, *logp_new, *ref, *v_old, *v_new;
} batch;

static void load_batch(batch *b)
{
    b->N = (int)scalar("N");
    b->R = (int)scalar("R");
    b->n_mb = (int)scalar("n_mb");
    if (b->N < 1 || b->R < 1 || b->n_mb < 1 || b->N % b->n_mb)
        die("bad N / R / n_mb");
    const double *len = get("lens", b->N);
    if (!(b->len = malloc(sizeof(int32_t) * (size_t)b->N)))
        die("out of memory");
    for (int i = 0; i < b->N; i++)
        b->len[i] = (int32_t)len[i];
    b->s = (pf_rl_shape){b->N, b->R, b->len};
    const int NR = b->N * b->R;
    b->logp_old = get_f("logp_old", NR);
    b->logp_new = get_f("logp_new", NR);
    b->ref = get_f("ref_logp", NR);
    b->v_old = get_f("values_old", NR);
    b->v_new = get_f("values_new", NR);
}

/* Rollout stage: kl, rewards, GAE and whitened advantages. Returns adv and returns. */
static void ppo_rollout(const batch *b, float *adv, float *ret)
{
    const int NR = b->N * b->R;
    float *kl = zeros_f(NR), *rew = zeros_f(NR);
    const pf_kl_estimator est = (pf_kl_estimator)scalar("kl_estimator");
    for (int i = 0; i < b->N; i++)
        for (int t = 0; t < b->len[i]; t++) {
            const int k = i * b->R + t;
            kl[k] = (float)pf_kl_token(est, b->logp_old[k], b->ref[k]);
        }
    pf_ppo_rewards(&b->s, kl, get("scores", b->N), scalar("kl_coef"), rew);
    if (scalar("whiten_rewards") != 0.0)
        pf_masked_whiten(&b->s, rew, 0);
    pf_gae(&b->s, rew, b->v_old, scalar("gamma"), scalar("lam"), adv, ret);
    print_f("kl", kl, NR);
    print_f("rewards", rew, NR);
    print_f("gae_adv", adv, NR);
    print_f("returns", ret, NR);
    pf_masked_whiten(&b->s, adv, 1);
    print_f("adv", adv, NR);
    free(kl);
    free(rew);
}

/* Valid tokens of the sequences [i0, i1). */
static double tokens_of(const batch *b, int i0, int i1)
{
    double n = 0.0;
    for (int i = i0; i < i1; i++)
        n += b->len[i];
    return n;
}

/* Per-mini-batch mean losses and per-token gradients of the PPO policy and value. */
static void ppo_update(const batch *b, const float *adv, const float *ret)
{
    const int per = b->N / b->n_mb, NR = b->N * b->R;
    const double clip = scalar("cliprange"), vclip = scalar("cliprange_value");
    double *pg = calloc((size_t)NR, sizeof(double)), *vg = calloc((size_t)NR, sizeof(double));
    double m[5][64] = {{0}};
    if (!pg || !vg || b->n_mb > 64)
        die("out of memory or too many mini-batches");
    for (int mb = 0; mb < b->n_mb; mb++) {
        pf_pg_stats ps = {0};
        pf_vf_stats vs = {0};
        const double n = tokens_of(b, mb * per, (mb + 1) * per);
        for (int i = mb * per; i < (mb + 1) * per; i++)
            for (int t = 0; t < b->len[i]; t++) {
                const int k = i * b->R + t;
                pf_ppo_pg_token(adv[k], b->logp_new[k], b->logp_old[k], clip, &pg[k], &ps);
                pf_ppo_vf_token(b->v_new[k], b->v_old[k], ret[k], vclip, &vg[k], &vs);
                pg[k] /= n;
                vg[k] /= n;
            }
        m[0][mb] = ps.loss / n;
        m[1][mb] = ps.clipped / n;
        m[2][mb] = ps.approxkl / n;
        m[3][mb] = vs.loss / n;
        m[4][mb] = vs.clipped / n;
    }
    const char *names[5] = {"pg_loss", "pg_clipfrac", "approxkl", "vf_loss", "vf_clipfrac"};
    for (int j = 0; j < 5; j++)
        print_d(names[j], m[j], b->n_mb);
    print_d("pg_grad", pg, NR);
    print_d("vf_grad", vg, NR);
    free(pg);
    free(vg);
}

/* GRPO settings read from the input. */
typedef struct {
    pf_grpo_loss_type type;
    double eps_low, eps_high, beta;
    int max_len;
} grpo_cfg;

/* One GRPO mini-batch [i0, i1): weighted loss, gradients into g, token means into m. */
static double grpo_mini_batch(const batch *b, const grpo_cfg *c, const double *adv, int i0, int i1,
                              double *g, double m[3])
{
    pf_grpo_stats st = {0};
    const double n = tokens_of(b, i0, i1);
    double loss = 0.0;
    for (int i = i0; i < i1; i++) {
        const double w = pf_grpo_token_weight(c->type, b->len[i], i1 - i0, c->max_len, n);
        for (int t = 0; t < b->len[i]; t++) {
            const int k = i * b->R + t;
            double d;
            loss += w * pf_grpo_token(adv[i], b->logp_new[k], b->logp_old[k], b->ref[k], c->eps_low,
                                      c->eps_high, c->beta, &d, &st);
            g[k] = w * d;
        }
    }
    m[0] = st.kl / n;
    m[1] = st.clip_low / n;
    m[2] = st.clip_high / n;
    return loss;
}

/* GRPO: group advantages of the whole batch, then the loss of each mini-batch. */
static void grpo_update(const batch *b)
{
    const int NR = b->N * b->R, per = b->N / b->n_mb;
    const grpo_cfg c = {(pf_grpo_loss_type)scalar("loss_type"), scalar("eps_low"),
                        scalar("eps_high"), scalar("beta"), (int)scalar("max_len")};
    double *adv = calloc((size_t)b->N, sizeof(double)), *g = calloc((size_t)NR, sizeof(double));
    double loss[64], m[3][64], mm[3], st4[4];
    if (!adv || !g || b->n_mb > 64)
        die("out of memory or too many mini-batches");
    pf_grpo_group_stats st;
    pf_grpo_advantages(get("rewards", b->N), b->N, (int)scalar("G"), (pf_grpo_scale)scalar("scale"),
                       adv, &st);
    for (int mb = 0; mb < b->n_mb; mb++) {
        loss[mb] = grpo_mini_batch(b, &c, adv, mb * per, (mb + 1) * per, g, mm);
        for (int j = 0; j < 3; j++)
            m[j][mb] = mm[j];
    }
    st4[0] = st.reward_mean;
    st4[1] = st.reward_std;
    st4[2] = st.frac_zero_std;
    st4[3] = st.batch_std;
    print_d("grpo_adv", adv, b->N);
    print_d("grpo_stats", st4, 4);
    print_d("grpo_loss", loss, b->n_mb);
    print_d("grpo_kl", m[0], b->n_mb);
    print_d("grpo_clip_low", m[1], b->n_mb);
    print_d("grpo_clip_high", m[2], b->n_mb);
    print_d("grpo_grad", g, NR);
    free(adv);
    free(g);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        die("usage: rl_math_driver IN.txt");
    read_input(argv[1]);
    batch b;
    load_batch(&b);
    float *adv = zeros_f(b.N * b.R), *ret = zeros_f(b.N * b.R);
    ppo_rollout(&b, adv, ret);
    ppo_update(&b, adv, ret);
    grpo_update(&b);
    free(adv);
    free(ret);
    free(b.len);
    float *bufs[5] = {b.logp_old, b.logp_new, b.ref, b.v_old, b.v_new};
    for (int j = 0; j < 5; j++)
        free(bufs[j]);
    for (int i = 0; i < g_n_in; i++)
        free(g_in[i].v);
    return 0;
}
