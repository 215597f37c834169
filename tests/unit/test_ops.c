/* test_ops.c - the compute kernels of src/ops against their oracles.
 *
 * Oracles and tolerances (u = 2^-24, the f32 unit roundoff):
 *  - scalar matmul vs a double-precision sum over the same (dequantized)
 *    operands: |y - ref| <= (K + 2) u sum|x w| + 1e-30 (f32 accumulation bound);
 *    for q8_0/q4_0 the operands are the quantized activations, exactly as the
 *    kernels see them.
 *  - every SIMD level vs scalar: |y - y_scalar| <= 1e-5 sum_k |x_k w_k| (+ the
 *    same of the bias); 2 threads give bit-identical results to 1 thread.
 *  - q8_0/q4_0 matmul vs the f32 matmul of the original data, by NMSE
 *    (sum (y - y32)^2 / sum y32^2) on Gaussian data: the quantization noise of
 *    one 32-block with step d is d^2/12 per element with d = amax/127 (q8_0)
 *    or amax/8 (q4_0); amax of 32 Gaussians is ~2.5 sigma (rarely > 3.5), so
 *    the relative noise is <= (3.5/127)^2/12 = 6.3e-5 per q8_0 operand and
 *    (3.5/8)^2/12 = 1.6e-2 per q4_0 operand. Bounds: q8_0 x q8_0 2e-4,
 *    q4_0 x q8_0 2e-2; a broken kernel gives NMSE ~1.
 *  - row ops vs double formulas: relative 1e-6 (exp-based: 4e-6) plus an
 *    absolute floor of 1e-6 of the row scale; SIMD vs scalar the same.
 *  - attention vs a double two-pass softmax: 1e-5 of sum p|v|.
 * Shapes include odd K (f32/f16/bf16), odd block counts, N and T tails. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/kernels.h"

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t rng_s = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng_s ^= rng_s << 13;
    rng_s ^= rng_s >> 7;
    rng_s ^= rng_s << 17;
    return (uint32_t)(rng_s >> 11);
}
static float unif(void) { return (float)(rnd() & 0xffffff) / 16777216.0f * 2.0f - 1.0f; }
static float gauss(void) {
    float u1 = ((float)(rnd() & 0xffffff) + 1.0f) / 16777217.0f, u2 = unif();
    return sqrtf(-2.0f * logf(u1)) * cosf(3.14159265f * u2);
}
static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = gauss() * scale;
}

static const vlm_kernels *levels[4];
static int n_levels;
static vlm_pool *pool2;

static void *scratch;
static size_t scratch_size = 64u << 20;

static vlm_ops make_ops(const vlm_kernels *k, vlm_pool *p) {
    vlm_ops o = {k, p, scratch, scratch_size};
    return o;
}

static void setup_levels(void) {
    levels[n_levels++] = vlm_kernels_get(VLM_ISA_SCALAR);
    for (int isa = VLM_ISA_AVX2; isa <= VLM_ISA_AVX512; isa++) {
        const vlm_kernels *k = vlm_kernels_get((vlm_isa)isa);
        if (vlm_kernels_isa(k) == (vlm_isa)isa) levels[n_levels++] = k;
    }
    printf("levels:");
    for (int i = 0; i < n_levels; i++) printf(" %s", vlm_kernels_name(levels[i]));
    printf(" (best %s)\n", vlm_kernels_name(vlm_kernels_best()));
}

/* ---- matmul --------------------------------------------------------------------- */

static const int wtypes[] = {VLM_DT_F32, VLM_DT_F16, VLM_DT_BF16, VLM_DT_Q8_0, VLM_DT_Q4_0};

static bool is_q(int t) { return t == VLM_DT_Q8_0 || t == VLM_DT_Q4_0; }

/* w rows as stored, and as f32 (dequantized) for the oracle */
static void *make_weights(int wt, const float *wf, int64_t N, int64_t K, float *wdq) {
    size_t row = vlm_dtype_row_size(wt, K);
    uint8_t *w = malloc(row * (size_t)N);
    for (int64_t n = 0; n < N; n++) {
        CHECK(vlm_quantize_row(wt, wf + n * K, w + (size_t)n * row, K) == VLM_OK);
        CHECK(vlm_dequantize_row(wt, w + (size_t)n * row, wdq + n * K, K) == VLM_OK);
    }
    return w;
}

/* activations as the q kernels see them: q8_0 round trip of each row */
static void act_as_seen(int wt, const float *x, int64_t ldx, int64_t T, int64_t K, float *xs) {
    for (int64_t t = 0; t < T; t++) {
        if (!is_q(wt)) {
            memcpy(xs + t * K, x + t * ldx, (size_t)K * 4);
            continue;
        }
        int8_t qs[4096];
        float d[128];
        int32_t s[128];
        vlm_quantize_act_ref(x + t * ldx, qs, d, s, K);
        for (int64_t k = 0; k < K; k++) xs[t * K + k] = (float)qs[k] * d[k / 32];
    }
}

