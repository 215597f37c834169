/*
 * videollm.h - the one public header of libvideollm.
 *
 * videollm is a C implementation of VideoLLM-online (streaming video LLM):
 * a SigLIP vision tower feeds 10 tokens per frame through an MLP connector
 * into a Llama-3 language model that decides after every frame whether to
 * stay silent (next token ',') or to speak (next token "]\n").
 *
 * Conventions
 *  - Handles are opaque. Every `*_free` accepts NULL.
 *  - Functions return a vlm_status. Functions that create a handle take an
 *    optional error buffer (err, err_size) that receives a readable message
 *    on failure; functions on an existing handle store their message on the
 *    handle (`*_last_error`).
 *  - The library never prints and never exits.
 *  - Memory returned to the caller is documented on each function.
 *
 * Usage (text pipeline):
 *
 *   char err[256];
 *   vlm_tokenizer *tok;
 *   if (vlm_tokenizer_load("tokenizer.json", &tok, err, sizeof err) != VLM_OK) { puts(err); }
 *   vlm_tokens t = {0};
 *   vlm_tokenizer_encode(tok, "Hello", 5, &t);   // t.ids[0..t.n), t.offsets[2*i], t.offsets[2*i+1]
 *   vlm_tokens_free(&t);
 *   vlm_tokenizer_free(tok);
 */
#ifndef VIDEOLLM_H
#define VIDEOLLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VLM_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------- */
/* Status codes. Append only: values are part of the ABI.                      */
/* ------------------------------------------------------------------------- */
typedef enum {
    VLM_OK = 0,
    VLM_ERR_IO = 1,          /* a file could not be opened/read/written      */
    VLM_ERR_FORMAT = 2,      /* a file or document is malformed               */
    VLM_ERR_OOM = 3,         /* allocation failed                             */
    VLM_ERR_INVALID_ARG = 4, /* the caller passed something unusable          */
    VLM_ERR_UNSUPPORTED = 5, /* valid but not supported by this build         */
    VLM_ERR_CTX_FULL = 6,    /* a context/KV cache is full                    */
    VLM_ERR_ABORTED = 7,     /* stopped by a callback                         */
    VLM_ERR_RANGE = 8,       /* a learn range does not fall on token bounds   */
    VLM_END_OF_STREAM = 9,   /* not an error: a source has no more frames      */
} vlm_status;

/* Static text for a status code. Never NULL. */
const char *vlm_status_str(vlm_status st);

/* ------------------------------------------------------------------------- */
/* Tokenizer: Hugging Face tokenizer.json, byte-level BPE (Llama-3 and kin).   */
/* ------------------------------------------------------------------------- */
typedef struct vlm_tokenizer vlm_tokenizer;

/* Result of an encode. The caller zero-initialises it once, may reuse it for
 * many encodes (buffers grow), and releases it with vlm_tokens_free().
 * offsets are in Unicode code points of the input, [start, end) per token,
 * identical to Hugging Face `return_offsets_mapping`. */
typedef struct {
    int32_t *ids;     /* [n]                                             */
    int32_t *offsets; /* [n*2]: start, end                               */
    size_t n;
    size_t cap;
} vlm_tokens;

void vlm_tokens_free(vlm_tokens *t);

/* Load a tokenizer.json file, or the same document from memory (len bytes, no
 * NUL terminator needed). On failure *out is NULL and err holds a message
 * naming what and where. */
vlm_status vlm_tokenizer_load(const char *path, vlm_tokenizer **out, char *err, size_t err_size);
vlm_status vlm_tokenizer_load_json(const char *json, size_t len, vlm_tokenizer **out, char *err,
                                   size_t err_size);
void vlm_tokenizer_free(vlm_tokenizer *tok);

/* Message of the last failed call on this handle ("" if none). Owned by tok.
 * Not meaningful when the handle is used from several threads at once. */
const char *vlm_tokenizer_last_error(const vlm_tokenizer *tok);

/* Number of ids (base vocabulary plus added tokens), i.e. Python len(tokenizer). */
int32_t vlm_tokenizer_n_vocab(const vlm_tokenizer *tok);

/* Id of a token given in its vocabulary spelling (byte-level form for BPE
 * tokens, literal content for added tokens); -1 if unknown. */
int32_t vlm_tokenizer_token_to_id(const vlm_tokenizer *tok, const char *token);

/* Vocabulary spelling of an id (NUL-terminated, owned by tok), NULL if out of range. */
const char *vlm_tokenizer_id_to_token(const vlm_tokenizer *tok, int32_t id);

