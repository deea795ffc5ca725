"""An independent PyTorch GPT-2, used as the oracle for the C model.

Written from the model specification (DESIGN.md section 4 and include/prefopt/model.h),
not from the C sources, so that the parity tests compare two implementations rather than
one implementation with itself. It is deliberately plain: a functional forward over a
dict of named tensors, so that the same names, shapes and canonical order as the C
tensor table and the HDF5 checkpoint are used everywhere.

Contents:
  Config, param_specs()      model shape and the canonical tensor table
  forward()                  per-token next-token log-probs (and values), right-padded
  surrogate_loss()           sum(dlogprobs * logprobs) + sum(dvalues * values): its
                             parameter gradient is what pf_model_backward accumulates
  KVCache, prefill(), decode_step(), generate_greedy()
                             decoding with a preallocated KV cache (the C cache's layout)
  make_adamw(), clip_grads() torch.optim.AdamW with decay only on 2-D tensors, and
                             clip_grad_norm_
  write_checkpoint(), read_checkpoint()
                             the prefopt checkpoint layout, written the way an external
                             converter using h5py would write it
Also used by bench/torch_dpo_step.py and bench/torch_generate.py.
"""

import math
from dataclasses import dataclass

import h5py
import numpy as np
import torch
import torch.nn.functional as F

LN_EPS = 1e-5


@dataclass
class Config:
    """GPT-2 shape; the same keys as pf_model_config and the /model attributes."""

    n_layer: int
    n_head: int
    d_model: int
    vocab_size: int
    max_seq_len: int
    value_head: bool = False


def param_specs(cfg):
    """The canonical tensor table: a list of (name, shape) in checkpoint order."""
    D, V = cfg.d_model, cfg.vocab_size
    specs = [("wte.weight", (V, D)), ("wpe.weight", (cfg.max_seq_len, D))]
    for i in range(cfg.n_layer):
        p = f"h.{i}."
        specs += [
            (p + "ln_1.weight", (D,)), (p + "ln_1.bias", (D,)),
            (p + "attn.c_attn.weight", (D, 3 * D)), (p + "attn.c_attn.bias", (3 * D,)),
            (p + "attn.c_proj.weight", (D, D)), (p + "attn.c_proj.bias", (D,)),
            (p + "ln_2.weight", (D,)), (p + "ln_2.bias", (D,)),
            (p + "mlp.c_fc.weight", (D, 4 * D)), (p + "mlp.c_fc.bias", (4 * D,)),
            (p + "mlp.c_proj.weight", (4 * D, D)), (p + "mlp.c_proj.bias", (D,)),
        ]
    specs += [("ln_f.weight", (D,)), ("ln_f.bias", (D,))]
    if cfg.value_head:
        specs += [("v_head.weight", (D,)), ("v_head.bias", (1,))]
    return specs


def decays(shape):
    """Weight decay applies to matrices and embeddings (2-D), not to biases or gains."""
    return len(shape) == 2


def to_torch(params, dtype=torch.float32, requires_grad=True):
    """Copies a dict of numpy arrays into leaf tensors of the given dtype."""
    out = {}
    for name, arr in params.items():
        t = torch.tensor(np.asarray(arr), dtype=dtype)
        out[name] = t.requires_grad_(requires_grad)
    return out


# --- the model --------------------------------------------------------------------

def linear(x, params, name):
    """HF Conv1D: y = x @ W + b with W stored [in, out]."""
    return x @ params[name + ".weight"] + params[name + ".bias"]


def layer_norm(x, params, name):
    """LayerNorm over the last dimension, eps 1e-5, with gain and bias."""
    w, b = params[name + ".weight"], params[name + ".bias"]
    return F.layer_norm(x, (x.shape[-1],), w, b, LN_EPS)


