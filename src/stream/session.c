/* session.c - the LIVE streaming loop of VideoLLM-online (demo/inference.py
 * LiveInfer), on top of the model runtime.
 *
 * Token flow (live1+), as in the original:
 *   first frame:    <|begin_of_text|>SYSTEM\n\n[  F0
 *   silent frame:   ,  Fk                 (the sampled ',' is fed with the next frame)
 *   after a reply:  <|eot_id|> \n[  Fk    (the reply's eos is fed with the next frame)
 *   reply, no query:  ]\nAssistant:  + greedy tokens
 *   reply to query:   ]\nUser: Q\nAssistant:  + greedy tokens
 * where F is the frame's 10 embeddings and the decision after each frame is
 * "silent iff P(',') >= threshold".
 *
 * Deviations (documented in docs/streaming.md): a reply without a query after
 * a token other than "]\n" proceeds (the original asserts); a reply cut at
 * max_new_tokens is closed with eos before the next frame (the original feeds
 * the cut token and the frame with no separator); when the KV cache is full the
 * oldest positions after the start prompt and the sinks are evicted and later
 * keys are re-rotated (the original runs past the trained length).
 *
 * Frame queue: max_queue slots, kept in push order in `ord`. A slot is FREE,
 * RAW (pixels waiting for the encoder), ENCODING, READY (embeddings waiting
 * for the LM), CONSUMING (being evaluated) or FAILED (the encoder failed; the
 * step reports it). With params.pipeline a worker thread encodes RAW slots
 * oldest first while the stepping thread runs the LM. Everything in the
 * queues is guarded by `mu`; the LM state (KV cache, pending tokens) belongs
 * to the stepping thread. A push into a full queue drops the oldest RAW or
 * READY slot; drops are recorded and reported as events by the next step. */
#include <math.h>
#include <pthread.h>

#include "core/util.h"
#include "model/kv.h"

typedef enum { SLOT_FREE, SLOT_RAW, SLOT_ENCODING, SLOT_READY, SLOT_CONSUMING, SLOT_FAILED } slot_state;

typedef struct {
    slot_state state;
    vlm_status st; /* FAILED: the encoder's status */
    double t;
    int64_t index;
    float *embd;  /* [ntok][n_embd] */
    uint8_t *rgb; /* [res][res][3], pipeline only */
} frame_slot;

typedef struct {
    double t;
    char *text;
} query_item;

typedef struct {
    double t;
    int64_t index;
} drop_item;

struct vlm_session {
    const vlm_model *m;
    const vlm_tokenizer *tok;
    vlm_session_params p;
    int32_t n_embd, n_vocab, ntok, interval_id, eos_id, res;
    vlm_lm_context *lm;
    vlm_vision_context *vis;
    /* ---- guarded by mu ---- */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a slot changed state, a frame was pushed, or stop */
    frame_slot *slots; /* [max_queue] */
    float *slot_mem;
    uint8_t *rgb_mem;
    size_t *ord; /* occupied slots, oldest first */
    size_t n_ord;
    query_item *queries; /* FIFO ring */
    size_t q_head, q_count, q_cap;
    drop_item *drops; /* dropped frames not reported yet (ring) */
    size_t d_head, d_count, d_cap;
    bool stop;
    char verr[256]; /* the encoder's message for a FAILED slot */
    /* ---- pipeline worker ---- */
    pthread_t worker;
    bool worker_started;
    /* ---- stepping thread only ---- */
    /* fixed prompt pieces */
    vlm_tokens start_ids, stream_prompt_ids, gen_ids, respond_ids;
    /* tokens waiting to be fed before the next frame */
    int32_t last_ids[4];
    int n_last;
    bool started;
    vlm_lm_input *in;
    size_t in_cap;
    float *logits; /* [n_vocab] */
    int32_t *out_ids;
    drop_item *drop_out; /* copy of the drop ring for reporting outside the lock */
    size_t drop_out_cap;
    char err[512];
};

vlm_session_params vlm_session_default_params(void) {
    vlm_session_params p = {0};
    p.threshold = -1.0f;
    p.max_new_tokens = 100;
    p.n_ctx = 8192;
    p.n_sink = 64;
    p.kv_policy = VLM_KV_EVICT_FRAMES;
    p.n_threads = 2;
    p.max_queue = 16;
    return p;
}

