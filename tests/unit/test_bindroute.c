/* test_bindroute.c - the binding route (vlm_design_bind_route) on a small
 * model: the connector writes each colour's shape (a simplex vector) and the
 * head-token indicator through the inference runtime; the gate of layer 2's
 * MLP, evaluated on the written weights, picks the named colour's shape and
 * is quiet without a colour word; the fetch heads' recency kernel prefers
 * the latest frames; nothing else writes the route's dimensions; tensors
 * outside the route are copied; refusals leave no file. */
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
#include "model/model.h"
#include "videollm.h"

#define H 128    /* LM hidden: 2 heads of 64 */
#define D 64     /* vision hidden */
#define NC 6     /* colours */
#define NB 6     /* bins per colour */
#define BINS 4   /* vision dimension of colour 0's first bin */
#define IND 60   /* the indicator's vision dimension */
#define F 20     /* the route's first LM dimension */
#define CONN 16  /* connector units held before it */
#define NF 400   /* sample frames */
#define ABSENT (-0.25f)
#define PRESENT 4.0f

static char root[256];
static const int32_t AREA_SHAPE[NB] = {2, 1, 0, 2, 1, 0};
static const int32_t COLOURS[NC] = {'a', 'b', 'c', 'd', 'e', 'f'}, SHAPES[3] = {'x', 'y', 'z'};
static const double SIMPLEX[3][2] = {{1.0, 0.0}, {-0.5, 0.8660254037844386}, {-0.5, -0.8660254037844386}};

static uint64_t next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* A head token: colour c shows bin bin[c] (or nothing, -1); other dimensions a fixed pattern. */
static void head_token(float *t, const int *bin) {
    for (int i = 0; i < D; i++) t[i] = (float)((i * 7) % 5) * 0.1f - 0.2f;
    for (int c = 0; c < NC; c++)
        for (int a = 0; a < NB; a++) t[BINS + c * NB + a] = bin[c] == a ? PRESENT : ABSENT;
    t[IND] = 1.0f;
}

static vlm_model *load(const char *path) {
    char e[512];
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    CHECK_MSG(vlm_model_load(path, &mp, &m, e, sizeof e) == VLM_OK, "%s", e);
    return m;
}

static vlm_model *make_model(const char *tok, const char *name, int n_layer, int n_head, char *gguf, size_t gsize) {
    char d[300], e[512];
    snprintf(d, sizeof d, "%s/%s", root, name);
    snprintf(gguf, gsize, "%s/%s.gguf", root, name);
    vlm_init_params p = vlm_init_default_params();
    p.tokenizer_path = tok, p.out_dir = d, p.gguf_path = gguf, p.gguf_type = VLM_WTYPE_F32;
    p.n_embd = H, p.n_layer = n_layer, p.n_head = n_head, p.n_head_kv = n_head, p.n_ff = 64;
    p.v_n_embd = D, p.v_n_layer = 1, p.v_n_head = 2, p.v_n_ff = 64, p.v_patch = 32, p.v_image = 96;
    CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
    vlm_model *m = load(gguf);
    if (!m) return NULL;
    /* the indicator's vision dimension must be unused: the head's output bias 0 there */
    float *b = malloc((size_t)D * sizeof(float));
    const char *names[1] = {"v.head.ffn_down.bias"};
    const float *vals[1] = {b};
    char z[300];
    snprintf(z, sizeof z, "%s/%s.z.gguf", root, name);
    bool ok = b != NULL;
    if (ok) memcpy(b, m->head_down_b, (size_t)D * sizeof(float)), b[IND] = 0.0f;
    ok = ok && vlm_model_rewrite_pair(m, z, names, vals, 1, e, sizeof e) == VLM_OK;
    CHECK_MSG(ok, "%s", e);
    free(b);
    vlm_model_free(m);
    snprintf(gguf, gsize, "%s", z);
    return ok ? load(z) : NULL;
}

