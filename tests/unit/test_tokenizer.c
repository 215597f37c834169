/* test_tokenizer.c - unit tests of the byte-level BPE tokenizer on a small
 * tokenizer.json built here (merges, ignore_merges, added tokens with
 * lstrip/rstrip/single_word, offsets, invalid UTF-8, decode, a table of corrupt
 * documents, tokenizer_config.json), differential checks of the hand-written
 * pre-tokenizer against the PCRE2 fallback and of the two merge paths, and,
 * when VLM_LLAMA3_TOKENIZER names the real Llama-3 file, a few checks on it.
 *
 * Conformance mode (used by tests/conformance/tokenizer_hf.sh, so the 9 MB
 * tokenizer is loaded once):
 *   test_tokenizer --conform TOKENIZER_JSON STRINGS_JSON HF_ENC_JSON [DEC_IN_JSON HF_DEC_JSON]
 * encodes every string (with <v> added as a special token) and compares ids
 * and offsets with the reference output of tests/ref/hf_tokenize.js; with the
 * decode files it also compares decode (skip_special_tokens false/true, with
 * and without clean_up_tokenization_spaces). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "text/tokenizer_internal.h"
#include "videollm.h"

/* ------------------------------------------------------------------------- */
/* A small tokenizer.json                                                     */
/* ------------------------------------------------------------------------- */
static const char LLAMA3_RE[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* GPT-2's bytes_to_unicode, written out independently of the library. */
static void bl_char(int b, char *out) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    unsigned cp = (unsigned)b;
    if (!printable) {
        int k = 0;
        for (int x = 0; x < b; x++) {
            int px = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
            if (!px) k++;
        }
        cp = 256u + (unsigned)k;
    }
    if (cp < 0x80) { out[0] = (char)cp; out[1] = 0; }
    else { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); out[2] = 0; }
}

/* ids of the extra vocabulary entries */
enum { T_HE = 256, T_LL, T_HELL, T_HELLO, T_GW, T_OR, T_GWOR, T_LD, T_GWORLD, T_ABC, T_AB, T_BC, T_XYZ,
       T_S, T_FOO, T_L, T_R, T_W, T_SX, N_TINY };
static const char *const extra[] = {"he", "ll", "hell", "hello", "\xC4\xA0w", "or", "\xC4\xA0wor", "ld",
                                    "\xC4\xA0world", "abc", "ab", "bc", "xyz"};
static const char *const merges[] = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w", "o r", "\xC4\xA0w or", "l d",
                                     "\xC4\xA0wor ld", "a b", "b c"};

static json_t *tiny_doc(int ignore_merges, int pairs) {
    json_t *vocab = json_object();
    char s[4];
    for (int b = 0; b < 256; b++) {
        bl_char(b, s);
        json_object_set_new(vocab, s, json_integer(b));
    }
    for (int i = 0; i < (int)(sizeof extra / sizeof extra[0]); i++) json_object_set_new(vocab, extra[i], json_integer(256 + i));
    json_t *m = json_array();
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        if (pairs) {
            const char *sp = strchr(merges[i], ' ');
            json_array_append_new(m, json_pack("[s#s]", merges[i], (int)(sp - merges[i]), sp + 1));
        } else {
            json_array_append_new(m, json_string(merges[i]));
        }
    }
    json_t *model = json_pack("{s:s, s:n, s:n, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout", "unk_token",
                              "byte_fallback", 0, "ignore_merges", ignore_merges, "vocab", vocab, "merges", m);
    json_t *added = json_pack(
        "[{s:i,s:s,s:b,s:b,s:b,s:b,s:b}, {s:i,s:s,s:b,s:b}, {s:i,s:s,s:b,s:b,s:b}, {s:i,s:s,s:b,s:b,s:b},"
        " {s:i,s:s,s:b,s:b,s:b}, {s:i,s:s,s:b,s:b}, {s:i,s:s,s:b,s:b}]",
        "id", T_S, "content", "<s>", "special", 1, "normalized", 0, "lstrip", 0, "rstrip", 0, "single_word", 0,
        "id", T_FOO, "content", "foo", "special", 0, "normalized", 1,
        "id", T_L, "content", "[L]", "special", 1, "normalized", 0, "lstrip", 1,
        "id", T_R, "content", "[R]", "special", 1, "normalized", 0, "rstrip", 1,
        "id", T_W, "content", "[W]", "special", 1, "normalized", 0, "single_word", 1,
        "id", T_SX, "content", "<s>x", "special", 1, "normalized", 0,
        "id", T_XYZ, "content", "xyz", "special", 0, "normalized", 0);
    json_t *pre = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]}", "type", "Sequence",
                            "pretokenizers", "type", "Split", "pattern", "Regex", LLAMA3_RE, "behavior", "Isolated",
                            "invert", 0, "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0);
    return json_pack("{s:s, s:n, s:n, s:o, s:n, s:o, s:o, s:{s:s, s:b, s:b}, s:{s:s,s:b,s:b,s:b}}", "version", "1.0",
                     "truncation", "padding", "added_tokens", added, "normalizer", "pre_tokenizer", pre, "model", model,
                     "post_processor", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 0,
                     "decoder", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1, "use_regex", 1);
}

static vlm_status load_doc(json_t *doc, vlm_tokenizer **tok, char *err, size_t n) {
    char *s = json_dumps(doc, JSON_COMPACT);
    vlm_status st = vlm_tokenizer_load_json(s, strlen(s), tok, err, n);
    free(s);
    return st;
}

