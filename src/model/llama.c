/* llama.c - the Llama-3 forward pass over a per-stream context: KV cache and
 * every activation buffer sized at init, so vlm_lm_eval() allocates nothing.
 *
 * One batch of T positions starting at cache position P:
 *   x[T][H]   = token rows of token_embd, or the caller's embedding rows
 *   per layer:  h = RMSNorm(x) * attn_norm
 *               q[T][Nh*Dh], k[T][Nkv*Dh], v[T][Nkv*Dh] = h @ Wq/Wk/Wv^T
 *               RoPE (adjacent pairs: Wq/Wk rows are permuted by the converter),
 *               positions P..P+T-1, theta from the file
 *               k, v -> cache[layer][P..P+T)
 *               a = causal GQA attention of q over cache[0..P+T)
 *               x += a @ Wo^T
 *               h = RMSNorm(x) * ffn_norm
 *               x += (silu(h @ Wg^T) * (h @ Wu^T)) @ Wd^T
 *   logits = (RMSNorm(x) * output_norm) @ Wout^T  (only for the rows asked for)
 * The KV cache is [layer][position][Nkv*Dh], f32 or f16.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/kv.h"
#include "model/model.h"

struct vlm_lm_context {
    const vlm_model *m;
    vlm_lm_context_params p;
    vlm_pool *pool;
    vlm_ops ops;
    int32_t kv_len;
    int kv_type;       /* VLM_DT_F32 or VLM_DT_F16 */
    size_t kv_row;     /* elements per position and layer: Nkv*Dh */
    void *k_cache;     /* [n_layer][n_ctx][Nkv*Dh] */
    void *v_cache;     /* [n_layer][n_ctx][Nkv*Dh] */
    float *mem;        /* one allocation for the activations below */
    float *x;          /* [B][H] residual stream */
    float *h;          /* [B][H] normed input / block output */
    float *q;          /* [B][Nh*Dh] */
    float *k, *v;      /* [B][Nkv*Dh] */
    float *att;        /* [B][Nh*Dh] */
    float *gate, *up;  /* [B][F] */
    int64_t *pos_buf;  /* [B] positions for re-rotating keys */
    char err[256];
};

vlm_lm_context_params vlm_lm_context_default_params(void) {
    vlm_lm_context_params p = {.n_ctx = 4096, .n_batch = 64, .n_threads = 2, .kv_f16 = false, .cb = NULL,
                               .cb_user_data = NULL};
    return p;
}

const char *vlm_lm_last_error(const vlm_lm_context *ctx) { return ctx ? ctx->err : ""; }
int32_t vlm_lm_kv_len(const vlm_lm_context *ctx) { return ctx ? ctx->kv_len : 0; }
int32_t vlm_lm_n_ctx(const vlm_lm_context *ctx) { return ctx ? ctx->p.n_ctx : 0; }

void vlm_lm_context_free(vlm_lm_context *ctx) {
    if (!ctx) return;
    vlm_pool_free(ctx->pool);
    free(ctx->ops.scratch);
    free(ctx->mem);
    free(ctx->pos_buf);
    free(ctx->k_cache);
    free(ctx->v_cache);
    free(ctx);
}

