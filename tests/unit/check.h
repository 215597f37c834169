/* check.h - the smallest test harness: CHECK(cond) records a failure with
 * file:line and keeps going; check_done() prints a summary and returns the
 * process exit status. */
#ifndef VLM_CHECK_H
#define VLM_CHECK_H
#include <math.h>
#include <stdio.h>

static int check_failures_ = 0, check_count_ = 0;

#define CHECK(cond)                                                               \
    do {                                                                          \
        check_count_++;                                                           \
        if (!(cond)) {                                                            \
            check_failures_++;                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                         \
    } while (0)

#define CHECK_MSG(cond, ...)                                                      \
    do {                                                                          \
        check_count_++;                                                           \
        if (!(cond)) {                                                            \
            check_failures_++;                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

static inline int check_done(const char *name) {
    printf("%s: %d checks, %d failed\n", name, check_count_, check_failures_);
    return check_failures_ ? 1 : 0;
}
#endif
