/* cmd_tokenizer_train.c - `videollm tokenizer-train`: train a byte-level BPE
 * tokenizer.json (Llama-3 shape) on plain text files and JSONL training data.
 * A .jsonl file holds one sample per line ({"conversation": [...]}, see
 * docs/training.md); each conversation is rendered with the live chat template
 * and the rendered text is what gets counted, with <v>, bos and eos cut out as
 * the tokenizer cuts special tokens at encode time. Any other file is one
 * text. See docs/text-pipeline.md, "Training a tokenizer". */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: videollm tokenizer-train --out TOKENIZER_JSON [--vocab-size N] [--min-frequency N]\n"
            "                                [--require STR]... [--no-required] [--special STR]...\n"
            "                                [--cut STR]... [--no-live-tokens] [--bos STR | --no-bos]\n"
            "                                [--live-version v1plus|v1] [--quiet] FILE...\n"
            "\n"
            "Trains a byte-level BPE tokenizer (Hugging Face BpeTrainer rules, Llama-3 pre-tokenizer)\n"
            "and writes a tokenizer.json shaped like Llama-3's.\n"
            "\n"
            "  FILE                a .jsonl file of training samples: each line's \"conversation\" is\n"
            "                      rendered with the live chat template and counted as one text;\n"
            "                      any other file (or - for stdin) is one text as it is\n"
            "  --out PATH          where to write tokenizer.json (required)\n"
            "  --vocab-size N      all ids, special tokens included (default 1024)\n"
            "  --min-frequency N   stop when the most frequent pair is rarer (default 2)\n"
            "  --require STR       a string that must be one token (repeatable; replaces the\n"
            "                      defaults \",\" and \"]\\n\"); must be one Llama-3 pre-token\n"
            "  --no-required       no required strings\n"
            "  --special STR       a special token added after the BPE ids (repeatable; replaces\n"
            "                      the Llama-3 defaults <|begin_of_text|> <|end_of_text|>\n"
            "                      <|start_header_id|> <|end_header_id|> <|eot_id|>)\n"
            "  --cut STR           a string cut out of the texts but not added (repeatable);\n"
            "                      <v> and the template's bos/eos are always cut\n"
            "  --no-live-tokens    do not cut <v>\n"
            "  --bos STR           the post-processor prepends this special token\n"
            "                      (default <|begin_of_text|> when it is a special token)\n"
            "  --no-bos            no TemplateProcessing post-processor\n"
            "  --live-version V    template for .jsonl files: v1plus (default) or v1\n"
            "  --quiet             no progress on stderr\n"
            "\n"
            "STR values understand the escapes \\n \\r \\t \\\\ and \\xHH.\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Decode \n \r \t \\ \xHH in place. Returns 0 on a bad escape or a NUL. */
static int unescape(char *s) {
    char *o = s;
    for (const char *p = s; *p; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case '\\': *o++ = '\\'; break;
        case 'x': {
            int v = 0;
            for (int k = 0; k < 2; k++) {
                char c = p[1];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F'    ? c - 'A' + 10
                                                  : -1;
                if (d < 0) return 0;
                v = v * 16 + d;
                p++;
            }
            if (!v) return 0;
            *o++ = (char)v;
            break;
        }
        default: return 0;
        }
    }
    *o = 0;
    return 1;
}

typedef struct {
    const char **v;
    size_t n, cap;
} strlist;

static int push(strlist *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        const char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return 0;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return 1;
}

