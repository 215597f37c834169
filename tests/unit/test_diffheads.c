/* test_diffheads.c - the designed frame-difference heads (vlm_design_diff_heads)
 * through the inference runtime: on a one-layer model whose MLP is zeroed,
 * layer 0's output minus its input is the attention output, which must be
 * what copying the intended tokens gives (each head at its offset, with its
 * sign), for every frame token whose targets are frame tokens. Also: the
 * connector's constant, the report, the untouched tensors, and refusals that
 * leave no file. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "test_fs.h"
#include "tiny_tokenizer.h"
#include "io/gguf.h"
#include "model/model.h"
#include "videollm.h"

#define H 128 /* LM hidden: 4 heads of 32 */
#define D 32  /* vision hidden */
#define NT 10 /* tokens per frame */
#define NS 300 /* sample tokens */

static char root[256];

static float frand(uint64_t *s) { /* roughly N(0, 1): sum of 4 uniforms, centred and scaled */
    double a = 0;
    for (int i = 0; i < 4; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        a += (double)(*s >> 11) * 0x1.0p-53;
    }
    return (float)((a - 2.0) * sqrt(3.0));
}

/* NS sample vision tokens [NS][D], seeded */
static float *sample_tokens(uint64_t s) {
    float *t = malloc((size_t)NS * D * sizeof(float));
    for (int i = 0; t && i < NS * D; i++) t[i] = frand(&s);
    return t;
}

static vlm_model *load(const char *path) {
    char e[512];
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    CHECK_MSG(vlm_model_load(path, &mp, &m, e, sizeof e) == VLM_OK, "%s", e);
    return m;
}

static vlm_model *make_model_l(const char *tok, const char *name, int n_layer, int n_head_kv, vlm_weight_type type,
                               char *gguf, size_t gsize) {
    char d[300], e[512];
    snprintf(d, sizeof d, "%s/%s", root, name);
    snprintf(gguf, gsize, "%s/%s.gguf", root, name);
    vlm_init_params p = vlm_init_default_params();
    p.tokenizer_path = tok, p.out_dir = d, p.gguf_path = gguf, p.gguf_type = type;
    p.n_embd = H, p.n_layer = n_layer, p.n_head = 4, p.n_head_kv = n_head_kv, p.n_ff = 64;
    p.v_n_embd = D, p.v_n_layer = 1, p.v_n_head = 2, p.v_n_ff = 64, p.v_patch = 32, p.v_image = 96;
    CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
    return load(gguf);
}

static vlm_model *make_model(const char *tok, const char *name, int n_head_kv, vlm_weight_type type, char *gguf,
                             size_t gsize) {
    return make_model_l(tok, name, 1, n_head_kv, type, gguf, gsize);
}

typedef struct {
    float *embd, *layer, *layer1; /* [T][H]: input, layer 0's output, layer 1's (if any) */
} capture;

static void on_tensor(void *user, const char *name, int32_t layer, const float *data, int64_t rows, int64_t cols) {
    capture *c = user;
    if (cols != H) return;
    if (!strcmp(name, "lm.embd")) memcpy(c->embd, data, (size_t)(rows * cols) * sizeof(float));
    if (!strcmp(name, "lm.layer") && layer == 0) memcpy(c->layer, data, (size_t)(rows * cols) * sizeof(float));
    if (!strcmp(name, "lm.layer") && layer == 1 && c->layer1)
        memcpy(c->layer1, data, (size_t)(rows * cols) * sizeof(float));
}

/* n(x) = x / rms(x) * g, as layer 0's attention norm */
static void rmsnorm(const float *x, const float *g, float eps, double *y) {
    double s = 0;
    for (int i = 0; i < H; i++) s += (double)x[i] * x[i];
    double r = 1.0 / sqrt(s / H + eps);
    for (int i = 0; i < H; i++) y[i] = x[i] * r * g[i];
}

static bool same_bytes(const vlm_model *a, const vlm_model *b, const char *name, bool vision) {
    const vlm_gguf *fa = vision ? a->v_file : a->lm_file, *fb = vision ? b->v_file : b->lm_file;
    const vlm_gguf_tensor *ta = vlm_gguf_find_tensor(fa, name), *tb = vlm_gguf_find_tensor(fb, name);
    return ta && tb && ta->nbytes == tb->nbytes && !memcmp(ta->data, tb->data, ta->nbytes);
}

/* d with the MLPs of its first n_layers layers zeroed (ffn_down), and layer 1's
 * attention output replaced by wo1 when given, written to path and loaded. */
static vlm_model *flatten(const vlm_model *d, const char *path, int n_layers, const float *wo1) {
    char e[512];
    float *zeros = calloc((size_t)H * 64, sizeof(float));
    const char *const zn[3] = {"blk.0.ffn_down.weight", "blk.1.ffn_down.weight", "blk.1.attn_output.weight"};
    const float *const zv[3] = {zeros, zeros, wo1};
    const size_t n = (size_t)n_layers + (wo1 ? 1 : 0);
    const bool ok = zeros && vlm_model_rewrite_pair(d, path, zn, zv, n, e, sizeof e) == VLM_OK;
    CHECK_MSG(ok, "%s", zeros ? e : "out of memory");
    free(zeros);
    return ok ? load(path) : NULL;
}

/* The connector's outputs [n][H] on the first n sample tokens (malloc'd). */
static float *connect(const vlm_model *z, const float *tokens, int n) {
    char e[512];
    vlm_vision_context *vc = NULL;
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    float *emb = malloc((size_t)n * H * sizeof(float));
    CHECK_MSG(vlm_vision_context_init(z, &vp, &vc, e, sizeof e) == VLM_OK, "%s", e);
    CHECK(emb && vc && vlm_connector(vc, tokens, (size_t)n, emb) == VLM_OK);
    vlm_vision_context_free(vc);
    return emb;
}

/* d with both MLPs and every head of layer 1 but `head` zeroed (their output columns), written
 * to path and loaded. */
static vlm_model *one_head(const vlm_model *d, const char *path, int head) {
    const int Dh = H / 4;
    float *wo1 = malloc((size_t)H * H * sizeof(float));
    if (!wo1) return NULL;
    memcpy(wo1, d->layers[1].wo.data, (size_t)H * H * sizeof(float));
    for (int c = 0; c < H; c++)
        for (int j = 0; j < H; j++)
            if (j / Dh != head) wo1[c * H + j] = 0.0f;
    vlm_model *z = flatten(d, path, 2, wo1);
    free(wo1);
    return z;
}

