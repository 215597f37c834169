/* test_eval.c - the streaming metrics (src/eval/metrics.c) on hand-made
 * samples: every branch of the original's stream_evaluate with values
 * worked out by hand in the comments. The model is replaced by per-position
 * summaries written here and a scripted look-ahead callback.
 *
 * Token ids of the toy vocabulary: 0 filler, 2 ',' (interval), 3 eos,
 * 4 "]\n", 5..7 text, 9 <v>; two <v> per frame (frame_num_tokens 2), so the
 * labelled position of a learned frame is its second <v>. The baselines
 * (silent, every:K) run through the same metric code on one of these samples. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "videollm.h"

enum { IV = 2, EOS = 3, RESP = 4, V = 9, NONE = -100 };

static int near(double a, double b) { return fabs(a - b) <= 1e-12 * (fabs(b) > 1 ? fabs(b) : 1); }

static vlm_eval_config cfg2(float thr) {
    vlm_eval_config c = {.v_id = V, .interval_id = IV, .eos_id = EOS, .use_interval = true, .frame_num_tokens = 2,
                         .threshold = thr};
    return c;
}

/* A scripted look-ahead: returns rows[] and records how it was called. */
typedef struct {
    int calls;
    int64_t keep, first, n;
    const vlm_eval_pos *rows;
    size_t n_rows;
    vlm_status fail;
} script;

static vlm_status scripted(void *ud, int64_t n_keep, int64_t first_frame, int64_t n_frames, vlm_eval_pos *out) {
    script *s = ud;
    s->calls++;
    s->keep = n_keep;
    s->first = first_frame;
    s->n = n_frames;
    if (s->fail) return s->fail;
    for (int64_t j = 0; j < n_frames; j++) out[j] = s->rows[(size_t)j < s->n_rows ? (size_t)j : s->n_rows - 1];
    return VLM_OK;
}

static vlm_eval_pos P(int32_t argmax, double ce, double p) { return (vlm_eval_pos){argmax, ce, p}; }

static void test_summarize(void) {
    /* logits {0, ln3, 0, ln4}: sum of exp = 1+3+1+4 = 9, so P(1) = 3/9, CE(label 0) = ln 9, argmax 3 */
    float lg[4] = {0.0f, logf(3.0f), 0.0f, logf(4.0f)};
    vlm_eval_pos p;
    vlm_eval_summarize(lg, 4, 0, 1, &p);
    CHECK(p.argmax == 3);
    CHECK(fabs(p.ce - log(9.0)) < 1e-6);
    CHECK(fabs(p.p_interval - 1.0 / 3.0) < 1e-7);
    /* no label: ce 0; ties: the first maximum (as torch.argmax); no interval id: P 0 */
    float tie[3] = {1.0f, 2.0f, 2.0f};
    vlm_eval_summarize(tie, 3, -100, -1, &p);
    CHECK(p.argmax == 1 && p.ce == 0.0 && p.p_interval == 0.0);
    /* large logits do not overflow: {1000, 1000} -> P = 1/2, CE = ln 2 */
    float big[2] = {1000.0f, 1000.0f};
    vlm_eval_summarize(big, 2, 1, 0, &p);
    CHECK(fabs(p.p_interval - 0.5) < 1e-12 && fabs(p.ce - log(2.0)) < 1e-9);
}

/* One turn, the model fires one frame early.
 * pos:    0  1  2  3  4  5  6  7  8  9    10 11 12
 * id:     5  V  V  ,  V  V  ,  V  V  ]\n  6  7  eos
 * label:  -  -  ,  -  -  ,  -  -  ]\n 6   7  eos -
 * stream = {2, 5, 8} (nv 3); lm = {9, 10, 11} (nl 3).
 * argmax at 2 is ',' (silent), at 5 is "]\n" (respond): first reply at stream
 * index 1, diff = 3 - 1 - 1 = 1 (one frame early).
 * lm: argmax 6 (right), 5 (wrong), eos (right) -> correct prefix 1 -> LM-Correctness 1/3;
 *     CE 0.5, 1.0, 1.5 -> PPL = exp(3/3) = e.
 * Fluency (diff > 0) = (nv - diff) / (nv + nl) = (3 - 1) / 6 = 1/3. */
static const int32_t ex1_ids[] = {5, V, V, IV, V, V, IV, V, V, RESP, 6, 7, EOS};
static const int32_t ex1_lab[] = {NONE, NONE, IV, NONE, NONE, IV, NONE, NONE, RESP, 6, 7, EOS, NONE};

