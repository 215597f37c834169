/* prepare.c - training data preparation as the original VideoLLM-online builds
 * it (data/ego4d/narration.py, data/ego4d/livechat.py, data/stream.py,
 * data/robustness.py): annotation files -> conversations in the original's
 * message form + the frame range of the video's feature file. Every number
 * and string read from an annotation file is checked; an error names the file
 * and the JSON path. The augmentation lives in augment.c. */
#include <errno.h>
#include <sys/stat.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/util.h"
#include "io/safetensors_write.h"
#include "text/live_prompts.h"
#include "train/prepare.h"


/* Times beyond this (seconds, ~31,700 years) are refused: the original's
 * math.ceil would overflow on inf and nothing real comes close. */
#define PREP_MAX_TIME 1e12

vlm_prep_params vlm_prep_default_params(void) {
    vlm_prep_params p = {.fps = 2, .max_frames = 1200, .refined = false, .seed = 42, .features_dir = ".",
                         .system_prompt = vlm_live_system_prompt};
    return p;
}

/* ---- samples ------------------------------------------------------------- */

void vlm_prep_sample_free(vlm_prep_sample *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->msgs[i].content);
    free(s->msgs);
    free(s->video_uid);
    free(s->features);
    memset(s, 0, sizeof *s);
}

void vlm_prep_set_free(vlm_prep_set *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) vlm_prep_sample_free(&s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

vlm_status vlm_prep_push(vlm_prep_sample *s, vlm_role role, const char *content, int64_t num_frames,
                         vlm_prep_learn_kind lk, int64_t learn) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        vlm_prep_msg *m = realloc(s->msgs, nc * sizeof *m);
        if (!m) return VLM_ERR_OOM;
        s->msgs = m;
        s->cap = nc;
    }
    vlm_prep_msg *m = &s->msgs[s->n];
    memset(m, 0, sizeof *m);
    m->role = role;
    m->num_frames = num_frames;
    m->learn_kind = lk;
    m->learn = learn;
    if (content && !(m->content = strdup(content))) return VLM_ERR_OOM;
    s->n++;
    return VLM_OK;
}

static vlm_status set_push(vlm_prep_set *set, vlm_prep_sample *s) {
    if (set->n == set->cap) {
        size_t nc = set->cap ? set->cap * 2 : 16;
        vlm_prep_sample *v = realloc(set->v, nc * sizeof *v);
        if (!v) return VLM_ERR_OOM;
        set->v = v;
        set->cap = nc;
    }
    set->v[set->n++] = *s;
    memset(s, 0, sizeof *s);
    return VLM_OK;
}

int64_t vlm_prep_stream_frames(const vlm_prep_sample *s) {
    int64_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->msgs[i].role == VLM_ROLE_STREAM) n += s->msgs[i].num_frames;
    return n;
}

/* ---- random numbers and time grid ----------------------------------------- */

vlm_prep_rng vlm_prep_rng_seed(uint64_t seed, uint64_t stream) {
    vlm_prep_rng r = {seed ^ (stream * 0xD1B54A32D192ED03ULL)};
    vlm_prep_rng_next(&r);
    return r;
}

uint64_t vlm_prep_rng_next(vlm_prep_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int64_t vlm_prep_randint(vlm_prep_rng *r, int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1; /* 0 means the whole 64-bit range */
    if (span == 0) return (int64_t)vlm_prep_rng_next(r);
    uint64_t lim = UINT64_MAX - UINT64_MAX % span, x;
    do x = vlm_prep_rng_next(r);
    while (x >= lim);
    return (int64_t)((uint64_t)lo + x % span);
}

double vlm_prep_ceil_time(double t, double fps, double lo, double hi) {
    return fmin(fmax(ceil(t * fps) / fps, lo), hi);
}

double vlm_prep_floor_time(double t, double fps, double lo, double hi) {
    return fmin(fmax(floor(t * fps) / fps, lo), hi);
}

/* ---- text cleaning (Python str semantics) --------------------------------- */

/* Python's str.isspace() (what str.split() with no argument splits on). */
static int py_space(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Replace every occurrence of pat (left to right, non-overlapping) in place. */
static void remove_all(char *s, const char *pat) {
    size_t pl = strlen(pat);
    char *w = s;
    for (char *r = s; *r;) {
        if (!strncmp(r, pat, pl)) r += pl;
        else *w++ = *r++;
    }
    *w = 0;
}

static int append_cp(char **buf, size_t *len, size_t *cap, int32_t c) {
    if (*len + 5 > *cap) {
        size_t nc = *cap * 2 + 16;
        char *b = realloc(*buf, nc);
        if (!b) return 0;
        *buf = b;
        *cap = nc;
    }
    *len += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)*buf + *len);
    return 1;
}

