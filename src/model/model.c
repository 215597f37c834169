/* model.c - load the GGUF pair written by `videollm convert` into a vlm_model:
 * hyper-parameters and live settings from the keys, weight views into the
 * mappings (checked against the expected shapes), the tokenizer with <v>
 * registered. Every number read from a file is validated before use; errors
 * name the file and the key or tensor. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/convert.h"
#include "model/model.h"

void *vlm_alloc64(size_t n) {
    if (n == 0) n = 64;
    if (n > SIZE_MAX - 63) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, 64, (n + 63) & ~(size_t)63)) return NULL;
    return p;
}

size_t vlm_model_mm_scratch(const vlm_wt *const *ws, size_t n, int64_t T, int n_threads) {
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ws[i]->data) continue;
        size_t s = vlm_matmul_scratch_size(ws[i]->type, T, ws[i]->n_in, n_threads);
        if (s > best) best = s;
    }
    return best;
}

/* ---- loading context ------------------------------------------------------------------------- */

typedef struct {
    vlm_model *m;
    const vlm_gguf *g;
    const char *file; /* label for messages */
    char *err;
    size_t err_size;
} loader;

static vlm_status own(vlm_model *m, void *p) {
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? m->cap_owned * 2 : 64;
        void **no = realloc(m->owned, cap * sizeof *no);
        if (!no) return VLM_ERR_OOM;
        m->owned = no;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return VLM_OK;
}

static vlm_status get_int(loader *L, const char *key, int64_t lo, int64_t hi, int32_t *out) {
    int64_t v;
    vlm_status st = vlm_gguf_get_i64(L->g, key, &v, L->err, L->err_size);
    if (st) return st;
    if (v < lo || v > hi)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: key %s = %lld is outside [%lld, %lld]", L->file,
                           key, (long long)v, (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return VLM_OK;
}

static vlm_status get_int_opt(loader *L, const char *key, int64_t lo, int64_t hi, int32_t def, int32_t *out) {
    if (vlm_gguf_find_key(L->g, key) < 0) {
        *out = def;
        return VLM_OK;
    }
    return get_int(L, key, lo, hi, out);
}

static vlm_status get_float(loader *L, const char *key, float lo, float hi, float *out) {
    float v;
    vlm_status st = vlm_gguf_get_f32(L->g, key, &v, L->err, L->err_size);
    if (st) return st;
    if (!(v >= lo && v <= hi))
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: key %s = %g is outside [%g, %g]", L->file, key,
                           (double)v, (double)lo, (double)hi);
    *out = v;
    return VLM_OK;
}

static vlm_status get_float_opt(loader *L, const char *key, float lo, float hi, float def, float *out) {
    if (vlm_gguf_find_key(L->g, key) < 0) {
        *out = def;
        return VLM_OK;
    }
    return get_float(L, key, lo, hi, out);
}

/* A 2-D weight [n_out][n_in] (ggml ne = {n_in, n_out}). */
static vlm_status get_wt(loader *L, const char *name, int64_t n_in, int64_t n_out, vlm_wt *w) {
    const vlm_gguf_tensor *t;
    int64_t ne[2] = {n_in, n_out};
    vlm_status st = vlm_gguf_expect_tensor(L->g, name, 2, ne, &t, L->err, L->err_size);
    if (st) return st;
    if (vlm_dtype_row_size(t->type, n_in) == 0)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_UNSUPPORTED, "%s: tensor %s: type %s with rows of %lld",
                           L->file, name, vlm_dtype_name(t->type), (long long)n_in);
    *w = (vlm_wt){t->data, t->type, n_in, n_out};
    return VLM_OK;
}

/* A tensor of n elements (any shape with that many) as f32: the mapping
 * itself when stored as aligned f32, else a converted copy owned by the model. */
