/* ops.h - the compute kernels of the model runtime (CPU).
 *
 * Every op takes a `vlm_ops` context: the kernel table (chosen once by
 * cpuid, see cpu.h), an optional thread pool and a caller-owned scratch
 * buffer. Ops never allocate. Shapes are int64_t; row strides are in
 * elements (ld* = distance between consecutive rows). Dimension letters:
 *   T  rows of activations (tokens / patches)     K  input features
 *   N  output features (rows of a weight matrix)  D  head dimension
 *
 * Each level (scalar, avx2, avx512) implements the same arithmetic; the
 * scalar table is the reference the others are tested against. Numerics:
 *  - matmul accumulates in f32. f16/bf16 weights are widened exactly to f32.
 *    For q8_0/q4_0 weights the activations are first quantized to q8_0 per
 *    32-block (ggml's reference rule, see quant.h; the activation scale is
 *    rounded to f16 as in ggml) and each block product is an exact integer
 *    sum scaled by d_w*d_x: every level computes the same integers and differs
 *    only in the order of the f32 block sums.
 *  - exp-based ops (softmax, silu, gelu_tanh, attention) use a polynomial exp
 *    in the SIMD levels and libm in scalar: a few ulp apart.
 * Functions returning vlm_status check shapes (VLM_ERR_INVALID_ARG) and
 * scratch size (VLM_ERR_OOM if the context's scratch is too small); the
 * void ones trust their arguments.
 */
#ifndef VLM_OPS_OPS_H
#define VLM_OPS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/cpu.h"
#include "ops/quant.h"
#include "ops/threadpool.h"
#include "videollm.h"

typedef struct vlm_kernels vlm_kernels; /* a per-level function table (kernels.h) */

/* The kernel table of a level; a level the build lacks (non-x86) or the CPU
 * lacks falls back to the best lower one. Static, never freed. */
const vlm_kernels *vlm_kernels_get(vlm_isa isa);
/* vlm_kernels_get(vlm_cpu_isa()): the best for this CPU, capped by VLM_CPU. */
const vlm_kernels *vlm_kernels_best(void);
/* The level a table implements, and its name. */
vlm_isa vlm_kernels_isa(const vlm_kernels *k);
const char *vlm_kernels_name(const vlm_kernels *k);

typedef struct {
    const vlm_kernels *kern; /* required */
    vlm_pool *pool;          /* NULL: single thread */
    void *scratch;           /* 64-byte aligned, caller owned; see *_scratch_size */
    size_t scratch_size;
} vlm_ops;

/* ---- matmul ---------------------------------------------------------------- */

/* y[T,N] (row stride ldy) = x[T,K] (row stride ldx) @ W[N,K]^T + bias[N].
 * w: N rows of K elements of wtype, each row vlm_dtype_row_size(wtype, K)
 * bytes, rows contiguous (GGUF layout). bias may be NULL. For q8_0/q4_0,
 * K % 32 == 0. y must not overlap x. Threads split N. */
vlm_status vlm_matmul(const vlm_ops *ops, float *y, int64_t ldy, const float *x, int64_t ldx, const void *w,
                      int wtype, const float *bias, int64_t T, int64_t N, int64_t K);
/* Scratch bytes vlm_matmul needs for these shapes with n_threads threads
 * (0 if the shape is invalid: check with vlm_matmul itself). */
size_t vlm_matmul_scratch_size(int wtype, int64_t T, int64_t K, int n_threads);

/* ---- normalisation / activation (T rows of n, in place allowed: y == x) ---- */

/* y = x / sqrt(mean(x^2) + eps) * w      (Llama RMSNorm; w may be NULL = 1) */
void vlm_rmsnorm(const vlm_ops *ops, float *y, int64_t ldy, const float *x, int64_t ldx, const float *w,
                 int64_t T, int64_t n, float eps);
/* y = (x - mean) / sqrt(var + eps) * w + b  (biased variance; w, b may be NULL) */
void vlm_layernorm(const vlm_ops *ops, float *y, int64_t ldy, const float *x, int64_t ldx, const float *w,
                   const float *b, int64_t T, int64_t n, float eps);
