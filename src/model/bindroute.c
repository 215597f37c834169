/* bindroute.c - the binding route: at a colour word, the shape of the object
 * of that colour in the latest frames (vlm_design_bind_route;
 * docs/demo-model-experiments.md, "The shape of the colour just named").
 *
 * A reply names its subject "The <colour> <shape>" and an appearance "A <size>
 * <colour> <shape>": the shape word is predicted at the colour word, and it is
 * the shape of the object of that colour, a product of the token and the
 * frame that no attention head computes (an attention head averages tokens;
 * it cannot pick one colour's part of one token). The designed tower's head
 * token has, per colour, a bin for each known area, and each area belongs to
 * one shape. On top of the diff heads' reserved dimensions (first = F):
 *
 *   vision dim I (the first unused): 1 on the head token alone (its MLP bias)
 *   connector units U-13 .. U-1 (U: the first unit the diff heads hold):
 *     U-13: gelu(v_I + 6) -> LM dim F+17 (the head indicator, times GI)
 *     U-12 + 2c + k: gelu(z + 6), z = sum over colour c's bins of the shape's
 *       simplex coordinate k / (present - absent level) -> LM dim F + 2c + k
 *       (times GC; both minus their value at 0, so grid tokens carry 0)
 *   token embedding: colour word c carries MC u_c along F+12..F+14
 *     (u = +-e1, +-e2, +-e3)
 *   layer 1 MLP unit 0: silu(6 x/xi) (x/xi) AMPV/6 along F+17 (x: the
 *     indicator there): head tokens enter layer 2 with the indicator about
 *     sqrt(H) after the norm, whatever else they carry
 *   layer 2 heads 0 and 1: text tokens (the constant on dim 1) attend to head
 *     tokens (F+17) by a recency kernel on RoPE pairs 2..15 (head 0: the
 *     latest frame; head 1: the latest two), each copying the 12 codes to
 *     text tokens along the same dimensions
 *   layer 2 MLP units 0..11: silu(A (<u_c, colour code> - thr * text const))
 *     * code[c][k] -> F+15+k: only at a colour word, only its colour's code
 *   LM head: the shape words read F+15, F+16 through their simplex vectors.
 * Nothing else writes the new dimensions (their rows of every attention and
 * MLP output, of the embedding and of the connector are zero), and layers 0-1
 * do not read them. Every constant below is the prototype's (tests/ref/
 * bind_route.py); the recipe holds the route's weights fixed in training. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/model.h"

#define BR_NEW 18          /* reserved LM dimensions added: 12 codes, 3 colour code, 2 out, 1 indicator */
#define BR_UNITS 13        /* connector units */
#define BR_GATES 12        /* layer 2 MLP units */
#define BR_PAIRS 14        /* RoPE pairs 2..15 */
#define BR_BIAS 6.0        /* connector units: gelu(z + 6) ~ z + 6 */
#define BR_MC 1.5          /* colour code size */
#define BR_GC 1.0          /* connector code size */
#define BR_TC 1.5          /* text tokens' code size */
#define BR_S 15.0          /* fetch score scale */
#define BR_A 6.0           /* gate slope */
#define BR_OUT 1.5         /* gate output size */
#define BR_GAM 10.0        /* LM head */
#define BR_GI 2.0          /* indicator from the connector */
#define BR_AMP 200.0       /* indicator from layer 1 */
#define BR_RMS_TEXT 0.77   /* text tokens entering layer 2 (measured on the recipe's initial model) */
#define BR_RMS_FIN 0.65    /* colour words at the final norm (likewise) */
#define BR_TEXT_CONST 0.683 /* the text constant on dimension 1 (likewise) */
#define BR_TEXT_RMS2 0.76  /* text rms entering layer 2 for that constant (likewise) */

/* Least-squares recency kernels over positions 0..799 on RoPE pairs 2..15 (theta 500000, head dim
 * 64), weight 5 below 100: 1 up to K0, a ramp to 0 at K1, 0 after; (K0, K1) = (22, 28) and (33, 40). */
