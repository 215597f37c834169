#!/usr/bin/python3
"""bpe_train_ref.py - an independent, deliberately naive reference for
`videollm tokenizer-train`, and the corpus generator of tests/conformance/bpe_train.sh.

  bpe_train_ref.py corpus OUT.txt --bytes N --seed S [--ascii]
      a deterministic corpus of sentences about coloured shapes, numbers,
      punctuation and some non-ASCII words; no line is empty or only spaces
      (so Hugging Face's line-by-line training pre-tokenizes it exactly as one
      text). --ascii: ASCII only (for `train` below).
  bpe_train_ref.py heldout OUT.json --seed S
      a JSON array of strings not in the corpus: unseen words, unseen bytes and
      characters, control characters, CRLF, long runs, special-token text.
  bpe_train_ref.py train CORPUS.txt --vocab-size V --min-frequency F [--required STR]...
      trains on the whole file as one text and prints {"merges": ["a b", ...]}
      (byte-level spellings, as in tokenizer.json). Rules:
        * pre-tokens: the Llama-3 regex, written with Python's `re` for ASCII
          text (ASCII input only);
        * ids 0..255: the bytes in code point order of their byte-level
          characters; a new token takes the next id;
        * required strings first: segment with the merges so far, then merge
          the segments left to right;
        * then, while the vocabulary has fewer than V - 5 (specials) ids:
          recount every adjacent pair in every word, weighted by the word's
          count; take the largest count, ties to the smallest (left id, right
          id); stop if it is below max(F, 1); replace it left to right in
          every word.
      Every pair is recounted from scratch on every step: no incremental state
      to get wrong.
"""
import json
import random
import re
import sys


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


B2U = bytes_to_unicode()
WS = "\\t\\n\\x0b\\x0c\\r "
LLAMA3_ASCII = re.compile(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]{1,3}| ?[^" + WS + "A-Za-z0-9]+[\r\n]*|"
    "[" + WS + "]*[\r\n]+|[" + WS + "]+(?![^" + WS + "])|[" + WS + "]+")


def pretokens(text):
    if any(ord(c) > 127 for c in text):
        sys.exit("bpe_train_ref: the reference pre-tokenizer handles ASCII text only")
    out = LLAMA3_ASCII.findall(text)
    assert "".join(out) == text, "pre-tokens do not cover the text"
    return out


def train(text, vocab_size, min_frequency, required, n_specials=5):
    alphabet = sorted(B2U.values())
    tok = {c: i for i, c in enumerate(alphabet)}
    names = list(alphabet)
    counts = {}
    for p in pretokens(text):
        counts[p] = counts.get(p, 0) + 1
    words = [([tok[B2U[b]] for b in w.encode("utf-8")], c) for w, c in counts.items()]
    merges, rank = [], {}

    def merge(a, b):
        s = names[a] + names[b]
        if s not in tok:
            tok[s] = len(names)
            names.append(s)
        c = tok[s]
        if (a, b) not in rank:
            rank[(a, b)] = len(merges)
            merges.append((a, b, c))
        for sym, _ in words:
            i = 0
            while i < len(sym) - 1:
                if sym[i] == a and sym[i + 1] == b:
                    sym[i:i + 2] = [c]
                i += 1
        return c

    def segment(s):
        ids = [tok[B2U[b]] for b in s.encode("utf-8")]
        while True:
            cand = [(rank[(x, y)], i) for i, (x, y) in enumerate(zip(ids, ids[1:])) if (x, y) in rank]
            if not cand:
                return ids
            r, i = min(cand)
            ids[i:i + 2] = [merges[r][2]]

    target = vocab_size - n_specials
    for r in required:
        seg = segment(r)
        cur = seg[0]
        for nxt in seg[1:]:
            cur = merge(cur, nxt)
    while len(names) < target:
        pc = {}
        for sym, c in words:
            for x, y in zip(sym, sym[1:]):
                pc[(x, y)] = pc.get((x, y), 0) + c
        if not pc:
            break
        best = min(pc, key=lambda p: (-pc[p], p))
        if pc[best] < max(min_frequency, 1):
            break
        merge(*best)
    return [names[a] + " " + names[b] for a, b, _ in merges]


