/* cmd_calibrate.c - `videollm calibrate`: standardise a frozen vision tower on
 * frames of the synthetic world (vlm_vision_calibrate; docs/demo-model.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static int usage(FILE *f) {
    fprintf(f, "usage: videollm calibrate --model M.gguf --out OUT.gguf [--seed 1] [--scenes 100] [--seconds 20]\n"
               "                          [--max-objects 4] [--threads 2] [--quiet]\n"
               "  Runs the model's vision tower on the 2 fps frames (ticks 0, 5, 10, ...) of synthetic scenes\n"
               "  seed .. seed+scenes-1 and rescales its post-LN, MAP-head attention output and head bias so\n"
               "  that the frame tokens have mean 0 and std 1 per dimension over those frames. Writes OUT.gguf\n"
               "  and OUT.vision.gguf (everything else copied). The scene size is the model's image size.\n");
    return f == stdout ? 0 : 2;
}

typedef struct {
    long seed, seconds, max_objects, size;
    size_t per_scene;
    long cur; /* scene index held in s, -1 none */
    vlm_synth_scene *s;
} frames;

static vlm_status next_frame(void *user, size_t i, uint8_t *rgb, char *err, size_t err_size) {
    frames *f = user;
    long scene = (long)(i / f->per_scene);
    if (scene != f->cur) {
        vlm_synth_free(f->s);
        f->s = NULL, f->cur = -1;
        vlm_synth_params p = vlm_synth_default_params();
        p.seed = (uint64_t)f->seed + (uint64_t)scene;
        p.seconds = (double)f->seconds;
        p.size = (int32_t)f->size;
        p.max_present = (int32_t)f->max_objects;
        vlm_status st = vlm_synth_generate(&p, &f->s, err, err_size);
        if (st) return st;
        f->cur = scene;
    }
    return vlm_synth_render(f->s, (int64_t)(i % f->per_scene) * (VLM_SYNTH_TICK_HZ / 2), rgb);
}

static int parse_pos(const char *opt, const char *s, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > max) {
        fprintf(stderr, "videollm calibrate: %s needs an integer in [1, %ld], not '%s'\n", opt, max, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cmd_calibrate(int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    long seed = 1, scenes = 100, seconds = 20, maxobj = 4, threads = 2;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout);
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (!v) { fprintf(stderr, "videollm calibrate: %s needs a value\n", a); return usage(stderr); }
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--seed")) { if (!parse_pos(a, v, 1L << 30, &seed)) return 2; }
        else if (!strcmp(a, "--scenes")) { if (!parse_pos(a, v, 100000, &scenes)) return 2; }
        else if (!strcmp(a, "--seconds")) { if (!parse_pos(a, v, 3600, &seconds)) return 2; }
        else if (!strcmp(a, "--max-objects")) { if (!parse_pos(a, v, 64, &maxobj)) return 2; }
        else if (!strcmp(a, "--threads")) { if (!parse_pos(a, v, 256, &threads)) return 2; }
        else { fprintf(stderr, "videollm calibrate: unknown option %s\n", a); return usage(stderr); }
    }
    if (!model || !out) { fprintf(stderr, "videollm calibrate: --model and --out are required\n"); return usage(stderr); }
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
    mp.load_tokenizer = false;
    if (vlm_model_load(model, &mp, &m, err, sizeof err)) { fprintf(stderr, "videollm calibrate: %s\n", err); return 1; }
    if (!vlm_model_has_vision(m)) {
        fprintf(stderr, "videollm calibrate: %s has no vision tower\n", model);
        vlm_model_free(m);
        return 1;
    }
    const vlm_model_hparams hp = *vlm_model_get_hparams(m);
    frames f = {.seed = seed, .seconds = seconds, .max_objects = maxobj, .size = hp.v_image_size,
                .per_scene = (size_t)seconds * 2, .cur = -1, .s = NULL};
    vlm_calibrate_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = 0;
    if (vlm_vision_calibrate(m, next_frame, &f, (size_t)scenes * f.per_scene, (int32_t)threads, out, &rep, err,
                             sizeof err)) {
        fprintf(stderr, "videollm calibrate: %s\n", err);
        rc = 1;
    } else if (!quiet) {
        fprintf(stderr,
                "calibrate: %zu frames of %ld scenes; per-dimension std: grid tokens %.3g..%.3g, head attention "
                "output (after the grid's calibration) %.3g..%.3g; wrote %s\n",
                rep.n_frames, scenes, rep.grid_std_min, rep.grid_std_max, rep.attn_std_min, rep.attn_std_max, out);
    }
    vlm_synth_free(f.s);
    vlm_model_free(m);
    return rc;
}