/* Runs z on in[T] and compares layer 1's output minus its input at position p with what head
 * `head` of layer 1 gives when it attends to position src alone: *worst the largest difference,
 * *biggest the largest entry of that copy. */
static void head_copy(const vlm_model *z, const vlm_lm_input *in, int T, int head, int p, int src, double *worst,
                      double *biggest) {
    char e[512];
    const int Dh = H / 4;
    capture cap = {malloc((size_t)T * H * sizeof(float)), malloc((size_t)T * H * sizeof(float)),
                   malloc((size_t)T * H * sizeof(float))};
    vlm_lm_context_params lp = vlm_lm_context_default_params();
    lp.n_ctx = 128, lp.cb = on_tensor, lp.cb_user_data = &cap;
    vlm_lm_context *lc = NULL;
    *worst = 1e300, *biggest = 0;
    CHECK(cap.embd && cap.layer && cap.layer1 && vlm_lm_context_init(z, &lp, &lc, e, sizeof e) == VLM_OK);
    if (lc && vlm_lm_eval(lc, in, (size_t)T, VLM_LOGITS_NONE, NULL) == VLM_OK) {
        const vlm_llama_layer *l1 = &z->layers[1];
        double nx[H], vh[64], want[H] = {0};
        rmsnorm(cap.layer + src * H, l1->attn_norm, z->hp.rms_norm_eps, nx);
        for (int r = 0; r < Dh; r++) {
            vh[r] = 0;
            for (int c = 0; c < H; c++) vh[r] += (double)((const float *)l1->wv.data)[(head * Dh + r) * H + c] * nx[c];
        }
        for (int c = 0; c < H; c++)
            for (int r = 0; r < Dh; r++) want[c] += (double)((const float *)l1->wo.data)[c * H + head * Dh + r] * vh[r];
        *worst = 0;
        for (int c = 0; c < H; c++) {
            double got = (double)cap.layer1[p * H + c] - cap.layer[p * H + c];
            *worst = fmax(*worst, fabs(got - want[c]));
            *biggest = fmax(*biggest, fabs(want[c]));
        }
    } else
        CHECK_MSG(0, "layer 1 did not run");
    vlm_lm_context_free(lc);
    free(cap.embd), free(cap.layer), free(cap.layer1);
}

/* A reply after frames: 5 text tokens, RF frames (their connector outputs emb, an interval token
 * between them), then text tokens up to T = reply_len(off): in[T], malloc'd (the test stops when
 * memory runs out); *last the last frame's last token, off positions before a reply's first token. */
enum { RNTXT = 5, RF = 3 };
static int reply_len(int off) { return RNTXT + RF * (NT + 1) - 1 + off + 3; }
static vlm_lm_input *reply_inputs(const float *emb, int off, int *last) {
    const int T = reply_len(off);
    vlm_lm_input *in = malloc((size_t)T * sizeof *in);
    if (!in) {
        fprintf(stderr, "test_diffheads: out of memory\n");
        abort();
    }
    int t = 0;
    for (int i = 0; i < RNTXT; i++) in[t++] = (vlm_lm_input){.token = 1 + i};
    for (int f = 0; f < RF; f++) {
        for (int j = 0; j < NT; j++) in[t++] = (vlm_lm_input){.token = -1, .embd = emb + (size_t)(f * NT + j) * H};
        if (f < RF - 1) in[t++] = (vlm_lm_input){.token = 7};
    }
    *last = t - 1;
    while (t < T) in[t] = (vlm_lm_input){.token = 10 + t % 20}, t++;
    return in;
}

