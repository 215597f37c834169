/* videollm.c - the command-line program: dispatches to subcommands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"tokenize", cmd_tokenize, "encode text with a tokenizer.json, print ids and offsets"},
    {"template", cmd_template, "render a JSON conversation with the live chat template"},
    {"labels", cmd_labels, "JSONL conversations -> text, learn ranges, input ids, labels"},
    {"stream", cmd_stream, "watch a video (file, camera, pipe) and speak at the right moments"},
    {"frames", cmd_frames, "decode a video as the stream sees it (sampled, letterboxed RGB24)"},
    {"convert", cmd_convert, "Hugging Face Llama + SigLIP + PEFT folders -> the GGUF model pair"},
    {"init", cmd_init, "a freshly initialised, seeded model in the Hugging Face layouts (and GGUF)"},
    {"calibrate", cmd_calibrate, "standardise a frozen vision tower's frame tokens on synthetic frames"},
    {"hidden", cmd_hidden, "a model's hidden states on a data file, for probes"},
    {"eval", cmd_eval, "streaming metrics (LM-PPL, LM-Correctness, TimeDiff, Fluency) on a data file"},
    {"train", cmd_train, "train LoRA + connector with the LIVE objective on JSONL samples with frame features"},
    {"synth", cmd_synth, "procedural clips (video + events) and narration training data"},
    {"score", cmd_score, "narration score: replies against synthetic events (object, action, within 1 s)"},
    {"encode", cmd_encode, "video -> vision features (safetensors) for train and eval"},
    {"prepare", cmd_prepare, "Ego4D narration / GoalStep dialogue annotations -> JSONL training samples"},
    {"tokenizer-train", cmd_tokenizer_train, "train a byte-level BPE tokenizer.json (Llama-3 shape) on text/JSONL"},
    {"bench-tokenizer", cmd_bench_tokenizer, "tokenizer throughput on a corpus"},
    {"bench-ops", cmd_bench_ops, "compute kernel throughput at the model shapes, NumPy as peer"},
};

static void usage(FILE *f) {
    fprintf(f, "videollm %s - VideoLLM-online in C\n\nusage: videollm <command> [options]\n\ncommands:\n",
            VLM_VERSION_STRING);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'videollm <command> --help' shows the options of a command.\n");
}

char *cli_read_input(const char *path, size_t *len) {
    if (!path || strcmp(path, "-") == 0) {
        size_t cap = 1 << 16, n = 0;
        char *buf = malloc(cap + 1);
        while (buf) {
            n += fread(buf + n, 1, cap - n, stdin);
            if (n < cap) break;
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
        if (!buf) { fprintf(stderr, "videollm: out of memory reading stdin\n"); return NULL; }
        if (ferror(stdin)) { fprintf(stderr, "videollm: error reading stdin\n"); free(buf); return NULL; }
        buf[n] = 0;
        *len = n;
        return buf;
    }
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return NULL; }
    fclose(f);
    FILE *in = freopen(path, "rb", stdin);
    if (!in) { perror(path); return NULL; }
    return cli_read_input(NULL, len);
}

int cli_parse_range(const char *cmd, const char *opt, const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "videollm %s: %s needs an integer in [%ld, %ld], not '%s'\n", cmd, opt, min, max, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_real(const char *cmd, const char *opt, const char *s, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "videollm %s: %s needs a number in [%g, %g], not '%s'\n", cmd, opt, min, max, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_count(const char *cmd, const char *opt, const char *s, long max, long *out) {
    return cli_parse_range(cmd, opt, s, 1, max, out);
}

const char *cli_default_model(void) {
    static char path[4096];
    const char *env = getenv("VLM_MODEL");
    if (env && *env) return env;
    if (!path[0]) {
        char exe[4000];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = 0;
            char *slash = strrchr(exe, '/');
            if (slash) *slash = 0;
            snprintf(path, sizeof path, "%s/../models/default/videollm-demo.gguf", exe);
        } else {
            snprintf(path, sizeof path, "models/default/videollm-demo.gguf");
        }
    }
    return path;
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "--version")) { printf("videollm %s\n", VLM_VERSION_STRING); return 0; }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "videollm: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
