/* diffheads.c - designed frame-difference heads in layer 0 of an untrained
 * LM (vlm_design_diff_heads; docs/demo-model-experiments.md, "Seeing change").
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
 * With the reply head (vlm_diff_heads_params.reply_head), head 0 of layer 1
 * copies the change from a frame's last token to the reply's first token
 * (docs/model-format.md, "The reply head"), and optionally head 1 to a word
 * further in. With prev_change_head, head 2 of layer 1 attends from each
 * frame token to the same token one frame back (K + 1 positions, by the same
 * position construction, query and key on dimension 0) and copies its
 * frame-difference subspace P into a fourth subspace Q (the dimensions left,
 * at most head_dim): a frame's last token then holds its own change (in P)
 * and the previous frame's (in Q). A motion that starts is a change after
 * none; one that goes on, a change after a change.
 * With the move readout (readout_n_colours), four connector units compute the
 * sums X, Y of the vision tokens' column and row moments (gelu(z) - gelu(-z)
 * = z), written along two reserved LM dimensions; heads 0-1 read them G times
 * and write their change along two more, which are the first rows of P: the
 * sign of that change is a move's direction (docs/model-format.md, "The move
 * readout"). With readout_colour_gain, two more units per colour compute that
 * colour's own Z_k = X_k + Y_k, and heads 0-1 write its change along one more
 * dimension per colour (the next rows of P): a move is along one axis, so the
 * colour whose Z_k changed is the colour of what moved.
 * Every other weight is copied. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/model.h"

enum { DH_PAIRS = 8, DH_HEADS = 4, DH_SPAN = 1536, DH_TRIALS = 3000, DH_REPLY_PAIRS = 8 };
#define DH_MARGIN 12.0    /* logits between the target position and the next best (at the median x_e) */
#define DH_BETA_SCALE 2.0 /* beta = this times the 95th percentile of the norms of the connector's other outputs */
#define DH_BETA_SCALE_REPLY 4.0 /* ... with the reply head, whose keys (after layer 0) must vary less */

/* Dimension 0 of a frame token after layer 0's RMSNorm (weight g0 there) when its
 * other dimensions have norm c: beta |g0| / rms(beta, the rest). */
static double x_e(double beta, double g0, double c, int64_t H) {
    return beta * fabs(g0) / sqrt((beta * beta + c * c) / (double)H);
}

