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
/* Output is identical to Hugging Face `tokenizers` (encode with
 * add_special_tokens=False, decode) for the configurations it accepts:
 *   model BPE (vocab ids 0..n-1, merges as "a b" strings or [a, b] pairs,
 *   ignore_merges, no dropout/unk_token/byte_fallback); normalizer null;
 *   pre_tokenizer ByteLevel(add_prefix_space=false[, use_regex]) or
 *   Sequence[Split(Regex, Isolated)..., ByteLevel(add_prefix_space=false)];
 *   decoder ByteLevel; post_processor null, ByteLevel (trim_offsets honoured),
 *   TemplateProcessing (adds nothing here) or a Sequence of those; added_tokens
 *   with special/lstrip/rstrip/single_word/normalized, whose ids must be the
 *   ones HF assigns (the vocabulary id when the content is a vocabulary entry,
 *   else the next id after the vocabulary, in order).
 * The Llama-3 and GPT-2 split patterns run through hand-written matchers;
 * other Split regexes through PCRE2 (see src/text/pretok.c for the few known
 * differences from Oniguruma). Anything else is VLM_ERR_UNSUPPORTED naming the
 * field; malformed documents are VLM_ERR_FORMAT naming the JSON path. */
typedef struct vlm_tokenizer vlm_tokenizer;

/* Result of an encode. The caller zero-initialises it once, may reuse it for
 * many encodes (buffers grow; n is reset by each encode), and releases it with
 * vlm_tokens_free(). offsets are in Unicode code points of the input,
 * [start, end) per token, identical to Hugging Face `return_offsets_mapping`:
 * a token that covers only part of a code point (e.g. one byte of an emoji)
 * gets that code point's whole range. */
typedef struct {
    int32_t *ids;     /* [n]                                             */
    int32_t *offsets; /* [n*2]: start, end                               */
    size_t n;
    size_t cap;
} vlm_tokens;

void vlm_tokens_free(vlm_tokens *t); /* NULL-safe; leaves *t zeroed */

/* Load a tokenizer.json file, or the same document from memory (len bytes, no
 * NUL terminator needed). On failure *out is NULL and err holds a message
 * naming what and where, e.g. "tokenizer.json: model.merges[12]: token \"xy\"
 * is not in model.vocab". VLM_ERR_IO when the file cannot be read. */
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
 * tokens, e.g. "\xC4\xA0the" for " the"; literal content for added tokens);
 * -1 if unknown. */
int32_t vlm_tokenizer_token_to_id(const vlm_tokenizer *tok, const char *token);

/* Vocabulary spelling of an id (NUL-terminated, owned by tok, valid until the
 * tokenizer is freed), NULL if out of range. */
const char *vlm_tokenizer_id_to_token(const vlm_tokenizer *tok, int32_t id);

/* Add a special token (like HF add_special_tokens with AddedToken(content,
 * special=True)). If it already exists its id is returned (an existing added
 * token becomes a plain special token); otherwise it gets the next free id:
 * "<v>" on Llama-3 gets 128256. *id may be NULL. VLM_ERR_INVALID_ARG for an
 * empty string or invalid UTF-8. Not thread-safe: call before sharing tok. */
vlm_status vlm_tokenizer_add_special(vlm_tokenizer *tok, const char *content, int32_t *id);

/* Whether id is a special added token (skipped by decode with skip_special). */
bool vlm_tokenizer_is_special(const vlm_tokenizer *tok, int32_t id);

/* Encode len bytes of UTF-8 text without adding bos/eos (HF
 * add_special_tokens=False). Added/special tokens are split out first. NUL
 * bytes are ordinary characters. Invalid UTF-8 (overlongs, surrogates, code
 * points above U+10FFFF, truncated sequences) gives VLM_ERR_INVALID_ARG and the
 * message "encode: invalid UTF-8 at byte offset N (byte 0xXX)" with the offset
 * of the first bad sequence; text longer than 2 GiB is refused the same way.
 * On any failure out->n is 0. Thread-safe on a shared tokenizer (it is not
 * modified; only a failure message is written to it). */
vlm_status vlm_tokenizer_encode(const vlm_tokenizer *tok, const char *text, size_t len, vlm_tokens *out);

/* Decode ids to UTF-8 as HF's ByteLevel decoder does: the bytes of all tokens
 * are concatenated, then invalid sequences become U+FFFD like Rust's
 * String::from_utf8_lossy. skip_special_tokens drops special added tokens;
 * clean_up_tokenization_spaces then applies transformers'
 * clean_up_tokenization (" ." -> ".", " n't" -> "n't", ...). *out is malloc'd,
 * NUL-terminated (caller frees); *out_len (may be NULL) excludes the NUL. An id
 * outside [0, n_vocab) is VLM_ERR_INVALID_ARG (HF would drop it silently). */
typedef struct {
    bool skip_special_tokens;
    bool clean_up_tokenization_spaces; /* transformers' clean_up_tokenization */
} vlm_decode_params;
vlm_status vlm_tokenizer_decode(const vlm_tokenizer *tok, const int32_t *ids, size_t n,
                                const vlm_decode_params *p, char **out, size_t *out_len);

/* The eos token (its content string, e.g. "<|eot_id|>", as given by
 * tokenizer_config.json). It must exist in the vocabulary (else
 * VLM_ERR_INVALID_ARG). */
vlm_status vlm_tokenizer_set_eos(vlm_tokenizer *tok, const char *eos_token);
int32_t vlm_tokenizer_eos_id(const vlm_tokenizer *tok); /* -1 if unset */

/* Read the "eos_token" (and "bos_token") of a Hugging Face tokenizer_config.json
 * (a string, or an object with a string "content"). *eos / *bos are malloc'd
 * strings (caller frees), NULL when absent or null; either pointer may be NULL. */
vlm_status vlm_read_tokenizer_config(const char *path, char **bos, char **eos, char *err, size_t err_size);

