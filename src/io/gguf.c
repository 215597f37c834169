/* gguf.c - GGUF reader (strict validation of hostile files) and streaming
 * writer. Layout and rules: see gguf.h. */
#include "io/gguf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "io/mmap.h"
#include "ops/quant.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the model readers assume a little-endian host"
#endif

static const char *type_names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                   "bool", "string", "array", "u64", "i64", "f64"};
#define N_TYPES 13

const char *vlm_gguf_type_name(int type) { return type >= 0 && type < N_TYPES ? type_names[type] : "invalid"; }

size_t vlm_gguf_value_size(int type) {
    switch (type) {
    case VLM_GGUF_UINT8: case VLM_GGUF_INT8: case VLM_GGUF_BOOL: return 1;
    case VLM_GGUF_UINT16: case VLM_GGUF_INT16: return 2;
    case VLM_GGUF_UINT32: case VLM_GGUF_INT32: case VLM_GGUF_FLOAT32: return 4;
    case VLM_GGUF_UINT64: case VLM_GGUF_INT64: case VLM_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* ================================================================================================ */
/* Reader                                                                                           */
/* ================================================================================================ */

typedef struct {
    char *key;
    vlm_gguf_type type;
    union {
        uint64_t u;
        int64_t i;
        double f;
    } v;
    char *str;                 /* string value (NUL-terminated copy) */
    size_t str_len;
    vlm_gguf_type arr_type;    /* arrays */
    uint64_t arr_n;
    const unsigned char *arr;  /* first element inside the image */
    uint64_t *str_off;         /* string arrays: [arr_n] offsets of each length prefix from arr */
} kv_entry;

struct vlm_gguf {
    char *path;
    vlm_mmap map;
    const unsigned char *buf;
    size_t len;
    uint32_t version;
    size_t alignment, data_offset;
    kv_entry *kv;
    size_t n_kv;
    size_t *kv_sorted;         /* indices sorted by key */
    vlm_gguf_tensor *t;
    size_t n_t;
    size_t *t_sorted;          /* indices sorted by name */
};

typedef struct {
    const unsigned char *p;
    size_t len, pos;
} cursor;

static int rd(cursor *c, void *dst, size_t n) {
    if (n > c->len - c->pos) return 0;
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return 1;
}
static int rd_u32(cursor *c, uint32_t *v) { return rd(c, v, 4); }
static int rd_u64(cursor *c, uint64_t *v) { return rd(c, v, 8); }

void vlm_gguf_close(vlm_gguf *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str);
        free(g->kv[i].str_off);
    }
    free(g->kv);
    free(g->kv_sorted);
    for (size_t i = 0; i < g->n_t; i++) free((char *)g->t[i].name);
    free(g->t);
    free(g->t_sorted);
    vlm_mmap_close(&g->map);
    free(g->path);
    free(g);
}

/* Read a string header: length and a pointer to its bytes (bounded by the file). */
static int rd_str(cursor *c, const unsigned char **s, uint64_t *n) {
    if (!rd_u64(c, n) || *n > c->len - c->pos) return 0;
    *s = c->p + c->pos;
    c->pos += (size_t)*n;
    return 1;
}