def gelu_tanh(x):
    """GPT-2's tanh approximation of GELU:
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return F.gelu(x, approximate="tanh")


def attention(x, params, prefix, n_head):
    """Causal multi-head self-attention; c_attn output is [q | k | v], head h takes
    columns h*hd:(h+1)*hd of each third."""
    B, T, D = x.shape
    hd = D // n_head
    qkv = linear(x, params, prefix + "c_attn")
    q, k, v = qkv.split(D, dim=-1)

    def heads(t):
        return t.view(B, T, n_head, hd).transpose(1, 2)  # [B, H, T, hd]

    q, k, v = heads(q * (1.0 / math.sqrt(hd))), heads(k), heads(v)  # scale the smaller q
    scores = q @ k.transpose(-2, -1)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    scores = scores.masked_fill(~causal, float("-inf"))
    y = torch.softmax(scores, dim=-1) @ v  # [B, H, T, hd]
    y = y.transpose(1, 2).reshape(B, T, D)
    return linear(y, params, prefix + "c_proj")


def block(x, params, i, n_head):
    """One pre-LN transformer block."""
    p = f"h.{i}."
    x = x + attention(layer_norm(x, params, p + "ln_1"), params, p + "attn.", n_head)
    h = gelu_tanh(linear(layer_norm(x, params, p + "ln_2"), params, p + "mlp.c_fc"))
    return x + linear(h, params, p + "mlp.c_proj")


def hidden_states(params, cfg, tokens):
    """The final LayerNorm output [B, T, D] for token ids [B, T]."""
    T = tokens.shape[1]
    x = F.embedding(tokens, params["wte.weight"]) + params["wpe.weight"][:T]
    for i in range(cfg.n_layer):
        x = block(x, params, i, cfg.n_head)
    return layer_norm(x, params, "ln_f")


def position_masks(lengths, T):
    """(logprob mask, value mask) [B, T]: t < len-1 and t < len."""
    t = torch.arange(T).unsqueeze(0)
    lengths = lengths.unsqueeze(1)
    return t < lengths - 1, t < lengths


def forward(params, cfg, tokens, lengths, temperature=1.0, want_values=False):
    """Returns (logprobs [B, T], values [B, T] or None).

    logprobs[b, t] = log softmax(logits[b, t] / temperature)[tokens[b, t+1]] for
    t < lengths[b] - 1, else exactly 0; values[b, t] = ln_f(x) . v_head.weight +
    v_head.bias for t < lengths[b], else 0. tokens and lengths are int64 tensors.
    """
    B, T = tokens.shape
    h = hidden_states(params, cfg, tokens)
    logits = h @ params["wte.weight"].t()
    if temperature != 1.0:
        logits = logits / temperature
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp[:, :-1].gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)  # [B, T-1]
    picked = torch.cat([picked, picked.new_zeros(B, 1)], dim=1)
    lp_mask, v_mask = position_masks(lengths, T)
    logprobs = torch.where(lp_mask, picked, picked.new_zeros(()))
    values = None
    if want_values:
        v = h @ params["v_head.weight"] + params["v_head.bias"]
        values = torch.where(v_mask, v, v.new_zeros(()))
    return logprobs, values


def surrogate_loss(logprobs, values, dlogprobs, dvalues):
    """A scalar whose gradient w.r.t. (logprobs, values) is (dlogprobs, dvalues)."""
    loss = (logprobs * dlogprobs).sum()
    if values is not None and dvalues is not None:
        loss = loss + (values * dvalues).sum()
    return loss


# --- decoding with a KV cache -------------------------------------------------------

class KVCache:
    """Keys and values of up to max_seq positions per sequence, preallocated per layer as
    [B, H, max_seq, hd] (the C cache's layout), and each sequence's cached length."""

    def __init__(self, cfg, batch, max_seq, dtype=torch.float32):
        shape = (batch, cfg.n_head, max_seq, cfg.d_model // cfg.n_head)
        self.k = [torch.zeros(shape, dtype=dtype) for _ in range(cfg.n_layer)]
        self.v = [torch.zeros(shape, dtype=dtype) for _ in range(cfg.n_layer)]
        self.lengths = torch.zeros(batch, dtype=torch.long)


def cached_attention(x, params, prefix, n_head, cache, layer, pos, end):
    """Attention of new positions x [B, S, D] at absolute positions pos [B, S]: stores
    their keys and values in the cache, then attends over cached positions 0..end-1,
    position j visible to a query at position p when j <= p."""
    B, S, D = x.shape
    hd = D // n_head
    q, k, v = linear(x, params, prefix + "c_attn").split(D, dim=-1)

    def heads(t):
        return t.view(B, S, n_head, hd).transpose(1, 2)  # [B, H, S, hd]

    q, k, v = heads(q * (1.0 / math.sqrt(hd))), heads(k), heads(v)
    idx = pos[:, None, :, None].expand(B, n_head, S, hd)
    cache.k[layer].scatter_(2, idx, k)
    cache.v[layer].scatter_(2, idx, v)
    keys, values = cache.k[layer][:, :, :end], cache.v[layer][:, :, :end]
    visible = torch.arange(end)[None, None, :] <= pos[:, :, None]  # [B, S, end]
    scores = (q @ keys.transpose(-2, -1)).masked_fill(~visible[:, None], float("-inf"))
    y = (torch.softmax(scores, dim=-1) @ values).transpose(1, 2).reshape(B, S, D)
    return linear(y, params, prefix + "c_proj")


def cached_hidden(params, cfg, tokens, pos, cache):
    """The final LayerNorm output [B, S, D] of new tokens [B, S] at positions pos [B, S],
    reading and extending the cache."""
    end = int(pos.max()) + 1
    x = F.embedding(tokens, params["wte.weight"]) + params["wpe.weight"][pos]
    for i in range(cfg.n_layer):
        p = f"h.{i}."
        x = x + cached_attention(layer_norm(x, params, p + "ln_1"), params, p + "attn.",
                                 cfg.n_head, cache, i, pos, end)
        h = gelu_tanh(linear(layer_norm(x, params, p + "ln_2"), params, p + "mlp.c_fc"))
        x = x + linear(h, params, p + "mlp.c_proj")
    return layer_norm(x, params, "ln_f")


def prefill(params, cfg, tokens, lengths, cache):
    """Loads right-padded prompts [B, T] (int64) into the cache; returns the next-token
    logits [B, V] at each prompt's last real position. Padding positions are cached too,
    but decoding overwrites them before any query can see them."""
    B, T = tokens.shape
    pos = torch.arange(T)[None].expand(B, T)
    h = cached_hidden(params, cfg, tokens, pos, cache)
    cache.lengths = lengths.clone()
    return h[torch.arange(B), lengths - 1] @ params["wte.weight"].t()


def decode_step(params, cfg, tokens, cache):
    """Appends one token per sequence (tokens [B]); returns the next-token logits [B, V]."""
    h = cached_hidden(params, cfg, tokens[:, None], cache.lengths[:, None], cache)
    cache.lengths = cache.lengths + 1
    return h[:, 0] @ params["wte.weight"].t()


def generate_greedy(params, cfg, tokens, lengths, max_new, stop_ids=()):
    """Greedy decoding (argmax, first index on ties) of max_new tokens per prompt with the
    KV cache; a sequence ends after its first stop id. Returns (tokens [B, max_new] with
    -1 past each end, lengths [B], logits [B, max_new, V] used for each token)."""
    B = tokens.shape[0]
    dtype = params["wte.weight"].dtype
    cache = KVCache(cfg, B, int(lengths.max()) + max_new, dtype)
    logits = prefill(params, cfg, tokens, lengths, cache)
    out, seen = [], []
    for j in range(max_new):
        nxt = logits.argmax(dim=-1)
        out.append(nxt)
        seen.append(logits)
        if j < max_new - 1:
            logits = decode_step(params, cfg, nxt, cache)
    out, seen = torch.stack(out, dim=1), torch.stack(seen, dim=1)
    n = torch.full((B,), max_new, dtype=torch.long)
    for b in range(B):
        for j in range(max_new):
            if int(out[b, j]) in stop_ids:
                n[b] = j + 1
                out[b, j + 1:] = -1
                break
    return out, n, seen


# --- optimizer --------------------------------------------------------------------

def make_adamw(params, lr, betas, eps, weight_decay):
    """torch.optim.AdamW with two groups: decay on 2-D tensors, none on the rest.

    Tensors are given in canonical order (dict insertion order of params)."""
    decay = [t for t in params.values() if decays(t.shape)]
    no_decay = [t for t in params.values() if not decays(t.shape)]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def clip_grads(params, max_norm):
    """clip_grad_norm_ over all tensors; returns the pre-clip global norm.
    max_norm <= 0 only measures."""
    tensors = list(params.values())
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(tensors, max_norm))
    return float(torch.norm(torch.stack([t.grad.norm() for t in tensors])))


# --- checkpoints ------------------------------------------------------------------

def write_checkpoint(path, params, cfg, step=0, algorithm="init", world_size=1):
    """Writes the documented checkpoint layout with h5py: string attributes as
    variable-length UTF-8, integers as int64, float32 datasets under /model/params
    in canonical order. params maps names to arrays (numpy or torch)."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "prefopt-checkpoint"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["step"] = np.int64(step)
        f.attrs["algorithm"] = algorithm
        f.attrs["world_size"] = np.int64(world_size)
        model = f.create_group("model")
        model.attrs["arch"] = "gpt2"
        for key in ("n_layer", "n_head", "d_model", "vocab_size", "max_seq_len"):
            model.attrs[key] = np.int64(getattr(cfg, key))
        group = model.create_group("params")
        for name, shape in param_specs(cfg):
            arr = params[name]
            if isinstance(arr, torch.Tensor):
                arr = arr.detach().cpu().numpy()
            arr = np.asarray(arr, dtype=np.float32)
            if arr.shape != shape:
                raise ValueError(f"{name}: shape {arr.shape}, expected {shape}")
            group.create_dataset(name, data=arr)


def read_checkpoint(path):
    """Returns (params: dict name -> float32 numpy array in canonical order, Config)."""
    with h5py.File(path, "r") as f:
        attrs = f["model"].attrs
        arch = attrs["arch"]
        arch = arch.decode() if isinstance(arch, bytes) else arch
        if arch != "gpt2":
            raise ValueError(f"{path}: arch {arch!r}, expected 'gpt2'")
        group = f["model/params"]
        cfg = Config(*(int(attrs[k]) for k in
                       ("n_layer", "n_head", "d_model", "vocab_size", "max_seq_len")),
                     value_head="v_head.weight" in group)
        params = {name: group[name][...].astype(np.float32) for name, _ in param_specs(cfg)}
    return params, cfg
