/* cmd_tokenize.c - `videollm tokenize` (text -> ids and offsets as JSON) and
 * `videollm bench-tokenizer` (single-thread encode throughput on a corpus). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void tokenize_usage(FILE *f) {
    fprintf(f,
            "usage: videollm tokenize --tokenizer TOKENIZER_JSON [--offsets] [--no-live-tokens] [FILE]\n"
            "\n"
            "Encodes the whole of FILE (or stdin) as one text, without bos/eos, and prints\n"
            "  {\"ids\": [...]}                          or, with --offsets,\n"
            "  {\"ids\": [...], \"offsets\": [[s,e],...]}  (Unicode code points, end exclusive)\n"
            "\n"
            "  --tokenizer PATH    Hugging Face tokenizer.json (byte-level BPE, e.g. Llama-3)\n"
            "  --offsets           also print each token's code-point range\n"
            "  --no-live-tokens    do not add VideoLLM-online's frame token <v> as a special token\n"
            "                      (by default it is added, as the live tokenizer always has it)\n");
}

/* Buffered writer for large outputs. */
typedef struct {
    char buf[1 << 16];
    size_t n;
    FILE *f;
} outbuf;

static void ob_flush(outbuf *o) {
    fwrite(o->buf, 1, o->n, o->f);
    o->n = 0;
}

static void ob_puts(outbuf *o, const char *s) {
    size_t l = strlen(s);
    if (o->n + l > sizeof o->buf) ob_flush(o);
    memcpy(o->buf + o->n, s, l);
    o->n += l;
}

static void ob_int(outbuf *o, long v) {
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%ld", v);
    ob_puts(o, tmp);
}

int cmd_tokenize(int argc, char **argv) {
    const char *tok_path = NULL, *file = NULL;
    int offsets = 0, live = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            tokenize_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--tokenizer")) {
            if (++i >= argc) {
                fprintf(stderr, "videollm tokenize: --tokenizer needs a path\n");
                return 2;
            }
            tok_path = argv[i];
        } else if (!strcmp(argv[i], "--offsets")) {
            offsets = 1;
        } else if (!strcmp(argv[i], "--no-live-tokens")) {
            live = 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "videollm tokenize: unknown option '%s'\n\n", argv[i]);
            tokenize_usage(stderr);
            return 2;
        } else if (!file) {
            file = argv[i];
        } else {
            fprintf(stderr, "videollm tokenize: only one input file may be given\n");
            return 2;
        }
    }
    if (!tok_path) {
        fprintf(stderr, "videollm tokenize: --tokenizer is required\n\n");
        tokenize_usage(stderr);
        return 2;
    }
    char err[512];
    vlm_tokenizer *tok;
    if (vlm_tokenizer_load(tok_path, &tok, err, sizeof err) != VLM_OK) {
        fprintf(stderr, "videollm tokenize: %s\n", err);
        return 1;
    }
    if (live && vlm_tokenizer_add_special(tok, "<v>", NULL) != VLM_OK) {
        fprintf(stderr, "videollm tokenize: %s\n", vlm_tokenizer_last_error(tok));
        vlm_tokenizer_free(tok);
        return 1;
    }
    size_t len;
    char *text = cli_read_input(file, &len);
    if (!text) {
        vlm_tokenizer_free(tok);
        return 1;
    }
    vlm_tokens t = {0};
    vlm_status st = vlm_tokenizer_encode(tok, text, len, &t);
    if (st != VLM_OK) {
        fprintf(stderr, "videollm tokenize: %s: %s\n", file ? file : "stdin", vlm_tokenizer_last_error(tok));
        free(text);
        vlm_tokens_free(&t);
        vlm_tokenizer_free(tok);
        return 1;
    }
    static outbuf o;
    o.n = 0;
    o.f = stdout;
    ob_puts(&o, "{\"ids\": [");
    for (size_t i = 0; i < t.n; i++) {
        if (i) ob_puts(&o, ", ");
        ob_int(&o, t.ids[i]);
    }
    ob_puts(&o, "]");
    if (offsets) {
        ob_puts(&o, ", \"offsets\": [");
        for (size_t i = 0; i < t.n; i++) {
            ob_puts(&o, i ? ", [" : "[");
            ob_int(&o, t.offsets[2 * i]);
            ob_puts(&o, ", ");
            ob_int(&o, t.offsets[2 * i + 1]);
            ob_puts(&o, "]");
        }
        ob_puts(&o, "]");
    }
    ob_puts(&o, "}\n");
    ob_flush(&o);
    int rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
    if (rc) fprintf(stderr, "videollm tokenize: error writing output\n");
    free(text);
    vlm_tokens_free(&t);
    vlm_tokenizer_free(tok);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* bench-tokenizer                                                            */
