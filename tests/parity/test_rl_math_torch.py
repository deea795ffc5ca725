"""Parity of rl_math.h (via rl_math_driver) with an independent PyTorch oracle written
the way TRL computes PPO and GRPO.

Usage: test_rl_math_torch.py PATH/TO/rl_math_driver

For several seeded random batches (lengths 0 and R included, garbage in the padding) the
driver runs the trainer's pipeline in C and this script recomputes it with torch, in
float64 (the reference, tolerance 1e-5) and float32 (as TRL runs, tolerance 1e-4):
  PPO (TRL's PPOTrainer): kl (k1 / k3 of the rollout log-probs against the reference),
      per-token rewards (-kl_coef * kl, score on the last valid token), optional reward
      whitening (masked_whiten, shift_mean=False), the reversed GAE loop, returns,
      whitened advantages (masked_whiten with masked_var(unbiased=True));
      per mini-batch: the clipped policy loss (pg_losses, pg_losses2, torch.max,
      masked_mean over the mini-batch's valid tokens) and the clipped value loss
      (vpredclipped, 0.5 * masked_mean(torch.max(vf_losses1, vf_losses2))), their
      clip fractions and approxkl, and the per-token gradients by autograd;
  GRPO (TRL's GRPOTrainer): group advantages (mean / torch.std (unbiased) + 1e-4 for
      scale group, batch or none) and the reward stats; per mini-batch the loss of
      _compute_loss (coef_1, coef_2 = clamp, -torch.min, + beta * per_token_kl) under
      loss_type grpo, dr_grpo or dapo, mean KL and the low / high clip ratios, and the
      per-token gradients by autograd.
Every comparison is max|c - ref| <= rel * max|ref| + ATOL (max errors printed); every
per-token C output must be exactly 0 in the padding. Negative controls check that the
comparison does see real differences (TRL's own score placement, a clamp that always
passes the gradient). The smallest distance of any ratio / value to a clip kink is
printed: a float32 branch flip there would explain a mismatch.

Documented deviations from TRL that the oracle follows (rl_math.h's convention):
  - TRL adds the score one position after the last valid token (sequence_lengths + 1,
    where the value is kept: padding_mask_p1) so its GAE bootstraps from V(len); here
    the score sits on the last valid token and V(len) = 0;
  - TRL whitens rewards and averages the value loss over len + 1 positions
    (padding_mask_p1); here over the len valid tokens;
  - TRL's approxkl is a mean over every cell (padding included, where the difference
    is 0); here a mean over valid tokens like the clip fractions;
  - TRL's masked_var raises for fewer than 2 tokens; here the variance is then 0.
Prints one line per check, then `rl_math parity: N passed, M failed`; exits 1 on any
failure.
"""

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity_util import Results  # noqa: E402

# The C side works in double on float32 inputs (per-token outputs rounded to float32), so
# against the float64 oracle the errors are float32 roundings (~1e-7). The float32 oracle
# adds its own error, largest in k3 = exp(d) - d - 1 for small d (cancellation: ~2e-6 of
# a one-token mean KL), hence its looser bound.
REL64 = 1e-5
REL32 = 1e-4
ATOL = 1e-12
INVALID_LOGPROB = 1.0  # TRL's fill for padding log-probs
SCALES = {"group": 0, "batch": 1, "none": 2}
LOSSES = {"grpo": 0, "dr_grpo": 1, "dapo": 2}


@dataclass
class Case:
    """One batch and the PPO / GRPO settings."""

    name: str
    lens: list
    R: int
    seed: int
    kl_estimator: str = "k1"
    kl_coef: float = 0.05
    whiten_rewards: bool = False
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    n_mb: int = 1
    G: int = 4
    scale: str = "group"
    loss_type: str = "dapo"
    eps_low: float = 0.2
    eps_high: float = 0.2
    beta: float = 0.0
    on_policy: bool = False  # logp_new == logp_old, values_new == values_old