static void ex1_pos(vlm_eval_pos *p) {
    for (int i = 0; i < 13; i++) p[i] = P(0, 0, 0);
    p[2] = P(IV, 0.1, 0.3);
    p[5] = P(RESP, 0.2, 0.1);
    p[8] = P(RESP, 0.3, 0.2);
    p[9] = P(6, 0.5, 0);
    p[10] = P(5, 1.0, 0);
    p[11] = P(EOS, 1.5, 0);
}

static void test_fires_early(void) {
    vlm_eval_pos pos[13];
    ex1_pos(pos);
    vlm_eval_config c = cfg2(0.0f);
    vlm_eval_result r;
    char err[256];
    CHECK(vlm_eval_metrics(ex1_ids, ex1_lab, pos, 13, &c, NULL, NULL, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 1);
    const vlm_eval_turn *t = &r.turns[0];
    CHECK(t->start == 0 && t->stop == 13 && t->n_frames == 3 && t->n_stream == 3 && t->n_lm == 3);
    CHECK(t->has_diff && t->diff == 1 && t->lookahead == 0);
    CHECK(t->has_lm && near(t->ppl, exp(1.0)) && t->n_correct == 1 && near(t->correctness, 1.0 / 3.0));
    CHECK(t->has_fluency && near(t->fluency, 1.0 / 3.0));
    CHECK(near(r.lm_ppl, exp(1.0)) && near(r.lm_correctness, 1.0 / 3.0) && near(r.frame_diff, 1.0) &&
          near(r.fluency, 1.0 / 3.0));
    vlm_eval_result_free(&r);

    /* threshold 0.5: the row at 2 has P(',') 0.3 < 0.5 and is zeroed, so its
     * argmax becomes id 0 != ',' (respond): first reply at index 0,
     * diff = 3 - 0 - 1 = 2; Fluency = (3 - 2) / 6 = 1/6. */
    c = cfg2(0.5f);
    CHECK(vlm_eval_metrics(ex1_ids, ex1_lab, pos, 13, &c, NULL, NULL, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 1 && r.turns[0].diff == 2 && near(r.turns[0].fluency, 1.0 / 6.0));
    vlm_eval_result_free(&r);
    /* threshold 0.25: 0.3 >= 0.25 keeps the row, same as without a threshold (diff 1) */
    c = cfg2(0.25f);
    CHECK(vlm_eval_metrics(ex1_ids, ex1_lab, pos, 13, &c, NULL, NULL, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 1 && r.turns[0].diff == 1);
    vlm_eval_result_free(&r);

    /* all lm argmax right: correct prefix = nl = 3 -> LM-Correctness 1; the
     * reply exactly at the last frame (argmax ',' at 2 and 5, "]\n" at 8):
     * diff = 3 - 2 - 1 = 0, Fluency (diff 0) = (nv + correct) / (nv + nl) = (3 + 3) / 6 = 1. */
    pos[5] = P(IV, 0.2, 0.9);
    pos[10] = P(7, 1.0, 0);
    c = cfg2(0.0f);
    CHECK(vlm_eval_metrics(ex1_ids, ex1_lab, pos, 13, &c, NULL, NULL, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 1 && r.turns[0].diff == 0 && r.turns[0].n_correct == 3 && near(r.lm_correctness, 1.0) &&
          near(r.fluency, 1.0));
    vlm_eval_result_free(&r);

    /* the interval token is id 0: a zeroed row's argmax (0) is then the interval
     * itself, i.e. silent. Same sample with ',' relabelled as 0. */
    int32_t ids0[13], lab0[13];
    for (int i = 0; i < 13; i++) {
        ids0[i] = ex1_ids[i] == IV ? 0 : ex1_ids[i];
        lab0[i] = ex1_lab[i] == IV ? 0 : ex1_lab[i];
    }
    ex1_pos(pos);
    pos[2].argmax = 0;          /* silent, P 0.3 */
    pos[5] = P(RESP, 0.2, 0.1); /* respond, P 0.1 < 0.5 -> zeroed -> argmax 0 -> silent */
    pos[8] = P(RESP, 0.3, 0.6); /* respond, kept -> first reply at index 2 -> diff 0 */
    c = cfg2(0.5f);
    c.interval_id = 0;
    CHECK(vlm_eval_metrics(ids0, lab0, pos, 13, &c, NULL, NULL, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 1 && r.turns[0].diff == 0);
    vlm_eval_result_free(&r);
}

/* Two turns plus trailing text.
 * turn 0, positions 0..10 (3 frames):
 *   id:    V  V  ,  V  V  ,  V  V  ]\n 6  eos
 *   label: -  ,  -  -  ,  -  -  ]\n 6  eos -
 *   stream {1, 4, 7} all argmax ',' (never fires); lm {8, 9}: argmax 6, eos
 *   (both right), CE ln2 each -> PPL 2, LM-Correctness 1.
 *   Not the last turn: the next turn has 4 frames, k = min(4, 3 - 1) = 2; the
 *   cache is kept up to the last stream position 7 (n_keep 8) and frames 3, 4
 *   of the sample are fed.
 * turn 1, positions 11..25 (4 frames):
 *   id:    7  V  V  ,  V  V  ,  V  V  ,  V  V  ]\n 5  eos
 *   label: -  -  ,  -  -  ,  -  -  ,  -  -  ]\n 5  eos -
 *   stream {13, 16, 19, 22} all silent: the last turn -> diff 0;
 *   lm {23, 24}: argmax 5 (right, CE 0), 7 (wrong, CE ln4) -> PPL exp(ln4/2) = 2,
 *   correct prefix 1 -> 1/2; Fluency (diff 0) = (4 + 1) / (4 + 2) = 5/6.
 * positions 26, 27 after the last eos (a labelled 7): ignored. */
static int32_t ex2_ids[28], ex2_lab[28];
static vlm_eval_pos ex2_pos[28];

static void ex2_build(void) {
    const int32_t ids[28] = {V, V, IV, V, V, IV, V, V, RESP, 6, EOS, 7, V, V, IV, V, V, IV, V, V, IV, V, V, RESP,
                             5, EOS, 7, 6};
    for (int i = 0; i < 28; i++) {
        ex2_ids[i] = ids[i];
        ex2_lab[i] = NONE;
        ex2_pos[i] = P(0, 0, 0);
    }
    ex2_lab[1] = IV; ex2_lab[4] = IV; ex2_lab[7] = RESP; ex2_lab[8] = 6; ex2_lab[9] = EOS;
    ex2_pos[1] = ex2_pos[4] = ex2_pos[7] = P(IV, 0.1, 0.8);
    ex2_pos[8] = P(6, log(2.0), 0);
    ex2_pos[9] = P(EOS, log(2.0), 0);
    ex2_lab[13] = IV; ex2_lab[16] = IV; ex2_lab[19] = IV; ex2_lab[22] = RESP; ex2_lab[23] = 5; ex2_lab[24] = EOS;
    ex2_pos[13] = ex2_pos[16] = ex2_pos[19] = ex2_pos[22] = P(IV, 0.1, 0.7);
    ex2_pos[23] = P(5, 0.0, 0);
    ex2_pos[24] = P(7, log(4.0), 0);
    ex2_lab[26] = 6; /* after the last eos */
    ex2_pos[26] = P(5, 9.0, 0);
}

static void test_lookahead(void) {
    ex2_build();
    vlm_eval_config c = cfg2(0.0f);
    vlm_eval_result r;
    char err[256];

    /* the look-ahead fires at its second frame (j = 1): diff = -(1 + 1) = -2;
     * Fluency (diff < 0) = (nv - 1) / (nv + nl) = (3 - 1) / 5 = 2/5.
     * Sample: PPL (2 + 2)/2 = 2; Correctness (1 + 1/2)/2 = 3/4;
     * frame_diff (|-2| + 0)/2 = 1; Fluency (2/5 + 5/6)/2 = 37/60. */
    const vlm_eval_pos late[2] = {P(IV, 0, 0.6), P(RESP, 0, 0.2)};
    script s = {.rows = late, .n_rows = 2};
    CHECK(vlm_eval_metrics(ex2_ids, ex2_lab, ex2_pos, 28, &c, scripted, &s, &r, err, sizeof err) == VLM_OK);
    CHECK(s.calls == 1 && s.keep == 8 && s.first == 3 && s.n == 2);
    CHECK(r.n_turns == 2);
    CHECK(r.turns[0].n_frames == 3 && r.turns[0].diff == -2 && r.turns[0].lookahead == 2);
    CHECK(near(r.turns[0].ppl, 2.0) && near(r.turns[0].correctness, 1.0) && near(r.turns[0].fluency, 0.4));
    CHECK(r.turns[1].start == 11 && r.turns[1].stop == 26 && r.turns[1].n_frames == 4 && r.turns[1].diff == 0 &&
          r.turns[1].lookahead == 0);
    CHECK(near(r.turns[1].ppl, 2.0) && near(r.turns[1].correctness, 0.5) && near(r.turns[1].fluency, 5.0 / 6.0));
    CHECK(near(r.lm_ppl, 2.0) && near(r.lm_correctness, 0.75) && near(r.frame_diff, 1.0) &&
          near(r.fluency, 37.0 / 60.0));
    vlm_eval_result_free(&r);

    /* the look-ahead never fires: diff = -k = -2 (Fluency still 2/5) */
    const vlm_eval_pos silent[1] = {P(IV, 0, 0.6)};
    script s2 = {.rows = silent, .n_rows = 1};
    CHECK(vlm_eval_metrics(ex2_ids, ex2_lab, ex2_pos, 28, &c, scripted, &s2, &r, err, sizeof err) == VLM_OK);
    CHECK(s2.calls == 1 && r.n_turns == 2 && r.turns[0].diff == -2 && near(r.turns[0].fluency, 0.4));
    vlm_eval_result_free(&r);

    /* threshold 0.65 zeroes the first look-ahead row (P 0.6): fires at j = 0,
     * diff -1. In the turns themselves the rows keep P 0.8 / 0.7 >= 0.65. */
    c = cfg2(0.65f);
    script s3 = {.rows = silent, .n_rows = 1};
    CHECK(vlm_eval_metrics(ex2_ids, ex2_lab, ex2_pos, 28, &c, scripted, &s3, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 2 && r.turns[0].diff == -1 && r.turns[1].diff == 0 && near(r.frame_diff, 0.5));
    vlm_eval_result_free(&r);
    /* threshold 0.75 also zeroes turn 1's rows (0.7): it fires at its first
     * frame, diff = 4 - 0 - 1 = 3, Fluency (4 - 3) / 6 */
    c = cfg2(0.75f);
    script s4 = {.rows = silent, .n_rows = 1};
    CHECK(vlm_eval_metrics(ex2_ids, ex2_lab, ex2_pos, 28, &c, scripted, &s4, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 2 && r.turns[0].diff == -1 && r.turns[1].diff == 3 && near(r.turns[1].fluency, 1.0 / 6.0));
    vlm_eval_result_free(&r);

    /* a look-ahead is needed but none is given, or it fails: errors */
    c = cfg2(0.0f);
    CHECK(vlm_eval_metrics(ex2_ids, ex2_lab, ex2_pos, 28, &c, NULL, NULL, &r, err, sizeof err) ==
          VLM_ERR_INVALID_ARG);
    CHECK(r.n_turns == 0 && r.turns == NULL);
    script s5 = {.rows = silent, .n_rows = 1, .fail = VLM_ERR_CTX_FULL};
    CHECK(vlm_eval_metrics(ex2_ids, ex2_lab, ex2_pos, 28, &c, scripted, &s5, &r, err, sizeof err) ==
          VLM_ERR_CTX_FULL);
    CHECK(strstr(err, "look-ahead") != NULL);

    /* the next turn has fewer frames than this one: k = min(1, 3 - 1) = 1.
     * Turn 1 keeps a single frame (positions 11..13 + text); the callback is
     * asked for 1 frame starting at frame 3. */
    int32_t ids[17], lab[17];
    vlm_eval_pos pos[17];
    for (int i = 0; i < 11; i++) { ids[i] = ex2_ids[i]; lab[i] = ex2_lab[i]; pos[i] = ex2_pos[i]; }
    const int32_t tail_ids[6] = {7, V, V, RESP, 5, EOS};
    for (int i = 0; i < 6; i++) { ids[11 + i] = tail_ids[i]; lab[11 + i] = NONE; pos[11 + i] = P(0, 0, 0); }
    lab[13] = RESP;
    pos[13] = P(RESP, 0, 0.1);
    script s6 = {.rows = silent, .n_rows = 1};
    CHECK(vlm_eval_metrics(ids, lab, pos, 17, &c, scripted, &s6, &r, err, sizeof err) == VLM_OK);
    CHECK(s6.calls == 1 && s6.first == 3 && s6.n == 1 && s6.keep == 8);
    /* turn 0: diff -1; turn 1: fires at its only frame, diff 1 - 0 - 1 = 0 (no lm: no fluency) */
    CHECK(r.n_turns == 2 && r.turns[0].diff == -1 && r.turns[1].diff == 0 && !r.turns[1].has_lm &&
          !r.turns[1].has_fluency);
    /* sample Fluency: only turn 0 -> 2/5; frame_diff (1 + 0)/2; PPL only turn 0 = 2 */
    CHECK(near(r.fluency, 0.4) && near(r.frame_diff, 0.5) && near(r.lm_ppl, 2.0) && near(r.lm_correctness, 1.0));
    vlm_eval_result_free(&r);
}

/* k = 0 cases and skipped turns.
 * (a) turn 0 has a single frame: k = min(next, 1 - 1) = 0 -> diff 0, no call.
 *     id: V V ]\n 6 eos | 7 V V , V V ]\n 5 eos
 *     turn 0: stream {1} silent; lm {2, 3} right -> Fluency (diff 0) = (1 + 2) / 3 = 1.
 * (b) the next turn has no frames: k = min(0, 3 - 1) = 0 -> diff 0.
 * (c) a turn without labels between: it is skipped, but it still counts as
 *     "the next turn" (its frames give k) and turn 0 is not the last one. */
static void test_k_zero_and_skips(void) {
    vlm_eval_config c = cfg2(0.0f);
    vlm_eval_result r;
    char err[256];
    script s = {.rows = (const vlm_eval_pos[]){P(RESP, 0, 0)}, .n_rows = 1};

    const int32_t a_ids[14] = {V, V, RESP, 6, EOS, 7, V, V, IV, V, V, RESP, 5, EOS};
    int32_t a_lab[14];
    vlm_eval_pos a_pos[14];
    for (int i = 0; i < 14; i++) { a_lab[i] = NONE; a_pos[i] = P(0, 0, 0); }
    a_lab[1] = RESP; a_pos[1] = P(IV, 0, 0.9);
    a_lab[2] = 6; a_pos[2] = P(6, 0, 0);
    a_lab[3] = EOS; a_pos[3] = P(EOS, 0, 0);
    CHECK(vlm_eval_metrics(a_ids, a_lab, a_pos, 14, &c, scripted, &s, &r, err, sizeof err) == VLM_OK);
    CHECK(s.calls == 0 && r.n_turns == 1 && r.turns[0].diff == 0 && r.turns[0].lookahead == 0 &&
          near(r.turns[0].fluency, 1.0));
    /* turn 1 has no labels: skipped, and the sample values are turn 0's */
    CHECK(near(r.lm_ppl, 1.0) && near(r.frame_diff, 0.0) && near(r.fluency, 1.0));
    vlm_eval_result_free(&r);

    /* (b) turn 0 = ex2's first turn (3 frames, never fires), turn 1 text only */
    ex2_build();
    int32_t b_ids[14], b_lab[14];
    vlm_eval_pos b_pos[14];
    for (int i = 0; i < 11; i++) { b_ids[i] = ex2_ids[i]; b_lab[i] = ex2_lab[i]; b_pos[i] = ex2_pos[i]; }
    const int32_t b_tail[3] = {7, 5, EOS};
    for (int i = 0; i < 3; i++) { b_ids[11 + i] = b_tail[i]; b_lab[11 + i] = NONE; b_pos[11 + i] = P(0, 0, 0); }
    b_lab[12] = EOS; b_pos[12] = P(5, log(8.0), 0); /* turn 1: lm only, wrong, PPL 8, Correctness 0 */
    s.calls = 0;
    CHECK(vlm_eval_metrics(b_ids, b_lab, b_pos, 14, &c, scripted, &s, &r, err, sizeof err) == VLM_OK);
    CHECK(s.calls == 0 && r.n_turns == 2 && r.turns[0].diff == 0 && r.turns[0].lookahead == 0);
    /* turn 0: Fluency (diff 0) = (3 + 2) / 5 = 1; turn 1: no stream, no Fluency.
     * Sample: PPL (2 + 8)/2 = 5; Correctness (1 + 0)/2; frame_diff 0; Fluency 1 */
    CHECK(!r.turns[1].has_diff && near(r.turns[1].ppl, 8.0) && r.turns[1].n_correct == 0);
    CHECK(near(r.lm_ppl, 5.0) && near(r.lm_correctness, 0.5) && near(r.frame_diff, 0.0) && near(r.fluency, 1.0));
    vlm_eval_result_free(&r);

    /* (c) ex2 with turn 1's labels removed: turn 0 still looks ahead over
     * min(4, 2) = 2 frames (from frame 3), turn 1 is skipped */
    for (int i = 11; i < 28; i++) ex2_lab[i] = NONE;
    s.calls = 0;
    CHECK(vlm_eval_metrics(ex2_ids, ex2_lab, ex2_pos, 28, &c, scripted, &s, &r, err, sizeof err) == VLM_OK);
    CHECK(s.calls == 1 && s.n == 2 && s.first == 3 && r.n_turns == 1 && r.turns[0].diff == -1);
    CHECK(near(r.frame_diff, 1.0) && near(r.fluency, 0.4));
    vlm_eval_result_free(&r);
}

/* Defaults: no eos at all (no turns), or turns with labels of one kind only. */
static void test_defaults(void) {
    vlm_eval_config c = cfg2(0.0f);
    vlm_eval_result r;
    char err[256];
    /* no eos: no turn; PPL 1, Correctness 1, frame_diff 0, Fluency 1 */
    const int32_t ids[4] = {5, V, V, 6};
    const int32_t lab[4] = {NONE, NONE, 6, NONE};
    vlm_eval_pos pos[4] = {P(0, 0, 0), P(0, 0, 0), P(5, 3.0, 0), P(0, 0, 0)};
    CHECK(vlm_eval_metrics(ids, lab, pos, 4, &c, NULL, NULL, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 0 && r.lm_ppl == 1.0 && r.lm_correctness == 1.0 && r.frame_diff == 0.0 && r.fluency == 1.0);
    vlm_eval_result_free(&r);
    /* an empty sample */
    CHECK(vlm_eval_metrics(NULL, NULL, NULL, 0, &c, NULL, NULL, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 0 && r.lm_ppl == 1.0 && r.fluency == 1.0);
    /* stream only (the last turn, fires at its first of 2 frames): diff = 2 - 0 - 1 = 1;
     * no lm -> PPL 1, Correctness 1, no Fluency -> 1 */
    const int32_t s_ids[7] = {V, V, IV, V, V, RESP, EOS};
    const int32_t s_lab[7] = {NONE, IV, NONE, NONE, RESP, NONE, NONE};
    vlm_eval_pos s_pos[7] = {P(0, 0, 0), P(RESP, 0, 0.1), P(0, 0, 0), P(0, 0, 0), P(RESP, 0, 0.1), P(0, 0, 0),
                             P(0, 0, 0)};
    CHECK(vlm_eval_metrics(s_ids, s_lab, s_pos, 7, &c, NULL, NULL, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 1 && r.turns[0].diff == 1 && !r.turns[0].has_lm && !r.turns[0].has_fluency);
    CHECK(r.lm_ppl == 1.0 && r.lm_correctness == 1.0 && near(r.frame_diff, 1.0) && r.fluency == 1.0);
    vlm_eval_result_free(&r);
    /* bad arguments */
    CHECK(vlm_eval_metrics(ids, lab, NULL, 4, &c, NULL, NULL, &r, err, sizeof err) == VLM_ERR_INVALID_ARG);
    c.frame_num_tokens = 0;
    CHECK(vlm_eval_metrics(ids, lab, pos, 4, &c, NULL, NULL, &r, err, sizeof err) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_eval_metrics(ids, lab, pos, 4, NULL, NULL, NULL, &r, err, sizeof err) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_eval_metrics(ids, lab, pos, 4, &c, NULL, NULL, NULL, err, sizeof err) == VLM_ERR_INVALID_ARG);
    vlm_eval_result_free(NULL);
    /* the data-file entry point refuses NULLs without a model */
    vlm_eval_summary sum;
    CHECK(vlm_eval_file(NULL, "x", NULL, NULL, NULL, &sum, err, sizeof err) == VLM_ERR_INVALID_ARG);
    vlm_eval_params ep = vlm_eval_default_params();
    CHECK(ep.threshold == 0.0f && ep.n_threads > 0 && ep.n_batch > 0);
}

/* live1: one <v> per frame, no interval token, eos is both the turn end and
 * the "stay silent" answer (the collator turns the <v> labels into eos).
 *   pos:   0  1  2  3  4  5   | 6  7  8  9  10
 *   id:    V  V  V  5  6  eos | 7  V  V  5  eos
 *   label: eos eos 5  6  eos - | -  eos 5  eos -
 * turn 0: stream {0, 1, 2} (labelled <v>), all argmax eos -> never replies;
 * k = min(2 frames next, 3 - 1) = 2, keep 3,
 * from frame 3; the look-ahead replies at j = 0 -> diff -1.
 * lm {3, 4}: right -> Fluency (diff < 0) = (3 - 1) / (3 + 2) = 2/5. */
static void test_live1(void) {
    const int32_t ids[11] = {V, V, V, 5, 6, EOS, 7, V, V, 5, EOS};
    const int32_t lab[11] = {EOS, EOS, 5, 6, EOS, NONE, NONE, EOS, 5, EOS, NONE};
    vlm_eval_pos pos[11];
    for (int i = 0; i < 11; i++) pos[i] = P(0, 0, 0);
    pos[0] = pos[1] = pos[2] = P(EOS, 0.1, 0.9);
    pos[3] = P(6, 0, 0);
    pos[4] = P(EOS, 0, 0);
    pos[7] = P(EOS, 0, 0.8);
    pos[8] = P(5, 0, 0.1);
    pos[9] = P(EOS, 0, 0);
    vlm_eval_config c = {.v_id = V, .interval_id = EOS, .eos_id = EOS, .use_interval = false,
                         .frame_num_tokens = 1, .threshold = 0.0f};
    script s = {.rows = (const vlm_eval_pos[]){P(5, 0, 0.2)}, .n_rows = 1};
    vlm_eval_result r;
    char err[256];
    CHECK(vlm_eval_metrics(ids, lab, pos, 11, &c, scripted, &s, &r, err, sizeof err) == VLM_OK);
    CHECK(s.calls == 1 && s.keep == 3 && s.first == 3 && s.n == 2);
    CHECK(r.n_turns == 2 && r.turns[0].n_stream == 3 && r.turns[0].n_lm == 2 && r.turns[0].diff == -1 &&
          near(r.turns[0].fluency, 0.4));
    /* turn 1: stream {7, 8}; replies at index 1 (pos 8) -> diff 2 - 1 - 1 = 0; lm {9} right -> Fluency (2+1)/3 */
    CHECK(r.turns[1].n_stream == 2 && r.turns[1].diff == 0 && near(r.turns[1].fluency, 1.0));
    vlm_eval_result_free(&r);
}

/* Baselines on ex2 (turn 0: frames 0-2, stream {1, 4, 7}, lm {8, 9};
 * turn 1: frames 3-6, stream {13, 16, 19, 22}, lm {23, 24}; 2 <v> per frame).
 * A baseline never gets a word right (argmax -1 at lm positions): n_correct 0.
 * silent: turn 0 never fires, k = min(4, 3 - 1) = 2 silent look-ahead frames
 *   -> diff -2, Fluency (diff < 0) = (3 - 1) / (3 + 2) = 2/5; turn 1 is the
 *   last -> diff 0, Fluency (diff 0) = (4 + 0) / (4 + 2) = 2/3.
 *   frame_diff (2 + 0) / 2 = 1 (TimeDiff 0.5 s at 2 fps); Fluency
 *   (2/5 + 2/3) / 2 = 8/15.
 * every:2 (speaks after absolute frames 1, 3, 5, ...), frame_start 0:
 *   turn 0 fires at frame 1 = stream index 1 -> diff 3 - 1 - 1 = 1, Fluency
 *   (3 - 1) / 5 = 2/5; turn 1 fires at frame 3 = index 0 -> diff 4 - 0 - 1 = 3,
 *   Fluency (4 - 3) / 6 = 1/6. frame_diff (1 + 3) / 2 = 2 (TimeDiff 1 s at
 *   2 fps); Fluency (2/5 + 1/6) / 2 = 17/60.
 * every:2 with frame_start 1 (sample frame f is video frame f + 1, so it
 *   speaks at f = 0, 2, 4, 6): turn 0 index 0 -> diff 2, Fluency 1/5; turn 1
 *   f = 4 = index 1 -> diff 2, Fluency (4 - 2) / 6 = 1/3. frame_diff 2.
 * every:4 (frames 3, 7, ...): turn 0 never fires, the look-ahead over frames
 *   3, 4 fires at j = 0 -> diff -1, Fluency 2/5; turn 1 fires at frame 3 =
 *   index 0 -> diff 3, Fluency 1/6. frame_diff (1 + 3) / 2 = 2. */
static void test_baselines(void) {
    ex2_build();
    vlm_eval_config c = cfg2(0.0f);
    vlm_eval_result r;
    vlm_eval_baseline b;
    double pf[7];
    char err[256];

    CHECK(vlm_eval_baseline_parse("silent", &b, err, sizeof err) == VLM_OK && b.kind == VLM_BASELINE_SILENT);
    CHECK(vlm_eval_baseline_metrics(ex2_ids, ex2_lab, 28, &c, &b, 0, pf, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 2 && r.turns[0].diff == -2 && r.turns[0].lookahead == 2 && r.turns[1].diff == 0);
    CHECK(r.turns[0].n_correct == 0 && r.turns[1].n_correct == 0);
    CHECK(near(r.turns[0].fluency, 0.4) && near(r.turns[1].fluency, 2.0 / 3.0));
    CHECK(near(r.frame_diff, 1.0) && near(r.fluency, 8.0 / 15.0));
    CHECK(isnan(r.lm_ppl) && isnan(r.lm_correctness) && isnan(r.turns[0].ppl) && isnan(r.turns[1].correctness));
    for (int f = 0; f < 7; f++) CHECK(pf[f] == 1.0);
    vlm_eval_result_free(&r);

    CHECK(vlm_eval_baseline_parse("every:2", &b, err, sizeof err) == VLM_OK && b.kind == VLM_BASELINE_EVERY &&
          b.every == 2);
    CHECK(vlm_eval_baseline_metrics(ex2_ids, ex2_lab, 28, &c, &b, 0, pf, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 2 && r.turns[0].diff == 1 && r.turns[1].diff == 3 && r.turns[0].lookahead == 0);
    CHECK(near(r.turns[0].fluency, 0.4) && near(r.turns[1].fluency, 1.0 / 6.0));
    CHECK(near(r.frame_diff, 2.0) && near(r.fluency, 17.0 / 60.0) && isnan(r.lm_ppl));
    for (int f = 0; f < 7; f++) CHECK(pf[f] == (f % 2 ? 0.0 : 1.0));
    vlm_eval_result_free(&r);
    /* a threshold changes nothing: P(interval) is 1 (kept) or 0 (zeroed -> argmax 0, not ',') */
    c = cfg2(0.5f);
    CHECK(vlm_eval_baseline_metrics(ex2_ids, ex2_lab, 28, &c, &b, 0, NULL, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 2 && r.turns[0].diff == 1 && r.turns[1].diff == 3);
    vlm_eval_result_free(&r);
    c = cfg2(0.0f);

    CHECK(vlm_eval_baseline_metrics(ex2_ids, ex2_lab, 28, &c, &b, 1, pf, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 2 && r.turns[0].diff == 2 && r.turns[1].diff == 2);
    CHECK(near(r.turns[0].fluency, 0.2) && near(r.turns[1].fluency, 1.0 / 3.0) && near(r.frame_diff, 2.0));
    CHECK(pf[0] == 0.0 && pf[1] == 1.0 && pf[6] == 0.0);
    vlm_eval_result_free(&r);

    CHECK(vlm_eval_baseline_parse("every:4", &b, err, sizeof err) == VLM_OK);
    CHECK(vlm_eval_baseline_metrics(ex2_ids, ex2_lab, 28, &c, &b, 0, NULL, &r, err, sizeof err) == VLM_OK);
    CHECK(r.n_turns == 2 && r.turns[0].diff == -1 && r.turns[0].lookahead == 2 && r.turns[1].diff == 3);
    CHECK(near(r.turns[0].fluency, 0.4) && near(r.frame_diff, 2.0));
    vlm_eval_result_free(&r);

    /* every:1 speaks at every frame; parse errors; bad arguments */
    CHECK(vlm_eval_baseline_parse("every:1", &b, err, sizeof err) == VLM_OK && vlm_eval_baseline_speaks(&b, 0) &&
          vlm_eval_baseline_speaks(&b, 5));
    const char *bad[] = {"every:0", "every:", "every:3x", "every:-1", "every: 3", "loud", "", "every:99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(vlm_eval_baseline_parse(bad[i], &b, err, sizeof err) == VLM_ERR_INVALID_ARG, "\"%s\"", bad[i]);
    b = (vlm_eval_baseline){.kind = VLM_BASELINE_EVERY, .every = 0};
    CHECK(vlm_eval_baseline_metrics(ex2_ids, ex2_lab, 28, &c, &b, 0, NULL, &r, err, sizeof err) ==
          VLM_ERR_INVALID_ARG);
    b = (vlm_eval_baseline){.kind = VLM_BASELINE_SILENT};
    CHECK(vlm_eval_baseline_metrics(ex2_ids, ex2_lab, 28, &c, &b, -1, NULL, &r, err, sizeof err) ==
          VLM_ERR_INVALID_ARG);
    CHECK(vlm_eval_baseline_metrics(ex2_ids, ex2_lab, 28, NULL, &b, 0, NULL, &r, err, sizeof err) ==
          VLM_ERR_INVALID_ARG);
    vlm_eval_summary sum;
    vlm_eval_baseline_params bp = vlm_eval_baseline_default_params();
    CHECK(bp.baseline.kind == VLM_BASELINE_SILENT && bp.live_version == VLM_LIVE_V1PLUS && bp.threshold == 0.0f);
    CHECK(vlm_eval_baseline_file(NULL, "x", &bp, NULL, NULL, &sum, err, sizeof err) == VLM_ERR_INVALID_ARG);
}

int main(void) {
    test_live1();
    test_summarize();
    test_fires_early();
    test_lookahead();
    test_k_zero_and_skips();
    test_defaults();
    test_baselines();
    return check_done("test_eval");
}
