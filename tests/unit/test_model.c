/* test_model.c - tests of the model runtime (src/model).
 *
 *   test_model                         unit tests on small random GGUF models written here
 *                                      (loader errors, LM cache semantics, eviction, vision,
 *                                      preprocessing, zero allocations in steady state)
 *   test_model golden MODEL GOLD TYPE  compare every stage with the PyTorch goldens of
 *                                      tests/ref/model_ref.py (run by
 *                                      tests/conformance/model_golden.sh)
 *   test_model bench DIR TYPE [VTYPE] [N_THREADS]
 *                                      write a random model at the real VideoLLM-online-8B
 *                                      shapes into DIR (unless present) and time one SigLIP
 *                                      frame and one 11-token LM step on a 2k-token cache
 *   test_model bench-tiny MODEL [N_THREADS]   the same timings on an existing model file
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/kv.h"
#include "model/model.h"
#include "ops/quant.h"
#include "videollm.h"

/* the steady-state loops must not allocate: count allocations */
#include "alloc_count.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ======================================================================================= */
/* Random model writer (the GGUF pair the converter would write, random weights)          */
/* ======================================================================================= */
typedef struct {
    int H, L, NH, NKV, F, V;          /* LM */
    int D, VL, VNH, I, IMG, P;        /* vision */
    int ntok;                         /* 10 (live1+) or 1 (live1) */
    int type, vtype;                  /* weight types of the 2-D weights */
    uint64_t seed;
    const char *omit;                 /* a tensor to leave out (error tests) */
    const char *misshape;             /* a tensor written with a wrong shape */
} rm_cfg;

typedef struct {
    char name[64];
    int type;
    int n_dims;
    int64_t ne[4];
    int kind; /* 0 weight, 1 norm (1 + noise), 2 bias (small) */
} rm_tensor;

typedef struct {
    rm_tensor *t;
    size_t n, cap;
} rm_list;

