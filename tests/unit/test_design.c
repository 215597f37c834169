/* test_design.c - vlm_vision_design on a small live1+ tower (vlm_init_write,
 * f32, 96x96 images, patch 16: 6x6 patches, 3x3 grid, D = 64, 2 layers) and
 * a world of three colours and two square sizes (8x8 = 64 px, 14x14 = 196 px)
 * on a grey background, objects never closer than 8 px. The oracle is the
 * pixels themselves:
 *  - the report: the frames, the dimensions used (54 for this world), the
 *    areas the tower measures within the margin of the counted pixels;
 *  - grid tokens: the feature dimensions (colour masses, rejection terms,
 *    areas, moments) have mean 0 and std 1 over the frames, every other
 *    dimension is exactly 0;
 *  - areas: summed over the grid, the change of a colour's area dimension
 *    from an empty frame to a large square and to a small one of that colour
 *    are in the ratio 196 : 64 (within 1%), the other colours' do not move;
 *  - moments: a square moved right by 16 px and by 32 px changes its column
 *    moment in the ratio 1 : 2 (within 1%) and its row moment by < 1% of it;
 *  - the head token's bins: a large square fires its colour's large bin, a
 *    small one the small bin, no other bin moves by more than 5% of that; the
 *    groups (here: group 1 = the large area, group 0 = the small) likewise;
 *  - the LM file's tensors are copied byte for byte; a second run writes the
 *    same bytes;
 *  - moment waves (period 4 patches, D = 80): a small red square in patch
 *    column c changes the sine and cosine column dimensions of red, summed
 *    over the grid and in the head token, in proportion to sin(2 pi c / 4)
 *    and cos(2 pi c / 4) (within 1% of the largest change), the row ones by
 *    the same amount for every c, the other colours' not at all; every
 *    other dimension but the balance is as without the waves;
 *  - head moments (D = 64): the head token carries a copy of its column and
 *    row moments in 6 more dimensions (within 1e-5), every grid token 0
 *    there, and every other dimension but the balance is as without them;
 *  - area sums (D = 64): a large and a small red square together fire
 *    both red bins and both groups, each within 5% of its change when that
 *    square is alone, no other bin by more than 5%; without the option
 *    neither bin fires; with the option a large red square's bin is the same
 *    within 1% beside two more objects as alone; the head's norm weight is
 *    ten times that without (its anchors ten times larger: the balance's
 *    share of its scale a hundredth) and the head token still holds none;
 *  - refusals, with a message and no file left: one frame, a failing frame
 *    callback, a tower too narrow (the message says how wide), a colour equal
 *    to the background, two colours that cannot be told apart, equal areas,
 *    an area in no group, a wave period out of range, a tower too narrow
 *    for the waves, area sums with one group, an area equal to a sum of two,
 *    an MLP too narrow for the sums' bins. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "test_fs.h"
#include "tiny_tokenizer.h"
#include "core/util.h"
#include "io/gguf.h"
#include "videollm.h"

#define NF 90 /* design frames */
#define S 96
#define NT 10
#define NG 9
#define TWO_PI_T(c) (6.283185307179586 * (double)(c) / (double)T) /* the wave's angle at patch c */

static char root[256];
static const uint8_t BG[3] = {40, 40, 40};
static const uint8_t PAL[3][3] = {{220, 40, 40}, {40, 200, 60}, {50, 90, 235}};

static void clear(uint8_t *rgb) {
    for (int p = 0; p < S * S; p++) memcpy(rgb + p * 3, BG, 3);
}

static void square(uint8_t *rgb, int x0, int y0, int side, int colour) {
    for (int y = y0; y < y0 + side; y++)
        for (int x = x0; x < x0 + side; x++) memcpy(rgb + (y * S + x) * 3, PAL[colour], 3);
}

/* Design frame i: 0 to 2 squares of distinct colours and random sizes, at least 8 px apart. */
static void make_frame(size_t i, uint8_t *rgb) {
    uint32_t s = (uint32_t)i * 2654435761u + 777u;
#define NEXT() (s = s * 1664525u + 1013904223u, s >> 8)
    clear(rgb);
    int n = (int)(NEXT() % 3), c0 = (int)(NEXT() % 3), x[2], y[2], w[2];
    for (int k = 0; k < n; k++) {
        for (int tries = 0; tries < 100; tries++) {
            w[k] = NEXT() % 2 ? 14 : 8;
            x[k] = (int)(NEXT() % (uint32_t)(S - w[k])), y[k] = (int)(NEXT() % (uint32_t)(S - w[k]));
            if (k == 0 || x[k] >= x[0] + w[0] + 8 || x[0] >= x[k] + w[k] + 8 || y[k] >= y[0] + w[0] + 8 ||
                y[0] >= y[k] + w[k] + 8)
                break;
        }
        square(rgb, x[k], y[k], w[k], (c0 + k) % 3);
    }
#undef NEXT
}

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

