#!/usr/bin/python3
"""gen_tok_corpus.py - seeded test inputs for the tokenizer conformance test.

  gen_tok_corpus.py strings OUT_DIR [--seed N]
      writes OUT_DIR/strings.json (a JSON array of >= 2,000 strings),
      OUT_DIR/strings_unicode14.json (those without characters newer than
      Unicode 14, for the PCRE2 variant) and
      OUT_DIR/spec_example.json ({"text": ..., "ids": [...]}: the worked example
      of the VideoLLM-online spec, rendered by hand, with the 76 ids the original
      produced). strings[0] is that example text.
  gen_tok_corpus.py decode-inputs HF_ENC_JSON OUT_JSON [--seed N]
      builds {"ids": [[...], ...]} id sequences for decode from the reference
      encodings: slices that cut multi-byte characters, special tokens mixed in,
      and uniformly random ids.
  gen_tok_corpus.py cleanup HF_DEC_JSON OUT_JSON
      adds "text_clean" / "text_skip_clean": Python transformers'
      clean_up_tokenization (a chain of str.replace) applied to the reference's
      decoded strings.
  gen_tok_corpus.py variant TOKENIZER_JSON OUT_JSON pcre2|gpt2
      writes a modified tokenizer.json: "pcre2" wraps the Split regex in (?:...)
      (same language, different string, so the PCRE2 fallback is used);
      "gpt2" replaces the pre-tokenizer by ByteLevel(use_regex=true), sets
      ignore_merges=false, so every word goes through the BPE merges, and uses a
      ByteLevel post-processor with trim_offsets=true (offsets lose spaces).

Everything is deterministic for a given seed. Only characters assigned in old
Unicode versions are drawn, so the Unicode tables of the two implementations
agree on them.
"""
import json
import random
import sys

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|reserved_special_token_0|>", "<|reserved_special_token_5|>", "<v>"]
PARTIALS = ["<|eot_id", "<v", "<v>>", "<<v>>", "v>", "<|eot_id|", "|eot_id|>", "<|begin_of_text", "< v>", "<V>",
            "<|EOT_ID|>", "<|reserved_special_token_|>", "<|reserved_special_token_999|>", "<vv>", "<v >"]
WS = ["\t", "\n", "\x0b", "\x0c", "\r", " ", "\x85", "\xa0", "\u1680", "\u2000", "\u2003", "\u2007", "\u200a",
      "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\r\n"]
NOT_WS = ["\x1c", "\x1d", "\x1e", "\x1f", "\u180e", "\u200b", "\ufeff", "\u2060", "\x00", "\x01", "\x7f"]
CONTRACTIONS = ["s", "t", "re", "ve", "m", "ll", "d"]
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Hello", "world", "I", "you", "can",
         "don", "won", "shouldn", "it", "let", "we", "they", "cool", "so", "Assistant", "User", "stream",
         "tokenizer", "naïve", "café", "résumé", "Straße", "façade", "coöperate", "élan"]
PUNCT = list(".,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`") + ["...", "--", "—", "–", "«", "»", "“", "”", "‘", "’", "…", "¿", "¡"]
DIGITS = {
    "ascii": "0123456789",
    "arabic_indic": "٠١٢٣٤٥٦٧٨٩",
    "ext_arabic_indic": "۰۱۲۳۴۵۶۷۸۹",
    "devanagari": "०१२३४५६७८९",
    "fullwidth": "０１２３４５６７８９",
    "bengali": "০১২৩৪৫৬৭৮৯",
    "thai": "๐๑๒๓๔๕๖๗๘๙",
    "other_n": "²³¹¼½¾ⅠⅡⅢⅫⅻ①②⑩",
}
SCRIPTS = {
    "cjk": "我们今天去公园散步天气很好。北京上海广州深圳的人口都很多，中文分词没有空格。",
    "japanese": "これは日本語の文章です。カタカナとひらがな、漢字が混ざっています。",
    "hangul": "안녕하세요 세계 한국어 문장입니다 토크나이저 테스트",
    "arabic": "مرحبا بالعالم هذه جملة عربية للاختبار",
    "hebrew": "שלום עולם זה משפט בעברית",
    "cyrillic": "Привет мир это русское предложение для проверки ТОКЕНИЗАТОРА",
    "greek": "Γειά σου κόσμε αυτή είναι μια ελληνική πρόταση ΣΊΣΥΦΟΣ",
    "devanagari": "नमस्ते दुनिया यह हिंदी वाक्य है",
    "thai": "สวัสดีชาวโลกนี่คือประโยคภาษาไทย",
    "armenian": "Բարեւ աշխարհ",
    "georgian": "გამარჯობა მსოფლიო",
}
EMOJI = ["😀", "😂", "🤖", "🎉", "👍", "👍🏽", "👋🏿", "👨‍👩‍👧‍👦", "👩‍💻", "🏳️‍🌈", "❤️", "🇯🇵", "🇺🇸", "🇩🇪🇫🇷",
         "1️⃣", "#️⃣", "🧑🏻‍🤝‍🧑🏾", "✈️", "☕", "🐍", "💯", "🔥🔥🔥", "🫠", "©", "™", "⌘", "♻️"]
