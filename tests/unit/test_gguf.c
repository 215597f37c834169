/* test_gguf.c - the GGUF writer and reader: a file with every key type and
 * every tensor type is written (also in 1-byte pieces, which must give the
 * same bytes) and read back exactly; typed getters refuse wrong types; writer
 * misuse is refused and leaves no file; and a table of handcrafted corrupt
 * files (bad magic, versions, hostile counts and lengths, alignment, tensor
 * shapes/types/offsets, truncation) must each be refused with the right
 * status and a message naming the problem. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/util.h"
#include "io/gguf.h"
#include "ops/quant.h"

static char tmpdir[] = "/tmp/vlm_gguf_test_XXXXXX";

static unsigned char *slurp(const char *path, size_t *n) {
    char err[256];
    return (unsigned char *)vlm_read_file(path, n, err, sizeof err);
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* tensor payloads */
static float t_f32[12];
static uint16_t t_f16[8], t_bf16[4];
static unsigned char t_q8[2 * 34], t_q4[2 * 18];

static void fill_payloads(void) {
    for (int i = 0; i < 12; i++) t_f32[i] = (float)i * 0.5f - 2.0f;
    for (int i = 0; i < 8; i++) t_f16[i] = vlm_f32_to_f16((float)i - 3.5f);
    for (int i = 0; i < 4; i++) t_bf16[i] = vlm_f32_to_bf16((float)i * 1.25f);
    for (int i = 0; i < (int)sizeof t_q8; i++) t_q8[i] = (unsigned char)(i * 7 + 1);
    for (int i = 0; i < (int)sizeof t_q4; i++) t_q4[i] = (unsigned char)(i * 13 + 5);
}

/* Write the reference file; piece = bytes per write() call (0: whole tensors). */
static vlm_status write_ref(const char *path, size_t piece) {
    vlm_gguf_writer *w = vlm_gguf_writer_init();
    if (!w) return VLM_ERR_OOM;
    const char *strs[3] = {"a", "", "ccc"};
    int32_t ints[3] = {-1, 0, 7};
    float fl[2] = {0.5f, -1.0f};
    int bad = 0;
    bad |= vlm_gguf_set_str(w, "general.architecture", "llama") != VLM_OK;
    bad |= vlm_gguf_set_u32(w, "test.u32", 4000000000u) != VLM_OK;
    bad |= vlm_gguf_set_i32(w, "test.i32", -5) != VLM_OK;
    bad |= vlm_gguf_set_u64(w, "test.u64", (uint64_t)1 << 40) != VLM_OK;
    bad |= vlm_gguf_set_f32(w, "test.f32", 0.725f) != VLM_OK;
    bad |= vlm_gguf_set_bool(w, "test.bool", true) != VLM_OK;
    bad |= vlm_gguf_set_str_n(w, "test.nul", "a\0b", 3) != VLM_OK;
    bad |= vlm_gguf_set_arr_str(w, "test.strs", strs, NULL, 3) != VLM_OK;
    bad |= vlm_gguf_set_arr_num(w, "test.ints", VLM_GGUF_INT32, ints, 3) != VLM_OK;
    bad |= vlm_gguf_set_arr_num(w, "test.floats", VLM_GGUF_FLOAT32, fl, 2) != VLM_OK;
    bad |= vlm_gguf_set_arr_num(w, "test.empty", VLM_GGUF_INT32, NULL, 0) != VLM_OK;
    int64_t ne_f32[2] = {4, 3}, ne_f16[1] = {8}, ne_bf16[2] = {2, 2}, ne_q8[2] = {32, 2}, ne_q4[1] = {64}, ne_z[2] = {0, 3};
    bad |= vlm_gguf_add_tensor(w, "w.f32", VLM_DT_F32, 2, ne_f32) != VLM_OK;
    bad |= vlm_gguf_add_tensor(w, "w.empty", VLM_DT_F32, 2, ne_z) != VLM_OK;
    bad |= vlm_gguf_add_tensor(w, "w.f16", VLM_DT_F16, 1, ne_f16) != VLM_OK;
    bad |= vlm_gguf_add_tensor(w, "w.bf16", VLM_DT_BF16, 2, ne_bf16) != VLM_OK;
    bad |= vlm_gguf_add_tensor(w, "w.q8_0", VLM_DT_Q8_0, 2, ne_q8) != VLM_OK;
    bad |= vlm_gguf_add_tensor(w, "w.q4_0", VLM_DT_Q4_0, 1, ne_q4) != VLM_OK;
    uint64_t want_size = vlm_gguf_writer_file_size(w);
    bad |= vlm_gguf_writer_begin(w, path) != VLM_OK;
    const void *data[5] = {t_f32, t_f16, t_bf16, t_q8, t_q4};
    size_t sizes[5] = {sizeof t_f32, sizeof t_f16, sizeof t_bf16, sizeof t_q8, sizeof t_q4};
    for (int i = 0; i < 5 && !bad; i++) {
        const unsigned char *p = data[i];
        size_t n = sizes[i], step = piece ? piece : n;
        for (size_t o = 0; o < n && !bad; o += step)
            bad |= vlm_gguf_writer_write(w, p + o, n - o < step ? n - o : step) != VLM_OK;
    }
    bad |= vlm_gguf_writer_finish(w) != VLM_OK;
    if (bad) fprintf(stderr, "writer: %s\n", vlm_gguf_writer_last_error(w));
    vlm_gguf_writer_free(w);
    struct stat st;
    if (!bad && (stat(path, &st) != 0 || (uint64_t)st.st_size != want_size)) {
        fprintf(stderr, "file size %lld, predicted %llu\n", (long long)st.st_size, (unsigned long long)want_size);
        bad = 1;
    }
    return bad ? VLM_ERR_IO : VLM_OK;
}

