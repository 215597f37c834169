/* test_fs.h - file-system helpers shared by the unit tests (header-only). */
#ifndef VLM_TEST_FS_H
#define VLM_TEST_FS_H
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/util.h"

/* Whether two files hold the same bytes (false if either cannot be read). */
static inline bool same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char e[256], *x = vlm_read_file(a, &na, e, sizeof e), *y = vlm_read_file(b, &nb, e, sizeof e);
    bool r = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return r;
}

/* rm -rf DIR (a CHECK fails if the command does). */
static inline void rm_rf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* Entries of DIR other than . and ..; -1 if it cannot be opened. */
static inline int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}
/* A fresh folder /tmp/vlm_test_NAME_PID for a test's files (a CHECK fails if it cannot be made). */
static inline void test_root_make(char *root, size_t n, const char *name) {
    snprintf(root, n, "/tmp/vlm_test_%s_%ld", name, (long)getpid());
    rm_rf(root);
    CHECK(mkdir(root, 0777) == 0);
}

/* Remove the folder when every check passed, else keep it and say where. */
static inline void test_root_finish(const char *root) {
    if (!check_failures_) rm_rf(root);
    else fprintf(stderr, "kept %s for inspection\n", root);
}
#endif
