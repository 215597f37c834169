/* template.c - VideoLLM-online's live chat template, rendered without Jinja.
 *
 * Output is byte-identical to the original Jinja template (rendered by
 * jinja2's ImmutableSandboxedEnvironment as transformers does), including its
 * leniency: non-object messages, unknown or missing roles, a system message
 * that is not first and streams with num_frames <= 0 render nothing. Where
 * Jinja raises (content that is not a string where it is used, a stream
 * num_frames that is missing, not a number or a real > 0, an empty message
 * list) we return an error naming the message and the field. One deliberate
 * limit: streams longer than p->max_frames are refused instead of allocating
 * without bound. docs/text-pipeline.md has the full rules. */
#include "core/util.h"
#include "text/live_internal.h"

#define DEFAULT_BOS "<|begin_of_text|>"
#define DEFAULT_EOS "<|eot_id|>"

vlm_template_params vlm_template_default_params(void) {
    vlm_template_params p;
    memset(&p, 0, sizeof p);
    p.live_version = VLM_LIVE_V1PLUS;
    p.bos_token = DEFAULT_BOS;
    p.eos_token = DEFAULT_EOS;
    p.max_frames = 1000000;
    return p;
}

/* ------------------------------------------------------------------------- */
/* Growable output buffer (overflow-checked; sticky failure flag).            */
/* ------------------------------------------------------------------------- */
typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static bool sb_reserve(sbuf *b, size_t extra) {
    size_t need;
    if (b->failed || !vlm_add_ok(b->len, extra, &need) || !vlm_add_ok(need, 1, &need)) {
        b->failed = true;
        return false;
    }
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) { cap = need; break; }
        cap *= 2;
    }
    char *np = realloc(b->p, cap);
    if (!np) {
        b->failed = true;
        return false;
    }
    b->p = np;
    b->cap = cap;
    return true;
}

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (!n || !sb_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* "\n[" + join(interval, ["<v>" * per_frame] * n) + "]"   (n >= 1) */
static void sb_put_stream(sbuf *b, int64_t n, vlm_live_version v) {
    const char *interval = v == VLM_LIVE_V1 ? "" : ",";
    int per_frame = v == VLM_LIVE_V1 ? 1 : 10;
    size_t il = strlen(interval), frame_len = 3 * (size_t)per_frame, total, body;
    /* body = n*frame_len + (n-1)*il */
    if (!vlm_mul_ok((size_t)n, frame_len + il, &body) || !vlm_add_ok(body - il, 3, &total) ||
        !sb_reserve(b, total)) {
        b->failed = true;
        return;
    }
    sb_puts(b, "\n[");
    char *w = b->p + b->len;
    for (int64_t k = 0; k < n; k++) {
        if (k) { memcpy(w, interval, il); w += il; }
        for (int t = 0; t < per_frame; t++) { memcpy(w, "<v>", 3); w += 3; }
    }
    b->len = (size_t)(w - b->p);
    sb_puts(b, "]");
}

static vlm_status content_error(const vlm_message *m, size_t i, char *err, size_t err_size) {
    return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                       "message %zu (%s): content is %s; the template concatenates it as a string", i,
                       vlm__role_name(m->role),
                       m->content_state == VLM_FIELD_ABSENT ? "missing" : "not a string");
}

/* The stream frame count as Jinja sees it: *n > 0 renders, else nothing. */
static vlm_status stream_frames(const vlm_message *m, size_t i, const vlm_template_params *p, int64_t *n,
                                char *err, size_t err_size) {
    *n = 0;
    switch (m->num_frames_state) {
    case VLM_FIELD_ABSENT:
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "message %zu (stream): num_frames is missing; the template compares it with 0", i);
    case VLM_FIELD_BAD_TYPE:
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "message %zu (stream): num_frames is not a number; the template compares it with 0", i);
    case VLM_FIELD_REAL:
        if (m->num_frames > 0)
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                               "message %zu (stream): num_frames is not an integer (%g); the template repeats "
                               "the frame list num_frames times",
                               i, m->num_frames_real);
        return VLM_OK;
    case VLM_FIELD_OK: break;
    }
    if (m->num_frames > p->max_frames)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "message %zu (stream): num_frames %lld exceeds the limit of %lld frames", i,
                           (long long)m->num_frames, (long long)p->max_frames);
    *n = m->num_frames;
    return VLM_OK;
}

