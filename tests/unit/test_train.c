/* test_train.c - training: optimizer arithmetic, the cosine schedule, the q/k
 * row permutation and checkpoint files (no arguments), and, as the driver of
 * tests/conformance/train_grad.sh, the loss and every gradient against the
 * PyTorch autograd reference (tests/ref/train_ref.py), finite differences,
 * dropout determinism, the stream labels and their weight, ten AdamW steps,
 * and the PEFT export round trip:
 *
 *   test_train                                   unit tests
 *   test_train grad MODEL.gguf OUT_DIR ADAPTER_DIR TOKENIZER_JSON
 *       OUT_DIR holds batch.safetensors, gold.safetensors, convs.jsonl of train_ref.py.
 *   test_train full MODEL.gguf OUT_DIR ADAPTER_DIR Q8_0_MODEL.gguf
 *       full fine-tuning: loss, gradients and ten AdamW steps vs gold_full.safetensors,
 *       finite differences on every kind of tensor, thread-count determinism, checkpoint
 *       resume, the exported GGUF pair through the inference runtime, refusal of q8_0.
 *   test_train fullcli EXPORTED.gguf OUT_DIR [PREFIX]
 *       the model `videollm train --full` exported vs torch's parameters after ten steps
 *       (gold tensors PREFIX + name; adam. by default, adam_frz. for the --freeze run).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "io/safetensors.h"
#include "train/train_internal.h"
#include "videollm.h"

static char tmpdir[512];

/* ---- unit tests without a model ------------------------------------------------------------------ */

/* A trainable with one tensor of n elements, built through the internal layout. */
static vlm_trainable *fake_trainable(int64_t n) {
    vlm_trainable *t = calloc(1, sizeof *t);
    t->params = calloc(1, sizeof *t->params);
    t->n_params = 1;
    vlm_tparam *p = &t->params[0];
    snprintf(p->name, sizeof p->name, "w");
    p->rows = n, p->cols = 1, p->n = n, p->n_dims = 1;
    p->val = calloc((size_t)n * 4, sizeof(float));
    p->grad = p->val + n, p->m = p->grad + n, p->v = p->m + n;
    t->lp.lora_r = 4;
    return t;
}

static void test_schedule(void) {
    /* transformers: warmup = ceil(total * ratio); lambda(step) = step / warmup, then cosine to 0 */
    CHECK(vlm_warmup_steps(0.05, 100) == 5);
    CHECK(vlm_warmup_steps(0.05, 101) == 6);
    CHECK(vlm_warmup_steps(0.0, 100) == 0);
    CHECK(vlm_cosine_lr(1.0, 0, 5, 100) == 0.0);
    CHECK(fabs(vlm_cosine_lr(1.0, 2, 5, 100) - 0.4) < 1e-15);
    CHECK(fabs(vlm_cosine_lr(1.0, 5, 5, 100) - 1.0) < 1e-15);
    double mid = vlm_cosine_lr(2.0, 5 + 95 / 2, 5, 100); /* progress 47/95 */
    CHECK(fabs(mid - 2.0 * 0.5 * (1 + cos(M_PI * 47.0 / 95.0))) < 1e-12);
    CHECK(fabs(vlm_cosine_lr(1.0, 100, 5, 100)) < 1e-15);
    CHECK(vlm_cosine_lr(1.0, 3, 0, 10) > 0.0);
}

static void test_adamw_by_hand(void) {
    vlm_trainable *t = fake_trainable(3);
    vlm_tparam *p = &t->params[0];
    float v0[3] = {0.5f, -1.0f, 2.0f}, g[3] = {0.3f, -0.4f, 0.0f};
    memcpy(p->val, v0, sizeof v0);
    memcpy(p->grad, g, sizeof g);
    vlm_adamw_params ap = vlm_adamw_default_params();
    ap.weight_decay = 0.1f;
    double norm;
    CHECK(vlm_adamw_step(t, &ap, 0.01, &norm) == VLM_OK);
    CHECK(fabs(norm - 0.5) < 1e-7); /* |(0.3, -0.4, 0)| = 0.5 < 1: no clipping */
    for (int i = 0; i < 3; i++) {
        /* step 1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2 */
        double pv = v0[i] * (1 - 0.01 * 0.1);
        double m = 0.1 * g[i], v = 0.001 * (double)g[i] * g[i];
        double want = pv - 0.01 / 0.1 * m / (sqrt(v) / sqrt(0.001) + 1e-8);
        CHECK_MSG(fabs(p->val[i] - want) < 1e-6, "element %d: %g vs %g", i, p->val[i], want);
    }
    CHECK(vlm_trainable_step(t) == 1);
    /* clipping: norm 5 -> grads scaled by 1 / (5 + 1e-6) */
    float g2[3] = {3.0f, 4.0f, 0.0f};
    memcpy(p->grad, g2, sizeof g2);
    CHECK(vlm_adamw_step(t, &ap, 0.0, &norm) == VLM_OK);
    CHECK(fabs(norm - 5.0) < 1e-6);
    CHECK(fabs(p->grad[0] - 3.0 / (5.0 + 1e-6)) < 1e-6 && fabs(p->grad[1] - 4.0 / (5.0 + 1e-6)) < 1e-6);
    /* non-finite gradients are refused */
    p->grad[0] = NAN;
    CHECK(vlm_adamw_step(t, &ap, 0.01, NULL) == VLM_ERR_FORMAT);
    vlm_trainable_free(t);
}

static void test_permutation(void) {
    /* 2 heads of 4 rows, 3 columns: HF row j*2+i of a head -> GGUF row 2i+j */
    float hf[8 * 3], gg[8 * 3], back[8 * 3];
    for (int i = 0; i < 24; i++) hf[i] = (float)i;
    vlm_train_permute_rows(hf, gg, 8, 3, 4, true);
    int want_rows[8] = {0, 2, 1, 3, 4, 6, 5, 7}; /* GGUF row r holds HF row want_rows[r] */
    for (int r = 0; r < 8; r++) CHECK(gg[r * 3 + 1] == hf[want_rows[r] * 3 + 1]);
    vlm_train_permute_rows(gg, back, 8, 3, 4, false);
    CHECK(memcmp(hf, back, sizeof hf) == 0);
}

static void test_checkpoint_file(void) {
    vlm_trainable *t = fake_trainable(5), *u = fake_trainable(5);
    for (int i = 0; i < 5; i++) t->params[0].val[i] = (float)i * 0.25f, t->params[0].m[i] = -1.0f * i,
                                t->params[0].v[i] = 2.0f * i;
    t->step = 7;
    t->dropout_calls = 99;
    char path[700], err[256];
    snprintf(path, sizeof path, "%s/state.safetensors", tmpdir);
    uint64_t extra[2] = {12, 34}, got[2] = {0, 0};
    CHECK(vlm_trainable_save_state(t, path, extra, 2, err, sizeof err) == VLM_OK);
    CHECK(vlm_trainable_load_state(u, path, got, 2, err, sizeof err) == VLM_OK);
    CHECK(memcmp(t->params[0].val, u->params[0].val, 5 * sizeof(float)) == 0);
    CHECK(memcmp(t->params[0].m, u->params[0].m, 10 * sizeof(float)) == 0);
    CHECK(u->step == 7 && u->dropout_calls == 99 && got[0] == 12 && got[1] == 34);
    /* a truncated file is refused with a message and leaves no partial state behind */
    FILE *f = fopen(path, "r+b");
    CHECK(f && fseek(f, 0, SEEK_END) == 0);
    long sz = f ? ftell(f) : 0;
    if (f) fclose(f);
    CHECK(truncate(path, sz - 4) == 0);
    CHECK(vlm_trainable_load_state(u, path, NULL, 0, err, sizeof err) != VLM_OK);
    CHECK(strlen(err) > 0);
    vlm_trainable_free(t);
    vlm_trainable_free(u);
}

