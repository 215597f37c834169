/* dataset.c - narration streams in VideoLLM-online's format from the events
 * of a synthetic clip (the Ego4D narration-stream construction of the
 * original, section 3.2 of its data code), plus user questions answered from
 * the scene state.
 *
 * Grid: frame r has time r/fps (fps 2). An event at tick k is answered right
 * after frame ceil(k * fps / TICK_HZ) (the original's ceil rule), or, when
 * the ticks the sampled video frames show are given, after the first sampled
 * frame that shows it; events landing on the same frame are joined into one
 * reply (the original keeps only the last text). The sample:
 *   system, stream(1, learn=false), user(instruction), assistant(first reply),
 *   then per reply stream(gap, learn=true) + assistant(text, learn=true);
 *   per question stream(gap, learn=gap-1) + user(question) + assistant(answer);
 *   a trailing stream to the end of the clip with learn=gap-1; with recap,
 *   then user(VLM_SYNTH_RECAP_QUESTION) + assistant(every reply, in order).
 * frames = [first reply frame, last frame + 1). */
#include <stdio.h>

#include "core/util.h"
#include "synth/synth.h"
#include "text/live_prompts.h"

static const char *const NUMBERS[9] = {"no", "one", "two", "three", "four", "five", "six", "seven", "eight"};

vlm_synth_dataset_params vlm_synth_dataset_default_params(void) {
    return (vlm_synth_dataset_params){.fps = 2, .question_every = 8, .seed = 0, .system_prompt = NULL};
}

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} jbuf;

static void jb_raw(jbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 1024) + n;
        char *np = realloc(b->p, cap);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void jb_str(jbuf *b, const char *s) { jb_raw(b, s, strlen(s)); }
static void jb_quoted(jbuf *b, const char *s) {
    jb_raw(b, "\"", 1);
    for (; *s; s++) {
        char e[8];
        if (*s == '"' || *s == '\\') { e[0] = '\\'; e[1] = *s; jb_raw(b, e, 2); }
        else if ((unsigned char)*s < 0x20) { snprintf(e, sizeof e, "\\u%04x", (unsigned char)*s); jb_raw(b, e, 6); }
        else jb_raw(b, s, 1);
    }
    jb_raw(b, "\"", 1);
}
static void jb_msg(jbuf *b, const char *role, const char *content, int learn) {
    jb_str(b, b->n > 1 ? ",\n {\"role\": \"" : "\n {\"role\": \"");
    jb_str(b, role);
    jb_str(b, "\", \"content\": ");
    jb_quoted(b, content);
    if (learn) jb_str(b, ", \"learn\": true");
    jb_str(b, "}");
}
static void jb_stream(jbuf *b, int64_t n, int64_t learn) { /* learn: -1 all, else int (0 = false) */
    char t[112], l[32];
    if (learn < 0) snprintf(l, sizeof l, "true");
    else if (learn == 0) snprintf(l, sizeof l, "false");
    else snprintf(l, sizeof l, "%lld", (long long)learn);
    snprintf(t, sizeof t, ",\n {\"role\": \"stream\", \"num_frames\": %lld, \"learn\": %s}", (long long)n, l);
    jb_str(b, t);
}