char *vlm_prep_clean_text(const char *src, size_t len) {
    char *s = malloc(len + 2);
    if (!s) return NULL;
    memcpy(s, src, len);
    s[len] = 0;
    /* 1. the tags; "#C" before "#", so "#Cx" loses "#C" */
    static const char *const tags[] = {"#C", "#c", "@c", "#O", "#o", "#Unsure", "#unsure", "#"};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) remove_all(s, tags[i]);
    /* 2. strip '.', ',', '\n', ' ' at both ends, then append '.' */
    size_t a = 0, b = strlen(s);
    while (a < b && strchr(".,\n ", s[a])) a++;
    while (b > a && strchr(".,\n ", s[b - 1])) b--;
    memmove(s, s + a, b - a);
    s[b - a] = '.';
    s[b - a + 1] = 0;
    /* 3. split on Unicode whitespace, capitalize the first word (first code
     * point titlecased, the rest of the word lowercased), join with ' ' */
    size_t n = strlen(s), cap = n + 16, olen = 0;
    char *out = malloc(cap);
    if (!out) {
        free(s);
        return NULL;
    }
    size_t word = 0, pos_in_word = 0;
    int ok = 1;
    for (size_t i = 0; i < n && ok;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) { /* cannot happen for text jansson accepted; keep the byte's place */
            c = 0xFFFD;
            k = 1;
        }
        i += (size_t)k;
        if (py_space(c)) {
            if (pos_in_word) word++;
            pos_in_word = 0;
            continue;
        }
        if (pos_in_word == 0 && word > 0) ok = append_cp(&out, &olen, &cap, ' ');
        if (word == 0) c = pos_in_word == 0 ? utf8proc_totitle(c) : utf8proc_tolower(c);
        ok = ok && append_cp(&out, &olen, &cap, c);
        pos_in_word++;
    }
    free(s);
    if (!ok) {
        free(out);
        return NULL;
    }
    out[olen] = 0;
    return out;
}

size_t vlm_prep_count_words(const char *text) {
    size_t n = 1;
    for (; *text; text++) n += *text == ' ';
    return n;
}

/* ---- durations ------------------------------------------------------------ */

struct vlm_prep_durations {
    json_t *root; /* object uid -> integer, validated */
};

static json_t *load_json(const char *json, size_t len, const char *name, char *err, size_t err_size,
                         vlm_status *st) {
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        *st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: line %d column %d: %s", name, je.line, je.column,
                          je.text);
    return root;
}

vlm_status vlm_prep_durations_parse(const char *json, size_t len, const char *name, vlm_prep_durations **out,
                                    char *err, size_t err_size) {
    *out = NULL;
    vlm_status st = VLM_OK;
    json_t *root = load_json(json, len, name, err, err_size, &st);
    if (!root) return st;
    if (!json_is_object(root)) {
        json_decref(root);
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: $: expected an object {video_uid: frame count}",
                           name);
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > ((int64_t)1 << 40)) {
            vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                        "%s: $[\"%.200s\"]: expected the number of encoded frames (an integer 1..2^40)", name, k);
            json_decref(root);
            return VLM_ERR_FORMAT;
        }
    }
    vlm_prep_durations *d = malloc(sizeof *d);
    if (!d) {
        json_decref(root);
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    }
    d->root = root;
    *out = d;
    return VLM_OK;
}

void vlm_prep_durations_free(vlm_prep_durations *d) {
    if (!d) return;
    json_decref(d->root);
    free(d);
}

int64_t vlm_prep_durations_get(const vlm_prep_durations *d, const char *uid) {
    json_t *v = json_object_get(d->root, uid);
    return v ? json_integer_value(v) : -1;
}

/* ---- shared helpers for the builders -------------------------------------- */

static char *features_path(const char *dir, const char *uid) {
    size_t n = strlen(dir) + strlen(uid) + 16;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s.safetensors", dir, uid);
    return p;
}

/* A number at path: finite and within +-PREP_MAX_TIME. */
static vlm_status get_time(json_t *v, const char *name, const char *path, double *out, char *err, size_t err_size) {
    if (!json_is_number(v))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: expected a number (seconds)", name, path);
    double t = json_number_value(v);
    if (!(fabs(t) <= PREP_MAX_TIME))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: time %g is out of range (|t| <= 1e12)", name,
                           path, t);
    *out = t;
    return VLM_OK;
}

/* (t - last) * fps frames; the grid arithmetic must give at least one. */
static vlm_status grid_frames(double t, double last, double fps, const char *name, const char *path, int64_t *out,
                              char *err, size_t err_size) {
    double x = (t - last) * fps;
    if (!(x >= 1 && x < 1e12))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "%s: %s: the time grid gives %g frames for this message (fps %g)", name, path, x, fps);
    *out = (int64_t)x;
    return VLM_OK;
}

/* ---- Ego4D narration stream ----------------------------------------------- */

typedef struct {
    double time;
    char *text;      /* cleaned (or as given for refined) */
    const char *ann; /* points into the JSON document */
    size_t order;    /* position in the file, for a stable sort */
} narration;