COMBINING = ["e\u0301", "a\u0308", "n\u0303", "o\u0302\u0323", "Z\u0336\u0351\u0300\u0317", "\u0301",
             "\u0915\u094d\u0937", "\u05e9\u05c1", "\u0627\u064b", "i\u0307"]

# code point ranges (old, stable blocks) for random soup
POOL_RANGES = [
    (0x20, 0x7E, 40), (0x00, 0x1F, 3), (0xA0, 0xFF, 4), (0x100, 0x17F, 3), (0x180, 0x24F, 1), (0x250, 0x2AF, 1),
    (0x300, 0x36F, 2), (0x370, 0x3FF, 2), (0x400, 0x4FF, 3), (0x530, 0x58F, 1), (0x5D0, 0x5EA, 1),
    (0x600, 0x6FF, 2), (0x900, 0x97F, 2), (0xE00, 0xE5B, 1), (0x10A0, 0x10FF, 1), (0x1100, 0x11FF, 1),
    (0x2000, 0x206F, 3), (0x2070, 0x209F, 1), (0x20A0, 0x20B5, 1), (0x2100, 0x214F, 1), (0x2150, 0x218F, 1),
    (0x2190, 0x21FF, 1), (0x2200, 0x22FF, 1), (0x2460, 0x24FF, 1), (0x2500, 0x25FF, 1), (0x2600, 0x26FF, 2),
    (0x3000, 0x303F, 2), (0x3040, 0x30FF, 2), (0x4E00, 0x9FA5, 5), (0xAC00, 0xD7A3, 3), (0xFF00, 0xFFEF, 2),
    (0xFE30, 0xFE4F, 1), (0x1F300, 0x1F5FF, 3), (0x1F600, 0x1F64F, 3), (0x1D400, 0x1D7FF, 1),
]


def assigned(c):
    import unicodedata
    cat = unicodedata.category(c)
    return cat not in ("Cn", "Cs", "Co")


def build_pool():
    pool, weights = [], []
    for lo, hi, w in POOL_RANGES:
        cps = [chr(c) for c in range(lo, hi + 1) if assigned(chr(c))]
        pool.append(cps)
        weights.append(w)
    return pool, weights


def soup(rng, pool, weights, n):
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.06:
            out.append(rng.choice(WS))
        elif r < 0.09:
            out.append(rng.choice(SPECIALS + PARTIALS))
        elif r < 0.12:
            out.append(rng.choice(EMOJI))
        elif r < 0.15:
            out.append("'" + rng.choice(CONTRACTIONS))
        else:
            block = rng.choices(pool, weights)[0]
            out.append(rng.choice(block))
    return "".join(out)


def case_variants(s):
    res = set()
    for mask in range(1 << len(s)):
        res.add("".join(ch.upper() if mask >> i & 1 else ch for i, ch in enumerate(s)))
    return sorted(res)


def spec_example():
    f = "<v>" * 10
    text = ("<|begin_of_text|>cool.\n\n[" + f + "," + f + "]\nUser: cool?\nAssistant: cool.<|eot_id|>\n[" + f + "," +
            f + "," + f + "]\nAssistant: so cool.<|eot_id|>")
    spec = ("128000 43296 382 58 V10 11 V10 933 1502 25 7155 5380 72803 25 7155 13 128009 198 58 V10 11 V10 11 V10 "
            "933 72803 25 779 7155 13 128009").split()
    ids = []
    for x in spec:
        ids += [128256] * 10 if x == "V10" else [int(x)]
    assert len(text) == 251 and len(ids) == 76
    return text, ids


