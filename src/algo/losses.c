/*
 * losses.c: DPO-family pair losses (see losses.h for the formulas). All arithmetic is
 * in double; the log-sigmoid is evaluated in its stable form on either side of zero.
 */
#include "prefopt/losses.h"

#include <math.h>
#include <string.h>

static const char *const LOSS_NAMES[] = {"sigmoid", "robust", "hinge", "ipo"};
_Static_assert(sizeof LOSS_NAMES / sizeof LOSS_NAMES[0] == PF_DPO_LOSS_COUNT,
               "LOSS_NAMES vs PF_DPO_LOSS_COUNT");

const char *pf_dpo_loss_name(pf_dpo_loss_type t)
{
    return (unsigned)t < PF_DPO_LOSS_COUNT ? LOSS_NAMES[t] : "unknown";
}

int pf_dpo_loss_from_name(const char *name, pf_dpo_loss_type *out)
{
    for (int i = 0; i < PF_DPO_LOSS_COUNT; i++)
        if (strcmp(name, LOSS_NAMES[i]) == 0) {
            *out = (pf_dpo_loss_type)i;
            return 0;
        }
    return -1;
}

double pf_log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }

/* sigmoid(x) without overflow. */
static double sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

double pf_dpo_pair_loss(const pf_dpo_params *p, double delta, double *dloss_ddelta)
{
    const double beta = p->beta, eps = p->label_smoothing, z = beta * delta;
    switch (p->type) {
    case PF_DPO_SIGMOID:
        *dloss_ddelta = -(1.0 - eps) * beta * sigmoid(-z) + eps * beta * sigmoid(z);
        return -(1.0 - eps) * pf_log_sigmoid(z) - eps * pf_log_sigmoid(-z);
    case PF_DPO_ROBUST:
        *dloss_ddelta =
            (-(1.0 - eps) * beta * sigmoid(-z) - eps * beta * sigmoid(z)) / (1.0 - 2.0 * eps);
        return (-(1.0 - eps) * pf_log_sigmoid(z) + eps * pf_log_sigmoid(-z)) / (1.0 - 2.0 * eps);
    case PF_DPO_HINGE:
        *dloss_ddelta = 1.0 - z > 0.0 ? -beta : 0.0;
        return 1.0 - z > 0.0 ? 1.0 - z : 0.0;
    case PF_DPO_IPO: {
        double r = delta - 1.0 / (2.0 * beta);
        *dloss_ddelta = 2.0 * r;
        return r * r;
    }
    default:
        *dloss_ddelta = 0.0;
        return NAN;
    }
}

double pf_rm_pair_loss(double r_c, double r_r, double margin, double center_coef, double n_pairs,
                       double *g_c, double *g_r)
{
    const double d = r_c - r_r - margin, s = r_c + r_r;
    const double sig_neg = sigmoid(-d); /* -d/dd log sigmoid(d) */
    *g_c = (-sig_neg + 2.0 * center_coef * s) / n_pairs;
    *g_r = (sig_neg + 2.0 * center_coef * s) / n_pairs;
    return -pf_log_sigmoid(d);
}
