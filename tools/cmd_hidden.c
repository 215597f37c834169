/* cmd_hidden.c - `videollm hidden`: the hidden states of a model on a data
 * file (vlm_eval_hidden_file), written to one binary file for probes
 * (tests/ref/hidden_probe.py; docs/demo-model.md uses them). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int usage(FILE *f) {
    fprintf(f,
            "usage: videollm hidden [--model PATH] --data data.jsonl --out states.bin [--samples N] [--threads N]\n"
            "Runs every sample of a data file (the `videollm eval` format) once, teacher-forced, through the\n"
            "LM and writes, per sample, little-endian: int32 n_tokens, int32 n_states (n_layer + 1), int32\n"
            "n_embd, int32 ids[n_tokens] (<v> at frame positions), int32 argmax[n_tokens] (the model's most\n"
            "likely next token), float32 hidden[n_states][n_tokens][n_embd] (the input embeddings, then each\n"
            "layer's output). --samples N: the first N samples only (default all). The file is written to\n"
            "OUT.tmp and renamed when complete. --model defaults to %s.\n",
            cli_default_model());
    return f == stdout ? 0 : 2;
}

typedef struct {
    FILE *f;
    size_t samples, positions;
} writer;

static vlm_status write_sample(void *ud, const vlm_hidden_sample *s) {
    writer *w = ud;
    int32_t head[3] = {(int32_t)s->n_tokens, s->n_states, s->n_embd};
    size_t nh = (size_t)s->n_states * s->n_tokens * (size_t)s->n_embd;
    if (fwrite(head, sizeof head, 1, w->f) != 1 || fwrite(s->ids, sizeof *s->ids, s->n_tokens, w->f) != s->n_tokens ||
        fwrite(s->argmax, sizeof *s->argmax, s->n_tokens, w->f) != s->n_tokens ||
        fwrite(s->hidden, sizeof *s->hidden, nh, w->f) != nh)
        return VLM_ERR_IO;
    w->samples++, w->positions += s->n_tokens;
    if (w->samples % 10 == 0) fprintf(stderr, "\rhidden: %zu samples", w->samples);
    return VLM_OK;
}

int cmd_hidden(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *out = NULL;
    long samples = 0, threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout);
        if (!v) { fprintf(stderr, "videollm hidden: %s needs a value (or is unknown)\n", a); return usage(stderr); }
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--samples")) { if (!cli_parse_count("hidden", a, v, 1L << 30, &samples)) return 2; }
        else if (!strcmp(a, "--threads")) { if (!cli_parse_count("hidden", a, v, 256, &threads)) return 2; }
        else { fprintf(stderr, "videollm hidden: unknown option %s\n", a); return usage(stderr); }
    }
    if (!data || !out) { fprintf(stderr, "videollm hidden: --data and --out are required\n"); return usage(stderr); }
    if (!model) model = cli_default_model();
    char err[1024];
    vlm_model *m = NULL;
    vlm_model_params mp = vlm_model_default_params();
    if (vlm_model_load(model, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "videollm hidden: %s\n", err);
        return 1;
    }
    size_t tl = strlen(out) + 5;
    char *tmp = malloc(tl);
    if (!tmp) { vlm_model_free(m); fprintf(stderr, "videollm hidden: out of memory\n"); return 1; }
    snprintf(tmp, tl, "%s.tmp", out);
    writer w = {.f = fopen(tmp, "wb")};
    vlm_status st = VLM_OK;
    if (!w.f) {
        fprintf(stderr, "videollm hidden: cannot write %s: %s\n", tmp, strerror(errno));
        st = VLM_ERR_IO;
    } else {
        st = vlm_eval_hidden_file(m, data, (size_t)samples, (int32_t)threads, write_sample, &w, err, sizeof err);
        if (w.samples >= 10) fprintf(stderr, "\n");
        if (fclose(w.f) && !st) {
            snprintf(err, sizeof err, "writing %s: %s", tmp, strerror(errno));
            st = VLM_ERR_IO;
        }
        if (st) fprintf(stderr, "videollm hidden: %s\n", err);
        if (!st && rename(tmp, out)) {
            fprintf(stderr, "videollm hidden: cannot rename %s to %s: %s\n", tmp, out, strerror(errno));
            st = VLM_ERR_IO;
        }
        if (st) remove(tmp);
        else fprintf(stderr, "hidden: %zu samples, %zu positions -> %s\n", w.samples, w.positions, out);
    }
    free(tmp);
    vlm_model_free(m);
    return st ? 1 : 0;
}