/* y = softmax(x * scale) per row, computed stably (max subtracted). */
void vlm_softmax(const vlm_ops *ops, float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, int64_t n,
                 float scale);
/* y = silu(g) * u = g / (1 + exp(-g)) * u     (SwiGLU; y may alias g or u) */
void vlm_silu_mul(const vlm_ops *ops, float *y, const float *g, const float *u, int64_t n);
/* y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  (torch gelu approximate='tanh'),
 * evaluated as x * sigmoid(2 * inner), which is the same function without
 * the cancellation for negative x. */
void vlm_gelu_tanh(const vlm_ops *ops, float *y, const float *x, int64_t n);
/* y = 0.5 x (1 + erf(x / sqrt(2)))  (exact GELU) */
void vlm_gelu_erf(const vlm_ops *ops, float *y, const float *x, int64_t n);
/* y = a + b, y = a * b, y = a * s  (n elements; y may alias a or b) */
void vlm_add(const vlm_ops *ops, float *y, const float *a, const float *b, int64_t n);
void vlm_mul(const vlm_ops *ops, float *y, const float *a, const float *b, int64_t n);
void vlm_scale(const vlm_ops *ops, float *y, const float *a, float s, int64_t n);

/* ---- RoPE -------------------------------------------------------------------- */

typedef enum {
    VLM_ROPE_ADJACENT = 0,    /* pairs (x[2i], x[2i+1]): llama.cpp layout (permuted q/k weights) */
    VLM_ROPE_ROTATE_HALF = 1, /* pairs (x[i], x[i + n_rot/2]): Hugging Face layout */
} vlm_rope_mode;

/* Rotate x in place: x[t, h, 0:n_rot] for t < T, h < n_head; the heads of a
 * row are head_dim apart, rows ldx apart. Position of row t: pos ? pos[t] :
 * pos0 + t. Pair i (0 <= i < n_rot/2) turns by angle p * theta^(-2i/n_rot),
 * computed in f32 as torch does: inv = 1/powf(theta, 2i/n_rot), a = (float)p * inv.
 * n_rot even, n_rot <= head_dim. */
vlm_status vlm_rope(const vlm_ops *ops, float *x, int64_t ldx, int64_t T, int64_t n_head, int64_t head_dim,
                    int64_t n_rot, const int64_t *pos, int64_t pos0, float theta, vlm_rope_mode mode);

/* ---- embedding ------------------------------------------------------------------ */

/* y[0:n] = row `id` of a [n_rows, n] table of `type` (rows contiguous).
 * VLM_ERR_INVALID_ARG if id is outside [0, n_rows) or the shape is invalid. */
vlm_status vlm_get_row(float *y, const void *table, int type, int64_t n_rows, int64_t n, int64_t id);

/* ---- attention ------------------------------------------------------------------- */

typedef struct {
    /* queries q[t, h, 0:D] at q + t*ldq + h*D; output out[t, h, 0:D] likewise (ldo) */
    const float *q;
    int64_t ldq;
    float *out;
    int64_t ldo;
    int64_t T, n_head, n_kv_head, D; /* n_head % n_kv_head == 0 (GQA group = n_head / n_kv_head) */
    /* keys/values: element (j, g, d) at k + j*kv_stride_pos + g*kv_stride_head + d (elements of kv_type) */
    const void *k, *v;
    int kv_type; /* VLM_DT_F32 or VLM_DT_F16 */
    int64_t kv_stride_pos, kv_stride_head;
    int64_t n_kv;  /* keys 0..n_kv-1 exist */
    int64_t pos0;  /* causal: query t sees keys j <= pos0 + t (and j < n_kv) */
    bool causal;   /* false: every query sees all n_kv keys (vision tower) */
    float scale;   /* usually 1/sqrt(D) */
} vlm_attn_args;

/* out = softmax(scale * q k^T (masked)) v per head, online softmax in f32.
 * A query that sees no key gets zeros. Threads split (head, query) pairs. */
vlm_status vlm_attention(const vlm_ops *ops, const vlm_attn_args *a);

#endif