static void check_matmul_case(int wt, int64_t T, int64_t N, int64_t K, bool with_bias, int64_t pad) {
    const int64_t ldx = K + pad, ldy = N + pad;
    float *x = malloc((size_t)(T * ldx) * 4), *wf = malloc((size_t)(N * K) * 4), *wdq = malloc((size_t)(N * K) * 4);
    float *bias = with_bias ? malloc((size_t)N * 4) : NULL;
    float *xs = malloc((size_t)(T * K) * 4), *yref = malloc((size_t)(T * ldy) * 4), *y = malloc((size_t)(T * ldy) * 4);
    double *mag = malloc((size_t)(T * N) * sizeof(double));
    fill(x, T * ldx, 1.0f);
    fill(wf, N * K, 0.5f);
    if (bias) fill(bias, N, 1.0f);
    void *w = make_weights(wt, wf, N, K, wdq);
    act_as_seen(wt, x, ldx, T, K, xs);

    /* scalar vs double */
    vlm_ops o = make_ops(levels[0], NULL);
    for (int64_t i = 0; i < T * ldy; i++) yref[i] = -7.0f; /* padding must stay untouched */
    CHECK(vlm_matmul(&o, yref, ldy, x, ldx, w, wt, bias, T, N, K) == VLM_OK);
    int bad = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0, m = 0;
            for (int64_t k = 0; k < K; k++) {
                double p;
                if (is_q(wt)) { /* block-wise, as defined: sum_b (d_w d_x) isum */
                    p = (double)xs[t * K + k] * wdq[n * K + k];
                } else {
                    p = (double)xs[t * K + k] * wdq[n * K + k];
                }
                s += p;
                m += fabs(p);
            }
            if (bias) {
                s += bias[n];
                m += fabs(bias[n]);
            }
            mag[t * N + n] = m;
            double tol = (double)(K + 2) * 0x1p-24 * m + 1e-30;
            if (fabs(yref[t * ldy + n] - s) > tol && bad++ < 3)
                fprintf(stderr, "matmul %s T=%lld N=%lld K=%lld scalar y[%lld,%lld]=%g want %g\n", vlm_dtype_name(wt),
                        (long long)T, (long long)N, (long long)K, (long long)t, (long long)n, yref[t * ldy + n], s);
        }
    for (int64_t t = 0; t < T; t++)
        for (int64_t n = N; n < ldy; n++)
            if (yref[t * ldy + n] != -7.0f) bad++;
    CHECK_MSG(bad == 0, "scalar matmul %s T=%lld N=%lld K=%lld: %d bad", vlm_dtype_name(wt), (long long)T,
              (long long)N, (long long)K, bad);

    /* every level, 1 and 2 threads, vs scalar */
    for (int li = 0; li < n_levels; li++) {
        float *y1 = NULL;
        for (int th = 1; th <= 2; th++) {
            vlm_ops ol = make_ops(levels[li], th == 2 ? pool2 : NULL);
            for (int64_t i = 0; i < T * ldy; i++) y[i] = -7.0f;
            CHECK(vlm_matmul(&ol, y, ldy, x, ldx, w, wt, bias, T, N, K) == VLM_OK);
            int badl = 0;
            for (int64_t t = 0; t < T; t++) {
                for (int64_t n = 0; n < N; n++) {
                    double diff = fabs((double)y[t * ldy + n] - yref[t * ldy + n]);
                    if (diff > 1e-5 * mag[t * N + n] + 1e-30 && badl++ < 3)
                        fprintf(stderr, "%s th=%d %s T=%lld N=%lld K=%lld y[%lld,%lld]=%.9g scalar %.9g\n",
                                vlm_kernels_name(levels[li]), th, vlm_dtype_name(wt), (long long)T, (long long)N,
                                (long long)K, (long long)t, (long long)n, y[t * ldy + n], yref[t * ldy + n]);
                }
                for (int64_t n = N; n < ldy; n++)
                    if (y[t * ldy + n] != -7.0f) badl++;
            }
            CHECK_MSG(badl == 0, "%s th=%d matmul %s T=%lld N=%lld K=%lld: %d bad", vlm_kernels_name(levels[li]), th,
                      vlm_dtype_name(wt), (long long)T, (long long)N, (long long)K, badl);
            if (th == 1) {
                y1 = malloc((size_t)(T * ldy) * 4);
                memcpy(y1, y, (size_t)(T * ldy) * 4);
            } else {
                CHECK_MSG(!memcmp(y1, y, (size_t)(T * ldy) * 4), "%s: 2 threads differ from 1 (%s T=%lld N=%lld)",
                          vlm_kernels_name(levels[li]), vlm_dtype_name(wt), (long long)T, (long long)N);
            }
        }
        free(y1);
    }
    free(x), free(wf), free(wdq), free(bias), free(xs), free(yref), free(y), free(mag), free(w);
}

