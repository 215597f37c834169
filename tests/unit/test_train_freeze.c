/* test_train_freeze.c - frozen tensors (vlm_trainable_set_frozen, `videollm train --freeze`):
 *
 *  - AdamW by hand on two tensors, one frozen: the frozen one (value and moments) is left as it
 *    was, the clipped norm is the other's alone, and once thawed its first update is a first
 *    AdamW step (bias correction over the steps it took), as torch's per-parameter state;
 *  - full fine-tuning of a tiny seeded model (vlm_init_write) on a hand-made JSONL with features:
 *    tensors matched by the patterns keep their initial values bit for bit for the whole run,
 *    the others move; with freeze_steps they are fixed up to that step and train after it;
 *    a run stopped inside and after the frozen span and resumed gives the same checkpoint as
 *    one run; 1 and 2 threads agree;
 *  - a pattern that matches nothing, an empty pattern, and freeze steps without patterns are
 *    refused with the pattern named. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "test_fs.h"
#include "tiny_tokenizer.h"
#include "tiny_model.h"
#include "io/safetensors_write.h"
#include "train/prepare.h"
#include "train/train_internal.h"
#include "videollm.h"

#define TPF 10 /* frame tokens (live1+) */
#define VD 16  /* vision hidden size */
#define NFRAMES 24

static char dir[512], model_path[700], data_path[700];

/* ---- AdamW with a frozen tensor, by hand ------------------------------------------------------- */

static vlm_trainable *two_tensors(void) {
    vlm_trainable *t = calloc(1, sizeof *t);
    t->params = calloc(2, sizeof *t->params);
    t->n_params = 2;
    for (int i = 0; i < 2; i++) {
        vlm_tparam *p = &t->params[i];
        snprintf(p->name, sizeof p->name, "w%d", i);
        p->rows = 2, p->cols = 1, p->n = 2, p->n_dims = 1;
        p->val = calloc(8, sizeof(float));
        p->grad = p->val + 2, p->m = p->grad + 2, p->v = p->m + 2;
    }
    return t;
}

static void test_adamw_frozen(void) {
    vlm_trainable *t = two_tensors();
    vlm_tparam *a = &t->params[0], *b = &t->params[1];
    a->val[0] = 1.0f, a->val[1] = -2.0f, b->val[0] = 0.5f, b->val[1] = 0.25f;
    CHECK(vlm_trainable_set_frozen(t, 1, true) == VLM_OK);
    CHECK(vlm_trainable_set_frozen(t, 2, true) == VLM_ERR_INVALID_ARG);
    vlm_trainable_info info;
    CHECK(vlm_trainable_info_at(t, 1, &info) == VLM_OK && info.frozen);
    CHECK(vlm_trainable_info_at(t, 0, &info) == VLM_OK && !info.frozen);
    vlm_adamw_params ap = vlm_adamw_default_params(); /* max_grad_norm 1 */
    double norm;
    /* two steps: a's gradient (0.6, 0.8) has norm 1; b's (30, 40) would make the global norm 50 */
    for (int s = 0; s < 2; s++) {
        a->grad[0] = 0.6f, a->grad[1] = 0.8f, b->grad[0] = 30.0f, b->grad[1] = 40.0f;
        CHECK(vlm_adamw_step(t, &ap, 0.1, &norm) == VLM_OK);
        CHECK_MSG(fabs(norm - 1.0) < 1e-6, "step %d: norm %g, expected a's alone (1)", s + 1, norm);
        CHECK(b->val[0] == 0.5f && b->val[1] == 0.25f && b->m[0] == 0 && b->v[1] == 0);
        CHECK(b->grad[0] == 30.0f); /* not clipped either */
    }
    /* a: two plain AdamW steps of lr 0.1 with g = (0.6, 0.8) * 1 / (1 + 1e-6) (the clip coefficient < 1
     * by 1e-6): m_hat = g, v_hat = g^2 both times, so each step moves by 0.1 * g / (|g| + eps) */
    for (int i = 0; i < 2; i++) {
        double g = (i ? 0.8 : 0.6) / (1.0 + 1e-6), want = (i ? -2.0 : 1.0) - 2 * 0.1 * g / (fabs(g) + 1e-8);
        CHECK_MSG(fabs(a->val[i] - want) < 1e-6, "a[%d] = %.8f, expected %.8f", i, a->val[i], want);
    }
    /* thaw b: its first step is a first AdamW step (m_hat = g), although the global step is 3 */
    CHECK(vlm_trainable_set_frozen(t, 1, false) == VLM_OK);
    a->grad[0] = a->grad[1] = 0, b->grad[0] = 0.3f, b->grad[1] = -0.4f;
    CHECK(vlm_adamw_step(t, &ap, 0.1, &norm) == VLM_OK && fabs(norm - 0.5) < 1e-6);
    double w0 = 0.5 - 0.1 * 0.3 / (0.3 + 1e-8), w1 = 0.25 + 0.1 * 0.4 / (0.4 + 1e-8);
    CHECK_MSG(fabs(b->val[0] - w0) < 1e-6 && fabs(b->val[1] - w1) < 1e-6, "b = (%.8f, %.8f), expected (%.8f, %.8f)",
              b->val[0], b->val[1], w0, w1);
    CHECK(vlm_trainable_step(t) == 3 && b->skipped == 2 && a->skipped == 0);
    printf("AdamW: a frozen tensor is not updated and not in the clipped norm; thawed after 2 steps, its first "
           "update is a first AdamW step\n");
    vlm_trainable_free(t);
}