static int narration_cmp(const void *a, const void *b) {
    const narration *x = a, *y = b;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The original's build loop for one _annotation_uid group (sorted). */
static vlm_status build_narration_group(narration *const *g, size_t n, const char *uid, int64_t n_frames,
                                        const vlm_prep_params *p, const char *name, const char *path,
                                        vlm_prep_set *out, char *err, size_t err_size) {
    const double fps = p->fps, duration = (double)(n_frames - 1) / fps;
    vlm_prep_sample s;
    memset(&s, 0, sizeof s);
    double start = vlm_prep_ceil_time(g[0]->time, fps, 0, duration), last = start - 1 / fps;
    const char *last_text = NULL;
    vlm_status st = VLM_OK;
    for (size_t i = 0; i < n && !st; i++) {
        if (last >= duration) break;
        if (last_text && !strcmp(g[i]->text, last_text)) continue;
        double t = vlm_prep_ceil_time(g[i]->time, fps, 0, duration);
        if (t == last) { /* sorted and ceiled: the later narration replaces */
            char *c = strdup(g[i]->text);
            if (!c) st = VLM_ERR_OOM;
            else {
                free(s.msgs[s.n - 1].content);
                s.msgs[s.n - 1].content = c;
            }
        } else if (t < last) {
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                             "%s: %s: narration %zu goes back in time (%g s after %g s): not sorted", name, path, i,
                             g[i]->time, last);
        } else {
            int64_t nf = 0;
            st = grid_frames(t, last, fps, name, path, &nf, err, err_size);
            if (!st) st = vlm_prep_push(&s, VLM_ROLE_STREAM, NULL, nf, VLM_PREP_LEARN_BOOL, 1);
            if (!st) st = vlm_prep_push(&s, VLM_ROLE_ASSISTANT, g[i]->text, 0, VLM_PREP_LEARN_BOOL, 1);
        }
        last = t;
        last_text = g[i]->text;
    }
    if (st == VLM_ERR_OOM) vlm_set_err(err, err_size, st, "out of memory");
    if (!st && s.n) {
        s.frame_start = (int64_t)(start * fps);
        s.frame_end = (int64_t)(last * fps) + 1;
        s.video_uid = strdup(uid);
        s.features = features_path(p->features_dir, uid);
        if (!s.video_uid || !s.features) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        else if (s.frame_end - s.frame_start != vlm_prep_stream_frames(&s))
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                             "%s: %s: frames [%lld, %lld) do not match the %lld stream frames (fps %g)", name, path,
                             (long long)s.frame_start, (long long)s.frame_end,
                             (long long)vlm_prep_stream_frames(&s), fps);
        else if ((st = set_push(out, &s)))
            vlm_set_err(err, err_size, st, "out of memory");
    } else if (!st)
        out->dropped_samples++;
    vlm_prep_sample_free(&s);
    return st;
}

/* Read one narration object of a list (raw shapes). */
static vlm_status read_narration(json_t *o, const char *name, const char *path, bool refined, narration *nr,
                                 char *err, size_t err_size) {
    char p2[600];
    if (!json_is_object(o)) return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: expected an object", name, path);
    json_t *t = json_object_get(o, "time");
    const char *tk = "time";
    if (!t && !refined) t = json_object_get(o, tk = "timestamp_sec");
    json_t *x = json_object_get(o, "text");
    const char *xk = "text";
    if (!x && !refined) x = json_object_get(o, xk = "narration_text");
    snprintf(p2, sizeof p2, "%s.%s", path, tk);
    vlm_status st = get_time(t, name, p2, &nr->time, err, err_size);
    if (st) return st;
    if (!json_is_string(x))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s.%s: expected a string", name, path, xk);
    if (!refined) {
        json_t *a = json_object_get(o, "_annotation_uid");
        if (!a) a = json_object_get(o, "annotation_uid");
        if (!json_is_string(a))
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s._annotation_uid: expected a string", name,
                               path);
        nr->ann = json_string_value(a);
        nr->text = vlm_prep_clean_text(json_string_value(x), json_string_length(x));
    } else
        nr->text = strdup(json_string_value(x));
    if (!nr->text) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    return VLM_OK;
}

typedef struct {
    narration *v;
    size_t n, cap;
} narr_list;

static void narr_list_clear(narr_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].text);
    l->n = 0;
}

static vlm_status narr_push(narr_list *l, narration *nr) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        narration *v = realloc(l->v, nc * sizeof *v);
        if (!v) return VLM_ERR_OOM;
        l->v = v;
        l->cap = nc;
    }
    l->v[l->n++] = *nr;
    return VLM_OK;
}

/* Raw video: narrations of "narrations" or narration_pass_1/2 -> cleaned,
 * >= 2 words, sorted, grouped by _annotation_uid in order of first
 * appearance; one sample per group. */