static void test_roundtrip(void) {
    char p1[256], p2[256], err[512] = "";
    snprintf(p1, sizeof p1, "%s/a.gguf", tmpdir);
    snprintf(p2, sizeof p2, "%s/b.gguf", tmpdir);
    CHECK(write_ref(p1, 0) == VLM_OK);
    CHECK(write_ref(p2, 1) == VLM_OK);
    char part[300];
    snprintf(part, sizeof part, "%s.part", p1);
    CHECK(exists(p1) && !exists(part));
    size_t n1 = 0, n2 = 0;
    unsigned char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    vlm_gguf *g = NULL;
    CHECK_MSG(vlm_gguf_open(p1, &g, err, sizeof err) == VLM_OK, "%s", err);
    if (!g) return;
    CHECK(vlm_gguf_version(g) == 3 && vlm_gguf_alignment(g) == 32 && vlm_gguf_data_offset(g) % 32 == 0);
    uint32_t u;
    int64_t i64;
    float f;
    bool b;
    const char *s;
    size_t sl;
    uint64_t n;
    CHECK(vlm_gguf_get_u32(g, "test.u32", &u, err, sizeof err) == VLM_OK && u == 4000000000u);
    CHECK(vlm_gguf_get_i64(g, "test.i32", &i64, err, sizeof err) == VLM_OK && i64 == -5);
    CHECK(vlm_gguf_get_i64(g, "test.u64", &i64, err, sizeof err) == VLM_OK && i64 == (int64_t)1 << 40);
    CHECK(vlm_gguf_get_u32(g, "test.u64", &u, err, sizeof err) == VLM_ERR_FORMAT); /* does not fit */
    CHECK(vlm_gguf_get_u32(g, "test.i32", &u, err, sizeof err) == VLM_ERR_FORMAT); /* negative */
    CHECK(vlm_gguf_get_f32(g, "test.f32", &f, err, sizeof err) == VLM_OK && f == 0.725f);
    CHECK(vlm_gguf_get_bool(g, "test.bool", &b, err, sizeof err) == VLM_OK && b);
    CHECK(vlm_gguf_get_str(g, "general.architecture", &s, &sl, err, sizeof err) == VLM_OK && strcmp(s, "llama") == 0);
    CHECK(vlm_gguf_get_str(g, "test.nul", &s, &sl, err, sizeof err) == VLM_OK && sl == 3 && memcmp(s, "a\0b", 3) == 0);
    CHECK(vlm_gguf_get_u32(g, "general.architecture", &u, err, sizeof err) == VLM_ERR_FORMAT);
    CHECK_MSG(strstr(err, "general.architecture") && strstr(err, "string"), "%s", err);
    CHECK(vlm_gguf_get_f32(g, "test.missing", &f, err, sizeof err) == VLM_ERR_FORMAT);
    CHECK_MSG(strstr(err, "missing key 'test.missing'"), "%s", err);
    CHECK(vlm_gguf_get_arr(g, "test.strs", VLM_GGUF_STRING, &n, err, sizeof err) == VLM_OK && n == 3);
    CHECK(vlm_gguf_get_arr(g, "test.strs", VLM_GGUF_INT32, &n, err, sizeof err) == VLM_ERR_FORMAT);
    int64_t ki = vlm_gguf_find_key(g, "test.strs");
    CHECK(ki >= 0 && vlm_gguf_kv_type(g, (size_t)ki) == VLM_GGUF_ARRAY &&
          vlm_gguf_arr_type(g, (size_t)ki) == VLM_GGUF_STRING && vlm_gguf_arr_n(g, (size_t)ki) == 3);
    s = vlm_gguf_arr_str(g, (size_t)ki, 2, &sl);
    CHECK(s && sl == 3 && memcmp(s, "ccc", 3) == 0);
    s = vlm_gguf_arr_str(g, (size_t)ki, 1, &sl);
    CHECK(s && sl == 0);
    CHECK(vlm_gguf_arr_str(g, (size_t)ki, 3, &sl) == NULL);
    int32_t ints[3] = {0};
    CHECK(vlm_gguf_get_arr_num(g, "test.ints", VLM_GGUF_INT32, ints, 3, err, sizeof err) == VLM_OK && ints[0] == -1 &&
          ints[2] == 7);
    CHECK(vlm_gguf_get_arr_num(g, "test.ints", VLM_GGUF_INT32, ints, 2, err, sizeof err) == VLM_ERR_FORMAT);
    CHECK(vlm_gguf_get_arr(g, "test.empty", VLM_GGUF_INT32, &n, err, sizeof err) == VLM_OK && n == 0);
    CHECK(vlm_gguf_find_key(g, "general.alignment") >= 0);
    CHECK(vlm_gguf_n_tensors(g) == 6);
    const vlm_gguf_tensor *t;
    int64_t want_ne[2] = {4, 3};
    CHECK(vlm_gguf_expect_tensor(g, "w.f32", 2, want_ne, &t, err, sizeof err) == VLM_OK && t &&
          t->type == VLM_DT_F32 && memcmp(t->data, t_f32, sizeof t_f32) == 0 && t->nbytes == sizeof t_f32);
    int64_t wrong_ne[2] = {3, 4};
    CHECK(vlm_gguf_expect_tensor(g, "w.f32", 2, wrong_ne, &t, err, sizeof err) == VLM_ERR_FORMAT);
    CHECK_MSG(strstr(err, "w.f32") && strstr(err, "[4, 3]") && strstr(err, "[3, 4]"), "%s", err);
    CHECK(vlm_gguf_expect_tensor(g, "w.none", 1, want_ne, &t, err, sizeof err) == VLM_ERR_FORMAT);
    int64_t any[2] = {0, 3};
    CHECK(vlm_gguf_expect_tensor(g, "w.f32", 2, any, NULL, err, sizeof err) == VLM_OK);
    struct {
        const char *name;
        const void *data;
        size_t n;
        int type;
    } ts[] = {{"w.f16", t_f16, sizeof t_f16, VLM_DT_F16},
              {"w.bf16", t_bf16, sizeof t_bf16, VLM_DT_BF16},
              {"w.q8_0", t_q8, sizeof t_q8, VLM_DT_Q8_0},
              {"w.q4_0", t_q4, sizeof t_q4, VLM_DT_Q4_0}};
    for (size_t i = 0; i < 4; i++) {
        t = vlm_gguf_find_tensor(g, ts[i].name);
        CHECK_MSG(t && t->type == ts[i].type && t->nbytes == ts[i].n && memcmp(t->data, ts[i].data, ts[i].n) == 0 &&
                      t->offset % 32 == 0 && ((uintptr_t)t->data % 32) == 0,
                  "%s", ts[i].name);
    }
    t = vlm_gguf_find_tensor(g, "w.empty");
    CHECK(t && t->nbytes == 0 && t->ne[0] == 0 && t->ne[1] == 3);
    t = vlm_gguf_find_tensor(g, "w.q8_0");
    CHECK(t && t->n_dims == 2 && t->ne[0] == 32 && t->ne[1] == 2 && t->ne[2] == 1);
    vlm_gguf_close(g);
    unlink(p1);
    unlink(p2);
}

