/* status.c - status codes to text, and the error-buffer helper every module uses. */
#include "core/util.h"

const char *vlm_status_str(vlm_status st) {
    switch (st) {
    case VLM_OK: return "ok";
    case VLM_ERR_IO: return "I/O error";
    case VLM_ERR_FORMAT: return "malformed input";
    case VLM_ERR_OOM: return "out of memory";
    case VLM_ERR_INVALID_ARG: return "invalid argument";
    case VLM_ERR_UNSUPPORTED: return "unsupported";
    case VLM_ERR_CTX_FULL: return "context full";
    case VLM_ERR_ABORTED: return "aborted";
    case VLM_ERR_RANGE: return "learn range not on a token boundary";
    case VLM_END_OF_STREAM: return "end of stream";
    }
    return "unknown status";
}

vlm_status vlm_set_err(char *err, size_t err_size, vlm_status st, const char *fmt, ...) {
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return st;
}

char *vlm_read_file(const char *path, size_t *len, char *err, size_t err_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        vlm_set_err(err, err_size, VLM_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = cap > SIZE_MAX / 4 ? NULL : realloc(buf, cap * 2 + 1);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    if (!buf) {
        fclose(f);
        vlm_set_err(err, err_size, VLM_ERR_OOM, "%s: out of memory reading file", path);
        return NULL;
    }
    if (ferror(f)) {
        vlm_set_err(err, err_size, VLM_ERR_IO, "%s: read error: %s", path, strerror(errno));
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}
