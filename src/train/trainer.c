/* trainer.c - the `videollm train` loop: JSONL samples (conversation + frame
 * features) -> shuffled batches -> forward/backward with gradient
 * accumulation -> clipped AdamW on the cosine schedule, with atomic
 * checkpoints that a later run resumes from, and a PEFT adapter at the end
 * (full fine-tuning: the trained model as OUT/model.gguf + model.vision.gguf).
 *
 * Every sample is validated before the first step (conversation, labels,
 * feature file, frame range and count), so bad input fails early with the
 * line number; a failure during training (non-finite loss) stops before the
 * optimizer step, leaving the last checkpoint untouched.
 *
 * With augmentation (the original's, drawn in its dataset's __getitem__,
 * i.e. afresh every epoch), every sample with at least 2 learned assistant
 * turns keeps its messages; each time it is used, in epoch e, a copy goes
 * through vlm_prep_augment with the generator of (seed, e, sample index) and
 * is rendered, labelled and checked as at load. Frames never change. */
#include <jansson.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/util.h"
#include "io/safetensors.h"
#include "train/prepare.h"
#include "train/train_internal.h"

vlm_train_run_params vlm_train_run_default_params(void) {
    vlm_train_run_params p;
    memset(&p, 0, sizeof p);
    p.lora = vlm_lora_default_params();
    p.lr = 2e-4;
    p.epochs = 1;
    p.batch = 1;
    p.grad_accum = 8;
    p.warmup_ratio = 0.05;
    p.stream_loss_weight = 1.0f;
    p.n_threads = 2;
    p.adamw = vlm_adamw_default_params();
    return p;
}

typedef struct {
    size_t line;      /* 1-based line in the JSONL file */
    vlm_sample s;
    char *features;   /* resolved path */
    int64_t f0, f1;   /* frame range [f0, f1) */
    vlm_prep_sample *aug; /* augmentation: the messages, when there are >= 2 learned assistant turns */
} sample;

typedef struct {
    sample *v;
    size_t n, cap;
} sample_list;

static void samples_free(sample_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        vlm_sample_free(&l->v[i].s);
        free(l->v[i].features);
        vlm_prep_sample_free(l->v[i].aug);
        free(l->v[i].aug);
    }
    free(l->v);
}

static char *resolve(const char *data_path, const char *p) {
    if (p[0] == '/') return strdup(p);
    const char *slash = strrchr(data_path, '/');
    size_t dl = slash ? (size_t)(slash - data_path) + 1 : 0, pl = strlen(p);
    char *out = malloc(dl + pl + 1);
    if (!out) return NULL;
    memcpy(out, data_path, dl);
    memcpy(out + dl, p, pl + 1);
    return out;
}

/* Check a feature file: [T][tpf][D] of F32/F16/BF16 holding frames [f0, f1). */
static vlm_status check_features(const char *data, const char *path, int64_t f0, int64_t f1, int64_t tpf, int64_t D,
                                 size_t line, char *err, size_t err_size) {
    vlm_st_file *f;
    char e2[256];
    vlm_status st = vlm_st_open(path, &f, e2, sizeof e2);
    if (st) return vlm_set_err(err, err_size, st, "%s line %zu: feature file: %s", data, line, e2);
    if (vlm_st_count(f) != 1) {
        vlm_st_close(f);
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s line %zu: %s must hold exactly one tensor", data, line, path);
    }
    const vlm_st_tensor *t = vlm_st_at(f, 0);
    if (t->n_dims != 3 || t->shape[1] != tpf || t->shape[2] != D ||
        (t->dtype != VLM_ST_F32 && t->dtype != VLM_ST_F16 && t->dtype != VLM_ST_BF16))
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                         "%s line %zu: %s: tensor '%s' must be [frames, %lld, %lld] of F32/F16/BF16", data, line, path, t->name,
                         (long long)tpf, (long long)D);
    else if (f1 > t->shape[0])
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s line %zu: frames [%lld, %lld) go past the %lld frames of %s",
                         data, line, (long long)f0, (long long)f1, (long long)t->shape[0], path);
    vlm_st_close(f);
    return st;
}

/* The live template of the model (live1+ for 10 tokens per frame, live1 for 1), strict. */
static vlm_template_params live_template(const vlm_model_hparams *hp) {
    vlm_template_params tp = vlm_template_default_params();
    tp.live_version = hp->frame_num_tokens == 1 ? VLM_LIVE_V1 : VLM_LIVE_V1PLUS;
    tp.strict = true;
    return tp;
}