def cases():
    return [
        Case("k1-dapo-group", [7, 0, 12, 3, 12, 1, 9, 5], R=12, seed=1),
        Case("k3-whiten-grpo-batch-2mb", [5, 10, 10, 0, 2, 8, 1, 10, 6, 3], R=10, seed=2,
             kl_estimator="k3", kl_coef=0.2, whiten_rewards=True, gamma=0.9, lam=0.8,
             cliprange=0.15, cliprange_value=0.3, n_mb=2, G=2, scale="batch",
             loss_type="grpo", eps_high=0.28, beta=0.04),
        Case("k1-drgrpo-none-4mb", [16, 3, 0, 11, 16, 7, 9, 2, 16, 5, 14, 1, 8, 16, 4, 12],
             R=16, seed=3, gamma=0.99, n_mb=4, G=8, scale="none", loss_type="dr_grpo",
             eps_low=0.1, eps_high=0.3, beta=0.1),
        Case("on-policy-ties", [6, 2, 6, 4], R=6, seed=6, kl_estimator="k3", G=2,
             loss_type="grpo", beta=0.02, on_policy=True),
        Case("one-token-batch", [0, 1, 0, 0], R=3, seed=5, G=2, whiten_rewards=True),
    ]


# --- inputs and the driver ----------------------------------------------------------

def random_inputs(case):
    """Seeded float32 per-token arrays with garbage (finite, large) in the padding, PPO
    scores and GRPO rewards in {0, 0.5, 1} (so some groups have zero std)."""
    rng = np.random.default_rng(case.seed)
    N, R = len(case.lens), case.R
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    normal = lambda scale: scale * rng.standard_normal((N, R))  # noqa: E731
    logp_old = f32(-np.abs(normal(2.0)) - 0.05)
    values_old = f32(normal(1.0))
    d = {
        "logp_old": logp_old,
        "logp_new": logp_old if case.on_policy else f32(logp_old + normal(0.25)),
        "ref_logp": f32(logp_old + normal(0.3)),
        "values_old": values_old,
        "values_new": values_old if case.on_policy else f32(values_old + normal(0.3)),
    }
    pad = np.arange(R)[None, :] >= np.array(case.lens)[:, None]
    for k in d:
        d[k] = np.where(pad, f32(50.0 + normal(10.0)), d[k]).astype(np.float32)
    d["scores"] = rng.standard_normal(N) * 2.0
    d["rewards"] = rng.choice([0.0, 0.5, 1.0], size=N)
    return d


def settings(case):
    return {
        "N": len(case.lens), "R": case.R, "lens": case.lens, "n_mb": case.n_mb,
        "kl_estimator": 0 if case.kl_estimator == "k1" else 1, "kl_coef": case.kl_coef,
        "whiten_rewards": int(case.whiten_rewards), "gamma": case.gamma, "lam": case.lam,
        "cliprange": case.cliprange, "cliprange_value": case.cliprange_value, "G": case.G,
        "scale": SCALES[case.scale], "loss_type": LOSSES[case.loss_type],
        "eps_low": case.eps_low, "eps_high": case.eps_high, "beta": case.beta,
        "max_len": case.R,
    }


def write_input(path, arrays):
    """`name count values...` lines; float32 arrays with 9 digits (exact), others 17."""
    with open(path, "w") as f:
        for name, v in arrays.items():
            a = np.atleast_1d(np.asarray(v))
            fmt = "%.9g" if a.dtype == np.float32 else "%.17g"
            f.write(f"{name} {a.size} " + " ".join(fmt % x for x in a.ravel()) + "\n")


def run_driver(driver, path):
    proc = subprocess.run([driver, path], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"rl_math_driver exited {proc.returncode}: {proc.stderr.strip()}")
    out = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        out[parts[0]] = np.array([float(x) for x in parts[2:]], dtype=np.float64)
        assert len(out[parts[0]]) == int(parts[1]), parts[0]
    return out


# --- TRL's helpers (trl/trainer/utils.py), written out ------------------------------

def masked_mean(values, mask):
    return (values * mask).sum() / mask.sum()