static vlm_status narration_video_raw(json_t *video, const char *uid, int64_t nfr, const vlm_prep_params *p,
                                      const char *name, const char *vpath, narr_list *l, vlm_prep_set *out,
                                      char *err, size_t err_size) {
    if (!json_is_object(video))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: expected an object", name, vpath);
    static const char *const passes[] = {NULL, "narration_pass_1", "narration_pass_2"};
    vlm_status st = VLM_OK;
    narr_list_clear(l);
    char path[600];
    for (size_t ps = 0; ps < 3 && !st; ps++) {
        json_t *list;
        char lpath[520];
        if (!passes[ps]) {
            list = json_object_get(video, "narrations");
            snprintf(lpath, sizeof lpath, "%s.narrations", vpath);
        } else {
            json_t *pass = json_object_get(video, passes[ps]);
            if (!pass) continue;
            if (!json_is_object(pass))
                return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s.%s: expected an object", name, vpath,
                                   passes[ps]);
            list = json_object_get(pass, "narrations");
            snprintf(lpath, sizeof lpath, "%s.%s.narrations", vpath, passes[ps]);
        }
        if (!list) continue;
        if (!json_is_array(list))
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: expected an array", name, lpath);
        for (size_t i = 0; i < json_array_size(list) && !st; i++) {
            snprintf(path, sizeof path, "%s[%zu]", lpath, i);
            narration nr = {.order = l->n};
            st = read_narration(json_array_get(list, i), name, path, false, &nr, err, err_size);
            if (st) break;
            if (vlm_prep_count_words(nr.text) < 2) { /* at least "C verb." */
                free(nr.text);
                continue;
            }
            nr.order = l->n;
            if ((st = narr_push(l, &nr))) {
                free(nr.text);
                vlm_set_err(err, err_size, st, "out of memory");
            }
        }
    }
    if (st) return st;
    if (l->n) qsort(l->v, l->n, sizeof *l->v, narration_cmp);
    /* groups in order of first appearance in the sorted list */
    narration **g = malloc((l->n ? l->n : 1) * sizeof *g);
    char *done = calloc(l->n ? l->n : 1, 1);
    if (!g || !done) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    for (size_t i = 0; i < l->n && !st; i++) {
        if (done[i]) continue;
        size_t ng = 0;
        for (size_t j = i; j < l->n; j++)
            if (!done[j] && !strcmp(l->v[j].ann, l->v[i].ann)) {
                done[j] = 1;
                g[ng++] = &l->v[j];
            }
        snprintf(path, sizeof path, "%s (_annotation_uid \"%.100s\")", vpath, l->v[i].ann);
        st = build_narration_group(g, ng, uid, nfr, p, name, path, out, err, err_size);
    }
    free(g);
    free(done);
    return st;
}

/* Refined video: {annotation_uid: [{time, text}, ...]} taken as stored. */
static vlm_status narration_video_refined(json_t *video, const char *uid, int64_t nfr, const vlm_prep_params *p,
                                          const char *name, const char *vpath, narr_list *l, vlm_prep_set *out,
                                          char *err, size_t err_size) {
    if (!json_is_object(video))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: expected an object {annotation_uid: [...]}",
                           name, vpath);
    const char *ak;
    json_t *list;
    vlm_status st = VLM_OK;
    char lpath[600], path[700];
    json_object_foreach(video, ak, list) {
        snprintf(lpath, sizeof lpath, "%s[\"%.100s\"]", vpath, ak);
        if (!json_is_array(list))
            return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: expected an array", name, lpath);
        narr_list_clear(l);
        for (size_t i = 0; i < json_array_size(list) && !st; i++) {
            snprintf(path, sizeof path, "%s[%zu]", lpath, i);
            narration nr = {.order = i};
            st = read_narration(json_array_get(list, i), name, path, true, &nr, err, err_size);
            if (!st && (st = narr_push(l, &nr))) {
                free(nr.text);
                vlm_set_err(err, err_size, st, "out of memory");
            }
        }
        if (st) return st;
        if (!l->n) continue;
        narration **g = malloc(l->n * sizeof *g);
        if (!g) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        for (size_t i = 0; i < l->n; i++) g[i] = &l->v[i];
        st = build_narration_group(g, l->n, uid, nfr, p, name, lpath, out, err, err_size);
        free(g);
        if (st) return st;
    }
    return VLM_OK;
}

static vlm_status check_params(const vlm_prep_params *p, char *err, size_t err_size) {
    if (!(p->fps >= 1 && p->fps <= 60) || p->fps != floor(p->fps))
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "fps must be a whole number 1..60, got %g", p->fps);
    if (p->max_frames < 1)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "max_frames must be >= 1");
    if (!p->features_dir || !p->system_prompt)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "features_dir and system_prompt are required");
    return VLM_OK;
}