static void test_writer_misuse(void) {
    char p[256];
    snprintf(p, sizeof p, "%s/bad.gguf", tmpdir);
    vlm_gguf_writer *w = vlm_gguf_writer_init();
    int64_t ne33[1] = {33}, ne4[1] = {4};
    CHECK(vlm_gguf_add_tensor(w, "q", VLM_DT_Q8_0, 1, ne33) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_gguf_add_tensor(w, "t", 99, 1, ne4) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_gguf_add_tensor(w, "", VLM_DT_F32, 1, ne4) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_gguf_add_tensor(w, "t", VLM_DT_F32, 5, ne4) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_gguf_set_u32(w, "k", 1) == VLM_OK);
    CHECK(vlm_gguf_set_u32(w, "k", 2) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_gguf_set_u32(w, "bad key", 2) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_gguf_writer_set_alignment(w, 48) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_gguf_add_tensor(w, "t", VLM_DT_F32, 1, ne4) == VLM_OK);
    CHECK(vlm_gguf_add_tensor(w, "t", VLM_DT_F32, 1, ne4) == VLM_ERR_INVALID_ARG);
    CHECK(vlm_gguf_writer_begin(w, p) == VLM_OK);
    CHECK(vlm_gguf_set_u32(w, "late", 1) == VLM_ERR_INVALID_ARG);
    float x[5] = {0};
    CHECK(vlm_gguf_writer_write(w, x, 8) == VLM_OK);
    CHECK(vlm_gguf_writer_finish(w) == VLM_ERR_INVALID_ARG); /* incomplete */
    CHECK(strstr(vlm_gguf_writer_last_error(w), "'t' is incomplete"));
    CHECK(vlm_gguf_writer_write(w, x, 12) == VLM_ERR_INVALID_ARG); /* more than declared */
    vlm_gguf_writer_free(w);
    char part[300];
    snprintf(part, sizeof part, "%s.part", p);
    CHECK(!exists(p) && !exists(part));
    /* an unwritable destination */
    w = vlm_gguf_writer_init();
    CHECK(vlm_gguf_writer_begin(w, "/nonexistent-dir/x.gguf") == VLM_ERR_IO);
    vlm_gguf_writer_free(w);
    /* a custom alignment is honoured and read back */
    w = vlm_gguf_writer_init();
    CHECK(vlm_gguf_writer_set_alignment(w, 64) == VLM_OK);
    CHECK(vlm_gguf_add_tensor(w, "a", VLM_DT_F32, 1, ne4) == VLM_OK && vlm_gguf_add_tensor(w, "b", VLM_DT_F32, 1, ne4) == VLM_OK);
    CHECK(vlm_gguf_writer_begin(w, p) == VLM_OK && vlm_gguf_writer_write(w, x, 16) == VLM_OK &&
          vlm_gguf_writer_write(w, x, 16) == VLM_OK && vlm_gguf_writer_finish(w) == VLM_OK);
    vlm_gguf_writer_free(w);
    vlm_gguf *g = NULL;
    char err[256];
    CHECK(vlm_gguf_open(p, &g, err, sizeof err) == VLM_OK && vlm_gguf_alignment(g) == 64 &&
          vlm_gguf_find_tensor(g, "b")->offset == 64);
    vlm_gguf_close(g);
    unlink(p);
}