static int has(const strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return 1;
    return 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

typedef struct {
    int quiet;
    double t0, last;
} progress_state;

static void on_progress(void *user, int64_t done, int64_t planned) {
    progress_state *ps = user;
    double t = now_s();
    if (ps->quiet || t - ps->last < 1.0) return;
    ps->last = t;
    fprintf(stderr, "tokenizer-train: merges %lld/%lld (%.1f s)\n", (long long)done, (long long)planned, t - ps->t0);
}

/* Read a whole file (or stdin for "-"). NULL with a message on failure. */
static char *read_all(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "videollm tokenizer-train: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = cap < ((size_t)-1) / 2 ? realloc(buf, cap * 2) : NULL;
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || bad) {
        fprintf(stderr, "videollm tokenizer-train: %s: %s\n", path, buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Count one .jsonl file. Returns 0 on success. */
static int add_jsonl(vlm_bpe_trainer *tr, const char *path, const vlm_template_params *tp, progress_state *ps) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "videollm tokenizer-train: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char *line = NULL, err[512];
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    while (!rc && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)got, k = 0;
        while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == '\n')) k++;
        if (k == n) continue;
        json_error_t je;
        json_t *root = json_loadb(line, n, JSON_ALLOW_NUL, &je);
        if (!root) {
            fprintf(stderr, "videollm tokenizer-train: %s:%ld: not valid JSON: %s (column %d)\n", path, lineno, je.text,
                    je.column);
            rc = 1;
            break;
        }
        json_t *conv = json_is_object(root) ? json_object_get(root, "conversation") : NULL;
        if (!conv || !json_is_array(conv)) {
            fprintf(stderr, "videollm tokenizer-train: %s:%ld: expected an object with a \"conversation\" array\n", path,
                    lineno);
            json_decref(root);
            rc = 1;
            break;
        }
        char *cj = json_dumps(conv, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(root);
        vlm_conversation *c = NULL;
        char *text = NULL;
        size_t tl = 0;
        vlm_status st = cj ? vlm_conversation_parse(cj, strlen(cj), &c, err, sizeof err) : VLM_ERR_OOM;
        if (!cj) snprintf(err, sizeof err, "out of memory");
        if (!st)
            st = vlm_template_render(vlm_conversation_messages(c), vlm_conversation_size(c), tp, &text, &tl, err,
                                     sizeof err);
        free(cj);
        vlm_conversation_free(c);
        if (!st && vlm_bpe_trainer_add_text(tr, text, tl)) {
            snprintf(err, sizeof err, "%s", vlm_bpe_trainer_last_error(tr));
            st = VLM_ERR_INVALID_ARG;
        }
        free(text);
        if (st) {
            fprintf(stderr, "videollm tokenizer-train: %s:%ld: %s\n", path, lineno, err);
            rc = 1;
        }
        if (!ps->quiet && (lineno & 1023) == 0 && now_s() - ps->last >= 2.0) {
            ps->last = now_s();
            fprintf(stderr, "tokenizer-train: %s: %ld lines (%.1f s)\n", path, lineno, ps->last - ps->t0);
        }
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "videollm tokenizer-train: %s: read error\n", path);
        rc = 1;
    }
    free(line);
    fclose(f);
    return rc;
}

