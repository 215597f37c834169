/* cmd_calibrate.c - `videollm calibrate`: standardise a frozen vision tower on
 * frames of the synthetic world (vlm_vision_calibrate; docs/demo-model.md),
 * and optionally design layer 0's frame-difference heads on the calibrated
 * tower's tokens (vlm_design_diff_heads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static int usage(FILE *f) {
    fprintf(f, "usage: videollm calibrate --model M.gguf --out OUT.gguf [--seed 1] [--scenes 100] [--seconds 20]\n"
               "                          [--max-objects 4] [--event-offset 1] [--threads 2] [--frame-diff-heads [--reply-head]]\n"
               "                          [--word-head WORD,WORD,... [--word-pos 2]] [--prev-change-head] [--move-readout G [--readout-colours G_Z [--readout-colour-reply A] [--subject-head W,... [--subject-colour A]]] [--readout-word-only [--readout-reply F]]]\n"
               "                          [--design-tower [--head-moment-gain 1] [--moment-wave T] [--head-moments] [--area-sums]]\n"
               "                          [--bind-route] [--quiet]\n"
               "  Runs the model's vision tower on the 2 fps frames (ticks 0, 5, 10, ...) of synthetic scenes\n"
               "  seed .. seed+scenes-1 and rescales its post-LN, MAP-head attention output and head bias so\n"
               "  that the frame tokens have mean 0 and std 1 per dimension over those frames. Writes OUT.gguf\n"
               "  and OUT.vision.gguf (everything else copied). The scene size is the model's image size.\n"
               "  --design-tower      instead, write every tower weight by construction for the synthetic\n"
               "                      world (per patch: the area of each palette colour and its column/row\n"
               "                      moments; the head token adds which known object area each colour\n"
               "                      covers), standardised on the same frames (docs/model-format.md)\n"
               "  --head-moment-gain G  with --design-tower: the head token's column/row moments get std G\n"
               "                      over the frames instead of 1, so that a move is a larger change\n"
               "  --moment-wave T     with --design-tower: every token also carries each colour's area times\n"
               "                      the sine and cosine of 2 pi column / T and 2 pi row / T (T in patches,\n"
               "                      2..64; 4 x colours more dimensions): a step of a fraction of T turns\n"
               "                      them by as much wherever the object is\n"
               "  --head-moments      with --design-tower: the head token also carries a copy of its column and\n"
               "                      row moments (2 x colours more dimensions) that grid tokens do not have;\n"
               "                      --readout-colours then reads Z_k there\n"
               "  --area-sums         with --design-tower: the head's bins also read the sum of two objects'\n"
               "                      areas of distinct shapes, so that two objects of one colour fire both\n"
               "                      bins and both shapes (the world's objects of one colour differ in shape)\n"
               "  --frame-diff-heads  then design heads 0-3 of LM layer 0 to compare each frame with the one\n"
               "                      before, and give the connector a constant output for them to key on\n"
               "                      (fitted on the calibrated tokens of the first 10 scenes; an untrained LM)\n"
               "  --reply-head        with --frame-diff-heads: also design head 0 of layer 1 to copy the change\n"
               "                      seen at a frame's last token to the first token of a reply to it\n"
               "  --word-head W,...   with --reply-head: head 1 of layer 1 copies the same change to these words\n"
               "                      (each one token with a leading space) when they stand --word-pos tokens\n"
               "                      into a reply (default 2, the third token: in the demo world the colour\n"
               "                      word, which predicts the shape)\n"
               "  --prev-change-head  with --reply-head: head 2 of layer 1 copies the change seen one frame\n"
               "                      earlier to each frame token, so a motion that starts (a change after\n"
               "                      none) differs from one that goes on\n"
               "  --move-readout G    with --design-tower and --reply-head: the connector also writes the sums of\n"
               "                      the colours' column and row moments along two LM dimensions of their own,\n"
               "                      and heads 0-1 of layer 0 write their change (read G times) along two\n"
               "                      more, which the reply heads copy: a move's direction as a sign\n"
               "  --readout-colours G_Z with --move-readout: per colour, the sum of its column and row moments\n"
               "                      and its change too (read G_Z times), which the reply head copies in\n"
               "                      full: which colour moved\n"
               "  --readout-colour-reply A  with --readout-colours: the reply head copies that change times A\n"
               "                      (0.01 to 100; default 1): a small G_Z keeps the frame token's norm,\n"
               "                      and A makes the change loud where the colour is named\n"
               "  --subject-head W,... with --readout-colours: head 3 of layer 1 copies the colours' change alone\n"
               "                      to these words (one token each with a leading space) where a reply's first\n"
               "                      token stands (in the demo world 'The', which predicts the subject's colour;\n"
               "                      not 'A', an appearance)\n"
               "  --subject-colour A  with --subject-head: that copy times A (0.01 to 100; default 1)\n"
               "  --readout-word-only with --move-readout and --word-head: only the word head copies that change,\n"
               "                      and it copies nothing else; the reply head copies the rest of the frame's\n"
               "                      change without it\n"
               "  --readout-reply F   with --readout-word-only: the reply head copies the change after all,\n"
               "                      times F (0..1; default 0)\n"
               "  --bind-route        with --design-tower and --subject-head: at a colour word, the shape of\n"
               "                      the object of that colour in the latest frames (layers 1-2, the\n"
               "                      connector, the LM head; the head token gets an indicator dimension);\n"
               "                      the bins' levels from the head tokens of the same frames\n");
    return f == stdout ? 0 : 2;
}

typedef struct {
    vlm_synth_params p; /* of scene 0; scene n has seed p.seed + n */
    size_t per_scene;   /* stream frames of every scene (they share their length) */
    long cur;           /* scene index held in s, -1 none */
    vlm_synth_scene *s;
} frames;