/* ---- training a byte-level BPE tokenizer (src/text/bpe_train.c) ----------- */
/* Hugging Face's BpeTrainer with the Llama-3 pre-tokenizer, writing a
 * tokenizer.json shaped like Llama-3's (see docs/text-pipeline.md, "Training a
 * tokenizer"). Each text is cut at the special and cut tokens (as encode does),
 * pre-tokenized with the Llama-3 regex, and its pre-tokens counted. Training
 * starts from the 256 byte symbols (ids in code point order of their
 * byte-level characters, as GPT-2 and Llama-3), forces the merges that make
 * every required string one token, then repeatedly merges the most frequent
 * adjacent pair (counts weighted by pre-token frequency; ties: the smallest
 * (left id, right id), as HF) until the vocabulary is full or the best pair is
 * rarer than min_frequency. Special tokens follow the BPE ids. The output is
 * a deterministic function of the texts (in order) and the parameters. */
typedef struct vlm_bpe_trainer vlm_bpe_trainer;

typedef struct {
    int64_t vocab_size;    /* all ids, special tokens included (as HF's vocab_size):
                              256 + n_specials <= vocab_size <= 2^30; default 1024 */
    int64_t min_frequency; /* merge only pairs seen at least this often (0 acts as 1); default 2 */
    const char *const *required; /* strings that must encode to one token: each must be
                                    one Llama-3 pre-token; default {",", "]\n"} */
    size_t n_required;
    const char *const *specials; /* added as special tokens after the BPE ids, in order,
                                    and cut out of the texts; default the five Llama-3
                                    chat tokens <|begin_of_text|> ... <|eot_id|> */
    size_t n_specials;
    const char *const *cut_tokens; /* also cut out of the texts, not added (e.g. "<v>",
                                      which the runtime adds itself); default none */
    size_t n_cut_tokens;
    const char *bos_token; /* the post-processor's TemplateProcessing prepends it (must be
                              one of specials); NULL or "" = no TemplateProcessing;
                              default "<|begin_of_text|>" */
    /* Called during training about every 1% of the merges (done, planned). */
    void (*progress)(void *user, int64_t merges_done, int64_t merges_planned);
    void *progress_user;
} vlm_bpe_train_params;

vlm_bpe_train_params vlm_bpe_train_default_params(void);

/* Validates the parameters (VLM_ERR_INVALID_ARG naming the bad one: a vocab
 * size below 256 + specials, a required string that is not one pre-token or
 * holds a special/cut token, an empty or duplicate special, invalid UTF-8, a
 * bos_token that is not a special). The strings are copied. */
vlm_status vlm_bpe_trainer_new(const vlm_bpe_train_params *p, vlm_bpe_trainer **out, char *err, size_t err_size);
void vlm_bpe_trainer_free(vlm_bpe_trainer *tr);
const char *vlm_bpe_trainer_last_error(const vlm_bpe_trainer *tr); /* "" if none */

/* Add one text (len bytes of UTF-8; NUL bytes are ordinary characters).
 * Invalid UTF-8 is VLM_ERR_INVALID_ARG with the byte offset. Only the
 * pre-token counts are kept, not the text. */
vlm_status vlm_bpe_trainer_add_text(vlm_bpe_trainer *tr, const char *text, size_t len);

/* Train and write the tokenizer.json document: *json malloc'd, NUL-terminated
 * (caller frees), *json_len (may be NULL) excludes the NUL. The result is
 * loaded back and every required string checked to encode to one id (else
 * VLM_ERR_INVALID_ARG). Can be called once; add_text is refused afterwards. */
vlm_status vlm_bpe_trainer_finish(vlm_bpe_trainer *tr, char **json, size_t *json_len);

typedef struct {
    int64_t n_texts, n_bytes;  /* added so far                                 */
    int64_t n_pretokens;       /* pre-tokens counted (with repeats)            */
    int64_t n_words;           /* distinct pre-tokens                          */
    int64_t n_merges;          /* after finish: merges written (forced incl.)  */
    int64_t n_forced;          /* after finish: merges forced by required      */
    int64_t n_bpe_vocab;       /* after finish: BPE ids (256 + merges that made a new token) */
    int64_t last_count;        /* after finish: frequency of the last merge    */
} vlm_bpe_train_stats;
void vlm_bpe_trainer_stats(const vlm_bpe_trainer *tr, vlm_bpe_train_stats *out);

/* One call: texts[i] of lens[i] bytes (lens NULL: NUL-terminated). */
vlm_status vlm_bpe_train(const char *const *texts, const size_t *lens, size_t n, const vlm_bpe_train_params *p,
                         char **json, size_t *json_len, char *err, size_t err_size);

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
 * "v.embd", "v.layer" (il), "v.post_ln", "v.head.attn_out" (the MAP head's
 * attention output, before its MLP), "v.cls", "v.pooled", "v.tokens". */
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

/* ---- calibrating a frozen tower ------------------------------------------ */
/* Frame i of a calibration set as RGB24 [S][S][3] (S = v_image_size). A
 * non-zero status stops the calibration; err may say why. */
typedef vlm_status (*vlm_calibrate_frame_fn)(void *user_data, size_t i, uint8_t *rgb, char *err, size_t err_size);

typedef struct {
    size_t n_frames;
    double grid_std_min, grid_std_max; /* per-dimension std of the grid tokens before   */
    double attn_std_min, attn_std_max; /* ... of the MAP head's attention output once the
                                          grid is calibrated (the scales applied to it) */
} vlm_calibrate_report;

/* Standardise a frozen tower on n_frames sample frames (docs/demo-model.md):
 * rescale post_LN (grid tokens: mean 0, std 1 per dimension over the frames),
 * the MAP head's attention output projection (mean 0, std 1) and its MLP's
 * output bias (the head token: mean 0). Writes out_path and its vision file
 * (vlm_convert_vision_path) with those five tensors replaced and everything
 * else copied; m is not modified. Needs a live1+ tower with f32 head weights
 * (VLM_ERR_UNSUPPORTED otherwise). report may be NULL. */