vlm_status vlm_prep_ego4d_narration(const char *json, size_t len, const char *name, const vlm_prep_durations *d,
                                    const vlm_prep_params *p, vlm_prep_set *out, char *err, size_t err_size) {
    vlm_status st = check_params(p, err, err_size);
    if (st) return st;
    json_t *root = load_json(json, len, name, err, err_size, &st);
    if (!root) return st;
    json_t *videos = root;
    const char *prefix = "$";
    if (!p->refined && json_is_object(root) && json_object_get(root, "videos")) {
        videos = json_object_get(root, "videos");
        prefix = "$.videos";
    }
    if (!json_is_object(videos)) {
        json_decref(root);
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: expected an object {video_uid: ...}", name,
                           prefix);
    }
    narr_list l = {0};
    const char *uid;
    json_t *video;
    char vpath[300];
    json_object_foreach(videos, uid, video) {
        int64_t nfr = vlm_prep_durations_get(d, uid);
        if (nfr < 1) {
            out->skipped_videos++;
            continue;
        }
        snprintf(vpath, sizeof vpath, "%s[\"%.200s\"]", prefix, uid);
        st = p->refined ? narration_video_refined(video, uid, nfr, p, name, vpath, &l, out, err, err_size)
                        : narration_video_raw(video, uid, nfr, p, name, vpath, &l, out, err, err_size);
        if (st) break;
    }
    narr_list_clear(&l);
    free(l.v);
    json_decref(root);
    return st;
}

/* ---- Ego4D GoalStep streaming dialogue ------------------------------------ */

static vlm_status livechat_message(json_t *m, const char *name, const char *path, bool *is_user,
                                   const char **content, double *time, char *err, size_t err_size) {
    if (!json_is_object(m)) return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: expected an object", name, path);
    json_t *r = json_object_get(m, "role"), *c = json_object_get(m, "content");
    if (!json_is_string(r))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s.role: expected a string", name, path);
    if (!json_is_string(c))
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s.content: expected a string", name, path);
    char p2[600];
    snprintf(p2, sizeof p2, "%s.time", path);
    *is_user = !strcmp(json_string_value(r), "user"); /* every other role is an assistant turn, as the original */
    *content = json_string_value(c);
    return get_time(json_object_get(m, "time"), name, p2, time, err, err_size);
}

static vlm_status livechat_one(json_t *conv, const char *uid, int64_t nfr, const vlm_prep_params *p,
                               vlm_prep_rng *rng, const char *name, const char *cpath, vlm_prep_set *out, char *err,
                               size_t err_size) {
    const double fps = p->fps, duration = (double)(nfr - 1) / fps;
    char path[600];
    bool user;
    const char *content;
    double time;
    snprintf(path, sizeof path, "%s[0]", cpath);
    vlm_status st = livechat_message(json_array_get(conv, 0), name, path, &user, &content, &time, err, err_size);
    if (st) return st;
    if (!(user && time > 0 && time <= duration && content[0])) {
        out->dropped_samples++;
        return VLM_OK;
    }
    vlm_prep_sample s;
    memset(&s, 0, sizeof s);
    double fps_time = vlm_prep_floor_time(time, fps, 0, duration);
    int64_t lim = (int64_t)(fps_time * fps);
    int64_t waiting = vlm_prep_randint(rng, 0, lim < 20 ? lim : 20);
    if (waiting) st = vlm_prep_push(&s, VLM_ROLE_STREAM, NULL, waiting, VLM_PREP_LEARN_INT, waiting - 1);
    if (!st) st = vlm_prep_push(&s, VLM_ROLE_USER, content, 0, VLM_PREP_LEARN_NONE, 0);
    if (!st) s.msgs[s.n - 1].time = time, s.msgs[s.n - 1].fps_time = fps_time;
    double start_fps_time = fps_time - (double)(waiting - 1) / fps;
    for (size_t i = 1; i < json_array_size(conv) && !st; i++) {
        snprintf(path, sizeof path, "%s[%zu]", cpath, i);
        st = livechat_message(json_array_get(conv, i), name, path, &user, &content, &time, err, err_size);
        if (st) break;
        vlm_prep_msg *L = &s.msgs[s.n - 1];
        if (time > duration || time < L->time) break;
        if (time == L->time) {
            if (user) break;
            if (L->role == VLM_ROLE_USER) {
                double ft = L->fps_time;
                st = vlm_prep_push(&s, VLM_ROLE_ASSISTANT, content, 0, VLM_PREP_LEARN_BOOL, 1);
                if (!st) s.msgs[s.n - 1].time = time, s.msgs[s.n - 1].fps_time = ft;
            } else {
                char *c = strdup(content);
                if (!c) st = VLM_ERR_OOM;
                else free(L->content), L->content = c;
            }
            continue;
        }
        double ft = user ? vlm_prep_floor_time(time, fps, L->fps_time, duration)
                         : vlm_prep_ceil_time(time, fps, L->fps_time, duration);
        if (ft > duration) break;
        double lft = L->fps_time;
        if (ft > lft) {
            int64_t nf = 0;
            st = grid_frames(ft, lft, fps, name, path, &nf, err, err_size);
            if (st) break;
            st = vlm_prep_push(&s, VLM_ROLE_STREAM, NULL, nf, VLM_PREP_LEARN_BOOL, 1);
            if (!st)
                st = vlm_prep_push(&s, user ? VLM_ROLE_USER : VLM_ROLE_ASSISTANT, content, 0,
                                   user ? VLM_PREP_LEARN_NONE : VLM_PREP_LEARN_BOOL, user ? 0 : 1);
        } else if (user) /* the grid did not advance: a user message still comes, an assistant one is dropped */
            st = vlm_prep_push(&s, VLM_ROLE_USER, content, 0, VLM_PREP_LEARN_NONE, 0);
        else
            continue;
        if (!st) s.msgs[s.n - 1].time = time, s.msgs[s.n - 1].fps_time = ft;
    }
    if (st == VLM_ERR_OOM) vlm_set_err(err, err_size, st, "out of memory");
    if (!st) {
        s.frame_start = (int64_t)(start_fps_time * fps);
        s.frame_end = (int64_t)(s.msgs[s.n - 1].fps_time * fps) + 1;
        s.video_uid = strdup(uid);
        s.features = features_path(p->features_dir, uid);
        if (!s.video_uid || !s.features) st = vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
        else if (s.frame_end - s.frame_start != vlm_prep_stream_frames(&s))
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                             "%s: %s: frames [%lld, %lld) do not match the %lld stream frames (fps %g)", name, cpath,
                             (long long)s.frame_start, (long long)s.frame_end,
                             (long long)vlm_prep_stream_frames(&s), fps);
        else if ((st = set_push(out, &s)))
            vlm_set_err(err, err_size, st, "out of memory");
    }
    vlm_prep_sample_free(&s);
    return st;
}

