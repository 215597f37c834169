/* test_init.c - vlm_init_write (`videollm init`):
 *  - determinism: the same seed writes byte-identical files, another seed
 *    changes every random tensor and nothing else;
 *  - statistics of each kind of tensor against the distribution it should
 *    follow (Llama normal(0, init_std); SigLIP xavier-uniform bounds and
 *    std, lecun truncated normal, position normal(0, 1/sqrt(D)), bias
 *    normal(0, 1e-6); constants exact; both connector modes), with tolerances
 *    of about 5 sampling standard deviations;
 *  - every file readable by our safetensors reader, shapes as documented, the
 *    GGUF pair loadable by the runtime with the expected hyper-parameters;
 *  - bad parameters and tokenizers refused with a message naming the problem,
 *    and nothing left behind (no folder, no temporary, no GGUF). */
#include <dirent.h>
#include <jansson.h>
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
#include "core/util.h"
#include "io/safetensors.h"
#include "videollm.h"

static char root[256];

/* ---- helpers ------------------------------------------------------------------------------------ */

static char *slurp(const char *path, size_t *n) {
    char e[256];
    return vlm_read_file(path, n, e, sizeof e);
}

static const char *FILES[] = {"llm/config.json",         "llm/generation_config.json", "llm/tokenizer.json",
                              "llm/tokenizer_config.json", "llm/model.safetensors",      "vision/config.json",
                              "vision/preprocessor_config.json", "vision/model.safetensors",
                              "adapter/adapter_config.json", "adapter/adapter_model.safetensors"};
#define N_FILES (sizeof FILES / sizeof FILES[0])

/* 1 same bytes, 0 different, -1 missing. */
static int same_bytes(const char *a, const char *b) {
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int r = !x || !y ? -1 : na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return r;
}

static vlm_init_params small_params(const char *tok, const char *out) {
    vlm_init_params p = vlm_init_default_params();
    p.tokenizer_path = tok;
    p.out_dir = out;
    p.n_embd = 64, p.n_layer = 2, p.n_head = 4, p.n_head_kv = 2, p.n_ff = 128;
    p.v_n_embd = 32, p.v_n_layer = 1, p.v_n_head = 2, p.v_n_ff = 64, p.v_patch = 32, p.v_image = 96;
    return p;
}

typedef struct {
    double mean, std, kurt, maxabs, frac1, frac3; /* frac1: |x - mean| < std share; frac3: > 3 std */
    int64_t n;
    bool all_eq;
    float first;
} stats;

static bool tensor_stats(vlm_st_file *f, const char *name, stats *s) {
    memset(s, 0, sizeof *s);
    const vlm_st_tensor *t = vlm_st_find(f, name);
    CHECK_MSG(t != NULL, "tensor %s missing", name);
    if (!t) return false;
    CHECK_MSG(t->dtype == VLM_ST_F32, "%s is not F32", name);
    float *x = malloc((size_t)t->n_elements * sizeof *x);
    char e[256];
    CHECK(vlm_st_read_f32(t, 0, t->n_elements, x, e, sizeof e) == VLM_OK);
    int64_t n = t->n_elements;
    double m = 0, v = 0, k = 0;
    s->all_eq = true;
    s->first = x[0];
    for (int64_t i = 0; i < n; i++) {
        m += x[i];
        if (x[i] != x[0]) s->all_eq = false;
        if (fabs(x[i]) > s->maxabs) s->maxabs = fabs(x[i]);
    }
    m /= (double)n;
    for (int64_t i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    v /= (double)n;
    double sd = sqrt(v);
    int64_t c1 = 0, c3 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - m;
        k += d * d * d * d;
        c1 += fabs(d) < sd;
        c3 += fabs(d) > 3 * sd;
    }
    s->n = n, s->mean = m, s->std = sd;
    s->kurt = v > 0 ? k / (double)n / (v * v) - 3 : 0;
    s->frac1 = (double)c1 / (double)n;
    s->frac3 = (double)c3 / (double)n;
    free(x);
    return true;
}

