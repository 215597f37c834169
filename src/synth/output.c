/* output.c - files of the synthetic world: the clip as a real video through
 * libavcodec/libavformat (FFV1 bgr0 in Matroska, lossless, or H.264 yuv420p
 * in MP4), and the frame features of a video as one safetensors tensor
 * [T, frame_num_tokens, v_n_embd] (F32) made by the model's vision tower. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <stdio.h>

#include "core/util.h"
#include "synth/synth.h"

static int64_t iabs_i64(int64_t v) { return v < 0 ? -v : v; }

static vlm_status av_err(char *err, size_t n, int rc, const char *what, const char *path) {
    char e[128];
    av_strerror(rc, e, sizeof e);
    return vlm_set_err(err, n, VLM_ERR_IO, "synth: %s (%s): %s", what, path, e);
}

/* Send one frame (or NULL to flush) and write every packet that comes out. */
static int encode_write(AVCodecContext *enc, AVFormatContext *fmt, AVStream *st, AVFrame *fr, AVPacket *pkt) {
    int rc = avcodec_send_frame(enc, fr);
    while (rc >= 0) {
        rc = avcodec_receive_packet(enc, pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return 0;
        if (rc < 0) return rc;
        av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
        pkt->stream_index = st->index;
        rc = av_interleaved_write_frame(fmt, pkt);
    }
    return rc;
}

vlm_status vlm_synth_write_video(const vlm_synth_scene *s, const char *path, int32_t fps_video,
                                 vlm_synth_codec codec, char *err, size_t err_size) {
    if (!s || !path) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: no scene or path");
    if (fps_video < 1 || fps_video > 60)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: fps_video must be in [1, 60], got %d",
                           fps_video);
    int64_t n_frames = (int64_t)(s->p.seconds * fps_video + 1e-9);
    if (n_frames < 1) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: clip shorter than one frame");
    int size = s->p.size;
    bool x264 = codec == VLM_SYNTH_X264;
    const AVCodec *c = avcodec_find_encoder_by_name(x264 ? "libx264" : "ffv1");
    if (!c)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "synth: FFmpeg has no %s encoder",
                           x264 ? "libx264" : "ffv1");
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 6);
    if (!tmp) return vlm_set_err(err, err_size, VLM_ERR_OOM, "synth: out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".part", 6);
    AVFormatContext *fmt = NULL;
    AVCodecContext *enc = NULL;
    AVFrame *fr = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    struct SwsContext *sws = NULL;
    uint8_t *rgb = malloc((size_t)size * size * 3);
    vlm_status st = VLM_OK;
    int rc = 0;
    bool opened = false, header = false;
#define AV_FAIL(what) do { st = av_err(err, err_size, rc, what, path); goto done; } while (0)
#define OOM_FAIL() do { st = vlm_set_err(err, err_size, VLM_ERR_OOM, "synth: out of memory"); goto done; } while (0)
    if (!fr || !pkt || !rgb) OOM_FAIL();
    rc = avformat_alloc_output_context2(&fmt, NULL, x264 ? "mp4" : "matroska", tmp);
    if (rc < 0 || !fmt) AV_FAIL("cannot create the container");
    AVStream *vs = avformat_new_stream(fmt, NULL);
    enc = avcodec_alloc_context3(c);
    if (!vs || !enc) OOM_FAIL();
    enc->width = size;
    enc->height = size;
    enc->time_base = (AVRational){1, fps_video};
    enc->framerate = (AVRational){fps_video, 1};
    enc->pix_fmt = x264 ? AV_PIX_FMT_YUV420P : AV_PIX_FMT_0RGB32; /* bgr0 in memory on little endian */
    enc->thread_count = 1;
    enc->flags |= AV_CODEC_FLAG_BITEXACT;
    fmt->flags |= AVFMT_FLAG_BITEXACT; /* no random segment id or dates: same seed, same bytes */
    enc->gop_size = x264 ? 2 * fps_video : 1;
    if (fmt->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (x264) {
        av_opt_set(enc->priv_data, "crf", "18", 0);
        av_opt_set(enc->priv_data, "preset", "medium", 0);
    }
    if ((rc = avcodec_open2(enc, c, NULL)) < 0) AV_FAIL("cannot open the encoder");
    if ((rc = avcodec_parameters_from_context(vs->codecpar, enc)) < 0) AV_FAIL("codec parameters");
    vs->time_base = enc->time_base;
    vs->avg_frame_rate = enc->framerate;
    if ((rc = avio_open(&fmt->pb, tmp, AVIO_FLAG_WRITE)) < 0) AV_FAIL("cannot create the file");
    opened = true;
    av_dict_set(&fmt->metadata, "comment", "videollm synth", 0);
    if ((rc = avformat_write_header(fmt, NULL)) < 0) AV_FAIL("cannot write the header");
    header = true;
    fr->format = enc->pix_fmt;
    fr->width = size;
    fr->height = size;
    if ((rc = av_frame_get_buffer(fr, 0)) < 0) AV_FAIL("frame buffer");
    sws = sws_getContext(size, size, AV_PIX_FMT_RGB24, size, size, enc->pix_fmt,
                         SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (!sws) OOM_FAIL();
    for (int64_t i = 0; i < n_frames; i++) {
        int64_t tick = i * VLM_SYNTH_TICK_HZ / fps_video;
        if (tick >= s->n_ticks) tick = s->n_ticks - 1;
        vlm_synth_render(s, tick, rgb);
        if ((rc = av_frame_make_writable(fr)) < 0) AV_FAIL("frame buffer");
        if (!x264) { /* exact: RGB24 -> bgr0 byte order by hand */
            for (int y = 0; y < size; y++) {
                uint8_t *d = fr->data[0] + (size_t)y * fr->linesize[0];
                const uint8_t *src = rgb + (size_t)y * size * 3;
                for (int x = 0; x < size; x++) {
                    d[4 * x] = src[3 * x + 2];
                    d[4 * x + 1] = src[3 * x + 1];
                    d[4 * x + 2] = src[3 * x];
                    d[4 * x + 3] = 0;
                }
            }
        } else {
            const uint8_t *srcp[1] = {rgb};
            int srcs[1] = {size * 3};
            sws_scale(sws, srcp, srcs, 0, size, fr->data, fr->linesize);
        }
        fr->pts = i;
        if ((rc = encode_write(enc, fmt, vs, fr, pkt)) < 0) AV_FAIL("encoding failed");
    }
    if ((rc = encode_write(enc, fmt, vs, NULL, pkt)) < 0) AV_FAIL("encoding failed");
    if ((rc = av_write_trailer(fmt)) < 0) AV_FAIL("cannot finish the file");
    header = false;
#undef AV_FAIL
#undef OOM_FAIL
done:
    if (header) av_write_trailer(fmt);
    if (opened) avio_closep(&fmt->pb);
    if (!st && rename(tmp, path) != 0)
        st = vlm_set_err(err, err_size, VLM_ERR_IO, "synth: cannot rename %s: %s", tmp, strerror(errno));
    if (st && opened) remove(tmp);
    sws_freeContext(sws);
    avcodec_free_context(&enc);
    avformat_free_context(fmt);
    av_frame_free(&fr);
    av_packet_free(&pkt);
    free(rgb);
    free(tmp);
    return st;
}

vlm_status vlm_synth_write_features(const vlm_model *m, const char *video_path, double fps, int32_t n_threads,
                                    const char *out_path, int64_t *n_frames, char *err, size_t err_size) {
    if (!m || !video_path || !out_path)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: features: NULL argument");
    if (!vlm_model_has_vision(m))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: the model has no vision tower");
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    int64_t k = hp->frame_num_tokens, d = hp->v_n_embd, res = hp->frame_resolution;
    vlm_video_params vp = vlm_video_default_params();
    vp.fps = fps;
    vp.resolution = (int)res;
    vlm_video *v = NULL;
    vlm_status st = vlm_video_open(video_path, &vp, &v, err, err_size);
    if (st) return st;
    vlm_vision_context_params cp = vlm_vision_context_default_params();
    cp.n_threads = n_threads > 0 ? n_threads : 2;
    vlm_vision_context *vis = NULL;
    st = vlm_vision_context_init(m, &cp, &vis, err, err_size);
    uint8_t *rgb = malloc((size_t)(res * res * 3));
    float *feat = NULL;
    size_t cap = 0, t = 0;
    if (!st && !rgb) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "synth: out of memory");
    while (!st) {
        int64_t idx;
        double time;
        vlm_status r = vlm_video_read(v, rgb, &idx, &time);
        if (r == VLM_END_OF_STREAM) break;
        if (r) { st = vlm_set_err(err, err_size, r, "synth: %s", vlm_video_last_error(v)); break; }
        if (t == cap) { /* [T][k][d] grows by doubling */
            size_t nc = cap ? cap * 2 : 64;
            float *nf = realloc(feat, nc * (size_t)(k * d) * sizeof *nf);
            if (!nf) { st = vlm_set_err(err, err_size, VLM_ERR_OOM, "synth: out of memory (features)"); break; }
            feat = nf;
            cap = nc;
        }
        r = vlm_vision_encode_rgb(vis, rgb, feat + t * (size_t)(k * d));
        if (r) { st = vlm_set_err(err, err_size, r, "synth: vision tower: %s", vlm_vision_last_error(vis)); break; }
        t++;
    }
    if (!st && t == 0) st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "synth: %s has no frames", video_path);
    if (!st) st = vlm_synth_write_features_file(out_path, feat, (int64_t)t, k, d, err, err_size);
    if (!st && n_frames) *n_frames = (int64_t)t;
    free(feat);
    free(rgb);
    vlm_vision_context_free(vis);
    vlm_video_close(v);
    return st;
}

