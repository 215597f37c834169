/* ops_avx2.c - AVX2 + FMA + F16C kernels (Haswell and later, Zen).
 *
 * Same structure as ops_avx512.c with 8-lane vectors and 16 registers:
 *   small T: 2 weight rows x up to 4 activation rows of accumulators;
 *   GEMM: 6 x 16 register tile over a KC x 16 packed f32 panel;
 *   q8_0/q4_0: one 32-block per 256-bit step with VPMADDUBSW + VPMADDWD
 *     (q8_0 as |w| times sign-adjusted x; q4_0 as nibbles times x with the
 *     -8 * sum(x) offset added to the integer lanes), scaled by d_w*d_x.
 * K tails (f32/f16/bf16) are finished in scalar code. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <math.h>

#include "ops/kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

#define INLINE static inline __attribute__((always_inline))

/* ---- math helpers ------------------------------------------------------------------ */

INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* exp(x): as exp512 in ops_avx512.c, with 2^n applied in two halves so the
 * whole range down to the subnormals is covered without scalef. */
INLINE __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), x);
    x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* lanes i < n set (n <= 8) */
INLINE __m256i tail_mask(int64_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n > 8 ? 8 : n)), idx);
}

/* ---- matmul: weights ------------------------------------------------------------------ */

enum { WT_F32, WT_F16, WT_BF16 };

INLINE __m256 load_w(int wt, const uint8_t *row, int64_t k) {
    if (wt == WT_F32) return _mm256_loadu_ps((const float *)row + k);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + k));
    if (wt == WT_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

INLINE float w_at(int wt, const uint8_t *row, int64_t k) {
    if (wt == WT_F32) return ((const float *)row)[k];
    if (wt == WT_F16) return _cvtsh_ss(((const uint16_t *)row)[k]);
    return vlm_bf16_to_f32(((const uint16_t *)row)[k]);
}

/* ---- matmul: small T -------------------------------------------------------------------- */

#define SMALL_T 12

INLINE void mm_small_tile(const vlm_mm_job *j, int wt, int R, int TC, int64_t n, int64_t t0) {
    __m256 acc[2][4];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < TC; t++) acc[r][t] = _mm256_setzero_ps();
    const uint8_t *wr[2];
    for (int r = 0; r < R; r++) wr[r] = j->w + (size_t)(n + r) * j->w_row;
    const float *xr[4];
    for (int t = 0; t < TC; t++) xr[t] = j->x + (t0 + t) * j->ldx;
    int64_t k = 0;
    for (; k + 8 <= j->K; k += 8) {
        __m256 w[2];
        for (int r = 0; r < R; r++) w[r] = load_w(wt, wr[r], k);
        for (int t = 0; t < TC; t++) {
            const __m256 xv = _mm256_loadu_ps(xr[t] + k);
            for (int r = 0; r < R; r++) acc[r][t] = _mm256_fmadd_ps(w[r], xv, acc[r][t]);
        }
    }
    for (int t = 0; t < TC; t++)
        for (int r = 0; r < R; r++) {
            float s = hsum(acc[r][t]);
            for (int64_t kk = k; kk < j->K; kk++) s += xr[t][kk] * w_at(wt, wr[r], kk);
            j->y[(t0 + t) * j->ldy + n + r] = s + (j->bias ? j->bias[n + r] : 0.0f);
        }
}

#define SMALL_CASE(R, TC) \
    case (R) * 8 + (TC): mm_small_tile(j, wt, R, TC, n, t0); break;

static void mm_small(const vlm_mm_job *j, int wt, int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n += 2) {
        const int R = n1 - n >= 2 ? 2 : 1;
        for (int64_t t0 = 0; t0 < j->T; t0 += 4) {
            const int TC = j->T - t0 >= 4 ? 4 : (int)(j->T - t0);
            switch (R * 8 + TC) {
                SMALL_CASE(1, 1) SMALL_CASE(1, 2) SMALL_CASE(1, 3) SMALL_CASE(1, 4)
                SMALL_CASE(2, 1) SMALL_CASE(2, 2) SMALL_CASE(2, 3) SMALL_CASE(2, 4)
            default: break;
            }
        }
    }
}

