/* mmap.c - read-only whole-file mappings (POSIX mmap) with page release. */
#include "io/mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

vlm_status vlm_mmap_open(const char *path, vlm_mmap *m, char *err, size_t err_size) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vlm_set_err(err, err_size, VLM_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vlm_set_err(err, err_size, VLM_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return vlm_set_err(err, err_size, VLM_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return vlm_set_err(err, err_size, VLM_ERR_IO, "%s: file too large to map", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return VLM_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return vlm_set_err(err, err_size, VLM_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
    m->data = p;
    m->size = (size_t)st.st_size;
    return VLM_OK;
}

void vlm_mmap_close(vlm_mmap *m) {
    if (m && m->data) munmap((void *)m->data, m->size);
    if (m) memset(m, 0, sizeof *m);
}

void vlm_mmap_release(const vlm_mmap *m, const void *ptr, size_t len) {
    if (!m || !m->data || !ptr || !len) return;
    uintptr_t base = (uintptr_t)m->data, end = base + m->size;
    uintptr_t a = (uintptr_t)ptr, b = a + len;
    if (a < base || b > end || b < a) return;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096u;
    /* only whole pages inside the range: neighbours may still be in use */
    uintptr_t lo = (a + page - 1) / page * page, hi = b / page * page;
    if (b == end) hi = (b + page - 1) / page * page; /* tail page of the file */
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}
