/* kernels.h - the per-level kernel table behind ops.h (internal to src/ops).
 *
 * ops.c holds the drivers: argument checks, scratch carving, activation
 * quantization and the split over threads. Each level (ops_scalar.c,
 * ops_avx2.c, ops_avx512.c) fills one `vlm_kernels` with single-threaded
 * inner kernels working on a sub-range.
 */
#ifndef VLM_OPS_KERNELS_H
#define VLM_OPS_KERNELS_H

#include "ops/ops.h"

/* Weight types the matmul table is indexed by. */
enum { VLM_MM_F32, VLM_MM_F16, VLM_MM_BF16, VLM_MM_Q8_0, VLM_MM_Q4_0, VLM_MM_NTYPES };

/* Scratch each thread gets for packing (bytes, 64-byte multiple). */
#define VLM_MM_THREAD_SCRATCH (64 * 1024)

/* One matmul call, shared by all threads. For the q types the activations
 * arrive quantized (xqs/xd/xs), otherwise as f32 (x). */
typedef struct {
    float *y;
    int64_t ldy;
    const float *x; /* [T, K] row stride ldx */
    int64_t ldx;
    const int8_t *xqs; /* [T, K]     q8_0 quants of x, rows contiguous (stride K) */
    const float *xd;   /* [T, K/32]  their scales (f32 value of the f16 scale)   */
    const int32_t *xs; /* [T, K/32]  sum of the 32 quants of each block          */
    const uint8_t *w;  /* [N] rows of w_row bytes */
    size_t w_row;
    const float *bias; /* [N] or NULL */
    int64_t T, N, K;
} vlm_mm_job;

/* Compute y[0:T, n0:n1] of a job; tscratch: VLM_MM_THREAD_SCRATCH bytes. */
typedef void (*vlm_mm_fn)(const vlm_mm_job *j, int64_t n0, int64_t n1, void *tscratch);

/* Attention for queries [t0, t1) and heads [h0, h1) of one kv group, so
 * every key chunk is loaded once for all of them:
 * h1 - h0 <= VLM_ATTN_MAX_GROUP and (h1 - h0) * (t1 - t0) <= VLM_ATTN_MAX_STATES. */
#define VLM_ATTN_MAX_GROUP 8
#define VLM_ATTN_MAX_STATES 64
#define VLM_ATTN_MAX_D 256
typedef void (*vlm_attn_fn)(const vlm_attn_args *a, int64_t h0, int64_t h1, int64_t t0, int64_t t1);

struct vlm_kernels {
    vlm_isa isa;
    const char *name;
    vlm_mm_fn mm[VLM_MM_NTYPES];
    /* activation rows -> q8_0 split layout (bit-identical across levels) */
    void (*quantize_act)(const float *x, int8_t *qs, float *d, int32_t *s, int64_t K);
    void (*rmsnorm)(float *y, const float *x, const float *w, int64_t n, float eps);
    void (*layernorm)(float *y, const float *x, const float *w, const float *b, int64_t n, float eps);
    void (*softmax)(float *y, const float *x, int64_t n, float scale);
    void (*silu_mul)(float *y, const float *g, const float *u, int64_t n);
    void (*gelu_tanh)(float *y, const float *x, int64_t n);
    void (*gelu_erf)(float *y, const float *x, int64_t n);
    void (*add)(float *y, const float *a, const float *b, int64_t n);
    void (*mul)(float *y, const float *a, const float *b, int64_t n);
    void (*scale)(float *y, const float *a, float s, int64_t n);
    vlm_attn_fn attn;
};

/* Tables of each level (NULL when the build lacks it). */
extern const vlm_kernels vlm_kernels_scalar;
const vlm_kernels *vlm_kernels_avx2_table(void);
const vlm_kernels *vlm_kernels_avx512_table(void);

/* Scalar pieces the SIMD levels reuse. */
void vlm_quantize_act_ref(const float *x, int8_t *qs, float *d, int32_t *s, int64_t K);
void vlm_gelu_erf_ref(float *y, const float *x, int64_t n);
void vlm_attn_ref(const vlm_attn_args *a, int64_t h0, int64_t h1, int64_t t0, int64_t t1);

/* Number of keys query t sees. */
static inline int64_t vlm_attn_n_keys(const vlm_attn_args *a, int64_t t) {
    if (!a->causal) return a->n_kv;
    int64_t n = a->pos0 + t + 1;
    if (n > a->n_kv) n = a->n_kv;
    return n < 0 ? 0 : n;
}

#endif