static vlm_status load_scene(frames *f, long scene, char *err, size_t err_size) {
    if (scene == f->cur) return VLM_OK;
    vlm_synth_free(f->s);
    f->s = NULL, f->cur = -1;
    vlm_synth_params p = f->p;
    p.seed += (uint64_t)scene;
    vlm_status st = vlm_synth_generate(&p, &f->s, err, err_size);
    if (!st) f->cur = scene;
    return st;
}

static vlm_status next_frame(void *user, size_t i, uint8_t *rgb, char *err, size_t err_size) {
    frames *f = user;
    vlm_status st = load_scene(f, (long)(i / f->per_scene), err, err_size);
    return st ? st : vlm_synth_render_stream_frame(f->s, (int64_t)(i % f->per_scene), rgb);
}

/* The vision tokens of frames 0..n-1 of f through m's tower, into *out (malloc'd): every token
 * [n][frame_num_tokens][v_n_embd], or with head_only the head (pooled, first) token alone [n][v_n_embd]. */
static vlm_status encode_frames(const vlm_model *m, frames *f, size_t n, int32_t threads, bool head_only, float **out,
                                char *err, size_t err_size) {
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    const size_t K = (size_t)hp->frame_num_tokens, D = (size_t)hp->v_n_embd, S = (size_t)hp->v_image_size;
    float *tokens = malloc((head_only ? n + K : n * K) * D * sizeof(float)); /* head_only: K more for one frame */
    uint8_t *rgb = malloc(S * S * 3);
    vlm_vision_context *vc = NULL;
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    vp.n_threads = threads;
    vlm_status st = VLM_OK;
    if (!tokens || !rgb) st = VLM_ERR_OOM, snprintf(err, err_size, "out of memory");
    else st = vlm_vision_context_init(m, &vp, &vc, err, err_size);
    for (size_t i = 0; !st && i < n; i++) {
        float *dst = head_only ? tokens + n * D : tokens + i * K * D;
        if (!(st = next_frame(f, i, rgb, err, err_size)) && (st = vlm_vision_encode_rgb(vc, rgb, dst)))
            snprintf(err, err_size, "%s", vlm_vision_last_error(vc));
        if (!st && head_only) memcpy(tokens + i * D, dst, D * sizeof(float));
    }
    vlm_vision_context_free(vc);
    free(rgb);
    if (st) free(tokens), tokens = NULL;
    *out = tokens;
    return st;
}

/* The calibrated model's frame tokens on the first n_scenes scenes, then
 * the designed heads written over `out`. */