static int cmp_f64(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Orthonormal rows: n vectors of length H with elements 0..zeros-1 zero, from
 * seeded normals by modified Gram-Schmidt (in double). */
static bool orthonormal_rows(double *v, int64_t n, int64_t H, int zeros, uint64_t seed) {
    vlm_init_normal_fill(seed, "diff_heads.proj", v, (size_t)(n * H));
    for (int64_t r = 0; r < n; r++) {
        double *a = v + r * H;
        for (int z = 0; z < zeros; z++) a[z] = 0.0;
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
static double pair_weights(const double *theta, int np, const int64_t *offsets, int n_off, uint64_t seed, double *w,
                           double *gap, double *table /* [n_off][DH_SPAN][np] */,
                           double *draws /* [DH_TRIALS][np] */) {
    for (int h = 0; h < n_off; h++)
        for (int d = 0; d < DH_SPAN; d++)
            for (int i = 0; i < np; i++)
                table[((size_t)h * DH_SPAN + (size_t)d) * np + (size_t)i] =
                    cos((double)(d - offsets[h]) * theta[i]);
    double best = -1.0, best_gap = 0;
    vlm_init_normal_fill(seed, "diff_heads.pairs", draws, DH_TRIALS * np);
    for (int t = 0; t < DH_TRIALS; t++) {
        double c[DH_REPLY_PAIRS], mx = 0;
        for (int i = 0; i < np; i++) c[i] = t ? draws[t * np + i] * draws[t * np + i] : 1.0;
        for (int i = 0; i < np; i++) mx = c[i] > mx ? c[i] : mx;
        if (!(mx > 0)) continue;
        for (int i = 0; i < np; i++) c[i] /= mx;
        double worst = 1e300, worst_gap = 0;
        for (int h = 0; h < n_off; h++) {
            double top = 0, second = -1e300;
            for (int d = 0; d < DH_SPAN; d++) {
                const double *row = table + ((size_t)h * DH_SPAN + (size_t)d) * np;
                double sc = 0;
                for (int i = 0; i < np; i++) sc += c[i] * row[i];
                if (d == offsets[h]) top = sc;
                else if (sc > second) second = sc;
            }
            if ((top - second) / top < worst) worst = (top - second) / top, worst_gap = top - second;
        }
        if (worst > best) {
            best = worst, best_gap = worst_gap;
            memcpy(w, c, (size_t)np * sizeof *c);
        }
    }
    *gap = best_gap;
    return best;
}

/* One head [Dh][H] of query and key weights that attends by position alone:
 * in RoPE pair i (GGUF rows 2i, 2i+1) the query reads dimension qdim as
 * (u w_i^1/2, 0) and the key dimension 0 as u w_i^1/2 (cos o theta_i,
 * sin o theta_i), so the score peaks o positions back. */
static void position_head(float *qh, float *kh, int64_t Dh, int64_t H, int64_t qdim, int64_t o, const double *theta,
                          const double *w, int np, double u) {
    memset(qh, 0, (size_t)(Dh * H) * sizeof(float));
    memset(kh, 0, (size_t)(Dh * H) * sizeof(float));
    for (int i = 0; i < np; i++) {
        const double a = (double)o * theta[i], ui = u * sqrt(w[i]);
        qh[(size_t)(2 * i * H + qdim)] = (float)ui;
        kh[(size_t)(2 * i * H)] = (float)(ui * cos(a));
        kh[(size_t)((2 * i + 1) * H)] = (float)(ui * sin(a));
    }
}

/* A head of layer 1 keyed on given tokens (the word and subject heads): column dim of the token
 * embedding emb [V][H] is gamma (signed as the norm weight g there) for those tokens and 0 for
 * every other, and the head's query [Dh][H] reads it, its key [Dh][H] dimension 0 (frame tokens),
 * with the RoPE construction for offset o (pair weights w, absolute margin gap), scaled for
 * DH_MARGIN logits at the median token (rest of the embedding e_med, gamma along the text
 * constant) and the frame key's x_e, xk. */
static void token_head(float *emb, int64_t V, int64_t H, int64_t Dh, const int32_t *ids, size_t n, int64_t dim,
                       double g, double gamma, double e_med, double xk, int64_t o, const double *theta,
                       const double *w, double gap, float *q, float *k) {
    for (int64_t t = 0; t < V; t++) emb[t * H + dim] = 0.0f;
    for (size_t i = 0; i < n; i++) emb[(int64_t)ids[i] * H + dim] = (float)(g < 0 ? -gamma : gamma);
    const double x = x_e(gamma, g, sqrt(e_med * e_med + gamma * gamma), H);
    const double u = sqrt(DH_MARGIN * sqrt((double)Dh) / (gap * x * xk));
    position_head(q, k, Dh, H, dim, o, theta, w, DH_REPLY_PAIRS, u);
}

/* The first of n token ids outside the vocabulary [0, n_vocab), or -1. */
static long outside_vocab(const int32_t *ids, size_t n, int32_t n_vocab) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab) return (long)i;
    return -1;
}

/* Dimensions of the previous-change head's subspace Q: what n_embd leaves beside the reserved
 * dimensions (the constants 0-1, 2 with the word head, and the move readout's four) and the three
 * subspaces P, P', P'', at most head_dim. */
static int64_t prev_rank(int64_t H, int64_t Dh, int reserved) {
    const int64_t left = H - reserved - 3 * Dh;
    return left < Dh ? left : Dh;
}

/* Hidden dimensions that hold the constants: 0 (frame tokens), 1 with the reply head (text
 * tokens), 2 with the word head (word tokens). */
static int constant_dims(const vlm_diff_heads_params *p) {
    return p->reply_head && p->n_word_tokens > 0 ? 3 : p->reply_head ? 2 : 1;
}

/* The move readout's per-colour dimensions: n_colours each for Z_k and for its change. */
static int colour_dims(const vlm_diff_heads_params *p) {
    return p->reply_head && p->readout_n_colours > 0 && p->readout_colour_gain > 0 ? p->readout_n_colours : 0;
}

/* Vision dimensions of colour 0's column and row moment for Z_k: the colours' own, or the readout's. */
static void colour_moment_dims(const vlm_diff_heads_params *p, int32_t *cx, int32_t *cy) {
    *cx = p->readout_colour_dim_x >= 0 ? p->readout_colour_dim_x : p->readout_dim_x;
    *cy = p->readout_colour_dim_y >= 0 ? p->readout_colour_dim_y : p->readout_dim_y;
}

/* With the colours' change: the subject head (head 3 of layer 1) and its constant. */
static bool subject_head(const vlm_diff_heads_params *p) {
    return colour_dims(p) > 0 && p->n_subject_tokens > 0;
}

/* Hidden dimensions that no random projection uses: the constants, then the move readout's
 * X, Y, (Z_k,) dX, dY (, dZ_k), then the subject tokens' constant (last, so that every other
 * dimension stays where it is without it). */
static int reserved_dims(const vlm_diff_heads_params *p) {
    return constant_dims(p) + (p->reply_head && p->readout_n_colours > 0 ? 4 + 2 * colour_dims(p) : 0) +
           (subject_head(p) ? 1 : 0);
}

int32_t vlm_diff_heads_reserved_dims(const vlm_diff_heads_params *p) { return p ? reserved_dims(p) : 0; }

int32_t vlm_diff_heads_connector_units(const vlm_diff_heads_params *p) {
    return p && p->reply_head && p->readout_n_colours > 0 ? 4 + 2 * colour_dims(p) : 0;
}

/* The first of n weights that is not f32, or NULL. */
static const vlm_wt *first_not_f32(const vlm_wt *const *w, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (w[i]->type != VLM_DT_F32) return w[i];
    return NULL;
}

vlm_diff_heads_params vlm_diff_heads_default_params(void) {
    return (vlm_diff_heads_params){.seed = 1, .n_threads = 2, .reply_head = false, .word_pos = 2,
                                   .readout_colour_reply = 1.0, .subject_colour = 1.0, .readout_colour_dim_x = -1,
                                   .readout_colour_dim_y = -1};
}

/* Tokens of the template text between a frame's last token and a reply's first
 * ("]\nAssistant:"), plus one: the reply head's offset. -1 without a tokenizer. */
static int64_t reply_offset(const vlm_model *m) {
    const vlm_tokenizer *tok = vlm_model_tokenizer(m);
    if (!tok) return -1;
    vlm_tokens t = {0};
    static const char gap[] = "]\nAssistant:";
    if (vlm_tokenizer_encode(tok, gap, sizeof gap - 1, &t)) return -1;
    int64_t n = (int64_t)t.n + 1;
    vlm_tokens_free(&t);
    return n;
}

vlm_status vlm_design_diff_heads_check(const vlm_model *m, const vlm_diff_heads_params *p, char *err,
                                       size_t err_size) {
    if (!m || !p) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: NULL argument");
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
    const vlm_wt *const need[] = {&l0->wq, &l0->wk, &l0->wv, &l0->wo, &m->mm2};
    const vlm_wt *bad = first_not_f32(need, sizeof need / sizeof need[0]);
    if (bad)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "diff_heads: layer 0 and the connector must be f32 (found %s); design an f32 model "
                           "and quantize afterwards", vlm_dtype_name(bad->type));
    if (p->prev_change_head && !p->reply_head)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "diff_heads: the previous-change head goes with the reply head");
    if (p->readout_n_colours && !p->reply_head)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: the move readout goes with the reply head");
    if (p->readout_word_only && !p->readout_n_colours)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "diff_heads: the readout at the word tokens only goes with the move readout");
    if (!(p->readout_colour_gain >= 0 && p->readout_colour_gain <= 1e4))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "diff_heads: the colours' moments' gain %g is not in [0, 10000]", p->readout_colour_gain);
    if (!(p->readout_colour_reply > 0 && p->readout_colour_reply <= 100))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "diff_heads: the reply head's factor on the colours' change %g is not in (0, 100]",
                           p->readout_colour_reply);
    if (p->readout_colour_reply != 1.0 && !(p->readout_colour_gain > 0))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "diff_heads: the reply head's factor on the colours' change goes with the colours' moments");
    if (p->n_subject_tokens && !subject_head(p))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "diff_heads: the subject head goes with the colours' moments");
    if (!(p->subject_colour > 0 && p->subject_colour <= 100) || (p->subject_colour != 1.0 && !p->n_subject_tokens))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "diff_heads: the subject head's factor %g must be in (0, 100] and goes with subject tokens",
                           p->subject_colour);
    if (p->readout_colour_gain > 0 && !p->readout_n_colours)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "diff_heads: the colours' own moments go with the move readout");
    if (!(p->readout_reply >= 0 && p->readout_reply <= 1) || (p->readout_reply > 0 && !p->readout_word_only))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "diff_heads: the reply head's share of the readout (%g) must be in [0, 1] and goes "
                           "with the readout at the word tokens only", p->readout_reply);
    if (!p->reply_head) return VLM_OK;
    if (p->readout_n_colours) {
        const int64_t Dv = hp->v_n_embd, n = p->readout_n_colours;
        if (n < 0 || p->readout_dim_x < 0 || p->readout_dim_y < 0 || p->readout_dim_x + n > Dv ||
            p->readout_dim_y + n > Dv)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                               "diff_heads: the move readout's moments (%d colours at vision dimensions %d and %d) "
                               "must lie within the vision width %lld", p->readout_n_colours, p->readout_dim_x,
                               p->readout_dim_y, (long long)Dv);
        int32_t cx, cy;
        colour_moment_dims(p, &cx, &cy);
        if (colour_dims(p) && (cx + n > Dv || cy + n > Dv))
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                               "diff_heads: the colours' moments (at vision dimensions %d and %d) must lie within the "
                               "vision width %lld", cx, cy, (long long)Dv);
        if (!(p->readout_gain > 0 && p->readout_gain <= 1e4))
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                               "diff_heads: the move readout's gain %g is not in (0, 10000]", p->readout_gain);
        if (m->mm0.type != VLM_DT_F32)
            return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "diff_heads: the move readout needs an f32 "
                               "connector (mm.0 is %s)", vlm_dtype_name(m->mm0.type));
        if (p->readout_word_only && !p->n_word_tokens)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                               "diff_heads: the readout at the word tokens only needs word tokens");
        if (3 * Dh + reserved_dims(p) > H || 2 + colour_dims(p) > Dh)
            return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "diff_heads: the move readout needs %d more "
                               "dimensions beside three head dims (n_embd %lld), and %d rows of a head (head dim "
                               "%lld)", 4 + 2 * colour_dims(p), (long long)H, 2 + colour_dims(p), (long long)Dh);
    }
    if (hp->n_layer < 2)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "diff_heads: the reply head needs 2 layers (has %d)",
                           hp->n_layer);
    if (3 * Dh > H - 2)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "diff_heads: the reply head needs three head dims (%lld) within n_embd - 2 = %lld",
                           (long long)(3 * Dh), (long long)(H - 2));
    const vlm_llama_layer *l1 = &m->layers[1];
    const vlm_wt *const need1[] = {&l1->wq, &l1->wk, &l1->wv, &l1->wo, &m->tok_embd};
    if ((bad = first_not_f32(need1, sizeof need1 / sizeof need1[0])))
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "diff_heads: layer 1 and the token embedding must be f32 for the reply head "
                           "(found %s)", vlm_dtype_name(bad->type));
    const int64_t o = reply_offset(m);
    if (o < 2 || o >= DH_SPAN)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "diff_heads: the reply head needs the model's tokenizer (to count \"]\\nAssistant:\")");
    if (p->prev_change_head) {
        const int64_t left = prev_rank(H, Dh, reserved_dims(p));
        if (2 * left < Dh)
            return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                               "diff_heads: the previous-change head needs head_dim / 2 = %lld dimensions beside the "
                               "other three subspaces (%lld left of n_embd %lld)", (long long)(Dh / 2),
                               (long long)(left > 0 ? left : 0), (long long)H);
    }
    if (p->n_subject_tokens) {
        if (!p->subject_tokens)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: the subject head needs its tokens");
        const long i = outside_vocab(p->subject_tokens, p->n_subject_tokens, hp->n_vocab);
        if (i >= 0)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: subject token %d is outside the "
                               "vocabulary (%d)", p->subject_tokens[i], hp->n_vocab);
    }
    if (!p->n_word_tokens) return VLM_OK;
    if (!p->word_tokens || 3 * Dh > H - 3 || p->word_pos < 1 || o + p->word_pos >= DH_SPAN)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "diff_heads: the word head needs its tokens, 3 head dims (%lld) within n_embd - 3 = %lld "
                           "and a position 1..%lld into the reply (%d)", (long long)(3 * Dh), (long long)(H - 3),
                           (long long)(DH_SPAN - 1 - o), p->word_pos);
    const long i = outside_vocab(p->word_tokens, p->n_word_tokens, hp->n_vocab);
    if (i >= 0)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: word token %d is outside the "
                           "vocabulary (%d)", p->word_tokens[i], hp->n_vocab);
    return VLM_OK;
}

