/* video.c - video sources through FFmpeg: files and URLs (libavformat),
 * cameras (libavdevice), raw RGB24 frames on stdin; frames are sampled like
 * `ffmpeg -r FPS` (see vsync.h) and letterboxed to RES x RES RGB24 with the
 * filter chain of the original preprocessing:
 *   scale='if(gt(iw,ih),RES,-2)':'if(gt(iw,ih),-2,RES)' (bicubic),
 *   pad=RES:RES:(ow-iw)/2:(oh-ih)/2:black, then RGB24.
 * libavfilter runs that chain, so pixels equal the ffmpeg command's. */
#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/time.h>
#include <math.h>
#include <pthread.h>

#include "core/util.h"
#include "io/vsync.h"

/* ---------------------------------------------------------------------- */
/* Letterbox filter graph                                                  */
/* ---------------------------------------------------------------------- */
typedef struct {
    AVFilterGraph *graph;
    AVFilterContext *src, *sink;
    int w, h, fmt;             /* input geometry the graph was built for */
    AVRational sar;
    int res;
} letterbox;

static void letterbox_free(letterbox *lb) {
    avfilter_graph_free(&lb->graph);
    lb->src = lb->sink = NULL;
}

static int letterbox_build(letterbox *lb, int w, int h, int fmt, AVRational sar, int res, char *err, size_t n) {
    letterbox_free(lb);
    lb->graph = avfilter_graph_alloc();
    if (!lb->graph) return vlm_set_err(err, n, VLM_ERR_OOM, "out of memory (filter graph)");
    /* the original passes -sws_flags bicubic: auto-inserted scalers use it too */
    lb->graph->scale_sws_opts = av_strdup("flags=bicubic");
    lb->graph->nb_threads = 1;
    if (!sar.num || !sar.den) sar = (AVRational){1, 1};
    char args[256];
    snprintf(args, sizeof args, "video_size=%dx%d:pix_fmt=%d:time_base=1/1000:pixel_aspect=%d/%d", w, h, fmt,
             sar.num, sar.den);
    char chain[512];
    snprintf(chain, sizeof chain,
             "scale='if(gt(iw,ih),%d,-2)':'if(gt(iw,ih),-2,%d)',pad=%d:%d:(ow-iw)/2:(oh-ih)/2:color='#000000',"
             "format=rgb24",
             res, res, res, res);
    AVFilterInOut *outputs = NULL, *inputs = NULL;
    int rc = avfilter_graph_create_filter(&lb->src, avfilter_get_by_name("buffer"), "in", args, NULL, lb->graph);
    if (rc >= 0)
        rc = avfilter_graph_create_filter(&lb->sink, avfilter_get_by_name("buffersink"), "out", NULL, NULL,
                                          lb->graph);
    if (rc >= 0) {
        outputs = avfilter_inout_alloc();
        inputs = avfilter_inout_alloc();
        if (!outputs || !inputs) rc = AVERROR(ENOMEM);
    }
    if (rc >= 0) {
        outputs->name = av_strdup("in");
        outputs->filter_ctx = lb->src;
        inputs->name = av_strdup("out");
        inputs->filter_ctx = lb->sink;
        rc = avfilter_graph_parse_ptr(lb->graph, chain, &inputs, &outputs, NULL);
    }
    if (rc >= 0) rc = avfilter_graph_config(lb->graph, NULL);
    avfilter_inout_free(&inputs);
    avfilter_inout_free(&outputs);
    if (rc < 0) {
        char e[128];
        av_strerror(rc, e, sizeof e);
        letterbox_free(lb);
        return vlm_set_err(err, n, VLM_ERR_FORMAT, "cannot set up the letterbox filter for %dx%d frames: %s", w, h, e);
    }
    lb->w = w;
    lb->h = h;
    lb->fmt = fmt;
    lb->sar = sar;
    lb->res = res;
    return VLM_OK;
}

