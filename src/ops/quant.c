/* quant.c - type properties and scalar row conversions for the weight types
 * of quant.h. These are the reference implementations: the quantizers follow
 * ggml's reference rules bit for bit (see quant.h), and the kernels' fast
 * paths are tested against them. */
#include "ops/quant.h"

#include <math.h>

bool vlm_dtype_valid(int type) {
    switch (type) {
    case VLM_DT_F32:
    case VLM_DT_F16:
    case VLM_DT_Q4_0:
    case VLM_DT_Q8_0:
    case VLM_DT_BF16: return true;
    default: return false;
    }
}

const char *vlm_dtype_name(int type) {
    switch (type) {
    case VLM_DT_F32: return "f32";
    case VLM_DT_F16: return "f16";
    case VLM_DT_Q4_0: return "q4_0";
    case VLM_DT_Q8_0: return "q8_0";
    case VLM_DT_BF16: return "bf16";
    default: return "invalid";
    }
}

int64_t vlm_dtype_block_size(int type) {
    switch (type) {
    case VLM_DT_F32:
    case VLM_DT_F16:
    case VLM_DT_BF16: return 1;
    case VLM_DT_Q4_0:
    case VLM_DT_Q8_0: return VLM_QK;
    default: return 0;
    }
}

size_t vlm_dtype_type_size(int type) {
    switch (type) {
    case VLM_DT_F32: return 4;
    case VLM_DT_F16:
    case VLM_DT_BF16: return 2;
    case VLM_DT_Q4_0: return sizeof(vlm_block_q4_0);
    case VLM_DT_Q8_0: return sizeof(vlm_block_q8_0);
    default: return 0;
    }
}

size_t vlm_dtype_row_size(int type, int64_t n) {
    int64_t bs = vlm_dtype_block_size(type);
    if (bs == 0 || n < 0 || n % bs != 0) return 0;
    uint64_t nb = (uint64_t)(n / bs), ts = vlm_dtype_type_size(type);
    if (nb > (uint64_t)SIZE_MAX / ts) return 0;
    return (size_t)(nb * ts);
}

bool vlm_dtype_tensor_size(int type, int64_t n, int64_t n_rows, size_t *out) {
    if (n_rows < 0 || !vlm_dtype_valid(type) || n < 0 || n % vlm_dtype_block_size(type) != 0) return false;
    size_t row = vlm_dtype_row_size(type, n);
    if (n > 0 && row == 0) return false; /* overflow */
    if (n_rows > 0 && row > SIZE_MAX / (uint64_t)n_rows) return false;
    *out = row * (size_t)n_rows;
    return true;
}

/* ---- rows ------------------------------------------------------------------ */

void vlm_f32_to_f16_row(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = vlm_f32_to_f16(x[i]);
}

void vlm_f16_to_f32_row(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = vlm_f16_to_f32(x[i]);
}

void vlm_f32_to_bf16_row(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = vlm_f32_to_bf16(x[i]);
}

void vlm_bf16_to_f32_row(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = vlm_bf16_to_f32(x[i]);
}

/* roundf() semantics (half away from zero), clamped so that NaN or an
 * out-of-range value cannot reach an undefined float->int conversion. */
static inline int8_t round_q8(float v) {
    float r = roundf(v);
    if (!(r >= -128.0f)) r = (r != r) ? 0.0f : -128.0f;
    if (r > 127.0f) r = 127.0f;
    return (int8_t)r;
}

void vlm_quantize_row_q8_0(const float *x, vlm_block_q8_0 *y, int64_t n) {
    int64_t nb = n / VLM_QK;
    for (int64_t i = 0; i < nb; i++) {
        const float *xb = x + i * VLM_QK;
        float amax = 0.0f;
        for (int j = 0; j < VLM_QK; j++) {
            float a = fabsf(xb[j]);
            if (a > amax) amax = a;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = vlm_f32_to_f16(d);
        for (int j = 0; j < VLM_QK; j++) y[i].qs[j] = round_q8(xb[j] * id);
    }
}

void vlm_dequantize_row_q8_0(const vlm_block_q8_0 *x, float *y, int64_t n) {
    int64_t nb = n / VLM_QK;
    for (int64_t i = 0; i < nb; i++) {
        const float d = vlm_f16_to_f32(x[i].d);
        for (int j = 0; j < VLM_QK; j++) y[i * VLM_QK + j] = (float)x[i].qs[j] * d;
    }
}

/* (int8)(v + 8.5f) then min(15, .): truncation toward zero; v*id lies in
 * [-8, 8] up to rounding, so the sum is in [0, 16.5]. Clamped for safety. */
static inline uint8_t nibble_q4(float v) {
    float s = v + 8.5f;
    if (!(s >= 0.0f)) s = 0.0f; /* also NaN */
    if (s >= 15.0f) return 15;
    return (uint8_t)(int)s;
}

void vlm_quantize_row_q4_0(const float *x, vlm_block_q4_0 *y, int64_t n) {
    int64_t nb = n / VLM_QK;
    for (int64_t i = 0; i < nb; i++) {
        const float *xb = x + i * VLM_QK;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < VLM_QK; j++) {
            float a = fabsf(xb[j]);
            if (amax < a) {
                amax = a;
                max = xb[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = vlm_f32_to_f16(d);
        for (int j = 0; j < VLM_QK / 2; j++) {
            uint8_t lo = nibble_q4(xb[j] * id), hi = nibble_q4(xb[j + VLM_QK / 2] * id);
            y[i].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void vlm_dequantize_row_q4_0(const vlm_block_q4_0 *x, float *y, int64_t n) {
    int64_t nb = n / VLM_QK;
    for (int64_t i = 0; i < nb; i++) {
        const float d = vlm_f16_to_f32(x[i].d);
        for (int j = 0; j < VLM_QK / 2; j++) {
            y[i * VLM_QK + j] = (float)((x[i].qs[j] & 15) - 8) * d;
            y[i * VLM_QK + j + VLM_QK / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

vlm_status vlm_quantize_row(int type, const float *x, void *dst, int64_t n) {
    int64_t bs = vlm_dtype_block_size(type);
    if (bs == 0 || n < 0 || n % bs != 0) return VLM_ERR_INVALID_ARG;
    switch (type) {
    case VLM_DT_F32: memcpy(dst, x, (size_t)n * sizeof(float)); break;
    case VLM_DT_F16: vlm_f32_to_f16_row(x, dst, n); break;
    case VLM_DT_BF16: vlm_f32_to_bf16_row(x, dst, n); break;
    case VLM_DT_Q8_0: vlm_quantize_row_q8_0(x, dst, n); break;
    case VLM_DT_Q4_0: vlm_quantize_row_q4_0(x, dst, n); break;
    default: return VLM_ERR_INVALID_ARG;
    }
    return VLM_OK;
}

vlm_status vlm_dequantize_row(int type, const void *src, float *y, int64_t n) {
    int64_t bs = vlm_dtype_block_size(type);
    if (bs == 0 || n < 0 || n % bs != 0) return VLM_ERR_INVALID_ARG;
    switch (type) {
    case VLM_DT_F32: memcpy(y, src, (size_t)n * sizeof(float)); break;
    case VLM_DT_F16: vlm_f16_to_f32_row(src, y, n); break;
    case VLM_DT_BF16: vlm_bf16_to_f32_row(src, y, n); break;
    case VLM_DT_Q8_0: vlm_dequantize_row_q8_0(src, y, n); break;
    case VLM_DT_Q4_0: vlm_dequantize_row_q4_0(src, y, n); break;
    default: return VLM_ERR_INVALID_ARG;
    }
    return VLM_OK;
}