static void rm_add(rm_list *l, int kind, int type, int n_dims, int64_t a, int64_t b, int64_t c, int64_t d,
                   const char *fmt, ...) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->t = realloc(l->t, l->cap * sizeof *l->t);
    }
    rm_tensor *t = &l->t[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->type = kind ? VLM_DT_F32 : type;
    t->n_dims = n_dims;
    t->ne[0] = a, t->ne[1] = b, t->ne[2] = c, t->ne[3] = d;
    t->kind = kind;
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static float rng_unif(uint64_t *s) { return (float)((rng_next(s) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f; }

static int rm_write(const char *path, const rm_cfg *c, rm_list *l, int is_lm, const char *vision_base) {
    vlm_gguf_writer *w = vlm_gguf_writer_init();
    if (!w) return 1;
    if (is_lm) {
        vlm_gguf_set_str(w, "general.architecture", "llama");
        vlm_gguf_set_u32(w, "llama.embedding_length", (uint32_t)c->H);
        vlm_gguf_set_u32(w, "llama.block_count", (uint32_t)c->L);
        vlm_gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)c->F);
        vlm_gguf_set_u32(w, "llama.attention.head_count", (uint32_t)c->NH);
        vlm_gguf_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->NKV);
        vlm_gguf_set_u32(w, "llama.context_length", 8192);
        vlm_gguf_set_u32(w, "llama.rope.dimension_count", (uint32_t)(c->H / c->NH));
        vlm_gguf_set_u32(w, "llama.vocab_size", (uint32_t)c->V);
        vlm_gguf_set_f32(w, "llama.rope.freq_base", 500000.0f);
        vlm_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
        vlm_gguf_set_u32(w, "videollm.format_version", 1);
        vlm_gguf_set_u32(w, "videollm.frame_num_tokens", (uint32_t)c->ntok);
        vlm_gguf_set_bool(w, "videollm.frame_token_cls", true);
        int32_t pooled[2] = {3, 3};
        vlm_gguf_set_arr_num(w, "videollm.frame_token_pooled", VLM_GGUF_INT32, pooled, c->ntok == 10 ? 2 : 0);
        vlm_gguf_set_u32(w, "videollm.v_placeholder_id", (uint32_t)c->V);
        vlm_gguf_set_i32(w, "videollm.frame_token_interval_id", 11);
        vlm_gguf_set_u32(w, "videollm.eos_token_id", (uint32_t)(c->V - 1));
        vlm_gguf_set_str(w, "videollm.system_prompt", "A test system prompt.");
        vlm_gguf_set_u32(w, "videollm.frame_resolution", (uint32_t)c->IMG);
        vlm_gguf_set_f32(w, "videollm.frame_fps", 2.0f);
        vlm_gguf_set_f32(w, "videollm.stream_threshold", 0.725f);
        vlm_gguf_set_str(w, "videollm.vision_file", vision_base);
    } else {
        vlm_gguf_set_str(w, "general.architecture", "siglip");
        vlm_gguf_set_u32(w, "videollm.vision.embedding_length", (uint32_t)c->D);
        vlm_gguf_set_u32(w, "videollm.vision.block_count", (uint32_t)c->VL);
        vlm_gguf_set_u32(w, "videollm.vision.head_count", (uint32_t)c->VNH);
        vlm_gguf_set_u32(w, "videollm.vision.feed_forward_length", (uint32_t)c->I);
        vlm_gguf_set_u32(w, "videollm.vision.image_size", (uint32_t)c->IMG);
        vlm_gguf_set_u32(w, "videollm.vision.patch_size", (uint32_t)c->P);
        vlm_gguf_set_f32(w, "videollm.vision.layer_norm_epsilon", 1e-6f);
        vlm_gguf_set_str(w, "videollm.vision.hidden_act", "gelu_pytorch_tanh");
        vlm_gguf_set_str(w, "videollm.connector.act", "gelu");
    }
    for (size_t i = 0; i < l->n; i++) {
        rm_tensor *t = &l->t[i];
        if (c->omit && !strcmp(t->name, c->omit)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        if (c->misshape && !strcmp(t->name, c->misshape)) ne[t->n_dims - 1] += 1;
        memcpy(t->ne, ne, sizeof ne);
        if (vlm_gguf_add_tensor(w, t->name, t->type, t->n_dims, ne)) {
            fprintf(stderr, "add %s: %s\n", t->name, vlm_gguf_writer_last_error(w));
            vlm_gguf_writer_free(w);
            return 1;
        }
    }
    if (vlm_gguf_writer_begin(w, path)) {
        fprintf(stderr, "%s: %s\n", path, vlm_gguf_writer_last_error(w));
        vlm_gguf_writer_free(w);
        return 1;
    }
    uint64_t s = c->seed * 2654435761u + (is_lm ? 1 : 2);
    float *row = NULL;
    void *q = NULL;
    size_t row_cap = 0;
    for (size_t i = 0; i < l->n; i++) {
        rm_tensor *t = &l->t[i];
        if (c->omit && !strcmp(t->name, c->omit)) continue;
        int64_t K = t->ne[0], N = t->ne[1] * t->ne[2] * t->ne[3];
        if ((size_t)K > row_cap) {
            row_cap = (size_t)K;
            row = realloc(row, row_cap * sizeof(float));
            q = realloc(q, row_cap * sizeof(float));
        }
        float a = t->kind == 0 ? 1.0f / sqrtf((float)K) * 1.7f : 0.1f;
        for (int64_t r = 0; r < N; r++) {
            for (int64_t k = 0; k < K; k++) row[k] = (t->kind == 1 ? 1.0f : 0.0f) + a * rng_unif(&s);
            vlm_quantize_row(t->type, row, q, K);
            if (vlm_gguf_writer_write(w, q, vlm_dtype_row_size(t->type, K))) {
                fprintf(stderr, "write %s: %s\n", t->name, vlm_gguf_writer_last_error(w));
                free(row), free(q);
                vlm_gguf_writer_free(w);
                return 1;
            }
        }
    }
    free(row);
    free(q);
    vlm_status st = vlm_gguf_writer_finish(w);
    if (st) fprintf(stderr, "%s: %s\n", path, vlm_gguf_writer_last_error(w));
    vlm_gguf_writer_free(w);
    return st != VLM_OK;
}

/* Write the LM file lm_path naming the vision file vis_path (either may be
 * NULL: not written). Returns 0 on success. */
static int rm_model_files(const char *lm_path, const char *vis_path, const rm_cfg *c) {
    rm_list lm = {0}, vis = {0};
    const int H = c->H, Dh = c->H / c->NH, T = c->type, VT = c->vtype;
    rm_add(&lm, 0, T, 2, H, c->V, 1, 1, "token_embd.weight");
    for (int il = 0; il < c->L; il++) {
        rm_add(&lm, 1, T, 1, H, 1, 1, 1, "blk.%d.attn_norm.weight", il);
        rm_add(&lm, 0, T, 2, H, c->NH * Dh, 1, 1, "blk.%d.attn_q.weight", il);
        rm_add(&lm, 0, T, 2, H, c->NKV * Dh, 1, 1, "blk.%d.attn_k.weight", il);
        rm_add(&lm, 0, T, 2, H, c->NKV * Dh, 1, 1, "blk.%d.attn_v.weight", il);
        rm_add(&lm, 0, T, 2, c->NH * Dh, H, 1, 1, "blk.%d.attn_output.weight", il);
        rm_add(&lm, 1, T, 1, H, 1, 1, 1, "blk.%d.ffn_norm.weight", il);
        rm_add(&lm, 0, T, 2, H, c->F, 1, 1, "blk.%d.ffn_gate.weight", il);
        rm_add(&lm, 0, T, 2, H, c->F, 1, 1, "blk.%d.ffn_up.weight", il);
        rm_add(&lm, 0, T, 2, c->F, H, 1, 1, "blk.%d.ffn_down.weight", il);
    }
    rm_add(&lm, 1, T, 1, H, 1, 1, 1, "output_norm.weight");
    rm_add(&lm, 0, T, 2, H, c->V, 1, 1, "output.weight");

    const int D = c->D, I = c->I, P = c->P, Np = (c->IMG / P) * (c->IMG / P);
    /* the conv weight's rows (P elements) cannot be blocks of 32: f16 like the converter */
    rm_add(&vis, 0, VT == VLM_DT_Q8_0 || VT == VLM_DT_Q4_0 ? VLM_DT_F16 : VT, 4, P, P, 3, D, "v.patch_embd.weight");
    rm_add(&vis, 2, VT, 1, D, 1, 1, 1, "v.patch_embd.bias");
    rm_add(&vis, 2, VT, 2, D, Np, 1, 1, "v.position_embd.weight");
    for (int il = 0; il < c->VL; il++) {
        rm_add(&vis, 1, VT, 1, D, 1, 1, 1, "v.blk.%d.ln1.weight", il);
        rm_add(&vis, 2, VT, 1, D, 1, 1, 1, "v.blk.%d.ln1.bias", il);
        const char *pr[4] = {"attn_q", "attn_k", "attn_v", "attn_out"};
        for (int j = 0; j < 4; j++) {
            rm_add(&vis, 0, VT, 2, D, D, 1, 1, "v.blk.%d.%s.weight", il, pr[j]);
            rm_add(&vis, 2, VT, 1, D, 1, 1, 1, "v.blk.%d.%s.bias", il, pr[j]);
        }
        rm_add(&vis, 1, VT, 1, D, 1, 1, 1, "v.blk.%d.ln2.weight", il);
        rm_add(&vis, 2, VT, 1, D, 1, 1, 1, "v.blk.%d.ln2.bias", il);
        rm_add(&vis, 0, VT, 2, D, I, 1, 1, "v.blk.%d.ffn_up.weight", il);
        rm_add(&vis, 2, VT, 1, I, 1, 1, 1, "v.blk.%d.ffn_up.bias", il);
        rm_add(&vis, 0, VT, 2, I, D, 1, 1, "v.blk.%d.ffn_down.weight", il);
        rm_add(&vis, 2, VT, 1, D, 1, 1, 1, "v.blk.%d.ffn_down.bias", il);
    }
    rm_add(&vis, 1, VT, 1, D, 1, 1, 1, "v.post_ln.weight");
    rm_add(&vis, 2, VT, 1, D, 1, 1, 1, "v.post_ln.bias");
    rm_add(&vis, 2, VT, 3, D, 1, 1, 1, "v.head.probe");
    rm_add(&vis, 0, VT, 2, D, 3 * D, 1, 1, "v.head.attn_in.weight");
    rm_add(&vis, 2, VT, 1, 3 * D, 1, 1, 1, "v.head.attn_in.bias");
    rm_add(&vis, 0, VT, 2, D, D, 1, 1, "v.head.attn_out.weight");
    rm_add(&vis, 2, VT, 1, D, 1, 1, 1, "v.head.attn_out.bias");
    rm_add(&vis, 1, VT, 1, D, 1, 1, 1, "v.head.ln.weight");
    rm_add(&vis, 2, VT, 1, D, 1, 1, 1, "v.head.ln.bias");
    rm_add(&vis, 0, VT, 2, D, I, 1, 1, "v.head.ffn_up.weight");
    rm_add(&vis, 2, VT, 1, I, 1, 1, 1, "v.head.ffn_up.bias");
    rm_add(&vis, 0, VT, 2, I, D, 1, 1, "v.head.ffn_down.weight");
    rm_add(&vis, 2, VT, 1, D, 1, 1, 1, "v.head.ffn_down.bias");
    rm_add(&vis, 0, VT, 2, D, H, 1, 1, "mm.0.weight");
    rm_add(&vis, 2, VT, 1, H, 1, 1, 1, "mm.0.bias");
    rm_add(&vis, 0, VT, 2, H, H, 1, 1, "mm.2.weight");
    rm_add(&vis, 2, VT, 1, H, 1, 1, 1, "mm.2.bias");

    const char *base = vis_path ? strrchr(vis_path, '/') : NULL;
    base = base ? base + 1 : vis_path ? vis_path : "none.gguf";
    int rc = (lm_path && rm_write(lm_path, c, &lm, 1, base)) || (vis_path && rm_write(vis_path, c, &vis, 0, NULL));
    free(lm.t);
    free(vis.t);
    return rc;
}

/* Write PATH (LM) and PATH.vision.gguf. Returns 0 on success. */
static int rm_model(const char *path, const rm_cfg *c) {
    char vpath[1024];
    snprintf(vpath, sizeof vpath, "%s.vision.gguf", path);
    return rm_model_files(path, vpath, c);
}

static rm_cfg tiny_cfg(void) {
    rm_cfg c = {.H = 64, .L = 2, .NH = 4, .NKV = 2, .F = 96, .V = 200, .D = 32, .VL = 2, .VNH = 2, .I = 64,
                .IMG = 64, .P = 16, .ntok = 10, .type = VLM_DT_F32, .vtype = VLM_DT_F32, .seed = 7};
    return c;
}

/* ======================================================================================= */
/* Unit tests                                                                             */
/* ======================================================================================= */
static char tmpdir[512];

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

static void test_preprocess(void) {
    /* geometry: wide, tall, square; padding is black; a constant image stays constant */
    const int32_t S = 64;
    uint8_t *out = malloc((size_t)S * S * 3);
    struct { int w, h, ow, oh; } cases[] = {{100, 50, 64, 32}, {50, 100, 32, 64}, {64, 64, 64, 64}, {1280, 720, 64, 36},
                                          {3, 200, 2, 64}, {200, 1, 64, 2}, {97, 61, 64, 40}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int w = cases[ci].w, h = cases[ci].h;
        uint8_t *img = malloc((size_t)w * h * 3);
        for (int i = 0; i < w * h; i++) img[i * 3] = 200, img[i * 3 + 1] = 17, img[i * 3 + 2] = 255;
        CHECK(vlm_frame_letterbox(img, w, h, (size_t)w * 3, S, out) == VLM_OK);
        int x0 = (S - cases[ci].ow) / 2, y0 = (S - cases[ci].oh) / 2, bad = 0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                bool inside = x >= x0 && x < x0 + cases[ci].ow && y >= y0 && y < y0 + cases[ci].oh;
                const uint8_t *p = out + ((size_t)y * S + x) * 3;
                if (inside ? (p[0] != 200 || p[1] != 17 || p[2] != 255) : (p[0] | p[1] | p[2])) bad++;
            }
        CHECK_MSG(bad == 0, "letterbox %dx%d: %d pixels wrong", w, h, bad);
        free(img);
    }
    /* same size: identity (the cubic is 1 at 0 and 0 at +-1, +-2) */
    uint8_t *img = malloc((size_t)S * S * 3);
    uint64_t s = 99;
    for (int i = 0; i < S * S * 3; i++) img[i] = (uint8_t)(rng_next(&s) >> 56);
    CHECK(vlm_frame_letterbox(img, S, S, (size_t)S * 3, S, out) == VLM_OK);
    CHECK(memcmp(img, out, (size_t)S * S * 3) == 0);
    /* a padded stride is honoured */
    uint8_t *wide = calloc((size_t)S * (S * 3 + 5), 1);
    for (int y = 0; y < S; y++) memcpy(wide + (size_t)y * (S * 3 + 5), img + (size_t)y * S * 3, (size_t)S * 3);
    CHECK(vlm_frame_letterbox(wide, S, S, (size_t)S * 3 + 5, S, out) == VLM_OK);
    CHECK(memcmp(img, out, (size_t)S * S * 3) == 0);
    free(wide);
    /* bad arguments */
    CHECK(vlm_frame_letterbox(NULL, S, S, (size_t)S * 3, S, out) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_frame_letterbox(img, 0, S, (size_t)S * 3, S, out) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_frame_letterbox(img, S, S, (size_t)S * 3 - 1, S, out) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_frame_letterbox(img, S, S, (size_t)S * 3, 1, out) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_frame_letterbox_scratch(img, S, S, (size_t)S * 3, S, out, out, 1) == VLM_ERR_INVALID_ARG);
    /* normalisation */
    float *px = malloc(sizeof(float) * 3 * S * S);
    img[0] = 0, img[1] = 255, img[2] = 128;
    CHECK(vlm_frame_to_pixels(img, S, px) == VLM_OK);
    CHECK(px[0] == -1.0f && px[S * S] == 1.0f && fabsf(px[2 * S * S] - (128 / 255.0f - 0.5f) / 0.5f) < 1e-6f);
    free(px);
    free(img);
    free(out);
}