/* ---- handcrafted corrupt files ------------------------------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void str(buf *b, const char *s) { u64(b, strlen(s)), put(b, s, strlen(s)); }
static void pad_to(buf *b, size_t a) {
    while (b->n % a) put(b, "", 1);
}

enum {
    C_OK, C_MAGIC, C_SHORT, C_V1, C_BE, C_V9, C_NKV_HUGE, C_NT_HUGE, C_KEYLEN_HUGE, C_KEY_SPACE, C_KEY_EMPTY,
    C_DUP_KEY, C_KV_TYPE, C_BOOL2, C_NESTED, C_STR_PAST, C_ARR_HUGE, C_STRARR_HUGE, C_ALIGN_NPOT, C_ALIGN_TYPE,
    C_NAME_LONG, C_NDIMS5, C_NDIMS0, C_TYPE_BAD, C_TYPE_KQ, C_ROW_BLOCK, C_MISALIGNED, C_PAST_END, C_OVERLAP,
    C_DUP_TENSOR, C_DIM_OVERFLOW, C_DIM_NEG, C_PADDING, C_TRUNC_DATA, C_TRUNC_INFO, C_V2, C_COUNT
};

/* One valid file, with exactly one thing broken by `c`:
 * kv: general.architecture = "llama", test.flag = true, test.list = [1, 2] (i32);
 * tensors: a f32 [8, 2] at 0, b f32 [8] at 64. */
