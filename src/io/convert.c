/* convert.c - Hugging Face folders (Llama-3, SigLIP, PEFT LoRA + connector)
 * -> the GGUF pair described in docs/model-format.md.
 *
 * Two phases. Planning reads the three config files and the tokenizer, opens
 * every safetensors file, and builds the full list of output tensors: source
 * tensor, LoRA pair, q/k permutation, output type, shape. Every check
 * (missing/extra/misshaped tensors, dtypes, LoRA shapes, architectures)
 * happens here, so nothing is written for a bad input. Writing then streams
 * one tensor at a time in row chunks: rows are read from the mapping,
 * converted to f32, merged with their LoRA delta (W + scale * B @ A, in f32),
 * converted to the output type and appended to the file; the source pages
 * are released after each tensor, so memory stays at a few chunk buffers. */
#include "io/convert.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "ops/quant.h"
#include "text/live_prompts.h"

#define LLAMA3_SPLIT_REGEX                                                                                 \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define CHUNK_FLOATS ((size_t)1 << 22) /* 16 MiB of f32 rows per chunk */
#define MAX_DIM ((int64_t)1 << 24)     /* sanity bound on any config dimension */

enum { TOK_NORMAL = 1, TOK_CONTROL = 3, TOK_USER_DEFINED = 4, TOK_UNUSED = 5 };

typedef struct {
    int64_t vocab, hidden, layers, heads, kv_heads, inter, max_pos, head_dim;
    double rope_theta, rms_eps;
    bool tie;
} llama_hp;

typedef struct {
    int64_t hidden, layers, heads, inter, image, patch, channels;
    double eps;
    const char *act;
    float mean[3], std[3];
} siglip_hp;

typedef struct {
    char name[VLM_GGUF_MAX_NAME + 1];
    const vlm_st_tensor *src, *lora_a, *lora_b;
    const vlm_st_tensor *replaced; /* base tensor superseded by a copy saved with the adapter */
    int64_t head_dim; /* > 0: q/k row permutation with heads of head_dim rows */
    int type;
    int n_dims;
    int64_t ne[4];
} item;

typedef struct {
    item *v;
    size_t n, cap;
} item_list;

typedef struct {
    pcre2_code *re; /* target_modules as a regex */
    json_t *list;   /* ... or as a list (borrowed) */
    bool all_linear;
} target_matcher;

typedef struct {
    const vlm_convert_params *p;
    char *err;
    size_t err_size;
    llama_hp lh;
    siglip_hp vh;
    vlm_st_model *llm, *vis, *ada;
    json_t *llm_cfg, *vis_cfg, *ada_cfg, *tok, *tok_cfg, *pre_cfg;
    char *tok_text;
    size_t tok_len;
    char *ada_weights;
    target_matcher tm;
    float lora_scale;
    int64_t lora_r;
    item_list lm, vi;
    /* tokenizer metadata */
    const char **tokens;
    size_t *token_lens;
    int32_t *token_types;
    char **owned;
    size_t n_owned;
    const char **merges;
    size_t *merge_lens, n_merges;
    int64_t n_tok, bos_id, eos_id, pad_id, comma_id;
    const char *bos_str, *eos_str;
    bool add_bos;
    char *vision_path;
    /* progress */
    vlm_convert_progress prog;
} ctx;

static vlm_status fail(ctx *c, vlm_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static vlm_status fail(ctx *c, vlm_status st, const char *fmt, ...) {
    if (c->err && c->err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->err_size, fmt, ap);
        va_end(ap);
    }
    return st;
}

