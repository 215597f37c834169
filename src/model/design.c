/* design.c - a frozen vision tower built by construction for a world of flat
 * objects in a few known colours (vlm_vision_design; docs/model-format.md,
 * "The designed tower").
 *
 * A random frozen tower keeps colour and size but not shape in a form an LM
 * can read (docs/demo-model.md). In a flat-colour world the shape and size of
 * an object are given by its area (the known areas are distinct), and the
 * direction of a motion by the change of its first moments. So every patch
 * token is made to carry, exactly up to float rounding and a smooth ReLU:
 *
 *   M[s][c]   mean over quadrant s (2x2 per patch) of pixel - background, channel c   (patch embedding)
 *   E[s][k]   |<M[s], v_k1>| + |<M[s], v_k2>|, v_k. spanning colour k's complement   (layer 0 MLP)
 *   A[k]      sum over s of relu(<M[s], c_k>/|c_k|^2 - 2 E[s][k]) / 4: the fraction of
 *             the patch colour k covers (0 for any other colour)                     (layer 1 MLP)
 *   AX[k], AY[k]  A[k] * column / (g-1), A[k] * row / (g-1): gated by a thermometer
 *             code of the patch position in the position embedding (gate j of a patch
 *             is 1/2 when its column, or row, is >= j, else -1/2)                      (layer 1 MLP)
 *   W[4][k]   optional (moment_wave T): A[k] sin(2 pi col / T), A[k] cos(2 pi col / T),
 *             and the same of the row. Any f(col) A[k] is f(0) A[k] plus the sum over the
 *             gates j of (f(j) - f(j-1)) A[k] [col >= j], so these come from the same
 *             units as AX and AY: only more output rows                                 (layer 1 MLP)
 *
 * Every LayerNorm is made the identity on these dimensions: dimensions 0 and
 * 1 hold the constants +ANCHOR and -ANCHOR (patch bias) and dimension 2 minus
 * the sum of all others (every writer writes its negative sum there), so the
 * mean of a row is 0 and its std is the anchors' sqrt(2/D) ANCHOR to within a
 * factor 1 + 1e-3 (the features' own share); the norms' weight undoes that.
 * (A mean of exactly 0 matters: subtracting a large mean would round every
 * feature to the float spacing of that mean.) Attention branches are zero; layers past
 * the second are the identity.
 *
 * post_LN then standardises the features per dimension over the grid tokens
 * of the sample frames (as `videollm calibrate` does); every other dimension
 * (anchors, balance, position gates, unused) is 0. The MAP head attends
 * uniformly (zero query), so its attention output is the mean patch token;
 * its output projection turns that into the standardised frame-wide means
 * F (the area of each colour in the frame, its moments, ...). The head's MLP
 * adds, per colour and known area, a bin indicator: 1 when the colour's
 * area in the frame is that area (ramps of GELU pairs halfway between two
 * areas), and per group of areas (e.g. the areas of one shape) the sum of its
 * bins over the colours. With area_sums the bins also fire for a colour
 * whose area is the sum of two areas of distinct groups (both bins: two
 * objects of that colour). The head token is F plus those bins and groups,
 * standardised, all centred.
 *
 * Residual layout (nc colours, nb areas, g x g patches):
 *   0, 1 anchors | 2 balance | 3.. M [4][3] | gates x [g-1], y [g-1] | E [4][nc] |
 *   A [nc] | AX [nc] | AY [nc] | bins [nc][nb], groups [ng] (head token only) | W [4][nc] |
 *   head_moments: AX [nc], AY [nc] (head token only) | unused */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/model.h"

#define ANCHOR 300.0
#define SHARP 30.0  /* gelu(SHARP z) / SHARP ~ relu(z) */
#define GATE 300.0  /* a closed position gate: -GATE + at most 4 SHARP */
#define REJECT 2.0  /* weight of the off-colour terms */
#define RAMP_C 2.0  /* a step is (gelu(z + C) - gelu(z - C)) / 2C */
#define LIVE_MIN 1e-5
#define TWO_PI 6.283185307179586
#define MAX_POINTS (VLM_DESIGN_MAX_AREAS * (VLM_DESIGN_MAX_AREAS + 1) / 2)

typedef struct {
    int64_t D, I, P, g, Np, S, nc, nb, L, ncell;
    int64_t bal, dm, dgate, de, da, dax, day, dbin, dgroup, ng, dwave, nw, dhm, nhm, used;
    int64_t npt; /* the head's area points: the nb areas, and with area_sums their sums (below) */
    double wave; /* the period of W in patches (nw = 4 nc), or 0 (nw = 0) */
} layout;

/* Every tensor of the tower, f32, in one allocation. */
typedef struct {
    float *patch_w, *patch_b, *pos;
    float **ln1w, **ln1b, **q, **k, **v, **o, **qb, **kb, **vb, **ob, **ln2w, **ln2b, **up, **upb, **down, **downb;
    float *post_w, *post_b, *probe, *hin, *hin_b, *hout, *hout_b, *hln_w, *hln_b, *hup, *hup_b, *hdown, *hdown_b;
    float *mem;
    float **ptrs;
} tower;