vlm_status vlm_lm_context_init(const vlm_model *m, const vlm_lm_context_params *pp, vlm_lm_context **out, char *err,
                               size_t err_size) {
    if (out) *out = NULL;
    if (!m || !out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_lm_context_init: NULL argument");
    vlm_lm_context_params p = pp ? *pp : vlm_lm_context_default_params();
    if (p.n_ctx < 1 || p.n_batch < 1 || p.n_threads < 1 || p.n_threads > VLM_POOL_MAX_THREADS)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "n_ctx %d, n_batch %d, n_threads %d: each must be >= 1%s",
                           p.n_ctx, p.n_batch, p.n_threads, p.n_threads > VLM_POOL_MAX_THREADS ? " (threads <= 256)" : "");
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    const vlm_model_hparams *hp = &m->hp;
    vlm_lm_context *c = calloc(1, sizeof *c);
    if (!c) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    c->m = m;
    c->p = p;
    vlm_status st = vlm_pool_init(p.n_threads, &c->pool);
    if (st) {
        vlm_lm_context_free(c);
        return vlm_set_err(err, err_size, st, "cannot start %d threads", p.n_threads);
    }
    const size_t B = (size_t)p.n_batch, H = (size_t)hp->n_embd, F = (size_t)hp->n_ff;
    const size_t Nq = (size_t)hp->n_head * hp->n_head_dim, Nkv = (size_t)hp->n_head_kv * hp->n_head_dim;
    c->kv_type = p.kv_f16 ? VLM_DT_F16 : VLM_DT_F32;
    c->kv_row = Nkv;
    size_t kv_bytes;
    if (!vlm_mul_ok(Nkv * (p.kv_f16 ? 2 : 4), (size_t)hp->n_layer, &kv_bytes) ||
        !vlm_mul_ok(kv_bytes, (size_t)p.n_ctx, &kv_bytes)) {
        vlm_lm_context_free(c);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "KV cache size overflows for n_ctx %d", p.n_ctx);
    }
    c->k_cache = vlm_alloc64(kv_bytes);
    c->v_cache = vlm_alloc64(kv_bytes);
    size_t sizes[] = {B * H, B * H, B * Nq, B * Nkv, B * Nkv, B * Nq, B * F, B * F};
    float **ptrs[] = {&c->x, &c->h, &c->q, &c->k, &c->v, &c->att, &c->gate, &c->up};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += (sizes[i] + 15) & ~(size_t)15;
    c->mem = vlm_alloc64(total * sizeof(float));
    c->pos_buf = malloc(B * sizeof *c->pos_buf);
    if (!c->k_cache || !c->v_cache || !c->mem || !c->pos_buf) {
        vlm_lm_context_free(c);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory for a %zu MiB KV cache and %zu MiB of buffers",
                           2 * kv_bytes >> 20, total * sizeof(float) >> 20);
    }
    float *pm = c->mem;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *ptrs[i] = pm;
        pm += (sizes[i] + 15) & ~(size_t)15;
    }
    size_t scr = 0;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const vlm_llama_layer *ly = &m->layers[il];
        const vlm_wt *lw[] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->ffn_gate, &ly->ffn_up, &ly->ffn_down};
        size_t s = vlm_model_mm_scratch(lw, 7, (int64_t)B, p.n_threads);
        if (s > scr) scr = s;
    }
    const vlm_wt *ow[] = {&m->output};
    size_t s = vlm_model_mm_scratch(ow, 1, (int64_t)B, p.n_threads);
    if (s > scr) scr = s;
    c->ops.kern = vlm_kernels_best();
    c->ops.pool = c->pool;
    c->ops.scratch_size = scr;
    c->ops.scratch = vlm_alloc64(scr);
    if (!c->ops.scratch) {
        vlm_lm_context_free(c);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory for matmul scratch");
    }
    *out = c;
    return VLM_OK;
}

static vlm_status mm(vlm_lm_context *c, float *y, int64_t ldy, const float *x, int64_t ldx, const vlm_wt *w, int64_t T,
                     const char *what, int32_t il) {
    vlm_status st = vlm_matmul(&c->ops, y, ldy, x, ldx, w->data, w->type, NULL, T, w->n_out, w->n_in);
    if (st) vlm_set_err(c->err, sizeof c->err, st, "matmul %s of layer %d failed (%s)", what, il, vlm_status_str(st));
    return st;
}

static void cb(vlm_lm_context *c, const char *name, int32_t layer, const float *data, int64_t rows, int64_t cols) {
    if (c->p.cb) c->p.cb(c->p.cb_user_data, name, layer, data, rows, cols);
}

/* Cache row of (layer, position) in elements of the cache type. */
static void *kv_at(const vlm_lm_context *c, void *cache, int32_t il, int64_t pos) {
    size_t es = c->kv_type == VLM_DT_F16 ? 2 : 4;
    return (uint8_t *)cache + (((size_t)il * (size_t)c->p.n_ctx + (size_t)pos) * c->kv_row) * es;
}

static void kv_store(const vlm_lm_context *c, void *dst, const float *src, size_t n) {
    if (c->kv_type == VLM_DT_F16)
        vlm_f32_to_f16_row(src, dst, (int64_t)n);
    else
        memcpy(dst, src, n * sizeof(float));
}

/* One batch of T <= n_batch positions at cache position P. logits_rows: 0
 * (none), 1 (last row) or T (all rows) written to logits [rows][V]. */
