/* safetensors.c - strict reader for .safetensors files and sharded folders.
 * Every number in a file is treated as hostile: the header length is bounded
 * by the file size and VLM_ST_MAX_HEADER, shapes and offsets are
 * overflow-checked and the tensors must tile the data buffer exactly. */
#include "io/safetensors.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "ops/quant.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the model readers assume a little-endian host"
#endif

struct vlm_st_file {
    char *path;
    vlm_mmap map;        /* owned when opened from a path */
    vlm_st_tensor *t;    /* [n] sorted by data offset */
    size_t n;
    size_t *by_name;     /* [n] indices into t sorted by name */
    json_t *meta;        /* "__metadata__" object or NULL */
    json_t *doc;         /* the header document (owns the names) */
};

struct vlm_st_model {
    vlm_st_file **files; /* [n_files] */
    size_t n_files;
    const vlm_st_tensor **t; /* [n] sorted by name */
    size_t n;
};

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [VLM_ST_BOOL] = {"BOOL", 1}, [VLM_ST_U8] = {"U8", 1},     [VLM_ST_I8] = {"I8", 1},
    [VLM_ST_F8_E5M2] = {"F8_E5M2", 1}, [VLM_ST_F8_E4M3] = {"F8_E4M3", 1}, [VLM_ST_I16] = {"I16", 2},
    [VLM_ST_U16] = {"U16", 2},   [VLM_ST_F16] = {"F16", 2},   [VLM_ST_BF16] = {"BF16", 2},
    [VLM_ST_I32] = {"I32", 4},   [VLM_ST_U32] = {"U32", 4},   [VLM_ST_F32] = {"F32", 4},
    [VLM_ST_I64] = {"I64", 8},   [VLM_ST_U64] = {"U64", 8},   [VLM_ST_F64] = {"F64", 8},
};
#define N_DTYPES (sizeof dtype_info / sizeof dtype_info[0])

size_t vlm_st_dtype_size(vlm_st_dtype t) { return (unsigned)t < N_DTYPES ? dtype_info[t].size : 0; }
const char *vlm_st_dtype_name(vlm_st_dtype t) { return (unsigned)t < N_DTYPES ? dtype_info[t].name : "?"; }

static uint64_t rd_u64le(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* ---- one file ---------------------------------------------------------------------------------- */

static int cmp_offset(const void *a, const void *b) {
    const vlm_st_tensor *x = a, *y = b;
    if (x->data != y->data) return x->data < y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* qsort has no context argument: sort (name, index) pairs instead. */
typedef struct {
    const char *name;
    size_t idx;
} name_idx;
static int cmp_name_idx(const void *a, const void *b) {
    return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

void vlm_st_close(vlm_st_file *f) {
    if (!f) return;
    vlm_mmap_close(&f->map);
    free(f->t);
    free(f->by_name);
    json_decref(f->doc);
    free(f->path);
    free(f);
}

/* Parse one tensor entry into *t (data pointer relative to base). */
static vlm_status parse_entry(const char *label, const char *name, json_t *v, const unsigned char *base,
                              uint64_t data_size, vlm_st_tensor *t, char *err, size_t err_size) {
    if (!json_is_object(v))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", label,
                           name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "%s: tensor '%s': needs string \"dtype\", array \"shape\" and array \"data_offsets\"",
                           label, name);
    if (json_object_size(v) != 3)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: tensor '%s': unexpected keys in header entry", label,
                           name);
    const char *ds = json_string_value(jd);
    size_t k;
    for (k = 0; k < N_DTYPES; k++)
        if (strcmp(ds, dtype_info[k].name) == 0) break;
    if (k == N_DTYPES)
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED, "%s: tensor '%s': unknown dtype \"%s\"", label, name,
                           ds);
    t->dtype = (vlm_st_dtype)k;
    size_t nd = json_array_size(js);
    if (nd > VLM_ST_MAX_DIMS)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: tensor '%s': %zu dimensions (at most %d)", label, name,
                           nd, VLM_ST_MAX_DIMS);
    t->n_dims = (int)nd;
    size_t ne = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                               "%s: tensor '%s': shape[%zu] is not a non-negative integer", label, name, i);
        json_int_t di = json_integer_value(d);
        if ((uint64_t)di > (uint64_t)INT64_MAX || (uint64_t)di > (uint64_t)SIZE_MAX || !vlm_mul_ok(ne, (size_t)di, &ne))
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: tensor '%s': shape overflows", label, name);
        t->shape[i] = (int64_t)di;
    }
    for (size_t i = nd; i < VLM_ST_MAX_DIMS; i++) t->shape[i] = 1;
    size_t nbytes;
    if (ne > (size_t)INT64_MAX || !vlm_mul_ok(ne, dtype_info[k].size, &nbytes))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: tensor '%s': byte size overflows", label, name);
    t->n_elements = (int64_t)ne;
    json_t *b = json_array_get(jo, 0), *e = json_array_get(jo, 1);
    if (json_array_size(jo) != 2 || !json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets must be two integers 0 <= begin <= end", label, name);
    uint64_t ob = (uint64_t)json_integer_value(b), oe = (uint64_t)json_integer_value(e);
    if (oe > data_size)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu] past the end of the data (%llu bytes)", label,
                           name, (unsigned long long)ob, (unsigned long long)oe, (unsigned long long)data_size);
    if (oe - ob != (uint64_t)nbytes)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "%s: tensor '%s': %s%s holds %zu bytes but data_offsets span %llu", label, name, ds,
                           nd ? " shape" : " scalar", nbytes, (unsigned long long)(oe - ob));
    t->data = base + ob;
    t->nbytes = nbytes;
    t->name = name;
    return VLM_OK;
}