static void tower_free(tower *t) {
    free(t->mem);
    free(t->ptrs);
}

static vlm_status tower_alloc(tower *t, const layout *y) {
    const size_t D = (size_t)y->D, I = (size_t)y->I, L = (size_t)y->L;
    const size_t per_layer = 2 * D + 4 * D * D + 4 * D + 2 * D + I * D + I + D * I + D;
    const size_t n = D * 3 * (size_t)(y->P * y->P) + D + (size_t)y->Np * D + L * per_layer + 2 * D + D + 3 * D * D +
                     3 * D + D * D + D + 2 * D + I * D + I + D * I + D;
    memset(t, 0, sizeof *t);
    t->mem = calloc(n, sizeof(float));
    t->ptrs = calloc(16 * L, sizeof(float *));
    if (!t->mem || !t->ptrs) return VLM_ERR_OOM;
    float *p = t->mem;
#define TAKE(dst, count) (dst = p, p += (count))
    TAKE(t->patch_w, D * 3 * (size_t)(y->P * y->P));
    TAKE(t->patch_b, D);
    TAKE(t->pos, (size_t)y->Np * D);
    float ***lp[16] = {&t->ln1w, &t->ln1b, &t->q,  &t->k,    &t->v,  &t->o,   &t->qb,   &t->kb,
                       &t->vb,   &t->ob,   &t->ln2w, &t->ln2b, &t->up, &t->upb, &t->down, &t->downb};
    for (int j = 0; j < 16; j++) *lp[j] = t->ptrs + (size_t)j * L;
    for (size_t l = 0; l < L; l++) {
        TAKE(t->ln1w[l], D), TAKE(t->ln1b[l], D);
        TAKE(t->q[l], D * D), TAKE(t->k[l], D * D), TAKE(t->v[l], D * D), TAKE(t->o[l], D * D);
        TAKE(t->qb[l], D), TAKE(t->kb[l], D), TAKE(t->vb[l], D), TAKE(t->ob[l], D);
        TAKE(t->ln2w[l], D), TAKE(t->ln2b[l], D);
        TAKE(t->up[l], I * D), TAKE(t->upb[l], I), TAKE(t->down[l], D * I), TAKE(t->downb[l], D);
    }
    TAKE(t->post_w, D), TAKE(t->post_b, D), TAKE(t->probe, D);
    TAKE(t->hin, 3 * D * D), TAKE(t->hin_b, 3 * D), TAKE(t->hout, D * D), TAKE(t->hout_b, D);
    TAKE(t->hln_w, D), TAKE(t->hln_b, D), TAKE(t->hup, I * D), TAKE(t->hup_b, I), TAKE(t->hdown, D * I);
    TAKE(t->hdown_b, D);
#undef TAKE
    return VLM_OK;
}

/* The std of a row that holds only the two anchors +-anchor. */
static double anchor_std(int64_t D, double anchor) { return anchor * sqrt(2.0 / (double)D); }

/* A LayerNorm that is the identity on the features (dimensions 3..) and 0 on
 * the anchors and the balance, for rows of mean 0 and the std of anchors +-anchor. */
static void ln_identity(float *w, float *b, int64_t D, double anchor) {
    for (int64_t i = 0; i < D; i++) w[i] = i < 3 ? 0.0f : (float)anchor_std(D, anchor), b[i] = 0;
}

/* Row 2 (the balance) of a [D][n] matrix becomes minus the sum of rows 3..D-1. */
static void balance_rows(float *w, int64_t D, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        double s = 0;
        for (int64_t i = 3; i < D; i++) s += w[i * n + j];
        w[2 * n + j] = (float)-s;
    }
}

/* The same for a bias, with the anchors +anchor, -anchor in 0 and 1. */
static void balance_bias(float *b, int64_t D, double anchor) {
    double s = 0;
    for (int64_t i = 3; i < D; i++) s += b[i];
    b[2] = (float)-s;
    b[0] = (float)anchor, b[1] = (float)-anchor;
}

/* Unit vector of v (3). */
static void unit3(double *v) {
    double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (int c = 0; c < 3; c++) v[c] /= n;
}

