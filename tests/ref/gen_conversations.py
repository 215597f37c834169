#!/usr/bin/python3
"""gen_conversations.py - seeded generator of chat conversations (tests only).

  gen_conversations.py --mode template|labels --count N --seed S OUT_JSONL

Writes one conversation per line (a JSON array of messages, serialized in
varied ways). `template` mixes realistic conversations with adversarial ones:
unknown/missing/non-string roles, non-object messages, late system messages,
num_frames 0/negative/true/false/real/string/null/missing/large, content that
is missing or not a string, Unicode (astral, combining, NUL, BOM, U+001C-1F),
"<v>", "]\\n", special-token text, empty content, `[{}]` and `[]`.
`labels` makes mostly well-formed training conversations (system first, the
allowed role sequences, learn as bool/int/negative/other types) plus lines the
original rejects (bad role sequences, bad frame counts, bad learn types), a
few lines that are not JSON or not arrays, and empty lines.
Same seed, same output.
"""
import json
import random
import sys

PIECES = [
    'cool', 'so', ' cool', 'Hello', 'world', ' ', '  ', '.', '?', '!', ',', ';', ':', '\n', '\n\n', '\t',
    '\r\n', ' \n', '.\n', '?\n', '12345', '3.14', "'s", "'ll", 'Narrate.', 'You stir.', 'You cut the onion.',
    'é', 'e\u0301', 'ß', 'Ünïcödé', '你好', '日本語のテキスト', 'مرحبا', 'Привет', '😀', '👍🏽', '🇫🇷',
    '\u0000', '\ufeff', '\u001c', '\u001d', '\u001e', '\u001f', '\u00a0', '\u2028', '\u200b',
    '<v>', '<v><v>', ']\n', '[', ']', ',', '<|eot_id|>', '<|begin_of_text|>', 'Assistant:', 'User:',
    'Assistant: ', '\nUser: ', '<', 'v>', '<v', '{{ x }}', '{% if %}', '\\', '"', '/', '  trailing  ',
]
ALLOWED = {
    'system': ['user', 'stream'],
    'user': ['assistant', 'stream', 'user'],
    'assistant': ['user', 'stream'],
    'stream': ['user', 'assistant'],
}


def text(rng, max_pieces=6):
    k = rng.choice([0, 1, 1, 2, 3, 4, max_pieces])
    return ''.join(rng.choice(PIECES) for _ in range(k))


def frames(rng):
    r = rng.random()
    if r < 0.85:
        return rng.randint(1, 5)
    if r < 0.98:
        return rng.randint(6, 40)
    return rng.randint(100, 400)


def learn_value(rng, role, bad_rate):
    r = rng.random()
    if r < 0.25:
        return None  # absent
    if r < 0.5:
        return True
    if r < 0.6:
        return False
    if role == 'stream' and r < 0.85:
        return rng.randint(-3, 8)
    if role == 'assistant' and r < 0.7:
        return rng.choice([0, 1, 2])
    if rng.random() < bad_rate:
        return rng.choice([1.5, 'x', '', None, 0.0, [], [1], {}, {'a': 1}])
    return True


def realistic(rng, n_turns_max=8, bad_learn_rate=0.0):
    msgs = [{'role': 'system', 'content': text(rng)}]
    prev = 'system'
    for _ in range(rng.randint(0, n_turns_max)):
        role = rng.choice(ALLOWED[prev])
        m = {'role': role}
        if role == 'stream':
            m['num_frames'] = frames(rng)
        else:
            m['content'] = text(rng)
        if role in ('stream', 'assistant'):
            lv = learn_value(rng, role, bad_learn_rate)
            if lv is not None or rng.random() < 0.1:
                m['learn'] = lv
        if rng.random() < 0.15:
            m['time'] = round(rng.random() * 100, 1)
        if rng.random() < 0.05:
            m['fps_time'] = rng.randint(0, 1000) / 2
        msgs.append(m)
        prev = role
    return msgs


def odd_message(rng):
    """Anything that may appear as a message in an adversarial conversation."""
    r = rng.random()
    if r < 0.08:
        return rng.choice([1, 'user', None, [], [{'role': 'user', 'content': 'x'}], True, 2.5, {}])
    if r < 0.16:
        m = {'content': text(rng)}  # missing role
        if rng.random() < 0.5:
            m['role'] = rng.choice(['tool', 'User', 'SYSTEM', ' user', 'user\u0000', '', 5, None, ['user'],
                                    {'r': 1}, True, 'content', 'num_frames'])
        return m
    role = rng.choice(['system', 'user', 'assistant', 'stream', 'stream'])
    m = {'role': role}
    if role == 'stream':
        q = rng.random()
        if q < 0.55:
            m['num_frames'] = frames(rng)
        elif q < 0.93:
            m['num_frames'] = rng.choice([0, -1, -7, True, False, 0.0, -0.0, -2.5, -1e300, 2.5, 2.0, 1e300,
                                          '3', None, [], [1], {}, 1500, 2048])
        # else: missing num_frames
        if rng.random() < 0.3:
            m['content'] = rng.choice([text(rng), None, 5])
    else:
        q = rng.random()
        if q < 0.9:
            m['content'] = text(rng)
        elif q < 0.96:
            m['content'] = rng.choice([None, 5, 1.5, [], ['a'], {}, True, False])
        # else: missing content
    if rng.random() < 0.3:
        m['learn'] = rng.choice([True, False, 1, 0, -1, 3, 1.5, 'x', None])
    return m


