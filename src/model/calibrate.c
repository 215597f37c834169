/* calibrate.c - standardise a frozen vision tower's outputs on sample frames
 * (vlm_vision_calibrate; docs/demo-model.md, "Why the vision tower is frozen").
 *
 * A tower that is not trained (a fresh `videollm init`) gives frame tokens
 * that are mostly one constant vector: every patch token leaves post_LN with
 * unit variance whatever it shows, so a cell of plain background and a cell
 * with an object differ by a few percent of the token. The connector then sees
 * the picture as a small wobble on a large constant, and training an LM on top
 * learns to ignore it. Calibration is a data-dependent initialisation of three
 * of the tower's own affine maps, so the architecture and the runtime stay as
 * they are:
 *
 *   pass 1  grid tokens g = mean over a cell of post_LN(x) = gamma n + beta,
 *           per dimension d over all cells of all frames: mean m, std s
 *           -> gamma' = gamma / s, beta' = (beta - m) / s   (grid: mean 0, std 1)
 *   pass 2  (with gamma', beta') the MAP head's attention output
 *           a = W_o h + b_o [D]: mean m, std s
 *           -> W_o' = diag(1/s) W_o, b_o' = (b_o - m) / s    (a: mean 0, std 1)
 *   pass 3  (with both) the head's output cls = a + fc2(...): mean m
 *           -> fc2 bias' = fc2 bias - m                       (cls: mean 0)
 *
 * Every pass is exact for its own statistic (the grid is an average of
 * post_LN rows, a is affine in W_o), so afterwards the grid tokens and a have
 * mean 0 and std 1 per dimension over the calibration frames (up to float
 * rounding) and cls has mean 0. Standard deviations below VLM_CAL_MIN_STD
 * (a dimension that does not move) are clamped to it.
 *
 * The model passed in is not modified: each pass runs on a shallow copy whose
 * calibrated vectors point at buffers owned here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/gguf.h"
#include "model/model.h"
#include "ops/quant.h"

#define VLM_CAL_MIN_STD 1e-4

typedef struct {
    const char *want; /* trace name to accumulate */
    int64_t D;
    double *sum, *sq; /* [D] */
    int64_t n;        /* rows accumulated */
} stats;

static void on_tensor(void *user, const char *name, int32_t layer, const float *data, int64_t rows, int64_t cols) {
    stats *s = user;
    (void)layer;
    if (strcmp(name, s->want) || cols != s->D) return;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 0; d < cols; d++) {
            double v = data[r * cols + d];
            s->sum[d] += v, s->sq[d] += v * v;
        }
    s->n += rows;
}

/* Run the tower (vis, tracing into s) over every frame, accumulating the rows traced as `want`. */
static vlm_status collect(vlm_vision_context *vis, stats *s, const char *want, vlm_calibrate_frame_fn frame,
                          void *user, size_t n_frames, uint8_t *rgb, float *tokens, char *err, size_t err_size) {
    memset(s->sum, 0, (size_t)s->D * sizeof(double));
    memset(s->sq, 0, (size_t)s->D * sizeof(double));
    s->n = 0, s->want = want;
    vlm_status st = VLM_OK;
    for (size_t i = 0; i < n_frames && !st; i++) {
        char e2[256] = "";
        if ((st = frame(user, i, rgb, e2, sizeof e2)))
            vlm_set_err(err, err_size, st, "calibration frame %zu: %s", i, e2[0] ? e2 : vlm_status_str(st));
        else if ((st = vlm_vision_encode_rgb(vis, rgb, tokens)))
            vlm_set_err(err, err_size, st, "calibration frame %zu: %s", i, vlm_vision_last_error(vis));
    }
    if (!st && s->n == 0)
        st = vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "the tower produced no %s rows", want);
    return st;
}

static void mean_std(const stats *s, double *mean, double *sd) {
    for (int64_t d = 0; d < s->D; d++) {
        double m = s->sum[d] / (double)s->n, v = s->sq[d] / (double)s->n - m * m;
        mean[d] = m;
        sd[d] = sqrt(v > 0 ? v : 0);
        if (!(sd[d] >= VLM_CAL_MIN_STD)) sd[d] = VLM_CAL_MIN_STD;
    }
}

