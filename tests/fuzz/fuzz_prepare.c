/* fuzz_prepare.c - libFuzzer harness: the annotation parsers and conversion
 * rules of `videollm prepare` (src/train/prepare.c, augment.c) on arbitrary
 * bytes.
 *
 * Input: byte 0 selects the parser (narration raw / refined, GoalStep
 * livechat, durations), the fps (1, 2 or 4), max_frames (small or large) and
 * whether the augmentation runs; the rest is the JSON document. A small fixed
 * durations map covers the uids "v1", "g1", "a", "b". Besides "no crash, no
 * leak, no sanitizer report" it checks that every sample that comes out
 * passed the strict text pipeline (vlm_prep_finish) and that its frame range
 * lies inside the video's frames. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/prepare.h"

#define MAX_INPUT (1 << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > MAX_INPUT) return 0;
    const unsigned sel = data[0];
    const char *json = (const char *)data + 1;
    const size_t len = size - 1;
    char err[1024];
    static const char dur_json[] = "{\"v1\": 21, \"g1\": 41, \"a\": 1, \"b\": 3}";
    vlm_prep_durations *d = NULL;
    if (vlm_prep_durations_parse(dur_json, strlen(dur_json), "durations.json", &d, err, sizeof err)) abort();
    vlm_prep_params p = vlm_prep_default_params();
    static const double fps[4] = {2, 1, 4, 2};
    p.fps = fps[(sel >> 2) & 3];
    p.max_frames = (sel & 16) ? 7 : 1200;
    p.seed = sel;
    const int aug = (sel & 32) != 0;
    vlm_prep_set set = {0};
    vlm_status st;
    vlm_prep_dataset kind = VLM_PREP_NARRATION;
    switch (sel & 3) {
    case 0:
        st = vlm_prep_ego4d_narration(json, len, "n.json", d, &p, &set, err, sizeof err);
        break;
    case 1:
        p.refined = true;
        st = vlm_prep_ego4d_narration(json, len, "r.json", d, &p, &set, err, sizeof err);
        break;
    case 2:
        kind = VLM_PREP_LIVECHAT;
        st = vlm_prep_goalstep_livechat(json, len, "l.json", d, &p, &set, err, sizeof err);
        break;
    default: {
        vlm_prep_durations *d2 = NULL;
        st = vlm_prep_durations_parse(json, len, "d.json", &d2, err, sizeof err);
        vlm_prep_durations_free(d2);
        break;
    }
    }
    if (!st && (sel & 3) != 3) {
        st = vlm_prep_finish(&set, kind, &p, aug, (sel & 64) ? VLM_LIVE_V1 : VLM_LIVE_V1PLUS, err, sizeof err);
        /* the conversions never build a conversation the strict pipeline
         * rejects: a failure here is a bug, not bad input */
        if (st) abort();
        for (size_t i = 0; i < set.n; i++) {
            const vlm_prep_sample *s = &set.v[i];
            int64_t T = vlm_prep_durations_get(d, s->video_uid);
            if (T < 1 || s->frame_start < 0 || s->frame_end > T || s->frame_end <= s->frame_start) abort();
            char *line = vlm_prep_sample_line(s);
            if (!line) abort();
            free(line);
        }
    }
    if (st && !err[0]) abort(); /* every error says why */
    vlm_prep_set_free(&set);
    vlm_prep_durations_free(d);
    return 0;
}