static void test_design(const char *tok) {
    char g[300], out[300], flat[300], e[512];
    vlm_model *m = make_model(tok, "base", 4, VLM_WTYPE_F32, g, sizeof g);
    if (!m) return;
    snprintf(out, sizeof out, "%s/d.gguf", root);
    snprintf(flat, sizeof flat, "%s/flat.gguf", root);
    float *tokens = sample_tokens(11);
    vlm_diff_heads_report rep;
    memset(&rep, 0, sizeof rep);
    vlm_diff_heads_params dp = vlm_diff_heads_default_params();
    dp.seed = 5;
    CHECK_MSG(vlm_design_diff_heads(m, tokens, NS, &dp, out, &rep, e, sizeof e) == VLM_OK, "%s", e);
    CHECK(rep.reply_offset == 0 && rep.gamma == 0);
    printf("beta %.4f, x_e median %.3f (min %.3f), position margin %.3f, heads %d at offsets %d %d %d %d\n", rep.beta,
           rep.xe_median, rep.xe_min, rep.margin, rep.n_heads, rep.offsets[0], rep.offsets[1], rep.offsets[2], rep.offsets[3]);
    CHECK(rep.beta > 0 && rep.n_heads == 4 && rep.n_tokens == NS);
    CHECK(rep.offsets[0] == NT - 1 && rep.offsets[1] == 2 * NT && rep.offsets[2] == 0 && rep.offsets[3] == NT + 1);
    /* the 95th percentile token's other dimensions have norm beta / 2: x_e >= sqrt(H) 2 / sqrt(5) for 95% */
    CHECK_MSG(rep.xe_median > sqrt(H) * 2.0 / sqrt(5.0) && rep.xe_median < sqrt(H), "x_e median %.4f", rep.xe_median);
    CHECK_MSG(rep.margin > 0.15, "position margin %.3f", rep.margin);
    vlm_model *d = load(out);
    if (!d) goto out;
    /* untouched tensors are byte-identical; the replaced ones differ */
    CHECK(same_bytes(m, d, "token_embd.weight", false) && same_bytes(m, d, "blk.0.ffn_gate.weight", false));
    CHECK(same_bytes(m, d, "mm.0.weight", true) && same_bytes(m, d, "v.post_ln.weight", true));
    CHECK(!same_bytes(m, d, "blk.0.attn_q.weight", false) && !same_bytes(m, d, "mm.2.bias", true));
    CHECK(d->mm2_b[0] == (float)rep.beta);
    for (int c = 0; c < D; c++) CHECK(((const float *)d->mm2.data)[c] == 0.0f);

    /* the same model with layer 0's MLP zeroed: layer output - input = attention output */
    vlm_model *z = flatten(d, flat, 1, NULL);
    if (!z) {
        vlm_model_free(d);
        goto out;
    }
    enum { NTXT = 5, NFR = 3, T = NTXT + NFR * (NT + 1) - 1 };
    capture cap = {malloc((size_t)T * H * sizeof(float)), malloc((size_t)T * H * sizeof(float)), NULL};
    float *emb = connect(z, tokens, NFR * NT); /* frame f: sample tokens f*NT.. */
    vlm_lm_input in[T];
    int is_frame[T], t = 0;
    for (int i = 0; i < NTXT; i++) is_frame[t] = 0, in[t++] = (vlm_lm_input){.token = 1 + i};
    for (int f = 0; f < NFR; f++) {
        for (int j = 0; j < NT; j++)
            is_frame[t] = 1, in[t++] = (vlm_lm_input){.token = -1, .embd = emb + (size_t)(f * NT + j) * H};
        if (f < NFR - 1) is_frame[t] = 0, in[t++] = (vlm_lm_input){.token = 7}; /* the interval token */
    }
    CHECK(t == T);
    vlm_lm_context_params lp = vlm_lm_context_default_params();
    lp.n_ctx = 64, lp.cb = on_tensor, lp.cb_user_data = &cap;
    vlm_lm_context *lc = NULL;
    CHECK(vlm_lm_context_init(z, &lp, &lc, e, sizeof e) == VLM_OK);
    if (lc) CHECK(vlm_lm_eval(lc, in, T, VLM_LOGITS_NONE, NULL) == VLM_OK);
    /* frame tokens carry beta along dimension 0 */
    for (int i = NTXT; i < NTXT + NT; i++) CHECK(fabs(cap.embd[i * H] - rep.beta) < 1e-5 * rep.beta);
    const vlm_llama_layer *l0 = &z->layers[0];
    const float *wv = l0->wv.data, *wo = l0->wo.data;
    const int Dh = H / 4;
    double worst = 0, biggest = 0;
    int checked = 0;
    for (int p = NTXT; p < T; p++) {
        bool ok = is_frame[p];
        for (int h = 0; h < 4 && ok; h++) ok = p - rep.offsets[h] >= 0 && is_frame[p - rep.offsets[h]];
        if (!ok) continue;
        double want[H] = {0}, nx[H], vh[64];
        for (int h = 0; h < 4; h++) {
            rmsnorm(cap.embd + (p - rep.offsets[h]) * H, l0->attn_norm, z->hp.rms_norm_eps, nx);
            for (int r = 0; r < Dh; r++) {
                vh[r] = 0;
                for (int c = 0; c < H; c++) vh[r] += (double)wv[(h * Dh + r) * H + c] * nx[c];
            }
            for (int c = 0; c < H; c++)
                for (int r = 0; r < Dh; r++) want[c] += (double)wo[c * 4 * Dh + h * Dh + r] * vh[r];
        }
        for (int c = 0; c < H; c++) {
            double got = (double)cap.layer[p * H + c] - cap.embd[p * H + c];
            worst = fmax(worst, fabs(got - want[c]));
            biggest = fmax(biggest, fabs(want[c]));
        }
        checked++;
    }
    printf("attention output vs copying the intended tokens at %d frame positions: max |diff| %.3g, max |want| %.3g\n",
           checked, worst, biggest);
    /* frame 3 but its token 8 (9 back is the interval token), and frame 2's last token */
    CHECK(checked == NT);
    CHECK_MSG(biggest > 1.0 && worst < 0.02 * biggest, "diff %.3g of %.3g", worst, biggest);
    vlm_lm_context_free(lc);
    free(emb), free(cap.embd), free(cap.layer);
    vlm_model_free(z);
    vlm_model_free(d);
out:
    free(tokens);
    vlm_model_free(m);
}

/* The reply head: on a two-layer model with both MLPs and layer 1's heads 1-3
 * zeroed, layer 1's output minus its input at a reply's first token (reply_offset
 * after a frame's last token) must be head 0's copy of that frame token.
 * With word tokens (WITH_WORD): heads 0, 2 and 3 zeroed, and at a word token
 * reply_offset + 2 after the frame's last token, head 1's copy of it.
 * With the previous-change head (WITH_PREV): heads 0, 1 and 3 zeroed, and at
 * the last frame's last token, head 2's copy of the previous frame's last
 * token (NT + 1 back) into its own subspace. */