static vlm_tower_design_params world(void) {
    vlm_tower_design_params p = {.n_colours = 3, .n_areas = 2, .areas = {196, 64}, .n_groups = 2, .area_group = {1, 0}};
    memcpy(p.background, BG, 3);
    memcpy(p.colours, PAL, sizeof PAL);
    return p;
}

static vlm_model *make_model(const char *tok, const char *name, int d, char *gguf, size_t gsize) {
    char dir[300], e[512];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    snprintf(gguf, gsize, "%s/%s.gguf", root, name);
    vlm_init_params p = vlm_init_default_params();
    p.tokenizer_path = tok, p.out_dir = dir, p.gguf_path = gguf, p.gguf_type = VLM_WTYPE_F32;
    p.n_embd = 32, p.n_layer = 1, p.n_head = 2, p.n_head_kv = 2, p.n_ff = 64;
    p.v_n_embd = d, p.v_n_layer = 2, p.v_n_head = 2, p.v_n_ff = 64, p.v_patch = 16, p.v_image = S;
    CHECK_MSG(vlm_init_write(&p, e, sizeof e) == VLM_OK, "%s", e);
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    CHECK_MSG(vlm_model_load(gguf, &mp, &m, e, sizeof e) == VLM_OK, "%s", e);
    return m;
}

/* Tokens [NT][D] of one frame. */
static void encode(vlm_vision_context *vis, const uint8_t *rgb, float *tok) {
    CHECK_MSG(vlm_vision_encode_rgb(vis, rgb, tok) == VLM_OK, "%s", vlm_vision_last_error(vis));
}

/* Sum over the 9 grid tokens of dimension d. */
static double grid_sum(const float *tok, int D, int d) {
    double s = 0;
    for (int r = 1; r <= NG; r++) s += tok[r * D + d];
    return s;
}

/* A fresh model of tower width d and its folder root/SUB with two output paths in it, a.gguf and b.gguf. */
static vlm_model *setup_d(const char *tok, const char *name, int d, const char *sub, char *g, char *a, char *b) {
    char dir[290]; /* + "/a.gguf" fits 300 */
    vlm_model *m = make_model(tok, name, d, g, 300);
    if (!m) return NULL;
    snprintf(dir, sizeof dir, "%s/%s", root, sub);
    CHECK(mkdir(dir, 0777) == 0);
    snprintf(a, 300, "%s/a.gguf", dir);
    snprintf(b, 300, "%s/b.gguf", dir);
    return m;
}

static vlm_model *setup(const char *tok, const char *name, const char *sub, char *g, char *a, char *b) {
    return setup_d(tok, name, 64, sub, g, a, b);
}

