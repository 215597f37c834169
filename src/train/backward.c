/* backward.c - forward with saved activations and the full backward pass of
 * the LIVE training loss, for LoRA A/B and the connector (the base weights
 * are frozen and may be of any type), or, in full fine-tuning, for every LM
 * weight (f32 copies in the trainable) and the connector.
 *
 * A batch is processed one sequence at a time (no KV cache): the positions
 * whose attention mask is 1 are gathered (real tokens keep their index in the
 * padded row as RoPE position, as Hugging Face does without position_ids)
 * and only they are computed; masked positions are never attended to and
 * carry no loss. Per sequence of T real tokens (dimension letters as
 * model.h; r = LoRA rank, nl = labelled rows):
 *   x0[T][H]   token rows, or connector rows at <v> positions
 *   layer l:   h = rmsnorm(x_l); q,k,v = lin(h); rope; a = attn(q,k,v);
 *              x' = x_l + lin_o(a); h2 = rmsnorm(x'); m = silu(lin_g(h2)) * lin_u(h2);
 *              x_{l+1} = x' + lin_d(m)
 *   lin(x) = x W^T + s B (A drop(x))   (PEFT LoRA, s = alpha / r)
 *   loss = sum_i w_i CE(lin_head(rmsnorm(x_L))_i, y_i) / N  over labelled i
 * x_l (l = 0..L) is kept; so is every layer's intermediates when they fit in
 * p.keep_mib (the small models), else the backward pass recomputes each
 * layer's intermediates from x_l (gradient checkpointing, like the original
 * run). Both give the same bits.
 * Dropout masks are a hash of (seed, sequence counter, module, position,
 * feature), so the backward pass regenerates them instead of storing them.
 *
 * Full mode: lin(x) = x W^T with W the trained copy; dW += dy^T x (threads
 * split the rows of W, every element sums over the tokens in order, so the
 * result does not depend on the thread count); RMSNorm weights get
 * dw += sum_t dy * x / rms; the embedding rows get the scatter-add of dx_0
 * over the token ids (<v> rows come from the connector and get nothing).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "train/attn_blocks.h"
#include "train/train_internal.h"

/* One layer's activations (the buffers a layer's forward writes and its backward reads). */
typedef struct {
    float *h, *h2, *xmid, *q, *att, *k, *v, *g, *u, *mm, *lu;
} act_bufs;

struct vlm_train_context {
    const vlm_model *m;
    vlm_trainable *t;
    vlm_train_context_params p;
    vlm_pool *pool;
    vlm_ops ops;
    const vlm_attn_blocks *ab; /* attention block kernels of ops' level */
    char err[256];
    /* the weights the forward pass reads: the model's (LoRA mode) or views of the
     * trained f32 copies (full mode) */
    vlm_llama_layer *ly;            /* [n_layer] */
    vlm_wt tok_embd, output;        /* [V][H] */
    const float *output_norm;       /* [H] */
    float *dump_logits;             /* tests: labelled rows' logits go here */
    int64_t dump_at;
    /* buffers sized for cap_T real tokens (grown on demand), one allocation */
    int64_t cap_T, cap_L; /* cap_L: labelled rows per chunk */
    float *mem;
    float *xs;                      /* [L+1][T][H] layer inputs */
    float *h, *h2, *xmid, *dx, *dxm, *dh; /* [T][H] */
    float *q, *att, *dq, *datt;     /* [T][Nq] */
    float *k, *v, *dk, *dv;         /* [T][Nkv] */
    float *g, *u, *mm, *dg, *du;    /* [T][F] */
    float *lu;                      /* [7][T][r] LoRA intermediates of a layer */
    float *ldu;                     /* [T][r] */
    float *xin, *tmp;               /* [T][max(H, F, Nq, V-chunk)] */
    float *attp;                    /* [nth][attn_scratch_floats] softmax rows, K and V transposed */
    float *gw_t, *ga_t, *gb_t, *gprod; /* full mode's GEMM backward: W^T [g_nk], dy^T and x^T
                                          [g_rows][cap_T], product [max(cap_T * g_rows, g_nk)] */
    int64_t g_nk, g_rows;
    int64_t *pos, *neg;             /* [T] */
    int32_t *lab_rows;              /* [T] */
    float *hn, *logits, *lhu;       /* [cL][H], [cL][V], [cL][r] */
    double *rinv;                   /* [T] 1/rms of each row (norm weight gradients) */
    size_t scr_size;
    /* kept activations (p.keep_mib): layer l's set (act_carve) at kept + l * kept_stride;
     * else every layer uses the shared set above (saved in shared) */
    bool keep;
    float *kept;
    size_t kept_stride;
    act_bufs shared;
};

/* Lay one layer's activations for cT tokens out from p (when a is not NULL):
 * h, h2, xmid [cT][H], q, att [cT][Nq], k, v [cT][Nkv], g, u, mm [cT][F], lu [7][cT][r].
 * Returns the floats they take. */
static size_t act_carve(act_bufs *a, float *p, const vlm_model_hparams *hp, size_t cT, size_t R) {
    const size_t H = (size_t)hp->n_embd, F = (size_t)hp->n_ff;
    const size_t Nq = (size_t)(hp->n_head * hp->n_head_dim), Nkv = (size_t)(hp->n_head_kv * hp->n_head_dim);
    float **dst[] = {a ? &a->h : NULL, a ? &a->h2 : NULL, a ? &a->xmid : NULL, a ? &a->q : NULL,
                     a ? &a->att : NULL, a ? &a->k : NULL, a ? &a->v : NULL, a ? &a->g : NULL,
                     a ? &a->u : NULL, a ? &a->mm : NULL, a ? &a->lu : NULL};
    const size_t n[] = {H, H, H, Nq, Nq, Nkv, Nkv, F, F, F, VLM_P_COUNT * R};
    size_t off = 0;
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
        if (a) *dst[i] = p + off;
        off += cT * n[i];
    }
    return off;
}

vlm_train_context_params vlm_train_context_default_params(void) {
    vlm_train_context_params p = {.n_threads = 2, .stream_loss_weight = 1.0f, .train = true, .keep_mib = 1024};
    return p;
}

const char *vlm_train_last_error(const vlm_train_context *c) { return c ? c->err : ""; }

void vlm_train_context_free(vlm_train_context *c) {
    if (!c) return;
    vlm_pool_free(c->pool);
    free(c->ops.scratch);
    free(c->mem);
    free(c->kept);
    free(c->pos);
    free(c->neg);
    free(c->lab_rows);
    free(c->rinv);
    free(c->ly);
    free(c);
}

bool vlm_train_context_keeps(const vlm_train_context *c) { return c && c->keep; }

void vlm_train_dump_logits(vlm_train_context *c, float *dst) {
    if (!c) return;
    c->dump_logits = dst;
    c->dump_at = 0;
}

static vlm_wt f32_view(const vlm_tparam *p) {
    vlm_wt w = {p->val, VLM_DT_F32, p->cols, p->rows};
    return w;
}