/* Add a special token (like HF add_special_tokens). If it already exists its
 * id is returned, otherwise it gets the next free id. *id may be NULL. */
vlm_status vlm_tokenizer_add_special(vlm_tokenizer *tok, const char *content, int32_t *id);

/* Whether id is a special added token (skipped by decode with skip_special). */
bool vlm_tokenizer_is_special(const vlm_tokenizer *tok, int32_t id);

/* Encode len bytes of UTF-8 text without adding bos/eos (HF
 * add_special_tokens=False). Added/special tokens are split out first.
 * Invalid UTF-8 gives VLM_ERR_INVALID_ARG and a message with the byte offset.
 * Thread-safe on a shared tokenizer (it is not modified). */
vlm_status vlm_tokenizer_encode(const vlm_tokenizer *tok, const char *text, size_t len, vlm_tokens *out);

/* Decode ids to UTF-8. *out is malloc'd, NUL-terminated (caller frees);
 * invalid byte sequences become U+FFFD as HF does. */
typedef struct {
    bool skip_special_tokens;
    bool clean_up_tokenization_spaces; /* transformers' clean_up_tokenization */
} vlm_decode_params;
vlm_status vlm_tokenizer_decode(const vlm_tokenizer *tok, const int32_t *ids, size_t n,
                                const vlm_decode_params *p, char **out, size_t *out_len);

/* The eos token (its content string, e.g. "<|eot_id|>", as given by
 * tokenizer_config.json). It must exist in the vocabulary. */
vlm_status vlm_tokenizer_set_eos(vlm_tokenizer *tok, const char *eos_token);
int32_t vlm_tokenizer_eos_id(const vlm_tokenizer *tok); /* -1 if unset */

/* Read the "eos_token" (and "bos_token") of a Hugging Face tokenizer_config.json.
 * *eos / *bos are malloc'd strings (caller frees), NULL when absent. */
vlm_status vlm_read_tokenizer_config(const char *path, char **bos, char **eos, char *err, size_t err_size);

/* ------------------------------------------------------------------------- */
/* Live chat template (VideoLLM-online's `stream` role).                       */
/* ------------------------------------------------------------------------- */
typedef enum {
    VLM_LIVE_V1PLUS = 0, /* 10 <v> per frame, ',' between frames (live1+) */
    VLM_LIVE_V1 = 1,     /* 1 <v> per frame, nothing between (live1)      */
} vlm_live_version;

typedef enum {
    VLM_ROLE_UNKNOWN = 0, /* missing, not a string, or not one of the four: renders nothing */
    VLM_ROLE_SYSTEM,
    VLM_ROLE_USER,
    VLM_ROLE_ASSISTANT,
    VLM_ROLE_STREAM,
} vlm_role;

/* learn: 0 = not learned; VLM_LEARN_ALL = JSON true; any other value m is
 * Python's ranges[:m] on a stream (negative drops frames from the end). */
#define VLM_LEARN_ALL INT64_MAX

/* Why a field could not be used as-is (kept so rendering can fail exactly
 * where Jinja would, and only when the field is used). */
typedef enum {
    VLM_FIELD_OK = 0,
    VLM_FIELD_ABSENT,   /* key missing                                */
    VLM_FIELD_BAD_TYPE, /* present, wrong JSON type (null, string...) */
    VLM_FIELD_REAL,     /* num_frames only: a JSON real such as 2.5 or 2.0. Jinja
                           compares it with 0 (<= 0 renders nothing) but cannot
                           repeat a list a real number of times (> 0 is an error) */
} vlm_field_state;

typedef struct {
    vlm_role role;
    const char *content; /* UTF-8, may hold NUL bytes; NULL unless content_state == OK */
    size_t content_len;  /* bytes                                          */
    vlm_field_state content_state; /* OK only for a JSON string          */
    int64_t num_frames; /* JSON integer; true counts as 1, false as 0; for
                           VLM_FIELD_REAL the sign of the real (1, 0 or -1) */
    double num_frames_real; /* the value when num_frames_state == VLM_FIELD_REAL */
    vlm_field_state num_frames_state;
    int64_t learn;      /* see VLM_LEARN_ALL; absent = 0                   */
    bool learn_bad;     /* learn present but not bool/int (e.g. 1.5, "x", null);
                           learn then holds its Python truthiness (0 or 1) */
    bool is_object;     /* false when the JSON element was not an object */
} vlm_message;

