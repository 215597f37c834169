/* score.c - the narration score: parse model replies with the event grammar
 * of the synthetic world (docs/synth.md) and match them to a clip's
 * ground-truth events. An event is narrated when a reply sentence at time t,
 * event_time <= t <= event_time + window, states the same fact; each sentence
 * matches at most one event. Also the loaders (events.json, `videollm stream
 * --json` lines or its --save history) and the every-K narration baseline.
 * Rules and interpretations: docs/evaluation.md, "Narration score". */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define TIME_EPS 1e-6   /* times are tick/10 and r/fps printed as decimals */
#define MAX_WORDS 16    /* the longest grammar sentence has 9 words */
#define MAX_WORD 16     /* the longest grammar word ("disappears") has 10 letters */

static const char *const COLOURS[VLM_SYNTH_N_COLOURS] = {"red", "green", "blue", "yellow", "white", "purple"};
static const char *const SHAPES[VLM_SYNTH_N_SHAPES] = {"square", "circle", "triangle"};
static const char *const DIRS[4] = {"left", "right", "up", "down"};
static const char *const SIZES[2] = {"small", "large"};
static const char *const ACTIONS[VLM_NARR_N_ACTIONS] = {"appears", "moves", "turns", "collides", "disappears"};

/* ---------------------------------------------------------------------- */
/* The grammar                                                             */
/* ---------------------------------------------------------------------- */
static int lookup(const char *w, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(w, names[i])) return i;
    return -1;
}

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

vlm_status vlm_narr_parse(const char *text, size_t len, vlm_narr_fact *out) {
    if (!out) return VLM_ERR_INVALID_ARG;
    *out = (vlm_narr_fact){.action = VLM_SYNTH_APPEARS, .colour = -1, .shape = -1, .size = -1, .detail = -1,
                           .other_colour = -1, .other_shape = -1};
    if (!text && len) return VLM_ERR_INVALID_ARG;
    /* drop trailing whitespace and one final '.' */
    while (len && is_space((unsigned char)text[len - 1])) len--;
    if (len && text[len - 1] == '.') len--;
    /* words: ASCII lower-cased, split at whitespace */
    char w[MAX_WORDS][MAX_WORD + 1];
    int nw = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && is_space((unsigned char)text[i])) i++;
        if (i == len) break;
        if (nw == MAX_WORDS) return VLM_ERR_FORMAT;
        size_t k = 0;
        while (i < len && !is_space((unsigned char)text[i])) {
            unsigned char c = (unsigned char)text[i++];
            if (k == MAX_WORD) return VLM_ERR_FORMAT;
            w[nw][k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        w[nw++][k] = 0;
    }
    vlm_narr_fact f = *out;
    int c, s;
    if (nw == 5 && !strcmp(w[0], "a") && !strcmp(w[4], "appears")) { /* A <size> <colour> <shape> appears */
        if ((f.size = lookup(w[1], SIZES, 2)) < 0 || (c = lookup(w[2], COLOURS, VLM_SYNTH_N_COLOURS)) < 0 ||
            (s = lookup(w[3], SHAPES, VLM_SYNTH_N_SHAPES)) < 0)
            return VLM_ERR_FORMAT;
        f.action = VLM_SYNTH_APPEARS;
        f.colour = c;
        f.shape = s;
        *out = f;
        return VLM_OK;
    }
    /* The <colour> <shape> <verb> ... */
    if (nw < 4 || strcmp(w[0], "the") || (c = lookup(w[1], COLOURS, VLM_SYNTH_N_COLOURS)) < 0 ||
        (s = lookup(w[2], SHAPES, VLM_SYNTH_N_SHAPES)) < 0)
        return VLM_ERR_FORMAT;
    f.colour = c;
    f.shape = s;
    if (nw == 4 && !strcmp(w[3], "disappears")) {
        f.action = VLM_SYNTH_DISAPPEARS;
    } else if (nw == 5 && !strcmp(w[3], "moves") && (f.detail = lookup(w[4], DIRS, 4)) >= 0) {
        f.action = VLM_SYNTH_MOVES;
    } else if (nw == 5 && !strcmp(w[3], "turns") && (f.detail = lookup(w[4], COLOURS, VLM_SYNTH_N_COLOURS)) >= 0) {
        f.action = VLM_SYNTH_TURNS;
    } else if (nw == 8 && !strcmp(w[3], "collides") && !strcmp(w[4], "with") && !strcmp(w[5], "the") &&
               (f.other_colour = lookup(w[6], COLOURS, VLM_SYNTH_N_COLOURS)) >= 0 &&
               (f.other_shape = lookup(w[7], SHAPES, VLM_SYNTH_N_SHAPES)) >= 0) {
        f.action = VLM_SYNTH_COLLIDES;
    } else {
        return VLM_ERR_FORMAT;
    }
    *out = f;
    return VLM_OK;
}