static void test_load_errors(void) {
    char path[600], err[512];
    vlm_model *m = (vlm_model *)1;
    vlm_model_params mp = vlm_model_default_params();
    mp.load_tokenizer = false;
    snprintf(path, sizeof path, "%s/none.gguf", tmpdir);
    CHECK(vlm_model_load(path, &mp, &m, err, sizeof err) == VLM_ERR_IO && m == NULL);
    CHECK(strstr(err, "none.gguf") != NULL);

    const char *cases[][2] = {{"blk.1.ffn_up.weight", NULL}, {NULL, "blk.0.attn_k.weight"},
                              {"v.head.attn_in.bias", NULL}, {NULL, "mm.2.weight"}, {"output_norm.weight", NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rm_cfg c = tiny_cfg();
        c.omit = cases[i][0];
        c.misshape = cases[i][1];
        snprintf(path, sizeof path, "%s/bad%zu.gguf", tmpdir, i);
        CHECK(rm_model(path, &c) == 0);
        err[0] = 0;
        vlm_status st = vlm_model_load(path, &mp, &m, err, sizeof err);
        const char *name = cases[i][0] ? cases[i][0] : cases[i][1];
        CHECK_MSG(st == VLM_ERR_FORMAT && m == NULL && strstr(err, name), "case %s: status %d, '%s'", name, st, err);
    }
    /* inconsistent hyper-parameters */
    {
        rm_cfg c = tiny_cfg();
        c.NH = 5; /* 64 is not divisible by 5 heads */
        snprintf(path, sizeof path, "%s/heads.gguf", tmpdir);
        CHECK(rm_model(path, &c) == 0);
        CHECK(vlm_model_load(path, &mp, &m, err, sizeof err) == VLM_ERR_FORMAT && strstr(err, "divisible"));
        c = tiny_cfg();
        c.ntok = 7; /* neither CLS + 3x3 nor CLS alone */
        snprintf(path, sizeof path, "%s/ntok.gguf", tmpdir);
        CHECK(rm_model(path, &c) == 0);
        CHECK(vlm_model_load(path, &mp, &m, err, sizeof err) == VLM_ERR_FORMAT && strstr(err, "frame_num_tokens"));
    }
    /* the vision file is missing */
    rm_cfg c = tiny_cfg();
    snprintf(path, sizeof path, "%s/novis.gguf", tmpdir);
    CHECK(rm_model(path, &c) == 0);
    char vpath[700];
    snprintf(vpath, sizeof vpath, "%s.vision.gguf", path);
    unlink(vpath);
    CHECK(vlm_model_load(path, &mp, &m, err, sizeof err) == VLM_ERR_IO && strstr(err, "novis.gguf.vision.gguf"));
    /* ... which is fine without the vision tower */
    mp.load_vision = false;
    CHECK(vlm_model_load(path, &mp, &m, err, sizeof err) == VLM_OK);
    CHECK(m && !vlm_model_has_vision(m));
    vlm_vision_context *vc = (vlm_vision_context *)1;
    CHECK(vlm_vision_context_init(m, NULL, &vc, err, sizeof err) == VLM_ERR_INVALID_ARG && vc == NULL);
    vlm_model_free(m);
    /* the vision file given as the LM file */
    mp.load_vision = true;
    snprintf(path, sizeof path, "%s/bad0.gguf.vision.gguf", tmpdir);
    CHECK(vlm_model_load(path, &mp, &m, err, sizeof err) == VLM_ERR_FORMAT && strstr(err, "llama"));
}

static vlm_model *load_tiny(const rm_cfg *c, const char *name) {
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, name);
    if (rm_model(path, c)) return NULL;
    vlm_model_params mp = vlm_model_default_params();
    mp.load_tokenizer = false;
    vlm_model *m = NULL;
    if (vlm_model_load(path, &mp, &m, err, sizeof err)) fprintf(stderr, "load %s: %s\n", path, err);
    return m;
}