vlm_status vlm_template_render(const vlm_message *msgs, size_t n, const vlm_template_params *p, char **out,
                               size_t *out_len, char *err, size_t err_size) {
    if (!out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_template_render: out is NULL");
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!msgs && n) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_template_render: msgs is NULL");
    vlm_template_params dp = vlm_template_default_params();
    if (!p) p = &dp;
    if (p->live_version != VLM_LIVE_V1PLUS && p->live_version != VLM_LIVE_V1)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_template_render: unknown live version %d",
                           (int)p->live_version);
    const char *bos = p->bos_token ? p->bos_token : DEFAULT_BOS;
    const char *eos = p->eos_token ? p->eos_token : DEFAULT_EOS;
    if (n == 0)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "the conversation is empty; the template reads messages[0]['role']");
    if (p->strict) {
        vlm_status st = vlm__validate_conversation(msgs, n, p, err, err_size);
        if (st != VLM_OK) return st;
    }

    sbuf b = {0};
    vlm_status st = VLM_OK;
    size_t first = 0;
    if (msgs[0].is_object && msgs[0].role == VLM_ROLE_SYSTEM) {
        if (msgs[0].content_state != VLM_FIELD_OK) return content_error(&msgs[0], 0, err, err_size);
        sb_puts(&b, bos);
        sb_put(&b, msgs[0].content, msgs[0].content_len);
        sb_puts(&b, "\n");
        first = 1;
    }
    for (size_t i = first; i < n && st == VLM_OK && !b.failed; i++) {
        const vlm_message *m = &msgs[i];
        if (!m->is_object) continue;
        switch (m->role) {
        case VLM_ROLE_USER:
            if (m->content_state != VLM_FIELD_OK) { st = content_error(m, i, err, err_size); break; }
            sb_puts(&b, p->add_stream_query_prompt ? "]\nUser: " : "\nUser: ");
            sb_put(&b, m->content, m->content_len);
            break;
        case VLM_ROLE_ASSISTANT:
            if (m->content_state != VLM_FIELD_OK) { st = content_error(m, i, err, err_size); break; }
            sb_puts(&b, "\nAssistant: ");
            sb_put(&b, m->content, m->content_len);
            sb_puts(&b, eos);
            break;
        case VLM_ROLE_STREAM: {
            int64_t nf;
            st = stream_frames(m, i, p, &nf, err, err_size);
            if (st == VLM_OK && nf > 0) sb_put_stream(&b, nf, p->live_version);
            break;
        }
        case VLM_ROLE_SYSTEM: /* only the first message may be a system prompt */
        case VLM_ROLE_UNKNOWN: break;
        }
    }
    if (st == VLM_OK) {
        if (p->add_generation_prompt) sb_puts(&b, "\nAssistant:");
        else if (p->add_stream_prompt) sb_puts(&b, "\n[");
        else if (p->add_stream_generation_prompt) sb_puts(&b, "]\nAssistant:");
        if (sb_reserve(&b, 0)) b.p[b.len] = 0; /* an empty rendering still gets a NUL-terminated buffer */
    }
    if (st == VLM_OK && b.failed)
        st = vlm_set_err(err, err_size, VLM_ERR_OOM, "template: out of memory (rendered text too large)");
    if (st != VLM_OK) {
        free(b.p);
        return st;
    }
    *out = b.p;
    if (out_len) *out_len = b.len;
    return VLM_OK;
}
