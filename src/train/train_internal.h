/* train_internal.h - layout of the trained parameters shared by the training
 * sources (state, forward/backward, optimizer, loop).
 *
 * Every trained tensor is one vlm_tparam: f32 value, gradient and the two
 * AdamW moments, all of n elements, row-major [rows][cols]. LoRA modules
 * pair two of them: A [r][in] and B [out][r]. For q_proj / k_proj the rows
 * of B are stored in the GGUF (llama.cpp) order of the frozen q/k weights,
 * so that B A x adds to the right outputs; vlm_trainable_get/set and the
 * PEFT files use the Hugging Face order (see permute_rows in state.c).
 *
 * Full fine-tuning (vlm_lora_params.full) has no LoRA: every LM weight is an
 * f32 copy of the base (vlm_full_layer, emb, out_norm, out_w), q/k rows kept
 * in the GGUF order of the base (head_dim set, like a q/k LoRA B), and the
 * forward/backward pass runs on those copies (full.c: init and GGUF export). */
#ifndef VLM_TRAIN_INTERNAL_H
#define VLM_TRAIN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "videollm.h"

typedef struct {
    char name[160];
    int64_t rows, cols, n; /* cols = 1 for a bias */
    int n_dims;
    int32_t head_dim;      /* > 0: a q/k LoRA B whose rows are permuted per head of head_dim */
    float *val, *grad, *m, *v;
    bool frozen;           /* skipped by vlm_adamw_step (no update, not in the clipped norm) */
    int64_t skipped;       /* optimizer steps this tensor sat out frozen: its bias correction
                              counts only the steps it took, as torch's per-parameter state */
    uint8_t *hold;         /* NULL, or [n] in the stored order: 1 = an element held where it is (its gradient
                              zeroed before the clipped norm, its value and moments not updated) */
} vlm_tparam;

/* Projection indices of a layer, in the order of the PEFT module names. */
enum { VLM_P_Q = 0, VLM_P_K, VLM_P_V, VLM_P_O, VLM_P_GATE, VLM_P_UP, VLM_P_DOWN, VLM_P_COUNT };

typedef struct {
    vlm_tparam *A, *B; /* [r][in], [out][r] */
    int64_t in, out;
} vlm_lora_mod;

/* Full fine-tuning: the trained copies of one layer's weights. */
typedef struct {
    vlm_tparam *attn_norm, *ffn_norm; /* [H] */
    vlm_tparam *w[VLM_P_COUNT];       /* q [Nq][H], k/v [Nkv][H], o [H][Nq], gate/up [F][H], down [H][F] */
} vlm_full_layer;

struct vlm_trainable {
    vlm_model_hparams hp;
    vlm_lora_params lp;     /* full mode: lora_r 0, dropout 0 */
    bool full;              /* full fine-tuning (no LoRA tensors, mods NULL) */
    vlm_full_layer *fl;     /* full: [n_layer] */
    vlm_tparam *emb, *out_norm, *out_w; /* full: [V][H], [H], [V][H] */
    float scale;            /* alpha / r */
    size_t n_params;
    vlm_tparam *params;     /* [n_params]: per layer 7 x (A, B), lm_head (A, B), connector 0.w 0.b 2.w 2.b;
                               full: embed, per layer (attn_norm q k v o ffn_norm gate up down), norm,
                               lm_head, connector */
    vlm_lora_mod *mods;     /* [n_layer * 7 + 1]: the last is lm_head */
    vlm_tparam *c0w, *c0b, *c2w, *c2b; /* connector: [H][D], [H], [H][H], [H] */
    int64_t step;           /* AdamW steps taken */
    uint64_t dropout_calls; /* sequences run in training mode (keys the dropout masks) */
};

/* Add one zeroed tensor (val, grad, m, v in one allocation) to t->params. */
vlm_status vlm_train_add_param(vlm_trainable *t, const char *name, int64_t rows, int64_t cols, int n_dims,
                               int32_t head_dim);
/* Full mode (full.c): add the LM tensors copied from the base (the connector
 * is added by the caller afterwards). Refuses q8_0/q4_0 weights. */
vlm_status vlm_train_full_init(vlm_trainable *t, const vlm_model *m, char *err, size_t err_size);
/* Drop every tensor's held elements (the --freeze slices): they train from the next step on. */
void vlm_train_release_holds(vlm_trainable *t);
/* A weight view of n_out rows of a weight into f32, row by row. */
vlm_status vlm_train_wt_to_f32(const vlm_wt *w, float *dst);

/* Tests: copy the logits of the labelled rows of the next vlm_train_forward
 * calls into dst (row-major, in order of the labelled positions; NULL stops). */
void vlm_train_dump_logits(vlm_train_context *c, float *dst);
/* Whether the context keeps every layer's activations (p.keep_mib; decided at the first batch). */
bool vlm_train_context_keeps(const vlm_train_context *c);

/* Row permutation of q/k (llama.cpp converter): GGUF row 2i+j of a head is HF row j*Dh/2 + i.
 * vlm_train_stored_row: that GGUF row of Hugging Face row hf_row (head_dim 0: the row itself). */
int64_t vlm_train_stored_row(int64_t hf_row, int32_t head_dim);
void vlm_train_permute_rows(const float *src, float *dst, int64_t rows, int64_t cols, int32_t head_dim, bool to_gguf);

/* splitmix64 and helpers for deterministic randomness. */
static inline uint64_t vlm_train_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
/* Uniform in [0, 1) from a 64-bit value (24 bits of precision, exact in f32). */
static inline float vlm_train_unif(uint64_t x) { return (float)(x >> 40) * (1.0f / 16777216.0f); }

#endif