const char *vlm_session_last_error(const vlm_session *s) { return s ? s->err : ""; }

/* The queues are guarded by a mutex inside a handle the getters see as const. */
static void lock(const vlm_session *s) { pthread_mutex_lock((pthread_mutex_t *)&s->mu); }
static void unlock(const vlm_session *s) { pthread_mutex_unlock((pthread_mutex_t *)&s->mu); }

size_t vlm_session_pending_frames(const vlm_session *s) {
    if (!s) return 0;
    lock(s);
    size_t n = s->n_ord;
    unlock(s);
    return n;
}
size_t vlm_session_pending_queries(const vlm_session *s) {
    if (!s) return 0;
    lock(s);
    size_t n = s->q_count;
    unlock(s);
    return n;
}
int32_t vlm_session_kv_len(const vlm_session *s) { return s ? vlm_lm_kv_len(s->lm) : 0; }

void vlm_session_free(vlm_session *s) {
    if (!s) return;
    if (s->worker_started) {
        lock(s);
        s->stop = true;
        pthread_cond_broadcast(&s->cv);
        unlock(s);
        pthread_join(s->worker, NULL);
    }
    vlm_lm_context_free(s->lm);
    vlm_vision_context_free(s->vis);
    free(s->slots);
    free(s->slot_mem);
    free(s->rgb_mem);
    free(s->ord);
    if (s->queries)
        for (size_t i = 0; i < s->q_count; i++) free(s->queries[(s->q_head + i) % s->q_cap].text);
    free(s->queries);
    free(s->drops);
    free(s->drop_out);
    vlm_tokens_free(&s->start_ids);
    vlm_tokens_free(&s->stream_prompt_ids);
    vlm_tokens_free(&s->gen_ids);
    vlm_tokens_free(&s->respond_ids);
    free(s->in);
    free(s->logits);
    free(s->out_ids);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void *encode_worker(void *arg);

/* Render one template fragment and tokenize it whole (as the original does). */
static vlm_status fragment_ids(vlm_session *s, const vlm_message *msgs, size_t n, bool stream_prompt, bool gen_prompt,
                               bool stream_gen_prompt, bool query_prompt, vlm_tokens *out) {
    vlm_template_params tp = vlm_template_default_params();
    tp.live_version = s->ntok == 1 ? VLM_LIVE_V1 : VLM_LIVE_V1PLUS;
    tp.add_stream_prompt = stream_prompt;
    tp.add_generation_prompt = gen_prompt;
    tp.add_stream_generation_prompt = stream_gen_prompt;
    tp.add_stream_query_prompt = query_prompt;
    char *text = NULL;
    size_t len = 0;
    vlm_status st = vlm_template_render(msgs, n, &tp, &text, &len, s->err, sizeof s->err);
    if (st) return st;
    st = vlm_tokenizer_encode(s->tok, text, len, out);
    if (st) vlm_set_err(s->err, sizeof s->err, st, "cannot tokenize prompt: %s", vlm_tokenizer_last_error(s->tok));
    free(text);
    return st;
}

vlm_status vlm_session_init(const vlm_model *m, const vlm_session_params *pp, vlm_session **out, char *err,
                            size_t err_size) {
    *out = NULL;
    if (!m) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "no model");
    vlm_session_params p = pp ? *pp : vlm_session_default_params();
    const vlm_model_hparams *hp = vlm_model_get_hparams(m);
    if (!vlm_model_tokenizer(m)) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "the model has no tokenizer");
    if (p.max_new_tokens < 1 || p.max_new_tokens > 100000)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "max_new_tokens must be in [1, 100000]");
    if (p.max_queue < 1 || p.max_queue > 4096)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "max_queue must be in [1, 4096]");
    if (p.threshold < 0) p.threshold = vlm_model_stream_threshold(m);
    if (!(p.threshold >= 0 && p.threshold <= 1))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "threshold must be in [0, 1]");
    vlm_session *s = calloc(1, sizeof *s);
    if (!s) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    if (pthread_mutex_init(&s->mu, NULL)) {
        free(s);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "cannot create a mutex");
    }
    if (pthread_cond_init(&s->cv, NULL)) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "cannot create a condition variable");
    }
    s->m = m;
    s->p = p;
    s->tok = vlm_model_tokenizer(m);
    s->n_embd = hp->n_embd;
    s->n_vocab = hp->n_vocab;
    s->ntok = hp->frame_num_tokens;
    s->eos_id = hp->eos_token_id;
    s->interval_id = hp->frame_token_interval_id >= 0 ? hp->frame_token_interval_id : hp->eos_token_id;

    vlm_lm_context_params lp = vlm_lm_context_default_params();
    lp.n_ctx = p.n_ctx;
    lp.n_threads = p.n_threads;
    vlm_status st = vlm_lm_context_init(m, &lp, &s->lm, err, err_size);
    if (st) goto fail;
    if (vlm_model_has_vision(m)) {
        vlm_vision_context_params vp = vlm_vision_context_default_params();
        vp.n_threads = p.n_threads;
        st = vlm_vision_context_init(m, &vp, &s->vis, err, err_size);
        if (st) goto fail;
    }
    if (p.pipeline && !s->vis) p.pipeline = s->p.pipeline = false; /* nothing to encode */
    s->res = vlm_model_frame_resolution(m);
    size_t nq = (size_t)p.max_queue, frame_floats = (size_t)s->ntok * (size_t)s->n_embd;
    size_t frame_bytes = (size_t)s->res * (size_t)s->res * 3;
    s->slots = calloc(nq, sizeof *s->slots);
    s->ord = calloc(nq, sizeof *s->ord);
    s->slot_mem = malloc(nq * frame_floats * sizeof(float));
    if (p.pipeline) s->rgb_mem = malloc(nq * frame_bytes);
    s->logits = malloc((size_t)s->n_vocab * sizeof(float));
    s->out_ids = malloc((size_t)(p.max_new_tokens + 1) * sizeof(int32_t));
    s->q_cap = 8;
    s->queries = calloc(s->q_cap, sizeof *s->queries);
    s->d_cap = s->drop_out_cap = nq * 4 > 64 ? nq * 4 : 64;
    s->drops = calloc(s->d_cap, sizeof *s->drops);
    s->drop_out = calloc(s->drop_out_cap, sizeof *s->drop_out);
    if (!s->slots || !s->ord || !s->slot_mem || (p.pipeline && !s->rgb_mem) || !s->logits || !s->out_ids ||
        !s->queries || !s->drops || !s->drop_out) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nq; i++) {
        s->slots[i].embd = s->slot_mem + i * frame_floats;
        if (p.pipeline) s->slots[i].rgb = s->rgb_mem + i * frame_bytes;
    }

    /* the fixed prompt fragments, rendered by the template and tokenized whole */
    const char *sys = p.system_prompt ? p.system_prompt : vlm_model_system_prompt(m);
    vlm_message sysmsg = {.role = VLM_ROLE_SYSTEM, .content = sys, .content_len = strlen(sys), .is_object = true};
    vlm_message empty = {.role = VLM_ROLE_UNKNOWN, .is_object = true};
    if ((st = fragment_ids(s, &sysmsg, 1, true, false, false, false, &s->start_ids)) ||
        (st = fragment_ids(s, &empty, 1, true, false, false, false, &s->stream_prompt_ids)) ||
        (st = fragment_ids(s, &empty, 1, false, false, true, false, &s->gen_ids))) {
        vlm_set_err(err, err_size, st, "%s", s->err);
        goto fail;
    }
    s->in_cap = s->start_ids.n + s->stream_prompt_ids.n + 4 + (size_t)s->ntok;
    s->in = malloc(s->in_cap * sizeof *s->in);
    if (!s->in) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto fail;
    }
    if (p.pipeline) {
        if (pthread_create(&s->worker, NULL, encode_worker, s)) {
            st = vlm_set_err(err, err_size, VLM_ERR_OOM, "cannot start the frame encoding thread");
            goto fail;
        }
        s->worker_started = true;
    }
    *out = s;
    return VLM_OK;
