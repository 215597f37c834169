/* cmd_stream.c - `videollm stream`: watch a video source and speak at the
 * right moments (the original demo/cli.py, for files, cameras and pipes). */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/util.h"

static int usage(FILE *f) {
    fprintf(f,
            "usage: videollm stream [--model PATH] --video SRC [--fps 2] [--threshold 0.725] [--system TEXT]\n"
            "                       [--query SECONDS:TEXT ...] [--max-frames N] [--ctx N] [--json]\n"
            "                       [--save history.json] [--format FMT] [--size WxH] [--realtime]\n"
            "                       [--threads N] [--max-new-tokens 100] [--kv-policy evict|unbounded]\n"
            "                       [--max-queue 16] [--no-pipeline]\n"
            "SRC is a file or URL, a camera such as /dev/video0, or - for raw RGB24 frames on stdin (--size).\n"
            "While a live source streams, each line typed on stdin is a query at the current video time.\n"
            "--model defaults to %s.\n",
            cli_default_model());
    return f == stdout ? 0 : 2;
}

static void json_str(FILE *f, const char *s, size_t len) {
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

typedef struct {
    char *role_content; /* formatted line, NULL for a plain frame entry */
    int role;           /* 0 none, 1 user, 2 assistant */
    double time, fps, cost;
} hist_entry;

typedef struct {
    bool json;
    FILE *out;
    /* history for --save */
    hist_entry *hist;
    size_t n_hist, cap_hist;
    /* per-iteration state */
    bool said_something;
    double now_video, fps_avg, cost;
    char *cur_line;
    size_t cur_len, cur_cap;
    int frames, responses;
} stream_ui;

static void hist_add(stream_ui *ui, int role, const char *line, size_t len) {
    if (ui->n_hist == ui->cap_hist) {
        size_t nc = ui->cap_hist ? ui->cap_hist * 2 : 64;
        hist_entry *nh = realloc(ui->hist, nc * sizeof *nh);
        if (!nh) return;
        ui->hist = nh;
        ui->cap_hist = nc;
    }
    hist_entry *e = &ui->hist[ui->n_hist++];
    e->role = role;
    e->role_content = NULL;
    if (line) {
        e->role_content = malloc(len + 1);
        if (e->role_content) { memcpy(e->role_content, line, len); e->role_content[len] = 0; }
    }
    e->time = ui->now_video;
    e->fps = ui->fps_avg;
    e->cost = ui->cost;
}

static void line_append(stream_ui *ui, const char *s, size_t n) {
    if (ui->cur_len + n + 1 > ui->cur_cap) {
        size_t nc = (ui->cur_len + n + 1) * 2;
        char *nb = realloc(ui->cur_line, nc);
        if (!nb) return;
        ui->cur_line = nb;
        ui->cur_cap = nc;
    }
    memcpy(ui->cur_line + ui->cur_len, s, n);
    ui->cur_len += n;
    ui->cur_line[ui->cur_len] = 0;
}

static void on_event(void *user, const vlm_event *ev) {
    stream_ui *ui = user;
    char t[64];
    vlm_format_pyfloat(ev->time, t, sizeof t);
    switch (ev->type) {
    case VLM_EVENT_FRAME:
        ui->frames++;
        if (ui->json) fprintf(ui->out, "{\"event\":\"frame\",\"time\":%s,\"index\":%lld,\"p_interval\":%.9g}\n", t,
                              (long long)ev->index, ev->p_interval);
        break;
    case VLM_EVENT_QUERY: {
        ui->cur_len = 0;
        char head[96];
        int hn = snprintf(head, sizeof head, "(Video Time = %ss) User: ", t);
        line_append(ui, head, (size_t)hn);
        line_append(ui, ev->text, ev->text_len);
        if (ui->json) {
            fprintf(ui->out, "{\"event\":\"query\",\"time\":%s,\"text\":", t);
            json_str(ui->out, ev->text, ev->text_len);
            fputs("}\n", ui->out);
        } else {
            fwrite(ui->cur_line, 1, ui->cur_len, ui->out);
            fputc('\n', ui->out);
        }
        hist_add(ui, 1, ui->cur_line, ui->cur_len);
        ui->said_something = true;
        break;
    }
    case VLM_EVENT_RESPONSE_START:
        ui->cur_len = 0;
        char head[96];
        int hn = snprintf(head, sizeof head, "(Video Time = %ss) Assistant:", t);
        line_append(ui, head, (size_t)hn);
        if (!ui->json) { fputs(head, ui->out); fflush(ui->out); }
        break;
    case VLM_EVENT_RESPONSE_TOKEN:
        if (!ui->json && ev->text_len) { fwrite(ev->text, 1, ev->text_len, ui->out); fflush(ui->out); }
        break;
    case VLM_EVENT_RESPONSE_END:
        ui->responses++;
        if (ui->json) {
            fprintf(ui->out, "{\"event\":\"response\",\"time\":%s,\"text\":", t);
            json_str(ui->out, ev->text, ev->text_len);
            fputs(",\"token_ids\":[", ui->out);
            for (size_t i = 0; i < ev->n_tokens; i++) fprintf(ui->out, "%s%d", i ? "," : "", ev->token_ids[i]);
            fputs("]}\n", ui->out);
        } else {
            fputc('\n', ui->out);
        }
        ui->cur_len = 0;
        {
            char head2[96];
            int hn2 = snprintf(head2, sizeof head2, "(Video Time = %ss) Assistant:", t);
            line_append(ui, head2, (size_t)hn2);
            line_append(ui, ev->text, ev->text_len);
        }
        hist_add(ui, 2, ui->cur_line, ui->cur_len);
        ui->said_something = true;
        break;
    case VLM_EVENT_DROPPED:
        if (ui->json) fprintf(ui->out, "{\"event\":\"dropped\",\"time\":%s,\"index\":%lld}\n", t, (long long)ev->index);
        else fprintf(stderr, "videollm stream: dropped frame %lld (%ss): the engine is behind the source\n",
                     (long long)ev->index, t);
        break;
    case VLM_EVENT_KV_EVICT:
        if (ui->json) fprintf(ui->out, "{\"event\":\"kv_evict\",\"positions\":%zu}\n", ev->n_tokens);
        break;
    }
    fflush(ui->out);
}

static int save_history(const stream_ui *ui, const char *path, const char *video, double fps) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) { fprintf(stderr, "videollm stream: cannot write %s: %s\n", tmp, strerror(errno)); return 1; }
    char fb[64];
    vlm_format_pyfloat(fps, fb, sizeof fb);
    fputs("{\n    \"video_path\": ", f);
    json_str(f, video, strlen(video));
    fprintf(f, ",\n    \"frame_fps\": %s,\n    \"conversation\": [", fb);
    for (size_t i = 0; i < ui->n_hist; i++) {
        const hist_entry *e = &ui->hist[i];
        char tb[64], pb[64], cb[64];
        vlm_format_pyfloat(e->time, tb, sizeof tb);
        vlm_format_pyfloat(e->fps, pb, sizeof pb);
        vlm_format_pyfloat(e->cost, cb, sizeof cb);
        fprintf(f, "%s\n        {\n", i ? "," : "");
        if (e->role) {
            fprintf(f, "            \"role\": \"%s\",\n            \"content\": ", e->role == 1 ? "user" : "assistant");
            const char *c = e->role_content ? e->role_content : "";
            json_str(f, c, strlen(c));
            fputs(",\n", f);
        }
        fprintf(f, "            \"time\": %s,\n            \"fps\": %s,\n            \"cost\": %s\n        }", tb, pb, cb);
    }
    fputs("\n    ]\n}\n", f);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "videollm stream: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Parse "SECONDS:TEXT"; on failure *why names the problem. */
