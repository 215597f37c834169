/* gguf_rewrite.c - a copy of a GGUF file with some tensors replaced (see gguf_rewrite.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/gguf_rewrite.h"
#include "ops/quant.h"

/* Every key/value of g into w (general.alignment is the writer's own), with overrides. */
static vlm_status copy_kvs(vlm_gguf_writer *w, const vlm_gguf *g, const vlm_gguf_kv_override *ov, size_t n_ov, char *err,
                           size_t err_size) {
    char e2[256];
    for (size_t i = 0; i < vlm_gguf_n_kv(g); i++) {
        const char *key = vlm_gguf_key_at(g, i);
        if (!strcmp(key, "general.alignment")) continue;
        const vlm_gguf_kv_override *o = NULL;
        for (size_t j = 0; j < n_ov; j++)
            if (!strcmp(ov[j].key, key)) o = &ov[j];
        vlm_status st = VLM_OK, rs = VLM_OK;
        if (o) {
            st = o->is_str ? vlm_gguf_set_str(w, key, o->s) : vlm_gguf_set_u32(w, key, o->u);
        } else {
            vlm_gguf_type ty = vlm_gguf_kv_type(g, i);
            switch (ty) {
            case VLM_GGUF_UINT32: {
                uint32_t v;
                if (!(rs = vlm_gguf_get_u32(g, key, &v, e2, sizeof e2))) st = vlm_gguf_set_u32(w, key, v);
                break;
            }
            case VLM_GGUF_INT32:
            case VLM_GGUF_UINT64: {
                int64_t v;
                if (!(rs = vlm_gguf_get_i64(g, key, &v, e2, sizeof e2)))
                    st = ty == VLM_GGUF_INT32 ? vlm_gguf_set_i32(w, key, (int32_t)v)
                                              : vlm_gguf_set_u64(w, key, (uint64_t)v);
                break;
            }
            case VLM_GGUF_FLOAT32: {
                float v;
                if (!(rs = vlm_gguf_get_f32(g, key, &v, e2, sizeof e2))) st = vlm_gguf_set_f32(w, key, v);
                break;
            }
            case VLM_GGUF_BOOL: {
                bool v;
                if (!(rs = vlm_gguf_get_bool(g, key, &v, e2, sizeof e2))) st = vlm_gguf_set_bool(w, key, v);
                break;
            }
            case VLM_GGUF_STRING: {
                const char *v;
                size_t len;
                if (!(rs = vlm_gguf_get_str(g, key, &v, &len, e2, sizeof e2))) st = vlm_gguf_set_str_n(w, key, v, len);
                break;
            }
            case VLM_GGUF_ARRAY: {
                vlm_gguf_type et = vlm_gguf_arr_type(g, i);
                uint64_t n = vlm_gguf_arr_n(g, i);
                if (n > (uint64_t)SIZE_MAX / 16) {
                    rs = VLM_ERR_FORMAT;
                    snprintf(e2, sizeof e2, "array too large");
                } else if (et == VLM_GGUF_STRING) {
                    const char **ps = malloc((size_t)(n ? n : 1) * sizeof *ps);
                    size_t *ls = malloc((size_t)(n ? n : 1) * sizeof *ls);
                    if (!ps || !ls) st = VLM_ERR_OOM;
                    for (uint64_t j = 0; j < n && !st && !rs; j++)
                        if (!(ps[j] = vlm_gguf_arr_str(g, i, j, &ls[j]))) {
                            rs = VLM_ERR_FORMAT;
                            snprintf(e2, sizeof e2, "string %llu unreadable", (unsigned long long)j);
                        }
                    if (!st && !rs) st = vlm_gguf_set_arr_str(w, key, ps, ls, (size_t)n);
                    free(ps);
                    free(ls);
                } else if (vlm_gguf_value_size((int)et)) {
                    void *buf = malloc((size_t)(n ? n : 1) * vlm_gguf_value_size((int)et));
                    if (!buf) st = VLM_ERR_OOM;
                    else if (!(rs = vlm_gguf_get_arr_num(g, key, et, buf, n, e2, sizeof e2)))
                        st = vlm_gguf_set_arr_num(w, key, et, buf, (size_t)n);
                    free(buf);
                } else {
                    rs = VLM_ERR_UNSUPPORTED;
                    snprintf(e2, sizeof e2, "array of %s", vlm_gguf_type_name(et));
                }
                break;
            }
            default:
                rs = VLM_ERR_UNSUPPORTED;
                snprintf(e2, sizeof e2, "value type %s is not copied", vlm_gguf_type_name(ty));
            }
        }
        if (rs) return vlm_set_err(err, err_size, rs, "%s: key %s: %s", vlm_gguf_path(g), key, e2);
        if (st) return vlm_set_err(err, err_size, st, "GGUF metadata %s: %s", key, vlm_gguf_writer_last_error(w));
    }
    return VLM_OK;
}

vlm_status vlm_gguf_rewrite(const char *path, const vlm_gguf *base, const vlm_gguf_out_tensor *ts, size_t n,
                             const vlm_gguf_kv_override *ov, size_t n_ov, char *err, size_t err_size) {
    vlm_gguf_writer *w = vlm_gguf_writer_init();
    if (!w) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    vlm_status st = vlm_gguf_writer_set_alignment(w, (uint32_t)vlm_gguf_alignment(base));
    if (!st) st = copy_kvs(w, base, ov, n_ov, err, err_size);
    else vlm_set_err(err, err_size, st, "%s", vlm_gguf_writer_last_error(w));
    for (size_t i = 0; i < n && !st; i++) {
        const vlm_gguf_tensor *s = ts[i].src;
        if ((st = vlm_gguf_add_tensor(w, s->name, ts[i].val ? ts[i].type : s->type, s->n_dims, s->ne)))
            vlm_set_err(err, err_size, st, "%s: %s", path, vlm_gguf_writer_last_error(w));
    }
    if (!st && (st = vlm_gguf_writer_begin(w, path)))
        vlm_set_err(err, err_size, st, "%s: %s", path, vlm_gguf_writer_last_error(w));
    void *row = NULL;
    for (size_t i = 0; i < n && !st; i++) {
        const vlm_gguf_tensor *s = ts[i].src;
        if (!ts[i].val) {
            st = vlm_gguf_writer_write(w, s->data, s->nbytes);
        } else if (ts[i].type == VLM_DT_F32) {
            int64_t ne = s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3];
            st = vlm_gguf_writer_write(w, ts[i].val, (size_t)ne * sizeof(float));
        } else {
            const int64_t K = s->ne[0], rows = s->ne[1] * s->ne[2] * s->ne[3];
            size_t rb = vlm_dtype_row_size(ts[i].type, K);
            free(row);
            if (!(row = malloc(rb ? rb : 1))) st = VLM_ERR_OOM;
            for (int64_t r = 0; r < rows && !st; r++)
                if (!(st = vlm_quantize_row(ts[i].type, ts[i].val + r * K, row, K)))
                    st = vlm_gguf_writer_write(w, row, rb);
        }
        if (st) vlm_set_err(err, err_size, st, "%s: tensor %s: %s", path, s->name, vlm_gguf_writer_last_error(w));
    }
    free(row);
    if (!st && (st = vlm_gguf_writer_finish(w)))
        vlm_set_err(err, err_size, st, "%s: %s", path, vlm_gguf_writer_last_error(w));
    vlm_gguf_writer_free(w); /* removes PATH.part unless finished */
    return st;
}