vlm_status vlm_train_context_init(const vlm_model *m, vlm_trainable *t, const vlm_train_context_params *pp,
                                  vlm_train_context **out, char *err, size_t err_size) {
    if (out) *out = NULL;
    if (!m || !t || !out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "train_context_init: NULL argument");
    vlm_train_context_params p = pp ? *pp : vlm_train_context_default_params();
    if (p.n_threads < 1 || p.n_threads > VLM_POOL_MAX_THREADS || !isfinite(p.stream_loss_weight))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "n_threads %d or stream_loss_weight invalid",
                           p.n_threads);
    if (t->hp.n_embd != m->hp.n_embd || t->hp.n_layer != m->hp.n_layer || t->hp.n_vocab != m->hp.n_vocab)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "the trained parameters were made for another model");
    if (m->v_file && t->c0w->cols != m->hp.v_n_embd)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "connector input %lld != vision hidden %d",
                           (long long)t->c0w->cols, m->hp.v_n_embd);
    vlm_train_context *c = calloc(1, sizeof *c);
    if (!c) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    c->m = m, c->t = t, c->p = p;
    c->ly = malloc((size_t)m->hp.n_layer * sizeof *c->ly);
    if (!c->ly) {
        free(c);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    if (!t->full) {
        memcpy(c->ly, m->layers, (size_t)m->hp.n_layer * sizeof *c->ly);
        c->tok_embd = m->tok_embd, c->output = m->output, c->output_norm = m->output_norm;
    } else {
        for (int32_t il = 0; il < m->hp.n_layer; il++) {
            const vlm_full_layer *fl = &t->fl[il];
            vlm_llama_layer *ly = &c->ly[il];
            ly->attn_norm = fl->attn_norm->val, ly->ffn_norm = fl->ffn_norm->val;
            ly->wq = f32_view(fl->w[VLM_P_Q]), ly->wk = f32_view(fl->w[VLM_P_K]), ly->wv = f32_view(fl->w[VLM_P_V]);
            ly->wo = f32_view(fl->w[VLM_P_O]), ly->ffn_gate = f32_view(fl->w[VLM_P_GATE]);
            ly->ffn_up = f32_view(fl->w[VLM_P_UP]), ly->ffn_down = f32_view(fl->w[VLM_P_DOWN]);
        }
        c->tok_embd = f32_view(t->emb), c->output = f32_view(t->out_w), c->output_norm = t->out_norm->val;
    }
    vlm_status st = vlm_pool_init(p.n_threads, &c->pool);
    if (st) {
        free(c->ly);
        free(c);
        return vlm_set_err(err, err_size, st, "cannot start %d threads", p.n_threads);
    }
    c->ops.kern = vlm_kernels_best();
    c->ab = vlm_attn_blocks_get(vlm_kernels_isa(c->ops.kern));
    c->ops.pool = c->pool;
    *out = c;
    return VLM_OK;
}

/* ---- buffers ------------------------------------------------------------------------------------ */

#define CHUNK_L 16 /* labelled rows per lm_head chunk */

static size_t attn_scratch_floats(int64_t cap_T, int64_t Dh);
static const vlm_wt *proj_wt(const vlm_llama_layer *ly, int k);

static vlm_status ensure(vlm_train_context *c, int64_t T, int64_t n_conn_rows) {
    const vlm_model_hparams *hp = &c->m->hp;
    const int64_t H = hp->n_embd, F = hp->n_ff, Dh = hp->n_head_dim, Nq = hp->n_head * Dh, Nkv = hp->n_head_kv * Dh;
    const int64_t L = hp->n_layer, V = hp->n_vocab, R = c->t->lp.lora_r, D = c->t->c0w->cols;
    int64_t need_T = T > n_conn_rows ? T : n_conn_rows;
    if (need_T < 1) need_T = 1;
    if (need_T <= c->cap_T) return VLM_OK;
    int64_t cT = need_T + 64;
    int64_t wmax = H > F ? H : F;
    if (Nq > wmax) wmax = Nq;
    if (D > wmax) wmax = D;
    int nth = vlm_pool_n_threads(c->pool);
    const int64_t cL = CHUNK_L;
    /* full mode's GEMM backward: the largest weight (lm_head included) and its longest side */
    int64_t nk = 0, gr = 0;
    for (int32_t il = 0; il <= L && c->t->full; il++)
        for (int k = 0; k < (il < L ? VLM_P_COUNT : 1); k++) {
            const vlm_wt *w = il < L ? proj_wt(&c->ly[il], k) : &c->output;
            if (w->n_out * w->n_in > nk) nk = w->n_out * w->n_in;
            if (w->n_out > gr) gr = w->n_out;
            if (w->n_in > gr) gr = w->n_in;
        }
    const int64_t gprod = cT * gr > nk ? cT * gr : nk;
    size_t sizes[] = {(size_t)((L + 1) * cT * H), (size_t)(cT * H), (size_t)(cT * H), (size_t)(cT * H),
                      (size_t)(cT * H), (size_t)(cT * H), (size_t)(cT * H),
                      (size_t)(cT * Nq), (size_t)(cT * Nq), (size_t)(cT * Nq), (size_t)(cT * Nq),
                      (size_t)(cT * Nkv), (size_t)(cT * Nkv), (size_t)(cT * Nkv), (size_t)(cT * Nkv),
                      (size_t)(cT * F), (size_t)(cT * F), (size_t)(cT * F), (size_t)(cT * F), (size_t)(cT * F),
                      (size_t)(VLM_P_COUNT * cT * R), (size_t)(cT * R), (size_t)(cT * wmax),
                      (size_t)(cT * wmax > cL * V ? cT * wmax : cL * V), (size_t)nth * attn_scratch_floats(cT, Dh),
                      (size_t)(cL * H), (size_t)(cL * V), (size_t)(cL * R), (size_t)nk, (size_t)(gr * cT),
                      (size_t)(gr * cT), (size_t)(nk ? gprod : 0)};
    float **ptrs[] = {&c->xs, &c->h, &c->h2, &c->xmid, &c->dx, &c->dxm, &c->dh, &c->q, &c->att, &c->dq, &c->datt,
                      &c->k, &c->v, &c->dk, &c->dv, &c->g, &c->u, &c->mm, &c->dg, &c->du, &c->lu, &c->ldu,
                      &c->xin, &c->tmp, &c->attp, &c->hn, &c->logits, &c->lhu, &c->gw_t, &c->ga_t, &c->gb_t,
                      &c->gprod};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (!vlm_add_ok(total, (sizes[i] + 15) & ~(size_t)15, &total))
            return vlm_set_err(c->err, sizeof c->err, VLM_ERR_OOM, "buffer size overflows for %lld tokens",
                               (long long)T);
    }
    size_t bytes;
    if (!vlm_mul_ok(total, sizeof(float), &bytes))
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_OOM, "buffer size overflows");
    free(c->mem);
    free(c->kept);
    c->kept = NULL;
    c->keep = false;
    free(c->pos);
    free(c->neg);
    free(c->lab_rows);
    free(c->rinv);
    c->cap_T = 0;
    c->mem = vlm_alloc64(bytes);
    c->pos = malloc((size_t)cT * sizeof *c->pos);
    c->neg = malloc((size_t)cT * sizeof *c->neg);
    c->lab_rows = malloc((size_t)cT * sizeof *c->lab_rows);
    c->rinv = malloc((size_t)cT * sizeof *c->rinv);
    if (!c->mem || !c->pos || !c->neg || !c->lab_rows || !c->rinv)
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_OOM, "out of memory for %zu MiB of training buffers",
                           bytes >> 20);
    float *pm = c->mem;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *ptrs[i] = pm;
        pm += (sizes[i] + 15) & ~(size_t)15;
    }
    c->shared = (act_bufs){c->h, c->h2, c->xmid, c->q, c->att, c->k, c->v, c->g, c->u, c->mm, c->lu};
    /* every layer's activations, when they fit in keep_mib (else each layer is recomputed) */
    const size_t stride = (act_carve(NULL, NULL, hp, (size_t)cT, (size_t)R) + 15) & ~(size_t)15;
    if (c->p.keep_mib > 0 && (double)stride * (double)L * sizeof(float) <= (double)c->p.keep_mib * 1048576.0) {
        c->kept = vlm_alloc64(stride * (size_t)L * sizeof(float));
        c->keep = c->kept != NULL; /* without the memory, recompute as before */
        c->kept_stride = stride;
    }
    /* matmul scratch: every weight at cT rows, and the f32 LoRA / connector matrices */
    size_t scr = 0;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const vlm_llama_layer *ly = &c->ly[il];
        const vlm_wt *lw[] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->ffn_gate, &ly->ffn_up, &ly->ffn_down};
        size_t s = vlm_model_mm_scratch(lw, 7, cT, nth);
        if (s > scr) scr = s;
    }
    const vlm_wt *ow[] = {&c->output};
    size_t s = vlm_model_mm_scratch(ow, 1, cT, nth);
    if (s > scr) scr = s;
    int64_t ks[] = {H, F, Nq, R, D};
    for (size_t i = 0; i < 5; i++) {
        s = vlm_matmul_scratch_size(VLM_DT_F32, cT, ks[i], nth);
        if (s > scr) scr = s;
    }
    if (nk) { /* the GEMM backward: gr rows, cT inner (dW) and cT rows, gr inner (dx) */
        s = vlm_matmul_scratch_size(VLM_DT_F32, gr, cT, nth);
        if (s > scr) scr = s;
        s = vlm_matmul_scratch_size(VLM_DT_F32, cT, gr, nth);
        if (s > scr) scr = s;
    }
    if (scr > c->scr_size) {
        free(c->ops.scratch);
        c->ops.scratch = vlm_alloc64(scr);
        c->scr_size = c->ops.scratch ? scr : 0;
        if (!c->ops.scratch) return vlm_set_err(c->err, sizeof c->err, VLM_ERR_OOM, "out of memory for matmul scratch");
    }
    c->ops.scratch_size = c->scr_size;
    c->cap_T = cT;
    c->g_nk = nk;
    c->g_rows = gr;
    return VLM_OK;
}