/* A parsed conversation. Strings point into storage owned by the conversation. */
typedef struct vlm_conversation vlm_conversation;

/* Parse a JSON array of messages (strings may hold NUL as \u0000). Parsing
 * never rejects a message: each element is recorded as found (see
 * vlm_message) and the renderer / learn-range code decide, per field used.
 * Errors (malformed JSON with line/column, top level not an array, integers
 * beyond int64, lone surrogates) are VLM_ERR_FORMAT. The conversation owns
 * the strings the messages point to. */
vlm_status vlm_conversation_parse(const char *json, size_t len, vlm_conversation **out, char *err,
                                  size_t err_size);
void vlm_conversation_free(vlm_conversation *c);
size_t vlm_conversation_size(const vlm_conversation *c);
const vlm_message *vlm_conversation_messages(const vlm_conversation *c);

typedef struct {
    vlm_live_version live_version;
    const char *bos_token; /* default "<|begin_of_text|>" */
    const char *eos_token; /* default "<|eot_id|>"        */
    bool add_generation_prompt;        /* "\nAssistant:"                     */
    bool add_stream_prompt;            /* "\n[" (if no generation prompt)     */
    bool add_stream_query_prompt;      /* user turns open with "]\nUser: "    */
    bool add_stream_generation_prompt; /* "]\nAssistant:" (lowest priority)   */
    bool strict; /* also reject what the original's learn-range code rejects
                    (role sequences outside its transition table, streams
                    without a positive integer num_frames, bad learn types) */
    int64_t max_frames; /* refuse streams longer than this (default 1,000,000) */
} vlm_template_params;

vlm_template_params vlm_template_default_params(void);

/* Render messages exactly as the original Jinja template does (byte for
 * byte, including what Jinja silently skips: non-objects, unknown or missing
 * roles, a system message after the first, streams with num_frames <= 0).
 * Errors where Jinja raises: an empty list, content that is not a string
 * where it is used, a stream num_frames that is missing, not a number or a
 * real > 0; and (our limit) num_frames > max_frames. *out is malloc'd and
 * NUL-terminated (caller frees; the text itself may hold NUL bytes, use
 * *out_len). On error *out is NULL, err names the message index and field. */
vlm_status vlm_template_render(const vlm_message *msgs, size_t n, const vlm_template_params *p, char **out,
                               size_t *out_len, char *err, size_t err_size);

/* Learn ranges of the original get_learn_ranges() (code point ranges
 * [start, end) in the text rendered without flags). *ranges is malloc'd
 * [*n_ranges * 2] (start, end), NULL when there are none. Fails (like the
 * original's KeyError/TypeError/IndexError) on role sequences outside the
 * transition table, non-objects, unknown roles, non-string content, a
 * truthy learn that is not bool/int on a stream; and, deliberately, on any
 * stream whose num_frames is not a positive integer <= max_frames. */
vlm_status vlm_learn_ranges(const vlm_message *msgs, size_t n, const vlm_template_params *p, int64_t **ranges,
                            size_t *n_ranges, char *err, size_t err_size);

/* Map learn ranges onto tokens as the original collator does: labels are
 * pre-shifted (labels[j] is the target for position j), -100 elsewhere, every
 * label >= the <v> id becomes eos_id. A range that does not start (or end) on
 * exactly one token start gives VLM_ERR_RANGE with the range in the message.
 * text/text_len (the tokenized text, optional: NULL) only serve to quote the
 * text around a failing range. labels must hold toks->n entries. */
vlm_status vlm_labels_from_ranges(const vlm_tokens *toks, const int64_t *ranges, size_t n_ranges,
                                  int32_t v_id, int32_t eos_id, const char *text, size_t text_len,
                                  int32_t *labels, char *err, size_t err_size);

/* One training sample made from a conversation: text, ranges, ids, labels. */
typedef struct {
    char *text;
    size_t text_len;
    int64_t *ranges; /* [n_ranges*2] */
    size_t n_ranges;
    vlm_tokens toks;
    int32_t *labels; /* [toks.n] */
} vlm_sample;

/* Render (p's flags apply; training uses none) + learn ranges + tokenize +
 * labels. "<v>" is added to tok as a special token if missing (so tok is
 * modified; do not share it across threads during this call). The eos id is
 * tok's eos (vlm_tokenizer_set_eos), else the id of p->eos_token. On failure
 * *out is zeroed and err says why (VLM_ERR_RANGE: a range off token starts). */