vlm_status vlm_prep_goalstep_livechat(const char *json, size_t len, const char *name, const vlm_prep_durations *d,
                                      const vlm_prep_params *p, vlm_prep_set *out, char *err, size_t err_size) {
    vlm_status st = check_params(p, err, err_size);
    if (st) return st;
    json_t *root = load_json(json, len, name, err, err_size, &st);
    if (!root) return st;
    if (!json_is_array(root)) {
        json_decref(root);
        return vlm_set_err(err, err_size, VLM_ERR_FORMAT,
                           "%s: $: expected an array of {\"video_uid\", \"conversation\"}", name);
    }
    vlm_prep_rng rng = vlm_prep_rng_seed(p->seed, 1);
    char path[300];
    for (size_t i = 0; i < json_array_size(root) && !st; i++) {
        json_t *a = json_array_get(root, i), *u = json_object_get(a, "video_uid"), *c = json_object_get(a, "conversation");
        snprintf(path, sizeof path, "$[%zu]", i);
        if (!json_is_object(a)) st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s: expected an object", name, path);
        else if (!json_is_string(u))
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s.video_uid: expected a string", name, path);
        else if (!json_is_array(c))
            st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "%s: %s.conversation: expected an array", name, path);
        if (st) break;
        int64_t nfr = vlm_prep_durations_get(d, json_string_value(u));
        if (nfr < 1) {
            out->skipped_videos++;
            continue;
        }
        if (!json_array_size(c)) {
            out->dropped_samples++;
            continue;
        }
        snprintf(path, sizeof path, "$[%zu].conversation", i);
        st = livechat_one(c, json_string_value(u), nfr, p, &rng, name, path, out, err, err_size);
    }
    json_decref(root);
    return st;
}

/* ---- robustness ----------------------------------------------------------- */

vlm_status vlm_prep_robustness(const char *noise_path, const char *zero_path, vlm_prep_set *out, char *err,
                               size_t err_size) {
    static const struct {
        const char *user, *assistant;
        int64_t frames; /* 0: text only; 10: noise; 1: zero */
    } R[5] = {
        {"Please help me to narrate the video in real time.",
         "Sure! Please provide me the video stream, and I will help you.", 0},
        {"Concisely output what you have seen.", "Sure! Please provide me the video inputs.", 0},
        {"...", "Hi! How can I help you?", 0},
        {"What is happening now?", "Sorry, it seems the input video frames are noise. Could you have a check?", 10},
        {"What is the next step?",
         "Sorry, I cannot see anything in the input video frame. Could you check it?", 1},
    };
    vlm_status st = VLM_OK;
    for (size_t i = 0; i < 5 && !st; i++) {
        vlm_prep_sample s;
        memset(&s, 0, sizeof s);
        if (R[i].frames) st = vlm_prep_push(&s, VLM_ROLE_STREAM, NULL, R[i].frames, VLM_PREP_LEARN_BOOL, 0);
        /* the frame samples carry learn: false on the user turn, as the original */
        if (!st) st = vlm_prep_push(&s, VLM_ROLE_USER, R[i].user, 0,
                                    R[i].frames ? VLM_PREP_LEARN_BOOL : VLM_PREP_LEARN_NONE, 0);
        if (!st) st = vlm_prep_push(&s, VLM_ROLE_ASSISTANT, R[i].assistant, 0, VLM_PREP_LEARN_BOOL, 1);
        s.frame_start = 0;
        s.frame_end = R[i].frames;
        if (!st && !(s.features = strdup(R[i].frames == 10 ? noise_path : zero_path))) st = VLM_ERR_OOM;
        if (!st) st = set_push(out, &s);
        vlm_prep_sample_free(&s);
    }
    if (st) vlm_set_err(err, err_size, st, "out of memory");
    return st;
}