enum { WORD_TOKEN = 42 };
enum { REPLY_ONLY, WITH_WORD, WITH_PREV };
static void test_reply(const char *tok, int mode) {
    const bool word = mode == WITH_WORD, prev = mode == WITH_PREV;
    static const char *const names[3] = {"two", "two_w", "two_p"}, *const outs[3] = {"r", "w", "p"};
    char g[300], out[300], flat[300], e[512];
    vlm_model *m = make_model_l(tok, names[mode], 2, 4, VLM_WTYPE_F32, g, sizeof g);
    if (!m) return;
    snprintf(out, sizeof out, "%s/%s.gguf", root, outs[mode]);
    snprintf(flat, sizeof flat, "%s/%sflat.gguf", root, outs[mode]);
    float *tokens = sample_tokens(23);
    vlm_diff_heads_report rep;
    vlm_diff_heads_params dp = vlm_diff_heads_default_params();
    dp.seed = 3, dp.reply_head = true;
    const int32_t word_ids[2] = {WORD_TOKEN, WORD_TOKEN + 1};
    if (word) dp.word_tokens = word_ids, dp.n_word_tokens = 2, dp.word_pos = 2;
    dp.prev_change_head = prev;
    if (prev) {
        vlm_diff_heads_params bad = dp;
        bad.reply_head = false;
        CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG &&
              strstr(e, "goes with the reply head"));
        printf("refused: %s\n", e);
    }
    CHECK_MSG(vlm_design_diff_heads(m, tokens, NS, &dp, out, &rep, e, sizeof e) == VLM_OK, "%s", e);
    if (word) {
        printf("word head: offset %d (reply offset %d + 2), position margin %.3f\n", rep.word_offset, rep.reply_offset,
               rep.word_margin);
        CHECK(rep.word_offset == rep.reply_offset + 2 && rep.word_margin > 0.15);
        vlm_diff_heads_params bad = dp;
        bad.word_pos = 0;
        CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "position"));
        const int32_t outside[1] = {m->hp.n_vocab};
        bad = dp, bad.word_tokens = outside, bad.n_word_tokens = 1;
        CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "outside"));
        printf("refused: %s\n", e);
    } else
        CHECK(rep.word_offset == 0);
    if (prev) { /* 128 - 2 constants - 3 subspaces of 32: 30 dimensions left */
        printf("previous-change head: offset %d, rank %d\n", rep.prev_offset, rep.prev_rank);
        CHECK(rep.prev_offset == NT + 1 && rep.prev_rank == H - 2 - 3 * (H / 4));
    } else
        CHECK(rep.prev_offset == 0 && rep.prev_rank == 0);
    vlm_tokens gap = {0};
    CHECK(vlm_tokenizer_encode(vlm_model_tokenizer(m), "]\nAssistant:", 12, &gap) == VLM_OK);
    printf("reply head: gamma %.4f, offset %d (the gap is %zu tokens), position margin %.3f\n", rep.gamma,
           rep.reply_offset, gap.n, rep.reply_margin);
    CHECK(rep.reply_offset == (int32_t)gap.n + 1 && rep.gamma > 0 && rep.reply_margin > 0.15);
    vlm_tokens_free(&gap);
    vlm_model *d = load(out);
    if (!d) goto out;
    const int64_t V = d->hp.n_vocab;
    for (int64_t t = 0; t < V; t++) CHECK(((const float *)d->tok_embd.data)[t * H + 1] == (float)rep.gamma);
    for (int c = 0; c < D; c++) CHECK(((const float *)d->mm2.data)[D + c] == 0.0f);
    CHECK(d->mm2_b[1] == 0.0f && d->mm2_b[0] == (float)rep.beta);
    if (word) { /* dimension 2: gamma for the word tokens only, 0 for frame tokens */
        int wrong = 0;
        for (int64_t t = 0; t < V; t++)
            wrong += ((const float *)d->tok_embd.data)[t * H + 2] !=
                     (t == WORD_TOKEN || t == WORD_TOKEN + 1 ? (float)rep.gamma : 0.0f);
        CHECK_MSG(wrong == 0, "%d token embeddings wrong along dimension 2", wrong);
        for (int c = 0; c < D; c++) CHECK(((const float *)d->mm2.data)[2 * D + c] == 0.0f);
        CHECK(d->mm2_b[2] == 0.0f);
    }
    CHECK(same_bytes(m, d, "blk.1.ffn_gate.weight", false) && same_bytes(m, d, "output_norm.weight", false));
    CHECK(!same_bytes(m, d, "blk.1.attn_q.weight", false) && !same_bytes(m, d, "blk.0.attn_v.weight", false));
    /* zero both MLPs and every head of layer 1 but the one under test (their output columns) */
    const int head = word ? 1 : prev ? 2 : 0;
    vlm_model *z = one_head(d, flat, head);
    if (!z) {
        vlm_model_free(d);
        goto out;
    }
    const int off = rep.reply_offset, T = reply_len(off);
    float *emb = connect(z, tokens, RF * NT);
    int last; /* the last frame's last token */
    vlm_lm_input *in = reply_inputs(emb, off, &last);
    /* where the head under test fetches a frame's last token (src) */
    const int p = prev ? last : last + off + (word ? 2 : 0), src = prev ? last - (NT + 1) : last;
    if (word) in[p] = (vlm_lm_input){.token = WORD_TOKEN + 1};
    /* text tokens carry gamma along dimension 1, frame tokens 0 */
    CHECK(emb[1] == 0.0f && fabs(((const float *)z->tok_embd.data)[1 * H + 1] - rep.gamma) < 1e-6 * rep.gamma);
    double worst, biggest;
    head_copy(z, in, T, head, p, src, &worst, &biggest);
    printf("%s: max |diff| %.3g, max |want| %.3g\n", word ? "word head at a word token 2 into the reply" :
           prev ? "previous-change head at a frame's last token" : "reply head at the reply's first token", worst,
           biggest);
    CHECK_MSG(biggest > 0.1 * rep.gamma && worst < 0.02 * biggest, "diff %.3g of %.3g", worst, biggest);
    free(emb), free(in);
    vlm_model_free(z);
    vlm_model_free(d);
out:
    free(tokens);
    vlm_model_free(m);
}

/* The move readout: on a two-layer model with both MLPs zeroed, the connector
 * writes s X and s Y (X, Y: the sums of the readout's vision dimensions) along
 * the first two readout dimensions and 0 along the next two; text tokens are 0
 * along all four; at a frame's last token, layer 0's output minus its input
 * along the third and fourth is G times the change of the normalised pooled
 * token's X and Y dimensions from the previous frame (in the connector's units:
 * times beta / x_e), heads 0-1's copy. With readout_colour_gain G_Z the same
 * holds for each colour's Z_k = X_k + Y_k (written by the connector after X
 * and Y, its change, G_Z times, after dX and dY), and the reply head's value
 * rows 2.. read those changes (a full copy). */
