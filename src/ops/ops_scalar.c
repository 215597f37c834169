/* ops_scalar.c - the reference kernels: plain C, one element at a time, in
 * the most obvious order. They define what every SIMD level must compute
 * (up to f32 rounding order) and are the only level on non-x86 builds. */
#include <math.h>

#include "ops/kernels.h"

/* ---- matmul -------------------------------------------------------------------- */
/* y[t, n] = bias[n] + sum_k x[t, k] * w[n, k], accumulated in f32 in k order. */

static void mm_f32_ref(const vlm_mm_job *j, int64_t n0, int64_t n1, void *tscratch) {
    (void)tscratch;
    for (int64_t n = n0; n < n1; n++) {
        const float *w = (const float *)(j->w + (size_t)n * j->w_row);
        for (int64_t t = 0; t < j->T; t++) {
            const float *x = j->x + t * j->ldx;
            float acc = 0.0f;
            for (int64_t k = 0; k < j->K; k++) acc += x[k] * w[k];
            j->y[t * j->ldy + n] = acc + (j->bias ? j->bias[n] : 0.0f);
        }
    }
}

static void mm_f16_ref(const vlm_mm_job *j, int64_t n0, int64_t n1, void *tscratch) {
    (void)tscratch;
    for (int64_t n = n0; n < n1; n++) {
        const uint16_t *w = (const uint16_t *)(j->w + (size_t)n * j->w_row);
        for (int64_t t = 0; t < j->T; t++) {
            const float *x = j->x + t * j->ldx;
            float acc = 0.0f;
            for (int64_t k = 0; k < j->K; k++) acc += x[k] * vlm_f16_to_f32(w[k]);
            j->y[t * j->ldy + n] = acc + (j->bias ? j->bias[n] : 0.0f);
        }
    }
}

static void mm_bf16_ref(const vlm_mm_job *j, int64_t n0, int64_t n1, void *tscratch) {
    (void)tscratch;
    for (int64_t n = n0; n < n1; n++) {
        const uint16_t *w = (const uint16_t *)(j->w + (size_t)n * j->w_row);
        for (int64_t t = 0; t < j->T; t++) {
            const float *x = j->x + t * j->ldx;
            float acc = 0.0f;
            for (int64_t k = 0; k < j->K; k++) acc += x[k] * vlm_bf16_to_f32(w[k]);
            j->y[t * j->ldy + n] = acc + (j->bias ? j->bias[n] : 0.0f);
        }
    }
}

/* Per block b: acc += (d_w * d_x) * isum, isum the exact integer dot. */
static void mm_q8_0_ref(const vlm_mm_job *j, int64_t n0, int64_t n1, void *tscratch) {
    (void)tscratch;
    const int64_t nb = j->K / VLM_QK;
    for (int64_t n = n0; n < n1; n++) {
        const vlm_block_q8_0 *w = (const vlm_block_q8_0 *)(j->w + (size_t)n * j->w_row);
        for (int64_t t = 0; t < j->T; t++) {
            const int8_t *xq = j->xqs + t * j->K;
            const float *xd = j->xd + t * nb;
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int32_t isum = 0;
                for (int i = 0; i < VLM_QK; i++) isum += (int32_t)w[b].qs[i] * xq[b * VLM_QK + i];
                acc += vlm_f16_to_f32(w[b].d) * xd[b] * (float)isum;
            }
            j->y[t * j->ldy + n] = acc + (j->bias ? j->bias[n] : 0.0f);
        }
    }
}

static void mm_q4_0_ref(const vlm_mm_job *j, int64_t n0, int64_t n1, void *tscratch) {
    (void)tscratch;
    const int64_t nb = j->K / VLM_QK;
    for (int64_t n = n0; n < n1; n++) {
        const vlm_block_q4_0 *w = (const vlm_block_q4_0 *)(j->w + (size_t)n * j->w_row);
        for (int64_t t = 0; t < j->T; t++) {
            const int8_t *xq = j->xqs + t * j->K;
            const float *xd = j->xd + t * nb;
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int32_t isum = 0;
                for (int i = 0; i < VLM_QK / 2; i++) {
                    isum += ((w[b].qs[i] & 15) - 8) * (int32_t)xq[b * VLM_QK + i];
                    isum += ((w[b].qs[i] >> 4) - 8) * (int32_t)xq[b * VLM_QK + i + VLM_QK / 2];
                }
                acc += vlm_f16_to_f32(w[b].d) * xd[b] * (float)isum;
            }
            j->y[t * j->ldy + n] = acc + (j->bias ? j->bias[n] : 0.0f);
        }
    }
}

/* ggml's q8_0 reference rule (quant.h), split into quants, the f32 value of
 * the stored f16 scale, and the per-block sum of the quants. */
