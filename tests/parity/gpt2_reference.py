#!/usr/bin/env python3
"""GPT-2's own encoding algorithm (openai/gpt-2 encoder.py, re-typed): a second oracle.

usage: gpt2_reference.py ENCODER_JSON VOCAB_BPE < texts.jsonl > ids.jsonl

Reads one JSON string per line and prints the JSON array of GPT-2 ids for it. Unlike
the JavaScript port it runs the pattern under Python's `regex` module, as GPT-2 does,
so it decides the cases where JavaScript's \\s differs (U+0085, U+FEFF). No special
tokens. Exits 77 (skip) when `regex` is missing.
"""
import json
import sys

try:
    import regex
except ImportError:
    sys.exit(77)

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def byte_chars():
    """GPT-2's bytes_to_unicode table."""
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + len(cs) - 188)
    return {b: chr(c) for b, c in zip(bs, cs)}


def bpe(token, ranks):
    """GPT-2's merge loop: the lowest-ranked pair, all occurrences, until none is left."""
    word = list(token)
    while len(word) > 1:
        pair = min(zip(word, word[1:]), key=lambda p: ranks.get(p, float("inf")))
        if pair not in ranks:
            break
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                out.append(word[i] + word[i + 1])
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
    return word


def main():
    encoder = json.load(open(sys.argv[1], encoding="utf-8"))
    lines = open(sys.argv[2], encoding="utf-8").read().split("\n")[1:-1]
    ranks = {tuple(l.split()): i for i, l in enumerate(lines)}
    table = byte_chars()
    for line in sys.stdin:
        ids = []
        for piece in PAT.findall(json.loads(line)):
            mapped = "".join(table[b] for b in piece.encode("utf-8"))
            ids.extend(encoder[t] for t in bpe(mapped, ranks))
        print(json.dumps(ids))


if __name__ == "__main__":
    main()
