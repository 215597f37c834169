/* test_template.c - the live chat template, learn ranges, labels and batch
 * collation.
 *
 * Without arguments: unit tests whose expected values are worked by hand from
 * the description of the original (VideoLLM-online's template, transition
 * table, get_learn_ranges and data_collator) and from Jinja2 runs of the
 * original template (edge cases).
 * With arguments it is the in-process driver of the conformance scripts:
 *   test_template --jinja CONVS_JSONL EXPECTED_JSONL [--bos S] [--eos S]
 *       render every conversation like tests/ref/render_jinja.py (2 versions x
 *       16 flag combinations, then strict for flags 0 and 15) and compare
 *       byte for byte with the Jinja2 results (and errors with errors).
 *   test_template --collate TOKENIZER_JSON CONVS_JSONL N BATCH_JSON [--live-version v]
 *       build samples for the first N labelable lines, collate them, and
 *       compare with the reference batch of tests/ref/labels_ref.py --batch. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/util.h"
#include "videollm.h"

/* ------------------------------------------------------------------------- */
/* helpers                                                                    */
/* ------------------------------------------------------------------------- */
typedef struct {
    vlm_conversation *c;
    const vlm_message *m;
    size_t n;
} conv;

static conv parse(const char *json) {
    conv r = {0};
    char err[256];
    vlm_status st = vlm_conversation_parse(json, strlen(json), &r.c, err, sizeof err);
    if (st != VLM_OK) fprintf(stderr, "parse failed: %s\n  in %s\n", err, json);
    r.m = vlm_conversation_messages(r.c);
    r.n = vlm_conversation_size(r.c);
    return r;
}

/* Render json with p; returns malloc'd text or NULL (error text into err). */
static char *render(const char *json, const vlm_template_params *p, size_t *len, char *err, size_t err_size) {
    conv c = parse(json);
    char *out = NULL;
    size_t l = 0;
    err[0] = 0;
    if (c.c) vlm_template_render(c.m, c.n, p, &out, &l, err, err_size);
    vlm_conversation_free(c.c);
    if (len) *len = l;
    return out;
}

static int render_is(const char *json, const vlm_template_params *p, const char *want, size_t want_len) {
    char err[256];
    size_t len;
    char *got = render(json, p, &len, err, sizeof err);
    int ok = got && len == want_len && memcmp(got, want, len) == 0;
    if (!ok) fprintf(stderr, "render %s\n  got  %s (len %zu) %s\n  want %s\n", json, got ? got : "(error)", len, err, want);
    free(got);
    return ok;
}
#define RENDER_IS(json, p, want) CHECK(render_is(json, p, want, sizeof(want) - 1))

static int render_fails(const char *json, const vlm_template_params *p, const char *must_contain) {
    char err[256];
    char *got = render(json, p, NULL, err, sizeof err);
    int ok = !got && strstr(err, must_contain) != NULL;
    if (!ok) fprintf(stderr, "render %s: expected an error containing '%s', got %s / '%s'\n", json, must_contain,
                     got ? got : "(none)", err);
    free(got);
    return ok;
}

/* Learn ranges of json; returns count or -1 on error (err filled). */
static long ranges_of(const char *json, const vlm_template_params *p, int64_t **r, char *err, size_t err_size) {
    conv c = parse(json);
    size_t n = 0;
    *r = NULL;
    err[0] = 0;
    vlm_status st = c.c ? vlm_learn_ranges(c.m, c.n, p, r, &n, err, err_size) : VLM_ERR_FORMAT;
    vlm_conversation_free(c.c);
    return st == VLM_OK ? (long)n : -1;
}

static int ranges_are(const char *json, const vlm_template_params *p, const int64_t *want, long n_want) {
    int64_t *r;
    char err[256];
    long n = ranges_of(json, p, &r, err, sizeof err);
    int ok = n == n_want;
    for (long k = 0; ok && k < n; k++) ok = r[2 * k] == want[2 * k] && r[2 * k + 1] == want[2 * k + 1];
    if (!ok) {
        fprintf(stderr, "ranges of %s: got %ld (%s):", json, n, err);
        for (long k = 0; k < n; k++) fprintf(stderr, " [%lld,%lld)", (long long)r[2 * k], (long long)r[2 * k + 1]);
        fprintf(stderr, "\n");
    }
    free(r);
    return ok;
}