/* Deterministic mixed input: tokens and, at positions % 5 == 2, embedding rows. */
static void make_inputs(const vlm_model *m, vlm_lm_input *in, size_t n, float *embd) {
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    uint64_t s = 1234;
    for (size_t i = 0; i < n; i++) {
        if (i % 5 == 2) {
            for (int j = 0; j < hp->n_embd; j++) embd[i * hp->n_embd + j] = rng_unif(&s);
            in[i] = (vlm_lm_input){.token = -1, .embd = embd + i * hp->n_embd};
        } else {
            in[i] = (vlm_lm_input){.token = (int32_t)(rng_next(&s) % (uint64_t)hp->n_vocab), .embd = NULL};
        }
    }
}

static void test_lm(void) {
    rm_cfg c = tiny_cfg();
    vlm_model *m = load_tiny(&c, "lm");
    CHECK(m != NULL);
    if (!m) return;
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    CHECK(hp->n_embd == 64 && hp->n_layer == 2 && hp->n_head == 4 && hp->n_head_kv == 2 && hp->n_ff == 96 &&
          hp->n_vocab == 200 && hp->n_head_dim == 16 && hp->rope_theta == 500000.0f);
    CHECK(vlm_model_frame_num_tokens(m) == 10 && vlm_model_v_placeholder_id(m) == 200 &&
          vlm_model_frame_interval_id(m) == 11 && vlm_model_eos_id(m) == 199);
    CHECK(vlm_model_stream_threshold(m) == 0.725f && vlm_model_frame_fps(m) == 2.0f &&
          vlm_model_frame_resolution(m) == 64);
    CHECK(!strcmp(vlm_model_system_prompt(m), "A test system prompt.") && vlm_model_tokenizer(m) == NULL);

    enum { N = 23 };
    const size_t V = 200;
    vlm_lm_input in[N];
    float *embd = calloc((size_t)N * 64, sizeof(float));
    make_inputs(m, in, N, embd);
    float *all = malloc(N * V * sizeof(float)), *inc = malloc(N * V * sizeof(float)), *last = malloc(V * 4);
    char err[256];
    vlm_lm_context_params cp = vlm_lm_context_default_params();
    cp.n_ctx = 32;
    vlm_lm_context *a = NULL, *b = NULL;
    CHECK(vlm_lm_context_init(m, &cp, &a, err, sizeof err) == VLM_OK);
    cp.n_batch = 4; /* forces internal splitting */
    cp.n_threads = 1;
    CHECK(vlm_lm_context_init(m, &cp, &b, err, sizeof err) == VLM_OK);
    CHECK(vlm_lm_eval(a, in, N, VLM_LOGITS_ALL, all) == VLM_OK && vlm_lm_kv_len(a) == N);
    /* incremental: one position at a time through the cache */
    for (size_t i = 0; i < N; i++) CHECK(vlm_lm_eval(b, in + i, 1, VLM_LOGITS_LAST, inc + i * V) == VLM_OK);
    double d = max_abs_diff(all, inc, N * V);
    CHECK_MSG(d < 1e-4, "cache vs one pass: max diff %g", d);
    /* trim and re-run the tail: same logits */
    CHECK(vlm_lm_kv_trim(a, 10) == VLM_OK && vlm_lm_kv_len(a) == 10);
    CHECK(vlm_lm_eval(a, in + 10, N - 10, VLM_LOGITS_LAST, last) == VLM_OK);
    d = max_abs_diff(last, all + (N - 1) * V, V);
    CHECK_MSG(d < 1e-4, "after trim: max diff %g", d);
    /* errors leave the cache untouched */
    int32_t len = vlm_lm_kv_len(a);
    CHECK(vlm_lm_eval(a, in, 10, VLM_LOGITS_LAST, last) == VLM_ERR_CTX_FULL && vlm_lm_kv_len(a) == len);
    CHECK(strstr(vlm_lm_last_error(a), "full") != NULL);
    vlm_lm_input bad[2] = {{.token = 3}, {.token = 200}};
    CHECK(vlm_lm_eval(a, bad, 2, VLM_LOGITS_LAST, last) == VLM_ERR_INVALID_ARG && vlm_lm_kv_len(a) == len);
    CHECK(strstr(vlm_lm_last_error(a), "<v>") != NULL);
    bad[1].token = -5;
    CHECK(vlm_lm_eval(a, bad, 2, VLM_LOGITS_LAST, last) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_lm_eval(a, bad, 1, VLM_LOGITS_LAST, NULL) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_lm_eval(a, bad, 0, VLM_LOGITS_NONE, NULL) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_lm_eval(a, bad, 1, VLM_LOGITS_NONE, NULL) == VLM_OK && vlm_lm_kv_len(a) == len + 1);
    CHECK(vlm_lm_kv_trim(a, len + 2) == VLM_ERR_INVALID_ARG && vlm_lm_kv_trim(a, -1) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_lm_kv_trim(a, 0) == VLM_OK && vlm_lm_kv_len(a) == 0);

    /* zero allocations in the steady state */
    long a0 = allocs();
    CHECK(vlm_lm_eval(a, in, 11, VLM_LOGITS_LAST, last) == VLM_OK);
    for (int i = 0; i < 5; i++) CHECK(vlm_lm_eval(a, in + 11 + i, 1, VLM_LOGITS_LAST, last) == VLM_OK);
    CHECK_MSG(allocs() == a0, "%ld allocations during vlm_lm_eval", allocs() - a0);

    /* f16 KV cache: close to f32 */
    cp.kv_f16 = true;
    vlm_lm_context *h = NULL;
    CHECK(vlm_lm_context_init(m, &cp, &h, err, sizeof err) == VLM_OK);
    CHECK(vlm_lm_eval(h, in, N, VLM_LOGITS_ALL, inc) == VLM_OK);
    double mx = 0;
    for (size_t i = 0; i < N * V; i++) mx = fmax(mx, fabs(all[i]));
    d = max_abs_diff(all, inc, N * V);
    CHECK_MSG(d < 5e-3 * mx, "f16 KV: max diff %g (max |logit| %g)", d, mx);
    vlm_lm_context_free(h);
    vlm_lm_context_free(a);
    vlm_lm_context_free(b);
    free(all), free(inc), free(last), free(embd);
    vlm_model_free(m);
    vlm_lm_context_free(NULL);
    vlm_model_free(NULL);
}