/* Augmentation: keep the messages of a sample with at least 2 learned
 * assistant turns in the form vlm_prep_augment works on (fewer: the
 * original's augment() leaves the sample as it is, so it is used as loaded).
 * That form must render back to exactly the sample's text and learn ranges
 * (it does for everything the loader and the strict checks accept: extra keys
 * are ignored by the template as by the original; checked all the same). */
static vlm_status keep_for_augmentation(const vlm_conversation *cv, const vlm_template_params *tp, sample *sm,
                                        const char *data, char *err, size_t err_size) {
    const vlm_message *ms = vlm_conversation_messages(cv);
    const size_t n = vlm_conversation_size(cv);
    size_t learned = 0;
    for (size_t i = 0; i < n; i++) learned += ms[i].role == VLM_ROLE_ASSISTANT && ms[i].learn != 0;
    if (learned < 2) return VLM_OK;
    char e2[512] = "";
    vlm_prep_sample *ps = calloc(1, sizeof *ps);
    if (!ps) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    ps->frame_start = sm->f0;
    ps->frame_end = sm->f1;
    vlm_status st = VLM_OK;
    for (size_t i = 0; i < n && !st; i++) {
        const vlm_message *m = &ms[i];
        const bool text = m->role != VLM_ROLE_STREAM && m->content_state == VLM_FIELD_OK;
        /* learn: absent/false/0 -> none, true (or a truthy value of another type) -> bool, else the int */
        vlm_prep_learn_kind lk = VLM_PREP_LEARN_INT;
        int64_t learn = m->learn;
        if (m->learn == 0) lk = VLM_PREP_LEARN_NONE;
        else if (m->learn_bad || m->learn == VLM_LEARN_ALL) lk = VLM_PREP_LEARN_BOOL, learn = 1;
        if (vlm_prep_push(ps, m->role, text ? m->content : NULL, m->role == VLM_ROLE_STREAM ? m->num_frames : 0, lk,
                          learn))
            st = vlm_set_err(e2, sizeof e2, VLM_ERR_OOM, "out of memory");
    }
    char *cj = NULL, *text = NULL;
    vlm_conversation *c2 = NULL;
    int64_t *rg = NULL;
    size_t tl = 0, nr = 0;
    if (!st && !(cj = vlm_prep_conversation_json(ps))) st = vlm_set_err(e2, sizeof e2, VLM_ERR_OOM, "out of memory");
    if (!st) st = vlm_conversation_parse(cj, strlen(cj), &c2, e2, sizeof e2);
    if (!st)
        st = vlm_template_render(vlm_conversation_messages(c2), vlm_conversation_size(c2), tp, &text, &tl, e2,
                                 sizeof e2);
    if (!st)
        st = vlm_learn_ranges(vlm_conversation_messages(c2), vlm_conversation_size(c2), tp, &rg, &nr, e2, sizeof e2);
    if (!st && (tl != sm->s.text_len || memcmp(text, sm->s.text, tl) || nr != sm->s.n_ranges ||
                (nr && memcmp(rg, sm->s.ranges, nr * 2 * sizeof *rg))))
        st = vlm_set_err(e2, sizeof e2, VLM_ERR_FORMAT, "the messages do not render back to the same text and learn "
                         "ranges (fields of unexpected types?)");
    free(cj), free(text), free(rg);
    vlm_conversation_free(c2);
    if (st) {
        vlm_prep_sample_free(ps);
        free(ps);
        return vlm_set_err(err, err_size, st, "%s line %zu: cannot be augmented: %s", data, sm->line, e2);
    }
    sm->aug = ps;
    return VLM_OK;
}