/* Letterbox one decoded frame into out (res*res*3). */
static int letterbox_run(letterbox *lb, AVFrame *in, AVFrame *tmp, int res, uint8_t *out, char *err, size_t n) {
    if (!lb->graph || lb->w != in->width || lb->h != in->height || lb->fmt != in->format || lb->res != res ||
        av_cmp_q(lb->sar, in->sample_aspect_ratio.num ? in->sample_aspect_ratio : (AVRational){1, 1})) {
        int st = letterbox_build(lb, in->width, in->height, in->format, in->sample_aspect_ratio, res, err, n);
        if (st) return st;
    }
    int64_t saved = in->pts;
    in->pts = 0;
    int rc = av_buffersrc_add_frame_flags(lb->src, in, AV_BUFFERSRC_FLAG_KEEP_REF);
    in->pts = saved;
    if (rc >= 0) rc = av_buffersink_get_frame(lb->sink, tmp);
    if (rc < 0) {
        char e[128];
        av_strerror(rc, e, sizeof e);
        return vlm_set_err(err, n, VLM_ERR_FORMAT, "letterbox filter failed: %s", e);
    }
    if (tmp->width != res || tmp->height != res || tmp->format != AV_PIX_FMT_RGB24) {
        av_frame_unref(tmp);
        return vlm_set_err(err, n, VLM_ERR_FORMAT, "letterbox filter gave %dx%d, expected %dx%d", tmp->width,
                           tmp->height, res, res);
    }
    for (int y = 0; y < res; y++) memcpy(out + (size_t)y * res * 3, tmp->data[0] + (size_t)y * tmp->linesize[0], (size_t)res * 3);
    av_frame_unref(tmp);
    return VLM_OK;
}

/* ---------------------------------------------------------------------- */
/* Source                                                                  */
/* ---------------------------------------------------------------------- */
struct vlm_video {
    vlm_video_params p;
    bool live, raw_stdin, eof, flushed, decoder_drained;
    char err[512];
    /* FFmpeg sources */
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int stream;
    AVPacket *pkt;
    AVFrame *frame, *prev, *tmp;
    bool have_prev;
    bool shift_pending; /* move frame -> prev once the pending copies are out */
    int64_t start_pts; /* file start time in stream time base (subtracted, as ffmpeg does) */
    double duration;   /* one input frame in output periods (ffmpeg's estimate) */
    vlm_vsync vs;
    /* frames decided but not yet returned: n_prev copies of prev, then n_cur of frame */
    int64_t pend_prev, pend_cur;
    int64_t next_index;
    letterbox lb;
    int64_t t0_us; /* wall clock at open, for --realtime */
    /* truncation check: where the video packets stop vs. the duration the container declares */
    int64_t pkt_end_us;     /* max end time of the video packets read, from the file start */
    bool truncated;         /* reported after the frames decoded so far */
    /* raw stdin */
    uint8_t *raw;
    size_t raw_size;
    FILE *raw_in;
    uint64_t raw_bytes;
};

vlm_video_params vlm_video_default_params(void) {
    vlm_video_params p = {0};
    p.fps = 2.0;
    p.resolution = 384;
    return p;
}

const char *vlm_video_last_error(const vlm_video *v) { return v ? v->err : ""; }
bool vlm_video_is_live(const vlm_video *v) { return v && v->live; }

static pthread_once_t av_once = PTHREAD_ONCE_INIT;
static void av_init_once(void) {
    avdevice_register_all();
    av_log_set_level(AV_LOG_QUIET);
}

static vlm_status av_fail(char *err, size_t n, int rc, const char *what, const char *src) {
    char e[128];
    av_strerror(rc, e, sizeof e);
    if (rc == AVERROR_EOF) snprintf(e, sizeof e, "the file ends before any video data (empty or truncated)");
    return vlm_set_err(err, n, rc == AVERROR(ENOENT) ? VLM_ERR_IO : VLM_ERR_FORMAT, "%s: %s: %s", src, what, e);
}

void vlm_video_close(vlm_video *v) {
    if (!v) return;
    letterbox_free(&v->lb);
    av_packet_free(&v->pkt);
    av_frame_free(&v->frame);
    av_frame_free(&v->prev);
    av_frame_free(&v->tmp);
    avcodec_free_context(&v->dec);
    avformat_close_input(&v->fmt);
    free(v->raw);
    free(v);
}

