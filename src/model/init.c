/* init.c - a freshly initialised VideoLLM-online (`videollm init`): the
 * Llama-3 language model, the SigLIP vision tower with its attention-pooling
 * head and the connector, written in the Hugging Face folder layouts the
 * converter reads, with the weights transformers' _init_weights gives each
 * module (docs/model-format.md, "A fresh model").
 *
 * Shapes (PyTorch order, [out, in]; H hidden, F ffn, V vocab, Nh/Nkv heads,
 * Dh = H/Nh, D vision hidden, I vision ffn, P patch, Np = (image/P)^2):
 *   llm/model.safetensors       embed_tokens [V, H], q [Nh*Dh, H], k/v [Nkv*Dh, H],
 *                               o [H, Nh*Dh], gate/up [F, H], down [H, F], norms [H],
 *                               lm_head [V, H]
 *   vision/model.safetensors    patch conv [D, 3, P, P] + bias [D], positions [Np, D],
 *                               q/k/v/out [D, D] + biases, fc1 [I, D], fc2 [D, I],
 *                               LayerNorms [D], head: probe [1, 1, D],
 *                               in_proj [3D, D] + [3D], out_proj [D, D], MLP
 *   adapter/adapter_model.safetensors  connector.0 [H, D] + [H], connector.2 [H, H] + [H]
 *
 * Random numbers are reproducible bit for bit on any IEEE-754 machine: every
 * tensor has its own xoshiro256** stream (state from splitmix64 of
 * seed ^ FNV-1a-64(name)), uniforms take the top 53 bits, normals come from
 * Marsaglia's polar method with the log below (only +, -, *, /, sqrt and
 * exact frexp scaling), and values are rounded once from double to float.
 * Contraction into fused multiply-adds is switched off for this file. */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "io/safetensors_write.h"

#ifdef __clang__
#pragma clang fp contract(off)
#endif

#define INIT_MAX_DIM ((int64_t)1 << 20)
#define INIT_MAX_LAYERS 1024
#define ROOT_BUF 4096 /* out_dir is at most 3900 bytes, its temporary 40 more */
#define DIR_BUF 4160  /* ROOT/llm, ROOT/vision, ROOT/adapter */
#define FILE_BUF 4224 /* DIR/file */
#define TRUNC_STD 0.87962566103423978 /* std of a standard normal truncated to [-2, 2] */

vlm_init_params vlm_init_default_params(void) {
    vlm_init_params p;
    memset(&p, 0, sizeof p);
    p.seed = 1;
    p.n_embd = 256, p.n_layer = 4, p.n_head = 4, p.n_head_kv = 4, p.n_ff = 768;
    p.max_pos = 8192, p.rope_theta = 500000.0, p.rms_eps = 1e-5, p.init_std = 0.02;
    p.v_n_embd = 128, p.v_n_layer = 2, p.v_n_head = 4, p.v_n_ff = 512;
    p.v_patch = 32, p.v_image = 384, p.v_eps = 1e-6;
    p.v_patch_basis = 0, p.v_residual_scale = 1.0;
    p.frame_tokens = 10;
    p.connector_init = VLM_INIT_CONNECTOR_HF;
    p.gguf_type = VLM_WTYPE_F32;
    return p;
}

/* ======================================================================================= */
/* Random numbers                                                                          */
/* ======================================================================================= */
typedef struct {
    uint64_t s[4];
    bool has_spare;
    double spare;
} rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