static int ranges_fail(const char *json, const vlm_template_params *p, const char *must_contain) {
    int64_t *r;
    char err[256];
    long n = ranges_of(json, p, &r, err, sizeof err);
    free(r);
    int ok = n < 0 && strstr(err, must_contain) != NULL;
    if (!ok) fprintf(stderr, "ranges of %s: expected an error containing '%s', got %ld '%s'\n", json, must_contain, n, err);
    return ok;
}

#define F10 "<v><v><v><v><v><v><v><v><v><v>"

/* The original's self-test conversation (spec 2.7 A). */
static const char *EXAMPLE_A =
    "[{\"role\":\"system\",\"content\":\"cool.\"},"
    "{\"role\":\"stream\",\"num_frames\":2,\"learn\":1},"
    "{\"role\":\"user\",\"content\":\"cool?\"},"
    "{\"role\":\"assistant\",\"content\":\"cool.\",\"learn\":true},"
    "{\"role\":\"stream\",\"num_frames\":3,\"learn\":3},"
    "{\"role\":\"assistant\",\"content\":\"so cool.\",\"learn\":true}]";

/* ------------------------------------------------------------------------- */
/* unit tests                                                                 */
/* ------------------------------------------------------------------------- */
static void test_example_a(void) {
    vlm_template_params p = vlm_template_default_params();
    static const char want[] = "<|begin_of_text|>cool.\n\n[" F10 "," F10 "]\nUser: cool?\nAssistant: cool.<|eot_id|>\n["
                               F10 "," F10 "," F10 "]\nAssistant: so cool.<|eot_id|>";
    CHECK(sizeof want - 1 == 251);
    RENDER_IS(EXAMPLE_A, &p, want);
    static const int64_t r[] = {55, 56, 100, 126, 158, 159, 189, 190, 220, 222, 222, 251};
    CHECK(ranges_are(EXAMPLE_A, &p, r, 6));
    /* what the ranges cover */
    CHECK(memcmp(want + 55, ",", 1) == 0);
    CHECK(memcmp(want + 100, "Assistant: cool.<|eot_id|>", 26) == 0);
    CHECK(memcmp(want + 158, ",", 1) == 0 && memcmp(want + 189, ",", 1) == 0);
    CHECK(memcmp(want + 220, "]\n", 2) == 0);
    CHECK(memcmp(want + 222, "Assistant: so cool.<|eot_id|>", 29) == 0);
    /* strict accepts it */
    p.strict = true;
    RENDER_IS(EXAMPLE_A, &p, want);
}

static void test_example_b(void) {
    const char *json = "[{\"role\":\"system\",\"content\":\"SYS\"},{\"role\":\"stream\",\"num_frames\":1},"
                       "{\"role\":\"user\",\"content\":\"Narrate.\"},"
                       "{\"role\":\"assistant\",\"content\":\"You stir.\",\"learn\":true},"
                       "{\"role\":\"stream\",\"num_frames\":2,\"learn\":true},"
                       "{\"role\":\"assistant\",\"content\":\"You cut.\",\"learn\":true}]";
    vlm_template_params p = vlm_template_default_params();
    static const char want[] = "<|begin_of_text|>SYS\n\n[" F10 "]\nUser: Narrate.\nAssistant: You stir.<|eot_id|>\n["
                               F10 "," F10 "]\nAssistant: You cut.<|eot_id|>";
    RENDER_IS(json, &p, want);
    int64_t *r;
    char err[256];
    long n = ranges_of(json, &p, &r, err, sizeof err);
    CHECK(n == 4);
    if (n == 4) {
        const char *covers[] = {"Assistant: You stir.<|eot_id|>", ",", "]\n", "Assistant: You cut.<|eot_id|>"};
        for (int k = 0; k < 4; k++) {
            size_t l = strlen(covers[k]); /* ASCII text: code points == bytes */
            CHECK((size_t)(r[2 * k + 1] - r[2 * k]) == l && memcmp(want + r[2 * k], covers[k], l) == 0);
        }
    }
    free(r);
}