/* AdamW with one element of a tensor held: its gradient does not count in the norm, it does not move
 * (no weight decay either), its moments stay 0; the other element takes a plain step. */
static void test_adamw_held(void) {
    vlm_trainable *t = two_tensors();
    vlm_tparam *a = &t->params[0];
    t->n_params = 1;
    a->val[0] = 1.0f, a->val[1] = -2.0f;
    a->hold = calloc(2, 1);
    a->hold[1] = 1;
    vlm_adamw_params ap = vlm_adamw_default_params();
    ap.weight_decay = 0.1f;
    double norm;
    a->grad[0] = 0.6f, a->grad[1] = 80.0f;
    CHECK(vlm_adamw_step(t, &ap, 0.1, &norm) == VLM_OK);
    CHECK_MSG(fabs(norm - 0.6) < 1e-6, "norm %g, expected the free element's alone (0.6)", norm);
    CHECK(a->val[1] == -2.0f && a->m[1] == 0 && a->v[1] == 0);
    double want = 1.0 * (1 - 0.1 * 0.1) - 0.1 * 0.6 / (0.6 + 1e-8);
    CHECK_MSG(fabs(a->val[0] - want) < 1e-6, "free element %.8f, expected %.8f", a->val[0], want);
    t->n_params = 2;
    vlm_trainable_free(t); /* frees the hold too */
    printf("AdamW: a held element is not updated (nor decayed) and not in the clipped norm; its neighbour "
           "takes a plain step\n");
}

/* ---- runs of a tiny model -------------------------------------------------------------------- */

static void write_data(const char *path) {
    static const char *replies[4] = {"A red box appears.", "The box moves left.", "It turns blue.", "It is gone."};
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    for (int k = 0; f && k < 4; k++) {
        vlm_prep_sample s;
        memset(&s, 0, sizeof s);
        s.features = strdup("feat.safetensors");
        CHECK(vlm_prep_push(&s, VLM_ROLE_SYSTEM, "Narrate the video.", 0, VLM_PREP_LEARN_NONE, 0) == VLM_OK);
        CHECK(vlm_prep_push(&s, VLM_ROLE_STREAM, NULL, 3, VLM_PREP_LEARN_BOOL, 1) == VLM_OK);
        CHECK(vlm_prep_push(&s, VLM_ROLE_ASSISTANT, replies[k], 0, VLM_PREP_LEARN_BOOL, 1) == VLM_OK);
        CHECK(vlm_prep_push(&s, VLM_ROLE_STREAM, NULL, 3, VLM_PREP_LEARN_BOOL, 1) == VLM_OK);
        s.frame_start = k * 6, s.frame_end = k * 6 + 6;
        tiny_write_sample(f, &s);
    }
    if (f) fclose(f);
}

