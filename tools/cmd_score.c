/* cmd_score.c - `videollm score`: the narration score of model replies
 * against the ground-truth events of synthetic clips (`videollm synth`), per
 * scene, per action and overall, as a table or JSON; and the same score for
 * the silent and every-K narration baselines. Rules: docs/evaluation.md,
 * "Narration score". */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const ACTION_NAMES[VLM_NARR_N_ACTIONS] = {"appears", "moves", "turns", "collides", "disappears"};

static int usage(FILE *f) {
    fprintf(f,
            "usage: videollm score --dir DIR [--suffix .stream.jsonl] [--window 1.0] [--json]\n"
            "       videollm score --events A.events.json --replies A.stream.jsonl [--events ... --replies ...]\n"
            "                      [--window 1.0] [--json]\n"
            "       videollm score (--dir DIR | --events F ...) --baseline silent|every:K\n"
            "                      [--text T | --text-from train.jsonl] [--fps 2] [--window 1.0] [--json]\n"
            "Scores replies against the events of synthetic clips: an event is narrated when a reply\n"
            "sentence at time t, event_time <= t <= event_time + window, states its action, object and\n"
            "detail. --dir pairs every DIR/X.events.json with DIR/X.stream.jsonl (`videollm stream --json`\n"
            "output; a --save history file also works). --baseline replaces the replies: silent says\n"
            "nothing; every:K says --text (or the most frequent event-sentence reply of --text-from)\n"
            "after every stream frame r with (r + 1) %% K == 0, r < seconds * fps.\n");
    return f == stdout ? 0 : 2;
}

typedef struct {
    char *name, *events, *replies; /* malloc'd */
} scene_files;

static void scenes_free(scene_files *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(s[i].name);
        free(s[i].events);
        free(s[i].replies);
    }
    free(s);
}

static char *join(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *p = malloc(la + lb + lc + 1);
    if (!p) return NULL;
    memcpy(p, a, la);
    memcpy(p + la, b, lb);
    memcpy(p + la + lb, c, lc + 1);
    return p;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(((const scene_files *)a)->name, ((const scene_files *)b)->name);
}

/* DIR/X.events.json -> name X, replies DIR/X<suffix>, sorted by name. */
static int scan_dir(const char *dir, const char *suffix, scene_files **out, size_t *n) {
    static const char ext[] = ".events.json";
    DIR *d = opendir(dir);
    if (!d) { perror(dir); return 1; }
    scene_files *s = NULL;
    size_t ns = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l <= sizeof ext - 1 || strcmp(de->d_name + l - (sizeof ext - 1), ext)) continue;
        if (ns == cap) {
            cap = cap ? cap * 2 : 16;
            scene_files *nsf = realloc(s, cap * sizeof *nsf);
            if (!nsf) { rc = 1; break; }
            s = nsf;
        }
        scene_files *f = &s[ns++];
        *f = (scene_files){0};
        f->name = strndup(de->d_name, l - (sizeof ext - 1));
        f->events = f->name ? join(dir, "/", de->d_name) : NULL;
        char *stem = f->name ? join(dir, "/", f->name) : NULL;
        f->replies = stem ? join(stem, suffix, "") : NULL;
        free(stem);
        if (!f->events || !f->replies) { rc = 1; break; }
    }
    closedir(d);
    if (rc) {
        fprintf(stderr, "videollm score: out of memory listing %s\n", dir);
        scenes_free(s, ns);
        return 1;
    }
    if (!ns) {
        fprintf(stderr, "videollm score: %s holds no *.events.json\n", dir);
        free(s);
        return 1;
    }
    qsort(s, ns, sizeof *s, cmp_names);
    *out = s;
    *n = ns;
    return 0;
}

static double pct(size_t a, size_t b) { return b ? 100.0 * (double)a / (double)b : NAN; }

