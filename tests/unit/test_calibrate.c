/* test_calibrate.c - vlm_vision_calibrate on a small random live1+ tower
 * (vlm_init_write, f32 GGUF, 96x96 images, 3x3 patches, D = 32) and 60
 * procedural frames (dark background, one or two coloured rectangles):
 *  - on the same frames, the calibrated pair gives grid tokens (tokens 1..9)
 *    and the MAP head's attention output ("v.head.attn_out" trace) with mean 0
 *    and std 1 per dimension, and a head token (token 0) with mean 0, all
 *    within 1e-3; the original tower's grid is not already standardised;
 *  - the report (within 1e-4 relative): n_frames; grid std min/max equal to
 *    the per-dimension std of the input tower's grid tokens; attn std min/max
 *    equal to the scale applied to the attn_out rows (input / output weight),
 *    i.e. the std of attn_out once the grid is calibrated (as documented);
 *  - the five replaced tensors are f32 with the input's shapes; every other
 *    vision tensor and every LM tensor is byte-identical to the input, the LM
 *    file's keys are the input's and videollm.vision_file names the new
 *    vision file; a second run (report NULL) writes the same bytes;
 *  - the input model is not modified (its tokens and traces bit for bit);
 *  - refusals (n_frames 1, a frame callback failing in pass 1 and in pass 3,
 *    an f16 model, an output folder that does not exist, an out_path that is
 *    a folder): a non-zero status, a message (the callback's own when it
 *    fails), and no file left behind. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "test_fs.h"
#include "tiny_tokenizer.h"
#include "core/util.h"
#include "io/gguf.h"
#include "ops/quant.h"
#include "videollm.h"

#define NF 60  /* calibration frames */
#define S 96   /* image size */
#define NT 10  /* tokens per frame: head token + 3x3 grid */
#define D 32   /* v_n_embd */
#define NG 9   /* grid tokens per frame */

static char root[256];

/* ---- helpers ------------------------------------------------------------------------------------ */

/* Frame i: a dark background and one or two rectangles, all drawn from an LCG seeded by i. */
static void make_frame(size_t i, uint8_t *rgb) {
    uint32_t s = (uint32_t)i * 2654435761u + 12345u;
#define NEXT() (s = s * 1664525u + 1013904223u, s >> 8)
    uint8_t bg = (uint8_t)(8 + NEXT() % 24);
    for (int p = 0; p < S * S * 3; p++) rgb[p] = bg;
    int nr = 1 + (int)(NEXT() % 2);
    for (int r = 0; r < nr; r++) {
        int w = 12 + (int)(NEXT() % 60), h = 12 + (int)(NEXT() % 60);
        int x0 = (int)(NEXT() % (uint32_t)(S - w + 1)), y0 = (int)(NEXT() % (uint32_t)(S - h + 1));
        uint8_t col[3] = {(uint8_t)(40 + NEXT() % 216), (uint8_t)(40 + NEXT() % 216), (uint8_t)(40 + NEXT() % 216)};
        for (int y = y0; y < y0 + h; y++)
            for (int x = x0; x < x0 + w; x++) memcpy(rgb + (y * S + x) * 3, col, 3);
    }
#undef NEXT
}

/* The calibration callback; fails (VLM_ERR_IO, with a message) on call number fail_call (counted from 0). */
typedef struct { int calls, fail_call; } frames;

static vlm_status frame_cb(void *user, size_t i, uint8_t *rgb, char *err, size_t err_size) {
    frames *f = user;
    if (f->calls++ == f->fail_call) {
        snprintf(err, err_size, "disk on fire at frame %zu", i);
        return VLM_ERR_IO;
    }
    make_frame(i, rgb);
    return VLM_OK;
}

/* Encode every frame with m: tokens [NF][NT][D], the attn_out trace [NF][D]. */
typedef struct { float *attn; int n; } trace;

static void on_tensor(void *user, const char *name, int32_t layer, const float *data, int64_t rows, int64_t cols) {
    trace *t = user;
    (void)layer;
    if (strcmp(name, "v.head.attn_out")) return;
    CHECK(rows == 1 && cols == D && t->n < NF);
    if (rows == 1 && cols == D && t->n < NF) memcpy(t->attn + (size_t)t->n++ * D, data, D * sizeof(float));
}

