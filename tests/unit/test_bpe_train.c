/* test_bpe_train.c - unit tests of the BPE trainer (src/text/bpe_train.c):
 * merges worked out by hand on tiny corpora (including the tie rule), forced
 * merges of required strings, special and cut tokens, the written document
 * loading back into our tokenizer with lossless encode/decode, determinism,
 * and every parameter/input error.
 *
 * Conformance mode (tests/conformance/bpe_train.sh):
 *   test_bpe_train --conform TOKENIZER_JSON STRINGS_JSON HF_ENC_JSON
 * encodes every string of the JSON array (with <v> added as a special token),
 * compares ids and offsets with HF's (tests/ref/hf_tokenize.js output),
 * decodes the ids and requires the original string back. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "videollm.h"

/* Train on NUL-terminated texts; returns the parsed document (NULL on error,
 * with the status in *st and the message in err). */
static json_t *train(const char *const *texts, size_t n, const vlm_bpe_train_params *p, vlm_status *st, char *err,
                     size_t err_size, char **raw) {
    char *json = NULL;
    size_t len = 0;
    *st = vlm_bpe_train(texts, NULL, n, p, &json, &len, err, err_size);
    if (*st) return NULL;
    json_error_t je;
    json_t *doc = json_loadb(json, len, 0, &je);
    if (raw) *raw = json;
    else free(json);
    return doc;
}

static vlm_bpe_train_params plain_params(int64_t vocab, int64_t minf) {
    vlm_bpe_train_params p = vlm_bpe_train_default_params();
    p.vocab_size = vocab;
    p.min_frequency = minf;
    p.n_required = 0;
    p.n_specials = 0;
    p.bos_token = NULL;
    return p;
}

/* Whether doc's merges are exactly want[0..n). Prints the difference. */
static int merges_are(const json_t *doc, const char *const *want, size_t n) {
    const json_t *m = json_object_get(json_object_get(doc, "model"), "merges");
    int ok = m && json_array_size(m) == n;
    for (size_t i = 0; i < json_array_size(m); i++) {
        const char *got = json_string_value(json_array_get(m, i));
        if (i >= n || !got || strcmp(got, want[i])) {
            fprintf(stderr, "  merges[%zu] = \"%s\", want \"%s\"\n", i, got ? got : "?", i < n ? want[i] : "(none)");
            ok = 0;
        }
    }
    if (json_array_size(m) < n) fprintf(stderr, "  only %zu merges, want %zu\n", json_array_size(m), n);
    return ok;
}

static int32_t vocab_id(const json_t *doc, const char *spelling) {
    const json_t *v = json_object_get(json_object_get(json_object_get(doc, "model"), "vocab"), spelling);
    return v ? (int32_t)json_integer_value(v) : -1;
}