typedef struct {
    const char *name;
    size_t idx;
} name_idx;
static int cmp_name_idx(const void *a, const void *b) {
    return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

/* Sort indices of n names; returns the index array or NULL on OOM. *dup gets
 * the index of a duplicated name or SIZE_MAX. */
static size_t *sort_names(const char *const *names, size_t n, size_t *dup) {
    name_idx *ni = malloc((n ? n : 1) * sizeof *ni);
    size_t *out = malloc((n ? n : 1) * sizeof *out);
    *dup = SIZE_MAX;
    if (!ni || !out) {
        free(ni);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) ni[i] = (name_idx){names[i], i};
    qsort(ni, n, sizeof *ni, cmp_name_idx);
    for (size_t i = 0; i < n; i++) {
        out[i] = ni[i].idx;
        if (i && strcmp(ni[i - 1].name, ni[i].name) == 0 && *dup == SIZE_MAX) *dup = ni[i].idx;
    }
    free(ni);
    return out;
}

typedef struct {
    uint64_t off;
    size_t idx;
} offset_idx;
static int cmp_offset_idx(const void *a, const void *b) {
    const offset_idx *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

#define FAIL(st, ...) return vlm_set_err(err, err_size, st, __VA_ARGS__)

static vlm_status parse_kv(vlm_gguf *g, cursor *c, size_t i, char *err, size_t err_size) {
    kv_entry *e = &g->kv[i];
    size_t at = c->pos;
    const unsigned char *ks;
    uint64_t kl;
    if (!rd_str(c, &ks, &kl)) FAIL(VLM_ERR_FORMAT, "%s: key %zu at byte %zu: truncated key", g->path, i, at);
    if (kl == 0 || kl > VLM_GGUF_MAX_KEY)
        FAIL(VLM_ERR_FORMAT, "%s: key %zu at byte %zu: key length %llu (must be 1..%d)", g->path, i, at,
             (unsigned long long)kl, VLM_GGUF_MAX_KEY);
    for (uint64_t j = 0; j < kl; j++)
        if (ks[j] < 0x21 || ks[j] > 0x7e)
            FAIL(VLM_ERR_FORMAT, "%s: key %zu at byte %zu: byte 0x%02x is not printable ASCII", g->path, i, at, ks[j]);
    if (!(e->key = malloc((size_t)kl + 1))) FAIL(VLM_ERR_OOM, "%s: out of memory", g->path);
    memcpy(e->key, ks, (size_t)kl);
    e->key[kl] = 0;
    uint32_t type;
    if (!rd_u32(c, &type)) FAIL(VLM_ERR_FORMAT, "%s: key '%s': truncated value type", g->path, e->key);
    if (type >= N_TYPES) FAIL(VLM_ERR_FORMAT, "%s: key '%s': unknown value type %u", g->path, e->key, type);
    e->type = (vlm_gguf_type)type;
    size_t fs = vlm_gguf_value_size((int)type);
    if (fs) {
        unsigned char b[8] = {0};
        if (!rd(c, b, fs)) FAIL(VLM_ERR_FORMAT, "%s: key '%s': truncated %s value", g->path, e->key, type_names[type]);
        switch (type) {
        case VLM_GGUF_UINT8: e->v.u = b[0]; break;
        case VLM_GGUF_INT8: e->v.i = (int8_t)b[0]; break;
        case VLM_GGUF_BOOL:
            if (b[0] > 1) FAIL(VLM_ERR_FORMAT, "%s: key '%s': bool value %u (must be 0 or 1)", g->path, e->key, b[0]);
            e->v.u = b[0];
            break;
        case VLM_GGUF_UINT16: { uint16_t x; memcpy(&x, b, 2); e->v.u = x; break; }
        case VLM_GGUF_INT16: { int16_t x; memcpy(&x, b, 2); e->v.i = x; break; }
        case VLM_GGUF_UINT32: { uint32_t x; memcpy(&x, b, 4); e->v.u = x; break; }
        case VLM_GGUF_INT32: { int32_t x; memcpy(&x, b, 4); e->v.i = x; break; }
        case VLM_GGUF_FLOAT32: { float x; memcpy(&x, b, 4); e->v.f = x; break; }
        case VLM_GGUF_UINT64: memcpy(&e->v.u, b, 8); break;
        case VLM_GGUF_INT64: memcpy(&e->v.i, b, 8); break;
        case VLM_GGUF_FLOAT64: memcpy(&e->v.f, b, 8); break;
        }
        return VLM_OK;
    }
    if (type == VLM_GGUF_STRING) {
        const unsigned char *s;
        uint64_t n;
        if (!rd_str(c, &s, &n)) FAIL(VLM_ERR_FORMAT, "%s: key '%s': string runs past the end of the file", g->path, e->key);
        if (!(e->str = malloc((size_t)n + 1))) FAIL(VLM_ERR_OOM, "%s: out of memory", g->path);
        memcpy(e->str, s, (size_t)n);
        e->str[n] = 0;
        e->str_len = (size_t)n;
        return VLM_OK;
    }
    /* array */
    uint32_t et;
    uint64_t n;
    if (!rd_u32(c, &et) || !rd_u64(c, &n)) FAIL(VLM_ERR_FORMAT, "%s: key '%s': truncated array header", g->path, e->key);
    if (et >= N_TYPES) FAIL(VLM_ERR_FORMAT, "%s: key '%s': unknown array element type %u", g->path, e->key, et);
    if (et == VLM_GGUF_ARRAY) FAIL(VLM_ERR_UNSUPPORTED, "%s: key '%s': nested arrays are not supported", g->path, e->key);
    e->arr_type = (vlm_gguf_type)et;
    e->arr_n = n;
    e->arr = c->p + c->pos;
    size_t es = vlm_gguf_value_size((int)et);
    size_t left = c->len - c->pos;
    if (es) {
        if (n > left / es)
            FAIL(VLM_ERR_FORMAT, "%s: key '%s': array of %llu %s runs past the end of the file", g->path, e->key,
                 (unsigned long long)n, type_names[et]);
        if (et == VLM_GGUF_BOOL)
            for (uint64_t j = 0; j < n; j++)
                if (e->arr[j] > 1) FAIL(VLM_ERR_FORMAT, "%s: key '%s': bool element %llu is %u", g->path, e->key,
                                        (unsigned long long)j, e->arr[j]);
        c->pos += (size_t)n * es;
        return VLM_OK;
    }
    /* strings: at least 8 bytes each */
    if (n > left / 8)
        FAIL(VLM_ERR_FORMAT, "%s: key '%s': array of %llu strings runs past the end of the file", g->path, e->key,
             (unsigned long long)n);
    if (!(e->str_off = malloc((n ? (size_t)n : 1) * sizeof *e->str_off))) FAIL(VLM_ERR_OOM, "%s: out of memory", g->path);
    for (uint64_t j = 0; j < n; j++) {
        e->str_off[j] = (uint64_t)(c->p + c->pos - e->arr);
        const unsigned char *s;
        uint64_t sl;
        if (!rd_str(c, &s, &sl))
            FAIL(VLM_ERR_FORMAT, "%s: key '%s': string %llu of the array runs past the end of the file", g->path,
                 e->key, (unsigned long long)j);
    }
    return VLM_OK;
}

static vlm_status parse_tensor(vlm_gguf *g, cursor *c, size_t i, char *err, size_t err_size) {
    vlm_gguf_tensor *t = &g->t[i];
    size_t at = c->pos;
    const unsigned char *ns;
    uint64_t nl;
    if (!rd_str(c, &ns, &nl)) FAIL(VLM_ERR_FORMAT, "%s: tensor info %zu at byte %zu: truncated name", g->path, i, at);
    if (nl == 0 || nl > VLM_GGUF_MAX_NAME)
        FAIL(VLM_ERR_FORMAT, "%s: tensor info %zu at byte %zu: name length %llu (must be 1..%d)", g->path, i, at,
             (unsigned long long)nl, VLM_GGUF_MAX_NAME);
    if (memchr(ns, 0, (size_t)nl)) FAIL(VLM_ERR_FORMAT, "%s: tensor info %zu at byte %zu: NUL byte in name", g->path, i, at);
    char *name = malloc((size_t)nl + 1);
    if (!name) FAIL(VLM_ERR_OOM, "%s: out of memory", g->path);
    memcpy(name, ns, (size_t)nl);
    name[nl] = 0;
    t->name = name;
    uint32_t nd;
    if (!rd_u32(c, &nd)) FAIL(VLM_ERR_FORMAT, "%s: tensor '%s': truncated tensor info", g->path, name);
    if (nd < 1 || nd > VLM_GGUF_MAX_DIMS)
        FAIL(VLM_ERR_FORMAT, "%s: tensor '%s': %u dimensions (must be 1..%d)", g->path, name, nd, VLM_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    for (int d = 0; d < VLM_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        if (!rd_u64(c, &v)) FAIL(VLM_ERR_FORMAT, "%s: tensor '%s': truncated tensor info", g->path, name);
        if (v > (uint64_t)INT64_MAX)
            FAIL(VLM_ERR_FORMAT, "%s: tensor '%s': dimension %u is %llu", g->path, name, d, (unsigned long long)v);
        t->ne[d] = (int64_t)v;
    }
    uint32_t type;
    uint64_t off;
    if (!rd_u32(c, &type) || !rd_u64(c, &off)) FAIL(VLM_ERR_FORMAT, "%s: tensor '%s': truncated tensor info", g->path, name);
    if (!vlm_dtype_valid((int)type))
        FAIL(VLM_ERR_UNSUPPORTED, "%s: tensor '%s': type id %u is not supported (f32, f16, bf16, q8_0, q4_0)", g->path,
             name, type);
    t->type = (int)type;
    /* rows = ne[1]*ne[2]*ne[3], overflow-checked in int64 */
    int64_t rows = 1;
    for (int d = 1; d < VLM_GGUF_MAX_DIMS; d++) {
        if (t->ne[d] && rows > INT64_MAX / t->ne[d])
            FAIL(VLM_ERR_FORMAT, "%s: tensor '%s': element count overflows", g->path, name);
        rows *= t->ne[d];
    }
    if (t->ne[0] && rows > INT64_MAX / t->ne[0])
        FAIL(VLM_ERR_FORMAT, "%s: tensor '%s': element count overflows", g->path, name);
    int64_t bs = vlm_dtype_block_size(t->type);
    if (t->ne[0] % bs)
        FAIL(VLM_ERR_FORMAT, "%s: tensor '%s': row length %lld is not a multiple of the %s block size %lld", g->path,
             name, (long long)t->ne[0], vlm_dtype_name(t->type), (long long)bs);
    if (!vlm_dtype_tensor_size(t->type, t->ne[0], rows, &t->nbytes))
        FAIL(VLM_ERR_FORMAT, "%s: tensor '%s': byte size overflows", g->path, name);
    t->offset = off;
    return VLM_OK;
}

static vlm_status parse(vlm_gguf *g, char *err, size_t err_size) {
    cursor c = {g->buf, g->len, 0};
    unsigned char magic[4];
    uint32_t version;
    uint64_t n_t, n_kv;
    if (!rd(&c, magic, 4) || memcmp(magic, VLM_GGUF_MAGIC, 4) != 0)
        FAIL(VLM_ERR_FORMAT, "%s: not a GGUF file (bad magic)", g->path);
    if (!rd_u32(&c, &version) || !rd_u64(&c, &n_t) || !rd_u64(&c, &n_kv))
        FAIL(VLM_ERR_FORMAT, "%s: truncated GGUF header (%zu bytes)", g->path, g->len);
    if (version == 1) FAIL(VLM_ERR_UNSUPPORTED, "%s: GGUF version 1 is not supported (re-convert the model)", g->path);
    if (version == 0x02000000u || version == 0x03000000u)
        FAIL(VLM_ERR_UNSUPPORTED, "%s: big-endian GGUF files are not supported", g->path);
    if (version != 2 && version != 3) FAIL(VLM_ERR_UNSUPPORTED, "%s: unknown GGUF version %u", g->path, version);
    g->version = version;
    size_t left = g->len - c.pos;
    /* smallest possible kv: 8 (key len) + 1 + 4 (type) + 1; tensor info: 8 + 1 + 4 + 8 + 4 + 8 */
    if (n_kv > left / 14)
        FAIL(VLM_ERR_FORMAT, "%s: %llu key/value pairs cannot fit in %zu bytes", g->path, (unsigned long long)n_kv, left);
    if (n_t > left / 33)
        FAIL(VLM_ERR_FORMAT, "%s: %llu tensors cannot fit in %zu bytes", g->path, (unsigned long long)n_t, left);
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    g->t = calloc(n_t ? (size_t)n_t : 1, sizeof *g->t);
    if (!g->kv || !g->t) FAIL(VLM_ERR_OOM, "%s: out of memory", g->path);
    vlm_status st;
    for (size_t i = 0; i < (size_t)n_kv; i++) {
        g->n_kv = i + 1; /* so that close() frees a partial entry */
        if ((st = parse_kv(g, &c, i, err, err_size))) return st;
    }
    /* duplicate keys and the index for lookups */
    {
        const char **names = malloc((g->n_kv ? g->n_kv : 1) * sizeof *names);
        if (!names) FAIL(VLM_ERR_OOM, "%s: out of memory", g->path);
        for (size_t i = 0; i < g->n_kv; i++) names[i] = g->kv[i].key;
        size_t dup;
        g->kv_sorted = sort_names(names, g->n_kv, &dup);
        free(names);
        if (!g->kv_sorted) FAIL(VLM_ERR_OOM, "%s: out of memory", g->path);
        if (dup != SIZE_MAX) FAIL(VLM_ERR_FORMAT, "%s: duplicate key '%s'", g->path, g->kv[dup].key);
    }
    g->alignment = VLM_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = vlm_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        const kv_entry *e = &g->kv[ai];
        if (e->type != VLM_GGUF_UINT32)
            FAIL(VLM_ERR_FORMAT, "%s: general.alignment has type %s (must be u32)", g->path, type_names[e->type]);
        if (e->v.u < 8 || e->v.u > VLM_GGUF_MAX_ALIGNMENT || (e->v.u & (e->v.u - 1)))
            FAIL(VLM_ERR_FORMAT, "%s: general.alignment %llu is not a power of two in [8, %u]", g->path,
                 (unsigned long long)e->v.u, VLM_GGUF_MAX_ALIGNMENT);
        g->alignment = (size_t)e->v.u;
    }
    for (size_t i = 0; i < (size_t)n_t; i++) {
        g->n_t = i + 1;
        if ((st = parse_tensor(g, &c, i, err, err_size))) return st;
    }
    {
        const char **names = malloc((g->n_t ? g->n_t : 1) * sizeof *names);
        if (!names) FAIL(VLM_ERR_OOM, "%s: out of memory", g->path);
        for (size_t i = 0; i < g->n_t; i++) names[i] = g->t[i].name;
        size_t dup;
        g->t_sorted = sort_names(names, g->n_t, &dup);
        free(names);
        if (!g->t_sorted) FAIL(VLM_ERR_OOM, "%s: out of memory", g->path);
        if (dup != SIZE_MAX) FAIL(VLM_ERR_FORMAT, "%s: duplicate tensor name '%s'", g->path, g->t[dup].name);
    }
    /* data section */
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    g->data_offset = c.pos + pad; /* c.pos <= len <= SIZE_MAX - 2^20 in practice; checked below */
    if (g->data_offset < c.pos) FAIL(VLM_ERR_FORMAT, "%s: file too large", g->path);
    if (g->n_t == 0) return VLM_OK;
    if (g->data_offset > g->len)
        FAIL(VLM_ERR_FORMAT, "%s: the data section starts at byte %zu, past the end of the file (%zu bytes)", g->path,
             g->data_offset, g->len);
    for (size_t i = c.pos; i < g->data_offset; i++)
        if (g->buf[i]) FAIL(VLM_ERR_FORMAT, "%s: non-zero padding byte before the data section (byte %zu)", g->path, i);
    uint64_t data_size = g->len - g->data_offset;
    for (size_t i = 0; i < g->n_t; i++) {
        vlm_gguf_tensor *t = &g->t[i];
        if (t->offset % g->alignment)
            FAIL(VLM_ERR_FORMAT, "%s: tensor '%s': data offset %llu is not a multiple of the alignment %zu", g->path,
                 t->name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            FAIL(VLM_ERR_FORMAT,
                 "%s: tensor '%s': data [%llu, +%zu) runs past the end of the file (data section holds %llu bytes)",
                 g->path, t->name, (unsigned long long)t->offset, t->nbytes, (unsigned long long)data_size);
        t->data = g->buf + g->data_offset + t->offset;
    }
    /* no two tensors may share bytes: sort by offset, track the furthest end */
    offset_idx *o = malloc(g->n_t * sizeof *o);
    if (!o) FAIL(VLM_ERR_OOM, "%s: out of memory", g->path);
    for (size_t i = 0; i < g->n_t; i++) o[i] = (offset_idx){g->t[i].offset, i};
    qsort(o, g->n_t, sizeof *o, cmp_offset_idx);
    uint64_t end = 0;
    const vlm_gguf_tensor *last = NULL;
    for (size_t i = 0; i < g->n_t; i++) {
        const vlm_gguf_tensor *b = &g->t[o[i].idx];
        if (!b->nbytes) continue;
        if (last && b->offset < end) {
            free(o);
            FAIL(VLM_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data section", g->path, last->name, b->name);
        }
        end = b->offset + b->nbytes;
        last = b;
    }
    free(o);
    return VLM_OK;
}

static vlm_status open_common(vlm_gguf *g, vlm_gguf **out, char *err, size_t err_size) {
    vlm_status st = parse(g, err, err_size);
    if (st) {
        vlm_gguf_close(g);
        return st;
    }
    *out = g;
    return VLM_OK;
}

vlm_status vlm_gguf_open_memory(const void *buf, size_t len, const char *label, vlm_gguf **out, char *err,
                                size_t err_size) {
    *out = NULL;
    vlm_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(label ? label : "<memory>"))) {
        free(g);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    g->buf = buf;
    g->len = buf ? len : 0;
    return open_common(g, out, err, err_size);
}

vlm_status vlm_gguf_open(const char *path, vlm_gguf **out, char *err, size_t err_size) {
    *out = NULL;
    vlm_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    vlm_status st = vlm_mmap_open(path, &g->map, err, err_size);
    if (st) {
        vlm_gguf_close(g);
        return st;
    }
    g->buf = g->map.data;
    g->len = g->map.size;
    return open_common(g, out, err, err_size);
}

uint32_t vlm_gguf_version(const vlm_gguf *g) { return g->version; }
size_t vlm_gguf_alignment(const vlm_gguf *g) { return g->alignment; }
size_t vlm_gguf_data_offset(const vlm_gguf *g) { return g->data_offset; }
const char *vlm_gguf_path(const vlm_gguf *g) { return g->path; }
size_t vlm_gguf_n_kv(const vlm_gguf *g) { return g->n_kv; }
const char *vlm_gguf_key_at(const vlm_gguf *g, size_t i) { return i < g->n_kv ? g->kv[i].key : NULL; }
vlm_gguf_type vlm_gguf_kv_type(const vlm_gguf *g, size_t i) { return i < g->n_kv ? g->kv[i].type : (vlm_gguf_type)-1; }
vlm_gguf_type vlm_gguf_arr_type(const vlm_gguf *g, size_t i) {
    return i < g->n_kv && g->kv[i].type == VLM_GGUF_ARRAY ? g->kv[i].arr_type : (vlm_gguf_type)-1;
}
uint64_t vlm_gguf_arr_n(const vlm_gguf *g, size_t i) {
    return i < g->n_kv && g->kv[i].type == VLM_GGUF_ARRAY ? g->kv[i].arr_n : 0;
}

int64_t vlm_gguf_find_key(const vlm_gguf *g, const char *key) {
    size_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->kv[g->kv_sorted[mid]].key, key);
        if (c == 0) return (int64_t)g->kv_sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static vlm_status get_kv(const vlm_gguf *g, const char *key, const kv_entry **e, char *err, size_t err_size) {
    int64_t i = vlm_gguf_find_key(g, key);
    if (i < 0) return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: missing key '%s'", g->path, key);
    *e = &g->kv[i];
    return VLM_OK;
}

static vlm_status wrong_type(const vlm_gguf *g, const kv_entry *e, const char *want, char *err, size_t err_size) {
    return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: key '%s' has type %s, expected %s", g->path, e->key,
                       type_names[e->type], want);
}

static int is_signed_int(int t) {
    return t == VLM_GGUF_INT8 || t == VLM_GGUF_INT16 || t == VLM_GGUF_INT32 || t == VLM_GGUF_INT64;
}
static int is_unsigned_int(int t) {
    return t == VLM_GGUF_UINT8 || t == VLM_GGUF_UINT16 || t == VLM_GGUF_UINT32 || t == VLM_GGUF_UINT64;
}

vlm_status vlm_gguf_get_i64(const vlm_gguf *g, const char *key, int64_t *out, char *err, size_t err_size) {
    const kv_entry *e = NULL;
    vlm_status st = get_kv(g, key, &e, err, err_size);
    if (st) return st;
    if (is_signed_int(e->type)) *out = e->v.i;
    else if (is_unsigned_int(e->type)) {
        if (e->v.u > (uint64_t)INT64_MAX)
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: key '%s': value %llu is out of range", g->path, key,
                               (unsigned long long)e->v.u);
        *out = (int64_t)e->v.u;
    } else
        return wrong_type(g, e, "an integer", err, err_size);
    return VLM_OK;
}

vlm_status vlm_gguf_get_u32(const vlm_gguf *g, const char *key, uint32_t *out, char *err, size_t err_size) {
    int64_t v;
    vlm_status st = vlm_gguf_get_i64(g, key, &v, err, err_size);
    if (st) return st;
    if (v < 0 || v > (int64_t)UINT32_MAX)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: key '%s': value %lld does not fit in u32", g->path, key,
                           (long long)v);
    *out = (uint32_t)v;
    return VLM_OK;
}