void vlm_quantize_act_ref(const float *x, int8_t *qs, float *d, int32_t *s, int64_t K) {
    vlm_block_q8_0 blk;
    for (int64_t b = 0; b < K / VLM_QK; b++) {
        vlm_quantize_row_q8_0(x + b * VLM_QK, &blk, VLM_QK);
        int32_t sum = 0;
        for (int i = 0; i < VLM_QK; i++) sum += blk.qs[i];
        memcpy(qs + b * VLM_QK, blk.qs, VLM_QK);
        d[b] = vlm_f16_to_f32(blk.d);
        s[b] = sum;
    }
}

/* ---- row ops ----------------------------------------------------------------------- */

static void rmsnorm_ref(float *y, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    const float r = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * r * (w ? w[i] : 1.0f);
}

static void layernorm_ref(float *y, const float *x, const float *w, const float *b, int64_t n, float eps) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    const float mean = (float)(s / (double)n);
    double v = 0.0;
    for (int64_t i = 0; i < n; i++) v += (double)(x[i] - mean) * (x[i] - mean);
    const float r = (float)(1.0 / sqrt(v / (double)n + (double)eps));
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * r * (w ? w[i] : 1.0f) + (b ? b[i] : 0.0f);
}

static void softmax_ref(float *y, const float *x, int64_t n, float scale) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] * scale > m) m = x[i] * scale;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        y[i] = expf(x[i] * scale - m);
        sum += y[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) y[i] *= inv;
}

static void silu_mul_ref(float *y, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void gelu_tanh_ref(float *y, const float *x, int64_t n) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        const float inner = c * (v + 0.044715f * v * v * v);
        y[i] = v / (1.0f + expf(-2.0f * inner));
    }
}

void vlm_gelu_erf_ref(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        /* erfc keeps the negative tail accurate: 1 + erf(-a) = erfc(a) */
        y[i] = 0.5f * v * erfcf(-v * 0.70710678118654752f);
    }
}

static void add_ref(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void mul_ref(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

static void scale_ref(float *y, const float *a, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * s;
}

/* ---- attention ------------------------------------------------------------------------ */

static inline float kv_at(const void *base, int type, int64_t idx) {
    return type == VLM_DT_F16 ? vlm_f16_to_f32(((const uint16_t *)base)[idx]) : ((const float *)base)[idx];
}

/* Online softmax over the keys, one head at a time:
 *   m = running max, l = running sum of exp(s - m), acc = sum exp(s - m) v. */
void vlm_attn_ref(const vlm_attn_args *a, int64_t h0, int64_t h1, int64_t t0, int64_t t1) {
    const int64_t G = a->n_head / a->n_kv_head, D = a->D;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t nk = vlm_attn_n_keys(a, t);
        for (int64_t h = h0; h < h1; h++) {
            const int64_t g = h / G;
            const float *q = a->q + t * a->ldq + h * D;
            float *o = a->out + t * a->ldo + h * D;
            float acc[VLM_ATTN_MAX_D];
            for (int64_t d = 0; d < D; d++) acc[d] = 0.0f;
            float m = -INFINITY, l = 0.0f;
            for (int64_t jk = 0; jk < nk; jk++) {
                const int64_t base = jk * a->kv_stride_pos + g * a->kv_stride_head;
                float s = 0.0f;
                for (int64_t d = 0; d < D; d++) s += q[d] * kv_at(a->k, a->kv_type, base + d);
                s *= a->scale;
                if (s > m) { /* rescale what we have */
                    const float c = expf(m - s);
                    l *= c;
                    for (int64_t d = 0; d < D; d++) acc[d] *= c;
                    m = s;
                }
                const float p = expf(s - m);
                l += p;
                for (int64_t d = 0; d < D; d++) acc[d] += p * kv_at(a->v, a->kv_type, base + d);
            }
            const float inv = l > 0.0f ? 1.0f / l : 0.0f;
            for (int64_t d = 0; d < D; d++) o[d] = acc[d] * inv;
        }
    }
}

const vlm_kernels vlm_kernels_scalar = {
    .isa = VLM_ISA_SCALAR,
    .name = "scalar",
    .mm = {mm_f32_ref, mm_f16_ref, mm_bf16_ref, mm_q8_0_ref, mm_q4_0_ref},
    .quantize_act = vlm_quantize_act_ref,
    .rmsnorm = rmsnorm_ref,
    .layernorm = layernorm_ref,
    .softmax = softmax_ref,
    .silu_mul = silu_mul_ref,
    .gelu_tanh = gelu_tanh_ref,
    .gelu_erf = vlm_gelu_erf_ref,
    .add = add_ref,
    .mul = mul_ref,
    .scale = scale_ref,
    .attn = vlm_attn_ref,
};