/* A normal(0, sd) tensor: std within tol (relative), mean and kurtosis within 5 sigma. */
static void expect_normal(vlm_st_file *f, const char *name, double sd, double tol) {
    stats s;
    if (!tensor_stats(f, name, &s)) return;
    CHECK_MSG(fabs(s.std / sd - 1) < tol, "%s: std %.6g, expected %.6g (+-%.0f%%)", name, s.std, sd, tol * 100);
    CHECK_MSG(fabs(s.mean) < 5 * sd / sqrt((double)s.n), "%s: mean %.3g", name, s.mean);
    CHECK_MSG(fabs(s.kurt) < 5 * sqrt(24.0 / (double)s.n) + 0.02, "%s: excess kurtosis %.3f (normal: 0)", name, s.kurt);
    if (s.n >= 10000) { /* the shape, not only the moments */
        CHECK_MSG(fabs(s.frac1 - 0.682689) < 0.015, "%s: %.4f within one std (normal: 0.6827)", name, s.frac1);
        CHECK_MSG(fabs(s.frac3 - 0.0026998) < 0.0015, "%s: %.5f beyond three std (normal: 0.0027)", name, s.frac3);
    }
}

/* uniform(-b, b): inside the bound, reaching it, std b/sqrt(3), kurtosis -1.2. */
static void expect_uniform(vlm_st_file *f, const char *name, double b, double tol) {
    stats s;
    if (!tensor_stats(f, name, &s)) return;
    CHECK_MSG(s.maxabs <= b * (1 + 1e-7), "%s: max |x| %.7g beyond the bound %.7g", name, s.maxabs, b);
    CHECK_MSG(s.maxabs > b * (1 - 20.0 / (double)s.n), "%s: max |x| %.7g far inside the bound %.7g", name, s.maxabs, b);
    CHECK_MSG(fabs(s.std / (b / sqrt(3.0)) - 1) < tol, "%s: std %.6g, expected %.6g", name, s.std, b / sqrt(3.0));
    CHECK_MSG(fabs(s.kurt + 1.2) < 5 * sqrt(2.0 / (double)s.n) + 0.02, "%s: excess kurtosis %.3f (uniform: -1.2)",
              name, s.kurt);
}

/* transformers' lecun_normal_: std sd, every value within 2 sd / 0.8796 (the truncation). */
static void expect_trunc_normal(vlm_st_file *f, const char *name, double sd, double tol) {
    stats s;
    if (!tensor_stats(f, name, &s)) return;
    double b = 2 * sd / 0.87962566103423978;
    CHECK_MSG(s.maxabs <= b * (1 + 1e-7), "%s: max |x| %.6g beyond the truncation %.6g", name, s.maxabs, b);
    CHECK_MSG(s.maxabs > 0.97 * b, "%s: max |x| %.6g, the truncation %.6g is never approached", name, s.maxabs, b);
    CHECK_MSG(fabs(s.std / sd - 1) < tol, "%s: std %.6g, expected %.6g", name, s.std, sd);
    /* a normal truncated at +-2 sigma has excess kurtosis -0.6344 */
    CHECK_MSG(fabs(s.kurt + 0.6344) < 0.04, "%s: excess kurtosis %.3f (truncated normal: -0.634)", name, s.kurt);
}

static void expect_const(vlm_st_file *f, const char *name, float v) {
    stats s;
    if (!tensor_stats(f, name, &s)) return;
    CHECK_MSG(s.all_eq && s.first == v, "%s is not all %g", name, (double)v);
}

static void expect_shape(vlm_st_file *f, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    const vlm_st_tensor *t = vlm_st_find(f, name);
    int64_t d[4] = {d0, d1, d2, d3};
    bool ok = t && t->n_dims == nd;
    for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == d[i];
    CHECK_MSG(ok, "%s: shape differs from [%lld, %lld, %lld, %lld] (%d dims)", name, (long long)d0, (long long)d1,
              (long long)d2, (long long)d3, nd);
}

