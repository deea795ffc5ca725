#!/usr/bin/env python3
"""Writes prefopt checkpoints with h5py, the way a converter would, and scores token
sequences with an independent NumPy GPT-2 forward, for tests/e2e/cli_basic.sh.

  write_h5py_ckpt.py write OUT.h5 [--variant vlen|fixed] [--n-layer 2] [--n-head 2]
                     [--d-model 16] [--vocab-size 50] [--max-seq-len 16] [--seed 0]
      Writes only the documented root attributes, /model and /model/params.
      vlen:  strings as variable-length UTF-8 and integers as int64 (h5py defaults);
      fixed: strings as fixed-length ASCII (numpy bytes) and integers as int32.
      Prints the parameters' SHA-256 (float32 little-endian, canonical order).

  write_h5py_ckpt.py logprobs CKPT.h5 TOKENS.jsonl
      Prints one {"logprob_sum", "token_logprobs"} line per input line, computed in
      float64 from the checkpoint's tensors (read with h5py).

  write_h5py_ckpt.py check-c-ckpt CKPT.h5
      Asserts that a checkpoint written by prefopt-mpi reads back in h5py with the
      documented types (str attributes, int64 integers, float32 tensors).
"""
import argparse
import hashlib
import json
import sys

import h5py
import numpy as np


def tensor_shapes(n_layer, d, vocab, max_seq):
    """Canonical (name, shape) list: HF GPT-2 names without "transformer."."""
    out = [("wte.weight", (vocab, d)), ("wpe.weight", (max_seq, d))]
    for i in range(n_layer):
        p = f"h.{i}."
        out += [
            (p + "ln_1.weight", (d,)), (p + "ln_1.bias", (d,)),
            (p + "attn.c_attn.weight", (d, 3 * d)), (p + "attn.c_attn.bias", (3 * d,)),
            (p + "attn.c_proj.weight", (d, d)), (p + "attn.c_proj.bias", (d,)),
            (p + "ln_2.weight", (d,)), (p + "ln_2.bias", (d,)),
            (p + "mlp.c_fc.weight", (d, 4 * d)), (p + "mlp.c_fc.bias", (4 * d,)),
            (p + "mlp.c_proj.weight", (4 * d, d)), (p + "mlp.c_proj.bias", (d,)),
        ]
    return out + [("ln_f.weight", (d,)), ("ln_f.bias", (d,))]


def cmd_write(args):
    rng = np.random.default_rng(args.seed)
    fixed = args.variant == "fixed"
    text = (lambda s: np.bytes_(s.encode("ascii"))) if fixed else (lambda s: s)
    integer = np.int32 if fixed else np.int64
    sha = hashlib.sha256()
    with h5py.File(args.out, "w") as f:
        f.attrs["format"] = text("prefopt-checkpoint")
        f.attrs["format_version"] = integer(1)
        f.attrs["step"] = integer(5)
        f.attrs["algorithm"] = text("converted")
        f.attrs["config_json"] = text("{}")
        f.attrs["world_size"] = integer(1)
        model = f.create_group("model")
        model.attrs["arch"] = text("gpt2")
        for key in ("n_layer", "n_head", "d_model", "vocab_size", "max_seq_len"):
            model.attrs[key] = integer(getattr(args, key))
        params = model.create_group("params")
        shapes = tensor_shapes(args.n_layer, args.d_model, args.vocab_size, args.max_seq_len)
        for name, shape in shapes:
            base = 1.0 if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")) else 0.0
            value = (base + 0.3 * rng.standard_normal(shape)).astype("<f4")
            params.create_dataset(name, data=value)
            sha.update(value.tobytes())
    print(sha.hexdigest())


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def forward_logprobs(p, n_layer, n_head, ids):
    """log p(ids[t+1] | ids[..t]) for t < len(ids) - 1, in float64."""
    T = len(ids)
    x = p["wte.weight"][ids] + p["wpe.weight"][:T]
    d = x.shape[1]
    hd = d // n_head
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    for i in range(n_layer):
        q = f"h.{i}."
        h = layer_norm(x, p[q + "ln_1.weight"], p[q + "ln_1.bias"])
        qkv = h @ p[q + "attn.c_attn.weight"] + p[q + "attn.c_attn.bias"]
        qh, kh, vh = (qkv[:, j * d:(j + 1) * d].reshape(T, n_head, hd).transpose(1, 0, 2)
                      for j in range(3))
        att = qh @ kh.transpose(0, 2, 1) / np.sqrt(hd)
        att[:, mask] = -np.inf
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        y = (att @ vh).transpose(1, 0, 2).reshape(T, d)
        x = x + y @ p[q + "attn.c_proj.weight"] + p[q + "attn.c_proj.bias"]
        h = layer_norm(x, p[q + "ln_2.weight"], p[q + "ln_2.bias"])
        m = gelu_tanh(h @ p[q + "mlp.c_fc.weight"] + p[q + "mlp.c_fc.bias"])
        x = x + m @ p[q + "mlp.c_proj.weight"] + p[q + "mlp.c_proj.bias"]
    x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"])
    logits = x @ p["wte.weight"].T
    logits -= logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return np.array([logp[t, ids[t + 1]] for t in range(T - 1)])