enum { RO_COLOURS = 3, RO_X = 4, RO_Y = 12 };
#define RO_GAIN 7.0
#define RO_GAIN_Z 3.0
enum { RO_CX = 20, RO_CY = 24 }; /* with the colours: their own column / row moment dimensions */
static void test_readout(const char *tok, bool colours) {
    char g[300], out[300], flat[300], e[512];
    vlm_model *m = make_model_l(tok, colours ? "two_roc" : "two_ro", 2, 4, VLM_WTYPE_F32, g, sizeof g);
    if (!m) return;
    snprintf(out, sizeof out, "%s/ro%s.gguf", root, colours ? "c" : "");
    snprintf(flat, sizeof flat, "%s/roflat%s.gguf", root, colours ? "c" : "");
    float *tokens = sample_tokens(29);
    vlm_diff_heads_params dp = vlm_diff_heads_default_params();
    dp.seed = 3, dp.reply_head = true, dp.prev_change_head = true;
    dp.readout_n_colours = RO_COLOURS, dp.readout_dim_x = RO_X, dp.readout_dim_y = RO_Y, dp.readout_gain = RO_GAIN;
    dp.readout_colour_gain = colours ? RO_GAIN_Z : 0.0;
    if (colours) dp.readout_colour_dim_x = RO_CX, dp.readout_colour_dim_y = RO_CY; /* Z_k from dimensions of its own */
    const int nz = colours ? RO_COLOURS : 0, nr = 4 + 2 * nz; /* the readout's dimensions, from 2 */
    vlm_diff_heads_params bad = dp;
    bad.readout_n_colours = 0, bad.readout_colour_gain = 1.0;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "own moments"));
    bad = dp, bad.readout_colour_gain = -1.0;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "moments' gain"));
    bad = dp, bad.readout_colour_gain = 1.0, bad.readout_colour_dim_y = D - 1;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "colours' moments"));
    bad = dp, bad.reply_head = false, bad.prev_change_head = false;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "goes with the reply"));
    bad = dp, bad.readout_dim_y = D - RO_COLOURS + 1;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "vision width"));
    printf("refused: %s\n", e);
    bad = dp, bad.readout_gain = 0.0 / 0.0;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "gain"));
    printf("refused: %s\n", e);
    vlm_diff_heads_report rep;
    CHECK_MSG(vlm_design_diff_heads(m, tokens, NS, &dp, out, &rep, e, sizeof e) == VLM_OK, "%s", e);
    printf("move readout: dimensions %d %d %d %d, scale %.4g, median change %.4g (rest %.4g); previous-change rank %d\n",
           rep.readout_dims[0], rep.readout_dims[1], rep.readout_dims[2], rep.readout_dims[3], rep.readout_scale,
           rep.readout_move, rep.readout_change, rep.prev_rank);
    /* after the constants 0-1: X, Y (, Z_k), dX, dY (, dZ_k); Q loses those dimensions */
    CHECK(rep.readout_dims[0] == 2 && rep.readout_dims[1] == 3 && rep.readout_dims[2] == 4 + nz &&
          rep.readout_dims[3] == 5 + nz);
    CHECK(rep.prev_rank == H - 2 - nr - 3 * (H / 4) && rep.readout_scale > 0 && rep.readout_move > 0 &&
          rep.readout_change > 0);
    CHECK(colours ? rep.colour_dims[0] == 4 && rep.colour_dims[1] == 6 + nz && rep.colour_scale > 0
                  : rep.colour_dims[0] == 0 && rep.colour_scale == 0);
    vlm_model *d = load(out);
    if (!d) goto out;
    const int64_t V = d->hp.n_vocab;
    int wrong = 0;
    for (int64_t t = 0; t < V; t++)
        for (int k = 2; k < 2 + nr; k++) wrong += ((const float *)d->tok_embd.data)[t * H + k] != 0.0f;
    CHECK_MSG(wrong == 0, "%d token embeddings not 0 along the readout's dimensions", wrong);
    CHECK(!same_bytes(m, d, "mm.0.weight", true) && same_bytes(m, d, "v.post_ln.weight", true));
    vlm_model *z = flatten(d, flat, 2, NULL);
    if (!z) {
        vlm_model_free(d);
        goto out;
    }
    enum { NTXT = 5, NFR = 4, T = NTXT + NFR * (NT + 1) - 1 };
    capture cap = {malloc((size_t)T * H * sizeof(float)), malloc((size_t)T * H * sizeof(float)),
                   malloc((size_t)T * H * sizeof(float))};
    float *emb = connect(z, tokens, NFR * NT);
    /* the connector: s X, s Y (, s_Z Z_k), then 0 for every frame token (gelu(z) - gelu(-z) = z) */
    double worst = 0, biggest = 0;
    for (int i = 0; i < NFR * NT; i++) {
        double x = 0, y = 0, want[4 + 2 * RO_COLOURS] = {0};
        for (int c = 0; c < RO_COLOURS; c++) x += tokens[i * D + RO_X + c], y += tokens[i * D + RO_Y + c];
        want[0] = rep.readout_scale * x, want[1] = rep.readout_scale * y;
        for (int c = 0; c < nz; c++) want[2 + c] = rep.colour_scale * (tokens[i * D + RO_CX + c] + tokens[i * D + RO_CY + c]);
        for (int k = 0; k < nr; k++) {
            worst = fmax(worst, fabs(emb[(size_t)i * H + 2 + (size_t)k] - want[k]));
            biggest = fmax(biggest, fabs(want[k]));
        }
    }
    printf("connector along the readout's dimensions: max |diff| %.3g, max |want| %.3g\n", worst, biggest);
    CHECK_MSG(biggest > 0 && worst < 1e-5 * biggest, "diff %.3g of %.3g", worst, biggest);
    vlm_lm_input in[T];
    int t = 0, last[NFR];
    for (int i = 0; i < NTXT; i++) in[t++] = (vlm_lm_input){.token = 1 + i};
    for (int f = 0; f < NFR; f++) {
        for (int j = 0; j < NT; j++) in[t++] = (vlm_lm_input){.token = -1, .embd = emb + (size_t)(f * NT + j) * H};
        last[f] = t - 1;
        if (f < NFR - 1) in[t++] = (vlm_lm_input){.token = 7};
    }
    vlm_lm_context_params lp = vlm_lm_context_default_params();
    lp.n_ctx = 64, lp.cb = on_tensor, lp.cb_user_data = &cap;
    vlm_lm_context *lc = NULL;
    CHECK(vlm_lm_context_init(z, &lp, &lc, e, sizeof e) == VLM_OK);
    if (lc) CHECK(vlm_lm_eval(lc, in, T, VLM_LOGITS_NONE, NULL) == VLM_OK);
    CHECK(cap.embd[2 * H + 2] == 0.0f && cap.embd[2 * H + 1 + nr] == 0.0f); /* a text token */
    const vlm_llama_layer *l0 = &z->layers[0];
    worst = 0, biggest = 0;
    for (int f = 1; f < NFR; f++) { /* frame f's last token: its pooled token (NT - 1 back) minus frame f - 1's */
        double n1[H], n0[H];
        rmsnorm(cap.embd + (last[f] - (NT - 1)) * H, l0->attn_norm, z->hp.rms_norm_eps, n1);
        rmsnorm(cap.embd + (last[f] - 2 * NT) * H, l0->attn_norm, z->hp.rms_norm_eps, n0);
        for (int k = 0; k < 2 + nz; k++) { /* read at 2 + k (X, Y, Z_k), written at 4 + nz + k (dX, dY, dZ_k) */
            const double want = rep.beta / rep.xe_median * (k < 2 ? RO_GAIN : RO_GAIN_Z) * (n1[2 + k] - n0[2 + k]);
            const double got = (double)cap.layer[last[f] * H + 4 + nz + k] - cap.embd[last[f] * H + 4 + nz + k];
            worst = fmax(worst, fabs(got - want));
            biggest = fmax(biggest, fabs(want));
        }
    }
    printf("layer 0 at frames' last tokens along the change dimensions: max |diff| %.3g, max |want| %.3g\n", worst,
           biggest);
    CHECK_MSG(biggest > 0.01 && worst < 1e-3 * biggest, "diff %.3g of %.3g", worst, biggest);
    /* the reply head (head 0 of layer 1) reads every change dimension, exactly: value row k is the
     * unit vector of dimension 4 + nz + k */
    const float *v1 = d->layers[1].wv.data;
    int bad_rows = 0;
    for (int k = 0; k < 2 + nz; k++)
        for (int c = 0; c < H; c++) bad_rows += v1[(size_t)k * H + (size_t)c] != (c == 4 + nz + k ? 1.0f : 0.0f);
    CHECK_MSG(bad_rows == 0, "%d reply head value entries differ from the change dimensions' unit vectors", bad_rows);
    if (colours) { /* readout_colour_reply A: the reply head's rows 2.. are A times these; nothing else moves */
        bad = dp, bad.readout_colour_reply = 0.0;
        CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "colours' change"));
        bad.readout_colour_reply = 101.0;
        CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "colours' change"));
        bad.readout_colour_reply = 2.0, bad.readout_colour_gain = 0.0; /* a factor without the colours */
        CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "goes with the colours"));
        char outa[300];
        snprintf(outa, sizeof outa, "%s/roca.gguf", root);
        vlm_diff_heads_params da = dp;
        da.readout_colour_reply = 2.5;
        CHECK_MSG(vlm_design_diff_heads(m, tokens, NS, &da, outa, NULL, e, sizeof e) == VLM_OK, "%s", e);
        vlm_model *a = load(outa);
        if (a) {
            const float *va = a->layers[1].wv.data;
            int diff = 0;
            for (size_t i = 0; i < (size_t)H * (size_t)H; i++) {
                const size_t row = i / (size_t)H; /* rows of the reply head's colour change: 2 .. 2 + nz */
                const float want = row >= 2 && row < (size_t)(2 + nz) ? 2.5f * v1[i] : v1[i];
                diff += va[i] != want;
            }
            CHECK_MSG(diff == 0, "%d of layer 1's value entries are not the design's (times 2.5 on the colours' rows)", diff);
            const char *const same[] = {"blk.0.attn_q.weight", "blk.0.attn_v.weight", "blk.0.attn_output.weight",
                                        "blk.1.attn_q.weight", "blk.1.attn_k.weight", "blk.1.attn_output.weight",
                                        "token_embd.weight"};
            for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
                CHECK_MSG(same_bytes(a, d, same[i], false), "%s differs with a reply factor", same[i]);
            CHECK(same_bytes(a, d, "mm.0.weight", true) && same_bytes(a, d, "mm.2.weight", true));
            vlm_model_free(a);
        }
    }
    vlm_lm_context_free(lc);
    free(emb), free(cap.embd), free(cap.layer), free(cap.layer1);
    vlm_model_free(z);
    vlm_model_free(d);
