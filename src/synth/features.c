/* features.c - frame features of synthetic scenes without FFmpeg: the
 * safetensors writer ([T, frame_num_tokens, v_n_embd] F32) and the features of
 * the renders a 2 fps stream samples (kept apart from output.c so that tools
 * which only need features do not link libav*). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/safetensors_write.h"
#include "synth/synth.h"

/* One tensor through the shared safetensors writer (io/safetensors_write.h:
 * PATH.part, renamed when complete). */
vlm_status vlm_synth_write_features_file(const char *path, const float *data, int64_t t, int64_t k, int64_t d, char *err,
                                         size_t n) {
    vlm_stw_tensor ts = {"features", VLM_ST_F32, 3, {t, k, d}};
    char e[512];
    vlm_status st = vlm_stw_save_f32(path, &ts, data, e, sizeof e);
    return st ? vlm_set_err(err, n, st, "synth: %s", e) : VLM_OK;
}

int64_t vlm_synth_n_stream_frames(const vlm_synth_scene *s) { return s ? (int64_t)(s->p.seconds * 2 + 1e-9) : 0; }

vlm_status vlm_synth_render_stream_frame(const vlm_synth_scene *s, int64_t r, uint8_t *rgb) {
    if (!s || !rgb || r < 0) return VLM_ERR_INVALID_ARG;
    int64_t tick = r * (VLM_SYNTH_TICK_HZ / 2); /* ticks per frame at 2 fps */
    if (tick >= vlm_synth_n_ticks(s)) tick = vlm_synth_n_ticks(s) - 1;
    return vlm_synth_render(s, tick, rgb);
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
    const int64_t t = vlm_synth_n_stream_frames(s);
    if (t < 1) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "synth: clip shorter than one frame");
    vlm_vision_context_params cp = vlm_vision_context_default_params();
    cp.n_threads = n_threads > 0 ? n_threads : 2;
    vlm_vision_context *vis = NULL;
    vlm_status st = vlm_vision_context_init(m, &cp, &vis, err, err_size);
    uint8_t *rgb = malloc((size_t)(res * res * 3));
    float *feat = malloc((size_t)t * (size_t)(k * d) * sizeof *feat);
    if (!st && (!rgb || !feat)) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "synth: out of memory (features)");
    for (int64_t r = 0; r < t && !st; r++) {
        st = vlm_synth_render_stream_frame(s, r, rgb);
        if (st) { st = vlm_set_err(err, err_size, st, "synth: cannot render frame %lld", (long long)r); break; }
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