static int fact_ok(const vlm_narr_fact *f) {
    if ((int)f->action < 0 || (int)f->action >= VLM_NARR_N_ACTIONS) return 0;
    if (f->colour < 0 || f->colour >= VLM_SYNTH_N_COLOURS || f->shape < 0 || f->shape >= VLM_SYNTH_N_SHAPES) return 0;
    switch (f->action) {
    case VLM_SYNTH_APPEARS: return f->size == 0 || f->size == 1;
    case VLM_SYNTH_MOVES: return f->detail >= 0 && f->detail < 4;
    case VLM_SYNTH_TURNS: return f->detail >= 0 && f->detail < VLM_SYNTH_N_COLOURS;
    case VLM_SYNTH_COLLIDES:
        return f->other_colour >= 0 && f->other_colour < VLM_SYNTH_N_COLOURS && f->other_shape >= 0 &&
               f->other_shape < VLM_SYNTH_N_SHAPES;
    default: return 1;
    }
}

vlm_status vlm_narr_format(const vlm_narr_fact *f, char *buf, size_t n) {
    if (!f || !buf || !n || !fact_ok(f)) return VLM_ERR_INVALID_ARG;
    const char *col = COLOURS[f->colour], *sh = SHAPES[f->shape];
    int k;
    switch (f->action) {
    case VLM_SYNTH_APPEARS: k = snprintf(buf, n, "A %s %s %s appears.", SIZES[f->size], col, sh); break;
    case VLM_SYNTH_MOVES: k = snprintf(buf, n, "The %s %s moves %s.", col, sh, DIRS[f->detail]); break;
    case VLM_SYNTH_TURNS: k = snprintf(buf, n, "The %s %s turns %s.", col, sh, COLOURS[f->detail]); break;
    case VLM_SYNTH_COLLIDES:
        k = snprintf(buf, n, "The %s %s collides with the %s %s.", col, sh, COLOURS[f->other_colour],
                     SHAPES[f->other_shape]);
        break;
    default: k = snprintf(buf, n, "The %s %s disappears.", col, sh); break;
    }
    return k < 0 || (size_t)k >= n ? VLM_ERR_INVALID_ARG : VLM_OK;
}

/* Same action and subject. */
static int same_subject(const vlm_narr_fact *a, const vlm_narr_fact *b) {
    return a->action == b->action && a->colour == b->colour && a->shape == b->shape;
}

/* Same action, subject and detail (fields that do not apply are -1 on both sides). */
static int same_fact(const vlm_narr_fact *a, const vlm_narr_fact *b) {
    return same_subject(a, b) && a->size == b->size && a->detail == b->detail && a->other_colour == b->other_colour &&
           a->other_shape == b->other_shape;
}

/* ---------------------------------------------------------------------- */
/* Scoring                                                                 */
/* ---------------------------------------------------------------------- */
enum { S_FREE = 0, S_MATCHED, S_DETAIL };

typedef struct {
    double time;
    size_t order; /* reply index, then sentence index: the stable tie-break */
    bool parsed;
    int state;    /* S_FREE, S_MATCHED (narrates an event), S_DETAIL (wrong detail) */
    vlm_narr_fact fact;
} sentence;

