"""Parity of the C GPT-2 (via parity_driver) with the independent PyTorch model.

Usage: test_parity.py PATH/TO/parity_driver

For several shapes (tiny; T > 64 to cross the C attention's 64-row blocks; d_model not a
multiple of 16 with an odd head size) it writes seeded random weights as an h5py
checkpoint, builds right-padded batches of variable lengths, runs the C forward and
backward and compares with PyTorch in float64 (the reference) and float32:
  - per-token log-probs and values within 1e-4 absolute; padding exactly 0;
  - each parameter gradient: ||g_c - g_ref|| <= 1e-3 ||g_ref|| + 1e-12 (max |diff| shown);
  - the forward without backward storage gives the same bits as the training forward;
  - padding token ids change nothing (same bits);
  - with a value head, the critic's path (no LM head, d(values) only) likewise;
  - 10 AdamW steps (lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 0.1 on 2-D tensors),
    with and without gradient clipping, match torch.optim.AdamW within 1e-4 on params
    (except the key third of c_attn.bias, whose true gradient is exactly zero: there
    AdamW turns float32 rounding noise into steps of up to lr, in PyTorch float32 as
    in C, so it is only checked against the bound 2 * steps * lr; see key_bias_mask).
Generation (parity_driver generate, tests/parity/torch_gpt2.py's KV-cache loop), for
prompts of mixed lengths with decoding across the 64-row blocks, in float64 PyTorch:
  - greedy decoding with a stop id matches the torch greedy loop token for token (the
    smallest top-2 logit gap along the trajectory is printed: a tie there would explain
    a mismatch), with the same lengths and finished flags;
  - the sampler's log-probs of the generated tokens, and the whole next-token
    distribution the C decode steps produce (log_softmax of the logits, every token), match
    the torch full forward (no cache) on prompt + completion within 1e-4;
  - the torch KV-cache loop itself matches the torch full forward (oracle self-check);
  - each prompt generated alone gives the same tokens as the batch.
Why: the C kernels are hand-written (blocked attention, fused backward); an oracle
written separately from the spec is the strongest check of their mathematics.
Prints one line per check, then `parity: N passed, M failed`; exits 1 on any failure.
"""

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import h5py
import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_gpt2 as tg  # noqa: E402
from parity_util import Results  # noqa: E402

LOGPROB_TOL = 1e-4
VALUE_TOL = 1e-4
GRAD_RTOL = 1e-3
GRAD_TINY = 1e-12
ADAM_TOL = 1e-4


@dataclass
class Case:
    """One model shape plus one batch."""

    name: str
    cfg: tg.Config
    lengths: list
    T: int
    temperature: float = 1.0
    seed: int = 0
    ws_extra: tuple = (0, 0)  # workspace larger than the batch by (batch, seq)


@dataclass
class AdamCase:
    """An AdamW run: a Case plus the optimizer recipe."""

    case: Case
    grad_clip: float  # relative to the first step's gradient norm; 0: off
    steps: int = 10
    lr: float = 1e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.1


# --- inputs -----------------------------------------------------------------------

def init_std(name):
    """Spread of the random weights: large enough that softmaxes are far from uniform."""
    if name == "wte.weight":
        return 0.25  # also the LM head: softmax entropy about half of log V
    if name == "wpe.weight":
        return 0.05
    if "c_attn.weight" in name:
        return 0.15
    if name.endswith(".weight") and ("c_proj" in name or "c_fc" in name):
        return 0.08
    if name.startswith("v_head"):
        return 0.2
    return 0.05  # biases


