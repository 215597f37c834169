/* labels.c - learn ranges, token labels, training samples and batch collation,
 * as VideoLLM-online's get_learn_ranges() and data_collator() compute them.
 *
 * Learn ranges are [start, stop) character ranges (Python code points) in the
 * rendered text. They are computed from the messages alone, with the role
 * transition table of the original (the text between two messages' payloads);
 * a transition that is not in the table is an error, as the original's
 * KeyError. The collator maps each range to tokens by exact offset match and
 * stores labels pre-shifted: labels[j] is the target of position j.
 * docs/text-pipeline.md states every rule and every deliberate deviation. */
#include "core/util.h"
#include "text/live_internal.h"

#define IGNORE_INDEX (-100)
#define ROLE_NONE (-1) /* "previous role" before the first message */

/* ------------------------------------------------------------------------- */
/* Role transitions                                                           */
/* ------------------------------------------------------------------------- */

/* Length in code points of the transition string between the payloads of two
 * consecutive messages (the original's chat_template_transition), or -1 when
 * the pair is not in the table. */
static int64_t transition_len(int prev, vlm_role next, int64_t bos_len, int64_t eos_len) {
    switch (prev) {
    case ROLE_NONE:
        if (next == VLM_ROLE_SYSTEM) return bos_len; /* bos                */
        break;
    case VLM_ROLE_SYSTEM:
        if (next == VLM_ROLE_USER) return 8;         /* "\n\nUser: "         */
        if (next == VLM_ROLE_STREAM) return 3;       /* "\n\n["              */
        break;
    case VLM_ROLE_USER:
        if (next == VLM_ROLE_ASSISTANT) return 12;   /* "\nAssistant: "      */
        if (next == VLM_ROLE_STREAM) return 2;       /* "\n["                */
        if (next == VLM_ROLE_USER) return 7;         /* "\nUser: "           */
        break;
    case VLM_ROLE_ASSISTANT:
        if (next == VLM_ROLE_USER) return eos_len + 7;   /* eos "\nUser: "   */
        if (next == VLM_ROLE_STREAM) return eos_len + 2; /* eos "\n["        */
        break;
    case VLM_ROLE_STREAM:
        if (next == VLM_ROLE_USER) return 8;         /* "]\nUser: "          */
        if (next == VLM_ROLE_ASSISTANT) return 13;   /* "]\nAssistant: "     */
        break;
    default: break;
    }
    return -1;
}

#define ASSISTANT_PREFIX_LEN 11 /* "Assistant: " */

/* ------------------------------------------------------------------------- */
/* Learn ranges                                                               */
/* ------------------------------------------------------------------------- */
typedef struct {
    int64_t *r; /* [n*2] */
    size_t n, cap;
} range_vec;

static bool rv_push(range_vec *v, int64_t start, int64_t stop) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16, bytes;
        if (cap < v->cap || !vlm_mul_ok(cap, 2 * sizeof(int64_t), &bytes)) return false;
        int64_t *nr = realloc(v->r, bytes);
        if (!nr) return false;
        v->r = nr;
        v->cap = cap;
    }
    v->r[2 * v->n] = start;
    v->r[2 * v->n + 1] = stop;
    v->n++;
    return true;
}

/* Python's len(ranges[:m]) for n ranges; VLM_LEARN_ALL (true) keeps all. */
static int64_t sliced_count(int64_t n, int64_t learn) {
    if (learn == VLM_LEARN_ALL || learn >= n) return n;
    if (learn >= 0) return learn;
    return learn < -n ? 0 : n + learn; /* negative: drop -learn from the end */
}

