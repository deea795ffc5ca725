#!/usr/bin/env python3
"""Naive byte-level BPE trainer: the test oracle for `prefopt-mpi train-tokenizer`.

usage: bpe_train_reference.py VOCAB_SIZE FILE.jsonl...  (prints merges.txt to stdout)

Written for clarity, not speed (it recounts every pair at every step): take every string
value of every JSON line (recursively), pre-tokenize it with GPT-2's regex (Python's
`regex` module), count the words; then, until the vocabulary holds VOCAB_SIZE - 3
tokens, merge the most frequent adjacent pair in every word, ties going to the
smallest (left bytes, right bytes). A merge whose result is already a token adds no
token; a pair merged before is not written again. Exits 77 (skip) without `regex`.
"""
import collections
import json
import sys

try:
    import regex
except ImportError:
    sys.exit(77)

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def strings(value):
    """Every string inside a parsed JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)


def byte_chars():
    """GPT-2's bytes_to_unicode table."""
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + len(cs) - 188)
    return {b: chr(c) for b, c in zip(bs, cs)}


def main():
    target = int(sys.argv[1]) - 3
    counts = collections.Counter()
    for path in sys.argv[2:]:
        for line in open(path, encoding="utf-8"):
            if line.strip():
                for s in strings(json.loads(line)):
                    counts.update(w.encode() for w in PAT.findall(s))
    words = [[bytes([b]) for b in w] for w in counts]
    freq = list(counts.values())
    tokens, merges, done = {bytes([b]) for b in range(256)}, [], set()
    while len(tokens) < target:
        pairs = collections.Counter()
        for w, f in zip(words, freq):
            for p in zip(w, w[1:]):
                pairs[p] += f
        if not pairs:
            break
        (a, b), _ = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        tokens.add(a + b)
        if (a, b) not in done:
            done.add((a, b))
            merges.append((a, b))
        for w in words:
            i = 0
            while i + 1 < len(w):
                if w[i] == a and w[i + 1] == b:
                    w[i:i + 2] = [a + b]
                i += 1
    table = byte_chars()
    print("#version: 0.2")
    for a, b in merges:
        print("".join(table[x] for x in a), "".join(table[x] for x in b))


if __name__ == "__main__":
    main()
