/* siglip.c - the SigLIP vision tower, its attention-pooling (MAP) head, the
 * 3x3 pooling of the patch grid and the connector MLP, on a vision context
 * whose buffers are all sized at init (encoding a frame allocates nothing).
 *
 * Per frame (pixels [C][S][S], S = g*P):
 *   patches [Np][C*P*P] (unfolded, c-major then ky, kx) @ Wp^T + bp + pos  -> x [Np][D]
 *   per layer:  x += Wo(MHA(LN1(x)))      (q, k, v, out with biases, no mask)
 *               x += fc2(gelu_tanh(fc1(LN2(x))))
 *   y = post_LN(x)                                                         [Np][D]
 *   MAP head:   a = out_proj(MHA(q = probe, k = v = y))                    [1][D]
 *               cls = a + fc2(gelu_tanh(fc1(LN(a))))
 *   pooled:     mean of each cell of a pool_h x pool_w partition of the
 *               g x g grid of y (adaptive_avg_pool2d bins), row-major
 *   tokens:     [cls, pooled...]                                           [ntok][D]
 * Connector: out = W2 gelu_erf(W0 t + b0) + b2                             [n][H]
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/model.h"

#define CONN_ROWS 16 /* connector rows per chunk */

struct vlm_vision_context {
    const vlm_model *m;
    vlm_vision_context_params p;
    vlm_pool *pool;
    vlm_ops ops;
    float *mem;      /* one allocation for the activations below */
    float *patches;  /* [Np][C*P*P] */
    float *x;        /* [Np][D] residual stream */
    float *h;        /* [Np][D] normed input / attention output */
    float *q, *k, *v; /* [Np][D] */
    float *ff;       /* [Np][I] */
    float *pixels;   /* [C][S][S] (encode_rgb) */
    float *tokens;   /* [ntok][D] (embed_rgb) */
    float *conn;     /* [CONN_ROWS][H] */
    float *head;     /* [4][D] MAP-head rows: q, attention, residual, normed */
    char err[256];
};

vlm_vision_context_params vlm_vision_context_default_params(void) {
    vlm_vision_context_params p = {.n_threads = 2, .cb = NULL, .cb_user_data = NULL};
    return p;
}

const char *vlm_vision_last_error(const vlm_vision_context *ctx) { return ctx ? ctx->err : ""; }

void vlm_vision_context_free(vlm_vision_context *ctx) {
    if (!ctx) return;
    vlm_pool_free(ctx->pool);
    free(ctx->ops.scratch);
    free(ctx->mem);
    free(ctx);
}

