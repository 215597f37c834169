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
 * keys are re-rotated (the original runs past the trained length). */
#include <math.h>

#include "core/util.h"
#include "model/kv.h"

typedef struct {
    double t;
    int64_t index;
    float *embd; /* [ntok][n_embd] */
} frame_slot;

typedef struct {
    double t;
    char *text;
} query_item;

struct vlm_session {
    const vlm_model *m;
    const vlm_tokenizer *tok;
    vlm_session_params p;
    int32_t n_embd, n_vocab, ntok, interval_id, eos_id;
    vlm_lm_context *lm;
    vlm_vision_context *vis;
    /* frame queue: ring of max_queue slots */
    frame_slot *slots;
    float *slot_mem;
    size_t head, count;
    /* query queue (FIFO, small) */
    query_item *queries;
    size_t q_head, q_count, q_cap;
    /* fixed prompt pieces */
    vlm_tokens start_ids, stream_prompt_ids, gen_ids, respond_ids, scratch_ids;
    /* tokens waiting to be fed before the next frame */
    int32_t last_ids[4];
    int n_last;
    bool started;
    /* buffers */
    vlm_lm_input *in;
    size_t in_cap;
    float *logits; /* [n_vocab] */
    int32_t *out_ids;
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
size_t vlm_session_pending_frames(const vlm_session *s) { return s ? s->count : 0; }
size_t vlm_session_pending_queries(const vlm_session *s) { return s ? s->q_count : 0; }
int32_t vlm_session_kv_len(const vlm_session *s) { return s ? vlm_lm_kv_len(s->lm) : 0; }

void vlm_session_free(vlm_session *s) {
    if (!s) return;
    vlm_lm_context_free(s->lm);
    vlm_vision_context_free(s->vis);
    free(s->slots);
    free(s->slot_mem);
    for (size_t i = 0; i < s->q_count; i++) free(s->queries[(s->q_head + i) % s->q_cap].text);
    free(s->queries);
    vlm_tokens_free(&s->start_ids);
    vlm_tokens_free(&s->stream_prompt_ids);
    vlm_tokens_free(&s->gen_ids);
    vlm_tokens_free(&s->respond_ids);
    vlm_tokens_free(&s->scratch_ids);
    free(s->in);
    free(s->logits);
    free(s->out_ids);
    free(s);
}

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
    size_t frame_floats = (size_t)s->ntok * (size_t)s->n_embd;
    s->slots = calloc((size_t)p.max_queue, sizeof *s->slots);
    s->slot_mem = malloc((size_t)p.max_queue * frame_floats * sizeof(float));
    s->logits = malloc((size_t)s->n_vocab * sizeof(float));
    s->out_ids = malloc((size_t)(p.max_new_tokens + 1) * sizeof(int32_t));
    s->q_cap = 8;
    s->queries = calloc(s->q_cap, sizeof *s->queries);
    if (!s->slots || !s->slot_mem || !s->logits || !s->out_ids || !s->queries) {
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < p.max_queue; i++) s->slots[i].embd = s->slot_mem + (size_t)i * frame_floats;

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
    *out = s;
    return VLM_OK;
fail:
    vlm_session_free(s);
    return st;
}

static void emit(vlm_session *s, const vlm_event *ev) {
    if (s->p.on_event) s->p.on_event(s->p.user_data, ev);
}

vlm_status vlm_session_push_embeds(vlm_session *s, const float *embeds, double t, int64_t index) {
    if (!s || !embeds) return VLM_ERR_INVALID_ARG;
    if (s->count == (size_t)s->p.max_queue) { /* full: drop the oldest waiting frame */
        frame_slot *old = &s->slots[s->head];
        vlm_event ev = {.type = VLM_EVENT_DROPPED, .time = old->t, .index = old->index};
        s->head = (s->head + 1) % (size_t)s->p.max_queue;
        s->count--;
        emit(s, &ev);
    }
    frame_slot *slot = &s->slots[(s->head + s->count) % (size_t)s->p.max_queue];
    memcpy(slot->embd, embeds, (size_t)s->ntok * (size_t)s->n_embd * sizeof(float));
    slot->t = t;
    slot->index = index;
    s->count++;
    return VLM_OK;
}