/* Answer to a question at tick from the scene state. */
static void answer(const vlm_synth_scene *s, int64_t tick, int kind, vlm_synth_rng *rng, const char *last_text,
                   char *q, size_t qn, char *a, size_t an) {
    size_t present[VLM_SYNTH_MAX_OBJECTS], n = 0;
    for (size_t o = 0; o < s->n_objects; o++)
        if (vlm_synth_cell_at(s, tick, o)->present) present[n++] = o;
    int per_shape[VLM_SYNTH_N_SHAPES] = {0};
    for (size_t i = 0; i < n; i++) per_shape[s->objects[present[i]].shape]++;
    int unique[VLM_SYNTH_N_SHAPES], nu = 0;
    for (int sh = 0; sh < VLM_SYNTH_N_SHAPES; sh++)
        if (per_shape[sh] == 1) unique[nu++] = sh;
    if (kind == 1 && nu) {
        int sh = unique[vlm_synth_rng_below(rng, (uint64_t)nu)];
        for (size_t i = 0; i < n; i++)
            if (s->objects[present[i]].shape == sh) {
                snprintf(q, qn, "What colour is the %s?", vlm_synth_shape_name(sh));
                snprintf(a, an, "The %s is %s.", vlm_synth_shape_name(sh),
                         vlm_synth_colour_name(vlm_synth_cell_at(s, tick, present[i])->colour));
            }
        return;
    }
    if (kind == 2 && last_text) {
        snprintf(q, qn, "What just happened?");
        snprintf(a, an, "%s", last_text);
        return;
    }
    snprintf(q, qn, "How many objects are there?");
    if (n == 1) snprintf(a, an, "There is one object.");
    else snprintf(a, an, "There are %s objects.", n < 9 ? NUMBERS[n] : "many");
}

