/* fuzz_safetensors.c - libFuzzer harness: arbitrary bytes as a .safetensors
 * file image. Opening must either fail with a message or give a handle whose
 * tensors lie inside the image (ASan checks: the image is exactly `size`
 * bytes), tile the data section, and read as floats (F32/F16/BF16) or are
 * refused with VLM_ERR_UNSUPPORTED.
 *   make fuzz && build/fuzz/fuzz_safetensors -max_len=65536 tests/fuzz/corpus/fuzz_safetensors */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    err[0] = 0;
    vlm_st_file *f = NULL;
    vlm_status st = vlm_st_open_memory(data, size, "fuzz.safetensors", &f, err, sizeof err);
    if (st != VLM_OK) {
        if (f || !err[0]) abort();
        return 0;
    }
    size_t total = 0;
    for (size_t i = 0; i < vlm_st_count(f); i++) {
        const vlm_st_tensor *t = vlm_st_at(f, i);
        if (vlm_st_find(f, t->name) != t) abort();
        if (t->nbytes && (t->data < data || t->data + t->nbytes > data + size)) abort();
        if ((size_t)t->n_elements * vlm_st_dtype_size(t->dtype) != t->nbytes) abort();
        total += t->nbytes;
        float v[64];
        int64_t n = t->n_elements < 64 ? t->n_elements : 64;
        st = vlm_st_read_f32(t, t->n_elements - n, n, v, err, sizeof err);
        int is_float = t->dtype == VLM_ST_F32 || t->dtype == VLM_ST_F16 || t->dtype == VLM_ST_BF16;
        if (is_float ? st != VLM_OK : (st != VLM_ERR_UNSUPPORTED && n)) abort();
    }
    /* the tensors tile the data section exactly */
    if (vlm_st_count(f) && total > size) abort();
    vlm_st_metadata(f, "format");
    vlm_st_close(f);
    return 0;
}