vlm_status vlm_vision_context_init(const vlm_model *m, const vlm_vision_context_params *pp, vlm_vision_context **out,
                                   char *err, size_t err_size) {
    if (out) *out = NULL;
    if (!m || !out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_vision_context_init: NULL argument");
    if (!vlm_model_has_vision(m))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "the model was loaded without its vision tower");
    vlm_vision_context_params p = pp ? *pp : vlm_vision_context_default_params();
    if (p.n_threads < 1 || p.n_threads > VLM_POOL_MAX_THREADS)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "n_threads %d is outside [1, %d]", p.n_threads,
                           VLM_POOL_MAX_THREADS);
    const vlm_model_hparams *hp = &m->hp;
    vlm_vision_context *c = calloc(1, sizeof *c);
    if (!c) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    c->m = m;
    c->p = p;
    vlm_status st = vlm_pool_init(p.n_threads, &c->pool);
    if (st) {
        vlm_vision_context_free(c);
        return vlm_set_err(err, err_size, st, "cannot start %d threads", p.n_threads);
    }
    const size_t D = (size_t)hp->v_n_embd, I = (size_t)hp->v_n_ff, H = (size_t)hp->n_embd;
    const size_t S = (size_t)hp->v_image_size, P = (size_t)hp->v_patch_size, Np = (size_t)m->v_grid * m->v_grid;
    const size_t ntok = (size_t)hp->frame_num_tokens;
    /* all sizes are bounded by the loader's limits, so these products fit in 64 bits */
    size_t sizes[] = {Np * 3 * P * P, Np * D, Np * D, Np * D, Np * D, Np * D, Np * I, 3 * S * S, ntok * D,
                      CONN_ROWS * H, 4 * D};
    float **ptrs[] = {&c->patches, &c->x, &c->h, &c->q, &c->k, &c->v, &c->ff, &c->pixels, &c->tokens, &c->conn, &c->head};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += (sizes[i] + 15) & ~(size_t)15;
    c->mem = vlm_alloc64(total * sizeof(float));
    if (!c->mem) {
        vlm_vision_context_free(c);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory for %zu MiB of vision activations",
                           total * sizeof(float) >> 20);
    }
    float *pm = c->mem;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *ptrs[i] = pm;
        pm += (sizes[i] + 15) & ~(size_t)15;
    }
    /* matmul scratch: the largest need over every weight at its row count */
    const vlm_wt *big[] = {&m->patch, &m->vlayers[0].q, &m->vlayers[0].k, &m->vlayers[0].v, &m->vlayers[0].o,
                           &m->vlayers[0].up, &m->vlayers[0].down, &m->head_in};
    const vlm_wt *conn[] = {&m->mm0, &m->mm2, &m->head_out, &m->head_up, &m->head_down};
    size_t s1 = vlm_model_mm_scratch(big, sizeof big / sizeof big[0], (int64_t)Np, p.n_threads);
    size_t s2 = vlm_model_mm_scratch(conn, sizeof conn / sizeof conn[0], CONN_ROWS, p.n_threads);
    /* every layer may use a different type: take the max over all of them */
    for (int il = 1; il < hp->v_n_layer; il++) {
        const vlm_siglip_layer *ly = &m->vlayers[il];
        const vlm_wt *lw[] = {&ly->q, &ly->k, &ly->v, &ly->o, &ly->up, &ly->down};
        size_t s = vlm_model_mm_scratch(lw, 6, (int64_t)Np, p.n_threads);
        if (s > s1) s1 = s;
    }
    c->ops.kern = vlm_kernels_best();
    c->ops.pool = c->pool;
    c->ops.scratch_size = s1 > s2 ? s1 : s2;
    c->ops.scratch = vlm_alloc64(c->ops.scratch_size);
    if (!c->ops.scratch) {
        vlm_vision_context_free(c);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory for matmul scratch");
    }
    *out = c;
    return VLM_OK;
}

static vlm_status mm(vlm_vision_context *c, float *y, int64_t ldy, const float *x, int64_t ldx, const vlm_wt *w,
                     const float *bias, int64_t T, const char *what) {
    vlm_status st = vlm_matmul(&c->ops, y, ldy, x, ldx, w->data, w->type, bias, T, w->n_out, w->n_in);
    if (st) vlm_set_err(c->err, sizeof c->err, st, "matmul %s failed (%s)", what, vlm_status_str(st));
    return st;
}

static void cb(vlm_vision_context *c, const char *name, int32_t layer, const float *data, int64_t rows,
               int64_t cols) {
    if (c->p.cb) c->p.cb(c->p.cb_user_data, name, layer, data, rows, cols);
}

/* Multi-head attention without mask: out[Tq][D] from q[Tq][D], k/v[Nk][D]. */
static vlm_status mha(vlm_vision_context *c, float *out, const float *q, int64_t Tq, const float *k, const float *v,
                      int64_t Nk) {
    const int64_t D = c->m->hp.v_n_embd, nh = c->m->hp.v_n_head, hd = D / nh;
    vlm_attn_args a = {.q = q, .ldq = D, .out = out, .ldo = D, .T = Tq, .n_head = nh, .n_kv_head = nh, .D = hd,
                       .k = k, .v = v, .kv_type = VLM_DT_F32, .kv_stride_pos = D, .kv_stride_head = hd,
                       .n_kv = Nk, .pos0 = 0, .causal = false, .scale = 1.0f / sqrtf((float)hd)};
    vlm_status st = vlm_attention(&c->ops, &a);
    if (st) vlm_set_err(c->err, sizeof c->err, st, "attention failed");
    return st;
}

