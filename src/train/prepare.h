/* prepare.h - training data preparation (internal API): the original's Ego4D
 * narration-stream and GoalStep streaming-dialogue conversions, its training-
 * time augmentation and its robustness samples, producing the JSONL lines of
 * docs/training.md. See docs/prepare.md for the rules and their sources. */
#ifndef VLM_TRAIN_PREPARE_H
#define VLM_TRAIN_PREPARE_H
#include <stdbool.h>
#include <stdint.h>

#include "videollm.h"

/* How a message's "learn" is written: absent, a JSON bool or a JSON int. */
typedef enum { VLM_PREP_LEARN_NONE = 0, VLM_PREP_LEARN_BOOL, VLM_PREP_LEARN_INT } vlm_prep_learn_kind;

typedef struct {
    vlm_role role;           /* system, user, assistant or stream */
    char *content;           /* malloc'd UTF-8 (not for streams) */
    int64_t num_frames;      /* streams only */
    vlm_prep_learn_kind learn_kind;
    int64_t learn;           /* 0/1 for BOOL, the count for INT */
    /* the GoalStep builder's bookkeeping (not written out) */
    double time, fps_time;
} vlm_prep_msg;

/* One sample: its messages and the frames [frame_start, frame_end) of the
 * video's feature file. */
typedef struct {
    vlm_prep_msg *msgs;
    size_t n, cap;
    char *video_uid; /* malloc'd; NULL for robustness samples */
    char *features;  /* malloc'd path written into the JSONL line */
    int64_t frame_start, frame_end;
} vlm_prep_sample;

typedef struct {
    vlm_prep_sample *v;
    size_t n, cap;
    size_t skipped_videos;  /* annotated videos absent from the durations map */
    size_t dropped_samples; /* annotations the rules dropped (first-message rule, empty) */
} vlm_prep_set;

void vlm_prep_sample_free(vlm_prep_sample *s);
void vlm_prep_set_free(vlm_prep_set *s);
/* Append a message (content copied, may be NULL for streams). */
vlm_status vlm_prep_push(vlm_prep_sample *s, vlm_role role, const char *content, int64_t num_frames,
                         vlm_prep_learn_kind lk, int64_t learn);

/* splitmix64: the seeded generator of every random choice here (ours, not
 * Python's Mersenne Twister: a run is reproducible with itself only). */
typedef struct {
    uint64_t s;
} vlm_prep_rng;
vlm_prep_rng vlm_prep_rng_seed(uint64_t seed, uint64_t stream);
uint64_t vlm_prep_rng_next(vlm_prep_rng *r);
/* Uniform integer in [lo, hi] (lo <= hi), unbiased. */
int64_t vlm_prep_randint(vlm_prep_rng *r, int64_t lo, int64_t hi);

/* The original's time helpers: min(max(ceil(t*fps)/fps, lo), hi) etc. */
double vlm_prep_ceil_time(double t, double fps, double lo, double hi);
double vlm_prep_floor_time(double t, double fps, double lo, double hi);

/* The original's _clean_text (narration text). Returns malloc'd text or NULL
 * (out of memory). src must be valid UTF-8 without NUL bytes. */
char *vlm_prep_clean_text(const char *src, size_t len);
/* Number of words as Python's len(text.split(' ')). */
size_t vlm_prep_count_words(const char *text);

/* uid -> number of encoded frames T (duration = (T - 1) / fps). */
typedef struct vlm_prep_durations vlm_prep_durations;
vlm_status vlm_prep_durations_parse(const char *json, size_t len, const char *name, vlm_prep_durations **out,
                                    char *err, size_t err_size);
void vlm_prep_durations_free(vlm_prep_durations *d);
/* Number of frames of uid, or -1 when absent. */
int64_t vlm_prep_durations_get(const vlm_prep_durations *d, const char *uid);

typedef struct {
    double fps;               /* 2 */
    int64_t max_frames;       /* 1200 (max_num_frames of live1+) */
    bool refined;             /* narration: refined annotation shape + the 10 instructions */
    uint64_t seed;            /* 42 */
    const char *features_dir; /* "DIR" -> "DIR/<uid>.safetensors" */
    const char *system_prompt;
} vlm_prep_params;
vlm_prep_params vlm_prep_default_params(void);

/* The original's default system prompt (LiveTrainingArguments). */
/* The original's prompt strings live in text/live_prompts.h. */
#include "text/live_prompts.h"

/* Build the dataset's stored samples (the original's self.annos, before
 * __getitem__). name (the file name) prefixes every error with the JSON path
 * at fault. Ego4D: the videos of the file in file order, one sample per
 * _annotation_uid group. GoalStep: one sample per annotation (the waiting
 * frames drawn from rng stream 1 of p->seed). */