static void note(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(ctx *c, const char *fmt, ...) {
    if (!c->p->note) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->p->note(buf, c->p->user_data);
}

static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    s[a] = '/';
    memcpy(s + a + 1, name, b + 1);
    return s;
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void fmt_shape(char *buf, size_t n, int nd, const int64_t *shape) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < nd && o < n; d++) o += (size_t)snprintf(buf + o, n - o, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* ---- JSON helpers ------------------------------------------------------------------------------ */

/* flags: extra jansson decode flags (tokenizer_config.json holds integers
 * beyond 64 bits, e.g. model_max_length 1e30: decoded as reals there). */
static vlm_status load_json(ctx *c, const char *dir, const char *file, bool required, size_t flags, json_t **out) {
    *out = NULL;
    char *path = join(dir, file);
    if (!path) return fail(c, VLM_ERR_OOM, "out of memory");
    if (!file_exists(path)) {
        vlm_status st = required ? fail(c, VLM_ERR_IO, "%s: file not found", path) : VLM_OK;
        free(path);
        return st;
    }
    json_error_t je;
    *out = json_load_file(path, JSON_REJECT_DUPLICATES | flags, &je);
    vlm_status st = VLM_OK;
    if (!*out) st = fail(c, VLM_ERR_FORMAT, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
    else if (!json_is_object(*out)) st = fail(c, VLM_ERR_FORMAT, "%s: not a JSON object", path);
    free(path);
    return st;
}

/* An integer field; absent or null gives def (def < 0: required). */
static vlm_status cfg_int(ctx *c, const char *where, json_t *o, const char *key, int64_t def, int64_t lo, int64_t hi,
                          int64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (def < 0) return fail(c, VLM_ERR_FORMAT, "%s: missing \"%s\"", where, key);
        *out = def;
        return VLM_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail(c, VLM_ERR_FORMAT, "%s: \"%s\" must be an integer in [%lld, %lld]", where, key, (long long)lo,
                    (long long)hi);
    *out = (int64_t)json_integer_value(v);
    return VLM_OK;
}

static vlm_status cfg_num(ctx *c, const char *where, json_t *o, const char *key, double def, double lo, double hi,
                          double *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return VLM_OK;
    }
    double x = json_number_value(v);
    if (!json_is_number(v) || !(x >= lo && x <= hi))
        return fail(c, VLM_ERR_FORMAT, "%s: \"%s\" must be a number in [%g, %g]", where, key, lo, hi);
    *out = x;
    return VLM_OK;
}

static const char *cfg_str(json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

/* A token in tokenizer_config.json: a string or {"content": "..."}. */
static const char *token_field(json_t *cfg, const char *key) {
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_string_value(v);
}

/* ---- configs ----------------------------------------------------------------------------------- */

static vlm_status read_llama_config(ctx *c) {
    char where[512];
    snprintf(where, sizeof where, "%s/config.json", c->p->llm_dir);
    vlm_status st = load_json(c, c->p->llm_dir, "config.json", true, 0, &c->llm_cfg);
    if (st) return st;
    json_t *j = c->llm_cfg;
    const char *mt = cfg_str(j, "model_type");
    if (!mt) return fail(c, VLM_ERR_FORMAT, "%s: missing \"model_type\" (expected \"llama\")", where);
    if (strcmp(mt, "llama") != 0)
        return fail(c, VLM_ERR_FORMAT, "%s: model_type \"%s\" is not \"llama\" (is --llm the language model folder?)",
                    where, mt);
    llama_hp *h = &c->lh;
    /* defaults: transformers LlamaConfig */
    if ((st = cfg_int(c, where, j, "vocab_size", 32000, 1, (int64_t)1 << 26, &h->vocab)) ||
        (st = cfg_int(c, where, j, "hidden_size", 4096, 1, MAX_DIM, &h->hidden)) ||
        (st = cfg_int(c, where, j, "intermediate_size", 11008, 1, MAX_DIM, &h->inter)) ||
        (st = cfg_int(c, where, j, "num_hidden_layers", 32, 1, 4096, &h->layers)) ||
        (st = cfg_int(c, where, j, "num_attention_heads", 32, 1, MAX_DIM, &h->heads)) ||
        (st = cfg_int(c, where, j, "num_key_value_heads", h->heads, 1, MAX_DIM, &h->kv_heads)) ||
        (st = cfg_int(c, where, j, "max_position_embeddings", 2048, 1, (int64_t)1 << 31, &h->max_pos)) ||
        (st = cfg_num(c, where, j, "rope_theta", 10000.0, 1e-3, 1e12, &h->rope_theta)) ||
        (st = cfg_num(c, where, j, "rms_norm_eps", 1e-6, 0.0, 1.0, &h->rms_eps)))
        return st;
    json_t *tie = json_object_get(j, "tie_word_embeddings");
    if (tie && !json_is_boolean(tie)) return fail(c, VLM_ERR_FORMAT, "%s: \"tie_word_embeddings\" is not a bool", where);
    h->tie = json_is_true(tie);
    if (h->hidden % h->heads)
        return fail(c, VLM_ERR_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld", where,
                    (long long)h->hidden, (long long)h->heads);
    h->head_dim = h->hidden / h->heads;
    if ((st = cfg_int(c, where, j, "head_dim", h->head_dim, 1, MAX_DIM, &h->head_dim))) return st;
    if (h->head_dim * h->heads != h->hidden)
        return fail(c, VLM_ERR_UNSUPPORTED, "%s: head_dim %lld differs from hidden_size / num_attention_heads", where,
                    (long long)h->head_dim);
    if (h->head_dim % 2) return fail(c, VLM_ERR_FORMAT, "%s: head_dim %lld is odd (RoPE needs pairs)", where, (long long)h->head_dim);
    if (h->heads % h->kv_heads)
        return fail(c, VLM_ERR_FORMAT, "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                    where, (long long)h->heads, (long long)h->kv_heads);
    const char *act = cfg_str(j, "hidden_act");
    if (act && strcmp(act, "silu") != 0)
        return fail(c, VLM_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" (only silu)", where, act);
    json_t *rs = json_object_get(j, "rope_scaling");
    if (rs && !json_is_null(rs))
        return fail(c, VLM_ERR_UNSUPPORTED, "%s: rope_scaling is set; only plain RoPE (Llama-3) is supported", where);
    if (json_is_true(json_object_get(j, "attention_bias")) || json_is_true(json_object_get(j, "mlp_bias")))
        return fail(c, VLM_ERR_UNSUPPORTED, "%s: attention_bias/mlp_bias are not supported", where);
    return VLM_OK;
}

static vlm_status read_siglip_config(ctx *c) {
    char where[512];
    snprintf(where, sizeof where, "%s/config.json", c->p->vision_dir);
    vlm_status st = load_json(c, c->p->vision_dir, "config.json", true, 0, &c->vis_cfg);
    if (st) return st;
    const char *mt = cfg_str(c->vis_cfg, "model_type");
    json_t *j;
    if (mt && strcmp(mt, "siglip") == 0) {
        j = json_object_get(c->vis_cfg, "vision_config");
        if (j && !json_is_object(j)) return fail(c, VLM_ERR_FORMAT, "%s: \"vision_config\" is not an object", where);
        if (!j) { /* every field takes its default */
            j = json_object();
            if (!j || json_object_set_new(c->vis_cfg, "vision_config", j)) return fail(c, VLM_ERR_OOM, "out of memory");
        }
    } else if (mt && strcmp(mt, "siglip_vision_model") == 0) {
        j = c->vis_cfg;
    } else
        return fail(c, VLM_ERR_FORMAT, "%s: model_type \"%s\" is not \"siglip\" or \"siglip_vision_model\"", where,
                    mt ? mt : "(missing)");
    siglip_hp *h = &c->vh;
    /* defaults: transformers SiglipVisionConfig */
    if ((st = cfg_int(c, where, j, "hidden_size", 768, 1, MAX_DIM, &h->hidden)) ||
        (st = cfg_int(c, where, j, "intermediate_size", 3072, 1, MAX_DIM, &h->inter)) ||
        (st = cfg_int(c, where, j, "num_hidden_layers", 12, 1, 4096, &h->layers)) ||
        (st = cfg_int(c, where, j, "num_attention_heads", 12, 1, MAX_DIM, &h->heads)) ||
        (st = cfg_int(c, where, j, "num_channels", 3, 1, 3, &h->channels)) ||
        (st = cfg_int(c, where, j, "image_size", 224, 1, 1 << 16, &h->image)) ||
        (st = cfg_int(c, where, j, "patch_size", 16, 1, 1 << 16, &h->patch)) ||
        (st = cfg_num(c, where, j, "layer_norm_eps", 1e-6, 0.0, 1.0, &h->eps)))
        return st;
    h->act = cfg_str(j, "hidden_act");
    if (!h->act) h->act = "gelu_pytorch_tanh";
    if (strcmp(h->act, "gelu_pytorch_tanh") != 0 && strcmp(h->act, "gelu") != 0)
        return fail(c, VLM_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" (gelu_pytorch_tanh or gelu)", where, h->act);
    if (h->hidden % h->heads)
        return fail(c, VLM_ERR_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld", where,
                    (long long)h->hidden, (long long)h->heads);
    if (h->image % h->patch)
        return fail(c, VLM_ERR_FORMAT, "%s: image_size %lld is not a multiple of patch_size %lld", where,
                    (long long)h->image, (long long)h->patch);
    if (json_is_false(json_object_get(j, "vision_use_head")))
        return fail(c, VLM_ERR_UNSUPPORTED, "%s: vision_use_head is false; the attention-pooling head is required", where);
    for (int i = 0; i < 3; i++) h->mean[i] = h->std[i] = 0.5f; /* SiglipImageProcessor defaults */
    if ((st = load_json(c, c->p->vision_dir, "preprocessor_config.json", false, 0, &c->pre_cfg))) return st;
    if (c->pre_cfg) {
        const char *keys[2] = {"image_mean", "image_std"};
        float *dst[2] = {h->mean, h->std};
        for (int k = 0; k < 2; k++) {
            json_t *a = json_object_get(c->pre_cfg, keys[k]);
            if (!a) continue;
            if (!json_is_array(a) || json_array_size(a) != (size_t)h->channels)
                return fail(c, VLM_ERR_FORMAT, "%s/preprocessor_config.json: \"%s\" must hold %lld numbers",
                            c->p->vision_dir, keys[k], (long long)h->channels);
            for (size_t i = 0; i < json_array_size(a); i++) {
                json_t *x = json_array_get(a, i);
                if (!json_is_number(x) || !(fabs(json_number_value(x)) < 1e6) || (k == 1 && json_number_value(x) <= 0))
                    return fail(c, VLM_ERR_FORMAT, "%s/preprocessor_config.json: bad \"%s\"[%zu]", c->p->vision_dir,
                                keys[k], i);
                dst[k][i] = (float)json_number_value(x);
            }
        }
    }
    return VLM_OK;
}

static vlm_status matcher_init(ctx *c, target_matcher *m, json_t *v, const char *where) {
    memset(m, 0, sizeof *m);
    if (!v || json_is_null(v)) { /* PEFT's default for llama */
        m->list = json_pack("[ss]", "q_proj", "v_proj");
        if (!m->list) return fail(c, VLM_ERR_OOM, "out of memory");
        return VLM_OK;
    }
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "all-linear") == 0) {
            m->all_linear = true;
            return VLM_OK;
        }
        int ec;
        PCRE2_SIZE eo;
        m->re = pcre2_compile((PCRE2_SPTR)json_string_value(v), json_string_length(v),
                              PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF, &ec, &eo, NULL);
        if (!m->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            return fail(c, VLM_ERR_FORMAT, "%s: target_modules regex: %s at offset %zu", where, (const char *)msg,
                        (size_t)eo);
        }
        return VLM_OK;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i)))
                return fail(c, VLM_ERR_FORMAT, "%s: target_modules[%zu] is not a string", where, i);
        m->list = json_incref(v);
        return VLM_OK;
    }
    return fail(c, VLM_ERR_FORMAT, "%s: target_modules must be a string or a list of strings", where);
}

static void matcher_free(target_matcher *m) {
    pcre2_code_free(m->re);
    json_decref(m->list);
    memset(m, 0, sizeof *m);
}

/* 1 if the module is selected, 0 if not, -1 on a regex error. */
static int matcher_match(const target_matcher *m, const char *name) {
    size_t n = strlen(name);
    if (m->all_linear) return strcmp(name, "lm_head") != 0;
    if (m->re) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(m->re, NULL);
        if (!md) return -1;
        int rc = pcre2_match(m->re, (PCRE2_SPTR)name, n, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
    }
    for (size_t i = 0; i < json_array_size(m->list); i++) {
        const char *t = json_string_value(json_array_get(m->list, i));
        size_t tl = strlen(t);
        if (strcmp(name, t) == 0 || (n > tl && name[n - tl - 1] == '.' && strcmp(name + n - tl, t) == 0)) return 1;
    }
    return 0;
}