static vlm_st_file *open_st(const char *dir, const char *file) {
    char path[512], e[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    vlm_st_file *f = NULL;
    vlm_status st = vlm_st_open(path, &f, e, sizeof e);
    CHECK_MSG(st == VLM_OK, "%s", e);
    return f;
}

/* ---- tests -------------------------------------------------------------------------------------- */

/* Smooth patch filters: every [P, P] filter lies in the span of the n x n
 * lowest cosine basis functions (its projection on them keeps all of it),
 * with n = 1 a constant per (channel, colour); the residual scale divides the
 * out_proj / fc2 bounds. */
static void test_smooth_patch(const char *tok) {
    char d[300], e[512];
    for (int nb = 1; nb <= 2; nb++) {
        snprintf(d, sizeof d, "%s/smooth%d", root, nb);
        vlm_init_params p = small_params(tok, d);
        p.v_patch_basis = nb, p.v_residual_scale = 0.25;
        CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
        vlm_st_file *f = open_st(d, "vision/model.safetensors");
        if (!f) continue;
        const vlm_st_tensor *t = vlm_st_find(f, "vision_model.embeddings.patch_embedding.weight");
        CHECK(t != NULL);
        if (t) {
            const int64_t P = p.v_patch, n = t->n_elements, nf = n / (P * P);
            float *x = malloc((size_t)n * sizeof *x);
            CHECK(vlm_st_read_f32(t, 0, n, x, e, sizeof e) == VLM_OK);
            double worst = 0, total = 0;
            for (int64_t fi = 0; fi < nf; fi++) {
                const float *w = x + fi * P * P;
                double norm2 = 0, proj2 = 0;
                for (int64_t i = 0; i < P * P; i++) norm2 += (double)w[i] * w[i];
                for (int u = 0; u < nb; u++)
                    for (int v = 0; v < nb; v++) {
                        double c = 0;
                        for (int64_t y = 0; y < P; y++)
                            for (int64_t xx = 0; xx < P; xx++)
                                c += w[y * P + xx] * (u ? sqrt(2.0 / P) : sqrt(1.0 / P)) *
                                     cos(M_PI * u * (y + 0.5) / P) * (v ? sqrt(2.0 / P) : sqrt(1.0 / P)) *
                                     cos(M_PI * v * (xx + 0.5) / P);
                        proj2 += c * c;
                    }
                double rest = fabs(norm2 - proj2) / norm2;
                if (rest > worst) worst = rest;
                total += norm2;
            }
            CHECK_MSG(worst < 1e-5, "patch filters outside the %dx%d cosine basis: %g of the energy", nb, nb, worst);
            /* expected squared norm of a whole [3, P, P] filter: 1 (as lecun_normal_), so 1/3 per
             * colour plane; nf = 96 planes, a chi-square mean: relative sd sqrt(2 / (96 nb^2)) <= 15% */
            CHECK_MSG(fabs(total / (double)nf * 3.0 - 1.0) < 0.5, "mean squared plane norm %g, want ~1/3",
                      total / (double)nf);
            free(x);
        }
        const double D = p.v_n_embd, I = p.v_n_ff;
        stats s;
        if (tensor_stats(f, "vision_model.encoder.layers.0.self_attn.out_proj.weight", &s))
            CHECK_MSG(s.maxabs <= 0.25 * sqrt(6.0 / (D + D)) * (1 + 1e-6), "out_proj max %g", s.maxabs);
        if (tensor_stats(f, "vision_model.encoder.layers.0.mlp.fc2.weight", &s))
            CHECK_MSG(s.maxabs <= 0.25 * sqrt(6.0 / (D + I)) * (1 + 1e-6) && s.maxabs > 0.2 * sqrt(6.0 / (D + I)),
                      "fc2 max %g", s.maxabs);
        if (tensor_stats(f, "vision_model.encoder.layers.0.self_attn.q_proj.weight", &s))
            CHECK_MSG(s.maxabs > 0.9 * sqrt(6.0 / (D + D)), "q_proj is not scaled: max %g", s.maxabs);
        vlm_st_close(f);
    }
    vlm_init_params bad = small_params(tok, d);
    bad.v_patch_basis = bad.v_patch + 1;
    CHECK(vlm_init_write(&bad, e, sizeof e) == VLM_ERR_INVALID_ARG);
    bad = small_params(tok, d);
    bad.v_residual_scale = -1;
    CHECK(vlm_init_write(&bad, e, sizeof e) == VLM_ERR_INVALID_ARG);
}

static void test_defaults(void) {
    vlm_init_params p = vlm_init_default_params();
    CHECK(p.seed == 1 && p.n_embd == 256 && p.n_layer == 4 && p.n_head == 4 && p.n_head_kv == 4 && p.n_ff == 768);
    CHECK(p.rope_theta == 500000.0 && p.max_pos == 8192 && p.init_std == 0.02);
    CHECK(p.v_n_embd == 128 && p.v_n_layer == 2 && p.v_n_head == 4 && p.v_n_ff == 512);
    CHECK(p.v_patch == 32 && p.v_image == 384 && p.frame_tokens == 10);
    CHECK(p.connector_init == VLM_INIT_CONNECTOR_HF && p.gguf_type == VLM_WTYPE_F32 && !p.gguf_path);
}

static void test_determinism(const char *tok) {
    char a[300], b[300], c[300], fa[400], fb[400], fc[400], e[512];
    snprintf(a, sizeof a, "%s/det_a", root);
    snprintf(b, sizeof b, "%s/det_b/", root); /* a trailing slash is fine */
    snprintf(c, sizeof c, "%s/det_c", root);
    CHECK(mkdir(b, 0777) == 0); /* an existing empty folder is taken over */
    vlm_init_params p = small_params(tok, a);
    p.seed = 5;
    CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
    p.out_dir = b;
    CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
    p.out_dir = c;
    p.seed = 6;
    CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
    int n_same = 0, n_diff = 0;
    for (size_t i = 0; i < N_FILES; i++) {
        snprintf(fa, sizeof fa, "%s/%s", a, FILES[i]);
        snprintf(fb, sizeof fb, "%s/%s", b, FILES[i]);
        snprintf(fc, sizeof fc, "%s/%s", c, FILES[i]);
        CHECK_MSG(same_bytes(fa, fb) == 1, "%s differs between two runs with seed 5", FILES[i]);
        int s = same_bytes(fa, fc);
        bool weights = strstr(FILES[i], ".safetensors") != NULL;
        CHECK_MSG(s == (weights ? 0 : 1), "%s: seed 6 vs seed 5 %s", FILES[i], weights ? "identical" : "differs");
        n_same += s == 1, n_diff += s == 0;
    }
    CHECK(count_entries(a) == 3 && count_entries(root) >= 3);
    /* every random tensor changes with the seed; constants do not */
    vlm_st_file *x = open_st(a, "vision/model.safetensors"), *y = open_st(c, "vision/model.safetensors");
    size_t n_rand = 0;
    for (size_t i = 0; x && y && i < vlm_st_count(x); i++) {
        const vlm_st_tensor *t = vlm_st_at(x, i), *u = vlm_st_find(y, t->name);
        CHECK(u && u->nbytes == t->nbytes);
        if (!u) continue;
        stats s;
        tensor_stats(x, t->name, &s);
        bool eq = memcmp(t->data, u->data, t->nbytes) == 0;
        CHECK_MSG(eq == s.all_eq, "%s: %s across seeds", t->name, eq ? "unchanged" : "changed");
        n_rand += !s.all_eq;
    }
    vlm_st_close(x), vlm_st_close(y);
    printf("determinism: %d files identical for one seed; %d weight files differ for another, "
           "%zu random vision tensors all changed\n", n_same + n_diff, n_diff, n_rand);
}

/* Shapes of every file, the GGUF pair and its hyper-parameters. */
static void test_layout_and_gguf(const char *tok) {
    char d[300], g[300], e[512];
    snprintf(d, sizeof d, "%s/layout", root);
    snprintf(g, sizeof g, "%s/layout.gguf", root);
    vlm_init_params p = small_params(tok, d);
    p.gguf_path = g;
    p.gguf_type = VLM_WTYPE_F16;
    CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
    const int64_t V = 259, H = 64, F = 128, KV = 2 * 16, D = 32, I = 64, Np = 9;
    vlm_st_file *f = open_st(d, "llm/model.safetensors");
    if (f) {
        CHECK(vlm_st_count(f) == 3 + 9 * 2);
        CHECK(vlm_st_metadata(f, "format") && !strcmp(vlm_st_metadata(f, "format"), "pt"));
        expect_shape(f, "model.embed_tokens.weight", 2, V, H, 0, 0);
        expect_shape(f, "lm_head.weight", 2, V, H, 0, 0);
        expect_shape(f, "model.layers.1.self_attn.q_proj.weight", 2, H, H, 0, 0);
        expect_shape(f, "model.layers.1.self_attn.k_proj.weight", 2, KV, H, 0, 0);
        expect_shape(f, "model.layers.1.self_attn.v_proj.weight", 2, KV, H, 0, 0);
        expect_shape(f, "model.layers.0.mlp.down_proj.weight", 2, H, F, 0, 0);
        expect_shape(f, "model.norm.weight", 1, H, 0, 0, 0);
    }
    vlm_st_close(f);
    f = open_st(d, "vision/model.safetensors");
    if (f) {
        CHECK(vlm_st_count(f) == 3 + 16 + 2 + 11);
        expect_shape(f, "vision_model.embeddings.patch_embedding.weight", 4, D, 3, 32, 32);
        expect_shape(f, "vision_model.embeddings.position_embedding.weight", 2, Np, D, 0, 0);
        expect_shape(f, "vision_model.encoder.layers.0.mlp.fc1.weight", 2, I, D, 0, 0);
        expect_shape(f, "vision_model.head.probe", 3, 1, 1, D, 0);
        expect_shape(f, "vision_model.head.attention.in_proj_weight", 2, 3 * D, D, 0, 0);
        expect_shape(f, "vision_model.head.attention.in_proj_bias", 1, 3 * D, 0, 0, 0);
    }
    vlm_st_close(f);
    f = open_st(d, "adapter/adapter_model.safetensors");
    if (f) {
        CHECK(vlm_st_count(f) == 4);
        expect_shape(f, "base_model.model.connector.0.weight", 2, H, D, 0, 0);
        expect_shape(f, "base_model.model.connector.2.weight", 2, H, H, 0, 0);
        expect_shape(f, "base_model.model.connector.2.bias", 1, H, 0, 0, 0);
    }
    vlm_st_close(f);
    /* configs the converter reads */
    char path[400];
    snprintf(path, sizeof path, "%s/llm/config.json", d);
    json_t *j = json_load_file(path, 0, NULL);
    CHECK(j && json_integer_value(json_object_get(j, "vocab_size")) == V &&
          json_integer_value(json_object_get(j, "bos_token_id")) == 256 &&
          json_integer_value(json_object_get(j, "eos_token_id")) == 258 &&
          json_real_value(json_object_get(j, "rope_theta")) == 500000.0 &&
          !strcmp(json_string_value(json_object_get(j, "model_type")), "llama"));
    json_decref(j);
    char *bos = NULL, *eos = NULL;
    snprintf(path, sizeof path, "%s/llm/tokenizer_config.json", d);
    CHECK(vlm_read_tokenizer_config(path, &bos, &eos, e, sizeof e) == VLM_OK);
    CHECK(bos && eos && !strcmp(bos, "<|begin_of_text|>") && !strcmp(eos, "<|eot_id|>"));
    free(bos), free(eos);
    /* the GGUF pair */
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    CHECK_MSG(vlm_model_load(g, &mp, &m, e, sizeof e) == VLM_OK, "%s", e);
    if (m) {
        const vlm_model_hparams *hp = vlm_model_get_hparams(m);
        CHECK(hp->n_vocab == V && hp->n_embd == H && hp->n_layer == 2 && hp->n_head == 4 && hp->n_head_kv == 2);
        CHECK(hp->n_ff == F && hp->n_ctx_train == 8192 && hp->rope_theta == 500000.0f);
        CHECK(hp->v_n_embd == D && hp->v_n_layer == 1 && hp->v_n_head == 2 && hp->v_image_size == 96);
        CHECK(hp->frame_num_tokens == 10 && hp->v_placeholder_id == V && hp->eos_token_id == 258);
        CHECK(hp->frame_token_interval_id == ',' && hp->lm_weight_type == 1 /* f16 */);
        printf("gguf: loads; V=%d H=%d layers %d, vision D=%d, %d tokens per frame, <v> id %d\n", hp->n_vocab,
               hp->n_embd, hp->n_layer, hp->v_n_embd, hp->frame_num_tokens, hp->v_placeholder_id);
    }
    vlm_model_free(m);
}

static void test_statistics(const char *tok) {
    char d[300], e[512];
    snprintf(d, sizeof d, "%s/stats", root);
    vlm_init_params p = vlm_init_default_params();
    p.tokenizer_path = tok, p.out_dir = d, p.seed = 12345;
    p.n_embd = 128, p.n_layer = 1, p.n_head = 4, p.n_head_kv = 2, p.n_ff = 512;
    p.v_n_embd = 128, p.v_n_layer = 1, p.v_n_head = 4, p.v_n_ff = 512, p.v_patch = 16, p.v_image = 96;
    CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
    const double D = 128, I = 512, H = 128;
    vlm_st_file *f = open_st(d, "llm/model.safetensors");
    if (f) {
        expect_normal(f, "model.embed_tokens.weight", 0.02, 0.02);       /* 33k values */
        expect_normal(f, "lm_head.weight", 0.02, 0.02);
        expect_normal(f, "model.layers.0.mlp.gate_proj.weight", 0.02, 0.02); /* 65k */
        expect_normal(f, "model.layers.0.mlp.down_proj.weight", 0.02, 0.02);
        expect_normal(f, "model.layers.0.self_attn.q_proj.weight", 0.02, 0.03);
        expect_normal(f, "model.layers.0.self_attn.k_proj.weight", 0.02, 0.04);
        expect_const(f, "model.layers.0.input_layernorm.weight", 1.0f);
        expect_const(f, "model.layers.0.post_attention_layernorm.weight", 1.0f);
        expect_const(f, "model.norm.weight", 1.0f);
    }
    vlm_st_close(f);
    f = open_st(d, "vision/model.safetensors");
    if (f) {
        const char *vp = "vision_model.encoder.layers.0.";
        char n[160];
        expect_trunc_normal(f, "vision_model.embeddings.patch_embedding.weight", sqrt(1.0 / (3 * 16 * 16)), 0.02);
        expect_const(f, "vision_model.embeddings.patch_embedding.bias", 0.0f);
        expect_normal(f, "vision_model.embeddings.position_embedding.weight", 1 / sqrt(D), 0.05);
        static const char *proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int k = 0; k < 4; k++) {
            snprintf(n, sizeof n, "%sself_attn.%s.weight", vp, proj[k]);
            expect_uniform(f, n, sqrt(6.0 / (2 * D)), 0.03);
            snprintf(n, sizeof n, "%sself_attn.%s.bias", vp, proj[k]);
            expect_const(f, n, 0.0f);
        }
        snprintf(n, sizeof n, "%smlp.fc1.weight", vp), expect_uniform(f, n, sqrt(6.0 / (D + I)), 0.02);
        snprintf(n, sizeof n, "%smlp.fc2.weight", vp), expect_uniform(f, n, sqrt(6.0 / (D + I)), 0.02);
        snprintf(n, sizeof n, "%smlp.fc1.bias", vp), expect_normal(f, n, 1e-6, 0.2);
        snprintf(n, sizeof n, "%smlp.fc2.bias", vp), expect_normal(f, n, 1e-6, 0.35);
        snprintf(n, sizeof n, "%slayer_norm1.weight", vp), expect_const(f, n, 1.0f);
        snprintf(n, sizeof n, "%slayer_norm2.bias", vp), expect_const(f, n, 0.0f);
        expect_const(f, "vision_model.post_layernorm.weight", 1.0f);
        expect_const(f, "vision_model.post_layernorm.bias", 0.0f);
        expect_uniform(f, "vision_model.head.probe", sqrt(6.0 / (2 * D)), 0.35);
        expect_uniform(f, "vision_model.head.attention.in_proj_weight", sqrt(6.0 / (4 * D)), 0.02);
        expect_const(f, "vision_model.head.attention.in_proj_bias", 0.0f);
        expect_trunc_normal(f, "vision_model.head.attention.out_proj.weight", sqrt(1.0 / D), 0.03);
        expect_const(f, "vision_model.head.attention.out_proj.bias", 0.0f);
        expect_const(f, "vision_model.head.layernorm.weight", 1.0f);
        expect_uniform(f, "vision_model.head.mlp.fc2.weight", sqrt(6.0 / (D + I)), 0.02);
        expect_normal(f, "vision_model.head.mlp.fc1.bias", 1e-6, 0.2);
    }
    vlm_st_close(f);
    f = open_st(d, "adapter/adapter_model.safetensors");
    if (f) {
        expect_normal(f, "base_model.model.connector.0.weight", 0.02, 0.03);
        expect_normal(f, "base_model.model.connector.2.weight", 0.02, 0.03);
        expect_const(f, "base_model.model.connector.0.bias", 0.0f);
        expect_const(f, "base_model.model.connector.2.bias", 0.0f);
    }
    vlm_st_close(f);
    /* torch.nn.Linear's own initialisation for the connector */
    snprintf(d, sizeof d, "%s/stats_torch", root);
    p.out_dir = d;
    p.connector_init = VLM_INIT_CONNECTOR_TORCH;
    p.v_n_embd = 256, p.v_n_head = 4; /* connector.0 fan_in 256, connector.2 fan_in 128 */
    CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
    f = open_st(d, "adapter/adapter_model.safetensors");
    if (f) {
        expect_uniform(f, "base_model.model.connector.0.weight", 1 / sqrt(256.0), 0.02);
        expect_uniform(f, "base_model.model.connector.2.weight", 1 / sqrt(H), 0.03);
        expect_uniform(f, "base_model.model.connector.0.bias", 1 / sqrt(256.0), 0.2);
        expect_uniform(f, "base_model.model.connector.2.bias", 1 / sqrt(H), 0.2);
    }
    vlm_st_close(f);
    stats s;
    f = open_st(root, "stats/llm/model.safetensors");
    if (f && tensor_stats(f, "model.layers.0.mlp.gate_proj.weight", &s))
        printf("statistics: gate_proj (65536 values, normal 0.02): std %.6f, mean %.2e, excess kurtosis %.4f, "
               "within 1 std %.4f, beyond 3 std %.5f\n", s.std, s.mean, s.kurt, s.frac1, s.frac3);
    vlm_st_close(f);
    f = open_st(root, "stats/vision/model.safetensors");
    if (f && tensor_stats(f, "vision_model.embeddings.patch_embedding.weight", &s))
        printf("statistics: patch embedding (98304 values, lecun truncated normal, std %.6f): std %.6f, max |x| %.6f "
               "(bound %.6f), excess kurtosis %.4f\n", sqrt(1.0 / 768), s.std, s.maxabs,
               2 * sqrt(1.0 / 768) / 0.87962566103423978, s.kurt);
    vlm_st_close(f);
}