static void test_design(const char *tok) {
    enum { D = 64 };
    char g[300], out[300], out2[300], e[512];
    vlm_model *m = setup(tok, "m64", "des", g, out, out2);
    if (!m) return;
    vlm_tower_design_params p = world();
    vlm_tower_design_report rep;
    memset(&rep, 0xff, sizeof rep);
    frames f = {0, -1};
    CHECK_MSG(vlm_vision_design(m, &p, frame_cb, &f, NF, 2, out, &rep, e, sizeof e) == VLM_OK, "design: %s", e);
    CHECK_MSG(f.calls == 2 * NF, "%d frame calls, expected %d (two passes)", f.calls, 2 * NF);
    printf("report: %zu frames, %d dims used, %d live, area error %.3f px (margin %.1f), dims %d %d %d %d %d\n",
           rep.n_frames, rep.dims_used, rep.n_live, rep.area_err_max, rep.area_margin, rep.dim_mass, rep.dim_area,
           rep.dim_moment_x, rep.dim_moment_y, rep.dim_bins);
    CHECK(rep.n_frames == NF && rep.dims_used == 54 && rep.area_margin == 16.0 && rep.dim_groups == rep.dim_bins + 6);
    CHECK_MSG(rep.area_err_max >= 0 && rep.area_err_max < rep.area_margin, "area error %g", rep.area_err_max);
    CHECK(rep.dim_moment_x == rep.dim_area + 3 && rep.dim_moment_y == rep.dim_area + 6 && rep.dim_bins == rep.dim_area + 9);

    /* the LM tensors are copied */
    {
        vlm_gguf *a = NULL, *b = NULL;
        CHECK_MSG(vlm_gguf_open(g, &a, e, sizeof e) == VLM_OK, "%s", e);
        CHECK_MSG(vlm_gguf_open(out, &b, e, sizeof e) == VLM_OK, "%s", e);
        if (a && b) {
            CHECK(vlm_gguf_n_tensors(a) == vlm_gguf_n_tensors(b));
            for (size_t i = 0; i < vlm_gguf_n_tensors(a) && i < vlm_gguf_n_tensors(b); i++) {
                const vlm_gguf_tensor *x = vlm_gguf_tensor_at(a, i), *y = vlm_gguf_tensor_at(b, i);
                CHECK_MSG(!strcmp(x->name, y->name) && x->nbytes == y->nbytes && !memcmp(x->data, y->data, x->nbytes),
                          "LM tensor %s differs", x->name);
            }
        }
        vlm_gguf_close(a), vlm_gguf_close(b);
    }
    /* a second run, no report: the same bytes */
    f.calls = 0;
    CHECK_MSG(vlm_vision_design(m, &p, frame_cb, &f, NF, 1, out2, NULL, e, sizeof e) == VLM_OK, "design: %s", e);
    char *v1 = vlm_convert_vision_path(out), *v2 = vlm_convert_vision_path(out2);
    CHECK_MSG(same_file(v1, v2), "two runs wrote different vision files");
    free(v1), free(v2);
    vlm_model_free(m);

    vlm_model *c = NULL;
    vlm_model_params mp = vlm_model_default_params();
    CHECK_MSG(vlm_model_load(out, &mp, &c, e, sizeof e) == VLM_OK, "%s", e);
    if (!c) return;
    vlm_vision_context *vis = NULL;
    CHECK_MSG(vlm_vision_context_init(c, NULL, &vis, e, sizeof e) == VLM_OK, "%s", e);
    if (!vis) {
        vlm_model_free(c);
        return;
    }
    uint8_t *rgb = malloc(S * S * 3);
    float *all = malloc((size_t)NF * NT * D * sizeof(float));
    float t0[NT * D], tl[NT * D], ts[NT * D], t16[NT * D], t32[NT * D];

    /* grid tokens over the design frames */
    for (size_t i = 0; i < NF; i++) make_frame(i, rgb), encode(vis, rgb, all + i * NT * D);
    int live = 0;
    for (int d = 0; d < D; d++) {
        double s = 0, q = 0, mx = 0;
        for (int i = 0; i < NF; i++)
            for (int r = 1; r <= NG; r++) {
                double v = all[((size_t)i * NT + r) * D + d];
                s += v, q += v * v, mx = fmax(mx, fabs(v));
            }
        const double n = (double)NF * NG, mean = s / n, sd = sqrt(fmax(q / n - mean * mean, 0));
        const bool feature = (d >= rep.dim_mass && d < rep.dim_mass + 12) || (d >= rep.dim_area - 12 && d < rep.dim_bins);
        if (feature && sd > 0) {
            live++;
            CHECK_MSG(fabs(mean) < 1e-3 && fabs(sd - 1) < 1e-3, "grid dim %d: mean %g std %g", d, mean, sd);
        } else {
            CHECK_MSG(mx == 0, "grid dim %d is not a feature but reaches %g", d, mx);
        }
    }
    CHECK_MSG(live == rep.n_live && live >= 12 + 3 * 3, "%d live grid dims (report %d)", live, rep.n_live);

    /* areas: a large and a small red square in the same place, against an empty frame */
    clear(rgb), encode(vis, rgb, t0);
    clear(rgb), square(rgb, 1, 1, 14, 0), encode(vis, rgb, tl);
    clear(rgb), square(rgb, 1, 1, 8, 0), encode(vis, rgb, ts);
    const int da = rep.dim_area;
    double dl = grid_sum(tl, D, da) - grid_sum(t0, D, da), dsm = grid_sum(ts, D, da) - grid_sum(t0, D, da);
    CHECK_MSG(dsm > 0 && fabs(dl / dsm - 196.0 / 64.0) < 0.01 * 196.0 / 64.0, "area ratio %g, expected %g", dl / dsm,
              196.0 / 64.0);
    for (int k = 1; k < 3; k++) {
        double o = grid_sum(tl, D, da + k) - grid_sum(t0, D, da + k);
        CHECK_MSG(fabs(o) < 0.01 * dl, "colour %d's area moved by %g (red's by %g)", k, o, dl);
    }
    /* moments: the large red square moved right by one and two patches */
    clear(rgb), square(rgb, 17, 1, 14, 0), encode(vis, rgb, t16);
    clear(rgb), square(rgb, 33, 1, 14, 0), encode(vis, rgb, t32);
    const int dx = rep.dim_moment_x, dy = rep.dim_moment_y;
    double m16 = grid_sum(t16, D, dx) - grid_sum(tl, D, dx), m32 = grid_sum(t32, D, dx) - grid_sum(tl, D, dx);
    double y16 = grid_sum(t16, D, dy) - grid_sum(tl, D, dy);
    CHECK_MSG(m16 > 0 && fabs(m32 / m16 - 2) < 0.02, "column moment changes %g, %g (ratio expected 2)", m16, m32);
    CHECK_MSG(fabs(y16) < 0.01 * m16, "row moment moved by %g on a horizontal move (column: %g)", y16, m16);
    /* head token bins (token 0): areas ascending, so bin 0 = 64 px, bin 1 = 196 px */
    const int db = rep.dim_bins;
    double big = tl[db + 1] - t0[db + 1], small = ts[db + 0] - t0[db + 0];
    CHECK_MSG(big > 0.5 && small > 0.5, "bins fire by %g (large) and %g (small)", big, small);
    for (int b = 0; b < 6; b++) {
        if (b != 1) CHECK_MSG(fabs(tl[db + b] - t0[db + b]) < 0.05 * big, "large square: bin %d moved %g", b, tl[db + b] - t0[db + b]);
        if (b != 0) CHECK_MSG(fabs(ts[db + b] - t0[db + b]) < 0.05 * small, "small square: bin %d moved %g", b, ts[db + b] - t0[db + b]);
    }
    const int dg = rep.dim_groups;
    double gl = tl[dg + 1] - t0[dg + 1], gs = ts[dg + 0] - t0[dg + 0];
    CHECK_MSG(gl > 0.5 && gs > 0.5 && fabs(tl[dg] - t0[dg]) < 0.05 * gl && fabs(ts[dg + 1] - t0[dg + 1]) < 0.05 * gs,
              "groups: large %g / %g, small %g / %g", tl[dg] - t0[dg], gl, gs, ts[dg + 1] - t0[dg + 1]);
    free(all), free(rgb);
    vlm_vision_context_free(vis);
    vlm_model_free(c);
}