typedef struct {
    char lines[16][300];
    int n;
} lines_log;

static void on_line(const char *line, void *ud) {
    lines_log *l = ud;
    if (strncmp(line, "step ", 5) == 0 && strstr(line, " loss ")) return;
    if (l->n < 16) snprintf(l->lines[l->n++], sizeof l->lines[0], "%s", line);
}

static bool logged(const lines_log *l, const char *sub) {
    for (int i = 0; i < l->n; i++)
        if (strstr(l->lines[i], sub)) return true;
    return false;
}

static vlm_train_run_params run_params(const char *out, lines_log *log) {
    vlm_train_run_params p = vlm_train_run_default_params();
    p.model_path = model_path;
    p.data_path = data_path;
    p.out_dir = out;
    p.lora.full = true;
    p.lora.seed = 3;
    p.lr = 1e-2;
    p.batch = 1;
    p.grad_accum = 1;
    p.warmup_ratio = 0;
    p.epochs = 2; /* 4 samples: 8 steps */
    p.progress = on_line;
    p.user_data = log;
    memset(log, 0, sizeof *log);
    return p;
}

/* The trainable of a checkpoint (or, path NULL, the initial one). */
static vlm_trainable *state_of(const vlm_model *m, const char *path) {
    vlm_lora_params lp = vlm_lora_default_params();
    lp.full = true, lp.seed = 3;
    vlm_trainable *t = NULL;
    char e[512];
    CHECK_MSG(vlm_trainable_init(m, &lp, &t, e, sizeof e) == VLM_OK, "%s", e);
    if (t && path) CHECK_MSG(vlm_trainable_load_state(t, path, NULL, 0, e, sizeof e) == VLM_OK, "%s", e);
    return t;
}

static bool is_frozen_name(const char *name) {
    return !strncmp(name, "model.layers.0.self_attn.", 25) || !strncmp(name, "connector.2.", 12);
}

/* Counts tensors equal to / different from the initial values, split by is_frozen_name. */
static void compare(const vlm_trainable *a, const vlm_trainable *b, int *frozen_same, int *frozen_n,
                    int *other_moved, int *other_n) {
    *frozen_same = *frozen_n = *other_moved = *other_n = 0;
    for (size_t i = 0; a && b && i < vlm_trainable_count(a); i++) {
        vlm_trainable_info ia;
        vlm_trainable_info_at(a, i, &ia);
        float *x = malloc((size_t)ia.n * sizeof *x), *y = malloc((size_t)ia.n * sizeof *y);
        vlm_trainable_get(a, i, VLM_TRAIN_VALUE, x);
        vlm_trainable_get(b, i, VLM_TRAIN_VALUE, y);
        bool same = memcmp(x, y, (size_t)ia.n * sizeof *x) == 0;
        if (is_frozen_name(ia.name)) (*frozen_n)++, *frozen_same += same;
        else (*other_n)++, *other_moved += !same;
        free(x), free(y);
    }
}

/* Holding slices for the whole run: rows 0-2 of a q_proj (whose rows are stored per head in the GGUF
 * order, so the HF rows must be mapped), columns 1-3 of connector.0.weight, elements 2-4 of a norm.
 * Inside each slice the values stay bit for bit; every other element of those tensors moves. */
