/* run.c - evaluating a model on a data file with the streaming metrics:
 * each JSON line (conversation + precomputed vision features) is rendered,
 * labelled and tokenized like a training sample, its frames go through the
 * connector, one forward over the whole sample gives the per-position
 * summaries, and metrics.c turns them into LM-PPL, LM-Correctness,
 * frame_diff and Fluency, calling back here for the look-ahead of future
 * frames (the KV cache trimmed to just after a turn's last stream position).
 * The baselines (always silent, speak every K frames) go through the same
 * preparation and the same metric code with fixed decisions in place of the
 * model's, and need only a tokenizer.
 * Data format and interpretations: docs/evaluation.md. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/safetensors.h"

#define IGNORE_INDEX (-100)

vlm_eval_params vlm_eval_default_params(void) {
    vlm_eval_params p = {.threshold = 0.0f, .n_threads = 2, .n_batch = 64};
    return p;
}

/* ---- one sample's state --------------------------------------------------- */
typedef struct {
    char *text;
    size_t text_len;
    int64_t *ranges; /* [n_ranges*2] */
    size_t n_ranges;
    vlm_tokens toks;
    int32_t *labels;      /* [toks.n]                                  */
    float *features;      /* [n_frames][nft][v_n_embd] before the connector */
    float *embd;          /* [n_frames*nft][n_embd] after the connector */
    vlm_lm_input *in;     /* [toks.n]                                  */
    vlm_eval_pos *pos;    /* [toks.n]                                  */
    double *p_frame;      /* [n_frames]                                */
    int64_t *reply_frames;
    size_t n_reply;
    int64_t frame_start, n_frames;
} sample_buf;

static void sample_buf_free(sample_buf *s) {
    free(s->text);
    free(s->ranges);
    vlm_tokens_free(&s->toks);
    free(s->labels);
    free(s->features);
    free(s->embd);
    free(s->in);
    free(s->pos);
    free(s->p_frame);
    free(s->reply_frames);
    memset(s, 0, sizeof *s);
}

/* Look-ahead state: the LM context holds the sample's first n_valid positions. */
typedef struct {
    vlm_lm_context *lm;
    const vlm_lm_input *in; /* the sample's inputs [n] */
    size_t n;
    int64_t n_valid;
    const float *embd; /* [n_frames][nft][n_embd] */
    int64_t n_frames;
    int32_t nft, n_embd, n_vocab, n_batch;
    int32_t interval_tok; /* token fed before each frame, -1 for none (live1) */
    int32_t decision_id;  /* P(.) read at each frame's last token            */
    float *logits;        /* [n_vocab] */
    vlm_lm_input *frame_in; /* [nft + 1] */
    char msg[512];
} ahead_state;

static vlm_status lm_fail(ahead_state *a, vlm_status st, const char *what) {
    snprintf(a->msg, sizeof a->msg, "%s: %s", what, vlm_lm_last_error(a->lm));
    return st;
}

static vlm_status lookahead(void *ud, int64_t n_keep, int64_t first_frame, int64_t n_frames, vlm_eval_pos *out) {
    ahead_state *a = ud;
    if (n_keep < 0 || (size_t)n_keep > a->n || first_frame < 0 || n_frames < 0 ||
        first_frame > a->n_frames - n_frames) {
        snprintf(a->msg, sizeof a->msg, "look-ahead out of range (keep %lld of %zu positions, frames %lld+%lld of %lld)",
                 (long long)n_keep, a->n, (long long)first_frame, (long long)n_frames, (long long)a->n_frames);
        return VLM_ERR_INVALID_ARG;
    }
    vlm_status st;
    if (n_keep <= a->n_valid) {
        if ((st = vlm_lm_kv_trim(a->lm, (int32_t)n_keep))) return lm_fail(a, st, "trimming the cache");
    } else { /* an earlier look-ahead trimmed further: run the sample up to n_keep again */
        if ((st = vlm_lm_kv_trim(a->lm, (int32_t)a->n_valid))) return lm_fail(a, st, "trimming the cache");
        for (int64_t p = a->n_valid; p < n_keep; p += a->n_batch) {
            int64_t c = n_keep - p < a->n_batch ? n_keep - p : a->n_batch;
            if ((st = vlm_lm_eval(a->lm, a->in + p, (size_t)c, VLM_LOGITS_NONE, NULL)))
                return lm_fail(a, st, "re-running the sample");
        }
    }
    a->n_valid = n_keep;
    for (int64_t j = 0; j < n_frames; j++) { /* [interval] + <v> x nft, score at the frame's last token */
        size_t k = 0;
        if (a->interval_tok >= 0) a->frame_in[k++] = (vlm_lm_input){.token = a->interval_tok, .embd = NULL};
        for (int32_t t = 0; t < a->nft; t++)
            a->frame_in[k++] = (vlm_lm_input){
                .token = 0, .embd = a->embd + ((size_t)(first_frame + j) * (size_t)a->nft + (size_t)t) * (size_t)a->n_embd};
        if ((st = vlm_lm_eval(a->lm, a->frame_in, k, VLM_LOGITS_LAST, a->logits)))
            return lm_fail(a, st, "feeding a future frame");
        vlm_eval_summarize(a->logits, a->n_vocab, -1, a->decision_id, &out[j]);
    }
    if ((st = vlm_lm_kv_trim(a->lm, (int32_t)a->n_valid))) return lm_fail(a, st, "trimming the cache");
    return VLM_OK;
}