static vlm_status get_vec(loader *L, const char *name, int64_t n, const float **out) {
    const vlm_gguf_tensor *t = vlm_gguf_find_tensor(L->g, name);
    if (!t) return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: missing tensor %s", L->file, name);
    int64_t cnt = 1;
    for (int i = 0; i < t->n_dims; i++) {
        if (t->ne[i] <= 0 || cnt > INT64_MAX / t->ne[i]) { cnt = -1; break; }
        cnt *= t->ne[i];
    }
    if (cnt != n)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: tensor %s has %lld elements, expected %lld",
                           L->file, name, (long long)cnt, (long long)n);
    if (t->type == VLM_DT_F32 && ((uintptr_t)t->data & 3) == 0) {
        *out = t->data;
        return VLM_OK;
    }
    float *buf = vlm_alloc64((size_t)n * sizeof(float));
    if (!buf || own(L->m, buf)) {
        free(buf);
        return vlm_set_err(L->err, L->err_size, VLM_ERR_OOM, "%s: out of memory for tensor %s", L->file, name);
    }
    if (vlm_dequantize_row(t->type, t->data, buf, n))
        return vlm_set_err(L->err, L->err_size, VLM_ERR_UNSUPPORTED, "%s: tensor %s: cannot convert %s to f32",
                           L->file, name, vlm_dtype_name(t->type));
    *out = buf;
    return VLM_OK;
}

/* ---- LM file ----------------------------------------------------------------------------------- */

static vlm_status load_lm(loader *L) {
    vlm_model *m = L->m;
    vlm_model_hparams *hp = &m->hp;
    vlm_status st;
    const char *arch;
    if ((st = vlm_gguf_get_str(L->g, "general.architecture", &arch, NULL, L->err, L->err_size))) return st;
    if (strcmp(arch, "llama"))
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT,
                           "%s: general.architecture is \"%s\", expected \"llama\" (is this the vision file?)",
                           L->file, arch);
    if ((st = get_int(L, "llama.embedding_length", 1, 1 << 16, &hp->n_embd)) ||
        (st = get_int(L, "llama.block_count", 1, 4096, &hp->n_layer)) ||
        (st = get_int(L, "llama.feed_forward_length", 1, 1 << 20, &hp->n_ff)) ||
        (st = get_int(L, "llama.attention.head_count", 1, 4096, &hp->n_head)) ||
        (st = get_int_opt(L, "llama.attention.head_count_kv", 1, 4096, hp->n_head, &hp->n_head_kv)) ||
        (st = get_int_opt(L, "llama.context_length", 1, INT32_MAX, 8192, &hp->n_ctx_train)) ||
        (st = get_float_opt(L, "llama.rope.freq_base", 1e-3f, 1e12f, 10000.0f, &hp->rope_theta)) ||
        (st = get_float(L, "llama.attention.layer_norm_rms_epsilon", 0.0f, 1.0f, &hp->rms_norm_eps)))
        return st;
    if (hp->n_embd % hp->n_head || hp->n_head % hp->n_head_kv)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT,
                           "%s: n_embd %d, head_count %d and head_count_kv %d are not divisible", L->file,
                           hp->n_embd, hp->n_head, hp->n_head_kv);
    hp->n_head_dim = hp->n_embd / hp->n_head;
    if (hp->n_head_dim % 2 || hp->n_head_dim > VLM_MODEL_MAX_HEAD_DIM)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_UNSUPPORTED, "%s: head dim %d (must be even and <= %d)",
                           L->file, hp->n_head_dim, VLM_MODEL_MAX_HEAD_DIM);
    int32_t n_rot;
    if ((st = get_int_opt(L, "llama.rope.dimension_count", 0, 1 << 16, hp->n_head_dim, &n_rot))) return st;
    if (n_rot != hp->n_head_dim)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_UNSUPPORTED,
                           "%s: llama.rope.dimension_count %d differs from the head dim %d", L->file, n_rot,
                           hp->n_head_dim);

    const int64_t H = hp->n_embd, F = hp->n_ff, Dh = hp->n_head_dim;
    const int64_t Nq = (int64_t)hp->n_head * Dh, Nkv = (int64_t)hp->n_head_kv * Dh;
    /* the vocabulary comes from the embedding table's shape */
    const vlm_gguf_tensor *te = vlm_gguf_find_tensor(L->g, "token_embd.weight");
    if (!te) return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: missing tensor token_embd.weight", L->file);
    if (te->n_dims != 2 || te->ne[1] < 1 || te->ne[1] > INT32_MAX)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: token_embd.weight has a bad shape", L->file);
    hp->n_vocab = (int32_t)te->ne[1];
    int32_t v_key;
    if ((st = get_int_opt(L, "llama.vocab_size", 1, INT32_MAX, hp->n_vocab, &v_key))) return st;
    if (v_key != hp->n_vocab)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT,
                           "%s: llama.vocab_size %d differs from token_embd.weight rows %d", L->file, v_key,
                           hp->n_vocab);
    const int64_t V = hp->n_vocab;
    if ((st = get_wt(L, "token_embd.weight", H, V, &m->tok_embd))) return st;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return vlm_set_err(L->err, L->err_size, VLM_ERR_OOM, "out of memory");
    char name[96];