/* ---- kernels ------------------------------------------------------------------------------------ */

/* Four floats (GCC/clang vector extension, SSE width): SIMD at -O2 on any
 * target, the arithmetic of every element unchanged (a multiply then an add). */
typedef float f4 __attribute__((vector_size(16)));

static inline f4 ld4(const float *p) {
    f4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st4(float *p, f4 v) { memcpy(p, &v, sizeof v); }

/* y[n] += a * x[n] */
static inline void axpy(float *restrict y, const float *restrict x, float a, int64_t n) {
    const f4 av = {a, a, a, a};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        f4 y0 = ld4(y + k) + av * ld4(x + k), y1 = ld4(y + k + 4) + av * ld4(x + k + 4);
        st4(y + k, y0);
        st4(y + k + 4, y1);
    }
    for (; k < n; k++) y[k] += a * x[k];
}

/* y[T][K] += x[T][N] @ W[N][K] (W of any weight type; rows dequantized in blocks). */
typedef struct {
    float *y;
    const float *x;
    const void *w;
    int wtype;
    int64_t T, N, K;
    float *buf; /* [nth][NB][K] */
} xw_job;

#define XW_NB 16

static void xw_fn(void *ctx, int ith, int nth) {
    xw_job *j = ctx;
    int64_t k0, k1;
    vlm_pool_split(j->K, ith, nth, 16, &k0, &k1);
    if (k0 >= k1) return;
    const size_t row = vlm_dtype_row_size(j->wtype, j->K);
    float *buf = j->buf + (size_t)ith * XW_NB * (size_t)j->K;
    for (int64_t n0 = 0; n0 < j->N; n0 += XW_NB) {
        int64_t nb = j->N - n0 < XW_NB ? j->N - n0 : XW_NB;
        const float *wr[XW_NB];
        for (int64_t i = 0; i < nb; i++) {
            const void *src = (const uint8_t *)j->w + (size_t)(n0 + i) * row;
            if (j->wtype == VLM_DT_F32) wr[i] = src;
            else {
                vlm_dequantize_row(j->wtype, src, buf + i * j->K, j->K);
                wr[i] = buf + i * j->K;
            }
        }
        for (int64_t t = 0; t < j->T; t++) {
            float *yt = j->y + t * j->K;
            const float *xt = j->x + t * j->N + n0;
            for (int64_t i = 0; i < nb; i++) {
                float a = xt[i];
                if (a == 0.0f) continue;
                axpy(yt + k0, wr[i] + k0, a, k1 - k0);
            }
        }
    }
}

static vlm_status acc_xw(vlm_train_context *c, float *y, const float *x, const void *w, int wtype, int64_t T,
                         int64_t N, int64_t K) {
    int nth = vlm_pool_n_threads(c->pool);
    float *buf = NULL;
    if (wtype != VLM_DT_F32) {
        buf = malloc((size_t)nth * XW_NB * (size_t)K * sizeof(float));
        if (!buf) return vlm_set_err(c->err, sizeof c->err, VLM_ERR_OOM, "out of memory");
    }
    xw_job j = {y, x, w, wtype, T, N, K, buf};
    vlm_pool_run(c->pool, xw_fn, &j);
    free(buf);
    return VLM_OK;
}

/* G[N][K] += s * a[T][N]^T @ b[T][K] */
typedef struct {
    float *G;
    const float *a, *b;
    int64_t T, N, K;
    float s;
} outer_job;

static void outer_fn(void *ctx, int ith, int nth) {
    outer_job *j = ctx;
    int64_t n0, n1;
    vlm_pool_split(j->N, ith, nth, 1, &n0, &n1);
    for (int64_t n = n0; n < n1; n++) {
        float *g = j->G + n * j->K;
        for (int64_t t = 0; t < j->T; t++) {
            float a = j->s * j->a[t * j->N + n];
            if (a == 0.0f) continue;
            axpy(g, j->b + t * j->K, a, j->K);
        }
    }
}

static void acc_outer(vlm_train_context *c, float *G, const float *a, const float *b, int64_t T, int64_t N, int64_t K,
                      float s) {
    outer_job j = {G, a, b, T, N, K, s};
    vlm_pool_run(c->pool, outer_fn, &j);
}

/* Full mode: G[N][K] += dy[T][N]^T @ x[T][K], four rows of G per pass over x.
 * Every G element adds its T products in token order whatever the block or
 * thread split, so the result is the same for any thread count. */
typedef struct {
    float *G;
    const float *dy, *x;
    int64_t T, N, K;
} dw_job;

static void dw_rows(float *restrict g0, float *restrict g1, float *restrict g2, float *restrict g3,
                    const float *restrict xt, float a0, float a1, float a2, float a3, int64_t K) {
    const f4 v0 = {a0, a0, a0, a0}, v1 = {a1, a1, a1, a1}, v2 = {a2, a2, a2, a2}, v3 = {a3, a3, a3, a3};
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
        const f4 xv = ld4(xt + k);
        st4(g0 + k, ld4(g0 + k) + v0 * xv);
        st4(g1 + k, ld4(g1 + k) + v1 * xv);
        st4(g2 + k, ld4(g2 + k) + v2 * xv);
        st4(g3 + k, ld4(g3 + k) + v3 * xv);
    }
    for (; k < K; k++) {
        float xv = xt[k];
        g0[k] += a0 * xv;
        g1[k] += a1 * xv;
        g2[k] += a2 * xv;
        g3[k] += a3 * xv;
    }
}