/* ---- matmul: GEMM ------------------------------------------------------------------------ */

#define KC 256
#define NR 16
#define MR 6

static void pack_panel(const vlm_mm_job *j, int wt, int64_t n, int nc, int64_t k0, int kc, float *bp) {
    for (int c = 0; c < NR; c++) {
        if (c >= nc) {
            for (int kk = 0; kk < kc; kk++) bp[kk * NR + c] = 0.0f;
            continue;
        }
        const uint8_t *row = j->w + (size_t)(n + c) * j->w_row;
        int kk = 0;
        for (; kk + 8 <= kc; kk += 8) {
            float tmp[8];
            _mm256_storeu_ps(tmp, load_w(wt, row, k0 + kk));
            for (int i = 0; i < 8; i++) bp[(kk + i) * NR + c] = tmp[i];
        }
        for (; kk < kc; kk++) bp[kk * NR + c] = w_at(wt, row, k0 + kk);
    }
}

INLINE void gemm_micro(int M, int kc, const float *x, int64_t ldx, const float *bp, float *y, int64_t ldy, int nc,
                       bool first, const float *bias) {
    __m256 c0[MR], c1[MR];
    const __m256i m0 = tail_mask(nc), m1 = tail_mask(nc > 8 ? nc - 8 : 0);
    for (int r = 0; r < M; r++) {
        if (first) {
            c0[r] = _mm256_setzero_ps();
            c1[r] = _mm256_setzero_ps();
        } else {
            c0[r] = _mm256_maskload_ps(y + r * ldy, m0);
            c1[r] = _mm256_maskload_ps(y + r * ldy + 8, m1);
        }
    }
    for (int kk = 0; kk < kc; kk++) {
        const __m256 b0 = _mm256_load_ps(bp + kk * NR), b1 = _mm256_load_ps(bp + kk * NR + 8);
        for (int r = 0; r < M; r++) {
            const __m256 a = _mm256_broadcast_ss(x + r * ldx + kk);
            c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
        }
    }
    if (bias) {
        const __m256 bb0 = _mm256_maskload_ps(bias, m0), bb1 = _mm256_maskload_ps(bias + 8, m1);
        for (int r = 0; r < M; r++) {
            c0[r] = _mm256_add_ps(c0[r], bb0);
            c1[r] = _mm256_add_ps(c1[r], bb1);
        }
    }
    for (int r = 0; r < M; r++) {
        _mm256_maskstore_ps(y + r * ldy, m0, c0[r]);
        _mm256_maskstore_ps(y + r * ldy + 8, m1, c1[r]);
    }
}

#define MICRO_CASE(M) \
    case M: gemm_micro(M, kc, x, ldx, bp, y, ldy, nc, first, bias); break;

static void gemm_micro_any(int M, int kc, const float *x, int64_t ldx, const float *bp, float *y, int64_t ldy,
                           int nc, bool first, const float *bias) {
    switch (M) {
        MICRO_CASE(1) MICRO_CASE(2) MICRO_CASE(3) MICRO_CASE(4) MICRO_CASE(5) MICRO_CASE(6)
    default: break;
    }
}

static void mm_gemm(const vlm_mm_job *j, int wt, int64_t n0, int64_t n1, void *tscratch) {
    float *bp = tscratch; /* KC * NR floats = 16 KiB */
    for (int64_t k0 = 0; k0 < j->K; k0 += KC) {
        const int kc = j->K - k0 >= KC ? KC : (int)(j->K - k0);
        const bool first = k0 == 0, last = k0 + kc == j->K;
        for (int64_t n = n0; n < n1; n += NR) {
            const int nc = n1 - n >= NR ? NR : (int)(n1 - n);
            pack_panel(j, wt, n, nc, k0, kc, bp);
            const float *bias = last && j->bias ? j->bias + n : NULL;
            for (int64_t t = 0; t < j->T; t += MR) {
                const int M = j->T - t >= MR ? MR : (int)(j->T - t);
                gemm_micro_any(M, kc, j->x + t * j->ldx + k0, j->ldx, bp, j->y + t * j->ldy + n, j->ldy, nc, first,
                               bias);
            }
        }
    }
}