#define LW(field, suffix, nin, nout)                                                                              \
    do {                                                                                                          \
        snprintf(name, sizeof name, "blk.%d." suffix ".weight", il);                                              \
        if ((st = get_wt(L, name, nin, nout, &ly->field))) return st;                                             \
    } while (0)
#define LV(field, suffix, n)                                                                                      \
    do {                                                                                                          \
        snprintf(name, sizeof name, "blk.%d." suffix ".weight", il);                                              \
        if ((st = get_vec(L, name, n, &ly->field))) return st;                                                    \
    } while (0)
    for (int il = 0; il < hp->n_layer; il++) {
        vlm_llama_layer *ly = &m->layers[il];
        LV(attn_norm, "attn_norm", H);
        LW(wq, "attn_q", H, Nq);
        LW(wk, "attn_k", H, Nkv);
        LW(wv, "attn_v", H, Nkv);
        LW(wo, "attn_output", Nq, H);
        LV(ffn_norm, "ffn_norm", H);
        LW(ffn_gate, "ffn_gate", H, F);
        LW(ffn_up, "ffn_up", H, F);
        LW(ffn_down, "ffn_down", F, H);
    }
#undef LW
#undef LV
    if ((st = get_vec(L, "output_norm.weight", H, &m->output_norm))) return st;
    if (vlm_gguf_find_tensor(L->g, "output.weight")) {
        if ((st = get_wt(L, "output.weight", H, V, &m->output))) return st;
    } else {
        m->output = m->tok_embd; /* tied embeddings */
    }
    hp->lm_weight_type = m->layers[0].wq.type;

    /* live settings */
    int32_t ntok;
    if ((st = get_int(L, VLM_KV_FRAME_NUM_TOKENS, 1, 4096, &ntok))) return st;
    hp->frame_num_tokens = ntok;
    if ((st = get_int(L, VLM_KV_V_PLACEHOLDER_ID, 0, INT32_MAX, &hp->v_placeholder_id)) ||
        (st = get_int_opt(L, VLM_KV_FRAME_TOKEN_INTERVAL_ID, -1, (int64_t)V - 1, -1, &hp->frame_token_interval_id)) ||
        (st = get_int(L, VLM_KV_EOS_TOKEN_ID, 0, (int64_t)V - 1, &hp->eos_token_id)) ||
        (st = get_int_opt(L, VLM_KV_FRAME_RESOLUTION, 1, 16384, 0, &hp->frame_resolution)) ||
        (st = get_float_opt(L, VLM_KV_FRAME_FPS, 1e-3f, 1000.0f, 2.0f, &hp->frame_fps)) ||
        (st = get_float_opt(L, VLM_KV_STREAM_THRESHOLD, 0.0f, 1.0f, 0.725f, &hp->stream_threshold)))
        return st;
    bool cls = true;
    if (vlm_gguf_find_key(L->g, VLM_KV_FRAME_TOKEN_CLS) >= 0 &&
        (st = vlm_gguf_get_bool(L->g, VLM_KV_FRAME_TOKEN_CLS, &cls, L->err, L->err_size)))
        return st;
    m->frame_cls = cls;
    m->pool_h = m->pool_w = 0;
    if (vlm_gguf_find_key(L->g, VLM_KV_FRAME_TOKEN_POOLED) >= 0) {
        uint64_t n;
        int64_t idx = vlm_gguf_find_key(L->g, VLM_KV_FRAME_TOKEN_POOLED);
        n = vlm_gguf_arr_n(L->g, (size_t)idx);
        if (n == 2) {
            int32_t pw[2];
            if ((st = vlm_gguf_get_arr_num(L->g, VLM_KV_FRAME_TOKEN_POOLED, VLM_GGUF_INT32, pw, 2, L->err,
                                           L->err_size)))
                return st;
            if (pw[0] < 1 || pw[1] < 1 || pw[0] > 64 || pw[1] > 64)
                return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: %s = [%d, %d] is out of range",
                                   L->file, VLM_KV_FRAME_TOKEN_POOLED, pw[0], pw[1]);
            m->pool_h = pw[0];
            m->pool_w = pw[1];
        } else if (n != 0) {
            return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: %s must hold 0 or 2 integers", L->file,
                               VLM_KV_FRAME_TOKEN_POOLED);
        }
    } else if (ntok == 10) {
        m->pool_h = m->pool_w = 3;
    }
    if ((cls ? 1 : 0) + m->pool_h * m->pool_w != ntok)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT,
                           "%s: frame_num_tokens %d does not equal cls (%d) + pooled %dx%d", L->file, ntok, cls ? 1 : 0,
                           m->pool_h, m->pool_w);

    const char *sys = "";
    size_t sys_len = 0;
    if (vlm_gguf_find_key(L->g, VLM_KV_SYSTEM_PROMPT) >= 0 &&
        (st = vlm_gguf_get_str(L->g, VLM_KV_SYSTEM_PROMPT, &sys, &sys_len, L->err, L->err_size)))
        return st;
    m->system_prompt = malloc(sys_len + 1);
    if (!m->system_prompt) return vlm_set_err(L->err, L->err_size, VLM_ERR_OOM, "out of memory");
    memcpy(m->system_prompt, sys, sys_len);
    m->system_prompt[sys_len] = 0;
    return VLM_OK;
}

