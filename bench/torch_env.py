"""bench/torch_env.py: process setup shared by the PyTorch benchmarks.

PyTorch allocates afresh for every op; with glibc's default settings the freed
activation memory goes back to the kernel and is page-faulted in again, which costs about
15% of a training step here, while the C side preallocates its workspace. The benchmarks
therefore run PyTorch with malloc settings that keep freed memory in the process (unless
--default-malloc), and with one thread count for OpenMP and OpenBLAS, set before torch
loads them (they otherwise fight over the cores).
"""
import os
import sys

MALLOC_TUNABLES = ("glibc.malloc.mmap_threshold=33554432:"
                   "glibc.malloc.trim_threshold=4294967296:glibc.malloc.top_pad=268435456")


def tune_malloc(script, argv):
    """Re-executes script with MALLOC_TUNABLES unless GLIBC_TUNABLES is already set
    (glibc reads it only at process start)."""
    if "GLIBC_TUNABLES" in os.environ:
        return
    env = dict(os.environ, GLIBC_TUNABLES=MALLOC_TUNABLES)
    os.execve(sys.executable, [sys.executable, os.path.abspath(script)] + argv, env)


def pin_threads(threads):
    """One thread count for OpenMP and OpenBLAS, passive waiting between regions."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def load_torch(script, argv, threads, default_malloc):
    """The common start of a PyTorch benchmark: malloc settings (re-executing script
    unless default_malloc), thread pinning, then torch and the independent PyTorch
    GPT-2 of tests/parity. Returns (torch, torch_gpt2)."""
    if not default_malloc:
        tune_malloc(script, argv)
    pin_threads(threads)
    import torch  # after pin_threads: thread pools read the environment at load
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "tests", "parity"))
    import torch_gpt2
    torch.set_num_threads(threads)
    return torch, torch_gpt2