static json_t *jnum(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *counts_json(const vlm_narr_counts *c) {
    json_t *o = json_object(), *by = json_object();
    json_object_set_new(o, "events", json_integer((json_int_t)c->n_events));
    json_object_set_new(o, "narrated", json_integer((json_int_t)c->n_narrated));
    json_object_set_new(o, "narrated_pct", jnum(pct(c->n_narrated, c->n_events)));
    json_object_set_new(o, "wrong_detail", json_integer((json_int_t)c->n_wrong_detail));
    json_object_set_new(o, "missed", json_integer((json_int_t)(c->n_events - c->n_narrated - c->n_wrong_detail)));
    json_object_set_new(o, "replies", json_integer((json_int_t)c->n_replies));
    json_object_set_new(o, "sentences", json_integer((json_int_t)c->n_sentences));
    json_object_set_new(o, "unparsable", json_integer((json_int_t)c->n_unparsable));
    json_object_set_new(o, "false", json_integer((json_int_t)c->n_false));
    json_object_set_new(o, "precision_pct", jnum(pct(c->n_narrated, c->n_sentences)));
    json_object_set_new(o, "mean_latency", jnum(c->n_narrated ? c->latency_sum / (double)c->n_narrated : NAN));
    for (int a = 0; a < VLM_NARR_N_ACTIONS; a++) {
        const vlm_narr_action_counts *x = &c->by_action[a];
        json_t *ja = json_object();
        json_object_set_new(ja, "events", json_integer((json_int_t)x->events));
        json_object_set_new(ja, "narrated", json_integer((json_int_t)x->narrated));
        json_object_set_new(ja, "narrated_pct", jnum(pct(x->narrated, x->events)));
        json_object_set_new(ja, "wrong_detail", json_integer((json_int_t)x->wrong_detail));
        json_object_set_new(ja, "sentences", json_integer((json_int_t)x->sentences));
        json_object_set_new(ja, "false", json_integer((json_int_t)x->false_sentences));
        json_object_set_new(by, ACTION_NAMES[a], ja);
    }
    json_object_set_new(o, "by_action", by);
    const vlm_narr_field_counts *f = &c->fields;
    json_t *jf = json_object();
    json_object_set_new(jf, "events", json_integer((json_int_t)f->events));
    json_object_set_new(jf, "colour", json_integer((json_int_t)f->colour));
    json_object_set_new(jf, "shape", json_integer((json_int_t)f->shape));
    json_object_set_new(jf, "size_events", json_integer((json_int_t)f->size_events));
    json_object_set_new(jf, "size", json_integer((json_int_t)f->size));
    json_object_set_new(jf, "detail_events", json_integer((json_int_t)f->detail_events));
    json_object_set_new(jf, "detail", json_integer((json_int_t)f->detail));
    json_object_set_new(jf, "other_events", json_integer((json_int_t)f->other_events));
    json_object_set_new(jf, "other", json_integer((json_int_t)f->other));
    json_object_set_new(o, "fields", jf);
    return o;
}

static void print_pct(size_t a, size_t b) {
    if (b) printf("%.1f%%", pct(a, b));
    else printf("n/a");
}

static void counts_text(const char *name, const vlm_narr_counts *c, bool actions) {
    printf("%s: %zu events, %zu narrated (", name, c->n_events, c->n_narrated);
    print_pct(c->n_narrated, c->n_events);
    printf("), %zu wrong detail, %zu missed; %zu replies, %zu sentences, %zu unparsable, %zu false (precision ",
           c->n_wrong_detail, c->n_events - c->n_narrated - c->n_wrong_detail, c->n_replies, c->n_sentences,
           c->n_unparsable, c->n_false);
    print_pct(c->n_narrated, c->n_sentences);
    printf(")");
    if (c->n_narrated) printf(", mean latency %.3f s", c->latency_sum / (double)c->n_narrated);
    printf("\n");
    if (!actions) return;
    for (int a = 0; a < VLM_NARR_N_ACTIONS; a++) {
        const vlm_narr_action_counts *x = &c->by_action[a];
        printf("  %-10s %5zu events, %5zu narrated (", ACTION_NAMES[a], x->events, x->narrated);
        print_pct(x->narrated, x->events);
        printf("), %zu wrong detail; %zu sentences, %zu false\n", x->wrong_detail, x->sentences, x->false_sentences);
    }
    const vlm_narr_field_counts *f = &c->fields;
    printf("  fields, where a sentence in the window names the event's action (%zu events): colour ", f->events);
    print_pct(f->colour, f->events);
    printf(", shape ");
    print_pct(f->shape, f->events);
    printf(", size ");
    print_pct(f->size, f->size_events);
    printf(", direction or new colour ");
    print_pct(f->detail, f->detail_events);
    printf(", other object ");
    print_pct(f->other, f->other_events);
    printf("\n");
}

int cmd_score(int argc, char **argv) {
    const char *dir = NULL, *suffix = ".stream.jsonl", *baseline = NULL, *text = NULL, *text_from = NULL;
    double window = 1.0, fps = 2.0;
    bool json = false;
    scene_files *sc = NULL;
    size_t n_sc = 0, n_ev_args = 0, n_rep_args = 0, text_count = 0;
    char *own_text = NULL;
    int rc = 2;
    /* explicit pairs: collect --events / --replies in order */
    const char **ev_args = calloc((size_t)argc + 1, sizeof *ev_args), **rep_args = calloc((size_t)argc + 1, sizeof *rep_args);
    if (!ev_args || !rep_args) {
        fprintf(stderr, "videollm score: out of memory\n");
        free(ev_args);
        free(rep_args);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { rc = usage(stdout); goto done; }
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (!v) { fprintf(stderr, "videollm score: %s needs a value (or is unknown)\n", a); usage(stderr); goto done; }
        i++;
        if (!strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--suffix")) suffix = v;
        else if (!strcmp(a, "--events")) ev_args[n_ev_args++] = v;
        else if (!strcmp(a, "--replies")) rep_args[n_rep_args++] = v;
        else if (!strcmp(a, "--baseline")) baseline = v;
        else if (!strcmp(a, "--text")) text = v;
        else if (!strcmp(a, "--text-from")) text_from = v;
        else if (!strcmp(a, "--window")) {
            window = strtod(v, &end);
            if (*end || !(window >= 0 && window <= 1e6)) {
                fprintf(stderr, "videollm score: --window %s: expected seconds >= 0\n", v);
                goto done;
            }
        } else if (!strcmp(a, "--fps")) {
            fps = strtod(v, &end);
            if (*end || !(fps > 0 && fps <= 1000)) {
                fprintf(stderr, "videollm score: --fps %s: expected a number in (0, 1000]\n", v);
                goto done;
            }
        } else {
            fprintf(stderr, "videollm score: unknown option %s\n", a);
            usage(stderr);
            goto done;
        }
    }
    vlm_eval_baseline b = {0};
    char err[1024];
    if (baseline && vlm_eval_baseline_parse(baseline, &b, err, sizeof err)) {
        fprintf(stderr, "videollm score: --baseline: %s\n", err);
        goto done;
    }
    if (!dir == !n_ev_args) {
        fprintf(stderr, "videollm score: give --dir or --events (not both)\n");
        usage(stderr);
        goto done;
    }
    if (baseline ? n_rep_args != 0 : (n_ev_args && n_rep_args != n_ev_args)) {
        fprintf(stderr, baseline ? "videollm score: --replies does not go with --baseline\n"
                                 : "videollm score: each --events needs its --replies (in the same order)\n");
        goto done;
    }
    if (b.kind == VLM_BASELINE_EVERY ? !text == !text_from : (text || text_from)) {
        fprintf(stderr, b.kind == VLM_BASELINE_EVERY ? "videollm score: --baseline every:K needs --text or --text-from\n"
                                                     : "videollm score: --text and --text-from go with --baseline every:K\n");
        goto done;
    }
    rc = 1;
    if (text_from) {
        if (vlm_narr_most_frequent_reply(text_from, &own_text, &text_count, err, sizeof err)) {
            fprintf(stderr, "videollm score: %s\n", err);
            goto done;
        }
        text = own_text;
        if (!json) printf("baseline text (%zu times in %s): %s\n", text_count, text_from, text);
    }
    if (dir) {
        if (scan_dir(dir, suffix, &sc, &n_sc)) goto done;
    } else {
        if (!(sc = calloc(n_ev_args, sizeof *sc))) {
            fprintf(stderr, "videollm score: out of memory\n");
            goto done;
        }
        n_sc = n_ev_args;
        for (size_t i = 0; i < n_ev_args; i++) {
            sc[i].events = strdup(ev_args[i]);
            sc[i].replies = strdup(baseline ? "" : rep_args[i]);
            const char *base = strrchr(ev_args[i], '/');
            base = base ? base + 1 : ev_args[i];
            size_t l = strlen(base);
            if (l > 12 && !strcmp(base + l - 12, ".events.json")) l -= 12;
            sc[i].name = strndup(base, l);
            if (!sc[i].events || !sc[i].replies || !sc[i].name) {
                fprintf(stderr, "videollm score: out of memory\n");
                goto done;
            }
        }
    }
    json_t *doc = json ? json_object() : NULL, *jscenes = json ? json_array() : NULL;
    vlm_narr_counts total = {0};
    rc = 0;
    for (size_t i = 0; i < n_sc && !rc; i++) {
        vlm_narr_event *ev = NULL;
        vlm_narr_reply *rep = NULL;
        size_t ne = 0, nr = 0;
        double seconds = -1;
        vlm_narr_counts c;
        vlm_status st = vlm_narr_load_events(sc[i].events, &ev, &ne, &seconds, err, sizeof err);
        if (!st && !baseline) {
            st = vlm_narr_load_replies(sc[i].replies, &rep, &nr, err, sizeof err);
        } else if (!st && b.kind == VLM_BASELINE_EVERY) {
            if (seconds < 0) {
                st = VLM_ERR_FORMAT;
                snprintf(err, sizeof err, "%s: no \"seconds\": the baseline needs the clip length", sc[i].events);
            } else {
                st = vlm_narr_baseline_replies(seconds, fps, b.every, text, &rep, &nr, err, sizeof err);
            }
        }
        if (!st) st = vlm_narr_score(ev, ne, rep, nr, window, &c, NULL, err, sizeof err);
        if (st) {
            fprintf(stderr, "videollm score: %s\n", err);
            rc = 1;
        } else {
            vlm_narr_counts_add(&total, &c);
            if (json) {
                json_t *o = counts_json(&c);
                json_object_set_new(o, "scene", json_string(sc[i].name));
                json_object_set_new(o, "events_file", json_string(sc[i].events));
                json_object_set_new(o, "replies_file", baseline ? json_null() : json_string(sc[i].replies));
                json_array_append_new(jscenes, o);
            } else {
                counts_text(sc[i].name, &c, false);
            }
        }
        free(ev);
        vlm_narr_replies_free(rep, nr);
    }
    if (!rc) {
        if (json) {
            json_object_set_new(doc, "window", json_real(window));
            json_object_set_new(doc, "baseline", baseline ? json_string(baseline) : json_null());
            if (b.kind == VLM_BASELINE_EVERY) {
                json_object_set_new(doc, "fps", json_real(fps));
                json_object_set_new(doc, "text", json_string(text));
            }
            json_object_set_new(doc, "scenes", jscenes);
            jscenes = NULL;
            json_object_set_new(doc, "overall", counts_json(&total));
            char *s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENSURE_ASCII);
            if (!s) {
                fprintf(stderr, "videollm score: out of memory\n");
                rc = 1;
            } else {
                printf("%s\n", s);
                free(s);
            }
        } else {
            counts_text(n_sc > 1 ? "overall" : "total", &total, true);
        }
    }
    json_decref(jscenes);
    json_decref(doc);
done:
    free(own_text);
    scenes_free(sc, n_sc);
    free(ev_args);
    free(rep_args);
    return rc;
}
