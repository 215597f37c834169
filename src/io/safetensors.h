/* safetensors.h - reader for Hugging Face .safetensors files and sharded
 * model folders (model.safetensors.index.json).
 *
 * File layout: u64 little-endian header length N, N bytes of JSON, then the
 * data buffer. The JSON maps tensor names to {"dtype", "shape", "data_offsets":
 * [begin, end]} (offsets relative to the data buffer); "__metadata__" (string
 * to string) is allowed. Validation is strict, as the reference library:
 *  - N <= VLM_ST_MAX_HEADER and 8 + N <= file size; the header is one JSON
 *    object (trailing spaces allowed), no duplicate names;
 *  - dtype is one of the safetensors dtypes; unknown ones give
 *    VLM_ERR_UNSUPPORTED naming the tensor;
 *  - shape: at most VLM_ST_MAX_DIMS non-negative integers; the byte size
 *    (overflow-checked) equals end - begin;
 *  - the tensors, sorted by offset, tile the data buffer exactly: no holes,
 *    no overlaps, nothing after the last tensor.
 * Only F32, F16 and BF16 can be read as floats; the other dtypes are
 * accepted in the file (validated) and refused by vlm_st_read_f32 with
 * VLM_ERR_UNSUPPORTED.
 * Data pointers point into the mapping and may be unaligned. */
#ifndef VLM_IO_SAFETENSORS_H
#define VLM_IO_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#include "io/mmap.h"
#include "videollm.h"

#define VLM_ST_MAX_DIMS 8
#define VLM_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* same limit as the reference library */

typedef enum {
    VLM_ST_BOOL, VLM_ST_U8, VLM_ST_I8, VLM_ST_F8_E5M2, VLM_ST_F8_E4M3,
    VLM_ST_I16, VLM_ST_U16, VLM_ST_F16, VLM_ST_BF16,
    VLM_ST_I32, VLM_ST_U32, VLM_ST_F32,
    VLM_ST_I64, VLM_ST_U64, VLM_ST_F64,
} vlm_st_dtype;

typedef struct {
    const char *name;         /* NUL-terminated, owned by the file handle */
    vlm_st_dtype dtype;
    int n_dims;               /* 0 for a scalar */
    int64_t shape[VLM_ST_MAX_DIMS]; /* PyTorch order: shape[0] is the outermost */
    int64_t n_elements;       /* product of shape (1 for a scalar) */
    const unsigned char *data; /* [nbytes] inside the mapping (unaligned) */
    size_t nbytes;
    const char *file;         /* path of the file holding it */
    const vlm_mmap *map;      /* its mapping (for vlm_mmap_release) */
} vlm_st_tensor;

/* One .safetensors file. */
typedef struct vlm_st_file vlm_st_file;

vlm_status vlm_st_open(const char *path, vlm_st_file **out, char *err, size_t err_size);
/* Parse a file image held by the caller (not copied: buf must outlive the
 * handle). label names it in messages. */
vlm_status vlm_st_open_memory(const void *buf, size_t len, const char *label, vlm_st_file **out, char *err,
                              size_t err_size);
void vlm_st_close(vlm_st_file *f);
size_t vlm_st_count(const vlm_st_file *f);
const vlm_st_tensor *vlm_st_at(const vlm_st_file *f, size_t i); /* in file (offset) order */
const vlm_st_tensor *vlm_st_find(const vlm_st_file *f, const char *name); /* NULL if absent */
/* The "__metadata__" value of key, or NULL. */
const char *vlm_st_metadata(const vlm_st_file *f, const char *key);

/* A model folder: either DIR/model.safetensors.index.json with its shards,
 * or a single DIR/model.safetensors (or the one file given by path). Every
 * tensor name is unique across shards; every weight_map entry must exist in
 * the shard it names, and every tensor of a shard must be listed. */
typedef struct vlm_st_model vlm_st_model;

/* path: a folder (index or model.safetensors) or a .safetensors file. */
vlm_status vlm_st_model_open(const char *path, vlm_st_model **out, char *err, size_t err_size);
void vlm_st_model_close(vlm_st_model *m);
size_t vlm_st_model_count(const vlm_st_model *m);
const vlm_st_tensor *vlm_st_model_at(const vlm_st_model *m, size_t i); /* sorted by name */
const vlm_st_tensor *vlm_st_model_find(const vlm_st_model *m, const char *name);

/* Element size in bytes (1..8) and the dtype spelling ("BF16", ...). */
size_t vlm_st_dtype_size(vlm_st_dtype t);
const char *vlm_st_dtype_name(vlm_st_dtype t);

/* Convert elements [first, first+n) of t (F32/F16/BF16) to f32 in dst.
 * VLM_ERR_UNSUPPORTED (naming the tensor and dtype) for other dtypes,
 * VLM_ERR_INVALID_ARG when the range is outside the tensor. */
vlm_status vlm_st_read_f32(const vlm_st_tensor *t, int64_t first, int64_t n, float *dst, char *err,
                           size_t err_size);
/* Drop the pages of t from the resident set (after it has been used). */
void vlm_st_release(const vlm_st_tensor *t);
#endif