/* Largest look-ahead any turn of ids can ask for: min(next turn frames, this turn frames - 1). */
static int64_t max_lookahead(const int32_t *ids, size_t n, int32_t v_id, int32_t eos_id, int32_t nft) {
    int64_t best = 0, prev = -1, nv = 0;
    for (size_t i = 0; i < n; i++) {
        nv += ids[i] == v_id;
        if (ids[i] != eos_id) continue;
        int64_t f = nv / nft;
        if (prev >= 0) {
            int64_t k = f < prev - 1 ? f : prev - 1;
            if (k > best) best = k;
        }
        prev = f;
        nv = 0;
    }
    return best;
}

/* ---- reading one line ------------------------------------------------------ */
typedef struct {
    const vlm_model *m;          /* NULL for a baseline */
    const vlm_model_hparams *hp; /* NULL for a baseline */
    const vlm_tokenizer *tok;
    const char *dir; /* folder of the data file, "" for the current one */
    vlm_template_params tp;
    int32_t v_id, eos_id, nft;
    int32_t interval_id; /* the decision token: ',' (live1+) or eos (live1) */
    const vlm_eval_baseline_params *baseline; /* NULL: the model */
} eval_env;

/* Read features rows [start, end) of a safetensors file into s->features. */
static vlm_status load_features(const eval_env *e, const char *rel, json_t *frames, size_t line, sample_buf *s,
                                char *err, size_t err_size) {
    char path[4096];
    int pl = rel[0] == '/' || !e->dir[0] ? snprintf(path, sizeof path, "%s", rel)
                                         : snprintf(path, sizeof path, "%s/%s", e->dir, rel);
    if (pl < 0 || (size_t)pl >= sizeof path)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "line %zu: the features path is too long", line);
    char e2[512];
    vlm_st_file *f = NULL;
    vlm_status st = vlm_st_open(path, &f, e2, sizeof e2);
    if (st) return vlm_set_err(err, err_size, st, "line %zu: features: %s", line, e2);
    const vlm_st_tensor *t = vlm_st_find(f, "features");
    if (!t && vlm_st_count(f) == 1) t = vlm_st_at(f, 0);
    if (!t) {
        vlm_st_close(f);
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "line %zu: %s: no tensor named \"features\" (and %zu tensors, not one)", line, path,
                           vlm_st_count(f));
    }
    int64_t D = e->hp->v_n_embd;
    if (t->n_dims != 3 || t->shape[1] != e->nft || t->shape[2] != D) {
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                         "line %zu: %s: tensor \"%s\" has %d dims [%lld, %lld, %lld], expected [T, %d, %lld]", line,
                         path, t->name, t->n_dims, (long long)(t->n_dims > 0 ? t->shape[0] : 0),
                         (long long)(t->n_dims > 1 ? t->shape[1] : 0), (long long)(t->n_dims > 2 ? t->shape[2] : 0),
                         (int)e->nft, (long long)D);
        vlm_st_close(f);
        return st;
    }
    int64_t T = t->shape[0], a = 0, b = T;
    if (frames && !json_is_null(frames)) {
        if (!json_is_array(frames) || json_array_size(frames) != 2 || !json_is_integer(json_array_get(frames, 0)) ||
            !json_is_integer(json_array_get(frames, 1))) {
            vlm_st_close(f);
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "line %zu: \"frames\" must be [start, end] integers",
                               line);
        }
        a = json_integer_value(json_array_get(frames, 0));
        b = json_integer_value(json_array_get(frames, 1));
        if (a < 0 || b <= a || b > T) {
            vlm_st_close(f);
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                               "line %zu: frames [%lld, %lld) outside the %lld frames of %s", line, (long long)a,
                               (long long)b, (long long)T, path);
        }
    }
    if (b - a != s->n_frames) {
        vlm_st_close(f);
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "line %zu: the conversation has %lld frames but frames [%lld, %lld) of %s hold %lld", line,
                           (long long)s->n_frames, (long long)a, (long long)b, path, (long long)(b - a));
    }
    size_t cnt;
    if (!vlm_mul_ok((size_t)(b - a), (size_t)e->nft * (size_t)D, &cnt) || !vlm_mul_ok(cnt, sizeof(float), &cnt) ||
        !(s->features = malloc(cnt))) {
        vlm_st_close(f);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "line %zu: out of memory for %lld frames", line,
                           (long long)(b - a));
    }
    int64_t row = (int64_t)e->nft * D;
    st = vlm_st_read_f32(t, a * row, (b - a) * row, s->features, e2, sizeof e2);
    vlm_st_close(f);
    if (st) return vlm_set_err(err, err_size, st, "line %zu: %s", line, e2);
    for (int64_t i = 0; i < (b - a) * row; i++)
        if (!isfinite(s->features[i]))
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "line %zu: %s: frame %lld holds a non-finite value",
                               line, path, (long long)(a + i / row));
    s->frame_start = a;
    return VLM_OK;
}

/* A baseline reads no features: "frames", when given, must be [start, end)
 * integers with end - start the conversation's frame count. */