vlm_status vlm_gguf_get_f32(const vlm_gguf *g, const char *key, float *out, char *err, size_t err_size) {
    const kv_entry *e = NULL;
    vlm_status st = get_kv(g, key, &e, err, err_size);
    if (st) return st;
    if (e->type != VLM_GGUF_FLOAT32 && e->type != VLM_GGUF_FLOAT64) return wrong_type(g, e, "f32", err, err_size);
    *out = (float)e->v.f;
    return VLM_OK;
}

vlm_status vlm_gguf_get_bool(const vlm_gguf *g, const char *key, bool *out, char *err, size_t err_size) {
    const kv_entry *e = NULL;
    vlm_status st = get_kv(g, key, &e, err, err_size);
    if (st) return st;
    if (e->type != VLM_GGUF_BOOL) return wrong_type(g, e, "bool", err, err_size);
    *out = e->v.u != 0;
    return VLM_OK;
}

vlm_status vlm_gguf_get_str(const vlm_gguf *g, const char *key, const char **s, size_t *len, char *err,
                            size_t err_size) {
    const kv_entry *e = NULL;
    vlm_status st = get_kv(g, key, &e, err, err_size);
    if (st) return st;
    if (e->type != VLM_GGUF_STRING) return wrong_type(g, e, "string", err, err_size);
    *s = e->str;
    if (len) *len = e->str_len;
    return VLM_OK;
}