def random_params(cfg, seed):
    """Seeded random float32 weights, LayerNorm gains around 1 and random LN biases."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in tg.param_specs(cfg):
        if "ln_" in name and name.endswith(".weight"):
            arr = 1.0 + 0.2 * rng.standard_normal(shape)
        elif "ln_" in name:
            arr = 0.1 * rng.standard_normal(shape)
        else:
            arr = init_std(name) * rng.standard_normal(shape)
        params[name] = arr.astype(np.float32)
    return params


def random_batch(case, seed, pad_seed=None):
    """Tokens right-padded with random ids (pad_seed picks them), and random upstream
    gradients that are non-zero at padding too (the model must ignore them there)."""
    rng = np.random.default_rng(seed)
    B, T, V = len(case.lengths), case.T, case.cfg.vocab_size
    tokens = rng.integers(0, V, size=(B, T)).astype(np.int32)
    pad_rng = np.random.default_rng(pad_seed if pad_seed is not None else seed + 1)
    for b, n in enumerate(case.lengths):
        tokens[b, n:] = pad_rng.integers(0, V, size=T - n)
    batch = {
        "tokens": tokens,
        "lengths": np.array(case.lengths, dtype=np.int32),
        "dlogprobs": rng.standard_normal((B, T)).astype(np.float32),
    }
    if case.cfg.value_head:
        batch["dvalues"] = rng.standard_normal((B, T)).astype(np.float32)
    return batch


def write_input(path, case, batch, **attrs):
    """The exchange file parity_driver reads."""
    with h5py.File(path, "w") as f:
        for key, arr in batch.items():
            f.create_dataset(key, data=arr)
        f.attrs["temperature"] = float(case.temperature)
        f.attrs["ws_batch"] = np.int64(len(case.lengths) + case.ws_extra[0])
        f.attrs["ws_seq"] = np.int64(case.T + case.ws_extra[1])
        for key, value in attrs.items():
            f.attrs[key] = value


def run_driver(driver, mode, ckpt, inp, out):
    """Runs parity_driver; returns its output as a dict of numpy arrays (groups as
    nested dicts), or raises with its stderr."""
    proc = subprocess.run([driver, mode, ckpt, inp, out], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"parity_driver {mode} exited {proc.returncode}: "
                           f"{proc.stderr.strip()}")
    with h5py.File(out, "r") as f:
        return {k: ({n: v[...] for n, v in f[k].items()} if isinstance(f[k], h5py.Group)
                    else f[k][...]) for k in f}


# --- PyTorch side -----------------------------------------------------------------

def torch_inputs(batch):
    """The batch as torch tensors (int64 ids, float64 upstream gradients)."""
    out = {k: torch.from_numpy(v.astype(np.int64)) for k, v in batch.items()
           if k in ("tokens", "lengths")}
    out["dlogprobs"] = torch.from_numpy(batch["dlogprobs"].astype(np.float64))
    if "dvalues" in batch:
        out["dvalues"] = torch.from_numpy(batch["dvalues"].astype(np.float64))
    return out


def torch_loss(params, cfg, tb, temperature, dtype):
    """Forward and the surrogate loss in dtype; returns (loss, logprobs, values)."""
    lp, val = tg.forward(params, cfg, tb["tokens"], tb["lengths"], temperature,
                         want_values=cfg.value_head)
    dv = tb["dvalues"].to(dtype) if "dvalues" in tb else None
    loss = tg.surrogate_loss(lp, val, tb["dlogprobs"].to(dtype), dv)
    return loss, lp, val


def torch_grad(params_np, cfg, batch, temperature, dtype):
    """logprobs, values and gradients (float64 numpy) from PyTorch in dtype."""
    params = tg.to_torch(params_np, dtype)
    loss, lp, val = torch_loss(params, cfg, torch_inputs(batch), temperature, dtype)
    loss.backward()
    as64 = lambda t: t.detach().to(torch.float64).numpy()  # noqa: E731
    grads = {k: as64(v.grad) for k, v in params.items()}
    return as64(lp), (as64(val) if val is not None else None), grads


def torch_adamw(params_np, cfg, batch, ac, max_norm, dtype):
    """The driver's recipe with torch.optim.AdamW; returns (params, pre-clip norms)."""
    params = tg.to_torch(params_np, dtype)
    opt = tg.make_adamw(params, ac.lr, ac.betas, ac.eps, ac.weight_decay)
    tb = torch_inputs(batch)
    norms = []
    for _ in range(ac.steps):
        opt.zero_grad(set_to_none=False)
        loss, _, _ = torch_loss(params, cfg, tb, ac.case.temperature, dtype)
        loss.backward()
        norms.append(tg.clip_grads(params, max_norm))
        opt.step()
    return {k: v.detach().to(torch.float64).numpy() for k, v in params.items()}, norms