/* The patch embedding, the position gates and the two MLP layers. */
static void build_layers(tower *t, const layout *y, const double cn[][3], const double bgn[3]) {
    const int64_t D = y->D, I = y->I, P = y->P, h = P / 2, g = y->g, nc = y->nc;
    /* M[s][c]: mean over quadrant s of channel c, minus the background's value */
    for (int64_t s = 0; s < 4; s++)
        for (int c = 0; c < 3; c++) {
            const int64_t d = y->dm + s * 3 + c;
            for (int64_t ky = 0; ky < P; ky++)
                for (int64_t kx = 0; kx < P; kx++)
                    if ((ky >= h) * 2 + (kx >= h) == s) t->patch_w[((d * 3 + c) * P + ky) * P + kx] = (float)(1.0 / (double)(h * h));
            t->patch_b[d] = (float)-bgn[c];
        }
    balance_rows(t->patch_w, D, 3 * P * P);
    balance_bias(t->patch_b, D, ANCHOR);
    /* thermometer gates: x gate j is 1 when the patch column >= j, y gate j when its row >= j */
    for (int64_t p = 0; p < y->Np; p++) {
        const int64_t row = p / g, col = p % g;
        float *e = t->pos + p * D;
        double s = 0;
        for (int64_t j = 1; j < g; j++) {
            e[y->dgate + j - 1] = (float)((col >= j) - 0.5);
            e[y->dgate + (g - 1) + j - 1] = (float)((row >= j) - 0.5);
            s += (col >= j) + (row >= j) - 1.0;
        }
        e[y->bal] = (float)-s;
    }
    for (int64_t l = 0; l < y->L; l++) ln_identity(t->ln1w[l], t->ln1b[l], D, ANCHOR), ln_identity(t->ln2w[l], t->ln2b[l], D, ANCHOR);
    /* layer 0: E[s][k] = |<M[s], v_k1>| + |<M[s], v_k2>| */
    for (int64_t k = 0; k < nc; k++) {
        double cu[3] = {cn[k][0], cn[k][1], cn[k][2]}, v1[3], v2[3];
        unit3(cu);
        int ax = 0;
        for (int c = 1; c < 3; c++)
            if (fabs(cu[c]) < fabs(cu[ax])) ax = c;
        for (int c = 0; c < 3; c++) v1[c] = (c == ax) - cu[ax] * cu[c];
        unit3(v1);
        v2[0] = cu[1] * v1[2] - cu[2] * v1[1], v2[1] = cu[2] * v1[0] - cu[0] * v1[2], v2[2] = cu[0] * v1[1] - cu[1] * v1[0];
        for (int64_t s = 0; s < 4; s++)
            for (int r = 0; r < 2; r++)
                for (int sg = 0; sg < 2; sg++) {
                    const int64_t u = ((s * nc + k) * 2 + r) * 2 + sg;
                    const double *v = r ? v2 : v1;
                    for (int c = 0; c < 3; c++) t->up[0][u * D + y->dm + s * 3 + c] = (float)((sg ? -SHARP : SHARP) * v[c]);
                    t->down[0][(y->de + s * nc + k) * I + u] = (float)(1.0 / SHARP);
                }
    }
    balance_rows(t->down[0], D, I);
    /* layer 1: A[k] per quadrant, and its moments over the position gates */
    for (int64_t k = 0; k < nc; k++) {
        const double n2 = cn[k][0] * cn[k][0] + cn[k][1] * cn[k][1] + cn[k][2] * cn[k][2];
        for (int64_t s = 0; s < 4; s++) {
            const int64_t u = s * nc + k;
            for (int c = 0; c < 3; c++) t->up[1][u * D + y->dm + s * 3 + c] = (float)(SHARP * cn[k][c] / n2);
            t->up[1][u * D + y->de + s * nc + k] = (float)(-SHARP * REJECT);
            t->down[1][(y->da + k) * I + u] = (float)(1.0 / (4.0 * SHARP));
        }
        for (int axis = 0; axis < 2; axis++)
            for (int64_t j = 1; j < g; j++) {
                const int64_t u = 4 * nc + (k * 2 + axis) * (g - 1) + (j - 1);
                for (int64_t s = 0; s < 4; s++) {
                    for (int c = 0; c < 3; c++) t->up[1][u * D + y->dm + s * 3 + c] = (float)(SHARP * cn[k][c] / n2);
                    t->up[1][u * D + y->de + s * nc + k] = (float)(-SHARP * REJECT);
                }
                t->up[1][u * D + y->dgate + axis * (g - 1) + (j - 1)] = (float)GATE; /* gate is +-1/2 */
                t->upb[1][u] = (float)(-GATE / 2);
                t->down[1][((axis ? y->day : y->dax) + k) * I + u] = (float)(1.0 / (4.0 * SHARP * (double)(g - 1)));
                if (y->nw) { /* W: the steps of sin and cos at gate j */
                    const double a1 = TWO_PI * (double)j / y->wave, a0 = TWO_PI * (double)(j - 1) / y->wave;
                    t->down[1][(y->dwave + (2 * axis) * nc + k) * I + u] = (float)((sin(a1) - sin(a0)) / (4.0 * SHARP));
                    t->down[1][(y->dwave + (2 * axis + 1) * nc + k) * I + u] = (float)((cos(a1) - cos(a0)) / (4.0 * SHARP));
                }
            }
        /* W's cosines at column / row 0: A[k] itself (the sines are 0 there) */
        for (int64_t s = 0; y->nw && s < 4; s++)
            for (int axis = 0; axis < 2; axis++)
                t->down[1][(y->dwave + (2 * axis + 1) * nc + k) * I + s * nc + k] = (float)(1.0 / (4.0 * SHARP));
    }
    balance_rows(t->down[1], D, I);
}

/* ---- passes over the sample frames ------------------------------------------------------------- */

typedef struct {
    const layout *y;
    float *pooled; /* [ncell][D] of the last frame */
    float *cls;    /* [D] */
    int got_pooled, got_cls;
} grab;