vlm_status vlm_gguf_get_arr(const vlm_gguf *g, const char *key, vlm_gguf_type elem_type, uint64_t *n, char *err,
                            size_t err_size) {
    const kv_entry *e = NULL;
    vlm_status st = get_kv(g, key, &e, err, err_size);
    if (st) return st;
    if (e->type != VLM_GGUF_ARRAY || e->arr_type != elem_type) {
        char want[32];
        snprintf(want, sizeof want, "array of %s", vlm_gguf_type_name(elem_type));
        if (e->type == VLM_GGUF_ARRAY)
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: key '%s' is an array of %s, expected %s", g->path,
                               key, type_names[e->arr_type], want);
        return wrong_type(g, e, want, err, err_size);
    }
    *n = e->arr_n;
    return VLM_OK;
}

vlm_status vlm_gguf_get_arr_num(const vlm_gguf *g, const char *key, vlm_gguf_type elem_type, void *dst, uint64_t n,
                                char *err, size_t err_size) {
    uint64_t have;
    size_t es = vlm_gguf_value_size(elem_type);
    if (!es) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "key '%s': not a numeric element type", key);
    vlm_status st = vlm_gguf_get_arr(g, key, elem_type, &have, err, err_size);
    if (st) return st;
    if (have != n)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: key '%s' has %llu elements, expected %llu", g->path, key,
                           (unsigned long long)have, (unsigned long long)n);
    if (n) memcpy(dst, g->kv[vlm_gguf_find_key(g, key)].arr, (size_t)n * es);
    return VLM_OK;
}

