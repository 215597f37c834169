/* cmd_synth.c - `videollm synth`: generate synthetic clips (video + events)
 * and a training file in the streaming format (docs/synth.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static int usage(FILE *f) {
    fprintf(f,
            "usage: videollm synth --seed S --scenes N --seconds T --out DIR [--fps-video 10] [--codec ffv1|x264]\n"
            "                      [--size 384] [--max-objects 4] [--event-offset 1] [--questions-every 8] [--model M.gguf --features]\n"
            "                      [--no-video] [--recap] [--sort-joined]\n"
            "Writes DIR/scene_XXXX.mkv (.mp4 with x264), DIR/scene_XXXX.events.json and DIR/train.jsonl;\n"
            "with --model and --features also DIR/scene_XXXX.safetensors (vision features at 2 fps).\n"
            "--no-video writes no video: the conversations use the 2 fps frame grid and the features are\n"
            "computed from the renders (identical to those of a --fps-video 2 clip), for fast training data.\n"
            "--recap ends each conversation with \"" VLM_SYNTH_RECAP_QUESTION "\" answered by every narration\n"
            "reply so far (for training data; held-out conversations should go without it).\n"
            "--sort-joined: events of one tick that share a reply (the objects of the first frame, the\n"
            "collisions ending a move) are told in the order of their text, not in the order of the event list.\n"
            "--event-offset K: spontaneous events fall K ticks (0.1 s each) after a whole half second (0..4;\n"
            "default 1, so the 2 fps frame a narration follows shows five steps of a move; 0: its first step).\n");
    return f == stdout ? 0 : 2;
}

/* A number option that must be a whole number (kept as a double: --seed goes up to 2^53). */
static int parse_int(const char *a, const char *v, double lo, double hi, double *out) {
    if (!cli_parse_real("synth", a, v, lo, hi, out)) return 0;
    if (*out != (double)(int64_t)*out) {
        fprintf(stderr, "videollm synth: %s must be a whole number, got '%s'\n", a, v);
        return 0;
    }
    return 1;
}