static void check_matmul(void) {
    const int64_t Ts[] = {1, 2, 3, 6, 7, 11, 13, 16, 17, 29, 40};
    const int64_t Ns[] = {1, 3, 4, 5, 33, 64, 130};
    const int64_t Kf[] = {1, 15, 16, 33, 100, 256, 300, 520};
    const int64_t Kq[] = {32, 64, 96, 256, 288, 544};
    int c = 0;
    for (size_t wi = 0; wi < sizeof wtypes / sizeof wtypes[0]; wi++) {
        int wt = wtypes[wi];
        const int64_t *Ks = is_q(wt) ? Kq : Kf;
        size_t nK = is_q(wt) ? sizeof Kq / sizeof Kq[0] : sizeof Kf / sizeof Kf[0];
        for (size_t ki = 0; ki < nK; ki++)
            for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
                /* every shape crossing with a rotating N keeps the test fast */
                int64_t N = Ns[(ki * 3 + ti + wi) % (sizeof Ns / sizeof Ns[0])];
                check_matmul_case(wt, Ts[ti], N, Ks[ki], (c & 1) != 0, (c % 3 == 0) ? 3 : 0);
                c++;
            }
    }
    /* a larger GEMM-path case with several K blocks and threads splitting N */
    check_matmul_case(VLM_DT_F32, 50, 200, 600, true, 1);
    check_matmul_case(VLM_DT_BF16, 37, 130, 513, false, 0);
    check_matmul_case(VLM_DT_F16, 64, 96, 264, true, 0);
    check_matmul_case(VLM_DT_Q4_0, 20, 140, 1024, true, 0);
    check_matmul_case(VLM_DT_Q8_0, 12, 140, 1024, false, 0);
}

/* quantized matmul vs the f32 matmul of the original data, by NMSE */
static void check_matmul_nmse(void) {
    const int64_t T = 11, N = 96, K = 1024;
    float *x = malloc(T * K * 4), *wf = malloc(N * K * 4), *wdq = malloc(N * K * 4);
    float *y32 = malloc(T * N * 4), *yq = malloc(T * N * 4);
    fill(x, T * K, 1.0f);
    fill(wf, N * K, 1.0f);
    vlm_ops o = make_ops(vlm_kernels_best(), pool2);
    CHECK(vlm_matmul(&o, y32, N, x, K, wf, VLM_DT_F32, NULL, T, N, K) == VLM_OK);
    const int qt[] = {VLM_DT_Q8_0, VLM_DT_Q4_0, VLM_DT_F16, VLM_DT_BF16};
    const double bound[] = {2e-4, 2e-2, 1e-6, 2e-5};
    for (int i = 0; i < 4; i++) {
        void *w = make_weights(qt[i], wf, N, K, wdq);
        CHECK(vlm_matmul(&o, yq, N, x, K, w, qt[i], NULL, T, N, K) == VLM_OK);
        double num = 0, den = 0;
        for (int64_t j = 0; j < T * N; j++) {
            num += ((double)yq[j] - y32[j]) * ((double)yq[j] - y32[j]);
            den += (double)y32[j] * y32[j];
        }
        printf("nmse %s vs f32: %.3g (bound %.0e)\n", vlm_dtype_name(qt[i]), num / den, bound[i]);
        CHECK_MSG(num / den < bound[i], "NMSE %s = %g", vlm_dtype_name(qt[i]), num / den);
        CHECK(num / den > 0); /* it did quantize */
        free(w);
    }
    free(x), free(wf), free(wdq), free(y32), free(yq);
}

