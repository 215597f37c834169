#!/usr/bin/env bash
# labels_ref.sh - `videollm labels` against a Python model of the original
# learn-range code and collator (tests/ref/labels_ref.py), which takes its ids
# and offsets from Hugging Face's Rust tokenizer (tests/ref/hf_tokenize.js) on
# the real Llama-3 tokenizer with <v> added.
#
#  1. 500 generated JSONL lines (valid training conversations, lines the
#     original rejects, non-JSON lines, empty lines), labelled for live1+ and
#     for live1: identical text, learn ranges, input ids and labels on every
#     line, and an error on exactly the lines where the reference raises.
#  2. The original's own example (examples/conversation.json): the 76 ids,
#     the six learn ranges and the labels its description gives.
#  3. vlm_collate on a left-padded batch of 8 samples against the reference
#     collator's batch.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
VLM_BIN="${VLM_BIN:-$PWD/$BUILD/videollm}"
TOK="${VLM_LLAMA3_TOKENIZER:?VLM_LLAMA3_TOKENIZER must name the Llama-3 tokenizer.json}"
export VLM_NPM="${VLM_NPM:-$PWD/.deps/npm}"
T="${VLM_TMP:-$(mktemp -d)}/labels_ref"
mkdir -p "$T"
PY=/usr/bin/python3

$PY tests/ref/gen_conversations.py --mode labels --count 500 --seed 424242 "$T/convs.jsonl"

for v in v1plus v1; do
  batch=()
  [ "$v" = v1plus ] && batch=(--batch 8 "$T/batch.json")
  $PY tests/ref/labels_ref.py "$TOK" "$T/convs.jsonl" "$T/ref_$v.jsonl" --live-version "$v" "${batch[@]}"
  rc=0
  "$VLM_BIN" labels --tokenizer "$TOK" --live-version "$v" "$T/convs.jsonl" >"$T/out_$v.jsonl" 2>"$T/err_$v.txt" || rc=$?
  $PY - "$T/ref_$v.jsonl" "$T/out_$v.jsonl" "$T/err_$v.txt" "$rc" "$v" <<'EOF'
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1], encoding='utf-8')]
out = [json.loads(l) for l in open(sys.argv[2], encoding='utf-8')]
stderr = open(sys.argv[3], encoding='utf-8', errors='replace').read()
rc, version = int(sys.argv[4]), sys.argv[5]
bad = same = errs = 0
if len(ref) != len(out):
    print('%s: %d output lines, reference has %d' % (version, len(out), len(ref)))
    bad += 1
for r, o in zip(ref, out):
    if 'error' in r:
        ok = 'error' in o and o.get('line') == r['line'] and ('line %d: ' % r['line']) in stderr
        errs += ok
        if not ok and bad < 10:
            print('%s line %d: the reference raises (%s), we gave %s' % (version, r['line'], r['error'],
                  'an error on line %s' % o.get('line') if 'error' in o else 'a sample'))
    else:
        ok = 'error' not in o and all(o.get(k) == r[k] for k in ('text', 'learn_ranges', 'input_ids', 'labels'))
        same += ok
        if not ok and bad < 10:
            if 'error' in o:
                print('%s line %d: we failed: %s' % (version, o.get('line'), o['error']))
            else:
                diff = [k for k in ('text', 'learn_ranges', 'input_ids', 'labels') if o.get(k) != r[k]]
                print('%s: a sample differs in %s' % (version, diff))
    bad += not ok
want_rc = 1 if any('error' in r for r in ref) else 0
if rc != want_rc:
    print('%s: exit status %d, want %d' % (version, rc, want_rc))
    bad += 1
n_range = sum(1 for r in ref if r.get('error', '').startswith('collator'))
print('labels %s: %d lines, %d identical samples, %d errors on the same lines (%d of them a learn range off '
      'token boundaries), %d mismatches' % (version, len(ref), same, errs, n_range, bad))
sys.exit(1 if bad else 0)
EOF
done

# The collator on a left-padded batch.
"$BUILD/tests/test_template" --collate "$TOK" "$T/convs.jsonl" 8 "$T/batch.json"

# The original's example (spec: 76 ids; ranges; labels as described).
$PY -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' examples/conversation.json >"$T/example.jsonl"
"$VLM_BIN" labels --tokenizer "$TOK" "$T/example.jsonl" >"$T/example_out.jsonl"
$PY - "$T/example_out.jsonl" <<'EOF'
import json, sys
o = json.loads(open(sys.argv[1], encoding='utf-8').readline())
V10 = [128256] * 10
ids = ([128000, 43296, 382, 58] + V10 + [11] + V10 + [933, 1502, 25, 7155, 5380, 72803, 25, 7155, 13, 128009, 198, 58]
       + V10 + [11] + V10 + [11] + V10 + [933, 72803, 25, 779, 7155, 13, 128009])
ranges = [[55, 56], [100, 126], [158, 159], [189, 190], [220, 222], [222, 251]]
labels = [-100] * 76
labels[13] = 11                          # last <v> of stream 1, frame 1 -> ','
#                                          stream 1, frame 2: no label (learn = 1)
labels[29:34] = [72803, 25, 7155, 13, 128009]  # '?\n' -> Assistant, ':', ' cool', '.', '.' -> eot
labels[46] = 11                          # stream 2, frame 1 -> ','
labels[57] = 11                          # stream 2, frame 2 -> ','
labels[68] = 933                         # stream 2, frame 3 -> ']\n'
labels[69:75] = [72803, 25, 779, 7155, 13, 128009]  # ']\n' -> Assistant ... '.' -> eot
bad = 0
for k, want in (('input_ids', ids), ('learn_ranges', ranges), ('labels', labels)):
    if o.get(k) != want:
        bad += 1
        print('example A: %s differs:\n got  %s\n want %s' % (k, o.get(k), want))
if len(o.get('text', '')) != 251:
    bad += 1
    print('example A: text has %d characters, want 251' % len(o.get('text', '')))
print('example A: %d ids, %d ranges, labels %s' % (len(o.get('input_ids', [])), len(o.get('learn_ranges', [])),
      'as described' if not bad else 'DIFFER'))
sys.exit(1 if bad else 0)
EOF