static vlm_status load_tokenizer(loader *L) {
    vlm_model *m = L->m;
    const char *json, *eos = NULL;
    size_t len;
    vlm_status st = vlm_gguf_get_str(L->g, VLM_KV_TOKENIZER_JSON, &json, &len, L->err, L->err_size);
    if (st) return st;
    char terr[256];
    st = vlm_tokenizer_load_json(json, len, &m->tok, terr, sizeof terr);
    if (st) return vlm_set_err(L->err, L->err_size, st, "%s: %s: %s", L->file, VLM_KV_TOKENIZER_JSON, terr);
    int32_t vid;
    if ((st = vlm_tokenizer_add_special(m->tok, "<v>", &vid)))
        return vlm_set_err(L->err, L->err_size, st, "%s: cannot register <v>", L->file);
    if (vid != m->hp.v_placeholder_id)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: <v> gets id %d in the tokenizer but %s is %d",
                           L->file, vid, VLM_KV_V_PLACEHOLDER_ID, m->hp.v_placeholder_id);
    if (vlm_gguf_find_key(L->g, VLM_KV_EOS_TOKEN) >= 0) {
        if ((st = vlm_gguf_get_str(L->g, VLM_KV_EOS_TOKEN, &eos, NULL, L->err, L->err_size))) return st;
        if (*eos && vlm_tokenizer_set_eos(m->tok, eos) != VLM_OK)
            return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: eos token \"%s\" is not in the tokenizer",
                               L->file, eos);
    }
    if (vlm_tokenizer_eos_id(m->tok) >= 0 && vlm_tokenizer_eos_id(m->tok) != m->hp.eos_token_id)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: eos id %d in the tokenizer but %s is %d",
                           L->file, vlm_tokenizer_eos_id(m->tok), VLM_KV_EOS_TOKEN_ID, m->hp.eos_token_id);
    return VLM_OK;
}

/* ---- vision file ------------------------------------------------------------------------------- */