# --- comparisons ------------------------------------------------------------------

def check_logprobs(R, tag, lp_c, lp_ref, ref_name):
    """Log-probs within tolerance of the reference."""
    err = float(np.max(np.abs(lp_c.astype(np.float64) - lp_ref)))
    R.check(f"{tag} logprobs vs {ref_name}", err <= LOGPROB_TOL,
            f"max |diff| {err:.2e} (tol {LOGPROB_TOL:g}), "
            f"mean |lp| {np.abs(lp_ref).sum() / max(1, np.count_nonzero(lp_ref)):.3f}")


def check_padding(R, tag, case, lp_c, val_c):
    """Positions t >= len-1 have log-prob exactly 0; t >= len have value exactly 0."""
    T = case.T
    lp_mask = np.arange(T)[None, :] >= np.array(case.lengths)[:, None] - 1
    bad = int(np.count_nonzero(lp_c[lp_mask]))
    R.check(f"{tag} logprobs padding == 0", bad == 0,
            f"{bad} of {int(lp_mask.sum())} non-zero")
    if val_c is not None:
        v_mask = np.arange(T)[None, :] >= np.array(case.lengths)[:, None]
        bad = int(np.count_nonzero(val_c[v_mask]))
        R.check(f"{tag} values padding == 0", bad == 0,
                f"{bad} of {int(v_mask.sum())} non-zero")


def grad_errors(g_c, g_ref):
    """Per tensor: (||g_c - g_ref||, max |g_c - g_ref|, ||g_ref||)."""
    out = {}
    for name, ref in g_ref.items():
        diff = g_c[name].astype(np.float64).reshape(ref.shape) - ref
        out[name] = (float(np.linalg.norm(diff)), float(np.max(np.abs(diff))),
                     float(np.linalg.norm(ref)))
    return out


def check_grads(R, tag, g_c, g_ref, ref_name):
    """Every tensor passes ||g_c - g_ref|| <= 1e-3 ||g_ref|| + tiny; the worst is
    reported, and each failing tensor is named with its magnitudes."""
    missing = sorted(set(g_ref) ^ set(g_c))
    if missing:
        R.check(f"{tag} grads vs {ref_name}", False, f"tensor names differ: {missing}")
        return
    errs = grad_errors(g_c, g_ref)
    rel = {n: d / (r + GRAD_TINY) for n, (d, _, r) in errs.items()}
    bad = [n for n, (d, _, r) in errs.items() if d > GRAD_RTOL * r + GRAD_TINY]
    worst = max(rel, key=rel.get)
    detail = (f"worst {worst}: rel {rel[worst]:.2e}, max |diff| {errs[worst][1]:.2e}, "
              f"||g|| {errs[worst][2]:.2e}; max |diff| over all "
              f"{max(e[1] for e in errs.values()):.2e}")
    for name in bad:
        detail += (f"\n       {name}: rel {rel[name]:.2e}, max |diff| {errs[name][1]:.2e},"
                   f" ||g|| {errs[name][2]:.2e}")
    R.check(f"{tag} grads vs {ref_name} ({len(errs)} tensors)", not bad, detail)


def check_values(R, tag, val_c, val_ref, ref_name):
    """Values within tolerance of the reference."""
    err = float(np.max(np.abs(val_c.astype(np.float64) - val_ref)))
    R.check(f"{tag} values vs {ref_name}", err <= VALUE_TOL,
            f"max |diff| {err:.2e} (tol {VALUE_TOL:g})")


# --- test cases -------------------------------------------------------------------