static vlm_status check_frames(json_t *frames, size_t line, sample_buf *s, char *err, size_t err_size) {
    s->frame_start = 0;
    if (!frames || json_is_null(frames)) return VLM_OK;
    if (!json_is_array(frames) || json_array_size(frames) != 2 || !json_is_integer(json_array_get(frames, 0)) ||
        !json_is_integer(json_array_get(frames, 1)))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "line %zu: \"frames\" must be [start, end] integers", line);
    int64_t a = json_integer_value(json_array_get(frames, 0)), b = json_integer_value(json_array_get(frames, 1));
    if (a < 0 || b <= a || a > INT64_MAX / 4 || b > INT64_MAX / 4 || b - a != s->n_frames)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "line %zu: frames [%lld, %lld) do not hold the conversation's %lld frames", line,
                           (long long)a, (long long)b, (long long)s->n_frames);
    s->frame_start = a;
    return VLM_OK;
}

/* Text, labels, frame count and ground-truth reply frames of one line. */
static vlm_status prepare(const eval_env *e, const char *line_text, size_t len, size_t line, sample_buf *s, char *err,
                          size_t err_size) {
    json_error_t je;
    json_t *root = json_loadb(line_text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "line %zu: malformed JSON at column %d: %s", line,
                           je.column, je.text);
    vlm_status st = VLM_OK;
    vlm_conversation *conv = NULL;
    char *cjson = NULL;
    json_t *jc = json_object_get(root, "conversation"), *jf = json_object_get(root, "features");
    if (!json_is_object(root)) {
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "line %zu: not a JSON object", line);
    } else if (!json_is_array(jc)) {
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "line %zu: \"conversation\" missing or not an array", line);
    } else if (!e->baseline &&
               (!json_is_string(jf) || !json_string_length(jf) || strlen(json_string_value(jf)) != json_string_length(jf))) {
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "line %zu: \"features\" missing or not a file name", line);
    } else if (!(cjson = json_dumps(jc, JSON_COMPACT | JSON_ENCODE_ANY))) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "line %zu: out of memory", line);
    }
    char e2[512];
    if (!st && (st = vlm_conversation_parse(cjson, strlen(cjson), &conv, e2, sizeof e2)))
        vlm_set_err(err, err_size, st, "line %zu: conversation: %s", line, e2);
    const vlm_message *msgs = conv ? vlm_conversation_messages(conv) : NULL;
    size_t nm = conv ? vlm_conversation_size(conv) : 0;
    if (!st && (st = vlm_template_render(msgs, nm, &e->tp, &s->text, &s->text_len, e2, sizeof e2)))
        vlm_set_err(err, err_size, st, "line %zu: template: %s", line, e2);
    if (!st && (st = vlm_learn_ranges(msgs, nm, &e->tp, &s->ranges, &s->n_ranges, e2, sizeof e2)))
        vlm_set_err(err, err_size, st, "line %zu: learn ranges: %s", line, e2);
    if (!st && (st = vlm_tokenizer_encode(e->tok, s->text, s->text_len, &s->toks)))
        vlm_set_err(err, err_size, st, "line %zu: tokenizer: %s", line, vlm_tokenizer_last_error(e->tok));
    size_t n = s->toks.n;
    if (!st && !n) st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "line %zu: the conversation renders nothing", line);
    if (!st && (!(s->labels = malloc(n * sizeof *s->labels)) || !(s->in = malloc(n * sizeof *s->in)) ||
                !(s->pos = calloc(n, sizeof *s->pos))))
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "line %zu: out of memory (%zu tokens)", line, n);
    if (!st && (st = vlm_labels_from_ranges(&s->toks, s->ranges, s->n_ranges, e->v_id, e->eos_id, s->text,
                                            s->text_len, s->labels, e2, sizeof e2)))
        vlm_set_err(err, err_size, st, "line %zu: labels: %s", line, e2);
    /* <v> tokens must be exactly the streams' frames (a literal "<v>" in a text would break this) */
    int64_t nv = 0, frames_msgs = 0;
    for (size_t i = 0; !st && i < n; i++) nv += s->toks.ids[i] == e->v_id;
    for (size_t i = 0; !st && i < nm; i++) {
        if (msgs[i].role == VLM_ROLE_STREAM && msgs[i].num_frames > 0) frames_msgs += msgs[i].num_frames;
        if (msgs[i].role == VLM_ROLE_ASSISTANT && frames_msgs > 0) { /* ground truth: a reply after this frame */
            if (s->n_reply && s->reply_frames[s->n_reply - 1] == frames_msgs - 1) continue;
            int64_t *nr = realloc(s->reply_frames, (s->n_reply + 1) * sizeof *nr);
            if (!nr) { st = vlm_set_err(err, err_size, VLM_ERR_OOM, "line %zu: out of memory", line); break; }
            s->reply_frames = nr;
            s->reply_frames[s->n_reply++] = frames_msgs - 1;
        }
    }
    if (!st && (nv % e->nft || nv / e->nft != frames_msgs))
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                         "line %zu: %lld <v> tokens do not make the %lld frames of the streams (%d tokens each); "
                         "does a text contain \"<v>\"?", line, (long long)nv, (long long)frames_msgs, (int)e->nft);
    if (!st && !frames_msgs) st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "line %zu: no stream frames", line);
    if (!st) {
        s->n_frames = frames_msgs;
        if (e->baseline) st = check_frames(json_object_get(root, "frames"), line, s, err, err_size);
        else st = load_features(e, json_string_value(jf), json_object_get(root, "frames"), line, s, err, err_size);
    }
    free(cjson);
    vlm_conversation_free(conv);
    json_decref(root);
    return st;
}

/* Connector, one forward over the sample, metrics. */
/* The LM inputs of a sample: the connector on its frame features (s->embd), then
 * s->in with each <v> taking the next frame-token embedding. */
