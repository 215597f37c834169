/* test_quant.c - weight types of src/ops/quant.h.
 *
 * Checks, against references produced at test time by tests/ref/quant_ref.py:
 *  - f32 -> f16 and f32 -> bf16 bit-exact against PyTorch on ~44k floats
 *    (random bit patterns over the whole range, the f16 range, ties, edges);
 *  - f16 -> f32 bit-exact against PyTorch for all 65536 patterns;
 *  - q8_0 / q4_0 blocks byte-exact against a NumPy port of ggml's reference
 *    quantizers (600 blocks: ties, dominant negatives, equal |max|, zeros).
 * And locally: NaN handling, exhaustive f16/bf16 round trips, dequantization
 * error bounds (q8_0: |e| <= amax/254 + amax*2^-10; q4_0: |e| <= |d|(1+2^-9)),
 * row sizes with overflow, and the generic entry points' argument checks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/quant.h"

static int read_exact(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n; }

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}
static float rndf(void) { return (float)((rnd() >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f; }

static void check_reference(void) {
    FILE *p = popen("/usr/bin/python3 tests/ref/quant_ref.py", "r");
    CHECK_MSG(p != NULL, "cannot run tests/ref/quant_ref.py");
    if (!p) return;
    uint32_t n = 0;
    int ok = read_exact(p, &n, 4) && n > 0 && n < 10000000;
    CHECK_MSG(ok, "reference script produced no conversion data");
    if (!ok) {
        pclose(p);
        return;
    }
    float *x = malloc(n * 4u);
    uint16_t *h = malloc(n * 2u), *b = malloc(n * 2u);
    ok = read_exact(p, x, n * 4u) && read_exact(p, h, n * 2u) && read_exact(p, b, n * 2u);
    CHECK(ok);
    int bad16 = 0, badb16 = 0;
    for (uint32_t i = 0; ok && i < n; i++) {
        uint16_t g = vlm_f32_to_f16(x[i]), gb = vlm_f32_to_bf16(x[i]);
        if (g != h[i] && bad16++ < 5)
            fprintf(stderr, "f16(%a): got %04x want %04x\n", (double)x[i], g, h[i]);
        if (gb != b[i] && badb16++ < 5)
            fprintf(stderr, "bf16(%a): got %04x want %04x\n", (double)x[i], gb, b[i]);
    }
    CHECK_MSG(bad16 == 0, "%d of %u f32->f16 differ from torch", bad16, n);
    CHECK_MSG(badb16 == 0, "%d of %u f32->bf16 differ from torch", badb16, n);
    free(x);
    free(h);
    free(b);

    uint32_t nt = 0;
    ok = read_exact(p, &nt, 4) && nt == 65536;
    CHECK(ok);
    if (ok) {
        uint32_t *tab = malloc(65536u * 4);
        ok = read_exact(p, tab, 65536u * 4);
        CHECK(ok);
        int bad = 0;
        for (uint32_t i = 0; ok && i < 65536; i++) {
            float f = vlm_f16_to_f32((uint16_t)i);
            uint32_t got = vlm_f32_bits(f);
            int same = got == tab[i] || (f != f && vlm_bits_f32(tab[i]) != vlm_bits_f32(tab[i]));
            if (!same && bad++ < 5) fprintf(stderr, "f16 %04x -> %08x want %08x\n", i, got, tab[i]);
        }
        CHECK_MSG(bad == 0, "%d f16->f32 differ from torch", bad);
        free(tab);
    }

    uint32_t nb = 0;
    ok = read_exact(p, &nb, 4) && nb > 0 && nb < 100000;
    CHECK(ok);
    if (ok) {
        float *xq = malloc(nb * 32u * 4);
        vlm_block_q8_0 *q8 = malloc(nb * sizeof *q8), *g8 = malloc(nb * sizeof *g8);
        vlm_block_q4_0 *q4 = malloc(nb * sizeof *q4), *g4 = malloc(nb * sizeof *g4);
        ok = read_exact(p, xq, nb * 32u * 4) && read_exact(p, q8, nb * sizeof *q8) &&
             read_exact(p, q4, nb * sizeof *q4);
        CHECK(ok);
        if (ok) {
            vlm_quantize_row_q8_0(xq, g8, (int64_t)nb * 32);
            vlm_quantize_row_q4_0(xq, g4, (int64_t)nb * 32);
            int bad8 = 0, bad4 = 0;
            for (uint32_t i = 0; i < nb; i++) {
                if (memcmp(&g8[i], &q8[i], sizeof *q8) && bad8++ < 3) fprintf(stderr, "q8_0 block %u differs\n", i);
                if (memcmp(&g4[i], &q4[i], sizeof *q4) && bad4++ < 3) fprintf(stderr, "q4_0 block %u differs\n", i);
            }
            CHECK_MSG(bad8 == 0, "%d of %u q8_0 blocks differ from the reference", bad8, nb);
            CHECK_MSG(bad4 == 0, "%d of %u q4_0 blocks differ from the reference", bad4, nb);
        }
        free(xq);
        free(q8);
        free(g8);
        free(q4);
        free(g4);
    }
    char extra;
    CHECK(fread(&extra, 1, 1, p) == 0); /* nothing left over */
    CHECK_MSG(pclose(p) == 0, "reference script failed");
}