static void mm_f32(const vlm_mm_job *j, int64_t n0, int64_t n1, void *s) {
    if (j->T <= SMALL_T) mm_small(j, WT_F32, n0, n1); else mm_gemm(j, WT_F32, n0, n1, s);
}
static void mm_f16(const vlm_mm_job *j, int64_t n0, int64_t n1, void *s) {
    if (j->T <= SMALL_T) mm_small(j, WT_F16, n0, n1); else mm_gemm(j, WT_F16, n0, n1, s);
}
static void mm_bf16(const vlm_mm_job *j, int64_t n0, int64_t n1, void *s) {
    if (j->T <= SMALL_T) mm_small(j, WT_BF16, n0, n1); else mm_gemm(j, WT_BF16, n0, n1, s);
}

/* ---- matmul: q8_0 / q4_0 ---------------------------------------------------------------------- */

enum { WQ_Q8, WQ_Q4 };

INLINE void mm_q_tile(const vlm_mm_job *j, int wq, int R, int TC, int64_t n, int64_t t0) {
    const int64_t nb = j->K / VLM_QK;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[2][4];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < TC; t++) acc[r][t] = _mm256_setzero_ps();
    const uint8_t *wr[2];
    for (int r = 0; r < R; r++) wr[r] = j->w + (size_t)(n + r) * j->w_row;
    for (int64_t b = 0; b < nb; b++) {
        __m256i w[2];
        float wd[2];
        for (int r = 0; r < R; r++) {
            if (wq == WQ_Q8) {
                const vlm_block_q8_0 *blk = (const vlm_block_q8_0 *)wr[r] + b;
                w[r] = _mm256_loadu_si256((const __m256i *)blk->qs); /* signed */
                wd[r] = _cvtsh_ss(blk->d);
            } else {
                const vlm_block_q4_0 *blk = (const vlm_block_q4_0 *)wr[r] + b;
                const __m128i q = _mm_loadu_si128((const __m128i *)blk->qs);
                const __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0x0f));
                const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f));
                w[r] = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1); /* unsigned 0..15 */
                wd[r] = _cvtsh_ss(blk->d);
            }
        }
        const __m256i wabs0 = wq == WQ_Q8 ? _mm256_sign_epi8(w[0], w[0]) : w[0];
        const __m256i wabs1 = wq == WQ_Q8 && R > 1 ? _mm256_sign_epi8(w[1], w[1]) : w[R > 1 ? 1 : 0];
        for (int t = 0; t < TC; t++) {
            const int64_t tt = t0 + t;
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(j->xqs + tt * j->K + b * VLM_QK));
            const float xd = j->xd[tt * nb + b];
            const __m256i off = _mm256_set1_epi32(-j->xs[tt * nb + b]); /* 8 lanes: -8 * sum */
            for (int r = 0; r < R; r++) {
                __m256i p16;
                if (wq == WQ_Q8)
                    p16 = _mm256_maddubs_epi16(r == 0 ? wabs0 : wabs1, _mm256_sign_epi8(xv, w[r]));
                else
                    p16 = _mm256_maddubs_epi16(w[r], xv);
                __m256i is = _mm256_madd_epi16(p16, ones);
                if (wq == WQ_Q4) is = _mm256_add_epi32(is, off);
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_set1_ps(wd[r] * xd), acc[r][t]);
            }
        }
    }
    for (int t = 0; t < TC; t++)
        for (int r = 0; r < R; r++)
            j->y[(t0 + t) * j->ldy + n + r] = hsum(acc[r][t]) + (j->bias ? j->bias[n + r] : 0.0f);
}

#define Q_CASE(R, TC) \
    case (R) * 8 + (TC): mm_q_tile(j, wq, R, TC, n, t0); break;

static void mm_q(const vlm_mm_job *j, int wq, int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n += 2) {
        const int R = n1 - n >= 2 ? 2 : 1;
        for (int64_t t0 = 0; t0 < j->T; t0 += 4) {
            const int TC = j->T - t0 >= 4 ? 4 : (int)(j->T - t0);
            switch (R * 8 + TC) {
                Q_CASE(1, 1) Q_CASE(1, 2) Q_CASE(1, 3) Q_CASE(1, 4)
                Q_CASE(2, 1) Q_CASE(2, 2) Q_CASE(2, 3) Q_CASE(2, 4)
            default: break;
            }
        }
    }
}