def cmd_logprobs(args):
    with h5py.File(args.ckpt, "r") as f:
        n_layer = int(f["model"].attrs["n_layer"])
        n_head = int(f["model"].attrs["n_head"])
        p = {k: v[()].astype(np.float64) for k, v in f["model/params"].items()}
    with open(args.tokens) as fp:
        for line in fp:
            if not line.strip():
                continue
            rec = json.loads(line)
            lp = forward_logprobs(p, n_layer, n_head, rec["ids"])[rec["start"] - 1:]
            print(json.dumps({"logprob_sum": float(lp.sum()),
                              "token_logprobs": [float(v) for v in lp]}))


def cmd_check_c_ckpt(args):
    with h5py.File(args.ckpt, "r") as f:
        assert f.attrs["format"] == "prefopt-checkpoint", f.attrs["format"]
        assert isinstance(f.attrs["algorithm"], str)
        assert isinstance(f.attrs["config_json"], str)
        json.loads(f.attrs["config_json"])
        for key in ("format_version", "step", "world_size"):
            assert f.attrs[key].dtype == np.int64, key
        m = f["model"]
        assert m.attrs["arch"] == "gpt2"
        for key in ("n_layer", "n_head", "d_model", "vocab_size", "max_seq_len"):
            assert m.attrs[key].dtype == np.int64, key
        shapes = tensor_shapes(int(m.attrs["n_layer"]), int(m.attrs["d_model"]),
                               int(m.attrs["vocab_size"]), int(m.attrs["max_seq_len"]))
        assert list(m["params"].keys()) == [n for n, _ in shapes], "canonical order"
        for name, shape in shapes:
            ds = m["params"][name]
            assert ds.dtype == np.float32 and ds.shape == shape, (name, ds.dtype, ds.shape)
    print("ok")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("out")
    w.add_argument("--variant", choices=["vlen", "fixed"], default="vlen")
    w.add_argument("--n-layer", dest="n_layer", type=int, default=2)
    w.add_argument("--n-head", dest="n_head", type=int, default=2)
    w.add_argument("--d-model", dest="d_model", type=int, default=16)
    w.add_argument("--vocab-size", dest="vocab_size", type=int, default=50)
    w.add_argument("--max-seq-len", dest="max_seq_len", type=int, default=16)
    w.add_argument("--seed", type=int, default=0)
    lp = sub.add_parser("logprobs")
    lp.add_argument("ckpt")
    lp.add_argument("tokens")
    c = sub.add_parser("check-c-ckpt")
    c.add_argument("ckpt")
    args = ap.parse_args()
    {"write": cmd_write, "logprobs": cmd_logprobs, "check-c-ckpt": cmd_check_c_ckpt}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
