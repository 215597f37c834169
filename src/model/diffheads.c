/* diffheads.c - designed frame-difference heads in layer 0 of an untrained
 * LM (vlm_design_diff_heads; docs/demo-model.md, "Seeing change").
 *
 * Whether something happened between two frames is a property of the pair,
 * not of either frame: each frame token alone is uncorrelated with "an event
 * happened here", so an LM trained from scratch gets no first-order gradient
 * towards the attention pattern that compares a frame with the one before,
 * and does not find it (a toy with one changing cell in nine stays at chance
 * for 800 steps). These heads give it that comparison at initialisation; the
 * training then keeps, changes or drops them like any other weight.
 *
 * 1. The connector's last linear layer gets a constant output along LM
 *    hidden dimension 0: row 0 of mm.2 zeroed, bias[0] = beta, twice the 95th
 *    percentile of the norms of the connector's other outputs on sample frame
 *    tokens. Text tokens have no such constant, so after layer 0's RMSNorm a
 *    frame token with content norm c carries x_e = sqrt(H) / sqrt(1 + c^2 / beta^2)
 *    along dimension 0: within 11% of sqrt(H) for 95% of the tokens. The
 *    position scores below scale with the key's x_e, so keys must not differ
 *    by more than the score margin (about 19%).
 * 2. Four heads of layer 0 attend by position only. Query and key read only
 *    dimension 0; with RoPE pairs (2i, 2i+1) at angles t * theta_i, a query
 *    Q_i = (u, 0) and key K_i = u (cos(o theta_i), sin(o theta_i)) for the six
 *    fastest pairs give the score sum_i u^2 x_e^2 cos((p - s - o) theta_i):
 *    largest for the key o positions back, about 8 logits above the next best
 *    position (u is chosen for that from the median x_e).
 * 3. Values and outputs copy the normalised token through a random
 *    orthonormal projection P [Dh][H-1] (dimensions 1..H-1), with a sign:
 *      head 0: +P, o = K - 1       (from a frame's last token: that frame's first, the pooled token)
 *      head 1: -P, o = 2K          (... the previous frame's first token)
 *      head 2: +P', o = 0          (the token itself)
 *      head 3: -P', o = K + 1      (the same token one frame earlier)
 *    with K = frame_num_tokens and one interval token between frames, so the
 *    residual of a frame's last token gains P^T P (n(pooled_f) - n(pooled_f-1))
 *    and every frame token gains P'^T P' (n(x) - n(x one frame back)): zero when
 *    nothing changed. P and P' span orthogonal subspaces.
 * Every other weight is copied. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/model.h"

enum { DH_PAIRS = 8, DH_HEADS = 4, DH_SPAN = 1536, DH_TRIALS = 3000 };
#define DH_MARGIN 12.0    /* logits between the target position and the next best (at the median x_e) */
#define DH_BETA_SCALE 2.0 /* beta = this times the 95th percentile of the norms of the connector's other outputs */

/* Dimension 0 of a frame token after layer 0's RMSNorm (weight g0 there) when its
 * other dimensions have norm c: beta |g0| / rms(beta, the rest). */
static double x_e(double beta, double g0, double c, int64_t H) {
    return beta * fabs(g0) / sqrt((beta * beta + c * c) / (double)H);
}