static void check_matmul_args(void) {
    float x[64] = {0}, y[64];
    uint8_t w[256] = {0};
    vlm_ops o = make_ops(levels[0], NULL);
    CHECK(vlm_matmul(&o, y, 1, x, 32, w, 3, NULL, 1, 1, 32) == VLM_ERR_INVALID_ARG);            /* bad type */
    CHECK(vlm_matmul(&o, y, 1, x, 33, w, VLM_DT_Q8_0, NULL, 1, 1, 33) == VLM_ERR_INVALID_ARG);  /* K % 32 */
    CHECK(vlm_matmul(&o, y, 1, x, 8, w, VLM_DT_F32, NULL, 1, 1, 16) == VLM_ERR_INVALID_ARG);    /* ldx < K */
    CHECK(vlm_matmul(&o, y, 1, x, 16, w, VLM_DT_F32, NULL, 1, -1, 16) == VLM_ERR_INVALID_ARG);  /* N < 0 */
    CHECK(vlm_matmul(&o, y, 1, x, 16, w, VLM_DT_F32, NULL, 0, 1, 16) == VLM_OK);                /* empty */
    vlm_ops small = {levels[0], NULL, scratch, 100};
    CHECK(vlm_matmul(&small, y, 1, x, 32, w, VLM_DT_Q8_0, NULL, 1, 1, 32) == VLM_ERR_OOM);
    CHECK(vlm_matmul_scratch_size(VLM_DT_Q4_0, 11, 4096, 2) > vlm_matmul_scratch_size(VLM_DT_F32, 11, 4096, 2));
    CHECK(vlm_matmul_scratch_size(VLM_DT_F32, -1, 4096, 2) == 0);
    CHECK(vlm_matmul_scratch_size(VLM_DT_Q8_0, INT64_MAX / 2, INT64_MAX / 2, 2) == 0);
}

/* the SIMD activation quantizers are bit-identical to the reference */
static void check_quantize_act(void) {
    enum { K = 32 * 64 };
    static float x[K];
    for (int i = 0; i < K; i++) {
        int b = i / 32;
        if (b % 4 == 0) x[i] = (float)((int)(rnd() % 255) - 127) * 0.5f * 0.01f; /* ties after scaling */
        else if (b % 4 == 1) x[i] = gauss() * ldexpf(1.0f, (int)(rnd() % 40) - 20);
        else if (b % 4 == 2) x[i] = (i % 32 == 5) ? 3.0f : 0.0f;
        else x[i] = 0.0f;
    }
    int8_t q0[K], q1[K];
    float d0[K / 32], d1[K / 32];
    int32_t s0[K / 32], s1[K / 32];
    vlm_quantize_act_ref(x, q0, d0, s0, K);
    for (int li = 1; li < n_levels; li++) {
        levels[li]->quantize_act(x, q1, d1, s1, K);
        CHECK_MSG(!memcmp(q0, q1, K) && !memcmp(d0, d1, sizeof d0) && !memcmp(s0, s1, sizeof s0),
                  "%s quantize_act differs from the reference", vlm_kernels_name(levels[li]));
    }
}

/* ---- row ops ---------------------------------------------------------------------- */

static int close_rel(double got, double want, double rel, double abs_floor) {
    return fabs(got - want) <= rel * fabs(want) + abs_floor;
}