static vlm_status parse_file(vlm_st_file *f, const unsigned char *buf, size_t len, const char *label, char *err,
                             size_t err_size) {
    if (len < 8)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %zu bytes: too short for a safetensors file", label,
                           len);
    uint64_t hlen = rd_u64le(buf);
    if (hlen > VLM_ST_MAX_HEADER)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: header length %llu exceeds the limit of %llu bytes",
                           label, (unsigned long long)hlen, (unsigned long long)VLM_ST_MAX_HEADER);
    if (hlen > len - 8)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "%s: header length %llu but only %zu bytes follow (truncated file?)", label,
                           (unsigned long long)hlen, len - 8);
    if (hlen < 2 || buf[8] != '{')
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: the header does not start with '{'", label);
    json_error_t je;
    f->doc = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!f->doc)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: header is not valid JSON (byte %d of the header): %s",
                           label, je.position, je.text);
    if (!json_is_object(f->doc))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: header is not a JSON object", label);
    const unsigned char *base = buf + 8 + hlen;
    uint64_t data_size = (uint64_t)(len - 8 - hlen);
    size_t cap = json_object_size(f->doc);
    f->t = calloc(cap ? cap : 1, sizeof *f->t);
    if (!f->t) return vlm_set_err(err, err_size, VLM_ERR_OOM, "%s: out of memory", label);
    const char *key;
    json_t *v;
    json_object_foreach(f->doc, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v))
                return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: __metadata__ is not an object", label);
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv))
                    return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string",
                                       label, mk);
            }
            f->meta = v;
            continue;
        }
        if (!key[0]) return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: empty tensor name", label);
        vlm_st_tensor *t = &f->t[f->n];
        vlm_status st = parse_entry(label, key, v, base, data_size, t, err, err_size);
        if (st) return st;
        t->file = f->path;
        t->map = &f->map;
        f->n++;
    }
    /* the tensors must tile [0, data_size) exactly */
    qsort(f->t, f->n, sizeof *f->t, cmp_offset);
    uint64_t pos = 0;
    for (size_t i = 0; i < f->n; i++) {
        uint64_t b = (uint64_t)(f->t[i].data - base);
        if (b != pos)
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                               "%s: tensor '%s' starts at data offset %llu but the previous tensor ends at %llu (%s)",
                               label, f->t[i].name, (unsigned long long)b, (unsigned long long)pos,
                               b > pos ? "hole in the data" : "overlapping tensors");
        pos = b + f->t[i].nbytes;
    }
    if (pos != data_size)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "%s: tensors end at data offset %llu but the data section holds %llu bytes", label,
                           (unsigned long long)pos, (unsigned long long)data_size);
    name_idx *ni = malloc((f->n ? f->n : 1) * sizeof *ni);
    f->by_name = malloc((f->n ? f->n : 1) * sizeof *f->by_name);
    if (!ni || !f->by_name) {
        free(ni);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "%s: out of memory", label);
    }
    for (size_t i = 0; i < f->n; i++) ni[i] = (name_idx){f->t[i].name, i};
    qsort(ni, f->n, sizeof *ni, cmp_name_idx);
    for (size_t i = 0; i < f->n; i++) f->by_name[i] = ni[i].idx;
    free(ni);
    for (size_t i = 1; i < f->n; i++) /* JSON keys differing only after a NUL */
        if (strcmp(f->t[f->by_name[i - 1]].name, f->t[f->by_name[i]].name) == 0)
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: duplicate tensor name '%s'", label,
                               f->t[f->by_name[i]].name);
    return VLM_OK;
}