fail:
    vlm_session_free(s);
    return st;
}

static void emit(vlm_session *s, const vlm_event *ev) {
    if (s->p.on_event) s->p.on_event(s->p.user_data, ev);
}

/* ---- frame queue (all under mu) ---------------------------------------- */

static void remove_ord(vlm_session *s, size_t pos) {
    s->slots[s->ord[pos]].state = SLOT_FREE;
    memmove(s->ord + pos, s->ord + pos + 1, (s->n_ord - pos - 1) * sizeof *s->ord);
    s->n_ord--;
}

/* Record a dropped frame for the next step to report. The ring grows only
 * when more frames drop between two steps than it holds. */
static void record_drop(vlm_session *s, double t, int64_t index) {
    if (s->d_count == s->d_cap) {
        size_t nc = s->d_cap * 2;
        drop_item *nd = malloc(nc * sizeof *nd);
        if (!nd) { /* keep the newest records */
            s->d_head = (s->d_head + 1) % s->d_cap;
            s->d_count--;
        } else {
            for (size_t i = 0; i < s->d_count; i++) nd[i] = s->drops[(s->d_head + i) % s->d_cap];
            free(s->drops);
            s->drops = nd;
            s->d_cap = nc;
            s->d_head = 0;
        }
    }
    s->drops[(s->d_head + s->d_count) % s->d_cap] = (drop_item){t, index};
    s->d_count++;
}

