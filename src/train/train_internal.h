/* train_internal.h - layout of the trained parameters shared by the training
 * sources (state, forward/backward, optimizer, loop).
 *
 * Every trained tensor is one vlm_tparam: f32 value, gradient and the two
 * AdamW moments, all of n elements, row-major [rows][cols]. LoRA modules
 * pair two of them: A [r][in] and B [out][r]. For q_proj / k_proj the rows
 * of B are stored in the GGUF (llama.cpp) order of the frozen q/k weights,
 * so that B A x adds to the right outputs; vlm_trainable_get/set and the
 * PEFT files use the Hugging Face order (see permute_rows in state.c). */
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
} vlm_tparam;

/* Projection indices of a layer, in the order of the PEFT module names. */
enum { VLM_P_Q = 0, VLM_P_K, VLM_P_V, VLM_P_O, VLM_P_GATE, VLM_P_UP, VLM_P_DOWN, VLM_P_COUNT };

typedef struct {
    vlm_tparam *A, *B; /* [r][in], [out][r] */
    int64_t in, out;
} vlm_lora_mod;

struct vlm_trainable {
    vlm_model_hparams hp;
    vlm_lora_params lp;
    float scale;            /* alpha / r */
    size_t n_params;
    vlm_tparam *params;     /* [n_params]: per layer 7 x (A, B), lm_head (A, B), connector 0.w 0.b 2.w 2.b */
    vlm_lora_mod *mods;     /* [n_layer * 7 + 1]: the last is lm_head */
    vlm_tparam *c0w, *c0b, *c2w, *c2b; /* connector: [H][D], [H], [H][H], [H] */
    int64_t step;           /* AdamW steps taken */
    uint64_t dropout_calls; /* sequences run in training mode (keys the dropout masks) */
};

/* Row permutation of q/k (llama.cpp converter): GGUF row 2i+j of a head is HF row j*Dh/2 + i. */
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