static vlm_status eval_batch(vlm_lm_context *c, const vlm_lm_input *in, int64_t T, int64_t logits_rows,
                             float *logits) {
    const vlm_model *m = c->m;
    const vlm_model_hparams *hp = &m->hp;
    const int64_t H = hp->n_embd, F = hp->n_ff, Dh = hp->n_head_dim, nh = hp->n_head, nkv = hp->n_head_kv;
    const int64_t Nq = nh * Dh, Nkv = nkv * Dh, V = hp->n_vocab, P = c->kv_len;
    const float eps = hp->rms_norm_eps;
    vlm_status st;

    for (int64_t t = 0; t < T; t++) {
        if (in[t].embd)
            memcpy(c->x + t * H, in[t].embd, (size_t)H * sizeof(float));
        else if ((st = vlm_get_row(c->x + t * H, m->tok_embd.data, m->tok_embd.type, V, H, in[t].token)))
            return vlm_set_err(c->err, sizeof c->err, st, "embedding of token %d failed", in[t].token);
    }
    cb(c, "lm.embd", -1, c->x, T, H);

    for (int32_t il = 0; il < hp->n_layer; il++) {
        const vlm_llama_layer *ly = &m->layers[il];
        vlm_rmsnorm(&c->ops, c->h, H, c->x, H, ly->attn_norm, T, H, eps);
        if ((st = mm(c, c->q, Nq, c->h, H, &ly->wq, T, "attn_q", il)) ||
            (st = mm(c, c->k, Nkv, c->h, H, &ly->wk, T, "attn_k", il)) ||
            (st = mm(c, c->v, Nkv, c->h, H, &ly->wv, T, "attn_v", il)))
            return st;
        if ((st = vlm_rope(&c->ops, c->q, Nq, T, nh, Dh, Dh, NULL, P, hp->rope_theta, VLM_ROPE_ADJACENT)) ||
            (st = vlm_rope(&c->ops, c->k, Nkv, T, nkv, Dh, Dh, NULL, P, hp->rope_theta, VLM_ROPE_ADJACENT)))
            return vlm_set_err(c->err, sizeof c->err, st, "rope of layer %d failed", il);
        for (int64_t t = 0; t < T; t++) {
            kv_store(c, kv_at(c, c->k_cache, il, P + t), c->k + t * Nkv, (size_t)Nkv);
            kv_store(c, kv_at(c, c->v_cache, il, P + t), c->v + t * Nkv, (size_t)Nkv);
        }
        vlm_attn_args a = {.q = c->q, .ldq = Nq, .out = c->att, .ldo = Nq, .T = T, .n_head = nh, .n_kv_head = nkv,
                           .D = Dh, .k = kv_at(c, c->k_cache, il, 0), .v = kv_at(c, c->v_cache, il, 0),
                           .kv_type = c->kv_type, .kv_stride_pos = Nkv, .kv_stride_head = Dh, .n_kv = P + T,
                           .pos0 = P, .causal = true, .scale = 1.0f / sqrtf((float)Dh)};
        if ((st = vlm_attention(&c->ops, &a)))
            return vlm_set_err(c->err, sizeof c->err, st, "attention of layer %d failed", il);
        if ((st = mm(c, c->h, H, c->att, Nq, &ly->wo, T, "attn_output", il))) return st;
        vlm_add(&c->ops, c->x, c->x, c->h, T * H);
        vlm_rmsnorm(&c->ops, c->h, H, c->x, H, ly->ffn_norm, T, H, eps);
        if ((st = mm(c, c->gate, F, c->h, H, &ly->ffn_gate, T, "ffn_gate", il)) ||
            (st = mm(c, c->up, F, c->h, H, &ly->ffn_up, T, "ffn_up", il)))
            return st;
        vlm_silu_mul(&c->ops, c->gate, c->gate, c->up, T * F);
        if ((st = mm(c, c->h, H, c->gate, F, &ly->ffn_down, T, "ffn_down", il))) return st;
        vlm_add(&c->ops, c->x, c->x, c->h, T * H);
        cb(c, "lm.layer", il, c->x, T, H);
    }
    if (logits_rows > 0 || c->p.cb) {
        /* final norm of all rows when observed, else only of the rows needed */
        int64_t r0 = c->p.cb || logits_rows == T ? 0 : T - 1;
        vlm_rmsnorm(&c->ops, c->h + r0 * H, H, c->x + r0 * H, H, m->output_norm, T - r0, H, eps);
        if (c->p.cb) cb(c, "lm.norm", -1, c->h, T, H);
        if (logits_rows > 0 &&
            (st = mm(c, logits, V, c->h + (T - logits_rows) * H, H, &m->output, logits_rows, "output", -1)))
            return st;
    }
    c->kv_len += (int32_t)T;
    return VLM_OK;
}