static vlm_status load_vision(loader *L) {
    vlm_model *m = L->m;
    vlm_model_hparams *hp = &m->hp;
    vlm_status st;
    const char *arch;
    if ((st = vlm_gguf_get_str(L->g, "general.architecture", &arch, NULL, L->err, L->err_size))) return st;
    if (strcmp(arch, "siglip"))
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT,
                           "%s: general.architecture is \"%s\", expected \"siglip\"", L->file, arch);
    int32_t C;
    if ((st = get_int(L, VLM_KV_V_EMBEDDING_LENGTH, 1, 1 << 16, &hp->v_n_embd)) ||
        (st = get_int(L, VLM_KV_V_BLOCK_COUNT, 1, 1024, &hp->v_n_layer)) ||
        (st = get_int(L, VLM_KV_V_HEAD_COUNT, 1, 1024, &hp->v_n_head)) ||
        (st = get_int(L, VLM_KV_V_FEED_FORWARD_LENGTH, 1, 1 << 20, &hp->v_n_ff)) ||
        (st = get_int(L, VLM_KV_V_IMAGE_SIZE, 1, 4096, &hp->v_image_size)) ||
        (st = get_int(L, VLM_KV_V_PATCH_SIZE, 1, 4096, &hp->v_patch_size)) ||
        (st = get_int_opt(L, VLM_KV_V_NUM_CHANNELS, 3, 3, 3, &C)) ||
        (st = get_float_opt(L, VLM_KV_V_LAYER_NORM_EPS, 0.0f, 1.0f, 1e-6f, &hp->v_ln_eps)))
        return st;
    if (vlm_gguf_find_key(L->g, VLM_KV_V_HIDDEN_ACT) >= 0) {
        const char *act;
        if ((st = vlm_gguf_get_str(L->g, VLM_KV_V_HIDDEN_ACT, &act, NULL, L->err, L->err_size))) return st;
        if (strcmp(act, "gelu_pytorch_tanh") && strcmp(act, "gelu_new") && strcmp(act, "gelu_fast"))
            return vlm_set_err(L->err, L->err_size, VLM_ERR_UNSUPPORTED,
                               "%s: vision hidden_act \"%s\" (only the tanh GELU is implemented)", L->file, act);
    }
    if (vlm_gguf_find_key(L->g, VLM_KV_MM_ACT) >= 0) {
        const char *act;
        if ((st = vlm_gguf_get_str(L->g, VLM_KV_MM_ACT, &act, NULL, L->err, L->err_size))) return st;
        if (strcmp(act, "gelu"))
            return vlm_set_err(L->err, L->err_size, VLM_ERR_UNSUPPORTED,
                               "%s: connector act \"%s\" (only the exact GELU is implemented)", L->file, act);
    }
    for (int c = 0; c < 3; c++) m->image_mean[c] = m->image_std[c] = 0.5f;
    const char *mk[2] = {VLM_KV_V_IMAGE_MEAN, VLM_KV_V_IMAGE_STD};
    float *mv[2] = {m->image_mean, m->image_std};
    for (int i = 0; i < 2; i++) {
        if (vlm_gguf_find_key(L->g, mk[i]) < 0) continue;
        uint64_t n;
        if ((st = vlm_gguf_get_arr(L->g, mk[i], VLM_GGUF_FLOAT32, &n, L->err, L->err_size))) return st;
        if (n != 3)
            return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: %s must hold 3 floats", L->file, mk[i]);
        if ((st = vlm_gguf_get_arr_num(L->g, mk[i], VLM_GGUF_FLOAT32, mv[i], 3, L->err, L->err_size))) return st;
        for (int c = 0; c < 3; c++)
            if (!isfinite(mv[i][c]) || (i == 1 && !(mv[i][c] > 0.0f)))
                return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: %s[%d] is invalid", L->file, mk[i], c);
    }
    const int64_t D = hp->v_n_embd, I = hp->v_n_ff, P = hp->v_patch_size, H = hp->n_embd;
    if (D % hp->v_n_head || D / hp->v_n_head > VLM_MODEL_MAX_HEAD_DIM)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: vision width %lld / %d heads is unusable",
                           L->file, (long long)D, hp->v_n_head);
    if (hp->v_image_size % hp->v_patch_size)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: image size %d is not a multiple of patch %d",
                           L->file, hp->v_image_size, hp->v_patch_size);
    m->v_channels = 3;
    m->v_grid = hp->v_image_size / hp->v_patch_size;
    const int64_t Np = (int64_t)m->v_grid * m->v_grid;
    if (m->pool_h > m->v_grid || m->pool_w > m->v_grid)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "%s: pooled grid %dx%d is larger than the %dx%d patches",
                           L->file, m->pool_h, m->pool_w, m->v_grid, m->v_grid);
    if (hp->frame_resolution == 0) hp->frame_resolution = hp->v_image_size;
    if (hp->frame_resolution != hp->v_image_size)
        return vlm_set_err(L->err, L->err_size, VLM_ERR_FORMAT, "frame_resolution %d differs from the image size %d",
                           hp->frame_resolution, hp->v_image_size);

    /* patch embedding: ggml [P, P, C, D] = PyTorch [D, C, P, P] = rows of C*P*P */
    {
        const vlm_gguf_tensor *t;
        int64_t ne[4] = {P, P, 3, D};
        if ((st = vlm_gguf_expect_tensor(L->g, "v.patch_embd.weight", 4, ne, &t, L->err, L->err_size))) return st;
        if (vlm_dtype_row_size(t->type, 3 * P * P) == 0)
            return vlm_set_err(L->err, L->err_size, VLM_ERR_UNSUPPORTED, "%s: v.patch_embd.weight: type %s", L->file,
                               vlm_dtype_name(t->type));
        m->patch = (vlm_wt){t->data, t->type, 3 * P * P, D};
    }
    if ((st = get_vec(L, "v.patch_embd.bias", D, &m->patch_b)) ||
        (st = get_vec(L, "v.position_embd.weight", Np * D, &m->pos_embd)))
        return st;
    m->vlayers = calloc((size_t)hp->v_n_layer, sizeof *m->vlayers);
    if (!m->vlayers) return vlm_set_err(L->err, L->err_size, VLM_ERR_OOM, "out of memory");
    char name[96];
