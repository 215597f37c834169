/* rewrite.c - write a model pair (LM file + vision file) with some f32
 * tensors replaced and everything else copied (vlm_model_rewrite_pair).
 * Used by the tower calibration and the designed frame-difference heads:
 * both write the pair to NAME.tmp files and rename them only when both are
 * complete, so a failure never leaves half a pair. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "io/convert.h"
#include "io/gguf_rewrite.h"
#include "model/model.h"

/* Fill ts[0..n) with file f's tensors, those named in names[] taking vals[]
 * (each must be f32); found[k] counts the matches of names[k]. */
static vlm_status fill(const vlm_gguf *f, vlm_gguf_out_tensor *ts, const char *const *names, const float *const *vals,
                       size_t n_rep, int *found, char *err, size_t err_size) {
    const size_t n = vlm_gguf_n_tensors(f);
    for (size_t i = 0; i < n; i++) {
        ts[i].src = vlm_gguf_tensor_at(f, i), ts[i].val = NULL, ts[i].type = 0;
        for (size_t k = 0; k < n_rep; k++)
            if (!strcmp(ts[i].src->name, names[k])) {
                if (ts[i].src->type != VLM_DT_F32)
                    return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "%s: %s is %s, not f32", vlm_gguf_path(f),
                                       names[k], vlm_dtype_name(ts[i].src->type));
                ts[i].val = vals[k], ts[i].type = VLM_DT_F32, found[k]++;
            }
    }
    return VLM_OK;
}

vlm_status vlm_model_rewrite_pair(const vlm_model *m, const char *out_path, const char *const *names,
                                  const float *const *vals, size_t n_rep, char *err, size_t err_size) {
    if (!m->v_file || !m->lm_file)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "the model has no vision file");
    char *vpath = vlm_convert_vision_path(out_path);
    char *tmp_lm = vpath ? malloc(strlen(out_path) + 5) : NULL, *tmp_v = vpath ? malloc(strlen(vpath) + 5) : NULL;
    const size_t n_v = vlm_gguf_n_tensors(m->v_file), n_lm = vlm_gguf_n_tensors(m->lm_file);
    vlm_gguf_out_tensor *ts = calloc((n_v > n_lm ? n_v : n_lm) + 1, sizeof *ts);
    int *found = calloc(n_rep + 1, sizeof *found);
    vlm_status st = VLM_OK;
    if (!vpath || !tmp_lm || !tmp_v || !ts || !found) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto done;
    }
    snprintf(tmp_lm, strlen(out_path) + 5, "%s.tmp", out_path);
    snprintf(tmp_v, strlen(vpath) + 5, "%s.tmp", vpath);
    if ((st = fill(m->v_file, ts, names, vals, n_rep, found, err, err_size)) ||
        (st = vlm_gguf_rewrite(tmp_v, m->v_file, ts, n_v, NULL, 0, err, err_size)))
        goto done;
    if ((st = fill(m->lm_file, ts, names, vals, n_rep, found, err, err_size))) goto done;
    for (size_t k = 0; k < n_rep; k++)
        if (found[k] != 1) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s / %s: %s found %d times (expected once)",
                             vlm_gguf_path(m->lm_file), vlm_gguf_path(m->v_file), names[k], found[k]);
            goto done;
        }
    const char *vb = strrchr(vpath, '/');
    vlm_gguf_kv_override ov = {VLM_KV_VISION_FILE, true, vb ? vb + 1 : vpath, 0};
    if ((st = vlm_gguf_rewrite(tmp_lm, m->lm_file, ts, n_lm, &ov, 1, err, err_size))) goto done;
    if (rename(tmp_v, vpath) != 0) {
        st = vlm_set_err(err, err_size, VLM_ERR_IO, "cannot rename %s to %s", tmp_v, vpath);
    } else if (rename(tmp_lm, out_path) != 0) { /* never leave half a pair */
        st = vlm_set_err(err, err_size, VLM_ERR_IO, "cannot rename %s to %s", tmp_lm, out_path);
        unlink(vpath);
    }
done:
    if (st && tmp_v) unlink(tmp_v);
    if (st && tmp_lm) unlink(tmp_lm);
    free(found), free(ts), free(tmp_lm), free(tmp_v), free(vpath);
    return st;
}
