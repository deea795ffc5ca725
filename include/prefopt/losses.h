/*
 * losses.h: the preference and likelihood losses as pure scalar functions, with their
 * derivatives, exactly as the reference trainers (TRL) compute them.
 *
 * Notation: for a pair, a = log pi(y+) - log ref(y+), b = log pi(y-) - log ref(y-),
 * delta = a - b. Sequence log-probs are sums over completion tokens (ipo: per-token
 * means, as TRL does). Each function returns the pair's loss and d(loss)/d(delta);
 * d(delta)/d(log pi(y+)) = 1 and d(delta)/d(log pi(y-)) = -1.
 */
#ifndef PREFOPT_LOSSES_H
#define PREFOPT_LOSSES_H

typedef enum {
    PF_DPO_SIGMOID = 0, /* -(1-e) log s(beta d) - e log s(-beta d)   (e > 0: cDPO) */
    PF_DPO_ROBUST,      /* [-(1-e) log s(beta d) + e log s(-beta d)] / (1 - 2e) */
    PF_DPO_HINGE,       /* max(0, 1 - beta d) */
    PF_DPO_IPO,         /* (d - 1/(2 beta))^2, d from per-token mean log-probs */
    PF_DPO_LOSS_COUNT
} pf_dpo_loss_type;

/* "sigmoid", "robust", "hinge", "ipo". */
const char *pf_dpo_loss_name(pf_dpo_loss_type t);
/* Parses a loss name; returns 0 and sets *out, or -1 when unknown. */
int pf_dpo_loss_from_name(const char *name, pf_dpo_loss_type *out);

typedef struct {
    pf_dpo_loss_type type;
    double beta;            /* > 0 */
    double label_smoothing; /* e in [0, 0.5) */
} pf_dpo_params;

/* Loss of one pair for delta; *dloss_ddelta receives the derivative. */
double pf_dpo_pair_loss(const pf_dpo_params *p, double delta, double *dloss_ddelta);

/* Reward-model (Bradley-Terry) pair loss, as TRL's RewardTrainer: returns
 * -log sigmoid(r_c - r_r - margin) (the centering term c * (r_c + r_r)^2 is added to
 * the metric by the caller); *g_c / *g_r receive d(step loss)/d(r_c), d(r_r) of the
 * step loss mean_i [-log sigmoid(d_i)] + c * mean_i (r_c + r_r)^2 over n_pairs pairs. */
double pf_rm_pair_loss(double r_c, double r_r, double margin, double center_coef, double n_pairs,
                       double *g_c, double *g_r);

/* log(sigmoid(x)) without overflow for any finite x. */
double pf_log_sigmoid(double x);

#endif