static vlm_status design_heads(frames *f, long n_scenes, const vlm_diff_heads_params *dp, const char *out, int quiet,
                               char *err, size_t err_size) {
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    mp.load_tokenizer = dp->reply_head;
    const int32_t threads = dp->n_threads;
    vlm_status st = vlm_model_load(out, &mp, &m, err, err_size);
    if (st) {
        fprintf(stderr, "videollm calibrate: %s\n", err);
        return st;
    }
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    const size_t n = (size_t)n_scenes * f->per_scene, K = (size_t)hp->frame_num_tokens;
    float *tokens = NULL;
    st = encode_frames(m, f, n, threads, false, &tokens, err, err_size);
    vlm_diff_heads_report rep;
    if (!st) st = vlm_design_diff_heads(m, tokens, n * K, dp, out, &rep, err, err_size);
    if (st) fprintf(stderr, "videollm calibrate: frame-difference heads: %s\n", err);
    else if (!quiet)
        fprintf(stderr,
                "calibrate: frame-difference heads on %zu tokens of %ld scenes: connector constant %.4g, after "
                "layer 0's norm %.3g (min %.3g); heads 0-3 attend %d, %d, %d, %d tokens back (position margin "
                "%.2f); wrote %s\n",
                rep.n_tokens, n_scenes, rep.beta, rep.xe_median, rep.xe_min, rep.offsets[0], rep.offsets[1],
                rep.offsets[2], rep.offsets[3], rep.margin, out);
    if (!st && !quiet && dp->reply_head)
        fprintf(stderr,
                "calibrate: reply head: text tokens' constant %.4g; head 0 of layer 1 attends %d tokens back "
                "(position margin %.2f)\n",
                rep.gamma, rep.reply_offset, rep.reply_margin);
    if (!st && !quiet && dp->n_word_tokens)
        fprintf(stderr, "calibrate: word head: %zu words; head 1 of layer 1 attends %d tokens back (position margin "
                "%.2f)\n", dp->n_word_tokens, rep.word_offset, rep.word_margin);
    if (!st && !quiet && dp->readout_n_colours)
        fprintf(stderr, "calibrate: move readout: moment sums along LM dimensions %d and %d (scale %.4g), their change "
                "(gain %g) along %d and %d; median change %.4g where the moments changed, %.4g of the rest of the "
                "pooled difference\n", rep.readout_dims[0], rep.readout_dims[1], rep.readout_scale, dp->readout_gain,
                rep.readout_dims[2], rep.readout_dims[3], rep.readout_move, rep.readout_change);
    if (!st && !quiet && dp->readout_colour_gain > 0)
        fprintf(stderr, "calibrate: move readout: each colour's moment sum along LM dimensions %d..%d (scale %.4g), "
                "its change (gain %g) along %d..%d\n", rep.colour_dims[0],
                rep.colour_dims[0] + dp->readout_n_colours - 1, rep.colour_scale, dp->readout_colour_gain,
                rep.colour_dims[1], rep.colour_dims[1] + dp->readout_n_colours - 1);
    if (!st && !quiet && dp->readout_colour_gain > 0 && dp->readout_colour_reply != 1.0)
        fprintf(stderr, "calibrate: move readout: the reply head copies the colours' change times %g\n",
                dp->readout_colour_reply);
    if (!st && !quiet && dp->n_subject_tokens)
        fprintf(stderr, "calibrate: subject head: %zu words, their constant along LM dimension %d; head 3 of layer 1 "
                "copies the colours' change times %g\n", dp->n_subject_tokens, rep.subject_dim, dp->subject_colour);
    if (!st && !quiet && dp->prev_change_head)
        fprintf(stderr, "calibrate: previous-change head: head 2 of layer 1 attends %d tokens back, into %d "
                "dimensions\n", rep.prev_offset, rep.prev_rank);
    free(tokens);
    vlm_model_free(m);
    return st;
}

/* The designed tower (vlm_vision_design) for the synthetic world: its palette,
 * background and the six object areas. */