static const double KERNEL[2][BR_PAIRS] = {
    {-0.028362493409554285, 0.03665403945907375, -0.07025995566392912, 0.006430944572831223, 0.15013692752614574,
     0.23230584153862824, 0.16674516915674997, 0.15264301705413263, 0.1372884338663413, -0.019161336114162826,
     0.6081376308364601, -1.9599687200722442, 3.1923731387088017, -1.6353820703072062},
    {-0.006907281029293309, -0.04041281988189317, 0.05081147238118183, -0.1306880030870893, -0.017444676766834755,
     0.2258417289919569, 0.1953595859754211, 0.19130239608806152, 0.18198668500477086, 0.018658459254528508,
     0.6652728248242145, -2.095640925348525, 3.4502064669460553, -1.745691378203414}};

static double gelu_tanh(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * (x * x * x)))); }

static int cmp_f32(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The median of n floats (sorted in place), as NumPy gives it for float32: the middle one, or the
 * float mean of the two middle ones. */
static float median_f32(float *x, size_t n) {
    qsort(x, n, sizeof *x, cmp_f32);
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2.0f;
}

vlm_bind_route_params vlm_bind_route_default_params(void) {
    return (vlm_bind_route_params){.first_dim = -1, .conn_reserved = -1, .dim_bins = -1, .dim_indicator = -1};
}

/* A float copy of a weight that must be f32, or NULL with the error set. */
static float *copy_f32(const vlm_wt *w, const char *name, char *err, size_t err_size, vlm_status *st) {
    if (w->type != VLM_DT_F32) {
        *st = vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "bind_route: %s is %s, not f32", name,
                          vlm_dtype_name(w->type));
        return NULL;
    }
    const size_t n = (size_t)(w->n_out * w->n_in);
    float *c = malloc(n * sizeof(float));
    if (!c) {
        *st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        return NULL;
    }
    memcpy(c, w->data, n * sizeof(float));
    return c;
}

static float *copy_vec(const float *v, size_t n, char *err, size_t err_size, vlm_status *st) {
    float *c = malloc(n * sizeof(float));
    if (!c) *st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    else memcpy(c, v, n * sizeof(float));
    return c;
}