static void mm_q8_0(const vlm_mm_job *j, int64_t n0, int64_t n1, void *s) {
    (void)s;
    mm_q(j, WQ_Q8, n0, n1);
}
static void mm_q4_0(const vlm_mm_job *j, int64_t n0, int64_t n1, void *s) {
    (void)s;
    mm_q(j, WQ_Q4, n0, n1);
}

/* Bit-identical to vlm_quantize_act_ref (see ops_avx512.c). */
static void quantize_act(const float *x, int8_t *qs, float *dout, int32_t *s, int64_t K) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < K / VLM_QK; b++) {
        __m256 v[4], mx = _mm256_setzero_ps();
        for (int h = 0; h < 4; h++) {
            v[h] = _mm256_loadu_ps(x + b * 32 + 8 * h);
            mx = _mm256_max_ps(mx, _mm256_and_ps(v[h], absmask));
        }
        const float amax = hmax(mx);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m256 idv = _mm256_set1_ps(id);
        __m256i q[4];
        __m256i sum = _mm256_setzero_si256();
        for (int h = 0; h < 4; h++) {
            const __m256 vv = _mm256_mul_ps(v[h], idv);
            const __m256 tr = _mm256_round_ps(vv, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 fr = _mm256_and_ps(_mm256_sub_ps(vv, tr), absmask);
            const __m256 up = _mm256_cmp_ps(fr, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
            const __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(vv, _mm256_set1_ps(-0.0f)));
            q[h] = _mm256_cvttps_epi32(_mm256_add_ps(tr, _mm256_and_ps(up, one)));
            sum = _mm256_add_epi32(sum, q[h]);
        }
        /* pack 32 int32 -> 32 int8 in order */
        const __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
        __m256i p = _mm256_packs_epi16(p01, p23);
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(qs + b * 32), p);
        const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        const __m128i s2 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s[b] = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xb1)));
        dout[b] = vlm_f16_to_f32(vlm_f32_to_f16(d));
    }
}

/* ---- row ops ------------------------------------------------------------------------------------ */

static void rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    double ss = hsum(acc);
    for (int64_t k = i; k < n; k++) ss += (double)x[k] * x[k];
    const float r = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    const __m256 rv = _mm256_set1_ps(r);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), rv);
        if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
        _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; i++) y[i] = x[i] * r * (w ? w[i] : 1.0f);
}

static void layernorm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
    double s = hsum(acc);
    for (int64_t k = i; k < n; k++) s += x[k];
    const float mean = (float)(s / (double)n);
    const __m256 mv = _mm256_set1_ps(mean);
    acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mv);
        acc = _mm256_fmadd_ps(d, d, acc);
    }
    double v = hsum(acc);
    for (int64_t k = i; k < n; k++) v += (double)(x[k] - mean) * (x[k] - mean);
    const float r = (float)(1.0 / sqrt(v / (double)n + (double)eps));
    const __m256 rv = _mm256_set1_ps(r);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 o = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), rv);
        if (w) o = _mm256_mul_ps(o, _mm256_loadu_ps(w + i));
        if (b) o = _mm256_add_ps(o, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(y + i, o);
    }
    for (; i < n; i++) y[i] = (x[i] - mean) * r * (w ? w[i] : 1.0f) + (b ? b[i] : 0.0f);
}

static void softmax(float *y, const float *x, int64_t n, float scale) {
    const __m256 sv = _mm256_set1_ps(scale);
    float m = -INFINITY;
    int64_t i = 0;
    if (n >= 8) {
        __m256 mx = _mm256_set1_ps(-INFINITY);
        for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_mul_ps(_mm256_loadu_ps(x + i), sv));
        m = hmax(mx);
    }
    for (int64_t k = i; k < n; k++)
        if (x[k] * scale > m) m = x[k] * scale;
    const __m256 mv = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv), mv));
        acc = _mm256_add_ps(acc, e);
        _mm256_storeu_ps(y + i, e);
    }
    double sum = hsum(acc);
    for (int64_t k = i; k < n; k++) sum += (y[k] = expf(x[k] * scale - m));
    const float inv = (float)(1.0 / sum);
    const __m256 iv = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), iv));
    for (; i < n; i++) y[i] *= inv;
}