static vlm_status design_tower(const vlm_model *m, frames *f, size_t n_frames, int32_t threads, const char *out,
                               int quiet, long scenes, double moment_gain, double wave, int head_moments,
                               int area_sums, vlm_tower_design_report *rep, char *err, size_t err_size) {
    vlm_tower_design_params p = {.n_colours = VLM_SYNTH_N_COLOURS, .n_areas = 0, .head_moment_gain = moment_gain,
                                 .moment_wave = wave, .head_moments = head_moments,
                                 .area_sums = area_sums};
    vlm_synth_colour_rgb(-1, p.background);
    for (int k = 0; k < VLM_SYNTH_N_COLOURS; k++) vlm_synth_colour_rgb(k, p.colours[k]);
    p.n_groups = VLM_SYNTH_N_SHAPES; /* the head token also says which shape appeared, whatever its colour */
    for (int s = 0; s < VLM_SYNTH_N_SHAPES; s++)
        for (int large = 0; large < 2; large++) {
            p.area_group[p.n_areas] = s;
            p.areas[p.n_areas++] = (double)vlm_synth_shape_area(s, large);
        }
    vlm_status st = vlm_vision_design(m, &p, next_frame, f, n_frames, threads, out, rep, err, err_size);
    if (!st && !quiet)
        fprintf(stderr,
                "calibrate: designed tower on %zu frames of %ld scenes: %d of %d dimensions used, %d vary over the "
                "grid; colour areas within %.1f pixels of the counts (bins right within %.1f); dimensions: "
                "area %d, moments %d and %d, area bins %d, shapes %d, waves %d; wrote %s\n",
                rep->n_frames, scenes, rep->dims_used, vlm_model_get_hparams(m)->v_n_embd, rep->n_live,
                rep->area_err_max, rep->area_margin, rep->dim_area, rep->dim_moment_x, rep->dim_moment_y, rep->dim_bins,
                rep->dim_groups, rep->dim_waves, out);
    if (!st && !quiet && rep->dim_head_moments >= 0)
        fprintf(stderr, "calibrate: designed tower: the head token's own column and row moments at dimensions %d..%d\n",
                rep->dim_head_moments, rep->dim_head_moments + 2 * VLM_SYNTH_N_COLOURS - 1);
    return st;
}

static int word_tokens(const vlm_model *m, const char *list, const char *flag, const char *model, int32_t *ids,
                       size_t *n);

/* The binding route (vlm_design_bind_route) on the model at out: the head tokens of the frames of
 * the first n_scenes scenes give the bins' levels. */