int vlm_peft_target_match(const char *target_json, const char *name) {
    json_t *v = json_loads(target_json, JSON_DECODE_ANY, NULL);
    if (!v) return -1;
    vlm_convert_params p = vlm_convert_default_params();
    ctx c = {.p = &p};
    target_matcher m;
    int r = matcher_init(&c, &m, v, "target_modules") ? -1 : matcher_match(&m, name);
    matcher_free(&m);
    json_decref(v);
    return r;
}

static vlm_status read_adapter_config(ctx *c) {
    const char *dir = c->p->adapter_dir;
    char where[512];
    snprintf(where, sizeof where, "%s/adapter_config.json", dir);
    vlm_status st = load_json(c, dir, "adapter_config.json", true, 0, &c->ada_cfg);
    if (st) return st;
    json_t *j = c->ada_cfg;
    const char *pt = cfg_str(j, "peft_type");
    if (pt && strcmp(pt, "LORA") != 0) return fail(c, VLM_ERR_UNSUPPORTED, "%s: peft_type \"%s\" (only LORA)", where, pt);
    if ((st = cfg_int(c, where, j, "r", 8, 1, 1 << 20, &c->lora_r))) return st;
    double alpha;
    if ((st = cfg_num(c, where, j, "lora_alpha", 8.0, -1e9, 1e9, &alpha))) return st;
    bool rs = json_is_true(json_object_get(j, "use_rslora"));
    c->lora_scale = (float)(rs ? alpha / sqrt((double)c->lora_r) : alpha / (double)c->lora_r);
    if (json_is_true(json_object_get(j, "use_dora"))) return fail(c, VLM_ERR_UNSUPPORTED, "%s: use_dora is not supported", where);
    if (json_is_true(json_object_get(j, "fan_in_fan_out")))
        return fail(c, VLM_ERR_UNSUPPORTED, "%s: fan_in_fan_out is not supported", where);
    const char *bias = cfg_str(j, "bias");
    if (bias && strcmp(bias, "none") != 0)
        return fail(c, VLM_ERR_UNSUPPORTED, "%s: bias \"%s\" (only \"none\")", where, bias);
    const char *pats[2] = {"rank_pattern", "alpha_pattern"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(j, pats[i]);
        if (v && !json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0))
            return fail(c, VLM_ERR_UNSUPPORTED, "%s: a non-empty %s is not supported", where, pats[i]);
    }
    json_t *lt = json_object_get(j, "layers_to_transform");
    if (lt && !json_is_null(lt)) return fail(c, VLM_ERR_UNSUPPORTED, "%s: layers_to_transform is not supported", where);
    if ((st = matcher_init(c, &c->tm, json_object_get(j, "target_modules"), where))) return st;
    char *w = join(dir, "adapter_model.safetensors");
    if (!w) return fail(c, VLM_ERR_OOM, "out of memory");
    if (!file_exists(w)) {
        char *b = join(dir, "adapter_model.bin");
        bool has_bin = b && file_exists(b);
        free(b);
        free(w);
        if (has_bin)
            return fail(c, VLM_ERR_UNSUPPORTED, "%s: only adapter_model.bin found; save the adapter as safetensors", dir);
        return fail(c, VLM_ERR_IO, "%s/adapter_model.safetensors: file not found", dir);
    }
    c->ada_weights = w;
    return vlm_st_model_open(w, &c->ada, c->err, c->err_size);
}

/* ---- tokenizer --------------------------------------------------------------------------------- */

static int64_t vocab_id(ctx *c, const char *content) {
    json_t *added = json_object_get(c->tok, "added_tokens");
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        const char *s = cfg_str(a, "content");
        if (s && strcmp(s, content) == 0) return json_integer_value(json_object_get(a, "id"));
    }
    json_t *v = json_object_get(json_object_get(json_object_get(c->tok, "model"), "vocab"), content);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Whether the post-processor prepends bos (TemplateProcessing, possibly
 * inside a Sequence). */
static bool post_adds_bos(json_t *pp, const char *bos, int depth) {
    if (!json_is_object(pp) || depth > 8 || !bos) return false;
    const char *type = cfg_str(pp, "type");
    if (type && strcmp(type, "Sequence") == 0) {
        json_t *ps = json_object_get(pp, "processors");
        for (size_t i = 0; i < json_array_size(ps); i++)
            if (post_adds_bos(json_array_get(ps, i), bos, depth + 1)) return true;
        return false;
    }
    if (!type || strcmp(type, "TemplateProcessing") != 0) return false;
    json_t *first = json_array_get(json_object_get(pp, "single"), 0);
    const char *id = cfg_str(json_object_get(first, "SpecialToken"), "id");
    return id && strcmp(id, bos) == 0;
}