vlm_status vlm_lm_eval(vlm_lm_context *c, const vlm_lm_input *in, size_t n, vlm_logits_mode mode, float *logits) {
    if (!c) return VLM_ERR_INVALID_ARG;
    c->err[0] = 0;
    const vlm_model_hparams *hp = &c->m->hp;
    if (!in || n == 0)
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG, "vlm_lm_eval: no input positions");
    if (mode != VLM_LOGITS_NONE && mode != VLM_LOGITS_LAST && mode != VLM_LOGITS_ALL)
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG, "vlm_lm_eval: bad logits mode %d", (int)mode);
    if (mode != VLM_LOGITS_NONE && !logits)
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG, "vlm_lm_eval: logits buffer is NULL");
    if (n > (size_t)(c->p.n_ctx - c->kv_len))
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_CTX_FULL,
                           "KV cache full: %d of %d positions used, %zu more requested", c->kv_len, c->p.n_ctx, n);
    for (size_t i = 0; i < n; i++) {
        if (in[i].embd) continue;
        if (in[i].token < 0 || in[i].token >= hp->n_vocab)
            return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG,
                               "input %zu: token %d is outside the vocabulary [0, %d)%s", i, in[i].token, hp->n_vocab,
                               in[i].token == hp->v_placeholder_id ? " (<v> needs a frame embedding)" : "");
        if (in[i].token == hp->v_placeholder_id)
            return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG,
                               "input %zu: <v> (id %d) needs a frame embedding", i, in[i].token);
    }
    const int32_t kv0 = c->kv_len;
    const size_t B = (size_t)c->p.n_batch, V = (size_t)hp->n_vocab;
    for (size_t i0 = 0; i0 < n; i0 += B) {
        int64_t T = (int64_t)(n - i0 < B ? n - i0 : B);
        bool last = i0 + (size_t)T == n;
        int64_t rows = mode == VLM_LOGITS_ALL ? T : (mode == VLM_LOGITS_LAST && last) ? 1 : 0;
        float *dst = mode == VLM_LOGITS_ALL ? logits + i0 * V : logits;
        vlm_status st = eval_batch(c, in + i0, T, rows, dst);
        if (st) {
            c->kv_len = kv0; /* the cache is left as it was */
            return st;
        }
    }
    return VLM_OK;
}

vlm_status vlm_lm_kv_trim(vlm_lm_context *c, int32_t n_keep) {
    if (!c) return VLM_ERR_INVALID_ARG;
    if (n_keep < 0 || n_keep > c->kv_len)
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG, "kv_trim: n_keep %d is outside [0, %d]", n_keep,
                           c->kv_len);
    c->kv_len = n_keep;
    return VLM_OK;
}

vlm_status vlm_lm_kv_evict(vlm_lm_context *c, int32_t start, int32_t count) {
    if (!c) return VLM_ERR_INVALID_ARG;
    if (start < 0 || count < 0 || start > c->kv_len || count > c->kv_len - start)
        return vlm_set_err(c->err, sizeof c->err, VLM_ERR_INVALID_ARG,
                           "kv_evict: range [%d, %d + %d) is not inside the %d cached positions", start, start, count,
                           c->kv_len);
    if (count == 0) return VLM_OK;
    for (int32_t i = 0; i < c->p.n_batch; i++) c->pos_buf[i] = -(int64_t)count;
    const vlm_model_hparams *hp = &c->m->hp;
    const int64_t Dh = hp->n_head_dim, nkv = hp->n_head_kv, moved = c->kv_len - start - count;
    const size_t es = c->kv_type == VLM_DT_F16 ? 2 : 4, row_bytes = c->kv_row * es;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        if (moved > 0) {
            memmove(kv_at(c, c->k_cache, il, start), kv_at(c, c->k_cache, il, start + count), (size_t)moved * row_bytes);
            memmove(kv_at(c, c->v_cache, il, start), kv_at(c, c->v_cache, il, start + count), (size_t)moved * row_bytes);
        }
        /* keys of the moved positions: rotate by -count (RoPE angles add) */
        for (int64_t j0 = 0; j0 < moved; j0 += c->p.n_batch) {
            int64_t n = moved - j0 < c->p.n_batch ? moved - j0 : c->p.n_batch;
            void *rows = kv_at(c, c->k_cache, il, start + j0);
            float *f = c->kv_type == VLM_DT_F16 ? c->q : rows; /* q holds B*Nq >= B*Nkv floats */
            if (c->kv_type == VLM_DT_F16) vlm_f16_to_f32_row(rows, f, n * (int64_t)c->kv_row);
            vlm_status st = vlm_rope(&c->ops, f, (int64_t)c->kv_row, n, nkv, Dh, Dh, c->pos_buf, 0, hp->rope_theta,
                                     VLM_ROPE_ADJACENT);
            if (st) return vlm_set_err(c->err, sizeof c->err, st, "kv_evict: rope failed");
            if (c->kv_type == VLM_DT_F16) vlm_f32_to_f16_row(f, rows, n * (int64_t)c->kv_row);
        }
    }
    c->kv_len -= count;
    return VLM_OK;
}

vlm_status vlm_lm_bench_set_kv_len(vlm_lm_context *c, int32_t n) {
    if (!c || n < 0 || n > c->p.n_ctx) return VLM_ERR_INVALID_ARG;
    c->kv_len = n;
    return VLM_OK;
}
