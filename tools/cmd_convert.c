/* cmd_convert.c - `videollm convert`: Hugging Face Llama + SigLIP + PEFT
 * folders -> the GGUF model pair (docs/model-format.md). Progress goes to
 * stderr: a bar when stderr is a terminal, plain lines otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static int usage(FILE *f) {
    fprintf(f,
            "usage: videollm convert --llm DIR --vision DIR [--adapter DIR] --out PATH\n"
            "                        [--type f32|f16|bf16|q8_0|q4_0] [--live-version live1+|live1]\n"
            "                        [--name NAME] [--quiet]\n"
            "  --llm DIR       Hugging Face Llama folder (config.json, tokenizer.json, tokenizer_config.json,\n"
            "                  model.safetensors or model.safetensors.index.json + shards)\n"
            "  --vision DIR    Hugging Face SigLIP folder (e.g. google/siglip-large-patch16-384)\n"
            "  --adapter DIR   PEFT folder of the VideoLLM-online checkpoint (LoRA + connector)\n"
            "  --out PATH      the LM file; the vision file is written beside it as\n"
            "                  PATH with .gguf replaced by .vision.gguf\n"
            "  --type T        type of the weight matrices (default f16); norms and biases stay f32\n"
            "  --live-version  live1+ (default: 10 tokens per frame, ',' between frames) or live1\n"
            "  --quiet         no progress output\n");
    return f == stdout ? 0 : 2;
}

typedef struct {
    int tty, quiet;
    double t0;
    int last_pct;
} progress_state;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fmt_bytes(char *b, size_t n, double v) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (v >= 1024 && i < 4) v /= 1024, i++;
    snprintf(b, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void on_progress(const vlm_convert_progress *p, void *ud) {
    progress_state *s = ud;
    if (s->quiet) return;
    char done[32], total[32];
    fmt_bytes(done, sizeof done, (double)p->bytes_done);
    fmt_bytes(total, sizeof total, (double)p->bytes_total);
    if (!p->tensor) {
        fprintf(stderr, "convert: %zu tensors, %s of tensor data\n", p->tensors_total, total);
        return;
    }
    if (s->tty) {
        int width = 30;
        double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : 1.0;
        int fill = (int)(frac * width + 0.5);
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : ' ';
        bar[width] = 0;
        fprintf(stderr, "\r[%s] %3d%% %zu/%zu tensors %s / %s  %-28.28s", bar, (int)(frac * 100), p->tensors_done,
                p->tensors_total, done, total, p->tensor);
        if (p->tensors_done == p->tensors_total) fputc('\n', stderr);
    } else { /* a line per 5% of the data (and the last tensor) keeps logs short */
        int pct = p->bytes_total ? (int)(100.0 * (double)p->bytes_done / (double)p->bytes_total) : 100;
        if (pct / 5 == s->last_pct / 5 && p->tensors_done != p->tensors_total) return;
        s->last_pct = pct;
        fprintf(stderr, "convert: %3d%% %zu/%zu tensors, %s / %s (%s)\n", pct, p->tensors_done, p->tensors_total,
                done, total, p->tensor);
    }
    fflush(stderr);
}

static void on_note(const char *msg, void *ud) {
    progress_state *s = ud;
    if (s->quiet) return;
    if (s->tty) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "convert: note: %s\n", msg);
}

static int parse_type(const char *s, vlm_weight_type *t) {
    static const struct {
        const char *name;
        vlm_weight_type t;
    } types[] = {{"f32", VLM_WTYPE_F32},   {"f16", VLM_WTYPE_F16},   {"bf16", VLM_WTYPE_BF16},
                 {"q8_0", VLM_WTYPE_Q8_0}, {"q4_0", VLM_WTYPE_Q4_0}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(s, types[i].name)) {
            *t = types[i].t;
            return 1;
        }
    return 0;
}

int cmd_convert(int argc, char **argv) {
    vlm_convert_params p = vlm_convert_default_params();
    progress_state ps = {.tty = isatty(2), .t0 = now_s(), .last_pct = -5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) { ps.quiet = 1; continue; }
        if (!val) { fprintf(stderr, "videollm convert: %s needs a value\n", a); return usage(stderr); }
        i++;
        if (!strcmp(a, "--llm")) p.llm_dir = val;
        else if (!strcmp(a, "--vision")) p.vision_dir = val;
        else if (!strcmp(a, "--adapter")) p.adapter_dir = val;
        else if (!strcmp(a, "--out")) p.out_path = val;
        else if (!strcmp(a, "--name")) p.name = val;
        else if (!strcmp(a, "--type")) {
            if (!parse_type(val, &p.type)) {
                fprintf(stderr, "videollm convert: unknown --type '%s' (f32, f16, bf16, q8_0, q4_0)\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--live-version")) {
            if (!strcmp(val, "live1+")) p.live_version = VLM_LIVE_V1PLUS;
            else if (!strcmp(val, "live1")) p.live_version = VLM_LIVE_V1;
            else { fprintf(stderr, "videollm convert: unknown --live-version '%s' (live1+, live1)\n", val); return 2; }
        } else {
            fprintf(stderr, "videollm convert: unknown option '%s'\n", a);
            return usage(stderr);
        }
    }
    if (!p.llm_dir || !p.vision_dir || !p.out_path) {
        fprintf(stderr, "videollm convert: --llm, --vision and --out are required\n");
        return usage(stderr);
    }
    p.progress = on_progress;
    p.note = on_note;
    p.user_data = &ps;
    char err[1024];
    vlm_status st = vlm_convert(&p, err, sizeof err);
    if (st != VLM_OK) {
        if (ps.tty && !ps.quiet) fputc('\n', stderr);
        fprintf(stderr, "videollm convert: %s: %s\n", vlm_status_str(st), err);
        return 1;
    }
    char *vp = vlm_convert_vision_path(p.out_path);
    if (!ps.quiet) fprintf(stderr, "convert: wrote %s and %s in %.1f s\n", p.out_path, vp ? vp : "?", now_s() - ps.t0);
    free(vp);
    return 0;
}