static buf build(int c) {
    buf b = {0};
    put(&b, c == C_MAGIC ? "GGUX" : "GGUF", 4);
    u32(&b, c == C_V1 ? 1 : c == C_BE ? 0x03000000u : c == C_V9 ? 9 : c == C_V2 ? 2 : 3);
    u64(&b, c == C_NT_HUGE ? (uint64_t)1 << 60 : 2);
    int extra = (c == C_DUP_KEY || c == C_ALIGN_NPOT || c == C_ALIGN_TYPE) ? 1 : 0;
    u64(&b, c == C_NKV_HUGE ? (uint64_t)1 << 61 : 3 + (uint64_t)extra);
    if (c == C_KEYLEN_HUGE) u64(&b, (uint64_t)1 << 62), put(&b, "general.architecture", 20);
    else str(&b, c == C_KEY_SPACE ? "general architecture" : c == C_KEY_EMPTY ? "" : "general.architecture");
    u32(&b, VLM_GGUF_STRING);
    if (c == C_STR_PAST) u64(&b, 1u << 30), put(&b, "llama", 5);
    else str(&b, "llama");
    str(&b, "test.flag");
    u32(&b, c == C_KV_TYPE ? 13 : VLM_GGUF_BOOL);
    put(&b, c == C_BOOL2 ? "\2" : "\1", 1);
    str(&b, "test.list");
    u32(&b, VLM_GGUF_ARRAY);
    if (c == C_NESTED) u32(&b, VLM_GGUF_ARRAY), u64(&b, 0);
    else if (c == C_ARR_HUGE) u32(&b, VLM_GGUF_INT32), u64(&b, (uint64_t)1 << 62);
    else if (c == C_STRARR_HUGE) u32(&b, VLM_GGUF_STRING), u64(&b, (uint64_t)1 << 40);
    else u32(&b, VLM_GGUF_INT32), u64(&b, 2), u32(&b, 1), u32(&b, 2);
    if (c == C_DUP_KEY) str(&b, "test.flag"), u32(&b, VLM_GGUF_BOOL), put(&b, "\0", 1);
    if (c == C_ALIGN_NPOT) str(&b, "general.alignment"), u32(&b, VLM_GGUF_UINT32), u32(&b, 48);
    if (c == C_ALIGN_TYPE) str(&b, "general.alignment"), u32(&b, VLM_GGUF_UINT64), u64(&b, 32);
    /* tensor a */
    str(&b, c == C_NAME_LONG ? "a234567890123456789012345678901234567890123456789012345678901234x" : "a");
    u32(&b, c == C_NDIMS5 ? 5 : c == C_NDIMS0 ? 0 : 2);
    if (c == C_DIM_OVERFLOW) u64(&b, (uint64_t)1 << 40), u64(&b, (uint64_t)1 << 40);
    else if (c == C_DIM_NEG) u64(&b, (uint64_t)-8), u64(&b, 2);
    else u64(&b, c == C_ROW_BLOCK ? 33 : 8), u64(&b, 2);
    if (c == C_NDIMS5) u64(&b, 1), u64(&b, 1), u64(&b, 1);
    u32(&b, c == C_TYPE_BAD ? 99 : c == C_TYPE_KQ ? 12 : c == C_ROW_BLOCK ? VLM_DT_Q8_0 : VLM_DT_F32);
    u64(&b, c == C_MISALIGNED ? 4 : 0);
    /* tensor b */
    if (c == C_TRUNC_INFO) return b;
    str(&b, c == C_DUP_TENSOR ? "a" : "b");
    u32(&b, 1);
    u64(&b, 8);
    u32(&b, VLM_DT_F32);
    u64(&b, c == C_PAST_END ? 1024 : c == C_OVERLAP ? 32 : 64);
    size_t info_end = b.n;
    pad_to(&b, 32);
    if (c == C_PADDING && b.n > info_end) b.p[info_end] = 0xff;
    float data[24];
    for (int i = 0; i < 24; i++) data[i] = (float)i;
    put(&b, data, 64);  /* a: 16 floats */
    put(&b, data, 32);  /* b: 8 floats at 64 */
    if (c == C_TRUNC_DATA) b.n -= 5;
    return b;
}