int cmd_tokenizer_train(int argc, char **argv) {
    const char *out = NULL, *bos = NULL;
    int no_bos = 0, no_required = 0, live = 1, quiet = 0;
    vlm_live_version lv = VLM_LIVE_V1PLUS;
    vlm_bpe_train_params p = vlm_bpe_train_default_params();
    strlist req = {0}, spec = {0}, cuts = {0}, files = {0};
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto done;
        }
        if (!strcmp(a, "--no-required")) no_required = 1;
        else if (!strcmp(a, "--no-live-tokens")) live = 0;
        else if (!strcmp(a, "--no-bos")) no_bos = 1;
        else if (!strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "--out") || !strcmp(a, "--vocab-size") || !strcmp(a, "--min-frequency") ||
                 !strcmp(a, "--require") || !strcmp(a, "--special") || !strcmp(a, "--cut") || !strcmp(a, "--bos") ||
                 !strcmp(a, "--live-version")) {
            if (++i >= argc) {
                fprintf(stderr, "videollm tokenizer-train: %s needs a value\n", a);
                goto done;
            }
            char *v = argv[i];
            if (!strcmp(a, "--out")) out = v;
            else if (!strcmp(a, "--vocab-size") || !strcmp(a, "--min-frequency")) {
                char *end;
                errno = 0;
                long long x = strtoll(v, &end, 10);
                if (!*v || *end || errno || x < 0) {
                    fprintf(stderr, "videollm tokenizer-train: bad value for %s: '%s'\n", a, v);
                    goto done;
                }
                if (!strcmp(a, "--vocab-size")) p.vocab_size = x;
                else p.min_frequency = x;
            } else if (!strcmp(a, "--live-version")) {
                if (!strcmp(v, "v1plus")) lv = VLM_LIVE_V1PLUS;
                else if (!strcmp(v, "v1")) lv = VLM_LIVE_V1;
                else {
                    fprintf(stderr, "videollm tokenizer-train: --live-version must be v1plus or v1, not '%s'\n", v);
                    goto done;
                }
            } else {
                if (!unescape(v)) {
                    fprintf(stderr, "videollm tokenizer-train: %s '%s': bad escape (\\n \\r \\t \\\\ \\xHH, no NUL)\n", a,
                            argv[i]);
                    goto done;
                }
                strlist *l = !strcmp(a, "--require") ? &req : !strcmp(a, "--special") ? &spec : !strcmp(a, "--cut") ? &cuts : NULL;
                if (l ? !push(l, v) : (bos = v, 0)) {
                    fprintf(stderr, "videollm tokenizer-train: out of memory\n");
                    rc = 1;
                    goto done;
                }
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "videollm tokenizer-train: unknown option '%s'\n\n", a);
            usage(stderr);
            goto done;
        } else if (!push(&files, a)) {
            fprintf(stderr, "videollm tokenizer-train: out of memory\n");
            rc = 1;
            goto done;
        }
    }
    if (!out || !files.n) {
        fprintf(stderr, "videollm tokenizer-train: %s\n\n", !out ? "--out is required" : "no input files");
        usage(stderr);
        goto done;
    }
    vlm_template_params tp = vlm_template_default_params();
    tp.live_version = lv;
    if (no_required) p.n_required = 0;
    else if (req.n) {
        p.required = req.v;
        p.n_required = req.n;
    }
    if (spec.n) {
        p.specials = spec.v;
        p.n_specials = spec.n;
    }
    /* bos: the explicit one, else <|begin_of_text|> if it is special */
    p.bos_token = NULL;
    if (!no_bos) {
        if (bos) p.bos_token = bos;
        else
            for (size_t i = 0; i < p.n_specials; i++)
                if (!strcmp(p.specials[i], "<|begin_of_text|>")) p.bos_token = p.specials[i];
    }
    /* cut: --cut values, <v>, and the template's bos/eos unless they are special */
    const char *always[3] = {live ? "<v>" : NULL, tp.bos_token, tp.eos_token};
    for (int k = 0; k < 3; k++) {
        int is_special = 0;
        for (size_t i = 0; always[k] && i < p.n_specials; i++) is_special |= !strcmp(p.specials[i], always[k]);
        if (always[k] && !is_special && !has(&cuts, always[k]) && !push(&cuts, always[k])) {
            fprintf(stderr, "videollm tokenizer-train: out of memory\n");
            rc = 1;
            goto done;
        }
    }
    p.cut_tokens = cuts.v;
    p.n_cut_tokens = cuts.n;
    progress_state ps = {quiet, now_s(), now_s()};
    p.progress = on_progress;
    p.progress_user = &ps;

    char err[512];
    vlm_bpe_trainer *tr;
    rc = 1;
    if (vlm_bpe_trainer_new(&p, &tr, err, sizeof err)) {
        fprintf(stderr, "videollm tokenizer-train: %s\n", err);
        goto done;
    }
    for (size_t i = 0; i < files.n; i++) {
        const char *f = files.v[i];
        double t = now_s();
        vlm_bpe_train_stats s0, s1;
        vlm_bpe_trainer_stats(tr, &s0);
        if (ends_with(f, ".jsonl")) {
            if (add_jsonl(tr, f, &tp, &ps)) goto fail;
        } else {
            size_t len;
            char *text = read_all(f, &len);
            if (!text) goto fail;
            vlm_status st = vlm_bpe_trainer_add_text(tr, text, len);
            free(text);
            if (st) {
                fprintf(stderr, "videollm tokenizer-train: %s: %s\n", f, vlm_bpe_trainer_last_error(tr));
                goto fail;
            }
        }
        vlm_bpe_trainer_stats(tr, &s1);
        if (!quiet)
            fprintf(stderr, "tokenizer-train: %s: %lld texts, %.2f MB, %lld pre-tokens (%.2f s)\n", f,
                    (long long)(s1.n_texts - s0.n_texts), (double)(s1.n_bytes - s0.n_bytes) / 1e6,
                    (long long)(s1.n_pretokens - s0.n_pretokens), now_s() - t);
    }
    double t_train = now_s();
    ps.last = t_train; /* merge progress only when the merges take a while */
    char *json;
    size_t jl;
    if (vlm_bpe_trainer_finish(tr, &json, &jl)) {
        fprintf(stderr, "videollm tokenizer-train: %s\n", vlm_bpe_trainer_last_error(tr));
        goto fail;
    }
    t_train = now_s() - t_train;
    FILE *fo = fopen(out, "wb");
    int werr = !fo || fwrite(json, 1, jl, fo) != jl;
    if (fo && fclose(fo)) werr = 1;
    free(json);
    if (werr) {
        fprintf(stderr, "videollm tokenizer-train: cannot write %s: %s\n", out, strerror(errno));
        goto fail;
    }
    vlm_bpe_train_stats s;
    vlm_bpe_trainer_stats(tr, &s);
    if (!quiet)
        fprintf(stderr,
                "tokenizer-train: %lld texts, %.2f MB, %lld distinct pre-tokens; %lld merges (%lld forced, last "
                "frequency %lld); %lld BPE ids + %zu special -> %s (%.2f s total, merges %.2f s)\n",
                (long long)s.n_texts, (double)s.n_bytes / 1e6, (long long)s.n_words, (long long)s.n_merges,
                (long long)s.n_forced, (long long)s.last_count, (long long)s.n_bpe_vocab, p.n_specials, out,
                now_s() - ps.t0, t_train);
    rc = 0;
fail:
    vlm_bpe_trainer_free(tr);
done:
    free(req.v);
    free(spec.v);
    free(cuts.v);
    free(files.v);
    return rc;
}