/* Eviction: with one layer, K/V depend only on the input row and its
 * position, so after evicting [s, s+c) and re-rotating the later keys, the
 * next position must see exactly the cache a fresh run of the kept inputs
 * builds. */
static void test_evict(void) {
    rm_cfg c = tiny_cfg();
    c.L = 1;
    vlm_model *m = load_tiny(&c, "evict");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 20, S = 4, C = 7 };
    const size_t V = 200;
    vlm_lm_input in[N + 1], kept[N + 1 - C];
    float *embd = calloc((size_t)(N + 1) * 64, sizeof(float));
    make_inputs(m, in, N + 1, embd);
    for (size_t i = 0, j = 0; i <= N; i++)
        if (i < S || i >= S + C) kept[j++] = in[i];
    float *l1 = malloc(V * 4), *l2 = malloc(V * 4);
    char err[256];
    for (int f16 = 0; f16 < 2; f16++) {
        vlm_lm_context_params cp = vlm_lm_context_default_params();
        cp.n_ctx = 64;
        cp.n_batch = 5;
        cp.kv_f16 = f16;
        vlm_lm_context *a = NULL, *b = NULL;
        CHECK(vlm_lm_context_init(m, &cp, &a, err, sizeof err) == VLM_OK);
        CHECK(vlm_lm_context_init(m, &cp, &b, err, sizeof err) == VLM_OK);
        CHECK(vlm_lm_eval(a, in, N, VLM_LOGITS_NONE, NULL) == VLM_OK);
        CHECK(vlm_lm_kv_evict(a, S, C) == VLM_OK && vlm_lm_kv_len(a) == N - C);
        CHECK(vlm_lm_eval(a, in + N, 1, VLM_LOGITS_LAST, l1) == VLM_OK);
        CHECK(vlm_lm_eval(b, kept, N + 1 - C, VLM_LOGITS_LAST, l2) == VLM_OK);
        double d = max_abs_diff(l1, l2, V);
        CHECK_MSG(d < (f16 ? 2e-2 : 1e-4), "evict (kv %s): max diff %g", f16 ? "f16" : "f32", d);
        CHECK(vlm_lm_kv_evict(a, 0, 100) == VLM_ERR_INVALID_ARG && vlm_lm_kv_evict(a, -1, 1) == VLM_ERR_INVALID_ARG);
        CHECK(vlm_lm_kv_evict(a, 3, 0) == VLM_OK && vlm_lm_kv_len(a) == N - C + 1);
        vlm_lm_context_free(a);
        vlm_lm_context_free(b);
    }
    free(l1), free(l2), free(embd);
    vlm_model_free(m);
}

typedef struct {
    float *post_ln;
    int n_layers_seen;
} vis_obs;

static void vis_cb(void *ud, const char *name, int32_t layer, const float *data, int64_t rows, int64_t cols) {
    vis_obs *o = ud;
    if (!strcmp(name, "v.layer")) o->n_layers_seen++;
    if (!strcmp(name, "v.post_ln")) memcpy(o->post_ln, data, (size_t)(rows * cols) * sizeof(float));
    (void)layer;
}

static void test_vision(void) {
    for (int variant = 0; variant < 3; variant++) {
        rm_cfg c = tiny_cfg();
        if (variant == 1) c.ntok = 1;                               /* live1: CLS only */
        if (variant == 2) c.vtype = VLM_DT_Q8_0, c.IMG = 48;       /* 3x3 patches: 1 per cell */
        vlm_model *m = load_tiny(&c, variant == 0 ? "vis" : variant == 1 ? "vis1" : "vis2");
        CHECK(m != NULL);
        if (!m) continue;
        const int S = c.IMG, D = c.D, H = c.H, g = S / c.P, ntok = c.ntok;
        char err[256];
        float *post = malloc(sizeof(float) * g * g * D);
        vis_obs obs = {post, 0};
        vlm_vision_context_params vp = vlm_vision_context_default_params();
        vp.cb = vis_cb;
        vp.cb_user_data = &obs;
        vlm_vision_context *vc = NULL;
        CHECK(vlm_vision_context_init(m, &vp, &vc, err, sizeof err) == VLM_OK);
        if (!vc) { vlm_model_free(m); free(post); continue; }
        uint8_t *rgb = malloc((size_t)S * S * 3);
        uint64_t s = 5;
        for (int i = 0; i < S * S * 3; i++) rgb[i] = (uint8_t)(rng_next(&s) >> 56);
        float *tok = malloc(sizeof(float) * ntok * D), *tok2 = malloc(sizeof(float) * ntok * D);
        float *px = malloc(sizeof(float) * 3 * S * S);
        float *e1 = malloc(sizeof(float) * ntok * H), *e2 = malloc(sizeof(float) * ntok * H);
        CHECK(vlm_vision_encode_rgb(vc, rgb, tok) == VLM_OK);
        CHECK(obs.n_layers_seen == c.VL);
        CHECK(vlm_frame_to_pixels(rgb, S, px) == VLM_OK);
        CHECK(vlm_vision_encode(vc, px, tok2) == VLM_OK);
        CHECK(max_abs_diff(tok, tok2, (size_t)ntok * D) == 0.0);
        bool finite = true;
        for (int i = 0; i < ntok * D; i++) finite &= isfinite(tok[i]) != 0;
        CHECK(finite);
        if (ntok == 10) {
            /* pooled cell (1,2) = mean of its adaptive_avg_pool2d bin of the post-LN grid:
             * rows [floor(i*g/3), ceil((i+1)*g/3)) (bins overlap when 3 does not divide g) */
            int by = 1, bx = 2, y0 = by * g / 3, y1 = ((by + 1) * g + 2) / 3, x0 = bx * g / 3, x1 = ((bx + 1) * g + 2) / 3;
            double worst = 0;
            for (int j = 0; j < D; j++) {
                double acc = 0;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) acc += post[(y * g + x) * D + j];
                worst = fmax(worst, fabs(acc / ((y1 - y0) * (x1 - x0)) - tok[(1 + by * 3 + bx) * D + j]));
            }
            CHECK_MSG(worst < 1e-5, "pooling: max diff %g", worst);
        }
        long a0 = allocs();
        CHECK(vlm_vision_embed_rgb(vc, rgb, e1) == VLM_OK);
        CHECK(vlm_connector(vc, tok, (size_t)ntok, e2) == VLM_OK);
        CHECK_MSG(allocs() == a0, "%ld allocations while encoding a frame", allocs() - a0);
        CHECK(max_abs_diff(e1, e2, (size_t)ntok * H) == 0.0);
        /* the connector on a long input (chunked) equals row by row */
        float *many = malloc(sizeof(float) * 37 * D), *mo = malloc(sizeof(float) * 37 * H), *one = malloc(4 * H);
        for (int i = 0; i < 37 * D; i++) many[i] = rng_unif(&s);
        CHECK(vlm_connector(vc, many, 37, mo) == VLM_OK);
        CHECK(vlm_connector(vc, many + 33 * D, 1, one) == VLM_OK);
        CHECK(max_abs_diff(one, mo + 33 * H, (size_t)H) < 1e-6);
        CHECK(vlm_vision_encode(vc, NULL, tok) == VLM_ERR_INVALID_ARG);
        free(many), free(mo), free(one);
        free(rgb), free(tok), free(tok2), free(px), free(e1), free(e2), free(post);
        vlm_vision_context_free(vc);
        vlm_model_free(m);
    }
}