/* Load two designed models and a vision context on each (NULL where that failed). */
static void load_pair(const char *pa, const char *pb, vlm_model **ca, vlm_model **cb, vlm_vision_context **va,
                      vlm_vision_context **vb) {
    char e[512];
    vlm_model_params mp = vlm_model_default_params();
    CHECK_MSG(vlm_model_load(pa, &mp, ca, e, sizeof e) == VLM_OK, "%s", e);
    CHECK_MSG(vlm_model_load(pb, &mp, cb, e, sizeof e) == VLM_OK, "%s", e);
    if (*ca) CHECK_MSG(vlm_vision_context_init(*ca, NULL, va, e, sizeof e) == VLM_OK, "%s", e);
    if (*cb) CHECK_MSG(vlm_vision_context_init(*cb, NULL, vb, e, sizeof e) == VLM_OK, "%s", e);
}

/* The world's design without an option (p0, to o0) and with it (p1, to o1); frees m. */
static void design_two(vlm_model *m, vlm_tower_design_params p0, vlm_tower_design_params p1, const char *o0,
                       const char *o1, vlm_tower_design_report *r0, vlm_tower_design_report *r1) {
    char e[512];
    frames f = {0, -1};
    CHECK_MSG(vlm_vision_design(m, &p0, frame_cb, &f, NF, 2, o0, r0, e, sizeof e) == VLM_OK, "design: %s", e);
    f = (frames){0, -1};
    CHECK_MSG(vlm_vision_design(m, &p1, frame_cb, &f, NF, 2, o1, r1, e, sizeof e) == VLM_OK, "design: %s", e);
    vlm_model_free(m);
}

/* A fresh model of tower width d (in root/NAME) designed for the world without an option (to
 * root/SUB/a.gguf, o0) and with the option p1 sets (to root/SUB/b.gguf, o1); false when the
 * model could not be made. */
static bool design_option(const char *tok, const char *name, int d, const char *sub, vlm_tower_design_params p1,
                          char *o0, char *o1, vlm_tower_design_report *r0, vlm_tower_design_report *r1) {
    char g[300];
    vlm_model *m = setup_d(tok, name, d, sub, g, o0, o1);
    if (!m) return false;
    design_two(m, world(), p1, o0, o1, r0, r1);
    return true;
}

/* --head-moment-gain: the head token's moments scaled by the gain (std G over the
 * frames), everything else of every token as without it (but the head token's
 * balance dimension, which keeps its row sum) */