/* A free slot for a new frame at (t, index), or NULL when the pushed frame
 * itself is dropped (every queued frame is busy). Drops the oldest waiting
 * frame when the queue is full. */
static frame_slot *claim_slot(vlm_session *s, double t, int64_t index) {
    if (s->n_ord == (size_t)s->p.max_queue) {
        size_t pos = 0;
        while (pos < s->n_ord && s->slots[s->ord[pos]].state != SLOT_RAW && s->slots[s->ord[pos]].state != SLOT_READY)
            pos++;
        if (pos == s->n_ord) {
            record_drop(s, t, index);
            return NULL;
        }
        frame_slot *old = &s->slots[s->ord[pos]];
        record_drop(s, old->t, old->index);
        remove_ord(s, pos);
    }
    for (size_t i = 0; i < (size_t)s->p.max_queue; i++)
        if (s->slots[i].state == SLOT_FREE) {
            s->ord[s->n_ord++] = i;
            s->slots[i].t = t;
            s->slots[i].index = index;
            return &s->slots[i];
        }
    return NULL; /* not reached: n_ord < max_queue means a slot is free */
}

/* The pipeline worker: encode RAW slots, oldest first. */
static void *encode_worker(void *arg) {
    vlm_session *s = arg;
    lock(s);
    while (!s->stop) {
        frame_slot *f = NULL;
        for (size_t i = 0; i < s->n_ord && !f; i++)
            if (s->slots[s->ord[i]].state == SLOT_RAW) f = &s->slots[s->ord[i]];
        if (!f) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        f->state = SLOT_ENCODING;
        unlock(s);
        vlm_status st = vlm_vision_embed_rgb(s->vis, f->rgb, f->embd);
        lock(s);
        f->state = st ? SLOT_FAILED : SLOT_READY;
        f->st = st;
        if (st) snprintf(s->verr, sizeof s->verr, "%s", vlm_vision_last_error(s->vis));
        pthread_cond_broadcast(&s->cv);
    }
    unlock(s);
    return NULL;
}

vlm_status vlm_session_push_embeds(vlm_session *s, const float *embeds, double t, int64_t index) {
    if (!s || !embeds) return VLM_ERR_INVALID_ARG;
    lock(s);
    frame_slot *slot = claim_slot(s, t, index);
    if (slot) {
        memcpy(slot->embd, embeds, (size_t)s->ntok * (size_t)s->n_embd * sizeof(float));
        slot->state = SLOT_READY;
        pthread_cond_broadcast(&s->cv);
    }
    unlock(s);
    return VLM_OK;
}

vlm_status vlm_session_push_frame(vlm_session *s, const uint8_t *rgb, double t, int64_t index) {
    if (!s || !rgb) return VLM_ERR_INVALID_ARG;
    if (!s->vis) return vlm_set_err(s->err, sizeof s->err, VLM_ERR_INVALID_ARG, "the model has no vision tower");
    lock(s);
    frame_slot *slot = claim_slot(s, t, index);
    if (!slot) {
        unlock(s);
        return VLM_OK;
    }
    if (s->p.pipeline) { /* the worker encodes it */
        memcpy(slot->rgb, rgb, (size_t)s->res * (size_t)s->res * 3);
        slot->state = SLOT_RAW;
        pthread_cond_broadcast(&s->cv);
        unlock(s);
        return VLM_OK;
    }
    slot->state = SLOT_ENCODING; /* encoded here; a concurrent push cannot drop it */
    unlock(s);
    vlm_status st = vlm_vision_embed_rgb(s->vis, rgb, slot->embd);
    lock(s);
    if (st) {
        for (size_t i = 0; i < s->n_ord; i++)
            if (&s->slots[s->ord[i]] == slot) { remove_ord(s, i); break; }
    } else {
        slot->state = SLOT_READY;
    }
    pthread_cond_broadcast(&s->cv);
    unlock(s);
    if (st) return vlm_set_err(s->err, sizeof s->err, st, "vision: %s", vlm_vision_last_error(s->vis));
    return VLM_OK;
}

