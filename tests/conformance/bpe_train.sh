#!/usr/bin/env bash
# bpe_train.sh - `videollm tokenizer-train` against independent references:
#   1. Hugging Face's own BpeTrainer (npm `tokenizers`, Tokenizer.train with the
#      Llama-3 pre-tokenizer) on a generated ~300 KB corpus with non-ASCII text:
#      the full merge lists (trained until no pair is left) must be identical;
#   2. the naive Python trainer tests/ref/bpe_train_ref.py on a 6 KB ASCII
#      corpus with the default settings (required "," and "]\n" forced first,
#      vocab 1024, min frequency 2): identical merges;
#   3. the default 1024-id tokenizer trained on the corpus, loaded by HF
#      tokenizers: ids and offsets of ~280 held-out strings (unseen words, bytes,
#      emoji, CJK, control characters, CRLF, special-token text, <v>) must equal
#      ours (all through the library, every 20th also through
#      `videollm tokenize --offsets`); HF's decode and ours give the strings back;
#      "," and "]\n" are single tokens in HF; training twice is byte-identical;
#   4. JSONL training data (rendered with the live template, <v>/bos/eos cut):
#      HF and ours agree on a rendered conversation;
#   5. errors: missing file, bad JSON line (file:line), vocabulary too small,
#      a required string that is not one pre-token, invalid UTF-8 (byte offset).
# Env (set by tests/run.sh): BUILD, VLM_BIN, VLM_NPM, VLM_TMP.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
CLI="${VLM_BIN:-$BUILD/videollm}"
export VLM_NPM="${VLM_NPM:-$PWD/.deps/npm}"
PY=/usr/bin/python3
REF=tests/ref/bpe_train_ref.py
BIN="$BUILD/tests/test_bpe_train"
DIR="$(mktemp -d "${VLM_TMP:-/tmp}/bpe_train.XXXXXX")"
trap 'rm -rf "$DIR"' EXIT
for f in "$CLI" "$BIN" "$VLM_NPM/node_modules/tokenizers"; do
  [ -e "$f" ] || { echo "bpe_train: missing $f (run scripts/install-deps and make tests)"; exit 1; }
done

$PY $REF corpus "$DIR/corpus.txt" --bytes 300000 --seed 5
$PY $REF corpus "$DIR/small.txt" --bytes 6000 --seed 7 --ascii
$PY $REF heldout "$DIR/heldout.json" --seed 6

echo "== 1. HF BpeTrainer on $(wc -c < "$DIR/corpus.txt") bytes, trained to exhaustion"
# HF trains line by line; the corpus has no whitespace-only lines, so its
# pre-tokens equal those of the whole file as one text (what we count).
cat > "$DIR/hf_train.js" <<'EOF'
const path = require('path');
const { Tokenizer } = require(path.join(process.env.VLM_NPM, 'node_modules', 'tokenizers'));
const RE = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const doc = {version: "1.0", truncation: null, padding: null, added_tokens: [], normalizer: null,
  pre_tokenizer: {type: "Sequence", pretokenizers: [
    {type: "Split", pattern: {Regex: RE}, behavior: "Isolated", invert: false},
    {type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false}]},
  post_processor: null, decoder: {type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true},
  model: {type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
          fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: {}, merges: []}};
// Tokenizer.train uses the model's default trainer: BpeTrainer::default()
// (vocab_size 30000, min_frequency 0, alphabet = the characters seen).
const t = Tokenizer.fromString(JSON.stringify(doc));
t.train([process.argv[2]]);
t.save(process.argv[3]);
EOF
node "$DIR/hf_train.js" "$DIR/corpus.txt" "$DIR/hf_trained.json" > /dev/null 2>&1
"$CLI" tokenizer-train --quiet --out "$DIR/exhaust.json" --vocab-size 1000000 --min-frequency 0 --no-required \
  "$DIR/corpus.txt"
$PY - "$DIR/exhaust.json" "$DIR/hf_trained.json" <<'PYEOF'
import json, sys
ours = json.load(open(sys.argv[1]))["model"]["merges"]
hf = [m if isinstance(m, str) else " ".join(m) for m in json.load(open(sys.argv[2]))["model"]["merges"]]
if len(hf) >= 30000 - 300:
    sys.exit("HF stopped at its vocab_size (%d merges): the corpus is too large for an exhaustive comparison" % len(hf))