def masked_var(values, mask, unbiased=True):
    mean = masked_mean(values, mask)
    centered_values = values - mean
    variance = masked_mean(centered_values**2, mask)
    if unbiased:
        mask_sum = mask.sum()
        if mask_sum < 2:  # TRL raises here; rl_math.h defines the variance as 0
            return torch.zeros_like(variance)
        bessel_correction = mask_sum / (mask_sum - 1)
        variance = variance * bessel_correction
    return variance


def masked_whiten(values, mask, shift_mean=True):
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened += mean
    return whitened


# --- the PPO oracle ------------------------------------------------------------------

def ppo_rollout(case, t, lens, padding_mask, score_at_len=False):
    """kl, rewards, raw GAE advantages, returns and whitened advantages as TRL's
    PPOTrainer computes them after generation. score_at_len=True is TRL's own
    convention (score at sequence_lengths + 1, values kept there): a negative control."""
    N, R = padding_mask.shape
    logprobs = torch.masked_fill(t["logp_old"], padding_mask, INVALID_LOGPROB)
    ref_logprobs = torch.masked_fill(t["ref_logp"], padding_mask, INVALID_LOGPROB)
    logr = ref_logprobs - logprobs
    kl = -logr if case.kl_estimator == "k1" else (logr.exp() - 1) - logr
    non_score_reward = -case.kl_coef * kl
    rewards = non_score_reward.clone()
    idx = torch.arange(R).repeat(N, 1)
    if score_at_len:  # TRL: actual_end = sequence_lengths_p1 (clipped to R - 1); the
        # value at len (garbage here) is set to 0 so that only the score moves
        values = torch.masked_fill(t["values_old"], padding_mask, 0)
        end = torch.where(lens < R, lens, lens - 1)
        has = end >= 0
    else:  # here: the last valid token; V(len) = 0; a len-0 sequence gets no score
        values = torch.masked_fill(t["values_old"], padding_mask, 0)
        end, has = lens - 1, lens > 0
    rows = torch.arange(N)[has]
    rewards[rows, end[has]] += t["scores"][has]
    if case.whiten_rewards:
        rewards = masked_whiten(rewards, ~padding_mask, shift_mean=False)
        rewards = torch.masked_fill(rewards, padding_mask, 0)
    lastgaelam = 0
    advantages_reversed = []
    gen_length = R
    for s in reversed(range(gen_length)):
        nextvalues = values[:, s + 1] if s < gen_length - 1 else 0.0
        delta = rewards[:, s] + case.gamma * nextvalues - values[:, s]
        lastgaelam = delta + case.gamma * case.lam * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = torch.stack(advantages_reversed[::-1], axis=1)
    returns = advantages + values
    raw = advantages
    advantages = masked_whiten(advantages, ~padding_mask)
    advantages = torch.masked_fill(advantages, padding_mask, 0)
    return {"kl": torch.masked_fill(kl, padding_mask, 0), "rewards": rewards,
            "gae_adv": raw, "returns": torch.masked_fill(returns, padding_mask, 0),
            "adv": advantages}