vlm_status vlm_vision_calibrate(const vlm_model *m, vlm_calibrate_frame_fn frame, void *user_data, size_t n_frames,
                                int32_t n_threads, const char *out_path, vlm_calibrate_report *report, char *err,
                                size_t err_size);

/* ---- the designed tower and heads for a flat-colour world ---------------- */
#include "videollm_design.h"

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
    bool pipeline;           /* encode pushed frames on a worker thread while the LM steps (default
                                false: vlm_session_push_frame encodes in the caller's thread)        */
} vlm_session_params;

vlm_session_params vlm_session_default_params(void);
/* The model must outlive the session; many sessions may share one model.
 *
 * Threads: one thread may push frames (push_frame, push_embeds) while another
 * pushes queries and steps; the queues are locked. Events are delivered only
 * from vlm_session_step / vlm_session_step_upto (DROPPED events of frames
 * dropped by a push are reported by the next step), so on_event never runs
 * concurrently with itself. vlm_session_kv_len belongs to the stepping thread.
 *
 * Frame queue: at most max_queue frames wait between a push and the LM
 * (frames being encoded included). A push into a full queue drops the oldest
 * waiting frame that is not being encoded or evaluated (or, if every frame is
 * busy, the pushed one) and a DROPPED event reports it. */
vlm_status vlm_session_init(const vlm_model *m, const vlm_session_params *p, vlm_session **out, char *err,
                            size_t err_size);
void vlm_session_free(vlm_session *s);
const char *vlm_session_last_error(const vlm_session *s);

/* Queue a letterboxed frame (resolution x resolution RGB24) at time t: it is
 * encoded (SigLIP + connector) now, or with params.pipeline copied and encoded
 * by the session's worker thread while the caller goes on; then it waits for
 * the LM. */
vlm_status vlm_session_push_frame(vlm_session *s, const uint8_t *rgb, double t, int64_t index);
/* Queue precomputed frame embeddings [frame_num_tokens][n_embd] (after the connector). */
vlm_status vlm_session_push_embeds(vlm_session *s, const float *embeds, double t, int64_t index);
/* Queue a user query at video time t. */
vlm_status vlm_session_push_query(vlm_session *s, double t, const char *text);
/* One call of the original loop: consume queued frames until one reply has
 * been produced or the frame queue is empty. Events go to on_event. */
vlm_status vlm_session_step(vlm_session *s);
/* The same, considering only queued frames with index <= max_index (frames
 * still being encoded are waited for). A caller that pushes frame k+1 and then
 * calls step_upto(k) lets the worker encode k+1 while the LM runs frame k,
 * with the same events as push(k); step() in sequence. */
vlm_status vlm_session_step_upto(vlm_session *s, int64_t max_index);
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

/* ---- Model initialisation: a fresh, seeded model (docs/model-format.md) -- */
/* `videollm init` writes a randomly initialised VideoLLM-online in the three
 * Hugging Face layouts vlm_convert reads (OUT/llm, OUT/vision, OUT/adapter,
 * all F32), and optionally converts it to the GGUF pair. Weights follow
 * transformers' _init_weights: Llama (normal(0, init_std), RMSNorm ones),
 * SigLIP (xavier-uniform attention/MLP, lecun-normal patch and pooling-head
 * out_proj, normal(0, 1/sqrt(D)) positions, zero or normal(0, 1e-6) biases,
 * LayerNorm ones/zeros), connector as selected below.
 * Random numbers: per tensor, xoshiro256** seeded through splitmix64 from
 * seed ^ FNV-1a-64(tensor name); normals by Marsaglia's polar method with our
 * own log, so only IEEE-754 +,-,*,/,sqrt are involved: the same seed and
 * parameters give byte-identical files on every machine. */
typedef enum {
    VLM_INIT_CONNECTOR_HF = 0,    /* Linear weights normal(0, init_std), biases 0: what
                                     LlamaPreTrainedModel._init_weights gives the connector
                                     the original adds to a pretrained Llama (default) */
    VLM_INIT_CONNECTOR_TORCH = 1, /* torch.nn.Linear's own reset: weight and bias
                                     uniform(+-1/sqrt(fan_in)) (kaiming_uniform, a=sqrt(5)) */
} vlm_init_connector;

typedef struct {
    const char *tokenizer_path; /* tokenizer.json: byte-level BPE our tokenizer loads, with
                                   "<|begin_of_text|>", "<|eot_id|>" and "," (required)       */
    const char *out_dir;        /* created (or an existing empty folder); must not hold files  */
    uint64_t seed;              /* default 1                                                  */
    /* language model (LlamaConfig); vocab_size is the tokenizer's size */
    int32_t n_embd;             /* hidden_size (256)                                          */
    int32_t n_layer;            /* num_hidden_layers (4)                                      */
    int32_t n_head, n_head_kv;  /* num_attention_heads / num_key_value_heads (4 / 4)          */
    int32_t n_ff;               /* intermediate_size (768)                                    */
    int32_t max_pos;            /* max_position_embeddings (8192)                             */
    double rope_theta;          /* 500000                                                     */
    double rms_eps;             /* 1e-5                                                       */
    double init_std;            /* initializer_range (0.02)                                   */
    /* vision tower (SiglipVisionConfig) */
    int32_t v_n_embd;           /* hidden_size (128)                                          */
    int32_t v_n_layer;          /* num_hidden_layers (2)                                      */
    int32_t v_n_head;           /* num_attention_heads (4)                                    */
    int32_t v_n_ff;             /* intermediate_size (512)                                    */
    int32_t v_patch;            /* patch_size (32)                                            */
    int32_t v_image;            /* image_size (384)                                           */
    double v_eps;               /* layer_norm_eps (1e-6)                                      */
    int32_t v_patch_basis;      /* 0: patch filters lecun_normal_ as transformers; n > 0: random
                                   combinations of the n x n lowest 2-D cosine basis functions
                                   (smooth filters; docs/model-format.md)                     */
    double v_residual_scale;    /* 1.0: scales the init bounds of every encoder layer's
                                   attention out_proj and mlp.fc2 (the residual branches)     */
    int32_t frame_tokens;       /* 10 (live1+: CLS + 3x3 pooled; needs image/patch >= 3) or
                                   1 (live1: CLS only); selects the GGUF live version        */
    vlm_init_connector connector_init;
    /* Optional: also convert to the GGUF pair (LM file gguf_path, vision file
     * vlm_convert_vision_path(gguf_path)); NULL: folders only. */
    const char *gguf_path;
    vlm_weight_type gguf_type;  /* default VLM_WTYPE_F32                                      */
} vlm_init_params;