vlm_status vlm_sample_build(vlm_tokenizer *tok, const vlm_message *msgs, size_t n, const vlm_template_params *p,
                            vlm_sample *out, char *err, size_t err_size);
void vlm_sample_free(vlm_sample *s);

/* Collate samples into a left-padded batch (pad_id = eos in training, mask 0
 * on padding, labels -100 on padding). Outputs are malloc'd, row-major
 * [n_samples, *seq_len] with *seq_len the longest sample (caller frees).
 * VLM_ERR_INVALID_ARG for no samples or NULL pointers, VLM_ERR_OOM. */
vlm_status vlm_collate(const vlm_sample *samples, size_t n_samples, int32_t pad_id, int32_t **input_ids,
                       int32_t **attention_mask, int32_t **labels, size_t *seq_len);

/* ------------------------------------------------------------------------- */
/* Video input (FFmpeg): files, cameras, URLs, raw RGB24 on stdin.             */
/* ------------------------------------------------------------------------- */
typedef struct vlm_video vlm_video;

typedef struct {
    double fps;             /* sampling rate, frame r has time r/fps (default 2)        */
    int resolution;         /* letterbox size (default 384)                              */
    const char *format;     /* FFmpeg input format ("v4l2", "rawvideo"...), NULL = probe */
    int raw_width;          /* for src "-": raw RGB24 frames of this size on stdin       */
    int raw_height;
    bool realtime;          /* pace a file at its own speed (live sources always are)   */
} vlm_video_params;

vlm_video_params vlm_video_default_params(void);

/* Open a video source: a file path or URL, a device such as /dev/video0
 * (through libavdevice), or "-" for raw RGB24 frames on stdin (raw_width x
 * raw_height each, sampled at params.fps). */
vlm_status vlm_video_open(const char *src, const vlm_video_params *p, vlm_video **out, char *err, size_t err_size);
void vlm_video_close(vlm_video *v);
const char *vlm_video_last_error(const vlm_video *v);
/* Whether the source is live (camera, pipe, stdin): frames arrive in real time. */
bool vlm_video_is_live(const vlm_video *v);

/* Read the next sampled frame, letterboxed to resolution x resolution RGB24
 * (rgb must hold resolution*resolution*3 bytes). *index = r and *time = r/fps.
 * Returns VLM_OK, VLM_END_OF_STREAM at the end, or an error (a video that
 * breaks mid-way reports the error after the frames read so far). */
vlm_status vlm_video_read(vlm_video *v, uint8_t *rgb, int64_t *index, double *time);

/* Letterbox one RGB24 image (w x h, stride bytes per row) to res x res with
 * the same scaler settings as the video path (FFmpeg bicubic). */
vlm_status vlm_letterbox_rgb(const uint8_t *rgb, int w, int h, int stride, int res, uint8_t *out, char *err,
                             size_t err_size);

/* ------------------------------------------------------------------------- */
/* Model runtime: SigLIP vision tower, connector, Llama-3 LM with KV cache.    */
/* ------------------------------------------------------------------------- */
/* A model is a pair of GGUF files written by `videollm convert`: the Llama
 * file (weights, hyper-parameters, live settings, tokenizer) and the vision
 * file (SigLIP tower + connector) it names. A vlm_model is immutable after
 * load and may be shared by any number of threads; all mutable state lives in
 * per-stream contexts (vlm_lm_context, vlm_vision_context), each with its own
 * thread pool and buffers sized at init, so evaluation allocates nothing.
 * Activations and accumulation are f32 for every weight type.
 *
 *   vlm_model *m; char err[256];
 *   vlm_model_params mp = vlm_model_default_params();
 *   if (vlm_model_load("model.gguf", &mp, &m, err, sizeof err)) { puts(err); }
 *   vlm_lm_context_params cp = vlm_lm_context_default_params();
 *   vlm_lm_context *lm;  vlm_lm_context_init(m, &cp, &lm, err, sizeof err);
 *   vlm_vision_context_params vp = vlm_vision_context_default_params();
 *   vlm_vision_context *vis;  vlm_vision_context_init(m, &vp, &vis, err, sizeof err);
 *   float *fe = malloc(...);  // [frame_num_tokens][n_embd]
 *   vlm_vision_embed_rgb(vis, frame384, fe);   // SigLIP + connector
 *   vlm_lm_input in[11] = {{.token = 11}};     // ',' then the 10 frame rows
 *   for (int i = 0; i < 10; i++) in[1 + i].embd = fe + i * n_embd;
 *   vlm_lm_eval(lm, in, 11, VLM_LOGITS_LAST, logits);
 */
