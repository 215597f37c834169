/* ops_avx512.c - AVX-512 kernels (F/BW/VL/DQ + VNNI; F16C for f16).
 *
 * Compiled for any x86-64 with a target pragma; only called after cpuid says
 * the CPU and OS support it (cpu.c). Same arithmetic as ops_scalar.c up to
 * f32 rounding order; see ops.h and docs/kernels.md.
 *
 * matmul
 *   T <= SMALL_T: "weights once" kernel. 4 weight rows x up to 6 activation
 *     rows of 16-lane f32 accumulators; each weight vector (widened from
 *     f16/bf16 in registers) feeds 6 FMAs; reduced horizontally at the end.
 *   T >  SMALL_T: GEMM. W is packed per thread into a KC x 32 f32 panel
 *     (transposed, widened); a 12 x 32 register tile of x rows times the panel
 *     (24 accumulators, 12 broadcasts + 2 loads per 24 FMAs).
 *   q8_0 / q4_0: VPDPBUSD on 64-byte steps (2 blocks). Weights become u8
 *     (q4_0 nibbles as is, q8_0 + 128); the offset (8 or 128 times the sum of
 *     the activation quants) starts the integer accumulator, so each lane
 *     holds an exact partial of the block's integer dot; the lanes are scaled
 *     by d_w*d_x and summed in f32. 4 weight rows x up to 4 activation rows.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <math.h>

#include "ops/kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), \
                             apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

#define INLINE static inline __attribute__((always_inline))

/* ---- math helpers ------------------------------------------------------------------ */

INLINE float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

/* exp(x) to ~1 ulp: n = round(x log2 e), r = x - n ln2 (two-part), degree-7
 * Taylor on |r| <= 0.347 (truncation < 6e-9 relative), scaled by 2^n with
 * scalef (correct overflow to inf and gradual underflow). NaN propagates. */
INLINE __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

INLINE __mmask16 tail_mask(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/* ---- matmul: weight loaders (16 elements at k, masked) ------------------------------------ */

enum { WT_F32, WT_F16, WT_BF16 };

INLINE __m512 load_w(int wt, const uint8_t *row, int64_t k, __mmask16 m) {
    if (wt == WT_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + k);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k);
    if (wt == WT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* ---- matmul: small T ----------------------------------------------------------------------- */

#define SMALL_T 16

/* K is walked in blocks of KBLK so the activation rows of a tile stay in L1
 * while the weight rows stream; partial sums wait in part[r][t] between
 * blocks. */
#define KBLK 512

/* Tile y[t0 .. t0+TC, n .. n+R], k in [k0, k1); first/last block of K. */
INLINE void mm_small_tile(const vlm_mm_job *j, int wt, int R, int TC, int64_t n, int64_t t0, int64_t k0, int64_t k1,
                          float part[4][SMALL_T][16]) {
    const bool first = k0 == 0, last = k1 == j->K;
    __m512 acc[4][6];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < TC; t++) acc[r][t] = first ? _mm512_setzero_ps() : _mm512_load_ps(part[r][t0 + t]);
    const uint8_t *wr[4];
    for (int r = 0; r < R; r++) wr[r] = j->w + (size_t)(n + r) * j->w_row;
    const float *xr[6];
    for (int t = 0; t < TC; t++) xr[t] = j->x + (t0 + t) * j->ldx;
    int64_t k = k0;
    for (; k + 16 <= k1; k += 16) {
        __m512 w[4];
        for (int r = 0; r < R; r++) w[r] = load_w(wt, wr[r], k, 0xffff);
        for (int t = 0; t < TC; t++) {
            __m512 xv = _mm512_loadu_ps(xr[t] + k);
            for (int r = 0; r < R; r++) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
        }
    }
    if (k < k1) {
        __mmask16 m = tail_mask(k1 - k);
        __m512 w[4];
        for (int r = 0; r < R; r++) w[r] = load_w(wt, wr[r], k, m);
        for (int t = 0; t < TC; t++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, xr[t] + k);
            for (int r = 0; r < R; r++) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
        }
    }
    if (!last) {
        for (int r = 0; r < R; r++)
            for (int t = 0; t < TC; t++) _mm512_store_ps(part[r][t0 + t], acc[r][t]);
        return;
    }
    for (int t = 0; t < TC; t++)
        for (int r = 0; r < R; r++)
            j->y[(t0 + t) * j->ldy + n + r] = hsum(acc[r][t]) + (j->bias ? j->bias[n + r] : 0.0f);
}