vlm_status vlm_video_open(const char *src, const vlm_video_params *pp, vlm_video **out, char *err, size_t n) {
    *out = NULL;
    vlm_video_params p = pp ? *pp : vlm_video_default_params();
    if (!src || !*src) return vlm_set_err(err, n, VLM_ERR_INVALID_ARG, "no video source given");
    if (!(p.fps > 0 && p.fps <= 1000)) return vlm_set_err(err, n, VLM_ERR_INVALID_ARG, "fps must be in (0, 1000], got %g", p.fps);
    if (p.resolution < 16 || p.resolution > 4096)
        return vlm_set_err(err, n, VLM_ERR_INVALID_ARG, "resolution must be in [16, 4096], got %d", p.resolution);
    pthread_once(&av_once, av_init_once);
    vlm_video *v = calloc(1, sizeof *v);
    if (!v) return vlm_set_err(err, n, VLM_ERR_OOM, "out of memory");
    v->p = p;
    v->frame = av_frame_alloc();
    v->prev = av_frame_alloc();
    v->tmp = av_frame_alloc();
    v->pkt = av_packet_alloc();
    v->t0_us = av_gettime_relative();
    if (!v->frame || !v->prev || !v->tmp || !v->pkt) { vlm_video_close(v); return vlm_set_err(err, n, VLM_ERR_OOM, "out of memory"); }

    if (strcmp(src, "-") == 0) {
        if (p.raw_width <= 0 || p.raw_height <= 0 || p.raw_width > 16384 || p.raw_height > 16384) {
            vlm_video_close(v);
            return vlm_set_err(err, n, VLM_ERR_INVALID_ARG,
                               "raw frames on stdin need a size (--size WxH, each side 1..16384)");
        }
        v->raw_stdin = true;
        v->live = true;
        v->raw_in = stdin;
        v->raw_size = (size_t)p.raw_width * (size_t)p.raw_height * 3;
        v->raw = malloc(v->raw_size);
        if (!v->raw) { vlm_video_close(v); return vlm_set_err(err, n, VLM_ERR_OOM, "out of memory"); }
        *out = v;
        return VLM_OK;
    }

    const AVInputFormat *ifmt = NULL;
    const char *fmt_name = p.format;
    if (!fmt_name && strncmp(src, "/dev/video", 10) == 0) fmt_name = "v4l2";
    if (fmt_name) {
        ifmt = av_find_input_format(fmt_name);
        if (!ifmt) { vlm_video_close(v); return vlm_set_err(err, n, VLM_ERR_INVALID_ARG, "unknown input format '%s'", fmt_name); }
    }
    int rc = avformat_open_input(&v->fmt, src, ifmt, NULL);
    if (rc < 0) {
        vlm_status st = av_fail(err, n, rc, fmt_name && !strcmp(fmt_name, "v4l2") ? "cannot open camera" : "cannot open", src);
        vlm_video_close(v);
        return st;
    }
    v->live = (v->fmt->iformat->flags & AVFMT_NOFILE) || !strcmp(v->fmt->iformat->name, "video4linux2,v4l2") ||
              strncmp(src, "pipe:", 5) == 0 || strstr(src, "://") != NULL;
    rc = avformat_find_stream_info(v->fmt, NULL);
    if (rc < 0) { vlm_status st = av_fail(err, n, rc, "cannot read stream info", src); vlm_video_close(v); return st; }
    const AVCodec *codec = NULL;
    rc = av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (rc < 0) {
        vlm_video_close(v);
        return vlm_set_err(err, n, VLM_ERR_FORMAT, "%s: no decodable video stream", src);
    }
    v->stream = rc;
    AVStream *st = v->fmt->streams[v->stream];
    v->dec = avcodec_alloc_context3(codec);
    if (!v->dec) { vlm_video_close(v); return vlm_set_err(err, n, VLM_ERR_OOM, "out of memory"); }
    avcodec_parameters_to_context(v->dec, st->codecpar);
    v->dec->thread_count = 1;
    rc = avcodec_open2(v->dec, codec, NULL);
    if (rc < 0) { vlm_status s = av_fail(err, n, rc, "cannot open decoder", src); vlm_video_close(v); return s; }

    /* ffmpeg shifts timestamps so the file starts at 0 */
    v->start_pts = 0;
    if (v->fmt->start_time != AV_NOPTS_VALUE) v->start_pts = av_rescale_q(v->fmt->start_time, AV_TIME_BASE_Q, st->time_base);
    /* input frame duration in output periods, as ffmpeg estimates it (capped at one period) */
    AVRational fr = av_guess_frame_rate(v->fmt, st, NULL);
    v->duration = 0;
    if (fr.num > 0 && fr.den > 0) v->duration = p.fps / av_q2d(fr);
    if (st->start_time != AV_NOPTS_VALUE && v->duration > 1.0) v->duration = 1.0;
    /* the original writes mp4: constant rate, and "VSCFR" when the input has one stream */
    vlm_vsync_init(&v->vs, v->fmt->nb_streams == 1);
    *out = v;
    return VLM_OK;
}

