/* state.c - the trained parameters (LoRA A/B of every projection and of
 * lm_head, the connector; or, for full fine-tuning, every LM weight and the
 * connector, see full.c): creation and PEFT initialisation, access in the
 * Hugging Face row order, PEFT adapter import/export and the checkpoint
 * file of the whole optimizer state. Files are written to a temporary name
 * and renamed, so a crash never leaves a half-written file under the real name. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "io/safetensors.h"
#include "train/train_internal.h"

static const char *PROJ_NAME[VLM_P_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                             "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                             "mlp.down_proj"};

vlm_lora_params vlm_lora_default_params(void) {
    vlm_lora_params p = {.lora_r = 128, .lora_alpha = 256.0f, .lora_dropout = 0.05f, .seed = 42};
    return p;
}

int64_t vlm_train_stored_row(int64_t hf_row, int32_t head_dim) {
    if (head_dim <= 0) return hf_row;
    const int64_t half = head_dim / 2, h0 = hf_row - hf_row % head_dim, r = hf_row - h0;
    return h0 + 2 * (r % half) + r / half; /* HF row h0 + j half + i <-> GGUF row h0 + 2 i + j */
}

void vlm_train_permute_rows(const float *src, float *dst, int64_t rows, int64_t cols, int32_t head_dim,
                            bool to_gguf) {
    for (int64_t f = 0; f < rows; f++) {
        const int64_t g = vlm_train_stored_row(f, head_dim);
        memcpy(dst + (to_gguf ? g : f) * cols, src + (to_gguf ? f : g) * cols, (size_t)cols * sizeof(float));
    }
}

void vlm_trainable_free(vlm_trainable *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_params; i++) free(t->params[i].val), free(t->params[i].hold);
    free(t->params);
    free(t->mods);
    free(t->fl);
    free(t);
}

void vlm_train_release_holds(vlm_trainable *t) {
    for (size_t i = 0; i < t->n_params; i++) {
        free(t->params[i].hold);
        t->params[i].hold = NULL;
    }
}

vlm_status vlm_train_add_param(vlm_trainable *t, const char *name, int64_t rows, int64_t cols, int n_dims,
                            int32_t head_dim) {
    vlm_tparam *p = &t->params[t->n_params];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->rows = rows, p->cols = cols, p->n = rows * cols, p->n_dims = n_dims, p->head_dim = head_dim;
    size_t bytes;
    if (!vlm_mul_ok((size_t)p->n, 4 * sizeof(float), &bytes)) return VLM_ERR_OOM;
    p->val = calloc(1, bytes);
    if (!p->val) return VLM_ERR_OOM;
    p->grad = p->val + p->n;
    p->m = p->grad + p->n;
    p->v = p->m + p->n;
    t->n_params++;
    return VLM_OK;
}

/* U(-bound, bound) from the seed, a tensor id and the element index. */
static void fill_uniform(float *x, int64_t n, float bound, uint64_t seed, uint64_t id) {
    uint64_t key = vlm_train_mix(seed ^ vlm_train_mix(id + 0x51ed2701ull));
    for (int64_t i = 0; i < n; i++) x[i] = (2.0f * vlm_train_unif(vlm_train_mix(key + (uint64_t)i)) - 1.0f) * bound;
}

vlm_status vlm_train_wt_to_f32(const vlm_wt *w, float *dst) {
    for (int64_t r = 0; r < w->n_out; r++) {
        vlm_status st = vlm_dequantize_row(w->type, (const uint8_t *)w->data + (size_t)r * vlm_wt_row(w),
                                           dst + r * w->n_in, w->n_in);
        if (st) return st;
    }
    return VLM_OK;
}