static int cmp_sentence(const void *pa, const void *pb) {
    const sentence *a = pa, *b = pb;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

typedef struct {
    double time;
    size_t index;
    vlm_narr_outcome outcome;
} ev_ref;

static int cmp_ev(const void *pa, const void *pb) {
    const ev_ref *a = pa, *b = pb;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int is_stop(char c) { return c == '.' || c == '!' || c == '?' || c == '\n' || c == '\r'; }

/* The next sentence of t[*pos, len): a piece ending before a stop character,
 * blank pieces skipped. Returns 0 when there is none. */
static int next_sentence(const char *t, size_t len, size_t *pos, size_t *a, size_t *b) {
    while (*pos < len) {
        size_t s = *pos, e = s;
        bool blank = true;
        while (e < len && !is_stop(t[e])) {
            if (!is_space((unsigned char)t[e])) blank = false;
            e++;
        }
        *pos = e + 1;
        if (!blank) {
            *a = s;
            *b = e;
            return 1;
        }
    }
    return 0;
}

/* First sentence (in time order) with time >= t. */
static size_t lower_bound(const sentence *s, size_t n, double t) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid].time < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

vlm_status vlm_narr_score(const vlm_narr_event *events, size_t n_events, const vlm_narr_reply *replies,
                          size_t n_replies, double window, vlm_narr_counts *out, vlm_narr_outcome *outcome,
                          char *err, size_t err_size) {
    if (!out) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "narration score: NULL result");
    memset(out, 0, sizeof *out);
    if ((n_events && !events) || (n_replies && !replies))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "narration score: NULL events or replies");
    if (!isfinite(window) || window < 0)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "narration score: window %g is not >= 0", window);
    for (size_t i = 0; i < n_events; i++)
        if (!isfinite(events[i].time) || !fact_ok(&events[i].fact))
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "narration score: event %zu is not valid", i);
    size_t n_sent = 0, pos, a, b;
    for (size_t r = 0; r < n_replies; r++) {
        if (!isfinite(replies[r].time) || (replies[r].len && !replies[r].text))
            return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "narration score: reply %zu is not valid", r);
        for (pos = 0; next_sentence(replies[r].text, replies[r].len, &pos, &a, &b);) n_sent++;
    }
    sentence *ss = n_sent ? calloc(n_sent, sizeof *ss) : NULL;
    ev_ref *ev = n_events ? malloc(n_events * sizeof *ev) : NULL;
    if ((n_sent && !ss) || (n_events && !ev)) {
        free(ss);
        free(ev);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "narration score: out of memory (%zu sentences)", n_sent);
    }
    size_t k = 0;
    for (size_t r = 0; r < n_replies; r++)
        for (pos = 0; next_sentence(replies[r].text, replies[r].len, &pos, &a, &b);) {
            sentence *s = &ss[k];
            s->time = replies[r].time;
            s->order = k++;
            s->parsed = vlm_narr_parse(replies[r].text + a, b - a, &s->fact) == VLM_OK;
            if (s->parsed) out->by_action[s->fact.action].sentences++;
            else out->n_unparsable++;
        }
    out->n_replies = n_replies;
    out->n_sentences = n_sent;
    if (n_sent) qsort(ss, n_sent, sizeof *ss, cmp_sentence);
    for (size_t i = 0; i < n_events; i++) {
        ev[i] = (ev_ref){events[i].time, i, VLM_NARR_MISSED};
        out->by_action[events[i].fact.action].events++;
    }
    if (n_events) qsort(ev, n_events, sizeof *ev, cmp_ev);
    out->n_events = n_events;
    /* pass 1: each event in time order takes the earliest free sentence with
     * its fact in [t, t + window]; pass 2: an event left takes the earliest
     * free sentence with its action and subject (wrong detail) */
    for (int pass = 1; pass <= 2; pass++)
        for (size_t j = 0; j < n_events; j++) {
            if (ev[j].outcome != VLM_NARR_MISSED) continue;
            const vlm_narr_event *e = &events[ev[j].index];
            double lo = e->time - TIME_EPS, hi = e->time + window + TIME_EPS;
            for (size_t i = lower_bound(ss, n_sent, lo); i < n_sent && ss[i].time <= hi; i++) {
                sentence *s = &ss[i];
                if (s->state != S_FREE || !s->parsed) continue;
                if (pass == 1 ? !same_fact(&s->fact, &e->fact) : !same_subject(&s->fact, &e->fact)) continue;
                if (pass == 1) {
                    s->state = S_MATCHED;
                    ev[j].outcome = VLM_NARR_NARRATED;
                    out->n_narrated++;
                    out->by_action[e->fact.action].narrated++;
                    out->latency_sum += s->time - e->time;
                } else {
                    s->state = S_DETAIL;
                    ev[j].outcome = VLM_NARR_WRONG_DETAIL;
                    out->n_wrong_detail++;
                    out->by_action[e->fact.action].wrong_detail++;
                }
                break;
            }
        }
    /* field by field: each event against the earliest sentence of its action in its window */
    vlm_narr_field_counts *fc = &out->fields;
    for (size_t j = 0; j < n_events; j++) {
        const vlm_narr_fact *e = &events[j].fact;
        double lo = events[j].time - TIME_EPS, hi = events[j].time + window + TIME_EPS;
        const vlm_narr_fact *s = NULL;
        for (size_t i = lower_bound(ss, n_sent, lo); i < n_sent && ss[i].time <= hi && !s; i++)
            if (ss[i].parsed && ss[i].fact.action == e->action) s = &ss[i].fact;
        if (!s) continue;
        fc->events++;
        fc->colour += s->colour == e->colour;
        fc->shape += s->shape == e->shape;
        if (e->size >= 0) fc->size_events++, fc->size += s->size == e->size;
        if (e->detail >= 0) fc->detail_events++, fc->detail += s->detail == e->detail;
        if (e->other_colour >= 0 || e->other_shape >= 0)
            fc->other_events++, fc->other += s->other_colour == e->other_colour && s->other_shape == e->other_shape;
    }
    for (size_t i = 0; i < n_sent; i++)
        if (ss[i].parsed && ss[i].state != S_MATCHED) {
            out->n_false++;
            out->by_action[ss[i].fact.action].false_sentences++;
        }
    if (outcome)
        for (size_t j = 0; j < n_events; j++) outcome[ev[j].index] = ev[j].outcome;
    free(ev);
    free(ss);
    return VLM_OK;
}