static void check_rows(void) {
    const int64_t ns[] = {1, 7, 16, 33, 100, 4099};
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        const int64_t n = ns[ni], T = 3;
        float *x = malloc(T * n * 4), *w = malloc(n * 4), *b = malloc(n * 4), *u = malloc(T * n * 4);
        float *y0 = malloc(T * n * 4), *y1 = malloc(T * n * 4);
        fill(x, T * n, 2.0f);
        fill(w, n, 1.0f);
        fill(b, n, 1.0f);
        fill(u, T * n, 1.0f);
        x[0] = 9.5f; /* a large value for softmax */
        for (int li = 0; li < n_levels; li++) {
            for (int th = 1; th <= 2; th++) {
                vlm_ops o = make_ops(levels[li], th == 2 ? pool2 : NULL);
                const char *nm = vlm_kernels_name(levels[li]);
                int bad;
                /* rmsnorm */
                vlm_rmsnorm(&o, y0, n, x, n, w, T, n, 1e-5f);
                bad = 0;
                for (int64_t t = 0; t < T; t++) {
                    double ss = 0;
                    for (int64_t i = 0; i < n; i++) ss += (double)x[t * n + i] * x[t * n + i];
                    double r = 1.0 / sqrt(ss / n + 1e-5);
                    for (int64_t i = 0; i < n; i++)
                        bad += !close_rel(y0[t * n + i], x[t * n + i] * r * w[i], 1e-6, 1e-7);
                }
                CHECK_MSG(bad == 0, "%s rmsnorm n=%lld: %d bad", nm, (long long)n, bad);
                /* layernorm */
                vlm_layernorm(&o, y0, n, x, n, w, b, T, n, 1e-6f);
                bad = 0;
                for (int64_t t = 0; t < T; t++) {
                    double s = 0, v = 0;
                    for (int64_t i = 0; i < n; i++) s += x[t * n + i];
                    s /= n;
                    for (int64_t i = 0; i < n; i++) v += (x[t * n + i] - s) * (x[t * n + i] - s);
                    double r = 1.0 / sqrt(v / n + 1e-6);
                    for (int64_t i = 0; i < n; i++)
                        bad += !close_rel(y0[t * n + i], (x[t * n + i] - s) * r * w[i] + b[i], 1e-6, 1e-6);
                }
                CHECK_MSG(bad == 0, "%s layernorm n=%lld: %d bad", nm, (long long)n, bad);
                /* softmax */
                vlm_softmax(&o, y0, n, x, n, T, n, 0.7f);
                bad = 0;
                for (int64_t t = 0; t < T; t++) {
                    double m = -INFINITY, s = 0;
                    for (int64_t i = 0; i < n; i++) m = fmax(m, 0.7 * x[t * n + i]);
                    for (int64_t i = 0; i < n; i++) s += exp(0.7 * x[t * n + i] - m);
                    for (int64_t i = 0; i < n; i++)
                        bad += !close_rel(y0[t * n + i], exp(0.7 * x[t * n + i] - m) / s, 4e-6, 1e-12);
                }
                CHECK_MSG(bad == 0, "%s softmax n=%lld: %d bad", nm, (long long)n, bad);
                /* elementwise over all T*n */
                const int64_t m = T * n;
                vlm_silu_mul(&o, y0, x, u, m);
                bad = 0;
                for (int64_t i = 0; i < m; i++)
                    bad += !close_rel(y0[i], x[i] / (1 + exp(-(double)x[i])) * u[i], 4e-6, 1e-12);
                CHECK_MSG(bad == 0, "%s silu_mul n=%lld: %d bad", nm, (long long)m, bad);
                vlm_gelu_tanh(&o, y0, x, m);
                bad = 0;
                for (int64_t i = 0; i < m; i++) {
                    double v = x[i], g = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
                    bad += !close_rel(y0[i], g, 4e-6, 1e-12);
                }
                CHECK_MSG(bad == 0, "%s gelu_tanh n=%lld: %d bad", nm, (long long)m, bad);
                vlm_gelu_erf(&o, y0, x, m);
                bad = 0;
                for (int64_t i = 0; i < m; i++) {
                    double v = x[i];
                    bad += !close_rel(y0[i], 0.5 * v * erfc(-v / sqrt(2.0)), 4e-6, 1e-12);
                }
                CHECK_MSG(bad == 0, "%s gelu_erf n=%lld: %d bad", nm, (long long)m, bad);
                vlm_add(&o, y0, x, u, m);
                vlm_mul(&o, y1, x, u, m);
                bad = 0;
                for (int64_t i = 0; i < m; i++) bad += y0[i] != x[i] + u[i] || y1[i] != x[i] * u[i];
                vlm_scale(&o, y1, x, -0.3f, m);
                for (int64_t i = 0; i < m; i++) bad += y1[i] != x[i] * -0.3f;
                CHECK_MSG(bad == 0, "%s add/mul/scale n=%lld: %d bad", nm, (long long)m, bad);
                /* in place */
                memcpy(y1, x, m * 4);
                vlm_silu_mul(&o, y1, y1, u, m);
                vlm_silu_mul(&o, y0, x, u, m);
                CHECK(!memcmp(y0, y1, m * 4));
            }
        }
        /* gelu_tanh of extreme inputs stays finite and signed right */
        float ex[6] = {-100.0f, -10.0f, 0.0f, 1e-30f, 10.0f, 100.0f}, ey[6];
        for (int li = 0; li < n_levels; li++) {
            vlm_ops o = make_ops(levels[li], NULL);
            vlm_gelu_tanh(&o, ey, ex, 6);
            CHECK(ey[0] == 0.0f && ey[1] <= 0.0f && ey[1] > -1e-20f && ey[2] == 0.0f && ey[4] == 10.0f &&
                  ey[5] == 100.0f);
            float sx[3] = {1000.0f, 0.0f, -1000.0f}, sy[3];
            vlm_softmax(&o, sy, 3, sx, 3, 1, 3, 1.0f);
            CHECK(sy[0] == 1.0f && sy[1] == 0.0f && sy[2] == 0.0f);
        }
        free(x), free(w), free(b), free(u), free(y0), free(y1);
    }
}

/* ---- RoPE ------------------------------------------------------------------------------- */