int cmd_synth(int argc, char **argv) {
    double seed = 0, scenes = 1, seconds = 30, fps_video = 10, size = 384, maxobj = 4, qevery = 8, evoff = 1;
    const char *out = NULL, *model_path = NULL, *codec_name = "ffv1";
    int features = 0, no_video = 0, recap = 0, sort_joined = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        else if (!strcmp(a, "--features")) { features = 1; continue; }
        else if (!strcmp(a, "--no-video")) { no_video = 1; continue; }
        else if (!strcmp(a, "--recap")) { recap = 1; continue; }
        else if (!strcmp(a, "--sort-joined")) { sort_joined = 1; continue; }
        static const char *const valued[] = {"--seed", "--scenes", "--seconds", "--fps-video", "--size",
                                             "--max-objects", "--questions-every", "--event-offset", "--out", "--model", "--codec"};
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) known |= !strcmp(a, valued[k]);
        if (!known) { fprintf(stderr, "videollm synth: unknown option '%s'\n", a); return usage(stderr); }
        if (!v) { fprintf(stderr, "videollm synth: %s needs a value\n", a); return usage(stderr); }
        if (!strcmp(a, "--seed")) ok = parse_int(a, v, 0, 9007199254740992.0, &seed);
        else if (!strcmp(a, "--scenes")) ok = parse_int(a, v, 1, 100000, &scenes);
        else if (!strcmp(a, "--seconds")) ok = cli_parse_real("synth", a, v, 0.1, VLM_SYNTH_MAX_SECONDS, &seconds);
        else if (!strcmp(a, "--fps-video")) ok = parse_int(a, v, 1, 60, &fps_video);
        else if (!strcmp(a, "--size")) ok = parse_int(a, v, 128, 1024, &size);
        else if (!strcmp(a, "--max-objects")) ok = parse_int(a, v, 1, 8, &maxobj);
        else if (!strcmp(a, "--event-offset")) ok = parse_int(a, v, 0, 4, &evoff);
        else if (!strcmp(a, "--questions-every")) ok = cli_parse_real("synth", a, v, 0, 1e6, &qevery);
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--codec")) codec_name = v;
        if (!ok) return 2;
        i++;
    }
    if (!out) { fprintf(stderr, "videollm synth: --out is required\n"); return usage(stderr); }
    if (features && !model_path) { fprintf(stderr, "videollm synth: --features needs --model\n"); return 2; }
    vlm_synth_codec codec;
    if (!strcmp(codec_name, "ffv1")) codec = VLM_SYNTH_FFV1;
    else if (!strcmp(codec_name, "x264")) codec = VLM_SYNTH_X264;
    else { fprintf(stderr, "videollm synth: unknown --codec '%s' (ffv1 or x264)\n", codec_name); return 2; }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) { perror(out); return 1; }
    char err[1024];
    vlm_model *m = NULL;
    if (features) {
        vlm_model_params mp = vlm_model_default_params();
        if (vlm_model_load(model_path, &mp, &m, err, sizeof err)) { fprintf(stderr, "videollm synth: %s\n", err); return 1; }
    }
    size_t plen = strlen(out) + 64;
    char *path = malloc(plen), *jpath = malloc(plen);
    if (!path || !jpath) { fprintf(stderr, "videollm synth: out of memory\n"); free(path); free(jpath); vlm_model_free(m); return 1; }
    snprintf(jpath, plen, "%s/train.jsonl", out);
    FILE *jf = fopen(jpath, "w");
    if (!jf) { perror(jpath); free(path); free(jpath); vlm_model_free(m); return 1; }
    int rc = 0;
    for (long n = 0; n < (long)scenes && !rc; n++) {
        vlm_synth_params p = vlm_synth_default_params();
        p.seed = (uint64_t)seed + (uint64_t)n;
        p.seconds = seconds;
        p.size = (int32_t)size;
        p.max_present = (int32_t)maxobj;
        p.event_offset = (int32_t)evoff;
        vlm_synth_scene *s = NULL;
        char *conv = NULL, *ev = NULL;
        int64_t f0 = 0, f1 = 0;
        vlm_synth_dataset_params dp = vlm_synth_dataset_default_params();
        dp.seed = p.seed;
        dp.question_every = qevery;
        dp.recap = recap;
        dp.sort_joined = sort_joined;
        if (vlm_synth_generate(&p, &s, err, sizeof err)) rc = 1;
        if (!rc && !no_video) {
            snprintf(path, plen, "%s/scene_%04ld.%s", out, n, codec == VLM_SYNTH_X264 ? "mp4" : "mkv");
            if (vlm_synth_write_video(s, path, (int32_t)fps_video, codec, err, sizeof err)) rc = 1;
        }
        if (!rc) {
            snprintf(path, plen, "%s/scene_%04ld.events.json", out, n);
            size_t len = 0;
            FILE *f = NULL;
            if (vlm_synth_events_json(s, &ev, &len) || !(f = fopen(path, "w")) || fwrite(ev, 1, len, f) != len) {
                snprintf(err, sizeof err, "cannot write %s", path);
                rc = 1;
            }
            if (f && fclose(f) != 0) { snprintf(err, sizeof err, "cannot write %s", path); rc = 1; }
        }
        int64_t *ticks = NULL;
        size_t n_ticks = 0;
        if (!rc && !no_video) { /* the ticks the 2 fps sampler of the stream will show: replies follow the frame showing the event */
            snprintf(path, plen, "%s/scene_%04ld.%s", out, n, codec == VLM_SYNTH_X264 ? "mp4" : "mkv");
            if (vlm_synth_sample_ticks(s, path, dp.fps, &ticks, &n_ticks, err, sizeof err)) rc = 1;
            dp.frame_ticks = ticks;
            dp.n_frame_ticks = n_ticks;
        }
        if (!rc && vlm_synth_conversation(s, &dp, &conv, NULL, &f0, &f1, err, sizeof err)) rc = 1;
        if (!rc && m && no_video) {
            snprintf(path, plen, "%s/scene_%04ld.safetensors", out, n);
            int64_t t = 0;
            if (vlm_synth_write_features_rendered(m, s, 2, path, &t, err, sizeof err)) rc = 1;
            else if (t < f1) {
                snprintf(err, sizeof err, "scene %ld: %lld frames rendered, the conversation needs %lld", n,
                         (long long)t, (long long)f1);
                rc = 1;
            }
        } else if (!rc && m) {
            char vpath[512];
            snprintf(vpath, sizeof vpath, "%s/scene_%04ld.%s", out, n, codec == VLM_SYNTH_X264 ? "mp4" : "mkv");
            snprintf(path, plen, "%s/scene_%04ld.safetensors", out, n);
            int64_t t = 0;
            if (vlm_synth_write_features(m, vpath, dp.fps, 2, path, &t, err, sizeof err)) rc = 1;
            else if (t < f1) {
                snprintf(err, sizeof err, "%s: %lld frames decoded, the conversation needs %lld", vpath, (long long)t,
                         (long long)f1);
                rc = 1;
            }
        }
        if (!rc) {
            /* one line: the conversation without newlines */
            for (char *c = conv; *c; c++)
                if (*c == '\n') *c = ' ';
            fprintf(jf, "{\"conversation\": %s, \"features\": \"scene_%04ld.safetensors\", \"frames\": [%lld, %lld]}\n",
                    conv, n, (long long)f0, (long long)f1);
            fprintf(stderr, "synth: scene %ld/%ld: %zu events, %zu objects, frames [%lld, %lld)\n", n + 1, (long)scenes,
                    vlm_synth_n_events(s), vlm_synth_n_objects(s), (long long)f0, (long long)f1);
        } else {
            fprintf(stderr, "videollm synth: scene %ld: %s\n", n, err);
        }
        free(conv);
        free(ev);
        free(ticks);
        vlm_synth_free(s);
    }
    if (fclose(jf) != 0) { perror(jpath); rc = 1; }
    free(path);
    free(jpath);
    vlm_model_free(m);
    return rc;
}