vlm_init_params vlm_init_default_params(void);

/* Validate p (sizes that divide, the tokenizer and its special tokens;
 * VLM_ERR_INVALID_ARG / VLM_ERR_FORMAT / VLM_ERR_IO naming the problem),
 * then write everything into a temporary folder beside out_dir, convert it
 * when gguf_path is set, and rename it to out_dir. On failure nothing is left
 * behind (no folder, no GGUF). */
vlm_status vlm_init_write(const vlm_init_params *p, char *err, size_t err_size);

/* ------------------------------------------------------------------------- */
/* Training: LoRA + connector, or full fine-tuning, with the LIVE objective   */
/* (docs/training.md).                                                        */
/* ------------------------------------------------------------------------- */
/* The trained parameters, as the original trains them: LoRA A/B on q/k/v/o/
 * gate/up/down of every layer and on lm_head (PEFT: y = W x + alpha/r B A
 * drop(x)), and the whole connector (Linear, exact GELU, Linear). The base
 * weights stay frozen in the loaded model (any weight type). Tensors are
 * named and shaped as in a PEFT adapter_model.safetensors
 * ("base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight" [r, in],
 * "...lora_B.weight" [out, r], "base_model.model.connector.0.weight", ...);
 * vlm_trainable_get/set always use the Hugging Face row order (the q/k LoRA
 * B rows are kept permuted internally to match the GGUF q/k rows).
 *
 * Full fine-tuning (vlm_lora_params.full): no LoRA; every LM weight is an f32
 * copy of the base, trained with the connector (the vision tower stays frozen),
 * named as in the Hugging Face checkpoint: "model.embed_tokens.weight" [V, H],
 * "model.layers.N.input_layernorm.weight" [H],
 * "model.layers.N.self_attn.{q,k,v,o}_proj.weight",
 * "model.layers.N.post_attention_layernorm.weight" [H],
 * "model.layers.N.mlp.{gate,up,down}_proj.weight", "model.norm.weight" [H],
 * "lm_head.weight" [V, H], "connector.{0,2}.{weight,bias}" (HF row order for
 * q/k through get/set, as for LoRA B). Needs an f32, f16 or bf16 base. */
typedef struct vlm_trainable vlm_trainable;

typedef struct {
    int32_t lora_r;     /* 128 */
    float lora_alpha;   /* 256 (scale alpha / r) */
    float lora_dropout; /* 0.05, on the LoRA input as PEFT */
    uint64_t seed;      /* 42: LoRA A init (kaiming-uniform a=sqrt(5), B = 0) and dropout masks */
    bool full;          /* false: LoRA; true: full fine-tuning (lora_r/alpha/dropout are ignored) */
} vlm_lora_params;

vlm_lora_params vlm_lora_default_params(void);
/* LoRA freshly initialised (full mode: the LM weights copied from m, which
 * must stay loaded while t is used only for export); the connector is copied
 * (as f32) from the model's vision file when loaded, else initialised as
 * torch.nn.Linear. A q8_0/q4_0 base in full mode: VLM_ERR_UNSUPPORTED. */
vlm_status vlm_trainable_init(const vlm_model *m, const vlm_lora_params *p, vlm_trainable **out, char *err,
                              size_t err_size);
void vlm_trainable_free(vlm_trainable *t);
/* Overwrite values from a PEFT folder (adapter_config.json r and lora_alpha
 * must match; every LoRA tensor and the four connector tensors must be present). */
vlm_status vlm_trainable_load_peft(vlm_trainable *t, const char *adapter_dir, char *err, size_t err_size);
/* Write a PEFT folder (adapter_config.json + adapter_model.safetensors, f32)
 * that `videollm convert --adapter` merges. Files are written to temporaries
 * and renamed. */
vlm_status vlm_trainable_save_peft(const vlm_trainable *t, const char *dir, char *err, size_t err_size);
/* Full mode: write the trained model as a GGUF pair that vlm_model_load
 * reads: out_path (the base LM file's keys and tensor layout with the trained
 * weights; general.file_type and videollm.vision_file updated) and
 * vlm_convert_vision_path(out_path) (the base's vision tower, the trained
 * connector). 2-D weights in `type` (F32, F16 or BF16), norms and biases f32.
 * m is the base model t was made from (loaded with its vision file). Both
 * files are written to NAME.tmp and renamed when both are complete. LoRA
 * mode: VLM_ERR_INVALID_ARG. */
vlm_status vlm_trainable_export_gguf(const vlm_trainable *t, const vlm_model *m, const char *out_path,
                                     vlm_weight_type type, char *err, size_t err_size);

typedef struct {
    const char *name; /* PEFT key (owned by t) */
    int64_t shape[2]; /* [out, in]; shape[1] = 1 for a bias */
    int n_dims;
    int64_t n;        /* elements */
    bool frozen;      /* vlm_trainable_set_frozen */
} vlm_trainable_info;

typedef enum { VLM_TRAIN_VALUE = 0, VLM_TRAIN_GRAD = 1 } vlm_train_field;