typedef struct {
    const char *what;
    void (*edit)(vlm_init_params *p);
    vlm_status st;
    const char *msg;
} bad_case;

static void b_heads(vlm_init_params *p) { p->n_head = 3; }
static void b_kv(vlm_init_params *p) { p->n_head_kv = 3; }
static void b_odd(vlm_init_params *p) { p->n_embd = 12; }
static void b_zero(vlm_init_params *p) { p->n_layer = 0; }
static void b_vheads(vlm_init_params *p) { p->v_n_head = 3; }
static void b_patch(vlm_init_params *p) { p->v_image = 100; }
static void b_grid(vlm_init_params *p) { p->v_image = 64; }
static void b_ftok(vlm_init_params *p) { p->frame_tokens = 5; }
static void b_theta(vlm_init_params *p) { p->rope_theta = NAN; }
static void b_std(vlm_init_params *p) { p->init_std = 0; }
static void b_eps(vlm_init_params *p) { p->rms_eps = -1; }
static void b_type(vlm_init_params *p) { p->gguf_type = (vlm_weight_type)3; }
static void b_conn(vlm_init_params *p) { p->connector_init = (vlm_init_connector)7; }
static void b_notok(vlm_init_params *p) { p->tokenizer_path = "/nonexistent/tokenizer.json"; }
static void b_noout(vlm_init_params *p) { p->out_dir = ""; }
static void b_huge(vlm_init_params *p) { p->n_embd = 1 << 21; }