out:
    free(tokens);
    vlm_model_free(m);
}

/* The subject head (subject_tokens, with the colours' moments): the subject tokens' constant lies
 * after the readout's dimensions (gamma for them, 0 for every other token and for frame tokens),
 * head 3 of layer 1 reads the colours' change alone, subject_colour times (value rows 2 .. 2 + nz:
 * that times the unit vectors of dZ_k; every other row 0), and on the two-layer model with both
 * MLPs and layer 1's heads 0-2 zeroed, layer 1's output minus its input at a subject token where a
 * reply's first token stands is head 3's copy of the frame's last token. Refused without the
 * colours, with a factor outside (0, 100] or without tokens, and with a token outside the
 * vocabulary. */
static void test_subject(const char *tok) {
    char g[300], out[300], flat[300], e[512];
    vlm_model *m = make_model_l(tok, "two_s", 2, 4, VLM_WTYPE_F32, g, sizeof g);
    if (!m) return;
    snprintf(out, sizeof out, "%s/rs.gguf", root);
    snprintf(flat, sizeof flat, "%s/rsflat.gguf", root);
    float *tokens = sample_tokens(31);
    const int32_t subject_ids[1] = {WORD_TOKEN}, outside[1] = {m->hp.n_vocab};
    vlm_diff_heads_params dp = vlm_diff_heads_default_params();
    dp.seed = 3, dp.reply_head = true, dp.prev_change_head = true;
    dp.readout_n_colours = RO_COLOURS, dp.readout_dim_x = RO_X, dp.readout_dim_y = RO_Y, dp.readout_gain = RO_GAIN;
    dp.readout_colour_gain = RO_GAIN_Z, dp.readout_colour_dim_x = RO_CX, dp.readout_colour_dim_y = RO_CY;
    dp.readout_colour_reply = 0.5;
    dp.subject_tokens = subject_ids, dp.n_subject_tokens = 1, dp.subject_colour = 3.0;
    vlm_diff_heads_params bad = dp;
    bad.readout_colour_gain = 0.0, bad.readout_colour_reply = 1.0;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "subject head goes"));
    printf("refused: %s\n", e);
    bad = dp, bad.subject_colour = 0.0;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "subject head's factor"));
    bad = dp, bad.subject_colour = 100.5;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "subject head's factor"));
    bad = dp, bad.subject_tokens = NULL, bad.n_subject_tokens = 0; /* a factor without tokens */
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "subject head's factor"));
    bad = dp, bad.subject_tokens = outside;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "outside"));
    printf("refused: %s\n", e);
    vlm_diff_heads_report rep;
    CHECK_MSG(vlm_design_diff_heads(m, tokens, NS, &dp, out, &rep, e, sizeof e) == VLM_OK, "%s", e);
    const int nz = RO_COLOURS, dS = 2 + 4 + 2 * nz, dDZ = 2 + 4 + nz; /* after the constants 0-1 and the readout */
    printf("subject head: constant along %d, previous-change rank %d\n", rep.subject_dim, rep.prev_rank);
    CHECK(rep.subject_dim == dS && rep.colour_dims[1] == dDZ && rep.prev_rank == H - dS - 1 - 3 * (H / 4));
    vlm_model *d = load(out);
    if (!d) goto out;
    const int64_t V = d->hp.n_vocab;
    int wrong = 0;
    for (int64_t t = 0; t < V; t++)
        wrong += ((const float *)d->tok_embd.data)[t * H + dS] != (t == WORD_TOKEN ? (float)rep.gamma : 0.0f);
    for (int c = 0; c < H; c++) wrong += ((const float *)d->mm2.data)[dS * H + c] != 0.0f;
    wrong += d->mm2_b[dS] != 0.0f;
    CHECK_MSG(wrong == 0, "%d entries wrong along the subject tokens' constant", wrong);
    const int Dh = H / 4;
    const float *v3 = (const float *)d->layers[1].wv.data + (size_t)(3 * Dh) * H;
    const float *o1 = d->layers[1].wo.data;
    wrong = 0;
    for (int r = 0; r < Dh; r++) {
        const bool colour = r >= 2 && r < 2 + nz;
        for (int c = 0; c < H; c++) {
            wrong += v3[(size_t)r * H + (size_t)c] != (colour && c == dDZ + r - 2 ? 3.0f : 0.0f);
            if (!colour) wrong += o1[(size_t)c * H + (size_t)(3 * Dh + r)] != 0.0f;
        }
    }
    CHECK_MSG(wrong == 0, "%d entries of head 3 of layer 1 are not the colours' change alone, times 3", wrong);
    vlm_model *z = one_head(d, flat, 3);
    if (z) {
        const int off = rep.reply_offset, T = reply_len(off);
        float *emb = connect(z, tokens, RF * NT);
        int last;
        vlm_lm_input *in = reply_inputs(emb, off, &last);
        in[last + off] = (vlm_lm_input){.token = WORD_TOKEN};
        double worst, biggest;
        head_copy(z, in, T, 3, last + off, last, &worst, &biggest);
        printf("subject head at a subject token where the reply's first token stands: max |diff| %.3g, max |want| "
               "%.3g\n", worst, biggest);
        CHECK_MSG(biggest > 0.01 * rep.gamma && worst < 0.02 * biggest, "diff %.3g of %.3g", worst, biggest);
        in[last + off] = (vlm_lm_input){.token = WORD_TOKEN + 1}; /* any other token: no copy there */
        double worst_o, biggest_o;
        head_copy(z, in, T, 3, last + off, last, &worst_o, &biggest_o);
        printf("... at another token there: max |diff| %.3g from the copy\n", worst_o);
        CHECK_MSG(worst_o > 0.5 * biggest_o, "head 3 copies the frame's change to a token that is not a subject "
                  "token (diff %.3g of %.3g)", worst_o, biggest_o);
        free(emb), free(in);
        vlm_model_free(z);
    }
    vlm_model_free(d);