#define VW(field, suffix, nin, nout)                                                                              \
    do {                                                                                                          \
        snprintf(name, sizeof name, "v.blk.%d." suffix, il);                                                      \
        if ((st = get_wt(L, name, nin, nout, &ly->field))) return st;                                             \
    } while (0)
#define VV(field, suffix, n)                                                                                      \
    do {                                                                                                          \
        snprintf(name, sizeof name, "v.blk.%d." suffix, il);                                                      \
        if ((st = get_vec(L, name, n, &ly->field))) return st;                                                    \
    } while (0)
    for (int il = 0; il < hp->v_n_layer; il++) {
        vlm_siglip_layer *ly = &m->vlayers[il];
        VV(ln1_w, "ln1.weight", D);
        VV(ln1_b, "ln1.bias", D);
        VW(q, "attn_q.weight", D, D);
        VV(q_b, "attn_q.bias", D);
        VW(k, "attn_k.weight", D, D);
        VV(k_b, "attn_k.bias", D);
        VW(v, "attn_v.weight", D, D);
        VV(v_b, "attn_v.bias", D);
        VW(o, "attn_out.weight", D, D);
        VV(o_b, "attn_out.bias", D);
        VV(ln2_w, "ln2.weight", D);
        VV(ln2_b, "ln2.bias", D);
        VW(up, "ffn_up.weight", D, I);
        VV(up_b, "ffn_up.bias", I);
        VW(down, "ffn_down.weight", I, D);
        VV(down_b, "ffn_down.bias", D);
    }
#undef VW
#undef VV
    if ((st = get_vec(L, "v.post_ln.weight", D, &m->post_ln_w)) ||
        (st = get_vec(L, "v.post_ln.bias", D, &m->post_ln_b)))
        return st;
    if (m->frame_cls) {
        if ((st = get_vec(L, "v.head.probe", D, &m->probe)) ||
            (st = get_wt(L, "v.head.attn_in.weight", D, 3 * D, &m->head_in)) ||
            (st = get_vec(L, "v.head.attn_in.bias", 3 * D, &m->head_in_b)) ||
            (st = get_wt(L, "v.head.attn_out.weight", D, D, &m->head_out)) ||
            (st = get_vec(L, "v.head.attn_out.bias", D, &m->head_out_b)) ||
            (st = get_vec(L, "v.head.ln.weight", D, &m->head_ln_w)) ||
            (st = get_vec(L, "v.head.ln.bias", D, &m->head_ln_b)) ||
            (st = get_wt(L, "v.head.ffn_up.weight", D, I, &m->head_up)) ||
            (st = get_vec(L, "v.head.ffn_up.bias", I, &m->head_up_b)) ||
            (st = get_wt(L, "v.head.ffn_down.weight", I, D, &m->head_down)) ||
            (st = get_vec(L, "v.head.ffn_down.bias", D, &m->head_down_b)))
            return st;
    }
    if ((st = get_wt(L, "mm.0.weight", D, H, &m->mm0)) || (st = get_vec(L, "mm.0.bias", H, &m->mm0_b)) ||
        (st = get_wt(L, "mm.2.weight", H, H, &m->mm2)) || (st = get_vec(L, "mm.2.bias", H, &m->mm2_b)))
        return st;
    hp->v_weight_type = m->vlayers[0].q.type;
    return VLM_OK;
}