static void dw_fn(void *ctx, int ith, int nth) {
    dw_job *j = ctx;
    int64_t n0, n1;
    vlm_pool_split(j->N, ith, nth, 4, &n0, &n1);
    const int64_t K = j->K, N = j->N;
    for (int64_t n = n0; n < n1; n += 4) {
        int64_t nb = n1 - n < 4 ? n1 - n : 4;
        if (nb < 4) { /* tail rows one by one (same arithmetic per element) */
            for (int64_t r = n; r < n1; r++) {
                float *g = j->G + r * K;
                for (int64_t t = 0; t < j->T; t++) {
                    float a = j->dy[t * N + r];
                    if (a != 0.0f) axpy(g, j->x + t * K, a, K);
                }
            }
            break;
        }
        float *g = j->G + n * K;
        for (int64_t t = 0; t < j->T; t++) {
            const float *a = j->dy + t * N + n;
            if (a[0] == 0.0f && a[1] == 0.0f && a[2] == 0.0f && a[3] == 0.0f) continue;
            dw_rows(g, g + K, g + 2 * K, g + 3 * K, j->x + t * K, a[0], a[1], a[2], a[3], K);
        }
    }
}

static void acc_dw(vlm_train_context *c, float *G, const float *dy, const float *x, int64_t T, int64_t N, int64_t K) {
    dw_job j = {G, dy, x, T, N, K};
    vlm_pool_run(c->pool, dw_fn, &j);
}

static vlm_status mm(vlm_train_context *c, float *y, const float *x, const void *w, int wtype, const float *bias,
                     int64_t T, int64_t N, int64_t K) {
    vlm_status st = vlm_matmul(&c->ops, y, N, x, K, w, wtype, bias, T, N, K);
    if (st) vlm_set_err(c->err, sizeof c->err, st, "matmul [%lld x %lld] x [%lld x %lld]^T failed", (long long)T,
                        (long long)K, (long long)N, (long long)K);
    return st;
}

/* ---- LoRA linear ---------------------------------------------------------------------------------- */

/* drop(x) into c->xin (or x itself when no dropout applies). Positions are keyed by pos[t]. */
static const float *dropped(vlm_train_context *c, const float *x, int64_t T, int64_t K, uint64_t key,
                            const int64_t *pos) {
    float p = c->t->lp.lora_dropout;
    if (!c->p.train || p <= 0.0f) return x;
    float keep_scale = 1.0f / (1.0f - p);
    for (int64_t t = 0; t < T; t++) {
        uint64_t kt = vlm_train_mix(key ^ vlm_train_mix((uint64_t)pos[t]));
        for (int64_t k = 0; k < K; k++) {
            float r = vlm_train_unif(vlm_train_mix(kt + (uint64_t)k));
            c->xin[t * K + k] = r >= p ? x[t * K + k] * keep_scale : 0.0f;
        }
    }
    return c->xin;
}

static uint64_t drop_key(const vlm_train_context *c, uint64_t seq, int64_t mod) {
    return vlm_train_mix(vlm_train_mix(c->t->lp.seed ^ 0xd50bull) ^ vlm_train_mix(seq * 4099u + (uint64_t)mod));
}

/* y[T][out] = x W^T + s B (A drop(x)); u[T][r] = drop(x) A^T is kept. lm NULL (full mode): y = x W^T. */
static vlm_status lin_fwd(vlm_train_context *c, const vlm_wt *W, const vlm_lora_mod *lm, const float *x, float *y,
                          float *u, int64_t T, uint64_t key, const int64_t *pos) {
    const int64_t R = c->t->lp.lora_r;
    vlm_status st;
    if ((st = mm(c, y, x, W->data, W->type, NULL, T, W->n_out, W->n_in))) return st;
    if (!lm) return VLM_OK;
    const float *xd = dropped(c, x, T, lm->in, key, pos);
    if ((st = mm(c, u, xd, lm->A->val, VLM_DT_F32, NULL, T, R, lm->in))) return st;
    if ((st = mm(c, c->tmp, u, lm->B->val, VLM_DT_F32, NULL, T, lm->out, R))) return st;
    const float s = c->t->scale;
    for (int64_t i = 0; i < T * lm->out; i++) y[i] += s * c->tmp[i];
    return VLM_OK;
}

/* dst[c][r] = src[r][c] for a [rows][cols] matrix, threads split the rows of dst */
typedef struct {
    float *dst;
    const float *src;
    int64_t rows, cols;
} tr_job;

static void tr_fn(void *ctx, int ith, int nth) {
    const tr_job *j = ctx;
    int64_t c0, c1;
    vlm_pool_split(j->cols, ith, nth, 16, &c0, &c1);
    for (int64_t cb = c0; cb < c1; cb += 16) /* 16 x 16 tiles */
        for (int64_t rb = 0; rb < j->rows; rb += 16)
            for (int64_t cc = cb; cc < c1 && cc < cb + 16; cc++)
                for (int64_t r = rb; r < j->rows && r < rb + 16; r++) j->dst[cc * j->rows + r] = j->src[r * j->cols + cc];
}

static void transpose(vlm_train_context *c, float *dst, const float *src, int64_t rows, int64_t cols) {
    tr_job j = {dst, src, rows, cols};
    if (rows * cols >= 65536) vlm_pool_run(c->pool, tr_fn, &j);
    else tr_fn(&j, 0, 1);
}

/* Full mode with an f32 weight: the two products of a linear layer's backward
 * as GEMMs through vlm_matmul (the runtime's packed kernels, chosen for the
 * CPU at run time), on transposed copies:
 *   dx[T][in] += dy[T][out] @ W[out][in]     = dy . (W^T)^T
 *   gW[out][in] += dy^T[out][T] @ x[T][in]   = dy^T . (x^T)^T
 * Each output element is one dot product in a fixed order whatever the thread
 * split, so the thread count does not change the result. */
static vlm_status lin_bwd_gemm(vlm_train_context *c, const vlm_wt *W, vlm_tparam *Wp, const float *x, const float *dy,
                               float *dx, int64_t T) {
    const int64_t out = W->n_out, in = W->n_in;
    vlm_status st;
    if (out * in > c->g_nk || out > c->g_rows || in > c->g_rows || T > c->cap_T)
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG, "GEMM backward buffers too small for [%lld x %lld]",
                           (long long)out, (long long)in);
    transpose(c, c->gw_t, W->data, out, in); /* [in][out] */
    if ((st = mm(c, c->gprod, dy, c->gw_t, VLM_DT_F32, NULL, T, in, out))) return st;
    for (int64_t i = 0; i < T * in; i++) dx[i] += c->gprod[i];
    if (!Wp) return VLM_OK;
    transpose(c, c->ga_t, dy, T, out); /* [out][T] */
    transpose(c, c->gb_t, x, T, in);   /* [in][T] */
    if ((st = mm(c, c->gprod, c->ga_t, c->gb_t, VLM_DT_F32, NULL, out, in, T))) return st;
    for (int64_t i = 0; i < out * in; i++) Wp->grad[i] += c->gprod[i];
    return VLM_OK;
}

/* Given dy[T][out]: dx[T][in] += dy W + drop'(s dy B A); gB += s dy^T u; gA += (s dy B)^T drop(x).
 * Full mode (lm NULL, Wp the trained weight): dx += dy W; gW += dy^T x. */