vlm_status vlm_session_push_query(vlm_session *s, double t, const char *text) {
    if (!s || !text) return VLM_ERR_INVALID_ARG;
    if (!(t >= 0) || !isfinite(t)) return vlm_set_err(s->err, sizeof s->err, VLM_ERR_INVALID_ARG, "query time must be >= 0");
    char *copy = strdup(text);
    if (!copy) return vlm_set_err(s->err, sizeof s->err, VLM_ERR_OOM, "out of memory");
    lock(s);
    if (s->q_count == s->q_cap) {
        size_t nc = s->q_cap * 2;
        query_item *nq = calloc(nc, sizeof *nq);
        if (!nq) {
            unlock(s);
            free(copy);
            return vlm_set_err(s->err, sizeof s->err, VLM_ERR_OOM, "out of memory");
        }
        for (size_t i = 0; i < s->q_count; i++) nq[i] = s->queries[(s->q_head + i) % s->q_cap];
        free(s->queries);
        s->queries = nq;
        s->q_cap = nc;
        s->q_head = 0;
    }
    s->queries[(s->q_head + s->q_count) % s->q_cap] = (query_item){t, copy};
    s->q_count++;
    unlock(s);
    return VLM_OK;
}

/* Make room for n more positions (the KV policy). */
static vlm_status ensure_room(vlm_session *s, size_t n) {
    int32_t len = vlm_lm_kv_len(s->lm), cap = vlm_lm_n_ctx(s->lm);
    if ((size_t)len + n <= (size_t)cap) return VLM_OK;
    int32_t keep = (int32_t)s->start_ids.n + s->p.n_sink;
    if (s->p.kv_policy == VLM_KV_UNBOUNDED || keep + (int64_t)n + 16 > cap)
        return vlm_set_err(s->err, sizeof s->err, VLM_ERR_CTX_FULL,
                           "the KV cache is full (%d of %d positions; %zu more needed)", len, cap, n);
    /* evict half of what lies after the kept prefix, at least what is needed */
    int32_t evictable = len - keep;
    int32_t need = (int32_t)((size_t)len + n - (size_t)cap);
    int32_t count = evictable / 2 > need ? evictable / 2 : need;
    vlm_status st = vlm_lm_kv_evict(s->lm, keep, count);
    if (st) return vlm_set_err(s->err, sizeof s->err, st, "KV eviction failed: %s", vlm_lm_last_error(s->lm));
    vlm_event ev = {.type = VLM_EVENT_KV_EVICT, .n_tokens = (size_t)count};
    emit(s, &ev);
    return VLM_OK;
}

static vlm_status eval(vlm_session *s, const vlm_lm_input *in, size_t n) {
    vlm_status st = ensure_room(s, n);
    if (st) return st;
    st = vlm_lm_eval(s->lm, in, n, VLM_LOGITS_LAST, s->logits);
    if (st) return vlm_set_err(s->err, sizeof s->err, st, "LM: %s", vlm_lm_last_error(s->lm));
    return VLM_OK;
}

static int32_t argmax_logits(const float *l, int32_t n, int32_t skip) {
    int32_t best = -1;
    for (int32_t i = 0; i < n; i++)
        if (i != skip && (best < 0 || l[i] > l[best])) best = i;
    return best;
}

