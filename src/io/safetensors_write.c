/* safetensors_write.c - streaming .safetensors writer: the header (built with
 * jansson, so names are escaped correctly) first, then the tensor bytes as
 * the caller produces them, into PATH.part renamed on success. The header
 * lists the tensors in the order given, with contiguous offsets, so the file
 * passes the strict checks of src/io/safetensors.c. */
#include "io/safetensors_write.h"

#include <jansson.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

struct vlm_stw {
    char *path, *tmp;
    FILE *fp;
    uint64_t data_total; /* declared tensor bytes */
    uint64_t data_done;  /* written so far */
};

static void stw_free(vlm_stw *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    free(w->path);
    free(w->tmp);
    free(w);
}

void vlm_stw_abort(vlm_stw *w) {
    if (!w) return;
    if (w->fp) {
        fclose(w->fp);
        w->fp = NULL;
    }
    if (w->tmp) unlink(w->tmp);
    stw_free(w);
}

/* The header document: {"__metadata__":{...}, name: {dtype, shape, data_offsets}, ...}. */
static vlm_status build_header(const vlm_stw_tensor *t, size_t n, const char *const *meta, size_t n_meta,
                               char **text, uint64_t *total, char *err, size_t err_size) {
    json_t *doc = json_object();
    if (!doc) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    vlm_status st = VLM_OK;
    if (n_meta) {
        json_t *m = json_object();
        if (!m || json_object_set_new(doc, "__metadata__", m)) st = VLM_ERR_OOM;
        for (size_t i = 0; !st && i < n_meta; i++) {
            if (!meta[2 * i] || !meta[2 * i + 1]) {
                st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "safetensors metadata %zu is NULL", i);
                break;
            }
            if (json_object_set_new(m, meta[2 * i], json_string(meta[2 * i + 1]))) st = VLM_ERR_OOM;
        }
    }
    uint64_t off = 0;
    for (size_t i = 0; !st && i < n; i++) {
        const vlm_stw_tensor *x = &t[i];
        size_t es = vlm_st_dtype_size(x->dtype);
        if (!x->name || !x->name[0] || !strcmp(x->name, "__metadata__") || json_object_get(doc, x->name)) {
            st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "safetensors tensor %zu: empty, reserved or duplicate name '%s'",
                             i, x->name ? x->name : "(null)");
            break;
        }
        if (!es || x->n_dims < 0 || x->n_dims > VLM_ST_MAX_DIMS) {
            st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "safetensors tensor '%s': bad dtype or %d dims", x->name,
                             x->n_dims);
            break;
        }
        size_t nb = es;
        json_t *shape = json_array();
        if (!shape) st = VLM_ERR_OOM;
        for (int d = 0; !st && d < x->n_dims; d++) {
            if (x->shape[d] < 0 || !vlm_mul_ok(nb, (size_t)x->shape[d], &nb) || nb > (uint64_t)INT64_MAX) {
                st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "safetensors tensor '%s': shape out of range", x->name);
                break;
            }
            if (json_array_append_new(shape, json_integer((json_int_t)x->shape[d]))) st = VLM_ERR_OOM;
        }
        if (!st && off + nb < off) st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "safetensors file too large");
        json_t *e = st ? NULL : json_pack("{s:s,s:o,s:[I,I]}", "dtype", vlm_st_dtype_name(x->dtype), "shape", shape,
                                          "data_offsets", (json_int_t)off, (json_int_t)(off + nb));
        if (st) json_decref(shape);
        else if (!e || json_object_set_new(doc, x->name, e)) st = VLM_ERR_OOM;
        off += nb;
    }
    if (!st) {
        *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!*text) st = VLM_ERR_OOM;
    }
    json_decref(doc);
    if (st == VLM_ERR_OOM) vlm_set_err(err, err_size, st, "out of memory building a safetensors header");
    *total = off;
    return st;
}