/* Median of the norms (sorted in place). */
static double median(double *x, size_t n) {
    qsort(x, n, sizeof *x, cmp_f64);
    return x[n / 2];
}

vlm_status vlm_design_diff_heads(const vlm_model *m, const float *tokens, size_t n_tokens,
                                 const vlm_diff_heads_params *p, const char *out_path, vlm_diff_heads_report *rep,
                                 char *err, size_t err_size) {
    if (!m || !tokens || !out_path || !p)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: NULL argument");
    vlm_status st = vlm_design_diff_heads_check(m, p, err, err_size);
    if (st) return st;
    if (n_tokens < 2)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: %zu sample tokens (at least 2)", n_tokens);
    const uint64_t seed = p->seed;
    const bool reply = p->reply_head, word = reply && p->n_word_tokens > 0;
    const vlm_model_hparams *hp = &m->hp;
    const int64_t H = hp->n_embd, Dh = hp->n_head_dim, Nq = hp->n_head * Dh, Nkv = hp->n_head_kv * Dh;
    const int64_t V = hp->n_vocab;
    const vlm_llama_layer *l0 = &m->layers[0], *l1 = reply ? &m->layers[1] : NULL;
    const int32_t K = hp->frame_num_tokens;
    const int64_t offsets[DH_HEADS] = {K - 1, 2 * (int64_t)K, 0, K + 1};
    const double signs[DH_HEADS] = {1, -1, 1, -1};
    const int subspace[DH_HEADS] = {0, 0, 1, 1};
    const int n_sub = reply ? 3 : 2, zeros = constant_dims(p);
    const bool prev = reply && p->prev_change_head, readout = reply && p->readout_n_colours > 0;
    const int reserved = reserved_dims(p);
    /* the move readout's dimensions: X, Y (written by the connector), with readout_colour_gain Z_k
     * (nz of them), then dX, dY (their change) and dZ_k */
    const int nz = colour_dims(p), n_units = 4 + 2 * nz; /* connector units H - n_units .. H - 1 */
    const int64_t dX = zeros, dY = zeros + 1, dZ = zeros + 2, dDX = zeros + 2 + nz, dDY = zeros + 3 + nz;
    const int64_t dDZ = zeros + 4 + nz;
    const bool subject = subject_head(p);
    const int64_t dS = subject ? reserved - 1 : 0; /* the subject tokens' constant */
    /* where the vision tokens hold the colours' moments for Z_k */
    int32_t cdx, cdy;
    colour_moment_dims(p, &cdx, &cdy);
    /* rows of the projections: n_sub subspaces of Dh, and the previous-change head's Q */
    const int64_t r_prev = prev ? prev_rank(H, Dh, reserved) : 0;
    const int64_t n_rows = n_sub * Dh + r_prev;

    const size_t Hz = (size_t)H;
    float *q = malloc((size_t)(Nq * H) * sizeof(float)), *k = malloc((size_t)(Nkv * H) * sizeof(float));
    float *v = malloc((size_t)(Nkv * H) * sizeof(float)), *o = malloc((size_t)(H * Nq) * sizeof(float));
    float *w2 = malloc(Hz * Hz * sizeof(float)), *b2 = malloc(Hz * sizeof(float));
    float *out = malloc(Hz * 64 * sizeof(float)), *tout = reply ? malloc(n_tokens * Hz * sizeof(float)) : NULL;
    double *norms = malloc((n_tokens > (size_t)V ? n_tokens : (size_t)V) * sizeof(double));
    const size_t p_size = (size_t)(n_rows * H) > (size_t)DH_HEADS * DH_SPAN * DH_PAIRS
                              ? (size_t)(n_rows * H)
                              : (size_t)DH_HEADS * DH_SPAN * DH_PAIRS;
    double *P = malloc(p_size * sizeof(double)); /* the pair-weight table, then the projections */
    double *draws = malloc((size_t)DH_TRIALS * DH_REPLY_PAIRS * sizeof(double));
    float *q1 = NULL, *k1 = NULL, *v1 = NULL, *o1 = NULL, *emb = NULL, *w0 = NULL, *b0 = NULL;
    const int64_t Dv = hp->v_n_embd, nfr = (int64_t)n_tokens / K;
    double *mx = NULL, *my = NULL, *med = NULL; /* the pooled tokens' moment sums X, Y [nfr]; 2 x [nfr] */
    if (readout) {
        w0 = malloc((size_t)(H * Dv) * sizeof(float)), b0 = malloc(Hz * sizeof(float));
        mx = malloc((size_t)(nfr + 1) * sizeof(double)), my = malloc((size_t)(nfr + 1) * sizeof(double));
        med = malloc((size_t)(2 * nfr + 1) * sizeof(double));
    }
    if (reply) {
        q1 = malloc((size_t)(Nq * H) * sizeof(float)), k1 = malloc((size_t)(Nkv * H) * sizeof(float));
        v1 = malloc((size_t)(Nkv * H) * sizeof(float)), o1 = malloc((size_t)(H * Nq) * sizeof(float));
        emb = malloc((size_t)(V * H) * sizeof(float));
    }
    vlm_vision_context *vc = NULL;
    if (!q || !k || !v || !o || !w2 || !b2 || !out || !norms || !P || !draws ||
        (reply && (!tout || !q1 || !k1 || !v1 || !o1 || !emb)) || (readout && (!w0 || !b0 || !mx || !my || !med))) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    memcpy(q, l0->wq.data, (size_t)(Nq * H) * sizeof(float));
    memcpy(k, l0->wk.data, (size_t)(Nkv * H) * sizeof(float));
    memcpy(v, l0->wv.data, (size_t)(Nkv * H) * sizeof(float));
    memcpy(o, l0->wo.data, (size_t)(H * Nq) * sizeof(float));
    memcpy(w2, m->mm2.data, Hz * Hz * sizeof(float));
    memcpy(b2, m->mm2_b, Hz * sizeof(float));
    if (reply) {
        memcpy(q1, l1->wq.data, (size_t)(Nq * H) * sizeof(float));
        memcpy(k1, l1->wk.data, (size_t)(Nkv * H) * sizeof(float));
        memcpy(v1, l1->wv.data, (size_t)(Nkv * H) * sizeof(float));
        memcpy(o1, l1->wo.data, (size_t)(H * Nq) * sizeof(float));
        memcpy(emb, m->tok_embd.data, (size_t)(V * H) * sizeof(float));
    }

    /* 1. the connector's outputs on the sample tokens: the norm without dimension 0
     *    (and 1, which the reply head reserves) */
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    vp.n_threads = p->n_threads;
    if ((st = vlm_vision_context_init(m, &vp, &vc, err, err_size))) goto done;
    for (size_t r0 = 0; r0 < n_tokens; r0 += 64) {
        size_t nr = n_tokens - r0 < 64 ? n_tokens - r0 : 64;
        if ((st = vlm_connector(vc, tokens + r0 * (size_t)hp->v_n_embd, nr, out))) {
            st = vlm_set_err(err, err_size, st, "diff_heads: %s", vlm_vision_last_error(vc));
            goto done;
        }
        for (size_t r = 0; r < nr; r++) {
            double s = 0;
            for (int64_t d = zeros; d < H; d++) s += (double)out[r * Hz + (size_t)d] * out[r * Hz + (size_t)d];
            if (!isfinite(s)) {
                st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: sample token %zu is not finite",
                                 r0 + r);
                goto done;
            }
            norms[r0 + r] = sqrt(s);
            if (reply) memcpy(tout + (r0 + r) * Hz, out + r * Hz, Hz * sizeof(float));
        }
    }
    /* norms ascending: beta from their 95th percentile; x_e falls as the norm grows, so its
     * median and minimum are those of the median and largest norms */
    qsort(norms, n_tokens, sizeof(double), cmp_f64);
    const double beta = (reply ? DH_BETA_SCALE_REPLY : DH_BETA_SCALE) * norms[(n_tokens * 95) / 100];
    if (!(beta > 0)) {
        st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: the connector's outputs are all zero");
        goto done;
    }
    const double c_med = norms[n_tokens - 1 - n_tokens / 2];
    const double g0 = l0->attn_norm[0];
    const double xe = x_e(beta, g0, c_med, H), xe_min = x_e(beta, g0, norms[n_tokens - 1], H);
    if (!(xe > 0)) {
        st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: layer 0's norm weight is 0 at dimension 0");
        goto done;
    }
    for (int64_t c = 0; c < H; c++) w2[c] = 0.0f; /* row 0 */
    b2[0] = (float)(g0 < 0 ? -beta : beta);
    if (reply) { /* row 1: frame tokens are 0 along the text tokens' constant */
        for (int64_t c = 0; c < H; c++) w2[Hz + (size_t)c] = 0.0f;
        b2[1] = 0.0f;
    }
    if (word) { /* row 2: frame tokens are 0 along the word tokens' constant */
        for (int64_t c = 0; c < H; c++) w2[2 * Hz + (size_t)c] = 0.0f;
        b2[2] = 0.0f;
    }

    /* 2. query / key on dimension 0, scaled for DH_MARGIN logits over the neighbours */
    double theta[DH_REPLY_PAIRS], w[DH_PAIRS], gap;
    for (int i = 0; i < DH_REPLY_PAIRS; i++) theta[i] = pow(hp->rope_theta, -2.0 * i / (double)Dh);
    const double rel = pair_weights(theta, DH_PAIRS, offsets, DH_HEADS, seed, w, &gap, P, draws);
    const double u = sqrt(DH_MARGIN * sqrt((double)Dh) / gap) / xe;
    double wr[DH_REPLY_PAIRS], gap_r = 0, rel_r = 0;
    const int64_t off_r = reply ? reply_offset(m) : 0;
    if (reply) rel_r = pair_weights(theta, DH_REPLY_PAIRS, &off_r, 1, seed, wr, &gap_r, P, draws);
    double ww[DH_REPLY_PAIRS], gap_w = 0, rel_w = 0;
    const int64_t off_w = word ? off_r + p->word_pos : 0;
    if (word) rel_w = pair_weights(theta, DH_REPLY_PAIRS, &off_w, 1, seed, ww, &gap_w, P, draws);
    if (!orthonormal_rows(P, n_rows, H, reserved, seed)) {
        st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: degenerate projection");
        goto done;
    }
    double rs = 0, rz = 0, move_med = 0, change_med = 0; /* the move readout's scales s, s_Z and its report */
    if (readout) {
        /* 2b. the connector writes s X and s Y along dX and dY: hidden units H-4..H-1 compute
         *     gelu(+-X), gelu(+-Y) (bias 0), and gelu(z) - gelu(-z) = z; nothing else reads those
         *     units or writes those dimensions. s gives X and Y the size of a typical dimension of
         *     the connector's output (c_med / sqrt(H - zeros)) over the sample pooled tokens. */
        if (nfr < 2) {
            st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: the move readout needs the sample "
                             "tokens of at least 2 frames (%zu tokens, %d per frame)", n_tokens, K);
            goto done;
        }
        double sx = 0, sxx = 0, sy = 0, syy = 0;
        for (int64_t f = 0; f < nfr; f++) {
            const float *t = tokens + (size_t)(f * K * Dv); /* the frame's first token: the pooled one */
            double x = 0, y = 0;
            for (int32_t c = 0; c < p->readout_n_colours; c++) x += t[p->readout_dim_x + c], y += t[p->readout_dim_y + c];
            mx[f] = x, my[f] = y, sx += x, sxx += x * x, sy += y, syy += y * y;
        }
        const double var = (sxx - sx * sx / (double)nfr + syy - sy * sy / (double)nfr) / (2.0 * (double)nfr);
        if (!(var > 1e-12) || !isfinite(var)) {
            st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: the move readout's moments do not vary "
                             "over the sample frames");
            goto done;
        }
        rs = c_med / sqrt((double)(H - zeros)) / sqrt(var);
        if (nz) { /* s_Z from the variance of Z_k over the frames, averaged over the colours */
            double vz = 0;
            for (int c = 0; c < nz; c++) {
                double sz = 0, szz = 0;
                for (int64_t f = 0; f < nfr; f++) {
                    const float *t = tokens + (size_t)(f * K * Dv);
                    const double z = (double)t[cdx + c] + t[cdy + c];
                    sz += z, szz += z * z;
                }
                vz += (szz - sz * sz / (double)nfr) / (double)nfr / nz;
            }
            if (!(vz > 1e-12) || !isfinite(vz)) {
                st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: the colours' moments do not vary "
                                 "over the sample frames");
                goto done;
            }
            rz = c_med / sqrt((double)(H - zeros)) / sqrt(vz);
        }
        memcpy(w0, m->mm0.data, (size_t)(H * Dv) * sizeof(float));
        memcpy(b0, m->mm0_b, Hz * sizeof(float));
        for (int j = 0; j < 4; j++) {
            float *row = w0 + (size_t)(H - 4 + j) * (size_t)Dv;
            memset(row, 0, (size_t)Dv * sizeof(float));
            const int32_t at = j < 2 ? p->readout_dim_x : p->readout_dim_y;
            for (int32_t c = 0; c < p->readout_n_colours; c++) row[at + c] = j % 2 ? -1.0f : 1.0f;
            b0[H - 4 + j] = 0.0f;
        }
        for (int c = 0; c < nz; c++) /* units H - n_units + 2c, + 1: gelu(+-Z_c) */
            for (int j = 0; j < 2; j++) {
                float *row = w0 + (size_t)(H - n_units + 2 * c + j) * (size_t)Dv;
                memset(row, 0, (size_t)Dv * sizeof(float));
                row[cdx + c] = row[cdy + c] = j ? -1.0f : 1.0f;
                b0[H - n_units + 2 * c + j] = 0.0f;
            }
        for (int64_t r = 0; r < H; r++)
            for (int j = 0; j < n_units; j++) w2[(size_t)r * Hz + (size_t)(H - n_units + j)] = 0.0f;
        for (int64_t r = dX; r < reserved; r++) {
            for (int64_t c = 0; c < H; c++) w2[(size_t)r * Hz + (size_t)c] = 0.0f;
            b2[r] = 0.0f;
        }
        w2[(size_t)dX * Hz + (size_t)(H - 4)] = (float)rs, w2[(size_t)dX * Hz + (size_t)(H - 3)] = (float)-rs;
        w2[(size_t)dY * Hz + (size_t)(H - 2)] = (float)rs, w2[(size_t)dY * Hz + (size_t)(H - 1)] = (float)-rs;
        for (int c = 0; c < nz; c++) {
            w2[(size_t)(dZ + c) * Hz + (size_t)(H - n_units + 2 * c)] = (float)rz;
            w2[(size_t)(dZ + c) * Hz + (size_t)(H - n_units + 2 * c + 1)] = (float)-rz;
        }
        /* the pooled-difference subspace starts with dX and dY (and dZ_k) */
        for (int d = 0; d < 2 + nz; d++) {
            double *row = P + (size_t)d * Hz;
            memset(row, 0, Hz * sizeof(double));
            row[d == 0 ? dDX : d == 1 ? dDY : dDZ + d - 2] = 1.0;
        }
        /* report: the change of (X, Y) that heads 0-1 write, and the rest of the pooled difference
         * (rows 2.. of P) on the connector's own outputs, over consecutive frames that changed */
        double *a = med, *b = med + nfr;
        size_t na = 0, nb = 0;
        for (int64_t f = 1; f < nfr; f++) {
            const double dm = p->readout_gain * rs * hypot(mx[f] - mx[f - 1], my[f] - my[f - 1]);
            if (dm > 1e-9 * c_med) a[na++] = dm;
            const float *t1 = tout + (size_t)(f * K) * Hz, *t0 = tout + (size_t)((f - 1) * K) * Hz;
            double pn = 0;
            for (int64_t d = 2 + nz; d < Dh; d++) {
                double acc = 0;
                for (int64_t c = reserved; c < H; c++) acc += P[(size_t)d * Hz + (size_t)c] * ((double)t1[c] - t0[c]);
                pn += acc * acc;
            }
            if (sqrt(pn) > 1e-6 * c_med) b[nb++] = sqrt(pn);
        }
        move_med = na ? median(a, na) : 0.0, change_med = nb ? median(b, nb) : 0.0;
    }
    for (int h = 0; h < DH_HEADS; h++) {
        float *qh = q + (size_t)(h * Dh) * Hz, *kh = k + (size_t)(h * Dh) * Hz, *vh = v + (size_t)(h * Dh) * Hz;
        position_head(qh, kh, Dh, H, 0, offsets[h], theta, w, DH_PAIRS, u);
        /* 3. values: P rows; output columns: sign * P^T (into dimensions 1..H-1); with the reply
         *    head scaled by beta / x_e, back to the connector's units, so that the differences stay
         *    small beside beta and layer 1's keys on dimension 0 stay as even as layer 0's */
        const double *Ph = P + (size_t)(subspace[h] * Dh) * Hz;
        const double sgn = signs[h] * (reply ? beta / xe : 1.0);
        for (int64_t d = 0; d < Dh; d++)
            for (int64_t c = 0; c < H; c++) {
                /* with the move readout, heads 0-1 read X and Y G times (and Z_k G_Z times; rows 0-1,
                 * 2..) and write them along dX and dY (and dZ_k; P's rows 0-1, 2..) */
                const bool mv = readout && subspace[h] == 0 && d < 2 + nz;
                const int64_t from = d == 0 ? dX : d == 1 ? dY : dZ + d - 2;
                vh[(size_t)d * Hz + (size_t)c] =
                    mv ? (c == from ? (float)(d < 2 ? p->readout_gain : p->readout_colour_gain) : 0.0f)
                       : (float)Ph[(size_t)d * Hz + (size_t)c];
                o[(size_t)c * (size_t)Nq + (size_t)(h * Dh + d)] = (float)(sgn * Ph[(size_t)d * Hz + (size_t)c]);
            }
    }
    double gamma = 0;
    if (reply) {
        /* 4. text tokens: gamma along dimension 1, from the 95th percentile of the embedding norms */
        for (int64_t t = 0; t < V; t++) {
            double s = 0;
            for (int64_t d = 0; d < H; d++)
                if (d != 1) s += (double)emb[t * H + d] * emb[t * H + d];
            norms[t] = sqrt(s);
        }
        qsort(norms, (size_t)V, sizeof(double), cmp_f64);
        gamma = DH_BETA_SCALE * norms[((size_t)V * 95) / 100];
        const double e_med = norms[(size_t)V - 1 - (size_t)V / 2];
        const double g1q = l1->attn_norm[1], g1k = l1->attn_norm[0];
        if (!(gamma > 0) || !(fabs(g1q) > 0) || !(fabs(g1k) > 0)) {
            st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                             "diff_heads: the token embedding or layer 1's norm weight is 0 where the reply head reads");
            goto done;
        }
        for (int64_t t = 0; t < V; t++) emb[t * H + 1] = (float)(g1q < 0 ? -gamma : gamma);
        if (readout) /* text tokens: 0 along the readout's dimensions */
            for (int64_t t = 0; t < V; t++)
                for (int64_t d = dX; d < reserved; d++) emb[t * H + d] = 0.0f;
        if (subject && !(fabs(l1->attn_norm[dS]) > 0)) {
            st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: layer 1's norm weight is 0 where the "
                             "subject head reads");
            goto done;
        }
        if (word && !(fabs(l1->attn_norm[2]) > 0)) {
            st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "diff_heads: layer 1's norm weight is 0 where the "
                             "word head reads");
            goto done;
        }
        /* 5. head 0 of layer 1: query on dimension 1 (text), key on dimension 0 (frames), the
         *    score's scale from the median text query and frame key after layer 1's norm */
        const double xq = x_e(gamma, g1q, e_med, H), xk = x_e(beta, g1k, c_med, H);
        const double ur = sqrt(DH_MARGIN * sqrt((double)Dh) / (gap_r * xq * xk));
        position_head(q1, k1, Dh, H, 1, off_r, theta, wr, DH_REPLY_PAIRS, ur);
        /* 6. value: the pooled-difference subspace P; output: s P''^T, s so that the median copy
         *    of a frame token (normalised by layer 1's norm) has the norm gamma */
        const double *P0 = P, *P2 = P + (size_t)(2 * Dh) * Hz;
        for (size_t r = 0; r < n_tokens; r++) {
            float *x = tout + r * Hz;
            x[0] = (float)b2[0], x[1] = 0.0f;
            if (readout) /* the readout's change dimensions: 0 in a frame token */
                for (int64_t d = dDX; d < reserved; d++) x[d] = 0.0f;
            double ss = 0;
            for (int64_t d = 0; d < H; d++) ss += (double)x[d] * x[d];
            const double inv = 1.0 / sqrt(ss / (double)H + (double)hp->rms_norm_eps);
            double pn = 0;
            for (int64_t d = 0; d < Dh; d++) {
                double a = 0;
                for (int64_t c = 0; c < H; c++) a += P0[(size_t)d * Hz + (size_t)c] * x[c] * inv * l1->attn_norm[c];
                pn += a * a;
            }
            norms[r] = sqrt(pn);
        }
        const double pmed = median(norms, n_tokens);
        const double sc = pmed > 0 ? gamma / pmed : 1.0;
        /* with readout_word_only, P0's first two rows (the readout's change) go to the word head
         * alone, and the rest to the reply head alone */
        const bool split = readout && word && p->readout_word_only;
        for (int64_t hh = 0; hh < (word ? 2 : 1); hh++) /* head 0, and the word head 1 (step 7) */
            for (int64_t d = 0; d < Dh; d++)
                for (int64_t c = 0; c < H; c++) {
                    const bool off = split && (hh == 0 ? d < 2 : d >= 2);
                    /* the reply head's rows of the colours' change (2 .. 2 + nz) */
                    const double fz = hh == 0 && d >= 2 && d < 2 + nz ? p->readout_colour_reply : 1.0;
                    const double f = !off ? fz : hh == 0 ? p->readout_reply : 0.0;
                    const size_t at = (size_t)d * Hz + (size_t)c;
                    v1[(size_t)(hh * Dh) * Hz + at] = f == 0.0 ? 0.0f : (float)(f * P0[at]);
                    o1[(size_t)c * (size_t)Nq + (size_t)(hh * Dh + d)] = (float)(sc * P2[at]);
                }
        if (word) {
            /* 7. word tokens: gamma along dimension 2 (every other token 0); head 1 of layer 1 queries
             *    it and attends off_w back (its value and output are head 0's, written above) */
            token_head(emb, V, H, Dh, p->word_tokens, p->n_word_tokens, 2, l1->attn_norm[2], gamma, e_med, xk, off_w,
                       theta, ww, gap_w, q1 + (size_t)Dh * Hz, k1 + (size_t)Dh * Hz);
        }
        if (subject) {
            /* 9. subject tokens: gamma along dS (every other token 0, frame tokens 0 like every
             *    reserved dimension); head 3 of layer 1 queries it and attends off_r back, as the
             *    reply head does, and copies the colours' change alone (P0's rows 2 .. 2 + nz, unit
             *    vectors at dDZ_k), times subject_colour, into the reply head's output subspace */
            token_head(emb, V, H, Dh, p->subject_tokens, p->n_subject_tokens, dS, l1->attn_norm[dS], gamma, e_med, xk,
                       off_r, theta, wr, gap_r, q1 + (size_t)(3 * Dh) * Hz, k1 + (size_t)(3 * Dh) * Hz);
            float *v3 = v1 + (size_t)(3 * Dh) * Hz;
            for (int64_t d = 0; d < Dh; d++)
                for (int64_t c = 0; c < H; c++) {
                    const bool in = d >= 2 && d < 2 + nz;
                    const size_t at = (size_t)d * Hz + (size_t)c;
                    v3[at] = in ? (float)(p->subject_colour * P0[at]) : 0.0f;
                    o1[(size_t)c * (size_t)Nq + (size_t)(3 * Dh + d)] = in ? (float)(sc * P2[at]) : 0.0f;
                }
        }
        if (prev) {
            /* 8. head 2 of layer 1: frame token to frame token K + 1 back (query and key on
             *    dimension 0, layer 0's pair weights, whose margin covers that offset); value: the
             *    first r_prev rows of P; output: s Q^T, the same scale as the reply head's copy */
            const double up = sqrt(DH_MARGIN * sqrt((double)Dh) / gap) / xk;
            float *q2 = q1 + (size_t)(2 * Dh) * Hz, *k2 = k1 + (size_t)(2 * Dh) * Hz, *v2 = v1 + (size_t)(2 * Dh) * Hz;
            position_head(q2, k2, Dh, H, 0, offsets[3], theta, w, DH_PAIRS, up);
            const double *Q = P + (size_t)(3 * Dh) * Hz;
            for (int64_t d = 0; d < Dh; d++)
                for (int64_t c = 0; c < H; c++) {
                    const bool in = d < r_prev;
                    v2[(size_t)d * Hz + (size_t)c] = in ? (float)P0[(size_t)d * Hz + (size_t)c] : 0.0f;
                    o1[(size_t)c * (size_t)Nq + (size_t)(2 * Dh + d)] =
                        in ? (float)(sc * Q[(size_t)d * Hz + (size_t)c]) : 0.0f;
                }
        }
    }
    static const char *const names[13] = {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
                                          "blk.0.attn_output.weight", "mm.2.weight", "mm.2.bias",
                                          "blk.1.attn_q.weight", "blk.1.attn_k.weight", "blk.1.attn_v.weight",
                                          "blk.1.attn_output.weight", "token_embd.weight", "mm.0.weight",
                                          "mm.0.bias"};
    const float *const vals[13] = {q, k, v, o, w2, b2, q1, k1, v1, o1, emb, w0, b0};
    if ((st = vlm_model_rewrite_pair(m, out_path, names, vals, readout ? 13 : reply ? 11 : 6, err, err_size)))
        goto done;
    if (rep) {
        memset(rep, 0, sizeof *rep);
        rep->beta = beta, rep->xe_median = xe, rep->xe_min = xe_min;
        rep->n_heads = DH_HEADS, rep->n_tokens = n_tokens, rep->margin = rel;
        for (int h = 0; h < DH_HEADS; h++) rep->offsets[h] = (int32_t)offsets[h];
        if (reply) rep->reply_offset = (int32_t)off_r, rep->reply_margin = rel_r, rep->gamma = gamma;
        if (word) rep->word_offset = (int32_t)off_w, rep->word_margin = rel_w;
        if (prev) rep->prev_offset = (int32_t)offsets[3], rep->prev_rank = (int32_t)r_prev;
        if (readout) {
            rep->readout_dims[0] = (int32_t)dX, rep->readout_dims[1] = (int32_t)dY;
            rep->readout_dims[2] = (int32_t)dDX, rep->readout_dims[3] = (int32_t)dDY;
            rep->readout_scale = rs, rep->readout_move = move_med, rep->readout_change = change_med;
            if (nz) rep->colour_dims[0] = (int32_t)dZ, rep->colour_dims[1] = (int32_t)dDZ, rep->colour_scale = rz;
            if (subject) rep->subject_dim = (int32_t)dS;
        }
    }
done:
    vlm_vision_context_free(vc);
    free(q), free(k), free(v), free(o), free(w2), free(b2), free(out), free(norms), free(P), free(draws);
    free(tout), free(q1), free(k1), free(v1), free(o1), free(emb), free(w0), free(b0), free(mx), free(my), free(med);
    return st;
}