static vlm_status lin_bwd(vlm_train_context *c, const vlm_wt *W, const vlm_lora_mod *lm, vlm_tparam *Wp,
                          const float *x, const float *u, const float *dy, float *dx, int64_t T, uint64_t key,
                          const int64_t *pos) {
    vlm_status st;
    if (!lm) {
        if (c->gprod && W->type == VLM_DT_F32) return lin_bwd_gemm(c, W, Wp, x, dy, dx, T);
        if ((st = acc_xw(c, dx, dy, W->data, W->type, T, W->n_out, W->n_in))) return st;
        if (Wp) acc_dw(c, Wp->grad, dy, x, T, W->n_out, W->n_in);
        return VLM_OK;
    }
    const int64_t R = c->t->lp.lora_r, in = lm->in, out = lm->out;
    const float s = c->t->scale;
    if ((st = acc_xw(c, dx, dy, W->data, W->type, T, out, in))) return st;
    acc_outer(c, lm->B->grad, dy, u, T, out, R, s);
    memset(c->ldu, 0, (size_t)(T * R) * sizeof(float));
    if ((st = acc_xw(c, c->ldu, dy, lm->B->val, VLM_DT_F32, T, out, R))) return st;
    for (int64_t i = 0; i < T * R; i++) c->ldu[i] *= s;
    const float *xd = dropped(c, x, T, in, key, pos);
    acc_outer(c, lm->A->grad, c->ldu, xd, T, R, in, 1.0f);
    memset(c->tmp, 0, (size_t)(T * in) * sizeof(float));
    if ((st = acc_xw(c, c->tmp, c->ldu, lm->A->val, VLM_DT_F32, T, R, in))) return st;
    float p = c->t->lp.lora_dropout;
    if (c->p.train && p > 0.0f) { /* the mask again: xd / x is keep_scale or 0 */
        float keep_scale = 1.0f / (1.0f - p);
        for (int64_t t = 0; t < T; t++) {
            uint64_t kt = vlm_train_mix(key ^ vlm_train_mix((uint64_t)pos[t]));
            for (int64_t k = 0; k < in; k++) {
                float r = vlm_train_unif(vlm_train_mix(kt + (uint64_t)k));
                if (r >= p) dx[t * in + k] += keep_scale * c->tmp[t * in + k];
            }
        }
    } else
        for (int64_t i = 0; i < T * in; i++) dx[i] += c->tmp[i];
    return VLM_OK;
}

/* ---- small pieces ------------------------------------------------------------------------------------ */

/* dx[T][n] += rmsnorm backward of y = x / rms(x) * w at dy; with dw (full
 * mode), dw[n] += sum_t dy x / rms (rinv: [T] scratch). */
static void rmsnorm_bwd(const float *x, const float *w, const float *dy, float *dx, float *dw, double *rinv, int64_t T,
                        int64_t n, float eps) {
    for (int64_t t = 0; t < T; t++) {
        const float *xt = x + t * n, *dyt = dy + t * n;
        double ss = 0, dot = 0;
        for (int64_t i = 0; i < n; i++) {
            ss += (double)xt[i] * xt[i];
            dot += (double)xt[i] * w[i] * dyt[i];
        }
        double r = 1.0 / sqrt(ss / (double)n + eps);
        double c3 = r * r * r * dot / (double)n;
        rinv[t] = r;
        for (int64_t i = 0; i < n; i++) dx[t * n + i] += (float)(r * w[i] * dyt[i] - xt[i] * c3);
    }
    if (!dw) return;
    for (int64_t i = 0; i < n; i++) {
        double g = 0;
        for (int64_t t = 0; t < T; t++) g += (double)dy[t * n + i] * x[t * n + i] * rinv[t];
        dw[i] += (float)g;
    }
}

typedef struct {
    vlm_train_context *c;
    int64_t T, nh, nkv, Dh;
    float scale;
    bool backward;
} attn_job;

/* Query rows are taken RB at a time: each K / V row loaded serves all of
 * them, and every sum still adds its terms in the order of the one-row
 * loop (over i for a score, over s for an output, over t for dK and dV).
 * The block kernels (attn_blocks.c) are as wide as the CPU allows and give
 * the same bits at every width. */
enum { RB = VLM_AB_ROWS };

/* The per-thread attention scratch: p and dp [RB][Tp], and the group's K and
 * V transposed, [Dh][Tp] each (Tp = the capacity rounded up to the kernels'
 * alignment). */
static int64_t attn_round(int64_t n) { /* n rounded up to the block kernels' alignment */
    const int64_t al = vlm_attn_blocks_align();
    return (n + al - 1) / al * al;
}
static size_t attn_scratch_floats(int64_t cap_T, int64_t Dh) {
    return (size_t)(attn_round(cap_T) * (2 * RB + 2 * Dh));
}

/* xt[i][s] = x[s][i] for s < T, 0 for T <= s < n: one head's rows (stride ld) */
static void transpose_head(float *xt, int64_t Tp, const float *x, int64_t ld, int64_t T, int64_t n, int64_t Dh) {
    for (int64_t s = 0; s < T; s++)
        for (int64_t i = 0; i < Dh; i++) xt[i * Tp + s] = x[s * ld + i];
    for (int64_t i = 0; i < Dh; i++)
        for (int64_t s = T; s < n; s++) xt[i * Tp + s] = 0.0f;
}

/* p[s] = softmax_s(p[s] * scale) over s <= t (in place; f64 sum in order) */
static void softmax_row(float *p, int64_t t, float scale) {
    float mx = -INFINITY;
    for (int64_t s = 0; s <= t; s++) {
        p[s] *= scale;
        if (p[s] > mx) mx = p[s];
    }
    double sum = 0;
    for (int64_t s = 0; s <= t; s++) {
        p[s] = expf(p[s] - mx);
        sum += p[s];
    }
    const double inv = 1.0 / sum;
    for (int64_t s = 0; s <= t; s++) p[s] = (float)(p[s] * inv);
}

/* Causal GQA attention over the T gathered tokens, threads split the KV heads.
 * Forward: att = softmax(q k^T * scale) v. Backward: dq, dk, dv from datt.
 * Scores and dp come from the group's K / V transposed ([Dh][T]), a vector
 * of key positions at a time, for RB query rows at once; every sum runs in f32 in a
 * fixed order, so thread counts and machines agree bitwise. */
static void attn_fn(void *ctx, int ith, int nth) {
    attn_job *j = ctx;
    vlm_train_context *c = j->c;
    const int64_t T = j->T, Dh = j->Dh, Nq = j->nh * Dh, Nkv = j->nkv * Dh, grp = j->nh / j->nkv;
    const int64_t Tp = attn_round(c->cap_T), Ta = attn_round(T);
    const vlm_attn_blocks *kb = c->ab;
    float *p = c->attp + (size_t)ith * attn_scratch_floats(c->cap_T, Dh), *dp = p + RB * Tp;
    float *kt = dp + RB * Tp, *vt = kt + Dh * Tp;
    int64_t g0, g1;
    vlm_pool_split(j->nkv, ith, nth, 1, &g0, &g1);
    for (int64_t g = g0; g < g1; g++) {
        const float *kg = c->k + g * Dh, *vg = c->v + g * Dh;
        float *dkg = c->dk + g * Dh, *dvg = c->dv + g * Dh;
        transpose_head(kt, Tp, kg, Nkv, T, Ta, Dh);
        if (j->backward) transpose_head(vt, Tp, vg, Nkv, T, Ta, Dh);
        for (int64_t hh = 0; hh < grp; hh++) {
            const int64_t h = g * grp + hh;
            for (int64_t t0 = 0; t0 < T; t0 += RB) {
                const int nr = T - t0 < RB ? (int)(T - t0) : RB;
                const int64_t na = attn_round(t0 + nr); /* the last row's t + 1, rounded up */
                const float *qt = c->q + t0 * Nq + h * Dh;
                kb->dots(p, Tp, qt, Nq, nr, kt, na, Dh);
                for (int r = 0; r < nr; r++) softmax_row(p + r * Tp, t0 + r, j->scale);
                if (!j->backward) {
                    kb->combine(c->att + t0 * Nq + h * Dh, Nq, p, Tp, nr, t0 + 1, vg, Nkv, Dh);
                    continue;
                }
                const float *dot = c->datt + t0 * Nq + h * Dh;
                kb->dots(dp, Tp, dot, Nq, nr, vt, na, Dh);
                for (int r = 0; r < nr; r++) {
                    float *pr = p + r * Tp, *dr = dp + r * Tp;
                    double tot = 0;
                    for (int64_t s = 0; s <= t0 + r; s++) tot += (double)pr[s] * dr[s];
                    for (int64_t s = 0; s <= t0 + r; s++) dr[s] = (float)(pr[s] * (dr[s] - tot)) * j->scale;
                }
                kb->axpy(dvg, Nkv, p, Tp, nr, t0 + 1, dot, Nq, Dh);
                kb->combine(c->dq + t0 * Nq + h * Dh, Nq, dp, Tp, nr, t0 + 1, kg, Nkv, Dh);
                kb->axpy(dkg, Nkv, dp, Tp, nr, t0 + 1, qt, Nq, Dh);
            }
        }
    }
}