out:
    free(tokens);
    vlm_model_free(m);
}

/* The readout at the word tokens only (readout_word_only): against the same
 * design without it, layer 1's value rows differ exactly where they should:
 * the reply head's first two rows (the readout's change) are 0, the word head
 * keeps only those two, and every other row and tensor is bit for bit the same.
 * With a reply share (readout_reply 0.25) the reply head's two rows are 0.25
 * times the full design's and nothing else changes. Refused without word
 * tokens, without the readout, and with a share outside [0, 1] or without
 * readout_word_only. */
static void test_readout_word_only(const char *tok) {
    char g[300], out[3][300], e[512];
    vlm_model *m = make_model_l(tok, "two_rw", 2, 4, VLM_WTYPE_F32, g, sizeof g);
    if (!m) return;
    float *tokens = sample_tokens(31);
    const int32_t word_ids[1] = {WORD_TOKEN};
    vlm_diff_heads_params dp = vlm_diff_heads_default_params();
    dp.seed = 5, dp.reply_head = true, dp.prev_change_head = true;
    dp.word_tokens = word_ids, dp.n_word_tokens = 1, dp.word_pos = 3;
    dp.readout_n_colours = RO_COLOURS, dp.readout_dim_x = RO_X, dp.readout_dim_y = RO_Y, dp.readout_gain = RO_GAIN;
    vlm_diff_heads_params bad = dp;
    bad.readout_reply = 0.5; /* without readout_word_only */
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "share"));
    printf("refused: %s\n", e);
    bad.readout_word_only = true, bad.readout_reply = 1.5;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "[0, 1]"));
    bad = dp, bad.readout_n_colours = 0, bad.readout_reply = 0.5; /* no readout at all: refused, not ignored */
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "share"));
    bad = dp;
    bad.readout_word_only = true, bad.word_tokens = NULL, bad.n_word_tokens = 0;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "needs word tokens"));
    printf("refused: %s\n", e);
    bad = dp, bad.readout_word_only = true, bad.readout_n_colours = 0;
    CHECK(vlm_design_diff_heads_check(m, &bad, e, sizeof e) == VLM_ERR_INVALID_ARG &&
          strstr(e, "goes with the move readout"));
    printf("refused: %s\n", e);
    vlm_model *d[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) { /* the full design; the word only; the word only with a reply share of 0.25 */
        snprintf(out[k], sizeof out[k], "%s/rw%d.gguf", root, k);
        dp.readout_word_only = k >= 1, dp.readout_reply = k == 2 ? 0.25 : 0.0;
        vlm_diff_heads_report rep;
        CHECK_MSG(vlm_design_diff_heads(m, tokens, NS, &dp, out[k], &rep, e, sizeof e) == VLM_OK, "%s", e);
        /* constants 0-2 with the word head: the change of X and Y along 5 and 6 */
        CHECK(rep.readout_dims[2] == 5 && rep.readout_dims[3] == 6);
        d[k] = load(out[k]);
    }
    if (d[0] && d[1]) {
        static const char *const same[] = {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
                                           "blk.0.attn_output.weight", "blk.1.attn_q.weight", "blk.1.attn_k.weight",
                                           "blk.1.attn_output.weight", "token_embd.weight"};
        for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
            CHECK_MSG(same_bytes(d[0], d[1], same[i], false), "%s differs", same[i]);
        CHECK(same_bytes(d[0], d[1], "mm.0.weight", true) && same_bytes(d[0], d[1], "mm.2.weight", true));
        const int Dh = H / 4;
        const float *v0 = d[0]->layers[1].wv.data, *v1 = d[1]->layers[1].wv.data;
        int zeroed = 0, kept = 0, wrong = 0;
        for (int r = 0; r < H; r++) {
            const int head = r / Dh, d_in = r % Dh;
            const bool off = (head == 0 && d_in < 2) || (head == 1 && d_in >= 2);
            bool any = false;
            for (int c = 0; c < H; c++) any |= v0[r * H + c] != 0.0f;
            if (off) {
                bool all0 = true;
                for (int c = 0; c < H; c++) all0 &= v1[r * H + c] == 0.0f;
                zeroed += any && all0, wrong += !all0;
            } else {
                kept += !memcmp(v0 + r * H, v1 + r * H, H * sizeof(float));
                wrong += memcmp(v0 + r * H, v1 + r * H, H * sizeof(float)) != 0;
            }
        }
        /* the word head's change rows read exactly the change dimensions */
        for (int k = 0; k < 2; k++)
            for (int c = 0; c < H; c++) CHECK(v1[(Dh + k) * H + c] == (c == 5 + k ? 1.0f : 0.0f));
        printf("readout at the word only: %d value rows zeroed (of %d), %d kept, %d wrong\n", zeroed, Dh, kept, wrong);
        CHECK(zeroed == Dh && kept == H - Dh && wrong == 0);
    }
    if (d[1] && d[2]) { /* a reply share: only the reply head's first two value rows differ, 0.25 times the full design's */
        const float *v0 = d[0]->layers[1].wv.data, *v1 = d[1]->layers[1].wv.data, *v2 = d[2]->layers[1].wv.data;
        int scaled = 0, same = 0;
        for (int r = 0; r < H; r++) {
            if (r < 2) {
                bool ok = true, any = false;
                for (int c = 0; c < H; c++)
                    ok &= v2[r * H + c] == (float)(0.25 * v0[r * H + c]), any |= v2[r * H + c] != 0.0f;
                scaled += ok && any;
            } else
                same += !memcmp(v1 + r * H, v2 + r * H, H * sizeof(float));
        }
        printf("reply share 0.25: %d value rows scaled, %d of %d others the same as the word only\n", scaled, same,
               H - 2);
        CHECK(scaled == 2 && same == H - 2 && same_bytes(d[1], d[2], "blk.1.attn_output.weight", false) &&
              same_bytes(d[1], d[2], "blk.0.attn_v.weight", false));
    }
    for (int k = 0; k < 3; k++) vlm_model_free(d[k]);
    free(tokens);
    vlm_model_free(m);
}

