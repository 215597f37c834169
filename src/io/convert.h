/* convert.h - names shared by the converter (io/convert.c) and the model
 * loader: GGUF keys of the videollm namespace and the tensor names of both
 * files. The public entry point is vlm_convert() in videollm.h; the format is
 * described in docs/model-format.md.
 *
 * Dimension letters used in the shape comments (ggml order, ne[0] first):
 *   H  LM hidden size          V  LM vocabulary size     F  LM MLP size
 *   Dh head dim = H / n_head   Nh n_head                 Nkv n_head_kv
 *   D  vision hidden size      I  vision MLP size        P  patch size
 *   C  image channels (3)      Np patches = (image_size / P)^2 */
#ifndef VLM_IO_CONVERT_H
#define VLM_IO_CONVERT_H
#include <stdbool.h>
#include <stdint.h>

#include "videollm.h"

/* ---- LM file: standard llama keys (see docs/model-format.md) ------------------------------------ */
/* general.architecture = "llama", general.name, general.file_type (u32),
 * general.quantization_version (u32 2), llama.context_length,
 * llama.embedding_length, llama.block_count, llama.feed_forward_length,
 * llama.attention.head_count, llama.attention.head_count_kv,
 * llama.rope.dimension_count, llama.vocab_size (u32 each),
 * llama.rope.freq_base, llama.attention.layer_norm_rms_epsilon (f32),
 * tokenizer.ggml.model = "gpt2", tokenizer.ggml.pre = "llama-bpe",
 * tokenizer.ggml.tokens (string[V]), tokenizer.ggml.token_type (i32[V]),
 * tokenizer.ggml.merges (string[]), tokenizer.ggml.bos_token_id,
 * tokenizer.ggml.eos_token_id (u32), tokenizer.ggml.padding_token_id (u32,
 * when tokenizer_config.json has a pad token), tokenizer.ggml.add_bos_token
 * (bool). */

/* ---- LM file: videollm keys --------------------------------------------------------------------- */
#define VLM_KV_FORMAT_VERSION "videollm.format_version"                 /* u32: VLM_MODEL_FORMAT_VERSION */
#define VLM_KV_LIVE_VERSION "videollm.live_version"                     /* string: "live1+" or "live1" */
#define VLM_KV_FRAME_NUM_TOKENS "videollm.frame_num_tokens"             /* u32: 10 (live1+) or 1 (live1) */
#define VLM_KV_FRAME_TOKEN_CLS "videollm.frame_token_cls"               /* bool: true */
#define VLM_KV_FRAME_TOKEN_POOLED "videollm.frame_token_pooled"         /* i32[2]: {3,3} (live1+), {} (live1) */
#define VLM_KV_V_PLACEHOLDER "videollm.v_placeholder"                   /* string: "<v>" */
#define VLM_KV_V_PLACEHOLDER_ID "videollm.v_placeholder_id"             /* u32: len(tokenizer) before <v> */
#define VLM_KV_FRAME_TOKEN_INTERVAL "videollm.frame_token_interval"     /* string: "," (live1+), "" (live1) */
#define VLM_KV_FRAME_TOKEN_INTERVAL_ID "videollm.frame_token_interval_id" /* i32: id of ',' or -1 */
#define VLM_KV_EOS_TOKEN "videollm.eos_token"                           /* string: tokenizer_config eos */
#define VLM_KV_EOS_TOKEN_ID "videollm.eos_token_id"                     /* u32 */
#define VLM_KV_BOS_TOKEN "videollm.bos_token"                           /* string ("" when none) */
#define VLM_KV_SYSTEM_PROMPT "videollm.system_prompt"                   /* string */
#define VLM_KV_FRAME_RESOLUTION "videollm.frame_resolution"             /* u32: = vision image_size */
#define VLM_KV_FRAME_FPS "videollm.frame_fps"                           /* f32: 2.0 */
#define VLM_KV_STREAM_THRESHOLD "videollm.stream_threshold"             /* f32: 0.725 */
#define VLM_KV_VISION_FILE "videollm.vision_file"                       /* string: basename of the vision file */
#define VLM_KV_TOKENIZER_JSON "videollm.tokenizer.json"                 /* string: the whole tokenizer.json */
#define VLM_KV_LORA_SCALE "videollm.lora.scale"                         /* f32: alpha/r merged (0: none) */
#define VLM_KV_LORA_RANK "videollm.lora.rank"                           /* u32 (0: none) */