#define SMALL_CASE(R, TC) \
    case (R) * 8 + (TC): mm_small_tile(j, wt, R, TC, n, t0, k0, k1, part); break;

static void mm_small(const vlm_mm_job *j, int wt, int64_t n0, int64_t n1) {
    float part[4][SMALL_T][16] __attribute__((aligned(64)));
    for (int64_t n = n0; n < n1; n += 4) {
        const int R = n1 - n >= 4 ? 4 : (int)(n1 - n);
        for (int64_t k0 = 0; k0 < j->K; k0 += KBLK) {
            const int64_t k1 = j->K - k0 > KBLK ? k0 + KBLK : j->K;
            for (int64_t t0 = 0; t0 < j->T; t0 += 6) {
                const int TC = j->T - t0 >= 6 ? 6 : (int)(j->T - t0);
                switch (R * 8 + TC) {
                    SMALL_CASE(1, 1) SMALL_CASE(1, 2) SMALL_CASE(1, 3) SMALL_CASE(1, 4) SMALL_CASE(1, 5) SMALL_CASE(1, 6)
                    SMALL_CASE(2, 1) SMALL_CASE(2, 2) SMALL_CASE(2, 3) SMALL_CASE(2, 4) SMALL_CASE(2, 5) SMALL_CASE(2, 6)
                    SMALL_CASE(3, 1) SMALL_CASE(3, 2) SMALL_CASE(3, 3) SMALL_CASE(3, 4) SMALL_CASE(3, 5) SMALL_CASE(3, 6)
                    SMALL_CASE(4, 1) SMALL_CASE(4, 2) SMALL_CASE(4, 3) SMALL_CASE(4, 4) SMALL_CASE(4, 5) SMALL_CASE(4, 6)
                default: break;
                }
            }
        }
    }
}

/* ---- matmul: GEMM for large T ------------------------------------------------------------------- */

#define KC 256
#define NR 32
#define MR 12

/* In-register 16x16 transpose: on return r[i] holds column i of the input. */
INLINE void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* r[4i+c], 128-bit lane L: rows 4i..4i+3 of column 4L+c */
        r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    __m512 o[16];
    for (int c = 0; c < 4; c++) {
        const __m512 u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xee);
        const __m512 u2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44);
        const __m512 u3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xee);
        o[c] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        o[4 + c] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
        o[8 + c] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        o[12 + c] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
    }
    for (int i = 0; i < 16; i++) r[i] = o[i];
}

/* bp[kk][c] = w[n + c][k0 + kk] for c < nc (zero beyond), kk < kc: blocks of
 * 16 rows x 16 k are loaded (widened), transposed in registers and stored. */
static void pack_panel(const vlm_mm_job *j, int wt, int64_t n, int nc, int64_t k0, int kc, float *bp) {
    for (int c0 = 0; c0 < NR; c0 += 16) {
        const uint8_t *rows[16];
        for (int r = 0; r < 16; r++) rows[r] = c0 + r < nc ? j->w + (size_t)(n + c0 + r) * j->w_row : NULL;
        for (int kk = 0; kk < kc; kk += 16) {
            const __mmask16 m = tail_mask(kc - kk);
            __m512 v[16];
            for (int r = 0; r < 16; r++) v[r] = rows[r] ? load_w(wt, rows[r], k0 + kk, m) : _mm512_setzero_ps();
            transpose16(v);
            const int lim = kc - kk < 16 ? kc - kk : 16;
            for (int i = 0; i < lim; i++) _mm512_store_ps(bp + (kk + i) * NR + c0, v[i]);
        }
    }
}