static vlm_status sample_inputs(const eval_env *e, vlm_vision_context *vis, size_t line, sample_buf *s, char *err,
                                size_t err_size) {
    const vlm_model_hparams *hp = e->hp;
    size_t nrows = (size_t)s->n_frames * (size_t)e->nft, bytes;
    if (!vlm_mul_ok(nrows, (size_t)hp->n_embd * sizeof(float), &bytes) || !(s->embd = malloc(bytes)))
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "line %zu: out of memory for the frame embeddings", line);
    vlm_status st = vlm_connector(vis, s->features, nrows, s->embd); /* [nrows][v_n_embd] -> [nrows][n_embd] */
    if (st) return vlm_set_err(err, err_size, st, "line %zu: connector: %s", line, vlm_vision_last_error(vis));
    size_t vi = 0;
    for (size_t i = 0; i < s->toks.n; i++) {
        int32_t id = s->toks.ids[i];
        if (id == e->v_id) s->in[i] = (vlm_lm_input){.token = id, .embd = s->embd + vi++ * (size_t)hp->n_embd};
        else s->in[i] = (vlm_lm_input){.token = id, .embd = NULL};
    }
    return VLM_OK;
}

static vlm_status run_sample(const eval_env *e, const vlm_eval_params *p, vlm_vision_context *vis, size_t line,
                             sample_buf *s, vlm_eval_result *res, char *err, size_t err_size) {
    const vlm_model_hparams *hp = e->hp;
    size_t n = s->toks.n, bytes;
    if (!(s->p_frame = calloc((size_t)s->n_frames, sizeof *s->p_frame)))
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "line %zu: out of memory for the frame embeddings", line);
    for (size_t i = 0; i < n; i++)
        if (s->labels[i] != IGNORE_INDEX && (s->labels[i] < 0 || s->labels[i] >= hp->n_vocab))
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "line %zu: label %d at position %zu is outside the "
                               "model's %d logits", line, (int)s->labels[i], i, (int)hp->n_vocab);
    vlm_status st = sample_inputs(e, vis, line, s, err, err_size);
    if (st) return st;
    int32_t interval = vlm_model_frame_interval_id(e->m);
    int32_t decision = interval >= 0 ? interval : e->eos_id;
    int64_t k_max = max_lookahead(s->toks.ids, n, e->v_id, e->eos_id, e->nft);
    int64_t n_ctx = (int64_t)n + k_max * (e->nft + (interval >= 0));
    if (n_ctx > INT32_MAX / 2)
        return vlm_set_err(err, err_size, VLM_ERR_CTX_FULL, "line %zu: %lld positions are too many", line,
                           (long long)n_ctx);
    vlm_lm_context_params cp = vlm_lm_context_default_params();
    cp.n_ctx = (int32_t)n_ctx;
    cp.n_batch = p->n_batch > 0 ? p->n_batch : 64;
    cp.n_threads = p->n_threads > 0 ? p->n_threads : 2;
    vlm_lm_context *lm = NULL;
    char e2[512];
    if ((st = vlm_lm_context_init(e->m, &cp, &lm, e2, sizeof e2)))
        return vlm_set_err(err, err_size, st, "line %zu: LM context of %lld positions: %s", line, (long long)n_ctx, e2);
    size_t chunk = (size_t)cp.n_batch;
    float *logits = NULL;
    vlm_lm_input *frame_in = malloc(((size_t)e->nft + 1) * sizeof *frame_in);
    if (!frame_in || !vlm_mul_ok(chunk, (size_t)hp->n_vocab * sizeof(float), &bytes) || !(logits = malloc(bytes)))
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "line %zu: out of memory for logits", line);
    /* the full forward: summaries at labelled positions and at every frame's last <v> */
    size_t v_seen = 0;
    for (size_t p0 = 0; !st && p0 < n; p0 += chunk) {
        size_t c = n - p0 < chunk ? n - p0 : chunk;
        bool need = false;
        for (size_t i = p0; i < p0 + c && !need; i++) need = s->labels[i] != IGNORE_INDEX || s->toks.ids[i] == e->v_id;
        if ((st = vlm_lm_eval(lm, s->in + p0, c, need ? VLM_LOGITS_ALL : VLM_LOGITS_NONE, need ? logits : NULL))) {
            vlm_set_err(err, err_size, st, "line %zu: forward at position %zu: %s", line, p0, vlm_lm_last_error(lm));
            break;
        }
        for (size_t i = p0; need && i < p0 + c; i++) {
            bool frame_last = s->toks.ids[i] == e->v_id && ++v_seen % (size_t)e->nft == 0;
            if (s->labels[i] == IGNORE_INDEX && !frame_last) continue;
            vlm_eval_summarize(logits + (i - p0) * (size_t)hp->n_vocab, hp->n_vocab, s->labels[i], decision,
                               &s->pos[i]);
            if (frame_last) s->p_frame[v_seen / (size_t)e->nft - 1] = s->pos[i].p_interval;
        }
    }
    if (!st) {
        ahead_state a = {.lm = lm, .in = s->in, .n = n, .n_valid = (int64_t)n, .embd = s->embd,
                         .n_frames = s->n_frames, .nft = e->nft, .n_embd = hp->n_embd, .n_vocab = hp->n_vocab,
                         .n_batch = cp.n_batch, .interval_tok = interval, .decision_id = decision,
                         .logits = logits, .frame_in = frame_in};
        vlm_eval_config cfg = {.v_id = e->v_id, .interval_id = decision, .eos_id = e->eos_id,
                               .use_interval = interval >= 0, .frame_num_tokens = e->nft, .threshold = p->threshold};
        st = vlm_eval_metrics(s->toks.ids, s->labels, s->pos, n, &cfg, lookahead, &a, res, e2, sizeof e2);
        if (st) vlm_set_err(err, err_size, st, "line %zu: %s%s%s", line, e2, a.msg[0] ? ": " : "", a.msg);
    }
    free(frame_in);
    free(logits);
    vlm_lm_context_free(lm);
    return st;
}

