/* test_score.c - the narration score (src/eval/score.c): the sentence
 * grammar against the world's own event texts, a hand-worked scene that
 * walks through every outcome (on time, late, early, wrong colour / size,
 * wrong action, two events joined in one reply, unparsable sentences, one
 * sentence that could serve two events), the loaders for events.json,
 * stream --json lines and --save histories, and the every-K baseline. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "videollm.h"

static int near(double a, double b) { return fabs(a - b) <= 1e-9; }

static vlm_narr_fact F(const char *s) {
    vlm_narr_fact f;
    if (vlm_narr_parse(s, strlen(s), &f)) {
        fprintf(stderr, "cannot parse \"%s\"\n", s);
        memset(&f, 0, sizeof f);
    }
    return f;
}

static void test_parse(void) {
    vlm_narr_fact f;
    CHECK(vlm_narr_parse("A small red square appears.", 27, &f) == VLM_OK);
    CHECK(f.action == VLM_SYNTH_APPEARS && f.size == 0 && f.colour == VLM_SYNTH_RED && f.shape == VLM_SYNTH_SQUARE &&
          f.detail == -1 && f.other_colour == -1 && f.other_shape == -1);
    const char *s = "  the PURPLE\ttriangle   Moves   up  ";
    CHECK(vlm_narr_parse(s, strlen(s), &f) == VLM_OK);
    CHECK(f.action == VLM_SYNTH_MOVES && f.colour == VLM_SYNTH_PURPLE && f.shape == VLM_SYNTH_TRIANGLE &&
          f.detail == VLM_SYNTH_UP && f.size == -1);
    s = "The white circle turns yellow.";
    CHECK(vlm_narr_parse(s, strlen(s), &f) == VLM_OK && f.action == VLM_SYNTH_TURNS && f.detail == VLM_SYNTH_YELLOW);
    s = "The green square collides with the blue circle.";
    CHECK(vlm_narr_parse(s, strlen(s), &f) == VLM_OK && f.action == VLM_SYNTH_COLLIDES &&
          f.colour == VLM_SYNTH_GREEN && f.other_colour == VLM_SYNTH_BLUE && f.other_shape == VLM_SYNTH_CIRCLE);
    s = "The large blue circle disappears"; /* size only with appears */
    CHECK(vlm_narr_parse(s, strlen(s), &f) == VLM_ERR_FORMAT);
    s = "The blue circle disappears";
    CHECK(vlm_narr_parse(s, strlen(s), &f) == VLM_OK && f.action == VLM_SYNTH_DISAPPEARS);
    const char *bad[] = {"A red square appears.", "The red square collides with blue circle.",
                         "The red square moves north.", "The orange square turns red.", "The red square turns.",
                         "A small red hexagon appears.", "Red square moves left.", "The red square moves left now.",
                         "", "..", "The red square moves left. The blue circle moves up.", "The red squaremoves left",
                         "A small red square appears appears appears appears appears appears appears appears "
                         "appears appears appears appears appears"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(vlm_narr_parse(bad[i], strlen(bad[i]), &f) == VLM_ERR_FORMAT, "\"%s\"", bad[i]);
    /* a NUL inside the text is an ordinary (non-grammar) byte */
    CHECK(vlm_narr_parse("The red\0square moves left", 25, &f) == VLM_ERR_FORMAT);
    /* format -> parse round trip, and the text is the grammar's */
    char buf[128];
    f = F("The red square collides with the white triangle.");
    CHECK(vlm_narr_format(&f, buf, sizeof buf) == VLM_OK && !strcmp(buf, "The red square collides with the white triangle."));
    CHECK(vlm_narr_format(&f, buf, 10) == VLM_ERR_INVALID_ARG);
}

