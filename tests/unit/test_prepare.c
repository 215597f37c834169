/* test_prepare.c - `videollm prepare`'s conversions (src/train/prepare.c,
 * augment.c) on the hand-made annotation files in tests/data/prepare/,
 * against conversations worked out by hand from the original's rules (the
 * working is in the comments). Every produced conversation must pass the
 * text pipeline in strict mode (vlm_prep_finish runs vlm_prep_check). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/util.h"
#include "train/prepare.h"

#define DIR "tests/data/prepare/"
#define SYS "{\"role\":\"system\",\"content\":\"S\"}"
#define STREAM(n, l) "{\"role\":\"stream\",\"num_frames\":" #n ",\"learn\":" #l "}"
#define A(text, l) "{\"role\":\"assistant\",\"content\":\"" text "\",\"learn\":" #l "}"
#define U(text) "{\"role\":\"user\",\"content\":\"" text "\"}"

static char *slurp(const char *path, size_t *len) {
    char err[256];
    char *s = vlm_read_file(path, len, err, sizeof err);
    if (!s) fprintf(stderr, "%s\n", err);
    return s;
}

static vlm_prep_durations *durations(void) {
    size_t n;
    char *s = slurp(DIR "durations.json", &n), err[256];
    vlm_prep_durations *d = NULL;
    CHECK(s && vlm_prep_durations_parse(s, n, "durations.json", &d, err, sizeof err) == VLM_OK);
    free(s);
    return d;
}

static void expect_conv(const vlm_prep_sample *s, const char *want, int64_t f0, int64_t f1) {
    char *got = vlm_prep_conversation_json(s);
    CHECK_MSG(got && !strcmp(got, want), "\n got  %s\n want %s", got ? got : "(null)", want);
    CHECK_MSG(s->frame_start == f0 && s->frame_end == f1, "frames [%lld, %lld), want [%lld, %lld)",
              (long long)s->frame_start, (long long)s->frame_end, (long long)f0, (long long)f1);
    free(got);
}

static vlm_prep_params params(void) {
    vlm_prep_params p = vlm_prep_default_params();
    p.system_prompt = "S";
    p.features_dir = "feat";
    return p;
}

static void test_helpers(void) {
    /* ceil/floor on the 0.5 s grid, clamped */
    CHECK(vlm_prep_ceil_time(2.1, 2, 0, 10) == 2.5 && vlm_prep_ceil_time(2.5, 2, 0, 10) == 2.5);
    CHECK(vlm_prep_ceil_time(12, 2, 0, 10) == 10 && vlm_prep_ceil_time(-3, 2, 0, 10) == 0);
    CHECK(vlm_prep_floor_time(7.7, 2, 5.5, 20) == 7.5 && vlm_prep_floor_time(5.2, 2, 5.5, 20) == 5.5);
    /* _clean_text: tags out, strip ".,\n ", '.', first word capitalized
     * (rest of it lowercased, as Python's str.capitalize), spaces collapsed */
    static const char *const cases[][2] = {
        {"#C C picks a cup", "C picks a cup."},
        {"#O man X  talks   to C,", "Man X talks to C."},
        {"#Unsure C  does   something ,.", "C does something."},
        {"#c c drinks", "C drinks."},
        {"@c hELLO wORLD", "Hello wORLD."},
        {"#CX runs\tfast\n", "X runs fast."},
        {"\xc3\xa9""COLE  x", "\xc3\x89""cole x."}, /* "éCOLE  x" -> "École x." */
        {"", "."},
        {"#", "."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = vlm_prep_clean_text(cases[i][0], strlen(cases[i][0]));
        CHECK_MSG(c && !strcmp(c, cases[i][1]), "clean '%s' -> '%s', want '%s'", cases[i][0], c, cases[i][1]);
        free(c);
    }
    CHECK(vlm_prep_count_words("C looks.") == 2 && vlm_prep_count_words("Nods.") == 1);
    /* randint stays in range and hits both ends */
    vlm_prep_rng r = vlm_prep_rng_seed(1, 0);
    int lo = 0, hi = 0, bad = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t x = vlm_prep_randint(&r, 3, 7);
        bad |= x < 3 || x > 7;
        lo |= x == 3;
        hi |= x == 7;
    }
    CHECK(!bad && lo && hi);
}

