/* preprocess.c - RGB frame -> letterboxed square frame -> normalised pixels.
 *
 * The original pipeline letterboxes every frame with ffmpeg
 *   scale='if(gt(iw,ih),S,-2)':'if(gt(iw,ih),-2,S)',pad=S:S:(ow-iw)/2:(oh-ih)/2:color=black
 * using swscale's bicubic filter, then feeds uint8 RGB to SigLIP as
 * (x/255 - 0.5)/0.5. This file implements the same geometry with a clear,
 * separable bicubic resampler:
 *   - long side -> S; short side = S*short/long rounded to the nearest even
 *     number (halves away from zero, as av_rescale does), at least 2;
 *   - the resized image is centred: offset = (S - side)/2, rounded down;
 *     the rest is black (0, which normalises to -1);
 *   - kernel: the Mitchell-Netravali cubic with B = 0, C = 0.6 (swscale's
 *     default bicubic parameters, i.e. Keys' cubic with a = -0.6); sample
 *     centres at (o + 0.5) * s - 0.5 with s = in/out; when shrinking, the
 *     kernel is stretched by s (support 2s each side) so that it low-passes;
 *     taps outside the image are clamped to the edge pixel; the weights of
 *     each output sample are normalised to sum to 1;
 *   - vertical pass first (to an f32 row), then horizontal, the result rounded
 *     to nearest and clamped to [0,255].
 * It is not bit-exact with swscale (which works in fixed point, and in YUV
 * for YUV sources); the streaming front end may decode and scale with
 * swscale instead and hand the result to vlm_frame_to_pixels().
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/model.h"

static double cubic_bc(double x) {
    const double B = 0.0, C = 0.6;
    x = fabs(x);
    if (x < 1.0) return ((12 - 9 * B - 6 * C) * x * x * x + (-18 + 12 * B + 6 * C) * x * x + (6 - 2 * B)) / 6;
    if (x < 2.0)
        return ((-B - 6 * C) * x * x * x + (6 * B + 30 * C) * x * x + (-12 * B - 48 * C) * x + (8 * B + 24 * C)) / 6;
    return 0.0;
}

/* Resampling filter for n_in -> n_out: per output sample `taps` (index, weight)
 * pairs starting at first[o]; indices are already clamped. */
typedef struct {
    int32_t taps;
    int32_t *idx; /* [n_out * taps] */
    float *wt;    /* [n_out * taps] */
} resample_filter;

static int32_t filter_taps(int32_t n_in, int32_t n_out) {
    double s = (double)n_in / n_out, st = s > 1.0 ? s : 1.0;
    return (int32_t)ceil(4.0 * st) + 1;
}

static void filter_build(resample_filter *f, int32_t n_in, int32_t n_out) {
    double s = (double)n_in / n_out, st = s > 1.0 ? s : 1.0;
    for (int32_t o = 0; o < n_out; o++) {
        double c = (o + 0.5) * s - 0.5, sum = 0.0;
        int64_t lo = (int64_t)floor(c - 2.0 * st) + 1;
        for (int32_t t = 0; t < f->taps; t++) sum += cubic_bc((double)(lo + t - c) / st);
        for (int32_t t = 0; t < f->taps; t++) {
            int64_t i = lo + t;
            double w = cubic_bc((double)(i - c) / st);
            f->wt[(size_t)o * f->taps + t] = (float)(sum != 0.0 ? w / sum : 0.0);
            f->idx[(size_t)o * f->taps + t] = (int32_t)(i < 0 ? 0 : i >= n_in ? n_in - 1 : i);
        }
    }
}

static void letterbox_dims(int32_t w, int32_t h, int32_t size, int32_t *ow, int32_t *oh) {
    /* av_rescale rounds half away from zero; -2 asks for a multiple of 2 */
    if (w > h) {
        *ow = size;
        *oh = (int32_t)(((int64_t)size * h + w) / (2 * (int64_t)w)) * 2;
    } else {
        *oh = size;
        *ow = (int32_t)(((int64_t)size * w + h) / (2 * (int64_t)h)) * 2;
    }
    if (*ow < 2) *ow = 2;
    if (*oh < 2) *oh = 2;
    if (*ow > size) *ow = size;
    if (*oh > size) *oh = size;
}

static bool letterbox_args_ok(const uint8_t *rgb, int32_t w, int32_t h, size_t stride, int32_t size,
                              const uint8_t *out) {
    if (!rgb || !out || w <= 0 || h <= 0 || size < 2 || size > 16384) return false;
    if (w > (1 << 16) || h > (1 << 16)) return false;
    if (stride < (size_t)w * 3) return false;
    return true;
}