static vlm_status design_bind(frames *f, long n_scenes, const vlm_diff_heads_params *dp,
                              const vlm_tower_design_report *trep, int32_t threads, const char *out, int quiet,
                              char *err, size_t err_size) {
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    mp.load_tokenizer = true;
    vlm_status st = vlm_model_load(out, &mp, &m, err, err_size);
    if (st) {
        fprintf(stderr, "videollm calibrate: %s\n", err);
        return st;
    }
    const size_t n = (size_t)n_scenes * f->per_scene;
    float *heads = NULL;
    int32_t colours[VLM_SYNTH_N_COLOURS], shapes[VLM_SYNTH_N_SHAPES];
    vlm_bind_route_params bp = vlm_bind_route_default_params();
    bp.first_dim = vlm_diff_heads_reserved_dims(dp), bp.conn_reserved = vlm_diff_heads_connector_units(dp);
    bp.n_colours = VLM_SYNTH_N_COLOURS, bp.n_shapes = VLM_SYNTH_N_SHAPES, bp.dim_bins = trep->dim_bins;
    bp.dim_indicator = trep->dims_used, bp.colour_tokens = colours, bp.shape_tokens = shapes;
    bp.n_areas = 2 * VLM_SYNTH_N_SHAPES; /* the bins' shapes, in the tower's order (its groups are the shapes) */
    memcpy(bp.area_shape, trep->bin_group, sizeof bp.area_shape);
    size_t nw = 0;
    char list[256] = "";
    for (int k = 0; k < VLM_SYNTH_N_COLOURS; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? "," : "", vlm_synth_colour_name(k));
    int ok = word_tokens(m, list, "--bind-route", out, colours, &nw);
    list[0] = 0, nw = 0;
    for (int s = 0; s < VLM_SYNTH_N_SHAPES; s++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", s ? "," : "", vlm_synth_shape_name(s));
    ok = ok && word_tokens(m, list, "--bind-route", out, shapes, &nw);
    if (!ok) st = VLM_ERR_INVALID_ARG, snprintf(err, err_size, "the colour and shape words are not single tokens");
    else st = encode_frames(m, f, n, threads, true, &heads, err, err_size);
    vlm_bind_route_report rep;
    if (!st) st = vlm_design_bind_route(m, heads, n, &bp, out, &rep, err, err_size);
    if (st) fprintf(stderr, "videollm calibrate: binding route: %s\n", err);
    else if (!quiet)
        fprintf(stderr, "calibrate: binding route on the head tokens of %zu frames: LM dimensions %d..%d, connector "
                "units %d..%d, vision dimension %d; bins absent %.3g..%.3g, present %.3g..%.3g; wrote %s\n", n,
                rep.first_dim, rep.first_dim + rep.n_dims - 1, rep.conn_unit, rep.conn_unit + 12, bp.dim_indicator,
                rep.absent_min, rep.absent_max, rep.present_min, rep.present_max, out);
    free(heads);
    vlm_model_free(m);
    return st;
}

/* Each word of a comma-separated list as one token with its leading space, into ids[64]; 0 and a
 * message naming the flag when one is not. */
static int word_tokens(const vlm_model *m, const char *list, const char *flag, const char *model, int32_t *ids,
                       size_t *n) {
    for (const char *w = list; w && *w;) {
        const char *e = strchr(w, ',');
        size_t len = e ? (size_t)(e - w) : strlen(w);
        char text[130];
        vlm_tokens t = {0};
        int ok = len > 0 && len < sizeof text - 1 && *n < 64;
        if (ok) {
            text[0] = ' ';
            memcpy(text + 1, w, len);
            text[len + 1] = 0;
            ok = vlm_tokenizer_encode(vlm_model_tokenizer(m), text, len + 1, &t) == VLM_OK && t.n == 1;
            if (ok) ids[(*n)++] = t.ids[0];
            vlm_tokens_free(&t);
        }
        if (!ok) {
            fprintf(stderr, "videollm calibrate: %s: '%.*s' is not one token of %s's tokenizer with a leading space "
                    "(or more than 64 words)\n", flag, (int)(len < 100 ? len : 100), w, model);
            return 0;
        }
        w = e ? e + 1 : w + len;
    }
    return 1;
}

int cmd_calibrate(int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    long seed = 1, scenes = 100, seconds = 20, maxobj = 4, threads = 2, evoff = 1;
    int quiet = 0, diff_heads = 0, reply_head = 0, design = 0, prev_head = 0, word_only = 0, head_moments = 0;
    int area_sums = 0, bind = 0;
    const char *word_head = NULL, *subject = NULL;
    long word_pos = 2;
    double moment_gain = 0.0; /* 0: not given (1) */
    double wave = 0.0;        /* 0: no wave moments */
    double readout = 0.0;     /* 0: no move readout */
    double readout_reply = -1.0; /* -1: not given */
    double colours = 0.0;        /* 0: no per-colour moments */
    double colour_reply = 0.0;   /* 0: not given (1) */
    double subject_colour = 0.0; /* 0: not given (1) */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout);
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (!strcmp(a, "--frame-diff-heads")) { diff_heads = 1; continue; }
        if (!strcmp(a, "--reply-head")) { reply_head = 1; continue; }
        if (!strcmp(a, "--prev-change-head")) { prev_head = 1; continue; }
        if (!strcmp(a, "--design-tower")) { design = 1; continue; }
        if (!strcmp(a, "--readout-word-only")) { word_only = 1; continue; }
        if (!strcmp(a, "--head-moments")) { head_moments = 1; continue; }
        if (!strcmp(a, "--area-sums")) { area_sums = 1; continue; }
        if (!strcmp(a, "--bind-route")) { bind = 1; continue; }
        if (!v) { fprintf(stderr, "videollm calibrate: %s needs a value\n", a); return usage(stderr); }
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--seed")) { if (!cli_parse_count("calibrate", a, v, 1L << 30, &seed)) return 2; }
        else if (!strcmp(a, "--scenes")) { if (!cli_parse_count("calibrate", a, v, 100000, &scenes)) return 2; }
        else if (!strcmp(a, "--seconds")) { if (!cli_parse_count("calibrate", a, v, 3600, &seconds)) return 2; }
        else if (!strcmp(a, "--max-objects")) { if (!cli_parse_count("calibrate", a, v, 64, &maxobj)) return 2; }
        else if (!strcmp(a, "--event-offset")) { if (!cli_parse_range("calibrate", a, v, 0, 4, &evoff)) return 2; }
        else if (!strcmp(a, "--threads")) { if (!cli_parse_count("calibrate", a, v, 256, &threads)) return 2; }
        else if (!strcmp(a, "--word-head")) word_head = v;
        else if (!strcmp(a, "--subject-head")) subject = v;
        else if (!strcmp(a, "--subject-colour")) {
            if (!cli_parse_real("calibrate", a, v, 0.01, 100.0, &subject_colour)) return 2;
        }
        else if (!strcmp(a, "--head-moment-gain")) {
            if (!cli_parse_real("calibrate", a, v, 0.01, 100.0, &moment_gain)) return 2;
        }
        else if (!strcmp(a, "--moment-wave")) { if (!cli_parse_real("calibrate", a, v, 2.0, 64.0, &wave)) return 2; }
        else if (!strcmp(a, "--move-readout")) { if (!cli_parse_real("calibrate", a, v, 0.01, 10000.0, &readout)) return 2; }
        else if (!strcmp(a, "--readout-colours")) {
            if (!cli_parse_real("calibrate", a, v, 0.01, 10000.0, &colours)) return 2;
        }
        else if (!strcmp(a, "--readout-colour-reply")) {
            if (!cli_parse_real("calibrate", a, v, 0.01, 100.0, &colour_reply)) return 2;
        }
        else if (!strcmp(a, "--readout-reply")) {
            if (!cli_parse_real("calibrate", a, v, 0.0, 1.0, &readout_reply)) return 2;
        }
        else if (!strcmp(a, "--word-pos")) { if (!cli_parse_count("calibrate", a, v, 64, &word_pos)) return 2; }
        else { fprintf(stderr, "videollm calibrate: unknown option %s\n", a); return usage(stderr); }
    }
    if (!model || !out) { fprintf(stderr, "videollm calibrate: --model and --out are required\n"); return usage(stderr); }
    if (reply_head && !diff_heads) {
        fprintf(stderr, "videollm calibrate: --reply-head goes with --frame-diff-heads\n");
        return usage(stderr);
    }
    if (moment_gain > 0.0 && !design) {
        fprintf(stderr, "videollm calibrate: --head-moment-gain goes with --design-tower\n");
        return usage(stderr);
    }
    if (head_moments && !design) {
        fprintf(stderr, "videollm calibrate: --head-moments goes with --design-tower\n");
        return usage(stderr);
    }
    if (area_sums && !design) {
        fprintf(stderr, "videollm calibrate: --area-sums goes with --design-tower\n");
        return usage(stderr);
    }
    if (wave > 0.0 && !design) {
        fprintf(stderr, "videollm calibrate: --moment-wave goes with --design-tower\n");
        return usage(stderr);
    }
    if (prev_head && !reply_head) {
        fprintf(stderr, "videollm calibrate: --prev-change-head goes with --reply-head\n");
        return usage(stderr);
    }
    if (readout > 0.0 && (!reply_head || !design)) {
        fprintf(stderr, "videollm calibrate: --move-readout goes with --design-tower and --reply-head\n");
        return usage(stderr);
    }
    if (word_only && (readout <= 0.0 || !word_head)) {
        fprintf(stderr, "videollm calibrate: --readout-word-only goes with --move-readout and --word-head\n");
        return usage(stderr);
    }
    if (colours > 0.0 && readout <= 0.0) {
        fprintf(stderr, "videollm calibrate: --readout-colours goes with --move-readout\n");
        return usage(stderr);
    }
    if (colour_reply > 0.0 && colours <= 0.0) {
        fprintf(stderr, "videollm calibrate: --readout-colour-reply goes with --readout-colours\n");
        return usage(stderr);
    }
    if (subject && colours <= 0.0) {
        fprintf(stderr, "videollm calibrate: --subject-head goes with --readout-colours\n");
        return usage(stderr);
    }
    if (subject_colour > 0.0 && !subject) {
        fprintf(stderr, "videollm calibrate: --subject-colour goes with --subject-head\n");
        return usage(stderr);
    }
    if (readout_reply >= 0.0 && !word_only) {
        fprintf(stderr, "videollm calibrate: --readout-reply goes with --readout-word-only\n");
        return usage(stderr);
    }
    if (bind && (!design || !subject)) {
        fprintf(stderr, "videollm calibrate: --bind-route goes with --design-tower and --subject-head\n");
        return usage(stderr);
    }
    if (word_head && !reply_head) {
        fprintf(stderr, "videollm calibrate: --word-head goes with --reply-head\n");
        return usage(stderr);
    }
    vlm_diff_heads_params dp = vlm_diff_heads_default_params();
    dp.seed = (uint64_t)seed, dp.n_threads = (int32_t)threads, dp.reply_head = reply_head;
    dp.word_pos = (int32_t)word_pos, dp.prev_change_head = prev_head;
    /* the moments' dimensions come from the designed tower; these stand in for the check below */
    if (readout > 0.0)
        dp.readout_n_colours = VLM_SYNTH_N_COLOURS, dp.readout_gain = readout, dp.readout_word_only = word_only;
    dp.readout_colour_gain = colours;
    if (colour_reply > 0.0) dp.readout_colour_reply = colour_reply;
    if (readout_reply > 0.0) dp.readout_reply = readout_reply;
    if (subject_colour > 0.0) dp.subject_colour = subject_colour;
    int32_t word_ids[64], subject_ids[64];
    { /* fail before the work, not after it: the output folder must exist */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", out);
        char *slash = strrchr(dir, '/');
        struct stat sb;
        if (slash) {
            if (slash == dir) slash[1] = 0;
            else *slash = 0;
        }
        if (stat(slash ? dir : ".", &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "videollm calibrate: the output folder of %s does not exist\n", out);
            return 1;
        }
    }
    char err[1024];
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    mp.load_tokenizer = reply_head;
    if (vlm_model_load(model, &mp, &m, err, sizeof err)) { fprintf(stderr, "videollm calibrate: %s\n", err); return 1; }
    if (!vlm_model_has_vision(m)) {
        fprintf(stderr, "videollm calibrate: %s has no vision tower\n", model);
        vlm_model_free(m);
        return 1;
    }
    if (!word_tokens(m, word_head, "--word-head", model, word_ids, &dp.n_word_tokens) ||
        !word_tokens(m, subject, "--subject-head", model, subject_ids, &dp.n_subject_tokens)) {
        vlm_model_free(m);
        return 1;
    }
    dp.word_tokens = dp.n_word_tokens ? word_ids : NULL;
    dp.subject_tokens = dp.n_subject_tokens ? subject_ids : NULL;
    if (diff_heads && vlm_design_diff_heads_check(m, &dp, err, sizeof err)) { /* before the work, not after it */
        fprintf(stderr, "videollm calibrate: --frame-diff-heads: %s\n", err);
        vlm_model_free(m);
        return 1;
    }
    const vlm_model_hparams hp = *vlm_model_get_hparams(m);
    frames f = {.p = vlm_synth_default_params(), .cur = -1, .s = NULL};
    f.p.seed = (uint64_t)seed, f.p.seconds = (double)seconds, f.p.size = hp.v_image_size;
    f.p.max_present = (int32_t)maxobj;
    f.p.event_offset = (int32_t)evoff;
    vlm_calibrate_report rep;
    memset(&rep, 0, sizeof rep);
    vlm_tower_design_report trep;
    memset(&trep, 0, sizeof trep);
    vlm_status st = load_scene(&f, 0, err, sizeof err); /* every scene has scene 0's frame count */
    if (!st) {
        f.per_scene = (size_t)vlm_synth_n_stream_frames(f.s);
        if (design) {
            st = design_tower(m, &f, (size_t)scenes * f.per_scene, (int32_t)threads, out, quiet, scenes, moment_gain, wave,
                              head_moments, area_sums, &trep, err, sizeof err);
            if (!st && readout > 0.0)
                dp.readout_n_colours = VLM_SYNTH_N_COLOURS, dp.readout_dim_x = trep.dim_moment_x,
                dp.readout_dim_y = trep.dim_moment_y;
            if (!st && readout > 0.0 && trep.dim_head_moments >= 0) /* Z_k from the head token's own copy */
                dp.readout_colour_dim_x = trep.dim_head_moments,
                dp.readout_colour_dim_y = trep.dim_head_moments + VLM_SYNTH_N_COLOURS;
        } else
            st = vlm_vision_calibrate(m, next_frame, &f, (size_t)scenes * f.per_scene, (int32_t)threads, out, &rep,
                                      err, sizeof err);
    }
    if (st) fprintf(stderr, "videollm calibrate: %s\n", err);
    else if (!quiet && !design)
        fprintf(stderr,
                "calibrate: %zu frames of %ld scenes; per-dimension std: grid tokens %.3g..%.3g, head attention "
                "output (after the grid's calibration) %.3g..%.3g; wrote %s\n",
                rep.n_frames, scenes, rep.grid_std_min, rep.grid_std_max, rep.attn_std_min, rep.attn_std_max, out);
    vlm_model_free(m);
    if (!st && diff_heads) st = design_heads(&f, scenes < 10 ? scenes : 10, &dp, out, quiet, err, sizeof err);
    if (!st && bind) st = design_bind(&f, scenes, &dp, &trep, (int32_t)threads, out, quiet, err, sizeof err);
    vlm_synth_free(f.s);
    return st ? 1 : 0;
}