static vlm_status load_samples(const vlm_train_run_params *p, const vlm_model *m, sample_list *out, char *err,
                               size_t err_size) {
    size_t len;
    char e2[512];
    char *text = vlm_read_file(p->data_path, &len, e2, sizeof e2);
    if (!text) return vlm_set_err(err, err_size, VLM_ERR_IO, "%s", e2);
    vlm_tokenizer *tok = (vlm_tokenizer *)vlm_model_tokenizer(m); /* <v> is registered: not modified */
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    const int64_t tpf = hp->frame_num_tokens, D = hp->v_n_embd;
    const vlm_template_params tp = live_template(hp);
    vlm_status st = VLM_OK;
    size_t line = 0;
    for (char *s = text; s < text + len && !st;) {
        char *nl = memchr(s, '\n', (size_t)(text + len - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(text + len - s);
        line++;
        char *cur = s;
        s += n + 1;
        while (n && (cur[n - 1] == '\r' || cur[n - 1] == ' ' || cur[n - 1] == '\t')) n--;
        if (n == 0) continue;
        json_error_t je;
        json_t *o = json_loadb(cur, n, 0, &je);
        if (!o || !json_is_object(o)) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s line %zu: %s", p->data_path, line,
                             o ? "not a JSON object" : je.text);
            json_decref(o);
            break;
        }
        json_t *conv = json_object_get(o, "conversation"), *feat = json_object_get(o, "features");
        json_t *fr = json_object_get(o, "frames");
        if (!json_is_array(conv) || !json_is_string(feat) || !json_is_array(fr) || json_array_size(fr) != 2 ||
            !json_is_integer(json_array_get(fr, 0)) || !json_is_integer(json_array_get(fr, 1))) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                             "%s line %zu: expected {\"conversation\": [...], \"features\": \"file.safetensors\", "
                             "\"frames\": [start, end]}", p->data_path, line);
            json_decref(o);
            break;
        }
        sample sm;
        memset(&sm, 0, sizeof sm);
        sm.line = line;
        sm.f0 = json_integer_value(json_array_get(fr, 0));
        sm.f1 = json_integer_value(json_array_get(fr, 1));
        sm.features = resolve(p->data_path, json_string_value(feat));
        char *cj = json_dumps(conv, JSON_COMPACT);
        json_decref(o);
        vlm_conversation *cv = NULL;
        if (!sm.features || !cj) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        else if (sm.f0 < 0 || sm.f1 < sm.f0 || sm.f1 > ((int64_t)1 << 31)) /* [f, f): a text-only sample */
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s line %zu: frames [%lld, %lld) is not a range of "
                             "frame indices below 2^31",
                             p->data_path, line, (long long)sm.f0, (long long)sm.f1);
        else if ((st = vlm_conversation_parse(cj, strlen(cj), &cv, e2, sizeof e2)))
            vlm_set_err(err, err_size, st, "%s line %zu: conversation: %s", p->data_path, line, e2);
        else if ((st = vlm_sample_build(tok, vlm_conversation_messages(cv), vlm_conversation_size(cv), &tp, &sm.s, e2,
                                        sizeof e2)))
            vlm_set_err(err, err_size, st, "%s line %zu: %s", p->data_path, line, e2);
        else if (p->augmentation)
            st = keep_for_augmentation(cv, &tp, &sm, p->data_path, err, err_size);
        free(cj);
        vlm_conversation_free(cv);
        if (!st) {
            int64_t nv = 0;
            for (size_t i = 0; i < sm.s.toks.n; i++) nv += sm.s.toks.ids[i] == hp->v_placeholder_id;
            if (nv != (sm.f1 - sm.f0) * tpf)
                st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                                 "%s line %zu: the conversation has %lld stream frames but frames [%lld, %lld) gives "
                                 "%lld", p->data_path, line, (long long)(nv / tpf), (long long)sm.f0, (long long)sm.f1,
                                 (long long)(sm.f1 - sm.f0));
            else if (sm.f1 > sm.f0) /* text-only samples (no stream) need no feature file */
                st = check_features(p->data_path, sm.features, sm.f0, sm.f1, tpf, D, line, err, err_size);
        }
        if (!st && out->n == out->cap) {
            size_t nc = out->cap ? out->cap * 2 : 64;
            sample *nv2 = realloc(out->v, nc * sizeof *nv2);
            if (!nv2) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
            else out->v = nv2, out->cap = nc;
        }
        if (st) {
            vlm_sample_free(&sm.s);
            free(sm.features);
            vlm_prep_sample_free(sm.aug);
            free(sm.aug);
            break;
        }
        out->v[out->n++] = sm;
    }
    free(text);
    if (!st && out->n == 0) st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: no samples", p->data_path);
    return st;
}

/* Augmentation: the conversation sample sm (index `index` of the data file)
 * trains on in epoch `epoch` (0-based), i.e. its messages through
 * vlm_prep_augment_epoch, rendered, labelled and checked exactly as at load;
 * the <v> count must still match the sample's frames. */
