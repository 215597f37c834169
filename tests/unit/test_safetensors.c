/* test_safetensors.c - the safetensors reader: a valid file read back
 * exactly (f32/f16/bf16 values, shapes, metadata, scalars, empty tensors),
 * a table of corrupt headers that must each be refused with the right status
 * and a message naming the problem, sharded folders (index.json) with their
 * own failure modes, and PEFT target_modules matching. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io/convert.h"
#include "io/safetensors.h"

/* A file image: u64 header length, header text, then data bytes. */
static unsigned char *make_file(const char *header, const void *data, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    unsigned char *b = malloc(*len ? *len : 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    if (data_len) memcpy(b + 8 + h, data, data_len);
    return b;
}

/* Parse an image; on success *img holds it (free after closing f). */
static vlm_status open_mem(const char *header, const void *data, size_t n, vlm_st_file **f, unsigned char **img,
                           char *err, size_t es) {
    size_t len;
    unsigned char *b = make_file(header, data, n, &len);
    vlm_status st = vlm_st_open_memory(b, len, "mem.safetensors", f, err, es);
    if (st == VLM_OK) *img = b;
    else free(b), *img = NULL;
    return st;
}

static void test_valid(void) {
    /* a: F32 [2,3] = 0..5; b: BF16 [4] = 1.5, -2, 0.25, 3; c: F16 [2] = 1, -0.5; s: F32 scalar 7; e: F32 [0,5] */
    unsigned char data[24 + 8 + 4 + 4];
    float a[6] = {0, 1, 2, 3, 4, 5};
    uint16_t bf[4] = {0x3fc0, 0xc000, 0x3e80, 0x4040}, hf[2] = {0x3c00, 0xb800};
    float s = 7;
    memcpy(data, a, 24);
    memcpy(data + 24, bf, 8);
    memcpy(data + 32, hf, 4);
    memcpy(data + 36, &s, 4);
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"c\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[32,36]},"
                      "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[36,40]},"
                      "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[40,40]}}    ";
    char err[256] = "";
    vlm_st_file *f = NULL;
    unsigned char *img = NULL;
    CHECK_MSG(open_mem(hdr, data, sizeof data, &f, &img, err, sizeof err) == VLM_OK, "%s", err);
    if (!f) return;
    CHECK(vlm_st_count(f) == 5);
    CHECK(vlm_st_metadata(f, "format") && strcmp(vlm_st_metadata(f, "format"), "pt") == 0);
    CHECK(vlm_st_metadata(f, "nope") == NULL);
    const vlm_st_tensor *ta = vlm_st_find(f, "a"), *tb = vlm_st_find(f, "b"), *tc = vlm_st_find(f, "c"),
                        *ts = vlm_st_find(f, "s"), *te = vlm_st_find(f, "e");
    CHECK(ta && tb && tc && ts && te && !vlm_st_find(f, "z"));
    if (!ta || !tb || !tc || !ts || !te) return;
    CHECK(ta->n_dims == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 && ta->n_elements == 6 && ta->nbytes == 24);
    CHECK(ts->n_dims == 0 && ts->n_elements == 1);
    CHECK(te->n_elements == 0 && te->nbytes == 0);
    float out[6];
    CHECK(vlm_st_read_f32(ta, 2, 3, out, err, sizeof err) == VLM_OK && out[0] == 2 && out[2] == 4);
    CHECK(vlm_st_read_f32(tb, 0, 4, out, err, sizeof err) == VLM_OK);
    CHECK(out[0] == 1.5f && out[1] == -2.0f && out[2] == 0.25f && out[3] == 3.0f);
    CHECK(vlm_st_read_f32(tc, 0, 2, out, err, sizeof err) == VLM_OK && out[0] == 1.0f && out[1] == -0.5f);
    CHECK(vlm_st_read_f32(ts, 0, 1, out, err, sizeof err) == VLM_OK && out[0] == 7.0f);
    CHECK(vlm_st_read_f32(ta, 4, 3, out, err, sizeof err) == VLM_ERR_INVALID_ARG);
    /* in offset order */
    CHECK(strcmp(vlm_st_at(f, 0)->name, "a") == 0 || strcmp(vlm_st_at(f, 0)->name, "e") == 0);
    vlm_st_close(f);
    free(img);
}

static void test_unsupported_read(void) {
    int64_t v[2] = {1, 2};
    char err[256] = "";
    vlm_st_file *f = NULL;
    unsigned char *img = NULL;
    CHECK(open_mem("{\"pos_ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", v, 16, &f, &img,
                   err, sizeof err) == VLM_OK);
    if (!f) return;
    float out[2];
    vlm_status st = vlm_st_read_f32(vlm_st_find(f, "pos_ids"), 0, 2, out, err, sizeof err);
    CHECK(st == VLM_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err, "pos_ids") && strstr(err, "I64"), "%s", err);
    vlm_st_close(f);
    free(img);
}

/* ---- corrupt files ------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *header; /* NULL: raw bytes below */
    size_t data_len;
    vlm_status want;
    const char *msg; /* substring of the error */
} bad_case;