vlm_status vlm_synth_sample_ticks(const vlm_synth_scene *s, const char *video_path, int32_t fps, int64_t **ticks,
                                  size_t *n, char *err, size_t err_size) {
    if (!s || !video_path || !ticks || !n)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: sample ticks: NULL argument");
    *ticks = NULL;
    *n = 0;
    if (fps < 1 || fps > VLM_SYNTH_TICK_HZ)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: fps must be in [1, %d]", VLM_SYNTH_TICK_HZ);
    vlm_video_params vp = vlm_video_default_params();
    vp.fps = fps;
    vp.resolution = s->p.size;
    vlm_video *v = NULL;
    vlm_status st = vlm_video_open(video_path, &vp, &v, err, err_size);
    if (st) return st;
    size_t fsz = (size_t)s->p.size * (size_t)s->p.size * 3;
    uint8_t *dec = malloc(fsz), *ren = malloc(fsz);
    int64_t *out = NULL;
    size_t cnt = 0, cap = 0;
    int64_t prev = 0;
    if (!dec || !ren) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "synth: out of memory");
    while (!st) {
        int64_t idx;
        double t;
        vlm_status r = vlm_video_read(v, dec, &idx, &t);
        if (r == VLM_END_OF_STREAM) break;
        if (r) { st = vlm_set_err(err, err_size, r, "synth: %s", vlm_video_last_error(v)); break; }
        if (cnt > (size_t)s->n_ticks * 4 + 64) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "synth: %s has more frames than the clip", video_path);
            break;
        }
        /* search ticks [prev, expected + 1 s]; the exact match closest to the expected tick wins */
        int64_t expected = (int64_t)cnt * VLM_SYNTH_TICK_HZ / fps;
        int64_t hi = expected + VLM_SYNTH_TICK_HZ;
        if (hi >= s->n_ticks) hi = s->n_ticks - 1;
        int64_t best = prev, exact = -1;
        uint64_t best_sad = UINT64_MAX;
        for (int64_t k = prev; k <= hi; k++) {
            vlm_synth_render(s, k, ren);
            uint64_t sad = 0;
            for (size_t i = 0; i < fsz && sad <= best_sad; i++) /* stop once it cannot win */
                sad += (uint64_t)(dec[i] > ren[i] ? dec[i] - ren[i] : ren[i] - dec[i]);
            if (sad == 0 && (exact < 0 || iabs_i64(k - expected) < iabs_i64(exact - expected))) exact = k;
            if (sad < best_sad) { best_sad = sad; best = k; }
        }
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 64;
            int64_t *no = realloc(out, nc * sizeof *no);
            if (!no) { st = vlm_set_err(err, err_size, VLM_ERR_OOM, "synth: out of memory"); break; }
            out = no;
            cap = nc;
        }
        out[cnt++] = prev = exact >= 0 ? exact : best;
    }
    if (!st && !cnt) st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "synth: %s has no frames", video_path);
    free(dec);
    free(ren);
    vlm_video_close(v);
    if (st) { free(out); return st; }
    *ticks = out;
    *n = cnt;
    return VLM_OK;
}