const char *vlm_gguf_arr_str(const vlm_gguf *g, size_t i, uint64_t j, size_t *len) {
    if (i >= g->n_kv) return NULL;
    const kv_entry *e = &g->kv[i];
    if (e->type != VLM_GGUF_ARRAY || e->arr_type != VLM_GGUF_STRING || j >= e->arr_n) return NULL;
    const unsigned char *p = e->arr + e->str_off[j];
    uint64_t n;
    memcpy(&n, p, 8);
    if (len) *len = (size_t)n;
    return (const char *)p + 8;
}

size_t vlm_gguf_n_tensors(const vlm_gguf *g) { return g->n_t; }
const vlm_gguf_tensor *vlm_gguf_tensor_at(const vlm_gguf *g, size_t i) { return i < g->n_t ? &g->t[i] : NULL; }

const vlm_gguf_tensor *vlm_gguf_find_tensor(const vlm_gguf *g, const char *name) {
    size_t lo = 0, hi = g->n_t;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->t[g->t_sorted[mid]].name, name);
        if (c == 0) return &g->t[g->t_sorted[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static void fmt_shape(char *buf, size_t n, int nd, const int64_t *ne) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int d = 0; d < nd && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, d ? ", %lld" : "%lld", (long long)ne[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

vlm_status vlm_gguf_expect_tensor(const vlm_gguf *g, const char *name, int n_dims, const int64_t *ne,
                                  const vlm_gguf_tensor **out, char *err, size_t err_size) {
    const vlm_gguf_tensor *t = vlm_gguf_find_tensor(g, name);
    if (out) *out = NULL;
    if (!t) return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: missing tensor '%s'", g->path, name);
    int ok = n_dims >= 1 && n_dims <= VLM_GGUF_MAX_DIMS;
    for (int d = 0; ok && d < VLM_GGUF_MAX_DIMS; d++) {
        int64_t want = d < n_dims ? ne[d] : 1;
        if (want && t->ne[d] != want) ok = 0;
    }
    if (!ok) {
        char a[96], b[96];
        fmt_shape(a, sizeof a, n_dims, ne);
        fmt_shape(b, sizeof b, t->n_dims, t->ne);
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s (ggml order)",
                           g->path, name, b, a);
    }
    if (out) *out = t;
    return VLM_OK;
}

/* ================================================================================================ */
/* Writer                                                                                           */
/* ================================================================================================ */

typedef struct {
    char *name;
    int type;
    int n_dims;
    int64_t ne[VLM_GGUF_MAX_DIMS];
    uint64_t offset, nbytes;
} wtensor;

struct vlm_gguf_writer {
    unsigned char *kv;     /* serialized key/value pairs */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    char **keys;           /* for duplicate detection */
    wtensor *t;
    size_t n_t, cap_t;
    uint64_t data_size;    /* padded data section size */
    uint32_t alignment;
    char *path, *tmp_path;
    FILE *f;
    size_t cur;            /* tensor being written */
    uint64_t cur_written;  /* bytes of it written so far */
    int begun, finished;
    char err[512];
};

static vlm_status werr(vlm_gguf_writer *w, vlm_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static vlm_status werr(vlm_gguf_writer *w, vlm_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    return st;
}

vlm_gguf_writer *vlm_gguf_writer_init(void) {
    vlm_gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = VLM_GGUF_DEFAULT_ALIGNMENT;
    return w;
}

const char *vlm_gguf_writer_last_error(const vlm_gguf_writer *w) { return w ? w->err : "out of memory"; }

void vlm_gguf_writer_free(vlm_gguf_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    if (w->tmp_path && !w->finished) unlink(w->tmp_path);
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    free(w->kv);
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

static int kv_put(vlm_gguf_writer *w, const void *p, size_t n) {
    if (!n) return 1;
    if (n > SIZE_MAX - w->kv_len) return 0;
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap < w->kv_len + n) {
            if (cap > SIZE_MAX / 2) return 0;
            cap *= 2;
        }
        unsigned char *nb = realloc(w->kv, cap);
        if (!nb) return 0;
        w->kv = nb;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return 1;
}
static int kv_u32(vlm_gguf_writer *w, uint32_t v) { return kv_put(w, &v, 4); }
static int kv_u64(vlm_gguf_writer *w, uint64_t v) { return kv_put(w, &v, 8); }
static int kv_str(vlm_gguf_writer *w, const char *s, size_t n) { return kv_u64(w, n) && kv_put(w, s, n); }

/* Validate the key, record it, write key + type. */
static vlm_status kv_begin(vlm_gguf_writer *w, const char *key, vlm_gguf_type type) {
    if (w->begun) return werr(w, VLM_ERR_INVALID_ARG, "key '%s' set after the header was written", key);
    size_t n = key ? strlen(key) : 0;
    if (!n || n > VLM_GGUF_MAX_KEY) return werr(w, VLM_ERR_INVALID_ARG, "invalid key length %zu", n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
            return werr(w, VLM_ERR_INVALID_ARG, "key '%s' is not printable ASCII", key);
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0) return werr(w, VLM_ERR_INVALID_ARG, "key '%s' set twice", key);
    char **nk = realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *nk);
    if (!nk) return werr(w, VLM_ERR_OOM, "out of memory");
    w->keys = nk;
    if (!(w->keys[w->n_kv] = strdup(key))) return werr(w, VLM_ERR_OOM, "out of memory");
    w->n_kv++;
    if (!kv_str(w, key, n) || !kv_u32(w, (uint32_t)type)) return werr(w, VLM_ERR_OOM, "out of memory");
    return VLM_OK;
}

static vlm_status set_fixed(vlm_gguf_writer *w, const char *key, vlm_gguf_type type, const void *v) {
    vlm_status st = kv_begin(w, key, type);
    if (st) return st;
    return kv_put(w, v, vlm_gguf_value_size(type)) ? VLM_OK : werr(w, VLM_ERR_OOM, "out of memory");
}

vlm_status vlm_gguf_set_u32(vlm_gguf_writer *w, const char *key, uint32_t v) { return set_fixed(w, key, VLM_GGUF_UINT32, &v); }
vlm_status vlm_gguf_set_i32(vlm_gguf_writer *w, const char *key, int32_t v) { return set_fixed(w, key, VLM_GGUF_INT32, &v); }
vlm_status vlm_gguf_set_u64(vlm_gguf_writer *w, const char *key, uint64_t v) { return set_fixed(w, key, VLM_GGUF_UINT64, &v); }
vlm_status vlm_gguf_set_f32(vlm_gguf_writer *w, const char *key, float v) { return set_fixed(w, key, VLM_GGUF_FLOAT32, &v); }
vlm_status vlm_gguf_set_bool(vlm_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return set_fixed(w, key, VLM_GGUF_BOOL, &b);
}

vlm_status vlm_gguf_set_str_n(vlm_gguf_writer *w, const char *key, const char *s, size_t len) {
    vlm_status st = kv_begin(w, key, VLM_GGUF_STRING);
    if (st) return st;
    return kv_str(w, s, len) ? VLM_OK : werr(w, VLM_ERR_OOM, "out of memory");
}
vlm_status vlm_gguf_set_str(vlm_gguf_writer *w, const char *key, const char *s) {
    return vlm_gguf_set_str_n(w, key, s, strlen(s));
}

vlm_status vlm_gguf_set_arr_str(vlm_gguf_writer *w, const char *key, const char *const *s, const size_t *lens,
                                size_t n) {
    vlm_status st = kv_begin(w, key, VLM_GGUF_ARRAY);
    if (st) return st;
    if (!kv_u32(w, VLM_GGUF_STRING) || !kv_u64(w, n)) return werr(w, VLM_ERR_OOM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!kv_str(w, s[i], lens ? lens[i] : strlen(s[i]))) return werr(w, VLM_ERR_OOM, "out of memory");
    return VLM_OK;
}

vlm_status vlm_gguf_set_arr_num(vlm_gguf_writer *w, const char *key, vlm_gguf_type elem_type, const void *data,
                                size_t n) {
    size_t es = vlm_gguf_value_size(elem_type), bytes;
    if (!es) return werr(w, VLM_ERR_INVALID_ARG, "key '%s': array element type %d is not numeric", key, elem_type);
    if (!vlm_mul_ok(n, es, &bytes)) return werr(w, VLM_ERR_INVALID_ARG, "key '%s': array too large", key);
    vlm_status st = kv_begin(w, key, VLM_GGUF_ARRAY);
    if (st) return st;
    if (!kv_u32(w, (uint32_t)elem_type) || !kv_u64(w, n) || !kv_put(w, data, bytes))
        return werr(w, VLM_ERR_OOM, "out of memory");
    return VLM_OK;
}

vlm_status vlm_gguf_writer_set_alignment(vlm_gguf_writer *w, uint32_t a) {
    if (w->begun || w->n_t) return werr(w, VLM_ERR_INVALID_ARG, "alignment must be set before adding tensors");
    if (a < 8 || a > VLM_GGUF_MAX_ALIGNMENT || (a & (a - 1)))
        return werr(w, VLM_ERR_INVALID_ARG, "alignment %u is not a power of two in [8, %u]", a, VLM_GGUF_MAX_ALIGNMENT);
    w->alignment = a;
    return VLM_OK;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

vlm_status vlm_gguf_add_tensor(vlm_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne) {
    if (w->begun) return werr(w, VLM_ERR_INVALID_ARG, "tensor '%s' added after the header was written", name);
    size_t nl = name ? strlen(name) : 0;
    if (!nl || nl > VLM_GGUF_MAX_NAME) return werr(w, VLM_ERR_INVALID_ARG, "tensor name length %zu (must be 1..%d)", nl, VLM_GGUF_MAX_NAME);
    if (!vlm_dtype_valid(type)) return werr(w, VLM_ERR_INVALID_ARG, "tensor '%s': invalid type %d", name, type);
    if (n_dims < 1 || n_dims > VLM_GGUF_MAX_DIMS) return werr(w, VLM_ERR_INVALID_ARG, "tensor '%s': %d dimensions", name, n_dims);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return werr(w, VLM_ERR_INVALID_ARG, "tensor '%s' added twice", name);
    wtensor t = {0};
    t.type = type;
    t.n_dims = n_dims;
    int64_t rows = 1;
    for (int d = 0; d < VLM_GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 0) return werr(w, VLM_ERR_INVALID_ARG, "tensor '%s': negative dimension", name);
        if (d > 0) {
            if (t.ne[d] && rows > INT64_MAX / t.ne[d]) return werr(w, VLM_ERR_INVALID_ARG, "tensor '%s': too large", name);
            rows *= t.ne[d];
        }
    }
    size_t nbytes;
    if (t.ne[0] % vlm_dtype_block_size(type) || !vlm_dtype_tensor_size(type, t.ne[0], rows, &nbytes))
        return werr(w, VLM_ERR_INVALID_ARG, "tensor '%s': row length %lld does not fit type %s", name,
                    (long long)t.ne[0], vlm_dtype_name(type));
    t.nbytes = nbytes;
    t.offset = w->data_size;
    if (t.nbytes > UINT64_MAX - w->alignment - w->data_size) return werr(w, VLM_ERR_INVALID_ARG, "file too large");
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) return werr(w, VLM_ERR_OOM, "out of memory");
        w->t = nt;
        w->cap_t = cap;
    }
    if (!(t.name = strdup(name))) return werr(w, VLM_ERR_OOM, "out of memory");
    w->t[w->n_t++] = t;
    w->data_size = align_up(t.offset + t.nbytes, w->alignment);
    return VLM_OK;
}