static const bad_case bad[] = {
    {"not JSON", "{\"a\": nope}", 0, VLM_ERR_FORMAT, "not valid JSON"},
    {"array header", "[1,2]", 0, VLM_ERR_FORMAT, "start with '{'"},
    {"truncated JSON", "{\"a\":{\"dtype\":\"F32\"", 0, VLM_ERR_FORMAT, "not valid JSON"},
    {"entry not object", "{\"a\":5}", 0, VLM_ERR_FORMAT, "'a'"},
    {"missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, VLM_ERR_FORMAT, "dtype"},
    {"unknown dtype", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, VLM_ERR_UNSUPPORTED,
     "'w': unknown dtype \"Q4\""},
    {"extra key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, VLM_ERR_FORMAT,
     "unexpected keys"},
    {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, VLM_ERR_FORMAT,
     "shape[0]"},
    {"real dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, VLM_ERR_FORMAT, "shape[0]"},
    {"too many dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     VLM_ERR_FORMAT, "9 dimensions"},
    {"shape overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
     VLM_ERR_FORMAT, "overflow"},
    {"byte size overflow", "{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4,
     VLM_ERR_FORMAT, "overflow"},
    {"shape lie", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20, VLM_ERR_FORMAT,
     "holds 24 bytes but data_offsets span 20"},
    {"dtype lie", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, VLM_ERR_FORMAT,
     "holds 8 bytes"},
    {"offsets past end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, VLM_ERR_FORMAT,
     "past the end of the data"},
    {"offsets reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, VLM_ERR_FORMAT,
     "begin <= end"},
    {"negative offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8, VLM_ERR_FORMAT,
     "begin <= end"},
    {"three offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, VLM_ERR_FORMAT,
     "two integers"},
    {"hole", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, VLM_ERR_FORMAT, "hole"},
    {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, VLM_ERR_FORMAT, "overlapping"},
    {"trailing data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, VLM_ERR_FORMAT,
     "holds 12 bytes"},
    {"duplicate names", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, VLM_ERR_FORMAT, "a"},
    {"bad metadata", "{\"__metadata__\":{\"k\":1}}", 0, VLM_ERR_FORMAT, "__metadata__"},
    {"empty name", "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, VLM_ERR_FORMAT, "empty"},
};

static void test_corrupt(void) {
    unsigned char zeros[64] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512] = "";
        vlm_st_file *f = NULL;
        unsigned char *img = NULL;
        vlm_status st = open_mem(bad[i].header, zeros, bad[i].data_len, &f, &img, err, sizeof err);
        CHECK_MSG(st == bad[i].want && f == NULL, "%s: status %d (%s)", bad[i].name, st, err);
        CHECK_MSG(strstr(err, bad[i].msg) != NULL, "%s: message \"%s\" lacks \"%s\"", bad[i].name, err, bad[i].msg);
        vlm_st_close(f);
        free(img);
    }
    /* header length field itself */
    struct {
        const char *name;
        uint64_t hlen;
        size_t file_len;
        const char *msg;
    } lens[] = {
        {"short file", 0, 5, "too short"},
        {"huge header length", (uint64_t)1 << 62, 64, "exceeds the limit"},
        {"header past end", 1000, 64, "truncated"},
        {"max+1", VLM_ST_MAX_HEADER + 1, 64, "exceeds"},
        {"zero header", 0, 8, "start with '{'"},
    };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        unsigned char b[64];
        memset(b, '{', sizeof b);
        for (int k = 0; k < 8; k++) b[k] = (unsigned char)(lens[i].hlen >> (8 * k));
        char err[256] = "";
        vlm_st_file *f = NULL;
        vlm_status st = vlm_st_open_memory(b, lens[i].file_len, "x", &f, err, sizeof err);
        CHECK_MSG(st == VLM_ERR_FORMAT && !f, "%s: %d", lens[i].name, st);
        CHECK_MSG(strstr(err, lens[i].msg) != NULL, "%s: \"%s\"", lens[i].name, err);
    }
    /* an empty file and an empty header object with no data are fine/refused as appropriate */
    char err[256];
    vlm_st_file *f = NULL;
    unsigned char *img = NULL;
    CHECK(open_mem("{}", NULL, 0, &f, &img, err, sizeof err) == VLM_OK && f && vlm_st_count(f) == 0);
    vlm_st_close(f);
    free(img);
}

/* ---- folders ------------------------------------------------------------------------------------- */

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    fwrite(b, 1, n, fp);
    fclose(fp);
}
static void write_text(const char *path, const char *s) { write_bytes(path, s, strlen(s)); }

static void write_st(const char *path, const char *header, size_t data_len) {
    unsigned char zeros[64] = {0};
    size_t len;
    unsigned char *b = make_file(header, zeros, data_len, &len);
    write_bytes(path, b, len);
    free(b);
}