/* One F32 tensor "features" [t, k, d] through the shared safetensors writer
 * (io/safetensors_write.h: PATH.part, renamed when complete, removed on
 * failure). */
static vlm_status write_f32_features(const char *path, const float *data, int64_t t, int64_t k, int64_t d,
                                     char *err, size_t err_size) {
    /* the features folder may not exist yet (one level is created) */
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        char dir[4096];
        size_t dl = (size_t)(slash - path);
        if (dl < sizeof dir) {
            memcpy(dir, path, dl);
            dir[dl] = 0;
            if (mkdir(dir, 0777) != 0 && errno != EEXIST)
                return vlm_set_err(err, err_size, VLM_ERR_IO, "cannot create the folder %s: %s", dir, strerror(errno));
        }
    }
    vlm_stw_tensor ts = {"features", VLM_ST_F32, 3, {t, k, d}};
    return vlm_stw_save_f32(path, &ts, data, err, err_size);
}

vlm_status vlm_prep_write_robustness_features(const char *noise_path, const char *zero_path, uint64_t seed,
                                              int64_t tpf, int64_t hidden, char *err, size_t err_size) {
    if (tpf < 1 || tpf > 1024 || hidden < 1 || hidden > 65536)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG, "robustness features: bad shape [%lld, %lld]",
                           (long long)tpf, (long long)hidden);
    size_t per = (size_t)(tpf * hidden);
    float *buf = calloc(per * 10, sizeof(float)); /* noise [10, tpf, hidden] */
    if (!buf) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    vlm_prep_rng r = vlm_prep_rng_seed(seed, 4);
    for (int64_t j = 0; j < hidden; j++) buf[j] = (float)((double)(vlm_prep_rng_next(&r) >> 40) / 16777216.0);
    for (size_t i = 1; i < per * 10 / (size_t)hidden; i++) memcpy(buf + i * (size_t)hidden, buf, (size_t)hidden * sizeof(float));
    vlm_status st = write_f32_features(noise_path, buf, 10, tpf, hidden, err, err_size);
    if (!st) {
        memset(buf, 0, per * sizeof(float)); /* zero [1, tpf, hidden] */
        st = write_f32_features(zero_path, buf, 1, tpf, hidden, err, err_size);
    }
    free(buf);
    return st;
}

/* ---- __getitem__ steps ----------------------------------------------------- */

vlm_status vlm_prep_insert_instruction(vlm_prep_sample *s, bool refined, vlm_prep_rng *rng, char *err,
                                       size_t err_size) {
    if (!s->n || s->msgs[0].role != VLM_ROLE_STREAM || s->msgs[0].num_frames != 1)
        return vlm_set_err(err, err_size, VLM_ERR_INVALID_ARG,
                           "narration sample does not start with a 1-frame stream");
    const char *ins = refined ? vlm_live_refined_instructions[vlm_prep_randint(rng, 0, VLM_LIVE_N_REFINED_INSTRUCTIONS - 1)]
                              : vlm_live_narration_instruction;
    if (vlm_prep_push(s, VLM_ROLE_USER, ins, 0, VLM_PREP_LEARN_NONE, 0))
        return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    vlm_prep_msg m = s->msgs[s->n - 1];
    memmove(s->msgs + 2, s->msgs + 1, (s->n - 2) * sizeof m);
    s->msgs[1] = m;
    s->msgs[0].learn_kind = VLM_PREP_LEARN_BOOL;
    s->msgs[0].learn = 0;
    return VLM_OK;
}

void vlm_prep_max_frames_clip(vlm_prep_sample *s, int64_t max_frames) {
    int64_t cum = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->msgs[i].role != VLM_ROLE_STREAM) continue;
        if (cum + s->msgs[i].num_frames > max_frames) {
            for (size_t j = i; j < s->n; j++) free(s->msgs[j].content);
            s->n = i;
            s->frame_end = s->frame_start + cum;
            return;
        }
        cum += s->msgs[i].num_frames;
    }
}

vlm_status vlm_prep_add_system(vlm_prep_sample *s, const char *system_prompt) {
    if (vlm_prep_push(s, VLM_ROLE_SYSTEM, system_prompt, 0, VLM_PREP_LEARN_NONE, 0)) return VLM_ERR_OOM;
    vlm_prep_msg m = s->msgs[s->n - 1];
    memmove(s->msgs + 1, s->msgs, (s->n - 1) * sizeof m);
    s->msgs[0] = m;
    return VLM_OK;
}

/* ---- output and checks ---------------------------------------------------- */