static void expect_refusal(const vlm_model *m, bool reply, const char *msg) {
    char e[512] = "", out[300], dir[300];
    snprintf(dir, sizeof dir, "%s/refused", root);
    mkdir(dir, 0777);
    snprintf(out, sizeof out, "%.280s/x.gguf", dir);
    float tokens[4 * D] = {0};
    for (int i = 0; i < 4 * D; i++) tokens[i] = (float)(i % 7) - 3.0f;
    vlm_diff_heads_params dp = vlm_diff_heads_default_params();
    dp.reply_head = reply;
    vlm_status st = vlm_design_diff_heads(m, tokens, 4, &dp, out, NULL, e, sizeof e);
    CHECK_MSG(st == VLM_ERR_UNSUPPORTED || st == VLM_ERR_INVALID_ARG, "status %d", (int)st);
    CHECK_MSG(strstr(e, msg) != NULL, "message '%s' (expected '%s')", e, msg);
    CHECK(count_entries(dir) == 0);
    printf("refused: %s\n", e);
}

static void test_refusals(const char *tok) {
    char g[300];
    vlm_model *m = make_model(tok, "gqa", 2, VLM_WTYPE_F32, g, sizeof g);
    if (m) expect_refusal(m, false, "as many KV heads");
    vlm_model_free(m);
    m = make_model(tok, "q8", 4, VLM_WTYPE_Q8_0, g, sizeof g);
    if (m) expect_refusal(m, false, "must be f32");
    vlm_model_free(m);
    snprintf(g, sizeof g, "%s/base.gguf", root); /* from test_design: supported, but one sample token */
    m = load(g);
    if (m) {
        char e[256] = "", out[300], dir[300];
        snprintf(dir, sizeof dir, "%s/refused", root);
        snprintf(out, sizeof out, "%.280s/y.gguf", dir);
        float one[D] = {0};
        vlm_diff_heads_params dp = vlm_diff_heads_default_params();
        CHECK(vlm_design_diff_heads_check(m, &dp, e, sizeof e) == VLM_OK);
        CHECK(vlm_design_diff_heads(m, one, 1, &dp, out, NULL, e, sizeof e) == VLM_ERR_INVALID_ARG);
        CHECK_MSG(strstr(e, "at least 2") != NULL, "%s", e);
        CHECK(count_entries(dir) == 0);
        expect_refusal(m, true, "needs 2 layers"); /* one layer: no layer 1 for the reply head */
    }
    vlm_model_free(m);
    snprintf(g, sizeof g, "%s/two.gguf", root); /* from test_reply: two layers, but no tokenizer loaded */
    vlm_model_params mp = vlm_model_default_params();
    mp.load_tokenizer = false;
    char e2[512];
    if (vlm_model_load(g, &mp, &m, e2, sizeof e2) == VLM_OK) expect_refusal(m, true, "needs the model's tokenizer");
    else CHECK_MSG(0, "%s", e2);
    vlm_model_free(m);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_root_make(root, sizeof root, "diffheads");
    char tok[300];
    snprintf(tok, sizeof tok, "%s/tokenizer.json", root);
    write_llama3_tokenizer(tok);
    test_design(tok);
    test_reply(tok, REPLY_ONLY);
    test_reply(tok, WITH_WORD);
    test_reply(tok, WITH_PREV);
    test_readout(tok, false);
    test_readout(tok, true);
    test_readout_word_only(tok);
    test_subject(tok);
    test_refusals(tok);
    test_root_finish(root);
    return check_done("test_diffheads");
}
