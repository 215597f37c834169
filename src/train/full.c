/* full.c - full fine-tuning: the trained f32 copies of every LM weight
 * (created from the loaded base model) and the export of a trained model as
 * a GGUF pair that vlm_model_load reads.
 *
 * Tensors (Hugging Face names, shapes [rows][cols] row-major):
 *   model.embed_tokens.weight                       [V][H]
 *   model.layers.N.input_layernorm.weight           [H]
 *   model.layers.N.self_attn.{q,k,v,o}_proj.weight  [Nq][H], [Nkv][H], [Nkv][H], [H][Nq]
 *   model.layers.N.post_attention_layernorm.weight  [H]
 *   model.layers.N.mlp.{gate,up,down}_proj.weight   [F][H], [F][H], [H][F]
 *   model.norm.weight                               [H]
 *   lm_head.weight                                  [V][H]
 * (then connector.{0,2}.{weight,bias}, added by vlm_trainable_init). q/k are
 * kept in the GGUF row order of the base (head_dim set), so the export writes
 * them as they are and vlm_trainable_get/set convert to the HF order.
 *
 * Export: the LM file takes every key/value of the base LM file (tokenizer,
 * llama.*, videollm.*) except general.file_type (the export type) and
 * videollm.vision_file (the new vision file's name), and every tensor in the
 * base's order with the trained values (2-D weights in the export type, norms
 * f32); the vision file takes every key/value and tensor of the base vision
 * file, with the trained connector. Both go to NAME.tmp (the writer's own
 * .part first) and are renamed only when both are complete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "io/convert.h"
#include "io/gguf.h"
#include "io/gguf_rewrite.h"
#include "ops/quant.h"
#include "train/train_internal.h"

static const char *HF_PROJ[VLM_P_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                           "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                           "mlp.down_proj"};
static const char *GGUF_PROJ[VLM_P_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up",
                                             "ffn_down"};

static bool quantized(int type) { return type == VLM_DT_Q8_0 || type == VLM_DT_Q4_0; }

static vlm_status copy_wt(vlm_trainable *t, const vlm_wt *w, const char *name, int32_t head_dim, vlm_tparam **out,
                          char *err, size_t err_size) {
    vlm_status st = vlm_train_add_param(t, name, w->n_out, w->n_in, 2, head_dim);
    if (st) return vlm_set_err(err, err_size, st, "out of memory for %s [%lld x %lld] (16 bytes per parameter)", name,
                               (long long)w->n_out, (long long)w->n_in);
    *out = &t->params[t->n_params - 1];
    if ((st = vlm_train_wt_to_f32(w, (*out)->val))) return vlm_set_err(err, err_size, st, "cannot read %s", name);
    return VLM_OK;
}

static vlm_status copy_vec(vlm_trainable *t, const float *v, int64_t n, const char *name, vlm_tparam **out,
                           char *err, size_t err_size) {
    vlm_status st = vlm_train_add_param(t, name, n, 1, 1, 0);
    if (st) return vlm_set_err(err, err_size, st, "out of memory for %s", name);
    *out = &t->params[t->n_params - 1];
    memcpy((*out)->val, v, (size_t)n * sizeof(float));
    return VLM_OK;
}

vlm_status vlm_train_full_init(vlm_trainable *t, const vlm_model *m, char *err, size_t err_size) {
    const vlm_model_hparams *hp = &m->hp;
    const int64_t H = hp->n_embd;
    const int32_t Dh = hp->n_head_dim;
    /* quantized bases are refused: their weights are not what f32 training would update */
    const vlm_wt *check[2] = {&m->tok_embd, &m->output};
    for (int i = 0; i < 2; i++)
        if (quantized(check[i]->type))
            return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "full fine-tuning needs an f32, f16 or bf16 base; "
                               "%s is %s (convert with --type f32)", i ? "output.weight" : "token_embd.weight",
                               check[i]->type == VLM_DT_Q8_0 ? "q8_0" : "q4_0");
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const vlm_llama_layer *ly = &m->layers[il];
        const vlm_wt *lw[VLM_P_COUNT] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->ffn_gate, &ly->ffn_up, &ly->ffn_down};
        for (int k = 0; k < VLM_P_COUNT; k++)
            if (quantized(lw[k]->type))
                return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                                   "full fine-tuning needs an f32, f16 or bf16 base; blk.%d.%s.weight is %s "
                                   "(convert with --type f32)", il, GGUF_PROJ[k],
                                   lw[k]->type == VLM_DT_Q8_0 ? "q8_0" : "q4_0");
    }
    t->fl = calloc((size_t)hp->n_layer, sizeof *t->fl);
    if (!t->fl) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    vlm_status st;
    char name[200];
    if ((st = copy_wt(t, &m->tok_embd, "model.embed_tokens.weight", 0, &t->emb, err, err_size))) return st;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const vlm_llama_layer *ly = &m->layers[il];
        vlm_full_layer *fl = &t->fl[il];
        const vlm_wt *lw[VLM_P_COUNT] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->ffn_gate, &ly->ffn_up, &ly->ffn_down};
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", il);
        if ((st = copy_vec(t, ly->attn_norm, H, name, &fl->attn_norm, err, err_size))) return st;
        for (int k = 0; k < VLM_P_COUNT; k++) {
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", il, HF_PROJ[k]);
            int32_t hd = (k == VLM_P_Q || k == VLM_P_K) ? Dh : 0;
            if ((st = copy_wt(t, lw[k], name, hd, &fl->w[k], err, err_size))) return st;
            if (k == VLM_P_O) {
                snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", il);
                if ((st = copy_vec(t, ly->ffn_norm, H, name, &fl->ffn_norm, err, err_size))) return st;
            }
        }
    }
    if ((st = copy_vec(t, m->output_norm, H, "model.norm.weight", &t->out_norm, err, err_size))) return st;
    return copy_wt(t, &m->output, "lm_head.weight", 0, &t->out_w, err, err_size); /* tied embeddings are untied */
}