vlm_status vlm_trainable_init(const vlm_model *m, const vlm_lora_params *pp, vlm_trainable **out, char *err,
                              size_t err_size) {
    if (out) *out = NULL;
    if (!m || !out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_trainable_init: NULL argument");
    vlm_lora_params lp = pp ? *pp : vlm_lora_default_params();
    if (lp.full) lp.lora_r = 0, lp.lora_alpha = 0, lp.lora_dropout = 0; /* no LoRA in full mode */
    if (!lp.full && (lp.lora_r < 1 || lp.lora_r > 65536 || !(lp.lora_alpha > 0) || !(lp.lora_dropout >= 0) ||
        !(lp.lora_dropout < 1)))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "LoRA r %d must be in [1, 65536], alpha %g > 0, dropout %g in [0, 1)", lp.lora_r,
                           (double)lp.lora_alpha, (double)lp.lora_dropout);
    const vlm_model_hparams *hp = &m->hp;
    vlm_trainable *t = calloc(1, sizeof *t);
    if (!t) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    t->hp = *hp;
    t->lp = lp;
    t->full = lp.full;
    t->scale = lp.full ? 0.0f : lp.lora_alpha / (float)lp.lora_r;
    const int64_t L = hp->n_layer, H = hp->n_embd, F = hp->n_ff, Dh = hp->n_head_dim, V = hp->n_vocab;
    const int64_t Nq = hp->n_head * Dh, Nkv = hp->n_head_kv * Dh, R = lp.lora_r;
    const int64_t D = m->v_file ? hp->v_n_embd : 1024;
    const size_t n_mods = lp.full ? 0 : (size_t)L * VLM_P_COUNT + 1;
    const size_t n_full = lp.full ? (size_t)L * (VLM_P_COUNT + 2) + 3 : 0;
    t->params = calloc(n_mods * 2 + n_full + 4, sizeof *t->params);
    t->mods = lp.full ? NULL : calloc(n_mods, sizeof *t->mods);
    vlm_status st = (t->params && (lp.full || t->mods)) ? VLM_OK : VLM_ERR_OOM;
    if (!st && lp.full && (st = vlm_train_full_init(t, m, err, err_size))) {
        vlm_trainable_free(t);
        return st;
    }
    char name[200];
    const int64_t io[VLM_P_COUNT][2] = {{H, Nq}, {H, Nkv}, {H, Nkv}, {Nq, H}, {H, F}, {H, F}, {F, H}};
    for (size_t mi = 0; mi < n_mods && !st; mi++) {
        int64_t in, outf;
        int32_t hd = 0;
        char mod[120];
        if (mi + 1 == n_mods) {
            in = H, outf = V;
            snprintf(mod, sizeof mod, "lm_head");
        } else {
            int64_t il = (int64_t)mi / VLM_P_COUNT, k = (int64_t)mi % VLM_P_COUNT;
            in = io[k][0], outf = io[k][1];
            if (k == VLM_P_Q || k == VLM_P_K) hd = (int32_t)Dh;
            snprintf(mod, sizeof mod, "model.layers.%lld.%s", (long long)il, PROJ_NAME[k]);
        }
        vlm_lora_mod *lm = &t->mods[mi];
        lm->in = in, lm->out = outf;
        snprintf(name, sizeof name, "base_model.model.%s.lora_A.weight", mod);
        if ((st = vlm_train_add_param(t, name, R, in, 2, 0))) break;
        lm->A = &t->params[t->n_params - 1];
        snprintf(name, sizeof name, "base_model.model.%s.lora_B.weight", mod);
        if ((st = vlm_train_add_param(t, name, outf, R, 2, hd))) break;
        lm->B = &t->params[t->n_params - 1];
        /* PEFT: A kaiming_uniform_(a = sqrt(5)) -> U(-1/sqrt(in), 1/sqrt(in)); B zeros */
        fill_uniform(lm->A->val, lm->A->n, 1.0f / sqrtf((float)in), lp.seed, mi);
    }
    /* connector: PEFT modules_to_save names, or the model's own names in full mode */
    const char *cpre = lp.full ? "" : "base_model.model.";
    snprintf(name, sizeof name, "%sconnector.0.weight", cpre);
    if (!st && !(st = vlm_train_add_param(t, name, H, D, 2, 0))) {
        snprintf(name, sizeof name, "%sconnector.0.bias", cpre);
        if (!(st = vlm_train_add_param(t, name, H, 1, 1, 0))) {
            snprintf(name, sizeof name, "%sconnector.2.weight", cpre);
            if (!(st = vlm_train_add_param(t, name, H, H, 2, 0))) {
                snprintf(name, sizeof name, "%sconnector.2.bias", cpre);
                st = vlm_train_add_param(t, name, H, 1, 1, 0);
            }
        }
    }
    if (st) {
        vlm_trainable_free(t);
        return vlm_set_err(err, err_size, st, "out of memory for the trained parameters");
    }
    t->c0w = &t->params[t->n_params - 4], t->c0b = t->c0w + 1, t->c2w = t->c0w + 2, t->c2b = t->c0w + 3;
    if (m->v_file && m->mm0.data) {
        if ((st = vlm_train_wt_to_f32(&m->mm0, t->c0w->val)) || (st = vlm_train_wt_to_f32(&m->mm2, t->c2w->val))) {
            vlm_trainable_free(t);
            return vlm_set_err(err, err_size, st, "cannot read the connector weights of the vision file");
        }
        memcpy(t->c0b->val, m->mm0_b, (size_t)H * sizeof(float));
        memcpy(t->c2b->val, m->mm2_b, (size_t)H * sizeof(float));
    } else { /* torch.nn.Linear: weight and bias U(-1/sqrt(in), 1/sqrt(in)) */
        fill_uniform(t->c0w->val, t->c0w->n, 1.0f / sqrtf((float)D), lp.seed, 1u << 30);
        fill_uniform(t->c0b->val, H, 1.0f / sqrtf((float)D), lp.seed, (1u << 30) + 1);
        fill_uniform(t->c2w->val, t->c2w->n, 1.0f / sqrtf((float)H), lp.seed, (1u << 30) + 2);
        fill_uniform(t->c2b->val, H, 1.0f / sqrtf((float)H), lp.seed, (1u << 30) + 3);
    }
    *out = t;
    return VLM_OK;
}