/* Header + kv + tensor infos, unpadded. */
static uint64_t header_size(const vlm_gguf_writer *w) {
    /* general.alignment (8 + 17 + 4 + 4 bytes) is appended by begin() */
    uint64_t n = 4 + 4 + 8 + 8 + w->kv_len + (w->begun ? 0 : 33);
    for (size_t i = 0; i < w->n_t; i++) n += 8 + strlen(w->t[i].name) + 4 + 8 * (uint64_t)w->t[i].n_dims + 4 + 8;
    return n;
}

uint64_t vlm_gguf_writer_file_size(const vlm_gguf_writer *w) {
    uint64_t h = align_up(header_size(w), w->alignment);
    if (!w->n_t) return header_size(w);
    /* the last tensor is not padded after its data */
    const wtensor *l = &w->t[w->n_t - 1];
    return h + l->offset + l->nbytes;
}

static int wr(vlm_gguf_writer *w, const void *p, size_t n) { return fwrite(p, 1, n, w->f) == n; }
static int wr_zeros(vlm_gguf_writer *w, uint64_t n) {
    static const unsigned char z[256];
    while (n) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        if (!wr(w, z, k)) return 0;
        n -= k;
    }
    return 1;
}

vlm_status vlm_gguf_writer_begin(vlm_gguf_writer *w, const char *path) {
    if (w->begun) return werr(w, VLM_ERR_INVALID_ARG, "begin called twice");
    /* general.alignment goes last among the keys (accounted for in header_size) */
    uint32_t a = w->alignment;
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], "general.alignment") == 0)
            return werr(w, VLM_ERR_INVALID_ARG, "general.alignment is written by the writer (see set_alignment)");
    vlm_status st = set_fixed(w, "general.alignment", VLM_GGUF_UINT32, &a);
    if (st) return st;
    w->begun = 1;
    size_t pl = strlen(path);
    w->path = strdup(path);
    w->tmp_path = malloc(pl + 6);
    if (!w->path || !w->tmp_path) return werr(w, VLM_ERR_OOM, "out of memory");
    memcpy(w->tmp_path, path, pl);
    memcpy(w->tmp_path + pl, ".part", 6);
    w->f = fopen(w->tmp_path, "wb");
    if (!w->f) return werr(w, VLM_ERR_IO, "%s: %s", w->tmp_path, strerror(errno));
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    uint32_t version = VLM_GGUF_VERSION;
    uint64_t n_t = w->n_t;
    int ok = wr(w, VLM_GGUF_MAGIC, 4) && wr(w, &version, 4) && wr(w, &n_t, 8) && wr(w, &w->n_kv, 8) &&
             wr(w, w->kv, w->kv_len);
    uint64_t pos = 24 + w->kv_len;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t nl = strlen(t->name);
        uint32_t nd = (uint32_t)t->n_dims, ty = (uint32_t)t->type;
        ok = wr(w, &nl, 8) && wr(w, t->name, (size_t)nl) && wr(w, &nd, 4);
        for (int d = 0; ok && d < t->n_dims; d++) {
            uint64_t v = (uint64_t)t->ne[d];
            ok = wr(w, &v, 8);
        }
        ok = ok && wr(w, &ty, 4) && wr(w, &t->offset, 8);
        pos += 8 + nl + 4 + 8 * (uint64_t)nd + 4 + 8;
    }
    ok = ok && wr_zeros(w, align_up(pos, w->alignment) - pos);
    if (!ok) return werr(w, VLM_ERR_IO, "%s: write failed: %s", w->tmp_path, strerror(errno));
    w->cur = 0;
    w->cur_written = 0;
    return VLM_OK;
}