static void test_slices(const vlm_model *m) {
    static const struct {
        const char *name;
        int64_t r0, r1, c0, c1; /* c1 -1: every column */
    } sl[3] = {{"model.layers.0.self_attn.q_proj.weight", 0, 3, 0, -1},
               {"connector.0.weight", 0, -1, 1, 4},
               {"model.layers.1.input_layernorm.weight", 2, 5, 0, -1}};
    char out[700], ck[800], err[1024];
    lines_log lg;
    snprintf(out, sizeof out, "%s/slices", dir);
    vlm_train_run_params p = run_params(out, &lg);
    p.freeze = "model.layers.0.self_attn.q_proj.weight[0:3],connector.0.weight[:,1:4],"
               "model.layers.1.input_layernorm.weight[2:5]";
    CHECK_MSG(vlm_train_run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK_MSG(logged(&lg, " values of 3 tensors for the whole run"),
              "%s", lg.lines[0]);
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", out);
    vlm_trainable *a = state_of(m, NULL), *b = state_of(m, ck);
    int64_t held = 0, held_same = 0, free_n = 0, free_moved = 0;
    for (size_t i = 0; a && b && i < vlm_trainable_count(a); i++) {
        vlm_trainable_info ia;
        vlm_trainable_info_at(a, i, &ia);
        int k = -1;
        for (int j = 0; j < 3; j++)
            if (!strcmp(ia.name, sl[j].name)) k = j;
        if (k < 0) continue;
        float *x = malloc((size_t)ia.n * sizeof *x), *y = malloc((size_t)ia.n * sizeof *y);
        vlm_trainable_get(a, i, VLM_TRAIN_VALUE, x);
        vlm_trainable_get(b, i, VLM_TRAIN_VALUE, y);
        const int64_t cols = ia.n_dims > 1 ? ia.shape[1] : 1, rows = ia.n / cols;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                const bool in = r >= sl[k].r0 && (sl[k].r1 < 0 || r < sl[k].r1) && c >= sl[k].c0 &&
                                (sl[k].c1 < 0 || c < sl[k].c1);
                const bool same = x[r * cols + c] == y[r * cols + c];
                if (in) held++, held_same += same;
                else free_n++, free_moved += !same;
            }
        free(x), free(y);
    }
    CHECK_MSG(held > 0 && held_same == held, "%lld of %lld held elements kept their values", (long long)held_same,
              (long long)held);
    CHECK_MSG(free_n > 0 && free_moved == free_n, "%lld of %lld other elements of those tensors moved",
              (long long)free_moved, (long long)free_n);
    printf("held slices for the whole run: %lld of %lld elements bit-identical, %lld of %lld others of the same "
           "tensors moved\n", (long long)held_same, (long long)held, (long long)free_moved, (long long)free_n);
    vlm_trainable_free(a), vlm_trainable_free(b);

    /* refusals: out of the shape, empty, two ranges on a vector */
    snprintf(out, sizeof out, "%s/bad_slice", dir);
    p = run_params(out, &lg);
    p.freeze = "connector.0.bias[0:100000]";
    CHECK(vlm_train_run(&p, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "outside connector.0.bias"));
    printf("refused: %s\n", err);
    p.freeze = "connector.0.weight[3:3]";
    CHECK(vlm_train_run(&p, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "rows 3:3 is empty"));
    p.freeze = "model.norm.weight[0:2,0:1]";
    CHECK(vlm_train_run(&p, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "has one dimension"));
    printf("refused: %s\n", err);
    p.freeze = "connector.0.weight[a:b]"; /* not a slice: an fnmatch class that matches nothing */
    CHECK(vlm_train_run(&p, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "matches no"));
}

