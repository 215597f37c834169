#!/usr/bin/env bash
# template_jinja.sh - the C live chat template against Jinja2 rendering the
# original VideoLLM-online template (tests/ref/render_jinja.py).
#
# A seeded generator makes 1,200 conversations (realistic and adversarial);
# each is rendered for both live versions x all 16 combinations of the four
# flags, plus strict mode for flags 0 and 15: 43,200 renders per pass. The C
# side (test_template --jinja, in-process) must produce byte-identical text,
# and fail exactly where Jinja (or, in strict mode, the original learn-range
# code) raises. A second pass uses a custom bos/eos and a frame limit of 300.
# Finally a few conversations go through the `videollm template` CLI itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
VLM_BIN="${VLM_BIN:-$PWD/$BUILD/videollm}"
T="${VLM_TMP:-$(mktemp -d)}/template_jinja"
mkdir -p "$T"
PY=/usr/bin/python3
DRV="$BUILD/tests/test_template"

$PY tests/ref/gen_conversations.py --mode template --count 1200 --seed 20240611 "$T/convs.jsonl"
$PY tests/ref/render_jinja.py "$T/convs.jsonl" "$T/expected.jsonl"
"$DRV" --jinja "$T/convs.jsonl" "$T/expected.jsonl"

$PY tests/ref/render_jinja.py "$T/convs.jsonl" "$T/expected2.jsonl" --bos '<s>' --eos '⟨/s⟩' --max-frames 300
"$DRV" --jinja "$T/convs.jsonl" "$T/expected2.jsonl" --bos '<s>' --eos '⟨/s⟩' --max-frames 300

# The CLI: flags map onto the template, output is exact (no newline added),
# errors exit 1, usage errors exit 2.
$PY - "$VLM_BIN" "$T" <<'EOF'
import json, subprocess, sys
sys.path.insert(0, 'tests/ref')
import render_jinja
vlm, tmp = sys.argv[1], sys.argv[2]
convs = [json.loads(l) for l in open(tmp + '/convs.jsonl', encoding='utf-8', newline='\n')][:60]
opts = ['--add-generation-prompt', '--add-stream-prompt', '--add-stream-query-prompt', '--add-stream-generation-prompt']
bad = n = 0
for i, conv in enumerate(convs):
    version, flags = ('v1', 'v1plus')[i % 2], (i * 7) % 16
    try:
        want = render_jinja.render(conv, version, flags=flags).encode('utf-8')
    except Exception:
        want = None
    args = [vlm, 'template', '--live-version', version] + [o for k, o in enumerate(opts) if flags >> k & 1]
    p = subprocess.run(args, input=json.dumps(conv).encode('utf-8'), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ok = (p.returncode == 0 and p.stdout == want) if want is not None else (p.returncode == 1 and p.stdout == b'' and p.stderr)
    n += 1
    if not ok:
        bad += 1
        print('CLI mismatch on conversation %d (%s, flags %d): rc %d' % (i, version, flags, p.returncode))
def rc(args, data):
    return subprocess.run([vlm, 'template'] + args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE).returncode
checks = [
    (rc([], b'[{"role":"system","content":"a"}'), 1),       # malformed JSON
    (rc([], b'[]'), 1),                                     # Jinja raises on messages[0]
    (rc(['--strict'], b'[{"role":"user","content":"a"}]'), 1),
    (rc(['--bogus'], b'[{}]'), 2),
    (rc(['--live-version', 'v3'], b'[{}]'), 2),
    (rc(['--eos'], b'[{}]'), 2),
    (rc(['a', 'b'], b'[{}]'), 2),
    (rc(['/nonexistent/conv.json'], b''), 1),
]
for k, (got, want) in enumerate(checks):
    n += 1
    if got != want:
        bad += 1
        print('CLI exit status check %d: got %d, want %d' % (k, got, want))
p = subprocess.run([vlm, 'template', '--bos', 'B', '--eos', 'E', '--add-generation-prompt', '-'],
                   input=b'[{"role":"system","content":"s"},{"role":"user","content":"u"},{"role":"assistant","content":"a"}]',
                   stdout=subprocess.PIPE)
n += 1
if p.stdout != b'Bs\n\nUser: u\nAssistant: aE\nAssistant:':
    bad += 1
    print('CLI --bos/--eos output: %r' % p.stdout)
print('template CLI: %d checks, %d failed' % (n, bad))
sys.exit(1 if bad else 0)
EOF