vlm_status vlm_gguf_writer_write(vlm_gguf_writer *w, const void *data, size_t n) {
    if (!w->begun || !w->f) return werr(w, VLM_ERR_INVALID_ARG, "write before begin");
    const unsigned char *p = data;
    while (n) {
        if (w->cur >= w->n_t) return werr(w, VLM_ERR_INVALID_ARG, "more tensor data written than declared");
        const wtensor *t = &w->t[w->cur];
        uint64_t left = t->nbytes - w->cur_written;
        size_t k = n < left ? n : (size_t)left;
        if (k && !wr(w, p, k)) return werr(w, VLM_ERR_IO, "%s: write failed: %s", w->tmp_path, strerror(errno));
        p += k;
        n -= k;
        w->cur_written += k;
        if (w->cur_written == t->nbytes) {
            if (w->cur + 1 < w->n_t) {
                uint64_t next = w->t[w->cur + 1].offset;
                if (!wr_zeros(w, next - (t->offset + t->nbytes)))
                    return werr(w, VLM_ERR_IO, "%s: write failed: %s", w->tmp_path, strerror(errno));
            }
            w->cur++;
            w->cur_written = 0;
        }
    }
    /* zero-size tensors complete without data */
    while (w->cur < w->n_t && w->t[w->cur].nbytes == 0 && w->cur_written == 0) {
        if (w->cur + 1 < w->n_t && !wr_zeros(w, w->t[w->cur + 1].offset - w->t[w->cur].offset))
            return werr(w, VLM_ERR_IO, "%s: write failed: %s", w->tmp_path, strerror(errno));
        w->cur++;
    }
    return VLM_OK;
}

vlm_status vlm_gguf_writer_finish(vlm_gguf_writer *w) {
    if (!w->begun || !w->f) return werr(w, VLM_ERR_INVALID_ARG, "finish before begin");
    vlm_status st = vlm_gguf_writer_write(w, NULL, 0); /* completes trailing zero-size tensors */
    if (st) return st;
    if (w->cur != w->n_t)
        return werr(w, VLM_ERR_INVALID_ARG, "tensor '%s' is incomplete (%llu of %llu bytes written)", w->t[w->cur].name,
                    (unsigned long long)w->cur_written, (unsigned long long)w->t[w->cur].nbytes);
    int bad = fflush(w->f) != 0 || ferror(w->f);
    bad |= fclose(w->f) != 0;
    w->f = NULL;
    if (bad) return werr(w, VLM_ERR_IO, "%s: write failed: %s", w->tmp_path, strerror(errno));
    if (rename(w->tmp_path, w->path) != 0)
        return werr(w, VLM_ERR_IO, "rename %s -> %s: %s", w->tmp_path, w->path, strerror(errno));
    w->finished = 1;
    return VLM_OK;
}
