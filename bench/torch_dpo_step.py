"""PyTorch side of the DPO step benchmark: the baseline the C trainer is measured against.

One DPO-shaped training step, as prefopt-mpi runs it on one rank:
  1. reference forward (torch.no_grad, a separate copy of the weights),
  2. policy forward + backward over B sequences = B/2 (chosen, rejected) pairs, with the
     sigmoid DPO loss -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))) over the
     sums of completion log-probs (the completion is the second half of each sequence),
  3. clip_grad_norm_(1.0) and an AdamW update (decay on 2-D tensors only).
The model is tests/parity/torch_gpt2.py, the PyTorch GPT-2 the parity test checks the C
model against, so both sides compute the same function.

Usage: torch_dpo_step.py --shape tiny|small|gpt2-124M [--threads N] [--steps K] [--warmup W]
                         [--default-malloc]
Prints one JSON line:
  {"shape", "threads", "step_s_median", "tokens_per_s", "gflop_per_s", "peak_rss_mb"}
tokens_per_s counts each of the B*T policy tokens once per step; gflop_per_s is
step_flops() / step_s_median (see its docstring; the C bench uses the same formula).
"""

import argparse
import json
import resource
import statistics
import sys
import time

from torch_env import load_torch

SHAPES = {
    # name: (n_layer, n_head, d_model, vocab_size, max_seq_len, T, B)
    "tiny": (4, 4, 128, 512, 128, 128, 16),
    "small": (8, 8, 512, 8192, 256, 256, 4),
    "gpt2-124M": (12, 12, 768, 50257, 1024, 256, 4),
}
DPO_BETA = 0.1
GRAD_CLIP = 1.0


def parse_args(argv):
    """The command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--default-malloc", action="store_true",
                    help="keep glibc's default malloc settings (see bench/torch_env.py)")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.steps < 1 or args.warmup < 0:
        ap.error("--threads and --steps must be >= 1, --warmup >= 0")
    return args


def step_flops(cfg, B, T):
    """FLOPs of one DPO step, the formula the C bench (bench_step.c) mirrors:

        N = B * T                   tokens per step
        P = 12 n_layer D^2 + V D    weights of the matrix products: per block c_attn
                                    3 D^2, attn c_proj D^2, c_fc 4 D^2, mlp c_proj 4 D^2;
                                    plus the tied LM head V x D (embedding lookups,
                                    biases and LayerNorms are not matrix products)
        A = 4 n_layer T D           attention FLOPs per token, forward: q k^T and p v
                                    over the full T x T square (causal mask not exploited)
        forward F = 2 N P + N A
        flops = 3 F (policy forward + backward, backward = 2 x forward) + F (reference)
              = 8 N P + 16 n_layer N T D

    Elementwise work (LayerNorm, GELU, softmax) and the optimizer are not counted, the
    usual convention."""
    L, D, V = cfg.n_layer, cfg.d_model, cfg.vocab_size
    N = B * T
    P = 12 * L * D * D + V * D
    A = 4 * L * T * D
    return 4 * (2 * N * P + N * A)


def init_params(tg, torch, cfg, seed):
    """GPT-2 style weights: N(0, 0.02) matrices and embeddings, zero biases, unit gains."""
    gen = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape in tg.param_specs(cfg):
        if len(shape) == 2:
            t = torch.randn(shape, generator=gen) * 0.02
        elif "ln_" in name and name.endswith(".weight"):
            t = torch.ones(shape)
        else:
            t = torch.zeros(shape)
        params[name] = t
    return params


def completion_mask(torch, B, T):
    """[B, T] mask of the log-probs of completion tokens (positions T/2 .. T-1), i.e. the
    predictions made at positions T/2 - 1 .. T - 2."""
    t = torch.arange(T)
    return ((t >= T // 2 - 1) & (t < T - 1)).float().expand(B, T)


def dpo_loss(torch, F, lp, ref_lp, mask):
    """Sigmoid DPO over rows (0, 1), (2, 3), ...: even rows chosen, odd rows rejected."""
    ratio = ((lp - ref_lp) * mask).sum(dim=1)
    margin = ratio[0::2] - ratio[1::2]
    return -F.logsigmoid(DPO_BETA * margin).mean()


def make_step(tg, torch, F, cfg, B, T, seed):
    """Builds policy, reference, optimizer and a batch; returns a function running one
    full DPO step."""
    policy = {k: v.requires_grad_(True) for k, v in init_params(tg, torch, cfg, seed).items()}
    ref = {k: v.detach().clone() for k, v in policy.items()}
    opt = tg.make_adamw(policy, lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    gen = torch.Generator().manual_seed(seed + 1)
    tokens = torch.randint(0, cfg.vocab_size, (B, T), generator=gen)
    lengths = torch.full((B,), T, dtype=torch.int64)
    mask = completion_mask(torch, B, T)

    def step():
        with torch.no_grad():
            ref_lp, _ = tg.forward(ref, cfg, tokens, lengths)
        opt.zero_grad(set_to_none=True)
        lp, _ = tg.forward(policy, cfg, tokens, lengths)
        loss = dpo_loss(torch, F, lp, ref_lp, mask)
        loss.backward()
        tg.clip_grads(policy, GRAD_CLIP)
        opt.step()
        return float(loss)

    return step


def time_steps(step, warmup, steps):
    """Runs warmup untimed steps, then returns the wall times of `steps` steps."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def main(argv):
    args = parse_args(argv)
    torch, tg = load_torch(__file__, argv, args.threads, args.default_malloc)
    import torch.nn.functional as F
    L, H, D, V, Tmax, T, B = SHAPES[args.shape]
    cfg = tg.Config(L, H, D, V, Tmax)
    step = make_step(tg, torch, F, cfg, B, T, seed=1234)
    median = statistics.median(time_steps(step, args.warmup, args.steps))
    print(json.dumps({
        "shape": args.shape,
        "threads": args.threads,
        "step_s_median": round(median, 6),
        "tokens_per_s": round(B * T / median, 1),
        "gflop_per_s": round(step_flops(cfg, B, T) / median / 1e9, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