/* The folder of a data file ("" for the current one); non-zero when too long. */
static int data_dir(const char *data_path, char *dir, size_t n) {
    if (strlen(data_path) >= n) return 1;
    snprintf(dir, n, "%s", data_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else dir[0] = 0;
    if (slash == dir) strcpy(dir, "/");
    return 0;
}

/* How one prepared sample is evaluated: the model, or a baseline. */
typedef vlm_status (*run_fn)(const eval_env *e, void *ctx, size_t line, sample_buf *s, vlm_eval_result *res,
                             char *err, size_t err_size);

typedef struct {
    const vlm_eval_params *p;
    vlm_vision_context *vis;
} model_run;

static vlm_status run_model(const eval_env *e, void *ctx, size_t line, sample_buf *s, vlm_eval_result *res, char *err,
                            size_t err_size) {
    const model_run *mr = ctx;
    return run_sample(e, mr->p, mr->vis, line, s, res, err, err_size);
}

/* ---- hidden states ------------------------------------------------------------ */
typedef struct {
    vlm_vision_context *vis;
    int32_t n_threads;
    size_t max, done;
    vlm_hidden_fn fn;
    void *user;
    bool stopped;      /* max reached: not an error */
    float *hidden;     /* [L + 1][n][H] of the sample being run */
    size_t n, *filled; /* rows written per state */
    int32_t n_states;
    int64_t H;
    bool overflow;
} hidden_run;

static void hidden_cb(void *ud, const char *name, int32_t layer, const float *data, int64_t rows, int64_t cols) {
    hidden_run *h = ud;
    int32_t slot = !strcmp(name, "lm.embd") ? 0 : !strcmp(name, "lm.layer") ? layer + 1 : -1;
    if (slot < 0 || slot >= h->n_states || cols != h->H || rows < 0) return;
    if (h->filled[slot] + (size_t)rows > h->n) {
        h->overflow = true;
        return;
    }
    memcpy(h->hidden + ((size_t)slot * h->n + h->filled[slot]) * (size_t)h->H, data,
           (size_t)rows * (size_t)cols * sizeof(float));
    h->filled[slot] += (size_t)rows;
}

static vlm_status run_hidden(const eval_env *e, void *ctx, size_t line, sample_buf *s, vlm_eval_result *res,
                             char *err, size_t err_size) {
    hidden_run *h = ctx;
    (void)res;
    if (h->max && h->done >= h->max) {
        h->stopped = true;
        return VLM_ERR_ABORTED;
    }
    const vlm_model_hparams *hp = e->hp;
    const size_t n = s->toks.n, V = (size_t)hp->n_vocab;
    const int32_t S = hp->n_layer + 1;
    size_t bytes, hbytes;
    if (n > INT32_MAX / 2)
        return vlm_set_err(err, err_size, VLM_ERR_CTX_FULL, "line %zu: %zu positions are too many", line, n);
    vlm_status st = sample_inputs(e, h->vis, line, s, err, err_size);
    if (st) return st;
    const size_t chunk = 64;
    float *logits = NULL;
    int32_t *argmax = malloc(n * sizeof *argmax);
    h->filled = calloc((size_t)S, sizeof *h->filled);
    h->hidden = NULL, h->n = n, h->n_states = S, h->H = hp->n_embd, h->overflow = false;
    if (!argmax || !h->filled || !vlm_mul_ok(chunk, V * sizeof(float), &bytes) || !(logits = malloc(bytes)) ||
        !vlm_mul_ok((size_t)S * n, (size_t)hp->n_embd * sizeof(float), &hbytes) || !(h->hidden = malloc(hbytes)))
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "line %zu: out of memory for the hidden states of %zu positions",
                         line, n);
    vlm_lm_context *lm = NULL;
    char e2[512];
    if (!st) {
        vlm_lm_context_params cp = vlm_lm_context_default_params();
        cp.n_ctx = (int32_t)n, cp.n_batch = (int32_t)chunk, cp.n_threads = h->n_threads > 0 ? h->n_threads : 2;
        cp.cb = hidden_cb, cp.cb_user_data = h;
        if ((st = vlm_lm_context_init(e->m, &cp, &lm, e2, sizeof e2)))
            vlm_set_err(err, err_size, st, "line %zu: LM context of %zu positions: %s", line, n, e2);
    }
    for (size_t p0 = 0; !st && p0 < n; p0 += chunk) {
        size_t c = n - p0 < chunk ? n - p0 : chunk;
        if ((st = vlm_lm_eval(lm, s->in + p0, c, VLM_LOGITS_ALL, logits))) {
            vlm_set_err(err, err_size, st, "line %zu: forward at position %zu: %s", line, p0, vlm_lm_last_error(lm));
            break;
        }
        for (size_t i = 0; i < c; i++) { /* the metrics' argmax: the first of equal maxima */
            vlm_eval_pos ps;
            vlm_eval_summarize(logits + i * V, hp->n_vocab, -1, -1, &ps);
            argmax[p0 + i] = ps.argmax;
        }
    }
    for (int32_t k = 0; !st && k < S; k++)
        if (h->overflow || h->filled[k] != n)
            st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "line %zu: state %d: %zu of %zu positions observed",
                             line, (int)k, h->filled[k], n);
    if (!st) {
        vlm_hidden_sample hs = {.line = line, .index = h->done, .n_tokens = n, .ids = s->toks.ids, .argmax = argmax,
                                .n_states = S, .n_embd = hp->n_embd, .hidden = h->hidden};
        vlm_status fst = h->fn(h->user, &hs);
        if (fst) st = vlm_set_err(err, err_size, fst, "line %zu: stopped (%s)", line, vlm_status_str(fst));
        else h->done++;
    }
    vlm_lm_context_free(lm);
    free(logits), free(argmax), free(h->filled), free(h->hidden);
    h->filled = NULL, h->hidden = NULL;
    return st;
}