/* narration.json, v1 (21 frames -> duration 10 s), v2 has no duration.
 * After cleaning, "#C nods" -> "Nods." (1 word) is dropped. Sorted by time:
 *  0.3 a1 "C opens the door."  1.2 a1 "C picks a cup."  2.1 a1 "C looks."
 *  2.4 a1 "C waves hand."      3.0 a1 "C waves hand."   4.0 a1 "Man X talks to C."
 *  5.25 a2 "C drinks water."   6.0 a2 "C puts the cup down."
 *  12 a1 "C sits down."        13 a1 "C stands up."
 * Groups: a1 (first at 0.3), a2.
 * a1: start = ceil(0.6)/2 = 0.5, last = 0.
 *   opens: t 0.5, (0.5-0)*2 = 1 frame; picks: t ceil(2.4)/2 = 1.5, 2 frames;
 *   looks: t ceil(4.2)/2 = 2.5, 2 frames; waves (2.4): t 2.5 == last -> replaces
 *   "C looks."; waves (3.0): same text -> skipped; man: t 4, 3 frames;
 *   sits: t min(12, 10) = 10, 12 frames; stands: last 10 >= 10 -> stop.
 *   frames [0.5*2, 10*2 + 1) = [1, 21): 1+2+2+3+12 = 20.
 * a2: start ceil(10.5)/2 = 5.5, last 5: drinks 1 frame, puts t 6, 1 frame;
 *   frames [11, 13).
 * __getitem__: first stream learn false, the raw instruction after it. */
#define RAW "Please concisely narrate the video in real time. Use the tag 'C' to denote the camera wearer, and other " \
            "letter tags, such as 'X', to denote other individuals in the scene."