static void rng_init(rng *r, uint64_t seed, const char *name) {
    uint64_t x = seed ^ fnv1a64(name);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = false;
    r->spare = 0;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro(rng *r) { /* xoshiro256** */
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* [0, 1), 53 bits. */
static double uniform01(rng *r) { return (double)(xoshiro(r) >> 11) * 0x1.0p-53; }

/* Natural log of x > 0 with basic arithmetic only: x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.1716;
 * the odd series to s^25 leaves a truncation below 1e-20. */
static double det_log(double x) {
    int e;
    double m = frexp(x, &e); /* exact */
    if (m < 0.70710678118654752440) m *= 2, e--;
    double s = (m - 1.0) / (m + 1.0), s2 = s * s, sum = 0.0;
    for (int k = 12; k >= 1; k--) sum = (sum + 1.0 / (2 * k + 1)) * s2;
    double lm = 2.0 * s * (1.0 + sum);
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    return ((double)e * ln2_lo + lm) + (double)e * ln2_hi;
}

/* Standard normal (Marsaglia polar method; the second value is kept). */
static double normal01(rng *r) {
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * uniform01(r) - 1.0;
        v = 2.0 * uniform01(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * det_log(s) / s);
    r->spare = v * f;
    r->has_spare = true;
    return u * f;
}

void vlm_init_normal_fill(uint64_t seed, const char *name, double *out, size_t n) {
    rng r;
    rng_init(&r, seed, name);
    for (size_t i = 0; i < n; i++) out[i] = normal01(&r);
}

/* ======================================================================================= */
/* Tensor plan                                                                             */
/* ======================================================================================= */
typedef enum {
    INIT_ZEROS,
    INIT_ONES,
    INIT_NORMAL,       /* normal(0, a)                                                  */
    INIT_TRUNC_NORMAL, /* a * z / TRUNC_STD, z standard normal truncated to [-2, 2]:
                          transformers' lecun_normal_ (trunc_normal_tf_), std a     */
    INIT_UNIFORM,      /* uniform(-a, a)                                                */
    INIT_SMOOTH_PATCH, /* [D, 3, P, P] conv filters: random combinations (coefficients
                          normal(0, 1/sqrt(3 a^2))) of the a x a lowest 2-D cosine (DCT-II)
                          basis functions of a P x P patch, each of unit norm        */
} init_kind;

typedef struct {
    char name[112];
    int n_dims;
    int64_t shape[4];
    int64_t n;
    init_kind kind;
    double a;
} tensor_spec;

typedef struct {
    tensor_spec *t;
    size_t n, cap;
    bool oom;
} plan;

static void plan_add(plan *pl, init_kind kind, double a, int n_dims, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                     const char *fmt, ...) __attribute__((format(printf, 9, 10)));
static void plan_add(plan *pl, init_kind kind, double a, int n_dims, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                     const char *fmt, ...) {
    if (pl->oom) return;
    if (pl->n == pl->cap) {
        size_t nc = pl->cap ? pl->cap * 2 : 64;
        tensor_spec *nt = realloc(pl->t, nc * sizeof *nt);
        if (!nt) {
            pl->oom = true;
            return;
        }
        pl->t = nt, pl->cap = nc;
    }
    tensor_spec *t = &pl->t[pl->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    int64_t d[4] = {d0, d1, d2, d3};
    t->n_dims = n_dims;
    t->n = 1;
    for (int i = 0; i < n_dims; i++) t->shape[i] = d[i], t->n *= d[i]; /* sizes validated beforehand */
    t->kind = kind;
    t->a = a;
}

/* xavier_uniform_ bound for a [fan_out, fan_in] matrix. */
static double xavier(int64_t fan_in, int64_t fan_out) { return sqrt(6.0 / (double)(fan_in + fan_out)); }

static void plan_llm(plan *pl, const vlm_init_params *p, int64_t V) {
    const int64_t H = p->n_embd, F = p->n_ff, Dh = H / p->n_head, Q = p->n_head * Dh, KV = p->n_head_kv * Dh;
    const double sd = p->init_std;
    plan_add(pl, INIT_NORMAL, sd, 2, V, H, 0, 0, "model.embed_tokens.weight");
    for (int32_t il = 0; il < p->n_layer; il++) {
        plan_add(pl, INIT_ONES, 0, 1, H, 0, 0, 0, "model.layers.%d.input_layernorm.weight", il);
        plan_add(pl, INIT_NORMAL, sd, 2, Q, H, 0, 0, "model.layers.%d.self_attn.q_proj.weight", il);
        plan_add(pl, INIT_NORMAL, sd, 2, KV, H, 0, 0, "model.layers.%d.self_attn.k_proj.weight", il);
        plan_add(pl, INIT_NORMAL, sd, 2, KV, H, 0, 0, "model.layers.%d.self_attn.v_proj.weight", il);
        plan_add(pl, INIT_NORMAL, sd, 2, H, Q, 0, 0, "model.layers.%d.self_attn.o_proj.weight", il);
        plan_add(pl, INIT_ONES, 0, 1, H, 0, 0, 0, "model.layers.%d.post_attention_layernorm.weight", il);
        plan_add(pl, INIT_NORMAL, sd, 2, F, H, 0, 0, "model.layers.%d.mlp.gate_proj.weight", il);
        plan_add(pl, INIT_NORMAL, sd, 2, F, H, 0, 0, "model.layers.%d.mlp.up_proj.weight", il);
        plan_add(pl, INIT_NORMAL, sd, 2, H, F, 0, 0, "model.layers.%d.mlp.down_proj.weight", il);
    }
    plan_add(pl, INIT_ONES, 0, 1, H, 0, 0, 0, "model.norm.weight");
    plan_add(pl, INIT_NORMAL, sd, 2, V, H, 0, 0, "lm_head.weight");
}

/* SiglipMLP: xavier weights, normal(0, 1e-6) biases. */
static void plan_siglip_mlp(plan *pl, const char *pre, int64_t D, int64_t I, double out_scale) {
    plan_add(pl, INIT_UNIFORM, xavier(D, I), 2, I, D, 0, 0, "%smlp.fc1.weight", pre);
    plan_add(pl, INIT_NORMAL, 1e-6, 1, I, 0, 0, 0, "%smlp.fc1.bias", pre);
    plan_add(pl, INIT_UNIFORM, xavier(I, D) * out_scale, 2, D, I, 0, 0, "%smlp.fc2.weight", pre);
    plan_add(pl, INIT_NORMAL, 1e-6, 1, D, 0, 0, 0, "%smlp.fc2.bias", pre);
}

static void plan_layernorm(plan *pl, const char *pre, const char *ln, int64_t D) {
    plan_add(pl, INIT_ONES, 0, 1, D, 0, 0, 0, "%s%s.weight", pre, ln);
    plan_add(pl, INIT_ZEROS, 0, 1, D, 0, 0, 0, "%s%s.bias", pre, ln);
}

static void plan_vision(plan *pl, const vlm_init_params *p) {
    const int64_t D = p->v_n_embd, I = p->v_n_ff, P = p->v_patch, g = p->v_image / p->v_patch;
    const char *vp = "vision_model.";
    /* Conv2d: lecun_normal_ (fan_in = 3 P P), zero bias; or smooth filters (v_patch_basis) */
    if (p->v_patch_basis > 0)
        plan_add(pl, INIT_SMOOTH_PATCH, (double)p->v_patch_basis, 4, D, 3, P, P, "%sembeddings.patch_embedding.weight",
                 vp);
    else
        plan_add(pl, INIT_TRUNC_NORMAL, sqrt(1.0 / (double)(3 * P * P)), 4, D, 3, P, P,
                 "%sembeddings.patch_embedding.weight", vp);
    plan_add(pl, INIT_ZEROS, 0, 1, D, 0, 0, 0, "%sembeddings.patch_embedding.bias", vp);
    plan_add(pl, INIT_NORMAL, 1.0 / sqrt((double)D), 2, g * g, D, 0, 0, "%sembeddings.position_embedding.weight", vp);
    for (int32_t il = 0; il < p->v_n_layer; il++) {
        char pre[64];
        snprintf(pre, sizeof pre, "%sencoder.layers.%d.", vp, il);
        plan_layernorm(pl, pre, "layer_norm1", D);
        static const char *proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int k = 0; k < 4; k++) {
            plan_add(pl, INIT_UNIFORM, xavier(D, D) * (k == 3 ? p->v_residual_scale : 1.0), 2, D, D, 0, 0,
                     "%sself_attn.%s.weight", pre, proj[k]);
            plan_add(pl, INIT_ZEROS, 0, 1, D, 0, 0, 0, "%sself_attn.%s.bias", pre, proj[k]);
        }
        plan_layernorm(pl, pre, "layer_norm2", D);
        plan_siglip_mlp(pl, pre, D, I, p->v_residual_scale);
    }
    plan_layernorm(pl, vp, "post_layernorm", D);
    /* SiglipMultiheadAttentionPoolingHead: probe [1, 1, D] has fan_in = fan_out = D
     * (torch counts the trailing dims as the receptive field) */
    char hp[32];
    snprintf(hp, sizeof hp, "%shead.", vp);
    plan_add(pl, INIT_UNIFORM, xavier(D, D), 3, 1, 1, D, 0, "%sprobe", hp);
    plan_add(pl, INIT_UNIFORM, xavier(D, 3 * D), 2, 3 * D, D, 0, 0, "%sattention.in_proj_weight", hp);
    plan_add(pl, INIT_ZEROS, 0, 1, 3 * D, 0, 0, 0, "%sattention.in_proj_bias", hp);
    /* nn.MultiheadAttention.out_proj is an nn.Linear: lecun_normal_, zero bias */
    plan_add(pl, INIT_TRUNC_NORMAL, sqrt(1.0 / (double)D), 2, D, D, 0, 0, "%sattention.out_proj.weight", hp);
    plan_add(pl, INIT_ZEROS, 0, 1, D, 0, 0, 0, "%sattention.out_proj.bias", hp);
    plan_layernorm(pl, hp, "layernorm", D);
    plan_siglip_mlp(pl, hp, D, I, 1.0);
}

static void plan_connector(plan *pl, const vlm_init_params *p) {
    const int64_t D = p->v_n_embd, H = p->n_embd;
    const char *pre = "base_model.model.connector.";
    const int64_t fan_in[2] = {D, H};
    for (int k = 0; k < 2; k++) {
        if (p->connector_init == VLM_INIT_CONNECTOR_TORCH) {
            double b = 1.0 / sqrt((double)fan_in[k]);
            plan_add(pl, INIT_UNIFORM, b, 2, H, fan_in[k], 0, 0, "%s%d.weight", pre, 2 * k);
            plan_add(pl, INIT_UNIFORM, b, 1, H, 0, 0, 0, "%s%d.bias", pre, 2 * k);
        } else {
            plan_add(pl, INIT_NORMAL, p->init_std, 2, H, fan_in[k], 0, 0, "%s%d.weight", pre, 2 * k);
            plan_add(pl, INIT_ZEROS, 0, 1, H, 0, 0, 0, "%s%d.bias", pre, 2 * k);
        }
    }
}

/* ---- writing one safetensors file --------------------------------------------------------------- */

static double draw(rng *r, init_kind kind, double a) {
    switch (kind) {
    case INIT_ZEROS: return 0.0;
    case INIT_ONES: return 1.0;
    case INIT_NORMAL: return a * normal01(r);
    case INIT_TRUNC_NORMAL: {
        double z;
        do z = normal01(r);
        while (z < -2.0 || z > 2.0);
        return (a / TRUNC_STD) * z;
    }
    case INIT_UNIFORM: return a * (2.0 * uniform01(r) - 1.0);
    case INIT_SMOOTH_PATCH: break; /* written whole by write_smooth_patch */
    }
    return 0.0;
}

/* Smooth patch filters (INIT_SMOOTH_PATCH): for every output channel d and
 * colour c, w[d][c] = sum over u, v < nb of coef * b_u(y) b_v(x) with
 * b_0 = 1/sqrt(P), b_u(x) = sqrt(2/P) cos(pi u (x + 1/2) / P): random
 * combinations of the lowest DCT-II basis functions (orthonormal), so each
 * filter has an expected norm of 1, as lecun_normal_'s. */
static vlm_status write_smooth_patch(vlm_stw *w, rng *r, const tensor_spec *t, char *err, size_t err_size) {
    const int64_t D = t->shape[0], C = t->shape[1], P = t->shape[2], nb = (int64_t)t->a;
    double *b = malloc((size_t)(nb * P) * sizeof *b);
    float *f = malloc((size_t)(C * P * P) * sizeof *f);
    double *coef = malloc((size_t)(nb * nb) * sizeof *coef);
    if (!b || !f || !coef) {
        free(b), free(f), free(coef);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    for (int64_t u = 0; u < nb; u++)
        for (int64_t x = 0; x < P; x++)
            b[u * P + x] = (u == 0 ? sqrt(1.0 / (double)P) : sqrt(2.0 / (double)P)) *
                           cos(M_PI * (double)u * ((double)x + 0.5) / (double)P);
    const double sd = 1.0 / sqrt((double)(C * nb * nb));
    vlm_status st = VLM_OK;
    for (int64_t d = 0; d < D && !st; d++) { /* one filter [C, P, P] at a time */
        for (int64_t c = 0; c < C; c++) {
            for (int64_t k = 0; k < nb * nb; k++) coef[k] = sd * normal01(r);
            for (int64_t y = 0; y < P; y++)
                for (int64_t x = 0; x < P; x++) {
                    double v = 0.0;
                    for (int64_t u = 0; u < nb; u++)
                        for (int64_t q = 0; q < nb; q++) v += coef[u * nb + q] * b[u * P + y] * b[q * P + x];
                    f[(c * P + y) * P + x] = (float)v;
                }
        }
        st = vlm_stw_write_f32(w, f, (size_t)(C * P * P), err, err_size);
    }
    free(b), free(f), free(coef);
    return st;
}

static vlm_status write_plan(const char *path, const plan *pl, uint64_t seed, char *err, size_t err_size) {
    vlm_stw_tensor *info = calloc(pl->n ? pl->n : 1, sizeof *info);
    float *buf = malloc(16384 * sizeof *buf);
    if (!info || !buf) {
        free(info), free(buf);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    for (size_t i = 0; i < pl->n; i++) {
        info[i].name = pl->t[i].name;
        info[i].dtype = VLM_ST_F32;
        info[i].n_dims = pl->t[i].n_dims;
        for (int d = 0; d < pl->t[i].n_dims; d++) info[i].shape[d] = pl->t[i].shape[d];
    }
    static const char *const meta[2] = {"format", "pt"};
    vlm_stw *w = NULL;
    vlm_status st = vlm_stw_open(path, info, pl->n, meta, 1, &w, err, err_size);
    for (size_t i = 0; !st && i < pl->n; i++) {
        const tensor_spec *t = &pl->t[i];
        rng r;
        rng_init(&r, seed, t->name);
        if (t->kind == INIT_SMOOTH_PATCH) {
            st = write_smooth_patch(w, &r, t, err, err_size);
            continue;
        }
        for (int64_t done = 0; !st && done < t->n;) {
            size_t k = (size_t)(t->n - done < 16384 ? t->n - done : 16384);
            for (size_t j = 0; j < k; j++) buf[j] = (float)draw(&r, t->kind, t->a);
            st = vlm_stw_write_f32(w, buf, k, err, err_size);
            done += (int64_t)k;
        }
    }
    if (!st) st = vlm_stw_close(w, err, err_size);
    else vlm_stw_abort(w);
    free(info), free(buf);
    return st;
}

/* ======================================================================================= */
/* JSON files                                                                              */
/* ======================================================================================= */

/* Fewest significant digits that read back as x (Python's repr length);
 * whole numbers keep all their digits (500000.0, not 5e5). */
static int real_digits(double x) {
    char b[40];
    int p0 = 1;
    if (x == floor(x) && fabs(x) < 1e16)
        for (double a = fabs(x); a >= 10; a /= 10) p0++;
    for (int p = p0; p < 17; p++) {
        snprintf(b, sizeof b, "%.*g", p, x);
        if (strtod(b, NULL) == x) return p;
    }
    return 17;
}

static int max_real_digits(json_t *j) {
    int p = 1;
    if (json_is_real(j)) return real_digits(json_real_value(j));
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            int q = max_real_digits(v);
            if (q > p) p = q;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            int q = max_real_digits(v);
            if (q > p) p = q;
        }
    }
    return p;
}

/* Write j (stolen) as indented JSON with a final newline. */
static vlm_status write_json(const char *dir, const char *file, json_t *j, char *err, size_t err_size) {
    char path[FILE_BUF];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (!j) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory building %s", path);
    size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(max_real_digits(j));
    char *text = json_dumps(j, flags);
    json_decref(j);
    if (!text) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory writing %s", path);
    FILE *fp = fopen(path, "wb");
    bool ok = fp && fputs(text, fp) >= 0 && fputc('\n', fp) != EOF;
    if (fp) ok = fclose(fp) == 0 && ok;
    free(text);
    return ok ? VLM_OK : vlm_set_err(err, err_size, VLM_ERR_IO, "cannot write %s", path);
}

static vlm_status write_bytes(const char *dir, const char *file, const char *data, size_t n, char *err,
                              size_t err_size) {
    char path[FILE_BUF];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *fp = fopen(path, "wb");
    bool ok = fp && fwrite(data, 1, n, fp) == n;
    if (fp) ok = fclose(fp) == 0 && ok;
    return ok ? VLM_OK : vlm_set_err(err, err_size, VLM_ERR_IO, "cannot write %s", path);
}

/* ======================================================================================= */
/* Validation                                                                              */
/* ======================================================================================= */

typedef struct {
    char *text; /* tokenizer.json bytes */
    size_t len;
    json_t *doc;
    int32_t n_vocab, bos_id, eot_id, eot_text_id; /* eot_text_id: <|end_of_text|> or -1 */
} tok_info;

static vlm_status check_range(const char *what, int64_t v, int64_t lo, int64_t hi, char *err, size_t err_size) {
    if (v < lo || v > hi)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s is %lld; it must be in [%lld, %lld]", what,
                           (long long)v, (long long)lo, (long long)hi);
    return VLM_OK;
}

static vlm_status check_params(const vlm_init_params *p, char *err, size_t err_size) {
    vlm_status st;
    if (!p->tokenizer_path || !p->tokenizer_path[0])
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "no tokenizer.json given");
    if (!p->out_dir || !p->out_dir[0]) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "no output folder given");
    if (strlen(p->out_dir) > 3900) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "output path too long");
    const struct {
        const char *what;
        int64_t v, lo, hi;
    } r[] = {
        {"hidden size", p->n_embd, 1, INIT_MAX_DIM},        {"layer count", p->n_layer, 1, INIT_MAX_LAYERS},
        {"head count", p->n_head, 1, INIT_MAX_DIM},         {"kv head count", p->n_head_kv, 1, INIT_MAX_DIM},
        {"ffn size", p->n_ff, 1, INIT_MAX_DIM},             {"max positions", p->max_pos, 1, INT32_MAX},
        {"vision hidden size", p->v_n_embd, 1, INIT_MAX_DIM}, {"vision layer count", p->v_n_layer, 1, INIT_MAX_LAYERS},
        {"vision head count", p->v_n_head, 1, INIT_MAX_DIM}, {"vision ffn size", p->v_n_ff, 1, INIT_MAX_DIM},
        {"patch size", p->v_patch, 1, 4096},                {"image size", p->v_image, 1, 65536},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if ((st = check_range(r[i].what, r[i].v, r[i].lo, r[i].hi, err, err_size))) return st;
    if (p->n_embd % p->n_head)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "hidden size %d is not a multiple of the head count %d",
                           p->n_embd, p->n_head);
    if ((p->n_embd / p->n_head) % 2)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "head size %d (hidden / heads) is odd; RoPE needs pairs",
                           p->n_embd / p->n_head);
    if (p->n_head % p->n_head_kv)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "head count %d is not a multiple of the kv head count %d",
                           p->n_head, p->n_head_kv);
    if (p->v_n_embd % p->v_n_head)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "vision hidden size %d is not a multiple of the vision head count %d", p->v_n_embd,
                           p->v_n_head);
    if (p->v_image % p->v_patch)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "image size %d is not a multiple of the patch size %d",
                           p->v_image, p->v_patch);
    if (p->frame_tokens != 10 && p->frame_tokens != 1)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "frame tokens %d: 10 (live1+: CLS + 3x3 pooled) or 1 (live1: CLS) are supported",
                           p->frame_tokens);
    if (p->frame_tokens == 10 && p->v_image / p->v_patch < 3)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "a %dx%d patch grid (image %d / patch %d) cannot be pooled 3x3; it needs at least 3x3",
                           p->v_image / p->v_patch, p->v_image / p->v_patch, p->v_image, p->v_patch);
    if (!(p->rope_theta >= 1e-3 && p->rope_theta <= 1e12))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "rope theta %g is outside [1e-3, 1e12]", p->rope_theta);
    if (!(p->rms_eps > 0 && p->rms_eps <= 1) || !(p->v_eps > 0 && p->v_eps <= 1))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "norm epsilons must be in (0, 1]");
    if (p->v_patch_basis < 0 || p->v_patch_basis > p->v_patch)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "patch basis %d is outside [0, patch size %d]",
                           p->v_patch_basis, p->v_patch);
    if (!(p->v_residual_scale >= 0 && p->v_residual_scale <= 10))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vision residual scale %g is outside [0, 10]",
                           p->v_residual_scale);
    if (!(p->init_std > 0 && p->init_std <= 10))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "init std %g is outside (0, 10]", p->init_std);
    if (p->connector_init != VLM_INIT_CONNECTOR_HF && p->connector_init != VLM_INIT_CONNECTOR_TORCH)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "unknown connector init %d", (int)p->connector_init);
    switch (p->gguf_type) {
    case VLM_WTYPE_F32: case VLM_WTYPE_F16: case VLM_WTYPE_BF16: case VLM_WTYPE_Q8_0: case VLM_WTYPE_Q4_0: break;
    default: return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "unknown GGUF weight type %d", (int)p->gguf_type);
    }
    return VLM_OK;
}

