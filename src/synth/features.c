/* features.c - frame features of synthetic scenes without FFmpeg: the
 * safetensors writer ([T, frame_num_tokens, v_n_embd] F32) and the features of
 * the renders a 2 fps stream samples (kept apart from output.c so that tools
 * which only need features do not link libav*). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "synth/synth.h"

/* safetensors: u64 LE header length, JSON header (padded with spaces to a
 * multiple of 8), raw little-endian data. */
vlm_status vlm_synth_write_features_file(const char *path, const float *data, int64_t t, int64_t k, int64_t d, char *err,
                                      size_t n) {
    size_t count = (size_t)t * (size_t)k * (size_t)d, bytes = count * sizeof(float);
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr,
                      "{\"features\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld,%lld],\"data_offsets\":[0,%zu]}}",
                      (long long)t, (long long)k, (long long)d, bytes);
    while (hl % 8) hdr[hl++] = ' ';
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 6);
    if (!tmp) return vlm_set_err(err, n, VLM_ERR_OOM, "synth: out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".part", 6);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        vlm_status st = vlm_set_err(err, n, VLM_ERR_IO, "synth: cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, (size_t)hl, f) == (size_t)hl &&
             fwrite(data, sizeof(float), count, f) == count; /* x86-64 / aarch64: little endian */
    ok = (fclose(f) == 0) && ok;
    vlm_status st = VLM_OK;
    if (!ok || rename(tmp, path) != 0) {
        st = vlm_set_err(err, n, VLM_ERR_IO, "synth: cannot write %s: %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return st;
}

/* The frames a 2 fps stream sees of a 2 fps lossless clip are the renders of
 * ticks 0, 5, 10, ... (docs/synth.md, "Video"), and at the model's resolution
 * the letterbox is the identity: encode those renders directly, without
 * writing and decoding a video. Equal, bit for bit, to
 * vlm_synth_write_features on the --fps-video 2 FFV1 clip (checked in
 * tests/conformance/synth_video.sh). */
vlm_status vlm_synth_write_features_rendered(const vlm_model *m, const vlm_synth_scene *s, int32_t n_threads,
                                             const char *out_path, int64_t *n_frames, char *err, size_t err_size) {
    if (!m || !s || !out_path)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: features: NULL argument");
    if (!vlm_model_has_vision(m))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: the model has no vision tower");
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    int64_t k = hp->frame_num_tokens, d = hp->v_n_embd, res = hp->frame_resolution;
    if (res != s->p.size)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "synth: rendered features need the scene size (%d) to equal the model's resolution (%lld)",
                           (int)s->p.size, (long long)res);
    const int64_t step = VLM_SYNTH_TICK_HZ / 2; /* ticks per frame at 2 fps */
    int64_t t = (int64_t)(s->p.seconds * 2 + 1e-9);
    if (t < 1) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: clip shorter than one frame");
    vlm_vision_context_params cp = vlm_vision_context_default_params();
    cp.n_threads = n_threads > 0 ? n_threads : 2;
    vlm_vision_context *vis = NULL;
    vlm_status st = vlm_vision_context_init(m, &cp, &vis, err, err_size);
    uint8_t *rgb = malloc((size_t)(res * res * 3));
    float *feat = malloc((size_t)t * (size_t)(k * d) * sizeof *feat);
    if (!st && (!rgb || !feat)) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "synth: out of memory (features)");
    for (int64_t r = 0; r < t && !st; r++) {
        int64_t tick = r * step;
        if (tick >= vlm_synth_n_ticks(s)) tick = vlm_synth_n_ticks(s) - 1;
        st = vlm_synth_render(s, tick, rgb);
        if (st) { st = vlm_set_err(err, err_size, st, "synth: cannot render tick %lld", (long long)tick); break; }
        vlm_status r2 = vlm_vision_encode_rgb(vis, rgb, feat + (size_t)r * (size_t)(k * d));
        if (r2) st = vlm_set_err(err, err_size, r2, "synth: vision tower: %s", vlm_vision_last_error(vis));
    }
    if (!st) st = vlm_synth_write_features_file(out_path, feat, t, k, d, err, err_size);
    if (!st && n_frames) *n_frames = t;
    free(feat);
    free(rgb);
    vlm_vision_context_free(vis);
    return st;
}