static vlm_status augmented_sample(const vlm_train_run_params *p, const sample *sm, size_t index, int64_t epoch,
                                   vlm_tokenizer *tok, const vlm_template_params *tp, const vlm_model_hparams *hp,
                                   vlm_sample *out, char *err, size_t err_size) {
    char e2[512];
    vlm_prep_sample a;
    char *cj = NULL;
    vlm_conversation *cv = NULL;
    memset(out, 0, sizeof *out);
    vlm_status st = vlm_prep_augment_epoch(sm->aug, p->lora.seed, (uint64_t)epoch, index, &a, e2, sizeof e2);
    if (st) return vlm_set_err(err, err_size, st, "%s line %zu, epoch %lld: augmentation: %s", p->data_path, sm->line,
                               (long long)epoch + 1, e2);
    if (!(cj = vlm_prep_conversation_json(&a))) st = vlm_set_err(e2, sizeof e2, VLM_ERR_OOM, "out of memory");
    vlm_prep_sample_free(&a);
    if (!st) st = vlm_conversation_parse(cj, strlen(cj), &cv, e2, sizeof e2);
    if (!st)
        st = vlm_sample_build(tok, vlm_conversation_messages(cv), vlm_conversation_size(cv), tp, out, e2, sizeof e2);
    if (!st) {
        int64_t nv = 0;
        for (size_t i = 0; i < out->toks.n; i++) nv += out->toks.ids[i] == hp->v_placeholder_id;
        if (nv != (sm->f1 - sm->f0) * hp->frame_num_tokens) {
            st = vlm_set_err(e2, sizeof e2, VLM_ERR_FORMAT, "%lld stream frames instead of %lld",
                             (long long)(nv / hp->frame_num_tokens), (long long)(sm->f1 - sm->f0));
            vlm_sample_free(out);
        }
    }
    free(cj);
    vlm_conversation_free(cv);
    if (st)
        vlm_set_err(err, err_size, st, "%s line %zu, epoch %lld: the augmented conversation fails the checks: %s; the "
                    "last checkpoint is left as it was", p->data_path, sm->line, (long long)epoch + 1, e2);
    return st;
}