static vlm_status read_tokenizer(ctx *c) {
    const char *dir = c->p->llm_dir;
    char *path = join(dir, "tokenizer.json");
    if (!path) return fail(c, VLM_ERR_OOM, "out of memory");
    c->tok_text = vlm_read_file(path, &c->tok_len, c->err, c->err_size);
    if (!c->tok_text) {
        free(path);
        return VLM_ERR_IO;
    }
    json_error_t je;
    c->tok = json_loadb(c->tok_text, c->tok_len, JSON_REJECT_DUPLICATES, &je);
    vlm_status st = VLM_OK;
    if (!c->tok) st = fail(c, VLM_ERR_FORMAT, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
    json_t *model = json_object_get(c->tok, "model"), *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges"), *added = json_object_get(c->tok, "added_tokens");
    const char *mtype = cfg_str(model, "type");
    if (!st && (!json_is_object(vocab) || (mtype && strcmp(mtype, "BPE") != 0)))
        st = fail(c, VLM_ERR_UNSUPPORTED, "%s: not a BPE tokenizer with a \"model.vocab\" object", path);
    if (!st && merges && !json_is_array(merges)) st = fail(c, VLM_ERR_FORMAT, "%s: \"model.merges\" is not an array", path);
    if (!st && added && !json_is_array(added)) st = fail(c, VLM_ERR_FORMAT, "%s: \"added_tokens\" is not an array", path);
    if (st) {
        free(path);
        return st;
    }
    size_t V = (size_t)c->lh.vocab;
    c->tokens = calloc(V, sizeof *c->tokens);
    c->token_lens = calloc(V, sizeof *c->token_lens);
    c->token_types = calloc(V, sizeof *c->token_types);
    c->owned = calloc(V, sizeof *c->owned);
    if (!c->tokens || !c->token_lens || !c->token_types || !c->owned) {
        free(path);
        return fail(c, VLM_ERR_OOM, "out of memory");
    }
    const char *key;
    json_t *v;
    int64_t max_id = -1;
    json_object_foreach(vocab, key, v) {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || (uint64_t)id >= V) {
            st = fail(c, VLM_ERR_FORMAT, "%s: token \"%s\" has id %lld, outside config.json's vocab_size %zu", path,
                      key, (long long)id, V);
            break;
        }
        if (c->tokens[id]) {
            st = fail(c, VLM_ERR_FORMAT, "%s: id %lld is used by \"%s\" and \"%s\"", path, (long long)id,
                      c->tokens[id], key);
            break;
        }
        c->tokens[id] = key;
        c->token_lens[id] = strlen(key);
        c->token_types[id] = TOK_NORMAL;
        if (id > max_id) max_id = id;
    }
    for (size_t i = 0; !st && i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i), *jid = json_object_get(a, "id"), *jc = json_object_get(a, "content");
        json_int_t id = json_is_integer(jid) ? json_integer_value(jid) : -1;
        if (!json_is_string(jc) || id < 0 || (uint64_t)id >= V) {
            st = fail(c, VLM_ERR_FORMAT, "%s: added_tokens[%zu] needs a string content and an id below vocab_size %zu",
                      path, i, V);
            break;
        }
        const char *s = json_string_value(jc);
        size_t sl = json_string_length(jc);
        c->tokens[id] = s;
        c->token_lens[id] = sl;
        bool looks = sl >= 4 && strncmp(s, "<|", 2) == 0 && strcmp(s + sl - 2, "|>") == 0;
        c->token_types[id] = json_is_true(json_object_get(a, "special")) || looks ? TOK_CONTROL : TOK_USER_DEFINED;
        if (id > max_id) max_id = id;
    }
    free(path);
    if (st) return st;
    for (size_t i = 0; i < V; i++)
        if (!c->tokens[i]) { /* ids the tokenizer does not use (llama.cpp's convention) */
            char buf[32];
            snprintf(buf, sizeof buf, "[PAD%zu]", i);
            if (!(c->owned[c->n_owned++] = strdup(buf))) return fail(c, VLM_ERR_OOM, "out of memory");
            c->tokens[i] = c->owned[c->n_owned - 1];
            c->token_lens[i] = strlen(buf);
            c->token_types[i] = TOK_UNUSED;
        }
    c->n_tok = max_id + 1; /* len(tokenizer): <v> gets this id */
    /* merges: "a b" strings, or ["a", "b"] pairs in newer files */
    c->n_merges = json_array_size(merges);
    c->merges = calloc(c->n_merges ? c->n_merges : 1, sizeof *c->merges);
    c->merge_lens = calloc(c->n_merges ? c->n_merges : 1, sizeof *c->merge_lens);
    if (!c->merges || !c->merge_lens) return fail(c, VLM_ERR_OOM, "out of memory");
    for (size_t i = 0; i < c->n_merges; i++) {
        json_t *m = json_array_get(merges, i);
        if (json_is_string(m)) {
            c->merges[i] = json_string_value(m);
            c->merge_lens[i] = json_string_length(m);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            const char *a = json_string_value(json_array_get(m, 0)), *b = json_string_value(json_array_get(m, 1));
            size_t la = strlen(a), lb = strlen(b);
            char *s = malloc(la + lb + 2);
            char **no = realloc(c->owned, (V + i + 1) * sizeof *c->owned);
            if (!s || !no) {
                free(s);
                if (no) c->owned = no;
                return fail(c, VLM_ERR_OOM, "out of memory");
            }
            c->owned = no;
            memcpy(s, a, la);
            s[la] = ' ';
            memcpy(s + la + 1, b, lb + 1);
            c->owned[c->n_owned++] = s;
            c->merges[i] = s;
            c->merge_lens[i] = la + lb + 1;
        } else
            return fail(c, VLM_ERR_FORMAT, "%s/tokenizer.json: merges[%zu] is not \"a b\" or [\"a\", \"b\"]", dir, i);
    }
    /* pre-tokenizer: llama.cpp's "llama-bpe" is Llama-3's split regex */
    json_t *pre = json_object_get(c->tok, "pre_tokenizer");
    bool llama3 = false;
    json_t *pts = json_object_get(pre, "pretokenizers");
    for (size_t i = 0; i < json_array_size(pts); i++) {
        const char *re = cfg_str(json_object_get(json_array_get(pts, i), "pattern"), "Regex");
        if (re && strcmp(re, LLAMA3_SPLIT_REGEX) == 0) llama3 = true;
    }
    if (!llama3) note(c, "tokenizer.json: the pre-tokenizer is not Llama-3's; tokenizer.ggml.pre says llama-bpe anyway");
    /* special tokens */
    if ((st = load_json(c, dir, "tokenizer_config.json", true, JSON_DECODE_INT_AS_REAL, &c->tok_cfg))) return st;
    c->eos_str = token_field(c->tok_cfg, "eos_token");
    c->bos_str = token_field(c->tok_cfg, "bos_token");
    if (!c->eos_str) return fail(c, VLM_ERR_FORMAT, "%s/tokenizer_config.json: no \"eos_token\"", dir);
    if ((c->eos_id = vocab_id(c, c->eos_str)) < 0)
        return fail(c, VLM_ERR_FORMAT, "%s/tokenizer_config.json: eos_token \"%s\" is not in tokenizer.json", dir,
                    c->eos_str);
    c->bos_id = c->bos_str ? vocab_id(c, c->bos_str) : -1;
    if (c->bos_str && c->bos_id < 0)
        return fail(c, VLM_ERR_FORMAT, "%s/tokenizer_config.json: bos_token \"%s\" is not in tokenizer.json", dir,
                    c->bos_str);
    const char *pad = token_field(c->tok_cfg, "pad_token");
    c->pad_id = pad ? vocab_id(c, pad) : -1;
    json_t *ab = json_object_get(c->tok_cfg, "add_bos_token");
    c->add_bos = json_is_boolean(ab) ? json_is_true(ab) : post_adds_bos(json_object_get(c->tok, "post_processor"), c->bos_str, 0);
    c->comma_id = vocab_id(c, ",");
    if (c->p->live_version == VLM_LIVE_V1PLUS && c->comma_id < 0)
        return fail(c, VLM_ERR_FORMAT, "%s/tokenizer.json: no token \",\" (the live1+ frame interval token)", dir);
    return VLM_OK;
}

/* ---- planning ---------------------------------------------------------------------------------- */

static bool is_float_dtype(vlm_st_dtype t) { return t == VLM_ST_F32 || t == VLM_ST_F16 || t == VLM_ST_BF16; }

static vlm_status check_tensor(ctx *c, const char *what, const vlm_st_tensor *t, int nd, const int64_t *shape) {
    if (!is_float_dtype(t->dtype))
        return fail(c, VLM_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, F16 or BF16 expected)", t->file, t->name,
                    vlm_st_dtype_name(t->dtype));
    bool ok = t->n_dims == nd;
    for (int d = 0; ok && d < nd; d++) ok = t->shape[d] == shape[d];
    if (!ok) {
        char a[128], b[128];
        fmt_shape(a, sizeof a, nd, shape);
        fmt_shape(b, sizeof b, t->n_dims, t->shape);
        return fail(c, VLM_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s (%s)", t->file, t->name, b, a, what);
    }
    return VLM_OK;
}

static vlm_status list_push(ctx *c, item_list *L, const item *it) {
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 64;
        item *nv = realloc(L->v, cap * sizeof *nv);
        if (!nv) return fail(c, VLM_ERR_OOM, "out of memory");
        L->v = nv;
        L->cap = cap;
    }
    L->v[L->n++] = *it;
    return VLM_OK;
}

/* Output type of a tensor given its ggml shape. */
static int pick_type(ctx *c, const char *name, int n_dims, const int64_t *ne, bool keep_f32) {
    if (keep_f32 || n_dims < 2) return VLM_DT_F32;
    int t = (int)c->p->type;
    if ((t == VLM_DT_Q8_0 || t == VLM_DT_Q4_0) && ne[0] % VLM_QK) {
        note(c, "%s: row length %lld is not a multiple of %d; stored as f16 instead of %s", name, (long long)ne[0],
             VLM_QK, vlm_dtype_name(t));
        return VLM_DT_F16;
    }
    return t;
}

/* Add one output tensor. src_name is looked up in m (NULL: src given).
 * module (LM only): the PEFT module name for LoRA and base replacement. */