size_t vlm_trainable_count(const vlm_trainable *t);
vlm_status vlm_trainable_info_at(const vlm_trainable *t, size_t i, vlm_trainable_info *info);
/* Copy tensor i (Hugging Face row order) out of / into t. */
vlm_status vlm_trainable_get(const vlm_trainable *t, size_t i, vlm_train_field f, float *out);
vlm_status vlm_trainable_set(vlm_trainable *t, size_t i, vlm_train_field f, const float *in);
void vlm_trainable_zero_grad(vlm_trainable *t);
/* Freeze tensor i (or thaw it): vlm_adamw_step leaves a frozen tensor as it is
 * and leaves it out of the clipped gradient norm, as torch treats a parameter
 * with requires_grad False; a thawed tensor's AdamW bias correction counts only
 * the steps it took (torch's per-parameter step). Gradients are still computed. */
vlm_status vlm_trainable_set_frozen(vlm_trainable *t, size_t i, bool frozen);
/* Optimizer steps taken so far. */
int64_t vlm_trainable_step(const vlm_trainable *t);

/* Scratch, thread pool and saved activations for forward + backward. */
typedef struct vlm_train_context vlm_train_context;

typedef struct {
    int32_t n_threads;        /* 2 */
    float stream_loss_weight; /* 1.0: weight of the CE at labelled <v> positions */
    bool train;               /* true: dropout active (false: evaluation, no dropout) */
    int32_t keep_mib;         /* 1024: keep every layer's activations from the forward pass when they fit in
                                 this many MiB (the backward pass then recomputes none of them: about a
                                 quarter less work); 0: always recompute each layer (gradient checkpointing).
                                 The results are the same bits either way. */
} vlm_train_context_params;

vlm_train_context_params vlm_train_context_default_params(void);
/* The model and t must outlive the context. */
vlm_status vlm_train_context_init(const vlm_model *m, vlm_trainable *t, const vlm_train_context_params *p,
                                  vlm_train_context **out, char *err, size_t err_size);
void vlm_train_context_free(vlm_train_context *c);
const char *vlm_train_last_error(const vlm_train_context *c);

/* One padded batch, as vlm_collate makes it (labels pre-shifted, -100 ignored). */
typedef struct {
    const int32_t *input_ids, *attention_mask, *labels; /* [n_seq][seq_len] */
    size_t n_seq, seq_len;
    const float *frames; /* [n_frames][frame_num_tokens][v_n_embd]: features before the connector,
                            in the order of the batch's <v> positions (row-major) */
    size_t n_frames;
} vlm_train_batch;

/* loss = sum over labelled positions of w_i * CE_i / (labels in the batch),
 * w_i = stream_loss_weight where input_ids == <v>, else 1. Masked positions
 * are neither attended to nor scored. With backward, every trained
 * parameter's grad += grad_scale * dloss/dparam. *n_labels may be NULL.
 * Errors: a <v> count that does not match n_frames * frame_num_tokens, a
 * token outside the vocabulary, a label outside it, a non-finite loss. */
vlm_status vlm_train_forward(vlm_train_context *c, const vlm_train_batch *b, bool backward, float grad_scale,
                             double *loss, int64_t *n_labels);

/* AdamW as torch.optim.AdamW, after clipping the global gradient norm as
 * torch.nn.utils.clip_grad_norm_ (max_grad_norm <= 0: no clipping). */
typedef struct {
    float beta1, beta2, eps, weight_decay, max_grad_norm; /* 0.9, 0.999, 1e-8, 0, 1.0 */
} vlm_adamw_params;

vlm_adamw_params vlm_adamw_default_params(void);
/* One step at learning rate lr; *grad_norm (may be NULL) gets the norm
 * before clipping. Gradients are left as they were after clipping. */
vlm_status vlm_adamw_step(vlm_trainable *t, const vlm_adamw_params *p, double lr, double *grad_norm);
/* transformers' get_cosine_schedule_with_warmup factor times base_lr at
 * step (0-based: the rate used by optimizer step `step`). */
double vlm_cosine_lr(double base_lr, int64_t step, int64_t warmup_steps, int64_t total_steps);
/* ceil(total_steps * ratio), as TrainingArguments.get_warmup_steps. */
int64_t vlm_warmup_steps(double ratio, int64_t total_steps);

/* Checkpoint of the whole training state (values, AdamW moments, step,
 * counters) as one safetensors file, written to PATH.tmp then renamed. */
vlm_status vlm_trainable_save_state(const vlm_trainable *t, const char *path, const uint64_t *extra, size_t n_extra,
                                    char *err, size_t err_size);
/* extra: up to n_extra caller counters stored with the state (may be NULL). */
vlm_status vlm_trainable_load_state(vlm_trainable *t, const char *path, uint64_t *extra, size_t n_extra, char *err,
                                    size_t err_size);

/* The `videollm train` loop (docs/training.md for the data format). */
typedef struct {
    const char *model_path; /* converted base model (LM + vision file for the connector) */
    const char *data_path;  /* JSONL */
    const char *out_dir;    /* checkpoints and the exported adapter (full: model.gguf + model.vision.gguf) */
    const char *init_adapter; /* optional PEFT folder to start from (LoRA only) */
    vlm_lora_params lora;   /* lora.full selects full fine-tuning */
    vlm_weight_type out_type; /* full: weight type of the exported model (VLM_WTYPE_F32 default, F16, BF16) */
    const char *model_name;   /* full: exported as OUT/NAME.gguf + OUT/NAME.vision.gguf (NULL: "model") */
    double lr;              /* 2e-4 */
    int32_t epochs;         /* 1 */
    int32_t batch;          /* 1 */
    int32_t grad_accum;     /* 8 */
    double warmup_ratio;    /* 0.05 */
    float stream_loss_weight;
    int32_t n_threads;
    int64_t save_every;     /* optimizer steps between checkpoints (0: only at the end) */
    int64_t max_steps;      /* stop after this many optimizer steps in this run (0: no limit) */
    bool augmentation;      /* false; true: the original's augmentation drawn afresh each time a sample is
                               used, from (lora.seed, epoch, sample index) only (docs/training.md) */
    const char *freeze;     /* NULL: train every tensor; else comma-separated fnmatch(3) patterns over the
                               trained tensors' names ("model.layers.0.self_attn.*,connector.*"): those are
                               frozen (vlm_trainable_set_frozen); a pattern that matches none is an error.
                               A pattern ending in "[r0:r1]" or "[r0:r1,c0:c1]" (half-open, Hugging Face
                               [rows][cols]; an empty bound is the start or the end) holds only those
                               elements: gradient zeroed, value and moments left as they are */
    int64_t freeze_steps;   /* 0: frozen for the whole run; N > 0: frozen while the optimizer step is below
                               N (counted from the start of training, so a resumed run agrees) */
    vlm_adamw_params adamw;
    /* one line of progress; may be NULL */
    void (*progress)(const char *line, void *user_data);
    void *user_data;
} vlm_train_run_params;