/* Output period position of a decoded frame, computed as ffmpeg does
 * (rescaled with 16 extra bits, nudged off exact midpoints). */
static double frame_position(const vlm_video *v, const AVFrame *f, bool *ok) {
    int64_t pts = f->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE) pts = f->pts;
    if (pts == AV_NOPTS_VALUE) { *ok = false; return 0; }
    *ok = true;
    AVRational stb = v->fmt->streams[v->stream]->time_base;
    AVRational fps = av_d2q(v->p.fps, 1000000);
    AVRational tb = {fps.den, fps.num};
    int extra = 29 - av_log2(tb.den);
    if (extra < 0) extra = 0;
    if (extra > 16) extra = 16;
    AVRational tbx = {tb.num, tb.den << extra};
    double x = (double)(av_rescale_q(pts, stb, tbx) - av_rescale_q(v->start_pts, stb, tbx));
    x /= (double)(1 << extra);
    x += (x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0) / (1 << 17);
    return x;
}

/* At the end of the demuxed data of a file: if the container declares a
 * duration and the video packets stop well short of it (more than 1 s and
 * 10% early), the file was cut; the error is returned after the frames
 * decoded so far. */
static void check_truncated(vlm_video *v) {
    if (v->live) return;
    AVStream *st = v->fmt->streams[v->stream];
    int64_t dur_us = AV_NOPTS_VALUE;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0) dur_us = av_rescale_q(st->duration, st->time_base, AV_TIME_BASE_Q);
    else if (v->fmt->duration != AV_NOPTS_VALUE && v->fmt->duration > 0) dur_us = v->fmt->duration;
    if (dur_us == AV_NOPTS_VALUE) return;
    int64_t tol = dur_us / 10 > AV_TIME_BASE ? dur_us / 10 : AV_TIME_BASE;
    if (v->pkt_end_us + tol >= dur_us) return;
    v->truncated = true;
    vlm_set_err(v->err, sizeof v->err, VLM_ERR_FORMAT,
                "%s: the file ends early: video data stops at %.2f s of the %.2f s the container declares "
                "(truncated or damaged file)",
                v->fmt->url, (double)v->pkt_end_us / AV_TIME_BASE, (double)dur_us / AV_TIME_BASE);
}

/* The end of a file: the truncation error once (message set by
 * check_truncated), then VLM_END_OF_STREAM. */
static vlm_status end_status(vlm_video *v) {
    if (!v->truncated) return VLM_END_OF_STREAM;
    v->truncated = false;
    return VLM_ERR_FORMAT;
}

static void pace(vlm_video *v, int64_t index) {
    if (!v->p.realtime || v->live) return;
    int64_t due = v->t0_us + (int64_t)(1e6 * (double)index / v->p.fps);
    int64_t now = av_gettime_relative();
    if (due > now) av_usleep((unsigned)(due - now));
}

static vlm_status emit(vlm_video *v, AVFrame *f, uint8_t *rgb, int64_t *index, double *time) {
    int st = letterbox_run(&v->lb, f, v->tmp, v->p.resolution, rgb, v->err, sizeof v->err);
    if (st) return st;
    *index = v->next_index;
    *time = (double)v->next_index / v->p.fps;
    pace(v, v->next_index);
    v->next_index++;
    return VLM_OK;
}

static vlm_status read_raw(vlm_video *v, uint8_t *rgb, int64_t *index, double *time) {
    if (v->eof) return VLM_END_OF_STREAM;
    size_t got = fread(v->raw, 1, v->raw_size, v->raw_in);
    v->raw_bytes += got;
    if (got == 0 && feof(v->raw_in)) { v->eof = true; return VLM_END_OF_STREAM; }
    if (got != v->raw_size) {
        v->eof = true;
        return vlm_set_err(v->err, sizeof v->err, VLM_ERR_FORMAT,
                           "stdin: truncated raw frame %lld: got %zu of %zu bytes (%dx%d RGB24)",
                           (long long)v->next_index, got, v->raw_size, v->p.raw_width, v->p.raw_height);
    }
    AVFrame *f = v->frame;
    av_frame_unref(f);
    f->width = v->p.raw_width;
    f->height = v->p.raw_height;
    f->format = AV_PIX_FMT_RGB24;
    f->data[0] = v->raw;
    f->linesize[0] = v->p.raw_width * 3;
    vlm_status st = emit(v, f, rgb, index, time);
    f->data[0] = NULL;
    return st;
}