void vlm_narr_counts_add(vlm_narr_counts *sum, const vlm_narr_counts *c) {
    if (!sum || !c) return;
    sum->n_events += c->n_events;
    sum->n_narrated += c->n_narrated;
    sum->n_wrong_detail += c->n_wrong_detail;
    sum->n_replies += c->n_replies;
    sum->n_sentences += c->n_sentences;
    sum->n_unparsable += c->n_unparsable;
    sum->n_false += c->n_false;
    sum->latency_sum += c->latency_sum;
    for (int a = 0; a < VLM_NARR_N_ACTIONS; a++) {
        sum->by_action[a].events += c->by_action[a].events;
        sum->by_action[a].narrated += c->by_action[a].narrated;
        sum->by_action[a].wrong_detail += c->by_action[a].wrong_detail;
        sum->by_action[a].sentences += c->by_action[a].sentences;
        sum->by_action[a].false_sentences += c->by_action[a].false_sentences;
    }
    vlm_narr_field_counts *f = &sum->fields;
    const vlm_narr_field_counts *g = &c->fields;
    f->events += g->events, f->colour += g->colour, f->shape += g->shape;
    f->size_events += g->size_events, f->size += g->size;
    f->detail_events += g->detail_events, f->detail += g->detail;
    f->other_events += g->other_events, f->other += g->other;
}

/* ---------------------------------------------------------------------- */
/* Loading                                                                 */
/* ---------------------------------------------------------------------- */
static int name_index(json_t *v, const char *const *names, int n) {
    return json_is_string(v) ? lookup(json_string_value(v), names, n) : -1;
}