vlm_train_run_params vlm_train_run_default_params(void);
vlm_status vlm_train_run(const vlm_train_run_params *p, char *err, size_t err_size);

/* ------------------------------------------------------------------------- */
/* Evaluation: the streaming metrics of VideoLLM-online (docs/evaluation.md).  */
/* ------------------------------------------------------------------------- */
/* One full forward over a sample (system, streams, replies) gives, at every
 * labelled position, the argmax, the cross entropy of the label and the
 * probability of the interval token; the metrics follow the original's
 * stream_evaluate: per turn (a segment ending at an eos token) LM-PPL,
 * LM-Correctness, the frame difference of the first predicted reply (with a
 * look-ahead of future frames when the turn never fires) and Fluency. */

/* What one logits row contributes (double precision). */
typedef struct {
    int32_t argmax;    /* first index of the largest logit                      */
    double ce;         /* -log softmax(logits)[label]; 0 without a label         */
    double p_interval; /* softmax(logits)[interval id]; 0 when the id is < 0    */
} vlm_eval_pos;

/* Summarise one logits row [n_vocab]. label < 0 (or >= n_vocab) gives ce 0. */
void vlm_eval_summarize(const float *logits, int32_t n_vocab, int32_t label, int32_t interval_id, vlm_eval_pos *out);

typedef struct {
    int32_t v_id;             /* <v>                                                  */
    int32_t interval_id;      /* the "stay silent" token: ',' (live1+), eos (live1)    */
    int32_t eos_id;           /* turns end at each eos in input_ids                   */
    bool use_interval;        /* look-ahead frames start with interval_id (live1+)    */
    int32_t frame_num_tokens; /* <v> per frame (10 live1+, 1 live1)                   */
    float threshold;          /* > 0: rows with P(interval) < threshold respond        */
} vlm_eval_config;

/* The look-ahead of a turn that never fired: keep the first n_keep positions
 * of the sample's cache, feed n_frames frames of the sample starting at frame
 * first_frame, each as [interval] + <v> x frame_num_tokens, and write the
 * summary at each frame's last token into out[n_frames] (label unused). */
typedef vlm_status (*vlm_eval_lookahead_fn)(void *user_data, int64_t n_keep, int64_t first_frame, int64_t n_frames,
                                            vlm_eval_pos *out);

typedef struct {
    int64_t start, stop;     /* positions [start, stop); stop - 1 is the eos        */
    int64_t n_frames;        /* <v> in the turn / frame_num_tokens                   */
    int64_t n_stream, n_lm;  /* labelled <v> positions / other labelled positions    */
    bool has_lm;             /* n_lm > 0: ppl and correctness are defined            */
    double ppl;              /* exp(mean CE over the lm positions)                   */
    int64_t n_correct;       /* lm positions before the first wrong argmax          */
    double correctness;      /* n_correct / n_lm                                     */
    bool has_diff;           /* n_stream > 0                                         */
    int64_t diff;            /* signed frame difference (> 0 early, < 0 late)        */
    int64_t lookahead;       /* frames fed by the look-ahead (k), 0 if none          */
    bool has_fluency;        /* has_lm && has_diff                                   */
    double fluency;
} vlm_eval_turn;

typedef struct {
    double lm_ppl;         /* mean over turns with lm positions (1 if none)           */
    double lm_correctness; /* likewise (1 if none)                                    */
    double frame_diff;     /* mean |diff| over turns with stream positions (0 if none) */
    double fluency;        /* mean over turns with both (1 if none)                    */
    vlm_eval_turn *turns;  /* every turn with at least one label, in order (malloc'd) */
    size_t n_turns;
} vlm_eval_result;

/* The metrics of one sample. input_ids/labels [n] (labels pre-shifted, -100
 * ignored); pos [n] the summaries of the full forward (only labelled positions
 * are read); lookahead may be NULL only if no turn needs it (else
 * VLM_ERR_INVALID_ARG). *out is zeroed first; free with vlm_eval_result_free. */
vlm_status vlm_eval_metrics(const int32_t *input_ids, const int32_t *labels, const vlm_eval_pos *pos, size_t n,
                            const vlm_eval_config *cfg, vlm_eval_lookahead_fn lookahead, void *user_data,
                            vlm_eval_result *out, char *err, size_t err_size);
void vlm_eval_result_free(vlm_eval_result *r);

/* ---- evaluating a model on a data file ----------------------------------- */
/* Data: JSON lines {"conversation": [...], "features": "f.safetensors",
 * "frames": [start, end]} with features [T][frame_num_tokens][v_n_embd]
 * (vision tokens before the connector; a relative path is relative to the
 * data file's folder) and frames the half-open range of rows used by the
 * conversation's streams (default: all T). See docs/evaluation.md. */
typedef struct {
    float threshold;   /* default 0.0 (the original's evaluation default)      */
    int32_t n_threads; /* default 2                                           */
    int32_t n_batch;   /* positions per forward chunk (default 64)            */
} vlm_eval_params;

vlm_eval_params vlm_eval_default_params(void);

/* Everything known about one evaluated sample; valid during the callback. */
typedef struct {
    size_t line;                   /* 1-based line of the data file                   */
    size_t index;                  /* 0-based sample number (non-blank lines)         */
    int64_t frame_start, n_frames; /* rows [frame_start, frame_start + n_frames)      */
    size_t n_tokens;
    const vlm_eval_result *metrics;
    const double *p_interval;      /* [n_frames]: P(interval) at each frame's last <v> */
    const int64_t *reply_frames;   /* frames (0-based in the sample) that an assistant */
    size_t n_reply_frames;         /* message follows: the ground-truth reply times    */
} vlm_eval_sample;