/* frames of the batch's samples, in order: [sum frames][tpf][D] f32 */
static vlm_status load_frames(sample *const *bs, size_t nb, int64_t tpf, int64_t D, float **out, size_t *n_frames,
                              char *err, size_t err_size) {
    size_t nf = 0;
    for (size_t i = 0; i < nb; i++) nf += (size_t)(bs[i]->f1 - bs[i]->f0);
    const size_t per = (size_t)(tpf * D);
    float *buf = malloc((nf ? nf : 1) * per * sizeof(float));
    if (!buf) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory for %zu frames", nf);
    size_t at = 0;
    for (size_t i = 0; i < nb; i++) {
        if (bs[i]->f1 == bs[i]->f0) continue; /* text-only sample */
        vlm_st_file *f;
        char e2[256];
        vlm_status st = vlm_st_open(bs[i]->features, &f, e2, sizeof e2);
        if (!st) {
            const vlm_st_tensor *t = vlm_st_at(f, 0);
            int64_t cnt = (bs[i]->f1 - bs[i]->f0) * (int64_t)per;
            st = vlm_st_read_f32(t, bs[i]->f0 * (int64_t)per, cnt, buf + at * per, e2, sizeof e2);
            vlm_st_close(f);
        }
        if (st) {
            free(buf);
            return vlm_set_err(err, err_size, st, "line %zu: features: %s", bs[i]->line, e2);
        }
        at += (size_t)(bs[i]->f1 - bs[i]->f0);
    }
    *out = buf;
    *n_frames = nf;
    return VLM_OK;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress(const vlm_train_run_params *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(const vlm_train_run_params *p, const char *fmt, ...) {
    if (!p->progress) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->progress(line, p->user_data);
}

/* A --freeze item's slice: a trailing "[r0:r1]" or "[r0:r1,c0:c1]" (Hugging Face [rows][cols], half-open,
 * an empty bound meaning the start or the end). Returns the pattern's length without the slice (len when
 * there is none: a trailing bracket that is not two or four bounds is left to fnmatch, e.g. "[01]"). */
typedef struct {
    int n;             /* 0: the whole tensor; 1: rows; 2: rows and cols */
    int64_t lo[2], hi[2]; /* hi -1: to the end */
} hold_slice;

static size_t parse_slice(const char *item, size_t len, hold_slice *sl) {
    sl->n = 0;
    if (len < 3 || item[len - 1] != ']') return len;
    size_t open = len - 1;
    while (open > 0 && item[open - 1] != '[') open--;
    if (open == 0) return len;
    const char *q = item + open, *e = item + len - 1;
    hold_slice t = {0};
    while (t.n < 2) {
        int64_t v[2] = {0, -1};
        for (int b = 0; b < 2; b++) {
            if (q < e && *q >= '0' && *q <= '9') {
                int64_t x = 0;
                for (; q < e && *q >= '0' && *q <= '9'; q++) {
                    if (x > ((int64_t)1 << 40)) return len;
                    x = x * 10 + (*q - '0');
                }
                v[b] = x;
            }
            if (b == 0) {
                if (q >= e || *q != ':') return len;
                q++;
            }
        }
        t.lo[t.n] = v[0], t.hi[t.n] = v[1], t.n++;
        if (q == e) break;
        if (*q != ',' || t.n == 2) return len;
        q++;
    }
    if (q != e) return len;
    *sl = t;
    return open - 1;
}

/* Mark the elements of tensor q in the slice as held; returns how many were newly held, or with err set
 * -1 (a slice outside the tensor) or -2 (out of memory). */
static int64_t hold_elements(vlm_tparam *q, const hold_slice *sl, const char *item, char *err, size_t err_size) {
    const int64_t dim[2] = {q->rows, q->cols};
    int64_t lo[2] = {0, 0}, hi[2] = {q->rows, q->cols};
    if (sl->n == 2 && q->n_dims < 2) {
        vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "train: freeze slice in '%s' gives rows and columns, but "
                    "%s has one dimension (%lld)", item, q->name, (long long)q->rows);
        return -1;
    }
    for (int d = 0; d < sl->n; d++) {
        lo[d] = sl->lo[d], hi[d] = sl->hi[d] < 0 ? dim[d] : sl->hi[d];
        if (!(lo[d] < hi[d] && hi[d] <= dim[d])) {
            vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "train: freeze slice in '%s': %s %lld:%lld is empty or "
                        "outside %s [%lld x %lld]", item, d ? "columns" : "rows", (long long)lo[d], (long long)hi[d],
                        q->name, (long long)q->rows, (long long)q->cols);
            return -1;
        }
    }
    if (!q->hold && !(q->hold = calloc((size_t)q->n, 1))) {
        vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        return -2;
    }
    int64_t added = 0;
    for (int64_t f = lo[0]; f < hi[0]; f++) {
        const int64_t g = vlm_train_stored_row(f, q->head_dim); /* q/k rows are stored per head in the GGUF order */
        for (int64_t c = lo[1]; c < hi[1]; c++) {
            uint8_t *h = &q->hold[g * q->cols + c];
            added += !*h;
            *h = 1;
        }
    }
    return added;
}

/* --freeze: mark the tensors whose names match one of the comma-separated fnmatch patterns (a pattern
 * ending in a slice holds only those elements). The training loop thaws them once t->step reaches
 * freeze_steps (never when it is 0); on a resume, the steps a tensor already sat out are restored for
 * its AdamW bias correction. */