def ppo_mini_batch(case, t, roll, pm, mb):
    """TRL's PPO losses on the sequences mb; gradients by autograd."""
    new_leaf = t["logp_new"][mb].clone().requires_grad_()
    vpred_leaf = t["values_new"][mb].clone().requires_grad_()
    mask = ~pm[mb]
    new_logprobs = torch.masked_fill(new_leaf, pm[mb], INVALID_LOGPROB)
    mb_logprobs = torch.masked_fill(t["logp_old"][mb], pm[mb], INVALID_LOGPROB)
    mb_advantage, mb_return = roll["adv"][mb], roll["returns"][mb]
    mb_values = torch.masked_fill(t["values_old"][mb], pm[mb], 0)
    vpred = torch.masked_fill(vpred_leaf, pm[mb], 0)
    vpredclipped = torch.clamp(vpred, mb_values - case.cliprange_value,
                               mb_values + case.cliprange_value)
    vf_losses1 = torch.square(vpred - mb_return)
    vf_losses2 = torch.square(vpredclipped - mb_return)
    vf_loss_max = torch.max(vf_losses1, vf_losses2)
    vf_loss = 0.5 * masked_mean(vf_loss_max, mask)
    logprobs_diff = new_logprobs - mb_logprobs
    ratio = torch.exp(logprobs_diff)
    pg_losses = -mb_advantage * ratio
    pg_losses2 = -mb_advantage * torch.clamp(ratio, 1.0 - case.cliprange, 1.0 + case.cliprange)
    pg_loss_max = torch.max(pg_losses, pg_losses2)
    pg_loss = masked_mean(pg_loss_max, mask)
    (pg_loss + vf_loss).backward()  # the two losses depend on disjoint leaves
    return {
        "pg_loss": pg_loss.item(), "vf_loss": vf_loss.item(),
        "pg_loss_scale": masked_mean(pg_loss_max.abs(), mask).item(),
        "pg_clipfrac": masked_mean((pg_losses2 > pg_losses).to(ratio.dtype), mask).item(),
        "vf_clipfrac": masked_mean((vf_losses2 > vf_losses1).to(ratio.dtype), mask).item(),
        "approxkl": masked_mean(0.5 * logprobs_diff**2, mask).item(),
        "pg_grad": new_leaf.grad, "vf_grad": vpred_leaf.grad,
    }


# --- the GRPO oracle -----------------------------------------------------------------

def grpo_advantages(case, rewards):
    """TRL's GRPOTrainer._generate_and_score_completions, the advantage part."""
    G = case.G
    mean_grouped_rewards = rewards.view(-1, G).mean(dim=1)
    std_grouped_rewards = rewards.view(-1, G).std(dim=1)
    is_std_zero = torch.isclose(std_grouped_rewards, torch.zeros_like(std_grouped_rewards))
    stats = [rewards.mean().item(), std_grouped_rewards.mean().item(),
             is_std_zero.to(rewards.dtype).mean().item(), rewards.std().item()]
    mean_grouped_rewards = mean_grouped_rewards.repeat_interleave(G, dim=0)
    advantages = rewards - mean_grouped_rewards
    if case.scale == "batch":
        std_rewards = rewards.std().expand_as(rewards)
    else:
        std_rewards = std_grouped_rewards.repeat_interleave(G, dim=0)
    if case.scale != "none":
        advantages = advantages / (std_rewards + 1e-4)
    return advantages, stats


def grpo_mini_batch(case, t, advantages, pm, mb):
    """TRL's GRPOTrainer._compute_loss on the sequences mb; gradients by autograd."""
    completion_mask = (~pm[mb]).to(advantages.dtype)
    leaf = t["logp_new"][mb].clone().requires_grad_()
    per_token_logps = torch.masked_fill(leaf, pm[mb], 0.0)  # garbage would overflow exp
    ref_per_token_logps = torch.masked_fill(t["ref_logp"][mb], pm[mb], 0.0)
    old_per_token_logps = torch.masked_fill(t["logp_old"][mb], pm[mb], 0.0)
    per_token_kl = (torch.exp(ref_per_token_logps - per_token_logps)
                    - (ref_per_token_logps - per_token_logps) - 1)
    adv = advantages[mb]
    coef_1 = torch.exp(per_token_logps - old_per_token_logps)
    coef_2 = torch.clamp(coef_1, 1 - case.eps_low, 1 + case.eps_high)
    per_token_loss1 = coef_1 * adv.unsqueeze(1)
    per_token_loss2 = coef_2 * adv.unsqueeze(1)
    per_token_loss = -torch.min(per_token_loss1, per_token_loss2)
    if case.beta != 0.0:
        per_token_loss = per_token_loss + case.beta * per_token_kl
    if case.loss_type == "grpo":
        loss = ((per_token_loss * completion_mask).sum(-1)
                / completion_mask.sum(-1).clamp(min=1.0)).mean()
    elif case.loss_type == "dr_grpo":
        loss = (per_token_loss * completion_mask).sum() / (per_token_loss.size(0) * case.R)
    else:  # dapo: num_items_in_batch = the mini-batch's completion tokens
        loss = (per_token_loss * completion_mask).sum() / completion_mask.sum()
    loss.backward(retain_graph=True)
    n = completion_mask.sum()
    weights = torch.autograd.grad(loss, per_token_loss)[0]  # the token weights of the loss
    is_low = (coef_1 < 1 - case.eps_low) & (adv.unsqueeze(1) < 0)
    is_high = (coef_1 > 1 + case.eps_high) & (adv.unsqueeze(1) > 0)
    return {"grpo_loss": loss.item(), "grpo_grad": leaf.grad,
            "grpo_loss_scale": (weights * per_token_loss.abs()).sum().item(),
            "grpo_kl": ((per_token_kl * completion_mask).sum() / n).item(),
            "grpo_clip_low": ((is_low.to(n.dtype) * completion_mask).sum() / n).item(),
            "grpo_clip_high": ((is_high.to(n.dtype) * completion_mask).sum() / n).item()}