/* ======================================================================================= */
/* Golden comparison against tests/ref/model_ref.py                                       */
/* ======================================================================================= */
typedef struct {
    double rel_tol;  /* max |a-b| / max |b| */
    double nmse_tol; /* sum (a-b)^2 / sum b^2 */
    bool greedy_exact;
} tolerances;

static vlm_st_file *gold;
static int golden_failures;

static float *gold_f32(const char *name, int64_t *n) {
    const vlm_st_tensor *t = vlm_st_find(gold, name);
    if (!t) {
        fprintf(stderr, "golden tensor %s is missing\n", name);
        golden_failures++;
        return NULL;
    }
    float *buf = malloc((size_t)t->n_elements * sizeof(float) + 1);
    char err[256];
    if (vlm_st_read_f32(t, 0, t->n_elements, buf, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        free(buf);
        golden_failures++;
        return NULL;
    }
    if (n) *n = t->n_elements;
    return buf;
}

static void *gold_raw(const char *name, vlm_st_dtype dt, int64_t *n) {
    const vlm_st_tensor *t = vlm_st_find(gold, name);
    if (!t || t->dtype != dt) {
        fprintf(stderr, "golden tensor %s is missing or has the wrong dtype\n", name);
        golden_failures++;
        return NULL;
    }
    void *buf = malloc(t->nbytes + 1);
    memcpy(buf, t->data, t->nbytes);
    if (n) *n = t->n_elements;
    return buf;
}

static void compare(const char *stage, const float *got, const float *want, int64_t n, const tolerances *tol) {
    if (!got || !want) {
        golden_failures++;
        printf("  %-22s MISSING\n", stage);
        return;
    }
    double md = 0, mref = 0, se = 0, sr = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= md)) md = d;
        mref = fmax(mref, fabs(want[i]));
        se += d * d;
        sr += (double)want[i] * want[i];
    }
    double rel = md / (mref > 0 ? mref : 1), nmse = se / (sr > 0 ? sr : 1);
    bool ok = rel <= tol->rel_tol && nmse <= tol->nmse_tol;
    if (!ok) golden_failures++;
    printf("  %-22s n=%-7lld max|ref| %-9.3g maxerr/max|ref| %-9.3g nmse %-9.3g %s\n", stage, (long long)n, mref, rel,
           nmse, ok ? "ok" : "FAIL");
}

typedef struct {
    float *store[64];
    char names[64][32];
    int n;
} capture;

static void cap_cb(void *ud, const char *name, int32_t layer, const float *data, int64_t rows, int64_t cols) {
    capture *c = ud;
    if (c->n >= 64) return;
    snprintf(c->names[c->n], sizeof c->names[c->n], layer >= 0 ? "%s.%d" : "%s", name, layer);
    c->store[c->n] = malloc((size_t)(rows * cols) * sizeof(float));
    memcpy(c->store[c->n], data, (size_t)(rows * cols) * sizeof(float));
    c->n++;
}

static const float *cap_get(const capture *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->names[i], name)) return c->store[i];
    return NULL;
}

static void cap_free(capture *c) {
    for (int i = 0; i < c->n; i++) free(c->store[i]);
    c->n = 0;
}