vlm_status vlm_prep_ego4d_narration(const char *json, size_t len, const char *name, const vlm_prep_durations *d,
                                    const vlm_prep_params *p, vlm_prep_set *out, char *err, size_t err_size);
vlm_status vlm_prep_goalstep_livechat(const char *json, size_t len, const char *name, const vlm_prep_durations *d,
                                      const vlm_prep_params *p, vlm_prep_set *out, char *err, size_t err_size);
/* The 5 robustness samples; features point at noise_path (10 frames) and
 * zero_path (1 frame); the three text-only samples have frames [0, 0). */
vlm_status vlm_prep_robustness(const char *noise_path, const char *zero_path, vlm_prep_set *out, char *err,
                               size_t err_size);
/* Write the two robustness feature files (F32 safetensors, tensor
 * "features"): noise [10, tpf, hidden], every row the same U[0,1) vector
 * drawn from seed (the original broadcasts one connector output to every
 * <v>); zero [1, tpf, hidden]. */
vlm_status vlm_prep_write_robustness_features(const char *noise_path, const char *zero_path, uint64_t seed,
                                              int64_t tpf, int64_t hidden, char *err, size_t err_size);

/* Narration __getitem__ step 1: the first stream (1 frame) becomes
 * learn=false and the instruction (raw, or one of the 10 refined ones drawn
 * from rng) is inserted after it. */
vlm_status vlm_prep_insert_instruction(vlm_prep_sample *s, bool refined, vlm_prep_rng *rng, char *err,
                                       size_t err_size);
/* max_frames_clip: at the first stream that would push the frame total past
 * max_frames, drop it and everything after; frame_end = start + frames kept. */
void vlm_prep_max_frames_clip(vlm_prep_sample *s, int64_t max_frames);
/* The original's augment() (StreamMixIn): see augment.c. No-op with fewer
 * than 2 learned assistant turns. */
vlm_status vlm_prep_augment(vlm_prep_sample *s, vlm_prep_rng *rng, char *err, size_t err_size);
/* The original draws the augmentation afresh every time __getitem__ runs,
 * i.e. every epoch. The generator of sample `index` (0-based, in data file
 * order) in epoch `epoch` (0-based) of a run seeded with `seed`:
 * vlm_prep_rng_seed(mix(mix(mix(seed) + epoch) + index), 4), where mix(x) is
 * splitmix64's first output from state x (vlm_prep_rng_next of {x}); sums
 * wrap modulo 2^64. It depends on nothing else (batching, threads, resume). */
vlm_prep_rng vlm_prep_rng_epoch(uint64_t seed, uint64_t epoch, uint64_t index);
/* *out = a copy of src's messages (and frame range; not video_uid/features)
 * through vlm_prep_augment with vlm_prep_rng_epoch(seed, epoch, index). On
 * failure *out is freed and zeroed. */
vlm_status vlm_prep_augment_epoch(const vlm_prep_sample *src, uint64_t seed, uint64_t epoch, uint64_t index,
                                  vlm_prep_sample *out, char *err, size_t err_size);
/* Prepend the system message. */
vlm_status vlm_prep_add_system(vlm_prep_sample *s, const char *system_prompt);
/* Number of frames the sample's streams render. */
int64_t vlm_prep_stream_frames(const vlm_prep_sample *s);

typedef enum { VLM_PREP_NARRATION = 0, VLM_PREP_LIVECHAT, VLM_PREP_ROBUSTNESS } vlm_prep_dataset;
/* The original's __getitem__ on every sample of set, in order: (narration)
 * the instruction, max_frames_clip (not robustness), augment when
 * augmentation (rng stream 3 of p->seed), the system prompt; then
 * vlm_prep_check. Samples left without frames by the clip are removed and
 * counted in dropped_samples (the trainer needs frames). */
vlm_status vlm_prep_finish(vlm_prep_set *set, vlm_prep_dataset kind, const vlm_prep_params *p, bool augmentation,
                           vlm_live_version v, char *err, size_t err_size);

/* The conversation as a JSON array / the whole JSONL line (malloc'd). */
char *vlm_prep_conversation_json(const vlm_prep_sample *s);
char *vlm_prep_sample_line(const vlm_prep_sample *s);
/* Check a finished sample: it parses, renders and yields learn ranges in
 * strict mode, and its frame range matches its streams. */
vlm_status vlm_prep_check(const vlm_prep_sample *s, vlm_live_version v, char *err, size_t err_size);
#endif
