/* videollm_design.h - weights written by construction for a flat-colour world:
 * the designed vision tower and the designed heads of a fresh LM
 * (docs/model-format.md, "The designed tower" and the sections after it),
 * which the default model's recipe uses (docs/demo-model.md). Included by
 * videollm.h at this point of its declarations (inside its extern "C" block);
 * include videollm.h, not this file. Kept apart so that each public header
 * stays a readable size. */
#ifndef VIDEOLLM_DESIGN_H
#define VIDEOLLM_DESIGN_H
#ifndef VIDEOLLM_H
#error "include videollm.h, not videollm_design.h"
#endif

/* ---- a designed tower for a flat-colour world ---------------------------- */
/* What the tower is built to see: flat objects of a few known colours on a
 * plain background, with a few known areas (docs/model-format.md, "The
 * designed tower"). */
#define VLM_DESIGN_MAX_COLOURS 8
#define VLM_DESIGN_MAX_AREAS 8
typedef struct {
    uint8_t background[3];
    int32_t n_colours;                           /* 1..VLM_DESIGN_MAX_COLOURS */
    uint8_t colours[VLM_DESIGN_MAX_COLOURS][3];
    int32_t n_areas;                             /* 1..VLM_DESIGN_MAX_AREAS, distinct, in pixels */
    double areas[VLM_DESIGN_MAX_AREAS];
    int32_t n_groups;                            /* 0, or the groups the areas fall in (e.g. shapes) */
    int32_t area_group[VLM_DESIGN_MAX_AREAS];    /* 0..n_groups-1 for each area */
    double head_moment_gain;                     /* the head token's moments have this std over the
                                                    frames (0 or 1: standardised like the rest; a
                                                    larger gain makes a move a larger change) */
    double moment_wave;                          /* 0: none; else every token also carries, per colour,
                                                    its area times the sine and cosine of 2 pi column /
                                                    moment_wave and of 2 pi row / moment_wave (patches,
                                                    2..64): a step of a fraction of that period turns
                                                    them by as much, whatever the object's place */
    bool head_moments;                           /* the head token also carries its column and row
                                                    moments in 2 n_colours dimensions of its own, 0 in
                                                    every grid token (a frame-wide quantity) */
    bool area_sums;                              /* the bins also read a sum of two areas of distinct
                                                    groups (two objects of one colour): both fire */
} vlm_tower_design_params;

typedef struct {
    size_t n_frames;
    int32_t n_live;        /* grid-token dimensions that vary over the frames */
    int32_t dims_used;     /* residual dimensions the construction uses */
    double area_err_max;   /* largest |area the tower measures - pixels counted| of one colour
                              in one frame, in pixels (a check of the construction) */
    double area_margin;    /* a quarter of the smallest gap between two known areas (or their
                              sums, or no object and the smallest area), pixels:
                              the head's area bins are right while area_err_max stays below */
    /* where the features are (first dimension; colour k at +k): grid and head tokens carry
     * the area of each colour and its column / row moments, standardised; the head token
     * also the bins, colour k's bin for the b-th smallest area at dim_bins + k * n_areas + b,
     * and the groups */
    int32_t dim_area, dim_moment_x, dim_moment_y, dim_bins;
    int32_t dim_mass;      /* the 12 per-quadrant colour masses; the 4 x colours rejection terms
                              are the dimensions just before dim_area */
    int32_t dim_groups;    /* head token: group g (the sum of its areas' bins over the colours) */
    int32_t dim_waves;     /* with moment_wave: colour k's sine and cosine of the column at
                              dim_waves + k and + n_colours + k, of the row at + 2 n_colours + k
                              and + 3 n_colours + k; -1 without */
    int32_t dim_head_moments; /* with head_moments: the head token's copy of colour k's column
                              moment at + k, of its row moment at + n_colours + k; -1 without */
    int32_t bin_group[VLM_DESIGN_MAX_AREAS]; /* head token: a colour's bin b reads the b-th smallest
                              area (dim_bins + colour * n_areas + b); its group (0 without groups) */
} vlm_tower_design_report;

/* Write every weight of a live1+ tower (>= 2 layers, even patch size, f32)
 * by construction: per patch the area of each palette colour and its
 * column / row moments, standardised on n_frames sample frames; the head
 * token adds, per colour, which of the known areas that colour covers.
 * Writes out_path and its vision file, LM tensors copied; m is not
 * modified. VLM_ERR_UNSUPPORTED when the tower is too narrow for the
 * construction (the message says how wide it must be). report may be NULL. */
vlm_status vlm_vision_design(const vlm_model *m, const vlm_tower_design_params *p, vlm_calibrate_frame_fn frame,
                             void *user_data, size_t n_frames, int32_t n_threads, const char *out_path,
                             vlm_tower_design_report *report, char *err, size_t err_size);