/* Every non-blank line of the data file: prepare, run, report, average. */
static vlm_status eval_lines(const eval_env *e, const char *data_path, run_fn run, void *ctx,
                             vlm_eval_sample_fn on_sample, void *user_data, vlm_eval_summary *out, char *err,
                             size_t err_size) {
    size_t len;
    char *buf = vlm_read_file(data_path, &len, err, err_size);
    if (!buf) return VLM_ERR_IO;
    vlm_status st = VLM_OK;
    double s_ppl = 0, s_corr = 0, s_diff = 0, s_flu = 0;
    size_t line = 0, index = 0;
    for (size_t a = 0; a < len && !st;) {
        size_t b = a;
        while (b < len && buf[b] != '\n') b++;
        line++;
        size_t l = b - a;
        const char *t = buf + a;
        a = b + 1;
        size_t sp = 0;
        while (sp < l && (t[sp] == ' ' || t[sp] == '\t' || t[sp] == '\r')) sp++;
        if (sp == l) continue;
        sample_buf s = {0};
        vlm_eval_result res = {0};
        st = prepare(e, t, l, line, &s, err, err_size);
        if (!st) st = run(e, ctx, line, &s, &res, err, err_size);
        if (!st) {
            s_ppl += res.lm_ppl;
            s_corr += res.lm_correctness;
            s_diff += res.frame_diff;
            s_flu += res.fluency;
            if (on_sample) {
                vlm_eval_sample info = {.line = line, .index = index, .frame_start = s.frame_start,
                                        .n_frames = s.n_frames, .n_tokens = s.toks.n, .metrics = &res,
                                        .p_interval = s.p_frame, .reply_frames = s.reply_frames,
                                        .n_reply_frames = s.n_reply};
                on_sample(user_data, &info);
            }
            index++;
        }
        vlm_eval_result_free(&res);
        sample_buf_free(&s);
    }
    free(buf);
    if (st) return st;
    if (!index) return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: no samples", data_path);
    out->n_samples = index;
    out->lm_ppl = s_ppl / (double)index; /* NAN for a baseline */
    out->lm_correctness = s_corr / (double)index;
    out->frame_diff = s_diff / (double)index;
    out->fluency = s_flu / (double)index;
    return VLM_OK;
}

/* The model's side of the environment (tokenizer, ids, template settings), the
 * data file's folder (in dir) and a vision context for the connector. */
static vlm_status model_env(const vlm_model *m, const char *data_path, char *dir, size_t dir_size, int32_t n_threads,
                            eval_env *out, vlm_vision_context **vis, char *err, size_t err_size) {
    eval_env e = {.m = m, .hp = vlm_model_get_hparams(m), .tok = vlm_model_tokenizer(m)};
    if (!e.tok) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "the model has no tokenizer");
    if (!vlm_model_has_vision(m))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "the model's vision file (connector) is not loaded");
    e.v_id = vlm_model_v_placeholder_id(m);
    e.eos_id = vlm_model_eos_id(m);
    e.nft = vlm_model_frame_num_tokens(m);
    const char *eos_tok = vlm_tokenizer_id_to_token(e.tok, e.eos_id);
    if (e.nft <= 0 || e.v_id < 0 || !eos_tok)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "the model's live settings are unusable (<v> %d, eos %d)",
                           (int)e.v_id, (int)e.eos_id);
    e.tp = vlm_template_default_params();
    e.tp.live_version = vlm_model_frame_interval_id(m) >= 0 ? VLM_LIVE_V1PLUS : VLM_LIVE_V1;
    e.tp.strict = true; /* as the trainer: what the original's learn-range code rejects is an error */
    e.tp.eos_token = eos_tok;
    const char *bos = vlm_tokenizer_id_to_token(e.tok, vlm_tokenizer_token_to_id(e.tok, "<|begin_of_text|>"));
    if (bos) e.tp.bos_token = bos;
    if (data_dir(data_path, dir, dir_size))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "the data path is too long");
    e.dir = dir;
    vlm_vision_context_params vp = vlm_vision_context_default_params();
    vp.n_threads = n_threads > 0 ? n_threads : 2;
    char e2[512];
    vlm_status st = vlm_vision_context_init(m, &vp, vis, e2, sizeof e2);
    if (st) return vlm_set_err(err, err_size, st, "vision context: %s", e2);
    *out = e;
    return VLM_OK;
}

