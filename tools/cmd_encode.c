/* cmd_encode.c - `videollm encode`: pre-extract the frame features of a video
 * for training and evaluation, as the original's feature pre-extraction does:
 * the video is sampled like `ffmpeg -r fps` and letterboxed by the stream's
 * reader (vlm_video), every sampled frame goes through the SigLIP tower
 * (vlm_vision_encode_rgb, before the connector), and the frame tokens are
 * written as one F32 safetensors tensor "features" [T, tokens_per_frame,
 * vision_hidden] with __metadata__ (fps, resolution, tokens_per_frame,
 * vision_hidden, model, video, frames). The data are streamed to a temporary
 * file next to the output (header space reserved, filled in at the end),
 * fsync'd and renamed, so an interrupted run never leaves a partial file under
 * the output name. Progress goes to stderr: a bar on a terminal, lines
 * otherwise (docs/training.md, "Pre-extracting features"). */
#include <errno.h>
#include <fcntl.h>
#include <libavformat/avformat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static int usage(FILE *f) {
    fprintf(f,
            "usage: videollm encode --model M.gguf --video V --out FEATURES.safetensors [--fps 2]\n"
            "                       [--max-frames N] [--threads 2] [--quiet]\n"
            "Samples the video like `ffmpeg -r FPS`, letterboxes each frame to the model's resolution and\n"
            "writes the vision tower's frame tokens (before the connector) as one F32 tensor \"features\"\n"
            "[T, tokens_per_frame, vision_hidden], with fps, resolution, tokens_per_frame, vision_hidden,\n"
            "model, video and frames in the safetensors __metadata__.\n");
    return f == stdout ? 0 : 2;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Expected number of sampled frames (duration * fps, rounded up), or -1 when
 * the container does not declare a duration. Only used for the progress bar. */
static int64_t expected_frames(const char *path, double fps) {
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0) return -1;
    int64_t n = -1;
    if (avformat_find_stream_info(fmt, NULL) >= 0 && fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
        double sec = (double)fmt->duration / AV_TIME_BASE;
        if (sec < 1e7) n = (int64_t)(sec * fps + 0.999);
    }
    avformat_close_input(&fmt);
    return n;
}

typedef struct {
    int tty, quiet;
    int64_t total; /* -1: unknown */
    double t0, last;
    int64_t last_line_frame;
} progress;