def prepare(tmp, case, tag, pad_seed=None, **attrs):
    """Writes the checkpoint and exchange file; returns (params, batch, ckpt, inp)."""
    params = random_params(case.cfg, case.seed)
    batch = random_batch(case, case.seed + 100, pad_seed)
    ckpt = os.path.join(tmp, f"{tag}.ckpt.h5")
    inp = os.path.join(tmp, f"{tag}.in.h5")
    tg.write_checkpoint(ckpt, params, case.cfg)
    write_input(inp, case, batch, **attrs)
    return params, batch, ckpt, inp


def clip_threshold(case, ac):
    """max_norm for clipping: a fraction of the first gradient's norm, so that clipping
    is active; 0 (off) when ac.grad_clip is 0."""
    if ac.grad_clip <= 0:
        return 0.0
    params = random_params(case.cfg, case.seed)
    batch = random_batch(case, case.seed + 100)
    _, _, g = torch_grad(params, case.cfg, batch, case.temperature, torch.float64)
    return ac.grad_clip * float(np.sqrt(sum((v * v).sum() for v in g.values())))


def case_grad(R, driver, tmp, case):
    """Forward/backward parity of one case against float64 and float32 PyTorch."""
    params, batch, ckpt, inp = prepare(tmp, case, case.name)
    out = run_driver(driver, "grad", ckpt, inp, os.path.join(tmp, f"{case.name}.out.h5"))
    vals_c = out.get("values")
    for dtype, ref_name in ((torch.float64, "torch64"), (torch.float32, "torch32")):
        lp_t, val_t, g_t = torch_grad(params, case.cfg, batch, case.temperature, dtype)
        check_logprobs(R, case.name, out["logprobs"], lp_t, ref_name)
        if case.cfg.value_head:
            check_values(R, case.name, vals_c, val_t, ref_name)
        check_grads(R, case.name, out["grads"], g_t, ref_name)
    check_padding(R, case.name, case, out["logprobs"], vals_c)
    if case.cfg.value_head:
        check_values_only(R, case, params, batch, out)
    same = np.array_equal(out["logprobs"], out["logprobs_nograd"])
    R.check(f"{case.name} forward without backward storage == training forward", same,
            "bitwise" if same else f"max |diff| "
            f"{np.max(np.abs(out['logprobs'] - out['logprobs_nograd'])):.2e}")
    return out


def check_values_only(R, case, params, batch, out):
    """The critic's path (no LM head; backward of d(values) alone) against PyTorch with
    d(logprobs) = 0; also: the values are the same bits as with the LM head."""
    critic = dict(batch, dlogprobs=np.zeros_like(batch["dlogprobs"]))
    _, val_t, g_t = torch_grad(params, case.cfg, critic, case.temperature, torch.float64)
    tag = case.name + " values-only"
    check_values(R, tag, out["values_only"], val_t, "torch64")
    check_grads(R, tag, out["grads_values_only"], g_t, "torch64")
    same = np.array_equal(out["values_only"], out["values"])
    R.check(f"{tag} values == values with LM head", same, "bitwise" if same else "differ")


def case_padding_invariance(R, driver, tmp, case, first):
    """Other padding token ids: logprobs and gradients keep the same bits."""
    tag = case.name + "-repad"
    _, _, ckpt, inp = prepare(tmp, case, tag, pad_seed=case.seed + 777)
    out = run_driver(driver, "grad", ckpt, inp, os.path.join(tmp, f"{tag}.out.h5"))
    same_lp = np.array_equal(out["logprobs"], first["logprobs"])
    diff_g = [n for n in out["grads"] if not np.array_equal(out["grads"][n], first["grads"][n])]
    R.check(f"{case.name} padding ids change nothing", same_lp and not diff_g,
            "bitwise" if same_lp and not diff_g else
            f"logprobs same: {same_lp}; grads differ in {diff_g[:4]}")