/* ---- conformance driver ------------------------------------------------------------------------------ */

typedef struct {
    int32_t *ids, *mask, *labels;
    float *frames;
    size_t n_seq, seq_len, n_frames;
} batch_buf;

static void *read_tensor(vlm_st_file *f, const char *name, int64_t *n, int64_t *shape0, int64_t *shape1) {
    const vlm_st_tensor *t = vlm_st_find(f, name);
    if (!t) {
        fprintf(stderr, "missing tensor %s\n", name);
        exit(1);
    }
    *n = t->n_elements;
    if (shape0) *shape0 = t->shape[0];
    if (shape1) *shape1 = t->n_dims > 1 ? t->shape[1] : 1;
    void *out = malloc(t->nbytes + 8); /* I32, F32 or F64 (golden values), copied as stored */
    memcpy(out, t->data, t->nbytes);
    return out;
}

static double rel_err_d(const float *got, const double *want, int64_t n, double *max_abs) {
    double md = 0, mw = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (d > md) md = d;
        if (fabs(want[i]) > mw) mw = fabs(want[i]);
    }
    if (max_abs) *max_abs = md;
    return mw > 0 ? md / mw : md;
}

static vlm_trainable *fresh(const vlm_model *m, const char *adapter, float dropout) {
    char err[512];
    vlm_lora_params lp = vlm_lora_default_params();
    lp.lora_r = 8, lp.lora_alpha = 16, lp.lora_dropout = dropout, lp.seed = 3;
    vlm_trainable *t;
    if (vlm_trainable_init(m, &lp, &t, err, sizeof err) || vlm_trainable_load_peft(t, adapter, err, sizeof err)) {
        fprintf(stderr, "trainable: %s\n", err);
        exit(1);
    }
    return t;
}

static vlm_train_context *ctx_for(const vlm_model *m, vlm_trainable *t, float w, bool train) {
    char err[512];
    vlm_train_context_params cp = vlm_train_context_default_params();
    cp.stream_loss_weight = w;
    cp.train = train;
    vlm_train_context *c;
    if (vlm_train_context_init(m, t, &cp, &c, err, sizeof err)) {
        fprintf(stderr, "context: %s\n", err);
        exit(1);
    }
    return c;
}

static double run_loss(vlm_train_context *c, const vlm_train_batch *b, bool bwd) {
    double loss;
    vlm_status st = vlm_train_forward(c, b, bwd, 1.0f, &loss, NULL);
    if (st) {
        fprintf(stderr, "forward: %s\n", vlm_train_last_error(c));
        exit(1);
    }
    return loss;
}

/* Kept activations (the default) and each layer recomputed (keep_mib 0) give the same loss and
 * the same gradients, bit for bit; ta and tb are two copies of one trainable. */
static void check_keep(const vlm_model *m, vlm_trainable *ta, vlm_trainable *tb, const vlm_train_batch *b,
                       const char *what) {
    char err[512];
    vlm_train_context *c[2];
    for (int k = 0; k < 2; k++) {
        vlm_train_context_params cp = vlm_train_context_default_params();
        cp.keep_mib = k ? 0 : cp.keep_mib;
        if (vlm_train_context_init(m, k ? tb : ta, &cp, &c[k], err, sizeof err)) {
            fprintf(stderr, "context: %s\n", err);
            exit(1);
        }
    }
    vlm_trainable_zero_grad(ta);
    vlm_trainable_zero_grad(tb);
    double la = run_loss(c[0], b, true), lb = run_loss(c[1], b, true);
    CHECK_MSG(vlm_train_context_keeps(c[0]) && !vlm_train_context_keeps(c[1]), "%s: keep modes", what);
    bool same = la == lb && ta->n_params == tb->n_params;
    for (size_t i = 0; same && i < ta->n_params; i++)
        same = !memcmp(ta->params[i].grad, tb->params[i].grad, (size_t)ta->params[i].n * sizeof(float));
    CHECK_MSG(same, "%s: kept activations and recomputation differ (loss %.17g vs %.17g)", what, la, lb);
    /* and the gradients are not trivially equal: something was computed */
    double gsum = 0;
    for (size_t i = 0; i < ta->n_params; i++)
        for (int64_t j = 0; j < ta->params[i].n; j++) gsum += fabs(ta->params[i].grad[j]);
    CHECK_MSG(gsum > 0, "%s: all gradients zero", what);
    if (same) printf("%s: kept activations and recomputation: the same loss (%.6f) and gradients, bit for bit\n", what, la);
    vlm_train_context_free(c[0]);
    vlm_train_context_free(c[1]);
}

static size_t param_index(const vlm_trainable *t, const char *name) {
    for (size_t i = 0; i < vlm_trainable_count(t); i++) {
        vlm_trainable_info in;
        vlm_trainable_info_at(t, i, &in);
        if (!strcmp(in.name, name)) return i;
    }
    fprintf(stderr, "no parameter %s\n", name);
    exit(1);
}

/* central difference of the loss in element e of parameter pi (HF order) vs the analytic gradient */
static void finite_difference(const vlm_model *m, const char *adapter, const vlm_train_batch *b, float dropout) {
    vlm_trainable *t = fresh(m, adapter, dropout);
    vlm_train_context *c = ctx_for(m, t, 1.7f, true);
    static const char *names[] = {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
                                  "base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight",
                                  "base_model.model.model.layers.1.mlp.down_proj.lora_A.weight",
                                  "base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight",
                                  "base_model.model.lm_head.lora_B.weight",
                                  "base_model.model.connector.0.weight",
                                  "base_model.model.connector.2.bias"};
    uint64_t calls0 = t->dropout_calls;
    vlm_trainable_zero_grad(t);
    run_loss(c, b, true);
    double worst = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        size_t pi = param_index(t, names[k]);
        vlm_trainable_info in;
        vlm_trainable_info_at(t, pi, &in);
        float *val = malloc((size_t)in.n * sizeof(float)), *grad = malloc((size_t)in.n * sizeof(float));
        vlm_trainable_get(t, pi, VLM_TRAIN_VALUE, val);
        vlm_trainable_get(t, pi, VLM_TRAIN_GRAD, grad);
        int64_t e = 0; /* the element with the largest gradient, and one from the middle */
        for (int64_t i = 1; i < in.n; i++)
            if (fabsf(grad[i]) > fabsf(grad[e])) e = i;
        int64_t es[2] = {e, in.n / 2 + 1 < in.n ? in.n / 2 + 1 : 0};
        for (int j = 0; j < 2; j++) {
            const float h = 4e-3f;
            float keep = val[es[j]];
            double lp, lm;
            val[es[j]] = keep + h;
            vlm_trainable_set(t, pi, VLM_TRAIN_VALUE, val);
            t->dropout_calls = calls0;
            lp = run_loss(c, b, false);
            val[es[j]] = keep - h;
            vlm_trainable_set(t, pi, VLM_TRAIN_VALUE, val);
            t->dropout_calls = calls0;
            lm = run_loss(c, b, false);
            val[es[j]] = keep;
            vlm_trainable_set(t, pi, VLM_TRAIN_VALUE, val);
            double fd = (lp - lm) / ((double)(keep + h) - (double)(keep - h));
            double err = fabs(fd - grad[es[j]]);
            double tol = 2e-4 + 1e-2 * fabs(grad[es[j]]);
            if (err / (fabs(grad[es[j]]) + 1e-3) > worst) worst = err / (fabs(grad[es[j]]) + 1e-3);
            CHECK_MSG(err < tol, "%s[%lld]: finite difference %.6g, backward %.6g (dropout %g)", names[k],
                      (long long)es[j], fd, grad[es[j]], (double)dropout);
        }
        free(val);
        free(grad);
    }
    printf("finite differences (dropout %.2f, stream weight 1.7): 14 elements of 7 tensors, worst |fd - g| / (|g| + 1e-3) "
           "= %.2e\n", (double)dropout, worst);
    vlm_train_context_free(c);
    vlm_trainable_free(t);
}