static void on_tensor(void *user, const char *name, int32_t layer, const float *data, int64_t rows, int64_t cols) {
    grab *gr = user;
    (void)layer;
    if (cols != gr->y->D) return;
    if (!strcmp(name, "v.pooled") && rows == gr->y->ncell) {
        memcpy(gr->pooled, data, (size_t)(rows * cols) * sizeof(float));
        gr->got_pooled = 1;
    } else if (!strcmp(name, "v.cls") && rows == 1) {
        memcpy(gr->cls, data, (size_t)cols * sizeof(float));
        gr->got_cls = 1;
    }
}

/* The model m with the tower t in place of its own (a shallow copy; layers in `ls`). */
static vlm_model with_tower(const vlm_model *m, const tower *t, const layout *y, vlm_siglip_layer *ls) {
    vlm_model c = *m;
    const int64_t D = y->D, I = y->I;
    c.patch = (vlm_wt){t->patch_w, VLM_DT_F32, 3 * y->P * y->P, D};
    c.patch_b = t->patch_b, c.pos_embd = t->pos;
    for (int64_t l = 0; l < y->L; l++) {
        ls[l] = (vlm_siglip_layer){.ln1_w = t->ln1w[l], .ln1_b = t->ln1b[l],
                                   .q = {t->q[l], VLM_DT_F32, D, D}, .k = {t->k[l], VLM_DT_F32, D, D},
                                   .v = {t->v[l], VLM_DT_F32, D, D}, .o = {t->o[l], VLM_DT_F32, D, D},
                                   .q_b = t->qb[l], .k_b = t->kb[l], .v_b = t->vb[l], .o_b = t->ob[l],
                                   .ln2_w = t->ln2w[l], .ln2_b = t->ln2b[l],
                                   .up = {t->up[l], VLM_DT_F32, D, I}, .up_b = t->upb[l],
                                   .down = {t->down[l], VLM_DT_F32, I, D}, .down_b = t->downb[l]};
    }
    c.vlayers = ls;
    c.post_ln_w = t->post_w, c.post_ln_b = t->post_b, c.probe = t->probe;
    c.head_in = (vlm_wt){t->hin, VLM_DT_F32, D, 3 * D};
    c.head_in_b = t->hin_b;
    c.head_out = (vlm_wt){t->hout, VLM_DT_F32, D, D};
    c.head_out_b = t->hout_b, c.head_ln_w = t->hln_w, c.head_ln_b = t->hln_b;
    c.head_up = (vlm_wt){t->hup, VLM_DT_F32, D, I};
    c.head_up_b = t->hup_b;
    c.head_down = (vlm_wt){t->hdown, VLM_DT_F32, I, D};
    c.head_down_b = t->hdown_b;
    return c;
}

typedef struct {
    double *sum, *sq;   /* grid cells [D] */
    double *gsum, *gsq; /* frame means of the cells [D] */
    double *csum, *csq; /* head token [D] */
    double area_err;
    size_t n;
} acc;

/* One pass: encode every frame with model c, accumulating the grid, frame-mean
 * and head-token statistics; with counts, also the largest error of the
 * colour areas (raw tower: grid dimension A[k] before standardisation). */
static vlm_status run_pass(const vlm_model *c, const layout *y, int32_t n_threads, vlm_calibrate_frame_fn frame,
                           void *user, size_t n_frames, const uint8_t (*pal)[3], acc *a, int check_areas, char *err,
                           size_t err_size) {
    const int64_t D = y->D, S = y->S;
    grab gr = {.y = y};
    /* pooled [ncell][D], cls [D], tokens [1 + ncell][D] */
    float *fbuf = malloc((size_t)((2 * y->ncell + 2) * D) * sizeof(float));
    uint8_t *rgb = malloc((size_t)(S * S * 3));
    vlm_vision_context *vis = NULL;
    vlm_status st = VLM_OK;
    if (!fbuf || !rgb) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    gr.pooled = fbuf, gr.cls = fbuf + y->ncell * D;
    float *tokens = gr.cls + D;
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    vp.n_threads = n_threads, vp.cb = on_tensor, vp.cb_user_data = &gr;
    if ((st = vlm_vision_context_init(c, &vp, &vis, err, err_size))) goto done;
    for (size_t f = 0; f < n_frames; f++) {
        char e2[256] = "";
        gr.got_pooled = gr.got_cls = 0;
        if ((st = frame(user, f, rgb, e2, sizeof e2))) {
            vlm_set_err(err, err_size, st, "design frame %zu: %s", f, e2[0] ? e2 : vlm_status_str(st));
            goto done;
        }
        if ((st = vlm_vision_encode_rgb(vis, rgb, tokens))) {
            vlm_set_err(err, err_size, st, "design frame %zu: %s", f, vlm_vision_last_error(vis));
            goto done;
        }
        if (!gr.got_pooled || !gr.got_cls) {
            st = vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "the tower traced no pooled grid / head token");
            goto done;
        }
        for (int64_t d = 0; d < D; d++) {
            double m = 0;
            for (int64_t r = 0; r < y->ncell; r++) {
                double v = gr.pooled[r * D + d];
                a->sum[d] += v, a->sq[d] += v * v, m += v;
            }
            m /= (double)y->ncell;
            a->gsum[d] += m, a->gsq[d] += m * m;
            a->csum[d] += gr.cls[d], a->csq[d] += (double)gr.cls[d] * gr.cls[d];
        }
        if (check_areas)
            for (int64_t k = 0; k < y->nc; k++) {
                double m = 0;
                for (int64_t r = 0; r < y->ncell; r++) m += gr.pooled[r * D + y->da + k];
                m = m / (double)y->ncell * (double)(S * S);
                int64_t count = 0;
                for (int64_t p = 0; p < S * S; p++) count += !memcmp(rgb + p * 3, pal[k], 3);
                if (fabs(m - (double)count) > a->area_err) a->area_err = fabs(m - (double)count);
            }
    }
    a->n = n_frames;
