/* alloc_count.h - counts malloc/calloc/realloc/posix_memalign calls so a test can
 * assert that a steady-state loop does not allocate. glibc exports the real
 * allocator as __libc_*; under ASan or TSan the sanitizer owns malloc, so
 * counting is off and allocs() returns -1. Include it in one test file only. */
#ifndef VLM_ALLOC_COUNT_H
#define VLM_ALLOC_COUNT_H
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

#if COUNT_ALLOCS
#include <stdatomic.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static atomic_long n_allocs;
void *malloc(size_t n) {
    atomic_fetch_add(&n_allocs, 1);
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    atomic_fetch_add(&n_allocs, 1);
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    atomic_fetch_add(&n_allocs, 1);
    return __libc_realloc(p, n);
}
int posix_memalign(void **p, size_t al, size_t n) {
    atomic_fetch_add(&n_allocs, 1);
    *p = __libc_memalign(al, n);
    return *p ? 0 : 12;
}
static long allocs(void) { return atomic_load(&n_allocs); }
#else
static long allocs(void) { return -1; }
#endif
#endif