static vlm_status resolve_freeze(const vlm_train_run_params *p, vlm_trainable *t, char *err, size_t err_size) {
    if (!p->freeze) {
        if (p->freeze_steps != 0)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "train: freeze steps given without tensors "
                               "to freeze");
        return VLM_OK;
    }
    if (p->freeze_steps < 0)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "train: freeze steps must be >= 0");
    const char *s = p->freeze;
    size_t n_tensors = 0, n_sliced = 0;
    int64_t n_values = 0, n_held = 0;
    for (;;) {
        const char *e = s;
        for (int depth = 0; *e && (depth > 0 || *e != ','); e++) /* commas inside a slice do not split */
            depth += *e == '[' ? 1 : *e == ']' && depth > 0 ? -1 : 0;
        size_t len = (size_t)(e - s);
        char item[256], pat[256];
        if (len == 0 || len >= sizeof pat)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "train: freeze pattern %zu characters long "
                               "in '%.200s' (1 to 255 expected)", len, p->freeze);
        memcpy(item, s, len);
        item[len] = 0;
        hold_slice sl;
        const size_t plen = parse_slice(item, len, &sl);
        memcpy(pat, item, plen);
        pat[plen] = 0;
        size_t hits = 0;
        for (size_t i = 0; i < t->n_params; i++) {
            vlm_tparam *q = &t->params[i];
            if (fnmatch(pat, q->name, 0) != 0) continue;
            hits++;
            if (sl.n > 0) {
                const bool had = q->hold != NULL;
                const int64_t added = hold_elements(q, &sl, item, err, err_size);
                if (added < 0) return added == -2 ? VLM_ERR_OOM : VLM_ERR_INVALID_ARG;
                n_held += added, n_sliced += !had;
                continue;
            }
            if (!q->frozen) n_tensors++, n_values += q->n;
            q->frozen = true;
        }
        if (!hits)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "train: freeze pattern '%s' matches no trained "
                               "tensor (names as in the Hugging Face checkpoint, e.g. model.layers.0.self_attn.q_proj."
                               "weight, connector.0.weight%s)", pat, t->full ? "" : ", or the PEFT names of the LoRA "
                               "tensors");
        if (!*e) break;
        s = e + 1;
    }
    for (size_t i = 0; i < t->n_params; i++) /* a whole frozen tensor needs no slices */
        if (t->params[i].frozen && t->params[i].hold) {
            for (int64_t k = 0; k < t->params[i].n; k++) n_held -= t->params[i].hold[k];
            free(t->params[i].hold);
            t->params[i].hold = NULL;
            n_sliced--;
        }
    const int64_t sat_out = p->freeze_steps > 0 && t->step > p->freeze_steps ? p->freeze_steps : t->step;
    const bool thawed = p->freeze_steps > 0 && t->step >= p->freeze_steps;
    for (size_t i = 0; i < t->n_params; i++)
        if (t->params[i].frozen) t->params[i].skipped = sat_out;
    char what[160];
    if (n_sliced && !n_tensors)
        snprintf(what, sizeof what, "%lld values of %zu tensors", (long long)n_held, n_sliced);
    else if (n_sliced)
        snprintf(what, sizeof what, "%zu tensors (%lld values) and %lld values of %zu more", n_tensors,
                 (long long)n_values, (long long)n_held, n_sliced);
    else
        snprintf(what, sizeof what, "%zu tensors (%lld values)", n_tensors, (long long)n_values);
    if (p->freeze_steps > 0)
        progress(p, "freezing %s until step %lld%s", what, (long long)p->freeze_steps, thawed ? " (already past)" : "");
    else
        progress(p, "freezing %s for the whole run", what);
    return VLM_OK;
}