size_t vlm_frame_letterbox_scratch_size(int32_t w, int32_t h, int32_t size) {
    if (w <= 0 || h <= 0 || size < 2 || w > (1 << 16) || h > (1 << 16) || size > 16384) return 0;
    int32_t ow, oh;
    letterbox_dims(w, h, size, &ow, &oh);
    size_t th = (size_t)filter_taps(w, ow), tv = (size_t)filter_taps(h, oh);
    /* row [w*3] f32 + horizontal filter + vertical filter */
    return (size_t)w * 3 * sizeof(float) + ((size_t)ow * th + (size_t)oh * tv) * (sizeof(int32_t) + sizeof(float)) +
           64;
}

vlm_status vlm_frame_letterbox_scratch(const uint8_t *rgb, int32_t w, int32_t h, size_t stride, int32_t size,
                                       uint8_t *out, void *scratch, size_t scratch_size) {
    if (!letterbox_args_ok(rgb, w, h, stride, size, out)) return VLM_ERR_INVALID_ARG;
    size_t need = vlm_frame_letterbox_scratch_size(w, h, size);
    if (!scratch || scratch_size < need) return VLM_ERR_INVALID_ARG;
    int32_t ow, oh;
    letterbox_dims(w, h, size, &ow, &oh);
    resample_filter fh = {filter_taps(w, ow), NULL, NULL}, fv = {filter_taps(h, oh), NULL, NULL};
    /* carve: floats first (4-byte aligned scratch from malloc/arena) */
    float *row = (float *)scratch;
    float *p = row + (size_t)w * 3;
    fh.wt = p;
    p += (size_t)ow * fh.taps;
    fv.wt = p;
    p += (size_t)oh * fv.taps;
    int32_t *q = (int32_t *)p;
    fh.idx = q;
    q += (size_t)ow * fh.taps;
    fv.idx = q;
    filter_build(&fh, w, ow);
    filter_build(&fv, h, oh);

    memset(out, 0, (size_t)size * size * 3);
    int32_t x0 = (size - ow) / 2, y0 = (size - oh) / 2;
    for (int32_t oy = 0; oy < oh; oy++) {
        /* vertical pass: row[x*3+c] = sum_t wv[t] * src[idx[t]][x][c] */
        memset(row, 0, (size_t)w * 3 * sizeof(float));
        for (int32_t t = 0; t < fv.taps; t++) {
            float wt = fv.wt[(size_t)oy * fv.taps + t];
            if (wt == 0.0f) continue;
            const uint8_t *src = rgb + (size_t)fv.idx[(size_t)oy * fv.taps + t] * stride;
            for (size_t i = 0; i < (size_t)w * 3; i++) row[i] += wt * (float)src[i];
        }
        /* horizontal pass */
        uint8_t *dst = out + ((size_t)(y0 + oy) * size + x0) * 3;
        for (int32_t ox = 0; ox < ow; ox++) {
            float acc[3] = {0, 0, 0};
            for (int32_t t = 0; t < fh.taps; t++) {
                float wt = fh.wt[(size_t)ox * fh.taps + t];
                const float *s = row + (size_t)fh.idx[(size_t)ox * fh.taps + t] * 3;
                acc[0] += wt * s[0];
                acc[1] += wt * s[1];
                acc[2] += wt * s[2];
            }
            for (int c = 0; c < 3; c++) {
                float v = floorf(acc[c] + 0.5f);
                dst[ox * 3 + c] = (uint8_t)(v < 0.0f ? 0 : v > 255.0f ? 255 : v);
            }
        }
    }
    return VLM_OK;
}

vlm_status vlm_frame_letterbox(const uint8_t *rgb, int32_t w, int32_t h, size_t stride, int32_t size, uint8_t *out) {
    if (!letterbox_args_ok(rgb, w, h, stride, size, out)) return VLM_ERR_INVALID_ARG;
    size_t need = vlm_frame_letterbox_scratch_size(w, h, size);
    void *scratch = malloc(need);
    if (!scratch) return VLM_ERR_OOM;
    vlm_status st = vlm_frame_letterbox_scratch(rgb, w, h, stride, size, out, scratch, need);
    free(scratch);
    return st;
}

vlm_status vlm_frame_to_pixels(const uint8_t *rgb, int32_t size, float *pixels) {
    if (!rgb || !pixels || size <= 0 || size > 16384) return VLM_ERR_INVALID_ARG;
    size_t n = (size_t)size * size;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            /* same operation order as the original: x * (1/255), then (x - 0.5) / 0.5 */
            float x = (float)rgb[i * 3 + c] * 0.00392156862745098f;
            pixels[(size_t)c * n + i] = (x - 0.5f) / 0.5f;
        }
    return VLM_OK;
}