def oracle(case, inp, dtype):
    """Every quantity the driver prints, from torch in dtype (numpy float64 out)."""
    N, R = len(case.lens), case.R
    t = {k: torch.from_numpy(np.asarray(v)).to(dtype) for k, v in inp.items()}
    lens = torch.tensor(case.lens)
    pm = torch.arange(R).repeat(N, 1) >= lens[:, None]  # TRL: idx > sequence_lengths
    roll = ppo_rollout(case, t, lens, pm)
    out = {k: v.detach().reshape(-1) for k, v in roll.items()}
    advantages, stats = grpo_advantages(case, t["rewards"])
    out["grpo_adv"], out["grpo_stats"] = advantages, torch.tensor(stats)
    per = N // case.n_mb
    mbs = []
    for j in range(case.n_mb):
        mb = slice(j * per, (j + 1) * per)
        r = ppo_mini_batch(case, t, roll, pm, mb)
        r.update(grpo_mini_batch(case, t, advantages, pm, mb))
        mbs.append(r)
    for k in mbs[0]:
        if k.endswith("_grad"):
            out[k] = torch.cat([m[k] for m in mbs]).reshape(-1)
        else:
            out[k] = torch.tensor([m[k] for m in mbs])
    return {k: v.detach().to(torch.float64).numpy() for k, v in out.items()}


def split_scales(ref):
    """Moves the `<name>_scale` entries out of ref: for a loss that is a sum of terms of
    both signs (pg_loss is ~0 on-policy, as whitened advantages have mean 0) the error
    bound is relative to the same sum of |terms|, not to the cancelled result."""
    scales = {k[:-6]: ref.pop(k) for k in [k for k in ref if k.endswith("_scale")]}
    return ref, scales


# --- checks --------------------------------------------------------------------------

def rel_error(c, ref):
    """max|c - ref| and the bound's scale max|ref|."""
    return float(np.max(np.abs(c - ref))), float(np.max(np.abs(ref)))


def compare(res, tag, c, ref_and_scales, rel):
    """One failed check per output beyond the bound, then one summary check."""
    ref, scales = split_scales(ref_and_scales)
    worst, n_bad = (0.0, ""), 0
    for k in sorted(ref):
        err, scale = rel_error(c[k], ref[k])
        scale = max(scale, float(np.max(scales[k]))) if k in scales else scale
        worst = max(worst, (err / (scale + ATOL), k))
        if err > rel * scale + ATOL:
            n_bad += 1
            res.check(f"{tag} {k}", False, f"max|diff| {err:.3g} > {rel:g} * {scale:.3g}")
    res.check(f"{tag} all {len(ref)} outputs", n_bad == 0,
              f"worst relative error {worst[0]:.2e} ({worst[1]}), tolerance {rel:g}")