static void test_template_edges(void) {
    vlm_template_params p = vlm_template_default_params();
    /* non-objects, unknown/missing roles, systems later and empty streams render nothing */
    RENDER_IS("[{}]", &p, "");
    RENDER_IS("[1, null, \"user\", [], {\"role\":\"tool\",\"content\":\"x\"}, {\"content\":\"x\"}]", &p, "");
    RENDER_IS("[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"system\",\"content\":5}]", &p, "\nUser: a");
    RENDER_IS("[{\"role\":\"system\",\"content\":\"a\"},{\"role\":\"system\",\"content\":\"b\"}]", &p,
              "<|begin_of_text|>a\n");
    RENDER_IS("[{\"role\":[\"user\"],\"content\":5},{\"role\":\"user\\u0000\",\"content\":5}]", &p, "");
    RENDER_IS("[{\"role\":\"stream\",\"num_frames\":0},{\"role\":\"stream\",\"num_frames\":-1},"
              "{\"role\":\"stream\",\"num_frames\":false},{\"role\":\"stream\",\"num_frames\":-2.5},"
              "{\"role\":\"stream\",\"num_frames\":0.0}]", &p, "");
    RENDER_IS("[{\"role\":\"stream\",\"num_frames\":true,\"content\":5}]", &p, "\n[" F10 "]");
    /* duplicate keys: the last one wins, as in Python */
    RENDER_IS("[{\"role\":\"x\",\"role\":\"user\",\"content\":\"a\"}]", &p, "\nUser: a");
    /* NUL and "<v>" inside content are plain text */
    RENDER_IS("[{\"role\":\"system\",\"content\":\"a\\u0000<v>\"}]", &p, "<|begin_of_text|>a\0<v>\n");
    /* trailing prompts, in priority order */
    p.add_stream_generation_prompt = true;
    RENDER_IS("[{}]", &p, "]\nAssistant:");
    p.add_stream_prompt = true;
    RENDER_IS("[{}]", &p, "\n[");
    p.add_generation_prompt = true;
    RENDER_IS("[{}]", &p, "\nAssistant:");
    p = vlm_template_default_params();
    p.add_stream_query_prompt = true;
    RENDER_IS("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"stream\",\"num_frames\":1},"
              "{\"role\":\"user\",\"content\":\"q\"}]", &p, "<|begin_of_text|>S\n\n[" F10 "]]\nUser: q");
    /* live1 and custom bos/eos */
    p = vlm_template_default_params();
    p.live_version = VLM_LIVE_V1;
    p.bos_token = "<s>";
    p.eos_token = "</s>";
    RENDER_IS("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"stream\",\"num_frames\":3},"
              "{\"role\":\"assistant\",\"content\":\"a\"}]", &p, "<s>S\n\n[<v><v><v>]\nAssistant: a</s>");

    /* where Jinja raises */
    p = vlm_template_default_params();
    CHECK(render_fails("[]", &p, "empty"));
    CHECK(render_fails("[{\"role\":\"system\"}]", &p, "message 0 (system): content is missing"));
    CHECK(render_fails("[{\"role\":\"system\",\"content\":null}]", &p, "message 0 (system): content is not a string"));
    CHECK(render_fails("[{\"role\":\"x\"},{\"role\":\"user\",\"content\":[1]}]", &p, "message 1 (user): content"));
    CHECK(render_fails("[{\"role\":\"assistant\"}]", &p, "message 0 (assistant): content is missing"));
    CHECK(render_fails("[{\"role\":\"stream\"}]", &p, "message 0 (stream): num_frames is missing"));
    CHECK(render_fails("[{\"role\":\"stream\",\"num_frames\":\"2\"}]", &p, "num_frames is not a number"));
    CHECK(render_fails("[{\"role\":\"stream\",\"num_frames\":null}]", &p, "num_frames is not a number"));
    CHECK(render_fails("[{\"role\":\"stream\",\"num_frames\":2.5}]", &p, "not an integer (2.5)"));
    CHECK(render_fails("[{\"role\":\"stream\",\"num_frames\":2.0}]", &p, "not an integer"));
    CHECK(render_fails("[{\"role\":\"stream\",\"num_frames\":1000001}]", &p, "exceeds the limit"));
    p.max_frames = 4;
    CHECK(render_fails("[{\"role\":\"stream\",\"num_frames\":5}]", &p, "exceeds the limit of 4"));

    /* strict: what the learn-range code rejects */
    p = vlm_template_default_params();
    p.strict = true;
    CHECK(render_fails("[{\"role\":\"user\",\"content\":\"x\"}]", &p, "must start with a system message"));
    CHECK(render_fails("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"stream\",\"num_frames\":1},"
                       "{\"role\":\"stream\",\"num_frames\":1}]", &p, "stream after stream"));
    CHECK(render_fails("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"assistant\",\"content\":\"a\"}]", &p,
                       "assistant after system"));
    CHECK(render_fails("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"a\"},"
                       "{\"role\":\"system\",\"content\":\"b\"}]", &p, "system after user"));
    CHECK(render_fails("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"tool\",\"content\":\"a\"}]", &p,
                       "message 1: role is missing"));
    CHECK(render_fails("[{\"role\":\"system\",\"content\":\"S\"},5]", &p, "message 1 is not a JSON object"));
    CHECK(render_fails("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"stream\",\"num_frames\":0}]", &p,
                       "num_frames is 0"));
    CHECK(render_fails("[{}]", &p, "role is missing"));

    /* conversation JSON errors */
    vlm_conversation *c = NULL;
    char err[256];
    CHECK(vlm_conversation_parse("{\"role\":1}", 10, &c, err, sizeof err) == VLM_ERR_FORMAT && !c &&
          strstr(err, "array"));
    CHECK(vlm_conversation_parse("[1,", 3, &c, err, sizeof err) == VLM_ERR_FORMAT && strstr(err, "line 1"));
    CHECK(vlm_conversation_parse("[{\"content\":\"\\ud800\"}]", 22, &c, err, sizeof err) == VLM_ERR_FORMAT);
}