static void test_narration(void) {
    vlm_prep_durations *d = durations();
    size_t n;
    char *s = slurp(DIR "narration.json", &n), err[512];
    vlm_prep_params p = params();
    vlm_prep_set set = {0};
    CHECK(s && vlm_prep_ego4d_narration(s, n, "narration.json", d, &p, &set, err, sizeof err) == VLM_OK);
    CHECK(set.n == 2 && set.skipped_videos == 1);
    if (set.n == 2) {
        expect_conv(&set.v[0],
                    "[" STREAM(1, true) "," A("C opens the door.", true) "," STREAM(2, true) "," A("C picks a cup.", true)
                    "," STREAM(2, true) "," A("C waves hand.", true) "," STREAM(3, true) "," A("Man X talks to C.", true)
                    "," STREAM(12, true) "," A("C sits down.", true) "]",
                    1, 21);
        CHECK(set.v[0].features && !strcmp(set.v[0].features, "feat/v1.safetensors"));
        expect_conv(&set.v[1],
                    "[" STREAM(1, true) "," A("C drinks water.", true) "," STREAM(1, true) ","
                    A("C puts the cup down.", true) "]",
                    11, 13);
    }
    CHECK(vlm_prep_finish(&set, VLM_PREP_NARRATION, &p, false, VLM_LIVE_V1PLUS, err, sizeof err) == VLM_OK);
    if (set.n == 2) {
        expect_conv(&set.v[1],
                    "[" SYS "," STREAM(1, false) "," U(RAW) "," A("C drinks water.", true) "," STREAM(1, true) ","
                    A("C puts the cup down.", true) "]",
                    11, 13);
        char *line = vlm_prep_sample_line(&set.v[1]);
        CHECK(line && strstr(line, "\"features\":\"feat/v1.safetensors\",\"frames\":[11,13]}"));
        free(line);
    }
    vlm_prep_set_free(&set);

    /* max_frames_clip at 5 (after the instruction went in after the first
     * 1-frame stream, whose reply follows the instruction): cumulative
     * frames 1, 3, 5, then 8 > 5 -> the 3-frame stream and all after it go;
     * frames [1, 1 + 5). */
    p.max_frames = 5;
    CHECK(vlm_prep_ego4d_narration(s, n, "narration.json", d, &p, &set, err, sizeof err) == VLM_OK);
    CHECK(vlm_prep_finish(&set, VLM_PREP_NARRATION, &p, false, VLM_LIVE_V1PLUS, err, sizeof err) == VLM_OK);
    if (set.n == 2)
        expect_conv(&set.v[0],
                    "[" SYS "," STREAM(1, false) "," U(RAW) "," A("C opens the door.", true) "," STREAM(2, true) ","
                    A("C picks a cup.", true) "," STREAM(2, true) "," A("C waves hand.", true) "]",
                    1, 6);
    vlm_prep_set_free(&set);
    free(s);

    /* The published narration.json shape (narration_pass_1/2, timestamp_sec,
     * narration_text); v9 has 11 frames -> 5 s. Sorted: 0.4 p2 "C walks.",
     * 1.0 p1 "C runs.", 2.2 p1 "C stops." Groups p2, p1.
     * p2: start ceil(0.8)/2 = 0.5, 1 frame, frames [1, 2).
     * p1: start 1.0, last 0.5: runs 1 frame; stops t ceil(4.4)/2 = 2.5, 3 frames; [2, 6). */
    p.max_frames = 1200;
    s = slurp(DIR "narration_passes.json", &n);
    CHECK(s && vlm_prep_ego4d_narration(s, n, "narration_passes.json", d, &p, &set, err, sizeof err) == VLM_OK);
    CHECK(set.n == 2);
    if (set.n == 2) {
        expect_conv(&set.v[0], "[" STREAM(1, true) "," A("C walks.", true) "]", 1, 2);
        expect_conv(&set.v[1], "[" STREAM(1, true) "," A("C runs.", true) "," STREAM(3, true) "," A("C stops.", true) "]",
                    2, 6);
    }
    CHECK(vlm_prep_finish(&set, VLM_PREP_NARRATION, &p, false, VLM_LIVE_V1, err, sizeof err) == VLM_OK);
    vlm_prep_set_free(&set);
    free(s);

    /* Refined shape: texts as stored (no cleaning, "hi" kept).
     * start 0.5: open 1 frame; pick t 1.5, 2 frames; hi t 2.0, 1 frame; [1, 5).
     * The instruction is one of the 10, the same for the same seed. */
    p.refined = true;
    s = slurp(DIR "narration_refined.json", &n);
    const char *picked[2] = {NULL, NULL};
    for (int run = 0; run < 2; run++) {
        CHECK(s && vlm_prep_ego4d_narration(s, n, "narration_refined.json", d, &p, &set, err, sizeof err) == VLM_OK);
        CHECK(set.n == 1);
        if (set.n == 1)
            expect_conv(&set.v[0],
                        "[" STREAM(1, true) "," A("You open the door.", true) "," STREAM(2, true) ","
                        A("You pick a cup.", true) "," STREAM(1, true) "," A("hi", true) "]",
                        1, 5);
        CHECK(vlm_prep_finish(&set, VLM_PREP_NARRATION, &p, false, VLM_LIVE_V1PLUS, err, sizeof err) == VLM_OK);
        if (set.n == 1 && set.v[0].n > 2) {
            for (int k = 0; k < 10; k++)
                if (!strcmp(set.v[0].msgs[2].content, vlm_live_refined_instructions[k])) picked[run] = vlm_live_refined_instructions[k];
            CHECK(set.v[0].msgs[1].learn_kind == VLM_PREP_LEARN_BOOL && set.v[0].msgs[1].learn == 0);
        }
        vlm_prep_set_free(&set);
    }
    CHECK(picked[0] && picked[0] == picked[1]);
    /* the 10 instructions over many samples: all of them come up */
    {
        vlm_prep_rng r = vlm_prep_rng_seed(42, 2);
        int seen[10] = {0}, all = 1;
        for (int i = 0; i < 500; i++) seen[vlm_prep_randint(&r, 0, 9)] = 1;
        for (int i = 0; i < 10; i++) all &= seen[i];
        CHECK(all);
    }
    free(s);
    vlm_prep_durations_free(d);
}