static vlm_status add_item(ctx *c, item_list *L, const char *gguf_name, vlm_st_model *m, const char *src_name,
                           const vlm_st_tensor *src, const char *what, int nd, const int64_t *shape,
                           const char *module, int64_t head_dim, bool keep_f32) {
    item it;
    memset(&it, 0, sizeof it);
    snprintf(it.name, sizeof it.name, "%s", gguf_name);
    char key[512];
    if (module && c->ada) { /* a full base weight saved with the adapter replaces the base model's */
        snprintf(key, sizeof key, "base_model.model.%s.base_layer.weight", module);
        const vlm_st_tensor *r = vlm_st_model_find(c->ada, key);
        if (!r) {
            snprintf(key, sizeof key, "base_model.model.%s.weight", module);
            r = vlm_st_model_find(c->ada, key);
        }
        if (r) {
            it.replaced = m ? vlm_st_model_find(m, src_name) : NULL;
            src = r;
            note(c, "%s: base weight taken from the adapter (%s)", gguf_name, key);
        }
    }
    if (!src && m) src = vlm_st_model_find(m, src_name);
    if (!src) return fail(c, VLM_ERR_FORMAT, "%s: missing tensor '%s' (%s)", what, src_name, gguf_name);
    vlm_status st = check_tensor(c, what, src, nd, shape);
    if (st) return st;
    it.src = src;
    it.head_dim = head_dim;
    if (module && c->ada && strcmp(module, "model.embed_tokens") != 0) {
        char ka[512], kb[512];
        snprintf(ka, sizeof ka, "base_model.model.%s.lora_A.weight", module);
        snprintf(kb, sizeof kb, "base_model.model.%s.lora_B.weight", module);
        const vlm_st_tensor *a = vlm_st_model_find(c->ada, ka), *b = vlm_st_model_find(c->ada, kb);
        int sel = matcher_match(&c->tm, module);
        if (sel < 0) return fail(c, VLM_ERR_FORMAT, "%s: target_modules regex failed on '%s'", c->p->adapter_dir, module);
        if ((a || b) && !sel)
            return fail(c, VLM_ERR_FORMAT, "%s: LoRA weights for '%s', which target_modules does not select",
                        c->ada_weights, module);
        if (sel && (!a || !b))
            return fail(c, VLM_ERR_FORMAT, "%s: target_modules selects '%s' but '%s' is missing", c->ada_weights,
                        module, a ? kb : ka);
        if (a) {
            int64_t sa[2] = {c->lora_r, shape[nd - 1]}, sb[2] = {shape[0], c->lora_r};
            char wa[600];
            snprintf(wa, sizeof wa, "LoRA A of %s: [r, in_features] with r = %lld from adapter_config.json", module,
                     (long long)c->lora_r);
            if ((st = check_tensor(c, wa, a, 2, sa))) return st;
            snprintf(wa, sizeof wa, "LoRA B of %s: [out_features, r]", module);
            if ((st = check_tensor(c, wa, b, 2, sb))) return st;
            it.lora_a = a;
            it.lora_b = b;
        }
    }
    it.n_dims = nd;
    for (int d = 0; d < 4; d++) it.ne[d] = d < nd ? shape[nd - 1 - d] : 1;
    it.type = pick_type(c, gguf_name, nd, it.ne, keep_f32);
    return list_push(c, L, &it);
}

static vlm_status plan_llm(ctx *c) {
    const llama_hp *h = &c->lh;
    char what[600], g[80], s[200], mod[160];
    snprintf(what, sizeof what, "LLM folder %s, per its config.json", c->p->llm_dir);
    int64_t H = h->hidden, V = h->vocab, F = h->inter, q = h->heads * h->head_dim, kv = h->kv_heads * h->head_dim;
    vlm_status st;
    int64_t s_emb[2] = {V, H};
    if (c->ada && matcher_match(&c->tm, "model.embed_tokens") == 1)
        return fail(c, VLM_ERR_UNSUPPORTED, "%s: LoRA on embed_tokens is not supported", c->p->adapter_dir);
    if ((st = add_item(c, &c->lm, "token_embd.weight", c->llm, "model.embed_tokens.weight", NULL, what, 2, s_emb,
                       "model.embed_tokens", 0, false)))
        return st;
    static const struct {
        const char *gguf, *hf, *mod;
        int kind; /* 0 norm, 1 q, 2 k, 3 v, 4 o, 5 gate, 6 up, 7 down */
    } L[] = {
        {"attn_norm", "input_layernorm", NULL, 0},     {"attn_q", "self_attn", "q_proj", 1},
        {"attn_k", "self_attn", "k_proj", 2},          {"attn_v", "self_attn", "v_proj", 3},
        {"attn_output", "self_attn", "o_proj", 4},     {"ffn_norm", "post_attention_layernorm", NULL, 0},
        {"ffn_gate", "mlp", "gate_proj", 5},           {"ffn_up", "mlp", "up_proj", 6},
        {"ffn_down", "mlp", "down_proj", 7},
    };
    for (int64_t il = 0; il < h->layers; il++)
        for (size_t k = 0; k < sizeof L / sizeof L[0]; k++) {
            snprintf(g, sizeof g, "blk.%lld.%s.weight", (long long)il, L[k].gguf);
            int64_t shp[2];
            int64_t head_dim = 0;
            switch (L[k].kind) {
            case 0: shp[0] = H; break;
            case 1: shp[0] = q, shp[1] = H, head_dim = h->head_dim; break;
            case 2: shp[0] = kv, shp[1] = H, head_dim = h->head_dim; break;
            case 3: shp[0] = kv, shp[1] = H; break;
            case 4: shp[0] = H, shp[1] = q; break;
            case 5: case 6: shp[0] = F, shp[1] = H; break;
            default: shp[0] = H, shp[1] = F; break;
            }
            if (L[k].mod) {
                snprintf(mod, sizeof mod, "model.layers.%lld.%s.%s", (long long)il, L[k].hf, L[k].mod);
                snprintf(s, sizeof s, "%s.weight", mod);
            } else
                snprintf(s, sizeof s, "model.layers.%lld.%s.weight", (long long)il, L[k].hf);
            if ((st = add_item(c, &c->lm, g, c->llm, s, NULL, what, L[k].kind ? 2 : 1, shp, L[k].mod ? mod : NULL,
                               head_dim, false)))
                return st;
        }
    int64_t s_norm[1] = {H};
    if ((st = add_item(c, &c->lm, "output_norm.weight", c->llm, "model.norm.weight", NULL, what, 1, s_norm, NULL, 0,
                       false)))
        return st;
    const char *head = "lm_head.weight";
    if (h->tie && !vlm_st_model_find(c->llm, head)) head = "model.embed_tokens.weight";
    return add_item(c, &c->lm, "output.weight", c->llm, head, NULL, what, 2, s_emb, "lm_head", 0, false);
}