static json_t *conversation_to_json(const vlm_prep_sample *s) {
    static const char *const roles[] = {"", "system", "user", "assistant", "stream"};
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->n; i++) {
        const vlm_prep_msg *m = &s->msgs[i];
        json_t *o = json_object();
        int bad = !o || json_array_append_new(a, o) ||
                  json_object_set_new(o, "role", json_string(roles[m->role <= VLM_ROLE_STREAM ? m->role : 0]));
        if (m->role == VLM_ROLE_STREAM) bad = bad || json_object_set_new(o, "num_frames", json_integer(m->num_frames));
        else bad = bad || json_object_set_new(o, "content", json_string(m->content ? m->content : ""));
        if (m->learn_kind == VLM_PREP_LEARN_BOOL) bad = bad || json_object_set_new(o, "learn", json_boolean(m->learn));
        else if (m->learn_kind == VLM_PREP_LEARN_INT) bad = bad || json_object_set_new(o, "learn", json_integer(m->learn));
        if (bad) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

char *vlm_prep_conversation_json(const vlm_prep_sample *s) {
    json_t *a = conversation_to_json(s);
    char *out = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return out;
}

char *vlm_prep_sample_line(const vlm_prep_sample *s) {
    json_t *o = json_object(), *a = conversation_to_json(s);
    char *out = NULL;
    if (o && a && !json_object_set_new(o, "conversation", a) &&
        !json_object_set_new(o, "features", json_string(s->features ? s->features : "")) &&
        !json_object_set_new(o, "frames", json_pack("[II]", (json_int_t)s->frame_start, (json_int_t)s->frame_end)))
        out = json_dumps(o, JSON_COMPACT);
    else if (!o || json_object_get(o, "conversation") != a)
        json_decref(a);
    json_decref(o);
    return out;
}

vlm_status vlm_prep_check(const vlm_prep_sample *s, vlm_live_version v, char *err, size_t err_size) {
    char *cj = vlm_prep_conversation_json(s);
    if (!cj) return vlm_set_err(err, err_size, VLM_ERR_OOM, "out of memory");
    vlm_conversation *c = NULL;
    char e2[512];
    vlm_status st = vlm_conversation_parse(cj, strlen(cj), &c, e2, sizeof e2);
    free(cj);
    if (st) return vlm_set_err(err, err_size, st, "conversation: %s", e2);
    vlm_template_params tp = vlm_template_default_params();
    tp.live_version = v;
    tp.strict = true;
    char *text = NULL;
    size_t tl = 0, nr = 0;
    int64_t *ranges = NULL;
    st = vlm_template_render(vlm_conversation_messages(c), vlm_conversation_size(c), &tp, &text, &tl, e2, sizeof e2);
    if (!st)
        st = vlm_learn_ranges(vlm_conversation_messages(c), vlm_conversation_size(c), &tp, &ranges, &nr, e2,
                              sizeof e2);
    if (st) vlm_set_err(err, err_size, st, "%s", e2);
    else if (s->frame_end - s->frame_start != vlm_prep_stream_frames(s))
        st = vlm_set_err(err, err_size, VLM_ERR_FORMAT, "frames [%lld, %lld) but the streams hold %lld frames",
                         (long long)s->frame_start, (long long)s->frame_end, (long long)vlm_prep_stream_frames(s));
    free(text);
    free(ranges);
    vlm_conversation_free(c);
    return st;
}

vlm_status vlm_prep_finish(vlm_prep_set *set, vlm_prep_dataset kind, const vlm_prep_params *p, bool augmentation,
                           vlm_live_version v, char *err, size_t err_size) {
    vlm_status st = check_params(p, err, err_size);
    if (st) return st;
    vlm_prep_rng ri = vlm_prep_rng_seed(p->seed, 2), ra = vlm_prep_rng_seed(p->seed, 3);
    size_t w = 0;
    char e2[512];
    for (size_t i = 0; i < set->n; i++) {
        vlm_prep_sample *s = &set->v[i];
        st = VLM_OK;
        if (kind == VLM_PREP_NARRATION) st = vlm_prep_insert_instruction(s, p->refined, &ri, e2, sizeof e2);
        if (!st && kind != VLM_PREP_ROBUSTNESS) {
            vlm_prep_max_frames_clip(s, p->max_frames);
            if (vlm_prep_stream_frames(s) == 0) {
                vlm_prep_sample_free(s);
                set->dropped_samples++;
                continue;
            }
        }
        if (!st && augmentation) st = vlm_prep_augment(s, &ra, e2, sizeof e2);
        if (!st && vlm_prep_add_system(s, p->system_prompt)) st = vlm_set_err(e2, sizeof e2, VLM_ERR_OOM, "out of memory");
        if (!st) st = vlm_prep_check(s, v, e2, sizeof e2);
        if (st) {
            vlm_set_err(err, err_size, st, "sample %zu (video %s): %s", i, s->video_uid ? s->video_uid : "-", e2);
            for (size_t j = i; j < set->n; j++) vlm_prep_sample_free(&set->v[j]);
            set->n = w;
            return st;
        }
        if (w != i) set->v[w] = *s, memset(s, 0, sizeof *s);
        w++;
    }
    set->n = w;
    return VLM_OK;
}
