#!/usr/bin/env bash
# Tokenizer parity with GPT-2 (ctest tokenizer_parity): installs the npm package
# gpt-3-encoder when missing (scripts/install-npm-deps.sh, into PREFOPT_NPM_PREFIX,
# default /opt/prefopt-npm), then runs tokenizer_parity.js, which compares prefopt's
# ids with the JavaScript GPT-2 encoder over a varied corpus and prints
# "tokenizer_parity: N passed, M failed". usage: tokenizer_parity.sh DRIVER
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/../../scripts/install-npm-deps.sh"
exec node "$here/tokenizer_parity.js" "$@"