static vlm_status stream_check(const vlm_message *m, size_t i, const vlm_template_params *p, char *err,
                               size_t err_size) {
    switch (m->num_frames_state) {
    case VLM_FIELD_ABSENT:
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "message %zu (stream): num_frames is missing", i);
    case VLM_FIELD_BAD_TYPE:
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "message %zu (stream): num_frames is not a number",
                           i);
    case VLM_FIELD_REAL:
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "message %zu (stream): num_frames is not an integer (%g)", i, m->num_frames_real);
    case VLM_FIELD_OK: break;
    }
    if (m->num_frames <= 0)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "message %zu (stream): num_frames is %lld, a stream needs at least one frame (the "
                           "template renders nothing for it, but the original learn-range code still counts "
                           "its brackets and placeholders, so every later offset would be off)",
                           i, (long long)m->num_frames);
    if (m->num_frames > p->max_frames)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "message %zu (stream): num_frames %lld exceeds the limit of %lld frames", i,
                           (long long)m->num_frames, (long long)p->max_frames);
    if (m->learn_bad && m->learn)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "message %zu (stream): learn must be true, false or an integer (the original slices "
                           "the frame ranges with it)",
                           i);
    return VLM_OK;
}

/* Walk the messages as get_learn_ranges() does. With out == NULL it only
 * validates (strict rendering). */
static vlm_status learn_walk(const vlm_message *msgs, size_t n, const vlm_template_params *p, range_vec *out,
                             char *err, size_t err_size) {
    vlm_template_params dp = vlm_template_default_params();
    if (!p) p = &dp;
    if (!msgs && n) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "learn ranges: msgs is NULL");
    if (p->live_version != VLM_LIVE_V1PLUS && p->live_version != VLM_LIVE_V1)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "learn ranges: unknown live version %d",
                           (int)p->live_version);
    const char *bos = p->bos_token ? p->bos_token : dp.bos_token;
    const char *eos = p->eos_token ? p->eos_token : dp.eos_token;
    const int64_t bos_len = vlm__utf8_len(bos, strlen(bos)), eos_len = vlm__utf8_len(eos, strlen(eos));
    const bool v1 = p->live_version == VLM_LIVE_V1;
    const int64_t il = v1 ? 0 : 1;                /* len(frame_token_interval)            */
    const int64_t frame_len = v1 ? 3 : 30;        /* len('<v>') * frame_num_tokens        */
    const int64_t L = frame_len + il;             /* one frame with its interval          */
    const int64_t len_learn = v1 ? 3 : il;        /* interval if any, else one '<v>'      */

    int64_t offset = 0;
    int prev = ROLE_NONE;
    for (size_t i = 0; i < n; i++) {
        const vlm_message *m = &msgs[i];
        if (!m->is_object)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "message %zu is not a JSON object", i);
        if (m->role == VLM_ROLE_UNKNOWN)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                               "message %zu: role is missing or not one of system, user, assistant, stream", i);
        int64_t t = transition_len(prev, m->role, bos_len, eos_len);
        if (t < 0) {
            if (prev == ROLE_NONE)
                return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                                   "message 0: a conversation must start with a system message, not %s",
                                   vlm__role_name(m->role));
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                               "message %zu: %s after %s is not an allowed role sequence (not in the "
                               "template's transition table)",
                               i, vlm__role_name(m->role), vlm__role_name((vlm_role)prev));
        }
        offset += t;
        if (m->role == VLM_ROLE_STREAM) {
            vlm_status st = stream_check(m, i, p, err, err_size);
            if (st != VLM_OK) return st;
            const int64_t nf = m->num_frames;
            if (out && m->learn && !m->learn_bad) {
                int64_t keep = sliced_count(nf, m->learn);
                for (int64_t k = 1; k <= keep; k++) {
                    int64_t start = L * k - il, stop = start + len_learn;
                    if (k == nf) stop += 1; /* the last frame also learns the "\n" of "]\n" */
                    if (!rv_push(out, offset + start, offset + stop))
                        return vlm_set_err(err, err_size, VLM_ERR_OOM, "learn ranges: out of memory");
                }
            }
            offset += L * nf - il;
        } else {
            if (m->content_state != VLM_FIELD_OK)
                return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "message %zu (%s): content is %s", i,
                                   vlm__role_name(m->role),
                                   m->content_state == VLM_FIELD_ABSENT ? "missing" : "not a string");
            int64_t clen = vlm__utf8_len(m->content, m->content_len);
            if (out && m->role == VLM_ROLE_ASSISTANT && m->learn) {
                if (!rv_push(out, offset - ASSISTANT_PREFIX_LEN, offset + clen + eos_len))
                    return vlm_set_err(err, err_size, VLM_ERR_OOM, "learn ranges: out of memory");
            }
            offset += clen;
        }
        prev = m->role;
    }
    return VLM_OK;
}