static void silu_mul(float *y, const float *g, const float *u, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 gv = _mm256_loadu_ps(g + i);
        const __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), gv))));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void gelu_tanh(float *y, const float *x, int64_t n) {
    const __m256 c = _mm256_set1_ps(0.7978845608028654f), a = _mm256_set1_ps(0.044715f);
    const __m256 m2 = _mm256_set1_ps(-2.0f), one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 cube = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(a, v), v), v);
        const __m256 inner = _mm256_mul_ps(c, _mm256_add_ps(v, cube));
        _mm256_storeu_ps(y + i, _mm256_div_ps(v, _mm256_add_ps(one, exp256(_mm256_mul_ps(m2, inner)))));
    }
    for (; i < n; i++) {
        const float v = x[i], inner = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        y[i] = v / (1.0f + expf(-2.0f * inner));
    }
}

static void add(float *y, const float *a, const float *b, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

static void mul(float *y, const float *a, const float *b, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) y[i] = a[i] * b[i];
}

static void scale(float *y, const float *a, float s, int64_t n) {
    const __m256 sv = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), sv));
    for (; i < n; i++) y[i] = a[i] * s;
}

/* ---- attention ----------------------------------------------------------------------------------- */

/* 8 vectors -> lane i = horizontal sum of v[i] */
INLINE __m256 hsum8(const __m256 v[8]) {
    const __m256 a0 = _mm256_hadd_ps(v[0], v[1]), a1 = _mm256_hadd_ps(v[2], v[3]);
    const __m256 a2 = _mm256_hadd_ps(v[4], v[5]), a3 = _mm256_hadd_ps(v[6], v[7]);
    const __m256 b0 = _mm256_hadd_ps(a0, a1), b1 = _mm256_hadd_ps(a2, a3);
    return _mm256_add_ps(_mm256_permute2f128_ps(b0, b1, 0x20), _mm256_permute2f128_ps(b0, b1, 0x31));
}