static int cmp_f64(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Orthonormal rows: n vectors of length H with element 0 zero, from seeded
 * normals by modified Gram-Schmidt (in double). */
static bool orthonormal_rows(double *v, int64_t n, int64_t H, uint64_t seed) {
    vlm_init_normal_fill(seed, "diff_heads.proj", v, (size_t)(n * H));
    for (int64_t r = 0; r < n; r++) {
        double *a = v + r * H;
        a[0] = 0.0;
        for (int64_t q = 0; q < r; q++) {
            const double *b = v + q * H;
            double d = 0;
            for (int64_t k = 0; k < H; k++) d += a[k] * b[k];
            for (int64_t k = 0; k < H; k++) a[k] -= d * b[k];
        }
        double nn = 0;
        for (int64_t k = 0; k < H; k++) nn += a[k] * a[k];
        if (nn < 1e-12) return false;
        nn = 1.0 / sqrt(nn);
        for (int64_t k = 0; k < H; k++) a[k] *= nn;
    }
    return true;
}

/* Weights w[DH_PAIRS] (max 1) of the RoPE pairs for the position-only score
 * S_o(d) = sum_i w_i cos((d - o) theta_i) of a key d positions back: the best
 * of DH_TRIALS seeded draws (and equal weights) by the smallest relative
 * margin (S_o(o) - max_{d != o} S_o(d)) / S_o(o) over the four offsets and
 * d < DH_SPAN, which must exceed the spread of x_e between keys. Returns the
 * margin; *gap gets the absolute one, S_o(o) - the next best, at w. */
static double pair_weights(const double *theta, const int64_t *offsets, uint64_t seed, double *w, double *gap,
                           double *table /* [DH_HEADS][DH_SPAN][DH_PAIRS] */, double *draws /* [DH_TRIALS][DH_PAIRS] */) {
    for (int h = 0; h < DH_HEADS; h++)
        for (int d = 0; d < DH_SPAN; d++)
            for (int i = 0; i < DH_PAIRS; i++)
                table[((size_t)h * DH_SPAN + (size_t)d) * DH_PAIRS + (size_t)i] =
                    cos((double)(d - offsets[h]) * theta[i]);
    double best = -1.0, best_gap = 0;
    vlm_init_normal_fill(seed, "diff_heads.pairs", draws, DH_TRIALS * DH_PAIRS);
    for (int t = 0; t < DH_TRIALS; t++) {
        double c[DH_PAIRS], mx = 0;
        for (int i = 0; i < DH_PAIRS; i++) c[i] = t ? draws[t * DH_PAIRS + i] * draws[t * DH_PAIRS + i] : 1.0;
        for (int i = 0; i < DH_PAIRS; i++) mx = c[i] > mx ? c[i] : mx;
        if (!(mx > 0)) continue;
        for (int i = 0; i < DH_PAIRS; i++) c[i] /= mx;
        double worst = 1e300, worst_gap = 0;
        for (int h = 0; h < DH_HEADS; h++) {
            double top = 0, second = -1e300;
            for (int d = 0; d < DH_SPAN; d++) {
                const double *row = table + ((size_t)h * DH_SPAN + (size_t)d) * DH_PAIRS;
                double sc = 0;
                for (int i = 0; i < DH_PAIRS; i++) sc += c[i] * row[i];
                if (d == offsets[h]) top = sc;
                else if (sc > second) second = sc;
            }
            if ((top - second) / top < worst) worst = (top - second) / top, worst_gap = top - second;
        }
        if (worst > best) {
            best = worst, best_gap = worst_gap;
            memcpy(w, c, sizeof c);
        }
    }
    *gap = best_gap;
    return best;
}

vlm_status vlm_design_diff_heads_check(const vlm_model *m, char *err, size_t err_size) {
    if (!m) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: NULL model");
    const vlm_model_hparams *hp = &m->hp;
    const int64_t H = hp->n_embd, Dh = hp->n_head_dim;
    if (!m->v_file)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: the model has no vision file");
    if (hp->n_head < DH_HEADS || hp->n_head_kv != hp->n_head)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "diff_heads: needs at least %d heads, as many KV heads as query heads (has %d and %d)",
                           DH_HEADS, hp->n_head, hp->n_head_kv);
    if (Dh < 2 * DH_PAIRS || 2 * Dh > H - 1)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "diff_heads: head dim %lld must be >= %d and two heads must fit in n_embd - 1 = %lld",
                           (long long)Dh, 2 * DH_PAIRS, (long long)(H - 1));
    const vlm_llama_layer *l0 = &m->layers[0];
    const vlm_wt *need[] = {&l0->wq, &l0->wk, &l0->wv, &l0->wo, &m->mm2};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (need[i]->type != VLM_DT_F32)
            return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                               "diff_heads: layer 0 and the connector must be f32 (found %s); design an f32 model "
                               "and quantize afterwards", vlm_dtype_name(need[i]->type));
    return VLM_OK;
}

