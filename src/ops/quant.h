/* quant.h - weight element types (bit-compatible with GGUF/ggml), scalar
 * conversions between them and f32, and row (de)quantization.
 *
 * Internal API (not part of include/videollm.h). Everything here is pure and
 * thread-safe: no state, no allocation.
 *
 * Types and layouts (identical to ggml, so GGUF tensor data is used in place):
 *   VLM_DT_F32   4 bytes/element
 *   VLM_DT_F16   IEEE binary16, 2 bytes/element
 *   VLM_DT_BF16  bfloat16 (top half of an f32), 2 bytes/element
 *   VLM_DT_Q8_0  blocks of 32: { f16 d; int8 qs[32] }            34 bytes, x[j] = qs[j]*d
 *   VLM_DT_Q4_0  blocks of 32: { f16 d; uint8 qs[16] }           18 bytes,
 *                x[j]    = ((qs[j] & 15) - 8) * d   for j in 0..15
 *                x[j+16] = ((qs[j] >> 4) - 8) * d
 * The numeric values of vlm_dtype are the GGUF tensor type ids.
 *
 * Quantization follows ggml's reference rules exactly (the ones used to
 * create model files):
 *   q8_0: amax = max|x|, d = amax/127, id = d ? 1/d : 0, q = roundf(x*id)
 *         (half away from zero); the f16 of d is stored, but the quants use
 *         the f32 d.
 *   q4_0: m = the x with the largest |x| (first one on ties), d = m/-8,
 *         id = d ? 1/d : 0, q = min(15, (int8)(x*id + 8.5f)) (truncation).
 *
 * f16 and bf16 conversions round to nearest, ties to even. f32->f16 handles
 * overflow (to inf), subnormals and NaN (-> quiet NaN 0x7e00 with the sign);
 * f32->bf16 matches torch: NaN -> 0x7fc0, otherwise RNE on the top 16 bits
 * (values that round past the largest finite bf16 become inf).
 */
#ifndef VLM_OPS_QUANT_H
#define VLM_OPS_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "videollm.h"

typedef enum {
    VLM_DT_F32 = 0,
    VLM_DT_F16 = 1,
    VLM_DT_Q4_0 = 2,
    VLM_DT_Q8_0 = 8,
    VLM_DT_BF16 = 30,
} vlm_dtype;

#define VLM_QK 32 /* elements per q8_0 / q4_0 block */

typedef struct {
    uint16_t d;        /* f16 scale */
    int8_t qs[VLM_QK]; /* quants */
} vlm_block_q8_0;

typedef struct {
    uint16_t d;            /* f16 scale */
    uint8_t qs[VLM_QK / 2]; /* low nibble: element j, high nibble: element j+16 */
} vlm_block_q4_0;

_Static_assert(sizeof(vlm_block_q8_0) == 34, "block_q8_0 must be 34 bytes");
_Static_assert(sizeof(vlm_block_q4_0) == 18, "block_q4_0 must be 18 bytes");

/* ---- type properties ------------------------------------------------------ */

/* true for the five supported ids (the argument may come from a file). */
bool vlm_dtype_valid(int type);
/* "f32", "f16", "q4_0", "q8_0", "bf16"; "invalid" for anything else. */
const char *vlm_dtype_name(int type);
/* Elements per block: 1 for f32/f16/bf16, 32 for q8_0/q4_0; 0 if invalid. */
int64_t vlm_dtype_block_size(int type);
/* Bytes per block: 4, 2, 2, 34, 18; 0 if invalid. */
size_t vlm_dtype_type_size(int type);
/* Bytes of a row of n elements. Returns 0 (and nothing else can give 0 for
 * n > 0) when the type is invalid, n < 0, n is not a multiple of the block
 * size, or the size overflows size_t. n == 0 gives 0 too. */
size_t vlm_dtype_row_size(int type, int64_t n);
/* Bytes of n_rows rows of n elements into *out; false on any invalid input or
 * overflow (n, n_rows must be >= 0). */
bool vlm_dtype_tensor_size(int type, int64_t n, int64_t n_rows, size_t *out);

/* ---- scalar element conversions ------------------------------------------- */

static inline uint32_t vlm_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float vlm_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float vlm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
    if (e == 0x1f) {
        bits = sign | 0x7f800000u | (m << 13); /* inf / nan, payload kept */
    } else if (e == 0) {
        if (m == 0) {
            bits = sign;
        } else { /* subnormal: m * 2^-24, normalise */
            uint32_t ee = 113;
            do {
                m <<= 1;
                ee--;
            } while (!(m & 0x400u));
            bits = sign | (ee << 23) | ((m & 0x3ffu) << 13);
        }
    } else {
        bits = sign | ((e + 112) << 23) | (m << 13);
    }
    return vlm_bits_f32(bits);
}

static inline uint16_t vlm_f32_to_f16(float f) {
    uint32_t x = vlm_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); /* nan */
    if (ax >= 0x47800000u) return (uint16_t)(sign | 0x7c00u); /* >= 65536 or inf */
    if (ax >= 0x38800000u) {                                  /* normal half */
        uint32_t r = ax - 0x38000000u;                        /* rebias 127 -> 15 */
        uint32_t h = r >> 13, rem = r & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* may carry to inf */
        return (uint16_t)(sign | h);
    }
    if (ax < 0x33000000u) return sign; /* below 2^-25: rounds to zero */
    {                                  /* subnormal half: units of 2^-24 */
        uint32_t e = ax >> 23, mant = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u))) h++;
        return (uint16_t)(sign | h);
    }
}

static inline float vlm_bf16_to_f32(uint16_t b) { return vlm_bits_f32((uint32_t)b << 16); }

static inline uint16_t vlm_f32_to_bf16(float f) {
    uint32_t x = vlm_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u; /* nan */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* ---- rows ------------------------------------------------------------------ */
/* The typed row functions require n >= 0 and, for q8_0/q4_0, n % 32 == 0
 * (the caller checks; vlm_quantize_row / vlm_dequantize_row check for it). */

void vlm_f32_to_f16_row(const float *x, uint16_t *y, int64_t n);
void vlm_f16_to_f32_row(const uint16_t *x, float *y, int64_t n);
void vlm_f32_to_bf16_row(const float *x, uint16_t *y, int64_t n);
void vlm_bf16_to_f32_row(const uint16_t *x, float *y, int64_t n);
void vlm_quantize_row_q8_0(const float *x, vlm_block_q8_0 *y, int64_t n);
void vlm_dequantize_row_q8_0(const vlm_block_q8_0 *x, float *y, int64_t n);
void vlm_quantize_row_q4_0(const float *x, vlm_block_q4_0 *y, int64_t n);
void vlm_dequantize_row_q4_0(const vlm_block_q4_0 *x, float *y, int64_t n);

/* Convert n floats to a row of `type` (dst holds vlm_dtype_row_size bytes),
 * or back. VLM_ERR_INVALID_ARG for an invalid type, n < 0 or a bad multiple. */
vlm_status vlm_quantize_row(int type, const float *x, void *dst, int64_t n);
vlm_status vlm_dequantize_row(int type, const void *src, float *y, int64_t n);

#endif