/* ---- vision file -------------------------------------------------------------------------------- */
/* general.architecture = "siglip", general.name, general.file_type, plus: */
#define VLM_KV_V_FORMAT_VERSION "videollm.format_version"               /* u32 (same key) */
#define VLM_KV_V_EMBEDDING_LENGTH "videollm.vision.embedding_length"    /* u32 D */
#define VLM_KV_V_BLOCK_COUNT "videollm.vision.block_count"              /* u32 */
#define VLM_KV_V_HEAD_COUNT "videollm.vision.head_count"                /* u32 */
#define VLM_KV_V_FEED_FORWARD_LENGTH "videollm.vision.feed_forward_length" /* u32 I */
#define VLM_KV_V_IMAGE_SIZE "videollm.vision.image_size"                /* u32 */
#define VLM_KV_V_PATCH_SIZE "videollm.vision.patch_size"                /* u32 P */
#define VLM_KV_V_NUM_CHANNELS "videollm.vision.num_channels"            /* u32 C */
#define VLM_KV_V_LAYER_NORM_EPS "videollm.vision.layer_norm_epsilon"    /* f32 */
#define VLM_KV_V_HIDDEN_ACT "videollm.vision.hidden_act"                /* string: "gelu_pytorch_tanh" */
#define VLM_KV_V_IMAGE_MEAN "videollm.vision.image_mean"                /* f32[C] */
#define VLM_KV_V_IMAGE_STD "videollm.vision.image_std"                  /* f32[C] */
#define VLM_KV_MM_INPUT_LENGTH "videollm.connector.input_length"        /* u32 D */
#define VLM_KV_MM_EMBEDDING_LENGTH "videollm.connector.embedding_length" /* u32 H */
#define VLM_KV_MM_ACT "videollm.connector.act"                          /* string: "gelu" (exact erf form) */

/* ---- tensor names (ggml shapes) ----------------------------------------------------------------- */
/* LM file:
 *   token_embd.weight          [H, V]
 *   blk.N.attn_norm.weight     [H]          f32
 *   blk.N.attn_q.weight        [H, Nh*Dh]   rows permuted per head (see below)
 *   blk.N.attn_k.weight        [H, Nkv*Dh]  rows permuted per head
 *   blk.N.attn_v.weight        [H, Nkv*Dh]
 *   blk.N.attn_output.weight   [Nh*Dh, H]
 *   blk.N.ffn_norm.weight      [H]          f32
 *   blk.N.ffn_gate.weight      [H, F]
 *   blk.N.ffn_up.weight        [H, F]
 *   blk.N.ffn_down.weight      [F, H]
 *   output_norm.weight         [H]          f32
 *   output.weight              [H, V]       (always present, also when tied)
 * q/k permutation (llama.cpp's converter): within each head, output row
 * 2*i + j comes from HF row j*Dh/2 + i (i < Dh/2, j < 2), so that rotating
 * adjacent pairs (x[2i], x[2i+1]) equals HF's rotate-half on (x[i], x[i+Dh/2]).
 *
 * vision file:
 *   v.patch_embd.weight        [P, P, C, D]  (the conv weight, PyTorch [D, C, P, P])
 *   v.patch_embd.bias          [D]          f32
 *   v.position_embd.weight     [D, Np]      f32
 *   v.blk.N.ln1.{weight,bias}  [D]          f32
 *   v.blk.N.attn_{q,k,v}.weight [D, D], .bias [D] f32
 *   v.blk.N.attn_out.weight    [D, D], .bias [D] f32
 *   v.blk.N.ln2.{weight,bias}  [D]          f32
 *   v.blk.N.ffn_up.weight      [D, I], .bias [I] f32   (mlp.fc1)
 *   v.blk.N.ffn_down.weight    [I, D], .bias [D] f32   (mlp.fc2)
 *   v.post_ln.{weight,bias}    [D]          f32
 *   v.head.probe               [D, 1, 1]    f32
 *   v.head.attn_in.weight      [D, 3D]      (packed q, k, v rows), .bias [3D] f32
 *   v.head.attn_out.weight     [D, D], .bias [D] f32
 *   v.head.ln.{weight,bias}    [D]          f32
 *   v.head.ffn_up.weight       [D, I], .bias [I] f32
 *   v.head.ffn_down.weight     [I, D], .bias [D] f32
 *   mm.0.weight                [D, H], mm.0.bias [H] f32   (connector.0)
 *   mm.2.weight                [H, H], mm.2.bias [H] f32   (connector.2) */

/* Source row of output row t of a q/k weight with n_head heads of head_dim
 * rows each (the permutation above). */
static inline int64_t vlm_rope_perm_row(int64_t t, int64_t head_dim) {
    int64_t h = t / head_dim, w = t % head_dim;
    return h * head_dim + (w % 2) * (head_dim / 2) + w / 2;
}

/* Whether a PEFT target_modules entry selects module `name`: a JSON string is
 * a regular expression that must match the whole name; a list matches a name
 * equal to an entry or ending in "." + entry. target_json is the JSON text
 * of the value. -1 on an invalid regex or value. */
int vlm_peft_target_match(const char *target_json, const char *name);
#endif