static void fmt_hms(double s, char *buf, size_t n) {
    long t = s > 0 && s < 1e8 ? (long)(s + 0.5) : 0;
    snprintf(buf, n, "%02ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static void progress_show(progress *p, int64_t done, int final) {
    if (p->quiet) return;
    double t = now_s(), el = t - p->t0, rate = el > 0 ? (double)done / el : 0;
    /* the duration is an estimate (the sampler may add a frame or two at the end) */
    int64_t total = p->total > 0 ? (final || done > p->total ? done : p->total) : -1;
    char eta[32] = "--:--:--";
    if (total > 0 && rate > 0) fmt_hms((double)(total - done) / rate, eta, sizeof eta);
    if (p->tty) {
        if (!final && t - p->last < 0.1) return;
        p->last = t;
        if (total > 0) {
            int w = 30, fill = (int)(w * done / total);
            char bar[32];
            for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
            bar[w] = 0;
            fprintf(stderr, "\rencode: [%s] %lld/%lld frames %.1f frames/s ETA %s\033[K", bar, (long long)done,
                    (long long)total, rate, eta);
        } else {
            fprintf(stderr, "\rencode: %lld frames %.1f frames/s\033[K", (long long)done, rate);
        }
        if (final) fputc('\n', stderr);
        return;
    }
    /* not a terminal: a line every 10% (or 100 frames without a total) and at the end */
    int64_t step = total > 0 ? (total + 9) / 10 : 100;
    if (final ? done == p->last_line_frame : done - p->last_line_frame < step) return;
    p->last_line_frame = done;
    if (total > 0)
        fprintf(stderr, "encode: %lld/%lld frames (%d%%) %.1f frames/s ETA %s\n", (long long)done, (long long)total,
                (int)(100 * done / total), rate, eta);
    else
        fprintf(stderr, "encode: %lld frames %.1f frames/s\n", (long long)done, rate);
}

/* Append s as a JSON string body (quotes not included) to buf[*len..cap). */
static int json_escape(const char *s, char *buf, size_t cap, size_t *len) {
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char tmp[8];
        int k;
        if (*c == '"' || *c == '\\') k = snprintf(tmp, sizeof tmp, "\\%c", *c);
        else if (*c < 0x20) k = snprintf(tmp, sizeof tmp, "\\u%04x", *c);
        else tmp[0] = (char)*c, tmp[1] = 0, k = 1;
        if (*len + (size_t)k >= cap) return 0;
        memcpy(buf + *len, tmp, (size_t)k);
        *len += (size_t)k;
    }
    buf[*len] = 0;
    return 1;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The safetensors header for T frames, padded with spaces to exactly cap
 * bytes (cap a multiple of 8). Returns 0 when it does not fit. */
static int make_header(char *hdr, size_t cap, int64_t t, int64_t k, int64_t d, double fps, int64_t res,
                       const char *model, const char *video) {
    size_t len = 0;
    uint64_t bytes = (uint64_t)t * (uint64_t)k * (uint64_t)d * sizeof(float);
    int w = snprintf(hdr, cap,
                     "{\"__metadata__\":{\"fps\":\"%.17g\",\"resolution\":\"%lld\",\"tokens_per_frame\":\"%lld\","
                     "\"vision_hidden\":\"%lld\",\"frames\":\"%lld\",\"model\":\"",
                     fps, (long long)res, (long long)k, (long long)d, (long long)t);
    if (w < 0 || (size_t)w >= cap) return 0;
    len = (size_t)w;
    if (!json_escape(model, hdr, cap, &len)) return 0;
    w = snprintf(hdr + len, cap - len, "\",\"video\":\"");
    if (w < 0 || (size_t)w >= cap - len) return 0;
    len += (size_t)w;
    if (!json_escape(video, hdr, cap, &len)) return 0;
    w = snprintf(hdr + len, cap - len,
                 "\"},\"features\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld,%lld],\"data_offsets\":[0,%llu]}}",
                 (long long)t, (long long)k, (long long)d, (unsigned long long)bytes);
    if (w < 0 || (size_t)w >= cap - len) return 0;
    len += (size_t)w;
    memset(hdr + len, ' ', cap - len);
    return 1;
}

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

static int num_arg(const char *a, const char *v, double lo, double hi, int whole, double *out) {
    char *e;
    errno = 0;
    double x = strtod(v, &e);
    if (e == v || *e || errno || !(x >= lo && x <= hi) || (whole && x != (double)(int64_t)x)) {
        fprintf(stderr, "encode: bad value '%s' for %s (want %s %g..%g)\n", v, a, whole ? "a whole number" : "",
                lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

int cmd_encode(int argc, char **argv) {
    const char *model_path = NULL, *video_path = NULL, *out_path = NULL;
    double fps = 2, max_frames = -1, threads = 2;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (strcmp(a, "--model") && strcmp(a, "--video") && strcmp(a, "--out") && strcmp(a, "--fps") &&
            strcmp(a, "--max-frames") && strcmp(a, "--threads")) {
            fprintf(stderr, "encode: unknown option '%s'\n", a);
            return usage(stderr);
        }
        if (i + 1 >= argc) { fprintf(stderr, "encode: %s needs a value\n", a); return usage(stderr); }
        const char *v = argv[++i];
        int ok = 1;
        if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--video")) video_path = v;
        else if (!strcmp(a, "--out")) out_path = v;
        else if (!strcmp(a, "--fps")) ok = num_arg(a, v, 0.01, 1000, 0, &fps);
        else if (!strcmp(a, "--max-frames")) ok = num_arg(a, v, 1, 1e12, 1, &max_frames);
        else ok = num_arg(a, v, 1, 256, 1, &threads);
        if (!ok) return 2;
    }
    if (!model_path || !video_path || !out_path) {
        fprintf(stderr, "encode: --model, --video and --out are required\n");
        return usage(stderr);
    }
    if (!strcmp(video_path, "-")) {
        fprintf(stderr, "encode: reading raw frames from stdin is not supported; give a video file\n");
        return 2;
    }
    struct stat sb;
    if (!strstr(video_path, "://") && stat(video_path, &sb) != 0) {
        fprintf(stderr, "encode: cannot open video %s: %s\n", video_path, strerror(errno));
        return 1;
    }

    char err[1024];
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    mp.load_tokenizer = false;
    if (vlm_model_load(model_path, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "encode: cannot load the model %s with its vision file: %s\n", model_path, err);
        return 1;
    }
    if (!vlm_model_has_vision(m)) {
        fprintf(stderr, "encode: %s has no vision tower (convert it with --vision)\n", model_path);
        vlm_model_free(m);
        return 1;
    }
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    const int64_t k = hp->frame_num_tokens, d = hp->v_n_embd, res = hp->frame_resolution;
    const size_t row = (size_t)(k * d); /* floats per frame: [k][d] */

    vlm_video_params vp = vlm_video_default_params();
    vp.fps = fps;
    vp.resolution = (int)res;
    vlm_video *v = NULL;
    vlm_vision_context *vis = NULL;
    vlm_vision_context_params cp = vlm_vision_context_default_params();
    cp.n_threads = (int32_t)threads;
    uint8_t *rgb = NULL;
    float *tok = NULL;
    char *tmp = NULL, *hdr = NULL;
    int fd = -1, rc = 1;
    int64_t t = 0;

    if (vlm_video_open(video_path, &vp, &v, err, sizeof err)) { fprintf(stderr, "encode: %s\n", err); goto done; }
    if (vlm_video_is_live(v)) {
        fprintf(stderr, "encode: %s is a live source; give a video file\n", video_path);
        goto done;
    }
    if (vlm_vision_context_init(m, &cp, &vis, err, sizeof err)) { fprintf(stderr, "encode: %s\n", err); goto done; }
    rgb = malloc((size_t)(res * res * 3));
    tok = malloc(row * sizeof *tok);
    size_t hcap = 512 + 6 * (strlen(model_path) + strlen(video_path));
    hcap = (hcap + 7) / 8 * 8; /* the data then start 8-byte aligned */
    hdr = malloc(hcap);
    size_t olen = strlen(out_path);
    tmp = malloc(olen + 32);
    if (!rgb || !tok || !hdr || !tmp) { fprintf(stderr, "encode: out of memory\n"); goto done; }
    snprintf(tmp, olen + 32, "%s.tmp.%ld", out_path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { fprintf(stderr, "encode: cannot create %s: %s\n", tmp, strerror(errno)); goto done; }
    /* reserve the header: u64 length + hcap bytes, filled in when T is known */
    memset(hdr, ' ', hcap);
    if (!write_all(fd, hdr, 8) || !write_all(fd, hdr, hcap)) goto io_fail;

    progress pr = {.tty = isatty(2), .quiet = quiet, .t0 = now_s(), .total = expected_frames(video_path, fps)};
    if (max_frames > 0 && (pr.total < 0 || pr.total > (int64_t)max_frames)) pr.total = (int64_t)max_frames;
    for (;;) {
        if (max_frames > 0 && t >= (int64_t)max_frames) break;
        int64_t idx;
        double time;
        vlm_status r = vlm_video_read(v, rgb, &idx, &time);
        if (r == VLM_END_OF_STREAM) break;
        if (r) {
            if (pr.tty && !quiet) fputc('\n', stderr);
            fprintf(stderr, "encode: %s: %s\n", video_path, vlm_video_last_error(v));
            goto done;
        }
        if (vlm_vision_encode_rgb(vis, rgb, tok)) { /* tok: [k][d] */
            fprintf(stderr, "\nencode: vision tower: %s\n", vlm_vision_last_error(vis));
            goto done;
        }
        if (!write_all(fd, tok, row * sizeof *tok)) goto io_fail; /* little endian (x86-64, aarch64) */
        t++;
        progress_show(&pr, t, 0);
    }
    progress_show(&pr, t, 1);
    if (t == 0) { fprintf(stderr, "encode: %s has no frames\n", video_path); goto done; }
    if (!make_header(hdr, hcap, t, k, d, fps, res, base_name(model_path), base_name(video_path))) {
        fprintf(stderr, "encode: header does not fit (path names too long)\n");
        goto done;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hcap >> (8 * i));
    if (lseek(fd, 0, SEEK_SET) != 0 || !write_all(fd, len8, 8) || !write_all(fd, hdr, hcap) || fsync(fd) != 0)
        goto io_fail;
    if (close(fd) != 0) { fd = -1; goto io_fail; }
    fd = -1;
    if (rename(tmp, out_path) != 0) {
        fprintf(stderr, "encode: cannot rename %s to %s: %s\n", tmp, out_path, strerror(errno));
        goto done;
    }
    if (!quiet)
        fprintf(stderr, "encode: wrote %s: features [%lld, %lld, %lld] F32 at %g fps\n", out_path, (long long)t,
                (long long)k, (long long)d, fps);
    rc = 0;
    goto done;
io_fail:
    fprintf(stderr, "encode: cannot write %s: %s\n", tmp, strerror(errno));
done:
    if (fd >= 0) close(fd);
    if (rc && tmp) unlink(tmp);
    free(tmp);
    free(hdr);
    free(tok);
    free(rgb);
    vlm_vision_context_free(vis);
    vlm_video_close(v);
    vlm_model_free(m);
    return rc;
}