/* c[0:M, 0:32] (+)= x[0:M, 0:kc] @ bp; first: start from zero; last: add bias. */
INLINE void gemm_micro(int M, int kc, const float *x, int64_t ldx, const float *bp, float *y, int64_t ldy, int nc,
                       bool first, const float *bias) {
    __m512 c0[MR], c1[MR];
    const __mmask16 m0 = tail_mask(nc), m1 = tail_mask(nc > 16 ? nc - 16 : 0);
    for (int r = 0; r < M; r++) {
        if (first) {
            c0[r] = _mm512_setzero_ps();
            c1[r] = _mm512_setzero_ps();
        } else {
            c0[r] = _mm512_maskz_loadu_ps(m0, y + r * ldy);
            c1[r] = _mm512_maskz_loadu_ps(m1, y + r * ldy + 16);
        }
    }
    for (int kk = 0; kk < kc; kk++) {
        const __m512 b0 = _mm512_load_ps(bp + kk * NR), b1 = _mm512_load_ps(bp + kk * NR + 16);
        for (int r = 0; r < M; r++) {
            const __m512 a = _mm512_set1_ps(x[r * ldx + kk]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
    }
    if (bias) {
        const __m512 bb0 = _mm512_maskz_loadu_ps(m0, bias), bb1 = _mm512_maskz_loadu_ps(m1, bias + 16);
        for (int r = 0; r < M; r++) {
            c0[r] = _mm512_add_ps(c0[r], bb0);
            c1[r] = _mm512_add_ps(c1[r], bb1);
        }
    }
    for (int r = 0; r < M; r++) {
        _mm512_mask_storeu_ps(y + r * ldy, m0, c0[r]);
        _mm512_mask_storeu_ps(y + r * ldy + 16, m1, c1[r]);
    }
}

#define MICRO_CASE(M) \
    case M: gemm_micro(M, kc, x, ldx, bp, y, ldy, nc, first, bias); break;

static void gemm_micro_any(int M, int kc, const float *x, int64_t ldx, const float *bp, float *y, int64_t ldy,
                           int nc, bool first, const float *bias) {
    switch (M) {
        MICRO_CASE(1) MICRO_CASE(2) MICRO_CASE(3) MICRO_CASE(4) MICRO_CASE(5) MICRO_CASE(6)
        MICRO_CASE(7) MICRO_CASE(8) MICRO_CASE(9) MICRO_CASE(10) MICRO_CASE(11) MICRO_CASE(12)
    default: break;
    }
}

static void mm_gemm(const vlm_mm_job *j, int wt, int64_t n0, int64_t n1, void *tscratch) {
    float *bp = tscratch; /* KC * NR floats = 32 KiB */
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

/* ---- matmul: q8_0 / q4_0 with VNNI ----------------------------------------------------------------- */

enum { WQ_Q8, WQ_Q4 };

/* 64 u8 weights of blocks b, b+1 of a row, in activation order. */
INLINE __m512i load_wq(int wq, const uint8_t *row, int64_t b) {
    if (wq == WQ_Q8) {
        const vlm_block_q8_0 *blk = (const vlm_block_q8_0 *)row + b;
        __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)blk[0].qs)),
                                       _mm256_loadu_si256((const __m256i *)blk[1].qs), 1);
        return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
    }
    const vlm_block_q4_0 *blk = (const vlm_block_q4_0 *)row + b;
    const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)blk[0].qs)),
                                              _mm_loadu_si128((const __m128i *)blk[1].qs), 1);
    const __m256i lo = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0f));
    /* [lo0 hi0 lo1 hi1] in 128-bit lanes */
    const __m512i idx = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
    return _mm512_permutex2var_epi64(_mm512_castsi256_si512(lo), idx, _mm512_castsi256_si512(hi));
}

/* scales of blocks b, b+1 of a weight row: lanes 0-7 d_b, 8-15 d_{b+1} */
INLINE __m512 load_wd(int wq, const uint8_t *row, int64_t b) {
    uint16_t d0, d1;
    if (wq == WQ_Q8) {
        d0 = ((const vlm_block_q8_0 *)row)[b].d;
        d1 = ((const vlm_block_q8_0 *)row)[b + 1].d;
    } else {
        d0 = ((const vlm_block_q4_0 *)row)[b].d;
        d1 = ((const vlm_block_q4_0 *)row)[b + 1].d;
    }
    const __m128 h = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)d0 | (uint32_t)d1 << 16)));
    return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                 _mm512_castps128_ps512(h));
}