static vlm_bind_route_params params(void) {
    vlm_bind_route_params p = vlm_bind_route_default_params();
    p.first_dim = F, p.conn_reserved = CONN, p.n_colours = NC, p.n_areas = NB, p.n_shapes = 3;
    memcpy(p.area_shape, AREA_SHAPE, sizeof AREA_SHAPE);
    p.dim_bins = BINS, p.dim_indicator = IND, p.colour_tokens = COLOURS, p.shape_tokens = SHAPES;
    return p;
}

/* NF sample head tokens: each colour present with probability 2/5, in a random bin. */
static float *samples(void) {
    float *t = malloc((size_t)NF * D * sizeof(float));
    uint64_t s = 7;
    for (int f = 0; t && f < NF; f++) {
        int bin[NC];
        for (int c = 0; c < NC; c++) bin[c] = next(&s) % 5 < 2 ? (int)(next(&s) % NB) : -1;
        head_token(t + (size_t)f * D, bin);
    }
    return t;
}

static const float *f32(const vlm_wt *w) { return (const float *)w->data; }

static double silu(double x) { return x / (1.0 + exp(-x)); }

static void test_route(const char *tok) {
    char g[300], out[300], e[512];
    vlm_model *m = make_model(tok, "three", 3, 2, g, sizeof g);
    float *heads = samples();
    CHECK(m && heads);
    if (!m || !heads) {
        vlm_model_free(m), free(heads);
        return;
    }
    snprintf(out, sizeof out, "%s/route.gguf", root);
    vlm_bind_route_params p = params();
    vlm_bind_route_report rep;
    CHECK_MSG(vlm_design_bind_route(m, heads, NF, &p, out, &rep, e, sizeof e) == VLM_OK, "%s", e);
    CHECK(rep.first_dim == F && rep.n_dims == 18 && rep.conn_unit == H - CONN - 13);
    CHECK(fabs(rep.absent_min - ABSENT) < 1e-6 && fabs(rep.present_max - PRESENT) < 1e-6);
    vlm_model *r = load(out);
    if (!r) {
        vlm_model_free(m), free(heads);
        return;
    }
    /* 1. the connector through the runtime: red (0) a large circle (bin 4), green (1) a small square
     *    (bin 2), purple (5) a small triangle (bin 0); then a grid-like token (zeros) */
    float tokens[2 * D], emb[2 * H];
    int bin[NC] = {4, 2, -1, -1, -1, 0};
    head_token(tokens, bin);
    memset(tokens + D, 0, D * sizeof(float));
    vlm_vision_context *vc = NULL;
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    CHECK_MSG(vlm_vision_context_init(r, &vp, &vc, e, sizeof e) == VLM_OK, "%s", e);
    CHECK(vc && vlm_connector(vc, tokens, 2, emb) == VLM_OK);
    for (int c = 0; c < NC; c++)
        for (int k = 0; k < 2; k++) {
            const double want = bin[c] < 0 ? 0.0 : SIMPLEX[AREA_SHAPE[bin[c]]][k];
            CHECK_MSG(fabs(emb[F + 2 * c + k] - want) < 2e-3, "colour %d code %d: %g (want %g)", c, k,
                      (double)emb[F + 2 * c + k], want);
            CHECK_MSG(fabs(emb[H + F + 2 * c + k]) < 1e-4, "grid token code %d.%d: %g", c, k,
                      (double)emb[H + F + 2 * c + k]);
        }
    CHECK_MSG(fabs(emb[F + 17] - 2.0) < 1e-3 && fabs(emb[H + F + 17]) < 1e-4, "indicator %g / %g",
              (double)emb[F + 17], (double)emb[H + F + 17]);
    for (int d = F + 12; d < F + 17; d++) CHECK(fabs(emb[d]) < 1e-6);
    vlm_vision_context_free(vc);
    /* 2. the gate, on the written weights: a normalised residual with red's colour code, the codes
     *    above and the text constant; the output along F+15..16 reads red's shape (a circle) */
    const vlm_llama_layer *l2 = &r->layers[2];
    const float *gate = f32(&l2->ffn_gate), *up = f32(&l2->ffn_up), *down = f32(&l2->ffn_down);
    const int64_t Ff = r->hp.n_ff;
    for (int named = -1; named < NC; named++) {
        double x[H] = {0}, o[2] = {0, 0};
        x[1] = 0.683 / 0.76;
        for (int c = 0; c < NC; c++)
            for (int k = 0; k < 2; k++) x[F + 2 * c + k] = bin[c] < 0 ? 0.0 : 1.5 / 0.77 * SIMPLEX[AREA_SHAPE[bin[c]]][k];
        if (named >= 0)
            for (int i = 0; i < 3; i++) x[F + 12 + i] = 1.5 / 0.77 * (named / 2 == i ? (named % 2 ? -1.0 : 1.0) : 0.0);
        for (int64_t u = 0; u < 12; u++) { /* the route's units read nothing else */
            double a = 0, b = 0;
            for (int d = 0; d < H; d++) a += gate[u * H + d] * x[d], b += up[u * H + d] * x[d];
            for (int k = 0; k < 2; k++) o[k] += down[(F + 15 + k) * Ff + u] * silu(a) * b;
        }
        const double norm = sqrt(o[0] * o[0] + o[1] * o[1]);
        if (named < 0 || bin[named] < 0) {
            CHECK_MSG(norm < 0.05, "colour %d (not shown or none named): gate output %g", named, norm);
        } else {
            const double *s = SIMPLEX[AREA_SHAPE[bin[named]]];
            CHECK_MSG(norm > 1.0 && (o[0] * s[0] + o[1] * s[1]) / norm > 0.99, "colour %d: gate output (%g, %g)",
                      named, o[0], o[1]);
        }
    }
    /* the LM head: each shape word reads its simplex vector */
    const float *lm = f32(&r->output);
    for (int s = 0; s < 3; s++) {
        const float *row = lm + (size_t)SHAPES[s] * H + F + 15;
        CHECK(fabs(row[0] * SIMPLEX[s][1] - row[1] * SIMPLEX[s][0]) < 1e-5 && row[0] * SIMPLEX[s][0] + row[1] * SIMPLEX[s][1] > 1.0);
    }
    /* 3. the fetch heads: text constant (dim 1) against the indicator (F+17) on pairs 2..15 */
    const float *q = f32(&l2->wq), *kk = f32(&l2->wk);
    double score[2][3];
    const int dist[3] = {15, 26, 48};
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 3; j++) {
            double sc = 0;
            for (int pr = 0; pr < 32; pr++) {
                const double th = pow(500000.0, -2.0 * pr / 64.0);
                sc += (double)q[(size_t)(h * 64 + 2 * pr) * H + 1] * kk[(size_t)(h * 64 + 2 * pr) * H + F + 17] *
                      cos(dist[j] * th);
            }
            score[h][j] = sc;
        }
    CHECK_MSG(score[0][0] > score[0][1] * 1.5 && score[0][1] > score[0][2], "head 0 kernel %g %g %g", score[0][0],
              score[0][1], score[0][2]);
    CHECK_MSG(fabs(score[1][0] - score[1][1]) < 0.2 * score[1][0] && score[1][1] > 1.5 * score[1][2],
              "head 1 kernel %g %g %g", score[1][0], score[1][1], score[1][2]);
    /* 4. nothing else writes the route's dimensions */
    for (int l = 0; l < 3; l++) {
        const float *wo = f32(&r->layers[l].wo), *wd = f32(&r->layers[l].ffn_down);
        for (int d = F; d < F + 18; d++) {
            for (int c = 0; c < H; c++) {
                const bool designed = l == 2 && d < F + 12 && (c == d - F || c == 64 + d - F);
                if (!designed) CHECK_MSG(wo[(size_t)d * H + (size_t)c] == 0.0f, "layer %d attn_output[%d][%d]", l, d, c);
            }
            for (int64_t u = 0; u < Ff; u++) {
                const bool designed = (l == 2 && (d == F + 15 || d == F + 16) && u < 12) || (l == 1 && d == F + 17 && u == 0);
                if (!designed) CHECK_MSG(wd[(size_t)d * Ff + u] == 0.0f, "layer %d ffn_down[%d][%lld]", l, d, (long long)u);
            }
        }
    }
    const float *te = f32(&r->tok_embd);
    for (int64_t t = 0; t < r->hp.n_vocab; t++)
        for (int d = F; d < F + 18; d++) {
            int c = -1;
            for (int i = 0; i < NC; i++)
                if (COLOURS[i] == t) c = i;
            const double want = c >= 0 && d >= F + 12 && d < F + 15 && (d - F - 12) == c / 2 ? (c % 2 ? -1.5 : 1.5) : 0.0;
            CHECK_MSG(te[t * H + d] == (float)want, "embedding %lld dim %d: %g", (long long)t, d, (double)te[t * H + d]);
        }
    /* 5. copied: layer 0's MLP, layer 2's other heads and MLP units, the tower but one bias */
    CHECK(!memcmp(f32(&m->layers[0].ffn_gate), f32(&r->layers[0].ffn_gate), (size_t)(Ff * H) * sizeof(float)));
    CHECK(!memcmp(f32(&m->layers[2].ffn_gate) + 12 * H, gate + 12 * H, (size_t)((Ff - 12) * H) * sizeof(float)));
    CHECK(!memcmp(f32(&m->patch), f32(&r->patch), (size_t)(m->patch.n_out * m->patch.n_in) * sizeof(float)));
    for (int i = 0; i < D; i++)
        CHECK(r->head_down_b[i] == m->head_down_b[i] + (i == IND ? 1.0f : 0.0f));
    vlm_model_free(r);
    vlm_model_free(m);
    free(heads);
}