vlm_status vlm_st_open_memory(const void *buf, size_t len, const char *label, vlm_st_file **out, char *err,
                              size_t err_size) {
    *out = NULL;
    vlm_st_file *f = calloc(1, sizeof *f);
    if (!f) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    f->path = strdup(label ? label : "<memory>");
    if (!f->path) {
        vlm_st_close(f);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    vlm_status st = parse_file(f, buf, len, f->path, err, err_size);
    if (st) {
        vlm_st_close(f);
        return st;
    }
    *out = f;
    return VLM_OK;
}

vlm_status vlm_st_open(const char *path, vlm_st_file **out, char *err, size_t err_size) {
    *out = NULL;
    vlm_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    vlm_status st = vlm_mmap_open(path, &f->map, err, err_size);
    if (!st) st = parse_file(f, f->map.data, f->map.size, f->path, err, err_size);
    if (st) {
        vlm_st_close(f);
        return st;
    }
    *out = f;
    return VLM_OK;
}

size_t vlm_st_count(const vlm_st_file *f) { return f ? f->n : 0; }
const vlm_st_tensor *vlm_st_at(const vlm_st_file *f, size_t i) { return f && i < f->n ? &f->t[i] : NULL; }

const vlm_st_tensor *vlm_st_find(const vlm_st_file *f, const char *name) {
    if (!f) return NULL;
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->t[f->by_name[mid]].name, name);
        if (c == 0) return &f->t[f->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *vlm_st_metadata(const vlm_st_file *f, const char *key) {
    if (!f || !f->meta) return NULL;
    return json_string_value(json_object_get(f->meta, key));
}

/* ---- model folders ----------------------------------------------------------------------------- */

void vlm_st_model_close(vlm_st_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_files; i++) vlm_st_close(m->files[i]);
    free(m->files);
    free(m->t);
    free(m);
}

static int cmp_tensor_ptr_name(const void *a, const void *b) {
    return strcmp((*(const vlm_st_tensor *const *)a)->name, (*(const vlm_st_tensor *const *)b)->name);
}

static int is_dir(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}
static int is_file(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

static char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static vlm_status model_add_file(vlm_st_model *m, const char *path, char *err, size_t err_size) {
    vlm_st_file **nf = realloc(m->files, (m->n_files + 1) * sizeof *nf);
    if (!nf) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    m->files = nf;
    vlm_st_file *f;
    vlm_status st = vlm_st_open(path, &f, err, err_size);
    if (st) return st;
    m->files[m->n_files++] = f;
    return VLM_OK;
}

static vlm_status model_index(vlm_st_model *m, char *err, size_t err_size) {
    size_t n = 0;
    for (size_t i = 0; i < m->n_files; i++) n += m->files[i]->n;
    m->t = malloc((n ? n : 1) * sizeof *m->t);
    if (!m->t) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    for (size_t i = 0; i < m->n_files; i++)
        for (size_t j = 0; j < m->files[i]->n; j++) m->t[m->n++] = &m->files[i]->t[j];
    qsort(m->t, m->n, sizeof *m->t, cmp_tensor_ptr_name);
    for (size_t i = 1; i < m->n; i++)
        if (strcmp(m->t[i - 1]->name, m->t[i]->name) == 0)
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "tensor '%s' appears in both %s and %s", m->t[i]->name,
                               m->t[i - 1]->file, m->t[i]->file);
    return VLM_OK;
}

static vlm_status open_sharded(vlm_st_model *m, const char *dir, const char *index_path, char *err,
                               size_t err_size) {
    json_error_t je;
    json_t *doc = json_load_file(index_path, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: line %d column %d: %s", index_path, je.line,
                           je.column, je.text);
    vlm_status st = VLM_OK;
    json_t *wm = json_object_get(doc, "weight_map");
    const char *key;
    json_t *v;
    if (!json_is_object(wm)) {
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
        goto done;
    }
    /* open each distinct shard once, in first-seen order */
    json_object_foreach(wm, key, v) {
        const char *fn = json_string_value(v);
        if (!fn || !fn[0] || strchr(fn, '/') || strcmp(fn, ".") == 0 || strcmp(fn, "..") == 0) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                             "%s: weight_map entry '%s' must name a file in the same folder", index_path, key);
            goto done;
        }
        size_t i;
        for (i = 0; i < m->n_files; i++) {
            const char *p = m->files[i]->path, *slash = strrchr(p, '/');
            if (strcmp(slash ? slash + 1 : p, fn) == 0) break;
        }
        if (i < m->n_files) continue;
        char *p = path_join(dir, fn);
        if (!p) {
            st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
            goto done;
        }
        st = model_add_file(m, p, err, err_size);
        free(p);
        if (st) goto done;
    }
    if ((st = model_index(m, err, err_size))) goto done;
    json_object_foreach(wm, key, v) {
        const vlm_st_tensor *t = vlm_st_model_find(m, key);
        const char *fn = json_string_value(v), *tf = t ? strrchr(t->file, '/') : NULL;
        if (!t || strcmp(tf ? tf + 1 : t->file, fn) != 0) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: tensor '%s' is listed in %s but not found there",
                             index_path, key, fn);
            goto done;
        }
    }
    if (m->n != json_object_size(wm)) {
        for (size_t i = 0; i < m->n; i++)
            if (!json_object_get(wm, m->t[i]->name)) {
                st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: tensor '%s' is not listed in %s", m->t[i]->file,
                                 m->t[i]->name, index_path);
                goto done;
            }
    }