static int parse_query(const char *s, double *t, const char **text, const char **why) {
    const char *colon = strchr(s, ':');
    if (!colon) { *why = "no ':' between the time and the text"; return 0; }
    if (colon == s) { *why = "no time before the ':'"; return 0; }
    char num[64];
    size_t n = (size_t)(colon - s);
    if (n >= sizeof num) { *why = "the time is too long"; return 0; }
    memcpy(num, s, n);
    num[n] = 0;
    char *end;
    double v = strtod(num, &end);
    if (*end || end == num) { *why = "the time is not a number of seconds"; return 0; }
    if (!isfinite(v) || v < 0) { *why = "the time must be a finite number >= 0"; return 0; }
    if (!colon[1]) { *why = "the query text is empty"; return 0; }
    *t = v;
    *text = colon + 1;
    return 1;
}

/* ---- the frame loop ------------------------------------------------------ */
typedef struct {
    vlm_session *s;
    vlm_video *v;
    stream_ui *ui;
    uint8_t *rgb;
    long long max_frames;
    bool stdin_queries, tty;
    long long steps;   /* step calls so far (history entries, fps) */
    double busy;       /* seconds spent in steps */
    char qline[4096];  /* a query being typed on stdin */
    size_t qlen;
    /* live sources: the reader thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long long pushed;  /* frames pushed by the reader */
    double last_time;  /* video time of the newest frame */
    bool reader_done, stop;
    vlm_status reader_st;
    char reader_err[1024];
} run_ctx;