static double gelu_d(double z) { return 0.5 * (1.0 + erf(z / sqrt(2.0))) + z * exp(-0.5 * z * z) / sqrt(2.0 * M_PI); }

/* ---- one sequence --------------------------------------------------------------------------------------- */

/* The LoRA module of projection k of layer il (il = n_layer: lm_head); NULL in full mode. */
static const vlm_lora_mod *lmod(const vlm_train_context *c, int32_t il, int k) {
    return c->t->full ? NULL : &c->t->mods[(size_t)il * VLM_P_COUNT + (size_t)k];
}
/* The trained weight of projection k of layer il in full mode; NULL with LoRA. */
static vlm_tparam *wpar(const vlm_train_context *c, int32_t il, int k) {
    return c->t->full ? c->t->fl[il].w[k] : NULL;
}

static const vlm_wt *proj_wt(const vlm_llama_layer *ly, int k) {
    const vlm_wt *w[VLM_P_COUNT] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->ffn_gate, &ly->ffn_up, &ly->ffn_down};
    return w[k];
}

/* Projection k of layer il of sequence seq: forward / backward (LoRA intermediates in lu[k]). */
static vlm_status proj_fwd(vlm_train_context *c, int32_t il, int k, const float *x, float *y, int64_t T, uint64_t seq) {
    const size_t us = (size_t)(T * c->t->lp.lora_r);
    return lin_fwd(c, proj_wt(&c->ly[il], k), lmod(c, il, k), x, y, c->lu + (size_t)k * us, T,
                   drop_key(c, seq, il * 8 + k), c->pos);
}

static vlm_status proj_bwd(vlm_train_context *c, int32_t il, int k, const float *x, const float *dy, float *dx,
                           int64_t T, uint64_t seq) {
    const size_t us = (size_t)(T * c->t->lp.lora_r);
    return lin_bwd(c, proj_wt(&c->ly[il], k), lmod(c, il, k), wpar(c, il, k), x, c->lu + (size_t)k * us, dy, dx, T,
                   drop_key(c, seq, il * 8 + k), c->pos);
}

/* Point the activation buffers at layer il's kept slab (when activations are
 * kept and il >= 0), else at the shared buffers. */
static void layer_bufs(vlm_train_context *c, int32_t il) {
    act_bufs a = c->shared;
    if (c->keep && il >= 0)
        act_carve(&a, c->kept + (size_t)il * c->kept_stride, &c->m->hp, (size_t)c->cap_T, (size_t)c->t->lp.lora_r);
    c->h = a.h, c->h2 = a.h2, c->xmid = a.xmid, c->q = a.q, c->att = a.att, c->k = a.k, c->v = a.v;
    c->g = a.g, c->u = a.u, c->mm = a.mm, c->lu = a.lu;
}

/* Forward (and backward) of one gathered sequence. in_rows: T input rows already in xs[0].
 * lab/wts: per token label (-100 none) and weight. On backward, dx0 (= c->dx) holds d loss / d x0. */
static vlm_status run_layer(vlm_train_context *c, int32_t il, int64_t T, uint64_t seq, bool keep_for_bwd) {
    const vlm_model *m = c->m;
    const vlm_model_hparams *hp = &m->hp;
    const int64_t H = hp->n_embd, F = hp->n_ff, Dh = hp->n_head_dim, nh = hp->n_head, nkv = hp->n_head_kv;
    const int64_t Nq = nh * Dh, Nkv = nkv * Dh;
    const vlm_llama_layer *ly = &c->ly[il];
    const float *x = c->xs + (size_t)il * (size_t)(T * H);
    vlm_status st;
    const float eps = hp->rms_norm_eps;
    vlm_rmsnorm(&c->ops, c->h, H, x, H, ly->attn_norm, T, H, eps);
    if ((st = proj_fwd(c, il, VLM_P_Q, c->h, c->q, T, seq)) ||
        (st = proj_fwd(c, il, VLM_P_K, c->h, c->k, T, seq)) ||
        (st = proj_fwd(c, il, VLM_P_V, c->h, c->v, T, seq)))
        return st;
    if ((st = vlm_rope(&c->ops, c->q, Nq, T, nh, Dh, Dh, c->pos, 0, hp->rope_theta, VLM_ROPE_ADJACENT)) ||
        (st = vlm_rope(&c->ops, c->k, Nkv, T, nkv, Dh, Dh, c->pos, 0, hp->rope_theta, VLM_ROPE_ADJACENT)))
        return vlm_set_err(c->err, sizeof c->err, st, "rope of layer %d failed", il);
    attn_job aj = {c, T, nh, nkv, Dh, 1.0f / sqrtf((float)Dh), false};
    vlm_pool_run(c->pool, attn_fn, &aj);
    if ((st = proj_fwd(c, il, VLM_P_O, c->att, c->xmid, T, seq)))
        return st;
    for (int64_t i = 0; i < T * H; i++) c->xmid[i] += x[i];
    vlm_rmsnorm(&c->ops, c->h2, H, c->xmid, H, ly->ffn_norm, T, H, eps);
    if ((st = proj_fwd(c, il, VLM_P_GATE, c->h2, c->g, T, seq)) ||
        (st = proj_fwd(c, il, VLM_P_UP, c->h2, c->u, T, seq)))
        return st;
    vlm_silu_mul(&c->ops, c->mm, c->g, c->u, T * F);
    if (keep_for_bwd) return VLM_OK; /* the backward pass needs the down projection's input only */
    float *xo = c->xs + (size_t)(il + 1) * (size_t)(T * H);
    if ((st = proj_fwd(c, il, VLM_P_DOWN, c->mm, xo, T, seq)))
        return st;
    for (int64_t i = 0; i < T * H; i++) xo[i] += c->xmid[i];
    return VLM_OK;
}