static void test_folders(void) {
    char dir[] = "/tmp/vlm_st_test_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char p[512], p2[512], idx[512], err[512];
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    write_st(p, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    write_st(p2, "{\"y\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                 "\"z\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[4,6]}}", 6);
    write_text(idx, "{\"metadata\":{},\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\","
                    "\"y\":\"model-00002-of-00002.safetensors\",\"z\":\"model-00002-of-00002.safetensors\"}}");
    vlm_st_model *m = NULL;
    CHECK_MSG(vlm_st_model_open(dir, &m, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(vlm_st_model_count(m) == 3 && vlm_st_model_find(m, "y") && vlm_st_model_find(m, "x"));
    CHECK(vlm_st_model_find(m, "y") && strstr(vlm_st_model_find(m, "y")->file, "00002"));
    vlm_st_model_close(m);
    m = NULL;
    /* a shard file the index does not list fully */
    write_text(idx, "{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\","
                    "\"y\":\"model-00002-of-00002.safetensors\"}}");
    CHECK(vlm_st_model_open(dir, &m, err, sizeof err) == VLM_ERR_FORMAT && !m);
    CHECK_MSG(strstr(err, "'z' is not listed"), "%s", err);
    /* the index names the wrong shard */
    write_text(idx, "{\"weight_map\":{\"x\":\"model-00002-of-00002.safetensors\","
                    "\"y\":\"model-00002-of-00002.safetensors\",\"z\":\"model-00002-of-00002.safetensors\"}}");
    CHECK(vlm_st_model_open(dir, &m, err, sizeof err) == VLM_ERR_FORMAT && !m);
    /* the same tensor in two shards */
    write_st(p2, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    write_text(idx, "{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\","
                    "\"y\":\"model-00002-of-00002.safetensors\"}}");
    CHECK(vlm_st_model_open(dir, &m, err, sizeof err) == VLM_ERR_FORMAT && !m);
    CHECK_MSG(strstr(err, "appears in both"), "%s", err);
    /* a shard path escaping the folder */
    write_text(idx, "{\"weight_map\":{\"x\":\"../etc/passwd\"}}");
    CHECK(vlm_st_model_open(dir, &m, err, sizeof err) == VLM_ERR_FORMAT && !m);
    CHECK_MSG(strstr(err, "same folder"), "%s", err);
    /* a missing shard */
    write_text(idx, "{\"weight_map\":{\"x\":\"model-00003-of-00003.safetensors\"}}");
    CHECK(vlm_st_model_open(dir, &m, err, sizeof err) == VLM_ERR_IO && !m);
    /* not JSON */
    write_text(idx, "{\"weight_map\":");
    CHECK(vlm_st_model_open(dir, &m, err, sizeof err) == VLM_ERR_FORMAT && !m);
    unlink(idx);
    /* no index and no model.safetensors */
    CHECK(vlm_st_model_open(dir, &m, err, sizeof err) == VLM_ERR_IO && !m);
    /* a single file given by path */
    CHECK(vlm_st_model_open(p, &m, err, sizeof err) == VLM_OK && vlm_st_model_count(m) == 1);
    vlm_st_model_close(m);
    unlink(p);
    unlink(p2);
    rmdir(dir);
}

static void test_peft_targets(void) {
    const char *re = "\"model.*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|lm_head$\"";
    CHECK(vlm_peft_target_match(re, "model.layers.0.self_attn.q_proj") == 1);
    CHECK(vlm_peft_target_match(re, "model.layers.31.mlp.down_proj") == 1);
    CHECK(vlm_peft_target_match(re, "lm_head") == 1);
    CHECK(vlm_peft_target_match(re, "model.layers.0.self_attn.q_proj.x") == 0); /* full match */
    CHECK(vlm_peft_target_match(re, "connector.0") == 0);
    CHECK(vlm_peft_target_match(re, "model.embed_tokens") == 0);
    CHECK(vlm_peft_target_match(re, "xlm_head") == 0);
    const char *list = "[\"q_proj\", \"lm_head\"]";
    CHECK(vlm_peft_target_match(list, "model.layers.0.self_attn.q_proj") == 1);
    CHECK(vlm_peft_target_match(list, "lm_head") == 1);
    CHECK(vlm_peft_target_match(list, "model.layers.0.self_attn.xq_proj") == 0); /* suffix after a dot only */
    CHECK(vlm_peft_target_match(list, "model.layers.0.self_attn.k_proj") == 0);
    CHECK(vlm_peft_target_match("\"all-linear\"", "model.layers.0.mlp.up_proj") == 1);
    CHECK(vlm_peft_target_match("\"all-linear\"", "lm_head") == 0);
    CHECK(vlm_peft_target_match("\"(unclosed\"", "lm_head") == -1);
    CHECK(vlm_peft_target_match("5", "lm_head") == -1);
    /* the q/k row permutation: head_dim 4 -> rows 0,2,1,3 within each head */
    CHECK(vlm_rope_perm_row(0, 4) == 0 && vlm_rope_perm_row(1, 4) == 2 && vlm_rope_perm_row(2, 4) == 1 &&
          vlm_rope_perm_row(3, 4) == 3 && vlm_rope_perm_row(5, 4) == 6);
}

int main(void) {
    test_valid();
    test_unsupported_read();
    test_corrupt();
    test_folders();
    test_peft_targets();
    return check_done("test_safetensors");
}