/* ------------------------------------------------------------------------- */
static void test_hand_worked(void) {
    char err[256];
    vlm_status st;
    /* ids: bytes in code point order of their byte-level characters:
     * '!'..'~' are 0..93 ('a' = 64, 'b' = 65, 'c' = 66, 'x' = 87), space is
     * U+0120 'Ġ' = 188 + 32 = 220; new tokens take 256, 257, ...
     *
     * "aab aab ab": pre-tokens "aab", " aab", " ab" (1 each)
     *   pairs (a,b) 3, (a,a) 2, (Ġ,a) 2       -> merge "a b"    = 256
     *   words a|ab, Ġ|a|ab, Ġ|ab: (a,ab) 2, (Ġ,a) 1, (Ġ,ab) 1
     *                                        -> merge "a ab"   = 257
     *   words aab, Ġ|aab, Ġ|ab: (Ġ,aab) 1 = (220,257), (Ġ,ab) 1 = (220,256)
     *   tie at 1: the smaller pair (220,256)  -> merge "Ġ ab"   = 258
     *                                        -> merge "Ġ aab"  = 259
     * min_frequency 2 stops after the second merge. */
    const char *t1[] = {"aab aab ab"};
    vlm_bpe_train_params p = plain_params(100000, 1);
    json_t *doc = train(t1, 1, &p, &st, err, sizeof err, NULL);
    CHECK_MSG(doc != NULL, "%s", err);
    const char *w1[] = {"a b", "a ab", "Ġ ab", "Ġ aab"};
    CHECK(merges_are(doc, w1, 4));
    CHECK(vocab_id(doc, "a") == 64 && vocab_id(doc, "Ġ") == 220 && vocab_id(doc, "!") == 0);
    CHECK(vocab_id(doc, "ab") == 256 && vocab_id(doc, "Ġaab") == 259);
    CHECK(json_object_size(json_object_get(json_object_get(doc, "model"), "vocab")) == 260);
    json_decref(doc);
    p.min_frequency = 2;
    doc = train(t1, 1, &p, &st, err, sizeof err, NULL);
    CHECK(doc && merges_are(doc, w1, 2));
    json_decref(doc);
    /* vocab_size caps the merges: 258 ids = 2 merges */
    p = plain_params(258, 0);
    doc = train(t1, 1, &p, &st, err, sizeof err, NULL);
    CHECK(doc && merges_are(doc, w1, 2));
    json_decref(doc);

    /* The tie rule compares ids, not strings.
     * "abc abc bx bx": pre-tokens "abc", " abc" (1 each), " bx" (2)
     *   pairs (a,b) 2, (b,c) 2, (Ġ,b) 2, (b,x) 2, (Ġ,a) 1
     *   tie at 2: (64,65) < (65,66) < (65,87) < (220,65) -> "a b" = 256
     *   then (ab,c) 2 = (256,66), (Ġ,b) 2 = (220,65), (b,x) 2 = (65,87), (Ġ,ab) 1
     *   tie at 2: (65,87) is smallest -> "b x" = 257 (by strings "ab" < "b"
     *   would have chosen "ab c")
     *   then (ab,c) 2 = (256,66), (Ġ,bx) 2 = (220,257) -> "Ġ bx" = 258
     *   -> "ab c" = 259; then (Ġ,abc) 1 -> "Ġ abc" (min_frequency 1 only) */
    const char *t2[] = {"abc abc bx bx"};
    p = plain_params(100000, 2);
    doc = train(t2, 1, &p, &st, err, sizeof err, NULL);
    const char *w2[] = {"a b", "b x", "Ġ bx", "ab c", "Ġ abc"};
    CHECK(doc && merges_are(doc, w2, 4));
    json_decref(doc);
    p.min_frequency = 0; /* acts as 1 */
    doc = train(t2, 1, &p, &st, err, sizeof err, NULL);
    CHECK(doc && merges_are(doc, w2, 5));
    json_decref(doc);

    /* Counts are weighted by pre-token frequency and summed over texts:
     * "xy" x3 in one text, "zw" once in each of 2 texts -> "x y" (3), "z w" (2) */
    const char *t3[] = {"xy xy xy", "zw", "zw"};
    p = plain_params(100000, 1);
    doc = train(t3, 3, &p, &st, err, sizeof err, NULL);
    /* pre-tokens: "xy" 1, " xy" 2, "zw" 2: (x,y) 3, (z,w) 2, (Ġ,x) 2 ->
     * "x y"; then (z,w) 2 = (89,86)... 'z' = 89, 'w' = 86; (Ġ,xy) 2 = (220,256)
     * tie: (89,86) first -> "z w", then "Ġ xy" */
    const char *w3[] = {"x y", "z w", "Ġ xy"};
    CHECK(doc && merges_are(doc, w3, 3));
    json_decref(doc);

    /* Overlapping pairs merge left to right (HF Word::merge): "aaaaa"
     *   (a,a) 4 -> "a a" = 256: aa|aa|a, pairs (aa,aa) 1, (aa,a) 1
     *   tie: (256,64) < (256,256) -> "aa a" = 257: aa|aaa -> "aa aaa" */
    const char *t4[] = {"aaaaa"};
    doc = train(t4, 1, &p, &st, err, sizeof err, NULL);
    const char *w4[] = {"a a", "aa a", "aa aaa"};
    CHECK(doc && merges_are(doc, w4, 3));
    json_decref(doc);
}