static vlm_status plan_vision(ctx *c) {
    const siglip_hp *h = &c->vh;
    char what[600], g[80], s[200];
    snprintf(what, sizeof what, "vision folder %s, per its config.json", c->p->vision_dir);
    int64_t D = h->hidden, I = h->inter, P = h->patch, C = h->channels, Np = (h->image / P) * (h->image / P);
    vlm_status st;
#define V_ADD(gname, hname, nd, keep, ...)                                                              \
    do {                                                                                                \
        int64_t shp_[] = {__VA_ARGS__};                                                                 \
        if ((st = add_item(c, &c->vi, gname, c->vis, hname, NULL, what, nd, shp_, NULL, 0, keep))) return st; \
    } while (0)
    V_ADD("v.patch_embd.weight", "vision_model.embeddings.patch_embedding.weight", 4, false, D, C, P, P);
    V_ADD("v.patch_embd.bias", "vision_model.embeddings.patch_embedding.bias", 1, true, D);
    V_ADD("v.position_embd.weight", "vision_model.embeddings.position_embedding.weight", 2, true, Np, D);
    static const struct {
        const char *gguf, *hf;
        int kind; /* 0 norm [D], 1 [D,D], 2 fc1 [I,D], 3 fc2 [D,I] */
    } L[] = {
        {"ln1", "layer_norm1", 0},        {"attn_q", "self_attn.q_proj", 1}, {"attn_k", "self_attn.k_proj", 1},
        {"attn_v", "self_attn.v_proj", 1}, {"attn_out", "self_attn.out_proj", 1}, {"ln2", "layer_norm2", 0},
        {"ffn_up", "mlp.fc1", 2},          {"ffn_down", "mlp.fc2", 3},
    };
    for (int64_t il = 0; il < h->layers; il++)
        for (size_t k = 0; k < sizeof L / sizeof L[0]; k++) {
            int64_t out = L[k].kind == 2 ? I : D, in = L[k].kind == 3 ? I : D;
            snprintf(g, sizeof g, "v.blk.%lld.%s.weight", (long long)il, L[k].gguf);
            snprintf(s, sizeof s, "vision_model.encoder.layers.%lld.%s.weight", (long long)il, L[k].hf);
            if (L[k].kind == 0) V_ADD(g, s, 1, true, D);
            else V_ADD(g, s, 2, false, out, in);
            snprintf(g, sizeof g, "v.blk.%lld.%s.bias", (long long)il, L[k].gguf);
            snprintf(s, sizeof s, "vision_model.encoder.layers.%lld.%s.bias", (long long)il, L[k].hf);
            V_ADD(g, s, 1, true, out);
        }
    V_ADD("v.post_ln.weight", "vision_model.post_layernorm.weight", 1, true, D);
    V_ADD("v.post_ln.bias", "vision_model.post_layernorm.bias", 1, true, D);
    V_ADD("v.head.probe", "vision_model.head.probe", 3, true, 1, 1, D);
    V_ADD("v.head.attn_in.weight", "vision_model.head.attention.in_proj_weight", 2, false, 3 * D, D);
    V_ADD("v.head.attn_in.bias", "vision_model.head.attention.in_proj_bias", 1, true, 3 * D);
    V_ADD("v.head.attn_out.weight", "vision_model.head.attention.out_proj.weight", 2, false, D, D);
    V_ADD("v.head.attn_out.bias", "vision_model.head.attention.out_proj.bias", 1, true, D);
    V_ADD("v.head.ln.weight", "vision_model.head.layernorm.weight", 1, true, D);
    V_ADD("v.head.ln.bias", "vision_model.head.layernorm.bias", 1, true, D);
    V_ADD("v.head.ffn_up.weight", "vision_model.head.mlp.fc1.weight", 2, false, I, D);
    V_ADD("v.head.ffn_up.bias", "vision_model.head.mlp.fc1.bias", 1, true, I);
    V_ADD("v.head.ffn_down.weight", "vision_model.head.mlp.fc2.weight", 2, false, D, I);
    V_ADD("v.head.ffn_down.bias", "vision_model.head.mlp.fc2.bias", 1, true, D);
#undef V_ADD
    /* connector: the adapter's modules_to_save copy, else the LLM folder's */
    int64_t H = c->lh.hidden;
    static const char *parts[4] = {"0.weight", "0.bias", "2.weight", "2.bias"};
    const vlm_st_tensor *src[4] = {0};
    const char *from = NULL;
    for (int pass = 0; pass < 2 && !from; pass++) {
        vlm_st_model *m = pass == 0 ? c->ada : c->llm;
        if (!m) continue;
        int found = 0, missing = -1;
        for (int k = 0; k < 4; k++) {
            snprintf(s, sizeof s, "%sconnector.%s", pass == 0 ? "base_model.model." : "", parts[k]);
            src[k] = vlm_st_model_find(m, s);
            found += src[k] != NULL;
            if (!src[k] && missing < 0) missing = k;
        }
        if (found == 4) from = pass == 0 ? c->ada_weights : c->p->llm_dir;
        else if (found)
            return fail(c, VLM_ERR_FORMAT, "%s: incomplete connector: '%sconnector.%s' is missing",
                        pass == 0 ? c->ada_weights : c->p->llm_dir, pass == 0 ? "base_model.model." : "",
                        parts[missing]);
    }
    if (!from)
        return fail(c, VLM_ERR_FORMAT, "the connector is missing: %s; pass --adapter with the VideoLLM-online "
                    "PEFT folder (its modules_to_save hold the connector)",
                    c->ada ? "the adapter has no base_model.model.connector.{0,2}.{weight,bias} and the LLM folder "
                             "no connector.{0,2}.{weight,bias}"
                           : "no --adapter was given and the LLM folder has no connector.{0,2}.{weight,bias}");
    snprintf(what, sizeof what, "connector from %s: Linear(%lld -> %lld), GELU, Linear(%lld -> %lld)", from,
             (long long)D, (long long)H, (long long)H, (long long)H);
    int64_t s0[2] = {H, D}, s1[1] = {H}, s2[2] = {H, H};
    if ((st = add_item(c, &c->vi, "mm.0.weight", NULL, NULL, src[0], what, 2, s0, NULL, 0, false)) ||
        (st = add_item(c, &c->vi, "mm.0.bias", NULL, NULL, src[1], what, 1, s1, NULL, 0, true)) ||
        (st = add_item(c, &c->vi, "mm.2.weight", NULL, NULL, src[2], what, 2, s2, NULL, 0, false)) ||
        (st = add_item(c, &c->vi, "mm.2.bias", NULL, NULL, src[3], what, 1, s1, NULL, 0, true)))
        return st;
    return VLM_OK;
}

static bool used_by(const item_list *L, const vlm_st_tensor *t) {
    for (size_t i = 0; i < L->n; i++)
        if (L->v[i].src == t || L->v[i].lora_a == t || L->v[i].lora_b == t || L->v[i].replaced == t) return true;
    return false;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Every source tensor must be used or knowingly ignored. */
static vlm_status check_leftovers(ctx *c) {
    for (size_t i = 0; i < vlm_st_model_count(c->llm); i++) {
        const vlm_st_tensor *t = vlm_st_model_at(c->llm, i);
        if (used_by(&c->lm, t) || used_by(&c->vi, t) || has_suffix(t->name, "rotary_emb.inv_freq")) continue;
        if (strncmp(t->name, "connector.", 10) == 0) continue; /* superseded by the adapter's copy */
        if (c->lh.tie && strcmp(t->name, "lm_head.weight") == 0) continue;
        return fail(c, VLM_ERR_FORMAT, "%s: unexpected tensor '%s' (not part of a %lld-layer Llama)", t->file, t->name,
                    (long long)c->lh.layers);
    }
    size_t ignored = 0;
    for (size_t i = 0; i < vlm_st_model_count(c->vis); i++) {
        const vlm_st_tensor *t = vlm_st_model_at(c->vis, i);
        if (used_by(&c->vi, t)) continue;
        if (strncmp(t->name, "text_model.", 11) == 0 || !strcmp(t->name, "logit_scale") ||
            !strcmp(t->name, "logit_bias") || has_suffix(t->name, "position_ids")) {
            ignored++;
            continue;
        }
        return fail(c, VLM_ERR_FORMAT, "%s: unexpected tensor '%s' (not part of a %lld-layer SigLIP vision tower)",
                    t->file, t->name, (long long)c->vh.layers);
    }
    if (ignored) note(c, "vision folder: %zu tensors of the text tower and logit scale/bias ignored", ignored);
    for (size_t i = 0; i < vlm_st_model_count(c->ada); i++) {
        const vlm_st_tensor *t = vlm_st_model_at(c->ada, i);
        if (used_by(&c->lm, t) || used_by(&c->vi, t)) continue;
        return fail(c, VLM_ERR_FORMAT, "%s: unexpected tensor '%s' (not a LoRA weight of a Llama projection, a "
                    "connector weight or a saved base weight)", t->file, t->name);
    }
    return VLM_OK;
}

/* ---- writing ----------------------------------------------------------------------------------- */

static int file_type_of(int t) {
    switch (t) {
    case VLM_DT_F32: return 0;
    case VLM_DT_F16: return 1;
    case VLM_DT_Q4_0: return 2;
    case VLM_DT_Q8_0: return 7;
    default: return 32; /* bf16 */
    }
}

#define KV(call)                                                                                          \
    do {                                                                                                  \
        if ((call) != VLM_OK) return fail(c, VLM_ERR_OOM, "GGUF metadata: %s", vlm_gguf_writer_last_error(w)); \
    } while (0)

static vlm_status set_lm_keys(ctx *c, vlm_gguf_writer *w) {
    const llama_hp *h = &c->lh;
    const vlm_convert_params *p = c->p;
    bool v1p = p->live_version == VLM_LIVE_V1PLUS;
    const char *vb = strrchr(c->vision_path, '/');
    KV(vlm_gguf_set_str(w, "general.architecture", "llama"));
    KV(vlm_gguf_set_str(w, "general.name", p->name ? p->name : "VideoLLM-online"));
    KV(vlm_gguf_set_u32(w, "general.file_type", (uint32_t)file_type_of((int)p->type)));
    KV(vlm_gguf_set_u32(w, "general.quantization_version", 2));
    KV(vlm_gguf_set_u32(w, "llama.vocab_size", (uint32_t)h->vocab));
    KV(vlm_gguf_set_u32(w, "llama.context_length", (uint32_t)h->max_pos));
    KV(vlm_gguf_set_u32(w, "llama.embedding_length", (uint32_t)h->hidden));
    KV(vlm_gguf_set_u32(w, "llama.block_count", (uint32_t)h->layers));
    KV(vlm_gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)h->inter));
    KV(vlm_gguf_set_u32(w, "llama.rope.dimension_count", (uint32_t)h->head_dim));
    KV(vlm_gguf_set_u32(w, "llama.attention.head_count", (uint32_t)h->heads));
    KV(vlm_gguf_set_u32(w, "llama.attention.head_count_kv", (uint32_t)h->kv_heads));
    KV(vlm_gguf_set_f32(w, "llama.rope.freq_base", (float)h->rope_theta));
    KV(vlm_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", (float)h->rms_eps));
    KV(vlm_gguf_set_str(w, "tokenizer.ggml.model", "gpt2"));
    KV(vlm_gguf_set_str(w, "tokenizer.ggml.pre", "llama-bpe"));
    KV(vlm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", c->tokens, c->token_lens, (size_t)h->vocab));
    KV(vlm_gguf_set_arr_num(w, "tokenizer.ggml.token_type", VLM_GGUF_INT32, c->token_types, (size_t)h->vocab));
    KV(vlm_gguf_set_arr_str(w, "tokenizer.ggml.merges", c->merges, c->merge_lens, c->n_merges));
    if (c->bos_id >= 0) KV(vlm_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)c->bos_id));
    KV(vlm_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)c->eos_id));
    if (c->pad_id >= 0) KV(vlm_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)c->pad_id));
    KV(vlm_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", c->add_bos));
    KV(vlm_gguf_set_u32(w, VLM_KV_FORMAT_VERSION, VLM_MODEL_FORMAT_VERSION));
    KV(vlm_gguf_set_str(w, VLM_KV_LIVE_VERSION, v1p ? "live1+" : "live1"));
    KV(vlm_gguf_set_u32(w, VLM_KV_FRAME_NUM_TOKENS, v1p ? 10 : 1));
    KV(vlm_gguf_set_bool(w, VLM_KV_FRAME_TOKEN_CLS, true));
    int32_t pooled[2] = {3, 3};
    KV(vlm_gguf_set_arr_num(w, VLM_KV_FRAME_TOKEN_POOLED, VLM_GGUF_INT32, pooled, v1p ? 2 : 0));
    KV(vlm_gguf_set_str(w, VLM_KV_V_PLACEHOLDER, "<v>"));
    KV(vlm_gguf_set_u32(w, VLM_KV_V_PLACEHOLDER_ID, (uint32_t)c->n_tok));
    KV(vlm_gguf_set_str(w, VLM_KV_FRAME_TOKEN_INTERVAL, v1p ? "," : ""));
    KV(vlm_gguf_set_i32(w, VLM_KV_FRAME_TOKEN_INTERVAL_ID, v1p ? (int32_t)c->comma_id : -1));
    KV(vlm_gguf_set_str(w, VLM_KV_EOS_TOKEN, c->eos_str));
    KV(vlm_gguf_set_u32(w, VLM_KV_EOS_TOKEN_ID, (uint32_t)c->eos_id));
    KV(vlm_gguf_set_str(w, VLM_KV_BOS_TOKEN, c->bos_str ? c->bos_str : ""));
    KV(vlm_gguf_set_str(w, VLM_KV_SYSTEM_PROMPT, vlm_live_system_prompt));
    KV(vlm_gguf_set_u32(w, VLM_KV_FRAME_RESOLUTION, (uint32_t)c->vh.image));
    KV(vlm_gguf_set_f32(w, VLM_KV_FRAME_FPS, 2.0f));
    KV(vlm_gguf_set_f32(w, VLM_KV_STREAM_THRESHOLD, 0.725f));
    KV(vlm_gguf_set_str(w, VLM_KV_VISION_FILE, vb ? vb + 1 : c->vision_path));
    KV(vlm_gguf_set_f32(w, VLM_KV_LORA_SCALE, c->ada ? c->lora_scale : 0.0f));
    KV(vlm_gguf_set_u32(w, VLM_KV_LORA_RANK, c->ada ? (uint32_t)c->lora_r : 0));
    KV(vlm_gguf_set_str_n(w, VLM_KV_TOKENIZER_JSON, c->tok_text, c->tok_len));
    return VLM_OK;
}