/* One block (the last of an odd count), in the low 256 bits. */
INLINE __m512i load_wq1(int wq, const uint8_t *row, int64_t b) {
    if (wq == WQ_Q8) {
        const vlm_block_q8_0 *blk = (const vlm_block_q8_0 *)row + b;
        return _mm512_xor_si512(_mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)blk->qs)),
                                _mm512_set1_epi8((char)0x80));
    }
    const vlm_block_q4_0 *blk = (const vlm_block_q4_0 *)row + b;
    const __m128i q = _mm_loadu_si128((const __m128i *)blk->qs);
    const __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0x0f));
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f));
    return _mm512_zextsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

INLINE void mm_q_tile(const vlm_mm_job *j, int wq, int R, int TC, int64_t n, int64_t t0) {
    const int64_t nb = j->K / VLM_QK;
    const __m512i perm2 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i offs = _mm512_set1_epi32(wq == WQ_Q8 ? -16 : -1); /* 8 lanes x 16 = 128, x 1 = 8 */
    __m512 acc[4][4];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < TC; t++) acc[r][t] = _mm512_setzero_ps();
    const uint8_t *wr[4];
    for (int r = 0; r < R; r++) wr[r] = j->w + (size_t)(n + r) * j->w_row;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m512i w[4];
        __m512 wd[4];
        for (int r = 0; r < R; r++) {
            w[r] = load_wq(wq, wr[r], b);
            wd[r] = load_wd(wq, wr[r], b);
        }
        for (int t = 0; t < TC; t++) {
            const int64_t tt = t0 + t;
            const __m512i xv = _mm512_loadu_si512(j->xqs + tt * j->K + b * VLM_QK);
            const __m512i s2 = _mm512_permutexvar_epi32(
                perm2, _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(j->xs + tt * nb + b))));
            const __m512i init = _mm512_mullo_epi32(s2, offs);
            const __m512 xd = _mm512_permutexvar_ps(
                perm2, _mm512_castps128_ps512(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(j->xd + tt * nb + b)))));
            for (int r = 0; r < R; r++) {
                const __m512i is = _mm512_dpbusd_epi32(init, w[r], xv);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(wd[r], xd), acc[r][t]);
            }
        }
    }
    if (b < nb) { /* odd block count: one block in the low half */
        __m512i w[4];
        __m512 wd[4];
        for (int r = 0; r < R; r++) {
            w[r] = load_wq1(wq, wr[r], b);
            const uint16_t d = wq == WQ_Q8 ? ((const vlm_block_q8_0 *)wr[r])[b].d : ((const vlm_block_q4_0 *)wr[r])[b].d;
            wd[r] = _mm512_maskz_mov_ps(0x00ff, _mm512_set1_ps(_cvtsh_ss(d)));
        }
        for (int t = 0; t < TC; t++) {
            const int64_t tt = t0 + t;
            const __m512i xv = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(j->xqs + tt * j->K + b * VLM_QK)));
            const __m512i init = _mm512_maskz_mov_epi32(0x00ff, _mm512_mullo_epi32(_mm512_set1_epi32(j->xs[tt * nb + b]), offs));
            const __m512 xd = _mm512_set1_ps(j->xd[tt * nb + b]);
            for (int r = 0; r < R; r++) {
                const __m512i is = _mm512_dpbusd_epi32(init, w[r], xv);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(wd[r], xd), acc[r][t]);
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
    for (int64_t n = n0; n < n1; n += 4) {
        const int R = n1 - n >= 4 ? 4 : (int)(n1 - n);
        for (int64_t t0 = 0; t0 < j->T; t0 += 4) {
            const int TC = j->T - t0 >= 4 ? 4 : (int)(j->T - t0);
            switch (R * 8 + TC) {
                Q_CASE(1, 1) Q_CASE(1, 2) Q_CASE(1, 3) Q_CASE(1, 4)
                Q_CASE(2, 1) Q_CASE(2, 2) Q_CASE(2, 3) Q_CASE(2, 4)
                Q_CASE(3, 1) Q_CASE(3, 2) Q_CASE(3, 3) Q_CASE(3, 4)
                Q_CASE(4, 1) Q_CASE(4, 2) Q_CASE(4, 3) Q_CASE(4, 4)
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

/* Bit-identical to vlm_quantize_act_ref: same amax, d = amax/127, id = 1/d,
 * roundf(x*id) (half away from zero, done as trunc + a step where |frac| >= .5). */
static void quantize_act(const float *x, int8_t *qs, float *dout, int32_t *s, int64_t K) {
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < K / VLM_QK; b++) {
        const __m512 v0 = _mm512_loadu_ps(x + b * 32), v1 = _mm512_loadu_ps(x + b * 32 + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, absmask), _mm512_and_ps(v1, absmask)));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m512 idv = _mm512_set1_ps(id);
        __m512i q[2];
        const __m512 vv[2] = {v0, v1};
        for (int h = 0; h < 2; h++) {
            const __m512 v = _mm512_mul_ps(vv[h], idv);
            const __m512 tr = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m512 fr = _mm512_and_ps(_mm512_sub_ps(v, tr), absmask);
            const __mmask16 up = _mm512_cmp_ps_mask(fr, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
            const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
            const __m512 r = _mm512_mask_add_ps(tr, up, tr, one);
            q[h] = _mm512_cvttps_epi32(r);
        }
        _mm_storeu_si128((__m128i *)(qs + b * 32), _mm512_cvtsepi32_epi8(q[0]));
        _mm_storeu_si128((__m128i *)(qs + b * 32 + 16), _mm512_cvtsepi32_epi8(q[1]));
        s[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q[0], q[1]));
        dout[b] = vlm_f16_to_f32(vlm_f32_to_f16(d));
    }
}