static void check_rope(void) {
    const int64_t T = 4, H = 3, D = 16;
    for (int mode = 0; mode < 2; mode++)
        for (int64_t n_rot = D; n_rot >= 8; n_rot -= 8) {
            float x[4 * 3 * 16], y[4 * 3 * 16];
            fill(x, T * H * D, 1.0f);
            memcpy(y, x, sizeof x);
            const int64_t pos[4] = {0, 5, 1000, 8191};
            vlm_ops o = make_ops(levels[0], NULL);
            CHECK(vlm_rope(&o, y, H * D, T, H, D, n_rot, pos, 0, 500000.0f, (vlm_rope_mode)mode) == VLM_OK);
            int bad = 0;
            for (int64_t t = 0; t < T; t++)
                for (int64_t h = 0; h < H; h++) {
                    const float *a = x + (t * H + h) * D;
                    const float *b = y + (t * H + h) * D;
                    for (int64_t i = 0; i < n_rot / 2; i++) {
                        float inv = 1.0f / powf(500000.0f, (float)(2 * i) / (float)n_rot);
                        double ang = (double)((float)pos[t] * inv);
                        int64_t i0 = mode ? i : 2 * i, i1 = mode ? i + n_rot / 2 : 2 * i + 1;
                        double r0 = a[i0] * cos(ang) - a[i1] * sin(ang), r1 = a[i0] * sin(ang) + a[i1] * cos(ang);
                        bad += !close_rel(b[i0], r0, 1e-6, 1e-6) + !close_rel(b[i1], r1, 1e-6, 1e-6);
                    }
                    for (int64_t i = n_rot; i < D; i++) bad += a[i] != b[i];
                }
            CHECK_MSG(bad == 0, "rope mode %d n_rot %lld: %d bad", mode, (long long)n_rot, bad);
            /* pos0 form equals the explicit positions 7, 8, 9, 10 */
            float z0[4 * 3 * 16], z1[4 * 3 * 16];
            memcpy(z0, x, sizeof x);
            memcpy(z1, x, sizeof x);
            const int64_t p2[4] = {7, 8, 9, 10};
            CHECK(vlm_rope(&o, z0, H * D, T, H, D, n_rot, p2, 0, 10000.0f, (vlm_rope_mode)mode) == VLM_OK);
            CHECK(vlm_rope(&o, z1, H * D, T, H, D, n_rot, NULL, 7, 10000.0f, (vlm_rope_mode)mode) == VLM_OK);
            CHECK(!memcmp(z0, z1, sizeof z0));
        }
    float x[16];
    vlm_ops o = make_ops(levels[0], NULL);
    CHECK(vlm_rope(&o, x, 16, 1, 1, 16, 15, NULL, 0, 1e4f, VLM_ROPE_ADJACENT) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_rope(&o, x, 16, 1, 1, 16, 18, NULL, 0, 1e4f, VLM_ROPE_ADJACENT) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_rope(&o, x, 16, 1, 1, 16, 16, NULL, 0, 0.0f, VLM_ROPE_ADJACENT) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_rope(&o, x, 16, 1, 1, 16, 16, NULL, 0, 1e4f, (vlm_rope_mode)5) == VLM_ERR_INVALID_ARG);
}

/* ---- embedding ---------------------------------------------------------------------------- */

static void check_get_row(void) {
    const int64_t R = 5, n = 64;
    float wf[5 * 64], wdq[5 * 64], y[64];
    fill(wf, R * n, 1.0f);
    for (size_t wi = 0; wi < sizeof wtypes / sizeof wtypes[0]; wi++) {
        void *w = make_weights(wtypes[wi], wf, R, n, wdq);
        for (int64_t id = 0; id < R; id++) {
            CHECK(vlm_get_row(y, w, wtypes[wi], R, n, id) == VLM_OK);
            CHECK(!memcmp(y, wdq + id * n, n * 4));
        }
        CHECK(vlm_get_row(y, w, wtypes[wi], R, n, R) == VLM_ERR_INVALID_ARG);
        CHECK(vlm_get_row(y, w, wtypes[wi], R, n, -1) == VLM_ERR_INVALID_ARG);
        free(w);
    }
    CHECK(vlm_get_row(y, wf, VLM_DT_Q4_0, R, 33, 0) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_get_row(y, wf, 77, R, n, 0) == VLM_ERR_INVALID_ARG);
}

/* ---- attention ----------------------------------------------------------------------------- */

