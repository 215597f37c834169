/* util.h - internal helpers shared by all modules (not part of the public API). */
#ifndef VLM_CORE_UTIL_H
#define VLM_CORE_UTIL_H
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "videollm.h"

/* Format a message into err (if non-NULL) and return st. */
vlm_status vlm_set_err(char *err, size_t err_size, vlm_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Read a whole file; malloc'd, NUL-terminated (the NUL is not counted in *len). */
char *vlm_read_file(const char *path, size_t *len, char *err, size_t err_size);

/* Overflow-checked size arithmetic: return 0 on overflow. */
static inline int vlm_mul_ok(size_t a, size_t b, size_t *out) {
    if (b && a > (size_t)-1 / b) return 0;
    *out = a * b;
    return 1;
}
static inline int vlm_add_ok(size_t a, size_t b, size_t *out) {
    if (a > (size_t)-1 - b) return 0;
    *out = a + b;
    return 1;
}
/* x as Python's repr() writes it: "10.0", "2.5", "1e-05" (pyfloat.c). */
void vlm_format_pyfloat(double x, char *buf, size_t n);

#endif