vlm_status vlm_design_diff_heads(const vlm_model *m, const float *tokens, size_t n_tokens, uint64_t seed,
                                 int32_t n_threads, const char *out_path, vlm_diff_heads_report *rep, char *err,
                                 size_t err_size) {
    if (!m || !tokens || !out_path)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: NULL argument");
    vlm_status st = vlm_design_diff_heads_check(m, err, err_size);
    if (st) return st;
    if (n_tokens < 2)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: %zu sample tokens (at least 2)", n_tokens);
    const vlm_model_hparams *hp = &m->hp;
    const int64_t H = hp->n_embd, Dh = hp->n_head_dim, Nq = hp->n_head * Dh, Nkv = hp->n_head_kv * Dh;
    const vlm_llama_layer *l0 = &m->layers[0];
    const int32_t K = hp->frame_num_tokens;
    const int64_t offsets[DH_HEADS] = {K - 1, 2 * (int64_t)K, 0, K + 1};
    const double signs[DH_HEADS] = {1, -1, 1, -1};
    const int subspace[DH_HEADS] = {0, 0, 1, 1};

    const size_t Hz = (size_t)H;
    float *q = malloc((size_t)(Nq * H) * sizeof(float)), *k = malloc((size_t)(Nkv * H) * sizeof(float));
    float *v = malloc((size_t)(Nkv * H) * sizeof(float)), *o = malloc((size_t)(H * Nq) * sizeof(float));
    float *w2 = malloc(Hz * Hz * sizeof(float)), *b2 = malloc(Hz * sizeof(float));
    float *out = malloc(Hz * 64 * sizeof(float));
    double *norms = malloc(n_tokens * sizeof(double));
    const size_t p_size = (size_t)(2 * Dh * H) > (size_t)DH_HEADS * DH_SPAN * DH_PAIRS ? (size_t)(2 * Dh * H)
                                                                                     : (size_t)DH_HEADS * DH_SPAN * DH_PAIRS;
    double *P = malloc(p_size * sizeof(double)); /* the pair-weight table, then the projections */
    double *draws = malloc((size_t)DH_TRIALS * DH_PAIRS * sizeof(double));
    vlm_vision_context *vc = NULL;
    if (!q || !k || !v || !o || !w2 || !b2 || !out || !norms || !P || !draws) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    memcpy(q, l0->wq.data, (size_t)(Nq * H) * sizeof(float));
    memcpy(k, l0->wk.data, (size_t)(Nkv * H) * sizeof(float));
    memcpy(v, l0->wv.data, (size_t)(Nkv * H) * sizeof(float));
    memcpy(o, l0->wo.data, (size_t)(H * Nq) * sizeof(float));
    memcpy(w2, m->mm2.data, Hz * Hz * sizeof(float));
    memcpy(b2, m->mm2_b, Hz * sizeof(float));

    /* 1. the connector's outputs on the sample tokens: the norm without dimension 0 */
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    vp.n_threads = n_threads;
    if ((st = vlm_vision_context_init(m, &vp, &vc, err, err_size))) goto done;
    for (size_t r0 = 0; r0 < n_tokens; r0 += 64) {
        size_t nr = n_tokens - r0 < 64 ? n_tokens - r0 : 64;
        if ((st = vlm_connector(vc, tokens + r0 * (size_t)hp->v_n_embd, nr, out))) {
            st = vlm_set_err(err, err_size, st, "diff_heads: %s", vlm_vision_last_error(vc));
            goto done;
        }
        for (size_t r = 0; r < nr; r++) {
            double s = 0;
            for (int64_t d = 1; d < H; d++) s += (double)out[r * Hz + (size_t)d] * out[r * Hz + (size_t)d];
            if (!isfinite(s)) {
                st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: sample token %zu is not finite",
                                 r0 + r);
                goto done;
            }
            norms[r0 + r] = sqrt(s);
        }
    }
    /* norms ascending: beta from their 95th percentile; x_e falls as the norm grows, so its
     * median and minimum are those of the median and largest norms */
    qsort(norms, n_tokens, sizeof(double), cmp_f64);
    const double beta = DH_BETA_SCALE * norms[(n_tokens * 95) / 100];
    if (!(beta > 0)) {
        st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: the connector's outputs are all zero");
        goto done;
    }
    const double g0 = l0->attn_norm[0];
    const double xe = x_e(beta, g0, norms[n_tokens - 1 - n_tokens / 2], H), xe_min = x_e(beta, g0, norms[n_tokens - 1], H);
    if (!(xe > 0)) {
        st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: layer 0's norm weight is 0 at dimension 0");
        goto done;
    }
    for (int64_t c = 0; c < H; c++) w2[c] = 0.0f; /* row 0 */
    b2[0] = (float)(g0 < 0 ? -beta : beta);

    /* 2. query / key on dimension 0, scaled for DH_MARGIN logits over the neighbours */
    double theta[DH_PAIRS], w[DH_PAIRS], gap;
    for (int i = 0; i < DH_PAIRS; i++) theta[i] = pow(hp->rope_theta, -2.0 * i / (double)Dh);
    const double rel = pair_weights(theta, offsets, seed, w, &gap, P, draws);
    const double u = sqrt(DH_MARGIN * sqrt((double)Dh) / gap) / xe;
    if (!orthonormal_rows(P, 2 * Dh, H, seed)) {
        st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: degenerate projection");
        goto done;
    }
    for (int h = 0; h < DH_HEADS; h++) {
        float *qh = q + (size_t)(h * Dh) * Hz, *kh = k + (size_t)(h * Dh) * Hz, *vh = v + (size_t)(h * Dh) * Hz;
        memset(qh, 0, (size_t)(Dh * H) * sizeof(float));
        memset(kh, 0, (size_t)(Dh * H) * sizeof(float));
        for (int i = 0; i < DH_PAIRS; i++) { /* GGUF rows 2i, 2i+1: the i-th RoPE pair */
            const double a = (double)offsets[h] * theta[i], ui = u * sqrt(w[i]);
            qh[(size_t)(2 * i) * Hz] = (float)ui;
            kh[(size_t)(2 * i) * Hz] = (float)(ui * cos(a));
            kh[(size_t)(2 * i + 1) * Hz] = (float)(ui * sin(a));
        }
        /* 3. values: P rows; output columns: sign * P^T (into dimensions 1..H-1) */
        const double *Ph = P + (size_t)(subspace[h] * Dh) * Hz;
        for (int64_t d = 0; d < Dh; d++)
            for (int64_t c = 0; c < H; c++) {
                vh[(size_t)d * Hz + (size_t)c] = (float)Ph[(size_t)d * Hz + (size_t)c];
                o[(size_t)c * (size_t)Nq + (size_t)(h * Dh + d)] = (float)(signs[h] * Ph[(size_t)d * Hz + (size_t)c]);
            }
    }
    static const char *const names[6] = {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
                                         "blk.0.attn_output.weight", "mm.2.weight", "mm.2.bias"};
    const float *const vals[6] = {q, k, v, o, w2, b2};
    if ((st = vlm_model_rewrite_pair(m, out_path, names, vals, 6, err, err_size))) goto done;
    if (rep) {
        rep->beta = beta, rep->xe_median = xe, rep->xe_min = xe_min;
        rep->n_heads = DH_HEADS, rep->n_tokens = n_tokens, rep->margin = rel;
        for (int h = 0; h < DH_HEADS; h++) rep->offsets[h] = (int32_t)offsets[h];
    }
done:
    vlm_vision_context_free(vc);
    free(q), free(k), free(v), free(o), free(w2), free(b2), free(out), free(norms), free(P), free(draws);
    return st;
}