/* The reply: prompt ids (query or "]\nAssistant:"), then greedy decoding. */
static vlm_status respond(vlm_session *s, double t, const char *query) {
    const vlm_tokens *prompt;
    if (query) {
        vlm_message um = {.role = VLM_ROLE_USER, .content = query, .content_len = strlen(query), .is_object = true};
        vlm_status st = fragment_ids(s, &um, 1, false, true, false, true, &s->respond_ids);
        if (st) return st;
        prompt = &s->respond_ids;
        vlm_event ev = {.type = VLM_EVENT_QUERY, .time = t, .text = query, .text_len = strlen(query)};
        emit(s, &ev);
    } else {
        prompt = &s->gen_ids; /* the original asserts the sampled token was "]\n"; we proceed */
    }
    vlm_event ev = {.type = VLM_EVENT_RESPONSE_START, .time = t};
    emit(s, &ev);
    if (prompt->n + 1 > s->in_cap) {
        vlm_lm_input *ni = realloc(s->in, (prompt->n + 1) * sizeof *ni);
        if (!ni) return vlm_set_err(s->err, sizeof s->err, VLM_ERR_OOM, "out of memory");
        s->in = ni;
        s->in_cap = prompt->n + 1;
    }
    for (size_t i = 0; i < prompt->n; i++) s->in[i] = (vlm_lm_input){.token = prompt->ids[i]};
    size_t n_in = prompt->n, n_out = 0;
    char *prev_text = NULL;
    size_t prev_len = 0;
    vlm_decode_params dp = {.skip_special_tokens = true, .clean_up_tokenization_spaces = true};
    vlm_status st = VLM_OK;
    for (int i = 0; i < s->p.max_new_tokens; i++) {
        st = eval(s, s->in, n_in);
        if (st) break;
        int32_t tok = argmax_logits(s->logits, s->n_vocab, -1);
        s->out_ids[n_out++] = tok;
        /* stream the newly decoded characters (held back while a UTF-8 sequence is incomplete) */
        char *text = NULL;
        size_t len = 0;
        if (vlm_tokenizer_decode(s->tok, s->out_ids, n_out, &dp, &text, &len) == VLM_OK) {
            bool partial = len >= 3 && !memcmp(text + len - 3, "\xEF\xBF\xBD", 3);
            if (!partial && len >= prev_len && (!prev_text || !memcmp(text, prev_text, prev_len))) {
                vlm_event te = {.type = VLM_EVENT_RESPONSE_TOKEN, .time = t, .token = tok, .text = text + prev_len,
                                .text_len = len - prev_len};
                emit(s, &te);
                free(prev_text);
                prev_text = text;
                prev_len = len;
            } else {
                vlm_event te = {.type = VLM_EVENT_RESPONSE_TOKEN, .time = t, .token = tok, .text = "", .text_len = 0};
                emit(s, &te);
                free(text);
            }
        }
        if (tok == s->eos_id) break;
        s->in[0] = (vlm_lm_input){.token = tok};
        n_in = 1;
    }
    free(prev_text);
    if (st) return st;
    /* the last generated token is not in the cache yet: it is fed with the next frame */
    s->n_last = 0;
    s->last_ids[s->n_last++] = s->out_ids[n_out - 1];
    if (s->out_ids[n_out - 1] != s->eos_id) s->last_ids[s->n_last++] = s->eos_id; /* cut at the cap: close it */
    char *text = NULL;
    size_t len = 0;
    st = vlm_tokenizer_decode(s->tok, s->out_ids, n_out, &dp, &text, &len);
    if (st) return vlm_set_err(s->err, sizeof s->err, st, "decode failed");
    vlm_event ee = {.type = VLM_EVENT_RESPONSE_END, .time = t, .text = text, .text_len = len,
                    .token_ids = s->out_ids, .n_tokens = n_out};
    emit(s, &ee);
    free(text);
    return VLM_OK;
}

/* Pop the oldest query if `due` says so (under mu). */
static bool pop_query_if(vlm_session *s, double frame_t, bool before, query_item *q) {
    if (!s->q_count) return false;
    double qt = s->queries[s->q_head].t;
    if (before ? !(frame_t > qt) : !(frame_t >= qt)) return false;
    *q = s->queries[s->q_head];
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_count--;
    return true;
}

/* Report the frames dropped since the last report (stepping thread). */
static void report_drops(vlm_session *s) {
    lock(s);
    size_t n = s->d_count;
    if (n > s->drop_out_cap) {
        drop_item *nd = malloc(n * sizeof *nd);
        if (nd) {
            free(s->drop_out);
            s->drop_out = nd;
            s->drop_out_cap = n;
        } else {
            n = s->drop_out_cap;
        }
    }
    for (size_t i = 0; i < n; i++) s->drop_out[i] = s->drops[(s->d_head + i) % s->d_cap];
    s->d_head = (s->d_head + n) % s->d_cap;
    s->d_count -= n;
    unlock(s);
    for (size_t i = 0; i < n; i++) {
        vlm_event ev = {.type = VLM_EVENT_DROPPED, .time = s->drop_out[i].t, .index = s->drop_out[i].index};
        emit(s, &ev);
    }
}