static vlm_tokenizer *tiny(int ignore_merges, int pairs) {
    json_t *d = tiny_doc(ignore_merges, pairs);
    char err[512];
    vlm_tokenizer *tok = NULL;
    vlm_status st = load_doc(d, &tok, err, sizeof err);
    CHECK_MSG(st == VLM_OK, "%s", err);
    json_decref(d);
    return tok;
}

/* Encode and compare with expected ids (and offsets, when given). */
static void expect(const vlm_tokenizer *tok, const char *text, const int32_t *ids, size_t n, const int32_t *offs,
                   int line) {
    vlm_tokens t = {0};
    vlm_status st = vlm_tokenizer_encode(tok, text, strlen(text), &t);
    int ok = st == VLM_OK && t.n == n;
    for (size_t i = 0; ok && i < n; i++) ok = t.ids[i] == ids[i];
    for (size_t i = 0; ok && offs && i < 2 * n; i++) ok = t.offsets[i] == offs[i];
    CHECK_MSG(ok, "line %d: encode(\"%s\") gave %zu tokens:", line, text, t.n);
    if (!ok) {
        for (size_t i = 0; i < t.n; i++) fprintf(stderr, " %d[%d,%d]", t.ids[i], t.offsets[2 * i], t.offsets[2 * i + 1]);
        fputc('\n', stderr);
    }
    vlm_tokens_free(&t);
}
#define EXPECT(tok, text, ...)                                                                 \
    do {                                                                                       \
        const int32_t ids_[] = __VA_ARGS__;                                                    \
        expect(tok, text, ids_, sizeof ids_ / sizeof ids_[0], NULL, __LINE__);                 \
    } while (0)
#define EXPECT_OFF(tok, text, IDS, OFFS)                                                       \
    do {                                                                                       \
        const int32_t ids_[] = IDS, offs_[] = OFFS;                                            \
        expect(tok, text, ids_, sizeof ids_ / sizeof ids_[0], offs_, __LINE__);                \
    } while (0)
#define A(...) {__VA_ARGS__}

static char *dec(const vlm_tokenizer *tok, const int32_t *ids, size_t n, bool skip, bool clean) {
    vlm_decode_params p = {skip, clean};
    char *out = NULL;
    size_t len;
    vlm_status st = vlm_tokenizer_decode(tok, ids, n, &p, &out, &len);
    CHECK(st == VLM_OK);
    if (out) CHECK(strlen(out) == len);
    return out;
}

static void test_encode_basic(void) {
    vlm_tokenizer *tok = tiny(1, 0);
    if (!tok) return;
    CHECK(vlm_tokenizer_n_vocab(tok) == N_TINY);
    EXPECT_OFF(tok, "hello world", A(T_HELLO, T_GWORLD), A(0, 5, 5, 11));
    EXPECT(tok, "lll", {T_LL, 'l'});             /* leftmost on equal rank */
    EXPECT(tok, "abc", {T_ABC});                 /* ignore_merges: whole pre-token */
    EXPECT(tok, "abcd", {T_AB, 'c', 'd'});       /* not in vocab: merges */
    EXPECT(tok, "hellohello", {T_HELLO, T_HELLO});
    EXPECT(tok, "", {});
    /* added tokens */
    EXPECT_OFF(tok, "a <s>b", A('a', 32, T_S, 'b'), A(0, 1, 1, 2, 2, 5, 5, 6));
    EXPECT(tok, "<s>x<s>y", {T_SX, T_S, 'y'});   /* leftmost-longest */
    EXPECT(tok, "<s", {'<', 's'});
    EXPECT(tok, "afoob", {'a', T_FOO, 'b'});     /* normalized non-special token */
    EXPECT(tok, "axyzb", {'a', T_XYZ, 'b'});     /* added token that is a vocab entry */
    EXPECT_OFF(tok, "a  [L]b", A('a', T_L, 'b'), A(0, 1, 1, 6, 6, 7));
    EXPECT_OFF(tok, "a[R]  b", A('a', T_R, 'b'), A(0, 1, 1, 6, 6, 7));
    EXPECT_OFF(tok, "a[R] \xC2\xA0 b", A('a', T_R, 'b'), A(0, 1, 1, 7, 7, 8));
    EXPECT(tok, "x[W]y", {'x', '[', 'W', ']', 'y'}); /* single_word: inside a word, not matched */
    EXPECT(tok, "x [W] y", {'x', 32, T_W, 32, 'y'});
    EXPECT(tok, "[W]", {T_W});
    /* code-point offsets: a 4-byte emoji split into byte tokens shares its range */
    EXPECT_OFF(tok, "a\xF0\x9F\x98\x80", A('a', 0xF0, 0x9F, 0x98, 0x80), A(0, 1, 1, 2, 1, 2, 1, 2, 1, 2));
    EXPECT_OFF(tok, "\xC3\xA9t\xC3\xA9", A(0xC3, 0xA9, 't', 0xC3, 0xA9), A(0, 1, 0, 1, 1, 2, 2, 3, 2, 3));
    /* contractions and whitespace of the Llama-3 pattern */
    EXPECT(tok, "it's", {'i', 't', '\'', 's'});

    /* add_special */
    int32_t v = -1, v2 = -1;
    CHECK(vlm_tokenizer_add_special(tok, "<v>", &v) == VLM_OK && v == N_TINY);
    CHECK(vlm_tokenizer_add_special(tok, "<v>", &v2) == VLM_OK && v2 == v);
    CHECK(vlm_tokenizer_n_vocab(tok) == N_TINY + 1);
    CHECK(vlm_tokenizer_is_special(tok, v) && vlm_tokenizer_is_special(tok, T_S) && !vlm_tokenizer_is_special(tok, T_FOO));
    CHECK(vlm_tokenizer_token_to_id(tok, "<v>") == v && vlm_tokenizer_token_to_id(tok, "hello") == T_HELLO);
    CHECK(vlm_tokenizer_token_to_id(tok, "nope") == -1);
    CHECK(vlm_tokenizer_id_to_token(tok, v) && !strcmp(vlm_tokenizer_id_to_token(tok, v), "<v>"));
    CHECK(vlm_tokenizer_id_to_token(tok, -1) == NULL && vlm_tokenizer_id_to_token(tok, N_TINY + 1) == NULL);
    EXPECT_OFF(tok, "a<v><v>b", A('a', N_TINY, N_TINY, 'b'), A(0, 1, 1, 4, 4, 7, 7, 8));
    int32_t ab = -1;
    CHECK(vlm_tokenizer_add_special(tok, "ab", &ab) == VLM_OK && ab == T_AB); /* existing vocab entry */
    EXPECT(tok, "xabx", {'x', T_AB, 'x'});
    int32_t foo = -1;
    CHECK(vlm_tokenizer_add_special(tok, "foo", &foo) == VLM_OK && foo == T_FOO && vlm_tokenizer_is_special(tok, T_FOO));
    CHECK(vlm_tokenizer_add_special(tok, "", NULL) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_tokenizer_add_special(tok, "\xFF", NULL) == VLM_ERR_INVALID_ARG);

    /* eos */
    CHECK(vlm_tokenizer_eos_id(tok) == -1);
    CHECK(vlm_tokenizer_set_eos(tok, "<s>") == VLM_OK && vlm_tokenizer_eos_id(tok) == T_S);
    CHECK(vlm_tokenizer_set_eos(tok, "<nope>") == VLM_ERR_INVALID_ARG && strstr(vlm_tokenizer_last_error(tok), "<nope>"));

    /* invalid UTF-8 */
    vlm_tokens t = {0};
    const char bad[] = "ab\xC3(";
    CHECK(vlm_tokenizer_encode(tok, bad, 4, &t) == VLM_ERR_INVALID_ARG);
    CHECK_MSG(strstr(vlm_tokenizer_last_error(tok), "byte offset 2") != NULL, "%s", vlm_tokenizer_last_error(tok));
    CHECK(vlm_tokenizer_encode(tok, "\xED\xA0\x80", 3, &t) == VLM_ERR_INVALID_ARG); /* surrogate */
    CHECK(vlm_tokenizer_encode(tok, "\xC0\xAF", 2, &t) == VLM_ERR_INVALID_ARG);     /* overlong */
    CHECK(vlm_tokenizer_encode(tok, "\xF4\x90\x80\x80", 4, &t) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_tokenizer_encode(tok, "abc\xE2\x82", 5, &t) == VLM_ERR_INVALID_ARG &&
          strstr(vlm_tokenizer_last_error(tok), "byte offset 3"));
    /* NUL bytes are valid input */
    CHECK(vlm_tokenizer_encode(tok, "a\0b", 3, &t) == VLM_OK && t.n == 3 && t.ids[1] == 0 && t.offsets[2] == 1);
    CHECK(vlm_tokenizer_encode(tok, NULL, 0, &t) == VLM_OK && t.n == 0);
    CHECK(vlm_tokenizer_encode(tok, NULL, 1, &t) == VLM_ERR_INVALID_ARG);
    vlm_tokens_free(&t);
    vlm_tokens_free(&t); /* twice is fine */
    vlm_tokenizer_free(tok);
    vlm_tokenizer_free(NULL);
}