for i, (a, b) in enumerate(zip(ours, hf)):
    if a != b:
        sys.exit("merge %d differs: ours %r, HF %r" % (i, a, b))
if len(ours) != len(hf):
    sys.exit("ours has %d merges, HF %d" % (len(ours), len(hf)))
print("HF BpeTrainer: all %d merges identical" % len(hf))
PYEOF

echo "== 2. naive Python reference, defaults (required \",\" and \"]\\n\")"
$PY $REF train "$DIR/small.txt" --vocab-size 1024 --min-frequency 2 --required , --required $']\n' > "$DIR/ref_small.json"
"$CLI" tokenizer-train --quiet --out "$DIR/small_tok.json" "$DIR/small.txt"
$PY - "$DIR/small_tok.json" "$DIR/ref_small.json" <<'PYEOF'
import json, sys
ours = json.load(open(sys.argv[1]))["model"]["merges"]
ref = json.load(open(sys.argv[2]))["merges"]
for i, (a, b) in enumerate(zip(ours, ref)):
    if a != b:
        sys.exit("merge %d differs: ours %r, reference %r" % (i, a, b))
if len(ours) != len(ref):
    sys.exit("ours has %d merges, the reference %d" % (len(ours), len(ref)))
print("reference: all %d merges identical (first: %r)" % (len(ref), ref[0]))
PYEOF

echo "== 3. the default tokenizer (1024 ids) under HF tokenizers"
"$CLI" tokenizer-train --out "$DIR/tok.json" "$DIR/corpus.txt" 2> "$DIR/train.log"
cat "$DIR/train.log"
"$CLI" tokenizer-train --quiet --out "$DIR/tok2.json" "$DIR/corpus.txt"
cmp "$DIR/tok.json" "$DIR/tok2.json" || { echo "training twice gave different files"; exit 1; }
echo "deterministic: two runs are byte-identical"
node tests/ref/hf_tokenize.js "$DIR/tok.json" "$DIR/heldout.json" --add-special '<v>' > "$DIR/hf_enc.json"
"$BIN" --conform "$DIR/tok.json" "$DIR/heldout.json" "$DIR/hf_enc.json"
# the CLI on every 20th string (one process each)
$PY - "$DIR/heldout.json" "$DIR/hf_enc.json" "$DIR/dec_in.json" "$CLI" "$DIR/tok.json" "$DIR/one.txt" <<'PYEOF'
import json, subprocess, sys
strings = json.load(open(sys.argv[1]))
hf = json.load(open(sys.argv[2]))
cli, tok, one = sys.argv[4], sys.argv[5], sys.argv[6]
assert len(strings) == len(hf)
if strings[0] != "," or strings[1] != "]\n" or len(hf[0]["ids"]) != 1 or len(hf[1]["ids"]) != 1:
    sys.exit('HF does not encode "," and "]\\n" as single tokens: %s %s' % (hf[0], hf[1]))
picked = list(range(0, len(strings), 20)) + [1, 11, 20, 21]
for i in picked:
    with open(one, "wb") as f:
        f.write(strings[i].encode("utf-8"))
    out = subprocess.run([cli, "tokenize", "--tokenizer", tok, "--offsets", one], capture_output=True, check=True)
    ours = json.loads(out.stdout)
    if ours["ids"] != hf[i]["ids"] or ours.get("offsets", []) != hf[i]["offsets"]:
        sys.exit("string %d %r: videollm tokenize %s, HF %s" % (i, strings[i][:60], ours, hf[i]))
json.dump({"ids": [h["ids"] for h in hf]}, open(sys.argv[3], "w"))
print('videollm tokenize: identical to HF on %d strings; "," and "]\\n" are single tokens in HF' % len(picked))
PYEOF
node tests/ref/hf_tokenize.js "$DIR/tok.json" "$DIR/dec_in.json" --add-special '<v>' --decode > "$DIR/hf_dec.json"
$PY - "$DIR/heldout.json" "$DIR/hf_dec.json" <<'PYEOF'
import json, sys
strings = json.load(open(sys.argv[1]))
dec = json.load(open(sys.argv[2]))
bad = [i for i, (s, d) in enumerate(zip(strings, dec)) if d["text"] != s]
if bad:
    sys.exit("HF decode does not give back strings %s" % bad[:10])
print("HF decode: %d/%d strings round-trip" % (len(strings), len(strings)))
PYEOF