/* ---- designed frame-difference heads ------------------------------------- */
typedef struct {
    double beta;              /* the connector's constant output along LM dimension 0 */
    double xe_median, xe_min; /* that dimension after layer 0's RMSNorm, over the sample tokens */
    int32_t n_heads;          /* heads designed: 4 */
    int32_t offsets[4];       /* positions back each head attends to */
    double margin;            /* position score: (target - next best) / target, over 1,536 positions */
    size_t n_tokens;
    /* with reply_head: */
    int32_t reply_offset;     /* positions back head 0 of layer 1 attends to (0: not designed) */
    double reply_margin;      /* its position score margin, as above                          */
    double gamma;             /* the text tokens' constant along hidden dimension 1            */
    /* with word tokens: */
    int32_t word_offset;      /* positions back head 1 of layer 1 attends to (0: not designed) */
    double word_margin;       /* its position score margin                                      */
    /* with prev_change_head: */
    int32_t prev_offset;      /* positions back head 2 of layer 1 attends to (0: not designed)  */
    int32_t prev_rank;        /* dimensions of the subspace it writes                            */
    /* with the move readout: */
    int32_t readout_dims[4];  /* LM dimensions of the column and row moment sums (X, Y) and of
                                 their changes (dX, dY); all 0: not designed                      */
    double readout_scale;     /* s: the connector writes s X and s Y (std of a typical dimension) */
    double readout_move;      /* median |G s (dX, dY)| over consecutive sample frames whose moments
                                 changed, in the connector's units                                 */
    double readout_change;    /* median norm of the rest of a frame's change in the pooled-difference
                                 subspace, over consecutive sample frames that changed              */
    /* with readout_colour_gain: */
    int32_t colour_dims[2];   /* LM dimension of colour 0's Z (column plus row moment) and of its
                                 change (colour k at + k); 0: not designed                        */
    double colour_scale;      /* s_Z: the connector writes s_Z Z_k                                 */
    int32_t subject_dim;      /* with subject tokens: the LM dimension of their constant (0: none) */
} vlm_diff_heads_report;

typedef struct {
    uint64_t seed;      /* projections and pair-weight draws (default 1)                   */
    int32_t n_threads;  /* default 2                                                       */
    bool reply_head;    /* also route each frame's change to the first reply token (below) */
    /* with reply_head: also route it to these tokens when they stand word_pos tokens into a
     * reply (head 1 of layer 1; below). NULL / 0: not designed. */
    const int32_t *word_tokens;
    size_t n_word_tokens;
    int32_t word_pos;   /* default 2: the reply's third token */
    bool prev_change_head; /* with reply_head: head 2 of layer 1 hands each frame's last token the
                            * previous frame's change (below) */
    /* with reply_head: the move readout (below). readout_n_colours 0: not designed. */
    int32_t readout_n_colours;              /* colours whose moments the vision tokens carry       */
    int32_t readout_dim_x, readout_dim_y;   /* vision dimension of colour 0's column / row moment
                                               (colour k at + k), as vlm_tower_design_report says */
    double readout_gain;                    /* G > 0: the pooled difference reads the moment sums
                                               G times as loud as the rest of the token            */
    bool readout_word_only;                 /* with the readout and word tokens: the reply head does
                                               not copy the readout's change, and the word head
                                               copies only it (below)                              */
    double readout_reply;                   /* with readout_word_only: the reply head copies the
                                               change after all, times this (default 0; at most 1) */
    double readout_colour_gain;             /* G_Z > 0, with the readout: also each colour's own
                                               moment sum Z_k and its change, read G_Z times, which
                                               the reply head copies in full (below); 0: not
                                               designed                                            */
    double readout_colour_reply;            /* with G_Z: the reply head copies that change times
                                               this (default 1; in (0, 100]): loud at the reply,
                                               quiet in the frame token                            */
    /* with readout_colour_gain: head 3 of layer 1 copies the colours' change alone, times
     * subject_colour, to these tokens where a reply's first token stands (below). NULL / 0: not
     * designed. */
    const int32_t *subject_tokens;
    size_t n_subject_tokens;
    double subject_colour;                  /* default 1; in (0, 100]                              */
    int32_t readout_colour_dim_x, readout_colour_dim_y; /* vision dimension of colour 0's column /
                                               row moment for Z_k (colour k at + k); -1 (the
                                               default): readout_dim_x and readout_dim_y. A tower
                                               with head_moments has a copy that grid tokens lack */
} vlm_diff_heads_params;

vlm_diff_heads_params vlm_diff_heads_default_params(void);

