/* tiny_model.h - tests of the trainer: a temporary folder under $VLM_TMP and a
 * tiny seeded model (vlm_init_write: hidden 32, 4 heads / 2 KV heads, a
 * one-layer 96 px vision tower) with the byte-level tokenizer of
 * tiny_tokenizer.h. Header-only; include after check.h and tiny_tokenizer.h. */
#ifndef VLM_TEST_TINY_MODEL_H
#define VLM_TEST_TINY_MODEL_H
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/safetensors_write.h"
#include "train/prepare.h"
#include "videollm.h"

/* dir = $VLM_TMP/NAME.XXXXXX (or /tmp/...), created; false (with perror) on failure. */
static inline bool tiny_tmpdir(char *dir, size_t n, const char *name) {
    const char *base = getenv("VLM_TMP");
    snprintf(dir, n, "%s/%s.XXXXXX", base && *base ? base : "/tmp", name);
    if (mkdtemp(dir)) return true;
    perror(dir);
    return false;
}

/* DIR/tokenizer.json, DIR/model/ and model_path = DIR/base.gguf (+ its vision file): n_layer
 * LM layers, vision width vd, tpf tokens per frame, weights drawn with init_std (0: the default). */
static inline void tiny_model_write(const char *dir, int n_layer, int vd, int tpf, double init_std, char *model_path,
                                    size_t n) {
    char tok[800], mdir[800], err[1024];
    snprintf(tok, sizeof tok, "%s/tokenizer.json", dir);
    snprintf(mdir, sizeof mdir, "%s/model", dir);
    snprintf(model_path, n, "%s/base.gguf", dir);
    write_llama3_tokenizer(tok);
    vlm_init_params ip = vlm_init_default_params();
    ip.tokenizer_path = tok, ip.out_dir = mdir, ip.gguf_path = model_path;
    ip.n_embd = 32, ip.n_layer = n_layer, ip.n_head = 4, ip.n_head_kv = 2, ip.n_ff = 64;
    ip.v_n_embd = vd, ip.v_n_layer = 1, ip.v_n_head = 2, ip.v_n_ff = 32, ip.v_patch = 32, ip.v_image = 96;
    ip.frame_tokens = tpf;
    if (init_std > 0) ip.init_std = init_std;
    CHECK_MSG(vlm_init_write(&ip, err, sizeof err) == VLM_OK, "%s", err);
}

/* Features [nf][tpf][vd], a fixed pseudo-random pattern in [-1, 1) from seed (malloc'd). */
static inline float *tiny_features(int nf, int tpf, int vd, uint64_t seed) {
    const size_t n = (size_t)nf * (size_t)tpf * (size_t)vd;
    float *f = malloc(sizeof(float) * n);
    for (size_t i = 0; f && i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        f[i] = (float)((double)(seed >> 40) / 8388608.0 - 1.0);
    }
    return f;
}

/* path: a safetensors file with the one tensor "features" [nf][tpf][vd]. */
static inline void tiny_write_features(const char *path, const float *f, int nf, int tpf, int vd) {
    vlm_stw_tensor t = {"features", VLM_ST_F32, 3, {nf, tpf, vd}};
    vlm_stw *w;
    char e[256];
    CHECK_MSG(vlm_stw_open(path, &t, 1, NULL, 0, &w, e, sizeof e) == VLM_OK, "%s", e);
    CHECK_MSG(vlm_stw_write_f32(w, f, (size_t)nf * (size_t)tpf * (size_t)vd, e, sizeof e) == VLM_OK, "%s", e);
    CHECK_MSG(vlm_stw_close(w, e, sizeof e) == VLM_OK, "%s", e);
}

/* One JSONL line of sample s into f (a CHECK fails when it cannot be made); s is freed. */
static inline void tiny_write_sample(FILE *f, vlm_prep_sample *s) {
    char *line = vlm_prep_sample_line(s);
    CHECK(line != NULL);
    if (line && f) fprintf(f, "%s\n", line);
    free(line);
    vlm_prep_sample_free(s);
}
#endif