/* Backward of layer il: c->dx holds d/d x_{il+1} on entry and d/d x_il on return. */
static vlm_status back_layer(vlm_train_context *c, int32_t il, int64_t T, uint64_t seq) {
    const vlm_model *m = c->m;
    const vlm_model_hparams *hp = &m->hp;
    const int64_t H = hp->n_embd, F = hp->n_ff, Dh = hp->n_head_dim, nh = hp->n_head, nkv = hp->n_head_kv;
    const int64_t Nq = nh * Dh, Nkv = nkv * Dh, R = c->t->lp.lora_r;
    const vlm_llama_layer *ly = &c->ly[il];
    const float *x = c->xs + (size_t)il * (size_t)(T * H);
    const size_t us = (size_t)(T * R);
    const float eps = hp->rms_norm_eps;
    vlm_status st;
    /* recompute down-proj's LoRA input u (lu[6]) */
    if (!c->t->full) {
        const float *xd = dropped(c, c->mm, T, F, drop_key(c, seq, il * 8 + VLM_P_DOWN), c->pos);
        if ((st = mm(c, c->lu + 6 * us, xd, lmod(c, il, VLM_P_DOWN)->A->val, VLM_DT_F32, NULL, T, R, F))) return st;
    }
    /* FFN */
    memset(c->du, 0, (size_t)(T * F) * sizeof(float)); /* du holds d mm first */
    if ((st = proj_bwd(c, il, VLM_P_DOWN, c->mm, c->dx, c->du, T, seq)))
        return st;
    for (int64_t i = 0; i < T * F; i++) {
        float g = c->g[i], dm = c->du[i];
        float sg = 1.0f / (1.0f + expf(-g));
        c->dg[i] = dm * c->u[i] * sg * (1.0f + g * (1.0f - sg));
        c->du[i] = dm * g * sg;
    }
    memset(c->dh, 0, (size_t)(T * H) * sizeof(float));
    if ((st = proj_bwd(c, il, VLM_P_GATE, c->h2, c->dg, c->dh, T, seq)) ||
        (st = proj_bwd(c, il, VLM_P_UP, c->h2, c->du, c->dh, T, seq)))
        return st;
    memcpy(c->dxm, c->dx, (size_t)(T * H) * sizeof(float));
    rmsnorm_bwd(c->xmid, ly->ffn_norm, c->dh, c->dxm, c->t->full ? c->t->fl[il].ffn_norm->grad : NULL, c->rinv, T, H,
                eps);
    /* attention output */
    memset(c->datt, 0, (size_t)(T * Nq) * sizeof(float));
    if ((st = proj_bwd(c, il, VLM_P_O, c->att, c->dxm, c->datt, T, seq)))
        return st;
    memset(c->dq, 0, (size_t)(T * Nq) * sizeof(float));
    memset(c->dk, 0, (size_t)(T * Nkv) * sizeof(float));
    memset(c->dv, 0, (size_t)(T * Nkv) * sizeof(float));
    attn_job aj = {c, T, nh, nkv, Dh, 1.0f / sqrtf((float)Dh), true};
    vlm_pool_run(c->pool, attn_fn, &aj);
    /* un-rotate: the gradient of a rotation is the opposite rotation */
    if ((st = vlm_rope(&c->ops, c->dq, Nq, T, nh, Dh, Dh, c->neg, 0, hp->rope_theta, VLM_ROPE_ADJACENT)) ||
        (st = vlm_rope(&c->ops, c->dk, Nkv, T, nkv, Dh, Dh, c->neg, 0, hp->rope_theta, VLM_ROPE_ADJACENT)))
        return vlm_set_err(c->err, sizeof c->err, st, "rope backward of layer %d failed", il);
    memset(c->dh, 0, (size_t)(T * H) * sizeof(float));
    if ((st = proj_bwd(c, il, VLM_P_Q, c->h, c->dq, c->dh, T, seq)) ||
        (st = proj_bwd(c, il, VLM_P_K, c->h, c->dk, c->dh, T, seq)) ||
        (st = proj_bwd(c, il, VLM_P_V, c->h, c->dv, c->dh, T, seq)))
        return st;
    memcpy(c->dx, c->dxm, (size_t)(T * H) * sizeof(float));
    rmsnorm_bwd(x, ly->attn_norm, c->dh, c->dx, c->t->full ? c->t->fl[il].attn_norm->grad : NULL, c->rinv, T, H, eps);
    return VLM_OK;
}

/* lm_head + CE over the labelled rows (chunks of CHUNK_L); adds to *loss_sum (w * CE)
 * and, with backward, puts d loss / d x_L into c->dx (zeroed here). */
static vlm_status head_loss(vlm_train_context *c, int64_t T, const int32_t *lab, const float *w, int64_t n_lab,
                            double inv_n, float grad_scale, bool backward, uint64_t seq, double *loss_sum) {
    const vlm_model *m = c->m;
    const vlm_model_hparams *hp = &m->hp;
    const int64_t H = hp->n_embd, V = hp->n_vocab;
    const float *xL = c->xs + (size_t)hp->n_layer * (size_t)(T * H);
    const vlm_lora_mod *lm = lmod(c, hp->n_layer, 0);
    vlm_status st;
    if (backward) memset(c->dx, 0, (size_t)(T * H) * sizeof(float));
    for (int64_t r0 = 0; r0 < n_lab; r0 += CHUNK_L) {
        int64_t nl = n_lab - r0 < CHUNK_L ? n_lab - r0 : CHUNK_L;
        float *xr = c->dh; /* gathered x_L rows [nl][H] */
        int64_t rp[CHUNK_L];
        for (int64_t i = 0; i < nl; i++) {
            int32_t t = c->lab_rows[r0 + i];
            memcpy(xr + i * H, xL + (int64_t)t * H, (size_t)H * sizeof(float));
            rp[i] = c->pos[t];
        }
        vlm_rmsnorm(&c->ops, c->hn, H, xr, H, c->output_norm, nl, H, hp->rms_norm_eps);
        uint64_t key = drop_key(c, seq, 1000000);
        if ((st = lin_fwd(c, &c->output, lm, c->hn, c->logits, c->lhu, nl, key, rp))) return st;
        if (c->dump_logits) {
            memcpy(c->dump_logits + c->dump_at * V, c->logits, (size_t)(nl * V) * sizeof(float));
            c->dump_at += nl;
        }
        for (int64_t i = 0; i < nl; i++) {
            int32_t t = c->lab_rows[r0 + i];
            float *lg = c->logits + i * V;
            float mx = -INFINITY;
            for (int64_t k = 0; k < V; k++) mx = lg[k] > mx ? lg[k] : mx;
            double se = 0;
            for (int64_t k = 0; k < V; k++) se += exp((double)lg[k] - mx);
            double lse = mx + log(se);
            double ce = lse - lg[lab[t]];
            *loss_sum += (double)w[t] * ce;
            if (backward) {
                double gs = (double)grad_scale * w[t] * inv_n;
                for (int64_t k = 0; k < V; k++) lg[k] = (float)(gs * exp((double)lg[k] - lse));
                lg[lab[t]] -= (float)gs;
            }
        }
        if (!backward) continue;
        float *dn = c->h; /* [nl][H] d hn */
        memset(dn, 0, (size_t)(nl * H) * sizeof(float));
        if ((st = lin_bwd(c, &c->output, lm, c->t->full ? c->t->out_w : NULL, c->hn, c->lhu, c->logits, dn, nl, key,
                          rp)))
            return st;
        memset(c->h2, 0, (size_t)(nl * H) * sizeof(float));
        rmsnorm_bwd(xr, c->output_norm, dn, c->h2, c->t->full ? c->t->out_norm->grad : NULL, c->rinv, nl, H,
                    hp->rms_norm_eps);
        for (int64_t i = 0; i < nl; i++) {
            int32_t t = c->lab_rows[r0 + i];
            for (int64_t k = 0; k < H; k++) c->dx[(int64_t)t * H + k] += c->h2[i * H + k];
        }
    }
    return VLM_OK;
}

/* ---- the batch -------------------------------------------------------------------------------------------- */