/* ---- export ---------------------------------------------------------------------------------------- */

static int file_type_of(int type) { return type == VLM_DT_F32 ? 0 : type == VLM_DT_F16 ? 1 : 32; }

/* The trained tensor for a GGUF name of the LM file; NULL if not trained. */
static const vlm_tparam *lm_param(const vlm_trainable *t, const char *name) {
    if (!strcmp(name, "token_embd.weight")) return t->emb;
    if (!strcmp(name, "output_norm.weight")) return t->out_norm;
    if (!strcmp(name, "output.weight")) return t->out_w;
    int il, len = 0;
    char rest[64];
    if (sscanf(name, "blk.%d.%63[a-z_].weight%n", &il, rest, &len) != 2 || name[len] || il < 0 ||
        il >= t->hp.n_layer)
        return NULL;
    if (!strcmp(rest, "attn_norm")) return t->fl[il].attn_norm;
    if (!strcmp(rest, "ffn_norm")) return t->fl[il].ffn_norm;
    for (int k = 0; k < VLM_P_COUNT; k++)
        if (!strcmp(rest, GGUF_PROJ[k])) return t->fl[il].w[k];
    return NULL;
}

static bool same_size(const vlm_gguf_tensor *s, const vlm_tparam *p) {
    return s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3] == p->n && s->ne[0] == (p->n_dims == 1 ? p->rows : p->cols);
}