/* As attn_block in ops_avx512.c with chunks of 8 keys; D == 8*ND. */
INLINE void attn_block(const vlm_attn_args *a, int64_t h0, int64_t h1, int64_t t0, int64_t t1, int ND) {
    const int64_t G = a->n_head / a->n_kv_head, g = h0 / G, D = a->D, nh = h1 - h0;
    const int64_t hoff = g * a->kv_stride_head;
    float acc[VLM_ATTN_MAX_STATES][128] __attribute__((aligned(32)));
    float kb[8][128] __attribute__((aligned(32))), vb[8][128] __attribute__((aligned(32)));
    float m[VLM_ATTN_MAX_STATES], l[VLM_ATTN_MAX_STATES];
    const int64_t ns = nh * (t1 - t0);
    for (int64_t s = 0; s < ns; s++) {
        m[s] = -INFINITY;
        l[s] = 0.0f;
        for (int64_t d = 0; d < D; d++) acc[s][d] = 0.0f;
    }
    int64_t nk_max = vlm_attn_n_keys(a, t1 - 1);
    if (vlm_attn_n_keys(a, t0) > nk_max) nk_max = vlm_attn_n_keys(a, t0);
    for (int64_t j0 = 0; j0 < nk_max; j0 += 8) {
        const int jn = nk_max - j0 >= 8 ? 8 : (int)(nk_max - j0);
        for (int i = 0; i < jn; i++) {
            const int64_t base = (j0 + i) * a->kv_stride_pos + hoff;
            for (int d = 0; d < ND; d++) {
                if (a->kv_type == VLM_DT_F16) {
                    _mm256_store_ps(kb[i] + 8 * d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)a->k + base + 8 * d))));
                    _mm256_store_ps(vb[i] + 8 * d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)a->v + base + 8 * d))));
                } else {
                    _mm256_store_ps(kb[i] + 8 * d, _mm256_loadu_ps((const float *)a->k + base + 8 * d));
                    _mm256_store_ps(vb[i] + 8 * d, _mm256_loadu_ps((const float *)a->v + base + 8 * d));
                }
            }
        }
        for (int64_t t = t0; t < t1; t++) {
            const int64_t vis64 = vlm_attn_n_keys(a, t) - j0;
            if (vis64 <= 0) continue;
            const int vis = vis64 < jn ? (int)vis64 : jn;
            for (int64_t h = h0; h < h1; h++) {
                const int64_t s = (t - t0) * nh + (h - h0);
                const float *q = a->q + t * a->ldq + h * D;
                __m256 part[8];
                for (int i = 0; i < 8; i++) {
                    __m256 p = _mm256_setzero_ps();
                    if (i < vis)
                        for (int d = 0; d < ND; d++)
                            p = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * d), _mm256_load_ps(kb[i] + 8 * d), p);
                    part[i] = p;
                }
                float sc[8];
                _mm256_storeu_ps(sc, _mm256_mul_ps(hsum8(part), _mm256_set1_ps(a->scale)));
                float cm = sc[0];
                for (int i = 1; i < vis; i++) cm = sc[i] > cm ? sc[i] : cm;
                if (cm > m[s]) {
                    const float c = expf(m[s] - cm);
                    l[s] *= c;
                    const __m256 cv = _mm256_set1_ps(c);
                    for (int d = 0; d < ND; d++) _mm256_store_ps(acc[s] + 8 * d, _mm256_mul_ps(_mm256_load_ps(acc[s] + 8 * d), cv));
                    m[s] = cm;
                }
                const __m256 p = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_loadu_ps(sc), _mm256_set1_ps(m[s]))),
                                               _mm256_castsi256_ps(tail_mask(vis)));
                l[s] += hsum(p);
                float pj[8];
                _mm256_storeu_ps(pj, p);
                for (int d = 0; d < ND; d++) {
                    __m256 av = _mm256_load_ps(acc[s] + 8 * d);
                    for (int i = 0; i < vis; i++) av = _mm256_fmadd_ps(_mm256_set1_ps(pj[i]), _mm256_load_ps(vb[i] + 8 * d), av);
                    _mm256_store_ps(acc[s] + 8 * d, av);
                }
            }
        }
    }
    for (int64_t t = t0; t < t1; t++)
        for (int64_t h = h0; h < h1; h++) {
            const int64_t s = (t - t0) * nh + (h - h0);
            float *o = a->out + t * a->ldo + h * D;
            const __m256 inv = _mm256_set1_ps(l[s] > 0.0f ? 1.0f / l[s] : 0.0f);
            for (int d = 0; d < ND; d++) _mm256_storeu_ps(o + 8 * d, _mm256_mul_ps(_mm256_load_ps(acc[s] + 8 * d), inv));
        }
}

static void attn(const vlm_attn_args *a, int64_t h0, int64_t h1, int64_t t0, int64_t t1) {
    switch (a->D) {
    case 64: attn_block(a, h0, h1, t0, t1, 8); break;
    case 128: attn_block(a, h0, h1, t0, t1, 16); break;
    default: vlm_attn_ref(a, h0, h1, t0, t1); break;
    }
}

static const vlm_kernels table = {
    .isa = VLM_ISA_AVX2,
    .name = "avx2",
    .mm = {mm_f32, mm_f16, mm_bf16, mm_q8_0, mm_q4_0},
    .quantize_act = quantize_act,
    .rmsnorm = rmsnorm,
    .layernorm = layernorm,
    .softmax = softmax,
    .silu_mul = silu_mul,
    .gelu_tanh = gelu_tanh,
    .gelu_erf = vlm_gelu_erf_ref,
    .add = add,
    .mul = mul,
    .scale = scale,
    .attn = attn,
};

const vlm_kernels *vlm_kernels_avx2_table(void) { return &table; }

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#else /* not x86 */
#include "ops/kernels.h"
const vlm_kernels *vlm_kernels_avx2_table(void) { return NULL; }
#endif
