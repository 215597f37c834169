/* fuzz_tokenizer_encode.c - libFuzzer harness: arbitrary bytes as text to
 * encode. Uses the real Llama-3 tokenizer.json when VLM_LLAMA3_TOKENIZER names
 * it, else a small built-in byte-level tokenizer with the Llama-3 pre-tokenizer.
 * Checks, for every input:
 *   - invalid UTF-8 is rejected with VLM_ERR_INVALID_ARG, valid text encodes;
 *   - ids are in range, offsets are ordered and within the text's code points;
 *   - decode(encode(text)) == text (byte-level BPE is lossless);
 *   - the same tokenizer with its Split regex wrapped in (?:...), which runs
 *     through the PCRE2 fallback instead of the hand-written matcher, gives
 *     identical ids and offsets (unless the text holds characters assigned
 *     after PCRE2's Unicode version).
 *   VLM_LLAMA3_TOKENIZER=... build/fuzz/fuzz_tokenizer_encode -max_len=4096 tests/fuzz/corpus/fuzz_tokenizer_encode */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "videollm.h"

static vlm_tokenizer *tok_hand, *tok_pcre;
static pcre2_code *re_cn;          /* \p{Cn}: unassigned for PCRE2's Unicode tables */
static pcre2_match_data *md_cn;

/* Whether the text holds a code point that utf8proc (Unicode 15) assigns but
 * PCRE2 (10.42: Unicode 14) does not: there the fallback legitimately differs. */
static int newer_unicode(const uint8_t *s, size_t n) {
    utf8proc_int32_t cp;
    for (size_t i = 0; i < n;) {
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return 0;
        if (cp >= 0x800 && utf8proc_category(cp) != UTF8PROC_CATEGORY_CN &&
            pcre2_match(re_cn, s + i, (size_t)k, 0, 0, md_cn, NULL) >= 0)
            return 1;
        i += (size_t)k;
    }
    return 0;
}

static const char LLAMA3_RE[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* A byte-level vocabulary (256 symbols) with a few merges and added tokens. */
static json_t *builtin_doc(void) {
    json_t *vocab = json_object();
    int id = 0;
    for (int b = 0; b < 256; b++) {
        int pr = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        unsigned cp = (unsigned)b;
        if (!pr) {
            int k = 0;
            for (int x = 0; x < b; x++) k += !((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF));
            cp = 256u + (unsigned)k;
        }
        char s[3] = {0};
        if (cp < 0x80) s[0] = (char)cp;
        else { s[0] = (char)(0xC0 | (cp >> 6)); s[1] = (char)(0x80 | (cp & 0x3F)); }
        json_object_set_new(vocab, s, json_integer(id++));
    }
    static const char *const extra[] = {"th", "the", "\xC4\xA0t", "\xC4\xA0the", "in", "ing", "er", "\xC4\xA0\xC4\xA0",
                                        "\xC4\x8A\xC4\x8A", "'s", "\xC3\x83\xC2\xA9", "an", "and", "\xC4\xA0" "a", "\xC4\xA0" "and"};
    static const char *const merges[] = {"t h", "th e", "\xC4\xA0 t", "\xC4\xA0 the", "i n", "in g", "e r",
                                         "\xC4\xA0 \xC4\xA0", "\xC4\x8A \xC4\x8A", "' s", "\xC3\x83 \xC2\xA9", "a n",
                                         "an d", "\xC4\xA0 a", "\xC4\xA0 and"};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) json_object_set_new(vocab, extra[i], json_integer(id++));
    json_t *m = json_array();
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) json_array_append_new(m, json_string(merges[i]));
    json_t *added = json_array();
    static const char *const specials[] = {"<|begin_of_text|>", "<|eot_id|>", "<s>"};
    for (size_t i = 0; i < 3; i++)
        json_array_append_new(added, json_pack("{s:i,s:s,s:b,s:b}", "id", id++, "content", specials[i], "special", 1,
                                               "normalized", 0));
    return json_pack("{s:o, s:{s:s, s:[{s:s,s:{s:s},s:s,s:b},{s:s,s:b,s:b,s:b}]}, s:{s:s,s:b,s:o,s:o},"
                     " s:{s:s}, s:n}",
                     "added_tokens", added, "pre_tokenizer", "type", "Sequence", "pretokenizers", "type", "Split",
                     "pattern", "Regex", LLAMA3_RE, "behavior", "Isolated", "invert", 0, "type", "ByteLevel",
                     "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0, "model", "type", "BPE",
                     "ignore_merges", 1, "vocab", vocab, "merges", m, "decoder", "type", "ByteLevel", "normalizer");
}