vlm_status vlm_narr_load_events(const char *path, vlm_narr_event **events, size_t *n, double *seconds, char *err,
                                size_t err_size) {
    if (events) *events = NULL;
    if (n) *n = 0;
    if (seconds) *seconds = -1;
    if (!path || !events || !n) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "load events: NULL argument");
    size_t len;
    char *buf = vlm_read_file(path, &len, err, err_size);
    if (!buf) return VLM_ERR_IO;
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!root)
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: malformed JSON at line %d column %d: %s", path,
                           je.line, je.column, je.text);
    vlm_status st = VLM_OK;
    json_t *jo = json_object_get(root, "objects"), *je_ = json_object_get(root, "events");
    json_t *jhz = json_object_get(root, "tick_hz"), *jsec = json_object_get(root, "seconds");
    int64_t hz = VLM_SYNTH_TICK_HZ;
    vlm_narr_event *ev = NULL;
    size_t ne = 0;
    if (!json_is_object(root) || !json_is_array(jo) || !json_is_array(je_)) {
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: expected an object with \"objects\" and \"events\" arrays",
                         path);
    } else if (jhz && (!json_is_integer(jhz) || json_integer_value(jhz) < 1 || json_integer_value(jhz) > 1000)) {
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: \"tick_hz\" must be an integer in [1, 1000]", path);
    } else if (jsec && (!json_is_number(jsec) || !isfinite(json_number_value(jsec)) || json_number_value(jsec) < 0 ||
                        json_number_value(jsec) > 1e7)) {
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: \"seconds\" must be a number in [0, 1e7]", path);
    } else {
        if (jhz) hz = json_integer_value(jhz);
        if (jsec && seconds) *seconds = json_number_value(jsec);
        ne = json_array_size(je_);
        if (ne && !(ev = calloc(ne, sizeof *ev)))
            st = vlm_set_err(err, err_size, VLM_ERR_OOM, "%s: out of memory (%zu events)", path, ne);
    }
    size_t n_obj = st ? 0 : json_array_size(jo);
    for (size_t i = 0; !st && i < ne; i++) {
        json_t *e = json_array_get(je_, i);
        json_t *jt = json_object_get(e, "tick"), *jtext = json_object_get(e, "text");
        json_t *jobj = json_object_get(e, "object");
        if (!json_is_object(e) || !json_is_integer(jt) || !json_is_string(jtext) || !json_is_integer(jobj)) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                             "%s: events[%zu]: expected an object with integer \"tick\" and \"object\" and a "
                             "string \"text\"", path, i);
            break;
        }
        int64_t tick = json_integer_value(jt), obj = json_integer_value(jobj);
        if (tick < 0 || tick > ((int64_t)1 << 40)) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: events[%zu]: tick %lld out of range", path, i,
                             (long long)tick);
            break;
        }
        if (obj < 0 || (uint64_t)obj >= n_obj) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: events[%zu]: object %lld is not in \"objects\" (%zu)",
                             path, i, (long long)obj, n_obj);
            break;
        }
        const char *text = json_string_value(jtext);
        vlm_narr_fact f;
        if (vlm_narr_parse(text, json_string_length(jtext), &f)) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: events[%zu]: text \"%.80s\" is not an event sentence",
                             path, i, text);
            break;
        }
        /* the structured fields must say the same */
        json_t *o = json_array_get(jo, (size_t)obj);
        const char *bad = NULL;
        if (name_index(json_object_get(e, "action"), ACTIONS, VLM_NARR_N_ACTIONS) != (int)f.action) bad = "action";
        else if (name_index(json_object_get(e, "colour"), COLOURS, VLM_SYNTH_N_COLOURS) != f.colour) bad = "colour";
        else if (name_index(json_object_get(o, "shape"), SHAPES, VLM_SYNTH_N_SHAPES) != f.shape) bad = "shape";
        else if (f.action == VLM_SYNTH_APPEARS && name_index(json_object_get(o, "size"), SIZES, 2) != f.size)
            bad = "size";
        else if (f.action == VLM_SYNTH_MOVES && name_index(json_object_get(e, "direction"), DIRS, 4) != f.detail)
            bad = "direction";
        else if (f.action == VLM_SYNTH_TURNS &&
                 name_index(json_object_get(e, "new_colour"), COLOURS, VLM_SYNTH_N_COLOURS) != f.detail)
            bad = "new_colour";
        else if (f.action == VLM_SYNTH_COLLIDES) {
            json_t *jother = json_object_get(e, "other");
            int64_t other = json_is_integer(jother) ? json_integer_value(jother) : -1;
            if (other < 0 || (uint64_t)other >= n_obj ||
                name_index(json_object_get(json_array_get(jo, (size_t)other), "shape"), SHAPES, VLM_SYNTH_N_SHAPES) !=
                    f.other_shape)
                bad = "other";
        }
        if (bad) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: events[%zu]: \"%s\" does not agree with the text "
                             "\"%.80s\"", path, i, bad, text);
            break;
        }
        ev[i] = (vlm_narr_event){.time = (double)tick / (double)hz, .fact = f};
    }
    json_decref(root);
    if (st) {
        free(ev);
        return st;
    }
    *events = ev;
    *n = ne;
    return VLM_OK;
}

void vlm_narr_replies_free(vlm_narr_reply *r, size_t n) {
    if (!r) return;
    for (size_t i = 0; i < n; i++) free(r[i].text);
    free(r);
}

typedef struct {
    vlm_narr_reply *r;
    size_t n, cap;
} reply_list;

