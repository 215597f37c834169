/* cmd_init.c - `videollm init`: a freshly initialised, seeded VideoLLM-online
 * in the Hugging Face folder layouts (llm/, vision/, adapter/), optionally
 * converted to the GGUF pair (docs/model-format.md, "A fresh model"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int usage(FILE *f) {
    vlm_init_params d = vlm_init_default_params();
    fprintf(f,
            "usage: videollm init --tokenizer tokenizer.json --out DIR [--seed N]\n"
            "                     [--hidden N --layers N --heads N --kv-heads N --ffn N --rope-theta X --max-pos N\n"
            "                      --rms-eps X --init-std X]\n"
            "                     [--v-hidden N --v-layers N --v-heads N --v-ffn N --patch N --image N --v-eps X]\n"
            "                     [--v-patch-basis N --v-residual-scale X]\n"
            "                     [--frame-tokens 10|1] [--connector-init hf|torch]\n"
            "                     [--gguf OUT.gguf [--type f32|f16|bf16|q8_0|q4_0]] [--quiet]\n"
            "  --tokenizer F    byte-level BPE tokenizer.json with <|begin_of_text|>, <|eot_id|> and ','\n"
            "                   (vocab_size = its size, added tokens included)\n"
            "  --out DIR        writes DIR/llm, DIR/vision, DIR/adapter (DIR must not exist or be empty)\n"
            "  --seed N         random seed (default %llu); the same seed gives byte-identical files\n"
            "  language model   --hidden %d --layers %d --heads %d --kv-heads %d --ffn %d --rope-theta %g\n"
            "                   --max-pos %d --rms-eps %g --init-std %g (initializer_range)\n"
            "  vision tower     --v-hidden %d --v-layers %d --v-heads %d --v-ffn %d --patch %d --image %d --v-eps %g\n"
            "  --v-patch-basis N  smooth patch filters: random combinations of the N x N lowest cosine\n"
            "                   basis functions (default 0: transformers' lecun_normal_)\n"
            "  --v-residual-scale X  scales the init of each vision layer's out_proj and fc2 (default 1)\n"
            "  --frame-tokens   10 (live1+: CLS + 3x3 pooled, default) or 1 (live1)\n"
            "  --connector-init hf (normal(0, init-std), zero bias; default) or torch (nn.Linear's uniform)\n"
            "  --gguf PATH      also convert: PATH and PATH's .vision.gguf (weights --type, default f32)\n",
            (unsigned long long)d.seed, d.n_embd, d.n_layer, d.n_head, d.n_head_kv, d.n_ff, d.rope_theta, d.max_pos,
            d.rms_eps, d.init_std, d.v_n_embd, d.v_n_layer, d.v_n_head, d.v_n_ff, d.v_patch, d.v_image, d.v_eps);
    return f == stdout ? 0 : 2;
}

static int parse_i32(const char *opt, const char *s, int32_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > INT32_MAX) {
        fprintf(stderr, "videollm init: %s needs a non-negative integer, not '%s'\n", opt, s);
        return 0;
    }
    *out = (int32_t)v;
    return 1;
}

static int parse_f64(const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "videollm init: %s needs a number, not '%s'\n", opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cmd_init(int argc, char **argv) {
    vlm_init_params p = vlm_init_default_params();
    int quiet = 0;
    const struct {
        const char *opt;
        int32_t *dst;
    } ints[] = {
        {"--hidden", &p.n_embd},     {"--layers", &p.n_layer},     {"--heads", &p.n_head},
        {"--kv-heads", &p.n_head_kv}, {"--ffn", &p.n_ff},           {"--max-pos", &p.max_pos},
        {"--v-hidden", &p.v_n_embd}, {"--v-layers", &p.v_n_layer}, {"--v-heads", &p.v_n_head},
        {"--v-ffn", &p.v_n_ff},      {"--patch", &p.v_patch},      {"--image", &p.v_image},
        {"--frame-tokens", &p.frame_tokens}, {"--v-patch-basis", &p.v_patch_basis},
    };
    const struct {
        const char *opt;
        double *dst;
    } reals[] = {
        {"--rope-theta", &p.rope_theta}, {"--rms-eps", &p.rms_eps}, {"--init-std", &p.init_std}, {"--v-eps", &p.v_eps},
        {"--v-residual-scale", &p.v_residual_scale},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) { quiet = 1; continue; }
        if (!val) { fprintf(stderr, "videollm init: %s needs a value\n", a); return usage(stderr); }
        i++;
        int done = 0;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !done; k++)
            if (!strcmp(a, ints[k].opt)) {
                if (!parse_i32(a, val, ints[k].dst)) return 2;
                done = 1;
            }
        for (size_t k = 0; k < sizeof reals / sizeof reals[0] && !done; k++)
            if (!strcmp(a, reals[k].opt)) {
                if (!parse_f64(a, val, reals[k].dst)) return 2;
                done = 1;
            }
        if (done) continue;
        if (!strcmp(a, "--tokenizer")) p.tokenizer_path = val;
        else if (!strcmp(a, "--out")) p.out_dir = val;
        else if (!strcmp(a, "--gguf")) p.gguf_path = val;
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(val, &end, 10);
            if (errno || end == val || *end || val[0] == '-') {
                fprintf(stderr, "videollm init: --seed needs a non-negative integer, not '%s'\n", val);
                return 2;
            }
            p.seed = s;
        } else if (!strcmp(a, "--type")) {
            static const struct {
                const char *name;
                vlm_weight_type t;
            } types[] = {{"f32", VLM_WTYPE_F32},   {"f16", VLM_WTYPE_F16},   {"bf16", VLM_WTYPE_BF16},
                         {"q8_0", VLM_WTYPE_Q8_0}, {"q4_0", VLM_WTYPE_Q4_0}};
            size_t k = 0;
            while (k < sizeof types / sizeof types[0] && strcmp(val, types[k].name)) k++;
            if (k == sizeof types / sizeof types[0]) {
                fprintf(stderr, "videollm init: unknown --type '%s' (f32, f16, bf16, q8_0, q4_0)\n", val);
                return 2;
            }
            p.gguf_type = types[k].t;
        } else if (!strcmp(a, "--connector-init")) {
            if (!strcmp(val, "hf")) p.connector_init = VLM_INIT_CONNECTOR_HF;
            else if (!strcmp(val, "torch")) p.connector_init = VLM_INIT_CONNECTOR_TORCH;
            else { fprintf(stderr, "videollm init: unknown --connector-init '%s' (hf, torch)\n", val); return 2; }
        } else {
            fprintf(stderr, "videollm init: unknown option '%s'\n", a);
            return usage(stderr);
        }
    }
    if (!p.tokenizer_path || !p.out_dir) {
        fprintf(stderr, "videollm init: --tokenizer and --out are required\n");
        return usage(stderr);
    }
    char err[1024];
    vlm_status st = vlm_init_write(&p, err, sizeof err);
    if (st != VLM_OK) {
        fprintf(stderr, "videollm init: %s: %s\n", vlm_status_str(st), err);
        return 1;
    }
    if (!quiet) {
        fprintf(stderr, "init: wrote %s/llm, %s/vision, %s/adapter (seed %llu)\n", p.out_dir, p.out_dir, p.out_dir,
                (unsigned long long)p.seed);
        if (p.gguf_path) {
            char *vp = vlm_convert_vision_path(p.gguf_path);
            fprintf(stderr, "init: wrote %s and %s\n", p.gguf_path, vp ? vp : "?");
            free(vp);
        }
    }
    return 0;
}