vlm_status vlm_train_forward(vlm_train_context *c, const vlm_train_batch *b, bool backward, float grad_scale,
                             double *loss, int64_t *n_labels) {
    if (!c) return VLM_ERR_INVALID_ARG;
    c->err[0] = 0;
    if (!b || !b->input_ids || !b->attention_mask || !b->labels || !b->n_seq || !b->seq_len || !loss ||
        (b->n_frames && !b->frames))
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG, "vlm_train_forward: empty batch or NULL buffer");
    const vlm_model *m = c->m;
    const vlm_model_hparams *hp = &m->hp;
    vlm_trainable *tr = c->t;
    const int64_t H = hp->n_embd, V = hp->n_vocab, L = hp->n_layer, S = (int64_t)b->seq_len;
    const int64_t D = tr->c0w->cols, tpf = hp->frame_num_tokens;
    const int32_t vid = hp->v_placeholder_id;
    if ((uint64_t)b->seq_len > (uint64_t)INT32_MAX || b->n_seq > (size_t)INT32_MAX || b->n_frames > (size_t)INT32_MAX)
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG, "batch too large");
    /* validate, count labels and <v> */
    int64_t n_lab = 0, n_v = 0;
    for (size_t s = 0; s < b->n_seq; s++)
        for (int64_t i = 0; i < S; i++) {
            size_t at = s * (size_t)S + (size_t)i;
            int32_t id = b->input_ids[at], y = b->labels[at];
            if (!b->attention_mask[at]) continue;
            if (id == vid) n_v++;
            else if (id < 0 || id >= V)
                return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG,
                                   "sequence %zu position %lld: token %d is outside the vocabulary [0, %lld)", s,
                                   (long long)i, id, (long long)V);
            if (y == -100) continue;
            if (y < 0 || y >= V)
                return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG,
                                   "sequence %zu position %lld: label %d is outside the vocabulary", s, (long long)i, y);
            n_lab++;
        }
    if (n_v != (int64_t)b->n_frames * tpf)
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG,
                           "the batch has %lld <v> positions but %zu frames x %lld tokens were given", (long long)n_v,
                           b->n_frames, (long long)tpf);
    if (n_labels) *n_labels = n_lab;
    *loss = 0;
    if (n_lab == 0) return VLM_OK; /* HF would divide by zero (nan); nothing to learn */
    const int64_t NR = n_v; /* connector rows */
    vlm_status st = ensure(c, S, NR);
    if (st) return st;
    /* connector forward: z1 = F W0^T + b0; a = gelu(z1); E = a W2^T + b2.
     * Kept in caller-independent buffers allocated here (NR rows). */
    float *cz = NULL, *ca = NULL, *ce = NULL, *cde = NULL;
    if (NR) {
        size_t n1, n2;
        if (!vlm_mul_ok((size_t)NR, (size_t)H, &n1) || !vlm_mul_ok(n1, 4 * sizeof(float), &n2))
            return vlm_set_err(c->err, sizeof c->err, VLM_ERR_OOM, "too many frame rows");
        cz = vlm_alloc64(n2);
        if (!cz) return vlm_set_err(c->err, sizeof c->err, VLM_ERR_OOM, "out of memory for %lld frame rows", (long long)NR);
        ca = cz + n1, ce = ca + n1, cde = ce + n1;
        memset(cde, 0, n1 * sizeof(float));
        if ((st = mm(c, cz, b->frames, tr->c0w->val, VLM_DT_F32, tr->c0b->val, NR, H, D))) goto done;
        vlm_gelu_erf(&c->ops, ca, cz, NR * H);
        if ((st = mm(c, ce, ca, tr->c2w->val, VLM_DT_F32, tr->c2b->val, NR, H, H))) goto done;
    }
    const double inv_n = 1.0 / (double)n_lab;
    double loss_sum = 0;
    int64_t v_at = 0;
    float *wts = malloc((size_t)S * sizeof(float));
    int32_t *lab = malloc((size_t)S * sizeof(int32_t));
    int64_t *vrow = malloc((size_t)S * sizeof(int64_t)); /* connector row of each gathered token, -1 for text */
    int32_t *tok = malloc((size_t)S * sizeof(int32_t));  /* token id of each gathered token */
    if (!wts || !lab || !vrow || !tok) {
        free(wts), free(lab), free(vrow), free(tok);
        st = vlm_set_err(c->err, sizeof c->err, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    for (size_t s = 0; s < b->n_seq && !st; s++) {
        const int32_t *ids = b->input_ids + s * (size_t)S, *msk = b->attention_mask + s * (size_t)S;
        const int32_t *lb = b->labels + s * (size_t)S;
        int64_t T = 0, nl = 0;
        for (int64_t i = 0; i < S; i++) {
            if (!msk[i]) continue;
            c->pos[T] = i;
            c->neg[T] = -i;
            lab[T] = lb[i];
            wts[T] = ids[i] == vid ? c->p.stream_loss_weight : 1.0f;
            vrow[T] = ids[i] == vid ? v_at++ : -1;
            tok[T] = ids[i];
            float *x0 = c->xs + T * H;
            if (vrow[T] >= 0) memcpy(x0, ce + vrow[T] * H, (size_t)H * sizeof(float));
            else if ((st = vlm_get_row(x0, c->tok_embd.data, c->tok_embd.type, V, H, ids[i]))) break;
            if (lb[i] != -100) c->lab_rows[nl++] = (int32_t)T;
            T++;
        }
        if (st) {
            vlm_set_err(c->err, sizeof c->err, st, "embedding lookup failed in sequence %zu", s);
            break;
        }
        if (T == 0) continue;
        /* x0 rows were written at stride H for T rows: xs[0] is [T][H] */
        uint64_t seq = tr->dropout_calls + s;
        for (int32_t il = 0; il < L && !st; il++) {
            layer_bufs(c, il);
            st = run_layer(c, il, T, seq, false);
        }
        layer_bufs(c, -1); /* the head uses h and h2 as scratch */
        if (st) break;
        if (nl == 0) continue;
        if ((st = head_loss(c, T, lab, wts, nl, inv_n, grad_scale, backward, seq, &loss_sum))) break;
        if (!backward) continue;
        for (int32_t il = (int32_t)L - 1; il >= 0 && !st; il--) {
            layer_bufs(c, il);
            if (!c->keep && (st = run_layer(c, il, T, seq, true))) break; /* recompute the layer */
            st = back_layer(c, il, T, seq);
        }
        layer_bufs(c, -1);
        if (st) break;
        for (int64_t i = 0; i < T; i++)
            if (vrow[i] >= 0)
                for (int64_t k = 0; k < H; k++) cde[vrow[i] * H + k] += c->dx[i * H + k];
        if (tr->full) /* embedding rows: scatter-add over the token ids (in token order) */
            for (int64_t i = 0; i < T; i++)
                if (vrow[i] < 0) {
                    float *ge = tr->emb->grad + (int64_t)tok[i] * H;
                    for (int64_t k = 0; k < H; k++) ge[k] += c->dx[i * H + k];
                }
    }
    free(wts), free(lab), free(vrow), free(tok);
    if (st) goto done;
    if (backward && NR) { /* connector backward (dE already carries grad_scale / N) */
        acc_outer(c, tr->c2w->grad, cde, ca, NR, H, H, 1.0f);
        for (int64_t r = 0; r < NR; r++)
            for (int64_t k = 0; k < H; k++) tr->c2b->grad[k] += cde[r * H + k];
        float *da = cz + 0; /* reuse: dz1 overwrites z1 after computing gelu' */
        float *tmpd = ce;   /* E no longer needed: d a */
        memset(tmpd, 0, (size_t)(NR * H) * sizeof(float));
        if ((st = acc_xw(c, tmpd, cde, tr->c2w->val, VLM_DT_F32, NR, H, H))) goto done;
        for (int64_t i = 0; i < NR * H; i++) da[i] = (float)(tmpd[i] * gelu_d(cz[i]));
        acc_outer(c, tr->c0w->grad, da, b->frames, NR, H, D, 1.0f);
        for (int64_t r = 0; r < NR; r++)
            for (int64_t k = 0; k < H; k++) tr->c0b->grad[k] += da[r * H + k];
    }
    *loss = loss_sum * inv_n;
    if (!isfinite(*loss)) st = vlm_set_err(c->err, sizeof c->err, VLM_ERR_FORMAT, "the loss is not finite (%s)",
                                            isnan(*loss) ? "nan" : "inf");
    if (c->p.train) tr->dropout_calls += b->n_seq;
done:
    free(cz);
    return st;
}