static void check_nan_and_round_trips(void) {
    /* NaN stays NaN (with any payload and sign), in both directions */
    uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fbfffffu, 0xff800001u};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        float f = vlm_bits_f32(nans[i]);
        uint16_t h = vlm_f32_to_f16(f), b = vlm_f32_to_bf16(f);
        CHECK((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
        CHECK((h & 0x8000) == ((nans[i] >> 16) & 0x8000)); /* sign kept */
        CHECK((b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0);
    }
    /* every non-NaN f16 and bf16 survives f16 -> f32 -> f16 */
    int bad = 0, badb = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t u = (uint16_t)i;
        int nan16 = (u & 0x7c00) == 0x7c00 && (u & 0x3ff), nanb = (u & 0x7f80) == 0x7f80 && (u & 0x7f);
        if (!nan16 && vlm_f32_to_f16(vlm_f16_to_f32(u)) != u) bad++;
        if (!nanb && vlm_f32_to_bf16(vlm_bf16_to_f32(u)) != u) badb++;
        if (nan16) CHECK(vlm_f16_to_f32(u) != vlm_f16_to_f32(u));
    }
    CHECK_MSG(bad == 0, "%d f16 round trips fail", bad);
    CHECK_MSG(badb == 0, "%d bf16 round trips fail", badb);
    /* exact known values */
    CHECK(vlm_f32_to_f16(1.0f) == 0x3c00);
    CHECK(vlm_f32_to_f16(-2.0f) == 0xc000);
    CHECK(vlm_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(vlm_f32_to_f16(65520.0f) == 0x7c00);  /* rounds up to inf */
    CHECK(vlm_f32_to_f16(0x1p-24f) == 0x0001);  /* smallest subnormal */
    CHECK(vlm_f32_to_f16(0x1p-25f) == 0x0000);  /* tie to even: 0 */
    CHECK(vlm_f32_to_f16(0x1.8p-24f) == 0x0002); /* tie to even: 2 */
    CHECK(vlm_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80); /* tie to even */
    CHECK(vlm_f32_to_bf16(1.0f + 0x3p-8f) == 0x3f82);
    CHECK(vlm_f32_to_bf16(3.4028235e38f) == 0x7f80); /* rounds past the largest bf16 */
    CHECK(vlm_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(vlm_bf16_to_f32(0xc040) == -3.0f);
}

static void check_quant_errors(void) {
    enum { NB = 256 };
    static float x[NB * 32], y[NB * 32];
    static vlm_block_q8_0 q8[NB];
    static vlm_block_q4_0 q4[NB];
    for (int i = 0; i < NB * 32; i++) x[i] = rndf() * (float)(1 << (i / 32 % 16)) * 1e-3f;
    vlm_quantize_row_q8_0(x, q8, NB * 32);
    vlm_dequantize_row_q8_0(q8, y, NB * 32);
    int bad = 0;
    for (int b = 0; b < NB; b++) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[b * 32 + i]));
        for (int i = 0; i < 32; i++)
            if (fabsf(x[b * 32 + i] - y[b * 32 + i]) > amax / 254.0f + amax * 0x1p-10f + 127 * 0x1p-25f) bad++;
    }
    CHECK_MSG(bad == 0, "%d q8_0 errors out of bound", bad);
    vlm_quantize_row_q4_0(x, q4, NB * 32);
    vlm_dequantize_row_q4_0(q4, y, NB * 32);
    bad = 0;
    for (int b = 0; b < NB; b++) {
        float d = fabsf(vlm_f16_to_f32(q4[b].d));
        for (int i = 0; i < 32; i++)
            if (fabsf(x[b * 32 + i] - y[b * 32 + i]) > d * (1.0f + 0x1p-9f)) bad++;
    }
    CHECK_MSG(bad == 0, "%d q4_0 errors out of bound", bad);
    /* an all-zero block has d = 0 and dequantizes to zeros */
    float z[32] = {0}, zo[32];
    vlm_quantize_row_q4_0(z, q4, 32);
    vlm_dequantize_row_q4_0(q4, zo, 32);
    CHECK(vlm_f16_to_f32(q4[0].d) == 0.0f && zo[0] == 0.0f && zo[31] == 0.0f);
    vlm_quantize_row_q8_0(z, q8, 32);
    CHECK(q8[0].d == 0 && q8[0].qs[5] == 0);
}