vlm_status vlm_video_read(vlm_video *v, uint8_t *rgb, int64_t *index, double *time) {
    if (!v || !rgb || !index || !time) return VLM_ERR_INVALID_ARG;
    if (v->raw_stdin) return read_raw(v, rgb, index, time);
    for (;;) {
        if (v->pend_prev > 0) {
            v->pend_prev--;
            return emit(v, v->prev, rgb, index, time);
        }
        if (v->pend_cur > 0) {
            v->pend_cur--;
            vlm_status st = emit(v, v->frame, rgb, index, time);
            if (v->pend_cur == 0) { /* this frame becomes the previous one */
                av_frame_unref(v->prev);
                av_frame_move_ref(v->prev, v->frame);
                v->have_prev = true;
            }
            return st;
        }
        if (v->shift_pending) {
            av_frame_unref(v->prev);
            av_frame_move_ref(v->prev, v->frame);
            v->have_prev = true;
            v->shift_pending = false;
        }
        if (v->flushed) return end_status(v);
        /* decode the next frame */
        int rc = v->decoder_drained ? AVERROR_EOF : avcodec_receive_frame(v->dec, v->frame);
        if (rc == AVERROR(EAGAIN)) {
            if (v->eof) {
                avcodec_send_packet(v->dec, NULL);
                v->decoder_drained = false;
                continue;
            }
            rc = av_read_frame(v->fmt, v->pkt);
            if (rc == AVERROR_EOF || (rc < 0 && avio_feof(v->fmt->pb))) {
                v->eof = true;
                check_truncated(v);
                avcodec_send_packet(v->dec, NULL);
                continue;
            }
            if (rc < 0) {
                v->flushed = true;
                return av_fail(v->err, sizeof v->err, rc, "read error", v->fmt->url);
            }
            if (v->pkt->stream_index == v->stream) {
                int64_t ts = v->pkt->pts != AV_NOPTS_VALUE ? v->pkt->pts : v->pkt->dts;
                if (ts != AV_NOPTS_VALUE) {
                    AVRational stb = v->fmt->streams[v->stream]->time_base;
                    int64_t end = ts - v->start_pts + (v->pkt->duration > 0 ? v->pkt->duration : 0);
                    int64_t end_us = av_rescale_q(end, stb, AV_TIME_BASE_Q);
                    if (end_us > v->pkt_end_us) v->pkt_end_us = end_us;
                }
                rc = avcodec_send_packet(v->dec, v->pkt);
                av_packet_unref(v->pkt);
                if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_INVALIDDATA) {
                    v->flushed = true;
                    return av_fail(v->err, sizeof v->err, rc, "decode error", v->fmt->url);
                }
            } else {
                av_packet_unref(v->pkt);
            }
            continue;
        }
        if (rc == AVERROR_EOF) {
            v->decoder_drained = true;
            /* end: ffmpeg repeats the last frame by the median of recent duplication counts */
            if (v->have_prev) v->pend_prev = vlm_vsync_flush(&v->vs);
            v->flushed = true;
            if (v->pend_prev > 0) continue;
            if (v->next_index == 0)
                return vlm_set_err(v->err, sizeof v->err, VLM_ERR_FORMAT, "%s: the video has no decodable frames",
                                   v->fmt->url);
            return end_status(v);
        }
        if (rc < 0) {
            v->flushed = true;
            return av_fail(v->err, sizeof v->err, rc, "decode error", v->fmt->url);
        }
        bool ok;
        double pos = frame_position(v, v->frame, &ok);
        if (!ok) pos = (double)v->vs.next_index; /* no timestamp: treat as on time */
        int64_t n_prev, n_total;
        vlm_vsync_push(&v->vs, pos, v->duration, &n_prev, &n_total);
        if (!v->have_prev) n_prev = 0;
        v->pend_prev = n_prev;
        v->pend_cur = n_total - n_prev;
        if (v->pend_cur <= 0) { /* dropped (or only the previous frame repeated) */
            v->pend_cur = 0;
            v->shift_pending = true;
        }
    }
}
