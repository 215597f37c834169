/* gguf_rewrite.h - write a copy of a loaded GGUF file with some tensors
 * replaced: every key/value of the base (with overrides), every tensor in the
 * order given, each either copied byte for byte or written from f32 values
 * in a chosen type. Used by full fine-tuning's export and by the tower
 * calibration. Output goes to PATH.part and is renamed to PATH when complete. */
#ifndef VLM_IO_GGUF_REWRITE_H
#define VLM_IO_GGUF_REWRITE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/gguf.h"
#include "videollm.h"

/* A key whose value is replaced: a string (is_str) or a u32. */
typedef struct {
    const char *key;
    bool is_str;
    const char *s;
    uint32_t u;
} vlm_gguf_kv_override;

/* One tensor of the output: f32 values written as `type` (VLM_DT_*), or,
 * with val NULL, a raw copy of src. src gives the name and shape. */
typedef struct {
    const vlm_gguf_tensor *src;
    const float *val;
    int type;
} vlm_gguf_out_tensor;

/* Write path from base's metadata (general.alignment is the base's) and the
 * n tensors ts. VLM_ERR_IO / VLM_ERR_FORMAT / VLM_ERR_UNSUPPORTED with a
 * message naming the file, key or tensor. */
vlm_status vlm_gguf_rewrite(const char *path, const vlm_gguf *base, const vlm_gguf_out_tensor *ts, size_t n,
                            const vlm_gguf_kv_override *ov, size_t n_ov, char *err, size_t err_size);

#endif