typedef struct vlm_model vlm_model;

typedef struct {
    /* Vision GGUF. NULL: the file named by the key videollm.vision_file,
     * resolved relative to the folder of the LM file. */
    const char *vision_path;
    bool load_vision;    /* default true; false skips the vision file       */
    bool load_tokenizer; /* default true; the tokenizer JSON in the LM file  */
} vlm_model_params;

/* Hyper-parameters and live settings (read from the GGUF pair). */
typedef struct {
    /* language model */
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_head_dim, n_ff, n_ctx_train;
    float rope_theta, rms_norm_eps;
    int32_t lm_weight_type; /* GGUF type id of the projection weights */
    /* vision tower (0 when not loaded) */
    int32_t v_n_embd, v_n_layer, v_n_head, v_n_ff, v_image_size, v_patch_size;
    float v_ln_eps;
    int32_t v_weight_type;
    /* live settings */
    int32_t frame_num_tokens;        /* 10 (live1+: CLS + 3x3 pooled) or 1 (live1: CLS) */
    int32_t v_placeholder_id;        /* id of <v> (never looked up in the embedding table) */
    int32_t frame_token_interval_id; /* ',' for live1+, -1 for none */
    int32_t eos_token_id;
    int32_t frame_resolution;        /* letterbox size (= v_image_size) */
    float frame_fps;
    float stream_threshold;          /* P(',') below which the model speaks */
} vlm_model_hparams;

vlm_model_params vlm_model_default_params(void);

/* Load the model. On failure *out is NULL and err names the file, tensor or
 * key at fault. VLM_ERR_IO (open/map), VLM_ERR_FORMAT (bad file, missing or
 * misshapen tensor, bad key), VLM_ERR_UNSUPPORTED (a tensor type this build
 * cannot run), VLM_ERR_OOM. */
vlm_status vlm_model_load(const char *path, const vlm_model_params *p, vlm_model **out, char *err,
                          size_t err_size);
void vlm_model_free(vlm_model *m);

const vlm_model_hparams *vlm_model_get_hparams(const vlm_model *m);
int32_t vlm_model_frame_num_tokens(const vlm_model *m);
int32_t vlm_model_v_placeholder_id(const vlm_model *m);
int32_t vlm_model_frame_interval_id(const vlm_model *m); /* -1 when none */
int32_t vlm_model_eos_id(const vlm_model *m);
float vlm_model_stream_threshold(const vlm_model *m);
float vlm_model_frame_fps(const vlm_model *m);
int32_t vlm_model_frame_resolution(const vlm_model *m);
/* The system prompt (UTF-8, NUL-terminated, owned by m; "" if absent). */
const char *vlm_model_system_prompt(const vlm_model *m);
/* The model's tokenizer with <v> registered (owned by m; NULL if not loaded).
 * Encoding is thread-safe; do not add tokens to it. */
const vlm_tokenizer *vlm_model_tokenizer(const vlm_model *m);
/* Whether the vision tower and connector are loaded. */
bool vlm_model_has_vision(const vlm_model *m);

/* Observation hook for tests and debugging: called synchronously with each
 * named intermediate (row-major f32 [n_rows][n_cols]; valid only during the
 * call). LM names: "lm.embd" (layer -1), "lm.layer" (output of layer il),
 * "lm.norm" (final norm, layer -1), once per internal batch. Vision names:
 * "v.embd", "v.layer" (il), "v.post_ln", "v.cls", "v.pooled", "v.tokens". */
typedef void (*vlm_tensor_cb)(void *user_data, const char *name, int32_t layer, const float *data, int64_t n_rows,
                              int64_t n_cols);

/* ---- language model context (KV cache + scratch for one stream) --------- */
typedef struct vlm_lm_context vlm_lm_context;

typedef struct {
    int32_t n_ctx;     /* KV cache positions (default 4096)                         */
    int32_t n_batch;   /* positions per internal forward (default 64); an eval of
                          more positions is split into batches of n_batch        */
    int32_t n_threads; /* threads of this context's pool (default 2)               */
    bool kv_f16;       /* store the KV cache as f16 (default false: f32)           */
    vlm_tensor_cb cb;  /* optional observation hook                                */
    void *cb_user_data;
} vlm_lm_context_params;

/* One input position: a token id, or (embd != NULL) an embedding row of
 * n_embd floats that is used instead of a table lookup (frame tokens). */
typedef struct {
    int32_t token;
    const float *embd;
} vlm_lm_input;

