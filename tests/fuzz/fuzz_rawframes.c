/* fuzz_rawframes.c - libFuzzer harness for the raw RGB24 frame reader
 * (vlm_video_open("-") + vlm_video_read, src/io/video.c).
 *
 * Input: 4 header bytes choose the frame geometry (width 1..48, height 1..48,
 * letterbox size 16..40, fps 1..4); the rest is the byte stream on stdin (a
 * memory stream put in place of stdin while the source is open). Checks: every
 * whole frame is read, in order, with index r and time r/fps; a trailing
 * partial frame is an error naming the frame; then the end of the stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "videollm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    vlm_video_params p = vlm_video_default_params();
    p.raw_width = 1 + data[0] % 48;
    p.raw_height = 1 + data[1] % 48;
    p.resolution = 16 + (data[2] % 4) * 8;
    p.fps = 1 + data[3] % 4;
    const uint8_t *body = data + 4;
    size_t len = size - 4;
    /* fmemopen refuses an empty buffer: give it one byte and read none of it */
    static const uint8_t one = 0;
    FILE *f = fmemopen((void *)(len ? body : &one), len ? len : 1, "r");
    if (!f) return 0;
    if (!len) fgetc(f);
    FILE *saved = stdin;
    stdin = f;
    char err[256];
    vlm_video *v = NULL;
    vlm_status st = vlm_video_open("-", &p, &v, err, sizeof err);
    stdin = saved;
    if (st != VLM_OK) {
        fclose(f);
        abort(); /* valid geometry must open */
    }
    if (!vlm_video_is_live(v)) abort();
    size_t frame = (size_t)p.raw_width * (size_t)p.raw_height * 3, whole = len / frame;
    uint8_t *rgb = malloc((size_t)p.resolution * (size_t)p.resolution * 3);
    if (!rgb) abort();
    size_t n = 0;
    for (;;) {
        int64_t idx;
        double t;
        st = vlm_video_read(v, rgb, &idx, &t);
        if (st != VLM_OK) break;
        if (idx != (int64_t)n || t != (double)n / p.fps) abort();
        n++;
    }
    if (n != whole) abort();
    if (len % frame) {
        if (st != VLM_ERR_FORMAT || !strstr(vlm_video_last_error(v), "truncated raw frame")) abort();
        if (vlm_video_read(v, rgb, &(int64_t){0}, &(double){0}) != VLM_END_OF_STREAM) abort();
    } else if (st != VLM_END_OF_STREAM) {
        abort();
    }
    free(rgb);
    vlm_video_close(v);
    fclose(f);
    return 0;
}