done:
    json_decref(doc);
    return st;
}

vlm_status vlm_st_model_open(const char *path, vlm_st_model **out, char *err, size_t err_size) {
    *out = NULL;
    vlm_st_model *m = calloc(1, sizeof *m);
    if (!m) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    vlm_status st;
    if (is_dir(path)) {
        char *idx = path_join(path, "model.safetensors.index.json");
        char *one = path_join(path, "model.safetensors");
        if (!idx || !one) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        else if (is_file(idx)) st = open_sharded(m, path, idx, err, err_size);
        else if (is_file(one)) {
            st = model_add_file(m, one, err, err_size);
            if (!st) st = model_index(m, err, err_size);
        } else
            st = vlm_set_err(err, err_size, VLM_ERR_IO,
                             "%s: no model.safetensors.index.json or model.safetensors in this folder", path);
        free(idx);
        free(one);
    } else {
        st = model_add_file(m, path, err, err_size);
        if (!st) st = model_index(m, err, err_size);
    }
    if (st) {
        vlm_st_model_close(m);
        return st;
    }
    *out = m;
    return VLM_OK;
}

size_t vlm_st_model_count(const vlm_st_model *m) { return m ? m->n : 0; }
const vlm_st_tensor *vlm_st_model_at(const vlm_st_model *m, size_t i) { return m && i < m->n ? m->t[i] : NULL; }

const vlm_st_tensor *vlm_st_model_find(const vlm_st_model *m, const char *name) {
    if (!m) return NULL;
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->t[mid]->name, name);
        if (c == 0) return m->t[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int is_float(vlm_st_dtype t) { return t == VLM_ST_F32 || t == VLM_ST_F16 || t == VLM_ST_BF16; }

/* ---- element access ---------------------------------------------------------------------------- */

vlm_status vlm_st_read_f32(const vlm_st_tensor *t, int64_t first, int64_t n, float *dst, char *err,
                           size_t err_size) {
    if (first < 0 || n < 0 || first > t->n_elements || n > t->n_elements - first)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s: tensor '%s': elements [%lld, +%lld) out of range",
                           t->file, t->name, (long long)first, (long long)n);
    const unsigned char *p = t->data;
    if (!n && is_float(t->dtype)) return VLM_OK;
    switch (t->dtype) {
    case VLM_ST_F32:
        memcpy(dst, p + (size_t)first * 4, (size_t)n * 4); /* little-endian host */
        return VLM_OK;
    case VLM_ST_F16:
        p += (size_t)first * 2;
        for (int64_t i = 0; i < n; i++) dst[i] = vlm_f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return VLM_OK;
    case VLM_ST_BF16:
        p += (size_t)first * 2;
        for (int64_t i = 0; i < n; i++) dst[i] = vlm_bf16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return VLM_OK;
    default:
        return vlm_set_err(err, err_size, VLM_ERR_UNSUPPORTED,
                           "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 weights are supported", t->file,
                           t->name, vlm_st_dtype_name(t->dtype));
    }
}

void vlm_st_release(const vlm_st_tensor *t) {
    if (t && t->map) vlm_mmap_release(t->map, t->data, t->nbytes);
}