static void test_moment_gain(const char *tok) {
    enum { D = 64, G = 3 };
    char o1[300], o3[300];
    vlm_tower_design_params pg = world();
    vlm_tower_design_report rep;
    pg.head_moment_gain = G;
    if (!design_option(tok, "mg64", D, "gain", pg, o1, o3, &rep, NULL)) return; /* gains 1 and G */
    vlm_model *c1 = NULL, *c3 = NULL;
    vlm_vision_context *v1 = NULL, *v3 = NULL;
    load_pair(o1, o3, &c1, &c3, &v1, &v3);
    if (v1 && v3) {
        uint8_t *rgb = malloc(S * S * 3);
        float a[NT * D], b[NT * D];
        double sum[D] = {0}, sq[D] = {0}, worst_other = 0, worst_ratio = 0, worst_sum = 0;
        const int m0 = rep.dim_moment_x, m1 = rep.dim_moment_y + 3;
        for (size_t i = 0; i < NF; i++) {
            make_frame(i, rgb), encode(v1, rgb, a), encode(v3, rgb, b);
            double rs1 = 0, rs3 = 0, ra = 0;
            for (int d = 0; d < D; d++) rs1 += a[d], rs3 += b[d], ra += fabs(b[d]);
            worst_sum = fmax(worst_sum, fabs(rs3 - rs1) / (1 + ra));
            for (int t = 0; t < NT; t++)
                for (int d = 0; d < D; d++) {
                    const float x = a[t * D + d], y = b[t * D + d];
                    if (t == 0 && d >= m0 && d < m1) {
                        worst_ratio = fmax(worst_ratio, fabs(y - G * x));
                        sum[d] += y, sq[d] += (double)y * y;
                    } else if (t == 0 && d == 2) { /* the balance: minus the sum of the others */
                        continue;
                    } else {
                        worst_other = fmax(worst_other, fabs(y - x));
                    }
                }
        }
        CHECK_MSG(worst_ratio < 2e-3 * G, "head moments differ from %d x the gain-1 tower's by %g", G, worst_ratio);
        CHECK_MSG(worst_other < 2e-3, "other features differ by %g with the gain", worst_other);
        CHECK_MSG(worst_sum < 1e-4, "the head token's balance: row sums differ by %g (relative)", worst_sum);
        int varying = 0;
        for (int d = m0; d < m1; d++) {
            const double mean = sum[d] / NF, sd = sqrt(fmax(sq[d] / NF - mean * mean, 0));
            varying += sd > 0;
            CHECK_MSG(sd == 0 || fabs(sd - G) < 2e-3 * G, "head moment dim %d: std %g, expected %d", d, sd, G);
            CHECK_MSG(fabs(mean) < 1e-3 * G, "head moment dim %d: mean %g", d, mean);
        }
        CHECK_MSG(varying >= 3, "only %d head moment dims vary over the frames", varying);
        printf("head moment gain %d: moments within %.2g of %d x, other features within %.2g\n", G, worst_ratio, G,
               worst_other);
        free(rgb);
    }
    vlm_vision_context_free(v1), vlm_vision_context_free(v3);
    vlm_model_free(c1), vlm_model_free(c3);
}

/* --moment-wave: per colour A sin / cos (2 pi column / T) and of the row, from the same
 * units as the moments; nothing else changes */
static void test_moment_wave(const char *tok) {
    enum { D = 80, T = 4 };
    char o0[300], ow[300];
    vlm_tower_design_params pw = world();
    vlm_tower_design_report r0, rep;
    pw.moment_wave = T;
    if (!design_option(tok, "mw80", D, "wave", pw, o0, ow, &r0, &rep)) return; /* without and with the waves */
    CHECK_MSG(r0.dim_waves == -1 && rep.dim_waves == r0.dims_used && rep.dims_used == r0.dims_used + 12,
              "waves at %d (%d without), dims used %d (%d without)", rep.dim_waves, r0.dim_waves, rep.dims_used,
              r0.dims_used);
    CHECK_MSG(rep.n_live == r0.n_live + 12, "%d live grid dims with the waves, %d without", rep.n_live, r0.n_live);
    vlm_model *c0 = NULL, *cw = NULL;
    vlm_vision_context *v0 = NULL, *vw = NULL;
    load_pair(o0, ow, &c0, &cw, &v0, &vw);
    if (v0 && vw && rep.dim_waves > 0) {
        uint8_t *rgb = malloc(S * S * 3);
        float a[NT * D], b[NT * D], t0[NT * D], tc[6][NT * D];
        double worst_other = 0;
        for (size_t i = 0; i < NF; i++) {
            make_frame(i, rgb), encode(v0, rgb, a), encode(vw, rgb, b);
            for (int t = 0; t < NT; t++)
                for (int d = 0; d < rep.dim_waves; d++)
                    if (d != 2) worst_other = fmax(worst_other, fabs(b[t * D + d] - a[t * D + d]));
        }
        CHECK_MSG(worst_other < 2e-3, "features other than the waves differ by %g with them", worst_other);
        /* a small red square inside patch (c, 0), c = 0..5, against an empty frame */
        clear(rgb), encode(vw, rgb, t0);
        for (int c = 0; c < 6; c++) clear(rgb), square(rgb, 16 * c + 4, 4, 8, 0), encode(vw, rgb, tc[c]);
        const int nc = 3, w = rep.dim_waves;
        double worst = 0, scale = 0;
        for (int head = 0; head < 2; head++) { /* grid sums, then the head token */
            /* the change of dimension d with the square in column c */
#define DELTA(c, d) (head ? tc[c][d] - t0[d] : grid_sum(tc[c], D, d) - grid_sum(t0, D, d))
            /* dimension j: red's column sine, column cosine, row sine, row cosine */
            double dlt[4][6];
            for (int j = 0; j < 4; j++)
                for (int c = 0; c < 6; c++) dlt[j][c] = DELTA(c, w + j * nc);
            const double ks = dlt[0][1] / sin(TWO_PI_T(1)), kc = dlt[1][0], kr = dlt[3][0];
            CHECK_MSG(ks > 0 && kc > 0 && kr > 0, "wave changes %g %g %g (head %d)", ks, kc, kr, head);
            scale = fmax(ks, kc);
            for (int c = 0; c < 6; c++) {
                worst = fmax(worst, fabs(dlt[0][c] - ks * sin(TWO_PI_T(c))) / scale);
                worst = fmax(worst, fabs(dlt[1][c] - kc * cos(TWO_PI_T(c))) / scale);
                worst = fmax(worst, fabs(dlt[2][c]) / scale);            /* row 0: sine 0 */
                worst = fmax(worst, fabs(dlt[3][c] - kr) / scale);       /* row 0: cosine 1 */
                for (int k = 1; k < nc; k++)
                    for (int j = 0; j < 4; j++) worst = fmax(worst, fabs(DELTA(c, w + j * nc + k)) / scale);
            }
#undef DELTA
        }
        CHECK_MSG(worst < 0.01, "wave dims off their sine / cosine by %g of the largest change", worst);
        printf("moment waves (period %d): sine and cosine within %.2g of the largest change, other features within "
               "%.2g\n", T, worst, worst_other);
        free(rgb);
    }
    vlm_vision_context_free(v0), vlm_vision_context_free(vw);
    vlm_model_free(c0), vlm_model_free(cw);
}