/* livechat.json, g1 has 41 frames -> duration 20 s. waiting = randint(0,
 * min(20, floor-grid first time * 2)) from rng stream 1, drawn only for the
 * annotations that pass the first-message rule, in file order.
 * [0] user 3.2 -> fps_time floor(6.4)/2 = 3.0, w0 = randint(0, 6).
 *     "Cut onion." 3.2 == user time -> appended (learn) after the user;
 *     "Dice it." 3.2 == time after an assistant -> replaces "Cut onion.";
 *     "Stir." 5.1 -> ceil(10.2)/2 = 5.5 > 3.0: stream (5.5-3)*2 = 5, assistant;
 *     "Stir more." 5.3 -> ceil 5.5, not past 5.5: dropped;
 *     "Next?" 7.7 -> floor(15.4)/2 = 7.5: stream 4, user;
 *     "Add salt." 7.8 -> ceil(15.6)/2 = 8.0: stream 1, assistant;
 *     "Ok" 7.8 == last time and a user message: stop.
 *     frames [int((3 - (w-1)/2)*2), 8*2 + 1) = [7 - w, 17): w + 5 + 4 + 1.
 * [1] first message not a user message, [2] time 0, [3] time 25 > 20: dropped.
 * [4] gX has no duration: skipped.
 * [5] user 10.0 -> 10.0, w5 = randint(0, 20); "B." 11 -> stream 2; "C." 10.5
 *     goes back in time: stop. frames [21 - w, 23).
 * [6] user "Go" 19 -> 19.0, w6 = randint(0, 20); "Again" 19.2 -> floor 19.0,
 *     not past 19: the user message comes without a stream; "Done." 20 ->
 *     stream 2; "Late." 20.5 > 20: stop. frames [39 - w, 41).
 * [7] empty conversation: dropped. */
static void append_wait(char *buf, size_t n, int64_t w) {
    if (w) snprintf(buf + strlen(buf), n - strlen(buf), "{\"role\":\"stream\",\"num_frames\":%lld,\"learn\":%lld},",
                    (long long)w, (long long)(w - 1));
}