typedef void (*vlm_eval_sample_fn)(void *user_data, const vlm_eval_sample *s);

typedef struct {
    size_t n_samples;
    double lm_ppl, lm_correctness, frame_diff, fluency; /* means over samples */
} vlm_eval_summary;

/* Evaluate every non-blank line of a data file in order. The model needs its
 * vision file (for the connector) and tokenizer. Errors name the line (bad
 * JSON, missing or misshapen features, frame ranges past the end, frame
 * counts that do not match the conversation, learn ranges off token starts). */
vlm_status vlm_eval_file(const vlm_model *m, const char *data_path, const vlm_eval_params *p,
                         vlm_eval_sample_fn on_sample, void *user_data, vlm_eval_summary *out, char *err,
                         size_t err_size);

/* Hidden states, for looking inside a model: every sample of a data file (the
 * vlm_eval_file format) is run once, teacher-forced, through the LM, and fn gets
 * the input embeddings and every layer's output at every position. */
typedef struct {
    size_t line, index;     /* 1-based line of the data file; 0-based sample        */
    size_t n_tokens;
    const int32_t *ids;     /* [n_tokens] input ids (<v> at frame positions)        */
    const int32_t *argmax;  /* [n_tokens] the model's most likely next token        */
    int32_t n_states;       /* n_layer + 1: the input embeddings, then each layer   */
    int32_t n_embd;
    const float *hidden;    /* [n_states][n_tokens][n_embd]                         */
} vlm_hidden_sample;

/* A non-zero status stops the run and is returned. */
typedef vlm_status (*vlm_hidden_fn)(void *user_data, const vlm_hidden_sample *s);

/* The first max_samples samples (0: all) of data_path; errors as vlm_eval_file. */
vlm_status vlm_eval_hidden_file(const vlm_model *m, const char *data_path, size_t max_samples, int32_t n_threads,
                                vlm_hidden_fn fn, void *user_data, char *err, size_t err_size);

/* The synthetic world: procedural scenes, their videos and narration data. */
#include "videollm_synth.h"

/* ------------------------------------------------------------------------- */
/* Baselines for the streaming metrics, and the narration score               */
/* (docs/evaluation.md, "Baselines" and "Narration score").                   */
/* ------------------------------------------------------------------------- */
/* ---- baselines: fixed decisions instead of a model ----------------------- */
/* A baseline replaces the model's per-frame decision: SILENT never speaks
 * (P(interval) = 1 at every frame), EVERY speaks after every `every`-th frame
 * of the video (absolute frame r with (r + 1) % every == 0, so every:2 speaks
 * after frames 1, 3, 5, ...; P(interval) = 0 there and 1 elsewhere). The
 * metrics are vlm_eval_metrics itself; a baseline says no words, so at lm
 * positions its argmax is -1 (never a label): n_correct = 0, and LM-PPL and
 * LM-Correctness are not applicable (NAN in the results). */
typedef enum { VLM_BASELINE_SILENT = 1, VLM_BASELINE_EVERY = 2 } vlm_eval_baseline_kind;

typedef struct {
    vlm_eval_baseline_kind kind;
    int64_t every; /* EVERY: K >= 1 */
} vlm_eval_baseline;

/* "silent" or "every:K" (1 <= K <= 1e9). VLM_ERR_INVALID_ARG otherwise. */
vlm_status vlm_eval_baseline_parse(const char *spec, vlm_eval_baseline *out, char *err, size_t err_size);

/* Whether the baseline speaks after absolute frame r. */
bool vlm_eval_baseline_speaks(const vlm_eval_baseline *b, int64_t frame);

/* The metrics of a baseline on one sample: input_ids/labels [n] as for
 * vlm_eval_metrics; frame_start is the absolute index of the sample's first
 * frame. The summaries the baseline gives at every labelled position (and at
 * look-ahead frames) go through vlm_eval_metrics unchanged. p_frame (NULL or
 * [frames of the sample]) gets P(interval) per frame (0 or 1). In *out,
 * lm_ppl, lm_correctness and each turn's ppl and correctness are NAN. */
vlm_status vlm_eval_baseline_metrics(const int32_t *input_ids, const int32_t *labels, size_t n,
                                     const vlm_eval_config *cfg, const vlm_eval_baseline *b, int64_t frame_start,
                                     double *p_frame, vlm_eval_result *out, char *err, size_t err_size);

typedef struct {
    vlm_eval_baseline baseline;
    float threshold;               /* as vlm_eval_params (default 0)                   */
    vlm_live_version live_version; /* live1+: 10 <v> per frame, ',' decides; live1: 1, eos */
    const char *bos_token;         /* NULL: "<|begin_of_text|>"                         */
    const char *eos_token;         /* NULL: "<|eot_id|>"; must be in the vocabulary      */
} vlm_eval_baseline_params;

vlm_eval_baseline_params vlm_eval_baseline_default_params(void);

/* A baseline on every non-blank line of a data file (the format of
 * vlm_eval_file): each conversation is rendered, labelled and tokenized with
 * tok (which must know "<v>", e.g. vlm_model_tokenizer or a tokenizer with
 * vlm_tokenizer_add_special(tok, "<v>")) exactly as for a model; the features
 * files are neither required nor opened ("frames", when given, must still
 * match the conversation's frame count). The summary's lm_ppl and
 * lm_correctness are NAN. */
vlm_status vlm_eval_baseline_file(const vlm_tokenizer *tok, const char *data_path, const vlm_eval_baseline_params *p,
                                  vlm_eval_sample_fn on_sample, void *user_data, vlm_eval_summary *out, char *err,
                                  size_t err_size);

