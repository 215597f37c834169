/* gguf.h - GGUF (v2/v3, little-endian) reader with full validation, and a
 * streaming writer.
 *
 * File layout (ggml docs/gguf.md): "GGUF", u32 version, u64 tensor_count,
 * u64 kv_count, kv_count typed key/value pairs, tensor_count tensor infos
 * (name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset relative to the
 * data section), zero padding to ALIGNMENT, then the data section; each
 * tensor's data starts at a multiple of ALIGNMENT (general.alignment, u32,
 * default 32). Strings are u64 length + bytes (no NUL).
 *
 * The reader treats every number as hostile. It rejects: a bad magic; a
 * version other than 2 or 3 (v1 and byte-swapped/big-endian files are
 * VLM_ERR_UNSUPPORTED); counts that cannot fit in the file; keys that are
 * empty, longer than 65535 bytes, not printable ASCII, or duplicated; unknown
 * value types, nested arrays, bools other than 0/1; general.alignment that is
 * not a u32 power of two in [8, 1 MiB]; tensor names empty, longer than 64
 * bytes or duplicated; n_dims outside 1..4; dimensions above INT64_MAX;
 * element counts or byte sizes that overflow; a row length that is not a
 * multiple of the type's block; tensor types other than f32, f16, bf16, q8_0,
 * q4_0 (VLM_ERR_UNSUPPORTED); offsets that are misaligned, overlap another
 * tensor or run past the end of the file.
 *
 * Tensor shapes follow ggml: ne[0] is the innermost (contiguous) dimension,
 * so a PyTorch weight of shape [out, in] has ne = {in, out, 1, 1}. Tensor data
 * pointers point into the mapping and are aligned to ALIGNMENT relative to
 * the start of the file (page-aligned for a mapped file).
 *
 * A reader handle is immutable after open: it can be shared by threads. */
#ifndef VLM_IO_GGUF_H
#define VLM_IO_GGUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "videollm.h"

#define VLM_GGUF_MAGIC "GGUF"
#define VLM_GGUF_VERSION 3
#define VLM_GGUF_DEFAULT_ALIGNMENT 32
#define VLM_GGUF_MAX_DIMS 4
#define VLM_GGUF_MAX_NAME 64       /* bytes in a tensor name */
#define VLM_GGUF_MAX_KEY 65535     /* bytes in a key */
#define VLM_GGUF_MAX_ALIGNMENT (1u << 20)

typedef enum {
    VLM_GGUF_UINT8 = 0,
    VLM_GGUF_INT8 = 1,
    VLM_GGUF_UINT16 = 2,
    VLM_GGUF_INT16 = 3,
    VLM_GGUF_UINT32 = 4,
    VLM_GGUF_INT32 = 5,
    VLM_GGUF_FLOAT32 = 6,
    VLM_GGUF_BOOL = 7,
    VLM_GGUF_STRING = 8,
    VLM_GGUF_ARRAY = 9,
    VLM_GGUF_UINT64 = 10,
    VLM_GGUF_INT64 = 11,
    VLM_GGUF_FLOAT64 = 12,
} vlm_gguf_type;

/* "u32", "string", "array", ...; "invalid" for other values. */
const char *vlm_gguf_type_name(int type);
/* Byte size of a fixed-size value type; 0 for string/array/invalid. */
size_t vlm_gguf_value_size(int type);

typedef struct {
    const char *name;  /* NUL-terminated, owned by the handle */
    int type;          /* vlm_dtype (ops/quant.h): the GGUF tensor type id */
    int n_dims;        /* 1..4 */
    int64_t ne[VLM_GGUF_MAX_DIMS]; /* elements per dimension, ne[0] innermost; unused = 1 */
    const void *data;  /* [nbytes] inside the file image */
    size_t nbytes;
    uint64_t offset;   /* relative to the data section */
} vlm_gguf_tensor;

/* ---- reader ------------------------------------------------------------------------------------ */

typedef struct vlm_gguf vlm_gguf;

/* Map and validate a file. On failure *out is NULL and err names the file,
 * the item (key or tensor) and the byte position. */
vlm_status vlm_gguf_open(const char *path, vlm_gguf **out, char *err, size_t err_size);
/* Validate an image held by the caller (not copied; it must outlive the
 * handle). label names it in messages. */
vlm_status vlm_gguf_open_memory(const void *buf, size_t len, const char *label, vlm_gguf **out, char *err,
                                size_t err_size);
void vlm_gguf_close(vlm_gguf *g);

uint32_t vlm_gguf_version(const vlm_gguf *g);
size_t vlm_gguf_alignment(const vlm_gguf *g);
size_t vlm_gguf_data_offset(const vlm_gguf *g); /* file offset of the data section */
const char *vlm_gguf_path(const vlm_gguf *g);

/* Key/value pairs, in file order. */
size_t vlm_gguf_n_kv(const vlm_gguf *g);
int64_t vlm_gguf_find_key(const vlm_gguf *g, const char *key); /* -1 if absent */
const char *vlm_gguf_key_at(const vlm_gguf *g, size_t i);
vlm_gguf_type vlm_gguf_kv_type(const vlm_gguf *g, size_t i);
vlm_gguf_type vlm_gguf_arr_type(const vlm_gguf *g, size_t i); /* element type (arrays only) */
uint64_t vlm_gguf_arr_n(const vlm_gguf *g, size_t i);          /* 0 for non-arrays */

