#!/usr/bin/python3
"""render_jinja.py - reference renderer for the live chat template (tests only).

Renders conversations with the ORIGINAL Jinja template of VideoLLM-online
(models/tokenization_live.py, showlab/videollm-online, Apache-2.0), exactly as
Hugging Face transformers does: jinja2.sandbox.ImmutableSandboxedEnvironment
(trim_blocks=True, lstrip_blocks=True), variables messages, bos_token,
eos_token, add_generation_prompt and the three stream flags.

  render_jinja.py CONVS_JSONL OUT_JSONL [--bos S] [--eos S] [--max-frames N]

CONVS_JSONL: one JSON array of messages per line. For every line, for each
live version (v1plus, v1) and each of the 16 combinations of the four flags
(bit 0 add_generation_prompt, bit 1 add_stream_prompt, bit 2
add_stream_query_prompt, bit 3 add_stream_generation_prompt), and then in
strict mode for flags 0 and 15, one JSON line goes to OUT_JSONL:
{"t": rendered_text} or {"e": "error"}.
Strict mode = the learn-range code of the original (labels_ref.py) must accept
the conversation too. Streams longer than --max-frames (default 1000000) are
an error, as in the C renderer (Jinja itself would try to build the string).
"""
import json
import sys

import jinja2.sandbox

# The template of VideoLLM-online (Apache-2.0), with STREAM_PLACEHOLDER
# substituted as get_stream_placeholder_jinja2() does. '\n' in these Python
# strings become real newlines inside the Jinja string literals, as upstream.
_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{{ bos_token + messages[0]['content'] + '\n' }}"
    "{% set messages = messages[1:] %}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{% if add_stream_query_prompt %}{{ ']\nUser: ' + message['content'] }}"
    "{% else %}{{ '\nUser: ' + message['content'] }}{% endif %}"
    "{% elif message['role'] == 'assistant' %}{{ '\nAssistant: '  + message['content'] + eos_token }}"
    "{% elif message['role'] == 'stream' and message['num_frames'] > 0: %}"
    "{{ '\n[' + STREAM_PLACEHOLDER + ']' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '\nAssistant:' }}"
    "{% elif add_stream_prompt %}{{ '\n[' }}"
    "{% elif add_stream_generation_prompt %}{{ ']\nAssistant:' }}{% endif %}"
)

VERSIONS = {
    # name: (frame_num_tokens, frame_token_interval)
    'v1plus': (10, ','),
    'v1': (1, ''),
}
FLAG_NAMES = ('add_generation_prompt', 'add_stream_prompt', 'add_stream_query_prompt',
              'add_stream_generation_prompt')

_compiled = {}


def template_for(version):
    if version not in _compiled:
        n, interval = VERSIONS[version]
        placeholder = "'%s'.join([%d * '<v>'] * message['num_frames'])" % (interval, n)
        env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        _compiled[version] = env.from_string(_TEMPLATE.replace('STREAM_PLACEHOLDER', placeholder))
    return _compiled[version]


def check_frame_limit(messages, max_frames):
    """The C renderer refuses streams longer than max_frames (a documented limit)."""
    if not isinstance(messages, list):
        return
    for m in messages:
        if isinstance(m, dict) and m.get('role') == 'stream':
            nf = m.get('num_frames')
            if isinstance(nf, int) and not isinstance(nf, bool) and nf > max_frames:
                raise ValueError('num_frames %d exceeds the frame limit' % nf)


def render(messages, version='v1plus', bos='<|begin_of_text|>', eos='<|eot_id|>', flags=0,
           max_frames=1000000):
    """Render like transformers' apply_chat_template(tokenize=False, **flags)."""
    check_frame_limit(messages, max_frames)
    kw = {name: bool(flags >> i & 1) for i, name in enumerate(FLAG_NAMES)}
    return template_for(version).render(messages=messages, bos_token=bos, eos_token=eos, **kw)


def main(argv):
    args = argv[1:]
    bos, eos, max_frames = '<|begin_of_text|>', '<|eot_id|>', 1000000
    pos = []
    i = 0
    while i < len(args):
        if args[i] == '--bos':
            bos = args[i + 1]; i += 2
        elif args[i] == '--eos':
            eos = args[i + 1]; i += 2
        elif args[i] == '--max-frames':
            max_frames = int(args[i + 1]); i += 2
        else:
            pos.append(args[i]); i += 1
    if len(pos) != 2:
        sys.stderr.write(__doc__)
        return 2
    import labels_ref  # strict mode = the original learn-range code
    n_text = n_err = 0
    with open(pos[0], encoding='utf-8', newline='\n') as f, open(pos[1], 'w', encoding='utf-8') as out:
        for line in f:
            messages = json.loads(line)
            jobs = [(v, fl, False) for v in VERSIONS for fl in range(16)]
            jobs += [(v, fl, True) for v in VERSIONS for fl in (0, 15)]
            for version, fl, strict in jobs:
                try:
                    if strict:
                        labels_ref.get_learn_ranges(messages, version, bos, eos, max_frames)
                    res = {'t': render(messages, version, bos, eos, fl, max_frames)}
                    n_text += 1
                except Exception as e:  # Jinja/Python raised: the C side must fail too
                    res = {'e': '%s: %s' % (type(e).__name__, e)}
                    n_err += 1
                out.write(json.dumps(res) + '\n')
    print('render_jinja: %d renders, %d texts, %d errors' % (n_text + n_err, n_text, n_err))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
