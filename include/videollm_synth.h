/* videollm_synth.h - the synthetic world's part of the public API (docs/synth.md).
 * Included by videollm.h at this point of its declarations (inside its
 * extern "C" block); include videollm.h, not this file. Kept apart so that
 * each public header stays a readable size. */
#ifndef VIDEOLLM_SYNTH_H
#define VIDEOLLM_SYNTH_H
#ifndef VIDEOLLM_H
#error "include videollm.h, not videollm_synth.h"
#endif

/* ------------------------------------------------------------------------- */
/* Synthetic world: procedural scenes, their videos and narration data       */
/* (docs/synth.md).                                                           */
/* ------------------------------------------------------------------------- */
/* A seeded, reproducible world of flat shapes on a dark background. Time
 * advances in ticks of 1/VLM_SYNTH_TICK_HZ s; every state change happens on
 * a tick and is listed as an event. Same seed and params -> bit-identical
 * events and frames on every machine (integer geometry, our own PRNG). */
#define VLM_SYNTH_TICK_HZ 10
#define VLM_SYNTH_MAX_OBJECTS 64  /* objects created over one clip          */
#define VLM_SYNTH_MAX_SECONDS 600 /* longest clip                           */

typedef enum { VLM_SYNTH_SQUARE = 0, VLM_SYNTH_CIRCLE, VLM_SYNTH_TRIANGLE, VLM_SYNTH_N_SHAPES } vlm_synth_shape;
typedef enum {
    VLM_SYNTH_RED = 0, VLM_SYNTH_GREEN, VLM_SYNTH_BLUE, VLM_SYNTH_YELLOW, VLM_SYNTH_WHITE, VLM_SYNTH_PURPLE,
    VLM_SYNTH_N_COLOURS
} vlm_synth_colour;
typedef enum {
    VLM_SYNTH_APPEARS = 0, VLM_SYNTH_MOVES, VLM_SYNTH_TURNS, VLM_SYNTH_COLLIDES, VLM_SYNTH_DISAPPEARS
} vlm_synth_action;
typedef enum { VLM_SYNTH_LEFT = 0, VLM_SYNTH_RIGHT, VLM_SYNTH_UP, VLM_SYNTH_DOWN } vlm_synth_dir;

typedef struct {
    int64_t tick;            /* time = tick / VLM_SYNTH_TICK_HZ seconds             */
    int32_t object;          /* the subject (index of vlm_synth_object_info)        */
    vlm_synth_action action;
    int32_t dir;             /* MOVES: vlm_synth_dir; else -1                       */
    int32_t colour;          /* subject's colour before the event (TURNS: old one)  */
    int32_t new_colour;      /* TURNS: the new colour; else -1                      */
    int32_t other;           /* COLLIDES: the object touched; else -1               */
    int32_t other_colour;    /* COLLIDES: its colour; else -1                       */
} vlm_synth_event;

typedef struct {
    uint64_t seed;
    double seconds;      /* clip length (0 < seconds <= VLM_SYNTH_MAX_SECONDS); ticks = floor(seconds * 10) */
    int32_t size;        /* frame side in pixels (default 384, 128..1024) */
    int32_t max_present; /* objects on screen at once (default 4, 1..8) */
    int32_t event_offset; /* ticks after a whole half second at which spontaneous events fall
                           * (default 1, 0..4): with 1 the 2 fps frame a reply follows shows half
                           * a second of a move; 0 gives the first, 6 px step only */
} vlm_synth_params;

typedef struct vlm_synth_scene vlm_synth_scene;

/* What is fixed for an object, and where it is at one tick. */
typedef struct {
    vlm_synth_shape shape;
    bool large;
    int32_t radius; /* half extent in pixels (square half side, circle radius) */
} vlm_synth_object_info;

typedef struct {
    bool present, moving;
    int32_t colour;
    int32_t x, y; /* centre in pixels */
} vlm_synth_object_state;

vlm_synth_params vlm_synth_default_params(void);
/* Simulate a whole clip. VLM_ERR_INVALID_ARG for params out of range. */
vlm_status vlm_synth_generate(const vlm_synth_params *p, vlm_synth_scene **out, char *err, size_t err_size);
void vlm_synth_free(vlm_synth_scene *s);
int64_t vlm_synth_n_ticks(const vlm_synth_scene *s);
size_t vlm_synth_n_events(const vlm_synth_scene *s);
const vlm_synth_event *vlm_synth_events(const vlm_synth_scene *s); /* owned by s */
size_t vlm_synth_n_objects(const vlm_synth_scene *s);               /* created over the clip */
vlm_status vlm_synth_object_info_at(const vlm_synth_scene *s, size_t obj, vlm_synth_object_info *out);
/* State of object obj at tick (0 <= tick < n_ticks). */
vlm_status vlm_synth_object_at(const vlm_synth_scene *s, int64_t tick, size_t obj, vlm_synth_object_state *out);
/* Render tick as RGB24 [size][size][3] (no anti-aliasing: every pixel is the
 * background or exactly one palette colour). */
vlm_status vlm_synth_render(const vlm_synth_scene *s, int64_t tick, uint8_t *rgb);
const char *vlm_synth_colour_name(int32_t colour); /* "red", ...; "?" out of range */
const char *vlm_synth_shape_name(int32_t shape);   /* "square", ... */
void vlm_synth_colour_rgb(int32_t colour, uint8_t rgb[3]); /* the background for an unknown colour */
/* Pixels an object of this shape and size covers (away from the frame edge:
 * the same wherever its centre is); 0 for an unknown shape. */