def kink_distance(case, inp):
    """Smallest distance of a valid token's ratio (PPO and GRPO) or new value to a clip
    boundary: the C float / torch branch choices can only differ closer than ~1e-6."""
    valid = np.arange(case.R)[None, :] < np.array(case.lens)[:, None]
    lo, ln = inp["logp_old"].astype(np.float64), inp["logp_new"].astype(np.float64)
    r = np.exp(ln - lo)[valid]
    v, vo = inp["values_new"][valid].astype(np.float64), inp["values_old"][valid]
    d = [np.abs(r - (1 + e)) for e in (-case.cliprange, case.cliprange, -case.eps_low,
                                       case.eps_high)]
    d += [np.abs(v - (vo + e)) for e in (-case.cliprange_value, case.cliprange_value)]
    return min(float(np.min(x)) if x.size else np.inf for x in d)


def padding_zero(case, c):
    pad = (np.arange(case.R)[None, :] >= np.array(case.lens)[:, None]).reshape(-1)
    keys = ["kl", "rewards", "gae_adv", "returns", "adv", "pg_grad", "vf_grad", "grpo_grad"]
    return [k for k in keys if np.any(c[k][pad] != 0.0)]


def negative_controls(res, case, inp, c):
    """The comparison must see TRL's own score placement and a clamp that always passes
    the gradient: both differ from the C results by far more than the tolerance."""
    N, R = len(case.lens), case.R
    t = {k: torch.from_numpy(np.asarray(v)).to(torch.float64) for k, v in inp.items()}
    lens = torch.tensor(case.lens)
    pm = torch.arange(R).repeat(N, 1) >= lens[:, None]
    trl = ppo_rollout(case, t, lens, pm, score_at_len=True)
    err, scale = rel_error(c["gae_adv"], trl["gae_adv"].reshape(-1).numpy())
    res.check(f"{case.name} control: TRL score placement is detected",
              err > 100 * REL64 * scale, f"max|diff| {err:.3g} vs scale {scale:.3g}")
    adv = torch.from_numpy(c["adv"]).reshape(N, R)
    per, wrong = N // case.n_mb, []
    for j in range(case.n_mb):
        mb = slice(j * per, (j + 1) * per)
        ratio = torch.exp(t["logp_new"][mb] - t["logp_old"][mb])
        wrong.append(torch.where(pm[mb], 0.0, -adv[mb] * ratio / (~pm[mb]).sum()))
    err, scale = rel_error(c["pg_grad"], torch.cat(wrong).reshape(-1).numpy())
    res.check(f"{case.name} control: an always-open clamp gradient is detected",
              err > 100 * REL64 * scale, f"max|diff| {err:.3g} vs scale {scale:.3g}")


def run_case(res, driver, tmp, case):
    inp = random_inputs(case)
    path = f"{tmp}/{case.name}.txt"
    write_input(path, {**settings(case), **inp})
    c = run_driver(driver, path)
    print(f"-- {case.name}: N={len(case.lens)} R={case.R} tokens={sum(case.lens)}, "
          f"nearest clip kink {kink_distance(case, inp):.2e}")
    bad = padding_zero(case, c)
    res.check(f"{case.name} padding exactly 0", not bad, ", ".join(bad) or "all outputs")
    compare(res, f"{case.name} float64", c, oracle(case, inp, torch.float64), REL64)
    compare(res, f"{case.name} float32", c, oracle(case, inp, torch.float32), REL32)
    if case.name == "k1-dapo-group" or case.name.startswith("k3"):
        negative_controls(res, case, inp, c)


def main(argv):
    if len(argv) != 2:
        print("usage: test_rl_math_torch.py PATH/TO/rl_math_driver", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    res = Results()
    with tempfile.TemporaryDirectory(prefix="prefopt-rlmath-") as tmp:
        for case in cases():
            try:
                run_case(res, argv[1], tmp, case)
            except Exception as e:  # noqa: BLE001 - a crash is a failed check
                res.check(case.name, False, f"{type(e).__name__}: {e}")
    print(f"rl_math parity: {res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