static int cmd_golden(const char *model_path, const char *gold_path, const char *type) {
    char err[512];
    tolerances tol;
    /* see docs/runtime.md for how these bounds were chosen */
    if (!strcmp(type, "f32"))
        tol = (tolerances){1e-4, 1e-8, true};
    else if (!strcmp(type, "f16"))
        tol = (tolerances){5e-3, 1e-5, false};
    else if (!strcmp(type, "bf16"))
        tol = (tolerances){3e-2, 1e-4, false};
    else if (!strcmp(type, "q8_0"))
        tol = (tolerances){1e9, 2e-3, false};
    else if (!strcmp(type, "q4_0"))
        tol = (tolerances){1e9, 6e-2, false};
    else {
        fprintf(stderr, "unknown type %s\n", type);
        return 2;
    }
    if (vlm_st_open(gold_path, &gold, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    if (vlm_model_load(model_path, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        vlm_st_close(gold);
        return 1;
    }
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    const int64_t S = hp->v_image_size, D = hp->v_n_embd, H = hp->n_embd, V = hp->n_vocab;
    const int64_t ntok = hp->frame_num_tokens, g = S / hp->v_patch_size, Np = g * g;
    printf("model %s: LM %s H=%lld L=%d V=%lld; vision %s D=%lld L=%d S=%lld\n", model_path,
           vlm_dtype_name(hp->lm_weight_type), (long long)H, hp->n_layer, (long long)V,
           vlm_dtype_name(hp->v_weight_type), (long long)D, hp->v_n_layer, (long long)S);

    /* ---- preprocessing (independent of the weight type) ---- */
    tolerances exact = {1e-6, 1e-12, true};
    const char *lb[2] = {"tall", "wide"};
    for (int i = 0; i < 2; i++) {
        char nsrc[64], nout[64];
        snprintf(nsrc, sizeof nsrc, "pp.lb_src_%s", lb[i]);
        snprintf(nout, sizeof nout, "pp.lb_out_%s", lb[i]);
        const vlm_st_tensor *ts = vlm_st_find(gold, nsrc);
        uint8_t *src = gold_raw(nsrc, VLM_ST_U8, NULL), *want = gold_raw(nout, VLM_ST_U8, NULL);
        if (!ts || !src || !want) continue;
        int32_t h = (int32_t)ts->shape[0], w = (int32_t)ts->shape[1];
        uint8_t *got = malloc((size_t)S * S * 3);
        CHECK(vlm_frame_letterbox(src, w, h, (size_t)w * 3, (int32_t)S, got) == VLM_OK);
        int64_t off1 = 0, off2 = 0;
        for (int64_t j = 0; j < S * S * 3; j++) {
            int d = abs((int)got[j] - (int)want[j]);
            off1 += d == 1;
            off2 += d > 1;
        }
        /* float vs double rounding may move a value sitting on .5 by one level */
        bool ok = off2 == 0 && off1 <= S * S * 3 / 1000;
        if (!ok) golden_failures++;
        printf("  letterbox %-4s %dx%d  pixels off by 1: %lld, by more: %lld %s\n", lb[i], w, h, (long long)off1,
               (long long)off2, ok ? "ok" : "FAIL");
        free(src), free(want), free(got);
    }
    uint8_t *frame = gold_raw("pp.frame", VLM_ST_U8, NULL);
    float *pix = malloc(sizeof(float) * 3 * S * S), *gpix = gold_f32("pp.pixels", NULL);
    if (frame) vlm_frame_to_pixels(frame, (int32_t)S, pix);
    compare("pixels", frame ? pix : NULL, gpix, 3 * S * S, &exact);

    /* ---- vision tower ---- */
    capture cap = {0};
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    vp.cb = cap_cb;
    vp.cb_user_data = &cap;
    vlm_vision_context *vc = NULL;
    if (vlm_vision_context_init(m, &vp, &vc, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    float *tokens = malloc(sizeof(float) * ntok * D);
    double t0 = now_s();
    CHECK(vlm_vision_encode(vc, gpix ? gpix : pix, tokens) == VLM_OK);
    double t_vis = now_s() - t0;
    char name[64];
    float *gv;
    compare("v.embd", cap_get(&cap, "v.embd"), gv = gold_f32("v.embd", NULL), Np * D, &tol), free(gv);
    for (int il = 0; il < hp->v_n_layer; il++) {
        char cn[64];
        snprintf(name, sizeof name, "v.layer.%d", il);
        snprintf(cn, sizeof cn, "v.layer.%d", il);
        compare(name, cap_get(&cap, cn), gv = gold_f32(name, NULL), Np * D, &tol), free(gv);
    }
    compare("v.post_ln", cap_get(&cap, "v.post_ln"), gv = gold_f32("v.post_ln", NULL), Np * D, &tol), free(gv);
    compare("v.cls", cap_get(&cap, "v.cls"), gv = gold_f32("v.cls", NULL), D, &tol), free(gv);
    compare("v.pooled", cap_get(&cap, "v.pooled"), gv = gold_f32("v.pooled", NULL), 9 * D, &tol), free(gv);
    float *gtok = gold_f32("v.frame_tokens", NULL);
    compare("v.frame_tokens", tokens, gtok, ntok * D, &tol);
    cap_free(&cap);
    /* ---- connector: on the golden tokens (this stage alone) and on ours (end to end) ---- */
    float *fe = malloc(sizeof(float) * ntok * H), *fe2 = malloc(sizeof(float) * ntok * H);
    float *gmm = gold_f32("mm.out", NULL);
    if (gtok) CHECK(vlm_connector(vc, gtok, (size_t)ntok, fe) == VLM_OK);
    compare("mm.out (gold input)", gtok ? fe : NULL, gmm, ntok * H, &tol);
    CHECK(vlm_connector(vc, tokens, (size_t)ntok, fe2) == VLM_OK);
    compare("mm.out (end to end)", fe2, gmm, ntok * H, &tol);

    /* ---- language model: the mixed prompt, frame rows from the golden connector output ---- */
    int64_t T = 0, nchunk = 0, ngreedy = 0;
    int32_t *ids = gold_raw("lm.ids", VLM_ST_I32, &T), *chunks = gold_raw("lm.chunks", VLM_ST_I32, &nchunk);
    int32_t *vid = gold_raw("lm.v_id", VLM_ST_I32, NULL), *greedy = gold_raw("lm.greedy", VLM_ST_I32, &ngreedy);
    if (!ids || !chunks || !vid || !greedy || !gmm) return 1;
    bool vid_ok = vid[0] == hp->v_placeholder_id;
    printf("  <v> id: reference %d, model %d %s\n", vid[0], hp->v_placeholder_id, vid_ok ? "ok" : "FAIL");
    if (!vid_ok) golden_failures++;
    vlm_lm_input *in = calloc((size_t)T + 16, sizeof *in);
    for (int64_t t = 0, f = 0; t < T; t++) {
        if (ids[t] == hp->v_placeholder_id && f < ntok)
            in[t] = (vlm_lm_input){.token = -1, .embd = gmm + (f++) * H};
        else
            in[t] = (vlm_lm_input){.token = ids[t]};
    }
    vlm_lm_context_params cp = vlm_lm_context_default_params();
    cp.n_ctx = 256;
    cp.cb = cap_cb;
    cp.cb_user_data = &cap;
    vlm_lm_context *lc = NULL;
    if (vlm_lm_context_init(m, &cp, &lc, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    float *logits = malloc(sizeof(float) * (T + 1) * V), *inc = malloc(sizeof(float) * (T + 1) * V);
    CHECK(vlm_lm_eval(lc, in, (size_t)T, VLM_LOGITS_ALL, logits) == VLM_OK);
    for (int il = 0; il < hp->n_layer; il++) {
        snprintf(name, sizeof name, "lm.layer.%d", il);
        compare(name, cap_get(&cap, name), gv = gold_f32(name, NULL), T * H, &tol), free(gv);
    }
    compare("lm.norm", cap_get(&cap, "lm.norm"), gv = gold_f32("lm.norm", NULL), T * H, &tol), free(gv);
    float *glog = gold_f32("lm.logits", NULL);
    compare("lm.logits", logits, glog, T * V, &tol);
    cap_free(&cap);
    /* greedy continuation through the cache */
    int32_t got_tok[64];
    int n_match = 0;
    const float *last = logits + (T - 1) * V;
    float *step = malloc(sizeof(float) * V);
    for (int64_t i = 0; i < ngreedy && i < 64; i++) {
        int32_t best = 0;
        for (int64_t j = 1; j < V; j++)
            if (last[j] > last[best]) best = (int32_t)j;
        got_tok[i] = best;
        if (best == greedy[i] && n_match == i) n_match++;
        vlm_lm_input one = {.token = best};
        CHECK(vlm_lm_eval(lc, &one, 1, VLM_LOGITS_LAST, step) == VLM_OK);
        last = step;
    }
    cap_free(&cap); /* what the hook saw during the greedy steps */
    printf("  greedy tokens:");
    for (int64_t i = 0; i < ngreedy; i++) printf(" %d/%d", got_tok[i], greedy[i]);
    printf("  (ours/reference) %d of %lld agree from the start%s\n", n_match, (long long)ngreedy,
           tol.greedy_exact ? (n_match == ngreedy ? " ok" : " FAIL") : " (reported only)");
    if (tol.greedy_exact && n_match != ngreedy) golden_failures++;
    /* incremental: the reference's 3 chunks through a fresh context */
    vlm_lm_context_free(lc);
    cp.cb = NULL;
    CHECK(vlm_lm_context_init(m, &cp, &lc, err, sizeof err) == VLM_OK);
    for (int64_t k = 0; k + 1 < nchunk; k++)
        CHECK(vlm_lm_eval(lc, in + chunks[k], (size_t)(chunks[k + 1] - chunks[k]), VLM_LOGITS_ALL,
                          inc + (int64_t)chunks[k] * V) == VLM_OK);
    float *ginc = gold_f32("lm.logits_inc", NULL);
    compare("lm.logits (3 chunks)", inc, ginc, T * V, &tol);
    double dmax = max_abs_diff(inc, logits, (size_t)(T * V));
    bool same = dmax <= 1e-5;
    printf("  cache vs one pass: max |diff| %.3g %s\n", dmax, same ? "ok" : "FAIL");
    if (!same) golden_failures++;
    printf("  time: SigLIP frame %.1f ms (this tiny model)\n", t_vis * 1e3);

    free(ids), free(chunks), free(vid), free(greedy), free(in), free(logits), free(inc), free(step);
    free(glog), free(ginc), free(gmm), free(fe), free(fe2), free(gtok), free(tokens), free(frame), free(pix),
        free(gpix);
    vlm_lm_context_free(lc);
    vlm_vision_context_free(vc);
    vlm_model_free(m);
    vlm_st_close(gold);
    printf("golden %s: %s\n", type, golden_failures ? "FAILED" : "all stages within bounds");
    return golden_failures || check_failures_ ? 1 : 0;
}

/* ======================================================================================= */
/* Timing                                                                                 */
/* ======================================================================================= */
static int parse_type(const char *s) {
    if (!strcmp(s, "f32")) return VLM_DT_F32;
    if (!strcmp(s, "f16")) return VLM_DT_F16;
    if (!strcmp(s, "bf16")) return VLM_DT_BF16;
    if (!strcmp(s, "q8_0")) return VLM_DT_Q8_0;
    if (!strcmp(s, "q4_0")) return VLM_DT_Q4_0;
    return -1;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_model(const char *path, const char *vis_path, int n_threads, int reps, int n_ctx_fill) {
    char err[512];
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    mp.load_tokenizer = false;
    mp.vision_path = vis_path;
    double t0 = now_s();
    if (vlm_model_load(path, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    printf("model %s loaded in %.2f s: LM %s (H %d, %d layers), vision %s (D %d, %d layers), %d threads\n", path,
           now_s() - t0, vlm_dtype_name(hp->lm_weight_type), hp->n_embd, hp->n_layer,
           vlm_dtype_name(hp->v_weight_type), hp->v_n_embd, hp->v_n_layer, n_threads);
    const int S = hp->v_image_size, ntok = hp->frame_num_tokens, H = hp->n_embd;
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    vp.n_threads = n_threads;
    vlm_vision_context *vc = NULL;
    if (vlm_vision_context_init(m, &vp, &vc, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    uint8_t *rgb = malloc((size_t)S * S * 3);
    uint64_t s = 3;
    for (int i = 0; i < S * S * 3; i++) rgb[i] = (uint8_t)(rng_next(&s) >> 56);
    float *fe = malloc(sizeof(float) * ntok * H);
    double tv[16], tl[16];
    for (int r = 0; r < reps; r++) {
        t0 = now_s();
        if (vlm_vision_embed_rgb(vc, rgb, fe)) return 1;
        tv[r] = now_s() - t0;
    }
    vlm_vision_context_free(vc);
    vlm_lm_context_params cp = vlm_lm_context_default_params();
    cp.n_threads = n_threads;
    cp.n_ctx = n_ctx_fill + 64;
    vlm_lm_context *lc = NULL;
    if (vlm_lm_context_init(m, &cp, &lc, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    float *logits = malloc(sizeof(float) * hp->n_vocab);
    vlm_lm_input in[11];
    in[0] = (vlm_lm_input){.token = 11};
    for (int i = 0; i < 10; i++) in[1 + i] = (vlm_lm_input){.token = -1, .embd = fe + (size_t)(i % ntok) * H};
    for (int r = 0; r < reps; r++) {
        vlm_lm_bench_set_kv_len(lc, n_ctx_fill);
        t0 = now_s();
        if (vlm_lm_eval(lc, in, 11, VLM_LOGITS_LAST, logits)) {
            fprintf(stderr, "%s\n", vlm_lm_last_error(lc));
            return 1;
        }
        tl[r] = now_s() - t0;
    }
    qsort(tv, (size_t)reps, sizeof(double), cmp_d);
    qsort(tl, (size_t)reps, sizeof(double), cmp_d);
    printf("SigLIP frame + connector: median %.2f ms (min %.2f, %d runs)\n", tv[reps / 2] * 1e3, tv[0] * 1e3, reps);
    printf("LM step, 11 tokens on a %d-token cache: median %.2f ms (min %.2f, %d runs)\n", n_ctx_fill,
           tl[reps / 2] * 1e3, tl[0] * 1e3, reps);
    vlm_lm_context_free(lc);
    free(rgb), free(fe), free(logits);
    vlm_model_free(m);
    return 0;
}

static int cmd_bench(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: test_model bench DIR TYPE [VTYPE] [N_THREADS] [REPS]\n");
        return 2;
    }
    const char *dir = argv[2];
    int type = parse_type(argv[3]), vtype = argc > 4 ? parse_type(argv[4]) : type;
    int nt = argc > 5 ? atoi(argv[5]) : 2, reps = argc > 6 ? atoi(argv[6]) : 3;
    if (type < 0 || vtype < 0 || nt < 1 || reps < 1 || reps > 16) return 2;
    /* VideoLLM-online-8B-v1+: Llama-3-8B + SigLIP-L/16-384 */
    rm_cfg c = {.H = 4096, .L = 32, .NH = 32, .NKV = 8, .F = 14336, .V = 128256, .D = 1024, .VL = 24, .VNH = 16,
                .I = 4096, .IMG = 384, .P = 16, .ntok = 10, .type = type, .vtype = vtype, .seed = 1};
    char path[1024], vpath[1024];
    snprintf(path, sizeof path, "%s/llama3_8b_%s.gguf", dir, argv[3]);
    snprintf(vpath, sizeof vpath, "%s/siglip_l384_%s.gguf", dir, argc > 4 ? argv[4] : argv[3]);
    struct stat sb;
    for (int i = 0; i < 2; i++) {
        const char *p = i ? vpath : path;
        if (stat(p, &sb) == 0) continue;
        printf("writing %s (random weights) ...\n", p);
        fflush(stdout);
        double t0 = now_s();
        if (rm_model_files(i ? NULL : p, i ? p : NULL, &c)) return 1;
        printf("written in %.1f s\n", now_s() - t0);
    }
    return bench_model(path, vpath, nt, reps, 2048);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 5 && !strcmp(argv[1], "golden")) return cmd_golden(argv[2], argv[3], argv[4]);
    if (argc >= 2 && !strcmp(argv[1], "bench")) return cmd_bench(argc, argv);
    if (argc >= 3 && !strcmp(argv[1], "bench-tiny"))
        return bench_model(argv[2], NULL, argc > 3 ? atoi(argv[3]) : 2, 5, 200);
    const char *base = getenv("VLM_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_model.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    test_preprocess();
    test_load_errors();
    test_lm();
    test_evict();
    test_vision();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("test_model");
}