static void encode_all(const vlm_model *m, float *tok, float *attn) {
    char e[512];
    trace t = {attn, 0};
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    vp.cb = on_tensor, vp.cb_user_data = &t;
    vlm_vision_context *vis = NULL;
    CHECK_MSG(vlm_vision_context_init(m, &vp, &vis, e, sizeof e) == VLM_OK, "%s", e);
    if (!vis) return;
    uint8_t *rgb = malloc(S * S * 3);
    for (size_t i = 0; i < NF; i++) {
        make_frame(i, rgb);
        CHECK_MSG(!vlm_vision_encode_rgb(vis, rgb, tok + i * NT * D), "frame %zu: %s", i, vlm_vision_last_error(vis));
    }
    CHECK_MSG(t.n == NF, "%d attn_out traces for %d frames", t.n, NF);
    free(rgb);
    vlm_vision_context_free(vis);
}

/* Per-dimension mean and std (population) of rows picked from tok: `first` and `count` rows per frame. */
static void dim_stats(const float *tok, int first, int count, int stride, double *mean, double *sd) {
    for (int d = 0; d < D; d++) {
        double s = 0, q = 0;
        for (int f = 0; f < NF; f++)
            for (int r = first; r < first + count; r++) s += tok[((size_t)f * stride + r) * D + d];
        double n = (double)NF * count, m = s / n;
        for (int f = 0; f < NF; f++)
            for (int r = first; r < first + count; r++) q += pow(tok[((size_t)f * stride + r) * D + d] - m, 2);
        mean[d] = m, sd[d] = sqrt(q / n);
    }
}

static void min_max(const double *x, double *lo, double *hi) {
    *lo = *hi = x[0];
    for (int d = 1; d < D; d++) *lo = x[d] < *lo ? x[d] : *lo, *hi = x[d] > *hi ? x[d] : *hi;
}

static bool rel_close(double a, double b, double tol) { return fabs(a - b) <= tol * fabs(b); }

static const char *REPLACED[5] = {"v.post_ln.weight", "v.post_ln.bias", "v.head.attn_out.weight",
                                  "v.head.attn_out.bias", "v.head.ffn_down.bias"};