static void test_livechat(void) {
    vlm_prep_durations *d = durations();
    size_t n;
    char *s = slurp(DIR "livechat.json", &n), err[512], want[2048];
    vlm_prep_params p = params();
    vlm_prep_set set = {0};
    CHECK(s && vlm_prep_goalstep_livechat(s, n, "livechat.json", d, &p, &set, err, sizeof err) == VLM_OK);
    CHECK(set.n == 3 && set.skipped_videos == 1 && set.dropped_samples == 4);
    vlm_prep_rng r = vlm_prep_rng_seed(42, 1);
    int64_t w0 = vlm_prep_randint(&r, 0, 6), w5 = vlm_prep_randint(&r, 0, 20), w6 = vlm_prep_randint(&r, 0, 20);
    if (set.n == 3) {
        snprintf(want, sizeof want, "[");
        append_wait(want, sizeof want, w0);
        strcat(want, U("What now?") "," A("Dice it.", true) "," STREAM(5, true) "," A("Stir.", true) "," STREAM(4, true)
                     "," U("Next?") "," STREAM(1, true) "," A("Add salt.", true) "]");
        expect_conv(&set.v[0], want, 7 - w0, 17);
        snprintf(want, sizeof want, "[");
        append_wait(want, sizeof want, w5);
        strcat(want, U("A?") "," STREAM(2, true) "," A("B.", true) "]");
        expect_conv(&set.v[1], want, 21 - w5, 23);
        snprintf(want, sizeof want, "[");
        append_wait(want, sizeof want, w6);
        strcat(want, U("Go") "," U("Again") "," STREAM(2, true) "," A("Done.", true) "]");
        expect_conv(&set.v[2], want, 39 - w6, 41);
    }
    CHECK(vlm_prep_finish(&set, VLM_PREP_LIVECHAT, &p, false, VLM_LIVE_V1PLUS, err, sizeof err) == VLM_OK);
    CHECK(set.n == 3 && set.v[0].msgs[0].role == VLM_ROLE_SYSTEM);
    vlm_prep_set_free(&set);

    /* many seeds: the waiting frames cover 0..6 for [0], all samples stay valid */
    int seen[7] = {0};
    for (uint64_t seed = 0; seed < 60; seed++) {
        p.seed = seed;
        vlm_status st = vlm_prep_goalstep_livechat(s, n, "livechat.json", d, &p, &set, err, sizeof err);
        if (!st) st = vlm_prep_finish(&set, VLM_PREP_LIVECHAT, &p, seed & 1, VLM_LIVE_V1PLUS, err, sizeof err);
        CHECK_MSG(st == VLM_OK, "seed %llu: %s", (unsigned long long)seed, err);
        if (set.n == 3) {
            int64_t f = set.v[0].frame_end - set.v[0].frame_start - 10;
            if (f >= 0 && f <= 6) seen[f] = 1;
        }
        vlm_prep_set_free(&set);
    }
    int all = 1;
    for (int i = 0; i < 7; i++) all &= seen[i];
    CHECK(all);
    free(s);
    vlm_prep_durations_free(d);
}

/* A sample from a JSON conversation (the test's own small parser). */
static void sample_from(vlm_prep_sample *s, const vlm_prep_msg *m, size_t n) {
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < n; i++) CHECK(vlm_prep_push(s, m[i].role, m[i].content, m[i].num_frames, m[i].learn_kind, m[i].learn) == VLM_OK);
    s->frame_end = vlm_prep_stream_frames(s);
}

#define MS(n, lk, l) {.role = VLM_ROLE_STREAM, .num_frames = n, .learn_kind = lk, .learn = l}
#define MA(t) {.role = VLM_ROLE_ASSISTANT, .content = t, .learn_kind = VLM_PREP_LEARN_BOOL, .learn = 1}
#define MU(t) {.role = VLM_ROLE_USER, .content = t}
#define SORRY "(Sorry, the last response is wrong) "

/* Runs augment with every seed in [0, 400); for each, replays the three draws
 * (turn, fake, branch) with the same generator and compares with the
 * hand-worked result for that combination. Returns the combinations seen. */
typedef struct {
    size_t turn;        /* index of the chosen turn among the learned assistants */
    int fake;           /* index into the fakes list (last = None) */
    int fix;
    const char *expect; /* conversation JSON, NULL = unchanged */
} aug_case;

static void run_aug(const vlm_prep_msg *m, size_t n, size_t n_assist, const char *const *fakes, size_t n_fakes,
                    const aug_case *cases, size_t n_cases, const char *unchanged) {
    int *hit = calloc(n_cases, sizeof *hit);
    char err[512];
    for (uint64_t seed = 0; seed < 400; seed++) {
        vlm_prep_sample s;
        sample_from(&s, m, n);
        vlm_prep_rng r = vlm_prep_rng_seed(seed, 3), r2 = r;
        size_t turn = (size_t)vlm_prep_randint(&r2, 0, (int64_t)n_assist - 2);
        if (turn != 0) {
            vlm_prep_sample_free(&s);
            continue; /* the cases below are for the first turn */
        }
        int fake = (int)vlm_prep_randint(&r2, 0, (int64_t)n_fakes - 1);
        int fix = (int)(vlm_prep_rng_next(&r2) >> 63);
        CHECK(vlm_prep_augment(&s, &r, err, sizeof err) == VLM_OK);
        for (size_t c = 0; c < n_cases; c++)
            if (cases[c].fake == fake && cases[c].fix == fix) {
                hit[c] = 1;
                char *got = vlm_prep_conversation_json(&s);
                const char *want = cases[c].expect ? cases[c].expect : unchanged;
                CHECK_MSG(got && !strcmp(got, want), "fake '%s' fix %d\n got  %s\n want %s",
                          fakes[fake] ? fakes[fake] : "None", fix, got, want);
                free(got);
            }
        /* every augmented conversation is valid for the text pipeline */
        CHECK(vlm_prep_add_system(&s, "S") == VLM_OK);
        CHECK_MSG(vlm_prep_check(&s, VLM_LIVE_V1PLUS, err, sizeof err) == VLM_OK, "%s", err);
        vlm_prep_sample_free(&s);
    }
    for (size_t c = 0; c < n_cases; c++) CHECK_MSG(hit[c], "case %zu never drawn", c);
    free(hit);
}