static void test_no_ignore_merges(void) {
    vlm_tokenizer *tok = tiny(0, 1); /* merges as [a, b] pairs */
    if (!tok) return;
    EXPECT(tok, "abc", {T_AB, 'c'}); /* BPE, although "abc" is in the vocabulary */
    EXPECT(tok, "hello world", {T_HELLO, T_GWORLD});
    vlm_tokenizer_free(tok);
}

static void test_decode(void) {
    vlm_tokenizer *tok = tiny(1, 0);
    if (!tok) return;
    int32_t v;
    vlm_tokenizer_add_special(tok, "<v>", &v);
    const int32_t a[] = {T_HELLO, T_GWORLD};
    char *s = dec(tok, a, 2, false, false);
    CHECK(s && !strcmp(s, "hello world"));
    free(s);
    const int32_t b[] = {T_S, T_HELLO, v, T_FOO, T_XYZ};
    s = dec(tok, b, 5, false, false);
    CHECK(s && !strcmp(s, "<s>hello<v>fooxyz"));
    free(s);
    s = dec(tok, b, 5, true, false);
    CHECK_MSG(s && !strcmp(s, "hellofooxyz"), "%s", s);
    free(s);
    /* lossy UTF-8: maximal invalid subparts become one U+FFFD each */
    const int32_t c1[] = {0xC3}, c2[] = {0xE2, 0x82}, c3[] = {0xF0, 0x9F, 0x98, 'a'}, c4[] = {0xED, 0xA0, 0x80},
                  c5[] = {0xF0, 0x9F, 0x98, 0x80}, c6[] = {0xFF, 'x', 0x80};
    s = dec(tok, c1, 1, false, false);
    CHECK(s && !strcmp(s, "\xEF\xBF\xBD"));
    free(s);
    s = dec(tok, c2, 2, false, false);
    CHECK(s && !strcmp(s, "\xEF\xBF\xBD"));
    free(s);
    s = dec(tok, c3, 4, false, false);
    CHECK(s && !strcmp(s, "\xEF\xBF\xBD" "a"));
    free(s);
    s = dec(tok, c4, 3, false, false);
    CHECK(s && !strcmp(s, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
    free(s);
    s = dec(tok, c5, 4, false, false);
    CHECK(s && !strcmp(s, "\xF0\x9F\x98\x80"));
    free(s);
    s = dec(tok, c6, 3, false, false);
    CHECK(s && !strcmp(s, "\xEF\xBF\xBDx\xEF\xBF\xBD"));
    free(s);
    /* clean_up_tokenization_spaces */
    const char *txt = "Hello , world . I 'm here n't ' ok ' !";
    vlm_tokens t = {0};
    CHECK(vlm_tokenizer_encode(tok, txt, strlen(txt), &t) == VLM_OK);
    s = dec(tok, t.ids, t.n, false, false);
    CHECK(s && !strcmp(s, txt));
    free(s);
    s = dec(tok, t.ids, t.n, true, true);
    CHECK_MSG(s && !strcmp(s, "Hello, world. I'm heren't'ok '!"), "%s", s);
    free(s);
    vlm_tokens_free(&t);
    /* errors */
    const int32_t badid[] = {5, 1000};
    char *o = (char *)1;
    vlm_decode_params p = {0};
    CHECK(vlm_tokenizer_decode(tok, badid, 2, &p, &o, NULL) == VLM_ERR_INVALID_ARG && o == NULL);
    CHECK(strstr(vlm_tokenizer_last_error(tok), "ids[1]") != NULL);
    s = dec(tok, NULL, 0, false, false);
    CHECK(s && !*s);
    free(s);
    vlm_tokenizer_free(tok);
}

/* ------------------------------------------------------------------------- */
/* Corrupt documents                                                          */
/* ------------------------------------------------------------------------- */
typedef void (*mutator)(json_t *d);
static json_t *model_of(json_t *d) { return json_object_get(d, "model"); }
static void m_type(json_t *d) { json_object_set_new(model_of(d), "type", json_string("WordPiece")); }
static void m_vocab_str(json_t *d) { json_object_set_new(json_object_get(model_of(d), "vocab"), "a", json_string("x")); }
static void m_vocab_range(json_t *d) { json_object_set_new(json_object_get(model_of(d), "vocab"), "a", json_integer(5000)); }
static void m_vocab_neg(json_t *d) { json_object_set_new(json_object_get(model_of(d), "vocab"), "a", json_integer(-1)); }
static void m_vocab_dup(json_t *d) { json_object_set_new(json_object_get(model_of(d), "vocab"), "a", json_integer(98)); }
static void m_vocab_real(json_t *d) { json_object_set_new(json_object_get(model_of(d), "vocab"), "a", json_real(1e30)); }
static void m_vocab_missing(json_t *d) { json_object_del(model_of(d), "vocab"); }
static void m_merges_obj(json_t *d) { json_object_set_new(model_of(d), "merges", json_object()); }
static void m_merge_nospace(json_t *d) { json_array_append_new(json_object_get(model_of(d), "merges"), json_string("ab")); }
static void m_merge_2space(json_t *d) { json_array_append_new(json_object_get(model_of(d), "merges"), json_string("a b c")); }
static void m_merge_unknown(json_t *d) { json_array_append_new(json_object_get(model_of(d), "merges"), json_string("qq r")); }
static void m_merge_result(json_t *d) { json_array_append_new(json_object_get(model_of(d), "merges"), json_string("x y")); }
static void m_merge_mixed(json_t *d) { json_array_append_new(json_object_get(model_of(d), "merges"), json_pack("[ss]", "x", "y")); }
static void m_merge_int(json_t *d) { json_array_append_new(json_object_get(model_of(d), "merges"), json_integer(3)); }
static void m_normalizer(json_t *d) { json_object_set_new(d, "normalizer", json_pack("{s:s}", "type", "NFC")); }
static void m_truncation(json_t *d) { json_object_set_new(d, "truncation", json_pack("{s:i}", "max_length", 5)); }
static void m_version(json_t *d) { json_object_set_new(d, "version", json_string("2.0")); }
static void m_pretok_null(json_t *d) { json_object_set_new(d, "pre_tokenizer", json_null()); }
static void m_pretok_ws(json_t *d) { json_object_set_new(d, "pre_tokenizer", json_pack("{s:s}", "type", "Whitespace")); }
static json_t *split_of(json_t *d) {
    return json_array_get(json_object_get(json_object_get(d, "pre_tokenizer"), "pretokenizers"), 0);
}
static void m_split_removed(json_t *d) { json_object_set_new(split_of(d), "behavior", json_string("Removed")); }
static void m_split_invert(json_t *d) { json_object_set_new(split_of(d), "invert", json_true()); }
static void m_split_badre(json_t *d) { json_object_set_new(split_of(d), "pattern", json_pack("{s:s}", "Regex", "(")); }
static void m_split_string(json_t *d) { json_object_set_new(split_of(d), "pattern", json_pack("{s:s}", "String", " ")); }
static void m_bl_prefix(json_t *d) {
    json_object_set_new(json_array_get(json_object_get(json_object_get(d, "pre_tokenizer"), "pretokenizers"), 1),
                        "add_prefix_space", json_true());
}
static void m_decoder_null(json_t *d) { json_object_set_new(d, "decoder", json_null()); }
static void m_decoder_wp(json_t *d) { json_object_set_new(d, "decoder", json_pack("{s:s}", "type", "WordPiece")); }
static void m_post_bert(json_t *d) { json_object_set_new(d, "post_processor", json_pack("{s:s}", "type", "BertProcessing")); }
static void m_byte_fallback(json_t *d) { json_object_set_new(model_of(d), "byte_fallback", json_true()); }
static void m_unk(json_t *d) { json_object_set_new(model_of(d), "unk_token", json_string("a")); }
static void m_ignore_str(json_t *d) { json_object_set_new(model_of(d), "ignore_merges", json_string("yes")); }
static json_t *added_of(json_t *d, size_t i) { return json_array_get(json_object_get(d, "added_tokens"), i); }
static void m_added_gap(json_t *d) { json_object_set_new(added_of(d, 0), "id", json_integer(300)); }
static void m_added_dup(json_t *d) { json_object_set_new(added_of(d, 1), "content", json_string("<s>")); }
static void m_added_empty(json_t *d) { json_object_set_new(added_of(d, 1), "content", json_string("")); }
static void m_added_noid(json_t *d) { json_object_del(added_of(d, 1), "id"); }
static void m_added_vocabid(json_t *d) { json_object_set_new(added_of(d, 6), "id", json_integer(T_ABC)); }
static void m_added_special_str(json_t *d) { json_object_set_new(added_of(d, 0), "special", json_string("true")); }
static void m_added_obj(json_t *d) { json_object_set_new(d, "added_tokens", json_object()); }
static void m_top_model_arr(json_t *d) { json_object_set_new(d, "model", json_array()); }

static void test_corrupt(void) {
    static const struct {
        mutator m;
        vlm_status st;
        const char *msg;
    } cases[] = {
        {m_type, VLM_ERR_UNSUPPORTED, "model.type"},
        {m_vocab_str, VLM_ERR_FORMAT, "model.vocab[\"a\"]"},
        {m_vocab_range, VLM_ERR_FORMAT, "out of range"},
        {m_vocab_neg, VLM_ERR_FORMAT, "out of range"},
        {m_vocab_dup, VLM_ERR_FORMAT, "used by both"},
        {m_vocab_real, VLM_ERR_FORMAT, "expected an integer"},
        {m_vocab_missing, VLM_ERR_FORMAT, "model.vocab: missing"},
        {m_merges_obj, VLM_ERR_FORMAT, "model.merges: expected an array"},
        {m_merge_nospace, VLM_ERR_FORMAT, "model.merges[11]"},
        {m_merge_2space, VLM_ERR_FORMAT, "one space"},
        {m_merge_unknown, VLM_ERR_FORMAT, "\"qq\" is not in model.vocab"},
        {m_merge_result, VLM_ERR_FORMAT, "merged token \"xy\""},
        {m_merge_mixed, VLM_ERR_FORMAT, "model.merges[11]"},
        {m_merge_int, VLM_ERR_FORMAT, "model.merges[11]"},
        {m_normalizer, VLM_ERR_UNSUPPORTED, "normalizer"},
        {m_truncation, VLM_ERR_UNSUPPORTED, "truncation"},
        {m_version, VLM_ERR_UNSUPPORTED, "version"},
        {m_pretok_null, VLM_ERR_UNSUPPORTED, "pre_tokenizer"},
        {m_pretok_ws, VLM_ERR_UNSUPPORTED, "Whitespace"},
        {m_split_removed, VLM_ERR_UNSUPPORTED, "pretokenizers[0].behavior"},
        {m_split_invert, VLM_ERR_UNSUPPORTED, "invert"},
        {m_split_badre, VLM_ERR_UNSUPPORTED, "pattern.Regex"},
        {m_split_string, VLM_ERR_UNSUPPORTED, "pattern.String"},
        {m_bl_prefix, VLM_ERR_UNSUPPORTED, "add_prefix_space"},
        {m_decoder_null, VLM_ERR_UNSUPPORTED, "decoder"},
        {m_decoder_wp, VLM_ERR_UNSUPPORTED, "decoder.type"},
        {m_post_bert, VLM_ERR_UNSUPPORTED, "post_processor.type"},
        {m_byte_fallback, VLM_ERR_UNSUPPORTED, "byte_fallback"},
        {m_unk, VLM_ERR_UNSUPPORTED, "unk_token"},
        {m_ignore_str, VLM_ERR_FORMAT, "model.ignore_merges"},
        {m_added_gap, VLM_ERR_FORMAT, "added_tokens[0].id"},
        {m_added_dup, VLM_ERR_FORMAT, "appears twice"},
        {m_added_empty, VLM_ERR_FORMAT, "added_tokens[1].content"},
        {m_added_noid, VLM_ERR_FORMAT, "added_tokens[1].id"},
        {m_added_vocabid, VLM_ERR_FORMAT, "added_tokens[6].id"},
        {m_added_special_str, VLM_ERR_FORMAT, "added_tokens[0].special"},
        {m_added_obj, VLM_ERR_FORMAT, "added_tokens"},
        {m_top_model_arr, VLM_ERR_FORMAT, "model: expected an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *d = tiny_doc(1, 0);
        cases[i].m(d);
        char err[512] = "";
        vlm_tokenizer *tok = (vlm_tokenizer *)1;
        vlm_status st = load_doc(d, &tok, err, sizeof err);
        CHECK_MSG(st == cases[i].st && tok == NULL && strstr(err, cases[i].msg), "case %zu: status %d, message: %s", i,
                  (int)st, err);
        json_decref(d);
    }
    /* raw documents */
    static const struct {
        const char *doc;
        const char *msg;
    } raw[] = {
        {"", "not valid JSON"},
        {"{", "not valid JSON"},
        {"[]", "top"},
        {"{}", "model: missing"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 99999999999999999999999}, \"merges\": []}}", "not valid JSON"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"a\": 0}, \"merges\": []}}", "not valid JSON"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}", "pre_tokenizer"},
        {"\xFF\xFE", "not valid JSON"},
        {"null", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        char err[512] = "";
        vlm_tokenizer *tok = (vlm_tokenizer *)1;
        vlm_status st = vlm_tokenizer_load_json(raw[i].doc, strlen(raw[i].doc), &tok, err, sizeof err);
        CHECK_MSG(st != VLM_OK && tok == NULL && strstr(err, raw[i].msg), "raw case %zu: %s", i, err);
    }
    char err[256];
    vlm_tokenizer *tok;
    CHECK(vlm_tokenizer_load("/nonexistent/tokenizer.json", &tok, err, sizeof err) == VLM_ERR_IO && tok == NULL &&
          strstr(err, "/nonexistent/tokenizer.json"));
    CHECK(vlm_tokenizer_load_json(NULL, 5, &tok, err, sizeof err) == VLM_ERR_INVALID_ARG);
    /* every truncation of a valid document fails cleanly */
    json_t *d = tiny_doc(1, 0);
    char *s = json_dumps(d, JSON_COMPACT);
    size_t n = strlen(s);
    int all_fail = 1;
    for (size_t k = 0; k < n; k += 7) {
        tok = NULL;
        if (vlm_tokenizer_load_json(s, k, &tok, err, sizeof err) == VLM_OK) all_fail = 0;
        vlm_tokenizer_free(tok);
    }
    CHECK(all_fail);
    free(s);
    json_decref(d);
}

static void test_config(void) {
    char path[] = "/tmp/vlm-tokcfg-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    const char *doc = "{\"bos_token\": \"<|begin_of_text|>\", \"eos_token\": {\"content\": \"<|eot_id|>\", \"lstrip\": false}}";
    CHECK(write(fd, doc, strlen(doc)) == (ssize_t)strlen(doc));
    close(fd);
    char *bos = NULL, *eos = NULL, err[256];
    CHECK(vlm_read_tokenizer_config(path, &bos, &eos, err, sizeof err) == VLM_OK);
    CHECK(bos && !strcmp(bos, "<|begin_of_text|>") && eos && !strcmp(eos, "<|eot_id|>"));
    free(bos);
    free(eos);
    FILE *f = fopen(path, "w");
    fputs("{\"eos_token\": 5}", f);
    fclose(f);
    CHECK(vlm_read_tokenizer_config(path, &bos, &eos, err, sizeof err) == VLM_ERR_FORMAT && strstr(err, "eos_token"));
    f = fopen(path, "w");
    fputs("{\"eos_token\": null}", f);
    fclose(f);
    CHECK(vlm_read_tokenizer_config(path, &bos, &eos, err, sizeof err) == VLM_OK && !bos && !eos);
    unlink(path);
    CHECK(vlm_read_tokenizer_config(path, &bos, &eos, err, sizeof err) == VLM_ERR_IO);
}

/* ------------------------------------------------------------------------- */
/* Differential checks                                                        */
/* ------------------------------------------------------------------------- */
typedef struct {
    size_t n, cap;
    int64_t *v; /* (added << 40) | (bs << 20) | be, enough for short strings */
} pieces;

static int collect(void *user, int32_t added, size_t bs, size_t be) {
    pieces *p = user;
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->v = realloc(p->v, p->cap * sizeof *p->v);
    }
    p->v[p->n++] = ((int64_t)(added + 1) << 40) | ((int64_t)bs << 20) | (int64_t)be;
    return 1;
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* The hand-written Llama-3 and GPT-2 matchers against PCRE2 on random text
 * drawn from characters of every class the patterns distinguish. */
static void test_pretok_vs_pcre2(void) {
    static const char *const alpha[] = {
        "a", "Z", "s", "S", "t", "T", "r", "e", "E", "v", "l", "L", "d", "m", "x", "\xC3\xA9", "\xC5\xBF", "'",
        "'", "1", "2", "\xD9\xA3", "\xC2\xBD", "\xE2\x85\xAB", " ", " ", "\t", "\n", "\r", "\xC2\xA0", "\xC2\x85",
        "\xE1\xA0\x8E", "\xE3\x80\x80", "\xE2\x80\xA8", "!", ".", ",", "\xF0\x9F\x98\x80", "\xE4\xB8\xAD", "\x1C",
        "\x01", "\xEF\xBB\xBF", "\xCC\x81", "<", ">", "|", "\xE2\x80\x8B"};
    const size_t na = sizeof alpha / sizeof alpha[0];
    json_t *d1 = tiny_doc(1, 0), *d2 = tiny_doc(1, 0);
    json_object_set_new(split_of(d2), "pattern", json_pack("{s:s++}", "Regex", "(?:", LLAMA3_RE, ")"));
    json_t *d3 = tiny_doc(1, 0), *d4 = tiny_doc(1, 0);
    json_object_set_new(d3, "pre_tokenizer", json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space", 0,
                                                       "trim_offsets", 1, "use_regex", 1));
    json_object_set_new(split_of(d4), "pattern", json_pack("{s:s}", "Regex",
        "(?:'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+)"));
    char err[512];
    vlm_tokenizer *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL;
    CHECK_MSG(load_doc(d1, &t1, err, sizeof err) == VLM_OK, "%s", err);
    CHECK_MSG(load_doc(d2, &t2, err, sizeof err) == VLM_OK, "%s", err);
    CHECK_MSG(load_doc(d3, &t3, err, sizeof err) == VLM_OK, "%s", err);
    CHECK_MSG(load_doc(d4, &t4, err, sizeof err) == VLM_OK, "%s", err);
    json_decref(d1);
    json_decref(d2);
    json_decref(d3);
    json_decref(d4);
    if (!t1 || !t2 || !t3 || !t4) goto done;
    CHECK(t1->splits[0].kind == TOK_SPLIT_LLAMA3 && t2->splits[0].kind == TOK_SPLIT_PCRE2);
    CHECK(t3->splits[0].kind == TOK_SPLIT_GPT2 && t4->splits[0].kind == TOK_SPLIT_PCRE2 && t4->n_splits == 1);
    int diff1 = 0, diff2 = 0;
    char buf[256];
    for (int it = 0; it < 20000; it++) {
        size_t len = 0, k = rnd() % 14;
        for (size_t i = 0; i < k; i++) {
            const char *c = alpha[rnd() % na];
            memcpy(buf + len, c, strlen(c));
            len += strlen(c);
        }
        for (int pair = 0; pair < 2; pair++) {
            pieces a = {0}, b = {0};
            const vlm_tokenizer *x = pair ? t3 : t1, *y = pair ? t4 : t2;
            CHECK(tok_pretokenize_text(x, buf, len, collect, &a) == VLM_OK);
            CHECK(tok_pretokenize_text(y, buf, len, collect, &b) == VLM_OK);
            int same = a.n == b.n && (a.n == 0 || !memcmp(a.v, b.v, a.n * sizeof *a.v));
            if (!same && (pair ? diff2 : diff1) < 3) {
                fprintf(stderr, "%s pre-tokens differ from PCRE2 on:", pair ? "GPT-2" : "Llama-3");
                for (size_t i = 0; i < len; i++) fprintf(stderr, " %02X", (unsigned char)buf[i]);
                fputc('\n', stderr);
            }
            if (!same) *(pair ? &diff2 : &diff1) += 1;
            free(a.v);
            free(b.v);
        }
    }
    CHECK_MSG(diff1 == 0, "%d Llama-3 differences", diff1);
    CHECK_MSG(diff2 == 0, "%d GPT-2 differences", diff2);
done:
    vlm_tokenizer_free(t1);
    vlm_tokenizer_free(t2);
    vlm_tokenizer_free(t3);
    vlm_tokenizer_free(t4);
}

/* The linear-scan and priority-queue merge paths give the same tokens. */
static void merge_paths(const vlm_tokenizer *tok, const char *alphabet, int iters, int maxlen) {
    tok_sym s1[64], s2[64];
    uint64_t heap[3 * 64];
    size_t na = strlen(alphabet);
    int diffs = 0;
    for (int it = 0; it < iters; it++) {
        int n = 1 + (int)(rnd() % (unsigned)maxlen);
        for (int i = 0; i < n; i++) {
            uint8_t b = (uint8_t)alphabet[rnd() % na];
            s1[i].id = s2[i].id = tok->byte_id[b];
            s1[i].start = s2[i].start = (uint32_t)i;
            s1[i].len = s2[i].len = 1;
        }
        int32_t h1 = tok_bpe_merge(&tok->merges, s1, n, heap, false);
        int32_t h2 = tok_bpe_merge(&tok->merges, s2, n, heap, true);
        int same = h1 == h2;
        for (int32_t i = h1, j = h2; same && (i >= 0 || j >= 0); i = s1[i].next, j = s2[j].next)
            same = i == j && s1[i].id == s2[j].id && s1[i].len == s2[j].len;
        diffs += !same;
    }
    CHECK_MSG(diffs == 0, "%d words merged differently", diffs);
}

static void test_merge_paths_tiny(void) {
    vlm_tokenizer *tok = tiny(0, 0);
    if (!tok) return;
    merge_paths(tok, "abchelowrd ", 5000, 40);
    vlm_tokenizer_free(tok);
}

/* ------------------------------------------------------------------------- */
/* The real Llama-3 tokenizer (when installed)                                */
/* ------------------------------------------------------------------------- */
static void test_llama3(const char *path) {
    char err[512];
    vlm_tokenizer *tok;
    vlm_status st = vlm_tokenizer_load(path, &tok, err, sizeof err);
    CHECK_MSG(st == VLM_OK, "%s", err);
    if (st) return;
    CHECK(vlm_tokenizer_n_vocab(tok) == 128256);
    int32_t v = -1;
    CHECK(vlm_tokenizer_add_special(tok, "<v>", &v) == VLM_OK && v == 128256);
    CHECK(vlm_tokenizer_n_vocab(tok) == 128257);
    CHECK(vlm_tokenizer_token_to_id(tok, ",") == 11 && vlm_tokenizer_token_to_id(tok, "]\xC4\x8A") == 933);
    CHECK(vlm_tokenizer_token_to_id(tok, "<|eot_id|>") == 128009 && vlm_tokenizer_is_special(tok, 128009));
    CHECK(!vlm_tokenizer_is_special(tok, 11));
    EXPECT(tok, "]\n", {933});
    EXPECT(tok, ".\n\n", {382});
    EXPECT(tok, "<v><v>,<v>", {128256, 128256, 11, 128256});
    /* decode of the live reply with the demo's settings */
    const int32_t reply[] = {128000, 72803, 25, 7155, 13, 128009};
    char *s = dec(tok, reply, 6, true, true);
    CHECK(s && !strcmp(s, "Assistant: cool."));
    free(s);
    merge_paths(tok, "abcdefghijklmnopqrstuvwxyz \xC3\xA9\xE4\xB8\xAD", 3000, 48);
    /* the tokenizer_config.json shipped next to it: eos <|eot_id|> = 128009 (spec 2.1) */
    char cfg[4096];
    const char *slash = strrchr(path, '/');
    snprintf(cfg, sizeof cfg, "%.*s/tokenizer_config.json", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (access(cfg, R_OK) == 0) {
        char *bos = NULL, *eos = NULL;
        CHECK_MSG(vlm_read_tokenizer_config(cfg, &bos, &eos, err, sizeof err) == VLM_OK, "%s", err);
        CHECK(bos && !strcmp(bos, "<|begin_of_text|>") && eos && !strcmp(eos, "<|eot_id|>"));
        CHECK(eos && vlm_tokenizer_set_eos(tok, eos) == VLM_OK && vlm_tokenizer_eos_id(tok) == 128009);
        free(bos);
        free(eos);
    }
    vlm_tokenizer_free(tok);
}

/* ------------------------------------------------------------------------- */
/* Conformance mode                                                           */
/* ------------------------------------------------------------------------- */
static int conform(int argc, char **argv) {
    char err[512];
    vlm_tokenizer *tok;
    if (vlm_tokenizer_load(argv[2], &tok, err, sizeof err) != VLM_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int32_t v;
    if (vlm_tokenizer_add_special(tok, "<v>", &v) != VLM_OK) return 1;
    json_error_t je;
    json_t *strs = json_load_file(argv[3], JSON_ALLOW_NUL, &je), *ref = json_load_file(argv[4], JSON_ALLOW_NUL, &je);
    if (!strs || !ref || json_array_size(strs) != json_array_size(ref)) {
        fprintf(stderr, "conform: cannot read %s / %s, or sizes differ\n", argv[3], argv[4]);
        return 1;
    }
    size_t n = json_array_size(strs), same = 0, shown = 0;
    vlm_tokens t = {0};
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(strs, i), *r = json_array_get(ref, i);
        json_t *rid = json_object_get(r, "ids"), *roff = json_object_get(r, "offsets");
        vlm_status st = vlm_tokenizer_encode(tok, json_string_value(s), json_string_length(s), &t);
        int ok = st == VLM_OK && t.n == json_array_size(rid) && t.n == json_array_size(roff);
        for (size_t k = 0; ok && k < t.n; k++) {
            json_t *o = json_array_get(roff, k);
            ok = t.ids[k] == json_integer_value(json_array_get(rid, k)) &&
                 t.offsets[2 * k] == json_integer_value(json_array_get(o, 0)) &&
                 t.offsets[2 * k + 1] == json_integer_value(json_array_get(o, 1));
        }
        same += ok;
        if (!ok && shown++ < 5) {
            char *js = json_dumps(s, JSON_ENCODE_ANY);
            char *jr = json_dumps(r, JSON_COMPACT);
            fprintf(stderr, "MISMATCH string %zu %.200s\n  reference %.400s\n  ours     ", i, js, jr);
            for (size_t k = 0; k < t.n && k < 40; k++)
                fprintf(stderr, " %d[%d,%d]", t.ids[k], t.offsets[2 * k], t.offsets[2 * k + 1]);
            fputc('\n', stderr);
            free(js);
            free(jr);
        }
    }
    printf("encode: %zu/%zu strings identical to the reference (ids and offsets)\n", same, n);
    int rc = same == n ? 0 : 1;
    vlm_tokens_free(&t);
    json_decref(strs);
    json_decref(ref);
    if (argc >= 7) {
        json_t *din = json_load_file(argv[5], 0, &je), *dref = json_load_file(argv[6], JSON_ALLOW_NUL, &je);
        json_t *seqs = din ? json_object_get(din, "ids") : NULL;
        if (!seqs || !dref || json_array_size(seqs) != json_array_size(dref)) {
            fprintf(stderr, "conform: cannot read %s / %s, or sizes differ\n", argv[5], argv[6]);
            return 1;
        }
        static const char *const keys[] = {"text", "text_skip", "text_clean", "text_skip_clean"};
        size_t m = json_array_size(seqs), dsame = 0, dshown = 0;
        int32_t *ids = NULL;
        for (size_t i = 0; i < m; i++) {
            json_t *a = json_array_get(seqs, i);
            size_t k = json_array_size(a);
            ids = realloc(ids, (k + 1) * sizeof *ids);
            for (size_t j = 0; j < k; j++) ids[j] = (int32_t)json_integer_value(json_array_get(a, j));
            int ok = 1;
            for (int var = 0; var < 4; var++) {
                json_t *want = json_object_get(json_array_get(dref, i), keys[var]);
                vlm_decode_params p = {var & 1, var >= 2};
                char *out = NULL;
                size_t ol = 0;
                vlm_status st = vlm_tokenizer_decode(tok, ids, k, &p, &out, &ol);
                int eq = st == VLM_OK && want && json_string_length(want) == ol &&
                         memcmp(json_string_value(want), out, ol) == 0;
                if (!eq && dshown++ < 5)
                    fprintf(stderr, "DECODE MISMATCH sequence %zu (%s): got \"%.200s\" want \"%.200s\"\n", i, keys[var],
                            out ? out : "(error)", want ? json_string_value(want) : "(missing)");
                ok &= eq;
                free(out);
            }
            dsame += ok;
        }
        free(ids);
        printf("decode: %zu/%zu id sequences identical to the reference (4 variants each)\n", dsame, m);
        if (dsame != m) rc = 1;
        json_decref(din);
        json_decref(dref);
    }
    vlm_tokenizer_free(tok);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "--conform")) return conform(argc, argv);
    if (argc > 1) {
        fprintf(stderr, "usage: test_tokenizer [--conform TOKENIZER STRINGS HF_ENC [DEC_IN HF_DEC]]\n");
        return 2;
    }
    test_encode_basic();
    test_no_ignore_merges();
    test_decode();
    test_corrupt();
    test_config();
    test_pretok_vs_pcre2();
    test_merge_paths_tiny();
    const char *l3 = getenv("VLM_LLAMA3_TOKENIZER");
    if (l3 && access(l3, R_OK) == 0) test_llama3(l3);
    else printf("test_tokenizer: VLM_LLAMA3_TOKENIZER not set or unreadable; Llama-3 checks skipped\n");
    return check_done("test_tokenizer");
}