def case_adamw(R, driver, tmp, ac):
    """Ten AdamW steps in C against torch.optim.AdamW (float64 and float32)."""
    case = ac.case
    tag = f"{case.name}-adamw-clip{ac.grad_clip:g}"
    max_norm = clip_threshold(case, ac)
    params, batch, ckpt, inp = prepare(
        tmp, case, tag, steps=np.int64(ac.steps), lr=ac.lr, beta1=ac.betas[0],
        beta2=ac.betas[1], eps=ac.eps, weight_decay=ac.weight_decay, grad_clip=max_norm)
    out = run_driver(driver, "adamw", ckpt, inp, os.path.join(tmp, f"{tag}.out.h5"))
    moved = max(float(np.max(np.abs(out["params"][n] - params[n]))) for n in params)
    for dtype, ref_name in ((torch.float64, "torch64"), (torch.float32, "torch32")):
        p_t, norms_t = torch_adamw(params, case.cfg, batch, ac, max_norm, dtype)
        check_adam_params(R, tag, out["params"], p_t, ref_name, moved, ac)
        nerr = float(np.max(np.abs(out["grad_norm"] - norms_t) / np.array(norms_t)))
        R.check(f"{tag} grad norms vs {ref_name}", nerr <= 1e-4,
                f"max rel diff {nerr:.2e} over {ac.steps} steps"
                f"{' (clipped: scale %.3f at step 1)' % out['clip_scale'][0] if max_norm else ''}")


def key_bias_mask(name, shape, D):
    """True on the key third of c_attn.bias. Its gradient is zero in exact arithmetic
    (adding a constant to every key's score leaves the softmax unchanged), so the
    float32 gradient there is rounding noise, which AdamW normalises into steps of up to
    lr; C and PyTorch float32 each follow their own noise. Compared separately."""
    mask = np.zeros(shape, dtype=bool)
    if name.endswith("attn.c_attn.bias"):
        mask[D:2 * D] = True
    return mask


def check_adam_params(R, tag, p_c, p_t, ref_name, moved, ac):
    """Final parameters within ADAM_TOL (key biases excluded); the key biases only
    within the largest distance AdamW can move them, steps * lr."""
    D = ac.case.cfg.d_model
    errs, key_err = {}, 0.0
    for n, v in p_t.items():
        diff = np.abs(p_c[n].astype(np.float64).reshape(v.shape) - v)
        kmask = key_bias_mask(n, v.shape, D)
        errs[n] = float(np.max(diff[~kmask]))
        if kmask.any():
            key_err = max(key_err, float(np.max(diff[kmask])))
    worst = max(errs, key=errs.get)
    R.check(f"{tag} params after steps vs {ref_name}", errs[worst] <= ADAM_TOL,
            f"worst {worst}: max |diff| {errs[worst]:.2e} (tol {ADAM_TOL:g}); "
            f"params moved up to {moved:.2e}")
    bound = 2 * ac.steps * ac.lr * 1.001
    R.check(f"{tag} key biases (zero true gradient) vs {ref_name}", key_err <= bound,
            f"max |diff| {key_err:.2e} <= 2 steps lr = {bound:.2e}")


def grad_cases():
    """Shapes and batches for the forward/backward checks."""
    C = tg.Config
    return [
        Case("tiny", C(2, 4, 32, 64, 16), [16, 9, 1], T=16, seed=1),
        Case("tiny-vhead-temp0.7", C(2, 4, 32, 64, 24, value_head=True), [12, 16, 5, 2],
             T=16, temperature=0.7, seed=2, ws_extra=(2, 4)),
        Case("long-T150", C(2, 2, 64, 96, 160), [150, 65, 129], T=150, seed=3),
        Case("odd-D44-hd11", C(3, 4, 44, 67, 40, value_head=True), [33, 20, 7], T=33,
             temperature=1.3, seed=4),
    ]


def adam_cases(cases):
    """AdamW runs: with a value head (decay groups), with and without clipping."""
    by_name = {c.name: c for c in cases}
    return [AdamCase(by_name["tiny-vhead-temp0.7"], grad_clip=0.0),
            AdamCase(by_name["tiny-vhead-temp0.7"], grad_clip=0.5),
            AdamCase(by_name["odd-D44-hd11"], grad_clip=0.5)]


# --- generation -------------------------------------------------------------------

