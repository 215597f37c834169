/* attn_blocks_impl.h - one width of the block kernels (attn_blocks.h); included
 * by attn_blocks.c with AB_W (lanes: 4, 8 or 16) and AB(name) (a suffixed name)
 * defined, inside that width's target region. The main loops take two vectors
 * of lanes per step (eight accumulators with the four rows); the columns left
 * over go to AB_REST (the 4-lane kernels) where defined, else one element at
 * a time, with the same order of terms. */

typedef float AB(vec) __attribute__((vector_size(AB_W * 4)));

/* The columns i0..Dh-1 left after the vector loop: to AB_REST's kernel where defined. */
#ifdef AB_REST
#define AB_HAND_OVER(kernel, ...)             \
    do {                                      \
        if (i0 < Dh) {                        \
            AB_REST(kernel)(__VA_ARGS__);     \
            return;                           \
        }                                     \
    } while (0)
#else
#define AB_HAND_OVER(kernel, ...) ((void)0)
#endif

static inline AB(vec) AB(ld)(const float *p) {
    AB(vec) v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void AB(st)(float *p, AB(vec) v) { memcpy(p, &v, sizeof v); }
static inline AB(vec) AB(bc)(float a) { return (AB(vec)){0} + a; }

static void AB(dots)(float *restrict dst, int64_t Tp, const float *restrict a, int64_t lda, int nr,
                     const float *restrict bt, int64_t n, int64_t Dh) {
    const float *ar[VLM_AB_ROWS];
    static const float zero[VLM_MODEL_MAX_HEAD_DIM];
    for (int r = 0; r < VLM_AB_ROWS; r++) ar[r] = r < nr ? a + r * lda : zero;
    for (int64_t s = 0; s < n; s += 2 * AB_W) {
        AB(vec) c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
        for (int64_t i = 0; i < Dh; i++) {
            const AB(vec) b0 = AB(ld)(bt + i * Tp + s), b1 = AB(ld)(bt + i * Tp + s + AB_W);
            const AB(vec) w0 = AB(bc)(ar[0][i]), w1 = AB(bc)(ar[1][i]), w2 = AB(bc)(ar[2][i]), w3 = AB(bc)(ar[3][i]);
            c00 += w0 * b0, c01 += w0 * b1;
            c10 += w1 * b0, c11 += w1 * b1;
            c20 += w2 * b0, c21 += w2 * b1;
            c30 += w3 * b0, c31 += w3 * b1;
        }
        AB(st)(dst + s, c00), AB(st)(dst + s + AB_W, c01);
        AB(st)(dst + Tp + s, c10), AB(st)(dst + Tp + s + AB_W, c11);
        AB(st)(dst + 2 * Tp + s, c20), AB(st)(dst + 2 * Tp + s + AB_W, c21);
        AB(st)(dst + 3 * Tp + s, c30), AB(st)(dst + 3 * Tp + s + AB_W, c31);
    }
}

static void AB(combine)(float *restrict out, int64_t ldo, const float *restrict w, int64_t Tp, int nr, int64_t n0,
                        const float *restrict x, int64_t ld, int64_t Dh) {
    int64_t i0 = 0;
    for (; i0 + 2 * AB_W <= Dh; i0 += 2 * AB_W) {
        AB(vec) acc[VLM_AB_ROWS][2] = {{{0}}};
        for (int64_t s = 0; s < n0; s++) {
            const AB(vec) x0 = AB(ld)(x + s * ld + i0), x1 = AB(ld)(x + s * ld + i0 + AB_W);
            const AB(vec) w0 = AB(bc)(w[s]), w1 = AB(bc)(w[Tp + s]), w2 = AB(bc)(w[2 * Tp + s]),
                          w3 = AB(bc)(w[3 * Tp + s]);
            acc[0][0] += w0 * x0, acc[0][1] += w0 * x1;
            acc[1][0] += w1 * x0, acc[1][1] += w1 * x1;
            acc[2][0] += w2 * x0, acc[2][1] += w2 * x1;
            acc[3][0] += w3 * x0, acc[3][1] += w3 * x1;
        }
        for (int r = 1; r < nr; r++)
            for (int64_t s = n0; s < n0 + r; s++) {
                const AB(vec) ws = AB(bc)(w[r * Tp + s]);
                acc[r][0] += ws * AB(ld)(x + s * ld + i0), acc[r][1] += ws * AB(ld)(x + s * ld + i0 + AB_W);
            }
        for (int r = 0; r < nr; r++) AB(st)(out + r * ldo + i0, acc[r][0]), AB(st)(out + r * ldo + i0 + AB_W, acc[r][1]);
    }
    AB_HAND_OVER(combine, out + i0, ldo, w, Tp, nr, n0, x + i0, ld, Dh - i0);
    for (; i0 < Dh; i0++)
        for (int r = 0; r < nr; r++) {
            float acc = 0;
            for (int64_t s = 0; s < n0 + r; s++) acc += w[r * Tp + s] * x[s * ld + i0];
            out[r * ldo + i0] = acc;
        }
}

static void AB(axpy)(float *restrict y, int64_t ld, const float *restrict w, int64_t Tp, int nr, int64_t n0,
                     const float *restrict a, int64_t lda, int64_t Dh) {
    int64_t i0 = 0;
    for (; i0 + 2 * AB_W <= Dh; i0 += 2 * AB_W) {
        AB(vec) av[VLM_AB_ROWS][2];
        for (int r = 0; r < VLM_AB_ROWS; r++)
            for (int k = 0; k < 2; k++) av[r][k] = r < nr ? AB(ld)(a + r * lda + i0 + AB_W * k) : (AB(vec)){0};
        if (nr == VLM_AB_ROWS)
            for (int64_t s = 0; s < n0; s++) {
                AB(vec) y0 = AB(ld)(y + s * ld + i0), y1 = AB(ld)(y + s * ld + i0 + AB_W);
                const AB(vec) w0 = AB(bc)(w[s]), w1 = AB(bc)(w[Tp + s]), w2 = AB(bc)(w[2 * Tp + s]),
                              w3 = AB(bc)(w[3 * Tp + s]);
                y0 += w0 * av[0][0], y1 += w0 * av[0][1];
                y0 += w1 * av[1][0], y1 += w1 * av[1][1];
                y0 += w2 * av[2][0], y1 += w2 * av[2][1];
                y0 += w3 * av[3][0], y1 += w3 * av[3][1];
                AB(st)(y + s * ld + i0, y0), AB(st)(y + s * ld + i0 + AB_W, y1);
            }
        else
            for (int64_t s = 0; s < n0; s++) {
                AB(vec) y0 = AB(ld)(y + s * ld + i0), y1 = AB(ld)(y + s * ld + i0 + AB_W);
                for (int r = 0; r < nr; r++) {
                    const AB(vec) ws = AB(bc)(w[r * Tp + s]);
                    y0 += ws * av[r][0], y1 += ws * av[r][1];
                }
                AB(st)(y + s * ld + i0, y0), AB(st)(y + s * ld + i0 + AB_W, y1);
            }
        for (int64_t s = n0; s < n0 + nr - 1; s++) {
            AB(vec) y0 = AB(ld)(y + s * ld + i0), y1 = AB(ld)(y + s * ld + i0 + AB_W);
            for (int r = (int)(s - n0) + 1; r < nr; r++) {
                const AB(vec) ws = AB(bc)(w[r * Tp + s]);
                y0 += ws * av[r][0], y1 += ws * av[r][1];
            }
            AB(st)(y + s * ld + i0, y0), AB(st)(y + s * ld + i0 + AB_W, y1);
        }
    }
    AB_HAND_OVER(axpy, y + i0, ld, w, Tp, nr, n0, a + i0, lda, Dh - i0);
    for (; i0 < Dh; i0++)
        for (int64_t s = 0; s < n0 + nr - 1; s++)
            for (int r = s < n0 ? 0 : (int)(s - n0) + 1; r < nr; r++) y[s * ld + i0] += w[r * Tp + s] * a[r * lda + i0];
}

static const vlm_attn_blocks AB(table) = {AB_NAME, AB(dots), AB(combine), AB(axpy)};
#undef AB_HAND_OVER