static void test_learn_ranges(void) {
    vlm_template_params p = vlm_template_default_params();
    /* S + stream of 3 frames: stream body starts at 17 + 1 + 3 = 21; frame k's ',' at 21 + 31k - 1 */
#define S3(learn) "[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"stream\",\"num_frames\":3,\"learn\":" learn "}]"
    static const int64_t all[] = {51, 52, 82, 83, 113, 115};
    CHECK(ranges_are(S3("true"), &p, all, 3));
    CHECK(ranges_are(S3("3"), &p, all, 3));
    CHECK(ranges_are(S3("99"), &p, all, 3));
    CHECK(ranges_are(S3("2"), &p, all, 2));  /* ranges[:2]: no "]\n" */
    CHECK(ranges_are(S3("-1"), &p, all, 2)); /* ranges[:-1] */
    CHECK(ranges_are(S3("-2"), &p, all, 1));
    CHECK(ranges_are(S3("-9"), &p, all, 0));
    CHECK(ranges_are(S3("0"), &p, all, 0));
    CHECK(ranges_are(S3("false"), &p, all, 0));
    CHECK(ranges_are(S3("null"), &p, all, 0));  /* falsy, not int: nothing, no error */
    CHECK(ranges_are(S3("\"\""), &p, all, 0));
    CHECK(ranges_fail(S3("1.5"), &p, "learn must be"));
    CHECK(ranges_fail(S3("\"x\""), &p, "learn must be"));
    /* live1: frames are single <v> with nothing between; ranges cover the next <v>, the last "]\nAs" */
    p.live_version = VLM_LIVE_V1;
    static const int64_t v1[] = {24, 27, 27, 30, 30, 34};
    CHECK(ranges_are(S3("true"), &p, v1, 3));
    p.live_version = VLM_LIVE_V1PLUS;
    /* assistant: any truthy learn; code points, not bytes */
    const char *asst = "[{\"role\":\"system\",\"content\":\"\xc3\xa9\xf0\x9f\x98\x80\"},{\"role\":\"user\",\"content\":\"q\"},"
                       "{\"role\":\"assistant\",\"content\":\"\xe4\xbd\xa0\",\"learn\":\"x\"}]";
    /* 17 + 2 (é😀) + 8 + 1 (q) + 12 = 40 -> [40 - 11, 40 + 1 + 10) */
    static const int64_t a[] = {29, 51};
    CHECK(ranges_are(asst, &p, a, 1));
    /* custom bos/eos lengths enter the offsets */
    p.bos_token = "<s>";
    p.eos_token = "</s>";
    const char *two = "[{\"role\":\"system\",\"content\":\"\"},{\"role\":\"user\",\"content\":\"q\"},"
                      "{\"role\":\"assistant\",\"content\":\"a\",\"learn\":1},{\"role\":\"stream\",\"num_frames\":1,\"learn\":true}]";
    /* 3 + 0 + 8 + 1 + 12 = 24: [13, 29); then + 1 + (4 + 2) = 31 -> frame [31+30, 31+32) */
    static const int64_t b[] = {13, 29, 61, 63};
    CHECK(ranges_are(two, &p, b, 2));
    p = vlm_template_default_params();
    /* rejections */
    CHECK(ranges_fail("[{\"role\":\"user\",\"content\":\"x\"}]", &p, "must start with a system"));
    CHECK(ranges_fail("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"stream\"}]", &p, "num_frames is missing"));
    CHECK(ranges_fail("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"stream\",\"num_frames\":-2}]", &p,
                      "num_frames is -2"));
    CHECK(ranges_fail("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"stream\",\"num_frames\":0,\"learn\":true}]",
                      &p, "num_frames is 0"));
    CHECK(ranges_fail("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"stream\",\"num_frames\":2.0}]", &p,
                      "not an integer"));
    CHECK(ranges_fail("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"assistant\",\"content\":\"a\"}]", &p,
                      "assistant after system"));
    CHECK(ranges_fail("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\"}]", &p, "content is missing"));
    CHECK(ranges_fail("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"a\"},"
                      "{\"role\":\"assistant\",\"content\":\"b\"},{\"role\":\"assistant\",\"content\":\"c\"}]",
                      &p, "assistant after assistant"));
    /* an empty conversation has no ranges (the template is what rejects it) */
    int64_t *r;
    char err[128];
    CHECK(ranges_of("[]", &p, &r, err, sizeof err) == 0);
    free(r);
}