static void test_runs(const vlm_model *m) {
    const char *pat = "model.layers.0.self_attn.*,connector.2.*";
    char o1[700], o2[700], o3[700], o4[700], ck[800], ck2[800], err[1024];
    lines_log lg;
    snprintf(o1, sizeof o1, "%s/whole", dir);
    snprintf(o2, sizeof o2, "%s/until3", dir);
    snprintf(o3, sizeof o3, "%s/until3_resumed", dir);
    snprintf(o4, sizeof o4, "%s/until3_1thread", dir);
    vlm_trainable *init = state_of(m, NULL);
    int fs, fn, om, on;

    /* frozen for the whole run */
    vlm_train_run_params p = run_params(o1, &lg);
    p.freeze = pat;
    CHECK_MSG(vlm_train_run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(logged(&lg, "freezing 6 tensors") && logged(&lg, "for the whole run"));
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", o1);
    vlm_trainable *t = state_of(m, ck);
    CHECK(t && vlm_trainable_step(t) == 8);
    compare(init, t, &fs, &fn, &om, &on);
    CHECK_MSG(fn == 6 && fs == 6, "%d of %d frozen tensors kept their initial values", fs, fn);
    CHECK_MSG(om == on && on > 6, "%d of %d other tensors moved", om, on);
    printf("frozen for the whole run (%s): %d of %d tensors bit-identical to the initial ones, %d of %d others "
           "moved\n", pat, fs, fn, om, on);
    vlm_trainable_free(t);

    /* frozen until step 3 of 8: stopped at 2 (inside) and at 5 (after), resumed */
    p = run_params(o2, &lg);
    p.freeze = pat, p.freeze_steps = 3;
    CHECK_MSG(vlm_train_run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(logged(&lg, "until step 3") && logged(&lg, "step 3: the frozen tensors train from here on"));
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", o2);
    t = state_of(m, ck);
    compare(init, t, &fs, &fn, &om, &on);
    CHECK_MSG(fs == 0 && fn == 6 && om == on, "after the span: %d of %d frozen ones unchanged", fs, fn);
    vlm_trainable_free(t);
    p = run_params(o3, &lg);
    p.freeze = pat, p.freeze_steps = 3, p.max_steps = 2;
    CHECK_MSG(vlm_train_run(&p, err, sizeof err) == VLM_OK, "%s", err);
    snprintf(ck2, sizeof ck2, "%s/checkpoint.safetensors", o3);
    t = state_of(m, ck2);
    compare(init, t, &fs, &fn, &om, &on);
    CHECK_MSG(vlm_trainable_step(t) == 2 && fs == 6 && om == on, "at step 2: %d of %d frozen ones unchanged", fs, fn);
    vlm_trainable_free(t);
    p.max_steps = 3; /* to step 5 */
    CHECK_MSG(vlm_train_run(&p, err, sizeof err) == VLM_OK, "%s", err);
    p.max_steps = 0;
    CHECK_MSG(vlm_train_run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(logged(&lg, "(already past)"));
    CHECK_MSG(same_file(ck, ck2), "stopped at steps 2 and 5 and resumed: the checkpoint differs from one run's");
    p = run_params(o4, &lg);
    p.freeze = pat, p.freeze_steps = 3, p.n_threads = 1;
    CHECK_MSG(vlm_train_run(&p, err, sizeof err) == VLM_OK, "%s", err);
    snprintf(ck2, sizeof ck2, "%s/checkpoint.safetensors", o4);
    CHECK(same_file(ck, ck2));
    printf("frozen until step 3 of 8: unchanged at step 2, trained after; stopped at 2 and 5 and resumed, and with "
           "1 thread: the same checkpoint as one run\n");
    vlm_trainable_free(init);
    test_slices(m);

    /* refusals */
    char o5[700];
    snprintf(o5, sizeof o5, "%s/bad", dir);
    p = run_params(o5, &lg);
    p.freeze = "model.layers.0.self_attn.*,model.layers.9.*";
    CHECK(vlm_train_run(&p, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "'model.layers.9.*' matches no"));
    printf("refused: %s\n", err);
    p.freeze = "connector.0.weight,,connector.0.bias";
    CHECK(vlm_train_run(&p, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "0 characters"));
    p.freeze = NULL, p.freeze_steps = 4;
    CHECK(vlm_train_run(&p, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "without tensors"));
    p.freeze = "connector.*", p.freeze_steps = -1;
    CHECK(vlm_train_run(&p, err, sizeof err) == VLM_ERR_INVALID_ARG);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!tiny_tmpdir(dir, sizeof dir, "test_train_freeze")) return 1;
    test_adamw_frozen();
    test_adamw_held();

    char feat[800], err[1024];
    tiny_model_write(dir, 2, VD, TPF, 0, model_path, sizeof model_path);
    snprintf(data_path, sizeof data_path, "%s/data.jsonl", dir);
    snprintf(feat, sizeof feat, "%s/feat.safetensors", dir);
    float *f = tiny_features(NFRAMES, TPF, VD, 777);
    tiny_write_features(feat, f, NFRAMES, TPF, VD);
    free(f);
    write_data(data_path);
    vlm_model_params mp = vlm_model_default_params();
    vlm_model *m = NULL;
    CHECK_MSG(vlm_model_load(model_path, &mp, &m, err, sizeof err) == VLM_OK, "%s", err);
    if (m) test_runs(m);
    vlm_model_free(m);
    int rc = check_done("test_train_freeze");
    if (!rc) rm_rf(dir);
    else fprintf(stderr, "kept %s\n", dir);
    return rc;
}
