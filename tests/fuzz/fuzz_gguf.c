/* fuzz_gguf.c - libFuzzer harness: arbitrary bytes as a GGUF file image.
 * Opening must either fail with a message or give a handle whose every key,
 * array element and tensor byte can be read within the image (ASan checks the
 * bounds: the image is exactly `size` bytes), with consistent shapes.
 *   make fuzz && build/fuzz/fuzz_gguf -max_len=65536 tests/fuzz/corpus/fuzz_gguf */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"
#include "ops/quant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    err[0] = 0;
    vlm_gguf *g = NULL;
    vlm_status st = vlm_gguf_open_memory(data, size, "fuzz.gguf", &g, err, sizeof err);
    if (st != VLM_OK) {
        if (g || !err[0]) abort(); /* failures leave no handle and always explain */
        return 0;
    }
    volatile unsigned sink = 0;
    for (size_t i = 0; i < vlm_gguf_n_kv(g); i++) {
        const char *key = vlm_gguf_key_at(g, i);
        if (!key || vlm_gguf_find_key(g, key) != (int64_t)i) abort();
        vlm_gguf_type t = vlm_gguf_kv_type(g, i);
        int64_t iv;
        float fv;
        bool bv;
        const char *s;
        size_t sl;
        uint64_t n;
        switch (t) {
        case VLM_GGUF_STRING:
            if (vlm_gguf_get_str(g, key, &s, &sl, err, sizeof err) != VLM_OK || s[sl] != 0) abort();
            for (size_t k = 0; k < sl; k++) sink += (unsigned char)s[k];
            break;
        case VLM_GGUF_FLOAT32: case VLM_GGUF_FLOAT64:
            if (vlm_gguf_get_f32(g, key, &fv, err, sizeof err) != VLM_OK) abort();
            break;
        case VLM_GGUF_BOOL:
            if (vlm_gguf_get_bool(g, key, &bv, err, sizeof err) != VLM_OK) abort();
            break;
        case VLM_GGUF_ARRAY:
            if (vlm_gguf_get_arr(g, key, vlm_gguf_arr_type(g, i), &n, err, sizeof err) != VLM_OK) abort();
            if (vlm_gguf_arr_type(g, i) == VLM_GGUF_STRING) {
                for (uint64_t j = 0; j < n; j++) {
                    s = vlm_gguf_arr_str(g, i, j, &sl);
                    if (!s) abort();
                    if (sl) sink += (unsigned char)s[0] + (unsigned char)s[sl - 1];
                }
                if (vlm_gguf_arr_str(g, i, n, &sl)) abort();
            } else if (n <= 4096) {
                uint64_t buf[4096];
                if (vlm_gguf_get_arr_num(g, key, vlm_gguf_arr_type(g, i), buf, n, err, sizeof err) != VLM_OK) abort();
            }
            break;
        default:
            vlm_gguf_get_i64(g, key, &iv, err, sizeof err); /* u64 above INT64_MAX may be refused */
            break;
        }
    }
    for (size_t i = 0; i < vlm_gguf_n_tensors(g); i++) {
        const vlm_gguf_tensor *t = vlm_gguf_tensor_at(g, i);
        if (vlm_gguf_find_tensor(g, t->name) != t) abort();
        if (t->n_dims < 1 || t->n_dims > VLM_GGUF_MAX_DIMS || !vlm_dtype_valid(t->type)) abort();
        size_t want;
        if (!vlm_dtype_tensor_size(t->type, t->ne[0], t->ne[1] * t->ne[2] * t->ne[3], &want) || want != t->nbytes)
            abort();
        const uint8_t *p = t->data;
        if (t->nbytes) {
            if (p < data || p + t->nbytes > data + size) abort();
            sink += p[0] + p[t->nbytes - 1];
        }
        if (vlm_gguf_expect_tensor(g, t->name, t->n_dims, t->ne, NULL, err, sizeof err) != VLM_OK) abort();
    }
    (void)sink;
    vlm_gguf_close(g);
    return 0;
}