# ---- corpus -----------------------------------------------------------------------------------------
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white", "grey", "pink", "teal"]
SHAPES = ["circle", "square", "triangle", "hexagon", "star", "cube", "sphere", "cone", "ring", "arrow"]
VERBS = ["moves", "spins", "stops", "appears", "vanishes", "grows", "shrinks", "bounces", "turns", "waits"]
PLACES = ["left", "right", "top", "bottom", "centre", "corner", "edge", "middle"]
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "vo", "aa", "a", "an", "na", "ana", "x", "qu", "e"]
UNICODE = ["café", "naïve", "Ünïcödé", "σφαίρα", "круг", "日本の円", "▲", "🔺", "façade", "Größe", "½", "—"]


def name(r):
    return "".join(r.choice(SYLLABLES) for _ in range(r.randint(1, 4))).capitalize()


def sentence(r, ascii_only):
    c, s, v, p = r.choice(COLOURS), r.choice(SHAPES), r.choice(VERBS), r.choice(PLACES)
    forms = [
        f"The {c} {s} {v} to the {p}.",
        f"A {c} {s} {v} {r.randint(0, 99999)} times!",
        f"Why does the {s} {v}? It's {c}, isn't it?",
        f"{r.randint(1, 9)} {c} {s}s, {r.randint(10, 999)} {s}s and {r.randint(0, 9)}.{r.randint(0, 99)} cm",
        f"User: where is the {c} {s}?",
        f"Assistant: the {s} is at the {p} (frame {r.randint(0, 500)})",
        f"[{c}, {s}, {p}]",
        f"  {s}_{c} = {r.randint(0, 255)}; // {v}",
        f"\"{c.upper()}\" {s.capitalize()} {v}...",
        f"they're {c}; we've seen {r.randint(2, 40)} of them -- ok",
        f"The {s} named {name(r)} meets {name(r)} {name(r).lower()}.",
        f"{name(r)}{r.choice(['', '!', ':', '...'])} {name(r).lower()}{name(r).lower()} {r.randint(0, 9999)}",
    ]
    t = r.choice(forms)
    if not ascii_only and r.random() < 0.15:
        t += " " + r.choice(UNICODE)
    return t


def gen_corpus(path, n_bytes, seed, ascii_only):
    r = random.Random(seed)
    out, size = [], 0
    while size < n_bytes:
        line = " ".join(sentence(r, ascii_only) for _ in range(r.randint(1, 3)))
        if r.random() < 0.2:
            line += "]"  # ends in "]\n"
        out.append(line)
        size += len(line.encode("utf-8")) + 1
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(out) + "\n")


def gen_heldout(path, seed):
    r = random.Random(seed)
    fixed = [
        ",", "]\n", "]", "\n", ",,,", "]\n\n", "x]\nUser: hi", "a,b", "",
        "The magenta dodecahedron levitates.", "Zebra quokka xylophone jumps 1234567890",
        "unseen bytes: \x00\x01\x7f\x1b[0m", "tab\tand\r\nCRLF\r\n", "   many   spaces   ", "\n\n\n\n",
        "emoji 🦄🦄 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "中文字符和日本語のテキスト", "Ελληνικά και русский", "ÿþ\u00ad\u0085\u00a0",
        "<|begin_of_text|>hello<|eot_id|>", "frames <v><v>,<v>]\nAssistant: ok", "it's THEY'RE we'VE",
        "x" * 300, "9" * 50, "!?" * 40, " \u3000 \u2003x",
    ]
    out = list(fixed)
    for _ in range(250):
        out.append(" ".join(sentence(r, False) for _ in range(r.randint(1, 4))) +
                   r.choice(["", "\n", "]\n", " ", "\n\n", "🦄"]))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    cmd = a[0]

    def opt(name, default=None):
        return a[a.index(name) + 1] if name in a else default
    if cmd == "corpus":
        gen_corpus(a[1], int(opt("--bytes")), int(opt("--seed")), "--ascii" in a)
    elif cmd == "heldout":
        gen_heldout(a[1], int(opt("--seed")))
    elif cmd == "train":
        with open(a[1], encoding="utf-8", newline="") as f:
            text = f.read()
        required = [a[i + 1] for i in range(len(a) - 1) if a[i] == "--required"]
        merges = train(text, int(opt("--vocab-size")), int(opt("--min-frequency")), required)
        json.dump({"merges": merges}, sys.stdout, ensure_ascii=False)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
