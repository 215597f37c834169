/* synth.h - internals of the synthetic world shared by the files of src/synth: the
 * scene structure (per-tick object table) and the small PRNG. The public API
 * is the "Synthetic world" section of include/videollm.h. */
#ifndef VLM_SYNTH_SYNTH_H
#define VLM_SYNTH_SYNTH_H
#include <stdint.h>

#include "videollm.h"

/* xoshiro256** seeded through splitmix64: the same numbers on every machine. */
typedef struct {
    uint64_t s[4];
} vlm_synth_rng;

void vlm_synth_rng_seed(vlm_synth_rng *r, uint64_t seed);
uint64_t vlm_synth_rng_next(vlm_synth_rng *r);
/* Uniform integer in [0, n) (n > 0), without modulo bias. */
uint64_t vlm_synth_rng_below(vlm_synth_rng *r, uint64_t n);

/* One object at one tick (compact: the table holds n_ticks * n_objects). */
typedef struct {
    uint8_t present, colour, moving;
    int16_t x, y; /* centre, pixels */
} vlm_synth_cell;

typedef struct {
    uint8_t shape;
    uint8_t large;
    int16_t radius; /* half extent in pixels */
} vlm_synth_obj_info;

struct vlm_synth_scene {
    vlm_synth_params p;
    int64_t n_ticks;
    size_t n_objects;
    vlm_synth_obj_info *objects; /* [n_objects] */
    vlm_synth_cell *cells;       /* [n_ticks][VLM_SYNTH_MAX_OBJECTS] */
    vlm_synth_event *events;     /* [n_events], ordered by tick then occurrence */
    size_t n_events, cap_events;
};

static inline const vlm_synth_cell *vlm_synth_cell_at(const vlm_synth_scene *s, int64_t tick, size_t obj) {
    return &s->cells[(size_t)tick * VLM_SYNTH_MAX_OBJECTS + obj];
}
/* One F32 tensor "features" [t, k, d] as safetensors, written to PATH.part
 * then renamed (features.c). */
vlm_status vlm_synth_write_features_file(const char *path, const float *data, int64_t t, int64_t k, int64_t d,
                                         char *err, size_t n);
#endif