typedef enum {
    VLM_LOGITS_NONE = 0, /* only extend the cache                         */
    VLM_LOGITS_LAST = 1, /* logits of the last position: [n_vocab]        */
    VLM_LOGITS_ALL = 2,  /* logits of every position: [n][n_vocab]        */
} vlm_logits_mode;

vlm_lm_context_params vlm_lm_context_default_params(void);
/* Allocates the KV cache and all scratch. The model must outlive the context. */
vlm_status vlm_lm_context_init(const vlm_model *m, const vlm_lm_context_params *p, vlm_lm_context **out, char *err,
                               size_t err_size);
void vlm_lm_context_free(vlm_lm_context *ctx);

/* Run n positions through the LM, appending them to the KV cache (positions
 * kv_len .. kv_len+n-1), and write logits per `mode` (logits may be NULL for
 * VLM_LOGITS_NONE). Makes no allocation. Returns:
 *   VLM_OK
 *   VLM_ERR_CTX_FULL     kv_len + n > n_ctx; nothing was evaluated
 *   VLM_ERR_INVALID_ARG  n == 0, a token outside [0, n_vocab) without an
 *                        embedding (e.g. <v>), or a NULL buffer; nothing was
 *                        evaluated
 * On error the cache is unchanged and the message is on the context. */
vlm_status vlm_lm_eval(vlm_lm_context *ctx, const vlm_lm_input *in, size_t n, vlm_logits_mode mode, float *logits);
/* Positions held in the KV cache. */
int32_t vlm_lm_kv_len(const vlm_lm_context *ctx);
int32_t vlm_lm_n_ctx(const vlm_lm_context *ctx);
/* Keep the first n_keep positions (0 clears). VLM_ERR_INVALID_ARG if
 * n_keep < 0 or n_keep > kv_len. */
vlm_status vlm_lm_kv_trim(vlm_lm_context *ctx, int32_t n_keep);
const char *vlm_lm_last_error(const vlm_lm_context *ctx);

/* ---- vision context (scratch for one frame at a time) -------------------- */
typedef struct vlm_vision_context vlm_vision_context;

typedef struct {
    int32_t n_threads; /* default 2 */
    vlm_tensor_cb cb;
    void *cb_user_data;
} vlm_vision_context_params;

vlm_vision_context_params vlm_vision_context_default_params(void);
/* VLM_ERR_INVALID_ARG when the model has no vision tower. */
vlm_status vlm_vision_context_init(const vlm_model *m, const vlm_vision_context_params *p, vlm_vision_context **out,
                                   char *err, size_t err_size);
void vlm_vision_context_free(vlm_vision_context *ctx);
const char *vlm_vision_last_error(const vlm_vision_context *ctx);

/* SigLIP on one frame of normalised pixels [3][S][S] (S = v_image_size, CHW,
 * values (x/255-0.5)/0.5) -> frame tokens [frame_num_tokens][v_n_embd]:
 * the MAP-head token ("CLS"), then for live1+ the 3x3 average pool of the
 * post-LN patch grid, row-major. No allocation. */
vlm_status vlm_vision_encode(vlm_vision_context *ctx, const float *pixels, float *tokens);
/* The same from a letterboxed RGB24 frame [S][S][3]. */
vlm_status vlm_vision_encode_rgb(vlm_vision_context *ctx, const uint8_t *rgb, float *tokens);
/* Connector: Linear -> exact GELU -> Linear on n rows [n][v_n_embd] ->
 * [n][n_embd]. No allocation (long inputs are processed in chunks). */
vlm_status vlm_connector(vlm_vision_context *ctx, const float *tokens, size_t n, float *out);
/* Encode + connector: RGB24 [S][S][3] -> LM embeddings [frame_num_tokens][n_embd]. */
vlm_status vlm_vision_embed_rgb(vlm_vision_context *ctx, const uint8_t *rgb, float *out);

/* ---- frame preprocessing ------------------------------------------------- */
/* Letterbox an RGB24 image (w x h, `stride` bytes per row) into size x size
 * RGB24 like the original's ffmpeg filter: long side -> size, the short side
 * keeps the aspect ratio rounded to an even number, centred on black.
 * Bicubic (B=0, C=0.6, antialiased when shrinking); see docs/runtime.md.
 * vlm_frame_letterbox allocates a temporary buffer; the _scratch form uses
 * the caller's (at least vlm_frame_letterbox_scratch_size bytes, 4-byte aligned). */