/* Typed getters by key. A missing key gives VLM_ERR_FORMAT ("missing key
 * X"), a wrong type VLM_ERR_FORMAT naming the key, the expected and the actual
 * type. Integer getters accept any integer type whose value fits (counts are
 * u32 in some writers and u64 in others); float getters accept f32 and f64. */
vlm_status vlm_gguf_get_u32(const vlm_gguf *g, const char *key, uint32_t *out, char *err, size_t err_size);
vlm_status vlm_gguf_get_i64(const vlm_gguf *g, const char *key, int64_t *out, char *err, size_t err_size);
vlm_status vlm_gguf_get_f32(const vlm_gguf *g, const char *key, float *out, char *err, size_t err_size);
vlm_status vlm_gguf_get_bool(const vlm_gguf *g, const char *key, bool *out, char *err, size_t err_size);
/* *s is NUL-terminated (owned by g); *len (may be NULL) is the byte length,
 * authoritative if the string holds NUL bytes. */
vlm_status vlm_gguf_get_str(const vlm_gguf *g, const char *key, const char **s, size_t *len, char *err,
                            size_t err_size);
/* An array of elem_type: *n elements. */
vlm_status vlm_gguf_get_arr(const vlm_gguf *g, const char *key, vlm_gguf_type elem_type, uint64_t *n, char *err,
                            size_t err_size);
/* Copy all elements of a numeric array (elem_type must match; dst holds n). */
vlm_status vlm_gguf_get_arr_num(const vlm_gguf *g, const char *key, vlm_gguf_type elem_type, void *dst, uint64_t n,
                                char *err, size_t err_size);
/* Element j of the string array at KV index i (pointer into the file image,
 * NOT NUL-terminated); NULL if i is not a string array or j is out of range. */
const char *vlm_gguf_arr_str(const vlm_gguf *g, size_t i, uint64_t j, size_t *len);

/* Tensors, in file order. */
size_t vlm_gguf_n_tensors(const vlm_gguf *g);
const vlm_gguf_tensor *vlm_gguf_tensor_at(const vlm_gguf *g, size_t i);
const vlm_gguf_tensor *vlm_gguf_find_tensor(const vlm_gguf *g, const char *name); /* NULL if absent */
/* Find a tensor and check its shape: n_dims dims equal to ne[0..n_dims)
 * (a 0 in ne accepts any size). Errors name the tensor, the expected and the
 * actual shape. */
vlm_status vlm_gguf_expect_tensor(const vlm_gguf *g, const char *name, int n_dims, const int64_t *ne,
                                  const vlm_gguf_tensor **out, char *err, size_t err_size);

/* ---- streaming writer -------------------------------------------------------------------------- */
/* Usage: init; set KVs; add every tensor (name, type, shape) in the order the
 * data will be written; begin(path) writes header, KVs and tensor infos; then
 * write() the bytes of each tensor in order, in pieces of any size (padding is
 * inserted automatically); finish() checks that everything was written and
 * renames PATH.part to PATH. free() without finish() removes PATH.part.
 * general.alignment (u32) is always written. Errors are kept on the handle. */
typedef struct vlm_gguf_writer vlm_gguf_writer;

vlm_gguf_writer *vlm_gguf_writer_init(void); /* NULL on out of memory */
void vlm_gguf_writer_free(vlm_gguf_writer *w);
const char *vlm_gguf_writer_last_error(const vlm_gguf_writer *w);

vlm_status vlm_gguf_set_u32(vlm_gguf_writer *w, const char *key, uint32_t v);
vlm_status vlm_gguf_set_i32(vlm_gguf_writer *w, const char *key, int32_t v);
vlm_status vlm_gguf_set_u64(vlm_gguf_writer *w, const char *key, uint64_t v);
vlm_status vlm_gguf_set_f32(vlm_gguf_writer *w, const char *key, float v);
vlm_status vlm_gguf_set_bool(vlm_gguf_writer *w, const char *key, bool v);
vlm_status vlm_gguf_set_str(vlm_gguf_writer *w, const char *key, const char *s);
vlm_status vlm_gguf_set_str_n(vlm_gguf_writer *w, const char *key, const char *s, size_t len);
/* lens may be NULL (then strlen is used). */
vlm_status vlm_gguf_set_arr_str(vlm_gguf_writer *w, const char *key, const char *const *s, const size_t *lens,
                                size_t n);
/* elem_type: a fixed-size numeric type (not string/array). */
vlm_status vlm_gguf_set_arr_num(vlm_gguf_writer *w, const char *key, vlm_gguf_type elem_type, const void *data,
                                size_t n);
/* Alignment used for the data (power of two, 8..1 MiB); default 32. Call
 * before begin. */
vlm_status vlm_gguf_writer_set_alignment(vlm_gguf_writer *w, uint32_t alignment);

vlm_status vlm_gguf_add_tensor(vlm_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne);
/* Bytes the finished file will have (valid after the last add_tensor). */
uint64_t vlm_gguf_writer_file_size(const vlm_gguf_writer *w);
vlm_status vlm_gguf_writer_begin(vlm_gguf_writer *w, const char *path);
vlm_status vlm_gguf_writer_write(vlm_gguf_writer *w, const void *data, size_t n);
vlm_status vlm_gguf_writer_finish(vlm_gguf_writer *w);
#endif
