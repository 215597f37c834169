/* vsync.h - the frame-rate conversion of `ffmpeg -r FPS` (FFmpeg 5.1's
 * constant-frame-rate output logic), as a small pure state machine.
 *
 * VideoLLM-online samples videos by re-encoding them with `ffmpeg -r 2` into
 * an mp4 and reading every frame of the result; frame r then has time r/fps.
 * Which input frame becomes output frame r is decided by FFmpeg's output
 * synchroniser, not by "nearest timestamp": e.g. a 30 fps clip sampled at
 * 2 fps gives input frames 0, 1, 13, 28, 43, ... To get the same frames we
 * run the same decisions on the input timestamps.
 *
 * Units: times are in output frame periods (t_seconds * fps). */
#ifndef VLM_IO_VSYNC_H
#define VLM_IO_VSYNC_H
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    bool vscfr;          /* mp4 output from a single-stream input: FFmpeg's "VSCFR" mode */
    int64_t next_index;  /* index of the next output frame (FFmpeg's sync_opts)          */
    int64_t n_out;       /* output frames so far (frame_number)                          */
    int last_nb0[3];     /* previous-frame duplication counts of the last 3 inputs        */
    bool last_dropped;
} vlm_vsync;

void vlm_vsync_init(vlm_vsync *vs, bool vscfr);

/* One decoded input frame at time `pts` (output periods, FFmpeg's float_pts)
 * lasting `duration` periods. On return the caller emits *n_prev copies of the
 * PREVIOUS input frame, then (*n_total - *n_prev) copies of this one; the
 * emitted frames get the indices next_index, next_index+1, ... (read
 * next_index before the call). */
void vlm_vsync_push(vlm_vsync *vs, double pts, double duration, int64_t *n_prev, int64_t *n_total);

/* End of input: how many more copies of the last input frame to emit. */
int64_t vlm_vsync_flush(vlm_vsync *vs);

#endif