vlm_status vlm_trainable_export_gguf(const vlm_trainable *t, const vlm_model *m, const char *out_path,
                                     vlm_weight_type type, char *err, size_t err_size) {
    if (!t || !m || !out_path) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "export_gguf: NULL argument");
    if (!t->full)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "export_gguf: only full fine-tuning exports a model "
                           "(LoRA training writes an adapter: merge it with videollm convert --adapter)");
    if (type != VLM_WTYPE_F32 && type != VLM_WTYPE_F16 && type != VLM_WTYPE_BF16)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "export_gguf: weight type %d: f32, f16 or bf16 only",
                           (int)type);
    if (!m->lm_file || !m->v_file)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "export_gguf: the base model must be loaded with its "
                           "vision file");
    if (t->hp.n_layer != m->hp.n_layer || t->hp.n_embd != m->hp.n_embd || t->hp.n_vocab != m->hp.n_vocab ||
        t->c0w->cols != m->hp.v_n_embd)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "export_gguf: the trained tensors were made for "
                           "another model");
    const int wt = (int)type;
    char *vpath = vlm_convert_vision_path(out_path);
    size_t pl = strlen(out_path), vl = vpath ? strlen(vpath) : 0;
    char *tmp_lm = malloc(pl + 5), *tmp_v = malloc(vl + 5);
    const size_t n_lm = vlm_gguf_n_tensors(m->lm_file), n_v = vlm_gguf_n_tensors(m->v_file);
    vlm_gguf_out_tensor *ts = calloc(n_lm + n_v + 1, sizeof *ts);
    vlm_status st = VLM_OK;
    if (!vpath || !tmp_lm || !tmp_v || !ts) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    snprintf(tmp_lm, pl + 5, "%s.tmp", out_path);
    snprintf(tmp_v, vl + 5, "%s.tmp", vpath);
    /* vision file: the base's tower, the trained connector */
    const vlm_tparam *conn[4] = {t->c0w, t->c0b, t->c2w, t->c2b};
    static const char *conn_names[4] = {"mm.0.weight", "mm.0.bias", "mm.2.weight", "mm.2.bias"};
    int found = 0;
    for (size_t i = 0; i < n_v && !st; i++) {
        ts[i].src = vlm_gguf_tensor_at(m->v_file, i);
        for (int k = 0; k < 4; k++)
            if (!strcmp(ts[i].src->name, conn_names[k])) {
                if (!same_size(ts[i].src, conn[k]))
                    st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                                     "%s: %s does not have the trained connector's shape", vlm_gguf_path(m->v_file),
                                     conn_names[k]);
                ts[i].val = conn[k]->val;
                ts[i].type = conn[k]->n_dims == 1 ? VLM_DT_F32 : wt;
                found++;
            }
    }
    if (!st && found != 4)
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: the connector tensors mm.{0,2}.{weight,bias} are missing",
                         vlm_gguf_path(m->v_file));
    if (!st) st = vlm_gguf_rewrite(tmp_v, m->v_file, ts, n_v, NULL, 0, err, err_size);
    if (st) goto done;
    /* LM file: every tensor of the base with its trained values */
    bool has_output = false;
    for (size_t i = 0; i < n_lm && !st; i++) {
        ts[i].src = vlm_gguf_tensor_at(m->lm_file, i);
        const vlm_tparam *p = lm_param(t, ts[i].src->name);
        ts[i].val = NULL;
        if (!p) continue;
        if (!same_size(ts[i].src, p))
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s does not have the trained tensor's shape",
                             vlm_gguf_path(m->lm_file), ts[i].src->name);
        ts[i].val = p->val;
        ts[i].type = p->n_dims == 1 ? VLM_DT_F32 : wt;
        has_output = has_output || p == t->out_w;
    }
    vlm_gguf_tensor out_src; /* a base with tied embeddings gets its own output.weight */
    size_t n_out = n_lm;
    if (!st && !has_output) {
        memset(&out_src, 0, sizeof out_src);
        out_src.name = "output.weight";
        out_src.n_dims = 2;
        out_src.ne[0] = t->out_w->cols, out_src.ne[1] = t->out_w->rows, out_src.ne[2] = out_src.ne[3] = 1;
        ts[n_out].src = &out_src;
        ts[n_out].val = t->out_w->val;
        ts[n_out++].type = wt;
    }
    const char *vb = strrchr(vpath, '/');
    vlm_gguf_kv_override ov[2] = {{"general.file_type", false, NULL, (uint32_t)file_type_of(wt)},
                         {VLM_KV_VISION_FILE, true, vb ? vb + 1 : vpath, 0}};
    if (!st) st = vlm_gguf_rewrite(tmp_lm, m->lm_file, ts, n_out, ov, 2, err, err_size);
    if (!st && (rename(tmp_v, vpath) != 0 || rename(tmp_lm, out_path) != 0))
        st = vlm_set_err(err, err_size, VLM_ERR_IO, "cannot rename the exported files to %s and %s", out_path, vpath);
done:
    if (st && tmp_v) unlink(tmp_v);
    if (st && tmp_lm) unlink(tmp_lm);
    free(ts);
    free(tmp_lm);
    free(tmp_v);
    free(vpath);
    return st;
}