vlm_status vlm_session_step(vlm_session *s) { return vlm_session_step_upto(s, INT64_MAX); }

vlm_status vlm_session_step_upto(vlm_session *s, int64_t max_index) {
    if (!s) return VLM_ERR_INVALID_ARG;
    for (;;) {
        report_drops(s);
        lock(s);
        /* the oldest queued frame within reach, once it is encoded */
        frame_slot *f = NULL;
        while (s->n_ord && s->slots[s->ord[0]].index <= max_index) {
            frame_slot *o = &s->slots[s->ord[0]];
            if (o->state == SLOT_READY || o->state == SLOT_FAILED) {
                f = o;
                break;
            }
            pthread_cond_wait(&s->cv, &s->mu);
        }
        if (!f) {
            unlock(s);
            return VLM_OK;
        }
        if (f->state == SLOT_FAILED) {
            vlm_status st = f->st;
            vlm_set_err(s->err, sizeof s->err, st, "vision: frame %lld: %s", (long long)f->index, s->verr);
            remove_ord(s, 0);
            unlock(s);
            return st;
        }
        /* 1. a query earlier than the next frame is answered first */
        query_item q;
        if (pop_query_if(s, f->t, true, &q)) {
            unlock(s);
            vlm_status st = respond(s, q.t, q.text);
            free(q.text);
            return st;
        }
        f->state = SLOT_CONSUMING; /* pushes cannot drop it while the LM reads it */
        double t = f->t;
        int64_t index = f->index;
        unlock(s);
        /* 2. feed the pending tokens and the frame */
        size_t n = 0;
        if (!s->started) {
            for (size_t i = 0; i < s->start_ids.n; i++) s->in[n++] = (vlm_lm_input){.token = s->start_ids.ids[i]};
        } else {
            for (int i = 0; i < s->n_last; i++) s->in[n++] = (vlm_lm_input){.token = s->last_ids[i]};
            if (s->n_last && s->last_ids[s->n_last - 1] == s->eos_id)
                for (size_t i = 0; i < s->stream_prompt_ids.n; i++)
                    s->in[n++] = (vlm_lm_input){.token = s->stream_prompt_ids.ids[i]};
        }
        for (int i = 0; i < s->ntok; i++)
            s->in[n++] = (vlm_lm_input){.token = -1, .embd = f->embd + (size_t)i * s->n_embd};
        vlm_status st = eval(s, s->in, n);
        lock(s);
        remove_ord(s, 0); /* f is still ord[0]: CONSUMING slots are never dropped */
        pthread_cond_broadcast(&s->cv);
        unlock(s);
        if (st) return st;
        s->started = true;
        s->n_last = 0;
        /* P(interval) at the frame's last token */
        float mx = s->logits[0];
        for (int32_t i = 1; i < s->n_vocab; i++) mx = s->logits[i] > mx ? s->logits[i] : mx;
        double sum = 0;
        for (int32_t i = 0; i < s->n_vocab; i++) sum += exp((double)s->logits[i] - mx);
        float p_int = (float)(exp((double)s->logits[s->interval_id] - mx) / sum);
        vlm_event fe = {.type = VLM_EVENT_FRAME, .time = t, .index = index, .p_interval = p_int};
        emit(s, &fe);
        /* 3. a query at or before this frame's time is answered after it */
        lock(s);
        bool due = pop_query_if(s, t, false, &q);
        unlock(s);
        if (due) {
            st = respond(s, q.t, q.text);
            free(q.text);
            report_drops(s);
            return st;
        }
        /* 4. silent iff P(interval) >= threshold */
        int32_t next = p_int >= s->p.threshold ? s->interval_id
                                                : argmax_logits(s->logits, s->n_vocab, s->interval_id);
        s->last_ids[s->n_last++] = next;
        if (next != s->interval_id) {
            st = respond(s, t, NULL);
            report_drops(s);
            return st;
        }
    }
}