/* ---- Narration score ------------------------------------------------------ */
/* Model replies (times + text) against the events of a synthetic clip: an
 * event counts as narrated when a sentence of a reply at time t, with
 * event_time <= t <= event_time + window, states the same fact (action,
 * subject colour and shape, and the detail: size for appears, direction for
 * moves, new colour for turns, the other object for collides). */
typedef struct {
    vlm_synth_action action;
    int32_t colour, shape; /* the subject as named (its colour before the event)       */
    int32_t size;          /* APPEARS: 0 small, 1 large; else -1                        */
    int32_t detail;        /* MOVES: vlm_synth_dir; TURNS: the new colour; else -1       */
    int32_t other_colour, other_shape; /* COLLIDES: the object touched; else -1       */
} vlm_narr_fact;

/* Parse one sentence of the event grammar (docs/synth.md): ASCII case and
 * runs of whitespace are free, the final '.' is optional, the words are
 * otherwise exactly the grammar's. VLM_OK, or VLM_ERR_FORMAT when it is not
 * such a sentence. */
vlm_status vlm_narr_parse(const char *text, size_t len, vlm_narr_fact *out);
/* The grammar's sentence for a fact ("The red square moves left."). */
vlm_status vlm_narr_format(const vlm_narr_fact *f, char *buf, size_t buf_size);

typedef struct {
    double time; /* seconds: tick / tick_hz */
    vlm_narr_fact fact;
} vlm_narr_event;

typedef struct {
    double time; /* seconds (the stream's response time) */
    char *text;  /* malloc'd, NUL-terminated; may hold several sentences */
    size_t len;
} vlm_narr_reply;

/* Read scene_XXXX.events.json (vlm_synth_events_json): each event's text is
 * parsed and must agree with its structured fields (action, colour, the
 * object's shape and size, direction, new colour, the other object's shape).
 * *events malloc'd [*n] in file order; *seconds (may be NULL) the clip length
 * (-1 when absent). */
vlm_status vlm_narr_load_events(const char *path, vlm_narr_event **events, size_t *n, double *seconds, char *err,
                                size_t err_size);
/* Read replies: `videollm stream --json` output (JSON lines; those with
 * "event": "response" give time and text, other lines are skipped), or the
 * `--save` history file (assistant entries; the "(Video Time = ...s)
 * Assistant:" prefix is removed). *replies malloc'd [*n] in file order. */
vlm_status vlm_narr_load_replies(const char *path, vlm_narr_reply **replies, size_t *n, char *err, size_t err_size);
void vlm_narr_replies_free(vlm_narr_reply *r, size_t n);

/* Replies of the every-K narration baseline: the same text after every
 * frame r (time r / fps) with (r + 1) % every == 0, r < floor(seconds * fps). */
vlm_status vlm_narr_baseline_replies(double seconds, double fps, int64_t every, const char *text,
                                     vlm_narr_reply **replies, size_t *n, char *err, size_t err_size);
/* The most frequent assistant text of a training file (JSON lines with a
 * "conversation") among those whose every sentence parses; ties go to the
 * first seen. *text malloc'd. VLM_ERR_FORMAT when there is none. */
vlm_status vlm_narr_most_frequent_reply(const char *train_path, char **text, size_t *count, char *err,
                                        size_t err_size);

#define VLM_NARR_N_ACTIONS 5
typedef struct {
    size_t events, narrated, wrong_detail; /* by the event's action              */
    size_t sentences, false_sentences;     /* parsed sentences by their action   */
} vlm_narr_action_counts;

/* What a reply gets right about an event when it names the event's action at
 * the right time: for every event, the earliest parsed sentence in its window
 * with the event's action (matched to another event or not) is compared field
 * by field with the event. A diagnostic beside the matching: it shows which
 * part of a fact (the subject's colour or shape, the size, the detail) a
 * model misses. */
typedef struct {
    size_t events;               /* events with such a sentence                       */
    size_t colour, shape;        /* ... whose sentence names the subject's colour / shape */
    size_t size_events, size;    /* appears: events with such a sentence, right sizes  */
    size_t detail_events, detail; /* moves / turns: direction / new colour right       */
    size_t other_events, other;  /* collides: the other object (colour and shape) right */
} vlm_narr_field_counts;

typedef struct {
    size_t n_events;       /* ground-truth events                                    */
    size_t n_narrated;     /* matched by a sentence within the window               */
    size_t n_wrong_detail; /* not narrated, but a sentence in the window names its
                              action and subject with another detail               */
    size_t n_replies, n_sentences;
    size_t n_unparsable;   /* sentences outside the grammar                          */
    size_t n_false;        /* parsed sentences matched to no event                   */
    double latency_sum;    /* sum of (reply time - event time) over narrated events  */
    vlm_narr_action_counts by_action[VLM_NARR_N_ACTIONS];
    vlm_narr_field_counts fields;
} vlm_narr_counts;

typedef enum { VLM_NARR_MISSED = 0, VLM_NARR_NARRATED = 1, VLM_NARR_WRONG_DETAIL = 2 } vlm_narr_outcome;

/* Score one scene. Replies are split into sentences at '.', '!', '?' and
 * line breaks; blank pieces are dropped. Events are taken in time order (file
 * order on ties) and each takes the earliest unused matching sentence in its
 * window (maximal for windows of one length); a sentence matches at most one
 * event. Then each event left takes, the same way, an unused sentence in its
 * window with its action and subject: wrong detail. out->fields compares each
 * event with the earliest sentence of its action in its window. outcome (NULL or
 * [n_events]) gets each event's outcome. window >= 0 (seconds); times must be
 * finite. Counts are added to nothing: *out is overwritten. */
vlm_status vlm_narr_score(const vlm_narr_event *events, size_t n_events, const vlm_narr_reply *replies,
                          size_t n_replies, double window, vlm_narr_counts *out, vlm_narr_outcome *outcome,
                          char *err, size_t err_size);
/* sum += c, field by field. */
void vlm_narr_counts_add(vlm_narr_counts *sum, const vlm_narr_counts *c);

#ifdef __cplusplus
}
#endif
#endif /* VIDEOLLM_H */