/* The output pair against the input pair; sc[d]: the scale applied to attn_out row d. */
static void compare_files(const char *in_lm, const char *in_v, const char *out_lm, const char *out_v, double *sc) {
    char e[512];
    vlm_gguf *a = NULL, *b = NULL, *va = NULL, *vb = NULL;
    CHECK_MSG(vlm_gguf_open(in_lm, &a, e, sizeof e) == VLM_OK, "%s", e);
    CHECK_MSG(vlm_gguf_open(out_lm, &b, e, sizeof e) == VLM_OK, "%s", e);
    CHECK_MSG(vlm_gguf_open(in_v, &va, e, sizeof e) == VLM_OK, "%s", e);
    CHECK_MSG(vlm_gguf_open(out_v, &vb, e, sizeof e) == VLM_OK, "%s", e);
    if (!a || !b || !va || !vb) goto out;
    /* LM file: the same tensors byte for byte, the same keys, vision_file -> the new vision file */
    CHECK(vlm_gguf_n_tensors(a) == vlm_gguf_n_tensors(b) && vlm_gguf_n_kv(a) == vlm_gguf_n_kv(b));
    for (size_t i = 0; i < vlm_gguf_n_tensors(a) && i < vlm_gguf_n_tensors(b); i++) {
        const vlm_gguf_tensor *x = vlm_gguf_tensor_at(a, i), *y = vlm_gguf_tensor_at(b, i);
        CHECK_MSG(!strcmp(x->name, y->name) && x->type == y->type && x->nbytes == y->nbytes &&
                      !memcmp(x->data, y->data, x->nbytes), "LM tensor %s differs", x->name);
    }
    for (size_t i = 0; i < vlm_gguf_n_kv(a); i++)
        CHECK_MSG(vlm_gguf_find_key(b, vlm_gguf_key_at(a, i)) >= 0, "key %s lost", vlm_gguf_key_at(a, i));
    const char *vf = NULL, *base = strrchr(out_v, '/');
    CHECK_MSG(vlm_gguf_get_str(b, "videollm.vision_file", &vf, NULL, e, sizeof e) == VLM_OK, "%s", e);
    CHECK_MSG(vf && !strcmp(vf, base + 1), "vision_file %s, expected %s", vf ? vf : "(none)", base + 1);
    /* vision file: five tensors replaced (f32, same shapes), the rest byte for byte */
    CHECK(vlm_gguf_n_tensors(va) == vlm_gguf_n_tensors(vb));
    int n_rep = 0;
    for (size_t i = 0; i < vlm_gguf_n_tensors(va) && i < vlm_gguf_n_tensors(vb); i++) {
        const vlm_gguf_tensor *x = vlm_gguf_tensor_at(va, i), *y = vlm_gguf_tensor_at(vb, i);
        CHECK_MSG(!strcmp(x->name, y->name) && x->n_dims == y->n_dims && !memcmp(x->ne, y->ne, sizeof x->ne),
                  "vision tensor %zu: %s vs %s", i, x->name, y->name);
        bool rep = false;
        for (int k = 0; k < 5; k++) rep |= !strcmp(x->name, REPLACED[k]);
        n_rep += rep;
        if (!rep) {
            CHECK_MSG(x->type == y->type && x->nbytes == y->nbytes && !memcmp(x->data, y->data, x->nbytes),
                      "vision tensor %s differs", x->name);
            continue;
        }
        CHECK_MSG(y->type == VLM_DT_F32 && x->nbytes == y->nbytes && memcmp(x->data, y->data, x->nbytes),
                  "%s: not a changed f32 tensor", x->name);
        if (strcmp(x->name, "v.head.attn_out.weight") || x->nbytes != (size_t)D * D * 4) continue;
        const float *wa = x->data, *wb = y->data;
        for (int d = 0; d < D; d++) { /* row d was divided by s_d: take the ratio at its largest entry */
            int k0 = 0;
            for (int k = 1; k < D; k++) k0 = fabsf(wa[d * D + k]) > fabsf(wa[d * D + k0]) ? k : k0;
            sc[d] = (double)wa[d * D + k0] / wb[d * D + k0];
        }
    }
    CHECK_MSG(n_rep == 5, "%d replaced tensors found", n_rep);
out:
    vlm_gguf_close(a), vlm_gguf_close(b), vlm_gguf_close(va), vlm_gguf_close(vb);
}

/* A refusal: non-zero status (want, if non-zero), a message containing `msg` (if set), `left` entries in dir. */
static void expect_refusal(const vlm_model *m, frames *f, size_t n, const char *out, vlm_status want,
                           const char *msg, const char *dir, int left) {
    char e[512] = "";
    vlm_calibrate_report rep;
    vlm_status st = vlm_vision_calibrate(m, frame_cb, f, n, 2, out, &rep, e, sizeof e);
    CHECK_MSG(st != VLM_OK && (!want || st == want), "%s: status %d, expected %d", out, (int)st, (int)want);
    CHECK_MSG(e[0] && (!msg || strstr(e, msg)), "message '%s' (expected '%s')", e, msg ? msg : "non-empty");
    CHECK_MSG(count_entries(dir) == left, "%s: %d entries, expected %d", dir, count_entries(dir), left);
    printf("refused (%d): %s\n", (int)st, e);
}

static vlm_model *make_model(const char *tok, const char *name, vlm_weight_type type, char *gguf, size_t gsize) {
    char d[300], e[512];
    snprintf(d, sizeof d, "%s/%s", root, name);
    snprintf(gguf, gsize, "%s/%s.gguf", root, name);
    vlm_init_params p = vlm_init_default_params();
    p.tokenizer_path = tok, p.out_dir = d, p.gguf_path = gguf, p.gguf_type = type;
    p.n_embd = 64, p.n_layer = 2, p.n_head = 4, p.n_head_kv = 2, p.n_ff = 128;
    p.v_n_embd = D, p.v_n_layer = 1, p.v_n_head = 2, p.v_n_ff = 64, p.v_patch = 32, p.v_image = S;
    CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    CHECK_MSG(vlm_model_load(gguf, &mp, &m, e, sizeof e) == VLM_OK, "%s", e);
    if (m) {
        const vlm_model_hparams *hp = vlm_model_get_hparams(m);
        CHECK(hp->v_n_embd == D && hp->v_image_size == S && hp->frame_num_tokens == NT);
    }
    return m;
}