/* Every tensor's size fits and the total stays below 2^62 bytes. */
static vlm_status check_sizes(const plan *pl, uint64_t *total, char *err, size_t err_size) {
    uint64_t sum = *total;
    for (size_t i = 0; i < pl->n; i++) {
        uint64_t n = 1;
        for (int d = 0; d < pl->t[i].n_dims; d++) {
            uint64_t s = (uint64_t)pl->t[i].shape[d];
            if (s && n > ((uint64_t)1 << 60) / s)
                return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "tensor %s is too large", pl->t[i].name);
            n *= s;
        }
        sum += n * 4;
        if (sum > ((uint64_t)1 << 62)) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "the model is too large");
    }
    *total = sum;
    return VLM_OK;
}

static vlm_status load_tokenizer(const char *path, tok_info *ti, char *err, size_t err_size) {
    memset(ti, 0, sizeof *ti);
    char e2[512];
    ti->text = vlm_read_file(path, &ti->len, e2, sizeof e2);
    if (!ti->text) return vlm_set_err(err, err_size, VLM_ERR_IO, "tokenizer: %s", e2);
    vlm_tokenizer *tok = NULL;
    vlm_status st = vlm_tokenizer_load_json(ti->text, ti->len, &tok, e2, sizeof e2);
    if (st) return vlm_set_err(err, err_size, st, "%s: %s", path, e2);
    ti->n_vocab = vlm_tokenizer_n_vocab(tok);
    ti->bos_id = vlm_tokenizer_token_to_id(tok, "<|begin_of_text|>");
    ti->eot_id = vlm_tokenizer_token_to_id(tok, "<|eot_id|>");
    ti->eot_text_id = vlm_tokenizer_token_to_id(tok, "<|end_of_text|>");
    int32_t comma = vlm_tokenizer_token_to_id(tok, ",");
    const char *missing = NULL;
    if (ti->bos_id < 0 || !vlm_tokenizer_is_special(tok, ti->bos_id)) missing = "<|begin_of_text|>";
    else if (ti->eot_id < 0 || !vlm_tokenizer_is_special(tok, ti->eot_id)) missing = "<|eot_id|>";
    vlm_tokenizer_free(tok);
    if (missing)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "%s: no special added token \"%s\" (the live template needs the Llama-3 special tokens)",
                           path, missing);
    if (comma < 0)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: no token \",\" (the live1+ frame interval token)", path);
    json_error_t je;
    ti->doc = json_loadb(ti->text, ti->len, 0, &je);
    if (!ti->doc) return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: line %d: %s", path, je.line, je.text);
    return VLM_OK;
}