size_t vlm_trainable_count(const vlm_trainable *t) { return t ? t->n_params : 0; }
int64_t vlm_trainable_step(const vlm_trainable *t) { return t ? t->step : 0; }

vlm_status vlm_trainable_info_at(const vlm_trainable *t, size_t i, vlm_trainable_info *info) {
    if (!t || !info || i >= t->n_params) return VLM_ERR_INVALID_ARG;
    const vlm_tparam *p = &t->params[i];
    info->name = p->name;
    info->shape[0] = p->rows;
    info->shape[1] = p->cols;
    info->n_dims = p->n_dims;
    info->n = p->n;
    info->frozen = p->frozen;
    return VLM_OK;
}

vlm_status vlm_trainable_set_frozen(vlm_trainable *t, size_t i, bool frozen) {
    if (!t || i >= t->n_params) return VLM_ERR_INVALID_ARG;
    t->params[i].frozen = frozen;
    return VLM_OK;
}

static float *field(const vlm_tparam *p, vlm_train_field f) { return f == VLM_TRAIN_GRAD ? p->grad : p->val; }

vlm_status vlm_trainable_get(const vlm_trainable *t, size_t i, vlm_train_field f, float *out) {
    if (!t || !out || i >= t->n_params || (f != VLM_TRAIN_VALUE && f != VLM_TRAIN_GRAD)) return VLM_ERR_INVALID_ARG;
    const vlm_tparam *p = &t->params[i];
    if (p->head_dim)
        vlm_train_permute_rows(field(p, f), out, p->rows, p->cols, p->head_dim, false);
    else
        memcpy(out, field(p, f), (size_t)p->n * sizeof(float));
    return VLM_OK;
}

vlm_status vlm_trainable_set(vlm_trainable *t, size_t i, vlm_train_field f, const float *in) {
    if (!t || !in || i >= t->n_params || (f != VLM_TRAIN_VALUE && f != VLM_TRAIN_GRAD)) return VLM_ERR_INVALID_ARG;
    vlm_tparam *p = &t->params[i];
    if (p->head_dim)
        vlm_train_permute_rows(in, field(p, f), p->rows, p->cols, p->head_dim, true);
    else
        memcpy(field(p, f), in, (size_t)p->n * sizeof(float));
    return VLM_OK;
}

