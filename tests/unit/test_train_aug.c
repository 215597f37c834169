/* test_train_aug.c - `videollm train --augmentation` (vlm_train_run_params.augmentation): the
 * original's augmentation drawn afresh every epoch, on a tiny seeded model (vlm_init_write with
 * a byte-level tokenizer) and a hand-made JSONL with features:
 *
 *  - vlm_prep_augment_epoch(sample, seed, epoch, index) equals vlm_prep_augment with the
 *    generator of the documented rule, recomputed here (splitmix64 written out again), compared
 *    as rendered text; the draw differs between epochs;
 *  - the trainer uses exactly that conversation: with lr 0 and no dropout every step's loss is
 *    the loss of one sample's augmented conversation at that epoch, computed here through
 *    vlm_train_forward (compared as the progress line prints it, per epoch as a multiset since
 *    the shuffle is the trainer's);
 *  - two runs, and 1 vs 2 threads, give identical losses and adapters; a run stopped after 3
 *    steps and resumed gives the same losses for the remaining steps and the same checkpoint;
 *  - samples with fewer than 2 learned assistant turns: the same losses and adapter with and
 *    without augmentation;
 *  - a line written by hand with learn as ints / false and extra keys is taken in the form
 *    vlm_prep_augment works on (int learn kept as int);
 *  - resuming a checkpoint with the other setting is refused. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "test_fs.h"
#include "tiny_tokenizer.h"
#include "tiny_model.h"
#include "core/util.h"
#include "io/safetensors_write.h"
#include "train/prepare.h"
#include "videollm.h"

#define TPF 10   /* frame tokens (live1+) */
#define VD 16    /* vision hidden size */
#define NFRAMES 24
#define SEED 7

static char dir[600];

/* ---- fixtures ------------------------------------------------------------------------------------ */

static void push(vlm_prep_sample *s, vlm_role r, const char *c, int64_t nf, vlm_prep_learn_kind lk, int64_t learn) {
    CHECK(vlm_prep_push(s, r, c, nf, lk, learn) == VLM_OK);
}

#define SYS VLM_ROLE_SYSTEM
#define USR VLM_ROLE_USER
#define AST VLM_ROLE_ASSISTANT
#define STR VLM_ROLE_STREAM
#define NONE VLM_PREP_LEARN_NONE
#define BOOL VLM_PREP_LEARN_BOOL
#define INT VLM_PREP_LEARN_INT

/* The samples: 0-2 have at least 2 learned assistant turns (2 is text-only), 3-4 do not. */
enum { N_SAMPLES = 5 };
static void make_sample(int k, vlm_prep_sample *s) {
    memset(s, 0, sizeof *s);
    s->features = strdup("feat.safetensors");
    push(s, SYS, "Narrate the video.", 0, NONE, 0);
    if (k == 0) {
        push(s, STR, NULL, 2, BOOL, 0);
        push(s, USR, "What happens?", 0, NONE, 0);
        push(s, STR, NULL, 3, BOOL, 1);
        push(s, AST, "A red box appears.", 0, BOOL, 1);
        push(s, STR, NULL, 2, BOOL, 1);
        push(s, AST, "The box moves left.", 0, BOOL, 1);
        push(s, STR, NULL, 3, BOOL, 1);
        push(s, AST, "It is gone.", 0, BOOL, 1);
        s->frame_start = 0, s->frame_end = 10;
    } else if (k == 1) {
        push(s, USR, "Tell me when it turns.", 0, NONE, 0);
        push(s, STR, NULL, 4, INT, 3);
        push(s, AST, "It turns blue.", 0, BOOL, 1);
        push(s, STR, NULL, 1, BOOL, 1);
        push(s, AST, "Blue again.", 0, BOOL, 1);
        push(s, STR, NULL, 4, BOOL, 1);
        s->frame_start = 10, s->frame_end = 19;
    } else if (k == 2) {
        push(s, USR, "Hi.", 0, NONE, 0);
        push(s, AST, "Hello.", 0, BOOL, 1);
        push(s, USR, "Bye.", 0, NONE, 0);
        push(s, AST, "See you.", 0, BOOL, 1);
        s->frame_start = s->frame_end = 0;
    } else if (k == 3) {
        push(s, STR, NULL, 2, BOOL, 0);
        push(s, USR, "Is it red?", 0, NONE, 0);
        push(s, STR, NULL, 2, BOOL, 1);
        push(s, AST, "Yes, red.", 0, BOOL, 1);
        s->frame_start = 19, s->frame_end = 23;
    } else {
        push(s, USR, "Hi.", 0, NONE, 0);
        push(s, AST, "Hello.", 0, NONE, 0);
        push(s, USR, "Name?", 0, NONE, 0);
        push(s, AST, "Box.", 0, BOOL, 1);
        s->frame_start = s->frame_end = 0;
    }
}