/* Every event text the world writes parses back to the event's own fields. */
static void test_world_texts(void) {
    size_t n_checked = 0, per_action[5] = {0};
    for (uint64_t seed = 1; seed <= 30; seed++) {
        vlm_synth_params p = vlm_synth_default_params();
        p.seed = seed;
        p.seconds = 60;
        vlm_synth_scene *sc = NULL;
        char err[256];
        if (vlm_synth_generate(&p, &sc, err, sizeof err)) { CHECK(0); continue; }
        const vlm_synth_event *ev = vlm_synth_events(sc);
        for (size_t i = 0; i < vlm_synth_n_events(sc); i++) {
            char text[160];
            vlm_narr_fact f;
            vlm_synth_object_info oi, other;
            CHECK(vlm_synth_event_text(sc, i, text, sizeof text) == VLM_OK);
            CHECK(vlm_synth_object_info_at(sc, (size_t)ev[i].object, &oi) == VLM_OK);
            CHECK_MSG(vlm_narr_parse(text, strlen(text), &f) == VLM_OK, "\"%s\"", text);
            bool ok = (int)f.action == (int)ev[i].action && f.colour == ev[i].colour && f.shape == (int)oi.shape;
            if (ev[i].action == VLM_SYNTH_APPEARS) ok = ok && f.size == (oi.large ? 1 : 0);
            if (ev[i].action == VLM_SYNTH_MOVES) ok = ok && f.detail == ev[i].dir;
            if (ev[i].action == VLM_SYNTH_TURNS) ok = ok && f.detail == ev[i].new_colour;
            if (ev[i].action == VLM_SYNTH_COLLIDES)
                ok = ok && vlm_synth_object_info_at(sc, (size_t)ev[i].other, &other) == VLM_OK &&
                     f.other_colour == ev[i].other_colour && f.other_shape == (int)other.shape;
            CHECK_MSG(ok, "seed %llu event %zu \"%s\"", (unsigned long long)seed, i, text);
            char back[160];
            CHECK(vlm_narr_format(&f, back, sizeof back) == VLM_OK && !strcmp(back, text));
            per_action[ev[i].action]++;
            n_checked++;
        }
        vlm_synth_free(sc);
    }
    printf("world texts: %zu events (appears %zu, moves %zu, turns %zu, collides %zu, disappears %zu)\n", n_checked,
           per_action[0], per_action[1], per_action[2], per_action[3], per_action[4]);
    for (int a = 0; a < 5; a++) CHECK(per_action[a] > 0);
}

static vlm_narr_reply R(double t, const char *text) {
    return (vlm_narr_reply){.time = t, .text = (char *)text, .len = strlen(text)};
}

/* The hand-worked scene. Events (time = tick / 10):
 *   E0  0.0  A small red square appears.          r0 0.0 says it: on time                  -> narrated, latency 0
 *   E1  2.0  The red square moves left.           r1 2.5 "the RED square   moves LEFT"
 *                                                 (case, spaces, no period)                -> narrated, 0.5
 *   E2  4.0  The red square turns green.          r2 5.0 at the window's end (inclusive)   -> narrated, 1.0
 *   E3  6.3  The green square collides with the blue circle.    both on frame 13 (6.5 s),
 *   E4  6.3  The green square collides with the white triangle. one reply r3 with two
 *                                                 sentences                                -> both narrated, 0.2 each
 *   E5  8.0  The green square disappears.         r4 7.9: before the event (too early)     -> missed; r4 false
 *   E6 10.0  A large blue triangle appears.       r5 10.0 "A small blue triangle appears."  -> wrong detail (size); r5 false
 *   E7 12.0  The blue circle moves up.            r6 13.5: 1.5 s late, past the 1 s window  -> missed; r6 false
 *   E8 14.0  The blue circle turns red.           r7 14.5 "... turns yellow."               -> wrong detail (colour); r7 false
 *   E9 16.0  The blue circle disappears.          r8 16.0 "The blue circle moves down."    -> missed (wrong action); r8 false
 *   E10 18.0 The white triangle moves right.      r9 18.5 one sentence in both windows:
 *   E11 18.5 The white triangle moves right.      the earlier event takes it              -> E10 narrated 0.5, E11 missed
 *                                                 r10 20.0 "Hello there. The sky is blue." -> 2 unparsable
 * Events 12; narrated 6 (E0-E4, E10); wrong detail 2 (E6, E8); missed 4 (E5, E7, E9, E11).
 * Replies 11; sentences 13 (r3 and r10 hold two each); unparsable 2; parsed 11, of which 6 narrate
 * an event, so false = 11 - 6 = 5 (r4-r8); latency sum 0 + 0.5 + 1.0 + 0.2 + 0.2 + 0.5 = 2.4.
 * By action:  events  narrated  wrong  sentences  false
 *   appears     2 (E0,E6)  1      1     2 (r0,r5)   1 (r5)
 *   moves       4 (E1,E7,E10,E11) 2 0   4 (r1,r6,r8,r9) 2 (r6,r8)
 *   turns       2 (E2,E8)  1      1     2 (r2,r7)   1 (r7)
 *   collides    2          2      0     2 (r3)      0
 *   disappears  2 (E5,E9)  0      0     1 (r4)      1 (r4) */