/* ------------------------------------------------------------------------- */
static void test_required_and_specials(void) {
    char err[256];
    vlm_status st;
    /* defaults: required "," and "]\n", Llama-3 specials, bos <|begin_of_text|> */
    vlm_bpe_train_params p = vlm_bpe_train_default_params();
    p.vocab_size = 300;
    const char *t[] = {"[a, b]\nUser: hi<|eot_id|>\n[c]\n", "<|begin_of_text|>x<|eot_id|><|eot_id|><|eot_id|>",
                       "<|eot_id|> <|eot_id|> <|eot_id|> <|eot_id|>"};
    char *raw = NULL;
    json_t *doc = train(t, 3, &p, &st, err, sizeof err, &raw);
    CHECK_MSG(doc != NULL, "%s", err);
    const json_t *m = json_object_get(json_object_get(doc, "model"), "merges");
    CHECK(json_array_size(m) > 0 && !strcmp(json_string_value(json_array_get(m, 0)), "] Ċ")); /* forced first */
    /* the specials were cut out of the texts: nothing of them was learned */
    for (size_t i = 0; i < json_array_size(m); i++) {
        const char *s = json_string_value(json_array_get(m, i));
        CHECK_MSG(!strstr(s, "<") && !strstr(s, "|") && !strstr(s, "eot"), "merge \"%s\"", s);
    }
    int32_t n_bpe = (int32_t)json_object_size(json_object_get(json_object_get(doc, "model"), "vocab"));
    CHECK(n_bpe <= 295);
    vlm_tokenizer *tok = NULL;
    CHECK(raw && vlm_tokenizer_load_json(raw, strlen(raw), &tok, err, sizeof err) == VLM_OK);
    if (tok) {
        CHECK(vlm_tokenizer_n_vocab(tok) == n_bpe + 5);
        CHECK(vlm_tokenizer_token_to_id(tok, "<|begin_of_text|>") == n_bpe);
        CHECK(vlm_tokenizer_token_to_id(tok, "<|eot_id|>") == n_bpe + 4);
        CHECK(vlm_tokenizer_is_special(tok, n_bpe + 2));
        vlm_tokens ts = {0};
        CHECK(vlm_tokenizer_encode(tok, "]\n", 2, &ts) == VLM_OK && ts.n == 1);
        int32_t close_id = ts.n ? ts.ids[0] : -1;
        CHECK(close_id == vocab_id(doc, "]Ċ"));
        CHECK(vlm_tokenizer_encode(tok, ",", 1, &ts) == VLM_OK && ts.n == 1);
        /* in context: "x]\n" is "x" + "]\n" */
        CHECK(vlm_tokenizer_encode(tok, "<|eot_id|>x]\n", 13, &ts) == VLM_OK && ts.n == 3 &&
              ts.ids[0] == n_bpe + 4 && ts.ids[2] == close_id);
        /* lossless on unseen bytes */
        const char *s = "\x01 unseen \xF0\x9F\xA6\x84 \xE4\xB8\xAD]\n\r\n";
        char *dec = NULL;
        size_t dl = 0;
        CHECK(vlm_tokenizer_encode(tok, s, strlen(s), &ts) == VLM_OK);
        CHECK(vlm_tokenizer_decode(tok, ts.ids, ts.n, NULL, &dec, &dl) == VLM_OK && dl == strlen(s) &&
              !memcmp(dec, s, dl));
        free(dec);
        vlm_tokens_free(&ts);
        vlm_tokenizer_free(tok);
    }
    /* shape: Llama-3's pre-tokenizer, post-processor and model flags */
    const json_t *pre = json_object_get(doc, "pre_tokenizer");
    CHECK(!strcmp(json_string_value(json_object_get(pre, "type")), "Sequence"));
    const json_t *post = json_object_get(doc, "post_processor");
    const json_t *tp = json_array_get(json_object_get(post, "processors"), 1);
    CHECK(tp && !strcmp(json_string_value(json_object_get(tp, "type")), "TemplateProcessing"));
    const json_t *bos_ids = json_object_get(json_object_get(json_object_get(tp, "special_tokens"), "<|begin_of_text|>"), "ids");
    CHECK(json_integer_value(json_array_get(bos_ids, 0)) == n_bpe);
    CHECK(json_is_true(json_object_get(json_object_get(doc, "model"), "ignore_merges")));
    CHECK(json_is_null(json_object_get(doc, "normalizer")));
    json_decref(doc);
    free(raw);

    /* required strings built on each other: "bc" then "abc" ->
     * "b c", then "abc" segments as a|bc -> "a bc"; BPE alone makes one token */
    const char *req[] = {"bc", "abc", "]\n"};
    p = plain_params(100000, 5);
    p.required = req;
    p.n_required = 3;
    const char *t2[] = {"ab ab ab ab ab ab"};
    doc = train(t2, 1, &p, &st, err, sizeof err, NULL);
    const char *w[] = {"b c", "a bc", "] Ċ", "a b", "Ġ ab"};
    CHECK_MSG(doc != NULL, "%s", err);
    CHECK(doc && merges_are(doc, w, 5));
    json_decref(doc);

    /* cut tokens are removed from the texts, not added */
    const char *cut[] = {"<v>"};
    p = plain_params(100000, 2);
    p.cut_tokens = cut;
    p.n_cut_tokens = 1;
    const char *t3[] = {"<v><v><v>,<v><v><v>,<v><v>]\n"};
    doc = train(t3, 1, &p, &st, err, sizeof err, NULL);
    CHECK(doc && json_array_size(json_object_get(json_object_get(doc, "model"), "merges")) == 0 &&
          json_array_size(json_object_get(doc, "added_tokens")) == 0);
    json_decref(doc);

    /* a special spelled like a BPE token takes that token's id (as HF); as
     * specials are cut from the texts, only a byte token can be one: "!" = 0 */
    const char *sp[] = {"!", "<|x|>"};
    p = plain_params(100000, 2);
    p.specials = sp;
    p.n_specials = 2;
    const char *t4[] = {"ab ab! ab"};
    raw = NULL;
    doc = train(t4, 1, &p, &st, err, sizeof err, &raw);
    CHECK_MSG(doc != NULL, "%s", err);
    CHECK(doc && vocab_id(doc, "ab") == 256 &&
          json_integer_value(json_object_get(json_array_get(json_object_get(doc, "added_tokens"), 0), "id")) == 0 &&
          json_integer_value(json_object_get(json_array_get(json_object_get(doc, "added_tokens"), 1), "id")) ==
              (json_int_t)json_object_size(json_object_get(json_object_get(doc, "model"), "vocab")));
    json_decref(doc);
    free(raw);
}