def gen_strings(rng):
    pool, weights = build_pool()
    S = []
    text, _ = spec_example()
    S.append(text)
    # inference fragments of the live template
    S += ["<|begin_of_text|>A helpful assistant.\n\n[", "\n[", "]\nAssistant:", "]\nUser: What is he doing?\nAssistant:",
          ",".join(["<v>" * 10] * 5), "<v>" * 30, "]\n", ".\n\n", "?\n", "Assistant: cool.<|eot_id|>"]
    # contractions, every case
    for c in CONTRACTIONS:
        for v in case_variants(c):
            for ctx in ("{}", "it'{}", "'{}", "'{}x", " '{}", "''{}", "'{} ", "x'{}y", "'{}'{}", "1'{}", "\n'{}"):
                S.append(ctx.replace("{}", v))
    S += ["'\u017f", "it'\u017f", "'\u017fx", "'\u212a", "'\u0131", "'\u0130", "it’s", "it‘s", "'ſt", "'ﬅ", "don't",
          "DON'T", "Y'all'd've", "rock'n'roll", "'", "''", "'''s", "' s", "'\ns", "'1", "'é"]
    # whitespace of every kind, runs of 1..4, in many contexts
    for w in WS + NOT_WS:
        for k in (1, 2, 3, 4):
            run = w * k
            for ctx in ("a{}b", "{}a", "a{}", "{}", "1{}2", ".{}!", "a{} b", "a {}b", "{}\n", "\n{}x", "x{}'s"):
                S.append(ctx.replace("{}", run))
    for _ in range(150):
        run = "".join(rng.choice(WS + NOT_WS[:4]) for _ in range(rng.randint(1, 8)))
        left = rng.choice(["", "word", "1", ".", "é", "<v>", "'"])
        right = rng.choice(["", "word", "1", ".", "é", "<v>", "'s", "\n"])
        S.append(left + run + right)
    S += ["a\r\nb", "a\rb", "a\r\rb", "\r\n\r\n", "a\n\r b", "x.\r\ny", "x.\ry", "x!\n\n\n", "  \n  x", " \t\n\t x",
          "\r", "\n", "\r\n", "a \r\n", "\t\tif x:\r\n\t\t\treturn", "line1\nline2\r\nline3\rline4"]
    # digits
    for name, ds in DIGITS.items():
        for k in (1, 2, 3, 4, 5, 7, 10, 13):
            num = "".join(rng.choice(ds) for _ in range(k))
            S += [num, "x" + num, num + "x", " " + num, num + " " + num, "$" + num + ".99", num + "%"]
    S += ["1234567890123456789012345678901234567890", "3.14159", "1,000,000", "2024-05-01", "v1.2.3", "0x7FFF",
          "１２３abc", "٣٤٥kg", "१२३४५"]
    # scripts, emoji, combining marks
    for name, txt in SCRIPTS.items():
        S.append(txt)
        words = txt.split()
        for _ in range(6):
            S.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) + rng.choice(PUNCT))
    for e in EMOJI:
        S += [e, "a" + e, e + "b", " " + e, e * 3, "x " + e + " y", e + "\n"]
    for c in COMBINING:
        S += [c, "x" + c + "y", " " + c, c * 3]
    # NUL, controls, BOM, U+001C-001F
    for c in ["\x00", "\x01", "\x07", "\x08", "\x1b", "\x1c", "\x1d", "\x1e", "\x1f", "\x7f", "\ufeff", "\x80", "\x9f"]:
        S += [c, "a" + c + "b", c + "abc", "abc" + c, " " + c, c + " ", c * 3, "1" + c + "2"]
    S += ["\ufeffHello", "\ufeff\ufeff", "\x00\x00\x00"]
    # characters of Unicode 15 (CJK Ext. H, Nag Mundari, Kawi, Cyrillic Ext-D): both sides know them
    S += ["\U0003147D)v", "\U00031350x", "x\U0001E030y", "x\U0001E4D0y", "x\U00011B00y", "x\U00011F00y", "\U0001F169"]
    # special-token strings, whole and partial
    for sp in SPECIALS + PARTIALS:
        S += [sp, "a" + sp + "b", " " + sp + " ", sp * 2, sp + "\n", "\n" + sp, "'s" + sp + "'s", sp + "123"]
    for _ in range(60):
        parts = [rng.choice(SPECIALS + PARTIALS + WORDS + [" ", "\n", ",", "'s"]) for _ in range(rng.randint(2, 12))]
        S.append("".join(parts))
    # English-ish sentences and code
    for _ in range(200):
        n = rng.randint(1, 25)
        ws = [rng.choice(WORDS) for _ in range(n)]
        s = ""
        for w in ws:
            s += rng.choice([" ", " ", " ", "", "  ", "\n", ", ", " '", "'"]) + w
            if rng.random() < 0.2:
                s += rng.choice(PUNCT)
            if rng.random() < 0.1:
                s += "'" + rng.choice(CONTRACTIONS)
        S.append(s)
    S += ["def f(x):\n    return x ** 2  # square\n", "for (int i = 0; i < n; i++) { a[i] += b[i]; }",
          "if __name__ == '__main__':\n\tmain()\n", "SELECT * FROM t WHERE x >= 10;", "<div class=\"a\">x</div>",
          "{\"key\": [1, 2.5, null]}", "https://example.com/path?q=1&r=2#frag", "a_b_c__d", "CamelCaseWord",
          "x+=1;y-=2", "~/.config/file.txt", "    indented\n        more\n"]
    # long words and runs
    for k in (50, 200, 1000, 3000):
        S.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(k)))
        S.append("".join(rng.choice("αβγδεζηθικλμνξοπρστυφχψω") for _ in range(k // 2)))
    S += ["a" * 500, "!" * 300, " " * 400, "\n" * 100, "-" * 256 + "\n", "=" * 80, "ab" * 300, "😀" * 100,
          "中" * 300, "1" * 100, " " * 50 + "x", "\t" * 30 + "\n" * 30]
    # random soup
    while len(S) < 2400:
        S.append(soup(rng, pool, weights, rng.randint(1, 120)))
    for _ in range(20):
        S.append(soup(rng, pool, weights, rng.randint(500, 2000)))
    S.append("")
    return S


def cmd_strings(out_dir, seed):
    rng = random.Random(seed)
    S = gen_strings(rng)
    with open(out_dir + "/strings.json", "w") as f:
        json.dump(S, f, ensure_ascii=True)
    # for the PCRE2 variant: PCRE2 10.42 knows Unicode 14 (Python 3.11's version) only
    old = [x for x in S if all(assigned(c) for c in x)]
    with open(out_dir + "/strings_unicode14.json", "w") as f:
        json.dump(old, f, ensure_ascii=True)
    text, ids = spec_example()
    with open(out_dir + "/spec_example.json", "w") as f:
        json.dump({"text": text, "ids": ids}, f)
    print(f"{len(S)} strings")


def cmd_decode_inputs(hf_enc, out, seed):
    rng = random.Random(seed)
    enc = json.load(open(hf_enc))
    specials = list(range(128000, 128257))
    seqs = []
    for e in enc:
        ids = e["ids"]
        if not ids:
            continue
        if rng.random() < 0.3:
            seqs.append(ids)
        a = rng.randrange(len(ids))
        b = rng.randrange(a, len(ids)) + 1
        cut = ids[a:b]
        if rng.random() < 0.4:
            for _ in range(rng.randint(1, 3)):
                cut.insert(rng.randrange(len(cut) + 1), rng.choice(specials))
        seqs.append(cut)
    for _ in range(300):
        seqs.append([rng.randrange(0, 128257) for _ in range(rng.randint(1, 30))])
    # byte tokens of multi-byte characters, shuffled and cut
    byte_ids = [e["ids"] for e in enc if any(o[1] - o[0] == 1 and o == p for o, p in zip(e["offsets"], e["offsets"][1:]))]
    for ids in byte_ids[:100]:
        k = rng.randrange(len(ids))
        seqs.append(ids[k:] + ids[:k])
    seqs += [[], [128256], [128009], [128000, 128256, 11, 128256], [13, 220, 13], [662, 13]]
    with open(out, "w") as f:
        json.dump({"ids": seqs}, f)
    print(f"{len(seqs)} id sequences")


def clean_up_tokenization(s):
    # transformers' PreTrainedTokenizerBase.clean_up_tokenization
    return (s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",").replace(" ' ", "'")
            .replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s").replace(" 've", "'ve")
            .replace(" 're", "'re"))


def cmd_cleanup(hf_dec, out):
    dec = json.load(open(hf_dec))
    for d in dec:
        d["text_clean"] = clean_up_tokenization(d["text"])
        d["text_skip_clean"] = clean_up_tokenization(d["text_skip"])
    with open(out, "w") as f:
        json.dump(dec, f, ensure_ascii=True)


def cmd_variant(src, out, kind):
    d = json.load(open(src, encoding="utf-8"))
    if kind == "pcre2":
        seq = d["pre_tokenizer"]["pretokenizers"]
        seq[0]["pattern"]["Regex"] = "(?:" + seq[0]["pattern"]["Regex"] + ")"
    elif kind == "gpt2":
        d["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
        d["model"]["ignore_merges"] = False
        d["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    else:
        raise SystemExit("unknown variant " + kind)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(d, f, ensure_ascii=False)


def main():
    a = sys.argv[1:]
    seed = 1234
    if "--seed" in a:
        i = a.index("--seed")
        seed = int(a[i + 1])
        del a[i:i + 2]
    if a and a[0] == "strings" and len(a) == 2:
        cmd_strings(a[1], seed)
    elif a and a[0] == "decode-inputs" and len(a) == 3:
        cmd_decode_inputs(a[1], a[2], seed)
    elif a and a[0] == "cleanup" and len(a) == 3:
        cmd_cleanup(a[1], a[2])
    elif a and a[0] == "variant" and len(a) == 4:
        cmd_variant(a[1], a[2], a[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
