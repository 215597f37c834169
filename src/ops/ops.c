/* ops.c - drivers of the kernels in ops.h: argument checks, scratch carving,
 * activation quantization and the split of the work over the thread pool.
 * The arithmetic lives in the per-level tables (ops_scalar.c, ops_avx2.c,
 * ops_avx512.c). */
#include <math.h>

#include "ops/kernels.h"

/* ---- tables ------------------------------------------------------------------------- */

const vlm_kernels *vlm_kernels_get(vlm_isa isa) {
    vlm_cpu_features f;
    vlm_cpu_detect(&f);
    vlm_isa sup = vlm_cpu_isa_supported(&f);
    if (isa > sup) isa = sup;
    const vlm_kernels *k = NULL;
    if (isa >= VLM_ISA_AVX512) k = vlm_kernels_avx512_table();
    if (!k && isa >= VLM_ISA_AVX2) k = vlm_kernels_avx2_table();
    return k ? k : &vlm_kernels_scalar;
}

const vlm_kernels *vlm_kernels_best(void) { return vlm_kernels_get(vlm_cpu_isa()); }
vlm_isa vlm_kernels_isa(const vlm_kernels *k) { return k->isa; }
const char *vlm_kernels_name(const vlm_kernels *k) { return k->name; }

static int mm_index(int wtype) {
    switch (wtype) {
    case VLM_DT_F32: return VLM_MM_F32;
    case VLM_DT_F16: return VLM_MM_F16;
    case VLM_DT_BF16: return VLM_MM_BF16;
    case VLM_DT_Q8_0: return VLM_MM_Q8_0;
    case VLM_DT_Q4_0: return VLM_MM_Q4_0;
    default: return -1;
    }
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* ---- matmul --------------------------------------------------------------------------- */

/* Layout of the matmul scratch: [per-thread packing areas][xqs][xd][xs]. */
static bool mm_scratch_layout(int wtype, int64_t T, int64_t K, int n_threads, size_t *act_off, size_t *total) {
    if (T < 0 || K < 0 || n_threads < 1) return false;
    size_t thr = (size_t)n_threads * VLM_MM_THREAD_SCRATCH, act = 0;
    if (wtype == VLM_DT_Q8_0 || wtype == VLM_DT_Q4_0) {
        size_t tk, nb;
        if (!vlm_dtype_tensor_size(VLM_DT_F32, K / VLM_QK, T, &nb)) return false; /* T*nb*4 */
        if (!vlm_dtype_tensor_size(VLM_DT_Q8_0, K - K % VLM_QK, T, &tk)) return false;
        /* qs: T*K bytes (< tk), d and s: T*nb*4 each */
        if (tk > SIZE_MAX / 2 || nb > SIZE_MAX / 4) return false;
        act = align64(tk) + 2 * align64(nb);
    }
    *act_off = thr;
    if (act > SIZE_MAX - thr) return false;
    *total = thr + act;
    return true;
}

size_t vlm_matmul_scratch_size(int wtype, int64_t T, int64_t K, int n_threads) {
    size_t off, total;
    if (mm_index(wtype) < 0 || !mm_scratch_layout(wtype, T, K, n_threads, &off, &total)) return 0;
    return total;
}

typedef struct {
    const vlm_mm_job *job;
    vlm_mm_fn fn;
    uint8_t *scratch;
} mm_ctx;

/* Output columns are split in multiples of 64 (the widest panel any level
 * uses), so panels never straddle threads. */
static void mm_worker(void *arg, int ith, int nth) {
    const mm_ctx *c = arg;
    int64_t n0, n1;
    vlm_pool_split(c->job->N, ith, nth, 64, &n0, &n1);
    if (n0 < n1) c->fn(c->job, n0, n1, c->scratch + (size_t)ith * VLM_MM_THREAD_SCRATCH);
}

typedef struct {
    const vlm_kernels *kern;
    const float *x;
    int64_t ldx, T, K;
    int8_t *qs;
    float *d;
    int32_t *s;
} qact_ctx;

static void qact_worker(void *arg, int ith, int nth) {
    const qact_ctx *c = arg;
    int64_t t0, t1, nb = c->K / VLM_QK;
    vlm_pool_split(c->T, ith, nth, 1, &t0, &t1);
    for (int64_t t = t0; t < t1; t++)
        c->kern->quantize_act(c->x + t * c->ldx, c->qs + t * c->K, c->d + t * nb, c->s + t * nb, c->K);
}

vlm_status vlm_matmul(const vlm_ops *ops, float *y, int64_t ldy, const float *x, int64_t ldx, const void *w,
                      int wtype, const float *bias, int64_t T, int64_t N, int64_t K) {
    int mi = mm_index(wtype);
    if (!ops || !ops->kern || mi < 0 || T < 0 || N < 0 || K <= 0 || !y || !x || !w) return VLM_ERR_INVALID_ARG;
    if (T == 0 || N == 0) return VLM_OK;
    if (ldx < K || ldy < N) return VLM_ERR_INVALID_ARG;
    size_t w_row = vlm_dtype_row_size(wtype, K);
    if (w_row == 0) return VLM_ERR_INVALID_ARG; /* K not a multiple of the block, or overflow */
    const int nth = vlm_pool_n_threads(ops->pool);
    size_t act_off, need;
    if (!mm_scratch_layout(wtype, T, K, nth, &act_off, &need)) return VLM_ERR_INVALID_ARG;
    if (!ops->scratch || ops->scratch_size < need) return VLM_ERR_OOM;

    uint8_t *scr = ops->scratch;
    vlm_mm_job job = {.y = y, .ldy = ldy, .x = x, .ldx = ldx, .w = w, .w_row = w_row, .bias = bias,
                      .T = T, .N = N, .K = K};
    if (mi == VLM_MM_Q8_0 || mi == VLM_MM_Q4_0) {
        const int64_t nb = K / VLM_QK;
        int8_t *qs = (int8_t *)(scr + act_off);
        float *d = (float *)(scr + act_off + align64((size_t)T * (size_t)K));
        int32_t *s = (int32_t *)((uint8_t *)d + align64((size_t)T * (size_t)nb * 4));
        qact_ctx qc = {ops->kern, x, ldx, T, K, qs, d, s};
        if (T * K >= 65536)
            vlm_pool_run(ops->pool, qact_worker, &qc);
        else
            qact_worker(&qc, 0, 1);
        job.xqs = qs;
        job.xd = d;
        job.xs = s;
    }
    mm_ctx c = {&job, ops->kern->mm[mi], scr};
    if (nth > 1 && N >= 128)
        vlm_pool_run(ops->pool, mm_worker, &c);
    else
        mm_worker(&c, 0, 1);
    return VLM_OK;
}

/* ---- row ops ------------------------------------------------------------------------------ */

/* Elementwise/row work below this many elements runs on the calling thread. */
#define PAR_MIN 32768

typedef struct {
    const vlm_kernels *k;
    int op;
    float *y;
    const float *x;
    const float *w, *b;
    int64_t ldy, ldx, T, n;
    float eps;
} rows_ctx;

enum { ROW_RMS, ROW_LN, ROW_SOFTMAX };

static void rows_worker(void *arg, int ith, int nth) {
    const rows_ctx *c = arg;
    int64_t t0, t1;
    vlm_pool_split(c->T, ith, nth, 1, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        float *y = c->y + t * c->ldy;
        const float *x = c->x + t * c->ldx;
        switch (c->op) {
        case ROW_RMS: c->k->rmsnorm(y, x, c->w, c->n, c->eps); break;
        case ROW_LN: c->k->layernorm(y, x, c->w, c->b, c->n, c->eps); break;
        case ROW_SOFTMAX: c->k->softmax(y, x, c->n, c->eps); break;
        }
    }
}

static void run_rows(const vlm_ops *ops, rows_ctx *c) {
    if (c->T <= 0 || c->n <= 0) return;
    if (c->T > 1 && c->T * c->n >= PAR_MIN)
        vlm_pool_run(ops->pool, rows_worker, c);
    else
        rows_worker(c, 0, 1);
}

void vlm_rmsnorm(const vlm_ops *ops, float *y, int64_t ldy, const float *x, int64_t ldx, const float *w,
                 int64_t T, int64_t n, float eps) {
    rows_ctx c = {ops->kern, ROW_RMS, y, x, w, NULL, ldy, ldx, T, n, eps};
    run_rows(ops, &c);
}

void vlm_layernorm(const vlm_ops *ops, float *y, int64_t ldy, const float *x, int64_t ldx, const float *w,
                   const float *b, int64_t T, int64_t n, float eps) {
    rows_ctx c = {ops->kern, ROW_LN, y, x, w, b, ldy, ldx, T, n, eps};
    run_rows(ops, &c);
}

void vlm_softmax(const vlm_ops *ops, float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, int64_t n,
                 float scale) {
    rows_ctx c = {ops->kern, ROW_SOFTMAX, y, x, NULL, NULL, ldy, ldx, T, n, scale};
    run_rows(ops, &c);
}

typedef struct {
    const vlm_kernels *k;
    int op;
    float *y;
    const float *a, *b;
    float s;
    int64_t n;
} ew_ctx;

enum { EW_SILU_MUL, EW_GELU_TANH, EW_GELU_ERF, EW_ADD, EW_MUL, EW_SCALE };

static void ew_worker(void *arg, int ith, int nth) {
    const ew_ctx *c = arg;
    int64_t i0, i1;
    vlm_pool_split(c->n, ith, nth, 64, &i0, &i1);
    int64_t m = i1 - i0;
    if (m <= 0) return;
    float *y = c->y + i0;
    const float *a = c->a + i0, *b = c->b ? c->b + i0 : NULL;
    switch (c->op) {
    case EW_SILU_MUL: c->k->silu_mul(y, a, b, m); break;
    case EW_GELU_TANH: c->k->gelu_tanh(y, a, m); break;
    case EW_GELU_ERF: c->k->gelu_erf(y, a, m); break;
    case EW_ADD: c->k->add(y, a, b, m); break;
    case EW_MUL: c->k->mul(y, a, b, m); break;
    case EW_SCALE: c->k->scale(y, a, c->s, m); break;
    }
}

static void run_ew(const vlm_ops *ops, ew_ctx *c) {
    if (c->n <= 0) return;
    if (c->n >= PAR_MIN)
        vlm_pool_run(ops->pool, ew_worker, c);
    else
        ew_worker(c, 0, 1);
}

void vlm_silu_mul(const vlm_ops *ops, float *y, const float *g, const float *u, int64_t n) {
    ew_ctx c = {ops->kern, EW_SILU_MUL, y, g, u, 0.0f, n};
    run_ew(ops, &c);
}
void vlm_gelu_tanh(const vlm_ops *ops, float *y, const float *x, int64_t n) {
    ew_ctx c = {ops->kern, EW_GELU_TANH, y, x, NULL, 0.0f, n};
    run_ew(ops, &c);
}
void vlm_gelu_erf(const vlm_ops *ops, float *y, const float *x, int64_t n) {
    ew_ctx c = {ops->kern, EW_GELU_ERF, y, x, NULL, 0.0f, n};
    run_ew(ops, &c);
}
void vlm_add(const vlm_ops *ops, float *y, const float *a, const float *b, int64_t n) {
    ew_ctx c = {ops->kern, EW_ADD, y, a, b, 0.0f, n};
    run_ew(ops, &c);
}
void vlm_mul(const vlm_ops *ops, float *y, const float *a, const float *b, int64_t n) {
    ew_ctx c = {ops->kern, EW_MUL, y, a, b, 0.0f, n};
    run_ew(ops, &c);
}
void vlm_scale(const vlm_ops *ops, float *y, const float *a, float s, int64_t n) {
    ew_ctx c = {ops->kern, EW_SCALE, y, a, NULL, s, n};
    run_ew(ops, &c);
}

/* ---- RoPE ------------------------------------------------------------------------------------ */

vlm_status vlm_rope(const vlm_ops *ops, float *x, int64_t ldx, int64_t T, int64_t n_head, int64_t head_dim,
                    int64_t n_rot, const int64_t *pos, int64_t pos0, float theta, vlm_rope_mode mode) {
    (void)ops;
    if (T < 0 || n_head < 0 || head_dim <= 0 || n_rot < 0 || n_rot > head_dim || (n_rot & 1) ||
        n_rot / 2 > VLM_ATTN_MAX_D || !(theta > 0.0f) || ldx < n_head * head_dim ||
        (mode != VLM_ROPE_ADJACENT && mode != VLM_ROPE_ROTATE_HALF))
        return VLM_ERR_INVALID_ARG;
    const int64_t half = n_rot / 2;
    float inv[VLM_ATTN_MAX_D], cs[VLM_ATTN_MAX_D], sn[VLM_ATTN_MAX_D];
    for (int64_t i = 0; i < half; i++) inv[i] = 1.0f / powf(theta, (float)(2 * i) / (float)n_rot);
    for (int64_t t = 0; t < T; t++) {
        const float p = (float)(pos ? pos[t] : pos0 + t);
        for (int64_t i = 0; i < half; i++) {
            const float ang = p * inv[i];
            cs[i] = cosf(ang);
            sn[i] = sinf(ang);
        }
        for (int64_t h = 0; h < n_head; h++) {
            float *v = x + t * ldx + h * head_dim;
            for (int64_t i = 0; i < half; i++) {
                const int64_t i0 = mode == VLM_ROPE_ADJACENT ? 2 * i : i;
                const int64_t i1 = mode == VLM_ROPE_ADJACENT ? 2 * i + 1 : i + half;
                const float a = v[i0], b = v[i1];
                v[i0] = a * cs[i] - b * sn[i];
                v[i1] = a * sn[i] + b * cs[i];
            }
        }
    }
    return VLM_OK;
}

/* ---- embedding ------------------------------------------------------------------------------ */

vlm_status vlm_get_row(float *y, const void *table, int type, int64_t n_rows, int64_t n, int64_t id) {
    size_t row = vlm_dtype_row_size(type, n);
    if (!y || !table || n <= 0 || row == 0 || id < 0 || id >= n_rows) return VLM_ERR_INVALID_ARG;
    size_t total;
    if (!vlm_dtype_tensor_size(type, n, n_rows, &total)) return VLM_ERR_INVALID_ARG;
    return vlm_dequantize_row(type, (const uint8_t *)table + (size_t)id * row, y, n);
}

/* ---- attention -------------------------------------------------------------------------------- */

typedef struct {
    const vlm_attn_args *a;
    vlm_attn_fn fn;
    int64_t G;      /* heads per kv head */
    int64_t n_sub;  /* head sub-groups per kv head */
    int64_t sub;    /* heads per sub-group */
    int64_t tb;     /* queries per work item */
    int64_t n_tb;   /* query blocks */
} attn_ctx;

/* Work items: (kv head, head sub-group, query block); each loads its keys once. */
static void attn_worker(void *arg, int ith, int nth) {
    const attn_ctx *c = arg;
    const vlm_attn_args *a = c->a;
    const int64_t n_items = a->n_kv_head * c->n_sub * c->n_tb;
    int64_t i0, i1;
    vlm_pool_split(n_items, ith, nth, 1, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        const int64_t tb = i % c->n_tb, r = i / c->n_tb, sub = r % c->n_sub, g = r / c->n_sub;
        const int64_t h0 = g * c->G + sub * c->sub;
        const int64_t h1 = h0 + c->sub < (g + 1) * c->G ? h0 + c->sub : (g + 1) * c->G;
        const int64_t t0 = tb * c->tb, t1 = t0 + c->tb < a->T ? t0 + c->tb : a->T;
        c->fn(a, h0, h1, t0, t1);
    }
}

vlm_status vlm_attention(const vlm_ops *ops, const vlm_attn_args *a) {
    if (!ops || !ops->kern || !a || !a->q || !a->out || !a->k || !a->v) return VLM_ERR_INVALID_ARG;
    if (a->T < 0 || a->n_head <= 0 || a->n_kv_head <= 0 || a->n_head % a->n_kv_head || a->D <= 0 ||
        a->D > VLM_ATTN_MAX_D || a->n_kv < 0 || a->ldq < a->n_head * a->D || a->ldo < a->n_head * a->D ||
        (a->kv_type != VLM_DT_F32 && a->kv_type != VLM_DT_F16) || a->kv_stride_pos < 0 ||
        a->kv_stride_head < 0 || !isfinite(a->scale))
        return VLM_ERR_INVALID_ARG;
    if (a->T == 0) return VLM_OK;
    const int64_t G = a->n_head / a->n_kv_head;
    attn_ctx c = {.a = a, .fn = ops->kern->attn, .G = G};
    c.n_sub = (G + VLM_ATTN_MAX_GROUP - 1) / VLM_ATTN_MAX_GROUP;
    c.sub = (G + c.n_sub - 1) / c.n_sub;
    c.tb = VLM_ATTN_MAX_STATES / c.sub;
    c.n_tb = (a->T + c.tb - 1) / c.tb;
    int64_t work = a->T * a->n_head * (a->n_kv > 0 ? a->n_kv : 1) * a->D;
    if (work >= PAR_MIN)
        vlm_pool_run(ops->pool, attn_worker, &c);
    else
        attn_worker(&c, 0, 1);
    return VLM_OK;
}