@dataclass
class GenCase:
    """Greedy generation from a batch of prompts."""

    name: str
    cfg: tg.Config
    lengths: list
    T: int
    max_new: int
    seed: int = 0
    temperature: float = 1.0  # unused by generation; with ws_extra, write_input's interface
    ws_extra: tuple = (0, 0)
    stop: tuple = ()  # set from a first torch run


def gen_cases():
    """Prompts of mixed lengths; the long case decodes across positions 64 and 128."""
    C = tg.Config
    return [GenCase("gen-tiny", C(2, 4, 32, 64, 48), [16, 9, 1, 12], T=16, max_new=24, seed=7),
            GenCase("gen-long", C(2, 2, 64, 96, 160), [70, 1, 64], T=70, max_new=60, seed=8)]


def full_logprobs(params, cfg, prompts, plen, gen, glen):
    """log_softmax of the full forward (no cache) at the positions generated tokens were
    drawn from: [B, N, V], zero past each sequence's end."""
    B, N = gen.shape
    T = max(plen[b] + glen[b] for b in range(B))
    seq = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        seq[b, :plen[b]] = prompts[b, :plen[b]]
        seq[b, plen[b]:plen[b] + glen[b]] = gen[b, :glen[b]]
    h = tg.hidden_states(params, cfg, seq)
    logp = torch.log_softmax(h @ params["wte.weight"].t(), dim=-1)
    out = torch.zeros(B, N, cfg.vocab_size, dtype=logp.dtype)
    for b in range(B):
        out[b, :glen[b]] = logp[b, plen[b] - 1:plen[b] - 1 + glen[b]]
    return out


def top2_gaps(logits, glen):
    """Per (b, j) within each sequence: the gap between the two largest logits."""
    top = logits.topk(2, dim=-1).values
    gaps = (top[..., 0] - top[..., 1]).numpy()
    return [[float(gaps[b, j]) for j in range(int(glen[b]))] for b in range(len(glen))]


def torch_greedy(params, case, batch, stop_ids):
    """The torch KV-cache greedy loop: (tokens, lengths, logits)."""
    tokens = torch.from_numpy(batch["tokens"].astype(np.int64))
    lengths = torch.from_numpy(batch["lengths"].astype(np.int64))
    return tg.generate_greedy(params, case.cfg, tokens, lengths, case.max_new, stop_ids)


def check_gen_tokens(R, case, out, ref_tok, ref_len, gaps):
    """Token-for-token equality with the torch loop, lengths and finished flags."""
    same = np.array_equal(out["tokens"], ref_tok) and np.array_equal(out["lengths"], ref_len)
    min_gap = min(min(g) for g in gaps)
    detail = f"{int(ref_len.sum())} tokens; smallest top-2 logit gap {min_gap:.2e}"
    if not same:
        b, j = [int(i[0]) for i in np.nonzero(out["tokens"] != ref_tok)]
        detail += (f"; first mismatch sequence {b} position {j}: C {out['tokens'][b, j]} vs "
                   f"torch {ref_tok[b, j]}, top-2 gap there {gaps[b][j]:.2e}")
    R.check(f"{case.name} greedy tokens == torch64 KV-cache loop", same, detail)
    fin_ref = (ref_len < case.max_new) | np.array(
        [ref_tok[b, ref_len[b] - 1] in case.stop for b in range(len(ref_len))])
    R.check(f"{case.name} finished flags", np.array_equal(out["finished"] != 0, fin_ref),
            f"C {out['finished'].tolist()} vs {fin_ref.astype(int).tolist()}")