static void check_attention_case(int kv_type, bool causal, int64_t T, int64_t H, int64_t HKV, int64_t D,
                                 int64_t n_kv, int64_t pos0) {
    const int64_t ldq = H * D + 2, spos = HKV * D + 1, shead = D;
    float *q = malloc(T * ldq * 4), *kf = malloc((n_kv + 1) * spos * 4), *vf = malloc((n_kv + 1) * spos * 4);
    float *o0 = malloc(T * ldq * 4), *o1 = malloc(T * ldq * 4);
    uint16_t *kh = malloc((n_kv + 1) * spos * 2), *vh = malloc((n_kv + 1) * spos * 2);
    fill(q, T * ldq, 1.0f);
    fill(kf, (n_kv + 1) * spos, 1.0f);
    fill(vf, (n_kv + 1) * spos, 1.0f);
    if (kv_type == VLM_DT_F16) { /* the oracle sees the f16 values */
        vlm_f32_to_f16_row(kf, kh, (n_kv + 1) * spos);
        vlm_f32_to_f16_row(vf, vh, (n_kv + 1) * spos);
        vlm_f16_to_f32_row(kh, kf, (n_kv + 1) * spos);
        vlm_f16_to_f32_row(vh, vf, (n_kv + 1) * spos);
    }
    vlm_attn_args a = {.q = q, .ldq = ldq, .out = o0, .ldo = ldq, .T = T, .n_head = H, .n_kv_head = HKV, .D = D,
                       .k = kv_type == VLM_DT_F16 ? (void *)kh : (void *)kf,
                       .v = kv_type == VLM_DT_F16 ? (void *)vh : (void *)vf, .kv_type = kv_type,
                       .kv_stride_pos = spos, .kv_stride_head = shead, .n_kv = n_kv, .pos0 = pos0,
                       .causal = causal, .scale = 1.0f / sqrtf((float)D)};
    for (int li = 0; li < n_levels; li++)
        for (int th = 1; th <= 2; th++) {
            vlm_ops o = make_ops(levels[li], th == 2 ? pool2 : NULL);
            a.out = li == 0 && th == 1 ? o0 : o1;
            CHECK(vlm_attention(&o, &a) == VLM_OK);
            int bad = 0;
            for (int64_t t = 0; t < T; t++)
                for (int64_t h = 0; h < H; h++) {
                    const int64_t g = h / (H / HKV);
                    int64_t nk = causal ? pos0 + t + 1 : n_kv;
                    if (nk > n_kv) nk = n_kv;
                    if (nk < 0) nk = 0;
                    double sc[600], m = -INFINITY, sum = 0;
                    for (int64_t j = 0; j < nk; j++) {
                        double s = 0;
                        for (int64_t d = 0; d < D; d++) s += (double)q[t * ldq + h * D + d] * kf[j * spos + g * shead + d];
                        sc[j] = s * a.scale;
                        m = fmax(m, sc[j]);
                    }
                    for (int64_t j = 0; j < nk; j++) sum += (sc[j] = exp(sc[j] - m));
                    for (int64_t d = 0; d < D; d++) {
                        double r = 0, mag = 0;
                        for (int64_t j = 0; j < nk; j++) {
                            r += sc[j] / sum * vf[j * spos + g * shead + d];
                            mag += sc[j] / sum * fabs(vf[j * spos + g * shead + d]);
                        }
                        float got = a.out[t * ldq + h * D + d];
                        if (!(fabs(got - r) <= 1e-5 * mag + 1e-30) && bad++ < 3)
                            fprintf(stderr, "attn %s t=%lld h=%lld d=%lld got %g want %g\n", vlm_kernels_name(levels[li]),
                                    (long long)t, (long long)h, (long long)d, got, r);
                    }
                }
            CHECK_MSG(bad == 0, "%s th=%d attention kv=%s causal=%d T=%lld H=%lld/%lld D=%lld n_kv=%lld: %d bad",
                      vlm_kernels_name(levels[li]), th, vlm_dtype_name(kv_type), causal, (long long)T, (long long)H,
                      (long long)HKV, (long long)D, (long long)n_kv, bad);
        }
    free(q), free(kf), free(vf), free(o0), free(o1), free(kh), free(vh);
}

static void check_attention(void) {
    check_attention_case(VLM_DT_F32, true, 5, 8, 2, 64, 37, 32);
    check_attention_case(VLM_DT_F16, true, 11, 8, 2, 128, 100, 89);
    check_attention_case(VLM_DT_F16, true, 3, 4, 4, 128, 16, 13);
    check_attention_case(VLM_DT_F32, false, 7, 4, 4, 64, 33, 0);
    check_attention_case(VLM_DT_F32, false, 2, 12, 1, 40, 21, 0); /* G = 12 > 8, generic D */
    check_attention_case(VLM_DT_F16, true, 4, 2, 1, 64, 5, -2);   /* first queries see no key */
    check_attention_case(VLM_DT_F32, true, 1, 2, 2, 128, 1, 0);
    check_attention_case(VLM_DT_F32, false, 2, 2, 2, 64, 0, 0);   /* empty cache */
    check_attention_case(VLM_DT_F32, false, 3, 2, 1, 128, 577, 0);
    vlm_ops o = make_ops(levels[0], NULL);
    float q[128];
    vlm_attn_args a = {.q = q, .ldq = 128, .out = q, .ldo = 128, .T = 1, .n_head = 3, .n_kv_head = 2, .D = 64,
                       .k = q, .v = q, .kv_type = VLM_DT_F32, .n_kv = 1, .scale = 1.0f};
    CHECK(vlm_attention(&o, &a) == VLM_ERR_INVALID_ARG); /* 3 % 2 */
    a.n_head = 2;
    a.kv_type = VLM_DT_Q8_0;
    CHECK(vlm_attention(&o, &a) == VLM_ERR_INVALID_ARG);
}

/* ---- threadpool and dispatch ------------------------------------------------------------------ */