vlm_status vlm_stw_open(const char *path, const vlm_stw_tensor *t, size_t n, const char *const *meta, size_t n_meta,
                        vlm_stw **out, char *err, size_t err_size) {
    *out = NULL;
    if (!path || (n && !t) || (n_meta && !meta))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_stw_open: NULL argument");
    char *hdr = NULL;
    uint64_t total = 0;
    vlm_status st = build_header(t, n, meta, n_meta, &hdr, &total, err, err_size);
    if (st) return st;
    size_t hl = strlen(hdr), pad = (8 - hl % 8) % 8;
    vlm_stw *w = calloc(1, sizeof *w);
    size_t pl = strlen(path);
    if (w) {
        w->path = strdup(path);
        w->tmp = malloc(pl + 6);
    }
    if (!w || !w->path || !w->tmp) {
        free(hdr);
        stw_free(w);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    memcpy(w->tmp, path, pl);
    memcpy(w->tmp + pl, ".part", 6);
    w->data_total = total;
    w->fp = fopen(w->tmp, "wb");
    if (!w->fp) {
        int en = errno;
        free(hdr);
        stw_free(w);
        return vlm_set_err(err, err_size, VLM_ERR_IO, "cannot create %s.part: %s", path, strerror(en));
    }
    unsigned char le[8];
    uint64_t n_hdr = hl + pad;
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(n_hdr >> (8 * i));
    bool ok = fwrite(le, 1, 8, w->fp) == 8 && fwrite(hdr, 1, hl, w->fp) == hl;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', w->fp) != EOF;
    int en = errno;
    free(hdr);
    if (!ok) {
        vlm_stw_abort(w);
        return vlm_set_err(err, err_size, VLM_ERR_IO, "cannot write %s.part: %s", path, strerror(en));
    }
    *out = w;
    return VLM_OK;
}

vlm_status vlm_stw_write(vlm_stw *w, const void *data, size_t nbytes, char *err, size_t err_size) {
    if (!w || (nbytes && !data)) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_stw_write: NULL argument");
    if (nbytes > w->data_total - w->data_done)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s: %zu bytes more than the header declares", w->path,
                           nbytes - (size_t)(w->data_total - w->data_done));
    if (fwrite(data, 1, nbytes, w->fp) != nbytes)
        return vlm_set_err(err, err_size, VLM_ERR_IO, "cannot write %s: %s", w->tmp, strerror(errno));
    w->data_done += nbytes;
    return VLM_OK;
}

vlm_status vlm_stw_write_f32(vlm_stw *w, const float *x, size_t n, char *err, size_t err_size) {
    unsigned char buf[4096];
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < sizeof buf / 4 ? n - done : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) {
            uint32_t u;
            memcpy(&u, &x[done + i], 4);
            for (int b = 0; b < 4; b++) buf[4 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
        }
        vlm_status st = vlm_stw_write(w, buf, 4 * k, err, err_size);
        if (st) return st;
        done += k;
    }
    return VLM_OK;
}

vlm_status vlm_stw_close(vlm_stw *w, char *err, size_t err_size) {
    if (!w) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_stw_close: NULL");
    if (w->data_done != w->data_total) {
        vlm_status st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s: %llu of %llu data bytes written", w->path,
                                    (unsigned long long)w->data_done, (unsigned long long)w->data_total);
        vlm_stw_abort(w);
        return st;
    }
    bool ok = fflush(w->fp) == 0 && fsync(fileno(w->fp)) == 0;
    int en = ok ? 0 : errno;
    if (fclose(w->fp) != 0 && ok) ok = false, en = errno;
    w->fp = NULL;
    if (ok && rename(w->tmp, w->path) != 0) ok = false, en = errno;
    if (!ok) {
        vlm_status st = vlm_set_err(err, err_size, VLM_ERR_IO, "cannot write %s: %s", w->path, strerror(en));
        vlm_stw_abort(w);
        return st;
    }
    stw_free(w);
    return VLM_OK;
}

vlm_status vlm_stw_save_f32(const char *path, const vlm_stw_tensor *t, const float *x, char *err, size_t err_size) {
    if (!t || t->dtype != VLM_ST_F32)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_stw_save_f32: one F32 tensor");
    size_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= (size_t)t->shape[i]; /* checked by vlm_stw_open */
    vlm_stw *w = NULL;
    vlm_status st = vlm_stw_open(path, t, 1, NULL, 0, &w, err, err_size);
    if (!st && (st = vlm_stw_write_f32(w, x, n, err, err_size))) vlm_stw_abort(w);
    if (!st) st = vlm_stw_close(w, err, err_size);
    return st;
}
