/* cmd_prepare.c - `videollm prepare`: Ego4D narration / GoalStep streaming
 * dialogue annotations (and the fixed robustness samples) -> the JSONL
 * training file of docs/training.md, with the original's rules
 * (docs/prepare.md). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train/prepare.h"

static int usage(FILE *f) {
    fprintf(f,
            "usage: videollm prepare ego4d-narration   --annotations A.json --durations D.json --features-dir DIR\n"
            "                        --out train.jsonl [--refined] [common options]\n"
            "       videollm prepare goalstep-livechat --annotations A.json --durations D.json --features-dir DIR\n"
            "                        --out train.jsonl [common options]\n"
            "       videollm prepare robustness        --features-dir DIR --out train.jsonl [--seed 42]\n"
            "                        [--frame-tokens 10] [--hidden 1024]\n"
            "common options: [--fps 2] [--max-frames 1200] [--seed 42] [--augmentation] [--system TEXT]\n"
            "                [--frame-tokens 10 (1 = live1)]\n"
            "D.json maps each video uid to the number of frames of its feature file (T of [T, tokens, hidden]).\n"
            "Features are referred to as DIR/<uid>.safetensors; robustness writes DIR/robustness_noise.safetensors\n"
            "and DIR/robustness_zero.safetensors. See docs/prepare.md.\n");
    return f == stdout ? 0 : 2;
}

static int parse_int(const char *a, const char *v, int64_t lo, int64_t hi, int64_t *out) {
    char *e;
    errno = 0;
    long long x = strtoll(v, &e, 10);
    if (e == v || *e || errno || x < lo || x > hi) {
        fprintf(stderr, "videollm prepare: bad %s '%s' (want a whole number %lld..%lld)\n", a, v, (long long)lo,
                (long long)hi);
        return 0;
    }
    *out = x;
    return 1;
}

int cmd_prepare(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return usage(argc < 2 ? stderr : stdout);
    const char *what = argv[1];
    vlm_prep_dataset kind;
    if (!strcmp(what, "ego4d-narration")) kind = VLM_PREP_NARRATION;
    else if (!strcmp(what, "goalstep-livechat")) kind = VLM_PREP_LIVECHAT;
    else if (!strcmp(what, "robustness")) kind = VLM_PREP_ROBUSTNESS;
    else {
        fprintf(stderr, "videollm prepare: unknown dataset '%s'\n", what);
        return usage(stderr);
    }
    vlm_prep_params p = vlm_prep_default_params();
    p.features_dir = NULL;
    const char *ann = NULL, *dur = NULL, *out = NULL;
    int64_t fps = 2, seed = 42, tpf = 10, hidden = 1024;
    bool aug = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        if (!strcmp(a, "--refined")) { p.refined = true; continue; }
        if (!strcmp(a, "--augmentation")) { aug = true; continue; }
        static const char *const valued[] = {"--annotations", "--durations", "--features-dir", "--out", "--fps",
                                             "--max-frames", "--seed", "--system", "--frame-tokens", "--hidden"};
        int known = 0, ok = 1;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) known |= !strcmp(a, valued[k]);
        if (!known) { fprintf(stderr, "videollm prepare: unknown option '%s'\n", a); return usage(stderr); }
        if (!v) { fprintf(stderr, "videollm prepare: %s needs a value\n", a); return usage(stderr); }
        i++;
        if (!strcmp(a, "--annotations")) ann = v;
        else if (!strcmp(a, "--durations")) dur = v;
        else if (!strcmp(a, "--features-dir")) p.features_dir = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--system")) p.system_prompt = v;
        else if (!strcmp(a, "--fps")) ok = parse_int(a, v, 1, 60, &fps);
        else if (!strcmp(a, "--max-frames")) ok = parse_int(a, v, 1, (int64_t)1 << 31, &p.max_frames);
        else if (!strcmp(a, "--seed")) ok = parse_int(a, v, 0, INT64_MAX, &seed);
        else if (!strcmp(a, "--frame-tokens")) ok = parse_int(a, v, 1, 1024, &tpf);
        else if (!strcmp(a, "--hidden")) ok = parse_int(a, v, 1, 65536, &hidden);
        if (!ok) return 2;
    }
    p.fps = (double)fps;
    p.seed = (uint64_t)seed;
    if (!p.features_dir || !out || (kind != VLM_PREP_ROBUSTNESS && (!ann || !dur))) {
        fprintf(stderr, "videollm prepare: %s needs%s --features-dir and --out\n", what,
                kind != VLM_PREP_ROBUSTNESS ? " --annotations, --durations," : "");
        return usage(stderr);
    }
    if (p.refined && kind != VLM_PREP_NARRATION) {
        fprintf(stderr, "videollm prepare: --refined is for ego4d-narration\n");
        return 2;
    }
    vlm_live_version lv = tpf == 1 ? VLM_LIVE_V1 : VLM_LIVE_V1PLUS;
    char err[1024];
    vlm_status st = VLM_OK;
    vlm_prep_set set = {0};
    if (kind == VLM_PREP_ROBUSTNESS) {
        /* the JSONL records DIR/...; a relative DIR is relative to the
         * JSONL's folder (as the trainer resolves it), so write there */
        const char *slash = strrchr(out, '/');
        int outdir = p.features_dir[0] != '/' && slash;
        size_t n = strlen(p.features_dir) + strlen(out) + 40;
        char *noise = malloc(n), *zero = malloc(n), *wn = malloc(n), *wz = malloc(n);
        if (!noise || !zero || !wn || !wz) st = VLM_ERR_OOM, snprintf(err, sizeof err, "out of memory");
        else {
            snprintf(noise, n, "%s/robustness_noise.safetensors", p.features_dir);
            snprintf(zero, n, "%s/robustness_zero.safetensors", p.features_dir);
            snprintf(wn, n, "%.*s%s", outdir ? (int)(slash - out + 1) : 0, out, noise);
            snprintf(wz, n, "%.*s%s", outdir ? (int)(slash - out + 1) : 0, out, zero);
            st = vlm_prep_write_robustness_features(wn, wz, p.seed, tpf, hidden, err, sizeof err);
            if (!st) st = vlm_prep_robustness(noise, zero, &set, err, sizeof err);
        }
        free(noise);
        free(zero);
        free(wn);
        free(wz);
    } else {
        size_t al = 0, dl = 0;
        char *aj = cli_read_input(ann, &al), *dj = aj ? cli_read_input(dur, &dl) : NULL;
        vlm_prep_durations *d = NULL;
        if (!aj || !dj) st = VLM_ERR_IO, err[0] = 0;
        else if (!(st = vlm_prep_durations_parse(dj, dl, dur, &d, err, sizeof err)))
            st = kind == VLM_PREP_NARRATION ? vlm_prep_ego4d_narration(aj, al, ann, d, &p, &set, err, sizeof err)
                                            : vlm_prep_goalstep_livechat(aj, al, ann, d, &p, &set, err, sizeof err);
        vlm_prep_durations_free(d);
        free(aj);
        free(dj);
    }
    if (!st) st = vlm_prep_finish(&set, kind, &p, aug, lv, err, sizeof err);
    FILE *f = NULL;
    size_t ol = strlen(out);
    char *tmp = malloc(ol + 6);
    if (!st && !tmp) st = VLM_ERR_OOM, snprintf(err, sizeof err, "out of memory");
    if (!st) {
        memcpy(tmp, out, ol);
        memcpy(tmp + ol, ".part", 6);
        if (!(f = fopen(tmp, "w")))
            st = VLM_ERR_IO, snprintf(err, sizeof err, "cannot create %s: %s", tmp, strerror(errno));
    }
    for (size_t i = 0; !st && i < set.n; i++) {
        char *line = vlm_prep_sample_line(&set.v[i]);
        if (!line || fprintf(f, "%s\n", line) < 0)
            st = VLM_ERR_IO, snprintf(err, sizeof err, "cannot write %s", tmp);
        free(line);
    }
    if (f) {
        if (fclose(f) && !st) st = VLM_ERR_IO, snprintf(err, sizeof err, "cannot write %s: %s", tmp, strerror(errno));
        if (!st && rename(tmp, out)) st = VLM_ERR_IO, snprintf(err, sizeof err, "cannot rename %s: %s", tmp, strerror(errno));
        if (st) remove(tmp);
    }
    free(tmp);
    if (st) {
        if (err[0]) fprintf(stderr, "videollm prepare: %s\n", err);
        vlm_prep_set_free(&set);
        return 1;
    }
    int64_t frames = 0;
    for (size_t i = 0; i < set.n; i++) frames += set.v[i].frame_end - set.v[i].frame_start;
    fprintf(stderr, "prepare %s: %zu samples, %lld frames -> %s (%zu videos without durations skipped, %zu "
            "annotations dropped by the rules)\n", what, set.n, (long long)frames, out, set.skipped_videos,
            set.dropped_samples);
    vlm_prep_set_free(&set);
    return 0;
}