echo "== 4. JSONL training data"
$PY - "$DIR/train.jsonl" <<'PYEOF'
import json, random, sys
r = random.Random(3)
things = ["a red cube", "the blue ring", "two green stars", "a yellow cone"]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for k in range(120):
        conv = [{"role": "system", "content": "Watch the video and narrate what happens."}]
        for _ in range(r.randint(1, 4)):
            conv.append({"role": "stream", "num_frames": r.randint(1, 5), "learn": True})
            if r.random() < 0.5:
                conv.append({"role": "user", "content": "What is %s doing?" % r.choice(things)})
            conv.append({"role": "assistant", "content": "%s moves to the left." % r.choice(things).capitalize(),
                         "learn": True})
        f.write(json.dumps({"conversation": conv, "features": "x.safetensors", "frames": [0, 1]}) + "\n")
        if k == 5:
            f.write("\n")  # blank lines are skipped
PYEOF
"$CLI" tokenizer-train --quiet --vocab-size 400 --out "$DIR/tok_jsonl.json" "$DIR/train.jsonl"
head -n 1 "$DIR/train.jsonl" | $PY -c 'import json,sys; print(json.dumps(json.loads(sys.stdin.read())["conversation"]))' \
  > "$DIR/conv.json"
"$CLI" template "$DIR/conv.json" > "$DIR/rendered.txt"
$PY -c 'import json,sys; json.dump([open(sys.argv[1], encoding="utf-8").read()], open(sys.argv[2], "w"))' \
  "$DIR/rendered.txt" "$DIR/rendered.json"
node tests/ref/hf_tokenize.js "$DIR/tok_jsonl.json" "$DIR/rendered.json" --add-special '<v>' > "$DIR/hf_r.json"
"$CLI" tokenize --tokenizer "$DIR/tok_jsonl.json" --offsets "$DIR/rendered.txt" > "$DIR/ours_r.json"
$PY - "$DIR/tok_jsonl.json" "$DIR/hf_r.json" "$DIR/ours_r.json" <<'PYEOF'
import json, sys
tok = json.load(open(sys.argv[1]))
hf = json.load(open(sys.argv[2]))[0]
ours = json.load(open(sys.argv[3]))
if hf != ours:
    sys.exit("rendered conversation: ours %s, HF %s" % (ours, hf))
vocab = tok["model"]["vocab"]
for s in ["]\u010a", "Assistant", "User", ","]:
    if s not in vocab:
        sys.exit("%r did not become a token" % s)
leaked = [t for t in vocab if "<v" in t or "v>" in t or "<|" in t]
if leaked:
    sys.exit("cut/special text was learned: %s" % leaked)
print("JSONL: %d tokens of a rendered conversation identical in HF; ']\\n', 'Assistant', 'User' are tokens, "
      "no <v>/special text learned" % len(hf["ids"]))
PYEOF

echo "== 5. errors"
expect_fail() { # expect_fail PATTERN ARGS...: exit status 1 and PATTERN on stderr
  local pat="$1"; shift
  if "$CLI" tokenizer-train --quiet "$@" 2> "$DIR/err.txt"; then echo "expected failure: $*"; exit 1; fi
  grep -q -- "$pat" "$DIR/err.txt" || { echo "expected '$pat' in: $(cat "$DIR/err.txt")"; exit 1; }
  echo "ok: $(head -c 160 "$DIR/err.txt")"
}
printf '{"conversation": [{"role": "system", "content": "x"}]}\n{"conversation": [}\n' > "$DIR/bad.jsonl"
printf 'ok \xff\xfe text' > "$DIR/bad_utf8.txt"
expect_fail "nope.txt" --out "$DIR/x.json" "$DIR/nope.txt"
expect_fail "bad.jsonl:2: not valid JSON" --out "$DIR/x.json" "$DIR/bad.jsonl"
expect_fail "vocab size 100" --out "$DIR/x.json" --vocab-size 100 "$DIR/small.txt"
expect_fail "not one pre-token" --out "$DIR/x.json" --require 'a b' "$DIR/small.txt"
expect_fail "byte offset 3" --out "$DIR/x.json" "$DIR/bad_utf8.txt"
[ ! -e "$DIR/x.json" ] || { echo "a failed run wrote its output"; exit 1; }
echo "bpe_train: all checks passed"