static void test_scene(void) {
    vlm_narr_event ev[12] = {
        {0.0, F("A small red square appears.")},
        {2.0, F("The red square moves left.")},
        {4.0, F("The red square turns green.")},
        {6.3, F("The green square collides with the blue circle.")},
        {6.3, F("The green square collides with the white triangle.")},
        {8.0, F("The green square disappears.")},
        {10.0, F("A large blue triangle appears.")},
        {12.0, F("The blue circle moves up.")},
        {14.0, F("The blue circle turns red.")},
        {16.0, F("The blue circle disappears.")},
        {18.0, F("The white triangle moves right.")},
        {18.5, F("The white triangle moves right.")},
    };
    vlm_narr_reply rep[11] = {
        R(0.0, "A small red square appears."),
        R(2.5, "the RED square   moves LEFT"),
        R(5.0, "The red square turns green."),
        R(6.5, "The green square collides with the blue circle. The green square collides with the white triangle."),
        R(7.9, "The green square disappears."),
        R(10.0, "A small blue triangle appears."),
        R(13.5, "The blue circle moves up."),
        R(14.5, "The blue circle turns yellow."),
        R(16.0, "The blue circle moves down."),
        R(18.5, "The white triangle moves right."),
        R(20.0, "Hello there. The sky is blue."),
    };
    vlm_narr_counts c;
    vlm_narr_outcome oc[12];
    char err[256];
    CHECK(vlm_narr_score(ev, 12, rep, 11, 1.0, &c, oc, err, sizeof err) == VLM_OK);
    CHECK(c.n_events == 12 && c.n_narrated == 6 && c.n_wrong_detail == 2);
    CHECK(c.n_replies == 11 && c.n_sentences == 13 && c.n_unparsable == 2 && c.n_false == 5);
    CHECK(near(c.latency_sum, 2.4));
    const vlm_narr_outcome want[12] = {VLM_NARR_NARRATED, VLM_NARR_NARRATED, VLM_NARR_NARRATED, VLM_NARR_NARRATED,
                                       VLM_NARR_NARRATED, VLM_NARR_MISSED, VLM_NARR_WRONG_DETAIL, VLM_NARR_MISSED,
                                       VLM_NARR_WRONG_DETAIL, VLM_NARR_MISSED, VLM_NARR_NARRATED, VLM_NARR_MISSED};
    for (int i = 0; i < 12; i++) CHECK_MSG(oc[i] == want[i], "event %d: outcome %d, expected %d", i, oc[i], want[i]);
    const size_t by[5][5] = {{2, 1, 1, 2, 1}, {4, 2, 0, 4, 2}, {2, 1, 1, 2, 1}, {2, 2, 0, 2, 0}, {2, 0, 0, 1, 1}};
    for (int a = 0; a < 5; a++) {
        const vlm_narr_action_counts *x = &c.by_action[a];
        CHECK_MSG(x->events == by[a][0] && x->narrated == by[a][1] && x->wrong_detail == by[a][2] &&
                      x->sentences == by[a][3] && x->false_sentences == by[a][4],
                  "action %d: %zu %zu %zu %zu %zu", a, x->events, x->narrated, x->wrong_detail, x->sentences,
                  x->false_sentences);
    }
    /* fields: each event against the earliest sentence of its action in its window (used or not):
     * E0, E1, E2, E3, E4, E6, E8, E10, E11 have one (E5: none in [8, 9]; E7: r6 too late; E9: r8 is
     * another action). Subjects all right; sizes E0 right, E6 wrong; details E1, E2, E10, E11 right,
     * E8 wrong; E4's earliest collides sentence names the blue circle, not the white triangle. */
    const vlm_narr_field_counts *fc = &c.fields;
    CHECK_MSG(fc->events == 9 && fc->colour == 9 && fc->shape == 9 && fc->size_events == 2 && fc->size == 1 &&
                  fc->detail_events == 5 && fc->detail == 4 && fc->other_events == 2 && fc->other == 1,
              "fields %zu %zu %zu %zu %zu %zu %zu %zu %zu", fc->events, fc->colour, fc->shape, fc->size_events,
              fc->size, fc->detail_events, fc->detail, fc->other_events, fc->other);
    /* a wrong subject counts against colour and shape only where the action is the event's */
    vlm_narr_event mv[2] = {{0.0, F("The red square moves left.")}, {5.0, F("A large white circle appears.")}};
    vlm_narr_reply wrong[3] = {R(0.5, "The blue circle moves left."), R(0.6, "The red square turns blue."),
                               R(5.0, "A large white triangle appears.")};
    vlm_narr_counts c3;
    CHECK(vlm_narr_score(mv, 2, wrong, 3, 1.0, &c3, NULL, err, sizeof err) == VLM_OK);
    CHECK_MSG(c3.fields.events == 2 && c3.fields.colour == 1 && c3.fields.shape == 0 && c3.fields.detail_events == 1 &&
                  c3.fields.detail == 1 && c3.fields.size_events == 1 && c3.fields.size == 1,
              "fields %zu %zu %zu %zu %zu", c3.fields.events, c3.fields.colour, c3.fields.shape,
              c3.fields.detail, c3.fields.size);
    /* replies given out of time order give the same counts (sorted inside) */
    vlm_narr_reply rev[11];
    for (int i = 0; i < 11; i++) rev[i] = rep[10 - i];
    vlm_narr_counts c2;
    CHECK(vlm_narr_score(ev, 12, rev, 11, 1.0, &c2, NULL, err, sizeof err) == VLM_OK);
    CHECK(c2.n_narrated == 6 && c2.n_wrong_detail == 2 && c2.n_false == 5 && near(c2.latency_sum, 2.4));
    /* window 2.0: r6 (1.5 s late) now narrates E7 -> 7 narrated, 4 false; E9 still missed */
    CHECK(vlm_narr_score(ev, 12, rep, 11, 2.0, &c2, oc, err, sizeof err) == VLM_OK);
    CHECK(c2.n_narrated == 7 && c2.n_false == 4 && oc[7] == VLM_NARR_NARRATED && oc[9] == VLM_NARR_MISSED);
    /* window 0: only replies at the event's own time: E0 (r0 at 0.0) and E11 (r9 at 18.5; E10 at 18.0
     * no longer reaches it) -> 2 narrated; E6 wrong detail (r5 at 10.0); E9's r8 at 16.0 is the wrong
     * action -> 1 wrong detail */
    CHECK(vlm_narr_score(ev, 12, rep, 11, 0.0, &c2, oc, err, sizeof err) == VLM_OK);
    CHECK(c2.n_narrated == 2 && c2.n_wrong_detail == 1 && oc[0] == VLM_NARR_NARRATED && oc[11] == VLM_NARR_NARRATED);
    /* the same sentence twice: the second is false (one sentence per event, one event per sentence) */
    vlm_narr_reply twice[2] = {R(0.0, "A small red square appears."), R(0.5, "A small red square appears.")};
    CHECK(vlm_narr_score(ev, 1, twice, 2, 1.0, &c2, NULL, err, sizeof err) == VLM_OK);
    CHECK(c2.n_narrated == 1 && c2.n_false == 1 && c2.n_sentences == 2);
    /* counts add up */
    vlm_narr_counts sum = {0};
    vlm_narr_counts_add(&sum, &c);
    vlm_narr_counts_add(&sum, &c);
    CHECK(sum.n_events == 24 && sum.n_narrated == 12 && sum.by_action[1].sentences == 8 && near(sum.latency_sum, 4.8));
    CHECK(sum.fields.events == 18 && sum.fields.detail == 8 && sum.fields.other_events == 4 && sum.fields.size == 2);
    /* nothing at all; bad arguments */
    CHECK(vlm_narr_score(NULL, 0, NULL, 0, 1.0, &c2, NULL, err, sizeof err) == VLM_OK && c2.n_events == 0);
    CHECK(vlm_narr_score(ev, 12, rep, 11, NAN, &c2, NULL, err, sizeof err) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_narr_score(ev, 12, rep, 11, -1.0, &c2, NULL, err, sizeof err) == VLM_ERR_INVALID_ARG);
    vlm_narr_event bad_ev = ev[0];
    bad_ev.fact.colour = 99;
    CHECK(vlm_narr_score(&bad_ev, 1, rep, 11, 1.0, &c2, NULL, err, sizeof err) == VLM_ERR_INVALID_ARG);
    vlm_narr_reply bad_rep = R(INFINITY, "x");
    CHECK(vlm_narr_score(ev, 12, &bad_rep, 1, 1.0, &c2, NULL, err, sizeof err) == VLM_ERR_INVALID_ARG);
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fputs(text, f);
    return fclose(f) == 0;
}