/* ---- tests -------------------------------------------------------------------------------------- */

static void test_calibrate(const char *tok) {
    char g[300], out[300], out2[300], e[512];
    vlm_model *m = make_model(tok, "f32", VLM_WTYPE_F32, g, sizeof g);
    if (!m) return;
    char *in_v = vlm_convert_vision_path(g);
    snprintf(out, sizeof out, "%s/cal/c.gguf", root);
    snprintf(out2, sizeof out2, "%s/cal/d.gguf", root);
    char *out_v = vlm_convert_vision_path(out), *out2_v = vlm_convert_vision_path(out2);
    snprintf(e, sizeof e, "%s/cal", root);
    CHECK(mkdir(e, 0777) == 0);
    const size_t nt = (size_t)NF * NT * D;
    float *t0 = malloc(nt * 4), *t1 = malloc(nt * 4), *tc = malloc(nt * 4);
    float *a0 = malloc(NF * D * 4), *a1 = malloc(NF * D * 4), *ac = malloc(NF * D * 4);
    double mean[D], sd[D], sc[D], lo, hi;
    encode_all(m, t0, a0);

    vlm_calibrate_report rep;
    memset(&rep, 0xff, sizeof rep);
    frames f = {0, -1};
    CHECK_MSG(vlm_vision_calibrate(m, frame_cb, &f, NF, 2, out, &rep, e, sizeof e) == VLM_OK, "calibrate: %s", e);
    CHECK_MSG(f.calls == 3 * NF, "%d frame calls, expected %d (three passes)", f.calls, 3 * NF);
    printf("report: %zu frames, grid std [%.6g, %.6g], attn std [%.6g, %.6g]\n", rep.n_frames, rep.grid_std_min,
           rep.grid_std_max, rep.attn_std_min, rep.attn_std_max);

    /* the input model is untouched */
    encode_all(m, t1, a1);
    CHECK_MSG(!memcmp(t0, t1, nt * 4) && !memcmp(a0, a1, NF * D * 4), "the input model's encodings changed");

    /* the report against the input tower's grid and attn_out */
    dim_stats(t0, 1, NG, NT, mean, sd);
    min_max(sd, &lo, &hi);
    CHECK(rep.n_frames == NF);
    CHECK_MSG(rel_close(rep.grid_std_min, lo, 1e-4) && rel_close(rep.grid_std_max, hi, 1e-4),
              "report grid std [%.8g, %.8g], computed [%.8g, %.8g]", rep.grid_std_min, rep.grid_std_max, lo, hi);
    CHECK_MSG(fabs(lo - 1) > 0.05 || fabs(hi - 1) > 0.05, "the original grid is already standardised");

    /* the files */
    for (int d = 0; d < D; d++) sc[d] = NAN;
    compare_files(g, in_v, out, out_v, sc);
    min_max(sc, &lo, &hi);
    CHECK_MSG(rel_close(rep.attn_std_min, lo, 1e-4) && rel_close(rep.attn_std_max, hi, 1e-4),
              "report attn std [%.8g, %.8g], applied scales [%.8g, %.8g]", rep.attn_std_min, rep.attn_std_max, lo, hi);

    /* the calibrated pair on the same frames */
    vlm_model *c = NULL;
    vlm_model_params mp = vlm_model_default_params();
    CHECK_MSG(vlm_model_load(out, &mp, &c, e, sizeof e) == VLM_OK, "%s", e);
    if (c) {
        encode_all(c, tc, ac);
        double wm = 0, ws = 0, hm = 0, am = 0, as = 0;
        dim_stats(tc, 1, NG, NT, mean, sd);
        for (int d = 0; d < D; d++) wm = fmax(wm, fabs(mean[d])), ws = fmax(ws, fabs(sd[d] - 1));
        dim_stats(tc, 0, 1, NT, mean, sd);
        for (int d = 0; d < D; d++) hm = fmax(hm, fabs(mean[d]));
        dim_stats(ac, 0, 1, 1, mean, sd);
        for (int d = 0; d < D; d++) am = fmax(am, fabs(mean[d])), as = fmax(as, fabs(sd[d] - 1));
        CHECK_MSG(wm < 1e-3 && ws < 1e-3, "grid: max |mean| %.3g, max |std - 1| %.3g", wm, ws);
        CHECK_MSG(hm < 1e-3, "head token: max |mean| %.3g", hm);
        CHECK_MSG(am < 1e-3 && as < 1e-3, "attn_out: max |mean| %.3g, max |std - 1| %.3g", am, as);
    }
    vlm_model_free(c);

    /* a second run without a report writes the same bytes */
    f.calls = 0;
    CHECK_MSG(vlm_vision_calibrate(m, frame_cb, &f, NF, 2, out2, NULL, e, sizeof e) == VLM_OK, "%s", e);
    CHECK(same_file(out_v, out2_v));
    snprintf(e, sizeof e, "%s/cal", root);
    CHECK(count_entries(e) == 4); /* c, c.vision, d, d.vision: no temporaries */

    free(t0), free(t1), free(tc), free(a0), free(a1), free(ac);
    free(in_v), free(out_v), free(out2_v);
    vlm_model_free(m);
}

