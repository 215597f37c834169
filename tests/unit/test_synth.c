/* test_synth.c - the synthetic world: reproducibility, events against the
 * rendered pixels, the ceil-to-grid rule, and the generated conversations
 * through the text pipeline in strict mode. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "videollm.h"

static vlm_synth_scene *gen(uint64_t seed, double seconds) {
    vlm_synth_params p = vlm_synth_default_params();
    p.seed = seed;
    p.seconds = seconds;
    vlm_synth_scene *s = NULL;
    char err[256];
    CHECK_MSG(vlm_synth_generate(&p, &s, err, sizeof err) == VLM_OK, "%s", err);
    return s;
}

static int same_frames(const vlm_synth_scene *a, const vlm_synth_scene *b, uint8_t *fa, uint8_t *fb) {
    for (int64_t t = 0; t < vlm_synth_n_ticks(a); t += 7) {
        vlm_synth_render(a, t, fa);
        vlm_synth_render(b, t, fb);
        if (memcmp(fa, fb, 384 * 384 * 3)) return 0;
    }
    return 1;
}

static int pixel_is(const uint8_t *f, int x, int y, int colour) {
    uint8_t c[3];
    vlm_synth_colour_rgb(colour, c);
    return !memcmp(f + ((size_t)y * 384 + x) * 3, c, 3);
}

/* The conversation of s without (*j0, *c0, frames [a0, a1)) and with an option set by opt. */
static void set_recap(vlm_synth_dataset_params *dp) { dp->recap = 1; }
static void set_sort_joined(vlm_synth_dataset_params *dp) { dp->sort_joined = 1; }
static void conversation_pair(const vlm_synth_scene *s, uint64_t seed, void (*opt)(vlm_synth_dataset_params *),
                              char **j0, char **j1, vlm_conversation **c0, vlm_conversation **c1, int64_t *a0,
                              int64_t *a1, int64_t *b0, int64_t *b1) {
    vlm_synth_dataset_params dp = vlm_synth_dataset_default_params();
    dp.seed = seed;
    char err[512];
    size_t l0 = 0, l1 = 0;
    CHECK_MSG(vlm_synth_conversation(s, &dp, j0, &l0, a0, a1, err, sizeof err) == VLM_OK, "%s", err);
    opt(&dp);
    CHECK_MSG(vlm_synth_conversation(s, &dp, j1, &l1, b0, b1, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(*j0 && *j1 && vlm_conversation_parse(*j0, l0, c0, err, sizeof err) == VLM_OK &&
          vlm_conversation_parse(*j1, l1, c1, err, sizeof err) == VLM_OK);
}

/* a and b hold the same sentences ("X. Y."), in any order */
static int sentences(const char *a, char out[8][192]) {
    int n = 0;
    while (a && *a && n < 8) {
        const char *e = strstr(a, ". ");
        size_t len = e ? (size_t)(e - a) + 1 : strlen(a);
        if (len >= 192) return -1;
        memcpy(out[n], a, len);
        out[n++][len] = 0;
        a += len + (e ? 1 : 0);
    }
    qsort(out, (size_t)n, sizeof out[0], (int (*)(const void *, const void *))strcmp);
    return n;
}
static int same_sentences(const char *a, const char *b) {
    char sa[8][192], sb[8][192];
    int na = sentences(a, sa), nb = sentences(b, sb);
    if (na != nb || na < 0) return 0;
    for (int i = 0; i < na; i++)
        if (strcmp(sa[i], sb[i])) return 0;
    return 1;
}

int main(void) {
    uint8_t *fa = malloc(384 * 384 * 3), *fb = malloc(384 * 384 * 3);
    /* reproducibility */
    vlm_synth_scene *a = gen(7, 40), *b = gen(7, 40), *c = gen(8, 40);
    CHECK(vlm_synth_n_events(a) == vlm_synth_n_events(b));
    CHECK(!memcmp(vlm_synth_events(a), vlm_synth_events(b), vlm_synth_n_events(a) * sizeof(vlm_synth_event)));
    CHECK(same_frames(a, b, fa, fb));
    CHECK(!same_frames(a, c, fa, fb));
    char *ja, *jc;
    vlm_synth_events_json(a, &ja, NULL);
    vlm_synth_events_json(c, &jc, NULL);
    CHECK(strcmp(ja, jc) != 0);
    free(ja);
    free(jc);

    /* events against pixels, over many seeds */
    int n_appear = 0, n_disappear = 0, n_turn = 0, n_collide = 0;
    for (uint64_t seed = 0; seed < 30; seed++) {
        vlm_synth_scene *s = gen(seed, 60);
        for (size_t i = 0; i < vlm_synth_n_events(s); i++) {
            const vlm_synth_event *e = &vlm_synth_events(s)[i];
            vlm_synth_object_state st, prev;
            vlm_synth_object_at(s, e->tick, (size_t)e->object, &st);
            if (e->action == VLM_SYNTH_APPEARS) {
                n_appear++;
                CHECK(st.present);
                vlm_synth_render(s, e->tick, fa);
                CHECK(pixel_is(fa, st.x, st.y, st.colour));
                if (e->tick > 0) {
                    vlm_synth_render(s, e->tick - 1, fb);
                    uint8_t bg[3];
                    vlm_synth_colour_rgb(-1, bg);
                    CHECK(!memcmp(fb + ((size_t)st.y * 384 + st.x) * 3, bg, 3));
                }
            } else if (e->action == VLM_SYNTH_DISAPPEARS) {
                n_disappear++;
                vlm_synth_object_at(s, e->tick - 1, (size_t)e->object, &prev);
                CHECK(prev.present && !st.present);
                vlm_synth_render(s, e->tick - 1, fb);
                CHECK(pixel_is(fb, prev.x, prev.y, prev.colour) || prev.moving);
            } else if (e->action == VLM_SYNTH_TURNS) {
                n_turn++;
                vlm_synth_render(s, e->tick, fa);
                CHECK(st.colour == e->new_colour);
                CHECK(pixel_is(fa, st.x, st.y, e->new_colour) || st.moving);
            } else if (e->action == VLM_SYNTH_COLLIDES) {
                n_collide++;
                vlm_synth_object_state o;
                vlm_synth_object_info ia, ib;
                vlm_synth_object_at(s, e->tick, (size_t)e->other, &o);
                vlm_synth_object_info_at(s, (size_t)e->object, &ia);
                vlm_synth_object_info_at(s, (size_t)e->other, &ib);
                int R = ia.radius + ib.radius, dx = abs(st.x - o.x), dy = abs(st.y - o.y);
                CHECK(o.present && dx <= R && dy <= R && (dx == R || dy == R)); /* exactly touching */
            }
        }
        vlm_synth_free(s);
    }
    printf("events checked: %d appear, %d disappear, %d turn, %d collide\n", n_appear, n_disappear, n_turn, n_collide);

    /* the event offset: spontaneous events (everything but collisions and the tick-0 appearances) fall
     * event_offset ticks after a whole half second, and the 2 fps frame a move's reply follows shows the
     * mover (6 - offset) steps = 30 px (default) or 1 step = 6 px (offset 0) from where it started */
    for (int off = 0; off <= 4; off += 1) {
        int n_spont = 0, n_moves = 0, n_shown = 0;
        for (uint64_t seed = 0; seed < 20; seed++) {
            vlm_synth_params p = vlm_synth_default_params();
            p.seed = seed;
            p.seconds = 60;
            p.event_offset = off;
            vlm_synth_scene *s = NULL;
            char err[256];
            CHECK_MSG(vlm_synth_generate(&p, &s, err, sizeof err) == VLM_OK, "%s", err);
            if (!s) continue;
            for (size_t i = 0; i < vlm_synth_n_events(s); i++) {
                const vlm_synth_event *e = &vlm_synth_events(s)[i];
                if (e->tick == 0 || e->action == VLM_SYNTH_COLLIDES) continue;
                n_spont++;
                CHECK_MSG(e->tick % 5 == off, "offset %d seed %llu: event at tick %lld", off, (unsigned long long)seed,
                          (long long)e->tick);
                int64_t reply_tick = vlm_synth_ceil_frame(e->tick, 2) * 5;
                CHECK_MSG(reply_tick < vlm_synth_n_ticks(s), "offset %d: event at tick %lld, after the last frame",
                          off, (long long)e->tick);
                if (e->action != VLM_SYNTH_MOVES || reply_tick >= vlm_synth_n_ticks(s)) continue;
                vlm_synth_object_state before, at;
                vlm_synth_object_at(s, e->tick - 1, (size_t)e->object, &before);
                vlm_synth_object_at(s, reply_tick, (size_t)e->object, &at);
                int moved = abs(at.x - before.x) + abs(at.y - before.y), steps = off ? 6 - off : 1;
                n_moves++;
                /* a wall or a collision may stop it sooner; one more step when the same object's
                 * previous move took its last step on this tick */
                CHECK_MSG(moved > 0 && moved <= 6 * (steps + 1), "offset %d: moved %d px", off, moved);
                n_shown += moved >= 6 * steps;
            }
            vlm_synth_free(s);
        }
        CHECK_MSG(n_spont > 100 && n_moves > 20 && n_shown * 10 >= n_moves * 9, "offset %d: %d events, %d of %d moves",
                  off, n_spont, n_shown, n_moves);
    }
    CHECK(n_appear > 30 && n_disappear > 5 && n_turn > 5 && n_collide > 0);

    /* object areas: a frame where exactly one object is on screen has that many non-background pixels
     * (and the six areas are distinct) */
    int n_area = 0;
    for (uint64_t seed = 0; seed < 30 && n_area < 12; seed++) {
        vlm_synth_scene *s = gen(seed, 30);
        for (int64_t t = 0; t < vlm_synth_n_ticks(s); t += 10) {
            size_t one = 0, n = 0;
            for (size_t o = 0; o < vlm_synth_n_objects(s); o++) {
                vlm_synth_object_state st;
                vlm_synth_object_at(s, t, o, &st);
                if (st.present) one = o, n++;
            }
            if (n != 1) continue;
            vlm_synth_object_info info;
            vlm_synth_object_info_at(s, one, &info);
            uint8_t bg[3];
            vlm_synth_colour_rgb(-1, bg);
            vlm_synth_render(s, t, fa);
            int64_t count = 0;
            for (int p = 0; p < 384 * 384; p++) count += memcmp(fa + p * 3, bg, 3) != 0;
            CHECK_MSG(count == vlm_synth_shape_area(info.shape, info.large), "seed %llu tick %lld: %lld pixels, area %lld",
                      (unsigned long long)seed, (long long)t, (long long)count,
                      (long long)vlm_synth_shape_area(info.shape, info.large));
            n_area++;
            break;
        }
        vlm_synth_free(s);
    }
    CHECK(n_area >= 12);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < i; j++)
            CHECK(vlm_synth_shape_area(i / 2, i % 2) != vlm_synth_shape_area(j / 2, j % 2));
    CHECK(vlm_synth_shape_area(-1, false) == 0 && vlm_synth_shape_area(VLM_SYNTH_N_SHAPES, true) == 0);

    /* the ceil rule, hand-worked (fps 2): 0 -> 0, 0.1 -> 0.5, 0.5 -> 0.5, 0.6 -> 1.0, 1.0 -> 1.0, 1.01 -> 1.5 */
    CHECK(vlm_synth_ceil_time(0.0, 2, 0, 100) == 0.0);
    CHECK(vlm_synth_ceil_time(0.1, 2, 0, 100) == 0.5);
    CHECK(vlm_synth_ceil_time(0.5, 2, 0, 100) == 0.5);
    CHECK(vlm_synth_ceil_time(0.6, 2, 0, 100) == 1.0);
    CHECK(vlm_synth_ceil_time(1.01, 2, 0, 100) == 1.5);
    CHECK(vlm_synth_ceil_time(7.3, 2, 0, 5) == 5.0);
    CHECK(vlm_synth_ceil_frame(0, 2) == 0 && vlm_synth_ceil_frame(1, 2) == 1 && vlm_synth_ceil_frame(5, 2) == 1);
    CHECK(vlm_synth_ceil_frame(6, 2) == 2 && vlm_synth_ceil_frame(10, 2) == 2 && vlm_synth_ceil_frame(11, 2) == 3);
    for (int64_t k = 0; k < 6000; k++) /* integer rule == the original's float rule on the tick grid */
        CHECK_MSG(vlm_synth_ceil_frame(k, 2) == (int64_t)(vlm_synth_ceil_time(k / 10.0, 2, 0, 1e9) * 2 + 0.5), "tick %lld", (long long)k);

    /* conversations: strict render + learn ranges, frame counts = range length */
    for (uint64_t seed = 0; seed < 20; seed++) {
        vlm_synth_scene *s = gen(seed, 45);
        vlm_synth_dataset_params dp = vlm_synth_dataset_default_params();
        dp.seed = seed;
        char *json = NULL, err[512];
        size_t len = 0;
        int64_t f0 = -1, f1 = -1;
        CHECK_MSG(vlm_synth_conversation(s, &dp, &json, &len, &f0, &f1, err, sizeof err) == VLM_OK, "%s", err);
        vlm_conversation *conv = NULL;
        CHECK_MSG(vlm_conversation_parse(json, len, &conv, err, sizeof err) == VLM_OK, "%s", err);
        if (conv) {
            const vlm_message *m = vlm_conversation_messages(conv);
            size_t n = vlm_conversation_size(conv);
            vlm_template_params tp = vlm_template_default_params();
            tp.strict = true;
            char *text = NULL;
            size_t tl = 0;
            int64_t *ranges = NULL;
            size_t nr = 0;
            CHECK_MSG(vlm_template_render(m, n, &tp, &text, &tl, err, sizeof err) == VLM_OK, "%s", err);
            CHECK_MSG(vlm_learn_ranges(m, n, &tp, &ranges, &nr, err, sizeof err) == VLM_OK, "%s", err);
            int64_t frames = 0;
            size_t n_assist = 0;
            for (size_t i = 0; i < n; i++) {
                if (m[i].role == VLM_ROLE_STREAM) frames += m[i].num_frames;
                if (m[i].role == VLM_ROLE_ASSISTANT) n_assist++;
            }
            CHECK(m[0].role == VLM_ROLE_SYSTEM && m[1].role == VLM_ROLE_STREAM && m[1].num_frames == 1 && !m[1].learn);
            CHECK(m[2].role == VLM_ROLE_USER);
            CHECK_MSG(frames == f1 - f0, "seed %llu: %lld stream frames, range [%lld, %lld)", (unsigned long long)seed,
                      (long long)frames, (long long)f0, (long long)f1);
            CHECK(f0 == 0 && f1 == 90); /* objects appear at tick 0; 45 s at 2 fps */
            CHECK(nr > n_assist);
            /* every assistant reply follows the frame its events are rounded up to */
            int64_t frame = f0 - 1, ev_i = 0;
            for (size_t i = 0; i < n; i++) {
                if (m[i].role == VLM_ROLE_STREAM) frame += m[i].num_frames;
                if (m[i].role == VLM_ROLE_ASSISTANT && m[i - 1].role == VLM_ROLE_STREAM && m[i].learn) {
                    while ((size_t)ev_i < vlm_synth_n_events(s) && vlm_synth_ceil_frame(vlm_synth_events(s)[ev_i].tick, 2) < frame) ev_i++;
                    CHECK((size_t)ev_i < vlm_synth_n_events(s) && vlm_synth_ceil_frame(vlm_synth_events(s)[ev_i].tick, 2) == frame);
                }
            }
            free(text);
            free(ranges);
            vlm_conversation_free(conv);
        }
        free(json);
        vlm_synth_free(s);
    }
    /* the recap: the same conversation plus user(question) + assistant(every narration reply, in order,
     * learned), still valid in strict mode */
    int n_recap = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        vlm_synth_scene *s = gen(seed, 45);
        char *j0 = NULL, *j1 = NULL, err[512];
        int64_t a0, a1, b0, b1;
        vlm_conversation *c0 = NULL, *c1 = NULL;
        conversation_pair(s, seed, set_recap, &j0, &j1, &c0, &c1, &a0, &a1, &b0, &b1);
        if (c0 && c1) {
            const vlm_message *m0 = vlm_conversation_messages(c0), *m1 = vlm_conversation_messages(c1);
            size_t n0 = vlm_conversation_size(c0), n1 = vlm_conversation_size(c1);
            CHECK(a0 == b0 && a1 == b1);
            if (m0[n0 - 1].role == VLM_ROLE_STREAM) { /* a trailing stream: the recap follows it */
                CHECK(n1 == n0 + 2);
                for (size_t i = 0; i < n0 && i < n1; i++)
                    CHECK(m0[i].role == m1[i].role && m0[i].num_frames == m1[i].num_frames && m0[i].learn == m1[i].learn &&
                          !strcmp(m0[i].content ? m0[i].content : "", m1[i].content ? m1[i].content : ""));
                char want[8192] = "";
                for (size_t i = 3; i < n0; i++)
                    if (m0[i].role == VLM_ROLE_ASSISTANT && (i == 3 || m0[i - 1].role == VLM_ROLE_STREAM)) {
                        if (*want) strcat(want, " ");
                        strcat(want, m0[i].content);
                    }
                CHECK(n1 == n0 + 2 && m1[n0].role == VLM_ROLE_USER && !strcmp(m1[n0].content, VLM_SYNTH_RECAP_QUESTION));
                CHECK(n1 == n0 + 2 && m1[n0 + 1].role == VLM_ROLE_ASSISTANT && m1[n0 + 1].learn &&
                      !strcmp(m1[n0 + 1].content, want) && strlen(want) > 100);
                vlm_template_params tp = vlm_template_default_params();
                tp.strict = true;
                int64_t *ranges = NULL;
                size_t nr0 = 0, nr1 = 0;
                CHECK_MSG(vlm_learn_ranges(m0, n0, &tp, &ranges, &nr0, err, sizeof err) == VLM_OK, "%s", err);
                free(ranges);
                ranges = NULL;
                CHECK_MSG(vlm_learn_ranges(m1, n1, &tp, &ranges, &nr1, err, sizeof err) == VLM_OK, "%s", err);
                CHECK(nr1 == nr0 + 1);
                free(ranges);
                n_recap++;
            } else {
                CHECK(n1 == n0); /* no frame after the last reply: no recap */
            }
        }
        vlm_conversation_free(c0);
        vlm_conversation_free(c1);
        free(j0);
        free(j1);
        vlm_synth_free(s);
    }
    CHECK_MSG(n_recap >= 10, "%d recaps", n_recap); /* 12 of 20: the others end with a reply on their last frame */

    /* sort_joined: the first reply (the objects of tick 0) tells them in the order of their text, a
     * qsort of the event sentences here; every other message is unchanged */
    int n_swapped = 0, n_two = 0;
    for (uint64_t seed = 0; seed < 60; seed++) {
        vlm_synth_scene *s = gen(seed, 20);
        char *j0 = NULL, *j1 = NULL;
        int64_t a0, a1, b0, b1;
        vlm_conversation *c0 = NULL, *c1 = NULL;
        conversation_pair(s, seed, set_sort_joined, &j0, &j1, &c0, &c1, &a0, &a1, &b0, &b1);
        char t0[4][192];
        size_t n0 = 0;
        for (size_t i = 0; i < vlm_synth_n_events(s) && vlm_synth_events(s)[i].tick == 0 && n0 < 4; i++)
            CHECK(vlm_synth_event_text(s, i, t0[n0++], sizeof t0[0]) == VLM_OK);
        qsort(t0, n0, sizeof t0[0], (int (*)(const void *, const void *))strcmp);
        char want[1024] = "";
        for (size_t i = 0; i < n0; i++) {
            if (i) strcat(want, " ");
            strcat(want, t0[i]);
        }
        n_two += n0 == 2;
        if (c0 && c1) {
            const vlm_message *m0 = vlm_conversation_messages(c0), *m1 = vlm_conversation_messages(c1);
            size_t n = vlm_conversation_size(c0);
            CHECK(a0 == b0 && a1 == b1 && n == vlm_conversation_size(c1));
            CHECK_MSG(n > 3 && m1[3].role == VLM_ROLE_ASSISTANT && !strcmp(m1[3].content, want), "seed %llu: '%s', want '%s'",
                      (unsigned long long)seed, n > 3 ? m1[3].content : "", want);
            n_swapped += n > 3 && strcmp(m0[3].content, m1[3].content) != 0;
            for (size_t i = 0; i < n && i < vlm_conversation_size(c1); i++)
                CHECK(m0[i].role == m1[i].role && m0[i].num_frames == m1[i].num_frames && m0[i].learn == m1[i].learn &&
                      same_sentences(m0[i].content, m1[i].content));
        }
        vlm_conversation_free(c0);
        vlm_conversation_free(c1);
        free(j0);
        free(j1);
        vlm_synth_free(s);
    }
    /* about half the scenes start with two objects, and half of those were created in the other order */
    CHECK_MSG(n_two >= 15 && n_swapped >= 5 && n_swapped < n_two, "%d of %d two-object starts reordered", n_swapped, n_two);

    /* the same conversations through the real Llama-3 tokenizer: every learn
     * range falls on token starts (vlm_sample_build fails otherwise) */
    const char *tokp = getenv("VLM_LLAMA3_TOKENIZER");
    vlm_tokenizer *tok = NULL;
    if (tokp && vlm_tokenizer_load(tokp, &tok, NULL, 0) == VLM_OK) {
        CHECK(vlm_tokenizer_set_eos(tok, "<|eot_id|>") == VLM_OK);
        size_t built = 0;
        for (uint64_t seed = 100; seed < 110; seed++) {
            vlm_synth_scene *s = gen(seed, 60);
            vlm_synth_dataset_params dp = vlm_synth_dataset_default_params();
            dp.seed = seed;
            dp.question_every = 4;
            char *json = NULL, err[512];
            size_t len = 0;
            int64_t f0, f1;
            vlm_conversation *conv = NULL;
            if (vlm_synth_conversation(s, &dp, &json, &len, &f0, &f1, err, sizeof err) == VLM_OK &&
                vlm_conversation_parse(json, len, &conv, err, sizeof err) == VLM_OK) {
                vlm_template_params tp = vlm_template_default_params();
                tp.strict = true;
                vlm_sample smp;
                vlm_status st = vlm_sample_build(tok, vlm_conversation_messages(conv), vlm_conversation_size(conv), &tp,
                                                 &smp, err, sizeof err);
                CHECK_MSG(st == VLM_OK, "seed %llu: %s", (unsigned long long)seed, err);
                if (st == VLM_OK) {
                    int32_t v_id = vlm_tokenizer_token_to_id(tok, "<v>");
                    size_t n_v = 0, n_lab = 0;
                    for (size_t i = 0; i < smp.toks.n; i++) {
                        n_v += smp.toks.ids[i] == v_id;
                        n_lab += smp.labels[i] != -100;
                    }
                    CHECK(n_v == (size_t)(f1 - f0) * 10); /* 10 <v> per frame (live1+) */
                    CHECK(n_lab > 0);
                    built++;
                    vlm_sample_free(&smp);
                }
            } else {
                CHECK_MSG(0, "seed %llu: %s", (unsigned long long)seed, err);
            }
            vlm_conversation_free(conv);
            free(json);
            vlm_synth_free(s);
        }
        CHECK(built == 10);
        vlm_tokenizer_free(tok);
    } else {
        printf("VLM_LLAMA3_TOKENIZER not set or unreadable: real-tokenizer check skipped\n");
    }

    /* the video: FFV1 at 2 fps decoded by the stream's reader gives back every
     * rendered frame bit for bit (frame r = tick 5r) */
    {
        vlm_synth_scene *s = gen(11, 5);
        char path[] = "/tmp/test_synth_XXXXXX", file[64], err[512];
        if (mkdtemp(path)) {
            snprintf(file, sizeof file, "%s/v.mkv", path);
            CHECK_MSG(vlm_synth_write_video(s, file, 2, VLM_SYNTH_FFV1, err, sizeof err) == VLM_OK, "%s", err);
            vlm_video_params vp = vlm_video_default_params();
            vlm_video *v = NULL;
            CHECK_MSG(vlm_video_open(file, &vp, &v, err, sizeof err) == VLM_OK, "%s", err);
            int64_t r = 0, idx;
            double t;
            int equal = 1;
            while (v && vlm_video_read(v, fa, &idx, &t) == VLM_OK) {
                if (r * 5 < vlm_synth_n_ticks(s)) {
                    vlm_synth_render(s, r * 5, fb);
                    if (memcmp(fa, fb, 384 * 384 * 3)) equal = 0;
                }
                r++;
            }
            vlm_video_close(v);
            CHECK(equal);
            CHECK_MSG(r >= 10, "%lld frames", (long long)r);
            /* a 10 fps clip: the ticks the 2 fps sampler shows, each sampled frame
             * equal to the render of its tick, and replies after the first
             * sampled frame that shows their event */
            vlm_synth_scene *s10 = gen(12, 20);
            CHECK_MSG(vlm_synth_write_video(s10, file, 10, VLM_SYNTH_FFV1, err, sizeof err) == VLM_OK, "%s", err);
            int64_t *ticks = NULL;
            size_t nt = 0;
            CHECK_MSG(vlm_synth_sample_ticks(s10, file, 2, &ticks, &nt, err, sizeof err) == VLM_OK, "%s", err);
            CHECK_MSG(nt >= 40, "%zu sampled frames", nt);
            printf("10 fps clip sampled at 2 fps shows ticks:");
            for (size_t i = 0; i < nt && i < 8; i++) printf(" %lld", (long long)ticks[i]);
            printf(" ...\n");
            CHECK(vlm_video_open(file, &vp, &v, err, sizeof err) == VLM_OK);
            size_t k = 0;
            equal = 1;
            while (v && k < nt && vlm_video_read(v, fa, &idx, &t) == VLM_OK) {
                vlm_synth_render(s10, ticks[k++], fb);
                if (memcmp(fa, fb, 384 * 384 * 3)) equal = 0;
            }
            vlm_video_close(v);
            CHECK(equal && k == nt);
            vlm_synth_dataset_params dp = vlm_synth_dataset_default_params();
            dp.frame_ticks = ticks;
            dp.n_frame_ticks = nt;
            char *json = NULL;
            size_t len = 0;
            int64_t f0, f1;
            vlm_conversation *conv = NULL;
            CHECK_MSG(vlm_synth_conversation(s10, &dp, &json, &len, &f0, &f1, err, sizeof err) == VLM_OK, "%s", err);
            CHECK(json && vlm_conversation_parse(json, len, &conv, err, sizeof err) == VLM_OK);
            CHECK(f1 == (int64_t)nt);
            if (conv) {
                const vlm_message *m = vlm_conversation_messages(conv);
                int64_t frame = f0 - 1;
                size_t ev = 0, n_checked = 0;
                for (size_t i = 0; i < vlm_conversation_size(conv); i++) {
                    if (m[i].role == VLM_ROLE_STREAM) frame += m[i].num_frames;
                    if (m[i].role != VLM_ROLE_ASSISTANT || !m[i].learn || m[i - 1].role == VLM_ROLE_USER) continue;
                    /* skip events answered earlier, then this reply's first event */
                    while (ev < vlm_synth_n_events(s10) && vlm_synth_events(s10)[ev].tick <= ticks[frame > 0 ? frame - 1 : 0] &&
                           frame > 0)
                        ev++;
                    CHECK(ev < vlm_synth_n_events(s10) && ticks[frame] >= vlm_synth_events(s10)[ev].tick);
                    n_checked++;
                }
                CHECK(n_checked >= 5);
                vlm_conversation_free(conv);
            }
            free(json);
            free(ticks);
            vlm_synth_free(s10);
            remove(file);
            rmdir(path);
        }
        vlm_synth_free(s);
    }

    /* bad params */
    vlm_synth_params p = vlm_synth_default_params();
    vlm_synth_scene *s = NULL;
    char err[256];
    p.seconds = 0;
    CHECK(vlm_synth_generate(&p, &s, err, sizeof err) == VLM_ERR_INVALID_ARG && !s);
    p.seconds = 10;
    p.size = 50;
    CHECK(vlm_synth_generate(&p, &s, err, sizeof err) == VLM_ERR_INVALID_ARG && !s);
    p.size = 384;
    p.event_offset = 5;
    CHECK(vlm_synth_generate(&p, &s, err, sizeof err) == VLM_ERR_INVALID_ARG && !s && strstr(err, "event_offset"));
    p.event_offset = -1;
    CHECK(vlm_synth_generate(&p, &s, err, sizeof err) == VLM_ERR_INVALID_ARG && !s);
    vlm_synth_free(a);
    vlm_synth_free(b);
    vlm_synth_free(c);
    free(fa);
    free(fb);
    return check_done("test_synth");
}