/* head_moments: the head token's own copy of its moments; grid tokens 0 there; nothing else changes */
static void test_head_moments(const char *tok) {
    char o0[300], oh[300];
    vlm_tower_design_params ph = world();
    vlm_tower_design_report r0, rep;
    ph.head_moments = true;
    if (!design_option(tok, "hm64", 64, "hmom", ph, o0, oh, &r0, &rep)) return; /* without and with the copy */
    CHECK_MSG(r0.dim_head_moments == -1 && rep.dim_head_moments == r0.dims_used && rep.dims_used == r0.dims_used + 6 &&
                  rep.n_live == r0.n_live,
              "head moments at %d (%d without), dims used %d (%d without), live %d (%d)", rep.dim_head_moments,
              r0.dim_head_moments, rep.dims_used, r0.dims_used, rep.n_live, r0.n_live);
    vlm_model *c0 = NULL, *ch = NULL;
    vlm_vision_context *v0 = NULL, *vh = NULL;
    load_pair(o0, oh, &c0, &ch, &v0, &vh);
    if (v0 && vh && rep.dim_head_moments > 0) {
        uint8_t *rgb = malloc(S * S * 3);
        float a[NT * 64], b[NT * 64];
        const int h0 = rep.dim_head_moments, mx = rep.dim_moment_x, my = rep.dim_moment_y;
        double worst_other = 0, worst_copy = 0, biggest = 0, grid_max = 0;
        for (size_t i = 0; i < NF; i++) {
            make_frame(i, rgb), encode(v0, rgb, a), encode(vh, rgb, b);
            for (int t = 0; t < NT; t++)
                for (int d = 0; d < 64; d++) {
                    if (d >= h0 && d < h0 + 6) {
                        if (t) grid_max = fmax(grid_max, fabs(b[t * 64 + d]));
                        else {
                            const int src = d - h0 < 3 ? mx + (d - h0) : my + (d - h0 - 3);
                            worst_copy = fmax(worst_copy, fabs(b[d] - b[src]));
                            biggest = fmax(biggest, fabs(b[src]));
                        }
                    } else if (d != 2) {
                        worst_other = fmax(worst_other, fabs(b[t * 64 + d] - a[t * 64 + d]));
                    }
                }
        }
        CHECK_MSG(biggest > 0.5 && worst_copy < 1e-5 * biggest, "head moments' copy off by %g of %g", worst_copy,
                  biggest);
        CHECK_MSG(grid_max == 0.0, "grid tokens hold %g in the head moments' dimensions", grid_max);
        CHECK_MSG(worst_other < 2e-3, "features other than the copy differ by %g with it", worst_other);
        printf("head moments: the head token's copy within %.2g of its moments (largest %.3g), grid tokens 0, other "
               "features within %.2g\n", worst_copy, biggest, worst_other);
        free(rgb);
    }
    vlm_vision_context_free(v0), vlm_vision_context_free(vh);
    vlm_model_free(c0), vlm_model_free(ch);
}