static void test_loaders(void) {
    char dir[] = "/tmp/test_score_XXXXXX", path[128], err[512];
    if (!mkdtemp(dir)) { CHECK(0); return; }
    /* events.json straight from the world: times are tick / 10, facts parse */
    vlm_synth_params p = vlm_synth_default_params();
    p.seed = 7;
    p.seconds = 30;
    vlm_synth_scene *sc = NULL;
    char *js = NULL;
    CHECK(vlm_synth_generate(&p, &sc, err, sizeof err) == VLM_OK);
    CHECK(sc && vlm_synth_events_json(sc, &js, NULL) == VLM_OK);
    snprintf(path, sizeof path, "%s/scene.events.json", dir);
    CHECK(js && write_file(path, js));
    vlm_narr_event *ev = NULL;
    size_t ne = 0;
    double seconds = 0;
    CHECK(vlm_narr_load_events(path, &ev, &ne, &seconds, err, sizeof err) == VLM_OK);
    CHECK(ne == vlm_synth_n_events(sc) && near(seconds, 30));
    for (size_t i = 0; i < ne && ev; i++) {
        char text[160], back[160];
        vlm_synth_event_text(sc, i, text, sizeof text);
        CHECK(near(ev[i].time, (double)vlm_synth_events(sc)[i].tick / 10.0));
        CHECK(vlm_narr_format(&ev[i].fact, back, sizeof back) == VLM_OK && !strcmp(back, text));
    }
    free(ev);
    /* a structured field that contradicts the text is an error naming the event */
    const char *tampered =
        "{\"tick_hz\": 10, \"seconds\": 5, \"objects\": [{\"id\": 0, \"shape\": \"square\", \"size\": \"small\"}],\n"
        " \"events\": [{\"tick\": 0, \"object\": 0, \"action\": \"appears\", \"colour\": \"red\", \"text\": \"A small "
        "red square appears.\"},\n {\"tick\": 12, \"object\": 0, \"action\": \"moves\", \"colour\": \"blue\", "
        "\"direction\": \"left\", \"text\": \"The red square moves left.\"}]}";
    CHECK(write_file(path, tampered));
    CHECK(vlm_narr_load_events(path, &ev, &ne, NULL, err, sizeof err) == VLM_ERR_FORMAT && !ev);
    CHECK(strstr(err, "events[1]") && strstr(err, "colour"));
    CHECK(write_file(path, "{\"objects\": [], \"events\": [{\"tick\": 0, \"object\": 3, \"text\": \"x\"}]}"));
    CHECK(vlm_narr_load_events(path, &ev, &ne, NULL, err, sizeof err) == VLM_ERR_FORMAT && strstr(err, "object 3"));
    CHECK(write_file(path, "{\"objects\": [], \"events\": [{\"tick\": -5"));
    CHECK(vlm_narr_load_events(path, &ev, &ne, NULL, err, sizeof err) == VLM_ERR_FORMAT && strstr(err, "malformed"));
    /* stream --json lines: only responses count; the text keeps its sentences */
    snprintf(path, sizeof path, "%s/scene.stream.jsonl", dir);
    CHECK(write_file(path, "{\"event\":\"frame\",\"time\":0.0,\"index\":0,\"p_interval\":0.1}\n"
                           "{\"event\":\"response\",\"time\":0.0,\"text\":\" A small red square appears.\","
                           "\"token_ids\":[1,2]}\n\n"
                           "{\"event\":\"query\",\"time\":0.5,\"text\":\"How many?\"}\n"
                           "{\"event\":\"response\",\"time\":1.5,\"text\":\"The red square moves left.\\nThe "
                           "red square turns blue.\"}\n"));
    vlm_narr_reply *rep = NULL;
    size_t nr = 0;
    CHECK(vlm_narr_load_replies(path, &rep, &nr, err, sizeof err) == VLM_OK && nr == 2);
    if (nr == 2) {
        CHECK(near(rep[0].time, 0.0) && !strcmp(rep[0].text, " A small red square appears."));
        CHECK(near(rep[1].time, 1.5) && !strcmp(rep[1].text, "The red square moves left.\nThe red square turns blue."));
        vlm_narr_counts c;
        CHECK(vlm_narr_score(NULL, 0, rep, nr, 1.0, &c, NULL, err, sizeof err) == VLM_OK && c.n_sentences == 3 &&
              c.n_false == 3);
    }
    vlm_narr_replies_free(rep, nr);
    CHECK(write_file(path, "{\"event\":\"frame\",\"time\":0.0}\nnot json\n"));
    CHECK(vlm_narr_load_replies(path, &rep, &nr, err, sizeof err) == VLM_ERR_FORMAT && strstr(err, "line 2") && !rep);
    CHECK(write_file(path, "{\"event\":\"response\",\"time\":-1,\"text\":\"x\"}\n"));
    CHECK(vlm_narr_load_replies(path, &rep, &nr, err, sizeof err) == VLM_ERR_FORMAT && strstr(err, "line 1"));
    /* the --save history: assistant entries, the "(Video Time = ...s) Assistant:" prefix removed */
    CHECK(write_file(path, "{\"video_path\": \"v.mkv\", \"frame_fps\": 2.0, \"conversation\": [\n"
                           " {\"time\": 0.0, \"fps\": 2.0, \"cost\": 0.1},\n"
                           " {\"role\": \"user\", \"content\": \"(Video Time = 0.0s) User: hi\", \"time\": 0.0},\n"
                           " {\"role\": \"assistant\", \"content\": \"(Video Time = 2.5s) Assistant: The red square "
                           "moves left.\", \"time\": 2.5, \"fps\": 2.0, \"cost\": 0.1}]}\n"));
    CHECK(vlm_narr_load_replies(path, &rep, &nr, err, sizeof err) == VLM_OK && nr == 1);
    if (nr == 1) CHECK(near(rep[0].time, 2.5) && !strcmp(rep[0].text, " The red square moves left."));
    vlm_narr_replies_free(rep, nr);
    /* the every-K baseline: 5 s at 2 fps = frames 0..9; K = 3 speaks after frames 2, 5, 8 = 1.0, 2.5, 4.0 s */
    CHECK(vlm_narr_baseline_replies(5.0, 2.0, 3, "The red square moves left.", &rep, &nr, err, sizeof err) == VLM_OK);
    CHECK(nr == 3 && rep && near(rep[0].time, 1.0) && near(rep[1].time, 2.5) && near(rep[2].time, 4.0) &&
          !strcmp(rep[2].text, "The red square moves left."));
    vlm_narr_replies_free(rep, nr);
    CHECK(vlm_narr_baseline_replies(5.0, 2.0, 0, "x", &rep, &nr, err, sizeof err) == VLM_ERR_INVALID_ARG);
    /* the most frequent assistant text among those made of event sentences: "There are 2 objects." (3 times)
     * does not parse, so "The red square moves left." (2 times) wins over the appears text (once) */
    snprintf(path, sizeof path, "%s/train.jsonl", dir);
    CHECK(write_file(path,
                     "{\"conversation\": [{\"role\": \"assistant\", \"content\": \"A small red square appears.\"},"
                     "{\"role\": \"assistant\", \"content\": \"The red square moves left.\"},"
                     "{\"role\": \"assistant\", \"content\": \"There are 2 objects.\"}]}\n"
                     "{\"conversation\": [{\"role\": \"user\", \"content\": \"The red square moves left.\"},"
                     "{\"role\": \"assistant\", \"content\": \"There are 2 objects.\"},"
                     "{\"role\": \"assistant\", \"content\": \"There are 2 objects.\"},"
                     "{\"role\": \"assistant\", \"content\": \"The red square moves left.\"}]}\n"));
    char *text = NULL;
    size_t count = 0;
    CHECK(vlm_narr_most_frequent_reply(path, &text, &count, err, sizeof err) == VLM_OK);
    CHECK(text && !strcmp(text, "The red square moves left.") && count == 2);
    free(text);
    CHECK(write_file(path, "{\"conversation\": [{\"role\": \"assistant\", \"content\": \"Hi.\"}]}\n"));
    CHECK(vlm_narr_most_frequent_reply(path, &text, &count, err, sizeof err) == VLM_ERR_FORMAT && !text);
    vlm_synth_free(sc);
    free(js);
    snprintf(path, sizeof path, "%s/scene.events.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/scene.stream.jsonl", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/train.jsonl", dir);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    test_parse();
    test_world_texts();
    test_scene();
    test_loaders();
    return check_done("test_score");
}