/* ---- public ------------------------------------------------------------------------------------ */

vlm_model_params vlm_model_default_params(void) {
    vlm_model_params p = {.vision_path = NULL, .load_vision = true, .load_tokenizer = true};
    return p;
}

void vlm_model_free(vlm_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    free(m->vlayers);
    free(m->system_prompt);
    vlm_tokenizer_free(m->tok);
    vlm_gguf_close(m->lm_file);
    vlm_gguf_close(m->v_file);
    free(m);
}

/* folder of path + "/" + base, malloc'd. */
static char *sibling_path(const char *path, const char *base) {
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) + 1 : 0, bl = strlen(base);
    char *out = malloc(dl + bl + 1);
    if (!out) return NULL;
    memcpy(out, path, dl);
    memcpy(out + dl, base, bl + 1);
    return out;
}

vlm_status vlm_model_load(const char *path, const vlm_model_params *pp, vlm_model **out, char *err,
                          size_t err_size) {
    if (out) *out = NULL;
    if (!path || !out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_model_load: NULL argument");
    vlm_model_params p = pp ? *pp : vlm_model_default_params();
    vlm_model *m = calloc(1, sizeof *m);
    if (!m) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    vlm_status st = vlm_gguf_open(path, &m->lm_file, err, err_size);
    loader L = {m, m->lm_file, path, err, err_size};
    if (!st) st = load_lm(&L);
    if (!st && p.load_tokenizer) st = load_tokenizer(&L);
    if (!st && p.load_vision) {
        char *vpath = NULL;
        if (p.vision_path) {
            vpath = strdup(p.vision_path);
        } else {
            const char *base;
            st = vlm_gguf_get_str(m->lm_file, VLM_KV_VISION_FILE, &base, NULL, err, err_size);
            if (!st && (!*base || strchr(base, '/') || !strcmp(base, ".") || !strcmp(base, "..")))
                st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s \"%s\" is not a plain file name", path,
                                 VLM_KV_VISION_FILE, base);
            if (!st) vpath = sibling_path(path, base);
        }
        if (!st && !vpath) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        if (!st) st = vlm_gguf_open(vpath, &m->v_file, err, err_size);
        if (!st) {
            loader LV = {m, m->v_file, vpath, err, err_size};
            st = load_vision(&LV);
        }
        free(vpath);
    }
    if (st) {
        vlm_model_free(m);
        return st;
    }
    *out = m;
    return VLM_OK;
}

const vlm_model_hparams *vlm_model_get_hparams(const vlm_model *m) { return m ? &m->hp : NULL; }
int32_t vlm_model_frame_num_tokens(const vlm_model *m) { return m ? m->hp.frame_num_tokens : 0; }
int32_t vlm_model_v_placeholder_id(const vlm_model *m) { return m ? m->hp.v_placeholder_id : -1; }
int32_t vlm_model_frame_interval_id(const vlm_model *m) { return m ? m->hp.frame_token_interval_id : -1; }
int32_t vlm_model_eos_id(const vlm_model *m) { return m ? m->hp.eos_token_id : -1; }
float vlm_model_stream_threshold(const vlm_model *m) { return m ? m->hp.stream_threshold : 0.0f; }
float vlm_model_frame_fps(const vlm_model *m) { return m ? m->hp.frame_fps : 0.0f; }
int32_t vlm_model_frame_resolution(const vlm_model *m) { return m ? m->hp.frame_resolution : 0; }
const char *vlm_model_system_prompt(const vlm_model *m) { return m && m->system_prompt ? m->system_prompt : ""; }
const vlm_tokenizer *vlm_model_tokenizer(const vlm_model *m) { return m ? m->tok : NULL; }
bool vlm_model_has_vision(const vlm_model *m) { return m && m->v_file; }