vlm_status vlm_train_run(const vlm_train_run_params *p, char *err, size_t err_size) {
    if (!p || !p->model_path || !p->data_path || !p->out_dir)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "train: --model, --data and --out are required");
    if (p->epochs < 1 || p->batch < 1 || p->grad_accum < 1 || !(p->lr >= 0) || !(p->warmup_ratio >= 0) ||
        p->warmup_ratio > 1 || p->n_threads < 1)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "train: epochs, batch, grad-accum and threads must be >= 1, lr >= 0, warmup ratio in [0, 1]");
    if (p->lora.full && p->init_adapter)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "train: full fine-tuning starts from the base model; "
                           "an initial LoRA adapter (%s) does not apply", p->init_adapter);
    if (p->lora.full && p->out_type != VLM_WTYPE_F32 && p->out_type != VLM_WTYPE_F16 && p->out_type != VLM_WTYPE_BF16)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "train: export type must be f32, f16 or bf16");
    if (mkdir(p->out_dir, 0777) != 0) {
        struct stat sb;
        if (stat(p->out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return vlm_set_err(err, err_size, VLM_ERR_IO, "cannot create the output folder %s", p->out_dir);
    }
    vlm_model_params mp = vlm_model_default_params();
    vlm_model *m = NULL;
    vlm_trainable *t = NULL;
    vlm_train_context *c = NULL;
    sample_list sl = {0};
    sample **order = NULL;
    int32_t *ids = NULL, *mask = NULL, *labels = NULL;
    float *frames = NULL;
    vlm_status st = vlm_model_load(p->model_path, &mp, &m, err, err_size);
    if (st) return st;
    if (!vlm_model_tokenizer(m) || !vlm_model_has_vision(m)) {
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: training needs the tokenizer and the vision file "
                         "(for the connector's shape and initial weights)", p->model_path);
        goto out;
    }
    if ((st = load_samples(p, m, &sl, err, err_size))) goto out;
    if ((st = vlm_trainable_init(m, &p->lora, &t, err, err_size))) goto out;
    if (p->init_adapter && (st = vlm_trainable_load_peft(t, p->init_adapter, err, err_size))) goto out;
    vlm_train_context_params cp = vlm_train_context_default_params();
    cp.n_threads = p->n_threads;
    cp.stream_loss_weight = p->stream_loss_weight;
    if ((st = vlm_train_context_init(m, t, &cp, &c, err, err_size))) goto out;

    const size_t B = (size_t)p->batch, A = (size_t)p->grad_accum;
    const size_t n_batches = (sl.n + B - 1) / B; /* the last batch may be smaller (drop_last = False) */
    const int64_t steps_per_epoch = (int64_t)((n_batches + A - 1) / A);
    const int64_t total = steps_per_epoch * p->epochs;
    const int64_t warm = vlm_warmup_steps(p->warmup_ratio, total);
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", p->out_dir);
    /* the checkpoint's first extra counter holds flags: bit 0 = augmentation (written only when set,
     * so a run without it writes the same file as before the option existed) */
    const uint64_t flags = p->augmentation ? 1 : 0;
    const uint64_t *ck_extra = flags ? &flags : NULL;
    const size_t ck_n_extra = flags ? 1 : 0;
    FILE *probe = fopen(ckpt, "rb");
    if (probe) {
        fclose(probe);
        uint64_t got = 0;
        if ((st = vlm_trainable_load_state(t, ckpt, &got, 1, err, err_size))) goto out;
        if ((got & 1) != flags) {
            st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "%s was written by a run %s augmentation; resume it "
                             "with the same setting", ckpt, got & 1 ? "with" : "without");
            goto out;
        }
        progress(p, "resuming from %s at step %lld of %lld", ckpt, (long long)t->step, (long long)total);
    }
    if ((st = resolve_freeze(p, t, err, err_size))) goto out;
    bool frozen = p->freeze != NULL; /* until the loop thaws them at freeze_steps */
    order = malloc(sl.n * sizeof *order);
    if (!order) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto out;
    }
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    const int32_t eos = vlm_model_eos_id(m);
    const vlm_template_params tp = live_template(hp);
    vlm_tokenizer *tok = (vlm_tokenizer *)vlm_model_tokenizer(m); /* <v> is registered: not modified */
    if (p->augmentation) {
        size_t na = 0;
        for (size_t i = 0; i < sl.n; i++) na += sl.v[i].aug != NULL;
        progress(p, "augmentation: %zu of %zu samples have at least 2 learned assistant turns and are augmented "
                 "afresh every epoch", na, sl.n);
    }
    double t_start = now_s();
    int64_t tokens_done = 0, steps_this_run = 0;
    while (t->step < total && (p->max_steps <= 0 || steps_this_run < p->max_steps)) {
        const int64_t epoch = t->step / steps_per_epoch, k = t->step % steps_per_epoch;
        /* the epoch's order: a seeded Fisher-Yates shuffle, the same on every resume */
        for (size_t i = 0; i < sl.n; i++) order[i] = &sl.v[i];
        uint64_t rs = vlm_train_mix(p->lora.seed ^ vlm_train_mix((uint64_t)epoch + 0x7e57ull));
        for (size_t i = sl.n; i > 1; i--) {
            rs = vlm_train_mix(rs);
            size_t j = (size_t)(rs % i);
            sample *tmp = order[i - 1];
            order[i - 1] = order[j];
            order[j] = tmp;
        }
        vlm_trainable_zero_grad(t);
        double loss_acc = 0;
        int n_micro = 0;
        for (size_t mb = (size_t)k * A; mb < n_batches && mb < (size_t)(k + 1) * A; mb++) {
            size_t b0 = mb * B, nb = sl.n - b0 < B ? sl.n - b0 : B;
            vlm_sample tmp[64];
            vlm_sample *sm = nb <= 64 ? tmp : malloc(nb * sizeof *sm);
            if (!sm) {
                st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
                goto out;
            }
            for (size_t i = 0; i < nb; i++) sm[i] = order[b0 + i]->s;
            size_t n_aug = 0; /* sm[0, n_aug) are checked for augmented copies (owned here) */
            for (; p->augmentation && !st && n_aug < nb; n_aug++)
                if (order[b0 + n_aug]->aug)
                    st = augmented_sample(p, order[b0 + n_aug], (size_t)(order[b0 + n_aug] - sl.v), epoch, tok, &tp,
                                          hp, &sm[n_aug], err, err_size);
            size_t S = 0, nf = 0;
            if (!st && (st = vlm_collate(sm, nb, eos, &ids, &mask, &labels, &S))) vlm_set_err(err, err_size, st,
                                                                                           "collate failed");
            for (size_t i = 0; i < n_aug; i++)
                if (order[b0 + i]->aug) vlm_sample_free(&sm[i]); /* zeroed when its build failed */
            if (sm != tmp) free(sm);
            if (st) goto out;
            if ((st = load_frames(order + b0, nb, hp->frame_num_tokens, hp->v_n_embd, &frames, &nf, err, err_size)))
                goto out;
            vlm_train_batch tb = {ids, mask, labels, nb, S, frames, nf};
            double loss;
            st = vlm_train_forward(c, &tb, true, 1.0f / (float)A, &loss, NULL);
            if (st) {
                char lines[200];
                int o = 0;
                for (size_t i = 0; i < nb && o < (int)sizeof lines - 24; i++)
                    o += snprintf(lines + o, sizeof lines - (size_t)o, "%s%zu", i ? ", " : "", order[b0 + i]->line);
                vlm_set_err(err, err_size, st, "%s (sample line %s of %s); the last checkpoint is left as it was",
                            vlm_train_last_error(c), lines, p->data_path);
                goto out;
            }
            for (size_t i = 0; i < nb * S; i++) tokens_done += mask[i] != 0;
            loss_acc += loss;
            n_micro++;
            free(ids), free(mask), free(labels), free(frames);
            ids = mask = labels = NULL;
            frames = NULL;
        }
        double lr = vlm_cosine_lr(p->lr, t->step, warm, total), gnorm = 0;
        if (frozen && p->freeze_steps > 0 && t->step >= p->freeze_steps) {
            for (size_t i = 0; i < t->n_params; i++) t->params[i].frozen = false;
            vlm_train_release_holds(t);
            frozen = false;
            progress(p, "step %lld: the frozen tensors train from here on", (long long)t->step);
        }
        if ((st = vlm_adamw_step(t, &p->adamw, lr, &gnorm))) {
            vlm_set_err(err, err_size, st, "the gradient norm is not finite at step %lld", (long long)t->step);
            goto out;
        }
        steps_this_run++;
        double el = now_s() - t_start, eta = el / (double)steps_this_run * (double)(total - t->step);
        progress(p, "step %lld/%lld epoch %lld loss %.4f lr %.3g grad_norm %.3g %.0f tokens/s ETA %02d:%02d:%02d",
                 (long long)t->step, (long long)total, (long long)epoch + 1, loss_acc / (n_micro ? n_micro : 1), lr,
                 gnorm, (double)tokens_done / (el > 0 ? el : 1e-9), (int)(eta / 3600), (int)fmod(eta / 60, 60),
                 (int)fmod(eta, 60));
        if ((p->save_every > 0 && t->step % p->save_every == 0) || t->step == total) {
            if ((st = vlm_trainable_save_state(t, ckpt, ck_extra, ck_n_extra, err, err_size))) goto out;
        }
    }
    if (t->step < total) /* stopped by max_steps: keep the state for a resume */
        st = vlm_trainable_save_state(t, ckpt, ck_extra, ck_n_extra, err, err_size);
    if (!st && p->lora.full) {
        char mpath[4200];
        const char *name = p->model_name && *p->model_name ? p->model_name : "model";
        snprintf(mpath, sizeof mpath, "%s/%s.gguf", p->out_dir, name);
        st = vlm_trainable_export_gguf(t, m, mpath, p->out_type, err, err_size);
        if (!st) progress(p, "model written to %s and %s/%s.vision.gguf (step %lld of %lld)", mpath, p->out_dir, name,
                          (long long)t->step, (long long)total);
    } else if (!st) {
        char ad[4200];
        snprintf(ad, sizeof ad, "%s/adapter", p->out_dir);
        st = vlm_trainable_save_peft(t, ad, err, err_size);
        if (!st) progress(p, "adapter written to %s (step %lld of %lld)", ad, (long long)t->step, (long long)total);
    }
out:
    free(ids), free(mask), free(labels), free(frames);
    free(order);
    vlm_train_context_free(c);
    vlm_trainable_free(t);
    samples_free(&sl);
    vlm_model_free(m);
    return st;
}