vlm_status vlm_eval_file(const vlm_model *m, const char *data_path, const vlm_eval_params *p,
                         vlm_eval_sample_fn on_sample, void *user_data, vlm_eval_summary *out, char *err,
                         size_t err_size) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !data_path || !out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_eval_file: NULL argument");
    vlm_eval_params dp = vlm_eval_default_params();
    if (!p) p = &dp;
    if (!isfinite(p->threshold) || p->threshold < 0.0f || p->threshold > 1.0f)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "threshold %g outside [0, 1]", (double)p->threshold);
    eval_env e;
    char dir[4096];
    vlm_vision_context *vis = NULL;
    vlm_status st = model_env(m, data_path, dir, sizeof dir, p->n_threads, &e, &vis, err, err_size);
    if (st) return st;
    model_run mr = {.p = p, .vis = vis};
    st = eval_lines(&e, data_path, run_model, &mr, on_sample, user_data, out, err, err_size);
    vlm_vision_context_free(vis);
    return st;
}

vlm_status vlm_eval_hidden_file(const vlm_model *m, const char *data_path, size_t max_samples, int32_t n_threads,
                                vlm_hidden_fn fn, void *user_data, char *err, size_t err_size) {
    if (!m || !data_path || !fn)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_eval_hidden_file: NULL argument");
    eval_env e;
    char dir[4096];
    hidden_run h = {.n_threads = n_threads, .max = max_samples, .fn = fn, .user = user_data};
    vlm_status st = model_env(m, data_path, dir, sizeof dir, n_threads, &e, &h.vis, err, err_size);
    if (st) return st;
    vlm_eval_summary sum;
    memset(&sum, 0, sizeof sum);
    st = eval_lines(&e, data_path, run_hidden, &h, NULL, NULL, &sum, err, err_size);
    vlm_vision_context_free(h.vis);
    if (st == VLM_ERR_ABORTED && h.stopped) st = VLM_OK;
    return st;
}

/* ---- baselines -------------------------------------------------------------- */
vlm_status vlm_eval_baseline_parse(const char *spec, vlm_eval_baseline *out, char *err, size_t err_size) {
    if (!spec || !out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "baseline: NULL argument");
    if (!strcmp(spec, "silent")) {
        *out = (vlm_eval_baseline){.kind = VLM_BASELINE_SILENT, .every = 0};
        return VLM_OK;
    }
    if (!strncmp(spec, "every:", 6)) {
        const char *v = spec + 6;
        char *end = NULL;
        errno = 0;
        long long k = strtoll(v, &end, 10);
        if (*v >= '0' && *v <= '9' && !*end && !errno && k >= 1 && k <= 1000000000LL) {
            *out = (vlm_eval_baseline){.kind = VLM_BASELINE_EVERY, .every = k};
            return VLM_OK;
        }
    }
    return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                       "baseline \"%.40s\": expected \"silent\" or \"every:K\" with K in [1, 1e9]", spec);
}

bool vlm_eval_baseline_speaks(const vlm_eval_baseline *b, int64_t frame) {
    if (!b || b->kind != VLM_BASELINE_EVERY || b->every < 1 || frame < 0 || frame == INT64_MAX) return false;
    return (frame + 1) % b->every == 0;
}

/* The summary a baseline gives at a frame: P(interval) 1 and the interval as
 * argmax when silent; P 0 and argmax -1 (not the interval) when it speaks. */
static vlm_eval_pos baseline_pos(const vlm_eval_baseline *b, int64_t frame, int32_t interval_id) {
    if (vlm_eval_baseline_speaks(b, frame)) return (vlm_eval_pos){.argmax = -1, .ce = 0.0, .p_interval = 0.0};
    return (vlm_eval_pos){.argmax = interval_id, .ce = 0.0, .p_interval = 1.0};
}

typedef struct {
    const vlm_eval_baseline *b;
    int64_t frame_start;
    int32_t interval_id;
} baseline_ahead;

static vlm_status baseline_lookahead(void *ud, int64_t n_keep, int64_t first_frame, int64_t n_frames,
                                     vlm_eval_pos *out) {
    const baseline_ahead *a = ud;
    (void)n_keep;
    if (first_frame < 0 || n_frames < 0) return VLM_ERR_INVALID_ARG;
    for (int64_t j = 0; j < n_frames; j++) out[j] = baseline_pos(a->b, a->frame_start + first_frame + j, a->interval_id);
    return VLM_OK;
}

