/* augment.c - the original's training-time augmentation (StreamMixIn.augment
 * in data/stream.py), which teaches the model not to trust its own earlier
 * replies: one non-final learned assistant turn is replaced by a wrong one
 * (another turn's text, '' or nothing at all), and either the wrong reply is
 * corrected one frame later ("fix" branch, p = 0.5) or the video continues
 * without it. Draw order per call: the turn, the fake text, the branch bit. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "train/prepare.h"

#define SORRY "(Sorry, the last response is wrong) "

/* Replace msgs[at, at + del) by the n_new messages rep (contents owned by
 * rep, moved in). */
static vlm_status splice(vlm_prep_sample *s, size_t at, size_t del, vlm_prep_msg *rep, size_t n_new) {
    size_t n = s->n - del + n_new;
    if (n > s->cap) {
        vlm_prep_msg *m = realloc(s->msgs, n * sizeof *m);
        if (!m) return VLM_ERR_OOM;
        s->msgs = m;
        s->cap = n;
    }
    for (size_t i = at; i < at + del; i++) free(s->msgs[i].content);
    memmove(s->msgs + at + n_new, s->msgs + at + del, (s->n - at - del) * sizeof *s->msgs);
    memcpy(s->msgs + at, rep, n_new * sizeof *rep);
    s->n = n;
    return VLM_OK;
}

static vlm_prep_msg stream_msg(int64_t frames, vlm_prep_learn_kind lk, int64_t learn) {
    vlm_prep_msg m;
    memset(&m, 0, sizeof m);
    m.role = VLM_ROLE_STREAM;
    m.num_frames = frames;
    m.learn_kind = lk;
    m.learn = learn;
    return m;
}

static int text_msg(vlm_prep_msg *m, const char *prefix, const char *text, int64_t learn) {
    memset(m, 0, sizeof *m);
    m->role = VLM_ROLE_ASSISTANT;
    m->learn_kind = VLM_PREP_LEARN_BOOL;
    m->learn = learn;
    size_t a = strlen(prefix), b = strlen(text);
    if (!(m->content = malloc(a + b + 1))) return 0;
    memcpy(m->content, prefix, a);
    memcpy(m->content + a, text, b + 1);
    return 1;
}

static int learned_assistant(const vlm_prep_msg *m) {
    return m->role == VLM_ROLE_ASSISTANT && m->learn_kind != VLM_PREP_LEARN_NONE && m->learn != 0;
}

static int is_stream(const vlm_prep_sample *s, size_t i) {
    return i < s->n && s->msgs[i].role == VLM_ROLE_STREAM;
}