void vlm_trainable_zero_grad(vlm_trainable *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_params; i++) memset(t->params[i].grad, 0, (size_t)t->params[i].n * sizeof(float));
}

/* ---- PEFT folder ------------------------------------------------------------------------------ */

vlm_status vlm_trainable_load_peft(vlm_trainable *t, const char *dir, char *err, size_t err_size) {
    if (!t || !dir) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "load_peft: NULL argument");
    if (t->full)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s: full fine-tuning has no LoRA: a PEFT adapter cannot "
                           "initialise it", dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    json_error_t je;
    json_t *cfg = json_load_file(path, 0, &je);
    if (!cfg) return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: line %d: %s", path, je.line, je.text);
    json_t *jr = json_object_get(cfg, "r"), *ja = json_object_get(cfg, "lora_alpha");
    bool ok = json_is_integer(jr) && json_is_number(ja);
    long long r = ok ? json_integer_value(jr) : 0;
    double alpha = ok ? json_number_value(ja) : 0;
    json_decref(cfg);
    if (!ok) return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: 'r' (integer) or 'lora_alpha' missing", path);
    if (r != t->lp.lora_r || fabs(alpha - t->lp.lora_alpha) > 1e-6 * fabs(alpha))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s: r %lld / lora_alpha %g, but training uses %d / %g",
                           path, r, alpha, t->lp.lora_r, (double)t->lp.lora_alpha);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    vlm_st_file *f;
    vlm_status st = vlm_st_open(path, &f, err, err_size);
    if (st) return st;
    float *tmp = NULL;
    for (size_t i = 0; i < t->n_params && !st; i++) {
        vlm_tparam *p = &t->params[i];
        const vlm_st_tensor *x = vlm_st_find(f, p->name);
        if (!x) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: missing tensor '%s'", path, p->name);
            break;
        }
        bool shape_ok = x->n_dims == p->n_dims && x->shape[0] == p->rows && (p->n_dims == 1 || x->shape[1] == p->cols);
        if (!shape_ok) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: tensor '%s' has %d dims [%lld, ...], expected [%lld%s%lld]",
                             path, p->name, x->n_dims, (long long)x->shape[0], (long long)p->rows,
                             p->n_dims == 2 ? ", " : "", p->n_dims == 2 ? (long long)p->cols : 0LL);
            break;
        }
        free(tmp);
        tmp = malloc((size_t)p->n * sizeof(float));
        if (!tmp) {
            st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
            break;
        }
        if ((st = vlm_st_read_f32(x, 0, p->n, tmp, err, err_size))) break;
        vlm_trainable_set(t, i, VLM_TRAIN_VALUE, tmp);
    }
    free(tmp);
    vlm_st_close(f);
    return st;
}

/* A safetensors file of f32 tensors: names[i] -> data[i] [shape]. */
typedef struct {
    const char *name;
    const float *data;
    int n_dims;
    int64_t shape[2];
} st_out;

static vlm_status write_st(const char *path, const st_out *ts, size_t n, const char *meta_json, char *err,
                           size_t err_size) {
    size_t cap = 256 + n * 256 + (meta_json ? strlen(meta_json) : 0), len = 0;
    char *h = malloc(cap);
    if (!h) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    len += (size_t)snprintf(h + len, cap - len, "{");
    if (meta_json) len += (size_t)snprintf(h + len, cap - len, "\"__metadata__\":%s", meta_json);
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t nb = (uint64_t)ts[i].shape[0] * (uint64_t)(ts[i].n_dims == 2 ? ts[i].shape[1] : 1) * 4;
        if (ts[i].n_dims == 2)
            len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],"
                                    "\"data_offsets\":[%llu,%llu]}", (i || meta_json) ? "," : "", ts[i].name,
                                    (long long)ts[i].shape[0], (long long)ts[i].shape[1], (unsigned long long)off,
                                    (unsigned long long)(off + nb));
        else
            len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],"
                                    "\"data_offsets\":[%llu,%llu]}", (i || meta_json) ? "," : "", ts[i].name,
                                    (long long)ts[i].shape[0], (unsigned long long)off, (unsigned long long)(off + nb));
        off += nb;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) h[len++] = ' ';
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        free(h);
        return vlm_set_err(err, err_size, VLM_ERR_IO, "cannot create %s", tmp);
    }
    uint64_t hl = len;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    bool ok = fwrite(le, 1, 8, fp) == 8 && fwrite(h, 1, len, fp) == len;
    free(h);
    for (size_t i = 0; i < n && ok; i++) {
        size_t ne = (size_t)ts[i].shape[0] * (size_t)(ts[i].n_dims == 2 ? ts[i].shape[1] : 1);
        ok = fwrite(ts[i].data, sizeof(float), ne, fp) == ne; /* little-endian hosts only (x86/arm) */
    }
    ok = fflush(fp) == 0 && fsync(fileno(fp)) == 0 && ok;
    ok = fclose(fp) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return vlm_set_err(err, err_size, VLM_ERR_IO, "cannot write %s", path);
    }
    return VLM_OK;
}