/* Labels on hand-made tokens. Text (code points):
 *   0 B | 1 x | 2 <v> | 5 <v> | 8 , | 9 <v> | 12 ]\n | 14 A | 15 é (two tokens) | 16 z
 * ids: B=1 x=2 <v>=1000 ,=11 ]\n=933 A=7 é=30,31 z=40; v_id 1000, eos 9. */
static void test_labels(void) {
    int32_t ids[] = {1, 2, 1000, 1000, 11, 1000, 933, 7, 30, 31, 40};
    int32_t off[] = {0, 1, 1, 2, 2, 5, 5, 8, 8, 9, 9, 12, 12, 14, 14, 15, 15, 16, 15, 16, 16, 17};
    vlm_tokens t = {ids, off, 11, 11};
    int32_t lab[11];
    char err[256];
    /* [8,9): start = token 4 (','), stop = token 5 -> labels[3] = ids[4] */
    int64_t r1[] = {8, 9, 12, 14};
    CHECK(vlm_labels_from_ranges(&t, r1, 2, 1000, 9, NULL, 0, lab, err, sizeof err) == VLM_OK);
    int32_t want1[] = {-100, -100, -100, 11, -100, 933, -100, -100, -100, -100, -100};
    CHECK(memcmp(lab, want1, sizeof want1) == 0);
    /* a stop past the last token start runs to the end; labels >= v_id become eos */
    int64_t r2[] = {5, 8, 14, 30};
    CHECK(vlm_labels_from_ranges(&t, r2, 2, 1000, 9, NULL, 0, lab, err, sizeof err) == VLM_OK);
    int32_t want2[] = {-100, -100, 9, -100, -100, -100, 7, 30, 31, 40, -100};
    CHECK(memcmp(lab, want2, sizeof want2) == 0);
    /* a stop equal to the last start is looked up exactly */
    int64_t r3[] = {14, 16};
    CHECK(vlm_labels_from_ranges(&t, r3, 1, 1000, 9, NULL, 0, lab, err, sizeof err) == VLM_OK);
    int32_t want3[] = {-100, -100, -100, -100, -100, -100, 7, 30, 31, -100, -100};
    CHECK(memcmp(lab, want3, sizeof want3) == 0);
    /* errors: start inside a token, stop inside a token, a split character, the first token */
    const char *text = "Bx<v><v>,<v>]\nA\xc3\xa9z";
    int64_t bad1[] = {3, 5};
    CHECK(vlm_labels_from_ranges(&t, bad1, 1, 1000, 9, text, strlen(text), lab, err, sizeof err) == VLM_ERR_RANGE &&
          strstr(err, "[3,5)") && strstr(err, "start 3") && strstr(err, "Bx<|v><v>"));
    int64_t bad2[] = {8, 13};
    CHECK(vlm_labels_from_ranges(&t, bad2, 1, 1000, 9, text, strlen(text), lab, err, sizeof err) == VLM_ERR_RANGE &&
          strstr(err, "end 13") && strstr(err, "token 6 covers [12,14)") && strstr(err, "]|\\nA"));
    int64_t bad3[] = {15, 16};
    CHECK(vlm_labels_from_ranges(&t, bad3, 1, 1000, 9, text, strlen(text), lab, err, sizeof err) == VLM_ERR_RANGE &&
          strstr(err, "several tokens"));
    int64_t bad4[] = {0, 1};
    CHECK(vlm_labels_from_ranges(&t, bad4, 1, 1000, 9, NULL, 0, lab, err, sizeof err) == VLM_ERR_RANGE &&
          strstr(err, "first token"));
    vlm_tokens empty = {NULL, NULL, 0, 0};
    CHECK(vlm_labels_from_ranges(&empty, r1, 1, 1000, 9, NULL, 0, NULL, err, sizeof err) == VLM_ERR_RANGE);
    CHECK(vlm_labels_from_ranges(&empty, NULL, 0, 1000, 9, NULL, 0, NULL, err, sizeof err) == VLM_OK);
}