static vlm_status set_vision_keys(ctx *c, vlm_gguf_writer *w) {
    const siglip_hp *h = &c->vh;
    char name[256];
    snprintf(name, sizeof name, "%s vision", c->p->name ? c->p->name : "VideoLLM-online");
    KV(vlm_gguf_set_str(w, "general.architecture", "siglip"));
    KV(vlm_gguf_set_str(w, "general.name", name));
    KV(vlm_gguf_set_u32(w, "general.file_type", (uint32_t)file_type_of((int)c->p->type)));
    KV(vlm_gguf_set_u32(w, "general.quantization_version", 2));
    KV(vlm_gguf_set_u32(w, VLM_KV_V_FORMAT_VERSION, VLM_MODEL_FORMAT_VERSION));
    KV(vlm_gguf_set_u32(w, VLM_KV_V_EMBEDDING_LENGTH, (uint32_t)h->hidden));
    KV(vlm_gguf_set_u32(w, VLM_KV_V_BLOCK_COUNT, (uint32_t)h->layers));
    KV(vlm_gguf_set_u32(w, VLM_KV_V_HEAD_COUNT, (uint32_t)h->heads));
    KV(vlm_gguf_set_u32(w, VLM_KV_V_FEED_FORWARD_LENGTH, (uint32_t)h->inter));
    KV(vlm_gguf_set_u32(w, VLM_KV_V_IMAGE_SIZE, (uint32_t)h->image));
    KV(vlm_gguf_set_u32(w, VLM_KV_V_PATCH_SIZE, (uint32_t)h->patch));
    KV(vlm_gguf_set_u32(w, VLM_KV_V_NUM_CHANNELS, (uint32_t)h->channels));
    KV(vlm_gguf_set_f32(w, VLM_KV_V_LAYER_NORM_EPS, (float)h->eps));
    KV(vlm_gguf_set_str(w, VLM_KV_V_HIDDEN_ACT, h->act));
    KV(vlm_gguf_set_arr_num(w, VLM_KV_V_IMAGE_MEAN, VLM_GGUF_FLOAT32, h->mean, (size_t)h->channels));
    KV(vlm_gguf_set_arr_num(w, VLM_KV_V_IMAGE_STD, VLM_GGUF_FLOAT32, h->std, (size_t)h->channels));
    KV(vlm_gguf_set_u32(w, VLM_KV_MM_INPUT_LENGTH, (uint32_t)h->hidden));
    KV(vlm_gguf_set_u32(w, VLM_KV_MM_EMBEDDING_LENGTH, (uint32_t)c->lh.hidden));
    KV(vlm_gguf_set_str(w, VLM_KV_MM_ACT, "gelu"));
    return VLM_OK;
}
#undef KV

/* Stream one tensor: rows in chunks, merged and converted. buf holds nbuf
 * floats (at least one row), out holds nbuf * 4 bytes, tmp one row. */
static vlm_status write_item(ctx *c, vlm_gguf_writer *w, const item *it, float *buf, size_t nbuf, float *tmp,
                             void *out) {
    int64_t row = it->ne[0], rows = it->ne[1] * it->ne[2] * it->ne[3];
    size_t row_bytes = vlm_dtype_row_size(it->type, row);
    int64_t chunk = row ? (int64_t)(nbuf / (size_t)row) : rows;
    if (chunk > rows) chunk = rows;
    if (chunk < 1) chunk = 1;
    float *A = NULL, *B = NULL;
    int64_t r = c->lora_r;
    vlm_status st = VLM_OK;
    if (it->lora_a) { /* A: [r][row] f32, B: one row of [rows][r] at a time */
        A = malloc((size_t)r * (size_t)row * sizeof *A);
        B = malloc((size_t)r * sizeof *B);
        if (!A || !B) st = fail(c, VLM_ERR_OOM, "out of memory for the LoRA of %s", it->name);
        if (!st) st = vlm_st_read_f32(it->lora_a, 0, r * row, A, c->err, c->err_size);
    }
    for (int64_t r0 = 0; !st && r0 < rows; r0 += chunk) {
        int64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
        for (int64_t i = 0; !st && i < nr; i++) {
            int64_t t = r0 + i, sr = it->head_dim ? vlm_rope_perm_row(t, it->head_dim) : t;
            float *dst = buf + (size_t)i * (size_t)row;
            st = vlm_st_read_f32(it->src, sr * row, row, dst, c->err, c->err_size);
            if (!st && A) st = vlm_st_read_f32(it->lora_b, sr * r, r, B, c->err, c->err_size);
            if (!st && A) { /* dst += scale * (B[sr,:] @ A) */
                memset(tmp, 0, (size_t)row * sizeof *tmp);
                for (int64_t k = 0; k < r; k++) {
                    const float bk = B[k], *ak = A + (size_t)k * (size_t)row;
                    for (int64_t j = 0; j < row; j++) tmp[j] += bk * ak[j];
                }
                for (int64_t j = 0; j < row; j++) dst[j] += c->lora_scale * tmp[j];
            }
        }
        if (st) break;
        const void *data = buf;
        if (it->type != VLM_DT_F32) {
            for (int64_t i = 0; !st && i < nr; i++)
                if (vlm_quantize_row(it->type, buf + (size_t)i * (size_t)row, (char *)out + (size_t)i * row_bytes, row))
                    st = fail(c, VLM_ERR_INVALID_ARG, "%s: cannot convert rows of %lld to %s", it->name,
                              (long long)row, vlm_dtype_name(it->type));
            data = out;
        }
        if (!st && vlm_gguf_writer_write(w, data, (size_t)nr * row_bytes))
            st = fail(c, VLM_ERR_IO, "%s", vlm_gguf_writer_last_error(w));
    }
    free(A);
    free(B);
    vlm_st_release(it->src);
    if (it->lora_a) {
        vlm_st_release(it->lora_a);
        vlm_st_release(it->lora_b);
    }
    return st;
}