vlm_status vlm_vision_encode(vlm_vision_context *c, const float *pixels, float *tokens) {
    if (!c || !pixels || !tokens) return VLM_ERR_INVALID_ARG;
    const vlm_model *m = c->m;
    const vlm_model_hparams *hp = &m->hp;
    const int64_t D = hp->v_n_embd, I = hp->v_n_ff, P = hp->v_patch_size, S = hp->v_image_size, g = m->v_grid;
    const int64_t Np = g * g, K = 3 * P * P;
    const float eps = hp->v_ln_eps;
    vlm_status st;
    c->err[0] = 0;

    /* unfold: patch (py, px) row = [c][ky][kx] */
    for (int64_t py = 0; py < g; py++)
        for (int64_t px = 0; px < g; px++) {
            float *row = c->patches + (py * g + px) * K;
            for (int64_t ch = 0; ch < 3; ch++)
                for (int64_t ky = 0; ky < P; ky++)
                    memcpy(row + (ch * P + ky) * P, pixels + (ch * S + py * P + ky) * S + px * P,
                           (size_t)P * sizeof(float));
        }
    if ((st = mm(c, c->x, D, c->patches, K, &m->patch, m->patch_b, Np, "v.patch_embd"))) return st;
    vlm_add(&c->ops, c->x, c->x, m->pos_embd, Np * D);
    cb(c, "v.embd", -1, c->x, Np, D);

    for (int32_t il = 0; il < hp->v_n_layer; il++) {
        const vlm_siglip_layer *ly = &m->vlayers[il];
        vlm_layernorm(&c->ops, c->h, D, c->x, D, ly->ln1_w, ly->ln1_b, Np, D, eps);
        if ((st = mm(c, c->q, D, c->h, D, &ly->q, ly->q_b, Np, "attn_q")) ||
            (st = mm(c, c->k, D, c->h, D, &ly->k, ly->k_b, Np, "attn_k")) ||
            (st = mm(c, c->v, D, c->h, D, &ly->v, ly->v_b, Np, "attn_v")))
            return st;
        if ((st = mha(c, c->h, c->q, Np, c->k, c->v, Np))) return st;
        if ((st = mm(c, c->q, D, c->h, D, &ly->o, ly->o_b, Np, "attn_out"))) return st;
        vlm_add(&c->ops, c->x, c->x, c->q, Np * D);
        vlm_layernorm(&c->ops, c->h, D, c->x, D, ly->ln2_w, ly->ln2_b, Np, D, eps);
        if ((st = mm(c, c->ff, I, c->h, D, &ly->up, ly->up_b, Np, "ffn_up"))) return st;
        vlm_gelu_tanh(&c->ops, c->ff, c->ff, Np * I);
        if ((st = mm(c, c->q, D, c->ff, I, &ly->down, ly->down_b, Np, "ffn_down"))) return st;
        vlm_add(&c->ops, c->x, c->x, c->q, Np * D);
        cb(c, "v.layer", il, c->x, Np, D);
    }
    float *y = c->h; /* post-LN tokens [Np][D] */
    vlm_layernorm(&c->ops, y, D, c->x, D, m->post_ln_w, m->post_ln_b, Np, D, eps);
    cb(c, "v.post_ln", -1, y, Np, D);

    float *dst = tokens;
    if (m->frame_cls) {
        /* MAP head: q from the probe, k/v from y (packed in_proj rows q | k | v) */
        vlm_wt wq = vlm_wt_rows(&m->head_in, 0, D), wk = vlm_wt_rows(&m->head_in, D, D),
               wv = vlm_wt_rows(&m->head_in, 2 * D, D);
        float *hq = c->head, *ha = c->head + D, *hr = c->head + 2 * D, *hn = c->head + 3 * D;
        if ((st = mm(c, hq, D, m->probe, D, &wq, m->head_in_b, 1, "v.head.attn_in q")) ||
            (st = mm(c, c->k, D, y, D, &wk, m->head_in_b + D, Np, "v.head.attn_in k")) ||
            (st = mm(c, c->v, D, y, D, &wv, m->head_in_b + 2 * D, Np, "v.head.attn_in v")))
            return st;
        if ((st = mha(c, ha, hq, 1, c->k, c->v, Np))) return st;
        if ((st = mm(c, hr, D, ha, D, &m->head_out, m->head_out_b, 1, "v.head.attn_out"))) return st;
        cb(c, "v.head.attn_out", -1, hr, 1, D);
        vlm_layernorm(&c->ops, hn, D, hr, D, m->head_ln_w, m->head_ln_b, 1, D, eps);
        if ((st = mm(c, c->ff, I, hn, D, &m->head_up, m->head_up_b, 1, "v.head.ffn_up"))) return st;
        vlm_gelu_tanh(&c->ops, c->ff, c->ff, I);
        if ((st = mm(c, dst, D, c->ff, I, &m->head_down, m->head_down_b, 1, "v.head.ffn_down"))) return st;
        vlm_add(&c->ops, dst, dst, hr, D);
        cb(c, "v.cls", -1, dst, 1, D);
        dst += D;
    }
    if (m->pool_h > 0) {
        /* adaptive average pooling: bin i covers [floor(i*g/n), ceil((i+1)*g/n)) */
        float *pooled = dst;
        for (int32_t by = 0; by < m->pool_h; by++) {
            int64_t y0 = (int64_t)by * g / m->pool_h, y1 = ((int64_t)(by + 1) * g + m->pool_h - 1) / m->pool_h;
            for (int32_t bx = 0; bx < m->pool_w; bx++) {
                int64_t x0 = (int64_t)bx * g / m->pool_w, x1 = ((int64_t)(bx + 1) * g + m->pool_w - 1) / m->pool_w;
                float *o = dst;
                memset(o, 0, (size_t)D * sizeof(float));
                for (int64_t yy = y0; yy < y1; yy++)
                    for (int64_t xx = x0; xx < x1; xx++) vlm_add(&c->ops, o, o, y + (yy * g + xx) * D, D);
                vlm_scale(&c->ops, o, o, 1.0f / (float)((y1 - y0) * (x1 - x0)), D);
                dst += D;
            }
        }
        cb(c, "v.pooled", -1, pooled, (int64_t)m->pool_h * m->pool_w, D);
    }
    cb(c, "v.tokens", -1, tokens, hp->frame_num_tokens, D);
    return VLM_OK;
}