vlm_status vlm__validate_conversation(const vlm_message *msgs, size_t n, const vlm_template_params *p, char *err,
                                      size_t err_size) {
    return learn_walk(msgs, n, p, NULL, err, err_size);
}

vlm_status vlm_learn_ranges(const vlm_message *msgs, size_t n, const vlm_template_params *p, int64_t **ranges,
                            size_t *n_ranges, char *err, size_t err_size) {
    if (!ranges || !n_ranges)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_learn_ranges: output pointer is NULL");
    *ranges = NULL;
    *n_ranges = 0;
    range_vec v = {0};
    vlm_status st = learn_walk(msgs, n, p, &v, err, err_size);
    if (st != VLM_OK) {
        free(v.r);
        return st;
    }
    *ranges = v.r;
    *n_ranges = v.n;
    return VLM_OK;
}

/* ------------------------------------------------------------------------- */
/* Ranges -> labels (the collator)                                            */
/* ------------------------------------------------------------------------- */

/* Byte offset of code point index cp in text (text_len when past the end). */
static size_t cp_to_byte(const char *text, size_t text_len, int64_t cp) {
    int64_t c = -1;
    for (size_t i = 0; i < text_len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80 && ++c == cp) return i;
    }
    return text_len;
}

/* Append text[a, b) to dst, escaped for one line of an error message. */
static void quote_bytes(char *dst, size_t cap, const char *s, size_t a, size_t b) {
    size_t w = strlen(dst);
    for (size_t i = a; i < b && w + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0xC0) { /* copy a whole multi-byte character or stop */
            size_t k = 1;
            while (i + k < b && ((unsigned char)s[i + k] & 0xC0) == 0x80) k++;
            if (w + k + 5 >= cap) break;
            memcpy(dst + w, s + i, k);
            w += k;
            i += k - 1;
        } else if (ch == '\n') { dst[w++] = '\\'; dst[w++] = 'n'; }
        else if (ch == '"' || ch == '\\') { dst[w++] = '\\'; dst[w++] = (char)ch; }
        else if (ch < 0x20 || ch == 0x7f) w += (size_t)snprintf(dst + w, cap - w, "\\x%02x", ch);
        else dst[w++] = (char)ch;
    }
    dst[w] = 0;
}

/* "...text before|text after..." around code point position pos. */
static void context_at(char *dst, size_t cap, const char *text, size_t text_len, int64_t pos) {
    dst[0] = 0;
    if (!text) return;
    int64_t lo = pos > 16 ? pos - 16 : 0;
    size_t a = cp_to_byte(text, text_len, lo), m = cp_to_byte(text, text_len, pos),
           b = cp_to_byte(text, text_len, pos + 16);
    snprintf(dst, cap, "; text around it: \"");
    quote_bytes(dst, cap, text, a, m);
    if (strlen(dst) + 2 < cap) strcat(dst, "|");
    quote_bytes(dst, cap, text, m, b);
    if (strlen(dst) + 2 < cap) strcat(dst, "\"");
}

/* Index of the single token whose start offset == pos; -1 when none, -2 when
 * several. `sorted` says the starts are non-decreasing (binary search). */
