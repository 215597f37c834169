/* cmd_video.c - `videollm frames`: decode a video source the way the
 * streaming loop sees it (sampled at --fps, letterboxed RGB24) and write the
 * frames as raw RGB24 (or nothing), one JSON line per frame on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int usage(FILE *f) {
    fprintf(f,
            "usage: videollm frames --video SRC [--fps 2] [--resolution 384] [--format FMT] [--size WxH]\n"
            "                       [--max-frames N] [--realtime] [--out FILE.rgb]\n"
            "Decodes SRC (file, URL, /dev/videoN, or - for raw RGB24 on stdin with --size) at --fps,\n"
            "letterboxes each frame to RESOLUTIONxRESOLUTION and prints {\"index\",\"time\"} per frame;\n"
            "--out writes the frames as raw RGB24.\n");
    return f == stdout ? 0 : 2;
}

int cli_parse_size(const char *s, int *w, int *h) {
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X')) return 0;
    const char *b = end + 1;
    long c = strtol(b, &end, 10);
    if (end == b || *end || a <= 0 || c <= 0 || a > 16384 || c > 16384) return 0;
    *w = (int)a;
    *h = (int)c;
    return 1;
}

int cmd_frames(int argc, char **argv) {
    vlm_video_params p = vlm_video_default_params();
    const char *src = NULL, *outp = NULL;
    long long max_frames = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        else if (!strcmp(a, "--realtime")) p.realtime = true;
        else if (!val) { fprintf(stderr, "videollm frames: %s needs a value\n", a); return usage(stderr); }
        else if (!strcmp(a, "--video")) { src = val; i++; }
        else if (!strcmp(a, "--out")) { outp = val; i++; }
        else if (!strcmp(a, "--format")) { p.format = val; i++; }
        else if (!strcmp(a, "--fps")) { char *e; p.fps = strtod(val, &e); if (*e || e == val) { fprintf(stderr, "videollm frames: bad --fps '%s'\n", val); return 2; } i++; }
        else if (!strcmp(a, "--resolution")) { p.resolution = atoi(val); i++; }
        else if (!strcmp(a, "--max-frames")) { max_frames = atoll(val); i++; }
        else if (!strcmp(a, "--size")) {
            if (!cli_parse_size(val, &p.raw_width, &p.raw_height)) { fprintf(stderr, "videollm frames: bad --size '%s' (want WxH)\n", val); return 2; }
            i++;
        } else { fprintf(stderr, "videollm frames: unknown option '%s'\n", a); return usage(stderr); }
    }
    if (!src) { fprintf(stderr, "videollm frames: --video is required\n"); return usage(stderr); }
    char err[512];
    vlm_video *v;
    if (vlm_video_open(src, &p, &v, err, sizeof err) != VLM_OK) { fprintf(stderr, "videollm frames: %s\n", err); return 1; }
    FILE *out = NULL;
    if (outp && !(out = fopen(outp, "wb"))) { perror(outp); vlm_video_close(v); return 1; }
    size_t fsz = (size_t)p.resolution * p.resolution * 3;
    uint8_t *rgb = malloc(fsz);
    int rc = 0;
    long long count = 0;
    while (rgb && (max_frames < 0 || count < max_frames)) {
        int64_t idx;
        double t;
        vlm_status st = vlm_video_read(v, rgb, &idx, &t);
        if (st == VLM_END_OF_STREAM) break;
        if (st != VLM_OK) { fprintf(stderr, "videollm frames: %s\n", vlm_video_last_error(v)); rc = 1; break; }
        printf("{\"index\":%lld,\"time\":%.17g}\n", (long long)idx, t);
        if (out && fwrite(rgb, 1, fsz, out) != fsz) { perror(outp); rc = 1; break; }
        count++;
    }
    if (!rgb) { fprintf(stderr, "videollm frames: out of memory\n"); rc = 1; }
    free(rgb);
    if (out && fclose(out) != 0) { perror(outp); rc = 1; }
    vlm_video_close(v);
    return rc;
}