static vlm_status write_text_atomic(const char *path, const char *text, char *err, size_t err_size) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) return vlm_set_err(err, err_size, VLM_ERR_IO, "cannot create %s", tmp);
    bool ok = fputs(text, fp) >= 0;
    ok = fclose(fp) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return vlm_set_err(err, err_size, VLM_ERR_IO, "cannot write %s", path);
    }
    return VLM_OK;
}

vlm_status vlm_trainable_save_peft(const vlm_trainable *t, const char *dir, char *err, size_t err_size) {
    if (!t || !dir) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "save_peft: NULL argument");
    if (t->full)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "full fine-tuning has no LoRA adapter to write: "
                           "export the model with vlm_trainable_export_gguf");
    if (mkdir(dir, 0777) != 0) {
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return vlm_set_err(err, err_size, VLM_ERR_IO, "cannot create the folder %s", dir);
    }
    st_out *ts = calloc(t->n_params, sizeof *ts);
    float **bufs = calloc(t->n_params, sizeof *bufs);
    vlm_status st = ts && bufs ? VLM_OK : VLM_ERR_OOM;
    for (size_t i = 0; i < t->n_params && !st; i++) {
        const vlm_tparam *p = &t->params[i];
        ts[i].name = p->name;
        ts[i].n_dims = p->n_dims;
        ts[i].shape[0] = p->rows;
        ts[i].shape[1] = p->cols;
        if (p->head_dim) {
            if (!(bufs[i] = malloc((size_t)p->n * sizeof(float)))) st = VLM_ERR_OOM;
            else vlm_trainable_get(t, i, VLM_TRAIN_VALUE, bufs[i]);
            ts[i].data = bufs[i];
        } else
            ts[i].data = p->val;
    }
    char path[4096];
    if (st) vlm_set_err(err, err_size, st, "out of memory");
    else {
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
        st = write_st(path, ts, t->n_params, "{\"format\":\"pt\"}", err, err_size);
    }
    for (size_t i = 0; bufs && i < t->n_params; i++) free(bufs[i]);
    free(bufs);
    free(ts);
    if (st) return st;
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\n  \"peft_type\": \"LORA\",\n  \"task_type\": \"CAUSAL_LM\",\n  \"r\": %d,\n  \"lora_alpha\": %.9g,\n"
             "  \"lora_dropout\": %.9g,\n  \"bias\": \"none\",\n  \"fan_in_fan_out\": false,\n"
             "  \"use_rslora\": false,\n  \"use_dora\": false,\n  \"inference_mode\": true,\n"
             "  \"target_modules\": \"model.*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|lm_head$\",\n"
             "  \"modules_to_save\": [\"connector\"]\n}\n",
             t->lp.lora_r, (double)t->lp.lora_alpha, (double)t->lp.lora_dropout);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    return write_text_atomic(path, cfg, err, err_size);
}

/* ---- checkpoint ------------------------------------------------------------------------------- */