static void test_refusals(const char *tok, const char *tok_no_eot, const char *tok_plain_eot) {
    char out[300], e[512];
    snprintf(out, sizeof out, "%s/bad", root);
    const bad_case cases[] = {
        {"heads", b_heads, VLM_ERR_INVALID_ARG, "hidden size 64 is not a multiple of the head count 3"},
        {"kv heads", b_kv, VLM_ERR_INVALID_ARG, "head count 4 is not a multiple of the kv head count 3"},
        {"odd head size", b_odd, VLM_ERR_INVALID_ARG, "head size 3 (hidden / heads) is odd"},
        {"zero layers", b_zero, VLM_ERR_INVALID_ARG, "layer count is 0"},
        {"vision heads", b_vheads, VLM_ERR_INVALID_ARG, "vision hidden size 32 is not a multiple of the vision head"},
        {"patch", b_patch, VLM_ERR_INVALID_ARG, "image size 100 is not a multiple of the patch size 32"},
        {"grid", b_grid, VLM_ERR_INVALID_ARG, "a 2x2 patch grid (image 64 / patch 32) cannot be pooled 3x3"},
        {"frame tokens", b_ftok, VLM_ERR_INVALID_ARG, "frame tokens 5"},
        {"rope theta", b_theta, VLM_ERR_INVALID_ARG, "rope theta"},
        {"init std", b_std, VLM_ERR_INVALID_ARG, "init std 0"},
        {"rms eps", b_eps, VLM_ERR_INVALID_ARG, "epsilons"},
        {"gguf type", b_type, VLM_ERR_INVALID_ARG, "unknown GGUF weight type 3"},
        {"connector init", b_conn, VLM_ERR_INVALID_ARG, "unknown connector init 7"},
        {"no tokenizer", b_notok, VLM_ERR_IO, "/nonexistent/tokenizer.json"},
        {"no output", b_noout, VLM_ERR_INVALID_ARG, "no output folder"},
        {"huge", b_huge, VLM_ERR_INVALID_ARG, "hidden size is 2097152"},
    };
    int before = count_entries(root);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vlm_init_params p = small_params(tok, out);
        cases[i].edit(&p);
        e[0] = 0;
        vlm_status st = vlm_init_write(&p, e, sizeof e);
        CHECK_MSG(st == cases[i].st && strstr(e, cases[i].msg), "%s: status %d, message '%s' (expected '%s')",
                  cases[i].what, (int)st, e, cases[i].msg);
    }
    /* tokenizers without the template's special tokens */
    vlm_init_params p = small_params(tok_no_eot, out);
    CHECK(vlm_init_write(&p, e, sizeof e) == VLM_ERR_FORMAT && strstr(e, "no special added token \"<|eot_id|>\""));
    p.tokenizer_path = tok_plain_eot;
    CHECK(vlm_init_write(&p, e, sizeof e) == VLM_ERR_FORMAT && strstr(e, "\"<|eot_id|>\""));
    /* live1 needs no 3x3 grid */
    p = small_params(tok, out);
    p.frame_tokens = 1, p.v_image = 64;
    CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
    /* a folder that is not empty is never overwritten */
    char keep[400];
    snprintf(keep, sizeof keep, "%s/llm/config.json", out);
    size_t n0 = 0, n1 = 0;
    char *c0 = slurp(keep, &n0);
    p = small_params(tok, out);
    CHECK(vlm_init_write(&p, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "is not empty; refusing to overwrite"));
    char *c1 = slurp(keep, &n1);
    CHECK(c0 && c1 && n0 == n1 && !memcmp(c0, c1, n0));
    free(c0), free(c1);
    rm_rf(out);
    /* a plain file in the way */
    FILE *fp = fopen(out, "w");
    if (fp) fclose(fp);
    CHECK(vlm_init_write(&p, e, sizeof e) == VLM_ERR_INVALID_ARG && strstr(e, "is not a folder"));
    unlink(out);
    /* a conversion that fails after the folders were written leaves nothing */
    char g[400];
    snprintf(g, sizeof g, "%s/no_such_folder/m.gguf", root);
    p.gguf_path = g;
    CHECK(vlm_init_write(&p, e, sizeof e) != VLM_OK && strstr(e, "converting to GGUF"));
    printf("refusals: last message: %s\n", e);
    CHECK_MSG(count_entries(root) == before, "entries in the test folder: %d before, %d after", before,
              count_entries(root));
    struct stat sb;
    CHECK(stat(out, &sb) != 0);
}

int main(void) {
    test_root_make(root, sizeof root, "init");
    char tok[300], tok_no_eot[300], tok_plain_eot[300];
    snprintf(tok, sizeof tok, "%s/tokenizer.json", root);
    snprintf(tok_no_eot, sizeof tok_no_eot, "%s/tok_no_eot.json", root);
    snprintf(tok_plain_eot, sizeof tok_plain_eot, "%s/tok_plain_eot.json", root);
    static const char *const sp[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", NULL};
    static const char *const sp_no_eot[] = {"<|begin_of_text|>", "<|end_of_text|>", NULL};
    static const char *const sp_plain[] = {"<|begin_of_text|>", "<|end_of_text|>", "!<|eot_id|>", NULL};
    write_tokenizer(tok, sp);
    write_tokenizer(tok_no_eot, sp_no_eot);
    write_tokenizer(tok_plain_eot, sp_plain);
    test_defaults();
    test_determinism(tok);
    test_layout_and_gguf(tok);
    test_statistics(tok);
    test_smooth_patch(tok);
    test_refusals(tok, tok_no_eot, tok_plain_eot);
    test_root_finish(root);
    return check_done("test_init");
}