def adversarial(rng):
    r = rng.random()
    if r < 0.02:
        return rng.choice([[], [{}], [{}, {}], [None], [{'role': 'system'}]])
    if r < 0.45:  # a realistic conversation with a few odd messages spliced in
        msgs = realistic(rng)
        for _ in range(rng.randint(1, 3)):
            msgs.insert(rng.randint(0, len(msgs)), odd_message(rng))
        return msgs
    return [odd_message(rng) for _ in range(rng.randint(1, 8))]


def dumps(rng, msgs):
    """Serialize with varied (valid) JSON spellings."""
    r = rng.random()
    if r < 0.4:
        return json.dumps(msgs)
    if r < 0.8:
        return json.dumps(msgs, ensure_ascii=False)
    if r < 0.95:
        return json.dumps(msgs, ensure_ascii=rng.random() < 0.5, separators=(',', ':'))
    # duplicate keys: the last one wins in Python and in the C parser
    s = json.dumps(msgs, ensure_ascii=False)
    return s.replace('{"role": ', '{"role": "ignored", "role": ', 1)


def labels_line(rng):
    r = rng.random()
    if r < 0.72:
        return dumps(rng, realistic(rng, bad_learn_rate=0.3))
    if r < 0.93:  # rejected by the learn-range code (or by the template)
        msgs = realistic(rng, n_turns_max=5)
        kind = rng.randint(0, 9)
        if kind == 0:
            msgs = msgs[1:] or [{'role': 'user', 'content': 'x'}]  # not starting with system
        elif kind == 1:
            msgs += [{'role': 'stream', 'num_frames': 2, 'learn': True}] * 2  # stream after stream
        elif kind == 2:
            msgs.append({'role': 'system', 'content': 'late'})
        elif kind == 3:
            msgs.append({'role': 'stream', 'learn': rng.choice([True, False])})  # missing num_frames
        elif kind == 4:
            msgs.append({'role': 'stream', 'num_frames': rng.choice([0, -1, -3, False]),
                         'learn': rng.choice([True, False, 1])})
            if rng.random() < 0.5:
                msgs.append({'role': 'assistant', 'content': 'x', 'learn': True})
        elif kind == 5:
            msgs.append({'role': rng.choice(['tool', None, 5]), 'content': 'x'})
        elif kind == 6:
            msgs.append({'role': 'stream', 'num_frames': rng.choice([2.0, 2.5, '2', None])})
        elif kind == 7:
            msgs.append({'role': 'stream', 'num_frames': 2, 'learn': rng.choice([1.5, 'x', [1]])})
        elif kind == 8:
            msgs.append({'role': 'assistant', 'content': rng.choice([None, 5, ['a']]), 'learn': True})
        else:
            msgs.insert(1, rng.choice([1, 'x', None, []]))
        return dumps(rng, msgs)
    if r < 0.96:
        return rng.choice(['not json', '[{"role": "system", "content": "x"}', '{"role": "system"}', '"text"', '42',
                           'null', '[1, 2', ']'])
    if r < 0.98:
        return rng.choice(['', '   ', '\t'])
    return json.dumps([{'role': 'system', 'content': text(rng)}])


def main(argv):
    mode, count, seed, out = 'template', 1000, 1, None
    i = 1
    while i < len(argv):
        if argv[i] == '--mode':
            mode = argv[i + 1]; i += 2
        elif argv[i] == '--count':
            count = int(argv[i + 1]); i += 2
        elif argv[i] == '--seed':
            seed = int(argv[i + 1]); i += 2
        else:
            out = argv[i]; i += 1
    if out is None or mode not in ('template', 'labels'):
        sys.stderr.write(__doc__)
        return 2
    rng = random.Random(seed)
    with open(out, 'w', encoding='utf-8', newline='\n') as f:
        for k in range(count):
            if mode == 'template':
                msgs = realistic(rng) if k % 3 == 0 else adversarial(rng)
                f.write(dumps(rng, msgs) + '\n')
            else:
                f.write(labels_line(rng) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