static const struct {
    int c;
    const char *name;
    vlm_status want;
    const char *msg;
} cases[] = {
    {C_MAGIC, "bad magic", VLM_ERR_FORMAT, "bad magic"},
    {C_SHORT, "truncated header", VLM_ERR_FORMAT, "truncated GGUF header"},
    {C_V1, "version 1", VLM_ERR_UNSUPPORTED, "version 1"},
    {C_BE, "big-endian", VLM_ERR_UNSUPPORTED, "big-endian"},
    {C_V9, "version 9", VLM_ERR_UNSUPPORTED, "version 9"},
    {C_NKV_HUGE, "huge kv count", VLM_ERR_FORMAT, "key/value pairs cannot fit"},
    {C_NT_HUGE, "huge tensor count", VLM_ERR_FORMAT, "tensors cannot fit"},
    {C_KEYLEN_HUGE, "huge key length", VLM_ERR_FORMAT, "truncated key"},
    {C_KEY_SPACE, "key with a space", VLM_ERR_FORMAT, "not printable ASCII"},
    {C_KEY_EMPTY, "empty key", VLM_ERR_FORMAT, "key length 0"},
    {C_DUP_KEY, "duplicate key", VLM_ERR_FORMAT, "duplicate key 'test.flag'"},
    {C_KV_TYPE, "unknown value type", VLM_ERR_FORMAT, "unknown value type 13"},
    {C_BOOL2, "bool 2", VLM_ERR_FORMAT, "bool value 2"},
    {C_NESTED, "nested array", VLM_ERR_UNSUPPORTED, "nested arrays"},
    {C_STR_PAST, "string past the end", VLM_ERR_FORMAT, "string runs past the end"},
    {C_ARR_HUGE, "huge array", VLM_ERR_FORMAT, "runs past the end"},
    {C_STRARR_HUGE, "huge string array", VLM_ERR_FORMAT, "strings runs past the end"},
    {C_ALIGN_NPOT, "alignment 48", VLM_ERR_FORMAT, "not a power of two"},
    {C_ALIGN_TYPE, "alignment u64", VLM_ERR_FORMAT, "must be u32"},
    {C_NAME_LONG, "65-byte name", VLM_ERR_FORMAT, "name length 65"},
    {C_NDIMS5, "5 dims", VLM_ERR_FORMAT, "5 dimensions"},
    {C_NDIMS0, "0 dims", VLM_ERR_FORMAT, "0 dimensions"},
    {C_TYPE_BAD, "type 99", VLM_ERR_UNSUPPORTED, "type id 99"},
    {C_TYPE_KQ, "type q4_K", VLM_ERR_UNSUPPORTED, "type id 12"},
    {C_ROW_BLOCK, "row not a block multiple", VLM_ERR_FORMAT, "not a multiple of the q8_0 block"},
    {C_MISALIGNED, "misaligned offset", VLM_ERR_FORMAT, "not a multiple of the alignment"},
    {C_PAST_END, "data past the end", VLM_ERR_FORMAT, "'b': data [1024"},
    {C_OVERLAP, "overlapping tensors", VLM_ERR_FORMAT, "overlap"},
    {C_DUP_TENSOR, "duplicate tensor", VLM_ERR_FORMAT, "duplicate tensor name 'a'"},
    {C_DIM_OVERFLOW, "size overflow", VLM_ERR_FORMAT, "overflows"},
    {C_DIM_NEG, "dimension above INT64_MAX", VLM_ERR_FORMAT, "dimension 0"},
    {C_PADDING, "non-zero padding", VLM_ERR_FORMAT, "padding"},
    {C_TRUNC_DATA, "truncated data", VLM_ERR_FORMAT, "runs past the end of the file"},
    {C_TRUNC_INFO, "truncated tensor infos", VLM_ERR_FORMAT, "tensor info 1"},
};

