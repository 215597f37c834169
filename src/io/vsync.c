/* vsync.c - see vsync.h. The thresholds (1.1 periods to drop or duplicate,
 * 0.6 for re-emitting the previous frame, the median of the last three
 * duplication counts at the end) are FFmpeg's; they are what makes the
 * sampled frames of the original differ from a plain nearest-frame pick. */
#include "io/vsync.h"

#include <math.h>

void vlm_vsync_init(vlm_vsync *vs, bool vscfr) {
    vs->vscfr = vscfr;
    vs->next_index = 0;
    vs->n_out = 0;
    vs->last_nb0[0] = vs->last_nb0[1] = vs->last_nb0[2] = 0;
    vs->last_dropped = false;
}

/* FFmpeg rounds with rint (ties to even), some values through float. */
static int64_t rint_d(double x) { return (int64_t)llrint(x); }
static int64_t rint_f(double x) { return (int64_t)llrintf((float)x); }

void vlm_vsync_push(vlm_vsync *vs, double pts, double duration, int64_t *n_prev, int64_t *n_total) {
    double drift = pts - (double)vs->next_index; /* where this frame falls vs the next slot */
    double delta = drift + duration;
    int64_t nb0 = 0, nb = 1;

    if (drift < 0 && delta > 0) {
        /* the frame starts before its slot but still covers it: clip it */
        pts = (double)vs->next_index;
        duration += drift;
        drift = 0;
    }
    if (vs->vscfr && vs->n_out == 0 && drift >= 0.5) {
        /* a late first frame is not duplicated back to time 0 */
        delta = duration;
        drift = 0;
        vs->next_index = rint_d(pts);
    }
    if (delta < -1.1) {
        nb = 0;
    } else if (delta > 1.1) {
        nb = rint_f(delta);
        if (drift > 1.1) nb0 = rint_f(drift - 0.6);
    }
    if (nb0 > nb) nb0 = nb;

    vs->last_nb0[2] = vs->last_nb0[1];
    vs->last_nb0[1] = vs->last_nb0[0];
    vs->last_nb0[0] = (int)(nb0 > 1000000 ? 1000000 : nb0);
    vs->last_dropped = (nb == nb0);
    vs->next_index += nb;
    vs->n_out += nb;
    *n_prev = nb0;
    *n_total = nb;
}

int64_t vlm_vsync_flush(vlm_vsync *vs) {
    int a = vs->last_nb0[0], b = vs->last_nb0[1], c = vs->last_nb0[2];
    int mid = a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
    vs->next_index += mid;
    vs->n_out += mid;
    return mid;
}