static void check_sizes(void) {
    CHECK(vlm_dtype_valid(VLM_DT_F32) && vlm_dtype_valid(VLM_DT_BF16) && !vlm_dtype_valid(3) &&
          !vlm_dtype_valid(-1));
    CHECK(!strcmp(vlm_dtype_name(VLM_DT_Q4_0), "q4_0") && !strcmp(vlm_dtype_name(99), "invalid"));
    CHECK(vlm_dtype_block_size(VLM_DT_Q8_0) == 32 && vlm_dtype_block_size(VLM_DT_F16) == 1 &&
          vlm_dtype_block_size(7) == 0);
    CHECK(vlm_dtype_row_size(VLM_DT_F32, 10) == 40);
    CHECK(vlm_dtype_row_size(VLM_DT_BF16, 3) == 6);
    CHECK(vlm_dtype_row_size(VLM_DT_Q8_0, 4096) == 128 * 34);
    CHECK(vlm_dtype_row_size(VLM_DT_Q4_0, 4096) == 128 * 18);
    CHECK(vlm_dtype_row_size(VLM_DT_Q4_0, 33) == 0); /* not a multiple of 32 */
    CHECK(vlm_dtype_row_size(VLM_DT_F32, -1) == 0);
    CHECK(vlm_dtype_row_size(5, 32) == 0);
    CHECK(vlm_dtype_row_size(VLM_DT_F32, INT64_MAX) == 0);                    /* overflow */
    if (sizeof(size_t) >= 8) /* fits in 64 bits: 2^58 blocks of 34 bytes */
        CHECK(vlm_dtype_row_size(VLM_DT_Q8_0, (INT64_MAX / 32) * 32) == (size_t)(INT64_MAX / 32) * 34);
    else
        CHECK(vlm_dtype_row_size(VLM_DT_Q8_0, (INT64_MAX / 32) * 32) == 0);
    size_t sz = 1;
    CHECK(vlm_dtype_tensor_size(VLM_DT_Q4_0, 4096, 14336, &sz) && sz == (size_t)128 * 18 * 14336);
    CHECK(!vlm_dtype_tensor_size(VLM_DT_F32, (int64_t)1 << 40, (int64_t)1 << 40, &sz));
    CHECK(!vlm_dtype_tensor_size(VLM_DT_F32, 4, -1, &sz));
    CHECK(vlm_dtype_tensor_size(VLM_DT_F16, 0, 5, &sz) && sz == 0);
    float f[32] = {1.0f};
    uint8_t buf[64];
    CHECK(vlm_quantize_row(VLM_DT_Q8_0, f, buf, 31) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_quantize_row(4, f, buf, 32) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_dequantize_row(VLM_DT_F16, buf, f, -2) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_quantize_row(VLM_DT_F16, f, buf, 32) == VLM_OK);
    float back[32];
    CHECK(vlm_dequantize_row(VLM_DT_F16, buf, back, 32) == VLM_OK && back[0] == 1.0f);
    CHECK(vlm_quantize_row(VLM_DT_Q4_0, f, buf, 32) == VLM_OK);
    CHECK(vlm_dequantize_row(VLM_DT_Q4_0, buf, back, 32) == VLM_OK && back[0] == 1.0f && back[1] == 0.0f);
}

int main(void) {
    check_reference();
    check_nan_and_round_trips();
    check_quant_errors();
    check_sizes();
    return check_done("test_quant");
}