/* area_sums: two objects of one colour (distinct groups) fire both their bins and both groups */
static void test_area_sums(const char *tok) {
    enum { D = 64 };
    char o0[300], o1[300];
    vlm_tower_design_params ps = world();
    vlm_tower_design_report r0, rep;
    ps.area_sums = true;
    if (!design_option(tok, "as64", D, "asum", ps, o0, o1, &r0, &rep)) return; /* without and with the sums */
    CHECK_MSG(rep.dims_used == r0.dims_used && rep.dim_bins == r0.dim_bins && rep.area_margin == 16.0,
              "dims used %d (%d without), bins at %d (%d), margin %g", rep.dims_used, r0.dims_used, rep.dim_bins,
              r0.dim_bins, rep.area_margin);
    { /* the head's norm weight, without and with the sums */
        char e[512], *vp[2] = {vlm_convert_vision_path(o0), vlm_convert_vision_path(o1)};
        vlm_gguf *h[2] = {NULL, NULL};
        double w[2] = {0, 0};
        for (int j = 0; j < 2; j++) {
            CHECK_MSG(vp[j] && vlm_gguf_open(vp[j], &h[j], e, sizeof e) == VLM_OK, "%s", e);
            const vlm_gguf_tensor *t = h[j] ? vlm_gguf_find_tensor(h[j], "v.head.ln.weight") : NULL;
            CHECK(t != NULL);
            if (t) w[j] = ((const float *)t->data)[3];
            vlm_gguf_close(h[j]), free(vp[j]);
        }
        CHECK_MSG(w[0] > 0 && fabs(w[1] / w[0] - 10) < 1e-5, "head norm weight %g with sums, %g without", w[1], w[0]);
    }
    vlm_model *c0 = NULL, *c1 = NULL;
    vlm_vision_context *v0 = NULL, *v1 = NULL;
    load_pair(o0, o1, &c0, &c1, &v0, &v1);
    if (v0 && v1) {
        uint8_t *rgb = malloc(S * S * 3);
        float e1[NT * D], l1[NT * D], s1[NT * D], b1[NT * D], e0[NT * D], b0[NT * D], busy[NT * D];
        const int db = rep.dim_bins, dg = rep.dim_groups; /* bin 0: 64 px (group 0), bin 1: 196 px (group 1) */
        clear(rgb), encode(v1, rgb, e1), encode(v0, rgb, e0);
        clear(rgb), square(rgb, 1, 1, 14, 0), encode(v1, rgb, l1);
        clear(rgb), square(rgb, 60, 60, 8, 0), encode(v1, rgb, s1);
        clear(rgb), square(rgb, 1, 1, 14, 0), square(rgb, 60, 60, 8, 0), encode(v1, rgb, b1), encode(v0, rgb, b0);
        const double big = l1[db + 1] - e1[db + 1], small = s1[db] - e1[db];
        const double gl = l1[dg + 1] - e1[dg + 1], gs = s1[dg] - e1[dg];
        CHECK_MSG(big > 0.5 && small > 0.5 && gl > 0.5 && gs > 0.5, "alone: bins %g, %g, groups %g, %g", big, small, gl,
                  gs);
        const double both[4] = {b1[db + 1] - e1[db + 1], b1[db] - e1[db], b1[dg + 1] - e1[dg + 1], b1[dg] - e1[dg]};
        const double alone[4] = {big, small, gl, gs};
        for (int j = 0; j < 4; j++)
            CHECK_MSG(fabs(both[j] - alone[j]) < 0.05 * alone[j], "two red squares: %s %d fires %g (alone %g)",
                      j < 2 ? "bin" : "group", 1 - j % 2, both[j], alone[j]);
        for (int b = 2; b < 6; b++)
            CHECK_MSG(fabs(b1[db + b] - e1[db + b]) < 0.05 * small, "two red squares: bin %d moved %g", b,
                      b1[db + b] - e1[db + b]);
        /* without the sums 260 px is past the last bin: neither fires */
        const double n0 = b0[r0.dim_bins + 1] - e0[r0.dim_bins + 1], n1 = b0[r0.dim_bins] - e0[r0.dim_bins];
        CHECK_MSG(fabs(n0) < 0.05 * big && fabs(n1) < 0.05 * small, "without sums the bins move %g and %g", n0, n1);
        /* beside a large green and a large blue square, the large red square's bin is as alone */
        clear(rgb), square(rgb, 1, 1, 14, 0), square(rgb, 40, 1, 14, 1), square(rgb, 1, 40, 14, 2), encode(v1, rgb, busy);
        const double bb = busy[db + 1] - e1[db + 1];
        CHECK_MSG(fabs(bb - big) < 0.01 * big, "beside two objects the large red bin fires %g (alone %g)", bb, big);
        CHECK_MSG(busy[0] == 0.0f && busy[1] == 0.0f && b1[0] == 0.0f && b1[1] == 0.0f, "head token anchors %g %g",
                  busy[0], busy[1]);
        printf("area sums: two red squares fire bins %.3f, %.3f and groups %.3f, %.3f (alone %.3f, %.3f, %.3f, %.3f); "
               "without the option %.3f, %.3f; the large bin beside two objects %.4f\n",
               both[0], both[1], both[2], both[3], big, small, gl, gs, n0, n1, bb);
        free(rgb);
    }
    vlm_vision_context_free(v0), vlm_vision_context_free(v1);
    vlm_model_free(c0), vlm_model_free(c1);
}