static void test_refusals(const char *tok) {
    char g[300], dir[300], out[400];
    vlm_model *m = make_model(tok, "r32", VLM_WTYPE_F32, g, sizeof g);
    snprintf(dir, sizeof dir, "%s/refuse", root);
    CHECK(mkdir(dir, 0777) == 0);
    snprintf(out, sizeof out, "%s/r.gguf", dir);
    if (m) {
        frames ok = {0, -1}, bad = {0, 5}, late = {0, 2 * NF + 5};
        expect_refusal(m, &ok, 1, out, 0, NULL, dir, 0);
        expect_refusal(m, &bad, NF, out, VLM_ERR_IO, "disk on fire at frame 5", dir, 0);
        expect_refusal(m, &late, NF, out, VLM_ERR_IO, "disk on fire at frame 5", dir, 0); /* in pass 3 */
        CHECK(late.calls == 2 * NF + 6);
        char nope[300], no_out[600];
        snprintf(nope, sizeof nope, "%s/no/such/folder", root);
        snprintf(no_out, sizeof no_out, "%s/x.gguf", nope);
        frames f2 = {0, -1};
        expect_refusal(m, &f2, NF, no_out, 0, NULL, dir, 0);
        CHECK(count_entries(nope) == -1);
        /* out_path an existing folder: the LM rename fails after the vision file's; neither may stay */
        snprintf(out, sizeof out, "%s/isdir.gguf", dir);
        CHECK(mkdir(out, 0777) == 0);
        snprintf(no_out, sizeof no_out, "%s/keep", out);
        fclose(fopen(no_out, "w"));
        f2.calls = 0;
        expect_refusal(m, &f2, NF, out, 0, NULL, dir, 1);
        rm_rf(out);
        snprintf(out, sizeof out, "%s/isdir.vision.gguf", dir);
        unlink(out); /* what a failure above left (not to count it again below) */
        snprintf(out, sizeof out, "%s/r.gguf", dir);
    }
    vlm_model_free(m);
    vlm_model *h = make_model(tok, "f16", VLM_WTYPE_F16, g, sizeof g);
    if (h) {
        frames f = {0, -1};
        expect_refusal(h, &f, NF, out, VLM_ERR_UNSUPPORTED, NULL, dir, 0);
    }
    vlm_model_free(h);
}

int main(void) {
    test_root_make(root, sizeof root, "calibrate");
    char tok[300];
    snprintf(tok, sizeof tok, "%s/tokenizer.json", root);
    write_llama3_tokenizer(tok);
    test_calibrate(tok);
    test_refusals(tok);
    test_root_finish(root);
    return check_done("test_calibrate");
}