vlm_status vlm_frame_letterbox(const uint8_t *rgb, int32_t w, int32_t h, size_t stride, int32_t size, uint8_t *out);
size_t vlm_frame_letterbox_scratch_size(int32_t w, int32_t h, int32_t size);
vlm_status vlm_frame_letterbox_scratch(const uint8_t *rgb, int32_t w, int32_t h, size_t stride, int32_t size,
                                       uint8_t *out, void *scratch, size_t scratch_size);
/* RGB24 [size][size][3] -> pixels [3][size][size]: x/255, then (x-0.5)/0.5. */
vlm_status vlm_frame_to_pixels(const uint8_t *rgb, int32_t size, float *pixels);

/* ------------------------------------------------------------------------- */
/* Streaming session: the LIVE inference loop of VideoLLM-online.              */
/* ------------------------------------------------------------------------- */
/* A session owns one LM context (KV cache) and one vision context, a frame
 * queue and a query queue; it follows the original loop exactly: the start
 * prompt (system + "\n\n["), the sampled ',' (or eos + "\n[" after a reply)
 * fed together with the next frame, silence iff P(interval) >= threshold,
 * queries answered before the next frame when earlier than it and after the
 * frame when at or after it, greedy replies capped at max_new_tokens.
 * Deviations where the original fails are documented in docs/streaming.md. */
typedef struct vlm_session vlm_session;

typedef enum {
    VLM_EVENT_FRAME = 0,          /* a frame went through the LM: time, index, p_interval     */
    VLM_EVENT_QUERY = 1,          /* a user query is answered now: time, text                 */
    VLM_EVENT_RESPONSE_START = 2, /* a reply begins: time                                    */
    VLM_EVENT_RESPONSE_TOKEN = 3, /* token (id) and text (the new decoded characters)        */
    VLM_EVENT_RESPONSE_END = 4,   /* time, text (whole decoded reply), token_ids/n_tokens     */
    VLM_EVENT_DROPPED = 5,        /* a frame was dropped (queue full): time, index           */
    VLM_EVENT_KV_EVICT = 6,       /* the KV policy evicted n_tokens positions                 */
} vlm_event_type;

typedef struct {
    vlm_event_type type;
    double time;      /* video time in seconds                      */
    int64_t index;    /* frame index (FRAME, DROPPED)               */
    float p_interval; /* FRAME: softmax probability of the interval token (eos for live1) */
    int32_t token;    /* RESPONSE_TOKEN                             */
    const char *text; /* QUERY, RESPONSE_TOKEN, RESPONSE_END; valid during the callback */
    size_t text_len;
    const int32_t *token_ids; /* RESPONSE_END: generated ids incl. the final eos */
    size_t n_tokens;
} vlm_event;

typedef void (*vlm_event_fn)(void *user_data, const vlm_event *ev);

typedef enum {
    VLM_KV_EVICT_FRAMES = 0, /* default: keep the start prompt + sinks, drop the oldest positions */
    VLM_KV_UNBOUNDED = 1,    /* the original: grow until n_ctx, then VLM_ERR_CTX_FULL            */
} vlm_kv_policy;

typedef struct {
    float threshold;         /* silence iff P(interval) >= threshold; <0: the model's (0.725)      */
    int32_t max_new_tokens;  /* reply cap (100, as the original)                                    */
    int32_t n_ctx;           /* KV cache positions (default 8192, Llama-3's trained length)         */
    int32_t n_sink;          /* positions kept after the start prompt when evicting (default 64)    */
    vlm_kv_policy kv_policy;
    int32_t n_threads;       /* threads for the LM and the vision tower (default 2)                 */
    int32_t max_queue;       /* frames waiting for the LM; a push beyond drops the oldest (default 16) */
    const char *system_prompt; /* NULL: the model's default                                         */
    vlm_event_fn on_event;
    void *user_data;
} vlm_session_params;

vlm_session_params vlm_session_default_params(void);
/* The model must outlive the session; many sessions may share one model. */
vlm_status vlm_session_init(const vlm_model *m, const vlm_session_params *p, vlm_session **out, char *err,
                            size_t err_size);
void vlm_session_free(vlm_session *s);
const char *vlm_session_last_error(const vlm_session *s);

/* Queue a letterboxed frame (resolution x resolution RGB24) at time t: it is
 * encoded (SigLIP + connector) now and waits for the LM. */