static int64_t token_at(const vlm_tokens *t, bool sorted, int64_t pos) {
    size_t lo = 0, hi = t->n;
    if (sorted) {
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if ((int64_t)t->offsets[2 * mid] < pos) lo = mid + 1;
            else hi = mid;
        }
        if (lo == t->n || t->offsets[2 * lo] != pos) return -1;
        return lo + 1 < t->n && t->offsets[2 * (lo + 1)] == pos ? -2 : (int64_t)lo;
    }
    int64_t found = -1;
    for (size_t j = 0; j < t->n; j++) {
        if (t->offsets[2 * j] != pos) continue;
        if (found >= 0) return -2;
        found = (int64_t)j;
    }
    return found;
}

static vlm_status range_error(const vlm_tokens *t, const int64_t *r, size_t k, int64_t pos, int64_t why,
                              const char *text, size_t text_len, char *err, size_t err_size) {
    char ctx[200];
    context_at(ctx, sizeof ctx, text, text_len, pos);
    char tokinfo[96] = "";
    for (size_t j = 0; j < t->n && why == -1; j++) {
        if (t->offsets[2 * j] < pos && pos < t->offsets[2 * j + 1]) {
            snprintf(tokinfo, sizeof tokinfo, "; token %zu covers [%d,%d)", j, t->offsets[2 * j],
                     t->offsets[2 * j + 1]);
            break;
        }
    }
    return vlm_set_err(err, err_size, VLM_ERR_RANGE,
                       "learn range %zu [%lld,%lld): its %s %lld is %s%s%s", k, (long long)r[0], (long long)r[1],
                       pos == r[0] ? "start" : "end", (long long)pos,
                       why == -2 ? "the start of several tokens (a split character)" : "not the start of a token",
                       tokinfo, ctx);
}

vlm_status vlm_labels_from_ranges(const vlm_tokens *toks, const int64_t *ranges, size_t n_ranges, int32_t v_id,
                                  int32_t eos_id, const char *text, size_t text_len, int32_t *labels, char *err,
                                  size_t err_size) {
    if (!toks || (!ranges && n_ranges) || (!labels && toks->n))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_labels_from_ranges: NULL argument");
    const size_t n = toks->n;
    for (size_t j = 0; j < n; j++) labels[j] = IGNORE_INDEX;
    bool sorted = true;
    for (size_t j = 1; j < n && sorted; j++) sorted = toks->offsets[2 * j] >= toks->offsets[2 * (j - 1)];

    for (size_t k = 0; k < n_ranges; k++) {
        const int64_t *r = ranges + 2 * k;
        int64_t start = n ? token_at(toks, sorted, r[0]) : -1;
        if (start < 0) return range_error(toks, r, k, r[0], start, text, text_len, err, err_size);
        int64_t stop;
        if ((int64_t)toks->offsets[2 * (n - 1)] >= r[1]) {
            stop = token_at(toks, sorted, r[1]);
            if (stop < 0) return range_error(toks, r, k, r[1], stop, text, text_len, err, err_size);
        } else {
            stop = (int64_t)n; /* the range runs to the end of the text */
        }
        if (start == 0)
            return vlm_set_err(err, err_size, VLM_ERR_RANGE,
                               "learn range %zu [%lld,%lld) starts at the first token, which has no previous "
                               "position to carry its label",
                               k, (long long)r[0], (long long)r[1]);
        /* labels[start-1 : stop-1] = ids[start : stop] */
        for (int64_t j = start; j < stop; j++) labels[j - 1] = toks->ids[j];
    }
    for (size_t j = 0; j < n; j++)
        if (labels[j] >= v_id) labels[j] = eos_id;
    return VLM_OK;
}

/* ------------------------------------------------------------------------- */
/* Samples and batches                                                        */
/* ------------------------------------------------------------------------- */