static void test_corrupt(void) {
    char err[512];
    /* the unbroken file and its v2 twin are valid */
    int oks[2] = {C_OK, C_V2};
    for (int k = 0; k < 2; k++) {
        buf b = build(oks[k]);
        vlm_gguf *g = NULL;
        CHECK_MSG(vlm_gguf_open_memory(b.p, b.n, "ok", &g, err, sizeof err) == VLM_OK, "%s", err);
        if (g) {
            const vlm_gguf_tensor *t = vlm_gguf_find_tensor(g, "b");
            CHECK(t && t->offset == 64 && ((const float *)t->data)[3] == 3.0f);
            CHECK(vlm_gguf_version(g) == (oks[k] == C_V2 ? 2u : 3u));
        }
        vlm_gguf_close(g);
        free(b.p);
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf b = build(cases[i].c);
        if (cases[i].c == C_SHORT) b.n = 10;
        vlm_gguf *g = NULL;
        err[0] = 0;
        vlm_status st = vlm_gguf_open_memory(b.p, b.n, "bad.gguf", &g, err, sizeof err);
        CHECK_MSG(st == cases[i].want && !g, "%s: status %d (%s)", cases[i].name, st, err);
        CHECK_MSG(strstr(err, cases[i].msg) != NULL, "%s: message \"%s\" lacks \"%s\"", cases[i].name, err,
                  cases[i].msg);
        CHECK_MSG(strstr(err, "bad.gguf") != NULL, "%s: message names no file", cases[i].name);
        vlm_gguf_close(g);
        free(b.p);
    }
    /* every prefix of the valid file is refused without a crash */
    buf b = build(C_OK);
    for (size_t n = 0; n < b.n; n++) {
        vlm_gguf *g = NULL;
        vlm_status st = vlm_gguf_open_memory(b.p, n, "prefix", &g, err, sizeof err);
        if (st == VLM_OK) { /* only possible once all tensor data is present */
            CHECK_MSG(0, "prefix of %zu bytes accepted", n);
            vlm_gguf_close(g);
        }
    }
    free(b.p);
    /* a file that is not there */
    vlm_gguf *g = NULL;
    CHECK(vlm_gguf_open("/nonexistent/x.gguf", &g, err, sizeof err) == VLM_ERR_IO && !g);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    fill_payloads();
    test_roundtrip();
    test_writer_misuse();
    test_corrupt();
    rmdir(tmpdir);
    return check_done("test_gguf");
}
