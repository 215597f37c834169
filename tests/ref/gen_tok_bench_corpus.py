#!/usr/bin/python3
"""gen_tok_bench_corpus.py OUT_FILE [--mb 5] [--seed 7]

Writes a deterministic mixed UTF-8 corpus for tokenizer benchmarks (nothing is
downloaded): English-like prose with a Zipf word distribution and contractions,
source code, numbers and tables, CJK and other scripts, emoji (incl. ZWJ
sequences and skin tones) and whitespace runs, interleaved in paragraphs.
"""
import random
import sys

SYLL = ["ka", "to", "ri", "an", "en", "the", "ing", "er", "on", "al", "st", "re", "de", "co", "mi", "pro", "tion",
        "ly", "ex", "in", "ver", "sa", "mo", "lu", "ne", "ga", "or", "qu", "ph", "sh", "ch", "th", "ble", "ment"]
COMMON = ("the of and to a in is it you that he was for on are with as I his they be at one have this from or had by "
          "hot word but what some we can out other were all there when up use your how said an each she which do "
          "their time if will way about many then them write would like so these her long make thing see him two "
          "has look more day could go come did number sound no most people my over know water than call first who "
          "may down side been now find").split()
CJK = "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从"
EMOJI = ["😀", "😂", "🤖", "🎉", "👍", "👍🏽", "👨‍👩‍👧‍👦", "👩‍💻", "🇯🇵", "❤️", "🔥", "✨", "🚀", "🙏🏻"]
OTHER = ["Привет, как дела? Это тест.", "Γειά σου κόσμε.", "مرحبا بالعالم", "안녕하세요 여러분", "こんにちは、世界！",
         "नमस्ते दुनिया", "Grüße aus München, naïve café.", "¿Qué tal? ¡Muy bien!"]


def make_vocab(rng, n):
    words = list(COMMON)
    while len(words) < n:
        w = "".join(rng.choice(SYLL) for _ in range(rng.randint(1, 4)))
        words.append(w)
    return words


def prose(rng, vocab, weights):
    out = []
    for _ in range(rng.randint(2, 7)):
        n = rng.randint(5, 25)
        ws = rng.choices(vocab, weights, k=n)
        ws[0] = ws[0].capitalize()
        s = " ".join(ws)
        if rng.random() < 0.3:
            s = s.replace(" is", "'s", 1).replace(" not", "n't", 1)
        if rng.random() < 0.2:
            s += ", " + " ".join(rng.choices(vocab, weights, k=rng.randint(3, 9)))
        out.append(s + rng.choice([".", ".", ".", "!", "?", "...", ":"]))
    return " ".join(out) + "\n\n"


def code(rng, vocab):
    name = rng.choice(vocab) + "_" + rng.choice(vocab)
    lines = [f"def {name}(x, y={rng.randint(0, 99)}):", f'    """{rng.choice(vocab).capitalize()} the input."""']
    for _ in range(rng.randint(2, 10)):
        v = rng.choice(vocab)
        lines.append(rng.choice([
            f"    {v} = x * {rng.randint(1, 1000)} + y  # {rng.choice(vocab)}",
            f"    if {v} >= {rng.random():.3f}:\n        return [{v}, {rng.randint(0, 9)}]",
            f"    for i in range({rng.randint(2, 64)}):\n        x[i] += {v}[i] ** 2",
            f"    print(f\"{{{v}}}: {{x!r}}\")",
        ]))
    lines.append("    return x\n")
    if rng.random() < 0.5:
        lines.append("int %s(const float *a, size_t n) {\n\tfor (size_t i = 0; i < n; i++) {\n\t\tif (a[i] > %d.0f) "
                     "return (int)i;\n\t}\n\treturn -1;\n}\n" % (name, rng.randint(0, 500)))
    return "\n".join(lines) + "\n"


def numbers(rng):
    rows = []
    for _ in range(rng.randint(3, 12)):
        rows.append(" | ".join([f"{rng.randint(1900, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                                str(rng.randint(0, 10 ** rng.randint(1, 9))), f"{rng.uniform(-1e4, 1e4):.4f}",
                                f"{rng.randint(0, 100)}%", f"${rng.randint(1, 99999):,}"]))
    return "\n".join(rows) + "\n\n"


def cjk(rng):
    s = ""
    for _ in range(rng.randint(20, 120)):
        s += rng.choice(CJK)
        if rng.random() < 0.08:
            s += rng.choice("，。！？、")
    return s + "\n"


def misc(rng):
    parts = []
    for _ in range(rng.randint(3, 10)):
        r = rng.random()
        if r < 0.35:
            parts.append(rng.choice(EMOJI) * rng.randint(1, 3))
        elif r < 0.7:
            parts.append(rng.choice(OTHER))
        else:
            parts.append(rng.choice([" " * rng.randint(2, 12), "\t" * rng.randint(1, 4), "\n" * rng.randint(2, 5),
                                     " \u00a0 ", "\u3000", "\r\n"]))
    return " ".join(parts) + "\n"


def main():
    a = sys.argv[1:]
    mb, seed = 5.0, 7
    if "--mb" in a:
        i = a.index("--mb"); mb = float(a[i + 1]); del a[i:i + 2]
    if "--seed" in a:
        i = a.index("--seed"); seed = int(a[i + 1]); del a[i:i + 2]
    if len(a) != 1:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    rng = random.Random(seed)
    vocab = make_vocab(rng, 6000)
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    target = int(mb * 1e6)
    out, size = [], 0
    while size < target:
        r = rng.random()
        if r < 0.55:
            s = prose(rng, vocab, weights)
        elif r < 0.72:
            s = code(rng, vocab)
        elif r < 0.82:
            s = numbers(rng)
        elif r < 0.91:
            s = cjk(rng)
        else:
            s = misc(rng)
        out.append(s)
        size += len(s.encode("utf-8"))
    with open(a[0], "w", encoding="utf-8", newline="") as f:
        f.write("".join(out))


if __name__ == "__main__":
    main()