def check_gen_logprobs(R, case, out, full, ref_seen):
    """Sampled log-probs and full decode distributions against the torch full forward;
    the torch cache loop against the same (oracle self-check)."""
    B, N = out["tokens"].shape
    glen = out["lengths"]
    mask = np.arange(N)[None, :] < glen[:, None]
    lp_ref = np.zeros((B, N))
    for b in range(B):
        for j in range(glen[b]):
            lp_ref[b, j] = full[b, j, out["tokens"][b, j]]
    err = float(np.max(np.abs(out["logprobs"] - lp_ref)[mask]))
    R.check(f"{case.name} generated log-probs vs torch64 forward", err <= LOGPROB_TOL,
            f"max |diff| {err:.2e} (tol {LOGPROB_TOL:g})")
    c_logp = torch.log_softmax(torch.from_numpy(out["logits"].astype(np.float64)), dim=-1)
    err = float(np.max(np.abs(c_logp.numpy() - full.numpy())[mask]))
    R.check(f"{case.name} decode distributions (all {case.cfg.vocab_size} tokens) vs torch64 "
            f"forward", err <= LOGPROB_TOL, f"max |diff| {err:.2e} (tol {LOGPROB_TOL:g})")
    t_logp = torch.log_softmax(ref_seen, dim=-1).numpy()
    err = float(np.max(np.abs(t_logp - full.numpy())[mask]))
    R.check(f"{case.name} torch KV-cache loop vs torch full forward (oracle)", err <= 1e-9,
            f"max |diff| {err:.2e}")


def case_generate(R, driver, tmp, case):
    """Greedy generation parity of one case; see the module docstring."""
    params = random_params(case.cfg, case.seed)
    batch = random_batch(case, case.seed + 100)
    p64 = tg.to_torch(params, torch.float64, requires_grad=False)
    with torch.no_grad():
        free_tok, _, _ = torch_greedy(p64, case, batch, ())
        case.stop = (int(free_tok[0, case.max_new // 2]),)  # sequence 0 hits it
        ref_tok, ref_len, ref_seen = torch_greedy(p64, case, batch, case.stop)
    ckpt, inp = os.path.join(tmp, f"{case.name}.ckpt.h5"), os.path.join(tmp, f"{case.name}.in.h5")
    tg.write_checkpoint(ckpt, params, case.cfg)
    write_input(inp, case, batch, max_new_tokens=np.int64(case.max_new),
                gen_temperature=0.0, seed=np.int64(3))
    with h5py.File(inp, "a") as f:
        f.create_dataset("stop_ids", data=np.array(case.stop, dtype=np.int32))
    out = run_driver(driver, "generate", ckpt, inp, os.path.join(tmp, f"{case.name}.out.h5"))
    ref_tok, ref_len = ref_tok.numpy().astype(np.int32), ref_len.numpy().astype(np.int32)
    check_gen_tokens(R, case, out, ref_tok, ref_len, top2_gaps(ref_seen, ref_len))
    with torch.no_grad():
        prompts = torch.from_numpy(batch["tokens"].astype(np.int64))
        full = full_logprobs(p64, case.cfg, prompts, batch["lengths"],
                             torch.from_numpy(out["tokens"].astype(np.int64)), out["lengths"])
    check_gen_logprobs(R, case, out, full, ref_seen)
    same = np.array_equal(out["tokens_alone"], out["tokens"])
    R.check(f"{case.name} each prompt alone == batch", same, "bitwise" if same else "differ")


def guarded(R, name, fn, *args):
    """Runs one case; a driver failure counts as a failed check instead of stopping."""
    try:
        return fn(*args)
    except RuntimeError as err:
        R.check(f"{name} driver run", False, str(err))
        return None


def main(argv):
    if len(argv) != 2:
        print("usage: test_parity.py PATH/TO/parity_driver", file=sys.stderr)
        return 2
    driver = argv[1]
    torch.set_num_threads(1)
    R = Results()
    cases = grad_cases()
    with tempfile.TemporaryDirectory(prefix="prefopt-parity-") as tmp:
        for case in cases:
            out = guarded(R, case.name, case_grad, R, driver, tmp, case)
            if case.name == "tiny" and out is not None:
                guarded(R, case.name + "-repad", case_padding_invariance, R, driver, tmp,
                        case, out)
        for ac in adam_cases(cases):
            guarded(R, ac.case.name + "-adamw", case_adamw, R, driver, tmp, ac)
        for gc in gen_cases():
            guarded(R, gc.name, case_generate, R, driver, tmp, gc)
    print(f"parity: {R.passed} passed, {R.failed} failed")
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