static void tok_info_free(tok_info *ti) {
    free(ti->text);
    json_decref(ti->doc);
}

/* ======================================================================================= */
/* The folders                                                                             */
/* ======================================================================================= */

static json_t *llm_config(const vlm_init_params *p, const tok_info *ti) {
    json_t *j = json_object();
    json_object_set_new(j, "architectures", json_pack("[s]", "LlamaForCausalLM"));
    json_object_set_new(j, "attention_bias", json_false());
    json_object_set_new(j, "attention_dropout", json_real(0.0));
    json_object_set_new(j, "bos_token_id", json_integer(ti->bos_id));
    json_object_set_new(j, "eos_token_id", json_integer(ti->eot_id));
    json_object_set_new(j, "hidden_act", json_string("silu"));
    json_object_set_new(j, "hidden_size", json_integer(p->n_embd));
    json_object_set_new(j, "initializer_range", json_real(p->init_std));
    json_object_set_new(j, "intermediate_size", json_integer(p->n_ff));
    json_object_set_new(j, "max_position_embeddings", json_integer(p->max_pos));
    json_object_set_new(j, "mlp_bias", json_false());
    json_object_set_new(j, "model_type", json_string("llama"));
    json_object_set_new(j, "num_attention_heads", json_integer(p->n_head));
    json_object_set_new(j, "num_hidden_layers", json_integer(p->n_layer));
    json_object_set_new(j, "num_key_value_heads", json_integer(p->n_head_kv));
    json_object_set_new(j, "pretraining_tp", json_integer(1));
    json_object_set_new(j, "rms_norm_eps", json_real(p->rms_eps));
    json_object_set_new(j, "rope_scaling", json_null());
    json_object_set_new(j, "rope_theta", json_real(p->rope_theta));
    json_object_set_new(j, "tie_word_embeddings", json_false());
    json_object_set_new(j, "torch_dtype", json_string("float32"));
    json_object_set_new(j, "use_cache", json_true());
    json_object_set_new(j, "vocab_size", json_integer(ti->n_vocab));
    return j;
}