/* ------------------------------------------------------------------------- */
static void count_progress(void *user, int64_t done, int64_t planned) {
    int64_t *c = user;
    if (done <= planned && done > c[1]) c[0]++;
    c[1] = done;
}

static void test_determinism_and_incremental(void) {
    /* a few KB of varied text; trained twice (once through the incremental
     * API, split differently) must give byte-identical documents */
    char *buf = malloc(20000);
    size_t n = 0;
    uint32_t x = 12345;
    static const char *const words[] = {"red", "square", "moves", " ", ", ", "]\n", "\n", "42", "café", "日本",
                                        "it's", "!!", "  ", "\t", "Zebra", "🦄"};
    while (n < 19000) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % (sizeof words / sizeof words[0])];
        memcpy(buf + n, w, strlen(w));
        n += strlen(w);
    }
    buf[n] = 0;
    vlm_bpe_train_params p = vlm_bpe_train_default_params();
    p.vocab_size = 400;
    int64_t prog[2] = {0, 0};
    p.progress = count_progress;
    p.progress_user = prog;
    char err[256], *j1 = NULL, *j2 = NULL;
    size_t l1 = 0, l2 = 0;
    const char *texts[] = {buf};
    CHECK_MSG(vlm_bpe_train(texts, &n, 1, &p, &j1, &l1, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(prog[0] >= 50); /* about every 1% of 139 merges, and at the end */
    vlm_bpe_trainer *tr = NULL;
    p.progress = NULL;
    CHECK(vlm_bpe_trainer_new(&p, &tr, err, sizeof err) == VLM_OK);
    if (tr) {
        /* the text with a special token inserted in the middle: the special
         * cuts it in two, exactly as two separate texts (compared below) */
        const char *cut = "<|eot_id|>";
        char *b2 = malloc(n + 16);
        size_t half = n / 2;
        while (half < n && (buf[half] & 0xC0) == 0x80) half++;
        memcpy(b2, buf, half);
        memcpy(b2 + half, cut, strlen(cut));
        memcpy(b2 + half + strlen(cut), buf + half, n - half);
        CHECK(vlm_bpe_trainer_add_text(tr, b2, n + strlen(cut)) == VLM_OK);
        free(b2);
        CHECK(vlm_bpe_trainer_finish(tr, &j2, &l2) == VLM_OK);
        vlm_bpe_train_stats s;
        vlm_bpe_trainer_stats(tr, &s);
        CHECK(s.n_texts == 1 && s.n_merges == 400 - 5 - 256 && s.n_forced == 1 && s.n_bpe_vocab == 395);
        vlm_bpe_trainer_free(tr);
        char *j3 = NULL;
        size_t l3 = 0, lens[2] = {half, n - half};
        const char *two[] = {buf, buf + half};
        CHECK(vlm_bpe_train(two, lens, 2, &p, &j3, &l3, err, sizeof err) == VLM_OK);
        CHECK(j2 && j3 && l2 == l3 && !memcmp(j2, j3, l2));
        free(j3);
        /* and the same call twice is byte-identical */
        char *j4 = NULL;
        size_t l4 = 0;
        p.progress = count_progress;
        CHECK(vlm_bpe_train(texts, &n, 1, &p, &j4, &l4, err, sizeof err) == VLM_OK);
        CHECK(j1 && j4 && l1 == l4 && !memcmp(j1, j4, l1));
        free(j4);
    }
    free(j1);
    free(j2);
    free(buf);
}

/* ------------------------------------------------------------------------- */
static void test_errors(void) {
    char err[256];
    vlm_bpe_trainer *tr = NULL;
    vlm_bpe_train_params p = vlm_bpe_train_default_params();
    p.vocab_size = 260; /* < 256 + 5 */
    CHECK(vlm_bpe_trainer_new(&p, &tr, err, sizeof err) == VLM_ERR_INVALID_ARG && !tr && strstr(err, "vocab size 260"));
    p = vlm_bpe_train_default_params();
    p.vocab_size = 261; /* room for the specials but not for the "]\n" merge */
    const char *texts[] = {"x"};
    char *json = (char *)1;
    CHECK(vlm_bpe_train(texts, NULL, 1, &p, &json, NULL, err, sizeof err) == VLM_ERR_INVALID_ARG && !json &&
          strstr(err, "no room"));
    p = vlm_bpe_train_default_params();
    p.min_frequency = -1;
    CHECK(vlm_bpe_trainer_new(&p, &tr, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "min_frequency"));
    const char *bad_req[][1] = {{"a b"}, {"ab1"}, {""}, {"x<v>"}, {"\xC3"}};
    const char *cut[] = {"<v>"};
    for (size_t i = 0; i < 5; i++) {
        p = vlm_bpe_train_default_params();
        p.required = bad_req[i];
        p.n_required = 1;
        p.cut_tokens = cut;
        p.n_cut_tokens = 1;
        CHECK_MSG(vlm_bpe_trainer_new(&p, &tr, err, sizeof err) == VLM_ERR_INVALID_ARG, "required %zu", i);
        CHECK(strstr(err, "required"));
    }
    CHECK(strstr(err, "invalid UTF-8"));
    const char *dup[] = {"<a>", "<a>"};
    p = vlm_bpe_train_default_params();
    p.specials = dup;
    p.n_specials = 2;
    p.bos_token = NULL;
    CHECK(vlm_bpe_trainer_new(&p, &tr, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "twice"));
    p.n_specials = 1;
    p.bos_token = "<b>";
    CHECK(vlm_bpe_trainer_new(&p, &tr, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "bos token"));
    const char *sp3[] = {"]]"}, *rq3[] = {"]]]"};
    p.specials = sp3;
    p.required = rq3; /* "]]]" is one pre-token but holds the special "]]" */
    p.n_required = 1;
    p.bos_token = NULL;
    CHECK(vlm_bpe_trainer_new(&p, &tr, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "contains"));

    /* invalid UTF-8 text, use after finish */
    p = vlm_bpe_train_default_params();
    CHECK(vlm_bpe_trainer_new(&p, &tr, err, sizeof err) == VLM_OK);
    if (tr) {
        CHECK(vlm_bpe_trainer_add_text(tr, "ok \xED\xA0\x80", 6) == VLM_ERR_INVALID_ARG);
        CHECK(strstr(vlm_bpe_trainer_last_error(tr), "byte offset 3"));
        CHECK(vlm_bpe_trainer_add_text(tr, NULL, 0) == VLM_OK);
        CHECK(vlm_bpe_trainer_add_text(tr, "a\0b", 3) == VLM_OK); /* NUL is a character */
        char *j = NULL;
        CHECK(vlm_bpe_trainer_finish(tr, &j, NULL) == VLM_OK && j);
        free(j);
        CHECK(vlm_bpe_trainer_finish(tr, &j, NULL) == VLM_ERR_INVALID_ARG && !j);
        CHECK(vlm_bpe_trainer_add_text(tr, "x", 1) == VLM_ERR_INVALID_ARG);
        vlm_bpe_trainer_free(tr);
    }
    CHECK(vlm_bpe_trainer_add_text(NULL, "x", 1) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_bpe_trainer_new(&p, NULL, err, sizeof err) == VLM_ERR_INVALID_ARG);
    vlm_bpe_trainer_free(NULL);
    /* no text at all: bytes + forced merges + specials */
    char *j = NULL;
    CHECK(vlm_bpe_train(NULL, NULL, 0, &p, &j, NULL, err, sizeof err) == VLM_OK && j);
    free(j);
}

/* ------------------------------------------------------------------------- */
static int json_ints_equal(const json_t *arr, const int32_t *v, size_t n, size_t stride, size_t off) {
    if (!json_is_array(arr) || json_array_size(arr) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(arr, i);
        if (stride == 2) {
            if (json_integer_value(json_array_get(x, 0)) != v[2 * i] || json_integer_value(json_array_get(x, 1)) != v[2 * i + 1])
                return 0;
        } else if (json_integer_value(x) != v[i + off]) {
            return 0;
        }
    }
    return 1;
}

/* Encode every string (<v> added), compare ids and offsets with HF's output
 * (tests/ref/hf_tokenize.js), decode and require the string back. */
static int conform(const char *tok_path, const char *strings_path, const char *hf_path) {
    char err[512];
    vlm_tokenizer *tok;
    if (vlm_tokenizer_load(tok_path, &tok, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    CHECK(vlm_tokenizer_add_special(tok, "<v>", NULL) == VLM_OK);
    json_error_t je;
    json_t *arr = json_load_file(strings_path, JSON_ALLOW_NUL, &je), *hf = json_load_file(hf_path, 0, &je);
    CHECK_MSG(json_is_array(arr) && json_is_array(hf) && json_array_size(arr) == json_array_size(hf), "%s", je.text);
    vlm_tokens t = {0};
    size_t same = 0, round = 0;
    for (size_t i = 0; i < json_array_size(arr) && i < json_array_size(hf); i++) {
        const json_t *s = json_array_get(arr, i), *h = json_array_get(hf, i);
        const char *str = json_string_value(s);
        size_t n = json_string_length(s), dl = 0;
        char *dec = NULL;
        int ok = vlm_tokenizer_encode(tok, str, n, &t) == VLM_OK;
        int eq = ok && json_ints_equal(json_object_get(h, "ids"), t.ids, t.n, 1, 0) &&
                 json_ints_equal(json_object_get(h, "offsets"), t.offsets, t.n, 2, 0);
        CHECK_MSG(eq, "string %zu: ids/offsets differ from HF", i);
        int rt = ok && vlm_tokenizer_decode(tok, t.ids, t.n, NULL, &dec, &dl) == VLM_OK && dl == n && !memcmp(dec, str, n);
        CHECK_MSG(rt, "string %zu does not round-trip", i);
        same += eq;
        round += rt;
        free(dec);
    }
    printf("library vs HF: identical ids and offsets on %zu/%zu strings; %zu/%zu decode to themselves\n", same,
           json_array_size(arr), round, json_array_size(arr));
    vlm_tokens_free(&t);
    json_decref(arr);
    json_decref(hf);
    vlm_tokenizer_free(tok);
    return check_done("test_bpe_train --conform");
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "--conform")) return conform(argv[2], argv[3], argv[4]);
    test_hand_worked();
    test_required_and_specials();
    test_determinism_and_incremental();
    test_errors();
    return check_done("test_bpe_train");
}