vlm_status vlm_session_push_frame(vlm_session *s, const uint8_t *rgb, double t, int64_t index);
/* Queue precomputed frame embeddings [frame_num_tokens][n_embd] (after the connector). */
vlm_status vlm_session_push_embeds(vlm_session *s, const float *embeds, double t, int64_t index);
/* Queue a user query at video time t. */
vlm_status vlm_session_push_query(vlm_session *s, double t, const char *text);
/* One call of the original loop: consume queued frames until one reply has
 * been produced or the frame queue is empty. Events go to on_event. */
vlm_status vlm_session_step(vlm_session *s);
/* Queued frames / queries. */
size_t vlm_session_pending_frames(const vlm_session *s);
size_t vlm_session_pending_queries(const vlm_session *s);
/* Positions now in the KV cache. */
int32_t vlm_session_kv_len(const vlm_session *s);

/* ------------------------------------------------------------------------- */
/* Model files: Hugging Face checkpoints -> the GGUF pair (docs/model-format.md) */
/* ------------------------------------------------------------------------- */
/* `videollm convert` turns three Hugging Face folders into two GGUF files:
 *  - the LM file: a standard llama.cpp "llama" GGUF (Llama-3 with the LoRA
 *    merged, q/k rows permuted for adjacent-pair RoPE, the tokenizer) plus
 *    the live settings under "videollm.*";
 *  - the vision file beside it: SigLIP tower (MAP head included) and the
 *    connector, with its hyper-parameters under "videollm.vision.*".
 * Tensors are streamed one at a time: memory stays small whatever the model
 * size. Both files appear only when everything succeeded. */
#define VLM_MODEL_FORMAT_VERSION 1

/* Weight types of converted files (values are the GGUF tensor type ids). */
typedef enum {
    VLM_WTYPE_F32 = 0,
    VLM_WTYPE_F16 = 1,
    VLM_WTYPE_Q4_0 = 2,
    VLM_WTYPE_Q8_0 = 8,
    VLM_WTYPE_BF16 = 30,
} vlm_weight_type;

typedef struct {
    size_t tensors_done, tensors_total; /* over both files */
    uint64_t bytes_done, bytes_total;   /* tensor data bytes over both files */
    const char *tensor;                 /* GGUF name of the tensor just written; NULL at start */
    const char *file;                   /* the output file being written */
} vlm_convert_progress;

typedef struct {
    const char *llm_dir;     /* HF Llama folder: config.json, tokenizer.json, tokenizer_config.json,
                                model.safetensors or model.safetensors.index.json + shards       */
    const char *vision_dir;  /* HF SigLIP folder (SiglipModel: text_model.* is ignored, or
                                SiglipVisionModel); preprocessor_config.json is optional          */
    const char *adapter_dir; /* PEFT LoRA folder (adapter_config.json, adapter_model.safetensors),
                                or NULL (then the LLM folder must hold connector.* weights)      */
    const char *out_path;    /* the LM file; the vision file is vlm_convert_vision_path(out_path) */
    vlm_weight_type type;    /* 2-D weights (default F16); norms, biases, position embeddings
                                and the probe stay F32; q8_0/q4_0 fall back to F16 for rows
                                whose length is not a multiple of 32 (reported as a note)     */
    vlm_live_version live_version; /* default VLM_LIVE_V1PLUS */
    const char *name;        /* general.name (default "VideoLLM-online") */
    /* Optional: called once before the first tensor (tensor == NULL) and
     * after every tensor. */
    void (*progress)(const vlm_convert_progress *p, void *user_data);
    /* Optional: one line of information (type fallbacks, ignored tensors). */
    void (*note)(const char *msg, void *user_data);
    void *user_data;
} vlm_convert_params;

vlm_convert_params vlm_convert_default_params(void);

/* Convert. Everything is validated before anything is written: missing,
 * unexpected or misshapen tensors (named), unknown dtypes
 * (VLM_ERR_UNSUPPORTED), corrupt files, a config.json whose model_type is not
 * llama / siglip(_vision_model), LoRA weights that do not fit their module,
 * a missing connector. Output goes to PATH.part files renamed at the end;
 * on failure nothing is left behind. */
vlm_status vlm_convert(const vlm_convert_params *p, char *err, size_t err_size);

/* Path of the vision file for an LM path: a trailing ".gguf" becomes
 * ".vision.gguf", otherwise ".vision.gguf" is appended. malloc'd (caller
 * frees); NULL on out of memory. */
char *vlm_convert_vision_path(const char *out_path);

#ifdef __cplusplus
}
#endif
#endif /* VIDEOLLM_H */