static void rgb_to_pixels(const vlm_model *m, const uint8_t *rgb, float *pixels) {
    const size_t n = (size_t)m->hp.v_image_size * m->hp.v_image_size;
    for (int ch = 0; ch < 3; ch++) {
        const float mean = m->image_mean[ch], std = m->image_std[ch];
        float *o = pixels + (size_t)ch * n;
        for (size_t i = 0; i < n; i++) o[i] = ((float)rgb[i * 3 + ch] * 0.00392156862745098f - mean) / std;
    }
}

vlm_status vlm_vision_encode_rgb(vlm_vision_context *c, const uint8_t *rgb, float *tokens) {
    if (!c || !rgb || !tokens) return VLM_ERR_INVALID_ARG;
    rgb_to_pixels(c->m, rgb, c->pixels);
    return vlm_vision_encode(c, c->pixels, tokens);
}

vlm_status vlm_connector(vlm_vision_context *c, const float *tokens, size_t n, float *out) {
    if (!c || !tokens || !out) return VLM_ERR_INVALID_ARG;
    const vlm_model *m = c->m;
    const int64_t D = m->hp.v_n_embd, H = m->hp.n_embd;
    vlm_status st;
    for (size_t r0 = 0; r0 < n; r0 += CONN_ROWS) {
        int64_t T = (int64_t)(n - r0 < CONN_ROWS ? n - r0 : CONN_ROWS);
        if ((st = mm(c, c->conn, H, tokens + r0 * D, D, &m->mm0, m->mm0_b, T, "mm.0"))) return st;
        vlm_gelu_erf(&c->ops, c->conn, c->conn, T * H);
        if ((st = mm(c, out + r0 * H, H, c->conn, H, &m->mm2, m->mm2_b, T, "mm.2"))) return st;
    }
    return VLM_OK;
}

vlm_status vlm_vision_embed_rgb(vlm_vision_context *c, const uint8_t *rgb, float *out) {
    if (!c || !rgb || !out) return VLM_ERR_INVALID_ARG;
    vlm_status st = vlm_vision_encode_rgb(c, rgb, c->tokens);
    if (st) return st;
    return vlm_connector(c, c->tokens, (size_t)c->m->hp.frame_num_tokens, out);
}