vlm_status vlm_vision_calibrate(const vlm_model *m, vlm_calibrate_frame_fn frame, void *user, size_t n_frames,
                                int32_t n_threads, const char *out_path, vlm_calibrate_report *report, char *err,
                                size_t err_size) {
    if (!m || !frame || !out_path)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_calibrate: NULL argument");
    if (!m->v_file || !m->lm_file)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_calibrate: the model has no vision tower");
    if (n_frames < 2)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision_calibrate: %zu frames (at least 2)", n_frames);
    if (m->pool_h <= 0 || !m->frame_cls)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "vision_calibrate: only towers with the MAP head and a pooled grid (live1+)");
    if (m->head_out.type != VLM_DT_F32)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "vision_calibrate: the head's attn_out weight is %s; calibrate an f32 model "
                           "(videollm init --type f32) and quantize afterwards", vlm_dtype_name(m->head_out.type));
    const int64_t D = m->hp.v_n_embd, S = m->hp.v_image_size;
    const size_t Dz = (size_t)D;
    float *fbuf = malloc((5 * Dz + Dz * Dz) * sizeof(float));
    double *dbuf = malloc(4 * Dz * sizeof(double));
    uint8_t *rgb = malloc((size_t)S * (size_t)S * 3);
    float *tokens = malloc((size_t)m->hp.frame_num_tokens * Dz * sizeof(float));
    vlm_vision_context *vis = NULL; /* before the first goto done */
    vlm_status st = VLM_OK;
    if (!fbuf || !dbuf || !rgb || !tokens) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    float *gam = fbuf, *bet = gam + Dz, *ob = bet + Dz, *db = ob + Dz, *scr = db + Dz, *ow = scr + Dz;
    double *mean = dbuf, *sd = mean + Dz;
    stats s = {.D = D, .sum = sd + Dz, .sq = sd + 2 * Dz};
    vlm_model c = *m; /* the model with the calibrated vectors */
    memcpy(gam, m->post_ln_w, Dz * sizeof(float));
    memcpy(bet, m->post_ln_b, Dz * sizeof(float));
    memcpy(ob, m->head_out_b, Dz * sizeof(float));
    memcpy(db, m->head_down_b, Dz * sizeof(float));
    memcpy(ow, m->head_out.data, Dz * Dz * sizeof(float));
    c.post_ln_w = gam, c.post_ln_b = bet, c.head_out_b = ob, c.head_down_b = db;
    c.head_out.data = ow;
    /* one context for the three passes: it reads c's weights at every encode */
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    vp.n_threads = n_threads, vp.cb = on_tensor, vp.cb_user_data = &s;
    if ((st = vlm_vision_context_init(&c, &vp, &vis, err, err_size))) goto done;

    /* pass 1: the pooled grid */
    if ((st = collect(vis, &s, "v.pooled", frame, user, n_frames, rgb, tokens, err, err_size))) goto done;
    mean_std(&s, mean, sd);
    for (int64_t d = 0; d < D; d++) {
        gam[d] = (float)(gam[d] / sd[d]);
        bet[d] = (float)((bet[d] - mean[d]) / sd[d]);
        scr[d] = (float)sd[d];
    }
    if (report) report->grid_std_min = report->grid_std_max = scr[0];
    for (int64_t d = 0; report && d < D; d++) {
        if (scr[d] < report->grid_std_min) report->grid_std_min = scr[d];
        if (scr[d] > report->grid_std_max) report->grid_std_max = scr[d];
    }
    /* pass 2: the head's attention output */
    if ((st = collect(vis, &s, "v.head.attn_out", frame, user, n_frames, rgb, tokens, err, err_size)))
        goto done;
    mean_std(&s, mean, sd);
    for (int64_t d = 0; d < D; d++) {
        for (int64_t k = 0; k < D; k++) ow[d * D + k] = (float)(ow[d * D + k] / sd[d]);
        ob[d] = (float)((ob[d] - mean[d]) / sd[d]);
    }
    if (report) {
        report->attn_std_min = report->attn_std_max = sd[0];
        for (int64_t d = 0; d < D; d++) {
            if (sd[d] < report->attn_std_min) report->attn_std_min = sd[d];
            if (sd[d] > report->attn_std_max) report->attn_std_max = sd[d];
        }
    }
    /* pass 3: centre the head's output */
    if ((st = collect(vis, &s, "v.cls", frame, user, n_frames, rgb, tokens, err, err_size))) goto done;
    mean_std(&s, mean, sd);
    for (int64_t d = 0; d < D; d++) db[d] = (float)(db[d] - mean[d]);

    /* write the pair: the vision file with the five tensors replaced, the LM file pointing at it */
    static const char *const names[5] = {"v.post_ln.weight", "v.post_ln.bias", "v.head.attn_out.weight",
                                         "v.head.attn_out.bias", "v.head.ffn_down.bias"};
    const float *const vals[5] = {gam, bet, ow, ob, db};
    if ((st = vlm_model_rewrite_pair(m, out_path, names, vals, 5, err, err_size))) goto done;
    if (report) report->n_frames = n_frames;
done:
    vlm_vision_context_free(vis);
    free(tokens), free(rgb), free(dbuf), free(fbuf);
    return st;
}