/* Give an untrained LM the comparison of each frame with the one before
 * (docs/demo-model-experiments.md, "Seeing change"; every construction below is spelled
 * out in docs/model-format.md, "Calibrating a frozen tower"). `tokens` are
 * n_tokens vision tokens [n][v_n_embd] before the connector, in frame order
 * (frame_num_tokens per frame, the pooled token first, consecutive frames of
 * a few scenes). The connector's last layer gets a constant output along
 * hidden dimension 0, and heads 0-3 of layer 0 attend by position alone to
 * fixed offsets back, copying the normalised token through seeded random
 * orthonormal projections with a sign: a frame's last token gains the
 * difference of its pooled token and the previous frame's, every frame token
 * its difference from the same token one frame earlier. Needs f32 weights,
 * n_head_kv == n_head >= 4 and 16 <= head_dim <= (n_embd - 1) / 2.
 * Options (each needs the one before it; VLM_ERR_UNSUPPORTED when the model
 * is too small for it, VLM_ERR_INVALID_ARG when a parameter is out of range
 * or an option lacks what it goes with):
 *  - reply_head: text tokens get a constant along dimension 1 and head 0 of
 *    layer 1 copies the frame's change to a reply's first token (needs the
 *    model's tokenizer, 2 layers, 3 head dims within n_embd - 2);
 *  - word_tokens: head 1 of layer 1 copies it to those words word_pos tokens
 *    into a reply (3 head dims within n_embd - 3);
 *  - prev_change_head: head 2 of layer 1 copies the previous frame's change
 *    to every frame token (head_dim / 2 dimensions left);
 *  - readout_n_colours (the move readout): the connector writes the sums X, Y
 *    of the colours' column and row moments along dimensions of their own and
 *    heads 0-1 write their change, read G times: a move's direction as a
 *    sign (moments within the vision width, f32 mm.0);
 *  - readout_word_only / readout_reply: that change reaches the word tokens
 *    alone, or the reply head a share of it;
 *  - readout_colour_gain: each colour's Z_k = X_k + Y_k and its change too,
 *    copied by the reply head (times readout_colour_reply): which colour moved;
 *  - subject_tokens: head 3 of layer 1 copies that change alone (times
 *    subject_colour) to those tokens where a reply's first token stands, keyed
 *    on a constant of their own after the readout's dimensions: the subject's
 *    colour where "The <colour> ..." names it, not at "A ..." (an appearance).
 * Writes out_path and its vision file with the replaced tensors; m is not
 * modified. Without an option the design is the same, bit for bit, as
 * without its code. rep may be NULL. */
/* The shape and type conditions alone (before the work that feeds the design). */
vlm_status vlm_design_diff_heads_check(const vlm_model *m, const vlm_diff_heads_params *p, char *err,
                                       size_t err_size);
vlm_status vlm_design_diff_heads(const vlm_model *m, const float *tokens, size_t n_tokens,
                                 const vlm_diff_heads_params *p, const char *out_path, vlm_diff_heads_report *rep,
                                 char *err, size_t err_size);

/* ---- the binding route ----------------------------------------------------- */
/* Where the designed tower and the diff heads put what the route reads, and the
 * words it binds (vlm_design_bind_route). */
typedef struct {
    int32_t first_dim;       /* the first LM dimension after the diff heads' reserved ones */
    int32_t conn_reserved;   /* connector units the diff heads hold (the last ones) */
    int32_t n_colours;       /* 6 */
    int32_t n_areas;         /* bins per colour, ascending areas */
    int32_t n_shapes;        /* 3 */
    int32_t area_shape[VLM_DESIGN_MAX_AREAS]; /* the shape of each bin's area */
    int32_t dim_bins;        /* vision dimension of colour 0's first bin (head token) */
    int32_t dim_indicator;   /* an unused vision dimension: the head token's indicator */
    const int32_t *colour_tokens; /* [n_colours] the colour words (with their leading space) */
    const int32_t *shape_tokens;  /* [n_shapes] the shape words */
} vlm_bind_route_params;

typedef struct {
    int32_t first_dim, n_dims;  /* the LM dimensions the route reserves */
    int32_t conn_unit;          /* its first connector unit */
    double absent_min, absent_max, present_min, present_max; /* the bins' levels over the sample frames */
} vlm_bind_route_report;

vlm_bind_route_params vlm_bind_route_default_params(void);

/* At a colour word, the shape of the object of that colour in the latest
 * frames (docs/model-format.md, "The binding route"; src/model/bindroute.c):
 * the connector writes each colour's shape (its bins summed per shape, on a
 * simplex) and a head-token indicator, layer 1 amplifies the indicator, two
 * heads of layer 2 copy the latest frames' shapes to text tokens, and units of
 * layer 2's MLP gate them by the colour word's own code, for the LM head rows
 * of the shape words. head_tokens are the head (pooled) vision tokens
 * [n_frames][v_n_embd] of sample frames, for the bins' levels. Needs a model
 * designed by vlm_design_diff_heads (subject head included) on a designed tower
 * with area groups, 3 layers, heads of 64, RoPE theta 500000. Writes out_path
 * and its vision file; m is not modified. rep may be NULL. */
vlm_status vlm_design_bind_route(const vlm_model *m, const float *head_tokens, size_t n_frames,
                                 const vlm_bind_route_params *p, const char *out_path, vlm_bind_route_report *rep,
                                 char *err, size_t err_size);
/* The LM dimensions vlm_design_diff_heads reserves with p (the route's first_dim). */
int32_t vlm_diff_heads_reserved_dims(const vlm_diff_heads_params *p);
/* The connector units it holds with p (the last ones; the route's conn_reserved). */
int32_t vlm_diff_heads_connector_units(const vlm_diff_heads_params *p);

#endif /* VIDEOLLM_DESIGN_H */