/* Lines typed on stdin are queries at video time t. */
static void poll_queries(run_ctx *r, double t) {
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    while (r->stdin_queries && poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP))) {
        char c;
        if (read(0, &c, 1) != 1) { r->stdin_queries = false; break; }
        if (c == '\n') {
            r->qline[r->qlen] = 0;
            if (r->qlen) vlm_session_push_query(r->s, t, r->qline);
            r->qlen = 0;
        } else if (r->qlen + 1 < sizeof r->qline) {
            r->qline[r->qlen++] = c;
        }
    }
}

/* One step call with the original's history bookkeeping (one entry per call:
 * the user/assistant lines it printed, or a plain time/fps/cost entry). */
static vlm_status timed_step(run_ctx *r, double t, int64_t upto) {
    stream_ui *ui = r->ui;
    ui->said_something = false;
    ui->now_video = t;
    size_t hist_before = ui->n_hist;
    double t0 = now_s();
    vlm_status st = vlm_session_step_upto(r->s, upto);
    double cost = now_s() - t0;
    r->busy += cost;
    r->steps++;
    ui->cost = cost;
    ui->fps_avg = r->busy > 0 ? (double)r->steps / r->busy : 0;
    if (st != VLM_OK) {
        fprintf(stderr, "videollm stream: %s\n", vlm_session_last_error(r->s));
        return st;
    }
    if (!ui->said_something) hist_add(ui, 0, NULL, 0);
    for (size_t i = hist_before; i < ui->n_hist; i++) { ui->hist[i].fps = ui->fps_avg; ui->hist[i].cost = cost; }
    if (r->tty) fprintf(stderr, "\r[frames %lld | %.2f fps | video %.1fs | kv %d]   ", r->steps, ui->fps_avg, t,
                        vlm_session_kv_len(r->s));
    return VLM_OK;
}

/* A file: read frame k+1 and queue it (the session's worker encodes it) while
 * the LM runs frame k. The step calls are the sequential loop's (one per
 * frame, covering the frames up to it), so the events are the same. */
static int run_file(run_ctx *r) {
    int rc = 0;
    bool have_prev = false;
    int64_t prev_idx = 0;
    double prev_t = 0;
    for (long long count = 0; r->max_frames < 0 || count < r->max_frames; count++) {
        int64_t idx;
        double t;
        vlm_status st = vlm_video_read(r->v, r->rgb, &idx, &t);
        if (st == VLM_END_OF_STREAM) break;
        if (st != VLM_OK) { /* the frames read so far are still processed */
            fprintf(stderr, "videollm stream: %s\n", vlm_video_last_error(r->v));
            rc = 1;
            break;
        }
        if ((st = vlm_session_push_frame(r->s, r->rgb, t, idx)) != VLM_OK) {
            fprintf(stderr, "videollm stream: %s\n", vlm_session_last_error(r->s));
            return 1;
        }
        if (have_prev && timed_step(r, prev_t, prev_idx) != VLM_OK) return 1;
        have_prev = true;
        prev_idx = idx;
        prev_t = t;
    }
    if (have_prev && timed_step(r, prev_t, prev_idx) != VLM_OK) return 1;
    return rc;
}