vlm_status vlm_eval_baseline_metrics(const int32_t *input_ids, const int32_t *labels, size_t n,
                                     const vlm_eval_config *cfg, const vlm_eval_baseline *b, int64_t frame_start,
                                     double *p_frame, vlm_eval_result *out, char *err, size_t err_size) {
    if (!out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "baseline: NULL result");
    memset(out, 0, sizeof *out);
    if (!cfg || !b || (n && (!input_ids || !labels)))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "baseline: NULL argument");
    if ((b->kind != VLM_BASELINE_SILENT && b->kind != VLM_BASELINE_EVERY) ||
        (b->kind == VLM_BASELINE_EVERY && b->every < 1))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "baseline: unknown kind %d or every %lld < 1",
                           (int)b->kind, (long long)b->every);
    if (cfg->frame_num_tokens <= 0 || frame_start < 0 || frame_start > INT64_MAX / 4)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "baseline: frame_num_tokens %d or frame_start %lld",
                           (int)cfg->frame_num_tokens, (long long)frame_start);
    vlm_eval_pos *pos = n ? calloc(n, sizeof *pos) : NULL;
    if (n && !pos) return vlm_set_err(err, err_size, VLM_ERR_OOM, "baseline: out of memory (%zu positions)", n);
    /* [n] summaries: stream positions from the baseline's decision at their
     * frame, lm positions argmax -1 (never a label, so n_correct = 0), CE 0 */
    int64_t nv = 0;
    for (size_t i = 0; i < n; i++) {
        bool is_v = input_ids[i] == cfg->v_id;
        nv += is_v;
        if (labels[i] == IGNORE_INDEX) continue;
        pos[i] = is_v ? baseline_pos(b, frame_start + (nv - 1) / cfg->frame_num_tokens, cfg->interval_id)
                      : (vlm_eval_pos){.argmax = -1, .ce = 0.0, .p_interval = 0.0};
    }
    if (p_frame)
        for (int64_t f = 0; f < nv / cfg->frame_num_tokens; f++)
            p_frame[f] = vlm_eval_baseline_speaks(b, frame_start + f) ? 0.0 : 1.0;
    baseline_ahead a = {.b = b, .frame_start = frame_start, .interval_id = cfg->interval_id};
    vlm_status st = vlm_eval_metrics(input_ids, labels, pos, n, cfg, baseline_lookahead, &a, out, err, err_size);
    free(pos);
    if (st) return st;
    out->lm_ppl = out->lm_correctness = NAN; /* no words: not applicable */
    for (size_t t = 0; t < out->n_turns; t++) out->turns[t].ppl = out->turns[t].correctness = NAN;
    return VLM_OK;
}

vlm_eval_baseline_params vlm_eval_baseline_default_params(void) {
    return (vlm_eval_baseline_params){.baseline = {.kind = VLM_BASELINE_SILENT}, .threshold = 0.0f,
                                      .live_version = VLM_LIVE_V1PLUS};
}

static vlm_status run_baseline(const eval_env *e, void *ctx, size_t line, sample_buf *s, vlm_eval_result *res,
                               char *err, size_t err_size) {
    (void)ctx;
    if (!(s->p_frame = calloc((size_t)s->n_frames, sizeof *s->p_frame)))
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "line %zu: out of memory", line);
    vlm_eval_config cfg = {.v_id = e->v_id, .interval_id = e->interval_id, .eos_id = e->eos_id,
                           .use_interval = e->tp.live_version == VLM_LIVE_V1PLUS, .frame_num_tokens = e->nft,
                           .threshold = e->baseline->threshold};
    char e2[512];
    vlm_status st = vlm_eval_baseline_metrics(s->toks.ids, s->labels, s->toks.n, &cfg, &e->baseline->baseline,
                                              s->frame_start, s->p_frame, res, e2, sizeof e2);
    if (st) return vlm_set_err(err, err_size, st, "line %zu: %s", line, e2);
    return VLM_OK;
}

vlm_status vlm_eval_baseline_file(const vlm_tokenizer *tok, const char *data_path, const vlm_eval_baseline_params *p,
                                  vlm_eval_sample_fn on_sample, void *user_data, vlm_eval_summary *out, char *err,
                                  size_t err_size) {
    if (out) memset(out, 0, sizeof *out);
    if (!tok || !data_path || !p || !out)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_eval_baseline_file: NULL argument");
    if (!isfinite(p->threshold) || p->threshold < 0.0f || p->threshold > 1.0f)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "threshold %g outside [0, 1]", (double)p->threshold);
    const vlm_eval_baseline *b = &p->baseline;
    if ((b->kind != VLM_BASELINE_SILENT && b->kind != VLM_BASELINE_EVERY) ||
        (b->kind == VLM_BASELINE_EVERY && b->every < 1))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "baseline: unknown kind %d or every %lld < 1",
                           (int)b->kind, (long long)b->every);
    if (p->live_version != VLM_LIVE_V1PLUS && p->live_version != VLM_LIVE_V1)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "baseline: unknown live version %d",
                           (int)p->live_version);
    eval_env e = {.tok = tok, .baseline = p};
    e.tp = vlm_template_default_params();
    e.tp.live_version = p->live_version;
    e.tp.strict = true; /* as the model path */
    if (p->eos_token) e.tp.eos_token = p->eos_token;
    if (p->bos_token) e.tp.bos_token = p->bos_token;
    e.eos_id = vlm_tokenizer_token_to_id(tok, e.tp.eos_token);
    e.v_id = vlm_tokenizer_token_to_id(tok, "<v>");
    e.nft = p->live_version == VLM_LIVE_V1 ? 1 : 10;
    e.interval_id = p->live_version == VLM_LIVE_V1 ? e.eos_id : vlm_tokenizer_token_to_id(tok, ",");
    if (e.eos_id < 0)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "baseline: eos token \"%.60s\" is not in the vocabulary",
                           e.tp.eos_token);
    if (e.v_id < 0)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "baseline: the tokenizer has no \"<v>\" token");
    if (e.interval_id < 0)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "baseline: the tokenizer has no \",\" token");
    char dir[4096];
    if (data_dir(data_path, dir, sizeof dir))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "the data path is too long");
    e.dir = dir;
    return eval_lines(&e, data_path, run_baseline, NULL, on_sample, user_data, out, err, err_size);
}
