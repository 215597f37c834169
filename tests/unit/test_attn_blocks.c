/* test_attn_blocks.c - the trainer's attention block kernels (src/train/attn_blocks.c):
 *
 *  - at every width this CPU runs (4 lanes, AVX2's 8, AVX-512's 16), each kernel equals, bit for
 *    bit, a plain one-element-at-a-time loop that adds the terms in the documented order (a
 *    multiply, then an add); so the widths agree with each other and the trainer's results do
 *    not depend on which one the CPU gets;
 *  - over query-row counts 1..4, causal offsets, lengths and head sizes that leave a remainder
 *    after the vector loops (8, 16, 40, 72), with sentinels around every output: nothing outside the
 *    documented elements is written. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off") /* the oracle must not fuse either */
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/cpu.h"
#include "train/attn_blocks.h"

#define TP 128
#define MAXD 72
#define SENT -12345.0f

static uint32_t rng = 12345;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}
static void fill(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = frand();
}

/* the oracles: one element at a time, terms in order */
static void ref_dots(float *dst, const float *a, int64_t lda, int nr, const float *bt, int64_t n, int64_t Dh) {
    for (int r = 0; r < VLM_AB_ROWS; r++)
        for (int64_t s = 0; s < n; s++) {
            float acc = 0.0f;
            for (int64_t i = 0; i < Dh; i++) acc += (r < nr ? a[r * lda + i] : 0.0f) * bt[i * TP + s];
            dst[r * TP + s] = acc;
        }
}
static void ref_combine(float *out, int64_t ldo, const float *w, int nr, int64_t n0, const float *x, int64_t ld,
                        int64_t Dh) {
    for (int r = 0; r < nr; r++)
        for (int64_t i = 0; i < Dh; i++) {
            float acc = 0.0f;
            for (int64_t s = 0; s < n0 + r; s++) acc += w[r * TP + s] * x[s * ld + i];
            out[r * ldo + i] = acc;
        }
}
static void ref_axpy(float *y, int64_t ld, const float *w, int nr, int64_t n0, const float *a, int64_t lda,
                     int64_t Dh) {
    for (int64_t s = 0; s < n0 + nr - 1; s++)
        for (int64_t i = 0; i < Dh; i++) {
            float v = y[s * ld + i];
            for (int r = 0; r < nr; r++)
                if (s < n0 + r) v += w[r * TP + s] * a[r * lda + i];
            y[s * ld + i] = v;
        }
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

static void check_level(const vlm_attn_blocks *kb) {
    static float a[VLM_AB_ROWS * 80], bt[MAXD * TP], w[VLM_AB_ROWS * TP], x[TP * 80];
    static float got[VLM_AB_ROWS * TP + 64], want[VLM_AB_ROWS * TP + 64], yg[TP * 80], yw[TP * 80];
    const int64_t dhs[] = {8, 16, 40, 64, 72}, n0s[] = {1, 5, 31, 33, 60, 97};
    int bad = 0, cases = 0;
    for (size_t di = 0; di < sizeof dhs / sizeof *dhs; di++) {
        const int64_t Dh = dhs[di], lda = Dh + 3, ld = Dh + 5; /* strides wider than a row, as in the model */
        for (int nr = 1; nr <= VLM_AB_ROWS; nr++)
            for (size_t ni = 0; ni < sizeof n0s / sizeof *n0s; ni++) {
                const int64_t n0 = n0s[ni], al = vlm_attn_blocks_align();
                const int64_t n = (n0 + nr - 1 + al - 1) / al * al;
                fill(a, sizeof a / sizeof *a), fill(bt, sizeof bt / sizeof *bt);
                fill(w, sizeof w / sizeof *w), fill(x, sizeof x / sizeof *x);
                cases++;
                /* dots: rows beyond n untouched */
                for (size_t k = 0; k < sizeof got / sizeof *got; k++) got[k] = want[k] = SENT;
                ref_dots(want, a, lda, nr, bt, n, Dh);
                kb->dots(got, TP, a, lda, nr, bt, n, Dh);
                bad += !same(got, want, sizeof got / sizeof *got);
                /* combine: output rows of stride ldo, rows >= nr untouched */
                for (size_t k = 0; k < sizeof got / sizeof *got; k++) got[k] = want[k] = SENT;
                ref_combine(want, Dh + 1, w, nr, n0, x, ld, Dh);
                kb->combine(got, Dh + 1, w, TP, nr, n0, x, ld, Dh);
                bad += !same(got, want, sizeof got / sizeof *got);
                /* axpy: accumulates into y; rows past n0 + nr - 2 untouched */
                fill(yg, sizeof yg / sizeof *yg);
                memcpy(yw, yg, sizeof yg);
                ref_axpy(yw, ld, w, nr, n0, a, lda, Dh);
                kb->axpy(yg, ld, w, TP, nr, n0, a, lda, Dh);
                bad += !same(yg, yw, sizeof yg / sizeof *yg);
            }
    }
    CHECK_MSG(bad == 0, "%s: %d of %d kernel results differ from the in-order loop", kb->name, bad, 3 * cases);
    if (!bad) printf("  %s: %d cases x 3 kernels bitwise equal to the in-order loop\n", kb->name, cases);
}

int main(void) {
    const vlm_isa top = vlm_cpu_isa();
    const vlm_attn_blocks *seen[4] = {0};
    int n_seen = 0;
    for (int isa = VLM_ISA_SCALAR; isa <= (int)top && isa <= VLM_ISA_AVX512; isa++) {
        const vlm_attn_blocks *kb = vlm_attn_blocks_get((vlm_isa)isa);
        int dup = 0;
        for (int k = 0; k < n_seen; k++) dup |= seen[k] == kb;
        if (dup) continue;
        seen[n_seen++] = kb;
        check_level(kb);
    }
    CHECK(n_seen >= 1);
    CHECK(vlm_attn_blocks_get(VLM_ISA_SCALAR) != NULL);
    return check_done("test_attn_blocks");
}