static void expect_refusal(const vlm_model *m, const vlm_bind_route_params *p, const float *heads, size_t n,
                           const char *msg) {
    char e[512] = "", out[300], dir[300];
    snprintf(dir, sizeof dir, "%s/refused", root);
    mkdir(dir, 0777);
    snprintf(out, sizeof out, "%.280s/x.gguf", dir);
    vlm_status st = vlm_design_bind_route(m, heads, n, p, out, NULL, e, sizeof e);
    CHECK_MSG(st == VLM_ERR_UNSUPPORTED || st == VLM_ERR_INVALID_ARG, "status %d", (int)st);
    CHECK_MSG(strstr(e, msg) != NULL, "message '%s' (expected '%s')", e, msg);
    CHECK(count_entries(dir) == 0);
    printf("refused: %s\n", e);
}

static void test_refusals(const char *tok) {
    char g[300];
    float *heads = samples();
    vlm_model *m = make_model(tok, "fourheads", 3, 4, g, sizeof g); /* heads of 32 */
    vlm_bind_route_params p = params();
    if (m && heads) expect_refusal(m, &p, heads, NF, "heads of 64");
    vlm_model_free(m);
    m = make_model(tok, "two", 2, 2, g, sizeof g);
    if (m && heads) expect_refusal(m, &p, heads, NF, "needs 3 layers");
    vlm_model_free(m);
    m = make_model(tok, "three2", 3, 2, g, sizeof g);
    if (m && heads) {
        p.dim_indicator = BINS + 3; /* inside the bins */
        expect_refusal(m, &p, heads, NF, "out of range");
        p = params();
        p.first_dim = H - 10;
        expect_refusal(m, &p, heads, NF, "out of range");
        p = params();
        p.area_shape[2] = 3;
        expect_refusal(m, &p, heads, NF, "shape 3");
        p = params();
        expect_refusal(m, &p, heads, 1, "1 frames");
        for (int f = 0; f < NF; f++) heads[(size_t)f * D + BINS + 7] = ABSENT; /* green's bin 1: never shown */
        expect_refusal(m, &p, heads, NF, "absent in every sample frame");
    }
    vlm_model_free(m);
    free(heads);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_root_make(root, sizeof root, "bindroute");
    char tok[300];
    snprintf(tok, sizeof tok, "%s/tokenizer.json", root);
    write_llama3_tokenizer(tok);
    test_route(tok);
    test_refusals(tok);
    test_root_finish(root);
    return check_done("test_bindroute");
}
