/* test_fs.h - file-system helpers shared by the unit tests (header-only). */
#ifndef VLM_TEST_FS_H
#define VLM_TEST_FS_H
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

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
#endif
