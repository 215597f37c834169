/* model.h - internal layout of a loaded vlm_model (weights are views into
 * the two mmap'd GGUF files) and helpers shared by the model sources.
 *
 * Dimension letters (row-major shapes, outermost first):
 *   H  LM hidden (n_embd)     V  vocabulary           F  LM MLP size
 *   Nh query heads            Nkv KV heads            Dh head dim
 *   D  vision hidden          I  vision MLP size      P  patch size
 *   Np patches (g*g, g = image_size / P)              T  rows (positions) of a batch
 * A weight view W[N][K] holds N rows of K elements (GGUF ne = {K, N}); the
 * matmul computes y[T][N] = x[T][K] @ W^T. */
#ifndef VLM_MODEL_MODEL_H
#define VLM_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/gguf.h"
#include "ops/ops.h"
#include "videollm.h"

/* Largest head dimension the attention kernels take (ops: VLM_ATTN_MAX_D). */
#define VLM_MODEL_MAX_HEAD_DIM 256

/* A 2-D weight: n_out rows of n_in elements of `type`, rows contiguous. */
typedef struct {
    const void *data;
    int type;
    int64_t n_in;  /* K */
    int64_t n_out; /* N */
} vlm_wt;

/* Byte size of one row of a weight view. */
static inline size_t vlm_wt_row(const vlm_wt *w) { return vlm_dtype_row_size(w->type, w->n_in); }
/* View of rows [r0, r0 + n) of w. */
static inline vlm_wt vlm_wt_rows(const vlm_wt *w, int64_t r0, int64_t n) {
    vlm_wt s = *w;
    s.data = (const uint8_t *)w->data + (size_t)r0 * vlm_wt_row(w);
    s.n_out = n;
    return s;
}

typedef struct {
    const float *attn_norm;      /* [H]           */
    vlm_wt wq;                   /* [Nh*Dh][H]    rows permuted for adjacent-pair RoPE */
    vlm_wt wk;                   /* [Nkv*Dh][H]   permuted likewise */
    vlm_wt wv;                   /* [Nkv*Dh][H]   */
    vlm_wt wo;                   /* [H][Nh*Dh]    */
    const float *ffn_norm;       /* [H]           */
    vlm_wt ffn_gate, ffn_up;     /* [F][H]        */
    vlm_wt ffn_down;             /* [H][F]        */
} vlm_llama_layer;

typedef struct {
    const float *ln1_w, *ln1_b;  /* [D] */
    vlm_wt q, k, v, o;           /* [D][D] */
    const float *q_b, *k_b, *v_b, *o_b; /* [D] */
    const float *ln2_w, *ln2_b;  /* [D] */
    vlm_wt up;                   /* [I][D] (fc1) */
    const float *up_b;           /* [I] */
    vlm_wt down;                 /* [D][I] (fc2) */
    const float *down_b;         /* [D] */
} vlm_siglip_layer;

struct vlm_model {
    vlm_model_hparams hp;
    vlm_gguf *lm_file;
    vlm_gguf *v_file;            /* NULL when the vision tower is not loaded */

    /* language model */
    vlm_wt tok_embd;             /* [V][H] */
    vlm_llama_layer *layers;     /* [n_layer] */
    const float *output_norm;    /* [H] */
    vlm_wt output;               /* [V][H] */

    /* vision tower */
    int32_t v_grid;              /* g = image_size / patch_size */
    int32_t v_channels;          /* C = 3 */
    int32_t pool_h, pool_w;      /* pooled grid (3x3 for live1+, 0x0 for live1) */
    bool frame_cls;              /* the MAP-head token comes first */
    float image_mean[3], image_std[3];
    vlm_wt patch;                /* [D][C*P*P] (conv weight flattened c, ky, kx) */
    const float *patch_b;        /* [D] */
    const float *pos_embd;       /* [Np][D] */
    vlm_siglip_layer *vlayers;   /* [v_n_layer] */
    const float *post_ln_w, *post_ln_b; /* [D] */
    const float *probe;          /* [D] */
    vlm_wt head_in;              /* [3D][D] packed q, k, v rows */
    const float *head_in_b;      /* [3D] */
    vlm_wt head_out;             /* [D][D] */
    const float *head_out_b;     /* [D] */
    const float *head_ln_w, *head_ln_b; /* [D] */
    vlm_wt head_up;              /* [I][D] */
    const float *head_up_b;      /* [I] */
    vlm_wt head_down;            /* [D][I] */
    const float *head_down_b;    /* [D] */
    /* connector */
    vlm_wt mm0;                  /* [H][D] */
    const float *mm0_b;          /* [H] */
    vlm_wt mm2;                  /* [H][H] */
    const float *mm2_b;          /* [H] */

    char *system_prompt;
    vlm_tokenizer *tok;

    /* f32 copies of small tensors stored in another type (freed with the model) */
    void **owned;
    size_t n_owned, cap_owned;
};

/* Bytes of matmul scratch for every weight in `ws` at T rows (max). */
size_t vlm_model_mm_scratch(const vlm_wt *const *ws, size_t n, int64_t T, int n_threads);

/* Benchmarks only: make the cache report n positions (their contents are
 * whatever the buffers hold), so a step on a long cache can be timed without
 * evaluating the prefix. VLM_ERR_INVALID_ARG if n is outside [0, n_ctx]. */
vlm_status vlm_lm_bench_set_kv_len(vlm_lm_context *ctx, int32_t n);

/* Write out_path and its vision file (vlm_convert_vision_path) as copies of
 * m's two files with the n f32 tensors names[k] (each in either file, exactly
 * once) taking the values vals[k]; written to .tmp files and renamed when both
 * are complete (src/model/rewrite.c). */
vlm_status vlm_model_rewrite_pair(const vlm_model *m, const char *out_path, const char *const *names,
                                  const float *const *vals, size_t n, char *err, size_t err_size);

/* n standard normal draws from the stream of (seed, name) that `videollm
 * init` uses for its tensors: the same on every machine (src/model/init.c). */
void vlm_init_normal_fill(uint64_t seed, const char *name, double *out, size_t n);

/* 64-byte aligned allocation (free with free()). NULL on overflow / OOM. */
void *vlm_alloc64(size_t n);
#endif