static void test_augment(void) {
    /* narration-like: [stream1 F, user, stream2, A x., stream3, A y., stream2, A z.]
     * learned turns x., y., z.; the first turn (x.) chosen; fakes y., z., '', None.
     * fix + fake y. (next stream 3 > 1): fake unlearned, 1 frame, the sorry
     *   reply, the other 2 frames.
     * fix + None (prev and next are streams, next 3 > 1): prev stream 2 + 1
     *   frames with learn 2 - 1 = 1, x., next stream 3 - 1.
     * no fix + '': fake unlearned, next stream unlearned.
     * no fix + None: prev and next streams merged, 2 + 3 frames, learn 1. */
    vlm_prep_msg m[] = {MS(1, VLM_PREP_LEARN_BOOL, 0), MU("Go"), MS(2, VLM_PREP_LEARN_BOOL, 1), MA("x."),
                        MS(3, VLM_PREP_LEARN_BOOL, 1), MA("y."), MS(2, VLM_PREP_LEARN_BOOL, 1), MA("z.")};
    const char *fakes[] = {"y.", "z.", "", NULL};
#define HEAD STREAM(1, false) "," U("Go") ","
#define TAIL A("y.", true) "," STREAM(2, true) "," A("z.", true) "]"
    const aug_case cases[] = {
        {0, 0, 1, "[" HEAD STREAM(2, true) "," A("y.", false) "," STREAM(1, true) "," A(SORRY "x.", true) ","
                  STREAM(2, true) "," TAIL},
        {0, 3, 1, "[" HEAD STREAM(3, 1) "," A("x.", true) "," STREAM(2, true) "," TAIL},
        {0, 2, 0, "[" HEAD STREAM(2, true) "," A("", false) "," STREAM(3, false) "," TAIL},
        {0, 3, 0, "[" HEAD STREAM(5, 1) "," TAIL},
    };
    run_aug(m, 8, 3, fakes, 4, cases, 4, NULL);

    /* livechat-like: an assistant turn right after the user (equal time):
     * [user Q, A a., stream2, A b.]; turn a. chosen; fakes b., '', None.
     * fix + b.: case 1 (next stream 2 > 1).  fix + None: the previous
     * message is not a stream -> unchanged.  no fix + None: the previous
     * message is not a stream, the next is: it becomes unlearned. */
    vlm_prep_msg m2[] = {MU("Q"), MA("a."), MS(2, VLM_PREP_LEARN_BOOL, 1), MA("b.")};
    const char *fakes2[] = {"b.", "", NULL};
    const char *same = "[" U("Q") "," A("a.", true) "," STREAM(2, true) "," A("b.", true) "]";
    const aug_case cases2[] = {
        {0, 0, 1, "[" U("Q") "," A("b.", false) "," STREAM(1, true) "," A(SORRY "a.", true) "," STREAM(1, true) ","
                  A("b.", true) "]"},
        {0, 2, 1, NULL},
        {0, 2, 0, "[" U("Q") "," STREAM(2, false) "," A("b.", true) "]"},
        {0, 1, 0, "[" U("Q") "," A("", false) "," STREAM(2, false) "," A("b.", true) "]"},
    };
    run_aug(m2, 4, 2, fakes2, 3, cases2, 4, same);

    /* fewer than 2 learned assistant turns: unchanged, no draw */
    vlm_prep_sample s;
    sample_from(&s, m2, 2);
    vlm_prep_rng r = vlm_prep_rng_seed(1, 3), r0 = r;
    char err[256];
    CHECK(vlm_prep_augment(&s, &r, err, sizeof err) == VLM_OK && s.n == 2 && r.s == r0.s);
    vlm_prep_sample_free(&s);
}

