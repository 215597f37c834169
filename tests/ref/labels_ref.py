#!/usr/bin/python3
"""labels_ref.py - reference learn ranges, labels and batches (tests only).

A Python model of VideoLLM-online's training text pipeline, written from its
description: get_learn_ranges() with the role-transition table, and the data
collator that maps character ranges onto tokens (torch, as the original).
Ids and offsets come from Hugging Face's Rust tokenizer (tests/ref/hf_tokenize.js,
with <v> added as a special token); the text from render_jinja.py (the original
Jinja template).

  labels_ref.py TOKENIZER_JSON IN_JSONL OUT_JSONL [--live-version v1plus|v1]
                [--eos S] [--bos S] [--batch N BATCH_JSON]

OUT_JSONL gets, for every non-empty line of IN_JSONL, the object `videollm
labels` prints: {"text", "learn_ranges", "input_ids", "labels"} or
{"error", "line"} where the original (or our documented stricter checks,
marked DEVIATION below) raises. With --batch, the first N successful samples
are also collated into one left-padded batch (pad = eos) and written to
BATCH_JSON as {"input_ids", "attention_mask", "labels"} (lists of rows).
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import render_jinja  # noqa: E402

IGNORE_INDEX = -100
V_PLACEHOLDER = '<v>'


def transition_table(bos, eos):
    # chat_template_transition: the text between two messages' payloads.
    return {
        (None, 'system'): bos,
        ('system', 'user'): '\n\nUser: ',
        ('system', 'stream'): '\n\n[',
        ('user', 'assistant'): '\nAssistant: ',
        ('user', 'stream'): '\n[',
        ('user', 'user'): '\nUser: ',
        ('assistant', 'user'): eos + '\nUser: ',
        ('assistant', 'stream'): eos + '\n[',
        ('stream', 'user'): ']\nUser: ',
        ('stream', 'assistant'): ']\nAssistant: ',
        'assistant': 'Assistant: ',
        'eos_token': eos,
    }


def stream_learn_ranges(num_frames, frame_num_tokens, interval):
    L = len(V_PLACEHOLDER) * frame_num_tokens + len(interval)
    len_learn = len(interval) if interval else len(V_PLACEHOLDER)
    ranges = [range(i - len(interval), i - len(interval) + len_learn)
              for i in range(L, L * num_frames + 1, L)]
    ranges[-1] = range(ranges[-1].start, ranges[-1].stop + 1)  # the last one has "]\n"
    return ranges


def check_stream(message, max_frames):
    # DEVIATION (documented in docs/text-pipeline.md): a stream must have a
    # positive integer number of frames. The original would render nothing for
    # num_frames <= 0 yet still count its placeholder text in the offsets.
    nf = message['num_frames']
    if isinstance(nf, bool):
        nf = int(nf)
    if not isinstance(nf, int):
        raise TypeError('num_frames is not an integer')
    if nf <= 0:
        raise ValueError('num_frames %d <= 0' % nf)
    if nf > max_frames:
        raise ValueError('num_frames %d exceeds the frame limit' % nf)


def get_learn_ranges(conversation, version='v1plus', bos='<|begin_of_text|>', eos='<|eot_id|>',
                     max_frames=1000000):
    frame_num_tokens, interval = render_jinja.VERSIONS[version]
    table = transition_table(bos, eos)
    L = len(V_PLACEHOLDER) * frame_num_tokens + len(interval)
    offset = 0
    learn_ranges = []
    last_role = None
    for message in conversation:
        role = message['role']
        offset += len(table[(last_role, role)])  # KeyError: not an allowed sequence
        if role == 'stream':
            check_stream(message, max_frames)
            if message.get('learn', False):
                ranges = stream_learn_ranges(message['num_frames'], frame_num_tokens, interval)
                if not isinstance(message['learn'], bool):
                    ranges = ranges[:message['learn']]
                learn_ranges.extend(range(r.start + offset, r.stop + offset) for r in ranges)
            offset += L * message['num_frames'] - len(interval)
        else:
            if role == 'assistant' and message.get('learn', False):
                learn_ranges.append(range(offset - len(table['assistant']),
                                          offset + len(message['content']) + len(table['eos_token'])))
            offset += len(message['content'])
        last_role = role
    return learn_ranges


def hf_encode(tokenizer_json, texts):
    """ids and code point offsets of each text, from the HF Rust tokenizer."""
    import tempfile
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False, encoding='utf-8') as f:
        json.dump(texts, f)
        path = f.name
    try:
        out = subprocess.run(['node', os.path.join(HERE, 'hf_tokenize.js'), tokenizer_json, path,
                              '--add-special', V_PLACEHOLDER], check=True, stdout=subprocess.PIPE).stdout
    finally:
        os.unlink(path)
    return json.loads(out)


def special_id(tokenizer_json, content):
    with open(tokenizer_json, encoding='utf-8') as f:
        tj = json.load(f)
    for t in tj.get('added_tokens', []):
        if t['content'] == content:
            return t['id']
    return tj['model']['vocab'].get(content)


def collate(torch, encodings, learn_ranges, eos_id, v_id):
    """The original data_collator on a batch: left padding with eos, offsets
    (0, 0) and attention 0 on padding, labels -100, then ranges -> labels."""
    B = len(encodings)
    T = max(len(e['ids']) for e in encodings)
    input_ids = torch.full((B, T), eos_id, dtype=torch.long)
    attention_mask = torch.zeros((B, T), dtype=torch.long)
    offset_mapping = torch.zeros((B, T, 2), dtype=torch.long)
    for i, e in enumerate(encodings):
        n = len(e['ids'])
        if n:
            input_ids[i, T - n:] = torch.tensor(e['ids'])
            attention_mask[i, T - n:] = 1
            offset_mapping[i, T - n:] = torch.tensor(e['offsets']).view(n, 2)
    batch_labels = torch.full_like(input_ids, IGNORE_INDEX, dtype=torch.long)
    for labels, ids, offsets, ranges in zip(batch_labels, input_ids, offset_mapping, learn_ranges):
        for r in ranges:
            start = torch.nonzero(offsets[:, 0] == r.start).item()
            if offsets[:, 0][-1] >= r.stop:
                stop = torch.nonzero(offsets[:, 0] == r.stop).item()
            else:  # the last eos token
                stop = len(ids)
            labels[start - 1:stop - 1] = ids[start:stop]
    batch_labels[batch_labels >= v_id] = eos_id  # len(tokenizer) - 1 == <v>
    return input_ids, attention_mask, batch_labels


def main(argv):
    args = argv[1:]
    version, eos, bos, batch_n, batch_path = 'v1plus', '<|eot_id|>', '<|begin_of_text|>', 0, None
    pos = []
    i = 0
    while i < len(args):
        if args[i] == '--live-version':
            version = args[i + 1]; i += 2
        elif args[i] == '--eos':
            eos = args[i + 1]; i += 2
        elif args[i] == '--bos':
            bos = args[i + 1]; i += 2
        elif args[i] == '--batch':
            batch_n, batch_path = int(args[i + 1]), args[i + 2]; i += 3
        else:
            pos.append(args[i]); i += 1
    if len(pos) != 3:
        sys.stderr.write(__doc__)
        return 2
    tok_path, in_path, out_path = pos
    import torch
    torch.set_num_threads(2)
    eos_id, v_id = special_id(tok_path, eos), None

    # Render and compute ranges for every line; remember errors.
    results = []  # (line_no, text, ranges) or (line_no, error)
    with open(in_path, encoding='utf-8', newline='\n') as f:
        lines = f.read().split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    for no, line in enumerate(lines, 1):
        if line.strip(' \t\r') == '':
            continue
        try:
            conv = json.loads(line)
            if not isinstance(conv, list):
                raise TypeError('not a JSON array')
            text = render_jinja.render(conv, version, bos, eos, 0)
            ranges = get_learn_ranges(conv, version, bos, eos)
            results.append((no, text, ranges))
        except Exception as e:
            results.append((no, '%s: %s' % (type(e).__name__, e)))
    texts = [r[1] for r in results if len(r) == 3]
    encs = iter(hf_encode(tok_path, texts))
    # <v> is added after the 128256 base entries: its id is len(tokenizer) - 1.
    v_id = special_id(tok_path, V_PLACEHOLDER)
    if v_id is None:
        with open(tok_path, encoding='utf-8') as f:
            tj = json.load(f)
        v_id = max([t['id'] for t in tj.get('added_tokens', [])] + list(tj['model']['vocab'].values())) + 1

    batch = []
    n_ok = n_err = 0
    with open(out_path, 'w', encoding='utf-8') as out:
        for r in results:
            if len(r) == 2:
                out.write(json.dumps({'error': r[1], 'line': r[0]}) + '\n')
                n_err += 1
                continue
            no, text, ranges = r
            enc = next(encs)
            try:
                ids, _, labels = collate(torch, [enc], [ranges], eos_id, v_id)
            except Exception as e:
                out.write(json.dumps({'error': 'collator: %s: %s' % (type(e).__name__, e), 'line': no}) + '\n')
                n_err += 1
                continue
            out.write(json.dumps({'text': text, 'learn_ranges': [[x.start, x.stop] for x in ranges],
                                  'input_ids': ids[0].tolist(), 'labels': labels[0].tolist()}) + '\n')
            n_ok += 1
            if len(batch) < batch_n:
                batch.append((enc, ranges))
    if batch_path:
        ids, mask, labels = collate(torch, [b[0] for b in batch], [b[1] for b in batch], eos_id, v_id)
        with open(batch_path, 'w', encoding='utf-8') as f:
            json.dump({'input_ids': ids.tolist(), 'attention_mask': mask.tolist(), 'labels': labels.tolist()}, f)
    print('labels_ref %s: %d samples, %d errors' % (version, n_ok, n_err))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