/* Live sources: a reader thread pushes frames as they come; when the engine
 * falls behind, the session drops the oldest waiting frame (DROPPED events). */
static void *live_reader(void *arg) {
    run_ctx *r = arg;
    vlm_status st = VLM_OK;
    for (long long count = 0; r->max_frames < 0 || count < r->max_frames; count++) {
        int64_t idx;
        double t;
        st = vlm_video_read(r->v, r->rgb, &idx, &t);
        if (st == VLM_OK) st = vlm_session_push_frame(r->s, r->rgb, t, idx);
        if (st != VLM_OK) break;
        pthread_mutex_lock(&r->mu);
        r->pushed++;
        r->last_time = t;
        bool stop = r->stop;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        if (stop) break;
    }
    pthread_mutex_lock(&r->mu);
    r->reader_done = true;
    r->reader_st = st == VLM_END_OF_STREAM ? VLM_OK : st;
    if (r->reader_st)
        snprintf(r->reader_err, sizeof r->reader_err, "%s",
                 *vlm_video_last_error(r->v) ? vlm_video_last_error(r->v) : vlm_session_last_error(r->s));
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static int run_live(run_ctx *r) {
    if (pthread_mutex_init(&r->mu, NULL) || pthread_cond_init(&r->cv, NULL)) {
        fprintf(stderr, "videollm stream: cannot create a lock\n");
        return 1;
    }
    pthread_t th;
    int rc = 0;
    if (pthread_create(&th, NULL, live_reader, r)) {
        fprintf(stderr, "videollm stream: cannot start the reader thread\n");
        return 1;
    }
    long long seen = 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (r->pushed == seen && !r->reader_done) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
            if (r->pushed == seen && !r->reader_done && r->stdin_queries) break; /* look at stdin */
        }
        bool done = r->reader_done && r->pushed == seen;
        seen = r->pushed;
        double t = r->last_time;
        pthread_mutex_unlock(&r->mu);
        poll_queries(r, t);
        if (vlm_session_pending_frames(r->s) == 0) {
            if (done) break;
            continue;
        }
        if (timed_step(r, t, INT64_MAX) != VLM_OK) { rc = 1; break; }
    }
    pthread_mutex_lock(&r->mu); /* stop the reader: it ends after the frame it is reading */
    r->stop = true;
    pthread_mutex_unlock(&r->mu);
    pthread_join(th, NULL);
    if (r->reader_st != VLM_OK) {
        fprintf(stderr, "videollm stream: %s\n", r->reader_err);
        rc = 1;
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    return rc;
}