/* ---- row ops -------------------------------------------------------------------------------------- */

static void rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        acc = _mm512_fmadd_ps(v, v, acc);
    }
    if (i < n) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
        acc = _mm512_fmadd_ps(v, v, acc);
    }
    const float r = (float)(1.0 / sqrt((double)hsum(acc) / (double)n + (double)eps));
    const __m512 rv = _mm512_set1_ps(r);
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), rv);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

static void layernorm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
    const float mean = (float)((double)hsum(acc) / (double)n);
    const __m512 mv = _mm512_set1_ps(mean);
    acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), mv);
        acc = _mm512_fmadd_ps(d, d, acc);
    }
    const float r = (float)(1.0 / sqrt((double)hsum(acc) / (double)n + (double)eps));
    const __m512 rv = _mm512_set1_ps(r);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mv), rv);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

static void softmax(float *y, const float *x, int64_t n, float scale) {
    const __m512 sv = _mm512_set1_ps(scale);
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv));
    }
    const __m512 mv = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv), mv));
        acc = _mm512_mask_add_ps(acc, m, acc, e);
        _mm512_mask_storeu_ps(y + i, m, e);
    }
    const __m512 inv = _mm512_set1_ps((float)(1.0 / (double)hsum(acc)));
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + i), inv));
    }
}

static void silu_mul(float *y, const float *g, const float *u, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv));
        const __m512 s = _mm512_div_ps(gv, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

static void gelu_tanh(float *y, const float *x, int64_t n) {
    const __m512 c = _mm512_set1_ps(0.7978845608028654f), a = _mm512_set1_ps(0.044715f);
    const __m512 m2 = _mm512_set1_ps(-2.0f), one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        /* same operation order as the scalar: c * (v + (a*v*v)*v) */
        const __m512 cube = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(a, v), v), v);
        const __m512 inner = _mm512_mul_ps(c, _mm512_add_ps(v, cube));
        const __m512 e = exp512(_mm512_mul_ps(m2, inner));
        _mm512_mask_storeu_ps(y + i, m, _mm512_div_ps(v, _mm512_add_ps(one, e)));
    }
}

static void add(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

static void mul(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

static void scale(float *y, const float *a, float s, int64_t n) {
    const __m512 sv = _mm512_set1_ps(s);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + i), sv));
    }
}