vlm_status vlm_design_bind_route(const vlm_model *m, const float *head_tokens, size_t n_frames,
                                 const vlm_bind_route_params *p, const char *out_path, vlm_bind_route_report *rep,
                                 char *err, size_t err_size) {
    if (!m || !head_tokens || !p || !out_path)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "bind_route: NULL argument");
    const vlm_model_hparams *hp = &m->hp;
    const int64_t H = hp->n_embd, Dh = hp->n_head_dim, Nq = hp->n_head * Dh, V = hp->n_vocab, Dv = hp->v_n_embd;
    const int64_t Hc = m->v_file ? m->mm0.n_out : 0, F = p->first_dim, nc = p->n_colours, nb = p->n_areas;
    if (!m->v_file) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "bind_route: the model has no vision file");
    if (hp->n_layer < 3 || hp->n_head < 2 || hp->n_head_kv != hp->n_head || Dh != 64 ||
        fabs(hp->rope_theta - 500000.0) > 0.5 || hp->n_ff < BR_GATES)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "bind_route: needs 3 layers, 2 heads of 64 (as many KV heads), RoPE theta 500000 and "
                           "%d MLP units (has %d layers, %d heads of %lld, theta %g, %lld units)",
                           BR_GATES, hp->n_layer, hp->n_head, (long long)Dh, hp->rope_theta, (long long)hp->n_ff);
    if (nc != 6 || p->n_shapes != 3 || nb < 1 || nb > VLM_DESIGN_MAX_AREAS)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "bind_route: designed for 6 colours and 3 shapes (has %d and %d, %d areas)", (int)nc,
                           p->n_shapes, (int)nb);
    for (int64_t a = 0; a < nb; a++)
        if (p->area_shape[a] < 0 || p->area_shape[a] >= p->n_shapes)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "bind_route: area %lld's shape %d is not in 0..2",
                               (long long)a, p->area_shape[a]);
    if (F < 3 || F + BR_NEW > H || p->conn_reserved < 0 || p->conn_reserved + BR_UNITS > Hc || Hc != H ||
        p->dim_bins < 0 || p->dim_bins + nc * nb > Dv || p->dim_indicator < 0 || p->dim_indicator >= Dv ||
        (p->dim_indicator >= p->dim_bins && p->dim_indicator < p->dim_bins + nc * nb))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "bind_route: dimensions out of range (first LM dimension %lld of %lld, %d connector units "
                           "held of %lld, bins at %d, indicator at %d of %lld vision dimensions)",
                           (long long)F, (long long)H, p->conn_reserved, (long long)Hc, p->dim_bins, p->dim_indicator,
                           (long long)Dv);
    if (!p->colour_tokens || !p->shape_tokens)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "bind_route: no colour or shape tokens");
    for (int64_t i = 0; i < nc + 3; i++) {
        const int32_t t = i < nc ? p->colour_tokens[i] : p->shape_tokens[i - nc];
        if (t < 0 || t >= V)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "bind_route: token %d outside the vocabulary (%lld)",
                               t, (long long)V);
    }
    if (n_frames < 2) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "bind_route: %zu frames", n_frames);
    if (m->head_down_b[p->dim_indicator] != 0.0f)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "bind_route: vision dimension %d is in use (the head's output bias is %g there)",
                           p->dim_indicator, (double)m->head_down_b[p->dim_indicator]);

    vlm_status st = VLM_OK;
    const vlm_llama_layer *l0 = &m->layers[0], *l1 = &m->layers[1], *l2 = &m->layers[2];
    float *emb = NULL, *outw = NULL, *w0 = NULL, *b0 = NULL, *w2 = NULL, *b2 = NULL, *hdb = NULL, *x = NULL;
    float *lq[2] = {NULL, NULL}, *lk[2] = {NULL, NULL}, *lv[2] = {NULL, NULL};
    float **wo = calloc((size_t)hp->n_layer, sizeof *wo), **wd = calloc((size_t)hp->n_layer, sizeof *wd);
    float *q2 = NULL, *k2 = NULL, *v2 = NULL, *g1 = NULL, *u1 = NULL, *g2 = NULL, *u2 = NULL;
    double v0[VLM_DESIGN_MAX_COLOURS * VLM_DESIGN_MAX_AREAS], v1[VLM_DESIGN_MAX_COLOURS * VLM_DESIGN_MAX_AREAS];
    if (!wo || !wd) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    x = malloc(n_frames * sizeof(float));
    if (!x) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    /* 0. each bin's absent and present levels over the sample head tokens (below and above 1) */
    for (int64_t j = 0; j < nc * nb; j++) {
        size_t lo = 0, hi = 0;
        for (size_t f = 0; f < n_frames; f++) {
            const float t = head_tokens[f * (size_t)Dv + (size_t)(p->dim_bins + j)];
            if (t < 1.0f) x[lo++] = t;
        }
        const float a = lo ? median_f32(x, lo) : 0.0f;
        for (size_t f = 0; f < n_frames; f++) {
            const float t = head_tokens[f * (size_t)Dv + (size_t)(p->dim_bins + j)];
            if (t > 1.0f) x[hi++] = t;
        }
        if (!lo || !hi) {
            st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                             "bind_route: bin %lld (vision dimension %lld) is %s in every sample frame", (long long)j,
                             (long long)(p->dim_bins + j), lo ? "absent" : "present");
            goto done;
        }
        v0[j] = (double)a, v1[j] = (double)median_f32(x, hi);
    }
    emb = copy_f32(&m->tok_embd, "token_embd", err, err_size, &st);
    if (!st) outw = copy_f32(&m->output, "output", err, err_size, &st);
    if (!st) w0 = copy_f32(&m->mm0, "mm.0", err, err_size, &st);
    if (!st) w2 = copy_f32(&m->mm2, "mm.2", err, err_size, &st);
    if (!st) b0 = copy_vec(m->mm0_b, (size_t)Hc, err, err_size, &st);
    if (!st) b2 = copy_vec(m->mm2_b, (size_t)H, err, err_size, &st);
    if (!st) hdb = copy_vec(m->head_down_b, (size_t)Dv, err, err_size, &st);
    for (int l = 0; !st && l < hp->n_layer; l++) {
        wo[l] = copy_f32(&m->layers[l].wo, "attn_output", err, err_size, &st);
        if (!st) wd[l] = copy_f32(&m->layers[l].ffn_down, "ffn_down", err, err_size, &st);
    }
    for (int l = 0; !st && l < 2; l++) {
        const vlm_llama_layer *ly = l ? l1 : l0;
        lq[l] = copy_f32(&ly->wq, "attn_q", err, err_size, &st);
        if (!st) lk[l] = copy_f32(&ly->wk, "attn_k", err, err_size, &st);
        if (!st) lv[l] = copy_f32(&ly->wv, "attn_v", err, err_size, &st);
    }
    if (!st) q2 = copy_f32(&l2->wq, "attn_q", err, err_size, &st);
    if (!st) k2 = copy_f32(&l2->wk, "attn_k", err, err_size, &st);
    if (!st) v2 = copy_f32(&l2->wv, "attn_v", err, err_size, &st);
    if (!st) g1 = copy_f32(&l1->ffn_gate, "ffn_gate", err, err_size, &st);
    if (!st) u1 = copy_f32(&l1->ffn_up, "ffn_up", err, err_size, &st);
    if (!st) g2 = copy_f32(&l2->ffn_gate, "ffn_gate", err, err_size, &st);
    if (!st) u2 = copy_f32(&l2->ffn_up, "ffn_up", err, err_size, &st);
    if (st) goto done;

    const size_t Hz = (size_t)H, Dvz = (size_t)Dv, Ff = (size_t)hp->n_ff;
    const int64_t dCode = F, dCol = F + 12, dOut = F + 15, dInd = F + 17, dEnd = F + BR_NEW;
    const int64_t uInd = Hc - p->conn_reserved - BR_UNITS, uCode = uInd + 1;
    const double simplex[3][2] = {{1.0, 0.0}, {-0.5, sqrt(3.0) / 2}, {-0.5, -sqrt(3.0) / 2}};
    double U[6][3] = {{0}};
    for (int c = 0; c < 6; c++) U[c][c / 2] = c % 2 == 0 ? 1.0 : -1.0;

    /* 1. nothing else writes the new dimensions; layers 0-1 do not read them */
    for (int64_t t = 0; t < V; t++)
        for (int64_t d = F; d < dEnd; d++) emb[(size_t)t * Hz + (size_t)d] = 0.0f;
    for (int l = 0; l < hp->n_layer; l++)
        for (int64_t d = F; d < dEnd; d++) {
            memset(wo[l] + (size_t)d * (size_t)Nq, 0, (size_t)Nq * sizeof(float));
            memset(wd[l] + (size_t)d * Ff, 0, Ff * sizeof(float));
        }
    for (int l = 0; l < 2; l++)
        for (int64_t r = 0; r < Nq; r++)
            for (int64_t d = F; d < dEnd; d++) {
                const size_t at = (size_t)r * Hz + (size_t)d;
                lq[l][at] = 0.0f, lk[l][at] = 0.0f, lv[l][at] = 0.0f;
            }
    for (int64_t d = F; d < dEnd; d++) {
        memset(w2 + (size_t)d * Hz, 0, Hz * sizeof(float));
        b2[d] = 0.0f;
    }
    /* 2. connector: the codes (units uCode..), then the head indicator (unit uInd) */
    const double g6 = gelu_tanh(BR_BIAS);
    for (int64_t r = 0; r < H; r++)
        for (int64_t u = uCode; u < uCode + 12; u++) w2[(size_t)r * Hz + (size_t)u] = 0.0f;
    for (int64_t c = 0; c < 6; c++)
        for (int k = 0; k < 2; k++) {
            const int64_t u = uCode + 2 * c + k;
            memset(w0 + (size_t)u * Dvz, 0, Dvz * sizeof(float));
            for (int64_t a = 0; a < nb; a++) {
                const int64_t j = c * nb + a;
                w0[(size_t)u * Dvz + (size_t)(p->dim_bins + j)] = (float)(simplex[p->area_shape[a]][k] / (v1[j] - v0[j]));
            }
            b0[u] = (float)BR_BIAS;
            w2[(size_t)(dCode + 2 * c + k) * Hz + (size_t)u] = (float)BR_GC;
            b2[dCode + 2 * c + k] = (float)(-BR_GC * g6);
        }
    for (int64_t u = 0; u < Hc; u++) w0[(size_t)u * Dvz + (size_t)p->dim_indicator] = 0.0f;
    for (int64_t r = 0; r < H; r++) w2[(size_t)r * Hz + (size_t)uInd] = 0.0f;
    memset(w0 + (size_t)uInd * Dvz, 0, Dvz * sizeof(float));
    w0[(size_t)uInd * Dvz + (size_t)p->dim_indicator] = 1.0f;
    b0[uInd] = (float)BR_BIAS;
    w2[(size_t)dInd * Hz + (size_t)uInd] = (float)BR_GI;
    b2[dInd] = (float)(-BR_GI * g6);
    /* 3. the colour words' code */
    for (int c = 0; c < 6; c++)
        for (int i = 0; i < 3; i++) emb[(size_t)p->colour_tokens[c] * Hz + (size_t)(dCol + i)] = (float)(BR_MC * U[c][i]);
    /* 4. layer 1 MLP unit 0 amplifies the indicator */
    const double xi = BR_GI / 0.9, x1 = BR_TEXT_CONST / BR_TEXT_RMS2;
    memset(g1, 0, Hz * sizeof(float));
    memset(u1, 0, Hz * sizeof(float));
    for (int64_t r = 0; r < H; r++) wd[1][(size_t)r * Ff] = 0.0f;
    g1[dInd] = (float)(6.0 / xi);
    u1[dInd] = (float)(1.0 / xi);
    wd[1][(size_t)dInd * Ff] = (float)(BR_AMP / 6.0);
    const double x0 = sqrt((double)H) * 0.95, rms_head = (BR_AMP + BR_GI) / (sqrt((double)H) * 0.95);
    /* 5. layer 2 heads 0-1: fetch the latest frames' codes */
    memset(q2, 0, (size_t)(2 * Dh) * Hz * sizeof(float));
    memset(k2, 0, (size_t)(2 * Dh) * Hz * sizeof(float));
    memset(v2, 0, (size_t)(2 * Dh) * Hz * sizeof(float));
    for (int64_t r = 0; r < H; r++) memset(wo[2] + (size_t)r * (size_t)Nq, 0, (size_t)(2 * Dh) * sizeof(float));
    const double scale = BR_S * sqrt((double)Dh) / (x1 * x0);
    for (int h = 0; h < 2; h++) {
        for (int i = 0; i < BR_PAIRS; i++) {
            const int pair = 2 + i;
            const double w = KERNEL[h][i], a = sqrt(fabs(w) * scale), sg = w > 0 ? 1.0 : w < 0 ? -1.0 : 0.0;
            q2[(size_t)(h * Dh + 2 * pair) * Hz + 1] = (float)a;
            k2[(size_t)(h * Dh + 2 * pair) * Hz + (size_t)dInd] = (float)(a * sg);
        }
        for (int j = 0; j < 12; j++) {
            v2[(size_t)(h * Dh + j) * Hz + (size_t)(dCode + j)] = 1.0f;
            wo[2][(size_t)(dCode + j) * (size_t)Nq + (size_t)(h * Dh + j)] = (float)(BR_TC / (BR_GC / rms_head));
        }
    }
    /* 6. layer 2 MLP units 0..11: the gate */
    const double mcn = BR_MC / BR_RMS_TEXT, tcn = BR_TC / BR_RMS_TEXT, on = BR_A * 0.5 * mcn;
    for (int c = 0; c < 6; c++)
        for (int kk = 0; kk < 2; kk++) {
            const size_t un = (size_t)(2 * c + kk);
            memset(g2 + un * Hz, 0, Hz * sizeof(float));
            memset(u2 + un * Hz, 0, Hz * sizeof(float));
            for (int64_t r = 0; r < H; r++) wd[2][(size_t)r * Ff + un] = 0.0f;
            for (int i = 0; i < 3; i++) g2[un * Hz + (size_t)(dCol + i)] = (float)(BR_A * U[c][i]);
            g2[un * Hz + 1] = (float)(-BR_A * 0.5 * mcn / x1);
            u2[un * Hz + (size_t)(dCode + 2 * c + kk)] = 1.0f;
            wd[2][(size_t)(dOut + kk) * Ff + un] = (float)(BR_OUT / (on * tcn));
        }
    /* 7. the LM head: the shape words read the gate's output */
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 2; k++)
            outw[(size_t)p->shape_tokens[s] * Hz + (size_t)(dOut + k)] = (float)(BR_GAM * simplex[s][k] * BR_RMS_FIN / BR_OUT);
    /* 8. the head token's indicator */
    hdb[p->dim_indicator] += 1.0f;

    {
        char names[32][40];
        const float *vals[32];
        size_t n = 0;
#define PUT(val, ...) (snprintf(names[n], sizeof names[n], __VA_ARGS__), vals[n++] = (val))
        PUT(emb, "token_embd.weight"), PUT(outw, "output.weight"), PUT(w0, "mm.0.weight"), PUT(b0, "mm.0.bias");
        PUT(w2, "mm.2.weight"), PUT(b2, "mm.2.bias"), PUT(hdb, "v.head.ffn_down.bias");
        for (int l = 0; l < hp->n_layer && l < 4; l++)
            PUT(wo[l], "blk.%d.attn_output.weight", l), PUT(wd[l], "blk.%d.ffn_down.weight", l);
        for (int l = 0; l < 2; l++)
            PUT(lq[l], "blk.%d.attn_q.weight", l), PUT(lk[l], "blk.%d.attn_k.weight", l), PUT(lv[l], "blk.%d.attn_v.weight", l);
        PUT(q2, "blk.2.attn_q.weight"), PUT(k2, "blk.2.attn_k.weight"), PUT(v2, "blk.2.attn_v.weight");
        PUT(g1, "blk.1.ffn_gate.weight"), PUT(u1, "blk.1.ffn_up.weight");
        PUT(g2, "blk.2.ffn_gate.weight"), PUT(u2, "blk.2.ffn_up.weight");
#undef PUT
        const char *np[32];
        for (size_t i = 0; i < n; i++) np[i] = names[i];
        st = vlm_model_rewrite_pair(m, out_path, np, vals, n, err, err_size);
    }
    if (!st && rep) {
        memset(rep, 0, sizeof *rep);
        rep->first_dim = (int32_t)F, rep->n_dims = BR_NEW, rep->conn_unit = (int32_t)uInd;
        rep->absent_min = rep->present_min = 1e300, rep->absent_max = rep->present_max = -1e300;
        for (int64_t j = 0; j < nc * nb; j++) {
            rep->absent_min = fmin(rep->absent_min, v0[j]), rep->absent_max = fmax(rep->absent_max, v0[j]);
            rep->present_min = fmin(rep->present_min, v1[j]), rep->present_max = fmax(rep->present_max, v1[j]);
        }
    }
done:
    free(x), free(emb), free(outw), free(w0), free(b0), free(w2), free(b2), free(hdb);
    for (int l = 0; l < 2; l++) free(lq[l]), free(lk[l]), free(lv[l]);
    for (int l = 0; wo && wd && l < hp->n_layer; l++) free(wo[l]), free(wd[l]);
    free(wo), free(wd), free(q2), free(k2), free(v2), free(g1), free(u1), free(g2), free(u2);
    return st;
}
