"""PyTorch side of the generation benchmark: the baseline bench_generate.c is measured
against.

One rollout, as a PPO/GRPO rank runs it: B prompts of P random tokens, prefill into a
preallocated KV cache, then N sampled tokens per prompt (temperature 1, top_p 1, no stop
ids), each draw also producing the token's log-prob and the distribution's entropy (as the
C sampler does). The model and the KV-cache loop are tests/parity/torch_gpt2.py's (the
oracle the C model and its decoding are checked against); the cache is allocated once,
outside the timed region, as the C cache is.

Usage: torch_generate.py [--shape tiny|demo|small|gpt2-124M]... [--batch B]... [--prompt P]
                         [--new-tokens N] [--reps R] [--warmup W] [--threads T]
                         [--default-malloc]
Defaults: shapes tiny and small, batches 1 and 8, P 64, N 128, R 5, W 1, 1 thread.
Prints one JSON line per (shape, batch), with the same keys as bench_generate:
  rollout_s_median, prefill_s_median, tokens_per_s = B N / rollout time (prefill
  included), decode_tokens_per_s = B (N - 1) / (rollout - prefill), peak_rss_mb, and
  rollout_cpu_s_median / tokens_per_cpu_s (process CPU time: meaningful when other
  processes share the cores).
"""

import argparse
import json
import resource
import statistics
import sys
import time

from torch_env import load_torch

SHAPES = {
    # name: (n_layer, n_head, d_model, vocab_size)
    "tiny": (4, 4, 128, 512),
    "demo": (4, 6, 192, 2048),  # jobs/configs/sft-demo.json: the PPO / GRPO demos' policy
    "small": (8, 8, 512, 8192),
    "gpt2-124M": (12, 12, 768, 50257),
}


def parse_args(argv):
    """The command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), action="append")
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5, help="timed rollouts")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rollouts first")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--default-malloc", action="store_true",
                    help="keep glibc's default malloc settings (see bench/torch_env.py)")
    args = ap.parse_args(argv)
    args.shape = args.shape or ["tiny", "small"]
    args.batch = args.batch or [1, 8]
    if (min(args.batch) < 1 or args.prompt < 1 or args.new_tokens < 2 or args.reps < 1
            or args.warmup < 0 or args.threads < 1):
        ap.error("--batch, --prompt, --reps, --threads must be >= 1, --new-tokens >= 2, "
                 "--warmup >= 0")
    return args


def init_params(tg, torch, cfg, seed):
    """GPT-2 style weights: N(0, 0.02) matrices and embeddings, zero biases, unit gains
    (as pf_model_init_random, though not the same draws)."""
    gen = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape in tg.param_specs(cfg):
        if len(shape) == 2:
            params[name] = torch.randn(shape, generator=gen) * 0.02
        elif "ln_" in name and name.endswith(".weight"):
            params[name] = torch.ones(shape)
        else:
            params[name] = torch.zeros(shape)
    return params


def sample(torch, logits, gen, temperature=1.0):
    """One token per row from softmax(logits / T), with its log-prob and the entropy."""
    logp = torch.log_softmax(logits / temperature, dim=-1)
    probs = logp.exp()
    tok = torch.multinomial(probs, 1, generator=gen)[:, 0]
    return tok, logp.gather(1, tok[:, None])[:, 0], -(probs * logp).sum(dim=-1)


def make_rollout(tg, torch, cfg, B, P, N, seed):
    """Builds weights, prompts and the cache; returns (rollout, prefill) callables."""
    params = init_params(tg, torch, cfg, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    prompts = torch.randint(0, cfg.vocab_size, (B, P), generator=gen)
    lengths = torch.full((B,), P, dtype=torch.int64)
    cache = tg.KVCache(cfg, B, P + N)

    def prefill():
        return tg.prefill(params, cfg, prompts, lengths, cache)

    def rollout():
        tokens, logps, ents = [], [], []
        logits = prefill()
        for j in range(N):
            tok, lp, ent = sample(torch, logits, gen)
            tokens.append(tok), logps.append(lp), ents.append(ent)
            if j < N - 1:
                logits = tg.decode_step(params, cfg, tok, cache)
        return torch.stack(tokens, dim=1), torch.stack(logps, dim=1), torch.stack(ents, dim=1)

    return rollout, prefill


def timed(fn):
    """(wall time, process CPU time) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def bench(tg, torch, shape, B, args):
    """Times one (shape, batch) and prints its JSON line."""
    L, H, D, V = SHAPES[shape]
    P, N = args.prompt, args.new_tokens
    cfg = tg.Config(L, H, D, V, P + N)
    rollout, prefill = make_rollout(tg, torch, cfg, B, P, N, seed=1234)
    with torch.inference_mode():
        for _ in range(args.warmup):
            rollout()
        roll, pre = [], []
        for _ in range(args.reps):
            roll.append(timed(rollout))
            pre.append(timed(prefill)[0])
    t, tp = statistics.median(r[0] for r in roll), statistics.median(pre)
    tc = statistics.median(r[1] for r in roll)
    print(json.dumps({
        "impl": "torch", "shape": shape, "batch": B, "prompt": P, "new_tokens": N,
        "threads": args.threads,
        "rollout_s_median": round(t, 6), "prefill_s_median": round(tp, 6),
        "tokens_per_s": round(B * N / t, 1),
        "decode_tokens_per_s": round(B * (N - 1) / (t - tp), 1),
        "rollout_cpu_s_median": round(tc, 6), "tokens_per_cpu_s": round(B * N / tc, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }), flush=True)


def main(argv):
    args = parse_args(argv)
    torch, tg = load_torch(__file__, argv, args.threads, args.default_malloc)
    for shape in args.shape:
        for B in args.batch:
            bench(tg, torch, shape, B, args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