static vlm_status reply_add(reply_list *l, double time, const char *text, size_t len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        vlm_narr_reply *nr = realloc(l->r, cap * sizeof *nr);
        if (!nr) return VLM_ERR_OOM;
        l->r = nr;
        l->cap = cap;
    }
    char *t = malloc(len + 1);
    if (!t) return VLM_ERR_OOM;
    if (len) memcpy(t, text, len);
    t[len] = 0;
    l->r[l->n++] = (vlm_narr_reply){.time = time, .text = t, .len = len};
    return VLM_OK;
}

static int time_ok(json_t *jt) {
    return json_is_number(jt) && isfinite(json_number_value(jt)) && json_number_value(jt) >= 0 &&
           json_number_value(jt) <= 1e9;
}

/* The --save history: {"conversation": [{"role": "assistant", "content": "(Video Time = 1.5s) Assistant: ...", "time": 1.5}, ...]} */
static vlm_status load_history(const char *path, json_t *conv, reply_list *l, char *err, size_t err_size) {
    for (size_t i = 0; i < json_array_size(conv); i++) {
        json_t *m = json_array_get(conv, i), *role = json_object_get(m, "role");
        if (!json_is_string(role) || strcmp(json_string_value(role), "assistant")) continue;
        json_t *jc = json_object_get(m, "content"), *jt = json_object_get(m, "time");
        if (!json_is_string(jc) || !time_ok(jt))
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                               "%s: conversation[%zu]: an assistant entry needs a string \"content\" and a time >= 0",
                               path, i);
        const char *c = json_string_value(jc);
        size_t len = json_string_length(jc);
        static const char head[] = "(Video Time = ", tail[] = ") Assistant:";
        if (len >= sizeof head - 1 && !memcmp(c, head, sizeof head - 1)) {
            const char *p = strstr(c, tail); /* the prefix holds no NUL, so strstr sees it */
            if (p) {
                len -= (size_t)(p + sizeof tail - 1 - c);
                c = p + sizeof tail - 1;
            }
        }
        if (reply_add(l, json_number_value(jt), c, len))
            return vlm_set_err(err, err_size, VLM_ERR_OOM, "%s: out of memory", path);
    }
    return VLM_OK;
}

vlm_status vlm_narr_load_replies(const char *path, vlm_narr_reply **replies, size_t *n, char *err, size_t err_size) {
    if (replies) *replies = NULL;
    if (n) *n = 0;
    if (!path || !replies || !n) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "load replies: NULL argument");
    size_t len;
    char *buf = vlm_read_file(path, &len, err, err_size);
    if (!buf) return VLM_ERR_IO;
    reply_list l = {0};
    vlm_status st = VLM_OK;
    json_error_t je;
    json_t *whole = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    json_t *conv = json_is_object(whole) ? json_object_get(whole, "conversation") : NULL;
    if (json_is_array(conv)) {
        st = load_history(path, conv, &l, err, err_size);
    } else {
        size_t line = 0;
        for (size_t a = 0; a < len && !st;) {
            size_t b = a;
            while (b < len && buf[b] != '\n') b++;
            line++;
            const char *t = buf + a;
            size_t tl = b - a;
            a = b + 1;
            size_t sp = 0;
            while (sp < tl && is_space((unsigned char)t[sp])) sp++;
            if (sp == tl) continue;
            json_t *o = json_loadb(t, tl, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
            if (!json_is_object(o)) {
                st = o ? vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: line %zu: not a JSON object", path, line)
                       : vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: line %zu: malformed JSON at column %d: %s",
                                     path, line, je.column, je.text);
                json_decref(o);
                break;
            }
            json_t *jev = json_object_get(o, "event");
            if (json_is_string(jev) && !strcmp(json_string_value(jev), "response")) {
                json_t *jt = json_object_get(o, "time"), *jx = json_object_get(o, "text");
                if (!time_ok(jt) || !json_is_string(jx))
                    st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                                     "%s: line %zu: a response needs a \"time\" >= 0 and a string \"text\"", path, line);
                else if (reply_add(&l, json_number_value(jt), json_string_value(jx), json_string_length(jx)))
                    st = vlm_set_err(err, err_size, VLM_ERR_OOM, "%s: out of memory", path);
            }
            json_decref(o);
        }
    }
    json_decref(whole);
    free(buf);
    if (st) {
        vlm_narr_replies_free(l.r, l.n);
        return st;
    }
    *replies = l.r;
    *n = l.n;
    return VLM_OK;
}