static vlm_tokenizer *load(json_t *doc) {
    char *s = json_dumps(doc, JSON_COMPACT);
    char err[512];
    vlm_tokenizer *t = NULL;
    if (!s || vlm_tokenizer_load_json(s, strlen(s), &t, err, sizeof err) != VLM_OK) {
        fprintf(stderr, "fuzz_tokenizer_encode: %s\n", s ? err : "json_dumps failed");
        abort();
    }
    free(s);
    if (vlm_tokenizer_add_special(t, "<v>", NULL) != VLM_OK) abort();
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    json_t *doc;
    const char *path = getenv("VLM_LLAMA3_TOKENIZER");
    if (path && *path) {
        json_error_t je;
        doc = json_load_file(path, 0, &je);
        if (!doc) {
            fprintf(stderr, "fuzz_tokenizer_encode: %s: %s\n", path, je.text);
            abort();
        }
        fprintf(stderr, "fuzz_tokenizer_encode: using %s\n", path);
    } else {
        doc = builtin_doc();
    }
    tok_hand = load(doc);
    json_t *split = json_array_get(json_object_get(json_object_get(doc, "pre_tokenizer"), "pretokenizers"), 0);
    json_t *pat = json_object_get(split, "pattern");
    char *wrapped = NULL;
    if (asprintf(&wrapped, "(?:%s)", json_string_value(json_object_get(pat, "Regex"))) < 0) abort();
    json_object_set_new(pat, "Regex", json_string(wrapped));
    free(wrapped);
    tok_pcre = load(doc);
    json_decref(doc);
    int ec;
    PCRE2_SIZE eo;
    re_cn = pcre2_compile((PCRE2_SPTR) "^\\p{Cn}$", PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
    md_cn = pcre2_match_data_create(1, NULL);
    if (!re_cn || !md_cn) abort();
    return 0;
}

static int utf8_ok(const uint8_t *s, size_t n, size_t *n_cp) {
    size_t i = 0, cps = 0;
    while (i < n) {
        uint32_t c = s[i], need = 0, min = 0;
        if (c < 0x80) need = 0;
        else if ((c & 0xE0) == 0xC0) { need = 1; c &= 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { need = 2; c &= 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { need = 3; c &= 0x07; min = 0x10000; }
        else return 0;
        if (n - i - 1 < need) return 0;
        for (uint32_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
        i += need + 1;
        cps++;
    }
    *n_cp = cps;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vlm_tokens a = {0}, b = {0};
    size_t n_cp = 0;
    int valid = utf8_ok(data, size, &n_cp);
    vlm_status st = vlm_tokenizer_encode(tok_hand, (const char *)data, size, &a);
    if (!valid) {
        if (st != VLM_ERR_INVALID_ARG || !strstr(vlm_tokenizer_last_error(tok_hand), "byte offset")) abort();
        vlm_tokens_free(&a);
        return 0;
    }
    if (st != VLM_OK) abort();
    int32_t nv = vlm_tokenizer_n_vocab(tok_hand);
    for (size_t k = 0; k < a.n; k++) {
        int32_t s = a.offsets[2 * k], e = a.offsets[2 * k + 1];
        if (a.ids[k] < 0 || a.ids[k] >= nv || s < 0 || s >= e || (size_t)e > n_cp) abort();
        if (k && (s < a.offsets[2 * k - 2] || e < a.offsets[2 * k - 1])) abort();
    }
    char *out = NULL;
    size_t ol = 0;
    vlm_decode_params p = {false, false};
    if (vlm_tokenizer_decode(tok_hand, a.ids, a.n, &p, &out, &ol) != VLM_OK) abort();
    if (ol != size || (size && memcmp(out, data, size) != 0)) abort();
    free(out);
    st = vlm_tokenizer_encode(tok_pcre, (const char *)data, size, &b);
    /* the PCRE2 path may refuse pathological input (match limit) */
    if (st == VLM_OK && !newer_unicode(data, size)) {
        if (a.n != b.n || (a.n && (memcmp(a.ids, b.ids, a.n * sizeof *a.ids) != 0 ||
                                   memcmp(a.offsets, b.offsets, 2 * a.n * sizeof *a.offsets) != 0))) {
            fprintf(stderr, "hand-written matcher and PCRE2 disagree (%zu vs %zu tokens)\n", a.n, b.n);
            abort();
        }
    }
    vlm_tokens_free(&a);
    vlm_tokens_free(&b);
    return 0;
}