int64_t vlm_synth_shape_area(int32_t shape, bool large);
/* The sentence of event i ("A small red square appears.", "The red square
 * moves left.", "The red square turns blue.", "The red square collides with
 * the blue circle.", "The red square disappears."). */
vlm_status vlm_synth_event_text(const vlm_synth_scene *s, size_t i, char *buf, size_t buf_size);
/* The events file: {"seed","seconds","size","tick_hz","objects":[...],
 * "events":[{"time","tick","object","action",...,"text"}]}. *out malloc'd. */
vlm_status vlm_synth_events_json(const vlm_synth_scene *s, char **out, size_t *out_len);

/* The original's ceil_time_by_fps: min(max(ceil(t*fps)/fps, lo), hi). */
double vlm_synth_ceil_time(double t, double fps, double lo, double hi);
/* Frame of the fps grid a tick is rounded up to: ceil(tick * fps / TICK_HZ)
 * in integers (fps a positive integer). */
int64_t vlm_synth_ceil_frame(int64_t tick, int32_t fps);

typedef enum { VLM_SYNTH_FFV1 = 0, VLM_SYNTH_X264 = 1 } vlm_synth_codec;
/* Encode the clip: frame i (time i/fps_video) shows tick floor(i*10/fps_video);
 * floor(seconds * fps_video) frames. FFV1 (bgr0, lossless) in Matroska, or
 * libx264 (yuv420p, crf 18) in MP4. Written to PATH.part, then renamed. */
vlm_status vlm_synth_write_video(const vlm_synth_scene *s, const char *path, int32_t fps_video,
                                 vlm_synth_codec codec, char *err, size_t err_size);

typedef struct {
    int32_t fps;               /* stream frame rate (2, the original's)                      */
    double question_every;     /* mean seconds between user questions (8; 0: none)           */
    uint64_t seed;             /* question times/kinds and instruction choice                */
    const char *system_prompt; /* NULL: the original's default                               */
    int recap;                 /* 1: end with user(VLM_SYNTH_RECAP_QUESTION) + assistant(every
                                * narration reply so far, in order, learned); training data only */
    int sort_joined;           /* 1: events of one tick that share a reply (the objects of tick 0,
                                * the collisions ending a move) are told in the order of their
                                * text; 0: in the order of the event list                    */
    /* Optional: the tick each sampled frame r of the clip's video shows
     * (vlm_synth_sample_ticks). NULL: the exact grid, tick r * TICK_HZ / fps. */
    const int64_t *frame_ticks;
    size_t n_frame_ticks;
} vlm_synth_dataset_params;

#define VLM_SYNTH_RECAP_QUESTION "What has happened so far?"
vlm_synth_dataset_params vlm_synth_dataset_default_params(void);
/* One training sample: the conversation (JSON array, malloc'd) and its frame
 * range [*frame_start, *frame_end) on the fps grid (frame r = time r/fps).
 * An event at tick k is answered right after the first frame r whose tick is
 * >= k: on the exact grid that is ceil(k * fps / TICK_HZ), the original's
 * ceil rule; with frame_ticks it is the first sampled frame that shows it. */
vlm_status vlm_synth_conversation(const vlm_synth_scene *s, const vlm_synth_dataset_params *p, char **json,
                                  size_t *json_len, int64_t *frame_start, int64_t *frame_end, char *err,
                                  size_t err_size);
/* Decode video_path as the stream does (vlm_video at fps, resolution = the
 * scene size) and find the tick each sampled frame shows: the exact render
 * match (lossless codecs), else the closest render (sum of absolute
 * differences), searched forward from the previous frame's tick.
 * *ticks is malloc'd [*n]. */
vlm_status vlm_synth_sample_ticks(const vlm_synth_scene *s, const char *video_path, int32_t fps, int64_t **ticks,
                                  size_t *n, char *err, size_t err_size);
/* Decode video_path as the stream does (vlm_video at fps, letterboxed to the
 * model's resolution), run the vision tower on every frame and write
 * out_path: one F32 tensor "features" [T, frame_num_tokens, v_n_embd].
 * *n_frames (may be NULL) gets T. */
vlm_status vlm_synth_write_features(const vlm_model *m, const char *video_path, double fps, int32_t n_threads,
                                    const char *out_path, int64_t *n_frames, char *err, size_t err_size);
/* The frames a 2 fps stream samples from a 2 fps lossless clip of s (see
 * docs/synth.md, "Video"): their number, floor(seconds * 2), and frame r,
 * the render of tick r * TICK_HZ / 2 (the last tick if past the end). */
int64_t vlm_synth_n_stream_frames(const vlm_synth_scene *s);
vlm_status vlm_synth_render_stream_frame(const vlm_synth_scene *s, int64_t r, uint8_t *rgb);
/* The same features without a video: the renders of the frames a 2 fps
 * stream samples from a 2 fps lossless clip (ticks 0, 5, 10, ...; the scene
 * size must equal the model's resolution). Bit-identical to
 * vlm_synth_write_features on that clip, and much faster. */
vlm_status vlm_synth_write_features_rendered(const vlm_model *m, const vlm_synth_scene *s, int32_t n_threads,
                                             const char *out_path, int64_t *n_frames, char *err, size_t err_size);

#endif /* VIDEOLLM_SYNTH_H */
