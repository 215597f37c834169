/* safetensors_write.h - streaming writer for .safetensors files (the layout
 * src/io/safetensors.h reads: u64 little-endian header length, a JSON header
 * padded with spaces to a multiple of 8 bytes, then the tensors' bytes in the
 * order given).
 *
 * The caller declares every tensor (name, dtype, shape) up front; the header
 * is written at once, then the data is appended in that order, in pieces of
 * any size. Output goes to PATH.part, renamed to PATH by vlm_stw_close once
 * every declared byte has been written; vlm_stw_abort removes it. */
#ifndef VLM_IO_SAFETENSORS_WRITE_H
#define VLM_IO_SAFETENSORS_WRITE_H
#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"
#include "videollm.h"

typedef struct {
    const char *name;                /* unique, not "__metadata__"                    */
    vlm_st_dtype dtype;
    int n_dims;                      /* 0..VLM_ST_MAX_DIMS                            */
    int64_t shape[VLM_ST_MAX_DIMS];  /* PyTorch order, each >= 0                      */
} vlm_stw_tensor;

typedef struct vlm_stw vlm_stw;

/* Start a file of n tensors. meta: n_meta (key, value) string pairs for
 * "__metadata__" (meta[2*i], meta[2*i+1]); none when n_meta is 0.
 * VLM_ERR_INVALID_ARG for duplicate or empty names, bad dims or sizes that
 * overflow; VLM_ERR_IO when the file cannot be created. */
vlm_status vlm_stw_open(const char *path, const vlm_stw_tensor *t, size_t n, const char *const *meta, size_t n_meta,
                        vlm_stw **out, char *err, size_t err_size);
/* Append nbytes of tensor data (the tensors' bytes back to back, in order). */
vlm_status vlm_stw_write(vlm_stw *w, const void *data, size_t nbytes, char *err, size_t err_size);
/* Append n floats as little-endian IEEE binary32 (for F32 tensors). */
vlm_status vlm_stw_write_f32(vlm_stw *w, const float *x, size_t n, char *err, size_t err_size);
/* Finish: every declared byte must have been written. Flushes, syncs, renames
 * PATH.part to PATH and frees w (also on failure, then nothing is left). */
vlm_status vlm_stw_close(vlm_stw *w, char *err, size_t err_size);
/* Give up: remove PATH.part and free w. NULL-safe. */
void vlm_stw_abort(vlm_stw *w);
/* The whole file at once: one F32 tensor t with its values x (open, write,
 * close; on failure nothing is left). */
vlm_status vlm_stw_save_f32(const char *path, const vlm_stw_tensor *t, const float *x, char *err, size_t err_size);
#endif