static int cmd_grad(const char *model_path, const char *dir, const char *adapter, const char *tok_path) {
    char err[512], path[1024];
    vlm_model_params mp = vlm_model_default_params();
    vlm_model *m;
    if (vlm_model_load(model_path, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    snprintf(path, sizeof path, "%s/batch.safetensors", dir);
    vlm_st_file *bf, *gf;
    if (vlm_st_open(path, &bf, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/gold.safetensors", dir);
    if (vlm_st_open(path, &gf, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int64_t n, B, S, NF, dummy;
    batch_buf bb = {0};
    bb.ids = read_tensor(bf, "input_ids", &n, &B, &S);
    bb.mask = read_tensor(bf, "attention_mask", &n, NULL, NULL);
    bb.labels = read_tensor(bf, "labels", &n, NULL, NULL);
    bb.frames = read_tensor(bf, "frames", &n, &NF, &dummy);
    vlm_train_batch b = {bb.ids, bb.mask, bb.labels, (size_t)B, (size_t)S, bb.frames, (size_t)NF};

    /* 0. the same batch from our text pipeline (vlm_sample_build + vlm_collate) */
    {
        vlm_tokenizer *tok;
        CHECK(vlm_tokenizer_load(tok_path, &tok, err, sizeof err) == VLM_OK);
        CHECK(vlm_tokenizer_set_eos(tok, "<|eot_id|>") == VLM_OK);
        snprintf(path, sizeof path, "%s/convs.jsonl", dir);
        FILE *f = fopen(path, "r");
        char line[8192];
        vlm_sample smp[2];
        int ns = 0;
        vlm_template_params tp = vlm_template_default_params();
        while (f && ns < 2 && fgets(line, sizeof line, f)) {
            vlm_conversation *cv;
            CHECK(vlm_conversation_parse(line, strlen(line), &cv, err, sizeof err) == VLM_OK);
            CHECK(vlm_sample_build(tok, vlm_conversation_messages(cv), vlm_conversation_size(cv), &tp, &smp[ns], err,
                                   sizeof err) == VLM_OK);
            vlm_conversation_free(cv);
            ns++;
        }
        if (f) fclose(f);
        int32_t *ii = NULL, *mm = NULL, *ll = NULL;
        size_t sl = 0;
        CHECK(ns == 2 && vlm_collate(smp, 2, vlm_tokenizer_eos_id(tok), &ii, &mm, &ll, &sl) == VLM_OK);
        CHECK(sl == (size_t)S);
        if (sl == (size_t)S) {
            CHECK(memcmp(ii, bb.ids, (size_t)(B * S) * 4) == 0);
            CHECK(memcmp(mm, bb.mask, (size_t)(B * S) * 4) == 0);
            CHECK(memcmp(ll, bb.labels, (size_t)(B * S) * 4) == 0);
        }
        free(ii), free(mm), free(ll);
        for (int i = 0; i < ns; i++) vlm_sample_free(&smp[i]);
        /* stream positions: the last <v> of each learned frame, labelled ',' or "]\n" */
        /* "]\n" is one token in Llama-3 (933); with a smaller vocabulary the label is its first token */
        vlm_tokens enc = {0};
        CHECK(vlm_tokenizer_encode(tok, "]\n", 2, &enc) == VLM_OK && enc.n >= 1);
        int32_t comma = vlm_tokenizer_token_to_id(tok, ","), close = enc.n ? enc.ids[0] : -1;
        vlm_tokens_free(&enc);
        int32_t vid = hp->v_placeholder_id;
        int n_comma = 0, n_close = 0, n_bad = 0;
        for (int64_t i = 0; i < B * S; i++) {
            if (bb.ids[i] != vid || bb.labels[i] < 0) continue;
            bool last_v = (i + 1) % S != 0 && bb.ids[i + 1] != vid && i >= 9;
            for (int k = 1; k < 10 && last_v; k++) last_v = bb.ids[i - k] == vid;
            if (!last_v) n_bad++;
            if (bb.labels[i] == comma) n_comma++;
            else if (bb.labels[i] == close) n_close++;
            else n_bad++;
        }
        printf("stream labels: %d ',' and %d ']\\n' on last <v> of learned frames, %d bad\n", n_comma, n_close, n_bad);
        CHECK(comma >= 0 && close >= 0 && n_comma == 4 && n_close == 2 && n_bad == 0);
        vlm_tokenizer_free(tok);
    }

    /* 1. loss and every gradient vs autograd */
    vlm_trainable *t = fresh(m, adapter, 0.0f);
    vlm_train_context *c = ctx_for(m, t, 1.0f, true);
    int64_t nl;
    double loss;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(vlm_train_forward(c, &b, true, 1.0f, &loss, &nl) == VLM_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    int64_t ntok = 0;
    for (int64_t i = 0; i < B * S; i++) ntok += bb.mask[i] != 0;
    double *gl = read_tensor(gf, "loss", &n, NULL, NULL);
    double lrel = fabs(loss - gl[0]) / fabs(gl[0]);
    printf("loss %.10g (reference %.10g, rel err %.2e, %lld labels); forward+backward %.4f s = %.0f tokens/s "
           "(2 threads)\n", loss, gl[0], lrel, (long long)nl, secs, (double)ntok / secs);
    CHECK(lrel < 1e-5);
    double worst = 0;
    const char *worst_name = "";
    for (size_t i = 0; i < vlm_trainable_count(t); i++) {
        vlm_trainable_info in;
        vlm_trainable_info_at(t, i, &in);
        char gname[300];
        snprintf(gname, sizeof gname, "grad.%s", in.name);
        int64_t gn;
        double *want = read_tensor(gf, gname, &gn, NULL, NULL);
        CHECK(gn == in.n);
        float *got = malloc((size_t)in.n * sizeof(float));
        vlm_trainable_get(t, i, VLM_TRAIN_GRAD, got);
        double rel = rel_err_d(got, want, in.n, NULL);
        if (rel > worst) worst = rel, worst_name = in.name;
        CHECK_MSG(rel < 1e-4, "%s: gradient rel err %.3e", in.name, rel);
        free(got);
        free(want);
    }
    printf("gradients: %zu tensors, worst max|g - ref| / max|ref| = %.2e (%s)\n", vlm_trainable_count(t), worst,
           worst_name);
    vlm_train_context_free(c);

    /* 2. stream_loss_weight 2.5 */
    c = ctx_for(m, t, 2.5f, true);
    double l25 = run_loss(c, &b, false);
    double *g25 = read_tensor(gf, "loss_w25", &n, NULL, NULL);
    printf("loss with stream_loss_weight 2.5: %.10g (reference %.10g)\n", l25, g25[0]);
    CHECK(fabs(l25 - g25[0]) / fabs(g25[0]) < 1e-5 && fabs(l25 - loss) > 1e-3);
    vlm_train_context_free(c);
    free(g25);

    /* 3. a padded batch averages over all labels: row 1 alone + row 0 alone, weighted by their label counts */
    {
        c = ctx_for(m, t, 1.0f, true);
        double part = 0;
        int64_t tot = 0;
        for (int64_t r = 0; r < B; r++) {
            int64_t nv = 0, before = 0;
            for (int64_t i = 0; i < B * S; i++)
                if (bb.ids[i] == hp->v_placeholder_id) {
                    if (i / S < r) before++;
                    else if (i / S == r) nv++;
                }
            const size_t frame_floats = (size_t)10 * (size_t)hp->v_n_embd;
            vlm_train_batch one = {bb.ids + r * S, bb.mask + r * S, bb.labels + r * S, 1, (size_t)S,
                                   bb.frames + (size_t)(before / 10) * frame_floats, (size_t)(nv / 10)};
            int64_t k;
            double l1;
            CHECK(vlm_train_forward(c, &one, false, 1.0f, &l1, &k) == VLM_OK);
            part += l1 * (double)k;
            tot += k;
        }
        CHECK(tot == nl && fabs(part / (double)tot - loss) < 1e-5 * fabs(loss));
        /* a frame count that does not match the <v> positions is refused */
        vlm_train_batch bad = b;
        bad.n_frames = b.n_frames - 1;
        double lb;
        CHECK(vlm_train_forward(c, &bad, false, 1.0f, &lb, NULL) == VLM_ERR_INVALID_ARG);
        CHECK(strstr(vlm_train_last_error(c), "<v>") != NULL);
        vlm_train_context_free(c);
    }
    vlm_trainable_free(t);

    /* 4. finite differences, without and with dropout (the masks are regenerated in backward) */
    finite_difference(m, adapter, &b, 0.0f);
    finite_difference(m, adapter, &b, 0.3f);
    {
        vlm_trainable *ta = fresh(m, adapter, 0.3f), *tb = fresh(m, adapter, 0.3f);
        vlm_train_context *c1 = ctx_for(m, ta, 1.0f, true), *c2 = ctx_for(m, tb, 1.0f, true);
        double a1 = run_loss(c1, &b, true), a2 = run_loss(c2, &b, true), a3 = run_loss(c1, &b, false);
        CHECK(a1 == a2 && a1 != a3 && fabs(a1 - loss) > 1e-4); /* same seed and call: same masks; next call: new */
        vlm_train_context_free(c1);
        vlm_train_context_free(c2);
        vlm_trainable_free(ta);
        vlm_trainable_free(tb);
    }

    {
        vlm_trainable *ta = fresh(m, adapter, 0.3f), *tb = fresh(m, adapter, 0.3f);
        check_keep(m, ta, tb, &b, "LoRA, dropout 0.3");
        vlm_trainable_free(ta);
        vlm_trainable_free(tb);
    }

    /* 5. ten AdamW steps with clipping and the cosine schedule vs torch */
    {
        t = fresh(m, adapter, 0.0f);
        c = ctx_for(m, t, 1.0f, true);
        vlm_adamw_params ap = vlm_adamw_default_params();
        ap.weight_decay = 0.01f;
        const int steps = 10;
        int64_t warm = vlm_warmup_steps(0.2, steps);
        double *gls = read_tensor(gf, "adam_losses", &n, NULL, NULL);
        double *gns = read_tensor(gf, "adam_norms", &n, NULL, NULL);
        double worst_l = 0, worst_n = 0;
        for (int s = 0; s < steps; s++) {
            vlm_trainable_zero_grad(t);
            double l = run_loss(c, &b, true), gnorm;
            CHECK(vlm_adamw_step(t, &ap, vlm_cosine_lr(1e-2, s, warm, steps), &gnorm) == VLM_OK);
            double el = fabs(l - gls[s]) / fabs(gls[s]), en = fabs(gnorm - gns[s]) / gns[s];
            worst_l = el > worst_l ? el : worst_l;
            worst_n = en > worst_n ? en : worst_n;
        }
        double worst_p = 0;
        for (size_t i = 0; i < vlm_trainable_count(t); i++) {
            vlm_trainable_info in;
            vlm_trainable_info_at(t, i, &in);
            char gname[300];
            snprintf(gname, sizeof gname, "adam.%s", in.name);
            int64_t gn;
            double *want = read_tensor(gf, gname, &gn, NULL, NULL);
            float *got = malloc((size_t)in.n * sizeof(float));
            vlm_trainable_get(t, i, VLM_TRAIN_VALUE, got);
            double rel = rel_err_d(got, want, in.n, NULL);
            worst_p = rel > worst_p ? rel : worst_p;
            CHECK_MSG(rel < 1e-4, "%s after 10 AdamW steps: rel err %.3e", in.name, rel);
            free(got);
            free(want);
        }
        printf("10 AdamW steps (lr 1e-2, warmup 2, cosine, wd 0.01, clip 1.0): losses rel err <= %.2e, grad norms "
               "<= %.2e, parameters max|p - ref| / max|ref| <= %.2e; loss %.6g -> %.6g\n",
               worst_l, worst_n, worst_p, gls[0], gls[steps - 1]);
        CHECK(worst_l < 1e-5 && worst_n < 1e-4);
        CHECK(gls[steps - 1] < gls[0]);
        free(gls);
        free(gns);

        /* 6. PEFT export, re-import: identical values; checkpoint resume gives the same next step */
        snprintf(path, sizeof path, "%s/peft", tmpdir);
        CHECK(vlm_trainable_save_peft(t, path, err, sizeof err) == VLM_OK);
        vlm_trainable *u = fresh(m, adapter, 0.0f);
        CHECK(vlm_trainable_load_peft(u, path, err, sizeof err) == VLM_OK);
        bool same = true;
        for (size_t i = 0; i < t->n_params; i++)
            same = same && memcmp(t->params[i].val, u->params[i].val, (size_t)t->params[i].n * 4) == 0;
        CHECK(same);
        snprintf(path, sizeof path, "%s/ckpt.safetensors", tmpdir);
        CHECK(vlm_trainable_save_state(t, path, NULL, 0, err, sizeof err) == VLM_OK);
        CHECK(vlm_trainable_load_state(u, path, NULL, 0, err, sizeof err) == VLM_OK);
        vlm_train_context *cu = ctx_for(m, u, 1.0f, true);
        vlm_trainable_zero_grad(t);
        vlm_trainable_zero_grad(u);
        double la = run_loss(c, &b, true), lb2 = run_loss(cu, &b, true);
        CHECK(vlm_adamw_step(t, &ap, 1e-3, NULL) == VLM_OK && vlm_adamw_step(u, &ap, 1e-3, NULL) == VLM_OK);
        same = la == lb2;
        for (size_t i = 0; i < t->n_params; i++)
            same = same && memcmp(t->params[i].val, u->params[i].val, (size_t)t->params[i].n * 4) == 0;
        CHECK(same);
        vlm_train_context_free(cu);
        vlm_trainable_free(u);
        vlm_train_context_free(c);
        vlm_trainable_free(t);
    }
    free(bb.ids), free(bb.mask), free(bb.labels), free(bb.frames), free(gl);
    vlm_st_close(bf);
    vlm_st_close(gf);
    vlm_model_free(m);
    return check_done("test_train grad");
}

/* The same loss and gradients on a bf16 / q8_0 / q4_0 base: rows are dequantized in the
 * backward matmuls; the result stays within the weight type's rounding of the f32 reference. */
static int cmd_quant(const char *model_path, const char *dir, const char *adapter, const char *type) {
    char err[512], path[1024];
    vlm_model_params mp = vlm_model_default_params();
    vlm_model *m;
    if (vlm_model_load(model_path, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    vlm_st_file *bf, *gf;
    snprintf(path, sizeof path, "%s/batch.safetensors", dir);
    CHECK(vlm_st_open(path, &bf, err, sizeof err) == VLM_OK);
    snprintf(path, sizeof path, "%s/gold.safetensors", dir);
    CHECK(vlm_st_open(path, &gf, err, sizeof err) == VLM_OK);
    int64_t n, B, S, NF, dummy;
    int32_t *ids = read_tensor(bf, "input_ids", &n, &B, &S), *mask = read_tensor(bf, "attention_mask", &n, NULL, NULL);
    int32_t *labels = read_tensor(bf, "labels", &n, NULL, NULL);
    float *frames = read_tensor(bf, "frames", &n, &NF, &dummy);
    vlm_train_batch b = {ids, mask, labels, (size_t)B, (size_t)S, frames, (size_t)NF};
    vlm_trainable *t = fresh(m, adapter, 0.0f);
    vlm_train_context *c = ctx_for(m, t, 1.0f, true);
    double loss = run_loss(c, &b, true);
    double *gl = read_tensor(gf, "loss", &n, NULL, NULL);
    double lrel = fabs(loss - gl[0]) / fabs(gl[0]), worst = 0;
    for (size_t i = 0; i < vlm_trainable_count(t); i++) {
        vlm_trainable_info in;
        vlm_trainable_info_at(t, i, &in);
        char gname[300];
        snprintf(gname, sizeof gname, "grad.%s", in.name);
        double *want = read_tensor(gf, gname, &n, NULL, NULL);
        float *got = malloc((size_t)in.n * sizeof(float));
        vlm_trainable_get(t, i, VLM_TRAIN_GRAD, got);
        double rel = rel_err_d(got, want, in.n, NULL);
        worst = rel > worst ? rel : worst;
        free(got);
        free(want);
    }
    /* bounds: about 3x what the fixture gives for each type */
    double lb = !strcmp(type, "q4_0") ? 3e-2 : !strcmp(type, "q8_0") ? 3e-3 : 3e-3;
    double gb = !strcmp(type, "q4_0") ? 0.6 : !strcmp(type, "q8_0") ? 5e-2 : 5e-2;
    printf("%s base: loss %.8g (f32 reference %.8g, rel %.2e, bound %.0e), worst gradient rel err %.2e (bound %.0e)\n",
           type, loss, gl[0], lrel, lb, worst, gb);
    CHECK(lrel < lb && worst < gb);
    vlm_train_context_free(c);
    vlm_trainable_free(t);
    free(ids), free(mask), free(labels), free(frames), free(gl);
    vlm_st_close(bf);
    vlm_st_close(gf);
    vlm_model_free(m);
    return check_done("test_train quant");
}

/* Round trip: the adapter exported by training, merged by `videollm convert --adapter`, run by the
 * inference runtime (vlm_connector + vlm_lm_eval with all logits) gives the loss that training
 * computes with base + adapter, on every unpadded sequence of the batch. */
static int cmd_merged(const char *base_path, const char *merged_path, const char *adapter, const char *dir) {
    char err[512], path[1024];
    vlm_model_params mp = vlm_model_default_params();
    vlm_model *mb, *mm;
    if (vlm_model_load(base_path, &mp, &mb, err, sizeof err) || vlm_model_load(merged_path, &mp, &mm, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const vlm_model_hparams *hp = vlm_model_get_hparams(mm);
    const int64_t H = hp->n_embd, V = hp->n_vocab, D = hp->v_n_embd, tpf = hp->frame_num_tokens;
    vlm_st_file *bf;
    snprintf(path, sizeof path, "%s/batch.safetensors", dir);
    CHECK(vlm_st_open(path, &bf, err, sizeof err) == VLM_OK);
    int64_t n, B, S, NF, dummy;
    int32_t *ids = read_tensor(bf, "input_ids", &n, &B, &S), *mask = read_tensor(bf, "attention_mask", &n, NULL, NULL);
    int32_t *labels = read_tensor(bf, "labels", &n, NULL, NULL);
    float *frames = read_tensor(bf, "frames", &n, &NF, &dummy);
    vlm_trainable *t = fresh(mb, adapter, 0.0f);
    vlm_train_context *c = ctx_for(mb, t, 1.0f, false);
    vlm_lm_context_params lp = vlm_lm_context_default_params();
    lp.n_ctx = (int32_t)S;
    vlm_lm_context *lm;
    vlm_vision_context *vc;
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    CHECK(vlm_lm_context_init(mm, &lp, &lm, err, sizeof err) == VLM_OK);
    CHECK(vlm_vision_context_init(mm, &vp, &vc, err, sizeof err) == VLM_OK);
    float *emb = malloc((size_t)(NF * tpf * H) * sizeof(float)), *logits = malloc((size_t)(S * V) * sizeof(float));
    CHECK(vlm_connector(vc, frames, (size_t)(NF * tpf), emb) == VLM_OK);
    vlm_lm_input *in = calloc((size_t)S, sizeof *in);
    int64_t v_at = 0, checked = 0;
    for (int64_t r = 0; r < B; r++) {
        const int32_t *ri = ids + r * S, *rm = mask + r * S, *rl = labels + r * S;
        int64_t nv = 0, pad = 0;
        for (int64_t i = 0; i < S; i++) nv += ri[i] == hp->v_placeholder_id, pad += rm[i] == 0;
        if (pad == 0) {
            vlm_train_batch one = {ri, rm, rl, 1, (size_t)S, frames + v_at * D, (size_t)(nv / tpf)};
            double lt;
            CHECK(vlm_train_forward(c, &one, false, 1.0f, &lt, NULL) == VLM_OK);
            int64_t e = v_at;
            for (int64_t i = 0; i < S; i++) {
                in[i].token = ri[i];
                in[i].embd = ri[i] == hp->v_placeholder_id ? emb + (e++) * H : NULL;
            }
            vlm_lm_kv_trim(lm, 0);
            CHECK(vlm_lm_eval(lm, in, (size_t)S, VLM_LOGITS_ALL, logits) == VLM_OK);
            double sum = 0;
            int64_t nl = 0;
            for (int64_t i = 0; i < S; i++) {
                if (rl[i] < 0) continue;
                const float *lg = logits + i * V;
                double mx = -INFINITY, se = 0;
                for (int64_t k = 0; k < V; k++) mx = lg[k] > mx ? lg[k] : mx;
                for (int64_t k = 0; k < V; k++) se += exp(lg[k] - mx);
                sum += mx + log(se) - lg[rl[i]];
                nl++;
            }
            double lr = sum / (double)nl;
            printf("sequence %lld: training path (base + adapter) loss %.9g, merged model through the runtime %.9g "
                   "(rel %.2e)\n", (long long)r, lt, lr, fabs(lt - lr) / lr);
            CHECK(fabs(lt - lr) < 2e-5 * lr);
            checked++;
        }
        v_at += nv;
    }
    CHECK(checked > 0);
    free(in), free(emb), free(logits), free(ids), free(mask), free(labels), free(frames);
    vlm_vision_context_free(vc);
    vlm_lm_context_free(lm);
    vlm_train_context_free(c);
    vlm_trainable_free(t);
    vlm_st_close(bf);
    vlm_model_free(mb);
    vlm_model_free(mm);
    return check_done("test_train merged");
}

/* ---- full fine-tuning ------------------------------------------------------------------------------- */

static vlm_trainable *fresh_full(const vlm_model *m) {
    char err[512];
    vlm_lora_params lp = vlm_lora_default_params();
    lp.full = true;
    lp.seed = 3;
    vlm_trainable *t;
    if (vlm_trainable_init(m, &lp, &t, err, sizeof err)) {
        fprintf(stderr, "full trainable: %s\n", err);
        exit(1);
    }
    return t;
}

static vlm_train_context *ctx_threads(const vlm_model *m, vlm_trainable *t, float w, bool train, int nth) {
    char err[512];
    vlm_train_context_params cp = vlm_train_context_default_params();
    cp.stream_loss_weight = w;
    cp.train = train;
    cp.n_threads = nth;
    vlm_train_context *c;
    if (vlm_train_context_init(m, t, &cp, &c, err, sizeof err)) {
        fprintf(stderr, "context: %s\n", err);
        exit(1);
    }
    return c;
}

static void load_batch(const char *dir, batch_buf *bb, vlm_train_batch *b) {
    char path[1024], err[512];
    vlm_st_file *bf;
    snprintf(path, sizeof path, "%s/batch.safetensors", dir);
    if (vlm_st_open(path, &bf, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    int64_t n, B, S, NF, dummy;
    bb->ids = read_tensor(bf, "input_ids", &n, &B, &S);
    bb->mask = read_tensor(bf, "attention_mask", &n, NULL, NULL);
    bb->labels = read_tensor(bf, "labels", &n, NULL, NULL);
    bb->frames = read_tensor(bf, "frames", &n, &NF, &dummy);
    bb->n_seq = (size_t)B, bb->seq_len = (size_t)S, bb->n_frames = (size_t)NF;
    vlm_st_close(bf);
    vlm_train_batch tb = {bb->ids, bb->mask, bb->labels, (size_t)B, (size_t)S, bb->frames, (size_t)NF};
    *b = tb;
}

/* worst max|got - gold[prefix + name]| / max|gold| over every tensor of t (HF order) */
static double compare_gold(const vlm_trainable *t, vlm_st_file *gf, const char *prefix, vlm_train_field f,
                           double bound, const char **worst_name) {
    double worst = 0;
    for (size_t i = 0; i < vlm_trainable_count(t); i++) {
        vlm_trainable_info in;
        vlm_trainable_info_at(t, i, &in);
        char gname[300];
        snprintf(gname, sizeof gname, "%s%s", prefix, in.name);
        int64_t gn;
        double *want = read_tensor(gf, gname, &gn, NULL, NULL);
        CHECK_MSG(gn == in.n, "%s: %lld elements, reference %lld", in.name, (long long)in.n, (long long)gn);
        float *got = malloc((size_t)in.n * sizeof(float));
        vlm_trainable_get(t, i, f, got);
        double rel = gn == in.n ? rel_err_d(got, want, in.n, NULL) : 1.0;
        if (rel >= worst) worst = rel, *worst_name = in.name;
        CHECK_MSG(rel < bound, "%s%s: rel err %.3e (bound %.0e)", prefix, in.name, rel, bound);
        free(got);
        free(want);
    }
    return worst;
}

static bool same_values(const vlm_trainable *a, const vlm_trainable *b) {
    if (a->n_params != b->n_params) return false;
    for (size_t i = 0; i < a->n_params; i++)
        if (memcmp(a->params[i].val, b->params[i].val, (size_t)a->params[i].n * sizeof(float))) return false;
    return true;
}

/* steps AdamW steps of full fine-tuning from the base with nth threads */
static vlm_trainable *train_steps(const vlm_model *m, const vlm_train_batch *b, int steps, int nth) {
    vlm_trainable *t = fresh_full(m);
    vlm_train_context *c = ctx_threads(m, t, 1.0f, true, nth);
    vlm_adamw_params ap = vlm_adamw_default_params();
    ap.weight_decay = 0.01f;
    for (int s = 0; s < steps; s++) {
        vlm_trainable_zero_grad(t);
        run_loss(c, b, true);
        CHECK(vlm_adamw_step(t, &ap, vlm_cosine_lr(1e-3, s, 2, 10), NULL) == VLM_OK);
    }
    vlm_train_context_free(c);
    return t;
}

/* The exported pair through the runtime (vlm_connector + vlm_lm_eval) vs the trainer's logits
 * (evaluation mode) at the labelled positions of every unpadded sequence; returns the worst
 * max|diff| / max|logit|. */
static double export_logits(const vlm_model *base, vlm_trainable *t, const char *path, vlm_weight_type type,
                            const batch_buf *bb) {
    char err[512];
    CHECK_MSG(vlm_trainable_export_gguf(t, base, path, type, err, sizeof err) == VLM_OK, "export: %s", err);
    vlm_model_params mp = vlm_model_default_params();
    vlm_model *mm;
    if (vlm_model_load(path, &mp, &mm, err, sizeof err)) {
        CHECK_MSG(0, "the exported model does not load: %s", err);
        return 1.0;
    }
    const vlm_model_hparams *hp = vlm_model_get_hparams(mm);
    const int64_t H = hp->n_embd, V = hp->n_vocab, D = hp->v_n_embd, tpf = hp->frame_num_tokens;
    const int64_t S = (int64_t)bb->seq_len, NF = (int64_t)bb->n_frames;
    vlm_train_context *c = ctx_threads(base, t, 1.0f, false, 2);
    vlm_lm_context_params lp = vlm_lm_context_default_params();
    lp.n_ctx = (int32_t)S;
    vlm_lm_context *lm;
    vlm_vision_context *vc;
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    CHECK(vlm_lm_context_init(mm, &lp, &lm, err, sizeof err) == VLM_OK);
    CHECK(vlm_vision_context_init(mm, &vp, &vc, err, sizeof err) == VLM_OK);
    float *emb = malloc((size_t)(NF * tpf * H) * sizeof(float)), *logits = malloc((size_t)(S * V) * sizeof(float));
    float *mine = malloc((size_t)(S * V) * sizeof(float));
    CHECK(vlm_connector(vc, bb->frames, (size_t)(NF * tpf), emb) == VLM_OK);
    vlm_lm_input *in = calloc((size_t)S, sizeof *in);
    int64_t v_at = 0, checked = 0;
    double worst = 0;
    for (int64_t r = 0; r < (int64_t)bb->n_seq; r++) {
        const int32_t *ri = bb->ids + r * S, *rm = bb->mask + r * S, *rl = bb->labels + r * S;
        int64_t nv = 0, pad = 0;
        for (int64_t i = 0; i < S; i++) nv += ri[i] == hp->v_placeholder_id, pad += rm[i] == 0;
        if (pad == 0) {
            vlm_train_batch one = {ri, rm, rl, 1, (size_t)S, bb->frames + v_at * D, (size_t)(nv / tpf)};
            double lt;
            vlm_train_dump_logits(c, mine);
            CHECK(vlm_train_forward(c, &one, false, 1.0f, &lt, NULL) == VLM_OK);
            vlm_train_dump_logits(c, NULL);
            int64_t e = v_at;
            for (int64_t i = 0; i < S; i++) {
                in[i].token = ri[i];
                in[i].embd = ri[i] == hp->v_placeholder_id ? emb + (e++) * H : NULL;
            }
            vlm_lm_kv_trim(lm, 0);
            CHECK(vlm_lm_eval(lm, in, (size_t)S, VLM_LOGITS_ALL, logits) == VLM_OK);
            double md = 0, mx = 0;
            int64_t k = 0;
            for (int64_t i = 0; i < S; i++) {
                if (rl[i] < 0) continue;
                for (int64_t j = 0; j < V; j++) {
                    double d = fabs((double)logits[i * V + j] - mine[k * V + j]);
                    md = d > md ? d : md;
                    mx = fabs(mine[k * V + j]) > mx ? fabs(mine[k * V + j]) : mx;
                }
                k++;
            }
            double rel = md / mx;
            worst = rel > worst ? rel : worst;
            checked += k;
        }
        v_at += nv;
    }
    CHECK(checked > 0);
    free(in), free(emb), free(logits), free(mine);
    vlm_vision_context_free(vc);
    vlm_lm_context_free(lm);
    vlm_train_context_free(c);
    vlm_model_free(mm);
    return worst;
}

static int cmd_full(const char *model_path, const char *dir, const char *adapter, const char *q8_path) {
    char err[512], path[1024];
    vlm_model_params mp = vlm_model_default_params();
    vlm_model *m;
    if (vlm_model_load(model_path, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    batch_buf bb = {0};
    vlm_train_batch b;
    load_batch(dir, &bb, &b);
    vlm_st_file *gf;
    snprintf(path, sizeof path, "%s/gold_full.safetensors", dir);
    if (vlm_st_open(path, &gf, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int64_t n, ntok = 0;
    for (size_t i = 0; i < b.n_seq * b.seq_len; i++) ntok += b.attention_mask[i] != 0;

    /* 1. loss and every gradient vs autograd; the tensor list */
    vlm_trainable *t = fresh_full(m);
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    CHECK(vlm_trainable_count(t) == (size_t)hp->n_layer * 9 + 3 + 4);
    vlm_train_context *c = ctx_for(m, t, 1.0f, true);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double loss = run_loss(c, &b, true);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double *gl = read_tensor(gf, "loss", &n, NULL, NULL);
    double lrel = fabs(loss - gl[0]) / fabs(gl[0]);
    printf("full: loss %.10g (reference %.10g, rel err %.2e); forward+backward %.4f s = %.0f tokens/s (2 threads)\n",
           loss, gl[0], lrel, secs, (double)ntok / secs);
    CHECK(lrel < 1e-5);
    const char *wn = "";
    double worst = compare_gold(t, gf, "grad.", VLM_TRAIN_GRAD, 1e-4, &wn);
    printf("full: gradients of %zu tensors, worst max|g - ref| / max|ref| = %.2e (%s)\n", vlm_trainable_count(t),
           worst, wn);
    /* the <v> id gets no embedding gradient (its rows come from the connector) */
    if (hp->v_placeholder_id < hp->n_vocab) {
        float *ge = malloc((size_t)(hp->n_vocab * hp->n_embd) * sizeof(float));
        vlm_trainable_get(t, 0, VLM_TRAIN_GRAD, ge);
        double s = 0;
        for (int64_t k = 0; k < hp->n_embd; k++) s += fabs(ge[(int64_t)hp->v_placeholder_id * hp->n_embd + k]);
        CHECK(s == 0.0);
        free(ge);
    }
    vlm_train_context_free(c);

    {
        vlm_trainable *ta = fresh_full(m), *tb = fresh_full(m);
        check_keep(m, ta, tb, &b, "full");
        vlm_trainable_free(ta);
        vlm_trainable_free(tb);
    }

    /* speed: full vs LoRA (r 8) on the same batch, best of 3 each */
    {
        vlm_trainable *tl = fresh(m, adapter, 0.0f);
        vlm_train_context *cl = ctx_for(m, tl, 1.0f, true), *cf = ctx_for(m, t, 1.0f, true);
        double best[2] = {1e9, 1e9};
        for (int rep = 0; rep < 3; rep++)
            for (int k = 0; k < 2; k++) {
                clock_gettime(CLOCK_MONOTONIC, &t0);
                run_loss(k ? cl : cf, &b, true);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
                best[k] = s < best[k] ? s : best[k];
            }
        printf("speed (forward+backward, %lld tokens, 2 threads, best of 3): full %.0f tokens/s, LoRA r 8 %.0f "
               "tokens/s\n", (long long)ntok, (double)ntok / best[0], (double)ntok / best[1]);
        vlm_train_context_free(cl);
        vlm_train_context_free(cf);
        vlm_trainable_free(tl);
    }
    vlm_trainable_free(t);

    /* 2. finite differences on every kind of tensor */
    {
        t = fresh_full(m);
        c = ctx_for(m, t, 1.7f, true);
        static const char *names[] = {"model.embed_tokens.weight", "model.layers.0.input_layernorm.weight",
                                      "model.layers.1.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                                      "model.layers.1.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
                                      "model.layers.1.post_attention_layernorm.weight",
                                      "model.layers.0.mlp.gate_proj.weight", "model.layers.1.mlp.up_proj.weight",
                                      "model.layers.0.mlp.down_proj.weight", "model.norm.weight", "lm_head.weight",
                                      "connector.0.bias"};
        const size_t nn = sizeof names / sizeof names[0];
        vlm_trainable_zero_grad(t);
        run_loss(c, &b, true);
        double wfd = 0;
        for (size_t k = 0; k < nn; k++) {
            size_t pi = param_index(t, names[k]);
            vlm_trainable_info in;
            vlm_trainable_info_at(t, pi, &in);
            float *val = malloc((size_t)in.n * sizeof(float)), *grad = malloc((size_t)in.n * sizeof(float));
            vlm_trainable_get(t, pi, VLM_TRAIN_VALUE, val);
            vlm_trainable_get(t, pi, VLM_TRAIN_GRAD, grad);
            int64_t e = 0;
            for (int64_t i = 1; i < in.n; i++)
                if (fabsf(grad[i]) > fabsf(grad[e])) e = i;
            int64_t es[2] = {e, in.n / 2 + 1 < in.n ? in.n / 2 + 1 : 0};
            for (int j = 0; j < 2; j++) {
                const float h = 4e-3f;
                float keep = val[es[j]];
                val[es[j]] = keep + h;
                vlm_trainable_set(t, pi, VLM_TRAIN_VALUE, val);
                double lp = run_loss(c, &b, false);
                val[es[j]] = keep - h;
                vlm_trainable_set(t, pi, VLM_TRAIN_VALUE, val);
                double lm = run_loss(c, &b, false);
                val[es[j]] = keep;
                vlm_trainable_set(t, pi, VLM_TRAIN_VALUE, val);
                double fd = (lp - lm) / ((double)(keep + h) - (double)(keep - h));
                double e2 = fabs(fd - grad[es[j]]);
                double r = e2 / (fabs(grad[es[j]]) + 1e-3);
                wfd = r > wfd ? r : wfd;
                CHECK_MSG(e2 < 2e-4 + 1e-2 * fabs(grad[es[j]]), "%s[%lld]: finite difference %.6g, backward %.6g",
                          names[k], (long long)es[j], fd, grad[es[j]]);
            }
            free(val);
            free(grad);
        }
        printf("full: finite differences (stream weight 1.7) on %zu elements of %zu tensors, worst |fd - g| / (|g| + "
               "1e-3) = %.2e\n", 2 * nn, nn, wfd);
        vlm_train_context_free(c);
        vlm_trainable_free(t);
    }

    /* 3. ten AdamW steps (clipping, cosine schedule, decay) vs torch */
    t = fresh_full(m);
    {
        c = ctx_for(m, t, 1.0f, true);
        vlm_adamw_params ap = vlm_adamw_default_params();
        ap.weight_decay = 0.01f;
        double *gls = read_tensor(gf, "adam_losses", &n, NULL, NULL), *gns = read_tensor(gf, "adam_norms", &n, NULL, NULL);
        double worst_l = 0, worst_n = 0;
        for (int s = 0; s < 10; s++) {
            vlm_trainable_zero_grad(t);
            double l = run_loss(c, &b, true), gnorm;
            CHECK(vlm_adamw_step(t, &ap, vlm_cosine_lr(1e-3, s, vlm_warmup_steps(0.2, 10), 10), &gnorm) == VLM_OK);
            double el = fabs(l - gls[s]) / fabs(gls[s]), en = fabs(gnorm - gns[s]) / gns[s];
            worst_l = el > worst_l ? el : worst_l;
            worst_n = en > worst_n ? en : worst_n;
        }
        double wp = compare_gold(t, gf, "adam.", VLM_TRAIN_VALUE, 1e-4, &wn);
        printf("full: 10 AdamW steps (lr 1e-3, warmup 2, cosine, wd 0.01, clip 1.0): losses rel err <= %.2e, grad "
               "norms <= %.2e, parameters <= %.2e (%s); loss %.6g -> %.6g\n", worst_l, worst_n, wp, wn, gls[0], gls[9]);
        CHECK(worst_l < 1e-5 && worst_n < 1e-4 && gls[9] < gls[0]);
        free(gls);
        free(gns);
        vlm_train_context_free(c);
    }

    /* 4. export: the pair loads and the runtime gives the trainer's logits */
    snprintf(path, sizeof path, "%s/full_f32.gguf", tmpdir);
    double e32 = export_logits(m, t, path, VLM_WTYPE_F32, &bb);
    snprintf(path, sizeof path, "%s/full_f16.gguf", tmpdir);
    double e16 = export_logits(m, t, path, VLM_WTYPE_F16, &bb);
    printf("full: exported pair through vlm_model_load + runtime vs the trainer's logits (eval): f32 max rel %.2e "
           "(bound 1e-5), f16 %.2e (bound 1e-2)\n", e32, e16);
    CHECK(e32 < 1e-5 && e16 < 1e-2);
    {   /* no temporaries left; LoRA trainables do not export */
        snprintf(path, sizeof path, "%s/full_f32.gguf.tmp", tmpdir);
        CHECK(access(path, F_OK) != 0);
        vlm_trainable *tl = fresh(m, adapter, 0.0f);
        snprintf(path, sizeof path, "%s/lora.gguf", tmpdir);
        CHECK(vlm_trainable_export_gguf(tl, m, path, VLM_WTYPE_F32, err, sizeof err) == VLM_ERR_INVALID_ARG);
        CHECK(access(path, F_OK) != 0);
        /* a full checkpoint is refused by a LoRA trainable and vice versa */
        snprintf(path, sizeof path, "%s/full_ckpt.safetensors", tmpdir);
        CHECK(vlm_trainable_save_state(t, path, NULL, 0, err, sizeof err) == VLM_OK);
        CHECK(vlm_trainable_load_state(tl, path, NULL, 0, err, sizeof err) == VLM_ERR_FORMAT);
        CHECK(vlm_trainable_save_peft(t, tmpdir, err, sizeof err) == VLM_ERR_INVALID_ARG);
        vlm_trainable_free(tl);
    }
    vlm_trainable_free(t);

    /* 5. determinism: 1 thread twice, 1 vs 2 threads; checkpoint resume */
    {
        vlm_trainable *a = train_steps(m, &b, 3, 1), *a2 = train_steps(m, &b, 3, 1), *a3 = train_steps(m, &b, 3, 2);
        bool same12 = same_values(a, a3);
        printf("full: 3 steps with 1 thread twice: %s; 1 vs 2 threads: %s\n", same_values(a, a2) ? "identical" : "DIFFERENT",
               same12 ? "identical" : "different");
        CHECK(same_values(a, a2));
        CHECK(same12);
        snprintf(path, sizeof path, "%s/full_ckpt.safetensors", tmpdir);
        CHECK(vlm_trainable_save_state(a, path, NULL, 0, err, sizeof err) == VLM_OK);
        vlm_trainable *u = fresh_full(m);
        CHECK(vlm_trainable_load_state(u, path, NULL, 0, err, sizeof err) == VLM_OK);
        CHECK(same_values(a, u) && vlm_trainable_step(u) == 3);
        vlm_train_context *ca = ctx_for(m, a, 1.0f, true), *cu = ctx_for(m, u, 1.0f, true);
        vlm_adamw_params ap = vlm_adamw_default_params();
        vlm_trainable_zero_grad(a);
        vlm_trainable_zero_grad(u);
        double la = run_loss(ca, &b, true), lu = run_loss(cu, &b, true);
        CHECK(vlm_adamw_step(a, &ap, 1e-3, NULL) == VLM_OK && vlm_adamw_step(u, &ap, 1e-3, NULL) == VLM_OK);
        CHECK(la == lu && same_values(a, u));
        vlm_train_context_free(ca);
        vlm_train_context_free(cu);
        vlm_trainable_free(a), vlm_trainable_free(a2), vlm_trainable_free(a3), vlm_trainable_free(u);
    }

    /* 6. a quantized base is refused */
    {
        vlm_model *mq;
        CHECK(vlm_model_load(q8_path, &mp, &mq, err, sizeof err) == VLM_OK);
        vlm_lora_params lp = vlm_lora_default_params();
        lp.full = true;
        vlm_trainable *tq = NULL;
        CHECK(vlm_trainable_init(mq, &lp, &tq, err, sizeof err) == VLM_ERR_UNSUPPORTED && !tq);
        CHECK(strstr(err, "q8_0") != NULL);
        printf("full: q8_0 base refused: %s\n", err);
        vlm_model_free(mq);
    }
    free(bb.ids), free(bb.mask), free(bb.labels), free(bb.frames), free(gl);
    vlm_st_close(gf);
    vlm_model_free(m);
    return check_done("test_train full");
}

/* The model exported by `videollm train --full` (loaded back through vlm_model_load, read
 * into a full trainable in Hugging Face order) vs torch's parameters after the same ten steps. */
static int cmd_fullcli(const char *model_path, const char *dir, const char *prefix) {
    char err[512], path[1024];
    vlm_model_params mp = vlm_model_default_params();
    vlm_model *m;
    if (vlm_model_load(model_path, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    vlm_st_file *gf;
    snprintf(path, sizeof path, "%s/gold_full.safetensors", dir);
    CHECK(vlm_st_open(path, &gf, err, sizeof err) == VLM_OK);
    vlm_trainable *t = fresh_full(m);
    const char *wn = "";
    double w = compare_gold(t, gf, prefix, VLM_TRAIN_VALUE, 1e-4, &wn);
    printf("videollm train --full: %zu exported tensors vs torch AdamW after 10 steps (gold %s*), worst "
           "max|p - ref| / max|ref| = %.2e (%s)\n", vlm_trainable_count(t), prefix, w, wn);
    vlm_trainable_free(t);
    vlm_st_close(gf);
    vlm_model_free(m);
    return check_done("test_train fullcli");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *base = getenv("VLM_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_train.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    int rc;
    if (argc >= 6 && !strcmp(argv[1], "grad"))
        rc = cmd_grad(argv[2], argv[3], argv[4], argv[5]);
    else if (argc >= 6 && !strcmp(argv[1], "merged"))
        rc = cmd_merged(argv[2], argv[3], argv[4], argv[5]);
    else if (argc >= 6 && !strcmp(argv[1], "quant"))
        rc = cmd_quant(argv[2], argv[3], argv[4], argv[5]);
    else if (argc >= 6 && !strcmp(argv[1], "full"))
        rc = cmd_full(argv[2], argv[3], argv[4], argv[5]);
    else if (argc >= 4 && !strcmp(argv[1], "fullcli"))
        rc = cmd_fullcli(argv[2], argv[3], argc >= 5 ? argv[4] : "adam.");
    else {
        test_schedule();
        test_adamw_by_hand();
        test_permutation();
        test_checkpoint_file();
        rc = check_done("test_train");
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc;
}