/* Two samples of 3 and 5 tokens, pad (eos) 9, worked by hand. */
static void test_collate(void) {
    int32_t ids_a[] = {1, 2, 3}, lab_a[] = {-100, 3, -100};
    int32_t ids_b[] = {5, 6, 7, 8, 100}, lab_b[] = {6, -100, 8, 9, -100};
    vlm_sample s[2];
    memset(s, 0, sizeof s);
    s[0].toks.ids = ids_a; s[0].toks.n = 3; s[0].labels = lab_a;
    s[1].toks.ids = ids_b; s[1].toks.n = 5; s[1].labels = lab_b;
    int32_t *ids, *mask, *lab;
    size_t T;
    CHECK(vlm_collate(s, 2, 9, &ids, &mask, &lab, &T) == VLM_OK);
    CHECK(T == 5);
    int32_t wi[] = {9, 9, 1, 2, 3, 5, 6, 7, 8, 100};
    int32_t wm[] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    int32_t wl[] = {-100, -100, -100, 3, -100, 6, -100, 8, 9, -100};
    CHECK(T == 5 && !memcmp(ids, wi, sizeof wi) && !memcmp(mask, wm, sizeof wm) && !memcmp(lab, wl, sizeof wl));
    free(ids);
    free(mask);
    free(lab);
    CHECK(vlm_collate(s, 0, 9, &ids, &mask, &lab, &T) == VLM_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------------------- */
/* conformance drivers                                                        */
/* ------------------------------------------------------------------------- */
typedef struct {
    char *buf;
    size_t len, pos;
} lines;

static int next_line(lines *L, const char **s, size_t *n) {
    if (L->pos >= L->len) return 0;
    size_t e = L->pos;
    while (e < L->len && L->buf[e] != '\n') e++;
    *s = L->buf + L->pos;
    *n = e - L->pos;
    L->pos = e + 1;
    return 1;
}

static void show_diff(const char *got, size_t gl, const char *want, size_t wl) {
    size_t i = 0;
    while (i < gl && i < wl && got[i] == want[i]) i++;
    fprintf(stderr, "    first difference at byte %zu (got %zu bytes, want %zu)\n", i, gl, wl);
}

static int run_jinja(int argc, char **argv) {
    vlm_template_params base = vlm_template_default_params();
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bos")) base.bos_token = argv[i + 1];
        else if (!strcmp(argv[i], "--eos")) base.eos_token = argv[i + 1];
        else if (!strcmp(argv[i], "--max-frames")) base.max_frames = atoll(argv[i + 1]);
    }
    char err[512];
    lines cv = {0}, ex = {0};
    if (!(cv.buf = vlm_read_file(argv[2], &cv.len, err, sizeof err)) ||
        !(ex.buf = vlm_read_file(argv[3], &ex.len, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    long n_conv = 0, n_jobs = 0, n_text = 0, n_err = 0, n_bad = 0;
    const char *s;
    size_t sl;
    while (next_line(&cv, &s, &sl)) {
        n_conv++;
        vlm_conversation *c = NULL;
        char perr[512];
        vlm_status pst = vlm_conversation_parse(s, sl, &c, perr, sizeof perr);
        for (int job = 0; job < 36; job++) {
            vlm_template_params p = base;
            int strict = job >= 32, flags = strict ? ((job - 32) % 2 ? 15 : 0) : job % 16;
            p.live_version = (strict ? (job - 32) / 2 : job / 16) ? VLM_LIVE_V1 : VLM_LIVE_V1PLUS;
            p.add_generation_prompt = flags & 1;
            p.add_stream_prompt = flags & 2;
            p.add_stream_query_prompt = flags & 4;
            p.add_stream_generation_prompt = flags & 8;
            p.strict = strict;
            char *out = NULL;
            size_t ol = 0;
            vlm_status st = pst;
            if (st == VLM_OK)
                st = vlm_template_render(vlm_conversation_messages(c), vlm_conversation_size(c), &p, &out, &ol, err,
                                         sizeof err);
            else
                snprintf(err, sizeof err, "%s", perr);
            const char *el;
            size_t ell;
            n_jobs++;
            json_error_t je;
            json_t *e = next_line(&ex, &el, &ell) ? json_loadb(el, ell, JSON_ALLOW_NUL, &je) : NULL;
            json_t *t = json_object_get(e, "t");
            int ok;
            if (!e) {
                ok = 0;
                fprintf(stderr, "line %ld job %d: no expected result\n", n_conv, job);
            } else if (t) {
                ok = st == VLM_OK && json_string_length(t) == ol && memcmp(json_string_value(t), out, ol) == 0;
                n_text += ok;
                if (!ok && n_bad < 10) {
                    fprintf(stderr, "MISMATCH line %ld (version %s, flags %d%s): %s\n", n_conv,
                            p.live_version ? "v1" : "v1plus", flags, strict ? ", strict" : "",
                            st == VLM_OK ? "text differs" : err);
                    if (st == VLM_OK) show_diff(out, ol, json_string_value(t), json_string_length(t));
                }
            } else {
                ok = st != VLM_OK;
                n_err += ok;
                if (!ok && n_bad < 10)
                    fprintf(stderr, "MISMATCH line %ld (version %s, flags %d%s): Jinja raised %s, we rendered %zu bytes\n",
                            n_conv, p.live_version ? "v1" : "v1plus", flags, strict ? ", strict" : "",
                            json_string_value(json_object_get(e, "e")), ol);
            }
            n_bad += !ok;
            json_decref(e);
            free(out);
        }
        vlm_conversation_free(c);
    }
    const char *extra;
    size_t xl;
    if (next_line(&ex, &extra, &xl)) { fprintf(stderr, "expected file has extra lines\n"); n_bad++; }
    printf("template conformance: %ld conversations, %ld renders: %ld identical texts, %ld errors where Jinja "
           "errors, %ld mismatches\n", n_conv, n_jobs, n_text, n_err, n_bad);
    free(cv.buf);
    free(ex.buf);
    return n_bad || n_jobs == 0 ? 1 : 0;
}

static int run_collate(int argc, char **argv) {
    if (argc < 6) return 2;
    vlm_template_params p = vlm_template_default_params();
    if (argc >= 8 && !strcmp(argv[6], "--live-version") && !strcmp(argv[7], "v1")) p.live_version = VLM_LIVE_V1;
    size_t want_n = (size_t)atol(argv[4]);
    char err[1024];
    vlm_tokenizer *tok = NULL;
    if (vlm_tokenizer_load(argv[2], &tok, err, sizeof err) != VLM_OK || vlm_tokenizer_set_eos(tok, p.eos_token) != VLM_OK) {
        fprintf(stderr, "tokenizer: %s\n", tok ? vlm_tokenizer_last_error(tok) : err);
        vlm_tokenizer_free(tok);
        return 1;
    }
    lines cv = {0};
    if (!(cv.buf = vlm_read_file(argv[3], &cv.len, err, sizeof err))) { fprintf(stderr, "%s\n", err); return 1; }
    vlm_sample *s = calloc(want_n ? want_n : 1, sizeof *s);
    size_t n = 0;
    const char *l;
    size_t ll;
    while (s && n < want_n && next_line(&cv, &l, &ll)) {
        size_t k = 0;
        while (k < ll && (l[k] == ' ' || l[k] == '\t' || l[k] == '\r')) k++;
        if (k == ll) continue;
        vlm_conversation *c = NULL;
        if (vlm_conversation_parse(l, ll, &c, err, sizeof err) == VLM_OK &&
            vlm_sample_build(tok, vlm_conversation_messages(c), vlm_conversation_size(c), &p, &s[n], err,
                             sizeof err) == VLM_OK)
            n++;
        vlm_conversation_free(c);
    }
    int32_t *ids = NULL, *mask = NULL, *lab = NULL;
    size_t T = 0;
    int rc = 1;
    json_error_t je;
    json_t *ref = json_load_file(argv[5], 0, &je);
    if (n == want_n && vlm_collate(s, n, vlm_tokenizer_eos_id(tok), &ids, &mask, &lab, &T) == VLM_OK && ref) {
        const char *keys[] = {"input_ids", "attention_mask", "labels"};
        const int32_t *got[] = {ids, mask, lab};
        long diffs = 0;
        for (int k = 0; k < 3; k++) {
            json_t *rows = json_object_get(ref, keys[k]);
            if (json_array_size(rows) != n) { diffs++; continue; }
            for (size_t i = 0; i < n; i++) {
                json_t *row = json_array_get(rows, i);
                if (json_array_size(row) != T) { diffs++; continue; }
                for (size_t j = 0; j < T; j++)
                    if (json_integer_value(json_array_get(row, j)) != got[k][i * T + j]) {
                        if (diffs < 5) fprintf(stderr, "%s[%zu][%zu] differs\n", keys[k], i, j);
                        diffs++;
                    }
            }
        }
        printf("collate conformance: batch of %zu samples, %zu positions each, %ld differences\n", n, T, diffs);
        rc = diffs ? 1 : 0;
    } else {
        fprintf(stderr, "collate: built %zu of %zu samples (%s), reference %s\n", n, want_n, err,
                ref ? "loaded" : je.text);
    }
    json_decref(ref);
    free(ids);
    free(mask);
    free(lab);
    for (size_t i = 0; s && i < n; i++) vlm_sample_free(&s[i]);
    free(s);
    free(cv.buf);
    vlm_tokenizer_free(tok);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "--jinja")) return run_jinja(argc, argv);
    if (argc >= 6 && !strcmp(argv[1], "--collate")) return run_collate(argc, argv);
    if (argc > 1) {
        fprintf(stderr, "usage: test_template [--jinja CONVS EXPECTED [--bos S --eos S] | --collate TOK CONVS N BATCH]\n");
        return 2;
    }
    test_example_a();
    test_example_b();
    test_template_edges();
    test_learn_ranges();
    test_labels();
    test_collate();
    return check_done("test_template");
}