int cmd_stream(int argc, char **argv) {
    const char *model_path = NULL, *src = NULL, *save = NULL, *system = NULL, *kvp = NULL;
    vlm_video_params vp = vlm_video_default_params();
    vlm_session_params sp = vlm_session_default_params();
    long long max_frames = -1;
    bool json = false, fps_given = false, pipeline = true;
    const char **queries = NULL;
    size_t n_queries = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { free(queries); return usage(stdout); }
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (!strcmp(a, "--realtime")) { vp.realtime = true; continue; }
        if (!strcmp(a, "--no-pipeline")) { pipeline = false; continue; }
        if (!val) { fprintf(stderr, "videollm stream: %s needs a value\n", a); free(queries); return usage(stderr); }
        i++;
        char *end = NULL;
        if (!strcmp(a, "--model")) model_path = val;
        else if (!strcmp(a, "--video")) src = val;
        else if (!strcmp(a, "--save")) save = val;
        else if (!strcmp(a, "--system")) system = val;
        else if (!strcmp(a, "--format")) vp.format = val;
        else if (!strcmp(a, "--kv-policy")) kvp = val;
        else if (!strcmp(a, "--fps")) { vp.fps = strtod(val, &end); fps_given = true; }
        else if (!strcmp(a, "--threshold")) sp.threshold = strtof(val, &end);
        else if (!strcmp(a, "--max-frames")) max_frames = strtoll(val, &end, 10);
        else if (!strcmp(a, "--ctx")) sp.n_ctx = (int32_t)strtol(val, &end, 10);
        else if (!strcmp(a, "--threads")) sp.n_threads = (int32_t)strtol(val, &end, 10);
        else if (!strcmp(a, "--max-queue")) sp.max_queue = (int32_t)strtol(val, &end, 10);
        else if (!strcmp(a, "--max-new-tokens")) sp.max_new_tokens = (int32_t)strtol(val, &end, 10);
        else if (!strcmp(a, "--size")) {
            if (!cli_parse_size(val, &vp.raw_width, &vp.raw_height)) { fprintf(stderr, "videollm stream: bad --size '%s' (want WxH)\n", val); free(queries); return 2; }
        } else if (!strcmp(a, "--query")) {
            double t; const char *text, *why = "";
            if (!parse_query(val, &t, &text, &why)) {
                fprintf(stderr, "videollm stream: bad --query '%s': %s (want SECONDS:TEXT, e.g. 0:Please narrate the video in real time.)\n", val, why);
                free(queries);
                return 2;
            }
            const char **nq = realloc(queries, (n_queries + 1) * sizeof *nq);
            if (!nq) { free(queries); return 1; }
            queries = nq;
            queries[n_queries++] = val;
        } else { fprintf(stderr, "videollm stream: unknown option '%s'\n", a); free(queries); return usage(stderr); }
        if (end && (*end || end == val)) { fprintf(stderr, "videollm stream: bad value for %s: '%s'\n", a, val); free(queries); return 2; }
    }
    if (!src) { fprintf(stderr, "videollm stream: --video is required\n"); free(queries); return usage(stderr); }
    if (kvp) {
        if (!strcmp(kvp, "evict")) sp.kv_policy = VLM_KV_EVICT_FRAMES;
        else if (!strcmp(kvp, "unbounded")) sp.kv_policy = VLM_KV_UNBOUNDED;
        else { fprintf(stderr, "videollm stream: --kv-policy must be evict or unbounded\n"); free(queries); return 2; }
    }
    if (!model_path) model_path = cli_default_model();
    char err[1024];
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    if (vlm_model_load(model_path, &mp, &m, err, sizeof err) != VLM_OK) {
        fprintf(stderr, "videollm stream: %s\n", err);
        free(queries);
        return 1;
    }
    if (!fps_given) vp.fps = vlm_model_frame_fps(m) > 0 ? vlm_model_frame_fps(m) : 2.0;
    vp.resolution = vlm_model_frame_resolution(m);
    stream_ui ui = {.json = json, .out = stdout};
    sp.on_event = on_event;
    sp.user_data = &ui;
    sp.system_prompt = system;
    sp.pipeline = pipeline;
    vlm_session *s = NULL;
    vlm_video *v = NULL;
    uint8_t *rgb = NULL;
    if (vlm_session_init(m, &sp, &s, err, sizeof err) != VLM_OK) { fprintf(stderr, "videollm stream: %s\n", err); rc = 1; goto done; }
    for (size_t i = 0; i < n_queries; i++) {
        double t; const char *text, *why;
        parse_query(queries[i], &t, &text, &why);
        vlm_session_push_query(s, t, text);
    }
    if (vlm_video_open(src, &vp, &v, err, sizeof err) != VLM_OK) { fprintf(stderr, "videollm stream: %s\n", err); rc = 1; goto done; }
    rgb = malloc((size_t)vp.resolution * vp.resolution * 3);
    if (!rgb) { fprintf(stderr, "videollm stream: out of memory\n"); rc = 1; goto done; }
    run_ctx rcx = {.s = s, .v = v, .ui = &ui, .rgb = rgb, .max_frames = max_frames,
                   .stdin_queries = vlm_video_is_live(v) && strcmp(src, "-") != 0, .tty = isatty(2)};
    rc = vlm_video_is_live(v) ? run_live(&rcx) : run_file(&rcx);
    if (rcx.tty) fputc('\n', stderr);
done:
    if (save && s) rc |= save_history(&ui, save, src, vp.fps);
    for (size_t i = 0; i < ui.n_hist; i++) free(ui.hist[i].role_content);
    free(ui.hist);
    free(ui.cur_line);
    free(rgb);
    vlm_video_close(v);
    vlm_session_free(s);
    vlm_model_free(m);
    free(queries);
    return rc;
}