vlm_status vlm_synth_conversation(const vlm_synth_scene *s, const vlm_synth_dataset_params *p, char **json,
                                  size_t *json_len, int64_t *frame_start, int64_t *frame_end, char *err,
                                  size_t err_size) {
    if (!s || !p || !json || !frame_start || !frame_end)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: conversation: NULL argument");
    *json = NULL;
    if (p->fps < 1 || p->fps > VLM_SYNTH_TICK_HZ)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: fps must be in [1, %d], got %d",
                           VLM_SYNTH_TICK_HZ, p->fps);
    if (!(p->question_every >= 0)) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: bad question_every");
    if (!s->n_events) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: the clip has no events");
    /* frames r with time r/fps inside the clip, or the sampled frames given */
    int64_t n_frames = (s->n_ticks - 1) * p->fps / VLM_SYNTH_TICK_HZ + 1;
    if (p->frame_ticks) {
        if (!p->n_frame_ticks || p->n_frame_ticks > (size_t)INT32_MAX)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: frame_ticks is empty or too long");
        for (size_t r = 0; r < p->n_frame_ticks; r++)
            if (p->frame_ticks[r] < 0 || p->frame_ticks[r] >= s->n_ticks ||
                (r && p->frame_ticks[r] < p->frame_ticks[r - 1]))
                return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                                   "synth: frame_ticks[%zu] = %lld is outside the clip or goes backwards", r,
                                   (long long)p->frame_ticks[r]);
        n_frames = (int64_t)p->n_frame_ticks;
    }
    /* replies: frame and joined text per distinct ceil frame */
    size_t n_ev = s->n_events;
    int64_t *rframe = malloc(n_ev * sizeof *rframe);
    char **rtext = calloc(n_ev, sizeof *rtext);
    char (*texts)[192] = NULL;
    size_t *order = NULL;
    jbuf b = {0};
    vlm_status st = VLM_OK;
    if (!rframe || !rtext) { st = VLM_ERR_OOM; goto done; }
    /* the order events are told in: tick order; with sort_joined, events of one tick (the objects of
     * tick 0, the collisions that end a move) by their text, so that a reply naming several has one
     * right order instead of the objects' creation order, which no frame shows */
    texts = malloc(n_ev * sizeof *texts);
    order = malloc(n_ev * sizeof *order);
    if (!texts || !order) { st = VLM_ERR_OOM; goto done; }
    for (size_t i = 0; i < n_ev; i++) {
        vlm_synth_event_text(s, i, texts[i], sizeof texts[i]);
        size_t j = i; /* insertion sort within a tick (events come in tick order) */
        while (p->sort_joined && j && s->events[order[j - 1]].tick == s->events[i].tick &&
               strcmp(texts[order[j - 1]], texts[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    size_t nr = 0;
    int64_t rs = 0; /* sampled frames: the search goes forward only (events are in tick order) */
    for (size_t k = 0; k < n_ev; k++) {
        size_t i = order[k];
        int64_t r = vlm_synth_ceil_frame(s->events[i].tick, p->fps);
        if (p->frame_ticks) {
            while (rs < n_frames && p->frame_ticks[rs] < s->events[i].tick) rs++;
            r = rs;
        }
        if (r >= n_frames) break; /* past the last frame: the original stops at duration */
        const char *t = texts[i];
        if (nr && rframe[nr - 1] == r) {
            size_t a = strlen(rtext[nr - 1]), c = strlen(t);
            char *nt = realloc(rtext[nr - 1], a + c + 2);
            if (!nt) { st = VLM_ERR_OOM; goto done; }
            nt[a] = ' ';
            memcpy(nt + a + 1, t, c + 1);
            rtext[nr - 1] = nt;
        } else {
            rframe[nr] = r;
            if (!(rtext[nr] = strdup(t))) { st = VLM_ERR_OOM; goto done; }
            nr++;
        }
    }
    if (!nr) {
        st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: no event inside the clip");
        goto done;
    }
    vlm_synth_rng rng;
    vlm_synth_rng_seed(&rng, p->seed ^ (s->p.seed * 0x9e3779b97f4a7c15ULL) ^ 0x5e7ULL);
    int64_t start = rframe[0], last = start;
    jb_str(&b, "[");
    jb_msg(&b, "system", p->system_prompt ? p->system_prompt : vlm_live_system_prompt, 0);
    jb_stream(&b, 1, 0);
    jb_msg(&b, "user", vlm_live_refined_instructions[vlm_synth_rng_below(&rng, VLM_LIVE_N_REFINED_INSTRUCTIONS)], 0);
    jb_msg(&b, "assistant", rtext[0], 1);
    /* questions: each frame without a reply gets one with probability 1 / (question_every * fps) */
    uint64_t qden = (uint64_t)(p->question_every * p->fps + 0.5);
    size_t ri = 1;
    const char *last_text = rtext[0];
    for (int64_t r = start + 1; r < n_frames; r++) {
        if (ri < nr && rframe[ri] == r) {
            jb_stream(&b, r - last, -1);
            jb_msg(&b, "assistant", rtext[ri], 1);
            last_text = rtext[ri];
            last = r;
            ri++;
            continue;
        }
        if (!qden || vlm_synth_rng_below(&rng, qden) != 0) continue;
        char q[96], a[192];
        int64_t tick = p->frame_ticks ? p->frame_ticks[r] : r * VLM_SYNTH_TICK_HZ / p->fps;
        if (tick >= s->n_ticks) tick = s->n_ticks - 1;
        answer(s, tick, (int)vlm_synth_rng_below(&rng, 3), &rng, last_text, q, sizeof q, a, sizeof a);
        jb_stream(&b, r - last, r - last - 1);
        jb_msg(&b, "user", q, 0);
        jb_msg(&b, "assistant", a, 1);
        last = r;
    }
    if (n_frames - 1 > last) {
        jb_stream(&b, n_frames - 1 - last, n_frames - 2 - last);
        if (p->recap) { /* the narration so far, repeated: text the model can copy from above */
            jbuf all = {0};
            for (size_t i = 0; i < nr; i++) {
                if (i) jb_raw(&all, " ", 1);
                jb_str(&all, rtext[i]);
            }
            jb_msg(&b, "user", VLM_SYNTH_RECAP_QUESTION, 0);
            jb_msg(&b, "assistant", all.p ? all.p : "", 1);
            b.oom |= all.oom;
            free(all.p);
        }
    }
    jb_str(&b, "\n]");
    if (b.oom) { st = VLM_ERR_OOM; goto done; }
    *frame_start = start;
    *frame_end = n_frames > last + 1 ? n_frames : last + 1;
    *json = b.p;
    if (json_len) *json_len = b.n;
    b.p = NULL;
done:
    free(texts);
    free(order);
    for (size_t i = 0; rtext && i < n_ev; i++) free(rtext[i]);
    free(rtext);
    free(rframe);
    free(b.p);
    if (st == VLM_ERR_OOM) return vlm_set_err(err, err_size, st, "synth: out of memory (conversation)");
    return st;
}