/* ------------------------------------------------------------------------- */
static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: videollm bench-tokenizer --tokenizer TOKENIZER_JSON --corpus FILE [--repeat N] [--chunk BYTES]\n"
            "\n"
            "Single-thread encode throughput. The corpus is read before timing and cut\n"
            "into chunks at line ends (a chunk ends at the first newline at or after BYTES\n"
            "bytes; default 4096; 0 = the whole file as one text); each chunk is one encode\n"
            "call. Only the encode calls are timed (best of N repeats, default 3).\n"
            "Prints one JSON line: bytes, chunks, tokens, seconds, mb_per_s, tokens_per_s,\n"
            "load_seconds (time to load the tokenizer, not part of the throughput).\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cmd_bench_tokenizer(int argc, char **argv) {
    const char *tok_path = NULL, *corpus = NULL;
    long repeat = 3, chunk = 4096;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            bench_usage(stdout);
            return 0;
        }
        const char *a = argv[i];
        if (!strcmp(a, "--tokenizer") || !strcmp(a, "--corpus") || !strcmp(a, "--repeat") || !strcmp(a, "--chunk")) {
            if (++i >= argc) {
                fprintf(stderr, "videollm bench-tokenizer: %s needs a value\n", a);
                return 2;
            }
            if (!strcmp(a, "--tokenizer")) tok_path = argv[i];
            else if (!strcmp(a, "--corpus")) corpus = argv[i];
            else {
                char *end;
                long v = strtol(argv[i], &end, 10);
                if (*end || v < 0 || v > 1000000000L || (!strcmp(a, "--repeat") && v < 1)) {
                    fprintf(stderr, "videollm bench-tokenizer: bad value for %s: '%s'\n", a, argv[i]);
                    return 2;
                }
                if (!strcmp(a, "--repeat")) repeat = v;
                else chunk = v;
            }
        } else {
            fprintf(stderr, "videollm bench-tokenizer: unknown argument '%s'\n\n", a);
            bench_usage(stderr);
            return 2;
        }
    }
    if (!tok_path || !corpus) {
        fprintf(stderr, "videollm bench-tokenizer: --tokenizer and --corpus are required\n\n");
        bench_usage(stderr);
        return 2;
    }
    char err[512];
    vlm_tokenizer *tok;
    double t_load = now_s();
    if (vlm_tokenizer_load(tok_path, &tok, err, sizeof err) != VLM_OK) {
        fprintf(stderr, "videollm bench-tokenizer: %s\n", err);
        return 1;
    }
    t_load = now_s() - t_load;
    size_t len;
    char *text = cli_read_input(corpus, &len);
    if (!text) {
        vlm_tokenizer_free(tok);
        return 1;
    }
    /* chunk boundaries: after the first '\n' at or beyond `chunk` bytes */
    size_t n_chunks = 0, cap = 0, *bounds = NULL;
    for (size_t p = 0; p < len;) {
        size_t q = len;
        if (chunk > 0 && (size_t)chunk < len - p) {
            const char *nl = memchr(text + p + chunk - 1, '\n', len - p - (size_t)chunk + 1);
            q = nl ? (size_t)(nl - text) + 1 : len;
        }
        if (n_chunks + 2 > cap) {
            cap = cap ? cap * 2 : 1024;
            size_t *nb = realloc(bounds, cap * sizeof *nb);
            if (!nb) {
                fprintf(stderr, "videollm bench-tokenizer: out of memory\n");
                free(bounds);
                free(text);
                vlm_tokenizer_free(tok);
                return 1;
            }
            bounds = nb;
        }
        bounds[n_chunks++] = p;
        p = q;
    }
    if (bounds) bounds[n_chunks] = len;
    vlm_tokens t = {0};
    double best = 1e30;
    size_t n_tokens = 0;
    int rc = 0;
    for (long r = 0; r < repeat && !rc; r++) {
        size_t nt = 0;
        double t0 = now_s();
        for (size_t c = 0; c < n_chunks; c++) {
            if (vlm_tokenizer_encode(tok, text + bounds[c], bounds[c + 1] - bounds[c], &t) != VLM_OK) {
                fprintf(stderr, "videollm bench-tokenizer: %s\n", vlm_tokenizer_last_error(tok));
                rc = 1;
                break;
            }
            nt += t.n;
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
        n_tokens = nt;
    }
    if (!rc) {
        if (best <= 0) best = 1e-9;
        printf("{\"bytes\": %zu, \"chunks\": %zu, \"tokens\": %zu, \"seconds\": %.6f, \"mb_per_s\": %.3f, "
               "\"tokens_per_s\": %.0f, \"load_seconds\": %.3f}\n",
               len, n_chunks, n_tokens, best, (double)len / best / 1e6, (double)n_tokens / best, t_load);
    }
    vlm_tokens_free(&t);
    free(bounds);
    free(text);
    vlm_tokenizer_free(tok);
    return rc;
}