/* ---- attention ---------------------------------------------------------------------------------------- */

INLINE __m512 load_kv(const void *base, int type, int64_t idx, __mmask16 m) {
    if (type == VLM_DT_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)base + idx));
    return _mm512_maskz_loadu_ps(m, (const float *)base + idx);
}

/* 16 vectors -> one vector of their 16 horizontal sums (lane i = sum of v[i]). */
INLINE __m512 hsum16(__m512 v[16]) {
    /* level 1: pairs (i, i+8) fold 512 -> 256 halves */
    __m512 a[8];
    for (int i = 0; i < 8; i++) {
        __m512 lo = _mm512_shuffle_f32x4(v[i], v[i + 8], 0x44); /* v[i].lo256, v[i+8].lo256 */
        __m512 hi = _mm512_shuffle_f32x4(v[i], v[i + 8], 0xee); /* v[i].hi256, v[i+8].hi256 */
        a[i] = _mm512_add_ps(lo, hi); /* [i: 8 partial | i+8: 8 partial] */
    }
    __m512 bq[4];
    for (int i = 0; i < 4; i++) {
        __m512 lo = _mm512_shuffle_f32x4(a[i], a[i + 4], 0x88); /* 128-lanes 0,2 of a[i], 0,2 of a[i+4] */
        __m512 hi = _mm512_shuffle_f32x4(a[i], a[i + 4], 0xdd); /* lanes 1,3 */
        bq[i] = _mm512_add_ps(lo, hi); /* 128-lane L: sums of 4 for vectors {i, i+8, i+4, i+12}[L] */
    }
    __m512 c[2];
    for (int i = 0; i < 2; i++) {
        __m512 lo = _mm512_shuffle_ps(bq[i], bq[i + 2], 0x44); /* elems 0,1 of each */
        __m512 hi = _mm512_shuffle_ps(bq[i], bq[i + 2], 0xee); /* elems 2,3 */
        c[i] = _mm512_add_ps(lo, hi);
    }
    __m512 lo = _mm512_shuffle_ps(c[0], c[1], 0x88);
    __m512 hi = _mm512_shuffle_ps(c[0], c[1], 0xdd);
    return _mm512_add_ps(lo, hi);
}

/* hsum16 returns lane l = sum of v[SLOT16[l]]; SLOT16 is its own inverse,
 * so storing key l's partial in v[SLOT16[l]] yields the keys in order. */
static const int SLOT16[16] = {0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15};

/* Queries [t0, t1) x heads [h0, h1) of one kv group, D == 16*ND. Keys come
 * in chunks of 16, widened once into kb/vb and used by every (query, head)
 * state; each state keeps its online-softmax m, l and acc[D] in memory. */