/* JSONL of samples ks[0, n) (made by make_sample). */
static void write_data(const char *path, const int *ks, int n) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    for (int i = 0; f && i < n; i++) {
        vlm_prep_sample s;
        make_sample(ks[i], &s);
        tiny_write_sample(f, &s);
    }
    if (f) fclose(f);
}

/* ---- the documented generator, written out again ----------------------------------------------- */

static uint64_t splitmix_first(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static vlm_prep_rng documented_rng(uint64_t seed, uint64_t epoch, uint64_t index) {
    return vlm_prep_rng_seed(splitmix_first(splitmix_first(splitmix_first(seed) + epoch) + index), 4);
}

static char *render(const vlm_prep_sample *s) {
    char *cj = vlm_prep_conversation_json(s), e[256], *text = NULL;
    vlm_conversation *c = NULL;
    size_t tl;
    vlm_template_params tp = vlm_template_default_params();
    tp.live_version = VLM_LIVE_V1PLUS;
    tp.strict = true;
    CHECK(cj && vlm_conversation_parse(cj, strlen(cj), &c, e, sizeof e) == VLM_OK);
    if (c) CHECK_MSG(vlm_template_render(vlm_conversation_messages(c), vlm_conversation_size(c), &tp, &text, &tl, e,
                                         sizeof e) == VLM_OK, "%s", e);
    vlm_conversation_free(c);
    free(cj);
    return text ? text : strdup("");
}

/* The expected conversation of sample k (data index `index`) in epoch e, rendered. */
static char *expected_text(int k, uint64_t index, uint64_t e) {
    vlm_prep_sample s;
    make_sample(k, &s);
    vlm_prep_rng r = documented_rng(SEED, e, index);
    char err[256];
    CHECK(vlm_prep_augment(&s, &r, err, sizeof err) == VLM_OK);
    char *t = render(&s);
    vlm_prep_sample_free(&s);
    return t;
}

static void test_generator(void) {
    int differs = 0, changed = 0;
    for (int k = 0; k < N_SAMPLES; k++) {
        vlm_prep_sample s;
        make_sample(k, &s);
        char *plain = render(&s), *first = NULL;
        for (uint64_t e = 0; e < 6; e++) {
            vlm_prep_sample a;
            char err[256];
            CHECK(vlm_prep_augment_epoch(&s, SEED, e, (uint64_t)k, &a, err, sizeof err) == VLM_OK);
            CHECK(a.frame_start == s.frame_start && a.frame_end == s.frame_end);
            CHECK(vlm_prep_stream_frames(&a) == s.frame_end - s.frame_start); /* frames never change */
            char *got = render(&a), *want = expected_text(k, (uint64_t)k, e);
            CHECK_MSG(!strcmp(got, want), "sample %d epoch %d", k, (int)e);
            if (k >= 3) CHECK(!strcmp(got, plain)); /* < 2 learned turns: unchanged */
            else changed += strcmp(got, plain) != 0; /* (some draws change nothing, e.g. "fix" without a fake) */
            if (!first) first = strdup(got);
            else differs += strcmp(first, got) != 0;
            free(got), free(want);
            vlm_prep_sample_free(&a);
        }
        free(first), free(plain);
        vlm_prep_sample_free(&s);
    }
    CHECK(differs > 0 && changed > 0);
    printf("generator: the documented rule reproduced for 5 samples x 6 epochs; %d of 18 draws change the "
           "conversation, %d differ from epoch 0's\n", changed, differs);
}

/* ---- trainer runs -------------------------------------------------------------------------------- */

typedef struct {
    char loss[64][32]; /* the loss field of every step line */
    int epoch[64];
    int n;
    char other[8][300]; /* other lines */
    int n_other;
} progress_log;

static void on_line(const char *line, void *ud) {
    progress_log *l = ud;
    int ep;
    char loss[32];
    if (sscanf(line, "step %*d/%*d epoch %d loss %31s", &ep, loss) == 2 && l->n < 64) {
        snprintf(l->loss[l->n], sizeof l->loss[0], "%s", loss);
        l->epoch[l->n++] = ep - 1;
    } else if (l->n_other < 8)
        snprintf(l->other[l->n_other++], sizeof l->other[0], "%s", line);
}

static bool has_line(const progress_log *l, const char *sub) {
    for (int i = 0; i < l->n_other; i++)
        if (strstr(l->other[i], sub)) return true;
    return false;
}

static char model_path[700];

static vlm_train_run_params run_params(const char *data, const char *out, progress_log *log) {
    vlm_train_run_params p = vlm_train_run_default_params();
    p.model_path = model_path;
    p.data_path = data;
    p.out_dir = out;
    p.lora.lora_r = 4;
    p.lora.lora_alpha = 8;
    p.lora.lora_dropout = 0;
    p.lora.seed = SEED;
    p.lr = 1e-2;
    p.batch = 1;
    p.grad_accum = 1;
    p.warmup_ratio = 0;
    p.epochs = 3;
    p.augmentation = true;
    p.progress = on_line;
    p.user_data = log;
    memset(log, 0, sizeof *log);
    return p;
}

static vlm_status run(const vlm_train_run_params *p, char *err, size_t n) { return vlm_train_run(p, err, n); }

static bool same_losses(const progress_log *a, int a0, const progress_log *b, int b0, int n) {
    for (int i = 0; i < n; i++)
        if (a0 + i >= a->n || b0 + i >= b->n || strcmp(a->loss[a0 + i], b->loss[b0 + i])) return false;
    return true;
}

/* The loss the trainer's first step would print for one conversation (rendered as the trainer
 * does, the sample's frames, the LoRA init of SEED, n_threads threads). */
static void loss_text(const vlm_model *m, const char *text_conv_json, int64_t f0, int64_t f1, const float *feat,
                      int nth, char *out, size_t out_size) {
    char e[512];
    vlm_conversation *c = NULL;
    vlm_sample s;
    memset(&s, 0, sizeof s);
    vlm_template_params tp = vlm_template_default_params();
    tp.live_version = VLM_LIVE_V1PLUS;
    tp.strict = true;
    CHECK(vlm_conversation_parse(text_conv_json, strlen(text_conv_json), &c, e, sizeof e) == VLM_OK);
    CHECK_MSG(c && vlm_sample_build((vlm_tokenizer *)vlm_model_tokenizer(m), vlm_conversation_messages(c),
                                    vlm_conversation_size(c), &tp, &s, e, sizeof e) == VLM_OK, "%s", e);
    int32_t *ids = NULL, *mask = NULL, *labels = NULL;
    size_t S = 0;
    CHECK(vlm_collate(&s, 1, vlm_model_eos_id(m), &ids, &mask, &labels, &S) == VLM_OK);
    vlm_lora_params lp = vlm_lora_default_params();
    lp.lora_r = 4, lp.lora_alpha = 8, lp.lora_dropout = 0, lp.seed = SEED;
    vlm_trainable *t = NULL;
    vlm_train_context *ctx = NULL;
    CHECK(vlm_trainable_init(m, &lp, &t, e, sizeof e) == VLM_OK);
    vlm_train_context_params cp = vlm_train_context_default_params();
    cp.n_threads = nth;
    CHECK(t && vlm_train_context_init(m, t, &cp, &ctx, e, sizeof e) == VLM_OK);
    vlm_train_batch b = {ids, mask, labels, 1, S, feat + f0 * TPF * VD, (size_t)(f1 - f0)};
    double loss = -1;
    if (ctx) CHECK_MSG(vlm_train_forward(ctx, &b, true, 1.0f, &loss, NULL) == VLM_OK, "%s", vlm_train_last_error(ctx));
    snprintf(out, out_size, "%.4f", loss);
    vlm_train_context_free(ctx);
    vlm_trainable_free(t);
    free(ids), free(mask), free(labels);
    vlm_sample_free(&s);
    vlm_conversation_free(c);
}

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

/* lr 0, no dropout: the parameters never change, so step losses identify the conversations. */
static void test_conversations_used(const vlm_model *m, const float *feat, const char *data) {
    enum { EP = 4 };
    char out[700], err[1024];
    progress_log lg;
    snprintf(out, sizeof out, "%s/lr0", dir);
    vlm_train_run_params p = run_params(data, out, &lg);
    p.lr = 0;
    p.epochs = EP;
    CHECK_MSG(run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(lg.n == EP * N_SAMPLES);
    CHECK(has_line(&lg, "augmentation: 3 of 5 samples"));
    int epochs_unlike_plain = 0;
    char plain[N_SAMPLES][16];
    for (int k = 0; k < N_SAMPLES; k++) {
        vlm_prep_sample s;
        make_sample(k, &s);
        char *cj = vlm_prep_conversation_json(&s);
        loss_text(m, cj, s.frame_start, s.frame_end, feat, 2, plain[k], sizeof plain[k]);
        free(cj);
        vlm_prep_sample_free(&s);
    }
    for (int e = 0; e < EP && lg.n == EP * N_SAMPLES; e++) {
        char want[N_SAMPLES][32], got[N_SAMPLES][32];
        for (int k = 0; k < N_SAMPLES; k++) {
            vlm_prep_sample s, a;
            make_sample(k, &s);
            CHECK(vlm_prep_augment_epoch(&s, SEED, (uint64_t)e, (uint64_t)k, &a, err, sizeof err) == VLM_OK);
            char *cj = vlm_prep_conversation_json(&a);
            loss_text(m, cj, s.frame_start, s.frame_end, feat, 2, want[k], sizeof want[k]);
            if (k < 3) epochs_unlike_plain += strcmp(want[k], plain[k]) != 0;
            else CHECK(!strcmp(want[k], plain[k]));
            free(cj);
            vlm_prep_sample_free(&a);
            vlm_prep_sample_free(&s);
            CHECK(lg.epoch[e * N_SAMPLES + k] == e);
            memcpy(got[k], lg.loss[e * N_SAMPLES + k], sizeof got[k]);
        }
        qsort(want, N_SAMPLES, sizeof want[0], cmp_str);
        qsort(got, N_SAMPLES, sizeof got[0], cmp_str);
        bool same = true;
        for (int k = 0; k < N_SAMPLES; k++) same = same && !strcmp(want[k], got[k]);
        CHECK_MSG(same, "epoch %d: step losses %s %s %s %s %s, expected %s %s %s %s %s", e, got[0], got[1], got[2],
                  got[3], got[4], want[0], want[1], want[2], want[3], want[4]);
    }
    CHECK(epochs_unlike_plain > 0); /* the check above can tell an augmented conversation from the plain one */
    /* the same with 1 thread: the same conversations */
    progress_log l1;
    snprintf(out, sizeof out, "%s/lr0_t1", dir);
    p = run_params(data, out, &l1);
    p.lr = 0, p.epochs = EP, p.n_threads = 1;
    CHECK_MSG(run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(same_losses(&lg, 0, &l1, 0, EP * N_SAMPLES));
    printf("lr 0: the %d step losses are those of the documented augmented conversations (%d of %d augmented "
           "sample-epochs differ from the plain loss), the same with 1 thread\n", lg.n, epochs_unlike_plain,
           3 * EP);
}

static void test_runs_and_resume(const char *data) {
    char o1[700], o2[700], o3[700], o4[700], err[1024], a[800], b[800];
    progress_log l1, l2, l3, l4;
    snprintf(o1, sizeof o1, "%s/r1", dir);
    snprintf(o2, sizeof o2, "%s/r2", dir);
    snprintf(o3, sizeof o3, "%s/r3", dir);
    snprintf(o4, sizeof o4, "%s/r4", dir);
    /* accumulation 2 over batches of 1: 3 steps per epoch, 9 in all; dropout on */
    vlm_train_run_params p = run_params(data, o1, &l1);
    p.grad_accum = 2, p.lora.lora_dropout = 0.1f;
    CHECK_MSG(run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(l1.n == 9);
    p.out_dir = o2, p.user_data = &l2, memset(&l2, 0, sizeof l2);
    CHECK_MSG(run(&p, err, sizeof err) == VLM_OK, "%s", err);
    p.out_dir = o3, p.user_data = &l3, p.n_threads = 1, memset(&l3, 0, sizeof l3);
    CHECK_MSG(run(&p, err, sizeof err) == VLM_OK, "%s", err);
    snprintf(a, sizeof a, "%s/adapter/adapter_model.safetensors", o1);
    snprintf(b, sizeof b, "%s/adapter/adapter_model.safetensors", o2);
    CHECK(same_losses(&l1, 0, &l2, 0, 9) && same_file(a, b));
    snprintf(b, sizeof b, "%s/adapter/adapter_model.safetensors", o3);
    CHECK(same_losses(&l1, 0, &l3, 0, 9) && same_file(a, b));
    /* stop after 4 steps (inside epoch 2), resume */
    p.out_dir = o4, p.user_data = &l4, p.n_threads = 2, p.max_steps = 4, memset(&l4, 0, sizeof l4);
    CHECK_MSG(run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(l4.n == 4);
    progress_log l5;
    memset(&l5, 0, sizeof l5);
    p.max_steps = 0, p.user_data = &l5;
    CHECK_MSG(run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(l5.n == 5 && has_line(&l5, "at step 4 of 9"));
    CHECK(same_losses(&l1, 0, &l4, 0, 4) && same_losses(&l1, 4, &l5, 0, 5));
    snprintf(a, sizeof a, "%s/checkpoint.safetensors", o1);
    snprintf(b, sizeof b, "%s/checkpoint.safetensors", o4);
    CHECK(same_file(a, b));
    printf("two runs, 1 vs 2 threads: identical losses and adapters; resumed after 4 of 9 steps: losses %s .. %s "
           "and the checkpoint as uninterrupted\n", l5.loss[0], l5.loss[4]);

    /* the checkpoint remembers the setting */
    p.augmentation = false, p.epochs = 4;
    CHECK(run(&p, err, sizeof err) == VLM_ERR_INVALID_ARG && strstr(err, "with augmentation"));
    printf("refused: %s\n", err);
}

/* Fewer than 2 learned assistant turns: augmentation leaves the samples as they are. */
static void test_passthrough(const char *data) {
    char o1[700], o2[700], err[1024], a[800], b[800];
    progress_log l1, l2;
    snprintf(o1, sizeof o1, "%s/p1", dir);
    snprintf(o2, sizeof o2, "%s/p2", dir);
    vlm_train_run_params p = run_params(data, o1, &l1);
    p.lora.lora_dropout = 0.1f, p.epochs = 3;
    CHECK_MSG(run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(has_line(&l1, "augmentation: 0 of 2 samples"));
    p.augmentation = false, p.out_dir = o2, p.user_data = &l2, memset(&l2, 0, sizeof l2);
    CHECK_MSG(run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(l1.n == 6 && same_losses(&l1, 0, &l2, 0, 6));
    snprintf(a, sizeof a, "%s/adapter/adapter_model.safetensors", o1);
    snprintf(b, sizeof b, "%s/adapter/adapter_model.safetensors", o2);
    CHECK(same_file(a, b));
    printf("< 2 learned turns: losses %s .. %s and the adapter identical with and without augmentation\n",
           l1.loss[0], l1.loss[5]);
}

/* learn as int / false on streams and assistants, extra keys: the trainer's messages are those
 * of the equivalent vlm_prep_sample (INT kinds kept), seen through the lr-0 losses. */
static void test_hand_written(const vlm_model *m, const float *feat) {
    char data[700], out[700], err[1024];
    snprintf(data, sizeof data, "%s/hand.jsonl", dir);
    snprintf(out, sizeof out, "%s/hand", dir);
    FILE *f = fopen(data, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "\n{\"conversation\": [{\"role\": \"system\", \"content\": \"S.\", \"time\": 0}, {\"role\": \"stream\", "
               "\"num_frames\": 3, \"learn\": false}, {\"role\": \"user\", \"content\": \"Go.\", \"learn\": 0}, "
               "{\"role\": \"stream\", \"num_frames\": 3, \"learn\": 2, \"time\": 1.5}, {\"role\": \"assistant\", "
               "\"content\": \"One.\", \"learn\": 1}, {\"role\": \"stream\", \"num_frames\": 4, \"learn\": true}, "
               "{\"role\": \"assistant\", \"content\": \"Two.\", \"learn\": 7}], "
               "\"features\": \"feat.safetensors\", \"frames\": [2, 12], \"extra\": 1}\n");
    fclose(f);
    vlm_prep_sample s;
    memset(&s, 0, sizeof s);
    push(&s, SYS, "S.", 0, NONE, 0);
    push(&s, STR, NULL, 3, NONE, 0);
    push(&s, USR, "Go.", 0, NONE, 0);
    push(&s, STR, NULL, 3, INT, 2);
    push(&s, AST, "One.", 0, INT, 1);
    push(&s, STR, NULL, 4, BOOL, 1);
    push(&s, AST, "Two.", 0, INT, 7);
    progress_log lg;
    vlm_train_run_params p = run_params(data, out, &lg);
    p.lr = 0, p.epochs = 6;
    CHECK_MSG(run(&p, err, sizeof err) == VLM_OK, "%s", err);
    CHECK(has_line(&lg, "augmentation: 1 of 1 samples") && lg.n == 6);
    int changed = 0;
    for (int e = 0; e < 6 && e < lg.n; e++) {
        vlm_prep_sample a;
        CHECK(vlm_prep_augment_epoch(&s, SEED, (uint64_t)e, 0, &a, err, sizeof err) == VLM_OK);
        char *cj = vlm_prep_conversation_json(&a), want[32], plain[32];
        loss_text(m, cj, 2, 12, feat, 2, want, sizeof want);
        free(cj);
        cj = vlm_prep_conversation_json(&s);
        loss_text(m, cj, 2, 12, feat, 2, plain, sizeof plain);
        free(cj);
        changed += strcmp(want, plain) != 0;
        CHECK_MSG(!strcmp(lg.loss[e], want), "epoch %d: %s, expected %s", e, lg.loss[e], want);
        vlm_prep_sample_free(&a);
    }
    CHECK(changed > 0);
    vlm_prep_sample_free(&s);
    printf("hand-written line (int / false learn, extra keys): the expected conversations in 6 epochs (%d changed)\n",
           changed);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!tiny_tmpdir(dir, sizeof dir, "test_train_aug")) return 1;
    test_generator();

    char feat_path[800], aug[800], plain[800], err[1024];
    /* init std 0.2: a spread of losses, so that conversations are told apart by theirs */
    tiny_model_write(dir, 1, VD, TPF, 0.2, model_path, sizeof model_path);
    float *feat = tiny_features(NFRAMES, TPF, VD, 12345);
    snprintf(feat_path, sizeof feat_path, "%s/feat.safetensors", dir);
    tiny_write_features(feat_path, feat, NFRAMES, TPF, VD);
    snprintf(aug, sizeof aug, "%s/aug.jsonl", dir);
    snprintf(plain, sizeof plain, "%s/plain.jsonl", dir);
    static const int all[N_SAMPLES] = {0, 1, 2, 3, 4}, few[2] = {3, 4};
    write_data(aug, all, N_SAMPLES);
    write_data(plain, few, 2);

    vlm_model_params mp = vlm_model_default_params();
    vlm_model *m = NULL;
    CHECK_MSG(vlm_model_load(model_path, &mp, &m, err, sizeof err) == VLM_OK, "%s", err);
    if (m) {
        test_conversations_used(m, feat, aug);
        test_runs_and_resume(aug);
        test_passthrough(plain);
        test_hand_written(m, feat);
    }
    vlm_model_free(m);
    free(feat);
    int rc = check_done("test_train_aug");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!rc && system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    if (rc) fprintf(stderr, "kept %s\n", dir);
    return rc;
}