/* The five robustness samples, texts as the original's. */
static void test_robustness(void) {
    vlm_prep_set set = {0};
    char err[512];
    vlm_prep_params p = params();
    CHECK(vlm_prep_robustness("n.safetensors", "z.safetensors", &set, err, sizeof err) == VLM_OK && set.n == 5);
    CHECK(vlm_prep_finish(&set, VLM_PREP_ROBUSTNESS, &p, true, VLM_LIVE_V1PLUS, err, sizeof err) == VLM_OK);
    if (set.n == 5) {
        expect_conv(&set.v[0], "[" SYS "," U("Please help me to narrate the video in real time.") ","
                    A("Sure! Please provide me the video stream, and I will help you.", true) "]", 0, 0);
        expect_conv(&set.v[1], "[" SYS "," U("Concisely output what you have seen.") ","
                    A("Sure! Please provide me the video inputs.", true) "]", 0, 0);
        expect_conv(&set.v[2], "[" SYS "," U("...") "," A("Hi! How can I help you?", true) "]", 0, 0);
        expect_conv(&set.v[3], "[" SYS "," STREAM(10, false) ",{\"role\":\"user\",\"content\":\"What is happening now?\","
                    "\"learn\":false}," A("Sorry, it seems the input video frames are noise. Could you have a check?", true)
                    "]", 0, 10);
        CHECK(!strcmp(set.v[3].features, "n.safetensors"));
        expect_conv(&set.v[4], "[" SYS "," STREAM(1, false) ",{\"role\":\"user\",\"content\":\"What is the next step?\","
                    "\"learn\":false}," A("Sorry, I cannot see anything in the input video frame. Could you check it?", true)
                    "]", 0, 1);
        CHECK(!strcmp(set.v[4].features, "z.safetensors"));
    }
    vlm_prep_set_free(&set);
}

/* Malformed files: VLM_ERR_FORMAT and a message naming the file and the
 * JSON path. */
static void expect_err(vlm_status st, const char *err, const char *part) {
    CHECK_MSG(st == VLM_ERR_FORMAT && strstr(err, part), "status %d, '%s' should hold '%s'", st, err, part);
}