vlm_status vlm_prep_augment(vlm_prep_sample *s, vlm_prep_rng *rng, char *err, size_t err_size) {
    size_t na = 0;
    for (size_t i = 0; i < s->n; i++) na += learned_assistant(&s->msgs[i]);
    if (na <= 1) return VLM_OK;
    size_t *idx = malloc(na * sizeof *idx);
    const char **fakes = malloc((na + 2) * sizeof *fakes);
    if (!idx || !fakes) {
        free(idx);
        free(fakes);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    na = 0;
    for (size_t i = 0; i < s->n; i++)
        if (learned_assistant(&s->msgs[i])) idx[na++] = i;
    /* not the last one: there is nothing after it to depend on it */
    const size_t i = idx[vlm_prep_randint(rng, 0, (int64_t)na - 2)];
    const char *real = s->msgs[i].content ? s->msgs[i].content : "";
    /* the other texts, once each, in order of first appearance (the original
     * uses a Python set, whose order varies run to run), then '' and None */
    size_t nf = 0;
    for (size_t k = 0; k < na; k++) {
        const char *c = s->msgs[idx[k]].content ? s->msgs[idx[k]].content : "";
        int seen = !strcmp(c, real);
        for (size_t j = 0; j < nf && !seen; j++) seen = !strcmp(fakes[j], c);
        if (!seen) fakes[nf++] = c;
    }
    fakes[nf++] = "";
    fakes[nf++] = NULL;
    const char *fake = fakes[vlm_prep_randint(rng, 0, (int64_t)nf - 1)];
    const int fix = (int)(vlm_prep_rng_next(rng) >> 63);
    free(idx);
    free(fakes);

    vlm_prep_msg rep[4];
    memset(rep, 0, sizeof rep);
    size_t at = 0, del = 0, nr = 0;
    int ok = 1;
    /* msgs[i + 1] exists: a later learned assistant turn follows i */
    const int next_stream = is_stream(s, i + 1), prev_stream = i > 0 && is_stream(s, i - 1);
    const int64_t next_n = next_stream ? s->msgs[i + 1].num_frames : 0;
    const int64_t prev_n = prev_stream ? s->msgs[i - 1].num_frames : 0;
    if (fix) {
        if (fake && next_stream && next_n > 1) {
            /* fake (unlearned), 1 frame, the corrected reply, the rest of the stream */
            ok = text_msg(&rep[0], "", fake, 0) && text_msg(&rep[2], SORRY, real, 1);
            rep[1] = stream_msg(1, VLM_PREP_LEARN_BOOL, 1);
            rep[3] = stream_msg(next_n - 1, VLM_PREP_LEARN_BOOL, 1);
            at = i, del = 2, nr = 4;
        } else if (!fake && prev_stream && next_stream && next_n > 1) {
            /* the reply one frame later: the frame it was due on learns ',' */
            ok = text_msg(&rep[1], "", real, 1);
            rep[0] = stream_msg(prev_n + 1, VLM_PREP_LEARN_INT, prev_n - 1);
            rep[2] = stream_msg(next_n - 1, VLM_PREP_LEARN_BOOL, 1);
            at = i - 1, del = 3, nr = 3;
        }
    } else if (fake) {
        /* the wrong reply stays, unlearned, and so does the stream after it */
        ok = text_msg(&rep[0], "", fake, 0);
        if (next_stream) {
            rep[1] = stream_msg(next_n, VLM_PREP_LEARN_BOOL, 0);
            at = i, del = 2, nr = 2;
        } else
            at = i, del = 1, nr = 1;
    } else if (prev_stream) {
        /* no reply: the previous stream's last frame is not learned */
        if (!next_stream) {
            rep[0] = stream_msg(prev_n, VLM_PREP_LEARN_INT, prev_n - 1);
            at = i - 1, del = 2, nr = 1;
        } else {
            rep[0] = stream_msg(prev_n + next_n, VLM_PREP_LEARN_INT, prev_n - 1);
            at = i - 1, del = 3, nr = 1;
        }
    } else if (next_stream) {
        rep[0] = stream_msg(next_n, VLM_PREP_LEARN_BOOL, 0);
        at = i, del = 2, nr = 1;
    } else
        at = i, del = 1, nr = 0;
    vlm_status st = ok ? (del ? splice(s, at, del, rep, nr) : VLM_OK) : VLM_ERR_OOM;
    if (st) {
        for (size_t k = 0; k < 4; k++) free(rep[k].content);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    return VLM_OK;
}

/* ---- per-epoch augmentation (videollm train --augmentation) ------------------------------------ */

/* splitmix64's first output from state x */
static uint64_t mix(uint64_t x) {
    vlm_prep_rng r = {x};
    return vlm_prep_rng_next(&r);
}

vlm_prep_rng vlm_prep_rng_epoch(uint64_t seed, uint64_t epoch, uint64_t index) {
    return vlm_prep_rng_seed(mix(mix(mix(seed) + epoch) + index), 4);
}

vlm_status vlm_prep_augment_epoch(const vlm_prep_sample *src, uint64_t seed, uint64_t epoch, uint64_t index,
                                  vlm_prep_sample *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    out->frame_start = src->frame_start;
    out->frame_end = src->frame_end;
    for (size_t i = 0; i < src->n; i++) {
        const vlm_prep_msg *m = &src->msgs[i];
        if (vlm_prep_push(out, m->role, m->content, m->num_frames, m->learn_kind, m->learn)) {
            vlm_prep_sample_free(out);
            return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        }
    }
    vlm_prep_rng r = vlm_prep_rng_epoch(seed, epoch, index);
    vlm_status st = vlm_prep_augment(out, &r, err, err_size);
    if (st) vlm_prep_sample_free(out);
    return st;
}