static json_t *generation_config(const tok_info *ti) {
    json_t *eos = ti->eot_text_id >= 0 ? json_pack("[ii]", ti->eot_text_id, ti->eot_id) : json_integer(ti->eot_id);
    return json_pack("{s:i,s:o}", "bos_token_id", ti->bos_id, "eos_token_id", eos);
}

/* tokenizer_config.json: the special tokens (as transformers saves them) and
 * the bos / eos the converter and the template read. */
static json_t *tokenizer_config(const vlm_init_params *p, const tok_info *ti) {
    json_t *j = json_object(), *dec = json_object();
    json_t *added = json_object_get(ti->doc, "added_tokens");
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id");
        if (!json_is_integer(id)) continue;
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(id));
        json_t *e = json_object();
        static const char *keys[6] = {"content", "lstrip", "normalized", "rstrip", "single_word", "special"};
        for (int k = 0; k < 6; k++) {
            json_t *v = json_object_get(a, keys[k]);
            json_object_set_new(e, keys[k], v ? json_incref(v) : k ? json_false() : json_string(""));
        }
        json_object_set_new(dec, key, e);
    }
    json_object_set_new(j, "added_tokens_decoder", dec);
    json_object_set_new(j, "bos_token", json_string("<|begin_of_text|>"));
    json_object_set_new(j, "clean_up_tokenization_spaces", json_true());
    json_object_set_new(j, "eos_token", json_string("<|eot_id|>"));
    json_object_set_new(j, "model_input_names", json_pack("[ss]", "input_ids", "attention_mask"));
    json_object_set_new(j, "model_max_length", json_integer(p->max_pos));
    json_object_set_new(j, "tokenizer_class", json_string("PreTrainedTokenizerFast"));
    return j;
}

