#!/usr/bin/env bash
# make bench: every benchmark, each printing our figure beside a peer measured
# in the same run (never a timed unit test).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/videollm
if [ -x scripts/bench-tokenizer.sh ]; then
  echo "== tokenizer: ours vs Hugging Face tokenizers (Rust, npm binding), one thread"
  scripts/bench-tokenizer.sh
fi
echo "== kernels at the real model shapes: ours vs NumPy/OpenBLAS"
"$BIN" bench-ops