static vlm_status write_file(ctx *c, const char *path, const item_list *L, vlm_gguf_writer *w) {
    for (size_t i = 0; i < L->n; i++)
        if (vlm_gguf_add_tensor(w, L->v[i].name, L->v[i].type, L->v[i].n_dims, L->v[i].ne))
            return fail(c, VLM_ERR_INVALID_ARG, "%s: %s", path, vlm_gguf_writer_last_error(w));
    if (vlm_gguf_writer_begin(w, path)) return fail(c, VLM_ERR_IO, "%s", vlm_gguf_writer_last_error(w));
    size_t cap_row = 0;
    for (size_t i = 0; i < L->n; i++)
        if ((size_t)L->v[i].ne[0] > cap_row) cap_row = (size_t)L->v[i].ne[0];
    size_t nbuf = cap_row > CHUNK_FLOATS ? cap_row : CHUNK_FLOATS;
    float *buf = malloc(nbuf * sizeof *buf), *tmp = malloc((cap_row ? cap_row : 1) * sizeof *tmp);
    void *out = malloc(nbuf * sizeof(float)); /* any output row type is at most 4 bytes/element */
    vlm_status st = VLM_OK;
    if (!buf || !tmp || !out) st = fail(c, VLM_ERR_OOM, "out of memory");
    c->prog.file = path;
    for (size_t i = 0; !st && i < L->n; i++) {
        st = write_item(c, w, &L->v[i], buf, nbuf, tmp, out);
        if (st) break;
        size_t nb = vlm_dtype_row_size(L->v[i].type, L->v[i].ne[0]) * (size_t)(L->v[i].ne[1] * L->v[i].ne[2] * L->v[i].ne[3]);
        c->prog.tensors_done++;
        c->prog.bytes_done += nb;
        c->prog.tensor = L->v[i].name;
        if (c->p->progress) c->p->progress(&c->prog, c->p->user_data);
    }
    free(buf);
    free(tmp);
    free(out);
    if (!st && vlm_gguf_writer_finish(w)) st = fail(c, VLM_ERR_IO, "%s", vlm_gguf_writer_last_error(w));
    return st;
}

static uint64_t list_bytes(const item_list *L) {
    uint64_t n = 0;
    for (size_t i = 0; i < L->n; i++)
        n += vlm_dtype_row_size(L->v[i].type, L->v[i].ne[0]) * (uint64_t)(L->v[i].ne[1] * L->v[i].ne[2] * L->v[i].ne[3]);
    return n;
}

/* ---- entry points ------------------------------------------------------------------------------ */

vlm_convert_params vlm_convert_default_params(void) {
    vlm_convert_params p;
    memset(&p, 0, sizeof p);
    p.type = VLM_WTYPE_F16;
    p.live_version = VLM_LIVE_V1PLUS;
    return p;
}

char *vlm_convert_vision_path(const char *out_path) {
    size_t n = strlen(out_path);
    bool ext = n >= 5 && strcmp(out_path + n - 5, ".gguf") == 0;
    size_t base = ext ? n - 5 : n;
    char *s = malloc(base + sizeof ".vision.gguf");
    if (!s) return NULL;
    memcpy(s, out_path, base);
    memcpy(s + base, ".vision.gguf", sizeof ".vision.gguf");
    return s;
}

static void tokenizer_release(ctx *c) {
    json_decref(c->tok);
    json_decref(c->tok_cfg);
    c->tok = c->tok_cfg = NULL;
    free(c->tok_text);
    free(c->tokens);
    free(c->token_lens);
    free(c->token_types);
    for (size_t i = 0; i < c->n_owned; i++) free(c->owned[i]);
    free(c->owned);
    free(c->merges);
    free(c->merge_lens);
    c->tok_text = NULL;
    c->tokens = c->merges = NULL;
    c->token_lens = c->merge_lens = NULL;
    c->token_types = NULL;
    c->owned = NULL;
    c->n_owned = 0;
}

static void ctx_free(ctx *c) {
    tokenizer_release(c);
    vlm_st_model_close(c->llm);
    vlm_st_model_close(c->vis);
    vlm_st_model_close(c->ada);
    json_decref(c->llm_cfg);
    json_decref(c->vis_cfg);
    json_decref(c->ada_cfg);
    json_decref(c->pre_cfg);
    matcher_free(&c->tm);
    free(c->ada_weights);
    free(c->lm.v);
    free(c->vi.v);
    free(c->vision_path);
}

vlm_status vlm_convert(const vlm_convert_params *p, char *err, size_t err_size) {
    ctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.err = err;
    c.err_size = err_size;
    if (err && err_size) err[0] = 0;
    if (!p || !p->llm_dir || !p->vision_dir || !p->out_path || !p->out_path[0])
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "convert: the LLM folder, the vision folder and the "
                           "output path are required");
    if (!vlm_dtype_valid((int)p->type))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "convert: invalid weight type %d", (int)p->type);
    if (p->live_version != VLM_LIVE_V1PLUS && p->live_version != VLM_LIVE_V1)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "convert: invalid live version %d", (int)p->live_version);
    vlm_gguf_writer *wv = NULL, *wl = NULL;
    vlm_status st;
    if (!(c.vision_path = vlm_convert_vision_path(p->out_path))) {
        st = fail(&c, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    if ((st = read_llama_config(&c)) || (st = read_siglip_config(&c))) goto done;
    if (p->adapter_dir && (st = read_adapter_config(&c))) goto done;
    if ((st = vlm_st_model_open(p->llm_dir, &c.llm, err, err_size)) ||
        (st = vlm_st_model_open(p->vision_dir, &c.vis, err, err_size)))
        goto done;
    if ((st = plan_llm(&c)) || (st = plan_vision(&c)) || (st = check_leftovers(&c))) goto done;
    /* after planning: vocab_size is now known to match the embedding table */
    if ((st = read_tokenizer(&c))) goto done;
    if (!(wv = vlm_gguf_writer_init()) || !(wl = vlm_gguf_writer_init())) {
        st = fail(&c, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    if ((st = set_vision_keys(&c, wv)) || (st = set_lm_keys(&c, wl))) goto done;
    tokenizer_release(&c); /* the writer holds its own copy of the metadata now */
    c.prog.tensors_total = c.lm.n + c.vi.n;
    c.prog.bytes_total = list_bytes(&c.lm) + list_bytes(&c.vi);
    c.prog.file = c.vision_path;
    if (p->progress) p->progress(&c.prog, p->user_data);
    if ((st = write_file(&c, c.vision_path, &c.vi, wv))) goto done;
    if ((st = write_file(&c, p->out_path, &c.lm, wl))) unlink(c.vision_path); /* keep the pair consistent */
done:
    vlm_gguf_writer_free(wv);
    vlm_gguf_writer_free(wl);
    ctx_free(&c);
    return st;
}