void vlm_sample_free(vlm_sample *s) {
    if (!s) return;
    free(s->text);
    free(s->ranges);
    vlm_tokens_free(&s->toks);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

vlm_status vlm_sample_build(vlm_tokenizer *tok, const vlm_message *msgs, size_t n, const vlm_template_params *p,
                            vlm_sample *out, char *err, size_t err_size) {
    if (!tok || !out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_sample_build: NULL argument");
    memset(out, 0, sizeof *out);
    vlm_template_params dp = vlm_template_default_params();
    if (!p) p = &dp;
    vlm_status st = vlm_template_render(msgs, n, p, &out->text, &out->text_len, err, err_size);
    if (st == VLM_OK) st = vlm_learn_ranges(msgs, n, p, &out->ranges, &out->n_ranges, err, err_size);
    int32_t v_id = -1, eos_id = -1;
    if (st == VLM_OK) {
        st = vlm_tokenizer_add_special(tok, "<v>", &v_id);
        if (st != VLM_OK)
            vlm_set_err(err, err_size, st, "adding <v> to the tokenizer: %s", vlm_tokenizer_last_error(tok));
    }
    if (st == VLM_OK) {
        eos_id = vlm_tokenizer_eos_id(tok);
        if (eos_id < 0) eos_id = vlm_tokenizer_token_to_id(tok, p->eos_token ? p->eos_token : dp.eos_token);
        if (eos_id < 0)
            st = vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "the eos token \"%s\" is not in the vocabulary",
                             p->eos_token ? p->eos_token : dp.eos_token);
    }
    if (st == VLM_OK) {
        st = vlm_tokenizer_encode(tok, out->text, out->text_len, &out->toks);
        if (st != VLM_OK) vlm_set_err(err, err_size, st, "tokenizing: %s", vlm_tokenizer_last_error(tok));
    }
    if (st == VLM_OK) {
        size_t bytes;
        if (!vlm_mul_ok(out->toks.n ? out->toks.n : 1, sizeof(int32_t), &bytes) || !(out->labels = malloc(bytes)))
            st = vlm_set_err(err, err_size, VLM_ERR_OOM, "labels: out of memory (%zu tokens)", out->toks.n);
    }
    if (st == VLM_OK)
        st = vlm_labels_from_ranges(&out->toks, out->ranges, out->n_ranges, v_id, eos_id, out->text, out->text_len,
                                    out->labels, err, err_size);
    if (st != VLM_OK) vlm_sample_free(out);
    return st;
}

vlm_status vlm_collate(const vlm_sample *samples, size_t n_samples, int32_t pad_id, int32_t **input_ids,
                       int32_t **attention_mask, int32_t **labels, size_t *seq_len) {
    if (!samples || !n_samples || !input_ids || !attention_mask || !labels || !seq_len) return VLM_ERR_INVALID_ARG;
    *input_ids = *attention_mask = *labels = NULL;
    *seq_len = 0;
    size_t T = 0, total, bytes;
    for (size_t i = 0; i < n_samples; i++) {
        if (samples[i].toks.n && (!samples[i].toks.ids || !samples[i].labels)) return VLM_ERR_INVALID_ARG;
        if (samples[i].toks.n > T) T = samples[i].toks.n;
    }
    if (!vlm_mul_ok(n_samples, T ? T : 1, &total) || !vlm_mul_ok(total, sizeof(int32_t), &bytes))
        return VLM_ERR_OOM;
    int32_t *ids = malloc(bytes), *mask = malloc(bytes), *lab = malloc(bytes);
    if (!ids || !mask || !lab) {
        free(ids);
        free(mask);
        free(lab);
        return VLM_ERR_OOM;
    }
    for (size_t i = 0; i < n_samples; i++) { /* row i: [pad ... pad | tokens], shape [n_samples, T] */
        const vlm_sample *s = &samples[i];
        size_t pad = T - s->toks.n;
        int32_t *ri = ids + i * T, *rm = mask + i * T, *rl = lab + i * T;
        for (size_t j = 0; j < pad; j++) { ri[j] = pad_id; rm[j] = 0; rl[j] = IGNORE_INDEX; }
        for (size_t j = 0; j < s->toks.n; j++) {
            ri[pad + j] = s->toks.ids[j];
            rm[pad + j] = 1;
            rl[pad + j] = s->labels[j];
        }
    }
    *input_ids = ids;
    *attention_mask = mask;
    *labels = lab;
    *seq_len = T;
    return VLM_OK;
}