INLINE void attn_block(const vlm_attn_args *a, int64_t h0, int64_t h1, int64_t t0, int64_t t1, int ND) {
    const int64_t G = a->n_head / a->n_kv_head, g = h0 / G, D = a->D, nh = h1 - h0;
    const int64_t hoff = g * a->kv_stride_head;
    float acc[VLM_ATTN_MAX_STATES][128] __attribute__((aligned(64)));
    float kb[16][128] __attribute__((aligned(64))), vb[16][128] __attribute__((aligned(64)));
    float m[VLM_ATTN_MAX_STATES], l[VLM_ATTN_MAX_STATES];
    const int64_t ns = nh * (t1 - t0);
    for (int64_t s = 0; s < ns; s++) {
        m[s] = -INFINITY;
        l[s] = 0.0f;
        for (int d = 0; d < ND; d++) _mm512_store_ps(acc[s] + 16 * d, _mm512_setzero_ps());
    }
    const int64_t nk_max = vlm_attn_n_keys(a, t1 - 1) > vlm_attn_n_keys(a, t0) ? vlm_attn_n_keys(a, t1 - 1)
                                                                                  : vlm_attn_n_keys(a, t0);
    const __m512 scale = _mm512_set1_ps(a->scale);
    for (int64_t j0 = 0; j0 < nk_max; j0 += 16) {
        const int jn = nk_max - j0 >= 16 ? 16 : (int)(nk_max - j0);
        for (int i = 0; i < jn; i++) {
            const int64_t base = (j0 + i) * a->kv_stride_pos + hoff;
            for (int d = 0; d < ND; d++) {
                _mm512_store_ps(kb[i] + 16 * d, load_kv(a->k, a->kv_type, base + 16 * d, 0xffff));
                _mm512_store_ps(vb[i] + 16 * d, load_kv(a->v, a->kv_type, base + 16 * d, 0xffff));
            }
        }
        for (int64_t t = t0; t < t1; t++) {
            const int64_t vis64 = vlm_attn_n_keys(a, t) - j0;
            if (vis64 <= 0) continue;
            const int vis = vis64 < jn ? (int)vis64 : jn;
            const __mmask16 valid = tail_mask(vis);
            for (int64_t h = h0; h < h1; h++) {
                const int64_t s = (t - t0) * nh + (h - h0);
                const float *q = a->q + t * a->ldq + h * D;
                __m512 qv[8];
                for (int d = 0; d < ND; d++) qv[d] = _mm512_loadu_ps(q + 16 * d);
                __m512 part[16];
                for (int i = 0; i < 16; i++) {
                    __m512 p = _mm512_setzero_ps();
                    if (i < vis)
                        for (int d = 0; d < ND; d++) p = _mm512_fmadd_ps(qv[d], _mm512_load_ps(kb[i] + 16 * d), p);
                    part[SLOT16[i]] = p;
                }
                const __m512 sc = _mm512_mul_ps(hsum16(part), scale);
                const float cm = _mm512_mask_reduce_max_ps(valid, sc);
                __m512 av[8];
                for (int d = 0; d < ND; d++) av[d] = _mm512_load_ps(acc[s] + 16 * d);
                if (cm > m[s]) {
                    const float c = expf(m[s] - cm);
                    l[s] *= c;
                    const __m512 cv = _mm512_set1_ps(c);
                    for (int d = 0; d < ND; d++) av[d] = _mm512_mul_ps(av[d], cv);
                    m[s] = cm;
                }
                const __m512 p = _mm512_maskz_mov_ps(valid, exp512(_mm512_sub_ps(sc, _mm512_set1_ps(m[s]))));
                l[s] += _mm512_reduce_add_ps(p);
                float pj[16] __attribute__((aligned(64)));
                _mm512_store_ps(pj, p);
                for (int i = 0; i < vis; i++) {
                    const __m512 pb = _mm512_set1_ps(pj[i]);
                    for (int d = 0; d < ND; d++) av[d] = _mm512_fmadd_ps(pb, _mm512_load_ps(vb[i] + 16 * d), av[d]);
                }
                for (int d = 0; d < ND; d++) _mm512_store_ps(acc[s] + 16 * d, av[d]);
            }
        }
    }
    for (int64_t t = t0; t < t1; t++)
        for (int64_t h = h0; h < h1; h++) {
            const int64_t s = (t - t0) * nh + (h - h0);
            float *o = a->out + t * a->ldo + h * D;
            const __m512 inv = _mm512_set1_ps(l[s] > 0.0f ? 1.0f / l[s] : 0.0f);
            for (int d = 0; d < ND; d++) _mm512_storeu_ps(o + 16 * d, _mm512_mul_ps(_mm512_load_ps(acc[s] + 16 * d), inv));
        }
}

static void attn(const vlm_attn_args *a, int64_t h0, int64_t h1, int64_t t0, int64_t t1) {
    switch (a->D) {
    case 64: attn_block(a, h0, h1, t0, t1, 4); break;
    case 128: attn_block(a, h0, h1, t0, t1, 8); break;
    default: vlm_attn_ref(a, h0, h1, t0, t1); break;
    }
}

static const vlm_kernels table = {
    .isa = VLM_ISA_AVX512,
    .name = "avx512",
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

const vlm_kernels *vlm_kernels_avx512_table(void) { return &table; }

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#else /* not x86 */
#include "ops/kernels.h"
const vlm_kernels *vlm_kernels_avx512_table(void) { return NULL; }
#endif