/* ---------------------------------------------------------------------- */
/* The every-K narration baseline                                          */
/* ---------------------------------------------------------------------- */
vlm_status vlm_narr_baseline_replies(double seconds, double fps, int64_t every, const char *text,
                                     vlm_narr_reply **replies, size_t *n, char *err, size_t err_size) {
    if (replies) *replies = NULL;
    if (n) *n = 0;
    if (!replies || !n || !text) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "baseline: NULL argument");
    if (!(seconds >= 0 && seconds <= 1e7) || !(fps > 0 && fps <= 1000) || every < 1)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "baseline: seconds %g, fps %g, every %lld out of range", seconds, fps, (long long)every);
    int64_t frames = (int64_t)floor(seconds * fps + 1e-9);
    reply_list l = {0};
    for (int64_t r = every - 1; r < frames; r += every)
        if (reply_add(&l, (double)r / fps, text, strlen(text))) {
            vlm_narr_replies_free(l.r, l.n);
            return vlm_set_err(err, err_size, VLM_ERR_OOM, "baseline: out of memory");
        }
    *replies = l.r;
    *n = l.n;
    return VLM_OK;
}

/* Whether every sentence of a text parses (and there is at least one). */
static int all_parse(const char *t, size_t len) {
    size_t pos = 0, a, b, k = 0;
    vlm_narr_fact f;
    while (next_sentence(t, len, &pos, &a, &b)) {
        if (vlm_narr_parse(t + a, b - a, &f)) return 0;
        k++;
    }
    return k > 0;
}

vlm_status vlm_narr_most_frequent_reply(const char *train_path, char **text, size_t *count, char *err,
                                        size_t err_size) {
    if (text) *text = NULL;
    if (count) *count = 0;
    if (!train_path || !text) return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "most frequent reply: NULL argument");
    size_t len;
    char *buf = vlm_read_file(train_path, &len, err, err_size);
    if (!buf) return VLM_ERR_IO;
    json_t *counts = json_object(); /* text -> count; insertion order is kept by a parallel array */
    json_t *order = json_array();
    vlm_status st = counts && order ? VLM_OK : vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    size_t line = 0;
    for (size_t a = 0; a < len && !st;) {
        size_t b = a;
        while (b < len && buf[b] != '\n') b++;
        line++;
        const char *t = buf + a;
        size_t tl = b - a, sp = 0;
        a = b + 1;
        while (sp < tl && is_space((unsigned char)t[sp])) sp++;
        if (sp == tl) continue;
        json_error_t je;
        json_t *o = json_loadb(t, tl, JSON_REJECT_DUPLICATES, &je);
        json_t *conv = json_object_get(o, "conversation");
        if (!json_is_array(conv)) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: line %zu: not an object with a \"conversation\" array",
                             train_path, line);
            json_decref(o);
            break;
        }
        for (size_t i = 0; i < json_array_size(conv) && !st; i++) {
            json_t *m = json_array_get(conv, i), *role = json_object_get(m, "role"), *c = json_object_get(m, "content");
            if (!json_is_string(role) || strcmp(json_string_value(role), "assistant") || !json_is_string(c)) continue;
            const char *s = json_string_value(c);
            if (strlen(s) != json_string_length(c) || !all_parse(s, strlen(s))) continue;
            json_t *k = json_object_get(counts, s);
            json_int_t v = k ? json_integer_value(k) + 1 : 1;
            if (json_object_set_new(counts, s, json_integer(v)) || (!k && json_array_append(order, c)))
                st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        }
        json_decref(o);
    }
    free(buf);
    const char *best = NULL;
    json_int_t best_n = 0;
    for (size_t i = 0; !st && i < json_array_size(order); i++) {
        const char *s = json_string_value(json_array_get(order, i));
        json_int_t v = json_integer_value(json_object_get(counts, s));
        if (v > best_n) best_n = v, best = s;
    }
    if (!st && !best)
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: no assistant text made only of event sentences",
                         train_path);
    if (!st && !(*text = strdup(best))) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    if (!st && count) *count = (size_t)best_n;
    json_decref(counts);
    json_decref(order);
    return st;
}