static void expect_refusal(const vlm_model *m, const vlm_tower_design_params *p, frames *f, size_t n, const char *out,
                           vlm_status want, const char *msg, const char *dir) {
    char e[512] = "";
    vlm_status st = vlm_vision_design(m, p, frame_cb, f, n, 2, out, NULL, e, sizeof e);
    CHECK_MSG(st == want, "status %d, expected %d (%s)", (int)st, (int)want, e);
    CHECK_MSG(e[0] && strstr(e, msg), "message '%s' (expected '%s')", e, msg);
    CHECK_MSG(count_entries(dir) == 0, "%s: %d entries left", dir, count_entries(dir));
    printf("refused (%d): %s\n", (int)st, e);
}

static void test_refusals(const char *tok) {
    char g[300], dir[300], out[400];
    snprintf(dir, sizeof dir, "%s/refuse", root);
    CHECK(mkdir(dir, 0777) == 0);
    snprintf(out, sizeof out, "%s/r.gguf", dir);
    vlm_model *m = make_model(tok, "r64", 64, g, sizeof g);
    if (m) {
        vlm_tower_design_params p = world();
        frames ok = {0, -1}, bad = {0, 5}, late = {0, NF + 5};
        expect_refusal(m, &p, &ok, 1, out, VLM_ERR_INVALID_ARG, "at least 2", dir);
        expect_refusal(m, &p, &bad, NF, out, VLM_ERR_IO, "disk on fire at frame 5", dir);
        expect_refusal(m, &p, &late, NF, out, VLM_ERR_IO, "disk on fire at frame 5", dir); /* second pass */
        vlm_tower_design_params q = p;
        memcpy(q.colours[1], BG, 3);
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_INVALID_ARG, "background", dir);
        q = p;
        for (int c = 0; c < 3; c++) q.colours[2][c] = (uint8_t)(BG[c] + (PAL[0][c] - BG[c]) / 2);
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_INVALID_ARG, "too alike", dir);
        q = p, q.areas[1] = 196;
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_INVALID_ARG, "distinct", dir);
        q = p, q.area_group[0] = 2;
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_INVALID_ARG, "group 2 is not in 0..1", dir);
        q = p, q.head_moment_gain = -1;
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_INVALID_ARG, "head moment gain", dir);
        q = p, q.head_moment_gain = NAN;
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_INVALID_ARG, "head moment gain", dir);
        q = p, q.moment_wave = 1;
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_INVALID_ARG, "moment wave period", dir);
        q = p, q.moment_wave = NAN;
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_INVALID_ARG, "moment wave period", dir);
        q = p, q.moment_wave = 4; /* 12 more dimensions than 64 hold */
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_UNSUPPORTED, "at least 66 wide", dir);
        q = p, q.area_sums = true, q.n_groups = 1, q.area_group[0] = q.area_group[1] = 0;
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_INVALID_ARG, "at least 2 area groups", dir);
        q = p, q.area_sums = true, q.n_areas = 3, q.areas[2] = 260, q.area_group[2] = 1; /* 64 + 196 */
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_INVALID_ARG, "areas and their sums must be distinct", dir);
        q = p, q.area_sums = true, q.n_areas = 5, q.n_groups = 5; /* 5 areas + 10 sums: 2 x 3 x 16 units */
        for (int b = 0; b < 5; b++) q.areas[b] = 30 + 31 * b * b, q.area_group[b] = b;
        expect_refusal(m, &q, &ok, NF, out, VLM_ERR_UNSUPPORTED, "with an MLP of 96", dir);
    }
    vlm_model_free(m);
    vlm_model *n = make_model(tok, "r32", 32, g, sizeof g);
    if (n) {
        vlm_tower_design_params p = world();
        frames ok = {0, -1};
        expect_refusal(n, &p, &ok, NF, out, VLM_ERR_UNSUPPORTED, "at least 54 wide", dir);
    }
    vlm_model_free(n);
}

int main(void) {
    test_root_make(root, sizeof root, "design");
    char tok[300];
    snprintf(tok, sizeof tok, "%s/tokenizer.json", root);
    write_llama3_tokenizer(tok);
    test_design(tok);
    test_moment_gain(tok);
    test_moment_wave(tok);
    test_head_moments(tok);
    test_area_sums(tok);
    test_refusals(tok);
    test_root_finish(root);
    return check_done("test_design");
}