static json_t *vision_config(const vlm_init_params *p) {
    json_t *j = json_object();
    json_object_set_new(j, "architectures", json_pack("[s]", "SiglipVisionModel"));
    json_object_set_new(j, "attention_dropout", json_real(0.0));
    json_object_set_new(j, "hidden_act", json_string("gelu_pytorch_tanh"));
    json_object_set_new(j, "hidden_size", json_integer(p->v_n_embd));
    json_object_set_new(j, "image_size", json_integer(p->v_image));
    json_object_set_new(j, "intermediate_size", json_integer(p->v_n_ff));
    json_object_set_new(j, "layer_norm_eps", json_real(p->v_eps));
    json_object_set_new(j, "model_type", json_string("siglip_vision_model"));
    json_object_set_new(j, "num_attention_heads", json_integer(p->v_n_head));
    json_object_set_new(j, "num_channels", json_integer(3));
    json_object_set_new(j, "num_hidden_layers", json_integer(p->v_n_layer));
    json_object_set_new(j, "patch_size", json_integer(p->v_patch));
    json_object_set_new(j, "torch_dtype", json_string("float32"));
    json_object_set_new(j, "vision_use_head", json_true());
    return j;
}

static json_t *preprocessor_config(const vlm_init_params *p) {
    return json_pack("{s:b,s:b,s:b,s:[f,f,f],s:s,s:[f,f,f],s:s,s:i,s:f,s:{s:i,s:i}}", "do_normalize", 1, "do_rescale",
                     1, "do_resize", 1, "image_mean", 0.5, 0.5, 0.5, "image_processor_type", "SiglipImageProcessor",
                     "image_std", 0.5, 0.5, 0.5, "processor_class", "SiglipProcessor", "resample", 3, "rescale_factor",
                     1.0 / 255.0, "size", "height", p->v_image, "width", p->v_image);
}

