/* mmap.h - read-only file mappings for model files (safetensors, GGUF).
 *
 * A mapping is a plain struct (no hidden state); an empty file maps to
 * data == NULL, size == 0. vlm_mmap_release() drops the pages of a range that
 * was read once (used while converting, so the resident set stays small). */
#ifndef VLM_IO_MMAP_H
#define VLM_IO_MMAP_H
#include <stddef.h>

#include "videollm.h"

typedef struct {
    const unsigned char *data; /* [size] bytes, read-only; NULL when size == 0 */
    size_t size;
} vlm_mmap;

/* Map the whole file read-only. err names the path and the reason. */
vlm_status vlm_mmap_open(const char *path, vlm_mmap *m, char *err, size_t err_size);
/* Unmap; accepts a zeroed struct. The struct is zeroed afterwards. */
void vlm_mmap_close(vlm_mmap *m);
/* Advise the kernel that [ptr, ptr+len) inside m will not be needed soon
 * (pages are dropped from the resident set and re-read from the file if
 * touched again). No effect on the data; ranges outside m are ignored. */
void vlm_mmap_release(const vlm_mmap *m, const void *ptr, size_t len);
#endif