static void test_malformed(void) {
    char err[512];
    vlm_prep_durations *d = NULL;
    const char *bad_d[][2] = {
        {"[1]", "dur.json: $: expected an object"},
        {"{\"v1\": -3}", "dur.json: $[\"v1\"]: expected the number"},
        {"{\"v1\": 2.5}", "dur.json: $[\"v1\"]"},
        {"{\"v1\": 3, \"v1\": 4}", "dur.json: line 1"},
        {"{\"v1\": ", "dur.json: line 1"},
    };
    for (size_t i = 0; i < sizeof bad_d / sizeof bad_d[0]; i++) {
        expect_err(vlm_prep_durations_parse(bad_d[i][0], strlen(bad_d[i][0]), "dur.json", &d, err, sizeof err), err,
                   bad_d[i][1]);
        CHECK(d == NULL);
    }
    d = durations();
    vlm_prep_params p = params();
    vlm_prep_set set = {0};
    const char *bad_n[][2] = {
        {"[]", "n.json: $: expected an object"},
        {"{\"videos\": {\"v1\": 3}}", "n.json: $.videos[\"v1\"]: expected an object"},
        {"{\"videos\": {\"v1\": {\"narrations\": 1}}}", "n.json: $.videos[\"v1\"].narrations: expected an array"},
        {"{\"videos\": {\"v1\": {\"narrations\": [{\"time\": \"1\", \"text\": \"C a\", \"_annotation_uid\": \"a\"}]}}}",
         "n.json: $.videos[\"v1\"].narrations[0].time: expected a number"},
        {"{\"videos\": {\"v1\": {\"narrations\": [{\"time\": 1, \"text\": 5, \"_annotation_uid\": \"a\"}]}}}",
         "n.json: $.videos[\"v1\"].narrations[0].text: expected a string"},
        {"{\"videos\": {\"v1\": {\"narrations\": [{\"time\": 1, \"text\": \"C a\"}]}}}",
         "n.json: $.videos[\"v1\"].narrations[0]._annotation_uid"},
        {"{\"videos\": {\"v1\": {\"narrations\": [{\"time\": 1e300, \"text\": \"C a\", \"_annotation_uid\": \"a\"}]}}}",
         "narrations[0].time: time 1e+300 is out of range"},
        {"{\"v1\": {\"narration_pass_1\": {\"narrations\": [{\"timestamp_sec\": 1, \"narration_text\": null, "
         "\"_annotation_uid\": \"a\"}]}}}",
         "n.json: $[\"v1\"].narration_pass_1.narrations[0].narration_text: expected a string"},
        {"{\"videos\": {\"v1\": {\"narrations\": [,]}}}", "n.json: line 1 column"},
    };
    for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++) {
        expect_err(vlm_prep_ego4d_narration(bad_n[i][0], strlen(bad_n[i][0]), "n.json", d, &p, &set, err, sizeof err),
                   err, bad_n[i][1]);
        vlm_prep_set_free(&set);
    }
    /* refined: a group not sorted by time is refused (the original would
     * build a stream with a negative frame count) */
    p.refined = true;
    const char *unsorted = "{\"v1\": {\"a\": [{\"time\": 3, \"text\": \"x\"}, {\"time\": 1, \"text\": \"y\"}]}}";
    expect_err(vlm_prep_ego4d_narration(unsorted, strlen(unsorted), "r.json", d, &p, &set, err, sizeof err), err,
               "r.json: $[\"v1\"][\"a\"]: narration 1 goes back in time");
    vlm_prep_set_free(&set);
    p.refined = false;
    const char *bad_l[][2] = {
        {"{}", "l.json: $: expected an array"},
        {"[3]", "l.json: $[0]: expected an object"},
        {"[{\"conversation\": []}]", "l.json: $[0].video_uid: expected a string"},
        {"[{\"video_uid\": \"g1\", \"conversation\": {}}]", "l.json: $[0].conversation: expected an array"},
        {"[{\"video_uid\": \"g1\", \"conversation\": [{\"role\": \"user\", \"time\": 1}]}]",
         "l.json: $[0].conversation[0].content: expected a string"},
        {"[{\"video_uid\": \"g1\", \"conversation\": [{\"role\": \"user\", \"content\": \"q\", \"time\": 1}, "
         "{\"role\": 7, \"content\": \"a\", \"time\": 2}]}]",
         "l.json: $[0].conversation[1].role: expected a string"},
        {"[{\"video_uid\": \"g1\", \"conversation\": [{\"role\": \"user\", \"content\": \"q\", \"time\": null}]}]",
         "l.json: $[0].conversation[0].time: expected a number"},
    };
    for (size_t i = 0; i < sizeof bad_l / sizeof bad_l[0]; i++) {
        expect_err(vlm_prep_goalstep_livechat(bad_l[i][0], strlen(bad_l[i][0]), "l.json", d, &p, &set, err, sizeof err),
                   err, bad_l[i][1]);
        vlm_prep_set_free(&set);
    }
    vlm_prep_durations_free(d);
}

int main(void) {
    test_helpers();
    test_narration();
    test_livechat();
    test_augment();
    test_robustness();
    test_malformed();
    return check_done("test_prepare");
}
