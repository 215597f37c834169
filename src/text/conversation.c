/* conversation.c - a JSON array of chat messages -> vlm_message[].
 *
 * Parsing never judges the messages: every element is recorded with what it
 * holds (object or not, role, and for content / num_frames / learn whether the
 * key is present and of a usable type). The renderer and the learn-range code
 * decide later, per message and only for the fields they use, whether that is
 * an error - exactly as the original's Jinja template and Python code do.
 * Strings stay inside the jansson document, which the conversation owns. */
#include <jansson.h>

#include "core/util.h"
#include "text/live_internal.h"

struct vlm_conversation {
    json_t *root;       /* the parsed document; owns every string below */
    vlm_message *msgs;  /* [n]                                          */
    size_t n;
};

const char *vlm__role_name(vlm_role r) {
    switch (r) {
    case VLM_ROLE_SYSTEM: return "system";
    case VLM_ROLE_USER: return "user";
    case VLM_ROLE_ASSISTANT: return "assistant";
    case VLM_ROLE_STREAM: return "stream";
    case VLM_ROLE_UNKNOWN: break;
    }
    return "unknown";
}

/* Exact, NUL-safe comparison of a JSON string with a role name. */
static vlm_role role_of(const json_t *v) {
    if (!json_is_string(v)) return VLM_ROLE_UNKNOWN;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    static const struct { const char *name; vlm_role role; } names[] = {
        {"system", VLM_ROLE_SYSTEM}, {"user", VLM_ROLE_USER},
        {"assistant", VLM_ROLE_ASSISTANT}, {"stream", VLM_ROLE_STREAM},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0) return names[i].role;
    return VLM_ROLE_UNKNOWN;
}

/* Python truthiness of a JSON value (for learn values that are not bool/int). */
static int64_t truthiness(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return json_object_size(v) != 0;
    case JSON_ARRAY: return json_array_size(v) != 0;
    case JSON_STRING: return json_string_length(v) != 0;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0.0;
    case JSON_TRUE: return 1;
    case JSON_FALSE:
    case JSON_NULL: return 0;
    }
    return 0;
}

static void read_message(const json_t *e, vlm_message *m) {
    memset(m, 0, sizeof *m);
    m->content_state = VLM_FIELD_ABSENT;
    m->num_frames_state = VLM_FIELD_ABSENT;
    if (!json_is_object(e)) return; /* role stays UNKNOWN: renders nothing */
    m->is_object = true;
    m->role = role_of(json_object_get(e, "role"));

    const json_t *c = json_object_get(e, "content");
    if (json_is_string(c)) {
        m->content = json_string_value(c);
        m->content_len = json_string_length(c);
        m->content_state = VLM_FIELD_OK;
    } else if (c) {
        m->content_state = VLM_FIELD_BAD_TYPE;
    }

    const json_t *nf = json_object_get(e, "num_frames");
    if (json_is_integer(nf)) {
        m->num_frames = json_integer_value(nf);
        m->num_frames_state = VLM_FIELD_OK;
    } else if (json_is_boolean(nf)) { /* Python: True == 1, False == 0 */
        m->num_frames = json_is_true(nf) ? 1 : 0;
        m->num_frames_state = VLM_FIELD_OK;
    } else if (json_is_real(nf)) {
        double d = json_real_value(nf);
        m->num_frames_real = d;
        m->num_frames = d > 0 ? 1 : (d < 0 ? -1 : 0);
        m->num_frames_state = VLM_FIELD_REAL;
    } else if (nf) {
        m->num_frames_state = VLM_FIELD_BAD_TYPE;
    }

    const json_t *l = json_object_get(e, "learn");
    if (!l) {
        m->learn = 0;
    } else if (json_is_true(l)) {
        m->learn = VLM_LEARN_ALL;
    } else if (json_is_false(l)) {
        m->learn = 0;
    } else if (json_is_integer(l)) {
        m->learn = json_integer_value(l);
    } else {
        m->learn_bad = true;
        m->learn = truthiness(l);
    }
}

vlm_status vlm_conversation_parse(const char *json, size_t len, vlm_conversation **out, char *err,
                                  size_t err_size) {
    if (!out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_conversation_parse: out is NULL");
    *out = NULL;
    if (!json && len) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "vlm_conversation_parse: json is NULL");
    json_error_t je;
    json_t *root = json_loadb(json ? json : "", len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!root)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "conversation JSON: line %d column %d: %s", je.line,
                           je.column, je.text);
    if (!json_is_array(root)) {
        json_decref(root);
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "conversation JSON: expected an array of messages at the top level");
    }
    vlm_conversation *c = calloc(1, sizeof *c);
    size_t n = json_array_size(root);
    if (!c || (n && !(c->msgs = calloc(n, sizeof *c->msgs)))) {
        free(c);
        json_decref(root);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "conversation JSON: out of memory (%zu messages)", n);
    }
    c->root = root;
    c->n = n;
    for (size_t i = 0; i < n; i++) read_message(json_array_get(root, i), &c->msgs[i]);
    *out = c;
    return VLM_OK;
}

void vlm_conversation_free(vlm_conversation *c) {
    if (!c) return;
    json_decref(c->root);
    free(c->msgs);
    free(c);
}

size_t vlm_conversation_size(const vlm_conversation *c) { return c ? c->n : 0; }

const vlm_message *vlm_conversation_messages(const vlm_conversation *c) { return c ? c->msgs : NULL; }