vlm_status vlm_trainable_save_state(const vlm_trainable *t, const char *path, const uint64_t *extra, size_t n_extra,
                                    char *err, size_t err_size) {
    if (!t || !path || (n_extra && !extra) || n_extra > 16)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "save_state: bad argument");
    size_t n = t->n_params * 3;
    st_out *ts = calloc(n, sizeof *ts);
    char (*names)[200] = calloc(n, sizeof *names);
    if (!ts || !names) {
        free(ts);
        free(names);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    for (size_t i = 0; i < t->n_params; i++) {
        const vlm_tparam *p = &t->params[i];
        static const char *suf[3] = {"", ".adam_m", ".adam_v"};
        const float *d[3] = {p->val, p->m, p->v};
        for (int k = 0; k < 3; k++) { /* internal row order: the file is ours */
            snprintf(names[3 * i + k], sizeof names[0], "%s%s", p->name, suf[k]);
            st_out *o = &ts[3 * i + k];
            o->name = names[3 * i + k], o->data = d[k], o->n_dims = p->n_dims;
            o->shape[0] = p->rows, o->shape[1] = p->cols;
        }
    }
    char meta[1024];
    int len = snprintf(meta, sizeof meta, "{\"step\":\"%lld\",\"dropout_calls\":\"%llu\",\"lora_r\":\"%d\","
                       "\"mode\":\"%s\",\"extra\":\"", (long long)t->step, (unsigned long long)t->dropout_calls,
                       t->lp.lora_r, t->full ? "full" : "lora");
    for (size_t i = 0; i < n_extra; i++)
        len += snprintf(meta + len, sizeof meta - (size_t)len, "%s%llu", i ? " " : "", (unsigned long long)extra[i]);
    snprintf(meta + len, sizeof meta - (size_t)len, "\"}");
    vlm_status st = write_st(path, ts, n, meta, err, err_size);
    free(ts);
    free(names);
    return st;
}

vlm_status vlm_trainable_load_state(vlm_trainable *t, const char *path, uint64_t *extra, size_t n_extra, char *err,
                                    size_t err_size) {
    if (!t || !path || (n_extra && !extra)) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "load_state: bad argument");
    vlm_st_file *f;
    vlm_status st = vlm_st_open(path, &f, err, err_size);
    if (st) return st;
    const char *s_step = vlm_st_metadata(f, "step"), *s_drop = vlm_st_metadata(f, "dropout_calls");
    const char *s_r = vlm_st_metadata(f, "lora_r"), *s_extra = vlm_st_metadata(f, "extra");
    const char *s_mode = vlm_st_metadata(f, "mode"); /* absent in LoRA checkpoints of earlier versions */
    bool full = s_mode && !strcmp(s_mode, "full");
    if (!s_step || !s_drop || !s_r || !s_extra || full != t->full || (!t->full && atoi(s_r) != t->lp.lora_r)) {
        vlm_st_close(f);
        if (t->full)
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: not a full fine-tuning checkpoint", path);
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: not a training checkpoint of LoRA r %d", path,
                           t->lp.lora_r);
    }
    for (size_t i = 0; i < t->n_params && !st; i++) {
        vlm_tparam *p = &t->params[i];
        static const char *suf[3] = {"", ".adam_m", ".adam_v"};
        float *d[3] = {p->val, p->m, p->v};
        for (int k = 0; k < 3 && !st; k++) {
            char name[200];
            snprintf(name, sizeof name, "%s%s", p->name, suf[k]);
            const vlm_st_tensor *x = vlm_st_find(f, name);
            if (!x || x->dtype != VLM_ST_F32 || x->n_elements != p->n)
                st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: tensor '%s' missing or misshapen", path, name);
            else
                st = vlm_st_read_f32(x, 0, p->n, d[k], err, err_size);
        }
    }
    if (!st) {
        t->step = strtoll(s_step, NULL, 10);
        t->dropout_calls = strtoull(s_drop, NULL, 10);
        const char *s = s_extra;
        for (size_t i = 0; i < n_extra; i++) {
            char *end;
            extra[i] = strtoull(s, &end, 10);
            if (end == s) extra[i] = 0;
            s = end;
        }
    }
    vlm_st_close(f);
    return st;
}