vlm_status vlm_session_push_frame(vlm_session *s, const uint8_t *rgb, double t, int64_t index) {
    if (!s || !rgb) return VLM_ERR_INVALID_ARG;
    if (!s->vis) return vlm_set_err(s->err, sizeof s->err, VLM_ERR_INVALID_ARG, "the model has no vision tower");
    if (s->count == (size_t)s->p.max_queue) {
        frame_slot *old = &s->slots[s->head];
        vlm_event ev = {.type = VLM_EVENT_DROPPED, .time = old->t, .index = old->index};
        s->head = (s->head + 1) % (size_t)s->p.max_queue;
        s->count--;
        emit(s, &ev);
    }
    frame_slot *slot = &s->slots[(s->head + s->count) % (size_t)s->p.max_queue];
    vlm_status st = vlm_vision_embed_rgb(s->vis, rgb, slot->embd);
    if (st) return vlm_set_err(s->err, sizeof s->err, st, "vision: %s", vlm_status_str(st));
    slot->t = t;
    slot->index = index;
    s->count++;
    return VLM_OK;
}

vlm_status vlm_session_push_query(vlm_session *s, double t, const char *text) {
    if (!s || !text) return VLM_ERR_INVALID_ARG;
    if (!(t >= 0) || !isfinite(t)) return vlm_set_err(s->err, sizeof s->err, VLM_ERR_INVALID_ARG, "query time must be >= 0");
    if (s->q_count == s->q_cap) {
        size_t nc = s->q_cap * 2;
        query_item *nq = calloc(nc, sizeof *nq);
        if (!nq) return vlm_set_err(s->err, sizeof s->err, VLM_ERR_OOM, "out of memory");
        for (size_t i = 0; i < s->q_count; i++) nq[i] = s->queries[(s->q_head + i) % s->q_cap];
        free(s->queries);
        s->queries = nq;
        s->q_cap = nc;
        s->q_head = 0;
    }
    char *copy = strdup(text);
    if (!copy) return vlm_set_err(s->err, sizeof s->err, VLM_ERR_OOM, "out of memory");
    s->queries[(s->q_head + s->q_count) % s->q_cap] = (query_item){t, copy};
    s->q_count++;
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

static void pop_query(vlm_session *s, query_item *q) {
    *q = s->queries[s->q_head];
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_count--;
}

vlm_status vlm_session_step(vlm_session *s) {
    if (!s) return VLM_ERR_INVALID_ARG;
    while (s->count > 0) {
        frame_slot *f = &s->slots[s->head];
        /* 1. a query earlier than the next frame is answered first */
        if (s->q_count && f->t > s->queries[s->q_head].t) {
            query_item q;
            pop_query(s, &q);
            vlm_status st = respond(s, q.t, q.text);
            free(q.text);
            return st;
        }
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
        for (int i = 0; i < s->ntok; i++) s->in[n++] = (vlm_lm_input){.token = -1, .embd = f->embd + (size_t)i * s->n_embd};
        double t = f->t;
        int64_t index = f->index;
        vlm_status st = eval(s, s->in, n);
        s->head = (s->head + 1) % (size_t)s->p.max_queue;
        s->count--;
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
        if (s->q_count && t >= s->queries[s->q_head].t) {
            query_item q;
            pop_query(s, &q);
            st = respond(s, q.t, q.text);
            free(q.text);
            return st;
        }
        /* 4. silent iff P(interval) >= threshold */
        int32_t next = p_int >= s->p.threshold ? s->interval_id
                                                : argmax_logits(s->logits, s->n_vocab, s->interval_id);
        s->last_ids[s->n_last++] = next;
        if (next != s->interval_id) return respond(s, t, NULL);
    }
    return VLM_OK;
}