/* PEFT config of a connector-only adapter: LoRA settings of the released one,
 * a target_modules that selects nothing, the connector in modules_to_save. */
static json_t *adapter_config(void) {
    json_t *j = json_object();
    json_object_set_new(j, "alpha_pattern", json_object());
    json_object_set_new(j, "auto_mapping", json_null());
    json_object_set_new(j, "base_model_name_or_path", json_string("../llm"));
    json_object_set_new(j, "bias", json_string("none"));
    json_object_set_new(j, "fan_in_fan_out", json_false());
    json_object_set_new(j, "inference_mode", json_true());
    json_object_set_new(j, "init_lora_weights", json_true());
    json_object_set_new(j, "layer_replication", json_null());
    json_object_set_new(j, "layers_pattern", json_null());
    json_object_set_new(j, "layers_to_transform", json_null());
    json_object_set_new(j, "loftq_config", json_object());
    json_object_set_new(j, "lora_alpha", json_integer(16));
    json_object_set_new(j, "lora_dropout", json_real(0.05));
    json_object_set_new(j, "megatron_config", json_null());
    json_object_set_new(j, "megatron_core", json_string("megatron.core"));
    json_object_set_new(j, "modules_to_save", json_pack("[s]", "connector"));
    json_object_set_new(j, "peft_type", json_string("LORA"));
    json_object_set_new(j, "r", json_integer(8));
    json_object_set_new(j, "rank_pattern", json_object());
    json_object_set_new(j, "revision", json_null());
    json_object_set_new(j, "target_modules", json_string("no_module_has_this_name$"));
    json_object_set_new(j, "task_type", json_string("CAUSAL_LM"));
    json_object_set_new(j, "use_dora", json_false());
    json_object_set_new(j, "use_rslora", json_false());
    return j;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* out_dir must not exist, or be an empty folder. */
static vlm_status check_out_dir(const char *dir, char *err, size_t err_size) {
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (errno == ENOENT) return VLM_OK;
        return vlm_set_err(err, err_size, VLM_ERR_IO, "%s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode)) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s exists and is not a folder", dir);
    DIR *d = opendir(dir);
    if (!d) return vlm_set_err(err, err_size, VLM_ERR_IO, "%s: %s", dir, strerror(errno));
    bool empty = true;
    for (struct dirent *e; empty && (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = false;
    closedir(d);
    if (!empty) /* an empty one is replaced by the final rename */
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s already exists and is not empty; refusing to overwrite",
                           dir);
    return VLM_OK;
}

static vlm_status write_folders(const vlm_init_params *p, const tok_info *ti, const char *root, char *err,
                                size_t err_size) {
    char llm[DIR_BUF], vis[DIR_BUF], ada[DIR_BUF], path[FILE_BUF];
    snprintf(llm, sizeof llm, "%s/llm", root);
    snprintf(vis, sizeof vis, "%s/vision", root);
    snprintf(ada, sizeof ada, "%s/adapter", root);
    const char *dirs[3] = {llm, vis, ada};
    for (int i = 0; i < 3; i++)
        if (mkdir(dirs[i], 0777) != 0) return vlm_set_err(err, err_size, VLM_ERR_IO, "cannot create %s: %s", dirs[i], strerror(errno));
    plan pls[3] = {{0}};
    plan_llm(&pls[0], p, ti->n_vocab);
    plan_vision(&pls[1], p);
    plan_connector(&pls[2], p);
    uint64_t total = 0;
    vlm_status st = VLM_OK;
    for (int i = 0; i < 3 && !st; i++)
        st = pls[i].oom ? vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory") : check_sizes(&pls[i], &total, err, err_size);
    if (!st) st = write_json(llm, "config.json", llm_config(p, ti), err, err_size);
    if (!st) st = write_json(llm, "generation_config.json", generation_config(ti), err, err_size);
    if (!st) st = write_bytes(llm, "tokenizer.json", ti->text, ti->len, err, err_size);
    if (!st) st = write_json(llm, "tokenizer_config.json", tokenizer_config(p, ti), err, err_size);
    if (!st) st = write_json(vis, "config.json", vision_config(p), err, err_size);
    if (!st) st = write_json(vis, "preprocessor_config.json", preprocessor_config(p), err, err_size);
    if (!st) st = write_json(ada, "adapter_config.json", adapter_config(), err, err_size);
    const char *files[3] = {llm, vis, ada};
    const char *names[3] = {"model.safetensors", "model.safetensors", "adapter_model.safetensors"};
    for (int i = 0; i < 3 && !st; i++) {
        snprintf(path, sizeof path, "%s/%s", files[i], names[i]);
        st = write_plan(path, &pls[i], p->seed, err, err_size);
    }
    for (int i = 0; i < 3; i++) free(pls[i].t);
    return st;
}

vlm_status vlm_init_write(const vlm_init_params *p, char *err, size_t err_size) {
    if (!p) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "init: NULL params");
    vlm_status st = check_params(p, err, err_size);
    if (st) return st;
    tok_info ti;
    if ((st = load_tokenizer(p->tokenizer_path, &ti, err, err_size))) {
        tok_info_free(&ti);
        return st;
    }
    /* the output folder without trailing slashes, and a fresh temporary beside it */
    char out[ROOT_BUF - 96], tmp[ROOT_BUF];
    snprintf(out, sizeof out, "%s", p->out_dir);
    size_t ol = strlen(out);
    while (ol > 1 && out[ol - 1] == '/') out[--ol] = 0;
    if ((st = check_out_dir(out, err, err_size))) {
        tok_info_free(&ti);
        return st;
    }
    bool made = false;
    for (int k = 0; k < 1000 && !made; k++) {
        snprintf(tmp, sizeof tmp, "%s.part-%ld-%d", out, (long)getpid(), k);
        if (mkdir(tmp, 0777) == 0) made = true;
        else if (errno != EEXIST) break;
    }
    if (!made) {
        st = vlm_set_err(err, err_size, VLM_ERR_IO, "cannot create a folder beside %s: %s", out, strerror(errno));
        tok_info_free(&ti);
        return st;
    }
    st = write_folders(p, &ti, tmp, err, err_size);
    tok_info_free(&ti);
    char *vis_gguf = NULL;
    if (!st && p->gguf_path) {
        vlm_convert_params cp = vlm_convert_default_params();
        char llm[DIR_BUF], vis[DIR_BUF], ada[DIR_BUF];
        snprintf(llm, sizeof llm, "%s/llm", tmp);
        snprintf(vis, sizeof vis, "%s/vision", tmp);
        snprintf(ada, sizeof ada, "%s/adapter", tmp);
        cp.llm_dir = llm, cp.vision_dir = vis, cp.adapter_dir = ada;
        cp.out_path = p->gguf_path;
        cp.type = p->gguf_type;
        cp.live_version = p->frame_tokens == 1 ? VLM_LIVE_V1 : VLM_LIVE_V1PLUS;
        char e2[1024];
        st = vlm_convert(&cp, e2, sizeof e2);
        if (st) vlm_set_err(err, err_size, st, "converting to GGUF: %s", e2);
        else if (!(vis_gguf = vlm_convert_vision_path(p->gguf_path))) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    if (!st && rename(tmp, out) != 0) {
        st = vlm_set_err(err, err_size, VLM_ERR_IO, "cannot rename %s to %s: %s", tmp, out, strerror(errno));
        if (p->gguf_path) unlink(p->gguf_path);
        if (vis_gguf) unlink(vis_gguf);
    }
    if (st) remove_tree(tmp);
    free(vis_gguf);
    return st;
}