done:
    vlm_vision_context_free(vis);
    free(rgb), free(fbuf);
    return st;
}

static void stats(const double *sum, const double *sq, size_t n, int64_t D, double *mean, double *sd) {
    for (int64_t d = 0; d < D; d++) {
        double m = sum[d] / (double)n, v = sq[d] / (double)n - m * m;
        mean[d] = m, sd[d] = sqrt(v > 0 ? v : 0);
    }
}

/* ---- the whole construction ------------------------------------------------------------------ */

vlm_status vlm_vision_design(const vlm_model *m, const vlm_tower_design_params *p, vlm_calibrate_frame_fn frame,
                             void *user, size_t n_frames, int32_t n_threads, const char *out_path,
                             vlm_tower_design_report *report, char *err, size_t err_size) {
    if (!m || !p || !frame || !out_path)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_design: NULL argument");
    if (!m->v_file || !m->lm_file)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_design: the model has no vision tower");
    if (n_frames < 2)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_design: %zu frames (at least 2)", n_frames);
    if (p->n_colours < 1 || p->n_colours > VLM_DESIGN_MAX_COLOURS || p->n_areas < 1 || p->n_areas > VLM_DESIGN_MAX_AREAS)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_design: %d colours, %d areas (1..%d, 1..%d)",
                           p->n_colours, p->n_areas, VLM_DESIGN_MAX_COLOURS, VLM_DESIGN_MAX_AREAS);
    const vlm_model_hparams *hp = &m->hp;
    layout y = {.D = hp->v_n_embd, .I = hp->v_n_ff, .P = hp->v_patch_size, .g = m->v_grid, .S = hp->v_image_size,
                .nc = p->n_colours, .nb = p->n_areas, .L = hp->v_n_layer};
    y.Np = y.g * y.g, y.ncell = (int64_t)m->pool_h * m->pool_w;
    if (!m->frame_cls || m->pool_h <= 0)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "vision_design: only live1+ towers (MAP head and pooled grid)");
    if (y.L < 2 || y.P % 2 || y.g < 2 || y.g % m->pool_h || y.g % m->pool_w)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "vision_design: needs >= 2 layers, an even patch size and a patch grid the pooled grid "
                           "divides (have %lld layers, patch %lld, %lldx%lld patches, %dx%d cells)",
                           (long long)y.L, (long long)y.P, (long long)y.g, (long long)y.g, m->pool_h, m->pool_w);
    y.bal = 2, y.dm = 3, y.dgate = y.dm + 12, y.de = y.dgate + 2 * (y.g - 1), y.da = y.de + 4 * y.nc;
    y.ng = p->n_groups;
    y.dax = y.da + y.nc, y.day = y.dax + y.nc, y.dbin = y.day + y.nc, y.dgroup = y.dbin + y.nc * y.nb;
    if (!(p->moment_wave == 0.0 || (p->moment_wave >= 2.0 && p->moment_wave <= 64.0)))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_design: moment wave period %g (0, or 2..64 patches)",
                           p->moment_wave);
    y.wave = p->moment_wave, y.nw = p->moment_wave > 0.0 ? 4 * y.nc : 0;
    y.dwave = y.dgroup + y.ng, y.dhm = y.dwave + y.nw, y.nhm = p->head_moments ? 2 * y.nc : 0;
    y.used = y.dhm + y.nhm;
    if (p->area_sums && p->n_groups < 2)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "vision_design: area sums need at least 2 area groups (have %d)", p->n_groups);
    /* colours in the tower's input units; each must be told from the others by the rejection */
    double cn[VLM_DESIGN_MAX_COLOURS][3], bgn[3];
    for (int c = 0; c < 3; c++) bgn[c] = ((double)p->background[c] / 255.0 - m->image_mean[c]) / m->image_std[c];
    for (int64_t k = 0; k < y.nc; k++) {
        double n2 = 0;
        for (int c = 0; c < 3; c++) {
            cn[k][c] = ((double)p->colours[k][c] - (double)p->background[c]) / 255.0 / m->image_std[c];
            n2 += cn[k][c] * cn[k][c];
        }
        if (n2 < 1e-6)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_design: colour %lld is the background",
                               (long long)k);
    }
    for (int64_t k = 0; k < y.nc; k++)
        for (int64_t j = 0; j < y.nc; j++) {
            if (j == k) continue;
            double n2 = 0, dot = 0;
            for (int c = 0; c < 3; c++) n2 += cn[k][c] * cn[k][c], dot += cn[j][c] * cn[k][c];
            double perp = 0; /* |c_j minus its projection on c_k|: a lower bound of the rejection term */
            for (int c = 0; c < 3; c++) perp += pow(cn[j][c] - dot / n2 * cn[k][c], 2);
            if (dot / n2 >= 0.75 * REJECT * sqrt(perp))
                return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                                   "vision_design: colours %lld and %lld are too alike to tell apart", (long long)j,
                                   (long long)k);
        }
    if (p->n_groups < 0 || p->n_groups > VLM_DESIGN_MAX_AREAS)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_design: %d area groups (0..%d)", p->n_groups,
                           VLM_DESIGN_MAX_AREAS);
    if (!(p->head_moment_gain >= 0.0 && p->head_moment_gain <= 100.0))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_design: head moment gain %g (0..100; 0 means 1)",
                           p->head_moment_gain);
    const double mgain = p->head_moment_gain > 0.0 ? p->head_moment_gain : 1.0;
    double areas[VLM_DESIGN_MAX_AREAS];
    int32_t group[VLM_DESIGN_MAX_AREAS];
    { /* ascending, each with its group */
        int32_t order[VLM_DESIGN_MAX_AREAS];
        for (int32_t b = 0; b < p->n_areas; b++) {
            order[b] = b;
            if (p->n_groups && (p->area_group[b] < 0 || p->area_group[b] >= p->n_groups))
                return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_design: area %d's group %d is not in 0..%d",
                                   b, p->area_group[b], p->n_groups - 1);
        }
        for (int32_t b = 1; b < p->n_areas; b++)
            for (int32_t c = b; c > 0 && p->areas[order[c]] < p->areas[order[c - 1]]; c--) {
                int32_t tmp = order[c];
                order[c] = order[c - 1], order[c - 1] = tmp;
            }
        for (int32_t b = 0; b < p->n_areas; b++)
            areas[b] = p->areas[order[b]], group[b] = p->n_groups ? p->area_group[order[b]] : 0;
    }
    /* The points the head's bins tell apart, ascending, each with how many of each area it holds:
     * the areas alone, and with area_sums every sum of two areas of distinct groups (two objects of
     * one colour: in the demo world they differ in shape). */
    double pts[MAX_POINTS];
    uint8_t has[MAX_POINTS][VLM_DESIGN_MAX_AREAS];
    memset(has, 0, sizeof has);
    {
        int64_t n = 0;
        for (int32_t b = 0; b < p->n_areas; b++) pts[n] = areas[b], has[n++][b] = 1;
        for (int32_t b = 0; p->area_sums && b < p->n_areas; b++)
            for (int32_t c = b + 1; c < p->n_areas; c++)
                if (group[b] != group[c]) pts[n] = areas[b] + areas[c], has[n][b] = has[n][c] = 1, n++;
        for (int64_t i = 1; i < n; i++) /* insertion sort, rows with their points */
            for (int64_t j = i; j > 0 && pts[j] < pts[j - 1]; j--) {
                uint8_t h[VLM_DESIGN_MAX_AREAS];
                double v = pts[j];
                pts[j] = pts[j - 1], pts[j - 1] = v;
                memcpy(h, has[j], sizeof h), memcpy(has[j], has[j - 1], sizeof h), memcpy(has[j - 1], h, sizeof h);
            }
        y.npt = n;
    }
    const int64_t units[3] = {16 * y.nc, 4 * y.nc + 2 * y.nc * (y.g - 1), 2 * y.nc * (y.npt + 1)};
    const int64_t need_i = units[1] > units[0] ? (units[1] > units[2] ? units[1] : units[2])
                                               : (units[0] > units[2] ? units[0] : units[2]);
    if (y.D < y.used || y.I < need_i)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "vision_design: %d colours, %d areas and %lldx%lld patches need a tower at least %lld wide "
                           "with an MLP of %lld (have %lld and %lld)",
                           p->n_colours, p->n_areas, (long long)y.g, (long long)y.g, (long long)y.used,
                           (long long)need_i, (long long)y.D, (long long)y.I);
    double gap = pts[0];
    for (int64_t b = 1; b < y.npt; b++) gap = fmin(gap, pts[b] - pts[b - 1]);
    if (!(areas[0] > 0) || !(gap > 0) || areas[y.nb - 1] > (double)(y.S * y.S))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "vision_design: the areas%s must be distinct, positive and at most the frame (%lld pixels)",
                           y.npt > y.nb ? " and their sums" : "", (long long)(y.S * y.S));

    tower t;
    const size_t D = (size_t)y.D, I = (size_t)y.I;
    double *dbuf = calloc(10 * D, sizeof(double));
    vlm_siglip_layer *ls = calloc((size_t)y.L, sizeof *ls);
    vlm_status st = tower_alloc(&t, &y);
    if (st || !dbuf || !ls) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    double *mu = dbuf, *sd = mu + D, *mug = sd + D, *sdg = mug + D, *tmp = sdg + D;
    acc a = {.sum = tmp, .sq = tmp + D, .gsum = tmp + 2 * D, .gsq = tmp + 3 * D, .csum = tmp + 4 * D, .csq = tmp + 5 * D};
    build_layers(&t, &y, (const double(*)[3])cn, bgn);
    /* The head's norm sees the balance, minus the sum of all features, which grows with the objects
     * on screen (its square reached 9% of the anchors' in a frame of four objects), so that norm
     * scales the areas by a few percent. The area sums' bins lie as close as 84 px: with them the
     * head's anchors are ten times larger, which leaves that scale within 0.05%. */
    const double hanchor = p->area_sums ? 10.0 * ANCHOR : ANCHOR;
    ln_identity(t.post_w, t.post_b, y.D, ANCHOR);
    ln_identity(t.hln_w, t.hln_b, y.D, hanchor);
    vlm_model c = with_tower(m, &t, &y, ls);

    /* pass 1: the raw features' statistics over grid cells and over frames */
    if ((st = run_pass(&c, &y, n_threads, frame, user, n_frames, (const uint8_t(*)[3])p->colours, &a, 1, err,
                       err_size)))
        goto done;
    stats(a.sum, a.sq, a.n * (size_t)y.ncell, y.D, mu, sd);
    stats(a.gsum, a.gsq, a.n, y.D, mug, sdg);
    const double std0 = anchor_std(y.D, ANCHOR);
    int32_t n_live = 0;
    for (int64_t i = 0; i < y.D; i++) {
        /* live: the features (M, E, A, AX, AY, W); the anchors, the balance, the position
         * gates and the bins are constant or 0 over the grid and are set to 0. (Tokens
         * with A, AX and AY alone trained to worse timing: docs/demo-model.md.) */
        const int live = ((i >= y.dm && i < y.dgate) || (i >= y.de && i < y.dbin) || (i >= y.dwave && i < y.used)) &&
                         sd[i] > LIVE_MIN;
        t.post_w[i] = live ? (float)(std0 / sd[i]) : 0.0f;
        t.post_b[i] = live ? (float)(-mu[i] / sd[i]) : 0.0f;
        n_live += live;
        /* head: uniform attention (zero query), values = the post-LN rows, output = the
         * standardised frame means */
        t.hin[(2 * D + (size_t)i) * D + (size_t)i] = 1.0f;
        if (live && sdg[i] > LIVE_MIN) {
            const double g = i >= y.dax && i < y.day + y.nc ? mgain : 1.0;
            t.hout[(size_t)i * D + (size_t)i] = (float)(g * sd[i] / sdg[i]);
            t.hout_b[i] = (float)(g * (mu[i] - mug[i]) / sdg[i]);
            if (y.nhm && i >= y.dax && i < y.day + y.nc) { /* the head token's own copy of the moments */
                const size_t h = (size_t)(y.dhm + (i - y.dax));
                t.hout[h * D + (size_t)i] = t.hout[(size_t)i * D + (size_t)i], t.hout_b[h] = t.hout_b[i];
            }
        }
    }
    balance_rows(t.hout, y.D, y.D);
    balance_bias(t.hout_b, y.D, hanchor);
    /* the head's area bins: a step at each edge e_s between two points (and below the first, above
     * the last); area b's bin adds, at each step, how much more of b the point above holds than the
     * point below, so it is 1 on every point that holds b; a group sums its areas' bins */
    {
        const double px = (double)(y.S * y.S), K = 16.0 / (gap / px);
        const int64_t n = y.npt;
        for (int64_t k = 0; k < y.nc; k++) {
            const int64_t d = y.da + k;
            if (!(sdg[d] > LIVE_MIN)) continue; /* a colour the sample never shows */
            for (int64_t s = 0; s <= n; s++) {
                double e = s == 0 ? pts[0] / 2 : s == n ? pts[n - 1] + gap / 2 : (pts[s - 1] + pts[s]) / 2;
                /* with sums each ramp is as steep as its own gap needs (the areas alone keep the one slope) */
                const double lg = s == 0 ? pts[0] : s == n ? gap : pts[s] - pts[s - 1];
                const double ks = n > y.nb ? 16.0 / (lg / px) : K;
                e /= px;
                for (int pm = 0; pm < 2; pm++) {
                    const int64_t u = (k * (n + 1) + s) * 2 + pm;
                    t.hup[(size_t)u * D + (size_t)d] = (float)(ks * sdg[d]);
                    t.hup_b[u] = (float)(ks * (mug[d] - e) + (pm ? -RAMP_C : RAMP_C));
                    const float w = (float)((pm ? -1.0 : 1.0) / (2.0 * RAMP_C));
                    int gd[VLM_DESIGN_MAX_AREAS] = {0};
                    for (int64_t b = 0; b < y.nb; b++) {
                        const int db = (s < n ? has[s][b] : 0) - (s > 0 ? has[s - 1][b] : 0);
                        if (db) t.hdown[(size_t)(y.dbin + k * y.nb + b) * I + (size_t)u] += (float)db * w;
                        gd[group[b]] += db;
                    }
                    for (int64_t g = 0; g < y.ng; g++) /* the groups: the sum of their areas' bins over the colours */
                        if (gd[g]) t.hdown[(size_t)(y.dgroup + g) * I + (size_t)u] += (float)gd[g] * w;
                }
            }
        }
    }
    t.hdown_b[0] = (float)-hanchor, t.hdown_b[1] = (float)hanchor; /* the head token holds no anchors */
    /* pass 2: standardise the bins, centre the head token */
    memset(tmp, 0, 6 * D * sizeof(double));
    if ((st = run_pass(&c, &y, n_threads, frame, user, n_frames, (const uint8_t(*)[3])p->colours, &a, 0, err,
                       err_size)))
        goto done;
    stats(a.csum, a.csq, a.n, y.D, mu, sd);
    for (int64_t i = 0; i < y.D; i++) {
        if (i >= y.dbin && i < y.dwave && sd[i] > LIVE_MIN) { /* bins and groups */
            for (size_t u = 0; u < I; u++) t.hdown[(size_t)i * I + u] = (float)(t.hdown[(size_t)i * I + u] / sd[i]);
            t.hdown_b[i] = (float)(((double)t.hdown_b[i] - mu[i]) / sd[i]);
        } else {
            t.hdown_b[i] = (float)((double)t.hdown_b[i] - mu[i]);
        }
    }

    /* write the pair */
    {
        const size_t nt = 3 + 16 * (size_t)y.L + 2 + 11;
        char(*names)[64] = calloc(nt, 64);
        const char **np = calloc(nt, sizeof *np);
        const float **vp = calloc(nt, sizeof *vp);
        if (!names || !np || !vp) {
            free(names), free(np), free(vp);
            st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
            goto done;
        }
        size_t n = 0;
#define PUT(val, ...) (snprintf(names[n], 64, __VA_ARGS__), np[n] = names[n], vp[n++] = (val))
        PUT(t.patch_w, "v.patch_embd.weight");
        PUT(t.patch_b, "v.patch_embd.bias");
        PUT(t.pos, "v.position_embd.weight");
        for (int64_t l = 0; l < y.L; l++) {
            const int il = (int)l;
            PUT(t.ln1w[l], "v.blk.%d.ln1.weight", il), PUT(t.ln1b[l], "v.blk.%d.ln1.bias", il);
            PUT(t.q[l], "v.blk.%d.attn_q.weight", il), PUT(t.qb[l], "v.blk.%d.attn_q.bias", il);
            PUT(t.k[l], "v.blk.%d.attn_k.weight", il), PUT(t.kb[l], "v.blk.%d.attn_k.bias", il);
            PUT(t.v[l], "v.blk.%d.attn_v.weight", il), PUT(t.vb[l], "v.blk.%d.attn_v.bias", il);
            PUT(t.o[l], "v.blk.%d.attn_out.weight", il), PUT(t.ob[l], "v.blk.%d.attn_out.bias", il);
            PUT(t.ln2w[l], "v.blk.%d.ln2.weight", il), PUT(t.ln2b[l], "v.blk.%d.ln2.bias", il);
            PUT(t.up[l], "v.blk.%d.ffn_up.weight", il), PUT(t.upb[l], "v.blk.%d.ffn_up.bias", il);
            PUT(t.down[l], "v.blk.%d.ffn_down.weight", il), PUT(t.downb[l], "v.blk.%d.ffn_down.bias", il);
        }
        PUT(t.post_w, "v.post_ln.weight");
        PUT(t.post_b, "v.post_ln.bias");
        PUT(t.probe, "v.head.probe");
        PUT(t.hin, "v.head.attn_in.weight");
        PUT(t.hin_b, "v.head.attn_in.bias");
        PUT(t.hout, "v.head.attn_out.weight");
        PUT(t.hout_b, "v.head.attn_out.bias");
        PUT(t.hln_w, "v.head.ln.weight");
        PUT(t.hln_b, "v.head.ln.bias");
        PUT(t.hup, "v.head.ffn_up.weight");
        PUT(t.hup_b, "v.head.ffn_up.bias");
        PUT(t.hdown, "v.head.ffn_down.weight");
        PUT(t.hdown_b, "v.head.ffn_down.bias");
#undef PUT
        st = vlm_model_rewrite_pair(m, out_path, np, vp, n, err, err_size);
        free(names), free(np), free(vp);
        if (st) goto done;
    }
    if (report) {
        report->n_frames = n_frames;
        report->n_live = n_live;
        report->dims_used = (int32_t)y.used;
        report->area_err_max = a.area_err;
        report->area_margin = gap / 4;
        report->dim_mass = (int32_t)y.dm, report->dim_area = (int32_t)y.da, report->dim_moment_x = (int32_t)y.dax;
        report->dim_moment_y = (int32_t)y.day, report->dim_bins = (int32_t)y.dbin;
        report->dim_groups = (int32_t)y.dgroup;
        report->dim_waves = y.nw ? (int32_t)y.dwave : -1;
        report->dim_head_moments = y.nhm ? (int32_t)y.dhm : -1;
        for (int32_t b = 0; b < p->n_areas; b++) report->bin_group[b] = group[b];
    }
done:
    tower_free(&t);
    free(ls), free(dbuf);
    return st;
}