typedef struct {
    atomic_long sum;
    int seen[8];
} pool_job;

static void pool_fn(void *ctx, int ith, int nth) {
    pool_job *j = ctx;
    atomic_fetch_add(&j->sum, (long)(ith + 1) * 1000 + nth);
    j->seen[ith]++;
}

static void *pool_thread(void *arg) {
    int *fail = arg;
    vlm_pool *p;
    if (vlm_pool_init(2, &p) != VLM_OK) {
        *fail = 1;
        return NULL;
    }
    for (int i = 0; i < 300; i++) {
        pool_job j = {0};
        vlm_pool_run(p, pool_fn, &j);
        if (atomic_load(&j.sum) != 1002 + 2002 || j.seen[0] != 1 || j.seen[1] != 1) *fail = 1;
    }
    vlm_pool_free(p);
    return NULL;
}

static void check_pool(void) {
    vlm_pool *p;
    CHECK(vlm_pool_init(0, &p) == VLM_ERR_INVALID_ARG && p == NULL);
    CHECK(vlm_pool_init(3, &p) == VLM_OK);
    CHECK(vlm_pool_n_threads(p) == 3);
    for (int i = 0; i < 100; i++) {
        pool_job j = {0};
        vlm_pool_run(p, pool_fn, &j);
        CHECK(atomic_load(&j.sum) == 1003 + 2003 + 3003);
    }
    CHECK(vlm_pool_set_n_threads(p, 1) == VLM_OK);
    pool_job j1 = {0};
    vlm_pool_run(p, pool_fn, &j1);
    CHECK(atomic_load(&j1.sum) == 1001 && j1.seen[1] == 0);
    CHECK(vlm_pool_set_n_threads(p, 5) == VLM_OK);
    pool_job j5 = {0};
    vlm_pool_run(p, pool_fn, &j5);
    CHECK(atomic_load(&j5.sum) == 15000 + 25 && j5.seen[4] == 1);
    vlm_pool_free(p);
    vlm_pool_free(NULL);
    CHECK(vlm_pool_n_threads(NULL) == 1);
    pool_job jn = {0};
    vlm_pool_run(NULL, pool_fn, &jn);
    CHECK(atomic_load(&jn.sum) == 1001);
    /* several pools at once, each driven from its own thread */
    pthread_t th[4];
    int fail[4] = {0};
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&th[i], NULL, pool_thread, &fail[i]) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(fail[i] == 0);
    }
    int64_t a, b;
    vlm_pool_split(100, 0, 2, 64, &a, &b);
    CHECK(a == 0 && b == 64);
    vlm_pool_split(100, 1, 2, 64, &a, &b);
    CHECK(a == 64 && b == 100);
    vlm_pool_split(10, 1, 4, 64, &a, &b); /* one aligned chunk: only thread 0 works */
    CHECK(a == b);
}

static void check_dispatch(void) {
    CHECK(vlm_isa_parse("avx2") == VLM_ISA_AVX2 && vlm_isa_parse("nope") == -1);
    CHECK(vlm_kernels_isa(vlm_kernels_get(VLM_ISA_SCALAR)) == VLM_ISA_SCALAR);
    const char *old = getenv("VLM_CPU");
    char *saved = old ? strdup(old) : NULL;
    setenv("VLM_CPU", "scalar", 1);
    CHECK(vlm_cpu_isa() == VLM_ISA_SCALAR);
    CHECK(vlm_kernels_isa(vlm_kernels_best()) == VLM_ISA_SCALAR);
    setenv("VLM_CPU", "avx2", 1);
    CHECK(vlm_cpu_isa() <= VLM_ISA_AVX2);
    if (saved) {
        setenv("VLM_CPU", saved, 1);
        free(saved);
    } else {
        unsetenv("VLM_CPU");
    }
    vlm_cpu_features f;
    vlm_cpu_detect(&f);
    printf("cpu: avx2=%d fma=%d f16c=%d avx512f=%d bw=%d vl=%d vnni=%d bf16=%d fp16=%d amx=%d/%d/%d os_amx=%d\n",
           f.avx2, f.fma, f.f16c, f.avx512f, f.avx512bw, f.avx512vl, f.avx512vnni, f.avx512bf16, f.avx512fp16,
           f.amx_tile, f.amx_int8, f.amx_bf16, f.os_amx);
}

int main(void) {
    scratch = aligned_alloc(64, scratch_size);
    CHECK(vlm_pool_init(2, &pool2) == VLM_OK);
    setup_levels();
    check_dispatch();
    check_pool();
    check_quantize_act();
    check_matmul_args();
    check_matmul();
    check_matmul_nmse();
    check_rows();
    check_rope();
    check_get_row();
    check_attention();
    vlm_pool_free(pool2);
    free(scratch);
    return check_done("test_ops");
}
